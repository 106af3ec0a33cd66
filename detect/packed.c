/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Packed data: archives and compressed files seen in cleartext uploads, the network half
 * of "archive, then upload within minutes". Three looks, all on bytes already in hand:
 * the magic number at the start of a file (an HTTP body or an FTP data channel), an
 * archive Content-Type, and the extension of a multipart filename.
 */
#include "detect_internal.h"

#include <string.h>
#include <strings.h>

struct packed_magic {
    enum packed_kind kind;
    const char *bytes;
    size_t len;
};

/* File signatures (PKWARE APPNOTE 4.3.7; 7-Zip 7zFormat.txt; RAR 4/5; RFC 1952; xz 2.1.1.1). */
static const struct packed_magic magics[] = {
    { PACKED_ZIP, "PK\x03\x04", 4 },
    { PACKED_7Z, "7z\xbc\xaf\x27\x1c", 6 },
    { PACKED_RAR, "Rar!\x1a\x07", 6 },
    { PACKED_GZIP, "\x1f\x8b\x08", 3 },
    { PACKED_XZ, "\xfd" "7zXZ\x00", 6 },
};

static const char *const kind_names[] = { "", "zip", "7z", "rar", "gzip", "xz" };

/* "zip", "7z", ...; "" for PACKED_NONE. */
const char *packed_kind_name(enum packed_kind kind)
{
    return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "";
}

/* The archive whose signature starts data, PACKED_NONE when none (or too few bytes). */
enum packed_kind packed_magic(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
        if (len >= magics[i].len && memcmp(data, magics[i].bytes, magics[i].len) == 0)
            return magics[i].kind;
    return PACKED_NONE;
}

struct packed_name {
    enum packed_kind kind;
    const char *text;
};

/* IANA media types and their common x- forms. */
static const struct packed_name content_types[] = {
    { PACKED_ZIP, "application/zip" }, { PACKED_ZIP, "application/x-zip-compressed" },
    { PACKED_7Z, "application/x-7z-compressed" }, { PACKED_RAR, "application/vnd.rar" },
    { PACKED_RAR, "application/x-rar-compressed" }, { PACKED_GZIP, "application/gzip" },
    { PACKED_GZIP, "application/x-gzip" }, { PACKED_XZ, "application/x-xz" },
};

/* The archive a Content-Type value names (parameters after ';' ignored). */
enum packed_kind packed_content_type(const char *value, size_t len)
{
    const char *semi = memchr(value, ';', len);
    if (semi)
        len = (size_t)(semi - value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
        if (strlen(content_types[i].text) == len && strncasecmp(value, content_types[i].text, len) == 0)
            return content_types[i].kind;
    return PACKED_NONE;
}

static const struct packed_name extensions[] = {
    { PACKED_ZIP, ".zip" }, { PACKED_7Z, ".7z" }, { PACKED_RAR, ".rar" }, { PACKED_GZIP, ".gz" },
    { PACKED_GZIP, ".tgz" }, { PACKED_XZ, ".xz" }, { PACKED_XZ, ".txz" },
};

/* The archive a file name's extension names. */
enum packed_kind packed_filename(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++) {
        size_t n = strlen(extensions[i].text);
        if (len > n && strncasecmp(name + len - n, extensions[i].text, n) == 0)
            return extensions[i].kind;
    }
    return PACKED_NONE;
}

/* The start of a multipart/form-data body (RFC 7578): the first part's filename, its
 * Content-Type, and the magic of its first bytes, within the bytes at hand. */
enum packed_kind packed_multipart(const uint8_t *data, size_t len)
{
    const char *text = (const char *)data;
    const char *end = text + len;
    const char *headers_end = memmem(text, len, "\r\n\r\n", 4);
    size_t header_len = headers_end ? (size_t)(headers_end - text) : len;
    const char *filename = memmem(text, header_len, "filename=\"", 10);
    if (filename) {
        filename += 10;
        const char *quote = memchr(filename, '"', (size_t)(text + header_len - filename));
        if (quote) {
            enum packed_kind kind = packed_filename(filename, (size_t)(quote - filename));
            if (kind != PACKED_NONE)
                return kind;
        }
    }
    for (const char *p = text; p + 14 <= text + header_len; p++) {
        if (strncasecmp(p, "Content-Type:", 13) != 0)
            continue;
        const char *value = p + 13;
        while (value < text + header_len && (*value == ' ' || *value == '\t'))
            value++;
        const char *eol = memchr(value, '\r', (size_t)(text + header_len - value));
        size_t value_len = eol ? (size_t)(eol - value) : (size_t)(text + header_len - value);
        enum packed_kind kind = packed_content_type(value, value_len);
        if (kind != PACKED_NONE)
            return kind;
        break;
    }
    if (headers_end)
        return packed_magic((const uint8_t *)headers_end + 4, (size_t)(end - (headers_end + 4)));
    return PACKED_NONE;
}
