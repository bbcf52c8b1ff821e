#!/bin/bash
# usage: docs/experiments/cdrl_served.sh MODEL NAME [catts]
# probe (200 items, DDPM + occlusion, levels 0 1) and, with "catts",
# greedy/majority/CA-TTS at N = 8 on 500 items with the bundled expert; both servers on loopback
cd "$(dirname "$0")/../.."
MODEL=$1; NAME=$2
uv run --no-sync catts serve $MODEL --port 8101 --max-model-len 1024 --served-model-name base > runs/cdrl/logs/serve-$NAME.log 2>&1 &
SERVER=$!
if [ "$3" = catts ]; then
  uv run --no-sync catts serve catts_graph/shapes/models/shapes-expert --port 8102 --max-model-len 1024 --served-model-name expert > runs/cdrl/logs/serve-expert.log 2>&1 &
  EXPERT=$!
fi
until curl -sf http://127.0.0.1:8101/health >/dev/null; do sleep 3; done
date
uv run --no-sync catts probe --base-url http://127.0.0.1:8101 --model base --clip catts_graph/shapes/models/shapes-clip --benchmark shapes --limit 200 --kinds ddpm occlusion --levels 0 1 --region question --out runs/cdrl/probe-$NAME > runs/cdrl/logs/probe-$NAME.log 2>&1
date
if [ "$3" = catts ]; then
  until curl -sf http://127.0.0.1:8102/health >/dev/null; do sleep 3; done
  uv run --no-sync catts eval --base-url http://127.0.0.1:8101/v1 --model base --expert-base-url http://127.0.0.1:8102/v1 --expert-model expert --clip catts_graph/shapes/models/shapes-clip --benchmark shapes --limit 500 --voter-form answer --methods greedy,majority,catts-paper --n 8 --concurrency 8 --out runs/cdrl/eval-$NAME > runs/cdrl/logs/eval-$NAME.log 2>&1
  date
  kill -TERM $EXPERT
fi
kill -TERM $SERVER
wait
