"""Supervised fine-tuning of a small Qwen2.5-VL on (image, conversation, answer) examples, on CPU or GPU.

A plain PyTorch loop (AdamW, warm-up then cosine decay, gradient clipping) over batches built by the model's own
processor and chat template, so training sees exactly the tokens vLLM serves. The loss covers the final assistant
answer and its end-of-turn token only, or, where an example sets `loss_from`, only the answer's tail from that
character on (e.g. a statement appended to a response the model wrote itself, the response kept as context); with
`SFTConfig.anchor` the context answer tokens are then held to the start model's distribution by a KL term, as the
new tokens, learned without any negative, otherwise leak into the responses themselves. For models that write
location tokens, `SFTConfig.box_attention` and `box_readout` add `trainers.box_supervision`'s terms.
Examples come from a generator function, so synthetic worlds can draw fresh
data every step. The saved folder (weights, tokenizer, processor, `sft_log.jsonl`) is served by vLLM as it is.

Example:
    >>> def examples(rng):  # doctest: +SKIP
    ...     yield SFTExample(image, [Message.user("How many shapes are there?")], "two. \\\\boxed{2}")
    >>> sft_train("models/tiny", examples, "models/tiny-sft", SFTConfig(steps=200))  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from catts_graph.serving.engine import answer_turn
from nodes.protocol import Message
from trainers.box_supervision import BoxSupervision


@dataclass(frozen=True)
class SFTExample:
    """One training conversation: the image(s) of the first user turn, the turns, and the assistant answer."""

    images: Sequence[Image.Image]
    messages: Sequence[Message]  # text turns; images are placed in the first user turn
    answer: str
    loss_from: int = 0  # characters of `answer` that are context only: the loss starts at answer[loss_from:]

    def __post_init__(self) -> None:
        if self.loss_from < 0 or (self.loss_from and self.loss_from >= len(self.answer)):
            raise ValueError(f"loss_from={self.loss_from} must lie in [0, {len(self.answer)}): the loss needs a tail")


@dataclass(frozen=True)
class SFTConfig:
    """Training knobs. Defaults suit the small CPU models; `steps` and `batch_size` set the budget."""

    steps: int = 500
    batch_size: int = 16
    learning_rate: float = 1.5e-3
    warmup_fraction: float = 0.04
    min_lr_fraction: float = 0.1  # cosine decays to this fraction of the peak
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 20
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    frozen: tuple[str, ...] = ()  # parameters whose name contains one of these stay as loaded, e.g. "visual.blocks"
    anchor: float = 0.0  # weight of KL(start model || model) on the context answer tokens (before `loss_from`)
    box_attention: float = 0.0  # weight of `trainers.box_supervision`'s attention term (location-token models)
    box_readout: float = 0.0  # weight of its readout term (location-token models)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError("warmup_fraction must be in [0, 1)")
        if min(self.anchor, self.box_attention, self.box_readout) < 0:
            raise ValueError("anchor, box_attention and box_readout must be >= 0")


@dataclass
class SFTResult:
    out_dir: Path
    steps: int
    final_loss: float
    seconds: float
    log: list[dict[str, float]] = field(default_factory=list)


def learning_rate(step: int, config: SFTConfig) -> float:
    """Linear warm-up, then cosine decay to `min_lr_fraction` of the peak."""
    warmup = max(1, int(config.steps * config.warmup_fraction))
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    floor = config.min_lr_fraction
    return config.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _chat(example: SFTExample) -> list[dict[str, Any]]:
    """HF chat messages with one image placeholder per image in the first user turn."""
    chat: list[dict[str, Any]] = []
    first_user = True
    for message in example.messages:
        if message.role == "user" and first_user:
            parts: list[dict[str, Any]] = [{"type": "image"} for _ in example.images]
            chat.append({"role": "user", "content": [*parts, {"type": "text", "text": message.text}]})
            first_user = False
        else:
            chat.append({"role": message.role, "content": message.text})
    return chat


def collate(processor: Any, batch: Sequence[SFTExample]) -> dict[str, Any]:
    """Token ids, pixels and labels for a batch; labels cover only the final answer (from its `loss_from`
    character on) and its end-of-turn token."""
    end = processor.tokenizer.eos_token  # "<|im_end|>" for ChatML
    chats = [_chat(ex) for ex in batch]
    texts = [answer_turn(processor, chat, ex.answer)[1] + end for chat, ex in zip(chats, batch, strict=True)]
    images = [list(ex.images) for ex in batch] if any(ex.images for ex in batch) else None  # one list per text
    enc = processor(images=images, text=texts, padding=True, padding_side="right", return_tensors="pt")
    labels = enc["input_ids"].clone()  # (B, L)
    context = enc["attention_mask"].clone() * 0  # (B, L) 1 where a token is the answer's context part
    for i, (chat, ex) in enumerate(zip(chats, batch, strict=True)):
        ids = enc["input_ids"][i].tolist()
        n_context = _context_length(processor, chat, ex, ids)
        labels[i, :n_context] = -100  # no loss on the prompt and the answer's context part
        if ex.loss_from:
            prompt = answer_turn(processor, chat, ex.answer)[0]
            context[i, _shared_length(processor, ex, prompt, ids) : n_context] = 1
    labels[enc["attention_mask"] == 0] = -100  # (B, L) no loss on padding
    enc["labels"] = labels
    enc["answer_context"] = context
    return dict(enc)


def _context_length(processor: Any, chat: list[dict[str, Any]], example: SFTExample, ids: list[int]) -> int:
    """Tokens of `ids` (the whole rendered example) before the loss starts: the prompt, and the answer's first
    `loss_from` characters."""
    if example.loss_from:
        context = answer_turn(processor, chat, example.answer[: example.loss_from])[1]
    else:
        context = answer_turn(processor, chat, example.answer)[0]  # the generation prompt
    return _shared_length(processor, example, context, ids)


def _shared_length(processor: Any, example: SFTExample, text: str, ids: list[int]) -> int:
    """How many leading tokens `text` (a prefix of the example's rendering) shares with `ids`: a token that merges
    across the boundary counts to the part after it, so it is learned rather than skipped."""
    prefix = processor(images=list(example.images) or None, text=[text])["input_ids"][0]
    shared = 0
    for a, b in zip(prefix, ids, strict=False):
        if int(a) != b:
            break
        shared += 1
    return shared


def anchor_kl(logits: Any, reference_logits: Any, context: Any) -> Any:
    """Mean KL(reference || model) of the next-token distributions that predict the context tokens (B, L) marks;
    0 where none are marked."""
    import torch

    predicts = context[:, 1:].bool()  # (B, L-1) position t predicts token t + 1
    if not predicts.any():
        return logits.sum() * 0.0
    log_p = torch.log_softmax(logits[:, :-1][predicts].float(), dim=-1)  # (T, V)
    log_q = torch.log_softmax(reference_logits[:, :-1][predicts].float(), dim=-1)  # (T, V)
    return (log_q.exp() * (log_q - log_p)).sum(-1).mean()


def load_for_training(model_dir: str | Path, config: SFTConfig) -> tuple[Any, Any, random.Random]:
    """The processor, the fp32 model and the data rng of a run, with torch's threads and seed set from `config`."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    return processor, model, random.Random(config.seed)


def sft_train(
    model_dir: str | Path,
    examples: Callable[[random.Random], Iterator[SFTExample]],
    out_dir: str | Path,
    config: SFTConfig = SFTConfig(),
    *,
    progress: bool = True,
) -> SFTResult:
    """Fine-tune the model in `model_dir` on examples drawn from `examples(rng)`, save to `out_dir`."""
    import torch

    processor, model, rng = load_for_training(model_dir, config)
    model.train()
    trained = []
    for name, param in model.named_parameters():
        param.requires_grad_(not any(part in name for part in config.frozen))
        if param.requires_grad:
            trained.append((name, param))
    if len(trained) == len(list(model.parameters())) and config.frozen:
        raise ValueError(f"frozen={config.frozen} matches no parameter name; see model.named_parameters()")
    decay = [p for n, p in trained if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in trained if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
        betas=(0.9, 0.98),
    )
    reference = None
    if config.anchor > 0:  # the start model, frozen: the answers' context tokens are held to its distribution
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    boxes = None
    if config.box_attention or config.box_readout:
        boxes = BoxSupervision.of(model, processor, attention=config.box_attention, readout=config.box_readout)
        optimizer.add_param_group({"params": boxes.parameters(), "weight_decay": 0.0})
    stream = examples(rng)
    log: list[dict[str, float]] = []
    ema = math.nan
    started = time.perf_counter()
    bar = tqdm(range(config.steps), desc="sft", disable=not progress, unit="step")
    for step in bar:
        batch = [next(stream) for _ in range(config.batch_size)]
        enc = collate(processor, batch)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        context = enc.pop("answer_context")  # (B, L)
        out = model(**enc, **({} if boxes is None else boxes.forward_options()))
        loss = out.loss  # mean cross-entropy over answer tokens
        terms = {} if boxes is None else boxes.losses(out, enc)
        loss = loss + sum(terms.values())
        if reference is not None:
            with torch.no_grad():
                reference_logits = reference(**{k: v for k, v in enc.items() if k != "labels"}).logits
            loss = loss + config.anchor * anchor_kl(out.logits, reference_logits, context)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in trained], config.grad_clip)
        optimizer.step()
        value = float(loss.detach())
        ema = value if math.isnan(ema) else 0.95 * ema + 0.05 * value
        bar.set_postfix(loss=f"{ema:.3f}")
        if step % config.log_every == 0 or step == config.steps - 1:
            log.append({"step": step, "loss": value, "loss_ema": ema, "lr": learning_rate(step, config),
                        "seconds": time.perf_counter() - started}
                       | {name: float(term.detach()) for name, term in terms.items()})  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    if boxes is not None:
        model.set_attn_implementation(boxes.restore)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    with (out / "sft_log.jsonl").open("w") as f:
        for row in log:
            f.write(json.dumps(row) + "\n")
    (out / "sft_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    return SFTResult(out, config.steps, ema, time.perf_counter() - started, log)


def warm_up(
    model_dir: str | Path,
    examples: Callable[[random.Random], Iterator[SFTExample]],
    out_dir: str | Path,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    frozen: tuple[str, ...] = (),
    anchor: float = 0.0,
) -> Path:
    """A GRPO run's SFT warm-up (a short cosine schedule, 2% warm-up) into ``OUT-sft``, the parameters named by
    `frozen` kept as loaded, `anchor` weighing the KL to the start model on context answer tokens; returns that
    folder."""
    config = SFTConfig(
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_fraction=0.02,
        seed=seed,
        frozen=frozen,
        anchor=anchor,
    )
    out = Path(out_dir)
    return sft_train(model_dir, examples, out.with_name(out.name + "-sft"), config).out_dir
