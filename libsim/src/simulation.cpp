// One run: build the modules in a fresh SystemC context, simulate, collect the outcome.
#include <algorithm>
#include <cstdlib>
#include <queue>

#include "engine.hpp"

namespace libsim {

namespace {

struct Hop {
  int32_t link = -1;
  int32_t node = -1;
};

// The links each node is on, in link order.
std::vector<std::vector<int32_t>> links_of_nodes(const NetworkConfig& config) {
  std::vector<std::vector<int32_t>> links_of(size_t(config.node_count));
  for (int32_t l = 0; l < int32_t(config.links.size()); ++l) {
    for (int32_t v : config.links[l].nodes) links_of[size_t(v)].push_back(l);
  }
  return links_of;
}

// Next hop of every node towards `dst` (link = -1: unreachable): shortest path by hop
// count, ties broken by link order then node order, so routes are the same on every run.
std::vector<Hop> routes_towards(const NetworkConfig& config,
                                const std::vector<std::vector<int32_t>>& links_of,
                                int32_t dst) {
  const size_t n = size_t(config.node_count);
  std::vector<int32_t> distance(n, -1);
  std::vector<uint8_t> expanded(config.links.size(), 0);
  std::queue<int32_t> frontier;
  distance[size_t(dst)] = 0;
  frontier.push(dst);
  while (!frontier.empty()) {
    const int32_t u = frontier.front();
    frontier.pop();
    for (int32_t l : links_of[size_t(u)]) {
      // Expanding a link once reaches all its nodes at their shortest distance.
      if (expanded[size_t(l)]) continue;
      expanded[size_t(l)] = 1;
      for (int32_t v : config.links[size_t(l)].nodes) {
        if (distance[size_t(v)] < 0) {
          distance[size_t(v)] = distance[size_t(u)] + 1;
          frontier.push(v);
        }
      }
    }
  }
  std::vector<Hop> next(n);
  for (size_t u = 0; u < n; ++u) {
    if (int32_t(u) == dst || distance[u] < 0) continue;
    for (int32_t l : links_of[u]) {
      for (int32_t v : config.links[size_t(l)].nodes) {
        if (distance[size_t(v)] == distance[u] - 1) {
          next[u] = Hop{l, v};
          goto found;
        }
      }
    }
  found:;
  }
  return next;
}

// The nodes packets are addressed to: every flow's two ends (data one way, ACKs back).
std::vector<int32_t> endpoints(const NetworkConfig& config) {
  std::vector<int32_t> nodes;
  for (const FlowConfig& flow : config.flows) {
    nodes.push_back(flow.src);
    nodes.push_back(flow.dst);
  }
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  return nodes;
}

// Deletes the modules in reverse order of creation, while their context is current.
class ModuleList {
 public:
  ~ModuleList() {
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) delete *it;
  }
  template <typename T>
  T* add(T* module) {
    modules_.push_back(module);
    return module;
  }

 private:
  std::vector<sc_core::sc_module*> modules_;
};

}  // namespace

bool has_route(const NetworkConfig& config, int32_t src, int32_t dst) {
  return routes_towards(config, links_of_nodes(config), dst)[size_t(src)].link >= 0;
}

double routing_work(const NetworkConfig& config) {
  double per_destination = double(config.node_count);
  for (const LinkConfig& link : config.links) {
    per_destination += double(link.nodes.size()) * double(link.nodes.size());
  }
  return double(endpoints(config).size()) * per_destination;
}

void run_network(const NetworkConfig& config, RunOutcome& outcome) {
  Simulation sim(config);
  for (size_t f = 0; f < config.flows.size(); ++f) {
    auto& frames = sim.outcome.flows[f].frames;
    frames.resize(size_t(config.flows[f].frames));
    // A frame never written (a connection that gave up) keeps its scheduled time.
    const FrameSchedule schedule(config.flows[f]);
    for (size_t i = 0; i < frames.size(); ++i) frames[i].sent = schedule.due(int64_t(i));
  }
  ModuleList modules;
  for (int32_t i = 0; i < config.node_count; ++i) {
    const std::string name = "node" + std::to_string(i);
    sim.nodes.push_back(modules.add(new Node(name.c_str(), sim, i)));
  }
  // Each node's interfaces, one per link it is on, in link order.
  std::vector<std::vector<std::pair<int32_t, Interface*>>> interfaces(
      size_t(config.node_count));
  for (int32_t l = 0; l < int32_t(config.links.size()); ++l) {
    const LinkConfig& link = config.links[l];
    const std::string name = "link" + std::to_string(l);
    if (link.kind == LinkKind::Wireless) {
      std::vector<Node*> members;
      for (int32_t v : link.nodes) members.push_back(sim.nodes[v]);
      auto* medium = modules.add(new WirelessMedium(name.c_str(), sim, link, l, members));
      for (int32_t v : link.nodes) interfaces[size_t(v)].emplace_back(l, &medium->station_of(v));
    } else {
      Node& a = *sim.nodes[link.nodes[0]];
      Node& b = *sim.nodes[link.nodes[1]];
      PointToPointChannel* channel =
          link.kind == LinkKind::FullDuplex
              ? static_cast<PointToPointChannel*>(
                    modules.add(new FullDuplexChannel(name.c_str(), sim, link, l, a, b)))
              : modules.add(new HalfDuplexChannel(name.c_str(), sim, link, l, a, b));
      interfaces[size_t(link.nodes[0])].emplace_back(l, &channel->end(0));
      interfaces[size_t(link.nodes[1])].emplace_back(l, &channel->end(1));
    }
  }
  const auto links_of = links_of_nodes(config);
  const std::vector<int32_t> destinations = endpoints(config);
  for (size_t slot = 0; slot < destinations.size(); ++slot) {
    sim.route_slot[size_t(destinations[slot])] = int32_t(slot);
  }
  for (Node* node : sim.nodes) node->resize_routes(destinations.size());
  for (size_t slot = 0; slot < destinations.size(); ++slot) {
    const auto next = routes_towards(config, links_of, destinations[slot]);
    for (int32_t u = 0; u < config.node_count; ++u) {
      const Hop& hop = next[size_t(u)];
      if (hop.link < 0) continue;
      for (const auto& [link, via] : interfaces[size_t(u)]) {
        if (link == hop.link) sim.nodes[u]->set_route(slot, via, hop.node);
      }
    }
  }
  // Policies before the transports, which look theirs up; each knows its flow's links.
  std::vector<std::unique_ptr<FlowPolicy>> policies;
  for (int32_t f = 0; f < int32_t(config.flows.size()); ++f) {
    const FlowConfig& flow = config.flows[size_t(f)];
    if (!flow.has_policy()) continue;
    const auto next = routes_towards(config, links_of, flow.dst);
    std::vector<int32_t> path;
    for (int32_t u = flow.src; u != flow.dst; u = next[size_t(u)].node) {
      path.push_back(next[size_t(u)].link);
    }
    policies.push_back(std::make_unique<FlowPolicy>(sim, f, std::move(path)));
    sim.policies[size_t(f)] = policies.back().get();
  }
  std::vector<UdpSink*> udp_sinks;
  std::vector<TcpReceiver*> tcp_receivers;
  for (int32_t f = 0; f < int32_t(config.flows.size()); ++f) {
    const std::string source = "flow" + std::to_string(f) + "_source";
    const std::string sink = "flow" + std::to_string(f) + "_sink";
    if (config.protocol == Protocol::Udp) {
      sim.sources[f] = modules.add(new UdpSource(source.c_str(), sim, f));
      auto* udp_sink = modules.add(new UdpSink(sink.c_str(), sim, f));
      udp_sinks.push_back(udp_sink);
      sim.sinks[f] = udp_sink;
    } else {
      sim.sources[f] = modules.add(new TcpSender(source.c_str(), sim, f));
      auto* receiver = modules.add(new TcpReceiver(sink.c_str(), sim, f));
      tcp_receivers.push_back(receiver);
      sim.sinks[f] = receiver;
    }
  }
  sc_core::sc_start();
  if (sim.interrupted_run) throw Interrupted(sim.failure);
  if (sim.failed()) throw RunLimitError(sim.failure);
  for (const auto& policy : policies) policy->finish();
  for (UdpSink* sink : udp_sinks) sink->finish();
  for (TcpReceiver* receiver : tcp_receivers) receiver->finish();
  sim.outcome.end = sc_core::sc_time_stamp().value();
  outcome = std::move(sim.outcome);
}

}  // namespace libsim
