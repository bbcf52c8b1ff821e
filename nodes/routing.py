"""Confidence-based edges: the gate that picks the next module, the finaliser, and the input/reset step.

With the stage nodes these assemble CA-TTS in any `StateGraph` (`catts_graph.create_catts_graph` is one such
assembly): ``START -> Prepare -> SampleNode -> VoteNode -> GateNode``, ``GateNode`` routing through `next_module`
to each module present (which goes back to the gate) or to `finalize`.

`GateNode` runs after the vote and after every module. It walks the plan (the Planner's order, else the default)
and returns the first enabled module that has not run. Under the `adaptive` and `sequential` policies a module is
skipped when the leading answer's vote share and declared confidence (`nodes.declared`) clear that module's `Gate`
and the expert's own answer, when the stopping rule asked for it, does not differ from the leader; every decision and
its reason is recorded in `routes` and streamed as a custom event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from nodes.common import emit, leader_confidence, leader_weakest_step, vote_summary, vote_table
from nodes.config import CATTSConfig
from nodes.declared import run_source
from nodes.inputs import validate_input
from nodes.run_context import run_settings
from nodes.state import CATTSState, RouteRecord, empty_usage
from nodes.voting import cannot_overturn, leader

FINALIZE = "finalize"
OPTIONAL_STAGES = ("planner", "critic", "self_check")


class Prepare:
    """The run's first node: validates the input, resets every per-run key (so a new question on the same thread
    starts clean), and records the settings the run uses: the graph's config with what the run's context sets.

    `modules` are the optional stages (of `OPTIONAL_STAGES`) the graph has. A context that enables a stage the graph
    was built without cannot add it: recorded in `fallbacks`.
    """

    def __init__(self, *, modules: Sequence[str], config: CATTSConfig | None = None):
        self.modules = tuple(modules)
        self.config = config or CATTSConfig()

    def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        settings = run_settings(self.config, runtime.context)
        missing = [m for m in OPTIONAL_STAGES if getattr(settings, m).enabled and m not in self.modules]
        fallbacks = [
            f"{m}: enabled by the run's context, but the graph was built without it; not run "
            f"(build the graph with {m} enabled and disable it per run instead)"
            for m in missing
        ]
        emit({"event": "settings", "settings": settings.model_dump(mode="json")})
        return {
            **validate_input(state),
            "samples": [],
            "expert_answer": None,
            "plan": [],
            "critique": None,
            "self_check": None,
            "contributions": Overwrite([]),
            "modules_run": Overwrite([]),
            "routes": Overwrite([]),
            "fallbacks": Overwrite(fallbacks),
            "usage": Overwrite(empty_usage()),
            "answer": None,
            "confidence": 0.0,
            "votes": {},
            "next_module": "",
            "settings": settings.model_dump(mode="json"),
        }


class GateNode:
    """Chooses the next module (or `finalize`) and records why. `modules` are the verification modules present in
    the graph (``critic``, ``self_check``), in their default order."""

    def __init__(self, *, modules: Sequence[str], config: CATTSConfig | None = None):
        self.modules = tuple(modules)
        self.config = config or CATTSConfig()

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = run_settings(self.config, runtime.context)
        routing = config.routing
        ran = state.get("modules_run") or []
        after = ran[-1] if ran else "start"
        summary = vote_summary(state)
        confidence = leader_confidence(state.get("samples") or [], summary["leader"], run_source(state))
        weakest = leader_weakest_step(state.get("samples") or [], summary["leader"])
        skipped: list[str] = []
        reasons: list[str] = []
        nxt = FINALIZE
        futile = self._futile(state, config, ran)
        if summary["leader"] is None:
            reasons.append("no parseable answer: nothing to check")
        elif futile:
            skipped = futile
            reasons.append(
                f"{', '.join(futile)} skipped: cannot change the answer (the leader's lead exceeds the "
                f"{sum(module_weight(config, m) for m in futile):g} their votes could add to another answer)"
            )
        else:
            for module in state.get("plan") or self.modules:
                if module in ran or module not in self.modules:
                    continue
                if not getattr(config, module).enabled:
                    skipped.append(module)
                    reasons.append(f"{module} disabled for this run")
                    continue
                if routing.policy in ("adaptive", "sequential"):
                    ok, why = getattr(routing, module).clears(summary["share"], confidence, weakest)
                    dissent = expert_dissent(state, summary["leader"])
                    if ok and dissent:  # evidence the vote does not hold: the module runs
                        ok, why = False, f"{why}; {dissent}"
                    if ok:
                        skipped.append(module)
                        reasons.append(f"{module} skipped: decisive ({why})")
                        continue
                    reasons.append(f"{module}: not decisive ({why})")
                else:
                    reasons.append(f"{module}: policy paper runs every module")
                nxt = module
                break
            else:
                reasons.append("every module has run or was skipped")
        route: RouteRecord = {"after": after, "next": nxt, "skipped": skipped, "reason": "; ".join(reasons)}
        emit(
            {
                "event": "route",
                **route,
                "leader": summary["leader"],
                "share": summary["share"],
                "confidence": confidence,
            }
        )
        return {"next_module": nxt, "routes": [route]}

    def _futile(self, state: CATTSState, config: CATTSConfig, ran: Sequence[str]) -> list[str]:
        """The modules left to run, when even all their votes could not overturn the leader; else []."""
        left = [m for m in self.modules if m not in ran and getattr(config, m).enabled]
        weights = [module_weight(config, m) for m in state.get("plan") or self.modules if m in left]
        if not config.routing.skip_futile or not left or not cannot_overturn(vote_table(state), weights):
            return []
        return left


def module_weight(config: CATTSConfig, module: str) -> float:
    """The most a verification module adds to one answer: the critic's ``tau2``, the self-check's ``tau3``."""
    return config.critic.tau2 if module == "critic" else config.self_check.tau3


def expert_dissent(state: CATTSState, leader_answer: str | None) -> str:
    """Why the expert's own answer (asked by the sequential stopping rule) speaks against the leader, or "" when it
    agrees, gave none, or was not asked."""
    asked = state.get("expert_answer")
    if asked is None or asked["answer"] is None or asked["answer"] == leader_answer:
        return ""
    return f"the expert's own answer {asked['answer']!r} differs"


def next_module(state: CATTSState) -> str:
    """Conditional-edge function: where the gate decided to go."""
    return state.get("next_module") or FINALIZE


def finalize(state: CATTSState) -> dict[str, Any]:
    """The final answer: argmax of the vote table; its confidence is the answer's share of the table."""
    table = vote_table(state)
    answer, share = leader(table)
    emit({"event": "final", "answer": answer, "confidence": share, "votes": table})
    return {"answer": answer, "confidence": share, "votes": table}
