"""The report as a PDF (reportlab): one to two A4 or Letter pages, fonts embedded.

Page 1 is what a reader needs first: who and what was recorded, the montage, signal quality
and model fit (only when a channel has a finding or automatic staging is flagged or could not
be checked, :mod:`sleepfm_engine.report.trust`), the hypnogram (the
night's overview with SpO2, heart rate, position and event ticks when there are events) and the
AASM statistics. When the night has clinical events or SpO2/heart-rate signals, a page of
respiratory, oxygen, arousal, limb-movement and heart-rate sections follows. The last page holds
the details: stage transitions, manual-versus-automatic agreement, the research-only risk
section, provenance, definitions and the signature block.
Every page carries a footer with the generation time and "Page n of N".
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..atomic import atomic_path
from ..hypnogram import STAGE_LONG_NAMES, STAGES
from . import fonts
from .figures import figure_png, hypnogram_figure
from ..indices import INDEX_DEFINITIONS
from .events import denominator_text
from .model import MISSING, ROLES, ReportModel, format_ratio
from .trust import TITLE as _TRUST_TITLE

#: Paper sizes accepted by :func:`write_report_pdf`.
PAPER_SIZES = ("A4", "Letter")
_MARGIN_MM = 15.0
_HEADER_MM = 11.0
_FOOTER_MM = 10.0
_INK = "#1F2328"
_MUTED = "#5F6B76"
_RULE = "#B8C0C8"
_HEAD_BG = "#E9EEF3"
_ZEBRA = "#F7F9FB"
_WARN_BG = "#FFF4E5"
_WARN_INK = "#8A4B00"
_ACCENT = "#1C2F7A"
_MAX_WARNINGS = 4
# Page 1 shrinks to fit: past this many channel findings the rest are counted, not listed.
_MAX_QUALITY_ROWS = 8


def _styles():
    from reportlab.lib.colors import HexColor
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=fonts.REGULAR, fontSize=8.2, leading=10.4,
                          textColor=HexColor(_INK))
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.2, leading=9.0, spaceAfter=2),
        "muted": ParagraphStyle("muted", parent=base, fontSize=7.2, leading=9.0,
                                textColor=HexColor(_MUTED)),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.6, leading=9.2),
        "title": ParagraphStyle("title", parent=base, fontName=fonts.BOLD, fontSize=15,
                                leading=18, textColor=HexColor(_ACCENT)),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=8.6, leading=11,
                                   textColor=HexColor(_MUTED)),
        "h2": ParagraphStyle("h2", parent=base, fontName=fonts.BOLD, fontSize=10, leading=12,
                             textColor=HexColor(_ACCENT), spaceBefore=6, spaceAfter=2),
        "warn": ParagraphStyle("warn", parent=base, fontSize=7.8, leading=9.8,
                               textColor=HexColor(_WARN_INK)),
    }


def _p(text: Any, style) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def _heading(text: str, styles) -> list:
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import HRFlowable

    return [_p(text, styles["h2"]),
            HRFlowable(width="100%", thickness=0.6, color=HexColor(_RULE), spaceBefore=0,
                       spaceAfter=3)]


def _table(rows, col_widths, *, header_rows: int = 1, align_right_from: int | None = None,
           extra_style=(), zebra: bool = True):
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, colWidths=col_widths, repeatRows=header_rows, hAlign="LEFT")
    style = [
        ("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR),
        ("FONTSIZE", (0, 0), (-1, -1), 7.6),
        ("LEADING", (0, 0), (-1, -1), 9.2),
        ("TEXTCOLOR", (0, 0), (-1, -1), HexColor(_INK)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.6),
        ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3.5),
        ("LINEBELOW", (0, -1), (-1, -1), 0.5, HexColor(_RULE)),
    ]
    if header_rows:
        style += [("FONTNAME", (0, 0), (-1, header_rows - 1), fonts.BOLD),
                  ("BACKGROUND", (0, 0), (-1, header_rows - 1), HexColor(_HEAD_BG)),
                  ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.6, HexColor(_RULE))]
    if zebra:
        for r in range(header_rows + 1, len(rows), 2):
            style.append(("BACKGROUND", (0, r), (-1, r), HexColor(_ZEBRA)))
    if align_right_from is not None:
        style.append(("ALIGN", (align_right_from, 0), (-1, -1), "RIGHT"))
    style += list(extra_style)
    table.setStyle(TableStyle(style))
    return table


def _layout(cells: list, widths: list[float]):
    """A borderless one-row table placing flowables side by side."""
    from reportlab.platypus import Table, TableStyle

    outer = Table([cells], colWidths=widths, hAlign="LEFT")
    outer.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR),
                               ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                               ("TOPPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return outer


def _key_values(title: str, items: list[tuple[str, str]], width: float, styles):
    rows = [[title, ""]] + [[_p(k, styles["cell"]), _p(v, styles["cell"])] for k, v in items]
    return _table(rows, [width * 0.36, width * 0.64],
                  extra_style=[("SPAN", (0, 0), (1, 0)), ("VALIGN", (0, 1), (-1, -1), "TOP")])


# ------------------------------------------------------------------------------------ sections
def _identification(model: ReportModel, width: float, styles) -> list:

    gap = 8.0
    half = (width - gap) / 2
    left = _key_values("Patient" if not model.deidentified else "Subject (de-identified)",
                       model.patient, half, styles)
    right = _key_values("Recording", model.recording, half, styles)
    outer = _layout([left, "", right], [half, gap, half])
    return [outer]


def _montage(model: ReportModel, width: float, styles) -> list:
    rows = [["Modality", "Signals used by SleepFM", "Present, not used"]]
    for modality, description, used, unused in model.montage:
        name = "Other" if modality == "other" else modality
        rows.append([_p(f"{name} \u2014 {description}", styles["cell"]),
                     _p(", ".join(used) if used else MISSING, styles["cell"]),
                     _p(", ".join(unused) if unused else MISSING, styles["cell"])])
    return (_heading("Montage", styles)
            + [_table(rows, [width * 0.30, width * 0.45, width * 0.25],
                      extra_style=[("VALIGN", (0, 1), (-1, -1), "TOP")])])


def _trust(model: ReportModel, width: float, styles) -> list:
    """Channel quality findings and the automatic staging's fit to its training data."""
    trust = model.trust
    if trust is None:
        return []
    out = _heading(_TRUST_TITLE, styles)
    if trust.headline:
        out.append(_p(trust.headline + ".", styles["warn"]))
    if trust.verdict:
        out.append(_p(f"Automatic staging: the night is {trust.verdict}.", styles["small"]))
        out += [_p(f"\u2022 {r}", styles["small"]) for r in trust.model_reasons]
    if trust.risk_verdict:
        out.append(_p(f"Disease risk: the night is {trust.risk_verdict}"
                      + (" — read its ranking with caution." if trust.risk_flagged else "."),
                      styles["warn" if trust.risk_flagged else "small"]))
        out += [_p(f"\u2022 {r}", styles["small"]) for r in trust.risk_reasons]
    out += [_p(f"Scored events ({fit.detector}): {fit.sentence}.",
               styles["warn" if fit.flagged else "small"]) for fit in trust.event_fits]
    if trust.quality:
        shown = trust.quality[:_MAX_QUALITY_ROWS]
        rows = [["Channel", "Modality", "Severity", "Finding"]]
        rows += [[_p(q.channel, styles["cell"]), q.modality,
                  q.severity + (" (left out)" if q.excluded else ""), _p(q.reason, styles["cell"])]
                 for q in shown]
        out.append(_table(rows, [width * 0.14, width * 0.10, width * 0.14, width * 0.62],
                          extra_style=[("VALIGN", (0, 1), (-1, -1), "TOP")]))
        if len(trust.quality) > len(shown):
            out.append(_p(f"({len(trust.quality) - len(shown)} more channel findings not shown; "
                          "`sleepfm channels` lists them all)", styles["muted"]))
        if any(q.excluded for q in trust.quality):
            out.append(_p("Channels left out are not given to SleepFM unless the user overrides "
                          "the check.", styles["muted"]))
    return out


def _hypnogram(model: ReportModel, width: float, styles) -> list:
    from reportlab.platypus import Image

    out = _heading("Hypnogram" if model.events is None else "Overview", styles)
    fig = hypnogram_figure(model, width_in=width / 72.0)
    if fig is None:
        return out + [_p("No hypnogram: the recording was neither scored manually nor staged "
                         "automatically.", styles["muted"])]
    png = figure_png(fig)
    w_in, h_in = fig.get_size_inches()
    out.append(Image(io.BytesIO(png), width=width, height=width * h_in / w_in))
    marks = [f"{name} {t:%H:%M}" for name, t in (("lights off", model.lights_off),
                                                ("lights on", model.lights_on)) if t is not None]
    if marks:
        out.append(_p("Dashed lines: " + ", ".join(marks) + ".", styles["muted"]))
    if model.events is not None and model.events.sources:
        out.append(_p("Event ticks: " + "; ".join(model.events.sources) + ".", styles["muted"]))
    return out


def _events(model: ReportModel, width: float, styles) -> list:
    """The respiratory, oxygen, arousal, limb-movement and heart-rate sections."""
    from reportlab.platypus import Spacer

    ev = model.events
    if ev is None:
        return []
    out: list = []
    gap = 8.0
    left_w = width * 0.60
    right_w = width - left_w - gap
    for section in ev.sections:
        out += _heading(section.title, styles)
        out.append(_p(f"Source: {section.source}", styles["muted"]))
        out += [_p(f"{fit.sentence}.", styles["warn" if fit.flagged else "muted"])
                for fit in section.fits]
        out.append(Spacer(1, 2))
        rows = [["Index", "Unit", "Value"]]
        rows += [[_p(name, styles["cell"]), unit, value] for _k, name, unit, value in section.rows]
        if len(rows) == 1:
            rows.append([_p("No index: see the note on sleep time below.", styles["cell"]), "", ""])
        indices = _table(rows, [left_w * 0.66, left_w * 0.12, left_w * 0.22],
                         align_right_from=2)
        counts = [["Events (whole recording)", "Code", "Count"]]
        counts += [[_p(label, styles["cell"]), code, str(n)] for label, code, n in section.counts]
        if len(counts) == 1:
            counts.append([_p("none scored", styles["cell"]), "", ""])
        right = _table(counts, [right_w * 0.62, right_w * 0.18, right_w * 0.20],
                       align_right_from=2)
        out.append(_layout([indices, "", right], [left_w, gap, right_w]))
        if section.rows:
            key, name = section.rows[0][0], section.rows[0][1]
            out.append(_p(f"{name}: {INDEX_DEFINITIONS[key].definition}.", styles["muted"]))
    out.append(Spacer(1, 4))
    out.append(_p(denominator_text(ev), styles["small"]))
    out.append(_p("A section appears only when its events or its signal exist: a missing section "
                  "means nothing of that kind was scored or recorded, not that none occurred.",
                  styles["small"]))
    out += [_p(n, styles["muted"]) for n in ev.notes]
    return out


def _statistics(model: ReportModel, width: float, styles) -> list:

    roles = model.roles
    out = _heading("Sleep statistics (AASM)", styles)
    if not roles:
        return out + [_p("No hypnogram, no statistics.", styles["muted"])]
    names = [ROLES[r] for r in roles]
    gap = 8.0
    left_w = width * 0.56
    right_w = width - left_w - gap
    rows = [["Parameter", "Unit", *names]]
    for _key, label, unit, values in model.summary_rows():
        rows.append([label, unit, *values])
    vw = (left_w - left_w * 0.50 - left_w * 0.10) / len(roles)
    summary = _table(rows, [left_w * 0.50, left_w * 0.10] + [vw] * len(roles),
                     align_right_from=2)
    head1 = ["Stage"]
    head2 = [""]
    for name in names:
        head1 += [name, ""]
        head2 += ["min", "% TST"]
    srows = [head1, head2]
    for _name, long_name, cells in model.stage_rows():
        row = [long_name]
        for minutes, pct in cells:
            row += [minutes, pct]
        srows.append(row)
    cw = (right_w * 0.30, *([right_w * 0.70 / (2 * len(roles))] * (2 * len(roles))))
    spans = [("SPAN", (1 + 2 * i, 0), (2 + 2 * i, 0)) for i in range(len(roles))]
    stages = _table(srows, list(cw), header_rows=2, align_right_from=1,
                    extra_style=spans + [("ALIGN", (1, 0), (-1, 0), "CENTER"),
                                         ("SPAN", (0, 0), (0, 1)), ("VALIGN", (0, 0), (0, 1), "MIDDLE")])
    outer = _layout([summary, "", stages], [left_w, gap, right_w])
    return out + [outer]


def _transitions(model: ReportModel, width: float, styles) -> list:
    from reportlab.lib.colors import HexColor

    roles = model.roles
    if not roles:
        return []
    out = _heading("Stage transitions", styles)
    gap = 8.0
    each = (width - gap * (len(roles) - 1)) / len(roles) if len(roles) > 1 else width * 0.55
    tables = []
    short = [STAGE_LONG_NAMES[s] for s in STAGES]
    for role in roles:
        m = model.transitions[role]
        rows = [[f"{ROLES[role]}", "", "", "", "", ""],
                ["From \u2193  to \u2192", *short]]
        for i, name in enumerate(short):
            rows.append([name] + ["\u00b7" if i == j else str(int(m[i, j]))
                                  for j in range(len(STAGES))])
        shifts = model.statistics[role]["stage_shifts"]
        rows.append([f"Stage shifts: {shifts}", "", "", "", "", ""])
        cw = [each * 0.40] + [each * 0.12] * len(STAGES)
        t = _table(rows, cw, header_rows=2, align_right_from=1, zebra=False,
                   extra_style=[("SPAN", (0, 0), (-1, 0)), ("ALIGN", (0, 0), (-1, 0), "LEFT"),
                                ("SPAN", (0, -1), (-1, -1)), ("ALIGN", (0, -1), (-1, -1), "LEFT"),
                                ("FONTNAME", (0, 2), (0, -2), fonts.BOLD),
                                ("TEXTCOLOR", (0, -1), (-1, -1), HexColor(_MUTED)),
                                ("LINEABOVE", (0, -1), (-1, -1), 0.4, HexColor(_RULE))])
        tables.append(t)
    if len(tables) == 1:
        return out + tables
    cells, widths = [], []
    for i, t in enumerate(tables):
        if i:
            cells.append("")
            widths.append(gap)
        cells.append(t)
        widths.append(each)
    outer = _layout(cells, widths)
    return out + [outer, _p("Changes between consecutive scored epochs (unscored and artefact "
                            "epochs skipped); rows: stage before, columns: stage after.",
                            styles["muted"])]


def _agreement(model: ReportModel, width: float, styles) -> list:
    agr = model.agreement
    if not agr:
        return []
    out = _heading("Manual versus automatic staging", styles)
    acc = agr.get("accuracy")
    summary = (f"Cohen's kappa {format_ratio(agr.get('kappa'))}   \u00b7   accuracy "
               f"{MISSING if acc is None else f'{100 * acc:.1f} %'}   \u00b7   macro F1 "
               f"{format_ratio(agr.get('macro_f1'))}   \u00b7   epochs compared "
               f"{agr['n_compared']} (excluded {agr['n_excluded']})")
    out.append(_p(summary, styles["body"]))
    from reportlab.platypus import Spacer

    out.append(Spacer(1, 3))
    labels = [STAGE_LONG_NAMES[s] for s in agr["labels"]]
    cm = agr["confusion_matrix"]
    rows = [["Manual \u2193  SleepFM \u2192", *labels, "Total", "Recall %", "F1"]]
    for i, name in enumerate(labels):
        total = sum(cm[i])
        rec = agr["recall"].get(agr["labels"][i])
        f1 = agr["f1"].get(agr["labels"][i])
        rows.append([name, *[str(v) for v in cm[i]], str(total),
                     MISSING if rec is None else f"{100 * rec:.1f}", format_ratio(f1)])
    col_tot = [sum(cm[i][j] for i in range(len(cm))) for j in range(len(labels))]
    rows.append(["Total", *[str(v) for v in col_tot], str(agr["n_compared"]), "", ""])
    prec = [agr["precision"].get(s) for s in agr["labels"]]
    rows.append(["Precision %", *[MISSING if p is None else f"{100 * p:.1f}" for p in prec],
                 "", "", ""])
    n = len(labels)
    cw = [width * 0.20] + [width * 0.085] * n + [width * 0.09, width * 0.09, width * 0.075]
    diag = [("FONTNAME", (1 + i, 1 + i), (1 + i, 1 + i), fonts.BOLD) for i in range(n)]
    t = _table(rows, cw, align_right_from=1, zebra=False,
               extra_style=diag + [("FONTNAME", (0, 1), (0, -1), fonts.BOLD),
                                   ("LINEABOVE", (0, -2), (-1, -2), 0.4, "#B8C0C8")])
    return out + [t, _p("Rows: manual scoring (reference); columns: SleepFM. Recall = sensitivity "
                        "per manual stage; precision = positive predictive value per SleepFM "
                        "stage.", styles["muted"])]


def _risk(model: ReportModel, width: float, styles) -> list:
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import Table, TableStyle

    if model.risk is None:
        return []
    out = _heading("Disease risk \u2014 research use only", styles)
    warn = Table([[_p("RESEARCH USE ONLY \u2014 uncalibrated output of the SleepFM diagnosis "
                      f"model. Scores ({model.risk_score_name or 'model scores'}) are relative "
                      "to the model's training cohort: they are not probabilities, are not "
                      "calibrated to this population and are not a diagnosis. Do not use them "
                      "for clinical decisions.",
                      styles["warn"])]], colWidths=[width], hAlign="LEFT")
    warn.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR),
                              ("BACKGROUND", (0, 0), (-1, -1), HexColor(_WARN_BG)),
                              ("BOX", (0, 0), (-1, -1), 0.6, HexColor("#E0A050")),
                              ("LEFTPADDING", (0, 0), (-1, -1), 5),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 5),
                              ("TOPPADDING", (0, 0), (-1, -1), 3),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    out.append(warn)
    if not model.risk:
        return out + [_p("The model produced no finite scores.", styles["muted"])]
    from reportlab.platypus import Spacer

    rows = [["Rank", "Phecode", "Phenotype", "Score"]]
    for i, r in enumerate(model.risk, 1):
        rows.append([str(i), r.phecode or MISSING, _p(r.phenotype or MISSING, styles["cell"]),
                     f"{r.score:.3f}"])
    t = _table(rows, [width * 0.07, width * 0.12, width * 0.66, width * 0.15],
               extra_style=[("ALIGN", (0, 0), (1, -1), "RIGHT"), ("ALIGN", (3, 0), (3, -1), "RIGHT")])
    caption = f"Top {len(model.risk)} phenotypes by score, highest first."
    if model.risk_inputs:
        caption += f" Inputs: {model.risk_inputs}."
    return out + [Spacer(1, 3), t, _p(caption, styles["muted"])]


def _provenance(model: ReportModel, width: float, styles) -> list:
    out = _heading("Provenance", styles)
    items = list(model.provenance)
    for role in model.roles:
        hyp = model.hypnograms[role]
        what = f"{hyp.n_epochs} epochs of {hyp.epoch_length:g} s"
        if hyp.source:
            what += f", from {Path(hyp.source).name if os.sep in hyp.source or '/' in hyp.source else hyp.source}"
        items.append((f"{ROLES[role]} hypnogram", f"{model.scorers.get(role, '')}; {what}"))
    items.append(("Report generated", model.generated_at.strftime("%Y-%m-%d %H:%M:%S")))
    rows = [[_p(k, styles["cell"]), _p(v, styles["cell"])] for k, v in items]
    return out + [_table(rows, [width * 0.22, width * 0.78], header_rows=0,
                         extra_style=[("VALIGN", (0, 0), (-1, -1), "TOP")])]


def _notes(model: ReportModel, width: float, styles) -> list:
    out = _heading("Notes", styles)
    out += [_p(n, styles["small"]) for n in model.notes]
    shown = model.warnings[:_MAX_WARNINGS]
    for w in shown:
        out.append(_p(f"Warning: {w}", styles["warn"]))
    if len(model.warnings) > len(shown):
        out.append(_p(f"({len(model.warnings) - len(shown)} more warnings not shown)",
                      styles["warn"]))
    return out


def _signature(width: float, styles) -> list:
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import Spacer

    rows = [["Interpreted by", "", "Date", "", "Signature", ""]]
    t = _table(rows, [width * 0.13, width * 0.32, width * 0.06, width * 0.15, width * 0.10,
                      width * 0.24], header_rows=0, zebra=False,
               extra_style=[("LINEBELOW", (1, 0), (1, 0), 0.6, HexColor(_INK)),
                            ("LINEBELOW", (3, 0), (3, 0), 0.6, HexColor(_INK)),
                            ("LINEBELOW", (5, 0), (5, 0), 0.6, HexColor(_INK)),
                            ("LINEBELOW", (0, 0), (0, 0), 0, HexColor("#FFFFFF")),
                            ("LINEBELOW", (2, 0), (2, 0), 0, HexColor("#FFFFFF")),
                            ("LINEBELOW", (4, 0), (4, 0), 0, HexColor("#FFFFFF")),
                            ("TOPPADDING", (0, 0), (-1, -1), 14),
                            ("TEXTCOLOR", (0, 0), (-1, -1), HexColor(_MUTED))])
    return [Spacer(1, 10), t]


# ------------------------------------------------------------------------------------ document
def _page_size(paper: str):
    from reportlab.lib.pagesizes import A4, letter

    key = str(paper).strip().lower()
    if key == "a4":
        return A4
    if key in ("letter", "us-letter", "usletter"):
        return letter
    raise ValueError(f"paper must be one of {', '.join(PAPER_SIZES)}, not {paper!r}")


def _canvas_class(model: ReportModel, page_size):
    """A canvas that defers pages so the footer can say "Page n of N"."""
    from reportlab.lib.colors import HexColor
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    from .. import __version__

    w, h = page_size
    margin = _MARGIN_MM * mm

    class _NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            # Never let reportlab fall back on (unembedded) Helvetica for its initial font.
            kwargs["initialFontName"] = fonts.REGULAR
            kwargs["initialFontSize"] = 8
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                Canvas.showPage(self)
            Canvas.save(self)

        def _decorate(self, total: int) -> None:
            self.saveState()
            self.setStrokeColor(HexColor(_RULE))
            self.setLineWidth(0.5)
            top = h - margin + 2 * mm
            self.setFont(fonts.BOLD, 8)
            self.setFillColor(HexColor(_ACCENT))
            self.drawString(margin, top, "SleepFM Studio")
            self.setFillColor(HexColor(_MUTED))
            brand_w = self.stringWidth("SleepFM Studio", fonts.BOLD, 8)
            self.setFont(fonts.REGULAR, 8)
            self.drawString(margin + brand_w + 4, top, f"\u00b7  {model.title}")
            if model.deidentified:
                self.setFont(fonts.BOLD, 8)
                self.setFillColor(HexColor("#B42318"))
                self.drawRightString(w - margin, top, "DE-IDENTIFIED")
            else:
                self.drawRightString(w - margin, top, model.recording_name)
            self.line(margin, top - 2 * mm, w - margin, top - 2 * mm)
            bottom = margin - 6 * mm
            self.line(margin, bottom + 4 * mm, w - margin, bottom + 4 * mm)
            self.setFont(fonts.REGULAR, 7)
            self.setFillColor(HexColor(_MUTED))
            self.drawString(margin, bottom,
                            f"Generated {model.generated_at:%Y-%m-%d %H:%M} by SleepFM Studio "
                            f"{__version__} \u00b7 not a medical device; results require review "
                            "by a qualified clinician")
            self.drawRightString(w - margin, bottom, f"Page {self._pageNumber} of {total}")
            self.restoreState()

    return _NumberedCanvas


def build_story(model: ReportModel, width: float, height: float | None = None) -> list:
    """The flowables of the report (for embedding in other reportlab documents).

    Parameters
    ----------
    width : float
        Text width (points).
    height : float, optional
        Frame height (points). Given, each page's content is kept in one frame and shrunk a
        little when it would not fit, so the report never runs past two pages.
    """
    from reportlab.platypus import KeepInFrame, PageBreak, Spacer

    styles = _styles()
    first: list = [_p(model.title, styles["title"])]
    start = (MISSING if model.recording_start is None
             else model.recording_start.strftime("%Y-%m-%d %H:%M"))
    sub = f"{model.recording_name} \u00b7 recorded {start}"
    if model.roles:
        sub += " \u00b7 " + " and ".join(
            "manual scoring" if r == "manual" else "SleepFM automatic staging" for r in model.roles)
    first.append(_p(sub, styles["subtitle"]))
    first.append(Spacer(1, 6))
    first += _identification(model, width, styles)
    first += _montage(model, width, styles)
    first += _trust(model, width, styles)
    first += _hypnogram(model, width, styles)
    first += _statistics(model, width, styles)
    events = _events(model, width, styles)
    second: list = []
    second += _transitions(model, width, styles)
    second += _agreement(model, width, styles)
    second += _risk(model, width, styles)
    second += _provenance(model, width, styles)
    second += _notes(model, width, styles)
    second += _signature(width, styles)
    pages = [first] + ([events] if events else []) + [second]
    if height is None:
        return [f for i, page in enumerate(pages) for f in ([PageBreak()] if i else []) + page]
    story: list = []
    for i, page in enumerate(pages):
        story += ([PageBreak()] if i else []) + [KeepInFrame(width, height, page, mode="shrink")]
    return story


def write_report_pdf(model: ReportModel, path: str | os.PathLike, paper: str = "A4") -> Path:
    """Write the report as a PDF, atomically (temporary file, then rename).

    Parameters
    ----------
    model : ReportModel
        From :func:`sleepfm_engine.report.build_report`.
    path : str or PathLike
        The PDF to (re)place. Refusing to overwrite is the caller's decision.
    paper : {"A4", "Letter"}

    Returns
    -------
    Path
    """
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    if not isinstance(model, ReportModel):
        raise TypeError(f"expected a ReportModel, got {type(model).__name__}")
    fonts.register_fonts()
    size = _page_size(paper)
    path = Path(path)
    margin = _MARGIN_MM * mm
    with atomic_path(path) as tmp:
        doc = SimpleDocTemplate(
            str(tmp), pagesize=size, leftMargin=margin, rightMargin=margin,
            topMargin=margin + _HEADER_MM * mm - 6 * mm, bottomMargin=margin + _FOOTER_MM * mm - 6 * mm,
            title=model.title, author="SleepFM Studio",
            subject=("De-identified sleep study report" if model.deidentified
                     else "Sleep study report"),
            creator="SleepFM Studio", producer="SleepFM Studio (reportlab)")
        # The frame pads its content by 6 pt on each side.
        story = build_story(model, doc.width - 12, doc.height - 12)
        doc.build(story, canvasmaker=_canvas_class(model, size))
    return path
