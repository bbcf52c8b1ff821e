"""Where a command's models are: the servers its options name (`cli.options.Servers`), or the bundled models served
for it on loopback until the command ends. Shared by `catts run`, `eval`, `probe` and `bench`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from catts_graph.cli.options import Servers
from catts_graph.serving.chat import chat_model
from catts_graph.serving.vllm_client import VLLMClient
from catts_graph.shapes.bundled import BASE_MODEL, GROUNDED_MODEL, bundled_model, serve_bundled
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
    expert_model: VLLMClient | None = None  # the expert's server as a model (expert baselines, parameter count)

    def client(self, *, timeout_s: float) -> VLLMClient:
        """A client of the base model's server."""
        return VLLMClient(self.base_url, self.model, timeout_s=timeout_s, api_key=self.api_key)


INSTALL_TRAIN = "run `uv sync --extra cpu --extra train` (--extra gpu instead of cpu on NVIDIA machines)"


def load_relevance(spec: str | None, *, bundled: bool, required: bool = False) -> RelevanceModel | None:
    """The `--clip` model, the bundled ShapesVQA CLIP when serving the bundled models, else None.

    CLIP needs open_clip, from the `train` extra. Without it, a `--clip` (or a `required` CLIP) is a user error that
    says what to install; the bundled CLIP is left out with a warning, and question-guided noise then covers the
    whole image (each graph run records that fallback).
    """
    if spec is None and not bundled:
        return None
    try:
        return _load_clip(spec)
    except ImportError as e:
        if spec is not None or required:
            what = f"--clip {spec}" if spec is not None else "the bundled ShapesVQA CLIP"
            raise InvalidInputError(f"{what} needs the `train` extra ({e}); {INSTALL_TRAIN}.") from None
        print(
            f"warning: the bundled ShapesVQA CLIP needs the `train` extra ({e}); going on without it, so question-"
            f"guided noise covers the whole image (each run records that fallback). To use it, {INSTALL_TRAIN}.",
            file=sys.stderr,
        )
        return None


def _load_clip(spec: str | None) -> RelevanceModel:
    """The CLIP `spec` names (a folder or open_clip:ARCH[:TAG]), or the bundled one for None."""
    from catts_graph.perception.clip_relevance import ClipRelevance

    if spec is None:
        return ClipRelevance.load(bundled_model("shapes-clip"))
    if spec.startswith("open_clip:"):
        arch, _, pretrained = spec.removeprefix("open_clip:").partition(":")
        try:
            return ClipRelevance.from_pretrained(arch, pretrained or None)
        except (RuntimeError, ValueError, OSError) as e:  # unknown name, unknown tag, weights not reachable
            raise InvalidInputError(f"--clip {spec}: open_clip could not load it ({e}).") from None
    return ClipRelevance.load(spec)


def expert_client(servers: Servers, *, timeout: float) -> VLLMClient | None:
    """The `--expert-base-url` server as a model that samples with log-probs (None without one)."""
    if not servers.expert_base_url:
        return None
    return VLLMClient(servers.expert_base_url, servers.expert_model, timeout_s=timeout, api_key=servers.expert_api_key)


def chat_expert(servers: Servers, *, timeout: float) -> Any:
    """The `--expert-base-url` expert as a LangChain chat model (None without one)."""
    if not servers.expert_base_url:
        return None
    if not servers.expert_model:
        raise InvalidInputError("--expert-base-url needs --expert-model NAME too.")
    return chat_model(servers.expert_base_url, servers.expert_model, timeout=timeout, api_key=servers.expert_api_key)


@contextlib.contextmanager
def model_endpoints(servers: Servers, *, want_expert: bool, timeout: float) -> Iterator[Endpoints]:
    """The endpoints `servers` names; without a base URL, the bundled ShapesVQA models served on loopback until the
    block ends (the bundled expert too when `want_expert` and no expert server is named)."""
    expert = chat_expert(servers, timeout=timeout) if want_expert else None
    expert_name = (servers.expert_model if expert is not None else None) or "base model"
    expert_model = expert_client(servers, timeout=timeout) if want_expert else None
    if servers.base_url is not None:
        relevance = load_relevance(servers.clip, bundled=servers.bundled_settings)
        yield Endpoints(servers.base_url, servers.model, expert, expert_name, relevance, servers.api_key, expert_model)
        return
    relevance = load_relevance(servers.clip, bundled=True)
    print("serving the bundled ShapesVQA models on loopback (1-2 minutes) ...", file=sys.stderr)
    base = GROUNDED_MODEL if servers.grounded else BASE_MODEL
    with serve_bundled(expert=want_expert and not servers.expert_base_url, base=base) as bundled:
        if bundled.expert is not None:  # a model we serve: it can also score, so the Voter reads its likelihoods
            expert = expert_model = VLLMClient(bundled.expert.base_url, bundled.expert.model, timeout_s=timeout)
            expert_name = bundled.expert.model
        yield Endpoints(bundled.base.base_url, bundled.base.model, expert, expert_name, relevance, None, expert_model)
