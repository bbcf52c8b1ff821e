#!/bin/bash
# Run 6's probe (docs/experiments/declared-confidence.md): the new model served alone, `catts probe` as eval.sh runs
# it (DDPM noise and occlusion on the bundled CLIP's question region, levels 0 and 1) on LIMIT items, stopped at
# DEADLINE. usage: docs/experiments/declared/run6_probe.sh DEADLINE [LIMIT]   (writes runs/declared/probe6-d6)
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD OMP_WAIT_POLICY=PASSIVE
DEADLINE=$1; LIMIT=${2:-80}; END=$(date -d "$DEADLINE" +%s)
OUT=runs/declared; M=catts_graph/shapes/models; mkdir -p $OUT/logs
C="uv run --no-sync catts"
$C serve $OUT/d6-sft --port 8305 --max-model-len 1024 --served-model-name d6 > $OUT/logs/serve6-probe.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null' EXIT
until curl -sf http://127.0.0.1:8305/health >/dev/null; do kill -0 $SERVER || exit 1; sleep 3; done
date -u
timeout $((END - $(date +%s))) $C probe --base-url http://127.0.0.1:8305/v1 --model d6 --clip $M/shapes-clip \
  --benchmark shapes --limit $LIMIT --kinds ddpm occlusion --levels 0 1 --region question --out $OUT/probe6-d6 \
  > $OUT/logs/probe6-d6.log 2>&1
echo "probe exit $?"; date -u
