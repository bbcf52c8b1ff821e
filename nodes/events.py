"""The custom stream events the nodes emit through `nodes.common.emit` (``stream_mode="custom"``), one TypedDict
per kind, told apart by `event`.

- ``settings`` (`Prepare`): the settings the run uses, a `CATTSConfig` as JSON;
- ``samples`` (`SampleNode`): how many samples were drawn and how many had no parseable answer;
- ``steps`` (`SampleNode`): each sample's reasoning steps with their confidence;
- ``votes`` (`VoteNode`, `CriticNode`, `SelfCheckNode`): the vote table after that stage, as leader, share and
  normalised shares;
- ``route`` (`GateNode`): where the graph goes next and why, with the vote it decided on;
- ``final`` (`finalize`): the answer, its confidence and the vote table.

Example:
    >>> event: StreamEvent = {"event": "samples", "n": 8, "unparseable": 1}
    >>> event["event"], event["n"]
    ('samples', 8)
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class VoteSummary(TypedDict):
    """The vote table at a point of the run: its leading answer, the leader's share, every answer's share."""

    leader: str | None
    share: float
    shares: dict[str, float]


class SettingsEvent(TypedDict):
    event: Literal["settings"]
    settings: dict[str, Any]  # the run's CATTSConfig (the graph's config with the run's context applied) as JSON


class SamplesEvent(TypedDict):
    event: Literal["samples"]
    n: int  # samples drawn
    unparseable: int  # of them, without a parseable answer


class StepsEvent(TypedDict):
    event: Literal["steps"]
    samples: list[list[dict[str, Any]]]  # per sample, its steps as {"text", "confidence"}


class VotesEvent(VoteSummary):
    event: Literal["votes"]
    after: str  # vote | critic | self_check


class RouteEvent(TypedDict):
    event: Literal["route"]
    after: str  # the stage the gate ran after
    next: str  # the module it chose, or finalize
    skipped: list[str]
    reason: str
    leader: str | None
    share: float
    confidence: float  # mean NMLP confidence of the leader's samples (NaN if none)


class FinalEvent(TypedDict):
    event: Literal["final"]
    answer: str | None
    confidence: float
    votes: dict[str, float]


StreamEvent = SettingsEvent | SamplesEvent | StepsEvent | VotesEvent | RouteEvent | FinalEvent
