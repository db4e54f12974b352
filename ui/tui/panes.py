"""The fleet screen's smaller panes: status bar, attention queue, alert log."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.widgets import RichLog, Static

from lwd_operator.fleet_view import AttentionItem, FleetView, LogEntry

KIND_STYLE = {"help": "bold red", "deadman": "bold dark_orange", "stopped": "dark_orange",
              "store_error": "bold red", "offline": "grey62", "policy_load": "yellow", "stall": "yellow",
              "to_label": "grey70"}
LEVEL_STYLE = {"critical": "bold red", "warning": "yellow", "info": "grey70"}


class TextPane(Static):
    """A Static that repaints only when its text changed, and asks for a layout only when the
    length of one of its lines changed: a relayout repaints the whole screen, which at 4 Hz cost
    more than the fleet table itself."""

    _text: Text | None = None
    _shape: tuple[int, ...] = ()

    def set_text(self, text: Text) -> None:
        if self._text is not None and self._text == text:
            return
        shape = tuple(len(line) for line in text.plain.split("\n"))
        self.update(text, layout=self._text is None or shape != self._shape)
        self._text, self._shape = text, shape


class StatusBar(TextPane):
    """One line: hub connection, counts, what you hold, the time."""

    def show(self, view: FleetView, now_wall: float, muted: bool, width: int) -> None:
        s = view.summary
        clock = dt.datetime.fromtimestamp(now_wall).strftime("%H:%M:%S")
        # (text, style, priority): on a narrow terminal the highest priority numbers go first
        parts: list[tuple[str, str, int]] = [(f"{s.robots} robots", "", 0)]
        if s.yours:
            parts.append(("YOU HOLD " + ",".join(s.yours), "bold white on dodger_blue3", 0))
        for label, n, style in (("help", s.help, "bold red"), ("stopped", s.stopped, "bold dark_orange"),
                                ("offline", s.offline, "grey62"), ("stalled", s.stalled, "yellow")):
            if n:
                parts.append((f"{label} {n}", style, 1))
        if s.versions:
            parts.append((" ".join(f"v{v}:{n}" for v, n in sorted(s.versions.items(), reverse=True)), "", 3))
        learner = getattr(self.app, "learner_short", "")  # polled by the app every few seconds
        if learner:
            parts.append((learner, "bold red" if "STALE" in learner else "", 2))
        if muted:
            parts.append(("muted", "grey62", 2))
        lead = " LWD " + (" " if s.connected else " hub lost ")
        while len(parts) > 1:
            used = len(lead) + sum(len(p[0]) + 3 for p in parts) + len(clock) + 1
            if used <= width:
                break
            worst = max(range(len(parts)), key=lambda k: (parts[k][2], k))
            if parts[worst][2] == 0:
                break
            parts.pop(worst)
        t = Text()
        t.append(" LWD ", style="bold black on green3" if s.connected else "bold white on red3")
        t.append(" " if s.connected else " hub lost ", style="" if s.connected else "bold red")
        for k, (text, style, _) in enumerate(parts):
            if k:
                t.append(" · ")
            t.append(text, style=style)
        pad = max(1, width - len(t.plain) - len(clock) - 1)
        t.append(" " * pad + clock + " ")
        self.set_text(t)


def fmt_wait(s: float) -> str:
    """How long an entry has waited: whole seconds, then minutes, then hours."""
    return f"{s:.0f}s" if s < 100 else f"{s / 60:.0f}m" if s < 6000 else f"{s / 3600:.0f}h"


def item_line(item: AttentionItem) -> Text:
    t = Text()
    t.append(f"{item.mark} ", style=KIND_STYLE[item.kind])
    t.append(f"{item.robot_id or 'hub'} ", style="bold")
    t.append(f"{fmt_wait(item.age_s):>4} ", style="grey62")  # before the text: a wrapped line keeps it
    t.append(item.text, style=KIND_STYLE[item.kind] if item.kind != "to_label" else "grey70")
    return t


class AttentionPane(TextPane):
    """The operator's inbox: urgent first, then older; episodes to label at the bottom."""

    def show(self, view: FleetView, max_lines: int) -> None:
        urgent = [i for i in view.queue if i.kind != "to_label"]
        label = [i for i in view.queue if i.kind == "to_label"]
        t = Text()
        if not urgent:
            t.append("nothing needs you", style="green")
        shown = urgent[:max(1, max_lines - 1)]
        for k, item in enumerate(shown):
            if k:
                t.append("\n")
            t.append_text(item_line(item))
        if len(urgent) > len(shown):
            t.append(f"\n… {len(urgent) - len(shown)} more (sort by mode: o)", style="grey62")
        t.append("\n")
        t.append(f"to label: {len(label)}", style="bold" if label else "grey62")
        if label:
            t.append(f"  newest {label[-1].episode_id} · s/f on its robot", style="grey70")
        self.set_text(t)


class AlertLog(RichLog):
    """Every alert with its time, newest at the bottom; scrolls."""

    def __init__(self, **kw):
        super().__init__(max_lines=500, wrap=True, markup=False, min_width=20, **kw)
        self._written = 0
        self._last: LogEntry | None = None

    def show(self, view: FleetView) -> None:
        entries = list(view.log)
        # the model's log is a bounded deque: find where we stopped by identity, not index
        start = 0
        if self._last is not None:
            for k in range(len(entries) - 1, -1, -1):
                if entries[k] is self._last:
                    start = k + 1
                    break
        for e in entries[start:]:
            t = Text(f"{e.clock()} ", style="grey62")
            t.append(f"{e.robot_id or 'hub'} {e.code}", style=LEVEL_STYLE.get(e.level, ""))
            t.append(f": {e.text}" + (" 🔔" if e.sound else ""))
            self.write(t)
        if entries:
            self._last = entries[-1]

    def note(self, text: str, style: str = "bold") -> None:
        """A line from the TUI itself (an action's result)."""
        self.write(Text(text, style=style))
