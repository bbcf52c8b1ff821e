"""Parameter counts of model folders and of served models, read from safetensors headers (no weights loaded).

A safetensors file starts with the length of its JSON header and the header itself, which names every tensor's
shape; `count_parameters` sums those shapes, so it needs neither torch nor the safetensors package. A vLLM server
lists each model's ``root`` in ``/v1/models``: for a model served from a local folder, that folder.
`served_parameters` counts the parameters there; when the root is no folder on this machine (a remote server, a hub
id, a server that lists no root) the count is None and `ParameterCount.source` says why, so callers can fall back
to tokens and say so.

Example:
    >>> count_parameters("catts_graph/shapes/models/shapes-base") > 1_000_000  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catts_graph.serving.vllm_client import VLLMClient
from nodes.errors import ModelError

_HEADER_LENGTH = struct.Struct("<Q")  # little-endian u64: the JSON header's length in bytes


@dataclass(frozen=True)
class ParameterCount:
    """A model's parameter count (None when it could not be read) and where it came from, or why not."""

    count: int | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "source": self.source}


def count_parameters(model_dir: str | Path) -> int:
    """Number of parameters stored in a saved model folder's ``*.safetensors`` files (reads their headers only)."""
    total = 0
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        with file.open("rb") as f:
            (length,) = _HEADER_LENGTH.unpack(f.read(_HEADER_LENGTH.size))
            header: dict[str, Any] = json.loads(f.read(length))
        total += sum(math.prod(int(d) for d in t["shape"]) for name, t in header.items() if name != "__metadata__")
    return total


def folder_parameters(folder: str | Path) -> ParameterCount:
    """The parameters of a local model folder, or None (with the reason) when it holds no safetensors weights."""
    path = Path(folder)
    if not path.is_dir():
        return ParameterCount(None, f"{folder} is not a folder on this machine")
    if not any(path.glob("*.safetensors")):
        return ParameterCount(None, f"{folder} holds no *.safetensors weights")
    try:
        return ParameterCount(count_parameters(path), str(path.resolve()))
    except (OSError, ValueError, KeyError, TypeError, struct.error) as e:
        return ParameterCount(None, f"{folder}: unreadable safetensors header ({type(e).__name__}: {e})")


async def served_parameters(client: VLLMClient) -> ParameterCount:
    """The parameters of the model `client` calls, from the folder its server loaded it from (``/v1/models``
    ``root``); None with the reason when the server cannot be asked or names no folder on this machine."""
    try:
        root = await client.model_root()
    except ModelError as e:
        return ParameterCount(None, f"{client.base_url} could not list its models ({e})")
    if root is None:
        return ParameterCount(None, f"{client.base_url} lists no root folder for {client.name}")
    return folder_parameters(root)
