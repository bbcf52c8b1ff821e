"""Min-p sampling from the config and the command line to the request, and the ``+skip-futile`` eval methods."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from in_process import catts
from PIL import Image
from pydantic import ValidationError

from catts_graph.cli import build_parser, parse
from catts_graph.cli.evaluate import job_from
from catts_graph.cli.run import config_from_args
from catts_graph.evaluation.catts_runs import catts_config
from catts_graph.evaluation.methods import expand_methods, region_override, skips_futile
from nodes.config import SamplingConfig
from nodes.protocol import SamplingParams
from nodes.testing import ScriptedModel
from trainers.declared.labels import LabelSettings, view_row

DOWN = "http://127.0.0.1:9"  # nothing listens there


@pytest.mark.parametrize("min_p", [0.0, 0.05, 0.5, 0.999])
def test_the_sampling_config_takes_a_min_p_in_zero_to_one_and_hands_it_on(min_p: float) -> None:
    config = SamplingConfig(min_p=min_p)
    assert config.params().min_p == min_p
    assert SamplingConfig().min_p == SamplingParams().min_p == 0.0  # off by default


@pytest.mark.parametrize("min_p", [-0.01, 1.0, 1.5, math.nan])
def test_the_sampling_config_refuses_a_min_p_outside_zero_to_one(min_p: float) -> None:
    with pytest.raises(ValidationError, match="min_p"):
        SamplingConfig(min_p=min_p)


COMMANDS = {
    "eval": ["eval", "--base-url", DOWN, "--out", "OUT"],
    "run": ["run", "--base-url", DOWN, "--image", "x.png", "--question", "q"],
    "data labels": ["data", "labels", "--data", "PAIRS", "--out", "OUT"],
    "train boundary": ["train", "boundary", "--model", "M", "--data", "PAIRS", "--out", "OUT"],
    "train cdrl": ["train", "cdrl", "--confidence", "stated", "--model", "M", "--data", "PAIRS", "--out", "OUT"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("value", ["1", "-0.1", "2", "nan", "abc"])
def test_every_command_with_a_temperature_refuses_a_bad_min_p_in_one_line(command: str, value: str) -> None:
    result = catts(*COMMANDS[command], "--min-p", value)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"catts {command}: error: argument --min-p") and "--help" in lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_with_a_temperature_reads_min_p(command: str) -> None:
    parser = build_parser()
    assert parse(parser, [*COMMANDS[command], "--min-p", "0.05"]).min_p == 0.05
    assert parse(parser, COMMANDS[command]).min_p == 0.0


def test_eval_and_run_put_min_p_in_the_graphs_sampling() -> None:
    parser = build_parser()
    job = job_from(parse(parser, [*COMMANDS["eval"], "--temperature", "0.6", "--min-p", "0.1"]))
    assert (job.settings.config.sampling.temperature, job.settings.config.sampling.min_p) == (0.6, 0.1)
    assert job.settings.config.sampling.params().min_p == 0.1
    config = config_from_args(parse(parser, [*COMMANDS["run"], "--min-p", "0.05"]))
    assert config.sampling.min_p == 0.05


def test_the_label_samples_are_drawn_with_the_settings_min_p(tmp_path: Path) -> None:
    model = ScriptedModel(["\\boxed{1}"])
    record = {"id": "0", "image": "a.png", "noised_image": "a.png", "question": "How many?", "answer": "1"}
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    asyncio.run(view_row(model, tmp_path, record, "clean", LabelSettings(samples=2, min_p=0.1)))
    sampled = [c.params for c in model.calls if c.params is not None and c.params.temperature > 0]
    assert [p.min_p for p in sampled] == [0.1]


def test_a_catts_preset_with_skip_futile_turns_the_routing_switch_on() -> None:
    methods = ["catts-paper+skip-futile", "catts-paper/global+skip-futile", "catts-sequential+skip-futile"]
    assert expand_methods(["catts-paper", *methods]) == ["catts-paper", *methods]
    assert [skips_futile(m) for m in ("catts-paper", *methods)] == [False, True, True, True]
    assert region_override("catts-paper/global+skip-futile") == ("catts-paper", "global")
    config = job_from(parse(build_parser(), [*COMMANDS["eval"], "--methods", ",".join(methods)])).settings.config
    plain, skipping = catts_config("catts-paper", 8, config)[0], catts_config(methods[0], 8, config)[0]
    assert not plain.routing.skip_futile and skipping.routing.skip_futile
    assert (skipping.routing.policy, skipping.sampling.n) == ("paper", 8)
    assert catts_config(methods[1], 8, config)[0].self_check.noise.region == "global"
    for wrong in ("catts-paper+skip", "catts[sc+voter]+skip-futile", "majority+skip-futile"):
        with pytest.raises(ValueError, match="unknown method"):
            expand_methods([wrong])
