"""Vectorised building blocks: shaped noise, templates at event times, control-grid envelopes.

Every generator works on whole-night arrays with numpy/scipy primitives; the only Python loops
run over events (hundreds to a few thousand), never over samples.

Slow quantities (stage amplitudes, waxing and waning, arousals) live on a *control grid* of
:data:`CTRL_HZ` samples per second and are interpolated up to each channel's rate.
"""
from __future__ import annotations

import zlib
from typing import Callable

import numpy as np
import scipy.fft as sfft
from scipy import signal as sps

#: Rate (Hz) of the control grid that carries envelopes and slow random processes.
CTRL_HZ: int = 4


def rng_for(seed: int, name: str) -> np.random.Generator:
    """A random generator for one named quantity of one night.

    Each quantity draws from its own stream, so a channel comes out the same whatever else the
    montage asks for (the C4-M1 of a minimal montage equals that of the full one).
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("ascii"))])


# --------------------------------------------------------------------------- spectral shapes

def butter_mag(f: np.ndarray, low: float | None = None, high: float | None = None,
               order: int = 2) -> np.ndarray:
    """Magnitude response of a Butterworth high-pass (``low``) and/or low-pass (``high``)."""
    f = np.asarray(f, dtype=np.float32)
    h = np.ones_like(f)
    if low is not None:
        # clipping the ratio keeps r**(2 order) finite in float32; the gain there is ~0 anyway
        r = np.minimum(np.float32(low) / np.maximum(f, np.float32(1e-6)), np.float32(1e4))
        h /= np.sqrt(1.0 + _int_pow(r * r, order))
    if high is not None:
        r = np.minimum(f / np.float32(high), np.float32(1e4))
        h /= np.sqrt(1.0 + _int_pow(r * r, order))
    return h


def _int_pow(x: np.ndarray, k: int) -> np.ndarray:
    """``x ** k`` for a small integer ``k`` by repeated multiplication (much faster than pow)."""
    out = x.copy()
    for _ in range(int(k) - 1):
        out *= x
    return out


def power_law(exponent: float, low: float = 0.3, high: float = 35.0) -> Callable:
    """Amplitude shape of 1/f^exponent noise band-limited by Butterworth edges."""
    def shape(f: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            h = np.maximum(f, 1e-3) ** (-exponent / 2.0)
        return (h * butter_mag(f, low, high)).astype(np.float32)
    return shape


def gaussian_band(center: float, width: float) -> Callable:
    """Amplitude shape of a narrow band (Gaussian in frequency)."""
    def shape(f: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * ((f - center) / width) ** 2).astype(np.float32)
    return shape


def band(low: float, high: float, order: int = 3) -> Callable:
    """Amplitude shape of a Butterworth-like band-pass."""
    def shape(f: np.ndarray) -> np.ndarray:
        return butter_mag(f, low, high, order)
    return shape


def shaped_noise(rng: np.random.Generator, n: int, fs: float, shape: Callable,
                 f_max: float | None = None) -> np.ndarray:
    """Stationary Gaussian noise of ``n`` samples with amplitude spectrum ``shape(f)``.

    Drawn directly in the frequency domain (one inverse real FFT of a fast length), then
    scaled to unit RMS so that envelopes carry the physical amplitude. When the spectrum holds
    nothing above ``f_max`` the noise is drawn at a lower rate (at least 4 * ``f_max``) and
    interpolated up, which is several times cheaper for slow rhythms.
    """
    k = int(fs // (4.0 * f_max)) if f_max else 1
    if k >= 2:
        m_low = -(-int(n) // k) + 1
        low = shaped_noise(rng, m_low, fs / k, shape)
        return upsample_linear(low, k, int(n))
    m = sfft.next_fast_len(max(int(n), 2), real=True)
    f = sfft.rfftfreq(m, 1.0 / fs).astype(np.float32)
    h = shape(f).astype(np.float32)
    h[0] = 0.0
    spec = np.empty(f.size, dtype=np.complex64)
    spec.real = rng.standard_normal(f.size, dtype=np.float32)
    spec.imag = rng.standard_normal(f.size, dtype=np.float32)
    spec *= h
    x = sfft.irfft(spec, m, workers=2)[:n].astype(np.float32, copy=False)
    # the noise is stationary: every 7th sample estimates its spread well enough, 7x cheaper
    sd = float(x[::7].std())
    if sd > 0:
        x /= np.float32(sd)
    return x


def unit_oscillation(rng: np.random.Generator, n: int, fs: float, shape: Callable,
                     f_max: float) -> np.ndarray:
    """Waves with the spectrum ``shape`` but a flat envelope: cos of the analytic phase.

    Gaussian narrow-band noise waxes and wanes with a Rayleigh envelope, so its largest waves
    are several times its smallest; normalising the envelope leaves waves of similar height
    (and still irregular duration), whose amplitude an envelope then sets directly.
    """
    k = max(1, int(fs // (4.0 * f_max)))
    m = -(-int(n) // k) + 1
    z = sps.hilbert(shaped_noise(rng, m, fs / k, shape))
    mag = np.abs(z)
    x = (z.real / np.maximum(mag, 0.3 * float(np.median(mag)))).astype(np.float32)
    return upsample_linear(x, k, int(n)) if k > 1 else x[:n]


def upsample_linear(x: np.ndarray, k: int, n: int) -> np.ndarray:
    """Linear interpolation of ``x`` by an integer factor ``k``, cut to ``n`` samples."""
    x = np.asarray(x, dtype=np.float32)
    xp = np.concatenate([x, x[-1:]])
    need = -(-n // k)
    if xp.size < need + 1:
        xp = np.pad(xp, (0, need + 1 - xp.size), mode="edge")
    a = xp[:need]
    d = xp[1:need + 1] - a
    if k <= 4:
        # few phases: fill each column in place, no full-size temporaries
        out = np.empty((need, k), dtype=np.float32)
        for j in range(k):
            np.multiply(d, np.float32(j / k), out=out[:, j])
            out[:, j] += a
        return out.ravel()[:n]
    w = (np.arange(k, dtype=np.float32) / k)[None, :]
    return (a[:, None] + d[:, None] * w).ravel()[:n]


# --------------------------------------------------------------------------- control grid

def ctrl_from_epochs(values: np.ndarray, ramp_s: float = 2.0) -> np.ndarray:
    """Per-epoch values held on the control grid, with ``ramp_s`` cross-fades at boundaries."""
    from ..contract import EPOCH_SECONDS

    per = EPOCH_SECONDS * CTRL_HZ
    x = np.repeat(np.asarray(values, dtype=np.float32), per)
    return smooth(x, ramp_s)


def smooth(x: np.ndarray, seconds: float) -> np.ndarray:
    """Moving average over ``seconds`` on the control grid (edges held)."""
    k = int(round(seconds * CTRL_HZ))
    if k <= 1:
        return x.astype(np.float32, copy=False)
    pad = np.pad(x.astype(np.float64), (k // 2, k - 1 - k // 2), mode="edge")
    c = np.cumsum(np.concatenate(([0.0], pad)))
    return ((c[k:] - c[:-k]) / k).astype(np.float32)


def ar1(rng: np.random.Generator, n: int, tau_s: float) -> np.ndarray:
    """Unit-variance AR(1) (Ornstein-Uhlenbeck) process on the control grid, time constant tau."""
    a = float(np.exp(-1.0 / (tau_s * CTRL_HZ)))
    e = rng.standard_normal(n) * np.sqrt(1.0 - a * a)
    e[0] = rng.standard_normal()
    return sps.lfilter([1.0], [1.0, -a], e).astype(np.float32)


def fraction_mask(g: np.ndarray, fractions: np.ndarray, edge_s: float = 0.5) -> np.ndarray:
    """A 0..1 mask that is on for ``fractions[e]`` of each epoch where ``g`` is highest.

    ``g`` is a smooth random process on the control grid, so the on-time comes in natural
    bursts; thresholding per epoch makes the fraction exact (an AASM-style rule such as
    "delta in >= 20 % of the epoch" then holds epoch by epoch).
    """
    from ..contract import EPOCH_SECONDS

    per = EPOCH_SECONDS * CTRL_HZ
    ne = fractions.size
    gg = g[: ne * per].reshape(ne, per)
    srt = np.sort(gg, axis=1)
    k = np.clip(np.round((1.0 - fractions) * per).astype(int), 0, per)
    thr = np.where(k >= per, np.inf, srt[np.arange(ne), np.minimum(k, per - 1)])
    on = (gg >= thr[:, None]).astype(np.float32).ravel()
    out = np.zeros(g.size, dtype=np.float32)
    out[: on.size] = on
    return smooth(out, edge_s)


def to_rate(ctrl: np.ndarray, fs: float, n: int) -> np.ndarray:
    """Linear interpolation of a control-grid series to ``n`` samples at ``fs`` Hz."""
    ratio = fs / CTRL_HZ
    k = int(round(ratio))
    if k >= 1 and abs(ratio - k) < 1e-9:
        m = -(-n // k)
        c = np.asarray(ctrl, dtype=np.float32)
        if c.size < m + 1:
            c = np.pad(c, (0, m + 1 - c.size), mode="edge")
        w = (np.arange(k, dtype=np.float32) / k)[None, :]
        a = c[:m, None]
        out = (a + (c[1:m + 1, None] - a) * w).ravel()
        return out[:n]
    t = np.arange(n, dtype=np.float64) / fs
    tc = np.arange(len(ctrl), dtype=np.float64) / CTRL_HZ
    return np.interp(t, tc, ctrl).astype(np.float32)


def boxcar_ctrl(n_ctrl: int, onsets_s: np.ndarray, durations_s: np.ndarray,
                values: np.ndarray | float = 1.0) -> np.ndarray:
    """Sum of rectangles (onset, duration, height) on the control grid."""
    d = np.zeros(n_ctrl + 1, dtype=np.float64)
    a = np.clip(np.round(np.asarray(onsets_s) * CTRL_HZ).astype(int), 0, n_ctrl)
    b = np.clip(np.round((np.asarray(onsets_s) + np.asarray(durations_s)) * CTRL_HZ).astype(int),
                0, n_ctrl)
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), a.shape)
    np.add.at(d, a, v)
    np.add.at(d, b, -v)
    return np.cumsum(d)[:n_ctrl].astype(np.float32)


# --------------------------------------------------------------------------- events

def add_templates(x: np.ndarray, onsets: np.ndarray, templates: np.ndarray,
                  gains: np.ndarray | float = 1.0) -> None:
    """Add ``gains[i] * templates[i]`` (or one shared template) at sample ``onsets[i]`` in place.

    Overlapping events add up; parts that fall outside ``x`` are dropped.
    """
    onsets = np.asarray(onsets, dtype=np.int64)
    if onsets.size == 0:
        return
    templates = np.asarray(templates, dtype=np.float32)
    if templates.ndim == 1:
        templates = templates[None, :]
    length = templates.shape[1]
    idx = onsets[:, None] + np.arange(length)[None, :]
    vals = np.broadcast_to(templates, idx.shape) * np.asarray(gains, dtype=np.float32).reshape(
        -1, 1)
    ok = (idx >= 0) & (idx < x.size)
    np.add.at(x, idx[ok], vals[ok].astype(x.dtype, copy=False))


def poisson_times(rng: np.random.Generator, rate_ctrl: np.ndarray) -> np.ndarray:
    """Event times (s) of an inhomogeneous Poisson process with rate (events/s) on the grid."""
    p = np.asarray(rate_ctrl, dtype=np.float64) / CTRL_HZ
    hit = rng.random(p.size) < p
    idx = np.flatnonzero(hit)
    return (idx + rng.random(idx.size)) / CTRL_HZ


def hann(n: int) -> np.ndarray:
    """Symmetric Hann window of ``n`` samples (float32)."""
    return np.hanning(max(int(n), 3)).astype(np.float32)
