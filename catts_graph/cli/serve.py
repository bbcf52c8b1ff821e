"""`catts serve MODEL`: run a vLLM server with the flags the graph needs until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from catts_graph.serving.errors import ServerStartError
from catts_graph.serving.server import DEFAULT_MAX_MODEL_LEN, ServerOptions, VLLMServerProcess, is_loopback

EPILOG = """\
examples:
  catts serve models/tiny                          loopback, free port, float32 on CPU
  catts serve models/tiny --port 8000
  catts serve models/tiny -- --max-num-seqs 8      flags after -- go to vLLM unchanged

The server always gets --max-logprobs 21 (confidence needs the true top 20; the client asks for 21, since vLLM
lists the sampled token among them) and a server-wide --seed (per-request seeds crash vLLM's CPU engine).
Ctrl-C or SIGTERM stops the whole server process group.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model with vLLM (OpenAI-compatible) on loopback",
        description="Start vLLM's OpenAI-compatible server for MODEL, wait until it is healthy, print its base URL, "
        "and keep it running until interrupted.",
        usage="%(prog)s [-h] [options] MODEL [-- VLLM_FLAG ...]",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="saved model folder (e.g. from `catts make-tiny-model`)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s, loopback only)")
    p.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p.add_argument("--served-model-name", default=None, help="model name clients use (default: folder name)")
    p.add_argument(
        "--max-model-len",
        type=int,
        default=None,
        help="context window in tokens (default: the model's max_position_embeddings, at most "
        f"{DEFAULT_MAX_MODEL_LEN})",
    )
    p.add_argument("--dtype", default=None, help="weights dtype (default: float32 on CPU, auto on GPU)")
    p.add_argument("--kv-cache-gib", type=int, default=1, help="vLLM-CPU KV cache in GiB (default: %(default)s)")
    p.add_argument("--startup-timeout", type=float, default=600.0, help="seconds to wait for /health")
    p.set_defaults(handler=run, passthrough=[])  # the words after `--` (see `catts_graph.cli.main`)


def run(args: argparse.Namespace) -> int:
    extra = args.passthrough
    options = ServerOptions(
        host=args.host,
        port=args.port,
        served_model_name=args.served_model_name,
        max_model_len=args.max_model_len,
        dtype=args.dtype,
        kv_cache_gib=args.kv_cache_gib,
        extra_args=tuple(extra),
        startup_timeout_s=args.startup_timeout,
    )
    if not is_loopback(options.host):
        print(
            f"warning: binding {options.host}: anyone who can reach this machine can use the model.", file=sys.stderr
        )
    process = VLLMServerProcess(args.model, options)
    print(f"starting vLLM ({process.build}) for {process.model}; log: {process.log_path}", file=sys.stderr)
    try:
        process.start()
        process.wait_healthy()
        print(f"serving {process.served_model_name!r} at {process.base_url}/v1  (pid {process.pid})", file=sys.stderr)
        print(process.base_url, flush=True)
        while process.running():
            time.sleep(0.5)
        raise ServerStartError(f"the vLLM server exited unexpectedly; log: {process.log_path}")
    finally:
        print("stopping the server ...", file=sys.stderr)
        process.stop()
