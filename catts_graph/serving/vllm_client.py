"""`VLLMClient`: the model protocol over vLLM's OpenAI-compatible HTTP API.

- `sample`: one `/v1/chat/completions` request with `n`, `logprobs` and `top_logprobs` per call.
- `score`: the answer prefilled as an open assistant turn (`continue_final_message`), `max_tokens=1` and
  `prompt_logprobs`; the answer's tokens are those after the prompt prefix, whose length comes from `/tokenize`
  (image tokens included) and is cached per prompt.
- Failures become typed errors (`catts_graph.serving.errors`) that say what to do. Transient ones (unreachable,
  timeout, 5xx) are retried with exponential backoff up to `max_retries` times within `retry_budget_s`, then raise
  `RetriesExhaustedError` naming the server. At most `max_concurrency` requests are in flight per client.
- No per-request seeds.
- One client works on any number of event loops (`graph.invoke` runs nodes on the sync bridge's loop, `ainvoke` on
  the caller's): it keeps an HTTP connection pool and a concurrency limit per loop. A caller's own `http_client`
  is bound to one loop; using it from another raises `InvalidInputError`.

Example:
    >>> import asyncio
    >>> from nodes import Message, SamplingParams
    >>> async def main():
    ...     async with VLLMClient("http://127.0.0.1:8000") as model:
    ...         samples = await model.sample([Message.user("Hi?", images=["cat.png"])], SamplingParams(n=4))
    ...         return [(s.text, s.confidence) for s in samples]
    >>> asyncio.run(main())  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import operator
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import ValidationError

from catts_graph.serving.errors import (
    ContextTooLongError,
    LogprobsNotEnabledError,
    ModelError,
    ModelNotFoundError,
    RequestRejectedError,
    RetriesExhaustedError,
    ScoringTemplateError,
    ServerError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from catts_graph.serving.wire import (
    ChatCompletionResponse,
    ModelList,
    TokenizeResponse,
    TopLogprob,
    sampling_request,
    scoring_request,
    tokenize_request,
)
from nodes.errors import InvalidInputError, TransientModelError
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, TokenLogprob

_PREFIX_CACHE_SIZE = 512
_LOGPROB = operator.attrgetter("logprob")
_BACKOFF_FIRST_S, _BACKOFF_MAX_S = 0.5, 8.0


@dataclass
class _LoopState:
    http: httpx.AsyncClient
    slots: asyncio.Semaphore
    owned: bool


def normalize_base_url(base_url: str) -> str:
    """Server root without a trailing ``/`` or ``/v1``: ``http://h:8000/v1/`` -> ``http://h:8000``."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"base URL {base_url!r} must start with http:// or https://")
    return url.removesuffix("/v1")


class VLLMClient:
    """A `nodes.VisionLanguageModel` backed by a vLLM (or compatible) server.

    Args:
        base_url: server root, with or without ``/v1`` (``http://127.0.0.1:8000``).
        model: served model name; None picks the first one the server lists.
        timeout_s: per-request timeout.
        api_key: sent as a bearer token when given; never logged or shown in `repr`.
        max_retries: further attempts after a transient failure (0: raise the first one as it is).
        retry_budget_s: no retry starts once this long has passed since the first attempt.
        max_concurrency: requests in flight at once per event loop; the rest wait their turn (not counted against
            `timeout_s`).
        http_client: an `httpx.AsyncClient` to share (the caller then closes it); it serves one event loop only.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        timeout_s: float = 120.0,
        api_key: str | None = None,
        max_retries: int = 2,
        retry_budget_s: float = 60.0,
        max_concurrency: int = 64,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if max_retries < 0 or retry_budget_s < 0 or max_concurrency < 1:
            raise InvalidInputError("max_retries and retry_budget_s must be >= 0, max_concurrency >= 1.")
        self.base_url = normalize_base_url(base_url)
        self._model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_budget_s = retry_budget_s
        self.max_concurrency = max_concurrency
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._shared_http = http_client
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._prefix_lengths: OrderedDict[str, list[int]] = OrderedDict()

    def __repr__(self) -> str:
        return f"VLLMClient(base_url={self.base_url!r}, model={self._model!r})"

    @property
    def name(self) -> str:
        return self._model or "unresolved"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools this client opened: the current loop's here, another running loop's on that
        loop; a closed loop's pool is already gone. A caller's `http_client` is the caller's to close."""
        current = asyncio.get_running_loop()
        states, self._per_loop = list(self._per_loop.items()), weakref.WeakKeyDictionary()
        for loop, state in states:
            if not state.owned:
                continue
            if loop is current:
                await state.http.aclose()
            elif loop.is_running():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(state.http.aclose(), loop))

    def _loop_state(self) -> _LoopState:
        """The connection pool and concurrency limit of the running event loop (made on first use there)."""
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None:
            if self._shared_http is not None and self._per_loop:
                raise InvalidInputError(
                    "this VLLMClient was given an http_client, which serves the event loop it first ran on; call "
                    "the graph from one loop only (ainvoke, or invoke), or let the client make its own connections"
                )
            http = self._shared_http or httpx.AsyncClient(
                timeout=self.timeout_s,
                headers=self._headers,
                limits=httpx.Limits(max_connections=self.max_concurrency + 4),
            )
            state = _LoopState(http, asyncio.Semaphore(self.max_concurrency), owned=self._shared_http is None)
            self._per_loop[loop] = state
        return state

    # -- plumbing ---------------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                state = self._loop_state()
                async with state.slots:
                    return await self._request_once(state.http, method, path, body)
            except TransientModelError as e:
                if self.max_retries == 0:
                    raise
                delay = min(_BACKOFF_FIRST_S * 2 ** (attempt - 1), _BACKOFF_MAX_S)
                elapsed = time.monotonic() - started
                if attempt > self.max_retries or elapsed + delay > self.retry_budget_s:
                    raise RetriesExhaustedError(self.base_url, attempt, elapsed, e) from None
            await asyncio.sleep(delay)
            attempt += 1

    async def _request_once(
        self, http: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        url = self.base_url + path
        try:
            response = await http.request(method, url, json=body)
        except httpx.TimeoutException:
            raise ServerTimeoutError(self.base_url, self.timeout_s) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
            raise ServerUnreachableError(self.base_url, type(e).__name__) from None
        if response.status_code >= 400:
            await self._raise_for_status(response, body)
        return response

    async def _raise_for_status(self, response: httpx.Response, body: dict[str, Any] | None) -> None:
        status = response.status_code
        try:
            detail = str(response.json().get("error", {}).get("message", "")) or response.text
        except (json.JSONDecodeError, AttributeError):
            detail = response.text
        detail = detail[:500]
        if status >= 500:
            raise ServerError(self.base_url, status, detail)
        lowered = detail.lower()
        if status == 404 and "model" in lowered and body is not None:
            raise ModelNotFoundError(self.base_url, str(body.get("model")), await self._served_models_or_empty())
        if "context length" in lowered or "max_model_len" in lowered or "maximum model length" in lowered:
            raise ContextTooLongError(self.base_url, detail)
        if "logprobs" in lowered and "max" in lowered:
            raise LogprobsNotEnabledError(self.base_url, detail)
        raise RequestRejectedError(self.base_url, status, detail)

    @staticmethod
    def _parse(model_cls: type[Any], response: httpx.Response) -> Any:
        try:
            return model_cls.model_validate_json(response.content)
        except ValidationError as e:
            raise ModelError(f"unexpected response from {response.request.url}: {e.errors()[:2]}") from None

    async def _served_models_or_empty(self) -> list[str]:
        try:
            return await self.list_models()
        except ModelError:
            return []

    async def _model_name(self) -> str:
        if self._model is None:
            models = await self.list_models()
            if not models:
                raise ModelError(f"the server at {self.base_url} serves no model.")
            self._model = models[0]
        return self._model

    # -- public API -------------------------------------------------------------------------------------------
    async def list_models(self) -> list[str]:
        """Names of the models the server serves."""
        response = await self._request("GET", "/v1/models")
        return [card.id for card in self._parse(ModelList, response).data]

    async def model_root(self) -> str | None:
        """Where the server loaded this client's model from, as ``/v1/models`` lists it (vLLM: the model's folder or
        hub id); None when the server lists no root for it."""
        name = await self._model_name()
        response = await self._request("GET", "/v1/models")
        cards = self._parse(ModelList, response).data
        return next((card.root for card in cards if card.id == name), None)

    async def sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        """`params.n` completions with per-token log-probs, from one request."""
        body = sampling_request(await self._model_name(), messages, params)
        parsed: ChatCompletionResponse = self._parse(
            ChatCompletionResponse, await self._request("POST", "/v1/chat/completions", body)
        )
        return samples_from_response(parsed, params.top_logprobs)

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        """Per-token log-probs of `answer` as the assistant's reply to `messages` (teacher forcing)."""
        if not answer:
            raise InvalidInputError("cannot score an empty answer.")
        model = await self._model_name()
        prefix = await self._prompt_tokens(model, messages)
        body = scoring_request(model, messages, answer, top_logprobs)
        parsed: ChatCompletionResponse = self._parse(
            ChatCompletionResponse, await self._request("POST", "/v1/chat/completions", body)
        )
        ids, entries = parsed.prompt_token_ids, parsed.prompt_logprobs
        if ids is None or entries is None or len(ids) != len(entries):
            raise ModelError(
                f"the server at {self.base_url} returned no prompt log-probs; it must be vLLM with "
                "prompt_logprobs support (0.8 or newer)."
            )
        if ids[: len(prefix)] != prefix or len(ids) <= len(prefix):
            raise ScoringTemplateError
        tokens, logprobs, tops, top_tokens = [], [], [], []
        for position in range(len(prefix), len(ids)):
            entry = entries[position] or {}
            chosen = entry.get(str(ids[position]))
            if chosen is None:
                raise ModelError(f"prompt log-prob missing for token {ids[position]} at position {position}.")
            tokens.append(chosen.decoded_token or "")
            logprobs.append(chosen.logprob)
            if top_logprobs:  # the entry holds the top k and the scored token: keep the k largest
                top = sorted(entry.values(), key=_LOGPROB, reverse=True)[:top_logprobs]
                tops.append(tuple(e.logprob for e in top))
                top_tokens.append(tuple(e.decoded_token or "" for e in top))
        return AnswerScore(tuple(tokens), tuple(logprobs), len(prefix), tuple(tops), tuple(top_tokens))

    async def _prompt_tokens(self, model: str, messages: Sequence[Message]) -> list[int]:
        body = tokenize_request(model, messages)
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key in self._prefix_lengths:
            self._prefix_lengths.move_to_end(key)
            return self._prefix_lengths[key]
        parsed: TokenizeResponse = self._parse(TokenizeResponse, await self._request("POST", "/tokenize", body))
        self._prefix_lengths[key] = parsed.tokens
        if len(self._prefix_lengths) > _PREFIX_CACHE_SIZE:
            self._prefix_lengths.popitem(last=False)
        return parsed.tokens


def samples_from_response(parsed: ChatCompletionResponse, k: int) -> list[Sample]:
    """The samples of one chat completion, each token with the true top `k` log-probs (see `_top_k`)."""
    prompt_tokens = parsed.usage.prompt_tokens if parsed.usage else 0
    samples = []
    for choice in sorted(parsed.choices, key=lambda c: c.index):
        content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
        tokens = tuple(TokenLogprob(t.token, t.logprob, *_top_k(t.top_logprobs, k)) for t in content)
        samples.append(Sample(choice.message.content or "", tokens, choice.finish_reason, prompt_tokens))
    return samples


def _top_k(entries: Sequence[TopLogprob], k: int) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """The k largest log-probs of a step's k + 1 returned entries (the sampled token may be one of them), and
    their tokens."""
    top = sorted(entries, key=_LOGPROB, reverse=True)[:k]
    return tuple([e.logprob for e in top]), tuple([e.token for e in top])
