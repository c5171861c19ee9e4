"""Is this night like the model's training data, and how far can its probabilities be trusted?

A model this project trains keeps, in its ``metadata.json``, compact statistics of its training
data (:class:`TrainingStatistics`, key :data:`OOD_KEY`) and a temperature fitted on the
validation split (:class:`Calibration`, key :data:`CALIBRATION_KEY`). At inference
:meth:`TrainingStatistics.score` turns a night's 5-s embeddings (and the staging head's logits)
into an :class:`OODResult`: per 30-s epoch a distance from the training data, per night a
verdict with reasons a user understands.

Embeddings
    Per modality, a PCA of the training epochs' embeddings (the mean of an epoch's six 5-s
    token embeddings, as the staging head sees them): the mean, the leading
    :data:`N_COMPONENTS` directions with their variances and the mean variance left over. An
    epoch's squared Mahalanobis distance under that model (probabilistic PCA) is divided by the
    training epochs' :data:`EPOCH_QUANTILE` quantile of the same distance, each night measured
    under the model of the other nights (a new night is a new sleeper): a score above 1 means
    further out than all but 0.5 % of the training epochs were from the other training nights.
Head
    The energy ``-logsumexp(logits)`` of an epoch's mean logits, against the training epochs'
    0.5 % and 99.5 % quantiles: an energy outside them (the head far less, or far more, sure of
    itself than it ever was in training) marks the epoch.
Night
    A night is unlike the training data when more than :data:`NIGHT_FRACTION` of its epochs
    are marked.
Per-night heads
    A disease (CoxPH) head returns one log-hazard per condition for the whole night, not class
    logits, so a softmax energy means nothing for it: its statistics keep the embeddings' PCAs
    as above and each output's range on the training nights (:class:`OutputStatistics`); a
    night is also unlike the training data when more than :data:`NIGHT_FRACTION` of its
    log-hazards lie outside their training range (:func:`assess_risk_night`).
Review
    Which epochs "review by confidence" offers (:attr:`OODResult.review_epochs`). On a night
    like the training data: the marked epochs (the session adds those whose calibrated
    probability is below the review threshold). On a flagged night every epoch is suspect and
    the marks say nothing about any one of them (most epochs are marked, often through a
    modality the stages do not rest on), so each epoch gets a review p-value
    (:class:`ReviewStatistics`) from two training-referenced checks of the evidence its stage
    rests on: how sure the staging head is (its energy against the training epochs' energies)
    and how unusual the brain signals are (:data:`REVIEW_MODALITY`: stages are defined on
    EEG and EOG) once the offset the whole night shares (other equipment, another montage) is
    taken out, against the training nights measured the same way. Fisher's method combines
    the two; an epoch is offered when its p-value is below :data:`REVIEW_P`, i.e. when it is
    less typical of the training data than the median training epoch, and the queue visits
    the least typical first. Only epochs that look at least as ordinary as the median training
    epoch on that evidence are spared.

The module needs numpy only (scipy for the temperature fit, matplotlib for the diagram); it
imports nothing from training and no Qt.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .contract import MODALITIES, TOKENS_PER_EPOCH
from .errors import ModelError

__all__ = ["OOD_KEY", "CALIBRATION_KEY", "SYNTHETIC_ONLY_KEY", "N_COMPONENTS", "MIN_EPOCHS", "EPOCH_QUANTILE",
           "NIGHT_FRACTION", "ECE_BINS", "REVIEW_MODALITY", "REVIEW_P", "OODWarning", "PCAStatistics",
           "LogitStatistics", "ReviewStatistics", "fisher_p", "OutputStatistics", "OUTPUT_QUANTILES", "assess_risk_night",
           "TrainingStatistics", "Calibration", "OODResult", "epoch_means", "energy",
           "softmax", "fit_temperature", "epoch_predictions", "expected_calibration_error", "reliability",
           "plot_reliability", "assess_night", "warn_if_flagged", "is_generated", "update_metadata",
           "write_ood_file", "read_ood_file", "ood_path", "synthetic_note"]

#: metadata.json key of the training statistics.
OOD_KEY = "ood_statistics"
#: metadata.json key of the temperature scaling.
CALIBRATION_KEY = "calibration"
#: metadata.json key saying the model saw generated nights only.
SYNTHETIC_ONLY_KEY = "synthetic_only"
#: PCA directions kept per modality: enough for the structure, small enough for metadata.json.
N_COMPONENTS = 16
#: Fewest training epochs of a modality that statistics are fitted on.
MIN_EPOCHS = 10
#: Training quantile of the epoch distance that an epoch must exceed to be marked.
EPOCH_QUANTILE = 0.995
#: Energy quantiles kept (the outer two bound the head's training range).
ENERGY_QUANTILES = (0.005, 0.05, 0.5, 0.95, 0.995)
#: Share of marked epochs above which a night is unlike the training data.
NIGHT_FRACTION = 0.25
#: Equal-width confidence bins of the expected calibration error and reliability diagram.
ECE_BINS = 15
#: The modality whose night-centred distance is review evidence: AASM stages are scored on the
#: EEG and EOG, SleepFM's brain-activity (BAS) modality.
REVIEW_MODALITY = "BAS"
#: Review p-value below which an epoch of a flagged night is offered: less typical of the
#: training data than the median training epoch.
REVIEW_P = 0.5
#: Quantiles of a per-night head's outputs kept per output (the outer two bound its range).
OUTPUT_QUANTILES = (0.005, 0.5, 0.995)
#: Probabilities at which the training distributions of the review evidence are kept.
_TABLE_PROBS = np.linspace(0.0, 1.0, 1001)
_FORMAT = "sleepfm-studio ood"
_FORMAT_VERSION = 1


class OODWarning(RuntimeWarning):
    """A night is unlike the model's training data, or cannot be checked against it."""


# Each staged night is told, not only the first one of a session ("warns every time").
warnings.simplefilter("always", OODWarning)


# ------------------------------------------------------------------------------- helpers
def epoch_means(tokens: np.ndarray, tokens_per_epoch: int = TOKENS_PER_EPOCH) -> np.ndarray:
    """Mean of consecutive groups of ``tokens_per_epoch`` rows (a trailing partial group too)."""
    t = np.asarray(tokens, dtype=np.float64)
    if t.shape[0] == 0:
        return np.zeros((0,) + t.shape[1:])
    edges = np.arange(0, t.shape[0], tokens_per_epoch)
    sums = np.add.reduceat(t, edges, axis=0)
    sizes = np.diff(np.append(edges, t.shape[0]))
    return sums / sizes.reshape((-1,) + (1,) * (t.ndim - 1))


def energy(logits: np.ndarray) -> np.ndarray:
    """``-logsumexp(logits)`` per row: lower means the head is surer of some class."""
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return -(m[..., 0] + np.log(np.exp(z - m).sum(axis=-1)))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` along the last axis."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(labels)), labels]))


def _scored(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"logits must be (n, K) and labels (n,); got {z.shape} and {y.shape}")
    keep = (y >= 0) & (y < z.shape[1]) & np.all(np.isfinite(z), axis=1)
    return z[keep], y[keep]


def fit_temperature(logits: Any, labels: Any) -> float:
    """The one temperature T minimising the negative log-likelihood of ``softmax(logits / T)``.

    Rows with a label outside ``0..K-1`` (unscored) are left out.

    Raises
    ------
    ValueError
        Without a scored row.
    """
    z, y = _scored(logits, labels)
    if len(y) == 0:
        raise ValueError("no scored epoch to fit a temperature on")
    return _minimise_temperature(lambda t: _nll(z, y, t))


def _minimise_temperature(nll) -> float:
    """The temperature minimising ``nll(T)``, searched over log T (T stays positive)."""
    from scipy.optimize import minimize_scalar

    # e^-5..e^5 covers any temperature worth applying.
    res = minimize_scalar(lambda lt: nll(math.exp(lt)), bounds=(-5.0, 5.0), method="bounded",
                          options={"xatol": 1e-5})
    return float(math.exp(res.x))


def epoch_predictions(nights: Sequence[tuple[np.ndarray, np.ndarray]], temperature: float = 1.0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """30-s epoch probabilities as inference makes them (the mean of the epoch's tokens'
    ``softmax(logits / T)``) and the epochs' labels, over nights.

    Parameters
    ----------
    nights : sequence of (token logits (S, K), epoch labels (n_epochs,))
        Labels with -1 for unscored epochs (e.g. from
        :func:`sleepfm_engine.training.metrics.tokens_to_epochs`); epochs beyond the shorter of
        the two are left out.
    temperature : float
    """
    probs, labels = [], []
    for lg, lb in nights:
        ep = epoch_means(softmax(np.asarray(lg), temperature))
        n = min(len(ep), len(lb))
        probs.append(ep[:n])
        labels.append(np.asarray(lb, dtype=np.int64)[:n])
    return np.concatenate(probs), np.concatenate(labels)


def reliability(probs: Any, labels: Any, bins: int = ECE_BINS) -> dict:
    """Per confidence bin: mean confidence, accuracy, count (scored rows only)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    keep = (y >= 0) & (y < p.shape[1])
    p, y = p[keep], y[keep]
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if len(p) else np.zeros(0, bool)
    # Bin k holds confidences in (k/bins, (k+1)/bins]; a confidence of 0 goes to the first.
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
        acc = np.bincount(idx, weights=correct.astype(np.float64), minlength=bins) / count
    return {"edges": np.linspace(0, 1, bins + 1), "confidence": mean_conf, "accuracy": acc,
            "count": count, "n": int(len(y))}


def expected_calibration_error(probs: Any, labels: Any, bins: int = ECE_BINS) -> float:
    """Σ_bins (n_bin / n) · |accuracy_bin − mean confidence_bin| over equal-width bins of the
    top probability. NaN without a scored row."""
    r = reliability(probs, labels, bins)
    if r["n"] == 0:
        return float("nan")
    ok = r["count"] > 0
    return float(np.sum(r["count"][ok] / r["n"] * np.abs(r["accuracy"][ok] - r["confidence"][ok])))


def plot_reliability(probs_before: Any, probs_after: Any, labels: Any, path: str | Path,
                     bins: int = ECE_BINS) -> Path:
    """Reliability diagram (accuracy against confidence) before and after temperature scaling."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .atomic import atomic_path

    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=120)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect calibration")
    for probs, name, colour in ((probs_before, "before", "#d62728"), (probs_after, "after", "#1f77b4")):
        r = reliability(probs, labels, bins)
        ok = r["count"] > 0
        ece = expected_calibration_error(probs, labels, bins)
        ax.plot(r["confidence"][ok], r["accuracy"][ok], "o-", color=colour, ms=3,
                label=f"{name} temperature scaling (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top stage probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability, validation 30-s epochs", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


# ------------------------------------------------------------------------------- statistics
def _floats(values: Any) -> list:
    return np.asarray(values, dtype=np.float64).round(7).tolist()


@dataclass(frozen=True)
class PCAStatistics:
    """A probabilistic PCA of one modality's training epoch embeddings.

    Attributes
    ----------
    mean : ndarray (E,)
    components : ndarray (k, E)
        Orthonormal leading directions.
    variances : ndarray (k,)
        Variance along each.
    residual : float
        Mean variance of the other E − k directions.
    threshold : float
        :data:`EPOCH_QUANTILE` quantile of the training epochs' squared distance.
    n : int
        Training epochs fitted.
    """

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    residual: float
    threshold: float
    n: int

    @classmethod
    def fit(cls, x: Any, n_components: int = N_COMPONENTS, quantile: float = EPOCH_QUANTILE,
            groups: Any = None) -> "PCAStatistics":
        """Fit on ``x`` (n, E): up to ``n_components`` directions, fewer when ``x`` has few rows
        (at least :data:`MIN_EPOCHS`).

        With ``groups`` (the night of each row, three nights or more) the threshold is the
        quantile of each night's distances under the model fitted on the other nights: a new
        night is a new sleeper, and distances of the data a model was fitted on understate how
        far a new sleeper's epochs lie.
        """
        model, d2 = cls.fit_with_distances(x, n_components, groups)
        threshold = float(np.quantile(d2, quantile))
        return replace(model, threshold=max(threshold, 1e-12))

    @classmethod
    def fit_with_distances(cls, x: Any, n_components: int = N_COMPONENTS, groups: Any = None
                           ) -> tuple["PCAStatistics", np.ndarray]:
        """The PCA model of ``x`` (threshold 1) and the squared distances its threshold is
        taken from: with ``groups`` (three nights or more) each night's under the model of the
        other nights, else each row's under the model of all rows (rows with a non-finite value
        are left out)."""
        x = np.asarray(x, dtype=np.float64)
        finite = np.all(np.isfinite(x), axis=1)
        x = x[finite]
        model = cls._fit_model(x, n_components)
        g = None if groups is None else np.asarray(groups)[finite]
        if g is not None and len(np.unique(g)) >= 3 and all(
                np.sum(g != k) >= MIN_EPOCHS for k in np.unique(g)):
            d2 = np.concatenate([cls._fit_model(x[g != k], n_components).distance2(x[g == k])
                                 for k in np.unique(g)])
        else:
            d2 = model.distance2(x)
        return model, d2

    @classmethod
    def _fit_model(cls, x: np.ndarray, n_components: int) -> "PCAStatistics":
        """The PCA model of ``x`` with a threshold of 1."""
        n, e = x.shape
        if n < MIN_EPOCHS:
            raise ValueError(f"{n} epochs are too few to fit training statistics (at least {MIN_EPOCHS})")
        # Directions beyond n - 2 would be fitted to single epochs.
        k = min(int(n_components), e - 1, n - 2)
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        var = s ** 2 / (n - 1)
        floor = max(float(var[0]) * 1e-6, 1e-12)   # a constant direction must not divide by 0
        residual = max(float(var[k:].sum()) / max(e - k, 1), floor)
        return cls(mean, vt[:k], np.maximum(var[:k], floor), residual, 1.0, n)

    def distance2(self, x: Any) -> np.ndarray:
        """Squared Mahalanobis distance of each row of ``x`` under the PCA model."""
        d = np.asarray(x, dtype=np.float64) - self.mean
        z = d @ self.components.T
        rest = np.maximum((d * d).sum(axis=1) - (z * z).sum(axis=1), 0.0)
        return (z * z / self.variances).sum(axis=1) + rest / self.residual

    def score(self, x: Any) -> np.ndarray:
        """Distance over the training threshold: above 1 is further out than 99.5 % of training."""
        return self.distance2(x) / self.threshold

    def to_dict(self) -> dict:
        return {"mean": _floats(self.mean), "components": _floats(self.components),
                "variances": _floats(self.variances), "residual": float(self.residual),
                "threshold": float(self.threshold), "n": int(self.n)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "PCAStatistics":
        comp = np.asarray(data["components"], dtype=np.float64)
        mean = np.asarray(data["mean"], dtype=np.float64)
        var = np.asarray(data["variances"], dtype=np.float64)
        if comp.ndim != 2 or comp.shape[1] != mean.shape[0] or var.shape != (comp.shape[0],):
            raise ValueError(f"PCA shapes disagree: mean {mean.shape}, components {comp.shape}, "
                             f"variances {var.shape}")
        return cls(mean, comp, var, float(data["residual"]), float(data["threshold"]), int(data["n"]))


@dataclass(frozen=True)
class LogitStatistics:
    """Quantiles of the head's per-epoch energy on the training epochs."""

    quantiles: tuple[tuple[float, float], ...]
    n: int

    @classmethod
    def fit(cls, logits: Any) -> "LogitStatistics":
        en = energy(logits)
        en = en[np.isfinite(en)]
        if en.size == 0:
            raise ValueError("no finite logits to fit")
        return cls(tuple((q, float(np.quantile(en, q))) for q in ENERGY_QUANTILES), int(en.size))

    @property
    def bounds(self) -> tuple[float, float]:
        """The energy range of all but the outer 1 % of training epochs."""
        return self.quantiles[0][1], self.quantiles[-1][1]

    def outside(self, logits: Any) -> np.ndarray:
        """Per row: is its energy outside :attr:`bounds`?"""
        lo, hi = self.bounds
        en = energy(logits)
        return (en < lo) | (en > hi)

    def to_dict(self) -> dict:
        return {"energy_quantiles": {f"{q:g}": round(v, 6) for q, v in self.quantiles}, "n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping) -> "LogitStatistics":
        q = tuple(sorted((float(k), float(v)) for k, v in dict(data["energy_quantiles"]).items()))
        if len(q) < 2:
            raise ValueError("energy_quantiles needs at least two quantiles")
        return cls(q, int(data["n"]))


def fisher_p(*p_values: Any) -> np.ndarray:
    """Fisher's combination of independent p-values, element-wise: the chance that
    ``-2 Σ ln p`` of k uniform p-values exceeds the observed value (χ² with 2k degrees of
    freedom, in closed form). NaN where any input is NaN."""
    ps = [np.asarray(p, dtype=np.float64) for p in p_values]
    if not ps:
        raise ValueError("no p-value to combine")
    half = -sum(np.log(np.clip(p, 1e-300, 1.0)) for p in ps)   # χ²/2
    term = np.ones_like(half)
    total = np.ones_like(half)
    for i in range(1, len(ps)):
        term = term * half / i
        total = total + term
    out = np.minimum(np.exp(-half) * total, 1.0)
    return np.where(np.any([np.isnan(p) for p in ps], axis=0), np.nan, out)


def _upper_p(table: np.ndarray, n: int, x: np.ndarray) -> np.ndarray:
    """Share of the training values at or above ``x``, read from their quantile ``table``
    (at :data:`_TABLE_PROBS`); never below ``1 / (n + 1)``, as with ``n`` training values."""
    x = np.asarray(x, dtype=np.float64)
    below = np.interp(x, table, _TABLE_PROBS, left=0.0, right=1.0)
    return np.where(np.isnan(x), np.nan, np.clip(1.0 - below, 1.0 / (n + 1), 1.0))


def _centred(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` less their mean over the finite rows: the offset a night shares removed."""
    finite = np.all(np.isfinite(x), axis=1)
    if not finite.any():
        return x
    return x - x[finite].mean(axis=0)


@dataclass(frozen=True)
class ReviewStatistics:
    """The training distributions that per-epoch review evidence is read against.

    Attributes
    ----------
    modality : str
        The modality whose distance is evidence (:data:`REVIEW_MODALITY`).
    centred : PCAStatistics
        PCA of the training epochs' embeddings of ``modality``, each night less its own mean.
    distance_table : ndarray
        Quantiles (at 0, 0.1 %, .., 100 %) of the training epochs' centred squared distance,
        each night under the model of the other nights.
    energy_table : ndarray or None
        Quantiles of the training epochs' head energy (None: fitted without logits).
    n : int
        Training epochs.
    """

    modality: str
    centred: PCAStatistics
    distance_table: np.ndarray
    energy_table: np.ndarray | None
    n: int

    @classmethod
    def fit(cls, epochs: Sequence[np.ndarray], logits: Sequence[np.ndarray] | None = None,
            modality: str = REVIEW_MODALITY, n_components: int = N_COMPONENTS) -> "ReviewStatistics":
        """Fit on training nights.

        Parameters
        ----------
        epochs : sequence of array (n_epochs, E)
            Per night, the epoch embeddings (:func:`epoch_means`) of ``modality``.
        logits : sequence of array (n_epochs, K), optional
            Per night, the head's epoch logits.
        """
        x = np.concatenate([_centred(np.asarray(e, dtype=np.float64)) for e in epochs])
        groups = np.concatenate([np.full(len(e), i) for i, e in enumerate(epochs)])
        model, d2 = PCAStatistics.fit_with_distances(x, n_components, groups)
        table = None
        if logits:
            en = energy(np.concatenate([np.asarray(z, dtype=np.float64) for z in logits]))
            table = np.quantile(en[np.isfinite(en)], _TABLE_PROBS)
        return cls(modality, model, np.quantile(d2, _TABLE_PROBS), table, int(len(d2)))

    def p_values(self, epochs: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """Review p-value per epoch: Fisher's combination of the share of training epochs at
        least as far out (centred distance) and, with ``logits``, at least as unsure of
        themselves (energy). Small: unlike the typical training epoch. NaN for rows with a
        non-finite value.

        Parameters
        ----------
        epochs : array (n_epochs, E)
            The night's epoch embeddings of :attr:`modality` (centred here on the night).
        logits : array (n_epochs, K), optional
            The head's epoch logits.
        """
        x = np.asarray(epochs, dtype=np.float64)
        d2 = np.full(len(x), np.nan)
        finite = np.all(np.isfinite(x), axis=1)
        if finite.any():
            d2[finite] = self.centred.distance2(_centred(x[finite]))
        parts = [_upper_p(self.distance_table, self.n, d2)]
        if logits is not None and self.energy_table is not None:
            en = energy(np.asarray(logits, dtype=np.float64)[: len(x)])
            parts.append(_upper_p(self.energy_table, self.n, np.pad(en, (0, len(x) - len(en)),
                                                                    constant_values=np.nan)))
        return fisher_p(*parts)

    def to_dict(self) -> dict:
        return {"modality": self.modality, "centred": self.centred.to_dict(),
                "distance_table": _floats(self.distance_table),
                "energy_table": None if self.energy_table is None else _floats(self.energy_table),
                "probabilities": len(_TABLE_PROBS), "n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping) -> "ReviewStatistics":
        size = len(_TABLE_PROBS)
        dist = np.asarray(data["distance_table"], dtype=np.float64)
        en = None if data.get("energy_table") is None else np.asarray(data["energy_table"], dtype=np.float64)
        if int(data.get("probabilities", size)) != size or dist.shape != (size,) or (
                en is not None and en.shape != (size,)):
            raise ValueError(f"review tables must hold {size} quantiles")
        return cls(str(data["modality"]), PCAStatistics.from_dict(data["centred"]), dist, en, int(data["n"]))


@dataclass(frozen=True)
class OutputStatistics:
    """Each output's range over the training nights, for a head with one output vector per
    night (a disease head's log-hazards, one per condition).

    Attributes
    ----------
    names : tuple of str
        Output names (phecodes), in output order.
    quantiles : ndarray (len(OUTPUT_QUANTILES), K)
        Per output, its :data:`OUTPUT_QUANTILES` over the training nights.
    n : int
        Training nights.
    """

    names: tuple[str, ...]
    quantiles: np.ndarray
    n: int

    @classmethod
    def fit(cls, outputs: Any, names: Sequence[str] = ()) -> "OutputStatistics":
        """Fit on ``outputs`` (n_nights, K); non-finite rows are left out.

        Raises
        ------
        ValueError
            Without a finite row, or with ``names`` of another length than K.
        """
        y = np.asarray(outputs, dtype=np.float64)
        if y.ndim != 2:
            raise ValueError(f"outputs must be (nights, K), got {y.shape}")
        y = y[np.all(np.isfinite(y), axis=1)]
        if len(y) == 0:
            raise ValueError("no finite output to fit")
        names = tuple(str(n) for n in names) or tuple(f"output {i}" for i in range(y.shape[1]))
        if len(names) != y.shape[1]:
            raise ValueError(f"{len(names)} names for {y.shape[1]} outputs")
        return cls(names, np.quantile(y, OUTPUT_QUANTILES, axis=0), int(len(y)))

    def outside(self, outputs: Any) -> np.ndarray:
        """Per output of one night (K,): is it outside the training range (the outer quantiles)?

        Raises
        ------
        ValueError
            When the night has another number of outputs.
        """
        y = np.asarray(outputs, dtype=np.float64)
        if y.shape != (len(self.names),):
            raise ValueError(f"{y.shape[0] if y.ndim else 0} outputs; the statistics have {len(self.names)}")
        return (y < self.quantiles[0]) | (y > self.quantiles[-1])

    def to_dict(self) -> dict:
        return {"names": list(self.names), "quantiles": {f"{q:g}": _floats(v) for q, v in
                                                         zip(OUTPUT_QUANTILES, self.quantiles)},
                "n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping) -> "OutputStatistics":
        q = sorted((float(k), v) for k, v in dict(data["quantiles"]).items())
        names = tuple(str(n) for n in data["names"])
        table = np.asarray([v for _, v in q], dtype=np.float64)
        if len(q) < 2 or table.ndim != 2 or table.shape[1] != len(names):
            raise ValueError(f"output quantiles must be at least two lists of {len(names)} values")
        return cls(names, table, int(data["n"]))


@dataclass(frozen=True)
class TrainingStatistics:
    """What inference compares a night with: per-modality PCAs and the head's energy range.

    Attributes
    ----------
    modalities : dict
        Modality -> :class:`PCAStatistics`.
    logits : LogitStatistics or None
        Of the staging head, when fitted with its logits.
    night_fraction : float
        Share of marked epochs above which a night is flagged.
    n_nights : int
    source : str
        What it was fitted on, in words.
    review : ReviewStatistics or None
        What per-epoch review evidence of a flagged night is read against (None: statistics
        fitted before it existed, without :data:`REVIEW_MODALITY`, or of a per-night head).
    outputs : OutputStatistics or None
        Of a per-night head (a disease head): each output's training range.
    """

    modalities: dict[str, PCAStatistics]
    logits: LogitStatistics | None = None
    night_fraction: float = NIGHT_FRACTION
    n_nights: int = 0
    source: str = ""
    review: ReviewStatistics | None = None
    outputs: OutputStatistics | None = None

    @classmethod
    def fit(cls, nights: Sequence[Mapping[str, np.ndarray]], logits: Sequence[np.ndarray] | None = None,
            n_components: int = N_COMPONENTS, source: str = "", outputs: Any = None,
            output_names: Sequence[str] = ()) -> "TrainingStatistics":
        """Fit on training nights (modalities with fewer than :data:`MIN_EPOCHS` epochs are
        left out).

        Parameters
        ----------
        nights : sequence of mapping
            Per night, modality -> 5-s token embeddings (S, E).
        logits : sequence of array, optional
            Per night, a staging head's token logits (S, K).
        outputs : array (n_nights, K), optional
            Per night, a per-night head's outputs (a disease head's log-hazards); such a head
            gets no per-epoch review evidence.
        output_names : sequence of str
            The outputs' names (phecodes).
        """
        per_mod: dict[str, list[np.ndarray]] = {}
        night_of: dict[str, list[np.ndarray]] = {}
        for i, night in enumerate(nights):
            for m, tok in night.items():
                means = epoch_means(tok)
                per_mod.setdefault(m, []).append(means)
                night_of.setdefault(m, []).append(np.full(len(means), i))
        if not per_mod:
            raise ValueError("no night to fit training statistics on")
        # A modality with too few epochs gets no statistics: inference says it is unchecked.
        mods = {m: PCAStatistics.fit(np.concatenate(per_mod[m]), n_components,
                                     groups=np.concatenate(night_of[m]))
                for m in MODALITIES if m in per_mod and sum(map(len, per_mod[m])) >= MIN_EPOCHS}
        if not mods:
            raise ValueError(f"fewer than {MIN_EPOCHS} training epochs in every modality")
        head = None
        if logits:
            head = LogitStatistics.fit(np.concatenate([epoch_means(z) for z in logits]))
        review = None
        if REVIEW_MODALITY in mods and outputs is None:
            has = [i for i, night in enumerate(nights) if REVIEW_MODALITY in night]
            review = ReviewStatistics.fit(
                [epoch_means(nights[i][REVIEW_MODALITY]) for i in has],
                [epoch_means(logits[i]) for i in has] if logits else None, REVIEW_MODALITY, n_components)
        out = None if outputs is None else OutputStatistics.fit(outputs, output_names)
        return cls(mods, head, NIGHT_FRACTION, len(nights), source, review, out)

    def to_dict(self) -> dict:
        return {"format": _FORMAT, "format_version": _FORMAT_VERSION,
                "epoch_quantile": EPOCH_QUANTILE, "night_fraction": self.night_fraction,
                "n_nights": self.n_nights, "source": self.source,
                "modalities": {m: s.to_dict() for m, s in self.modalities.items()},
                "logits": None if self.logits is None else self.logits.to_dict(),
                "review": None if self.review is None else self.review.to_dict(),
                "outputs": None if self.outputs is None else self.outputs.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping) -> "TrainingStatistics":
        """Read :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            When it is not training statistics or is malformed.
        """
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ValueError(f"not training statistics (no format {_FORMAT!r})")
        try:
            mods = {str(m): PCAStatistics.from_dict(s) for m, s in dict(data["modalities"]).items()}
            head = None if data.get("logits") is None else LogitStatistics.from_dict(data["logits"])
            review = None if data.get("review") is None else ReviewStatistics.from_dict(data["review"])
            out = None if data.get("outputs") is None else OutputStatistics.from_dict(data["outputs"])
            return cls(mods, head, float(data["night_fraction"]), int(data["n_nights"]),
                       str(data.get("source", "")), review, out)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed training statistics ({exc!r})") from exc

    @classmethod
    def from_metadata(cls, metadata: Mapping | None, folder: Any = None) -> "TrainingStatistics | None":
        """The statistics a model's metadata holds; None when it holds none.

        Raises
        ------
        ModelError
            When the metadata's statistics are malformed.
        """
        data = (metadata or {}).get(OOD_KEY)
        if data is None:
            return None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ModelError(folder, f"metadata.json: {OOD_KEY}: {exc}") from exc

    def score(self, tokens: Mapping[str, np.ndarray], logits: np.ndarray | None = None,
              skip: np.ndarray | None = None) -> "OODResult":
        """Compare one night with the training data.

        Parameters
        ----------
        tokens : mapping
            Modality -> 5-s token embeddings (S, E).
        logits : array (S, K), optional
            The staging head's token logits.
        skip : array of bool (n_epochs,), optional
            Epochs without data (no stage): not scored, not marked, not counted.
        """
        checked = [m for m in tokens if m in self.modalities]
        n_epochs = max((math.ceil(len(t) / TOKENS_PER_EPOCH) for t in tokens.values()), default=0)
        per_mod = {m: self.modalities[m].score(epoch_means(tokens[m]))[:n_epochs] for m in checked}
        scores = np.zeros(n_epochs)
        worst = np.full(n_epochs, "", dtype=object)
        for m, s in per_mod.items():
            s = np.pad(s, (0, n_epochs - len(s)))
            better = s > scores
            scores[better], worst[better] = s[better], m
        head = np.zeros(n_epochs, dtype=bool)
        if logits is not None and self.logits is not None:
            out = self.logits.outside(epoch_means(logits))[:n_epochs]
            head[:len(out)] = out
        marked = (scores > 1.0) | head
        gone = np.zeros(n_epochs, dtype=bool)
        if skip is not None:
            gone[: len(skip)] = np.asarray(skip, dtype=bool)[:n_epochs]
            scores[gone], marked[gone], head[gone] = np.nan, False, False
        evidence = self._review_evidence(tokens, logits, gone)
        unavailable = []
        missing = [m for m in tokens if m not in self.modalities]
        if missing:
            unavailable.append(f"embedding check of {', '.join(missing)} (no training statistics "
                               f"for {'it' if len(missing) == 1 else 'them'})")
        if self.outputs is not None:
            return OODResult(scores, marked, head, tuple(worst.tolist()), self.night_fraction,
                             tuple(checked), tuple(unavailable))
        if self.logits is None:
            unavailable.append("head energy check (no training statistics of the head's logits)")
        if evidence is None:
            unavailable.append(f"per-epoch review evidence (no training statistics of it, or no "
                               f"{REVIEW_MODALITY} embeddings): a flagged night offers its marked epochs")
        return OODResult(scores, marked, head, tuple(worst.tolist()), self.night_fraction,
                         tuple(checked), tuple(unavailable), epoch_evidence=evidence)

    def _review_evidence(self, tokens: Mapping[str, np.ndarray], logits: np.ndarray | None,
                         gone: np.ndarray) -> np.ndarray | None:
        """Review p-value per epoch (:meth:`ReviewStatistics.p_values`), NaN for epochs without
        data (left out of the night's centre too); None when it cannot be computed."""
        if self.review is None or self.review.modality not in tokens:
            return None
        n_epochs = len(gone)
        x = np.full((n_epochs, self.review.centred.mean.shape[0]), np.nan)
        means = epoch_means(tokens[self.review.modality])[:n_epochs]
        x[: len(means)] = means
        x[gone] = np.nan
        z = None
        if logits is not None:
            z = np.full((n_epochs, np.asarray(logits).shape[1]), np.nan)
            ep = epoch_means(logits)[:n_epochs]
            z[: len(ep)] = ep
        return self.review.p_values(x, z)


@dataclass(frozen=True)
class Calibration:
    """Temperature scaling fitted on the validation split, with what it changed."""

    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    n_epochs: int

    @classmethod
    def fit(cls, nights: Sequence[tuple[np.ndarray, np.ndarray]]) -> "Calibration":
        """Fit on the validation nights.

        The temperature minimises the negative log-likelihood of the scored 30-s epochs'
        probabilities as inference makes them (the mean of an epoch's token probabilities after
        scaling), so it calibrates what the user sees; the calibration errors and likelihoods
        are of the same epochs, before and after.

        Parameters
        ----------
        nights : sequence of (token logits (S, K), epoch labels (n_epochs,)), -1 unscored
            (see :func:`epoch_predictions`).
        """
        if not nights:
            raise ValueError("no validation night to fit a temperature on")
        labels = epoch_predictions(nights, 1.0)[1]
        scored = labels >= 0
        if not scored.any():
            raise ValueError("no scored epoch to fit a temperature on")
        y = labels[scored]

        def nll(t: float) -> float:
            p = epoch_predictions(nights, t)[0][scored]
            return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

        t = _minimise_temperature(nll)
        before, after = epoch_predictions(nights, 1.0)[0], epoch_predictions(nights, t)[0]
        return cls(t, expected_calibration_error(before, labels), expected_calibration_error(after, labels),
                   nll(1.0), nll(t), int(scored.sum()))

    def to_dict(self) -> dict:
        return {"method": "temperature scaling (validation split, 30-s epochs, NLL)",
                "temperature": self.temperature, "ece_before": self.ece_before,
                "ece_after": self.ece_after, "nll_before": self.nll_before,
                "nll_after": self.nll_after, "n_epochs": self.n_epochs, "ece_bins": ECE_BINS}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Calibration":
        t = float(data["temperature"])
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperature must be a positive number, got {t}")
        return cls(t, float(data["ece_before"]), float(data["ece_after"]), float(data["nll_before"]),
                   float(data["nll_after"]), int(data["n_epochs"]))

    @classmethod
    def from_metadata(cls, metadata: Mapping | None, folder: Any = None) -> "Calibration | None":
        """The calibration a model's metadata holds; None when it holds none.

        Raises
        ------
        ModelError
            When it is malformed.
        """
        data = (metadata or {}).get(CALIBRATION_KEY)
        if data is None:
            return None
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(folder, f"metadata.json: {CALIBRATION_KEY}: {exc}") from exc


# ------------------------------------------------------------------------------- results
def _nan_array(values: Sequence) -> np.ndarray:
    """JSON numbers with null for NaN, as an array."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass(frozen=True)
class OODResult:
    """One night against the training data.

    Attributes
    ----------
    epoch_scores : ndarray (n_epochs,)
        Largest embedding score over the modalities checked (above 1: unlike training).
    epoch_ood : ndarray of bool
        Epochs marked: embedding score above 1 or head energy outside its training range.
    head_ood : ndarray of bool
        Epochs marked by the head's energy.
    epoch_modality : tuple of str
        The modality furthest out per epoch ("" when none was checked).
    night_fraction : float
        The share of marked epochs that flags the night.
    checked : tuple of str
        Modalities compared.
    unavailable : tuple of str
        Checks that could not be made, in words.
    notes : tuple of str
        Further findings that make the night untrustworthy whatever the scores (e.g. a
        synthetic-only model on a real recording).
    epoch_evidence : ndarray (n_epochs,) or None
        Review p-value per epoch (:meth:`ReviewStatistics.p_values`; small: unlike the typical
        training epoch; NaN without data); None when it could not be computed.
    review_p : float
        The p-value below which an epoch of a flagged night is offered for review.
    outputs_outside : tuple of str
        Of a per-night head: the outputs (phecodes) outside their training range.
    n_outputs : int
        Of a per-night head: the outputs checked (0: none was).
    """

    epoch_scores: np.ndarray
    epoch_ood: np.ndarray
    head_ood: np.ndarray
    epoch_modality: tuple[str, ...]
    night_fraction: float = NIGHT_FRACTION
    checked: tuple[str, ...] = ()
    unavailable: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    epoch_evidence: np.ndarray | None = None
    review_p: float = REVIEW_P
    outputs_outside: tuple[str, ...] = ()
    n_outputs: int = 0

    @classmethod
    def not_available(cls, n_epochs: int, unavailable: Sequence[str]) -> "OODResult":
        """A night no check could be made on (a release without statistics): ``unavailable``
        says which checks, in words."""
        return cls(np.full(n_epochs, np.nan), np.zeros(n_epochs, bool), np.zeros(n_epochs, bool),
                   ("",) * n_epochs, NIGHT_FRACTION, (), tuple(unavailable))

    @property
    def n_scored(self) -> int:
        """Epochs scored (those with data)."""
        return int(np.isfinite(self.epoch_scores).sum())

    @property
    def fraction(self) -> float:
        """Share of the night's scored epochs marked."""
        return float(self.epoch_ood.sum()) / self.n_scored if self.n_scored else 0.0

    @property
    def available(self) -> bool:
        return bool(self.checked)

    @property
    def flagged(self) -> bool:
        """Whether the night is unlike the training data (or a note makes it untrustworthy)."""
        return (bool(self.notes) or (self.available and self.fraction > self.night_fraction)
                or self.outputs_fraction > self.night_fraction)

    @property
    def outputs_fraction(self) -> float:
        """Share of a per-night head's outputs outside their training range (0 unchecked)."""
        return len(self.outputs_outside) / self.n_outputs if self.n_outputs else 0.0

    @property
    def review_epochs(self) -> np.ndarray:
        """Epochs review by confidence offers whatever their probability (bool per epoch).

        A night like the training data: its marked epochs. A flagged night: the epochs whose
        review p-value is below :attr:`review_p`, i.e. less typical of the training data than
        the median training epoch (the night's marks say nothing about one epoch when most are
        marked); without review evidence, its marked epochs, and every epoch when no check could
        be made (a note flagged it).
        """
        if self.flagged and self.epoch_evidence is not None:
            with np.errstate(invalid="ignore"):
                return np.asarray(self.epoch_evidence) < self.review_p
        if self.flagged and not self.available:
            return np.ones(len(self.epoch_ood), dtype=bool)
        return self.epoch_ood.copy()

    @property
    def verdict(self) -> str:
        if self.flagged:
            return "unlike the training data"
        return "like the training data" if self.available else "not checked"

    def reasons(self) -> list[str]:
        """What a user is told, one sentence each."""
        out = list(self.notes)
        if self.available:
            n, k = self.n_scored, int(self.epoch_ood.sum())
            line = (f"{k} of {n} 30-s epochs ({100 * self.fraction:.0f} %) lie outside the range of "
                    f"the model's training data (flagged above {100 * self.night_fraction:.0f} %)")
            if k and self.flagged:
                mods = [m for m in self.epoch_modality if m]
                emb = self.epoch_ood & ~self.head_ood
                if mods and emb.any():
                    top = max(set(mods), key=mods.count)
                    line += (f"; the embeddings are furthest out in {top} (median "
                             f"{np.nanmedian(self.epoch_scores):.1f}x the training threshold)")
                if self.head_ood.any():
                    line += (f"; the staging head is unusually sure or unsure of itself in "
                             f"{int(self.head_ood.sum())} epochs")
            out.append(line)
        if self.n_outputs:
            k = len(self.outputs_outside)
            line = (f"{k} of {self.n_outputs} disease log-hazards ({100 * self.outputs_fraction:.0f} %) lie "
                    f"outside the range of the head's training nights (flagged above "
                    f"{100 * self.night_fraction:.0f} %)")
            if k:
                line += ": " + ", ".join(self.outputs_outside[:5]) + (", ..." if k > 5 else "")
            out.append(line)
        if self.flagged and self.epoch_evidence is not None:
            k = int(self.review_epochs.sum())
            out.append(f"review by confidence offers first the {k} epochs whose head confidence and "
                       f"{REVIEW_MODALITY} signals (the night's shared offset removed) are less typical "
                       f"than the median training epoch, least typical first")
        out += [f"not available: {u}" for u in self.unavailable]
        return out

    def to_dict(self) -> dict:
        """JSON-able record (per-epoch scores included), read back by :meth:`from_dict`."""
        return {"format": _FORMAT + " result", "format_version": _FORMAT_VERSION,
                "verdict": self.verdict, "flagged": self.flagged, "fraction": self.fraction,
                "night_fraction": self.night_fraction, "checked": list(self.checked),
                "unavailable": list(self.unavailable), "notes": list(self.notes),
                "reasons": self.reasons(),
                "epoch_scores": [None if not math.isfinite(v) else round(float(v), 6)
                                 for v in self.epoch_scores],
                "epoch_ood": self.epoch_ood.astype(int).tolist(),
                "head_ood": self.head_ood.astype(int).tolist(),
                "epoch_modality": list(self.epoch_modality),
                "epoch_evidence": None if self.epoch_evidence is None else
                [None if not math.isfinite(v) else round(float(v), 6) for v in self.epoch_evidence],
                "review_p": self.review_p, "outputs_outside": list(self.outputs_outside),
                "n_outputs": self.n_outputs}

    @classmethod
    def from_dict(cls, data: Mapping) -> "OODResult":
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT + " result":
            raise ValueError("not an OOD result")
        evidence = data.get("epoch_evidence")
        return cls(_nan_array(data["epoch_scores"]),
                   np.asarray(data["epoch_ood"], dtype=bool), np.asarray(data["head_ood"], dtype=bool),
                   tuple(str(m) for m in data["epoch_modality"]), float(data["night_fraction"]),
                   tuple(data["checked"]), tuple(data["unavailable"]), tuple(data["notes"]),
                   None if evidence is None else _nan_array(evidence),
                   float(data.get("review_p", REVIEW_P)),
                   tuple(str(o) for o in data.get("outputs_outside", ())), int(data.get("n_outputs", 0)))

    def with_notes(self, *notes: str) -> "OODResult":
        """This result with further notes (empty ones ignored)."""
        return replace(self, notes=self.notes + tuple(n for n in notes if n))


# ------------------------------------------------------------------------------- inference
def is_generated(recording: Any) -> bool:
    """Whether a recording is a night :mod:`sleepfm_engine.synthetic` wrote (its EDF+ equipment code)."""
    from .synthetic.night import GENERATED_EQUIPMENT

    info = getattr(recording, "recording_info", None) or {}
    return info.get("equipment") == GENERATED_EQUIPMENT


def _source_is_generated(source: str) -> bool | None:
    """Whether the recording at ``source`` is generated; None when it cannot be opened."""
    from .errors import RecordingError
    from .recording import open_recording

    if not source or not Path(source).is_file():
        return None
    try:
        with warnings.catch_warnings():
            # Reading the header again: its faults were told when the night was read.
            warnings.simplefilter("ignore")
            with open_recording(source) as rec:
                return is_generated(rec)
    except (RecordingError, OSError):
        return None


def assess_night(embeddings: Any, metadata: Mapping | None, logits: np.ndarray | None = None,
                 folder: Any = None, skip: np.ndarray | None = None) -> OODResult:
    """Compare a night's embeddings (and head logits) with a model's training statistics.

    Parameters
    ----------
    embeddings : Embeddings
    metadata : mapping or None
        The staging head's ``metadata.json`` (None for an official folder).
    logits : array (S, K), optional
    folder : path, optional
        The model folder, named in errors.
    skip : array of bool, optional
        Epochs without data (see :meth:`TrainingStatistics.score`).

    Returns
    -------
    OODResult
        With ``unavailable`` saying which checks the model's metadata does not allow, and a
        note when a synthetic-only model meets a recording that is not a generated night.
    """
    stats = TrainingStatistics.from_metadata(metadata, folder)
    no_temperature = (("calibrated probabilities (the model's metadata holds no temperature)",)
                      if Calibration.from_metadata(metadata, folder) is None else ())
    if stats is None:
        result = OODResult.not_available(math.ceil(embeddings.n_tokens / TOKENS_PER_EPOCH),
                                         (_NO_STATISTICS,) + no_temperature)
    else:
        result = stats.score(embeddings.tokens, logits, skip)
        result = replace(result, unavailable=result.unavailable + no_temperature)
    return synthetic_note(result, metadata, embeddings.source)


def assess_risk_night(embeddings: Any, metadata: Mapping | None, log_hazards: Any,
                      names: Sequence[str] = (), folder: Any = None,
                      n_tokens: int | None = None) -> OODResult:
    """Compare a night and a disease head's log-hazards with the head's training statistics.

    Parameters
    ----------
    embeddings : Embeddings
    metadata : mapping or None
        The disease head's ``metadata.json`` (None for an official folder).
    log_hazards : array (K,)
        The night's log-hazards in output order.
    names : sequence of str
        The outputs' names (phecodes), said when they lie outside their range.
    folder : path, optional
        The model folder, named in errors.
    n_tokens : int, optional
        The tokens the head read (it reads the first ``max_seq_length``); default all.

    Returns
    -------
    OODResult
        Per epoch, the embeddings against the training nights' (no head energy: a CoxPH head
        has no class logits); per night, how many log-hazards lie outside their training
        range; ``unavailable`` for a model without statistics; the synthetic-only note.

    Raises
    ------
    ModelError
        When the statistics are malformed or hold another number of outputs than the head gave.
    """
    stats = TrainingStatistics.from_metadata(metadata, folder)
    n = embeddings.n_tokens if n_tokens is None else min(int(n_tokens), embeddings.n_tokens)
    if stats is None:
        result = OODResult.not_available(math.ceil(n / TOKENS_PER_EPOCH), (_NO_STATISTICS,))
        return synthetic_note(result, metadata, embeddings.source, "risks")
    tokens = {m: t[:n] for m, t in embeddings.tokens.items()}
    no_data = np.asarray(getattr(embeddings, "no_data", np.zeros(n, bool)), dtype=bool)[:n]
    skip = epoch_means(no_data.astype(np.float64)) >= 1.0 if len(no_data) else None
    result = stats.score(tokens, None, skip)
    if stats.outputs is None:
        result = replace(result, unavailable=result.unavailable + (
            "disease log-hazard range check (no training statistics of the head's outputs)",))
    else:
        try:
            outside = stats.outputs.outside(log_hazards)
        except ValueError as exc:
            raise ModelError(folder, f"metadata.json: {OOD_KEY}: {exc}") from exc
        labels = list(names) if len(names) == len(outside) else list(stats.outputs.names)
        result = replace(result, outputs_outside=tuple(labels[i] for i in np.flatnonzero(outside)),
                         n_outputs=int(len(outside)))
    return synthetic_note(result, metadata, embeddings.source, "risks")


_NO_STATISTICS = "out-of-distribution check (the model's metadata holds no training statistics)"


def synthetic_note(result: OODResult, metadata: Mapping | None, source: str,
                   results: str = "stages") -> OODResult:
    """``result`` with a note when a synthetic-only model meets a night that is not generated
    (its ``results`` mean nothing).

    Parameters
    ----------
    result : OODResult
        The night's check against the model's training data.
    metadata : mapping or None
        The model's ``metadata.json``; :data:`SYNTHETIC_ONLY_KEY` marks a model trained on
        generated nights only.
    source : str
        The night's recording file (opened to tell whether it was generated); a file that
        cannot be opened counts as not known to be generated.
    results : str
        What the model made of the night, as the note names it (``"stages"``, ``"risks"``,
        ``"events"``).

    Returns
    -------
    OODResult
        ``result`` itself when the model is not synthetic-only or the night is generated;
        else ``result`` with the note added.
    """
    if (metadata or {}).get(SYNTHETIC_ONLY_KEY):
        generated = _source_is_generated(source)
        if generated is not True:
            what = ("is not a generated night" if generated is False
                    else "cannot be checked for being a generated night")
            result = result.with_notes(f"the model was trained on generated (synthetic) nights only and "
                                       f"this recording {what}: its {results} mean nothing")
    return result


def warn_if_flagged(result: OODResult, source: str, model: str) -> None:
    """Warn (:class:`OODWarning`) when the night is flagged or no check was possible."""
    name = Path(source).name if source else "the night"
    if result.flagged:
        warnings.warn(OODWarning(f"{name}: unlike the training data of {model}: "
                                 + "; ".join(result.reasons())), stacklevel=2)
    elif result.unavailable:
        warnings.warn(OODWarning(f"{name}: {model}: " + "; ".join(result.reasons())), stacklevel=2)


# ------------------------------------------------------------------------------- files
def update_metadata(folder: str | Path, **entries: Any) -> Path:
    """Add ``entries`` (JSON-able) to a model folder's ``metadata.json``, atomically.

    Raises
    ------
    ModelError
        When the folder has no readable ``metadata.json``.
    """
    from .atomic import write_text_atomic
    from .checkpoints import METADATA_FILE

    path = Path(folder) / METADATA_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(folder, f"no readable {METADATA_FILE} ({exc})") from exc
    meta.update(entries)
    return write_text_atomic(path, json.dumps(meta, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def ood_path(provenance_file: str | Path) -> Path:
    """The OOD record beside a night's provenance file: ``x.provenance.json`` -> ``x.ood.json``."""
    p = Path(provenance_file)
    name = p.name[: -len(".provenance.json")] if p.name.endswith(".provenance.json") else p.stem
    return p.with_name(name + ".ood.json")


def write_ood_file(path: str | Path, result: OODResult, model: str = "") -> Path:
    """Write a night's :class:`OODResult` (atomically) with the model it was judged against."""
    from .atomic import write_text_atomic

    data = dict(result.to_dict(), model=model)
    return write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def read_ood_file(path: str | Path) -> OODResult:
    """Read :func:`write_ood_file`'s file.

    Raises
    ------
    ModelError
        When it is not such a file.
    """
    try:
        return OODResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(path, f"not a readable OOD record ({exc})") from exc
