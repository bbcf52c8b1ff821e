"""Answer extraction and normalisation, table-driven; each case names what it covers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodes.answers import extract_answer, extract_boxed, normalize_answer, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("red circle. \\boxed{2}", "2"),  # plain
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
        ("\\boxed{{a}{b{c}}}", "{a}{b{c}}"),  # deeper nesting
        ("first \\boxed{1} then \\boxed{3}", "3"),  # the last box wins
        ("\\boxed {4}", "4"),  # space before the brace
        ("\\boxed{5", None),  # unclosed (cut-off generation)
        ("\\boxed{7} and \\boxed{8", None),  # last one cut off: the final answer is unknown
        ("no box here", None),  # none
        ("\\boxed{}", ""),  # empty box: extracted, rejected by normalisation
        ("", None),  # empty text
    ],
)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "answer_type", "choices", "expected"),
    [
        ("two red circles. \\boxed{2}", "integer", None, "2"),
        ("\\boxed{2.0}", "integer", None, "2"),  # float spelling of an integer
        ("\\boxed{2.5}", "integer", None, None),  # not an integer
        ("\\boxed{1,234}", "integer", None, "1234"),  # thousands separator
        ("\\boxed{\\$3.50}", "float", None, "3.5"),  # currency
        ("\\boxed{\\frac{1}{4}}", "float", None, "0.25"),  # LaTeX fraction
        ("\\boxed{-3/4}", "float", None, "-0.75"),  # slash fraction
        ("\\boxed{50\\%}", "float", None, "50"),  # percent
        ("\\boxed{two}", "integer", None, "2"),  # number word
        ("none. \\boxed{none}", "integer", None, "0"),  # "none" counts as zero
        ("\\boxed{1/0}", "float", None, None),  # division by zero
        ("\\boxed{red}", "text", None, "red"),
        ("\\boxed{\\text{Blue}}", "text", None, "blue"),  # LaTeX text wrapper, case
        ("\\boxed{The red.}", "text", None, "red"),  # article and punctuation
        ("\\boxed{B}", "choice", ["cat", "dog"], "B"),
        ("\\boxed{(b)}", "choice", ["cat", "dog"], "B"),  # parenthesised lower-case letter
        ("\\boxed{B. dog}", "choice", ["cat", "dog"], "B"),  # letter with its option text
        ("\\boxed{dog}", "choice", ["cat", "dog"], "B"),  # option text only
        ("\\boxed{E}", "choice", ["cat", "dog"], None),  # letter beyond the options
        ("\\boxed{horse}", "choice", ["cat", "dog"], None),  # not an option
        ("The answer is (c).", "choice", ["a", "b", "c"], "C"),  # answer phrase, no box
        ("Answer: 12", "integer", None, "12"),  # answer phrase with a colon
        ("I think it is big", "text", None, None),  # unparseable
        ("\\boxed{" + "x" * 300 + "}", "text", None, None),  # too long to be a short answer
        ("\\boxed{3}", None, None, "3"),  # type inferred: number
        ("\\boxed{Red }", None, None, "red"),  # type inferred: text
    ],
)
def test_extract_answer(text: str, answer_type: str | None, choices: list[str] | None, expected: str | None) -> None:
    assert extract_answer(text, answer_type=answer_type, choices=choices) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7.0),
        ("+7", 7.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("inf", None),
        ("nan", None),
        ("1/2/3", None),
        ("abc", None),
    ],
)
def test_parse_number(raw: str, expected: float | None) -> None:
    assert parse_number(raw) == expected


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_integers_round_trip(value: int) -> None:
    assert extract_answer(f"\\boxed{{{value}}}", answer_type="integer") == str(value)
    assert normalize_answer(f"{value}.0", "integer") == str(value)
