"""The GPU recipe (not run here): its command parses with `catts train cdrl` and its accelerate config loads."""

from __future__ import annotations

import shlex
from pathlib import Path

from catts_graph.cli import build_parser

RECIPES = Path(__file__).resolve().parents[2] / "trainers" / "recipes"


def test_the_recipe_command_uses_real_options_with_the_papers_settings() -> None:
    script = (RECIPES / "cdrl_qwen2_5_vl_7b.sh").read_text().replace("\\\n", " ")
    launch = next(line for line in script.splitlines() if line.startswith("accelerate launch"))
    words = shlex.split(launch.replace('"$MODEL"', "M").replace('"$PAIRS"', "P").replace('"$OUT"', "O"))
    config_file = words[words.index("--config_file") + 1]
    assert (RECIPES.parents[1] / config_file).is_file()
    args = build_parser().parse_args(words[words.index("catts_graph") + 1 :])
    assert (args.train_command, args.generations, args.batch, args.lora_r) == ("cdrl", 4, 2, 0)  # G = 4, full FT


def test_the_accelerate_config_is_deepspeed_zero3_bf16_on_8_processes() -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(RECIPES / "accelerate_zero3_8gpu.yaml"))
    assert config.distributed_type == "DEEPSPEED" and config.mixed_precision == "bf16"
    assert config.num_processes == 8 and config.deepspeed_config["zero_stage"] == 3
