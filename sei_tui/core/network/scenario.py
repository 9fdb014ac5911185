"""Scenario files: the deployment a split is evaluated in (nodes, links, traffic, compute).

The format is described in ``docs/scenario-format.md``. This module gathers the public
names of the network stage, which lives in modules by concern:

- ``model``: the typed ``Scenario`` (nodes, links, flows, transport, compute profiles) and
  its editing methods; a ``Scenario`` that exists is valid.
- ``toml_io``: reading (strict: every problem is one ``SeiInputError`` line naming the file,
  the key path ``link[1].bitrate`` and the value) and writing (tomli-w) scenario files.
- ``validation``: range, reference and topology checks; numeric ranges come from the
  simulator's one definition (``libsim.limits``, from libsim.h).
- ``to_libsim``: conversion to the simulator's ``NetworkSpec``, with per-run overrides.
- ``builtin``: the scenarios shipped in the package and ``resolve_scenario``.
- ``traces``: bandwidth traces a link may follow (``[link.trace]``): parsers, built-in
  traces, ``LinkTrace`` (docs/traces.md).
- ``schema``: the format's keys, roles, compute kinds, key paths and value quoting.

Units (see ``sei_tui.core.units``): numbers are SI (bit/s, seconds, bytes); strings
carry a unit (``"54Mbps"``, ``"2ms"``, ``"1.5MB"``; k/M/G decimal, KiB/MiB binary).
"""

from __future__ import annotations

from sei_tui.core.network.builtin import builtin_scenario, builtin_scenario_names, resolve_scenario
from sei_tui.core.network.model import ComputeProfile, Flow, Link, Node, Scenario, Transport
from sei_tui.core.network.schema import COMPUTE_KINDS, ROLES, KeyPath
from sei_tui.core.network.to_libsim import to_network
from sei_tui.core.network.toml_io import dump_scenario, load_scenario, parse_scenario, save_scenario
from sei_tui.core.network.traces import TRACE_FORMATS, LinkTrace, builtin_trace_names
from sei_tui.core.network.validation import traffic_problem

__all__ = [
    "COMPUTE_KINDS",
    "ROLES",
    "TRACE_FORMATS",
    "ComputeProfile",
    "Flow",
    "KeyPath",
    "Link",
    "LinkTrace",
    "Node",
    "Scenario",
    "Transport",
    "builtin_scenario",
    "builtin_scenario_names",
    "builtin_trace_names",
    "dump_scenario",
    "load_scenario",
    "parse_scenario",
    "resolve_scenario",
    "save_scenario",
    "to_network",
    "traffic_problem",
]
