// Reference runs in ns-3 (Debian libns3-dev 3.37) of one TCP transfer under random loss, for
// comparing libsim's loss recovery by hand (benchmarks/bench_tcp_loss.py prints libsim's
// side); not part of the build or of the test suite.
//
// Build:  g++ -std=c++17 -O2 ns3_tcp_loss_reference.cc -o ns3_tcp_loss_reference \
//           -lns3-core -lns3-network -lns3-internet -lns3-point-to-point \
//           -lns3-applications -lns3-traffic-control -lns3-bridge -lns3-stats
// Run:    ./ns3_tcp_loss_reference --size=5000000 --loss=0.01 --seed=3 --ack_delay=0.04
// Prints one line: size loss seed time_s data_lost acks_lost retransmissions recoveries
//   timeouts, where time_s is when the receiver holds all `size` bytes (-1 if not by the
//   stop time), recoveries counts entries into fast recovery and timeouts entries into
//   the loss state (retransmission timeouts).
//
// The network is the one of ns3_tcp_reference.cc: two nodes, one point-to-point link of
// `rate` bit/s and `delay` s (PPP header: libsim overhead_bytes = 2), a device queue that
// never fills, Bernoulli loss `loss` per packet on both devices (data and ACKs alike), one
// transfer of `size` bytes. TCP NewReno with classic recovery (cwnd = ssthresh on the full
// ACK), no SACK, no timestamps, IW 10, min RTO 0.2 s, delayed ACK every 2nd segment or
// `ack_delay`; the application writes one MSS at a time into a send buffer that never runs
// low. Use --ack_delay=0.04 (benchmarks/reference/ns3_tcp_loss.csv does): with 0.2 s = the
// min RTO, ns-3 3.37 stalls for minutes on some seeds after a timeout, sending one segment
// per RTO whose delayed ACK arrives after the timer fired again.
// The libsim twin: tcp defaults but ack_delay, full_duplex link, overhead_bytes = 2,
// queue_packets = `queue`, one flow of one frame of `size` bytes. Random streams differ
// from libsim's: compare means over seeds.
#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

using namespace ns3;

static uint64_t g_received = 0;
static uint64_t g_size = 5000000;
static double g_done = -1;
static uint64_t g_data_lost = 0, g_acks_lost = 0, g_retransmissions = 0;
static uint64_t g_recoveries = 0, g_timeouts = 0;
static SequenceNumber32 g_highest(0);

static void Received(Ptr<const Packet> packet, const Address&) {
  g_received += packet->GetSize();
  if (g_received >= g_size && g_done < 0) {
    g_done = Simulator::Now().GetSeconds();
    Simulator::Stop();
  }
}

static void DataDropped(Ptr<const Packet>) { g_data_lost++; }
static void AckDropped(Ptr<const Packet>) { g_acks_lost++; }

static void Sent(Ptr<const Packet> packet, const TcpHeader& header, Ptr<const TcpSocketBase>) {
  if (packet->GetSize() == 0) return;
  if (header.GetSequenceNumber() < g_highest) {
    g_retransmissions++;
  } else {
    g_highest = header.GetSequenceNumber() + packet->GetSize();
  }
}

static void CongState(TcpSocketState::TcpCongState_t, TcpSocketState::TcpCongState_t state) {
  if (state == TcpSocketState::CA_RECOVERY) g_recoveries++;
  if (state == TcpSocketState::CA_LOSS) g_timeouts++;
}

static void Watch(Ptr<Application> app) {
  Ptr<Socket> socket = DynamicCast<BulkSendApplication>(app)->GetSocket();
  socket->TraceConnectWithoutContext("Tx", MakeCallback(&Sent));
  socket->TraceConnectWithoutContext("CongState", MakeCallback(&CongState));
}

int main(int argc, char** argv) {
  double loss = 0, rate = 100e6, delay = 0.005, stop = 1000, ack_delay = 0.2;
  uint32_t seed = 1, queue = 10000;
  CommandLine cmd;
  cmd.AddValue("loss", "per-packet loss, both directions", loss);
  cmd.AddValue("seed", "random seed", seed);
  cmd.AddValue("size", "bytes to transfer", g_size);
  cmd.AddValue("queue", "device queue, packets", queue);
  cmd.AddValue("rate", "bit/s", rate);
  cmd.AddValue("delay", "propagation delay, s", delay);
  cmd.AddValue("stop", "simulated time limit, s", stop);
  cmd.AddValue("ack_delay", "delayed-ACK timeout, s", ack_delay);
  cmd.Parse(argc, argv);
  RngSeedManager::SetSeed(seed);

  Config::SetDefault("ns3::TcpL4Protocol::SocketType", StringValue("ns3::TcpNewReno"));
  Config::SetDefault("ns3::TcpL4Protocol::RecoveryType",
                     TypeIdValue(TcpClassicRecovery::GetTypeId()));
  Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(1460));
  Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(10));
  Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(2));
  Config::SetDefault("ns3::TcpSocket::DelAckTimeout", TimeValue(Seconds(ack_delay)));
  Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(1 << 30));
  Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(4194304));
  Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(Seconds(0.2)));
  Config::SetDefault("ns3::TcpSocketBase::Sack", BooleanValue(false));
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
  traffic_control.Uninstall(devices);  // no FqCoDel: the device queue only, as libsim
  for (uint32_t i = 0; i < 2; i++) {
    Ptr<RateErrorModel> errors = CreateObject<RateErrorModel>();
    errors->SetUnit(RateErrorModel::ERROR_UNIT_PACKET);
    errors->SetRate(loss);
    devices.Get(i)->SetAttribute("ReceiveErrorModel", PointerValue(errors));
  }
  // Device 1 receives the data, device 0 the ACKs.
  devices.Get(1)->TraceConnectWithoutContext("PhyRxDrop", MakeCallback(&DataDropped));
  devices.Get(0)->TraceConnectWithoutContext("PhyRxDrop", MakeCallback(&AckDropped));
  BulkSendHelper bulk("ns3::TcpSocketFactory", InetSocketAddress(interfaces.GetAddress(1), 9));
  bulk.SetAttribute("MaxBytes", UintegerValue(g_size));
  bulk.SetAttribute("SendSize", UintegerValue(1460));
  ApplicationContainer senders = bulk.Install(nodes.Get(0));
  senders.Start(Seconds(0));
  Simulator::Schedule(NanoSeconds(1), &Watch, senders.Get(0));
  PacketSinkHelper sink("ns3::TcpSocketFactory", InetSocketAddress(Ipv4Address::GetAny(), 9));
  ApplicationContainer sinks = sink.Install(nodes.Get(1));
  sinks.Start(Seconds(0));
  sinks.Get(0)->TraceConnectWithoutContext("Rx", MakeCallback(&Received));
  Simulator::Stop(Seconds(stop));
  Simulator::Run();
  std::printf("%llu %g %u %.9f %llu %llu %llu %llu %llu\n",
              static_cast<unsigned long long>(g_size), loss, seed, g_done,
              static_cast<unsigned long long>(g_data_lost),
              static_cast<unsigned long long>(g_acks_lost),
              static_cast<unsigned long long>(g_retransmissions),
              static_cast<unsigned long long>(g_recoveries),
              static_cast<unsigned long long>(g_timeouts));
  Simulator::Destroy();
  return 0;
}
