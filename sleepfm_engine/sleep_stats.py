"""AASM sleep statistics and epoch-by-epoch agreement metrics, as plain numpy functions.

Everything here works on arrays of stage codes (:data:`sleepfm_engine.hypnogram.STAGE_CODES`:
0..4 = W N1 N2 N3 R, -1 unscored, -2 artefact) so that training, evaluation and reports share
one implementation.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np

from .contract import EPOCH_SECONDS
from .hypnogram import ARTEFACT, SCORED_CODES, SLEEP_CODES, STAGES, UNSCORED


class StatisticDefinition(NamedTuple):
    """What one statistic is and how it is printed.

    Attributes
    ----------
    unit : str
        ``"min"``, ``"%"``, ``"count"``, ``"epoch"`` or ``"s"``.
    definition : str
        What it measures (AASM terms where they exist); shown as a tooltip and in exports.
    decimals : int
        Decimals when printed for a reader (exports keep the unrounded value).
    """

    unit: str
    definition: str
    decimals: int = 1


#: Units that name a count of things rather than a measure, printed without a unit suffix.
_UNITLESS = ("count", "epoch")
#: Internal code of an epoch without data in :func:`sleep_statistics` (outside -2..4).
_NO_DATA = ARTEFACT - 1
#: What an undefined statistic (no sleep, no R, TST of 0...) prints as.
MISSING = "\u2014"


def _min(definition: str) -> StatisticDefinition:
    return StatisticDefinition("min", definition, 1)


def _pct(definition: str) -> StatisticDefinition:
    return StatisticDefinition("%", definition, 1)


def _count(definition: str) -> StatisticDefinition:
    return StatisticDefinition("count", definition, 0)


def _epoch(definition: str) -> StatisticDefinition:
    return StatisticDefinition("epoch", definition, 0)


#: What every key of :func:`sleep_statistics` means: key -> (unit, definition, decimals).
STATISTICS_DEFINITIONS: dict[str, StatisticDefinition] = {
    "TRT": _min("Total recording time: lights out to lights on (AASM 'TRT'); the whole "
                "hypnogram unless lights times are given. Epochs where the recording has no "
                "data (gaps of an EDF+D file, see no_data_min) are not recording time and are "
                "left out of every statistic"),
    "TIB": _min("Time in bed; the same interval as TRT here, without its no-data epochs"),
    "TST": _min("Total sleep time: epochs of N1, N2, N3 or R within TRT (AASM 'TST')"),
    "SPT": _min("Sleep period time: from the start of the first sleep epoch (sleep onset) to "
                "the end of the last sleep epoch (final awakening, or lights on if the record "
                "ends asleep)"),
    "SE": _pct("Sleep efficiency: 100 x TST / TRT (AASM 'percent sleep efficiency'); no-data "
               "epochs are in neither"),
    "SOL": _min("Sleep onset latency: lights out to the first epoch of any sleep stage (AASM "
                "'sleep latency'), no-data epochs not counted; None without sleep"),
    "WASO": _min("Wake after sleep onset: W epochs within SPT. The AASM's TRT - SL - TST also "
                 "counts wake after the final awakening (see wake_after_final_awakening) and "
                 "unscored time"),
    "REM_latency": _min("Stage R latency: sleep onset to the first R epoch (AASM); None "
                        "without R"),
    "W_min": _min("Time in W within TRT (before, during and after SPT)"),
    "N1_min": _min("Time in N1"), "N2_min": _min("Time in N2"),
    "N3_min": _min("Time in N3 (R&K stages 3 and 4)"), "R_min": _min("Time in R"),
    "N1_pct": _pct("N1 as percent of TST; None when TST is 0"),
    "N2_pct": _pct("N2 as percent of TST"), "N3_pct": _pct("N3 as percent of TST"),
    "R_pct": _pct("R as percent of TST"),
    "unscored_min": _min("Unscored epochs within TRT (the recording has data, the scorer gave "
                         "no stage): in no stage, not in TST, not in WASO"),
    "no_data_min": _min("No-data epochs between lights out and lights on: the recording has no "
                        "data there (gaps of an EDF+D file). Not in TRT, SE, TST, WASO, SOL, "
                        "SPT or any stage, whatever a scorer labelled them; apart from "
                        "unscored_min"),
    "artefact_min": _min("Movement time / artefact epochs within TRT: not in TST, not in WASO"),
    "wake_after_final_awakening": _min("W after the end of SPT, up to lights on"),
    "awakenings": _count("Number of awakenings: runs of one or more consecutive W epochs within "
                         "SPT; unscored/artefact epochs are skipped, so W ? W is one run"),
    "stage_shifts": _count("Stage shifts: changes of stage between consecutive scored epochs "
                           "(W included, unscored/artefact skipped) within TRT"),
    "sleep_onset_epoch": _epoch("Index of the first sleep epoch; None without sleep"),
    "final_sleep_epoch": _epoch("Index of the last sleep epoch; None without sleep"),
    "epoch_length": StatisticDefinition("s", "Epoch length", 1),
    "n_epochs": _count("Epochs within TRT"),
}

#: Short display label of every key of :func:`sleep_statistics`.
STATISTICS_LABELS: dict[str, str] = {
    "TRT": "Total recording time", "TIB": "Time in bed", "TST": "Total sleep time",
    "SPT": "Sleep period time", "SE": "Sleep efficiency", "SOL": "Sleep onset latency",
    "WASO": "Wake after sleep onset", "REM_latency": "REM latency", "W_min": "Wake",
    "N1_min": "N1", "N2_min": "N2", "N3_min": "N3", "R_min": "REM", "N1_pct": "N1 (% TST)",
    "N2_pct": "N2 (% TST)", "N3_pct": "N3 (% TST)", "R_pct": "REM (% TST)",
    "unscored_min": "Unscored", "no_data_min": "No data", "artefact_min": "Artefact / movement",
    "wake_after_final_awakening": "Wake after final awakening", "awakenings": "Awakenings",
    "stage_shifts": "Stage shifts", "sleep_onset_epoch": "Sleep onset epoch",
    "final_sleep_epoch": "Last sleep epoch", "epoch_length": "Epoch length",
    "n_epochs": "Epochs in TRT",
}


def format_statistic(key: str, value: Any, *, with_unit: bool = False, missing: str = MISSING) -> str:
    """How a statistic's value is printed for a reader, everywhere (report, CLI, application).

    Rounded to the definition's decimals; undefined values (None, NaN) print as ``missing``.

    Parameters
    ----------
    key : str
        A key of :data:`STATISTICS_DEFINITIONS`; other keys (agreement figures) print with one
        decimal and no unit.
    value : number or None
    with_unit : bool
        Append the unit (``"412.5 min"``, ``"85.9 %"``); counts and epoch indices have none.
    missing : str
        Text of an undefined value.

    Returns
    -------
    str

    Examples
    --------
    >>> format_statistic("TST", 412.5), format_statistic("SE", 85.9375, with_unit=True)
    ('412.5', '85.9 %')
    >>> format_statistic("awakenings", 7), format_statistic("REM_latency", None)
    ('7', '—')
    """
    if value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(value)):
        return missing
    definition = STATISTICS_DEFINITIONS.get(key)
    unit, decimals = (definition.unit, definition.decimals) if definition else ("", 1)
    text = f"{float(value):.{decimals}f}"
    if with_unit and unit and unit not in _UNITLESS:
        return f"{text} {unit}"
    return text


def _codes(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" and arr.size:
        if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer stage codes, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def no_data_epochs(gaps: Sequence[tuple[float, float]], epoch_length: float, n_epochs: int,
                   offset: float = 0.0) -> np.ndarray:
    """Which epochs of a hypnogram fall (partly) in a gap of its recording.

    Parameters
    ----------
    gaps : sequence of (start_s, stop_s)
        Spans without data, seconds from the recording start (``Recording.gaps``).
    epoch_length : float
    n_epochs : int
    offset : float
        Seconds from the recording start to epoch 0 (``Hypnogram.offset`` of an aligned
        hypnogram).

    Returns
    -------
    numpy.ndarray
        bool (n_epochs,), True for an epoch without (complete) data; the ``no_data`` of
        :func:`sleep_statistics`.
    """
    from .preprocessing import no_data_windows

    return no_data_windows([(a - offset, b - offset) for a, b in gaps], float(epoch_length),
                           int(n_epochs))


def sleep_statistics(stages: Sequence[int] | np.ndarray, epoch_length: float = EPOCH_SECONDS,
                     lights_off: float | None = None, lights_on: float | None = None,
                     no_data: Sequence[bool] | np.ndarray | None = None) -> dict:
    """AASM sleep statistics of a hypnogram.

    Parameters
    ----------
    stages : array-like of int
        Stage codes per epoch (0..4 = W N1 N2 N3 R, -1 unscored, -2 artefact).
    epoch_length : float
        Seconds per epoch; any length works (30 s clinically).
    lights_off, lights_on : float, optional
        Seconds from the start of epoch 0, rounded to the nearest epoch boundary. By default the
        whole hypnogram is the recording period.
    no_data : array-like of bool, optional
        One flag per epoch, True where the recording has no data (:func:`no_data_epochs`).
        Those epochs are not recording time: they are left out of every statistic (whatever
        stage a scorer gave them) and counted apart as ``no_data_min``.

    Returns
    -------
    dict
        Times in minutes, percentages in %, counts as int; None where undefined:

        ========================== ====================================================
        key                        definition (AASM Scoring Manual terms where they exist)
        ========================== ====================================================
        TRT                        total recording time, lights out to lights on
        TIB                        time in bed: the same interval as TRT
        TST                        total sleep time: N1 + N2 + N3 + R epochs in TRT
        SPT                        sleep period time: start of the first sleep epoch to
                                   the end of the last sleep epoch
        SE                         sleep efficiency, 100 x TST / TRT
        SOL                        sleep (onset) latency: lights out to first sleep epoch
        WASO                       W epochs within SPT
        REM_latency                stage R latency: sleep onset to first R epoch
        W_min .. R_min             time in each stage within TRT
        N1_pct .. R_pct            stage time as % of TST
        unscored_min, artefact_min unscored / movement-artefact time, counted apart
        no_data_min                time without data, outside every other figure
        wake_after_final_awakening W after SPT, up to lights on
        awakenings                 runs of >= 1 consecutive W epoch within SPT
                                   (unscored/artefact epochs skipped)
        stage_shifts               changes of stage between consecutive scored epochs
        ========================== ====================================================

        Unscored and artefact epochs are never sleep: they count in TRT (so they lower SE) but
        not in TST or WASO. No-data epochs are not recording time at all: they are in no
        figure but ``no_data_min`` (so a gap neither lowers SE nor is staged). WASO follows the definition "wake within SPT"; the AASM's
        ``TRT - SL - TST`` equals ``WASO + wake_after_final_awakening + unscored/artefact time
        after sleep onset``. :data:`STATISTICS_DEFINITIONS` has the same text per key.

    Raises
    ------
    ValueError
        If the lights times are reversed or the codes are invalid.
    """
    codes = _codes(stages, "stages")
    epoch_length = float(epoch_length)
    if not math.isfinite(epoch_length) or epoch_length <= 0:
        raise ValueError(f"epoch_length must be positive, got {epoch_length}")
    if codes.size and (codes.min() < ARTEFACT or codes.max() > len(STAGES) - 1):
        raise ValueError("stages hold codes outside -2..4")
    n = codes.shape[0]
    i_off = 0 if lights_off is None else int(min(n, max(0, round(float(lights_off) / epoch_length))))
    i_on = n if lights_on is None else int(min(n, max(0, round(float(lights_on) / epoch_length))))
    if i_on < i_off:
        raise ValueError(f"lights on ({lights_on} s) comes before lights off ({lights_off} s)")
    gap = np.zeros(n, dtype=bool) if no_data is None else np.asarray(no_data, dtype=bool)
    if gap.shape != (n,):
        raise ValueError(f"no_data must have one flag per epoch ({n}), got shape {gap.shape}")
    gap = gap[i_off:i_on]
    # A no-data epoch takes a code that is no stage, not unscored and not artefact, so every
    # figure below skips it; durations count only the epochs with data.
    win = np.where(gap, _NO_DATA, codes[i_off:i_on])
    with_data = np.concatenate([[0], np.cumsum(~gap)])
    to_min = epoch_length / 60.0

    def minutes(count: int | np.integer) -> float:
        return float(count) * to_min

    is_sleep = np.isin(win, SLEEP_CODES)
    tst_epochs = int(is_sleep.sum())
    trt = minutes(with_data[-1])
    tst = minutes(tst_epochs)
    counts = {code: int(np.sum(win == code)) for code in (*SCORED_CODES, UNSCORED, ARTEFACT)}
    sleep_idx = np.flatnonzero(is_sleep)
    out: dict[str, Any] = {"epoch_length": epoch_length, "n_epochs": int(with_data[-1]),
                           "TRT": trt, "TIB": trt, "TST": tst}
    if sleep_idx.size:
        s0, s1 = int(sleep_idx[0]), int(sleep_idx[-1])
        spt = win[s0:s1 + 1]
        out["SPT"] = minutes(with_data[s1 + 1] - with_data[s0])
        out["SOL"] = minutes(with_data[s0])
        out["WASO"] = minutes(int(np.sum(spt == 0)))
        rem = np.flatnonzero(win == 4)
        out["REM_latency"] = minutes(with_data[int(rem[0])] - with_data[s0]) if rem.size else None
        scored_spt = spt[np.isin(spt, SCORED_CODES)]
        wake = scored_spt == 0
        out["awakenings"] = int(np.sum(wake[1:] & ~wake[:-1]) + (1 if wake.size and wake[0] else 0))
        out["wake_after_final_awakening"] = minutes(int(np.sum(win[s1 + 1:] == 0)))
        out["sleep_onset_epoch"] = i_off + s0
        out["final_sleep_epoch"] = i_off + s1
    else:
        out.update(SPT=0.0, SOL=None, WASO=0.0, REM_latency=None, awakenings=0,
                   wake_after_final_awakening=0.0, sleep_onset_epoch=None, final_sleep_epoch=None)
    out["SE"] = 100.0 * tst / trt if trt > 0 else None
    for code, name in enumerate(STAGES):
        out[f"{name}_min"] = minutes(counts[code])
    for code, name in enumerate(STAGES):
        if code:
            out[f"{name}_pct"] = 100.0 * counts[code] / tst_epochs if tst_epochs else None
    out["unscored_min"] = minutes(counts[UNSCORED])
    out["artefact_min"] = minutes(counts[ARTEFACT])
    out["no_data_min"] = minutes(int(gap.sum()))
    scored = win[np.isin(win, SCORED_CODES)]
    out["stage_shifts"] = int(np.sum(scored[1:] != scored[:-1]))
    order = list(STATISTICS_DEFINITIONS)
    return {k: out[k] for k in order}


# -- agreement ---------------------------------------------------------------------------------
def _pair(a: Any, b: Any, labels: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    a, b = _codes(a, "a"), _codes(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.shape[0]} and {b.shape[0]}")
    labels = list(SCORED_CODES if labels is None else labels)
    keep = np.isin(a, labels) & np.isin(b, labels)
    return a[keep], b[keep], labels


def confusion_matrix(a: Any, b: Any, labels: Sequence[int] | None = None) -> np.ndarray:
    """Confusion matrix: rows = ``a`` (reference), columns = ``b`` (the other scorer).

    Parameters
    ----------
    a, b : array-like of int
        Stage codes of the same epochs.
    labels : sequence of int, optional
        Codes in row/column order (default 0..4 = W N1 N2 N3 R). Epochs whose code in either
        array is not among them (unscored, artefact) are left out.

    Returns
    -------
    numpy.ndarray of int64, shape (len(labels), len(labels))
    """
    a, b, labels = _pair(a, b, labels)
    index = {lab: i for i, lab in enumerate(labels)}
    ia = np.array([index[v] for v in a.tolist()], dtype=np.int64)
    ib = np.array([index[v] for v in b.tolist()], dtype=np.int64)
    k = len(labels)
    return np.bincount(ia * k + ib, minlength=k * k).reshape(k, k).astype(np.int64)


def accuracy(a: Any, b: Any, labels: Sequence[int] | None = None) -> float:
    """Fraction of epochs on which ``a`` and ``b`` agree (NaN when no epoch is compared)."""
    a, b, _ = _pair(a, b, labels)
    return float(np.mean(a == b)) if a.size else float("nan")


def cohen_kappa(a: Any, b: Any, labels: Sequence[int] | None = None) -> float:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e), over the epochs both scored with ``labels``.

    Returns NaN when no epoch is compared or when chance agreement is 1 (both scorers used one
    and the same stage throughout), where kappa is undefined.
    """
    cm = confusion_matrix(a, b, labels).astype(np.float64)
    n = cm.sum()
    if n == 0:
        return float("nan")
    po = np.trace(cm) / n
    pe = float(np.sum(cm.sum(axis=1) * cm.sum(axis=0))) / (n * n)
    if pe >= 1.0:
        return float("nan")
    return float((po - pe) / (1.0 - pe))


def precision_recall_f1(a: Any, b: Any, labels: Sequence[int] | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision, recall and F1 of ``b`` against the reference ``a``.

    Returns
    -------
    precision, recall, f1 : numpy.ndarray (len(labels),)
        NaN where undefined (a label neither scorer used has NaN F1).
    """
    cm = confusion_matrix(a, b, labels).astype(np.float64)
    tp = np.diag(cm)
    ref = cm.sum(axis=1)
    pred = cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred > 0, tp / pred, np.nan)
        recall = np.where(ref > 0, tp / ref, np.nan)
        denom = ref + pred
        f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
    return precision, recall, f1


def f1_per_stage(a: Any, b: Any, labels: Sequence[int] | None = None) -> np.ndarray:
    """Per-label F1 = 2 TP / (2 TP + FP + FN); NaN for a label neither scorer used."""
    return precision_recall_f1(a, b, labels)[2]


def macro_f1(a: Any, b: Any, labels: Sequence[int] | None = None) -> float:
    """Mean F1 over the labels used by at least one scorer (NaN if none)."""
    f1 = f1_per_stage(a, b, labels)
    return float(np.nanmean(f1)) if np.any(np.isfinite(f1)) else float("nan")


def _json_float(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def agreement(a: Any, b: Any, labels: Sequence[int] | None = None) -> dict:
    """All agreement metrics of ``b`` against the reference ``a``, JSON-serialisable.

    Returns
    -------
    dict
        ``n_compared`` (epochs scored with a label in both), ``n_excluded``, ``accuracy``,
        ``kappa``, ``macro_f1``, ``f1``/``precision``/``recall`` (per stage name),
        ``confusion_matrix`` (rows reference ``a``, columns ``b``) and ``labels`` (stage names in
        matrix order). Undefined values are None.
    """
    a_arr, b_arr = _codes(a, "a"), _codes(b, "b")
    labels = list(SCORED_CODES if labels is None else labels)
    cm = confusion_matrix(a_arr, b_arr, labels)
    precision, recall, f1 = precision_recall_f1(a_arr, b_arr, labels)
    from .hypnogram import stage_name

    names = [stage_name(c) for c in labels]
    n = int(cm.sum())
    return {
        "n_compared": n,
        "n_excluded": int(a_arr.shape[0] - n),
        "accuracy": _json_float(accuracy(a_arr, b_arr, labels)),
        "kappa": _json_float(cohen_kappa(a_arr, b_arr, labels)),
        "macro_f1": _json_float(macro_f1(a_arr, b_arr, labels)),
        "f1": {s: _json_float(v) for s, v in zip(names, f1)},
        "precision": {s: _json_float(v) for s, v in zip(names, precision)},
        "recall": {s: _json_float(v) for s, v in zip(names, recall)},
        "confusion_matrix": cm.tolist(),
        "labels": names,
    }


def statistics_dataframe(stats: dict) -> Any:
    """Sleep statistics as a pandas DataFrame, one row per statistic of
    :data:`STATISTICS_DEFINITIONS` present in ``stats``: key, value, unit, definition.

    Parameters
    ----------
    stats : dict
        As returned by :func:`sleep_statistics` (or :meth:`Hypnogram.statistics`).
    """
    import pandas as pd  # optional heavy dependency: only this conversion needs it

    rows = [{"key": k, "value": stats[k], "unit": d.unit, "definition": d.definition}
            for k, d in STATISTICS_DEFINITIONS.items() if k in stats]
    return pd.DataFrame(rows, columns=["key", "value", "unit", "definition"])
