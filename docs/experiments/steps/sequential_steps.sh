#!/bin/bash
# usage: docs/experiments/steps/sequential_steps.sh SEED LIMIT N MIN_WEAKEST_STEP   (writes runs/steps/)
# The sequential policy with the step-aware stopping rule (the counts' leader must also have a mean weakest step
# >= MIN_WEAKEST_STEP before sampling stops) against CA-TTS with the paper's policy and majority voting, on the same
# samples: bundled base model and expert served on loopback, answer Voter, CLIP region, the base model's fitted
# step combination, the default stopping rule otherwise (routing.stop).
cd "$(dirname "$0")/../../.."
SEED=$1; LIMIT=$2; N=$3; STEP=$4
OUT=runs/steps; mkdir -p $OUT/logs
source docs/experiments/steps/serve_pair.sh
date
uv run --no-sync catts eval --base-url http://127.0.0.1:8201/v1 --model base --expert-base-url http://127.0.0.1:8202/v1 \
  --expert-model expert --voter-form answer --clip $M/shapes-clip --step-weights $M/shapes-base/step_weights.json \
  --benchmark shapes:$SEED --limit $LIMIT --methods majority,catts-paper,catts-sequential --n $N --concurrency 8 --resume \
  --min-weakest-step $STEP --out $OUT/sequential-$SEED-n$N-step$STEP > $OUT/logs/sequential-$SEED-n$N-step$STEP.log 2>&1
date
kill -TERM $BASE $EXPERT
wait
