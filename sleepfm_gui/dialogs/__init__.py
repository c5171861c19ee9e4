"""Dialogs of SleepFM Studio, one module each.

- :mod:`.recording_info`: :class:`RecordingInfoDialog`, :func:`recording_info_html`.
- :mod:`.display_filters`: :class:`FilterDialog`, display filters per kind of channel.
- :mod:`.derivations`: :class:`DerivationDialog`, add a derivation of two channels.
- :mod:`.analysis_settings`: :class:`AnalysisSettingsDialog`, model folder, device, age, sex.
- :mod:`.finetune`: :class:`FinetuneDialog` / :func:`open_finetune_dialog`, train a model on a
  cohort folder with live curves, then use it; :mod:`.finetune_views`: :class:`TrainingCurves`,
  :class:`ConfusionTable`.
- :mod:`.model_picker`: :class:`ModelPicker`, choose a model from the library or a folder.
"""
from __future__ import annotations

from .analysis_settings import AnalysisSettingsDialog
from .derivations import DerivationDialog
from .display_filters import FilterDialog
from .finetune import FinetuneDialog, open_finetune_dialog
from .finetune_views import ConfusionTable, TrainingCurves
from .model_picker import ModelPicker, model_choices
from .recording_info import RecordingInfoDialog, recording_info_html

__all__ = [
    "AnalysisSettingsDialog", "ConfusionTable", "DerivationDialog", "FilterDialog",
    "FinetuneDialog", "ModelPicker", "RecordingInfoDialog", "TrainingCurves",
    "model_choices", "open_finetune_dialog", "recording_info_html",
]
