"""Screen 3, learning: success and intervention rate against cumulative fleet steps (overall and
per task), the learner's state, the policy versions in use and the rollout actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from lwd_operator.fleet_view import fmt_pct, learning_series, sparkline, versions_in_use
from ui.tui.panes import StatusBar

ROLLOUT_CALLS = ("promote", "rollback", "pin")


def steps_text(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else str(n)


class LearningScreen(Screen):
    BINDINGS = [Binding("r", "reload", "reload")]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.curves = None
        self.message = "asking the hub for curves…"

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with VerticalScroll(id="learning-box"):
            yield Static("", id="learning")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#learning-box").border_title = "learning"
        self.reload()
        if self.app.live:
            self.set_interval(10.0, self.reload)

    def on_screen_resume(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.app.call_hub(lambda link: link.curves(points=60), self._got)

    def _got(self, result) -> None:
        if isinstance(result, Exception):
            self.message = f"no curves: {result}"
        else:
            self.curves, self.message = result, ""
        self.refresh_view()

    def refresh_view(self) -> None:
        width = self.size.width or self.app.size.width or 80
        self.query_one(StatusBar).show(self.app.view, self.app.wall_clock(), self.app.muted, width)
        self.query_one("#learning", Static).update(self.render_text(width - 4))

    def render_text(self, width: int) -> Text:
        t = Text()
        link = self.app.link
        t.append("learner  ", style="bold")
        t.append("this hub reports no learner state yet\n", style="grey62")
        t.append("policy versions in use\n", style="bold")
        for u in versions_in_use(self.app.view.rows):
            ids = " ".join(u.robots)
            t.append(f"  v{u.version:<4} {u.policy:<8} {len(u.robots):>3} robots  ")
            t.append(ids + "\n", style="grey70")
        if all(callable(getattr(link, c, None)) for c in ROLLOUT_CALLS):
            t.append("  rollout: p promote · b roll back · i pin (on the Learning screen)\n", style="grey70")
        else:
            t.append("  promote / roll back / pin: disabled, the hub client has no rollout API yet\n", style="grey50")
        if self.message:
            t.append(f"\n{self.message}\n", style="yellow")
        series = learning_series(self.curves)
        if not series:
            if not self.message:
                t.append("\nno ended robot episodes yet\n", style="grey62")
            return t
        total = self.curves.total_steps
        name_w = min(24, max(len(s.group) for s in series))
        # name, episodes, two sparklines with their latest value
        spark_w = max(8, (width - name_w - 6 - 2 * 6 - 4) // 2)
        t.append(f"\nagainst cumulative fleet steps (0 → {steps_text(total)})\n", style="bold")
        t.append(f"{'':{name_w}} {'eps':>5}  {'success':<{spark_w}} {'last':>4}  {'interventions':<{spark_w}} {'last':>4}\n",
                 style="grey70")
        for s in series:
            t.append(f"{s.group:{name_w}} ", style="bold" if s.group == "all" else "")
            t.append(f"{s.episodes:>5}  ")
            t.append(f"{sparkline(s.success, spark_w):<{spark_w}}", style="green3")
            t.append(f" {fmt_pct(s.last_success):>4}  ")
            t.append(f"{sparkline(s.intervention, spark_w):<{spark_w}}", style="medium_purple1")
            t.append(f" {fmt_pct(s.last_intervention):>4}\n")
        t.append("success = successes / labelled episodes per window; interventions = human steps / steps\n",
                 style="grey50")
        return t
