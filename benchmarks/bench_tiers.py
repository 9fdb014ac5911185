"""Two-cut (split2) search speed: resnet50 (random weights) on the built-in `three-tier`
scenario, every pair of single-tensor split points in every default encoding.

Prints figures; no assertions. Timed separately: the model part (graph analysis, one
capture pass over the images, encoding every candidate's payload) and the network part
(every deployment's frames over the network, `simulate_two_cuts`, one libsim run per
distinct pair of hop sizes). Codec times are not measured here (`time_codecs=False`).
Target (issue 15): the network part under 10 s on 2 cores.

Run: .venv/bin/python benchmarks/bench_tiers.py [--side 224] [--images 4] [--frames N]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=224, help="input side (default 224)")
    parser.add_argument("--images", type=int, default=4, help="evaluation images (default 4)")
    parser.add_argument("--frames", type=int, default=None, help="frames per flow (scenario's)")
    parser.add_argument("--processes", type=int, default=None, help="simulation workers")
    args = parser.parse_args()

    import torch
    import torchvision

    from sei_tui.core.evaluation.encoding import default_tensor_encodings
    from sei_tui.core.evaluation.tiers import best_two_cut, build_two_cuts, simulate_two_cuts
    from sei_tui.core.model.graph import analyze_model
    from sei_tui.core.network.builtin import builtin_scenario

    torch.manual_seed(0)
    start = time.perf_counter()
    graph = analyze_model(
        torchvision.models.resnet50(weights=None).eval(), (3, args.side, args.side)
    )
    analysed = time.perf_counter() - start
    scenario = builtin_scenario("three-tier")
    candidates = [sp for sp in graph.split_points if sp.single_tensor]
    encodings = default_tensor_encodings()
    images = torch.rand(args.images, 3, args.side, args.side)
    start = time.perf_counter()
    deployments = build_two_cuts(graph, scenario, candidates, encodings, images, time_codecs=False)
    built = time.perf_counter() - start
    simulations = len({d.hop_sizes for d in deployments})
    start = time.perf_counter()
    results = list(simulate_two_cuts(deployments, scenario, args.frames, processes=args.processes))
    network = time.perf_counter() - start
    best = best_two_cut(results)
    d = best.deployment
    print(f"model: resnet50, random weights, input 3x{args.side}x{args.side}, {args.images} images")
    print(f"scenario: three-tier ({' -> '.join(d.nodes)}), frames per flow: {len(best.hop1_s)}")
    print(f"candidates (single-tensor): {len(candidates)}; encodings: {len(encodings)}")
    print(f"deployments evaluated: {len(deployments)}; simulations: {simulations}")
    print(f"graph analysis: {analysed:.2f} s; payloads encoded: {built:.2f} s")
    print(
        f"network part: {network:.2f} s ({network / max(len(deployments), 1) * 1e3:.1f} ms per deployment)"
    )
    print(
        f"best (p50): cuts {list(d.cuts)} {d.encoding}, payload {list(d.payload_bytes)} B, "
        f"p50 {best.parts.p50_latency * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
