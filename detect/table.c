/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A hash table keyed by byte strings (an address in binary, a name, or both), with an LRU list, shared by detect/'s per-series, per-host and
 * first-seen stores so each can be capped by evicting its least recently used entry.
 * Entries are embedded in the caller's structs (struct table_entry first).
 */
#include "detect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: keys are short host|destination byte strings we build ourselves. */
uint64_t table_hash(const void *key, size_t key_len)
{
    uint64_t hash = 14695981039346656037ULL;
    const unsigned char *p = key;
    for (size_t i = 0; i < key_len; i++) {
        hash ^= p[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

/* "a b" into key, cut to fit as snprintf would. Keys are built for every record, and
 * snprintf's format parsing cost more than the lookups they are for. */
bool table_key_join(char *key, size_t key_len, const char *a, const char *b)
{
    size_t a_len = strlen(a), b_len = strlen(b), used = 0;
    if (key_len == 0)
        return false;
    bool fits = a_len + 1 + b_len < key_len;
    const char *parts[3] = { a, " ", b };
    size_t lens[3] = { a_len, 1, b_len };
    for (int i = 0; i < 3; i++) {
        size_t take = lens[i] < key_len - 1 - used ? lens[i] : key_len - 1 - used;
        memcpy(key + used, parts[i], take);
        used += take;
    }
    key[used] = '\0';
    return fits;
}

/* An empty table with a power-of-two bucket count. */
bool table_init(struct table *table, size_t initial_buckets)
{
    size_t buckets = 16;
    while (buckets < initial_buckets)
        buckets *= 2;
    memset(table, 0, sizeof(*table));
    table->buckets = calloc(buckets, sizeof(table->buckets[0]));
    if (table->buckets == NULL)
        return false;
    table->bucket_count = buckets;
    return true;
}

/* The entry with this key, or NULL. */
struct table_entry *table_find(const struct table *table, const void *key, size_t key_len)
{
    uint64_t hash = table_hash(key, key_len);
    struct table_entry *e = table->buckets[hash & (table->bucket_count - 1)];
    for (; e; e = e->hash_next)
        if (e->hash == hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            return e;
    return NULL;
}

/* Doubles the buckets when chains get long; on allocation failure keeps the old ones. */
static void table_grow(struct table *table)
{
    size_t buckets = table->bucket_count * 2;
    struct table_entry **grown = calloc(buckets, sizeof(grown[0]));
    if (grown == NULL)
        return;
    for (size_t i = 0; i < table->bucket_count; i++) {
        struct table_entry *e = table->buckets[i];
        while (e) {
            struct table_entry *next = e->hash_next;
            size_t b = e->hash & (buckets - 1);
            e->hash_next = grown[b];
            grown[b] = e;
            e = next;
        }
    }
    free(table->buckets);
    table->buckets = grown;
    table->bucket_count = buckets;
}

/* Takes the entry out of the LRU list. */
static void lru_unlink(struct table *table, struct table_entry *entry)
{
    if (entry->lru_prev)
        entry->lru_prev->lru_next = entry->lru_next;
    else
        table->newest = entry->lru_next;
    if (entry->lru_next)
        entry->lru_next->lru_prev = entry->lru_prev;
    else
        table->oldest = entry->lru_prev;
    entry->lru_prev = entry->lru_next = NULL;
}

/* Puts the entry at the newest end of the LRU list. */
static void lru_push_newest(struct table *table, struct table_entry *entry)
{
    entry->lru_prev = NULL;
    entry->lru_next = table->newest;
    if (table->newest)
        table->newest->lru_prev = entry;
    table->newest = entry;
    if (table->oldest == NULL)
        table->oldest = entry;
}

/* Adds the entry, whose key is set, as the newest. Chains stay at about one entry: a lookup
 * is a miss or two on a table of 100,000 keys, not one per link. */
static void table_insert(struct table *table, struct table_entry *entry)
{
    if (table->count >= table->bucket_count)
        table_grow(table);
    entry->hash = table_hash(entry->key, entry->key_len);
    size_t b = entry->hash & (table->bucket_count - 1);
    entry->hash_next = table->buckets[b];
    table->buckets[b] = entry;
    lru_push_newest(table, entry);
    table->count++;
}

/* A new zeroed entry of entry_size bytes (struct table_entry first) under key, as the
 * newest; at max_entries the least recently used entry is removed and handed to free_entry
 * first, so the table never grows past its cap. NULL when out of memory. */
struct table_entry *table_insert_new(struct table *table, const void *key, size_t key_len,
                                     size_t entry_size, size_t max_entries,
                                     void (*free_entry)(struct table_entry *entry))
{
    if (table->count >= max_entries && table->oldest) {
        struct table_entry *oldest = table->oldest;
        table_remove(table, oldest);
        free_entry(oldest);
    }
    /* The key lives right behind the caller's struct, in the same block: comparing it
     * after the hash matched touches no other allocation. A NUL follows the bytes, so a
     * table keyed by text can read its keys as strings. */
    struct table_entry *entry = calloc(1, entry_size + key_len + 1);
    if (entry == NULL)
        return NULL;
    entry->key = (char *)entry + entry_size;
    entry->key_len = key_len;
    memcpy(entry->key, key, key_len);
    table_insert(table, entry);
    return entry;
}

/* The entry under key, marked as just used, or a new one made by table_insert_new. */
struct table_entry *table_get(struct table *table, const void *key, size_t key_len,
                              size_t entry_size, size_t max_entries,
                              void (*free_entry)(struct table_entry *entry))
{
    struct table_entry *entry = table_find(table, key, key_len);
    if (entry) {
        table_touch(table, entry);
        return entry;
    }
    return table_insert_new(table, key, key_len, entry_size, max_entries, free_entry);
}

/* Marks the entry as just used. */
void table_touch(struct table *table, struct table_entry *entry)
{
    if (table->newest == entry)
        return;
    lru_unlink(table, entry);
    lru_push_newest(table, entry);
}

/* Unlinks the entry from its chain and the LRU list; the caller frees it. */
void table_remove(struct table *table, struct table_entry *entry)
{
    struct table_entry **link = &table->buckets[entry->hash & (table->bucket_count - 1)];
    while (*link && *link != entry)
        link = &(*link)->hash_next;
    if (*link)
        *link = entry->hash_next;
    lru_unlink(table, entry);
    entry->key = NULL; /* it was in the entry's block */
    table->count--;
}

/* Frees every key and entry, and the buckets. */
void table_destroy(struct table *table, void (*free_entry)(struct table_entry *entry))
{
    struct table_entry *e = table->newest;
    while (e) {
        struct table_entry *next = e->lru_next;
        if (free_entry)
            free_entry(e);
        e = next;
    }
    free(table->buckets);
    memset(table, 0, sizeof(*table));
}

/* ---- host keys ---------------------------------------------------------------------- */

/* The key of a host that is not an address (only a hand-edited checkpoint names one): byte
 * 0, its text and a NUL, so it can equal no address key and ends where a series key's
 * destination begins. */
static size_t host_key_text(uint8_t *key, size_t key_cap, const char *text)
{
    size_t len = strlen(text);
    if (key_cap < len + 2)
        len = key_cap - 2;
    key[0] = 0;
    memcpy(key + 1, text, len);
    key[1 + len] = 0;
    return len + 2;
}

size_t host_key_from_addr(uint8_t *key, size_t key_cap, int ip_version, const uint8_t *addr)
{
    size_t addr_len = ip_version == 4 ? 4 : ip_version == 6 ? GEO_ADDR_LEN : 0;
    if (addr_len == 0)
        return host_key_text(key, key_cap, "?");   /* what geo_addr_to_string writes */
    key[0] = (uint8_t)ip_version;
    memcpy(key + 1, addr, addr_len);
    return 1 + addr_len;
}

/* An address only when the text is how geo_addr_to_string writes it: then the key is the
 * one live records of that host get, and writing it back gives the same text. */
size_t host_key_from_text(uint8_t *key, size_t key_cap, const char *text)
{
    uint8_t addr[GEO_ADDR_LEN];
    char canonical[64];
    int version = geo_addr_parse(text, addr);
    if (version != 0 &&
        strcmp(geo_addr_to_string(version, addr, canonical, sizeof(canonical)), text) == 0)
        return host_key_from_addr(key, key_cap, version, addr);
    return host_key_text(key, key_cap, text);
}

size_t host_key_to_text(const uint8_t *key, size_t key_len, char *text, size_t text_len)
{
    if (key_len >= 5 && key[0] == 4) {
        geo_addr_to_string(4, key + 1, text, text_len);
        return 5;
    }
    if (key_len >= 1 + GEO_ADDR_LEN && key[0] == 6) {
        geo_addr_to_string(6, key + 1, text, text_len);
        return 1 + GEO_ADDR_LEN;
    }
    size_t len = key_len > 1 ? strnlen((const char *)key + 1, key_len - 1) : 0;
    snprintf(text, text_len, "%.*s", (int)len, key_len > 1 ? (const char *)key + 1 : "");
    return len + 2 <= key_len ? len + 2 : key_len;
}
