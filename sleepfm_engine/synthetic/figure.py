"""A picture of a synthetic night: one 30-s page per stage plus the hypnogram.

Traces follow the clinical display convention (negative up) at fixed sensitivities, so a
sleep technologist can judge each page as they would at the scoring station.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .hypnogram import STAGE_NAMES

#: (label, half-height of its row in physical units) of the traces drawn on each page.
_TRACES = (("F4-M1", 75.0), ("C4-M1", 75.0), ("O2-M1", 75.0), ("E1-M2", 150.0),
           ("E2-M2", 150.0), ("Chin1-Chin2", 40.0))


def pick_epochs(night) -> list[tuple[str, int]]:
    """Representative epochs: (title, epoch index) for each stage present.

    NREM and REM pages come from the middle of the stage's longest run. Wake gets two pages
    when the occipital lead is there: the epoch with the most alpha (relaxed, eyes closed)
    and the one with the least (eyes open).
    """
    stages = night.stages
    out = []
    for k in range(len(STAGE_NAMES)):
        is_k = np.r_[False, stages == k, False].astype(int)
        d = np.diff(is_k)
        st, en = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        if not st.size:
            continue
        if k == 0 and "O2-M1" in night.labels:
            wake = np.flatnonzero(stages == 0)
            ratio = _alpha_ratio(night.signal("O2-M1"), wake, night.epoch_length)
            out.append(("W, eyes closed", int(wake[np.argmax(ratio)])))
            out.append(("W, eyes open", int(wake[np.argmin(ratio)])))
            continue
        i = int(np.argmax(en - st))
        out.append((STAGE_NAMES[k], int((st[i] + en[i] - 1) // 2)))
    return out


def _alpha_ratio(sig, epochs: np.ndarray, epoch_length: float) -> np.ndarray:
    n = int(round(epoch_length * sig.rate))
    x = sig.data[: (sig.data.size // n) * n].reshape(-1, n)[epochs]
    p = np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1.0 / sig.rate)
    return p[:, (f >= 8) & (f < 12)].sum(1) / p[:, (f >= 0.5) & (f < 30)].sum(1)


def plot_night(night, path: str | Path) -> Path:
    """Save the page-per-stage figure of ``night`` as PNG at ``path`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    picks = pick_epochs(night)
    traces = [(lb, h) for lb, h in _TRACES if lb in night.labels]
    fig = plt.figure(figsize=(26, 13), dpi=90)
    gs = fig.add_gridspec(2, max(1, len(picks)), height_ratios=[1, 5], hspace=0.25,
                          wspace=0.08)
    ax = fig.add_subplot(gs[0, :])
    hours = np.arange(night.stages.size) * night.epoch_length / 3600.0
    order = np.array([4, 2, 1, 0, 3])  # W top, then R, N1, N2, N3 (clinical hypnogram)
    y = order[night.stages]
    ax.step(hours, y, where="post", color="k", lw=1.0)
    rem = night.stages == 4
    ax.scatter(hours[rem], y[rem], s=4, color="tab:red", zorder=3)
    ax.set_yticks([4, 3, 2, 1, 0], ["W", "R", "N1", "N2", "N3"])
    ax.set_xlim(0, hours[-1] + night.epoch_length / 3600.0)
    ax.set_xlabel("hours since lights off")
    ax.set_title(f"Synthetic night seed {night.seed} (age {night.subject.get('age')}): "
                 "hypnogram; below, one 30-s page per stage (negative up)")
    for _title, e in picks:
        ax.axvline(hours[e], color="tab:blue", lw=0.6, ls=":")
    for col, (title, e) in enumerate(picks):
        axp = fig.add_subplot(gs[1, col])
        t0 = e * night.epoch_length
        for row, (lb, half) in enumerate(traces):
            sig = night.signal(lb)
            a = int(round(t0 * sig.rate))
            b = a + int(round(night.epoch_length * sig.rate))
            x = sig.data[a:b].astype(float)
            t = np.arange(x.size) / sig.rate
            # clinical convention: negative up; each row spans +-half, clipped at the
            # neighbouring rows' baselines as a paper-like display would
            axp.plot(t, np.clip(-x / (2 * half), -0.95, 0.95) - row, lw=0.5, color="k")
            if col == 0:
                axp.text(-0.8, -row, f"{lb}\n±{half:g} {sig.unit}", ha="right", va="center",
                         fontsize=8)
        axp.set_ylim(-len(traces) + 0.4, 0.6)
        axp.set_xlim(0, night.epoch_length)
        axp.set_yticks([])
        axp.set_xticks(range(0, int(night.epoch_length) + 1, 5))
        axp.grid(axis="x", lw=0.3, alpha=0.5)
        axp.set_title(f"{title} (epoch {e + 1}, {hours[e]:.2f} h)")
        axp.set_xlabel("s")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def plot_graphoelements(night, path: str | Path, seconds: float = 8.0) -> Path:
    """Save close-ups of the patterns each stage is scored on, found in ``night``'s signals.

    Alpha (relaxed wake, O2), a vertex sharp wave (N1, C4), a spindle and a K-complex (N2, C4
    and F4), slow waves (N3, F4), rapid eye movements and sawtooth waves (REM). Each close-up
    is the window of its stage where the pattern's band or shape is strongest.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import signal as sps

    path = Path(path)
    fs = night.signal("C4-M1").rate
    win = int(seconds * fs)
    ep = int(night.epoch_length * fs)

    def band(label, lo, hi):
        x = night.signal(label).data.astype(float)
        return sps.sosfiltfilt(sps.butter(3, [lo, hi], "bandpass", fs=fs, output="sos"), x)

    def best(stage, score):
        """Start sample of the window of ``stage`` that maximises ``score`` (per sample)."""
        ok = np.repeat(night.stages == stage, ep)[: score.size]
        s = np.where(ok, score, -np.inf)
        i = int(np.argmax(s))
        return int(np.clip(i - win // 2, 0, score.size - win))

    c4_sigma = np.abs(sps.hilbert(band("C4-M1", 11.0, 16.0)))
    f4_slow = band("F4-M1", 0.5, 4.0)
    cases = [
        ("Relaxed wake: posterior alpha", 0, np.abs(band("O2-M1", 8.0, 12.0))),
        ("N1: vertex sharp wave, slow eye movements", 1, -band("C4-M1", 2.0, 8.0)),
        ("N2: sleep spindle (11-16 Hz)", 2, c4_sigma),
        ("N2: K-complex", 2, -f4_slow),
        ("N3: slow waves > 75 uV", 3, np.abs(f4_slow)),
        ("REM: rapid eye movements, sawtooth waves", 4,
         np.abs(band("E1-M2", 0.5, 5.0)) + 2 * np.abs(band("C4-M1", 2.0, 5.0))),
    ]
    cases = [c for c in cases if np.any(night.stages == c[1])]
    labels = [lb for lb, _ in _TRACES if lb in night.labels]
    fig, axes = plt.subplots(len(cases), 1, figsize=(14, 3.0 * len(cases)), dpi=90)
    for ax, (title, stage, score) in zip(np.atleast_1d(axes), cases):
        a = best(stage, score)
        t = np.arange(win) / fs + a / fs
        for row, lb in enumerate(labels):
            half = dict(_TRACES)[lb]
            x = night.signal(lb).data[a:a + win]
            ax.plot(t, np.clip(-x / (2 * half), -0.95, 0.95) - row, lw=0.6, color="k")
            ax.text(t[0] - 0.05, -row, lb, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
        ax.ticklabel_format(axis="x", useOffset=False, style="plain")
        ax.set_title(f"{title} (at {a / fs / 3600:.2f} h)", fontsize=10)
        ax.set_xlim(t[0], t[-1])
    axes_list = np.atleast_1d(axes)
    axes_list[-1].set_xlabel("seconds since lights off (negative up; rows +-75 uV EEG, "
                             "+-150 uV EOG, +-40 uV chin)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
