// Trace-driven links: piecewise-constant rate schedules and Mahimahi delivery opportunities.
#include <algorithm>

#include "engine.hpp"

namespace libsim {

RateSchedule::Row RateSchedule::row_at(Time t) const {
  const std::vector<Time>& times = trace_.times;
  const Time tau = t + trace_.start;  // trace time
  if (trace_.period == 0) {
    const size_t i = size_t(std::upper_bound(times.begin(), times.end(), tau) - times.begin()) - 1;
    return {i, i + 1 < times.size() ? times[i + 1] - trace_.start : kNever};
  }
  const Time cycle_start = tau / trace_.period * trace_.period;
  const Time local = tau - cycle_start;
  const size_t i = size_t(std::upper_bound(times.begin(), times.end(), local) - times.begin()) - 1;
  const Time row_end = i + 1 < times.size() ? times[i + 1] : trace_.period;
  return {i, cycle_start + row_end - trace_.start};
}

Time RateSchedule::finish(Time start, double bits) const {
  Time t = start;
  for (;;) {
    const Row row = row_at(t);
    const double rate = trace_.bitrate_bps[row.index];
    if (rate > 0.0) {
      const Time needed = to_time(bits / rate);
      if (row.end == kNever || needed <= row.end - t) return t + needed;
      // The bits still to send go at the next row's rate.
      bits -= rate * to_seconds(row.end - t);
      if (bits <= 0.0) return row.end;
    }
    t = row.end;
    if (t > kHorizon) return kHorizon + 1;  // the caller fails the run cleanly
  }
}

Time OpportunitySchedule::trace_time(uint64_t k) const {
  const std::vector<Time>& times = trace_.times;
  const uint64_t n = times.size();
  const Time period = times.back();
  if (trace_.loop) return (k / n) * period + times[size_t(k % n)];
  if (k < n) return times[size_t(k)];
  // After the last opportunity: evenly spaced at the trace's mean rate (n per period).
  const unsigned __int128 j = k - (n - 1);
  const unsigned __int128 offset = j * period / n;
  return offset > kHorizon ? 3 * kHorizon : period + Time(offset);
}

Time OpportunitySchedule::time_of(uint64_t k) const {
  const Time tau = trace_time(k);
  return tau >= 3 * kHorizon ? 3 * kHorizon : tau - trace_.start;  // past the horizon
}

uint64_t OpportunitySchedule::first_at_or_after(Time t) const {
  const std::vector<Time>& times = trace_.times;
  const uint64_t n = times.size();
  const Time period = times.back();
  const Time tau = t + trace_.start;
  if (trace_.loop) {
    const uint64_t cycle = tau / period;
    const Time local = tau - cycle * period;  // < period = times.back(): found in this cycle
    const auto i = uint64_t(std::lower_bound(times.begin(), times.end(), local) - times.begin());
    return cycle * n + i;
  }
  if (tau <= period) {
    return uint64_t(std::lower_bound(times.begin(), times.end(), tau) - times.begin());
  }
  // The first j >= 1 with floor(j * period / n) >= tau - period.
  const unsigned __int128 late = tau - period;
  const unsigned __int128 j = (late * n + period - 1) / period;
  return n - 1 + uint64_t(j);
}

}  // namespace libsim
