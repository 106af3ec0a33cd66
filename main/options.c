/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * main/options: the option table, and the parsing built from it: getopt_long's arrays, the
 * config file (libinih, keys = long option names) and validation, in one place.
 * main/usage.c prints the same table as --help, --dump-config and the man page.
 *
 * ADDING AN OPTION is one entry in option_table[] below:
 *   { "name", 'n' or 0, "ARG" or NULL, KIND, FIELD(struct options field), min, max,
 *     "one line of help", flags, handler }
 * KIND says how the argument is parsed and stored (see enum option_kind); min and max bound
 * numbers in the option's own unit (seconds for durations, bytes for sizes, MiB for
 * OPTION_MEBIBYTES). The default shown in --help, the config file and the man page is read
 * from the field after the defaults are set, so it never goes stale. An option that needs
 * more than storing a value (e.g. appending to a list) is OPTION_CUSTOM with a small
 * handler. Checks that involve several options belong in options_check().
 */
#include "options.h"
#include "options_table.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>

#include "../common/log.h"
#include "../common/tunables.h"
#include "../pipeline/pipeline.h"

#define DURATION_MAX_SECONDS (365.0 * 86400)   /* a year: longer is a typo, not a setting */
#define SIZE_MAX_BYTES       (1ULL << 50)      /* a pebibyte: larger is a typo */
#define MIB                  (1024ULL * 1024)

#define FIELD(f) offsetof(struct options, f), sizeof(((struct options *)0)->f)
#define NOFIELD 0, 0
#define SECTION(title) { NULL, 0, NULL, OPTION_SECTION, NOFIELD, 0, 0, title, 0, NULL }

static option_handler add_file, add_collect, add_zeek_path, set_action, more_verbose, less_verbose, set_config;

const struct option_spec option_table[] = {
    SECTION("Input"),
    { "read", 'r', "FILE", OPTION_CUSTOM, NOFIELD, 0, 0,
      "read a pcap/pcapng file ('-' = stdin); repeat, or list more files after the options; "
      "read in order. Saved exflow events (JSON lines) instead: score their flow records "
      "again", 0, add_file },
    { "interface", 'i', "IFACE", OPTION_STRING, FIELD(capture.interface), 0, 0,
      "capture live from IFACE", 0, NULL },
    { "collect", 0, "udp://HOST:PORT|tcp://HOST:PORT", OPTION_CUSTOM, NOFIELD, 0, 0,
      "receive IPFIX, NetFlow v9 or v5 exports (tcp://: IPFIX over TCP) and run detection on "
      "their flows instead of packets (repeat for more listeners; not with -r or -i)", 0,
      add_collect },
    { "collect-idle-exit", 0, "DURATION", OPTION_DURATION, FIELD(collect.idle_exit_usec), 0,
      DURATION_MAX_SECONDS, "end a --collect run after this long without a datagram "
      "(0 = never)", 0, NULL },
    { "zeek", 0, "DIR|LOG", OPTION_CUSTOM, NOFIELD, 0, 0,
      "read Zeek logs instead of packets: a directory of conn.log (with ssl.log, http.log, "
      "ftp.log, dns.log when there), or log files; TSV or JSON; repeat for more", CLI_ONLY,
      add_zeek_path },
    { "filter", 'f', "EXPR", OPTION_STRING, FIELD(capture.bpf_filter), 0, 0,
      "BPF filter (tcpdump syntax)", 0, NULL },
    { "snaplen", 's', "BYTES", OPTION_INTEGER, FIELD(capture.snaplen), 64, 262144,
      "live snapshot length", 0, NULL },
    { "buffer-size", 'B', "MIB", OPTION_INTEGER, FIELD(capture.buffer_size_mb), 1, 4096,
      "live kernel buffer in MiB", 0, NULL },
    { "no-promisc", 'p', NULL, OPTION_CLEAR, FIELD(capture.promiscuous), 0, 0,
      "do not put the interface in promiscuous mode", 0, NULL },
    { "immediate", 0, NULL, OPTION_SET, FIELD(capture.immediate), 0, 0,
      "deliver each packet at once (more CPU; default: the kernel hands packets over in "
      "blocks, at most 100 ms late)", 0, NULL },
    { "no-immediate", 0, NULL, OPTION_CLEAR, FIELD(capture.immediate), 0, 0,
      "block delivery (the default)", 0, NULL },
    SECTION("Flows"),
    { "idle-timeout", 0, "DURATION", OPTION_DURATION, FIELD(flows.idle_timeout_tcp_usec),
      1, DURATION_MAX_SECONDS, "TCP idle timeout", 0, NULL },
    { "udp-idle-timeout", 0, "DURATION", OPTION_DURATION, FIELD(flows.idle_timeout_other_usec),
      1, DURATION_MAX_SECONDS, "UDP/ICMP/other idle timeout", 0, NULL },
    { "active-timeout", 0, "DURATION", OPTION_DURATION, FIELD(flows.active_timeout_usec),
      1, DURATION_MAX_SECONDS, "interim record for long flows", 0, NULL },
    { "burst-gap", 0, "DURATION", OPTION_DURATION, FIELD(flows.burst_gap_usec), 0,
      DURATION_MAX_SECONDS, "pause in a TCP client's payload that ends an upload burst; each "
      "burst of a long connection is scored as a transfer of its own (0: off)", 0, NULL },
    { "flow-memory", 0, "MIB", OPTION_MEBIBYTES, FIELD(flows.memory_cap_bytes), 1, 1024 * 1024,
      "flow table memory cap in MiB; the oldest flow is evicted above it", 0, NULL },
    { "protocols", 0, "FILE", OPTION_STRING, FIELD(flows.custom_protocols_file), 0, 0,
      "nDPI custom protocols file (default: the bundled protocols.txt)", 0, NULL },
    { "threads", 0, "N", OPTION_INTEGER, FIELD(threads), 1, PIPELINE_MAX_WORKERS,
      "worker threads (default: online cores - 1, at least 1)", NO_DEFAULT, NULL },
    { "fanout", 0, NULL, OPTION_SET, FIELD(fanout), 0, 0,
      "live: each worker reads its own socket of an AF_PACKET fanout group (Linux), no "
      "capture thread in between", 0, NULL },
    { "worker-split", 0, "host|pair", OPTION_CHOICE, FIELD(worker_split), 0, 0,
      "how packets are spread over workers: by the home host (default: the same output for "
      "any worker count) or by the address pair (spreads one busy host, a proxy or NAT "
      "gateway, over workers; some nDPI labels then depend on the worker count)", 0, NULL },
    { "no-dpi", 0, NULL, OPTION_SET, FIELD(no_dpi), 0, 0,
      "do not run nDPI (no labels, no cloud detection)", 0, NULL },
    SECTION("Detection"),
    { "home-net", 0, "CIDRS", OPTION_STRING, FIELD(detect.home_net), 0, 0,
      "internal networks, comma-separated (default RFC 1918, 6598, ULA, ...)", 0, NULL },
    { "state-file", 0, "FILE", OPTION_STRING, FIELD(detect.state_file), 0, 0,
      "persist first-seen destinations across restarts", 0, NULL },
    { "reset-state", 0, NULL, OPTION_SET, FIELD(detect.state_reset_if_corrupt), 0, 0,
      "start fresh if the state file is corrupt", 0, NULL },
    { "shared-state", 0, "URL", OPTION_STRING, FIELD(shared_state_url), 0, 0,
      "share first-seen destinations with other sensors in Redis: redis://HOST[:PORT][/DB]",
      0, NULL },
    { "shared-state-expire", 0, "DURATION", OPTION_DURATION, FIELD(shared_state_expire_usec),
      0, DURATION_MAX_SECONDS, "forget a shared first-seen entry this long after its last "
      "claim (0 = never)", 0, NULL },
    { "allowlist", 0, "FILE", OPTION_STRING, FIELD(detect.allowlist_file), 0, 0,
      "allowlist rules (reloaded on SIGHUP)", 0, NULL },
    { "learn", 0, "DURATION", OPTION_DURATION, FIELD(detect.learn_usec), 0, DURATION_MAX_SECONDS,
      "learn only, no alerts, for this much packet time", 0, NULL },
    { "min-upload", 0, "BYTES", OPTION_SIZE, FIELD(detect.min_upload_bytes), 0, SIZE_MAX_BYTES,
      "bytes out before an upload counts", 0, NULL },
    { "bulk-min", 0, "BYTES", OPTION_SIZE, FIELD(detect.bulk_min_bytes), 0, SIZE_MAX_BYTES,
      "one upload to a new destination that alerts on volume alone (0 turns it off)", 0, NULL },
    { "psl-file", 0, "FILE", OPTION_STRING, FIELD(detect.psl_file), 0, 0,
      "public suffix list for destination groups by registered domain (\"\": groups by "
      "network only)", 0, NULL },
    { "pcr-threshold", 0, "X", OPTION_NUMBER, FIELD(detect.pcr_threshold), -1, 1,
      "upload-heavy above this producer/consumer ratio (-1 to 1)", 0, NULL },
    { "beacon-min-conns", 0, "N", OPTION_INTEGER, FIELD(detect.beacon_min_connections), 3, 1000,
      "connections before a schedule is scored", 0, NULL },
    { "alert-threshold", 0, "X", OPTION_NUMBER, FIELD(detect.alert_threshold), 0, 1,
      "score that raises an alert (0 to 1)", 0, NULL },
    { "suppress", 0, "DURATION", OPTION_DURATION, FIELD(detect.suppress_usec), 0,
      DURATION_MAX_SECONDS, "re-alert window for a series", 0, NULL },
    SECTION("Geo"),
    { "geoip-city", 0, "FILE", OPTION_STRING, FIELD(geoip_city), 0, 0,
      "MaxMind City/Country mmdb", 0, NULL },
    { "geoip-asn", 0, "FILE", OPTION_STRING, FIELD(geoip_asn), 0, 0,
      "MaxMind ASN mmdb", 0, NULL },
    { "flag-country", 0, "CC,...", OPTION_STRING, FIELD(detect.flag_countries), 0, 0,
      "destinations in these countries score higher", 0, NULL },
    { "flag-asn", 0, "N,...", OPTION_STRING, FIELD(detect.flag_asns), 0, 0,
      "destinations in these AS numbers score higher", 0, NULL },
    { "dns-heavy-users", 0, "FILE", OPTION_STRING, FIELD(detect.dns_heavy_users_file), 0, 0,
      "registered domains whose long DNS names never alert (default: the bundled "
      "dns-heavy-users.txt)", 0, NULL },
    { "mail-servers", 0, "CIDRS", OPTION_STRING, FIELD(detect.mail_servers), 0, 0,
      "internal hosts allowed to send SMTP out (others alert)", 0, NULL },
    SECTION("Output"),
    { "write", 'w', "FILE", OPTION_STRING, FIELD(output.json_path), 0, 0,
      "JSON lines to FILE ('-' = stdout)", 0, NULL },
    { "rotate-bytes", 0, "BYTES", OPTION_SIZE, FIELD(output.json_rotate_bytes), 0, SIZE_MAX_BYTES,
      "rotate the JSON file past this size (0 = never)", 0, NULL },
    { "no-flows", 0, NULL, OPTION_CLEAR, FIELD(output.write_flows), 0, 0,
      "alerts only, no flow records", 0, NULL },
    { "syslog", 0, "URL", OPTION_STRING, FIELD(output.syslog_url), 0, 0,
      "udp://, tcp://, tls:// or relp://HOST:PORT (RFC 5424)", 0, NULL },
    { "syslog-ca", 0, "FILE", OPTION_STRING, FIELD(output.syslog_ca), 0, 0,
      "CA certificates for tls:// (default: the system trust store)", 0, NULL },
    { "syslog-cert", 0, "FILE", OPTION_STRING, FIELD(output.syslog_cert), 0, 0,
      "client certificate for tls:// (mutual TLS)", 0, NULL },
    { "syslog-key", 0, "FILE", OPTION_STRING, FIELD(output.syslog_key), 0, 0,
      "the client certificate's private key", 0, NULL },
    { "syslog-format", 0, "json|cef", OPTION_CHOICE, FIELD(output.syslog_format), 0, 0,
      "syslog message body (default json)", 0, NULL },
    { "syslog-facility", 0, "N", OPTION_INTEGER, FIELD(output.syslog_facility), 0, 23,
      "syslog facility 0-23 (13 = log audit)", 0, NULL },
    { "syslog-severities", 0, "L,M,H,C", OPTION_STRING, FIELD(output.syslog_severities), 0, 0,
      "syslog severities for low, medium, high, critical (default 5,4,3,2)", 0, NULL },
    { "spool-dir", 0, "DIR", OPTION_STRING, FIELD(output.spool_dir), 0, 0,
      "where undelivered syslog alerts wait", 0, NULL },
    { "spool-max-bytes", 0, "BYTES", OPTION_SIZE, FIELD(output.spool_max_bytes), 0, SIZE_MAX_BYTES,
      "spool size cap", 0, NULL },
    { "sensor-name", 0, "NAME", OPTION_STRING, FIELD(output.sensor_name), 0, 0,
      "\"sensor\" of every event (default: the host name)", 0, NULL },
    { "run-id", 0, "UUID", OPTION_STRING, FIELD(output.run_id), 0, 0,
      "make event ids from this run id (default: random), to replay a capture to the same ids",
      0, NULL },
    SECTION("Investigation"),
    { "report", 0, "FILE.html", OPTION_STRING, FIELD(report_path), 0, 0,
      "write a self-contained HTML investigation report at the end of the run "
      "(`exflow report EVENTS.jsonl... --report FILE.html` re-renders it from saved events)",
      0, NULL },
    { "summary", 0, NULL, OPTION_SET, FIELD(summary), 0, 0,
      "end-of-run summary on stderr (default: when stderr is a terminal, offline)", 0, NULL },
    { "progress", 0, NULL, OPTION_SET, FIELD(progress), 0, 0,
      "replay progress on stderr (default: when stderr is a terminal, offline)", 0, NULL },
    { "summary-event", 0, NULL, OPTION_SET, FIELD(summary_event), 0, 0,
      "end the JSON output with a 'summary' event", 0, NULL },
    SECTION("Operation"),
    { "config", 'c', "FILE", OPTION_CUSTOM, NOFIELD, 0, 0,
      "read options from FILE first (key = value, keys are the long option names); "
      "command-line options override it", CLI_ONLY, set_config },
    { "stats-interval", 0, "SEC", OPTION_INTEGER, FIELD(stats_interval_sec), 0, 86400,
      "stats line and event period when live (0 = off)", 0, NULL },
    { "metrics-file", 0, "FILE", OPTION_STRING, FIELD(metrics_file), 0, 0,
      "Prometheus textfile of the stats, rewritten each period and at exit", 0, NULL },
    { "pidfile", 0, "FILE", OPTION_STRING, FIELD(pidfile), 0, 0,
      "write the process id to FILE", 0, NULL },
    { "user", 0, "USER", OPTION_STRING, FIELD(user), 0, 0,
      "drop root privileges after opening the interface", 0, NULL },
    { "verbose", 'v', NULL, OPTION_CUSTOM, NOFIELD, 0, 0,
      "more messages (repeat for debug)", 0, more_verbose },
    { "quiet", 'q', NULL, OPTION_CUSTOM, NOFIELD, 0, 0, "errors only", 0, less_verbose },
    /* The actions keep their enum options_action in min, for set_action. */
    { "help", 'h', NULL, OPTION_CUSTOM, NOFIELD, OPTIONS_HELP, 0, "this help", CLI_ONLY,
      set_action },
    { "version", 'V', NULL, OPTION_CUSTOM, NOFIELD, OPTIONS_VERSION, 0,
      "version and library versions", CLI_ONLY, set_action },
    { "dump-config", 0, NULL, OPTION_CUSTOM, NOFIELD, OPTIONS_DUMP_CONFIG, 0,
      "print a config file with every key and its default", CLI_ONLY, set_action },
    { "dump-man", 0, NULL, OPTION_CUSTOM, NOFIELD, OPTIONS_DUMP_MAN, 0,
      "print this program's manual page (roff)", CLI_ONLY, set_action },
    { "list-options", 0, NULL, OPTION_CUSTOM, NOFIELD, OPTIONS_LIST, 0,
      "print each option's name and whether it is also a config key", CLI_ONLY, set_action },
};

#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))
const size_t option_count = OPTION_COUNT;
#define LONG_ONLY_BASE 256   /* getopt_long's value for entry i without a short name */

/* Config-file strings (inih's buffers are reused line by line) and the file's values as
 * read, kept to tell on SIGHUP which keys changed. */
struct options_owned {
    char *file_value[OPTION_COUNT];   /* value the config file gave, NULL if none */
    bool from_cli[OPTION_COUNT];      /* the command line set it: the file's value is ignored */
    char **strings;
    size_t string_count, string_cap;
    int files_cap;
};

static void *field_of(struct options *o, const struct option_spec *spec)
{
    return (char *)o + spec->offset;
}

/* Keeps a copy of a config-file string for the whole run. */
static const char *own_string(struct options *o, const char *text)
{
    struct options_owned *owned = o->owned;
    if (owned->string_count == owned->string_cap) {
        size_t cap = owned->string_cap ? owned->string_cap * 2 : 16;
        char **grown = realloc(owned->strings, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        owned->strings = grown;
        owned->string_cap = cap;
    }
    char *copy = strdup(text);
    if (copy != NULL)
        owned->strings[owned->string_count++] = copy;
    return copy;
}

/* ---- argument parsers: strict, with overflow checks; they never print ---- */

/* "90", "90s", "1.5m", "6h", "2d" into seconds. Plain decimal only: strtod's hex,
 * exponent, "inf" and "nan" forms are not durations. */
static bool parse_duration(const char *text, double *seconds)
{
    size_t digits = strspn(text, "0123456789.");
    if (digits == 0)
        return false;
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end != text + digits || errno != 0 || !isfinite(value) || value < 0)
        return false;
    double unit = 1;
    if (*end != '\0') {
        switch (*end) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return false;
        }
        if (end[1] != '\0')
            return false;
    }
    *seconds = value * unit;
    return true;
}

/* "4096", "512K", "10M", "1G" (optionally "KB"...) into bytes. */
static bool parse_size(const char *text, uint64_t *bytes)
{
    char *end;
    if (text[0] < '0' || text[0] > '9')   /* strtoull would take "-1" and " 1" */
        return false;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0)
        return false;
    uint64_t unit = 1;
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': unit = 1024; break;
        case 'm': case 'M': unit = MIB; break;
        case 'g': case 'G': unit = 1024 * MIB; break;
        default: return false;
        }
        if (end[1] != '\0' && !(end[1] == 'B' && end[2] == '\0'))
            return false;
    }
    if (value > UINT64_MAX / unit)
        return false;
    *bytes = value * unit;
    return true;
}

static bool parse_integer(const char *text, long long *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0)
        return false;
    *out = value;
    return true;
}

static bool parse_number(const char *text, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !isfinite(value))
        return false;
    *out = value;
    return true;
}

/* Config-file flags: "no-flows = yes". */
static bool parse_yes_no(const char *text, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) { *out = true; return true; }
        if (strcasecmp(text, no[i]) == 0) { *out = false; return true; }
    }
    return false;
}

static bool is_choice(const char *choices, const char *text)
{
    size_t len = strlen(text);
    for (const char *p = choices; *p != '\0';) {
        size_t word = strcspn(p, "|");
        if (word == len && len > 0 && strncmp(p, text, len) == 0)
            return true;
        p += word + (p[word] == '|');
    }
    return false;
}

/* Stores an unsigned value into an integer field of 4 or 8 bytes (int, unsigned, uint32_t,
 * uint64_t, size_t); ranges in the table keep every value within the field. */
static void store_integer(void *field, size_t size, uint64_t value)
{
    if (size == sizeof(uint32_t)) {
        uint32_t narrow = (uint32_t)value;
        memcpy(field, &narrow, sizeof(narrow));
    } else {
        memcpy(field, &value, sizeof(value));
    }
}

/* What an argument of each kind should look like, for error messages. */
static const char *kind_expects(enum option_kind kind)
{
    switch (kind) {
    case OPTION_DURATION: return "a duration (90s, 30m, 6h, 2d)";
    case OPTION_SIZE: return "a size (4096, 512K, 10M, 1G)";
    case OPTION_MEBIBYTES: return "a size in MiB";
    case OPTION_INTEGER: return "a whole number";
    case OPTION_NUMBER: return "a number";
    default: return "valid";
    }
}

/* Parses a numeric argument into its unit and checks the range. */
static bool parse_numeric(const struct option_spec *spec, const char *value, double *in_unit,
                          uint64_t *bytes, char *err, size_t err_len)
{
    bool ok;
    long long whole = 0;
    switch (spec->kind) {
    case OPTION_DURATION: ok = parse_duration(value, in_unit); break;
    case OPTION_NUMBER: ok = parse_number(value, in_unit); break;
    case OPTION_SIZE:
        ok = parse_size(value, bytes);
        *in_unit = (double)*bytes;
        break;
    default:
        ok = parse_integer(value, &whole);
        *in_unit = (double)whole;
        break;
    }
    if (!ok) {
        snprintf(err, err_len, "'%s' is not %s", value, kind_expects(spec->kind));
        return false;
    }
    if (*in_unit < spec->min || *in_unit > spec->max) {
        snprintf(err, err_len, "'%s' is out of range (%.16g to %.16g%s)", value, spec->min, spec->max,
                 spec->kind == OPTION_DURATION ? " seconds" : "");
        return false;
    }
    return true;
}

/* Applies one option's value: the one place arguments are validated. from_file: the value
 * came from the config file (strings must be copied; flags take yes/no). */
static bool option_apply(struct options *o, const struct option_spec *spec, const char *value,
                         bool from_file, char *err, size_t err_len)
{
    void *field = field_of(o, spec);
    bool on = true;
    if (spec->arg == NULL && from_file && !parse_yes_no(value, &on)) {
        snprintf(err, err_len, "'%s' is not yes or no", value);
        return false;
    }
    if (spec->arg != NULL && from_file) {
        value = own_string(o, value);
        if (value == NULL) {
            snprintf(err, err_len, "out of memory");
            return false;
        }
    }
    double in_unit;
    uint64_t bytes = 0;
    switch (spec->kind) {
    case OPTION_SECTION:
        return true;
    case OPTION_CUSTOM:
        return !on || spec->handler(o, spec, value, err, err_len);
    case OPTION_SET:
    case OPTION_CLEAR: {
        bool set = (spec->kind == OPTION_SET) == on;
        memcpy(field, &set, sizeof(set));
        return true;
    }
    case OPTION_CHOICE:
        if (!is_choice(spec->arg, value)) {
            snprintf(err, err_len, "'%s' is not one of %s", value, spec->arg);
            return false;
        }
        /* fall through */
    case OPTION_STRING:
        memcpy(field, &value, sizeof(value));
        return true;
    case OPTION_NUMBER:
        if (!parse_numeric(spec, value, &in_unit, &bytes, err, err_len))
            return false;
        memcpy(field, &in_unit, sizeof(in_unit));
        return true;
    case OPTION_INTEGER:
    case OPTION_MEBIBYTES:
    case OPTION_DURATION:
    case OPTION_SIZE:
        if (!parse_numeric(spec, value, &in_unit, &bytes, err, err_len))
            return false;
        if (spec->kind == OPTION_MEBIBYTES)
            bytes = (uint64_t)in_unit * MIB;
        else if (spec->kind == OPTION_DURATION)
            bytes = (uint64_t)(in_unit * (double)USEC_PER_SEC); /* <= a year: no overflow */
        else if (spec->kind == OPTION_INTEGER)
            bytes = (uint64_t)in_unit;
        store_integer(field, spec->size, bytes);
        return true;
    }
    return true;
}

/* ---- handlers for OPTION_CUSTOM entries ---- */

static bool add_collect(struct options *o, const struct option_spec *spec, const char *value,
                        char *err, size_t err_len)
{
    (void)spec;
    if (o->collect.url_count == COLLECT_MAX_URLS) {
        snprintf(err, err_len, "at most %d listeners", COLLECT_MAX_URLS);
        return false;
    }
    o->collect.urls[o->collect.url_count++] = value;
    return true;
}

static bool add_file(struct options *o, const struct option_spec *spec, const char *value,
                     char *err, size_t err_len)
{
    (void)spec;
    struct options_owned *owned = o->owned;
    if (o->file_count + 1 >= owned->files_cap) {
        int cap = owned->files_cap ? owned->files_cap * 2 : 16;
        const char **grown = realloc(o->files, (size_t)cap * sizeof(*grown));
        if (grown == NULL) {
            snprintf(err, err_len, "out of memory");
            return false;
        }
        o->files = grown;
        owned->files_cap = cap;
    }
    o->files[o->file_count++] = value;
    return true;
}

/* --zeek: one more directory or log file (checked when the reader opens them). */
static bool add_zeek_path(struct options *o, const struct option_spec *spec, const char *value,
                          char *err, size_t err_len)
{
    (void)spec;
    if (o->zeek.path_count == ZEEK_MAX_PATHS) {
        snprintf(err, err_len, "at most %d paths", ZEEK_MAX_PATHS);
        return false;
    }
    o->zeek.paths[o->zeek.path_count++] = value;
    return true;
}

static bool set_action(struct options *o, const struct option_spec *spec, const char *value,
                       char *err, size_t err_len)
{
    (void)value; (void)err; (void)err_len;
    o->action = (enum options_action)spec->min;
    return true;
}

static bool more_verbose(struct options *o, const struct option_spec *spec, const char *value,
                         char *err, size_t err_len)
{
    (void)spec; (void)value; (void)err; (void)err_len;
    if (o->log_level < LOG_LEVEL_DEBUG)
        o->log_level++;
    return true;
}

static bool less_verbose(struct options *o, const struct option_spec *spec, const char *value,
                         char *err, size_t err_len)
{
    (void)spec; (void)value; (void)err; (void)err_len;
    o->log_level = LOG_LEVEL_ERROR;
    return true;
}

/* The file is read before the rest of the command line, by options_parse. */
static bool set_config(struct options *o, const struct option_spec *spec, const char *value,
                       char *err, size_t err_len)
{
    (void)spec; (void)err; (void)err_len;
    o->config_file = value;
    return true;
}

/* ---- defaults and the config file ---- */

void options_defaults(struct options *o)
{
    o->capture.snaplen = DEFAULT_SNAPLEN;
    o->capture.buffer_size_mb = DEFAULT_BUFFER_MB;
    o->capture.promiscuous = true;
    o->capture.immediate = false; /* immediate mode costs ~10x the CPU a packet */
    flow_table_config_defaults(&o->flows);
    detect_config_defaults(&o->detect);
    output_config_defaults(&o->output);
    o->output.json_path = "-";
    o->output.write_flows = true;
    o->stats_interval_sec = DEFAULT_STATS_INTERVAL;
    o->threads = pipeline_default_workers();
    o->log_level = LOG_LEVEL_INFO;
}

static const struct option_spec *find_option(const char *name)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (is_option(&option_table[i]) && strcmp(option_table[i].name, name) == 0)
            return &option_table[i];
    return NULL;
}

/* libinih's callback state: the first error wins, its line comes from ini_parse. */
struct config_reader {
    struct options *options;
    char error[256];
};

static int config_line(void *user, const char *section, const char *name, const char *value)
{
    struct config_reader *reader = user;
    if (reader->error[0] != '\0')
        return 1;   /* only the first error is reported */
    const struct option_spec *spec = find_option(name);
    if (section[0] != '\0') {
        snprintf(reader->error, sizeof(reader->error), "[%s]: sections are not used", section);
        return 0;
    }
    if (spec == NULL || (spec->flags & CLI_ONLY)) {
        snprintf(reader->error, sizeof(reader->error), "%s: unknown key", name);
        return 0;
    }
    char message[200];
    if (!option_apply(reader->options, spec, value, true, message, sizeof(message))) {
        snprintf(reader->error, sizeof(reader->error), "%s: %s", name, message);
        return 0;
    }
    /* Kept to tell, on SIGHUP, which keys changed. */
    char **slot = &reader->options->owned->file_value[spec - option_table];
    free(*slot);
    *slot = strdup(value);
    return 1;
}

/* Reads the config file into reader->options. */
static bool config_read(struct config_reader *reader, const char *path)
{
    int line = ini_parse(path, config_line, reader);
    if (line < 0) {
        LOG_ERROR("--config %s: %s", path, line == -1 ? strerror(errno) : "out of memory");
        return false;
    }
    if (line > 0) {
        LOG_ERROR("%s:%d: %s", path, line,
                  reader->error[0] != '\0' ? reader->error : "not a 'key = value' line");
        return false;
    }
    return true;
}

/* ---- getopt_long from the table ---- */

static int option_value(size_t index)
{
    const struct option_spec *spec = &option_table[index];
    return spec->short_name != 0 ? spec->short_name : LONG_ONLY_BASE + (int)index;
}

static const struct option_spec *option_by_value(int value, size_t *index)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (is_option(&option_table[i]) && option_value(i) == value) {
            *index = i;
            return &option_table[i];
        }
    }
    return NULL;
}

static void build_getopt(struct option *longs, char *shorts)
{
    size_t n = 0, s = 0;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *spec = &option_table[i];
        if (!is_option(spec))
            continue;
        longs[n++] = (struct option){ spec->name, spec->arg ? required_argument : no_argument,
                                      NULL, option_value(i) };
        if (spec->short_name != 0) {
            shorts[s++] = (char)spec->short_name;
            if (spec->arg != NULL)
                shorts[s++] = ':';
        }
    }
    longs[n] = (struct option){ NULL, 0, NULL, 0 };
    shorts[s] = '\0';
}

#define USAGE_ERROR(...) do { LOG_ERROR(__VA_ARGS__); \
    fprintf(stderr, "Try 'exflow --help'.\n"); return false; } while (0)

/* Finds --config among the arguments without applying anything else. */
static bool find_config_arg(int argc, char **argv, struct options *o,
                            const struct option *longs, const char *shorts)
{
    int saved_opterr = opterr;
    opterr = 0;   /* the real pass reports bad options */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1)
        if (c == 'c')
            o->config_file = optarg;
    opterr = saved_opterr;
    optind = 0;   /* glibc: 0 starts the next getopt_long pass from scratch */
    return true;
}

/* A command-line input (-r or -i) replaces the config file's: a packaged config names an
 * interface, and `exflow --config FILE -r x.pcap` should read x.pcap. */
static void drop_config_input(struct options *o, int cli_files, bool cli_interface)
{
    if (cli_files == 0 && !cli_interface)
        return;
    if (!cli_interface)
        o->capture.interface = NULL;
    if (cli_files > 0 && cli_files < o->file_count) {
        int from_file = o->file_count - cli_files;
        memmove(o->files, o->files + from_file, (size_t)cli_files * sizeof(*o->files));
    }
    o->file_count = cli_files;
}

/* Applies the command line over what the config file set. */
static bool apply_argv(int argc, char **argv, struct options *o,
                       const struct option *longs, const char *shorts)
{
    int files_before = o->file_count;
    bool cli_interface = false;
    int c;
    char err[256];
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        size_t index;
        const struct option_spec *spec = option_by_value(c, &index);
        if (spec == NULL) {   /* getopt_long printed what was wrong */
            fprintf(stderr, "Try 'exflow --help'.\n");
            return false;
        }
        o->owned->from_cli[index] = true;
        cli_interface |= spec->short_name == 'i';
        if (spec->short_name == 'c')
            continue;   /* already read */
        if (!option_apply(o, spec, optarg, false, err, sizeof(err)))
            USAGE_ERROR("--%s: %s", spec->name, err);
        if (o->action != OPTIONS_RUN)
            return true;
    }
    /* Files may also follow the options, as with `exflow -r a.pcap b.pcap`. */
    for (int i = optind; i < argc; i++) {
        if (o->file_count == files_before && o->capture.interface == NULL)
            USAGE_ERROR("unexpected argument '%s' (files are read with -r)", argv[i]);
        if (cli_interface)
            USAGE_ERROR("unexpected argument '%s' (a BPF filter goes after -f)", argv[i]);
        if (!add_file(o, NULL, argv[i], err, sizeof(err)))
            USAGE_ERROR("%s", err);
    }
    drop_config_input(o, o->file_count - files_before, cli_interface);
    /* --zeek is an input too: it replaces a config file's interface or files. */
    if (o->zeek.path_count > 0 && o->file_count == files_before && !cli_interface) {
        o->capture.interface = NULL;
        o->file_count = 0;
    }
    return true;
}

/* Checks that involve several options, or the files named. */
static bool check_inputs(struct options *o)
{
    int stdin_count = 0;
    for (int i = 0; i < o->file_count; i++) {
        if (strcmp(o->files[i], "-") == 0) {
            stdin_count++;
            continue;
        }
        /* Fail before any work: a typo in the third file should not cost a long run. */
        struct stat st;
        if (stat(o->files[i], &st) != 0)
            USAGE_ERROR("%s: %s", o->files[i], strerror(errno));
        if (S_ISDIR(st.st_mode))
            USAGE_ERROR("%s: is a directory, not a capture file", o->files[i]);
        if (access(o->files[i], R_OK) != 0)
            USAGE_ERROR("%s: %s", o->files[i], strerror(errno));
    }
    if (stdin_count > 1)
        USAGE_ERROR("'-' (stdin) can be read only once");
    return true;
}

/* Formats a path into out and says whether it names a readable file. */
static bool readable_path(char *out, size_t out_len, const char *dir, const char *rest)
{
    int n = snprintf(out, out_len, "%s/%s", dir, rest);
    return n > 0 && (size_t)n < out_len && access(out, R_OK) == 0;
}

/* A bundled data file, from where the binary is: built (build/<variant>/exflow, TREE_PATH
 * in the source tree) or installed (PREFIX/bin/exflow, PREFIX/share/exflow/NAME), then the
 * usual places. found: PATH_MAX bytes. */
static const char *default_data_file(const char *tree_path, const char *name, char *found)
{
    char share[128], local[160], system[160];
    snprintf(share, sizeof(share), "share/exflow/%s", name);
    snprintf(local, sizeof(local), "/usr/local/share/exflow/%s", name);
    snprintf(system, sizeof(system), "/usr/share/exflow/%s", name);
    const char *const candidates[] = { tree_path, local, system };
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash = NULL;
    if (len > 0) {
        self[len] = '\0';
        slash = strrchr(self, '/');
    }
    /* One folder up at a time: PREFIX/bin/exflow is PREFIX one up from its folder,
     * TREE/build/<variant>/exflow is TREE two up. */
    for (int up = 0; slash != NULL && up < 3; up++) {
        *slash = '\0';
        if (up == 1 && readable_path(found, PATH_MAX, self, share))
            return found;
        if (up == 2 && readable_path(found, PATH_MAX, self, tree_path))
            return found;
        slash = strrchr(self, '/');
    }
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (access(candidates[i], R_OK) == 0 && snprintf(found, PATH_MAX, "%s", candidates[i]) > 0)
            return found;
    return NULL;
}

static const char *default_protocols_file(void)
{
    static char found[PATH_MAX];
    return default_data_file("flows/protocols.txt", "protocols.txt", found);
}

static const char *default_dns_heavy_users_file(void)
{
    static char found[PATH_MAX];
    return default_data_file("detect/dns-heavy-users.txt", "dns-heavy-users.txt", found);
}

static bool options_check(struct options *o)
{
    {
        int inputs = (o->file_count > 0) + (o->capture.interface != NULL) +
                     (o->collect.url_count > 0) + (o->zeek.path_count > 0);
        if (inputs == 0)
            USAGE_ERROR("nothing to read: give -r FILE, -i IFACE, --collect udp://HOST:PORT or "
                        "--zeek DIR");
        if (o->collect.url_count > 0 && inputs > 1)
            USAGE_ERROR("--collect takes flow exports instead of packets: not with -r, -i or "
                        "--zeek");
        if (o->zeek.path_count > 0 && inputs > 1)
            USAGE_ERROR("--zeek reads logs instead of packets: not with -r or -i");
    }
    if (o->file_count > 0 && o->capture.interface != NULL)
        USAGE_ERROR("-r and -i cannot be used together");
    if (o->fanout && o->capture.interface == NULL)
        USAGE_ERROR("--fanout is for live capture (-i IFACE); files are read by one thread");
    if (!check_inputs(o))
        return false;
    if ((o->detect.flag_countries != NULL || o->detect.flag_asns != NULL) &&
        o->geoip_city == NULL && o->geoip_asn == NULL)
        USAGE_ERROR("--flag-country and --flag-asn need --geoip-city or --geoip-asn");
    o->capture.files = o->files;
    o->capture.file_count = o->file_count;
    if (o->no_dpi)
        o->flows.ndpi_enabled = false;
    else if (o->flows.custom_protocols_file == NULL) {
        o->flows.custom_protocols_file = default_protocols_file();
        /* Without it the services only it names (transfer.sh, gofile, pCloud links...)
         * would go unlabelled without a word: a binary copied away from its tree. */
        if (o->flows.custom_protocols_file == NULL)
            LOG_WARN("bundled protocols.txt not found (PREFIX/share/exflow/ beside the "
                     "binary, its source tree, ./flows/, /usr/local/share/exflow/, "
                     "/usr/share/exflow/): nDPI's own labels only; give --protocols FILE");
    }
    if (o->detect.dns_heavy_users_file == NULL) {
        o->detect.dns_heavy_users_file = default_dns_heavy_users_file();
        if (o->detect.dns_heavy_users_file == NULL)
            LOG_WARN("bundled dns-heavy-users.txt not found (PREFIX/share/exflow/ beside the "
                     "binary, its source tree, /usr/local/share/exflow/, /usr/share/exflow/): "
                     "CDN and anti-virus long names may alert; give --dns-heavy-users FILE");
    }
    return true;
}

/* Catches a table entry whose kind does not fit its field (an option added in a hurry)
 * on the first run of any test, instead of as memory corruption. */
static bool table_check(void)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *spec = &option_table[i];
        size_t want = 0;
        switch (spec->kind) {
        case OPTION_SET: case OPTION_CLEAR: want = sizeof(bool); break;
        case OPTION_STRING: case OPTION_CHOICE: want = sizeof(const char *); break;
        case OPTION_NUMBER: want = sizeof(double); break;
        case OPTION_INTEGER: case OPTION_DURATION:
            want = spec->size == sizeof(uint32_t) ? sizeof(uint32_t) : sizeof(uint64_t);
            break;
        case OPTION_MEBIBYTES: case OPTION_SIZE: want = sizeof(uint64_t); break;
        case OPTION_SECTION: case OPTION_CUSTOM: want = spec->size; break;
        }
        if (spec->size != want || (spec->kind == OPTION_CUSTOM && spec->handler == NULL) ||
            ((spec->kind == OPTION_SET || spec->kind == OPTION_CLEAR) && spec->arg != NULL)) {
            LOG_ERROR("option table: --%s does not fit its field or kind", spec->name);
            return false;
        }
    }
    return true;
}

bool options_parse(int argc, char **argv, struct options *o)
{
    struct option longs[OPTION_COUNT + 1];
    char shorts[2 * OPTION_COUNT + 1];
    memset(o, 0, sizeof(*o));
    o->owned = calloc(1, sizeof(*o->owned));
    if (o->owned == NULL)
        USAGE_ERROR("out of memory");
    if (!table_check())
        return false;
    options_defaults(o);
    build_getopt(longs, shorts);
    find_config_arg(argc, argv, o, longs, shorts);
    if (o->config_file != NULL) {
        struct config_reader reader = { .options = o };
        if (!config_read(&reader, o->config_file))
            return false;
    }
    if (!apply_argv(argc, argv, o, longs, shorts))
        return false;
    log_threshold = o->log_level;   /* before the checks, whose warnings -q silences */
    if (o->action != OPTIONS_RUN)
        return true;
    return options_check(o);
}

void options_free(struct options *o)
{
    if (o->owned != NULL) {
        for (size_t i = 0; i < OPTION_COUNT; i++)
            free(o->owned->file_value[i]);
        for (size_t i = 0; i < o->owned->string_count; i++)
            free(o->owned->strings[i]);
        free(o->owned->strings);
        free(o->owned);
    }
    free(o->files);
    memset(o, 0, sizeof(*o));
}

/* Logs each key whose value in the file differs from the one the run started with. */
static void log_changed_keys(const struct options *running, const struct options *reread)
{
    size_t changed = 0;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *was = running->owned->file_value[i], *now = reread->owned->file_value[i];
        if ((was == NULL) == (now == NULL) && (was == NULL || strcmp(was, now) == 0))
            continue;
        changed++;
        LOG_WARN("%s: '%s' changed%s: takes effect after a restart", running->config_file,
                 option_table[i].name,
                 running->owned->from_cli[i] ? " (and the command line overrides it)" : "");
    }
    if (changed == 0)
        LOG_INFO("%s: re-read, no option changed", running->config_file);
}

void options_report_config_changes(const struct options *o)
{
    if (o->config_file == NULL)
        return;
    /* Read into a scratch copy, with the same checks as at start: a file that would not
     * start is said to be broken now, not at the next restart. */
    struct options scratch;
    memset(&scratch, 0, sizeof(scratch));
    scratch.owned = calloc(1, sizeof(*scratch.owned));
    if (scratch.owned == NULL) {
        LOG_ERROR("%s: not re-read: out of memory", o->config_file);
        return;
    }
    options_defaults(&scratch);
    struct config_reader reader = { .options = &scratch };
    if (config_read(&reader, o->config_file))
        log_changed_keys(o, &scratch);
    else
        LOG_WARN("%s: not re-read; the running configuration is unchanged", o->config_file);
    options_free(&scratch);
}
