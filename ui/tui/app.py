"""The LWD TUI application: screens, the refresh loop, and every hub action.

The app holds no fleet state of its own: it renders ``FleetView`` (the model the console also
renders), refreshed from the client a few times a second, and every action is a ``HubClient``
call made off the UI thread so a slow hub never freezes the screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen

from lwd_operator.config import TuiConfig
from lwd_operator.fleet_view import FleetView, FleetViewConfig, learner_state
from ui.tui.dialogs import HelpScreen
from ui.tui.episodes_screen import EpisodesScreen
from ui.tui.fleet_screen import FleetScreen
from ui.tui.learning_screen import LearningScreen

LEARNER_POLL_S = 3.0
"""Seconds between the status bar's learner polls (the learner reports every few seconds)."""


class LwdTui(App):
    """``link``: a started ``HubClient`` (or anything with its calls, e.g. ``SampleHub``).

    ``live``: refresh from the link on a timer and make hub calls in threads; off, the app shows
    ``view`` as it is and makes calls inline (deterministic screenshots and snapshot tests).
    """

    CSS_PATH = "tui.tcss"
    TITLE = "LWD"
    MODES = {"fleet": FleetScreen, "episodes": EpisodesScreen, "learning": LearningScreen}
    DEFAULT_MODE = "fleet"
    BINDINGS = [
        Binding("1", "switch_mode('fleet')", "screens", key_display="1-3"),
        Binding("2", "switch_mode('episodes')", "episodes", show=False),
        Binding("3", "switch_mode('learning')", "learning", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, link, *, operator: str = "", config: TuiConfig | None = None, view: FleetView | None = None,
                 live: bool = True, wall_clock: Callable[[], float] = time.time,
                 on_tick: Callable[[], object] | None = None):
        super().__init__()
        self.link = link
        self.cfg = config or TuiConfig()
        self.operator = operator or getattr(link, "operator", "")
        self.view = view or FleetView(self.operator, FleetViewConfig(recent_episodes=self.cfg.recent_episodes,
                                                                     stall_s=self.cfg.stall_s))
        self.live = live
        self.wall_clock = wall_clock
        self.muted = not self.cfg.bell
        self.view.set_muted(self.muted)
        self.bells = 0
        """Terminal bells rung so far (tests read it)."""
        self._watched: set[str] = set()
        self._on_tick = on_tick
        self.fleet_screen = None
        """The fleet screen once mounted (mode screens are not reachable by name)."""
        self.learner_short = ""
        """The learner's word for the status bar ('learner ● 41 200 updates'; '' when the hub
        knows no learner)."""

    def on_mount(self) -> None:
        self.poll_learner()
        if self.live:
            self.view.attach(self.link)
            self.call_hub(lambda link: link.subscribe(hz=max(self.cfg.refresh_hz, 1.0)), lambda _r: None)
            self.set_interval(1.0 / max(self.cfg.refresh_hz, 0.5), self.tick)
            self.set_interval(LEARNER_POLL_S, self.poll_learner)

    def poll_learner(self) -> None:
        """Fetch the learner's state for the status bar (history-free: a few hundred bytes)."""
        if not callable(getattr(self.link, "learner_status", None)):
            return

        def got(result) -> None:
            st = None if isinstance(result, Exception) else learner_state(result)
            self.learner_short = st.short if st is not None and st.state != "none" else ""

        self.call_hub(lambda link: link.learner_status(history=0), got)

    def tick(self) -> None:
        """One refresh: apply what the client received, ring for alerts, repaint the screen."""
        if self._on_tick is not None:
            self._on_tick()
        self.view.refresh()
        for r in self.view.rows:
            if r.robot_id not in self._watched:
                self._watched.add(r.robot_id)
                self.link.watch_frames(r.robot_id)  # frame age needs the newest frame of each robot
        if self.view.take_sounds() and not self.muted:
            self.bells += 1
            self.bell()
        screen = self.screen
        if not screen.is_mounted or not screen.is_attached:
            return
        try:
            if isinstance(screen, FleetScreen):
                screen.refresh_view()
            elif isinstance(screen, EpisodesScreen | LearningScreen):  # they fetch on their own
                screen.query_one("#status").show(self.view, self.wall_clock(), self.muted, self.size.width)
        except NoMatches:
            pass  # the screen is being torn down (quit) between the check and the query

    # --- hub calls ----------------------------------------------------------------------------------

    def call_hub(self, call: Callable, then: Callable) -> None:
        """``then(call(link))`` on the UI thread; an exception is passed to ``then`` instead."""
        if not self.live:
            try:
                result = call(self.link)
            except Exception as e:  # shown to the operator by ``then``
                result = e
            then(result)
            return

        def work() -> None:
            try:
                result = call(self.link)
            except Exception as e:
                result = e
            self.call_from_thread(then, result)

        self.run_worker(work, thread=True, group="hub", exit_on_error=False)

    def note(self, text: str, style: str = "bold") -> None:
        """Say something in the fleet screen's log (and as a toast)."""
        screen = self.fleet_screen
        if screen is not None and screen.is_mounted:
            screen.query_one("#log").note(f"{time.strftime('%H:%M:%S')} {text}", style)
        self.notify(text, timeout=4)

    def _reply(self, what: str) -> Callable:
        def then(rep) -> None:
            ok = not isinstance(rep, Exception) and getattr(rep, "ok", False)
            err = str(rep) if isinstance(rep, Exception) else getattr(rep, "error", "")
            self.note(what if ok else f"{what.split(':')[0]} refused: {err}", "bold" if ok else "bold red")
            self.tick() if self.live else None
        return then

    def label(self, robot_id: str, episode_id: str, outcome: str, note: str = "") -> None:
        self.view.labelled(episode_id)
        self.call_hub(lambda link: link.label(robot_id, episode_id, outcome, note),
                      self._reply(f"{episode_id}: labelled {outcome}"))

    def safe_stop(self, robot_id: str) -> None:
        """Take the robot and send nothing: it holds still under this operator's name until given
        back (and its deadman keeps it stopped if this TUI goes away)."""
        row = self.view.row(robot_id)
        if row is not None and row.state == "you":
            self.note(f"{robot_id} is already held still by you; g gives it back")
            return
        self.call_hub(lambda link: link.take(robot_id),
                      self._reply(f"{robot_id}: SAFE STOP, held still by you (g gives it back to its policy)"))

    def give(self, robot_id: str) -> None:
        self.call_hub(lambda link: link.give(robot_id), self._reply(f"{robot_id}: given back to its policy"))

    def toggle_mute(self) -> None:
        self.muted = not self.muted
        self.view.set_muted(self.muted)
        self.note("bell muted" if self.muted else "bell on")

    # --- screens, help, command palette --------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Fleet", "the fleet table, attention queue and alerts (1)", lambda: self.switch_mode("fleet"))
        yield SystemCommand("Episodes", "browse, show and relabel episodes (2)", lambda: self.switch_mode("episodes"))
        yield SystemCommand("Learning", "curves, learner and policy versions (3)", lambda: self.switch_mode("learning"))
        yield SystemCommand("Mute / unmute the bell", "alerts keep showing in the log (m)", self.toggle_mute)
        yield SystemCommand("Key bindings and help", "what every key does (?)", self.action_help)
        for state in ("help", "stopped", "offline", "stalled", "you"):
            yield SystemCommand(f"Show only {state} robots", f"fleet filter state:{state}",
                                lambda s=state: self._filter_fleet(f"state:{s}"))
        if isinstance(self.screen, FleetScreen):
            yield SystemCommand("Jump to the most urgent robot", "select it in the fleet table (j)",
                                self.screen.action_jump)
            yield SystemCommand("Safe stop the selected robot", "take it and hold it still (x)", self.screen.action_stop)
            yield SystemCommand("Give back the selected robot", "to its policy (g)", self.screen.action_give)

    def _filter_fleet(self, text: str) -> None:
        self.switch_mode("fleet")
        screen = self.fleet_screen
        if screen is not None:
            f = screen.query_one("#filter")
            f.display = True
            f.value = text


def run_tui(link, *, operator: str = "", config: TuiConfig | None = None, duration: float | None = None,
            on_tick: Callable[[], object] | None = None) -> None:
    """Run the TUI on ``link`` (a started ``HubClient``) until the operator quits (or
    ``duration`` seconds pass)."""
    app = LwdTui(link, operator=operator, config=config, on_tick=on_tick)
    if duration:
        app.call_later(lambda: app.set_timer(duration, app.exit))
    app.run()
