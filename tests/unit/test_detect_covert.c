/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ covert channels: the DNS question parser (RFC 1035 4.1) on good and hostile
 * messages, entropy and distinct-name estimates, the DNS tunnel verdict, the ping-pattern
 * test, and the SMTP client parser (RFC 5321, RFC 3030 BDAT, RFC 3207 STARTTLS). */
#include "unit.h"

#include <stdlib.h>

#include "../../detect/covert.h"
#include "../../detect/detect_internal.h"

/* Builds a DNS query for name (dotted) and type into buf; returns its length. */
static size_t build_query(uint8_t *buf, const char *name, uint16_t qtype, bool response)
{
    size_t n = 0;
    memset(buf, 0, 12);
    buf[0] = 0x12; buf[1] = 0x34;
    buf[2] = response ? 0x81 : 0x01;
    buf[5] = 1;                       /* QDCOUNT */
    n = 12;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        buf[n++] = (uint8_t)len;
        memcpy(buf + n, p, len);
        n += len;
        p += len;
        if (*p == '.')
            p++;
    }
    buf[n++] = 0;
    buf[n++] = (uint8_t)(qtype >> 8); buf[n++] = (uint8_t)qtype;
    buf[n++] = 0; buf[n++] = 1;       /* IN */
    return n;
}

UNIT_TEST(test_dns_parse_question)
{
    uint8_t buf[512];
    char name[256];
    size_t name_len;
    uint16_t qtype;
    bool response;
    size_t len = build_query(buf, "WWW.Example.COM", 16, false);
    CHECK(dns_parse_question(buf, len, name, sizeof(name), &name_len, &qtype, &response));
    CHECK_STR(name, "www.example.com");
    CHECK_EQ_U(name_len, 15);
    CHECK_EQ_U(qtype, 16);
    CHECK(!response);
    len = build_query(buf, "a.b", 1, true);
    CHECK(dns_parse_question(buf, len, name, sizeof(name), &name_len, &qtype, &response));
    CHECK(response);
    /* Every cut of a good message fails cleanly. */
    len = build_query(buf, "abc.example.org", 1, false);
    for (size_t cut = 0; cut < len; cut++)
        CHECK(!dns_parse_question(buf, cut, name, sizeof(name), &name_len, &qtype, &response));
    /* A compression pointer in the question, no question, an opcode other than QUERY. */
    len = build_query(buf, "abc.example.org", 1, false);
    buf[12] = 0xC0;
    CHECK(!dns_parse_question(buf, len, name, sizeof(name), &name_len, &qtype, &response));
    len = build_query(buf, "abc.example.org", 1, false);
    buf[5] = 0;
    CHECK(!dns_parse_question(buf, len, name, sizeof(name), &name_len, &qtype, &response));
    len = build_query(buf, "abc.example.org", 1, false);
    buf[2] |= 0x28;
    CHECK(!dns_parse_question(buf, len, name, sizeof(name), &name_len, &qtype, &response));
    /* A name over 255 bytes on the wire. */
    memset(buf, 0, sizeof(buf));
    buf[5] = 1;
    size_t n = 12;
    for (int i = 0; i < 5; i++) {
        buf[n++] = 63;
        memset(buf + n, 'a', 63);
        n += 63;
    }
    buf[n++] = 0;
    n += 4;
    CHECK(!dns_parse_question(buf, n, name, sizeof(name), &name_len, &qtype, &response));
    /* A label's dot or NUL becomes '_' so the text keeps the label boundaries. */
    len = build_query(buf, "xy.example.com", 1, false);
    buf[13] = '.';
    buf[14] = 0;
    CHECK(dns_parse_question(buf, len, name, sizeof(name), &name_len, &qtype, &response));
    CHECK_STR(name, "__.example.com");
    /* A small output buffer cuts the text, never overruns. */
    char small[8];
    len = build_query(buf, "abcdefgh.example.com", 1, false);
    CHECK(dns_parse_question(buf, len, small, sizeof(small), &name_len, &qtype, &response));
    CHECK_EQ_U(strlen(small), 7);
}

UNIT_TEST(test_dns_random_input)
{
    uint8_t buf[600];
    char name[256];
    size_t name_len;
    uint16_t qtype;
    bool response;
    srand(15);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand() % (int)sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rand();
        if (len > 12 && round % 2) {
            buf[2] = 0x01; buf[4] = 0; buf[5] = 1;   /* make the header plausible */
            for (size_t i = 12; i < len; i += 1 + (size_t)(rand() % 64))
                buf[i] = (uint8_t)(rand() % 64);
        }
        uint8_t *copy = malloc(len ? len : 1);   /* exact size: ASan sees any overread */
        memcpy(copy, buf, len);
        if (dns_parse_question(copy, len, name, sizeof(name), &name_len, &qtype, &response))
            CHECK(strlen(name) == name_len || name_len >= sizeof(name) - 1);
        free(copy);
    }
    CHECK(1);
}

UNIT_TEST(test_entropy_and_unique)
{
    CHECK_NEAR(covert_entropy((const uint8_t *)"aaaa", 4), 0.0, 1e-9);
    CHECK_NEAR(covert_entropy((const uint8_t *)"abab", 4), 1.0, 1e-9);
    CHECK_NEAR(covert_entropy((const uint8_t *)"abcdefgh", 8), 3.0, 1e-9);
    CHECK_NEAR(covert_entropy(NULL, 0), 0.0, 1e-9);
    uint8_t bitmap[DNS_UNIQUE_BITS / 8] = { 0 };
    CHECK_NEAR(covert_unique_estimate(bitmap, DNS_UNIQUE_BITS), 0.0, 1e-9);
    /* 100 distinct hashes into 512 bits: linear counting is within a few percent. */
    srand(7);
    for (int i = 0; i < 100; i++) {
        unsigned h = (unsigned)rand() % DNS_UNIQUE_BITS;
        bitmap[h / 8] |= (uint8_t)(1u << (h % 8));
    }
    double est = covert_unique_estimate(bitmap, DNS_UNIQUE_BITS);
    CHECK(est > 85 && est < 115);
    memset(bitmap, 0xff, sizeof(bitmap));
    CHECK(covert_unique_estimate(bitmap, DNS_UNIQUE_BITS) > 3000); /* saturated, finite */
}

/* Names of the registered domain "example.com" for dns_on_message. */
static const char *reg_example(void *user, const char *name)
{
    (void)user;
    size_t len = strlen(name);
    return len >= 11 && strcmp(name + len - 11, "example.com") == 0 ? "example.com" : NULL;
}

static bool heavy_none(void *user, const char *domain)
{
    (void)user;
    (void)domain;
    return false;
}

UNIT_TEST(test_dns_tunnel_verdict)
{
    uint8_t buf[512];
    uint64_t seen = 0, malformed = 0, heavy = 0;
    struct dns_flow flow;
    double unique, mean_len, entropy;

    /* Ordinary: the same few names again and again. */
    memset(&flow, 0, sizeof(flow));
    for (int i = 0; i < 300; i++) {
        const char *names[] = { "www.example.com", "mail.example.com", "api.example.com" };
        size_t len = build_query(buf, names[i % 3], 1, false);
        dns_on_message(&flow, buf, len, (uint32_t)len, reg_example, NULL, heavy_none, &seen,
                       &malformed, &heavy);
    }
    CHECK_EQ_U(flow.slot[0].queries, 300);
    CHECK_NEAR(dns_tunnel_score(&flow.slot[0], &unique, &mean_len, &entropy), 0.0, 1e-9);
    CHECK(unique < 5);

    /* A tunnel: 300 distinct 60-byte base32-like names, TXT. */
    memset(&flow, 0, sizeof(flow));
    srand(3);
    for (int i = 0; i < 300; i++) {
        char name[128];
        const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
        for (int k = 0; k < 60; k++)
            name[k] = alphabet[rand() % 32];
        snprintf(name + 60, sizeof(name) - 60, ".t.example.com");
        size_t len = build_query(buf, name, 16, false);
        dns_on_message(&flow, buf, len, (uint32_t)len, reg_example, NULL, heavy_none, &seen,
                       &malformed, &heavy);
    }
    double score = dns_tunnel_score(&flow.slot[0], &unique, &mean_len, &entropy);
    CHECK(score >= 0.8);              /* TXT answers lift it */
    CHECK(unique > 200);
    CHECK_NEAR(mean_len, 62.0, 0.01); /* the 60 bytes and ".t" */
    CHECK(entropy > 4.0);
    CHECK_EQ_U(flow.slot[0].long_names, 300);
    CHECK_EQ_U(malformed, 0);

    /* A name under no registered domain is not followed; garbage is counted. */
    size_t len = build_query(buf, "localhost", 1, false);
    dns_on_message(&flow, buf, len, (uint32_t)len, reg_example, NULL, heavy_none, &seen,
                   &malformed, &heavy);
    dns_on_message(&flow, buf, 5, 5, reg_example, NULL, heavy_none, &seen, &malformed, &heavy);
    CHECK_EQ_U(malformed, 1);
    CHECK_EQ_U(flow.malformed, 1);
}

UNIT_TEST(test_icmp_ping_pattern)
{
    uint8_t payload[1000];
    /* iputils: after the timestamp, bytes count up (wrapping). */
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i + 0x10);
    CHECK(icmp_payload_is_ping_pattern(payload, 40));
    CHECK(icmp_payload_is_ping_pattern(payload, sizeof(payload)));
    /* Windows. */
    CHECK(icmp_payload_is_ping_pattern((const uint8_t *)"abcdefghijklmnopqrstuvwabcdefghi", 32));
    /* Random data is no pattern. */
    srand(5);
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)rand();
    CHECK(!icmp_payload_is_ping_pattern(payload, 200));
}

/* Feeds text in pieces of step bytes (segments split anywhere). */
static void smtp_feed_steps(struct smtp_flow *smtp, const char *text, size_t step)
{
    size_t len = strlen(text);
    for (size_t off = 0; off < len; off += step)
        smtp_flow_feed(smtp, (const uint8_t *)text + off, len - off < step ? len - off : step);
}

UNIT_TEST(test_smtp_envelope_and_attachment)
{
    const char *session =
        "EHLO ws-17\r\n"
        "MAIL FROM:<Logs.Drop@mail-collector.net> SIZE=1700\r\n"
        "RCPT TO:<a@x.net>\r\n"
        "RCPT TO:<b@x.net>\r\n"
        "DATA\r\n"
        "Subject: PW_user\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename=\"passwords.txt\"\r\n"
        "\r\n"
        "c2VjcmV0\r\n"
        "--b1--\r\n"
        ".\r\n"
        "QUIT\r\n";
    for (size_t step = 1; step <= 64; step *= 2) {
        struct smtp_flow smtp;
        smtp_flow_start(&smtp, false);
        smtp_feed_steps(&smtp, session, step);
        CHECK_STR(smtp.mail_from, "logs.drop@mail-collector.net");
        CHECK_STR(smtp.rcpt_to, "a@x.net");
        CHECK_EQ_U(smtp.recipients, 2);
        CHECK_EQ_U(smtp.messages, 1);
        CHECK_EQ_U(smtp.attachments, 1);
        CHECK_STR(smtp.filename, "passwords.txt");
        CHECK(smtp.data_bytes > 150 && smtp.data_bytes < 250);
        CHECK_EQ_U(smtp.phase, SMTP_PHASE_COMMANDS);   /* back after "." */
        CHECK(!smtp.starttls);
    }
}

UNIT_TEST(test_smtp_starttls_and_bdat)
{
    struct smtp_flow smtp;
    smtp_flow_start(&smtp, false);
    smtp_feed_steps(&smtp, "EHLO x\r\nSTARTTLS\r\n\x16\x03\x01\x02\x01 random tls bytes", 7);
    CHECK(smtp.starttls);
    CHECK_EQ_U(smtp.tls_bytes, 22);
    CHECK_EQ_U(smtp.messages, 0);

    smtp_flow_start(&smtp, false);
    smtp_feed_steps(&smtp, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 10 LAST\r\n0123456789QUIT\r\n", 5);
    CHECK_EQ_U(smtp.messages, 1);
    CHECK_EQ_U(smtp.data_bytes, 10);

    smtp_flow_start(&smtp, true);   /* port 465 */
    smtp_feed_steps(&smtp, "\x16\x03\x01 anything", 3);
    CHECK_EQ_U(smtp.tls_bytes, 12);
}

UNIT_TEST(test_smtp_random_input)
{
    uint8_t buf[2048];
    srand(11);
    for (int round = 0; round < 2000; round++) {
        struct smtp_flow smtp;
        smtp_flow_start(&smtp, false);
        size_t len = (size_t)(rand() % (int)sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)(rand() % 3 ? 'A' + rand() % 40 : "\r\n:<> ."[rand() % 7]);
        smtp_flow_feed(&smtp, buf, len);
        CHECK(strlen(smtp.mail_from) < SMTP_ADDR_MAX && strlen(smtp.filename) < SMTP_ADDR_MAX);
    }
}

UNIT_MAIN("detect_covert",
          UNIT_CASE(test_dns_parse_question), UNIT_CASE(test_dns_random_input),
          UNIT_CASE(test_entropy_and_unique), UNIT_CASE(test_dns_tunnel_verdict),
          UNIT_CASE(test_icmp_ping_pattern), UNIT_CASE(test_smtp_envelope_and_attachment),
          UNIT_CASE(test_smtp_starttls_and_bdat), UNIT_CASE(test_smtp_random_input))
