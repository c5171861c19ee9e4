"""`sleepfm demo` (what `make run` does without a display) runs the whole main job."""
from sleepfm_engine.cli import main


def test_demo_generates_maps_preprocesses_and_stages_with_the_shipped_model(capsys, isolated_user_dirs):
    assert main(["demo", "--hours", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "EDF+C, 18 channels" in out
    assert "C4-M1" in out and "BAS" in out and "Position" in out
    assert "preprocessed to 128 Hz" in out
    assert "ground-truth hypnogram: 30 epochs of 30 s" in out
    assert "staged with the demo model (synthetic training data, demonstration only)" in out
    assert list((isolated_user_dirs / "demo").glob("*.preprocessed.hdf5"))
