"""The fleet table: one line per robot, repainted only where its text changed.

Built on Textual's line API instead of ``DataTable``: a DataTable re-renders every visible cell
after any cell update, so a refresh at 160x48 with 100 robots cost ~145 ms of CPU. Here each
row's text is computed (cheap strings), compared with what the line showed last time, and only
lines that changed *and* are on screen are marked dirty; Textual then calls ``render_line`` for
those lines alone, which builds the row's ``Strip`` once and caches it. Off-screen rows cost a
string comparison. Columns are dropped by priority to fit the width (values are never cut); the
header stays on the first line while the rows scroll under it.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

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

CELL_PAD = 2  # one blank on either side of every cell

_STYLES = {name: Style.parse(s) for name, s in STATE_STYLE.items()}
_PILLS = {name: Style.parse(s) for name, s in PILL_STYLE.items()}

Line = tuple[str, str, tuple[str, ...]]
"""What one row shows: (robot id, state, cell texts); equal lines paint identically."""


class FleetTable(ScrollView, can_focus=True):
    """Shows ``FleetRow`` s; call ``show(rows, width)`` on every refresh.

    Guarantees: a row's line is repainted only when its text, state or selection changed, or
    the view scrolled or was resized; the selection follows its robot through sorting,
    filtering and robots joining or leaving.
    """

    COMPONENT_CLASSES = {"fleet-table--header", "fleet-table--cursor"}
    DEFAULT_CSS = """
    FleetTable { background: $surface; overflow-x: hidden; scrollbar-size-vertical: 1; }
    FleetTable:focus { background-tint: $foreground 5%; }
    FleetTable > .fleet-table--header { text-style: bold; background: $panel; }
    FleetTable:focus > .fleet-table--header { background-tint: $foreground 5%; }
    FleetTable > .fleet-table--cursor {
        background: $block-cursor-blurred-background; color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    FleetTable:focus > .fleet-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor(-1000000)", "first", show=False),
        Binding("end", "cursor(1000000)", "last", show=False),
        Binding("enter", "choose", "row", show=False),
    ]

    class HeaderSelected(Message):
        """A column title was clicked: sort by ``key``."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class RowSelected(Message):
        """Enter (or a click on the selected row): show ``robot_id`` in full."""

        def __init__(self, robot_id: str) -> None:
            super().__init__()
            self.robot_id = robot_id

    def __init__(self, **kw):
        super().__init__(**kw)
        self.filter_text = ""
        self.sort_key = "robot"
        self.sort_reverse = False
        self.shown: list[FleetRow] = []
        self.cursor = 0
        self._cols: list[tuple[str, int]] = []
        self._lines: list[Line] = []
        self._cache: dict[tuple[Line, bool], Strip] = {}
        self._header: tuple[bool, Strip] | None = None
        self.repaints = 0
        """Row lines marked for repaint so far (the benchmark reports them per refresh)."""

    @property
    def row_count(self) -> int:
        return len(self._lines)

    # --- selection ---------------------------------------------------------------------------------

    @property
    def selected_robot(self) -> str | None:
        return self._lines[self.cursor][0] if 0 <= self.cursor < len(self._lines) else None

    def select_robot(self, robot_id: str) -> bool:
        for i, line in enumerate(self._lines):
            if line[0] == robot_id:
                self._move(i)
                return True
        return False

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_page(self, step: int) -> None:
        self._move(self.cursor + step * max(1, self._body_height - 1))

    def action_choose(self) -> None:
        if self.selected_robot is not None:
            self.post_message(self.RowSelected(self.selected_robot))

    def _move(self, index: int) -> None:
        if not self._lines:
            self.cursor = 0
            return
        index = max(0, min(index, len(self._lines) - 1))
        if index != self.cursor:
            old, self.cursor = self.cursor, index
            self._repaint(old)
            self._repaint(index)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        top, h = int(self.scroll_y), self._body_height
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif h > 0 and self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False)

    # --- data ----------------------------------------------------------------------------------------

    def show(self, rows: list[FleetRow], width: int | None = None) -> None:
        """Filter, sort and fit ``rows`` to ``width`` characters; repaint what changed."""
        selected = self.selected_robot
        rows = sort_rows(filter_rows(rows, self.filter_text), self.sort_key, self.sort_reverse)
        self.shown = rows
        width = width if width is not None else (self.size.width or 80)
        texts = [[c.text(r) for c in COLUMN_BY_KEY.values()] for r in rows]
        keys = list(COLUMN_BY_KEY)
        longest = {k: max((len(t[j]) for t in texts), default=0) for j, k in enumerate(keys)}
        cols = fit_columns(width - 1, gap=CELL_PAD, widths=longest)
        spec = [(c.key, max(c.width, len(self._title(c.key)), longest[c.key])) for c in cols]
        if spec != self._cols:
            self._cols, self._header = spec, None
            self._cache.clear()
            self._lines = []  # every line repaints
            self.refresh()
        index = [keys.index(k) for k, _ in spec]
        lines = [(r.robot_id, r.state, tuple(t[j] for j in index)) for r, t in zip(rows, texts, strict=True)]
        before = self.cursor
        self.cursor = next((i for i, line in enumerate(lines) if line[0] == selected),
                           min(self.cursor, max(0, len(lines) - 1)))
        old, self._lines = self._lines, lines
        self.virtual_size = Size(sum(w + CELL_PAD for _, w in spec), len(lines) + 1)  # + the header
        if len(old) != len(lines):
            self.refresh()  # rows came or went: the lines below them moved
            self.repaints += min(len(lines), self._body_height)
        else:
            for i, line in enumerate(lines):
                if old[i] != line:
                    self._repaint(i)
        if len(self._cache) > 4 * len(lines) + 64:
            self._cache.clear()  # states that no longer show
        if self.cursor != before:
            self._scroll_to_cursor()  # its robot moved (sort, filter): keep it in view, else
            # leave the scroll where the operator put it

    def set_sort(self, key: str) -> None:
        """Sort by ``key``; choosing the current key again reverses the order."""
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._cols = []  # the header arrow moves

    def _title(self, key: str) -> str:
        arrow = ("▼" if self.sort_reverse else "▲") if key == self.sort_key else ""
        return COLUMN_BY_KEY[key].title + arrow

    # --- painting ------------------------------------------------------------------------------------

    @property
    def _body_height(self) -> int:
        return max(0, self.scrollable_content_region.height - 1)  # the header takes a line

    def _repaint(self, index: int) -> None:
        """Mark row ``index``'s line dirty if it is on screen (off screen it costs nothing)."""
        y = index - int(self.scroll_y) + 1
        if 1 <= y <= self._body_height:
            self.repaints += 1
            self.refresh(Region(0, y, self.size.width, 1))

    def _cells(self, texts, style: Style, pill: Style | None) -> list[Segment]:
        segs = []
        for (key, w), text in zip(self._cols, texts, strict=True):
            body = text.rjust(w) if COLUMN_BY_KEY[key].align == "right" else text.ljust(w)
            if key == "mode" and pill is not None:
                segs += [Segment(" ", style), Segment(body, pill), Segment(" ", style)]
            else:
                segs.append(Segment(f" {body} ", style))
        return segs

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            if self._header is None or self._header[0] != self.has_focus:
                style = self.rich_style + self.get_component_rich_style("fleet-table--header")
                segs = self._cells([self._title(k) for k, _ in self._cols], style, None)
                self._header = (self.has_focus, Strip(segs).adjust_cell_length(width, style))
            return self._header[1]
        index = int(self.scroll_y) + y - 1
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, self.rich_style)
        line = self._lines[index]
        cursor = index == self.cursor
        key = (line, cursor, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            base = self.rich_style + _STYLES[line[1]]  # the widget's colours under the state's
            if cursor:
                base += self.get_component_rich_style("fleet-table--cursor")
            strip = Strip(self._cells(line[2], base, _PILLS[line[1]])).adjust_cell_length(width, base)
            self._cache[key] = strip
        return strip

    def on_resize(self, event: events.Resize) -> None:
        self._header = None
        self._cache.clear()

    def on_focus(self) -> None:
        self._repaint(self.cursor)

    def on_blur(self) -> None:
        self._repaint(self.cursor)

    def on_click(self, event: events.Click) -> None:
        at = event.get_content_offset(self)  # inside the border
        if at is None:
            return
        if at.y == 0:
            x = at.x + int(self.scroll_x)
            for key, w in self._cols:
                if x < w + CELL_PAD:
                    self.post_message(self.HeaderSelected(key))
                    return
                x -= w + CELL_PAD
            return
        index = int(self.scroll_y) + at.y - 1
        if 0 <= index < len(self._lines):
            if index == self.cursor:
                self.action_choose()
            self._move(index)
