# Sourced by the step experiments: serves the bundled base model (port 8201, "base") and expert (port 8202,
# "expert") on loopback, logs in $OUT/logs, and waits until both answer; `kill -TERM $BASE $EXPERT` stops them.
M=catts_graph/shapes/models
uv run --no-sync catts serve $M/shapes-base --port 8201 --max-model-len 1024 --served-model-name base > $OUT/logs/serve-base.log 2>&1 &
BASE=$!
uv run --no-sync catts serve $M/shapes-expert --port 8202 --max-model-len 1024 --served-model-name expert > $OUT/logs/serve-expert.log 2>&1 &
EXPERT=$!
until curl -sf http://127.0.0.1:8201/health >/dev/null && curl -sf http://127.0.0.1:8202/health >/dev/null; do sleep 3; done
