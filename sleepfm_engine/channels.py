"""Channel label → SleepFM modality (BAS, RESP, EKG, EMG or other), with the reason and user overrides.

A label is classified by the first rule that matches, in this order:

1. **Reference** — exact membership in ``resources/channel_groups.json`` from sleepfm-clinical,
   the list the released models were trained with. A handful of its entries are wrong and are
   corrected (see ``_REFERENCE_CORRECTIONS``): ``Pleth`` sits under EMG although it is a
   photoplethysmogram, and Compumedics' truncated ``Pressur``, ``RIP Abd`` and ``RIP Tho``
   (nasal pressure, abdominal and thoracic belts) do too.
2. **Normalised reference** — the same lookup after case, whitespace and separators
   (``- : / _``, brackets, ``.``, ``#``) are ignored, then without an ``EEG``/``EOG``/``EMG``/
   ``ECG``/``EKG`` prefix, then without a reference-electrode suffix (``-A1``, ``-M2``, ``:M2``,
   ``-REF``, ``/A2`` ...). A stripped prefix must agree with the modality found.
3. **Explicit rules** for common montages the reference misses: Sleep-EDF, DREAMS, NSRR
   (SHHS, MESA, MrOS, CFS) and vendor conventions (Compumedics, Embla, Natus).
4. **Keywords** on the label's words (``thor``, ``chin``, ``ecg``, 10-20 electrode pairs ...).
   Only here, where the label alone is weak evidence, do the unit and sampling rate veto a
   voltage modality: an "EEG" trace in ``%`` or at 1 Hz is not an EEG.
5. Anything else is ``other``; the reason mentions the unit when it hints at what the channel is.

Physiological choices, where the reference is silent or debatable:

- **SpO2, pleth, pulse and heart/pulse rate are RESP.** The reference lists ``SpO2``, ``PPG``,
  ``Pulse``, ``Pulse Rate``, ``HR``, ``H.R.`` and ``Heart Rate`` under RESP, so the released RESP
  encoder was pretrained on them. A rate derived from the ECG (``DHR``) or the oximeter (DREAMS'
  ``PR``) is not an ECG waveform and must not go to EKG; giving it to RESP keeps one physiological
  channel in one modality however it is spelt. Users who prefer to drop rates can override.
- **Snoring microphones are RESP** (``Snore``, ``Mic``, DREAMS' ``PHONO``), as in the reference:
  snoring is an airflow phenomenon scored with the respiratory channels.
- **Not physiological, or not a SleepFM modality → other**: body position, light, event markers,
  annotation or hypnogram channels, oximeter status flags, temperature, actigraphy.
"""
from __future__ import annotations

import functools
import json
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

from .atomic import write_text_atomic
from .contract import MAX_CHANNELS, MODALITIES, OTHER
from .errors import SleepFMError

__all__ = [
    "ALL_MODALITIES",
    "ChannelAssignment",
    "ChannelMap",
    "ChannelMapError",
    "EFFORT_WORDS",
    "ELECTRODE_HEADS",
    "EOG_WORDS",
    "EXPLICIT_RULES",
    "LEG_WORDS",
    "LEVEL_UNITS",
    "LEVEL_WORDS",
    "POSITION_WORDS",
    "SATURATION_WORDS",
    "MIN_WAVEFORM_HZ",
    "MODALITY_PREFIX",
    "SNORE_WORDS",
    "classify_channel",
    "label_says",
    "label_words",
    "read_overrides",
    "read_quality_overrides",
    "reference_groups",
]

#: Every value ``classify_channel`` may return as modality.
ALL_MODALITIES: tuple[str, ...] = (*MODALITIES, OTHER)

_REFERENCE_FILE = "channel_groups.json"


class ChannelMapError(SleepFMError, ValueError):
    """An overrides file or a modality assignment is invalid. Names the file and the bad entry."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


# --------------------------------------------------------------------------------------------
# Reference data

def _resources_dir() -> Path:
    from .resources import resource_dir

    return resource_dir()


# label -> (modality the reference gives, modality it should be, why)
_REFERENCE_CORRECTIONS: dict[str, tuple[str, str, str]] = {
    "Pleth": ("EMG", "RESP", "a finger photoplethysmogram, like the reference's 'PPG' (RESP)"),
    "Pressur": ("EMG", "RESP", "Compumedics' 7-character 'Pressure', the nasal pressure cannula"),
    "RIP Abd": ("EMG", "RESP", "an abdominal inductance belt, like the reference's 'RIP Abdomen'"),
    "RIP Tho": ("EMG", "RESP", "a thoracic inductance belt, like the reference's 'RIP Thorax'"),
}


@functools.lru_cache(maxsize=1)
def reference_groups() -> dict[str, tuple[str, ...]]:
    """Return the reference ``channel_groups.json`` as ``{modality: labels}`` (uncorrected).

    Raises
    ------
    FileNotFoundError
        If ``resources/channel_groups.json`` is missing beside the package.
    ValueError
        If the file is not a mapping of SleepFM modality names to lists of labels.
    """
    path = _resources_dir() / _REFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: SleepFM channel groups not found; the 'resources' folder must sit next to "
            "the 'sleepfm_engine' package (reinstall from a complete copy of SleepFM Studio)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the channel groups: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of modality -> labels")
    groups: dict[str, tuple[str, ...]] = {}
    for modality, labels in data.items():
        if modality not in MODALITIES:
            raise ValueError(f"{path}: unknown modality {modality!r} (expected one of "
                             f"{', '.join(MODALITIES)})")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValueError(f"{path}: modality {modality!r} must list channel labels as strings")
        groups[modality] = tuple(labels)
    return groups


# --------------------------------------------------------------------------------------------
# Normalisation

_SEPARATORS = re.compile(r"[\s\-:/_().#]+")
#: A modality prefix some labs put before the electrode: ``"EEG C4-M1"``, ``"EMG:Chin"``.
MODALITY_PREFIX = re.compile(r"^(eeg|eog|emg|ecg|ekg)[\s\-:/_]+(?=\S)", re.IGNORECASE)
_PREFIX_MODALITY = {"eeg": "BAS", "eog": "BAS", "emg": "EMG", "ecg": "EKG", "ekg": "EKG"}
# The reference electrodes labs append to a derivation; stripped to reach the active electrode.
_SUFFIX = re.compile(r"(?<=\S)\s*[\-:/]\s*(a1|a2|m1|m2|a1a2|m1m2|m1\+m2|ref)$", re.IGNORECASE)


def _compact(label: str) -> str:
    """Case-folded label without whitespace or separators: 'EEG C4:M1' -> 'eegc4m1'."""
    return _SEPARATORS.sub("", label.casefold())


def _variants(label: str) -> list[tuple[str, str, str | None]]:
    """Return the normalised forms to look up: (compact key, shown form, prefix modality).

    The prefix modality is the modality an ``EEG``/``EMG``/... prefix stripped on the way
    names; a lookup through a stripped prefix must agree with it.
    """
    text = " ".join(label.split())
    out = [(_compact(text), text, None)]
    prefix_modality = None
    m = MODALITY_PREFIX.match(text)
    if m:
        prefix_modality = _PREFIX_MODALITY[m.group(1).lower()]
        text = text[m.end():]
        out.append((_compact(text), text, prefix_modality))
    stripped = _SUFFIX.sub("", text)
    if stripped != text and _compact(stripped):
        out.append((_compact(stripped), stripped, prefix_modality))
    return [v for v in out if v[0]]


class _Tables(NamedTuple):
    exact: dict[str, str]                      # label -> modality (corrected)
    compact: dict[str, tuple[str, str]]        # compact key -> (modality, reference label)
    explicit: dict[str, "_Rule"]               # compact key -> rule


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    exact: dict[str, str] = {}
    compact: dict[str, tuple[str, str]] = {}
    for modality, labels in reference_groups().items():
        for label in labels:
            fixed = _REFERENCE_CORRECTIONS.get(label)
            target = fixed[1] if fixed and fixed[0] == modality else modality
            exact.setdefault(label, target)
            key = _compact(label)
            if key in compact and compact[key][0] != target:
                # Two reference spellings that normalise alike disagree: trust neither here.
                compact[key] = ("", label)
            compact.setdefault(key, (target, label))
    compact = {k: v for k, v in compact.items() if v[0]}
    explicit: dict[str, _Rule] = {}
    for rule in EXPLICIT_RULES:
        for key, _, _ in _variants(rule.label)[:1]:
            if key in explicit and explicit[key].modality != rule.modality:
                raise RuntimeError(f"explicit channel rules disagree on {rule.label!r}")
            explicit.setdefault(key, rule)
    return _Tables(exact, compact, explicit)


# --------------------------------------------------------------------------------------------
# Explicit rules for labels the reference misses

class _Rule(NamedTuple):
    source: str
    label: str
    modality: str
    why: str


def _rules(source: str, modality: str, why: str, *labels: str) -> list[_Rule]:
    return [_Rule(source, label, modality, why) for label in labels]


#: Labels the reference misses, grouped by the montage they come from.
EXPLICIT_RULES: tuple[_Rule, ...] = tuple(
    # Sleep-EDF (sleep-cassette and sleep-telemetry)
    _rules("Sleep-EDF", "BAS", "bipolar EEG derivation", "EEG Fpz-Cz", "EEG Pz-Oz")
    + _rules("Sleep-EDF", "BAS", "horizontal electro-oculogram", "EOG horizontal")
    + _rules("Sleep-EDF", "EMG", "chin EMG", "EMG submental")
    + _rules("Sleep-EDF", "RESP", "oro-nasal airflow", "Resp oro-nasal")
    + _rules("Sleep-EDF", OTHER, "body temperature is not a SleepFM modality", "Temp rectal")
    + _rules("Sleep-EDF", OTHER, "event marker, not physiological", "Event marker")
    # DREAMS (University of Mons)
    + _rules("DREAMS", "RESP", "nasal airflow", "NAF1", "NAF2P-A1", "NAF2P")
    + _rules("DREAMS", "RESP", "abdominal effort belt", "VAB")
    + _rules("DREAMS", "RESP", "thoracic effort belt", "VTH")
    + _rules("DREAMS", "RESP", "pulse rate, RESP like the reference's 'Pulse Rate'", "PR")
    + _rules("DREAMS", "RESP", "snoring microphone, RESP like the reference's 'Mic'", "PHONO")
    + _rules("DREAMS", OTHER, "body position, not physiological", "POS")
    + _rules("DREAMS", OTHER, "scoring stored as a signal, not physiological", "hypnogram",
             "hypnogram_aut", "event_pneumo", "event_pneumo_aut", "event_neuro")
    # NSRR cohorts (SHHS, MESA, MrOS, CFS, CHAT)
    + _rules("NSRR", "RESP", "airflow", "Flow", "Cannula", "Cannula Flow", "CFlow", "Nasal Flow")
    + _rules("NSRR", "RESP", "nasal pressure airflow", "Pres", "Pressure", "NASAL PRES", "PTAF")
    + _rules("NSRR", "RESP", "sum of the inductance belts", "SUM")
    + _rules("NSRR", "RESP", "photoplethysmogram, like the reference's 'PPG'", "PlethWV",
             "Pleth WV")
    + _rules("NSRR", "RESP", "ECG-derived heart rate, RESP like the reference's 'HR'", "DHR")
    + _rules("NSRR", "RESP", "end-tidal/transcutaneous CO2", "EtCO2", "CO2", "TcCO2", "Capno")
    + _rules("NSRR", OTHER, "oximeter status flag, not a signal", "OX stat", "OxStatus", "STAT",
             "OX STATUS")
    + _rules("NSRR", OTHER, "body position, not physiological", "Position", "POSITION")
    + _rules("NSRR", OTHER, "room light, not physiological", "Light", "LIGHT", "Lights")
    + _rules("NSRR", OTHER, "auxiliary input of unknown content", "AUX", "Aux_AC")
    # Vendor conventions
    + _rules("Natus", "EMG", "anterior tibialis EMG", "LAT", "RAT", "LAT-RAT")
    + _rules("Embla", "RESP", "effort belt", "THO", "Effort ABD")
    + _rules("Embla", OTHER, "body position or activity, not physiological", "Body",
             "Activity", "Accelerometer")
    + _rules("EDF+", OTHER, "annotation channel, not a signal", "EDF Annotations",
             "BDF Annotations", "Annotations")
    # BDF's Status and amplifiers' trigger lines are signals (listed, shown) of digital codes.
    + _rules("BDF", OTHER, "trigger, marker or status codes, not physiological", "Marker",
             "Status", "Trigger", "Events")
)


# --------------------------------------------------------------------------------------------
# Keyword heuristics (step 4)

def label_words(label: str) -> str:
    """Lower-case words of a label, camel case split: 'CFlow' -> 'c flow', 'SpO2' -> 'spo2'.

    Every word pattern of the label vocabulary below is matched against this form.
    """
    text = re.sub(r"(?<=[a-z])(?=[A-Z][a-z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", label)
    return " ".join(re.sub(r"[^0-9a-z+]+", " ", text.casefold()).split())


# The label vocabulary: what the words of a label say a channel is. The modality keywords
# below and the display kinds of :mod:`sleepfm_engine.display` are both built from it, so a
# spelling added here reaches both.
_RATE = r"hr|pr|dhr|bpm|hrate|heart ?rate|pulse ?rate|heartrate|pulserate|rate"
_SATURATION = r"spo2|sao2|sp02|sa02|oxim\w*|saturation|sat"
_POSITION = r"position|pos"
_EFFORT = r"thor|chest|abd|effort|belt|rip|sum\b|tho\b"
_SNORE = r"snor\w*|mic|phono\w*"
_EOG = r"eog\w*|loc|roc|heog\w*|veog\w*|e1|e2"
_LEG = r"leg\w*|tib\w*|lat|rat|plm\w*|limb\w*|foot|feet"
#: 10-20 electrode heads (``fp`` ... ``e``); an electrode is a head then ``z`` or a number.
ELECTRODE_HEADS = r"fp|af|fc|ft|cp|tp|po|f|c|t|p|o|a|m|i|e"
_ELECTRODE = rf"(?:{ELECTRODE_HEADS})(?:z|\d{{1,2}})"
_ELECTRODE_PAIR = re.compile(rf"^(?:eeg |eog )?{_ELECTRODE}(?: {_ELECTRODE})*$")
_ONE_ELECTRODE = re.compile(rf"^({ELECTRODE_HEADS})(z|\d{{1,2}})$")
#: The highest number each head has in the 10-10 system (10-20 and its intermediate sites, ear
#: and mastoid references, E1-E4 for the eyes). "C7", "C16" or "A5" name no site on a head:
#: they are an amplifier's input numbers and say nothing about what was recorded.
_ELECTRODE_MAX_NUMBER: dict[str, int] = {
    "fp": 2, "af": 10, "f": 10, "fc": 6, "ft": 10, "c": 6, "t": 10, "cp": 6, "tp": 10, "p": 10,
    "po": 10, "o": 2, "a": 2, "m": 2, "i": 2, "e": 4}


def _is_electrode_pair(words: str) -> bool:
    """Whether a label's words are 10-10 electrode sites (``c3 m2``, ``eeg fpz cz``)."""
    if not _ELECTRODE_PAIR.match(words):
        return False
    for token in words.split(" "):
        m = _ONE_ELECTRODE.match(token)
        if m and m.group(2) != "z" and not 0 < int(m.group(2)) <= _ELECTRODE_MAX_NUMBER[m.group(1)]:
            return False
    return True


def label_says(pattern: re.Pattern, label: str) -> bool:
    """Whether a vocabulary pattern finds its word in a label, camel case split or not.

    Both forms are tried because camel case cuts some labels where it should not
    (``'EOGl'`` reads ``'eo gl'`` split, ``'eogl'`` whole).
    """
    return bool(pattern.search(label_words(label)) or pattern.search(label_words(label.casefold())))


#: Words (of :func:`label_words`) naming a level or a rate rather than a waveform:
#: oxygen saturation, heart/pulse/breathing rate, body position, a hypnogram stored as a signal.
LEVEL_WORDS = re.compile(rf"\b({_SATURATION}|{_RATE}|{_POSITION}|hypnogram\w*)\b")
#: Words naming an oxygen saturation channel.
SATURATION_WORDS = re.compile(rf"\b({_SATURATION})\b")
#: Words naming a body position channel.
POSITION_WORDS = re.compile(rf"\b({_POSITION})\b")
#: Words naming a respiratory effort belt (thoracic, abdominal, their sum).
EFFORT_WORDS = re.compile(rf"\b({_EFFORT})")
#: Words naming a snoring microphone.
SNORE_WORDS = re.compile(rf"\b({_SNORE})\b")
#: Words naming an electro-oculogram (AASM E1/E2, LOC/ROC, horizontal/vertical EOG).
EOG_WORDS = re.compile(rf"\b({_EOG})\b")
#: Words naming a leg (limb movement) EMG rather than a chin EMG.
LEG_WORDS = re.compile(rf"\b({_LEG})\b")
#: Units (case-folded) of a level or a rate.
LEVEL_UNITS: frozenset[str] = frozenset({"%", "bpm", "1/min", "/min", "mmhg", "°c", "degc", "c"})
#: Below this sampling rate (Hz) a channel carries a level, trend or rate, not a waveform: 10 Hz
#: is the lowest rate the AASM manual accepts for any PSG signal but body position (oximetry;
#: airflow and effort need 25 Hz, EEG, EOG, EMG and ECG 200 Hz). Classification reads it as a
#: veto on weak EEG/ECG evidence, the trace viewer as "a level, never filtered".
MIN_WAVEFORM_HZ = 10.0

# (pattern on _words(label), modality, description); first match wins. A keyword must start a
# word ('thor' matches 'thorres', not 'author'); short ones must be a whole word.
_KEYWORDS: tuple[tuple[re.Pattern, str, str], ...] = tuple(
    (re.compile(p), m, d) for p, m, d in (
        (r"\b(marker|events?|annotations?|hypnogram|stages?|trigger|status|stat)\b", OTHER,
         "annotation, event or status channel"),
        (rf"\b({_RATE})\b", "RESP",
         "a heart, pulse or breathing rate, RESP like the reference's 'HR' and 'Pulse Rate'"),
        (rf"\b({_SATURATION}|pleth|ppg|pulse)", "RESP", "oximetry or pulse"),
        (r"\b(air ?flow|flow|nasal|oral|oro|nas|therm|cannula|press?|ptaf)", "RESP", "airflow"),
        (r"\b(resp|breath)", "RESP", "respiratory signal"),
        (rf"\b({_EFFORT})", "RESP", "respiratory effort"),
        (rf"\b((?:{_SNORE})\b|co2|capno)", "RESP", "snoring or CO2"),
        (r"\b(ecg|ekg)", "EKG", "ECG lead"),
        (r"\b(emg|chin|submental|mentalis|leg|tib|lat\b|rat\b|arm|masset|plm|limb|foot|feet)",
         "EMG", "EMG site"),
        (rf"\b(eeg|(?:{_EOG})\b)", "BAS", "EEG/EOG"),
        (rf"\b({_POSITION}|body|light|lux|temp|temperature|activity|actigraph|accel|battery|"
         r"impedance|elapsed|time)\b", OTHER, "not physiological, or not a SleepFM modality"),
    ))

_VOLT_UNITS = {"v", "mv", "uv", "µv", "μv", "nv", "kv"}
_NO_UNIT = {"", "-", "?", "n/a", "na", "none", "unit", "units", "au", "a.u.", "arb", "ml"}


def _unit_kind(unit: str | None) -> str:
    """'voltage', 'none' (missing or uninformative) or 'other'."""
    if unit is None:
        return "none"
    u = unit.strip().casefold()
    if u in _VOLT_UNITS:
        return "voltage"
    return "none" if u in _NO_UNIT else "other"


def _heuristic(label: str, rate: float | None, unit: str | None) -> tuple[str, str] | None:
    words = label_words(label)
    if not words:
        return None
    if _is_electrode_pair(words):
        found = ("BAS", f"10-20 electrode pattern: {label!r} → BAS")
    else:
        for pattern, modality, what in _KEYWORDS:
            m = pattern.search(words)
            if m:
                found = (modality, f"keyword {m.group(1)!r} ({what}) in {label!r} → {modality}")
                break
        else:
            return None
    modality, reason = found
    if modality in ("BAS", "EKG", "EMG"):
        if _unit_kind(unit) == "other":
            return OTHER, f"{reason}, but unit {unit.strip()!r} is not a voltage → {OTHER}"
    return modality, reason


def _unknown(label: str, unit: str | None) -> tuple[str, str]:
    kind = _unit_kind(unit)
    u = (unit or "").strip()
    if kind == "other":
        if u == "%":
            hint = "unit '%' suggests a level or saturation, not a known waveform"
        elif u.casefold() in ("bpm", "1/min", "/min"):
            hint = f"unit {u!r} suggests a rate"
        else:
            hint = f"unit {u!r} is not a voltage"
        return OTHER, f"no rule matches {label!r}; {hint} → {OTHER}"
    if kind == "voltage":
        return OTHER, (f"no rule matches {label!r}; a voltage channel of unknown site → {OTHER} "
                       "(override to use it)")
    return OTHER, f"no rule matches {label!r} → {OTHER}"


# --------------------------------------------------------------------------------------------
# Public classification

@functools.lru_cache(maxsize=4096)
def _classify(label: str, rate: float | None, unit: str | None) -> tuple[str, str]:
    modality, reason = _classify_label(label, rate, unit)
    if modality in ("BAS", "EKG") and rate is not None and 0 < rate < MIN_WAVEFORM_HZ:
        # Whatever the name says (the reference lists 'C3' and 'A1'), a 1-Hz channel holds
        # no EEG or ECG waveform: a level or a trend recorded under that name. EMG envelopes at
        # 1 Hz exist (Sleep-EDF), so EMG keeps its name.
        return OTHER, f"{reason}, but {rate:g} Hz is too slow for a {modality} waveform → {OTHER}"
    return modality, reason


def _classify_label(label: str, rate: float | None, unit: str | None) -> tuple[str, str]:
    tables = _tables()
    text = label.strip()
    modality = tables.exact.get(text)
    if modality is not None:
        fixed = _REFERENCE_CORRECTIONS.get(text)
        if fixed and fixed[1] == modality:
            return modality, (f"reference channel_groups.json lists {text!r} under {fixed[0]}, "
                              f"corrected: {fixed[2]} → {modality}")
        return modality, f"reference channel_groups.json: {modality}"

    variants = _variants(text)
    for key, shown, prefix_modality in variants:
        hit = tables.compact.get(key)
        if hit is None or (prefix_modality is not None and hit[0] != prefix_modality):
            continue
        modality, ref_label = hit
        fixed = _REFERENCE_CORRECTIONS.get(ref_label)
        note = f" (corrected: {fixed[2]})" if fixed and fixed[1] == modality else ""
        return modality, f"normalised {ref_label!r} (from {label!r}) in reference {modality}{note}"

    for key, shown, prefix_modality in variants:
        rule = tables.explicit.get(key)
        if rule is None or (prefix_modality is not None and rule.modality != prefix_modality):
            continue
        via = "" if rule.label == text else f" (from {label!r})"
        return rule.modality, (f"{rule.source} rule: {rule.label!r} → {rule.modality}{via}; "
                               f"{rule.why}")

    found = _heuristic(text, rate, unit)
    if found is not None:
        return found
    return _unknown(text, unit)


def classify_channel(label: str, *, rate: float | None = None,
                     unit: str | None = None) -> tuple[str, str]:
    """Classify a channel label as a SleepFM modality and say why.

    Parameters
    ----------
    label : str
        The channel label as written in the recording (surrounding spaces are ignored).
    rate : float, optional
        Sampling rate in Hz. Used only as a sanity check on labels no table knows.
    unit : str, optional
        Physical unit ("V", "uV", "%", "bpm" ...). Used only as a sanity check on labels no
        table knows, and to explain unknown labels.

    Returns
    -------
    tuple of (str, str)
        ``(modality, reason)``; modality is one of ``"BAS" "RESP" "EKG" "EMG" "other"`` and
        reason names the rule that matched, e.g. ``"reference channel_groups.json: BAS"``.

    Raises
    ------
    TypeError
        If ``label`` is not a string.
    FileNotFoundError
        If the reference ``resources/channel_groups.json`` is missing.
    """
    if not isinstance(label, str):
        raise TypeError(f"channel label must be a string, not {type(label).__name__}")
    if rate is not None:
        rate = float(rate)
    if unit is not None and not isinstance(unit, str):
        raise TypeError(f"unit must be a string or None, not {type(unit).__name__}")
    return _classify(label, rate, unit)


def _check_modality(modality: Any, *, where: Path | None = None, entry: str = "") -> str:
    """Return the canonical spelling of a modality name (case-insensitive) or raise."""
    if isinstance(modality, str):
        for name in ALL_MODALITIES:
            if modality.strip().casefold() == name.casefold():
                return name
    problem = (f"{entry}invalid modality {modality!r}: expected one of "
               f"{', '.join(ALL_MODALITIES)}")
    raise ChannelMapError(where, problem)


# --------------------------------------------------------------------------------------------
# Per-recording map

class ChannelAssignment(NamedTuple):
    """The modality of one channel: ``(modality, reason, overridden)``."""

    modality: str
    reason: str
    overridden: bool


class _Entry(NamedTuple):
    label: str
    source_label: str
    rate: float | None
    unit: str | None
    modality: str
    reason: str


def read_overrides(path: str | Path) -> dict[str, str]:
    """Read and validate a user overrides file, a JSON object ``{label: modality}``.

    An entry may also be an object ``{"modality": ..., "use_despite_quality": true}`` (either
    key optional): the channel is used even when its signal quality would leave it out of
    inference (see :func:`read_quality_overrides`). Only modalities are returned here.

    Parameters
    ----------
    path : str or Path
        The JSON file.

    Returns
    -------
    dict
        Label to canonical modality name, in file order.

    Raises
    ------
    ChannelMapError
        If the file cannot be read, is not JSON, is not an object, or an entry's label is not a
        string or its modality is not one of BAS, RESP, EKG, EMG, other. The message names the
        file and the bad entry.
    """
    return _read_override_file(path)[0]


def read_quality_overrides(path: str | Path) -> list[str]:
    """Labels marked ``"use_despite_quality": true`` in a user overrides file, in file order.

    Raises
    ------
    ChannelMapError
        As :func:`read_overrides`.
    """
    return _read_override_file(path)[1]


def _read_override_file(path: str | Path) -> tuple[dict[str, str], list[str]]:
    """An overrides file → (modalities, labels used despite quality); see :func:`read_overrides`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChannelMapError(path, f"cannot read the channel overrides: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChannelMapError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}): "
                                    f"{exc.msg}") from exc
    if not isinstance(data, dict):
        raise ChannelMapError(path, "channel overrides must be a JSON object {label: modality}, "
                                    f"not {type(data).__name__}")
    return _parse_override_entries(data, path)


_ENTRY_KEYS = ("modality", "use_despite_quality")


def _parse_override_entries(data: Mapping[str, Any], path: Path | None
                            ) -> tuple[dict[str, str], list[str]]:
    """``{label: modality or entry object}`` → (modalities, labels used despite quality)."""
    modalities: dict[str, str] = {}
    despite: list[str] = []
    for label, value in data.items():
        if not label.strip():
            raise ChannelMapError(path, "entry with an empty channel label")
        where = f"entry {label!r}: "
        if not isinstance(value, dict):
            modalities[label] = _check_modality(value, where=path, entry=where)
            continue
        unknown = [k for k in value if k not in _ENTRY_KEYS]
        if unknown or not value:
            raise ChannelMapError(path, f"{where}an entry object holds {', '.join(_ENTRY_KEYS)} "
                                        f"(found {', '.join(map(repr, unknown)) or 'nothing'})")
        if "modality" in value:
            modalities[label] = _check_modality(value["modality"], where=path, entry=where)
        flag = value.get("use_despite_quality", False)
        if not isinstance(flag, bool):
            raise ChannelMapError(path, f"{where}'use_despite_quality' must be true or false, "
                                        f"not {flag!r}")
        if flag:
            despite.append(label)
    return modalities, despite


class ChannelMap:
    """Modality of every channel of one recording, automatic or overridden by the user.

    Build it with :meth:`from_recording` (or :meth:`from_labels`); labels are the recording's
    unique labels, in file order.

    Parameters
    ----------
    entries : iterable of (label, source_label, rate, unit)
        ``label`` is the unique key; ``source_label`` is what gets classified (a duplicate
        label ``EEG_1`` is classified as ``EEG``).
    """

    def __init__(self, entries: Iterable[tuple[str, str, float | None, str | None]]):
        self._entries: dict[str, _Entry] = {}
        for label, source, rate, unit in entries:
            if label in self._entries:
                raise ValueError(f"duplicate channel label {label!r} in a channel map")
            modality, reason = classify_channel(source, rate=rate, unit=unit)
            self._entries[label] = _Entry(label, source, rate, unit, modality, reason)
        self._overrides: dict[str, str] = {}
        self._despite_quality: set[str] = set()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_recording(cls, rec: Any,
                       overrides: Mapping[str, str] | str | Path | None = None) -> "ChannelMap":
        """Classify every signal channel of a recording.

        Parameters
        ----------
        rec : Recording
            An open recording (``rec.channels`` with label, original_label, rate, unit).
        overrides : mapping or path, optional
            User overrides ``{label: modality}``, or a JSON file of them
            (see :meth:`load_overrides`).

        Returns
        -------
        ChannelMap
        """
        cmap = cls((ch.label, ch.original_label or ch.label, ch.rate, ch.unit)
                   for ch in rec.channels)
        cmap._apply_initial(overrides)
        return cmap

    @classmethod
    def from_labels(cls, labels: Sequence[str], rates: Sequence[float | None] | None = None,
                    units: Sequence[str | None] | None = None,
                    overrides: Mapping[str, str] | str | Path | None = None) -> "ChannelMap":
        """Classify plain labels (unique), with optional rates and units in the same order."""
        n = len(labels)
        rates = list(rates) if rates is not None else [None] * n
        units = list(units) if units is not None else [None] * n
        if len(rates) != n or len(units) != n:
            raise ValueError(f"{n} labels but {len(rates)} rates and {len(units)} units")
        cmap = cls(zip(labels, labels, rates, units))
        cmap._apply_initial(overrides)
        return cmap

    def _apply_initial(self, overrides) -> None:
        if overrides is None:
            return
        if isinstance(overrides, (str, Path)):
            self.load_overrides(overrides)
            return
        modalities, despite = _parse_override_entries(dict(overrides), None)
        for label, modality in modalities.items():
            self.override(label, modality)
        for label in despite:
            self.use_despite_quality(label)

    # -- queries ----------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """Channel labels in file order."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, label: object) -> bool:
        return label in self._entries

    def _entry(self, label: str) -> _Entry:
        try:
            return self._entries[label]
        except KeyError:
            raise ValueError(f"no channel labelled {label!r} (channels: "
                             f"{', '.join(self._entries) or 'none'})") from None

    def __getitem__(self, label: str) -> ChannelAssignment:
        entry = self._entry(label)
        chosen = self._overrides.get(label)
        if chosen is None:
            return ChannelAssignment(entry.modality, entry.reason, False)
        auto = f"automatic: {entry.modality}" + ("" if chosen != entry.modality else ", same")
        return ChannelAssignment(chosen, f"user override → {chosen} ({auto}; {entry.reason})",
                                 True)

    def modality_of(self, label: str) -> str:
        """Return the modality of a channel (the override if any, else the automatic one)."""
        return self[label].modality

    def automatic(self, label: str) -> tuple[str, str]:
        """Return ``(modality, reason)`` as classified, ignoring any override."""
        entry = self._entry(label)
        return entry.modality, entry.reason

    def channels_for(self, modality: str, cap: bool = False) -> list[str]:
        """Return the labels assigned to a modality, in file order.

        Parameters
        ----------
        modality : str
            One of BAS, RESP, EKG, EMG, other.
        cap : bool
            Keep only the first ``contract.MAX_CHANNELS[modality]`` channels (no cap for other).
        """
        modality = _check_modality(modality)
        labels = [label for label in self._entries if self.modality_of(label) == modality]
        if cap and modality in MAX_CHANNELS:
            labels = labels[:MAX_CHANNELS[modality]]
        return labels

    def as_dict(self) -> dict[str, str]:
        """Return ``{label: modality}`` for every channel, in file order."""
        return {label: self.modality_of(label) for label in self._entries}

    def to_records(self) -> list[dict[str, Any]]:
        """Return one JSON-ready dict per channel: label, rate, unit, modality, reason, overridden."""
        out = []
        for label, entry in self._entries.items():
            a = self[label]
            out.append({"label": label, "rate": entry.rate, "unit": entry.unit,
                        "modality": a.modality, "reason": a.reason, "overridden": a.overridden})
        return out

    # -- overrides --------------------------------------------------------------------------
    @property
    def overrides(self) -> dict[str, str]:
        """The user overrides now in force, ``{label: modality}`` in file order."""
        return {label: self._overrides[label] for label in self._entries if label in self._overrides}

    def override(self, label: str, modality: str | None) -> None:
        """Assign a channel to a modality by hand; ``None`` restores the automatic choice.

        Raises
        ------
        ValueError
            If there is no such channel or the modality is not a SleepFM modality or "other".
        """
        self._entry(label)
        if modality is None:
            self._overrides.pop(label, None)
            return
        self._overrides[label] = _check_modality(modality)

    @property
    def quality_overrides(self) -> list[str]:
        """Labels the user keeps in inference whatever their signal quality, in file order."""
        return [label for label in self._entries if label in self._despite_quality]

    def use_despite_quality(self, label: str, use: bool = True) -> None:
        """Keep a channel in inference even when its signal quality would leave it out.

        Raises
        ------
        ValueError
            If there is no such channel.
        """
        self._entry(label)
        if use:
            self._despite_quality.add(label)
        else:
            self._despite_quality.discard(label)

    def clear_overrides(self) -> None:
        """Drop every user override (modalities and "use despite quality")."""
        self._overrides.clear()
        self._despite_quality.clear()

    def save_overrides(self, path: str | Path) -> Path:
        """Write the overrides in force as a JSON object, atomically.

        A plain override is ``label: modality``; a channel used despite its quality is
        ``label: {"modality": ..., "use_despite_quality": true}`` (no modality when only that).
        """
        out: dict[str, Any] = {}
        for label in self._entries:
            modality = self._overrides.get(label)
            if label in self._despite_quality:
                out[label] = {**({"modality": modality} if modality else {}),
                              "use_despite_quality": True}
            elif modality is not None:
                out[label] = modality
        text = json.dumps(out, indent=2, ensure_ascii=False) + "\n"
        return write_text_atomic(path, text)

    def load_overrides(self, path: str | Path) -> dict[str, str]:
        """Apply the overrides saved in a JSON file and return those that applied.

        Labels that this recording lacks are skipped with a warning (one file may serve a
        cohort whose montages differ).

        Raises
        ------
        ChannelMapError
            If the file is unreadable or invalid; nothing is applied then.
        """
        wanted, despite = _read_override_file(path)
        missing = [label for label in dict.fromkeys([*wanted, *despite]) if label not in self._entries]
        if missing:
            warnings.warn(f"{path}: channel overrides for labels not in this recording ignored: "
                          f"{', '.join(map(repr, missing))}", stacklevel=2)
        applied = {label: m for label, m in wanted.items() if label in self._entries}
        self._overrides.update(applied)
        self._despite_quality.update(label for label in despite if label in self._entries)
        return applied

    def __repr__(self) -> str:
        counts = {m: len(self.channels_for(m)) for m in ALL_MODALITIES}
        return f"ChannelMap({len(self)} channels: " + ", ".join(
            f"{m} {n}" for m, n in counts.items()) + ")"
