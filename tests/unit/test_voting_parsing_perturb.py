"""Pure maths of the nodes: vote tables, expert-reply parsing, DDPM noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from nodes.errors import InvalidInputError
from nodes.parsing import parse_plan, parse_voter_reply
from nodes.perturb import box_mask, ddpm_alpha_bars, perturb
from nodes.voting import add_tables, leader, self_consistency_votes, shares


@pytest.mark.parametrize(
    ("answers", "weights", "expected"),
    [
        (["2", "3", "2"], [1.0, 1.0, 1.0], {"2": 2 / 3, "3": 1 / 3}),  # plain majority
        (["2", "3", "2"], [1.0, 4.0, 1.0], {"3": 4 / 6, "2": 2 / 6}),  # confidence outweighs count
        (["2", None, "3"], [1.0, 100.0, 1.0], {"2": 0.5, "3": 0.5}),  # unparseable does not vote; tie keeps order
        (["2", "3"], [math.nan, 1.0], {"3": 1.0, "2": 0.0}),  # NaN weight counts as zero
        (["2", "3"], [math.nan, math.nan], {"2": 0.5, "3": 0.5}),  # all undefined: fall back to counts
        (["2", "3"], [-1.0, 1.0], {"3": 1.0, "2": 0.0}),  # negative weight counts as zero
        ([None, None], [1.0, 1.0], {}),  # nothing parseable
        ([], [], {}),  # nothing at all
    ],
)
def test_self_consistency_votes(answers: list[str | None], weights: list[float], expected: dict[str, float]) -> None:
    got = self_consistency_votes(answers, weights)
    assert got == pytest.approx(expected)
    assert list(got) == list(expected)  # order: weight desc, ties by first appearance


def test_votes_need_one_weight_per_answer() -> None:
    with pytest.raises(ValueError, match="2 answers but 1 weights"):
        self_consistency_votes(["1", "2"], [1.0])


def test_leader_and_shares() -> None:
    assert leader({}) == (None, 0.0)
    assert leader({"a": 1.0, "b": 1.0}) == ("a", 0.5)  # tie: first entered
    assert leader(add_tables({"a": 0.6, "b": 0.4}, {"b": 0.5})) == ("b", pytest.approx(0.9 / 1.5))
    assert shares({"a": 3.0, "b": 1.0}) == {"a": 0.75, "b": 0.25}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("2: 0.7\n3: 0.3", {"2": 0.7, "3": 0.3}),
        ('{"2": 0.6, "3": 0.2}', {"2": 0.75, "3": 0.25}),  # JSON, renormalised
        ("- 2: 70%\n- 3: 30%", {"2": 0.7, "3": 0.3}),  # bullets and percentages
        ("two = 1", {"2": 1.0, "3": 0.0}),  # expert spelling normalised; absent candidate gets 0
        ("2: 0.5\n7: 0.5", {"2": 1.0, "3": 0.0}),  # unknown candidate ignored
        ("no idea", None),  # garbage
        ("2: 0\n3: 0", None),  # all zero
        ("{not json", None),
        ("", None),
    ],
)
def test_parse_voter_reply(reply: str, expected: dict[str, float] | None) -> None:
    from nodes.answers import normalize_answer

    got = parse_voter_reply(reply, ["2", "3"], lambda s: normalize_answer(s, "integer"))
    assert got == (pytest.approx(expected) if expected else None)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("critic, self_check", ["critic", "self_check"]),
        ("First the self-check, then the critic.", ["self_check", "critic"]),
        ("critic", None),  # incomplete
        ("critic, critic, self_check", None),  # duplicate
        ("planner please", None),
    ],
)
def test_parse_plan(reply: str, expected: list[str] | None) -> None:
    assert parse_plan(reply, ("critic", "self_check")) == expected


def test_ddpm_schedule_and_determinism() -> None:
    abar = ddpm_alpha_bars()
    assert abar.shape == (1000,) and np.all(np.diff(abar) < 0) and 0 < abar[-1] < abar[0] < 1
    img = Image.new("RGB", (16, 12), (200, 50, 50))
    a, b, c = (perturb(img, "ddpm", 0.5, seed=seed) for seed in (1, 1, 2))
    assert a.tobytes() == b.tobytes() != c.tobytes()
    weak, strong = (np.asarray(perturb(img, "ddpm", level, seed=0), dtype=float) for level in (0.01, 0.99))
    base = np.asarray(img, dtype=float)
    assert np.abs(weak - base).mean() < np.abs(strong - base).mean()


def test_box_noise_leaves_pixels_outside_untouched() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 40, 3), dtype=np.uint8))
    out = np.asarray(perturb(img, "ddpm", 0.9, seed=0, mask=box_mask(40, 20, [(0.5, 0.0, 1.0, 0.5)])))
    base = np.asarray(img)
    assert np.array_equal(out[:, :20], base[:, :20]) and np.array_equal(out[10:], base[10:])
    assert not np.array_equal(out[:10, 20:], base[:10, 20:])


@pytest.mark.parametrize(
    ("level", "box"), [(1.1, None), (-0.1, None), (0.1, (0.5, 0.5, 0.4, 1.0)), (0.1, (0, 0, 1.5, 1))]
)
def test_noise_arguments_are_checked(level: float, box: tuple[float, float, float, float] | None) -> None:
    with pytest.raises(InvalidInputError):
        perturb(Image.new("RGB", (4, 4)), "ddpm", level, mask=None if box is None else box_mask(4, 4, [box]))


IMAGE = Image.fromarray(np.random.default_rng(3).integers(0, 255, (24, 32, 3), dtype=np.uint8))


@pytest.mark.parametrize("kind", ["ddpm", "gaussian", "occlusion", "mosaic", "blur", "viewpoint"])
def test_every_kind_is_deterministic_and_respects_the_mask(kind: str) -> None:
    from nodes.perturb import box_mask, perturb

    mask = box_mask(32, 24, [(0.25, 0.25, 0.75, 0.75)])
    a = perturb(IMAGE, kind, 0.8, mask=mask, seed=5)  # type: ignore[arg-type]
    b = perturb(IMAGE, kind, 0.8, mask=mask, seed=5)  # type: ignore[arg-type]
    assert a.tobytes() == b.tobytes()
    out, base = np.asarray(a), np.asarray(IMAGE)
    assert np.array_equal(out[~mask], base[~mask])  # untouched outside
    assert not np.array_equal(out[mask], base[mask])  # changed inside
    assert perturb(IMAGE, kind, 0.0).tobytes() == IMAGE.tobytes()  # type: ignore[arg-type]
    nothing = np.zeros((24, 32), dtype=bool)
    assert perturb(IMAGE, kind, 1.0, mask=nothing).tobytes() == IMAGE.tobytes()  # type: ignore[arg-type]
    everything = np.ones((24, 32), dtype=bool)
    full = perturb(IMAGE, kind, 0.8, mask=everything, seed=5)  # type: ignore[arg-type]
    assert full.tobytes() == perturb(IMAGE, kind, 0.8, seed=5).tobytes()  # type: ignore[arg-type]


def test_stronger_levels_move_pixels_further() -> None:
    from nodes.perturb import perturb

    base = np.asarray(IMAGE, dtype=float)
    for kind in ("ddpm", "gaussian", "occlusion", "mosaic", "blur"):
        weak, strong = (
            np.abs(np.asarray(perturb(IMAGE, kind, lv, seed=0), dtype=float) - base).mean() for lv in (0.1, 0.9)
        )  # type: ignore[arg-type]
        assert weak < strong, kind


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "sparkle", "level": 0.5}, "unknown perturbation"),
        ({"kind": "blur", "level": 1.5}, "level must be in"),
        ({"kind": "blur", "level": 0.5, "mask": np.ones((2, 2), dtype=bool)}, "does not match"),
    ],
)
def test_perturb_arguments_are_checked(kwargs: dict[str, object], match: str) -> None:
    from nodes.perturb import perturb

    with pytest.raises(InvalidInputError, match=match):
        perturb(IMAGE, **kwargs)  # type: ignore[arg-type]
