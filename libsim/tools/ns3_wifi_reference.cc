// Reference run in ns-3 (Debian libns3-dev 3.37) of libsim's 802.11 access cases, for
// comparing the two simulators by hand; not part of the build or of the test suite.
//
// Build:  g++ -std=c++17 -O2 ns3_wifi_reference.cc -o ns3_wifi_reference -lns3-core \
//           -lns3-network -lns3-internet -lns3-wifi -lns3-mobility -lns3-propagation \
//           -lns3-traffic-control
// Run:    ./ns3_wifi_reference --stations=2 --frames=200 --fps=10 --payload=1472 --rate=54 --seed=1
// Prints: the PHY/MAC timings ns-3 uses, then per station the frames received, the mean
//         and max latency (s) and the MAC's failed attempts (collisions); then the mean
//         latency of all frames and the goodput (with a large fps: saturation).
//
// The libsim twin: `stations` nodes and an "ap" on one wireless link, `rate` Mbit/s,
// overhead_bytes = 36 (MAC header 24 + LLC/SNAP 8 + FCS 4: ns-3's 1472 B of UDP payload
// make a 1536-octet MPDU too), delay ~3 ns (1 m), one UDP flow per station to the ap with
// `frames` frames of `payload` bytes at `fps`; all stations write their frames at the same
// instants (synchronised cameras). ns-3 is set to match: 802.11g, ad hoc, no QoS (DCF),
// ConstantRateWifiManager at ErpOfdmRate<rate>Mbps (ACKs at the highest mandatory rate,
// 6, 12 or 24 Mbit/s, not above it),
// short slot (9 us, as libsim; ns-3's 802.11g default is 20 us), no RTS/CTS, neighbour
// caches filled beforehand (no ARP exchange), a FIFO queue disc that never fills.
// Latency = the ap's socket receives the datagram - the station's socket sent it.
// ns-3 prints slot 9 us, SIFS 10 us, CW 15..1023, AIFSN 2 (DIFS 28 us) and an ACK time of
// 304 us for EIFS (a DSSS ACK at 1 Mbit/s: ns-3's 802.11g assumes a mixed b/g BSS; libsim
// models an ERP-only one, 50 us). The cases compared have no EIFS deferral that matters.
//
// Measured, ns-3 vs libsim (benchmarks/bench_wifi_access.py), mean frame latency:
//   one idle station, 10 fps: 1472 B at 54 Mbit/s 282.003 vs 282.003 us (libsim before the
//   immediate-access change: 334.0); 1000 B at 54: 214.003 vs 214.003 (266.1); 100 B at 24:
//   110.003 vs 110.003 (159.1); 1472 B at 6: 2106.003 vs 2106.003 (2158.1).
//   synchronised stations, 1472 B at 54 Mbit/s, 10 fps, 500 frames, seeds 1-4 (ns-3 runs
//   1-4): 2 stations 929.8 vs 925.2 us (before: 518.8); 3: 1108.8 vs 1120.6 (723.1);
//   4: 1308.1 vs 1306.4 (937.0).
//   saturation goodput, 600 datagrams of 1472 B per station (ns-3: --fps=100000; libsim:
//   one back-to-back frame; seed / run 1 for 1 and 2 stations, means of 1-3 for 4 and 8),
//   Mbit/s: 1 station 29.86 vs 29.91; 2: 30.02 vs 30.04; 4: 28.78 vs 29.25; 8: 28.07 vs
//   27.46 (unchanged by the access change: libsim before, seed 1: 29.91, 30.13, 29.02,
//   27.45).
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/mobility-module.h"
#include "ns3/network-module.h"
#include "ns3/traffic-control-module.h"
#include "ns3/wifi-module.h"

#include <cstring>
#include <map>
#include <vector>

using namespace ns3;

static std::map<std::pair<uint32_t, uint32_t>, Time> g_sent;  // (station, frame) -> sent
static std::vector<std::vector<double>> g_latency;           // per station
static std::vector<uint32_t> g_failed;                        // per station: MPDU failures
static Time g_last;                                           // the last datagram received

static void Send(Ptr<Socket> socket, uint32_t station, uint32_t frame, uint32_t payload) {
  std::vector<uint8_t> data(payload, 0);
  std::memcpy(data.data(), &station, 4);
  std::memcpy(data.data() + 4, &frame, 4);
  g_sent[{station, frame}] = Simulator::Now();
  socket->Send(Create<Packet>(data.data(), payload));
}

static void Receive(Ptr<Socket> socket) {
  Address from;
  while (Ptr<Packet> packet = socket->RecvFrom(from)) {
    uint8_t head[8];
    packet->CopyData(head, 8);
    uint32_t station, frame;
    std::memcpy(&station, head, 4);
    std::memcpy(&frame, head + 4, 4);
    const Time sent = g_sent[{station, frame}];
    g_latency[station].push_back((Simulator::Now() - sent).GetSeconds());
    g_last = Simulator::Now();
  }
}


int main(int argc, char** argv) {
  uint32_t stations = 1, frames = 100, payload = 1472, seed = 1, rate = 54;
  double fps = 10;
  CommandLine cmd;
  cmd.AddValue("stations", "stations sending to the ap", stations);
  cmd.AddValue("frames", "frames per station", frames);
  cmd.AddValue("fps", "frames per second per station", fps);
  cmd.AddValue("payload", "UDP payload bytes per frame (one datagram)", payload);
  cmd.AddValue("seed", "random run number", seed);
  cmd.AddValue("rate", "data rate, Mbit/s (an ERP-OFDM rate: 6 9 12 18 24 36 48 54)", rate);
  cmd.Parse(argc, argv);
  RngSeedManager::SetSeed(1);
  RngSeedManager::SetRun(seed);
  // Saturated runs: no MAC queue drops (500 packets and 500 ms by default).
  Config::SetDefault("ns3::WifiMacQueue::MaxSize", QueueSizeValue(QueueSize("100000p")));
  Config::SetDefault("ns3::WifiMacQueue::MaxDelay", TimeValue(Seconds(1000)));
  g_latency.assign(stations, {});
  g_failed.assign(stations, 0);

  NodeContainer nodes;
  nodes.Create(stations + 1);  // the last one is the ap
  MobilityHelper mobility;
  Ptr<ListPositionAllocator> positions = CreateObject<ListPositionAllocator>();
  for (uint32_t i = 0; i < stations; ++i) {  // 1 m from the ap, evenly around it
    const double angle = 2 * M_PI * i / stations;
    positions->Add(Vector(std::cos(angle), std::sin(angle), 0));
  }
  positions->Add(Vector(0, 0, 0));
  mobility.SetPositionAllocator(positions);
  mobility.SetMobilityModel("ns3::ConstantPositionMobilityModel");
  mobility.Install(nodes);

  WifiHelper wifi;
  wifi.SetStandard(WIFI_STANDARD_80211g);
  const uint32_t control = rate >= 24 ? 24 : rate >= 12 ? 12 : 6;
  wifi.SetRemoteStationManager(
      "ns3::ConstantRateWifiManager", "DataMode",
      StringValue("ErpOfdmRate" + std::to_string(rate) + "Mbps"), "ControlMode",
      StringValue("ErpOfdmRate" + std::to_string(control) + "Mbps"));
  YansWifiChannelHelper channel = YansWifiChannelHelper::Default();
  YansWifiPhyHelper phy;
  phy.SetChannel(channel.Create());
  WifiMacHelper mac;
  mac.SetType("ns3::AdhocWifiMac");
  NetDeviceContainer devices = wifi.Install(phy, mac, nodes);
  for (uint32_t i = 0; i < devices.GetN(); ++i) {
    Ptr<WifiNetDevice> device = DynamicCast<WifiNetDevice>(devices.Get(i));
    device->GetPhy()->SetSlot(MicroSeconds(9));
    if (i < stations) {
      device->GetRemoteStationManager()->TraceConnectWithoutContext(
          "MacTxDataFailed", MakeBoundCallback(
                                 +[](uint32_t station, Mac48Address) { g_failed[station]++; }, i));
    }
  }
  {
    Ptr<WifiNetDevice> device = DynamicCast<WifiNetDevice>(devices.Get(0));
    Ptr<WifiPhy> p = device->GetPhy();
    Ptr<Txop> txop = device->GetMac()->GetTxop();
    std::printf("ns-3: slot %.1f us, SIFS %.1f us, ACK tx time for EIFS %.1f us, CW %u..%u, "
                "AIFSN %u\n",
                p->GetSlot().GetMicroSeconds() * 1.0, p->GetSifs().GetMicroSeconds() * 1.0,
                p->GetAckTxTime().GetMicroSeconds() * 1.0, txop->GetMinCw(), txop->GetMaxCw(),
                txop->GetAifsn());
  }

  InternetStackHelper internet;
  internet.Install(nodes);
  TrafficControlHelper fifo;  // before Assign, which would install FqCoDel otherwise
  fifo.SetRootQueueDisc("ns3::FifoQueueDisc", "MaxSize", StringValue("100000p"));
  fifo.Install(devices);
  Ipv4AddressHelper address;
  address.SetBase("10.0.0.0", "255.255.255.0");
  Ipv4InterfaceContainer interfaces = address.Assign(devices);
  NeighborCacheHelper neighbours;
  neighbours.PopulateNeighborCache();

  const uint16_t port = 9000;
  Ptr<Socket> sink = Socket::CreateSocket(nodes.Get(stations), UdpSocketFactory::GetTypeId());
  sink->Bind(InetSocketAddress(Ipv4Address::GetAny(), port));
  sink->SetRecvCallback(MakeCallback(&Receive));
  const InetSocketAddress ap(interfaces.GetAddress(stations), port);
  const double start = 1.0;  // the stack is settled by then
  for (uint32_t s = 0; s < stations; ++s) {
    Ptr<Socket> socket = Socket::CreateSocket(nodes.Get(s), UdpSocketFactory::GetTypeId());
    socket->Bind();
    socket->Connect(ap);
    for (uint32_t f = 0; f < frames; ++f) {
      Simulator::Schedule(Seconds(start + f / fps), &Send, socket, s, f, payload);
    }
  }
  Simulator::Stop(Seconds(start + frames / fps + 5));
  Simulator::Run();
  double all = 0;
  size_t count = 0;
  for (uint32_t s = 0; s < stations; ++s) {
    double sum = 0, max = 0;
    for (double l : g_latency[s]) {
      sum += l;
      max = std::max(max, l);
    }
    all += sum;
    count += g_latency[s].size();
    std::printf("station %u: %zu frames, mean %.9f s, max %.9f s, failed attempts %u\n", s,
                g_latency[s].size(), g_latency[s].empty() ? 0.0 : sum / g_latency[s].size(),
                max, g_failed[s]);
  }
  std::printf("all: mean %.9f s over %zu frames; goodput %.3f Mbit/s (payload received "
              "until the last datagram, from the first frame)\n",
              count ? all / count : 0.0, count,
              8.0 * payload * count / (g_last.GetSeconds() - start) / 1e6);
  Simulator::Destroy();
  return 0;
}
