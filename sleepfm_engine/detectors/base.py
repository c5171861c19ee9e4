"""What every event detector returns, and the job that runs one."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from ..events import EventSet
from ..jobs import Job, TaskState


@dataclass
class Detection:
    """The result of running one detector on one recording.

    Attributes
    ----------
    events : EventSet
        The scored events (source = the detector with its name, version and settings); the
        candidates it rejected are in ``events.rejected`` with their reasons.
    summary : dict
        The detector's own indices under the keys of
        :data:`sleepfm_engine.indices.INDEX_DEFINITIONS` (``AHI``, ``ODI3``, ``PLMSI`` ...),
        so the indices table can set its figures beside ours. ``None`` where it scored
        nothing; keys it does not report are absent.
    not_scored : dict
        ``{part: reason}`` for each part of the scoring that did not run (``"respiratory"``,
        ``"hypopneas"``, ``"desaturations"``, ``"arousals"``, ``"limb_movements"``, ...). A part
        listed here has no events and ``None`` in the summary, never a zero.
    fallbacks : list of str
        Parts that ran in a reduced form (an optional dependency missing, a channel missing),
        in English.
    notes : list of str
        The detector's own remarks, in English (translated or summarised where the library
        writes another language).
    provenance : dict
        Library name and version, settings (profile), channels used per role, input rates.
    library_result : dict or None
        The library's own result, kept for audit (not JSON-safe in general).
    """

    events: EventSet
    summary: dict[str, Any] = field(default_factory=dict)
    not_scored: dict[str, str] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    library_result: dict | None = field(default=None, repr=False)


class Detector(Protocol):
    """An event detector: one module in :mod:`sleepfm_engine.detectors` provides one."""

    name: str
    description: str

    def version(self) -> str:
        """Version of the scoring library or model behind it."""

    def settings_help(self) -> Mapping[str, str]:
        """Setting name -> what it does (for the CLI and the application)."""

    def detect(self, recording: Any, hypnogram: Any = None, *, state: TaskState | None = None,
               **settings: Any) -> Detection:
        """Score ``recording`` (with ``hypnogram`` where the detector needs sleep stages)."""


def detection_job(detector: Detector, recording: Any, hypnogram: Any = None,
                  **settings: Any) -> Job:
    """A :class:`~sleepfm_engine.jobs.Job` running ``detector`` with progress and cancel."""
    def run(state: TaskState) -> Detection:
        return detector.detect(recording, hypnogram, state=state, **settings)

    return Job(f"detect events ({detector.name})", run)
