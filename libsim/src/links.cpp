// Nodes, interfaces, loss models and channels: full duplex, half duplex, 802.11 DCF.
#include <algorithm>
#include <cmath>

#include "engine.hpp"

namespace libsim {

using sc_core::sc_time;

Simulation::Simulation(const NetworkConfig& cfg)
    : config(cfg), route_slot(size_t(cfg.node_count), -1) {
  outcome.flows.resize(cfg.flows.size());
  sources.assign(cfg.flows.size(), nullptr);
  sinks.assign(cfg.flows.size(), nullptr);
  policies.assign(cfg.flows.size(), nullptr);
}

void Simulation::deliver(const Packet& packet) {
  FlowOutcome& f = outcome.flows[packet.flow];
  (packet.to_source ? f.src_rx_bytes : f.dst_rx_bytes) += packet.ip_bytes;
  (packet.to_source ? f.src_rx_packets : f.dst_rx_packets)++;
  Endpoint* endpoint = packet.to_source ? sources[packet.flow] : sinks[packet.flow];
  endpoint->on_packet(packet);
}

void Wakeup::at(Time when) {
  const Time now = sim_.now();
  if (when < now) when = now;
  // An earlier (or equal) wake-up is pending: the process re-arms itself when it runs.
  if (pending_ != kNever && pending_ <= when) return;
  if (when > kHorizon) {
    sim_.fail("simulated time would exceed 1e6 s (bitrate too low or too much data)");
    return;
  }
  pending_ = when;
  event_.notify(sc_time::from_value(when - now));
}

// ---------------------------------------------------------------------------------------
Node::Node(sc_core::sc_module_name name, Simulation& sim, int32_t index)
    : sc_module(name), sim_(sim), index_(index) {}

void Node::set_route(size_t slot, Interface* via, int32_t next_hop) {
  routes_[slot].via = via;
  routes_[slot].next_hop = next_hop;
}

void Node::send(const Packet& packet) {
  FlowOutcome& f = sim_.outcome.flows[packet.flow];
  (packet.to_source ? f.dst_tx_bytes : f.src_tx_bytes) += packet.ip_bytes;
  (packet.to_source ? f.dst_tx_packets : f.src_tx_packets)++;
  const Route& r = routes_[size_t(sim_.route_slot[packet.dst_node])];
  r.via->transmit(packet, r.next_hop, true);
}

void Node::receive(const Packet& packet) {
  if (packet.dst_node == index_) {
    sim_.deliver(packet);
    return;
  }
  const Route& r = routes_[size_t(sim_.route_slot[packet.dst_node])];
  if (!r.via->transmit(packet, r.next_hop, false)) sim_.packet_lost(packet);
}

// ---------------------------------------------------------------------------------------
LossModel::LossModel(const LinkConfig& link, Rng rng)
    : rng_(rng), loss_(link.loss), burst_(link.has_burst), ge_(link.burst) {}

bool LossModel::lose() {
  if (!burst_) return loss_ > 0.0 && rng_.uniform() < loss_;
  const double p = bad_ ? ge_.loss_bad : ge_.loss_good;
  const bool lost = p > 0.0 && rng_.uniform() < p;
  const double move = bad_ ? ge_.p_bad_to_good : ge_.p_good_to_bad;
  if (move > 0.0 && rng_.uniform() < move) bad_ = !bad_;
  return lost;
}


// ---------------------------------------------------------------------------------------
PointToPointChannel::PointToPointChannel(sc_core::sc_module_name name, Simulation& sim,
                                         const LinkConfig& link, int32_t link_index, Node& a,
                                         Node& b)
    : sc_module(name),
      sim_(sim),
      link_(link),
      nodes_{&a, &b},
      ends_{nullptr, nullptr},
      wake_{Wakeup(sim), Wakeup(sim)},
      loss_{LossModel(link, Rng(sim.config.seed, 1000 + 2 * uint64_t(link_index))),
            LossModel(link, Rng(sim.config.seed, 1001 + 2 * uint64_t(link_index)))},
      delay_(to_time(link.delay_s)) {
  if (link.has_rate_trace) rates_ = std::make_unique<RateSchedule>(link.rate_trace);
  if (link.has_opportunities) {
    opportunities_ = std::make_unique<OpportunitySchedule>(link.opportunities);
  }
  ends_[0] = new PointToPointInterface("end_a", sim, a, link.queue_packets, *this, 0);
  ends_[1] = new PointToPointInterface("end_b", sim, b, link.queue_packets, *this, 1);
  SC_METHOD(arrive_forward);
  sensitive << wake_[0].event();
  dont_initialize();
  SC_METHOD(arrive_backward);
  sensitive << wake_[1].event();
  dont_initialize();
}

PointToPointChannel::~PointToPointChannel() {
  delete ends_[1];
  delete ends_[0];
}

PointToPointChannel::Transmission PointToPointChannel::reserve(int dir, Time earliest,
                                                              int32_t ip_bytes) {
  Wire& w = wire(dir);
  if (opportunities_) return use_opportunities(w, earliest, ip_bytes);
  const Time start = std::max(earliest, w.free);
  const double bits = 8.0 * (double(ip_bytes) + double(link_.overhead_bytes));
  // A constant trace takes the fixed-bitrate arithmetic: the same run, bit for bit.
  const Time end = rates_ ? rates_->finish(start, bits) : start + to_time(bits / link_.bitrate_bps);
  w.free = end;
  return {start, end};
}

// Mahimahi's rule: an opportunity carries up to LIBSIM_OPPORTUNITY_BYTES of IP packets; a
// packet larger than what is left continues at the next opportunities and leaves at the one
// that carries its last byte; the rest of that one serves the packets queued by then.
PointToPointChannel::Transmission PointToPointChannel::use_opportunities(Wire& w, Time earliest,
                                                                         int32_t ip_bytes) const {
  const OpportunitySchedule& schedule = *opportunities_;
  uint64_t k;
  int64_t left = LIBSIM_OPPORTUNITY_BYTES;
  if (!w.used || earliest > w.free) {
    k = schedule.first_at_or_after(earliest);
  } else if (w.left > 0) {
    k = w.opportunity;
    left = w.left;
  } else {
    k = w.opportunity + 1;
  }
  const Time start = schedule.time_of(k);
  int64_t bytes = ip_bytes;
  for (;;) {
    const int64_t sent = std::min(left, bytes);
    bytes -= sent;
    left -= sent;
    if (bytes == 0) break;
    ++k;
    left = LIBSIM_OPPORTUNITY_BYTES;
  }
  const Time end = schedule.time_of(k);
  w.free = end;
  w.used = true;
  w.opportunity = k;
  w.left = int32_t(left);
  return {start, end};
}

void PointToPointChannel::carry(int dir, const Packet& packet, Time end) {
  sim_.outcome.link_packets++;
  const Time delay = rates_ && rates_->has_delay() ? rates_->delay_at(end) : delay_;
  Time arrival = end + delay;
  if (arrival > kHorizon) {
    sim_.fail("simulated time would exceed 1e6 s (bitrate too low or too much data)");
    return;
  }
  // A traced delay that shrinks does not let a packet overtake the one ahead of it.
  if (!in_flight_[dir].empty()) arrival = std::max(arrival, in_flight_[dir].back().arrival);
  const double loss = rates_ && rates_->has_loss() ? rates_->loss_at(end) : -1.0;
  in_flight_[dir].push_back(InFlight{arrival, packet, loss});
  if (in_flight_[dir].size() == 1) wake_[dir].at(arrival);
}

void PointToPointChannel::arrive(int dir) {
  wake_[dir].fired();
  sim_.count_event();
  if (sim_.failed()) return;
  const Time now = sim_.now();
  auto& queue = in_flight_[dir];
  while (!queue.empty() && queue.front().arrival <= now) {
    const Packet packet = queue.front().packet;
    const double loss = queue.front().loss;
    queue.pop_front();
    if (loss < 0.0 ? loss_[dir].lose() : loss_[dir].lose_with(loss)) {
      sim_.packet_lost(packet);
    } else {
      nodes_[1 - dir]->receive(packet);
    }
  }
  if (!queue.empty()) wake_[dir].at(queue.front().arrival);
}

// ---------------------------------------------------------------------------------------
PointToPointInterface::PointToPointInterface(sc_core::sc_module_name name, Simulation& sim,
                                             Node& owner, int32_t queue_packets,
                                             PointToPointChannel& channel, int dir)
    : Interface(name, sim, owner, queue_packets), channel_(channel), dir_(dir) {}

void PointToPointInterface::prune() {
  const Time now = sim_.now();
  while (!waiting_starts_.empty() && waiting_starts_.front() <= now) waiting_starts_.pop_front();
}

bool PointToPointInterface::transmit(const Packet& packet, int32_t, bool local) {
  prune();
  if (!local && int64_t(waiting_starts_.size()) >= queue_packets_) return false;
  const Time now = sim_.now();
  const auto transmission = channel_.reserve(dir_, now, packet.ip_bytes);
  if (transmission.start > now) waiting_starts_.push_back(transmission.start);
  channel_.carry(dir_, packet, transmission.end);
  return true;
}

bool PointToPointInterface::has_room() {
  prune();
  return int64_t(waiting_starts_.size()) < queue_packets_;
}

void PointToPointInterface::notify_when_room(Wakeup& waiter) {
  prune();
  // The queue shrinks when its first packet starts its transmission.
  waiter.at(int64_t(waiting_starts_.size()) < queue_packets_ ? sim_.now()
                                                              : waiting_starts_.front());
}

// ---------------------------------------------------------------------------------------
// 802.11g ERP-OFDM defaults (IEEE 802.11-2016, clauses 17 and 18, short slot time):
constexpr Time kSlot = 9 * kMicrosecond;                // aSlotTime
constexpr Time kSifs = 10 * kMicrosecond;               // aSIFSTime
constexpr Time kDifs = kSifs + 2 * kSlot;               // DIFS = SIFS + 2 slots = 28 us
constexpr Time kPreamble = 20 * kMicrosecond;           // PLCP preamble 16 us + SIGNAL 4 us
constexpr Time kSymbol = 4 * kMicrosecond;              // one OFDM symbol
constexpr Time kSignalExtension = 6 * kMicrosecond;     // ERP-OFDM in 2.4 GHz
constexpr Time kRxStartDelay = 25 * kMicrosecond;       // aRxPHYStartDelay
// ACKTimeout = SIFS + slot + aRxPHYStartDelay (10.3.2.9): 44 us.
constexpr Time kAckTimeout = kSifs + kSlot + kRxStartDelay;
constexpr double kLowestBasicRate = 6e6;                // ERP-OFDM mandatory rates: 6, 12, 24
constexpr uint32_t kCwMin = 15;                         // aCWmin
constexpr uint32_t kCwMax = 1023;                       // aCWmax
constexpr uint32_t kRetryLimit = 7;                     // dot11ShortRetryLimit
constexpr int32_t kAckBytes = 14;                       // ACK frame: FC, duration, RA, FCS
constexpr int32_t kServiceAndTailBits = 16 + 6;         // SERVICE field + tail bits
// Control frames go at the highest basic rate not above the data rate: 6, 12 or 24 Mbit/s.
static double ack_rate(double data_rate) {
  for (double rate : {24e6, 12e6, 6e6}) {
    if (rate <= data_rate) return rate;
  }
  return data_rate;
}

static Time ofdm_duration(int64_t bytes, double rate) {
  const double bits_per_symbol = rate * 4e-6;
  const double symbols = std::ceil((kServiceAndTailBits + 8.0 * double(bytes)) / bits_per_symbol);
  return kPreamble + to_time(symbols * to_seconds(kSymbol)) + kSignalExtension;
}

uint32_t WirelessMedium::cw_min() const { return kCwMin; }
uint32_t WirelessMedium::cw_max() const { return kCwMax; }
uint32_t WirelessMedium::retry_limit() const { return kRetryLimit; }

WirelessStation::WirelessStation(sc_core::sc_module_name name, Simulation& sim, Node& owner,
                                 const LinkConfig& link, WirelessMedium& medium, Rng backoff_rng,
                                 Rng loss_rng)
    : Interface(name, sim, owner, link.queue_packets),
      medium_(medium),
      rng_(backoff_rng),
      loss_(link, loss_rng),
      cw_(kCwMin),
      slots_from_(kDifs) {}

bool WirelessStation::has_room() {
  // The head frame is in service (contending, on the air, or awaiting its MAC ACK until
  // released_at_); the rest wait.
  const int64_t total = int64_t(queue_.size()) + (sim_.now() < released_at_ ? 1 : 0);
  return std::max<int64_t>(total - 1, 0) < queue_packets_;
}

bool WirelessStation::transmit(const Packet& packet, int32_t next_hop, bool local) {
  if (!local && !has_room()) return false;
  queue_.push_back(Queued{packet, medium_.member(next_hop)});
  if (queue_.size() == 1) frame_arrived();
  return true;
}

void WirelessStation::notify_when_room(Wakeup& waiter) {
  if (has_room()) {
    waiter.at(sim_.now());
    return;
  }
  if (std::find(room_waiters_.begin(), room_waiters_.end(), &waiter) == room_waiters_.end())
    room_waiters_.push_back(&waiter);
  // The frame awaiting its ACK leaves then; the waiter checks again.
  if (sim_.now() < released_at_) waiter.at(released_at_);
}

// 10.3.4.2: a frame that finds the medium idle, with no backoff pending, goes once the
// medium has stayed idle for DIFS (EIFS after an erroneous reception) from its arrival;
// one that finds it busy draws a backoff. A pending (post-)backoff simply continues.
void WirelessStation::frame_arrived() {
  medium_.settle_backoff(*this);
  if (!backoff_pending_) {
    if (medium_.idle_for(*this)) {
      immediate_ = true;
      immediate_at_ = std::max(sim_.now() + kDifs, slots_from_);
    } else {
      draw_backoff();
    }
  }
  medium_.station_ready(*this);
}

void WirelessStation::draw_backoff() {
  backoff_slots_ = rng_.below_or_equal(cw_);
  backoff_pending_ = true;
  immediate_ = false;
}

// Every transmission is followed by a backoff (post-backoff after a success or a drop),
// which a frame already queued, or arriving before it runs out, has to wait for.
void WirelessStation::head_done(bool delivered, Time at) {
  if (!delivered) sim_.packet_lost(queue_.front().packet);
  queue_.pop_front();
  released_at_ = at;
  cw_ = kCwMin;
  retries_ = 0;
  draw_backoff();
  for (Wakeup* waiter : room_waiters_) waiter->at(at);
  room_waiters_.clear();
}

void WirelessStation::head_failed(Time at) {
  retries_++;
  // The frame is dropped once its retry count reaches the limit: 7 attempts in all.
  if (retries_ >= kRetryLimit) {
    head_done(false, at);
    return;
  }
  cw_ = std::min(2 * cw_ + 1, kCwMax);
  draw_backoff();
}

WirelessMedium::WirelessMedium(sc_core::sc_module_name name, Simulation& sim,
                               const LinkConfig& link, int32_t link_index,
                               const std::vector<Node*>& nodes)
    : sc_module(name),
      sim_(sim),
      link_(link),
      rate_(link.bitrate_bps),
      nodes_(nodes),
      wake_(sim),
      delay_(to_time(link.delay_s)),
      ack_duration_(ofdm_duration(kAckBytes, ack_rate(link.bitrate_bps))),
      // EIFS = aSIFSTime + EstimatedAckTxTime + DIFS (10.3.2.3.7), the ACK at the lowest
      // basic rate: 10 + 50 + 28 = 88 us in 802.11g.
      eifs_(kSifs + ofdm_duration(kAckBytes, std::min(kLowestBasicRate, link.bitrate_bps)) +
            kDifs) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string station_name = "station" + std::to_string(i);
    const uint64_t stream = 1000000 + 2000 * uint64_t(link_index) + 2 * i;
    stations_.push_back(new WirelessStation(station_name.c_str(), sim, *nodes[i], link, *this,
                                            Rng(sim.config.seed, stream),
                                            Rng(sim.config.seed, stream + 1)));
  }
  if (link.has_rate_trace) rates_ = std::make_unique<RateSchedule>(link.rate_trace);
  SC_METHOD(step);
  sensitive << wake_.event();
  dont_initialize();
}

void WirelessMedium::follow_trace(Time now) {
  const double rate = rates_->bitrate_at(now);
  if (rate != rate_) {
    rate_ = rate;
    ack_duration_ = ofdm_duration(kAckBytes, ack_rate(rate));
    eifs_ = kSifs + ofdm_duration(kAckBytes, std::min(kLowestBasicRate, rate)) + kDifs;
  }
  if (rates_->has_delay()) delay_ = rates_->delay_at(now);
}

WirelessMedium::~WirelessMedium() {
  for (auto it = stations_.rbegin(); it != stations_.rend(); ++it) delete *it;
}

Interface& WirelessMedium::station_of(int32_t node_index) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->index() == node_index) return *stations_[i];
  }
  throw InputError("node is not on this wireless link");
}

Node* WirelessMedium::member(int32_t node_index) const {
  for (Node* node : nodes_) {
    if (node->index() == node_index) return node;
  }
  throw InputError("node is not on this wireless link");
}

Time WirelessMedium::data_duration(int32_t ip_bytes) const {
  return ofdm_duration(int64_t(ip_bytes) + link_.overhead_bytes, rate_);
}

void WirelessMedium::station_ready(const WirelessStation& station) {
  if (busy_ || in_step_) return;
  wake_.at(access_time(station));
}

// A station senses the medium busy from the start of an exchange to its end (the ACK, or
// the ACK timeout of the senders of failed frames). After a failed exchange the other
// stations sense it idle as soon as the frames have left the air.
bool WirelessMedium::idle_for(const WirelessStation& station) const {
  const Time now = sim_.now();
  if (!busy_) return now >= idle_since_;
  return !transmission_ok_ && now >= air_end_ && !station.sending_;
}

void WirelessMedium::settle_backoff(WirelessStation& station) const {
  if (!station.backoff_pending_ || !idle_for(station)) return;
  if (station.slots_from_ + station.backoff_slots_ * kSlot > sim_.now()) return;
  station.backoff_slots_ = 0;
  station.backoff_pending_ = false;
}

// When a station with a frame transmits if the medium stays idle.
Time WirelessMedium::access_time(const WirelessStation& station) const {
  if (station.immediate_) return station.immediate_at_;
  return station.slots_from_ + station.backoff_slots_ * kSlot;
}

void WirelessMedium::step() {
  wake_.fired();
  sim_.count_event();
  if (sim_.failed()) return;
  const Time now = sim_.now();
  while (!in_flight_.empty() && in_flight_.front().arrival <= now) {
    const InFlight item = in_flight_.front();
    in_flight_.pop_front();
    item.receiver->receive(item.packet);
  }
  // A delivered frame's exchange is settled at once, effective at the end of its MAC ACK
  // (busy_until_): one wake-up fewer per frame, same timing. A failed one at its ACK timeout.
  if (busy_ && (now >= busy_until_ || (transmission_ok_ && in_flight_.empty()))) {
    in_step_ = true;  // stations made ready here are seen by contend() below
    finish_transmission();
    in_step_ = false;
  }
  Time next = busy_ ? busy_until_ : contend();
  if (!in_flight_.empty()) next = std::min(next, in_flight_.front().arrival);
  // One request for the earliest: a later one first would be overridden, leaving a dead
  // entry in SystemC's timed queue.
  if (next != kNever) wake_.at(next);
}

void WirelessMedium::finish_transmission() {
  busy_ = false;
  idle_since_ = busy_until_;
  std::vector<WirelessStation*> done;
  done.swap(transmitting_);
  for (WirelessStation* station : done) {
    station->sending_ = false;
    if (transmission_ok_) {
      station->head_done(true, busy_until_);
    } else {
      station->head_failed(busy_until_);
    }
  }
}

// DCF: the station whose access time comes first transmits; stations whose access times
// coincide collide. The others freeze their remaining slots until the medium is idle again
// (a slot in progress does not count), and a station waiting out the DIFS of an immediate
// access draws a backoff instead. Returns when the medium needs attention next (the end of
// the exchange begun now, or the first access time).
Time WirelessMedium::contend() {
  const Time now = sim_.now();
  Time first = kNever;
  for (WirelessStation* station : stations_) {
    if (!station->queue_.empty()) first = std::min(first, access_time(*station));
  }
  if (first == kNever || first > now) return first;
  if (rates_) follow_trace(now);
  Time longest = 0;
  for (WirelessStation* station : stations_) {
    const bool has_frame = !station->queue_.empty();
    if (has_frame && access_time(*station) == now) {
      transmitting_.push_back(station);
      station->sending_ = true;
      station->immediate_ = false;
      station->backoff_pending_ = false;
      station->backoff_slots_ = 0;
      longest = std::max(longest, data_duration(station->queue_.front().packet.ip_bytes));
    } else if (has_frame && station->immediate_) {
      station->draw_backoff();
    } else if (station->backoff_pending_ && station->slots_from_ < now) {
      const Time counted = (now - station->slots_from_) / kSlot;
      station->backoff_slots_ -= uint32_t(std::min<Time>(counted, station->backoff_slots_));
      // A post-backoff without a frame that ran out while the medium was idle.
      if (station->backoff_slots_ == 0 && !has_frame) station->backoff_pending_ = false;
    }
  }
  sim_.outcome.link_packets += transmitting_.size();
  busy_ = true;
  air_end_ = now + longest + delay_;
  const bool traced_loss = rates_ && rates_->has_loss();
  if (transmitting_.size() == 1 &&
      !(traced_loss ? transmitting_.front()->loss_.lose_with(rates_->loss_at(now))
                    : transmitting_.front()->loss_.lose())) {
    // Data, propagation, SIFS, MAC ACK, propagation.
    const auto& head = transmitting_.front()->queue_.front();
    in_flight_.push_back(InFlight{air_end_, head.packet, head.receiver});
    transmission_ok_ = true;
    busy_until_ = air_end_ + kSifs + ack_duration_ + delay_;
    for (WirelessStation* station : stations_) station->slots_from_ = busy_until_ + kDifs;
  } else {
    if (transmitting_.size() > 1) {
      for (WirelessStation* station : transmitting_)
        sim_.outcome.flows[station->queue_.front().packet.flow].collisions++;
    }
    // No ACK comes: the senders give up after ACKTimeout, then defer DIFS (10.3.2.9); the
    // other stations received a frame in error and defer EIFS after it (10.3.2.3.7).
    transmission_ok_ = false;
    busy_until_ = air_end_ + kAckTimeout;
    for (WirelessStation* station : stations_) {
      station->slots_from_ = station->sending_ ? busy_until_ + kDifs : air_end_ + eifs_;
    }
  }
  if (busy_until_ > kHorizon) {
    sim_.fail("simulated time would exceed 1e6 s (bitrate too low or too much data)");
    return kNever;
  }
  return busy_until_;
}

}  // namespace libsim
