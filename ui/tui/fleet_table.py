"""The fleet table: one row per robot, cells updated in place, columns dropped by priority.

Repainting a 100-robot table every refresh would flicker and cost; instead the table remembers
every cell's text and style and calls ``update_cell`` only for cells that changed. Rows are
rebuilt only when the set or order of robots changes (filter, sort, a robot joining), columns
only when the width asks for another set or a value outgrew its column (values are never cut).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from lwd_operator.fleet_view import COLUMN_BY_KEY, FleetRow, filter_rows, fit_columns, sort_rows

STATE_STYLE = {
    "help": "bold red",
    "stopped": "bold dark_orange",
    "offline": "grey50",
    "stalled": "yellow",
    "you": "bold dodger_blue1",
    "human": "medium_purple1",
    "policy": "",
    "idle": "grey62",
}
"""Row colour by state; the mode column repeats the state in words (never colour alone)."""

PILL_STYLE = {
    "help": "bold white on red3",
    "stopped": "bold black on dark_orange",
    "offline": "bold white on grey39",
    "stalled": "bold black on yellow3",
    "you": "bold white on dodger_blue3",
    "human": "bold white on medium_purple3",
    "policy": "bold black on green3",
    "idle": "black on grey62",
}

CELL_PAD = 2  # DataTable pads each cell by one character on either side


class FleetTable(DataTable):
    """Shows ``FleetRow`` s; call ``show(rows)`` on every refresh."""

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.filter_text = ""
        self.sort_key = "robot"
        self.sort_reverse = False
        self._cols: list[tuple[str, int]] = []
        self._order: list[str] = []
        self._cells: dict[tuple[str, str], tuple[str, str]] = {}
        self.shown: list[FleetRow] = []
        self.rebuilds = 0
        """Row rebuilds so far (the benchmark reports them; in-place updates do not count)."""

    @property
    def selected_robot(self) -> str | None:
        if not self._order or self.cursor_row is None or not (0 <= self.cursor_row < len(self._order)):
            return None
        return self._order[self.cursor_row]

    def select_robot(self, robot_id: str) -> bool:
        if robot_id in self._order:
            self.move_cursor(row=self._order.index(robot_id))
            return True
        return False

    def show(self, rows: list[FleetRow], width: int | None = None) -> None:
        rows = sort_rows(filter_rows(rows, self.filter_text), self.sort_key, self.sort_reverse)
        self.shown = rows
        width = width if width is not None else (self.size.width or 80)
        longest = {c.key: max((len(c.text(r)) for r in rows), default=0) for c in COLUMN_BY_KEY.values()}
        cols = fit_columns(width - 1, gap=CELL_PAD, widths=longest)
        spec = [(c.key, max(c.width, len(c.title), longest[c.key])) for c in cols]
        if spec != self._cols:
            selected = self.selected_robot
            self.clear(columns=True)
            for key, w in spec:
                c = COLUMN_BY_KEY[key]
                title = c.title + ("▼" if self.sort_reverse else "▲") * (key == self.sort_key)
                self.add_column(Text(title, justify=c.align), width=max(w, len(title)), key=key)
            self._cols, self._order, self._cells = spec, [], {}
            self._keep = selected
        ids = [r.robot_id for r in rows]
        if ids != self._order:
            self._rebuild(rows)
            return
        for r in rows:
            for key, _ in self._cols:
                text, style = self._cell(r, key)
                if self._cells.get((r.robot_id, key)) != (text, style):
                    self._cells[(r.robot_id, key)] = (text, style)
                    self.update_cell(r.robot_id, key, Text(text, style=style, justify=COLUMN_BY_KEY[key].align))

    def _cell(self, r: FleetRow, key: str) -> tuple[str, str]:
        text = COLUMN_BY_KEY[key].text(r)
        style = PILL_STYLE[r.state] if key == "mode" else STATE_STYLE[r.state]
        return text, style

    def _rebuild(self, rows: list[FleetRow]) -> None:
        selected = getattr(self, "_keep", None) or self.selected_robot
        self._keep = None
        self.clear()
        self._cells = {}
        for r in rows:
            cells = []
            for key, _ in self._cols:
                text, style = self._cell(r, key)
                self._cells[(r.robot_id, key)] = (text, style)
                cells.append(Text(text, style=style, justify=COLUMN_BY_KEY[key].align))
            self.add_row(*cells, key=r.robot_id)
        self._order = [r.robot_id for r in rows]
        self.rebuilds += 1
        if selected in self._order:
            self.move_cursor(row=self._order.index(selected), scroll=False)

    def set_sort(self, key: str) -> None:
        """Sort by ``key``; choosing the current key again reverses the order."""
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._cols = []  # the header arrow moves
