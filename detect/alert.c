/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The last stage: one alert from one finding. It copies who and where from the record,
 * the numbers from the finding, and writes the techniques and the sentence; whether to
 * say it at all was decided before (detector.c, alert_gate). It also keeps the shape a
 * series showed when it alerted, against which the gate judges whether a later finding on
 * the same series is news.
 */
#include "detect_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* nDPI's own notation: "TLS.MEGA" when the application rides on a master protocol. */
static void alert_app_protocol(char *out, size_t out_len, const char *master, const char *app)
{
    if (master[0] && app[0] && strcmp(master, app) != 0)
        snprintf(out, out_len, "%.23s.%.23s", master, app);
    else
        snprintf(out, out_len, "%s", app[0] ? app : master);
}

/* Appends the flagged-geography clause to the sentence. */
static void alert_reason_flagged(struct alert *alert, const struct geo_info *geo)
{
    size_t used = strlen(alert->reason);
    if (geo->asn != 0)
        snprintf(alert->reason + used, sizeof(alert->reason) - used,
                 "; destination in a flagged country or network (%s, AS%u)",
                 geo->country_code[0] ? geo->country_code : "??", geo->asn);
    else
        snprintf(alert->reason + used, sizeof(alert->reason) - used,
                 "; destination in a flagged country (%s)", geo->country_code);
}

/* Techniques and a clause from rare protocol evidence (covert.h), after the finding's own. */
static void alert_add_extra(struct alert *alert, const struct alert_source *source)
{
    for (int i = 0; source->extra_techniques && i < ALERT_MAX_TECHNIQUES &&
                    source->extra_techniques[i]; i++) {
        bool have = false;
        for (int j = 0; j < alert->technique_count; j++)
            have = have || strcmp(alert->techniques[j], source->extra_techniques[i]) == 0;
        if (!have && alert->technique_count < ALERT_MAX_TECHNIQUES)
            alert->techniques[alert->technique_count++] = source->extra_techniques[i];
    }
    if (source->extra_reason && source->extra_reason[0]) {
        size_t used = strlen(alert->reason);
        snprintf(alert->reason + used, sizeof(alert->reason) - used, "%s", source->extra_reason);
    }
}

void alert_build(struct alert *alert, const struct alert_source *source, const struct finding *f,
                 double score, bool is_update)
{
    const struct flow *flow = source->flow;
    memset(alert, 0, sizeof(*alert));
    alert->ts_usec = flow->last_ts_usec;
    alert->first_ts_usec = f->first_ts_usec;
    alert->severity = score_severity(score);
    alert->score = score;
    alert->is_update = is_update;
    alert->ip_version = flow->ip_version;
    memcpy(alert->src_addr, source->src_addr, GEO_ADDR_LEN);
    memcpy(alert->dest_addr, source->dest_addr, GEO_ADDR_LEN);
    alert->src_port = source->src_port;
    alert->dest_port = source->dest_port;
    alert->proto = flow->proto;
    snprintf(alert->dest_name, sizeof(alert->dest_name), "%s", source->dest_name);
    alert_app_protocol(alert->app_protocol, sizeof(alert->app_protocol), source->master,
                       source->app);
    alert->dest_geo = *source->dest_geo;
    alert->bytes_out = f->bytes_out;
    alert->bytes_in = f->bytes_in;
    alert->pcr = f->pcr;
    alert->connections = f->connections;
    bool scheduled = f->periodic || f->c2_like;
    alert->period_sec = scheduled ? f->beacon.period_sec : 0.0;
    alert->period_mad_sec = scheduled ? f->beacon.mad_sec : 0.0;
    alert->beacon_score = f->beacon.score;
    alert->baseline_ratio = f->baseline_ratio;
    alert->first_seen_age_sec = f->first_seen_age_sec;
    alert->evidence = f->evidence;
    alert->packed_kind = packed_kind_name((enum packed_kind)f->packed);
    alert->flow_id = flow->id;
    score_techniques(f, alert);
    score_reason(f, source->src_text, source->dest_name, alert->reason, sizeof(alert->reason));
    alert_add_extra(alert, source);
    if (source->flagged_geo)
        alert_reason_flagged(alert, source->dest_geo);
}

void alert_shape_of(const struct finding *f, double window_sec, struct alert_shape *shape)
{
    memset(shape, 0, sizeof(*shape));
    shape->evidence = f->evidence & ALERT_SHAPE_NEWS;
    if (f->periodic || f->c2_like) {
        /* One transfer of the schedule: its usual session, or this one when larger. */
        double median = f->beacon.median_bytes_out;
        shape->transfer_bytes = f->conn_bytes_out;
        if (median > (double)shape->transfer_bytes)
            shape->transfer_bytes = (uint64_t)median;
        if (f->periodic && f->beacon.period_sec > 0.0)
            shape->rate = median / f->beacon.period_sec;
    } else {
        shape->transfer_bytes = f->bytes_out; /* the connection or the parallel burst */
        /* Unscheduled: one transfer per window, the time one alert speaks for. The same
         * job repeated daily keeps that rate; a one-off that turns into an hourly
         * schedule multiplies it. */
        if (window_sec > 0.0)
            shape->rate = (double)shape->transfer_bytes / window_sec;
    }
}

bool alert_shape_changed(const struct alert_shape *then, const struct alert_shape *now)
{
    if (now->evidence & ~then->evidence)
        return true;
    if ((double)now->transfer_bytes >= ALERT_SHAPE_GROWTH * (double)then->transfer_bytes &&
        now->transfer_bytes > then->transfer_bytes)
        return true;
    return then->rate > 0.0 && now->rate >= ALERT_SHAPE_GROWTH * then->rate;
}
