/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * capture_decode() on frames built in memory: every link type and encapsulation it walks,
 * and the malformed cases, each asserting every field of struct packet or the reason.
 * Frames are copied into buffers of their exact length so that ASan builds catch any read
 * past the end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <pcap/dlt.h>

#include "../../capture/capture.h"
#include "unit.h"

#define TS 1700000000123456ULL

/* A frame under construction. */
struct frame {
    uint8_t bytes[4096];
    size_t len;
};

static void put_u8(struct frame *f, uint8_t v)
{
    f->bytes[f->len++] = v;
}

static void put_be16(struct frame *f, uint16_t v)
{
    put_u8(f, (uint8_t)(v >> 8));
    put_u8(f, (uint8_t)v);
}

static void put_be32(struct frame *f, uint32_t v)
{
    put_be16(f, (uint16_t)(v >> 16));
    put_be16(f, (uint16_t)v);
}

static void set_be16(struct frame *f, size_t offset, uint16_t v)
{
    f->bytes[offset] = (uint8_t)(v >> 8);
    f->bytes[offset + 1] = (uint8_t)v;
}

static void put_le32(struct frame *f, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        put_u8(f, (uint8_t)(v >> (8 * i)));
}

static void put_bytes(struct frame *f, const uint8_t *data, size_t n)
{
    memcpy(f->bytes + f->len, data, n);
    f->len += n;
}

static void put_fill(struct frame *f, uint8_t value, size_t n)
{
    memset(f->bytes + f->len, value, n);
    f->len += n;
}

static const uint8_t V4_SRC[4] = { 10, 1, 2, 3 };
static const uint8_t V4_DST[4] = { 192, 0, 2, 10 };
static const uint8_t V6_SRC[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t V6_DST[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static void put_ethernet(struct frame *f, uint16_t ethertype)
{
    static const uint8_t macs[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    put_bytes(f, macs, sizeof(macs));
    put_be16(f, ethertype);
}

static void put_vlan(struct frame *f, uint16_t tci, uint16_t ethertype)
{
    put_be16(f, tci);
    put_be16(f, ethertype);
}

static void put_mpls(struct frame *f, uint32_t label, bool bottom)
{
    put_be32(f, label << 12 | (bottom ? 0x100u : 0) | 64 /* TTL */);
}

/* IPv4 header without options. transport_len is what total length claims after it. */
static void put_ipv4_header(struct frame *f, uint8_t proto, uint16_t transport_len,
                            uint16_t fragment)
{
    put_u8(f, 0x45);
    put_u8(f, 0);
    put_be16(f, (uint16_t)(20 + transport_len));
    put_be16(f, 0x1234);         /* id */
    put_be16(f, fragment);       /* flags and offset */
    put_u8(f, 64);
    put_u8(f, proto);
    put_be16(f, 0);              /* checksum: not checked */
    put_bytes(f, V4_SRC, 4);
    put_bytes(f, V4_DST, 4);
}

static void put_ipv6_header(struct frame *f, uint8_t next, uint16_t payload_len)
{
    put_be32(f, 0x60000000);
    put_be16(f, payload_len);
    put_u8(f, next);
    put_u8(f, 64);
    put_bytes(f, V6_SRC, 16);
    put_bytes(f, V6_DST, 16);
}

static void put_tcp_header(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags,
                           uint8_t data_offset_words)
{
    put_be16(f, sport);
    put_be16(f, dport);
    put_be32(f, 1000);           /* seq */
    put_be32(f, 2000);           /* ack */
    put_u8(f, (uint8_t)(data_offset_words << 4));
    put_u8(f, flags);
    put_be16(f, 65535);          /* window */
    put_be32(f, 0);              /* checksum, urgent pointer */
    for (int i = 5; i < data_offset_words; i++)
        put_be32(f, 0x01010101); /* NOP options */
}

static void put_udp_header(struct frame *f, uint16_t sport, uint16_t dport, uint16_t length)
{
    put_be16(f, sport);
    put_be16(f, dport);
    put_be16(f, length);
    put_be16(f, 0);
}

/* The common inner packets: IPv4 TCP 40000 -> 443 with PSH|ACK and payload bytes 'P'. */
static void put_ipv4_tcp(struct frame *f, uint16_t payload_len)
{
    put_ipv4_header(f, 6, (uint16_t)(20 + payload_len), 0);
    put_tcp_header(f, 40000, 443, 0x18, 5);
    put_fill(f, 'P', payload_len);
}

static void put_ipv4_udp(struct frame *f, uint16_t payload_len)
{
    put_ipv4_header(f, 17, (uint16_t)(8 + payload_len), 0);
    put_udp_header(f, 5353, 53, (uint16_t)(8 + payload_len));
    put_fill(f, 'U', payload_len);
}

static void put_ipv6_tcp(struct frame *f, uint16_t payload_len)
{
    put_ipv6_header(f, 6, (uint16_t)(20 + payload_len));
    put_tcp_header(f, 40000, 443, 0x02, 5);
    put_fill(f, 'P', payload_len);
}

/* Decodes the first caplen bytes of f from an exact-size heap copy, so that ASan sees any
 * read past caplen. The packet's pointers are rebased onto f for the checks. */
static enum decode_reason decode_frame(int linktype, const struct frame *f, size_t caplen,
                                       size_t wire_len, struct packet *out)
{
    uint8_t *copy = malloc(caplen > 0 ? caplen : 1);
    memcpy(copy, f->bytes, caplen);
    enum decode_reason reason = capture_decode(linktype, caplen > 0 ? copy : NULL,
                                               (uint32_t)caplen, (uint32_t)wire_len, TS, out);
    if (out->l3 != NULL)
        out->l3 = f->bytes + (out->l3 - copy);
    if (out->payload != NULL)
        out->payload = f->bytes + (out->payload - copy);
    free(copy);
    return reason;
}

static enum decode_reason decode_whole(int linktype, const struct frame *f, struct packet *out)
{
    return decode_frame(linktype, f, f->len, f->len, out);
}

/* What a decoded packet must hold; offsets are from the start of the frame. */
struct expect {
    uint8_t ip_version;
    uint8_t proto;
    uint16_t vlan;
    uint16_t sport, dport;
    uint8_t tcp_flags;
    bool is_fragment;
    size_t l3_offset;
    uint32_t l3_len;
    size_t payload_offset;
    uint32_t payload_len;
    uint32_t payload_wire_len;
};

static void check_packet_at(int line, const struct packet *p, const struct frame *f,
                            uint32_t caplen, uint32_t wire_len, const struct expect *e)
{
    int failed_before = unit_current_failed;
    unit_current_failed = 0;
    CHECK_EQ_U(p->ts_usec, TS);
    CHECK_EQ_U(p->wire_len, wire_len);
    CHECK_EQ_U(p->caplen, caplen);
    CHECK_EQ_U(p->ip_version, e->ip_version);
    CHECK_EQ_U(p->proto, e->proto);
    CHECK_EQ_U(p->vlan, e->vlan);
    uint8_t src[PACKET_ADDR_LEN] = { 0 }, dst[PACKET_ADDR_LEN] = { 0 };
    if (e->ip_version == 4) {
        memcpy(src, V4_SRC, 4);
        memcpy(dst, V4_DST, 4);
    } else {
        memcpy(src, V6_SRC, 16);
        memcpy(dst, V6_DST, 16);
    }
    CHECK(memcmp(p->src, src, PACKET_ADDR_LEN) == 0);
    CHECK(memcmp(p->dst, dst, PACKET_ADDR_LEN) == 0);
    CHECK_EQ_U(p->sport, e->sport);
    CHECK_EQ_U(p->dport, e->dport);
    CHECK_EQ_U(p->tcp_flags, e->tcp_flags);
    CHECK_EQ_U(p->is_fragment, e->is_fragment);
    CHECK(p->l3 == f->bytes + e->l3_offset);
    CHECK_EQ_U(p->l3_len, e->l3_len);
    CHECK(p->payload == f->bytes + e->payload_offset);
    CHECK_EQ_U(p->payload_len, e->payload_len);
    CHECK_EQ_U(p->payload_wire_len, e->payload_wire_len);
    if (unit_current_failed)
        fprintf(stderr, "  (checked from line %d)\n", line);
    unit_current_failed |= failed_before;
}

#define CHECK_PACKET(p, f, e) \
    check_packet_at(__LINE__, (p), (f), (uint32_t)(f)->len, (uint32_t)(f)->len, (e))

/* Expectations for put_ipv4_tcp / put_ipv4_udp / put_ipv6_tcp placed at offset l3. */
static struct expect expect_ipv4_tcp(size_t l3, uint32_t payload_len)
{
    return (struct expect){ 4, 6, 0, 40000, 443, 0x18, false, l3, 40 + payload_len, l3 + 40,
                            payload_len, payload_len };
}

static struct expect expect_ipv4_udp(size_t l3, uint32_t payload_len)
{
    return (struct expect){ 4, 17, 0, 5353, 53, 0, false, l3, 28 + payload_len, l3 + 28,
                            payload_len, payload_len };
}

static struct expect expect_ipv6_tcp(size_t l3, uint32_t payload_len)
{
    return (struct expect){ 6, 6, 0, 40000, 443, 0x02, false, l3, 60 + payload_len, l3 + 60,
                            payload_len, payload_len };
}

/* ---- Ethernet and its encapsulations ---- */

UNIT_TEST(test_ethernet_ipv4_tcp)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x0800);
    put_ipv4_tcp(&f, 100);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_tcp(14, 100);
    CHECK_PACKET(&p, &f, &e);
    CHECK(p.payload[0] == 'P' && p.payload[99] == 'P');
}

UNIT_TEST(test_ethernet_ipv4_udp)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x0800);
    put_ipv4_udp(&f, 33);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_udp(14, 33);
    CHECK_PACKET(&p, &f, &e);
}

/* Ethernet pads short frames to 60 bytes: the padding is neither IP nor payload. */
UNIT_TEST(test_ethernet_padding_not_payload)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x0800);
    put_ipv4_tcp(&f, 0);
    put_fill(&f, 0xee, 6);
    CHECK_EQ_U(f.len, 60);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_tcp(14, 0);
    CHECK_PACKET(&p, &f, &e);

    /* UDP: bytes past the UDP length are not payload either. */
    f.len = 0;
    put_ethernet(&f, 0x0800);
    put_ipv4_header(&f, 17, 8 + 10, 0);
    put_udp_header(&f, 5353, 53, 8 + 4);
    put_fill(&f, 'U', 10);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    e = (struct expect){ 4, 17, 0, 5353, 53, 0, false, 14, 38, 42, 4, 4 };
    CHECK_PACKET(&p, &f, &e);
}

/* A snap length shorter than the frame: payload_len is what we have, payload_wire_len
 * what the IP length says. */
UNIT_TEST(test_snapped_payload)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x0800);
    put_ipv4_tcp(&f, 1000);
    CHECK_EQ_U(decode_frame(DLT_EN10MB, &f, 96, f.len, &p), DECODE_OK);
    struct expect e = { 4, 6, 0, 40000, 443, 0x18, false, 14, 82, 54, 42, 1000 };
    check_packet_at(__LINE__, &p, &f, 96, (uint32_t)f.len, &e);
}

UNIT_TEST(test_vlan)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x8100);
    put_vlan(&f, 0x2000 | 100, 0x0800); /* priority 1, VLAN 100 */
    put_ipv4_tcp(&f, 10);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_tcp(18, 10);
    e.vlan = 100;
    CHECK_PACKET(&p, &f, &e);
}

/* 802.1ad and the older 0x9100 service tag: the outer (service) VLAN is the one kept. */
UNIT_TEST(test_qinq)
{
    static const uint16_t outer_types[] = { 0x88a8, 0x9100, 0x8100 };
    for (size_t i = 0; i < sizeof(outer_types) / sizeof(outer_types[0]); i++) {
        struct frame f = { .len = 0 };
        struct packet p;
        put_ethernet(&f, outer_types[i]);
        put_vlan(&f, 200, 0x8100);
        put_vlan(&f, 100, 0x86dd);
        put_ipv6_tcp(&f, 5);
        CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
        struct expect e = expect_ipv6_tcp(22, 5);
        e.vlan = 200;
        CHECK_PACKET(&p, &f, &e);
    }
}

UNIT_TEST(test_mpls_in_vlan)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x8100);
    put_vlan(&f, 7, 0x8847);
    put_mpls(&f, 1000, false);
    put_mpls(&f, 2000, true);
    put_ipv4_udp(&f, 12);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_udp(26, 12);
    e.vlan = 7;
    CHECK_PACKET(&p, &f, &e);
}

UNIT_TEST(test_mpls_ipv6_and_pseudowire)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x8848); /* multicast label */
    put_mpls(&f, 16, true);
    put_ipv6_tcp(&f, 3);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv6_tcp(18, 3);
    CHECK_PACKET(&p, &f, &e);

    /* Ethernet pseudowire: control word (first nibble 0), then a whole Ethernet frame. */
    f.len = 0;
    put_ethernet(&f, 0x8847);
    put_mpls(&f, 16, true);
    put_be32(&f, 0);
    put_ethernet(&f, 0x0800);
    put_ipv4_tcp(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    e = expect_ipv4_tcp(36, 0);
    CHECK_PACKET(&p, &f, &e);

    /* Anything else under the label stack is not followed. */
    f.len = 0;
    put_ethernet(&f, 0x8847);
    put_mpls(&f, 16, true);
    put_be32(&f, 0x12345678);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_NOT_IP);
}

UNIT_TEST(test_pppoe)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x8864);
    put_u8(&f, 0x11);
    put_u8(&f, 0x00);
    put_be16(&f, 0x0042);       /* session id */
    put_be16(&f, 2 + 28 + 20);  /* PPP protocol + IPv4 + UDP + payload */
    put_be16(&f, 0x0021);
    put_ipv4_udp(&f, 20);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_udp(22, 20);
    CHECK_PACKET(&p, &f, &e);

    /* IPv6 over PPPoE inside a QinQ, as on a carrier access network. */
    f.len = 0;
    put_ethernet(&f, 0x88a8);
    put_vlan(&f, 300, 0x8100);
    put_vlan(&f, 30, 0x8864);
    put_be32(&f, 0x11000042);
    put_be16(&f, 2 + 60);
    put_be16(&f, 0x0057);
    put_ipv6_tcp(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    e = expect_ipv6_tcp(30, 0);
    e.vlan = 300;
    CHECK_PACKET(&p, &f, &e);

    /* LCP is PPP's own signalling, discovery (0x8863) is PPPoE's: neither is IP. */
    f.len = 0;
    put_ethernet(&f, 0x8864);
    put_be32(&f, 0x11000042);
    put_be16(&f, 6);
    put_be16(&f, 0xc021);
    put_be32(&f, 0x01010004);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_NOT_IP);
    f.len = 0;
    put_ethernet(&f, 0x8863);
    put_be32(&f, 0x11090000);
    put_be16(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_NOT_IP);
}

/* Less common Ethernet encapsulations: 802.3 LLC/SNAP, VN-Tag, 802.1ah, FabricPath. */
UNIT_TEST(test_snap_vntag_pbb_fabricpath)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 8 + 40);         /* 802.3 length */
    put_be32(&f, 0xaaaa0300);
    put_be16(&f, 0x0000);
    put_be16(&f, 0x0800);
    put_ipv4_tcp(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_tcp(22, 0);
    CHECK_PACKET(&p, &f, &e);

    f.len = 0;
    put_ethernet(&f, 0x8926);
    put_be32(&f, 0x80010002);
    put_be16(&f, 0x8100);
    put_vlan(&f, 9, 0x0800);
    put_ipv4_tcp(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    e = expect_ipv4_tcp(24, 0);
    e.vlan = 9;
    CHECK_PACKET(&p, &f, &e);

    f.len = 0;
    put_ethernet(&f, 0x88a8);
    put_vlan(&f, 50, 0x88e7);         /* backbone VLAN, then the I-TAG */
    put_be32(&f, 0x00012345);
    put_ethernet(&f, 0x86dd);
    put_ipv6_tcp(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    e = expect_ipv6_tcp(36, 0);
    e.vlan = 50;
    CHECK_PACKET(&p, &f, &e);

    f.len = 0;
    put_ethernet(&f, 0x8903);         /* FabricPath: outer header, 2-byte tag */
    put_be16(&f, 0x0020);
    put_ethernet(&f, 0x0800);
    put_ipv4_udp(&f, 3);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    e = expect_ipv4_udp(30, 3);
    CHECK_PACKET(&p, &f, &e);
}

/* ---- other link types ---- */

UNIT_TEST(test_linux_sll)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_be16(&f, 0);            /* packet type: to us */
    put_be16(&f, 1);            /* ARPHRD_ETHER */
    put_be16(&f, 6);
    put_fill(&f, 0xaa, 8);
    put_be16(&f, 0x0800);
    put_ipv4_tcp(&f, 7);
    CHECK_EQ_U(decode_whole(DLT_LINUX_SLL, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_tcp(16, 7);
    CHECK_PACKET(&p, &f, &e);

    /* A tagged frame seen through a cooked capture. */
    f.len = 14;
    put_be16(&f, 0x8100);
    put_vlan(&f, 12, 0x0800);
    put_ipv4_tcp(&f, 7);
    CHECK_EQ_U(decode_whole(DLT_LINUX_SLL, &f, &p), DECODE_OK);
    e = expect_ipv4_tcp(20, 7);
    e.vlan = 12;
    CHECK_PACKET(&p, &f, &e);
}

UNIT_TEST(test_linux_sll2)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_be16(&f, 0x86dd);       /* protocol */
    put_be16(&f, 0);            /* reserved */
    put_be32(&f, 2);            /* ifindex */
    put_be16(&f, 1);            /* ARPHRD_ETHER */
    put_u8(&f, 4);              /* outgoing */
    put_u8(&f, 6);
    put_fill(&f, 0xbb, 8);
    put_ipv6_tcp(&f, 9);
    CHECK_EQ_U(decode_whole(DLT_LINUX_SLL2, &f, &p), DECODE_OK);
    struct expect e = expect_ipv6_tcp(20, 9);
    CHECK_PACKET(&p, &f, &e);
}

/* Raw IP under every value libpcap may report for it. */
UNIT_TEST(test_raw_ip)
{
    static const int raw_types[] = { DLT_RAW, 12, 14, 101 };
    for (size_t i = 0; i < sizeof(raw_types) / sizeof(raw_types[0]); i++) {
        struct frame f = { .len = 0 };
        struct packet p;
        put_ipv4_tcp(&f, 4);
        CHECK_EQ_U(decode_whole(raw_types[i], &f, &p), DECODE_OK);
        struct expect e = expect_ipv4_tcp(0, 4);
        CHECK_PACKET(&p, &f, &e);

        f.len = 0;
        put_ipv6_tcp(&f, 4);
        CHECK_EQ_U(decode_whole(raw_types[i], &f, &p), DECODE_OK);
        e = expect_ipv6_tcp(0, 4);
        CHECK_PACKET(&p, &f, &e);
    }

    struct frame f = { .len = 0 };
    struct packet p;
    put_ipv4_tcp(&f, 4);
    CHECK_EQ_U(decode_whole(DLT_IPV4, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_tcp(0, 4);
    CHECK_PACKET(&p, &f, &e);
    /* DLT_IPV4 promises IPv4: an IPv6 packet there is a bad header, not a guess. */
    CHECK_EQ_U(decode_whole(DLT_IPV6, &f, &p), DECODE_BAD_IP_HEADER);

    f.len = 0;
    put_ipv6_tcp(&f, 4);
    CHECK_EQ_U(decode_whole(DLT_IPV6, &f, &p), DECODE_OK);
    e = expect_ipv6_tcp(0, 4);
    CHECK_PACKET(&p, &f, &e);
    CHECK_EQ_U(decode_whole(DLT_IPV4, &f, &p), DECODE_BAD_IP_HEADER);
}

/* BSD loopback: AF_INET 2, AF_INET6 24/28/30, in either byte order, under NULL and LOOP. */
UNIT_TEST(test_bsd_loopback)
{
    static const uint32_t families[] = { 2, 24, 28, 30 };
    static const int linktypes[] = { DLT_NULL, DLT_LOOP };
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
            for (int big_endian = 0; big_endian <= 1; big_endian++) {
                struct frame f = { .len = 0 };
                struct packet p;
                if (big_endian)
                    put_be32(&f, families[i]);
                else
                    put_le32(&f, families[i]);
                struct expect e;
                if (families[i] == 2) {
                    put_ipv4_tcp(&f, 1);
                    e = expect_ipv4_tcp(4, 1);
                } else {
                    put_ipv6_tcp(&f, 1);
                    e = expect_ipv6_tcp(4, 1);
                }
                CHECK_EQ_U(decode_whole(linktypes[l], &f, &p), DECODE_OK);
                CHECK_PACKET(&p, &f, &e);
            }
        }
    }
    struct frame f = { .len = 0 };
    struct packet p;
    put_le32(&f, 7); /* AF_OSI: not IP */
    put_ipv4_tcp(&f, 1);
    CHECK_EQ_U(decode_whole(DLT_NULL, &f, &p), DECODE_NOT_IP);
}

UNIT_TEST(test_ppp_and_chdlc)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_u8(&f, 0xff);
    put_u8(&f, 0x03);
    put_be16(&f, 0x0021);
    put_ipv4_udp(&f, 2);
    CHECK_EQ_U(decode_whole(DLT_PPP, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_udp(4, 2);
    CHECK_PACKET(&p, &f, &e);
    CHECK_EQ_U(decode_whole(DLT_PPP_SERIAL, &f, &p), DECODE_OK);

    /* Without address/control bytes, and with a compressed protocol field. */
    f.len = 0;
    put_u8(&f, 0x57);
    put_ipv6_tcp(&f, 2);
    CHECK_EQ_U(decode_whole(DLT_PPP, &f, &p), DECODE_OK);
    e = expect_ipv6_tcp(1, 2);
    CHECK_PACKET(&p, &f, &e);

    f.len = 0;
    put_u8(&f, 0x0f);
    put_u8(&f, 0x00);
    put_be16(&f, 0x0800);
    put_ipv4_tcp(&f, 2);
    CHECK_EQ_U(decode_whole(DLT_C_HDLC, &f, &p), DECODE_OK);
    e = expect_ipv4_tcp(4, 2);
    CHECK_PACKET(&p, &f, &e);
    /* Cisco HDLC frames written under DLT_PPP by routers. */
    CHECK_EQ_U(decode_whole(DLT_PPP, &f, &p), DECODE_OK);
    CHECK_PACKET(&p, &f, &e);
}

/* ---- IP details ---- */

UNIT_TEST(test_ipv4_options_and_icmp)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x0800);
    put_u8(&f, 0x46);           /* IHL 6: one word of options */
    put_u8(&f, 0);
    put_be16(&f, 24 + 8 + 32);
    put_be32(&f, 0);
    put_u8(&f, 64);
    put_u8(&f, 1);              /* ICMP */
    put_be16(&f, 0);
    put_bytes(&f, V4_SRC, 4);
    put_bytes(&f, V4_DST, 4);
    put_be32(&f, 0x01010100);   /* NOP NOP NOP EOL */
    put_be32(&f, 0x08000000);   /* echo request */
    put_be32(&f, 0x00010001);   /* id, sequence */
    put_fill(&f, 'I', 32);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = { 4, 1, 0, 0, 0, 0, false, 14, 64, 46, 32, 32 };
    CHECK_PACKET(&p, &f, &e);
}

UNIT_TEST(test_icmpv6)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ipv6_header(&f, 58, 8 + 16);
    put_be32(&f, 0x80000000);   /* echo request */
    put_be32(&f, 0x00010001);
    put_fill(&f, 'I', 16);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_OK);
    struct expect e = { 6, 58, 0, 0, 0, 0, false, 0, 64, 48, 16, 16 };
    CHECK_PACKET(&p, &f, &e);
}

/* Protocols without ports: the whole IP payload is payload. */
UNIT_TEST(test_other_protocol)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ipv4_header(&f, 47, 24, 0); /* GRE */
    put_fill(&f, 'G', 24);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_OK);
    struct expect e = { 4, 47, 0, 0, 0, 0, false, 0, 44, 20, 24, 24 };
    CHECK_PACKET(&p, &f, &e);
}

UNIT_TEST(test_ipv4_fragments)
{
    struct frame f = { .len = 0 };
    struct packet p;
    /* First fragment: UDP length covers the whole datagram (1000), this fragment 8+32. */
    put_ethernet(&f, 0x0800);
    put_ipv4_header(&f, 17, 8 + 32, 0x2000);
    put_udp_header(&f, 5353, 53, 1000);
    put_fill(&f, 'F', 32);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = { 4, 17, 0, 5353, 53, 0, true, 14, 60, 42, 32, 32 };
    CHECK_PACKET(&p, &f, &e);

    /* Later fragment: no transport header to read. */
    f.len = 0;
    put_ethernet(&f, 0x0800);
    put_ipv4_header(&f, 17, 32, 5);   /* offset 5 * 8 bytes, last fragment */
    put_fill(&f, 'F', 32);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_FRAGMENT);
    f.len = 0;
    put_ethernet(&f, 0x0800);
    put_ipv4_header(&f, 6, 32, 0x2000 | 5);
    put_fill(&f, 'F', 32);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_FRAGMENT);

    /* DF set is not a fragment. */
    f.len = 0;
    put_ethernet(&f, 0x0800);
    put_ipv4_header(&f, 6, 20, 0x4000);
    put_tcp_header(&f, 40000, 443, 0x18, 5);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    CHECK(!p.is_fragment);
}

/* Hop-by-hop, then a first fragment header, then UDP. */
UNIT_TEST(test_ipv6_extension_headers)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x86dd);
    put_ipv6_header(&f, 0, 8 + 8 + 8 + 24);
    put_u8(&f, 44);              /* hop-by-hop: next is fragment */
    put_u8(&f, 0);               /* 8 bytes */
    put_fill(&f, 0, 6);          /* PadN-free padding: Pad1 * 6 */
    put_u8(&f, 17);              /* fragment: next is UDP */
    put_u8(&f, 0);
    put_be16(&f, 0x0001);        /* offset 0, more fragments */
    put_be32(&f, 0xabcd);        /* identification */
    put_udp_header(&f, 5353, 53, 3000);
    put_fill(&f, 'F', 24);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_OK);
    struct expect e = { 6, 17, 0, 5353, 53, 0, true, 14, 88, 78, 24, 24 };
    CHECK_PACKET(&p, &f, &e);

    /* Routing + destination options + AH before TCP. */
    f.len = 0;
    put_ipv6_header(&f, 43, 24 + 8 + 16 + 20);
    put_u8(&f, 60);              /* routing, 24 bytes */
    put_u8(&f, 2);
    put_fill(&f, 0, 22);
    put_u8(&f, 51);              /* destination options, 8 bytes */
    put_u8(&f, 0);
    put_fill(&f, 0, 6);
    put_u8(&f, 6);               /* AH: (2 + 2) * 4 = 16 bytes */
    put_u8(&f, 2);
    put_fill(&f, 0, 14);
    put_tcp_header(&f, 40000, 443, 0x02, 5);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_OK);
    e = (struct expect){ 6, 6, 0, 40000, 443, 0x02, false, 0, 108, 108, 0, 0 };
    CHECK_PACKET(&p, &f, &e);

    /* An atomic fragment (offset 0, M clear; RFC 6946) is a whole packet. */
    f.len = 0;
    put_ipv6_header(&f, 44, 8 + 20);
    put_u8(&f, 6);
    put_u8(&f, 0);
    put_be16(&f, 0);
    put_be32(&f, 1);
    put_tcp_header(&f, 40000, 443, 0x02, 5);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_OK);
    CHECK(!p.is_fragment);
    CHECK_EQ_U(p.proto, 6);
    CHECK_EQ_U(p.dport, 443);

    /* A later fragment. */
    f.len = 0;
    put_ipv6_header(&f, 44, 8 + 16);
    put_u8(&f, 17);
    put_u8(&f, 0);
    put_be16(&f, 185 << 3);
    put_be32(&f, 1);
    put_fill(&f, 'F', 16);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_FRAGMENT);

    /* ESP ends the chain: the rest is opaque payload. */
    f.len = 0;
    put_ipv6_header(&f, 50, 40);
    put_fill(&f, 'E', 40);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_OK);
    e = (struct expect){ 6, 50, 0, 0, 0, 0, false, 0, 80, 40, 40, 40 };
    CHECK_PACKET(&p, &f, &e);
}

/* ---- malformed frames ---- */

/* Every prefix of a VLAN + IPv4 + TCP frame, as a snap length would cut it: the reason
 * names the layer that was cut, and once the headers are whole the packet decodes. */
UNIT_TEST(test_truncated_at_each_layer)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x8100);
    put_vlan(&f, 5, 0x0800);
    put_ipv4_header(&f, 6, 24 + 16, 0);
    put_tcp_header(&f, 40000, 443, 0x10, 6);
    put_fill(&f, 'P', 16);
    for (size_t caplen = 0; caplen <= f.len; caplen++) {
        enum decode_reason want;
        if (caplen < 18)
            want = DECODE_TRUNCATED_LINK;
        else if (caplen < 18 + 20)
            want = DECODE_TRUNCATED_IP;
        else if (caplen < 18 + 20 + 24)
            want = DECODE_TRUNCATED_TRANSPORT;
        else
            want = DECODE_OK;
        enum decode_reason got = decode_frame(DLT_EN10MB, &f, caplen, f.len, &p);
        if (got != want)
            fprintf(stderr, "  caplen %zu\n", caplen);
        CHECK_EQ_U(got, want);
        if (got == DECODE_OK) {
            CHECK_EQ_U(p.payload_len, caplen - 62);
            CHECK_EQ_U(p.payload_wire_len, 16);
            CHECK_EQ_U(p.l3_len, caplen - 18);
        }
        /* The same cut with a wire length that says nothing was cut: the IP total length
         * now claims bytes that never existed. */
        got = decode_frame(DLT_EN10MB, &f, caplen, caplen, &p);
        if (caplen < 18)
            CHECK_EQ_U(got, DECODE_TRUNCATED_LINK);
        else if (caplen < 18 + 20)
            CHECK_EQ_U(got, DECODE_TRUNCATED_IP);
        else if (caplen < f.len)
            CHECK_EQ_U(got, DECODE_BAD_IP_HEADER);
        else
            CHECK_EQ_U(got, DECODE_OK);
    }
}

UNIT_TEST(test_truncated_links)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_fill(&f, 0, 64);
    CHECK_EQ_U(decode_frame(DLT_EN10MB, &f, 13, 64, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(decode_frame(DLT_LINUX_SLL, &f, 15, 64, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(decode_frame(DLT_LINUX_SLL2, &f, 19, 64, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(decode_frame(DLT_NULL, &f, 3, 64, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(decode_frame(DLT_LOOP, &f, 0, 64, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(decode_frame(DLT_PPP, &f, 0, 64, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(decode_frame(DLT_C_HDLC, &f, 3, 64, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(decode_frame(DLT_RAW, &f, 0, 64, &p), DECODE_TRUNCATED_IP);
    CHECK_EQ_U(decode_frame(DLT_IPV4, &f, 0, 64, &p), DECODE_TRUNCATED_IP);
    CHECK_EQ_U(decode_frame(DLT_IPV6, &f, 0, 64, &p), DECODE_TRUNCATED_IP);
    /* A NULL frame of length zero is just an empty frame. */
    CHECK_EQ_U(capture_decode(DLT_EN10MB, NULL, 0, 0, TS, &p), DECODE_TRUNCATED_LINK);
    CHECK_EQ_U(p.ts_usec, TS);
    CHECK(p.l3 == NULL && p.payload == NULL);

    /* Cut inside an MPLS label stack, a PPPoE header, a PPP protocol field. */
    f.len = 0;
    put_ethernet(&f, 0x8847);
    put_mpls(&f, 1, false);
    put_be16(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_LINK);
    f.len = 0;
    put_ethernet(&f, 0x8864);
    put_be32(&f, 0x11000001);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_LINK);
    put_be16(&f, 2);
    put_u8(&f, 0x00);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_LINK);

    /* Each tag or shim cut one byte short; and an MPLS stack with nothing under it. */
    static const struct { uint16_t ethertype; size_t length; } shims[] = {
        { 0x8100, 4 }, { 0x88a8, 4 }, { 0x9100, 4 }, { 0x8926, 6 }, { 0x88e7, 4 + 14 },
        { 0x8903, 2 + 14 }, { 0x8847, 4 }, { 0x8864, 6 },
    };
    for (size_t i = 0; i < sizeof(shims) / sizeof(shims[0]); i++) {
        f.len = 0;
        put_ethernet(&f, shims[i].ethertype);
        put_fill(&f, 0, shims[i].length - 1);
        if (decode_whole(DLT_EN10MB, &f, &p) != DECODE_TRUNCATED_LINK)
            fprintf(stderr, "  ethertype 0x%04x\n", shims[i].ethertype);
        CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_LINK);
    }
    f.len = 0;
    put_ethernet(&f, 0x8847);
    put_mpls(&f, 3, true);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_LINK);
    put_be16(&f, 0);             /* half a pseudowire control word */
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_LINK);

    /* A PPPoE session header with the wrong version is not followed. */
    f.len = 0;
    put_ethernet(&f, 0x8864);
    put_be32(&f, 0x22000001);
    put_be16(&f, 2 + 40);
    put_be16(&f, 0x0021);
    put_ipv4_tcp(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_NOT_IP);
}

UNIT_TEST(test_bad_ipv4_headers)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x0800);
    put_ipv4_tcp(&f, 8);
    const size_t ip = 14;

    /* Wrong version behind an IPv4 Ethertype. */
    f.bytes[ip] = 0x65;
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_BAD_IP_HEADER);
    /* IHL below 5. */
    f.bytes[ip] = 0x44;
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_BAD_IP_HEADER);
    /* IHL 15 (60 bytes) past the total length of 48. */
    f.bytes[ip] = 0x4f;
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_BAD_IP_HEADER);
    /* IHL 15 past the capture of a snapped frame whose total length is plausible. */
    set_be16(&f, ip + 2, 256);
    CHECK_EQ_U(decode_frame(DLT_EN10MB, &f, 14 + 40, 1000, &p), DECODE_TRUNCATED_IP);
    f.bytes[ip] = 0x45;

    /* Total length below the header length. */
    set_be16(&f, ip + 2, 19);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_BAD_IP_HEADER);
    /* Total length claiming more than the wire carried. */
    set_be16(&f, ip + 2, 1500);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_BAD_IP_HEADER);
    /* ... which a snapped frame of that wire length makes true. */
    CHECK_EQ_U(decode_frame(DLT_EN10MB, &f, f.len, 14 + 1500, &p), DECODE_OK);
    CHECK_EQ_U(p.payload_len, 8);
    CHECK_EQ_U(p.payload_wire_len, 1500 - 40);
    CHECK_EQ_U(p.l3_len, 48);

    /* Raw IP with a version that is neither 4 nor 6. */
    CHECK_EQ_U(decode_frame(DLT_RAW, &f, 20, 20, &p), DECODE_BAD_IP_HEADER);
}

/* Total length zero: TCP segmentation offload. The frame's own length is trusted. */
UNIT_TEST(test_ipv4_zero_length_offload)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ipv4_tcp(&f, 3000);
    f.bytes[2] = 0;
    f.bytes[3] = 0;
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_OK);
    struct expect e = expect_ipv4_tcp(0, 3000);
    CHECK_PACKET(&p, &f, &e);
}

UNIT_TEST(test_bad_transport)
{
    struct frame f = { .len = 0 };
    struct packet p;

    /* TCP data offset past the IP payload. */
    put_ethernet(&f, 0x0800);
    put_ipv4_tcp(&f, 8);
    f.bytes[14 + 20 + 12] = 0xf0;
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_TRANSPORT);
    /* TCP data offset below 5. */
    f.bytes[14 + 20 + 12] = 0x40;
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_TRANSPORT);
    /* IP payload too short for a TCP header (a tiny fragment in spirit). */
    f.len = 0;
    put_ethernet(&f, 0x0800);
    put_ipv4_header(&f, 6, 12, 0x2000);
    put_fill(&f, 0, 12);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_TRANSPORT);

    /* UDP length larger than the IP payload, and smaller than its own header. */
    f.len = 0;
    put_ethernet(&f, 0x0800);
    put_ipv4_header(&f, 17, 8 + 4, 0);
    put_udp_header(&f, 1, 2, 100);
    put_fill(&f, 0, 4);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_TRANSPORT);
    f.bytes[14 + 20 + 4] = 0;
    f.bytes[14 + 20 + 5] = 4;
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TRUNCATED_TRANSPORT);
    /* IP payload shorter than a UDP header. */
    f.len = 0;
    put_ipv4_header(&f, 17, 4, 0);
    put_fill(&f, 0, 4);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_TRUNCATED_TRANSPORT);

    /* A short ICMP message is still a packet, with an empty payload. */
    f.len = 0;
    put_ipv4_header(&f, 1, 4, 0);
    put_be32(&f, 0x08000000);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_OK);
    CHECK_EQ_U(p.payload_len, 0);
    CHECK_EQ_U(p.payload_wire_len, 0);
    CHECK(p.payload == f.bytes + 0 + 24 || p.payload_len == 0);
}

UNIT_TEST(test_bad_ipv6)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ipv6_tcp(&f, 0);
    CHECK_EQ_U(decode_frame(DLT_RAW, &f, 39, 60, &p), DECODE_TRUNCATED_IP);
    /* Payload length beyond the wire. */
    f.bytes[5] = 200;
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_BAD_IP_HEADER);

    /* Hop-by-hop header claiming 16 bytes with 8 left. */
    f.len = 0;
    put_ipv6_header(&f, 0, 8);
    put_u8(&f, 6);
    put_u8(&f, 1);
    put_fill(&f, 0, 6);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_BAD_IPV6_EXTENSION);
    /* Cut after the base header. */
    f.len = 0;
    put_ipv6_header(&f, 60, 0);
    CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p), DECODE_BAD_IPV6_EXTENSION);

    /* Eight destination-options headers pass; nine are too many. */
    for (int count = 8; count <= 9; count++) {
        f.len = 0;
        put_ipv6_header(&f, 60, (uint16_t)(8 * count + 20));
        for (int i = 0; i < count; i++) {
            put_u8(&f, i + 1 < count ? 60 : 6);
            put_u8(&f, 0);
            put_fill(&f, 0, 6);
        }
        put_tcp_header(&f, 40000, 443, 0x02, 5);
        CHECK_EQ_U(decode_whole(DLT_RAW, &f, &p),
                   count == 8 ? DECODE_OK : DECODE_BAD_IPV6_EXTENSION);
    }
}

UNIT_TEST(test_too_many_vlan_tags)
{
    for (int tags = 16; tags <= 17; tags++) {
        struct frame f = { .len = 0 };
        struct packet p;
        put_ethernet(&f, 0x8100);
        for (int i = 0; i < tags; i++)
            put_vlan(&f, (uint16_t)(i + 1), i + 1 < tags ? 0x8100 : 0x0800);
        put_ipv4_tcp(&f, 0);
        CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p),
                   tags == 16 ? DECODE_OK : DECODE_TOO_MANY_LAYERS);
        if (tags == 16)
            CHECK_EQ_U(p.vlan, 1);
    }

    /* A label stack with no bottom-of-stack bit runs into the same limit. */
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x8847);
    for (int i = 0; i < 40; i++)
        put_mpls(&f, (uint32_t)i, false);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_TOO_MANY_LAYERS);
}

UNIT_TEST(test_not_ip)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ethernet(&f, 0x0806); /* ARP request */
    put_be16(&f, 1);
    put_be16(&f, 0x0800);
    put_u8(&f, 6);
    put_u8(&f, 4);
    put_be16(&f, 1);
    put_fill(&f, 0, 20);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_NOT_IP);
    CHECK_EQ_U(p.ip_version, 0);
    CHECK(p.l3 == NULL);

    /* 802.3 length field with LLC (STP). */
    f.len = 0;
    put_ethernet(&f, 38);
    put_be32(&f, 0x42420300);
    put_fill(&f, 0, 34);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_NOT_IP);
    /* Tagged ARP. */
    f.len = 0;
    put_ethernet(&f, 0x8100);
    put_vlan(&f, 10, 0x0806);
    put_fill(&f, 0, 28);
    CHECK_EQ_U(decode_whole(DLT_EN10MB, &f, &p), DECODE_NOT_IP);
    CHECK_EQ_U(p.vlan, 10);
}

UNIT_TEST(test_unsupported_link)
{
    struct frame f = { .len = 0 };
    struct packet p;
    put_ipv4_tcp(&f, 0);
    CHECK_EQ_U(decode_whole(DLT_IEEE802_11, &f, &p), DECODE_UNSUPPORTED_LINK);
    CHECK(!capture_linktype_supported(DLT_IEEE802_11));
    CHECK(!capture_linktype_supported(DLT_NFLOG));
    static const int supported[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 12, 14,
                                     101, DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP, DLT_PPP,
                                     DLT_PPP_SERIAL, DLT_C_HDLC };
    for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++)
        CHECK(capture_linktype_supported(supported[i]));
}

UNIT_TEST(test_reason_names)
{
    CHECK_STR(decode_reason_name(DECODE_OK), "ok");
    CHECK_STR(decode_reason_name(DECODE_NOT_IP), "not_ip");
    CHECK_STR(decode_reason_name(DECODE_FRAGMENT), "fragment");
    CHECK_STR(decode_reason_name(DECODE_TRUNCATED_LINK), "truncated_link");
    CHECK_STR(decode_reason_name(DECODE_TRUNCATED_IP), "truncated_ip");
    CHECK_STR(decode_reason_name(DECODE_BAD_IP_HEADER), "bad_ip_header");
    CHECK_STR(decode_reason_name(DECODE_TRUNCATED_TRANSPORT), "truncated_transport");
    CHECK_STR(decode_reason_name(DECODE_BAD_IPV6_EXTENSION), "bad_ipv6_extension");
    CHECK_STR(decode_reason_name(DECODE_TOO_MANY_LAYERS), "too_many_layers");
    CHECK_STR(decode_reason_name(DECODE_UNSUPPORTED_LINK), "unsupported_link");
    CHECK_STR(decode_reason_name(DECODE_REASON_COUNT), "unknown");
    CHECK_STR(decode_reason_name((enum decode_reason)-1), "unknown");
}

UNIT_MAIN("decode",
          UNIT_CASE(test_ethernet_ipv4_tcp),
          UNIT_CASE(test_ethernet_ipv4_udp),
          UNIT_CASE(test_ethernet_padding_not_payload),
          UNIT_CASE(test_snapped_payload),
          UNIT_CASE(test_vlan),
          UNIT_CASE(test_qinq),
          UNIT_CASE(test_mpls_in_vlan),
          UNIT_CASE(test_mpls_ipv6_and_pseudowire),
          UNIT_CASE(test_pppoe),
          UNIT_CASE(test_snap_vntag_pbb_fabricpath),
          UNIT_CASE(test_linux_sll),
          UNIT_CASE(test_linux_sll2),
          UNIT_CASE(test_raw_ip),
          UNIT_CASE(test_bsd_loopback),
          UNIT_CASE(test_ppp_and_chdlc),
          UNIT_CASE(test_ipv4_options_and_icmp),
          UNIT_CASE(test_icmpv6),
          UNIT_CASE(test_other_protocol),
          UNIT_CASE(test_ipv4_fragments),
          UNIT_CASE(test_ipv6_extension_headers),
          UNIT_CASE(test_truncated_at_each_layer),
          UNIT_CASE(test_truncated_links),
          UNIT_CASE(test_bad_ipv4_headers),
          UNIT_CASE(test_ipv4_zero_length_offload),
          UNIT_CASE(test_bad_transport),
          UNIT_CASE(test_bad_ipv6),
          UNIT_CASE(test_too_many_vlan_tags),
          UNIT_CASE(test_not_ip),
          UNIT_CASE(test_unsupported_link),
          UNIT_CASE(test_reason_names))
