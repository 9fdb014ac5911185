"""Loopback deployment of the demo: frames per second served, the wire format's overhead
per frame, and the measured compute parts against `sei profile` on the same machine.

    nice .venv/bin/python benchmarks/bench_serve.py [--frames N] [--split K] [--encoding E]
                                                    [--protocol tcp|udp]

Exports the demo at split K (default 20), serves its tail in a thread on 127.0.0.1 (port
0) and sends N frames (default 200) one at a time, over TCP or as UDP datagrams
(`--protocol udp`, the TCP connection carrying the answers). Prints:
- frames per second served (one client, one frame in flight) and the per-part medians;
- the wire format's cost per frame: encode (the evaluation's encoder) + framing + the
  server's checks and decode, against a bare copy of the same tensor's bytes;
- the measured head and tail medians over the `sei profile` figures of the same split
  (the sum of its nodes' medians) on this machine, as ratios. No timed assertion: the
  ratio says how far the exported programs are from the profiled fx nodes (the profile
  times each node alone, the programs run fused ATen graphs; a busy machine moves both).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--split", type=int, default=20)
    parser.add_argument("--encoding", default="fp32")
    parser.add_argument("--protocol", choices=("tcp", "udp"), default="tcp")
    args = parser.parse_args()

    import numpy as np
    import torch

    from sei_tui.core.deploy import wire
    from sei_tui.core.deploy.client import connect, open_datagrams, run_frames
    from sei_tui.core.deploy.export import export_split, load_program
    from sei_tui.core.deploy.manifest import read_manifest
    from sei_tui.core.deploy.server import TailServer
    from sei_tui.core.evaluation.encoding import encode_tensors, parse_tensor_encoding
    from sei_tui.core.evaluation.prepare import load_model_and_graph
    from sei_tui.core.model.compute import ComputeModel
    from sei_tui.core.model.profiling import profile_model

    torch.set_num_threads(1)
    loaded, graph = load_model_and_graph("demo", None, None)
    encoding = parse_tensor_encoding(args.encoding)
    folder = tempfile.mkdtemp(prefix="bench-serve-")
    export_split(loaded, graph, args.split, encoding, folder, {"spec": "demo"})
    manifest = read_manifest(folder)
    server = TailServer(manifest, "127.0.0.1", 0, log=lambda _line: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    images = torch.rand(16, *graph.input_shape, generator=torch.Generator().manual_seed(0))
    try:
        with connect("127.0.0.1", server.address[1], manifest) as sock:
            sender = open_datagrams(sock) if args.protocol == "udp" else None
            start = time.perf_counter()
            result = run_frames(sock, manifest, images, args.frames, datagrams=sender)
            wall = time.perf_counter() - start
            if sender is not None:
                sender.close()
    finally:
        server.stop()
        thread.join(5)
    parts = result.parts()
    print(
        f"demo split {args.split} {encoding.name} over {args.protocol.upper()}: {args.frames} "
        f"frames in {wall:.2f} s = {args.frames / wall:.0f} frames/s (one client, one frame "
        f"in flight; {server.concealed} frames concealed)"
    )
    print(
        "medians: "
        + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in parts.items())
        + f"; p50 latency {result.percentile(50) * 1e3:.3f} ms"
    )

    head = load_program(*manifest.program("head"))
    with torch.inference_mode():
        payload = head(images[0:1])
    tensors = payload if isinstance(payload, tuple) else (payload,)
    arrays = [t.numpy() for t in tensors]

    def wire_round() -> None:
        body = wire.frame_body(0, encode_tensors(tensors, manifest.encoding))
        wire.decode_frame(body, manifest)

    def bare_copy() -> None:
        for a in arrays:
            np.copy(a)

    repeats = 2000
    wire_s = _median_seconds(wire_round, repeats)
    copy_s = _median_seconds(bare_copy, repeats)
    print(
        f"wire format per frame (encode + framing + checks + decode): {wire_s * 1e6:.1f} µs; "
        f"bare tensor copy {copy_s * 1e6:.1f} µs; overhead {(wire_s - copy_s) * 1e6:.1f} µs "
        f"({wire_s / copy_s:.1f}x)"
    )

    profile = profile_model(graph, warmup=3, repeats=20)
    compute = ComputeModel.measured(graph, profile.node_seconds)
    head_p, tail_p = compute.head_seconds(args.split), compute.tail_seconds(args.split)
    print(
        f"sei profile: head {head_p * 1e3:.3f} ms, tail {tail_p * 1e3:.3f} ms; measured/profile: "
        f"head {parts['head'] / head_p:.2f}, tail {parts['tail'] / tail_p:.2f} "
        f"(threads {profile.threads})"
    )


if __name__ == "__main__":
    main()
