#!/bin/bash
# The sequential policy's dev runs (docs/experiments/sequential.md), then the held-out run in docs/results.md.
# With today's code the expert-weighted rule also runs the modules when the expert dissents (the notebook's
# dev-expert run predates that; dev-expert-dissent is the rerun).
set -e
mkdir -p runs/seq/rules
for rule in "2 1.0 0.95 0.0" "2 1.0 0.8 0.0" "2 2.0 0.8 0.0" "1 1.0 0.85 1.0"; do
  set -- $rule
  name="f$1-p$2-t$3-e$4"
  echo "{\"first\": $1, \"prior\": $2, \"threshold\": $3, \"expert_weight\": $4}" > runs/seq/rules/$name.json
  catts eval --benchmark shapes:3 --limit 200 --methods majority,catts-paper,catts-sequential --n 16 \
    --concurrency 8 --stop-rule runs/seq/rules/$name.json --out runs/seq/dev-$name
done
catts calibrate runs/seq/dev-f1-p1.0-t0.85-e1.0 --stop --n 16 --agreement 0.97
catts eval --benchmark shapes --limit 300 --methods greedy,majority,catts-paper,catts-sequential --n 1,2,4,8,16 \
  --concurrency 8 --out runs/seq/test300
