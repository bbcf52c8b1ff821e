#!/bin/bash
# usage: docs/experiments/step_confidence.sh   (writes runs/steps/)
# Step confidence (MMBoundary) of the bundled base model, served on loopback, with the bundled CLIP for the visual
# signal and one step per listed shape (--step-splitter clauses): a dev run (200 items of world seed 3) to fit the
# combination, then 500 held-out items of world seed 2 with the default (weighted mean) and the fitted combination.
cd "$(dirname "$0")/../.."
OUT=runs/steps; mkdir -p $OUT/logs
uv run --no-sync catts serve catts_graph/shapes/models/shapes-base --port 8201 --max-model-len 1024 --served-model-name base > $OUT/logs/serve.log 2>&1 &
SERVER=$!
until curl -sf http://127.0.0.1:8201/health >/dev/null; do sleep 3; done
COMMON="--base-url http://127.0.0.1:8201/v1 --model base --clip catts_graph/shapes/models/shapes-clip --step-splitter clauses --n 8 --concurrency 8"
date
uv run --no-sync catts eval $COMMON --benchmark shapes:3 --limit 200 --methods greedy,majority --out $OUT/dev > $OUT/logs/dev.log 2>&1
uv run --no-sync catts calibrate $OUT/dev --steps --out $OUT/steps.json > $OUT/logs/calibrate.log 2>&1
date
uv run --no-sync catts eval $COMMON --benchmark shapes --limit 500 --methods greedy,majority,step-vote --out $OUT/test > $OUT/logs/test.log 2>&1
uv run --no-sync catts eval $COMMON --benchmark shapes --limit 500 --methods greedy,majority,step-vote --step-weights $OUT/steps.json --out $OUT/test-fitted > $OUT/logs/test-fitted.log 2>&1
date
kill -TERM $SERVER
wait
