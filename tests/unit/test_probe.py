"""The bluntness probe's bookkeeping with a scripted model, and the ShapesVQA evidence regions."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Self

import numpy as np
import pytest

from catts_graph.benchmarks import load_benchmark
from catts_graph.evaluation.probe import ProbeSettings, run_probe, summarize
from catts_graph.shapes.world import ShapeObject, evidence_mask, make_item, relevant_objects
from nodes.images import load_image, png_data_url
from nodes.testing import ScriptedModel


def test_relevant_objects_follow_the_question() -> None:
    objs = [ShapeObject("circle", "red", 20, 20, 8), ShapeObject("square", "blue", 60, 60, 12)]
    assert relevant_objects("How many red shapes are there?", objs) == objs[:1]
    assert relevant_objects("How many squares are there?", objs) == objs[1:]
    assert relevant_objects("What colour is the largest shape?", objs) == objs[1:]
    assert relevant_objects("How many shapes are there?", objs) == objs
    mask = evidence_mask("How many red shapes are there?", objs, 112, margin=0)
    assert mask[20, 20] and not mask[60, 60] and mask.sum() == 17 * 17


async def test_probe_rows_and_summary() -> None:
    items = load_benchmark("shapes", limit=3).items
    model = ScriptedModel(greedy=lambda ms: f"\\boxed{{{items[0].answer}}}", score_fn=lambda ms, a: -0.5)
    settings = ProbeSettings(kinds=("ddpm", "blur"), levels=(0.0, 1.0), concurrency=2)
    rows = await run_probe(model, items, settings)
    assert len(rows) == 3 * 2 * 2
    summary = summarize(rows, settings)
    assert set(summary["curves"]) == {"ddpm", "blur"}
    clean = summary["curves"]["ddpm"][0]
    assert clean["level"] == 0 and clean["n"] == 3
    assert clean["accuracy"] == pytest.approx(np.mean([i.answer == items[0].answer for i in items]))
    assert summary["drop"]["blur"]["accuracy"] == pytest.approx(0.0)  # the scripted model ignores the image
    assert summary["drop"]["ddpm"]["forced_probability"] == pytest.approx(0.0)
    sampled_images = {c.messages[0].images[0] for c in model.calls if c.kind == "sample"}
    assert len(sampled_images) == 3 * 3  # per item: clean, ddpm@1, blur@1


def test_items_keep_their_objects_for_the_objects_region() -> None:
    item = load_benchmark("shapes", limit=1).items[0]
    assert len(item.meta["objects"]) == len(make_item(2, 0).objects)


class _ServedModel(ScriptedModel):
    """A scripted model standing in for the `VLLMClient` that `catts probe` opens."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def test_probe_without_matplotlib_writes_its_json_and_says_how_to_get_the_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from catts_graph.cli import main, probe

    model = _ServedModel(greedy="\\boxed{1}")

    @contextlib.contextmanager
    def endpoints(args: object, *, want_expert: bool, timeout: float) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(client=lambda timeout_s: model, relevance=None)

    monkeypatch.setattr(probe, "model_endpoints", endpoints)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as without the `train` extra: importing it fails
    out = tmp_path / "probe"
    code = main(["probe", "--limit", "1", "--kinds", "blur", "--levels", "0", "1", "--base-url", "http://stub",
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert (out / "probe.json").is_file() and not (out / "probe.png").exists()
    assert "Traceback" not in err and "plots skipped" in err and "--extra train" in err


async def test_the_probe_grades_with_the_matcher_eval_uses() -> None:
    from dataclasses import replace

    from catts_graph.benchmarks import matches

    shapes = load_benchmark("shapes", limit=1).items[0]
    item = replace(shapes, answer="0.5", answer_type="float", meta={**shapes.meta, "precision": 1})
    assert matches("0.54", item)  # MathVista's rule: equal at the item's precision
    model = ScriptedModel(greedy="\\boxed{0.54}")
    rows = await run_probe(model, [item], ProbeSettings(kinds=("blur",), levels=(0.0, 1.0), region="global"))
    assert [row["correct"] for row in rows] == [1.0, 1.0]


async def test_probe_noises_the_boxes_the_model_names() -> None:
    from catts_graph.shapes.bundled import BUNDLED_BOX_FRAME
    from nodes.config import GroundingConfig
    from nodes.errors import InvalidInputError
    from nodes.images import load_image

    item = load_benchmark("shapes", limit=6).items[5]  # two triangles: boxes (7, 15, 21, 29), (87, 19, 107, 39)
    text = f"<caption>x</caption> <bbox>[[14,30,42,58]]</bbox> <answer>{item.answer}</answer>"  # the first, at 224 px
    model = ScriptedModel(greedy=lambda ms: text, score_fn=lambda ms, a: -0.5)
    frame = BUNDLED_BOX_FRAME
    grounding = GroundingConfig(enabled=True, min_pixels=frame.min_pixels, max_pixels=frame.max_pixels)
    settings = ProbeSettings(kinds=("occlusion",), levels=(0.0, 1.0), region="model", grounding=grounding)
    rows = await run_probe(model, [item], settings)
    assert rows[0]["iou"] == pytest.approx(196 / 596, abs=0.01)  # one box of 14 x 14 px named, of 14 x 14 + 20 x 20
    assert rows[0]["boxes_named"] == 1.0
    assert rows[1]["fallback"] == 0.0
    clean = np.asarray(load_image(item.image), dtype=int)
    noised = [c.messages[0].images[0] for c in model.calls if c.kind == "sample"][1]
    changed = (np.asarray(load_image(noised), dtype=int) != clean).any(axis=-1)  # (H, W)
    ys, xs = np.nonzero(changed)
    assert changed.any() and xs.min() >= 7 and xs.max() <= 21 and ys.min() >= 15 and ys.max() <= 29
    with pytest.raises(InvalidInputError, match="grounding"):
        ProbeSettings(region="model")


async def test_the_probe_reports_the_declared_drop_of_a_model_that_states_one() -> None:
    items = load_benchmark("shapes", limit=2).items
    clean = {png_data_url(load_image(item.image)) for item in items}

    def answer(messages: list) -> str:  # sure on the clean image, unsure on a noised one
        return f"\\boxed{{1}} (answer confidence: {9 if messages[0].images[0] in clean else 2}/10)"

    settings = ProbeSettings(kinds=("occlusion",), levels=(0.0, 1.0), concurrency=1)
    summary = summarize(await run_probe(ScriptedModel(greedy=answer), items, settings), settings)
    drop = summary["drop"]["occlusion"]
    assert summary["confidence_source"] == "stated"
    assert drop["declared"] == pytest.approx(0.95 - 0.25) and drop["declared_relative"] == pytest.approx(0.7 / 0.95)
    plain = summarize(await run_probe(ScriptedModel(greedy="\\boxed{1}"), items, settings), settings)
    assert plain["confidence_source"] == "nmlp"
    assert plain["drop"]["occlusion"]["declared"] == plain["drop"]["occlusion"]["nmlp"]
