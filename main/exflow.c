/*
 * exflow: catches automated data exfiltration on a SPAN port or in pcaps.
 * main is thin: parse options, build the stages, run the capture loop, shut down cleanly.
 *   capture/ -> flows/ -> detect/ -> output/, with geo/ as a service.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../capture/capture.h"
#include "../collect/collect.h"
#include "../common/log.h"
#include "../common/tunables.h"
#include "../detect/detect.h"
#include "../flows/flows.h"
#include "../geo/geo.h"
#include "../output/output.h"
#include "../pipeline/pipeline.h"

/* Exit codes, documented in README.md. */
#define EXIT_OK      0
#define EXIT_RUNTIME 1   /* failed while running: live capture error, state could not be saved */
#define EXIT_USAGE   2   /* bad option, unreadable input, bad config: nothing was processed */

struct options {
    struct capture_config capture;
    struct flow_table_config flows;
    struct detect_config detect;
    struct output_config output;
    struct collect_config collect; /* --collect: flow exports instead of packets */
    const char **files;
    int file_count;
    const char *geoip_city;
    const char *geoip_asn;
    const char *pidfile;
    const char *user;
    unsigned stats_interval_sec;
    unsigned threads;           /* pipeline workers */
    bool fanout;                /* live: a capture per worker (--fanout) */
    bool no_dpi;
};

/* Everything one run owns; the signal handlers only touch the flags. The capture (main)
 * thread owns capture and the pipeline; the pipeline's consumer thread owns detector and
 * output, and leaves a copy of their stats for the capture thread's stats line. */
struct exflow {
    struct options *options;
    struct capture *capture;        /* NULL with --fanout: */
    struct capture *fanout[PIPELINE_MAX_WORKERS]; /* --fanout: one capture per worker */
    unsigned fanout_count;
    struct pipeline *pipeline;
    struct collector *collector;    /* --collect: instead of capture and pipeline */
    struct detector *detector;
    struct output *output;
    struct geo *geo;
    time_t next_stats_wall;
    bool live;
    atomic_bool reload_pending;     /* SIGHUP seen: the consumer reloads on its next tick */
    pthread_mutex_t stats_lock;     /* guards the two copies below */
    struct detect_stats detect_stats;
    struct output_stats output_stats;
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static struct capture *signal_capture;
static struct capture *const *signal_fanout;  /* --fanout: the workers' captures */
static volatile sig_atomic_t signal_fanout_count;

static void stop_fanout(struct capture *const *captures, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        capture_stop(captures[i]);
}

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
    if (signal_capture != NULL)
        capture_stop(signal_capture);
    if (signal_fanout != NULL)
        stop_fanout(signal_fanout, (unsigned)signal_fanout_count);
}

static void on_reload_signal(int signo)
{
    (void)signo;
    reload_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
"Usage: exflow -r FILE... | -i IFACE | --collect udp://HOST:PORT [options]\n"
"Catches automated data exfiltration: periodic, upload-heavy transfers to new public\n"
"destinations. Writes JSON lines (flows and alerts) and optionally syslog.\n"
"\n"
"Input:\n"
"  -r, --read FILE        read a pcap/pcapng file ('-' = stdin); repeat, or list more\n"
"                         files after the options; read in order\n"
"  -i, --interface IFACE  capture live from IFACE\n"
"  -f, --filter EXPR      BPF filter (tcpdump syntax)\n"
"  -s, --snaplen BYTES    live snapshot length (default %d)\n"
"  -B, --buffer-size MIB  live kernel buffer (default %d)\n"
"  -p, --no-promisc       do not put the interface in promiscuous mode\n"
"      --immediate        deliver each packet at once (more CPU; default: the kernel\n"
"                         hands packets over in blocks, at most 100 ms late)\n"
"      --collect udp://HOST:PORT  receive IPFIX / NetFlow v9 exports (repeatable)\n"
"      --collect-idle-exit SEC    --collect: end after SEC without a datagram\n"
"Flows:\n"
"      --idle-timeout SEC         TCP idle timeout (default %d)\n"
"      --udp-idle-timeout SEC     UDP/ICMP/other idle timeout (default %d)\n"
"      --active-timeout SEC       interim record for long flows (default %d)\n"
"      --flow-memory MIB          flow table memory cap (default %d)\n"
"      --protocols FILE           nDPI custom protocols file (default: bundled)\n"
"      --threads N                worker threads (default: online cores - 1, at least 1)\n"
"      --fanout                   live: each worker reads its own socket of an AF_PACKET\n"
"                                 fanout group (Linux), no capture thread in between\n"
"      --no-dpi                   do not run nDPI (no labels, no cloud detection)\n"
"Detection:\n"
"      --home-net CIDRS           internal networks (default RFC 1918, 6598, ULA, ...)\n"
"      --state-file FILE          persist first-seen destinations across restarts\n"
"      --reset-state              start fresh if the state file is corrupt\n"
"      --allowlist FILE           allowlist rules (reloaded on SIGHUP)\n"
"      --learn DURATION           learn only, no alerts, for this much packet time\n"
"      --min-upload BYTES         bytes out before an upload counts (default %d)\n"
"      --pcr-threshold X          upload-heavy above this PCR (default %.2f)\n"
"      --beacon-min-conns N       connections before a schedule is scored (default %d)\n"
"      --alert-threshold X        score that raises an alert (default %.2f)\n"
"      --suppress DURATION        re-alert window for a series (default %ds)\n"
"Geo:\n"
"      --geoip-city FILE          MaxMind City/Country mmdb\n"
"      --geoip-asn FILE           MaxMind ASN mmdb\n"
"      --flag-country CC,...      destinations in these countries score higher\n"
"      --flag-asn N,...           destinations in these AS numbers score higher\n"
"Output:\n"
"  -w, --write FILE               JSON lines to FILE (default stdout)\n"
"      --rotate-bytes BYTES       rotate the JSON file past this size\n"
"      --no-flows                 alerts only, no flow records\n"
"      --syslog URL               udp://HOST:PORT or tcp://HOST:PORT (RFC 5424)\n"
"      --syslog-format json|cef   syslog message body (default json)\n"
"      --syslog-facility N        syslog facility 0-23 (default 13, log audit)\n"
"      --syslog-severities L,M,H,C syslog severities for low..critical (default 5,4,3,2)\n"
"      --spool-dir DIR            where undelivered syslog alerts wait\n"
"      --spool-max-bytes BYTES    spool size cap\n"
"Operation:\n"
"      --stats-interval SEC       stats line period when live (default %d, 0 = off)\n"
"      --pidfile FILE             write the process id to FILE\n"
"      --user USER                drop root privileges after opening the interface\n"
"  -v, --verbose                  more messages (repeat for debug)\n"
"  -q, --quiet                    errors only\n"
"  -h, --help                     this help\n"
"  -V, --version                  version and library versions\n"
"\n"
"Durations take a unit: 90s, 30m, 6h, 2d. Sizes: 512K, 10M, 1G.\n"
"Exit status: 0 success, 1 runtime failure, 2 bad usage or unreadable input.\n",
        DEFAULT_SNAPLEN, DEFAULT_BUFFER_MB, DEFAULT_IDLE_TIMEOUT_TCP, DEFAULT_IDLE_TIMEOUT_OTHER,
        DEFAULT_ACTIVE_TIMEOUT, DEFAULT_FLOW_MEMORY_MB, DEFAULT_MIN_UPLOAD_BYTES,
        DEFAULT_PCR_THRESHOLD, DEFAULT_BEACON_MIN_CONNS, DEFAULT_ALERT_THRESHOLD,
        DEFAULT_SUPPRESS_WINDOW, DEFAULT_STATS_INTERVAL);
}

/* Parses "90", "90s", "30m", "6h", "2d" into seconds. */
static bool parse_duration(const char *text, double *seconds)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || errno != 0 || value < 0)
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

/* Parses "4096", "512K", "10M", "1G" into bytes. */
static bool parse_size(const char *text, uint64_t *bytes)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (end == text || errno != 0 || text[0] == '-')
        return false;
    uint64_t unit = 1;
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': unit = 1024; break;
        case 'm': case 'M': unit = 1024 * 1024; break;
        case 'g': case 'G': unit = 1024ULL * 1024 * 1024; break;
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

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || value < min || value > max)
        return false;
    *out = value;
    return true;
}

static bool parse_fraction(const char *text, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || value < -1 || value > 1)
        return false;
    *out = value;
    return true;
}

/* Formats a path into out and says whether it names a readable file. */
static bool readable_path(char *out, size_t out_len, const char *dir, const char *rest)
{
    int n = snprintf(out, out_len, "%s/%s", dir, rest);
    return n > 0 && (size_t)n < out_len && access(out, R_OK) == 0;
}

/* The bundled protocols file, from where the binary is: built (build/<variant>/exflow, the
 * file in the source tree) or installed (PREFIX/bin/exflow, PREFIX/share/exflow/), then
 * the usual places. */
static const char *default_protocols_file(void)
{
    static const char *const candidates[] = {
        "flows/protocols.txt",
        "/usr/local/share/exflow/protocols.txt",
        "/usr/share/exflow/protocols.txt",
    };
    static char found[PATH_MAX];
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
        if (up == 1 && readable_path(found, sizeof(found), self, "share/exflow/protocols.txt"))
            return found;
        if (up == 2 && readable_path(found, sizeof(found), self, "flows/protocols.txt"))
            return found;
        slash = strrchr(self, '/');
    }
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return NULL;
}

enum long_only_option {
    OPT_IDLE_TIMEOUT = 256, OPT_UDP_IDLE_TIMEOUT, OPT_ACTIVE_TIMEOUT, OPT_FLOW_MEMORY,
    OPT_PROTOCOLS, OPT_NO_DPI, OPT_HOME_NET, OPT_STATE_FILE, OPT_RESET_STATE, OPT_ALLOWLIST,
    OPT_LEARN, OPT_MIN_UPLOAD, OPT_PCR_THRESHOLD, OPT_BEACON_MIN_CONNS, OPT_ALERT_THRESHOLD,
    OPT_SUPPRESS, OPT_GEOIP_CITY, OPT_GEOIP_ASN, OPT_ROTATE_BYTES, OPT_NO_FLOWS, OPT_SYSLOG,
    OPT_SYSLOG_FORMAT, OPT_SYSLOG_FACILITY, OPT_SPOOL_DIR, OPT_SPOOL_MAX, OPT_STATS_INTERVAL,
    OPT_PIDFILE, OPT_USER, OPT_IMMEDIATE, OPT_NO_IMMEDIATE, OPT_FLAG_COUNTRY, OPT_FLAG_ASN,
    OPT_SYSLOG_SEVERITIES, OPT_THREADS, OPT_FANOUT, OPT_COLLECT, OPT_COLLECT_IDLE_EXIT,
};

static const struct option long_options[] = {
    { "read", required_argument, NULL, 'r' },
    { "interface", required_argument, NULL, 'i' },
    { "filter", required_argument, NULL, 'f' },
    { "snaplen", required_argument, NULL, 's' },
    { "buffer-size", required_argument, NULL, 'B' },
    { "no-promisc", no_argument, NULL, 'p' },
    { "immediate", no_argument, NULL, OPT_IMMEDIATE },
    { "no-immediate", no_argument, NULL, OPT_NO_IMMEDIATE },
    { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
    { "udp-idle-timeout", required_argument, NULL, OPT_UDP_IDLE_TIMEOUT },
    { "active-timeout", required_argument, NULL, OPT_ACTIVE_TIMEOUT },
    { "flow-memory", required_argument, NULL, OPT_FLOW_MEMORY },
    { "protocols", required_argument, NULL, OPT_PROTOCOLS },
    { "no-dpi", no_argument, NULL, OPT_NO_DPI },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "fanout", no_argument, NULL, OPT_FANOUT },
    { "collect", required_argument, NULL, OPT_COLLECT },
    { "collect-idle-exit", required_argument, NULL, OPT_COLLECT_IDLE_EXIT },
    { "home-net", required_argument, NULL, OPT_HOME_NET },
    { "state-file", required_argument, NULL, OPT_STATE_FILE },
    { "reset-state", no_argument, NULL, OPT_RESET_STATE },
    { "allowlist", required_argument, NULL, OPT_ALLOWLIST },
    { "learn", required_argument, NULL, OPT_LEARN },
    { "min-upload", required_argument, NULL, OPT_MIN_UPLOAD },
    { "pcr-threshold", required_argument, NULL, OPT_PCR_THRESHOLD },
    { "beacon-min-conns", required_argument, NULL, OPT_BEACON_MIN_CONNS },
    { "alert-threshold", required_argument, NULL, OPT_ALERT_THRESHOLD },
    { "suppress", required_argument, NULL, OPT_SUPPRESS },
    { "geoip-city", required_argument, NULL, OPT_GEOIP_CITY },
    { "geoip-asn", required_argument, NULL, OPT_GEOIP_ASN },
    { "flag-country", required_argument, NULL, OPT_FLAG_COUNTRY },
    { "flag-asn", required_argument, NULL, OPT_FLAG_ASN },
    { "write", required_argument, NULL, 'w' },
    { "rotate-bytes", required_argument, NULL, OPT_ROTATE_BYTES },
    { "no-flows", no_argument, NULL, OPT_NO_FLOWS },
    { "syslog", required_argument, NULL, OPT_SYSLOG },
    { "syslog-format", required_argument, NULL, OPT_SYSLOG_FORMAT },
    { "syslog-facility", required_argument, NULL, OPT_SYSLOG_FACILITY },
    { "syslog-severities", required_argument, NULL, OPT_SYSLOG_SEVERITIES },
    { "spool-dir", required_argument, NULL, OPT_SPOOL_DIR },
    { "spool-max-bytes", required_argument, NULL, OPT_SPOOL_MAX },
    { "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
    { "pidfile", required_argument, NULL, OPT_PIDFILE },
    { "user", required_argument, NULL, OPT_USER },
    { "verbose", no_argument, NULL, 'v' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static void print_version(void)
{
    printf("exflow %s\n", EXFLOW_VERSION);
    printf("built with nDPI 4.2, libpcap, libmaxminddb, jansson (Debian 12 packages)\n");
}

#define USAGE_ERROR(...) do { LOG_ERROR(__VA_ARGS__); \
    fprintf(stderr, "Try 'exflow --help'.\n"); return false; } while (0)

/* Fills options from argv. Returns false after printing a one-line error. */
static bool parse_options(int argc, char **argv, struct options *o, bool *exit_now)
{
    long number;
    double seconds;
    uint64_t bytes;
    *exit_now = false;

    o->capture.snaplen = DEFAULT_SNAPLEN;
    o->capture.buffer_size_mb = DEFAULT_BUFFER_MB;
    o->capture.promiscuous = true;
    o->capture.immediate = false; /* see README: immediate mode costs ~10x the CPU a packet */
    flow_table_config_defaults(&o->flows);
    detect_config_defaults(&o->detect);
    output_config_defaults(&o->output);
    o->output.json_path = "-";
    o->output.write_flows = true;
    o->stats_interval_sec = DEFAULT_STATS_INTERVAL;
    o->threads = pipeline_default_workers();
    o->files = calloc((size_t)argc + 1, sizeof(*o->files));
    if (o->files == NULL)
        USAGE_ERROR("out of memory");

    int c;
    while ((c = getopt_long(argc, argv, "r:i:f:s:B:pw:vqhV", long_options, NULL)) != -1) {
        switch (c) {
        case 'r': o->files[o->file_count++] = optarg; break;
        case 'i': o->capture.interface = optarg; break;
        case 'f': o->capture.bpf_filter = optarg; break;
        case 's':
            if (!parse_long(optarg, 64, 262144, &number))
                USAGE_ERROR("--snaplen: '%s' is not a length between 64 and 262144", optarg);
            o->capture.snaplen = (int)number;
            break;
        case 'B':
            if (!parse_long(optarg, 1, 4096, &number))
                USAGE_ERROR("--buffer-size: '%s' is not a size in MiB between 1 and 4096", optarg);
            o->capture.buffer_size_mb = (int)number;
            break;
        case 'p': o->capture.promiscuous = false; break;
        case OPT_IMMEDIATE: o->capture.immediate = true; break;
        case OPT_NO_IMMEDIATE: o->capture.immediate = false; break; /* the default; kept for scripts */
        case OPT_IDLE_TIMEOUT:
        case OPT_UDP_IDLE_TIMEOUT:
        case OPT_ACTIVE_TIMEOUT:
            if (!parse_duration(optarg, &seconds) || seconds < 1)
                USAGE_ERROR("%s: '%s' is not a duration of at least 1s", argv[optind - 1], optarg);
            if (c == OPT_IDLE_TIMEOUT)
                o->flows.idle_timeout_tcp_usec = (uint64_t)(seconds * USEC_PER_SEC);
            else if (c == OPT_UDP_IDLE_TIMEOUT)
                o->flows.idle_timeout_other_usec = (uint64_t)(seconds * USEC_PER_SEC);
            else
                o->flows.active_timeout_usec = (uint64_t)(seconds * USEC_PER_SEC);
            break;
        case OPT_FLOW_MEMORY:
            if (!parse_long(optarg, 1, 1024 * 1024, &number))
                USAGE_ERROR("--flow-memory: '%s' is not a size in MiB", optarg);
            o->flows.memory_cap_bytes = (size_t)number * 1024 * 1024;
            break;
        case OPT_PROTOCOLS: o->flows.custom_protocols_file = optarg; break;
        case OPT_NO_DPI: o->no_dpi = true; break;
        case OPT_THREADS:
            if (!parse_long(optarg, 1, PIPELINE_MAX_WORKERS, &number))
                USAGE_ERROR("--threads: '%s' is not a count between 1 and %d", optarg,
                            PIPELINE_MAX_WORKERS);
            o->threads = (unsigned)number;
            break;
        case OPT_FANOUT: o->fanout = true; break;
        case OPT_COLLECT:
            if (o->collect.url_count == COLLECT_MAX_URLS)
                USAGE_ERROR("--collect: at most %d listeners", COLLECT_MAX_URLS);
            o->collect.urls[o->collect.url_count++] = optarg;
            break;
        case OPT_COLLECT_IDLE_EXIT:
            if (!parse_duration(optarg, &seconds) || seconds < 1)
                USAGE_ERROR("--collect-idle-exit: '%s' is not a duration of at least 1s", optarg);
            o->collect.idle_exit_sec = (unsigned)seconds;
            break;
        case OPT_HOME_NET: o->detect.home_net = optarg; break;
        case OPT_STATE_FILE: o->detect.state_file = optarg; break;
        case OPT_RESET_STATE: o->detect.state_reset_if_corrupt = true; break;
        case OPT_ALLOWLIST: o->detect.allowlist_file = optarg; break;
        case OPT_LEARN:
            if (!parse_duration(optarg, &seconds))
                USAGE_ERROR("--learn: '%s' is not a duration (e.g. 30m, 6h, 2d)", optarg);
            o->detect.learn_usec = (uint64_t)(seconds * USEC_PER_SEC);
            break;
        case OPT_MIN_UPLOAD:
            if (!parse_size(optarg, &bytes))
                USAGE_ERROR("--min-upload: '%s' is not a size (e.g. 512K, 1M)", optarg);
            o->detect.min_upload_bytes = bytes;
            break;
        case OPT_PCR_THRESHOLD:
            if (!parse_fraction(optarg, &o->detect.pcr_threshold))
                USAGE_ERROR("--pcr-threshold: '%s' is not a number between -1 and 1", optarg);
            break;
        case OPT_BEACON_MIN_CONNS:
            if (!parse_long(optarg, 3, 1000, &number))
                USAGE_ERROR("--beacon-min-conns: '%s' is not a count between 3 and 1000", optarg);
            o->detect.beacon_min_connections = (uint32_t)number;
            break;
        case OPT_ALERT_THRESHOLD:
            if (!parse_fraction(optarg, &o->detect.alert_threshold) || o->detect.alert_threshold < 0)
                USAGE_ERROR("--alert-threshold: '%s' is not a number between 0 and 1", optarg);
            break;
        case OPT_SUPPRESS:
            if (!parse_duration(optarg, &seconds))
                USAGE_ERROR("--suppress: '%s' is not a duration", optarg);
            o->detect.suppress_usec = (uint64_t)(seconds * USEC_PER_SEC);
            break;
        case OPT_GEOIP_CITY: o->geoip_city = optarg; break;
        case OPT_GEOIP_ASN: o->geoip_asn = optarg; break;
        case OPT_FLAG_COUNTRY: o->detect.flag_countries = optarg; break;
        case OPT_FLAG_ASN: o->detect.flag_asns = optarg; break;
        case 'w': o->output.json_path = optarg; break;
        case OPT_ROTATE_BYTES:
            if (!parse_size(optarg, &bytes))
                USAGE_ERROR("--rotate-bytes: '%s' is not a size", optarg);
            o->output.json_rotate_bytes = bytes;
            break;
        case OPT_NO_FLOWS: o->output.write_flows = false; break;
        case OPT_SYSLOG: o->output.syslog_url = optarg; break;
        case OPT_SYSLOG_FORMAT:
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "cef") != 0)
                USAGE_ERROR("--syslog-format: '%s' is not json or cef", optarg);
            o->output.syslog_format = optarg;
            break;
        case OPT_SYSLOG_FACILITY:
            if (!parse_long(optarg, 0, 23, &number))
                USAGE_ERROR("--syslog-facility: '%s' is not a facility 0-23", optarg);
            o->output.syslog_facility = (int)number;
            break;
        case OPT_SYSLOG_SEVERITIES: o->output.syslog_severities = optarg; break;
        case OPT_SPOOL_DIR: o->output.spool_dir = optarg; break;
        case OPT_SPOOL_MAX:
            if (!parse_size(optarg, &bytes))
                USAGE_ERROR("--spool-max-bytes: '%s' is not a size", optarg);
            o->output.spool_max_bytes = bytes;
            break;
        case OPT_STATS_INTERVAL:
            if (!parse_long(optarg, 0, 86400, &number))
                USAGE_ERROR("--stats-interval: '%s' is not seconds between 0 and 86400", optarg);
            o->stats_interval_sec = (unsigned)number;
            break;
        case OPT_PIDFILE: o->pidfile = optarg; break;
        case OPT_USER: o->user = optarg; break;
        case 'v': if (log_threshold < LOG_LEVEL_DEBUG) log_threshold++; break;
        case 'q': log_threshold = LOG_LEVEL_ERROR; break;
        case 'h': usage(stdout); *exit_now = true; return true;
        case 'V': print_version(); *exit_now = true; return true;
        default:
            fprintf(stderr, "Try 'exflow --help'.\n");
            return false;
        }
    }
    /* Files may also follow the options, as with `exflow -r a.pcap b.pcap`. */
    for (int i = optind; i < argc; i++) {
        if (o->collect.url_count > 0)
            USAGE_ERROR("unexpected argument '%s'", argv[i]);
        if (o->file_count == 0 && o->capture.interface == NULL)
            USAGE_ERROR("unexpected argument '%s' (files are read with -r)", argv[i]);
        if (o->capture.interface != NULL)
            USAGE_ERROR("unexpected argument '%s' (a BPF filter goes after -f)", argv[i]);
        o->files[o->file_count++] = argv[i];
    }
    if (o->collect.url_count > 0 && (o->file_count > 0 || o->capture.interface != NULL))
        USAGE_ERROR("--collect takes flow exports instead of packets: not with -r or -i");
    if (o->file_count == 0 && o->capture.interface == NULL && o->collect.url_count == 0)
        USAGE_ERROR("nothing to read: give -r FILE, -i IFACE or --collect udp://HOST:PORT");
    if (o->file_count > 0 && o->capture.interface != NULL)
        USAGE_ERROR("-r and -i cannot be used together");
    if (o->fanout && o->capture.interface == NULL)
        USAGE_ERROR("--fanout is for live capture (-i IFACE); files are read by one thread");
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
    return true;
}

/* Consumer thread, records in the pipeline's merged order. The flow record goes out before
 * any alert it raises, so a reader meets the flow first. */
static void on_flow_record(void *user, struct flow *flow, enum flow_end_reason reason, bool final,
                           char *json)
{
    struct exflow *x = user;
    output_flow(x->output, flow, reason, json);
    detector_on_record(x->detector, flow, reason, final);
}

/* Worker threads: each encodes its own flow records (output/ says why). */
static void *new_flow_encoder(void *user)
{
    struct exflow *x = user;
    return output_flow_encoder_new(x->output);
}

static char *encode_flow(void *encoder, const struct flow *flow, enum flow_end_reason reason)
{
    return output_flow_encode(encoder, flow, reason);
}

static void free_flow_encoder(void *encoder)
{
    output_flow_encoder_free(encoder);
}

static void on_alert(void *user, const struct alert *alert)
{
    struct exflow *x = user;
    output_alert(x->output, alert);
}

/* Copies the consumer's stats for the capture thread's stats line. */
static void snapshot_stats(struct exflow *x)
{
    struct detect_stats ds;
    struct output_stats os;
    detector_get_stats(x->detector, &ds);
    output_get_stats(x->output, &os);
    pthread_mutex_lock(&x->stats_lock);
    x->detect_stats = ds;
    x->output_stats = os;
    pthread_mutex_unlock(&x->stats_lock);
}

/* Consumer thread, about once a second: SIGHUP work and output's housekeeping. */
static void on_consumer_tick(void *user)
{
    struct exflow *x = user;
    if (atomic_exchange(&x->reload_pending, false)) {
        char err[256];
        if (x->options->detect.allowlist_file != NULL) {
            if (detector_reload_allowlist(x->detector, err, sizeof(err)))
                LOG_INFO("allowlist reloaded from %s", x->options->detect.allowlist_file);
            else
                LOG_ERROR("allowlist not reloaded, keeping the old one: %s", err);
        }
        output_reopen(x->output);
    }
    output_tick(x->output);
    snapshot_stats(x);
}

/* --collect: one finished record from an exporter, to the same place a packet flow goes. */
static void on_collected_record(void *user, struct flow *flow, enum flow_end_reason reason)
{
    on_flow_record(user, flow, reason, true, NULL);
}

static void print_collect_stats(struct exflow *x, const char *when)
{
    struct collect_stats cs;
    struct detect_stats ds;
    struct output_stats os;
    collector_get_stats(x->collector, &cs);
    detector_get_stats(x->detector, &ds);
    output_get_stats(x->output, &os);
    fprintf(stderr,
            "exflow: stats(%s): datagrams=%llu garbage=%llu export_records=%llu"
            " export_records_skipped=%llu sequence_lost=%llu sequence_resets=%llu"
            " biflows=%llu uniflows_paired=%llu uniflows_single=%llu pair_overflow=%llu"
            " exporters=%llu exporters_evicted=%llu records=%llu alerts=%llu suppressed=%llu"
            " allowlisted=%llu flows_written=%llu alerts_written=%llu syslog_sent=%llu"
            " syslog_dropped=%llu write_errors=%llu\n",
            when, (unsigned long long)cs.datagrams, (unsigned long long)cs.garbage,
            (unsigned long long)cs.records, (unsigned long long)cs.records_skipped,
            (unsigned long long)cs.sequence_lost, (unsigned long long)cs.sequence_resets,
            (unsigned long long)cs.biflows, (unsigned long long)cs.uniflows_paired,
            (unsigned long long)cs.uniflows_single, (unsigned long long)cs.pair_overflow,
            (unsigned long long)cs.exporters, (unsigned long long)cs.exporters_evicted,
            (unsigned long long)ds.records, (unsigned long long)ds.alerts,
            (unsigned long long)ds.suppressed, (unsigned long long)ds.allowlisted,
            (unsigned long long)os.flows_written, (unsigned long long)os.alerts_written,
            (unsigned long long)os.syslog_sent, (unsigned long long)os.syslog_dropped,
            (unsigned long long)os.write_errors);
}

/* --collect, once a second: what the consumer and capture ticks do in packet mode. */
static void on_collect_tick(void *user)
{
    struct exflow *x = user;
    on_consumer_tick(x);
    if (x->options->stats_interval_sec > 0 && time(NULL) >= x->next_stats_wall) {
        print_collect_stats(x, "periodic");
        x->next_stats_wall = time(NULL) + x->options->stats_interval_sec;
    }
    if (reload_requested) {
        reload_requested = 0;
        atomic_store(&x->reload_pending, true);
    }
}

/* --collect: the whole run on this thread; no capture, no pipeline (records come whole). */
static int run_collect(struct exflow *x)
{
    x->next_stats_wall = time(NULL) + x->options->stats_interval_sec;
    collector_run(x->collector, &stop_requested, on_collect_tick, x);
    snapshot_stats(x);
    fflush(stdout);
    if (log_threshold >= LOG_LEVEL_INFO)
        print_collect_stats(x, stop_requested ? "interrupted" : "final");
    return EXIT_OK;
}

/* Capture thread. While the pipeline runs, flow and detection numbers are as of the last
 * second; after pipeline_finish they are final. */
static void print_stats(struct exflow *x, const char *when)
{
    struct capture_stats cs;
    struct flow_table_stats fs;
    struct detect_stats ds;
    struct output_stats os;
    if (x->capture != NULL)
        capture_get_stats(x->capture, &cs);
    else
        pipeline_get_capture_stats(x->pipeline, &cs);
    pipeline_get_flow_stats(x->pipeline, &fs);
    pthread_mutex_lock(&x->stats_lock);
    ds = x->detect_stats;
    os = x->output_stats;
    pthread_mutex_unlock(&x->stats_lock);

    char skipped[512];
    size_t used = 0;
    skipped[0] = '\0';
    for (int r = 1; r < DECODE_REASON_COUNT; r++) {
        if (cs.skipped[r] == 0)
            continue;
        int n = snprintf(skipped + used, sizeof(skipped) - used, " skipped_%s=%llu",
                         decode_reason_name((enum decode_reason)r),
                         (unsigned long long)cs.skipped[r]);
        if (n < 0 || (size_t)n >= sizeof(skipped) - used)
            break;
        used += (size_t)n;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    struct pipeline_cpu cpu;
    pipeline_get_cpu(x->pipeline, &cpu);
    fprintf(stderr,
            "exflow: stats(%s): packets=%llu bytes=%llu decoded=%llu%s read_errors=%llu"
            " pcap_received=%llu pcap_dropped=%llu pcap_if_dropped=%llu"
            " flows_active=%llu flows_created=%llu flows_evicted=%llu flow_memory=%llu"
            " records=%llu alerts=%llu suppressed=%llu allowlisted=%llu"
            " flows_written=%llu alerts_written=%llu syslog_sent=%llu syslog_retried=%llu"
            " syslog_spooled=%llu syslog_dropped=%llu write_errors=%llu max_rss_kib=%ld"
            " cpu_capture_s=%.2f cpu_workers_s=%.2f cpu_busiest_worker_s=%.2f"
            " cpu_consumer_s=%.2f\n",
            when, (unsigned long long)cs.frames, (unsigned long long)cs.bytes,
            (unsigned long long)cs.decoded, skipped, (unsigned long long)cs.read_errors,
            (unsigned long long)cs.pcap_received, (unsigned long long)cs.pcap_dropped,
            (unsigned long long)cs.pcap_if_dropped, (unsigned long long)fs.active,
            (unsigned long long)fs.created, (unsigned long long)fs.evicted,
            (unsigned long long)fs.memory_bytes, (unsigned long long)ds.records,
            (unsigned long long)ds.alerts, (unsigned long long)ds.suppressed,
            (unsigned long long)ds.allowlisted, (unsigned long long)os.flows_written,
            (unsigned long long)os.alerts_written, (unsigned long long)os.syslog_sent,
            (unsigned long long)os.syslog_retried, (unsigned long long)os.syslog_spooled,
            (unsigned long long)os.syslog_dropped, (unsigned long long)os.write_errors,
            ru.ru_maxrss, cpu.capture, cpu.workers, cpu.busiest_worker, cpu.consumer);
}

static void on_packet(void *user, const struct packet *pkt)
{
    struct exflow *x = user;
    pipeline_packet(x->pipeline, pkt);
}

/* Once a second of wall time, on the thread that reads packets or (--fanout) supervises
 * the workers that do: hands a SIGHUP to the consumer, prints the periodic stats line. */
static void housekeeping(struct exflow *x, time_t now)
{
    if (reload_requested) {
        reload_requested = 0;
        atomic_store(&x->reload_pending, true);
    }
    if (x->live && x->options->stats_interval_sec > 0 && now >= x->next_stats_wall) {
        print_stats(x, "periodic");
        x->next_stats_wall = now + x->options->stats_interval_sec;
    }
}

/* Capture thread, wall-clock housekeeping: signals, stats, and (live only) expiry of flows
 * that went quiet, since no packet will come to move packet time forward for them. */
static void on_tick(void *user)
{
    struct exflow *x = user;
    time_t now = time(NULL);
    if (!x->live)
        pipeline_sync(x->pipeline);
    else
        pipeline_expire(x->pipeline, (uint64_t)now * USEC_PER_SEC);
    housekeeping(x, now);
}

/* --fanout: the workers capture; this thread does what on_tick does for them otherwise
 * (SIGHUP, the periodic stats line) until every capture has ended. A capture that fails
 * (the interface went away) stops the others. Returns 1 then, else 0. */
static int supervise_fanout(struct exflow *x)
{
    bool failed = false;
    while (pipeline_captures_running(x->pipeline, &failed)) {
        if (failed) {
            stop_fanout(x->fanout, x->fanout_count); /* pipeline_finish waits for them */
            break;
        }
        struct timespec pause = { 0, 100 * 1000 * 1000 }; /* a signal cuts it short */
        nanosleep(&pause, NULL);
        housekeeping(x, time(NULL));
    }
    return failed ? 1 : 0;
}

static bool write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        LOG_ERROR("--pidfile %s: %s", path, strerror(errno));
        return false;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0) {
        LOG_ERROR("--pidfile %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* Gives up root once the interface is open: the sensor parses hostile bytes. */
static bool drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        LOG_ERROR("--user %s: no such user", user);
        return false;
    }
    if (setgroups(0, NULL) != 0 && errno != EPERM) {
        LOG_ERROR("--user %s: setgroups: %s", user, strerror(errno));
        return false;
    }
    if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        LOG_ERROR("--user %s: cannot switch user: %s", user, strerror(errno));
        return false;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        LOG_ERROR("--user %s: root privileges could be regained, refusing to run", user);
        return false;
    }
    return true;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_reload_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
    struct options options;
    struct exflow x;
    char err[512];
    int status = EXIT_USAGE;
    bool exit_now;
    bool pidfile_written = false;

    memset(&options, 0, sizeof(options));
    memset(&x, 0, sizeof(x));
    x.options = &options;
    atomic_init(&x.reload_pending, false);
    pthread_mutex_init(&x.stats_lock, NULL);

    if (!parse_options(argc, argv, &options, &exit_now))
        goto done;
    if (exit_now) {
        status = EXIT_OK;
        goto done;
    }
    x.live = options.capture.interface != NULL;
    /* Before the slow set-up (GeoIP checks, interface): a SIGHUP from a service manager
     * must not kill a sensor that is still starting. */
    install_signal_handlers();

    if (options.geoip_city != NULL || options.geoip_asn != NULL) {
        x.geo = geo_open(options.geoip_city, options.geoip_asn, err, sizeof(err));
        if (x.geo == NULL) {
            LOG_ERROR("%s", err);
            goto done;
        }
    }
    options.detect.geo = x.geo;
    options.output.geo = x.geo;

    if (options.collect.url_count > 0) {
        x.collector = collector_new(&options.collect, on_collected_record, &x, err, sizeof(err));
        if (x.collector == NULL) {
            LOG_ERROR("%s", err);
            goto done;
        }
    } else if (options.fanout) {
        /* One socket per worker in a fanout group of this process's own: the first starts
         * it, the others join it by the id the kernel gave it. */
        struct capture_config fanout = options.capture;
        fanout.fanout = CAPTURE_FANOUT_START;
        for (x.fanout_count = 0; x.fanout_count < options.threads; x.fanout_count++) {
            x.fanout[x.fanout_count] = capture_open(&fanout, err, sizeof(err));
            if (x.fanout[x.fanout_count] == NULL) {
                LOG_ERROR("%s", err);
                goto done;
            }
            fanout.fanout = CAPTURE_FANOUT_JOIN;
            fanout.fanout_group = (uint16_t)capture_fanout_group(x.fanout[0]);
        }
        signal_fanout = x.fanout;
        signal_fanout_count = (sig_atomic_t)x.fanout_count;
        if (stop_requested)
            stop_fanout(x.fanout, x.fanout_count);
    } else {
        x.capture = capture_open(&options.capture, err, sizeof(err));
        if (x.capture == NULL) {
            LOG_ERROR("%s", err);
            goto done;
        }
        signal_capture = x.capture;
        if (stop_requested)   /* SIGTERM while starting: stop at once, still cleanly */
            capture_stop(x.capture);
    }

    /* The pidfile first: its directory (/run) is usually writable by root only. */
    if (options.pidfile != NULL) {
        if (!write_pidfile(options.pidfile))
            goto done;
        pidfile_written = true;
    }
    if (options.user != NULL && !drop_privileges(options.user))
        goto done;

    x.output = output_open(&options.output, err, sizeof(err));
    if (x.output == NULL) {
        LOG_ERROR("%s", err);
        goto done;
    }
    x.detector = detector_new(&options.detect, on_alert, &x, err, sizeof(err));
    if (x.detector == NULL) {
        LOG_ERROR("%s", err);
        goto done;
    }
    snapshot_stats(&x);
    if (x.collector != NULL) {
        status = run_collect(&x);
        goto done;
    }
    if (options.flows.hash_seed == 0)
        options.flows.hash_seed = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    struct pipeline_config pipeline_config = { options.threads, options.flows, &options.detect,
                                               options.fanout ? x.fanout : NULL };
    struct pipeline_sink sink = { on_flow_record, on_consumer_tick, &x,
                                  new_flow_encoder, encode_flow, free_flow_encoder };
    x.pipeline = pipeline_new(&pipeline_config, &sink, err, sizeof(err));
    if (x.pipeline == NULL) {
        LOG_ERROR("%s", err);
        goto done;
    }

    x.next_stats_wall = time(NULL) + options.stats_interval_sec;
    int capture_status;
    if (options.fanout) {
        capture_status = supervise_fanout(&x);
    } else {
        struct capture_callbacks callbacks = { on_packet, on_tick, &x };
        capture_status = capture_run(x.capture, &callbacks);
    }
    status = EXIT_OK;
    /* A live capture that fails is a runtime failure; an offline file that was truncated or
     * of a link type we do not decode has been warned about and counted, and what it did
     * hold was processed, so the run itself succeeded. */
    if (capture_status != 0 && x.live)
        status = EXIT_RUNTIME;

    pipeline_finish(x.pipeline);   /* every flow ends, every record is out, threads joined */
    snapshot_stats(&x);
    fflush(stdout);   /* records before the summary when both go to a terminal */
    if (log_threshold >= LOG_LEVEL_INFO)
        print_stats(&x, stop_requested ? "interrupted" : "final");

done:
    if (x.pipeline != NULL)
        pipeline_free(x.pipeline);
    if (x.collector != NULL)
        collector_free(x.collector);
    if (x.detector != NULL) {
        if (options.detect.state_file != NULL && !detector_save_state(x.detector, err, sizeof(err))) {
            LOG_ERROR("state not saved: %s", err);
            status = EXIT_RUNTIME;
        }
        detector_free(x.detector);
    }
    if (x.output != NULL)
        output_close(x.output);
    signal_capture = NULL;
    signal_fanout_count = 0;
    signal_fanout = NULL;
    if (x.capture != NULL)
        capture_close(x.capture);
    for (unsigned i = 0; i < x.fanout_count; i++)
        capture_close(x.fanout[i]);
    if (x.geo != NULL)
        geo_close(x.geo);
    /* After --user the directory may no longer let us remove it: say so, do not fail. */
    if (pidfile_written && unlink(options.pidfile) != 0 && errno != ENOENT)
        LOG_WARN("--pidfile %s: not removed: %s", options.pidfile, strerror(errno));
    free(options.files);
    pthread_mutex_destroy(&x.stats_lock);
    return status;
}
