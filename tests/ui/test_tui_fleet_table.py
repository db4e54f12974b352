"""The TUI's fleet table on its own: what it shows, and that it repaints only changed lines."""

import asyncio
import dataclasses

from textual.app import App, ComposeResult

from lwd_operator.fleet_view import COLUMN_BY_KEY, FleetView
from lwd_operator.fleet_view.samples import sample_fleet
from ui.tui.fleet_table import FleetTable


def rows_of(n: int, tick: int = 0):
    view = FleetView("op-1", clock=lambda: 1000.0)
    view.update(sample_fleet(n, tick=tick))
    return view.rows


class TableApp(App):
    CSS = "FleetTable { border: round $primary; }"  # clicks land inside the border, as on the fleet screen

    def __init__(self):
        super().__init__()
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield FleetTable()

    def on_fleet_table_row_selected(self, event: FleetTable.RowSelected) -> None:
        self.chosen.append(event.robot_id)

    def on_fleet_table_header_selected(self, event: FleetTable.HeaderSelected) -> None:
        self.chosen.append(f"sort:{event.key}")


def line_text(table: FleetTable, y: int) -> str:
    return table.render_line(y).text


def visible_ids(table: FleetTable) -> list[str]:
    return [line_text(table, y).split()[0] for y in range(1, table.size.height) if line_text(table, y).strip()]


def run(size, scenario):
    async def main():
        app = TableApp()
        async with app.run_test(size=size) as pilot:
            table = app.query_one(FleetTable)
            await scenario(pilot, table)
    asyncio.run(main())


def test_only_changed_visible_lines_repaint():
    rows = rows_of(100)

    async def scenario(pilot, table):
        table.show(rows, table.size.width)
        await pilot.pause()
        body = table.size.height - 1  # the header takes one line
        assert table.row_count == 100 and line_text(table, 1).split()[0] == "r01"

        before = table.repaints
        table.show(rows, table.size.width)  # same content: nothing to paint
        assert table.repaints == before

        moved = [dataclasses.replace(r, step=r.step + 1) if r.robot_id == "r02" else r for r in rows]
        table.show(moved, table.size.width)  # one robot on screen moved: one line
        assert table.repaints == before + 1
        await pilot.pause()
        assert f" {moved[1].step} " in line_text(table, 2)

        far = rows[body + 5].robot_id  # below the visible rows: costs no paint
        table.show([dataclasses.replace(r, step=r.step + 7) if r.robot_id == far else r for r in moved],
                   table.size.width)
        assert table.repaints == before + 1

        everyone = [dataclasses.replace(r, step=r.step + 1) for r in rows]
        before = table.repaints
        table.show(everyone, table.size.width)  # the whole fleet moved: at most a screenful
        assert 0 < table.repaints - before <= body

    run((80, 16), scenario)


def test_selection_follows_its_robot_through_sort_filter_and_scroll():
    rows = rows_of(40)

    async def scenario(pilot, table):
        table.focus()
        table.show(rows, table.size.width)
        await pilot.pause()
        assert table.selected_robot == "r01"
        await pilot.press("down", "down")
        assert table.selected_robot == "r03"
        table.set_sort("robot")  # the same key again: reversed
        table.show(rows, table.size.width)
        await pilot.pause()
        assert table.selected_robot == "r03" and table.shown[0].robot_id == "r40"
        assert "r03" in visible_ids(table)  # scrolled to keep the selection in view
        assert "robot▼" in line_text(table, 0)
        table.filter_text = "state:help"
        table.show(rows, table.size.width)
        assert [r.state for r in table.shown] == ["help"] * len(table.shown) and table.shown
        table.filter_text = ""
        table.show(rows, table.size.width)
        assert table.select_robot("r01")  # far down the reversed list: scrolled into view
        await pilot.pause()
        assert visible_ids(table)[-1] == "r01"
        await pilot.press("enter")
        await pilot.pause()
        assert table.app.chosen == ["r01"]

    run((80, 12), scenario)


def test_narrow_terminals_drop_columns_instead_of_cutting_values():
    rows = rows_of(16)

    async def scenario(pilot, table):
        table.show(rows, table.size.width)
        await pilot.pause()
        header = line_text(table, 0).split()
        assert header[:3] == ["robot▲", "task", "mode"] and "why" not in header and "operator" not in header
        for y, r in enumerate(table.shown[: table.size.height - 1], start=1):
            text = line_text(table, y)
            assert len(text) <= table.size.width
            for title in header:  # every shown value whole (never 'pu…')
                key = next(c.key for c in COLUMN_BY_KEY.values() if title.startswith(c.title))
                assert COLUMN_BY_KEY[key].text(r) in text, (key, text)
        x = line_text(table, 0).index("task") + 1
        await pilot.click(FleetTable, offset=(x + 1, 1))  # +1: the border
        await pilot.click(FleetTable, offset=(3, 3))  # the second row: selects it
        await pilot.click(FleetTable, offset=(3, 3))  # again: opens it
        assert table.app.chosen == ["sort:task", table.shown[1].robot_id]

    run((80, 20), scenario)
