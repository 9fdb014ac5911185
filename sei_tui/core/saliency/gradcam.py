"""Grad-CAM of every split point's payload, in one forward and one backward per batch.

For each split point's payload tensor and each image, a Grad-CAM map: channel weights are
the mean over positions of the gradient of the explained class score with respect to the
tensor; the map is the ReLU of the weighted sum over channels. Maps are averaged over the
dataset (running sums, so memory is O(tensors x map size) whatever the dataset size) and
each averaged map is reduced to |mean| = CS. The log10 CS curve along the network has its
local maxima at the recommended split points (`local_maxima`).

Rules for tensors that are not B x C x H x W (all batch-first):
- B x C x S1 x ... (rank >= 3 convolutional maps): channels on dim 1, positions are the rest.
- B x H x W x C (Swin's channels-last stages): recognised from the model's input aspect
  ratio (dims 1, 2 keep H:W while dims 2, 3 do not); channels last, positions H x W.
- B x N x C (rank 3, token sequences: ViT, Swin after flattening): tokens are the positions
  (a class token included), C the channels. Rank 3 is always read as tokens.
- B x C (flat vectors): one position, so Grad-CAM reduces to ReLU(sum_c grad_c * act_c),
  i.e. gradient x activation summed over features.
- A leading dim of k x B (windows folded into the batch, batch-major, as in Swin's window
  attention) is read as B x (k * d1) x ...: the k blocks are extra positions.
- Tensors not computed from the images' data (constants of the model, attention masks
  built from sizes, sizes themselves) and non-floating tensors carry no per-image saliency:
  they are left out of their point's CS (a point with nothing left has CS 0).
Multi-tensor payloads: each tensor gets its own CS; the point's CS is their mean weighted by
each tensor's elements per image (its share of the payload). A payload tensor's gradient is
the one the tail sees: only the part flowing back from its users after the cut (inside a
residual block, the block input's gradient through the skip connection), so each point's
CS equals Grad-CAM computed on that split's tail alone. The per-user parts come from one
alias per user in the same single backward pass.
The class score explained is the top-1 prediction (`target="top1"`) or the label
(`target="label"`); per-class curves group images by that explained class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx

from sei_tui.core.errors import SeiCancelled, SeiInputError, setting_error
from sei_tui.core.model.capture import run_nodes
from sei_tui.core.model.inplace import modified_in_place_later

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]

TARGETS = ("top1", "label")


# --------------------------------------------------------------------------- layouts


def tensor_layout(shape: Sequence[int], input_shape: Sequence[int] | None = None) -> str:
    """How a batch-first tensor's dims map to channels and positions (see the module doc)."""
    rank = len(shape)
    if rank <= 2:
        return "vector"
    if rank == 3:
        return "tokens"
    if rank == 4 and input_shape is not None and len(input_shape) >= 2:
        height, width = float(input_shape[-2]), float(input_shape[-1])
        aspect = height / width
        first = _close(shape[2] / shape[3], aspect)
        last = _close(shape[1] / shape[2], aspect)
        if last and not first:
            return "channels_last"
    return "spatial"


def _close(ratio: float, aspect: float) -> bool:
    # odd sizes round (e.g. 7 x 7 from 224 x 224, 15 x 20 from 480 x 640 halves)
    return abs(ratio - aspect) <= 0.15 * aspect


def to_channels_positions(tensor: torch.Tensor, layout: str) -> torch.Tensor:
    """B x C x P view of a captured tensor under its layout."""
    batch = tensor.shape[0]
    if layout == "vector":
        return tensor.reshape(batch, -1, 1)
    if layout == "tokens":
        return tensor.transpose(1, 2)
    if layout == "channels_last":
        return tensor.permute(0, 3, 1, 2).reshape(batch, tensor.shape[3], -1)
    return tensor.reshape(batch, tensor.shape[1], -1)


def gradcam(activation: torch.Tensor, gradient: torch.Tensor, layout: str) -> torch.Tensor:
    """Per-image Grad-CAM maps, B x P (positions flattened in their natural order)."""
    act = to_channels_positions(activation, layout)
    grad = to_channels_positions(gradient, layout)
    weights = grad.mean(dim=2)
    return torch.relu(torch.einsum("bcp,bc->bp", act, weights))


# --------------------------------------------------------------------------- accumulation


def tensor_of(key: str) -> str:
    """The fx node name of a map key (`name`, or `name@user,user` for a tail gradient)."""
    return key.split("@", 1)[0]


class SaliencyAccumulator:
    """Running sums of Grad-CAM maps per map key, and per-class sums of map means.

    A map key is a payload tensor's node name, or `name@u1,u2` when only some of its
    users are in the tail of a split (the gradient is then the part flowing back from
    those users). State size depends on the keys and classes, never on the number of images.
    """

    def __init__(self, point_tensors: Sequence[Sequence[str]]):
        self.point_tensors = [tuple(names) for names in point_tensors]
        self.tensor_names = list(dict.fromkeys(n for names in self.point_tensors for n in names))
        self._rows = {name: row for row, name in enumerate(self.tensor_names)}
        self.map_sums: dict[str, torch.Tensor] = {}
        self.elements: dict[str, int] = {}
        self.layouts: dict[str, str] = {}
        self.class_sums = torch.zeros(len(self.tensor_names), 0, dtype=torch.float64)
        self.class_counts = torch.zeros(0, dtype=torch.int64)
        self.images = 0

    def _grow_classes(self, classes: int) -> None:
        if classes > self.class_counts.shape[0]:
            extra = classes - self.class_counts.shape[0]
            self.class_sums = torch.cat(
                [self.class_sums, self.class_sums.new_zeros(len(self.tensor_names), extra)], 1
            )
            self.class_counts = torch.cat([self.class_counts, self.class_counts.new_zeros(extra)])

    def add(self, name: str, maps: torch.Tensor, targets: torch.Tensor, classes: int) -> None:
        """Add one batch of maps (B x P) of tensor `name` explained for `targets` (B)."""
        self._grow_classes(classes)
        maps = maps.detach().to(torch.float64)
        total = maps.sum(dim=0)
        if name in self.map_sums:
            self.map_sums[name] += total
        else:
            self.map_sums[name] = total
        self.class_sums[self._rows[name]].index_add_(0, targets, maps.mean(dim=1))

    def count(self, targets: torch.Tensor, classes: int) -> None:
        self._grow_classes(classes)
        self.class_counts += torch.bincount(targets, minlength=self.class_counts.shape[0])
        self.images += int(targets.shape[0])

    def state_nbytes(self) -> int:
        sums = sum(t.numel() * t.element_size() for t in self.map_sums.values())
        classes = self.class_sums.numel() * 8 + self.class_counts.numel() * 8
        return sums + classes

    def mean_map(self, name: str) -> torch.Tensor | None:
        """The dataset-averaged Grad-CAM map of a tensor (flattened), None if left out."""
        if name not in self.map_sums or self.images == 0:
            return None
        return self.map_sums[name] / self.images

    def tensor_cs(self, name: str) -> float | None:
        mean = self.mean_map(name)
        return None if mean is None else abs(float(mean.mean()))

    def _combine(self, names: Sequence[str], cs_of: Callable[[str], float | None]) -> float:
        total, weight = 0.0, 0
        for name in names:
            value = cs_of(name)
            if value is None:
                continue
            total += self.elements[name] * value
            weight += self.elements[name]
        return total / weight if weight else 0.0

    def point_cs(self) -> list[float]:
        return [self._combine(names, self.tensor_cs) for names in self.point_tensors]

    def class_point_cs(self) -> dict[int, list[float]]:
        curves: dict[int, list[float]] = {}
        for k in range(self.class_counts.shape[0]):
            count = int(self.class_counts[k])
            if count == 0:
                continue

            def cs_of(name: str, k=k, count=count) -> float | None:
                if name not in self.map_sums:
                    return None
                return abs(float(self.class_sums[self._rows[name], k])) / count

            curves[k] = [self._combine(names, cs_of) for names in self.point_tensors]
        return curves


# --------------------------------------------------------------------------- one pass


class _PayloadCapture:
    """The saliency pass's step over the graph (`run_nodes`): keeps the outputs of the
    payload nodes, notes which nodes are computed from the images' data, and gives each
    user of a split-edge tensor its own alias (whose gradient is that user's part)."""

    def __init__(
        self,
        module: torch.fx.GraphModule,
        names: Sequence[str],
        split_edges: set[str] = frozenset(),
    ):
        self.wanted = set(names)
        self.captured: dict[str, Any] = {}
        # tensors whose gradient is needed per user: each user gets its own alias
        self.split_edges = set(split_edges)
        self.aliases: dict[tuple[str, str], torch.Tensor] = {}
        self.protect = {n.name for n in module.graph.nodes if n.name in self.wanted}
        self.protect = {n for n in self.protect if modified_in_place_later(module, n)}
        # nodes whose value is computed from the input's data (not merely from its size)
        self.data_dependent: set[str] = set()

    def step(self, n: torch.fx.Node, run: Callable[[], Any], env: dict) -> Any:
        if n.op == "placeholder" or any(
            m.name in self.data_dependent and _carries_tensor(env.get(m)) for m in n.all_input_nodes
        ):
            self.data_dependent.add(n.name)
        swapped = []
        for m in n.all_input_nodes:
            value = env.get(m)
            if (
                m.name in self.split_edges
                and isinstance(value, torch.Tensor)
                and value.requires_grad
            ):
                alias = value.view_as(value)
                self.aliases[(m.name, n.name)] = alias
                env[m] = alias
                swapped.append((m, value))
        try:
            result = run()
        finally:
            for m, value in swapped:
                env[m] = value
        if n.name in self.wanted:
            self.captured[n.name] = result
            if n.name in self.protect and isinstance(result, torch.Tensor):
                # a later in-place op would overwrite the captured tensor: hand it a copy
                result = result.clone()
        return result


def _carries_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_carries_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_carries_tensor(v) for v in value.values())
    return False


def per_image_view(tensor: torch.Tensor, batch: int) -> torch.Tensor | None:
    """The tensor as batch x ..., or None when it is not per-image data.

    A leading dim of k * batch (Swin's windows folded into the batch, batch-major) becomes
    batch x (k * d1) x ...: the k blocks are extra positions of each image.
    """
    if tensor.dim() == 0 or tensor.shape[0] % batch != 0:
        return None
    folded = tensor.shape[0] // batch
    if folded == 1:
        return tensor
    if tensor.dim() == 1:
        return tensor.reshape(batch, folded)
    return tensor.reshape(batch, folded * tensor.shape[1], *tensor.shape[2:])


def _logits_of(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    if isinstance(output, dict) and "logits" in output:
        return output["logits"]
    raise SeiInputError(f"model output: {type(output).__name__}: expected a logits tensor")


def _model_dtype_device(module: torch.nn.Module) -> tuple[torch.dtype, torch.device]:
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype, tensor.device
    return torch.float32, torch.device("cpu")


def saliency_pass(
    module: torch.fx.GraphModule,
    point_tensors: Sequence[Sequence[str]],
    dataset,
    input_shape: Sequence[int] | None = None,
    batch_size: int = 32,
    target: str = "top1",
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    cuts: Sequence[str] | None = None,
) -> SaliencyAccumulator:
    """Grad-CAM of every payload tensor: one forward and one backward per batch.

    `cuts[i]` is the node after which point i splits the graph (fx order). With cuts, a
    payload tensor's gradient is the one the tail sees: only from its users after the cut
    (a skip connection's input inside a residual block). Without, its whole gradient.
    """
    if target not in TARGETS:
        raise setting_error(
            "target", "saliency target", target, f"expected one of {', '.join(TARGETS)}"
        )
    if batch_size < 1:
        raise setting_error("batch", "batch size", str(batch_size), "must be at least 1")
    total = len(dataset)
    if total == 0:
        raise SeiInputError("dataset: no images")
    nodes = {n.name: n for n in module.graph.nodes}
    missing = [n for names in point_tensors for n in names if n not in nodes]
    missing += [c for c in (cuts or []) if c not in nodes]
    if missing:
        raise SeiInputError(f"split points: {', '.join(missing)}: not nodes of the model graph")
    point_keys = _map_keys(module, point_tensors, cuts)
    accumulator = SaliencyAccumulator(point_keys)
    dtype, device = _model_dtype_device(module)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    was_training = module.training
    module.eval()
    done = 0
    try:
        for images, labels in loader:
            if cancel is not None and cancel():
                raise SeiCancelled()
            _one_batch(module, accumulator, images, labels, dtype, device, input_shape, target)
            done += int(images.shape[0])
            if progress is not None:
                progress(done / total, f"saliency: {done}/{total} images")
    finally:
        module.train(was_training)
    return accumulator


def _map_keys(module, point_tensors, cuts) -> list[list[str]]:
    order = {n.name: i for i, n in enumerate(module.graph.nodes)}
    nodes = {n.name: n for n in module.graph.nodes}
    keys = []
    for i, names in enumerate(point_tensors):
        point = []
        for name in names:
            users = sorted((u.name for u in nodes[name].users), key=order.__getitem__)
            tail = users if cuts is None else [u for u in users if order[u] > order[cuts[i]]]
            point.append(name if tail == users else f"{name}@{','.join(tail)}")
        keys.append(point)
    return keys


def _one_batch(module, accumulator, images, labels, dtype, device, input_shape, target) -> None:
    keys_of: dict[str, list[str]] = {}
    for key in accumulator.tensor_names:
        keys_of.setdefault(tensor_of(key), []).append(key)
    split_edges = {name for name, keys in keys_of.items() if any("@" in k for k in keys)}
    payload_capture = _PayloadCapture(module, list(keys_of), split_edges)
    x = images.to(device=device, dtype=dtype).requires_grad_(True)
    batch = int(x.shape[0])
    with torch.enable_grad():
        logits = _logits_of(run_nodes(module, x, step=payload_capture.step))
        classes = int(logits.shape[1])
        if target == "label":
            targets = torch.as_tensor(labels, dtype=torch.long, device=logits.device)
            if int(targets.min()) < 0 or int(targets.max()) >= classes:
                raise SeiInputError(
                    f"saliency target 'label': dataset labels up to {int(targets.max())} but the model "
                    f"has {classes} classes"
                )
        else:
            targets = logits.detach().argmax(dim=1)
        score = logits.gather(1, targets[:, None]).sum()
        captured = payload_capture.captured
        # floating tensors computed from the images; constants, masks and sizes carry no
        # per-image saliency and are left out
        names = [
            n
            for n in keys_of
            if n in payload_capture.data_dependent
            and isinstance(captured.get(n), torch.Tensor)
            and captured[n].is_floating_point()
            and per_image_view(captured[n], batch) is not None
        ]
        layouts: dict[str, str] = {}
        for name in names:
            activation = per_image_view(captured[name], batch)
            layouts[name] = tensor_layout(activation.shape, input_shape)
            for key in keys_of[name]:
                accumulator.layouts.setdefault(key, layouts[name])
                accumulator.elements.setdefault(key, int(activation[0].numel()))
        # Maps are made by hooks as soon as a tensor's gradient is complete, so gradients
        # and activations are freed along the backward pass instead of all held at once.
        maps: dict[str, torch.Tensor] = {}
        edge_grads: dict[str, dict[str, torch.Tensor]] = {name: {} for name in split_edges}
        handles = []
        for (name, user), alias in payload_capture.aliases.items():
            if name in names:
                handles.append(alias.register_hook(_edge_hook(edge_grads[name], user)))
        for name in names:
            if captured[name].requires_grad:
                hook = _map_hook(
                    name, keys_of[name], captured, edge_grads.get(name), batch, layouts[name], maps
                )
                handles.append(captured[name].register_hook(hook))
        try:
            if handles:
                torch.autograd.grad(score, [x], allow_unused=True)
        finally:
            for handle in handles:
                handle.remove()
    targets = targets.cpu()
    with torch.no_grad():
        for name in names:
            for key in keys_of[name]:
                if key not in maps:  # the score does not depend on it: zero gradient
                    activation = per_image_view(captured[name].detach(), batch)
                    zeros = torch.zeros_like(activation)
                    maps[key] = gradcam(activation, zeros, layouts[name])
                accumulator.add(key, maps.pop(key).cpu(), targets, classes)
    accumulator.count(targets, classes)


def _edge_hook(grads: dict[str, torch.Tensor], user: str):
    def hook(gradient: torch.Tensor) -> None:
        grads[user] = gradient

    return hook


def _map_hook(name, keys, captured, edge_grads, batch, layout, maps):
    """Fires once the tensor's whole gradient is known (after every per-user part)."""

    def hook(gradient: torch.Tensor) -> None:
        # pop: the activation is released as soon as its maps exist
        activation = per_image_view(captured.pop(name).detach(), batch)
        with torch.no_grad():
            for key in keys:
                if "@" in key:
                    users = [u for u in key.split("@", 1)[1].split(",") if u]
                    parts = [edge_grads[u] for u in users if u in edge_grads]
                    tail_gradient = sum(parts[1:], parts[0]) if parts else gradient * 0
                else:
                    tail_gradient = gradient
                maps[key] = gradcam(activation, per_image_view(tail_gradient, batch), layout)
        if edge_grads is not None:
            edge_grads.clear()

    return hook
