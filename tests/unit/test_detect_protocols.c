/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ protocol parsers: FTP control replies and commands (RFC 959, RFC 2428), data
 * channel expectations, and the HTTP/1.x request parser. */
#include "unit.h"

#include "../../detect/detect_internal.h"

#define LINE(s) (s), strlen(s)

UNIT_TEST(test_ftp_reply_pasv)
{
    struct ftp_endpoint e;
    CHECK(ftp_parse_reply(LINE("227 Entering Passive Mode (192,0,2,10,195,80)"), &e));
    CHECK_EQ_U(e.ip_version, 4);
    CHECK_EQ_U(e.addr[0], 192);
    CHECK_EQ_U(e.addr[3], 10);
    CHECK_EQ_U(e.port, 195 * 256 + 80);          /* 50000 */
    /* RFC 1123: no parentheses required. */
    CHECK(ftp_parse_reply(LINE("227 Entering Passive Mode 198,51,100,7,4,1"), &e));
    CHECK_EQ_U(e.port, 1025);
    CHECK(!ftp_parse_reply(LINE("227 Entering Passive Mode (192,0,2,300,1,1)"), &e));
    CHECK(!ftp_parse_reply(LINE("227 Entering Passive Mode (192,0,2,1,1)"), &e));
    CHECK(!ftp_parse_reply(LINE("227-continued"), &e));
    CHECK(!ftp_parse_reply(LINE("230 Login successful."), &e));
    CHECK(!ftp_parse_reply(LINE("22"), &e));
}

UNIT_TEST(test_ftp_reply_epsv)
{
    struct ftp_endpoint e;
    CHECK(ftp_parse_reply(LINE("229 Entering Extended Passive Mode (|||6446|)"), &e));
    CHECK_EQ_U(e.ip_version, 0);                 /* the control server's address */
    CHECK_EQ_U(e.port, 6446);
    CHECK(ftp_parse_reply(LINE("229 EPSV ok (!!!50001!)"), &e));   /* any delimiter */
    CHECK_EQ_U(e.port, 50001);
    CHECK(!ftp_parse_reply(LINE("229 Entering Extended Passive Mode (|||70000|)"), &e));
    CHECK(!ftp_parse_reply(LINE("229 Entering Extended Passive Mode (||6446|)"), &e));
    CHECK(!ftp_parse_reply(LINE("229 Entering Extended Passive Mode"), &e));
}

UNIT_TEST(test_ftp_commands)
{
    struct ftp_endpoint e;
    CHECK(ftp_parse_command(LINE("PORT 10,1,1,5,7,138"), &e) == FTP_CMD_PORT);
    CHECK_EQ_U(e.ip_version, 4);
    CHECK_EQ_U(e.addr[0], 10);
    CHECK_EQ_U(e.addr[3], 5);
    CHECK_EQ_U(e.port, 7 * 256 + 138);           /* 1930 */
    CHECK(ftp_parse_command(LINE("PORT 10,1,1"), &e) == FTP_CMD_OTHER);
    CHECK(ftp_parse_command(LINE("EPRT |1|132.235.1.2|6275|"), &e) == FTP_CMD_EPRT);
    CHECK_EQ_U(e.ip_version, 4);
    CHECK_EQ_U(e.addr[0], 132);
    CHECK_EQ_U(e.port, 6275);
    CHECK(ftp_parse_command(LINE("EPRT |2|1080::8:800:200C:417A|5282|"), &e) == FTP_CMD_EPRT);
    CHECK_EQ_U(e.ip_version, 6);
    CHECK_EQ_U(e.addr[0], 0x10);
    CHECK_EQ_U(e.addr[15], 0x7a);
    CHECK_EQ_U(e.port, 5282);
    CHECK(ftp_parse_command(LINE("EPRT |3|1.2.3.4|5|"), &e) == FTP_CMD_OTHER);
    CHECK(ftp_parse_command(LINE("EPRT |1|1.2.3.4|0|"), &e) == FTP_CMD_OTHER);
    CHECK(ftp_parse_command(LINE("stor secret.zip"), &e) == FTP_CMD_STOR); /* case-insensitive */
    CHECK(ftp_parse_command(LINE("STOU"), &e) == FTP_CMD_STOU);
    CHECK(ftp_parse_command(LINE("APPE log.txt"), &e) == FTP_CMD_APPE);
    CHECK(ftp_parse_command(LINE("RETR a"), &e) == FTP_CMD_RETR);
    CHECK(ftp_parse_command(LINE("PASV"), &e) == FTP_CMD_PASV);
    CHECK(ftp_parse_command(LINE("EPSV"), &e) == FTP_CMD_EPSV);
    CHECK(ftp_parse_command(LINE("STORE x"), &e) == FTP_CMD_OTHER);
    CHECK(ftp_parse_command(LINE("USER anonymous"), &e) == FTP_CMD_OTHER);
    CHECK(ftp_parse_command("", 0, &e) == FTP_CMD_NONE);
    CHECK(ftp_command_is_upload(FTP_CMD_APPE));
    CHECK(!ftp_command_is_upload(FTP_CMD_RETR));
}

struct lines {
    char text[4][FTP_LINE_MAX];
    int count;
};

static void collect_line(void *user, const char *text, size_t len)
{
    struct lines *lines = user;
    if (lines->count < 4) {
        memcpy(lines->text[lines->count], text, len);
        lines->text[lines->count][len] = '\0';
        lines->count++;
    }
}

UNIT_TEST(test_ftp_lines_across_packets)
{
    struct ftp_line line = { 0 };
    struct lines got = { 0 };
    ftp_line_feed(&line, (const uint8_t *)"PA", 2, collect_line, &got);
    ftp_line_feed(&line, (const uint8_t *)"SV\r\nST", 6, collect_line, &got);
    ftp_line_feed(&line, (const uint8_t *)"OR a.bin\r\n", 10, collect_line, &got);
    CHECK_EQ_U(got.count, 2);
    CHECK_STR(got.text[0], "PASV");
    CHECK_STR(got.text[1], "STOR a.bin");
    /* An over-long line keeps its start. */
    char longline[400];
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "STOR ", 5);
    longline[399] = '\n';
    ftp_line_feed(&line, (const uint8_t *)longline, sizeof(longline), collect_line, &got);
    CHECK_EQ_U(got.count, 3);
    CHECK_EQ_U(strlen(got.text[2]), FTP_LINE_MAX - 1);
}

UNIT_TEST(test_ftp_expectations)
{
    static struct ftp_expectations table;
    memset(&table, 0, sizeof(table));
    uint8_t client[GEO_ADDR_LEN] = { 10, 1, 1, 5 }, server[GEO_ADDR_LEN] = { 198, 51, 100, 7 };
    uint8_t other[GEO_ADDR_LEN] = { 203, 0, 113, 1 };
    struct ftp_expectation e = { .created_usec = 1000, .control_flow_id = 42, .ip_version = 4,
                                 .listen_port = 50000 };
    memcpy(e.listen_addr, server, 16);
    memcpy(e.client_addr, client, 16);
    memcpy(e.server_addr, server, 16);
    ftp_expect_add(&table, &e);
    ftp_expect_set_command(&table, 42, FTP_CMD_STOR);
    int slot = ftp_expect_match(&table, 4, client, server, 50000, 2000, 600000000);
    CHECK(slot >= 0);
    if (slot >= 0)
        CHECK(table.slot[slot].command == FTP_CMD_STOR);
    CHECK(ftp_expect_match(&table, 4, client, server, 50001, 2000, 600000000) < 0); /* wrong port */
    CHECK(ftp_expect_match(&table, 4, other, other, 50000, 2000, 600000000) < 0);   /* stranger */
    /* Too old: dropped. */
    CHECK(ftp_expect_match(&table, 4, client, server, 50000, 1000 + 600000001, 600000000) < 0);
    CHECK_EQ_U(table.live, 0);
}

UNIT_TEST(test_http_post_content_length)
{
    struct http_parser p;
    http_parser_init(&p, 16384);
    const char *req = "POST /up HTTP/1.1\r\nHost: Example.COM:8080\r\nContent-Length: 11\r\n\r\nhello world";
    CHECK(http_looks_like_request((const uint8_t *)req, strlen(req)));
    http_parser_feed(&p, (const uint8_t *)req, strlen(req));
    CHECK_EQ_U(p.requests, 1);
    CHECK_EQ_U(p.upload_requests, 1);
    CHECK_EQ_U(p.upload_body_bytes, 11);
    CHECK_STR(p.host, "example.com");
    CHECK_EQ_U(p.state, HTTP_STATE_REQUEST_LINE);
}

UNIT_TEST(test_http_chunked)
{
    struct http_parser p;
    http_parser_init(&p, 16384);
    const char *req = "PUT /f HTTP/1.1\r\nHost: [2001:db8::1]:80\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    http_parser_feed(&p, (const uint8_t *)req, strlen(req));
    CHECK_EQ_U(p.upload_requests, 1);
    CHECK_EQ_U(p.upload_body_bytes, 11);
    CHECK_STR(p.host, "2001:db8::1");
    CHECK_EQ_U(p.state, HTTP_STATE_REQUEST_LINE);
}

UNIT_TEST(test_http_pipelined)
{
    struct http_parser p;
    http_parser_init(&p, 16384);
    const char *req = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"
                      "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                      "BITS_POST /y HTTP/1.1\r\nContent-Length: 2\r\n\r\nde"
                      "GET /z HTTP/1.1\r\nContent-Length: 4\r\n\r\nwxyz";
    http_parser_feed(&p, (const uint8_t *)req, strlen(req));
    CHECK_EQ_U(p.requests, 4);
    CHECK_EQ_U(p.upload_requests, 2);
    CHECK_EQ_U(p.upload_body_bytes, 5);          /* a GET's body is not an upload */
    CHECK_STR(p.host, "a.example");
}

UNIT_TEST(test_http_partial_lines)
{
    /* Byte by byte: lines split across packets anywhere. */
    struct http_parser p;
    http_parser_init(&p, 16384);
    const char *req = "POST /up HTTP/1.1\r\nContent-Length: 1000\r\n\r\n";
    for (size_t i = 0; i < strlen(req); i++)
        http_parser_feed(&p, (const uint8_t *)req + i, 1);
    uint8_t body[600];
    memset(body, 'A', sizeof(body));
    http_parser_feed(&p, body, 400);
    CHECK_EQ_U(p.state, HTTP_STATE_BODY);
    http_parser_feed(&p, body, 600);
    CHECK_EQ_U(p.upload_body_bytes, 1000);
    CHECK_EQ_U(p.state, HTTP_STATE_REQUEST_LINE);
}

UNIT_TEST(test_http_snapped_body)
{
    /* A small snaplen: headers captured, most body bytes not. */
    struct http_parser p;
    http_parser_init(&p, 16384);
    const char *req = "POST /up HTTP/1.1\r\nContent-Length: 3000\r\n\r\nabc";
    http_parser_feed(&p, (const uint8_t *)req, strlen(req));
    http_parser_skip(&p, 1397);                  /* the rest of that segment */
    http_parser_skip(&p, 1400);
    http_parser_feed(&p, (const uint8_t *)"zz", 2);
    http_parser_skip(&p, 198);
    CHECK_EQ_U(p.upload_body_bytes, 3000);
    CHECK_EQ_U(p.state, HTTP_STATE_REQUEST_LINE);
    http_parser_skip(&p, 10);                    /* a cut request line: lost */
    CHECK_EQ_U(p.state, HTTP_STATE_STOPPED);

    /* Headers cut by the snaplen: the upload request still counts, its body is unknown. */
    http_parser_init(&p, 16384);
    const char *cut = "PUT /dav/x HTTP/1.1\r\nHost: dav.exam";
    http_parser_feed(&p, (const uint8_t *)cut, strlen(cut));
    http_parser_skip(&p, 1200);
    CHECK_EQ_U(p.upload_requests, 1);
    CHECK_EQ_U(p.upload_body_bytes, 0);
    CHECK_EQ_U(p.state, HTTP_STATE_STOPPED);
}

UNIT_TEST(test_http_not_http_and_budget)
{
    struct http_parser p;
    http_parser_init(&p, 16384);
    const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, '\n' };
    CHECK(!http_looks_like_request(tls, sizeof(tls)));
    http_parser_feed(&p, tls, sizeof(tls));
    CHECK_EQ_U(p.state, HTTP_STATE_STOPPED);
    CHECK_EQ_U(p.requests, 0);
    CHECK(!http_looks_like_request((const uint8_t *)"POSTX /", 7));

    /* A tiny budget: headers beyond it are not read. */
    http_parser_init(&p, 30);
    const char *req = "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello";
    http_parser_feed(&p, (const uint8_t *)req, strlen(req));
    CHECK_EQ_U(p.state, HTTP_STATE_STOPPED);
    CHECK_EQ_U(p.requests, 1);
    CHECK_EQ_U(p.upload_body_bytes, 0);

    /* Lost sync: garbage where a request line should be. */
    http_parser_init(&p, 16384);
    const char *desync = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGARBAGE\r\n";
    http_parser_feed(&p, (const uint8_t *)desync, strlen(desync));
    CHECK_EQ_U(p.state, HTTP_STATE_STOPPED);
    CHECK_EQ_U(p.upload_body_bytes, 2);
}

UNIT_TEST(test_cloud_suffixes)
{
    CHECK_STR(cloud_storage_service("mega.nz", NULL, NULL), "MEGA");
    CHECK_STR(cloud_storage_service("G.API.MEGA.CO.NZ", NULL, NULL), "MEGA");
    CHECK_STR(cloud_storage_service("content.dropboxapi.com", NULL, NULL), "Dropbox");
    CHECK_STR(cloud_storage_service("mybucket.s3.amazonaws.com", NULL, NULL), "Amazon S3");
    CHECK_STR(cloud_storage_service("s3.eu-west-1.amazonaws.com", NULL, NULL), "Amazon S3");
    CHECK_STR(cloud_storage_service("bucket.s3-us-west-2.amazonaws.com", NULL, NULL), "Amazon S3");
    CHECK(cloud_storage_service("ec2.us-east-1.amazonaws.com", NULL, NULL) == NULL);
    CHECK(cloud_storage_service("notmega.nz", NULL, NULL) == NULL);       /* label boundary */
    CHECK(cloud_storage_service("www.example.com", "TLS", NULL) == NULL);
    CHECK_STR(cloud_storage_service("", "GoogleDrive", NULL), "Google Drive");
    CHECK_STR(cloud_storage_service(NULL, "MS_OneDrive", NULL), "OneDrive");
    /* Shard hosts collapse to one destination; buckets and tenants do not. */
    const char *site = NULL;
    CHECK_STR(cloud_storage_service("gfs270n105.userstorage.mega.co.nz", NULL, &site), "MEGA");
    CHECK_STR(site, "mega.co.nz");
    CHECK_STR(cloud_storage_service("mybucket.s3.amazonaws.com", NULL, &site), "Amazon S3");
    CHECK(site == NULL);
    CHECK_STR(cloud_storage_service("contoso-my.sharepoint.com", NULL, &site), "SharePoint");
    CHECK(site == NULL);
}

/* Hostile bytes: random and near-valid input never crashes or reads out of bounds (run
 * under make SANITIZER=address). */
UNIT_TEST(test_parsers_random_input)
{
    uint32_t seed = 12345;
    uint8_t buf[512];
    static const char *const seeds[] = {
        "227 Entering Passive Mode (", "229 (|||", "PORT ", "EPRT |2|", "POST / HTTP/1.1\r\n",
        "Content-Length: ", "Transfer-Encoding: chunked\r\n\r\n", "ffffffffffffffffffff\r\n",
    };
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        const char *prefix = seeds[round % 8];
        size_t prefix_len = strlen(prefix);
        memcpy(buf, prefix, prefix_len);
        len = prefix_len;
        size_t extra = (seed = seed * 1103515245u + 12345u) % 200;
        for (size_t i = 0; i < extra && len < sizeof(buf); i++) {
            seed = seed * 1103515245u + 12345u;
            static const char alphabet[] = "0123456789,|()-: \r\nABCDEFabcdefPOSTHTP/.;";
            buf[len++] = (seed >> 16) & 1 ? (uint8_t)(seed >> 8) : (uint8_t)alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
        }
        struct ftp_endpoint e;
        ftp_parse_reply((const char *)buf, len, &e);
        ftp_parse_command((const char *)buf, len, &e);
        struct http_parser p;
        http_parser_init(&p, 16384);
        http_parser_feed(&p, (const uint8_t *)"POST / HTTP/1.1\r\n", 17);
        http_parser_feed(&p, buf, len);
        http_parser_feed(&p, buf, len / 2);
        struct ftp_line line = { 0 };
        struct lines got = { 0 };
        ftp_line_feed(&line, buf, len, collect_line, &got);
    }
    CHECK(1);
}

UNIT_MAIN("detect_protocols",
          UNIT_CASE(test_ftp_reply_pasv), UNIT_CASE(test_ftp_reply_epsv), UNIT_CASE(test_ftp_commands),
          UNIT_CASE(test_ftp_lines_across_packets), UNIT_CASE(test_ftp_expectations),
          UNIT_CASE(test_http_post_content_length), UNIT_CASE(test_http_chunked),
          UNIT_CASE(test_http_pipelined), UNIT_CASE(test_http_partial_lines),
          UNIT_CASE(test_http_snapped_body),
          UNIT_CASE(test_http_not_http_and_budget), UNIT_CASE(test_cloud_suffixes),
          UNIT_CASE(test_parsers_random_input))
