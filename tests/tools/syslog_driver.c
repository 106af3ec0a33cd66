/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * syslog_driver: feeds synthetic alerts through output/ at a controlled pace, so the syslog
 * integration test (tests/syslog/run.sh) can stop and restart a real collector mid-run
 * without needing a pcap that produces alerts at just the right moments.
 *
 *   syslog_driver --syslog URL [--format json|cef] [--spool-dir DIR] [--spool-max-bytes N]
 *                 [--first-id N] [--count N] [--interval-ms N] [--linger-ms N] [-w FILE]
 *                 [--ca FILE] [--cert FILE] [--key FILE]          (tls://: as --syslog-ca ...)
 *
 * Alerts get ids first-id .. first-id+count-1. After the last one it keeps ticking for
 * linger-ms (reconnects, replay), then output_close flushes what it can. The counters, taken
 * before that close, go to stderr as "sent=N retried=N spooled=N dropped=N corrupt=N".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../output/output.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Ticks the output every 10 ms for `ms` milliseconds, as exflow's capture loop would. */
static void tick_for(struct output *output, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    do {
        output_tick(output);
        sleep_ms(10);
    } while (now_ms() < end);
}

static void fill_alert(struct alert *alert, uint64_t id)
{
    memset(alert, 0, sizeof(*alert));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    alert->id = id;
    alert->ts_usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    alert->first_ts_usec = alert->ts_usec - 3600ULL * 1000000;
    alert->severity = (enum alert_severity)(id % 4);
    alert->score = 0.5 + (double)(id % 50) / 100.0;
    alert->ip_version = 4;
    geo_addr_parse("10.0.0.5", alert->src_addr);
    geo_addr_parse("198.51.100.20", alert->dest_addr);
    alert->dest_port = 443;
    alert->proto = 6;
    snprintf(alert->dest_name, sizeof(alert->dest_name), "upload]\"%llu\\.example",
             (unsigned long long)id);
    snprintf(alert->app_protocol, sizeof(alert->app_protocol), "TLS");
    alert->bytes_out = 10485760 + id;
    alert->bytes_in = 4096;
    alert->pcr = 0.999;
    alert->connections = 5;
    alert->period_sec = 300;
    alert->beacon_score = 0.9;
    alert->first_seen_age_sec = -1;
    alert->evidence = 1u << 3 | 1u << 6;
    alert->flow_id = id * 10;
    alert->techniques[0] = "T1029";
    alert->technique_count = 1;
    snprintf(alert->reason, sizeof(alert->reason), "synthetic alert %llu from syslog_driver",
             (unsigned long long)id);
}

int main(int argc, char **argv)
{
    struct output_config config;
    output_config_defaults(&config);
    config.json_path = NULL;
    unsigned long long first_id = 1, count = 10, interval_ms = 0, linger_ms = 0;
    static const struct option options[] = {
        { "syslog", required_argument, NULL, 's' },
        { "format", required_argument, NULL, 'f' },
        { "spool-dir", required_argument, NULL, 'd' },
        { "spool-max-bytes", required_argument, NULL, 'm' },
        { "first-id", required_argument, NULL, 'i' },
        { "count", required_argument, NULL, 'n' },
        { "interval-ms", required_argument, NULL, 't' },
        { "linger-ms", required_argument, NULL, 'l' },
        { "ca", required_argument, NULL, 'C' },
        { "cert", required_argument, NULL, 'E' },
        { "key", required_argument, NULL, 'K' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    while ((option = getopt_long(argc, argv, "w:", options, NULL)) != -1) {
        switch (option) {
        case 's': config.syslog_url = optarg; break;
        case 'f': config.syslog_format = optarg; break;
        case 'd': config.spool_dir = optarg; break;
        case 'm': config.spool_max_bytes = strtoull(optarg, NULL, 10); break;
        case 'i': first_id = strtoull(optarg, NULL, 10); break;
        case 'n': count = strtoull(optarg, NULL, 10); break;
        case 't': interval_ms = strtoull(optarg, NULL, 10); break;
        case 'l': linger_ms = strtoull(optarg, NULL, 10); break;
        case 'w': config.json_path = optarg; break;
        case 'C': config.syslog_ca = optarg; break;
        case 'E': config.syslog_cert = optarg; break;
        case 'K': config.syslog_key = optarg; break;
        default:
            fprintf(stderr, "usage: see the comment at the top of tests/tools/syslog_driver.c\n");
            return 2;
        }
    }
    char err[512];
    struct output *output = output_open(&config, err, sizeof(err));
    if (output == NULL) {
        fprintf(stderr, "syslog_driver: %s\n", err);
        return 1;
    }
    for (unsigned long long i = 0; i < count; i++) {
        struct alert alert;
        fill_alert(&alert, first_id + i);
        output_alert(output, &alert);
        if (interval_ms > 0)
            tick_for(output, (unsigned)interval_ms);
    }
    if (linger_ms > 0)
        tick_for(output, (unsigned)linger_ms);
    /* Counters before close: what the flush at exit delivers is not in them. */
    struct output_stats stats;
    output_get_stats(output, &stats);
    fprintf(stderr, "sent=%llu retried=%llu spooled=%llu dropped=%llu corrupt=%llu\n",
            (unsigned long long)stats.syslog_sent, (unsigned long long)stats.syslog_retried,
            (unsigned long long)stats.syslog_spooled, (unsigned long long)stats.syslog_dropped,
            (unsigned long long)stats.syslog_corrupt);
    output_close(output);
    return 0;
}
