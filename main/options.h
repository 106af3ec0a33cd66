/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * main/options: every command-line option and config-file key comes from one table
 * (main/options.c). The table drives getopt_long, --help, the config file, the man page and
 * validation, so none of them can disagree with the others.
 */
#ifndef EXFLOW_OPTIONS_H
#define EXFLOW_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "../capture/capture.h"
#include "../common/log.h"
#include "../detect/detect.h"
#include "../flows/flows.h"
#include "../output/output.h"
#include "../collect/collect.h"
#include "../zeek/zeek.h"

/* Exit codes, documented in the man page. */
#define EXIT_OK      0
#define EXIT_RUNTIME 1   /* failed while running: live capture error, state could not be saved */
#define EXIT_USAGE   2   /* bad option, unreadable input, bad config: nothing was processed */

/* What the command line asked for besides a run. */
enum options_action {
    OPTIONS_RUN = 0,
    OPTIONS_HELP,
    OPTIONS_VERSION,
    OPTIONS_DUMP_MAN,      /* the exflow(8) man page, in roff */
    OPTIONS_DUMP_CONFIG,   /* a config file with every key, commented out, and its default */
    OPTIONS_LIST,          /* one option per line: name, then "cli" or "config" */
};

struct options_owned;   /* strings and values read from the config file (options.c) */

struct options {
    struct capture_config capture;
    struct flow_table_config flows;
    struct detect_config detect;
    struct output_config output;
    struct zeek_config zeek;    /* --zeek: Zeek logs instead of packets */
    const char **files;
    int file_count;
    const char *geoip_city;
    const char *geoip_asn;
    const char *pidfile;
    const char *user;
    const char *config_file;    /* --config: read before the command line, again on SIGHUP */
    unsigned stats_interval_sec;
    struct collect_config collect; /* --collect: flow exports instead of packets */
    const char *metrics_file;   /* --metrics-file: Prometheus textfile; NULL = none */
    const char *report_path;    /* --report: the HTML investigation report; NULL = none */
    const char *shared_state_url;       /* --shared-state redis://HOST[:PORT][/DB]; NULL = none */
    uint64_t shared_state_expire_usec;  /* --shared-state-expire: 0 = keys never expire */
    bool summary;               /* --summary: the end-of-run summary even off a terminal */
    bool progress;              /* --progress: the replay progress even off a terminal */
    bool summary_event;         /* --summary-event: a `summary` event ends the JSON output */
    unsigned threads;           /* pipeline workers */
    bool fanout;                /* live: a capture per worker (--fanout) */
    const char *worker_split;   /* --worker-split: "host" (NULL) or "pair" */
    bool no_dpi;
    enum log_level log_level;   /* -v, -q; options_parse makes it the log threshold */
    enum options_action action;
    struct options_owned *owned;
};

/* Fills options from the defaults, the config file (--config) and then argv, and checks
 * them. Returns false after printing one error line that names the option. */
bool options_parse(int argc, char **argv, struct options *options);

/* Carries out a non-run action (help, version, man page...) on out. */
void options_print_action(const struct options *options, FILE *out);

/* SIGHUP: reads the config file again and logs each key whose value changed, since those take
 * effect only after a restart (the allowlist's contents and the outputs reload anyway). */
void options_report_config_changes(const struct options *options);

void options_free(struct options *options);

#endif
