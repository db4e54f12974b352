"""Screen 2, episodes: browse with the filters of ``lwd episodes list``, show one with its audit
trail and policy/human timeline, label and relabel with a note. Everything goes through the hub."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from lwd_core.protocol.messages import EpisodeDetail, EpisodeInfo
from lwd_core.store.interventions import DEFAULT_PRE_INTERVENTION_K
from ui.tui.dialogs import NoteDialog
from ui.tui.episode_filters import FilterError, parse_filters
from ui.tui.fleet_screen import WIDE
from ui.tui.panes import StatusBar

OUTCOME_STYLE = {"success": "green", "failure": "red", "unlabeled": "grey62"}
# (key, title, priority: higher is dropped first at narrow widths)
EPISODE_COLUMNS = (("episode", "episode", 0), ("robot", "robot", 1), ("task", "task", 2), ("outcome", "outcome", 0),
                   ("steps", "steps", 3), ("human", "human", 3), ("ver", "ver", 4), ("ended", "ended", 2),
                   ("by", "by", 5))


def when(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%m-%d %H:%M:%S") if t else "-"


def episode_cells(e: EpisodeInfo) -> dict[str, str]:
    return {"episode": e.episode_id, "robot": e.robot_id, "task": e.task, "outcome": e.outcome,
            "steps": str(e.steps), "human": f"{100 * e.human_steps / e.steps:.0f}%" if e.steps else "-",
            "ver": ",".join(f"v{v}" for v in e.policy_versions) or "-", "ended": when(e.ended_at),
            "by": e.labelled_by or "-"}


def timeline(d: EpisodeDetail, width: int) -> Text:
    """The episode as a bar: policy ─, human █, the K policy steps before a takeover ▒."""
    n = max(d.episode.steps, max((s.end_step for s in d.interventions), default=0), 1)
    width = max(10, width)
    src = ["policy"] * width
    for s in d.interventions:
        a, b = s.start_step * width // n, max(s.start_step * width // n + 1, s.end_step * width // n)
        pre = max(0, s.start_step - DEFAULT_PRE_INTERVENTION_K) * width // n
        for i in range(pre, min(a, width)):
            if src[i] == "policy":
                src[i] = "pre"
        for i in range(a, min(b, width)):
            src[i] = "human"
    t = Text()
    for kind in src:
        t.append({"policy": "─", "human": "█", "pre": "▒"}[kind],
                 style={"policy": "green3", "human": "medium_purple1", "pre": "yellow"}[kind])
    return t


class EpisodesScreen(Screen):
    AUTO_FOCUS = "#episodes"
    BINDINGS = [
        Binding("slash", "focus_filter", "filters"),
        Binding("escape", "focus_table", "table", show=False),
        Binding("s", "label('success')", "label", key_display="s/f/u"),
        Binding("f", "label('failure')", "failure", show=False),
        Binding("u", "label('unlabeled')", "unlabel", show=False),
        Binding("r", "reload", "reload"),
    ]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.episodes: list[EpisodeInfo] = []
        self.detail: EpisodeDetail | None = None
        self.filters: dict = {"status": "ended"}  # what can be labelled; the filter line shows it
        self.message = ""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Input("status=ended", placeholder="filters: task= robot= outcome= status= version= since=2h limit=",
                    id="ep-filter")
        yield DataTable(id="episodes", cursor_type="row")
        with VerticalScroll(id="ep-detail-box"):
            yield Static("", id="ep-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#episodes").border_title = "episodes"
        self.query_one("#ep-detail-box").border_title = "episode"
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def refresh_view(self) -> None:
        self.set_class((self.size.width or self.app.size.width) < WIDE, "narrow")
        self.query_one(StatusBar).show(self.app.view, self.app.wall_clock(), self.app.muted, self.size.width or 80)

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < WIDE, "narrow")
        self.show_list()

    # --- data (hub calls run off the UI thread) ---------------------------------------------------

    def reload(self) -> None:
        self.refresh_view()
        self.app.call_hub(lambda link: link.list_episodes(**{"limit": 100, **self.filters}), self._listed)

    def _listed(self, result) -> None:
        if isinstance(result, Exception):
            self.message = f"could not list episodes: {result}"
            self.episodes = []
        else:
            self.episodes = list(result)
            self.message = ""
        self.show_list()
        if self.episodes and self.detail is None:
            self.open(self.episodes[0].episode_id)
        elif self.detail is not None:
            self.open(self.detail.episode.episode_id)
        else:
            self.show_detail()

    def open(self, episode_id: str) -> None:
        self.app.call_hub(lambda link: link.show_episode(episode_id), self._shown)

    def _shown(self, result) -> None:
        if isinstance(result, Exception):
            self.message = str(result)
        else:
            self.detail = result
        self.show_detail()

    # --- rendering --------------------------------------------------------------------------------

    def show_list(self) -> None:
        table = self.query_one("#episodes", DataTable)
        width = (self.size.width or 80) if self.has_class("narrow") else (self.size.width or 80) // 2
        rows = [episode_cells(e) for e in self.episodes]
        widths = {k: max([len(t)] + [len(r[k]) for r in rows]) for k, t, _ in EPISODE_COLUMNS}
        cols = list(EPISODE_COLUMNS)
        for col in sorted(EPISODE_COLUMNS, key=lambda c: -c[2]):
            if sum(widths[k] + 2 for k, _, _ in cols) <= width - 3 or col[2] == 0:
                break
            cols.remove(col)
        selected = self.detail.episode.episode_id if self.detail else None
        table.clear(columns=True)
        for k, title, _ in cols:
            table.add_column(title, key=k, width=widths[k])
        for e, r in zip(self.episodes, rows, strict=True):
            table.add_row(*[Text(r[k], style=OUTCOME_STYLE[e.outcome] if k == "outcome" else "") for k, _, _ in cols],
                          key=e.episode_id)
        ids = [e.episode_id for e in self.episodes]
        if selected in ids:
            table.move_cursor(row=ids.index(selected), scroll=False)

    def show_detail(self) -> None:
        box = self.query_one("#ep-detail", Static)
        t = Text()
        if self.message:
            t.append(self.message + "\n", style="bold red")
        d = self.detail
        if d is None:
            t.append("no episode selected" if self.episodes or self.message else "no episodes match", style="grey62")
            box.update(t)
            return
        e = d.episode
        t.append(f"{e.episode_id}", style="bold")
        t.append(f"  {e.robot_id} · {e.task} · {e.status}")
        t.append(f" ({e.end_reason})" if e.end_reason else "")
        t.append("\noutcome ")
        t.append(e.outcome.upper(), style="bold " + OUTCOME_STYLE[e.outcome])
        t.append(f" by {e.labelled_by}" if e.labelled_by else "")
        t.append(f"\n{e.steps} steps, {e.human_steps} human · versions "
                 f"{', '.join(f'v{v}' for v in e.policy_versions) or '-'} · {when(e.started_at)} → {when(e.ended_at)}\n")
        width = max(20, (self.query_one("#ep-detail-box").size.width or 40) - 4)
        t.append_text(timeline(d, width))
        t.append("\n─ policy  ", style="green3")
        t.append("█ human  ", style="medium_purple1")
        t.append(f"▒ {DEFAULT_PRE_INTERVENTION_K} steps before a takeover\n", style="yellow")
        for s in d.interventions:
            t.append(f"  human {s.start_step}-{s.end_step} {s.operator}\n", style="grey70")
        t.append("audit trail" + ("" if d.audit else ": no label yet") + "\n", style="bold")
        for a in d.audit:
            t.append(f"  {when(a.at)} {a.who}: {a.old} → ")
            t.append(a.new, style=OUTCOME_STYLE.get(a.new, ""))
            t.append(f"  “{a.note}”\n" if a.note else "\n")
        if e.notes:
            t.append(f"notes: {e.notes}\n")
        box.update(t)

    # --- events and actions -------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != event.data_table.cursor_row:
            return  # stale: a list rebuild highlights row 0 before the cursor goes back to the
            # shown episode; following it jumped the detail to the newest episode on every reload
        if event.row_key is not None and event.row_key.value and (
                self.detail is None or self.detail.episode.episode_id != event.row_key.value):
            self.open(str(event.row_key.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.filters = parse_filters(event.value, self.app.wall_clock())
        except FilterError as e:
            self.message = str(e)
            self.show_detail()
            return
        self.detail = None
        self.reload()
        self.query_one("#episodes").focus()

    def action_focus_filter(self) -> None:
        self.query_one("#ep-filter").focus()

    def action_focus_table(self) -> None:
        self.query_one("#episodes").focus()

    def action_reload(self) -> None:
        self.reload()

    def action_label(self, outcome: str) -> None:
        d = self.detail
        if d is None:
            return
        e = d.episode
        verb = "relabel" if e.outcome != "unlabeled" else "label"

        def done(note: str | None) -> None:
            if note is not None:
                self.app.call_hub(lambda link: link.relabel(e.episode_id, outcome, note), self._labelled)

        self.app.push_screen(NoteDialog(f"{verb} {e.episode_id}: {e.outcome} → {outcome.upper()}"), done)

    def _labelled(self, result) -> None:
        if isinstance(result, Exception) or not getattr(result, "ok", False):
            self.message = f"label refused: {getattr(result, 'error', result)}"
            self.show_detail()
            return
        self.app.view.labelled(self.detail.episode.episode_id)
        # the hub applies labels in order on its recorder thread: ask again shortly
        self.set_timer(0.3, self.reload)
