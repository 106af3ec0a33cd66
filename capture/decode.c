/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * capture/decode.c: turns one captured frame into a struct packet.
 *
 * One decoder per layer, each reading through a bounds-checked cursor. A link decoder
 * consumes its header and names the next protocol as an Ethertype; a loop then walks
 * VLAN, MPLS and PPPoE layers until it reaches IPv4 or IPv6, and the IP decoders hand the
 * rest to the transport decoder. A malformed frame returns its reason and nothing else:
 * the caller counts it. No header struct is ever cast onto the packet bytes.
 */
#include "capture.h"

#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

/* Link layers (VLAN tags, MPLS labels, PPPoE) walked before a frame counts as
 * too_many_layers. Real networks stack 2-4; Suricata's decoder.max-layers default is 16. */
#define DECODE_MAX_LAYERS 16

/* IPv6 extension headers walked before the chain counts as bad_ipv6_extension. Real
 * traffic carries 0-3; long chains are an evasion trick (RFC 7112) and a CPU sink. */
#define DECODE_MAX_IPV6_EXTENSIONS 8

/* LINKTYPE_RAW as written in pcap files. libpcap maps it to DLT_RAW, which is 12 here and
 * 14 on OpenBSD; files written on OpenBSD may carry 14 through unmapped. */
#define LINKTYPE_RAW_FILE    101
#define DLT_RAW_LINUX        12
#define DLT_RAW_OPENBSD      14

/* Ethertypes (IEEE registry) that the network loop walks. */
#define ETHERTYPE_IPV4          0x0800
#define ETHERTYPE_IPV6          0x86dd
#define ETHERTYPE_VLAN          0x8100 /* 802.1Q */
#define ETHERTYPE_QINQ          0x88a8 /* 802.1ad service tag */
#define ETHERTYPE_QINQ_OLD      0x9100 /* pre-standard QinQ, still seen on carrier gear */
#define ETHERTYPE_MPLS_UNICAST  0x8847
#define ETHERTYPE_MPLS_MULTICAST 0x8848
#define ETHERTYPE_PPPOE_SESSION 0x8864
#define ETHERTYPE_VNTAG         0x8926 /* Cisco VN-Tag (802.1Qbh) */
#define ETHERTYPE_PBB           0x88e7 /* 802.1ah backbone I-TAG, a customer frame follows */
#define ETHERTYPE_FABRICPATH    0x8903 /* Cisco FabricPath, a customer frame follows */
#define ETHERTYPE_MIN           0x0600 /* below this the field is an 802.3 length (LLC follows) */

/* PPP protocol numbers (RFC 1332, RFC 5072). */
#define PPP_PROTOCOL_IPV4 0x0021
#define PPP_PROTOCOL_IPV6 0x0057

/* BSD address families seen in DLT_NULL/DLT_LOOP headers: AF_INET6 differs per BSD. */
#define BSD_AF_INET          2
#define BSD_AF_INET6_NETBSD  24 /* NetBSD, OpenBSD, BSD/OS */
#define BSD_AF_INET6_FREEBSD 28
#define BSD_AF_INET6_DARWIN  30

#define IPV4_HEADER_MIN 20
#define IPV6_HEADER_LEN 40
#define TCP_HEADER_MIN  20
#define UDP_HEADER_LEN  8
#define ICMP_HEADER_LEN 8   /* type, code, checksum and the 4-byte rest-of-header (RFC 792) */

/* IPv6 extension header numbers (RFC 8200 section 4, RFC 4302, RFC 6275). */
#define IPV6_EXT_HOP_BY_HOP  0
#define IPV6_EXT_ROUTING     43
#define IPV6_EXT_FRAGMENT    44
#define IPV6_EXT_AH          51
#define IPV6_EXT_DESTINATION 60
#define IPV6_EXT_MOBILITY    135

/* The unread part of a frame. Every read checks against end; nothing outside
 * [cur, end) is ever touched. */
struct cursor {
    const uint8_t *cur;
    const uint8_t *end;
};

struct decoder {
    struct cursor cursor;
    struct packet *packet;
    uint32_t snapped;   /* bytes the capture cut off the end of the frame */
    unsigned layers;    /* link layers walked so far */
    bool vlan_seen;     /* the outermost tag has been recorded */
};

static size_t cursor_left(const struct cursor *c)
{
    return (size_t)(c->end - c->cur);
}

static bool cursor_has(const struct cursor *c, size_t n)
{
    return cursor_left(c) >= n;
}

/* The readers below return 0 past the end. Callers test cursor_has() first to pick the
 * right reason; the check here is the backstop that makes an out-of-bounds read impossible. */
static uint8_t cursor_u8_at(const struct cursor *c, size_t offset)
{
    return cursor_has(c, offset + 1) ? c->cur[offset] : 0;
}

static uint16_t cursor_be16_at(const struct cursor *c, size_t offset)
{
    if (!cursor_has(c, offset + 2))
        return 0;
    return (uint16_t)(c->cur[offset] << 8 | c->cur[offset + 1]);
}

static uint32_t cursor_be32_at(const struct cursor *c, size_t offset)
{
    if (!cursor_has(c, offset + 4))
        return 0;
    return (uint32_t)c->cur[offset] << 24 | (uint32_t)c->cur[offset + 1] << 16 |
           (uint32_t)c->cur[offset + 2] << 8 | (uint32_t)c->cur[offset + 3];
}

static void cursor_copy_at(const struct cursor *c, size_t offset, uint8_t *dst, size_t n)
{
    if (cursor_has(c, offset + n))
        memcpy(dst, c->cur + offset, n);
}

static bool cursor_skip(struct cursor *c, size_t n)
{
    if (!cursor_has(c, n))
        return false;
    c->cur += n;
    return true;
}

/* Keeps only the first n bytes: link trailers and padding are not part of the IP packet. */
static void cursor_limit(struct cursor *c, size_t n)
{
    if (cursor_has(c, n))
        c->end = c->cur + n;
}

/* Picks IPv4 or IPv6 from the version nibble, for links that do not say (raw IP, MPLS). */
static bool ethertype_from_ip_version(const struct cursor *c, uint16_t *ethertype)
{
    switch (cursor_u8_at(c, 0) >> 4) {
    case 4: *ethertype = ETHERTYPE_IPV4; return true;
    case 6: *ethertype = ETHERTYPE_IPV6; return true;
    default: return false;
    }
}

/* PPP protocol field, possibly compressed to one byte (RFC 1661 section 6.5: an odd first
 * byte means the high byte was dropped). */
static enum decode_reason decode_ppp_protocol(struct cursor *c, uint16_t *ethertype)
{
    if (!cursor_has(c, 1))
        return DECODE_TRUNCATED_LINK;
    uint16_t protocol;
    if (cursor_u8_at(c, 0) & 1) {
        protocol = cursor_u8_at(c, 0);
        cursor_skip(c, 1);
    } else {
        if (!cursor_has(c, 2))
            return DECODE_TRUNCATED_LINK;
        protocol = cursor_be16_at(c, 0);
        cursor_skip(c, 2);
    }
    switch (protocol) {
    case PPP_PROTOCOL_IPV4: *ethertype = ETHERTYPE_IPV4; return DECODE_OK;
    case PPP_PROTOCOL_IPV6: *ethertype = ETHERTYPE_IPV6; return DECODE_OK;
    default: return DECODE_NOT_IP; /* LCP, IPCP, CHAP...: PPP's own control traffic */
    }
}

/* An 802.3 length field is followed by LLC. Only SNAP with a zero OUI (RFC 1042:
 * AA AA 03 00 00 00, then an Ethertype) carries IP; STP, CDP and the like do not. */
static enum decode_reason decode_llc(struct cursor *c, uint16_t *ethertype)
{
    if (!cursor_has(c, 8) || cursor_be32_at(c, 0) != 0xaaaa0300 || cursor_be16_at(c, 4) != 0)
        return DECODE_NOT_IP;
    *ethertype = cursor_be16_at(c, 6);
    cursor_skip(c, 8);
    return DECODE_OK;
}

/* Ethernet II header, or 802.3 with LLC. */
static enum decode_reason decode_ethernet(struct decoder *d, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    if (!cursor_has(c, 14))
        return DECODE_TRUNCATED_LINK;
    *ethertype = cursor_be16_at(c, 12);
    cursor_skip(c, 14);
    if (*ethertype < ETHERTYPE_MIN)
        return decode_llc(c, ethertype);
    return DECODE_OK;
}

/* DLT_NULL (host byte order) and DLT_LOOP (network byte order): a 4-byte address family.
 * Both orders are accepted for both, because captures travel between machines and the
 * family values are small enough that the order is never ambiguous. */
static enum decode_reason decode_bsd_loopback(struct decoder *d, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    if (!cursor_has(c, 4))
        return DECODE_TRUNCATED_LINK;
    uint32_t family = cursor_be32_at(c, 0);
    if (family > 0xffff)
        family = __builtin_bswap32(family);
    cursor_skip(c, 4);
    switch (family) {
    case BSD_AF_INET:
        *ethertype = ETHERTYPE_IPV4;
        return DECODE_OK;
    case BSD_AF_INET6_NETBSD:
    case BSD_AF_INET6_FREEBSD:
    case BSD_AF_INET6_DARWIN:
        *ethertype = ETHERTYPE_IPV6;
        return DECODE_OK;
    default:
        return DECODE_NOT_IP;
    }
}

/* Cisco HDLC: address (0x0f unicast, 0x8f broadcast), control 0, then an Ethertype
 * (SLARP and CDP are not IP). */
static enum decode_reason decode_cisco_hdlc(struct cursor *c, uint16_t *ethertype)
{
    if (!cursor_has(c, 4))
        return DECODE_TRUNCATED_LINK;
    *ethertype = cursor_be16_at(c, 2);
    cursor_skip(c, 4);
    return DECODE_OK;
}

/* DLT_PPP and DLT_PPP_SERIAL: optional HDLC address/control bytes 0xff 0x03, then the
 * PPP protocol field. Routers also write Cisco HDLC frames under these link types
 * (tcpdump and Wireshark both check for it), recognisable by their address byte. */
static enum decode_reason decode_ppp_link(struct decoder *d, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    uint8_t address = cursor_u8_at(c, 0);
    if (cursor_has(c, 2) && (address == 0x0f || address == 0x8f) && cursor_u8_at(c, 1) == 0)
        return decode_cisco_hdlc(c, ethertype);
    if (cursor_has(c, 2) && cursor_u8_at(c, 0) == 0xff && cursor_u8_at(c, 1) == 0x03)
        cursor_skip(c, 2);
    return decode_ppp_protocol(c, ethertype);
}

/* Consumes the link header of the given DLT and names the protocol that follows. */
static enum decode_reason decode_link(struct decoder *d, int linktype, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    switch (linktype) {
    case DLT_EN10MB:
        return decode_ethernet(d, ethertype);
    case DLT_LINUX_SLL:
        /* packet type, ARPHRD type, address length, 8 address bytes, protocol */
        if (!cursor_has(c, 16))
            return DECODE_TRUNCATED_LINK;
        *ethertype = cursor_be16_at(c, 14);
        cursor_skip(c, 16);
        return DECODE_OK;
    case DLT_LINUX_SLL2:
        /* protocol, reserved, ifindex, ARPHRD type, packet type, address length, 8 address bytes */
        if (!cursor_has(c, 20))
            return DECODE_TRUNCATED_LINK;
        *ethertype = cursor_be16_at(c, 0);
        cursor_skip(c, 20);
        return DECODE_OK;
    case DLT_RAW_LINUX:
    case DLT_RAW_OPENBSD:
    case LINKTYPE_RAW_FILE:
        if (!cursor_has(c, 1))
            return DECODE_TRUNCATED_IP;
        return ethertype_from_ip_version(c, ethertype) ? DECODE_OK : DECODE_BAD_IP_HEADER;
    case DLT_IPV4:
        *ethertype = ETHERTYPE_IPV4;
        return DECODE_OK;
    case DLT_IPV6:
        *ethertype = ETHERTYPE_IPV6;
        return DECODE_OK;
    case DLT_NULL:
    case DLT_LOOP:
        return decode_bsd_loopback(d, ethertype);
    case DLT_PPP:
    case DLT_PPP_SERIAL:
        return decode_ppp_link(d, ethertype);
    case DLT_C_HDLC:
        return decode_cisco_hdlc(c, ethertype);
    default:
        return DECODE_UNSUPPORTED_LINK;
    }
}

/* 802.1Q / 802.1ad tag: 2 bytes of priority, DEI and VLAN id, then the inner Ethertype. */
static enum decode_reason decode_vlan(struct decoder *d, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    if (!cursor_has(c, 4))
        return DECODE_TRUNCATED_LINK;
    if (!d->vlan_seen) {
        d->packet->vlan = cursor_be16_at(c, 0) & 0x0fff;
        d->vlan_seen = true;
    }
    *ethertype = cursor_be16_at(c, 2);
    cursor_skip(c, 4);
    return *ethertype < ETHERTYPE_MIN ? decode_llc(c, ethertype) : DECODE_OK;
}

/* VN-Tag: 4 bytes of virtual interface ids, then the inner Ethertype. */
static enum decode_reason decode_vntag(struct decoder *d, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    if (!cursor_has(c, 6))
        return DECODE_TRUNCATED_LINK;
    *ethertype = cursor_be16_at(c, 4);
    cursor_skip(c, 6);
    return DECODE_OK;
}

/* 802.1ah I-TAG: priority and service id, then the customer's whole Ethernet header. */
static enum decode_reason decode_pbb(struct decoder *d, uint16_t *ethertype)
{
    if (!cursor_skip(&d->cursor, 4))
        return DECODE_TRUNCATED_LINK;
    return decode_ethernet(d, ethertype);
}

/* Cisco FabricPath tag: 2 bytes of forwarding tag and TTL, then the customer's whole
 * Ethernet header. */
static enum decode_reason decode_fabricpath(struct decoder *d, uint16_t *ethertype)
{
    if (!cursor_skip(&d->cursor, 2))
        return DECODE_TRUNCATED_LINK;
    return decode_ethernet(d, ethertype);
}

/* MPLS label stack (RFC 3032): 4-byte entries until the bottom-of-stack bit. The payload
 * type is not signalled, so it is guessed from the first nibble as routers do: 4 or 6 is
 * IP; 0 is the pseudowire control word (RFC 4385) before an Ethernet frame. */
static enum decode_reason decode_mpls(struct decoder *d, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    for (;;) {
        if (!cursor_has(c, 4))
            return DECODE_TRUNCATED_LINK;
        bool bottom = cursor_u8_at(c, 2) & 0x01;
        cursor_skip(c, 4);
        if (bottom)
            break;
        if (++d->layers > DECODE_MAX_LAYERS)
            return DECODE_TOO_MANY_LAYERS;
    }
    if (!cursor_has(c, 1))
        return DECODE_TRUNCATED_LINK;
    if (ethertype_from_ip_version(c, ethertype))
        return DECODE_OK;
    if (cursor_u8_at(c, 0) >> 4 == 0) {
        if (!cursor_skip(c, 4))
            return DECODE_TRUNCATED_LINK;
        return decode_ethernet(d, ethertype);
    }
    return DECODE_NOT_IP;
}

/* PPPoE session stage (RFC 2516 section 5.4): version/type 0x11, code 0, session id,
 * length, then PPP. */
static enum decode_reason decode_pppoe(struct decoder *d, uint16_t *ethertype)
{
    struct cursor *c = &d->cursor;
    if (!cursor_has(c, 6))
        return DECODE_TRUNCATED_LINK;
    if (cursor_u8_at(c, 0) != 0x11 || cursor_u8_at(c, 1) != 0x00)
        return DECODE_NOT_IP;
    cursor_skip(c, 6);
    return decode_ppp_protocol(c, ethertype);
}

/* Ports, flags and payload of the transport header. wire_len is the transport bytes the
 * IP header claims, which may run past what was captured. */
static enum decode_reason decode_transport(struct decoder *d, uint32_t wire_len)
{
    struct cursor *c = &d->cursor;
    struct packet *p = d->packet;
    switch (p->proto) {
    case IPPROTO_TCP: {
        /* A TCP header that does not fit in its IP packet is cut or lies (RFC 1858's tiny
         * fragments lie this way on purpose); either way there are no trustworthy ports. */
        if (wire_len < TCP_HEADER_MIN || !cursor_has(c, TCP_HEADER_MIN))
            return DECODE_TRUNCATED_TRANSPORT;
        uint32_t header_len = (uint32_t)(cursor_u8_at(c, 12) >> 4) * 4;
        if (header_len < TCP_HEADER_MIN || header_len > wire_len || !cursor_has(c, header_len))
            return DECODE_TRUNCATED_TRANSPORT;
        p->sport = cursor_be16_at(c, 0);
        p->dport = cursor_be16_at(c, 2);
        p->tcp_flags = cursor_u8_at(c, 13);
        cursor_skip(c, header_len);
        p->payload_wire_len = wire_len - header_len;
        break;
    }
    case IPPROTO_UDP: {
        if (wire_len < UDP_HEADER_LEN || !cursor_has(c, UDP_HEADER_LEN))
            return DECODE_TRUNCATED_TRANSPORT;
        uint32_t udp_len = cursor_be16_at(c, 4);
        p->sport = cursor_be16_at(c, 0);
        p->dport = cursor_be16_at(c, 2);
        cursor_skip(c, UDP_HEADER_LEN);
        if (p->is_fragment) {
            /* The UDP length covers the whole datagram; this fragment holds only part. */
            p->payload_wire_len = wire_len - UDP_HEADER_LEN;
        } else {
            if (udp_len < UDP_HEADER_LEN || udp_len > wire_len)
                return DECODE_TRUNCATED_TRANSPORT;
            /* Bytes after the UDP length are IP padding, not payload. */
            p->payload_wire_len = udp_len - UDP_HEADER_LEN;
            cursor_limit(c, p->payload_wire_len);
        }
        break;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        /* No ports. The payload is what follows the fixed header: for echo, the data an
         * ICMP tunnel carries. A header shorter than that leaves an empty payload. */
        p->payload_wire_len = wire_len > ICMP_HEADER_LEN ? wire_len - ICMP_HEADER_LEN : 0;
        if (!cursor_skip(c, ICMP_HEADER_LEN))
            c->cur = c->end;
        break;
    default:
        /* No ports: the whole IP payload (GRE, ESP, SCTP...) counts as payload. */
        p->payload_wire_len = wire_len;
        break;
    }
    p->payload = c->cur;
    p->payload_len = (uint32_t)cursor_left(c);
    return DECODE_OK;
}

/* Bytes from the cursor to the end of the frame as it was on the wire. */
static uint64_t decoder_wire_left(const struct decoder *d)
{
    return (uint64_t)cursor_left(&d->cursor) + d->snapped;
}

/* IPv4 header (RFC 791 section 3.1). */
static enum decode_reason decode_ipv4(struct decoder *d)
{
    struct cursor *c = &d->cursor;
    struct packet *p = d->packet;
    if (!cursor_has(c, 1))
        return DECODE_TRUNCATED_IP;
    if (cursor_u8_at(c, 0) >> 4 != 4)
        return DECODE_BAD_IP_HEADER;
    if (!cursor_has(c, IPV4_HEADER_MIN))
        return DECODE_TRUNCATED_IP;
    uint32_t header_len = (uint32_t)(cursor_u8_at(c, 0) & 0x0f) * 4;
    uint64_t total_len = cursor_be16_at(c, 2);
    uint64_t wire_left = decoder_wire_left(d);
    /* XXX: a zero total length is what TCP segmentation offload leaves in outgoing
     * captures (Zeek treats it the same way); trust the frame, padding included. */
    if (total_len == 0)
        total_len = wire_left;
    /* p0f's rule: honour min(captured, total length) so Ethernet padding and etherleak
     * bytes are never payload, but a length the wire never carried is a lie. */
    if (header_len < IPV4_HEADER_MIN || total_len < header_len || total_len > wire_left)
        return DECODE_BAD_IP_HEADER;
    if (!cursor_has(c, header_len))
        return DECODE_TRUNCATED_IP;

    p->ip_version = 4;
    p->proto = cursor_u8_at(c, 9);
    cursor_copy_at(c, 12, p->src, 4);
    cursor_copy_at(c, 16, p->dst, 4);
    uint16_t fragment = cursor_be16_at(c, 6);
    cursor_limit(c, (size_t)total_len);
    p->l3 = c->cur;
    p->l3_len = (uint32_t)cursor_left(c);
    cursor_skip(c, header_len);
    /* Later fragments have no transport header; reassembly is not our job. */
    if (fragment & 0x1fff)
        return DECODE_FRAGMENT;
    p->is_fragment = (fragment & 0x2000) != 0;
    return decode_transport(d, (uint32_t)(total_len - header_len));
}

/* IPv6 header and extension header chain (RFC 8200 sections 3 and 4). */
static enum decode_reason decode_ipv6(struct decoder *d)
{
    struct cursor *c = &d->cursor;
    struct packet *p = d->packet;
    if (!cursor_has(c, 1))
        return DECODE_TRUNCATED_IP;
    if (cursor_u8_at(c, 0) >> 4 != 6)
        return DECODE_BAD_IP_HEADER;
    if (!cursor_has(c, IPV6_HEADER_LEN))
        return DECODE_TRUNCATED_IP;
    uint64_t payload_len = cursor_be16_at(c, 4);
    uint64_t wire_left = decoder_wire_left(d);
    /* XXX: zero is a jumbogram (RFC 2675) or a Linux BIG TCP / GSO capture; trust the frame
     * rather than parse the jumbo option. With nothing after the header it is exact. */
    if (payload_len == 0)
        payload_len = wire_left - IPV6_HEADER_LEN;
    if (IPV6_HEADER_LEN + payload_len > wire_left)
        return DECODE_BAD_IP_HEADER;

    p->ip_version = 6;
    cursor_copy_at(c, 8, p->src, 16);
    cursor_copy_at(c, 24, p->dst, 16);
    uint8_t next = cursor_u8_at(c, 6);
    cursor_limit(c, (size_t)(IPV6_HEADER_LEN + payload_len));
    p->l3 = c->cur;
    p->l3_len = (uint32_t)cursor_left(c);
    cursor_skip(c, IPV6_HEADER_LEN);
    uint64_t wire_len = payload_len;

    for (int count = 0;; count++) {
        uint64_t ext_len;
        switch (next) {
        case IPV6_EXT_HOP_BY_HOP:
        case IPV6_EXT_ROUTING:
        case IPV6_EXT_DESTINATION:
        case IPV6_EXT_MOBILITY:
            ext_len = ((uint64_t)cursor_u8_at(c, 1) + 1) * 8;
            break;
        case IPV6_EXT_AH:
            ext_len = ((uint64_t)cursor_u8_at(c, 1) + 2) * 4; /* RFC 4302: 4-byte units */
            break;
        case IPV6_EXT_FRAGMENT:
            ext_len = 8;
            break;
        default:
            /* Transport, ESP (encrypted from here on) or no-next-header: the chain ends. */
            p->proto = next;
            return decode_transport(d, (uint32_t)wire_len);
        }
        if (count >= DECODE_MAX_IPV6_EXTENSIONS || !cursor_has(c, 2) ||
            ext_len > wire_len || !cursor_has(c, (size_t)ext_len))
            return DECODE_BAD_IPV6_EXTENSION;
        uint8_t following = cursor_u8_at(c, 0);
        if (next == IPV6_EXT_FRAGMENT) {
            uint16_t offset_flags = cursor_be16_at(c, 2);
            p->proto = following;
            if (offset_flags & 0xfff8)
                return DECODE_FRAGMENT;
            /* An atomic fragment (offset 0, no more fragments; RFC 6946) is a whole packet. */
            p->is_fragment = (offset_flags & 0x0001) != 0;
        }
        cursor_skip(c, (size_t)ext_len);
        wire_len -= ext_len;
        next = following;
    }
}

/* Walks link layers stacked inside the frame until an IP header, then decodes it. */
static enum decode_reason decode_network(struct decoder *d, uint16_t ethertype)
{
    for (;;) {
        enum decode_reason reason;
        switch (ethertype) {
        case ETHERTYPE_IPV4:
            return decode_ipv4(d);
        case ETHERTYPE_IPV6:
            return decode_ipv6(d);
        case ETHERTYPE_VLAN:
        case ETHERTYPE_QINQ:
        case ETHERTYPE_QINQ_OLD:
            reason = decode_vlan(d, &ethertype);
            break;
        case ETHERTYPE_MPLS_UNICAST:
        case ETHERTYPE_MPLS_MULTICAST:
            reason = decode_mpls(d, &ethertype);
            break;
        case ETHERTYPE_PPPOE_SESSION:
            reason = decode_pppoe(d, &ethertype);
            break;
        case ETHERTYPE_VNTAG:
            reason = decode_vntag(d, &ethertype);
            break;
        case ETHERTYPE_PBB:
            reason = decode_pbb(d, &ethertype);
            break;
        case ETHERTYPE_FABRICPATH:
            reason = decode_fabricpath(d, &ethertype);
            break;
        default:
            return DECODE_NOT_IP;
        }
        if (reason != DECODE_OK)
            return reason;
        if (++d->layers > DECODE_MAX_LAYERS)
            return DECODE_TOO_MANY_LAYERS;
    }
}

enum decode_reason capture_decode(int linktype, const uint8_t *data, uint32_t caplen,
                                  uint32_t wire_len, uint64_t ts_usec, struct packet *out)
{
    /* Pointer arithmetic on NULL is undefined even for +0; an empty frame gets a real one. */
    static const uint8_t empty[1];
    if (data == NULL) {
        data = empty;
        caplen = 0;
    }
    memset(out, 0, sizeof(*out));
    out->ts_usec = ts_usec;
    out->wire_len = wire_len;
    out->caplen = caplen;

    struct decoder d = {
        .cursor = { data, data + caplen },
        .packet = out,
        .snapped = wire_len > caplen ? wire_len - caplen : 0,
    };
    uint16_t ethertype = 0;
    enum decode_reason reason = decode_link(&d, linktype, &ethertype);
    if (reason != DECODE_OK)
        return reason;
    return decode_network(&d, ethertype);
}

const char *decode_reason_name(enum decode_reason reason)
{
    /* These names are the counter names in stats output and README: keep them stable. */
    static const char *const names[DECODE_REASON_COUNT] = {
        [DECODE_OK] = "ok",
        [DECODE_NOT_IP] = "not_ip",
        [DECODE_FRAGMENT] = "fragment",
        [DECODE_TRUNCATED_LINK] = "truncated_link",
        [DECODE_TRUNCATED_IP] = "truncated_ip",
        [DECODE_BAD_IP_HEADER] = "bad_ip_header",
        [DECODE_TRUNCATED_TRANSPORT] = "truncated_transport",
        [DECODE_BAD_IPV6_EXTENSION] = "bad_ipv6_extension",
        [DECODE_TOO_MANY_LAYERS] = "too_many_layers",
        [DECODE_UNSUPPORTED_LINK] = "unsupported_link",
    };
    if ((unsigned)reason >= DECODE_REASON_COUNT)
        return "unknown";
    return names[reason];
}

bool capture_linktype_supported(int linktype)
{
    switch (linktype) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_RAW_LINUX:
    case DLT_RAW_OPENBSD:
    case LINKTYPE_RAW_FILE:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_PPP:
    case DLT_PPP_SERIAL:
    case DLT_C_HDLC:
        return true;
    default:
        return false;
    }
}
