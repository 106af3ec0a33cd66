/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the TCP syslog spool an earlier run left on disk (output/spool.c):
 * the spool file and its offset file are read at start, like the state file. The first
 * input byte is the length of the offset file's text (0: no offset file), that text
 * follows, the rest is the spool file. What spool_open accepts must be readable to its end,
 * with checksums verified (a damaged frame is skipped and counted, never returned); after a
 * frame is appended, half the pending frames acknowledged and a checkpoint written,
 * a reopen must find exactly the frames that are still pending.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_spool
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "output/output_internal.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    log_threshold = LOG_LEVEL_ERROR;
    if (size < 1)
        return 0;
    size_t offset_len = data[0];
    if (offset_len > size - 1)
        offset_len = size - 1;
    if (fuzz_file_write("exflow-syslog.spool", data + 1 + offset_len, size - 1 - offset_len) == NULL)
        return 0;
    char offset_path[300];
    snprintf(offset_path, sizeof(offset_path), "%s/exflow-syslog.offset", fuzz_file_dir);
    if (offset_len > 0) {
        if (fuzz_file_write("exflow-syslog.offset", data + 1, offset_len) == NULL)
            return 0;
    } else {
        unlink(offset_path);
    }

    struct spool spool;
    err[0] = '\0';
    if (!spool_open(&spool, fuzz_file_dir, 16 * 1024 * 1024, err, sizeof(err))) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    /* Every pending frame can be read; what comes back is whole RFC 6587 frames only. */
    static char buf[SPOOL_MAX_RECORD];
    uint64_t pending = spool_pending_bytes(&spool);
    for (uint64_t at = spool.delivered; at < spool.size;) {
        uint64_t next = at;
        long n = spool_read_frames(&spool, at, buf, sizeof(buf), 0, &next);
        if (n < 0 || next <= at)
            abort();
        for (long used = 0; used < n;) {
            char *end;
            unsigned long frame_len = strtoul(buf + used, &end, 10);
            if (end == buf + used || *end != ' ' || (end - buf) + 1 + (long)frame_len > n)
                abort();
            used = (end - buf) + 1 + (long)frame_len;
        }
        at = next;
    }
    /* Reading again finds the same damage and counts it once. */
    uint64_t corrupt = spool.corrupt_frames;
    uint64_t ignored;
    if (spool_read_frames(&spool, spool.delivered, buf, sizeof(buf), 0, &ignored) < 0 ||
        spool.corrupt_frames != corrupt)
        abort();
    uint64_t previous = spool.delivered;
    for (size_t i = 0; i < spool.frame_count; i++) {
        uint64_t end = spool.frame_ends[spool.frame_head + i];
        if (end <= previous || end > spool.size)
            abort();
        previous = end;
    }
    if (spool.frame_count > 0 && previous != spool.size)
        abort();
    if (spool.frame_count == 0 && pending != 0)
        abort();

    /* A restart keeps exactly what was not acknowledged. */
    if (spool_append(&spool, "11 <13>1 - - -", 14) != SPOOL_APPEND_OK)
        abort();
    size_t frames = spool_pending_frames(&spool);
    uint64_t acked = spool.frame_ends[spool.frame_head + frames / 2];
    spool_mark_delivered(&spool, acked);
    size_t left = spool_pending_frames(&spool);
    uint64_t left_bytes = spool_pending_bytes(&spool);
    bool saved = spool_checkpoint(&spool);
    spool_close(&spool);
    if (!spool_open(&spool, fuzz_file_dir, 16 * 1024 * 1024, err, sizeof(err))) {
        fprintf(stderr, "fuzz_spool: the spool it wrote does not open again: %s\n", err);
        abort();
    }
    if (saved && (spool_pending_frames(&spool) != left || spool_pending_bytes(&spool) != left_bytes)) {
        fprintf(stderr, "fuzz_spool: %zu frames (%llu bytes) pending before the restart, "
                "%zu (%llu) after\n", left, (unsigned long long)left_bytes,
                spool_pending_frames(&spool), (unsigned long long)spool_pending_bytes(&spool));
        abort();
    }
    spool_close(&spool);
    return 0;
}
