"""SleepFM inference on recordings: embeddings, hypnogram and disease risk.

::

    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.inference import embed_recording, stage_recording, risk_recording

    release = load_release("checkpoints/")            # model_base/, model_sleep_staging/, ...
    emb = embed_recording("night.edf", release)       # 5-s and 5-min embeddings per modality
    hyp = stage_recording(emb, release)               # 30-s Hypnogram with probabilities
    risk = risk_recording(emb, release, age=54, sex="F")   # 1065 labelled log-hazards

Models may be given as modules (``release.base``), as a loaded release, or as folders. See
``docs/inference.md`` for how nights are cut into chunks and windows.
"""
from __future__ import annotations

from ..devices import select_device
from .base import ChunkPlan, embed_inputs, embed_recording, plan_chunks
from .embeddings import Embeddings
from .handles import ModelHandle, resolve_model
from .inputs import ModalityInput, prepare_modalities
from .risk import RiskTable, encode_demographics, load_label_mapping, parse_sex, risk_recording
from .staging import epoch_probabilities, plan_windows, stage_recording, token_probabilities

__all__ = ["select_device", "prepare_modalities", "ModalityInput", "embed_recording", "embed_inputs",
           "Embeddings", "plan_chunks", "ChunkPlan", "ModelHandle", "resolve_model",
           "stage_recording", "token_probabilities", "epoch_probabilities", "plan_windows",
           "risk_recording", "RiskTable", "encode_demographics", "parse_sex", "load_label_mapping"]
