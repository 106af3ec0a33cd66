/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Creating and opening output files without harming files that are not ours. exflow often
 * runs as root; a symlink or hard link planted at a predictable name must never make it
 * truncate, overwrite or append to another file. The rules (as OpenSSH and logrotate do):
 *   - a directory writable by other users (group or world) without the sticky bit is refused;
 *   - every open of an output path uses O_NOFOLLOW; a new file is created O_EXCL;
 *   - a file replaced as a whole is written to a mkstemp temp file in the same directory,
 *     fsynced and renamed over the target.
 * Every function writes a message naming the path into err on failure.
 */
#ifndef EXFLOW_SAFE_FILE_H
#define EXFLOW_SAFE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Refuses a directory that other users could plant names in (group/world-writable and not
 * sticky). path is a file; its directory is checked. */
bool safe_file_check_dir(const char *path, char *err, size_t err_len);

/* Opens path for appending (O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC, mode for a new file).
 * Refuses a symlink, a hard-linked file, and in a shared sticky directory a file someone
 * else owns. Character devices and FIFOs (/dev/null, a pipe to a shipper) are allowed.
 * Returns the fd or -1. */
int safe_file_open_append(const char *path, mode_t mode, char *err, size_t err_len);

/* Creates path exclusively (O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC), write-only. -1 and
 * errno EEXIST when the name exists, whatever it points to. */
int safe_file_create_excl(const char *path, mode_t mode, char *err, size_t err_len);

/* A whole-file replacement in progress: write to fd, then safe_file_commit or
 * safe_file_abort. */
struct safe_file_temp {
    int fd;
    char temp_path[4096];
    char target[4096];
};

/* mkstemp "TARGET.tmp.XXXXXX" in the target's directory (mode 0600). */
bool safe_file_temp_open(struct safe_file_temp *temp, const char *target, char *err,
                         size_t err_len);

/* fsync, close, rename over the target, fsync the directory. Closes fd in every case. */
bool safe_file_commit(struct safe_file_temp *temp, char *err, size_t err_len);

/* Closes and removes the temp file. */
void safe_file_abort(struct safe_file_temp *temp);

/* write(2) until all of data is written (EINTR retried); false on any other failure. */
bool safe_file_write_all(int fd, const void *data, size_t len);

/* Replaces target with data atomically (temp file + rename). */
bool safe_file_replace(const char *target, const void *data, size_t len, char *err,
                       size_t err_len);

#endif
