/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Allowlist: known upload jobs that must not alert (backup agents, sync clients, log
 * forwarders, CI artifact uploads). One rule per line, key=value fields combined with AND,
 * '#' starts a comment that is kept as the rule's name:
 *   src=10.0.0.0/8 dest_domain=*.backup.example.com app=SSH   # backup agent
 * Keys: src and dest (CIDR lists), dest_domain (exact or "*.suffix", comma list),
 * app (alias proto: nDPI app or master protocol name, comma list), port (comma list),
 * country (ISO 3166 codes of the destination, comma list) and asn (AS numbers, comma list);
 * the last two need GeoIP databases and never match without them.
 */
#include "detect_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALLOW_MAX_PORTS 8
#define ALLOW_MAX_ASNS 8
#define ALLOW_MAX_FILE_BYTES (4 * 1024 * 1024)

struct allow_rule {
    struct cidr_set *src;
    struct cidr_set *dest;
    char *domains;          /* comma list, NULL: any */
    char *apps;             /* comma list, NULL: any */
    uint16_t ports[ALLOW_MAX_PORTS];
    int port_count;         /* 0: any */
    char *countries;        /* comma list of ISO codes, NULL: any */
    uint32_t asns[ALLOW_MAX_ASNS];
    int asn_count;          /* 0: any */
    char *comment;
    unsigned line;
};

struct allowlist {
    struct allow_rule *rules;
    size_t count;
};

/* Frees what one rule owns and zeroes it. */
static void allow_rule_clear(struct allow_rule *rule)
{
    if (rule->src)
        cidr_set_free(rule->src);
    if (rule->dest)
        cidr_set_free(rule->dest);
    free(rule->domains);
    free(rule->apps);
    free(rule->countries);
    free(rule->comment);
    memset(rule, 0, sizeof(*rule));
}

/* Frees every rule and the list (NULL is fine). */
void allowlist_free(struct allowlist *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        allow_rule_clear(&list->rules[i]);
    free(list->rules);
    free(list);
}

/* Number of rules (0 for NULL). */
size_t allowlist_count(const struct allowlist *list)
{
    return list ? list->count : 0;
}

/* "*.example.com" or "host.example.com": letters, digits, '-', '_', '.'. */
static bool domain_pattern_ok(const char *pattern, size_t len)
{
    if (len >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        pattern += 2;
        len -= 2;
    }
    if (len == 0 || pattern[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pattern[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

/* "*.x" matches x and its subdomains; anything else matches exactly. */
bool allowlist_domain_match(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.')
        return cloud_name_has_suffix(name, pattern + 2);
    return strcasecmp(pattern, name) == 0;
}

/* Each comma-separated item of list through check(item, len). */
static bool list_all(const char *list, bool (*check)(const char *item, size_t len))
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!check(p, len))
            return false;
        if (!comma)
            return true;
        p = comma + 1;
    }
}

/* An ISO 3166-1 alpha-2 country code: two letters. */
static bool country_code_ok(const char *code, size_t len)
{
    return len == 2 && isalpha((unsigned char)code[0]) && isalpha((unsigned char)code[1]);
}

/* An nDPI protocol name: letters, digits, "_", "-", ".". */
static bool app_name_ok(const char *name, size_t len)
{
    if (len == 0 || len >= FLOW_LABEL_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.')
            return false;
    }
    return true;
}

/* Parses one key=value field into rule; a message in err on error. */
static bool allow_parse_field(struct allow_rule *rule, char *field, char *err, size_t err_len)
{
    char *eq = strchr(field, '=');
    if (eq == NULL || eq == field || eq[1] == '\0') {
        snprintf(err, err_len, "expected key=value, got \"%s\"", field);
        return false;
    }
    *eq = '\0';
    const char *key = field, *value = eq + 1;
    char cidr_err[256];
    if (strcmp(key, "src") == 0 || strcmp(key, "dest") == 0) {
        struct cidr_set **set = key[0] == 's' ? &rule->src : &rule->dest;
        if (*set) {
            snprintf(err, err_len, "%s given twice", key);
            return false;
        }
        *set = cidr_set_new();
        if (*set == NULL || !cidr_set_add_list(*set, value, cidr_err, sizeof(cidr_err))) {
            snprintf(err, err_len, "%s=%s: %s", key, value, *set ? cidr_err : "out of memory");
            return false;
        }
        return true;
    }
    if (strcmp(key, "dest_domain") == 0 || strcmp(key, "domain") == 0) {
        if (rule->domains) {
            snprintf(err, err_len, "dest_domain given twice");
            return false;
        }
        if (!list_all(value, domain_pattern_ok)) {
            snprintf(err, err_len, "dest_domain=%s: not a domain or *.domain pattern", value);
            return false;
        }
        rule->domains = strdup(value);
        return rule->domains != NULL;
    }
    if (strcmp(key, "app") == 0 || strcmp(key, "proto") == 0) {
        if (rule->apps) {
            snprintf(err, err_len, "app given twice");
            return false;
        }
        if (!list_all(value, app_name_ok)) {
            snprintf(err, err_len, "%s=%s: not a protocol name", key, value);
            return false;
        }
        rule->apps = strdup(value);
        return rule->apps != NULL;
    }
    if (strcmp(key, "country") == 0) {
        if (rule->countries) {
            snprintf(err, err_len, "country given twice");
            return false;
        }
        if (!list_all(value, country_code_ok)) {
            snprintf(err, err_len, "country=%s: expected two-letter ISO 3166 codes", value);
            return false;
        }
        rule->countries = strdup(value);
        return rule->countries != NULL;
    }
    if (strcmp(key, "asn") == 0) {
        if (rule->asn_count) {
            snprintf(err, err_len, "asn given twice");
            return false;
        }
        const char *p = value;
        for (;;) {
            if ((p[0] == 'A' || p[0] == 'a') && (p[1] == 'S' || p[1] == 's'))
                p += 2;   /* "AS15169" as well as "15169" */
            char *end;
            errno = 0;
            unsigned long asn = strtoul(p, &end, 10);
            if (end == p || errno || asn == 0 || asn > UINT32_MAX ||
                (*end != ',' && *end != '\0') || rule->asn_count == ALLOW_MAX_ASNS) {
                snprintf(err, err_len, "asn=%s: expected up to %d AS numbers", value,
                         ALLOW_MAX_ASNS);
                return false;
            }
            rule->asns[rule->asn_count++] = (uint32_t)asn;
            if (*end == '\0')
                break;
            p = end + 1;
        }
        return true;
    }
    if (strcmp(key, "port") == 0) {
        if (rule->port_count) {
            snprintf(err, err_len, "port given twice");
            return false;
        }
        const char *p = value;
        for (;;) {
            char *end;
            errno = 0;
            long port = strtol(p, &end, 10);
            if (end == p || errno || port < 1 || port > 65535 || (*end != ',' && *end != '\0') ||
                rule->port_count == ALLOW_MAX_PORTS) {
                snprintf(err, err_len, "port=%s: expected up to %d ports in 1..65535", value,
                         ALLOW_MAX_PORTS);
                return false;
            }
            rule->ports[rule->port_count++] = (uint16_t)port;
            if (*end == '\0')
                break;
            p = end + 1;
        }
        return true;
    }
    snprintf(err, err_len, "unknown key \"%s\" (expected src, dest, dest_domain, app, port, country, asn)", key);
    return false;
}

/* Parses rule text; the first bad line fails the whole list with "name:line: why". */
struct allowlist *allowlist_parse(const char *text, const char *name, char *err, size_t err_len)
{
    struct allowlist *list = calloc(1, sizeof(*list));
    size_t capacity = 0;
    char *copy = strdup(text);
    if (list == NULL || copy == NULL) {
        snprintf(err, err_len, "%s: out of memory", name);
        goto fail;
    }
    unsigned line_number = 0;
    /* strtok_r would skip empty lines and so miscount; walk lines by hand. */
    for (char *line = copy; line; ) {
        char *newline = strchr(line, '\n');
        if (newline)
            *newline = '\0';
        line_number++;
        char *comment = strchr(line, '#');
        if (comment)
            *comment++ = '\0';
        struct allow_rule rule = { .line = line_number };
        char field_err[512];
        int fields = 0;
        char *save = NULL;
        for (char *field = strtok_r(line, " \t\r", &save); field;
             field = strtok_r(NULL, " \t\r", &save)) {
            if (!allow_parse_field(&rule, field, field_err, sizeof(field_err))) {
                snprintf(err, err_len, "%s:%u: %s", name, line_number, field_err);
                allow_rule_clear(&rule);
                goto fail;
            }
            fields++;
        }
        if (fields > 0) {
            if (comment) {
                while (isspace((unsigned char)*comment))
                    comment++;
                size_t n = strlen(comment);
                while (n > 0 && isspace((unsigned char)comment[n - 1]))
                    comment[--n] = '\0';
                if (n > 0)
                    rule.comment = strdup(comment);
            }
            if (list->count == capacity) {
                size_t grown_capacity = capacity ? capacity * 2 : 16;
                struct allow_rule *grown = realloc(list->rules, grown_capacity * sizeof(*grown));
                if (grown == NULL) {
                    allow_rule_clear(&rule);
                    snprintf(err, err_len, "%s: out of memory", name);
                    goto fail;
                }
                list->rules = grown;
                capacity = grown_capacity;
            }
            list->rules[list->count++] = rule;
        }
        line = newline ? newline + 1 : NULL;
    }
    free(copy);
    return list;
fail:
    free(copy);
    allowlist_free(list);
    return NULL;
}

/* Reads and parses an allowlist file (at most ALLOW_MAX_FILE_BYTES). */
struct allowlist *allowlist_load(const char *path, char *err, size_t err_len)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(err, err_len, "allowlist %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(ALLOW_MAX_FILE_BYTES + 1);
    if (text == NULL) {
        fclose(file);
        snprintf(err, err_len, "allowlist %s: out of memory", path);
        return NULL;
    }
    size_t n = fread(text, 1, ALLOW_MAX_FILE_BYTES + 1, file);
    bool failed = ferror(file);
    fclose(file);
    struct allowlist *list = NULL;
    if (failed)
        snprintf(err, err_len, "allowlist %s: read error", path);
    else if (n > ALLOW_MAX_FILE_BYTES)
        snprintf(err, err_len, "allowlist %s: larger than %d bytes", path, ALLOW_MAX_FILE_BYTES);
    else if (memchr(text, '\0', n))
        snprintf(err, err_len, "allowlist %s: binary file", path);
    else {
        text[n] = '\0';
        list = allowlist_parse(text, path, err, err_len);
    }
    free(text);
    return list;
}

/* Any comma-separated item of list matching value through match(item, value). */
static bool list_any(const char *list, const char *value, bool domain)
{
    char item[FLOW_NAME_LEN];
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = '\0';
            if (domain ? allowlist_domain_match(item, value) : strcasecmp(item, value) == 0)
                return true;
        }
        if (!comma)
            return false;
        p = comma + 1;
    }
}

/* True when every field given in the rule matches (AND). */
static bool allow_rule_match(const struct allow_rule *rule, const struct allow_query *query)
{
    if (rule->src && !cidr_set_contains(rule->src, query->ip_version, query->src_addr))
        return false;
    if (rule->dest && !cidr_set_contains(rule->dest, query->ip_version, query->dest_addr))
        return false;
    if (rule->domains &&
        (query->dest_name == NULL || !list_any(rule->domains, query->dest_name, true)))
        return false;
    if (rule->apps) {
        bool app = query->app_protocol && query->app_protocol[0] &&
                   list_any(rule->apps, query->app_protocol, false);
        bool master = query->master_protocol && query->master_protocol[0] &&
                      list_any(rule->apps, query->master_protocol, false);
        if (!app && !master)
            return false;
    }
    if (rule->port_count) {
        bool any = false;
        for (int i = 0; i < rule->port_count; i++)
            any |= rule->ports[i] == query->dest_port;
        if (!any)
            return false;
    }
    if (rule->countries && (query->dest_geo == NULL || query->dest_geo->country_code[0] == '\0' ||
                            !list_any(rule->countries, query->dest_geo->country_code, false)))
        return false;
    if (rule->asn_count) {
        bool any = false;
        for (int i = 0; query->dest_geo != NULL && i < rule->asn_count; i++)
            any |= query->dest_geo->asn != 0 && rule->asns[i] == query->dest_geo->asn;
        if (!any)
            return false;
    }
    return true;
}

/* First matching rule wins; its comment names it. */
bool allowlist_match(const struct allowlist *list, const struct allow_query *query,
                     const char **comment)
{
    if (list == NULL)
        return false;
    for (size_t i = 0; i < list->count; i++) {
        if (allow_rule_match(&list->rules[i], query)) {
            if (comment)
                *comment = list->rules[i].comment ? list->rules[i].comment : "allowlist rule";
            return true;
        }
    }
    return false;
}
