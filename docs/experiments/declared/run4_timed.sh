#!/bin/bash
# How run 4's evaluation actually ran (docs/experiments/declared-confidence.md): on a machine shared with another
# session's test suites the warm-up took twice its usual time, so the new model's evaluation and probe ran against
# clock deadlines instead of run4.sh's full order, and the base model was not evaluated again.
# usage: docs/experiments/declared/run4_timed.sh EVAL_DEADLINE PROBE_DEADLINE   (e.g. 10:10 10:18; after the warm-up)
# The evaluation (500 items, resumable) stops at EVAL_DEADLINE with the items it finished in results.jsonl; the
# probe then runs on as many of its 200 items as about 5 s an item allows before PROBE_DEADLINE (at least 40).
cd "$(dirname "$0")/../../.."
DEADLINE=$1; PROBE_DEADLINE=$2
OUT=runs/declared; M=catts_graph/shapes/models; NAME=d4; DIR=$OUT/d4-sft
uv run --no-sync catts serve $DIR --port 8301 --max-model-len 1024 --served-model-name $NAME > $OUT/logs/serve-$NAME.log 2>&1 &
BASE=$!
uv run --no-sync catts serve $M/shapes-expert --port 8302 --max-model-len 1024 --served-model-name expert > $OUT/logs/serve-expert-$NAME.log 2>&1 &
EXPERT=$!
trap 'kill -TERM $BASE $EXPERT 2>/dev/null' EXIT
until curl -sf http://127.0.0.1:8301/health >/dev/null && curl -sf http://127.0.0.1:8302/health >/dev/null; do
  kill -0 $BASE $EXPERT || exit 1
  sleep 3
done
date
SECONDS_LEFT=$(( $(date -d "$DEADLINE" +%s) - $(date +%s) ))
timeout --signal=INT $SECONDS_LEFT uv run --no-sync catts eval --base-url http://127.0.0.1:8301/v1 --model $NAME \
  --expert-base-url http://127.0.0.1:8302/v1 --expert-model expert --voter-form answer --clip $M/shapes-clip \
  --benchmark shapes --limit 500 --methods greedy,majority,catts-paper --n 8 --max-tokens 192 --concurrency 8 \
  --resume --confidence stated --out $OUT/eval-$NAME > $OUT/logs/eval-$NAME.log 2>&1
date
PROBE_LIMIT=$(( ($(date -d "$PROBE_DEADLINE" +%s) - $(date +%s)) / 5 ))
PROBE_LIMIT=$(( PROBE_LIMIT > 200 ? 200 : (PROBE_LIMIT < 40 ? 40 : PROBE_LIMIT) ))
echo "probe items: $PROBE_LIMIT"
uv run --no-sync catts probe --base-url http://127.0.0.1:8301/v1 --model $NAME --clip $M/shapes-clip --benchmark shapes \
  --limit $PROBE_LIMIT --kinds ddpm occlusion --levels 0 1 --region question --out $OUT/probe-$NAME > $OUT/logs/probe-$NAME.log 2>&1
date
