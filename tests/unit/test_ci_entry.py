"""The CI entry point holds the no-skips rule on any runner: it sets CI=true itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_run_sets_ci_true_for_lint_and_tests(tmp_path: Path) -> None:
    log = tmp_path / "make.log"
    fake_make = tmp_path / "bin" / "make"
    fake_make.parent.mkdir()
    fake_make.write_text(f'#!/usr/bin/env bash\necho "CI=${{CI:-unset}} make $*" >> {log}\n')
    fake_make.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # a runner that does not set it
    env["PATH"] = f"{fake_make.parent}{os.pathsep}{env['PATH']}"
    subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, check=True, timeout=60)
    assert log.read_text().splitlines() == ["CI=true make lint", "CI=true make test"]
