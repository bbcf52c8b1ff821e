#!/bin/bash
# Run 4's greedy line again with the fixed reading (the expected statement found on the tokens), the new model served
# on loopback; stops at DEADLINE with the items it finished. usage: greedy_reread.sh DEADLINE (e.g. 10:20)
cd "$(dirname "$0")/../../.."
OUT=runs/declared; M=catts_graph/shapes/models
uv run --no-sync catts serve $OUT/d4-sft --port 8301 --max-model-len 1024 --served-model-name d4 > $OUT/logs/serve-d4-reread.log 2>&1 &
BASE=$!
trap 'kill -TERM $BASE 2>/dev/null' EXIT
until curl -sf http://127.0.0.1:8301/health >/dev/null; do kill -0 $BASE || exit 1; sleep 3; done
date
timeout --signal=INT $(( $(date -d "$1" +%s) - $(date +%s) )) uv run --no-sync catts eval \
  --base-url http://127.0.0.1:8301/v1 --model d4 --expert-base-url http://127.0.0.1:8301/v1 --expert-model d4 \
  --benchmark shapes --limit 500 --methods greedy --max-tokens 192 --concurrency 8 --resume --confidence stated \
  --out $OUT/eval-d4-greedy > $OUT/logs/eval-d4-greedy.log 2>&1
date
