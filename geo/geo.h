/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * geo/: what an address is. Address classes (public, private, loopback, ...), sets of CIDRs
 * (home networks, allowlists), and MaxMind DB lookups (country, city, ASN, organisation)
 * cached per address. A service that detect/ and output/ ask; it owns no flow data.
 */
#ifndef EXFLOW_GEO_H
#define EXFLOW_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEO_ADDR_LEN 16   /* IPv4 in the first 4 bytes, as struct packet */

enum addr_class {
    ADDR_PUBLIC = 0,
    ADDR_PRIVATE,        /* RFC 1918 */
    ADDR_SHARED,         /* RFC 6598 carrier-grade NAT 100.64/10 */
    ADDR_LOOPBACK,       /* 127/8, ::1 */
    ADDR_LINK_LOCAL,     /* RFC 3927 169.254/16, fe80::/10 */
    ADDR_UNIQUE_LOCAL,   /* RFC 4193 fc00::/7 */
    ADDR_DOCUMENTATION,  /* RFC 5737, RFC 3849 */
    ADDR_MULTICAST,
    ADDR_BROADCAST,
    ADDR_RESERVED,       /* the rest of RFC 6890: 0/8, 240/4, benchmarking, ... */
    ADDR_CLASS_COUNT
};

enum addr_class geo_addr_class(int ip_version, const uint8_t addr[GEO_ADDR_LEN]);
const char *geo_addr_class_name(enum addr_class address_class);
static inline bool geo_addr_is_public(int ip_version, const uint8_t addr[GEO_ADDR_LEN])
{
    return geo_addr_class(ip_version, addr) == ADDR_PUBLIC;
}

/* Formats an address as text (inet_ntop); buf must hold 46 bytes. */
const char *geo_addr_to_string(int ip_version, const uint8_t addr[GEO_ADDR_LEN], char *buf, size_t len);
/* Parses an IPv4 or IPv6 address; returns the version (4 or 6) or 0 when it is not one. */
int geo_addr_parse(const char *text, uint8_t addr[GEO_ADDR_LEN]);

/* A set of CIDR prefixes, IPv4 and IPv6 mixed ("10.0.0.0/8", "2001:db8::/32", "1.2.3.4"). */
struct cidr_set;
struct cidr_set *cidr_set_new(void);
/* Adds one prefix; returns false (and a message in err) when the text is not a CIDR. */
bool cidr_set_add(struct cidr_set *set, const char *cidr, char *err, size_t err_len);
/* Adds a comma-separated list. */
bool cidr_set_add_list(struct cidr_set *set, const char *list, char *err, size_t err_len);
bool cidr_set_contains(const struct cidr_set *set, int ip_version, const uint8_t addr[GEO_ADDR_LEN]);
size_t cidr_set_count(const struct cidr_set *set);
void cidr_set_free(struct cidr_set *set);

/* The non-public ranges exflow treats as internal when no --home-net is given:
 * RFC 1918, RFC 6598, ULA, link-local and loopback. */
#define GEO_DEFAULT_HOME_NET \
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,127.0.0.0/8," \
    "fc00::/7,fe80::/10,::1/128"

struct geo_info {
    bool found;              /* any database knew the address */
    char country_code[3];    /* ISO 3166-1 alpha-2 */
    char country_name[64];
    char city[64];
    uint32_t asn;            /* 0 when unknown */
    char as_org[128];
};

struct geo;

/* Either path may be NULL. A path that is missing, unreadable or not a valid MaxMind DB is
 * an error: NULL and a one-line message in err. */
struct geo *geo_open(const char *city_db_path, const char *asn_db_path, char *err, size_t err_len);

/* Another handle on geo's open databases, with a cache and counters of its own, for another
 * thread: a struct geo is used by one thread at a time (its cache is written on every
 * lookup), while the databases themselves are only read (libmaxminddb's rule for sharing
 * an MMDB_s). Close every view before geo. NULL and a message in err on out of memory. */
struct geo *geo_view(const struct geo *geo, char *err, size_t err_len);

/* Looks the address up (cached). Returns out->found. */
bool geo_lookup(struct geo *geo, int ip_version, const uint8_t addr[GEO_ADDR_LEN], struct geo_info *out);

/* Cache and error counters, for the stats line. */
struct geo_stats {
    uint64_t lookups;        /* geo_lookup calls */
    uint64_t cache_hits;
    uint64_t errors;         /* lookups a database failed to answer (corrupt record) */
};
void geo_get_stats(const struct geo *geo, struct geo_stats *stats);

void geo_close(struct geo *geo);

#endif
