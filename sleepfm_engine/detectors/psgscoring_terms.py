"""psgscoring's words in ours: its event types, rejection codes and its (mostly Dutch) remarks.

psgscoring writes machine codes for rejections (``mmsd_0.402``) and many remarks in Dutch. The
adapter never passes its free text on raw: known codes and phrases are translated here, and
anything else is summarised in English with the code kept for audit.
"""
from __future__ import annotations

import re

from ..events import EventType

#: psgscoring respiratory event ``type`` -> our event type.
RESPIRATORY_TYPES: dict[str, EventType] = {
    "obstructive": EventType.apnea_obstructive,
    "central": EventType.apnea_central,
    "mixed": EventType.apnea_mixed,
    "uncertain": EventType.apnea_unclassified,
    "apnea": EventType.apnea_unclassified,
    "hypopnea": EventType.hypopnea,
    "hypopnea_obstructive": EventType.hypopnea_obstructive,
    "hypopnea_obstr": EventType.hypopnea_obstructive,
    "hypopnea_central": EventType.hypopnea_central,
    "hypopnea_mixed": EventType.hypopnea,
    "hypopnea_uncertain": EventType.hypopnea,
}

#: psgscoring arousal ``type`` -> our event type.
AROUSAL_TYPES: dict[str, EventType] = {
    "spontaneous": EventType.arousal_spontaneous,
    "respiratory": EventType.arousal_respiratory,
    "plm": EventType.arousal_limb,
    "limb": EventType.arousal_limb,
}

# (pattern of psgscoring's code, English template filled with the pattern's groups)
_REJECTIONS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"^mmsd_(-?[\d.]+)$",
     "breathing-like variability remains in the flow (MMSD {0} of the night's breathing; "
     "more than 0.40 means residual breathing, not an apnea)"),
    (r"^stable_breathing_cv_(-?[\d.]+)<(-?[\d.]+)$",
     "breathing around it is too regular to call this a reduction (breath amplitude CV {0} "
     "over +/-2 min, needs {1})"),
    # a negative reduction is a rise: said as one rather than as "reduced only -77.7 %"
    (r"^local_reduction_-([\d.]+)pct<(-?[\d.]+)pct$",
     "flow is not reduced: {0} % above the 30 s before it (needs a {1} % reduction)"),
    (r"^local_reduction_([\d.]+)pct<(-?[\d.]+)pct$",
     "flow is reduced only {0} % against the 30 s before it (needs {1} %)"),
    (r"^no_desaturation$",
     "no desaturation of the required depth follows it (the profile's hypopnea rule needs one)"),
    (r"^desat_reuse_limit$",
     "its desaturation was already used by another event"),
    (r"^split_fragment$", "a fragment left after splitting a longer event"),
    (r"^local_reduction$", "flow is not reduced enough against the breathing just before it"),
    (r"^local_reduction_missing$", "the local flow reduction could not be measured"),
))

# Dutch phrases psgscoring writes in summaries and fallback reasons -> English.
_PHRASES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p, re.IGNORECASE), t) for p, t in (
    (r"LGBM-model niet beschikbaar \(([^)]*)\); regelgebaseerd pad, kandidaatdrempels NIET "
     r"verruimd", r"LightGBM model not available (\1); rule-based path, candidate thresholds "
     r"not widened"),
    (r"(unet_v\d) niet gebruikt", r"\1 not used"),
    (r"terugval op lgbm", "falling back to the LightGBM chain"),
    (r"onnxruntime niet beschikbaar", "onnxruntime is not installed"),
    (r"installeer psgscoring\[ml\]", "install psgscoring[ml]"),
    (r"lightgbm niet beschikbaar", "LightGBM is not installed"),
    (r"geen kandidaten", "no candidates"),
    (r"geen respiratoire events", "no respiratory events"),
    (r"pleth ontbreekt", "no plethysmogram channel"),
    (r"hartslagreeks ontbreekt|geen hartslagreeks", "no heart-rate series"),
    (r"thermistorkanaal ontbreekt", "no thermistor channel"),
    (r"kanaal staat niet in het bestand", "the channel is not in the file"),
    (r"slechts (\d+) min REM \(< ?(\d+) min\) \W+ de REM-AHI berust op te weinig slaap om "
     r"betrouwbaar te zijn", r"only \1 min of REM sleep (< \2 min): the REM AHI rests on too "
     r"little sleep to be reliable"),
    (r"slechts (\d+) min REM", r"only \1 min of REM sleep"),
    (r"te weinig", "too little"),
))

#: psgscoring summary warning codes -> English.
WARNING_CODES: dict[str, str] = {
    "SHORT_SLEEP": "short total sleep time: the AHI estimate is less reliable",
    "MIXED_APNEAS": "mixed apneas present",
    "LOW_CONFIDENCE": "many events were typed with low confidence",
    "CENTRAL_SIGNIFICANT": "central apneas make up a significant share",
    "CENTRAL_DOMINANT": "central apneas dominate",
    "SIGNIFICANT_RESPIRATORY": "many arousals are respiratory",
    "SHORT_AROUSAL_LATENCY": "arousals follow respiratory events quickly",
    "LONG_AROUSAL_LATENCY": "arousals follow respiratory events late",
    "PREDOMINANTLY_SPONTANEOUS": "most arousals are spontaneous (consider PLM, pain, noise, "
                                 "medication)",
    "PREDOMINANTLY_RESPIRATORY": "most arousals are respiratory",
    "HIGH_EVENT_AROUSAL_RATE": "most respiratory events end in an arousal",
}


def rejection_reason(code: str) -> str:
    """English reason for one of psgscoring's rejection codes (unknown codes are named as such)."""
    text = str(code)
    for pattern, template in _REJECTIONS:
        m = pattern.match(text)
        if m:
            return template.format(*m.groups())
    return f"rejected by psgscoring (code {text!r})"


def translate(text: str | None) -> str | None:
    """English for a psgscoring remark: known Dutch phrases translated, otherwise summarised.

    A remark with untranslated Dutch left is replaced by a summary that keeps only what is
    language-neutral (never the raw Dutch sentence).
    """
    if text is None:
        return None
    out = str(text)
    for pattern, english in _PHRASES:
        out = pattern.sub(english, out)
    if _looks_dutch(out):
        return "psgscoring remark in Dutch (not translated; kept in the library result)"
    return out


_DUTCH = re.compile(r"\b(de|het|een|niet|geen|en|van|met|voor|wordt|zijn|bij|naar|ontbreekt|"
                    r"kanaal|opname|slaap|waarde|op|terugval|gebruikt|overgeslagen|dus|maar|"
                    r"omdat|alleen|nog|ook)\b", re.IGNORECASE)


def _looks_dutch(text: str) -> bool:
    return len(_DUTCH.findall(text)) >= 1
