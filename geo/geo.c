/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * geo/geo.c: MaxMind DB lookups (country, city, ASN, organisation) with a per-address cache.
 * Reads whatever fields each database has, so a City + ASN pair, a single Enterprise/ISP
 * database, or DB-IP's mmdb files all work.
 */
#include "geo_internal.h"

#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/log.h"

/* Direct-mapped: a collision replaces the old entry. 64k entries hold the remote addresses of
 * a busy site's working set; the table is calloc'ed, so untouched pages cost nothing.
 * THREAT: an attacker who sprays addresses only turns hits into misses (a lookup each). */
#define GEO_CACHE_ENTRIES 65536u

/* Data records decoded in full at open to catch a corrupt database before it is used. */
#define GEO_VALIDATE_MAX_RECORDS 4096u

struct geo_cache_entry {
    bool used;
    uint8_t ip_version;
    uint8_t addr[GEO_ADDR_LEN];
    struct geo_info info;
};

struct geo {
    MMDB_s databases[2];
    int database_count;
    struct geo_cache_entry *cache;
    struct geo_stats stats;
    bool warned_error;
    bool is_view;            /* the databases belong to the geo it was made from */
};

/* Opens one database and walks its search tree, decoding the first data records, so that
 * a truncated or corrupt file fails here with its name instead of at the first flow. */
static bool open_database(MMDB_s *mmdb, const char *path, char *err, size_t err_len)
{
    int status = MMDB_open(path, MMDB_MODE_MMAP, mmdb);
    if (status != MMDB_SUCCESS) {
        if (status == MMDB_IO_ERROR || status == MMDB_FILE_OPEN_ERROR)
            snprintf(err, err_len, "cannot open GeoIP database %s: %s", path,
                     errno ? strerror(errno) : MMDB_strerror(status));
        else
            snprintf(err, err_len, "GeoIP database %s is not a valid MaxMind DB: %s", path,
                     MMDB_strerror(status));
        return false;
    }

    uint32_t node_count = mmdb->metadata.node_count;
    uint32_t decoded = 0;
    for (uint32_t node_number = 0; node_number < node_count; node_number++) {
        MMDB_search_node_s node;
        status = MMDB_read_node(mmdb, node_number, &node);
        if (status != MMDB_SUCCESS) {
            snprintf(err, err_len, "GeoIP database %s is corrupt: %s", path, MMDB_strerror(status));
            goto fail;
        }
        uint8_t types[2] = { node.left_record_type, node.right_record_type };
        MMDB_entry_s entries[2] = { node.left_record_entry, node.right_record_entry };
        for (int side = 0; side < 2; side++) {
            if (types[side] == MMDB_RECORD_TYPE_INVALID) {
                snprintf(err, err_len, "GeoIP database %s is corrupt: its search tree points "
                         "outside the file (node %u)", path, node_number);
                goto fail;
            }
            if (types[side] != MMDB_RECORD_TYPE_DATA || decoded >= GEO_VALIDATE_MAX_RECORDS)
                continue;
            decoded++;
            MMDB_entry_data_list_s *list = NULL;
            status = MMDB_get_entry_data_list(&entries[side], &list);
            MMDB_free_entry_data_list(list);
            if (status != MMDB_SUCCESS) {
                snprintf(err, err_len, "GeoIP database %s is corrupt: %s", path,
                         MMDB_strerror(status));
                goto fail;
            }
        }
    }
    return true;

fail:
    MMDB_close(mmdb);
    return false;
}

/* A geo with an empty cache and no database yet. */
static struct geo *geo_new(char *err, size_t err_len)
{
    struct geo *geo = calloc(1, sizeof(*geo));
    if (geo != NULL)
        geo->cache = calloc(GEO_CACHE_ENTRIES, sizeof(struct geo_cache_entry));
    if (geo == NULL || geo->cache == NULL) {
        snprintf(err, err_len, "out of memory for the GeoIP cache");
        free(geo);
        return NULL;
    }
    return geo;
}

struct geo *geo_open(const char *city_db_path, const char *asn_db_path, char *err, size_t err_len)
{
    struct geo *geo = geo_new(err, err_len);
    if (geo == NULL)
        return NULL;
    const char *paths[2] = { city_db_path, asn_db_path };
    for (int i = 0; i < 2; i++) {
        if (paths[i] == NULL)
            continue;
        if (!open_database(&geo->databases[geo->database_count], paths[i], err, err_len))
            goto fail;
        geo->database_count++;
    }
    return geo;

fail:
    geo_close(geo);
    return NULL;
}

struct geo *geo_view(const struct geo *geo, char *err, size_t err_len)
{
    struct geo *view = geo_new(err, err_len);
    if (view == NULL)
        return NULL;
    /* The MMDB_s are copied, not shared: the mapping and metadata they point at are read
     * only, and a lookup may fill in a field of its own MMDB_s (the IPv4 start node). */
    memcpy(view->databases, geo->databases, sizeof(view->databases));
    view->database_count = geo->database_count;
    view->is_view = true;
    return view;
}

/* Copies a UTF-8 string field at path into out (cut to fit); false when absent. */
static int copy_string(MMDB_entry_s *entry, char *out, size_t out_len, const char *const *path)
{
    MMDB_entry_data_s data;
    int status = MMDB_aget_value(entry, &data, path);
    if (status != MMDB_SUCCESS)
        return status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ? MMDB_SUCCESS : status;
    if (!data.has_data || data.type != MMDB_DATA_TYPE_UTF8_STRING)
        return MMDB_SUCCESS;
    size_t len = data.data_size < out_len - 1 ? data.data_size : out_len - 1;
    memcpy(out, data.utf8_string, len);
    out[len] = '\0';
    return MMDB_SUCCESS;
}

/* Fills the fields of out that are still empty from one database's record. */
static int read_record(MMDB_entry_s *entry, struct geo_info *out)
{
    static const char *const country_code[] = { "country", "iso_code", NULL };
    static const char *const country_name[] = { "country", "names", "en", NULL };
    static const char *const city_name[] = { "city", "names", "en", NULL };
    static const char *const asn_number[] = { "autonomous_system_number", NULL };
    static const char *const asn_org[] = { "autonomous_system_organization", NULL };
    int status = MMDB_SUCCESS;

    if (out->country_code[0] == '\0' && status == MMDB_SUCCESS)
        status = copy_string(entry, out->country_code, sizeof(out->country_code), country_code);
    if (out->country_name[0] == '\0' && status == MMDB_SUCCESS)
        status = copy_string(entry, out->country_name, sizeof(out->country_name), country_name);
    if (out->city[0] == '\0' && status == MMDB_SUCCESS)
        status = copy_string(entry, out->city, sizeof(out->city), city_name);
    if (out->as_org[0] == '\0' && status == MMDB_SUCCESS)
        status = copy_string(entry, out->as_org, sizeof(out->as_org), asn_org);
    if (out->asn == 0 && status == MMDB_SUCCESS) {
        MMDB_entry_data_s data;
        int asn_status = MMDB_aget_value(entry, &data, asn_number);
        if (asn_status == MMDB_SUCCESS && data.has_data && data.type == MMDB_DATA_TYPE_UINT32)
            out->asn = data.uint32;
        else if (asn_status != MMDB_SUCCESS && asn_status != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
            status = asn_status;
    }
    return status;
}

static uint32_t cache_slot(int ip_version, const uint8_t addr[GEO_ADDR_LEN])
{
    uint64_t high, low;
    memcpy(&high, addr, 8);
    memcpy(&low, addr + 8, 8);
    /* splitmix64 finaliser over both halves: IPv4 addresses differ only in 4 bytes. */
    uint64_t x = high ^ (low * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ip_version;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (uint32_t)x & (GEO_CACHE_ENTRIES - 1);
}

/* Looks one address up in every database, without the cache. */
static void lookup_databases(struct geo *geo, int ip_version, const uint8_t addr[GEO_ADDR_LEN],
                             struct geo_info *out)
{
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof(storage));
    if (ip_version == 4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&storage;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, addr, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&storage;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, addr, 16);
    }
    for (int i = 0; i < geo->database_count; i++) {
        int lookup_error = MMDB_SUCCESS;
        MMDB_lookup_result_s result = MMDB_lookup_sockaddr(&geo->databases[i],
                                                           (const struct sockaddr *)&storage,
                                                           &lookup_error);
        /* An IPv6 address in an IPv4-only database is simply not in it. */
        if (lookup_error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
            continue;
        int status = lookup_error;
        if (status == MMDB_SUCCESS && result.found_entry)
            status = read_record(&result.entry, out);
        if (status != MMDB_SUCCESS) {
            geo->stats.errors++;
            if (!geo->warned_error) {
                geo->warned_error = true;
                LOG_WARN("GeoIP database %s failed a lookup (%s); such addresses get no geo "
                         "fields (warned once)", geo->databases[i].filename, MMDB_strerror(status));
            }
        }
    }
    out->found = out->country_code[0] != '\0' || out->country_name[0] != '\0' ||
                 out->city[0] != '\0' || out->asn != 0 || out->as_org[0] != '\0';
}

bool geo_lookup(struct geo *geo, int ip_version, const uint8_t addr[GEO_ADDR_LEN], struct geo_info *out)
{
    memset(out, 0, sizeof(*out));
    if (geo == NULL || (ip_version != 4 && ip_version != 6))
        return false;
    uint8_t key[GEO_ADDR_LEN];
    ip_version = geo_addr_normalize(ip_version, addr, key);

    geo->stats.lookups++;
    struct geo_cache_entry *slot = &geo->cache[cache_slot(ip_version, key)];
    if (slot->used && slot->ip_version == ip_version && memcmp(slot->addr, key, GEO_ADDR_LEN) == 0) {
        geo->stats.cache_hits++;
        *out = slot->info;
        return out->found;
    }
    lookup_databases(geo, ip_version, key, out);
    slot->used = true;
    slot->ip_version = (uint8_t)ip_version;
    memcpy(slot->addr, key, GEO_ADDR_LEN);
    slot->info = *out;
    return out->found;
}

void geo_get_stats(const struct geo *geo, struct geo_stats *stats)
{
    if (geo == NULL)
        memset(stats, 0, sizeof(*stats));
    else
        *stats = geo->stats;
}

void geo_close(struct geo *geo)
{
    if (geo == NULL)
        return;
    for (int i = 0; i < geo->database_count && !geo->is_view; i++)
        MMDB_close(&geo->databases[i]);
    free(geo->cache);
    free(geo);
}
