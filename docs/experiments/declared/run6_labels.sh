#!/bin/bash
# Run 6 of the declared confidence, step 1 (docs/experiments/declared-confidence.md): 600 training pairs of world
# seed 100 and shapes-base's answers on both views of each (greedy + 16 samples at T = 1.0, each sample's answer
# kept), for the label check (label_check.py). usage: run6_labels.sh DEADLINE (e.g. 18:35): everything stops then.
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD  # this checkout's code, also where another checkout is installed in the environment
DEADLINE=$1; END=$(date -d "$DEADLINE" +%s)
OUT=runs/declared; mkdir -p $OUT/logs
C="uv run --no-sync catts"
date -u
[ -f $OUT/pairs/pairs.jsonl ] || \
  timeout $((END - $(date +%s))) $C data pairs --benchmark shapes:100 --limit 600 --kind occlusion --level 1 \
    --region objects --out $OUT/pairs
date -u
$C serve catts_graph/shapes/models/shapes-base --port 8301 --max-model-len 1024 --served-model-name base \
  > $OUT/logs/serve6-labels.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null' EXIT
until curl -sf http://127.0.0.1:8301/health >/dev/null; do kill -0 $SERVER || exit 1; sleep 3; done
date -u
timeout $((END - $(date +%s))) $C data labels --data $OUT/pairs --base-url http://127.0.0.1:8301/v1 --model base \
  --samples 16 --out $OUT/labels6
date -u
