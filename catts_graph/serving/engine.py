"""`TransformersEngine`: the model protocol in-process with transformers, plus true step-wise contrastive decoding.

For research use: it runs the model itself (no server), so it can do what a stock vLLM server cannot, namely
decode token by token with two forward passes per step (clean and perturbed image, same prefix; see
`nodes.contrastive`). Log-probs are raw (before temperature), like vLLM's default. Calls run in a worker thread,
one at a time. Each contrastive step re-runs the full prefix (no KV cache): simple and exact, fine for small models
and short answers.

Example:
    >>> engine = TransformersEngine("catts_graph/shapes/models/shapes-base")  # doctest: +SKIP
    >>> sample = asyncio.run(engine.contrastive_generate(messages, noised, alpha=0.5, beta=0.1))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from catts_graph.serving.errors import ScoringTemplateError
from nodes.contrastive import contrastive_greedy
from nodes.images import load_image
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, TokenLogprob


def answer_turn(processor: Any, chat: list[dict[str, Any]], answer: str) -> tuple[str, str]:
    """The generation prompt of `chat`, and `chat` with `answer` as an open assistant turn as the chat template
    renders it (``continue_final_message``), which is what vLLM scores and what the model should learn to write:
    a template may put a space or a marker between the turn's opening and its text."""
    prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    turn = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
    text = processor.apply_chat_template([*chat, turn], continue_final_message=True, tokenize=False)
    if not text.startswith(prompt):
        raise ScoringTemplateError
    return prompt, text


class TransformersEngine:
    """A `VisionLanguageModel` (and contrastive decoder) running a saved model folder in this process."""

    def __init__(self, model_dir: str | Path) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model_dir = Path(model_dir)
        self.processor = AutoProcessor.from_pretrained(self.model_dir)
        self.model = AutoModelForImageTextToText.from_pretrained(self.model_dir, dtype=torch.float32).eval()
        self.eos_id = int(self.processor.tokenizer.convert_tokens_to_ids(self.processor.tokenizer.eos_token))
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.model_dir.name

    # -- encoding ---------------------------------------------------------------------------------------------
    def _encode(
        self, messages: Sequence[Message], *, answer: str | None = None, images: Sequence[str] | None = None
    ) -> Any:
        chat: list[dict[str, Any]] = []
        pil: list[Any] = []
        for i, message in enumerate(messages):
            urls = images if (images is not None and i == 0) else message.images
            pil.extend(load_image(u) for u in urls)
            parts: list[dict[str, Any]] = [{"type": "image"} for _ in urls]
            chat.append({"role": message.role, "content": [*parts, {"type": "text", "text": message.text}]})
        if answer is None:
            prompt = self.processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            return self.processor(images=pil or None, text=[prompt], return_tensors="pt"), None
        prompt, text = answer_turn(self.processor, chat, answer)
        enc = self.processor(images=pil or None, text=[text], return_tensors="pt")
        prefix = self.processor(images=pil or None, text=[prompt])["input_ids"][0]
        if enc["input_ids"][0][: len(prefix)].tolist() != list(prefix) or len(enc["input_ids"][0]) <= len(prefix):
            raise ScoringTemplateError
        return enc, len(prefix)

    def _logits(self, enc: Any) -> Any:
        import torch

        with torch.no_grad():
            return self.model(**enc).logits[0].float()  # (L, V)

    # -- protocol ---------------------------------------------------------------------------------------------
    async def sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        async with self._lock:
            return await asyncio.to_thread(self._sample, messages, params)

    def _sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        import torch

        enc, _ = self._encode(messages)
        n_prompt = enc["input_ids"].shape[1]
        greedy = params.temperature == 0
        with torch.no_grad():
            out = self.model.generate(
                **enc,
                do_sample=not greedy,
                temperature=None if greedy else params.temperature,
                top_k=None if greedy else (params.top_k or 0),
                top_p=None if greedy else params.top_p,
                min_p=None if greedy or not params.min_p else params.min_p,
                max_new_tokens=params.max_tokens,
                num_return_sequences=params.n,
                output_logits=True,
                return_dict_in_generate=True,
                eos_token_id=self.eos_id,
                pad_token_id=self.processor.tokenizer.pad_token_id,
            )
        logprobs = torch.log_softmax(torch.stack(out.logits, dim=1).float(), dim=-1)  # (n, T, V) raw log-probs
        samples = []
        for row in range(params.n):
            ids = out.sequences[row, n_prompt:].tolist()  # (T,)
            tokens = []
            finish = "length"
            for t, token_id in enumerate(ids):
                step = logprobs[row, t]  # (V,)
                top, top_tokens = self._top(step, params.top_logprobs)
                tokens.append(
                    TokenLogprob(self.processor.tokenizer.decode([token_id]), float(step[token_id]), top, top_tokens)
                )
                if token_id == self.eos_id:
                    finish = "stop"
                    break
            text_ids = [i for i in ids[: len(tokens)] if i != self.eos_id]
            samples.append(Sample(self.processor.tokenizer.decode(text_ids), tuple(tokens), finish, n_prompt))
        return samples

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        async with self._lock:
            return await asyncio.to_thread(self._score, messages, answer, top_logprobs)

    def _score(self, messages: Sequence[Message], answer: str, top_logprobs: int) -> AnswerScore:
        import torch

        enc, n_prompt = self._encode(messages, answer=answer)
        ids = enc["input_ids"][0]  # (L,)
        logprobs = torch.log_softmax(self._logits(enc)[:-1], dim=-1)  # (L-1, V): position t predicts token t+1
        positions = range(n_prompt, len(ids))
        chosen = [float(logprobs[p - 1, ids[p]]) for p in positions]
        tops = [self._top(logprobs[p - 1], top_logprobs) for p in positions] if top_logprobs else []
        tokens = tuple(self.processor.tokenizer.decode([int(ids[p])]) for p in positions)
        return AnswerScore(tokens, tuple(chosen), int(n_prompt), tuple(t[0] for t in tops), tuple(t[1] for t in tops))

    def _top(self, step: Any, k: int) -> tuple[tuple[float, ...], tuple[str, ...]]:
        """The k largest log-probs of one position's (V,) log-probs, and their tokens."""
        import torch

        if not k:
            return (), ()
        top = torch.topk(step, k)
        decoded = self.processor.tokenizer.batch_decode([[i] for i in top.indices.tolist()])
        return tuple(top.values.tolist()), tuple(decoded)

    # -- step-wise contrastive decoding -----------------------------------------------------------------------
    async def contrastive_generate(
        self,
        messages: Sequence[Message],
        noised_images: Sequence[str],
        *,
        alpha: float,
        beta: float,
        max_tokens: int = 64,
    ) -> Sample:
        """Greedy decoding on ``(1+alpha) logit(y|i) - alpha logit(y|i')`` with the plausibility cut-off `beta`.

        `noised_images` replace the first turn's images for the contrast branch; the text is the same.
        """
        async with self._lock:
            return await asyncio.to_thread(self._contrastive, messages, noised_images, alpha, beta, max_tokens)

    def _contrastive(
        self, messages: Sequence[Message], noised: Sequence[str], alpha: float, beta: float, max_tokens: int
    ) -> Sample:
        import torch

        clean_enc, _ = self._encode(messages)
        noised_enc, _ = self._encode(messages, images=noised)
        n_prompt = clean_enc["input_ids"].shape[1]

        def extend(enc: Any, tokens: Sequence[int]) -> Any:
            extra = torch.tensor([tokens], dtype=enc["input_ids"].dtype)  # (1, t)
            out = dict(enc)
            out["input_ids"] = torch.cat([enc["input_ids"], extra], dim=1)  # (1, L + t)
            out["attention_mask"] = torch.ones_like(out["input_ids"])  # (1, L + t)
            if "mm_token_type_ids" in enc:
                out["mm_token_type_ids"] = torch.cat([enc["mm_token_type_ids"], torch.zeros_like(extra)], dim=1)
            return out

        def next_logits(tokens: Sequence[int]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
            clean = self._logits(extend(clean_enc, tokens))[-1]  # (V,) last position, clean image
            noisy = self._logits(extend(noised_enc, tokens))[-1]  # (V,) same prefix, perturbed image
            return clean.double().numpy(), noisy.double().numpy()

        ids = contrastive_greedy(next_logits, alpha=alpha, beta=beta, max_tokens=max_tokens, stop_ids=[self.eos_id])
        text_ids = [i for i in ids if i != self.eos_id]
        tokens = tuple(TokenLogprob(self.processor.tokenizer.decode([i]), math.nan) for i in ids)
        finish = "stop" if ids and ids[-1] == self.eos_id else "length"
        return Sample(self.processor.tokenizer.decode(text_ids), tokens, finish, int(n_prompt))
