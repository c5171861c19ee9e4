"""The SleepFM input contract, kept in exactly one place.

Every number that the released SleepFM models rely on lives here: the sampling rate the
preprocessing produces, the 5-s patch the tokenizer cuts, the 5-min chunk the base model sees,
the modality names and their channel caps, and the 30-s clinical epoch. Other modules import
these names instead of repeating the numbers.
"""
from __future__ import annotations

#: Sampling rate (Hz) of every preprocessed channel fed to SleepFM.
SAMPLING_RATE_HZ: int = 128
#: Length (s) of one token: the tokenizer cuts patches of this duration.
TOKEN_SECONDS: int = 5
#: Samples per token (patch size of the released base model).
PATCH_SIZE: int = SAMPLING_RATE_HZ * TOKEN_SECONDS  # 640
#: Length (s) of one chunk seen by the base model in one forward pass.
CHUNK_SECONDS: int = 300
#: Samples per chunk (and the HDF5 chunk size of preprocessed files).
CHUNK_SAMPLES: int = SAMPLING_RATE_HZ * CHUNK_SECONDS  # 38400
#: Tokens per chunk.
TOKENS_PER_CHUNK: int = CHUNK_SECONDS // TOKEN_SECONDS  # 60
#: Clinical scoring epoch (s).
EPOCH_SECONDS: int = 30
#: Tokens per clinical epoch.
TOKENS_PER_EPOCH: int = EPOCH_SECONDS // TOKEN_SECONDS  # 6
#: Cut-off (Hz) of the anti-aliasing low-pass applied before resampling.
LOWPASS_HZ: float = 64.0
#: Order of the Butterworth anti-aliasing filter.
LOWPASS_ORDER: int = 4

#: The four SleepFM modalities, in the order of the released configs.
MODALITIES: tuple[str, ...] = ("BAS", "RESP", "EKG", "EMG")
#: What a channel that belongs to none of them is called.
OTHER: str = "other"
#: Human-readable modality descriptions.
MODALITY_DESCRIPTIONS: dict[str, str] = {
    "BAS": "brain activity (EEG/EOG)",
    "RESP": "respiration (airflow, effort, SpO2)",
    "EKG": "electrocardiogram",
    "EMG": "electromyogram (chin, legs)",
    OTHER: "not used by SleepFM",
}
#: Maximum channels per modality in the released base config.
MAX_CHANNELS: dict[str, int] = {"BAS": 10, "RESP": 7, "EKG": 2, "EMG": 4}


def contract_dict() -> dict:
    """Return the preprocessing contract as a JSON-serialisable dict.

    Saved beside models and preprocessed files so that nothing downstream has to guess
    how its inputs were made.
    """
    return {
        "sampling_rate_hz": SAMPLING_RATE_HZ,
        "patch_size": PATCH_SIZE,
        "chunk_samples": CHUNK_SAMPLES,
        "token_seconds": TOKEN_SECONDS,
        "epoch_seconds": EPOCH_SECONDS,
        "lowpass_hz": LOWPASS_HZ,
        "lowpass_order": LOWPASS_ORDER,
        "normalisation": "whole-channel z-score",
        "dtype": "float16",
        "modalities": list(MODALITIES),
    }
