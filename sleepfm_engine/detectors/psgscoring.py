"""The psgscoring detector: AASM scoring by the validated psgscoring library, in our event model.

psgscoring (BSD-3, built on MNE) scores apneas and hypopneas under AASM rule profiles, SpO2
desaturations, arousals, limb movements and heart rate. This adapter

- picks the channel of each role from the recording (:mod:`.roles`; the user can name them),
  resamples them to one rate and hands psgscoring an MNE ``RawArray`` whose channel names are
  unambiguous for its own name matching (its substring rules would otherwise read an ``O2-M1``
  EEG lead as SpO2 when there is no oximeter);
- passes our hypnogram as its stage list (epochs outside lights off/on become wake), or, with no
  hypnogram, psgscoring's polygraphy pseudo-hypnogram (indices then per hour of valid recording
  and no arousals or PLMS);
- maps its events into :class:`~sleepfm_engine.events.Event` (confidence, the rule that
  admitted it, the criteria behind it, the recording's channels it was scored on: the airflow
  sensor and effort belts of a respiratory event, the oximeter of a desaturation, the EEG
  derivations of an arousal, the leg of a limb movement: psgscoring's bilateral flag, else
  the leg whose EMG rose) and its rejected candidates into
  :class:`~sleepfm_engine.events.RejectedCandidate` with English reasons;
- maps its summaries onto the keys of :data:`sleepfm_engine.indices.INDEX_DEFINITIONS`;
- says what it could not score and why (:attr:`Detection.not_scored`), never a silent zero.

Validated against psgscoring |PINNED_VERSION| (the ``events`` extra pins it).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import math
import re
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from ..contract import EPOCH_SECONDS
from ..errors import DetectorError, JobCancelled
from ..events import Event, EventSet, EventSource, EventType, RejectedCandidate
from ..hypnogram import ARTEFACT, STAGES, UNSCORED
from ..jobs import TaskState
from ..position import position_table
from .base import Detection
from .psgscoring_terms import (AROUSAL_TYPES, RESPIRATORY_TYPES, WARNING_CODES,
                               rejection_reason, translate)
from .roles import ROLES, assign_roles

NAME = "psgscoring"
#: The version this adapter was validated against (pinned by the ``events`` extra).
PINNED_VERSION = "0.37.0"
DEFAULT_PROFILE = "aasm_v3_rec"
#: One sampling rate for every channel handed to psgscoring (MNE Raw has one rate): enough
#: for EEG beta (16-30 Hz) and the leg-EMG envelope, a quarter of a 512-Hz ECG's memory.
RAW_RATE_HZ = 128.0
EXTRA = "events"

# Unambiguous channel names per role for psgscoring's substring matching.
_CANONICAL = {
    "flow_pressure": "Nasal Pressure", "flow_thermistor": "Thermistor", "flow": "Flow",
    "spo2": "SpO2", "pulse": "Pulse", "pleth": "Pleth", "thorax": "Thorax",
    "abdomen": "Abdomen", "snore": "Snore", "position": "Position", "leg_l": "Leg L",
    "leg_r": "Leg R", "emg": "Chin EMG", "eog": "EOG", "ecg": "ECG",
}
# Channels holding a level (held, not interpolated, when brought up to the raw rate).
_LEVEL_ROLES = frozenset({"spo2", "pulse", "position"})
_FLOW_ROLES = ("flow_pressure", "flow_thermistor", "flow")
_ELECTRODE = re.compile(r"\b(fp[12z]|[fcpto][34z12]|[fcpt]\d)\b")

# How far the run is when psgscoring logs from each of its modules (its only sign of life).
_STEP_PROGRESS = {"respiratory": 0.2, "signal": 0.2, "breath": 0.3, "classify": 0.35,
                  "spo2": 0.55, "ancillary": 0.6, "plm": 0.65, "arousal": 0.7,
                  "arousal_unet": 0.75, "ecg_effort": 0.8, "postprocess": 0.85,
                  "split_night": 0.9}


class _Stop(BaseException):
    """Raised from psgscoring's own logging to stop it: its steps catch ``Exception`` only."""


class _Watch(logging.Handler):
    """Reads psgscoring's log records: progress from the module, cancellation, warnings."""

    def __init__(self, state: TaskState, start: float, stop: float):
        super().__init__(logging.DEBUG)
        self.state = state
        self.start, self.stop = start, stop
        self.done = 0.0
        self.warnings: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.state.is_interruption_requested():
            raise _Stop()
        module = record.name.rsplit(".", 1)[-1]
        step = _STEP_PROGRESS.get(module)
        if step is not None and step > self.done:
            self.done = step
            self.state.set_progress(self.start + (self.stop - self.start) * step)
        if record.levelno >= logging.WARNING:
            self.warnings.append((module, record.getMessage()))

    def handle(self, record: logging.LogRecord) -> bool:
        # logging.Handler.handle would route an exception from emit to handleError
        self.emit(record)
        return True


class PsgscoringDetector:
    """The psgscoring adapter (module-level :data:`DETECTOR`)."""

    name = NAME
    description = ("AASM scoring by psgscoring: apneas/hypopneas (rule profiles), SpO2 "
                   "desaturations, arousals, limb movements, heart rate")

    # ------------------------------------------------------------------ library
    @staticmethod
    def _library():
        try:
            return importlib.import_module("psgscoring")
        except ImportError as exc:
            raise DetectorError(NAME, None, f"the psgscoring library is not installed ({exc}); "
                                            f"install the '{EXTRA}' extra "
                                            f"(sleepfm-studio[{EXTRA}])") from None

    def version(self) -> str:
        """Installed psgscoring version."""
        self._library()
        return importlib.metadata.version("psgscoring")

    def profiles(self) -> list[str]:
        """Profile names psgscoring offers (``aasm_v3_rec`` is ours by default)."""
        return list(self._library().list_profiles())

    @staticmethod
    def optional_parts() -> dict[str, bool]:
        """Which of psgscoring's optional ML dependencies are installed."""
        return {m: importlib.util.find_spec(m) is not None for m in ("lightgbm", "onnxruntime")}

    def settings_help(self) -> Mapping[str, str]:
        return {
            "profile": f"psgscoring scoring profile (default {DEFAULT_PROFILE}; see profiles())",
            "roles": "{role: channel label} to choose (or, with None, leave out) channels; "
                     f"roles: {', '.join(ROLES)}",
            "lights_off, lights_on": "seconds from the recording start; epochs outside are "
                                     "not scored as sleep",
            "position_table": "code table of the position channel "
                              "(sleepfm_engine.position, default nsrr)",
        }

    # ------------------------------------------------------------------ detect
    def detect(self, recording: Any, hypnogram: Any = None, *, state: TaskState | None = None,
               profile: str = DEFAULT_PROFILE, roles: Mapping[str, str | None] | None = None,
               channel_map: Any = None, lights_off: float | None = None,
               lights_on: float | None = None, position_table_name: str = "nsrr",
               raw_rate: float = RAW_RATE_HZ) -> Detection:
        """Score ``recording`` with psgscoring.

        Parameters
        ----------
        recording : Recording
        hypnogram : Hypnogram, optional
            Sleep stages (aligned to the recording here). Without one, psgscoring's
            polygraphy route runs: respiratory and SpO2 indices per hour of valid recording
            (reported as ``REI``), no arousals, no PLMS.
        state : TaskState, optional
            Progress and cancellation (checked between steps and at each of psgscoring's
            log records).
        profile : str
            psgscoring profile; ``aasm_v3_rec`` by default.
        roles : mapping, optional
            ``{role: label}`` overrides of :func:`~.roles.assign_roles`.
        channel_map : ChannelMap, optional
            The recording's modality map (with the user's overrides).
        lights_off, lights_on : float, optional
            Seconds from the recording start.
        position_table_name : str
            The position channel's code table.
        raw_rate : float
            Common rate (Hz) of the channels handed to psgscoring.

        Returns
        -------
        Detection

        Raises
        ------
        DetectorError
            psgscoring missing, an unknown profile, a discontinuous recording, or nothing
            at all that it could score.
        JobCancelled
            If ``state`` asked to stop.
        """
        state = state or TaskState()
        lib = self._library()
        path = getattr(recording, "path", None)
        version = importlib.metadata.version("psgscoring")
        if profile not in lib.list_profiles():
            raise DetectorError(NAME, path, f"unknown profile {profile!r}; profiles: "
                                            f"{', '.join(lib.list_profiles())}")
        if getattr(recording, "is_discontinuous", False):
            raise DetectorError(NAME, path, "a discontinuous (EDF+D) recording cannot be handed "
                                            "to psgscoring, which needs one continuous signal")
        state.set_status("psgscoring: choosing channels")
        chosen = assign_roles(recording, channel_map, roles)
        result = Detection(events=EventSet(start=getattr(recording, "start", None)))
        if version != PINNED_VERSION:
            result.notes.append(f"psgscoring {version} is installed; this adapter was validated "
                                f"against {PINNED_VERSION}")
        plan = _plan(chosen, hypnogram, profile, lib, result)
        if not plan["scorable"]:
            raise DetectorError(NAME, path, "nothing to score: " + "; ".join(
                f"{k}: {v}" for k, v in result.not_scored.items()))
        state.check_cancelled()
        state.set_status("psgscoring: reading channels")
        raw, names, labels = _raw(recording, chosen, raw_rate, plan, state.sub(0.0, 0.15))
        n_epochs = int(recording.duration // EPOCH_SECONDS)
        stages, artefacts = _stage_list(recording, hypnogram, n_epochs, lights_off, lights_on,
                                        result)
        codes = position_table(position_table_name).codes
        position_map = {int(k): v.capitalize() for k, v in codes.items()}
        settings = {"profile": profile, "raw_rate_hz": float(raw_rate),
                    "position_table": position_table_name, "lights_off": lights_off,
                    "lights_on": lights_on, "hypnogram": hypnogram is not None}
        if stages is None:
            state.set_status("psgscoring: polygraphy window (no hypnogram)")
            window = None
            if lights_off is not None or lights_on is not None:
                window = (float(lights_off or 0.0),
                          float(recording.duration if lights_on is None else lights_on))
            stages, poly = lib.polygraphy_hypnogram_from_raw(
                raw, channel_map=names, n_epochs=n_epochs, manual_window_s=window)
            result.provenance["polygraphy"] = _jsonable(poly)
        state.check_cancelled()
        state.set_status(f"psgscoring {version}: scoring ({profile})")
        out = _run(lib, raw, list(stages), names, artefacts, profile, position_map, state)
        state.set_status("psgscoring: reading its results")
        source = EventSource.detector(NAME, version, settings)
        _map_events(out, result, source, _Channels(out.get("meta") or {}, labels, raw))
        result.summary = _summary(out, plan)
        _fallbacks(out, result)
        result.provenance.update({
            "library": NAME, "version": version, "pinned_version": PINNED_VERSION,
            "profile": profile, "profile_label": out.get("meta", {}).get("scoring_label"),
            "hypopnea_criterion": translate(out.get("meta", {}).get("hypopnea_criterion")),
            "channels": {role: labels for role, labels in chosen.items()},
            "channels_used_by_psgscoring": _jsonable(out.get("meta", {}).get("channels_used")),
            "raw_rate_hz": float(raw_rate), "settings": settings,
        })
        result.events.source = f"{NAME} {version} ({profile})"
        result.library_result = out
        state.set_progress(1.0)
        return result


DETECTOR = PsgscoringDetector()


# ---------------------------------------------------------------------------- planning

def _plan(chosen: dict, hypnogram: Any, profile: str, lib, result: Detection) -> dict:
    """Decide what can be scored with these channels, recording each part that cannot."""
    ns = result.not_scored
    flow = next((r for r in _FLOW_ROLES if r in chosen), None)
    has = {r: r in chosen for r in ROLES}
    if flow is None:
        ns["respiratory"] = ("no airflow channel (nasal pressure, thermistor or flow): apneas "
                             "and hypopneas cannot be scored")
    if not has["spo2"]:
        ns["desaturations"] = "no SpO2 channel: desaturations and SpO2 statistics not scored"
        from psgscoring.pipeline import arousal_limb_is_effective
        from psgscoring.constants import SCORING_PROFILES

        if flow is not None and not arousal_limb_is_effective(SCORING_PROFILES[profile]):
            ns["hypopneas"] = (f"no SpO2 channel: profile {profile} admits a hypopnea only "
                               "with a desaturation (its arousal criterion is off), so "
                               "hypopneas cannot be scored; apneas are, and AHI is not given")
    if flow is not None and not (has["thorax"] or has["abdomen"]):
        result.fallbacks.append("no effort belt: apneas are typed without thoracic/abdominal "
                                "effort (psgscoring's fallback; obstructive vs central is "
                                "unreliable)")
    if hypnogram is None:
        ns["arousals"] = "no hypnogram: arousals need sleep stages (AASM) and are not scored"
        ns["limb_movements"] = ("no hypnogram: periodic limb movements in sleep need sleep "
                                "stages and are not scored")
        result.notes.append("no hypnogram: psgscoring's polygraphy route; respiratory and "
                            "desaturation indices are per hour of valid recording (REI), not "
                            "of sleep")
    elif not has["eeg"]:
        ns["arousals"] = "no EEG channel: arousals not scored"
    if "limb_movements" not in ns and not (has["leg_l"] or has["leg_r"]):
        ns["limb_movements"] = "no leg EMG channel: limb movements not scored"
    if has["eeg"] and not has["emg"] and "arousals" not in ns:
        result.fallbacks.append("no chin EMG: REM arousals cannot be confirmed by EMG (AASM) "
                                "and psgscoring's arousal classifier runs without it")
    scorable = flow is not None or has["spo2"] or ("arousals" not in ns) \
        or ("limb_movements" not in ns)
    return {"flow": flow, "has": has, "scorable": scorable, "hypnogram": hypnogram is not None}


# ---------------------------------------------------------------------------- signals

def _raw(recording: Any, chosen: dict, rate: float, plan: dict, state: TaskState):
    """An MNE RawArray of the chosen channels at ``rate``, psgscoring's role -> name map and
    its name -> recording label map."""
    import mne

    data, names, role_names, labels = [], [], {}, {}
    n = int(round(recording.duration * rate))
    jobs = [(role, label) for role, labels in chosen.items() for label in labels]
    have_spo2 = plan["has"]["spo2"]
    eeg_names: set[str] = set()
    for i, (role, label) in enumerate(jobs):
        state.check_cancelled()
        name = _name_for(role, label, have_spo2, eeg_names)
        if name is None:
            continue
        ch = recording.channel(label)
        x = recording.read([label])[0]
        data.append(_to_rate(x, ch.rate, rate, n, hold=role in _LEVEL_ROLES))
        names.append(name)
        labels[name] = label
        role_names.setdefault(role, name)
        state.set_progress((i + 1) / len(jobs))
    info = mne.create_info(names, rate, "misc", verbose=False)
    raw = mne.io.RawArray(np.vstack(data), info, verbose=False)
    return raw, role_names, labels


def _name_for(role: str, label: str, have_spo2: bool, taken: set[str]) -> str | None:
    """psgscoring's name for a channel; None for an EEG lead it would misread."""
    if role != "eeg":
        return _CANONICAL[role]
    m = _ELECTRODE.search(label.casefold().replace("-", " "))
    electrode = m.group(1).upper() if m else f"{len(taken) + 1}"
    # psgscoring's SpO2 pattern "o2" would take an occipital lead for the oximeter
    if electrode.startswith("O") and not have_spo2:
        return None
    name = f"EEG {electrode}"
    while name in taken:
        name += "'"
    taken.add(name)
    return name


def _to_rate(x: np.ndarray, fs_in: float, fs_out: float, n: int, hold: bool) -> np.ndarray:
    from scipy.signal import resample_poly

    x = np.asarray(x, dtype=np.float64)
    if hold or fs_in < 1.0:
        # levels (SpO2 %, codes) keep their steps: sample-and-hold
        idx = np.minimum((np.arange(n) * fs_in / fs_out).astype(np.int64), x.size - 1)
        return x[idx]
    if fs_in != fs_out:
        ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
        x = resample_poly(x, ratio.numerator, ratio.denominator)
    if x.size < n:
        x = np.pad(x, (0, n - x.size), mode="edge")
    return x[:n]


def _stage_list(recording, hypnogram, n_epochs: int, lights_off, lights_on,
                result: Detection) -> tuple[list[str] | None, list[int]]:
    """psgscoring's stage names per 30-s epoch and the artefact epochs; None: no hypnogram."""
    if hypnogram is None:
        return None, []
    hyp = hypnogram.align_to(recording)
    if hyp.epoch_length != EPOCH_SECONDS or hyp.offset != 0.0 or hyp.n_epochs != n_epochs:
        hyp = hyp.regrid(float(EPOCH_SECONDS), 0.0, n_epochs)
    codes = hyp.stages
    names = [STAGES[c] if 0 <= c < len(STAGES) else "W" for c in codes]
    unscored = int(np.count_nonzero(codes == UNSCORED))
    if unscored:
        result.notes.append(f"{unscored} unscored epochs are handed to psgscoring as wake "
                            "(not sleep, so outside every index)")
    onsets = np.arange(n_epochs) * float(EPOCH_SECONDS)
    outside = np.zeros(n_epochs, dtype=bool)
    if lights_off is not None:
        outside |= onsets < float(lights_off)
    if lights_on is not None:
        outside |= onsets + EPOCH_SECONDS > float(lights_on)
    for i in np.flatnonzero(outside):
        names[i] = "W"
    if outside.any():
        result.notes.append(f"{int(outside.sum())} epochs outside lights off/on are not "
                            "scored as sleep")
    return names, [int(i) for i in np.flatnonzero(codes == ARTEFACT)]


def _run(lib, raw, stages: list[str], names: dict, artefacts: list[int], profile: str,
         position_map: dict, state: TaskState) -> dict:
    """Run psgscoring, watching its logs for progress, cancellation and warnings."""
    watch = _Watch(state, 0.15, 0.95)
    logger = logging.getLogger("psgscoring")
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    # its records are in Dutch: they come back translated or summarised, not on the console
    logger.propagate = False
    try:
        out = lib.run_pneumo_analysis(raw, stages, channel_map=dict(names),
                                      artifact_epochs=artefacts or None,
                                      scoring_profile=profile,
                                      position_code_map=position_map)
    except _Stop:
        raise JobCancelled("cancelled by the user") from None
    finally:
        logger.removeHandler(watch)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    out["_log_warnings"] = watch.warnings
    state.check_cancelled()
    return out


# ---------------------------------------------------------------------------- events

def _num(v: Any) -> Any:
    """Plain JSON number (numpy scalars converted, NaN/inf dropped to None)."""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    v = _num(v)
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def _confidence(ev: Mapping) -> float | None:
    for key in ("p_scored", "confidence"):
        c = ev.get(key)
        if isinstance(c, (int, float, np.floating)) and math.isfinite(float(c)):
            return min(1.0, max(0.0, float(c)))
    return None


_CRITERIA_KEYS = ("flow_reduction_pct", "local_reduction_pct", "desaturation_pct", "min_spo2",
                  "flow_nadir", "pre_baseline", "p_scored", "stage", "corroboration",
                  "csr_flagged", "spo2_cross_contaminated")


#: A one-sided limb movement's side: the leg whose EMG over it rose this many times its resting
#: level ...
_SIDE_RISE = 2.0
#: ... and this many times the other leg's rise (on generated nights the moving leg rises 10-30
#: times, the other 1-3).
_SIDE_MARGIN = 3.0
_SIDE_FROM = ("leg EMG rise over the movement (psgscoring does not report the side of a "
              "one-sided movement)")


class _Channels:
    """The recording's channels each kind of psgscoring event was scored on.

    Read from the channels psgscoring reports using (its ``meta``: the apnea and hypopnea
    airflow sensors, the belts, the oximeter, the EEG derivations, the chin EMG, the leg
    channels), its names mapped back to the recording's labels; a name it did not get from
    this adapter is left out rather than guessed.

    Parameters
    ----------
    meta : mapping
        psgscoring's ``meta`` block.
    labels : mapping
        Its channel names -> the recording's labels.
    raw : mne.io.RawArray
        What it scored (the leg EMG tells the side of a one-sided limb movement).
    """

    def __init__(self, meta: Mapping, labels: Mapping[str, str], raw: Any):
        self._labels = labels
        self._raw = raw
        self._rest: dict[str, tuple[np.ndarray, float, float]] = {}
        used = meta.get("channels_used") or {}
        flow = meta.get("flow_channels") or {}
        legs = meta.get("plm_channels") or {}
        belts = self._of(used.get("thorax"), used.get("abdomen"))
        self.apnea = self._of(flow.get("apnea_sensor")) + belts
        self.hypopnea = self._of(flow.get("hypopnea_sensor")) + belts
        self.spo2 = self._of(used.get("spo2"))
        self.eeg = self._of(used.get("eeg"))
        self.emg = self._of(meta.get("arousal_emg_channel"))
        self.leg_l, self.leg_r = self._of(legs.get("leg_l")), self._of(legs.get("leg_r"))
        self.legs = self.leg_l + self.leg_r + self._of(legs.get("unsided"))
        self._leg_names = (legs.get("leg_l"), legs.get("leg_r"))

    def _of(self, *names: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self._labels[n] for n in names
                                   if isinstance(n, str) and n in self._labels))

    def respiratory(self, kind: str) -> tuple[str, ...]:
        """An apnea is scored on the apnea sensor, a hypopnea on the hypopnea sensor (a
        thermistor and a nasal cannula under AASM), each typed with the belts."""
        return self.hypopnea if "hypop" in kind else self.apnea

    def arousal(self, a: Mapping) -> tuple[str, ...]:
        """The derivations that found it (the profile's EEG channel when it names none),
        and the chin EMG when an EMG rise confirmed it."""
        derivations = [a.get("derivation"), *(a.get("derivations") or [])]
        return (self._of(*derivations) or self.eeg) + (self.emg if a.get("emg_confirmed")
                                                       else ())

    def limb(self, m: Mapping) -> tuple[tuple[str, ...], dict[str, str]]:
        """The leg channel(s) a movement came from and its ``side`` attributes.

        One leg channel used: that one. Both: psgscoring merges a movement of both legs
        (``bilateral``) but does not say which leg a one-sided one came from (0.37), so the
        side is read from the leg EMG: the leg whose activity over the movement rose to at
        least :data:`_SIDE_RISE` times its resting level and :data:`_SIDE_MARGIN` times the
        other leg's rise. When neither stands out so clearly, both legs and no side.
        """
        if not (self.leg_l and self.leg_r):
            return self.legs, {}
        if m.get("bilateral"):
            return self.legs, {"side": "both", "side_from": "psgscoring (bilateral)"}
        rise = [self._rise(n, float(m["onset_s"]), float(m["duration_s"]))
                for n in self._leg_names]
        for k, (side, leg) in enumerate((("left", self.leg_l), ("right", self.leg_r))):
            if rise[k] >= _SIDE_RISE and rise[k] >= _SIDE_MARGIN * rise[1 - k]:
                return leg, {"side": side, "side_from": _SIDE_FROM}
        return self.legs, {}

    def _rise(self, name: str, onset: float, duration: float) -> float:
        """Leg EMG standard deviation over the movement / its median 1-s value of the night."""
        if name not in self._rest:
            x = self._raw.get_data(picks=[name])[0]
            fs = float(self._raw.info["sfreq"])
            n = max(int(fs), 1)
            k = x.size // n
            rest = float(np.median(x[:k * n].reshape(k, n).std(axis=1))) if k else 0.0
            self._rest[name] = (x, fs, rest)
        x, fs, rest = self._rest[name]
        seg = x[int(onset * fs):int(math.ceil((onset + duration) * fs))]
        if seg.size < 2 or not rest > 0:
            return 0.0
        return float(seg.std()) / rest


def _respiratory_event(ev: Mapping, source: EventSource, rule: str, i: int,
                       prefix: str, channels: _Channels) -> Event:
    kind = str(ev.get("type", ""))
    try:
        etype = RESPIRATORY_TYPES[kind]
    except KeyError:
        raise DetectorError(NAME, None, f"psgscoring returned an event type this adapter does "
                                        f"not know: {kind!r}") from None
    detail = ev.get("classify_detail") or {}
    criteria = {k: _jsonable(ev[k]) for k in _CRITERIA_KEYS if k in ev}
    if isinstance(ev.get("criteria"), Mapping):
        criteria.update(_jsonable(ev["criteria"]))
    attrs = {"rule": rule, "criteria": criteria, "psgscoring_type": kind}
    if detail.get("decision_reason"):
        attrs["type_rule"] = str(detail["decision_reason"])
    if ev.get("desaturation_pct") is not None:
        attrs["drop_pct"] = _num(ev["desaturation_pct"])
    return Event(onset=float(ev["onset_s"]), duration=max(0.0, float(ev["duration_s"])),
                 type=etype, channels=channels.respiratory(kind), source=source,
                 confidence=_confidence(ev), attributes=attrs,
                 label=f"psgscoring {kind}", id=f"{prefix}{i:05d}")


def _map_events(out: dict, result: Detection, source: EventSource, channels: _Channels) -> None:
    events: list[Event] = []
    ns = result.not_scored
    resp = out.get("respiratory") or {}
    meta = out.get("meta") or {}
    if "respiratory" not in ns:
        if not resp.get("success", False):
            ns["respiratory"] = ("psgscoring's respiratory step failed: "
                                 f"{translate(str(resp.get('error')))}")
        else:
            hyp_rule = translate(meta.get("hypopnea_criterion")) or "hypopnea rule of the profile"
            for i, ev in enumerate(resp.get("events") or []):
                rule = (hyp_rule if "hypopnea" in str(ev.get("type")) else
                        "AASM apnea: >= 90 % drop of the flow excursion for >= 10 s")
                events.append(_respiratory_event(ev, source, rule, i, "psg-resp-", channels))
            for i, ev in enumerate((resp.get("rejected_apneas") or [])
                                   + (resp.get("rejected_hypopneas") or [])):
                kind = str(ev.get("type") or "apnea")
                if kind not in RESPIRATORY_TYPES:
                    kind = "hypopnea" if "hypop" in kind else "apnea"
                cand = _respiratory_event({**ev, "type": kind}, source, "rejected", i,
                                          "psg-rej-", channels)
                code = str(ev.get("reject_reason") or "")
                cand = cand.replace(attributes={**cand.attributes, "reason_code": code})
                result.events.rejected.append(RejectedCandidate(cand, rejection_reason(code)))
    spo2 = out.get("spo2") or {}
    if "desaturations" not in ns:
        if not spo2.get("success", False):
            ns["desaturations"] = f"psgscoring's SpO2 step failed: {translate(str(spo2.get('error')))}"
        else:
            for i, d in enumerate(spo2.get("desaturations") or []):
                attrs = {"drop_pct": _num(d.get("drop_pct")), "nadir_pct": _num(d.get("nadir_spo2"))}
                events.append(Event(onset=float(d["onset_s"]), duration=float(d["duration_s"]),
                                    type=EventType.desaturation, channels=channels.spo2,
                                    source=source, attributes=attrs,
                                    label="psgscoring desaturation", id=f"psg-desat-{i:05d}"))
    ar = out.get("arousal") or {}
    if "arousals" not in ns:
        if not ar.get("success", False):
            ns["arousals"] = f"psgscoring's arousal step failed: {translate(str(ar.get('error')))}"
        else:
            for i, a in enumerate(ar.get("events") or []):
                kind = str(a.get("type") or "")
                attrs = {k: _jsonable(a[k]) for k in ("dominant_band", "derivation",
                                                      "emg_confirmed", "stage",
                                                      "arousal_latency_s") if k in a}
                if a.get("linked_event") is not None:
                    attrs["linked_event"] = _jsonable(a["linked_event"])
                events.append(Event(onset=float(a["onset_s"]), duration=float(a["duration_s"]),
                                    type=AROUSAL_TYPES.get(kind, EventType.arousal),
                                    channels=channels.arousal(a), source=source, confidence=_confidence(a), attributes=attrs,
                                    label=f"psgscoring arousal ({kind or 'unspecified'})",
                                    id=f"psg-arousal-{i:05d}"))
            for i, r in enumerate(ar.get("reras") or []):
                if "onset_s" not in r:
                    continue
                events.append(Event(onset=float(r["onset_s"]),
                                    duration=float(r.get("duration_s") or 0.0),
                                    type=EventType.rera,
                                    channels=channels.respiratory("hypopnea"), source=source,
                                    confidence=_confidence(r), label="psgscoring RERA",
                                    id=f"psg-rera-{i:05d}"))
    plm = out.get("plm") or {}
    if "limb_movements" not in ns:
        if not plm.get("success", False):
            ns["limb_movements"] = ("psgscoring's limb-movement step failed: "
                                    f"{translate(str(plm.get('error')))}")
        else:
            summary = plm.get("summary") or {}
            if summary.get("n_events_truncated"):
                result.notes.append(f"psgscoring listed only part of the limb movements "
                                    f"({summary['n_events_truncated']} left out of its list); "
                                    "its PLMS index counts them all")
            for i, m in enumerate(plm.get("events") or []):
                attrs = {k: _jsonable(m[k]) for k in ("amplitude_uv", "bilateral", "stage",
                                                      "resp_associated") if k in m}
                legs, side = channels.limb(m)
                attrs.update(side)
                events.append(Event(
                    onset=float(m["onset_s"]), duration=float(m["duration_s"]),
                    type=(EventType.periodic_limb_movement if m.get("is_plm")
                          else EventType.limb_movement),
                    channels=legs, source=source, attributes=attrs,
                    label="psgscoring limb movement",
                    id=f"psg-lm-{i:05d}"))
    result.events.extend(events)


# ---------------------------------------------------------------------------- summary

def _g(block: Mapping | None, key: str) -> Any:
    return _num((block or {}).get(key))


def _summary(out: dict, plan: dict) -> dict[str, Any]:
    """psgscoring's figures under our index keys (absent: it does not report that index)."""
    rs = (out.get("respiratory") or {}).get("summary") or {}
    ss = (out.get("spo2") or {}).get("summary") or {}
    ars = (out.get("arousal") or {}).get("summary") or {}
    ps = (out.get("plm") or {}).get("summary") or {}
    hr = (out.get("heart_rate") or {}).get("summary") or {}
    pos = (out.get("position") or {}).get("summary") or {}
    # its tst_hours is rounded to 0.1 h; the minutes are exact to the epoch
    tst = (_g(rs, "tst_minutes") / 60.0 if rs.get("tst_minutes") is not None
           else _g(rs, "tst_hours"))
    n_apnea = _g(rs, "n_apnea_total")
    s: dict[str, Any] = {
        "TST_h": tst, "AHI": _g(rs, "ahi_total"), "AHI_NREM": _g(rs, "ahi_nrem"),
        "AHI_REM": _g(rs, "ahi_rem"), "AHI_severity": rs.get("severity"),
        "AHI_supine": _num((pos.get("ahi_per_pos") or {}).get("Supine")),
        "AI": (n_apnea / tst if n_apnea is not None and tst else None),
        "OAI": _g(rs, "obstructive_index"), "CAI": _g(rs, "central_index"),
        "MAI": _g(rs, "mixed_index"), "HI": _g(rs, "hypopnea_index"), "RDI": _g(rs, "rdi"),
        "n_apneas": n_apnea, "n_hypopneas": _g(rs, "n_hypopnea"), "n_reras": _g(rs, "n_rera"),
        "ODI3": _g(ss, "odi_3pct"), "ODI4": _g(ss, "odi_4pct"),
        "n_desaturations_3": _g(ss, "n_desat_3pct"), "n_desaturations_4": _g(ss, "n_desat_4pct"),
        "SpO2_baseline": _g(ss, "baseline_spo2"), "SpO2_mean": _g(ss, "avg_spo2"),
        "SpO2_nadir": _g(ss, "min_spo2"), "T90_pct": _g(ss, "pct_below_90"),
        "ArI": _g(ars, "arousal_index"), "ArI_respiratory": _g(ars, "respiratory_arousal_index"),
        "ArI_spontaneous": _g(ars, "spontaneous_arousal_index"),
        "n_arousals": (None if ars.get("n_respiratory_arousals") is None else
                       int(ars.get("n_respiratory_arousals", 0))
                       + int(ars.get("n_spontaneous_arousals", 0))),
        "PLMSI": _g(ps, "plm_index"), "PLMS_ArI": _g(ars, "plm_arousal_index"),
        "n_plms": _g(ps, "n_plm"),
        "HR_mean": _g(hr, "avg_hr"), "HR_min": _g(hr, "min_hr"), "HR_max": _g(hr, "max_hr"),
    }
    if not plan["hypnogram"]:
        # per hour of valid recording, not of sleep: not our AHI; kept apart as REI
        s["REI"] = s["AHI"]
        for key in ("TST_h", "AHI", "AHI_NREM", "AHI_REM", "AHI_severity", "AHI_supine", "AI",
                    "OAI", "CAI", "MAI", "HI", "RDI", "ODI3", "ODI4", "ArI", "ArI_respiratory",
                    "ArI_spontaneous", "PLMSI", "PLMS_ArI"):
            s[key] = None
    return s


_PART_KEYS = {
    "respiratory": ("AHI", "AHI_NREM", "AHI_REM", "AHI_severity", "AHI_supine", "AI", "OAI",
                    "CAI", "MAI", "HI", "RDI", "n_apneas", "n_hypopneas", "n_reras", "REI"),
    "hypopneas": ("AHI", "AHI_NREM", "AHI_REM", "AHI_severity", "AHI_supine", "HI", "RDI",
                  "n_hypopneas", "REI"),
    "desaturations": ("ODI3", "ODI4", "n_desaturations_3", "n_desaturations_4", "SpO2_baseline",
                      "SpO2_mean", "SpO2_nadir", "T90_pct"),
    "arousals": ("ArI", "ArI_respiratory", "ArI_spontaneous", "n_arousals", "PLMS_ArI"),
    "limb_movements": ("PLMSI", "PLMS_ArI", "n_plms"),
}


def _fallbacks(out: dict, result: Detection) -> None:
    """Blank the figures of parts not scored; say which parts ran reduced; translate remarks."""
    for part in result.not_scored:
        for key in _PART_KEYS.get(part, ()):
            if key in result.summary:
                result.summary[key] = None
    parts = PsgscoringDetector.optional_parts()
    ars = (out.get("arousal") or {}).get("summary") or {}
    if "arousals" not in result.not_scored:
        if not parts["onnxruntime"]:
            result.fallbacks.append("arousals: onnxruntime is not installed, so psgscoring's "
                                    "U-Net arousal detector falls back to its rule-based "
                                    "candidates")
        if not parts["lightgbm"]:
            result.fallbacks.append("arousals: LightGBM is not installed, so the rule-based "
                                    "arousal candidates are not filtered by psgscoring's "
                                    "classifier")
        elif ars.get("unet_fallback_reason") and parts["onnxruntime"]:
            result.fallbacks.append("arousals: the U-Net detector fell back to the LightGBM "
                                    f"chain ({translate(ars['unet_fallback_reason'])})")
    if not parts["lightgbm"] and "respiratory" not in result.not_scored:
        result.fallbacks.append("apnea typing: LightGBM is not installed, so confidences are "
                                "psgscoring's rule-based ones")
    rs = (out.get("respiratory") or {}).get("summary") or {}
    hr = (out.get("heart_rate") or {}).get("summary") or {}
    for w in list(rs.get("warnings") or []) + list(ars.get("clinical_interpretation") or []):
        code = str(w.get("code", ""))
        text = WARNING_CODES.get(code) or translate(w.get("msg")) or code
        result.notes.append(f"psgscoring: {text}")
    caveat = rs.get("ahi_rem_caveat")
    if caveat:
        result.notes.append(f"psgscoring: {translate(caveat)}")
    for module, message in out.get("_log_warnings") or []:
        result.notes.append(f"psgscoring [{module}]: {translate(message)}")
    if not hr and "heart_rate" not in result.not_scored:
        result.not_scored["heart_rate"] = ("psgscoring reports heart-rate statistics from a "
                                           "pulse-rate channel only, and there is none")
    # the same remark from every derivation or step once
    result.notes[:] = list(dict.fromkeys(result.notes))
