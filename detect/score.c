/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Combining the signals of one finding into a score in [0,1], a severity, MITRE technique
 * ids and one human sentence. The formula (see docs/README-detect.md):
 *
 *   score = 0.15 volume + 0.10 upload + 0.25 automation + 0.20 new_destination
 *         + 0.20 protocol + 0.10 baseline
 *
 * Without a schedule, a parallel burst or protocol evidence a finding cannot pass the
 * default threshold 0.6 on this pattern model. A second model scores one unscheduled bulk
 * upload to a new destination on its volume alone (log scale, no cap); the larger wins.
 */
#include "detect_internal.h"

#include "../common/tunables.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Clamps to [0,1]. */
static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
}

/* Strength of each kind of protocol evidence: an explicit upload command says more than a
 * generic POST. A cloud storage name alone is worth no more than an unknown destination's
 * newness: backups and sync clients use the same services all day. */
static double protocol_part(const struct finding *finding)
{
    /* A new destination already scores its newness; a cloud service's name adds nothing to
     * it (it is the world's best-known kind of destination), so the two do not stack. */
    bool cloud = finding->cloud_service != NULL && !finding->pair_new;
    double best = 0.0;
    int kinds = 0;
    double strengths[6] = {
        ftp_command_is_upload(finding->ftp_command) ? 1.0 : 0.0,
        cloud ? SCORE_CLOUD_STRENGTH : 0.0,
        (finding->evidence & EVIDENCE_SSH_UPLOAD) ? 0.8 : 0.0,
        (finding->evidence & EVIDENCE_HTTP_UPLOAD) ? (finding->http_bare_ip ? 0.8 : 0.6) : 0.0,
        (finding->evidence & EVIDENCE_PARALLEL_STREAMS) ? 0.9 : 0.0,
        finding->packed ? 0.9 : 0.0,
    };
    for (int i = 0; i < 6; i++) {
        if (strengths[i] > 0.0)
            kinds++;
        if (strengths[i] > best)
            best = strengths[i];
    }
    return kinds ? clamp01(best + 0.1 * (kinds - 1)) : 0.0;
}

/* Appends one part to the breakdown (when there is one and room). */
static void breakdown_add(struct score_breakdown *b, const char *model, const char *name,
                          double value, double weight)
{
    if (b == NULL || b->count >= SCORE_MAX_PARTS)
        return;
    b->part[b->count++] = (struct score_part){ .name = name, .model = model, .value = value,
                                               .weight = weight };
}

/* The pattern model: the weighted sum of six parts, each in [0,1]. */
static double score_pattern(const struct finding *finding, const struct detect_config *config,
                            struct score_parts *parts)
{
    struct score_parts p = { 0 };
    double min_upload = config->min_upload_bytes ? (double)config->min_upload_bytes : 1.0;
    /* 0.5 at the minimum upload, 1.0 at 100 times it. */
    if (finding->bytes_out >= config->min_upload_bytes && finding->bytes_out > 0)
        p.volume = clamp01(0.5 + 0.25 * log10((double)finding->bytes_out / min_upload));
    double pcr_span = 1.0 - config->pcr_threshold;
    p.upload = pcr_span > 0.0 ? clamp01((finding->pcr - config->pcr_threshold) / pcr_span)
                              : (finding->pcr >= config->pcr_threshold ? 1.0 : 0.0);
    /* A schedule that also fetches files from the destination is a two-way store (a sync
     * client), not a one-way channel out: its upload share says nothing more. */
    if (finding->periodic && finding->beacon.fetched)
        p.upload = 0.0;
    /* A schedule to a destination learned during --learn repeats what was learned. */
    if ((finding->periodic || finding->c2_like) && !finding->learned_schedule) {
        p.automation = clamp01(finding->beacon.score);
        /* Regular gaps and uploads in most hours are two views of one automation: either
         * may fail alone (jitter wrecks the gaps, a daily job fills few hours), so they
         * combine like independent evidence, and a schedule with both scores above each. */
        if (finding->beacon.persistent)
            p.automation = 1.0 - (1.0 - p.automation) * (1.0 - clamp01(finding->beacon.persistence));
    }
    if ((finding->evidence & EVIDENCE_PARALLEL_STREAMS) && p.automation < SCORE_PARALLEL_AUTOMATION)
        p.automation = SCORE_PARALLEL_AUTOMATION;
    if (finding->pair_new)
        p.new_destination = finding->site_new ? 1.0 : 0.6;
    p.protocol = protocol_part(finding);
    /* 0 at the usual hour, 1 at 50 times it. */
    if (finding->baseline_anomalous && finding->baseline_ratio > 1.0)
        p.baseline = clamp01(log10(finding->baseline_ratio) / log10(50.0));
    *parts = p;
    return clamp01(SCORE_WEIGHT_VOLUME * p.volume + SCORE_WEIGHT_UPLOAD * p.upload +
                   SCORE_WEIGHT_AUTOMATION * p.automation +
                   SCORE_WEIGHT_NEW_DEST * p.new_destination +
                   SCORE_WEIGHT_PROTOCOL * p.protocol + SCORE_WEIGHT_BASELINE * p.baseline);
}

/* True when the finding qualifies for the bulk model: one unscheduled, upload-heavy
 * transfer over the site floor to a destination new to the host, and above the host's own
 * usual hour when that is known. */
bool score_bulk_applies(const struct finding *finding, const struct detect_config *config)
{
    if (config->bulk_min_bytes == 0 || finding->bytes_out < config->bulk_min_bytes)
        return false;
    if (finding->periodic || !finding->pair_new || finding->pcr < config->pcr_threshold)
        return false;
    /* One-shot: the first session of its series. A second upload to the same place is a
     * repeat (a schedule in the making), scored by the pattern model. */
    if (finding->beacon.sessions > 1)
        return false;
    return finding->baseline_ratio == 0.0 || finding->baseline_anomalous;
}

/* The bulk model: volume on a log scale with no cap, plus what makes a one-off worse. */
static double score_bulk(const struct finding *finding, const struct detect_config *config,
                         struct score_breakdown *b)
{
    if (!score_bulk_applies(finding, config))
        return 0.0;
    double decades = log10((double)finding->bytes_out / (double)config->bulk_min_bytes);
    double volume = SCORE_BULK_BASE + SCORE_BULK_PER_DECADE * decades;
    /* An explicit upload; a cloud service's name is not one (see protocol_part). */
    bool protocol = ftp_command_is_upload(finding->ftp_command) ||
                    (finding->evidence & (EVIDENCE_HTTP_UPLOAD | EVIDENCE_SSH_UPLOAD));
    breakdown_add(b, "bulk", "bulk_volume", volume, 1.0);
    breakdown_add(b, "bulk", "bulk_site_new", finding->site_new ? 1.0 : 0.0, SCORE_BULK_SITE_NEW);
    breakdown_add(b, "bulk", "bulk_protocol", protocol ? 1.0 : 0.0, SCORE_BULK_PROTOCOL);
    breakdown_add(b, "bulk", "bulk_packed", finding->packed ? 1.0 : 0.0, SCORE_BULK_PACKED);
    return volume + (finding->site_new ? SCORE_BULK_SITE_NEW : 0.0) +
           (protocol ? SCORE_BULK_PROTOCOL : 0.0) + (finding->packed ? SCORE_BULK_PACKED : 0.0);
}

/* The larger of the two models, cut to [0,1]; the breakdown lists every part of both. */
double score_finding(const struct finding *finding, const struct detect_config *config,
                     struct score_parts *parts, struct score_breakdown *breakdown)
{
    struct score_parts p;
    if (breakdown)
        memset(breakdown, 0, sizeof(*breakdown));
    double pattern = score_pattern(finding, config, &p);
    if (parts)
        *parts = p;
    breakdown_add(breakdown, "pattern", "volume", p.volume, SCORE_WEIGHT_VOLUME);
    breakdown_add(breakdown, "pattern", "upload", p.upload, SCORE_WEIGHT_UPLOAD);
    breakdown_add(breakdown, "pattern", "automation", p.automation, SCORE_WEIGHT_AUTOMATION);
    breakdown_add(breakdown, "pattern", "new_destination", p.new_destination, SCORE_WEIGHT_NEW_DEST);
    breakdown_add(breakdown, "pattern", "protocol", p.protocol, SCORE_WEIGHT_PROTOCOL);
    breakdown_add(breakdown, "pattern", "baseline", p.baseline, SCORE_WEIGHT_BASELINE);
    double bulk = score_bulk(finding, config, breakdown);
    if (breakdown) {
        breakdown->pattern = pattern;
        breakdown->bulk = bulk;
        breakdown->model = bulk > pattern ? "bulk" : "pattern";
    }
    return clamp01(bulk > pattern ? bulk : pattern);
}

/* Fixed cut points: 0.7 medium, 0.8 high, 0.9 critical. */
enum alert_severity score_severity(double score)
{
    if (score >= 0.9)
        return SEVERITY_CRITICAL;
    if (score >= 0.8)
        return SEVERITY_HIGH;
    if (score >= 0.7)
        return SEVERITY_MEDIUM;
    return SEVERITY_LOW;
}

/* Appends a technique id while there is room. */
static void add_technique(struct alert *alert, const char *id)
{
    if (alert->technique_count < ALERT_MAX_TECHNIQUES)
        alert->techniques[alert->technique_count++] = id;
}

/* Most specific last, so the cap of four never drops T1020/T1029. */
void score_techniques(const struct finding *finding, struct alert *alert)
{
    alert->technique_count = 0;
    memset(alert->techniques, 0, sizeof(alert->techniques));
    add_technique(alert, "T1020");              /* Automated Exfiltration */
    if (finding->periodic || finding->c2_like)
        add_technique(alert, "T1029");          /* Scheduled Transfer */
    if (finding->cloud_service)
        add_technique(alert, "T1567.002");      /* Exfiltration to Cloud Storage */
    if (finding->evidence & EVIDENCE_SSH_UPLOAD)
        add_technique(alert, "T1048.002");      /* asymmetric encrypted non-C2 protocol */
    if (ftp_command_is_upload(finding->ftp_command) ||
        (finding->http_plain_upload && !finding->http_bare_ip))
        add_technique(alert, "T1048.003");      /* unencrypted non-C2 protocol */
    if (finding->c2_like || finding->http_bare_ip)
        add_technique(alert, "T1041");          /* Exfiltration Over C2 Channel */
}

/* Decimal units, one decimal: "48.2 MB". */
void score_format_bytes(uint64_t bytes, char *out, size_t out_len)
{
    static const char *const units[] = { "kB", "MB", "GB", "TB", "PB" };
    if (bytes < 1000) {
        snprintf(out, out_len, "%llu B", (unsigned long long)bytes);
        return;
    }
    double value = (double)bytes / 1000.0;
    size_t unit = 0;
    while (value >= 1000.0 && unit + 1 < sizeof(units) / sizeof(units[0])) {
        value /= 1000.0;
        unit++;
    }
    snprintf(out, out_len, "%.1f %s", value, units[unit]);
}

/* s below a minute, min below 2 h, h below 2 days, else d. */
void score_format_duration(double seconds, char *out, size_t out_len)
{
    if (seconds < 60.0)
        snprintf(out, out_len, "%.1f s", seconds);
    else if (seconds < 7200.0)
        snprintf(out, out_len, "%.1f min", seconds / 60.0);
    else if (seconds < 172800.0)
        snprintf(out, out_len, "%.1f h", seconds / 3600.0);
    else
        snprintf(out, out_len, "%.1f d", seconds / 86400.0);
}

/* Appends printf-style text at *used, never past out_len. */
static void __attribute__((format(printf, 4, 5)))
append(char *out, size_t out_len, size_t *used, const char *fmt, ...)
{
    if (*used >= out_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, out_len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n < out_len - *used ? (size_t)n : out_len - *used - 1;
}

/* The alert's one sentence: who, how much, how often, where, why. */
void score_reason(const struct finding *finding, const char *src_text, const char *dest_name,
                  char *out, size_t out_len)
{
    char bytes[32], period[32], mad[32], age[32];
    size_t used = 0;
    out[0] = '\0';
    score_format_bytes(finding->bytes_out, bytes, sizeof(bytes));
    append(out, out_len, &used, "%s uploaded %s in %u connection%s", src_text, bytes,
           finding->connections, finding->connections == 1 ? "" : "s");
    if (finding->periodic) {
        score_format_duration(finding->beacon.period_sec, period, sizeof(period));
        score_format_duration(finding->beacon.mad_sec, mad, sizeof(mad));
        append(out, out_len, &used, " every %s (\xc2\xb1%s)", period, mad);
    }
    append(out, out_len, &used, " to %s (", dest_name);
    if (finding->pair_new && finding->site_new)
        append(out, out_len, &used, "new destination");
    else if (finding->pair_new)
        append(out, out_len, &used, "new destination for this host");
    else
        append(out, out_len, &used, "known destination");
    if (finding->first_seen_age_sec < 0.0) {
        append(out, out_len, &used, ", first seen now)");
    } else {
        score_format_duration(finding->first_seen_age_sec, age, sizeof(age));
        append(out, out_len, &used, ", first seen %s ago)", age);
    }
    append(out, out_len, &used, "; upload/download ratio %.2f", finding->pcr);
    if (ftp_command_is_upload(finding->ftp_command))
        append(out, out_len, &used, "; FTP %s", ftp_command_name(finding->ftp_command));
    if (finding->evidence & EVIDENCE_HTTP_UPLOAD) {
        char body[48] = "";
        if (finding->http_body_bytes > 0) {
            char size[32];
            score_format_bytes(finding->http_body_bytes, size, sizeof(size));
            snprintf(body, sizeof(body), " (%s of bodies)", size);
        }
        append(out, out_len, &used, "; %u HTTP upload request%s%s%s", finding->http_upload_requests,
               finding->http_upload_requests == 1 ? "" : "s", body,
               finding->http_bare_ip ? " to a bare IP" : "");
    }
    if (finding->evidence & EVIDENCE_SSH_UPLOAD)
        append(out, out_len, &used, "; SSH/SFTP upload");
    if (finding->cloud_service)
        append(out, out_len, &used, "; cloud storage %s", finding->cloud_service);
    if (finding->packed)
        append(out, out_len, &used, "; %s archive in the upload",
               packed_kind_name((enum packed_kind)finding->packed));
    if (finding->evidence & EVIDENCE_BULK_UPLOAD)
        append(out, out_len, &used, "; one unscheduled bulk upload");
    if (finding->evidence & EVIDENCE_PARALLEL_STREAMS)
        append(out, out_len, &used, "; %u parallel streams", finding->parallel_streams);
    if (finding->baseline_anomalous && finding->baseline_ratio > 1.0)
        append(out, out_len, &used, "; %.1fx the host's usual hourly upload",
               finding->baseline_ratio);
    /* Context, not score: a host that mostly downloads and now uploads stands out. */
    if (finding->host_pcr_known && finding->host_pcr < 0.0)
        append(out, out_len, &used, "; the host usually downloads (typical ratio %.2f)",
               finding->host_pcr);
    if (finding->c2_like) {
        score_format_duration(finding->beacon.period_sec, period, sizeof(period));
        append(out, out_len, &used, "; C2-like: regular small check-ins every %s, then this upload",
               period);
    }
}
