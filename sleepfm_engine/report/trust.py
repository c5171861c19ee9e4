"""The "Signal quality and model fit" part of a report: what the quality checks found in the
channels (:mod:`sleepfm_engine.quality`) and, for automatic staging and disease risk, whether
the night is like each model's training data (:mod:`sleepfm_engine.ood`).

The verdicts come with the analysis results, never from the application: the staging's is
``NightResult.ood`` (kept by the study of the application, passed by ``sleepfm report``, or
read from the record staged beside an automatic hypnogram file), the disease head's travels
in its ``RiskTable.ood``, a model event detector's (the SleepFM event head's) in the record of
its run (:func:`sleepfm_engine.report.events.detector_fit`: kept with the application's detector
layer, written beside the events file by ``sleepfm events detect``). So the application's PDF
and ``sleepfm report`` say the same.

The section exists only when there is something to say: a channel finding, a night flagged as
unlike the training data, or model checks that could not be made. A clean night says nothing,
so that the section is never read past as boilerplate.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
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
    risk_verdict : str
        The disease head's verdict (``""``: no disease risk, or no check of it).
    risk_flagged : bool
    risk_reasons : tuple of str
    event_fits : tuple of DetectorFit
        The verdicts of the model detectors whose events are reported, flagged or not fully
        checked (:class:`~sleepfm_engine.report.events.DetectorFit`; empty: none to say).
    """

    quality: tuple[QualityRow, ...] = ()
    verdict: str = ""
    flagged: bool = False
    model_reasons: tuple[str, ...] = ()
    risk_verdict: str = ""
    risk_flagged: bool = False
    risk_reasons: tuple[str, ...] = ()
    event_fits: tuple[Any, ...] = ()

    @property
    def headline(self) -> str:
        """:data:`FLAGGED_SENTENCE` for a flagged night, else ``""``."""
        return FLAGGED_SENTENCE if self.flagged else ""


def build_trust_section(quality: Any, ood: Any, deid: Deidentifier,
                        risk_ood: Any = None, event_fits: Any = ()) -> TrustSection | None:
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
    risk_ood : OODResult or None
        The disease-risk night's comparison with the diagnosis head's training data
        (``RiskTable.ood``); None without disease risk.
    event_fits : sequence of DetectorFit
        The verdicts of the model detectors whose events are reported
        (``EventsReport.fits``, already de-identified); those flagged or not fully checked
        are said.

    Returns
    -------
    TrustSection or None
        None when no channel has a finding and no model's night is flagged or missing checks.
    """
    rows = ()
    if quality is not None:
        rows = tuple(QualityRow(deid.text(c.label), c.modality, f.severity.value,
                                deid.text(f.reason), f in c.excluding)
                     for c in quality.channels for f in c.findings)
    def worth_saying(result: Any) -> bool:
        return result is not None and (result.flagged or bool(result.unavailable))

    fits = tuple(f for f in event_fits if f.flagged or not f.checked)
    if not rows and not worth_saying(ood) and not worth_saying(risk_ood) and not fits:
        return None
    section = TrustSection(quality=rows, event_fits=fits)
    if ood is not None:
        section = replace(section, verdict=ood.verdict, flagged=ood.flagged,
                          model_reasons=tuple(deid.text(r) for r in ood.reasons()))
    if risk_ood is not None:
        section = replace(section, risk_verdict=risk_ood.verdict, risk_flagged=risk_ood.flagged,
                          risk_reasons=tuple(deid.text(r) for r in risk_ood.reasons()))
    return section


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
