#!/bin/bash
# usage: docs/experiments/self-expert/bigger_expert.sh EXPERT_DIR OUT [LIMIT]
# CA-TTS with the bundled base model and another expert (e.g. the grown one), on the items and settings of the
# bundled run (500 held-out items of world seed 2, N = 8 and 16, the bundled settings otherwise), so its lines pair
# with runs/h46/bundled500 item by item (compare_runs.py). Resumes an interrupted run.
cd "$(dirname "$0")/../../.."
EXPERT=$1 OUT=$2 LIMIT=${3:-500}
mkdir -p $OUT/logs
uv run --no-sync catts serve catts_graph/shapes/models/shapes-base --port 8221 --max-model-len 1024 \
  --served-model-name shapes-base > $OUT/logs/serve-base.log 2>&1 &
BASE=$!
uv run --no-sync catts serve $EXPERT --port 8222 --max-model-len 1024 --served-model-name expert \
  > $OUT/logs/serve-expert.log 2>&1 &
EXP=$!
trap 'kill -TERM $BASE $EXP; wait $BASE $EXP' EXIT
until curl -sf http://127.0.0.1:8221/health >/dev/null && curl -sf http://127.0.0.1:8222/health >/dev/null; do sleep 3; done
uv run --no-sync catts eval --benchmark shapes --limit $LIMIT --base-url http://127.0.0.1:8221/v1 --model shapes-base \
  --expert-base-url http://127.0.0.1:8222/v1 --expert-model expert --bundled-settings \
  --methods greedy,majority,expert,catts-paper,catts-adaptive,catts-sequential --n 8,16 --concurrency 8 \
  --out $OUT --resume
