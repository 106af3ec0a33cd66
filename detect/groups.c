/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Destination groups: the registered domain of a name (eTLD+1 by the public suffix list,
 * so files1.example.co.uk and files2.example.co.uk are one group, example.co.uk), the /24
 * of an IPv4 address and the /48 of an IPv6 one. Uploads rotated over the members of a
 * group are one series: a schedule split over eight addresses or eight names is still a
 * schedule. With an ASN database (--geoip-asn) a destination also belongs to its autonomous
 * system and to the organisation that runs it: a schedule rotated over several networks of
 * one hosting provider is still one schedule.
 *
 * The list comes from a file (Debian's publicsuffix package), never libpsl's built-in
 * copy, which is as old as the library build.
 */
#include "detect_internal.h"

#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct groups {
    psl_ctx_t *psl;         /* NULL: no domain groups (no list configured) */
};

struct groups *groups_new(const char *psl_file, char *err, size_t err_len)
{
    struct groups *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(err, err_len, "detector: out of memory");
        return NULL;
    }
    if (psl_file == NULL || psl_file[0] == '\0')
        return g;
    g->psl = psl_load_file(psl_file);
    if (g->psl == NULL) {
        snprintf(err, err_len,
                 "--psl-file: cannot load the public suffix list %s (install Debian's "
                 "publicsuffix package, or name the file with --psl-file)", psl_file);
        free(g);
        return NULL;
    }
    return g;
}

void groups_free(struct groups *groups)
{
    if (groups == NULL)
        return;
    psl_free(groups->psl);
    free(groups);
}

/* The network part of an address as text: "203.0.113.0/24", "2001:db8:1::/48". */
static void group_of_address(int ip_version, const uint8_t *addr, char *out, size_t out_len)
{
    uint8_t net[GEO_ADDR_LEN] = { 0 };
    char text[64];
    if (ip_version == 4) {
        memcpy(net, addr, 3);
        geo_addr_to_string(4, net, text, sizeof(text));
        snprintf(out, out_len, "%s/24", text);
    } else {
        memcpy(net, addr, 6);
        geo_addr_to_string(6, net, text, sizeof(text));
        snprintf(out, out_len, "%s/48", text);
    }
}

/* The group of a destination; dest_is_name: dest_name is a host name, not an address. A
 * name under a public suffix alone (a bare TLD) or unknown to the list groups to itself. */
void groups_of(const struct groups *groups, const char *dest_name, bool dest_is_name,
               int ip_version, const uint8_t *dest_addr, char *out, size_t out_len)
{
    if (!dest_is_name) {
        group_of_address(ip_version, dest_addr, out, out_len);
        return;
    }
    const char *domain = groups->psl ? psl_registrable_domain(groups->psl, dest_name) : NULL;
    snprintf(out, out_len, "%s", domain ? domain : dest_name);
}

bool groups_of_network_owner(const struct geo_info *geo, enum group_level level, char *key,
                             size_t key_len, char *name, size_t name_len)
{
    if (level == GROUP_LEVEL_ASN) {
        if (geo->asn == 0)
            return false;
        snprintf(key, key_len, "AS%u", geo->asn);
        snprintf(name, name_len, "AS%u%s%s", geo->asn, geo->as_org[0] ? " " : "", geo->as_org);
        return true;
    }
    if (level != GROUP_LEVEL_ORG || geo->as_org[0] == '\0')
        return false;
    /* Keyed by the name as keys are made everywhere (lowercase, no spaces), so the same
     * organisation spelled with other case or spacing is one group. */
    char sanitized[sizeof(geo->as_org)];
    detect_name_sanitize(geo->as_org, sanitized, sizeof(sanitized));
    snprintf(key, key_len, "org:%s", sanitized);
    snprintf(name, name_len, "%s", geo->as_org);
    return true;
}
