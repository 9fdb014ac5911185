"""Start-up cost of the CLI: what a command pays before (and besides) its own work.

Wall time of each command in a fresh process, median of N runs:
- `sei --help` and `python -c "import sei_tui.core.model.loading"`;
- `sei inspect demo`, `sei analyze --synthetic 16 --frames 5` and plain `sei analyze`
  (64 images, every default), cold (an empty cache
  but for the trained demo weights: FLOPs counted, saliency computed) and warm (the same
  command again: FLOP counts and saliency read from the cache).
Then which heavy modules a warm `sei analyze` leaves in sys.modules. Every run gets its own
cache directory (SEI_CACHE_DIR), so the user's cache is only read for the demo weights.
`load` is the 1-minute load average before and after: on a shared machine wall times grow
with it.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANALYZE = ["analyze", "--synthetic", "16", "--frames", "5", "--format", "json"]
# the figure: `sei analyze` with its defaults (64 images, 4 encodings, the flow's
# frames); beyond start-up it runs 2 tails x 31 splits over 64 images (work, not start-up)
ANALYZE_DEFAULT = ["analyze", "--format", "json"]
INSPECT = ["inspect", "demo", "--json"]
# torch.distributed itself comes with `import torch` (~30 ms); its tensor/fsdp parts are
# what torch._dynamo and torchvision's model zoo pull in (~0.4 s)
HEAVY_MODULES = (
    "torchvision.models",
    "torch._dynamo",
    "sympy",
    "torch.distributed",
    "torch.distributed.tensor",
    "matplotlib",  # only `--figures` / `--figure` may load it (~0.1-0.3 s)
)

# runs `sei ARGS...` in this interpreter and writes which HEAVY modules were imported
_REPORT_MODULES = """
import atexit, json, sys
from pathlib import Path
heavy, out = sys.argv[1].split(","), sys.argv[2]
atexit.register(
    lambda: Path(out).write_text(json.dumps({m: m in sys.modules for m in heavy}))
)
sys.argv = ["sei", *sys.argv[3:]]
from sei_tui.cli.main import main
raise SystemExit(main())
"""


def sei_command() -> list[str]:
    """The `sei` console script of this environment (python -m sei_tui without one)."""
    script = Path(sys.executable).with_name("sei")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "sei_tui"]


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: failed: {done.stderr.strip()[-500:]}")
    return wall


def demo_weights(env: dict[str, str]) -> Path:
    """A cache directory holding only the trained demo weights (trained once if absent)."""
    seeded = Path(tempfile.mkdtemp(prefix="sei-bench-weights-"))
    from sei_tui.core.cache import cache_dir

    user_models = cache_dir("models")
    if any(user_models.glob("demo-*.pt")):
        shutil.copytree(user_models, seeded / "models")
    else:  # the first `sei inspect demo` trains the demo model into this directory
        timed([*sei_command(), *INSPECT], {**env, "SEI_CACHE_DIR": str(seeded)})
        shutil.rmtree(seeded / "flops", ignore_errors=True)
    return seeded


def cold_and_warm(args: list[str], runs: int, seeded: Path, env: dict[str, str]):
    """Median cold and warm wall times: each cold run in a copy of `seeded`, then warm."""
    cold, warm = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="sei-bench-cache-") as cache:
            shutil.copytree(seeded, cache, dirs_exist_ok=True)
            run_env = {**env, "SEI_CACHE_DIR": cache}
            cold.append(timed([*sei_command(), *args], run_env))
            warm.append(timed([*sei_command(), *args], run_env))
    return statistics.median(cold), statistics.median(warm)


def warm_modules(args: list[str], seeded: Path, env: dict[str, str]) -> dict[str, bool]:
    with tempfile.TemporaryDirectory(prefix="sei-bench-cache-") as cache:
        shutil.copytree(seeded, cache, dirs_exist_ok=True)
        run_env = {**env, "SEI_CACHE_DIR": cache}
        timed([*sei_command(), *args], run_env)  # fills the cache
        out = Path(cache) / "modules.json"
        command = [sys.executable, "-c", _REPORT_MODULES, ",".join(HEAVY_MODULES), str(out)]
        timed([*command, *args], run_env)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    env = dict(os.environ)
    load_before = os.getloadavg()[0]
    seeded = demo_weights(env)
    try:
        sei = sei_command()
        figures: dict[str, float] = {
            "sei --help": statistics.median(timed([*sei, "--help"], env) for _ in range(args.runs)),
            "import sei_tui.core.model.loading": statistics.median(
                timed([sys.executable, "-c", "import sei_tui.core.model.loading"], env)
                for _ in range(args.runs)
            ),
        }
        for label, command in (
            ("sei inspect demo", INSPECT),
            ("sei analyze", ANALYZE),
            ("sei analyze, defaults", ANALYZE_DEFAULT),
        ):
            cold, warm = cold_and_warm(command, args.runs, seeded, env)
            figures[f"{label} (cold)"] = cold
            figures[f"{label} (warm)"] = warm
        modules = warm_modules(ANALYZE, seeded, env)
    finally:
        shutil.rmtree(seeded, ignore_errors=True)
    load_after = os.getloadavg()[0]
    if args.json:
        document = {
            "runs": args.runs,
            "cpus": os.cpu_count(),
            "load": [load_before, load_after],
            "wall_s": figures,
            "warm_analyze_imports": modules,
        }
        print(json.dumps(document, indent=1))
        return
    print(
        f"start-up · median of {args.runs} runs · {os.cpu_count()} CPUs · "
        f"load {load_before:.1f} -> {load_after:.1f}"
    )
    for label, seconds in figures.items():
        print(f"  {label:<36} {seconds:6.2f} s")
    print("  warm `sei analyze` imports:")
    for module, present in modules.items():
        print(f"    {module:<34} {'yes' if present else 'no'}")


if __name__ == "__main__":
    main()
