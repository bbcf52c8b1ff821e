"""What every example needs: where the model is (the only place the examples read the environment) and an image.

Set CATTS_BASE_URL (and optionally CATTS_MODEL) to a running vLLM server, e.g. one started with
`catts serve catts_graph/shapes/models/shapes-base`. Examples take an image path as their first argument;
without one they draw a ShapesVQA image.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def endpoint() -> tuple[str, str | None]:
    base_url = os.environ.get("CATTS_BASE_URL")
    if not base_url:
        sys.exit(
            "set CATTS_BASE_URL to a vLLM server's URL, e.g. the one "
            "`catts serve catts_graph/shapes/models/shapes-base` prints"
        )
    return base_url, os.environ.get("CATTS_MODEL")


def image_and_question() -> tuple[str, str]:
    if len(sys.argv) > 1:
        return sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "How many shapes are there?"
    from catts_graph.shapes.world import make_item

    item = make_item(seed=1, index=0)
    path = Path(tempfile.mkdtemp()) / f"{item.id}.png"
    item.render().save(path)
    return str(path), item.question
