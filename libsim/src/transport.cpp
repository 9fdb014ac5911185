// Transports at the flows' ends: UDP with fragmentation, TCP NewReno.
#include <algorithm>
#include <cmath>

#include "engine.hpp"

namespace libsim {

Time FrameSchedule::due(int64_t frame) const {
  if (flow_.fps <= 0.0) return 0;
  return to_time(double(frame) / flow_.fps);
}

// ---------------------------------------------------------------------------------------
// UDP: frame i (of its own size) is cut into datagrams of at most mtu - 28 payload bytes,
// written as fast as the source's own interface accepts them (a blocking socket).
UdpSource::UdpSource(sc_core::sc_module_name name, Simulation& sim, int32_t flow)
    : sc_module(name),
      sim_(sim),
      flow_(flow),
      config_(sim.config.flows[flow]),
      schedule_(config_),
      wake_(sim),
      frame_timer_(sim),
      node_(sim.nodes[config_.src]),
      interface_(node_->route(config_.dst)),
      policy_(sim.policies[size_t(flow)]) {
  SC_METHOD(step);
  sensitive << wake_.event() << frame_timer_.event();
}

void UdpSource::step() {
  wake_.fired();
  frame_timer_.fired();
  sim_.count_event();
  if (sim_.failed()) return;
  const Time now = sim_.now();
  const uint32_t payload = uint32_t(sim_.config.mtu - kIpUdpHeaderBytes);
  auto& outcome = sim_.outcome.flows[flow_];
  while (frame_ < config_.frames) {
    if (!frame_started_) {
      const Time due = schedule_.due(frame_);
      if (due > now) {
        frame_timer_.at(due);
        return;
      }
      outcome.frames[frame_].sent = config_.fps > 0.0 ? due : now;
      frame_started_ = true;
      datagram_ = 0;
      if (policy_ != nullptr) policy_->decide(frame_);
    }
    const int64_t frame_bytes =
        policy_ != nullptr ? policy_->size(frame_) : config_.frame_bytes(frame_);
    const uint32_t datagrams = uint32_t((frame_bytes + payload - 1) / payload);
    while (datagram_ < datagrams) {
      if (sim_.failed()) return;
      if (!interface_->has_room()) {
        interface_->notify_when_room(wake_);
        return;
      }
      Packet packet;
      packet.kind = PacketKind::UdpData;
      packet.flow = flow_;
      packet.dst_node = config_.dst;
      packet.frame = frame_;
      packet.datagram = datagram_;
      packet.seq = uint64_t(datagram_) * payload;
      packet.len = uint32_t(std::min<int64_t>(payload, frame_bytes - int64_t(packet.seq)));
      packet.ip_bytes = int32_t(packet.len) + kIpUdpHeaderBytes;
      outcome.packets_sent++;
      node_->send(packet);
      datagram_++;
    }
    frame_++;
    frame_started_ = false;
  }
}

UdpSink::UdpSink(sc_core::sc_module_name name, Simulation& sim, int32_t flow)
    : sc_module(name),
      sim_(sim),
      flow_(flow),
      config_(sim.config.flows[flow]),
      policy_(sim.policies[size_t(flow)]) {
  datagram_payload_ = uint32_t(sim.config.mtu - kIpUdpHeaderBytes);
  if (policy_ != nullptr) {
    // Sizes are chosen as the frames are written: flags grow with them (extend_to).
    first_datagram_.push_back(0);
    last_arrival_.assign(size_t(config_.frames), 0);
    return;
  }
  datagrams_per_frame_ =
      uint32_t((config_.payload_bytes + datagram_payload_ - 1) / datagram_payload_);
  size_t datagrams = size_t(config_.frames) * datagrams_per_frame_;
  if (!config_.payload_sizes.empty()) {
    // Frames of their own sizes: frame f's flags start at first_datagram_[f].
    first_datagram_.reserve(size_t(config_.frames) + 1);
    datagrams = 0;
    for (int64_t size : config_.payload_sizes) {
      first_datagram_.push_back(datagrams);
      datagrams += size_t((size + datagram_payload_ - 1) / datagram_payload_);
    }
    first_datagram_.push_back(datagrams);
  }
  received_.assign(datagrams, 0);
  last_arrival_.assign(size_t(config_.frames), 0);
}

int64_t UdpSink::frame_bytes(int64_t frame) const {
  return policy_ != nullptr ? policy_->size(frame) : config_.frame_bytes(frame);
}

void UdpSink::extend_to(int64_t frame) {
  while (int64_t(first_datagram_.size()) <= frame + 1) {
    const int64_t next = int64_t(first_datagram_.size()) - 1;
    const uint32_t datagrams =
        uint32_t((frame_bytes(next) + datagram_payload_ - 1) / datagram_payload_);
    first_datagram_.push_back(first_datagram_.back() + datagrams);
    missing_.push_back(datagrams);
  }
  received_.resize(first_datagram_.back(), 0);
}

size_t UdpSink::first_datagram(int64_t frame) const {
  return first_datagram_.empty() ? size_t(frame) * datagrams_per_frame_
                                 : first_datagram_[size_t(frame)];
}

void UdpSink::on_packet(const Packet& packet) {
  if (policy_ != nullptr) extend_to(packet.frame);
  uint8_t& seen = received_[first_datagram(packet.frame) + packet.datagram];
  if (seen) return;
  seen = 1;
  last_arrival_[packet.frame] = std::max(last_arrival_[packet.frame], sim_.now());
  if (policy_ != nullptr && --missing_[size_t(packet.frame)] == 0) {
    policy_->observe(packet.frame, sim_.now());
  }
}

void UdpSink::finish() {
  auto& outcome = sim_.outcome.flows[flow_];
  if (policy_ != nullptr) extend_to(config_.frames - 1);
  for (int64_t f = 0; f < config_.frames; ++f) {
    FrameOutcome& frame = outcome.frames[f];
    const int64_t frame_bytes = this->frame_bytes(f);
    const size_t datagrams = first_datagram(f + 1) - first_datagram(f);
    const uint8_t* seen = received_.data() + first_datagram(f);
    frame.first_range = int64_t(outcome.lost_ranges.size());
    bool any = false;
    for (uint32_t d = 0; d < datagrams; ++d) {
      if (seen[d]) {
        any = true;
        continue;
      }
      const int64_t start = int64_t(d) * datagram_payload_;
      const int64_t end = std::min<int64_t>(start + datagram_payload_, frame_bytes);
      frame.lost_bytes += end - start;
      if (frame.range_count > 0 && outcome.lost_ranges.back().end == start) {
        outcome.lost_ranges.back().end = end;
      } else {
        outcome.lost_ranges.push_back(ByteRange{start, end});
        frame.range_count++;
      }
    }
    frame.has_delivery = any;
    frame.delivered = any ? last_arrival_[f] : 0;
    frame.complete = frame.lost_bytes == 0;
  }
}

// ---------------------------------------------------------------------------------------
// TCP NewReno. Stream offsets start at 0 for the first payload byte (the SYN is separate).
constexpr Time kInitialRto = 1 * kSecond;       // RFC 6298 (2.1)
constexpr Time kRtoAfterSynLoss = 3 * kSecond;  // RFC 6298 (5.7)
constexpr Time kMaxRto = 60 * kSecond;          // RFC 6298 (2.5) upper bound
constexpr double kClockGranularity = 1e-3;      // G in RFC 6298 (2.3): a 1 kHz timer
constexpr uint32_t kMaxConsecutiveTimeouts = 15;  // then the connection is aborted

TcpSender::TcpSender(sc_core::sc_module_name name, Simulation& sim, int32_t flow)
    : sc_module(name),
      sim_(sim),
      flow_(flow),
      config_(sim.config.flows[flow]),
      tcp_(sim.config.tcp),
      schedule_(config_),
      wake_(sim),
      frame_timer_(sim),
      timer_(sim),
      node_(sim.nodes[config_.src]),
      interface_(node_->route(config_.dst)),
      policy_(sim.policies[size_t(flow)]),
      mss_(uint32_t(sim.config.mtu - kIpTcpHeaderBytes)),
      rto_(kInitialRto) {
  cwnd_ = uint64_t(tcp_.initial_window) * mss_;
  ssthresh_ = UINT64_MAX / 4;  // RFC 5681: arbitrarily high initially
  peer_window_ = tcp_.rwnd;
  if (!tcp_.handshake) state_ = State::Established;
  SC_METHOD(step);
  sensitive << wake_.event() << frame_timer_.event() << timer_.event();
}

void TcpSender::step() {
  wake_.fired();
  frame_timer_.fired();
  timer_.fired();
  sim_.count_event();
  if (sim_.failed() || state_ == State::Aborted) return;
  const Time now = sim_.now();
  if (rto_deadline_ != kNever) {
    if (rto_deadline_ <= now) {
      rto_deadline_ = kNever;
      on_timeout();
    } else {
      timer_.at(rto_deadline_);
    }
  }
  if (state_ == State::Aborted) return;
  write_frames();
  try_send();
}

// The application writes frame i once frame i-1 is handed over (all its bytes sent once)
// and, with fps > 0, not before i / fps.
void TcpSender::write_frames() {
  const Time now = sim_.now();
  auto& outcome = sim_.outcome.flows[flow_];
  while (frames_written_ < config_.frames && snd_max_ >= written_) {
    const Time due = schedule_.due(frames_written_);
    if (due > now) {
      frame_timer_.at(due);
      return;
    }
    // RFC 5681 4.1: after an idle period longer than RTO, restart from min(IW, cwnd).
    if (tcp_.idle_restart && frames_written_ > 0 && snd_una_ == snd_max_ &&
        now - last_data_sent_ > rto_) {
      cwnd_ = std::min<uint64_t>(cwnd_, uint64_t(tcp_.initial_window) * mss_);
    }
    outcome.frames[frames_written_].sent = config_.fps > 0.0 ? due : now;
    written_ += uint64_t(policy_ != nullptr ? policy_->decide(frames_written_)
                                            : config_.frame_bytes(frames_written_));
    frames_written_++;
    if (state_ == State::Closed) send_syn();
  }
}

void TcpSender::send_syn() {
  Packet syn;
  syn.kind = PacketKind::TcpSyn;
  syn.flow = flow_;
  syn.dst_node = config_.dst;
  syn.ip_bytes = kIpTcpHeaderBytes;
  syn.window = tcp_.rwnd;
  if (state_ == State::SynSent) {
    syn_retransmitted_ = true;
    sim_.outcome.flows[flow_].retransmissions++;
  }
  state_ = State::SynSent;
  syn_sent_ = sim_.now();
  sim_.outcome.flows[flow_].packets_sent++;
  node_->send(syn);
  arm_rto();
}

void TcpSender::try_send(uint64_t limited_transmit) {
  if (state_ != State::Established) return;
  bool sent_any = false;
  // Limited transmit sends only new data (RFC 3042).
  if (limited_transmit > 0 && snd_nxt_ < snd_max_) limited_transmit = 0;
  while (snd_nxt_ < written_ && !sim_.failed()) {
    const uint64_t window = std::min<uint64_t>(cwnd_ + limited_transmit, uint64_t(peer_window_));
    const uint32_t len = uint32_t(std::min<uint64_t>(mss_, written_ - snd_nxt_));
    if (snd_nxt_ + len > snd_una_ + window) break;
    if (!interface_->has_room()) {
      interface_->notify_when_room(wake_);
      break;
    }
    if (snd_nxt_ + len > snd_una_ + cwnd_) limited_bytes_ += len;  // beyond cwnd (RFC 3042)
    send_segment(snd_nxt_, len);
    snd_nxt_ += len;
    snd_max_ = std::max(snd_max_, snd_nxt_);
    sent_any = true;
  }
  // A frame fully handed over lets the application write the next one.
  if (sent_any && frames_written_ < config_.frames && snd_max_ >= written_) {
    write_frames();
    try_send();
  }
}

void TcpSender::send_segment(uint64_t seq, uint32_t len) {
  const Time now = sim_.now();
  auto& outcome = sim_.outcome.flows[flow_];
  Packet segment;
  segment.kind = PacketKind::TcpData;
  segment.flow = flow_;
  segment.dst_node = config_.dst;
  segment.seq = seq;
  segment.len = len;
  segment.ip_bytes = int32_t(len) + kIpTcpHeaderBytes;
  segment.window = tcp_.rwnd;
  if (seq < snd_max_) {
    outcome.retransmissions++;
    timing_ = false;  // Karn's algorithm
  } else if (!timing_) {
    timing_ = true;
    timed_end_ = seq + len;
    timed_at_ = now;
  }
  outcome.packets_sent++;
  last_data_sent_ = now;
  node_->send(segment);
  // RFC 6298 (5.1): start the timer if it is not running.
  if (rto_deadline_ == kNever) arm_rto();
}

void TcpSender::on_packet(const Packet& packet) {
  if (state_ == State::Aborted) return;
  if (packet.kind == PacketKind::TcpSynAck) {
    if (state_ != State::SynSent) return;
    state_ = State::Established;
    peer_window_ = packet.window;
    rto_deadline_ = kNever;
    consecutive_timeouts_ = 0;
    // The third segment of the handshake: a pure ACK, then the data.
    Packet ack;
    ack.kind = PacketKind::TcpAck;
    ack.flow = flow_;
    ack.dst_node = config_.dst;
    ack.ip_bytes = kIpTcpHeaderBytes;
    ack.window = tcp_.rwnd;
    node_->send(ack);
    if (!syn_retransmitted_) {
      update_rtt(sim_.now() - syn_sent_);
    } else {
      // RFC 6298 (5.7) and RFC 5681 3.1: a lost SYN means RTO 3 s and a one-segment window.
      rto_ = std::max(rto_, kRtoAfterSynLoss);
      cwnd_ = mss_;
    }
    try_send();
    return;
  }
  if (packet.kind == PacketKind::TcpAck && state_ == State::Established) on_ack(packet);
}

void TcpSender::update_rtt(Time sample_time) {
  const double r = to_seconds(sample_time);
  if (!have_rtt_) {
    srtt_ = r;
    rttvar_ = r / 2;
    have_rtt_ = true;
  } else {
    rttvar_ = 0.75 * rttvar_ + 0.25 * std::fabs(srtt_ - r);
    srtt_ = 0.875 * srtt_ + 0.125 * r;
  }
  double rto = srtt_ + std::max(kClockGranularity, 4 * rttvar_);
  rto = std::max(rto, tcp_.min_rto);
  rto = std::min(rto, to_seconds(kMaxRto));
  rto_ = to_time(rto);
}

void TcpSender::on_ack(const Packet& packet) {
  const uint64_t ack = packet.ack;
  if (ack > snd_max_) return;  // acknowledges something never sent
  const bool window_changed = packet.window != peer_window_;
  peer_window_ = packet.window;
  if (ack > snd_una_) {
    const uint64_t acked = ack - snd_una_;
    snd_una_ = ack;
    limited_bytes_ = 0;
    snd_nxt_ = std::max(snd_nxt_, snd_una_);
    consecutive_timeouts_ = 0;
    if (timing_ && ack >= timed_end_) {
      timing_ = false;
      update_rtt(sim_.now() - timed_at_);
    }
    bool restart_timer = true;
    if (in_recovery_) {
      if (int64_t(ack) > recover_) {
        // Full acknowledgement (RFC 6582 3.2 step 3): cwnd = ssthresh as Linux and ns-3,
        // or option 1, which restarts from about 2 segments when the window was full.
        in_recovery_ = false;
        dupacks_ = 0;
        if (tcp_.recovery_exit == RecoveryExit::Ssthresh) {
          cwnd_ = ssthresh_;
        } else {
          cwnd_ = std::min<uint64_t>(ssthresh_, std::max<uint64_t>(flight(), mss_) + mss_);
        }
      } else {
        // Partial acknowledgement: retransmit the next hole, deflate the window.
        send_segment(snd_una_, uint32_t(std::min<uint64_t>(mss_, snd_max_ - snd_una_)));
        cwnd_ = cwnd_ > acked ? cwnd_ - acked : 0;
        if (acked >= mss_) cwnd_ += mss_;
        cwnd_ = std::max<uint64_t>(cwnd_, mss_);
        restart_timer = first_partial_;
        first_partial_ = false;
      }
    } else {
      dupacks_ = 0;
      if (cwnd_ < ssthresh_) {
        cwnd_ += std::min<uint64_t>(acked, mss_);  // slow start (RFC 5681 eq. 2)
      } else {
        cwnd_ += std::max<uint64_t>(1, uint64_t(mss_) * mss_ / cwnd_);  // eq. 3
      }
    }
    // RFC 6298 (5.2), (5.3)
    if (snd_una_ == snd_max_) {
      rto_deadline_ = kNever;
    } else if (restart_timer) {
      arm_rto();
    }
    try_send();
    return;
  }
  // RFC 5681: a duplicate ACK acknowledges nothing new with data outstanding.
  if (ack != snd_una_ || snd_una_ == snd_max_ || window_changed) return;
  dupacks_++;
  if (in_recovery_) {
    cwnd_ += mss_;  // inflate by the segment that left the network
    try_send();
    return;
  }
  if (dupacks_ < 3) {
    // RFC 5681 3.2 step 1 / RFC 3042: one new segment per duplicate ACK, beyond cwnd by at
    // most two segments.
    try_send(uint64_t(dupacks_) * mss_);
    return;
  }
  if (dupacks_ != 3) return;
  // RFC 6582 step 2: only when the ACK covers more than `recover`.
  if (int64_t(ack) - 1 < recover_) return;
  recover_ = int64_t(snd_max_) - 1;
  // RFC 5681 3.2 step 2: data sent by limited transmit is not part of this FlightSize.
  const uint64_t flight_size = flight() - std::min(flight(), limited_bytes_);
  ssthresh_ = std::max<uint64_t>(flight_size / 2, 2 * uint64_t(mss_));
  limited_bytes_ = 0;
  in_recovery_ = true;
  first_partial_ = true;
  send_segment(snd_una_, uint32_t(std::min<uint64_t>(mss_, snd_max_ - snd_una_)));
  cwnd_ = ssthresh_ + 3 * uint64_t(mss_);
  try_send();
}

void TcpSender::on_timeout() {
  if (state_ == State::SynSent) {
    if (++consecutive_timeouts_ > kMaxConsecutiveTimeouts) {
      state_ = State::Aborted;
      return;
    }
    rto_ = std::min(2 * rto_, kMaxRto);
    send_syn();
    return;
  }
  if (snd_una_ == snd_max_) return;
  if (++consecutive_timeouts_ > kMaxConsecutiveTimeouts) {
    state_ = State::Aborted;
    return;
  }
  // RFC 5681 eq. 4 on the first timeout of a segment; ssthresh holds on repeated ones. A
  // timeout during fast recovery may keep the recovery's ssthresh instead (Linux).
  const bool keep = in_recovery_ && tcp_.rto_ssthresh == RtoSsthresh::Keep;
  if (consecutive_timeouts_ == 1 && !keep) {
    ssthresh_ = std::max<uint64_t>(flight() / 2, 2 * uint64_t(mss_));
  }
  cwnd_ = mss_;  // loss window
  recover_ = int64_t(snd_max_) - 1;  // RFC 6582 section 4
  in_recovery_ = false;
  dupacks_ = 0;
  limited_bytes_ = 0;
  timing_ = false;
  rto_ = std::min(2 * rto_, kMaxRto);  // RFC 6298 (5.5)
  snd_nxt_ = snd_una_;                 // go back: resend from the first unacknowledged byte
  arm_rto();
  try_send();
}

// ---------------------------------------------------------------------------------------
TcpReceiver::TcpReceiver(sc_core::sc_module_name name, Simulation& sim, int32_t flow)
    : sc_module(name),
      sim_(sim),
      flow_(flow),
      config_(sim.config.flows[flow]),
      tcp_(sim.config.tcp),
      wake_(sim),
      node_(sim.nodes[config_.dst]),
      mss_(uint32_t(sim.config.mtu - kIpTcpHeaderBytes)),
      policy_(sim.policies[size_t(flow)]),
      next_frame_end_(config_.frames > 0 && policy_ == nullptr ? uint64_t(config_.frame_bytes(0))
                                                                : 0),
      end_known_(policy_ == nullptr) {
  SC_METHOD(step);
  sensitive << wake_.event();
  dont_initialize();
}

// Delayed-ACK timer.
void TcpReceiver::step() {
  wake_.fired();
  sim_.count_event();
  if (sim_.failed() || ack_deadline_ == kNever) return;
  if (ack_deadline_ <= sim_.now()) {
    send_ack();
  } else {
    wake_.at(ack_deadline_);
  }
}

void TcpReceiver::send_ack() {
  Packet ack;
  ack.kind = PacketKind::TcpAck;
  ack.to_source = true;
  ack.flow = flow_;
  ack.dst_node = config_.src;
  ack.ip_bytes = kIpTcpHeaderBytes;
  ack.ack = rcv_nxt_;
  ack.window = tcp_.rwnd;
  unacked_bytes_ = 0;
  ack_deadline_ = kNever;
  node_->send(ack);
}

void TcpReceiver::on_packet(const Packet& packet) {
  if (packet.kind == PacketKind::TcpSyn) {
    Packet reply;
    reply.kind = PacketKind::TcpSynAck;
    reply.to_source = true;
    reply.flow = flow_;
    reply.dst_node = config_.src;
    reply.ip_bytes = kIpTcpHeaderBytes;
    reply.window = tcp_.rwnd;
    node_->send(reply);
    return;
  }
  if (packet.kind == PacketKind::TcpData) on_data(packet);
}

void TcpReceiver::on_data(const Packet& packet) {
  const uint64_t start = packet.seq;
  const uint64_t end = packet.seq + packet.len;
  if (end <= rcv_nxt_) {
    send_ack();  // a duplicate: acknowledge at once
    return;
  }
  if (start > rcv_nxt_) {
    // Out of order: keep it (within the window) and send a duplicate ACK at once.
    if (end <= rcv_nxt_ + uint64_t(tcp_.rwnd)) {
      ByteRange range{int64_t(start), int64_t(end)};
      auto it = std::lower_bound(
          out_of_order_.begin(), out_of_order_.end(), range,
          [](const ByteRange& a, const ByteRange& b) { return a.start < b.start; });
      it = out_of_order_.insert(it, range);
      // Merge overlapping neighbours.
      std::vector<ByteRange> merged;
      merged.reserve(out_of_order_.size());
      for (const ByteRange& r : out_of_order_) {
        if (!merged.empty() && r.start <= merged.back().end) {
          merged.back().end = std::max(merged.back().end, r.end);
        } else {
          merged.push_back(r);
        }
      }
      out_of_order_.swap(merged);
    }
    send_ack();
    return;
  }
  const bool filled_gap = !out_of_order_.empty();
  rcv_nxt_ = end;
  size_t used = 0;
  while (used < out_of_order_.size() && uint64_t(out_of_order_[used].start) <= rcv_nxt_) {
    rcv_nxt_ = std::max<uint64_t>(rcv_nxt_, uint64_t(out_of_order_[used].end));
    used++;
  }
  out_of_order_.erase(out_of_order_.begin(), out_of_order_.begin() + long(used));
  // Frames whose last byte is now in order are delivered.
  auto& outcome = sim_.outcome.flows[flow_];
  const Time now = sim_.now();
  while (next_frame_ < config_.frames) {
    if (!end_known_) {
      // A policy's flow: the sender decided this frame's size before sending its bytes.
      if (!policy_->decided(next_frame_)) break;
      next_frame_end_ += uint64_t(policy_->size(next_frame_));
      end_known_ = true;
    }
    if (next_frame_end_ > rcv_nxt_) break;
    FrameOutcome& frame = outcome.frames[next_frame_];
    frame.delivered = now;
    frame.has_delivery = true;
    frame.complete = true;
    if (policy_ != nullptr) policy_->observe(next_frame_, now);
    next_frame_++;
    if (next_frame_ < config_.frames) {
      if (policy_ != nullptr) {
        end_known_ = false;
      } else {
        next_frame_end_ += uint64_t(config_.frame_bytes(next_frame_));
      }
    }
  }
  unacked_bytes_ += end - start;
  // RFC 5681 4.2: ACK every second full-sized segment, at once when a gap is filled,
  // otherwise within ack_delay. The connection's first data segment is acknowledged at once,
  // as ns-3 and Linux (quick-ACK mode) do: it starts the sender's ACK clock.
  const bool first_data = start == 0;
  if (!tcp_.delayed_ack || filled_gap || first_data || unacked_bytes_ >= 2 * uint64_t(mss_)) {
    send_ack();
  } else if (ack_deadline_ == kNever) {
    ack_deadline_ = now + to_time(tcp_.ack_delay);
    wake_.at(ack_deadline_);
  }
}

void TcpReceiver::finish() {
  auto& outcome = sim_.outcome.flows[flow_];
  // A policy's flow: FlowPolicy::finish has decided every frame by now.
  if (!end_known_ && next_frame_ < config_.frames) {
    next_frame_end_ += uint64_t(policy_->size(next_frame_));
    end_known_ = true;
  }
  uint64_t end = next_frame_end_;  // of frame next_frame_
  for (int64_t f = next_frame_; f < config_.frames; ++f) {
    FrameOutcome& frame = outcome.frames[f];
    const uint64_t payload =
        uint64_t(policy_ != nullptr ? policy_->size(f) : config_.frame_bytes(f));
    if (f > next_frame_) end += payload;
    const uint64_t start = end - payload;
    const uint64_t missing_from = std::max(start, std::min(rcv_nxt_, start + payload));
    frame.first_range = int64_t(outcome.lost_ranges.size());
    frame.range_count = 1;
    frame.lost_bytes = int64_t(start + payload - missing_from);
    outcome.lost_ranges.push_back(ByteRange{int64_t(missing_from - start), int64_t(payload)});
    frame.complete = false;
    frame.has_delivery = false;
  }
}

}  // namespace libsim
