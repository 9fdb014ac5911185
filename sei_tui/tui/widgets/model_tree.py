"""The model pane: the layer tree by module hierarchy, with CS heat bars on split points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from sei_tui.tui.bindings import MODEL_TREE_BINDINGS
from sei_tui.tui.format import attr, format_bytes, format_flops
from sei_tui.tui.heat import heat_bar, normalise

HEAT_WIDTH = 8
STAR = "★"
RECOMMENDED = "◆"
_HIDDEN_OPS = ("placeholder", "output")


@dataclass(frozen=True)
class TreeEntry:
    kind: str  # "group" | "layer" | "split"
    name: str
    split_index: int | None = None


@dataclass(frozen=True)
class SplitRowInfo:
    """What the tree shows on a split point's row."""

    index: int
    after: str
    payload_bytes: int
    head_flops: int
    heat: float | None  # 0..1 position of log10 CS between the curve's min and max
    is_maximum: bool


class ModelTree(Tree[TreeEntry]):
    """Split points are selectable; other layers are dimmed; groups without splits fold."""

    BINDINGS = MODEL_TREE_BINDINGS

    class SplitChosen(Message):
        def __init__(self, split_index: int) -> None:
            super().__init__()
            self.split_index = split_index

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("model", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._split_nodes: dict[int, TreeNode[TreeEntry]] = {}
        self._splits: dict[int, SplitRowInfo] = {}
        self._depths: dict[int, int] = {}
        self.recommended: int | None = None
        self.selected: int | None = None
        self.gradient: list[Style] = []

    # --- building -------------------------------------------------------------------------
    def show_graph(self, graph: Any, saliency: Any | None) -> None:
        """Rebuild from a ModelGraph (and the SaliencyResult, when there is one)."""
        self.clear()
        self.root.set_label(attr(graph, "name", "model"))
        self._split_nodes.clear()
        self._depths.clear()
        self._splits = split_rows(graph, saliency)
        by_after = {info.after: info for info in self._splits.values()}
        groups: dict[tuple[str, ...], TreeNode[TreeEntry]] = {(): self.root}
        has_split: dict[tuple[str, ...], bool] = {}
        for node in attr(graph, "nodes", []):
            if attr(node, "op") in _HIDDEN_OPS:
                continue
            path = _group_path(node)
            parent = self._group(groups, path)
            name = attr(node, "name")
            info = by_after.get(name)
            if info is None:
                parent.add_leaf(Text(name, style="dim"), TreeEntry("layer", name))
                continue
            self._depths[info.index] = len(path)
            leaf = parent.add_leaf(self._split_label(info), TreeEntry("split", name, info.index))
            self._split_nodes[info.index] = leaf
            for depth in range(len(path) + 1):
                has_split[path[:depth]] = True
        for path, group in groups.items():
            if path and has_split.get(path):
                group.expand()
        self.root.expand()

    def _group(
        self, groups: dict[tuple[str, ...], TreeNode[TreeEntry]], path: tuple[str, ...]
    ) -> TreeNode[TreeEntry]:
        if path in groups:
            return groups[path]
        parent = self._group(groups, path[:-1])
        label = ".".join(path) if len(path) == 1 else path[-1]
        node = parent.add(Text(label, style="bold"), TreeEntry("group", ".".join(path)))
        groups[path] = node
        return node

    def _split_label(self, info: SplitRowInfo) -> Text:
        depth = self._depth_hint(info)
        name_width = max(10, 22 - 2 * depth)
        name = info.after if len(info.after) <= name_width else info.after[: name_width - 1] + "…"
        text = Text()
        chosen = info.index == self.selected
        text.append(f"{name:<{name_width}} ", style="bold" if chosen else "")
        text.append_text(heat_bar(info.heat, HEAT_WIDTH, self.gradient or _plain_gradient()))
        text.append(f" {STAR if info.is_maximum else ' '}", style="bold")
        text.append(RECOMMENDED if info.index == self.recommended else " ", style="bold")
        text.append(f" {format_bytes(info.payload_bytes):>9}")
        text.append(f" {format_flops(info.head_flops):>10}", style="italic")
        return text

    def _depth_hint(self, info: SplitRowInfo) -> int:
        return self._depths.get(info.index, 0)

    def render_label(self, node: TreeNode[TreeEntry], base_style: Style, style: Style) -> Text:
        # The cursor's style goes under the label's own colours, so a heat bar keeps its
        # colour on the cursor row.
        label = super().render_label(node, base_style, Style())
        label.stylize_before(style)
        return label

    # --- updating in place ------------------------------------------------------------------
    def relabel(self, indices: set[int | None] | None = None) -> None:
        """Redraw the labels of these split points (all when None)."""
        for index, node in self._split_nodes.items():
            if indices is None or index in indices:
                node.set_label(self._split_label(self._splits[index]))

    def set_gradient(self, gradient: list[Style]) -> None:
        self.gradient = gradient
        self.relabel()

    def set_recommended(self, split_index: int | None) -> None:
        previous, self.recommended = self.recommended, split_index
        self.relabel({previous, split_index})

    def show_split(self, split_index: int) -> None:
        """Mark `split_index` as selected and move the cursor to it (no message)."""
        node = self._split_nodes.get(split_index)
        if node is None:
            return
        previous, self.selected = self.selected, split_index
        parent = node.parent
        while parent is not None:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent
        self.relabel({previous, split_index})
        self.move_cursor(node)

    @property
    def split_indices(self) -> list[int]:
        return sorted(self._split_nodes)

    @property
    def maxima(self) -> list[int]:
        return sorted(i for i, info in self._splits.items() if info.is_maximum)

    def info(self, split_index: int) -> SplitRowInfo | None:
        return self._splits.get(split_index)

    # --- keys ---------------------------------------------------------------------------------
    def action_select_cursor(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        if node.data.kind == "split" and node.data.split_index is not None:
            previous, self.selected = self.selected, node.data.split_index
            self.relabel({previous, self.selected})
            self.post_message(self.SplitChosen(node.data.split_index))
        elif node.data.kind == "group":
            node.toggle()
        else:
            self.notify(
                f"{node.data.name} is not a split point: the model cannot be cut there "
                "(tensors from before it are still needed later)",
                timeout=4,
            )


def tree_header() -> str:
    """Column titles over the tree rows (the columns `_split_label` writes)."""
    return f"{'split point':<23}{'CS':<11}{'payload':>10}{'head FLOPs':>11}"


def split_rows(graph: Any, saliency: Any | None) -> dict[int, SplitRowInfo]:
    points = list(attr(graph, "split_points", []))
    heat: dict[int, float] = {}
    maxima: set[int] = set()
    if saliency is not None:
        curve = [(attr(p, "index"), attr(p, "log10_cs")) for p in attr(saliency, "points", [])]
        curve = [(i, v) for i, v in curve if v is not None]
        if curve:
            heat = dict(zip([i for i, _ in curve], normalise([v for _, v in curve]), strict=True))
        maxima = set(attr(saliency, "maxima", []))
    return {
        attr(p, "index"): SplitRowInfo(
            index=attr(p, "index"),
            after=attr(p, "after"),
            payload_bytes=attr(p, "payload_bytes", 0),
            head_flops=attr(p, "head_flops", 0),
            heat=heat.get(attr(p, "index")),
            is_maximum=attr(p, "index") in maxima,
        )
        for p in points
    }


def _group_path(node: Any) -> tuple[str, ...]:
    """The module groups a node sits in (NodeInfo.group, dotted; '' is the top level)."""
    group = attr(node, "group") or ""
    return tuple(part for part in group.split(".") if part)


def _plain_gradient() -> list[Style]:
    return [Style()]
