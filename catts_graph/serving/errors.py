"""Errors of the vLLM client and server manager, each with a message that says what to do."""

from __future__ import annotations

from nodes.errors import CattsError, InvalidImageError, InvalidInputError, ModelError, TransientModelError

__all__ = [
    "CattsError",
    "ContextTooLongError",
    "InvalidImageError",
    "InvalidInputError",
    "LogprobsNotEnabledError",
    "ModelError",
    "ModelNotFoundError",
    "RequestRejectedError",
    "RetriesExhaustedError",
    "ScoringTemplateError",
    "ServerError",
    "ServerStartError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "TransientModelError",
]


class ServerUnreachableError(TransientModelError):
    """Nothing answered at the server's address."""

    def __init__(self, base_url: str, detail: str = "") -> None:
        self.base_url = base_url
        super().__init__(
            f"cannot reach the model server at {base_url}{f' ({detail})' if detail else ''}. "
            "Is it running? Start one with `catts serve MODEL_DIR`, or pass the right --base-url."
        )


class ServerTimeoutError(TransientModelError):
    """The server accepted the connection but did not answer in time."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        super().__init__(
            f"the model server at {base_url} did not answer within {timeout_s:g} s. "
            "It may be overloaded: lower the concurrency, or raise the client timeout."
        )


class ServerError(TransientModelError):
    """The server answered with a 5xx status."""

    def __init__(self, base_url: str, status: int, detail: str) -> None:
        self.base_url = base_url
        self.status = status
        super().__init__(f"the model server at {base_url} failed with HTTP {status}: {detail}")


class RetriesExhaustedError(ModelError):
    """Transient failures (unreachable, timeout, 5xx) went on past the client's retry budget.

    Not itself transient: callers that retry transient errors (the graph's retry policy) do not multiply the budget.
    """

    def __init__(self, base_url: str, attempts: int, elapsed_s: float, last: TransientModelError) -> None:
        self.base_url = base_url
        self.attempts = attempts
        self.last = last
        super().__init__(
            f"gave up on the model server at {base_url} after {attempts} attempts in {elapsed_s:.1f} s: {last}"
        )


class RequestRejectedError(ModelError):
    """The server rejected a request (4xx) for a reason without a more specific class."""

    def __init__(self, base_url: str, status: int, detail: str) -> None:
        self.base_url = base_url
        self.status = status
        super().__init__(f"the model server at {base_url} rejected the request (HTTP {status}): {detail}")


class ModelNotFoundError(RequestRejectedError):
    """The requested model name is not served."""

    def __init__(self, base_url: str, model: str, available: list[str]) -> None:
        self.model = model
        self.available = available
        names = ", ".join(available) if available else "none listed"
        super().__init__(
            base_url, 404, f"model {model!r} is not served there (served: {names}). Pass --model with one of those."
        )


class ContextTooLongError(RequestRejectedError):
    """Prompt (plus requested tokens) exceeds the model's context window."""

    def __init__(self, base_url: str, detail: str) -> None:
        super().__init__(
            base_url,
            400,
            f"{detail} Shorten the question, lower max_tokens, or serve the model with a larger --max-model-len.",
        )


class LogprobsNotEnabledError(RequestRejectedError):
    """The server does not return as many log-probs as the request asked for."""

    def __init__(self, base_url: str, detail: str) -> None:
        super().__init__(
            base_url,
            400,
            f"{detail} Restart the server with `--max-logprobs 21` (`catts serve` does this: the client asks for "
            "k + 1 top log-probs, k <= 20) or ask for fewer.",
        )


class ServerStartError(CattsError):
    """A vLLM server process failed to start or to become healthy."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message + (f"\n--- last lines of the server log ---\n{log_tail}" if log_tail else ""))


class ScoringTemplateError(ModelError):
    """The model's chat template cannot score an answer on its own."""

    def __init__(self) -> None:
        super().__init__(
            "the prompt is not a prefix of prompt + answer under this model's chat template; scoring needs a "
            "template that leaves the final assistant turn open when continue_final_message is set."
        )
