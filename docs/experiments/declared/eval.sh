#!/bin/bash
# usage: docs/experiments/declared/eval.sh NAME MODEL_DIR   (writes runs/declared/eval-NAME, probe-NAME)
# The targets of the declared-confidence experiment (docs/experiments/declared-confidence.md) for one base model:
# greedy, majority and CA-TTS (catts-paper, N = 8) on 500 items of world seed 2, the model served on loopback with
# the bundled expert (answer Voter) and the bundled CLIP's question-guided region for the self-check; then the probe
# (200 items, DDPM noise and occlusion on the CLIP region, levels 0 and 1) with the model served by the command.
cd "$(dirname "$0")/../../.."
NAME=$1; DIR=$2
OUT=runs/declared; M=catts_graph/shapes/models; mkdir -p $OUT/logs
uv run --no-sync catts serve $DIR --port 8301 --max-model-len 1024 --served-model-name $NAME > $OUT/logs/serve-$NAME.log 2>&1 &
BASE=$!
uv run --no-sync catts serve $M/shapes-expert --port 8302 --max-model-len 1024 --served-model-name expert > $OUT/logs/serve-expert-$NAME.log 2>&1 &
EXPERT=$!
until curl -sf http://127.0.0.1:8301/health >/dev/null && curl -sf http://127.0.0.1:8302/health >/dev/null; do sleep 3; done
date
uv run --no-sync catts eval --base-url http://127.0.0.1:8301/v1 --model $NAME --expert-base-url http://127.0.0.1:8302/v1 \
  --expert-model expert --voter-form answer --clip $M/shapes-clip --benchmark shapes --limit 500 \
  --methods greedy,majority,catts-paper --n 8 --max-tokens 192 --concurrency 8 --resume --out $OUT/eval-$NAME \
  > $OUT/logs/eval-$NAME.log 2>&1
date
uv run --no-sync catts probe --base-url http://127.0.0.1:8301/v1 --model $NAME --clip $M/shapes-clip --benchmark shapes \
  --limit 200 --kinds ddpm occlusion --levels 0 1 --region question --out $OUT/probe-$NAME > $OUT/logs/probe-$NAME.log 2>&1
date
kill -TERM $BASE $EXPERT
wait
