#!/bin/bash
# CDRL on a declared answer confidence (docs/experiments/declared-confidence.md): the warm-up teaches shapes-base to
# declare "(answer confidence: d/10)" after its answer, the tenth of its own fitted answer score; then GRPO on both
# views of every pair (clean, and the twin with the asked-about objects occluded) with the accuracy, calibration
# (1 - Brier of the statement) and perception (noised statement below the clean one) rewards.
# usage: docs/experiments/declared/train.sh [RUN_NAME [extra catts train cdrl options...]]
set -e
cd "$(dirname "$0")/../../.."
C="uv run --no-sync catts"
OUT=runs/declared
NAME=${1:-d1}; shift || true
[ -f $OUT/pairs/pairs.jsonl ] || \
  $C data pairs --benchmark shapes:100 --limit 1200 --kind occlusion --level 1 --region objects --out $OUT/pairs
$C train cdrl --confidence stated --model catts_graph/shapes/models/shapes-base --data $OUT/pairs \
  --generations 8 --batch 16 --learning-rate 5e-5 --max-completion-length 128 --temperature 0.6 --steps 60 \
  --alpha 0.5 --beta 2.0 --scale-rewards none --out $OUT/$NAME "$@"
