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

#define LIBSIM_OK 0
#define LIBSIM_ERR_ARGUMENT 1 /* invalid argument or network description */
#define LIBSIM_ERR_RUNTIME 2  /* the simulation could not complete */
#define LIBSIM_ERR_MEMORY 3   /* out of memory */
#define LIBSIM_ERR_INTERNAL 4 /* unexpected failure inside the engine */

#define LIBSIM_FULL_DUPLEX 0
#define LIBSIM_HALF_DUPLEX 1
#define LIBSIM_WIRELESS 2

#define LIBSIM_TCP 0
#define LIBSIM_UDP 1

typedef struct libsim_network libsim_network;
typedef struct libsim_result libsim_result;

typedef struct libsim_tcp_config {
    int32_t initial_window; /* segments (RFC 6928), >= 1 */
    double min_rto;         /* seconds, >= 0 */
    int32_t delayed_ack;    /* 0 or 1 */
    double ack_delay;       /* seconds, > 0 */
    int64_t rwnd;           /* receive window, bytes, >= 1 */
    int32_t handshake;      /* 0 or 1: the first frame pays SYN / SYN-ACK */
    int32_t idle_restart;   /* 0 or 1: RFC 5681 4.1 restart window after an idle RTO */
} libsim_tcp_config;

typedef struct libsim_link_config {
    int32_t kind;           /* LIBSIM_FULL_DUPLEX | LIBSIM_HALF_DUPLEX | LIBSIM_WIRELESS */
    double bitrate_bps;     /* > 0 */
    double delay_s;         /* propagation delay, >= 0 */
    double loss;            /* per-packet loss probability, 0 <= loss < 1 */
    int32_t overhead_bytes; /* link-layer framing per IP packet, >= 0 */
    int32_t queue_packets;  /* drop-tail queue of each attached interface, >= 1 */
    int32_t has_burst;      /* 1: Gilbert-Elliott loss below replaces `loss` */
    double p_good_to_bad;
    double p_bad_to_good;
    double loss_bad;
    double loss_good;
} libsim_link_config;

typedef struct libsim_flow_config {
    int32_t src;           /* node index */
    int32_t dst;           /* node index */
    int64_t frames;        /* >= 0 */
    double fps;            /* >= 0; 0 = back to back */
    int64_t payload_bytes; /* >= 1 */
} libsim_flow_config;

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

/* Build a network. `tcp` may be NULL for the defaults. */
int libsim_network_new(int32_t protocol, int32_t mtu, uint64_t seed, const libsim_tcp_config *tcp,
                       libsim_network **out, char *err, size_t err_size);
void libsim_network_free(libsim_network *net);
int libsim_add_node(libsim_network *net, int32_t *index_out, char *err, size_t err_size);
int libsim_add_link(libsim_network *net, const libsim_link_config *link, const int32_t *nodes,
                    size_t node_count, char *err, size_t err_size);
int libsim_add_flow(libsim_network *net, const libsim_flow_config *flow, char *err,
                    size_t err_size);

/* Run a fresh simulation of `net` (which is left unchanged and may be run again). */
int libsim_run(const libsim_network *net, libsim_result **out, char *err, size_t err_size);
void libsim_result_free(libsim_result *result);

/* Ask the run in progress (in any thread) to stop: it returns LIBSIM_ERR_RUNTIME with the
 * message "interrupted". Safe to call from any thread, at any time; a later run is not
 * affected. */
void libsim_interrupt(void);

int libsim_result_stats(const libsim_result *result, libsim_run_stats *out, char *err,
                        size_t err_size);
int libsim_result_flow(const libsim_result *result, int32_t flow, libsim_flow_stats *out,
                       char *err, size_t err_size);
/* Copies min(capacity, frames) records of `flow`. */
int libsim_result_frames(const libsim_result *result, int32_t flow, libsim_frame_record *out,
                         size_t capacity, char *err, size_t err_size);
/* Copies the lost ranges of all frames of `flow`, frame after frame (see lost_range_count). */
int libsim_result_lost_ranges(const libsim_result *result, int32_t flow, libsim_byte_range *out,
                              size_t capacity, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* LIBSIM_H */
