"""Teacher-forced scoring for CDRL: per-position log-probabilities, NMLP confidence, and the dev-set summary.

The trainer scores text it (or a rollout) already generated; these functions keep that scoring identical to the
generating model's, so C, C' and the dev metrics are what vLLM would report for the same text.

Example:
    >>> import torch
    >>> completion_mask(torch.tensor([[5, 2, 7]]), eos_token_id=2).tolist()
    [[1, 1, 0]]
"""

from __future__ import annotations

from typing import Any

import torch

from catts_graph.evaluation.metrics import auroc, brier, ece

# The processor fields a VLM's forward pass reads besides the tokens (the union over the families TRL and vLLM serve):
IMAGE_FIELDS = ("pixel_values", "image_grid_thw", "pixel_attention_mask", "image_sizes")
TOKEN_TYPE_FIELDS = ("mm_token_type_ids", "token_type_ids")  # one entry per token: image tokens marked 1


def vision_inputs(vision: Any, prompt_length: int, completion_length: int) -> dict[str, Any]:
    """The image fields of `vision` (a processor output or a TRL batch) that the model's forward needs, with the
    per-token type fields extended over the completion with zeros when they cover the prompt only.

    Qwen-VL models need ``mm_token_type_ids`` (without them transformers falls back to 1-D positions for the image
    tokens: a different model from the one that generates and that vLLM serves); Gemma 3 reads ``token_type_ids``
    (image tokens attend to each other both ways); Idefics3 ``pixel_attention_mask``; LLaVA-OneVision ``image_sizes``.
    """
    fields = {name: vision[name] for name in IMAGE_FIELDS if name in vision}
    for name in TOKEN_TYPE_FIELDS:
        if name in vision:
            types = vision[name]  # (B, P) or (B, P + T)
            if types.shape[1] == prompt_length:
                types = torch.cat([types, types.new_zeros((types.shape[0], completion_length))], dim=1)  # (B, P + T)
            fields[name] = types
    return fields


def forced_log_probs(
    model: Any, prompt_ids: Any, prompt_mask: Any, completion_ids: Any, completion_mask: Any, vision: Any
) -> torch.Tensor:
    """Log-probabilities over the vocabulary at each completion position, teacher-forced after the prompt.

    `vision` holds the processor's image fields (see `vision_inputs`); they must all reach the model.
    """
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)  # (B, P + T)
    logits = model(
        input_ids=input_ids,
        attention_mask=torch.cat([prompt_mask, completion_mask], dim=1),
        **vision_inputs(vision, prompt_ids.shape[1], completion_ids.shape[1]),
    ).logits[:, prompt_ids.shape[1] - 1 : -1]  # (B, T, V): position t predicts completion token t
    return torch.log_softmax(logits.float(), dim=-1)  # (B, T, V)


def nmlp(log_probs: torch.Tensor, mask: torch.Tensor, top_k: int) -> torch.Tensor:
    """Response NMLP confidence: C = mean_t c_t over unmasked tokens, c_t = -mean of the top-k log-probs at t."""
    per_token = -log_probs.topk(top_k, dim=-1).values.mean(dim=-1)  # (B, T)
    weights = mask.float()  # (B, T)
    return (per_token * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B,)


def mean_token_log_prob(log_probs: torch.Tensor, completion_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean log-prob of each row's own tokens over unmasked positions; its exp is the probability confidence."""
    chosen = log_probs.gather(-1, completion_ids[..., None]).squeeze(-1)  # (B, T)
    weights = mask.float()  # (B, T)
    return (chosen * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B,)


def completion_mask(completion_ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """1 up to and including the first end-of-sequence token, 0 after it (TRL's rule for rollouts)."""
    is_eos = completion_ids == eos_token_id  # (B, T)
    after = (is_eos.cumsum(dim=1) - is_eos.long()) > 0  # (B, T): strictly after the first eos
    return (~after).long()  # (B, T)


def dev_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Dev-set summary: greedy accuracy, ECE, AUROC and Brier of exp(mean log-prob), mean NMLP C, C - C' (its clean
    answer forced on the noised twin) and the own-answer drop (its own answer to the twin, as `catts probe` reads);
    and the mean of any further value the rows carry (a grounding run: box IoU, share of well-formed responses)."""
    correct = [r["correct"] for r in rows]
    probability = [r["probability"] for r in rows]
    known = {"correct", "probability", "clean_confidence", "noised_confidence", "own_noised_confidence"}
    extra = {key: sum(r[key] for r in rows) / len(rows) for key in rows[0] if key not in known} if rows else {}
    return {
        **extra,
        "accuracy": sum(correct) / len(rows),
        "ece": ece(probability, correct),
        "auroc": auroc(probability, correct),
        "brier": brier(probability, correct),
        "clean_confidence": sum(r["clean_confidence"] for r in rows) / len(rows),
        "confidence_drop": sum(r["clean_confidence"] - r["noised_confidence"] for r in rows) / len(rows),
        "own_confidence_drop": sum(r["clean_confidence"] - r["own_noised_confidence"] for r in rows) / len(rows),
    }
