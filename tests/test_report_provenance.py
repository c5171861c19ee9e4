"""One night analysis, one provenance: the application's analysis and `sleepfm report` agree."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from sleepfm_engine.analysis import Analyser, NightRequest, analyse_night
from sleepfm_engine.provenance import (RESULTS, Provenance, ProvenanceError, ResultSource, combine,
                                       read_provenance_file, write_provenance_file)
from sleepfm_engine.report import build_report

from test_report_nights import write_night

torch = pytest.importorskip("torch", reason="the night analysis runs the models")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    return write_night(tmp_path_factory.mktemp("night") / "short.edf", hours=10 / 60, seed=2)


@pytest.fixture
def release(data_dir):
    return data_dir / "golden_tiny"


def _gui_provenance(night_path, release, **risk):
    """Staging then risk as the application's analysis process runs them."""
    from sleepfm_gui.analysis_server import night_request

    kwargs = {"recording": str(night_path), "model": str(release), "device": "cpu",
              "overrides": {}}
    analyser = Analyser()
    staged = analyser.run(None, night_request("staging", kwargs))
    scored = analyser.run(None, night_request("risk", {**kwargs, **risk}))
    return staged, scored, combine(staged.provenance, scored.provenance)


def test_the_application_and_sleepfm_report_record_equal_provenance(night, release):
    from sleepfm_engine.report.automatic import run_automatic

    with pytest.warns(RuntimeWarning, match="label mapping"):  # the tiny head has 7 outputs
        cli = run_automatic(night.path, release, age=55, sex="F", device="cpu")
        staged, scored, gui = _gui_provenance(night.path, release, age=55, sex="F")
    assert gui == cli.provenance
    assert cli.provenance.device == "cpu" and cli.provenance.precision == "fp32"
    assert [k for k, _ in cli.provenance.config_hashes] == ["base", "staging", "diagnosis"]
    assert cli.provenance.source("hypnogram").kind == "model"
    assert cli.provenance.model_folder == str(release.resolve())
    # Same inputs, same results: the application's staging is the report's staging.
    assert np.array_equal(staged.hypnogram.stages, cli.hypnogram.stages)
    assert np.allclose(scored.risk.log_hazard, cli.risk.log_hazard, atol=1e-5)
    rows = dict(build_report(night.path, auto=staged.hypnogram, provenance=gui).provenance)
    assert rows == dict(build_report(night.path, auto=cli.hypnogram,
                                     provenance=cli.provenance).provenance)
    assert rows["Device"] == "cpu" and rows["Engine version"].startswith("SleepFM Studio ")
    assert rows["Automatic staging"].startswith("model ")


def test_an_imported_automatic_hypnogram_credits_its_file_not_the_model(night, tmp_path):
    from sleepfm_engine.formats import write_hypnogram

    hyp_file = write_hypnogram(night.auto, tmp_path / "scored-elsewhere.csv")
    prov = combine(Provenance.imported("hypnogram", hyp_file), None)
    rows = dict(build_report(night.path, auto=night.auto, provenance=prov).provenance)
    assert rows["Automatic staging"] == f"imported from file {hyp_file.resolve()}"
    assert "Model folder" not in rows and "Config hash" not in rows and "Device" not in rows


def test_analysis_is_embedded_once_for_staging_then_risk(night, release, monkeypatch):
    import sleepfm_engine.analysis as analysis

    calls = []
    real = analysis._embed
    monkeypatch.setattr(analysis, "_embed", lambda *a, **k: calls.append(1) or real(*a, **k))
    analyser = Analyser()
    request = NightRequest(str(night.path), str(release), device="cpu")
    analyser.run(None, request)
    with pytest.warns(RuntimeWarning, match="label mapping"):
        result = analyser.run(None, NightRequest(str(night.path), str(release), products=("risk",),
                                                 device="cpu", age=40, sex="M"))
    assert calls == [1] and result.risk is not None and result.hypnogram is None


def test_risk_without_age_and_sex_is_refused_before_any_model_runs(night, release):
    with pytest.raises(ValueError, match="risk needs age and sex"):
        Analyser().run(None, NightRequest(str(night.path), str(release), products=("risk",),
                                          device="cpu"))


def test_outputs_are_written_with_a_provenance_file_read_back_identically(night, release, tmp_path):
    from sleepfm_engine.checkpoints import load_release
    from sleepfm_engine.devices import select_device
    from sleepfm_engine.inference import Embeddings

    device = select_device("cpu")
    rel = load_release(release, device=device, kinds=["base", "staging"])
    emb_file, prov_file = tmp_path / "n.hdf5", tmp_path / "n.provenance.json"
    first = analyse_night(None, rel, device=device, recording=night.path, products=(),
                          outputs={"embed": emb_file}, provenance_file=prov_file)
    assert first.written == (emb_file, prov_file)
    # Staging from the embedding file: the embeddings are credited to the file.
    again = analyse_night(None, rel, device=device, embeddings=Embeddings.from_hdf5(emb_file),
                          embeddings_file=emb_file, products=("stage",),
                          outputs={"stage": tmp_path / "n.auto.csv"}, provenance_file=prov_file)
    records = read_provenance_file(prov_file)
    assert records == {"n.hdf5": first.provenance, "n.auto.csv": again.provenance}
    assert again.provenance.source("embeddings") == ResultSource.file(emb_file)
    assert again.provenance.source("hypnogram").config_hash == dict(
        again.provenance.config_hashes)["staging"]


def test_a_file_that_is_not_provenance_raises_a_typed_error_naming_it(tmp_path):
    bad = tmp_path / "x.provenance.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ProvenanceError, match="x.provenance.json"):
        read_provenance_file(bad)
    bad.write_text("{not json")
    with pytest.raises(ProvenanceError, match="not a readable provenance file"):
        write_provenance_file(bad, {})


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_sources = st.dictionaries(st.sampled_from(list(RESULTS)),
                           st.builds(ResultSource, st.sampled_from(["model", "file"]), _text, _text))
_provenance = st.builds(
    lambda v, m, f, hashes, d, p, src: Provenance(v, m, f, tuple(sorted(hashes.items())), d, p)
    .merged(Provenance(v, sources=tuple(src.items()))),
    _text, _text, _text, st.dictionaries(st.sampled_from(["base", "staging", "diagnosis"]), _text),
    _text, st.sampled_from(["fp32", "bf16"]), _sources)


@given(_provenance)
def test_provenance_reads_back_from_its_dict_identically(prov):
    assert Provenance.from_dict(json.loads(json.dumps(prov.to_dict()))) == prov


@given(_provenance, _provenance)
def test_merging_keeps_every_result_and_the_later_source_wins(a, b):
    merged = a.merged(b)
    assert {r for r, _ in merged.sources} == {r for r, _ in a.sources} | {r for r, _ in b.sources}
    for result, source in b.sources:
        assert merged.source(result) == source
