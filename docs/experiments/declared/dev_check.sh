#!/bin/bash
# Run 6's development check (docs/experiments/declared-confidence.md): the greedy line alone (its answer stopped at
# the statement, the statement elicited) of each named warm-up model on 200 items of world seed 3, not the test
# world, to choose between warm-ups without looking at the test items.
# usage: docs/experiments/declared/dev_check.sh DEADLINE NAME=DIR [NAME=DIR ...]   (writes runs/declared/dev6-NAME)
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD OMP_WAIT_POLICY=PASSIVE
DEADLINE=$1; shift; END=$(date -d "$DEADLINE" +%s)
OUT=runs/declared; mkdir -p $OUT/logs
C="uv run --no-sync catts"
for pair in "$@"; do
  NAME=${pair%%=*}; DIR=${pair#*=}
  [ "$(date +%s)" -lt "$END" ] || break
  $C serve $DIR --port 8304 --max-model-len 1024 --served-model-name $NAME > $OUT/logs/serve-dev6-$NAME.log 2>&1 &
  SERVER=$!
  trap 'kill -TERM $SERVER 2>/dev/null' EXIT
  until curl -sf http://127.0.0.1:8304/health >/dev/null; do kill -0 $SERVER || exit 1; sleep 3; done
  timeout $((END - $(date +%s))) $C eval --base-url http://127.0.0.1:8304/v1 --model $NAME --benchmark shapes:3 \
    --limit 200 --methods greedy --max-tokens 192 --concurrency 8 --confidence stated --elicit all --resume \
    --out $OUT/dev6-$NAME > $OUT/logs/dev6-$NAME.log 2>&1
  kill -TERM $SERVER; wait $SERVER
  echo "$(date -u +%T) $NAME done"
done
