"""The real DREAMS hypnograms in ../shared/data/dreams (read there, never copied here)."""
from __future__ import annotations

from collections import Counter

import pytest
from conftest import SHARED

from sleepfm_engine import read_hypnogram
from sleepfm_engine.formats import detect_format

DREAMS = SHARED / "data" / "dreams"
FILES = sorted(DREAMS.glob("Hypnogram_excerpt*.txt"))
# R&K value in the file -> our stage name, written out independently of the reader
RK = {"5": "W", "4": "R", "3": "N1", "2": "N2", "1": "N3", "0": "N3", "-1": "?"}

pytestmark = pytest.mark.skipif(not FILES, reason=f"the DREAMS hypnograms are not in {DREAMS} "
                                                  "(shared data absent on this machine)")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_real_dreams_hypnogram_reads_as_360_five_second_epochs(path):
    values = path.read_text().split()[1:]
    assert detect_format(path) == "dreams"
    hyp = read_hypnogram(path)
    assert hyp.epoch_length == 5 and hyp.n_epochs == len(values) == 360
    assert hyp.stage_names() == [RK[v] for v in values]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_real_dreams_hypnogram_resampled_to_30s_takes_each_epochs_majority(path):
    names = [RK[v] for v in path.read_text().split()[1:]]
    hyp30 = read_hypnogram(path).resample(30)
    assert hyp30.epoch_length == 30 and hyp30.n_epochs == 60
    for k in range(60):
        block = names[6 * k:6 * k + 6]
        counts = Counter(block)
        best = max(counts.values())
        assert hyp30.stage_names()[k] == next(s for s in block if counts[s] == best)
    stats = hyp30.statistics()
    assert stats["TRT"] == 30.0
    assert stats["TST"] + stats["W_min"] + stats["unscored_min"] + stats["artefact_min"] == 30.0
