"""Screen 1, the fleet: status bar, attention queue, fleet table, alert log."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input

from lwd_operator.fleet_view import COLUMNS
from ui.tui.dialogs import NoteDialog, RobotDetail
from ui.tui.fleet_table import FleetTable
from ui.tui.panes import AlertLog, AttentionPane, StatusBar

WIDE = 140
"""From this many columns the attention queue and alert log sit beside the table; below, they
stack above and below it so the table keeps the full width (80 columns hold its key columns)."""


class FleetScreen(Screen):
    BINDINGS = [
        Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear", show=False),
        Binding("j", "jump", "jump"),
        Binding("enter", "detail", "row", show=False),
        Binding("s", "label('success')", "label", key_display="s/f"),
        Binding("f", "label('failure')", "failure", show=False),
        Binding("x", "stop", "STOP"),
        Binding("g", "give", "give"),
        Binding("o", "sort(1)", "sort", show=False),
        Binding("O", "sort(-1)", "sort back", show=False),
        Binding("m", "mute", "mute", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield AttentionPane(id="attention")
        yield FleetTable(id="fleet")
        yield AlertLog(id="log")
        yield Input(placeholder="filter: words to match (state:help, push, v12, op-2); esc clears", id="filter")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.fleet_screen = self  # the app writes action results into this screen's log
        self.query_one("#attention").border_title = "attention"
        self.query_one("#fleet").border_title = "fleet"
        self.query_one("#log").border_title = "alerts"
        self.refresh_view()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < WIDE, "narrow")
        self.refresh_view()

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def refresh_view(self) -> None:
        app = self.app
        view = app.view
        width = self.size.width or app.size.width
        narrow = width < WIDE
        self.set_class(narrow, "narrow")
        self.query_one(StatusBar).show(view, app.wall_clock(), app.muted, width)
        height = self.size.height or app.size.height
        self.query_one(AttentionPane).show(view, 4 if narrow else max(4, height // 2 - 3))
        table = self.table
        table_width = (width if narrow else width - 44) - 2
        table.show(view.rows, table_width)
        self.query_one(AlertLog).show(view)

    # --- actions ---------------------------------------------------------------------------------

    def action_filter(self) -> None:
        f = self.query_one("#filter", Input)
        f.display = True
        f.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.filter_text = event.value
            self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    def action_clear_filter(self) -> None:
        f = self.query_one("#filter", Input)
        f.value = ""
        f.display = False
        self.table.filter_text = ""
        self.table.focus()
        self.refresh_view()

    def action_sort(self, step: int) -> None:
        keys = [c.key for c in COLUMNS]
        t = self.table
        if step < 0:
            t.set_sort(t.sort_key)  # same key: reverse
        else:
            t.set_sort(keys[(keys.index(t.sort_key) + 1) % len(keys)])
        self.refresh_view()

    def on_fleet_table_header_selected(self, event: FleetTable.HeaderSelected) -> None:
        self.table.set_sort(event.key)
        self.refresh_view()

    def action_jump(self) -> None:
        item = self.app.view.most_urgent()
        if item is None:
            self.app.note("nothing needs you")
            return
        if not self.table.select_robot(item.robot_id):
            self.action_clear_filter()
            self.table.select_robot(item.robot_id)
        self.table.focus()

    def on_fleet_table_row_selected(self, event: FleetTable.RowSelected) -> None:
        self.action_detail()  # enter on the table: the row, uncut

    def action_detail(self) -> None:
        rid = self.table.selected_robot
        row = self.app.view.row(rid) if rid else None
        if row is not None:
            self.app.push_screen(RobotDetail(row, self.app.view.robot_summary(rid), self.app.view.to_label(rid)))

    def action_label(self, outcome: str) -> None:
        rid = self.table.selected_robot
        if rid is None:
            return
        pending = self.app.view.to_label(rid)
        if not pending:
            self.app.note(f"{rid} has no ended episode waiting for a label (see 2 episodes)")
            return
        ep = pending[0]

        def done(note: str | None) -> None:
            if note is not None:
                self.app.label(ep.robot_id, ep.episode_id, outcome, note)

        self.app.push_screen(NoteDialog(f"label {ep.episode_id} of {rid} as {outcome.upper()}"), done)

    def action_stop(self) -> None:
        rid = self.table.selected_robot
        if rid is not None:
            self.app.safe_stop(rid)

    def action_give(self) -> None:
        rid = self.table.selected_robot
        if rid is not None:
            self.app.give(rid)

    def action_mute(self) -> None:
        self.app.toggle_mute()
