/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The detector: flow records in, scored alerts out. Per record it finds the internal host
 * and the public destination, updates the host's baseline, the destination's first-seen
 * times and the (host, destination) series, gathers protocol evidence parsed from packets
 * (FTP, HTTP) and labels (SSH, cloud storage), scores the finding (score.c) and raises at
 * most one alert per series until the severity rises or the suppression window passes.
 */
#include "detect_internal.h"
#include "covert.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/tunables.h"

#define DETECT_FTP_CONTROL_PORT 21
#define DETECT_SSH_PORT 22

/* One (internal host, destination) series: its connections, evidence and alert state. */
struct series {
    struct table_entry entry;       /* key: "<src> <destination>" */
    struct beacon_series beacon;
    int ip_version;
    uint8_t src_addr[GEO_ADDR_LEN];
    uint8_t dest_addr[GEO_ADDR_LEN];
    uint16_t dest_port;
    uint8_t proto;
    char app[FLOW_LABEL_LEN];       /* nDPI application of the last labelled flow */
    char master[FLOW_LABEL_LEN];    /* and its master protocol */
    uint64_t total_out, total_in;   /* payload bytes over the series' life */
    uint64_t first_start_usec;
    uint32_t evidence;              /* protocol evidence seen on any flow of the series */
    enum ftp_command ftp_command;   /* last upload command seen on its data flows */
    const char *cloud_service;
    uint32_t http_upload_requests;
    uint64_t http_body_bytes;
    bool http_bare_ip;
    bool alerted;
    enum alert_severity last_severity;
    uint64_t last_alert_usec;
};

struct host {
    struct table_entry entry;       /* key: address text */
    struct host_baseline baseline;
    struct stats_ewma pcr;          /* typical PCR of its sizeable transfers outside */
    uint32_t pcr_samples;
    uint64_t ftp_first_usec;        /* first FTP use to an outside server; 0: never */
};

/* Transfers at least this big (both ways) teach the host's typical PCR; EWMA weight. */
#define HOST_PCR_MIN_BYTES (64 * 1024)
#define HOST_PCR_ALPHA 0.05
#define HOST_PCR_MIN_SAMPLES 10

enum flow_kind { FLOW_KIND_HTTP = 1, FLOW_KIND_FTP_CONTROL, FLOW_KIND_FTP_DATA, FLOW_KIND_COVERT };

/* flow->observer_state: only for flows with parsed protocol state (HTTP, FTP). */
struct flow_state {
    uint8_t kind;
    union {
        struct http_parser http;
        struct {
            struct ftp_line line[2];    /* by enum flow_direction */
            uint32_t budget[2];
        } ftp_control;
        struct {
            int slot;
            uint32_t generation;
            bool active;                /* server opened it: the client is the responder */
            enum ftp_command command;
            char dest_name[FLOW_NAME_LEN];
        } ftp_data;
        struct covert_flow covert;      /* DNS, ICMP, SMTP: covert.h */
    } u;
};

struct detector {
    struct detect_config config;
    char *home_net_text, *state_file, *allowlist_file;
    alert_fn on_alert;
    void *user;
    struct cidr_set *home_net;
    struct allowlist *allowlist;
    struct allowlist *flagged_geo;   /* --flag-country/--flag-asn as allowlist rules, reused */
    struct destinations *destinations;
    int state_lock_fd;              /* holds STATE.lock (flock) for the detector's life */
    struct table series;
    struct table hosts;
    struct ftp_expectations ftp;
    struct covert *covert;
    struct beacon_params beacon_params;
    uint64_t learn_start_usec;      /* 0 until the first record (or from the state file) */
    uint64_t last_save_usec;
    bool state_dirty;
    bool save_warned;
    uint64_t next_alert_id;
    struct detect_stats stats;
};

static const char *const evidence_names[EVIDENCE_COUNT] = {
    "ftp_stor", "http_upload", "ssh_upload", "cloud_storage",
    "parallel_streams", "new_destination", "periodic", "volume_anomaly",
    "dns_tunnel", "icmp_tunnel", "smtp_exfil", "small_upload",
};

/* JSON name of one EVIDENCE_* bit, by bit index. */
const char *detect_evidence_name(unsigned bit_index)
{
    return bit_index < EVIDENCE_COUNT ? evidence_names[bit_index] : "unknown";
}

/* JSON name of a severity. */
const char *alert_severity_name(enum alert_severity severity)
{
    switch (severity) {
    case SEVERITY_LOW: return "low";
    case SEVERITY_MEDIUM: return "medium";
    case SEVERITY_HIGH: return "high";
    case SEVERITY_CRITICAL: return "critical";
    }
    return "unknown";
}

/* Every threshold from common/tunables.h. */
void detect_config_defaults(struct detect_config *config)
{
    memset(config, 0, sizeof(*config));
    config->home_net = NULL;
    config->learn_usec = DEFAULT_LEARN_PERIOD * USEC_PER_SEC;
    config->min_upload_bytes = DEFAULT_MIN_UPLOAD_BYTES;
    config->pcr_threshold = DEFAULT_PCR_THRESHOLD;
    config->beacon_min_connections = DEFAULT_BEACON_MIN_CONNS;
    config->beacon_min_period_sec = DEFAULT_BEACON_MIN_PERIOD;
    config->beacon_max_period_sec = DEFAULT_BEACON_MAX_PERIOD;
    config->alert_threshold = DEFAULT_ALERT_THRESHOLD;
    config->suppress_usec = DEFAULT_SUPPRESS_WINDOW * USEC_PER_SEC;
    config->beacon_min_score = DEFAULT_BEACON_MIN_SCORE;
    config->beacon_min_conn_bytes = DEFAULT_BEACON_MIN_CONN_BYTES;
    config->new_destination_usec = DEFAULT_NEW_DEST_WINDOW * USEC_PER_SEC;
}

/* table_destroy callback for series. */
static void series_free_entry(struct table_entry *entry)
{
    struct series *s = (struct series *)entry;
    beacon_free(&s->beacon);
    free(s);
}

/* table_destroy callback for hosts. */
static void host_free_entry(struct table_entry *entry)
{
    free(entry);
}

/* src into dst, cut to fit: a plain copy where snprintf's "%s" cost a format parse for
 * every record. */
static void copy_text(char *dst, size_t dst_len, const char *src)
{
    size_t len = strnlen(src, dst_len - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* strdup that passes NULL through. */
static char *dup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

/* Flagged countries and ASNs are one allowlist rule each ("country=RU,KP", "asn=1,2"): the
 * allowlist already parses and matches geo fields, so the same code says "this destination
 * is in a flagged place". */
static bool detector_build_flagged_geo(struct detector *d, const struct detect_config *config,
                                       char *err, size_t err_len)
{
    if (config->flag_countries == NULL && config->flag_asns == NULL)
        return true;
    char rules[1024], message[512];
    int n = snprintf(rules, sizeof(rules), "%s%s\n%s%s\n",
                     config->flag_countries ? "country=" : "",
                     config->flag_countries ? config->flag_countries : "",
                     config->flag_asns ? "asn=" : "", config->flag_asns ? config->flag_asns : "");
    if (n < 0 || (size_t)n >= sizeof(rules)) {
        snprintf(err, err_len, "--flag-country/--flag-asn: list too long");
        return false;
    }
    d->flagged_geo = allowlist_parse(rules, "--flag-country/--flag-asn", message, sizeof(message));
    if (d->flagged_geo == NULL) {
        snprintf(err, err_len, "%s", message);
        return false;
    }
    return true;
}

/* Builds the detector: home net, state file, allowlist; any error is fatal here. */
struct detector *detector_new(const struct detect_config *config, alert_fn on_alert, void *user,
                              char *err, size_t err_len)
{
    char message[512];
    struct detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        snprintf(err, err_len, "detector: out of memory");
        return NULL;
    }
    d->config = *config;
    d->state_lock_fd = -1;
    d->on_alert = on_alert;
    d->user = user;
    d->home_net_text = dup_or_null(config->home_net ? config->home_net : GEO_DEFAULT_HOME_NET);
    d->state_file = dup_or_null(config->state_file);
    d->allowlist_file = dup_or_null(config->allowlist_file);
    d->config.home_net = d->home_net_text;
    d->config.state_file = d->state_file;
    d->config.allowlist_file = d->allowlist_file;
    if (d->home_net_text == NULL || (config->state_file && !d->state_file) ||
        (config->allowlist_file && !d->allowlist_file)) {
        snprintf(err, err_len, "detector: out of memory");
        goto fail;
    }
    d->ftp.same_hosts_only = config->ftp_same_hosts_only;
    d->beacon_params.min_connections = config->beacon_min_connections;
    d->beacon_params.min_period_sec = config->beacon_min_period_sec;
    d->beacon_params.max_period_sec = config->beacon_max_period_sec;
    d->beacon_params.min_score = config->beacon_min_score;

    d->home_net = cidr_set_new();
    if (d->home_net == NULL ||
        !cidr_set_add_list(d->home_net, d->home_net_text, message, sizeof(message))) {
        snprintf(err, err_len, "--home-net: %s", d->home_net ? message : "out of memory");
        goto fail;
    }
    if (!table_init(&d->series, 4096) || !table_init(&d->hosts, 1024)) {
        snprintf(err, err_len, "detector: out of memory");
        goto fail;
    }
    d->destinations = destinations_new(DETECT_MAX_DESTINATIONS);
    if (d->destinations == NULL) {
        snprintf(err, err_len, "detector: out of memory");
        goto fail;
    }
    struct covert_config covert_config = {
        .dns_heavy_users_file = config->dns_heavy_users_file,
        .mail_servers = config->mail_servers,
        .home_net = d->home_net,
        .suppress_usec = config->suppress_usec,
    };
    d->covert = covert_new(&covert_config, err, err_len);
    if (d->covert == NULL)
        goto fail;
    d->config.dns_heavy_users_file = NULL;  /* not owned: read into the covert module */
    d->config.mail_servers = NULL;
    if (d->state_file) {
        d->state_lock_fd = destinations_lock(d->state_file, err, err_len);
        if (d->state_lock_fd < 0)
            goto fail;
        int loaded = destinations_load(d->destinations, d->state_file, &d->learn_start_usec,
                                       message, sizeof(message));
        if (loaded < 0) {
            if (!config->state_reset_if_corrupt) {
                snprintf(err, err_len, "%s (move it away or use --reset-state to start fresh)",
                         message);
                goto fail;
            }
            LOG_WARN("%s; starting with empty state (--reset-state)", message);
            destinations_free(d->destinations);
            d->destinations = destinations_new(DETECT_MAX_DESTINATIONS);
            d->learn_start_usec = 0;
            if (d->destinations == NULL) {
                snprintf(err, err_len, "detector: out of memory");
                goto fail;
            }
        }
    }
    destinations_share(d->destinations, config->shared_state);
    /* Write it once now: a state file that cannot be written is a set-up error, found
     * before hours of learning are lost at exit. */
    if (d->state_file && !destinations_save(d->destinations, d->state_file, d->learn_start_usec,
                                            message, sizeof(message))) {
        snprintf(err, err_len, "%s", message);
        goto fail;
    }
    if (d->allowlist_file) {
        d->allowlist = allowlist_load(d->allowlist_file, message, sizeof(message));
        if (d->allowlist == NULL) {
            snprintf(err, err_len, "%s", message);
            goto fail;
        }
    }
    if (!detector_build_flagged_geo(d, config, err, err_len))
        goto fail;
    d->config.flag_countries = NULL;   /* not owned: only the parsed rules are kept */
    d->config.flag_asns = NULL;
    return d;
fail:
    if (d->home_net)
        cidr_set_free(d->home_net);
    allowlist_free(d->allowlist);
    allowlist_free(d->flagged_geo);
    destinations_free(d->destinations);
    covert_free(d->covert);
    if (d->state_lock_fd >= 0)
        close(d->state_lock_fd);
    if (d->series.buckets)
        table_destroy(&d->series, series_free_entry);
    if (d->hosts.buckets)
        table_destroy(&d->hosts, host_free_entry);
    free(d->home_net_text);
    free(d->state_file);
    free(d->allowlist_file);
    free(d);
    return NULL;
}

/* ---- per-packet protocol state ------------------------------------------------------ */

/* Asked on every early packet of a flow: the first letter turns most labels away, the
 * empty label (nothing detected yet) among them, since name is never empty. */
static bool label_is(const char *label, const char *name)
{
    return tolower((unsigned char)label[0]) == tolower((unsigned char)name[0]) &&
           strcasecmp(label, name) == 0;
}

/* The destination as it will appear in keys, the state file and alerts: lowercase, no
 * spaces or control bytes (names come from packets). */
static void destination_sanitize(const char *name, char *out, size_t out_len)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 1 < out_len; p++) {
        unsigned char c = (unsigned char)tolower(*p);
        out[n++] = (isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':') ? (char)c : '_';
    }
    out[n] = '\0';
}

struct ftp_line_context {
    struct detector *detector;
    struct flow *flow;
    enum flow_direction direction;
};

/* One line of an FTP control channel: commands from the client, replies from the server. */
static void detector_ftp_line(void *user, const char *text, size_t len)
{
    struct ftp_line_context *ctx = user;
    struct flow *flow = ctx->flow;
    struct ftp_endpoint endpoint;
    struct ftp_expectation e;
    bool announce = false;

    memset(&e, 0, sizeof(e));
    if (ctx->direction == FLOW_DIR_ORIG) {
        enum ftp_command command = ftp_parse_command(text, len, &endpoint);
        if (command == FTP_CMD_PORT || command == FTP_CMD_EPRT) {
            /* Active mode: the server will connect to the client's endpoint. */
            e.active = true;
            announce = true;
        } else if (command == FTP_CMD_STOR || command == FTP_CMD_STOU || command == FTP_CMD_APPE ||
                   command == FTP_CMD_RETR) {
            ftp_expect_set_command(&ctx->detector->ftp, flow->id, command);
        }
    } else if (ftp_parse_reply(text, len, &endpoint)) {
        announce = true;
        if (endpoint.ip_version == 0) {
            /* 229 names only the port: the address is the control channel's server. */
            endpoint.ip_version = flow->ip_version;
            memcpy(endpoint.addr, flow->resp_addr, GEO_ADDR_LEN);
        }
    }
    if (!announce || endpoint.ip_version != flow->ip_version)
        return;
    e.created_usec = flow->last_ts_usec ? flow->last_ts_usec : 1;
    e.control_flow_id = flow->id;
    e.ip_version = flow->ip_version;
    memcpy(e.listen_addr, endpoint.addr, GEO_ADDR_LEN);
    e.listen_port = endpoint.port;
    memcpy(e.client_addr, flow->orig_addr, GEO_ADDR_LEN);
    memcpy(e.server_addr, flow->resp_addr, GEO_ADDR_LEN);
    if (flow->labels.server_name[0]) {
        destination_sanitize(flow->labels.server_name, e.dest_name, sizeof(e.dest_name));
    } else {
        char text_addr[64];
        geo_addr_to_string(flow->ip_version, flow->resp_addr, text_addr, sizeof(text_addr));
        destination_sanitize(text_addr, e.dest_name, sizeof(e.dest_name));
    }
    ftp_expect_add(&ctx->detector->ftp, &e);
}

/* Decides once, early, whether a flow gets parsed protocol state. Cheap when it does not. */
static struct flow_state *detector_classify(struct detector *d, struct flow *flow,
                                            const struct packet *pkt, enum flow_direction direction)
{
    uint64_t packets = flow->dir[0].packets + flow->dir[1].packets;
    struct flow_state *state = NULL;

    /* Interim records restart the counters: only a flow's first record is classified. */
    if (flow->record_seq != 0)
        return NULL;
    if (packets == 1 && d->ftp.live > 0) {
        int slot = ftp_expect_match(&d->ftp, flow->ip_version, flow->orig_addr, flow->resp_addr,
                                    flow->resp_port, pkt->ts_usec,
                                    DETECT_FTP_EXPECT_AGE * USEC_PER_SEC);
        if (slot >= 0) {
            const struct ftp_expectation *e = &d->ftp.slot[slot];
            state = calloc(1, sizeof(*state));
            if (state == NULL)
                return NULL;
            state->kind = FLOW_KIND_FTP_DATA;
            state->u.ftp_data.slot = slot;
            state->u.ftp_data.generation = e->generation;
            state->u.ftp_data.active = e->active;
            state->u.ftp_data.command = e->command;
            memcpy(state->u.ftp_data.dest_name, e->dest_name, sizeof(e->dest_name));
            return state;
        }
    }
    /* DNS, ICMP and SMTP flows are decided by their first packet (covert.h). */
    if (packets == 1 && covert_flow_wanted(flow, pkt)) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_COVERT;
        covert_flow_init(&state->u.covert, flow);
        return state;
    }
    if (flow->proto != 6 || pkt->payload_len == 0)
        return NULL;
    /* The first payload of either side of a flow to port 21, or labelled FTP by nDPI. */
    bool first_payload = flow->dir[direction].payload_bytes == pkt->payload_wire_len &&
                         flow->dir[!direction].payload_bytes == 0;
    bool ftp_label = packets <= NDPI_MAX_PACKETS_PER_FLOW + 8 &&
                     (label_is(flow->labels.app_protocol, "FTP_CONTROL") ||
                      label_is(flow->labels.master_protocol, "FTP_CONTROL"));
    if ((first_payload && flow->resp_port == DETECT_FTP_CONTROL_PORT) || ftp_label) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_FTP_CONTROL;
        state->u.ftp_control.budget[0] = state->u.ftp_control.budget[1] = DETECT_FTP_PARSE_BYTES;
        return state;
    }
    /* HTTP: the client's first payload starts with a request line, whatever the port. */
    if (direction == FLOW_DIR_ORIG &&
        flow->dir[FLOW_DIR_ORIG].payload_bytes == pkt->payload_wire_len &&
        http_looks_like_request(pkt->payload, pkt->payload_len)) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_HTTP;
        http_parser_init(&state->u.http, DETECT_HTTP_PARSE_BYTES);
    }
    return state;
}

/* Per packet: classify the flow once, then feed the FTP/HTTP parsers (no allocation after). */
void detector_on_packet(struct detector *detector, struct flow *flow, const struct packet *pkt,
                        enum flow_direction direction)
{
    struct flow_state *state = flow->observer_state;
    if (state == NULL) {
        state = detector_classify(detector, flow, pkt, direction);
        if (state == NULL)
            return;
        flow->observer_state = state;
    }
    if (pkt->payload_wire_len == 0)
        return;
    switch (state->kind) {
    case FLOW_KIND_HTTP:
        if (direction == FLOW_DIR_ORIG && state->u.http.state != HTTP_STATE_STOPPED) {
            http_parser_feed(&state->u.http, pkt->payload, pkt->payload_len);
            /* Bytes the snaplen cut: still counted when they are body bytes. */
            if (pkt->payload_wire_len > pkt->payload_len)
                http_parser_skip(&state->u.http, pkt->payload_wire_len - pkt->payload_len);
        }
        break;
    case FLOW_KIND_FTP_CONTROL: {
        uint32_t *budget = &state->u.ftp_control.budget[direction];
        if (*budget == 0)
            break;
        size_t len = pkt->payload_len < *budget ? pkt->payload_len : *budget;
        *budget -= (uint32_t)len;
        struct ftp_line_context ctx = { detector, flow, direction };
        ftp_line_feed(&state->u.ftp_control.line[direction], pkt->payload, len, detector_ftp_line,
                      &ctx);
        break;
    }
    case FLOW_KIND_COVERT:
        covert_on_packet(detector->covert, &state->u.covert, flow, pkt, direction);
        break;
    default:
        break;
    }
}

/* ---- per-record scoring ------------------------------------------------------------- */

/* Least recently used entries go when a table is at its cap. */
static struct series *series_get(struct detector *d, const char *key)
{
    return (struct series *)table_get(&d->series, key, sizeof(struct series), DETECT_MAX_SERIES,
                                      series_free_entry);
}

/* The host's baseline, created on first use. */
static struct host *host_get(struct detector *d, const char *key)
{
    return (struct host *)table_get(&d->hosts, key, sizeof(struct host), DETECT_MAX_HOSTS,
                                    host_free_entry);
}

/* Saves the first-seen state now and then, by packet time, so a crash loses little. */
static void detector_maybe_save(struct detector *d, uint64_t now_usec)
{
    if (d->state_file == NULL || !d->state_dirty)
        return;
    if (d->last_save_usec == 0) {
        d->last_save_usec = now_usec;
        return;
    }
    if (now_usec < d->last_save_usec + DEFAULT_STATE_SAVE_INTERVAL * USEC_PER_SEC)
        return;
    char err[512];
    if (!detector_save_state(d, err, sizeof(err)) && !d->save_warned) {
        LOG_WARN("%s (will retry; warned once)", err);
        d->save_warned = true;
    }
    d->last_save_usec = now_usec;
}

void detector_prepare_record(struct detector *detector, struct flow *flow)
{
    struct flow_state *state = flow->observer_state;
    /* FTP data: the command may have come after the connection opened. */
    if (state && state->kind == FLOW_KIND_FTP_DATA && state->u.ftp_data.command == FTP_CMD_NONE) {
        const struct ftp_expectation *e = &detector->ftp.slot[state->u.ftp_data.slot];
        if (e->generation == state->u.ftp_data.generation)
            state->u.ftp_data.command = e->command;
    }
}

size_t detector_flow_state_size(void)
{
    return sizeof(struct flow_state);
}

/* Who sends to whom in this flow, from the home network's point of view. */
struct flow_roles {
    int src_dir;                 /* direction whose bytes are "out" */
    const uint8_t *src_addr;
    const uint8_t *dest_addr;
    uint16_t src_port;
    uint16_t dest_port;
};

/* True when this flow is internal host -> public destination, with who is who. */
static bool detector_roles(const struct detector *d, const struct flow *flow,
                           const struct flow_state *state, struct flow_roles *roles)
{
    bool active_ftp_data = state && state->kind == FLOW_KIND_FTP_DATA && state->u.ftp_data.active;
    /* Active FTP data connections are opened by the server: the internal client is the
     * responder and its uploads are the responder's bytes. Every other flow is scored
     * only when the internal host opened it.
     * THREAT: exfiltration pulled by an outside client from an internal server is not
     * scored here (internal servers serve downloads all day). */
    roles->src_dir = active_ftp_data ? FLOW_DIR_RESP : FLOW_DIR_ORIG;
    roles->src_addr = active_ftp_data ? flow->resp_addr : flow->orig_addr;
    roles->dest_addr = active_ftp_data ? flow->orig_addr : flow->resp_addr;
    roles->src_port = active_ftp_data ? flow->resp_port : flow->orig_port;
    roles->dest_port = active_ftp_data ? flow->orig_port : flow->resp_port;
    if (!cidr_set_contains(d->home_net, flow->ip_version, roles->src_addr))
        return false;
    if (cidr_set_contains(d->home_net, flow->ip_version, roles->dest_addr))
        return false;
    return geo_addr_is_public(flow->ip_version, roles->dest_addr);
}

/* True when text is an IPv4 or IPv6 literal (an HTTP Host that names no site). */
static bool name_is_address(const char *name)
{
    uint8_t addr[GEO_ADDR_LEN];
    return name[0] == '\0' || geo_addr_parse(name, addr) != 0;
}

/* A covert-channel alert (covert.h) goes out like any other: not while learning, not when
 * allowlisted; it gets its id here. */
static void detector_deliver_covert(struct detector *d, struct alert *alert, uint64_t learn_end)
{
    if (alert->ts_usec < learn_end)
        return;
    struct allow_query query = {
        .ip_version = alert->ip_version, .src_addr = alert->src_addr, .dest_addr = alert->dest_addr,
        .dest_name = alert->dest_name, .app_protocol = alert->app_protocol,
        .master_protocol = alert->app_protocol, .dest_port = alert->dest_port, .dest_geo = NULL,
    };
    if (allowlist_match(d->allowlist, &query, NULL)) {
        d->stats.allowlisted++;
        return;
    }
    alert->id = ++d->next_alert_id;
    d->stats.alerts++;
    if (d->on_alert)
        d->on_alert(d->user, alert);
}

/* Small uploads with strong evidence: an FTP upload from a host that had not used FTP to
 * the outside before (after learning, within the new-destination window), to a server it
 * never used. Credential stealers send a few hundred bytes this way. */
static bool detector_small_ftp_upload(const struct detector *d, uint64_t ftp_first_before,
                                      bool pair_new, uint64_t now, uint64_t learn_end)
{
    if (!pair_new)
        return false;
    if (ftp_first_before == 0)
        return true;
    return ftp_first_before >= learn_end && now - ftp_first_before <= d->config.new_destination_usec;
}

/* Per flow record: update baselines, first-seen and the series, then score one finding. */
void detector_on_record(struct detector *detector, struct flow *flow, enum flow_end_reason reason,
                        bool final)
{
    struct detector *d = detector;
    struct flow_state *state = flow->observer_state;
    const struct detect_config *cfg = &d->config;
    (void)reason;

    d->stats.records++;
    uint64_t now = flow->last_ts_usec;
    uint64_t start = flow->start_ts_usec ? flow->start_ts_usec : now;
    if (d->learn_start_usec == 0) {
        d->learn_start_usec = start ? start : 1;
        d->state_dirty = true;
    }
    /* Without a learning period nothing counts as learned, not even flows that started
     * before the first record arrived (records come when flows end). */
    uint64_t learn_end = cfg->learn_usec ? d->learn_start_usec + cfg->learn_usec : 0;

    detector_prepare_record(d, flow);

    /* DNS tunnels are scored by the queried domain whichever resolver was asked, so before
     * the roles; SMTP teaches which internal hosts are mail servers. */
    const struct covert_flow *covert_state =
        state && state->kind == FLOW_KIND_COVERT ? &state->u.covert : NULL;
    struct alert covert_alert;
    if (covert_on_record(d->covert, flow, covert_state, &covert_alert))
        detector_deliver_covert(d, &covert_alert, learn_end);

    struct flow_roles roles;
    if (!detector_roles(d, flow, state, &roles))
        goto done;
    uint64_t out = flow->dir[roles.src_dir].payload_bytes;
    uint64_t in = flow->dir[!roles.src_dir].payload_bytes;

    /* Names: SNI/Host first (one name for many addresses), else the address. */
    char src_text[64], dest_text[64], dest_name[FLOW_NAME_LEN];
    geo_addr_to_string(flow->ip_version, roles.src_addr, src_text, sizeof(src_text));
    geo_addr_to_string(flow->ip_version, roles.dest_addr, dest_text, sizeof(dest_text));
    const struct http_parser *http = state && state->kind == FLOW_KIND_HTTP ? &state->u.http : NULL;
    if (state && state->kind == FLOW_KIND_FTP_DATA && state->u.ftp_data.dest_name[0])
        destination_sanitize(state->u.ftp_data.dest_name, dest_name, sizeof(dest_name));
    else if (flow->labels.server_name[0])
        destination_sanitize(flow->labels.server_name, dest_name, sizeof(dest_name));
    else if (http && http->host[0] && !name_is_address(http->host))
        destination_sanitize(http->host, dest_name, sizeof(dest_name));
    else
        destination_sanitize(dest_text, dest_name, sizeof(dest_name));
    /* Cloud storage: shard hosts of one service are one destination. */
    const char *cloud_site = NULL;
    const char *cloud = cloud_storage_service(dest_name, flow->labels.app_protocol, &cloud_site);
    if (cloud_site)
        copy_text(dest_name, sizeof(dest_name), cloud_site);

    /* Host baseline: every byte this host sends outside, at the record's time. Its
     * typical PCR is read before this record joins it. */
    struct host *host = host_get(d, src_text);
    double host_pcr = 0.0;
    bool host_pcr_known = false;
    bool ftp_flow = state && (state->kind == FLOW_KIND_FTP_DATA || state->kind == FLOW_KIND_FTP_CONTROL);
    uint64_t ftp_first_before = host ? host->ftp_first_usec : 0;
    if (host && ftp_flow && (host->ftp_first_usec == 0 || start < host->ftp_first_usec))
        host->ftp_first_usec = start;
    if (host) {
        baseline_add(&host->baseline, now, out);
        host_pcr_known = host->pcr_samples >= HOST_PCR_MIN_SAMPLES;
        host_pcr = host->pcr.mean;
        if (out + in >= HOST_PCR_MIN_BYTES) {
            stats_ewma_update(&host->pcr, stats_pcr(out, in), HOST_PCR_ALPHA);
            host->pcr_samples++;
        }
    }

    /* First seen, per pair and site-wide. Records arrive at flow end: use the flow start. */
    uint64_t pair_first = destinations_touch(d->destinations, src_text, dest_name, start);
    uint64_t site_first = destinations_touch(d->destinations, DESTINATION_SITE, dest_name, start);
    d->state_dirty = true;

    char key[64 + FLOW_NAME_LEN + 2];
    table_key_join(key, sizeof(key), src_text, dest_name);
    struct series *s = series_get(d, key);
    if (s == NULL)
        goto done;
    s->ip_version = flow->ip_version;
    memcpy(s->src_addr, roles.src_addr, GEO_ADDR_LEN);
    memcpy(s->dest_addr, roles.dest_addr, GEO_ADDR_LEN);
    s->dest_port = roles.dest_port;
    s->proto = flow->proto;
    /* Labels of the last flow nDPI named (an unlabelled flow keeps the series' labels). */
    const char *app = flow->labels.app_protocol, *master = flow->labels.master_protocol;
    if (strcmp(app, "Unknown") == 0)
        app = "";
    if (strcmp(master, "Unknown") == 0)
        master = "";
    if (state && state->kind == FLOW_KIND_FTP_DATA && app[0] == '\0' && master[0] == '\0')
        app = "FTP_DATA"; /* nDPI cannot know a data channel it did not see announced */
    if (app[0] || master[0]) {
        copy_text(s->app, sizeof(s->app), app);
        copy_text(s->master, sizeof(s->master), master);
    }
    beacon_add(&s->beacon, flow->id, start, now, out, in);
    s->total_out += out;
    s->total_in += in;
    if (s->first_start_usec == 0 || start < s->first_start_usec)
        s->first_start_usec = start;
    const struct beacon_conn *conn = beacon_find(&s->beacon, flow->id);
    uint64_t conn_out = conn ? conn->bytes_out : out, conn_in = conn ? conn->bytes_in : in;
    double conn_pcr = stats_pcr(conn_out, conn_in);
    bool conn_upload = conn_out >= cfg->min_upload_bytes && conn_pcr >= cfg->pcr_threshold;

    /* Protocol evidence of this flow. */
    struct finding f;
    memset(&f, 0, sizeof(f));
    uint32_t evidence = 0;
    if (state && state->kind == FLOW_KIND_FTP_DATA &&
        ftp_command_is_upload(state->u.ftp_data.command)) {
        evidence |= EVIDENCE_FTP_STOR;
        s->ftp_command = state->u.ftp_data.command;
    }
    if (http && http->upload_requests > 0) {
        evidence |= EVIDENCE_HTTP_UPLOAD;
        s->http_upload_requests += http->upload_requests;
        s->http_body_bytes += http->upload_body_bytes;
        /* No site name at all (Host absent or an IP literal): the C2 pattern of POSTing
         * to a bare address. */
        s->http_bare_ip = name_is_address(dest_name);
    }
    bool ssh = label_is(flow->labels.master_protocol, "SSH") ||
               label_is(flow->labels.app_protocol, "SSH") ||
               (roles.dest_port == DETECT_SSH_PORT && flow->proto == 6);
    /* An SSH session's handshake is a few KB each way: well past it and upload-heavy is
     * sftp put / scp to, whatever the total volume says later. */
    if (ssh && conn_out >= DETECT_EVIDENCE_MIN_BYTES && conn_pcr >= cfg->pcr_threshold)
        evidence |= EVIDENCE_SSH_UPLOAD;
    if (cloud) {
        evidence |= EVIDENCE_CLOUD_STORAGE;
        s->cloud_service = cloud;
    }
    s->evidence |= evidence;

    /* Schedule, and what kind of schedule. */
    struct beacon_result br;
    beacon_evaluate(&s->beacon, &d->beacon_params, &br);
    bool periodic_upload = br.periodic && br.median_bytes_out >= (double)cfg->beacon_min_conn_bytes;
    /* C2-like: a schedule of small check-ins, and now a real upload on the same channel. */
    bool c2_like = br.periodic && !periodic_upload && conn_upload;

    /* Parallel streams: overlapping TCP uploads to the same destination (rclone
     * --transfers, multi-part uploads). UDP is left out: a video call's audio, video and
     * screen-share streams overlap and go mostly one way too. */
    uint32_t parallel = 0;
    uint64_t group_out = 0, group_in = 0, group_first = start;
    if (conn && flow->proto == 6) {
        uint64_t per_stream_min = DETECT_EVIDENCE_MIN_BYTES;
        parallel = beacon_concurrent_uploads(&s->beacon, conn->start_usec, conn->end_usec,
                                             per_stream_min, cfg->pcr_threshold);
        if (parallel >= DETECT_PARALLEL_MIN_STREAMS) {
            for (uint32_t i = 0; i < s->beacon.count; i++) {
                const struct beacon_conn *c = &s->beacon.conn[i];
                if (c->start_usec > conn->end_usec || c->end_usec < conn->start_usec)
                    continue;
                if (c->bytes_out < per_stream_min ||
                    stats_pcr(c->bytes_out, c->bytes_in) < cfg->pcr_threshold)
                    continue;
                group_out += c->bytes_out;
                group_in += c->bytes_in;
                if (c->start_usec < group_first)
                    group_first = c->start_usec;
            }
            evidence |= EVIDENCE_PARALLEL_STREAMS;
        } else {
            parallel = 0;
        }
    }

    /* The finding's scope: the whole schedule (all of the series, not only the ring: a
     * slow drip adds up over hours), the parallel burst, or this connection. */
    if (periodic_upload) {
        f.bytes_out = s->total_out;
        f.bytes_in = s->total_in;
        uint64_t total = s->beacon.total_connections;
        f.connections = total < UINT32_MAX ? (uint32_t)total : UINT32_MAX;
        f.first_ts_usec = s->first_start_usec;
        evidence |= s->evidence;
    } else if (parallel) {
        f.bytes_out = group_out;
        f.bytes_in = group_in;
        f.connections = parallel;
        f.first_ts_usec = group_first;
    } else {
        f.bytes_out = conn_out;
        f.bytes_in = conn_in;
        f.connections = 1;
        f.first_ts_usec = conn ? conn->start_usec : start;
    }
    f.pcr = stats_pcr(f.bytes_out, f.bytes_in);
    /* Rare protocol evidence makes even a small upload a finding (covert.h). */
    struct covert_finding covert;
    bool covert_found = covert_evidence(d->covert, flow, covert_state, roles.src_dir, &covert);
    bool pair_is_new = (pair_first == 0 || pair_first >= learn_end) &&
                       (pair_first == 0 || now - pair_first <= cfg->new_destination_usec);
    bool small_ftp = (evidence & EVIDENCE_FTP_STOR) && conn_out > 0 &&
                     conn_pcr >= cfg->pcr_threshold &&
                     detector_small_ftp_upload(d, ftp_first_before, pair_is_new, now, learn_end);
    bool small = f.bytes_out < cfg->min_upload_bytes || f.pcr < cfg->pcr_threshold;
    if (small && !covert_found && !small_ftp)
        goto done; /* not upload-heavy enough to be a finding: downloads, pings, polling */
    if (covert_found)
        evidence |= covert.evidence;
    if (small && (covert_found || small_ftp))
        evidence |= EVIDENCE_SMALL_UPLOAD;

    f.periodic = periodic_upload;
    f.c2_like = c2_like;
    f.beacon = br;
    f.parallel_streams = parallel;
    f.pair_new = (pair_first == 0 || pair_first >= learn_end) &&
                 (pair_first == 0 || now - pair_first <= cfg->new_destination_usec);
    f.site_new = (site_first == 0 || site_first >= learn_end) &&
                 (site_first == 0 || now - site_first <= cfg->new_destination_usec);
    f.first_seen_age_sec = -1.0;
    if (pair_first)
        f.first_seen_age_sec = (double)(now > pair_first ? now - pair_first : 0) / 1e6;
    f.host_pcr_known = host_pcr_known;
    f.host_pcr = host_pcr;
    if (host) {
        double usual;
        f.baseline_ratio = baseline_ratio(&host->baseline, now, cfg->min_upload_bytes / 16,
                                          &f.baseline_anomalous, &usual);
    }
    f.ftp_command = (evidence & EVIDENCE_FTP_STOR) ? s->ftp_command : FTP_CMD_NONE;
    f.cloud_service = (evidence & EVIDENCE_CLOUD_STORAGE) ? s->cloud_service : NULL;
    if (evidence & EVIDENCE_HTTP_UPLOAD) {
        f.http_plain_upload = true;
        f.http_upload_requests = periodic_upload ? s->http_upload_requests
                                                 : (http ? http->upload_requests : 0);
        f.http_body_bytes = periodic_upload ? s->http_body_bytes
                                            : (http ? http->upload_body_bytes : 0);
        f.http_bare_ip = s->http_bare_ip;
    }
    if (f.pair_new)
        evidence |= EVIDENCE_NEW_DESTINATION;
    if (f.periodic || f.c2_like)
        evidence |= EVIDENCE_PERIODIC;
    if (f.baseline_anomalous)
        evidence |= EVIDENCE_VOLUME_ANOMALY;
    f.evidence = evidence;

    double score = score_finding(&f, cfg, NULL);
    if (covert_found && score < covert.min_score)
        score = covert.min_score;
    if (small_ftp && score < SMALL_FTP_STOR_MIN_SCORE)
        score = SMALL_FTP_STOR_MIN_SCORE;
    struct geo_info dest_geo;
    memset(&dest_geo, 0, sizeof(dest_geo));
    if (cfg->geo)
        geo_lookup(cfg->geo, flow->ip_version, roles.dest_addr, &dest_geo);
    struct allow_query query = {
        .ip_version = flow->ip_version, .src_addr = roles.src_addr, .dest_addr = roles.dest_addr,
        .dest_name = dest_name, .app_protocol = s->app, .master_protocol = s->master,
        .dest_port = roles.dest_port, .dest_geo = cfg->geo ? &dest_geo : NULL,
    };
    bool flagged_geo = allowlist_match(d->flagged_geo, &query, NULL);
    if (flagged_geo)
        score = score + DETECT_FLAGGED_GEO_BONUS > 1.0 ? 1.0 : score + DETECT_FLAGGED_GEO_BONUS;
    if (score < cfg->alert_threshold)
        goto done;
    if (now < learn_end)
        goto done; /* learning: everything above was learned, nothing is said */

    if (allowlist_match(d->allowlist, &query, NULL)) {
        d->stats.allowlisted++;
        goto done;
    }

    /* One alert per series: again only when it gets worse or the window has passed. */
    enum alert_severity severity = score_severity(score);
    bool is_update = s->alerted;
    bool quiet = now < s->last_alert_usec + cfg->suppress_usec;
    if (s->alerted && severity <= s->last_severity && quiet) {
        d->stats.suppressed++;
        goto done;
    }

    struct alert alert;
    memset(&alert, 0, sizeof(alert));
    alert.id = ++d->next_alert_id;
    alert.ts_usec = now;
    alert.first_ts_usec = f.first_ts_usec;
    alert.severity = severity;
    alert.score = score;
    alert.is_update = is_update;
    alert.ip_version = flow->ip_version;
    memcpy(alert.src_addr, roles.src_addr, GEO_ADDR_LEN);
    memcpy(alert.dest_addr, roles.dest_addr, GEO_ADDR_LEN);
    alert.src_port = roles.src_port;
    alert.dest_port = roles.dest_port;
    alert.proto = flow->proto;
    snprintf(alert.dest_name, sizeof(alert.dest_name), "%s", dest_name);
    /* nDPI's own notation: "TLS.MEGA" when the application rides on a master protocol. */
    if (s->master[0] && s->app[0] && strcmp(s->master, s->app) != 0)
        snprintf(alert.app_protocol, sizeof(alert.app_protocol), "%.23s.%.23s", s->master, s->app);
    else
        snprintf(alert.app_protocol, sizeof(alert.app_protocol), "%s",
                 s->app[0] ? s->app : s->master);
    alert.dest_geo = dest_geo;
    alert.bytes_out = f.bytes_out;
    alert.bytes_in = f.bytes_in;
    alert.pcr = f.pcr;
    alert.connections = f.connections;
    alert.period_sec = (f.periodic || f.c2_like) ? br.period_sec : 0.0;
    alert.period_mad_sec = (f.periodic || f.c2_like) ? br.mad_sec : 0.0;
    alert.beacon_score = br.score;
    alert.baseline_ratio = f.baseline_ratio;
    alert.first_seen_age_sec = f.first_seen_age_sec;
    alert.evidence = f.evidence;
    alert.flow_id = flow->id;
    score_techniques(&f, &alert);
    score_reason(&f, src_text, dest_name, alert.reason, sizeof(alert.reason));
    if (covert_found) {
        for (int i = 0; i < ALERT_MAX_TECHNIQUES && covert.techniques[i]; i++) {
            bool have = false;
            for (int j = 0; j < alert.technique_count; j++)
                have = have || strcmp(alert.techniques[j], covert.techniques[i]) == 0;
            if (!have && alert.technique_count < ALERT_MAX_TECHNIQUES)
                alert.techniques[alert.technique_count++] = covert.techniques[i];
        }
        size_t used = strlen(alert.reason);
        snprintf(alert.reason + used, sizeof(alert.reason) - used, "%s", covert.reason);
    } else if (small_ftp) {
        size_t used = strlen(alert.reason);
        snprintf(alert.reason + used, sizeof(alert.reason) - used,
                 "; first FTP upload of this host, to a server it never used");
    }
    if (flagged_geo) {
        size_t used = strlen(alert.reason);
        if (dest_geo.asn != 0)
            snprintf(alert.reason + used, sizeof(alert.reason) - used,
                     "; destination in a flagged country or network (%s, AS%u)",
                     dest_geo.country_code[0] ? dest_geo.country_code : "??", dest_geo.asn);
        else
            snprintf(alert.reason + used, sizeof(alert.reason) - used,
                     "; destination in a flagged country (%s)", dest_geo.country_code);
    }

    s->alerted = true;
    s->last_severity = severity;
    s->last_alert_usec = now;
    d->stats.alerts++;
    if (d->on_alert)
        d->on_alert(d->user, &alert);

done:
    detector_maybe_save(d, now);
    if (final) {
        free(flow->observer_state);
        flow->observer_state = NULL;
    }
}

/* SIGHUP: swap in the re-read allowlist, or keep the old one. */
bool detector_reload_allowlist(struct detector *detector, char *err, size_t err_len)
{
    if (detector->allowlist_file == NULL) {
        snprintf(err, err_len, "no allowlist file configured");
        return false;
    }
    struct allowlist *list = allowlist_load(detector->allowlist_file, err, err_len);
    if (list == NULL)
        return false; /* the old list stays in force */
    /* Only the allowlist is swapped: the flagged countries and ASNs come from the command
     * line, belong to the detector and live until detector_free. */
    allowlist_free(detector->allowlist);
    detector->allowlist = list;
    return true;
}

/* Writes the first-seen state now (temp file + rename). */
bool detector_save_state(struct detector *detector, char *err, size_t err_len)
{
    if (detector->state_file == NULL)
        return true;
    if (!destinations_save(detector->destinations, detector->state_file, detector->learn_start_usec,
                           err, err_len))
        return false;
    detector->state_dirty = false;
    return true;
}

/* Counters for the stats line. */
void detector_get_stats(const struct detector *detector, struct detect_stats *stats)
{
    *stats = detector->stats;
    stats->hosts = detector->hosts.count;
    stats->destinations = detector->series.count;
}

/* Frees everything; no file I/O (the owner of the run saves state with detector_save_state). */
void detector_free(struct detector *detector)
{
    if (detector == NULL)
        return;
    cidr_set_free(detector->home_net);
    allowlist_free(detector->allowlist);
    allowlist_free(detector->flagged_geo);
    destinations_free(detector->destinations);
    covert_free(detector->covert);
    if (detector->state_lock_fd >= 0)
        close(detector->state_lock_fd);   /* releases the state lock */
    table_destroy(&detector->series, series_free_entry);
    table_destroy(&detector->hosts, host_free_entry);
    free(detector->home_net_text);
    free(detector->state_file);
    free(detector->allowlist_file);
    free(detector);
}
