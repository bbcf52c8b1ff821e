"""Parameter counts from safetensors headers, of folders and of served models (an in-memory HTTP transport)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from catts_graph.serving.parameters import count_parameters, folder_parameters, served_parameters
from catts_graph.serving.vllm_client import VLLMClient
from catts_graph.shapes.bundled import BASE_MODEL, EXPERT_MODEL, bundled_model


def test_counts_every_tensor_of_every_file_from_the_headers(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"a": np.zeros((3, 4), np.float32), "b": np.zeros(5, np.float16)}, str(tmp_path / "one.safetensors"),
              metadata={"format": "pt"})  # fmt: skip
    save_file({"c": np.zeros((2, 3, 7), np.float32), "scalar": np.zeros((), np.float32)},
              str(tmp_path / "two.safetensors"))  # fmt: skip
    assert count_parameters(tmp_path) == 12 + 5 + 42 + 1
    count = folder_parameters(tmp_path)
    assert count.count == 60 and count.source == str(tmp_path.resolve())


@pytest.mark.parametrize("name", [BASE_MODEL, EXPERT_MODEL])
def test_the_bundled_models_count_as_the_safetensors_package_loads_them(name: str) -> None:
    from safetensors import safe_open

    folder = bundled_model(name)
    with safe_open(str(folder / "model.safetensors"), framework="numpy") as f:
        expected = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())  # noqa: SIM118
    assert count_parameters(folder) == expected > 1_000_000


def test_a_folder_without_weights_has_no_count_and_says_why(tmp_path: Path) -> None:
    assert folder_parameters(tmp_path).count is None and "no *.safetensors" in folder_parameters(tmp_path).source
    missing = folder_parameters(tmp_path / "nope")
    assert missing.count is None and "not a folder on this machine" in missing.source


def served(root: str | None, status: int = 200) -> VLLMClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "down", "code": status}})
        cards = [{"id": "other", "root": "/elsewhere"}, {"id": "tiny", **({"root": root} if root else {})}]
        return httpx.Response(200, json={"data": cards})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return VLLMClient("http://127.0.0.1:9", "tiny", http_client=http, max_retries=0)


async def test_a_served_model_is_counted_in_the_folder_its_server_lists() -> None:
    folder = bundled_model(EXPERT_MODEL)
    count = await served_parameters(served(str(folder)))
    assert count.count == count_parameters(folder) and count.source == str(folder.resolve())


@pytest.mark.parametrize(
    ("root", "status", "reason"),
    [
        (None, 200, "lists no root folder for tiny"),
        ("Qwen/Qwen2.5-VL-7B-Instruct", 200, "not a folder on this machine"),  # a hub id, or a remote server's path
        ("/x", 500, "could not list its models"),
    ],
)
async def test_a_served_model_without_a_local_folder_has_no_count(root: str | None, status: int, reason: str) -> None:
    count = await served_parameters(served(root, status))
    assert count.count is None and reason in count.source
