#!/bin/bash
# Run 6 of the declared confidence, step 1 (docs/experiments/declared-confidence.md): PAIRS training pairs of world
# seed 100 and shapes-base's answers on both views of each (greedy + 16 samples at T = 1.0, each sample's answer
# kept), for the label check (label_check.py). usage: run6_labels.sh DEADLINE [PAIRS] (e.g. 18:35 1200): everything stops then. The views resume: the
# recorded run made 600 pairs first, then 1,200 (the same first 600 pairs, their views kept).
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD  # this checkout's code, also where another checkout is installed in the environment
DEADLINE=$1; PAIRS=${2:-1200}; END=$(date -d "$DEADLINE" +%s)
OUT=runs/declared; mkdir -p $OUT/logs
C="uv run --no-sync catts"
date -u
[ "$(wc -l < $OUT/pairs6/pairs.jsonl 2>/dev/null)" = "$PAIRS" ] || \
  timeout $((END - $(date +%s))) $C data pairs --benchmark shapes:100 --limit $PAIRS --kind occlusion --level 1 \
    --region objects --out $OUT/pairs6
date -u
$C serve catts_graph/shapes/models/shapes-base --port 8301 --max-model-len 1024 --served-model-name base \
  > $OUT/logs/serve6-labels.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null' EXIT
until curl -sf http://127.0.0.1:8301/health >/dev/null; do kill -0 $SERVER || exit 1; sleep 3; done
date -u
timeout $((END - $(date +%s))) $C data labels --data $OUT/pairs6 --base-url http://127.0.0.1:8301/v1 --model base \
  --samples 16 --out $OUT/labels6
date -u
