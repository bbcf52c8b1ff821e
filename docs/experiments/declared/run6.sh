#!/bin/bash
# Run 6 of the declared confidence (docs/experiments/declared-confidence.md): the warm-up with its loss on the
# statement's tokens only (--sft-loss statement: shapes-base's own greedy responses are context, so its answers are
# not trained on), labelled by LABELS (a folder from label_check.py or `catts data labels`), then shapes-base and
# the new model evaluated on the same items of world seed 2, paired, as run5.sh does (greedy, majority and
# catts-paper at N = 8; the new model with --confidence stated --elicit all). The warm-up: 600 steps, the KL to
# shapes-base on the response's tokens at weight 1 (without it the statement's tokens leak into the responses); 600
# rather than 200 steps chosen by dev_check.sh on world seed 3.
# usage: docs/experiments/declared/run6.sh DEADLINE LABELS [TARGETS]   (e.g. 19:15 runs/declared/labels6-best "100 200")
# The base model is evaluated while the warm-up trains; then the new model, in turns with the base up to each target
# (a run cut at DEADLINE stays paired). Everything stops at DEADLINE. Logs and results under runs/declared.
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD OMP_WAIT_POLICY=PASSIVE  # this checkout's code; idle OpenMP threads sleep on the shared cores
DEADLINE=$1; LABELS=$2; TARGETS=${3:-"100 200"}; END=$(date -d "$DEADLINE" +%s)
LAST=${TARGETS##* }
OUT=runs/declared; M=catts_graph/shapes/models; mkdir -p $OUT/logs
C="uv run --no-sync catts"
left() { echo $((END - $(date +%s))); }
date -u
if [ ! -f $OUT/d6-sft/config.json ]; then
  timeout $(left) $C train cdrl --confidence stated --labels $LABELS/labels.jsonl --sft-only --sft-loss statement \
    --sft-anchor 1.0 --sft-steps 600 --model $M/shapes-base --data $OUT/pairs6 --max-completion-length 128 --out $OUT/d6 > $OUT/logs/train6.log 2>&1 &
  TRAIN=$!
fi
$C serve $M/shapes-base --port 8301 --max-model-len 1024 --served-model-name base > $OUT/logs/serve6-base.log 2>&1 &
BASE=$!
$C serve $M/shapes-expert --port 8302 --max-model-len 1024 --served-model-name expert > $OUT/logs/serve6-expert.log 2>&1 &
EXPERT=$!
D6_SERVER=""
trap 'kill -TERM $BASE $EXPERT $D6_SERVER ${TRAIN:-} 2>/dev/null' EXIT
for port in 8301 8302; do
  until curl -sf http://127.0.0.1:$port/health >/dev/null; do kill -0 $BASE $EXPERT || exit 1; sleep 3; done
done
saved() { [ -f $OUT/eval6-$1/results.jsonl ] && cut -d'"' -f4 $OUT/eval6-$1/results.jsonl | sort -u | wc -l || echo 0; }
evaluate() {  # NAME PORT TARGET [catts eval options...]: on until TARGET items are saved, or DEADLINE
  local name=$1 port=$2 target=$3; shift 3
  [ "$(saved $name)" -lt $target ] || return 0
  [ "$(left)" -gt 0 ] || return 1
  echo "$(date -u +%T) $name: $(saved $name) items saved, on to $target"
  $C eval --base-url http://127.0.0.1:$port/v1 --model $name \
    --expert-base-url http://127.0.0.1:8302/v1 --expert-model expert --voter-form answer --clip $M/shapes-clip \
    --benchmark shapes --limit 500 --methods greedy,majority,catts-paper --n 8 --max-tokens 192 --concurrency 8 \
    --resume "$@" --out $OUT/eval6-$name >> $OUT/logs/eval6-$name.log 2>&1 &
  local run=$!
  while kill -0 $run 2>/dev/null; do
    if [ "$(saved $name)" -ge $target ] || [ "$(left)" -le 0 ]; then kill -TERM $run; wait $run; break; fi
    sleep 5
  done
  echo "$(date -u +%T) $name: $(saved $name) items saved"
}
evaluate base 8301 $LAST  # while the warm-up trains
if [ -n "${TRAIN:-}" ]; then wait $TRAIN; echo "$(date -u +%T) warm-up exit $?"; fi
[ -f $OUT/d6-sft/config.json ] || { echo "no warm-up model"; exit 1; }
$C serve $OUT/d6-sft --port 8303 --max-model-len 1024 --served-model-name d6 > $OUT/logs/serve6-d6.log 2>&1 &
D6_SERVER=$!
until curl -sf http://127.0.0.1:8303/health >/dev/null; do kill -0 $D6_SERVER || exit 1; sleep 3; done
for target in $TARGETS; do
  evaluate base 8301 $target || break
  evaluate d6 8303 $target --confidence stated --elicit all || break
done
echo "$(date -u +%T) done"
