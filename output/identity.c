/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/identity.c: what names an event across every run and every sensor. The run id is a
 * random UUID (or one given with --run-id); each event_id is the name-based UUID (RFC 9562
 * section 5.5, SHA-1) of the event's own counters under that run id, so ids never repeat
 * between runs or sensors, yet the same run id replays to the same ids (golden tests). The
 * Community ID v1 (Corelight's spec, as Zeek and Suricata write it) names the connection
 * itself, so an analyst can pivot to the Zeek conn.log or Suricata EVE records of the flow.
 */
#include "output_internal.h"

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define UUID_BYTES 16

static void uuid_set_version(uint8_t uuid[UUID_BYTES], unsigned version)
{
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | (version << 4));
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* variant 10: RFC 9562 */
}

static void uuid_format(const uint8_t uuid[UUID_BYTES], char *out, size_t out_len)
{
    snprintf(out, out_len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8],
             uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The 8-4-4-4-12 hex form, nothing before or after. */
static bool uuid_parse(const char *text, uint8_t uuid[UUID_BYTES])
{
    static const int dash_at[] = { 8, 13, 18, 23 };
    if (strlen(text) != 36)
        return false;
    for (size_t i = 0; i < sizeof(dash_at) / sizeof(dash_at[0]); i++)
        if (text[dash_at[i]] != '-')
            return false;
    size_t byte = 0;
    for (size_t i = 0; i < 36 && byte < UUID_BYTES; i++) {
        if (text[i] == '-')
            continue;
        int high = hex_value(text[i]), low = hex_value(text[i + 1]);
        if (high < 0 || low < 0)
            return false;
        uuid[byte++] = (uint8_t)(high << 4 | low);
        i++;
    }
    return byte == UUID_BYTES;
}

/* The name goes into JSON, CEF, syslog and Prometheus labels: printable UTF-8 only. */
static bool sensor_name_valid(const char *name, size_t max_len)
{
    size_t len = strlen(name);
    if (len == 0 || len > max_len)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0';) {
        size_t n = output_utf8_length(p);
        if (n == 0 || *p < 0x20 || *p == 0x7f)
            return false;
        p += n;
    }
    return true;
}

bool event_identity_init(struct event_identity *identity, const char *sensor_name,
                         const char *run_id, char *err, size_t err_len)
{
    memset(identity, 0, sizeof(*identity));
    if (sensor_name == NULL) {
        if (gethostname(identity->sensor, sizeof(identity->sensor) - 1) != 0 ||
            identity->sensor[0] == '\0')
            snprintf(identity->sensor, sizeof(identity->sensor), "exflow");
    } else if (!sensor_name_valid(sensor_name, sizeof(identity->sensor) - 1)) {
        snprintf(err, err_len, "--sensor-name: must be 1 to %zu bytes of UTF-8 text, no control "
                 "characters", sizeof(identity->sensor) - 1);
        return false;
    } else {
        snprintf(identity->sensor, sizeof(identity->sensor), "%s", sensor_name);
    }

    if (run_id != NULL) {
        if (!uuid_parse(run_id, identity->run_id)) {
            snprintf(err, err_len, "--run-id %s: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                     run_id);
            return false;
        }
    } else {
        /* getrandom blocks only until the kernel's pool is first seeded, early at boot. */
        if (getrandom(identity->run_id, UUID_BYTES, 0) != UUID_BYTES) {
            snprintf(err, err_len, "no random run id: getrandom failed");
            return false;
        }
        uuid_set_version(identity->run_id, 4);
    }
    uuid_format(identity->run_id, identity->run_id_text, sizeof(identity->run_id_text));
    return true;
}

void event_id_format(const struct event_identity *identity, const char *name, char *out,
                     size_t out_len)
{
    uint8_t digest[SHA1_DIGEST_SIZE];
    struct sha1_ctx ctx;
    sha1_init(&ctx);
    sha1_update(&ctx, UUID_BYTES, identity->run_id);
    sha1_update(&ctx, strlen(name), (const uint8_t *)name);
    sha1_digest(&ctx, sizeof(digest), digest);
    uuid_set_version(digest, 5);
    uuid_format(digest, out, out_len);
}

/* Zeek's ICMP4_counterpart / ICMP6_counterpart: request and reply types that form one
 * two-way "connection". -1: the type is one-way. */
static int icmp_counterpart(uint8_t proto, uint8_t type)
{
    static const uint8_t v4[][2] = {
        { 8, 0 }, { 0, 8 }, { 13, 14 }, { 14, 13 }, { 15, 16 }, { 16, 15 }, { 10, 9 },
        { 17, 18 }, { 18, 17 },
    };
    static const uint8_t v6[][2] = {
        { 128, 129 }, { 129, 128 }, { 133, 134 }, { 134, 133 }, { 135, 136 }, { 136, 135 },
        { 130, 131 }, { 131, 130 }, { 139, 140 }, { 140, 139 }, { 144, 145 }, { 145, 144 },
    };
    const uint8_t (*table)[2] = proto == 1 ? v4 : v6;
    size_t count = proto == 1 ? sizeof(v4) / sizeof(v4[0]) : sizeof(v6) / sizeof(v6[0]);
    for (size_t i = 0; i < count; i++)
        if (table[i][0] == type)
            return table[i][1];
    return -1;
}

/* Address a, then port a, orders before b: the spec's canonical direction. */
static bool endpoint_less(const uint8_t *a, uint16_t port_a, const uint8_t *b, uint16_t port_b,
                          size_t addr_len)
{
    int c = memcmp(a, b, addr_len);
    return c < 0 || (c == 0 && port_a < port_b);
}

static void put_be16(uint8_t *out, uint16_t value)
{
    out[0] = (uint8_t)(value >> 8);
    out[1] = (uint8_t)value;
}

size_t community_id_v1(char *out, size_t out_len, uint16_t seed, int ip_version,
                       const uint8_t *src_addr, const uint8_t *dest_addr, uint8_t proto,
                       uint16_t src_port, uint16_t dest_port)
{
    size_t addr_len = ip_version == 4 ? 4 : 16;
    bool has_ports = proto == 6 || proto == 17 || proto == 132 || proto == 1 || proto == 58;
    bool one_way = false;
    if (proto == 1 || proto == 58) {
        /* ICMP: the spec hashes type and code in place of ports; a request/reply pair maps to
         * (type, counterpart type) so both directions give one id. */
        int counterpart = icmp_counterpart(proto, (uint8_t)src_port);
        if (counterpart < 0)
            one_way = true;
        else
            dest_port = (uint16_t)counterpart;
    }
    if (!has_ports)
        src_port = dest_port = 0;
    if (!one_way && !endpoint_less(src_addr, src_port, dest_addr, dest_port, addr_len)) {
        const uint8_t *addr = src_addr;
        src_addr = dest_addr;
        dest_addr = addr;
        uint16_t port = src_port;
        src_port = dest_port;
        dest_port = port;
    }

    /* seed(2) saddr daddr proto(1) pad(1) [sport(2) dport(2)], all in network order. */
    uint8_t input[2 + 16 + 16 + 2 + 4];
    size_t len = 0;
    put_be16(input, seed);
    len += 2;
    memcpy(input + len, src_addr, addr_len);
    len += addr_len;
    memcpy(input + len, dest_addr, addr_len);
    len += addr_len;
    input[len++] = proto;
    input[len++] = 0;
    if (has_ports) {
        put_be16(input + len, src_port);
        put_be16(input + len + 2, dest_port);
        len += 4;
    }
    uint8_t digest[SHA1_DIGEST_SIZE];
    struct sha1_ctx ctx;
    sha1_init(&ctx);
    sha1_update(&ctx, len, input);
    sha1_digest(&ctx, sizeof(digest), digest);

    size_t need = 2 + BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1;
    if (out_len < need)
        return 0;
    memcpy(out, "1:", 2);
    base64_encode_raw(out + 2, sizeof(digest), digest);
    out[need - 1] = '\0';
    return need - 1;
}
