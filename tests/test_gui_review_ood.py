"""The review panel and risk view show what the engine's OOD checks decided: a flagged night's
review queue in evidence order, and the disease head's verdict above the risk table."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from sleepfm_engine.hypnogram import Hypnogram  # noqa: E402
from sleepfm_engine.inference import RiskTable  # noqa: E402
from sleepfm_engine.ood import OODResult  # noqa: E402
from sleepfm_engine.scoring import ScoringSession  # noqa: E402
from sleepfm_gui.qt_review import ReviewPanel  # noqa: E402

N = 10


@pytest.fixture
def panel(qtbot):
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.resize(1000, 600)
    w.show()
    qtbot.waitExposed(w)
    return w


def _flagged(evidence):
    n = len(evidence)
    return OODResult(np.full(n, 5.0), np.ones(n, bool), np.zeros(n, bool), ("RESP",) * n, 0.25, ("RESP",),
                     epoch_evidence=np.asarray(evidence, dtype=np.float64))


def test_a_flagged_nights_queue_in_the_panel_is_the_engines_in_evidence_order(panel):
    probs = np.tile([0.01, 0.01, 0.96, 0.01, 0.01], (N, 1))   # sure of every epoch
    session = ScoringSession(N, auto=Hypnogram(np.full(N, 2), probabilities=probs, automatic=True),
                             autosave=False)
    panel.set_session(session)
    evidence = [0.9, 0.2, 0.7, 0.01, 0.6, 0.3, 0.05, 0.8, 0.55, 0.45]
    panel.set_ood(_flagged(evidence))
    assert not panel.ood_banner.isHidden() and "review by confidence offers first the 5" in panel.ood_banner.text()
    assert np.flatnonzero(session.review_mask("uncertain")).tolist() == [1, 3, 5, 6, 9]
    assert [session.next_review_epoch(0, "lowest") for _ in range(5)] == [3, 6, 1, 5, 9]
    panel.set_ood(None)
    assert session.review_count("uncertain") == 0 and panel.ood_banner.isHidden()
    session.close()


def test_the_risk_view_shows_the_disease_heads_verdict_only_when_there_is_one(panel):
    def table(ood):
        return RiskTable(np.arange(2), ["327.3", "401.1"], ["Sleep apnea", "Hypertension"],
                         np.array([0.8, -0.2]), age=54.0, sex="F", model_id="diag", ood=ood)

    ordinary = OODResult(np.full(4, 0.2), np.zeros(4, bool), np.zeros(4, bool), ("BAS",) * 4, 0.25, ("BAS",),
                         n_outputs=2)
    panel.set_risk(table(ordinary))
    assert panel.risk.fit.isHidden()
    unusual = OODResult(np.full(4, 0.2), np.zeros(4, bool), np.zeros(4, bool), ("BAS",) * 4, 0.25, ("BAS",),
                        outputs_outside=("327.3",), n_outputs=2)
    panel.set_risk(table(unusual))
    assert not panel.risk.fit.isHidden()
    assert "unlike the disease model's training data" in panel.risk.fit.text()
    assert "327.3" in panel.risk.fit.text()
    panel.set_risk(table(OODResult.not_available(4, ("out-of-distribution check",))))
    assert "Not checked" in panel.risk.fit.text()
    panel.set_risk(None)
    assert panel.risk.fit.isHidden()
