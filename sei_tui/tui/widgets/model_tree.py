"""The model pane: the layer tree by module hierarchy, with CS heat bars on split points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from sei_tui.core.model.describe import layer_descriptions, shape_text
from sei_tui.tui.bindings import MODEL_TREE_BINDINGS
from sei_tui.tui.format import attr, format_bytes, format_flops
from sei_tui.tui.heat import heat_bar, normalise

HEAT_WIDTH = 8
STAR = "★"
RECOMMENDED = "◆"
# the two cuts of a selected two-cut (split2) row, before their names: glyphs, not
# colours, so they read under NO_COLOR; the path line in the network pane uses them too
CUT_MARKS = ("①", "②")


def cut_labels(cuts: Sequence[int]) -> str:
    """`①2 ②8`: a two-cut row's cuts with the glyphs the tree marks them with."""
    return " ".join(f"{CUT_MARKS[min(i, len(CUT_MARKS) - 1)]}{k}" for i, k in enumerate(cuts))


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
    layer: str = ""  # the layer's kind and main parameters (`Conv2d 64→128 3×3/2`)
    shape: str = ""  # its output shape without the batch (`128×16×16`)


@dataclass(frozen=True)
class TreeLayout:
    """Column widths of the tree rows for a width: the name, layer and marks always; the
    output shape and head FLOPs when they fit; name and layer grow with what is left."""

    name: int
    layer: int
    shape: int  # 0: not shown
    flops: int  # 0: not shown


# the guides before a split point's name in a module group (depth 1), and the scrollbar
TREE_INDENT = 3
# heat bar, " ★◆", " payload"
_FIXED = HEAT_WIDTH + 3 + 10


def tree_layout(width: int) -> TreeLayout:
    rest = width - TREE_INDENT - _FIXED - 2 - 12 - 16  # the two spaces, minimum name, layer
    shape = 10 if rest >= 10 else 0
    rest -= shape
    flops = 11 if rest >= 11 else 0
    rest -= flops
    grow = max(0, rest)
    layer_extra = min(grow // 2, 8)
    name_extra = min(grow - layer_extra, 14)
    return TreeLayout(12 + name_extra, 16 + layer_extra, shape, flops)


class ModelTree(Tree[TreeEntry]):
    """Split points are selectable; other layers are dimmed; groups without splits fold."""

    BINDINGS = MODEL_TREE_BINDINGS

    class LayoutChanged(Message):
        """The columns changed with the width (the header above follows)."""

        def __init__(self, layout: TreeLayout) -> None:
            super().__init__()
            self.layout = layout

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
        self.recommended: int | None = None  # the recommended row's split (its first cut)
        self.recommended_cuts: tuple[int, ...] = ()  # every split the recommended row cuts at
        self.selected: int | None = None
        self.cuts: tuple[int, ...] = ()  # the cuts of the selected two-cut row, else ()
        self.gradient: list[Style] = []
        self.layout_columns = tree_layout(80)
        self._layer_nodes: list[tuple[TreeNode[TreeEntry], str, str, int]] = []
        self._layer_text: dict[str, str] = {}

    # --- building -------------------------------------------------------------------------
    def show_graph(self, graph: Any, saliency: Any | None) -> None:
        """Rebuild from a ModelGraph (and the SaliencyResult, when there is one)."""
        self.clear()
        self._layer_text = layer_descriptions(graph)
        self.root.set_label(attr(graph, "name", "model"))
        self._split_nodes.clear()
        self._depths.clear()
        self._splits = split_rows(graph, saliency)
        self._layer_nodes = []
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
                layer = self._layer_text.get(name, "")
                label = self._layer_label(name, layer, len(path))
                leaf = parent.add_leaf(label, TreeEntry("layer", name))
                self._layer_nodes.append((leaf, name, layer, len(path)))
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
        columns = self.layout_columns
        depth = self._depth_hint(info)
        name_width = max(6, columns.name - 2 * (depth - 1))
        text = Text()
        mark = self.cut_mark(info.index)
        chosen = info.index == self.selected or bool(mark)
        if mark:
            text.append(f"{mark} ", style="bold")
            name_width -= 2
        text.append(f"{_fit(info.after, name_width)} ", style="bold" if chosen else "")
        text.append(f"{_fit(info.layer, columns.layer)} ")
        text.append_text(heat_bar(info.heat, HEAT_WIDTH, self.gradient or _plain_gradient()))
        text.append(f" {STAR if info.is_maximum else ' '}", style="bold")
        recommended = info.index in self.recommended_cuts
        text.append(RECOMMENDED if recommended else " ", style="bold")
        text.append(f" {format_bytes(info.payload_bytes):>9}")
        if columns.shape:
            text.append(f" {info.shape:>{columns.shape - 1}}", style="dim")
        if columns.flops:
            text.append(f" {format_flops(info.head_flops):>{columns.flops - 1}}", style="italic")
        return text

    def _layer_label(self, name: str, layer: str, depth: int) -> Text:
        name_width = max(6, self.layout_columns.name - 2 * (depth - 1))
        text = f"{_fit(name, name_width)} {_fit(layer, self.layout_columns.layer)}"
        return Text(text.rstrip(), style="dim")

    def on_resize(self, _event: Any) -> None:
        layout = tree_layout(self.size.width)
        if layout != self.layout_columns:
            self.layout_columns = layout
            self.relabel()
            for leaf, name, layer, depth in self._layer_nodes:
                leaf.set_label(self._layer_label(name, layer, depth))
            self.post_message(self.LayoutChanged(layout))

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

    def cut_mark(self, split_index: int) -> str:
        """① or ② on the cuts of the selected two-cut row, "" elsewhere."""
        if split_index in self.cuts:
            return CUT_MARKS[min(self.cuts.index(split_index), len(CUT_MARKS) - 1)]
        return ""

    def set_recommended(self, split_index: int | None, cuts: Sequence[int] = ()) -> None:
        """◆ on the recommended row's split, or on both cuts of a two-cut row."""
        previous = set(self.recommended_cuts)
        self.recommended = split_index
        self.recommended_cuts = tuple(cuts) or (() if split_index is None else (split_index,))
        self.relabel(previous | set(self.recommended_cuts))

    def mark_cuts(self, cuts: Sequence[int]) -> None:
        """Mark the cuts of a two-cut row (① ②), or none, without moving the cursor."""
        previous, self.cuts = set(self.cuts), tuple(cuts)
        if previous != set(self.cuts):
            self.relabel(previous | set(self.cuts))

    def show_split(self, split_index: int, cuts: Sequence[int] = ()) -> None:
        """Mark `split_index` as selected (and `cuts`, a two-cut row's, with ① ②) and move
        the cursor to it (no message)."""
        node = self._split_nodes.get(split_index)
        if node is None:
            return
        self.mark_cuts(cuts)
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


def tree_header(layout: TreeLayout | None = None) -> str:
    """Column titles over the tree rows (the columns `_split_label` writes)."""
    layout = layout or tree_layout(80)
    text = "  " + f"{'split point':<{layout.name}} {'layer':<{layout.layer}} "
    text += f"{'CS':<{HEAT_WIDTH + 3}}{'payload':>10}"
    if layout.shape:
        text += f"{'shape':>{layout.shape}}"
    if layout.flops:
        text += f"{'head FLOPs':>{layout.flops}}"
    return text


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` with an ellipsis, padded to it."""
    if len(text) > width:
        text = text[: max(0, width - 1)] + "…"
    return f"{text:<{width}}"


def split_rows(graph: Any, saliency: Any | None) -> dict[int, SplitRowInfo]:
    points = list(attr(graph, "split_points", []))
    layers = layer_descriptions(graph)
    shapes = {attr(n, "name"): shape_text(attr(n, "shape")) for n in attr(graph, "nodes", [])}
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
            layer=layers.get(attr(p, "after"), ""),
            shape=shapes.get(attr(p, "after"), ""),
        )
        for p in points
    }


def _group_path(node: Any) -> tuple[str, ...]:
    """The module groups a node sits in (NodeInfo.group, dotted; '' is the top level)."""
    group = attr(node, "group") or ""
    return tuple(part for part in group.split(".") if part)


def _plain_gradient() -> list[Style]:
    return [Style()]
