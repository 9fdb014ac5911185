"""The network pane: the edge-to-server path, the links and nodes tables."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Static

from sei_tui.tui import scenario_edit
from sei_tui.tui.bindings import NETWORK_BINDINGS
from sei_tui.tui.format import attr


class NetworkPane(Vertical):
    """Shows a scenario; edits are requested with messages the app turns into new scenarios."""

    BINDINGS = NETWORK_BINDINGS

    class EditRequested(Message):
        """`what` is edit_link/add_link/remove_link/add_node/remove_node; `name` the target."""

        def __init__(self, what: str, name: str | None) -> None:
            super().__init__()
            self.what = what
            self.name = name

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario: Any = None

    def compose(self) -> ComposeResult:
        yield Static("waiting for the scenario", id="path-diagram")
        yield Label("Links · e edit · a add · d delete", classes="table-title", markup=False)
        yield DataTable(id="links-table", cursor_type="row")
        yield Label("Nodes · n add · x delete", classes="table-title", markup=False)
        yield DataTable(id="nodes-table", cursor_type="row")
        yield Static("", id="network-status")

    def on_mount(self) -> None:
        links = self.query_one("#links-table", DataTable)
        for key, label in (
            ("name", "Link"),
            ("kind", "Kind"),
            ("nodes", "Nodes"),
            ("bitrate", "Bitrate"),
            ("delay", "Delay"),
            ("loss", "Loss"),
            ("queue", "Queue"),
        ):
            links.add_column(label, key=key)
        nodes = self.query_one("#nodes-table", DataTable)
        for key, label in (("name", "Node"), ("role", "Role"), ("compute", "Compute")):
            nodes.add_column(label, key=key)

    def show_scenario(self, scenario: Any) -> None:
        self.scenario = scenario
        self.query_one("#path-diagram", Static).update(path_diagram(scenario))
        links = self.query_one("#links-table", DataTable)
        nodes = self.query_one("#nodes-table", DataTable)
        link_cursor, node_cursor = links.cursor_row, nodes.cursor_row
        links.clear()
        for link in attr(scenario, "links", []):
            values = scenario_edit.link_display(link)
            links.add_row(
                values["name"],
                values["kind"],
                values["nodes"],
                Text(values["bitrate"], justify="right"),
                Text(values["delay"], justify="right"),
                Text(values["loss"], justify="right"),
                Text(values["queue"], justify="right"),
                key=values["name"],
            )
        nodes.clear()
        for node in attr(scenario, "nodes", []):
            nodes.add_row(
                attr(node, "name"),
                attr(node, "role"),
                scenario_edit.compute_display(scenario, node),
                key=attr(node, "name"),
            )
        if links.row_count:
            links.move_cursor(row=min(link_cursor, links.row_count - 1))
        if nodes.row_count:
            nodes.move_cursor(row=min(node_cursor, nodes.row_count - 1))

    def show_no_scenario(self) -> None:
        """After a failed open with nothing to show: say how to get a scenario."""
        self.query_one("#path-diagram", Static).update(
            "no scenario: open one with : → Open scenario… (a file or demo, lan, lte)"
        )

    def set_status(self, message: str, error: bool = False) -> None:
        status = self.query_one("#network-status", Static)
        status.set_class(error, "-error")
        status.update(message, layout=False)

    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(table_id, DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_edit_link(self) -> None:
        self.post_message(self.EditRequested("edit_link", self._selected("#links-table")))

    def action_add_link(self) -> None:
        self.post_message(self.EditRequested("add_link", None))

    def action_remove_link(self) -> None:
        self.post_message(self.EditRequested("remove_link", self._selected("#links-table")))

    def action_add_node(self) -> None:
        self.post_message(self.EditRequested("add_node", None))

    def action_remove_node(self) -> None:
        self.post_message(self.EditRequested("remove_node", self._selected("#nodes-table")))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "links-table":
            event.stop()
            self.post_message(self.EditRequested("edit_link", event.row_key.value))


def path_diagram(scenario: Any) -> Text:
    """camera ─wifi 54 Mbit/s─▶ ap ─uplink 1 Gbit/s─▶ server   TCP · MTU 1500"""
    text = Text()
    hops = scenario_edit.edge_to_server_path(scenario)
    if not hops:
        text.append("no path from the edge node to the server", style="bold")
    else:
        text.append(hops[0][0], style="bold")
        for _, link, node in hops:
            values = scenario_edit.link_display(link)
            text.append(f" ─{values['name']} {values['bitrate']}─▶ ")
            text.append(node, style="bold")
    transport = attr(scenario, "transport")
    text.append(
        f"\n{str(attr(transport, 'protocol', '?')).upper()} · MTU {attr(transport, 'mtu', '?')}"
        f" · {attr(scenario, 'name', '')}",
        style="italic",
    )
    return text
