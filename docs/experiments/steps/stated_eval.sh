#!/bin/bash
# usage: docs/experiments/steps/stated_eval.sh OUT NAME:MODEL_DIR ...
# Stated step confidence, served: greedy on 500 held-out items (world seed 2) for each model, steps cut at clauses
# (each listed object a step, with its statement); the step table of each run reports the stated ECE and AUROC.
cd "$(dirname "$0")/../../.."
OUT=$1; shift
mkdir -p $OUT/logs
for pair in "$@"; do
  IFS=: read NAME DIR <<< "$pair"
  uv run --no-sync catts serve $DIR --port 8101 --max-model-len 1024 --served-model-name $NAME > $OUT/logs/serve-$NAME.log 2>&1 &
  SERVER=$!
  until curl -sf http://127.0.0.1:8101/health >/dev/null; do sleep 3; done
  uv run --no-sync catts eval --base-url http://127.0.0.1:8101/v1 --model $NAME --benchmark shapes --limit 500 \
    --methods greedy --step-splitter clauses --max-tokens 192 --concurrency 8 --out $OUT/eval-$NAME \
    > $OUT/logs/eval-$NAME.log 2>&1
  kill -TERM $SERVER; wait $SERVER
done
