"""Modal screens: help, a note for a label, one robot's full row."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from lwd_operator.fleet_view import COLUMNS, FleetRow, RobotSummary, fmt_pct

HELP = """\
[b]LWD TUI[/b]: watch the fleet, answer alerts, label episodes, follow learning.

[b]Screens[/b]  1 fleet · 2 episodes · 3 learning · ? help · ctrl+p commands · q quit

[b]Fleet[/b]
  ↑ ↓      select a robot            enter  its full row, uncut
  j        jump to the most urgent robot in the attention queue
  /        filter: words (push, v12, op-2) or state:help   esc  clear
  o  O     sort by the next column / reverse (or click a header)
  s  f     label the selected robot's last ended episode success / failure
  x        SAFE STOP: take the selected robot and hold it still
  g        give a robot you hold back to its policy
  m        mute / unmute the bell

[b]Episodes[/b]
  /        filters as in `lwd episodes list`: task= robot= outcome=
           status= version= since=2h limit=
  ↑ ↓      show an episode: audit trail, policy/human timeline
  s f u    label or relabel success / failure / unlabeled, with a note

[b]Learning[/b]
  ↑ ↓      select a policy version       r  reload versions and curves
  p  b  i  promote / roll back the selected version, pin a robot to it
           (each asks why; a pin asks for the robot id first: 'r03 why')

[b]Takeover from the terminal is out of scope.[/b] Driving a robot needs the
console (keyboard, SpaceMouse, gamepad, live cameras). Here you can only
STOP a robot (x: held still under your name; if the TUI quits, its
deadman keeps it stopped) and GIVE back one you hold (g).

Rows have a colour AND a word: HELP, STOPPED, OFFLINE, STALLED, YOU,
HUMAN <name>, POLICY, IDLE. Queue: ! needs a person now, · look soon;
ended episodes waiting for a label sit at the bottom.
"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP, id="help-text")


class NoteDialog(ModalScreen[str | None]):
    """Asks for an optional note; Enter gives it, Esc cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str):
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="note-box"):
            yield Static(self.title_text)
            yield Input(placeholder="note (optional), enter to save, esc to cancel", id="note-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RobotDetail(ModalScreen):
    """Every value of one robot's row, uncut, and its recent episodes."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "close")]

    def __init__(self, row: FleetRow, summary: RobotSummary, to_label: list):
        super().__init__()
        self.row, self.summary, self.pending = row, summary, to_label

    def compose(self) -> ComposeResult:
        r, s = self.row, self.summary
        t = Text()
        t.append(f"{r.robot_id}  {r.pill}\n", style="bold")
        for c in COLUMNS:
            t.append(f"{c.title:>9}  {c.text(r)}\n")
        t.append(f"{'episode':>9}  {r.episode_id}\n{'policy':>9}  {r.policy} v{r.policy_version}\n")
        t.append(f"{'jit p50':>9}  {r.jitter_p50_ms:.1f} ms\n")
        t.append(f"\nlast {s.recent} episodes: success {fmt_pct(s.success_rate)}, interventions "
                 f"{fmt_pct(s.intervention_rate)}, mean {s.mean_steps or 0:.0f} steps\n")
        if self.pending:
            t.append("to label: " + ", ".join(e.episode_id for e in self.pending[:5]) + "\n")
        yield Static(t, id="detail-box")
