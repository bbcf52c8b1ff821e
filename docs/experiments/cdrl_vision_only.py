"""Lab: the pathwise perception term with its gradient through the vision side only (tower and merger).

    python docs/experiments/cdrl_vision_only.py runs/cdrl/occ-vision 100 '{"pairs": "runs/cdrl/pairs-occ"}'

The runs of cdrl-v2.md that move the confidence drop damage the language model's counting (it learns to doubt that a
list has ended). Here the term -w * mean tanh(beta * (C - C')) is computed with every parameter outside the vision
tower detached (`torch.func.functional_call`), so only what the model *sees* can change to satisfy it; the paper's
rewards still train the whole model. Same data, dev set and defaults as `cdrl_levers.py` (w = 1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cdrl_levers  # the lab's data, dev set and defaults


def main() -> None:
    import torch
    from trl import GRPOTrainer

    from trainers.cdrl import trainer as cdrl

    class VisionOnlyPerception(cdrl.CDRLTrainer):
        def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
            loss = GRPOTrainer._compute_loss(self, model, inputs)  # the paper's rewards, every parameter
            frozen = {n: p.detach() for n, p in model.named_parameters() if "visual" not in n}

            def language_frozen(**kwargs: Any) -> Any:
                return torch.func.functional_call(model, frozen, args=(), kwargs=kwargs, strict=False)

            valid = (inputs["completion_mask"].sum(dim=1) > 0).float()  # (B,)
            tokens = (inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], inputs["completion_mask"])
            noised_vision = {
                "pixel_values": torch.cat(inputs["noised_pixel_values"]),  # (sum rows, dim)
                "image_grid_thw": torch.cat(inputs["noised_image_grid_thw"]),  # (B, 3)
                "mm_token_type_ids": inputs["mm_token_type_ids"],  # (B, P + T)
            }
            clean = self._forced_confidence(language_frozen, *tokens, inputs)  # (B,) C, gradient: vision only
            noised = self._forced_confidence(language_frozen, *tokens, noised_vision)  # (B,) C'
            total = (torch.tanh(self.args.perception_beta * (clean - noised)) * valid).sum()  # ()
            weight = self.args.perception_loss_weight
            self._metrics["train"]["cdrl/perception_loss"].append(-weight * float(total.detach() / valid.sum()))
            return loss - weight * total / valid.sum().clamp(min=1.0)

    cdrl.CDRLTrainer = VisionOnlyPerception  # train_cdrl builds the trainer by this name
    # gradient checkpointing's recomputation rejects the forward with detached parameters
    cdrl_levers.main({"perception_loss_weight": 1.0, "gradient_checkpointing": False})


if __name__ == "__main__":
    main()
