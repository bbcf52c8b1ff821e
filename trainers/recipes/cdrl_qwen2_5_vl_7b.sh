#!/usr/bin/env bash
# CDRL on Qwen2.5-VL-7B-Instruct, one node of 8 GPUs (the paper: full fine-tune in bf16, G = 4, batch 2 per device:
# 16 rollouts per step across the node, 4 prompts x 4).
# Needs: uv sync --extra gpu --extra train; a pairs folder from `catts data pairs` (the paper used 1,936 items
# filtered from six public benchmarks); the model folder (e.g. downloaded from the hub).
set -euo pipefail
MODEL=${MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}
PAIRS=${PAIRS:-data/cdrl-pairs}
OUT=${OUT:-models/qwen2.5-vl-7b-cdrl}
accelerate launch --config_file trainers/recipes/accelerate_zero3_8gpu.yaml \
  -m catts_graph train cdrl --model "$MODEL" --data "$PAIRS" --out "$OUT" \
  --steps 500 --generations 4 --batch 2 --learning-rate 1e-6 --max-completion-length 1024 \
  --alpha 0.5 --beta 1.0
