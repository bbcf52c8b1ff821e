#!/bin/bash
# Run 5 of the declared confidence (docs/experiments/declared-confidence.md): shapes-base (NMLP) and run 4's warm-up
# model (docs/experiments/declared/checkpoints/d4-sft; the statement read with --elicit all: answers drawn stopped
# where the statement opens, every statement elicited) evaluated on the same items of world seed 2, paired.
# usage: docs/experiments/declared/run5.sh DEADLINE [TARGETS]   (e.g. 13:25 "20 100 200 300 400 500")
# Both models and the bundled expert are served at once (ports 8301-8303). Each evaluation is one resumable run of
# 500 items (greedy, majority and catts-paper at N = 8, eval.sh's settings); for each target in turn the base model
# and then the new model run until that many items are saved (then stopped: the harness keeps every finished
# item), so a run cut at DEADLINE leaves both on nearly the same items, and the first target times them. The paired
# table (run5_table.py) reads the items both finished. Logs and results under runs/declared (eval5-base, eval5-d4).
cd "$(dirname "$0")/../../.."
DEADLINE=$1; TARGETS=${2:-"20 100 200 300 400 500"}
OUT=runs/declared; M=catts_graph/shapes/models; D4=docs/experiments/declared/checkpoints/d4-sft
mkdir -p $OUT/logs
C="uv run --no-sync catts"
$C serve $M/shapes-base --port 8301 --max-model-len 1024 --served-model-name base > $OUT/logs/serve5-base.log 2>&1 &
BASE=$!
$C serve $M/shapes-expert --port 8302 --max-model-len 1024 --served-model-name expert > $OUT/logs/serve5-expert.log 2>&1 &
EXPERT=$!
$C serve $D4 --port 8303 --max-model-len 1024 --served-model-name d4 > $OUT/logs/serve5-d4.log 2>&1 &
D4_SERVER=$!
trap 'kill -TERM $BASE $EXPERT $D4_SERVER 2>/dev/null' EXIT
for port in 8301 8302 8303; do
  until curl -sf http://127.0.0.1:$port/health >/dev/null; do
    kill -0 $BASE $EXPERT $D4_SERVER || exit 1  # a server that died says why in its log
    sleep 3
  done
done
saved() { [ -f $OUT/eval5-$1/results.jsonl ] && cut -d'"' -f4 $OUT/eval5-$1/results.jsonl | sort -u | wc -l || echo 0; }
evaluate() {  # NAME PORT TARGET [catts eval options...]: on until TARGET items are saved, or DEADLINE
  local name=$1 port=$2 target=$3; shift 3
  [ "$(saved $name)" -lt $target ] || return 0
  [ "$(date +%s)" -lt "$(date -d "$DEADLINE" +%s)" ] || return 1
  echo "$(date -u +%T) $name: $(saved $name) items saved, on to $target"
  $C eval --base-url http://127.0.0.1:$port/v1 --model $name \
    --expert-base-url http://127.0.0.1:8302/v1 --expert-model expert --voter-form answer --clip $M/shapes-clip \
    --benchmark shapes --limit 500 --methods greedy,majority,catts-paper --n 8 --max-tokens 192 --concurrency 8 \
    --resume "$@" --out $OUT/eval5-$name >> $OUT/logs/eval5-$name.log 2>&1 &
  local run=$!
  while kill -0 $run 2>/dev/null; do
    if [ "$(saved $name)" -ge $target ] || [ "$(date +%s)" -ge "$(date -d "$DEADLINE" +%s)" ]; then
      kill -TERM $run; wait $run; break
    fi
    sleep 5
  done
  echo "$(date -u +%T) $name: $(saved $name) items saved"
}
for target in $TARGETS; do
  evaluate base 8301 $target || break
  evaluate d4 8303 $target --confidence stated --elicit all || break
done
echo "$(date -u +%T) done"
