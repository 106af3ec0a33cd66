/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The detector: flow records in, scored alerts out. Per record it finds the internal host
 * and the public destination, updates the host's baseline, the destination's first-seen
 * times and the (host, destination) series, gathers protocol evidence parsed from packets
 * (FTP, HTTP) and labels (SSH, cloud storage), scores the finding (score.c) and raises at
 * most one alert per series until the severity rises or the suppression window passes.
 */
#include "detect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/tunables.h"

#define DETECT_SSH_PORT 22

/* Transfers at least this big (both ways) teach the host's typical PCR; EWMA weight. */
#define HOST_PCR_MIN_BYTES (64 * 1024)
#define HOST_PCR_ALPHA 0.05
#define HOST_PCR_MIN_SAMPLES 10

struct detector {
    struct detect_config config;
    char *home_net_text, *state_file, *allowlist_file, *psl_file;
    struct groups *groups;
    alert_fn on_alert;
    void *user;
    struct cidr_set *home_net;
    struct allowlist *allowlist;
    struct allowlist *flagged_geo;   /* --flag-country/--flag-asn as allowlist rules, reused */
    struct destinations *destinations;
    int state_lock_fd;              /* holds STATE.lock (flock) for the detector's life */
    struct covert *covert;          /* DNS/ICMP/SMTP channels and small uploads (covert.h) */
    struct table series;
    struct table hosts;
    struct evidence_context evidence;
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
    "packed_data", "bulk_upload", "persistent",
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
    config->bulk_min_bytes = DEFAULT_BULK_MIN_BYTES;
    config->psl_file = DEFAULT_PSL_FILE;
}

/* table_destroy callback for series. */
static void series_free_entry(struct table_entry *entry)
{
    struct series *s = (struct series *)entry;
    beacon_free(&s->beacon);
    free(s->members);
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

/* The detector's tables as checkpoint.c sees them. */
static struct checkpoint_tables detector_checkpoint_tables(struct detector *d)
{
    return (struct checkpoint_tables){
        .series = &d->series, .hosts = &d->hosts, .max_series = DETECT_MAX_SERIES,
        .max_hosts = DETECT_MAX_HOSTS, .free_series = series_free_entry,
        .free_host = host_free_entry,
    };
}

/* Series and baselines from STATE-FILE.detect. A bad file is fatal unless --reset-state,
 * which starts with empty tables. */
static bool detector_load_checkpoint(struct detector *d, bool reset_if_corrupt, char *err,
                                     size_t err_len)
{
    char message[512];
    struct checkpoint_tables tables = detector_checkpoint_tables(d);
    if (checkpoint_load(&tables, d->state_file, message, sizeof(message)) >= 0)
        return true;
    if (!reset_if_corrupt) {
        snprintf(err, err_len, "%s (move it away or use --reset-state to start fresh)", message);
        return false;
    }
    LOG_WARN("%s; starting with empty detection state (--reset-state)", message);
    table_destroy(&d->series, series_free_entry);
    table_destroy(&d->hosts, host_free_entry);
    if (!table_init(&d->series, 4096) || !table_init(&d->hosts, 1024)) {
        snprintf(err, err_len, "detector: out of memory");
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
    d->psl_file = dup_or_null(config->psl_file);
    d->config.psl_file = d->psl_file;
    d->config.home_net = d->home_net_text;
    d->config.state_file = d->state_file;
    d->config.allowlist_file = d->allowlist_file;
    if (d->home_net_text == NULL || (config->state_file && !d->state_file) ||
        (config->allowlist_file && !d->allowlist_file) || (config->psl_file && !d->psl_file)) {
        snprintf(err, err_len, "detector: out of memory");
        goto fail;
    }
    d->evidence.ftp.same_hosts_only = config->ftp_same_hosts_only;
    d->beacon_params.min_connections = config->beacon_min_connections;
    d->beacon_params.min_period_sec = config->beacon_min_period_sec;
    d->beacon_params.max_period_sec = config->beacon_max_period_sec;
    d->beacon_params.min_score = config->beacon_min_score;
    d->beacon_params.persist_bin_sec = DETECT_PERSIST_BIN;
    d->beacon_params.persist_min = DETECT_PERSIST_MIN;

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
    d->groups = groups_new(d->psl_file, err, err_len);
    if (d->groups == NULL)
        goto fail;
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
    d->evidence.covert = d->covert;
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
    if (d->state_file && !detector_load_checkpoint(d, config->state_reset_if_corrupt, err,
                                                   err_len))
        goto fail;
    destinations_share(d->destinations, config->shared_state);
    /* Write it once now: a state file that cannot be written is a set-up error, found
     * before hours of learning are lost at exit. */
    if (d->state_file && !detector_save_state(d, message, sizeof(message))) {
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
    groups_free(d->groups);
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
    free(d->psl_file);
    free(d);
    return NULL;
}

struct detector *detector_new_packet_side(const struct detect_config *config, char *err,
                                          size_t err_len)
{
    struct detect_config packet = *config;
    packet.state_file = NULL;
    packet.allowlist_file = NULL;
    packet.psl_file = NULL;          /* groups are a record stage */
    packet.shared_state = NULL;      /* first-seen is the record side's */
    packet.ftp_same_hosts_only = true; /* a worker sees only its own address pairs */
    return detector_new(&packet, NULL, NULL, err, err_len);
}


/* ---- per-packet evidence (evidence.c), behind the detector's public hooks ------------ */

void detector_on_packet(struct detector *detector, struct flow *flow, const struct packet *pkt,
                        enum flow_direction direction)
{
    evidence_on_packet(&detector->evidence, flow, pkt, direction);
}

void detector_prepare_record(struct detector *detector, struct flow *flow)
{
    evidence_prepare_record(&detector->evidence, flow);
}

size_t detector_flow_state_size(void)
{
    return sizeof(struct flow_state);
}

/* ---- per-record scoring ------------------------------------------------------------- */

/* Least recently used entries go when a table is at its cap. */
static struct series *series_get(struct detector *d, const uint8_t *key, size_t key_len)
{
    return (struct series *)table_get(&d->series, key, key_len, sizeof(struct series),
                                      DETECT_MAX_SERIES, series_free_entry);
}

/* The host's baseline, created on first use. */
static struct host *host_get(struct detector *d, const uint8_t *key, size_t key_len)
{
    return (struct host *)table_get(&d->hosts, key, key_len, sizeof(struct host),
                                    DETECT_MAX_HOSTS, host_free_entry);
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

/* ---- record stages ------------------------------------------------------------------ *
 * detector_on_record runs these in order; each reads what the one before produced:
 *   record_view_build   flow record -> who sends to whom, how much, under which name
 *   record_learn        host baseline and typical PCR, first-seen per pair and site
 *   series_update       the (host, destination) series: connections, labels, evidence
 *   record_covert_gate  covert channels and first small FTP uploads (covert.h)
 *   features_build      schedule, parallel burst, scope of the finding, baseline
 *   record_score        score_finding + flagged geography
 *   alert_gate          learning, allowlist, suppression: why no alert is said
 *   alert_emit          the alert itself (alert.c builds it)
 */

/* The record as detection sees it. Addresses stay binary; text is made once for keys. */
struct record_view {
    struct flow *flow;
    const struct flow_state *state;
    const struct http_parser *http;  /* NULL unless the flow parsed as HTTP */
    struct flow_roles roles;
    uint64_t now, start;             /* packet time: record end, flow start */
    uint64_t out, in;                /* payload bytes of this record, by role */
    const char *cloud;               /* cloud storage service, NULL when none */
    char dest_name[FLOW_NAME_LEN];
    uint8_t src_key[HOST_KEY_MAX];   /* the source's host key (table.c): binary */
    size_t src_key_len;
};

/* What the host and first-seen tables said before this record joined them. */
struct record_history {
    struct host *host;               /* NULL when out of memory */
    bool host_pcr_known;
    double host_pcr;
    uint64_t pair_first, site_first; /* 0: never seen */
    uint64_t ftp_first_before;       /* the host's first outside FTP use before this record */
};

/* Stage 1: roles, byte counts and the destination's name (SNI/Host first: one name for
 * many addresses, else the address). False when the flow is not internal -> public. */
static bool record_view_build(const struct detector *d, struct flow *flow,
                              struct record_view *view)
{
    const struct flow_state *state = flow->observer_state;
    view->flow = flow;
    view->state = state;
    view->now = flow->last_ts_usec;
    view->start = flow->start_ts_usec ? flow->start_ts_usec : view->now;
    if (!detector_roles(d, flow, state, &view->roles))
        return false;
    view->out = flow->dir[view->roles.src_dir].payload_bytes;
    view->in = flow->dir[!view->roles.src_dir].payload_bytes;
    if (flow->burst.seq > 0) {
        /* A later upload burst of a long connection (flows.h, struct flow_burst): a
         * transfer of its own, from its first byte. */
        view->start = flow->burst.start_ts_usec;
        view->out = flow->burst.payload_bytes[view->roles.src_dir];
        view->in = flow->burst.payload_bytes[!view->roles.src_dir];
    }
    view->src_key_len = host_key_from_addr(view->src_key, sizeof(view->src_key),
                                           flow->ip_version, view->roles.src_addr);
    view->http = state && state->kind == FLOW_KIND_HTTP ? &state->u.http : NULL;
    char *dest_name = view->dest_name;
    size_t dest_len = sizeof(view->dest_name);
    if (state && state->kind == FLOW_KIND_FTP_DATA && state->u.ftp_data.dest_name[0])
        detect_name_sanitize(state->u.ftp_data.dest_name, dest_name, dest_len);
    else if (flow->labels.server_name[0])
        detect_name_sanitize(flow->labels.server_name, dest_name, dest_len);
    else if (view->http && view->http->host[0] && !name_is_address(view->http->host))
        detect_name_sanitize(view->http->host, dest_name, dest_len);
    else {
        char dest_text[64];   /* text only here: the name of an unnamed destination */
        geo_addr_to_string(flow->ip_version, view->roles.dest_addr, dest_text, sizeof(dest_text));
        detect_name_sanitize(dest_text, dest_name, dest_len);
    }
    /* Cloud storage: shard hosts of one service are one destination. */
    const char *cloud_site = NULL;
    view->cloud = cloud_storage_service(dest_name, flow->labels.app_protocol, &cloud_site);
    if (cloud_site)
        copy_text(dest_name, dest_len, cloud_site);
    return true;
}

/* Stage 2: the host's baseline takes every byte it sends outside; its typical PCR is read
 * before this record joins it. First seen per pair and site-wide, at the flow's start
 * (records arrive at flow end). */
static void record_learn(struct detector *d, const struct record_view *view,
                         struct record_history *history)
{
    memset(history, 0, sizeof(*history));
    history->host = host_get(d, view->src_key, view->src_key_len);
    if (history->host) {
        struct host *host = history->host;
        const struct flow_state *state = view->state;
        bool ftp_flow = state && (state->kind == FLOW_KIND_FTP_DATA ||
                                  state->kind == FLOW_KIND_FTP_CONTROL);
        history->ftp_first_before = host->ftp_first_usec;
        if (ftp_flow && (host->ftp_first_usec == 0 || view->start < host->ftp_first_usec))
            host->ftp_first_usec = view->start;
        baseline_add(&host->baseline, view->now, view->out);
        history->host_pcr_known = host->pcr_samples >= HOST_PCR_MIN_SAMPLES;
        history->host_pcr = host->pcr.mean;
        if (view->out + view->in >= HOST_PCR_MIN_BYTES) {
            stats_ewma_update(&host->pcr, stats_pcr(view->out, view->in), HOST_PCR_ALPHA);
            host->pcr_samples++;
        }
    }
    history->pair_first = destinations_touch_key(d->destinations, view->src_key,
                                                 view->src_key_len, view->dest_name, view->start);
    history->site_first = destinations_touch_key(d->destinations, NULL, 0, view->dest_name,
                                                 view->start);
    d->state_dirty = true;
}

/* Labels of the last flow nDPI named (an unlabelled flow keeps the series' labels). */
static void series_update_labels(struct series *s, const struct record_view *view)
{
    const char *app = view->flow->labels.app_protocol, *master = view->flow->labels.master_protocol;
    if (strcmp(app, "Unknown") == 0)
        app = "";
    if (strcmp(master, "Unknown") == 0)
        master = "";
    if (view->state && view->state->kind == FLOW_KIND_FTP_DATA && app[0] == '\0' &&
        master[0] == '\0')
        app = "FTP_DATA"; /* nDPI cannot know a data channel it did not see announced */
    if (app[0] || master[0]) {
        copy_text(s->app, sizeof(s->app), app);
        copy_text(s->master, sizeof(s->master), master);
    }
}

/* The archive seen in this flow's cleartext upload (HTTP body or FTP data channel). */
static uint8_t record_packed(const struct record_view *view)
{
    if (view->http && view->http->upload_requests > 0)
        return view->http->packed;
    if (view->state && view->state->kind == FLOW_KIND_FTP_DATA)
        return view->state->u.ftp_data.packed;
    return PACKED_NONE;
}

/* Adds the flow's HTTP upload requests and body bytes to the series: those since the flow's
 * record before, when that one joined this series too (its parser counts the connection). */
static void series_count_http(struct series *s, uint64_t flow_id, const struct http_parser *http)
{
    bool same_flow = s->http_counted_flow == flow_id;
    uint32_t requests = http->upload_requests, counted_requests = same_flow ? s->http_counted_requests : 0;
    uint64_t body = http->upload_body_bytes, counted_body = same_flow ? s->http_counted_body : 0;
    s->http_upload_requests += requests > counted_requests ? requests - counted_requests : 0;
    s->http_body_bytes += body > counted_body ? body - counted_body : 0;
    s->http_counted_flow = flow_id;
    s->http_counted_requests = requests;
    s->http_counted_body = body;
}

/* Protocol evidence of this record's flow, folded into the series. conn_out/conn_pcr: the
 * whole connection so far (interim records add up). */
static uint32_t series_update_evidence(const struct detector *d, struct series *s,
                                       const struct record_view *view, uint64_t conn_out,
                                       double conn_pcr)
{
    const struct flow *flow = view->flow;
    const struct flow_state *state = view->state;
    uint32_t evidence = 0;
    if (state && state->kind == FLOW_KIND_FTP_DATA &&
        ftp_command_is_upload(state->u.ftp_data.command)) {
        evidence |= EVIDENCE_FTP_STOR;
        s->ftp_command = state->u.ftp_data.command;
    }
    if (view->http && view->http->upload_requests > 0) {
        evidence |= EVIDENCE_HTTP_UPLOAD;
        series_count_http(s, flow->id, view->http);
        /* No site name at all (Host absent or an IP literal): the C2 pattern of POSTing
         * to a bare address. */
        s->http_bare_ip = name_is_address(view->dest_name);
    }
    bool ssh = detect_label_is(flow->labels.master_protocol, "SSH") ||
               detect_label_is(flow->labels.app_protocol, "SSH") ||
               (view->roles.dest_port == DETECT_SSH_PORT && flow->proto == 6);
    /* An SSH session's handshake is a few KB each way: well past it and upload-heavy is
     * sftp put / scp to, whatever the total volume says later. */
    if (ssh && conn_out >= DETECT_EVIDENCE_MIN_BYTES && conn_pcr >= d->config.pcr_threshold)
        evidence |= EVIDENCE_SSH_UPLOAD;
    if (view->cloud) {
        evidence |= EVIDENCE_CLOUD_STORAGE;
        s->cloud_service = view->cloud;
    }
    uint8_t packed = record_packed(view);
    if (packed != PACKED_NONE) {
        evidence |= EVIDENCE_PACKED_DATA;
        if (s->packed == PACKED_NONE)
            s->packed = packed;
    }
    s->evidence |= evidence;
    return evidence;
}

/* What series_update leaves for the feature stage: this connection within the series. */
struct series_step {
    struct series *series;
    const struct beacon_conn *conn;  /* NULL only when the ring could not grow */
    uint64_t conn_out, conn_in;
    double conn_pcr;
    bool conn_upload;                /* this connection alone is upload-heavy and big */
    uint32_t evidence;               /* this flow's protocol evidence */
    /* Rare protocol evidence that makes even a small upload a finding (record_covert_gate;
     * member series only). */
    bool covert_found;
    bool small_ftp;
    struct covert_finding covert;
};

/* The connection a record adds to in a series: the flow, or one upload burst of it. Interim
 * records of one burst add up; each burst is a connection of its own. Flow ids are packet
 * numbers, far below 2^48. */
static uint64_t record_conn_id(const struct flow *flow)
{
    return flow->id ^ ((uint64_t)flow->burst.seq << 48);
}

/* Stage 3: the (host, destination) series named dest_key takes the connection. False: no
 * memory. */
static bool series_update(struct detector *d, const struct record_view *view,
                          const char *dest_key, struct series_step *step)
{
    const struct detect_config *cfg = &d->config;
    const struct flow *flow = view->flow;
    /* The source's binary host key, then the destination's name. */
    uint8_t key[HOST_KEY_MAX + FLOW_NAME_LEN + 16];
    size_t dest_len = strnlen(dest_key, sizeof(key) - view->src_key_len);
    memcpy(key, view->src_key, view->src_key_len);
    memcpy(key + view->src_key_len, dest_key, dest_len);
    struct series *s = series_get(d, key, view->src_key_len + dest_len);
    if (s == NULL)
        return false;
    s->ip_version = flow->ip_version;
    memcpy(s->src_addr, view->roles.src_addr, GEO_ADDR_LEN);
    memcpy(s->dest_addr, view->roles.dest_addr, GEO_ADDR_LEN);
    s->dest_port = view->roles.dest_port;
    s->proto = flow->proto;
    series_update_labels(s, view);
    uint64_t conn_id = record_conn_id(flow);
    beacon_add(&s->beacon, conn_id, view->start, view->now, view->out, view->in);
    s->total_out += view->out;
    s->total_in += view->in;
    if (s->first_start_usec == 0 || view->start < s->first_start_usec)
        s->first_start_usec = view->start;
    step->series = s;
    step->covert_found = false;
    step->small_ftp = false;
    step->conn = beacon_find(&s->beacon, conn_id);
    step->conn_out = step->conn ? step->conn->bytes_out : view->out;
    step->conn_in = step->conn ? step->conn->bytes_in : view->in;
    step->conn_pcr = stats_pcr(step->conn_out, step->conn_in);
    step->conn_upload = step->conn_out >= cfg->min_upload_bytes &&
                        step->conn_pcr >= cfg->pcr_threshold;
    step->evidence = series_update_evidence(d, s, view, step->conn_out, step->conn_pcr);
    return true;
}

/* Parallel streams: overlapping TCP uploads to the same destination (rclone --transfers,
 * multi-part uploads), summed into *burst. UDP is left out: a video call's audio, video and
 * screen-share streams overlap and go mostly one way too. 0 when not a burst. */
static uint32_t features_parallel(const struct detector *d, const struct record_view *view,
                                  const struct series_step *step, struct finding *burst)
{
    const struct beacon_conn *conn = step->conn;
    const struct beacon_series *ring = &step->series->beacon;
    double min_pcr = d->config.pcr_threshold;
    uint64_t per_stream_min = DETECT_EVIDENCE_MIN_BYTES;
    if (conn == NULL || view->flow->proto != 6)
        return 0;
    uint32_t parallel = beacon_concurrent_uploads(ring, conn->start_usec, conn->end_usec,
                                                  per_stream_min, min_pcr);
    if (parallel < DETECT_PARALLEL_MIN_STREAMS)
        return 0;
    burst->first_ts_usec = view->start;
    for (uint32_t i = 0; i < ring->count; i++) {
        const struct beacon_conn *c = &ring->conn[i];
        if (c->start_usec > conn->end_usec || c->end_usec < conn->start_usec)
            continue;
        if (c->bytes_out < per_stream_min || stats_pcr(c->bytes_out, c->bytes_in) < min_pcr)
            continue;
        burst->bytes_out += c->bytes_out;
        burst->bytes_in += c->bytes_in;
        if (c->start_usec < burst->first_ts_usec)
            burst->first_ts_usec = c->start_usec;
    }
    return parallel;
}

/* The finding's scope: the whole schedule (all of the series, not only the ring: a slow
 * drip adds up over hours), the parallel burst, or this connection. */
static void features_scope(const struct record_view *view, const struct series_step *step,
                           bool periodic_upload, const struct finding *burst, uint32_t parallel,
                           struct finding *f)
{
    const struct series *s = step->series;
    f->conn_bytes_out = step->conn_out;
    if (periodic_upload) {
        f->bytes_out = s->total_out;
        f->bytes_in = s->total_in;
        uint64_t total = s->beacon.total_connections;
        f->connections = total < UINT32_MAX ? (uint32_t)total : UINT32_MAX;
        f->first_ts_usec = s->first_start_usec;
    } else if (parallel) {
        f->bytes_out = burst->bytes_out;
        f->bytes_in = burst->bytes_in;
        f->connections = parallel;
        f->first_ts_usec = burst->first_ts_usec;
    } else {
        f->bytes_out = step->conn_out;
        f->bytes_in = step->conn_in;
        f->connections = 1;
        f->first_ts_usec = step->conn ? step->conn->start_usec : view->start;
    }
    f->pcr = stats_pcr(f->bytes_out, f->bytes_in);
}

/* How new the destination is, for this host and site-wide. A destination first seen
 * during learning is never new. */
static void features_newness(const struct detector *d, const struct record_view *view,
                             const struct record_history *history, uint64_t learn_end,
                             struct finding *f)
{
    uint64_t window = d->config.new_destination_usec, now = view->now;
    uint64_t pair_first = history->pair_first, site_first = history->site_first;
    f->pair_new = (pair_first == 0 || pair_first >= learn_end) &&
                  (pair_first == 0 || now - pair_first <= window);
    f->site_new = (site_first == 0 || site_first >= learn_end) &&
                  (site_first == 0 || now - site_first <= window);
    f->first_seen_age_sec = -1.0;
    if (pair_first)
        f->first_seen_age_sec = (double)(now > pair_first ? now - pair_first : 0) / 1e6;
}

/* Protocol details the score and the sentence name: FTP command, cloud service, HTTP
 * requests (the schedule's when periodic, else this flow's). */
static void features_protocol(const struct record_view *view, const struct series_step *step,
                              uint32_t evidence, struct finding *f)
{
    const struct series *s = step->series;
    const struct http_parser *http = view->http;
    f->ftp_command = (evidence & EVIDENCE_FTP_STOR) ? s->ftp_command : FTP_CMD_NONE;
    f->cloud_service = (evidence & EVIDENCE_CLOUD_STORAGE) ? s->cloud_service : NULL;
    f->packed = (evidence & EVIDENCE_PACKED_DATA) ? s->packed : PACKED_NONE;
    if (evidence & EVIDENCE_HTTP_UPLOAD) {
        f->http_plain_upload = true;
        f->http_upload_requests = f->periodic ? s->http_upload_requests
                                              : (http ? http->upload_requests : 0);
        f->http_body_bytes = f->periodic ? s->http_body_bytes
                                         : (http ? http->upload_body_bytes : 0);
        f->http_bare_ip = s->http_bare_ip;
    }
}

/* Stage 4: everything known about this record's finding. False when it is not upload-heavy
 * enough to be one (downloads, pings, polling). */
static bool features_build(const struct detector *d, const struct record_view *view,
                           const struct record_history *history, const struct series_step *step,
                           uint64_t learn_end, struct finding *f)
{
    const struct detect_config *cfg = &d->config;
    struct series *s = step->series;
    uint32_t evidence = step->evidence;
    memset(f, 0, sizeof(*f));

    beacon_evaluate(&s->beacon, &d->beacon_params, &f->beacon);
    const struct beacon_result *br = &f->beacon;
    bool periodic_upload = br->periodic && br->median_bytes_out >= (double)cfg->beacon_min_conn_bytes;
    /* C2-like: a schedule of small check-ins, and now a real upload on the same channel. */
    bool c2_like = br->periodic && !periodic_upload && step->conn_upload;

    f->host_pcr_known = history->host_pcr_known;
    f->host_pcr = history->host_pcr;
    if (history->host) {
        double usual;
        f->baseline_ratio = baseline_ratio(&history->host->baseline, view->now,
                                           cfg->min_upload_bytes / 16, &f->baseline_anomalous,
                                           &usual);
    }
    struct finding burst;
    memset(&burst, 0, sizeof(burst));
    uint32_t parallel = features_parallel(d, view, step, &burst);
    /* Sync clients, browsers and backup tools upload in parallel too: a burst is evidence
     * when it is out of the host's character or large in itself. */
    if (parallel && !f->baseline_anomalous && burst.bytes_out < cfg->bulk_min_bytes)
        parallel = 0;
    if (parallel)
        evidence |= EVIDENCE_PARALLEL_STREAMS;
    if (periodic_upload)
        evidence |= s->evidence;
    features_scope(view, step, periodic_upload, &burst, parallel, f);
    bool small = f->bytes_out < cfg->min_upload_bytes || f->pcr < cfg->pcr_threshold;
    if (small && !step->covert_found && !step->small_ftp)
        return false;
    if (step->covert_found)
        evidence |= step->covert.evidence;
    if (small)
        evidence |= EVIDENCE_SMALL_UPLOAD;

    f->periodic = periodic_upload;
    f->c2_like = c2_like;
    f->parallel_streams = parallel;
    features_newness(d, view, history, learn_end, f);
    features_protocol(view, step, evidence, f);
    f->learned_schedule = f->periodic && history->pair_first != 0 &&
                          history->pair_first < learn_end;
    if (score_bulk_applies(f, cfg))
        evidence |= EVIDENCE_BULK_UPLOAD;
    if (f->pair_new)
        evidence |= EVIDENCE_NEW_DESTINATION;
    if (f->periodic || f->c2_like)
        evidence |= EVIDENCE_PERIODIC;
    if (f->periodic && f->beacon.persistent)
        evidence |= EVIDENCE_PERSISTENT;
    if (f->baseline_anomalous)
        evidence |= EVIDENCE_VOLUME_ANOMALY;
    f->evidence = evidence;
    return true;
}

/* Stage 5: the score, raised when the destination lies in a flagged country or network. */
static double record_score(const struct detector *d, const struct finding *f,
                           const struct series_step *step, const struct allow_query *query,
                           bool *flagged_geo, struct score_breakdown *breakdown)
{
    double score = score_finding(f, &d->config, NULL, breakdown);
    double floor = step->covert_found ? step->covert.min_score : 0.0;
    if (step->small_ftp && floor < SMALL_FTP_STOR_MIN_SCORE)
        floor = SMALL_FTP_STOR_MIN_SCORE;
    if (score < floor) {
        breakdown->evidence_floor = floor;
        breakdown->model = "evidence";
        score = floor;
    }
    *flagged_geo = allowlist_match(d->flagged_geo, query, NULL);
    if (*flagged_geo) {
        breakdown->geo_bonus = DETECT_FLAGGED_GEO_BONUS;
        score = score + DETECT_FLAGGED_GEO_BONUS > 1.0 ? 1.0 : score + DETECT_FLAGGED_GEO_BONUS;
    }
    return score;
}

/* How long a series stays quiet after an alert: the configured window, and at least two
 * periods of its schedule (a daily job is not re-alerted every day). */
static uint64_t alert_suppress_usec(const struct detect_config *cfg, const struct finding *f)
{
    uint64_t window = cfg->suppress_usec;
    if (f->periodic || f->c2_like) {
        double two_periods = 2.0 * f->beacon.period_sec * 1e6;
        if (two_periods > (double)window && two_periods < 1e18)
            window = (uint64_t)two_periods;
    }
    return window;
}

/* Stage 6: why a finding above nothing is not said. Each reason has its counter. */
static bool alert_gate(struct detector *d, const struct series *s, const struct finding *f,
                       double score, uint64_t now, uint64_t learn_end,
                       const struct allow_query *query)
{
    const struct detect_config *cfg = &d->config;
    if (score < cfg->alert_threshold) {
        d->stats.below_threshold++;
        return false;
    }
    if (now < learn_end) {
        d->stats.learning++;
        return false; /* learning: everything above was learned, nothing is said */
    }
    if (allowlist_match(d->allowlist, query, NULL)) {
        d->stats.allowlisted++;
        return false;
    }
    /* One alert per series: again only when its shape changed (repetition of the same job
     * is no news), and then at once when worse, else after the window. */
    if (!s->alerted)
        return true;
    struct alert_shape shape;
    alert_shape_of(f, (double)cfg->suppress_usec / 1e6, &shape);
    bool worse = score_severity(score) > s->last_severity;
    bool quiet = now < s->last_alert_usec + alert_suppress_usec(cfg, f);
    if (!alert_shape_changed(&s->alert_shape, &shape) || (!worse && quiet)) {
        d->stats.suppressed++;
        return false;
    }
    return true;
}

/* Stage 7: builds the alert, records it on the series and hands it out. */
static void alert_emit(struct detector *d, const struct series_step *step,
                       const struct record_view *view, const struct finding *f, double score,
                       bool flagged_geo, const struct geo_info *dest_geo,
                       const struct score_breakdown *breakdown)
{
    struct series *s = step->series;
    struct alert alert;
    char src_text[64];   /* text leaves detection here, in the alert's sentence */
    geo_addr_to_string(view->flow->ip_version, view->roles.src_addr, src_text, sizeof(src_text));
    struct alert_source source = {
        .flow = view->flow, .src_addr = view->roles.src_addr, .dest_addr = view->roles.dest_addr,
        .src_port = view->roles.src_port, .dest_port = view->roles.dest_port,
        .src_text = src_text, .dest_name = view->dest_name, .app = s->app,
        .master = s->master, .dest_geo = dest_geo, .flagged_geo = flagged_geo,
    };
    if (step->covert_found) {
        source.extra_techniques = step->covert.techniques;
        source.extra_reason = step->covert.reason;
    } else if (step->small_ftp) {
        source.extra_reason = "; first FTP upload of this host, to a server it never used";
    }
    alert_build(&alert, &source, f, score, s->alerted);
    /* Flow or log input: what this alert could not have shown (never with packets). */
    alert.evidence_unavailable = d->config.evidence_unavailable & ~alert.evidence;
    alert.breakdown = *breakdown;
    if (s->member_count > 0) {
        copy_text(alert.group, sizeof(alert.group), view->dest_name);
        copy_text(alert.group_members, sizeof(alert.group_members),
                  s->members ? s->members : "");
    }
    alert.id = ++d->next_alert_id;
    s->alerted = true;
    s->last_severity = alert.severity;
    s->last_alert_usec = view->now;
    alert_shape_of(f, (double)d->config.suppress_usec / 1e6, &s->alert_shape);
    d->stats.alerts++;
    if (d->on_alert)
        d->on_alert(d->user, &alert);
}

/* Stages 5-7 for one finding: score, gate, alert. True when an alert went out. */
static bool finding_judge(struct detector *d, const struct record_view *view,
                          const struct series_step *step, const struct finding *finding,
                          uint64_t learn_end)
{
    struct flow *flow = view->flow;
    const struct finding *fp = finding;
    struct geo_info dest_geo;
    memset(&dest_geo, 0, sizeof(dest_geo));
    if (d->config.geo)
        geo_lookup(d->config.geo, flow->ip_version, view->roles.dest_addr, &dest_geo);
    struct allow_query query = {
        .ip_version = flow->ip_version, .src_addr = view->roles.src_addr,
        .dest_addr = view->roles.dest_addr, .dest_name = view->dest_name,
        .app_protocol = step->series->app, .master_protocol = step->series->master,
        .dest_port = view->roles.dest_port, .dest_geo = d->config.geo ? &dest_geo : NULL,
    };
    bool flagged_geo;
    struct score_breakdown breakdown;
    d->stats.findings++;
    double score = record_score(d, fp, step, &query, &flagged_geo, &breakdown);
    if (!alert_gate(d, step->series, fp, score, view->now, learn_end, &query))
        return false;
    alert_emit(d, step, view, fp, score, flagged_geo, &dest_geo, &breakdown);
    return true;
}

/* Adds a destination to a group series' member list (the first GROUP_MAX_MEMBERS). */
static void group_add_member(struct series *group, const char *dest_name)
{
    size_t name_len = strlen(dest_name);
    if (group->members == NULL && (group->members = calloc(1, GROUP_MEMBERS_LEN)) == NULL)
        return;
    for (const char *p = group->members; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == name_len && memcmp(p, dest_name, len) == 0)
            return;
        p += len + (comma ? 1 : 0);
    }
    group->member_count++;
    size_t used = strlen(group->members);
    if (group->member_count > GROUP_MAX_MEMBERS || used + name_len + 2 > GROUP_MEMBERS_LEN)
        return;
    snprintf(group->members + used, GROUP_MEMBERS_LEN - used, "%s%s", used ? "," : "",
             dest_name);
}

/* One group of the destination (key without GROUP_KEY_PREFIX, name as alerts show it):
 * its series takes the record. True when the group has several members and is a schedule;
 * then, when judge is set, the finding is scored and may alert. */
static bool group_level_record(struct detector *d, const struct record_view *view,
                               const struct record_history *member_history, uint64_t learn_end,
                               const char *key, const char *name, bool judge)
{
    struct record_view group_view = *view;
    char group_key[FLOW_NAME_LEN + 8];
    copy_text(group_view.dest_name, sizeof(group_view.dest_name), name);
    snprintf(group_key, sizeof(group_key), GROUP_KEY_PREFIX "%s", key);
    struct series_step step;
    if (!series_update(d, view, group_key, &step))
        return false;
    group_add_member(step.series, view->dest_name);
    if (step.series->member_count < 2)
        return false;
    struct record_history history = *member_history;
    history.pair_first = destinations_touch_key(d->destinations, view->src_key, view->src_key_len,
                                                group_key, view->start);
    history.site_first = destinations_touch_key(d->destinations, NULL, 0, group_key, view->start);
    struct finding f;
    if (!features_build(d, &group_view, &history, &step, learn_end, &f) || !f.periodic)
        return false;
    if (judge) {
        d->stats.group_findings++;
        finding_judge(d, &group_view, &step, &f, learn_end);
    }
    return true;
}

/* Stage 3b: the destination's groups are series of their own: its registered domain or
 * network, then (with an ASN database) its autonomous system and organisation. Each is
 * scored when it has several members and the member series alone said nothing: a schedule
 * rotated over addresses, names or networks. Only the narrowest group that finds the
 * schedule judges it, so one rotation is one alert; the wider ones still learn. */
static void group_score_record(struct detector *d, const struct record_view *view,
                               const struct record_history *member_history, uint64_t learn_end)
{
    char name[FLOW_NAME_LEN], key[FLOW_NAME_LEN];
    bool dest_is_name = !name_is_address(view->dest_name);
    bool found = false;
    groups_of(d->groups, view->dest_name, dest_is_name, view->flow->ip_version,
              view->roles.dest_addr, name, sizeof(name));
    /* A destination that is its own group: the member series said it all. */
    if (strcmp(name, view->dest_name) != 0)
        found = group_level_record(d, view, member_history, learn_end, name, name, true);
    if (d->config.geo == NULL)
        return;
    struct geo_info geo;
    memset(&geo, 0, sizeof(geo));
    if (!geo_lookup(d->config.geo, view->flow->ip_version, view->roles.dest_addr, &geo))
        return;
    for (int level = 0; level < GROUP_LEVEL_COUNT; level++) {
        if (groups_of_network_owner(&geo, (enum group_level)level, key, sizeof(key), name,
                                    sizeof(name)) &&
            group_level_record(d, view, member_history, learn_end, key, name, !found))
            found = true;
    }
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

/* Stage 3a: rare protocol evidence (covert.h) and a host's first small FTP upload, which
 * let a record below --min-upload through to the feature stage. */
static void record_covert_gate(struct detector *d, const struct record_view *view,
                               const struct record_history *history, struct series_step *step,
                               uint64_t learn_end)
{
    const struct detect_config *cfg = &d->config;
    const struct covert_flow *covert_state =
        view->state && view->state->kind == FLOW_KIND_COVERT ? &view->state->u.covert : NULL;
    step->covert_found = covert_evidence(d->covert, view->flow, covert_state, view->roles.src_dir,
                                         &step->covert);
    uint64_t pair_first = history->pair_first;
    bool pair_is_new = (pair_first == 0 || pair_first >= learn_end) &&
                       (pair_first == 0 || view->now - pair_first <= cfg->new_destination_usec);
    step->small_ftp = (step->evidence & EVIDENCE_FTP_STOR) && step->conn_out > 0 &&
                      step->conn_pcr >= cfg->pcr_threshold &&
                      detector_small_ftp_upload(d, history->ftp_first_before, pair_is_new,
                                                view->now, learn_end);
}

/* Runs the stages on one record: the member series, then its group. */
static void detector_score_record(struct detector *d, struct flow *flow, uint64_t learn_end)
{
    struct record_view view;
    struct record_history history;
    struct series_step step;
    struct finding f;
    if (!record_view_build(d, flow, &view))
        return;
    d->stats.outbound++;
    record_learn(d, &view, &history);
    if (!series_update(d, &view, view.dest_name, &step))
        return;
    record_covert_gate(d, &view, &history, &step, learn_end);
    bool member_finding = features_build(d, &view, &history, &step, learn_end, &f);
    bool alerted = member_finding && finding_judge(d, &view, &step, &f, learn_end);
    if (!alerted && !(member_finding && f.periodic))
        group_score_record(d, &view, &history, learn_end);
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
    alert->evidence_unavailable = d->config.evidence_unavailable & ~alert->evidence;
    d->stats.alerts++;
    if (d->on_alert)
        d->on_alert(d->user, alert);
}

/* Per flow record: the learning clock, then the stages, then a periodic save. */
void detector_on_record(struct detector *detector, struct flow *flow, enum flow_end_reason reason,
                        bool final)
{
    struct detector *d = detector;
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
    uint64_t learn_end = d->config.learn_usec ? d->learn_start_usec + d->config.learn_usec : 0;

    evidence_prepare_record(&d->evidence, flow);
    /* DNS tunnels are scored by the queried domain whichever resolver was asked, so before
     * the roles; SMTP teaches which internal hosts are mail servers. */
    const struct flow_state *state = flow->observer_state;
    const struct covert_flow *covert_state =
        state && state->kind == FLOW_KIND_COVERT ? &state->u.covert : NULL;
    struct alert covert_alert;
    if (covert_on_record(d->covert, flow, covert_state, &covert_alert))
        detector_deliver_covert(d, &covert_alert, learn_end);
    detector_score_record(d, flow, learn_end);
    detector_maybe_save(d, now);
    if (final) {
        free(flow->observer_state);
        flow->observer_state = NULL;
    }
}

/* An uploaded file's archive kind from its logged MIME type, else its name. */
static uint8_t log_packed(const struct detect_log_evidence *evidence)
{
    uint8_t packed = packed_content_type(evidence->upload_mime_type,
                                         strlen(evidence->upload_mime_type));
    if (packed == PACKED_NONE)
        packed = packed_filename(evidence->upload_filename, strlen(evidence->upload_filename));
    return packed;
}

/* The per-flow state detector_classify and the parsers would have left, built from log
 * evidence instead; NULL when the evidence needs none (or on allocation failure, which only
 * loses that evidence). */
static struct flow_state *detector_log_state(const struct detect_log_evidence *evidence)
{
    struct flow_state *state = NULL;
    if (evidence == NULL)
        return NULL;
    if (evidence->saved != NULL)
        return saved_flow_state(evidence->saved);
    if (evidence->ftp_data) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_FTP_DATA;
        state->u.ftp_data.active = evidence->ftp_active;
        /* Not NONE: detector_prepare_record then leaves the expectation table alone. */
        state->u.ftp_data.command = evidence->ftp_upload ? FTP_CMD_STOR : FTP_CMD_OTHER;
        copy_text(state->u.ftp_data.dest_name, sizeof(state->u.ftp_data.dest_name),
                  evidence->ftp_dest_name);
    } else if (evidence->http_upload_requests > 0 || evidence->http_host[0]) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_HTTP;
        http_parser_init(&state->u.http, 0);
        state->u.http.state = HTTP_STATE_STOPPED;
        state->u.http.upload_requests = evidence->http_upload_requests;
        state->u.http.upload_body_bytes = evidence->http_body_bytes;
        copy_text(state->u.http.host, sizeof(state->u.http.host), evidence->http_host);
    }
    uint8_t packed = log_packed(evidence);
    if (state != NULL && state->kind == FLOW_KIND_HTTP)
        state->u.http.packed = packed;
    else if (state != NULL && state->kind == FLOW_KIND_FTP_DATA)
        state->u.ftp_data.packed = packed;
    return state;
}

/* DNS messages from logs, fed to the covert module as the packets carrying them would be;
 * NULL when there are none or the flow is not DNS over UDP. */
static struct flow_state *detector_log_dns_state(struct detector *d, const struct flow *flow,
                                                 const struct detect_log_evidence *evidence)
{
    if (evidence == NULL || evidence->dns_messages_len == 0 || flow->proto != 17)
        return NULL;
    struct flow_state *state = calloc(1, sizeof(*state));
    if (state == NULL)
        return NULL;
    state->kind = FLOW_KIND_COVERT;
    covert_flow_init(&state->u.covert, flow);
    const uint8_t *cur = evidence->dns_messages, *end = cur + evidence->dns_messages_len;
    while (end - cur >= 2) {
        size_t len = (size_t)cur[0] << 8 | cur[1];
        cur += 2;
        if (len < 3 || len > (size_t)(end - cur))
            break;
        struct packet pkt;
        memset(&pkt, 0, sizeof(pkt));
        pkt.payload = cur;
        pkt.payload_len = pkt.payload_wire_len = (uint32_t)len;
        pkt.ts_usec = flow->start_ts_usec;
        covert_on_packet(d->covert, &state->u.covert, flow, &pkt,
                         cur[2] & 0x80 ? FLOW_DIR_RESP : FLOW_DIR_ORIG);
        cur += len;
    }
    return state;
}

void detector_log_attach(struct flow *flow, const struct detect_log_evidence *evidence)
{
    /* A state left by someone else would leak or be misread: logs never run the packet hooks. */
    free(flow->observer_state);
    flow->observer_state = detector_log_state(evidence);
}

void detector_on_log_record(struct detector *detector, struct flow *flow,
                            enum flow_end_reason reason, const struct detect_log_evidence *evidence)
{
    /* DNS messages from dns.log go through the covert module, which the detector owns. */
    struct flow_state *dns = detector_log_dns_state(detector, flow, evidence);
    if (dns != NULL) {
        free(flow->observer_state);
        flow->observer_state = dns;
    } else {
        detector_log_attach(flow, evidence);
    }
    detector_on_record(detector, flow, reason, true);
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

/* Writes the first-seen state and the detection checkpoint now (mkstemp temp file + rename). */
bool detector_save_state(struct detector *detector, char *err, size_t err_len)
{
    if (detector->state_file == NULL)
        return true;
    if (!destinations_save(detector->destinations, detector->state_file, detector->learn_start_usec,
                           err, err_len))
        return false;
    struct checkpoint_tables tables = detector_checkpoint_tables(detector);
    if (!checkpoint_save(&tables, detector->state_file, err, err_len))
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
    groups_free(detector->groups);
    free(detector->psl_file);
    table_destroy(&detector->series, series_free_entry);
    table_destroy(&detector->hosts, host_free_entry);
    free(detector->home_net_text);
    free(detector->state_file);
    free(detector->allowlist_file);
    free(detector);
}
