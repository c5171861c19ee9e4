"""The risk CSV written beside RiskTable: one row per condition, highest log-hazard first."""
from __future__ import annotations

import csv

from sleepfm_engine.inference import RiskTable
from sleepfm_engine.inference.risk import RISK_CSV_COLUMNS, write_risk_csv


def test_risk_csv_is_sorted_by_log_hazard(tmp_path):
    table = RiskTable([0, 1, 2], ["8.0", "427.2", "290.1"], ["Intestinal infection", "Atrial fibrillation",
                                                             "Dementia, with comma"],
                      [0.1, 2.5, -1.0])
    path = write_risk_csv(table, tmp_path / "n.risk.csv")
    rows = list(csv.DictReader(path.open()))
    assert tuple(rows[0]) == RISK_CSV_COLUMNS
    assert [r["phecode"] for r in rows] == ["427.2", "8.0", "290.1"]
    assert [r["rank"] for r in rows] == ["1", "2", "3"]
    assert rows[2]["phenotype"] == "Dementia, with comma" and float(rows[0]["log_hazard"]) == 2.5


def test_risk_table_to_csv_writes_the_same_file(tmp_path):
    table = RiskTable([0, 1], ["8.0", "427.2"], ["Intestinal infection", "Atrial fibrillation"],
                      [0.1, 2.5])
    assert (table.to_csv(tmp_path / "a.csv").read_text()
            == write_risk_csv(table, tmp_path / "b.csv").read_text())
