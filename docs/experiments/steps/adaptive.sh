#!/bin/bash
# usage: docs/experiments/steps/adaptive.sh SEED LIMIT NAME:MIN_SHARE[:MIN_WEAKEST_STEP] ...   (writes runs/steps/)
# CA-TTS with the paper's policy against the adaptive one, on the same samples (N = 8, bundled base model and
# expert served on loopback, answer Voter, CLIP region, the base model's fitted step combination), once per gate:
# the adaptive gate needs the leader's vote share >= MIN_SHARE and, if given, its mean weakest step >= the third.
cd "$(dirname "$0")/../../.."
SEED=$1; LIMIT=$2; shift 2
OUT=runs/steps; mkdir -p $OUT/logs
source docs/experiments/steps/serve_pair.sh
for CONFIG in "$@"; do
  IFS=: read NAME SHARE STEP <<< "$CONFIG"
  GATE="--min-share $SHARE"; [ -n "$STEP" ] && GATE="$GATE --min-weakest-step $STEP"
  date
  uv run --no-sync catts eval --base-url http://127.0.0.1:8201/v1 --model base --expert-base-url http://127.0.0.1:8202/v1 \
    --expert-model expert --voter-form answer --clip $M/shapes-clip --step-weights $M/shapes-base/step_weights.json \
    --benchmark shapes:$SEED --limit $LIMIT --methods majority,catts-paper,catts-adaptive --n 8 --concurrency 8 --resume $GATE \
    --out $OUT/adaptive-$SEED-$NAME > $OUT/logs/adaptive-$SEED-$NAME.log 2>&1
done
date
kill -TERM $BASE $EXPERT
wait
