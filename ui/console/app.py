"""Starting the console: on a hub client, or on a running demo stack."""

from __future__ import annotations

import sys

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from ui.console.window import ConsoleWindow


def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("lwd console")
        app.setOrganizationName("lwd")
    return app


def run_console(client, *, duration: float | None = None, **window_kw) -> int:
    """Show the console for ``client`` (which it then owns and closes) until the window closes
    (or ``duration`` seconds). Returns the Qt exit code."""
    app = application()
    win = ConsoleWindow(client, **window_kw)
    win.show()
    if duration:
        QTimer.singleShot(int(duration * 1000), win.close)
    app.aboutToQuit.connect(win.shutdown)
    return app.exec()


def run_on_stack(stack, operator: str = "op-1", duration: float | None = None) -> int:
    """The console on a ``lwd_operator.demo.DemoStack`` (what ``lwd demo --ui qt`` runs)."""
    application()
    return run_console(stack.client(operator, role="operator"), duration=duration,
                       deadman_ms=stack.cfg.hub.deadman_ms)
