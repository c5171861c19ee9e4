"""Scored clinical events: the typed vocabulary and the event model (no Qt, no torch).

See :mod:`.vocabulary` (event types, families, colours, label mapping) and :mod:`.model`
(:class:`EventSource`, :class:`Event`, :class:`RejectedCandidate`, :class:`EventSet`).
"""
from __future__ import annotations

from .model import (DATAFRAME_COLUMNS, SOURCE_KINDS, Event, EventSet, EventSource, FrozenMap,
                    RejectedCandidate, new_event_id)
from .vocabulary import (APNEA_TYPES, AROUSAL_TYPES, EVENT_TYPES, FAMILIES, HYPOPNEA_TYPES,
                         LIMB_MOVEMENT_TYPES, EventType, EventTypeInfo, LabelMapping,
                         as_event_type, describe_label, family, is_apnea, is_hypopnea,
                         is_stage_label, map_label, types_of_family)

__all__ = [
    "APNEA_TYPES", "AROUSAL_TYPES", "DATAFRAME_COLUMNS", "EVENT_TYPES", "FAMILIES",
    "HYPOPNEA_TYPES", "LIMB_MOVEMENT_TYPES", "SOURCE_KINDS", "Event", "EventSet", "EventSource",
    "EventType", "EventTypeInfo", "FrozenMap", "LabelMapping", "RejectedCandidate",
    "as_event_type", "describe_label", "family", "is_apnea", "is_hypopnea", "is_stage_label",
    "map_label", "new_event_id", "types_of_family",
]
