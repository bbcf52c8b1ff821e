"""Lab: what keeping each step's top tokens costs the client's parse (`samples_from_response`), against the values
alone as before, on one synthetic sampling response (N samples x T tokens x k + 1 top entries, shuffled as vLLM
lists them: the sampled token first).

    python docs/experiments/perf/top_tokens_parse.py [N] [T] [REPEATS]
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.serving.vllm_client import samples_from_response
from catts_graph.serving.wire import ChatCompletionResponse
from nodes.protocol import Sample, TokenLogprob


def response(n: int, t: int, k: int = 20) -> bytes:
    rng = random.Random(0)
    choices = []
    for index in range(n):
        content = []
        for _ in range(t):
            top = sorted((-rng.expovariate(0.5) for _ in range(k + 1)), reverse=True)
            top = [top[rng.randrange(k + 1)], *top]  # the sampled token first, then the ranks
            entries = [{"token": f"w{rng.randrange(500)}", "logprob": lp, "bytes": [119, 49]} for lp in top[: k + 1]]
            content.append({"token": entries[0]["token"], "logprob": top[0], "bytes": [119], "top_logprobs": entries})
        choices.append({"index": index, "message": {"content": "x"}, "finish_reason": "stop",
                        "logprobs": {"content": content}})  # fmt: skip
    return json.dumps({"model": "m", "choices": choices, "usage": {"prompt_tokens": 9}}).encode()


def values_only(parsed: ChatCompletionResponse, k: int) -> list[Sample]:
    """The parse before top tokens were kept."""
    samples = []
    for choice in parsed.choices:
        content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
        tokens = tuple(
            TokenLogprob(t.token, t.logprob, tuple(sorted((e.logprob for e in t.top_logprobs), reverse=True)[:k]))
            for t in content
        )
        samples.append(Sample(choice.message.content or "", tokens, choice.finish_reason, 9))
    return samples


def main(n: int, t: int, repeats: int) -> None:
    raw = response(n, t)
    timings: dict[str, list[float]] = {"validate": [], "values only": [], "values + tokens": []}
    for _ in range(repeats):  # interleaved, so a busy machine slows all three alike
        started = time.perf_counter()
        parsed = ChatCompletionResponse.model_validate_json(raw)
        timings["validate"].append(time.perf_counter() - started)
        started = time.perf_counter()
        values_only(parsed, 20)
        timings["values only"].append(time.perf_counter() - started)
        started = time.perf_counter()
        samples_from_response(parsed, 20)
        timings["values + tokens"].append(time.perf_counter() - started)
    for name, values in timings.items():
        ordered = sorted(values)
        print(f"{name:16} min {1000 * ordered[0]:.2f} ms, median {1000 * ordered[len(values) // 2]:.2f} ms "
              f"({n} x {t} tokens, {repeats} runs)")  # fmt: skip


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [8, 30, 50][len(args) :]))
