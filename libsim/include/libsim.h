/* libsim: a packet-level network simulator on SystemC, C ABI.
 *
 * Plain C only: opaque handles, plain structs, integer status codes and a caller-owned
 * message buffer. Every function validates its arguments and returns a status instead of
 * crashing; no C++ exception ever crosses this boundary. Units are SI (bit/s, s, bytes).
 * Calls must be serialised by the caller (SystemC state is process-wide).
 */
#ifndef LIBSIM_H
#define LIBSIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. ARGUMENT and RUNTIME are the caller's to fix (a smaller or valid network);
 * INTERRUPTED answers libsim_interrupt; MEMORY and INTERNAL are failures of the engine. */
#define LIBSIM_OK 0
#define LIBSIM_ERR_ARGUMENT 1    /* invalid argument or network description */
#define LIBSIM_ERR_RUNTIME 2     /* the run exceeded a limit below (time horizon, events) */
#define LIBSIM_ERR_MEMORY 3      /* out of memory */
#define LIBSIM_ERR_INTERNAL 4    /* unexpected failure inside the engine */
#define LIBSIM_ERR_INTERRUPTED 5 /* stopped by libsim_interrupt */

/* Limits: the one definition of every range the simulator accepts (front ends read them
 * through cffi instead of repeating them). _MIN and _MAX bounds are inclusive; _ABOVE and
 * _BELOW bounds are exclusive (the value must be greater / smaller). */
#define LIBSIM_MTU_MIN 68       /* bytes: the IPv4 minimum (RFC 791) */
#define LIBSIM_MTU_MAX 65535    /* bytes: the 16-bit IP total length */
#define LIBSIM_SEED_MIN 0
#define LIBSIM_SEED_MAX 9223372036854775807 /* 2^63 - 1: seeds are stored in TOML (signed 64-bit) */
#define LIBSIM_TCP_IP_HEADER_BYTES 40 /* IPv4 20 + TCP 20, no options: MSS = mtu - 40 */
#define LIBSIM_UDP_IP_HEADER_BYTES 28 /* IPv4 20 + UDP 8: datagram payload <= mtu - 28 */
#define LIBSIM_INITIAL_WINDOW_MIN 1       /* segments */
#define LIBSIM_INITIAL_WINDOW_MAX 1000000 /* segments */
#define LIBSIM_MIN_RTO_MIN 0.0  /* s: 0 = no floor; the RTO keeps RFC 6298's G = 1 ms term */
#define LIBSIM_MIN_RTO_MAX 60.0 /* s: RFC 6298 (2.5) allows capping the RTO at 60 s */
#define LIBSIM_ACK_DELAY_ABOVE 0.0 /* s */
#define LIBSIM_ACK_DELAY_MAX 60.0  /* s */
#define LIBSIM_RWND_MAX 1099511627776 /* bytes (2^40); at least one MSS (mtu - 40) */
#define LIBSIM_BITRATE_ABOVE 0.0 /* bit/s */
#define LIBSIM_BITRATE_MAX 1e15  /* bit/s */
#define LIBSIM_DELAY_MIN 0.0     /* s */
#define LIBSIM_DELAY_MAX 1000.0  /* s */
#define LIBSIM_LOSS_MIN 0.0      /* probability per packet; also a burst's loss_good */
#define LIBSIM_LOSS_BELOW 1.0
#define LIBSIM_PROBABILITY_MIN 0.0 /* a burst's p_good_to_bad, p_bad_to_good and loss_bad */
#define LIBSIM_PROBABILITY_MAX 1.0
#define LIBSIM_OVERHEAD_BYTES_MIN 0
#define LIBSIM_OVERHEAD_BYTES_MAX 65535
#define LIBSIM_QUEUE_PACKETS_MIN 1
#define LIBSIM_QUEUE_PACKETS_MAX 100000000
#define LIBSIM_NODES_MAX 100000
#define LIBSIM_WIRELESS_NODES_MIN 2 /* stations on one wireless medium */
#define LIBSIM_WIRELESS_NODES_MAX 1000
#define LIBSIM_FRAMES_MIN 1           /* per flow */
#define LIBSIM_FRAMES_MAX 10000000    /* per flow, and of all flows together */
#define LIBSIM_FPS_MIN 0.0            /* frames per second; 0 = back to back */
#define LIBSIM_FPS_MAX 1e9
#define LIBSIM_PAYLOAD_BYTES_MIN 1
#define LIBSIM_PAYLOAD_BYTES_MAX 1099511627776 /* 2^40 */
#define LIBSIM_UDP_DATAGRAMS_MAX 100000000     /* per UDP flow: frames x datagrams per frame */
#define LIBSIM_TRACE_ROWS_MIN 1           /* rows (or opportunities) of one link's trace */
#define LIBSIM_TRACE_ROWS_MAX 10000000
#define LIBSIM_TRACE_BITRATE_MIN 0.0      /* bit/s: a trace row may carry nothing (an outage) */
#define LIBSIM_TRACE_BITRATE_MAX 1e15
#define LIBSIM_TRACE_TIME_MIN 0.0         /* s: a trace's times, its duration and start */
#define LIBSIM_TRACE_TIME_MAX 1000000.0
#define LIBSIM_TRACE_MS_MIN 0             /* ms: a Mahimahi opportunity's time */
#define LIBSIM_TRACE_MS_MAX 1000000000
#define LIBSIM_OPPORTUNITY_BYTES 1500     /* IP bytes one Mahimahi opportunity carries */
#define LIBSIM_CANDIDATES_MIN 1        /* deployments a flow policy chooses among */
#define LIBSIM_CANDIDATES_MAX 10000
#define LIBSIM_EWMA_ALPHA_ABOVE 0.0    /* weight of the newest sample */
#define LIBSIM_EWMA_ALPHA_MAX 1.0
#define LIBSIM_HARMONIC_WINDOW_MIN 1   /* frames */
#define LIBSIM_HARMONIC_WINDOW_MAX 100000
#define LIBSIM_MARGIN_MIN 0.0          /* relative predicted gain a switch needs */
#define LIBSIM_MARGIN_BELOW 1.0
#define LIBSIM_HOLD_FRAMES_MIN 1       /* decisions in a row preferring the same deployment */
#define LIBSIM_HOLD_FRAMES_MAX 1000000
#define LIBSIM_FIXED_TIME_MIN 0.0      /* s: a candidate's compute time outside the network */
#define LIBSIM_FIXED_TIME_MAX 1000000.0
#define LIBSIM_EVENTS_MAX 1000000000  /* process activations in one run (LIBSIM_ERR_RUNTIME) */
#define LIBSIM_HORIZON_S 1000000.0    /* s of simulated time in one run (LIBSIM_ERR_RUNTIME) */

#define LIBSIM_FULL_DUPLEX 0
#define LIBSIM_HALF_DUPLEX 1
#define LIBSIM_WIRELESS 2

#define LIBSIM_TCP 0
#define LIBSIM_UDP 1

/* libsim_policy_config.estimator: the throughput the sender predicts with. */
#define LIBSIM_ESTIMATOR_EWMA 0     /* exponentially weighted mean of the samples (alpha) */
#define LIBSIM_ESTIMATOR_HARMONIC 1 /* harmonic mean of the last `window` samples */
#define LIBSIM_ESTIMATOR_PERFECT 2  /* the path's bottleneck rate now (a test/upper-bound aid) */

/* libsim_tcp_config.recovery_exit: cwnd when a full ACK ends fast recovery (the second is
 * RFC 6582 3.2 step 3, option 1). */
#define LIBSIM_RECOVERY_EXIT_SSTHRESH 0   /* cwnd = ssthresh (Linux, ns-3) */
#define LIBSIM_RECOVERY_EXIT_FLIGHTSIZE 1 /* min(ssthresh, max(FlightSize, MSS) + MSS) */
/* libsim_tcp_config.rto_ssthresh: ssthresh after a retransmission timeout that interrupts
 * fast recovery (outside recovery it is always max(FlightSize / 2, 2 MSS)). */
#define LIBSIM_RTO_SSTHRESH_FLIGHTSIZE 0 /* max(FlightSize / 2, 2 MSS): RFC 5681 eq. 4 */
#define LIBSIM_RTO_SSTHRESH_KEEP 1       /* keep the recovery's ssthresh (Linux) */

typedef struct libsim_network libsim_network;
typedef struct libsim_result libsim_result;

typedef struct libsim_tcp_config {
    int32_t initial_window; /* segments (RFC 6928) */
    double min_rto;         /* seconds */
    int32_t delayed_ack;    /* 0 or 1 */
    double ack_delay;       /* seconds; NULL config: 0.04 (Linux's delayed-ACK timeout) */
    int64_t rwnd;           /* receive window, bytes */
    int32_t handshake;      /* 0 or 1: the first frame pays SYN / SYN-ACK */
    int32_t idle_restart;   /* 0 or 1: RFC 5681 4.1 restart window after an idle RTO */
    int32_t recovery_exit;  /* LIBSIM_RECOVERY_EXIT_SSTHRESH | _FLIGHTSIZE */
    int32_t rto_ssthresh;   /* LIBSIM_RTO_SSTHRESH_FLIGHTSIZE | _KEEP */
} libsim_tcp_config;

typedef struct libsim_link_config {
    int32_t kind;           /* LIBSIM_FULL_DUPLEX | LIBSIM_HALF_DUPLEX | LIBSIM_WIRELESS */
    double bitrate_bps;
    double delay_s;         /* propagation delay */
    double loss;            /* per-packet loss probability */
    int32_t overhead_bytes; /* link-layer framing per IP packet */
    int32_t queue_packets;  /* drop-tail queue of each attached interface */
    int32_t has_burst;      /* 1: Gilbert-Elliott loss below replaces `loss` (which must be 0);
                               p_bad_to_good > 0 unless p_good_to_bad = 0 */
    double p_good_to_bad;
    double p_bad_to_good;
    double loss_bad;
    double loss_good;
} libsim_link_config;

typedef struct libsim_flow_config {
    int32_t src;           /* node index */
    int32_t dst;           /* node index */
    int64_t frames;
    double fps;            /* 0 = back to back */
    int64_t payload_bytes; /* every frame's size; 0 with libsim_add_flow_sizes */
} libsim_flow_config;

/* A flow policy (libsim_set_flow_policy): before writing each frame the sender predicts
 * each candidate's latency as fixed_s + base_delay_s + bits / estimate and picks the
 * smallest; it switches away from the deployment in use only when the best one is predicted
 * at least `margin` (relative) faster for `hold_frames` decisions in a row. */
typedef struct libsim_policy_config {
    int32_t estimator;    /* LIBSIM_ESTIMATOR_* */
    double alpha;         /* EWMA: weight of the newest sample */
    int32_t window;       /* harmonic: the last `window` samples */
    double margin;        /* hysteresis: relative predicted gain a switch needs */
    int32_t hold_frames;  /* hysteresis: decisions in a row that must prefer it */
    double prior_bps;     /* EWMA / harmonic estimate before the first delivery, bit/s */
    double base_delay_s;  /* the path's propagation delay the device knows */
} libsim_policy_config;

typedef struct libsim_candidate {
    int64_t payload_bytes;         /* every frame's size; 0 with payload_sizes */
    const int64_t *payload_sizes;  /* NULL, or one size per frame of the flow */
    double fixed_s;                /* compute time outside the network (device + server) */
} libsim_candidate;

typedef struct libsim_run_stats {
    uint64_t events;       /* simulation process activations */
    uint64_t link_packets; /* IP packets put on any link, retries included */
    double end_s;          /* simulated time of the last event */
    int32_t flows;
} libsim_run_stats;

typedef struct libsim_flow_stats {
    int64_t frames;
    int64_t packets_sent;    /* data-direction packets the source emitted, retransmissions included */
    int64_t packets_lost;    /* data-direction packets lost on a link, in a queue or by the MAC */
    int64_t retransmissions; /* TCP segments (and SYNs) sent again */
    int64_t collisions;      /* wireless transmissions of this flow's packets that collided */
    int64_t lost_ranges;     /* total number of lost byte ranges over all frames */
} libsim_flow_stats;

/* IP bytes and packets of every kind (data, SYN, ACK) each end of a flow originated (tx)
 * and received (rx), retransmissions included. */
typedef struct libsim_flow_io {
    int64_t src_tx_bytes;
    int64_t src_tx_packets;
    int64_t src_rx_bytes;
    int64_t src_rx_packets;
    int64_t dst_tx_bytes;
    int64_t dst_tx_packets;
    int64_t dst_rx_bytes;
    int64_t dst_rx_packets;
} libsim_flow_io;

typedef struct libsim_frame_record {
    double sent_s;
    double delivered_s;     /* meaningful only when delivered != 0 */
    double latency_s;       /* delivered_s - sent_s, from exact integer times */
    int32_t delivered;      /* 0: UDP: no datagram arrived; TCP: not all bytes in order */
    int32_t complete;
    int64_t lost_bytes;
    int64_t lost_range_count;
} libsim_frame_record;

typedef struct libsim_byte_range {
    int64_t start; /* inclusive, byte offset in the frame payload */
    int64_t end;   /* exclusive */
} libsim_byte_range;

const char *libsim_version(void);

/* Build a network. `tcp` may be NULL for the defaults: initial_window 10, min_rto 0.2 s,
 * delayed_ack 1, ack_delay 0.04 s, rwnd 4194304 bytes, handshake 1, idle_restart 1,
 * recovery_exit SSTHRESH, rto_ssthresh FLIGHTSIZE (the scenario format's defaults too). */
int libsim_network_new(int32_t protocol, int32_t mtu, uint64_t seed, const libsim_tcp_config *tcp,
                       libsim_network **out, char *err, size_t err_size);
void libsim_network_free(libsim_network *net);
int libsim_add_node(libsim_network *net, int32_t *index_out, char *err, size_t err_size);
int libsim_add_link(libsim_network *net, const libsim_link_config *link, const int32_t *nodes,
                    size_t node_count, char *err, size_t err_size);
int libsim_add_flow(libsim_network *net, const libsim_flow_config *flow, char *err,
                    size_t err_size);

/* Traces: a link added by libsim_add_link may follow one trace instead of its bitrate_bps
 * (which is then ignored). Both directions of a full-duplex link follow it, each on its own;
 * a half-duplex link's one wire and a wireless medium follow it too. Trace time
 * start_s + t is in force at simulated time t.
 *
 * A rate trace: row i holds from times_s[i] (times_s[0] = 0, strictly increasing) until the
 * next row; a transmission that spans a change sends its remaining bits at the new rate.
 * loss (nullable) replaces the link's loss (which must then be 0, without burst) and
 * delay_s (nullable) its delay (which must then be 0): a packet gets the values of the row in
 * force when its last bit leaves, and never arrives before the packet ahead of it. With
 * loop = 1 the trace repeats every duration_s (> the last time); with loop = 0 the last row
 * holds forever (its rate must then be > 0; looping, one row at least must be > 0). On a
 * wireless link bitrate_bps is the 802.11 data rate of each exchange (every row > 0), taken,
 * with loss and delay, when the exchange starts. Equal consecutive rows are merged: a
 * constant trace runs exactly as the fixed bitrate_bps would. */
int libsim_set_link_rate_trace(libsim_network *net, int32_t link, const double *times_s,
                               const double *bitrate_bps, const double *loss,
                               const double *delay_s, size_t rows, double duration_s,
                               int32_t loop, double start_s, char *err, size_t err_size);
/* Mahimahi delivery opportunities (point-to-point links only): times_ms non-decreasing, the
 * last one > 0. Packets leave only at opportunities; each carries up to
 * LIBSIM_OPPORTUNITY_BYTES of IP packets (overhead_bytes does not count). A packet larger
 * than what is left of one continues at the next ones and leaves at the one carrying its last
 * byte; the rest of that one serves the packets already queued then (Mahimahi's rule). With
 * loop = 1 the trace repeats every times_ms[count - 1] ms (as mm-link does); with loop = 0
 * opportunities continue after the last one evenly spaced at the trace's mean rate
 * (count per times_ms[count - 1] ms). */
int libsim_set_link_opportunities(libsim_network *net, int32_t link, const int64_t *times_ms,
                                  size_t count, int32_t loop, double start_s, char *err,
                                  size_t err_size);
/* A flow whose frames differ in size: frame i carries payload_sizes[i] bytes. flow->frames
 * must equal `count` and flow->payload_bytes must be 0; every size is checked against
 * LIBSIM_PAYLOAD_BYTES_MIN/_MAX and, with UDP, the frames' datagrams together against
 * LIBSIM_UDP_DATAGRAMS_MAX. With all sizes equal the run is libsim_add_flow's, bit for bit. */
int libsim_add_flow_sizes(libsim_network *net, const libsim_flow_config *flow,
                          const int64_t *payload_sizes, size_t count, char *err,
                          size_t err_size);

/* A closed-loop choice among `count` candidate deployments for `flow` (see
 * libsim_policy_config): frame i carries the chosen candidate's size for frame i (the flow's
 * own payload_bytes / sizes are then not used). The sender decides when it writes the frame,
 * from the deliveries it has seen by then: a frame counts as seen when its last byte
 * arrives (the answer's way back is not modelled). Each delivered frame gives one sample,
 * bits / (delivered - max(sent, previous delivery seen)), less base_delay_s when the path
 * was idle at sent. The perfect estimator reads the smallest rate in force now on the
 * flow's links (a fixed bitrate, a rate trace's row, 1500 * 8 bits times a Mahimahi trace's
 * opportunities in the next second). A frame never written (a connection that gave up)
 * counts under the deployment in use at the end. */
int libsim_set_flow_policy(libsim_network *net, int32_t flow, const libsim_policy_config *policy,
                           const libsim_candidate *candidates, size_t count, char *err,
                           size_t err_size);

/* Run a fresh simulation of `net` (which is left unchanged and may be run again). */
int libsim_run(const libsim_network *net, libsim_result **out, char *err, size_t err_size);
void libsim_result_free(libsim_result *result);

/* Ask the run in progress (in any thread) to stop: it returns LIBSIM_ERR_INTERRUPTED with the
 * message "interrupted". Safe to call from any thread, at any time; a later run is not
 * affected. */
void libsim_interrupt(void);

int libsim_result_stats(const libsim_result *result, libsim_run_stats *out, char *err,
                        size_t err_size);
int libsim_result_flow(const libsim_result *result, int32_t flow, libsim_flow_stats *out,
                       char *err, size_t err_size);
int libsim_result_flow_io(const libsim_result *result, int32_t flow, libsim_flow_io *out,
                          char *err, size_t err_size);
/* Copies min(capacity, frames) records of `flow`. */
int libsim_result_frames(const libsim_result *result, int32_t flow, libsim_frame_record *out,
                         size_t capacity, char *err, size_t err_size);
/* Copies min(capacity, frames) candidate indices, the one each frame of `flow` used (a flow
 * with a policy only). */
int libsim_result_choices(const libsim_result *result, int32_t flow, int32_t *out,
                          size_t capacity, char *err, size_t err_size);
/* Copies the lost ranges of all frames of `flow`, frame after frame (see lost_range_count). */
int libsim_result_lost_ranges(const libsim_result *result, int32_t flow, libsim_byte_range *out,
                              size_t capacity, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* LIBSIM_H */
