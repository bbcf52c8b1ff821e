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
