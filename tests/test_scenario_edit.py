"""Editing a scenario (the TUI topology editor's operations): always valid or an error."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libsim.spec import BurstLoss
from sei_tui.core.errors import SeiInputError
from sei_tui.core.network.scenario import Link, builtin_scenario, dump_scenario, parse_scenario


@pytest.fixture
def demo():
    return builtin_scenario("demo")


def test_with_link_returns_a_new_scenario(demo):
    slower = demo.with_link("wifi", bitrate="11Mbps", delay="3us", loss=0.02, queue_packets=5)
    radio = {"tx_j_per_byte": 1.9e-6, "rx_j_per_byte": 0.5e-6, "per_packet_j": 356e-6}
    assert slower.links[0] == Link(
        "wifi", "wireless", ("camera", "ap"), 11e6, 3e-6, 0.02, 36, 5, **radio
    )
    assert demo.links[0].bitrate_bps == 54e6  # the original is untouched
    by_index = demo.with_link(1, kind="half_duplex", bitrate_bps=1e8, delay_s=0.001)
    assert (by_index.links[1].kind, by_index.links[1].bitrate_bps) == ("half_duplex", 1e8)
    assert by_index.links[1].delay_s == 0.001


def test_burst_can_be_set_and_removed(demo):
    bursty = demo.with_link(0, burst={"p_good_to_bad": 0.1, "p_bad_to_good": 0.5, "loss_bad": 1})
    assert bursty.links[0].burst == BurstLoss(0.1, 0.5, 1.0, 0.0)
    assert bursty.with_link(0, burst=None).links[0].burst is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bitrate": "0Mbps"}, 'link[0].bitrate = "0Mbps": must be in (0, 1e15] bit/s'),
        ({"bitrate": -1.0}, "link[0].bitrate = -1.0: must not be negative"),
        ({"loss": 1}, "link[0].loss = 1: must be in [0, 1)"),
        ({"queue_packets": 0}, "link[0].queue_packets = 0: must be 1..100000000"),
        ({"kind": "full_duplex", "nodes": ["camera"]}, "exactly 2"),
        ({"nodes": ["camera", "moon"]}, 'link[0].nodes[1] = "moon": no such node'),
        ({"colour": "blue"}, 'link[0].colour = "blue": unknown key'),
        ({"name": "ethernet"}, '.name = "ethernet": duplicate'),
    ],
)
def test_invalid_link_edits_are_refused(demo, change, message):
    with pytest.raises(SeiInputError) as info:
        demo.with_link("wifi", **change)
    assert str(info.value).startswith(str(demo.source) + ": ")
    assert message in str(info.value)


def test_add_nodes_and_links_then_route(demo):
    bigger = demo.add_node("cam2", "edge", compute="pi4").add_link(
        "wifi2", "wireless", ["cam2", "ap"], "24Mbps", delay="1us"
    )
    assert bigger.route("cam2", "server") == ["cam2", "ap", "server"]
    assert bigger.links[-1].overhead_bytes == 38  # the format's default
    with pytest.raises(SeiInputError, match=r"node\[3\]\.compute = \"gpu\": no \[compute\.gpu\]"):
        demo.add_node("cam2", "edge", compute="gpu")
    # a relay may compute (an edge box), with a profile that exists
    assert demo.add_node("r", "relay", compute="pi4").compute_of("r").name == "pi4"
    with pytest.raises(SeiInputError, match=r"node\[3\]\.compute = \"gpu\": no \[compute\.gpu\]"):
        demo.add_node("r", "relay", compute="gpu")


def test_remove_node_drops_its_links_and_refuses_needed_nodes(demo):
    with_spare = demo.add_node("spare", "relay").add_link(
        "spare-link", "full_duplex", ["spare", "ap"], "1Gbps"
    )
    removed = with_spare.remove_node("spare")
    assert removed == demo
    with pytest.raises(SeiInputError, match=r"node\[0\]\.name = \"camera\": cannot remove"):
        demo.remove_node("camera")
    with pytest.raises(SeiInputError, match="flow\\[0\\] \\(camera -> server\\) would have no"):
        demo.remove_node("ap")
    with pytest.raises(SeiInputError, match="no such node"):
        demo.remove_node("nobody")


def test_remove_node_shrinks_a_shared_medium():
    four = builtin_scenario("four-cameras")
    three = four.remove_flow(3).remove_node("camera-4")
    wifi = next(link for link in three.links if link.name == "wifi")
    assert wifi.nodes == ("camera-1", "camera-2", "camera-3", "ap")


def test_remove_link_only_when_every_flow_keeps_a_route(demo):
    with pytest.raises(SeiInputError, match=r"link\[1\]\.name = \"ethernet\": cannot remove"):
        demo.remove_link("ethernet")
    detour = demo.add_link("backup", "full_duplex", ["camera", "server"], "10Mbps")
    assert detour.route("camera", "server") == ["camera", "server"]
    assert detour.remove_link("backup") == demo
    assert detour.remove_link(0).route("camera", "server") == ["camera", "server"]
    with pytest.raises(SeiInputError, match=r"link\[7\]: no such link"):
        demo.remove_link(7)


def test_switch_protocol_and_transport(demo):
    assert demo.with_protocol("udp").transport.protocol == "udp"
    assert demo.with_transport(mtu=9000, seed=42).transport.mtu == 9000
    with pytest.raises(SeiInputError, match='transport.protocol = "quic"'):
        demo.with_protocol("quic")
    with pytest.raises(SeiInputError, match="transport.mtu = 60"):
        demo.with_transport(mtu=60)
    assert demo.with_tcp(initial_window=4).transport.tcp.initial_window == 4


def test_rename_node_updates_links_and_flows(demo):
    renamed = demo.with_node("camera", name="doorbell", compute=None)
    assert renamed.nodes[0].name == "doorbell" and renamed.nodes[0].compute is None
    assert renamed.links[0].nodes == ("doorbell", "ap")
    assert (renamed.flows[0].src, renamed.flows[0].dst) == ("doorbell", "server")


def test_flows_and_compute_edits(demo):
    assert demo.with_flow(0, payload_bytes="1MiB", fps=0).flows[0].payload_bytes == 1_048_576
    assert demo.with_flow(0, payload_bytes=None).flows[0].payload_bytes is None
    with pytest.raises(SeiInputError, match=r"flow\[0\]\.to = \"ap\": a relay"):
        demo.with_flow(0, dst="ap")
    with pytest.raises(SeiInputError, match="no \\[\\[flow\\]\\]"):
        demo.remove_flow(0)
    two = demo.add_flow("server", "camera", frames=2, payload_bytes=1000)
    assert two.remove_flow(1) == demo
    faster = demo.with_compute("pi4", gflops=16.0)
    assert faster.compute["pi4"].gflops == 16.0
    measured = demo.with_compute("pi4", host=True, slowdown=4.0)
    assert (measured.compute["pi4"].kind, measured.compute["pi4"].slowdown) == ("host", 4.0)
    with pytest.raises(SeiInputError, match=r"node\[0\]\.compute = \"pi4\": no \[compute\.pi4\]"):
        demo.remove_compute("pi4")


def test_invalid_scenarios_cannot_be_constructed(demo):
    import dataclasses

    with pytest.raises(SeiInputError, match=r"flow\[0\]\.to = \"server\": no route"):
        dataclasses.replace(demo, links=demo.links[:1])
    bad_link = dataclasses.replace(demo.links[1], bitrate_bps=0.0)
    with pytest.raises(SeiInputError, match=r"^<scenario '.*'>: link\[1\]\.bitrate = \"0bps\""):
        dataclasses.replace(demo, links=[demo.links[0], bad_link], source=None)
    demo.links.append(bad_link)  # a list mutated in place: validate() notices
    with pytest.raises(SeiInputError, match="duplicate"):
        demo.validate()


bad_values = st.one_of(
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0Mbps", "-1ms", "5KB", "", "tcp"]),
    st.booleans(),
)
good_link_values = {
    "kind": st.sampled_from(["full_duplex", "half_duplex", "wireless"]),
    "bitrate": st.sampled_from(["11Mbps", "1Gbps", 2e6]),
    "delay": st.sampled_from(["5ms", "250us", 0]),
    "loss": st.floats(0.0, 0.5),
    "overhead_bytes": st.integers(0, 100),
    "queue_packets": st.integers(1, 500),
    "name": st.sampled_from(["renamed", "x"]),
    "bogus": st.just(1),
}


@st.composite
def edits(draw, scenario):
    """One editor operation on `scenario`, with arguments mostly good, sometimes bad."""
    node_names = [node.name for node in scenario.nodes]
    bad = draw(st.booleans()) and draw(st.booleans())
    kind = draw(
        st.sampled_from(
            ["with_link", "add_node", "remove_node", "add_link", "remove_link", "protocol"]
        )
    )
    if kind == "with_link":
        index = draw(st.integers(0, len(scenario.links) - (0 if bad else 1)))
        key = draw(st.sampled_from(sorted(good_link_values)))
        value = draw(bad_values if bad else good_link_values[key])
        return lambda s: s.with_link(index, **{key: value})
    if kind == "add_node":
        name = draw(st.sampled_from(["cam9", "relay9", "spare"] + (["camera", ""] if bad else [])))
        role = draw(st.sampled_from(["edge", "relay", "server"] + (["cloud"] if bad else [])))
        return lambda s: s.add_node(name, role)
    if kind == "remove_node":
        name = draw(st.sampled_from(node_names + (["ghost"] if bad else [])))
        return lambda s: s.remove_node(name)
    if kind == "add_link":
        size = draw(st.integers(1, 3) if bad else st.just(2))
        ends = draw(st.lists(st.sampled_from(node_names), min_size=size, max_size=size))
        link_kind = draw(st.sampled_from(["full_duplex", "half_duplex", "wireless"]))
        bitrate = draw(bad_values if bad else good_link_values["bitrate"])
        return lambda s: s.add_link(f"l{len(s.links)}", link_kind, ends, bitrate)
    if kind == "remove_link":
        index = draw(st.integers(0, len(scenario.links) - (0 if bad else 1)))
        return lambda s: s.remove_link(index)
    protocol = draw(st.sampled_from(["tcp", "udp"] + (["sctp"] if bad else [])))
    return lambda s: s.with_protocol(protocol)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_edit_sequences_never_yield_an_invalid_scenario(data):
    scenario = builtin_scenario(data.draw(st.sampled_from(["demo", "four-cameras"])))
    for _ in range(8):
        before = dump_scenario(scenario)
        edit = data.draw(edits(scenario))
        try:
            edited = edit(scenario)
        except SeiInputError as exc:
            assert str(exc).startswith(f"{scenario.label}: ")
            assert "\n" not in str(exc)
            assert dump_scenario(scenario) == before  # a refused edit changes nothing
            continue
        edited.validate()
        assert parse_scenario(dump_scenario(edited), edited.source) == edited
        scenario = edited


@pytest.mark.parametrize(
    ("field", "text", "keyword", "value"),
    [
        ("bitrate", "0", "bitrate", 0.0),
        ("bitrate", "1", "bitrate", 1.0),
        ("loss", "0", "loss", 0.0),
        ("loss", "0.999", "loss", 0.999),
        ("loss", "1", "loss", 1.0),
        ("queue", "0", "queue_packets", 0),
        ("queue", "1", "queue_packets", 1),
        ("delay", "0", "delay", 0.0),
    ],
)
def test_the_editor_refuses_a_field_exactly_when_the_scenario_layer_does(
    demo, field, text, keyword, value
):
    # The TUI checks a field as it is typed; the scenario layer checks the whole link. Both
    # read libsim.h's limits, so a value is refused by one exactly when by the other.
    from sei_tui.tui.scenario_edit import parse_link_field

    link = demo.links[0]
    try:
        demo.with_link(link.name, **{keyword: value})
        layer_accepts = True
    except SeiInputError:
        layer_accepts = False
    try:
        parse_link_field(field, text)
        editor_accepts = True
    except SeiInputError as exc:
        editor_accepts = False
        assert str(exc).startswith(f"{field} = {text}: ")
    assert editor_accepts == layer_accepts
