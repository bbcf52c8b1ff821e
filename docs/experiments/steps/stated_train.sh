#!/bin/bash
# Stated step confidence, the second design (docs/experiments/step-confidence.md): statements after the answer,
# the warm-up learning the whole target with the vision tower as loaded, its levels from the start model's fitted
# internal score; the warm-up model fitted again on the dev pairs; then GRPO from the warm-up (the defaults: 60 steps
# of 16 rollouts at temperature 0.6, a missing statement the largest gap). Then serve and evaluate each:
# docs/experiments/steps/stated_eval.sh.
set -e
cd "$(dirname "$0")/../../.."
C="uv run --no-sync catts"
OUT=runs/boundary2
$C data pairs --benchmark shapes:100 --limit 1200 --kind occlusion --level 1 --region objects --out $OUT/pairs
$C data pairs --benchmark shapes:30001 --limit 200 --kind occlusion --level 1 --region objects --out $OUT/dev
# the warm-up (7 min here): $OUT/b0-sft with targets_step_weights.json (the start model's fit) and
# step_weights.json (its own, on the dev pairs); --steps 1 stops the GRPO half at once
$C train boundary --model catts_graph/shapes/models/shapes-base --data $OUT/pairs --dev $OUT/dev --steps 1 \
  --out $OUT/b0
$C train boundary --model $OUT/b0-sft --data $OUT/pairs --sft-steps 0 --out $OUT/b3  # GRPO: 7 min here
docs/experiments/steps/stated_eval.sh $OUT sft:$OUT/b0-sft rl:$OUT/b3
