"""Screen 3, learning: success and intervention rate against cumulative fleet steps (overall and
per task), the learner's state, the policy versions in use and the rollout actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from lwd_operator.fleet_view import (
    fmt_pct,
    learner_state,
    learning_series,
    sparkline,
    versions_in_use,
)
from ui.tui.dialogs import NoteDialog
from ui.tui.panes import StatusBar

STATUS_STYLE = {"active": "bold green3", "canary": "bold yellow", "candidate": "", "retired": "grey50",
                "rolled_back": "red"}

ROLLOUT_CALLS = ("promote", "rollback", "pin")
LEARNER_STYLE = {"online": "bold green3", "pretrain": "bold green3", "waiting": "bold yellow", "stale": "bold red"}
LOSS_POINTS = 120
"""Loss points asked for: a sparkline is at most this wide."""


def steps_text(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else str(n)


class LearningScreen(Screen):
    AUTO_FOCUS = "#versions"
    BINDINGS = [
        Binding("r", "reload", "reload"),
        Binding("p", "rollout('promote')", "promote"),
        Binding("b", "rollout('rollback')", "roll back"),
        Binding("i", "rollout('pin')", "pin"),
    ]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.curves = None
        self.versions: list | None = None
        self.message = "asking the hub for curves…"
        self.learner = learner_state(None, error="asking the hub")

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with VerticalScroll(id="learning-box"):
            yield Static("", id="learning-head")
            yield DataTable(id="versions", cursor_type="row")
            yield Static("", id="learning")
        yield Footer(compact=True)

    @property
    def has_rollout(self) -> bool:
        return all(callable(getattr(self.app.link, c, None)) for c in ROLLOUT_CALLS + ("policy_versions",))

    def on_mount(self) -> None:
        self.query_one("#learning-box").border_title = "learning"
        self.query_one("#versions").display = self.has_rollout
        self.reload()
        if self.app.live:
            self.set_interval(10.0, self.reload)
            self.set_interval(3.0, self.reload_learner)  # the learner reports every few seconds

    def on_screen_resume(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.app.call_hub(lambda link: link.curves(points=60), self._got)
        self.reload_learner()
        if self.has_rollout:
            self.app.call_hub(lambda link: link.policy_versions(), self._got_versions)

    def reload_learner(self) -> None:
        if callable(getattr(self.app.link, "learner_status", None)):
            self.app.call_hub(lambda link: link.learner_status(history=LOSS_POINTS), self._got_learner)

    def _got_learner(self, result) -> None:
        self.learner = learner_state(None, error=str(result)) if isinstance(result, Exception) else learner_state(result)
        self.refresh_view()

    def _got_versions(self, result) -> None:
        if not isinstance(result, Exception):
            self.versions = list(result)
        self.show_versions()

    def show_versions(self) -> None:
        table = self.query_one("#versions", DataTable)
        selected = self.selected_version
        table.clear(columns=True)
        titles = ("ver", "status", "parent", "step", "labelled", "success", "interv.", "robots", "note")
        rows = [(f"v{v.version}", v.status, f"v{v.parent}" if v.parent > 0 else "-", str(v.learner_step),
                 str(v.labelled), fmt_pct(v.success_rate if v.success_rate >= 0 else None),
                 fmt_pct(v.intervention_rate if v.intervention_rate >= 0 else None), " ".join(v.robots) or "-",
                 v.note or "") for v in reversed(self.versions or [])]
        for k, title in enumerate(titles):  # widths from the values: nothing is cut
            table.add_column(title, key=title, width=max([len(title)] + [len(r[k]) for r in rows]))
        for v, r in zip(reversed(self.versions or []), rows, strict=True):
            table.add_row(r[0], Text(r[1], style=STATUS_STYLE.get(r[1], "")), *r[2:], key=str(v.version))
        ids = [str(v.version) for v in reversed(self.versions or [])]
        if selected is not None and str(selected) in ids:
            table.move_cursor(row=ids.index(str(selected)), scroll=False)

    @property
    def selected_version(self) -> int | None:
        table = self.query_one("#versions", DataTable)
        if not table.row_count or table.cursor_row is None:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        return int(key) if key else None

    def action_rollout(self, action: str) -> None:
        """Promote, roll back or pin the selected version, after asking why (and for a pin, which
        robot: the first word of the answer). Esc cancels."""
        version = self.selected_version
        if not self.has_rollout:
            self.app.note("rollout actions are not available from this hub client")
            return
        if version is None:
            self.app.note("select a version first (↑/↓)")
            return
        ask = {"promote": f"PROMOTE v{version} to active for the fleet: why?",
               "rollback": f"ROLL BACK v{version}: why?",
               "pin": f"PIN a robot to v{version}: robot id, then why (e.g. 'r03 compare')"}[action]

        def done(answer: str | None) -> None:
            if answer is None:
                return
            if action == "pin":
                robot, _, why = answer.strip().partition(" ")
                if not robot:
                    self.app.note("a pin needs a robot id")
                    return
                call = lambda link: link.pin(robot, version, why=why)  # noqa: E731
            elif action == "promote":
                call = lambda link: link.promote(version, why=answer)  # noqa: E731
            else:
                call = lambda link: link.rollback(version, why=answer)  # noqa: E731

            def then(rep) -> None:
                ok = not isinstance(rep, Exception) and rep.ok
                err = str(rep) if isinstance(rep, Exception) else rep.error
                self.app.note(f"v{version}: {action} done" if ok else f"v{version}: {action} refused: {err}",
                              "bold" if ok else "bold red")
                self.reload()

            self.app.call_hub(call, then)

        self.app.push_screen(NoteDialog(ask), done)

    def _got(self, result) -> None:
        if isinstance(result, Exception):
            self.message = f"no curves: {result}"
        else:
            self.curves, self.message = result, ""
        self.refresh_view()

    def refresh_view(self) -> None:
        width = self.size.width or self.app.size.width or 80
        self.query_one(StatusBar).show(self.app.view, self.app.wall_clock(), self.app.muted, width)
        self.query_one("#learning-head", Static).update(self.head_text())
        # The box scrolls to the versions table: its border keeps the learner in sight.
        self.query_one("#learning-box").border_subtitle = (
            self.learner.line if len(self.learner.line) <= width - 6 else self.learner.short)
        self.query_one("#learning", Static).update(self.render_text(width - 4))

    def head_text(self) -> Text:
        t = Text()
        link = self.app.link
        fleet = getattr(link, "latest_fleet", None)
        ro = getattr(fleet, "rollout", None)
        lrn = self.learner
        t.append(lrn.line + "\n", style=LEARNER_STYLE.get(lrn.state, "grey62"))
        if lrn.detail:
            t.append(f"  {lrn.detail}\n", style="grey70")
        if ro is not None:
            t.append("rollout  ", style="bold")
            t.append(f"active v{ro.active}" if ro.active else "no active version")
            if ro.canary:
                t.append(f" · canary v{ro.canary} on {', '.join(ro.canary_robots) or '-'}", style="yellow")
            if ro.state == "awaiting_approval":
                t.append(" · AWAITING YOUR APPROVAL (p)", style="bold yellow")
            if ro.verdict:
                t.append(f" · {ro.verdict}", style="grey70")
            if ro.pinned:
                t.append(" · pinned " + ", ".join(f"{r}→v{v}" for r, v in sorted(ro.pinned.items())))
            t.append("\n")
        t.append("policy versions in use\n", style="bold")
        for u in versions_in_use(self.app.view.rows):
            t.append(f"  v{u.version:<4} {u.policy:<8} {len(u.robots):>3} robots  ")
            t.append(" ".join(u.robots) + "\n", style="grey70")
        if self.has_rollout:
            t.append("versions: ↑↓ select · p promote · b roll back · i pin a robot", style="grey70")
        else:
            t.append("promote / roll back / pin: disabled, the hub client has no rollout API\n", style="grey50")
        return t

    def render_text(self, width: int) -> Text:
        t = self.curves_text(width)
        t.append(self.losses_text(width))
        return t

    def curves_text(self, width: int) -> Text:
        t = Text()
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

    def losses_text(self, width: int) -> Text:
        """The learner's terms, losses first: name, sparkline against updates (each over its
        own range), last value."""
        t = Text()
        curves = self.learner.curves
        if not curves:
            if self.learner.losses_line:
                t.append(f"\nlast losses  {self.learner.losses_line}\n")
            return t
        name_w = min(16, max(len(c.name) for c in curves))
        spark_w = max(8, min(width - name_w - 12, max(len(c.values) for c in curves)))
        first, last = min(c.updates[0] for c in curves if c.updates), max(c.updates[-1] for c in curves if c.updates)
        t.append(f"\nlearner terms against updates ({steps_text(first)} → {steps_text(last)})\n", style="bold")
        for c in curves:
            t.append(f"{c.name[:name_w]:{name_w}} ", style="bold" if "loss" in c.name else "grey70")
            t.append(f"{c.spark(spark_w):<{spark_w}}", style="dark_orange" if "loss" in c.name else "grey50")
            t.append(f" {c.last:>9.3g}\n" if c.last is not None else "\n")
        for name in self.learner.nonfinite:
            t.append(f"{name[:name_w]:{name_w}} NaN or infinite at the last update\n", style="bold red")
        return t
