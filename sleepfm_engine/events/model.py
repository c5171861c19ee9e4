"""Scored events: who scored them (:class:`EventSource`), the events themselves (:class:`Event`),
candidates a detector rejected (:class:`RejectedCandidate`) and a sorted, queryable collection
(:class:`EventSet`).

Times are seconds from the start of the recording the events were scored on, like a
:class:`~sleepfm_engine.hypnogram.Hypnogram`'s onsets; an :class:`EventSet` may carry that
recording's clock ``start``. Events are immutable values; an event set changes only through
``add`` / ``remove`` / ``update``, each by id, and the latter two return the old event so that a
caller can undo. Nothing here drops an event silently: a duplicate id or a conflicting merge is
an error.
"""
from __future__ import annotations

import bisect
import dataclasses
import datetime as _dt
import json
import math
import uuid
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ..errors import EventsError
from .vocabulary import EventType, as_event_type, describe_label, map_label, types_of_family

#: Kinds of event source.
SOURCE_KINDS: tuple[str, ...] = ("manual", "file", "detector")


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable mapping of str keys to JSON values (lists become tuples)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None):
        if isinstance(data, FrozenMap):  # already checked and frozen
            self._data, self._hash = data._data, data._hash
            return
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a mapping, got {type(data).__name__}")
        for key in data:
            if not isinstance(key, str):
                raise TypeError(f"mapping keys must be str, got {key!r}")
        frozen = {k: _freeze(v) for k, v in data.items()}
        try:
            json.dumps(_thaw(frozen), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"values must be JSON data (finite numbers, str, bool, None, lists, "
                             f"mappings): {exc}") from None
        self._data = frozen
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted(self._data.items(), key=lambda kv: kv[0])))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == {k: _freeze(v) for k, v in other.items()}
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict (tuples become lists)."""
        return _thaw(self._data)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value if isinstance(value, FrozenMap) else FrozenMap(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):  # detectors hand over numpy scalars
        return value.item()
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


def new_event_id() -> str:
    """A fresh short event id (12 hex digits of a random UUID)."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class EventSource:
    """Who or what scored an event.

    Parameters
    ----------
    kind : str
        ``"manual"`` (a person), ``"file"`` (read from a file) or ``"detector"`` (an algorithm).
    name : str
        The scorer's name, the file path or the detector's name.
    version : str
        Detector (or file format) version.
    settings : Mapping
        Detector settings (JSON data), e.g. the scoring profile.
    """

    kind: str
    name: str = ""
    version: str = ""
    settings: Mapping[str, Any] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"event source kind must be one of {SOURCE_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "version", str(self.version))
        object.__setattr__(self, "settings", FrozenMap(self.settings))

    @classmethod
    def manual(cls, scorer: str = "") -> "EventSource":
        """Scored by hand by ``scorer``."""
        return cls("manual", scorer)

    @classmethod
    def file(cls, path: Any) -> "EventSource":
        """Read from the file at ``path``."""
        return cls("file", str(path))

    @classmethod
    def detector(cls, name: str, version: str = "",
                 settings: Mapping[str, Any] | None = None) -> "EventSource":
        """Scored by the detector ``name`` at ``version`` with ``settings``."""
        return cls("detector", name, version, settings or {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (:meth:`from_dict` restores it)."""
        return {"kind": self.kind, "name": self.name, "version": self.version,
                "settings": self.settings.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EventSource":
        """Rebuild a source from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If ``kind`` is missing or invalid.
        """
        if "kind" not in data:
            raise ValueError("event source has no 'kind'")
        return cls(data["kind"], data.get("name", ""), data.get("version", ""),
                   data.get("settings") or {})

    def __str__(self) -> str:
        text = f"{self.kind}: {self.name}" if self.name else self.kind
        return f"{text} {self.version}" if self.version else text


def _finite(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


@dataclass(frozen=True)
class Event:
    """One scored event.

    Parameters
    ----------
    onset : float
        Seconds from the recording start.
    duration : float
        Seconds, >= 0 (0 for an instant such as lights off).
    type : EventType or str
        The event's type (a type value string is converted).
    channels : tuple of str
        Channel(s) it was scored on; empty when not tied to a channel.
    source : EventSource
        Who or what scored it; by default a manual scorer with no name.
    confidence : float or None
        In [0, 1] when the source gives one.
    attributes : Mapping
        JSON data, e.g. ``drop_pct``, ``nadir_pct``, ``side``, ``parent`` (id of the respiratory
        event a desaturation or arousal belongs to), ``rule``, ``criteria``.
    label : str
        The original label text (from a file or a scorer).
    id : str
        Unique within an :class:`EventSet`; a fresh short id by default.

    Raises
    ------
    ValueError
        If onset or duration is not finite, duration is negative, confidence is outside [0, 1],
        the type is unknown or attributes are not JSON data.
    """

    onset: float
    duration: float
    type: EventType
    channels: tuple[str, ...] = ()
    source: EventSource = field(default_factory=EventSource.manual)
    confidence: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=FrozenMap)
    label: str = ""
    id: str = field(default_factory=new_event_id)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "onset", _finite("onset", self.onset))
        duration = _finite("duration", self.duration)
        if duration < 0:
            raise ValueError(f"duration must be >= 0, got {duration}")
        set_(self, "duration", duration)
        set_(self, "type", as_event_type(self.type))
        channels = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        set_(self, "channels", tuple(str(c) for c in channels))
        if not isinstance(self.source, EventSource):
            raise TypeError(f"source must be an EventSource, got {type(self.source).__name__}")
        if self.confidence is not None:
            confidence = _finite("confidence", self.confidence)
            if not 0.0 <= confidence <= 1.0:
                raise ValueError(f"confidence must be in [0, 1], got {confidence}")
            set_(self, "confidence", confidence)
        set_(self, "attributes", FrozenMap(self.attributes))
        set_(self, "label", str(self.label))
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"event id must be a non-empty str, got {self.id!r}")

    @classmethod
    def from_label(cls, onset: float, duration: float, label: str, **fields: Any) -> "Event":
        """An event typed from its vendor or free-text ``label``, which it keeps.

        The type comes from :func:`~sleepfm_engine.events.vocabulary.describe_label` (unknown
        text gives a note); attributes the label carries (a PLM's side) are merged under any
        ``attributes`` given. Other ``fields`` are passed on (channels, source, id...).
        """
        mapping = describe_label(label)
        attributes = {**mapping.attributes, **dict(fields.pop("attributes", None) or {})}
        return cls(onset, duration, mapping.type, label=str(label), attributes=attributes,
                   **fields)

    @property
    def end(self) -> float:
        """Seconds from the recording start to the end of the event."""
        return self.onset + self.duration

    def replace(self, **changes: Any) -> "Event":
        """A copy with ``changes`` applied (same id unless ``id`` is among them)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (:meth:`from_dict` restores an equal event)."""
        return {"onset": self.onset, "duration": self.duration, "type": self.type.value,
                "channels": list(self.channels), "source": self.source.to_dict(),
                "confidence": self.confidence, "attributes": self.attributes.to_dict(),
                "label": self.label, "id": self.id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Event":
        """Rebuild an event from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If a required field (onset, duration, type) is missing or a field is invalid.
        """
        missing = [k for k in ("onset", "duration", "type") if k not in data]
        if missing:
            raise ValueError(f"event has no {', '.join(repr(k) for k in missing)}")
        source = data.get("source")
        kwargs: dict[str, Any] = {}
        if data.get("id") is not None:
            kwargs["id"] = data["id"]
        return cls(data["onset"], data["duration"], data["type"],
                   tuple(data.get("channels") or ()),
                   EventSource.manual() if source is None else EventSource.from_dict(source),
                   data.get("confidence"), data.get("attributes") or {},
                   data.get("label", ""), **kwargs)


@dataclass(frozen=True)
class RejectedCandidate:
    """A candidate event a detector considered and rejected, with the reason."""

    event: Event
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {"event": self.event.to_dict(), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RejectedCandidate":
        """Rebuild from :meth:`to_dict` output."""
        return cls(Event.from_dict(data["event"]), str(data.get("reason", "")))


# Events longer than this are kept apart and scanned linearly by overlap queries, so that one
# long span (lights, a whole-night artefact) does not widen every query's search window.
_LONG_EVENT_S = 600.0

#: Columns of :meth:`EventSet.to_dataframe`, in order.
DATAFRAME_COLUMNS: tuple[str, ...] = ("onset", "duration", "type", "channels", "source",
                                      "confidence", "label", "id", "attributes")


def _key(event: Event) -> tuple[float, str]:
    return (event.onset, event.id)


def _onset_of(key: tuple[float, str]) -> float:
    return key[0]


class EventSet:
    """Scored events ordered by (onset, id), with fast interval queries.

    Parameters
    ----------
    events : iterable of Event, optional
        Initial events (ids must be unique).
    start : datetime.datetime, optional
        Clock time of the recording start that onsets count from.
    rejected : iterable of RejectedCandidate, optional
        Candidates a detector rejected, kept apart from the scored events.
    source : str
        Where the set came from (a file path, a detector run), for display.
    file_format : str
        The format it was read from, if any.

    Notes
    -----
    Onsets are kept in a sorted list; :meth:`overlapping` bisects to the events whose onset
    lies within the longest duration before the query, so a query costs O(log n + k) for events
    up to 10 min long. Longer events are few and scanned apart.
    """

    __hash__ = None  # mutable, compared by value

    def __init__(self, events: Iterable[Event] = (), *, start: _dt.datetime | None = None,
                 rejected: Iterable[RejectedCandidate] = (), source: str = "",
                 file_format: str = ""):
        if start is not None and not isinstance(start, _dt.datetime):
            raise TypeError(f"start must be a datetime.datetime or None, got {type(start).__name__}")
        self.start = start
        self.source = str(source)
        self.file_format = str(file_format)
        self.rejected: list[RejectedCandidate] = list(rejected)
        for r in self.rejected:
            if not isinstance(r, RejectedCandidate):
                raise TypeError(f"rejected must hold RejectedCandidate, got {type(r).__name__}")
        self._by_id: dict[str, Event] = {}
        self._order: list[tuple[float, str]] = []   # every event, sorted
        self._short: list[tuple[float, str]] = []   # events up to _LONG_EVENT_S, sorted
        self._long: set[str] = set()
        self._short_max: float = 0.0
        self._short_max_stale = False
        self.extend(events)

    # -- mutation ----------------------------------------------------------------------------
    def add(self, event: Event) -> str:
        """Add ``event``; return its id.

        Raises
        ------
        ValueError
            If an event with the same id is already in the set.
        """
        if not isinstance(event, Event):
            raise TypeError(f"expected an Event, got {type(event).__name__}")
        if event.id in self._by_id:
            raise ValueError(f"an event with id {event.id!r} is already in the set")
        self._by_id[event.id] = event
        key = _key(event)
        bisect.insort(self._order, key)
        if event.duration > _LONG_EVENT_S:
            self._long.add(event.id)
        else:
            bisect.insort(self._short, key)
            if event.duration > self._short_max:
                self._short_max = event.duration
        return event.id

    def extend(self, events: Iterable[Event]) -> list[str]:
        """Add several events (all or none); return their ids.

        Raises
        ------
        ValueError
            If an id repeats, within ``events`` or with the set.
        """
        events = list(events)
        seen: set[str] = set()
        for e in events:
            if not isinstance(e, Event):
                raise TypeError(f"expected an Event, got {type(e).__name__}")
            if e.id in self._by_id or e.id in seen:
                raise ValueError(f"an event with id {e.id!r} is already in the set")
            seen.add(e.id)
        return [self.add(e) for e in events]

    def remove(self, event_id: str) -> Event:
        """Remove the event ``event_id`` and return it (to undo, :meth:`add` it back).

        Raises
        ------
        KeyError
            If no event has that id.
        """
        return self._pop(event_id)

    def _pop(self, event_id: str) -> Event:
        try:
            event = self._by_id.pop(event_id)
        except KeyError:
            raise KeyError(f"no event with id {event_id!r}") from None
        key = _key(event)
        del self._order[bisect.bisect_left(self._order, key)]
        if event_id in self._long:
            self._long.discard(event_id)
        else:
            del self._short[bisect.bisect_left(self._short, key)]
            if event.duration >= self._short_max:
                self._short_max_stale = True
        return event

    def update(self, event_id: str, **changes: Any) -> Event:
        """Replace the event ``event_id`` by a copy with ``changes``; return the OLD event.

        To undo: ``remove(new_id)`` then ``add(old)`` -- or ``update`` with the old values.

        Raises
        ------
        KeyError
            If no event has that id.
        ValueError
            If the changes are invalid or change the id to one already in the set.
        """
        old = self._by_id.get(event_id)
        if old is None:
            raise KeyError(f"no event with id {event_id!r}")
        new = old.replace(**changes)  # validates before the set changes
        if new.id != event_id and new.id in self._by_id:
            raise ValueError(f"an event with id {new.id!r} is already in the set")
        self._pop(event_id)
        self.add(new)
        return old

    def clear(self) -> None:
        """Remove every event and rejected candidate."""
        self.rejected.clear()
        self._by_id.clear()
        self._order.clear()
        self._short.clear()
        self._long.clear()
        self._short_max = 0.0
        self._short_max_stale = False

    # -- access ------------------------------------------------------------------------------
    def get(self, event_id: str, default: Event | None = None) -> Event | None:
        """The event with id ``event_id``, or ``default``."""
        return self._by_id.get(event_id, default)

    def __getitem__(self, event_id: str) -> Event:
        try:
            return self._by_id[event_id]
        except KeyError:
            raise KeyError(f"no event with id {event_id!r}") from None

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Event]:
        return iter([self._by_id[i] for _, i in self._order])

    def __contains__(self, event_id: object) -> bool:
        if isinstance(event_id, Event):
            return self._by_id.get(event_id.id) == event_id
        return event_id in self._by_id

    @property
    def events(self) -> list[Event]:
        """The events, ordered by (onset, id)."""
        return list(self)

    def _max_short(self) -> float:
        if self._short_max_stale:
            self._short_max = max((self._by_id[i].duration for _, i in self._short), default=0.0)
            self._short_max_stale = False
        return self._short_max

    def overlapping(self, start: float, stop: float,
                    types: Iterable[EventType | str] | None = None) -> list[Event]:
        """Events that overlap the interval ``[start, stop)``, ordered by (onset, id).

        An event of positive duration overlaps when ``onset < stop`` and ``end > start``; an
        event of duration 0 when ``start <= onset < stop``. When ``start == stop`` the query is
        the instant ``start``: events with ``onset <= start < end``, or of duration 0 at
        ``start``.

        Parameters
        ----------
        start, stop : float
            Seconds from the recording start, ``start <= stop``.
        types : iterable of EventType or str, optional
            Only events of these types.

        Raises
        ------
        ValueError
            If ``stop < start`` or either is not a number.
        """
        start = float(start)
        stop = float(stop)
        if math.isnan(start) or math.isnan(stop) or stop < start:
            raise ValueError(f"need start <= stop, got [{start}, {stop})")
        wanted = None if types is None else {as_event_type(t) for t in types}
        instant = start == stop
        lo = bisect.bisect_left(self._short, start - self._max_short(), key=_onset_of)
        if instant:
            hi = bisect.bisect_right(self._short, start, key=_onset_of)
        else:
            hi = bisect.bisect_left(self._short, stop, key=_onset_of)
        candidates = [self._by_id[i] for _, i in self._short[lo:hi]]
        if self._long:
            candidates.extend(self._by_id[i] for i in self._long)
            candidates.sort(key=_key)
        out = []
        for e in candidates:
            if wanted is not None and e.type not in wanted:
                continue
            if instant:
                hit = e.onset <= start and (e.end > start or e.onset == start)
            else:
                hit = e.onset < stop and (e.end > start or e.onset >= start)
            if hit:
                out.append(e)
        return out

    def of_type(self, *types: EventType | str) -> list[Event]:
        """Events of any of ``types``, ordered by (onset, id)."""
        wanted = {as_event_type(t) for t in types}
        return [e for e in self if e.type in wanted]

    def of_family(self, *families: str) -> list[Event]:
        """Events whose type belongs to any of ``families`` (see
        :data:`~sleepfm_engine.events.vocabulary.FAMILIES`), ordered by (onset, id)."""
        wanted = types_of_family(*families)
        return [e for e in self if e.type in wanted]

    def counts(self) -> dict[EventType, int]:
        """Number of events of each type present, in :class:`EventType` order (absent types
        are left out)."""
        tally: dict[EventType, int] = {}
        for e in self._by_id.values():
            tally[e.type] = tally.get(e.type, 0) + 1
        return {t: tally[t] for t in EventType if t in tally}

    @property
    def sources(self) -> list[EventSource]:
        """The distinct sources of the events, in order of first appearance."""
        return list(dict.fromkeys(e.source for e in self))

    # -- whole-set operations ----------------------------------------------------------------
    def copy(self) -> "EventSet":
        """An independent copy (events are immutable and shared)."""
        return EventSet(self, start=self.start, rejected=self.rejected, source=self.source,
                        file_format=self.file_format)

    def merge(self, other: "EventSet") -> "EventSet":
        """A new set holding the events and rejected candidates of both.

        An event present in both (same id, equal) is kept once. ``start`` is this set's, or the
        other's when this one has none.

        Raises
        ------
        ValueError
            If the two sets hold different events under the same id, or their starts differ.
        """
        if self.start is not None and other.start is not None and self.start != other.start:
            raise ValueError(f"cannot merge event sets of recordings starting at "
                             f"{self.start.isoformat()} and {other.start.isoformat()}")
        out = self.copy()
        if out.start is None:
            out.start = other.start
        for e in other:
            mine = out._by_id.get(e.id)
            if mine is None:
                out.add(e)
            elif mine != e:
                raise ValueError(f"both event sets hold an event with id {e.id!r} and they "
                                 f"differ ({mine} vs {e})")
        out.rejected.extend(r for r in other.rejected if r not in out.rejected)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventSet):
            return NotImplemented
        return (self._by_id == other._by_id and self.rejected == other.rejected
                and self.start == other.start)

    def __repr__(self) -> str:
        start = f", start={self.start.isoformat()}" if self.start else ""
        rejected = f", {len(self.rejected)} rejected" if self.rejected else ""
        return f"EventSet({len(self)} events{rejected}{start})"

    # -- conversion --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (:meth:`from_dict` restores an equal set)."""
        return {"start": None if self.start is None else self.start.isoformat(),
                "source": self.source, "file_format": self.file_format,
                "events": [e.to_dict() for e in self],
                "rejected": [r.to_dict() for r in self.rejected]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EventSet":
        """Rebuild a set from :meth:`to_dict` output.

        Raises
        ------
        EventsError
            If an event is invalid (the message says which).
        """
        events = []
        for i, item in enumerate(data.get("events") or ()):
            try:
                events.append(Event.from_dict(item))
            except (TypeError, ValueError, KeyError) as exc:
                raise EventsError(None, str(exc), row=i) from None
        start = data.get("start")
        try:
            return cls(events, start=None if start is None else _dt.datetime.fromisoformat(start),
                       rejected=[RejectedCandidate.from_dict(r) for r in data.get("rejected") or ()],
                       source=data.get("source", ""), file_format=data.get("file_format", ""))
        except (TypeError, ValueError, KeyError) as exc:
            raise EventsError(None, str(exc)) from None

    def to_dataframe(self, *, rejected: bool = False) -> Any:
        """The events as a pandas DataFrame, one row per event in (onset, id) order.

        Columns (:data:`DATAFRAME_COLUMNS`): ``onset``, ``duration`` (s, float), ``type`` (the
        type's value), ``channels`` (JSON list), ``source`` (JSON object), ``confidence``
        (float, NaN when none), ``label``, ``id``, ``attributes`` (JSON object). With
        ``rejected=True`` the rejected candidates follow as extra rows and a column
        ``rejected`` holds their reason (missing, i.e. None/NaN, for scored events). ``df.attrs`` holds the set's
        ``start``, ``source`` and ``file_format``. :meth:`from_dataframe` restores the set.
        """
        import pandas as pd  # optional heavy dependency: only this conversion needs it

        rows = [_row(e) for e in self]
        columns = list(DATAFRAME_COLUMNS)
        if rejected:
            for row in rows:
                row["rejected"] = None
            rows.extend({**_row(r.event), "rejected": r.reason} for r in self.rejected)
            columns.append("rejected")
        df = pd.DataFrame(rows, columns=columns)
        df["onset"] = df["onset"].astype("float64")
        df["duration"] = df["duration"].astype("float64")
        df["confidence"] = df["confidence"].astype("float64")
        df.attrs.update({"start": None if self.start is None else self.start.isoformat(),
                         "source": self.source, "file_format": self.file_format})
        return df

    @classmethod
    def from_dataframe(cls, df: Any, *, source: EventSource | None = None,
                       start: _dt.datetime | None = None, path: Any = None) -> "EventSet":
        """Build a set from a DataFrame such as :meth:`to_dataframe` makes.

        Needs ``onset`` and ``duration`` columns and ``type`` or ``label``. Missing columns get
        defaults: ``type`` from :func:`~sleepfm_engine.events.vocabulary.map_label` of the
        label, ``id`` fresh, ``source`` the ``source`` argument (or manual), no channels,
        confidence or attributes. ``channels``, ``source`` and ``attributes`` may be JSON text
        or Python values. A ``rejected`` column with a reason marks rejected candidates.

        Parameters
        ----------
        df : pandas.DataFrame
        source : EventSource, optional
            Source of rows without one.
        start : datetime.datetime, optional
            Recording start; by default ``df.attrs["start"]`` when present.
        path : path-like, optional
            The file the table came from, named in errors.

        Raises
        ------
        EventsError
            If a required column is missing or a row is invalid (the message names the row).
        """
        columns = set(df.columns)
        missing = [c for c in ("onset", "duration") if c not in columns]
        if "type" not in columns and "label" not in columns:
            missing.append("type (or label)")
        if missing:
            raise EventsError(path, f"event table has no column {', '.join(missing)}")
        default_source = source or EventSource.manual()
        attrs = getattr(df, "attrs", {}) or {}
        if start is None and attrs.get("start"):
            start = _dt.datetime.fromisoformat(attrs["start"])
        events: list[Event] = []
        rejected: list[RejectedCandidate] = []
        sources: dict[str, EventSource] = {}  # rows share a handful of sources: parse each once
        for i, row in enumerate(df.to_dict("records")):
            try:
                event = _event_from_row(row, default_source, sources)
            except (TypeError, ValueError, KeyError) as exc:
                raise EventsError(path, str(exc), row=i) from None
            reason = row.get("rejected")
            if _is_missing(reason):
                events.append(event)
            else:
                rejected.append(RejectedCandidate(event, str(reason)))
        try:
            return cls(events, start=start, rejected=rejected,
                       source=attrs.get("source", "" if path is None else str(path)),
                       file_format=attrs.get("file_format", ""))
        except ValueError as exc:
            raise EventsError(path, str(exc)) from None

    def to_mne_annotations(self, orig_time: _dt.datetime | float | None = None) -> Any:
        """The events as :class:`mne.Annotations` (needs MNE, an optional dependency).

        Descriptions are the original label when it still maps to the event's type, otherwise
        the type's display label (so :func:`map_label` of a description gives the type back).
        ``ch_names`` are the event channels.

        Parameters
        ----------
        orig_time : datetime or float, optional
            Annotation origin; by default the set's ``start`` (None if unknown).
        """
        import mne  # optional dependency: only this conversion needs it

        from .vocabulary import EVENT_TYPES

        events = list(self)
        descriptions = [e.label if e.label and map_label(e.label) == e.type
                        else EVENT_TYPES[e.type].label for e in events]
        if orig_time is None and self.start is not None:
            orig_time = self.start
            if orig_time.tzinfo is None:  # MNE needs an aware time; recording clocks are naive
                orig_time = orig_time.replace(tzinfo=_dt.timezone.utc)
        return mne.Annotations([e.onset for e in events], [e.duration for e in events],
                               descriptions, orig_time=orig_time,
                               ch_names=[list(e.channels) for e in events])


def _row(e: Event) -> dict[str, Any]:
    return {"onset": e.onset, "duration": e.duration, "type": e.type.value,
            "channels": json.dumps(list(e.channels)),
            "source": json.dumps(e.source.to_dict(), sort_keys=True),
            "confidence": math.nan if e.confidence is None else e.confidence,
            "label": e.label, "id": e.id,
            "attributes": json.dumps(e.attributes.to_dict(), sort_keys=True)}


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN / pandas NA
    except (TypeError, ValueError):
        return False


def _json_field(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is not valid JSON: {exc}") from None
    return value


def _event_from_row(row: Mapping[str, Any], default_source: EventSource,
                    parsed_sources: dict[str, EventSource]) -> Event:
    label = row.get("label")
    label = "" if _is_missing(label) else str(label)
    kind = row.get("type")
    event_type = map_label(label) if _is_missing(kind) else as_event_type(kind)
    channels = row.get("channels")
    if _is_missing(channels):
        channels = ()
    elif isinstance(channels, str) and not channels.lstrip().startswith("["):
        channels = [c.strip() for c in channels.split(",") if c.strip()]  # "C3, C4"
    else:
        channels = _json_field(channels, "channels") or ()
    src = row.get("source")
    if isinstance(src, str) and src in parsed_sources:
        source = parsed_sources[src]
    else:
        value = None if _is_missing(src) else _json_field(src, "source")
        if isinstance(value, EventSource):
            source = value
        elif value:
            source = EventSource.from_dict(value)
        else:
            source = default_source
        if isinstance(src, str):
            parsed_sources[src] = source
    conf = row.get("confidence")
    attributes = row.get("attributes")
    attributes = {} if _is_missing(attributes) else _json_field(attributes, "attributes") or {}
    kwargs: dict[str, Any] = {}
    event_id = row.get("id")
    if not _is_missing(event_id) and str(event_id):
        kwargs["id"] = str(event_id)
    return Event(row["onset"], row["duration"], event_type, tuple(channels), source,
                 None if _is_missing(conf) else conf, attributes, label, **kwargs)
