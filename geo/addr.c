/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * geo/addr.c: what kind of address this is (RFC 6890 special-purpose registries), address
 * text in both directions, and sets of CIDR prefixes for home networks and allowlists.
 */
#include "geo_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const addr_class_names[ADDR_CLASS_COUNT] = {
    [ADDR_PUBLIC] = "public",
    [ADDR_PRIVATE] = "private",
    [ADDR_SHARED] = "shared",
    [ADDR_LOOPBACK] = "loopback",
    [ADDR_LINK_LOCAL] = "link-local",
    [ADDR_UNIQUE_LOCAL] = "unique-local",
    [ADDR_DOCUMENTATION] = "documentation",
    [ADDR_MULTICAST] = "multicast",
    [ADDR_BROADCAST] = "broadcast",
    [ADDR_RESERVED] = "reserved",
};

const char *geo_addr_class_name(enum addr_class address_class)
{
    if ((unsigned)address_class >= ADDR_CLASS_COUNT)
        return "unknown";
    return addr_class_names[address_class];
}

/* One row of a special-purpose table: prefix (network byte order) / length -> class. */
struct addr_range {
    uint8_t prefix[GEO_ADDR_LEN];
    unsigned length;
    enum addr_class address_class;
};

/* True when the first `length` bits of addr equal those of prefix. */
static bool prefix_matches(const uint8_t *addr, const uint8_t *prefix, unsigned length)
{
    unsigned whole = length / 8, rest = length % 8;
    if (memcmp(addr, prefix, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[whole] & mask) == (prefix[whole] & mask);
}

/* IPv4 special-purpose ranges (RFC 6890 and the IANA registry it created). The most
 * specific row comes first: 255.255.255.255 before 240/4. */
static const struct addr_range ipv4_ranges[] = {
    { { 255, 255, 255, 255 }, 32, ADDR_BROADCAST },       /* RFC 919 limited broadcast */
    { { 0 }, 8, ADDR_RESERVED },                           /* "this network", RFC 1122 */
    { { 10 }, 8, ADDR_PRIVATE },                           /* RFC 1918 */
    { { 100, 64 }, 10, ADDR_SHARED },                      /* RFC 6598 carrier-grade NAT */
    { { 127 }, 8, ADDR_LOOPBACK },                         /* RFC 1122 */
    { { 169, 254 }, 16, ADDR_LINK_LOCAL },                 /* RFC 3927 */
    { { 172, 16 }, 12, ADDR_PRIVATE },                     /* RFC 1918 */
    { { 192, 0, 0 }, 24, ADDR_RESERVED },                  /* RFC 6890 IETF protocol assignments */
    { { 192, 0, 2 }, 24, ADDR_DOCUMENTATION },             /* RFC 5737 TEST-NET-1 */
    { { 192, 88, 99 }, 24, ADDR_RESERVED },                /* RFC 7526 deprecated 6to4 relay anycast */
    { { 192, 168 }, 16, ADDR_PRIVATE },                    /* RFC 1918 */
    { { 198, 18 }, 15, ADDR_RESERVED },                    /* RFC 2544 benchmarking */
    { { 198, 51, 100 }, 24, ADDR_DOCUMENTATION },          /* RFC 5737 TEST-NET-2 */
    { { 203, 0, 113 }, 24, ADDR_DOCUMENTATION },           /* RFC 5737 TEST-NET-3 */
    { { 224 }, 4, ADDR_MULTICAST },                        /* RFC 5771 */
    { { 240 }, 4, ADDR_RESERVED },                         /* RFC 1112 future use */
};

/* IPv6 special-purpose ranges. IPv4-mapped and NAT64 addresses are handled before this
 * table (they take the class of the IPv4 address inside). Anything outside 2000::/3 that
 * no row names is unallocated (RFC 4291 section 2.4) and falls to ADDR_RESERVED. */
static const struct addr_range ipv6_ranges[] = {
    { { 0 }, 128, ADDR_RESERVED },                                   /* :: unspecified */
    { { [15] = 1 }, 128, ADDR_LOOPBACK },                            /* ::1 */
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, ADDR_DOCUMENTATION },          /* RFC 3849 2001:db8::/32 */
    { { 0x3f, 0xff }, 20, ADDR_DOCUMENTATION },                      /* RFC 9637 3fff::/20 */
    { { 0x20, 0x01 }, 23, ADDR_RESERVED },                           /* RFC 2928 IETF protocol assignments */
    { { 0xfc }, 7, ADDR_UNIQUE_LOCAL },                              /* RFC 4193 */
    { { 0xfe, 0x80 }, 10, ADDR_LINK_LOCAL },                         /* RFC 4291 */
    { { 0xff }, 8, ADDR_MULTICAST },                                 /* RFC 4291 */
    { { 0x20 }, 3, ADDR_PUBLIC },                                    /* global unicast */
};

static enum addr_class classify_table(const uint8_t *addr, const struct addr_range *ranges,
                                      size_t count, enum addr_class fallback)
{
    for (size_t i = 0; i < count; i++)
        if (prefix_matches(addr, ranges[i].prefix, ranges[i].length))
            return ranges[i].address_class;
    return fallback;
}

/* ::ffff:0:0/96 (RFC 4291 2.5.5.2) and the NAT64 well-known prefix 64:ff9b::/96 (RFC 6052)
 * carry an IPv4 address in their last 4 bytes: such addresses are what that IPv4 address is. */
static const uint8_t ipv4_mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };
static const uint8_t nat64_prefix[12] = { 0x00, 0x64, 0xff, 0x9b };

static const uint8_t *embedded_ipv4(const uint8_t addr[GEO_ADDR_LEN])
{
    if (memcmp(addr, ipv4_mapped_prefix, 12) == 0 || memcmp(addr, nat64_prefix, 12) == 0)
        return addr + 12;
    return NULL;
}

int geo_addr_normalize(int ip_version, const uint8_t addr[GEO_ADDR_LEN], uint8_t key[GEO_ADDR_LEN])
{
    memset(key, 0, GEO_ADDR_LEN);
    if (ip_version == 6 && memcmp(addr, ipv4_mapped_prefix, 12) == 0) {
        memcpy(key, addr + 12, 4);
        return 4;
    }
    memcpy(key, addr, ip_version == 4 ? 4 : GEO_ADDR_LEN);
    return ip_version;
}

enum addr_class geo_addr_class(int ip_version, const uint8_t addr[GEO_ADDR_LEN])
{
    if (ip_version == 4)
        return classify_table(addr, ipv4_ranges, sizeof(ipv4_ranges) / sizeof(ipv4_ranges[0]),
                              ADDR_PUBLIC);
    if (ip_version != 6)
        return ADDR_RESERVED;
    const uint8_t *v4 = embedded_ipv4(addr);
    if (v4 != NULL)
        return classify_table(v4, ipv4_ranges, sizeof(ipv4_ranges) / sizeof(ipv4_ranges[0]),
                              ADDR_PUBLIC);
    return classify_table(addr, ipv6_ranges, sizeof(ipv6_ranges) / sizeof(ipv6_ranges[0]),
                          ADDR_RESERVED);
}

/* Dotted quad, as inet_ntop writes it (glibc's goes through sprintf: ~2,000 instructions an
 * address, and detect/ names two addresses per flow record). NULL when len is too short. */
static char *ipv4_to_string(const uint8_t addr[4], char *buf, size_t len)
{
    char text[16];
    size_t used = 0;
    for (int i = 0; i < 4; i++) {
        unsigned octet = addr[i];
        if (octet >= 100)
            text[used++] = (char)('0' + octet / 100);
        if (octet >= 10)
            text[used++] = (char)('0' + octet / 10 % 10);
        text[used++] = (char)('0' + octet % 10);
        text[used++] = i < 3 ? '.' : '\0';
    }
    if (used > len)
        return NULL;
    memcpy(buf, text, used);
    return buf;
}

const char *geo_addr_to_string(int ip_version, const uint8_t addr[GEO_ADDR_LEN], char *buf, size_t len)
{
    if (ip_version == 4 && ipv4_to_string(addr, buf, len) != NULL)
        return buf;
    int family = ip_version == 4 ? AF_INET : ip_version == 6 ? AF_INET6 : AF_UNSPEC;
    if (family == AF_UNSPEC || inet_ntop(family, addr, buf, (socklen_t)len) == NULL) {
        snprintf(buf, len, "?");
    }
    return buf;
}

int geo_addr_parse(const char *text, uint8_t addr[GEO_ADDR_LEN])
{
    uint8_t parsed[GEO_ADDR_LEN] = { 0 };
    if (inet_pton(AF_INET, text, parsed) == 1) {
        memcpy(addr, parsed, GEO_ADDR_LEN);
        return 4;
    }
    if (inet_pton(AF_INET6, text, parsed) == 1) {
        memcpy(addr, parsed, GEO_ADDR_LEN);
        return 6;
    }
    return 0;
}

/*
 * cidr_set: per IP version, one sorted array of masked networks for each prefix length in
 * use. A lookup masks the address once per length present and binary-searches that array:
 * home nets and allowlists use a handful of lengths, so this is a few dozen comparisons per
 * flow, with no allocation and no pointer chasing.
 */
struct prefix_bucket {
    unsigned length;
    size_t count, capacity;
    uint8_t (*networks)[GEO_ADDR_LEN]; /* sorted by memcmp, masked to `length` bits */
};

struct prefix_family {
    struct prefix_bucket *buckets; /* sorted by length, longest first */
    size_t bucket_count;
};

struct cidr_set {
    struct prefix_family family[2]; /* [0] IPv4 (4 bytes used), [1] IPv6 */
    size_t count;
};

struct cidr_set *cidr_set_new(void)
{
    return calloc(1, sizeof(struct cidr_set));
}

static void mask_address(uint8_t addr[GEO_ADDR_LEN], unsigned length)
{
    unsigned whole = length / 8, rest = length % 8;
    if (whole >= GEO_ADDR_LEN)
        return;
    if (rest != 0)
        addr[whole++] &= (uint8_t)(0xff << (8 - rest));
    memset(addr + whole, 0, GEO_ADDR_LEN - whole);
}

static int compare_network(const void *a, const void *b)
{
    return memcmp(a, b, GEO_ADDR_LEN);
}

static struct prefix_bucket *bucket_for_length(struct prefix_family *family, unsigned length)
{
    size_t i = 0;
    while (i < family->bucket_count && family->buckets[i].length > length)
        i++;
    if (i < family->bucket_count && family->buckets[i].length == length)
        return &family->buckets[i];
    struct prefix_bucket *grown = realloc(family->buckets,
                                          (family->bucket_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    family->buckets = grown;
    memmove(&grown[i + 1], &grown[i], (family->bucket_count - i) * sizeof(*grown));
    grown[i] = (struct prefix_bucket){ .length = length };
    family->bucket_count++;
    return &grown[i];
}

/* Inserts a masked network in sorted position; duplicates are kept once. */
static bool bucket_insert(struct prefix_bucket *bucket, const uint8_t network[GEO_ADDR_LEN],
                          bool *added)
{
    size_t low = 0, high = bucket->count;
    while (low < high) {
        size_t mid = (low + high) / 2;
        int order = memcmp(bucket->networks[mid], network, GEO_ADDR_LEN);
        if (order == 0) {
            *added = false;
            return true;
        }
        if (order < 0)
            low = mid + 1;
        else
            high = mid;
    }
    if (bucket->count == bucket->capacity) {
        size_t capacity = bucket->capacity ? bucket->capacity * 2 : 8;
        void *grown = realloc(bucket->networks, capacity * GEO_ADDR_LEN);
        if (grown == NULL)
            return false;
        bucket->networks = grown;
        bucket->capacity = capacity;
    }
    memmove(bucket->networks[low + 1], bucket->networks[low], (bucket->count - low) * GEO_ADDR_LEN);
    memcpy(bucket->networks[low], network, GEO_ADDR_LEN);
    bucket->count++;
    *added = true;
    return true;
}

bool cidr_set_add(struct cidr_set *set, const char *cidr, char *err, size_t err_len)
{
    char text[INET6_ADDRSTRLEN + 8];
    size_t text_len = strlen(cidr);
    if (text_len == 0 || text_len >= sizeof(text)) {
        snprintf(err, err_len, "\"%s\" is not an address or CIDR prefix", cidr);
        return false;
    }
    memcpy(text, cidr, text_len + 1);

    char *slash = strchr(text, '/');
    long length = -1;
    if (slash != NULL) {
        *slash = '\0';
        char *end;
        const char *digits = slash + 1;
        if (!isdigit((unsigned char)digits[0])) {
            snprintf(err, err_len, "\"%s\": the prefix length is not a number", cidr);
            return false;
        }
        length = strtol(digits, &end, 10);
        if (*end != '\0') {
            snprintf(err, err_len, "\"%s\": the prefix length is not a number", cidr);
            return false;
        }
    }
    uint8_t network[GEO_ADDR_LEN];
    int version = geo_addr_parse(text, network);
    if (version == 0) {
        snprintf(err, err_len, "\"%s\" is not an IPv4 or IPv6 address or prefix", cidr);
        return false;
    }
    long max_length = version == 4 ? 32 : 128;
    if (length < 0)
        length = max_length;
    if (length > max_length) {
        snprintf(err, err_len, "\"%s\": prefix length above %ld", cidr, max_length);
        return false;
    }
    /* Host bits are cleared rather than refused: "10.1.2.3/8" in a config means 10/8. */
    mask_address(network, (unsigned)length);

    struct prefix_bucket *bucket = bucket_for_length(&set->family[version == 6], (unsigned)length);
    bool added = false;
    if (bucket == NULL || !bucket_insert(bucket, network, &added)) {
        snprintf(err, err_len, "out of memory adding \"%s\"", cidr);
        return false;
    }
    if (added)
        set->count++;
    return true;
}

bool cidr_set_add_list(struct cidr_set *set, const char *list, char *err, size_t err_len)
{
    const char *cursor = list;
    while (*cursor != '\0') {
        const char *comma = strchr(cursor, ',');
        size_t item_len = comma ? (size_t)(comma - cursor) : strlen(cursor);
        /* Spaces around items are allowed: "10.0.0.0/8, 192.168.0.0/16". */
        while (item_len > 0 && isspace((unsigned char)*cursor)) {
            cursor++;
            item_len--;
        }
        while (item_len > 0 && isspace((unsigned char)cursor[item_len - 1]))
            item_len--;
        if (item_len > 0) {
            char item[INET6_ADDRSTRLEN + 8];
            if (item_len >= sizeof(item)) {
                snprintf(err, err_len, "\"%.*s...\" is not an address or CIDR prefix", 40, cursor);
                return false;
            }
            memcpy(item, cursor, item_len);
            item[item_len] = '\0';
            if (!cidr_set_add(set, item, err, err_len))
                return false;
        }
        if (comma == NULL)
            break;
        cursor = comma + 1;
    }
    return true;
}

bool cidr_set_contains(const struct cidr_set *set, int ip_version, const uint8_t addr[GEO_ADDR_LEN])
{
    if (ip_version != 4 && ip_version != 6)
        return false;
    uint8_t key[GEO_ADDR_LEN];
    ip_version = geo_addr_normalize(ip_version, addr, key);
    const struct prefix_family *family = &set->family[ip_version == 6];
    for (size_t b = 0; b < family->bucket_count; b++) {
        const struct prefix_bucket *bucket = &family->buckets[b];
        uint8_t network[GEO_ADDR_LEN];
        memcpy(network, key, GEO_ADDR_LEN);
        mask_address(network, bucket->length);
        if (bsearch(network, bucket->networks, bucket->count, GEO_ADDR_LEN, compare_network))
            return true;
    }
    return false;
}

size_t cidr_set_count(const struct cidr_set *set)
{
    return set->count;
}

void cidr_set_free(struct cidr_set *set)
{
    if (set == NULL)
        return;
    for (int f = 0; f < 2; f++) {
        for (size_t b = 0; b < set->family[f].bucket_count; b++)
            free(set->family[f].buckets[b].networks);
        free(set->family[f].buckets);
    }
    free(set);
}
