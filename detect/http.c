/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * HTTP/1.x request side (RFC 9112): request lines, Content-Length and chunked bodies, so
 * POST/PUT/PATCH/BITS_POST requests and their body bytes are counted even when pipelined
 * and split across packets. Bodies are skipped by count, never copied; only header and
 * chunk-size lines are read, and only up to a byte budget per flow.
 *
 * XXX: no TCP reassembly: a lost or reordered segment makes the parser lose sync, and it
 * then stops (HTTP_STATE_STOPPED) rather than guess.
 */
#include "detect_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_method {
    const char *name;
    bool upload;
};

/* RFC 9110 methods, WebDAV (RFC 4918) and BITS (Windows background transfers). */
static const struct http_method methods[] = {
    { "GET", false }, { "HEAD", false }, { "POST", true }, { "PUT", true },
    { "DELETE", false }, { "OPTIONS", false }, { "PATCH", true }, { "CONNECT", false },
    { "TRACE", false }, { "BITS_POST", true }, { "PROPFIND", false }, { "PROPPATCH", false },
    { "MKCOL", false }, { "COPY", false }, { "MOVE", false }, { "LOCK", false },
    { "UNLOCK", false },
};

/* The method at the start of data followed by a space, or NULL. */
static const struct http_method *http_method_at(const char *data, size_t len)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        size_t n = strlen(methods[i].name);
        if (len > n && memcmp(data, methods[i].name, n) == 0 && data[n] == ' ')
            return &methods[i];
    }
    return NULL;
}

/* Cheap check on a flow's first client payload. */
bool http_looks_like_request(const uint8_t *data, size_t len)
{
    return http_method_at((const char *)data, len) != NULL;
}

/* A parser waiting for a request line, with a header byte budget. */
void http_parser_init(struct http_parser *parser, uint32_t parse_budget)
{
    memset(parser, 0, sizeof(*parser));
    parser->state = HTTP_STATE_REQUEST_LINE;
    parser->parse_budget = parse_budget;
}

/* method SP target SP HTTP-version (RFC 9112 section 3). */
static void http_request_line(struct http_parser *parser, const char *line, size_t len)
{
    if (len == 0)
        return; /* a stray CRLF between requests is tolerated (RFC 9112 section 2.2) */
    const struct http_method *method = http_method_at(line, len);
    /* A cut line (a long URL) cannot show its version; the method is enough then. */
    if (method == NULL || (!parser->line_overflow && memmem(line, len, " HTTP/1.", 8) == NULL)) {
        parser->state = HTTP_STATE_STOPPED;
        return;
    }
    parser->requests++;
    parser->seen_request = true;
    parser->upload = method->upload;
    /* Counted here, not at the end of the headers: a short snaplen may cut those. */
    if (method->upload)
        parser->upload_requests++;
    parser->chunked = false;
    parser->multipart = false;
    parser->body_start = false;
    parser->content_length = 0;
    parser->state = HTTP_STATE_HEADERS;
}

/* Keeps the first Host, lowercase, without port or IPv6 brackets. */
static void http_store_host(struct http_parser *parser, const char *value, size_t len)
{
    if (parser->host[0] != '\0' || len == 0)
        return;
    size_t start = 0, end = len;
    if (value[0] == '[') {
        const char *close = memchr(value, ']', len);
        if (close == NULL)
            return;
        start = 1;
        end = (size_t)(close - value);
    } else {
        const char *colon = memchr(value, ':', len);
        if (colon)
            end = (size_t)(colon - value);
    }
    size_t n = end - start;
    if (n == 0 || n >= sizeof(parser->host))
        return;
    for (size_t i = 0; i < n; i++)
        parser->host[i] = (char)tolower((unsigned char)value[start + i]);
    parser->host[n] = '\0';
}

/* One header field, or the empty line that ends the headers. */
static void http_header_line(struct http_parser *parser, const char *line, size_t len)
{
    if (len == 0) {
        /* End of headers (RFC 9112 section 6.3: chunked wins over Content-Length). */
        parser->body_start = parser->upload;
        if (parser->chunked) {
            parser->state = HTTP_STATE_CHUNK_SIZE;
        } else if (parser->content_length > 0) {
            parser->remaining = parser->content_length;
            parser->state = HTTP_STATE_BODY;
        } else {
            parser->state = HTTP_STATE_REQUEST_LINE;
        }
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return;
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    const char *end = line + len;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t value_len = (size_t)(end - value);
    if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        uint64_t length = 0;
        size_t i = 0;
        for (; i < value_len && isdigit((unsigned char)value[i]) && i < 19; i++)
            length = length * 10 + (uint64_t)(value[i] - '0');
        if (i == value_len && i > 0)
            parser->content_length = length;
    } else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        for (size_t i = 0; i + 7 <= value_len; i++)
            if (strncasecmp(value + i, "chunked", 7) == 0)
                parser->chunked = true;
    } else if (name_len == 4 && strncasecmp(line, "Host", 4) == 0) {
        http_store_host(parser, value, value_len);
    } else if (name_len == 12 && strncasecmp(line, "Content-Type", 12) == 0 && parser->upload) {
        parser->multipart = value_len >= 19 && strncasecmp(value, "multipart/form-data", 19) == 0;
        if (parser->packed == PACKED_NONE)
            parser->packed = (uint8_t)packed_content_type(value, value_len);
    }
}

/* chunk-size [ chunk-ext ] (RFC 9112 section 7.1). */
static void http_chunk_size_line(struct http_parser *parser, const char *line, size_t len)
{
    uint64_t size = 0;
    size_t i = 0;
    for (; i < len && isxdigit((unsigned char)line[i]) && i < 15; i++) {
        int c = tolower((unsigned char)line[i]);
        size = size * 16 + (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
        parser->state = HTTP_STATE_STOPPED;
        return;
    }
    if (size == 0) {
        parser->state = HTTP_STATE_TRAILERS;
    } else {
        parser->remaining = size;
        parser->state = HTTP_STATE_CHUNK_DATA;
    }
}

/* Dispatches a complete line by parser state. */
static void http_line(struct http_parser *parser, const char *line, size_t len)
{
    switch (parser->state) {
    case HTTP_STATE_REQUEST_LINE:
        http_request_line(parser, line, len);
        break;
    case HTTP_STATE_HEADERS:
        http_header_line(parser, line, len);
        break;
    case HTTP_STATE_CHUNK_SIZE:
        http_chunk_size_line(parser, line, len);
        break;
    case HTTP_STATE_CHUNK_END:
        parser->state = len == 0 ? HTTP_STATE_CHUNK_SIZE : HTTP_STATE_STOPPED;
        break;
    case HTTP_STATE_TRAILERS:
        if (len == 0)
            parser->state = HTTP_STATE_REQUEST_LINE;
        break;
    default:
        break;
    }
}

/* The first bytes of an upload's body: an archive's magic, or a multipart part naming one. */
static void http_body_start(struct http_parser *parser, const uint8_t *data, size_t len)
{
    parser->body_start = false;
    if (parser->packed != PACKED_NONE)
        return;
    size_t window = len < PACKED_SCAN_BYTES ? len : PACKED_SCAN_BYTES;
    parser->packed = (uint8_t)(parser->multipart ? packed_multipart(data, window)
                                                 : packed_magic(data, window));
}

/* Feeds client bytes in order: bodies skipped by count, lines parsed. */
void http_parser_feed(struct http_parser *parser, const uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len && parser->state != HTTP_STATE_STOPPED) {
        if (parser->state == HTTP_STATE_BODY || parser->state == HTTP_STATE_CHUNK_DATA) {
            uint64_t take = len - i;
            if (take > parser->remaining)
                take = parser->remaining;
            if (parser->body_start && take > 0)
                http_body_start(parser, data + i, (size_t)take);
            if (parser->upload)
                parser->upload_body_bytes += take;
            parser->remaining -= take;
            i += (size_t)take;
            if (parser->remaining == 0)
                parser->state = parser->state == HTTP_STATE_BODY ? HTTP_STATE_REQUEST_LINE
                                                                 : HTTP_STATE_CHUNK_END;
            continue;
        }
        /* Line states: one byte at a time into the line buffer, within the budget. */
        if (parser->parse_budget == 0) {
            parser->state = HTTP_STATE_STOPPED;
            break;
        }
        parser->parse_budget--;
        char c = (char)data[i++];
        if (c != '\n') {
            if (parser->line_len < HTTP_LINE_MAX - 1)
                parser->line[parser->line_len++] = c;
            else
                parser->line_overflow = true;
            continue;
        }
        size_t n = parser->line_len;
        if (n > 0 && parser->line[n - 1] == '\r')
            n--;
        parser->line[n] = '\0';
        http_line(parser, parser->line, n);
        parser->line_len = 0;
        parser->line_overflow = false;
    }
}

/* Accounts for client bytes that were not captured (snaplen): inside a body they are body;
 * anywhere else the parser cannot know what it missed and stops. */
void http_parser_skip(struct http_parser *parser, uint64_t len)
{
    if (len == 0 || parser->state == HTTP_STATE_STOPPED)
        return;
    if ((parser->state == HTTP_STATE_BODY || parser->state == HTTP_STATE_CHUNK_DATA) &&
        len <= parser->remaining) {
        if (parser->upload)
            parser->upload_body_bytes += len;
        parser->remaining -= len;
        if (parser->remaining == 0)
            parser->state = parser->state == HTTP_STATE_BODY ? HTTP_STATE_REQUEST_LINE
                                                             : HTTP_STATE_CHUNK_END;
        return;
    }
    parser->state = HTTP_STATE_STOPPED;
}
