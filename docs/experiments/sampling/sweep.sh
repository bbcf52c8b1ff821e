#!/bin/bash
# docs/experiments/sampling.md: temperature x min-p for voting on 200 dev items of world seed 3, then the chosen
# setting against today's default on held-out items of seed 2, with catts-paper with and without routing.skip_futile
# on the default run's draws. Every run is `catts eval` with the bundled models (results.md's settings: N = 8,
# 128 tokens per sample, concurrency 8) through shared_servers.py, which starts the bundled servers once and keeps
# them for the runs appended to its queue (the next settings are chosen from the earlier runs' results).
#   sweep.sh timing             one setting on 20 dev items, to size the sweep (its own servers)
#   sweep.sh start [STOP_AT]    serve; the temperature sweep at min-p 0 on the dev items; then wait for the queue
#   sweep.sh dev T:P ...        queue dev runs (e.g. min-p at the best temperature)
#   sweep.sh heldout T P        queue today's default (with catts-paper+skip-futile) and T, P together on seed 2
#   sweep.sh heldout-only T P   queue T, P alone on seed 2 (paired with the default's run on the items both hold)
#   sweep.sh end                stop waiting for the queue (STOP_AT, default 13:25 UTC, stops everything anyway)
set -e
cd "$(dirname "$0")/../../.."
SHARED="uv run --no-sync python docs/experiments/sampling/shared_servers.py"
EVAL="--n 8 --concurrency 8"
DEV="--benchmark shapes:3 --limit 200 --methods majority,catts-paper $EVAL"
HELD="--benchmark shapes --limit 500 $EVAL"
QUEUE=runs/sampling/queue.txt
mkdir -p runs/sampling/logs
dev_run() { echo "$DEV --temperature ${1%%:*} --min-p ${1##*:} --out runs/sampling/dev/t${1%%:*}-p${1##*:}"; }
case "$1" in
  timing)
    $SHARED "--benchmark shapes:3 --limit 20 --methods majority,catts-paper $EVAL --out runs/sampling/timing" ;;
  start)
    touch $QUEUE
    $SHARED --stop-at "${2:-13:25}" --queue $QUEUE "$(dev_run 1.0:0)" "$(dev_run 0.6:0)" "$(dev_run 0.8:0)" ;;
  dev)
    shift
    for s in "$@"; do dev_run "$s" >> $QUEUE; done ;;
  heldout)
    echo "$HELD --methods majority,catts-paper,catts-paper+skip-futile --out runs/sampling/test-t1.0-p0 && \
$HELD --methods majority,catts-paper --temperature $2 --min-p $3 --out runs/sampling/test-t$2-p$3" >> $QUEUE ;;
  heldout-only)
    echo "$HELD --methods majority,catts-paper --temperature $2 --min-p $3 --out runs/sampling/test-t$2-p$3" >> $QUEUE ;;
  end)
    echo end >> $QUEUE ;;
  *) echo "usage: $0 timing | start [STOP_AT] | dev T:P ... | heldout T P | heldout-only T P | end" >&2; exit 2 ;;
esac
