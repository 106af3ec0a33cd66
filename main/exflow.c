/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * exflow: catches automated data exfiltration on a SPAN port or in pcaps.
 * main is thin: parse options, build the stages, run the capture loop, shut down cleanly.
 *   capture/ -> flows/ -> detect/ -> output/, with geo/ as a service.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "../common/safe_file.h"
#include "../common/tunables.h"
#include "../detect/detect.h"
#include "../detect/shared_state.h"
#include "../flows/flows.h"
#include "../geo/geo.h"
#include "../output/output.h"
#include "../pipeline/pipeline.h"
#include "../report/report.h"
#include "../rescore/rescore.h"

#include "options.h"

/* Everything one run owns; the signal handlers only touch the flags. The capture (main)
 * thread owns capture and the pipeline; the pipeline's consumer thread owns detector and
 * output, and leaves a copy of their stats for the capture thread's stats line. */
struct exflow {
    struct options *options;
    struct collector *collector;    /* --collect: instead of capture and pipeline */
    struct capture *capture;        /* NULL with --fanout: */
    struct capture *fanout[PIPELINE_MAX_WORKERS]; /* --fanout: one capture per worker */
    unsigned fanout_count;
    struct pipeline *pipeline;
    struct cidr_set *home_net;      /* the pipeline's copy, for choosing workers */
    struct zeek_reader *zeek;       /* --zeek: instead of capture and pipeline */
    struct rescore_reader *rescore; /* -r EVENTS.jsonl: saved flow events, likewise */
    struct detector *detector;
    struct output *output;
    struct geo *geo;
    struct report *report;          /* --report, --summary or a terminal: fed every event */
    bool progress;                  /* offline, stderr a terminal or --progress */
    bool progress_tty;              /* redraw one line in place */
    struct timespec progress_start;
    time_t next_stats_wall;
    time_t start_wall;
    bool live;
    atomic_bool reload_pending;     /* SIGHUP seen: the consumer reloads on its next tick */
    struct shared_state *shared;    /* --shared-state; NULL: none */
    pthread_mutex_t stats_lock;     /* guards the two copies below */
    struct detect_stats detect_stats;
    struct output_stats output_stats;
    /* The capture thread's latest stats for the consumer to write as a stats event: output
     * belongs to the consumer thread. Guarded by stats_lock. */
    struct output_run_stats pending_stats;
    bool stats_pending;
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

/* Consumer thread (output/ calls it for each event): the report keeps what it shows. */
static void on_report_event(void *user, const char *json, size_t len)
{
    report_add_event(user, json, len);
}

/* What the run skipped or dropped, named as in the stats line, for the summary. */
static void report_add_run_counters(struct exflow *x)
{
    struct capture_stats cs;
    struct flow_table_stats fs;
    if (x->zeek != NULL) {   /* no packets: what the logs held */
        struct zeek_stats zs;
        zeek_reader_get_stats(x->zeek, &zs);
        report_add_counter(x->report, "zeek_bad_lines", zs.bad_lines);
        report_add_counter(x->report, "zeek_uid_overflow", zs.uid_overflow);
        report_add_counter(x->report, "suppressed", x->detect_stats.suppressed);
        report_add_counter(x->report, "allowlisted", x->detect_stats.allowlisted);
        report_add_counter(x->report, "write_errors", x->output_stats.write_errors);
        return;
    }
    if (x->rescore != NULL) {   /* no packets: what the saved events held */
        struct rescore_stats rs;
        rescore_reader_get_stats(x->rescore, &rs);
        report_add_counter(x->report, "events_bad_lines", rs.bad_lines);
        report_add_counter(x->report, "suppressed", x->detect_stats.suppressed);
        report_add_counter(x->report, "allowlisted", x->detect_stats.allowlisted);
        report_add_counter(x->report, "write_errors", x->output_stats.write_errors);
        return;
    }
    if (x->capture != NULL)
        capture_get_stats(x->capture, &cs);
    else
        pipeline_get_capture_stats(x->pipeline, &cs);
    pipeline_get_flow_stats(x->pipeline, &fs);
    for (int r = 1; r < DECODE_REASON_COUNT; r++) {
        char name[64];
        snprintf(name, sizeof(name), "skipped_%s", decode_reason_name((enum decode_reason)r));
        report_add_counter(x->report, name, cs.skipped[r]);
    }
    report_add_counter(x->report, "read_errors", cs.read_errors);
    report_add_counter(x->report, "pcap_dropped", cs.pcap_dropped);
    report_add_counter(x->report, "pcap_if_dropped", cs.pcap_if_dropped);
    report_add_counter(x->report, "flows_evicted", fs.evicted);
    report_add_counter(x->report, "suppressed", x->detect_stats.suppressed);
    report_add_counter(x->report, "allowlisted", x->detect_stats.allowlisted);
    report_add_counter(x->report, "syslog_dropped", x->output_stats.syslog_dropped);
    report_add_counter(x->report, "write_errors", x->output_stats.write_errors);
}

/* An offline replay on a terminal ends with the summary unasked. A live sensor does not: the
 * report would hold every flow record of a run that may last months. */
static bool summary_on_terminal(const struct exflow *x)
{
    return !x->live && isatty(STDERR_FILENO) && log_threshold >= LOG_LEVEL_INFO;
}

/* End of run: the HTML report and the summary. False when the report could not be written. */
static bool finish_report(struct exflow *x)
{
    report_add_run_counters(x);
    bool ok = true;
    char err[512];
    if (x->options->report_path != NULL &&
        !report_write_html(x->report, x->options->report_path, err, sizeof(err))) {
        LOG_ERROR("--report: %s", err);
        ok = false;
    }
    if (x->options->summary || summary_on_terminal(x))
        report_write_summary(x->report, stderr);
    if (x->options->summary_event) {
        char *json = report_summary_json(x->report);
        if (json != NULL)
            output_summary(x->output, json);
        else
            LOG_ERROR("--summary-event: out of memory");
        free(json);
    }
    return ok;
}

/* `exflow report EVENTS.jsonl... [--report FILE.html]`: the summary (stdout) and the HTML
 * report again from saved events, without the pcaps. */
static int report_command(int argc, char **argv)
{
    const char *html = NULL;
    int status = EXIT_USAGE;
    char err[512];
    struct report *report = report_new();
    if (report == NULL) {
        LOG_ERROR("out of memory");
        return EXIT_RUNTIME;
    }
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--report") == 0 || strcmp(argv[i], "-o") == 0) {
            if (++i == argc) {
                LOG_ERROR("%s needs a file name", argv[i - 1]);
                goto done;
            }
            html = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            LOG_ERROR("report: unknown option '%s' (usage: exflow report EVENTS.jsonl... "
                      "[--report FILE.html])", argv[i]);
            goto done;
        } else if (!report_read_file(report, argv[i], err, sizeof(err))) {
            LOG_ERROR("%s", err);
            goto done;
        } else {
            files++;
        }
    }
    if (files == 0) {
        LOG_ERROR("report: nothing to read (usage: exflow report EVENTS.jsonl... "
                  "[--report FILE.html])");
        goto done;
    }
    if (report_bad_lines(report) > 0)
        LOG_WARN("report: %llu lines were not JSON events and were skipped",
                 (unsigned long long)report_bad_lines(report));
    status = EXIT_RUNTIME;
    if (html != NULL && !report_write_html(report, html, err, sizeof(err))) {
        LOG_ERROR("--report: %s", err);
        goto done;
    }
    report_write_summary(report, stdout);
    status = EXIT_OK;
done:
    report_free(report);
    return status;
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

/* --zeek: one record from the logs, with the evidence they carried, to the same place a
 * packet flow goes. */
static void on_zeek_record(void *user, struct flow *flow, enum flow_end_reason reason,
                           const struct detect_log_evidence *evidence)
{
    struct exflow *x = user;
    output_flow(x->output, flow, reason, NULL);
    detector_on_log_record(x->detector, flow, reason, evidence);
}

/* -r EVENTS.jsonl: one saved flow record. Its evidence goes on first, so that the flow
 * event written again carries it too (a re-scored file can be re-scored). */
static void on_saved_record(void *user, struct flow *flow, enum flow_end_reason reason,
                            const struct detect_log_evidence *evidence)
{
    struct exflow *x = user;
    detector_log_attach(flow, evidence);
    output_flow(x->output, flow, reason, NULL);
    detector_on_record(x->detector, flow, reason, true);
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

/* The workers' packet stage: detect/'s per-packet evidence, one packet-side detector each. */
static void *new_packet_detector(void *user, char *err, size_t err_len)
{
    return detector_new_packet_side(user, err, err_len);
}

static void packet_detector_on_packet(void *ctx, struct flow *flow, const struct packet *pkt,
                                      enum flow_direction direction)
{
    detector_on_packet(ctx, flow, pkt, direction);
}

static void packet_detector_prepare(void *ctx, struct flow *flow)
{
    detector_prepare_record(ctx, flow);
}

static void free_packet_detector(void *ctx)
{
    detector_free(ctx);
}

/* --shared-state: Redis need not be up; the wait is bounded and only lets a replay start
 * from what the site already knows. */
static bool open_shared_state(struct exflow *x, struct options *options)
{
    char err[512];
    struct shared_state_config config = { options->shared_state_url,
                                          options->shared_state_expire_usec / 1000000, 0 };
    x->shared = shared_state_new(&config, err, sizeof(err));
    if (x->shared == NULL) {
        LOG_ERROR("%s", err);
        return false;
    }
    shared_state_wait_ready(x->shared, SHARED_STATE_READY_MS);
    options->detect.shared_state = x->shared;
    return true;
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
        options_report_config_changes(x->options);
    }
    output_tick(x->output);
    snapshot_stats(x);
    struct output_run_stats stats;
    pthread_mutex_lock(&x->stats_lock);
    bool pending = x->stats_pending;
    stats = x->pending_stats;
    x->stats_pending = false;
    pthread_mutex_unlock(&x->stats_lock);
    if (pending)
        output_stats_event(x->output, &stats);
}

/* --collect: one finished record from an exporter, to the same place a packet flow goes. */
static void on_collected_record(void *user, struct flow *flow, enum flow_end_reason reason)
{
    on_flow_record(user, flow, reason, true, NULL);
}

/* The stats line's detection and output parts, the same in every input mode. Records flow
 * through the stages in this order: records -> outbound -> findings (and group findings) ->
 * below_threshold, learning, allowlisted or suppressed -> alerts. */
static void format_detect_stats(const struct detect_stats *d, char *out, size_t out_len)
{
    snprintf(out, out_len,
             "records=%llu alerts=%llu suppressed=%llu allowlisted=%llu outbound=%llu"
             " findings=%llu group_findings=%llu below_threshold=%llu learning=%llu",
             (unsigned long long)d->records, (unsigned long long)d->alerts,
             (unsigned long long)d->suppressed, (unsigned long long)d->allowlisted,
             (unsigned long long)d->outbound, (unsigned long long)d->findings,
             (unsigned long long)d->group_findings, (unsigned long long)d->below_threshold,
             (unsigned long long)d->learning);
}

static void format_output_stats(const struct output_stats *o, char *out, size_t out_len)
{
    snprintf(out, out_len,
             "flows_written=%llu alerts_written=%llu syslog_sent=%llu syslog_retried=%llu"
             " syslog_spooled=%llu syslog_dropped=%llu syslog_corrupt=%llu write_errors=%llu",
             (unsigned long long)o->flows_written, (unsigned long long)o->alerts_written,
             (unsigned long long)o->syslog_sent, (unsigned long long)o->syslog_retried,
             (unsigned long long)o->syslog_spooled, (unsigned long long)o->syslog_dropped,
             (unsigned long long)o->syslog_corrupt, (unsigned long long)o->write_errors);
}

/* --collect and --zeek (no pipeline: the detector and output are this thread's): the
 * stats line's detection and output parts as they are now. */
static void format_record_side_stats(struct exflow *x, char *out, size_t out_len)
{
    struct detect_stats ds;
    struct output_stats os;
    detector_get_stats(x->detector, &ds);
    output_get_stats(x->output, &os);
    char detect[512], output[512];
    format_detect_stats(&ds, detect, sizeof(detect));
    format_output_stats(&os, output, sizeof(output));
    snprintf(out, out_len, "%s %s", detect, output);
}

static void print_collect_stats(struct exflow *x, const char *when)
{
    struct collect_stats cs;
    char tail[1024];
    collector_get_stats(x->collector, &cs);
    format_record_side_stats(x, tail, sizeof(tail));
    fprintf(stderr,
            "exflow: stats(%s): datagrams=%llu garbage=%llu export_records=%llu"
            " export_records_skipped=%llu sequence_lost=%llu sequence_resets=%llu"
            " biflows=%llu uniflows_paired=%llu uniflows_single=%llu pair_overflow=%llu"
            " exporters=%llu exporters_evicted=%llu tcp_sessions=%llu tcp_open=%llu"
            " tcp_broken=%llu tcp_refused=%llu templates=%llu templates_refused=%llu"
            " export_records_named=%llu templates_withdrawn=%llu %s\n",
            when, (unsigned long long)cs.datagrams, (unsigned long long)cs.garbage,
            (unsigned long long)cs.records, (unsigned long long)cs.records_skipped,
            (unsigned long long)cs.sequence_lost, (unsigned long long)cs.sequence_resets,
            (unsigned long long)cs.biflows, (unsigned long long)cs.uniflows_paired,
            (unsigned long long)cs.uniflows_single, (unsigned long long)cs.pair_overflow,
            (unsigned long long)cs.exporters, (unsigned long long)cs.exporters_evicted,
            (unsigned long long)cs.tcp_sessions,
            (unsigned long long)cs.tcp_open, (unsigned long long)cs.tcp_broken,
            (unsigned long long)cs.tcp_refused, (unsigned long long)cs.templates,
            (unsigned long long)cs.templates_refused, (unsigned long long)cs.records_named,
            (unsigned long long)cs.templates_withdrawn, tail);
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
 * second; after pipeline_finish they are final. The skipped counters by reason go to
 * skipped, for the stats line. */
static void collect_stats(struct exflow *x, struct output_run_stats *rs, char *skipped,
                          size_t skipped_len)
{
    struct capture_stats cs;
    struct flow_table_stats fs;
    struct detect_stats ds;
    if (x->capture != NULL)
        capture_get_stats(x->capture, &cs);
    else
        pipeline_get_capture_stats(x->pipeline, &cs);
    pipeline_get_flow_stats(x->pipeline, &fs);
    memset(rs, 0, sizeof(*rs));
    pthread_mutex_lock(&x->stats_lock);
    ds = x->detect_stats;
    rs->output = x->output_stats;
    pthread_mutex_unlock(&x->stats_lock);
    if (x->shared != NULL) {
        struct shared_state_stats ss;
        shared_state_get_stats(x->shared, &ss);
        rs->shared_state = true;
        rs->shared_state_errors = ss.errors;
        rs->shared_state_queued = ss.queued;
        rs->shared_state_dropped = ss.dropped;
        rs->shared_state_learned = ss.learned;
    }

    size_t used = 0;
    skipped[0] = '\0';
    for (int r = 1; r < DECODE_REASON_COUNT; r++) {
        rs->skipped += cs.skipped[r];
        if (cs.skipped[r] == 0 || used >= skipped_len)
            continue;
        int n = snprintf(skipped + used, skipped_len - used, " skipped_%s=%llu",
                         decode_reason_name((enum decode_reason)r),
                         (unsigned long long)cs.skipped[r]);
        if (n < 0 || (size_t)n >= skipped_len - used)
            used = skipped_len; /* no room: the line keeps what fitted */
        else
            used += (size_t)n;
    }
    time_t now = time(NULL);
    rs->uptime_sec = now > x->start_wall ? (uint64_t)(now - x->start_wall) : 0;
    rs->packets = cs.frames;
    rs->bytes = cs.bytes;
    rs->decoded = cs.decoded;
    rs->read_errors = cs.read_errors;
    rs->pcap_received = cs.pcap_received;
    rs->pcap_dropped = cs.pcap_dropped;
    rs->pcap_if_dropped = cs.pcap_if_dropped;
    rs->flows_active = fs.active;
    rs->flows_created = fs.created;
    rs->flows_evicted = fs.evicted;
    rs->flow_memory_bytes = fs.memory_bytes;
    rs->flow_clock_steps_back = fs.clock_steps_back;
    rs->flow_bursts = fs.bursts;
    rs->detect = ds;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    rs->max_rss_kib = ru.ru_maxrss;
    struct pipeline_cpu cpu;
    pipeline_get_cpu(x->pipeline, &cpu);
    rs->cpu_capture_sec = cpu.capture;
    rs->cpu_workers_sec = cpu.workers;
    rs->cpu_busiest_worker_sec = cpu.busiest_worker;
    rs->cpu_consumer_sec = cpu.consumer;
}

static void print_stats_line(const struct output_run_stats *rs, const char *skipped,
                             const char *when)
{
    char shared[192] = "";   /* --shared-state only: the line stays as it was without it */
    if (rs->shared_state)
        snprintf(shared, sizeof(shared), " shared_state_errors=%llu shared_state_queued=%llu"
                 " shared_state_dropped=%llu shared_state_learned=%llu",
                 (unsigned long long)rs->shared_state_errors,
                 (unsigned long long)rs->shared_state_queued,
                 (unsigned long long)rs->shared_state_dropped,
                 (unsigned long long)rs->shared_state_learned);
    char detect[512], out[512];
    format_detect_stats(&rs->detect, detect, sizeof(detect));
    format_output_stats(&rs->output, out, sizeof(out));
    fprintf(stderr,
            "exflow: stats(%s): packets=%llu bytes=%llu decoded=%llu%s read_errors=%llu"
            " pcap_received=%llu pcap_dropped=%llu pcap_if_dropped=%llu"
            " flows_active=%llu flows_created=%llu flows_evicted=%llu flow_memory=%llu"
            " clock_steps_back=%llu %s %s max_rss_kib=%ld"
            " cpu_capture_s=%.2f cpu_workers_s=%.2f cpu_busiest_worker_s=%.2f"
            " cpu_consumer_s=%.2f%s\n",
            when, (unsigned long long)rs->packets, (unsigned long long)rs->bytes,
            (unsigned long long)rs->decoded, skipped, (unsigned long long)rs->read_errors,
            (unsigned long long)rs->pcap_received, (unsigned long long)rs->pcap_dropped,
            (unsigned long long)rs->pcap_if_dropped, (unsigned long long)rs->flows_active,
            (unsigned long long)rs->flows_created, (unsigned long long)rs->flows_evicted,
            (unsigned long long)rs->flow_memory_bytes,
            (unsigned long long)rs->flow_clock_steps_back, detect, out,
            rs->max_rss_kib, rs->cpu_capture_sec, rs->cpu_workers_sec,
            rs->cpu_busiest_worker_sec, rs->cpu_consumer_sec, shared);
}

/* --metrics-file: a failure is logged, never fatal (the sensor matters more than its
 * metrics), and the next period tries again. */
static void write_metrics(struct exflow *x, const struct output_run_stats *rs)
{
    if (x->options->metrics_file == NULL)
        return;
    char err[512];
    if (!output_write_metrics(x->options->metrics_file, output_sensor_name(x->output), rs, err,
                              sizeof(err)))
        LOG_WARN("%s", err);
}

/* Capture thread, every stats period while live: the stats line, the metrics file, and the
 * stats event handed to the consumer thread, which owns the output. */
static void publish_periodic_stats(struct exflow *x)
{
    struct output_run_stats rs;
    char skipped[512];
    collect_stats(x, &rs, skipped, sizeof(skipped));
    print_stats_line(&rs, skipped, "periodic");
    write_metrics(x, &rs);
    pthread_mutex_lock(&x->stats_lock);
    x->pending_stats = rs;
    x->stats_pending = true;
    pthread_mutex_unlock(&x->stats_lock);
}

/* After pipeline_finish: no consumer thread any more, so the stats event is written here. */
static void publish_final_stats(struct exflow *x, const char *when)
{
    struct output_run_stats rs;
    char skipped[512];
    collect_stats(x, &rs, skipped, sizeof(skipped));
    write_metrics(x, &rs);
    if (log_threshold >= LOG_LEVEL_INFO) {
        output_stats_event(x->output, &rs);
        fflush(stdout);   /* records before the summary when both go to a terminal */
        print_stats_line(&rs, skipped, when);
    }
}

/* --zeek: the stats line of a log run (no packets, no flow table). */
static void print_zeek_stats(struct exflow *x, const char *when)
{
    struct zeek_stats zs;
    char tail[1024];
    zeek_reader_get_stats(x->zeek, &zs);
    format_record_side_stats(x, tail, sizeof(tail));
    fprintf(stderr,
            "exflow: stats(%s): log_files=%llu log_lines=%llu bad_lines=%llu conn_entries=%llu"
            " joined_ssl=%llu joined_http=%llu joined_ftp=%llu uid_overflow=%llu"
            " reorder_overflow=%llu joined_dns=%llu dns_dropped=%llu joined_files=%llu %s\n",
            when, (unsigned long long)zs.files, (unsigned long long)zs.lines,
            (unsigned long long)zs.bad_lines, (unsigned long long)zs.flows_out,
            (unsigned long long)zs.joined_ssl, (unsigned long long)zs.joined_http,
            (unsigned long long)zs.joined_ftp, (unsigned long long)zs.uid_overflow,
            (unsigned long long)zs.reorder_overflow, (unsigned long long)zs.joined_dns,
            (unsigned long long)zs.dns_dropped, (unsigned long long)zs.joined_files, tail);
}

/* --zeek: the whole run on this thread; no capture, no pipeline (records come whole). */
static int run_zeek(struct exflow *x)
{
    bool ok = zeek_reader_run(x->zeek, &stop_requested);
    snapshot_stats(x);
    fflush(stdout);
    if (log_threshold >= LOG_LEVEL_INFO)
        print_zeek_stats(x, stop_requested ? "interrupted" : "final");
    if (x->report != NULL && !finish_report(x))
        ok = false;
    return ok ? EXIT_OK : EXIT_RUNTIME;
}

/* -r EVENTS.jsonl: the stats line of a re-scoring run (no packets, no flow table). */
static void print_rescore_stats(struct exflow *x, const char *when)
{
    struct rescore_stats rs;
    char tail[1024];
    rescore_reader_get_stats(x->rescore, &rs);
    format_record_side_stats(x, tail, sizeof(tail));
    fprintf(stderr,
            "exflow: stats(%s): event_files=%llu event_lines=%llu bad_lines=%llu"
            " other_events=%llu %s\n",
            when, (unsigned long long)rs.files, (unsigned long long)rs.lines,
            (unsigned long long)rs.bad_lines, (unsigned long long)rs.other_events, tail);
}

/* -r EVENTS.jsonl: the whole run on this thread, records in the order they were saved. */
static int run_rescore(struct exflow *x)
{
    bool ok = rescore_reader_run(x->rescore, &stop_requested);
    struct rescore_stats rs;
    rescore_reader_get_stats(x->rescore, &rs);
    if (rs.flows_out == 0 && !stop_requested)
        LOG_WARN("-r: no flow events in the saved events, nothing to score (were they "
                 "written with --no-flows?)");
    snapshot_stats(x);
    fflush(stdout);
    if (log_threshold >= LOG_LEVEL_INFO)
        print_rescore_stats(x, stop_requested ? "interrupted" : "final");
    if (x->report != NULL && !finish_report(x))
        ok = false;
    return ok ? EXIT_OK : EXIT_RUNTIME;
}

/* -r with saved events instead of captures: 1 all of them, 0 none, -1 a mix (an error). */
static int saved_events_given(const struct capture_config *capture)
{
    int events = 0;
    if (capture->interface != NULL)
        return 0;
    for (int i = 0; i < capture->file_count; i++)
        events += rescore_is_events_file(capture->files[i]);
    if (events == 0)
        return 0;
    return events == capture->file_count ? 1 : -1;
}

/* "1.2 GB", "512 B": sizes in the progress line. */
static const char *format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
    double value = (double)bytes;
    int unit = 0;
    for (; value >= 1000 && unit < 4; unit++)
        value /= 1000;
    snprintf(buf, len, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return buf;
}

/* Capture thread, offline: where the replay stands, on stderr (stdout carries the JSON). On
 * a terminal one line redrawn in place and ended by the final call; with --progress
 * elsewhere, one line per update. */
static void draw_progress(struct exflow *x, bool final)
{
    struct capture_progress p;
    struct capture_stats cs;
    struct timespec now;
    capture_get_progress(x->capture, &p);
    capture_get_stats(x->capture, &cs);
    pthread_mutex_lock(&x->stats_lock);
    uint64_t alerts = x->detect_stats.alerts;
    pthread_mutex_unlock(&x->stats_lock);
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - x->progress_start.tv_sec) +
                     (double)(now.tv_nsec - x->progress_start.tv_nsec) / 1e9;
    char read[32], total[32], eta[32] = "-";
    if (final)
        snprintf(eta, sizeof(eta), "done in %.1fs", elapsed);
    else if (p.bytes_total > 0 && p.bytes_read > 0 && p.bytes_read < p.bytes_total)
        snprintf(eta, sizeof(eta), "ETA %.0fs",
                 elapsed * (double)(p.bytes_total - p.bytes_read) / (double)p.bytes_read);
    double percent = p.bytes_total > 0 ? 100.0 * (double)p.bytes_read / (double)p.bytes_total : 0;
    fprintf(stderr, "%sexflow: file %d/%d, %s of %s (%.0f%%), %.0f packets/s, %s, alerts %llu%s",
            x->progress_tty ? "\r\033[K" : "", p.files_done, p.file_count,
            format_size(p.bytes_read, read, sizeof(read)),
            format_size(p.bytes_total, total, sizeof(total)), percent,
            elapsed > 0 ? (double)cs.frames / elapsed : 0.0, eta, (unsigned long long)alerts,
            x->progress_tty && !final ? "" : "\n");
    fflush(stderr);
}

static void on_progress(void *user)
{
    struct exflow *x = user;
    if (x->progress)
        draw_progress(x, false);
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
        publish_periodic_stats(x);
        x->next_stats_wall = now + x->options->stats_interval_sec;
    }
}

/* Capture thread, wall-clock housekeeping: signals, stats, and (live only) expiry of flows
 * that went quiet, since no packet will come to move packet time forward for them. */
static void on_tick(void *user)
{
    struct exflow *x = user;
    time_t now = time(NULL);
    if (!x->live) {
        pipeline_sync(x->pipeline);
        on_progress(x);   /* between files: the count of files done moved */
    } else
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

/* An existing --pidfile: refused if it is not a plain file or names a live process, else
 * (a crash left it) removed. unlink removes the name only, so nothing it points to is hurt. */
static bool pidfile_remove_stale(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        LOG_ERROR("--pidfile %s: %s", path, errno == ELOOP
                  ? "is a symbolic link; refusing to follow or replace it (remove it)"
                  : strerror(errno));
        return false;
    }
    struct stat st;
    char text[32];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n < 0) {
        LOG_ERROR("--pidfile %s: exists and is not a plain file; refusing to replace it", path);
        return false;
    }
    text[n] = '\0';
    char *end;
    long pid = strtol(text, &end, 10);
    if (end != text && pid > 0 && pid <= INT_MAX && pid != (long)getpid() &&
        (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
        LOG_ERROR("--pidfile %s: process %ld is running (another exflow?); refusing to start",
                  path, pid);
        return false;
    }
    LOG_INFO("--pidfile %s: removing a stale pidfile (process %ld is gone)", path, pid);
    if (unlink(path) != 0) {
        LOG_ERROR("--pidfile %s: cannot remove the stale file: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* Written as root before --user: created O_EXCL|O_NOFOLLOW (common/safe_file.h), so a name
 * planted in its directory is never followed or overwritten. */
static bool write_pidfile(const char *path)
{
    char err[512];
    int fd = safe_file_create_excl(path, 0644, err, sizeof(err));
    if (fd < 0 && errno == EEXIST) {
        if (!pidfile_remove_stale(path))
            return false;
        fd = safe_file_create_excl(path, 0644, err, sizeof(err));
    }
    if (fd < 0) {
        LOG_ERROR("--pidfile %s", err);
        return false;
    }
    char text[32];
    int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    bool ok = write(fd, text, (size_t)len) == len;
    if (close(fd) != 0 || !ok) {
        LOG_ERROR("--pidfile %s: %s", path, strerror(errno));
        unlink(path);
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
    bool pidfile_written = false;

    memset(&options, 0, sizeof(options));
    memset(&x, 0, sizeof(x));
    x.options = &options;
    atomic_init(&x.reload_pending, false);
    pthread_mutex_init(&x.stats_lock, NULL);

    if (argc > 1 && strcmp(argv[1], "report") == 0) {
        pthread_mutex_destroy(&x.stats_lock);
        return report_command(argc - 1, argv + 1);
    }
    if (!options_parse(argc, argv, &options))
        goto done;
    if (options.action != OPTIONS_RUN) {
        options_print_action(&options, stdout);
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

    int saved_events = saved_events_given(&options.capture);
    if (saved_events < 0) {
        LOG_ERROR("-r: give either captures or saved events (JSON lines), not both in one run");
        goto done;
    }
    if (saved_events > 0) {
        /* Everything was in the events: no evidence is missing from what they carry. */
        x.rescore = rescore_reader_new(options.capture.files, options.capture.file_count,
                                       on_saved_record, &x, err, sizeof(err));
        if (x.rescore == NULL) {
            LOG_ERROR("%s", err);
            goto done;
        }
    } else if (options.zeek.path_count > 0) {
        x.zeek = zeek_reader_new(&options.zeek, on_zeek_record, &x, err, sizeof(err));
        if (x.zeek == NULL) {
            LOG_ERROR("%s", err);
            goto done;
        }
        /* Alerts name the evidence these logs cannot carry. */
        options.detect.evidence_unavailable = zeek_reader_unavailable_evidence(x.zeek);
    } else if (options.collect.url_count > 0) {
        x.collector = collector_new(&options.collect, on_collected_record, &x, err, sizeof(err));
        if (x.collector == NULL) {
            LOG_ERROR("%s", err);
            goto done;
        }
        /* Alerts name the evidence flow records cannot carry. */
        options.detect.evidence_unavailable = collector_unavailable_evidence(x.collector);
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

    if (options.report_path != NULL || options.summary || options.summary_event ||
        summary_on_terminal(&x)) {
        x.report = report_new();
        if (x.report == NULL) {
            LOG_ERROR("out of memory");
            goto done;
        }
        options.output.on_event = on_report_event;
        options.output.on_event_user = x.report;
    }
    x.output = output_open(&options.output, err, sizeof(err));
    if (x.output == NULL) {
        LOG_ERROR("%s", err);
        goto done;
    }
    if (options.shared_state_url != NULL && !open_shared_state(&x, &options))
        goto done;
    x.detector = detector_new(&options.detect, on_alert, &x, err, sizeof(err));
    if (x.detector == NULL) {
        LOG_ERROR("%s", err);
        goto done;
    }
    snapshot_stats(&x);
    if (x.zeek != NULL) {
        status = run_zeek(&x);
        goto done;
    }
    if (x.rescore != NULL) {
        status = run_rescore(&x);
        goto done;
    }
    if (x.collector != NULL) {
        status = run_collect(&x);
        goto done;
    }
    if (options.flows.hash_seed == 0)
        options.flows.hash_seed = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    struct pipeline_packet_stage stage = { new_packet_detector, packet_detector_on_packet,
                                           packet_detector_prepare, free_packet_detector,
                                           detector_flow_state_size(), &options.detect };
    x.home_net = cidr_set_new();
    if (x.home_net == NULL ||
        !cidr_set_add_list(x.home_net, options.detect.home_net ? options.detect.home_net
                                                               : GEO_DEFAULT_HOME_NET,
                           err, sizeof(err))) {
        LOG_ERROR("--home-net: %s", x.home_net ? err : "out of memory");
        goto done;
    }
    struct pipeline_config pipeline_config = {
        .workers = options.threads, .flows = options.flows, .stage = &stage,
        .home_net = options.worker_split != NULL && strcmp(options.worker_split, "pair") == 0
                        ? NULL : x.home_net,
        .captures = options.fanout ? x.fanout : NULL,
    };
    struct pipeline_sink sink = { on_flow_record, on_consumer_tick, &x,
                                  new_flow_encoder, encode_flow, free_flow_encoder };
    x.pipeline = pipeline_new(&pipeline_config, &sink, err, sizeof(err));
    if (x.pipeline == NULL) {
        LOG_ERROR("%s", err);
        goto done;
    }

    x.start_wall = time(NULL);
    x.next_stats_wall = x.start_wall + options.stats_interval_sec;
    int capture_status;
    if (options.fanout) {
        capture_status = supervise_fanout(&x);
    } else {
        struct capture_callbacks callbacks = { on_packet, on_tick, &x, on_progress };
        x.progress_tty = !x.live && isatty(STDERR_FILENO) && log_threshold >= LOG_LEVEL_INFO;
        x.progress = !x.live && (options.progress || x.progress_tty);
        clock_gettime(CLOCK_MONOTONIC, &x.progress_start);
        capture_status = capture_run(x.capture, &callbacks);
    }
    status = EXIT_OK;
    /* A live capture that fails is a runtime failure; an offline file that was truncated or
     * of a link type we do not decode has been warned about and counted, and what it did
     * hold was processed, so the run itself succeeded. */
    if (capture_status != 0 && x.live)
        status = EXIT_RUNTIME;

    pipeline_finish(x.pipeline);   /* every flow ends, every record is out, threads joined */
    if (x.shared != NULL)
        shared_state_flush(x.shared, SHARED_STATE_FLUSH_MS);
    snapshot_stats(&x);
    if (x.progress)
        draw_progress(&x, true);
    publish_final_stats(&x, stop_requested ? "interrupted" : "final");
    fflush(stdout);
    if (x.report != NULL && !finish_report(&x))
        status = EXIT_RUNTIME;

done:
    if (x.pipeline != NULL)
        pipeline_free(x.pipeline);
    cidr_set_free(x.home_net);
    if (x.collector != NULL)
        collector_free(x.collector);
    zeek_reader_free(x.zeek);
    rescore_reader_free(x.rescore);
    if (x.detector != NULL) {
        if (options.detect.state_file != NULL && !detector_save_state(x.detector, err, sizeof(err))) {
            LOG_ERROR("state not saved: %s", err);
            status = EXIT_RUNTIME;
        }
        detector_free(x.detector);
    }
    shared_state_free(x.shared);   /* after the detector that points at it */
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
    report_free(x.report);
    options_free(&options);
    pthread_mutex_destroy(&x.stats_lock);
    return status;
}
