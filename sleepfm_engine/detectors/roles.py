"""Which channel plays which part in event scoring: airflow, effort belts, SpO2, legs, chin, EEG.

Event detectors need finer roles than the SleepFM modalities (a RESP channel may be nasal
pressure, a thermistor, a belt or an oximeter). A channel takes the first role whose rule
matches it: the rule names the modalities the channel must have in the recording's
:class:`~sleepfm_engine.channels.ChannelMap` (so the user's modality overrides steer it) and a
pattern on the words of its label and transducer (:func:`~sleepfm_engine.channels.label_words`).
The user can name the channel of any role outright; those choices win.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple

from ..channels import ChannelMap, label_words
from ..errors import DetectorError


class RoleRule(NamedTuple):
    """How a channel is recognised as playing ``role``.

    Attributes
    ----------
    role : str
    modalities : tuple of str
        SleepFM modalities (or ``other``) the channel must have.
    pattern : re.Pattern
        Searched in the words of the label and of the transducer field.
    description : str
        What the role is, for messages.
    """

    role: str
    modalities: tuple[str, ...]
    pattern: re.Pattern
    description: str


def _r(role: str, modalities: tuple[str, ...], pattern: str, description: str) -> RoleRule:
    return RoleRule(role, modalities, re.compile(pattern), description)


_RESP = ("RESP",)
#: Role rules, in the order they are tried (the first match wins, each channel plays one role).
ROLE_RULES: tuple[RoleRule, ...] = (
    _r("flow_thermistor", _RESP, r"\b(therm\w*|oronasal|oro ?nasal|thermal)\b",
       "oronasal thermal airflow sensor"),
    _r("flow_pressure", _RESP, r"\b(pres\w*|cannula|ptaf|npt|pflow|nasal)\b",
       "nasal pressure airflow"),
    _r("flow", _RESP, r"\b(\w*flow\w*|airflow)\b", "airflow of unknown sensor"),
    _r("spo2", _RESP, r"\b(spo2|sao2|sp02|sa02|oxim\w*|saturation|sat)\b", "oxygen saturation"),
    _r("pulse", _RESP, r"\b(hr|pr|bpm|pulse|heart ?rate|pulse ?rate)\b", "pulse rate"),
    _r("pleth", _RESP, r"\b(pleth\w*|ppg)\b", "finger plethysmogram"),
    _r("thorax", _RESP, r"\b(thor\w*|chest|rc|tho)\b", "thoracic effort belt"),
    _r("abdomen", _RESP, r"\b(abd\w*|abdo|belly|ab)\b", "abdominal effort belt"),
    _r("snore", _RESP, r"\b(snor\w*|mic|phono\w*)\b", "snoring sensor"),
    _r("position", ("other", "RESP"), r"\b(position|pos|body ?pos\w*)\b", "body position"),
    _r("leg_l", ("EMG",), r"\b(l ?leg|leg ?l|left ?leg|tib\w* ?l|l ?tib\w*|plm ?l|lleg)\b|"
       r"left tibialis", "left leg EMG"),
    _r("leg_r", ("EMG",), r"\b(r ?leg|leg ?r|right ?leg|tib\w* ?r|r ?tib\w*|plm ?r|rleg)\b|"
       r"right tibialis", "right leg EMG"),
    _r("emg", ("EMG",), r"\b(chin\w*|ment\w*|submental|emg)\b", "chin EMG"),
    _r("eog", ("BAS",), r"\b(eog\w*|loc|roc|e1|e2)\b", "electro-oculogram"),
    _r("eeg", ("BAS",), r"\b(eeg|fp?z|[fco][34z]|[fco]\d)\b", "EEG derivation"),
    _r("ecg", ("EKG",), r".", "ECG"),
)
ROLES: dict[str, RoleRule] = {r.role: r for r in ROLE_RULES}
#: Roles that may take several channels (the others take the first matching channel).
MULTI_ROLES: frozenset[str] = frozenset({"eeg"})


def assign_roles(recording: Any, channel_map: ChannelMap | None = None,
                 overrides: Mapping[str, str | None] | None = None) -> dict[str, list[str]]:
    """Channels of ``recording`` per role.

    Parameters
    ----------
    recording : Recording
        Its ``channels`` (label, original label, transducer, rate, unit) are classified.
    channel_map : ChannelMap, optional
        The recording's modalities (with the user's overrides); built automatically if omitted.
    overrides : mapping, optional
        ``{role: channel label}`` chosen by the user; ``None`` or ``""`` leaves a role empty
        on purpose (e.g. to score without a broken sensor).

    Returns
    -------
    dict
        ``{role: [labels]}`` for the roles found, in :data:`ROLE_RULES` order; every role but
        ``eeg`` has one channel.

    Raises
    ------
    DetectorError
        For an unknown role or a label the recording does not have.
    """
    cmap = channel_map if channel_map is not None else ChannelMap.from_recording(recording)
    labels = [c.label for c in recording.channels]
    path = getattr(recording, "path", None)
    chosen: dict[str, list[str]] = {}
    taken: set[str] = set()
    for role, label in (overrides or {}).items():
        if role not in ROLES:
            raise DetectorError("channel roles", path,
                                f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        if label in (None, ""):
            chosen[role] = []
            continue
        if label not in labels:
            raise DetectorError("channel roles", path,
                                f"role {role} names channel {label!r}, which the recording "
                                f"does not have (channels: {', '.join(labels)})")
        chosen[role] = [label]
        taken.add(label)
    for ch in recording.channels:
        if ch.label in taken:
            continue
        modality = cmap.modality_of(ch.label)
        words = f"{label_words(ch.original_label or ch.label)} {label_words(ch.transducer or '')}"
        for rule in ROLE_RULES:
            if modality not in rule.modalities or not rule.pattern.search(words):
                continue
            have = chosen.setdefault(rule.role, [])
            if rule.role in (overrides or {}):
                break  # the user decided this role
            if have and rule.role not in MULTI_ROLES:
                continue  # taken: the channel may still play a later role
            have.append(ch.label)
            taken.add(ch.label)
            break
    return {r.role: chosen[r.role] for r in ROLE_RULES if chosen.get(r.role)}
