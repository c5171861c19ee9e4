"""The scored-event vocabulary: event types, their families, colours and short codes, and the
mapping of vendor and free-text labels onto them.

Types follow the AASM Scoring Manual (v3) and NSRR's event concepts. The type values are stable
snake_case strings written to files. Labels from NSRR XML (``"Obstructive apnea|Obstructive
Apnea"``), Compumedics Profusion (``"Obstructive Apnea"``), EDF+ / EDFbrowser / MNE free text
(``"Apnea obstructive"``, ``"Arousal (Resp)"``, ``"LM"``, ``"SpO2 desat"``) map to a type through
two tables: exact spellings, then token rules. A label no table knows becomes
:attr:`EventType.note` -- never an error, never dropped; the event keeps its original text.

Sleep-stage labels are not events (the hypnogram readers handle them): see
:func:`is_stage_label`.
"""
from __future__ import annotations

import re
from enum import Enum
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from ..hypnogram import parse_stage


class EventType(str, Enum):
    """Type of a scored event. Values are stable and written to files."""

    apnea_obstructive = "apnea_obstructive"
    apnea_central = "apnea_central"
    apnea_mixed = "apnea_mixed"
    apnea_unclassified = "apnea_unclassified"
    hypopnea = "hypopnea"
    hypopnea_obstructive = "hypopnea_obstructive"
    hypopnea_central = "hypopnea_central"
    rera = "rera"
    arousal_spontaneous = "arousal_spontaneous"
    arousal_respiratory = "arousal_respiratory"
    arousal_limb = "arousal_limb"
    arousal = "arousal"
    desaturation = "desaturation"
    spo2_artefact = "spo2_artefact"
    limb_movement_left = "limb_movement_left"
    limb_movement_right = "limb_movement_right"
    limb_movement = "limb_movement"
    periodic_limb_movement = "periodic_limb_movement"
    position_change = "position_change"
    lights_off = "lights_off"
    lights_on = "lights_on"
    artefact = "artefact"
    bradycardia = "bradycardia"
    tachycardia = "tachycardia"
    cardiac_pause = "cardiac_pause"
    note = "note"

    def __str__(self) -> str:
        return self.value


#: Event families, in display order.
FAMILIES: tuple[str, ...] = ("respiratory", "oxygen", "arousal", "limb", "position", "lights",
                             "artefact", "cardiac", "note")


class EventTypeInfo(NamedTuple):
    """What the application shows for an event type.

    Attributes
    ----------
    name : str
        The type's value (``"apnea_obstructive"``).
    label : str
        Display label (``"Obstructive apnea"``); :func:`map_label` maps it back to the type.
    family : str
        One of :data:`FAMILIES`.
    colour : str
        Display colour, ``#RRGGBB``.
    code : str
        Short code for event ticks and tables (``"OA"``).
    """

    name: str
    label: str
    family: str
    colour: str
    code: str


def _info(t: EventType, label: str, family: str, colour: str, code: str) -> tuple:
    return t, EventTypeInfo(t.value, label, family, colour, code)


_T = EventType
#: The one place for event labels, families, colours and codes.
EVENT_TYPES: Mapping[EventType, EventTypeInfo] = MappingProxyType(dict([
    _info(_T.apnea_obstructive, "Obstructive apnea", "respiratory", "#B2182B", "OA"),
    _info(_T.apnea_central, "Central apnea", "respiratory", "#6A3D9A", "CA"),
    _info(_T.apnea_mixed, "Mixed apnea", "respiratory", "#E7298A", "MA"),
    _info(_T.apnea_unclassified, "Apnea (unclassified)", "respiratory", "#8C2D04", "A"),
    _info(_T.hypopnea, "Hypopnea", "respiratory", "#F16913", "H"),
    _info(_T.hypopnea_obstructive, "Obstructive hypopnea", "respiratory", "#D94801", "OH"),
    _info(_T.hypopnea_central, "Central hypopnea", "respiratory", "#9E9AC8", "CH"),
    _info(_T.rera, "RERA", "respiratory", "#FDAE6B", "RERA"),
    _info(_T.arousal_spontaneous, "Spontaneous arousal", "arousal", "#FFD92F", "ArS"),
    _info(_T.arousal_respiratory, "Respiratory arousal", "arousal", "#E6AB02", "ArR"),
    _info(_T.arousal_limb, "Limb-movement arousal", "arousal", "#A6761D", "ArL"),
    _info(_T.arousal, "Arousal", "arousal", "#FFED6F", "Ar"),
    _info(_T.desaturation, "SpO2 desaturation", "oxygen", "#1F78B4", "D"),
    _info(_T.spo2_artefact, "SpO2 artefact", "oxygen", "#A6CEE3", "SpA"),
    _info(_T.limb_movement_left, "Limb movement (left)", "limb", "#33A02C", "LML"),
    _info(_T.limb_movement_right, "Limb movement (right)", "limb", "#66C2A5", "LMR"),
    _info(_T.limb_movement, "Limb movement", "limb", "#B2DF8A", "LM"),
    _info(_T.periodic_limb_movement, "Periodic limb movement", "limb", "#006D2C", "PLM"),
    _info(_T.position_change, "Position change", "position", "#8C6BB1", "Pos"),
    _info(_T.lights_off, "Lights off", "lights", "#252525", "LOff"),
    _info(_T.lights_on, "Lights on", "lights", "#FEE391", "LOn"),
    _info(_T.artefact, "Artefact", "artefact", "#7F7F7F", "Art"),
    _info(_T.bradycardia, "Bradycardia", "cardiac", "#CB181D", "Brady"),
    _info(_T.tachycardia, "Tachycardia", "cardiac", "#FB6A4A", "Tachy"),
    _info(_T.cardiac_pause, "Cardiac pause", "cardiac", "#67000D", "Pause"),
    _info(_T.note, "Note", "note", "#BDBDBD", "N"),
]))

APNEA_TYPES: frozenset[EventType] = frozenset({
    _T.apnea_obstructive, _T.apnea_central, _T.apnea_mixed, _T.apnea_unclassified})
HYPOPNEA_TYPES: frozenset[EventType] = frozenset({
    _T.hypopnea, _T.hypopnea_obstructive, _T.hypopnea_central})
AROUSAL_TYPES: frozenset[EventType] = frozenset({
    _T.arousal_spontaneous, _T.arousal_respiratory, _T.arousal_limb, _T.arousal})
LIMB_MOVEMENT_TYPES: frozenset[EventType] = frozenset({
    _T.limb_movement_left, _T.limb_movement_right, _T.limb_movement})


def as_event_type(value: EventType | str) -> EventType:
    """The :class:`EventType` of a type or its value string.

    Raises
    ------
    ValueError
        If ``value`` is not a type value (use :func:`map_label` for free text).
    """
    if isinstance(value, EventType):
        return value
    try:
        return EventType(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an event type (valid: "
                         f"{', '.join(t.value for t in EventType)})") from None


def is_apnea(t: EventType | str) -> bool:
    """Whether ``t`` is an apnea of any kind (obstructive, central, mixed, unclassified)."""
    return as_event_type(t) in APNEA_TYPES


def is_hypopnea(t: EventType | str) -> bool:
    """Whether ``t`` is a hypopnea (unspecified, obstructive or central)."""
    return as_event_type(t) in HYPOPNEA_TYPES


def family(t: EventType | str) -> str:
    """The family (one of :data:`FAMILIES`) of an event type."""
    return EVENT_TYPES[as_event_type(t)].family


def types_of_family(*families: str) -> frozenset[EventType]:
    """Every type in the given families.

    Raises
    ------
    ValueError
        If a family is not one of :data:`FAMILIES`.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown event family {unknown[0]!r} (valid: {', '.join(FAMILIES)})")
    return frozenset(t for t, info in EVENT_TYPES.items() if info.family in families)


# -- labels ----------------------------------------------------------------------------------
# Spelling variants folded onto one token before matching (British/American, abbreviations).
_TOKEN_SYNONYMS: dict[str, str] = {
    "apnoea": "apnea", "apnoeas": "apnea", "apneas": "apnea", "apnoe": "apnea",
    "hypopnoea": "hypopnea", "hypopnoeas": "hypopnea", "hypopneas": "hypopnea",
    "hypopnoe": "hypopnea",
    "artifact": "artefact", "artifacts": "artefact", "artefacts": "artefact",
    "desat": "desaturation", "desats": "desaturation", "desaturations": "desaturation",
    "sao2": "spo2", "sat": "spo2", "oxygen": "spo2", "oximetry": "spo2",
    "leg": "limb", "legs": "limb", "limbs": "limb", "movements": "movement",
    "plms": "plm", "plmd": "plm", "lms": "lm",
    "obstr": "obstructive", "obs": "obstructive", "cent": "central", "centr": "central",
    "resp": "respiratory", "res": "respiratory", "respiration": "respiratory",
    "spont": "spontaneous", "spontan": "spontaneous",
    "arousals": "arousal", "aro": "arousal", "arous": "arousal",
    "l": "left", "lt": "left", "r": "right", "rt": "right",
    "light": "lights", "pos": "position", "body": "position",
    "reras": "rera", "unclassified": "unclassified", "unspecified": "unclassified",
}

# Whole labels (normalised) that the token rules would get wrong or cannot see.
_EXACT: dict[str, EventType] = {
    "oa": _T.apnea_obstructive, "ca": _T.apnea_central, "ma": _T.apnea_mixed,
    "oh": _T.hypopnea_obstructive, "ch": _T.hypopnea_central, "hyp": _T.hypopnea,
    "ar": _T.arousal, "arousal": _T.arousal,
    # NSRR: "Unsure|Unsure" is a hypopnea-like event whose scorer was unsure of the reduction.
    "unsure": _T.hypopnea,
    "lightsoff": _T.lights_off, "lightson": _T.lights_on,
    "sinus pause": _T.cardiac_pause, "asystole": _T.cardiac_pause,
}

# Token rules, first match wins: every token of ``needs`` present, then (type, attributes).
# More specific rules come first: SpO2 artefact before desaturation and artefact, apneas and
# hypopneas before desaturation ("Apnea with desat" is an apnea), RERA before arousal, arousal
# kinds before limb movements ("Arousal (ARO PLM)" is an arousal).
_RULES: tuple[tuple[frozenset[str], EventType, Mapping[str, Any]], ...] = tuple(
    (frozenset(needs.split()), t, MappingProxyType(attrs)) for needs, t, attrs in (
        ("spo2 artefact", _T.spo2_artefact, {}),
        ("desaturation artefact", _T.spo2_artefact, {}),
        ("apnea obstructive", _T.apnea_obstructive, {}),
        ("apnea central", _T.apnea_central, {}),
        ("apnea mixed", _T.apnea_mixed, {}),
        ("apnea", _T.apnea_unclassified, {}),
        ("hypopnea obstructive", _T.hypopnea_obstructive, {}),
        ("hypopnea central", _T.hypopnea_central, {}),
        ("hypopnea", _T.hypopnea, {}),
        ("desaturation", _T.desaturation, {}),
        ("rera", _T.rera, {}),
        ("respiratory effort related arousal", _T.rera, {}),
        ("arousal respiratory", _T.arousal_respiratory, {}),
        ("arousal limb", _T.arousal_limb, {}),
        ("arousal plm", _T.arousal_limb, {}),
        ("arousal lm", _T.arousal_limb, {}),
        ("arousal spontaneous", _T.arousal_spontaneous, {}),
        ("arousal", _T.arousal, {}),
        ("periodic limb left", _T.periodic_limb_movement, {"side": "left"}),
        ("periodic limb right", _T.periodic_limb_movement, {"side": "right"}),
        ("periodic limb", _T.periodic_limb_movement, {}),
        ("plm left", _T.periodic_limb_movement, {"side": "left"}),
        ("plm right", _T.periodic_limb_movement, {"side": "right"}),
        ("plm", _T.periodic_limb_movement, {}),
        ("limb left", _T.limb_movement_left, {}),
        ("limb right", _T.limb_movement_right, {}),
        ("lm left", _T.limb_movement_left, {}),
        ("lm right", _T.limb_movement_right, {}),
        ("limb movement", _T.limb_movement, {}),
        ("lm", _T.limb_movement, {}),
        ("position", _T.position_change, {}),
        ("lights off", _T.lights_off, {}),
        ("lights out", _T.lights_off, {}),
        ("lights on", _T.lights_on, {}),
        ("bradycardia", _T.bradycardia, {}),
        ("tachycardia", _T.tachycardia, {}),
        ("cardiac pause", _T.cardiac_pause, {}),
        ("artefact", _T.artefact, {}),
        ("note", _T.note, {}),
    ))


class LabelMapping(NamedTuple):
    """What a label says: its type and any attributes the text carries (e.g. a PLM's side)."""

    type: EventType
    attributes: Mapping[str, Any]


_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


def _tokens(text: str) -> list[str]:
    words = re.sub(r"[^0-9a-z]+", " ", str(text).lower()).split()
    return [_TOKEN_SYNONYMS.get(w, w) for w in words]


def _describe_part(text: str) -> LabelMapping | None:
    tokens = _tokens(text)
    if not tokens:
        return None
    exact = _EXACT.get(" ".join(tokens)) or _EXACT.get("".join(tokens))
    if exact is not None:
        return LabelMapping(exact, _NO_ATTRIBUTES)
    present = set(tokens)
    for needs, t, attrs in _RULES:
        if needs <= present:
            return LabelMapping(t, attrs)
    return None


def describe_label(text: str) -> LabelMapping:
    """The type and label-borne attributes of a vendor or free-text event label.

    Parameters
    ----------
    text : str
        A label as found in files. Case, spacing and punctuation do not matter. An NSRR concept
        ``"Name|Display"`` is matched on its name first, then on its display text.

    Returns
    -------
    LabelMapping
        ``type`` is :attr:`EventType.note` when no table knows the label (never an error);
        ``attributes`` holds what the text says beyond the type (``{"side": "left"}`` for
        ``"PLM (Left)"``), empty otherwise.
    """
    for part in str(text).split("|"):
        found = _describe_part(part)
        if found is not None:
            return found
    return LabelMapping(EventType.note, _NO_ATTRIBUTES)


def map_label(text: str) -> EventType:
    """The :class:`EventType` of a vendor or free-text label; unknown labels give
    :attr:`EventType.note` (see :func:`describe_label`)."""
    return describe_label(text).type


def is_stage_label(text: str) -> bool:
    """Whether a label names a sleep stage (``"Sleep stage N2"``, NSRR ``"Stage 2 sleep|2"``).

    Stage labels are hypnogram epochs, not events. Short or generic labels that in an event
    list may mean something else (``"A"``, ``"MT"``...) are not taken as stages, as in
    :func:`sleepfm_engine.hypnogram.parse_stage` with ``strict=True``.
    """
    name = str(text).split("|")[0]
    return parse_stage(name, strict=True) is not None
