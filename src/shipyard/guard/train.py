"""Train the guard classifier heads offline and write `guard/data/guard_model.npz`.

    python -m shipyard.guard.train [--rebuild-corpus] [--c 4.0]

Only `data/train.jsonl` is read; the held-out `data/eval.jsonl` is for `shipyard guard bench` alone.
Each example is featurized exactly as the scanners see text at run time: normalized, decoded views
of encoded payloads, sentence windows. Hyper-parameters are chosen by 5-fold cross-validation on the
training set, never on the evaluation set.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from shipyard.guard import classifier
from shipyard.guard.data import corpus
from shipyard.guard.normalize import views


def examples(row: dict[str, Any]) -> list[str]:
    """The texts the classifier will see for this row at run time (the attack-bearing ones for attacks)."""
    text = row["text"]
    if row.get("history"):
        text = row["history"] + "\n" + text
    found = views(text)
    decoded = [v.text for v in found[1:]]
    chosen = decoded if row["label"] == 1 and decoded else [v.text for v in found]
    return [w for t in chosen for w in classifier.windows(t)]


def dataset(rows: list[dict[str, Any]], head: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts, labels, groups = [], [], []
    for i, row in enumerate(rows):
        positive = int(row["label"] == 1 and row["scanner"] == head)
        for t in examples(row) if positive else [v.text for v in views(row["text"])]:
            texts.append(t)
            labels.append(positive)
            groups.append(i)
    return texts, np.array(labels), np.array(groups)


def fit(x: Any, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight={0: 1.5, 1: 1.0}, max_iter=2000, solver="liblinear")
    model.fit(x, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def cross_validate(x: Any, y: np.ndarray, groups: np.ndarray, c: float) -> dict[str, float]:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold

    preds = np.zeros_like(y)
    for tr, te in GroupKFold(n_splits=5).split(x, y, groups):
        w, b = fit(x[tr], y[tr], c)
        preds[te] = (x[te] @ w + b) > 0
    fp = int(((preds == 1) & (y == 0)).sum())
    return {"f1": float(f1_score(y, preds)), "fpr": fp / max(1, int((y == 0).sum()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild-corpus", action="store_true", help="regenerate train.jsonl and eval.jsonl first")
    parser.add_argument("--c", type=float, nargs="*", default=[1.0, 4.0, 16.0], help="regularization grid")
    parser.add_argument("--char", action="store_true", help="add character 4-grams (about 2x slower to score)")
    args = parser.parse_args()
    if args.rebuild_corpus:
        corpus.main()
    rows = corpus.load("train.jsonl")
    heads: dict[str, tuple[np.ndarray, float]] = {}
    for head, scanner in (("injection", "prompt_injection"), ("toxicity", "toxicity")):
        started = time.perf_counter()
        texts, y, groups = dataset(rows, scanner)
        x = classifier.featurize(texts, args.char)
        scores = {c: cross_validate(x, y, groups, c) for c in args.c}
        best = max(scores, key=lambda c: scores[c]["f1"] - 2 * scores[c]["fpr"])
        heads[head] = fit(x, y, best)
        print(f"{head}: {len(texts)} windows ({int(y.sum())} positive); 5-fold CV on train: " +
              ", ".join(f"C={c}: F1 {s['f1']:.3f} FPR {s['fpr']:.3f}" for c, s in scores.items()) +
              f"; chose C={best} ({time.perf_counter() - started:.1f}s)")
    classifier.Classifier(heads, args.char).save()
    print(f"wrote {classifier.MODEL_PATH} ({classifier.MODEL_PATH.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
