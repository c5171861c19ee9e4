"""Help texts of every ``sleepfm`` command show their defaults and no reST markup."""
from __future__ import annotations

import argparse
import re

from sleepfm_engine.cli import build_parser, plain_text

RST = re.compile(r"``|:(func|class|mod|meth|attr|data):`")


def _parsers(parser: argparse.ArgumentParser, name: str = "sleepfm"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_no_help_text_shows_rest_markup():
    for name, parser in _parsers(build_parser()):
        assert not RST.search(parser.format_help()), name


def test_every_option_with_a_default_says_it():
    for name, parser in _parsers(build_parser()):
        for action in parser._actions:
            if (not action.option_strings or action.default is None or action.default is False
                    or action.default is argparse.SUPPRESS):
                continue
            formatter = parser._get_formatter()  # this option's entry alone, as --help prints it
            formatter.add_argument(action)
            entry = formatter.format_help()
            assert "default" in entry.lower(), f"{name} {action.option_strings[-1]}: {entry!r}"


def test_plain_text_keeps_the_words_of_rest_literals_and_roles():
    assert plain_text("writes ``<stem>.csv`` via :func:`~a.write` and :class:`Job`") == \
        "writes <stem>.csv via write and Job"
