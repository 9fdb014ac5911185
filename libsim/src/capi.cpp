// The C ABI: argument validation, a fresh SystemC context per run, no exception escapes.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "engine.hpp"
#include "libsim.h"

// libsystemc.so exports main() and calls sc_main; a shared library must provide one.
extern "C" __attribute__((visibility("default"))) int sc_main(int, char**) { return 0; }

struct libsim_network {
  libsim::NetworkConfig config;
};

struct libsim_result {
  libsim::RunOutcome outcome;
};

namespace libsim {
bool has_route(const NetworkConfig& config, int32_t src, int32_t dst);
double routing_work(const NetworkConfig& config);
}

namespace {

std::atomic<bool> g_interrupt{false};

}  // namespace

bool libsim::interrupted() { return g_interrupt.load(std::memory_order_relaxed); }

namespace {

using libsim::InputError;

int report(char* err, size_t err_size, int status, const std::string& message) {
  if (err != nullptr && err_size > 0) std::snprintf(err, err_size, "%s", message.c_str());
  return status;
}

// Runs `body`, turning every exception into a status and a message.
template <typename Body>
int guarded(char* err, size_t err_size, Body&& body) {
  try {
    body();
    if (err != nullptr && err_size > 0) err[0] = '\0';
    return LIBSIM_OK;
  } catch (const InputError& e) {
    return report(err, err_size, LIBSIM_ERR_ARGUMENT, e.what());
  } catch (const libsim::RunLimitError& e) {
    return report(err, err_size, LIBSIM_ERR_RUNTIME, e.what());
  } catch (const libsim::Interrupted& e) {
    return report(err, err_size, LIBSIM_ERR_INTERRUPTED, e.what());
  } catch (const std::bad_alloc&) {
    return report(err, err_size, LIBSIM_ERR_MEMORY, "out of memory");
  } catch (const sc_core::sc_report& e) {
    return report(err, err_size, LIBSIM_ERR_INTERNAL, std::string("SystemC: ") + e.what());
  } catch (const std::exception& e) {
    return report(err, err_size, LIBSIM_ERR_INTERNAL, e.what());
  } catch (...) {
    return report(err, err_size, LIBSIM_ERR_INTERNAL, "unknown failure");
  }
}

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

void require(bool condition, const std::string& message) {
  if (!condition) throw InputError(message);
}

// The ranges of libsim.h: [low, high] for _MIN/_MAX, exclusive ends for _ABOVE/_BELOW.
bool closed(double v, double low, double high) { return std::isfinite(v) && v >= low && v <= high; }
bool above_at_most(double v, double above, double high) {
  return std::isfinite(v) && v > above && v <= high;
}
bool at_least_below(double v, double low, double below) {
  return std::isfinite(v) && v >= low && v < below;
}
bool probability(double p) { return closed(p, LIBSIM_PROBABILITY_MIN, LIBSIM_PROBABILITY_MAX); }

void configure_systemc_once() {
  static bool configured = false;
  if (configured) return;
  configured = true;
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  using sc_core::sc_report_handler;
  sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_report_handler::set_actions(sc_core::SC_WARNING, sc_core::SC_DO_NOTHING);
  sc_report_handler::set_actions(sc_core::SC_ERROR, sc_core::SC_THROW);
  sc_report_handler::set_actions(sc_core::SC_FATAL, sc_core::SC_THROW);
}

// A new simulation context for one run; the process-wide one is put back afterwards.
class FreshContext {
 public:
  FreshContext()
      : saved_current_(sc_core::sc_curr_simcontext),
        saved_default_(sc_core::sc_default_global_context),
        context_(new sc_core::sc_simcontext) {
    sc_core::sc_curr_simcontext = context_;
    sc_core::sc_default_global_context = context_;
  }
  ~FreshContext() {
    sc_core::sc_curr_simcontext = saved_current_;
    sc_core::sc_default_global_context = saved_default_;
    delete context_;
  }
  FreshContext(const FreshContext&) = delete;
  FreshContext& operator=(const FreshContext&) = delete;

 private:
  sc_core::sc_simcontext* saved_current_;
  sc_core::sc_simcontext* saved_default_;
  sc_core::sc_simcontext* context_;
};

const libsim::FlowOutcome& flow_of(const libsim_result* result, int32_t flow) {
  require(result != nullptr, "result is NULL");
  require(flow >= 0 && flow < int32_t(result->outcome.flows.size()),
          "flow index " + std::to_string(flow) + " out of range");
  return result->outcome.flows[size_t(flow)];
}

// libsim_add_flow (sizes NULL: every frame has flow->payload_bytes) and
// libsim_add_flow_sizes (frame i has sizes[i]; flow->frames == count, payload_bytes == 0).
void add_flow(libsim_network* net, const libsim_flow_config* flow, const int64_t* sizes,
              size_t count) {
  require(net != nullptr, "network is NULL");
  require(flow != nullptr, "flow is NULL");
  const std::string name = "flow " + std::to_string(net->config.flows.size());
  const int32_t n = net->config.node_count;
  require(flow->src >= 0 && flow->src < n,
          name + ": from: unknown node index " + std::to_string(flow->src));
  require(flow->dst >= 0 && flow->dst < n,
          name + ": to: unknown node index " + std::to_string(flow->dst));
  require(flow->src != flow->dst, name + ": from and to are the same node");
  if (sizes != nullptr) {
    require(flow->frames == int64_t(count),
            name + ": frames = " + std::to_string(flow->frames) + ": must equal the number of " +
                "payload sizes (" + std::to_string(count) + ")");
    require(flow->payload_bytes == 0,
            name + ": payload_bytes = " + std::to_string(flow->payload_bytes) +
                ": must be 0 when the frames' sizes are given");
  }
  require(flow->frames >= LIBSIM_FRAMES_MIN && flow->frames <= LIBSIM_FRAMES_MAX,
          name + ": frames = " + std::to_string(flow->frames) + ": must be between " +
              std::to_string(LIBSIM_FRAMES_MIN) + " and " + std::to_string(LIBSIM_FRAMES_MAX));
  int64_t frames = flow->frames;
  for (const auto& other : net->config.flows) frames += other.frames;
  require(frames <= LIBSIM_FRAMES_MAX,
          name + ": frames = " + std::to_string(flow->frames) + ": all flows together send " +
              std::to_string(frames) + " frames, more than " + std::to_string(LIBSIM_FRAMES_MAX));
  require(closed(flow->fps, LIBSIM_FPS_MIN, LIBSIM_FPS_MAX),
          name + ": fps = " + number(flow->fps) + ": must be between " + number(LIBSIM_FPS_MIN) +
              " and " + number(LIBSIM_FPS_MAX));
  auto check_size = [&](int64_t size, const std::string& key) {
    require(size >= LIBSIM_PAYLOAD_BYTES_MIN && size <= int64_t(LIBSIM_PAYLOAD_BYTES_MAX),
            name + ": " + key + " = " + std::to_string(size) + ": must be between " +
                std::to_string(LIBSIM_PAYLOAD_BYTES_MIN) + " and " +
                std::to_string(LIBSIM_PAYLOAD_BYTES_MAX));
  };
  if (sizes == nullptr) check_size(flow->payload_bytes, "payload_bytes");
  for (size_t i = 0; i < count; ++i) {
    check_size(sizes[i], "payload_bytes[" + std::to_string(i) + "]");
  }
  // The UDP receiver keeps one flag per datagram.
  if (net->config.protocol == libsim::Protocol::Udp) {
    const int64_t payload = net->config.mtu - LIBSIM_UDP_IP_HEADER_BYTES;
    double datagrams = 0.0;
    if (sizes == nullptr) {
      datagrams = double(flow->frames) * double((flow->payload_bytes + payload - 1) / payload);
    } else {
      for (size_t i = 0; i < count; ++i) datagrams += double((sizes[i] + payload - 1) / payload);
    }
    require(datagrams <= double(LIBSIM_UDP_DATAGRAMS_MAX),
            name + (sizes == nullptr ? ": frames x datagrams per frame = "
                                     : ": datagrams of all frames = ") +
                number(datagrams) + ": more than " +
                number(LIBSIM_UDP_DATAGRAMS_MAX) + " datagrams; use fewer or smaller frames");
  }
  libsim::FlowConfig config;
  config.src = flow->src;
  config.dst = flow->dst;
  config.frames = flow->frames;
  config.fps = flow->fps;
  config.payload_bytes = flow->payload_bytes;
  if (sizes != nullptr) {
    // Equal sizes take the one-size path: the same run as libsim_add_flow, bit for bit.
    config.payload_bytes = sizes[0];
    if (!std::all_of(sizes, sizes + count, [&](int64_t s) { return s == sizes[0]; })) {
      config.payload_sizes.assign(sizes, sizes + count);
    }
  }
  net->config.flows.push_back(std::move(config));
}

// libsim_set_flow_policy: every number checked against libsim.h before anything changes.
void set_flow_policy(libsim_network* net, int32_t flow, const libsim_policy_config* policy,
                     const libsim_candidate* candidates, size_t count) {
  require(net != nullptr, "network is NULL");
  require(flow >= 0 && flow < int32_t(net->config.flows.size()),
          "flow index " + std::to_string(flow) + " out of range");
  const std::string name = "flow " + std::to_string(flow) + ": policy";
  libsim::FlowConfig& config = net->config.flows[size_t(flow)];
  require(!config.has_policy(), name + ": the flow already has one");
  require(policy != nullptr, name + ": config is NULL");
  require(candidates != nullptr || count == 0, name + ": candidates is NULL");
  require(count >= LIBSIM_CANDIDATES_MIN && count <= LIBSIM_CANDIDATES_MAX,
          name + ": " + std::to_string(count) + " candidates: must be between " +
              std::to_string(LIBSIM_CANDIDATES_MIN) + " and " +
              std::to_string(LIBSIM_CANDIDATES_MAX));
  require(policy->estimator == LIBSIM_ESTIMATOR_EWMA ||
              policy->estimator == LIBSIM_ESTIMATOR_HARMONIC ||
              policy->estimator == LIBSIM_ESTIMATOR_PERFECT,
          name + ": estimator = " + std::to_string(policy->estimator) + ": must be " +
              "LIBSIM_ESTIMATOR_EWMA, _HARMONIC or _PERFECT");
  require(above_at_most(policy->alpha, LIBSIM_EWMA_ALPHA_ABOVE, LIBSIM_EWMA_ALPHA_MAX),
          name + ": alpha = " + number(policy->alpha) + ": must be in (" +
              number(LIBSIM_EWMA_ALPHA_ABOVE) + ", " + number(LIBSIM_EWMA_ALPHA_MAX) + "]");
  require(policy->window >= LIBSIM_HARMONIC_WINDOW_MIN &&
              policy->window <= LIBSIM_HARMONIC_WINDOW_MAX,
          name + ": window = " + std::to_string(policy->window) + ": must be between " +
              std::to_string(LIBSIM_HARMONIC_WINDOW_MIN) + " and " +
              std::to_string(LIBSIM_HARMONIC_WINDOW_MAX));
  require(at_least_below(policy->margin, LIBSIM_MARGIN_MIN, LIBSIM_MARGIN_BELOW),
          name + ": margin = " + number(policy->margin) + ": must be in [" +
              number(LIBSIM_MARGIN_MIN) + ", " + number(LIBSIM_MARGIN_BELOW) + ")");
  require(policy->hold_frames >= LIBSIM_HOLD_FRAMES_MIN &&
              policy->hold_frames <= LIBSIM_HOLD_FRAMES_MAX,
          name + ": hold_frames = " + std::to_string(policy->hold_frames) +
              ": must be between " + std::to_string(LIBSIM_HOLD_FRAMES_MIN) + " and " +
              std::to_string(LIBSIM_HOLD_FRAMES_MAX));
  require(above_at_most(policy->prior_bps, LIBSIM_BITRATE_ABOVE, LIBSIM_BITRATE_MAX),
          name + ": prior_bps = " + number(policy->prior_bps) + ": must be in (" +
              number(LIBSIM_BITRATE_ABOVE) + ", " + number(LIBSIM_BITRATE_MAX) + "]");
  require(closed(policy->base_delay_s, LIBSIM_DELAY_MIN, LIBSIM_DELAY_MAX),
          name + ": base_delay_s = " + number(policy->base_delay_s) + ": must be in [" +
              number(LIBSIM_DELAY_MIN) + ", " + number(LIBSIM_DELAY_MAX) + "]");
  std::vector<libsim::Candidate> chosen(count);
  // UDP: the receiver's flags must fit whichever candidate each frame takes.
  std::vector<int64_t> largest(size_t(config.frames), 0);
  for (size_t c = 0; c < count; ++c) {
    const libsim_candidate& candidate = candidates[c];
    const std::string where = name + ": candidate " + std::to_string(c);
    require(closed(candidate.fixed_s, LIBSIM_FIXED_TIME_MIN, LIBSIM_FIXED_TIME_MAX),
            where + ": fixed_s = " + number(candidate.fixed_s) + ": must be in [" +
                number(LIBSIM_FIXED_TIME_MIN) + ", " + number(LIBSIM_FIXED_TIME_MAX) + "]");
    auto check_size = [&](int64_t size, const std::string& key) {
      require(size >= LIBSIM_PAYLOAD_BYTES_MIN && size <= int64_t(LIBSIM_PAYLOAD_BYTES_MAX),
              where + ": " + key + " = " + std::to_string(size) + ": must be between " +
                  std::to_string(LIBSIM_PAYLOAD_BYTES_MIN) + " and " +
                  std::to_string(LIBSIM_PAYLOAD_BYTES_MAX));
    };
    chosen[c].fixed_s = candidate.fixed_s;
    if (candidate.payload_sizes == nullptr) {
      check_size(candidate.payload_bytes, "payload_bytes");
      chosen[c].payload_bytes = candidate.payload_bytes;
    } else {
      require(candidate.payload_bytes == 0,
              where + ": payload_bytes = " + std::to_string(candidate.payload_bytes) +
                  ": must be 0 when the frames' sizes are given");
      chosen[c].payload_sizes.assign(candidate.payload_sizes,
                                     candidate.payload_sizes + config.frames);
      for (int64_t i = 0; i < config.frames; ++i) {
        check_size(chosen[c].payload_sizes[size_t(i)], "payload_sizes[" + std::to_string(i) + "]");
      }
    }
    for (int64_t i = 0; i < config.frames; ++i) {
      largest[size_t(i)] = std::max(largest[size_t(i)], chosen[c].frame_bytes(i));
    }
  }
  if (net->config.protocol == libsim::Protocol::Udp) {
    const int64_t payload = net->config.mtu - LIBSIM_UDP_IP_HEADER_BYTES;
    double datagrams = 0.0;
    for (int64_t size : largest) datagrams += double((size + payload - 1) / payload);
    require(datagrams <= double(LIBSIM_UDP_DATAGRAMS_MAX),
            name + ": datagrams of the largest candidate per frame = " + number(datagrams) +
                ": more than " + number(LIBSIM_UDP_DATAGRAMS_MAX) + " datagrams");
  }
  config.policy.estimator = libsim::Estimator(policy->estimator);
  config.policy.alpha = policy->alpha;
  config.policy.window = policy->window;
  config.policy.margin = policy->margin;
  config.policy.hold_frames = policy->hold_frames;
  config.policy.prior_bps = policy->prior_bps;
  config.policy.base_delay_s = policy->base_delay_s;
  config.candidates = std::move(chosen);
}

libsim::LinkConfig& traced_link(libsim_network* net, int32_t link) {
  require(net != nullptr, "network is NULL");
  require(link >= 0 && link < int32_t(net->config.links.size()),
          "link index " + std::to_string(link) + " out of range");
  libsim::LinkConfig& config = net->config.links[size_t(link)];
  require(!config.has_rate_trace && !config.has_opportunities,
          "link " + std::to_string(link) + ": already follows a trace");
  return config;
}

void check_trace_common(const std::string& name, size_t rows, int32_t loop, double start_s) {
  require(rows >= LIBSIM_TRACE_ROWS_MIN && rows <= LIBSIM_TRACE_ROWS_MAX,
          name + ": the trace has " + std::to_string(rows) + " rows: must have between " +
              std::to_string(LIBSIM_TRACE_ROWS_MIN) + " and " +
              std::to_string(LIBSIM_TRACE_ROWS_MAX));
  require(loop == 0 || loop == 1, name + ": trace loop = " + std::to_string(loop) +
                                      ": must be 0 or 1");
  require(closed(start_s, LIBSIM_TRACE_TIME_MIN, LIBSIM_TRACE_TIME_MAX),
          name + ": trace start = " + number(start_s) + ": must be between " +
              number(LIBSIM_TRACE_TIME_MIN) + " and " + number(LIBSIM_TRACE_TIME_MAX) + " s");
}

void set_rate_trace(libsim_network* net, int32_t link, const double* times_s,
                    const double* bitrate_bps, const double* loss, const double* delay_s,
                    size_t rows, double duration_s, int32_t loop, double start_s) {
  libsim::LinkConfig& config = traced_link(net, link);
  const std::string name = "link " + std::to_string(link);
  check_trace_common(name, rows, loop, start_s);
  require(times_s != nullptr && bitrate_bps != nullptr, name + ": trace times or rates NULL");
  const bool wireless = config.kind == libsim::LinkKind::Wireless;
  bool any_positive = false;
  for (size_t i = 0; i < rows; ++i) {
    const std::string row = name + ": trace row " + std::to_string(i) + ": ";
    require(closed(times_s[i], LIBSIM_TRACE_TIME_MIN, LIBSIM_TRACE_TIME_MAX),
            row + "time = " + number(times_s[i]) + ": must be between " +
                number(LIBSIM_TRACE_TIME_MIN) + " and " + number(LIBSIM_TRACE_TIME_MAX) + " s");
    require(i > 0 || times_s[0] == 0.0, row + "time = " + number(times_s[0]) + ": must be 0");
    require(i == 0 || libsim::to_time(times_s[i]) > libsim::to_time(times_s[i - 1]),
            row + "time = " + number(times_s[i]) + ": must be after the previous row's " +
                number(times_s[i > 0 ? i - 1 : 0]));
    require(closed(bitrate_bps[i], LIBSIM_TRACE_BITRATE_MIN, LIBSIM_TRACE_BITRATE_MAX),
            row + "bitrate = " + number(bitrate_bps[i]) + ": must be between " +
                number(LIBSIM_TRACE_BITRATE_MIN) + " and " + number(LIBSIM_TRACE_BITRATE_MAX) +
                " bit/s");
    require(!wireless || bitrate_bps[i] > 0.0,
            row + "bitrate = 0: a wireless link's data rate must be > 0");
    any_positive = any_positive || bitrate_bps[i] > 0.0;
    if (loss != nullptr) {
      require(at_least_below(loss[i], LIBSIM_LOSS_MIN, LIBSIM_LOSS_BELOW),
              row + "loss = " + number(loss[i]) + ": must be in [" + number(LIBSIM_LOSS_MIN) +
                  ", " + number(LIBSIM_LOSS_BELOW) + ")");
    }
    if (delay_s != nullptr) {
      require(closed(delay_s[i], LIBSIM_DELAY_MIN, LIBSIM_DELAY_MAX),
              row + "delay = " + number(delay_s[i]) + ": must be between " +
                  number(LIBSIM_DELAY_MIN) + " and " + number(LIBSIM_DELAY_MAX) + " s");
    }
  }
  require(above_at_most(duration_s, times_s[rows - 1], LIBSIM_TRACE_TIME_MAX),
          name + ": trace duration = " + number(duration_s) + ": must be after the last row (" +
              number(times_s[rows - 1]) + " s) and at most " + number(LIBSIM_TRACE_TIME_MAX) +
              " s");
  require(libsim::to_time(duration_s) > libsim::to_time(times_s[rows - 1]),
          name + ": trace duration = " + number(duration_s) + ": must be after the last row");
  if (loop) {
    require(any_positive, name + ": every rate of the looping trace is 0: nothing would pass");
  } else {
    require(bitrate_bps[rows - 1] > 0.0,
            name + ": the trace's last rate is 0 and holds forever (loop = 0): nothing would "
                   "pass after it");
  }
  if (loss != nullptr) {
    require(config.loss == 0.0 && !config.has_burst,
            name + ": the trace's loss replaces the link's loss: set the link's loss to 0 and "
                   "no burst");
  }
  if (delay_s != nullptr) {
    require(config.delay_s == 0.0,
            name + ": the trace's delay replaces the link's delay: set the link's delay to 0");
  }
  libsim::RateTrace trace;
  for (size_t i = 0; i < rows; ++i) {
    const double row_loss = loss != nullptr ? loss[i] : 0.0;
    const libsim::Time row_delay = delay_s != nullptr ? libsim::to_time(delay_s[i]) : 0;
    // Equal consecutive rows are one row (a constant trace is one row: the fixed path).
    if (i > 0 && bitrate_bps[i] == trace.bitrate_bps.back() &&
        (loss == nullptr || row_loss == trace.loss.back()) &&
        (delay_s == nullptr || row_delay == trace.delay.back())) {
      continue;
    }
    trace.times.push_back(libsim::to_time(times_s[i]));
    trace.bitrate_bps.push_back(bitrate_bps[i]);
    if (loss != nullptr) trace.loss.push_back(row_loss);
    if (delay_s != nullptr) trace.delay.push_back(row_delay);
  }
  trace.period = loop && trace.times.size() > 1 ? libsim::to_time(duration_s) : 0;
  trace.start = libsim::to_time(start_s);
  config.rate_trace = std::move(trace);
  config.has_rate_trace = true;
}

void set_opportunities(libsim_network* net, int32_t link, const int64_t* times_ms, size_t count,
                       int32_t loop, double start_s) {
  libsim::LinkConfig& config = traced_link(net, link);
  const std::string name = "link " + std::to_string(link);
  require(config.kind != libsim::LinkKind::Wireless,
          name + ": a Mahimahi trace (delivery opportunities) cannot drive a wireless link, "
                 "whose 802.11 airtime needs a data rate: use a rate trace");
  check_trace_common(name, count, loop, start_s);
  require(times_ms != nullptr, name + ": trace times NULL");
  libsim::OpportunityTrace trace;
  trace.times.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string row = name + ": trace opportunity " + std::to_string(i) + ": ";
    require(times_ms[i] >= LIBSIM_TRACE_MS_MIN && times_ms[i] <= LIBSIM_TRACE_MS_MAX,
            row + "time = " + std::to_string(times_ms[i]) + " ms: must be between " +
                std::to_string(LIBSIM_TRACE_MS_MIN) + " and " +
                std::to_string(LIBSIM_TRACE_MS_MAX) + " ms");
    require(i == 0 || times_ms[i] >= times_ms[i - 1],
            row + "time = " + std::to_string(times_ms[i]) + " ms: before the previous one (" +
                std::to_string(times_ms[i > 0 ? i - 1 : 0]) + " ms)");
    trace.times.push_back(libsim::Time(times_ms[i]) * libsim::kMillisecond);
  }
  require(times_ms[count - 1] > 0,
          name + ": the trace's last opportunity is at 0 ms: a trace must last a while");
  trace.loop = loop != 0;
  trace.start = libsim::to_time(start_s);
  config.opportunities = std::move(trace);
  config.has_opportunities = true;
}

}  // namespace

extern "C" {

const char* libsim_version(void) { return "libsim 1.0 (SystemC 2.3.4)"; }

int libsim_network_new(int32_t protocol, int32_t mtu, uint64_t seed, const libsim_tcp_config* tcp,
                       libsim_network** out, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    require(protocol == LIBSIM_TCP || protocol == LIBSIM_UDP,
            "protocol = " + std::to_string(protocol) + ": must be tcp (0) or udp (1)");
    require(mtu >= LIBSIM_MTU_MIN && mtu <= LIBSIM_MTU_MAX,
            "mtu = " + std::to_string(mtu) + ": must be between " +
                std::to_string(LIBSIM_MTU_MIN) + " and " + std::to_string(LIBSIM_MTU_MAX));
    require(seed <= uint64_t(LIBSIM_SEED_MAX),
            "seed = " + std::to_string(seed) + ": must be at most " + std::to_string(LIBSIM_SEED_MAX));
    libsim::TcpConfig config;
    if (tcp != nullptr) {
      require(tcp->initial_window >= LIBSIM_INITIAL_WINDOW_MIN &&
                  tcp->initial_window <= LIBSIM_INITIAL_WINDOW_MAX,
              "tcp.initial_window = " + std::to_string(tcp->initial_window) +
                  ": must be between " + std::to_string(LIBSIM_INITIAL_WINDOW_MIN) + " and " +
                  std::to_string(LIBSIM_INITIAL_WINDOW_MAX) + " segments");
      require(closed(tcp->min_rto, LIBSIM_MIN_RTO_MIN, LIBSIM_MIN_RTO_MAX),
              "tcp.min_rto = " + number(tcp->min_rto) + ": must be in [" +
                  number(LIBSIM_MIN_RTO_MIN) + ", " + number(LIBSIM_MIN_RTO_MAX) + "] s");
      require(tcp->delayed_ack == 0 || tcp->delayed_ack == 1,
              "tcp.delayed_ack = " + std::to_string(tcp->delayed_ack) + ": must be 0 or 1");
      require(above_at_most(tcp->ack_delay, LIBSIM_ACK_DELAY_ABOVE, LIBSIM_ACK_DELAY_MAX),
              "tcp.ack_delay = " + number(tcp->ack_delay) + ": must be in (" +
                  number(LIBSIM_ACK_DELAY_ABOVE) + ", " + number(LIBSIM_ACK_DELAY_MAX) + "] s");
      const int64_t mss = int64_t(mtu) - LIBSIM_TCP_IP_HEADER_BYTES;
      require(tcp->rwnd >= mss && tcp->rwnd <= int64_t(LIBSIM_RWND_MAX),
              "tcp.rwnd = " + std::to_string(tcp->rwnd) + ": must be between one segment (" +
                  std::to_string(mss) + ") and " + std::to_string(LIBSIM_RWND_MAX) + " bytes");
      require(tcp->handshake == 0 || tcp->handshake == 1,
              "tcp.handshake = " + std::to_string(tcp->handshake) + ": must be 0 or 1");
      require(tcp->idle_restart == 0 || tcp->idle_restart == 1,
              "tcp.idle_restart = " + std::to_string(tcp->idle_restart) + ": must be 0 or 1");
      require(tcp->recovery_exit == LIBSIM_RECOVERY_EXIT_SSTHRESH ||
                  tcp->recovery_exit == LIBSIM_RECOVERY_EXIT_FLIGHTSIZE,
              "tcp.recovery_exit = " + std::to_string(tcp->recovery_exit) +
                  ": must be ssthresh (0) or flightsize (1)");
      require(tcp->rto_ssthresh == LIBSIM_RTO_SSTHRESH_FLIGHTSIZE ||
                  tcp->rto_ssthresh == LIBSIM_RTO_SSTHRESH_KEEP,
              "tcp.rto_ssthresh = " + std::to_string(tcp->rto_ssthresh) +
                  ": must be flightsize (0) or keep (1)");
      config.initial_window = tcp->initial_window;
      config.min_rto = tcp->min_rto;
      config.delayed_ack = tcp->delayed_ack != 0;
      config.ack_delay = tcp->ack_delay;
      config.rwnd = tcp->rwnd;
      config.handshake = tcp->handshake != 0;
      config.idle_restart = tcp->idle_restart != 0;
      config.recovery_exit = libsim::RecoveryExit(tcp->recovery_exit);
      config.rto_ssthresh = libsim::RtoSsthresh(tcp->rto_ssthresh);
    }
    auto* net = new libsim_network;
    net->config.protocol = protocol == LIBSIM_TCP ? libsim::Protocol::Tcp : libsim::Protocol::Udp;
    net->config.mtu = mtu;
    net->config.seed = seed;
    net->config.tcp = config;
    *out = net;
  });
}

void libsim_network_free(libsim_network* net) { delete net; }

int libsim_add_node(libsim_network* net, int32_t* index_out, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    require(net != nullptr, "network is NULL");
    require(net->config.node_count < LIBSIM_NODES_MAX,
            "too many nodes (at most " + std::to_string(LIBSIM_NODES_MAX) + ")");
    if (index_out != nullptr) *index_out = net->config.node_count;
    net->config.node_count++;
  });
}

int libsim_add_link(libsim_network* net, const libsim_link_config* link, const int32_t* nodes,
                    size_t node_count, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    require(net != nullptr, "network is NULL");
    require(link != nullptr, "link is NULL");
    require(nodes != nullptr || node_count == 0, "nodes is NULL");
    const std::string name = "link " + std::to_string(net->config.links.size());
    require(link->kind == LIBSIM_FULL_DUPLEX || link->kind == LIBSIM_HALF_DUPLEX ||
                link->kind == LIBSIM_WIRELESS,
            name + ": kind = " + std::to_string(link->kind) + ": unknown link kind");
    if (link->kind == LIBSIM_WIRELESS) {
      require(node_count >= LIBSIM_WIRELESS_NODES_MIN && node_count <= LIBSIM_WIRELESS_NODES_MAX,
              name + ": nodes: a wireless link needs between " +
                  std::to_string(LIBSIM_WIRELESS_NODES_MIN) + " and " +
                  std::to_string(LIBSIM_WIRELESS_NODES_MAX) + " nodes, got " +
                  std::to_string(node_count));
    } else {
      require(node_count == 2, name + ": nodes: a duplex link needs exactly 2 nodes, got " +
                                   std::to_string(node_count));
    }
    libsim::LinkConfig config;
    for (size_t i = 0; i < node_count; ++i) {
      const int32_t v = nodes[i];
      require(v >= 0 && v < net->config.node_count,
              name + ": nodes: unknown node index " + std::to_string(v));
      for (int32_t seen : config.nodes) {
        require(seen != v, name + ": nodes: node " + std::to_string(v) + " listed twice");
      }
      config.nodes.push_back(v);
    }
    require(std::isfinite(link->bitrate_bps) && link->bitrate_bps > LIBSIM_BITRATE_ABOVE,
            name + ": bitrate = " + number(link->bitrate_bps) + ": must be > " +
                number(LIBSIM_BITRATE_ABOVE));
    require(link->bitrate_bps <= LIBSIM_BITRATE_MAX,
            name + ": bitrate = " + number(link->bitrate_bps) + ": must be at most " +
                number(LIBSIM_BITRATE_MAX) + " bit/s");
    require(closed(link->delay_s, LIBSIM_DELAY_MIN, LIBSIM_DELAY_MAX),
            name + ": delay = " + number(link->delay_s) + ": must be between " +
                number(LIBSIM_DELAY_MIN) + " and " + number(LIBSIM_DELAY_MAX) + " s");
    require(at_least_below(link->loss, LIBSIM_LOSS_MIN, LIBSIM_LOSS_BELOW),
            name + ": loss = " + number(link->loss) + ": must be in [" + number(LIBSIM_LOSS_MIN) +
                ", " + number(LIBSIM_LOSS_BELOW) + ")");
    require(link->overhead_bytes >= LIBSIM_OVERHEAD_BYTES_MIN &&
                link->overhead_bytes <= LIBSIM_OVERHEAD_BYTES_MAX,
            name + ": overhead_bytes = " + std::to_string(link->overhead_bytes) +
                ": must be between " + std::to_string(LIBSIM_OVERHEAD_BYTES_MIN) + " and " +
                std::to_string(LIBSIM_OVERHEAD_BYTES_MAX));
    require(link->queue_packets >= LIBSIM_QUEUE_PACKETS_MIN &&
                link->queue_packets <= LIBSIM_QUEUE_PACKETS_MAX,
            name + ": queue_packets = " + std::to_string(link->queue_packets) +
                ": must be between " + std::to_string(LIBSIM_QUEUE_PACKETS_MIN) + " and " +
                std::to_string(LIBSIM_QUEUE_PACKETS_MAX));
    require(link->has_burst == 0 || link->has_burst == 1,
            name + ": has_burst = " + std::to_string(link->has_burst) + ": must be 0 or 1");
    if (link->has_burst) {
      require(probability(link->p_good_to_bad),
              name + ": burst.p_good_to_bad = " + number(link->p_good_to_bad) +
                  ": must be in [0, 1]");
      require(probability(link->p_bad_to_good),
              name + ": burst.p_bad_to_good = " + number(link->p_bad_to_good) +
                  ": must be in [0, 1]");
      require(probability(link->loss_bad),
              name + ": burst.loss_bad = " + number(link->loss_bad) + ": must be in [0, 1]");
      require(at_least_below(link->loss_good, LIBSIM_LOSS_MIN, LIBSIM_LOSS_BELOW),
              name + ": burst.loss_good = " + number(link->loss_good) + ": must be in [0, 1)");
      require(link->p_bad_to_good > 0.0 || link->p_good_to_bad == 0.0,
              name + ": burst.p_bad_to_good = 0: must be > 0 (the bad state would never end)");
      require(link->loss == 0.0, name + ": loss = " + number(link->loss) +
                                     ": set either loss or a burst, not both");
      config.has_burst = true;
      config.burst = {link->p_good_to_bad, link->p_bad_to_good, link->loss_bad, link->loss_good};
    }
    config.kind = static_cast<libsim::LinkKind>(link->kind);
    config.bitrate_bps = link->bitrate_bps;
    config.delay_s = link->delay_s;
    config.loss = link->loss;
    config.overhead_bytes = link->overhead_bytes;
    config.queue_packets = link->queue_packets;
    net->config.links.push_back(std::move(config));
  });
}

int libsim_add_flow(libsim_network* net, const libsim_flow_config* flow, char* err,
                    size_t err_size) {
  return guarded(err, err_size, [&] { add_flow(net, flow, nullptr, 0); });
}

int libsim_set_link_rate_trace(libsim_network* net, int32_t link, const double* times_s,
                               const double* bitrate_bps, const double* loss,
                               const double* delay_s, size_t rows, double duration_s,
                               int32_t loop, double start_s, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    set_rate_trace(net, link, times_s, bitrate_bps, loss, delay_s, rows, duration_s, loop,
                   start_s);
  });
}

int libsim_set_link_opportunities(libsim_network* net, int32_t link, const int64_t* times_ms,
                                  size_t count, int32_t loop, double start_s, char* err,
                                  size_t err_size) {
  return guarded(err, err_size,
                 [&] { set_opportunities(net, link, times_ms, count, loop, start_s); });
}

int libsim_add_flow_sizes(libsim_network* net, const libsim_flow_config* flow,
                          const int64_t* payload_sizes, size_t count, char* err,
                          size_t err_size) {
  return guarded(err, err_size, [&] {
    require(payload_sizes != nullptr || count == 0, "payload_sizes is NULL");
    add_flow(net, flow, payload_sizes, count);
  });
}

int libsim_set_flow_policy(libsim_network* net, int32_t flow, const libsim_policy_config* policy,
                           const libsim_candidate* candidates, size_t count, char* err,
                           size_t err_size) {
  return guarded(err, err_size, [&] { set_flow_policy(net, flow, policy, candidates, count); });
}

int libsim_run(const libsim_network* net, libsim_result** out, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    require(net != nullptr, "network is NULL");
    const libsim::NetworkConfig& config = net->config;
    // Routing tables: one BFS per flow end over nodes and links (wireless: all pairs).
    require(libsim::routing_work(config) <= 2e8,
            "network too large: routes for " + std::to_string(config.node_count) +
                " nodes towards every flow end would take too long");
    for (size_t f = 0; f < config.flows.size(); ++f) {
      const auto& flow = config.flows[f];
      require(flow.src < config.node_count && flow.dst < config.node_count,
              "flow " + std::to_string(f) + ": unknown node");
      require(libsim::has_route(config, flow.src, flow.dst),
              "flow " + std::to_string(f) + ": no route from node " + std::to_string(flow.src) +
                  " to node " + std::to_string(flow.dst));
    }
    configure_systemc_once();
    g_interrupt.store(false);
    auto result = std::make_unique<libsim_result>();
    {
      FreshContext context;
      libsim::run_network(config, result->outcome);
    }
    *out = result.release();
  });
}

void libsim_result_free(libsim_result* result) { delete result; }

void libsim_interrupt(void) { g_interrupt.store(true); }

int libsim_result_stats(const libsim_result* result, libsim_run_stats* out, char* err,
                        size_t err_size) {
  return guarded(err, err_size, [&] {
    require(result != nullptr, "result is NULL");
    require(out != nullptr, "out is NULL");
    out->events = result->outcome.events;
    out->link_packets = result->outcome.link_packets;
    out->end_s = libsim::to_seconds(result->outcome.end);
    out->flows = int32_t(result->outcome.flows.size());
  });
}

int libsim_result_flow(const libsim_result* result, int32_t flow, libsim_flow_stats* out,
                       char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    const libsim::FlowOutcome& f = flow_of(result, flow);
    require(out != nullptr, "out is NULL");
    out->frames = int64_t(f.frames.size());
    out->packets_sent = f.packets_sent;
    out->packets_lost = f.packets_lost;
    out->retransmissions = f.retransmissions;
    out->collisions = f.collisions;
    out->lost_ranges = int64_t(f.lost_ranges.size());
  });
}

int libsim_result_flow_io(const libsim_result* result, int32_t flow, libsim_flow_io* out,
                          char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    const libsim::FlowOutcome& f = flow_of(result, flow);
    require(out != nullptr, "out is NULL");
    out->src_tx_bytes = f.src_tx_bytes;
    out->src_tx_packets = f.src_tx_packets;
    out->src_rx_bytes = f.src_rx_bytes;
    out->src_rx_packets = f.src_rx_packets;
    out->dst_tx_bytes = f.dst_tx_bytes;
    out->dst_tx_packets = f.dst_tx_packets;
    out->dst_rx_bytes = f.dst_rx_bytes;
    out->dst_rx_packets = f.dst_rx_packets;
  });
}

int libsim_result_frames(const libsim_result* result, int32_t flow, libsim_frame_record* out,
                         size_t capacity, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    const libsim::FlowOutcome& f = flow_of(result, flow);
    require(out != nullptr || capacity == 0, "out is NULL");
    const size_t n = std::min(capacity, f.frames.size());
    for (size_t i = 0; i < n; ++i) {
      const libsim::FrameOutcome& frame = f.frames[i];
      out[i].sent_s = libsim::to_seconds(frame.sent);
      out[i].delivered_s = libsim::to_seconds(frame.delivered);
      out[i].latency_s =
          frame.has_delivery ? double(int64_t(frame.delivered - frame.sent)) / 1e12 : 0.0;
      out[i].delivered = frame.has_delivery ? 1 : 0;
      out[i].complete = frame.complete ? 1 : 0;
      out[i].lost_bytes = frame.lost_bytes;
      out[i].lost_range_count = frame.range_count;
    }
  });
}

int libsim_result_choices(const libsim_result* result, int32_t flow, int32_t* out,
                          size_t capacity, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    const libsim::FlowOutcome& f = flow_of(result, flow);
    require(!f.choices.empty(), "flow " + std::to_string(flow) + " has no policy");
    require(out != nullptr || capacity == 0, "out is NULL");
    std::copy_n(f.choices.begin(), std::min(capacity, f.choices.size()), out);
  });
}

int libsim_result_lost_ranges(const libsim_result* result, int32_t flow, libsim_byte_range* out,
                              size_t capacity, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    const libsim::FlowOutcome& f = flow_of(result, flow);
    require(out != nullptr || capacity == 0, "out is NULL");
    const size_t n = std::min(capacity, f.lost_ranges.size());
    for (size_t i = 0; i < n; ++i) {
      out[i].start = f.lost_ranges[i].start;
      out[i].end = f.lost_ranges[i].end;
    }
  });
}

}  // extern "C"
