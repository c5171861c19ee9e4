"""The ``sleepfm`` command-line interface.

Each sub-command lives in its own module ``sleepfm_engine/cli/cmd_<name>.py`` that defines
``register(subparsers)``; the module adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit code. Modules are discovered here so that features add
commands without editing a central list.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import logging
import os
import re
import warnings
import pkgutil
import sys
from pathlib import Path
from typing import Iterable

from ..errors import SleepFMError


# reST roles and literals (``x``, :func:`x`, :class:`~a.b`) that docstrings reused as help carry.
_RST_MARKUP = re.compile(r":[a-z]+:`([^`]+)`|``([^`]+)``")


def _unmarked(m: re.Match) -> str:
    if m.group(2) is not None:
        return m.group(2)
    target = m.group(1)
    # Sphinx shows a "~"-prefixed target by its last component only.
    return target[1:].rsplit(".", 1)[-1] if target.startswith("~") else target


def plain_text(text: str) -> str:
    """``text`` without reST markup, as a terminal should show it."""
    return _RST_MARKUP.sub(_unmarked, text)


class HelpFormatter(argparse.HelpFormatter):
    """Help without reST markup, and with each option's default unless its help already says it."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain_text(text))

    @staticmethod
    def _shows_default(action: argparse.Action) -> bool:
        # Identity, not equality: a default of 0 is shown, a flag's False is not.
        return bool(action.option_strings) and not (
            action.default is None or action.default is False or action.default is argparse.SUPPRESS)

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None and self._shows_default(action):
            # An option without help text still shows its default (set_defaults may give one).
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = plain_text(action.help or "")
        if not self._shows_default(action) or "default" in text.lower():
            return text
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """The CLI's parser: every sub-command parser made from it uses :class:`HelpFormatter`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every discovered sub-command."""
    from .. import __version__

    parser = ArgumentParser(prog="sleepfm", description="SleepFM Studio engine")
    parser.add_argument("--version", action="version", version=f"sleepfm-studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(sub)
    return parser


def guard_output(output: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *,
                 overwrite: bool = False, folder_ok: bool = False) -> None:
    """Refuse an output that would lose a file: one of the command's inputs (even with
    ``--overwrite``), an existing file without ``overwrite``, or a folder (unless
    ``folder_ok``). Every command that writes calls it before any work.

    Raises
    ------
    OutputError
        Naming the output and why.
    """
    from ..errors import OutputError

    out = Path(output)
    target = out.resolve()
    for given in inputs:
        src = Path(given)
        if src.exists() and out.exists() and os.path.samefile(src, out) or src.resolve() == target:
            raise OutputError(out, f"is an input of this command ({src}): the output would "
                                   "replace its own input; choose another output")
    if out.is_dir() and not folder_ok:
        raise OutputError(out, "is a folder; name the file to write")
    if out.exists() and not out.is_dir() and not overwrite:
        raise OutputError(out, "exists (use --overwrite to replace it)")


def _os_error(exc: OSError) -> str:
    """An operating-system failure as one line naming the file."""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``sleepfm``; returns the process exit code."""
    # Idle OpenMP threads sleep instead of spinning: on a small, shared CPU spinning threads
    # starve the decoding threads (measured: a 1-h embedding 7-12 s -> 2-4 s). Must precede torch.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # Recoverable faults (a unit written 'UV', a gap) are told to the user in one line, not as
    # Python source locations. Only the formatting changes: whoever records warnings (a test,
    # a caller's catch_warnings) still receives them.
    previous_format = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        return int(args.func(args) or 0)
    except SleepFMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`, which closed early: not an error of ours.
        sys.stderr.close()
        return 0
    except OSError as exc:
        # A file the user named cannot be read or written (permissions, a folder where a file
        # belongs, a full disk): what the system said and about which file, not a traceback.
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = previous_format


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
