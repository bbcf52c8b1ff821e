#!/bin/bash
# usage: docs/experiments/self-expert/self_expert.sh MODEL_DIR OUT [LIMIT] [VOTER_FORM]
# The self-expert setting: one served model answers and is its own expert (Voter, Critic, Planner, self-check all
# call the same server). 500 held-out items of world seed 2, N = 8 and 16 on the same samples, the bundled settings
# otherwise (question-guided noise from the bundled CLIP). Resumes an interrupted run.
cd "$(dirname "$0")/../../.."
MODEL=$1 OUT=$2 LIMIT=${3:-500} FORM=${4:-answer}
mkdir -p $OUT/logs
uv run --no-sync catts serve $MODEL --port 8211 --max-model-len 1024 --served-model-name self > $OUT/logs/serve.log 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER; wait $SERVER' EXIT
until curl -sf http://127.0.0.1:8211/health >/dev/null; do sleep 3; done
uv run --no-sync catts eval --benchmark shapes --limit $LIMIT --base-url http://127.0.0.1:8211/v1 --model self \
  --expert-base-url http://127.0.0.1:8211/v1 --expert-model self --bundled-settings --voter-form $FORM \
  --methods greedy,majority,catts-paper,catts-adaptive,catts-sequential --n 8,16 --concurrency 8 --out $OUT --resume
