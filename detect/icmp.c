/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * ICMP tunnel evidence. A ping sends the same fixed payload every time: iputils a
 * timestamp then bytes 0x10, 0x11, ...; Windows "abcdefghijklmnopqrstuvwabcdefghi"; `ping
 * -p` a repeated pattern. A tunnel (ptunnel-ng, icmpsh, hans) sends changing data of
 * changing sizes. So echoes whose payload after the timestamp is neither a counting
 * pattern nor the same as the flow's first echo carry something.
 */
#include "covert.h"
#include "detect_internal.h"

#include <string.h>

#include "../common/tunables.h"

#define ICMP_TIMESTAMP_LEN 16    /* iputils puts a struct timeval (16 bytes on 64-bit) first */
#define ICMP_ENTROPY_SAMPLE 256  /* payload bytes whose entropy is measured per echo */

/* RFC 792 / RFC 4443: echo request and reply types. */
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129

/* Counting bytes (iputils, BSD) or the Windows alphabet: nearly every next byte is the
 * previous one plus one. */
bool icmp_payload_is_ping_pattern(const uint8_t *payload, size_t len)
{
    if (len < 8)
        return len == 0;
    size_t steps = 0;
    for (size_t i = 1; i < len; i++)
        if ((uint8_t)(payload[i] - payload[i - 1]) == 1)
            steps++;
    return steps * 10 >= (len - 1) * 8;
}

/* Payload sizes the common ping tools send by default (Linux/BSD 56, Windows 32, some 48
 * or 64), and none. */
static bool icmp_usual_size(size_t len)
{
    return len == 0 || len == 32 || len == 48 || len == 56 || len == 64;
}

static uint64_t icmp_hash(const uint8_t *data, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The ICMP type byte, read back from the header the decoder skipped: it lies in the
 * captured IP bytes just before the payload. -1 when it cannot be read safely. */
static int icmp_type(const struct packet *pkt)
{
    if (pkt->l3 == NULL || pkt->payload == NULL)
        return -1;
    const uint8_t *header = pkt->payload - 8;
    if (pkt->payload < pkt->l3 + 8 || pkt->payload > pkt->l3 + pkt->l3_len)
        return -1;
    return header[0];
}

/* One ICMP packet of the flow: echoes are measured, everything else ignored. */
void icmp_on_packet(struct icmp_flow *icmp, const struct packet *pkt, enum flow_direction direction)
{
    int type = icmp_type(pkt);
    if (type != ICMP_ECHO_REQUEST && type != ICMP_ECHO_REPLY && type != ICMP6_ECHO_REQUEST &&
        type != ICMP6_ECHO_REPLY)
        return;
    icmp->echo_packets[direction]++;
    icmp->echo_bytes[direction] += pkt->payload_wire_len;
    if (!icmp_usual_size(pkt->payload_wire_len))
        icmp->odd_size_packets++;
    size_t len = pkt->payload_len;
    const uint8_t *tail = pkt->payload;
    size_t tail_len = len;
    if (len > ICMP_TIMESTAMP_LEN + 8) {
        tail += ICMP_TIMESTAMP_LEN;
        tail_len -= ICMP_TIMESTAMP_LEN;
    }
    uint64_t h = icmp_hash(tail, tail_len);
    if (!icmp->have_first_tail) {
        icmp->first_tail_hash = h;
        icmp->have_first_tail = true;
    }
    if (icmp_payload_is_ping_pattern(tail, tail_len) || h == icmp->first_tail_hash)
        icmp->pattern_packets++;
    if (len > 0) {
        icmp->sampled_packets++;
        icmp->entropy_sum += covert_entropy(pkt->payload, len < ICMP_ENTROPY_SAMPLE ? len
                                                                : ICMP_ENTROPY_SAMPLE);
    }
}

/* The verdict on a flow: true when its echoes carry data rather than a ping's pattern. */
bool icmp_tunnel_judge(const struct icmp_flow *icmp, double *pattern_share, double *entropy)
{
    uint32_t packets = icmp->echo_packets[0] + icmp->echo_packets[1];
    uint64_t bytes = icmp->echo_bytes[0] + icmp->echo_bytes[1];
    *pattern_share = packets ? (double)icmp->pattern_packets / packets : 1.0;
    *entropy = icmp->sampled_packets ? icmp->entropy_sum / icmp->sampled_packets : 0.0;
    return bytes >= ICMP_TUNNEL_MIN_BYTES && *pattern_share <= ICMP_TUNNEL_MAX_PATTERN_SHARE;
}
