#!/usr/bin/env bash
# The first two training points of the capacity study (docs/experiments/capacity-study.md), one after the other:
# the current architecture with 64 image tokens (224 px) and with 16 (112 px, the bundled spec), same short recipe,
# each measured on the first 300 held-out items of world seed 2. Run from the repository root.
set -euo pipefail
STEPS=${STEPS:-700}
OUT=${OUT:-runs/capacity}
mkdir -p "$OUT"
PY=(uv run --no-sync python docs/experiments/capacity_study.py)
for point in "img224 --image-size 224" "img112"; do
  set -- $point
  name=$1; shift
  /usr/bin/time -f "train $name wall %e s, user %U s" "${PY[@]}" train --out "$OUT/$name-s$STEPS" --steps "$STEPS" "$@" \
    > "$OUT/$name-s$STEPS.train.log" 2>&1
  /usr/bin/time -f "eval $name wall %e s" "${PY[@]}" eval "$OUT/$name-s$STEPS" --limit 300 --out "$OUT/eval-$name-s$STEPS.json" \
    > "$OUT/eval-$name-s$STEPS.log" 2>&1
done
