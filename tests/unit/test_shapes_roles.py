"""Role data is written with the graph's own prompts and parses with the graph's own parsers."""

from __future__ import annotations

import random

from catts_graph.shapes.world import make_item
from nodes.answers import extract_answer, normalize_answer
from nodes.parsing import parse_plan, parse_voter_reply
from nodes.prompts import critic_prompt, question_prompt
from trainers.shapes.roles import (
    CORRECT,
    EXPERT_MIX,
    SELF_MIX,
    answer_example,
    critic_example,
    planner_example,
    reanswer_example,
    role_stream,
    voter_example,
    wrong_answer,
)

ITEMS = [make_item(5, i) for i in range(200)]


def test_answer_and_reanswer_targets_parse_to_the_gold_answer() -> None:
    rng = random.Random(0)
    for item in ITEMS:
        for example in (answer_example(item, rng), reanswer_example(item, rng)):
            assert example.messages[0].text == question_prompt(item.question)
            assert extract_answer(example.answer, answer_type=item.answer_type) == item.answer  # type: ignore[arg-type]


def test_wrong_answers_are_wrong_and_plausible() -> None:
    rng = random.Random(1)
    for item in ITEMS:
        wrong = wrong_answer(item, rng)
        assert wrong != item.answer
        assert normalize_answer(wrong, item.answer_type) == wrong  # type: ignore[arg-type]


def test_voter_replies_see_first_then_commit_to_the_gold_answer() -> None:
    rng = random.Random(2)
    offered = absent = 0
    for item in ITEMS:
        example = voter_example(item, rng)
        candidates = [line[2:] for line in example.messages[0].text.splitlines() if line.startswith("- ")]
        assert example.answer.startswith(f"I see: {item.rationale}\n")
        probs = parse_voter_reply(example.answer, candidates)
        if item.answer in candidates:
            offered += 1
            assert probs == {c: float(c == item.answer) for c in candidates}
        else:
            absent += 1
            assert probs is None  # the graph records an abstaining Voter
    assert offered and absent


def test_critic_and_planner_replies() -> None:
    rng = random.Random(3)
    verdicts = set()
    for item in ITEMS:
        example = critic_example(item, rng)
        assert example.messages[0].text.startswith(critic_prompt(item.question, "", "").split("\n")[0])
        verdicts.add(example.answer == CORRECT)
        assert parse_plan(planner_example(item, rng).answer, ("critic", "self_check")) == ["critic", "self_check"]
    assert verdicts == {True, False}


def role_of(example: object) -> tuple[int, bool, bool]:
    first = example.messages[0].text  # type: ignore[attr-defined]
    return (len(example.messages), "Candidate answers" in first, "Proposed answer" in first)  # type: ignore[attr-defined]


def test_role_stream_keeps_one_role_per_block() -> None:
    stream = role_stream(EXPERT_MIX, block=4)(random.Random(0))
    examples = [next(stream) for _ in range(80)]
    for start in range(0, 80, 4):
        assert len({role_of(e) for e in examples[start : start + 4]}) == 1
    assert len({role_of(e) for e in examples}) >= 3  # several roles over the stream


def test_a_model_that_is_its_own_expert_learns_every_role_the_graph_asks_of_it() -> None:
    stream = role_stream(SELF_MIX, block=1)(random.Random(0))
    roles = {role_of(next(stream)) for _ in range(300)}
    reanswer, voter, critic, one_turn = (3, False, False), (1, True, False), (1, False, True), (1, False, False)
    assert roles == {reanswer, voter, critic, one_turn}  # one turn: the answer and the planner
    assert set(SELF_MIX) == set(EXPERT_MIX) | {"reanswer"}  # the expert's mix forgets the re-answer
