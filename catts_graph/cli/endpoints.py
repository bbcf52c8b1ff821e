"""Where a command's models are: the servers named on the command line, or the bundled models served for it.

Shared by `catts run`, `catts eval` and `catts probe`. This is the CLI edge: API keys are read from the environment
here (`CATTS_API_KEY` for `--base-url`, `CATTS_EXPERT_API_KEY` for the expert), never in library code, and never
printed, logged, traced or written to results.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from catts_graph.benchmarks import PUBLIC
from catts_graph.serving.chat import API_KEY_ENV, EXPERT_KEY_ENV, chat_model
from catts_graph.serving.vllm_client import VLLMClient
from catts_graph.shapes.bundled import bundled_model, serve_bundled
from nodes.errors import InvalidInputError
from nodes.relevance import RelevanceModel


@dataclass(frozen=True)
class Endpoints:
    base_url: str
    model: str | None
    expert: Any  # a LangChain chat model, a VLLMClient (a served expert), or None for the base model itself
    expert_name: str
    relevance: RelevanceModel | None = None  # for question-guided self-check noise
    api_key: str | None = field(default=None, repr=False)  # the base server's key (CATTS_API_KEY)

    def client(self, *, timeout_s: float) -> VLLMClient:
        """A client of the base model's server."""
        return VLLMClient(self.base_url, self.model, timeout_s=timeout_s, api_key=self.api_key)


SELF_CHECK_CLIP = "the self-check's question-guided noise"
SELF_CHECK_CLIP_DEFAULT = "the bundled ShapesVQA CLIP with the bundled models; whole-image noise with --base-url"


def add_clip_argument(
    parser: argparse.ArgumentParser, *, purpose: str = SELF_CHECK_CLIP, default: str = SELF_CHECK_CLIP_DEFAULT
) -> None:
    parser.add_argument(
        "--clip",
        metavar="FOLDER|open_clip:ARCH[:PRETRAINED]",
        help=f"CLIP model for {purpose}: a saved folder, or an open_clip model by name (default: {default})",
    )


def add_benchmark_argument(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument(
        "--benchmark",
        default=default,
        help=f"shapes[:SEED], jsonl:PATH, or {'|'.join(PUBLIC)} (hub) or NAME:PATH (a local copy) "
        "(default: %(default)s)",
    )


def load_relevance(spec: str | None, *, bundled: bool) -> RelevanceModel | None:
    """The `--clip` model, the bundled ShapesVQA CLIP when serving the bundled models, else None."""
    from catts_graph.perception.clip_relevance import ClipRelevance

    if spec is None:
        return ClipRelevance.load(bundled_model("shapes-clip")) if bundled else None
    if spec.startswith("open_clip:"):
        arch, _, pretrained = spec.removeprefix("open_clip:").partition(":")
        try:
            return ClipRelevance.from_pretrained(arch, pretrained or None)
        except (RuntimeError, ValueError, OSError) as e:  # unknown name, unknown tag, weights not reachable
            raise InvalidInputError(f"--clip {spec}: open_clip could not load it ({e}).") from None
    return ClipRelevance.load(spec)


@contextlib.contextmanager
def model_endpoints(args: argparse.Namespace, *, want_expert: bool, timeout: float) -> Iterator[Endpoints]:
    """The endpoints from `--base-url/--model/--expert-base-url/--expert-model`; without `--base-url`, the bundled
    ShapesVQA models served on loopback until the block ends."""
    expert_url = getattr(args, "expert_base_url", None)
    expert, expert_name = None, "base model"
    if want_expert and expert_url:
        if not args.expert_model:
            raise InvalidInputError("--expert-base-url needs --expert-model NAME too.")
        key = os.environ.get(EXPERT_KEY_ENV, "EMPTY")
        expert, expert_name = (
            chat_model(expert_url, args.expert_model, timeout=timeout, api_key=key),
            args.expert_model,
        )
    clip = getattr(args, "clip", None)
    if args.base_url is not None:
        relevance = load_relevance(clip, bundled=False)
        yield Endpoints(args.base_url, args.model, expert, expert_name, relevance, os.environ.get(API_KEY_ENV))
        return
    relevance = load_relevance(clip, bundled=True)
    print("serving the bundled ShapesVQA models on loopback (1-2 minutes) ...", file=sys.stderr)
    with serve_bundled(expert=want_expert and not expert_url) as servers:
        if servers.expert is not None:  # a model we serve: it can also score, so the Voter reads its likelihoods
            expert = VLLMClient(servers.expert.base_url, servers.expert.model, timeout_s=timeout)
            expert_name = servers.expert.model
        yield Endpoints(servers.base.base_url, servers.base.model, expert, expert_name, relevance)


def finite_json(value: Any) -> Any:
    """JSON has no NaN: undefined numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value
