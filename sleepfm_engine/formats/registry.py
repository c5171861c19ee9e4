"""The file-format registry: every hypnogram (and later events) format declares one
:class:`FileFormat`; detection, reading, writing, suffix lists, aliases, command-line choices and
file-dialog filters all derive from the registered entries.

Adding a format is one module that defines ``FORMAT = FileFormat(...)`` and one line in
:mod:`sleepfm_engine.formats` that registers it (plus its tests). Nothing here imports Qt: the
dialog filters are plain strings in the ``"Label (*.a *.b);;All files (*)"`` syntax that Qt's file
dialogs take.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import HypnogramError
from ..recording import RECORDING_SUFFIXES
from ._common import content_lines, read_text_lines
from ._xml import Node, parse_xml

__all__ = ["FileFormat", "Probe", "KEEPABLE", "EVENT_KEEPABLE", "register", "unregister", "registered_formats",
           "find_format", "get_format", "read_formats", "write_formats", "hypnogram_suffixes", "format_for_suffix",
           "hypnogram_dialog_filter", "recording_dialog_filter", "detect"]

#: What a hypnogram may keep through a write and a read (:attr:`FileFormat.keeps`): the stage
#: codes always; ``artefact`` (artefact stays distinct from unscored), ``epoch_length``,
#: ``offset``, ``start``, ``scorer``, ``probabilities`` and ``automatic`` when listed.
KEEPABLE = frozenset({"artefact", "epoch_length", "offset", "start", "scorer", "probabilities",
                      "automatic"})
#: What scored events may keep through a write and a read (:attr:`FileFormat.event_keeps`)
#: beyond onset, duration and type, which every events format keeps: ``label`` (the original
#: text, where it still names the event's type), ``channels`` (all of them, in order) or
#: ``channel`` (an event's one channel; of several, a format may keep the first or all in
#: another order), ``spo2`` (a desaturation's ``nadir_pct`` and ``baseline_pct``), ``attributes``
#: (all of them), ``source``, ``confidence``, ``id``, ``start`` (the set's clock start) and
#: ``rejected`` (a detector's rejected candidates).
EVENT_KEEPABLE = frozenset({"label", "channels", "channel", "spo2", "attributes", "source",
                            "confidence", "id", "start", "rejected"})
_HEAD_BYTES = 4096


class Probe:
    """What format sniffers look at: a file's first bytes, and on demand its XML root or its
    first content line. Each is computed once, however many sniffers ask.

    Parameters
    ----------
    path : Path
        The file (must exist and not be empty; :func:`detect_format` checks).
    head : bytes
        Its first bytes.
    """

    def __init__(self, path: Path, head: bytes):
        self.path = path
        self.head = head

    @property
    def suffix(self) -> str:
        """The file's suffix, lower case (``".csv"``)."""
        return self.path.suffix.lower()

    @property
    def is_xml(self) -> bool:
        """Whether the content starts with ``<`` (after a byte-order mark and white space)."""
        return self.head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")

    @cached_property
    def xml_root(self) -> Node | None:
        """The parsed XML root element, or None for a file that is not XML.

        Raises
        ------
        HypnogramError
            If the file starts like XML but is not well-formed (names the line).
        """
        return parse_xml(self.path) if self.is_xml else None

    @cached_property
    def first_line(self) -> str | None:
        """The first line that is neither blank nor a ``#`` comment, or None for XML or a file
        without such a line.

        Raises
        ------
        HypnogramError
            If the file is binary (not text).
        """
        if self.is_xml:
            return None
        lines = content_lines(read_text_lines(self.path))
        return lines[0][1] if lines else None

    @cached_property
    def first_line_number(self) -> int | None:
        """The 1-based line number of :attr:`first_line`."""
        if self.first_line is None:
            return None
        return content_lines(read_text_lines(self.path))[0][0]


ReadHypnogram = Callable[[Path, "float | None"], object]
WriteHypnogram = Callable[[object, Path], None]


@dataclass(frozen=True)
class FileFormat:
    """One file format and what the engine can do with it.

    Attributes
    ----------
    name : str
        Stable name used on the command line and stored as ``Hypnogram.file_format``
        (``"csv"``, ``"nsrr-xml"``...).
    description : str
        Short human label, used in dialog filters (``"NSRR XML annotations"``).
    suffixes : tuple of str
        Lower-case suffixes with the dot that files of this format have (``(".xml",)``); they
        feed discovery, cohort label search and the open-dialog filter.
    sniff : callable
        ``sniff(probe: Probe) -> bool``: whether the file is in this format, from its content.
    aliases : tuple of str
        Other names accepted for ``fmt=`` (``"nsrr"``).
    priority : int
        Sniff order, lowest first. Formats with specific signatures (binary headers, XML roots,
        JSON objects, bracketed headers) come before loose text formats.
    save_suffix : str
        The suffix that picks this format when saving by file name alone; unique among
        formats, empty when the format must be asked for by name (two formats writing
        ``.csv``).
    keeps : frozenset of str
        What a hypnogram keeps through :attr:`write_hypnogram` then :attr:`read_hypnogram`
        beyond its stage codes (see :data:`KEEPABLE`); the round-trip tests check exactly this.
    read_hypnogram : callable, optional
        ``read(path, epoch_length) -> Hypnogram``; ``epoch_length`` None keeps the file's own
        epochs, a number resamples to it (or, for formats without timing, is the file's epoch).
        Raises HypnogramError naming the file (and line) for malformed content.
    write_hypnogram : callable, optional
        ``write(hyp, path) -> None``, atomic.
    read_events : callable, optional
        ``read(path, start) -> EventSet``: the scored events (not the sleep stages), onsets in
        seconds from the recording start. ``start`` (datetime or None) is the recording's clock
        start, used only by formats whose onsets are clock times and that carry no start of
        their own. Raises EventsError naming the file (and line) for malformed content.
    write_events : callable, optional
        ``write(events, path) -> None``, atomic.
    event_keeps : frozenset of str
        What an event set keeps through :attr:`write_events` then :attr:`read_events` beyond
        each event's onset, duration and type (see :data:`EVENT_KEEPABLE`); the round-trip
        tests check exactly this.
    event_save_suffix : str
        The file-name ending that picks this format when saving events by name alone (may be
        compound, ``".events.json"``); unique among formats, empty when it must be asked for.
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    sniff: Callable[[Probe], bool]
    aliases: tuple[str, ...] = ()
    priority: int = 100
    save_suffix: str = ""
    keeps: frozenset[str] = field(default_factory=frozenset)
    read_hypnogram: ReadHypnogram | None = None
    write_hypnogram: WriteHypnogram | None = None
    read_events: Callable | None = None
    write_events: Callable | None = None
    event_keeps: frozenset[str] = field(default_factory=frozenset)
    event_save_suffix: str = ""

    def __post_init__(self):
        if not self.name or self.name != self.name.strip().lower():
            raise ValueError(f"format name {self.name!r} must be non-empty lower case")
        bad = [s for s in self.suffixes if not s.startswith(".") or s != s.lower()]
        if bad or not self.suffixes:
            raise ValueError(f"format {self.name!r}: suffixes must be lower case and start with "
                             f"'.', got {self.suffixes!r}")
        if self.save_suffix and self.save_suffix not in self.suffixes:
            raise ValueError(f"format {self.name!r}: save_suffix {self.save_suffix!r} is not one "
                             "of its suffixes")
        unknown = set(self.keeps) - KEEPABLE
        if unknown:
            raise ValueError(f"format {self.name!r}: unknown keeps {sorted(unknown)}; "
                             f"known: {sorted(KEEPABLE)}")
        unknown = set(self.event_keeps) - EVENT_KEEPABLE
        if unknown:
            raise ValueError(f"format {self.name!r}: unknown event_keeps {sorted(unknown)}; "
                             f"known: {sorted(EVENT_KEEPABLE)}")
        if self.event_save_suffix and not any(self.event_save_suffix.endswith(s)
                                              for s in self.suffixes):
            raise ValueError(f"format {self.name!r}: event_save_suffix {self.event_save_suffix!r} "
                             "does not end with one of its suffixes")
        if self.read_hypnogram is None and self.read_events is None:
            raise ValueError(f"format {self.name!r} reads nothing (no read_hypnogram or read_events)")

    @property
    def dialog_filter(self) -> str:
        """This format as one dialog filter entry: ``"NSRR XML annotations (*.xml)"``."""
        return f"{self.description} ({' '.join('*' + s for s in self.suffixes)})"


_REGISTRY: dict[str, FileFormat] = {}


def register(fmt: FileFormat) -> FileFormat:
    """Add a format to the registry and return it.

    Raises
    ------
    ValueError
        If its name or an alias is taken, or its save suffix is another format's.
    """
    if not isinstance(fmt, FileFormat):
        raise TypeError(f"expected a FileFormat, got {type(fmt).__name__}")
    taken = {n for f in _REGISTRY.values() for n in (f.name, *f.aliases)}
    clash = sorted(taken & {fmt.name, *fmt.aliases})
    if clash:
        raise ValueError(f"format {fmt.name!r}: name or alias {clash} already registered")
    if fmt.save_suffix:
        owner = next((f.name for f in _REGISTRY.values() if f.save_suffix == fmt.save_suffix), None)
        if owner is not None:
            raise ValueError(f"format {fmt.name!r}: save suffix {fmt.save_suffix!r} already picks "
                             f"{owner!r}")
    if fmt.event_save_suffix:
        owner = next((f.name for f in _REGISTRY.values()
                      if f.event_save_suffix == fmt.event_save_suffix), None)
        if owner is not None:
            raise ValueError(f"format {fmt.name!r}: event save suffix {fmt.event_save_suffix!r} "
                             f"already picks {owner!r}")
    _REGISTRY[fmt.name] = fmt
    return fmt


def unregister(name: str) -> FileFormat:
    """Remove a registered format (by name) and return it.

    Raises
    ------
    KeyError
        If no such format is registered.
    """
    return _REGISTRY.pop(name)


def registered_formats() -> list[FileFormat]:
    """Every registered format, in sniff order (priority, then name)."""
    return sorted(_REGISTRY.values(), key=lambda f: (f.priority, f.name))


def find_format(name: str) -> FileFormat | None:
    """The format called ``name`` or one of its aliases (any case), or None."""
    key = str(name).strip().lower()
    return next((f for f in _REGISTRY.values() if key == f.name or key in f.aliases), None)


def get_format(name: str) -> FileFormat:
    """The format called ``name`` or one of its aliases (any case).

    Raises
    ------
    ValueError
        If no format has that name or alias.
    """
    fmt = find_format(name)
    if fmt is None:
        raise ValueError(f"unknown format {name!r}; known: "
                         f"{', '.join(f.name for f in registered_formats())}")
    return fmt


def read_formats() -> tuple[str, ...]:
    """Names of the formats hypnograms are read from, in sniff order."""
    return tuple(f.name for f in registered_formats() if f.read_hypnogram is not None)


def write_formats() -> tuple[str, ...]:
    """Names of the formats hypnograms are written in, in sniff order."""
    return tuple(f.name for f in registered_formats() if f.write_hypnogram is not None)


def _unique(items: Iterator[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def hypnogram_suffixes() -> tuple[str, ...]:
    """Suffixes of every readable hypnogram format (for discovery and cohort label search)."""
    return _unique(s for f in registered_formats() if f.read_hypnogram is not None
                   for s in f.suffixes)


def format_for_suffix(path: str | Path) -> FileFormat | None:
    """The writable format whose save suffix is the suffix of ``path``, or None (also for a
    name without a suffix: formats that must be asked for by name have an empty save suffix)."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return None
    return next((f for f in registered_formats()
                 if f.write_hypnogram is not None and f.save_suffix == suffix), None)


def hypnogram_dialog_filter(mode: str = "read") -> str:
    """A file-dialog filter string for opening (``"read"``) or saving (``"write"``) hypnograms.

    Opening: one entry with every readable suffix, one per format, then ``All files (*)``.
    Saving: one entry per format that is picked by its suffix (:attr:`FileFormat.save_suffix`).

    Raises
    ------
    ValueError
        For another ``mode``.
    """
    if mode == "read":
        formats = [f for f in registered_formats() if f.read_hypnogram is not None]
        every = " ".join("*" + s for s in hypnogram_suffixes())
        return ";;".join([f"Hypnograms ({every})"] + [f.dialog_filter for f in formats]
                         + ["All files (*)"])
    if mode == "write":
        formats = [f for f in registered_formats() if f.write_hypnogram is not None and f.save_suffix]
        return ";;".join(f"{f.description} (*{f.save_suffix})" for f in formats)
    raise ValueError(f"mode must be 'read' or 'write', got {mode!r}")


def recording_dialog_filter() -> str:
    """The file-dialog filter string for opening recordings (EDF, EDF+, BDF)."""
    patterns = " ".join(p for s in RECORDING_SUFFIXES for p in ("*" + s, "*" + s.upper()))
    return f"EDF/BDF recordings ({patterns});;All files (*)"


def detect(path: Path, formats: Iterable[FileFormat] | None = None) -> FileFormat:
    """The format of ``path`` from its content: the first of ``formats`` (default: every
    registered one), in sniff order, whose ``sniff`` accepts it.

    Raises
    ------
    HypnogramError
        If the file is missing, empty or in none of the formats (names the file and, for text
        and XML, the line).
    """
    candidates = registered_formats() if formats is None else sorted(
        formats, key=lambda f: (f.priority, f.name))
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise HypnogramError(path, "no such file") from None
    except IsADirectoryError:
        raise HypnogramError(path, "is a folder, not a hypnogram file") from None
    if not head.strip():
        raise HypnogramError(path, "the file is empty")
    probe = Probe(path, head)
    # A file named like a recording is taken only by a format that declares that suffix: an
    # ``.edf`` holding text is a broken file, not a CSV hypnogram.
    recording_named = probe.suffix in RECORDING_SUFFIXES
    for fmt in candidates:
        if recording_named and probe.suffix not in fmt.suffixes:
            continue
        if fmt.sniff(probe):
            return fmt
    if probe.xml_root is not None:
        xml = [f.name for f in candidates if ".xml" in f.suffixes]
        raise HypnogramError(path, f"XML with root <{probe.xml_root.tag}> is in no known format "
                                   f"(XML formats read: {', '.join(xml)})", probe.xml_root.line)
    if recording_named:
        raise HypnogramError(path, "has an EDF suffix but no EDF header")
    if probe.first_line is None:
        raise HypnogramError(path, "no content (only blank or comment lines)")
    raise HypnogramError(path, f"unrecognised hypnogram format (first line {probe.first_line[:60]!r}); "
                               f"supported: {', '.join(f.name for f in candidates)}",
                         probe.first_line_number)
