#!/bin/bash
# usage: docs/experiments/grounding/location_greedy.sh MODEL NAME [BINS]
# A grounded model that writes its boxes as location tokens (`catts train sft --role grounded --location-bins BINS`,
# default 56), served on loopback: greedy on the 500 held-out items of world seed 2 (accuracy, box IoU), the boxes
# read on the BINS x BINS grid (--box-frame normalized:BINS-1). Writes runs/grounded/greedy-NAME.
cd "$(dirname "$0")/../../.."
MODEL=$1; NAME=$2; BINS=${3:-56}
OUT=runs/grounded; mkdir -p $OUT/logs
uv run --no-sync catts serve $MODEL --port 8121 --max-model-len 1024 --served-model-name base > $OUT/logs/serve-$NAME.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER; wait $SERVER' EXIT
until curl -sf http://127.0.0.1:8121/health >/dev/null; do kill -0 $SERVER || exit 1; sleep 3; done
uv run --no-sync catts eval --base-url http://127.0.0.1:8121/v1 --model base --grounded --box-frame normalized:$((BINS - 1)) \
  --benchmark shapes --limit 500 --methods greedy --concurrency 8 --out $OUT/greedy-$NAME > $OUT/logs/greedy-$NAME.log 2>&1
