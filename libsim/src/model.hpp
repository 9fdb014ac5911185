// Plain data of one simulation: configuration, packets, random numbers, results.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libsim.h"

namespace libsim {

// Simulated time in picoseconds, SystemC's default resolution (2^64 ps ~ 213 days).
using Time = uint64_t;
constexpr Time kPicosecond = 1;
constexpr Time kNanosecond = 1000;
constexpr Time kMicrosecond = 1000 * kNanosecond;
constexpr Time kMillisecond = 1000 * kMicrosecond;
constexpr Time kSecond = 1000 * kMillisecond;
constexpr Time kNever = UINT64_MAX;
// Nothing is scheduled beyond this: keeps every sum of times far from overflow.
constexpr Time kHorizon = Time(LIBSIM_HORIZON_S) * kSecond;

inline double to_seconds(Time t) { return static_cast<double>(t) / 1e12; }
// Seconds to picoseconds, rounded; anything beyond the horizon (or not finite) becomes
// kHorizon + 1, so that sums of a few times never overflow and the run fails cleanly.
inline Time to_time(double seconds) {
  const double ps = seconds * 1e12;
  if (!(ps < static_cast<double>(kHorizon))) return kHorizon + 1;
  return ps <= 0.0 ? 0 : static_cast<Time>(std::llround(ps));
}

// Thrown while building a network from an invalid description (LIBSIM_ERR_ARGUMENT).
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A run stopped at a limit of the simulator: time horizon, event budget (LIBSIM_ERR_RUNTIME).
class RunLimitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A run stopped by libsim_interrupt (LIBSIM_ERR_INTERRUPTED).
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class LinkKind : int32_t { FullDuplex = 0, HalfDuplex = 1, Wireless = 2 };
enum class Protocol : int32_t { Tcp = 0, Udp = 1 };
enum class RecoveryExit : int32_t {
  Ssthresh = LIBSIM_RECOVERY_EXIT_SSTHRESH,
  FlightSize = LIBSIM_RECOVERY_EXIT_FLIGHTSIZE
};
enum class RtoSsthresh : int32_t {
  FlightSize = LIBSIM_RTO_SSTHRESH_FLIGHTSIZE,
  Keep = LIBSIM_RTO_SSTHRESH_KEEP
};

struct TcpConfig {
  int32_t initial_window = 10;
  double min_rto = 0.2;
  bool delayed_ack = true;
  double ack_delay = 0.04;  // Linux's delayed-ACK timeout (ATO); see libsim.h
  int64_t rwnd = 4194304;
  bool handshake = true;
  bool idle_restart = true;
  RecoveryExit recovery_exit = RecoveryExit::Ssthresh;
  RtoSsthresh rto_ssthresh = RtoSsthresh::FlightSize;
};

struct BurstConfig {
  double p_good_to_bad = 0.0;
  double p_bad_to_good = 1.0;
  double loss_bad = 0.0;
  double loss_good = 0.0;
};

// A piecewise-constant schedule (libsim_set_link_rate_trace), in trace time: row i holds
// from times[i] until times[i + 1] (the last row until `period` when looping, else forever).
struct RateTrace {
  std::vector<Time> times;  // times[0] == 0, strictly increasing
  std::vector<double> bitrate_bps;
  std::vector<double> loss;  // empty: the link's loss model
  std::vector<Time> delay;   // empty: the link's delay
  Time period = 0;           // > 0: the trace repeats with this period
  Time start = 0;            // trace time at simulated time 0
};

// Mahimahi delivery opportunities (libsim_set_link_opportunities), in trace time.
struct OpportunityTrace {
  std::vector<Time> times;  // non-decreasing; the last one (> 0) is the period
  bool loop = false;
  Time start = 0;
};

struct LinkConfig {
  LinkKind kind = LinkKind::FullDuplex;
  double bitrate_bps = 0.0;
  double delay_s = 0.0;
  double loss = 0.0;
  int32_t overhead_bytes = 0;
  int32_t queue_packets = 1;
  bool has_burst = false;
  BurstConfig burst;
  std::vector<int32_t> nodes;
  bool has_rate_trace = false;  // then rate_trace replaces bitrate_bps
  RateTrace rate_trace;
  bool has_opportunities = false;  // then packets leave only at these opportunities
  OpportunityTrace opportunities;
};

enum class Estimator : int32_t {
  Ewma = LIBSIM_ESTIMATOR_EWMA,
  Harmonic = LIBSIM_ESTIMATOR_HARMONIC,
  Perfect = LIBSIM_ESTIMATOR_PERFECT
};

// libsim_policy_config (libsim.h).
struct PolicyConfig {
  Estimator estimator = Estimator::Harmonic;
  double alpha = 0.3;
  int32_t window = 5;
  double margin = 0.1;
  int32_t hold_frames = 2;
  double prior_bps = 1e6;
  double base_delay_s = 0.0;
};

// One deployment a policy may choose: its frames' sizes and its time outside the network.
struct Candidate {
  int64_t payload_bytes = 1;
  std::vector<int64_t> payload_sizes;  // empty: every frame is payload_bytes
  double fixed_s = 0.0;
  int64_t frame_bytes(int64_t frame) const {
    return payload_sizes.empty() ? payload_bytes : payload_sizes[size_t(frame)];
  }
};

struct FlowConfig {
  int32_t src = 0;
  int32_t dst = 0;
  int64_t frames = 0;
  double fps = 0.0;
  int64_t payload_bytes = 1;
  // Frame i's payload when set (one per frame); empty: every frame is payload_bytes.
  std::vector<int64_t> payload_sizes;
  int64_t frame_bytes(int64_t frame) const {
    return payload_sizes.empty() ? payload_bytes : payload_sizes[size_t(frame)];
  }
  // With candidates, a policy chooses each frame's size at run time (FlowPolicy).
  PolicyConfig policy;
  std::vector<Candidate> candidates;
  bool has_policy() const { return !candidates.empty(); }
};

struct NetworkConfig {
  Protocol protocol = Protocol::Tcp;
  int32_t mtu = 1500;
  uint64_t seed = 1;
  TcpConfig tcp;
  int32_t node_count = 0;
  std::vector<LinkConfig> links;
  std::vector<FlowConfig> flows;
};

struct ByteRange {
  int64_t start;
  int64_t end;
};

struct FrameOutcome {
  Time sent = 0;
  Time delivered = 0;
  bool has_delivery = false;
  bool complete = false;
  int64_t lost_bytes = 0;
  int64_t first_range = 0;  // index into FlowOutcome::lost_ranges
  int64_t range_count = 0;
};

struct FlowOutcome {
  std::vector<FrameOutcome> frames;
  std::vector<ByteRange> lost_ranges;
  int64_t packets_sent = 0;
  int64_t packets_lost = 0;
  int64_t retransmissions = 0;
  int64_t collisions = 0;
  // IP bytes and packets (every kind: data, SYN, ACK) each end of the flow originated and
  // received: the radio energy of `sei analyze` (libsim_result_flow_io)
  int64_t src_tx_bytes = 0, src_tx_packets = 0, src_rx_bytes = 0, src_rx_packets = 0;
  int64_t dst_tx_bytes = 0, dst_tx_packets = 0, dst_rx_bytes = 0, dst_rx_packets = 0;
  std::vector<int32_t> choices;  // a policy's candidate per frame
};

struct RunOutcome {
  std::vector<FlowOutcome> flows;
  uint64_t events = 0;
  uint64_t link_packets = 0;
  Time end = 0;
};

// xoshiro256** seeded through splitmix64: small, fast, and the same on every platform
// (std:: distributions are implementation-defined, which would break bit-identical runs).
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (0x9E3779B97F4A7C15ULL * (stream + 1));
    for (auto& word : state_) word = splitmix(x);
  }
  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n] (n < 2^32: the modulo bias is below 2^-32).
  uint32_t below_or_equal(uint32_t n) { return static_cast<uint32_t>(next() % (uint64_t{n} + 1)); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
};

enum class PacketKind : uint8_t { UdpData, TcpSyn, TcpSynAck, TcpData, TcpAck };

constexpr int32_t kIpUdpHeaderBytes = LIBSIM_UDP_IP_HEADER_BYTES;
constexpr int32_t kIpTcpHeaderBytes = LIBSIM_TCP_IP_HEADER_BYTES;

// One IP packet. Small and copied by value along its path.
struct Packet {
  PacketKind kind = PacketKind::UdpData;
  bool to_source = false;  // true for packets travelling dst -> src of their flow (ACKs)
  int32_t flow = 0;
  int32_t dst_node = 0;
  int32_t ip_bytes = 0;
  uint32_t len = 0;       // payload bytes
  uint64_t seq = 0;       // UDP: byte offset in the frame; TCP: stream offset of the payload
  uint64_t ack = 0;       // TCP: cumulative acknowledgement (next expected stream offset)
  int64_t window = 0;     // TCP: advertised receive window, bytes
  int64_t frame = 0;      // UDP: frame index
  uint32_t datagram = 0;  // UDP: datagram index within the frame
};

}  // namespace libsim
