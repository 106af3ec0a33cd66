/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * capture/: reads packets from pcap/pcapng files or a live interface through libpcap and
 * decodes link, network and transport headers into a struct packet. Malformed packets are
 * counted by reason and skipped; nothing a packet contains stops the run.
 */
#ifndef EXFLOW_CAPTURE_H
#define EXFLOW_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PACKET_ADDR_LEN 16

/* One decoded packet. Pointers point into libpcap's buffer and live only during the callback. */
struct packet {
    uint64_t seq;              /* the pipeline's global order (1, 2, ...); 0 when unnumbered */
    uint64_t ts_usec;          /* packet time, microseconds since the Unix epoch */
    uint32_t wire_len;         /* length on the wire (pcap "len") */
    uint32_t caplen;           /* bytes captured */
    uint8_t ip_version;        /* 4 or 6 */
    uint8_t proto;             /* transport protocol number (IPPROTO_*), after IPv6 extension headers */
    uint16_t vlan;             /* outermost 802.1Q VLAN id, 0 when untagged */
    uint8_t src[PACKET_ADDR_LEN]; /* IPv4 uses the first 4 bytes, the rest is zero */
    uint8_t dst[PACKET_ADDR_LEN];
    uint16_t sport, dport;     /* host byte order; 0 for protocols without ports */
    uint8_t tcp_flags;         /* TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10) */
    bool is_fragment;          /* IP fragment: the first one has ports, later ones do not */
    const uint8_t *l3;         /* IP header, for nDPI */
    uint32_t l3_len;           /* min(captured, IP total length) */
    const uint8_t *payload;    /* transport payload actually captured */
    uint32_t payload_len;      /* captured payload bytes */
    uint32_t payload_wire_len; /* payload bytes claimed by the IP length (>= payload_len when snapped) */
};

/* Why a frame was not turned into a packet. Each one is a counter in the stats. */
enum decode_reason {
    DECODE_OK = 0,
    DECODE_NOT_IP,             /* ARP, LLDP, STP...: normal traffic we do not follow */
    DECODE_FRAGMENT,           /* non-first IP fragment: counted, not followed */
    DECODE_TRUNCATED_LINK,     /* frame shorter than its link header */
    DECODE_TRUNCATED_IP,       /* IP header cut by the capture */
    DECODE_BAD_IP_HEADER,      /* wrong version, header length or total length */
    DECODE_TRUNCATED_TRANSPORT,/* TCP/UDP header cut or lying about its length */
    DECODE_BAD_IPV6_EXTENSION, /* IPv6 extension header chain cut or too long */
    DECODE_TOO_MANY_LAYERS,    /* more VLAN/MPLS/tunnel layers than we walk */
    DECODE_UNSUPPORTED_LINK,   /* link type we do not decode */
    DECODE_REASON_COUNT
};

const char *decode_reason_name(enum decode_reason reason);

/* Decodes one frame of the given DLT_* link type. Never reads outside data[0..caplen). */
enum decode_reason capture_decode(int linktype, const uint8_t *data, uint32_t caplen,
                                  uint32_t wire_len, uint64_t ts_usec, struct packet *out);

/* True for the DLT_* values capture_decode understands. */
bool capture_linktype_supported(int linktype);

/* Live, Linux: a handle in an AF_PACKET fanout group. The kernel spreads packets over the
 * group's handles by their address pair: both directions and every port pair between two
 * hosts reach the same handle. */
enum capture_fanout {
    CAPTURE_FANOUT_NONE,
    /* A group of our own, its id picked by the kernel among those no socket on the host
     * uses, so no other program's group is joined by mistake (ids start at 0). */
    CAPTURE_FANOUT_START,
    CAPTURE_FANOUT_JOIN,       /* fanout_group: the id capture_fanout_group() gave */
};

struct capture_config {
    const char *interface;         /* live capture when set */
    const char *const *files;      /* offline: read in order; "-" is stdin */
    int file_count;
    const char *bpf_filter;        /* NULL: everything */
    int snaplen;
    int buffer_size_mb;
    bool promiscuous;
    bool immediate;                /* live: each packet at once (one wakeup per packet) */
    enum capture_fanout fanout;    /* --fanout */
    uint16_t fanout_group;
};

struct capture_stats {
    uint64_t frames;               /* frames read from libpcap */
    uint64_t bytes;                /* wire bytes of those frames */
    uint64_t decoded;              /* frames that became packets */
    uint64_t skipped[DECODE_REASON_COUNT];
    uint64_t read_errors;          /* files that ended in an error (truncated...) */
    uint64_t pcap_received;        /* live only: pcap_stats ps_recv */
    uint64_t pcap_dropped;         /* live only: ps_drop, dropped for lack of buffer */
    uint64_t pcap_if_dropped;      /* live only: ps_ifdrop */
};

struct capture_callbacks {
    void (*packet)(void *user, const struct packet *pkt);
    /* Called at least once a second of wall time while live, and between files, so the
     * caller can print stats and expire flows when no packets arrive. */
    void (*tick)(void *user);
    void *user;
    /* Optional: about once a second of wall time while an offline file is read, for a
     * progress display only (nothing else may depend on it: it does not run on short
     * files, so output must not change with it). */
    void (*progress)(void *user);
};

/* Where an offline replay stands. Sizes of stdin and of files that are not regular are
 * unknown (bytes_total then counts only the others). */
struct capture_progress {
    int files_done;
    int file_count;
    uint64_t bytes_read;           /* of the files, as stored (compressed or not) */
    uint64_t bytes_total;
};

struct capture;

/* Opens the interface or checks the first file. On failure returns NULL and a one-line
 * message in err (no such file, not a pcap, no such interface, bad filter...). */
struct capture *capture_open(const struct capture_config *config, char *err, size_t err_len);

/* Reads until input ends or capture_stop() is called. Returns 0 when every input was read
 * to its end, 1 when some file could not be opened or ended early (message logged,
 * counted in read_errors; the remaining files are still read). */
int capture_run(struct capture *capture, const struct capture_callbacks *callbacks);

/* Asks capture_run to return soon. Async-signal-safe, and callable from another thread
 * (--fanout: the main thread stops the workers' captures). */
void capture_stop(struct capture *capture);

void capture_get_stats(struct capture *capture, struct capture_stats *stats);
/* sum += one, field by field (the counters of several captures, --fanout). */
void capture_stats_add(struct capture_stats *sum, const struct capture_stats *one);

/* The id of the AF_PACKET fanout group the capture started or joined, -1 for none. */
int capture_fanout_group(const struct capture *capture);

/* Offline only; the capture thread's view (call it from the callbacks or after the run). */
void capture_get_progress(const struct capture *capture, struct capture_progress *progress);

/* The DLT of the input being read (for messages and tests). */
int capture_linktype(const struct capture *capture);

void capture_close(struct capture *capture);

#endif
