"""CDRL on two processes (accelerate, gloo on CPU) rewards the same rollouts exactly as one process does.

TRL spreads each prompt's group over processes: with G = 4 and batch 2 per device a process holds half a group, so a
calibration term normalised over one process's rollouts differs from the one-process run. The rollouts are fixed by
their position in the group (tests/unit/cdrl_fixed_rollouts.py), so both runs see the same ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catts_graph.benchmarks import load_benchmark
from trainers.cdrl.data import PairNoise, build_pairs

SCRIPT = Path(__file__).with_name("cdrl_fixed_rollouts.py")
LAUNCH_TWO = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no",
              "--multi_gpu"]  # fmt: skip  # torchrun's launcher; the processes run on CPU (gloo): no GPU is visible


def run(launcher: list[str], record: Path, model: Path, pairs: Path, dev: Path, batch: int) -> dict[str, list]:
    record.mkdir()
    out = record / "model"
    command = [*launcher, str(SCRIPT), str(record), "train", "cdrl", "--model", str(model), "--data", str(pairs),
               "--out", str(out), "--steps", "3", "--generations", "4", "--batch", str(batch),
               "--max-completion-length", "16", "--learning-rate", "1e-3", "--perception-loss-weight", "0.5",
               "--calibration-loss-weight", "0.5", "--dev", str(dev), "--dev-every", "10"]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("saved the CDRL model") == 1  # the main process reports, once
    assert (out / "model.safetensors").is_file() and (out / "cdrl.png").is_file()
    return {
        "rollouts": [json.loads(line) for line in (record / "rollouts.jsonl").read_text().splitlines()],
        "log": [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()],
        "dev_rows": [json.loads(p.read_text())["rows"] for p in sorted(record.glob("dev-*.json"))],
    }


@pytest.mark.slow
def test_two_processes_reward_and_log_as_one(quick_smoke_model: Path, tmp_path: Path) -> None:
    model = quick_smoke_model
    items = load_benchmark("shapes:100", limit=7).items
    noise = PairNoise(level=1.0, region="objects")
    pairs, dev = (
        build_pairs(items[:4], tmp_path / "pairs", noise).parent,
        build_pairs(items[4:], tmp_path / "dev", noise).parent,
    )
    one = run([sys.executable], tmp_path / "one", model, pairs, dev, batch=4)
    two = run(LAUNCH_TWO, tmp_path / "two", model, pairs, dev, batch=2)

    key = [(r["step"], r["id"], r["completion"]) for r in one["rollouts"]]
    assert key == [(r["step"], r["id"], r["completion"]) for r in two["rollouts"]] and len(key) == 12
    for a, b in zip(one["rollouts"], two["rollouts"], strict=True):  # accuracy, format, perception, calibration
        assert a["rewards"] == pytest.approx(b["rewards"], abs=1e-4), (a, b)
    calibration = {round(r["rewards"][3], 3) for r in one["rollouts"]}
    assert calibration - {0.0, 1.0, -1.0}  # Cnorm over whole groups takes values between the extremes

    logged = ("rewards/CalibrationReward/mean", "rewards/PerceptionReward/mean", "cdrl/clean_confidence",
              "cdrl/confidence_drop", "cdrl/perception_loss", "cdrl/calibration_loss",
              "eval_accuracy", "eval_brier", "eval_clean_confidence", "eval_confidence_drop")  # fmt: skip
    for a, b in zip(one["log"], two["log"], strict=True):
        assert a.get("step") == b.get("step")
        for name in set(logged) & set(a):
            assert a[name] == pytest.approx(b[name], abs=1e-4), (name, a, b)
    assert two["dev_rows"] == [4, 4]  # 3 dev items, evaluated twice: each process answers its half (padded)
