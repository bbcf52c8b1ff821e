"""Grounding reward components (SATORI-R1, docs/method.md section 8), as small pure functions over rollout texts.

- `format_rewards`: 1 when the response is exactly ``<caption>..</caption> <bbox>[[..], ..]</bbox> <answer>..
  </answer>``, in order, with a box list that reads without problems (`nodes.grounding.parse_grounded`); else 0.
  Ours: an empty box list ``[]`` is well formed (a count of zero has no evidence); SATORI's regex needs ``[[``.
- `caption_rewards`: (smoothed sentence BLEU-4 + ROUGE-L F1) / 2 of the caption against the reference, lower-cased
  (nltk's BLEU with smoothing method 1 on word-punct tokens, Google's `rouge_score` with its stemmer, as SATORI
  scores it); 0 without a caption.
- `box_rewards`: IoU of the union of the predicted boxes, mapped from the model's input frame to the original image
  (`BoxFrame.to_image`, clipped), with the union of the true boxes. Ours: only items with true boxes are scored; an
  item without any scores 0 whatever is written (there is nothing to ground: scoring an empty list 1 there made it
  beat every attempt of a model that cannot localise yet; the answer reward still scores such items).
- `answer_rewards`: the project's normalised matcher (`trainers.cdrl.rewards.accuracy_rewards`), not SATORI's
  exact string match.

`grounding_reward_funcs` wraps them as the callables TRL calls with the batch's columns (``caption``, ``boxes``,
``width``, ``height``, ``answer``, ...).

Example:
    >>> box_rewards(["<bbox>[[0,0,10,10]]</bbox>"], [[(0.0, 0.0, 10.0, 20.0)]], [100], [100], BoxFrame("original"))
    [0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nltk.tokenize import wordpunct_tokenize
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_score.rouge_scorer import RougeScorer

from nodes.grounding import Box, BoxFrame, as_box, parse_grounded, union_iou
from trainers.cdrl.rewards import accuracy_reward, completion_texts

_ROUGE = RougeScorer(["rougeL"], use_stemmer=True)
_SMOOTH = SmoothingFunction().method1


def format_rewards(completions: Sequence[str]) -> list[float]:
    """1.0 for a complete, ordered grounded response whose box list reads without problems; else 0.0."""
    out = []
    for text in completions:
        parsed = parse_grounded(text)
        closes = text.rstrip().endswith("</answer>") and text.lstrip().startswith("<caption>")
        out.append(1.0 if parsed.well_formed and closes and parsed.boxes is not None else 0.0)
    return out


def caption_score(caption: str, reference: str) -> float:
    """(smoothed BLEU-4 + ROUGE-L F1) / 2 of `caption` against `reference`, both lower-cased."""
    candidate, truth = caption.lower(), reference.lower()
    bleu = sentence_bleu([wordpunct_tokenize(truth)], wordpunct_tokenize(candidate), smoothing_function=_SMOOTH)
    rouge = _ROUGE.score(truth, candidate)["rougeL"].fmeasure
    return (float(bleu) + float(rouge)) / 2.0


def caption_rewards(completions: Sequence[str], references: Sequence[str | None]) -> list[float]:
    """`caption_score` of each response's caption (0.0 without one, or without a reference caption)."""
    out = []
    for text, reference in zip(completions, references, strict=True):
        caption = parse_grounded(text).caption
        out.append(caption_score(caption, reference) if caption and reference else 0.0)
    return out


def box_rewards(
    completions: Sequence[str],
    truths: Sequence[Sequence[Box] | None],
    widths: Sequence[int],
    heights: Sequence[int],
    frame: BoxFrame,
) -> list[float]:
    """`union_iou` of each response's boxes (mapped from `frame` to the image) with its true boxes; 0.0 when the
    response names no box list, or the item has no true boxes (nothing to ground: no signal)."""
    out = []
    for text, truth, width, height in zip(completions, truths, widths, heights, strict=True):
        boxes = parse_grounded(text).boxes
        if boxes is None or not truth:
            out.append(0.0)
            continue
        out.append(union_iou(frame.to_image(boxes, width, height), [as_box(b) for b in truth], width, height))
    return out


def caption_reward(completions: list[Any], caption: list[str | None], **_: Any) -> list[float]:
    return caption_rewards(completion_texts(completions), caption)


def grounded_format_reward(completions: list[Any], **_: Any) -> list[float]:
    return format_rewards(completion_texts(completions))


@dataclass(frozen=True)
class BoxReward:
    """`box_rewards` with the model's box frame (it must match the processor's resize, or every IoU is wrong)."""

    frame: BoxFrame

    def __call__(
        self, completions: list[Any], boxes: list[Any], width: list[int], height: list[int], **_: Any
    ) -> list[float]:
        return box_rewards(completion_texts(completions), boxes, width, height, self.frame)


def grounding_reward_funcs(frame: BoxFrame) -> list[Any]:
    """Format, caption, boxes and answer, in the order TRL logs them."""
    return [grounded_format_reward, caption_reward, BoxReward(frame), accuracy_reward]
