/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Shared by the flow and detector harnesses: turns fuzz bytes into a sequence of packets of
 * a few fixed connections, as capture/ would hand them to flows/.
 *
 * Input: records of [control][length lo][length hi][length bytes]. The control byte:
 *   bits 0-1  connection (harness-defined ports, see fuzz_connection)
 *   bit  2    direction: 0 client to server, 1 server to client
 *   bit  3    IPv6 instead of IPv4
 *   bit  4    raw: the bytes are a whole IP packet, decoded as they are (lying lengths...)
 *   bits 5-7  what the record is (enum fuzz_kind): TCP flags, a snapped packet, or a jump of
 *             packet time by length * 10 s with no packet (so timeouts and saves run),
 *             backwards when the direction bit is set (files out of order, clock steps)
 * Each packet is built in a buffer of its exact size and decoded by capture_decode(DLT_RAW),
 * so the struct packet is what the real decoder makes and ASan sees any read past its end.
 */
#ifndef EXFLOW_FUZZ_PACKETS_H
#define EXFLOW_FUZZ_PACKETS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/dlt.h>

#include "capture/capture.h"

#define FUZZ_START_USEC 1700000000000000ULL
#define FUZZ_RECORD_MAX 16383

enum fuzz_kind {
    FUZZ_PSH_ACK = 0, FUZZ_SYN, FUZZ_SYN_ACK, FUZZ_ACK, FUZZ_FIN_ACK, FUZZ_RST,
    FUZZ_TIME_JUMP, FUZZ_SNAPPED,
};

struct fuzz_connection {
    uint8_t proto;          /* 6 or 17 */
    uint16_t client_port, server_port;
};

struct fuzz_record {
    unsigned connection;    /* 0..3 */
    int direction;          /* 0 client -> server */
    int ip_version;
    int raw;
    enum fuzz_kind kind;
    const uint8_t *bytes;
    size_t len;
};

struct fuzz_stream {
    const uint8_t *cur, *end;
    uint64_t now_usec;
    uint32_t seq[4][2];     /* TCP sequence numbers per connection and direction */
};

static inline void fuzz_stream_init(struct fuzz_stream *s, const uint8_t *data, size_t size)
{
    memset(s, 0, sizeof(*s));
    s->cur = data;
    s->end = data + size;
    s->now_usec = FUZZ_START_USEC;
    for (int i = 0; i < 4; i++) {
        s->seq[i][0] = 1000u * (uint32_t)(i + 1);
        s->seq[i][1] = 900000u * (uint32_t)(i + 1);
    }
}

/* Next record, false at the end of the input. */
static inline int fuzz_stream_next(struct fuzz_stream *s, struct fuzz_record *r)
{
    if (s->end - s->cur < 3)
        return 0;
    uint8_t control = s->cur[0];
    size_t len = (size_t)(s->cur[1] | s->cur[2] << 8) & FUZZ_RECORD_MAX;
    s->cur += 3;
    if (len > (size_t)(s->end - s->cur))
        len = (size_t)(s->end - s->cur);
    r->connection = control & 3;
    r->direction = (control >> 2) & 1;
    r->ip_version = control & 8 ? 6 : 4;
    r->raw = (control >> 4) & 1;
    r->kind = (enum fuzz_kind)(control >> 5);
    r->bytes = s->cur;
    r->len = len;
    s->cur += len;
    s->now_usec += 1000; /* a millisecond per record */
    return 1;
}

static inline void fuzz_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void fuzz_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static const uint8_t fuzz_client_v4[4] = { 10, 0, 0, 1 };
static const uint8_t fuzz_server_v4[4] = { 81, 2, 69, 160 };   /* in geo/testdata's City DB */
static const uint8_t fuzz_client_v6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t fuzz_server_v6[16] = { 0x20, 0x01, 0x02, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

/*
 * Builds the IP packet for a record into a fresh buffer of its exact size (*frame, caller
 * frees) and returns the captured length; *wire_len is what the wire carried. Returns 0 for
 * records that are not packets (time jumps, out of memory).
 */
/* Applies a FUZZ_TIME_JUMP record to the stream's clock. */
static inline void fuzz_time_jump(struct fuzz_stream *s, const struct fuzz_record *r)
{
    uint64_t step = (uint64_t)r->len * 10 * 1000000;
    if (!r->direction)
        s->now_usec += step;
    else
        s->now_usec = s->now_usec > step ? s->now_usec - step : 0;
}

static inline size_t fuzz_build(struct fuzz_stream *s, const struct fuzz_record *r,
                                const struct fuzz_connection *conn, uint8_t **frame,
                                uint32_t *wire_len)
{
    *frame = NULL;
    if (r->kind == FUZZ_TIME_JUMP)
        return 0;
    if (r->raw) {
        *frame = malloc(r->len ? r->len : 1);
        if (*frame == NULL)
            return 0;
        memcpy(*frame, r->bytes, r->len);
        *wire_len = (uint32_t)r->len;
        return r->len;
    }
    size_t ip_len = r->ip_version == 4 ? 20 : 40;
    size_t l4_len = conn->proto == 6 ? 20 : 8;
    size_t size = ip_len + l4_len + r->len;
    uint32_t extra = r->kind == FUZZ_SNAPPED ? 1000 : 0;  /* payload the capture cut */
    uint8_t *p = calloc(1, size);
    if (p == NULL)
        return 0;
    const uint8_t *src, *dst;
    uint16_t sport = conn->client_port, dport = conn->server_port;
    if (r->ip_version == 4) {
        src = fuzz_client_v4, dst = fuzz_server_v4;
        if (r->direction)
            src = fuzz_server_v4, dst = fuzz_client_v4;
        p[0] = 0x45;
        fuzz_put16(p + 2, (uint16_t)(size + extra));
        p[8] = 64;
        p[9] = conn->proto;
        memcpy(p + 12, src, 4);
        memcpy(p + 16, dst, 4);
    } else {
        src = fuzz_client_v6, dst = fuzz_server_v6;
        if (r->direction)
            src = fuzz_server_v6, dst = fuzz_client_v6;
        p[0] = 0x60;
        fuzz_put16(p + 4, (uint16_t)(l4_len + r->len + extra));
        p[6] = conn->proto;
        p[7] = 64;
        memcpy(p + 8, src, 16);
        memcpy(p + 24, dst, 16);
    }
    if (r->direction) {
        uint16_t t = sport;
        sport = dport, dport = t;
    }
    uint8_t *l4 = p + ip_len;
    fuzz_put16(l4, sport);
    fuzz_put16(l4 + 2, dport);
    if (conn->proto == 6) {
        static const uint8_t flags[8] = { 0x18, 0x02, 0x12, 0x10, 0x11, 0x04, 0, 0x18 };
        uint32_t *seq = &s->seq[r->connection & 3][r->direction];
        uint32_t *ack = &s->seq[r->connection & 3][!r->direction];
        fuzz_put32(l4 + 4, *seq);
        fuzz_put32(l4 + 8, *ack);
        l4[12] = 5 << 4;
        l4[13] = flags[r->kind & 7];
        fuzz_put16(l4 + 14, 65535);
        *seq += (uint32_t)r->len + extra + (l4[13] & 0x03 ? 1 : 0);
    } else {
        fuzz_put16(l4 + 4, (uint16_t)(8 + r->len + extra));
    }
    memcpy(l4 + l4_len, r->bytes, r->len);
    *frame = p;
    *wire_len = (uint32_t)size + extra;
    return size;
}

/* Decodes a built frame; 1 with *pkt filled when it is a packet flows/ would get. */
static inline int fuzz_decode(const struct fuzz_stream *s, const uint8_t *frame, size_t caplen,
                              uint32_t wire_len, struct packet *pkt)
{
    if (frame == NULL || caplen == 0)
        return 0;
    return capture_decode(DLT_RAW, frame, (uint32_t)caplen, wire_len, s->now_usec, pkt) == DECODE_OK;
}

#endif
