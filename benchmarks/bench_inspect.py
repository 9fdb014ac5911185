"""Wall time and peak memory of `sei inspect MODEL --verify` (every split point checked).

Each model runs in its own child process (the real console entry point, native input
size, random seeded weights); peak memory is that child's maximum resident set size.
`load` is the 5-minute load average after the run: on a shared machine wall times grow
with it (intra-op threads wait for busy cores; --threads 1 often helps there).

    .venv/bin/python benchmarks/bench_inspect.py [--models resnet50,vit_b_16] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

DEFAULT_MODELS = ("resnet50", "vit_b_16")


def measure(model: str, threads: int | None) -> dict:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "sei_tui", "inspect", model, "--verify", "--json"]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - start
    # communicate() reaped the child: its rusage is folded into RUSAGE_CHILDREN, so
    # run_one measures each model from a fresh interpreter to keep the maxima apart.
    if child.returncode != 0:
        raise SystemExit(f"{model}: sei inspect failed: {stderr.decode().strip()}")
    doc = json.loads(stdout)
    points = doc["split_points"]
    return {
        "model": model,
        "wall_s": wall,
        "split_points": len(points),
        "verified": sum(1 for p in points if p["verified"]),
        "max_abs_diff": max(p["max_abs_diff"] for p in points),
        "nodes": len(doc["nodes"]),
        "input_shape": doc["input_shape"],
    }


def run_one(model: str, threads: int | None) -> dict:
    """Measure in a fresh interpreter so ru_maxrss of children belongs to this model only."""
    code = (
        "import json, resource, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from bench_inspect import measure\n"
        "result = measure(sys.argv[2], int(sys.argv[3]) or None)\n"
        "result['peak_rss_mib'] = "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps(result))\n"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", code, here, model, str(threads or 0)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr.strip())
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the child")
    args = parser.parse_args()
    import torch

    print(
        f"sei inspect --verify · torch {torch.__version__} · {platform.processor() or '?'} · "
        f"{os.cpu_count()} CPUs · threads {args.threads or torch.get_num_threads()} · "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'model':<12} {'input':>11} {'nodes':>6} {'splits':>6} {'verified':>8} "
        f"{'max|diff|':>9} {'wall s':>8} {'s/split':>8} {'peak MiB':>9}"
    )
    for model in args.models.split(","):
        r = run_one(model.strip(), args.threads)
        shape = "x".join(map(str, r["input_shape"]))
        print(
            f"{r['model']:<12} {shape:>11} {r['nodes']:>6} {r['split_points']:>6} "
            f"{r['verified']:>8} {r['max_abs_diff']:>9.1e} {r['wall_s']:>8.1f} "
            f"{r['wall_s'] / max(r['split_points'], 1):>8.3f} {r['peak_rss_mib']:>9.0f} "
            f"{os.getloadavg()[1]:>5.1f}"
        )


if __name__ == "__main__":
    main()
