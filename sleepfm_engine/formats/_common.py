"""Helpers shared by the hypnogram format modules: text decoding and line iteration."""
from __future__ import annotations

from pathlib import Path

from ..errors import HypnogramError


def read_text_lines(path: Path) -> list[str]:
    """The file's lines (1-based line n is ``lines[n - 1]``), decoded as UTF-8 or Latin-1.

    Raises
    ------
    HypnogramError
        If the file is missing, empty or binary.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HypnogramError(path, "no such file") from None
    except IsADirectoryError:
        raise HypnogramError(path, "is a folder, not a hypnogram file") from None
    if not data.strip():
        raise HypnogramError(path, "the file is empty")
    if b"\x00" in data[:4096]:
        raise HypnogramError(path, "not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.splitlines()


def content_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines that are not ``#`` comments."""
    return [(i + 1, s) for i, raw in enumerate(lines)
            if (s := raw.strip()) and not s.startswith("#")]


def parse_int(text: str, path: Path, line: int, what: str = "stage code") -> int:
    """An integer (``5`` or ``5.0``), or HypnogramError naming the line."""
    try:
        value = float(text)
    except ValueError:
        raise HypnogramError(path, f"{text!r} is not a {what} (expected an integer)", line) from None
    if value != int(value):
        raise HypnogramError(path, f"{text!r} is not a {what} (expected an integer)", line)
    return int(value)


def parse_float(text: str, path: Path, line: int, what: str) -> float:
    """A finite number, or HypnogramError naming the line."""
    try:
        value = float(text)
    except ValueError:
        raise HypnogramError(path, f"{what} {text!r} is not a number", line) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise HypnogramError(path, f"{what} {text!r} is not a finite number", line)
    return value


def check_one_value_lines(lines: list[str], first: int, path: Path) -> list[tuple[int, str]]:
    """Lines after line ``first`` for one-value-per-line formats: blank lines may only trail."""
    body = [(i + 1, raw.strip()) for i, raw in enumerate(lines) if i + 1 > first]
    while body and not body[-1][1]:
        body.pop()
    out = []
    for line, text in body:
        if text.startswith("#"):
            continue
        if not text:
            raise HypnogramError(path, "empty line inside the hypnogram (one value per line "
                                       "expected)", line)
        out.append((line, text))
    return out
