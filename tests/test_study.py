"""`sei study`: the TOML file, the task split, executors, resuming, reports, the grid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sei_tui.cli.main import main
from sei_tui.core.errors import SeiCancelled, SeiInputError
from sei_tui.core.evaluation.sensitivity import render_grid, sensitivity_grids
from sei_tui.core.study.spec import parse_study

STUDY = """
models = ["demo"]
scenarios = ["demo"]
encodings = ["int8", "fp16+zlib"]
qos = "p95_latency<=0.02"
frames = 16
protocol = "udp"
[sweep]
"wifi.bitrate" = { start = "2Mbps", stop = "50Mbps", count = 3 }
loss = [0.0, 0.03]
"""
TOTAL = 6


def _table(folder: Path) -> list[dict]:
    from sei_tui.core.study.store import read_rows

    rows = read_rows(folder)
    return sorted(rows, key=lambda r: (r["point_key"], r["rank"]))


def _run(folder: Path, executor, **kw):
    from sei_tui.core.study.runner import run_study
    from sei_tui.core.study.spec import load_study

    return run_study(load_study(folder.parent / "study.toml"), folder, executor, **kw)


@pytest.fixture(scope="module")
def pool_study(tmp_path_factory):
    from sei_tui.core.study.executors import LocalPool

    root = tmp_path_factory.mktemp("study")
    (root / "study.toml").write_text(STUDY)
    outcome = _run(root / "pool", LocalPool(2))
    return root, outcome


# ------------------------------------------------------------------ the file


def _error(tmp_path, capsys, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code = main(["study", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err
    assert not (tmp_path / "out").exists()  # refused before anything was written
    return err


def test_unknown_axis_is_one_line_exit_2(tmp_path, capsys):
    err = _error(tmp_path, capsys, 'models = ["demo"]\n[sweep]\njitter = [0.1]\n')
    assert "sweep.jitter" in err and "unknown axis 'jitter'" in err


def test_empty_range_is_one_line_exit_2(tmp_path, capsys):
    err = _error(
        tmp_path, capsys, 'models = ["demo"]\n[sweep]\nloss = {start = 0, stop = 0.1, count = 0}\n'
    )
    assert "sweep.loss.count = 0" in err and "empty range" in err
    err = _error(tmp_path, capsys, 'models = ["demo"]\n[sweep]\nloss = []\n')
    assert "sweep.loss = []" in err and "empty" in err


def test_unit_error_is_one_line_exit_2(tmp_path, capsys):
    err = _error(
        tmp_path,
        capsys,
        'models = ["demo"]\n[sweep]\n"wifi.bitrate" = {start = "1Mbit", stop = "9Mbps", count = 2}\n',
    )
    assert "sweep.wifi.bitrate.start = '1Mbit'" in err and "unit" in err


def test_bad_objective_is_one_line_exit_2(tmp_path, capsys):
    err = _error(tmp_path, capsys, 'models = ["demo"]\nobjective = "power"\n')
    assert "objective = 'power'" in err and "latency, energy" in err


def test_unknown_link_and_key_are_refused(tmp_path, capsys):
    err = _error(tmp_path, capsys, 'models = ["demo"]\n[sweep]\n"lte.loss" = [0.1]\n')
    assert "no link 'lte'" in err
    err = _error(tmp_path, capsys, 'models = ["demo"]\nmodel = "demo"\n')
    assert "model = 'demo': unknown key" in err


def test_ranges_are_log_spaced_for_bitrates_and_linear_otherwise():
    study = parse_study(
        {
            "models": ["demo"],
            "sweep": {
                "bitrate": {"start": "1Mbps", "stop": "1Gbps", "count": 4},
                "delay": {"start": "0ms", "stop": "30ms", "count": 4},
                "loss": [0.0, 0.5],
            },
        }
    )
    bitrate, delay, loss = study.axes
    assert np.allclose(bitrate.values, [1e6, 1e7, 1e8, 1e9], rtol=1e-12)
    assert np.allclose(delay.values, [0.0, 0.01, 0.02, 0.03], rtol=1e-12)
    assert loss.values == (0.0, 0.5)
    points = study.points()
    assert len(points) == 4 * 4 * 2
    assert points[1].values == {"bitrate": bitrate.values[0], "delay": 0.0, "loss": 0.5}


# ------------------------------------------------------------------ runs


@pytest.fixture(scope="module")
def plain_evaluation():
    """The study's model, encodings and transport as `sei analyze` prepares them, with the
    encode/decode times the study reads (one cached measurement per key)."""
    import tomllib

    from sei_tui.core.evaluation.engine import Evaluation
    from sei_tui.core.study.codec_times import fix_codec_times

    evaluation = Evaluation("demo", encodings=["int8", "fp16+zlib"], frames=16, protocol="udp")
    evaluation.prepare()
    study = parse_study(tomllib.loads(STUDY))
    fix_codec_times(evaluation.deployments, study.models[0].key(), study.settings())
    return evaluation


def _stored_form(row) -> dict:
    """A Row as the study stores it (violations joined, lists as text)."""
    out = dict(row.__dict__)
    out["violations"] = "; ".join(row.violations)
    return out


def test_study_rows_match_a_plain_evaluation_at_the_same_point(pool_study, plain_evaluation):
    """The task split (sizes to the workers, per-image accuracy under loss there, ranking
    here) gives, column for column, the rows and ranking that Evaluation.rows and `rank`
    give on the scenario with that point's link overrides (energy columns included)."""
    from dataclasses import fields

    from sei_tui.core.evaluation.qos import parse_qos
    from sei_tui.core.evaluation.ranking import rank
    from sei_tui.core.evaluation.rows import Row

    root, outcome = pool_study
    assert (outcome.total, outcome.skipped, outcome.computed) == (TOTAL, 0, TOTAL)
    table = _table(root / "pool")
    lossy = sorted({r["values"] for r in table if json.loads(r["values"])["loss"] == 0.03})
    assert len(lossy) == 3  # every bitrate at 3 % loss
    qos = parse_qos("p95_latency<=0.02")
    for values in lossy:
        stored = sorted((r for r in table if r["values"] == values), key=lambda r: r["rank"])
        ranking = rank(list(plain_evaluation.rows(qos, overrides=json.loads(values))), qos)
        assert len(ranking.rows) == len(stored)
        for i, (row, got) in enumerate(zip(ranking.rows, stored, strict=True)):
            expected = _stored_form(row)
            assert {f.name: got[f.name] for f in fields(Row)} == expected, (values, i)
            assert got["recommended"] == (i == ranking.recommendation.row)
        assert any(r["frames_complete"] < r["frames"] for r in stored)  # the loss hit frames
        assert all(r["edge_energy_j"] > 0 and r["total_energy_j"] > 0 for r in stored)


def _frame(rng, size: int):
    """A libsim-like frame result: whole, lost entirely, or with 1-3 lost byte ranges."""
    kind = rng.integers(0, 4)
    if kind == 0:
        return SimpleNamespace(delivered_s=0.01, lost_ranges=[], complete=True, lost_bytes=0)
    if kind == 1:
        return SimpleNamespace(delivered_s=None, lost_ranges=[], complete=False, lost_bytes=size)
    starts = sorted(int(v) for v in rng.integers(0, size, rng.integers(1, 4)))
    ranges = [(a, min(size, a + int(rng.integers(1, 3000)))) for a in starts]
    return SimpleNamespace(delivered_s=0.01, lost_ranges=ranges, complete=False, lost_bytes=1)


def test_per_image_accuracy_equals_accuracy_under_loss(plain_evaluation):
    """The workers' accuracy (tail once per deployment, image and lost ranges, answers
    reused across points) equals `accuracy_under_loss` on the whole pattern, on random
    patterns that share some frames' losses (as bitrates and loss rates do)."""
    from sei_tui.core.evaluation.accuracy import accuracy_under_loss, frame_loss
    from sei_tui.core.evaluation.qos import parse_qos
    from sei_tui.core.evaluation.simulation import deployment_sizes
    from sei_tui.core.study import tasks

    evaluation = plain_evaluation
    by_size: dict = {}
    for i, d in enumerate(evaluation.deployments):
        by_size.setdefault(deployment_sizes(d), []).append(i)
    context = tasks.RowContext.of(evaluation, sorted(by_size), by_size, parse_qos(""), None)
    tasks._use({0: context})
    rng = np.random.default_rng(7)
    first = {size: [_frame(rng, max(size)) for _ in range(16)] for size in context.sizes}
    points = [first]
    for _ in range(2):  # later points keep some frames' losses and change others
        points.append(
            {
                size: [f if rng.random() < 0.5 else _frame(rng, max(size)) for f in frames]
                for size, frames in first.items()
            }
        )
    flows = [
        {size: (SimpleNamespace(frames=frames), "udp") for size, frames in p.items()}
        for p in points
    ]
    runs = tasks._evaluate_lost_images(0, context, flows)
    assert runs > 0
    assert tasks._evaluate_lost_images(0, context, flows) == 0  # all in the cache now
    index = {id(d): i for i, d in enumerate(context.deployments)}
    accuracy = tasks._accuracy_from_images(0, index)
    labels, whole = evaluation.inputs.labels, evaluation.inputs.whole_top1
    checked = set()
    for p in points:
        for size, frames in p.items():
            losses = [frame_loss(f) for f in frames]
            for i in by_size[size]:
                mine = accuracy(context.deployments[i], losses, labels, whole)
                reference = accuracy_under_loss(evaluation.deployments[i], losses, labels, whole)
                assert mine == reference, (i, evaluation.deployments[i].strategy)
                checked.add(evaluation.deployments[i].strategy)
    assert checked == {"local", "remote", "split"}


@pytest.mark.slow
def test_local_pool_and_dask_cluster_give_identical_tables(pool_study):
    from sei_tui.core.study.executors import DaskExecutor

    root, _ = pool_study
    outcome = _run(root / "dask", DaskExecutor(workers=2))
    assert outcome.computed == TOTAL
    assert _table(root / "dask") == _table(root / "pool")


@pytest.mark.slow
def test_interrupted_then_resumed_equals_uninterrupted_without_recomputing(pool_study):
    from sei_tui.core.study.executors import LocalPool

    root, _ = pool_study
    folder = root / "resumed"
    with pytest.raises(SeiCancelled):
        _run(folder, LocalPool(1), chunk=1, stop_after=2)
    first = _table(folder)
    assert len({r["point_key"] for r in first}) == 2
    outcome = _run(folder, LocalPool(2), chunk=1)
    assert (outcome.skipped, outcome.computed) == (2, TOTAL - 2)
    assert outcome.simulations % (TOTAL - 2) == 0  # only the 4 new points were simulated
    table = _table(folder)
    assert len(table) == len(_table(root / "pool"))  # no point stored twice
    assert table == _table(root / "pool")
    again = _run(folder, LocalPool(1))
    assert (again.skipped, again.computed, again.simulations) == (TOTAL, 0, 0)


def test_report_json_shape_on_an_unfinished_folder(pool_study, capsys):
    from sei_tui.core.study.executors import LocalPool

    root, _ = pool_study
    folder = root / "unfinished"
    with pytest.raises(SeiCancelled):
        _run(folder, LocalPool(1), chunk=1, stop_after=3)
    assert main(["study", "--report", str(folder), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["done"], data["total"]) == (3, TOTAL)
    assert len(data["points"]) == 3
    for point in data["points"]:
        assert set(point["values"]) == {"wifi.bitrate", "loss"}
        assert point["model"] == "demo" and point["scenario"]
        for key in ("strategy", "split_index", "encoding", "p95_latency", "accuracy"):
            assert key in point
        if point["strategy"] is None:
            assert point["p95_latency"] is None and point["accuracy"] is None
        else:
            assert point["p95_latency"] <= 0.02  # the QoS holds for a recommendation
    (grid,) = data["sensitivity_map"]
    assert (grid["x"], grid["y"]) == ("wifi.bitrate", "loss")
    states = [s for row in grid["state"] for s in row]
    assert states.count("missing") == TOTAL - 3


def test_report_of_the_full_study_in_every_format(pool_study, capsys):
    root, _ = pool_study
    folder = str(root / "pool")
    assert main(["study", "--report", folder, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["done"], data["total"]) == (TOTAL, TOTAL)
    # grid order: bitrate slowest, loss fastest; log-spaced from 2 to 50 Mbit/s
    bitrates = [p["values"]["wifi.bitrate"] for p in data["points"]]
    assert np.allclose(bitrates[::2], [2e6, 1e7, 5e7], rtol=1e-12)
    assert main(["study", "--report", folder, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model,scenario,wifi.bitrate,loss,strategy") and len(lines) == 7
    assert main(["study", "--report", folder]) == 0
    text = capsys.readouterr().out
    assert "6 of 6 points done" in text and "loss \\ wifi.bitrate" in text
    assert main(["study", "--report", folder, "--axes", "loss,wifi.bitrate", "--format", "md"]) == 0
    assert "wifi.bitrate \\ loss" in capsys.readouterr().out
    assert main(["study", "--report", folder, "--axes", "jitter"]) == 2
    assert "not an axis" in capsys.readouterr().err


@pytest.mark.slow
def test_sigint_stops_within_seconds_and_keeps_finished_points(tmp_path):
    # big enough to be still running when its first part is written (2 s into the grid)
    study = STUDY.replace("count = 3", "count = 400").replace("[0.0, 0.03]", "[0.0, 0.01, 0.03]")
    (tmp_path / "study.toml").write_text(study)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sei_tui",
            "study",
            "study.toml",
            "--out",
            "out",
            "--processes",
            "2",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((out / "parts").glob("part-*.parquet")) if out.exists() else True:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - sent < 10, err
    assert "skipped 0 of 1200 points already done" in err and "interrupted" in err
    assert not [p for p in (out / "parts").iterdir() if p.name.startswith(".")]
    report = subprocess.run(
        [sys.executable, "-m", "sei_tui", "study", "--report", "out", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(report.stdout)
    assert 0 < data["done"] < data["total"] == 1200


# ------------------------------------------------------------------ pieces


def test_cached_codec_times_make_a_second_preparation_identical(tmp_path, monkeypatch):
    from sei_tui.core.study.codec_times import fix_codec_times

    monkeypatch.setenv("SEI_CACHE_DIR", str(tmp_path))

    def deployment(encode_host: float) -> SimpleNamespace:
        return SimpleNamespace(
            strategy="split",
            split=SimpleNamespace(index=3),
            encoding="int8",
            encode_s=encode_host * 4.0,
            decode_s=encode_host * 0.5,
            encode_scale=4.0,
            decode_scale=0.25,
        )

    first = deployment(0.001)
    assert fix_codec_times([first], {"model": "demo"}, {}) == 0
    second = deployment(0.003)  # a later run measures something else
    assert fix_codec_times([second], {"model": "demo"}, {}) == 1
    assert (second.encode_s, second.decode_s) == (first.encode_s, first.decode_s)
    assert first.encode_s == pytest.approx(0.004) and first.decode_s == pytest.approx(0.0005)
    other = deployment(0.003)
    fix_codec_times([other], {"model": "other"}, {})  # another key: its own measurement
    assert other.encode_s == pytest.approx(0.012)


def test_cached_codec_times_rebuild_an_early_exits_per_image_latency(tmp_path, monkeypatch):
    from sei_tui.core.study.codec_times import fix_codec_times

    monkeypatch.setenv("SEI_CACHE_DIR", str(tmp_path))

    def early(encode_host: float, result_s: float) -> SimpleNamespace:
        # head 2 ms (exit included), tail 1 ms; images 0 and 2 exit
        encode, decode = encode_host * 4.0, encode_host * 0.5
        offloaded = 0.002 + encode + decode + 0.001
        return SimpleNamespace(
            strategy="early_exit",
            split=SimpleNamespace(index=3),
            encoding="int8",
            encode_s=encode,
            decode_s=decode,
            encode_scale=4.0,
            decode_scale=0.25,
            head_s=0.002,
            tail_s=0.001,
            exited=(True, False, True),
            frame_fixed_s=(0.002 + result_s, offloaded, 0.002 + result_s),
        )

    first = early(0.001, 0.0001)
    fix_codec_times([first], {"model": "demo"}, {})
    second = early(0.003, 0.0007)  # a later run measures other times
    assert fix_codec_times([second], {"model": "demo"}, {}) == 1
    assert second.frame_fixed_s == first.frame_fixed_s
    exited, sent, _ = second.frame_fixed_s
    assert exited == pytest.approx(0.002 + 0.0001)
    assert sent == pytest.approx(0.002 + 0.004 + 0.0005 + 0.001)


def _point(bitrate, loss, strategy=None, split_index=None, encoding=None):
    return {
        "values": {"bitrate": bitrate, "loss": loss},
        "strategy": strategy,
        "split_index": split_index,
        "after": None,
        "encoding": encoding,
        "p95_latency": None if strategy is None else 0.01,
    }


def test_sensitivity_grid_letters_feasibility_and_missing_points():
    points = [
        _point(1e6, 0.0, "local", encoding="result"),
        _point(1e7, 0.0, "split", 2, "int8"),
        _point(1e6, 0.1),  # nothing feasible
        _point(1e7, 0.1, "local", encoding="result"),
    ]
    expected = {"bitrate": [1e6, 1e7, 1e8], "loss": [0.0, 0.1]}
    (grid,) = sensitivity_grids(points, expected=expected)
    assert (grid.x, grid.y) == ("bitrate", "loss")
    assert grid.legend == ("local result", "split 2 int8")
    assert grid.state == (
        ("feasible", "feasible", "missing"),
        ("infeasible", "feasible", "missing"),
    )
    assert render_grid(grid) == [
        "loss \\ bitrate   1Mbps  10Mbps 100Mbps",
        "0                    A       B       ?",
        "0.1                  -       A       ?",
    ]
    # other axes give one grid each; --axes picks which two are drawn
    grids = sensitivity_grids(points, axes=("loss", None))
    assert [g.fixed for g in grids] == [{"bitrate": 1e6}, {"bitrate": 1e7}]
    with pytest.raises(SeiInputError):
        from sei_tui.core.evaluation.sensitivity import parse_axes

        parse_axes("loss,loss", ["bitrate", "loss"])


def test_environment_has_no_stray_dask_settings():
    # the Dask test must not depend on a user's configuration
    assert not any(k.startswith("DASK_") for k in os.environ)


@pytest.mark.slow
def test_a_changed_input_makes_new_points_and_the_report_shows_only_this_studys(pool_study, capsys):
    import shutil

    from sei_tui.core.study.executors import LocalPool
    from sei_tui.core.study.runner import run_study

    root, _ = pool_study
    folder = root / "changed"
    shutil.copytree(root / "pool", folder)
    study = parse_study(
        __import__("tomllib").loads(STUDY.replace("p95_latency<=0.02", "p95_latency<=0.03")),
        "changed.toml",
    )
    with pytest.raises(SeiCancelled):
        run_study(study, folder, LocalPool(1), chunk=1, stop_after=1)
    assert main(["study", "--report", str(folder), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["done"], data["total"]) == (1, TOTAL)  # the old QoS's 6 points are not it


# ------------------------------------------------------------------ exits, bottlenecks, traces

ADAPTED_STUDY = """
models = ["demo"]
scenarios = ["demo"]
encodings = ["int8"]
strategies = ["local", "split", "early_exit", "bottleneck"]
exit_thresholds = [0.9]
bottleneck_channels = [8]
train_images = 32
train_epochs = 2
qos = "p95_latency<=0.05"
frames = 16
protocol = "udp"
[traces]
wifi = ["none", "wifi-crowded-synthetic"]
[sweep]
loss = [0.03]
"""


def test_exits_bottlenecks_and_traces_equal_analyze_at_the_same_point(tmp_path):
    """A study with trained exits and bottlenecks and a trace axis: each point's rows are,
    column for column, those Evaluation.rows gives with the same AdapterOptions `sei
    analyze` builds from the same flags, on the scenario with that trace attached as
    `--trace wifi=NAME` attaches it (and without one for "none")."""
    import tomllib
    from dataclasses import fields

    from sei_tui.cli.simulate import with_trace_flags
    from sei_tui.core.evaluation.engine import Evaluation
    from sei_tui.core.evaluation.prepare import load_scenario
    from sei_tui.core.evaluation.qos import parse_qos
    from sei_tui.core.evaluation.ranking import rank
    from sei_tui.core.evaluation.rows import Row
    from sei_tui.core.study.codec_times import fix_codec_times
    from sei_tui.core.study.executors import LocalPool

    (tmp_path / "study.toml").write_text(ADAPTED_STUDY)
    outcome = _run(tmp_path / "out", LocalPool(2))
    assert (outcome.total, outcome.computed) == (2, 2)  # one point per trace
    table = _table(tmp_path / "out")
    study = parse_study(tomllib.loads(ADAPTED_STUDY))
    options = study.adapter_options()
    assert (options.thresholds, options.widths, options.train_images) == ((0.9,), (8,), 32)
    assert (options.exit_epochs, options.bottleneck_epochs) == (2, 2)
    qos = parse_qos(study.qos)
    base = load_scenario("demo")
    for trace, scenario in (
        ("none", base),
        ("wifi-crowded-synthetic", with_trace_flags(base, ["wifi=wifi-crowded-synthetic"])),
    ):
        stored = sorted(
            (r for r in table if r["scenario"] == f"{base.name} [wifi={trace}]"),
            key=lambda r: r["rank"],
        )
        evaluation = Evaluation(
            "demo",
            scenario=scenario,
            encodings=["int8"],
            frames=16,
            protocol="udp",
            strategies=study.strategies,
            adapters=options,
        )
        evaluation.prepare()
        fix_codec_times(evaluation.deployments, study.models[0].key(), study.settings())
        ranking = rank(list(evaluation.rows(qos, overrides={"loss": 0.03})), qos)
        assert {r["strategy"] for r in stored} >= {"early_exit", "bottleneck", "split"}
        assert len(stored) == len(ranking.rows)
        for row, got in zip(ranking.rows, stored, strict=True):
            assert {f.name: got[f.name] for f in fields(Row)} == _stored_form(row), trace
    # the trace changed the network: the two points' rows differ
    by_trace = {}
    for r in table:
        by_trace.setdefault(r["scenario"], []).append(r["network_p95_s"])
    assert len({tuple(sorted(v)) for v in by_trace.values()}) == 2


def test_bad_adapter_and_trace_keys_are_one_line_exit_2(tmp_path, capsys):
    err = _error(
        tmp_path,
        capsys,
        'models = ["demo"]\nstrategies = ["split", "early_exit"]\nexit_thresholds = [0.5, 1.5]\n',
    )
    assert "exit_thresholds[1] = 1.5" in err and "(0, 1]" in err
    err = _error(tmp_path, capsys, 'models = ["demo"]\nbottleneck_channels = [8]\n')
    assert "bottleneck_channels = [8]" in err and "needs bottleneck" in err
    err = _error(tmp_path, capsys, 'models = ["demo"]\n[traces]\nwifi = ["no-such-trace"]\n')
    assert "traces.wifi[0] = 'no-such-trace'" in err and "not a built-in trace" in err
    err = _error(tmp_path, capsys, 'models = ["demo"]\n[traces]\nlte = ["lte-walking-synthetic"]\n')
    assert "traces.lte" in err and "no link 'lte'" in err
    err = _error(
        tmp_path,
        capsys,
        'models = ["demo"]\n[traces]\nwifi = ["lte-walking-synthetic"]\n'
        '[sweep]\n"wifi.bitrate" = ["1Mbps"]\n',
    )
    assert "traces.wifi" in err and "sweep.wifi.bitrate" in err
    err = _error(
        tmp_path, capsys, 'models = ["demo"]\nstrategies = ["bottleneck"]\ntrain_images = 4\n'
    )
    assert "train_images = 4" in err and ">= 16" in err


# ------------------------------------------------------------------ two cuts (an edge box)

TIERS_STUDY = """
models = ["demo"]
scenarios = ["three-tier"]
encodings = ["int8"]
qos = "p95_latency<=0.15"
synthetic = 8
images = 8
frames = 8
protocol = "udp"
[sweep]
"wan.bitrate" = ["5Mbps", "20Mbps"]
loss = [0.0, 0.05]
"""


@pytest.fixture(scope="module")
def tiers_study(tmp_path_factory):
    from sei_tui.core.study.executors import LocalPool

    root = tmp_path_factory.mktemp("tiers")
    (root / "study.toml").write_text(TIERS_STUDY)
    outcome = _run(root / "pool", LocalPool(2))
    return root, outcome


def test_a_study_with_an_edge_box_has_the_split2_rows_of_evaluation_rows(tiers_study):
    """On three-tier (camera -> edge box -> cloud), each point's rows are, column for
    column, `rank(Evaluation.rows(...))` with that point's link overrides: split2 rows
    included (the same undominated ones, accuracy through both re-encodings and both hops'
    UDP losses, energy, middle_* columns), their lists stored as Parquet lists."""
    import tomllib
    from dataclasses import fields

    from sei_tui.core.evaluation.engine import Evaluation
    from sei_tui.core.evaluation.qos import parse_qos
    from sei_tui.core.evaluation.ranking import rank
    from sei_tui.core.evaluation.rows import Row
    from sei_tui.core.study.codec_times import fix_codec_times, fix_two_cut_codec_times

    root, outcome = tiers_study
    assert (outcome.total, outcome.computed) == (4, 4)
    study = parse_study(tomllib.loads(TIERS_STUDY))
    evaluation = Evaluation(
        "demo",
        scenario="three-tier",
        encodings=["int8"],
        synthetic=8,
        max_images=8,
        frames=8,
        protocol="udp",
    )
    evaluation.prepare()
    fix_codec_times(evaluation.deployments, study.models[0].key(), study.settings())
    fix_two_cut_codec_times(evaluation, study.models[0].key(), study.settings())
    qos = parse_qos(study.qos)
    table = _table(root / "pool")
    lossy_split2 = 0
    for values in sorted({r["values"] for r in table}):
        stored = sorted((r for r in table if r["values"] == values), key=lambda r: r["rank"])
        ranking = rank(list(evaluation.rows(qos, overrides=json.loads(values))), qos)
        assert len(stored) == len(ranking.rows), values
        for i, (row, got) in enumerate(zip(ranking.rows, stored, strict=True)):
            assert {f.name: got[f.name] for f in fields(Row)} == _stored_form(row), (values, i)
            assert got["recommended"] == (i == ranking.recommendation.row)
        split2 = [r for r in stored if r["strategy"] == "split2"]
        assert split2, values
        for r in split2:
            k1, k2 = r["cuts"]
            assert k1 < k2 and r["split_index"] == k1
            assert r["nodes"] == ["camera", "edgebox", "cloud"]
            assert r["hop_encoding"] == ["int8", "int8"]
            assert max(r["hop_payload_bytes"]) == r["payload_bytes"]
            assert r["total_energy_j"] > r["edge_energy_j"] > 0
        assert any(r["middle_flops"] > 0 for r in split2)  # the edge box computes
        if json.loads(values)["loss"] > 0:
            lossy_split2 += sum(r["frames_complete"] < r["frames"] for r in split2)
        others = [r for r in stored if r["strategy"] != "split2"]
        assert all(r["cuts"] is None and r["hop_encoding"] is None for r in others)
    assert lossy_split2 > 0  # both hops' losses reached split2 rows
    # the wan bitrate moves split2 latencies (overrides reach the two-hop network)
    p95 = {}
    for r in table:
        if r["strategy"] == "split2" and json.loads(r["values"])["loss"] == 0.0:
            p95.setdefault(tuple(r["cuts"]), {})[r["values"]] = r["p95_latency"]
    assert any(len(set(v.values())) == 2 for v in p95.values() if len(v) == 2)


@pytest.mark.slow
def test_an_edge_box_study_is_identical_on_the_pool_and_on_dask(tiers_study):
    from sei_tui.core.study.executors import DaskExecutor

    root, _ = tiers_study
    outcome = _run(root / "dask", DaskExecutor(workers=2))
    assert outcome.computed == 4
    assert _table(root / "dask") == _table(root / "pool")


def test_the_report_names_both_cuts_of_a_split2_recommendation(tiers_study, capsys):
    root, _ = tiers_study
    table = _table(root / "pool")
    recommended = {r["point_key"]: r for r in table if r["recommended"]}
    assert main(["study", "--report", str(root / "pool"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["done"] == 4
    for point in data["points"]:
        row = next(
            r for r in recommended.values() if json.loads(r["values"]) == point["values"]
        )  # the summary is the stored recommended row
        assert (point["strategy"], point["split_index"]) == (row["strategy"], row["split_index"])
        assert point["cuts"] == row["cuts"]
        assert (point["cuts"] is not None) == (point["strategy"] == "split2")
    from sei_tui.core.study.report import _deployment

    split2 = {"strategy": "split2", "split_index": 2, "cuts": [2, 9], "after": "relu_1"}
    assert _deployment({**split2, "encoding": "int8"}) == "split2@2|9 relu_1 int8"
    (grid,) = sensitivity_grids(
        [{"values": {"loss": 0.0}, **split2, "encoding": "int8", "p95_latency": 0.01}]
    )
    assert grid.legend == ("split2 2|9 relu_1 int8",)


def test_a_folder_written_before_split2_columns_still_reads_and_resumes(pool_study, capsys):
    """Parts whose `cuts`, `nodes` and `hop_payload_bytes` are text columns (all null) and
    that have no `hop_encoding`, as before split2 studies: the rows, the report and a
    re-run (every point skipped) still read them."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sei_tui.core.study.executors import LocalPool

    root, _ = pool_study
    folder = root / "old"
    shutil.copytree(root / "pool", folder)
    for path in (folder / "parts").glob("part-*.parquet"):
        table = pq.read_table(path).drop_columns(["hop_encoding"])
        for name in ("cuts", "nodes", "hop_payload_bytes"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pa.nulls(len(table), pa.string()))
        pq.write_table(table, path)
    old = _table(folder)
    new = _table(root / "pool")
    assert len(old) == len(new) and all(r["cuts"] is None for r in old)
    assert [{k: v for k, v in r.items() if k != "hop_encoding"} for r in new] == old
    assert main(["study", "--report", str(folder), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["done"] == TOTAL and all(p["cuts"] is None for p in data["points"])
    outcome = _run(folder, LocalPool(1))
    assert (outcome.skipped, outcome.computed) == (TOTAL, 0)
    # before it writes a new part, the store brings such parts to this version's schema,
    # so the folder stays one table (null text -> null list; no value changes)
    from sei_tui.core.study.store import row_schema, upgrade_parts

    schema = row_schema(("wifi.bitrate", "loss"))
    parts = sorted((folder / "parts").glob("part-*.parquet"))
    assert upgrade_parts(folder, schema) == len(parts) > 0
    assert all(pq.read_schema(p).equals(schema, check_metadata=False) for p in parts)
    assert _table(folder) == new
    assert upgrade_parts(folder, schema) == 0
