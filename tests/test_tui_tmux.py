"""The real `sei tui` in tmux at 80x24, driven by keys as a person would, read back with
`tmux capture-pane`. Slow-ish (a real process, real scenario, real core services)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sei_tui.core.network.scenario import builtin_scenario, load_scenario, save_scenario


class TmuxSession:
    def __init__(self, name: str, command: str, width: int = 80, height: int = 24) -> None:
        self.name = name
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command],
            check=True,
        )

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def capture(self) -> str:
        out = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return out.stdout

    def wait_for(self, *texts: str, absent: tuple[str, ...] = (), timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if all(t in screen for t in texts) and not any(t in screen for t in absent):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"never saw {texts!r} on screen; last screen:\n{screen}")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name]).returncode == 0

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_real_app_at_80x24(tmp_path: Path):
    scenario_path = tmp_path / "site.toml"
    save_scenario(builtin_scenario("demo"), scenario_path)
    env = "TERM=xterm-256color SEI_THEME=sei-dark"
    command = f"env {env} {sys.executable} -m sei_tui tui --scenario {scenario_path}"
    session = TmuxSession(f"sei-tui-test-{os.getpid()}", command)
    try:
        start = time.monotonic()
        screen = session.wait_for("QoS", "1 Model", "2 Network", "3 Results")
        first_paint_s = time.monotonic() - start
        print(f"first paint in tmux: {first_paint_s:.2f} s\n{screen}")
        assert len(screen.splitlines()[0]) <= 80

        # the real evaluation runs in the app's workers (simulations in worker processes,
        # started while Textual holds stdout/stderr) and ends with a recommendation
        session.keys("3")
        screen = session.wait_for(
            # the recommendation line under the table (the detail box's own
            # "◆ recommended" line is cut at 80x24 since it shows energy too)
            "deployments evaluated",
            "— lowest p95 latency",
            absent=("failed",),
            timeout=180,
        )
        print(screen)

        session.keys("2")
        screen = session.wait_for("wifi", "ethernet", "54Mbps", "camera")
        print(screen)

        # edit the wifi bitrate: focus order name, nodes, kind, bitrate
        session.keys("e")
        session.wait_for("Link wifi", "Enter applies")
        time.sleep(0.5)  # let the dialog take focus before typing into it
        session.keys("Tab", "Tab", "Tab")  # a field's text is selected on focus
        time.sleep(0.3)
        session.keys("12Mbps")
        time.sleep(0.3)
        session.keys("Enter")
        screen = session.wait_for("12Mbps", absent=("Link wifi",))  # the editor closed
        print(screen)

        session.keys("w")  # atomic save to the scenario's own file
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if load_scenario(scenario_path).links[0].bitrate_bps == 12e6:
                break
            time.sleep(0.1)
        assert load_scenario(scenario_path).links[0].bitrate_bps == 12e6

        session.keys("?")
        screen = session.wait_for("sei keys", "sei.split.next")
        print(screen)
        session.keys("Escape")
        time.sleep(0.3)  # an Escape straight before q would read as Alt+q
        session.keys("q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and session.alive():
            time.sleep(0.1)
        assert not session.alive(), "q did not quit the app"
    finally:
        session.kill()


def test_real_app_without_colour_and_with_256_colours(tmp_path: Path):
    # NO_COLOR: Textual renders monochrome; every state must still read without colour
    # (heat bar length, QoS pass/FAIL, the ◆ mark, breakdown glyphs).
    command = (
        "env TERM=xterm-256color NO_COLOR=1 TEXTUAL_COLOR_SYSTEM=256 "
        f"{sys.executable} -m sei_tui tui --scenario lan --theme sei-light"
    )
    session = TmuxSession(f"sei-tui-nocolor-{os.getpid()}", command)
    try:
        session.wait_for("QoS", "1 Model", "2 Network")
        session.keys("2")
        session.wait_for("camera-port", "server-port", "1Gbps")
        session.keys("?")
        session.wait_for("sei keys")
        session.keys("Escape")
        time.sleep(0.3)
        session.keys("q")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and session.alive():
            time.sleep(0.1)
        assert not session.alive()
    finally:
        session.kill()
