"""Fine-tune dialog (pytest-qt): scan, a real 1-epoch staging run, cancel/resume, close, errors.

The runs use a tiny generated cohort (three 6-min synthetic nights, two channels: one night each
for training, validation and test) and the tiny golden base model; preprocessing and embeddings
are cached once per module, so each run after the first takes a second or two.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import Qt  # noqa: E402

from sleepfm_gui.dialogs import FinetuneDialog, open_finetune_dialog  # noqa: E402
from sleepfm_gui.dialogs.finetune_views import format_duration  # noqa: E402

GOLDEN_BASE = Path(__file__).parent / "data" / "golden_tiny" / "model_base"
GOLDEN = Path(__file__).parent / "data" / "golden_tiny"
RUN_TIMEOUT_MS = 90_000
N_NIGHTS = 3


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    """Three 6-min synthetic nights (EEG + ECG) with hypnograms, and one night too short to use."""
    from sleepfm_engine.synthetic import make_night, write_night

    root = tmp_path_factory.mktemp("cohort")
    for i in range(N_NIGHTS):
        write_night(make_night(0.1, seed=i, montage=["C4-M1", "ECG"]), root / f"night{i}.edf")
    write_night(make_night(stages=[0] * 8, seed=99, montage=["C4-M1", "ECG"]), root / "short.edf")
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("training-cache")


@pytest.fixture
def dialog(qtbot, cohort_dir, cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPFM_CACHE_DIR", str(cache_dir))
    d = FinetuneDialog()
    qtbot.addWidget(d)
    d.set_cohort_folder(cohort_dir)
    d.set_base_model(GOLDEN_BASE)
    d.set_output_folder(tmp_path / "out")
    d.set_device("cpu")
    d.epochs_spin.setValue(1)
    d.batch_spin.setValue(2)
    d.val_spin.setValue(0.33)
    d.test_spin.setValue(0.33)
    d.resize(1100, 760)
    d.show()
    qtbot.waitExposed(d)
    yield d
    assert d.shutdown(timeout=30), "the training run did not stop"


def save_shot(widget, name: str, tmp_path: Path) -> Path:
    """Grab ``widget`` to a PNG and check that something was drawn."""
    image = widget.grab()
    assert not image.isNull() and image.width() > 400
    out = tmp_path / name
    assert image.save(str(out)) and out.stat().st_size > 10_000
    return out


def wait_for_epochs(qtbot, d: FinetuneDialog, n: int) -> None:
    qtbot.waitUntil(lambda: len(d.curves.epoch_x) >= n or d.state == "idle", timeout=RUN_TIMEOUT_MS)
    assert d.state == "running", f"the run ended early: {d.message_text()}"


def test_scan_lists_usable_and_skipped_recordings_with_reasons(qtbot, dialog):
    with qtbot.waitSignal(dialog.scanFinished, timeout=30_000) as sig:
        qtbot.mouseClick(dialog.scan_button, Qt.LeftButton)
    cohort = sig.args[0]
    assert len(cohort.records) == N_NIGHTS and len(cohort.skipped) == 1
    rows = {dialog.scan_table.item(r, 0).text(): (dialog.scan_table.item(r, 1).text(),
                                                  dialog.scan_table.item(r, 4).text())
            for r in range(dialog.scan_table.rowCount())}
    assert rows["night0.edf"][0] == "usable" and rows["night0.edf"][1] == "night0.hypnogram.csv"
    assert rows["short.edf"][0] == "skipped" and "shorter than one 5-min chunk" in rows["short.edf"][1]
    assert f"{N_NIGHTS} recordings usable" in dialog.scan_summary.text()
    assert dialog.state == "idle" and dialog.worker is None and dialog.message_text() == ""


def test_staging_finetune_runs_from_start_to_the_result_page(qtbot, dialog, tmp_path):
    assert not dialog.isModal()
    with qtbot.waitSignal(dialog.trainingFinished, timeout=RUN_TIMEOUT_MS) as sig:
        qtbot.mouseClick(dialog.start_button, Qt.LeftButton)
        assert dialog.state == "running" and not dialog.start_button.isEnabled()
        assert dialog.tabs.currentWidget() is dialog.training_page
    result = sig.args[0]
    assert dialog.state == "idle" and dialog.worker is None
    assert dialog.tabs.currentWidget() is dialog.result_page and dialog.tabs.isTabEnabled(2)
    # live curves received the engine's events: steps and the one epoch
    assert len(dialog.curves.step_x) >= 1 and dialog.curves.epoch_x == [1]
    assert "kappa" in dialog.curves.metrics and dialog.curves.best_epoch == 1
    assert dialog.progress_bar.value() == 1000
    # the metrics table shows the engine's numbers
    table = {dialog.metrics_table.item(r, 0).text(): (dialog.metrics_table.item(r, 1).text(),
                                                      dialog.metrics_table.item(r, 2).text())
             for r in range(dialog.metrics_table.rowCount())}
    acc = result.test["accuracy"]
    assert table["Accuracy (30-s epochs)"][1] == f"{acc:.3f}"
    assert table["Cohen's kappa"][0] == f"{result.validation['kappa']:.3f}"
    # the confusion matrix is the test nights' one and counts every compared epoch
    cm = result.test["epoch"]["confusion_matrix"]
    assert dialog.confusion.matrix == cm and dialog.confusion.rowCount() == 5
    assert sum(map(sum, cm)) == result.test["epoch"]["n_compared"] > 0
    assert (Path(result.output) / "model_sleep_staging" / "config.json").is_file()
    assert dialog.resume_button.isEnabled()  # the run can be continued for more epochs
    save_shot(dialog, "finetune_result.png", tmp_path)


def test_training_runs_in_the_analysis_process_not_in_the_window(qtbot, dialog, monkeypatch):
    import sleepfm_engine.training.api as api

    def in_the_window(*args, **kwargs):
        raise AssertionError("training ran in the GUI process")

    # Only the window's process is patched: the run succeeds because it happens elsewhere.
    monkeypatch.setattr(api, "run_finetune", in_the_window)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=RUN_TIMEOUT_MS):
        dialog.start()
    assert dialog._server.running and dialog.curves.epoch_x == [1]


def test_use_this_model_emits_the_folder_and_can_add_it_to_the_library(qtbot, dialog, tmp_path):
    from sleepfm_engine.registry import list_models
    from sleepfm_engine.training.api import TrainingResult

    out = tmp_path / "trained"
    for sub in ("model_base", "model_sleep_staging"):
        shutil.copytree(GOLDEN / sub, out / sub)
    metrics = {"accuracy": 0.8, "kappa": 0.7, "macro_f1": 0.6, "n_nights": 1,
               "epoch": {"confusion_matrix": [[3, 1], [0, 4]], "labels": ["W", "N2"], "f1": {"W": 0.8, "N2": 0.9}}}
    dialog.show_result(TrainingResult(out, {"base": out / "model_base", "staging": out / "model_sleep_staging"},
                                      "completed", 1, dict(metrics, train_loss=0.5), metrics, [{}], 2.0), "staging")
    assert dialog.tabs.currentWidget() is dialog.result_page and dialog.confusion.matrix == [[3, 1], [0, 4]]
    dialog.register_check.setChecked(False)
    with qtbot.waitSignal(dialog.modelChosen, timeout=1000) as sig:
        qtbot.mouseClick(dialog.use_button, Qt.LeftButton)
    assert Path(sig.args[0]) == out
    assert list_models() == []
    dialog.register_check.setChecked(True)
    dialog.register_name.setText("my-site-staging")
    with qtbot.waitSignal(dialog.modelChosen, timeout=10_000) as sig:
        qtbot.mouseClick(dialog.use_button, Qt.LeftButton)
    [entry] = list_models()
    assert entry.name == "my-site-staging" and {"base", "staging"} <= set(entry.models)
    assert Path(sig.args[0]) == entry.path
    assert "my-site-staging" in dialog.message_text()
    # the same name again is refused with a readable message and nothing is emitted
    with qtbot.assertNotEmitted(dialog.modelChosen):
        dialog.use_model()
    assert "already registered" in dialog.message_text() and "Traceback" not in dialog.message_text()


def test_cancel_mid_run_stops_the_thread_returns_to_idle_and_resume_continues(qtbot, dialog, tmp_path):
    dialog.epochs_spin.setValue(500)
    dialog.start()
    worker = dialog.worker
    wait_for_epochs(qtbot, dialog, 1)
    dialog.curves.redraw()
    save_shot(dialog, "finetune_running.png", tmp_path)
    with qtbot.waitSignal(dialog.trainingCancelled, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)
    assert worker.wait(0)  # the analysis process reported the end of the run
    assert dialog.state == "idle" and dialog.worker is None
    assert dialog.start_button.isEnabled() and dialog.resume_button.isEnabled()
    assert dialog.settings_page.isEnabled() and dialog.epochs_spin.isEnabled()
    assert not dialog.cancel_button.isEnabled()
    assert "Resume" in dialog.message_text() and dialog.result is None
    out = Path(dialog.output_edit.text())
    done = len(json.loads((out / "training" / "history.json").read_text()))
    assert done >= 1 and (out / "model_sleep_staging" / "best.pth").is_file()
    # Resume continues the saved run for one more epoch, with the earlier epochs on the curves
    dialog.epochs_spin.setValue(done + 1)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=RUN_TIMEOUT_MS) as sig:
        qtbot.mouseClick(dialog.resume_button, Qt.LeftButton)
    assert len(sig.args[0].history) == done + 1
    assert dialog.curves.epoch_x == list(range(1, done + 2))


def test_closing_the_dialog_while_training_cancels_and_waits_for_the_thread(qtbot, dialog):
    dialog.epochs_spin.setValue(500)
    dialog.start()
    worker = dialog.worker
    qtbot.waitUntil(lambda: len(dialog.curves.step_x) >= 1 or dialog.state == "idle", timeout=RUN_TIMEOUT_MS)
    assert dialog.state == "running"
    dialog.close()
    assert worker.wait(0)
    assert not dialog.isVisible() and dialog.state == "idle" and dialog.worker is None


def test_a_missing_cohort_folder_shows_a_readable_error(qtbot, dialog, tmp_path):
    dialog.set_cohort_folder(tmp_path / "does-not-exist")
    with qtbot.waitSignal(dialog.trainingFailed, timeout=10_000) as sig:
        dialog.scan()
    assert "no such cohort folder" in sig.args[0]
    assert dialog.message_text() == sig.args[0] and "Traceback" not in sig.args[0]
    assert dialog.state == "idle" and dialog.start_button.isEnabled()


def test_a_cohort_folder_without_recordings_fails_the_run_readably(qtbot, dialog, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a recording")
    dialog.set_cohort_folder(empty)
    with qtbot.waitSignal(dialog.trainingFailed, timeout=RUN_TIMEOUT_MS) as sig:
        dialog.start()
    assert "no recording usable for staging" in sig.args[0]
    assert "no recording usable" in dialog.message_text()
    assert dialog.state == "idle" and dialog.worker is None and dialog.result is None


def test_settings_become_the_engine_configuration(qtbot, dialog, cohort_dir, tmp_path):
    from sleepfm_engine.training.config import FinetuneConfig, PretrainConfig

    dialog.epochs_spin.setValue(7)
    dialog.lr_spin.setValue(0.0005)
    dialog.seed_spin.setValue(3)
    dialog.patience_spin.setValue(0)
    dialog.val_spin.setValue(0.2)
    dialog.test_spin.setValue(0.1)
    dialog.unfreeze_check.setChecked(True)
    kind, cfg = dialog.build_config()
    assert kind == "staging" and isinstance(cfg, FinetuneConfig)
    assert (cfg.task, cfg.epochs, cfg.lr, cfg.seed, cfg.patience, cfg.device) == ("staging", 7, 0.0005, 3, 0, "cpu")
    assert cfg.fractions == [0.7, 0.2, 0.1] and cfg.unfreeze_base and cfg.batch_size == 2
    assert Path(cfg.base) == GOLDEN_BASE and Path(cfg.data) == cohort_dir
    dialog.set_task("diagnosis")
    assert not dialog.unfreeze_check.isEnabled()
    assert dialog.build_config()[1].unfreeze_base is False
    dialog.set_task("pretraining")
    dialog.base_picker.set_path(None)
    kind, cfg = dialog.build_config()
    assert kind == "pretraining" and isinstance(cfg, PretrainConfig) and cfg.init is None
    dialog.val_spin.setValue(0.5)
    dialog.test_spin.setValue(0.5)
    with pytest.raises(ValueError, match="no subject for training"):
        dialog.build_config()


def test_an_output_folder_with_an_earlier_run_needs_resume_or_replace(qtbot, dialog, tmp_path):
    out = tmp_path / "out"
    (out / "training").mkdir(parents=True)
    dialog.set_output_folder(out)
    dialog.start()
    assert dialog.worker is None and "already holds a training run" in dialog.message_text()
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.docx").write_text("x")
    dialog.set_output_folder(other)
    dialog.start()
    assert dialog.worker is None and "holds no training run" in dialog.message_text()
    assert not dialog.resume_button.isEnabled()
    # a folder with a saved run: Resume is offered and the epochs show what it runs to
    (out / "training" / "run.json").write_text(json.dumps({"kind": "staging", "config": {"epochs": 33}}))
    dialog.set_output_folder(out)
    assert dialog.resume_button.isEnabled() and dialog.epochs_spin.value() == 33


def test_open_finetune_dialog_reuses_one_non_modal_dialog_per_window(qtbot):
    from PySide6.QtWidgets import QMainWindow

    win = QMainWindow()
    qtbot.addWidget(win)
    chosen = []
    d1 = open_finetune_dialog(win, chosen.append)
    d2 = open_finetune_dialog(win, chosen.append)
    assert d1 is d2 and d1.isVisible() and not d1.isModal()
    d1.modelChosen.emit("/some/model")
    assert chosen == ["/some/model"]  # connected once
    d1.close()


def test_durations_read_like_a_person_writes_them():
    assert [format_duration(s) for s in (None, 5, 65, 3725)] == ["–", "5 s", "1 min 05 s", "1 h 02 min"]


def test_with_the_main_windows_job_manager_runs_show_in_it_and_errors_stay_in_the_dialog(
        qtbot, cohort_dir, tmp_path, monkeypatch):
    from sleepfm_gui import errors
    from sleepfm_gui.qt_jobs import JobManager

    shown = []
    monkeypatch.setattr(errors, "show_error", lambda *a: shown.append(a))
    jobs = JobManager()
    d = FinetuneDialog(jobs=jobs)
    qtbot.addWidget(d)
    added = []
    jobs.jobAdded.connect(added.append)
    d.set_cohort_folder(tmp_path / "missing")
    with qtbot.waitSignal(d.trainingFailed, timeout=10_000):
        d.scan()
    assert [w.name for w in added] == ["Scan cohort"] and jobs.workers == []
    assert shown == [] and "no such cohort folder" in d.message_text()
    assert jobs.shutdown(timeout=10) and d.state == "idle"
    assert d.shutdown(timeout=10)  # stops the dialog's own analysis process
