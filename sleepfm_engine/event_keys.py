"""Event key bindings: which key scores which event type on a span dragged across the traces.

Keys are spelled as in :mod:`sleepfm_engine.scoring_keys` (``"O"``, ``"Shift+A"``) and nothing
here depends on Qt. The defaults follow the usual letters of PSG scoring software: O obstructive
apnea, C central, M mixed, H hypopnea, A arousal, D desaturation, L limb movement, X artefact.
They act only while a span is dragged or an event is selected, so they do not take the
stage keys' letters away.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from .events import EventType, as_event_type
from .scoring_keys import normalize_key

__all__ = ["DEFAULT_EVENT_KEYS", "EventKeyMap"]

#: The default bindings: key -> event type.
DEFAULT_EVENT_KEYS: dict[str, EventType] = {
    "O": EventType.apnea_obstructive, "C": EventType.apnea_central, "M": EventType.apnea_mixed,
    "H": EventType.hypopnea, "A": EventType.arousal, "D": EventType.desaturation,
    "L": EventType.limb_movement, "X": EventType.artefact,
}


class EventKeyMap:
    """Bindings from key sequences to event types.

    Parameters
    ----------
    bindings : mapping of str to EventType or str, optional
        Key -> event type (a type or its value); :data:`DEFAULT_EVENT_KEYS` when omitted.

    Raises
    ------
    ValueError
        If a key cannot be parsed or a type is unknown.
    """

    def __init__(self, bindings: Mapping[str, EventType | str] | None = None):
        self._bindings: dict[str, EventType] = {}
        for key, kind in (DEFAULT_EVENT_KEYS if bindings is None else bindings).items():
            self.bind(key, kind)

    def bind(self, key: str, kind: EventType | str) -> None:
        """Make ``key`` score ``kind`` (replacing what it scored before)."""
        self._bindings[normalize_key(key)] = as_event_type(kind)

    def unbind(self, key: str) -> None:
        """Remove the binding of ``key`` (no error if it had none)."""
        self._bindings.pop(normalize_key(key), None)

    def type_for(self, key: str) -> EventType | None:
        """The event type ``key`` scores, or None."""
        try:
            return self._bindings.get(normalize_key(key))
        except ValueError:
            return None

    def keys_for(self, kind: EventType | str) -> list[str]:
        """Every key bound to ``kind``, in binding order."""
        kind = as_event_type(kind)
        return [k for k, t in self._bindings.items() if t == kind]

    def items(self) -> Iterable[tuple[str, EventType]]:
        return list(self._bindings.items())

    def to_dict(self) -> dict[str, str]:
        """Key -> type value, for settings files."""
        return {k: t.value for k, t in self._bindings.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> "EventKeyMap":
        """Rebuild a key map saved with :meth:`to_dict`."""
        return cls(dict(data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventKeyMap) and self._bindings == other._bindings

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"EventKeyMap({self.to_dict()!r})"
