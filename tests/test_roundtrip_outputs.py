"""Every command that writes a hypnogram or statistics file, run on one generated night with the
tiny model, and every output read back through the engine's own readers: the same stages, epoch
length, start and probabilities (as far as each format keeps them, see ``FileFormat.keeps``),
the same statistics; automatic hypnograms stay automatic and are never taken for the manual
scoring, although they sit beside the recording."""
from __future__ import annotations

import os

import numpy as np
import pytest

from sleepfm_engine.cli import main
from sleepfm_engine.formats import get_format, read_hypnogram, write_formats
from sleepfm_engine.formats.discover import AUTOMATIC_HYPNOGRAM_SUFFIX
from sleepfm_engine.hypnogram import ARTEFACT, UNSCORED, Hypnogram
from sleepfm_engine.recording import open_recording
from sleepfm_engine.report.summary import read_statistics_json, read_summary_csv

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HOURS = 0.25  # 30 epochs: three 5-min chunks


@pytest.fixture(autouse=True)
def _restore_omp_env(monkeypatch):
    """The CLI sets OMP_WAIT_POLICY when unset; keep that out of the other tests' environment."""
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """``sleepfm synth`` then ``sleepfm stage`` into the recording's own folder, and the
    reference automatic hypnogram computed in-process with the same model."""
    import torch

    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.inference import embed_recording, stage_recording

    folder = tmp_path_factory.mktemp("roundtrip")
    model = os.path.join(os.path.dirname(__file__), "data", "golden_tiny")
    edf = folder / "night.edf"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["synth", "-o", str(edf), "--hours", str(HOURS), "--seed", "4"]) == 0
        assert main(["stage", str(edf), "--model", model, "-o", str(folder), "--device", "cpu"]) == 0
        release = load_release(model, device=torch.device("cpu"))
        with open_recording(edf) as rec:
            start = rec.start
            auto = stage_recording(embed_recording(rec, release, device=torch.device("cpu")), release,
                                   device=torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    return {"folder": folder, "edf": edf, "model": model, "start": start, "auto": auto,
            "sidecar": folder / "night.hypnogram.csv",
            "staged": folder / f"night{AUTOMATIC_HYPNOGRAM_SUFFIX}"}


def _manual(night) -> Hypnogram:
    """The manual scoring as the engine pairs it with the recording (start from the recording)."""
    hyp = read_hypnogram(night["sidecar"], epoch_length=30)
    hyp.start = hyp.start or night["start"]
    return hyp


def assert_same(back: Hypnogram, ref: Hypnogram, keeps: frozenset[str]) -> None:
    """``back`` holds what a format that keeps ``keeps`` holds of ``ref``."""
    expected = ref.stages.copy()
    if "artefact" not in keeps:
        expected[expected == ARTEFACT] = UNSCORED
    np.testing.assert_array_equal(back.stages, expected)
    assert back.epoch_length == ref.epoch_length and back.offset == ref.offset
    assert back.start == (ref.start if "start" in keeps else None)
    assert back.automatic == (ref.automatic if "automatic" in keeps else False)
    if "scorer" in keeps:
        assert back.scorer == ref.scorer
    if "probabilities" in keeps and ref.probabilities is not None:
        # the CSV keeps 6 significant digits, the JSON every bit
        np.testing.assert_allclose(back.probabilities, ref.probabilities, rtol=1e-5, atol=1e-6)
    else:
        assert back.probabilities is None


def test_stage_writes_an_automatic_hypnogram_the_engine_reads_back_whole(night):
    back = read_hypnogram(night["staged"])
    ref = night["auto"]
    assert ref.automatic and ref.n_epochs == HOURS * 120
    assert back.file_format == "csv"
    assert_same(back, ref, get_format("csv").keeps)
    assert back.start == night["start"] and back.scorer == ref.scorer


def test_synth_writes_a_hypnogram_that_reads_back_as_the_recordings_stages(night):
    back = read_hypnogram(night["sidecar"])
    with open_recording(night["edf"]) as rec:
        embedded = read_hypnogram(night["edf"], fmt="edf")
        assert back.n_epochs * back.epoch_length == rec.duration
    np.testing.assert_array_equal(back.stages, embedded.stages)
    assert back.epoch_length == embedded.epoch_length == 30 and not back.automatic


def test_the_automatic_hypnogram_beside_the_recording_is_never_its_manual_scoring(night, tmp_path):
    from sleepfm_engine.formats.discover import find_manual_hypnogram

    hyp, source = find_manual_hypnogram(night["edf"])
    assert source == night["sidecar"] and not hyp.automatic
    out = tmp_path / "manual.json"
    assert main(["export", "hypnogram", str(night["edf"]), "-o", str(out)]) == 0
    assert_same(read_hypnogram(out), _manual(night), get_format("json").keeps)


@pytest.mark.parametrize("fmt", write_formats())
def test_export_of_the_automatic_hypnogram_reads_back_in_every_format(night, tmp_path, fmt):
    entry = get_format(fmt)
    out = tmp_path / f"auto{entry.suffixes[0]}"
    assert main(["export", "hypnogram", str(night["edf"]), "--model", night["model"],
                 "--device", "cpu", "-o", str(out), "--format", fmt]) == 0
    epoch = None if "epoch_length" in entry.keeps else 30
    assert_same(read_hypnogram(out, epoch_length=epoch), night["auto"], entry.keeps)


@pytest.mark.parametrize("fmt", write_formats())
def test_export_of_the_manual_hypnogram_reads_back_in_every_format(night, tmp_path, fmt):
    entry = get_format(fmt)
    out = tmp_path / f"manual{entry.suffixes[0]}"
    assert main(["export", "hypnogram", str(night["edf"]), "-o", str(out), "--format", fmt]) == 0
    epoch = None if "epoch_length" in entry.keeps else 30
    assert_same(read_hypnogram(out, epoch_length=epoch), _manual(night), entry.keeps)


@pytest.mark.parametrize("source", ["sidecar", "staged"])
def test_export_of_a_hypnogram_file_reads_back_as_the_file(night, tmp_path, source):
    ref = read_hypnogram(night[source])
    for fmt in ("csv", "json"):
        out = tmp_path / f"copy.{fmt}"
        assert main(["export", "hypnogram", str(night[source]), "-o", str(out), "--format", fmt]) == 0
        assert read_hypnogram(out) == ref


def _report_model(night, with_auto: bool):
    from sleepfm_engine.report import build_report

    with open_recording(night["edf"]) as rec:
        return build_report(rec, manual=_manual(night), auto=night["auto"] if with_auto else None)


@pytest.mark.parametrize("with_auto", [False, True])
def test_export_stats_csv_reads_back_the_statistics_of_each_hypnogram(night, tmp_path, with_auto):
    out = tmp_path / "stats.csv"
    args = ["export", "stats", str(night["edf"]), "-o", str(out)]
    if with_auto:
        args += ["--model", night["model"], "--device", "cpu"]
    assert main(args) == 0
    rows = read_summary_csv(out)
    model = _report_model(night, with_auto)
    assert [r["hypnogram"] for r in rows] == (["manual", "auto"] if with_auto else ["manual"])
    assert rows == model.summary_record()
    assert rows[0]["start"] == night["start"].isoformat()
    for row in rows:
        hyp = _manual(night) if row["hypnogram"] == "manual" else night["auto"]
        assert {k: row[k] for k in hyp.statistics()} == hyp.statistics()


@pytest.mark.parametrize("with_auto", [False, True])
def test_export_stats_json_reads_back_the_statistics_of_each_hypnogram(night, tmp_path, with_auto):
    out = tmp_path / "stats.json"
    args = ["export", "stats", str(night["edf"]), "-o", str(out)]
    if with_auto:
        args += ["--model", night["model"], "--device", "cpu"]
    assert main(args) == 0
    data = read_statistics_json(out)
    model = _report_model(night, with_auto)
    assert data["start"] == night["start"].isoformat()
    assert sorted(data["hypnograms"]) == sorted(model.roles)
    for role, entry in data["hypnograms"].items():
        hyp = _manual(night) if role == "manual" else night["auto"]
        assert entry["statistics"] == model.statistics[role] == hyp.statistics()
        assert (entry["epoch_length"], entry["n_epochs"]) == (hyp.epoch_length, hyp.n_epochs)
    assert data["agreement"] == model.agreement


def test_report_summary_csv_reads_back_the_manual_statistics(night, tmp_path):
    out = tmp_path / "reports"
    assert main(["report", str(night["folder"]), "-o", str(out)]) == 0
    rows = read_summary_csv(out / "summary.csv")
    assert rows == _report_model(night, False).summary_record()
    assert [r["hypnogram"] for r in rows] == ["manual"]
