"""Parsing expert replies as data, with size limits: Voter probabilities and Planner orders.

A reply that cannot be parsed gives None; the caller applies its documented fallback and records it.

Example:
    >>> parse_voter_reply("2: 0.7\\n3: 0.3", ["2", "3"])
    {'2': 0.7, '3': 0.3}
    >>> parse_plan("self_check, critic", ("critic", "self_check"))
    ['self_check', 'critic']
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence

MAX_REPLY_CHARS = 8_000  # model replies read as data (the expert's, the judge's) are cut to this before parsing
_LINE = re.compile(r"^\s*[-*\u2022]?\s*(.+?)\s*[:=]\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")
_MODULE_ALIASES = {
    "critic": "critic",
    "self_check": "self_check",
    "self-check": "self_check",
    "self check": "self_check",
}


def parse_voter_reply(
    reply: str, candidates: Sequence[str], normalize: Callable[[str], str | None] = lambda s: s.strip()
) -> dict[str, float] | None:
    """Probabilities per candidate from ``candidate: p`` lines or a JSON object; normalised to sum 1.

    Args:
        reply: the expert's text.
        candidates: the normalised candidate answers that were offered.
        normalize: maps the expert's spelling of a candidate to the normalised form (e.g. ``"two"`` -> ``"2"``).

    Returns:
        ``{candidate: probability}`` over all `candidates` (absent ones get 0), or None when nothing usable was
        found (no known candidate with a finite, non-negative probability, or all zero).
    """
    text = reply[:MAX_REPLY_CHARS]
    pairs: list[tuple[str, float]] = []
    json_match = re.search(r"\{.*\}", text, re.DOTALL)
    if json_match:
        try:
            obj = json.loads(json_match.group(0))
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            pairs = [(str(k), float(v)) for k, v in obj.items() if isinstance(v, int | float)]
    if not pairs:
        for line in text.splitlines():
            m = _LINE.match(line)
            if m:
                value = float(m.group(2)) / (100.0 if m.group(3) else 1.0)
                pairs.append((m.group(1).strip("`'\" "), value))
    wanted = set(candidates)
    probs = dict.fromkeys(candidates, 0.0)
    found = False
    for raw, value in pairs:
        key = normalize(raw)
        if key in wanted and math.isfinite(value) and value >= 0:
            probs[key] += value
            found = True
    total = sum(probs.values())
    if not found or total <= 0:
        return None
    return {c: p / total for c, p in probs.items()}


def parse_plan(reply: str, modules: Sequence[str]) -> list[str] | None:
    """The module order named in `reply`, if it names every module in `modules` exactly once; else None."""
    text = reply[:MAX_REPLY_CHARS].lower()
    pattern = "|".join(re.escape(alias) for alias in sorted(_MODULE_ALIASES, key=len, reverse=True))
    named = [_MODULE_ALIASES[m] for m in re.findall(pattern, text)]
    order = [m for m in named if m in modules]
    if sorted(order) != sorted(modules):
        return None
    return order
