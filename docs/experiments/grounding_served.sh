#!/bin/bash
# usage: docs/experiments/grounding_served.sh MODEL NAME [catts [LIMIT]]   (SKIP_GREEDY=1: no greedy run;
#        BOX_FRAME=normalized:55 for a model that writes 56 location tokens)
# A grounded model served on loopback: greedy on 500 held-out items (accuracy, box IoU), the probe (200 items, DDPM
# and occlusion, levels 0 1) with noise on the model's own boxes and on the CLIP region, and with "catts"
# greedy/majority/CA-TTS at N = 8 on LIMIT items (default 500), the self-check noising the model's own boxes
# (catts-paper/model) and the CLIP region (catts-paper/question) on the same samples.
cd "$(dirname "$0")/../.."
MODEL=$1; NAME=$2; LIMIT=${4:-500}
OUT=runs/grounded; mkdir -p $OUT/logs
FRAME="--grounded --box-frame ${BOX_FRAME:-resized:50176:50176}"  # default: the bundled models' processor, 224 x 224
CLIP="--clip catts_graph/shapes/models/shapes-clip"
uv run --no-sync catts serve $MODEL --port 8101 --max-model-len 1024 --served-model-name base > $OUT/logs/serve-$NAME.log 2>&1 &
SERVER=$!
if [ "$3" = catts ]; then
  uv run --no-sync catts serve catts_graph/shapes/models/shapes-expert --port 8102 --max-model-len 1024 --served-model-name expert > $OUT/logs/serve-expert.log 2>&1 &
  EXPERT=$!
fi
until curl -sf http://127.0.0.1:8101/health >/dev/null; do sleep 3; done
date
[ -z "$SKIP_GREEDY" ] && uv run --no-sync catts eval --base-url http://127.0.0.1:8101/v1 --model base $FRAME --benchmark shapes --limit 500 --methods greedy --concurrency 8 --out $OUT/greedy-$NAME > $OUT/logs/greedy-$NAME.log 2>&1
date
for REGION in model question; do
  uv run --no-sync catts probe --base-url http://127.0.0.1:8101 --model base $FRAME $CLIP --benchmark shapes --limit 200 --kinds ddpm occlusion --levels 0 1 --region $REGION --out $OUT/probe-$NAME-$REGION > $OUT/logs/probe-$NAME-$REGION.log 2>&1
done
date
if [ "$3" = catts ]; then
  until curl -sf http://127.0.0.1:8102/health >/dev/null; do sleep 3; done
  uv run --no-sync catts eval --base-url http://127.0.0.1:8101/v1 --model base --expert-base-url http://127.0.0.1:8102/v1 --expert-model expert $FRAME $CLIP --benchmark shapes --limit $LIMIT --voter-form answer --methods greedy,majority,catts-paper/model,catts-paper/question --n 8 --concurrency 8 --out $OUT/eval-$NAME > $OUT/logs/eval-$NAME.log 2>&1
  date
  kill -TERM $EXPERT
fi
kill -TERM $SERVER
wait
