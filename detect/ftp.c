/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * FTP control channel (RFC 959, RFC 2428): the client's transfer commands and the data
 * channel each one uses, so a later data connection is known to carry STOR (upload) or
 * RETR (download) bytes, and in which direction.
 *
 *   passive (PASV 227 / EPSV 229): the client connects to the server's announced port;
 *   active  (PORT / EPRT):         the server connects from port 20 to the client's port,
 *                                  so on an upload the bytes come from the flow's responder.
 */
#include "detect_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

static const char *const command_names[] = {
    [FTP_CMD_NONE] = "", [FTP_CMD_OTHER] = "other", [FTP_CMD_STOR] = "STOR",
    [FTP_CMD_STOU] = "STOU", [FTP_CMD_APPE] = "APPE", [FTP_CMD_RETR] = "RETR",
    [FTP_CMD_PORT] = "PORT", [FTP_CMD_EPRT] = "EPRT", [FTP_CMD_PASV] = "PASV",
    [FTP_CMD_EPSV] = "EPSV",
};

/* The verb as FTP spells it ("" for none). */
const char *ftp_command_name(enum ftp_command command)
{
    if ((unsigned)command >= sizeof(command_names) / sizeof(command_names[0]))
        return "";
    return command_names[command];
}

/* Reads a decimal number <= max at *cursor; moves the cursor past it. */
static bool read_number(const char **cursor, const char *end, unsigned max, unsigned *out)
{
    const char *p = *cursor;
    unsigned value = 0;
    int digits = 0;
    while (p < end && isdigit((unsigned char)*p) && digits < 6) {
        value = value * 10 + (unsigned)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || value > max || (p < end && isdigit((unsigned char)*p)))
        return false;
    *cursor = p;
    *out = value;
    return true;
}

/* "h1,h2,h3,h4,p1,p2" (RFC 959 section 4.1.2, PORT; also the 227 reply). */
static bool parse_host_port(const char *p, const char *end, struct ftp_endpoint *endpoint)
{
    unsigned v[6];
    for (int i = 0; i < 6; i++) {
        if (!read_number(&p, end, 255, &v[i]))
            return false;
        if (i < 5) {
            if (p >= end || *p != ',')
                return false;
            p++;
        }
    }
    memset(endpoint, 0, sizeof(*endpoint));
    endpoint->ip_version = 4;
    for (int i = 0; i < 4; i++)
        endpoint->addr[i] = (uint8_t)v[i];
    endpoint->port = (uint16_t)(v[4] * 256 + v[5]);
    return endpoint->port != 0;
}

/* EPRT |1|132.235.1.2|6275| or |2|::1|6275| (RFC 2428 section 2): any delimiter. */
static bool parse_eprt(const char *p, const char *end, struct ftp_endpoint *endpoint)
{
    if (end - p < 7)
        return false;
    char delim = *p++;
    if (delim < 33 || delim > 126)
        return false;
    unsigned family;
    if (!read_number(&p, end, 2, &family) || p >= end || *p++ != delim)
        return false;
    const char *addr_start = p;
    while (p < end && *p != delim)
        p++;
    if (p >= end)
        return false;
    char addr_text[64];
    size_t addr_len = (size_t)(p - addr_start);
    if (addr_len == 0 || addr_len >= sizeof(addr_text))
        return false;
    memcpy(addr_text, addr_start, addr_len);
    addr_text[addr_len] = '\0';
    p++;
    unsigned port;
    if (!read_number(&p, end, 65535, &port) || p >= end || *p != delim || port == 0)
        return false;
    memset(endpoint, 0, sizeof(*endpoint));
    if (family == 1 && inet_pton(AF_INET, addr_text, endpoint->addr) == 1)
        endpoint->ip_version = 4;
    else if (family == 2 && inet_pton(AF_INET6, addr_text, endpoint->addr) == 1)
        endpoint->ip_version = 6;
    else
        return false;
    endpoint->port = (uint16_t)port;
    return true;
}

/* Recognises the verbs that matter for data channels (RFC 959 section 4.1). */
enum ftp_command ftp_parse_command(const char *line, size_t len, struct ftp_endpoint *endpoint)
{
    static const struct { const char *name; enum ftp_command command; } verbs[] = {
        { "STOR", FTP_CMD_STOR }, { "STOU", FTP_CMD_STOU }, { "APPE", FTP_CMD_APPE },
        { "RETR", FTP_CMD_RETR }, { "PORT", FTP_CMD_PORT }, { "EPRT", FTP_CMD_EPRT },
        { "PASV", FTP_CMD_PASV }, { "EPSV", FTP_CMD_EPSV },
    };
    const char *end = line + len;
    size_t verb_len = 0;
    while (verb_len < len && line[verb_len] != ' ')
        verb_len++;
    if (verb_len != 4)
        return len ? FTP_CMD_OTHER : FTP_CMD_NONE;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strncasecmp(line, verbs[i].name, 4) != 0)
            continue;
        const char *arg = line + verb_len;
        while (arg < end && *arg == ' ')
            arg++;
        if (verbs[i].command == FTP_CMD_PORT)
            return parse_host_port(arg, end, endpoint) ? FTP_CMD_PORT : FTP_CMD_OTHER;
        if (verbs[i].command == FTP_CMD_EPRT)
            return parse_eprt(arg, end, endpoint) ? FTP_CMD_EPRT : FTP_CMD_OTHER;
        return verbs[i].command;
    }
    return FTP_CMD_OTHER;
}

/* 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2) -- the parentheses are customary, not
 * required (RFC 1123 section 4.1.2.6), so take the first digits after the code.
 * 229 Entering Extended Passive Mode (|||port|) (RFC 2428 section 3). */
bool ftp_parse_reply(const char *line, size_t len, struct ftp_endpoint *endpoint)
{
    const char *end = line + len;
    if (len < 5 || line[3] != ' ')
        return false;
    if (strncmp(line, "227", 3) == 0) {
        const char *p = line + 4;
        while (p < end && !isdigit((unsigned char)*p))
            p++;
        return parse_host_port(p, end, endpoint);
    }
    if (strncmp(line, "229", 3) == 0) {
        const char *p = memchr(line + 4, '(', len - 4);
        if (p == NULL || end - p < 6)
            return false;
        p++;
        char delim = *p;
        if (delim < 33 || delim > 126 || p[1] != delim || p[2] != delim)
            return false;
        p += 3;
        unsigned port;
        if (!read_number(&p, end, 65535, &port) || p >= end || *p != delim || port == 0)
            return false;
        memset(endpoint, 0, sizeof(*endpoint));
        endpoint->port = (uint16_t)port;
        return true;
    }
    return false;
}

/* Splits a byte stream into CRLF-terminated lines across packets. */
void ftp_line_feed(struct ftp_line *line, const uint8_t *data, size_t len,
                   void (*on_line)(void *user, const char *text, size_t text_len), void *user)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (c == '\n') {
            size_t n = line->len;
            if (n > 0 && line->text[n - 1] == '\r')
                n--;
            line->text[n] = '\0';
            on_line(user, line->text, n);
            line->len = 0;
            line->overflow = false;
            continue;
        }
        /* Long lines keep their start: verbs and reply codes are at the front. */
        if (line->len < FTP_LINE_MAX - 1)
            line->text[line->len++] = (char)c;
        else
            line->overflow = true;
    }
}

/* Stores an announced data channel in the next slot (the ring overwrites the oldest). */
uint32_t ftp_expect_add(struct ftp_expectations *table, const struct ftp_expectation *expectation)
{
    uint32_t index = table->next;
    table->next = (table->next + 1) % FTP_EXPECT_MAX;
    if (table->slot[index].created_usec == 0)
        table->live++;
    table->slot[index] = *expectation;
    table->slot[index].generation = ++table->generation;
    return index;
}

/* Address equality for the given IP version. */
static bool addr_equal(int ip_version, const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, ip_version == 4 ? 4 : 16) == 0;
}

/* The newest live expectation this flow answers; expires old ones on the way. */
int ftp_expect_match(struct ftp_expectations *table, int ip_version,
                     const uint8_t orig_addr[GEO_ADDR_LEN], const uint8_t resp_addr[GEO_ADDR_LEN],
                     uint16_t resp_port, uint64_t now_usec, uint64_t max_age_usec)
{
    if (table->live == 0)
        return -1;
    int best = -1;
    for (int i = 0; i < FTP_EXPECT_MAX; i++) {
        struct ftp_expectation *e = &table->slot[i];
        if (e->created_usec == 0)
            continue;
        if (now_usec > e->created_usec + max_age_usec) {
            e->created_usec = 0;
            table->live--;
            continue;
        }
        if (e->listen_port != resp_port || e->ip_version != ip_version)
            continue;
        /* The listener announced its own address; behind NAT it may have announced a
         * private one, so the peer being the control channel's other end also counts. */
        const uint8_t *peer = e->active ? e->server_addr : e->client_addr;
        if (!addr_equal(ip_version, e->listen_addr, resp_addr) &&
            !addr_equal(ip_version, peer, orig_addr))
            continue;
        /* A data channel to or from a third host (FXP, a separate data server) is another
         * host pair: the pipeline may see it on another worker than its control channel. */
        if (table->same_hosts_only &&
            !(addr_equal(ip_version, e->client_addr, orig_addr) && addr_equal(ip_version, e->server_addr, resp_addr)) &&
            !(addr_equal(ip_version, e->client_addr, resp_addr) && addr_equal(ip_version, e->server_addr, orig_addr)))
            continue;
        if (best < 0 || e->generation > table->slot[best].generation)
            best = i;
    }
    return best;
}

/* Gives the control flow's newest expectation its transfer command. */
void ftp_expect_set_command(struct ftp_expectations *table, uint64_t control_flow_id,
                            enum ftp_command command)
{
    int best = -1;
    for (int i = 0; i < FTP_EXPECT_MAX; i++) {
        const struct ftp_expectation *e = &table->slot[i];
        if (e->created_usec == 0 || e->control_flow_id != control_flow_id)
            continue;
        if (best < 0 || e->generation > table->slot[best].generation)
            best = i;
    }
    if (best >= 0)
        table->slot[best].command = command;
}
