#!/bin/bash
# usage: docs/experiments/declared/eval.sh NAME MODEL_DIR   (writes runs/declared/eval-NAME, probe-NAME)
# The targets of the declared-confidence experiment (docs/experiments/declared-confidence.md) for one base model:
# greedy, majority and CA-TTS (catts-paper, N = 8) on 500 items of world seed 2, the model served on loopback with
# the bundled expert (answer Voter) and the bundled CLIP's question-guided region for the self-check; then the probe
# (200 items, DDPM noise and occlusion on the CLIP region, levels 0 and 1) with the model served by the command.
# Knobs (environment of this script only): EVAL=0 skips the evaluation, PROBE=0 the probe; EVAL_ARGS are added to
# `catts eval` (e.g. "--confidence stated" for a model trained to state); LIMIT and PROBE_LIMIT set the item counts.
cd "$(dirname "$0")/../../.."
NAME=$1; DIR=$2
EVAL=${EVAL:-1}; PROBE=${PROBE:-1}; LIMIT=${LIMIT:-500}; PROBE_LIMIT=${PROBE_LIMIT:-200}
OUT=runs/declared; M=catts_graph/shapes/models; mkdir -p $OUT/logs
uv run --no-sync catts serve $DIR --port 8301 --max-model-len 1024 --served-model-name $NAME > $OUT/logs/serve-$NAME.log 2>&1 &
BASE=$!
uv run --no-sync catts serve $M/shapes-expert --port 8302 --max-model-len 1024 --served-model-name expert > $OUT/logs/serve-expert-$NAME.log 2>&1 &
EXPERT=$!
trap 'kill -TERM $BASE $EXPERT 2>/dev/null' EXIT
until curl -sf http://127.0.0.1:8301/health >/dev/null && curl -sf http://127.0.0.1:8302/health >/dev/null; do
  kill -0 $BASE $EXPERT || exit 1  # a server that died says why in its log
  sleep 3
done
date
if [ "$EVAL" = 1 ]; then
  # shellcheck disable=SC2086  # EVAL_ARGS is a list of options
  uv run --no-sync catts eval --base-url http://127.0.0.1:8301/v1 --model $NAME --expert-base-url http://127.0.0.1:8302/v1 \
    --expert-model expert --voter-form answer --clip $M/shapes-clip --benchmark shapes --limit $LIMIT \
    --methods greedy,majority,catts-paper --n 8 --max-tokens 192 --concurrency 8 --resume $EVAL_ARGS --out $OUT/eval-$NAME \
    > $OUT/logs/eval-$NAME.log 2>&1
  date
fi
if [ "$PROBE" = 1 ]; then
  uv run --no-sync catts probe --base-url http://127.0.0.1:8301/v1 --model $NAME --clip $M/shapes-clip --benchmark shapes \
    --limit $PROBE_LIMIT --kinds ddpm occlusion --levels 0 1 --region question --out $OUT/probe-$NAME > $OUT/logs/probe-$NAME.log 2>&1
  date
fi
kill -TERM $BASE $EXPERT
wait
