"""One-pass cumulative saliency vs the per-layer reference: wall time and peak memory.

The reference is the seed's approach: for every split point separately, run the head
(network prefix) and the tail, back-propagate to that point's payload, compute Grad-CAM and
keep every map of every image, then average. `--reference per-image` does it one image at a
time (as the seed does); `per-layer` (default) batches the images but still runs the network
once per split point.

    .venv/bin/python benchmarks/bench_saliency.py                 # vgg16 + demo, 32 images
    .venv/bin/python benchmarks/bench_saliency.py --models vgg16 --images 32 --reference per-image

Each measurement runs in a fresh child process, after a warm-up on 2 images (runs under
2 s are repeated, best of up to 5); peak memory is the growth of that child's resident set
(sampled every 2 ms) over its size before the first timed run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss(threading.Thread):
    """Samples this process's resident set every few milliseconds; `peak` is the largest."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = _rss_bytes()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, _rss_bytes())


def _setup(model_name: str, images: int, threads: int):
    import torch

    torch.set_num_threads(threads)
    from sei_tui.core.data.datasets import SyntheticShapes
    from sei_tui.core.model.graph import analyze_model

    if model_name == "demo":
        from sei_tui.core.model.demo import DEMO_INPUT_SHAPE, demo_model

        module, shape = demo_model(), DEMO_INPUT_SHAPE
    else:
        import torchvision

        torch.manual_seed(0)
        module, shape = torchvision.models.get_model(model_name, weights=None), (3, 64, 64)
    graph = analyze_model(module.eval(), shape, name=model_name)
    dataset = SyntheticShapes(images, seed=5, image_size=shape[-1])
    return graph, dataset


def _one_pass(graph, dataset, batch: int) -> list[float]:
    from sei_tui.core.saliency.cumulative import cumulative_saliency

    result = cumulative_saliency(graph, dataset, batch_size=batch, cache=False)
    return [p.cs for p in result.points]


def _per_layer(graph, dataset, batch: int) -> list[float]:
    import torch

    from sei_tui.core.saliency.cumulative import gradcam, tensor_layout

    values = []
    for point in graph.split_points:
        head, tail = graph.split(point.index)
        maps: dict[str, list[torch.Tensor]] = {t.name: [] for t in point.tensors}
        for start in range(0, len(dataset), batch):
            x = torch.stack([dataset[i][0] for i in range(start, min(len(dataset), start + batch))])
            with torch.no_grad():
                payload = head(x)
            payload = [t.detach().requires_grad_(t.is_floating_point()) for t in payload]
            logits = tail(payload)
            targets = logits.detach().argmax(1)
            score = logits.gather(1, targets[:, None]).sum()
            floating = [t for t in payload if t.is_floating_point()]
            grads = torch.autograd.grad(score, floating, allow_unused=True)
            for spec, act, grad in zip(point.tensors, floating, grads, strict=False):
                grad = torch.zeros_like(act) if grad is None else grad
                layout = tensor_layout(act.shape, graph.input_shape)
                maps[spec.name].append(gradcam(act.detach(), grad, layout).double())
        total, weight = 0.0, 0
        for spec in point.tensors:
            if not maps[spec.name]:
                continue
            every_map = torch.cat(maps[spec.name])  # kept for every image, as the seed does
            elements = 1
            for d in spec.shape[1:]:
                elements *= d
            total += elements * abs(float(every_map.mean(0).mean()))
            weight += elements
        values.append(total / weight if weight else 0.0)
    return values


def _run(kind, graph, dataset, batch) -> tuple[list[float], float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "one-pass":
        values = _one_pass(graph, dataset, batch)
    else:
        values = _per_layer(graph, dataset, 1 if kind == "per-image" else batch)
    return values, time.perf_counter() - started, time.process_time() - cpu


def _child(kind, model_name, images, batch, threads, queue):
    import torch.utils.data

    graph, dataset = _setup(model_name, images, threads)
    # warm-up on 2 images: first-call costs (kernel choice, thread pool) are not the method's
    _run(kind, graph, torch.utils.data.Subset(dataset, range(min(2, len(dataset)))), batch)
    base = _rss_bytes()
    sampler = PeakRss()
    sampler.start()
    values, wall, cpu = _run(kind, graph, dataset, batch)
    peak = sampler.stop()
    walls, cpus = [wall], [cpu]
    while sum(walls) < 2.0 and len(walls) < 5:  # short runs: best of a few
        _, wall, cpu = _run(kind, graph, dataset, batch)
        walls.append(wall)
        cpus.append(cpu)
    queue.put((min(walls), min(cpus), max(0, peak - base), len(graph.split_points), values))


def measure(kind, model_name, images, batch, threads):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, model_name, images, batch, threads, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="vgg16,demo")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--reference",
        default="per-layer",
        help="comma list of references: per-layer (batched), per-image (the seed's way)",
    )
    args = parser.parse_args()
    references = [r for r in args.reference.split(",") if r]
    print(
        f"images={args.images} batch={args.batch} threads={args.threads} "
        f"load={os.getloadavg()[0]:.1f}"
    )
    for model_name in args.models.split(","):
        fast = measure("one-pass", model_name, args.images, args.batch, args.threads)
        print(
            f"{model_name}: {fast[3]} split points\n"
            f"  one-pass          : wall {fast[0]:8.2f} s  cpu {fast[1]:8.2f} s  "
            f"peak +{fast[2] / 2**20:7.1f} MiB",
            flush=True,
        )
        for reference in references:
            slow = measure(reference, model_name, args.images, args.batch, args.threads)
            worst = max(
                abs(a - b) / max(abs(b), 1e-30) for a, b in zip(fast[4], slow[4], strict=True)
            )
            print(
                f"  {reference:<18}: wall {slow[0]:8.2f} s  cpu {slow[1]:8.2f} s  "
                f"peak +{slow[2] / 2**20:7.1f} MiB\n"
                f"  speed-up          : wall x{slow[0] / fast[0]:.1f}  cpu x{slow[1] / fast[1]:.1f}"
                f"   max relative CS difference {worst:.2e}   load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
