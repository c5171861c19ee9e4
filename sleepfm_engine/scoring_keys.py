"""Scoring key bindings: which key scores which stage or runs which review action.

Keys are written as Qt prints key sequences (``"2"``, ``"Del"``, ``"Shift+Tab"``, ``"Ctrl+Z"``)
but nothing here depends on Qt: the GUI turns a key event into such a string and asks the
:class:`KeyMap` what it means. The defaults follow the AASM/R&K habit of scoring with the digit
keys: 0 = W, 1 = N1, 2 = N2, 3 = N3, 4 and 5 = R (5 is R&K's REM), 6 = movement time/artefact
(R&K's MT), Del/Backspace = unscored.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from .hypnogram import ARTEFACT, CODE_NAMES, STAGE_CODES, STAGES, UNSCORED

#: Actions that are not a stage.
ACTIONS: tuple[str, ...] = ("accept_auto", "review_next", "review_prev", "undo", "redo")
#: Prefix of a stage action: ``"stage:N2"`` scores N2.
STAGE_PREFIX = "stage:"
#: Every valid action name.
ALL_ACTIONS: tuple[str, ...] = tuple(STAGE_PREFIX + n for n in (*STAGES, "?", "A")) + ACTIONS

_MODIFIERS = ("Ctrl", "Alt", "Shift", "Meta")
_MOD_ALIASES = {"ctrl": "Ctrl", "control": "Ctrl", "alt": "Alt", "shift": "Shift", "meta": "Meta",
                "cmd": "Meta", "num": None, "keypad": None}
_KEY_ALIASES = {"del": "Del", "delete": "Del", "backspace": "Backspace", "tab": "Tab",
                "backtab": "Tab", "esc": "Esc", "escape": "Esc", "space": "Space",
                "return": "Return", "enter": "Enter", "ins": "Ins", "insert": "Ins"}

#: The default bindings (AASM digits, review and editing keys).
DEFAULT_BINDINGS: dict[str, str] = {
    "0": "stage:W", "1": "stage:N1", "2": "stage:N2", "3": "stage:N3", "4": "stage:R",
    "5": "stage:R", "6": "stage:A", "Del": "stage:?", "Backspace": "stage:?",
    "A": "accept_auto",
    "N": "review_next", "Tab": "review_next", "Shift+N": "review_prev", "Shift+Tab": "review_prev",
    "Ctrl+Z": "undo", "Ctrl+Y": "redo", "Ctrl+Shift+Z": "redo",
}


def normalize_key(key: str) -> str:
    """Canonical spelling of a key sequence: ``"ctrl+shift+z"`` -> ``"Ctrl+Shift+Z"``.

    Modifiers come in the order Ctrl, Alt, Shift, Meta; letters are upper case; the keypad
    modifier is dropped (keypad digits score like the others); Qt's ``Backtab`` is
    ``Shift+Tab``.

    Raises
    ------
    ValueError
        If ``key`` is empty or is only modifiers.
    """
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"a key must be a non-empty string, got {key!r}")
    text = key.strip()
    # "Ctrl++" is Ctrl and the plus key: split off the last character when it is a '+'.
    if text.endswith("++") or text == "+":
        parts, last = text[:-1].split("+")[:-1], "+"
    else:
        *parts, last = text.split("+")
    mods: set[str] = set()
    for p in parts:
        m = _MOD_ALIASES.get(p.strip().lower(), "?")
        if m == "?":
            raise ValueError(f"{key!r}: unknown modifier {p!r} (use {', '.join(_MODIFIERS)})")
        if m:
            mods.add(m)
    last = last.strip()
    if not last or last.lower() in _MOD_ALIASES:
        raise ValueError(f"{key!r} has no key besides modifiers")
    if last.lower() == "backtab":
        mods.add("Shift")
    name = _KEY_ALIASES.get(last.lower(), last.upper() if len(last) == 1 else last[0].upper() + last[1:])
    return "+".join([m for m in _MODIFIERS if m in mods] + [name])


def _check_action(action: str) -> str:
    if action not in ALL_ACTIONS:
        raise ValueError(f"unknown scoring action {action!r}; valid: {', '.join(ALL_ACTIONS)}")
    return action


def stage_action(stage: int | str) -> str:
    """The action name that scores ``stage`` (a code or a name such as ``"N2"``)."""
    code = STAGE_CODES[stage] if isinstance(stage, str) else int(stage)
    if code not in CODE_NAMES:
        raise ValueError(f"{stage!r} is not a stage")
    return STAGE_PREFIX + CODE_NAMES[code]


class KeyMap:
    """Bindings from key sequences to scoring actions.

    Parameters
    ----------
    bindings : mapping of str to str, optional
        Key -> action (:data:`ALL_ACTIONS`); the AASM defaults (:data:`DEFAULT_BINDINGS`)
        when omitted.

    Raises
    ------
    ValueError
        If a key cannot be parsed or an action is unknown.
    """

    def __init__(self, bindings: Mapping[str, str] | None = None):
        self._bindings: dict[str, str] = {}
        for key, action in (DEFAULT_BINDINGS if bindings is None else bindings).items():
            self.bind(key, action)

    @classmethod
    def aasm_default(cls) -> "KeyMap":
        """The default AASM bindings."""
        return cls()

    def bind(self, key: str, action: str) -> None:
        """Make ``key`` run ``action`` (replacing what it did before)."""
        self._bindings[normalize_key(key)] = _check_action(action)

    def unbind(self, key: str) -> None:
        """Remove the binding of ``key`` (no error if it had none)."""
        self._bindings.pop(normalize_key(key), None)

    def action(self, key: str) -> str | None:
        """The action bound to ``key``, or None."""
        try:
            return self._bindings.get(normalize_key(key))
        except ValueError:
            return None

    def stage(self, key: str) -> int | None:
        """The stage code ``key`` scores, or None if it scores no stage."""
        action = self.action(key)
        if action is None or not action.startswith(STAGE_PREFIX):
            return None
        return STAGE_CODES[action[len(STAGE_PREFIX):]]

    def keys_for(self, action: str) -> list[str]:
        """Every key bound to ``action``, in binding order."""
        _check_action(action)
        return [k for k, a in self._bindings.items() if a == action]

    def items(self) -> Iterable[tuple[str, str]]:
        return list(self._bindings.items())

    def to_dict(self) -> dict[str, str]:
        """Key -> action, for settings files."""
        return dict(self._bindings)

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> "KeyMap":
        """Rebuild a key map saved with :meth:`to_dict`."""
        return cls(dict(data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyMap) and self._bindings == other._bindings

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"KeyMap({self._bindings!r})"


__all__ = ["KeyMap", "normalize_key", "stage_action", "ACTIONS", "ALL_ACTIONS", "DEFAULT_BINDINGS",
           "STAGE_PREFIX", "UNSCORED", "ARTEFACT"]
