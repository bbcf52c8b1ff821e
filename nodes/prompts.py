"""Every prompt the graph sends, in one place. Trainers build their role data from these same functions, so the
wording a model is trained on is the wording it sees at run time.

Roles (docs/method.md section 4): the base model answers and re-answers; the expert plans, votes and critiques.
"""

from __future__ import annotations

from collections.abc import Sequence

ANSWER_INSTRUCTION = "Give a short rationale, then the final answer in \\boxed{}."
CHOICE_INSTRUCTION = "Give a short rationale, then the letter of the correct option in \\boxed{}."
GROUNDED_INSTRUCTION = (
    "First describe the scene inside <caption> </caption>. Then list the boxes of the regions that answer the "
    "question as [[x1,y1,x2,y2], ...] inside <bbox> </bbox>. Finally give the answer inside <answer> </answer>."
)
GROUNDED_CHOICE_INSTRUCTION = f"{GROUNDED_INSTRUCTION} The answer is the letter of the correct option."


def option_letter(index: int) -> str:
    return chr(ord("A") + index)


def format_choices(choices: Sequence[str]) -> str:
    """``(A) cat`` lines, one option per line."""
    return "\n".join(f"({option_letter(i)}) {text}" for i, text in enumerate(choices))


def question_prompt(question: str, choices: Sequence[str] | None = None) -> str:
    """What the base model sees with the image(s): the question, the options if any, and the answer format."""
    if choices:
        return f"{question}\nOptions:\n{format_choices(choices)}\n{CHOICE_INSTRUCTION}"
    return f"{question}\n{ANSWER_INSTRUCTION}"


def grounded_prompt(question: str, choices: Sequence[str] | None = None) -> str:
    """What a grounded model sees with the image (SATORI-R1's format, `nodes.grounding`): the question, the options
    if any, then: caption, evidence boxes, answer."""
    if choices:
        return f"{question}\nOptions:\n{format_choices(choices)}\n{GROUNDED_CHOICE_INSTRUCTION}"
    return f"{question}\n{GROUNDED_INSTRUCTION}"


def voter_prompt(question: str, candidates: Sequence[str], choices: Sequence[str] | None = None) -> str:
    """The expert as Voter: a probability for each candidate answer, one ``candidate: probability`` per line."""
    listed = "\n".join(f"- {c}" for c in candidates)
    options = f"\nOptions:\n{format_choices(choices)}" if choices else ""
    return (
        f"Question: {question}{options}\n"
        f"Candidate answers:\n{listed}\n"
        "Look at the image and say in one line what you see that decides the question. Then, for each candidate, "
        "give the probability that it is correct: one line per candidate in the form `candidate: probability`, "
        "probabilities summing to 1."
    )


def critic_prompt(
    question: str,
    answer: str,
    rationale: str,
    choices: Sequence[str] | None = None,
    *,
    weakest_step: str | None = None,
) -> str:
    """The expert as Critic: check the leading answer against the image and say what is wrong, or confirm it; with
    `weakest_step`, the response's least confident step is named and checked first."""
    options = f"\nOptions:\n{format_choices(choices)}" if choices else ""
    weakest = f'Least certain step: "{weakest_step}". Check this step first.\n' if weakest_step else ""
    return (
        f"Question: {question}{options}\n"
        f"Proposed response: {rationale}\n"
        f"Proposed answer: {answer}\n"
        f"{weakest}"
        "Look at the image and check the proposed answer. If it is wrong, say what is wrong in one or two "
        "sentences. If it is right, say `The answer is correct.`"
    )


def reanswer_prompt(critique: str, *, has_choices: bool = False, grounded: bool = False) -> str:
    """The base model's follow-up turn after its first response: the critique, then a request to answer again (in
    the grounded format when the model grounds)."""
    if grounded:
        instruction = GROUNDED_CHOICE_INSTRUCTION if has_choices else GROUNDED_INSTRUCTION
    else:
        instruction = CHOICE_INSTRUCTION if has_choices else ANSWER_INSTRUCTION
    return f"A reviewer says: {critique}\nLook at the image again and answer the question. {instruction}"


def planner_prompt(question: str) -> str:
    """The expert as Planner: the order in which to run the verification modules."""
    return (
        f"Question: {question}\n"
        "Several answers were sampled. Two checks can follow: `critic` (an expert critiques the leading answer) "
        "and `self_check` (answers are compared under the clean and a noised image). "
        "Reply with the checks to run, in order, separated by commas, e.g. `critic, self_check`."
    )
