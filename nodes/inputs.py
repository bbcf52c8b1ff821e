"""Validation of a run's input, before any model call. Bad input raises `InvalidInputError` saying what to fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.answers import ANSWER_TYPES
from nodes.errors import InvalidInputError
from nodes.images import data_urls

MAX_QUESTION_CHARS = 8_000
MAX_CHOICES = 26


def validate_input(state: Mapping[str, Any]) -> dict[str, Any]:
    """The cleaned input keys (question stripped, images as strings); raises on anything unusable."""
    question = state.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError("the question is empty; pass a non-empty `question` string.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInputError(f"the question has {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}.")
    images = state.get("images") or []
    if isinstance(images, str) or not isinstance(images, list | tuple):
        raise InvalidInputError("`images` must be a list of file paths or data URLs.")
    if not all(isinstance(i, str) for i in images):
        raise InvalidInputError("each image must be a file path or a data URL string (encode PIL images first).")
    data_urls(images)  # raises InvalidImageError for missing, corrupt or refused images
    choices = state.get("choices")
    if choices is not None:
        choices = check_choices(choices)
    answer_type = state.get("answer_type")
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise InvalidInputError(f"answer_type must be one of {', '.join(ANSWER_TYPES)}, got {answer_type!r}.")
    if choices and answer_type not in (None, "choice"):
        raise InvalidInputError("with `choices` the answer is an option letter: leave answer_type unset or 'choice'.")
    return {
        "question": question.strip(),
        "images": list(images),
        "choices": choices,
        "answer_type": "choice" if choices else answer_type,
    }


def check_choices(choices: Any) -> list[str]:
    """The options, stripped; raises `InvalidInputError` unless there are 2-26 distinct, non-empty option texts."""
    if not isinstance(choices, list | tuple) or not all(isinstance(c, str) for c in choices):
        raise InvalidInputError("`choices` must be a list of option texts.")
    stripped = [c.strip() for c in choices]
    if len(stripped) < 2 or len(stripped) > MAX_CHOICES:
        raise InvalidInputError(f"give between 2 and {MAX_CHOICES} choices, got {len(stripped)}.")
    if not all(stripped):
        raise InvalidInputError("a choice is empty; every option needs text.")
    if len({c.lower() for c in stripped}) != len(stripped):
        raise InvalidInputError("two choices are the same; options must be distinct.")
    return stripped
