"""``-o -``: commands that write one file send it to standard output instead.

The engine's writers write files (atomically, some in binary), so a temporary file is written
and its bytes copied to standard output: the stream holds exactly what the file would. The
command's own status line then goes to standard error, leaving standard output to the data.
"""
from __future__ import annotations

import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

#: The output name that means standard output.
STDOUT = "-"


def to_stdout(out: str | Path) -> bool:
    """True when ``out`` names standard output."""
    return str(out) == STDOUT


@contextmanager
def output_path(out: Path, name: str = "out") -> Iterator[Path]:
    """The path to write: ``out`` itself, or for ``-`` a temporary file (named ``name``) whose
    bytes go to standard output once the block ends without an error."""
    if not to_stdout(out):
        yield out
        return
    with tempfile.TemporaryDirectory(prefix="sleepfm-output-") as tmp:
        path = Path(tmp) / name
        yield path
        sys.stdout.flush()
        sys.stdout.buffer.write(path.read_bytes())
        sys.stdout.buffer.flush()


def shown_name(out: Path) -> str:
    """How a status line names the output."""
    return "standard output" if to_stdout(out) else str(out)


def status_stream(out: Path) -> TextIO:
    """Where a status line goes: standard error when the data goes to standard output."""
    return sys.stderr if to_stdout(out) else sys.stdout
