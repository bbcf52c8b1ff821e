#!/bin/bash
# CDRL on a declared answer confidence (docs/experiments/declared-confidence.md): the warm-up teaches shapes-base to
# declare "(answer confidence: D/10)" after its answer, the tenth of its own fitted answer score; then GRPO on both
# views of every pair (clean, and the twin with the asked-about objects occluded) with the accuracy, calibration
# (1 - Brier of the statement) and perception (noised statement below the clean one) rewards. Then
# docs/experiments/declared/eval.sh on each model.
set -e
cd "$(dirname "$0")/../../.."
C="uv run --no-sync catts"
OUT=runs/declared
GRPO="--generations 8 --batch 16 --learning-rate 5e-5 --max-completion-length 128 --temperature 0.6 --alpha 0.5 \
  --beta 2.0 --scale-rewards none"
[ -f $OUT/pairs/pairs.jsonl ] || \
  $C data pairs --benchmark shapes:100 --limit 1200 --kind occlusion --level 1 --region objects --out $OUT/pairs
# the warm-up into $OUT/d1-sft (1,200 greedy answers, then 200 SFT steps); --steps 1 stops the GRPO half at once
# (the recorded run was started with --steps 60 and stopped once the warm-up was saved: the machine's time)
$C train cdrl --confidence stated --model catts_graph/shapes/models/shapes-base --data $OUT/pairs $GRPO --steps 1 \
  --out $OUT/d1
# GRPO from the warm-up model: 25 steps of 16 rollouts
$C train cdrl --confidence stated --model $OUT/d1-sft --sft-steps 0 --data $OUT/pairs $GRPO --steps 25 --out $OUT/d2
