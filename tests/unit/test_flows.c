/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * flows/ unit tests: packets built in memory as struct packet, no pcap I/O. Keying, counters,
 * TCP states and timeouts run with nDPI off; the labelling tests build real IPv4 packets.
 * Run from the repository root (the bundled protocols file is read from flows/).
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../flows/flows.h"
#include "unit.h"

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

#define SEC 1000000ULL
#define T0 (1700000000ULL * SEC)
#define PROTOCOLS_FILE "flows/protocols.txt"

/* ---- a recording observer ---- */

struct record {
    uint64_t id;
    enum flow_end_reason reason;
    bool final;
    uint32_t record_seq;
    enum tcp_state tcp_state;
    struct flow_direction_stats dir[2];
    uint64_t start_ts_usec, last_ts_usec;
    uint8_t orig_addr[PACKET_ADDR_LEN];
    uint16_t orig_port, resp_port, vlan;
    struct flow_labels labels;
    bool ndpi_flow_null;
    struct flow_burst burst;
};

#define MAX_RECORDS 256

struct recorder {
    struct record records[MAX_RECORDS];
    int count;
    int packets;
    /* What on_packet saw last. */
    enum flow_direction last_direction;
    uint64_t last_flow_id;
    bool last_ndpi_flow_null;
    struct flow_labels last_labels;
};

static void recorder_on_packet(void *user, struct flow *flow, const struct packet *pkt,
                               enum flow_direction direction)
{
    (void)pkt;
    struct recorder *rec = user;
    rec->packets++;
    rec->last_direction = direction;
    rec->last_flow_id = flow->id;
    rec->last_ndpi_flow_null = flow->ndpi_flow == NULL;
    rec->last_labels = flow->labels;
}

static void recorder_on_record(void *user, struct flow *flow, enum flow_end_reason reason,
                               bool final)
{
    struct recorder *rec = user;
    if (rec->count >= MAX_RECORDS)
        return;
    struct record *r = &rec->records[rec->count++];
    r->id = flow->id;
    r->reason = reason;
    r->final = final;
    r->record_seq = flow->record_seq;
    r->tcp_state = flow->tcp_state;
    memcpy(r->dir, flow->dir, sizeof(r->dir));
    r->start_ts_usec = flow->start_ts_usec;
    r->last_ts_usec = flow->last_ts_usec;
    memcpy(r->orig_addr, flow->orig_addr, PACKET_ADDR_LEN);
    r->orig_port = flow->orig_port;
    r->resp_port = flow->resp_port;
    r->vlan = flow->vlan;
    r->labels = flow->labels;
    r->ndpi_flow_null = flow->ndpi_flow == NULL;
    r->burst = flow->burst;
}

static struct flow_table *table_new(struct recorder *rec, struct flow_table_config *config)
{
    memset(rec, 0, sizeof(*rec));
    struct flow_observer observer = {
        .on_packet = recorder_on_packet,
        .on_record = recorder_on_record,
        .user = rec,
    };
    char err[256] = "";
    struct flow_table *table = flow_table_new(config, &observer, err, sizeof(err));
    if (table == NULL)
        fprintf(stderr, "  flow_table_new: %s\n", err);
    return table;
}

/* Defaults with nDPI off and a fixed seed: keying tests do not need labels. */
static struct flow_table_config config_plain(void)
{
    struct flow_table_config config;
    flow_table_config_defaults(&config);
    config.ndpi_enabled = false;
    config.hash_seed = 0x5eed;
    return config;
}

/* ---- packets ---- */

/* 10.0.0.<a> as a packet address. */
static void addr4(uint8_t *out, uint8_t last)
{
    memset(out, 0, PACKET_ADDR_LEN);
    out[0] = 10, out[3] = last;
}

/* A TCP or UDP packet from 10.0.0.<src>:sport to 10.0.0.<dst>:dport, no bytes behind it. */
static struct packet pkt_make(uint8_t proto, uint8_t src, uint16_t sport, uint8_t dst,
                              uint16_t dport, uint8_t flags, uint64_t ts, uint32_t payload)
{
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_usec = ts;
    pkt.ip_version = 4;
    pkt.proto = proto;
    addr4(pkt.src, src);
    addr4(pkt.dst, dst);
    pkt.sport = sport;
    pkt.dport = dport;
    pkt.tcp_flags = proto == IPPROTO_TCP ? flags : 0;
    uint32_t headers = 14 + 20 + (proto == IPPROTO_TCP ? 20 : 8);
    pkt.wire_len = headers + payload;
    pkt.caplen = pkt.wire_len;
    pkt.payload_len = payload;
    pkt.payload_wire_len = payload;
    return pkt;
}

static void tcp(struct flow_table *table, uint8_t src, uint16_t sport, uint8_t dst,
                uint16_t dport, uint8_t flags, uint64_t ts, uint32_t payload)
{
    struct packet pkt = pkt_make(IPPROTO_TCP, src, sport, dst, dport, flags, ts, payload);
    flow_table_process(table, &pkt);
}

static void udp(struct flow_table *table, uint8_t src, uint16_t sport, uint8_t dst,
                uint16_t dport, uint64_t ts, uint32_t payload)
{
    struct packet pkt = pkt_make(IPPROTO_UDP, src, sport, dst, dport, 0, ts, payload);
    flow_table_process(table, &pkt);
}

/* Client 10.0.0.1:40000 -> server 10.0.0.2:443, handshake at t, t+1ms, t+2ms. */
static void handshake(struct flow_table *table, uint16_t cport, uint64_t t)
{
    tcp(table, 1, cport, 2, 443, SYN, t, 0);
    tcp(table, 2, 443, 1, cport, SYN | ACK, t + 1000, 0);
    tcp(table, 1, cport, 2, 443, ACK, t + 2000, 0);
}

static struct flow_table_stats stats_of(struct flow_table *table)
{
    struct flow_table_stats stats;
    flow_table_get_stats(table, &stats);
    return stats;
}

/* ---- keying and counters ---- */

UNIT_TEST(both_directions_one_flow)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    CHECK(table != NULL);
    if (table == NULL)
        return;
    udp(table, 1, 5353, 2, 53, T0, 30);
    CHECK_EQ_U(rec.last_direction, FLOW_DIR_ORIG);
    udp(table, 2, 53, 1, 5353, T0 + 1000, 70);
    CHECK_EQ_U(rec.last_direction, FLOW_DIR_RESP);
    CHECK_EQ_U(stats_of(table).active, 1);
    CHECK_EQ_U(stats_of(table).created, 1);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    struct record *r = &rec.records[0];
    CHECK_EQ_U(r->id, 1);
    CHECK_EQ_U(r->orig_addr[3], 1);
    CHECK_EQ_U(r->orig_port, 5353);
    CHECK_EQ_U(r->resp_port, 53);
    CHECK_EQ_U(r->dir[FLOW_DIR_ORIG].packets, 1);
    CHECK_EQ_U(r->dir[FLOW_DIR_RESP].packets, 1);
    CHECK_EQ_U(r->tcp_state, TCP_STATE_NONE);
    CHECK_EQ_U(r->reason, FLOW_END_EOF);
    CHECK(r->final);
    flow_table_free(table);
}

UNIT_TEST(originator_is_first_sender)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    /* The server-side endpoint speaks first (smaller address, so it would sort first too). */
    udp(table, 9, 53, 3, 5000, T0, 10);
    udp(table, 3, 5000, 9, 53, T0 + 1, 10);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].orig_addr[3], 9);
    CHECK_EQ_U(rec.records[0].orig_port, 53);
    flow_table_free(table);
}

UNIT_TEST(syn_ack_first_makes_receiver_originator)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    tcp(table, 2, 443, 1, 40000, SYN | ACK, T0, 0);
    CHECK_EQ_U(rec.last_direction, FLOW_DIR_RESP);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 1000, 0);
    CHECK_EQ_U(rec.last_direction, FLOW_DIR_ORIG);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    struct record *r = &rec.records[0];
    CHECK_EQ_U(r->orig_addr[3], 1);
    CHECK_EQ_U(r->orig_port, 40000);
    CHECK_EQ_U(r->resp_port, 443);
    CHECK_EQ_U(r->dir[FLOW_DIR_RESP].tcp_flags, SYN | ACK);
    CHECK_EQ_U(r->tcp_state, TCP_STATE_ESTABLISHED);
    flow_table_free(table);
}

UNIT_TEST(midstream_when_first_packet_is_not_syn)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    tcp(table, 2, 443, 1, 40000, ACK | PSH, T0, 100);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 1000, 0);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].tcp_state, TCP_STATE_MIDSTREAM);
    /* Joined late: the first sender is the originator even if it looks like a server. */
    CHECK_EQ_U(rec.records[0].orig_addr[3], 2);
    CHECK_EQ_U(rec.records[0].orig_port, 443);
    flow_table_free(table);
}

UNIT_TEST(vlan_separates_flows)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    struct packet a = pkt_make(IPPROTO_UDP, 1, 1000, 2, 2000, 0, T0, 10);
    struct packet b = a;
    b.vlan = 42;
    b.ts_usec = T0 + 1;
    flow_table_process(table, &a);
    flow_table_process(table, &b);
    CHECK_EQ_U(stats_of(table).active, 2);
    /* The reply on VLAN 42 joins the VLAN 42 flow. */
    struct packet reply = pkt_make(IPPROTO_UDP, 2, 2000, 1, 1000, 0, T0 + 2, 10);
    reply.vlan = 42;
    flow_table_process(table, &reply);
    CHECK_EQ_U(rec.last_flow_id, 2);
    CHECK_EQ_U(rec.last_direction, FLOW_DIR_RESP);
    CHECK_EQ_U(stats_of(table).active, 2);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 2);
    CHECK_EQ_U(rec.records[0].vlan, 0);
    CHECK_EQ_U(rec.records[1].vlan, 42);
    CHECK_EQ_U(rec.records[1].dir[FLOW_DIR_RESP].packets, 1);
    flow_table_free(table);
}

UNIT_TEST(protocol_and_ip_version_separate_flows)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    udp(table, 1, 1000, 2, 2000, T0, 10);
    tcp(table, 1, 1000, 2, 2000, SYN, T0 + 1, 0);
    struct packet v6 = pkt_make(IPPROTO_UDP, 1, 1000, 2, 2000, 0, T0 + 2, 10);
    v6.ip_version = 6;
    flow_table_process(table, &v6);
    CHECK_EQ_U(stats_of(table).active, 3);
    flow_table_free(table);
}

UNIT_TEST(counters_per_direction)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);
    tcp(table, 1, 40000, 2, 443, ACK | PSH, T0 + 3000, 1000);
    tcp(table, 1, 40000, 2, 443, ACK | PSH, T0 + 4000, 500);
    tcp(table, 2, 443, 1, 40000, ACK, T0 + 5000, 0);
    /* A snapped packet: the wire and IP-length payload count, not the captured bytes. */
    struct packet snapped = pkt_make(IPPROTO_TCP, 2, 443, 1, 40000, ACK | PSH, T0 + 6000, 1400);
    snapped.caplen = 96;
    snapped.payload_len = 42;
    flow_table_process(table, &snapped);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    struct record *r = &rec.records[0];
    const struct flow_direction_stats *o = &r->dir[FLOW_DIR_ORIG], *s = &r->dir[FLOW_DIR_RESP];
    CHECK_EQ_U(o->packets, 4);
    CHECK_EQ_U(o->bytes, 4 * 54 + 1500);
    CHECK_EQ_U(o->payload_bytes, 1500);
    CHECK_EQ_U(o->first_ts_usec, T0);
    CHECK_EQ_U(o->last_ts_usec, T0 + 4000);
    CHECK_EQ_U(o->tcp_flags, SYN | ACK | PSH);
    CHECK_EQ_U(s->packets, 3);
    CHECK_EQ_U(s->bytes, 3 * 54 + 1400);
    CHECK_EQ_U(s->payload_bytes, 1400);
    CHECK_EQ_U(s->first_ts_usec, T0 + 1000);
    CHECK_EQ_U(s->last_ts_usec, T0 + 6000);
    CHECK_EQ_U(s->tcp_flags, SYN | ACK | PSH);
    CHECK_EQ_U(r->start_ts_usec, T0);
    CHECK_EQ_U(r->last_ts_usec, T0 + 6000);
    flow_table_free(table);
}

/* ---- TCP ---- */

UNIT_TEST(tcp_states_and_close_record)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    tcp(table, 1, 40000, 2, 443, SYN, T0, 0);
    tcp(table, 1, 40000, 2, 443, SYN, T0 + 500, 0); /* retransmitted SYN: same flow */
    CHECK_EQ_U(stats_of(table).created, 1);
    tcp(table, 2, 443, 1, 40000, SYN | ACK, T0 + 1000, 0);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 2000, 0);
    tcp(table, 1, 40000, 2, 443, FIN | ACK, T0 + 3000, 0);
    tcp(table, 1, 40000, 2, 443, FIN | ACK, T0 + 3500, 0); /* retransmitted FIN: not closed */
    CHECK_EQ_U(rec.count, 0);
    tcp(table, 2, 443, 1, 40000, FIN | ACK, T0 + 4000, 0);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 5000, 0);     /* trailing ACK, still the same flow */
    CHECK_EQ_U(rec.count, 0);
    CHECK_EQ_U(stats_of(table).active, 1);
    /* Closed flows linger closed_linger_usec after their last packet, then end. */
    flow_table_expire(table, T0 + 5000 + config.closed_linger_usec - 1);
    CHECK_EQ_U(rec.count, 0);
    flow_table_expire(table, T0 + 5000 + config.closed_linger_usec);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].reason, FLOW_END_TCP_CLOSE);
    CHECK_EQ_U(rec.records[0].tcp_state, TCP_STATE_CLOSED);
    CHECK_EQ_U(rec.records[0].dir[FLOW_DIR_ORIG].packets, 6);
    CHECK(rec.records[0].final);
    CHECK_EQ_U(stats_of(table).ended[FLOW_END_TCP_CLOSE], 1);
    CHECK_EQ_U(stats_of(table).active, 0);
    flow_table_free(table);
}

/* The state after each step of a handshake, seen through interim records. */
UNIT_TEST(tcp_state_sequence)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.active_timeout_usec = 1; /* every later packet closes an interim record first */
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    tcp(table, 1, 40000, 2, 443, SYN, T0, 0);
    tcp(table, 2, 443, 1, 40000, SYN | ACK, T0 + 10, 0);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 20, 0);
    tcp(table, 2, 443, 1, 40000, FIN | ACK, T0 + 30, 0);
    tcp(table, 1, 40000, 2, 443, FIN | ACK, T0 + 40, 0);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 5);
    CHECK_EQ_U(rec.records[0].tcp_state, TCP_STATE_SYN_SENT);
    CHECK_EQ_U(rec.records[1].tcp_state, TCP_STATE_SYN_RECEIVED);
    CHECK_EQ_U(rec.records[2].tcp_state, TCP_STATE_ESTABLISHED);
    CHECK_EQ_U(rec.records[3].tcp_state, TCP_STATE_FIN_WAIT);
    CHECK_EQ_U(rec.records[4].tcp_state, TCP_STATE_CLOSED);
    CHECK_EQ_U(rec.records[4].reason, FLOW_END_EOF);
    flow_table_free(table);
}

UNIT_TEST(tcp_reset_record)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);
    tcp(table, 2, 443, 1, 40000, RST, T0 + 3000, 0);
    /* Expiry after a later packet of another flow, driven by packet time only. */
    udp(table, 5, 1, 6, 2, T0 + 3000 + config.closed_linger_usec, 1);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].reason, FLOW_END_TCP_RESET);
    CHECK_EQ_U(rec.records[0].tcp_state, TCP_STATE_RESET);
    CHECK_EQ_U(rec.records[0].dir[FLOW_DIR_RESP].tcp_flags, SYN | ACK | RST);
    flow_table_free(table);
}

UNIT_TEST(port_reuse_after_close)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);
    tcp(table, 1, 40000, 2, 443, FIN | ACK, T0 + 3000, 0);
    tcp(table, 2, 443, 1, 40000, FIN | ACK, T0 + 4000, 0);
    /* Within the linger time a new SYN on the same tuple is a new connection. */
    tcp(table, 1, 40000, 2, 443, SYN, T0 + 5000, 0);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].id, 1);
    CHECK_EQ_U(rec.records[0].reason, FLOW_END_TCP_CLOSE);
    CHECK_EQ_U(rec.last_flow_id, 2);
    tcp(table, 2, 443, 1, 40000, SYN | ACK, T0 + 6000, 0);
    CHECK_EQ_U(rec.last_flow_id, 2);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 2);
    CHECK_EQ_U(rec.records[1].id, 2);
    CHECK_EQ_U(rec.records[1].tcp_state, TCP_STATE_SYN_RECEIVED);
    CHECK_EQ_U(rec.records[1].dir[FLOW_DIR_ORIG].packets, 1);
    CHECK_EQ_U(rec.records[1].start_ts_usec, T0 + 5000);
    flow_table_free(table);
}

/* ---- timeouts ---- */

UNIT_TEST(idle_timeout_tcp_vs_udp)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.idle_timeout_tcp_usec = 300 * SEC;
    config.idle_timeout_other_usec = 60 * SEC;
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);            /* TCP, last packet T0+2ms */
    udp(table, 1, 5000, 3, 53, T0 + 3000, 40); /* UDP, last packet T0+3ms */
    flow_table_expire(table, T0 + 3000 + 60 * SEC - 1);
    CHECK_EQ_U(rec.count, 0);
    /* UDP ends at 60 s although the older TCP flow is still live ahead of it. */
    flow_table_expire(table, T0 + 3000 + 60 * SEC);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].id, 2);
    CHECK_EQ_U(rec.records[0].reason, FLOW_END_IDLE);
    flow_table_expire(table, T0 + 2000 + 300 * SEC - 1);
    CHECK_EQ_U(rec.count, 1);
    flow_table_expire(table, T0 + 2000 + 300 * SEC);
    CHECK_EQ_U(rec.count, 2);
    CHECK_EQ_U(rec.records[1].id, 1);
    CHECK_EQ_U(rec.records[1].reason, FLOW_END_IDLE);
    CHECK_EQ_U(stats_of(table).ended[FLOW_END_IDLE], 2);
    flow_table_free(table);
}

UNIT_TEST(idle_flow_found_by_lookup_ends_first)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    udp(table, 1, 5000, 3, 53, T0, 40);
    /* No tick in between: the next packet on the tuple comes after the idle timeout. */
    udp(table, 3, 53, 1, 5000, T0 + config.idle_timeout_other_usec + SEC, 40);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].reason, FLOW_END_IDLE);
    CHECK_EQ_U(rec.last_flow_id, 2);
    /* The new flow's originator is the sender of its own first packet. */
    CHECK_EQ_U(rec.last_direction, FLOW_DIR_ORIG);
    flow_table_free(table);
}

UNIT_TEST(active_timeout_interim_records)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.active_timeout_usec = 100 * SEC;
    config.idle_timeout_tcp_usec = 300 * SEC;
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);
    for (int i = 1; i <= 250; i++)  /* an upload: one 1000-byte segment a second */
        tcp(table, 1, 40000, 2, 443, ACK | PSH, T0 + (uint64_t)i * SEC, 1000);
    /* Interim records when packets at T0+100 s and T0+200 s arrive. */
    CHECK_EQ_U(rec.count, 2);
    struct record *first = &rec.records[0], *second = &rec.records[1];
    CHECK_EQ_U(first->reason, FLOW_END_ACTIVE);
    CHECK(!first->final);
    CHECK_EQ_U(first->record_seq, 0);
    CHECK_EQ_U(first->start_ts_usec, T0);
    CHECK_EQ_U(first->dir[FLOW_DIR_ORIG].packets, 2 + 99);
    CHECK_EQ_U(first->dir[FLOW_DIR_ORIG].payload_bytes, 99 * 1000);
    CHECK_EQ_U(first->dir[FLOW_DIR_RESP].packets, 1);
    CHECK_EQ_U(second->reason, FLOW_END_ACTIVE);
    CHECK_EQ_U(second->record_seq, 1);
    CHECK_EQ_U(second->start_ts_usec, T0 + 100 * SEC);
    CHECK_EQ_U(second->dir[FLOW_DIR_ORIG].packets, 100);
    CHECK_EQ_U(second->dir[FLOW_DIR_ORIG].first_ts_usec, T0 + 100 * SEC);
    CHECK_EQ_U(second->dir[FLOW_DIR_RESP].packets, 0);
    CHECK_EQ_U(second->dir[FLOW_DIR_RESP].first_ts_usec, 0);
    CHECK_EQ_U(second->dir[FLOW_DIR_ORIG].tcp_flags, ACK | PSH);
    CHECK_EQ_U(second->tcp_state, TCP_STATE_ESTABLISHED);
    CHECK_EQ_U(second->id, first->id);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 3);
    CHECK_EQ_U(rec.records[2].record_seq, 2);
    CHECK_EQ_U(rec.records[2].dir[FLOW_DIR_ORIG].packets, 51);
    CHECK(rec.records[2].final);
    CHECK_EQ_U(stats_of(table).ended[FLOW_END_ACTIVE], 2);
    CHECK_EQ_U(stats_of(table).created, 1);
    flow_table_free(table);
}

/* The hash array starts small and doubles as flows come: every flow must still be found
 * after each regrowth, by flow_table_process and by the prefetching path alike. */
UNIT_TEST(hash_grows_and_finds_every_flow)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    enum { FLOWS = 20000 };
    for (int i = 0; i < FLOWS; i++) {
        struct packet pkt = pkt_make(IPPROTO_UDP, (uint8_t)(1 + i % 200), (uint16_t)(1024 + i),
                                     250, 53, 0, T0 + (uint64_t)i, 10);
        flow_table_process(table, &pkt);
    }
    CHECK_EQ_U(stats_of(table).active, FLOWS);
    int found = 0, answered = 0;
    for (int i = 0; i < FLOWS; i++) {
        struct packet reply = pkt_make(IPPROTO_UDP, 250, 53, (uint8_t)(1 + i % 200),
                                       (uint16_t)(1024 + i), 0, T0 + FLOWS + (uint64_t)i, 20);
        if (i % 2 == 0) {
            flow_table_process(table, &reply);
        } else {
            uint32_t hash = flow_table_hash(table, &reply);
            flow_table_prefetch_bucket(table, hash);
            flow_table_prefetch_flow(table, hash);
            flow_table_process_hashed(table, &reply, hash);
        }
        found += rec.last_flow_id == (uint64_t)i + 1;
        answered += rec.last_direction == FLOW_DIR_RESP;
    }
    CHECK_EQ_U(found, FLOWS);
    CHECK_EQ_U(answered, FLOWS);
    struct flow_table_stats stats = stats_of(table);
    CHECK_EQ_U(stats.created, FLOWS);
    CHECK_EQ_U(stats.active, FLOWS);
    CHECK_EQ_U(stats.memory_bytes, (uint64_t)FLOWS * FLOW_BYTES);
    flow_table_flush(table);
    CHECK_EQ_U(stats_of(table).active, 0);
    CHECK_EQ_U(stats_of(table).ended[FLOW_END_EOF], FLOWS);
    flow_table_free(table);
}

/* ---- memory cap, flush ---- */

UNIT_TEST(eviction_under_memory_cap)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.memory_cap_bytes = 3 * FLOW_BYTES;
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    udp(table, 1, 1001, 2, 53, T0, 10);
    udp(table, 1, 1002, 2, 53, T0 + 1, 10);
    udp(table, 1, 1003, 2, 53, T0 + 2, 10);
    udp(table, 1, 1001, 2, 53, T0 + 3, 10); /* flow 1 is now the most recently active */
    CHECK_EQ_U(stats_of(table).memory_bytes, 3 * FLOW_BYTES);
    CHECK_EQ_U(rec.count, 0);
    udp(table, 1, 1004, 2, 53, T0 + 4, 10);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].id, 2);
    CHECK_EQ_U(rec.records[0].reason, FLOW_END_EVICTED);
    CHECK(rec.records[0].final);
    udp(table, 1, 1005, 2, 53, T0 + 5, 10);
    CHECK_EQ_U(rec.count, 2);
    CHECK_EQ_U(rec.records[1].id, 3);
    struct flow_table_stats stats = stats_of(table);
    CHECK_EQ_U(stats.evicted, 2);
    CHECK_EQ_U(stats.ended[FLOW_END_EVICTED], 2);
    CHECK_EQ_U(stats.active, 3);
    CHECK(stats.memory_bytes <= config.memory_cap_bytes);
    /* The survivors are untouched: flow 1 still has both of its packets. */
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 5);
    CHECK_EQ_U(rec.records[2].id, 1);
    CHECK_EQ_U(rec.records[2].dir[FLOW_DIR_ORIG].packets, 2);
    CHECK_EQ_U(rec.records[2].reason, FLOW_END_EOF);
    flow_table_free(table);
}

UNIT_TEST(flush_oldest_first)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    /* Mixed lists: open TCP, UDP and closed TCP flows, touched in this order. */
    udp(table, 1, 2000, 2, 53, T0, 10);                 /* id 1 */
    handshake(table, 40001, T0 + 10);                   /* id 2 */
    udp(table, 1, 2001, 2, 53, T0 + 20000, 10);         /* id 3 */
    tcp(table, 1, 40001, 2, 443, FIN | ACK, T0 + 30000, 0);
    tcp(table, 2, 443, 1, 40001, FIN | ACK, T0 + 30001, 0); /* id 2 closed, newest */
    udp(table, 1, 2000, 2, 53, T0 + 40000, 10);         /* id 1 newest */
    for (int i = 0; i < 20; i++)
        udp(table, 7, (uint16_t)(3000 + i), 8, 53, T0 + 50000 + (uint64_t)i, 1); /* ids 4.. */
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 23);
    CHECK_EQ_U(rec.records[0].id, 3);
    CHECK_EQ_U(rec.records[1].id, 2);
    CHECK_EQ_U(rec.records[2].id, 1);
    for (int i = 3; i < rec.count; i++)
        CHECK_EQ_U(rec.records[i].id, (uint64_t)i + 1);
    for (int i = 0; i < rec.count; i++) {
        CHECK_EQ_U(rec.records[i].reason, FLOW_END_EOF);
        CHECK(rec.records[i].final);
    }
    CHECK_EQ_U(stats_of(table).active, 0);
    CHECK_EQ_U(stats_of(table).memory_bytes, 0);
    CHECK_EQ_U(stats_of(table).ended[FLOW_END_EOF], 23);
    flow_table_free(table);
}

UNIT_TEST(flow_ids_in_creation_order)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    for (int i = 0; i < 1000; i++) {
        udp(table, (uint8_t)(i % 200), (uint16_t)(1000 + i), 250, 53, T0 + (uint64_t)i, 1);
        CHECK_EQ_U(rec.last_flow_id, (uint64_t)i + 1);
    }
    CHECK_EQ_U(stats_of(table).active, 1000);
    flow_table_flush(table);
    for (int i = 0; i < rec.count && i < 1000; i++)
        CHECK_EQ_U(rec.records[i].id, (uint64_t)i + 1);
    flow_table_free(table);
}

UNIT_TEST(free_without_flush)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);
    udp(table, 1, 1, 2, 2, T0, 1);
    flow_table_free(table); /* nothing emitted, nothing leaked (ASan/valgrind) */
    CHECK_EQ_U(rec.count, 0);
}

UNIT_TEST(names)
{
    CHECK_STR(flow_end_reason_name(FLOW_END_IDLE), "idle");
    CHECK_STR(flow_end_reason_name(FLOW_END_ACTIVE), "active");
    CHECK_STR(flow_end_reason_name(FLOW_END_TCP_CLOSE), "tcp_close");
    CHECK_STR(flow_end_reason_name(FLOW_END_TCP_RESET), "tcp_reset");
    CHECK_STR(flow_end_reason_name(FLOW_END_EVICTED), "evicted");
    CHECK_STR(flow_end_reason_name(FLOW_END_EOF), "eof");
    CHECK_STR(tcp_state_name(TCP_STATE_MIDSTREAM), "midstream");
    CHECK_STR(tcp_state_name(TCP_STATE_SYN_RECEIVED), "syn_received");
}

UNIT_TEST(expiry_is_bounded_per_packet_but_exact)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    for (int i = 0; i < 100; i++)
        udp(table, 1, (uint16_t)(1000 + i), 2, 53, T0 + (uint64_t)i, 1);
    /* One packet long after: it pays for a bounded number of expiries only. */
    udp(table, 3, 1, 4, 2, T0 + 2 * config.idle_timeout_other_usec, 1);
    CHECK(rec.count > 0);
    CHECK(rec.count < 100);
    int first_batch = rec.count;
    /* The rest were due as well: the flush ends them as idle, oldest first, not as EOF. */
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 101);
    for (int i = 0; i < 100 && i < rec.count; i++) {
        CHECK_EQ_U(rec.records[i].id, (uint64_t)i + 1);
        CHECK_EQ_U(rec.records[i].reason, FLOW_END_IDLE);
    }
    CHECK_EQ_U(rec.records[100].reason, FLOW_END_EOF);
    CHECK(first_batch >= 1);
    flow_table_free(table);
}

/* The same packets give the same records whatever the hash seed. */
UNIT_TEST(records_do_not_depend_on_hash_seed)
{
    static struct recorder rec_a, rec_b;
    uint32_t seeds[2] = { 1, 0xdeadbeef };
    struct recorder *recs[2] = { &rec_a, &rec_b };
    for (int s = 0; s < 2; s++) {
        struct flow_table_config config = config_plain();
        config.hash_seed = seeds[s];
        config.memory_cap_bytes = 50 * FLOW_BYTES;
        struct flow_table *table = table_new(recs[s], &config);
        if (table == NULL)
            return;
        for (int i = 0; i < 150; i++) {
            udp(table, (uint8_t)(i % 7), (uint16_t)(1000 + i % 60), 9, 53,
                T0 + (uint64_t)i * 1000, 10);
            if (i % 3 == 0)
                tcp(table, 9, 443, (uint8_t)(i % 5), (uint16_t)(40000 + i % 11), ACK,
                    T0 + (uint64_t)i * 1000 + 1, 100);
        }
        flow_table_flush(table);
        flow_table_free(table);
    }
    CHECK_EQ_U(rec_a.count, rec_b.count);
    CHECK(rec_a.count > 50);
    for (int i = 0; i < rec_a.count && i < rec_b.count; i++) {
        CHECK_EQ_U(rec_a.records[i].id, rec_b.records[i].id);
        CHECK_EQ_U(rec_a.records[i].reason, rec_b.records[i].reason);
        CHECK_EQ_U(rec_a.records[i].dir[0].packets, rec_b.records[i].dir[0].packets);
        CHECK_EQ_U(rec_a.records[i].dir[1].packets, rec_b.records[i].dir[1].packets);
    }
}

/* Packets reordered by less than a clock step (a merge of two interfaces) are filed at the
 * latest time seen, while the record keeps their own times. */
UNIT_TEST(reordered_packets_are_clamped)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.idle_timeout_other_usec = 60 * SEC;
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    udp(table, 1, 1000, 2, 53, T0 + 10 * SEC, 10);
    udp(table, 3, 1000, 4, 53, T0 + 10 * SEC + 500000, 10);
    udp(table, 2, 53, 1, 1000, T0 + 10 * SEC + 200000, 10); /* 0.3 s late */
    CHECK_EQ_U(stats_of(table).active, 2);
    CHECK_EQ_U(stats_of(table).clock_steps_back, 0);
    /* Flow 1 ages from 10.5 s, the latest time when its late packet came. */
    flow_table_expire(table, T0 + 70 * SEC + 500000 - 1);
    CHECK_EQ_U(rec.count, 0);
    flow_table_expire(table, T0 + 70 * SEC + 500000);
    CHECK_EQ_U(rec.count, 2);
    CHECK_EQ_U(rec.records[0].id, 2); /* filed first at 10.5 s */
    CHECK_EQ_U(rec.records[1].id, 1);
    CHECK_EQ_U(rec.records[1].reason, FLOW_END_IDLE);
    CHECK_EQ_U(rec.records[1].last_ts_usec, T0 + 10 * SEC + 200000);
    CHECK_EQ_U(rec.records[1].dir[FLOW_DIR_RESP].first_ts_usec, T0 + 10 * SEC + 200000);
    flow_table_free(table);
}

/* A step back (NTP, VM resume, files given out of order) is counted and flows keep ageing:
 * the ones from before the step time out by the time elapsed since, not an hour later. */
UNIT_TEST(clock_step_back_ages_on)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.idle_timeout_other_usec = 60 * SEC;
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    const uint64_t back = T0 + 200 * SEC - 3600 * SEC; /* 200 s, one hour earlier */
    udp(table, 1, 1000, 2, 53, T0 + 100 * SEC, 10);
    udp(table, 3, 1000, 4, 53, T0 + 200 * SEC, 10);
    udp(table, 5, 1000, 6, 53, back, 10);
    CHECK_EQ_U(stats_of(table).clock_steps_back, 1);
    udp(table, 6, 53, 5, 1000, back + 30 * SEC, 10);
    /* 60 s after the step, by packet time: flows 1 and 2 are due, 3 (last seen 30 s after
     * the step) is not. Oldest first. */
    flow_table_expire(table, back + 60 * SEC);
    CHECK_EQ_U(rec.count, 2);
    CHECK_EQ_U(rec.records[0].id, 1);
    CHECK_EQ_U(rec.records[1].id, 2);
    CHECK_EQ_U(rec.records[1].reason, FLOW_END_IDLE);
    flow_table_expire(table, back + 90 * SEC - 1);
    CHECK_EQ_U(rec.count, 2);
    flow_table_expire(table, back + 90 * SEC);
    CHECK_EQ_U(rec.count, 3);
    CHECK_EQ_U(rec.records[2].id, 3);
    CHECK_EQ_U(rec.records[2].reason, FLOW_END_IDLE);
    /* Records keep packet time. */
    CHECK_EQ_U(rec.records[2].start_ts_usec, back);
    CHECK_EQ_U(rec.records[2].last_ts_usec, back + 30 * SEC);
    CHECK_EQ_U(stats_of(table).clock_steps_back, 1);
    flow_table_free(table);
}

/* A step forward moves the ageing clock: flows due by the new time end on the next packet. */
UNIT_TEST(clock_step_forward_expires_due_flows)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.idle_timeout_other_usec = 60 * SEC;
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    udp(table, 1, 1000, 2, 53, T0, 10);
    udp(table, 3, 1000, 4, 53, T0 + SEC, 10);
    udp(table, 5, 1000, 6, 53, T0 + 7200 * SEC, 10);
    CHECK_EQ_U(rec.count, 2);
    CHECK_EQ_U(rec.records[0].id, 1);
    CHECK_EQ_U(rec.records[1].id, 2);
    CHECK_EQ_U(rec.records[1].reason, FLOW_END_IDLE);
    CHECK_EQ_U(stats_of(table).active, 1);
    CHECK_EQ_U(stats_of(table).clock_steps_back, 0);
    flow_table_free(table);
}

/* A step back of an hour on every other new flow (capture files concatenated out of order),
 * the walk through the whole age list that each cost before: the lists stay sorted, so flows
 * end in the order the ageing clock filed them. */
UNIT_TEST(clock_steps_keep_age_order)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    for (unsigned i = 0; i < 100; i++) {
        uint64_t ts = T0 + i * SEC - (i + 1) / 2 * 3600 * SEC;
        udp(table, (uint8_t)(1 + i), 1000, 200, 53, ts, 10);
    }
    CHECK_EQ_U(stats_of(table).clock_steps_back, 50);
    CHECK_EQ_U(stats_of(table).active, 100);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 100);
    for (int i = 0; i < rec.count; i++)
        CHECK_EQ_U(rec.records[i].id, i + 1);
    flow_table_free(table);
}

UNIT_TEST(later_fragment_without_ports_is_skipped)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    struct packet first = pkt_make(IPPROTO_UDP, 1, 5000, 2, 6000, 0, T0, 1472);
    first.is_fragment = true;
    flow_table_process(table, &first);
    struct packet later = pkt_make(IPPROTO_UDP, 1, 0, 2, 0, 0, T0 + 1, 1000);
    later.is_fragment = true;
    flow_table_process(table, &later);
    struct flow_table_stats stats = stats_of(table);
    CHECK_EQ_U(stats.active, 1);
    CHECK_EQ_U(stats.skipped_fragments, 1);
    flow_table_free(table);
}

/* ---- nDPI ---- */

/* Real IPv4+TCP bytes for nDPI; the struct packet points into buf. */
struct wire_packet {
    uint8_t buf[1600];
    struct packet pkt;
};

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16), put16(p + 2, v & 0xffff);
}

static void wire_tcp(struct wire_packet *w, uint8_t src, uint16_t sport, uint8_t dst,
                     uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack, uint64_t ts,
                     const void *payload, uint32_t payload_len)
{
    w->pkt = pkt_make(IPPROTO_TCP, src, sport, dst, dport, flags, ts, payload_len);
    uint8_t *ip = w->buf, *th = w->buf + 20;
    memset(w->buf, 0, 40);
    ip[0] = 0x45;
    put16(ip + 2, 40 + payload_len);
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    memcpy(ip + 12, w->pkt.src, 4);
    memcpy(ip + 16, w->pkt.dst, 4);
    put16(th, sport);
    put16(th + 2, dport);
    put32(th + 4, seq);
    put32(th + 8, ack);
    th[12] = 0x50;
    th[13] = flags;
    put16(th + 14, 65535);
    if (payload_len > 0)
        memcpy(w->buf + 40, payload, payload_len);
    w->pkt.l3 = w->buf;
    w->pkt.l3_len = 40 + payload_len;
    w->pkt.payload = w->buf + 40;
}

static size_t put_bytes(uint8_t *p, const void *src, size_t len)
{
    memcpy(p, src, len);
    return len;
}

/* A TLS 1.2 record holding a ClientHello whose only extension is server_name. */
static size_t tls_client_hello(uint8_t *out, const char *sni)
{
    uint8_t body[512];
    size_t n = 0, sni_len = strlen(sni);
    body[n++] = 3, body[n++] = 3;            /* client_version TLS 1.2 */
    memset(body + n, 0x42, 32), n += 32;     /* random */
    body[n++] = 0;                           /* session id */
    put16(body + n, 4), n += 2;              /* cipher suites */
    put16(body + n, 0xc02f), n += 2;
    put16(body + n, 0x009c), n += 2;
    body[n++] = 1, body[n++] = 0;            /* compression: null */
    put16(body + n, (uint32_t)(sni_len + 9)), n += 2;   /* extensions length */
    put16(body + n, 0), n += 2;              /* server_name (RFC 6066 section 3) */
    put16(body + n, (uint32_t)(sni_len + 5)), n += 2;
    put16(body + n, (uint32_t)(sni_len + 3)), n += 2;
    body[n++] = 0;                           /* host_name */
    put16(body + n, (uint32_t)sni_len), n += 2;
    n += put_bytes(body + n, sni, sni_len);

    size_t r = 0;
    out[r++] = 0x16, out[r++] = 3, out[r++] = 1;       /* handshake record */
    put16(out + r, (uint32_t)(n + 4)), r += 2;
    out[r++] = 1;                                      /* client_hello */
    out[r++] = 0, put16(out + r, (uint32_t)n), r += 2;
    r += put_bytes(out + r, body, n);
    return r;
}

static struct flow_table_config config_ndpi(void)
{
    struct flow_table_config config = config_plain();
    config.ndpi_enabled = true;
    config.custom_protocols_file = PROTOCOLS_FILE;
    return config;
}

/* Handshake with real bytes so nDPI's TCP tracking sees a proper connection. */
static void wire_handshake(struct flow_table *table, uint64_t t)
{
    struct wire_packet w;
    wire_tcp(&w, 1, 40000, 2, 443, SYN, 1000, 0, t, NULL, 0);
    flow_table_process(table, &w.pkt);
    wire_tcp(&w, 2, 443, 1, 40000, SYN | ACK, 5000, 1001, t + 1000, NULL, 0);
    flow_table_process(table, &w.pkt);
    wire_tcp(&w, 1, 40000, 2, 443, ACK, 1001, 5001, t + 2000, NULL, 0);
    flow_table_process(table, &w.pkt);
}

UNIT_TEST(bundled_protocols_file_loads)
{
    struct recorder rec;
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    CHECK(table != NULL);
    flow_table_free(table);

    char err[256] = "";
    config.custom_protocols_file = "flows/no-such-protocols.txt";
    table = flow_table_new(&config, NULL, err, sizeof(err));
    CHECK(table == NULL);
    CHECK(strstr(err, "no-such-protocols.txt") != NULL);
    flow_table_free(table);
}

UNIT_TEST(ndpi_tls_sni_custom_protocol)
{
    struct recorder rec;
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    CHECK(table != NULL);
    if (table == NULL)
        return;
    wire_handshake(table, T0);
    uint8_t hello[600];
    size_t hello_len = tls_client_hello(hello, "mega.nz");
    struct wire_packet w;
    wire_tcp(&w, 1, 40000, 2, 443, ACK | PSH, 1001, 5001, T0 + 3000, hello, (uint32_t)hello_len);
    flow_table_process(table, &w.pkt);
    /* Labels are visible as soon as nDPI knows them, before detection is finished. */
    CHECK_STR(rec.last_labels.app_protocol, "MEGA");
    CHECK_STR(rec.last_labels.master_protocol, "TLS");
    CHECK_STR(rec.last_labels.server_name, "mega.nz");
    CHECK_STR(rec.last_labels.category, "Cloud");
    /* TLS wants the certificate too; a flow that ends now gets final labels, state freed. */
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    struct record *r = &rec.records[0];
    CHECK_STR(r->labels.app_protocol, "MEGA");
    CHECK_STR(r->labels.master_protocol, "TLS");
    CHECK_STR(r->labels.server_name, "mega.nz");
    CHECK(r->labels.detection_done);
    CHECK(r->ndpi_flow_null);
    CHECK_EQ_U(stats_of(table).memory_bytes, 0);
    flow_table_free(table);
}

/* A TLS flow with this SNI on its own table; returns the final record's labels. */
static struct flow_labels tls_labels_for(const char *sni)
{
    static struct recorder rec;
    struct flow_labels none;
    memset(&none, 0, sizeof(none));
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return none;
    wire_handshake(table, T0);
    uint8_t hello[600];
    size_t hello_len = tls_client_hello(hello, sni);
    struct wire_packet w;
    wire_tcp(&w, 1, 40000, 2, 443, ACK | PSH, 1001, 5001, T0 + 3000, hello, (uint32_t)hello_len);
    flow_table_process(table, &w.pkt);
    flow_table_flush(table);
    flow_table_free(table);
    return rec.count == 1 ? rec.records[0].labels : none;
}

UNIT_TEST(ndpi_bundled_protocols_and_categories)
{
    static const struct { const char *sni, *app, *category; } cases[] = {
        { "userstorage.mega.co.nz", "MEGA", "Cloud" },
        { "api.pcloud.com", "pCloud", "Cloud" },
        { "public.boxcloud.com", "Box", "Cloud" },
        { "backups.s3.eu-west-1.amazonaws.com", "AmazonS3", "Cloud" },
        { "acct.r2.cloudflarestorage.com", "CloudflareR2", "Cloud" },
        { "transfer.sh", "TransferSh", "FileSharing" },
        { "store1.gofile.io", "Gofile", "FileSharing" },
        { "0x0.st", "0x0st", "FileSharing" },
        { "dropbox.com", NULL, NULL },   /* "box.com" must not match inside another name */
        { "profile.io", NULL, NULL },    /* nor "file.io" */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct flow_labels labels = tls_labels_for(cases[i].sni);
        CHECK_STR(labels.server_name, cases[i].sni);
        CHECK_STR(labels.master_protocol, "TLS");
        if (cases[i].app != NULL) {
            CHECK_STR(labels.app_protocol, cases[i].app);
            CHECK_STR(labels.category, cases[i].category);
        } else {
            CHECK(strcmp(labels.app_protocol, "Box") != 0);
            CHECK(strcmp(labels.app_protocol, "FileIO") != 0);
        }
    }
}

/* Ended flows and their nDPI states are kept and reused: a reused one must start as a new
 * one would, with nothing of the flow before it (counters, labels, nDPI's own state). */
UNIT_TEST(reused_flows_start_clean)
{
    struct recorder rec;
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    static const char *const snis[] = { "mega.nz", "profile.io", "api.pcloud.com" };
    for (int round = 0; round < 3; round++) {
        uint64_t t = T0 + (uint64_t)round * 10 * SEC;
        wire_handshake(table, t);
        uint8_t hello[600];
        size_t hello_len = tls_client_hello(hello, snis[round]);
        struct wire_packet w;
        wire_tcp(&w, 1, 40000, 2, 443, ACK | PSH, 1001, 5001, t + 3000, hello,
                 (uint32_t)hello_len);
        flow_table_process(table, &w.pkt);
        flow_table_flush(table);
        CHECK_EQ_U(stats_of(table).memory_bytes, 0);
    }
    CHECK_EQ_U(rec.count, 3);
    CHECK_EQ_U(stats_of(table).created, 3);
    for (int round = 0; round < 3 && round < rec.count; round++) {
        struct record *r = &rec.records[round];
        CHECK_STR(r->labels.server_name, snis[round]);
        CHECK_EQ_U(r->dir[FLOW_DIR_ORIG].packets, 3);
        CHECK_EQ_U(r->dir[FLOW_DIR_RESP].packets, 1);
        CHECK_EQ_U(r->start_ts_usec, T0 + (uint64_t)round * 10 * SEC);
        CHECK_EQ_U(r->tcp_state, TCP_STATE_ESTABLISHED);
    }
    CHECK_STR(rec.records[0].labels.app_protocol, "MEGA");
    CHECK(strcmp(rec.records[1].labels.app_protocol, "MEGA") != 0);
    CHECK_STR(rec.records[2].labels.app_protocol, "pCloud");
    flow_table_free(table);
}

UNIT_TEST(ndpi_http_post_labels_and_state_freed)
{
    struct recorder rec;
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    wire_handshake(table, T0);
    static const char request[] =
        "POST /upload/chunk HTTP/1.1\r\n"
        "Host: userstorage.mega.co.nz\r\n"
        "User-Agent: curl/7.88.1\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Length: 5\r\n"
        "\r\n"
        "hello";
    static const char response[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 2\r\n"
        "\r\n"
        "ok";
    struct wire_packet w;
    uint32_t request_len = (uint32_t)strlen(request), response_len = (uint32_t)strlen(response);
    wire_tcp(&w, 1, 40000, 2, 443, ACK | PSH, 1001, 5001, T0 + 3000, request, request_len);
    flow_table_process(table, &w.pkt);
    wire_tcp(&w, 2, 443, 1, 40000, ACK | PSH, 5001, 1001 + request_len, T0 + 4000, response,
             response_len);
    flow_table_process(table, &w.pkt);
    CHECK(rec.last_ndpi_flow_null);
    CHECK(rec.last_labels.detection_done);
    CHECK_STR(rec.last_labels.app_protocol, "MEGA");
    CHECK_STR(rec.last_labels.master_protocol, "HTTP");
    CHECK_STR(rec.last_labels.server_name, "userstorage.mega.co.nz");
    CHECK_STR(rec.last_labels.http_method, "POST");
    CHECK_STR(rec.last_labels.http_url, "userstorage.mega.co.nz/upload/chunk");
    CHECK_STR(rec.last_labels.http_content_type, "application/octet-stream");
    CHECK_EQ_U(rec.last_labels.http_status, 200);
    /* nDPI state is gone while the flow lives on. */
    CHECK_EQ_U(stats_of(table).memory_bytes, FLOW_BYTES);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    CHECK_STR(rec.records[0].labels.app_protocol, "MEGA");
    flow_table_free(table);
}

UNIT_TEST(ndpi_ssh_signatures)
{
    struct recorder rec;
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    wire_handshake(table, T0);
    static const char server[] = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n";
    static const char client[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    uint32_t server_len = (uint32_t)strlen(server), client_len = (uint32_t)strlen(client);
    struct wire_packet w;
    wire_tcp(&w, 2, 443, 1, 40000, ACK | PSH, 5001, 1001, T0 + 3000, server, server_len);
    flow_table_process(table, &w.pkt);
    wire_tcp(&w, 1, 40000, 2, 443, ACK | PSH, 1001, 5001 + server_len, T0 + 4000, client,
             client_len);
    flow_table_process(table, &w.pkt);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    CHECK_STR(rec.records[0].labels.app_protocol, "SSH");
    CHECK_STR(rec.records[0].labels.ssh_client, "SSH-2.0-OpenSSH_9.2p1 Debian-2");
    CHECK_STR(rec.records[0].labels.ssh_server, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3");
    flow_table_free(table);
}

UNIT_TEST(ndpi_gives_up_after_packet_budget)
{
    struct recorder rec;
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    wire_handshake(table, T0);
    uint8_t noise[64];
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (uint8_t)(i * 37 + 11);
    struct wire_packet w;
    uint32_t seq = 1001;
    bool freed = false;
    for (int i = 0; i < 40 && !freed; i++) {
        wire_tcp(&w, 1, 40000, 2, 443, ACK | PSH, seq, 5001, T0 + 3000 + (uint64_t)i, noise,
                 sizeof(noise));
        seq += sizeof(noise);
        flow_table_process(table, &w.pkt);
        freed = rec.last_ndpi_flow_null;
    }
    CHECK(freed);
    CHECK(rec.last_labels.detection_done);
    CHECK(rec.last_labels.app_protocol[0] != '\0');
    CHECK_EQ_U(stats_of(table).memory_bytes, FLOW_BYTES);
    flow_table_flush(table);
    flow_table_free(table);
}

UNIT_TEST(ndpi_eviction_counts_ndpi_state)
{
    struct recorder rec;
    struct flow_table_config config = config_ndpi();
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    /* One live nDPI state costs more than a bare flow: the cap counts both. */
    wire_handshake(table, T0);
    struct flow_table_stats stats = stats_of(table);
    CHECK(stats.memory_bytes > FLOW_BYTES);
    flow_table_flush(table);
    CHECK_EQ_U(stats_of(table).memory_bytes, 0);
    flow_table_free(table);
}

/* A client that uploads, pauses for the burst gap (server ACKs and keep-alives in between do
 * not count), then uploads again: the first burst is reported, before the packet that opens
 * the second is counted, as a FLOW_END_BURST record; the flow's own counters go on. */
UNIT_TEST(upload_bursts_inside_one_flow)
{
    struct recorder rec;
    struct flow_table_config config = config_plain();
    config.burst_gap_usec = 30 * SEC;
    struct flow_table *table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + SEC, 5000);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 2 * SEC, 5000);
    tcp(table, 2, 443, 1, 40000, ACK, T0 + 3 * SEC, 100);
    tcp(table, 2, 443, 1, 40000, ACK, T0 + 20 * SEC, 0);   /* keep-alive: no payload */
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 31 * SEC, 0);   /* client ACK: no payload */
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 31 * SEC + 1, 7000); /* 29 s after: same burst */
    CHECK_EQ_U(rec.count, 0);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 70 * SEC, 3000);  /* 39 s pause: a new burst */
    CHECK_EQ_U(rec.count, 1);
    if (rec.count == 1) {
        const struct record *r = &rec.records[0];
        CHECK_EQ_U(r->reason, FLOW_END_BURST);
        CHECK(!r->final);
        CHECK_EQ_U(r->burst.seq, 0);              /* the first burst: the flow's own counts */
        CHECK_EQ_U(r->dir[FLOW_DIR_ORIG].payload_bytes, 17000);
        CHECK_EQ_U(r->burst.payload_bytes[FLOW_DIR_ORIG], 17000);
        CHECK_EQ_U(r->burst.payload_bytes[FLOW_DIR_RESP], 100);
        CHECK_EQ_U(r->last_ts_usec, T0 + 31 * SEC + 1);
    }
    tcp(table, 2, 443, 1, 40000, ACK, T0 + 71 * SEC, 200);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 120 * SEC, 4000); /* another pause */
    CHECK_EQ_U(rec.count, 2);
    if (rec.count == 2) {
        const struct record *r = &rec.records[1];
        CHECK_EQ_U(r->reason, FLOW_END_BURST);
        CHECK_EQ_U(r->burst.seq, 1);
        CHECK_EQ_U(r->burst.start_ts_usec, T0 + 70 * SEC);
        CHECK_EQ_U(r->burst.payload_bytes[FLOW_DIR_ORIG], 3000);
        CHECK_EQ_U(r->burst.payload_bytes[FLOW_DIR_RESP], 200);
        CHECK_EQ_U(r->dir[FLOW_DIR_ORIG].payload_bytes, 20000);
    }
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 3);
    if (rec.count == 3) {
        const struct record *r = &rec.records[2];
        CHECK(r->final);
        CHECK_EQ_U(r->burst.seq, 2);
        CHECK_EQ_U(r->burst.payload_bytes[FLOW_DIR_ORIG], 4000);
        CHECK_EQ_U(r->dir[FLOW_DIR_ORIG].payload_bytes, 24000);
        CHECK_EQ_U(r->record_seq, 0);             /* bursts are not interim records */
    }
    struct flow_table_stats stats;
    flow_table_get_stats(table, &stats);
    CHECK_EQ_U(stats.bursts, 2);
    CHECK_EQ_U(stats.ended[FLOW_END_ACTIVE], 0);
    flow_table_free(table);

    /* A gap of 0 turns bursts off: one record for the flow. */
    config.burst_gap_usec = 0;
    table = table_new(&rec, &config);
    if (table == NULL)
        return;
    handshake(table, 40000, T0);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + SEC, 5000);
    tcp(table, 1, 40000, 2, 443, ACK, T0 + 100 * SEC, 5000);
    flow_table_flush(table);
    CHECK_EQ_U(rec.count, 1);
    CHECK_EQ_U(rec.records[0].burst.seq, 0);
    flow_table_free(table);
}

UNIT_MAIN("flows",
          UNIT_CASE(upload_bursts_inside_one_flow),
          UNIT_CASE(both_directions_one_flow),
          UNIT_CASE(originator_is_first_sender),
          UNIT_CASE(syn_ack_first_makes_receiver_originator),
          UNIT_CASE(midstream_when_first_packet_is_not_syn),
          UNIT_CASE(vlan_separates_flows),
          UNIT_CASE(protocol_and_ip_version_separate_flows),
          UNIT_CASE(counters_per_direction),
          UNIT_CASE(tcp_states_and_close_record),
          UNIT_CASE(tcp_state_sequence),
          UNIT_CASE(tcp_reset_record),
          UNIT_CASE(port_reuse_after_close),
          UNIT_CASE(idle_timeout_tcp_vs_udp),
          UNIT_CASE(idle_flow_found_by_lookup_ends_first),
          UNIT_CASE(active_timeout_interim_records),
          UNIT_CASE(hash_grows_and_finds_every_flow),
          UNIT_CASE(eviction_under_memory_cap),
          UNIT_CASE(flush_oldest_first),
          UNIT_CASE(flow_ids_in_creation_order),
          UNIT_CASE(free_without_flush),
          UNIT_CASE(expiry_is_bounded_per_packet_but_exact),
          UNIT_CASE(records_do_not_depend_on_hash_seed),
          UNIT_CASE(reordered_packets_are_clamped), UNIT_CASE(clock_step_back_ages_on),
          UNIT_CASE(clock_step_forward_expires_due_flows), UNIT_CASE(clock_steps_keep_age_order),
          UNIT_CASE(later_fragment_without_ports_is_skipped),
          UNIT_CASE(names),
          UNIT_CASE(bundled_protocols_file_loads),
          UNIT_CASE(ndpi_tls_sni_custom_protocol),
          UNIT_CASE(ndpi_bundled_protocols_and_categories),
          UNIT_CASE(reused_flows_start_clean),
          UNIT_CASE(ndpi_http_post_labels_and_state_freed),
          UNIT_CASE(ndpi_ssh_signatures),
          UNIT_CASE(ndpi_gives_up_after_packet_budget),
          UNIT_CASE(ndpi_eviction_counts_ndpi_state))
