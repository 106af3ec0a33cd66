/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Per-packet evidence: the part of detection that runs on the worker that sees a flow's
 * packets. It decides once per flow whether the flow carries a protocol worth parsing
 * (FTP control or data channel, HTTP request side, the covert channels of covert.h), feeds
 * those parsers, and leaves the
 * result in flow->observer_state for the record stages (detector.c) to read. Its only
 * shared state is the table of FTP data channels announced on control channels.
 */
#include "detect_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/tunables.h"

#define DETECT_FTP_CONTROL_PORT 21

/* Asked on every early packet of a flow: the first letter turns most labels away, the
 * empty label (nothing detected yet) among them, since name is never empty. */
bool detect_label_is(const char *label, const char *name)
{
    return tolower((unsigned char)label[0]) == tolower((unsigned char)name[0]) &&
           strcasecmp(label, name) == 0;
}

/* The destination as it will appear in keys, the state file and alerts: lowercase, no
 * spaces or control bytes (names come from packets). */
void detect_name_sanitize(const char *name, char *out, size_t out_len)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 1 < out_len; p++) {
        unsigned char c = (unsigned char)tolower(*p);
        out[n++] = (isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':') ? (char)c : '_';
    }
    out[n] = '\0';
}

struct ftp_line_context {
    struct evidence_context *evidence;
    struct flow *flow;
    enum flow_direction direction;
};

/* One line of an FTP control channel: commands from the client, replies from the server. */
static void evidence_ftp_line(void *user, const char *text, size_t len)
{
    struct ftp_line_context *ctx = user;
    struct flow *flow = ctx->flow;
    struct ftp_endpoint endpoint;
    struct ftp_expectation e;
    bool announce = false;

    memset(&e, 0, sizeof(e));
    if (ctx->direction == FLOW_DIR_ORIG) {
        enum ftp_command command = ftp_parse_command(text, len, &endpoint);
        if (command == FTP_CMD_PORT || command == FTP_CMD_EPRT) {
            /* Active mode: the server will connect to the client's endpoint. */
            e.active = true;
            announce = true;
        } else if (command == FTP_CMD_STOR || command == FTP_CMD_STOU || command == FTP_CMD_APPE ||
                   command == FTP_CMD_RETR) {
            ftp_expect_set_command(&ctx->evidence->ftp, flow->id, command);
        }
    } else if (ftp_parse_reply(text, len, &endpoint)) {
        announce = true;
        if (endpoint.ip_version == 0) {
            /* 229 names only the port: the address is the control channel's server. */
            endpoint.ip_version = flow->ip_version;
            memcpy(endpoint.addr, flow->resp_addr, GEO_ADDR_LEN);
        }
    }
    if (!announce || endpoint.ip_version != flow->ip_version)
        return;
    e.created_usec = flow->last_ts_usec ? flow->last_ts_usec : 1;
    e.control_flow_id = flow->id;
    e.ip_version = flow->ip_version;
    memcpy(e.listen_addr, endpoint.addr, GEO_ADDR_LEN);
    e.listen_port = endpoint.port;
    memcpy(e.client_addr, flow->orig_addr, GEO_ADDR_LEN);
    memcpy(e.server_addr, flow->resp_addr, GEO_ADDR_LEN);
    if (flow->labels.server_name[0]) {
        detect_name_sanitize(flow->labels.server_name, e.dest_name, sizeof(e.dest_name));
    } else {
        char text_addr[64];
        geo_addr_to_string(flow->ip_version, flow->resp_addr, text_addr, sizeof(text_addr));
        detect_name_sanitize(text_addr, e.dest_name, sizeof(e.dest_name));
    }
    ftp_expect_add(&ctx->evidence->ftp, &e);
}

/* Decides once, early, whether a flow gets parsed protocol state. Cheap when it does not. */
static struct flow_state *evidence_classify(struct evidence_context *d, struct flow *flow,
                                            const struct packet *pkt, enum flow_direction direction)
{
    uint64_t packets = flow->dir[0].packets + flow->dir[1].packets;
    struct flow_state *state = NULL;

    /* Interim records restart the counters: only a flow's first record is classified. */
    if (flow->record_seq != 0)
        return NULL;
    if (packets == 1 && d->ftp.live > 0) {
        int slot = ftp_expect_match(&d->ftp, flow->ip_version, flow->orig_addr, flow->resp_addr,
                                    flow->resp_port, pkt->ts_usec,
                                    DETECT_FTP_EXPECT_AGE * USEC_PER_SEC);
        if (slot >= 0) {
            const struct ftp_expectation *e = &d->ftp.slot[slot];
            state = calloc(1, sizeof(*state));
            if (state == NULL)
                return NULL;
            state->kind = FLOW_KIND_FTP_DATA;
            state->u.ftp_data.slot = slot;
            state->u.ftp_data.generation = e->generation;
            state->u.ftp_data.active = e->active;
            state->u.ftp_data.command = e->command;
            memcpy(state->u.ftp_data.dest_name, e->dest_name, sizeof(e->dest_name));
            return state;
        }
    }
    /* DNS, ICMP and SMTP flows are decided by their first packet (covert.h). */
    if (packets == 1 && covert_flow_wanted(flow, pkt)) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_COVERT;
        covert_flow_init(&state->u.covert, flow);
        return state;
    }
    if (flow->proto != 6 || pkt->payload_len == 0)
        return NULL;
    /* The first payload of either side of a flow to port 21, or labelled FTP by nDPI. */
    bool first_payload = flow->dir[direction].payload_bytes == pkt->payload_wire_len &&
                         flow->dir[!direction].payload_bytes == 0;
    bool ftp_label = packets <= NDPI_MAX_PACKETS_PER_FLOW + 8 &&
                     (detect_label_is(flow->labels.app_protocol, "FTP_CONTROL") ||
                      detect_label_is(flow->labels.master_protocol, "FTP_CONTROL"));
    if ((first_payload && flow->resp_port == DETECT_FTP_CONTROL_PORT) || ftp_label) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_FTP_CONTROL;
        state->u.ftp_control.budget[0] = state->u.ftp_control.budget[1] = DETECT_FTP_PARSE_BYTES;
        return state;
    }
    /* HTTP: the client's first payload starts with a request line, whatever the port. */
    if (direction == FLOW_DIR_ORIG &&
        flow->dir[FLOW_DIR_ORIG].payload_bytes == pkt->payload_wire_len &&
        http_looks_like_request(pkt->payload, pkt->payload_len)) {
        state = calloc(1, sizeof(*state));
        if (state == NULL)
            return NULL;
        state->kind = FLOW_KIND_HTTP;
        http_parser_init(&state->u.http, DETECT_HTTP_PARSE_BYTES);
    }
    return state;
}

/* Per packet: classify the flow once, then feed the FTP/HTTP parsers (no allocation after). */
void evidence_on_packet(struct evidence_context *evidence, struct flow *flow, const struct packet *pkt,
                        enum flow_direction direction)
{
    struct flow_state *state = flow->observer_state;
    if (state == NULL) {
        state = evidence_classify(evidence, flow, pkt, direction);
        if (state == NULL)
            return;
        flow->observer_state = state;
    }
    if (pkt->payload_wire_len == 0)
        return;
    switch (state->kind) {
    case FLOW_KIND_HTTP:
        if (direction == FLOW_DIR_ORIG && state->u.http.state != HTTP_STATE_STOPPED) {
            http_parser_feed(&state->u.http, pkt->payload, pkt->payload_len);
            /* Bytes the snaplen cut: still counted when they are body bytes. */
            if (pkt->payload_wire_len > pkt->payload_len)
                http_parser_skip(&state->u.http, pkt->payload_wire_len - pkt->payload_len);
        }
        break;
    case FLOW_KIND_FTP_DATA: {
        /* The uploading side's first bytes: the client's, whoever opened the channel. */
        enum flow_direction upload_dir = state->u.ftp_data.active ? FLOW_DIR_RESP : FLOW_DIR_ORIG;
        if (direction == upload_dir && state->u.ftp_data.packed == PACKED_NONE &&
            flow->dir[direction].payload_bytes == pkt->payload_wire_len)
            state->u.ftp_data.packed = (uint8_t)packed_magic(pkt->payload, pkt->payload_len);
        break;
    }
    case FLOW_KIND_FTP_CONTROL: {
        uint32_t *budget = &state->u.ftp_control.budget[direction];
        if (*budget == 0)
            break;
        size_t len = pkt->payload_len < *budget ? pkt->payload_len : *budget;
        *budget -= (uint32_t)len;
        struct ftp_line_context ctx = { evidence, flow, direction };
        ftp_line_feed(&state->u.ftp_control.line[direction], pkt->payload, len, evidence_ftp_line,
                      &ctx);
        break;
    }
    case FLOW_KIND_COVERT:
        covert_on_packet(evidence->covert, &state->u.covert, flow, pkt, direction);
        break;
    default:
        break;
    }
}

/* Settles what the record needs from the packet side: a late FTP transfer command. */
void evidence_prepare_record(struct evidence_context *evidence, struct flow *flow)
{
    struct flow_state *state = flow->observer_state;
    /* FTP data: the command may have come after the connection opened. */
    if (state && state->kind == FLOW_KIND_FTP_DATA && state->u.ftp_data.command == FTP_CMD_NONE) {
        const struct ftp_expectation *e = &evidence->ftp.slot[state->u.ftp_data.slot];
        if (e->generation == state->u.ftp_data.generation)
            state->u.ftp_data.command = e->command;
    }
}
