"""The "Signal quality and model fit" part of a report: what the quality checks found in the
channels (:mod:`sleepfm_engine.quality`) and, for automatic staging, whether the night is like
the model's training data (:mod:`sleepfm_engine.ood`).

The section exists only when there is something to say: a channel finding, a night flagged as
unlike the training data, or model checks that could not be made. A clean night says nothing,
so that the section is never read past as boilerplate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..deidentify import Deidentifier

__all__ = ["TITLE", "FLAGGED_SENTENCE", "QualityRow", "TrustSection", "build_trust_section",
           "staged_ood_file", "read_staged_ood"]

#: Heading of the section.
TITLE = "Signal quality and model fit"
#: What a flagged night's automatic staging tells the reader first.
FLAGGED_SENTENCE = ("Automatic staging of this night is unlike the model's training data: "
                    "review every epoch")


@dataclass(frozen=True)
class QualityRow:
    """One finding on one channel, display-ready.

    Attributes
    ----------
    channel, modality : str
    severity : str
        ``"info"``, ``"warning"`` or ``"error"``.
    reason : str
        What was measured against what was expected, in words a technologist reads.
    excluded : bool
        Whether the finding leaves the channel out of inference.
    """

    channel: str
    modality: str
    severity: str
    reason: str
    excluded: bool


@dataclass(frozen=True)
class TrustSection:
    """What the section prints.

    Attributes
    ----------
    quality : tuple of QualityRow
        Findings of the channels that have any, in file order.
    verdict : str
        The automatic staging's out-of-distribution verdict (``""``: no automatic staging or
        no record of it).
    flagged : bool
        Whether the night is unlike the model's training data.
    model_reasons : tuple of str
        Why, one sentence each, including the checks that were not available.
    """

    quality: tuple[QualityRow, ...] = ()
    verdict: str = ""
    flagged: bool = False
    model_reasons: tuple[str, ...] = ()

    @property
    def headline(self) -> str:
        """:data:`FLAGGED_SENTENCE` for a flagged night, else ``""``."""
        return FLAGGED_SENTENCE if self.flagged else ""


def build_trust_section(quality: Any, ood: Any, deid: Deidentifier) -> TrustSection | None:
    """The section of a report, or None when there is nothing to say.

    Parameters
    ----------
    quality : QualityReport or None
        :func:`sleepfm_engine.quality.assess_recording` of the recording (None: not checked).
    ood : OODResult or None
        The automatic staging's comparison with its training data; None without automatic
        staging (a manual hypnogram has no model to fit).
    deid : Deidentifier
        Scrubs channel labels and reasons like every other text of the report.

    Returns
    -------
    TrustSection or None
        None when no channel has a finding and the night is neither flagged nor missing checks.
    """
    rows = ()
    if quality is not None:
        rows = tuple(QualityRow(deid.text(c.label), c.modality, f.severity.value,
                                deid.text(f.reason), f in c.excluding)
                     for c in quality.channels for f in c.findings)
    say_model = ood is not None and (ood.flagged or bool(ood.unavailable))
    if not rows and not say_model:
        return None
    if ood is None:
        return TrustSection(quality=rows)
    return TrustSection(quality=rows, verdict=ood.verdict, flagged=ood.flagged,
                        model_reasons=tuple(deid.text(r) for r in ood.reasons()))


def staged_ood_file(hypnogram_source: str | None) -> Path | None:
    """The ``<name>.ood.json`` written beside an automatic hypnogram ``<name>.auto-hypnogram.csv``
    (None when the source is not such a file)."""
    from ..formats.discover import AUTOMATIC_HYPNOGRAM_SUFFIX
    from ..ood import ood_path
    from ..provenance import PROVENANCE_SUFFIX

    if not hypnogram_source or not hypnogram_source.endswith(AUTOMATIC_HYPNOGRAM_SUFFIX):
        return None
    stem = hypnogram_source[: -len(AUTOMATIC_HYPNOGRAM_SUFFIX)]
    # The night's analysis names its OOD record after its provenance file (ood.ood_path).
    return ood_path(stem + PROVENANCE_SUFFIX)


def read_staged_ood(hypnogram_source: str | None) -> Any:
    """The OOD record staged with an automatic hypnogram, or None when none lies beside it.

    Raises
    ------
    ModelError
        When a record is there but cannot be read (never silently ignored).
    """
    from ..ood import read_ood_file

    path = staged_ood_file(hypnogram_source)
    return read_ood_file(path) if path is not None and path.is_file() else None
