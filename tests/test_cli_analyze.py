"""`sei analyze` from the command line: bad input exits 2 with one clear line."""

import subprocess
import sys

import pytest


def sei(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sei_tui", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--qos", "latency<=0.1"], "unknown column 'latency'"),
        (["--qos", "accuracy=>0.9"], "bad operator '=>'"),
        (["--qos", "accuracy>=lots"], "'lots' is not a finite number"),
        (["--sweep", "bandwidth=1:2:3"], "unknown parameter 'bandwidth'"),
        (["--sweep", "bitrate=1e6:1e9"], "expected PARAMETER=START:STOP:COUNT"),
        (["--encoding", "int4"], "--encoding: 'int4'"),
        (["--input-encoding", "png"], "--input-encoding: 'png'"),
        (["--deadline", "-1"], "--deadline = -1: must be a positive duration"),
        (["--frames", "0"], "--frames = 0: must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_a_clear_line(args, fragment):
    out = sei("analyze", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sei analyze: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in out.stderr and out.stdout == ""
