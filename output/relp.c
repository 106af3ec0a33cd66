/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/relp.c: the framing of RELP, rsyslog's Reliable Event Logging Protocol (librelp's
 * doc/relp.html), for the TCP sink. Every message is a command with a transaction number,
 * and the collector answers each with "rsp" and a status code once it has taken the message:
 * an application acknowledgement, which plain TCP syslog cannot give.
 *
 *   FRAME   = TXNR SP COMMAND SP DATALEN [SP DATA] TRAILER
 *   TXNR    = 1-9 digits (1..999999999), COMMAND = 1-32 letters, DATALEN = 1-9 digits
 *   TRAILER = LF
 *
 * librelp's own client sends and reconnects by blocking and keeps which messages were
 * acknowledged to itself, so it cannot drive the non-blocking sink and its disk spool; the
 * few frames a client needs are built and parsed here, the replies through a bounded cursor.
 */
#include "output_internal.h"

#include <string.h>

#define RELP_OFFER "relp_version=0\nrelp_software=exflow\ncommands=syslog"

size_t relp_encode(char *buf, size_t cap, uint32_t txnr, const char *command, const char *data,
                   size_t data_len)
{
    int n = data_len > 0 ? snprintf(buf, cap, "%u %s %zu ", txnr, command, data_len)
                         : snprintf(buf, cap, "%u %s 0", txnr, command);
    if (n < 0 || (size_t)n + data_len + 1 > cap)
        return 0;
    memcpy(buf + n, data, data_len);
    buf[(size_t)n + data_len] = '\n';
    return (size_t)n + data_len + 1;
}

size_t relp_encode_open(char *buf, size_t cap)
{
    return relp_encode(buf, cap, 1, "open", RELP_OFFER, strlen(RELP_OFFER));
}

/* Reads 1-9 digits at *cur; false when there are none or too many. */
static bool read_number(const char **cur, const char *end, uint32_t *value)
{
    uint32_t result = 0;
    int digits = 0;
    while (*cur < end && **cur >= '0' && **cur <= '9') {
        if (++digits > 9)
            return false;
        result = result * 10 + (uint32_t)(**cur - '0');
        (*cur)++;
    }
    *value = result;
    return digits > 0;
}

enum relp_parse relp_parse(const char *buf, size_t len, struct relp_frame *frame,
                           size_t *consumed)
{
    const char *cur = buf, *end = buf + len;
    uint32_t data_len = 0;
    if (!read_number(&cur, end, &frame->txnr))
        return cur == end ? RELP_NEED_MORE : RELP_BAD;
    if (cur == end)
        return RELP_NEED_MORE;
    if (*cur++ != ' ')
        return RELP_BAD;
    size_t command_len = 0;
    while (cur < end && ((*cur >= 'a' && *cur <= 'z') || (*cur >= 'A' && *cur <= 'Z'))) {
        if (command_len + 1 >= sizeof(frame->command))
            return RELP_BAD;
        frame->command[command_len++] = *cur++;
    }
    frame->command[command_len] = '\0';
    if (cur == end)
        return RELP_NEED_MORE;
    if (command_len == 0 || *cur++ != ' ')
        return RELP_BAD;
    if (!read_number(&cur, end, &data_len))
        return cur == end ? RELP_NEED_MORE : RELP_BAD;
    if (data_len > RELP_MAX_DATA)
        return RELP_BAD;
    if (data_len > 0) {
        if (cur == end)
            return RELP_NEED_MORE;
        if (*cur++ != ' ')
            return RELP_BAD;
    }
    if ((size_t)(end - cur) < (size_t)data_len + 1)
        return RELP_NEED_MORE;
    frame->data = cur;
    frame->data_len = data_len;
    cur += data_len;
    if (*cur++ != '\n')
        return RELP_BAD;
    *consumed = (size_t)(cur - buf);
    return RELP_FRAME;
}

int relp_response_code(const struct relp_frame *frame)
{
    if (strcmp(frame->command, "rsp") != 0 || frame->data_len < 3)
        return -1;
    int code = 0;
    for (int i = 0; i < 3; i++) {
        if (frame->data[i] < '0' || frame->data[i] > '9')
            return -1;
        code = code * 10 + (frame->data[i] - '0');
    }
    return code;
}
