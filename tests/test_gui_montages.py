"""The Montage menu, reordering channels, removing derivations, and each study's display layout
restored when it is opened again."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt", reason="the GUI tests need pytest-qt")

from PySide6.QtCore import Qt  # noqa: E402

from sleepfm_engine.study_display import per_study_part, state_path  # noqa: E402
from sleepfm_gui import errors  # noqa: E402
from sleepfm_gui.main_window import MainWindow  # noqa: E402
from test_montages import AASM_ORDER, ELECTRODES, make_referential  # noqa: E402


@pytest.fixture
def dialogs(monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, text: shown.append((title, text)))
    monkeypatch.setattr(errors, "show_warning", lambda parent, title, text: shown.append((title, text)))
    return shown


def _window(qtbot):
    win = MainWindow()
    win.ask_save = lambda session: "discard"
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, dialogs):
    win = _window(qtbot)
    yield win
    win.close()


def _open(qtbot, win, path) -> None:
    with qtbot.waitSignal(win.trace.pagePainted, timeout=10000):
        assert win.open_recording_file(path)
    qtbot.waitUntil(lambda: not win.jobs.running(), timeout=20000)


def _shown(win) -> list[str]:
    return [r.key for r in win.trace.visible_channels]


def test_the_montage_menu_lists_aasm_the_saved_montages_and_save_and_delete(qtbot, window,
                                                                            tmp_path):
    menu = window.montage_menu
    assert menu.menuAction() in window.menuBar().actions()[4].menu().actions()  # Channels
    menu.rebuild()
    assert menu.entry_names() == ["AASM recommended", "Grouped by modality", "Save current as…",
                                  "Delete…"]
    assert not menu.save_action.isEnabled() and not menu.delete_action.isEnabled()
    _open(qtbot, window, make_referential(tmp_path / "night.edf"))
    assert menu.save_current("Review")
    (menu.store.folder / "broken.montage.json").write_text("{", encoding="utf-8")
    menu.rebuild()
    assert menu.entry_names() == ["AASM recommended", "Grouped by modality", "Review",
                                  "broken.montage.json (cannot be read)", "Save current as…",
                                  "Delete…"]
    broken = [a for a in menu.actions() if a.text().startswith("broken")][0]
    assert not broken.isEnabled() and "broken.montage.json" in broken.toolTip()


def test_the_aasm_montage_from_the_menu_lays_out_the_traces_and_the_channel_table(
        qtbot, window, tmp_path):
    _open(qtbot, window, make_referential(tmp_path / "night.edf"))
    entry = [a for a in window.montage_menu.actions() if a.text() == "AASM recommended"][0]
    with qtbot.waitSignal(window.trace.pagePainted, timeout=10000):
        entry.trigger()
    assert _shown(window) == AASM_ORDER
    assert window.channels.keys()[:len(AASM_ORDER)] == AASM_ORDER
    assert set(window.channels.keys()[len(AASM_ORDER):]) == set(ELECTRODES)
    assert "Montage AASM recommended applied" in window.statusBar().currentMessage()
    default = [a for a in window.montage_menu.actions() if a.text() == "Grouped by modality"][0]
    default.trigger()
    assert window.channels.keys() == [r.key for r in window.trace.display_channels]
    assert window.trace.hidden_channels == []
    assert window.channels.keys()[:2] == ["F4", "C4"]  # grouped, file order: EEG first


def test_save_current_as_asks_before_replacing_and_delete_removes(qtbot, window, tmp_path):
    _open(qtbot, window, make_referential(tmp_path / "night.edf"))
    menu = window.montage_menu
    menu.ask_name = lambda default: "Mine"
    asked: list[str] = []
    menu.ask_overwrite = lambda name: asked.append(name) or False
    assert menu.save_current()
    window.trace.set_channel_visible("ECG", False)
    assert not menu.save_current()  # the user said no: the first one stays
    assert asked == ["Mine"] and "ECG" not in menu.store.load("Mine").hidden
    menu.ask_overwrite = lambda name: True
    assert menu.save_current()
    assert "ECG" in menu.store.load("Mine").hidden
    menu.ask_delete = lambda names: names[0]
    assert menu.delete()
    assert menu.store.names() == []


def test_a_saved_montage_from_the_menu_restores_its_layout(qtbot, window, tmp_path):
    _open(qtbot, window, make_referential(tmp_path / "night.edf"))
    menu = window.montage_menu
    menu.apply_builtin("AASM recommended")
    window.move_channel(-2, "ECG")
    menu.save_current("Mine")
    shown = _shown(window)
    window.trace.show_all_channels()
    assert _shown(window) != shown
    menu.rebuild()
    [a for a in menu.actions() if a.text() == "Mine"][0].trigger()
    assert _shown(window) == shown


def test_moving_a_channel_with_the_panel_buttons_reorders_the_traces(qtbot, window, tmp_path):
    _open(qtbot, window, make_referential(tmp_path / "night.edf"))
    panel = window.channels
    before = _shown(window)
    panel.select_key(before[1])
    assert panel.up_button.isEnabled() and not panel.remove_button.isEnabled()
    qtbot.mouseClick(panel.up_button, Qt.LeftButton)
    assert _shown(window)[:2] == [before[1], before[0]]
    assert panel.keys()[:2] == [before[1], before[0]] and panel.selected_key() == before[1]
    assert not panel.up_button.isEnabled()  # now the top row
    qtbot.mouseClick(panel.down_button, Qt.LeftButton)
    assert _shown(window) == before
    # The menu's actions move the channel selected on the traces.
    window.trace.select_channel(before[2])
    window.move_down_action.trigger()
    assert _shown(window)[3] == before[2]


def test_a_derivation_is_removed_with_the_channel_panel_button(qtbot, window, tmp_path):
    from sleepfm_engine.display import Derivation

    _open(qtbot, window, make_referential(tmp_path / "night.edf"))
    window.trace.add_derivation(Derivation("C4", "M1"))
    window._refresh_channel_rows()
    panel = window.channels
    panel.select_key("C4-M1")
    assert panel.remove_button.isEnabled()
    qtbot.mouseClick(panel.remove_button, Qt.LeftButton)
    assert "C4-M1" not in panel.keys() and window.trace.derivations == []


def test_reopening_a_study_restores_its_layout_while_another_study_gets_its_own(
        qtbot, dialogs, tmp_path):
    a = make_referential(tmp_path / "a.edf")
    b = make_referential(tmp_path / "b.edf", seed=1, starttime="23.30.00")
    win = _window(qtbot)
    _open(qtbot, win, a)
    default = _shown(win)
    win.montage_menu.apply_builtin("AASM recommended")
    win.trace.set_gain("C4-M1", 3.0)
    win.trace.set_channel_visible("Snore", False)
    win.move_channel(-3, "ECG")
    layout_a = _shown(win)
    win.trace.set_window(60.0)  # a viewer preference: global, not the study's
    _open(qtbot, win, b)  # switching recordings keeps a's layout
    assert _shown(win) == default and win.trace.derivations == []
    assert win.trace.window_seconds == 60.0
    win.move_channel(1, default[0])
    layout_b = _shown(win)
    win.close()  # closing the window keeps b's
    again = _window(qtbot)
    _open(qtbot, again, a)
    assert _shown(again) == layout_a
    assert again.trace.row_state("C4-M1").gain == 3.0
    assert "Snore" in again.trace.hidden_channels
    assert [d.label for d in again.trace.derivations][:2] == ["F4-M1", "C4-M1"]
    assert again.channels.keys() == [r.key for r in again.trace.display_channels]
    _open(qtbot, again, b)
    assert _shown(again) == layout_b
    again.close()
    assert dialogs == []


def test_an_unreadable_saved_layout_is_reported_and_the_study_opens_grouped(qtbot, window,
                                                                             dialogs, tmp_path):
    path = make_referential(tmp_path / "night.edf")
    _open(qtbot, window, path)
    default = _shown(window)
    target = state_path(window.rec)
    window.close_recording()
    target.parent.mkdir(parents=True, exist_ok=True)  # an unchanged layout writes no file
    target.write_text("{not json", encoding="utf-8")
    _open(qtbot, window, path)
    assert _shown(window) == default
    assert dialogs and dialogs[0][0] == "Display layout not restored"
    assert str(target) in dialogs[0][1]


def test_dragging_a_row_number_in_the_channel_panel_moves_the_channel(qtbot, window, tmp_path):
    _open(qtbot, window, make_referential(tmp_path / "night.edf"))
    panel = window.channels
    before = [r.key for r in window.trace.display_channels]
    header = panel.table.verticalHeader()
    # What a drag of the fourth row's number onto the first does.
    header.moveSection(3, 0)
    expected = [before[3]] + before[:3] + before[4:]
    assert [r.key for r in window.trace.display_channels] == expected
    assert panel.keys() == expected
    assert [header.logicalIndex(v) for v in range(len(expected))] == list(range(len(expected)))


def test_a_layout_change_is_saved_moments_later_without_closing_and_opening_alone_writes_none(
        qtbot, window, tmp_path):
    path = make_referential(tmp_path / "night.edf")
    _open(qtbot, window, path)
    target = state_path(window.rec)
    window._display_timer.setInterval(20)  # the autosave delay, shortened for the test
    window._save_study_display()  # what a pending autosave would do now
    assert not target.exists()  # opening and painting is no layout change
    window.move_channel(1, _shown(window)[0])
    moved = _shown(window)
    # No close: a crash now must not lose the new order.
    qtbot.waitUntil(target.exists, timeout=5000)
    from sleepfm_engine.study_display import load_display_state
    saved = load_display_state(window.rec)
    assert saved == per_study_part(window.study.display.to_dict(rows=True))
    assert [k for k in saved["order"] if k in moved] == moved
