// A flow's closed-loop choice of deployment (libsim_set_flow_policy in libsim.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine.hpp"

namespace libsim {

FlowPolicy::FlowPolicy(Simulation& sim, int32_t flow, std::vector<int32_t> path_links)
    : sim_(sim),
      flow_(flow),
      config_(sim.config.flows[size_t(flow)]),
      policy_(config_.policy),
      path_links_(std::move(path_links)) {
  sizes_.reserve(size_t(config_.frames));
  sim.outcome.flows[size_t(flow)].choices.reserve(size_t(config_.frames));
}

// The smallest rate in force now on the flow's links: what a perfect estimate would read.
double FlowPolicy::bottleneck_bps() const {
  const Time now = sim_.now();
  double rate = std::numeric_limits<double>::infinity();
  for (int32_t l : path_links_) {
    const LinkConfig& link = sim_.config.links[size_t(l)];
    double link_rate = link.bitrate_bps;
    if (link.has_rate_trace) {
      link_rate = RateSchedule(link.rate_trace).bitrate_at(now);
    } else if (link.has_opportunities) {
      const OpportunitySchedule schedule(link.opportunities);
      const uint64_t next_second =
          schedule.first_at_or_after(now + kSecond) - schedule.first_at_or_after(now);
      link_rate = double(next_second) * LIBSIM_OPPORTUNITY_BYTES * 8.0;
    }
    rate = std::min(rate, link_rate);
  }
  return rate;
}

double FlowPolicy::estimate_bps() const {
  switch (policy_.estimator) {
    case Estimator::Perfect:
      return bottleneck_bps();
    case Estimator::Ewma:
      return have_sample_ ? ewma_bps_ : policy_.prior_bps;
    case Estimator::Harmonic: {
      if (recent_.empty()) return policy_.prior_bps;
      double inverse = 0.0;
      for (double sample : recent_) inverse += 1.0 / sample;
      return double(recent_.size()) / inverse;
    }
  }
  return policy_.prior_bps;
}

int64_t FlowPolicy::decide(int64_t frame) {
  // An outage (a perfect estimate of 0) still ranks candidates: by their bits.
  const double estimate = std::max(estimate_bps(), 1e-3);
  const auto& candidates = config_.candidates;
  std::vector<double> predicted(candidates.size());
  int32_t best = 0;
  for (size_t c = 0; c < candidates.size(); ++c) {
    predicted[c] = candidates[c].fixed_s + policy_.base_delay_s +
                   double(candidates[c].frame_bytes(frame)) * 8.0 / estimate;
    if (predicted[c] < predicted[size_t(best)]) best = int32_t(c);
  }
  if (current_ < 0) {
    current_ = best;
  } else if (best != current_ &&
             predicted[size_t(best)] < predicted[size_t(current_)] * (1.0 - policy_.margin)) {
    preferred_count_ = best == preferred_ ? preferred_count_ + 1 : 1;
    preferred_ = best;
    if (preferred_count_ >= policy_.hold_frames) {
      current_ = best;
      preferred_ = -1;
      preferred_count_ = 0;
    }
  } else {
    preferred_ = -1;
    preferred_count_ = 0;
  }
  const int64_t bytes = candidates[size_t(current_)].frame_bytes(frame);
  sizes_.push_back(bytes);
  sim_.outcome.flows[size_t(flow_)].choices.push_back(current_);
  return bytes;
}

void FlowPolicy::observe(int64_t frame, Time delivered) {
  const Time sent = sim_.outcome.flows[size_t(flow_)].frames[size_t(frame)].sent;
  // The path was busy with earlier frames until the last delivery seen; from an idle path,
  // the known propagation delay is not transfer time.
  const bool idle = !any_delivery_ || sent >= last_delivery_;
  const Time start = idle ? sent : last_delivery_;
  last_delivery_ = std::max(last_delivery_, delivered);
  any_delivery_ = true;
  if (delivered <= start) return;
  double seconds = to_seconds(delivered - start);
  if (idle && seconds > policy_.base_delay_s) seconds -= policy_.base_delay_s;
  const double sample = double(size(frame)) * 8.0 / seconds;
  if (policy_.estimator == Estimator::Ewma) {
    ewma_bps_ = have_sample_ ? policy_.alpha * sample + (1.0 - policy_.alpha) * ewma_bps_ : sample;
  } else if (policy_.estimator == Estimator::Harmonic) {
    recent_.push_back(sample);
    if (recent_.size() > size_t(policy_.window)) recent_.pop_front();
  }
  have_sample_ = true;
}

void FlowPolicy::finish() {
  const auto& candidates = config_.candidates;
  const int32_t last = current_ < 0 ? 0 : current_;
  auto& choices = sim_.outcome.flows[size_t(flow_)].choices;
  for (int64_t f = int64_t(sizes_.size()); f < config_.frames; ++f) {
    sizes_.push_back(candidates[size_t(last)].frame_bytes(f));
    choices.push_back(last);
  }
}

}  // namespace libsim
