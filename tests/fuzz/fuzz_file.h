/* SPDX-License-Identifier: GPL-3.0-or-later */
/* For harnesses whose input is a file: writes the bytes to a per-process scratch file. */
#ifndef EXFLOW_FUZZ_FILE_H
#define EXFLOW_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_file_dir[256];

static inline void fuzz_file_cleanup(void)
{
    static const char *const names[] = {
        "allowlist", "state", "state.lock", "ck", "ck.detect", "exflow-syslog.spool", "exflow-syslog.spool.tmp",
        "exflow-syslog.offset", "exflow-syslog.offset.tmp", "exflow-syslog.lock",
    };
    char path[300];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fuzz_file_dir, names[i]);
        unlink(path);
    }
    rmdir(fuzz_file_dir);
}

/* Path of the written file (valid until the next call), NULL when it cannot be written. */
static inline const char *fuzz_file_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[300];
    if (fuzz_file_dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_file_dir, sizeof(fuzz_file_dir), "%s/exflow-fuzz.XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        if (mkdtemp(fuzz_file_dir) == NULL) {
            fuzz_file_dir[0] = '\0';
            return NULL;
        }
        atexit(fuzz_file_cleanup);
    }
    snprintf(path, sizeof(path), "%s/%s", fuzz_file_dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return NULL;
    size_t written = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || written != size)
        return NULL;
    return path;
}

#endif
