"""Each server failure becomes a typed error whose message says what to do (an in-memory HTTP transport)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable

import httpx
import pytest

from catts_graph.serving.errors import (
    ContextTooLongError,
    LogprobsNotEnabledError,
    ModelError,
    ModelNotFoundError,
    RequestRejectedError,
    ServerError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from catts_graph.serving.vllm_client import VLLMClient, normalize_base_url
from nodes.errors import InvalidInputError, TransientModelError
from nodes.protocol import Message, SamplingParams
from tests.reliability.fault_stubs import Reply, StubServer

Handler = Callable[[httpx.Request], httpx.Response]


def client_with(handler: Handler, model: str | None = "tiny") -> VLLMClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return VLLMClient("http://127.0.0.1:9/v1", model, http_client=http, max_retries=0)  # retries: tests/reliability


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "code": status}})


def models_or(response: httpx.Response) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "tiny"}, {"id": "expert"}]})
        return response

    return handler


MESSAGES = [Message.user("How many?")]


@pytest.mark.parametrize(
    ("response", "error_type", "match"),
    [
        (error(404, "The model `nope` does not exist."), ModelNotFoundError, "served: tiny, expert"),
        (error(400, "This model's maximum context length is 2048 tokens."), ContextTooLongError, "max-model-len"),
        (error(400, "max_tokens=3000 cannot be greater than max_model_len=2048."), ContextTooLongError, "Shorten"),
        (
            error(400, "Requested sample logprobs of 21, which is greater than max allowed: 5"),
            LogprobsNotEnabledError,
            "--max-logprobs 21",
        ),
        (error(400, "something else"), RequestRejectedError, "HTTP 400"),
        (error(500, "engine dead"), ServerError, "HTTP 500: engine dead"),
        (httpx.Response(503, text="<html>bad gateway</html>"), ServerError, "bad gateway"),
        (httpx.Response(200, json={"unexpected": True}), ModelError, "unexpected response"),
    ],
)
async def test_http_failures_become_typed_errors(response: httpx.Response, error_type: type, match: str) -> None:
    client = client_with(models_or(response), model="nope" if error_type is ModelNotFoundError else "tiny")
    with pytest.raises(error_type, match=match):
        await client.sample(MESSAGES, SamplingParams(n=2))


async def test_connection_refused_is_unreachable_and_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServerUnreachableError, match="catts serve") as info:
        await client_with(refuse).sample(MESSAGES, SamplingParams())
    assert isinstance(info.value, TransientModelError)


async def test_timeout_is_typed() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServerTimeoutError, match="did not answer within"):
        await client_with(slow).score(MESSAGES, "2")


async def test_model_name_is_resolved_from_the_server() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "served-one"}]})
        seen.append(request.read().decode())
        return httpx.Response(200, json={"model": "served-one", "choices": []})

    client = client_with(handler, model=None)
    assert await client.sample(MESSAGES, SamplingParams()) == []
    assert client.name == "served-one" and '"model":"served-one"' in seen[0].replace(" ", "")


async def test_empty_answer_is_rejected_before_any_request() -> None:
    with pytest.raises(InvalidInputError, match="empty answer"):
        await client_with(lambda r: httpx.Response(500)).score(MESSAGES, "")


def test_base_url_forms() -> None:
    assert normalize_base_url("http://h:8000/v1/") == "http://h:8000"
    assert normalize_base_url("http://h:8000") == "http://h:8000"
    with pytest.raises(InvalidInputError, match="http://"):
        normalize_base_url("h:8000")


def test_api_key_never_appears_in_repr() -> None:
    assert "secret" not in repr(VLLMClient("http://h:1", "m", api_key="secret-key"))


def test_one_client_works_on_several_event_loops() -> None:
    """`graph.invoke` runs nodes on the sync bridge's loop, `ainvoke` on the caller's: each loop gets its own
    connections and concurrency limit (a limit shared across loops fails once requests queue on it)."""
    stub = StubServer(lambda method, path: Reply(body=b'{"data": [{"id": "tiny"}]}', delay_s=0.05))
    client = VLLMClient(stub.base_url, max_concurrency=1, max_retries=0)

    async def queued() -> list[list[str]]:  # three requests queue on the one slot
        return list(await asyncio.gather(*(client.list_models() for _ in range(3))))

    try:
        for _ in range(2):
            assert asyncio.run(queued()) == [["tiny"]] * 3
        with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two loops at once, in two threads
            results = list(pool.map(lambda _: asyncio.run(queued()), range(2)))
        assert results == [[["tiny"]] * 3] * 2
    finally:
        stub.close()


async def test_a_callers_http_client_serves_one_loop_only() -> None:
    stub = StubServer(lambda method, path: Reply(body=b'{"data": [{"id": "tiny"}]}'))
    async with httpx.AsyncClient() as http:
        client = VLLMClient(stub.base_url, http_client=http)
        try:
            assert await client.list_models() == ["tiny"]
            with pytest.raises(InvalidInputError, match="serves the event loop it first ran on"):
                await asyncio.to_thread(asyncio.run, client.list_models())
        finally:
            stub.close()
