/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report/collect.c: takes in events (JSON text) and keeps what the report needs: compact
 * flow records with interned strings, the alerts as read, and skip/drop counters.
 */
#include "report_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t strtab_hash(const char *text)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (; *text != '\0'; text++)
        h = (h ^ (uint8_t)*text) * 16777619u;
    return h;
}

static size_t strtab_slot(const struct strtab *table, const char *text)
{
    size_t mask = table->slot_count - 1;
    size_t i = strtab_hash(text) & mask;
    while (table->slots[i] != 0 && strcmp(table->strings[table->slots[i] - 1], text) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Keeps the table at most half full. */
static bool strtab_grow(struct strtab *table)
{
    size_t slot_count = table->slot_count == 0 ? 1024 : table->slot_count * 2;
    uint32_t *slots = calloc(slot_count, sizeof(*slots));
    if (slots == NULL)
        return false;
    free(table->slots);
    table->slots = slots;
    table->slot_count = slot_count;
    for (size_t id = 0; id < table->count; id++)
        table->slots[strtab_slot(table, table->strings[id])] = (uint32_t)id + 1;
    return true;
}

/* The id of text, added if new; UINT32_MAX when out of memory. */
static uint32_t strtab_intern(struct strtab *table, const char *text)
{
    if ((table->count + 1) * 2 > table->slot_count && !strtab_grow(table))
        return UINT32_MAX;
    size_t slot = strtab_slot(table, text);
    if (table->slots[slot] != 0)
        return table->slots[slot] - 1;
    if (table->count == table->capacity) {
        size_t capacity = table->capacity == 0 ? 256 : table->capacity * 2;
        char **strings = realloc(table->strings, capacity * sizeof(*strings));
        if (strings == NULL)
            return UINT32_MAX;
        table->strings = strings;
        table->capacity = capacity;
    }
    char *copy = strdup(text);
    if (copy == NULL)
        return UINT32_MAX;
    table->strings[table->count] = copy;
    table->slots[slot] = (uint32_t)table->count + 1;
    return (uint32_t)table->count++;
}

const char *strtab_get(const struct strtab *table, uint32_t id)
{
    return id < table->count ? table->strings[id] : "";
}

uint32_t strtab_find(const struct strtab *table, const char *text)
{
    if (table->slot_count == 0)
        return UINT32_MAX;
    size_t slot = strtab_slot(table, text);
    return table->slots[slot] == 0 ? UINT32_MAX : table->slots[slot] - 1;
}

static void strtab_free(struct strtab *table)
{
    for (size_t i = 0; i < table->count; i++)
        free(table->strings[i]);
    free(table->strings);
    free(table->slots);
}

struct report *report_new(void)
{
    struct report *report = calloc(1, sizeof(*report));
    if (report == NULL)
        return NULL;
    if (strtab_intern(&report->strings, "") != 0) {   /* id 0: "no name" */
        report_free(report);
        return NULL;
    }
    return report;
}

void report_free(struct report *report)
{
    if (report == NULL)
        return;
    for (size_t i = 0; i < report->alert_count; i++)
        json_decref(report->alerts[i].event);
    free(report->alerts);
    free(report->flows);
    strtab_free(&report->strings);
    free(report);
}

const char *report_json_string(const json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text != NULL ? text : "";
}

static uint64_t json_uint(const json_t *object, const char *key)
{
    const json_t *value = json_object_get(object, key);
    if (json_is_integer(value))
        return json_integer_value(value) > 0 ? (uint64_t)json_integer_value(value) : 0;
    if (json_is_real(value))
        return json_real_value(value) > 0 ? (uint64_t)json_real_value(value) : 0;
    return 0;
}

/* "2026-03-09T11:05:07.564583Z" (what output/ writes) into microseconds; 0 if malformed. */
static uint64_t parse_time(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    unsigned usec = 0;
    int used = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return 0;
    if (text[used] == '.') {
        unsigned scale = 100000;
        for (const char *p = text + used + 1; *p >= '0' && *p <= '9' && scale > 0; p++) {
            usec += (unsigned)(*p - '0') * scale;
            scale /= 10;
        }
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t seconds = timegm(&tm);
    if (seconds < 0)
        return 0;
    return (uint64_t)seconds * 1000000 + usec;
}

static void report_see_time(struct report *report, uint64_t usec)
{
    if (usec == 0)
        return;
    if (report->first_usec == 0 || usec < report->first_usec)
        report->first_usec = usec;
    if (usec > report->last_usec)
        report->last_usec = usec;
}

static void report_add_flow(struct report *report, const json_t *event)
{
    /* A burst record repeats counters that the flow's next record holds too. */
    if (strcmp(report_json_string(event, "end_reason"), "burst") == 0)
        return;
    if (report->flow_count == report->flow_capacity) {
        size_t capacity = report->flow_capacity == 0 ? 1024 : report->flow_capacity * 2;
        if (capacity > REPORT_MAX_FLOWS)
            capacity = REPORT_MAX_FLOWS;
        struct report_flow *flows = capacity <= report->flow_capacity ? NULL :
            realloc(report->flows, capacity * sizeof(*flows));
        if (flows == NULL) {
            report->flows_not_charted++;
            return;
        }
        report->flows = flows;
        report->flow_capacity = capacity;
    }
    struct report_flow flow = {
        .start_usec = parse_time(report_json_string(event, "start")),
        .bytes_out = json_uint(event, "bytes_toserver"),
        .bytes_in = json_uint(event, "bytes_toclient"),
        .src = strtab_intern(&report->strings, report_json_string(event, "src_ip")),
        .dest = strtab_intern(&report->strings, report_json_string(event, "dest_ip")),
        .name = strtab_intern(&report->strings, report_json_string(event, "server_name")),
        .url = strtab_intern(&report->strings, report_json_string(event, "http_url")),
        .port = (uint16_t)json_uint(event, "dest_port"),
        .remote_public = strcmp(report_json_string(event, "remote_ip_class"), "private") != 0,
    };
    if (flow.src == UINT32_MAX || flow.dest == UINT32_MAX || flow.name == UINT32_MAX ||
        flow.url == UINT32_MAX) {
        report->flows_not_charted++;
        return;
    }
    if (flow.start_usec == 0)
        flow.start_usec = parse_time(report_json_string(event, "timestamp"));
    report_see_time(report, flow.start_usec);
    report->flows[report->flow_count++] = flow;
}

/* Takes a reference to event. */
static void report_add_alert(struct report *report, json_t *event)
{
    if (report->alert_count == report->alert_capacity) {
        size_t capacity = report->alert_capacity == 0 ? 64 : report->alert_capacity * 2;
        struct report_alert *alerts = realloc(report->alerts, capacity * sizeof(*alerts));
        if (alerts == NULL) {
            report->bad_lines++;
            return;
        }
        report->alerts = alerts;
        report->alert_capacity = capacity;
    }
    struct report_alert alert = {
        .event = json_incref(event),
        .ts_usec = parse_time(report_json_string(event, "timestamp")),
        .src = strtab_intern(&report->strings, report_json_string(event, "src_ip")),
        .dest = strtab_intern(&report->strings, report_json_string(event, "dest_ip")),
        .port = (uint16_t)json_uint(event, "dest_port"),
    };
    report_see_time(report, alert.ts_usec);
    report->alerts[report->alert_count++] = alert;
}

/* Counters of a saved stats event: whatever says skipped, dropped, evicted or errors. */
static void report_add_stats(struct report *report, const json_t *event)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)event, key, value) {
        if (json_is_object(value)) {
            report_add_stats(report, value);
            continue;
        }
        if (!json_is_integer(value))
            continue;
        if (strstr(key, "skipped") || strstr(key, "dropped") || strstr(key, "evicted") ||
            strstr(key, "errors") || strstr(key, "suppressed"))
            report_add_counter(report, key, (uint64_t)json_integer_value(value));
    }
}

void report_add_event(struct report *report, const char *json, size_t len)
{
    json_t *event = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(event)) {
        report->bad_lines++;
        json_decref(event);
        return;
    }
    const char *type = report_json_string(event, "event_type");
    if (strcmp(type, "flow") == 0)
        report_add_flow(report, event);
    else if (strcmp(type, "alert") == 0)
        report_add_alert(report, event);
    else if (strcmp(type, "stats") == 0)
        report_add_stats(report, event);
    json_decref(event);
}

void report_add_counter(struct report *report, const char *name, uint64_t value)
{
    if (value == 0)
        return;
    for (size_t i = 0; i < report->counter_count; i++) {
        if (strcmp(report->counters[i].name, name) == 0) {
            report->counters[i].value = value;   /* stats events repeat: the last one holds */
            return;
        }
    }
    if (report->counter_count == REPORT_MAX_COUNTERS)
        return;
    struct report_counter *counter = &report->counters[report->counter_count++];
    snprintf(counter->name, sizeof(counter->name), "%s", name);
    counter->value = value;
}

bool report_read_file(struct report *report, const char *path, char *err, size_t err_len)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t capacity = 0;
    ssize_t len;
    while ((len = getline(&line, &capacity, in)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len > 0)
            report_add_event(report, line, (size_t)len);
    }
    bool ok = !ferror(in);
    if (!ok)
        snprintf(err, err_len, "%s: read error", path);
    free(line);
    if (in != stdin)
        fclose(in);
    return ok;
}

uint64_t report_bad_lines(const struct report *report)
{
    return report->bad_lines;
}

size_t report_alert_count(const struct report *report)
{
    return report->alert_count;
}
