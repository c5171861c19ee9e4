"""The fine-tune dialog offers the events task: choosing it keeps the engine's defaults, and an
event head's result page shows its event F1 and index agreement."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from sleepfm_engine.training.api import TrainingResult  # noqa: E402
from sleepfm_engine.training.config import FinetuneConfig  # noqa: E402
from sleepfm_gui.dialogs import FinetuneDialog  # noqa: E402


@pytest.fixture
def dialog(qtbot):
    d = FinetuneDialog()
    qtbot.addWidget(d)
    yield d
    assert d.shutdown(timeout=30)


def test_choosing_the_events_task_keeps_the_engines_default_batch(dialog):
    dialog.set_task("staging", rescan=False)
    dialog.set_task("events", rescan=False)
    assert dialog.task() == "events" and dialog.batch_spin.value() == FinetuneConfig().batch_size


def test_the_events_task_offers_training_the_base_end_to_end_and_diagnosis_does_not(dialog):
    dialog.set_task("events", rescan=False)
    assert dialog.unfreeze_check.isEnabled()
    dialog.set_task("diagnosis", rescan=False)
    assert not dialog.unfreeze_check.isEnabled()


def test_an_event_heads_result_page_shows_event_f1_and_index_agreement(dialog, tmp_path):
    def metrics(f1, icc):
        return {"macro_f1": f1, "n_nights": 2, "events": {"apnea": {"f1": f1}},
                "indices": {"AHI": {"icc": icc}}}

    result = TrainingResult(tmp_path, {"events": tmp_path / "model_events"}, "completed", 3,
                            validation=metrics(0.5, 0.8), test=metrics(0.25, 0.9), history=[{}] * 3)
    dialog.show_result(result, "events")
    table = {dialog.metrics_table.item(r, 0).text(): (dialog.metrics_table.item(r, 1).text(),
                                                      dialog.metrics_table.item(r, 2).text())
             for r in range(dialog.metrics_table.rowCount())}
    assert table["Mean event F1"] == ("0.500", "0.250")
    assert table["Event F1 apnea"] == ("0.500", "0.250") and table["AHI ICC"] == ("0.800", "0.900")
