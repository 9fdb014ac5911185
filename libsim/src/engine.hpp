// The simulator's SystemC modules: one class per concept of the network.
//
// Every process is an SC_METHOD woken by a lazy timer (Wakeup): a process asks to be woken
// at a time; an earlier pending wake-up is kept and the process re-arms itself when it runs.
// Nothing is ever cancelled; each timer serves one purpose, so its requests move forward in
// time and SystemC's timed queue holds no dead entries. A run ends when no event is left.
#pragma once

#include <systemc>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "model.hpp"

namespace libsim {

class Interface;
class Node;
class FlowPolicy;

// Set by libsim_interrupt() from any thread; cleared when a run starts.
bool interrupted();

// Everything one run shares: the configuration, the outcome being filled, the counters.
class Simulation {
 public:
  explicit Simulation(const NetworkConfig& config);
  const NetworkConfig& config;
  RunOutcome outcome;
  std::vector<Node*> nodes;
  std::vector<class Endpoint*> sources;  // per flow, at the flow's src node
  std::vector<class Endpoint*> sinks;    // per flow, at the flow's dst node
  std::string failure;                   // set once; the run then drains and reports it
  bool interrupted_run = false;          // the failure is an interruption, not a limit
  std::vector<int32_t> route_slot;       // per node: its row in the routing tables, or -1
  std::vector<FlowPolicy*> policies;     // per flow: its policy, or nullptr

  // The current simulated time, read once per process activation (Wakeup::fired).
  Time now() const { return now_; }
  void sync_clock() { now_ = sc_core::sc_time_stamp().value(); }
  bool failed() const { return !failure.empty(); }
  void fail(const std::string& message) {
    if (failure.empty()) failure = message;
  }
  // One process activation; a run that needs more than kMaxEvents of them is stopped, and
  // so is one interrupted from another thread (libsim_interrupt).
  void count_event() {
    if (++outcome.events > kMaxEvents) {
      fail("the simulation exceeded 1e9 events: use fewer frames or smaller payloads");
    }
    if ((outcome.events & 1023) == 0 && interrupted() && !failed()) {
      interrupted_run = true;
      fail("interrupted");
    }
  }
  static constexpr uint64_t kMaxEvents = uint64_t(LIBSIM_EVENTS_MAX);
  void deliver(const Packet& packet);
  // A packet of `flow` vanished in the network (link loss, full queue, MAC retry limit).
  void packet_lost(const Packet& packet) {
    if (counts_as_sent(packet)) outcome.flows[packet.flow].packets_lost++;
  }
  // The packets a flow's packets_sent / packets_lost count: payload and connection set-up.
  static bool counts_as_sent(const Packet& packet) {
    return packet.kind == PacketKind::UdpData || packet.kind == PacketKind::TcpData ||
           packet.kind == PacketKind::TcpSyn;
  }

 private:
  Time now_ = 0;
};

// Lazy timer: a process asks to run at a time; see the header comment.
class Wakeup {
 public:
  explicit Wakeup(Simulation& sim) : sim_(sim) {}
  sc_core::sc_event& event() { return event_; }
  void at(Time when);
  // Call first thing in the process this wakes.
  void fired() {
    sim_.sync_clock();
    if (pending_ != kNever && pending_ <= sim_.now()) pending_ = kNever;
  }

 private:
  Simulation& sim_;
  sc_core::sc_event event_;
  Time pending_ = kNever;
};

// Receives the packets addressed to one end of a flow.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  virtual void on_packet(const Packet& packet) = 0;
};

// A host or relay: routes by a static table, stores and forwards.
class Node : public sc_core::sc_module {
 public:
  Node(sc_core::sc_module_name name, Simulation& sim, int32_t index);
  int32_t index() const { return index_; }
  // Routes are kept only towards the nodes packets are addressed to (Simulation::route_slot).
  void resize_routes(size_t destinations) { routes_.resize(destinations); }
  void set_route(size_t slot, Interface* via, int32_t next_hop);
  Interface* route(int32_t dst) const { return routes_[size_t(sim_.route_slot[dst])].via; }
  // A packet this node originates: never dropped by its own interface.
  void send(const Packet& packet);
  // A packet arriving from a link.
  void receive(const Packet& packet);

 private:
  struct Route {
    Interface* via = nullptr;
    int32_t next_hop = -1;
  };
  Simulation& sim_;
  int32_t index_;
  std::vector<Route> routes_;
};

// Per-packet loss: Bernoulli, or Gilbert-Elliott (two-state Markov chain, one step per
// packet; the state a packet meets decides its loss, then the chain moves on).
class LossModel {
 public:
  LossModel(const LinkConfig& link, Rng rng);
  bool lose();
  // Bernoulli with the probability a trace gives for this packet.
  bool lose_with(double p) { return p > 0.0 && rng_.uniform() < p; }

 private:
  Rng rng_;
  double loss_;
  bool burst_;
  BurstConfig ge_;
  bool bad_ = false;
};

// A rate trace in simulated time (see RateTrace): the row in force at a time, and when a
// transmission that starts at a time ends. Lookups are binary searches over the rows.
class RateSchedule {
 public:
  explicit RateSchedule(const RateTrace& trace) : trace_(trace) {}
  struct Row {
    size_t index;
    Time end;  // simulated time the row ends (kNever: it holds forever)
  };
  Row row_at(Time t) const;
  double bitrate_at(Time t) const { return trace_.bitrate_bps[row_at(t).index]; }
  bool has_loss() const { return !trace_.loss.empty(); }
  bool has_delay() const { return !trace_.delay.empty(); }
  double loss_at(Time t) const { return trace_.loss[row_at(t).index]; }
  Time delay_at(Time t) const { return trace_.delay[row_at(t).index]; }
  // When `bits` started at `start` have left: each row carries its bits at its rate; within
  // the first row this is start + to_time(bits / rate), the fixed-bitrate arithmetic.
  Time finish(Time start, double bits) const;

 private:
  const RateTrace& trace_;
};

// Mahimahi delivery opportunities in simulated time, numbered 0, 1, ... from trace time 0.
// Without loop the trace's mean opportunity rate continues after its last opportunity.
class OpportunitySchedule {
 public:
  explicit OpportunitySchedule(const OpportunityTrace& trace) : trace_(trace) {}
  uint64_t first_at_or_after(Time t) const;
  Time time_of(uint64_t k) const;  // simulated time; beyond kHorizon means never

 private:
  Time trace_time(uint64_t k) const;
  const OpportunityTrace& trace_;
};

// A node's attachment to a link, with its drop-tail transmit queue.
class Interface : public sc_core::sc_module {
 public:
  Interface(sc_core::sc_module_name name, Simulation& sim, Node& owner, int32_t queue_packets)
      : sc_module(name), sim_(sim), owner_(owner), queue_packets_(queue_packets) {}
  Node& owner() { return owner_; }
  // Queue a packet for `next_hop`; false when the drop-tail queue dropped it. `local`
  // packets (originated by this node) are never dropped: senders wait for room instead.
  virtual bool transmit(const Packet& packet, int32_t next_hop, bool local) = 0;
  // Whether a packet would find room in the queue now.
  virtual bool has_room() = 0;
  // Wake `waiter` once the queue has room.
  virtual void notify_when_room(Wakeup& waiter) = 0;

 protected:
  Simulation& sim_;
  Node& owner_;
  int32_t queue_packets_;
};

// One direction's wire (or the shared one of a half-duplex link): when it is free, and with
// Mahimahi opportunities, the opportunity the last packet left at and its bytes left.
struct Wire {
  Time free = 0;
  bool used = false;
  uint64_t opportunity = 0;
  int32_t left = 0;
};

// A point-to-point cable between two nodes. Packets of one direction are serialised on the
// wire (transmission = bytes * 8 / bitrate, or a trace's rates / opportunities) and arrive
// `delay` after their last bit left, never before the packet ahead of them.
class PointToPointChannel : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(PointToPointChannel);
  PointToPointChannel(sc_core::sc_module_name name, Simulation& sim, const LinkConfig& link,
                      int32_t link_index, Node& a, Node& b);
  ~PointToPointChannel() override;
  Interface& end(int dir) { return *ends_[dir]; }
  struct Transmission {
    Time start;
    Time end;  // the last bit has left
  };
  // Reserve the wire for an IP packet from end `dir` that may start at `earliest`.
  Transmission reserve(int dir, Time earliest, int32_t ip_bytes);
  // Put a packet on the wire: it arrives at the other end `delay` after `end`.
  void carry(int dir, const Packet& packet, Time end);

 protected:
  virtual Wire& wire(int dir) = 0;
  Simulation& sim_;
  const LinkConfig& link_;

 private:
  struct InFlight {
    Time arrival;
    Packet packet;
    double loss;  // < 0: the link's loss model decides
  };
  Transmission use_opportunities(Wire& wire, Time earliest, int32_t ip_bytes) const;
  void arrive_forward() { arrive(0); }
  void arrive_backward() { arrive(1); }
  void arrive(int dir);

  Node* nodes_[2];
  Interface* ends_[2];
  std::deque<InFlight> in_flight_[2];
  Wakeup wake_[2];
  LossModel loss_[2];
  Time delay_;
  std::unique_ptr<RateSchedule> rates_;
  std::unique_ptr<OpportunitySchedule> opportunities_;
};

// Both directions at once, each with its own wire.
class FullDuplexChannel : public PointToPointChannel {
 public:
  using PointToPointChannel::PointToPointChannel;

 protected:
  Wire& wire(int dir) override { return wires_[dir]; }

 private:
  Wire wires_[2];
};

// One wire for both directions: transmissions are served first come, first served.
class HalfDuplexChannel : public PointToPointChannel {
 public:
  using PointToPointChannel::PointToPointChannel;

 protected:
  Wire& wire(int) override { return wire_; }

 private:
  Wire wire_;
};

// An interface on a point-to-point channel. The queue holds the packets whose transmission
// has not started; the one on the wire is not counted.
class PointToPointInterface : public Interface {
 public:
  PointToPointInterface(sc_core::sc_module_name name, Simulation& sim, Node& owner,
                        int32_t queue_packets, PointToPointChannel& channel, int dir);
  bool transmit(const Packet& packet, int32_t next_hop, bool local) override;
  bool has_room() override;
  void notify_when_room(Wakeup& waiter) override;

 private:
  void prune();
  PointToPointChannel& channel_;
  int dir_;
  std::deque<Time> waiting_starts_;  // start times of queued packets, in order
};

class WirelessMedium;

// A station of a wireless medium: its queue and its 802.11 DCF state (IEEE 802.11-2016,
// 10.3). A backoff is pending from the end of each of the station's transmissions
// (post-backoff, or the retry's backoff) and when a frame finds the medium busy, until its
// slots have run out on the idle medium; a frame that finds the medium idle with no backoff
// pending goes DIFS after its arrival without one (immediate access).
class WirelessStation : public Interface {
 public:
  WirelessStation(sc_core::sc_module_name name, Simulation& sim, Node& owner,
                  const LinkConfig& link, WirelessMedium& medium, Rng backoff_rng,
                  Rng loss_rng);
  bool transmit(const Packet& packet, int32_t next_hop, bool local) override;
  bool has_room() override;
  void notify_when_room(Wakeup& waiter) override;

 private:
  friend class WirelessMedium;
  struct Queued {
    Packet packet;
    Node* receiver;
  };
  // A frame became the head of an empty queue.
  void frame_arrived();
  void draw_backoff();
  // The head frame's exchange ended at `at`: delivered (or dropped), or failed (retry).
  void head_done(bool delivered, Time at);
  void head_failed(Time at);

  WirelessMedium& medium_;
  Rng rng_;
  LossModel loss_;  // this station's frames, as seen by their receivers
  std::deque<Queued> queue_;
  std::vector<Wakeup*> room_waiters_;
  uint32_t cw_;
  uint32_t backoff_slots_ = 0;
  bool backoff_pending_ = false;
  bool immediate_ = false;  // the head frame goes at immediate_at_ if the medium stays idle
  Time immediate_at_ = 0;
  Time slots_from_;         // slots count from here: DIFS (or EIFS) after the last busy period
  bool sending_ = false;    // one of the frames of the exchange on the medium
  uint32_t retries_ = 0;
  Time released_at_ = 0;  // the last frame counts as in service until then
};

// One shared half-duplex radio medium with 802.11 DCF (CSMA/CA). See links.cpp for the
// timing constants (802.11g ERP-OFDM) and the model's simplifications.
class WirelessMedium : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(WirelessMedium);
  WirelessMedium(sc_core::sc_module_name name, Simulation& sim, const LinkConfig& link,
                 int32_t link_index, const std::vector<Node*>& nodes);
  ~WirelessMedium() override;
  Interface& station_of(int32_t node_index);
  Node* member(int32_t node_index) const;
  // At the data rate in force (a trace's: the rate when the exchange starts).
  Time data_duration(int32_t ip_bytes) const;
  Time ack_duration() const { return ack_duration_; }
  // A station's head frame is waiting: wake when it may transmit. While the medium is
  // busy, the end of the exchange re-runs the contention anyway.
  void station_ready(const WirelessStation& station);
  // Whether `station` senses the medium idle now.
  bool idle_for(const WirelessStation& station) const;
  // Ends a pending backoff whose slots ran out on the idle medium before now.
  void settle_backoff(WirelessStation& station) const;
  uint32_t cw_min() const;
  uint32_t cw_max() const;
  uint32_t retry_limit() const;

 private:
  struct InFlight {
    Time arrival;
    Packet packet;
    Node* receiver;
  };
  void step();
  void finish_transmission();
  Time contend();
  Time access_time(const WirelessStation& station) const;
  // A trace's data rate, loss and delay at `now`: the exchange starting now uses them.
  void follow_trace(Time now);

  Simulation& sim_;
  const LinkConfig& link_;
  std::unique_ptr<RateSchedule> rates_;
  double rate_;  // data rate in force, bit/s
  std::vector<Node*> nodes_;
  std::vector<WirelessStation*> stations_;
  std::deque<InFlight> in_flight_;
  Wakeup wake_;
  Time delay_;
  Time ack_duration_;
  Time eifs_;
  bool busy_ = false;
  bool in_step_ = false;
  Time air_end_ = 0;  // the current exchange's data frames have left the air
  Time busy_until_ = 0;
  Time idle_since_ = 0;
  std::vector<WirelessStation*> transmitting_;
  bool transmission_ok_ = false;
};

// A flow's closed-loop choice of deployment (libsim_set_flow_policy): decides each frame's
// candidate when the sender writes it, from the deliveries seen so far, and keeps the sizes
// for the receiver.
class FlowPolicy {
 public:
  FlowPolicy(Simulation& sim, int32_t flow, std::vector<int32_t> path_links);
  // Choose frame `frame`'s candidate now (frames in order); its payload size.
  int64_t decide(int64_t frame);
  bool decided(int64_t frame) const { return frame < int64_t(sizes_.size()); }
  int64_t size(int64_t frame) const { return sizes_[size_t(frame)]; }
  // Frame `frame`'s last byte arrived now.
  void observe(int64_t frame, Time delivered);
  // The run ended: frames never written take the deployment in use.
  void finish();
  double estimate_bps() const;

 private:
  double bottleneck_bps() const;
  Simulation& sim_;
  int32_t flow_;
  const FlowConfig& config_;
  const PolicyConfig& policy_;
  std::vector<int32_t> path_links_;
  std::vector<int64_t> sizes_;
  int32_t current_ = -1;
  int32_t preferred_ = -1;  // the candidate the hysteresis is counting for
  int32_t preferred_count_ = 0;
  // Estimator state.
  bool have_sample_ = false;
  double ewma_bps_ = 0.0;
  std::deque<double> recent_;  // harmonic: the last `window` samples
  Time last_delivery_ = 0;
  bool any_delivery_ = false;
};

// The application at a flow's source: when frame i is written and its `sent` time.
// Frames are handed to the transport one at a time: frame i+1 is written once frame i has
// been handed over, and not before i / fps (fps > 0). With fps = 0 it is written at once.
class FrameSchedule {
 public:
  explicit FrameSchedule(const FlowConfig& flow) : flow_(flow) {}
  Time due(int64_t frame) const;

 private:
  const FlowConfig& flow_;
};

class UdpSource : public sc_core::sc_module, public Endpoint {
 public:
  SC_HAS_PROCESS(UdpSource);
  UdpSource(sc_core::sc_module_name name, Simulation& sim, int32_t flow);
  void on_packet(const Packet&) override {}

 private:
  void step();
  Simulation& sim_;
  int32_t flow_;
  const FlowConfig& config_;
  FrameSchedule schedule_;
  Wakeup wake_;         // the interface has room again
  Wakeup frame_timer_;  // the next frame is due (its own timer keeps wake-ups in order)
  Node* node_;
  Interface* interface_;
  FlowPolicy* policy_;
  int64_t frame_ = 0;
  uint32_t datagram_ = 0;
  bool frame_started_ = false;
};

class UdpSink : public sc_core::sc_module, public Endpoint {
 public:
  UdpSink(sc_core::sc_module_name name, Simulation& sim, int32_t flow);
  void on_packet(const Packet& packet) override;
  void finish();  // fill the flow's frame outcomes

 private:
  size_t first_datagram(int64_t frame) const;  // index of frame's first flag in received_
  int64_t frame_bytes(int64_t frame) const;
  void extend_to(int64_t frame);  // a policy's flow: flags up to frame's, sizes now decided
  Simulation& sim_;
  int32_t flow_;
  const FlowConfig& config_;
  FlowPolicy* policy_;
  std::vector<uint32_t> missing_;  // a policy's flow: datagrams not yet arrived, per frame
  uint32_t datagrams_per_frame_;  // when every frame has payload_bytes
  uint32_t datagram_payload_;
  std::vector<size_t> first_datagram_;  // per frame and one past the end (per-frame sizes)
  std::vector<uint8_t> received_;  // first_datagram(frame) + datagram
  std::vector<Time> last_arrival_;
};

// TCP NewReno sender (RFC 5681, 6582, 6298) with one persistent connection.
class TcpSender : public sc_core::sc_module, public Endpoint {
 public:
  SC_HAS_PROCESS(TcpSender);
  TcpSender(sc_core::sc_module_name name, Simulation& sim, int32_t flow);
  void on_packet(const Packet& packet) override;

 private:
  enum class State { Closed, SynSent, Established, Aborted };
  void step();
  void write_frames();
  // Send what the windows allow; `limited_transmit` extra bytes of new data (RFC 3042).
  void try_send(uint64_t limited_transmit = 0);
  void send_segment(uint64_t seq, uint32_t len);
  void send_syn();
  void on_ack(const Packet& packet);
  void on_timeout();
  void arm_rto() { rto_deadline_ = sim_.now() + rto_; timer_.at(rto_deadline_); }
  void update_rtt(Time sample);
  uint64_t flight() const { return snd_max_ - snd_una_; }

  Simulation& sim_;
  int32_t flow_;
  const FlowConfig& config_;
  const TcpConfig& tcp_;
  FrameSchedule schedule_;
  // One lazy timer per purpose, so that each one's wake-ups only move forward in time.
  Wakeup wake_;         // the interface has room again
  Wakeup frame_timer_;  // the next frame is due
  Wakeup timer_;        // retransmission timer
  Node* node_;
  Interface* interface_;
  FlowPolicy* policy_;
  uint32_t mss_;
  State state_ = State::Closed;
  int64_t frames_written_ = 0;
  uint64_t written_ = 0;  // stream bytes the application has written
  uint64_t snd_una_ = 0, snd_nxt_ = 0, snd_max_ = 0;
  uint64_t cwnd_ = 0, ssthresh_ = 0;
  int64_t peer_window_ = 0;
  int64_t recover_ = -1;  // highest stream offset sent when recovery began (RFC 6582)
  uint32_t dupacks_ = 0;
  uint64_t limited_bytes_ = 0;  // sent beyond cwnd by limited transmit since the last new ACK
  bool in_recovery_ = false;
  bool first_partial_ = true;
  bool syn_retransmitted_ = false;
  Time syn_sent_ = 0;
  // RFC 6298 state
  bool have_rtt_ = false;
  double srtt_ = 0.0, rttvar_ = 0.0;
  Time rto_;
  Time rto_deadline_ = kNever;
  uint32_t consecutive_timeouts_ = 0;
  // Karn: one segment timed at a time; a retransmission cancels the measurement.
  bool timing_ = false;
  uint64_t timed_end_ = 0;
  Time timed_at_ = 0;
  Time last_data_sent_ = 0;
};

class TcpReceiver : public sc_core::sc_module, public Endpoint {
 public:
  SC_HAS_PROCESS(TcpReceiver);
  TcpReceiver(sc_core::sc_module_name name, Simulation& sim, int32_t flow);
  void on_packet(const Packet& packet) override;
  void finish();

 private:
  void step();
  void send_ack();
  void on_data(const Packet& packet);
  Simulation& sim_;
  int32_t flow_;
  const FlowConfig& config_;
  const TcpConfig& tcp_;
  Wakeup wake_;
  Node* node_;
  uint32_t mss_;
  uint64_t rcv_nxt_ = 0;
  std::vector<ByteRange> out_of_order_;  // sorted, disjoint, all beyond rcv_nxt_
  uint64_t unacked_bytes_ = 0;
  Time ack_deadline_ = kNever;
  FlowPolicy* policy_;
  int64_t next_frame_ = 0;
  uint64_t next_frame_end_;  // stream offset one past frame next_frame_'s last byte
  bool end_known_;           // false: a policy has not yet decided frame next_frame_'s size
};

// Build the modules of `config` in the current SystemC context and run to completion.
void run_network(const NetworkConfig& config, RunOutcome& outcome);

}  // namespace libsim
