#!/bin/bash
# Stated step confidence, the first run (docs/experiments/step-confidence.md): pairs with reference steps, the SFT
# warm-up from the bundled base model, then GRPO from the warm-up (40 steps of 16 rollouts: what fitted the session).
set -e
cd "$(dirname "$0")/../../.."
C="uv run --no-sync catts"
$C data pairs --benchmark shapes:100 --limit 1200 --kind occlusion --level 1 --region objects --out runs/boundary/pairs
$C data pairs --benchmark shapes:30001 --limit 200 --kind occlusion --level 1 --region objects --out runs/boundary/dev
$C train boundary --model catts_graph/shapes/models/shapes-base --data runs/boundary/pairs --steps 1 \
  --out runs/boundary/b0   # its warm-up is runs/boundary/b0-sft (the session ran the warm-up inside a 150-step run)
$C train boundary --model runs/boundary/b0-sft --data runs/boundary/pairs --sft-steps 0 --steps 40 --batch 16 \
  --learning-rate 1e-4 --out runs/boundary/b1
