// Reference run in ns-3 (Debian libns3-dev 3.37) of libsim's basic TCP case, for comparing
// the two simulators by hand; not part of the build or of the test suite.
//
// Build:  g++ -std=c++17 -O2 ns3_tcp_reference.cc -o ns3_tcp_reference -lns3-core \
//           -lns3-network -lns3-internet -lns3-point-to-point -lns3-applications \
//           -lns3-traffic-control -lns3-bridge -lns3-stats
// Run:    ./ns3_tcp_reference --size=10000000 --loss=0.001 --seed=3
// Prints: the time the receiver holds all `size` bytes (-1 if not by 1000 s), bytes received.
//
// The libsim twin: two nodes, one full_duplex link of `rate` bit/s and `delay` s,
// overhead_bytes = 2 (PPP), queue_packets = `queue`, one flow of one frame of `size` bytes,
// tcp defaults (NewReno, IW 10, min_rto 0.2 s, delayed ACK 2 segments / 0.2 s).
// ns-3 is set to match: NewReno with classic recovery, no SACK, no timestamps, no queue
// disc; a large device queue, since ns-3's sender drops at a full local queue where libsim
// blocks. Measured (100 Mbit/s, 5 ms, queue 10000), ns-3 vs libsim, seconds:
//   1460 B 0.015130880 vs 0.015130240; 30 kB 0.026403200 vs 0.026402560;
//   1 MB 0.134381920 vs 0.134381280; 10 MB 0.875096320 vs 0.875095680.
// The constant 0.64 us is the window-scale option ns-3's SYN and SYN-ACK carry (8 bytes).
// With random loss the two differ run by run (different random streams); compare means
// over seeds.
#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

using namespace ns3;

static uint64_t g_received = 0;
static uint64_t g_size = 10000000;
static double g_done = -1;

static void Received(Ptr<const Packet> packet, const Address&) {
  g_received += packet->GetSize();
  if (g_received >= g_size && g_done < 0) g_done = Simulator::Now().GetSeconds();
}

int main(int argc, char** argv) {
  double loss = 0, rate = 100e6, delay = 0.005;
  uint32_t seed = 1, queue = 10000;
  bool sack = false;
  CommandLine cmd;
  cmd.AddValue("loss", "per-packet loss, both directions", loss);
  cmd.AddValue("seed", "random seed", seed);
  cmd.AddValue("size", "bytes to transfer", g_size);
  cmd.AddValue("queue", "device queue, packets", queue);
  cmd.AddValue("rate", "bit/s", rate);
  cmd.AddValue("delay", "propagation delay, s", delay);
  cmd.AddValue("sack", "enable SACK", sack);
  cmd.Parse(argc, argv);
  RngSeedManager::SetSeed(seed);

  Config::SetDefault("ns3::TcpL4Protocol::SocketType", StringValue("ns3::TcpNewReno"));
  Config::SetDefault("ns3::TcpL4Protocol::RecoveryType",
                     TypeIdValue(TcpClassicRecovery::GetTypeId()));
  Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(1460));
  Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(10));
  Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(2));
  Config::SetDefault("ns3::TcpSocket::DelAckTimeout", TimeValue(Seconds(0.2)));
  Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(1 << 30));
  Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(4194304));
  Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(Seconds(0.2)));
  Config::SetDefault("ns3::TcpSocketBase::Sack", BooleanValue(sack));
  Config::SetDefault("ns3::TcpSocketBase::Timestamp", BooleanValue(false));

  NodeContainer nodes;
  nodes.Create(2);
  PointToPointHelper p2p;
  p2p.SetDeviceAttribute("DataRate", DataRateValue(DataRate(uint64_t(rate))));
  p2p.SetChannelAttribute("Delay", TimeValue(Seconds(delay)));
  p2p.SetQueue("ns3::DropTailQueue", "MaxSize",
               QueueSizeValue(QueueSize(std::to_string(queue) + "p")));
  NetDeviceContainer devices = p2p.Install(nodes);
  InternetStackHelper stack;
  stack.Install(nodes);
  Ipv4AddressHelper addresses;
  addresses.SetBase("10.0.0.0", "255.255.255.0");
  Ipv4InterfaceContainer interfaces = addresses.Assign(devices);
  TrafficControlHelper traffic_control;
  traffic_control.Uninstall(devices);
  if (loss > 0) {
    for (uint32_t i = 0; i < 2; i++) {
      Ptr<RateErrorModel> errors = CreateObject<RateErrorModel>();
      errors->SetUnit(RateErrorModel::ERROR_UNIT_PACKET);
      errors->SetRate(loss);
      devices.Get(i)->SetAttribute("ReceiveErrorModel", PointerValue(errors));
    }
  }
  BulkSendHelper bulk("ns3::TcpSocketFactory", InetSocketAddress(interfaces.GetAddress(1), 9));
  bulk.SetAttribute("MaxBytes", UintegerValue(g_size));
  bulk.Install(nodes.Get(0)).Start(Seconds(0));
  PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), 9));
  ApplicationContainer sinks = sink.Install(nodes.Get(1));
  sinks.Start(Seconds(0));
  sinks.Get(0)->TraceConnectWithoutContext("Rx", MakeCallback(&Received));
  Simulator::Stop(Seconds(1000));
  Simulator::Run();
  std::printf("%.9f %llu\n", g_done, static_cast<unsigned long long>(g_received));
  Simulator::Destroy();
  return 0;
}
