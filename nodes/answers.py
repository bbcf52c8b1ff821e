"""Answer extraction and normalisation: model text -> a canonical answer string that votes can count.

The final answer is read from the last ``\\boxed{...}`` (nested braces allowed); without one, from an explicit
"answer is X" / "Answer: X" phrase. Normalisation makes equal answers equal strings:

- ``integer`` / ``float``: numbers with commas, ``$``, ``\\frac{a}{b}``, ``a/b``, percent signs and small number
  words are read and printed canonically (``"2.0"`` -> ``"2"``, ``"1/2"`` -> ``"0.5"``);
- ``choice``: an option letter (``"(b)"`` -> ``"B"``), or the text of one of the `choices` mapped to its letter;
- ``text``: lower-cased, LaTeX ``\\text{}`` unwrapped, surrounding punctuation, articles and spaces removed.

Unparseable text gives ``None``: it is data (kept, counted, not voted), never an exception.

Example:
    >>> extract_answer("two red circles. \\\\boxed{\\\\frac{4}{2}}", answer_type="integer")
    '2'
    >>> extract_answer("The answer is (c).", answer_type="choice", choices=["cat", "dog", "owl"])
    'C'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal, get_args

AnswerType = Literal["integer", "float", "text", "choice"]
ANSWER_TYPES: tuple[AnswerType, ...] = get_args(AnswerType)

MAX_ANSWER_CHARS = 200  # longer "answers" are not short answers: treated as unparseable

_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {word: value for value, word in enumerate(_SMALL_NUMBERS.split())}
_NUMBER_WORDS["none"] = 0
_NUMBER_WORDS["no"] = 0
_ANSWER_PHRASE = re.compile(r"(?:final answer|answer)\s*(?:is|:)\s*[:\s]*(.+?)\s*(?:\.\s|\.?$|\n)", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_LATEX_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"^\\d?frac\s*\{\s*(-?[\d.]+)\s*\}\s*\{\s*(-?[\d.]+)\s*\}$")
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$", re.IGNORECASE)
_LETTER = re.compile(r"^\(?\s*([A-Za-z])\s*\)?[.:)]?$")
_LETTER_PREFIX = re.compile(r"^\(?([A-Za-z])[.):]\s+\S")


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` in `text`, braces balanced; None if there is none or it is unclosed."""
    start = text.rfind("\\boxed")
    while start != -1:
        i = start + len("\\boxed")
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1 : j].strip()
            return None  # unclosed: the generation was cut off
        start = text.rfind("\\boxed", 0, start)
    return None


def extract_raw_answer(text: str) -> str | None:
    """The answer span of a response: the last closed ``<answer>`` tag of a grounded response (its ``\\boxed{}``
    if it holds one), else the last ``\\boxed{}``, else an "answer is X" phrase, else None."""
    tagged = _ANSWER_TAG.findall(text)
    if tagged:
        return extract_boxed(tagged[-1]) or tagged[-1].strip()
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    matches = _ANSWER_PHRASE.findall(text)
    return matches[-1].strip() if matches else None


def _strip_latex(s: str) -> str:
    s = _LATEX_WRAPPERS.sub(r"\1", s)
    s = s.replace("\\%", "%").replace("\\$", "$").replace("\\!", "").replace("\\,", "").replace("~", " ")
    return s.strip().strip("$").strip()


def parse_number(raw: str) -> float | None:
    """Read a number from a short answer: ``"1,234"``, ``"$3.50"``, ``"\\frac{1}{2}"``, ``"-3/4"``, ``"two"``."""
    s = _strip_latex(raw).lower().strip().rstrip(".")
    s = s.replace(",", "").replace("$", "").replace(" ", "").rstrip("%")
    if s in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[s])
    frac = _FRAC.match(s)
    if frac:
        num, den = float(frac.group(1)), float(frac.group(2))
        return num / den if den else None
    if s.count("/") == 1:
        num_s, den_s = s.split("/")
        if _NUMBER.match(num_s) and _NUMBER.match(den_s) and float(den_s) != 0:
            return float(Fraction(num_s) / Fraction(den_s))
        return None
    if _NUMBER.match(s):
        value = float(s)
        return value if math.isfinite(value) else None
    return None


def format_number(value: float, answer_type: AnswerType = "float") -> str | None:
    """Canonical text of a number: integers without a decimal point, floats with up to 6 significant decimals."""
    if answer_type == "integer":
        rounded = round(value)
        return str(rounded) if abs(value - rounded) < 1e-9 else None
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.6g}"


def normalize_text(raw: str) -> str | None:
    """Lower-case short text with LaTeX wrappers, outer punctuation, articles and extra spaces removed."""
    s = _strip_latex(raw).lower()
    s = re.sub(r"\s+", " ", s).strip(" .,:;!?\"'`*")
    s = re.sub(r"^(?:the|a|an) ", "", s)
    return s or None


def normalize_choice(raw: str, choices: Sequence[str] | None = None) -> str | None:
    """An option letter ``A``..``Z``: from ``"b"``, ``"(B)"``, ``"B. dog"`` or, given `choices`, an option's text."""
    s = _strip_latex(raw).strip()
    letter = _LETTER.match(s) or _LETTER_PREFIX.match(s)
    n_choices = len(choices) if choices else 26
    if letter:
        index = ord(letter.group(1).upper()) - ord("A")
        return chr(ord("A") + index) if index < n_choices else None
    if choices:
        wanted = normalize_text(s)
        for i, option in enumerate(choices):
            if wanted is not None and normalize_text(option) == wanted:
                return chr(ord("A") + i)
    return None


def normalize_answer(
    raw: str | None, answer_type: AnswerType | None = None, choices: Sequence[str] | None = None
) -> str | None:
    """Canonical form of an extracted answer span, or None when it cannot be read as `answer_type`.

    With no `answer_type`, it is inferred: ``choice`` when `choices` are given, a number when the text reads as
    one, text otherwise.
    """
    if raw is None:
        return None
    raw = raw.strip()
    if not raw or len(raw) > MAX_ANSWER_CHARS:
        return None
    if answer_type is None:
        answer_type = "choice" if choices else ("float" if parse_number(raw) is not None else "text")
    if answer_type == "choice":
        return normalize_choice(raw, choices)
    if answer_type in ("integer", "float"):
        value = parse_number(raw)
        return None if value is None else format_number(value, answer_type)
    return normalize_text(raw)


def extract_answer(
    text: str, *, answer_type: AnswerType | None = None, choices: Sequence[str] | None = None
) -> str | None:
    """The normalised final answer of a model response, or None when it has none that parses."""
    return normalize_answer(extract_raw_answer(text), answer_type, choices)
