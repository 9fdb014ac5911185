"""Atomic writes: never half a file, and the permissions a plain open() would give."""

import os
import stat

import pytest

from sei_tui.core.cache import atomic_write_bytes


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_new_file_gets_0666_less_the_umask(tmp_path, umask_022):
    path = tmp_path / "report.csv"
    atomic_write_bytes(path, b"a,b\n")
    assert path.read_bytes() == b"a,b\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_replacing_keeps_the_old_mode_and_leaves_no_temp(tmp_path, umask_022):
    path = tmp_path / "profile.json"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["profile.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "scenario.toml"
    path.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["scenario.toml"]
