"""802.11 DCF channel access (IEEE 802.11-2016, 10.3) against timings worked out by hand.

802.11g ERP-OFDM, short slot: slot 9 us, SIFS 10 us, DIFS = SIFS + 2 slots = 28 us.
A frame of B octets (IP packet + 36 B of MAC header 24, LLC/SNAP 8, FCS 4) at R bit/s lasts
20 us (preamble + SIGNAL) + 4 us x ceil((16 SERVICE + 6 tail + 8 B) / (4 us x R)) + 6 us
(signal extension). The MAC ACK (14 B) goes at 24 Mbit/s after a 54 Mbit/s frame:
ceil(134 / 96) = 2 symbols, 34 us. ACKTimeout = SIFS + slot + 25 us (aRxPHYStartDelay) =
44 us. EIFS = SIFS + the ACK at the lowest basic rate, 6 Mbit/s (ceil(134 / 24) = 6 symbols,
50 us) + DIFS = 88 us. Propagation delay 0 unless a test says otherwise. Times below in us.
"""

from __future__ import annotations

import math

import pytest

from libsim import FlowSpec, LinkSpec, NetworkSpec, simulate

US = 1e-6
PS = 1e-12  # libsim's clock: integer picoseconds
SLOT, SIFS, DIFS = 9.0, 10.0, 28.0
ACK_TIMEOUT = SIFS + SLOT + 25.0  # 44
EIFS = SIFS + 50.0 + DIFS  # 88: the ACK at 6 Mbit/s, 20 + 6 x 4 + 6 = 50 us
ACK_24 = 20.0 + 4.0 * math.ceil((22 + 8 * 14) / 96) + 6.0  # 34
MAC_OVERHEAD = 36  # MAC header 24 + LLC/SNAP 8 + FCS 4, as ns-3 and the scenarios count
UDP_IP = 28


def airtime_us(ip_bytes: int, rate: float) -> float:
    bits_per_symbol = rate * 4e-6
    symbols = math.ceil((22 + 8 * (ip_bytes + MAC_OVERHEAD)) / bits_per_symbol)
    return 20.0 + 4.0 * symbols + 6.0


def medium(stations, rate=54e6, delay=0.0):
    return LinkSpec("air", "wireless", (*stations, "ap"), rate, delay, overhead_bytes=MAC_OVERHEAD)


def on_time(value_s: float, expected_us: float) -> bool:
    return abs(value_s - expected_us * US) < 10 * PS


def whole_slots(value_us: float) -> int | None:
    """value / slot when it is a whole number of slots (to 10 ps), else None."""
    k = round(value_us / SLOT)
    return k if abs(value_us - k * SLOT) < 1e-5 else None


# --- one station on an idle medium: DIFS + airtime, no backoff ----------------------------


def test_the_issue_figure_282_us():
    # 1472 B of UDP payload = 1500 B IP + 36 B MAC = 1536 octets: 22 + 12288 = 12310 bits,
    # 57 symbols of 216 bits: 20 + 228 + 6 = 254 us on the air; with DIFS 282 us.
    assert airtime_us(1500, 54e6) == 254.0
    net = NetworkSpec(
        ("cam", "ap"), (medium(["cam"]),), (FlowSpec("cam", "ap", 5, 10, 1472),), "udp"
    )
    for frame in simulate(net).flows[0].frames:
        assert on_time(frame.latency_s, 282.0)


@pytest.mark.parametrize(
    ("payload", "rate", "delay_us"),
    [(1472, 54e6, 0.0), (1000, 54e6, 1.0), (100, 24e6, 0.0), (1472, 6e6, 0.0), (60, 12e6, 3.0)],
)
def test_an_unsaturated_station_sends_difs_after_each_frame_arrives(payload, rate, delay_us):
    # 100 frames/s: 10 ms between frames, far longer than an exchange + post-backoff
    # (< 2 ms at 6 Mbit/s): every frame finds the medium idle with no backoff pending.
    flow = FlowSpec("cam", "ap", 8, 100, payload)
    net = NetworkSpec(("cam", "ap"), (medium(["cam"], rate, delay_us * US),), (flow,), "udp")
    result = simulate(net).flows[0]
    expected = DIFS + airtime_us(payload + UDP_IP, rate) + delay_us
    assert all(on_time(f.latency_s, expected) for f in result.frames)
    assert result.summary.collisions == 0


def test_a_frame_arriving_during_the_post_backoff_waits_for_it():
    # Frame 0 at 0 goes at DIFS = 28, its data ends at 28 + 254 = 282, its ACK at
    # 282 + SIFS + 34 = 326; the post-backoff (b in 0..15 slots) counts from 326 + DIFS =
    # 354. Frame 1, written at 330 us, continues it: its data starts at 354 + 9 b and is
    # delivered at 608 + 9 b (immediate access would give 330 + 28 + 254 = 612 for every b).
    seen = set()
    for seed in range(120):
        flow = FlowSpec("cam", "ap", 2, 1 / 330e-6, 1472)
        net = NetworkSpec(("cam", "ap"), (medium(["cam"]),), (flow,), "udp", seed=seed)
        frames = simulate(net).flows[0].frames
        assert on_time(frames[0].delivered_s, 282.0)
        k = whole_slots(frames[1].delivered_s / US - 608.0)
        assert k is not None and 0 <= k <= 15
        seen.add(k)
    assert len(seen) >= 12  # uniform over 16 values: 120 draws miss 5 with p < 1e-3


# --- two synchronised stations: the first attempt collides -------------------------------


def synchronised(stations: int, frames=1, fps=10, seed=1, payload=1472):
    names = [f"cam{i}" for i in range(stations)]
    flows = tuple(FlowSpec(n, "ap", frames, fps, payload) for n in names)
    return NetworkSpec((*names, "ap"), (medium(names),), flows, "udp", seed=seed)


def expected_mean_latency_of_two() -> float:
    """Mean frame latency of two stations whose frames arrive together on an idle medium.

    Both go at DIFS = 28 and collide; the frames end at 282, the ACK timeouts at 326, and
    both back off from 326 + DIFS = 354 with CW = 31. With the first retry's slots counted
    from T: distinct draws b1 != b2 deliver at T + 9 min + 254 and (the loser resumes its
    remaining max - min slots DIFS after the winner's ACK) at T + 9 min + 254 + SIFS + 34 +
    DIFS + 9 (max - min) + 254 = T + 9 max + 580; E[min + max | distinct] = CW. Equal draws
    (probability 1 / (CW + 1)) collide again at T + 9 b, and the next retry counts from
    T + 9 b + 254 + 44 + 28 = T + 9 b + 326 with CW doubled. The sum of both latencies is
    2 T + c(stage); c is computed backwards (the 7th and last attempt, reached with
    probability 2^-35, is counted as won).
    """
    cws = [min(2 ** (stage + 4) - 1, 1023) for stage in range(1, 7)]  # retries 1..6
    c = 834 + 9 * cws[-1]
    for cw in reversed(cws[:-1]):
        w = cw + 1
        c = (1 - 1 / w) * (834 + 9 * cw) + (1 / w) * (2 * (9 * cw / 2 + 326) + c)
    return (2 * 354 + c) / 2


def test_synchronised_stations_collide_first_then_draw_from_32_slots():
    slot_pairs, repeated = [], 0
    for seed in range(400):
        flows = simulate(synchronised(2, seed=seed)).flows
        collisions = [f.summary.collisions for f in flows]
        assert collisions[0] == collisions[1] >= 1  # both frames are in every collision
        if sum(collisions) > 2:
            repeated += 1
            continue
        first, second = sorted(f.frames[0].latency_s / US for f in flows)
        b_min, b_max = whole_slots(first - 608.0), whole_slots(second - 934.0)
        assert b_min is not None and b_max is not None
        assert 0 <= b_min < b_max <= 31
        slot_pairs.append((b_min, b_max))
    # Equal draws from 32 values: 1/32 of 400 runs = 12.5 expected.
    assert 3 <= repeated <= 28
    # Two distinct uniform draws from 0..31: E[max - min] = (32 + 1) / 3 = 11, so
    # E[min] = (31 - 11) / 2 = 10 and E[max] = 21 (standard errors about 0.4).
    mean_min = sum(p[0] for p in slot_pairs) / len(slot_pairs)
    mean_max = sum(p[1] for p in slot_pairs) / len(slot_pairs)
    assert mean_min == pytest.approx(10, abs=1.6)
    assert mean_max == pytest.approx(21, abs=1.6)


def test_synchronised_cameras_collide_on_every_frame_and_match_the_expected_mean():
    # 10 frames/s: each pair of frames meets an idle medium with both post-backoffs over,
    # so every frame collides on its first attempt and the frames are independent draws.
    latencies = []
    for seed in range(100):
        flows = simulate(synchronised(2, frames=20, seed=seed)).flows
        for flow in flows:
            assert flow.summary.complete == 20
            assert flow.summary.collisions >= 20
            latencies += [f.latency_s / US for f in flow.frames]
    # (608 + 9 x 10 + 934 + 9 x 21) / 2 = 910.5 us for a single collision; about 930 us
    # with the repeats. 4000 latencies (standard deviation about 250 us; the two of a pair
    # are correlated, so about 2000 independent pairs): a standard error near 6 us, and
    # 2 % is 19 us.
    expected = expected_mean_latency_of_two()
    assert 925 < expected < 935
    assert sum(latencies) / len(latencies) == pytest.approx(expected, rel=0.02)


# --- EIFS: the stations that saw a failed exchange ---------------------------------------


def three_stations(arrival_us: float, seed: int):
    """cam0 and cam1 send at 0 (they collide); relay C forwards a frame from `feed` that
    reaches C at `arrival_us`: 500 B IP over 1 Gbit/s without link overhead takes 4 us,
    plus the wire's delay. C's frame lasts 20 + 4 x ceil((22 + 8 x 536) / 216) + 6 = 106 us.
    """
    names = ["cam0", "cam1", "C"]
    links = (
        medium(names),
        LinkSpec(
            "wire", "full_duplex", ("feed", "C"), 1e9, (arrival_us - 4.0) * US, overhead_bytes=0
        ),
    )
    flows = (
        FlowSpec("cam0", "ap", 1, 10, 1472),
        FlowSpec("cam1", "ap", 1, 10, 1472),
        FlowSpec("feed", "ap", 1, 10, 472),
    )
    return NetworkSpec((*names, "ap", "feed"), links, flows, "udp", seed=seed)


def test_a_station_ready_after_a_collision_defers_eifs_then_difs_after_a_success():
    # The collided frames end at 282; the colliding stations wait ACKTimeout (to 326), then
    # DIFS, and draw b in 0..31 slots from 354. C's frame reaches C at 300, on a medium
    # idle for C, with no backoff pending: it goes at max(300 + DIFS, 282 + EIFS) = 370 and
    # is delivered at 370 + 106 = 476 (with DIFS instead of EIFS: 354 + 106 = 460), unless
    # a colliding station goes first: b = 0 or 1 (start 354 or 363), p = 1 - (30/32)^2.
    # After C's success (ACK until 476 + 44 = 520) everyone counts from DIFS again: the
    # colliding stations have spent 1 slot (354..363; 363..370 is a partial slot), so the
    # first of them starts at 548 + 9 (b - 1) and is delivered at 793 + 9 b.
    c_first = 0
    for seed in range(200):
        flows = simulate(three_stations(300.0, seed)).flows
        c = flows[2].frames[0]
        cams = sorted(f.frames[0].delivered_s / US for f in flows[:2])
        if on_time(c.latency_s, 476.0):
            c_first += 1
            assert flows[2].summary.collisions == 0
            if all(f.summary.collisions == 1 for f in flows[:2]):  # b0 != b1 (p = 31/32)
                b = whole_slots(cams[0] - 793.0)
                assert b is not None and 2 <= b <= 31
        else:
            assert c.latency_s > 476.0 * US
    # p = (30/32)^2 = 0.879: 175.8 of 200 expected, standard deviation 4.6.
    assert 160 <= c_first <= 190


def test_a_station_whose_frame_arrived_during_the_collision_counts_from_eifs():
    # C's frame reaches C at 100, while the collided frames are on the air: C draws
    # b_C in 0..15 and counts from 282 + EIFS = 370, the colliders from 354. When C goes
    # first, it is delivered at 370 + 9 b_C + 106 = 476 + 9 b_C (with DIFS instead of EIFS
    # it would be 460 + 9 b_C: never a whole number of slots after 476). A second collision
    # of the two (equal retry draws below b_C + 2) would restart C's EIFS: left out.
    c_first = 0
    draws = set()
    for seed in range(200):
        flows = simulate(three_stations(100.0, seed)).flows
        c = flows[2].frames[0].delivered_s / US
        once = all(f.summary.collisions == 1 for f in flows[:2])  # no second collision first
        if once and c < min(f.frames[0].delivered_s / US for f in flows[:2]):
            c_first += 1
            b = whole_slots(c - 476.0)
            assert b is not None and 0 <= b <= 15
            draws.add(b)
    assert c_first >= 100  # C first unless a collider's b is within b_C + 1: p > 0.6
    assert len(draws) >= 10
