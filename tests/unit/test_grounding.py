"""The grounded format (SATORI-R1): the parser takes what models really write, box frames map to the image, union
IoU, and the answer is read from ``<answer>`` so voting works unchanged."""

from __future__ import annotations

import random
import string

import pytest

from catts_graph.shapes.bundled import BUNDLED_BOX_FRAME
from nodes.answers import extract_answer
from nodes.confidence import answer_span
from nodes.grounding import (
    BoxFrame,
    grounded_response,
    grounding_scores,
    location_token_ids,
    named_boxes,
    parse_grounded,
    smart_resize,
    union_iou,
)
from nodes.prompts import grounded_prompt, reanswer_prompt

WELL_FORMED = "<caption>a red circle.</caption> <bbox>[[10,20,30,40], [50,50,60,70]]</bbox> <answer>2</answer>"


@pytest.mark.parametrize(
    ("text", "caption", "boxes", "answer", "problems"),
    [
        (WELL_FORMED, "a red circle.", [(10, 20, 30, 40), (50, 50, 60, 70)], "2", 0),
        ("<caption>x</caption> <bbox>[10, 20, 30, 40]</bbox> <answer>2</answer>", "x", [(10, 20, 30, 40)], "2", 1),
        ("<caption>x</caption><bbox>((10,20,30,40))</bbox><answer>2</answer>", "x", [(10, 20, 30, 40)], "2", 1),
        ("<caption>x</caption> <bbox>[[30,40,10,20]]</bbox> <answer>2</answer>", "x", [(10, 20, 30, 40)], "2", 0),
        ("<caption>x</caption> <bbox>[[1,2,3]]</bbox> <answer>2</answer>", "x", [], "2", 1),
        ("<caption>x</caption> <bbox>[]</bbox> <answer>0</answer>", "x", [], "0", 0),
        ("<bbox>[[1,2,3,4]]</bbox> <answer>2</answer>", None, [(1, 2, 3, 4)], "2", 1),
        ("<caption>x</caption> <answer>2</answer>", "x", None, "2", 1),
        ("<caption>x</caption> <bbox>[[1,2,3,4]]</bbox> <answer>2", "x", [(1, 2, 3, 4)], "2", 1),  # cut off
        ("<answer>2</answer> <caption>x</caption> <bbox>[]</bbox>", "x", [], "2", 1),  # out of order
        ("two. \\boxed{2}", None, None, None, 3),
        # location tokens: four per box, x1 y1 x2 y2, no brackets needed
        ("<caption>x</caption> <bbox><loc_3><loc_5><loc_9><loc_12></bbox> <answer>1</answer>",
         "x", [(3, 5, 9, 12)], "1", 0),
        (("<caption>x</caption> <bbox><loc_9><loc_12><loc_3><loc_5><loc_1><loc_1><loc_2><loc_2></bbox> "
          "<answer>2</answer>"), "x", [(3, 5, 9, 12), (1, 1, 2, 2)], "2", 0),  # corners sorted
        ("<caption>x</caption> <bbox></bbox> <answer>0</answer>", "x", [], "0", 0),
        ("<caption>x</caption> <bbox><loc_3><loc_5><loc_9></bbox> <answer>1</answer>", "x", [], "1", 1),
        ("<caption>x</caption> <bbox>[[<loc_3>,<loc_5>,<loc_9>,<loc_12>], 7]</bbox> <answer>1</answer>",
         "x", [(3, 5, 9, 12)], "1", 1),  # a stray number beside the tokens
    ],
)  # fmt: skip
def test_the_parser_reads_what_models_write(
    text: str, caption: str | None, boxes: list | None, answer: str | None, problems: int
) -> None:
    parsed = parse_grounded(text)
    assert (parsed.caption, parsed.answer, len(parsed.problems)) == (caption, answer, problems)
    assert parsed.boxes == boxes
    assert parsed.well_formed == (problems == 0)


def test_the_parser_never_raises_on_model_text() -> None:
    rng = random.Random(0)
    alphabet = string.printable + "<>/[]()," * 8
    pieces = ["<caption>", "</caption>", "<bbox>", "</bbox>", "<answer>", "</answer>", "[[", "]]", "1e999", "-3.5"]
    for _ in range(500):
        text = "".join(rng.choice(pieces) if rng.random() < 0.3 else rng.choice(alphabet) for _ in range(60))
        parsed = parse_grounded(text)
        assert all(x1 <= x2 and y1 <= y2 for x1, y1, x2, y2 in parsed.boxes or [])
        named_boxes(text, BUNDLED_BOX_FRAME, 112, 112)


def test_answers_are_read_from_the_answer_tag_and_its_span_found() -> None:
    assert extract_answer(WELL_FORMED, answer_type="integer") == "2"
    assert extract_answer("<caption>a</caption> <bbox>[]</bbox> <answer> Red </answer>", answer_type="text") == "red"
    assert extract_answer("<answer>\\boxed{B}</answer>", answer_type="choice", choices=["x", "y"]) == "B"
    start, end = answer_span(WELL_FORMED) or (0, 0)
    assert WELL_FORMED[start:end] == "2" and WELL_FORMED[end:].startswith("</answer>")


@pytest.mark.parametrize(("height", "width"), [(112, 112), (480, 640), (1080, 1920), (20, 500), (3000, 40)])
@pytest.mark.parametrize(("low", "high"), [(224 * 224, 224 * 224), (3136, 12845056), (200704, 401408)])
def test_smart_resize_is_the_processors(height: int, width: int, low: int, high: int) -> None:
    reference = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl").smart_resize
    assert smart_resize(height, width, 28, low, high) == reference(height, width, 28, low, high)


def test_frames_map_boxes_to_the_image_and_back() -> None:
    # The bundled models see 112 px world images at 224 px: boxes are written at twice the size.
    assert BUNDLED_BOX_FRAME.input_size(112, 112) == (224, 224)
    assert BUNDLED_BOX_FRAME.to_image([(20, 40, 60, 80)], 112, 112) == [(10, 20, 30, 40)]
    assert BUNDLED_BOX_FRAME.from_image([(10, 20, 30, 40)], 112, 112) == [(20, 40, 60, 80)]
    normalized = BoxFrame("normalized")
    assert normalized.to_image([(0, 500, 500, 1000)], 640, 480) == [(0, 240, 320, 480)]
    # location tokens on 56 bins: bin 0 is the image's edge, bin 55 the opposite edge
    bins = BoxFrame.location_bins(56)
    assert bins.to_image([(0, 11, 55, 55)], 112, 112) == [pytest.approx((0, 22.4, 112, 112))]
    with pytest.raises(ValueError, match="at least 2 bins"):
        BoxFrame.location_bins(1)
    # outside the image: clipped; nothing left: dropped
    assert BoxFrame("original").to_image([(-5, -5, 10, 10), (200, 200, 300, 300)], 100, 100) == [(0, 0, 10, 10)]


@pytest.mark.parametrize(
    ("predicted", "truth", "iou"),
    [
        ([(0, 0, 10, 10)], [(0, 0, 10, 10)], 1.0),
        ([(0, 0, 10, 10)], [(0, 0, 10, 20)], 0.5),
        ([(0, 0, 10, 10)], [(20, 20, 30, 30)], 0.0),
        ([(0, 0, 10, 10), (10, 0, 20, 10)], [(0, 0, 20, 10)], 1.0),  # unions, not pairs
        ([], [], 1.0),  # nothing to ground, nothing named
        ([], [(0, 0, 10, 10)], 0.0),
        ([(0, 0, 10, 10)], [], 0.0),
    ],
)
def test_union_iou(predicted: list, truth: list, iou: float) -> None:
    assert union_iou(predicted, truth, 40, 40) == pytest.approx(iou)


def test_grounding_scores_of_a_response() -> None:
    text = grounded_response("a red circle.", [(20, 40, 60, 80)], "1")
    assert grounding_scores(text, [(10, 20, 30, 40)], BUNDLED_BOX_FRAME, 112, 112) == {"iou": 1.0, "boxes_named": 1.0}
    assert grounding_scores("\\boxed{1}", [(10, 20, 30, 40)], BUNDLED_BOX_FRAME, 112, 112)["boxes_named"] == 0.0


def test_grounded_prompts_ask_for_the_format() -> None:
    for prompt in (
        grounded_prompt("How many?"),
        grounded_prompt("Which?", ["a", "b"]),
        reanswer_prompt("x", grounded=True),
    ):
        assert all(tag in prompt for tag in ("<caption>", "<bbox>", "<answer>"))
    assert "(A) a" in grounded_prompt("Which?", ["a", "b"])


@pytest.mark.parametrize(
    ("frame", "location_tokens"),
    [
        (BoxFrame.location_bins(56), True),  # a model with location tokens (the bundled grounded model's kind)
        (BoxFrame("normalized"), False),  # Qwen2-VL, Qwen3-VL: text on a 0-1000 grid
        (BoxFrame("resized", min_pixels=3136, max_pixels=1003520), False),  # Qwen2.5-VL: its resized input's pixels
    ],
)
def test_boxes_written_in_either_style_read_back_to_the_image(frame: BoxFrame, location_tokens: bool) -> None:
    """A box written the way the model writes it (the training targets' path) reads back to the same place in the
    image, within one unit of the model's frame."""
    width, height = 640, 480
    truth = [(64.0, 48.0, 320.0, 240.0), (400.0, 300.0, 600.0, 470.0)]
    written = [tuple(round(v) for v in box) for box in frame.from_image(truth, width, height)]
    text = grounded_response("two shapes.", written, "2", location_tokens=location_tokens)
    assert ("<loc_" in text) == location_tokens
    read = named_boxes(text, frame, width, height)
    unit = max(width / frame.input_size(width, height)[0], height / frame.input_size(width, height)[1])
    assert read is not None and len(read) == 2
    for got, want in zip(read, truth, strict=True):
        assert all(abs(g - w) <= unit for g, w in zip(got, want, strict=True)), (got, want)


def test_location_token_ids_are_read_in_bin_order_while_they_run_unbroken() -> None:
    vocab = {"<loc_1>": 11, "<loc_0>": 10, "<loc_2>": 12, "<loc_4>": 14, "a": 0}
    assert location_token_ids(vocab) == [10, 11, 12]  # <loc_3> is missing: the grid ends at 3 bins
    assert location_token_ids({"a": 0}) == []
