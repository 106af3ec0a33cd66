/* SPDX-License-Identifier: GPL-3.0-or-later */
/* zeek/: Zeek's TSV and JSON logs to flow records: headers, escapes, unset fields, the joins
 * by uid and by FTP data channel, and end-time order. */
#include "unit.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "../../zeek/zeek.h"

#define MAX_RECORDS 8

struct seen {
    struct flow flow[MAX_RECORDS];
    struct detect_log_evidence evidence[MAX_RECORDS];
    enum flow_end_reason reason[MAX_RECORDS];
    int count;
};

static void on_record(void *user, struct flow *flow, enum flow_end_reason reason,
                      const struct detect_log_evidence *evidence)
{
    struct seen *seen = user;
    if (seen->count == MAX_RECORDS)
        return;
    seen->flow[seen->count] = *flow;
    seen->evidence[seen->count] = *evidence;
    seen->reason[seen->count] = reason;
    seen->count++;
}

static void feed(struct zeek_reader *reader, const char *kind, const char *text)
{
    zeek_reader_feed(reader, kind, (const uint8_t *)text, strlen(text));
}

static uint32_t v4(const uint8_t *addr)
{
    uint32_t a;
    memcpy(&a, addr, 4);
    return ntohl(a);
}

/* Another separator, columns in another order, an escaped SNI, unset counters. */
UNIT_TEST(test_tsv_header_and_escapes)
{
    static struct seen seen;
    memset(&seen, 0, sizeof(seen));
    struct zeek_reader *reader = zeek_reader_new_memory(on_record, &seen);
    CHECK(reader != NULL);
    if (reader == NULL)
        return;
    feed(reader, "ssl", "#separator \\x7c\n#unset_field|-\n#fields|uid|ts|server_name\n"
                        "C1|1700000000.0|\\x41pi.Example\\x7cnet\n");
    feed(reader, "conn",
         "#separator \\x7c\n#unset_field|-\n#empty_field|(empty)\n"
         "#fields|proto|ts|uid|id.resp_h|id.resp_p|id.orig_h|id.orig_p|duration|orig_bytes|"
         "resp_bytes|conn_state|orig_pkts|orig_ip_bytes|resp_pkts|resp_ip_bytes|service\n"
         "tcp|1700000000.25|C1|93.184.216.34|443|10.0.0.5|50000|2.5|1000|200|SF|10|1520|5|460|ssl\n"
         "tcp|1700000001.0|C2|93.184.216.35|443|10.0.0.5|50001|-|-|-|S0|1|60|0|0|(empty)\n");
    zeek_reader_flush(reader);
    CHECK_EQ_U(seen.count, 2);
    /* In end-time order: the S0 attempt (no duration) ends first. */
    struct flow *f = &seen.flow[1];
    CHECK_EQ_U(f->proto, 6);
    CHECK_EQ_U(v4(f->orig_addr), 0x0a000005);
    CHECK_EQ_U(f->resp_port, 443);
    CHECK_EQ_U(f->start_ts_usec, 1700000000250000ULL);
    CHECK_EQ_U(f->last_ts_usec, 1700000002750000ULL);
    CHECK_EQ_U(f->dir[FLOW_DIR_ORIG].payload_bytes, 1000);
    CHECK_EQ_U(f->dir[FLOW_DIR_ORIG].bytes, 1520 + 14 * 10);
    CHECK_EQ_U(f->dir[FLOW_DIR_RESP].packets, 5);
    CHECK_STR(f->labels.server_name, "Api.Example|net");
    CHECK_STR(f->labels.master_protocol, "TLS");
    CHECK_EQ_U(f->tcp_state, TCP_STATE_CLOSED);
    CHECK_EQ_U(seen.reason[1], FLOW_END_TCP_CLOSE);
    f = &seen.flow[0];
    CHECK_EQ_U(f->dir[FLOW_DIR_ORIG].payload_bytes, 0);
    CHECK_EQ_U(f->last_ts_usec, f->start_ts_usec);
    CHECK_EQ_U(f->tcp_state, TCP_STATE_SYN_SENT);
    CHECK_STR(f->labels.master_protocol, "");
    struct zeek_stats stats;
    zeek_reader_get_stats(reader, &stats);
    CHECK_EQ_U(stats.bad_lines, 0);
    CHECK_EQ_U(stats.joined_ssl, 1);
    zeek_reader_free(reader);
}

/* JSON: uploads counted from http.log, Host lowercased without its port; end-time order. */
UNIT_TEST(test_json_http_and_order)
{
    static struct seen seen;
    memset(&seen, 0, sizeof(seen));
    struct zeek_reader *reader = zeek_reader_new_memory(on_record, &seen);
    CHECK(reader != NULL);
    if (reader == NULL)
        return;
    feed(reader, "http",
         "{\"ts\":1700000000.1,\"uid\":\"H1\",\"method\":\"GET\",\"host\":\"Up.Example:8080\","
         "\"request_body_len\":0}\n"
         "{\"ts\":1700000000.2,\"uid\":\"H1\",\"method\":\"POST\",\"host\":\"other.example\","
         "\"request_body_len\":1000}\n"
         "{\"ts\":1700000000.3,\"uid\":\"H1\",\"method\":\"PUT\",\"request_body_len\":24}\n");
    feed(reader, "conn",
         "{\"ts\":1700000000.0,\"uid\":\"H1\",\"id.orig_h\":\"fd00::1\",\"id.orig_p\":40000,"
         "\"id.resp_h\":\"2001:db8::2\",\"id.resp_p\":8080,\"proto\":\"tcp\",\"duration\":9.0,"
         "\"orig_bytes\":1500,\"resp_bytes\":300,\"conn_state\":\"RSTO\",\"service\":\"http\"}\n"
         "{\"ts\":1700000001.0,\"uid\":\"U1\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":53000,"
         "\"id.resp_h\":\"10.0.0.53\",\"id.resp_p\":53,\"proto\":\"udp\",\"duration\":0.5}\n");
    zeek_reader_flush(reader);
    CHECK_EQ_U(seen.count, 2);
    /* The UDP flow ends first (1.5 s) though it came second. */
    CHECK_EQ_U(seen.flow[0].proto, 17);
    CHECK_EQ_U(seen.flow[0].tcp_state, TCP_STATE_NONE);
    struct flow *f = &seen.flow[1];
    CHECK_EQ_U(f->ip_version, 6);
    CHECK_EQ_U(f->tcp_state, TCP_STATE_RESET);
    CHECK_EQ_U(seen.reason[1], FLOW_END_TCP_RESET);
    CHECK_EQ_U(seen.evidence[1].http_upload_requests, 2);
    CHECK_EQ_U(seen.evidence[1].http_body_bytes, 1024);
    CHECK_STR(seen.evidence[1].http_host, "up.example");
    CHECK_STR(f->labels.server_name, "up.example");
    zeek_reader_free(reader);
}

/* Active FTP: the PORT line announces the channel (server to client), STOR marks it. */
UNIT_TEST(test_ftp_active_stor)
{
    static struct seen seen;
    memset(&seen, 0, sizeof(seen));
    struct zeek_reader *reader = zeek_reader_new_memory(on_record, &seen);
    CHECK(reader != NULL);
    if (reader == NULL)
        return;
    feed(reader, "ftp",
         "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tcommand\targ\t"
         "data_channel.passive\tdata_channel.orig_h\tdata_channel.resp_h\tdata_channel.resp_p\n"
         "1.0\tF1\t10.0.0.9\t41000\t62.1.1.1\t21\tPORT\t10,0,0,9,156,64\tF\t62.1.1.1\t10.0.0.9\t40000\n"
         "1.1\tF1\t10.0.0.9\t41000\t62.1.1.1\t21\tSTOR\tloot.zip\t-\t-\t-\t-\n");
    feed(reader, "conn",
         "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\t"
         "orig_bytes\tresp_bytes\n"
         "1.2\tD1\t62.1.1.1\t20\t10.0.0.9\t40000\ttcp\t1.0\t0\t50000\n"
         "1.3\tD2\t62.1.1.1\t20\t10.0.0.9\t40001\ttcp\t1.0\t0\t50000\n");
    zeek_reader_flush(reader);
    CHECK_EQ_U(seen.count, 2);
    CHECK(seen.evidence[0].ftp_data);
    CHECK(seen.evidence[0].ftp_active);
    CHECK(seen.evidence[0].ftp_upload);
    CHECK_STR(seen.evidence[0].ftp_dest_name, "62.1.1.1");
    CHECK(!seen.evidence[1].ftp_data);   /* a port nobody announced */
    zeek_reader_free(reader);
}

UNIT_MAIN("zeek",
          UNIT_CASE(test_tsv_header_and_escapes), UNIT_CASE(test_json_http_and_order),
          UNIT_CASE(test_ftp_active_stor))
