// One run: build the modules in a fresh SystemC context, simulate, collect the outcome.
#include <cstdlib>
#include <queue>

#include "engine.hpp"

namespace libsim {

namespace {

// Next hop from every node to every destination: shortest path by hop count, ties broken
// by link order then node order, so routes are the same on every run.
struct Hop {
  int32_t link = -1;
  int32_t node = -1;
};

std::vector<std::vector<Hop>> shortest_paths(const NetworkConfig& config) {
  const int32_t n = config.node_count;
  std::vector<std::vector<Hop>> adjacency(n);
  for (int32_t l = 0; l < int32_t(config.links.size()); ++l) {
    const auto& nodes = config.links[l].nodes;
    for (int32_t u : nodes) {
      for (int32_t v : nodes) {
        if (u != v) adjacency[u].push_back(Hop{l, v});
      }
    }
  }
  std::vector<std::vector<Hop>> next(n, std::vector<Hop>(n));
  std::vector<int32_t> distance(n);
  for (int32_t dst = 0; dst < n; ++dst) {
    std::fill(distance.begin(), distance.end(), -1);
    std::queue<int32_t> frontier;
    distance[dst] = 0;
    frontier.push(dst);
    while (!frontier.empty()) {
      const int32_t u = frontier.front();
      frontier.pop();
      for (const Hop& hop : adjacency[u]) {
        if (distance[hop.node] < 0) {
          distance[hop.node] = distance[u] + 1;
          frontier.push(hop.node);
        }
      }
    }
    for (int32_t u = 0; u < n; ++u) {
      if (u == dst || distance[u] < 0) continue;
      for (const Hop& hop : adjacency[u]) {
        if (distance[hop.node] == distance[u] - 1) {
          next[u][dst] = hop;
          break;
        }
      }
    }
  }
  return next;
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
  return shortest_paths(config)[src][dst].link >= 0;
}

void run_network(const NetworkConfig& config, RunOutcome& outcome) {
  Simulation sim(config);
  for (size_t f = 0; f < config.flows.size(); ++f) {
    sim.outcome.flows[f].frames.resize(size_t(config.flows[f].frames));
  }
  ModuleList modules;
  for (int32_t i = 0; i < config.node_count; ++i) {
    const std::string name = "node" + std::to_string(i);
    sim.nodes.push_back(modules.add(new Node(name.c_str(), sim, i)));
  }
  // Each link's interface per attached node.
  std::vector<std::vector<Interface*>> interface_of(config.links.size(),
                                                    std::vector<Interface*>(config.node_count));
  for (int32_t l = 0; l < int32_t(config.links.size()); ++l) {
    const LinkConfig& link = config.links[l];
    const std::string name = "link" + std::to_string(l);
    if (link.kind == LinkKind::Wireless) {
      std::vector<Node*> members;
      for (int32_t v : link.nodes) members.push_back(sim.nodes[v]);
      auto* medium = modules.add(new WirelessMedium(name.c_str(), sim, link, l, members));
      for (int32_t v : link.nodes) interface_of[l][v] = &medium->station_of(v);
    } else {
      Node& a = *sim.nodes[link.nodes[0]];
      Node& b = *sim.nodes[link.nodes[1]];
      PointToPointChannel* channel =
          link.kind == LinkKind::FullDuplex
              ? static_cast<PointToPointChannel*>(
                    modules.add(new FullDuplexChannel(name.c_str(), sim, link, l, a, b)))
              : modules.add(new HalfDuplexChannel(name.c_str(), sim, link, l, a, b));
      interface_of[l][link.nodes[0]] = &channel->end(0);
      interface_of[l][link.nodes[1]] = &channel->end(1);
    }
  }
  const auto next = shortest_paths(config);
  for (int32_t u = 0; u < config.node_count; ++u) {
    for (int32_t dst = 0; dst < config.node_count; ++dst) {
      const Hop& hop = next[u][dst];
      if (hop.link >= 0) sim.nodes[u]->set_route(dst, interface_of[hop.link][u], hop.node);
    }
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
  if (sim.failed()) throw std::runtime_error(sim.failure);
  for (UdpSink* sink : udp_sinks) sink->finish();
  for (TcpReceiver* receiver : tcp_receivers) receiver->finish();
  sim.outcome.end = sc_core::sc_time_stamp().value();
  outcome = std::move(sim.outcome);
}

}  // namespace libsim
