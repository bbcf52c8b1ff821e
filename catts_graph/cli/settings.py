"""The settings in force, said in one line at the start of every `catts eval` and `catts run`, so a run against a
served model never silently compares other settings than the bundled run's (docs/results.md).

Example:
    >>> from catts_graph.graph.config import CATTSConfig
    >>> settings_line(CATTSConfig(), relevance=False, bundled_settings=False)[:48]
    'settings: N 8, temperature 1, 256 tokens/sample;'
"""

from __future__ import annotations

from collections.abc import Sequence

from catts_graph.graph.config import CATTSConfig
from catts_graph.shapes.bundled import BASE_MODEL, EXPERT_MODEL, GROUNDED_MODEL

BUNDLED_NAMES = frozenset({BASE_MODEL, EXPERT_MODEL, GROUNDED_MODEL})
REGIONS = {
    "question": "the question's patches",
    "global": "the whole image",
    "model": "the boxes each grounded response names",
    "box": "a fixed box",
}


def settings_line(
    config: CATTSConfig, *, relevance: bool, bundled_settings: bool, ns: Sequence[int] | None = None
) -> str:
    """One line: N, temperature and tokens, routing, the Voter form, where the self-check noises the image (and with
    what), the step combination and grounding; without `bundled_settings`, how to get the bundled run's."""
    sampling, check = config.sampling, config.self_check
    n = ",".join(map(str, ns)) if ns else str(sampling.n)
    region = check.noise.region
    where = REGIONS[region]
    if region == "question":
        where += " (CLIP relevance)" if relevance else " -> the whole image (no CLIP: --clip)"
    steps = "a weighted mean" if config.steps.bias is None else "fitted weights"
    grounding = "off"
    if config.grounding.enabled:
        grounding = f"on, {config.grounding.frame} box frame"
    parts = [
        f"N {n}, temperature {sampling.temperature:g}"
        + (f", min-p {sampling.min_p:g}" if sampling.min_p else "")
        + f", {sampling.max_tokens} tokens/sample",
        f"routing {config.routing.policy}",
        f"Voter form {config.vote.voter_form}" if config.vote.voter else "no Voter",
        f"self-check {check.form} on {where}" if check.enabled else "no self-check",
        f"step confidence {steps} ({config.steps.splitter})",
        f"grounding {grounding}",
    ]
    line = "settings: " + "; ".join(parts)
    if not bundled_settings:
        line += " (for a served bundled model, --bundled-settings gives the bundled run's)"
    return line


def bundled_hint(served: Sequence[str]) -> str | None:
    """A warning when the server serves a bundled model under its own name but the bundled settings are not in
    force; None otherwise."""
    names = sorted(BUNDLED_NAMES.intersection(served))
    if not names:
        return None
    return (
        f"warning: the server serves {', '.join(names)}, a bundled model, with other settings than the bundled run "
        "(docs/results.md); pass --bundled-settings to use the bundled run's"
    )
