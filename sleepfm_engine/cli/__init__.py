"""The ``sleepfm`` command-line interface.

Each sub-command lives in its own module ``sleepfm_engine/cli/cmd_<name>.py`` that defines
``register(subparsers)``; the module adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit code. Modules are discovered here so that features add
commands without editing a central list.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import warnings
import pkgutil
import sys

from ..errors import SleepFMError


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every discovered sub-command."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="sleepfm", description="SleepFM Studio engine")
    parser.add_argument("--version", action="version", version=f"sleepfm-studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(sub)
    return parser


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
    finally:
        warnings.formatwarning = previous_format


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
