"""Fixtures for GUI tests: a window on a real simulator and a real archive, isolated state."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import QSettings

from archiver.api.tenant import Secret
from archiver.gui.context import AppContext
from archiver.gui.main_window import MainWindow
from archiver.gui.workers import JobRunner, ThreadRunner, active_threads
from archiver.settings import Settings
from tests.pulltools import FAST


def make_ctx(
    sim, tmp_path, secret: str | None = None, runner: JobRunner | None = None
) -> AppContext:
    settings = Settings(tmp_path / "settings.json")
    settings.set("base_url", sim.base_url)
    settings.set("client_id", sim.config.client_id)
    return AppContext(
        settings,
        tmp_path / "archive.sqlite3",
        session_secret=Secret(secret or sim.config.client_secret),
        retry=FAST,
        runner=runner or ThreadRunner(),
    )


@pytest.fixture(autouse=True)
def _qt_garbage_collected_on_the_main_thread():
    """No automatic garbage collection during a GUI test; the cyclic garbage it leaves is
    collected at its end, on the main thread (all it allocated is still in the youngest
    generation, so collecting that one is enough, and quick). Otherwise whichever thread
    allocates next (the simulator's, a pull worker's) may collect a Qt object: its
    destructor, holding Qt's lock, waits for the GIL while the main thread, holding the GIL,
    waits for that lock, a hang that no timeout can interrupt (seen in `QObject::~QObject`
    on the simulator thread against `QObject::connectImpl` on the main thread)."""
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        gc.enable()


@pytest.fixture
def no_leaked_threads():
    """Fail a test that leaves a QThread, a pull worker or the archive writer running."""
    yield
    left = [t.objectName() for t in active_threads()]
    py = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("pull-worker", "archive-writer"))
    ]
    assert not left and not py, f"threads left running: {left + py}"


@pytest.fixture
def window_factory(qtbot, tmp_path, no_leaked_threads):
    made = []

    def make(
        sim, runner: JobRunner | None = None, secret: str | None = None, ini: str = "ui.ini"
    ) -> MainWindow:
        """A window on ``sim``; its jobs run in QThreads, or through ``runner`` (e.g. a
        SyncRunner for deterministic tests)."""
        ctx = make_ctx(sim, tmp_path, secret, runner)
        qs = QSettings(str(tmp_path / ini), QSettings.Format.IniFormat)
        w = MainWindow(ctx, qsettings=qs)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def set_range(window: MainWindow, start: tuple, end: tuple, daily: bool = False) -> None:
    window.download.range.set_range(datetime(*start, tzinfo=UTC), datetime(*end, tzinfo=UTC), daily)
