"""CLI user errors: one clear line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def catts(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "catts_graph", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_help_teaches() -> None:
    result = catts("--help")
    assert result.returncode == 0
    for command in ("serve", "make-tiny-model", "demo"):
        assert command in result.stdout
    serve_help = catts("serve", "--help").stdout
    assert "examples:" in serve_help and "--max-logprobs 20" in serve_help


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("serve", "no/such/model/dir"), "no model folder"),
        (("serve", "."), "no config.json"),
    ],
)
def test_user_errors_exit_2_without_traceback(args: tuple[str, ...], message: str) -> None:
    result = catts(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_make_tiny_model_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    result = catts("make-tiny-model", str(tmp_path))
    assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr
