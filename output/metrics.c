/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/metrics.c: --metrics-file, the stats in Prometheus text exposition format for
 * node_exporter's textfile collector. The file is written whole to a temporary name in the
 * same folder and renamed over the old one (the collector's own advice), so a scrape sees
 * the last complete file, never a half-written one.
 */
#include "output_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The text of one metric with its HELP and TYPE lines. */
struct metrics_writer {
    FILE *file;
    char labels[600];            /* {sensor="..."} */
};

static void metric(struct metrics_writer *w, const char *name, const char *type,
                   const char *help, double value)
{
    fprintf(w->file, "# HELP exflow_%s %s\n# TYPE exflow_%s %s\nexflow_%s%s %.17g\n", name, help,
            name, type, name, w->labels, value);
}

static void counter(struct metrics_writer *w, const char *name, const char *help, uint64_t value)
{
    metric(w, name, "counter", help, (double)value);
}

static void gauge(struct metrics_writer *w, const char *name, const char *help, double value)
{
    metric(w, name, "gauge", help, value);
}

/* Label values escape '\', '"' and newlines (exposition format, "Comments, help text, and
 * type information"). */
static void format_labels(const char *sensor, char *out, size_t out_len)
{
    size_t used = 0;
    used += (size_t)snprintf(out, out_len, "{sensor=\"");
    for (const char *p = sensor; *p != '\0' && used + 4 < out_len; p++) {
        if (*p == '\\' || *p == '"') {
            out[used++] = '\\';
            out[used++] = *p;
        } else if (*p == '\n') {
            out[used++] = '\\';
            out[used++] = 'n';
        } else {
            out[used++] = *p;
        }
    }
    snprintf(out + used, out_len - used, "\"}");
}

static void write_all_metrics(struct metrics_writer *w, const struct output_run_stats *s)
{
    const struct output_stats *o = &s->output;
    gauge(w, "uptime_seconds", "Wall time since exflow started.", (double)s->uptime_sec);
    counter(w, "packets_total", "Frames read from the capture.", s->packets);
    counter(w, "bytes_total", "Wire bytes of the frames read.", s->bytes);
    counter(w, "packets_decoded_total", "Frames decoded into packets.", s->decoded);
    counter(w, "packets_skipped_total", "Frames skipped as malformed or not IP.", s->skipped);
    counter(w, "pcap_received_total", "Packets the kernel passed to the capture (live).",
            s->pcap_received);
    counter(w, "pcap_dropped_total", "Packets dropped for lack of capture buffer (live).",
            s->pcap_dropped);
    counter(w, "pcap_if_dropped_total", "Packets dropped by the interface (live).",
            s->pcap_if_dropped);
    gauge(w, "flows_active", "Flows in the flow tables now.", (double)s->flows_active);
    counter(w, "flows_created_total", "Flows created.", s->flows_created);
    counter(w, "flows_evicted_total", "Flows evicted at the memory cap.", s->flows_evicted);
    gauge(w, "flow_memory_bytes", "Estimated memory of the flow tables.",
          (double)s->flow_memory_bytes);
    counter(w, "clock_steps_back_total", "Packet time stepped back by a second or more.",
            s->flow_clock_steps_back);
    counter(w, "flow_bursts_total", "Upload bursts closed inside open connections.",
            s->flow_bursts);
    const struct detect_stats *d = &s->detect;
    counter(w, "flow_records_total", "Flow records seen by detection.", d->records);
    counter(w, "outbound_records_total", "Records from a home host to a public address.",
            d->outbound);
    counter(w, "findings_total", "Upload-heavy findings that were scored.", d->findings);
    counter(w, "group_findings_total", "Schedules found only over a group of destinations.",
            d->group_findings);
    counter(w, "findings_below_threshold_total", "Findings scored under --alert-threshold.",
            d->below_threshold);
    counter(w, "findings_learning_total", "Findings above the threshold during --learn.",
            d->learning);
    counter(w, "alerts_total", "Alerts raised.", d->alerts);
    counter(w, "alerts_suppressed_total", "Findings inside the suppression window.",
            d->suppressed);
    counter(w, "alerts_allowlisted_total", "Findings dropped by the allowlist.", d->allowlisted);
    counter(w, "flows_written_total", "Flow events written.", o->flows_written);
    counter(w, "alerts_written_total", "Alert events written.", o->alerts_written);
    counter(w, "syslog_sent_total", "Alerts delivered to the syslog collector.", o->syslog_sent);
    counter(w, "syslog_retried_total", "Alerts sent again after a reconnect.", o->syslog_retried);
    counter(w, "syslog_spooled_total", "Alerts written to the spool.", o->syslog_spooled);
    counter(w, "syslog_dropped_total", "Alerts lost: spool full or message too large.",
            o->syslog_dropped);
    counter(w, "syslog_corrupt_total", "Spooled alerts whose checksum failed: skipped, never sent.",
            o->syslog_corrupt);
    gauge(w, "syslog_queue_alerts", "Alerts waiting for the syslog collector.",
          (double)o->syslog_queue_frames);
    gauge(w, "syslog_spool_bytes", "Bytes of undelivered alerts in the spool.",
          (double)o->syslog_spool_bytes);
    counter(w, "write_errors_total", "Events that could not be written.", o->write_errors);
    if (s->shared_state) {   /* --shared-state only */
        counter(w, "shared_state_errors_total", "Failed Redis connects and commands.",
                s->shared_state_errors);
        gauge(w, "shared_state_queued", "First-seen updates waiting for Redis.",
              (double)s->shared_state_queued);
        counter(w, "shared_state_dropped_total", "First-seen updates dropped at the queue's cap.",
                s->shared_state_dropped);
        counter(w, "shared_state_learned_total", "First-seen times learned from other sensors.",
                s->shared_state_learned);
    }
    gauge(w, "max_rss_bytes", "Peak resident memory.", (double)s->max_rss_kib * 1024.0);
    fprintf(w->file, "# HELP exflow_cpu_seconds_total CPU time by pipeline stage.\n"
                     "# TYPE exflow_cpu_seconds_total counter\n");
    const struct { const char *stage; double value; } cpu[] = {
        { "capture", s->cpu_capture_sec }, { "workers", s->cpu_workers_sec },
        { "consumer", s->cpu_consumer_sec },
    };
    /* The labels end with '}': the stage goes in before it. */
    size_t head = strlen(w->labels) - 1;
    for (size_t i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++)
        fprintf(w->file, "exflow_cpu_seconds_total%.*s,stage=\"%s\"} %.3f\n", (int)head,
                w->labels, cpu[i].stage, cpu[i].value);
    gauge(w, "cpu_busiest_worker_seconds", "CPU time of the busiest worker thread.",
          s->cpu_busiest_worker_sec);
}

bool output_write_metrics(const char *path, const char *sensor,
                          const struct output_run_stats *stats, char *err, size_t err_len)
{
    size_t path_len = strlen(path);
    char *tmp = malloc(path_len + 16);
    if (tmp == NULL) {
        snprintf(err, err_len, "--metrics-file %s: out of memory", path);
        return false;
    }
    /* mkstemp in the target's folder: a fresh file of ours, never one planted there, and on
     * the same file system, so the rename is atomic. */
    snprintf(tmp, path_len + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *file = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (file == NULL) {
        snprintf(err, err_len, "--metrics-file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    struct metrics_writer writer = { .file = file };
    format_labels(sensor, writer.labels, sizeof(writer.labels));
    write_all_metrics(&writer, stats);
    /* node_exporter reads files as 0644; mkstemp made it 0600. */
    bool ok = fchmod(fd, 0644) == 0;
    ok = (fflush(file) == 0) && ok;
    ok = (fclose(file) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, err_len, "--metrics-file %s: %s", path, strerror(errno));
        goto fail;
    }
    free(tmp);
    return true;

fail:
    unlink(tmp);
    free(tmp);
    return false;
}
