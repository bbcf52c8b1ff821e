"""`catts ARGS` run in the test's own process: the command line's `main` with its output captured, as a
`CompletedProcess`. The same parser, handlers and error reporting as `python -m catts_graph` without paying an
interpreter start and the imports for every case (`test_cli.py` keeps one real process for the entry point)."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess

from catts_graph.cli import main


def catts(*args: str) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    handler = signal.getsignal(signal.SIGTERM)  # `main` makes SIGTERM unwind like Ctrl-C: not the test runner's
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse's usage errors and --help
                code = exit.code if isinstance(exit.code, int) else 2 if exit.code else 0
    finally:
        signal.signal(signal.SIGTERM, handler)
    return subprocess.CompletedProcess(["catts", *args], code, out.getvalue(), err.getvalue())
