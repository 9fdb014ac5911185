"""docs/ is the source of truth for users: it must describe what the code accepts.

Checked against the code's own public behaviour: the scenario reader's list of known keys
(from its unknown-key errors), the CLI's argument parsers, the environment variables the
sources read, and the links between the documents.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import dump_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def _fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


# ------------------------------------------------------------------- scenario format


def test_the_scenario_example_is_a_valid_scenario(tmp_path):
    (example,) = _fenced_blocks(_read("docs/scenario-format.md"), "toml")
    path = tmp_path / "example.toml"
    path.write_text(example, encoding="utf-8")
    scenario = parse_scenario(example, source=path)
    assert [n.role for n in scenario.nodes] == ["edge", "relay", "server"]
    assert [link.kind for link in scenario.links] == ["wireless", "full_duplex"]
    assert scenario.links[0].burst is not None
    assert scenario.links[0].bitrate_bps == 54e6
    assert scenario.transport.tcp.idle_restart is True
    assert sorted(scenario.compute) == ["gpu-server", "pi4", "this-laptop"]
    assert parse_scenario(dump_scenario(scenario), source=path) == scenario


# (document with one unknown key, where it is) -> the reader names the keys it knows there
_UNKNOWN_KEY_PROBES = {
    "top level": "bogus = 1\n",
    "[transport]": "[transport]\nbogus = 1\n",
    "[transport.tcp]": "[transport.tcp]\nbogus = 1\n",
    "[[node]]": "[[node]]\nbogus = 1\n",
    "[[link]]": "[[link]]\nbogus = 1\n",
    "[link.burst]": "[[link]]\nnodes = []\n[link.burst]\nbogus = 1\n",
    "[[flow]]": "[[flow]]\nbogus = 1\n",
    "[compute.NAME]": "[compute.x]\nbogus = 1\n",
}


@pytest.mark.parametrize("where", sorted(_UNKNOWN_KEY_PROBES))
def test_every_scenario_key_the_reader_knows_is_documented(where):
    with pytest.raises(SeiInputError) as refused:
        parse_scenario(_UNKNOWN_KEY_PROBES[where])
    match = re.search(r"known: ([^)]*)\)", str(refused.value))
    assert match is not None, str(refused.value)
    keys = [k.strip() for k in match.group(1).split(",")]
    assert len(keys) >= 2, keys
    example = _fenced_blocks(_read("docs/scenario-format.md"), "toml")[0]
    # Every key appears as `key =` or as a table header in the documented example.
    undocumented = [
        k for k in keys if not re.search(rf"(^|\n)\s*{re.escape(k)}\s*=|[.\[]{k}[\].]", example)
    ]
    assert undocumented == [], f"{where}: keys missing from docs/scenario-format.md"


# ------------------------------------------------------------------- CLI


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from sei_tui.cli.main import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _synopsis(name: str) -> str:
    """The lines of cli.md's synopsis block for `sei NAME`."""
    block = _fenced_blocks(_read("docs/cli.md"), "")[0]
    entries = re.split(r"\n(?=sei )", block)
    (entry,) = [e for e in entries if re.match(rf"sei {name}\b", e)]
    return entry


def test_every_subcommand_and_flag_is_in_the_cli_synopsis():
    commands = _subcommands()
    assert {"tui", "simulate", "inspect", "saliency", "analyze", "profile"} <= set(commands)
    cli_md = _read("docs/cli.md")
    missing = []
    for name, parser in commands.items():
        synopsis = _synopsis(name)
        assert f"### `sei {name}`" in cli_md, name
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and option not in synopsis:
                    missing.append(f"sei {name} {option}")
    assert missing == [], f"flags missing from docs/cli.md's synopsis: {missing}"


def test_the_synopsis_helper_finds_one_entry_per_command():
    assert _synopsis("simulate").startswith("sei simulate SCENARIO")
    assert "--sweep" in _synopsis("analyze") and "--sweep" not in _synopsis("profile")


# ------------------------------------------------------------------- environment


def test_every_environment_variable_the_code_reads_is_documented():
    names = set()
    for folder in ("sei_tui", "libsim"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"[\"'](SEI_[A-Z_]+)[\"']", path.read_text(encoding="utf-8")))
    assert {"SEI_CACHE_DIR", "SEI_THEME", "SEI_KEYMAP", "SEI_DEBUG"} <= names
    environment = _read("docs/environment.md")
    assert sorted(n for n in names if f"`{n}`" not in environment) == []


# ------------------------------------------------------------------- links


def _documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"] + sorted(
        DOCS.glob("*.md")
    )


def test_relative_links_between_documents_resolve():
    broken = []
    for document in _documents():
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            if not (document.parent / target).exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert broken == []


# The design folder the docs came from, outside the repository (spelt in pieces so that
# this file does not itself name it).
OUTSIDE = ("shared" + "/", "field" + "-notes")


def test_documents_refer_to_nothing_outside_the_repository():
    for document in _documents():
        text = document.read_text(encoding="utf-8")
        assert not any(name in text for name in OUTSIDE), document
