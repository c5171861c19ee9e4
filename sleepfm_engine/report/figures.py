"""Report figures, drawn with matplotlib's Agg canvas (no display, no pyplot global state).

The hypnogram figure stacks one panel per hypnogram (manual, then automatic) and, when the
automatic staging has probabilities, a hypnodensity panel, all on one clock-time axis. When the
report has clinical events or level signals (:attr:`ReportModel.events`) it becomes the night's
overview, as on the first page of a clinical PSG report: below the hypnograms come the SpO2
trend, the heart rate, the body position and one row of event ticks per event family, each
panel only when its data exist.
"""
from __future__ import annotations

import datetime as _dt
import io
import math
from typing import TYPE_CHECKING

import numpy as np

from ..events import EVENT_TYPES, EventType
from ..hypnogram import (ARTEFACT, PLOT_ORDER, STAGE_COLORS, STAGE_LONG_NAMES, STAGES, UNSCORED,
                         Hypnogram)
from ..indices import HR_VALID_RANGE, SPO2_VALID_RANGE
from ..position import POSITIONS, UNKNOWN_POSITION
from .events import EventsReport, overview_ticks, trend
from .model import ReportModel

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: Resolution of figures embedded in the PDF (dots per inch).
FIGURE_DPI = 220
_PANEL_IN = 0.9
_DENSITY_IN = 0.6
_TREND_IN = 0.62
_POSITION_IN = 0.5
_TICK_ROW_IN = 0.16
# Trend colours are those of the events they go with (desaturation, bradycardia, position change).
_SPO2_COLOUR = EVENT_TYPES[EventType.desaturation].colour
_HR_COLOUR = EVENT_TYPES[EventType.bradycardia].colour
_POSITION_COLOUR = EVENT_TYPES[EventType.position_change].colour
#: Short row names of the event-tick panel, per family (others print the family name).
_FAMILY_ROWS = {"respiratory": "Resp.", "oxygen": "Desat.", "arousal": "Arousal",
                "limb": "Limb", "cardiac": "Cardiac"}
_AXIS_IN = 0.38
_TEXT = "#222222"
_GRID = "#DDDDDD"


def _seconds_from_start(model: ReportModel, hyp: Hypnogram) -> np.ndarray:
    shift = 0.0
    if hyp.start is not None and model.recording_start is not None:
        shift = (hyp.start - model.recording_start).total_seconds()
    return shift + hyp.onsets


def _runs(codes: np.ndarray) -> list[tuple[int, int, int]]:
    """(first, stop, code) of runs of equal codes."""
    if codes.size == 0:
        return []
    edges = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [codes.size]])
    return [(int(a), int(b), int(codes[a])) for a, b in zip(starts, stops)]


def _hour_ticks(ax, model: ReportModel, t_max_h: float) -> None:
    start = model.recording_start
    if start is None:
        step = 1 if t_max_h <= 12 else 2
        ticks = np.arange(0, math.floor(t_max_h) + 1, step)
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{int(t)} h" for t in ticks])
        return
    offset_h = (start.minute * 60 + start.second + start.microsecond / 1e6) / 3600.0
    # Tick every clock hour for nights; quarter hours, or 5 minutes, for short excerpts.
    step = 2.0 if t_max_h > 12 else 1.0 if t_max_h > 2 else 0.25 if t_max_h > 0.75 else 5 / 60
    first = (-offset_h) % step
    ticks = np.arange(first, t_max_h + 1e-9, step)
    ax.set_xticks(ticks)
    ax.set_xticklabels([(start + _dt.timedelta(hours=float(t))).strftime("%H:%M") for t in ticks])


def _draw_hypnogram(ax, model: ReportModel, hyp: Hypnogram, title: str) -> None:
    level = {STAGES.index(s): len(PLOT_ORDER) - 1 - i for i, s in enumerate(PLOT_ORDER)}
    t = _seconds_from_start(model, hyp) / 3600.0
    dt = hyp.epoch_length / 3600.0
    codes = hyp.stages.astype(np.int64)
    xs, ys = [], []
    bars: dict[int, list[tuple[float, float]]] = {}
    # One artist per stage (not per run) keeps a noisy night's figure fast to draw.
    for a, b, code in _runs(codes):
        x0, x1 = t[a], t[b - 1] + dt
        bars.setdefault(code, []).append((x0, x1))
        if code in (UNSCORED, ARTEFACT):
            xs += [np.nan, np.nan]
            ys += [np.nan, np.nan]
        else:
            xs += [x0, x1]
            ys += [level[code], level[code]]
    for code, spans in bars.items():
        x0 = np.array([s[0] for s in spans])
        x1 = np.array([s[1] for s in spans])
        if code in (UNSCORED, ARTEFACT):
            ax.broken_barh(list(zip(x0, x1 - x0)), (-0.6, len(PLOT_ORDER)),
                           facecolors=STAGE_COLORS["?" if code == UNSCORED else "A"], alpha=0.35,
                           lw=0)
            continue
        name = STAGES[code]
        ax.hlines(np.full(x0.shape, level[code]), x0, x1, colors=STAGE_COLORS[name],
                  lw=4.2 if name == "R" else 3.0, zorder=3)
    ax.plot(xs, ys, color="#555555", lw=0.6, zorder=2)
    ax.set_ylim(-0.6, len(PLOT_ORDER) - 0.4)
    ax.set_yticks(range(len(PLOT_ORDER)))
    ax.set_yticklabels([STAGE_LONG_NAMES[s] for s in reversed(PLOT_ORDER)])
    ax.grid(axis="x", color=_GRID, lw=0.5)
    ax.set_title(title, loc="left", fontsize=7.5, color=_TEXT, pad=2, fontweight="bold")


def _draw_density(ax, model: ReportModel, hyp: Hypnogram) -> None:
    t = _seconds_from_start(model, hyp) / 3600.0
    x = np.append(t, t[-1] + hyp.epoch_length / 3600.0) if t.size else t
    probs = np.nan_to_num(np.asarray(hyp.probabilities, dtype=np.float64), nan=0.0)
    bottom = np.zeros(probs.shape[0])
    # Deep sleep at the bottom, wake on top, matching the hypnogram's layout.
    for name in reversed(PLOT_ORDER):
        p = probs[:, STAGES.index(name)]
        top = bottom + p
        ax.fill_between(x, np.append(bottom, bottom[-1:]), np.append(top, top[-1:]), step="post",
                        color=STAGE_COLORS[name], lw=0, label=STAGE_LONG_NAMES[name])
        bottom = top
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 0.5, 1])
    ax.set_yticklabels(["0", "0.5", "1"])
    ax.set_ylabel("p", fontsize=7, rotation=0, labelpad=8, va="center")
    ax.set_title("Hypnodensity (SleepFM stage probabilities)", loc="left", fontsize=7.5,
                 color=_TEXT, pad=2, fontweight="bold")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.005, 1.0),
              fontsize=6.5, frameon=False, handlelength=1.0, borderaxespad=0.0)


def _mark_lights(axes, model: ReportModel, t_max: float) -> None:
    """Dashed verticals at lights off and lights on, the time outside them greyed (the PDF's
    caption names them)."""
    if model.recording_start is None:
        return
    for when, label in ((model.lights_off, "_lights off"), (model.lights_on, "_lights on")):
        if when is None:
            continue
        x = (when - model.recording_start).total_seconds() / 3600.0
        outside = (0.0, x) if label == "_lights off" else (x, t_max)
        for ax in axes:
            ax.axvline(x, color="#333333", lw=0.8, ls=(0, (3, 2)), zorder=4, label=label)
            if outside[1] > outside[0]:
                ax.axvspan(*outside, color="#9AA5B1", alpha=0.18, lw=0, zorder=1)


def _style_title(ax, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=7.5, color=_TEXT, pad=2, fontweight="bold")


def _draw_trend(ax, x: np.ndarray, y: np.ndarray, colour: str, unit: str, title: str,
                floor: float | None = None) -> None:
    ax.plot(x, y, color=colour, lw=0.6)
    finite = y[np.isfinite(y)]
    if floor is not None and finite.size:
        # SpO2: 100 % at the top, the axis reaching just below the nadir (and at least 90 %).
        low = min(floor, 5.0 * np.floor(finite.min() / 5.0))
        ax.set_ylim(low, 100.5)
        ax.axhline(floor, color="#888888", lw=0.5, ls=(0, (3, 2)))
    elif finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        pad = max(2.0, 0.08 * (hi - lo))
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_ylabel(unit, fontsize=6.5, rotation=0, labelpad=10, va="center")
    ax.grid(axis="x", color=_GRID, lw=0.5)
    _style_title(ax, title)


def _draw_position(ax, events: EventsReport) -> None:
    pos = events.signals.position
    t = pos.times / 3600.0
    dt = 1.0 / pos.rate / 3600.0
    for a, b, code in _runs(pos.codes.astype(np.int64)):
        if code == UNKNOWN_POSITION:
            continue
        ax.hlines(len(POSITIONS) - 1 - code, t[a], t[b - 1] + dt, colors=_POSITION_COLOUR, lw=2.6)
    ax.set_ylim(-0.6, len(POSITIONS) - 0.4)
    ax.set_yticks(range(len(POSITIONS)))
    ax.set_yticklabels([p.capitalize() for p in reversed(POSITIONS)])
    ax.grid(axis="x", color=_GRID, lw=0.5)
    _style_title(ax, f"Body position \u2014 {events.signals.channels['position']}")


def _draw_ticks(ax, ticks: dict[str, list[tuple[float, float, str]]], t_max: float) -> None:
    # An instant or a 10-s event is thinner than a pixel on a night's axis: ticks get a minimum
    # width of 1/800 of the axis so that every event stays visible.
    least = t_max / 800.0
    rows = list(ticks)
    for i, fam in enumerate(rows):
        y = len(rows) - 1 - i
        spans = [(on / 3600.0, max(dur / 3600.0, least)) for on, dur, _ in ticks[fam]]
        ax.broken_barh(spans, (y - 0.36, 0.72), facecolors=[c for _, _, c in ticks[fam]], lw=0)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_FAMILY_ROWS.get(f, f.capitalize()) for f in reversed(rows)])
    ax.grid(axis="x", color=_GRID, lw=0.5)
    _style_title(ax, "Events")


def _overview_panels(model: ReportModel) -> list[tuple[float, object]]:
    """(height in inches, draw(ax, t_max)) of each overview panel below the hypnograms."""
    ev = model.events
    if ev is None:
        return []
    panels = []
    if ev.signals.spo2 is not None:
        x, y = trend(ev.signals.spo2, SPO2_VALID_RANGE)
        title = f"SpO2 \u2014 {ev.signals.channels['spo2']}"
        panels.append((_TREND_IN, lambda ax, t_max: _draw_trend(ax, x, y, _SPO2_COLOUR, "%",
                                                                 title, floor=90.0)))
    if ev.signals.heart_rate is not None:
        hx, hy = trend(ev.signals.heart_rate, HR_VALID_RANGE)
        htitle = f"Heart rate \u2014 {ev.signals.channels['heart_rate']}"
        panels.append((_TREND_IN, lambda ax, t_max: _draw_trend(ax, hx, hy, _HR_COLOUR, "bpm",
                                                                 htitle)))
    if ev.signals.position is not None:
        panels.append((_POSITION_IN, lambda ax, t_max: _draw_position(ax, ev)))
    ticks = overview_ticks(ev.events)
    if ticks:
        panels.append((_TICK_ROW_IN * len(ticks) + 0.12,
                       lambda ax, t_max: _draw_ticks(ax, ticks, t_max)))
    return panels


def hypnogram_figure(model: ReportModel, width_in: float = 7.1) -> "Figure | None":
    """The report's hypnogram figure (the night's overview when the report has events or
    level signals), or None when the model has no hypnogram and no overview panel.

    Parameters
    ----------
    model : ReportModel
    width_in : float
        Figure width in inches (the PDF's text width).
    """
    from matplotlib.figure import Figure

    roles = model.roles
    overview = _overview_panels(model)
    if not roles and not overview:
        return None
    auto = model.hypnograms.get("auto")
    density = auto is not None and auto.probabilities is not None and auto.n_epochs > 0
    heights = ([_PANEL_IN] * len(roles) + ([_DENSITY_IN] if density else [])
               + [h for h, _ in overview])
    fig = Figure(figsize=(width_in, sum(heights) + _AXIS_IN + 0.18 * len(heights)))
    fig.patch.set_facecolor("white")
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.42,
                            left=0.085, right=0.915, top=1 - 0.16 / fig.get_figheight(),
                            bottom=_AXIS_IN / fig.get_figheight())
    axes = []
    t_max = model.recording_duration / 3600.0
    for i, role in enumerate(roles):
        ax = fig.add_subplot(grid[i], sharex=axes[0] if axes else None)
        hyp = model.hypnograms[role]
        scorer = hyp.scorer  # the stated scorer only, not the generic fallback
        what = "Manual scoring" if role == "manual" else "Automatic staging"
        _draw_hypnogram(ax, model, hyp, what + (f" \u2014 {scorer}" if scorer else ""))
        if hyp.n_epochs:
            t_max = max(t_max, float((_seconds_from_start(model, hyp)[-1] + hyp.epoch_length) / 3600))
        axes.append(ax)
    if density:
        ax = fig.add_subplot(grid[len(roles)], sharex=axes[0])
        _draw_density(ax, model, auto)
        axes.append(ax)
    first_panel = len(axes)
    for i in range(len(overview)):
        axes.append(fig.add_subplot(grid[first_panel + i], sharex=axes[0] if axes else None))
    for ax in axes:
        ax.tick_params(labelsize=6.5, length=2, colors=_TEXT)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_linewidth(0.6)
    for ax, (_, draw) in zip(axes[first_panel:], overview):
        draw(ax, t_max)
    axes[0].set_xlim(0, t_max)
    _mark_lights(axes, model, t_max)
    _hour_ticks(axes[0], model, t_max)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("Clock time" if model.recording_start is not None else
                        "Time from recording start", fontsize=7, color=_TEXT, labelpad=2)
    return fig


def figure_png(fig: "Figure", dpi: int = FIGURE_DPI) -> bytes:
    """PNG bytes of a figure, rendered by the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()
