"""Graph and node logic with a scripted model and expert: votes, routes, fallbacks, retries, state hygiene."""

from __future__ import annotations

import math
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import RetryPolicy

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.errors import InvalidImageError, InvalidInputError, ModelError, TransientModelError, is_service_fault
from nodes.protocol import Message
from nodes.testing import ScriptedExpert, ScriptedModel


def config(**stages: Any) -> CATTSConfig:
    return CATTSConfig.model_validate(stages)


async def run(
    model: ScriptedModel, expert: Any = None, cfg: CATTSConfig | None = None, **inputs: Any
) -> dict[str, Any]:
    graph = create_catts_graph(model, expert=expert, config=cfg)
    return dict(await graph.ainvoke({"question": "How many circles are there?", **inputs}))


async def test_paper_policy_runs_every_module_and_sums_the_votes(image: str) -> None:
    model = ScriptedModel(
        [("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0), ("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)],
        greedy="\\boxed{3}",
        score_fn=lambda ms, a: -1.0,
    )
    expert = ScriptedExpert(voter="2: 0.2\n3: 0.8")
    out = await run(model, expert, images=[image])
    assert out["modules_run"] == ["self_consistency", "voter", "critic", "self_check"]
    # V_int = {2: .9, 3: .1}; voter adds .5*{.2, .8}; critic's re-answer 3 adds .5; self-check (a tie) picks 2: +.5
    assert out["votes"] == pytest.approx({"2": 0.9 + 0.1 + 0.5, "3": 0.1 + 0.4 + 0.5})
    assert out["answer"] == "2"
    assert out["confidence"] == pytest.approx(1.5 / 2.5)
    assert [r["next"] for r in out["routes"]] == ["critic", "self_check", "finalize"]
    assert out["usage"]["model_calls"] == 1 + 1 + 4  # samples, re-answer, 2 candidates x 2 images
    assert out["usage"]["expert_calls"] == 2  # voter, critic


async def test_every_model_and_expert_request_carries_the_image(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    expert = ScriptedExpert(voter="2: 0.5\n3: 0.5")
    await run(model, expert, config(planner={"enabled": True}), images=[image])
    assert model.calls and expert.calls
    for call in model.calls:
        assert call.messages[0].images and call.messages[0].images[0].startswith("data:image/png;base64,")
    for messages in expert.calls:
        assert messages[0].images
    scored = [c for c in model.calls if c.kind == "score"]
    assert {c.messages[0].images[0] for c in scored} != {scored[0].messages[0].images[0]}  # clean and noised


async def test_the_base_model_is_the_default_expert(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], greedy=lambda ms: "2: 1.0")
    out = await run(model, images=[image])
    voter_calls = [c for c in model.calls if c.kind == "sample" and "Candidate answers" in c.messages[-1].text]
    assert len(voter_calls) == 1 and voter_calls[0].params is not None and voter_calls[0].params.temperature == 0
    assert out["usage"]["expert_calls"] == 2


async def test_a_model_expert_votes_by_the_likelihood_it_gives_each_candidate(image: str) -> None:
    def score(messages: list[Message], answer: str) -> float:
        return -0.10 if answer.endswith("{3}") else -0.30  # the expert finds "3" more likely

    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], score_fn=score)  # type: ignore[arg-type]
    stages = {"critic": {"enabled": False}, "self_check": {"enabled": False}}
    out = await run(model, cfg=config(vote={"voter_form": "score"}, **stages), images=[image])
    voter_calls = [c for c in model.calls if c.kind == "sample" and "Candidate answers" in c.messages[-1].text]
    assert voter_calls == [] and out["usage"]["expert_calls"] == 2  # one score per candidate, no text reply
    p3 = 1 / (1 + math.exp(-0.2 / 0.1))  # softmax of (-0.1, -0.3) / T, T = 0.1
    assert out["votes"]["3"] == pytest.approx(4 / 9 + 0.5 * p3) and out["answer"] == "3"


async def test_answer_voter_puts_probability_one_on_the_experts_own_answer(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    expert = ScriptedExpert(answer="blue circle, blue circle, blue circle. \\boxed{3}")
    stages = {"critic": {"enabled": False}, "self_check": {"enabled": False}}
    out = await run(model, expert, cfg=config(vote={"voter_form": "answer", "tau1": 0.5}, **stages), images=[image])
    assert len(expert.calls) == 1 and "Candidate answers" not in expert.calls[0][-1].text  # the plain question
    assert out["votes"] == pytest.approx({"2": 5 / 9, "3": 4 / 9 + 0.5}) and out["answer"] == "3"
    assert out["contributions"][1] == {"module": "voter", "votes": {"2": 0.0, "3": 0.5}}


async def test_answer_voter_abstains_when_its_answer_is_not_a_candidate(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    expert = ScriptedExpert(answer="\\boxed{7}")
    stages = {"critic": {"enabled": False}, "self_check": {"enabled": False}}
    out = await run(model, expert, cfg=config(vote={"voter_form": "answer"}, **stages), images=[image])
    assert out["answer"] == "2" and [c["module"] for c in out["contributions"]] == ["self_consistency"]
    assert any("'7' is not a candidate" in f for f in out["fallbacks"])
    assert out["usage"]["expert_calls"] == 1


async def test_ties_go_to_the_first_answer_in_the_self_consistency_ranking(image: str) -> None:
    model = ScriptedModel([("\\boxed{3}", 2.0), ("\\boxed{2}", 2.0)])
    out = await run(
        model,
        cfg=config(vote={"voter": False}, critic={"enabled": False}, self_check={"enabled": False}),
        images=[image],
    )
    assert out["votes"] == pytest.approx({"3": 0.5, "2": 0.5})
    assert out["answer"] == "3" and out["confidence"] == pytest.approx(0.5)


async def test_all_unparseable_gives_no_answer_and_skips_the_checks(image: str) -> None:
    model = ScriptedModel(["I do not know", "maybe", "\\boxed{"])
    expert = ScriptedExpert()
    out = await run(model, expert, images=[image])
    assert out["answer"] is None and out["confidence"] == 0.0 and out["votes"] == {}
    assert out["modules_run"] == ["self_consistency"]
    assert out["routes"][-1]["next"] == "finalize" and "no parseable answer" in out["routes"][-1]["reason"]
    assert all(s["answer"] is None for s in out["samples"]) and len(out["samples"]) == 8
    assert expert.calls == []


async def test_expert_garbage_falls_back_and_is_recorded(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], greedy="\\boxed{2}")
    expert = ScriptedExpert(voter="I refuse to give numbers", planner="first do something else")
    out = await run(model, expert, config(planner={"enabled": True}), images=[image])
    assert out["votes"] == pytest.approx({"2": 5 / 9 + 0.5 + 0.5, "3": 4 / 9})  # no voter votes
    assert any(f.startswith("voter: unparseable reply") for f in out["fallbacks"])
    assert any(f.startswith("planner: invalid plan") for f in out["fallbacks"])
    assert out["modules_run"][-2:] == ["critic", "self_check"]  # default order
    assert out["answer"] == "2"


async def test_a_failing_expert_degrades_instead_of_failing_the_run(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], greedy="\\boxed{2}")
    expert = ScriptedExpert(errors=[ModelError("expert down"), ModelError("expert down")])  # not transient
    out = await run(model, expert, images=[image])
    assert out["answer"] == "2"
    assert any(
        f.startswith("voter: expert call failed") and "last ModelError: expert down" in f for f in out["fallbacks"]
    )
    assert any("critic: expert call failed" in f for f in out["fallbacks"])


@pytest.mark.parametrize("bug", [TypeError("complete() got an unexpected keyword"), KeyError("choices")])
async def test_a_bug_in_a_custom_expert_surfaces_instead_of_becoming_a_fallback(image: str, bug: Exception) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], greedy="\\boxed{2}")
    with pytest.raises(type(bug)):
        await run(model, ScriptedExpert(errors=[bug]), images=[image])
    assert not is_service_fault(bug) and is_service_fault(ModelError("x")) and is_service_fault(ConnectionError())


async def test_the_planner_order_is_followed(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    out = await run(
        model,
        ScriptedExpert(voter="2: 1", planner="self-check, then critic"),
        config(planner={"enabled": True}),
        images=[image],
    )
    assert out["modules_run"] == ["planner", "self_consistency", "voter", "self_check", "critic"]


@pytest.mark.parametrize(
    ("min_share", "min_confidence", "skipped"),
    [
        (0.75, None, True),  # share exactly 0.75 clears a 0.75 gate (>=)
        (0.76, None, False),  # just above: not decisive
        (0.75, 6.0, True),  # the leader's confidence (6.0) clears 6.0 exactly
        (0.75, 6.01, False),  # ... but not 6.01
    ],
)
async def test_adaptive_gate_thresholds_at_the_boundary(
    image: str, min_share: float, min_confidence: float | None, skipped: bool
) -> None:
    model = ScriptedModel([("\\boxed{2}", 6.0)] * 3 + [("\\boxed{5}", 6.0)])  # share of "2" = 0.75 exactly
    gate = {"min_share": min_share, "min_confidence": min_confidence}
    cfg = config(vote={"voter": False}, routing={"policy": "adaptive", "critic": gate, "self_check": gate})
    out = await run(model, ScriptedExpert(), cfg, images=[image])
    ran = {"critic", "self_check"} & set(out["modules_run"])
    assert ran == (set() if skipped else {"critic", "self_check"})
    first = next(route for route in out["routes"] if route["after"] != "sample")
    assert ("skipped: decisive" in first["reason"]) == skipped
    assert first["skipped"] == (["critic", "self_check"] if skipped else [])


async def test_adaptive_skips_the_self_check_once_the_critic_made_the_vote_decisive(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 6.0)] * 3 + [("\\boxed{5}", 6.0)], greedy="\\boxed{2}")
    gate = {"min_share": 0.8}
    cfg = config(vote={"voter": False}, routing={"policy": "adaptive", "critic": gate, "self_check": gate})
    out = await run(model, ScriptedExpert(), cfg, images=[image])
    assert out["modules_run"] == ["self_consistency", "critic"]  # after the critic: (0.75 + 0.5) / 1.5 = 0.83
    assert out["routes"][-1]["skipped"] == ["self_check"]


@pytest.mark.parametrize(
    ("script", "draws", "reason"),
    [
        (["\\boxed{2}"] * 4, [4], "drew 4 of 8: decisive after 4 (share 1.000 >= 0.75)"),
        (["\\boxed{2}", "\\boxed{3}"], [4, 4], "drew 8 of 8: not decisive after 4 (share 0.500 < 0.75)"),
        (["no answer"], [4, 4], "drew 8 of 8: not decisive after 4"),
    ],
)
async def test_adaptive_sampling_stops_at_half_of_n_only_when_the_first_half_is_decisive(
    image: str, script: list[str], draws: list[int], reason: str
) -> None:
    model = ScriptedModel(script)
    out = await run(model, ScriptedExpert(), config(routing={"policy": "adaptive"}), images=[image])
    sampling = [call.params.n for call in model.calls if call.params and call.params.temperature > 0]
    assert sampling == draws and len(out["samples"]) == sum(draws)
    assert out["routes"][0]["after"] == "sample" and out["routes"][0]["reason"].startswith(reason)
    assert out["usage"]["completion_tokens"] >= sum(draws)  # only what was drawn is paid for


@pytest.mark.parametrize(
    ("script", "draws", "reason"),
    [
        (["\\boxed{2}"] * 4, [2, 2], "drew 4 of 16: decisive after 4 (P(leader stays) 0.969 >= 0.95)"),
        (["\\boxed{2}", "\\boxed{3}"], [2, 2, 4, 8], "drew 16 of 16: not decisive after 8 (P(leader stays) 0.500"),
        (["no answer"], [2, 2, 4, 8], "drew 16 of 16: not decisive after 8 (no parseable answer yet)"),
    ],
)
async def test_sequential_sampling_draws_doubling_rounds_until_the_leader_is_settled(
    image: str, script: list[str], draws: list[int], reason: str
) -> None:
    model = ScriptedModel(script)
    samples_only = {"first": 2, "threshold": 0.95, "expert_weight": 0.0}
    cfg = config(sampling={"n": 16}, routing={"policy": "sequential", "stop": samples_only})
    out = await run(model, ScriptedExpert(), cfg, images=[image])
    sampling = [call.params.n for call in model.calls if call.params and call.params.temperature > 0]
    assert sampling == draws and len(out["samples"]) == sum(draws)
    assert out["routes"][0]["after"] == "sample" and out["routes"][0]["reason"].startswith(reason)
    assert out["usage"]["model_calls"] >= len(draws)


async def test_sequential_skips_modules_by_the_adaptive_gates(image: str) -> None:
    model = ScriptedModel(["\\boxed{2}"])
    expert = ScriptedExpert(answer="\\boxed{2}")
    out = await run(model, expert, config(routing={"policy": "sequential"}), images=[image])
    assert out["modules_run"] == ["self_consistency"] and out["answer"] == "2"
    assert out["routes"][-1]["skipped"] == ["critic", "self_check"]


async def test_sequential_streams_its_sampling_decision(image: str) -> None:
    cfg = CATTSConfig.model_validate({"sampling": {"n": 16}, "routing": {"policy": "sequential"}})
    graph = create_catts_graph(ScriptedModel(["\\boxed{2}"]), expert=ScriptedExpert(answer="\\boxed{2}"), config=cfg)
    routes = [
        chunk
        async for chunk in graph.astream({"question": "q", "images": [image]}, stream_mode="custom")
        if chunk["event"] == "route"
    ]
    assert routes[0]["after"] == "sample" and routes[0]["leader"] == "2" and routes[0]["share"] == 1.0
    assert routes[0]["reason"] == "drew 1 of 16: decisive after 1 (P(leader stays) 0.875 >= 0.85)"


@pytest.mark.parametrize(
    ("own", "draws", "voter_calls"),
    [("\\boxed{2}", [1], 0), ("\\boxed{7}", [1, 1, 2], 0)],  # agrees: settled at once; differs: the samples decide
)
async def test_sequential_counts_the_experts_own_answer_and_the_voter_reuses_it(
    image: str, own: str, draws: list[int], voter_calls: int
) -> None:
    model = ScriptedModel(["\\boxed{2}"])
    expert = ScriptedExpert(answer=own)
    stop = {"first": 1, "threshold": 0.85, "expert_weight": 1.0}
    cfg = config(sampling={"n": 16}, vote={"voter_form": "answer"}, routing={"policy": "sequential", "stop": stop})
    out = await run(model, expert, cfg, images=[image])
    sampling = [call.params.n for call in model.calls if call.params and call.params.temperature > 0]
    assert sampling == draws and out["answer"] == "2"
    answer_calls = [c for c in expert.calls if expert.role_of(c) == "answer"]
    assert len(answer_calls) == 1  # asked once, beside the first round; never again by the Voter
    assert out["expert_answer"]["answer"] == own[-2] and out["usage"]["expert_calls"] >= 1
    modules = ["self_consistency"] if own == "\\boxed{2}" else ["self_consistency", "critic", "self_check"]
    assert out["modules_run"] == modules  # a dissenting expert keeps the vote from counting as decisive
    if len(modules) > 1:
        assert "the expert's own answer '7' differs" in out["routes"][1]["reason"]


async def test_a_failed_expert_leaves_the_stopping_rule_to_the_samples(image: str) -> None:
    expert = ScriptedExpert(errors=[ModelError("down")])
    stop = {"first": 2, "threshold": 0.95, "expert_weight": 1.0}
    cfg = config(sampling={"n": 16}, routing={"policy": "sequential", "stop": stop})
    out = await run(ScriptedModel(["\\boxed{2}"]), expert, cfg, images=[image])
    assert any(f.startswith("stop rule: expert call failed") for f in out["fallbacks"])
    assert out["expert_answer"] is None and out["answer"] == "2" and len(out["samples"]) == 4


async def test_the_paper_policy_draws_all_n_in_one_request(image: str) -> None:
    model = ScriptedModel(["\\boxed{2}"])
    out = await run(model, ScriptedExpert(), config(), images=[image])
    assert [c.params.n for c in model.calls if c.params and c.params.temperature > 0] == [8]
    assert all(route["after"] != "sample" for route in out["routes"])


async def test_weighting_changes_the_winner(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0), ("\\boxed{3}", 1.0)])
    stages = {"critic": {"enabled": False}, "self_check": {"enabled": False}}
    by_conf = await run(model, cfg=config(vote={"voter": False}, **stages), images=[image])
    by_count = await run(model, cfg=config(vote={"voter": False, "weighting": "majority"}, **stages), images=[image])
    assert (by_conf["answer"], by_count["answer"]) == ("2", "3")


async def test_self_check_prefers_the_answer_that_depends_on_the_image(image: str) -> None:
    def score(messages: list[Message], answer: str) -> float:
        clean = messages[0].images[0] == clean_url[0]
        return {("2", True): -1.0, ("2", False): -1.0, ("3", True): -1.2, ("3", False): -3.0}[(answer[-2], clean)]

    clean_url: list[str] = []
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 5.0)], score_fn=score)  # type: ignore[arg-type]
    from nodes.images import data_urls

    clean_url.append(data_urls([image])[0])
    out = await run(model, cfg=config(vote={"voter": False}, critic={"enabled": False}), images=[image])
    check = out["self_check"]
    assert check["picked"] == "3"  # 1.5 * -1.2 - 0.5 * -3.0 = -0.3 beats 1.5 * -1 - 0.5 * -1 = -1.0
    deps = {c["answer"]: c["visual_dependence"] for c in check["candidates"]}
    assert deps == pytest.approx({"2": 0.0, "3": 1.8})


async def test_transient_errors_are_retried_and_others_are_raised(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0)], errors=[TransientModelError("blip")])
    out = await run(model, cfg=config(critic={"enabled": False}, self_check={"enabled": False}), images=[image])
    assert out["answer"] == "2"
    broken = ScriptedModel([("\\boxed{2}", 5.0)], errors=[ModelError("bad request")])
    with pytest.raises(ModelError, match="bad request"):
        await run(broken, images=[image])


async def test_a_new_question_on_the_same_thread_starts_clean(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    graph = create_catts_graph(model, expert=ScriptedExpert(voter="2: 1"), checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "t1"}}
    first = await graph.ainvoke({"question": "q1", "images": [image]}, thread)
    second = await graph.ainvoke({"question": "q2", "images": [image]}, thread)
    assert second["modules_run"] == first["modules_run"]
    assert second["votes"] == pytest.approx(first["votes"])
    assert second["usage"] == first["usage"]
    state = await graph.aget_state(thread)
    assert state.values["question"] == "q2" and len(state.values["contributions"]) == 4


async def test_a_run_context_overrides_the_graph_defaults(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0)])
    graph = create_catts_graph(model)
    out = await graph.ainvoke(
        {"question": "q", "images": [image]},
        context=CATTSConfig.model_validate({"sampling": {"n": 3}, "critic": {"enabled": False}}),
    )
    assert len(out["samples"]) == 3
    assert "critic" not in out["modules_run"] and "critic disabled for this run" in out["routes"][0]["reason"]


async def test_stream_shows_stages_and_custom_events(image: str) -> None:
    graph = create_catts_graph(
        ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 1.0)]), expert=ScriptedExpert(voter="2: 1")
    )
    stages, events = [], []
    async for mode, chunk in graph.astream({"question": "q", "images": [image]}, stream_mode=["updates", "custom"]):
        (stages.extend(chunk) if mode == "updates" else events.append(chunk["event"]))
    assert stages[:3] == ["prepare", "sample", "vote"] and stages[-1] == "finalize"
    assert {"samples", "steps", "votes", "route", "final"} <= set(events)


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        ({"question": "  "}, InvalidInputError, "question is empty"),
        ({"question": "q", "images": "a.png"}, InvalidInputError, "list of file paths"),
        ({"question": "q", "images": ["missing.png"]}, InvalidImageError, "does not exist"),
        ({"question": "q", "choices": ["only one"]}, InvalidInputError, "between 2 and 26"),
        ({"question": "q", "choices": ["a", "A"]}, InvalidInputError, "the same"),
        ({"question": "q", "choices": ["a", ""]}, InvalidInputError, "empty"),
        ({"question": "q", "answer_type": "number"}, InvalidInputError, "answer_type must be"),
        ({"question": "q", "choices": ["a", "b"], "answer_type": "integer"}, InvalidInputError, "option letter"),
    ],
)
async def test_bad_input_raises_a_typed_error_before_any_model_call(
    inputs: dict[str, Any], error: type, match: str
) -> None:
    model = ScriptedModel()
    with pytest.raises(error, match=match):
        await create_catts_graph(model).ainvoke(inputs)
    assert model.calls == []


async def test_choices_are_answered_with_letters(image: str) -> None:
    model = ScriptedModel([("\\boxed{B}", 5.0), ("dog. \\boxed{dog}", 5.0), ("\\boxed{A}", 1.0)])
    out = await run(
        model,
        cfg=config(vote={"voter": False}, critic={"enabled": False}, self_check={"enabled": False}),
        images=[image],
        choices=["cat", "dog"],
    )
    assert out["answer"] == "B"
    assert "(A) cat" in model.calls[0].messages[0].text


class ContrastiveScripted(ScriptedModel):
    async def contrastive_generate(
        self, messages: Any, noised_images: Any, *, alpha: float, beta: float, max_tokens: int
    ) -> Any:
        from nodes.testing import scripted_sample

        self.calls.append(type(self.calls[0])("contrastive", list(messages)))
        assert noised_images and noised_images[0] != messages[0].images[0]  # the perturbed twin, not the clean image
        return scripted_sample("\\boxed{3}")


async def test_self_check_decode_form_votes_for_the_contrastive_answer(image: str) -> None:
    model = ContrastiveScripted([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    cfg = config(vote={"voter": False}, critic={"enabled": False}, self_check={"form": "decode"})
    out = await run(model, cfg=cfg, images=[image])
    assert out["self_check"]["form"] == "decode" and out["self_check"]["picked"] == "3"
    assert out["votes"]["3"] == pytest.approx(4 / 9 + 0.5)
    assert not any(c.kind == "score" for c in model.calls)


async def test_self_check_decode_form_falls_back_to_scoring_on_a_server_model(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    cfg = config(vote={"voter": False}, critic={"enabled": False}, self_check={"form": "decode"})
    out = await run(model, cfg=cfg, images=[image])
    assert out["self_check"]["form"] == "score"
    assert any("cannot decode contrastively" in f for f in out["fallbacks"])


FAST_RETRY = RetryPolicy(initial_interval=0.0, max_attempts=3, retry_on=TransientModelError)


async def test_a_transient_expert_fault_is_retried_before_it_falls_back(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], greedy="\\boxed{2}")
    expert = ScriptedExpert(voter="2: 1", errors=[ConnectionError("blip"), TimeoutError("slow")])
    graph = create_catts_graph(model, expert=expert, retry=FAST_RETRY)
    out = await graph.ainvoke({"question": "q", "images": [image]})
    assert not any(f.startswith(("voter", "critic")) for f in out["fallbacks"]) and "voter" in out["modules_run"]
    assert [ScriptedExpert().role_of(c) for c in expert.calls] == ["voter", "voter", "voter", "critic"]


@pytest.mark.parametrize(
    ("errors", "attempts"),
    [
        ([ConnectionError("down")] * 3, "3 attempts, last ConnectionError: down"),
        ([ModelError("400: bad request")], "1 attempt"),
    ],
    ids=["outlives-the-retries", "not-transient"],
)
async def test_an_expert_fault_that_survives_becomes_a_fallback(
    image: str, errors: list[Exception], attempts: str
) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], greedy="\\boxed{2}")
    expert = ScriptedExpert(voter="2: 1", errors=list(errors))
    graph = create_catts_graph(model, expert=expert, retry=FAST_RETRY)
    out = await graph.ainvoke({"question": "q", "images": [image]})
    [fallback] = [f for f in out["fallbacks"] if f.startswith("voter:")]
    assert "ExpertUnavailableError" in fallback and attempts in fallback
    assert len(expert.calls) == len(errors) + 1  # the voter's attempts, then the critic's one call


async def test_a_retried_critic_does_not_ask_the_expert_twice(image: str) -> None:
    failures = [TransientModelError("re-answer blip")]

    def reanswer(messages: Any) -> str:
        if failures:
            raise failures.pop()
        return "\\boxed{2}"

    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], greedy=reanswer)
    expert = ScriptedExpert(voter="2: 1")
    graph = create_catts_graph(model, expert=expert, retry=FAST_RETRY)
    out = await graph.ainvoke({"question": "q", "images": [image]})
    assert "critic" in out["modules_run"] and out["critique"]["answer"] == "2"
    assert [ScriptedExpert().role_of(c) for c in expert.calls] == ["voter", "critic"]
    assert out["usage"]["expert_calls"] == 2
