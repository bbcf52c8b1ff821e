"""Typed errors shared by every layer. Messages say what went wrong and what to do about it.

`catts_graph` adds the concrete server errors (unreachable, timeout, unknown model, ...) as subclasses of these, so
node code can catch the protocol-level classes without importing `catts_graph`.
"""

from __future__ import annotations


class CattsError(Exception):
    """Base class of every error this project raises on purpose."""


class InvalidInputError(CattsError, ValueError):
    """The caller passed something unusable (empty question, malformed choices, ...)."""


class InvalidImageError(InvalidInputError):
    """An image could not be read: missing, corrupt, not an image, too large, or a refused remote URL."""


class ModelError(CattsError):
    """A model backend failed to answer a request."""


class TransientModelError(ModelError):
    """A failure worth retrying: the backend was unreachable, timed out or returned a server error."""


class ExpertUnavailableError(ModelError):
    """An expert call failed on every attempt of its retry policy (or failed in a way not worth retrying)."""

    def __init__(self, expert: str, attempts: int, last: BaseException) -> None:
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(f"{expert}: {tries}, last {type(last).__name__}: {last}")
        self.attempts = attempts
        self.last = last


_TRANSIENT_NAMES = frozenset(
    {"APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError", "TransportError"}
)


def is_transient(error: BaseException) -> bool:
    """Whether a failed call is worth retrying: unreachable, timed out, rate-limited (429) or a server error (5xx),
    whichever client raised it (ours, httpx, openai); recognised by type or status code, without importing them."""
    if isinstance(error, TransientModelError | TimeoutError | ConnectionError):
        return True
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(error).__mro__):
        return True
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and (status in (408, 429) or status >= 500)


_SERVICE_NAMES = _TRANSIENT_NAMES | {"APIError", "APIStatusError", "OpenAIError", "HTTPError"}


def is_service_fault(error: BaseException) -> bool:
    """Whether a failed model call failed as a service (a typed model error, a transport or HTTP error of any
    client, a status code), as opposed to a bug in the calling code (`TypeError`, `KeyError`, ...), which must
    surface rather than be degraded around."""
    if is_transient(error) or isinstance(error, ModelError | OSError):
        return True
    if any(cls.__name__ in _SERVICE_NAMES for cls in type(error).__mro__):
        return True
    return isinstance(getattr(error, "status_code", None), int)
