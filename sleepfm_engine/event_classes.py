"""What the SleepFM event head learns: its event classes, the scored types each gathers and the
type of the events it predicts for each.

A light module (no torch, no training or inference imports) below the training task, the
inference post-processing and the detector, which all read it.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, NamedTuple

from .events import EventType
from .events.vocabulary import APNEA_TYPES, AROUSAL_TYPES, HYPOPNEA_TYPES, LIMB_MOVEMENT_TYPES

__all__ = ["EventClass", "EVENT_CLASSES", "class_of"]


class EventClass(NamedTuple):
    """One output of the event head.

    Attributes
    ----------
    name : str
        Stable name, written to model configs and metrics (``"apnea"``).
    types : frozenset of EventType
        Scored types that are positives of the class.
    output : EventType
        Type of the events the head predicts for it.
    """

    name: str
    types: frozenset
    output: EventType


#: The head's classes, in output order. Periodic limb movements are limb movements (a file may
#: score them as their own type); the head's limb movements become periodic by the AASM series
#: rule (:func:`sleepfm_engine.inference.event_head.mark_periodic`).
EVENT_CLASSES: Mapping[str, EventClass] = MappingProxyType({c.name: c for c in (
    EventClass("apnea", frozenset(APNEA_TYPES), EventType.apnea_unclassified),
    EventClass("hypopnea", frozenset(HYPOPNEA_TYPES), EventType.hypopnea),
    EventClass("arousal", frozenset(AROUSAL_TYPES), EventType.arousal),
    EventClass("limb_movement", frozenset(LIMB_MOVEMENT_TYPES | {EventType.periodic_limb_movement}),
               EventType.limb_movement),
    EventClass("desaturation", frozenset({EventType.desaturation}), EventType.desaturation),
)})


def class_of(event_type: EventType) -> str | None:
    """The head class an event type belongs to, or None."""
    for c in EVENT_CLASSES.values():
        if event_type in c.types:
            return c.name
    return None
