"""Local fine-tuning, pretraining and evaluation of SleepFM models on a site's own data.

Modules (torch loads only with the ones that need it):

- :mod:`.cohort`: find recordings and their labels in a folder, say what was skipped and why,
  and split subjects into train/validation/test (seeded, saved as JSON).
- :mod:`.cache`: HDF5 caches of preprocessed signals and base-model embeddings, keyed by file
  content and model, invalidated when either changes.
- :mod:`.data`: datasets and batch collation over the caches.
- :mod:`.loop`: the training loop (callbacks, cooperative cancel, resume, early stopping, best
  checkpoint, bf16 autocast, gradient accumulation, DDP under ``torchrun``).
- :mod:`.staging`, :mod:`.diagnosis`, :mod:`.pretrain`: the three tasks.
- :mod:`.metrics`: staging agreement, Harrell's C, JSON and plots.
- :mod:`.api`: :func:`run_finetune`, :func:`run_pretrain`, :func:`run_evaluate`: what the CLI and
  the application call.
"""
from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "run_finetune": "api",
    "run_pretrain": "api",
    "run_evaluate": "api",
    "FinetuneConfig": "config",
    "PretrainConfig": "config",
    "TrainingEvent": "loop",
    "discover_cohort": "cohort",
    "Cohort": "cohort",
    "make_split": "cohort",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
