"""ShapesVQA training conversations for every role, written with the graph's own prompts (`nodes.prompts`).

- `answer`: the question -> rationale and boxed answer (base model and expert).
- `reanswer`: a first response, a critique, then the corrected answer (base model: learns to use a critique).
- `critic`: a proposed answer -> ``The answer is correct.`` or what is wrong with it (expert).
- `voter`: candidate answers -> what the expert sees, then ``answer: 1.00`` for the answer it sees (expert). Seeing
  first makes it commit: its vote follows its own reading of the image, as its answers do.
- `planner`: the question -> the module order (expert).
- `SELF_MIX`: every role above in one model, so that it can be its own expert (the expert's mix forgets the
  re-answer, which the graph asks of the base model).
- `grounded_answer`, `grounded_reanswer`: the same two base roles in the grounded format (`nodes.grounding`):
  caption, the evidence boxes in the model's input frame (or as location tokens, `grounded_mix(bins)`), answer
  (the grounded model).

Wrong proposals are drawn the way a weak model errs: a count off by one or two, or another colour.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from functools import partial

from catts_graph.shapes.bundled import BUNDLED_BOX_FRAME
from catts_graph.shapes.world import COLORS, ShapesItem, make_item
from nodes.grounding import Box, BoxFrame, as_box, format_boxes, grounded_response
from nodes.prompts import (
    critic_prompt,
    grounded_prompt,
    planner_prompt,
    question_prompt,
    reanswer_prompt,
    voter_prompt,
)
from nodes.protocol import Message
from trainers.sft import SFTExample

TRAIN_SEED_BASE = 10_000  # training streams draw world seeds from here up; evaluation uses small seeds
CORRECT = "The answer is correct."


def wrong_answer(item: ShapesItem, rng: random.Random) -> str:
    """A plausible wrong answer to `item`."""
    if item.answer_type == "text":
        return rng.choice([c for c in COLORS if c != item.answer])
    value = int(item.answer)
    options = [v for v in (value - 2, value - 1, value + 1, value + 2) if v >= 0]
    return str(rng.choice(options))


def wrong_target(item: ShapesItem, answer: str) -> str:
    """A response that argues for a wrong `answer` (the rationale is the true one: only the count is off)."""
    return f"{item.rationale} \\boxed{{{answer}}}"


def critique_of(item: ShapesItem, proposed: str) -> str:
    """The expert's critique: confirm a right answer; for a wrong one, say what the image shows."""
    if proposed == item.answer:
        return CORRECT
    if item.answer_type == "text":
        return f"The answer is wrong. The largest shape is the {item.rationale.rstrip('.')}."
    return f"The answer is wrong. I see: {item.rationale}"


def answer_example(item: ShapesItem, rng: random.Random) -> SFTExample:
    return SFTExample([item.render()], [Message.user(question_prompt(item.question))], item.target)


def reanswer_example(item: ShapesItem, rng: random.Random) -> SFTExample:
    proposed = item.answer if rng.random() < 0.4 else wrong_answer(item, rng)
    messages = [
        Message.user(question_prompt(item.question)),
        Message.assistant(wrong_target(item, proposed)),
        Message.user(reanswer_prompt(critique_of(item, proposed))),
    ]
    return SFTExample([item.render()], messages, item.target)


def framed_boxes(item: ShapesItem, boxes: list[tuple[int, int, int, int]], bins: int | None) -> list[Box]:
    """`boxes` (the item's pixels) in the frame a grounded response writes them in: the bundled models' input
    frame, or with `bins` the `bins` x `bins` grid of location tokens (`BoxFrame.location_bins`)."""
    frame = BUNDLED_BOX_FRAME if bins is None else BoxFrame.location_bins(bins)
    return frame.from_image([as_box(b) for b in boxes], item.size, item.size)


def grounded_target(item: ShapesItem, answer: str | None = None, *, bins: int | None = None) -> str:
    """The grounded reference response, arguing for `answer` if given; with `bins` its boxes are location tokens."""
    boxes = framed_boxes(item, item.evidence_boxes, bins)
    answer = item.answer if answer is None else answer
    return grounded_response(item.caption, boxes, answer, location_tokens=bins is not None)


def grounded_answer_example(item: ShapesItem, rng: random.Random, bins: int | None = None) -> SFTExample:
    target = grounded_target(item, bins=bins)
    return SFTExample([item.render()], [Message.user(grounded_prompt(item.question))], target)


def grounded_reanswer_example(item: ShapesItem, rng: random.Random, bins: int | None = None) -> SFTExample:
    proposed = item.answer if rng.random() < 0.4 else wrong_answer(item, rng)
    messages = [
        Message.user(grounded_prompt(item.question)),
        Message.assistant(grounded_target(item, proposed, bins=bins)),
        Message.user(reanswer_prompt(critique_of(item, proposed), grounded=True)),
    ]
    return SFTExample([item.render()], messages, grounded_target(item, bins=bins))


def where_example(item: ShapesItem, rng: random.Random, bins: int | None = None) -> SFTExample:
    """Box-only pretraining: "where is the <colour> <shape>?" -> the box list of every such shape (of a shape the
    image lacks: the empty list), in the grounded format's box tag; dense in boxes, no answer to lean on."""
    kinds = sorted({o.describe() for o in item.objects}) or ["red circle"]
    kind = rng.choice(kinds)
    found = sorted((o for o in item.objects if o.describe() == kind), key=lambda o: (o.cx, o.cy))
    boxes = framed_boxes(item, [o.box for o in found], bins)
    target = f"<bbox>{format_boxes(boxes, location_tokens=bins is not None)}</bbox>"
    return SFTExample([item.render()], [Message.user(f"Where is the {kind}? Answer with its boxes.")], target)


def critic_example(item: ShapesItem, rng: random.Random) -> SFTExample:
    proposed = item.answer if rng.random() < 0.5 else wrong_answer(item, rng)
    prompt = critic_prompt(item.question, proposed, wrong_target(item, proposed))
    return SFTExample([item.render()], [Message.user(prompt)], critique_of(item, proposed))


def voter_example(item: ShapesItem, rng: random.Random) -> SFTExample:
    """What the expert sees, then probability 1 on the answer it sees: it commits, as it does when answering.

    A candidate it does not see gets no line (probability 0); when it sees none of the candidates its one line names
    an answer that was not offered and the graph records the Voter as abstaining.
    """
    candidates = {wrong_answer(item, rng) for _ in range(rng.randint(1, 3))}
    if rng.random() < 0.8:
        candidates.add(item.answer)
    ordered = sorted(candidates, key=lambda _: rng.random())
    reply = f"I see: {item.rationale}\n{item.answer}: 1.00"
    return SFTExample([item.render()], [Message.user(voter_prompt(item.question, ordered))], reply)


def planner_example(item: ShapesItem, rng: random.Random) -> SFTExample:
    return SFTExample([item.render()], [Message.user(planner_prompt(item.question))], "critic, self_check")


Role = Callable[[ShapesItem, random.Random], SFTExample]
BASE_MIX: dict[str, tuple[Role, float]] = {"answer": (answer_example, 0.85), "reanswer": (reanswer_example, 0.15)}


def grounded_mix(bins: int | None = None, *, where: float = 0.0) -> dict[str, tuple[Role, float]]:
    """The grounded roles, boxes written in the bundled frame or, with `bins`, as location tokens; `where` is the
    share of box-only "where is the X?" examples (`where_example`)."""
    mix: dict[str, tuple[Role, float]] = {
        "grounded_answer": (partial(grounded_answer_example, bins=bins), 0.85 * (1 - where)),
        "grounded_reanswer": (partial(grounded_reanswer_example, bins=bins), 0.15 * (1 - where)),
    }
    return mix | ({"where": (partial(where_example, bins=bins), where)} if where else {})


GROUNDED_MIX = grounded_mix()
EXPERT_MIX: dict[str, tuple[Role, float]] = {
    "answer": (answer_example, 0.5),
    "critic": (critic_example, 0.25),
    "voter": (voter_example, 0.2),
    "planner": (planner_example, 0.05),
}
SELF_MIX: dict[str, tuple[Role, float]] = {  # one model that is its own expert: every role, the base's included
    "answer": (answer_example, 0.45),
    "reanswer": (reanswer_example, 0.1),
    "critic": (critic_example, 0.2),
    "voter": (voter_example, 0.2),
    "planner": (planner_example, 0.05),
}


def role_stream(
    mix: dict[str, tuple[Role, float]], *, block: int = 1, size: int = 112
) -> Callable[[random.Random], Iterator[SFTExample]]:
    """An `SFTExample` stream over fresh training items, mixing roles with the given weights.

    The role is drawn once per `block` examples: with `block` equal to the batch size every batch holds one role,
    so short answer batches are not padded to the length of long role prompts.
    """
    roles = [role for role, _ in mix.values()]
    weights = [weight for _, weight in mix.values()]

    def stream(rng: random.Random) -> Iterator[SFTExample]:
        seed = TRAIN_SEED_BASE + rng.randrange(1_000_000)
        index = 0
        while True:
            role = rng.choices(roles, weights)[0]
            for _ in range(block):
                item = make_item(seed, index, size)
                index += 1
                yield role(item, rng)

    return stream
