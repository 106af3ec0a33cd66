/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Saved flow records: the per-flow evidence of evidence.c and covert.h, out to a plain
 * struct that flow events carry (detect_flow_evidence_get), and back into the per-flow state
 * the record stages read (saved_flow_state). Going out and back leaves every field the
 * record stages read as it was, so detection over saved flow events raises the alerts the
 * packets raised. Coming back, every field is input from a file: names are looked up,
 * never used as indexes.
 */
#include "detect_internal.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(DETECT_SAVED_DNS_DOMAINS == DNS_FLOW_SLOTS, "DNS slots");
_Static_assert(DETECT_SAVED_DNS_UNIQUE == DNS_UNIQUE_BITS / 8, "DNS bitmap");
_Static_assert(DETECT_SAVED_NAME_LEN == DNS_DOMAIN_MAX, "DNS domain");
_Static_assert(DETECT_SAVED_NAME_LEN == HTTP_HOST_MAX, "HTTP host");
_Static_assert(DETECT_SAVED_SMTP_LEN == SMTP_ADDR_MAX, "SMTP text");

static const char *const kind_names[DETECT_PAYLOAD_KIND_COUNT] = {
    "", "http", "ftp_control", "ftp_data", "dns", "icmp", "smtp",
};

const char *detect_payload_kind_name(enum detect_payload_kind kind)
{
    return (unsigned)kind < DETECT_PAYLOAD_KIND_COUNT ? kind_names[kind] : "";
}

enum detect_payload_kind detect_payload_kind_parse(const char *name)
{
    for (unsigned i = 1; i < DETECT_PAYLOAD_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return (enum detect_payload_kind)i;
    return DETECT_PAYLOAD_NONE;
}

static void copy_name(char *dst, size_t dst_len, const char *src)
{
    size_t len = strnlen(src, dst_len - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Names back to the enums; unknown names are none. */
static uint8_t saved_packed(const char *name)
{
    for (int kind = PACKED_ZIP; kind <= PACKED_XZ; kind++)
        if (strcmp(name, packed_kind_name((enum packed_kind)kind)) == 0)
            return (uint8_t)kind;
    return PACKED_NONE;
}

static enum ftp_command saved_ftp_command(const char *name)
{
    for (int command = FTP_CMD_OTHER; command <= FTP_CMD_EPSV; command++)
        if (name[0] && strcmp(name, ftp_command_name((enum ftp_command)command)) == 0)
            return (enum ftp_command)command;
    return FTP_CMD_NONE;
}

static void saved_dns_out(const struct dns_flow *dns, struct detect_flow_evidence *out)
{
    out->dns_domain_count = 0;
    for (int i = 0; i < DNS_FLOW_SLOTS; i++) {
        const struct dns_domain_evidence *slot = &dns->slot[i];
        if (slot->domain[0] == '\0')
            continue;
        struct detect_saved_dns *d = &out->dns[out->dns_domain_count++];
        copy_name(d->domain, sizeof(d->domain), slot->domain);
        d->queries = slot->queries;
        d->responses = slot->responses;
        d->long_names = slot->long_names;
        d->odd_types = slot->odd_types;
        d->name_bytes = slot->name_bytes;
        d->response_bytes = slot->response_bytes;
        d->entropy_sum = slot->entropy_sum;
        memcpy(d->unique, slot->unique, sizeof(d->unique));
    }
}

static void saved_icmp_out(const struct icmp_flow *icmp, struct detect_flow_evidence *out)
{
    for (int dir = 0; dir < 2; dir++) {
        out->icmp_echo_bytes[dir] = icmp->echo_bytes[dir];
        out->icmp_echo_packets[dir] = icmp->echo_packets[dir];
    }
    out->icmp_odd_size_packets = icmp->odd_size_packets;
    out->icmp_pattern_packets = icmp->pattern_packets;
    out->icmp_sampled_packets = icmp->sampled_packets;
    out->icmp_entropy_sum = icmp->entropy_sum;
}

static void saved_smtp_out(const struct smtp_flow *smtp, struct detect_flow_evidence *out)
{
    out->smtp_messages = smtp->messages;
    out->smtp_recipients = smtp->recipients;
    out->smtp_attachments = smtp->attachments;
    out->smtp_data_bytes = smtp->data_bytes;
    out->smtp_tls_bytes = smtp->tls_bytes;
    out->smtp_starttls = smtp->starttls;
    out->smtp_implicit_tls = smtp->implicit_tls;
    copy_name(out->smtp_mail_from, sizeof(out->smtp_mail_from), smtp->mail_from);
    copy_name(out->smtp_rcpt_to, sizeof(out->smtp_rcpt_to), smtp->rcpt_to);
    copy_name(out->smtp_filename, sizeof(out->smtp_filename), smtp->filename);
}

static void saved_covert_out(const struct covert_flow *covert, struct detect_flow_evidence *out)
{
    switch (covert->kind) {
    case COVERT_DNS:
        out->kind = DETECT_PAYLOAD_DNS;
        saved_dns_out(&covert->u.dns, out);
        break;
    case COVERT_ICMP:
        out->kind = DETECT_PAYLOAD_ICMP;
        saved_icmp_out(&covert->u.icmp, out);
        break;
    case COVERT_SMTP:
        out->kind = DETECT_PAYLOAD_SMTP;
        saved_smtp_out(&covert->u.smtp, out);
        break;
    default:
        break;
    }
}

bool detect_flow_evidence_get(const struct flow *flow, struct detect_flow_evidence *out)
{
    const struct flow_state *state = flow->observer_state;
    memset(out, 0, sizeof(*out));
    if (state == NULL)
        return false;
    switch (state->kind) {
    case FLOW_KIND_HTTP:
        out->kind = DETECT_PAYLOAD_HTTP;
        out->http_upload_requests = state->u.http.upload_requests;
        out->http_body_bytes = state->u.http.upload_body_bytes;
        copy_name(out->http_host, sizeof(out->http_host), state->u.http.host);
        copy_name(out->packed, sizeof(out->packed), packed_kind_name(state->u.http.packed));
        break;
    case FLOW_KIND_FTP_CONTROL:
        out->kind = DETECT_PAYLOAD_FTP_CONTROL;
        break;
    case FLOW_KIND_FTP_DATA:
        out->kind = DETECT_PAYLOAD_FTP_DATA;
        out->ftp_active = state->u.ftp_data.active;
        copy_name(out->ftp_command, sizeof(out->ftp_command),
                  ftp_command_name(state->u.ftp_data.command));
        copy_name(out->ftp_dest_name, sizeof(out->ftp_dest_name), state->u.ftp_data.dest_name);
        copy_name(out->packed, sizeof(out->packed), packed_kind_name(state->u.ftp_data.packed));
        break;
    case FLOW_KIND_COVERT:
        saved_covert_out(&state->u.covert, out);
        break;
    default:
        break;
    }
    return out->kind != DETECT_PAYLOAD_NONE;
}

static void saved_covert_in(const struct detect_flow_evidence *in, struct covert_flow *covert)
{
    if (in->kind == DETECT_PAYLOAD_DNS) {
        covert->kind = COVERT_DNS;
        uint32_t count = in->dns_domain_count < DNS_FLOW_SLOTS ? in->dns_domain_count
                                                                : DNS_FLOW_SLOTS;
        for (uint32_t i = 0; i < count; i++) {
            const struct detect_saved_dns *d = &in->dns[i];
            struct dns_domain_evidence *slot = &covert->u.dns.slot[i];
            copy_name(slot->domain, sizeof(slot->domain), d->domain);
            slot->queries = d->queries;
            slot->responses = d->responses;
            slot->long_names = d->long_names;
            slot->odd_types = d->odd_types;
            slot->name_bytes = d->name_bytes;
            slot->response_bytes = d->response_bytes;
            slot->entropy_sum = d->entropy_sum;
            memcpy(slot->unique, d->unique, sizeof(slot->unique));
        }
    } else if (in->kind == DETECT_PAYLOAD_ICMP) {
        struct icmp_flow *icmp = &covert->u.icmp;
        covert->kind = COVERT_ICMP;
        for (int dir = 0; dir < 2; dir++) {
            icmp->echo_bytes[dir] = in->icmp_echo_bytes[dir];
            icmp->echo_packets[dir] = in->icmp_echo_packets[dir];
        }
        icmp->odd_size_packets = in->icmp_odd_size_packets;
        icmp->pattern_packets = in->icmp_pattern_packets;
        icmp->sampled_packets = in->icmp_sampled_packets;
        icmp->entropy_sum = in->icmp_entropy_sum;
    } else {
        struct smtp_flow *smtp = &covert->u.smtp;
        covert->kind = COVERT_SMTP;
        smtp->phase = SMTP_PHASE_STOPPED;
        smtp->messages = in->smtp_messages;
        smtp->recipients = in->smtp_recipients;
        smtp->attachments = in->smtp_attachments;
        smtp->data_bytes = in->smtp_data_bytes;
        smtp->tls_bytes = in->smtp_tls_bytes;
        smtp->starttls = in->smtp_starttls;
        smtp->implicit_tls = in->smtp_implicit_tls;
        copy_name(smtp->mail_from, sizeof(smtp->mail_from), in->smtp_mail_from);
        copy_name(smtp->rcpt_to, sizeof(smtp->rcpt_to), in->smtp_rcpt_to);
        copy_name(smtp->filename, sizeof(smtp->filename), in->smtp_filename);
    }
}

struct flow_state *saved_flow_state(const struct detect_flow_evidence *in)
{
    if (in->kind <= DETECT_PAYLOAD_NONE || in->kind >= DETECT_PAYLOAD_KIND_COUNT)
        return NULL;
    struct flow_state *state = calloc(1, sizeof(*state));
    if (state == NULL)
        return NULL;
    switch (in->kind) {
    case DETECT_PAYLOAD_HTTP:
        state->kind = FLOW_KIND_HTTP;
        http_parser_init(&state->u.http, 0);
        state->u.http.state = HTTP_STATE_STOPPED;
        state->u.http.upload_requests = in->http_upload_requests;
        state->u.http.upload_body_bytes = in->http_body_bytes;
        state->u.http.packed = saved_packed(in->packed);
        copy_name(state->u.http.host, sizeof(state->u.http.host), in->http_host);
        break;
    case DETECT_PAYLOAD_FTP_CONTROL:
        state->kind = FLOW_KIND_FTP_CONTROL;
        break;
    case DETECT_PAYLOAD_FTP_DATA:
        /* slot 0, generation 0 with no command: the record's detector has announced no data
         * channel, so evidence_prepare_record finds no command there either. */
        state->kind = FLOW_KIND_FTP_DATA;
        state->u.ftp_data.active = in->ftp_active;
        state->u.ftp_data.command = saved_ftp_command(in->ftp_command);
        state->u.ftp_data.packed = saved_packed(in->packed);
        copy_name(state->u.ftp_data.dest_name, sizeof(state->u.ftp_data.dest_name),
                  in->ftp_dest_name);
        break;
    default:
        state->kind = FLOW_KIND_COVERT;
        saved_covert_in(in, &state->u.covert);
        break;
    }
    return state;
}
