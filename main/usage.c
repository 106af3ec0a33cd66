/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * main/usage: what the option table prints: --help, --dump-config, the exflow(8) man page,
 * --list-options and --version. Each default shown is read from the options after the
 * defaults are set, so none of them can go stale.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../common/tunables.h"
#include "options.h"
#include "options_table.h"

#define MIB (1024ULL * 1024)

static const void *const_field_of(const struct options *o, const struct option_spec *spec)
{
    return (const char *)o + spec->offset;
}

static uint64_t load_integer(const void *field, size_t size)
{
    if (size == sizeof(uint32_t)) {
        uint32_t narrow;
        memcpy(&narrow, field, sizeof(narrow));
        return narrow;
    }
    uint64_t value;
    memcpy(&value, field, sizeof(value));
    return value;
}

/* The default of an option as text ("" when it has none worth showing). */
static void format_default(const struct options *defaults, const struct option_spec *spec,
                           char *out, size_t out_len)
{
    out[0] = '\0';
    if (spec->flags & NO_DEFAULT || spec->kind == OPTION_CUSTOM || spec->arg == NULL)
        return;
    const void *field = const_field_of(defaults, spec);
    double number;
    const char *text;
    uint64_t value = 0;
    if (spec->kind != OPTION_STRING && spec->kind != OPTION_CHOICE && spec->kind != OPTION_NUMBER)
        value = load_integer(field, spec->size);
    switch (spec->kind) {
    case OPTION_STRING:
    case OPTION_CHOICE:
        memcpy(&text, field, sizeof(text));
        if (text != NULL)
            snprintf(out, out_len, "%s", text);
        break;
    case OPTION_NUMBER:
        memcpy(&number, field, sizeof(number));
        snprintf(out, out_len, "%g", number);
        break;
    case OPTION_DURATION:
        snprintf(out, out_len, "%llus", (unsigned long long)(value / USEC_PER_SEC));
        break;
    case OPTION_MEBIBYTES:
        snprintf(out, out_len, "%llu", (unsigned long long)(value / MIB));
        break;
    case OPTION_SIZE:
        if (value != 0 && value % MIB == 0)
            snprintf(out, out_len, "%lluM", (unsigned long long)(value / MIB));
        else if (value != 0 && value % 1024 == 0)
            snprintf(out, out_len, "%lluK", (unsigned long long)(value / 1024));
        else
            snprintf(out, out_len, "%llu", (unsigned long long)value);
        break;
    default:
        snprintf(out, out_len, "%llu", (unsigned long long)value);
        break;
    }
}

#define HELP_INDENT 33   /* column where help text starts */
#define HELP_WIDTH  80

/* Prints text from column HELP_INDENT, wrapped at word boundaries to HELP_WIDTH. */
static void print_wrapped(FILE *out, const char *text)
{
    int column = HELP_INDENT;
    while (*text != '\0') {
        int word = (int)strcspn(text, " ");
        if (column > HELP_INDENT && column + 1 + word > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_INDENT, "");
            column = HELP_INDENT;
        } else if (column > HELP_INDENT) {
            fputc(' ', out);
            column++;
        }
        fprintf(out, "%.*s", word, text);
        column += word;
        text += word;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

/* The help sentence with its default appended, as --help and the man page show it. */
static void describe(const struct options *defaults, const struct option_spec *spec,
                     char *out, size_t out_len)
{
    char def[64];
    format_default(defaults, spec, def, sizeof(def));
    if (def[0] != '\0' && strstr(spec->help, "(default") == NULL)
        snprintf(out, out_len, "%s (default %s)", spec->help, def);
    else
        snprintf(out, out_len, "%s", spec->help);
}

static void print_help(const struct options *defaults, FILE *out)
{
    fprintf(out,
            "Usage: exflow -r FILE... | -i IFACE [options]\n"
            "Catches automated data exfiltration: periodic, upload-heavy transfers to new\n"
            "public destinations. Writes JSON lines (flows and alerts) and optionally syslog.\n");
    char left[64], text[512];
    for (size_t i = 0; i < option_count; i++) {
        const struct option_spec *spec = &option_table[i];
        if (!is_option(spec)) {
            fprintf(out, "%s:\n", spec->help);
            continue;
        }
        char shortname[8] = "    ";
        if (spec->short_name != 0)
            snprintf(shortname, sizeof(shortname), "-%c, ", spec->short_name);
        int len = snprintf(left, sizeof(left), "  %s--%s%s%s", shortname, spec->name,
                           spec->arg ? " " : "", spec->arg ? spec->arg : "");
        if (len >= HELP_INDENT - 1)
            fprintf(out, "%s\n%*s", left, HELP_INDENT, "");
        else
            fprintf(out, "%-*s", HELP_INDENT, left);
        describe(defaults, spec, text, sizeof(text));
        print_wrapped(out, text);
    }
    fprintf(out,
            "\nDurations take a unit: 90s, 30m, 6h, 2d. Sizes: 512K, 10M, 1G.\n"
            "Every long option is also a config-file key (see --config, --dump-config).\n"
            "Exit status: 0 success, 1 runtime failure, 2 bad usage or unreadable input.\n");
}

static void print_config(const struct options *defaults, FILE *out)
{
    fprintf(out,
            "# exflow configuration. Keys are exflow's long option names; a command-line\n"
            "# option overrides the same key here. Flags take yes or no. Durations take a\n"
            "# unit (90s, 30m, 6h, 2d), sizes a suffix (512K, 10M, 1G).\n"
            "# Every key is listed with its default, commented out.\n");
    char def[64];
    for (size_t i = 0; i < option_count; i++) {
        const struct option_spec *spec = &option_table[i];
        if (!is_option(spec)) {
            fprintf(out, "\n# --- %s ---\n", spec->help);
            continue;
        }
        if (spec->flags & CLI_ONLY)
            continue;
        format_default(defaults, spec, def, sizeof(def));
        fprintf(out, "# %s\n#%s = %s\n", spec->help, spec->name,
                spec->arg == NULL ? "no" : def);
    }
}

/* Writes text for roff: escapes backslashes and dashes, and a leading '.' or '\''. */
static void roff_text(FILE *out, const char *text)
{
    if (text[0] == '.' || text[0] == '\'')
        fputs("\\&", out);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
    }
}

static const char man_head[] =
    ".TH EXFLOW 8 \"\" \"exflow " EXFLOW_VERSION "\" \"System Administration\"\n"
    ".SH NAME\n"
    "exflow \\- network sensor that detects automated data exfiltration\n"
    ".SH SYNOPSIS\n"
    ".B exflow\n"
    "\\fB\\-r\\fR \\fIFILE\\fR... | \\fB\\-i\\fR \\fIIFACE\\fR [\\fIoptions\\fR]\n"
    ".br\n"
    ".B exflow\n"
    "\\fB\\-\\-config\\fR \\fIFILE\\fR [\\fIoptions\\fR]\n"
    ".SH DESCRIPTION\n"
    ".B exflow\n"
    "reads packets from a live interface (a SPAN port or network tap) or from pcap files,\n"
    "follows every flow, and raises alerts for automated data exfiltration: periodic,\n"
    "upload\\-heavy transfers to new public destinations, uploads to cloud storage, and\n"
    "transfers over alternative protocols (MITRE ATT&CK T1020, T1029, T1041, T1048,\n"
    "T1567.002).\n"
    "It writes JSON lines (flow records and alerts) to standard output or a file, and\n"
    "optionally sends alerts to a SIEM over syslog.\n"
    ".PP\n"
    "Packet time is the clock: a pcap replays exactly as the live traffic ran.\n"
    "Durations take a unit (90s, 30m, 6h, 2d); sizes take a suffix (512K, 10M, 1G).\n"
    ".SH OPTIONS\n";

static const char man_tail[] =
    ".SH CONFIGURATION FILE\n"
    "With \\fB\\-\\-config\\fR \\fIFILE\\fR, exflow reads \\fIkey\\fR = \\fIvalue\\fR lines\n"
    "before the command line. Keys are the long option names above without the leading\n"
    "dashes, except \\fBconfig\\fR, \\fBhelp\\fR, \\fBversion\\fR, \\fBdump\\-config\\fR,\n"
    "\\fBdump\\-man\\fR and \\fBlist\\-options\\fR. Flags take \\fByes\\fR or \\fBno\\fR.\n"
    "Lines starting with \\fB#\\fR or \\fB;\\fR are comments. An option given on the command\n"
    "line overrides the file; an input given on the command line (\\fB\\-r\\fR or\n"
    "\\fB\\-i\\fR) replaces the file's input. An error names the file, the line and the key.\n"
    "\\fBexflow \\-\\-dump\\-config\\fR prints every key with its default.\n"
    ".SH SIGNALS\n"
    ".TP\n"
    ".B SIGHUP\n"
    "Reloads the allowlist, reopens the output files (for log rotation) and reads the\n"
    "configuration file again, logging each changed key: other changes take effect after a\n"
    "restart.\n"
    ".TP\n"
    ".BR SIGINT \", \" SIGTERM\n"
    "Stop: every open flow is ended and written, the state file saved, then exflow exits.\n"
    ".SH EXIT STATUS\n"
    ".TP\n"
    ".B 0\n"
    "Success.\n"
    ".TP\n"
    ".B 1\n"
    "Runtime failure: the live capture failed, or the state could not be saved.\n"
    ".TP\n"
    ".B 2\n"
    "Bad usage, bad configuration or unreadable input: nothing was processed.\n"
    ".SH FILES\n"
    ".TP\n"
    ".I /etc/exflow/exflow.conf\n"
    "Configuration file read by the packaged service.\n"
    ".TP\n"
    ".I /usr/share/exflow/protocols.txt\n"
    "Bundled nDPI protocol definitions (cloud storage and file\\-sharing services).\n"
    ".TP\n"
    ".I /var/log/exflow/\n"
    "Events written by the packaged service.\n"
    ".SH EXAMPLES\n"
    "Investigate captures, several files read in order as one stream:\n"
    ".PP\n"
    ".RS\n"
    ".nf\n"
    "exflow \\-r monday.pcap tuesday.pcapng \\-w events.jsonl\n"
    ".fi\n"
    ".RE\n"
    ".PP\n"
    "Live on a SPAN port, alerts only, to a SIEM over TCP syslog:\n"
    ".PP\n"
    ".RS\n"
    ".nf\n"
    "exflow \\-i eth1 \\-\\-no\\-flows \\-\\-syslog tcp://siem.example.com:6514 \\\\\n"
    "    \\-\\-state\\-file /var/lib/exflow/state\n"
    ".fi\n"
    ".RE\n"
    ".PP\n"
    "Replay a capture with a sensor's settings (the file's interface is replaced):\n"
    ".PP\n"
    ".RS\n"
    ".nf\n"
    "exflow \\-\\-config /etc/exflow/exflow.conf \\-r incident.pcap\n"
    ".fi\n"
    ".RE\n"
    ".SH SEE ALSO\n"
    ".BR tcpdump (8),\n"
    ".BR pcap\\-filter (7),\n"
    ".BR logrotate (8)\n";

static void print_man(const struct options *defaults, FILE *out)
{
    fputs(man_head, out);
    char text[512];
    for (size_t i = 0; i < option_count; i++) {
        const struct option_spec *spec = &option_table[i];
        if (!is_option(spec)) {
            fputs(".SS ", out);
            roff_text(out, spec->help);
            fputc('\n', out);
            continue;
        }
        fputs(".TP\n", out);
        if (spec->short_name != 0)
            fprintf(out, "\\fB\\-%c\\fR, ", spec->short_name);
        fputs("\\fB\\-\\-", out);
        roff_text(out, spec->name);
        fputs("\\fR", out);
        if (spec->arg != NULL) {
            fputs(" \\fI", out);
            roff_text(out, spec->arg);
            fputs("\\fR", out);
        }
        fputc('\n', out);
        describe(defaults, spec, text, sizeof(text));
        roff_text(out, text);
        fputs(".\n", out);
    }
    fputs(man_tail, out);
}

void options_print_action(const struct options *o, FILE *out)
{
    struct options defaults;
    memset(&defaults, 0, sizeof(defaults));
    options_defaults(&defaults);
    switch (o->action) {
    case OPTIONS_HELP: print_help(&defaults, out); break;
    case OPTIONS_DUMP_CONFIG: print_config(&defaults, out); break;
    case OPTIONS_DUMP_MAN: print_man(&defaults, out); break;
    case OPTIONS_LIST:
        for (size_t i = 0; i < option_count; i++)
            if (is_option(&option_table[i]))
                fprintf(out, "%s %s\n", option_table[i].name,
                        option_table[i].flags & CLI_ONLY ? "cli" : "config");
        break;
    case OPTIONS_VERSION:
        fprintf(out, "exflow %s\n", EXFLOW_VERSION);
        fprintf(out, "built with nDPI 4.2, libpcap, libmaxminddb, jansson, libinih "
                     "(Debian 12 packages)\n");
        break;
    case OPTIONS_RUN:
        break;
    }
}
