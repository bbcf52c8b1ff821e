"""Lab: which label ranks best, held out, before any training (run 6 of docs/experiments/declared-confidence.md).

    python docs/experiments/declared/label_check.py runs/declared/labels6 [OUT]

Reads a `catts data labels` folder whose views kept every sample's answer (``answers``) and compares label scores
on held-out pairs (5 folds, both views of a pair in one fold, as `trainers.declared.label_fit`): the (view, k)
cells and the logistic fit on the signals, k / n and the view, each with k from the first 8 samples and from all of
them; the logistic fit on NMLP, k and the view alone; a richer agreement fit (adding the share of the most common
sample answer, the share of distinct answers and of unparsed samples); the signals alone. Prints AUROC (all views,
clean, noised), ECE and the AUROC as the stated tenths. The fits span both views unless "per view" (one fit per
view). With OUT, writes the best on the clean views (the
evaluation's images are clean) as a labels folder (labels.jsonl + label_fit.json) the warm-up reads.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from nodes.answers import extract_answer
from trainers.declared.label_fit import fit_cells, fit_logistic, folds_of, measures
from trainers.declared.labels import read_rows
from trainers.declared.warmup import SIGNALS, fit_answer_score

Row = dict[str, Any]
Fit = Callable[[Sequence[Row]], Callable[[Row], float]]


def with_k(row: Row, first: int | None) -> Row:
    """`row` with k and n recounted from its first `first` sample answers (all with None)."""
    answers = row["answers"][:first]
    greedy = extract_answer(row["greedy"], answer_type=row.get("answer_type"), choices=row.get("choices"))
    k = sum(a == greedy for a in answers) if greedy is not None else 0
    return {**row, "k": k, "n": len(answers)}


def rich_features(row: Row) -> list[float]:
    answers = row["answers"]
    n = max(len(answers), 1)
    parsed = [a for a in answers if a is not None]
    top = Counter(parsed).most_common(1)[0][1] if parsed else 0
    return [*row["signals"], row["k"] / n, top / n, len(set(parsed)) / n, (n - len(parsed)) / n,
            float(row["view"] == "noised")]  # fmt: skip


def nmlp_k_features(row: Row) -> list[float]:
    return [row["signals"][2], row["k"] / max(row["n"], 1), float(row["view"] == "noised")]


def feature_fit(features: Callable[[Row], list[float]]) -> Callable[[Sequence[Row]], Callable[[Row], float]]:
    def fit(rows: Sequence[Row]) -> Callable[[Row], float]:
        score = fit_answer_score([features(r) for r in rows], [bool(r["correct"]) for r in rows])
        return lambda row: score.score(features(row))

    return fit


def per_view(fit: Fit) -> Fit:
    """`fit` made on each view's rows alone (the signals may weigh differently where the evidence is gone)."""

    def both(rows: Sequence[Row]) -> Callable[[Row], float]:
        scores = {view: fit([r for r in rows if r["view"] == view]) for view in ("clean", "noised")}
        return lambda row: scores[row["view"]](row)

    return both


def method_fit(fitter: Callable[[Sequence[Row]], Any]) -> Callable[[Sequence[Row]], Callable[[Row], float]]:
    return lambda rows: fitter(rows).score


CANDIDATES: dict[str, tuple[int | None, Callable[[Sequence[Row]], Callable[[Row], float]]]] = {
    "cells, k of 8": (8, method_fit(fit_cells)),
    "cells, k of all": (None, method_fit(fit_cells)),
    "logistic, k of 8": (8, method_fit(fit_logistic)),
    "logistic, k of all": (None, method_fit(fit_logistic)),
    "NMLP + k of all + view": (None, feature_fit(nmlp_k_features)),
    "rich agreement (all)": (None, feature_fit(rich_features)),
    "per view: logistic, k of all": (None, per_view(method_fit(fit_logistic))),
    "per view: rich agreement": (None, per_view(feature_fit(rich_features))),
    "signals alone": (None, method_fit(lambda rows: fit_logistic(rows, SIGNALS))),
}


def held_out(rows: Sequence[Row], fit: Fit, folds: int = 5) -> list[float]:
    fold = folds_of(rows, folds)
    out = [0.0] * len(rows)
    for f in range(folds):
        score = fit([r for r, g in zip(rows, fold, strict=True) if g != f])
        for i, g in enumerate(fold):
            if g == f:
                out[i] = score(rows[i])
    return out


def main(folder: Path, out: Path | None) -> None:
    raw = read_rows(folder / "views.jsonl")
    raw = sorted(raw, key=lambda r: (int(r["id"]) if str(r["id"]).isdigit() else r["id"], r["view"]))
    correct = [float(r["correct"]) for r in raw]
    n_samples = Counter(len(r["answers"]) for r in raw)
    clean = [c for c, r in zip(correct, raw, strict=True) if r["view"] == "clean"]
    print(f"{len(raw)} views, samples per view {dict(n_samples)}; greedy accuracy clean "
          f"{sum(clean) / max(1, len(clean)):.3f}")  # fmt: skip
    print(f"{'label score':29} {'AUROC':>6} {'clean':>6} {'noised':>6} {'ECE':>6} {'tenths AUROC clean':>19}")
    report: dict[str, Any] = {}
    best, best_scores = "", None
    for name, (first, fit) in CANDIDATES.items():
        rows = [with_k(r, first) for r in raw]
        scores = held_out(rows, fit)
        result = measures(scores, correct)
        for view in ("clean", "noised"):
            keep = [i for i, r in enumerate(rows) if r["view"] == view]
            result[view] = measures([scores[i] for i in keep], [correct[i] for i in keep])
        report[name] = result
        print(f"{name:29} {result['auroc']:6.3f} {result['clean']['auroc']:6.3f} {result['noised']['auroc']:6.3f} "
              f"{result['ece']:6.3f} {result['clean']['auroc_stated']:19.3f}")  # fmt: skip
        if name != "signals alone" and (not best or result["clean"]["auroc"] > report[best]["clean"]["auroc"]):
            best, best_scores = name, (first, fit)
    print(f"best on the clean views, held out: {best}")
    if out is None or best_scores is None:
        return
    first, fit = best_scores
    rows = [with_k(r, first) for r in raw]
    score = fit(rows)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"views": len(rows), "folds": 5, "held_out": report, "chosen": best, "rule": "best clean AUROC"}
    (out / "label_fit.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = (json.dumps({**r, "label": score(r), "label_method": best}) for r in rows)
    (out / "labels.jsonl").write_text("".join(line + "\n" for line in lines))
    print(f"labelled {len(rows)} views with {best}: {out / 'labels.jsonl'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
