/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * SMTP client side (RFC 5321): envelope (MAIL FROM, RCPT TO), message size (DATA, or BDAT
 * chunks of RFC 3030), STARTTLS (RFC 3207: what follows is TLS, counted as such), and
 * attachments seen in a cleartext message's MIME headers (RFC 2183 Content-Disposition).
 * Stealers (AgentTesla, Snake) mail their loot from the infected workstation itself.
 */
#include "covert.h"
#include "detect_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/tunables.h"

#define SMTP_PARSE_BUDGET 65536   /* command-phase bytes read per flow; data is only counted */

/* Copies the <address> (or the bare word) after a "MAIL FROM:"/"RCPT TO:" prefix. */
static void smtp_copy_address(char *out, size_t out_len, const char *arg, size_t arg_len)
{
    size_t i = 0, n = 0;
    while (i < arg_len && (arg[i] == ' ' || arg[i] == '<'))
        i++;
    for (; i < arg_len && arg[i] != '>' && arg[i] != ' ' && n + 1 < out_len; i++) {
        unsigned char c = (unsigned char)arg[i];
        out[n++] = (char)(isgraph(c) ? tolower(c) : '_');
    }
    out[n] = '\0';
}

/* True when line starts with prefix, any case. */
static bool smtp_starts(const char *line, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    return len >= plen && strncasecmp(line, prefix, plen) == 0;
}

/* One command line of the client. */
static void smtp_command(struct smtp_flow *smtp, const char *line, size_t len)
{
    if (smtp_starts(line, len, "MAIL FROM:")) {
        smtp_copy_address(smtp->mail_from, sizeof(smtp->mail_from), line + 10, len - 10);
    } else if (smtp_starts(line, len, "RCPT TO:")) {
        if (smtp->recipients++ == 0)
            smtp_copy_address(smtp->rcpt_to, sizeof(smtp->rcpt_to), line + 8, len - 8);
    } else if (len == 4 && smtp_starts(line, len, "DATA")) {
        /* The 354 reply is not waited for: a refused DATA sends no message either way. */
        smtp->phase = SMTP_PHASE_DATA;
        smtp->messages++;
    } else if (smtp_starts(line, len, "BDAT ")) {
        char number[24];
        size_t n = 0;
        for (size_t i = 5; i < len && n + 1 < sizeof(number) && isdigit((unsigned char)line[i]); i++)
            number[n++] = line[i];
        number[n] = '\0';
        smtp->bdat_left = n ? strtoull(number, NULL, 10) : 0;
        if (smtp->recipients > 0 && smtp->data_bytes == 0)
            smtp->messages++;
    } else if (len == 8 && smtp_starts(line, len, "STARTTLS")) {
        smtp->starttls = true;
        smtp->phase = SMTP_PHASE_TLS;
    }
}

/* One line of a message: the end, or a MIME header that names an attachment. */
static void smtp_data_line(struct smtp_flow *smtp, const char *line, size_t len)
{
    if (len == 1 && line[0] == '.') {
        smtp->phase = SMTP_PHASE_COMMANDS;
        return;
    }
    if (smtp_starts(line, len, "Content-Disposition:")) {
        const char *p = line + 20;
        size_t left = len - 20;
        while (left > 0 && *p == ' ') {
            p++;
            left--;
        }
        if (smtp_starts(p, left, "attachment"))
            smtp->attachments++;
    }
    /* The first file name, from Content-Disposition or Content-Type (folded lines: the
     * parameter may sit on its own line). */
    const char *f = NULL;
    for (size_t i = 0; i + 9 <= len; i++) {
        if (strncasecmp(line + i, "filename=", 9) == 0) {
            f = line + i + 9;
            break;
        }
    }
    if (f != NULL && smtp->filename[0] == '\0') {
        size_t left = len - (size_t)(f - line);
        if (left > 0 && *f == '"') {
            f++;
            left--;
        }
        size_t n = 0;
        for (size_t i = 0; i < left && f[i] != '"' && f[i] != ';' && n + 1 < sizeof(smtp->filename); i++) {
            unsigned char c = (unsigned char)f[i];
            smtp->filename[n++] = (char)(isprint(c) ? c : '_');
        }
        smtp->filename[n] = '\0';
    }
}

/* A complete line, by phase. */
static void smtp_line(struct smtp_flow *smtp, const char *line, size_t len)
{
    if (smtp->phase == SMTP_PHASE_COMMANDS)
        smtp_command(smtp, line, len);
    else if (smtp->phase == SMTP_PHASE_DATA)
        smtp_data_line(smtp, line, len);
}

/* Client bytes in order. Lines longer than the buffer keep their start (commands and
 * header names are at the front). */
void smtp_flow_feed(struct smtp_flow *smtp, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (smtp->phase == SMTP_PHASE_TLS || smtp->phase == SMTP_PHASE_STOPPED) {
            if (smtp->phase == SMTP_PHASE_TLS)
                smtp->tls_bytes += len - i;
            return;
        }
        if (smtp->bdat_left > 0) {
            size_t take = len - i < smtp->bdat_left ? len - i : (size_t)smtp->bdat_left;
            smtp->bdat_left -= take;
            smtp->data_bytes += take;
            i += take - 1;
            continue;
        }
        if (smtp->phase == SMTP_PHASE_DATA)
            smtp->data_bytes++;
        else if (smtp->parse_budget == 0) {
            smtp->phase = SMTP_PHASE_STOPPED;
            return;
        } else {
            smtp->parse_budget--;
        }
        uint8_t c = data[i];
        if (c == '\n') {
            size_t n = smtp->line_len;
            if (n > 0 && smtp->line[n - 1] == '\r')
                n--;
            smtp->line[n] = '\0';
            smtp_line(smtp, smtp->line, n);
            smtp->line_len = 0;
            smtp->line_overflow = false;
            continue;
        }
        if (smtp->line_len < SMTP_LINE_MAX - 1)
            smtp->line[smtp->line_len++] = (char)c;
        else
            smtp->line_overflow = true;
    }
}

/* Starts a flow's parser: port 465 is TLS from the first byte (RFC 8314). */
void smtp_flow_start(struct smtp_flow *smtp, bool implicit_tls)
{
    memset(smtp, 0, sizeof(*smtp));
    smtp->parse_budget = SMTP_PARSE_BUDGET;
    smtp->implicit_tls = implicit_tls;
    if (implicit_tls)
        smtp->phase = SMTP_PHASE_TLS;
}
