#!/bin/bash
# Stated step confidence, served: greedy on 500 held-out items (world seed 2) for the starting model, the SFT
# warm-up and the GRPO model; steps cut at clauses, so each listed object is a step with its statement.
cd "$(dirname "$0")/../../.."
for pair in "base catts_graph/shapes/models/shapes-base" "sft runs/boundary/b0-sft" "rl runs/boundary/b1"; do
  set -- $pair
  uv run --no-sync catts serve $2 --port 8101 --max-model-len 1024 --served-model-name $1 > runs/boundary/logs/serve-$1.log 2>&1 &
  SERVER=$!
  until curl -sf http://127.0.0.1:8101/health >/dev/null; do sleep 3; done
  uv run --no-sync catts eval --base-url http://127.0.0.1:8101/v1 --model $1 --benchmark shapes --limit 500 \
    --methods greedy --step-splitter clauses --max-tokens 192 --concurrency 8 --out runs/boundary/eval-$1 \
    > runs/boundary/logs/eval-$1.log 2>&1
  kill -TERM $SERVER; wait $SERVER
done
