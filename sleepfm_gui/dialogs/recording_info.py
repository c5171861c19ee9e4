"""Recording information: patient and recording fields, start, duration, channels."""
from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from ..qt_axes import clock_text

__all__ = ["RecordingInfoDialog", "recording_info_html"]


def recording_info_html(rec: Any, modalities: dict[str, str] | None = None) -> str:
    """Patient and recording fields, start, duration and channels of ``rec`` as HTML."""
    e = html.escape
    dur = rec.duration
    h, rem = divmod(int(round(dur)), 3600)
    m, s = divmod(rem, 60)
    rows = [("File", str(rec.path)), ("Format", rec.format),
            ("Start", rec.start.strftime("%Y-%m-%d %H:%M:%S")),
            ("End", clock_text(rec.start, dur)),
            ("Duration", f"{h} h {m:02d} min {s:02d} s ({dur:g} s, {int(dur // 30)} epochs)")]
    p = rec.patient
    for key, name in (("code", "Patient code"), ("name", "Patient name"), ("sex", "Sex"),
                      ("birthdate", "Birth date"), ("additional", "Patient (more)")):
        if p.get(key):
            rows.append((name, p[key]))
    if not any(p.get(k) for k in ("code", "name", "sex", "birthdate")) and p.get("raw"):
        rows.append(("Patient field", p["raw"]))
    r = rec.recording_info
    for key, name in (("admin_code", "Admin code"), ("technician", "Technician"),
                      ("equipment", "Equipment"), ("additional", "Recording (more)")):
        if r.get(key):
            rows.append((name, r[key]))
    if not any(r.get(k) for k in ("admin_code", "technician", "equipment")) and r.get("raw"):
        rows.append(("Recording field", r["raw"]))
    out = ["<table cellspacing='2'>"]
    out += [f"<tr><td><b>{e(k)}</b></td><td>{e(str(v))}</td></tr>" for k, v in rows]
    out.append("</table>")
    if rec.warnings:
        out.append("<p><b>Warnings while reading the file</b></p><ul>")
        out += [f"<li>{e(w)}</li>" for w in rec.warnings]
        out.append("</ul>")
    out.append(f"<p><b>{len(rec.channels)} channels</b></p>")
    out.append("<table cellspacing='2' cellpadding='1'><tr><th align='left'>Label</th>"
               "<th align='right'>Rate</th><th>Unit</th><th align='left'>Modality</th>"
               "<th align='left'>Transducer</th><th align='left'>Prefilter</th></tr>")
    for c in rec.channels:
        mod = (modalities or {}).get(c.label, "")
        out.append(f"<tr><td>{e(c.label)}</td><td align='right'>{c.rate:g} Hz</td>"
                   f"<td>{e(c.raw_unit)}</td><td>{e(mod)}</td><td>{e(c.transducer)}</td>"
                   f"<td>{e(c.prefilter)}</td></tr>")
    out.append("</table>")
    return "".join(out)


class RecordingInfoDialog(QDialog):
    """Patient/recording fields, start, duration and the channels with their rates."""

    def __init__(self, rec: Any, modalities: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Recording information — {rec.path.name}")
        self.browser = QTextBrowser()
        self.browser.setHtml(recording_info_html(rec, modalities))
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)
        self.resize(720, 560)
