#!/bin/bash
# Run 4 of the declared confidence (docs/experiments/declared-confidence.md): labels from shapes-base's answers on
# both views of every pair (greedy + 8 samples at T = 1.0; the label score chosen on held-out pairs), the warm-up
# alone on both views, then the new model evaluated with the statement read as its expected value and, under
# --confidence stated, elicited for every sample that wrote none, then probed; the base model evaluated the same way
# for the paired comparison. One heavy job at a time; logs under runs/declared/logs.
set -e
cd "$(dirname "$0")/../../.."
C="uv run --no-sync catts"
OUT=runs/declared; mkdir -p $OUT/logs
date
[ -f $OUT/pairs/pairs.jsonl ] || \
  $C data pairs --benchmark shapes:100 --limit 1200 --kind occlusion --level 1 --region objects --out $OUT/pairs
date
if [ ! -f $OUT/labels/labels.jsonl ]; then
  $C serve catts_graph/shapes/models/shapes-base --port 8301 --max-model-len 1024 --served-model-name base \
    > $OUT/logs/serve-labels.log 2>&1 &
  SERVER=$!
  trap 'kill -TERM $SERVER 2>/dev/null' EXIT
  until curl -sf http://127.0.0.1:8301/health >/dev/null; do kill -0 $SERVER || exit 1; sleep 3; done
  # one elicitation request against the real server, printed (the digits at the placeholder's position)
  uv run --no-sync python docs/experiments/declared/elicit_check.py http://127.0.0.1:8301 $OUT/pairs 3 \
    > $OUT/logs/elicit-check-base.log 2>&1 || true
  $C data labels --data $OUT/pairs --base-url http://127.0.0.1:8301/v1 --model base --out $OUT/labels
  kill -TERM $SERVER; wait $SERVER || true
  date
fi
[ -f $OUT/d4-sft/config.json ] || \
  $C train cdrl --confidence stated --labels $OUT/labels/labels.jsonl --sft-only \
    --model catts_graph/shapes/models/shapes-base --data $OUT/pairs --max-completion-length 128 --out $OUT/d4
date
# the new model: evaluation and probe in one server session (the base's probe numbers are on the page already)
EVAL_ARGS="--confidence stated" docs/experiments/declared/eval.sh d4 $OUT/d4-sft
# the base model, evaluated the same way, for the paired comparison
PROBE=0 docs/experiments/declared/eval.sh base catts_graph/shapes/models/shapes-base
uv run --no-sync python docs/experiments/compare_runs.py $OUT/eval-d4 $OUT/eval-base > $OUT/compare-d4-base.txt
date
# the elicitation request against the suite's real vLLM server (the smoke model), once
uv run --no-sync pytest tests/integration/test_vllm_client.py -q -k "opened_statement or n_samples_with_top_k" \
  > $OUT/logs/integration-elicit.log 2>&1 || true
date
