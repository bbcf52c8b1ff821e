"""How the command line turns bad values into one clear line and exit status 2, at parse time where it can.

- `CommandParser`: the parser class of `catts` and every subcommand; a parse error prints one line naming the option
  and pointing to ``--help`` (not the whole usage block).
- `positive_int`: an argparse type for counts that must be at least 1 (``--concurrency``, ``--items``).
- `add_min_p_option`: ``--min-p`` beside every ``--temperature``, refused at parse time outside [0, 1).
- `validated_config`: a `CATTSConfig` from option values; a value the config refuses becomes an `InvalidInputError`
  that names the option it came from (``--temperature -1.0: ...``), not a pydantic traceback.

Example:
    >>> positive_int("4")
    4
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import ValidationError

from catts_graph.graph.config import CATTSConfig
from nodes.errors import InvalidInputError

EXIT_USER_ERROR = 2


class CommandParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line: ``catts eval: error: argument --concurrency: ... (see ...)``."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1; give a whole number >= 1")
    return value


def min_p_value(text: str) -> float:
    """An argparse type: a min-p cut-off, a number in [0, 1) (0 = off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{value:g} is outside [0, 1); give 0 (off) or a cut-off such as 0.05")
    return value


def add_min_p_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--min-p P`, beside a command's `--temperature`: keep only tokens at least P times as likely as the most
    likely one (`SamplingConfig.min_p`)."""
    parser.add_argument(
        "--min-p",
        type=min_p_value,
        default=0.0,
        metavar="P",
        help="min-p sampling: keep only tokens at least P times as likely as the most likely one, 0 <= P < 1 "
        "(default: %(default)s, off)",
    )


def validated_config(values: Mapping[str, Any], options: Mapping[str, str]) -> CATTSConfig:
    """`CATTSConfig.model_validate(values)`, its first refusal raised as `InvalidInputError` naming the command-line
    option: `options` maps a field's dotted path (``sampling.temperature``) to that option (``--temperature``)."""
    try:
        return CATTSConfig.model_validate(values)
    except ValidationError as e:
        error = e.errors()[0]
        path = ".".join(str(part) for part in error["loc"])
        option = options.get(path, path)
        message = error["msg"][:1].lower() + error["msg"][1:]
        raise InvalidInputError(f"{option} {error.get('input')!r}: {message}.") from None
