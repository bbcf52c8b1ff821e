"""Lab: do a model's own hidden states rank its greedy answers' correctness better than its log-prob signals?
(docs/experiments/declared-confidence.md, "The model's own features").

A stated confidence is read out of the model's last hidden state, so what a linear probe on those states can rank
held out bounds what a digit trained against correctness (Brier) could rank. For each item the model answers
greedily in-process; the response is teacher-forced again to read every layer's hidden state at the response's
last token and averaged over the response and over the image tokens. Logistic probes (L2 chosen by 5-fold
cross-validation on the fitting items) are fitted on items of `FIT_SEED` and scored on the first test items of world
seed 2 (the items `catts eval --benchmark shapes --limit 500` answers).

usage: uv run --no-sync python docs/experiments/declared/feature_probe.py MODEL_DIR [FIT_ITEMS] [TEST_ITEMS] [OUT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.evaluation.logistic import logistic_fit, logistic_predict
from catts_graph.evaluation.metrics import auroc
from catts_graph.serving.engine import TransformersEngine
from catts_graph.shapes.world import make_item
from nodes.images import png_data_url
from nodes.prompts import question_prompt
from nodes.protocol import Message, SamplingParams
from trainers.cdrl.rewards import is_correct
from trainers.declared.warmup import signals

FIT_SEED = 7  # a world seed no model and no eval uses
TEST_SEED = 2
LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0)


def features(engine: TransformersEngine, seed: int, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every feature set of the greedy responses to items 0..n-1 of world `seed`, and whether each is right."""
    params = SamplingParams(n=1, temperature=0.0, max_tokens=128, top_logprobs=20)
    pad = engine.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    rows: dict[str, list[np.ndarray]] = {}
    right = []
    for index in tqdm(range(n), desc=f"seed {seed}", unit="item"):
        item = make_item(seed, index)
        messages = [Message.user(question_prompt(item.question), [png_data_url(item.render())])]
        sample = engine._sample(messages, params)[0]
        right.append(is_correct(sample.text, item.answer, item.answer_type))
        enc, n_prompt = engine._encode(messages, answer=sample.text)
        with torch.no_grad():
            hidden = engine.model(**enc, output_hidden_states=True).hidden_states  # (layers + 1) x (1, L, D)
        image = enc["input_ids"][0] == pad  # (L,) bool
        found = {"signals": np.array(signals(sample))}  # (3,)
        for layer, h in enumerate(hidden):
            h = h[0].float().numpy()  # (L, D)
            found[f"layer {layer} last"] = h[-1]  # (D,)
            found[f"layer {layer} response mean"] = h[n_prompt:].mean(axis=0)  # (D,)
            found[f"layer {layer} image mean"] = h[image.numpy()].mean(axis=0)  # (D,)
        for name, value in found.items():
            rows.setdefault(name, []).append(value)
    return {k: np.stack(v) for k, v in rows.items()}, np.array(right, dtype=float)


def probe(x_fit: np.ndarray, y_fit: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Held-out AUROC of the probe with the L2 weight that ranks best in 5-fold cross-validation on the fit items."""
    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0) + 1e-6  # (D,) each
    x_fit, x_test = (x_fit - mean) / std, (x_test - mean) / std
    folds = np.arange(len(y_fit)) % 5  # (S,)
    cv = {}
    for lam in LAMBDAS:
        scores = np.zeros(len(y_fit))  # (S,)
        for k in range(5):
            theta = logistic_fit(x_fit[folds != k], y_fit[folds != k], l2=lam, max_steps=30)
            scores[folds == k] = logistic_predict(theta, x_fit[folds == k])
        cv[lam] = auroc(scores.tolist(), y_fit.tolist())
    lam = max(cv, key=lambda v: cv[v])
    test = logistic_predict(logistic_fit(x_fit, y_fit, l2=lam, max_steps=30), x_test)  # (M,)
    return {"lambda": lam, "cv_auroc": cv[lam], "test_auroc": auroc(test.tolist(), y_test.tolist())}


def main(model_dir: str, fit_items: int = 2000, test_items: int = 500, out: str | None = None) -> None:
    torch.set_num_threads(1)
    engine = TransformersEngine(model_dir)
    x_fit, y_fit = features(engine, FIT_SEED, fit_items)
    x_test, y_test = features(engine, TEST_SEED, test_items)
    if out:  # the features themselves, for other probes without a new pass
        arrays = {f"fit {k}": v for k, v in x_fit.items()} | {f"test {k}": v for k, v in x_test.items()}
        np.savez_compressed(Path(out).with_suffix(".npz"), y_fit=y_fit, y_test=y_test, **arrays)
    probability = x_test["signals"][:, 0]  # (M,) exp(mean log-prob): the base's greedy confidence
    report: dict[str, Any] = {
        "model": model_dir,
        "fit": {"seed": FIT_SEED, "items": fit_items, "accuracy": float(y_fit.mean())},
        "test": {"seed": TEST_SEED, "items": test_items, "accuracy": float(y_test.mean())},
        "exp_mean_logprob_auroc": auroc(probability.tolist(), y_test.tolist()),
        "probes": {},
    }
    print(f"fit accuracy {y_fit.mean():.3f}, test accuracy {y_test.mean():.3f}")
    print(f"exp(mean log-prob) on the test items: AUROC {report['exp_mean_logprob_auroc']:.3f}")
    combined = {f"signals + {name}": ["signals", name] for name in x_fit if name.startswith("layer 4")}
    combined["signals + every layer's response mean"] = ["signals", *(n for n in x_fit if n.endswith("response mean"))]
    for name, parts in [*((n, [n]) for n in x_fit), *combined.items()]:
        x, x_held = (np.concatenate([x[p] for p in parts], axis=1) for x in (x_fit, x_test))  # (S, D'), (M, D')
        result = probe(x, y_fit, x_held, y_test)
        report["probes"][name] = result
        print(f"{name:40s} cv {result['cv_auroc']:.3f}  held out {result['test_auroc']:.3f}  (L2 {result['lambda']})")
    if out:
        Path(out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:4]), *sys.argv[4:5])
