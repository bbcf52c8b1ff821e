"""Step-wise visual contrastive decoding (docs/method.md section 4.3; VCD), as pure maths plus a backend-agnostic
greedy loop.

At every step, with the same prefix, the model gives logits under the clean image i and the perturbed image i':
``mixed = (1 + alpha) * logit(y | i, q, prefix) - alpha * logit(y | i', q, prefix)``, and only tokens whose clean
probability is at least `beta` times the clean maximum stay candidates (the plausibility cut-off). Greedy decoding
picks ``argmax mixed`` among them.

Example:
    >>> import numpy as np
    >>> mixed = contrastive_logits(np.log([0.6, 0.3, 0.1]), np.log([0.9, 0.05, 0.05]), alpha=1.0, beta=0.2)
    >>> int(np.argmax(mixed))  # token 1 gains most from the clean image; token 2 is implausible
    1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
NextLogits = Callable[[Sequence[int]], tuple[FloatArray, FloatArray]]


def log_softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max()  # (V,)
    out: FloatArray = shifted - np.log(np.exp(shifted).sum())  # (V,)
    return out


def contrastive_logits(clean: FloatArray, noised: FloatArray, *, alpha: float, beta: float) -> FloatArray:
    """Mixed logits with implausible tokens set to -inf.

    Args:
        clean: (V,) logits given the clean image.
        noised: (V,) logits given the perturbed image, same prefix.
        alpha: contrast strength (0 = plain decoding).
        beta: plausibility cut-off in (0, 1]: keep tokens with p_clean >= beta * max p_clean.
    """
    clean = np.asarray(clean, dtype=np.float64)  # (V,)
    noised = np.asarray(noised, dtype=np.float64)  # (V,)
    mixed = (1.0 + alpha) * clean - alpha * noised  # (V,)
    clean_logp = log_softmax(clean)  # (V,)
    plausible = clean_logp >= np.log(beta) + clean_logp.max()  # (V,) bool
    out: FloatArray = np.where(plausible, mixed, -np.inf)  # (V,)
    return out


def contrastive_greedy(
    next_logits: NextLogits, *, alpha: float, beta: float, max_tokens: int, stop_ids: Sequence[int]
) -> list[int]:
    """Greedy decoding on contrastive logits; `next_logits(prefix)` returns (clean, noised) (V,) logits."""
    tokens: list[int] = []
    for _ in range(max_tokens):
        clean, noised = next_logits(tokens)
        token = int(np.argmax(contrastive_logits(clean, noised, alpha=alpha, beta=beta)))
        tokens.append(token)
        if token in stop_ids:
            break
    return tokens
