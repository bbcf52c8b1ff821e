"""The CDRL trainer (TRL GRPOTrainer subclass): a few real steps on the tiny model change every parameter, log each
reward component and the confidences, and save a plain model folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from in_process import catts
from safetensors.torch import load_file

from catts_graph.benchmarks import load_benchmark
from trainers.cdrl.config import CDRLConfig
from trainers.cdrl.data import PairNoise, build_pairs, pairs_dataset
from trainers.cdrl.rewards import cdrl_reward_funcs
from trainers.cdrl.scoring import completion_mask, dev_metrics, forced_log_probs, nmlp
from trainers.cdrl.trainer import CDRLTrainer, train_cdrl


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, quick_smoke_model: Path) -> tuple[Path, Path]:
    root, model = tmp_path_factory.mktemp("cdrl"), quick_smoke_model
    build_pairs(load_benchmark("shapes:100", limit=4).items, root / "pairs", PairNoise(level=1.0, region="objects"))
    return model, root / "pairs"


def config(out: Path, **overrides: object) -> CDRLConfig:
    settings: dict = {"output_dir": str(out), "num_generations": 2, "per_device_train_batch_size": 2, "max_steps": 2,
                      "max_completion_length": 16, "learning_rate": 1e-3, "logging_steps": 1, "report_to": "none",
                      "save_strategy": "no", "use_cpu": True, "seed": 0}  # fmt: skip
    return CDRLConfig(**{**settings, **overrides})


def test_a_few_steps_change_every_parameter_and_log_every_component(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    out = train_cdrl(model_dir, pairs, tmp_path / "out", config(tmp_path / "run"))
    after = load_file(str(out / "model.safetensors"))
    unchanged = [k for k, v in before.items() if torch.equal(v, after[k])]
    assert unchanged == []
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    keys = set().union(*logged)
    for key in ("rewards/accuracy_reward/mean", "rewards/format_reward/mean", "rewards/PerceptionReward/mean",
                "rewards/CalibrationReward/mean", "cdrl/clean_confidence", "cdrl/confidence_drop"):  # fmt: skip
        assert key in keys
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()


def changed(before: dict[str, torch.Tensor], out: Path) -> bool:
    after = load_file(str(out / "model.safetensors"))
    return any(not torch.equal(v, after[k]) for k, v in before.items())


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_the_pathwise_perception_loss_trains_and_is_logged(
    setup: tuple[Path, Path], tmp_path: Path, weight: float
) -> None:
    """The rewards weigh 0, so GRPO's own loss has no gradient: the model changes only if the term is in the loss."""
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    run = config(tmp_path / "run", perception_loss_weight=weight, reward_weights=[0.0, 0.0, 0.0, 0.0])
    out = train_cdrl(model_dir, pairs, tmp_path / "out", run)
    assert changed(before, out) == (weight > 0)
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    losses = [row["cdrl/perception_loss"] for row in logged if "cdrl/perception_loss" in row]
    if weight > 0:
        assert losses and all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in losses)  # -w * tanh(.), w = 1


def test_dev_metrics_are_logged_at_the_start_and_every_interval(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    settings = config(tmp_path / "run", eval_strategy="steps", eval_steps=1, eval_on_start=True,
                      per_device_eval_batch_size=2)  # fmt: skip
    out = train_cdrl(model_dir, pairs, tmp_path / "out", settings, dev_dir=pairs)
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    dev = [row for row in logged if "eval_accuracy" in row]
    assert [row["step"] for row in dev] == [0, 1, 2]
    for row in dev:
        assert 0.0 <= row["eval_accuracy"] <= 1.0 and 0.0 <= row["eval_ece"] <= 1.0
        assert row["eval_clean_confidence"] > 0 and math.isfinite(row["eval_confidence_drop"])
        assert math.isfinite(row["eval_own_confidence_drop"])
    assert dev[0]["eval_clean_confidence"] != dev[-1]["eval_clean_confidence"]  # measured on the changing policy
    assert logged[-1] == {"exported_step": 2}


def test_the_best_dev_checkpoint_is_the_one_exported(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    settings = config(tmp_path / "run", max_steps=3, eval_strategy="steps", eval_steps=1, save_strategy="steps",
                      save_steps=1, metric_for_best_model="eval_brier",
                      greater_is_better=False, per_device_eval_batch_size=2)  # fmt: skip
    out = train_cdrl(model_dir, pairs, tmp_path / "out", settings, dev_dir=pairs)
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    briers = {row["step"]: row["eval_brier"] for row in logged if "eval_brier" in row and row["step"] > 0}
    exported = logged[-1]["exported_step"]
    assert briers[exported] == min(briers.values())
    kept = load_file(str(tmp_path / "run" / f"checkpoint-{exported}" / "model.safetensors"))
    saved = load_file(str(out / "model.safetensors"))
    assert all(torch.equal(kept[k], saved[k]) for k in saved)


def test_teacher_forced_log_probs_are_the_generating_models(setup: tuple[Path, Path]) -> None:
    """C, C' and the dev metrics teacher-force text; that must be the same model that generated it (M-RoPE positions
    included), or the trainer measures and trains a different model from the one vLLM serves."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model_dir, pairs = setup
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    example = pairs_dataset(pairs)[0]
    text = processor.apply_chat_template(example["prompt"], add_generation_prompt=True, tokenize=False)
    enc = processor(images=[example["image"]], text=[text], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **enc, max_new_tokens=8, do_sample=False, output_scores=True, return_dict_in_generate=True
        )
        completion = out.sequences[:, enc["input_ids"].shape[1] :]  # (1, T)
        generated = torch.stack(
            [torch.log_softmax(s[0].float(), -1)[t] for s, t in zip(out.scores, completion[0], strict=True)]
        )
        forced = forced_log_probs(
            model, enc["input_ids"], enc["attention_mask"], completion, torch.ones_like(completion), enc
        )
    assert torch.allclose(forced[0].gather(-1, completion[0][:, None]).squeeze(-1), generated, atol=1e-4)


def test_completion_mask_keeps_tokens_up_to_the_first_eos() -> None:
    ids = torch.tensor([[5, 6, 2, 0, 2], [5, 6, 7, 8, 9]])  # (2, 5), eos = 2
    assert completion_mask(ids, eos_token_id=2).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_nmlp_is_larger_for_peaked_distributions_and_ignores_masked_tokens() -> None:
    peaked = torch.log_softmax(torch.tensor([[[9.0, 0.0, 0.0, 0.0]]]), dim=-1)  # (1, 1, 4)
    flat = torch.log_softmax(torch.zeros(1, 1, 4), dim=-1)  # (1, 1, 4)
    both = torch.cat([flat, peaked], dim=1)  # (1, 2, 4)
    assert nmlp(peaked, torch.ones(1, 1), 4) > nmlp(flat, torch.ones(1, 1), 4)
    assert torch.allclose(nmlp(both, torch.tensor([[0, 1]]), 4), nmlp(peaked, torch.ones(1, 1), 4))
    assert torch.allclose(nmlp(flat, torch.ones(1, 1), 4), torch.tensor([math.log(4.0)]))  # -mean log(1/4)


def test_dev_metrics_summarise_greedy_rows() -> None:
    rows = [{"correct": 1.0, "probability": 0.9, "clean_confidence": 3.0, "noised_confidence": 1.0,
             "own_noised_confidence": 0.5},
            {"correct": 0.0, "probability": 0.6, "clean_confidence": 2.0, "noised_confidence": 2.0,
             "own_noised_confidence": 2.5}]  # fmt: skip
    metrics = dev_metrics(rows)
    assert metrics["accuracy"] == 0.5 and metrics["auroc"] == 1.0
    assert math.isclose(metrics["ece"], 0.5 * 0.1 + 0.5 * 0.6) and metrics["confidence_drop"] == 1.0
    assert metrics["own_confidence_drop"] == 1.0  # (2.5 + -0.5) / 2


def test_the_pathwise_calibration_loss_trains_and_is_logged(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    run = config(tmp_path / "run", calibration_loss_weight=2.0, reward_weights=[0.0, 0.0, 0.0, 0.0])
    out = train_cdrl(model_dir, pairs, tmp_path / "out", run)  # the rewards weigh 0: only the pathwise term trains
    assert changed(before, out)
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    losses = [row["cdrl/calibration_loss"] for row in logged if "cdrl/calibration_loss" in row]
    assert losses and all(math.isfinite(v) and 0.0 <= v <= 2.0 for v in losses)  # w * mean squared error in [0, 1]


def test_the_greedy_calibration_loss_trains_and_is_logged(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    run = config(tmp_path / "run", greedy_calibration_loss_weight=2.0, reward_weights=[0.0, 0.0, 0.0, 0.0])
    out = train_cdrl(model_dir, pairs, tmp_path / "out", run)  # the rewards weigh 0: only the greedy Brier trains
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    losses = [row["cdrl/greedy_calibration_loss"] for row in logged if "cdrl/greedy_calibration_loss" in row]
    assert losses and all(math.isfinite(v) and 0.0 <= v <= 2.0 for v in losses)  # w * mean squared error in [0, 1]
    after = load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(v, after[k]) for k, v in before.items())


def test_the_greedy_perception_loss_trains_and_is_logged(
    setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    graded_right = lambda texts, *_: [1.0] * len(texts)  # noqa: E731  # the term reads right greedy answers only
    monkeypatch.setattr("trainers.cdrl.greedy.accuracy_rewards", graded_right)
    run = config(tmp_path / "run", greedy_perception_loss_weight=1.0, reward_weights=[0.0, 0.0, 0.0, 0.0])
    out = train_cdrl(model_dir, pairs, tmp_path / "out", run)  # the rewards weigh 0: only the pathwise term trains
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    losses = [row["cdrl/greedy_perception_loss"] for row in logged if "cdrl/greedy_perception_loss" in row]
    assert losses and all(math.isfinite(v) and -1.0 <= v <= 1.0 and v != 0.0 for v in losses)  # -w * tanh(.)
    after = load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(v, after[k]) for k, v in before.items())


def test_lora_is_merged_on_export(setup: tuple[Path, Path], tmp_path: Path) -> None:
    from peft import LoraConfig

    model_dir, pairs = setup
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)")
    out = train_cdrl(model_dir, pairs, tmp_path / "out", config(tmp_path / "run", max_steps=1), peft_config=lora)
    saved = load_file(str(out / "model.safetensors"))
    assert not any("lora" in k for k in saved) and set(saved) == set(load_file(str(model_dir / "model.safetensors")))


def test_a_lora_dev_checkpoint_is_merged_on_export(setup: tuple[Path, Path], tmp_path: Path) -> None:
    from peft import LoraConfig

    model_dir, pairs = setup
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)")
    settings = config(tmp_path / "run", eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1,
                      metric_for_best_model="eval_brier", per_device_eval_batch_size=2)  # fmt: skip
    out = train_cdrl(model_dir, pairs, tmp_path / "out", settings, peft_config=lora, dev_dir=pairs)
    saved = load_file(str(out / "model.safetensors"))
    before = load_file(str(model_dir / "model.safetensors"))
    assert not any("lora" in k for k in saved) and set(saved) == set(before)
    assert any(not torch.equal(saved[k], before[k]) for k in saved if "q_proj" in k)  # the adapter was merged in


def test_pairs_dataset_columns(setup: tuple[Path, Path]) -> None:
    dataset = pairs_dataset(setup[1])
    assert {"prompt", "image", "noised_image", "answer", "answer_type", "choices", "id"} <= set(dataset.column_names)
    assert dataset[0]["image"].size == dataset[0]["noised_image"].size
    first = json.loads((setup[1] / "pairs.jsonl").read_text().splitlines()[0])
    assert dataset[0]["choices"] is None and dataset[0]["id"] == first["id"]


def test_pairs_dataset_carries_the_options_the_rewards_grade_with(setup: tuple[Path, Path], tmp_path: Path) -> None:
    records = [json.loads(line) for line in (setup[1] / "pairs.jsonl").read_text().splitlines()]
    for record in records:
        record.update(image=str(setup[1] / record["image"]), noised_image=str(setup[1] / record["noised_image"]))
    records[0].update(question="Which animal?", answer="B", answer_type="choice", choices=["cat", "dog"])
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    dataset = pairs_dataset(tmp_path)
    assert dataset[0]["choices"] == ["cat", "dog"] and dataset[1]["choices"] is None
    assert "dog" in dataset[0]["prompt"][0]["content"][1]["text"]
    accuracy = cdrl_reward_funcs(config(tmp_path))[0]
    columns = {k: [dataset[0][k]] for k in ("answer", "answer_type", "choices")}  # as TRL passes dataset columns
    assert accuracy(completions=[[{"role": "assistant", "content": "\\boxed{dog}"}]], **columns) == [1.0]


def trainer_on(setup: tuple[Path, Path], tmp_path: Path, **overrides: object) -> CDRLTrainer:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    settings = config(tmp_path, **overrides)
    return CDRLTrainer(
        model=AutoModelForImageTextToText.from_pretrained(setup[0], dtype=torch.float32),
        reward_funcs=cdrl_reward_funcs(settings),
        args=settings,
        train_dataset=pairs_dataset(setup[1]),
        processing_class=AutoProcessor.from_pretrained(setup[0]),
    )


def test_an_empty_rollout_is_scored_as_padding_not_skipped(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """Under ZeRO-3 every process must run the same forward passes: an empty rollout still takes its two (C, C')."""
    trainer = trainer_on(setup, tmp_path)
    example = dict(pairs_dataset(setup[1])[0])
    example["noised_encoding"] = trainer._encode(example, example["noised_image"])
    forwards: list[int] = []
    trainer.model.register_forward_hook(lambda *_: forwards.append(1))
    tokens = trainer.processing_class.tokenizer.encode("\\boxed{2}", add_special_tokens=False)
    clean, noised = trainer._confidences([example, example], [[], tokens])
    assert len(forwards) == 4
    assert math.isnan(clean[0]) and math.isnan(noised[0]) and math.isfinite(clean[1]) and math.isfinite(noised[1])


def test_pathwise_losses_run_when_every_rollout_is_truncated(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """A process whose rollouts are all left out of the loss still runs the pathwise forwards (ZeRO-3), adding 0."""
    model_dir, pairs = setup
    settings = config(tmp_path / "run", max_steps=1, max_completion_length=1, perception_loss_weight=1.0,
                      calibration_loss_weight=1.0)  # fmt: skip
    out = train_cdrl(model_dir, pairs, tmp_path / "out", settings)
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    assert [row["completions/clipped_ratio"] for row in logged if "completions/clipped_ratio" in row] == [1.0]
    for name in ("cdrl/perception_loss", "cdrl/calibration_loss"):
        assert [row[name] for row in logged if name in row] == [0.0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_generations": 1}, "generations"),
        ({"confidence_normalisation": "rank"}, "normalisation"),
        ({"perception_beta": 0.0}, "perception_beta"),
        ({"confidence_top_k": 0}, "top_k"),
        ({"perception_loss_weight": -1.0}, "perception_loss_weight"),
        ({"calibration_loss_weight": -1.0}, "calibration_loss_weight"),
        ({"greedy_calibration_loss_weight": -1.0}, "greedy_calibration_loss_weight"),
        ({"greedy_perception_loss_weight": -1.0}, "greedy_perception_loss_weight"),
        (
            {
                "load_best_model_at_end": True,
                "metric_for_best_model": "eval_brier",
                "eval_strategy": "steps",
                "save_strategy": "steps",
            },
            "metric_for_best_model",
        ),
    ],
)
def test_config_checks_say_what_to_set(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **overrides)


def test_catts_train_cdrl_end_to_end(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    out = tmp_path / "cdrl-model"
    command = ["train", "cdrl", "--model", str(model_dir), "--data", str(pairs),
               "--out", str(out), "--steps", "2", "--generations", "2", "--batch", "2",
               "--max-completion-length", "16", "--learning-rate", "1e-3", "--scale-rewards", "none",
               "--perception-loss-weight", "0.5", "--calibration-loss-weight", "0.5", "--kl", "0.1",
               "--dev", str(pairs), "--dev-every", "1", "--keep-best", "brier"]  # fmt: skip
    result = catts(*command)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "model.safetensors").is_file() and (out / "cdrl.png").is_file()
    table = [
        line.split("|")[1].strip() for line in result.stdout.splitlines() if line.startswith("| ") and "%" in line
    ]
    assert [step.split()[0] for step in table] == ["0", "1", "2"]  # the dev set at the start and every step
    assert sum("(exported)" in step for step in table) == 1 and "(exported)" not in table[0]
    no_pairs = [*command[:4], "--data", str(tmp_path), "--out", str(tmp_path / "x")]  # a folder without pairs.jsonl
    bad = catts(*no_pairs)
    assert bad.returncode == 2 and "catts data pairs" in bad.stderr and "Traceback" not in bad.stderr
