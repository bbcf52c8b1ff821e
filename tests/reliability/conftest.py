"""Fixtures of the reliability suite (the session's vLLM server comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fault_stubs import Script, StubServer


@pytest.fixture
def stub_server() -> Iterator[Callable[[Script], StubServer]]:
    started: list[StubServer] = []

    def start(script: Script) -> StubServer:
        started.append(StubServer(script))
        return started[-1]

    yield start
    for server in started:
        server.close()
