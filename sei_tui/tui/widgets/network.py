"""The network pane: the edge-to-server path, the selected row's deployment drawn along
it (each compute node's model segment, each hand-over's cut and payload), the links and
nodes tables."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Static

from sei_tui.tui import scenario_edit
from sei_tui.tui.bindings import NETWORK_BINDINGS
from sei_tui.tui.format import attr, format_bytes
from sei_tui.tui.widgets.model_tree import CUT_MARKS, cut_labels


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
        self.row: Any = None  # the row whose deployment is drawn along the path

    def compose(self) -> ComposeResult:
        yield Static("waiting for the scenario", id="path-diagram")
        yield Static("", id="deployment-path")
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
        self._draw_deployment()

    def show_deployment(self, row: Any) -> None:
        """Draw `row`'s deployment along the path (None: no row selected)."""
        if row is self.row:
            return
        self.row = row
        self._draw_deployment()

    def _draw_deployment(self) -> None:
        shown = self.query_one("#deployment-path", Static)
        if self.row is None or self.scenario is None:
            shown.update("")
            return
        width = shown.size.width or max(20, self.size.width - 2) or 78
        shown.update(deployment_text(self.scenario, self.row, width))

    def on_resize(self, _event: Any) -> None:
        self._draw_deployment()

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


def row_segments(
    row: Any, device: str, server: str
) -> tuple[dict[str, str], dict[str, tuple[str, int | None]]]:
    """({compute node: its model segment}, {node handing over: (cut mark, bytes sent)}) of
    a row whose frames go from `device` to `server`. Segments are in split indices:
    `[0..k]` up to and with split point k, `[k..]` the rest, `[all]` the whole model."""
    nodes, cuts = attr(row, "nodes"), attr(row, "cuts")
    payload = attr(row, "payload_bytes")
    if cuts and nodes and len(nodes) == len(cuts) + 1:  # split2: device, edge box, server
        bounds = ["0", *(str(k) for k in cuts), ""]
        segments = {n: f"[{bounds[i]}..{bounds[i + 1]}]" for i, n in enumerate(nodes)}
        sizes = attr(row, "hop_payload_bytes") or [payload] * len(cuts)
        marks = [CUT_MARKS[min(i, len(CUT_MARKS) - 1)] for i in range(len(cuts))]
        return segments, {n: (m, b) for n, m, b in zip(nodes, marks, sizes, strict=False)}
    strategy, k = attr(row, "strategy"), attr(row, "split_index")
    if strategy == "local":
        segments = {device: "[all]"}
    elif strategy == "remote":
        segments = {server: "[all]"}
    elif k is not None:
        segments = {device: f"[0..{k}]", server: f"[{k}..]"}
    else:
        segments = {}
    return segments, {device: ("", payload)}


def deployment_text(scenario: Any, row: Any, width: int = 78) -> Text:
    """The row's deployment along the edge -> server path, e.g.
    `camera [0..3] ─① 65.5 kB ▶ edgebox [3..6] ─② 8.2 kB ▶ cloud [6..]`; one-cut rows draw
    the device's and the server's segments the same way, relays without a segment only
    forward. Lines break between hops to fit `width`."""
    hops = scenario_edit.edge_to_server_path(scenario)
    text = Text()
    title = describe_row(row)
    text.append(title + "\n", style="italic")
    if not hops:
        text.append("no path from the edge node to the server")
        return text
    segments, by_node = row_segments(row, hops[0][0], hops[-1][2])
    pieces: list[Text] = []
    for i, node in enumerate([hops[0][0], *(b for _, _, b in hops)]):
        piece = Text(node, style="bold")
        if node in segments:
            piece.append(f" {segments[node]}")
        if i < len(hops):
            if node in by_node:
                mark, size = by_node[node]
                piece.append(f" ─{mark} {format_bytes(size)} ▶")
            else:
                piece.append(" ─▶")
        pieces.append(piece)
    line_length = 0
    for piece in pieces:
        if line_length and line_length + 1 + len(piece) > width:
            text.append("\n  ")
            line_length = 2
        elif line_length:
            text.append(" ")
            line_length += 1
        text.append_text(piece)
        line_length += len(piece)
    return text


def describe_row(row: Any) -> str:
    """The row the deployment line draws: strategy, cuts or split, encoding."""
    strategy = attr(row, "strategy")
    if attr(row, "cuts"):
        return f"{strategy} {cut_labels(attr(row, 'cuts'))} · {attr(row, 'encoding')}"
    if attr(row, "split_index") is not None:
        return f"{strategy} after {attr(row, 'after')} ({attr(row, 'split_index')}) · " + str(
            attr(row, "encoding")
        )
    return f"{strategy} · {attr(row, 'encoding')}"
