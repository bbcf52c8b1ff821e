"""`catts train cdrl` with fixed rollouts, recording every rollout's rewards: run once plainly and once under
``accelerate launch`` by tests/unit/test_cdrl_processes.py.

Usage: ``python cdrl_fixed_rollouts.py RECORD_DIR CATTS_ARG...``. Rollout j of a prompt's group is always the text
``TEXTS[j]``, whichever process holds it, so one process and many see the same rollouts and must reward them alike.
The main process appends each step's gathered rollouts to ``RECORD_DIR/rollouts.jsonl``; every process writes how
many dev items it answered to ``RECORD_DIR/dev-RANK.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from accelerate.utils import gather_object

import trainers.cdrl.rewards
import trainers.cdrl.trainer
from catts_graph.cli import main

TEXTS = ("a red circle. \\boxed{2}", "\\boxed{3}", "two squares, so \\boxed{1}", "blue \\boxed{2} \\boxed{2}")


class FixedRollouts(trainers.cdrl.trainer.CDRLTrainer):
    """A CDRL trainer whose rollouts are ``TEXTS`` by position in the group instead of samples of the policy."""

    record: Path
    dev_rows = 0

    def _generate_single_turn(
        self, prompt_ids: Any, images: Any, multimodal_fields: Any, num_generations: int, has_tool_images: bool = False
    ) -> tuple[list[list[int]], None]:
        first = self.accelerator.process_index * len(prompt_ids)  # this process's offset in the gathered batch
        tokenizer = self.processing_class.tokenizer
        texts = [TEXTS[(first + i) % num_generations] for i in range(len(prompt_ids))]
        ids = [[*tokenizer.encode(text, add_special_tokens=False), self.eos_token_ids[0]] for text in texts]
        return ids, None

    def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # (N, 4), gathered
        ids = gather_object([x["id"] for x in inputs])
        texts = gather_object(trainers.cdrl.rewards.completion_texts(completions))
        if self.accelerator.is_main_process:
            with (self.record / "rollouts.jsonl").open("a") as f:
                for i, text, row in zip(ids, texts, rewards.tolist(), strict=True):
                    line = {"step": self.state.global_step, "id": i, "completion": text, "rewards": row}
                    f.write(json.dumps(line) + "\n")
        return rewards

    def _dev_row(self, model: Any, example: dict[str, Any]) -> dict[str, float]:
        FixedRollouts.dev_rows += 1
        return super()._dev_row(model, example)


if __name__ == "__main__":
    record = Path(sys.argv[1])
    FixedRollouts.record = record
    trainers.cdrl.trainer.CDRLTrainer = FixedRollouts  # type: ignore[misc]  # train_cdrl looks it up when it runs
    rank = os.environ.get("RANK", "0")  # read before `main`: it closes the process group
    code = main(sys.argv[2:])
    (record / f"dev-{rank}.json").write_text(json.dumps({"rows": FixedRollouts.dev_rows}))
    sys.exit(code)
