/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * common/safe_file.c: see safe_file.h. THREAT: a local user who can write in the directory
 * of an output file plants a symlink or hard link there and waits for root to write.
 */
#include "safe_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory part of path, into buf. */
static const char *dir_of(const char *path, char *buf, size_t buf_len)
{
    snprintf(buf, buf_len, "%s", path);
    return dirname(buf);
}

/* Other users can create names in it: world-writable, or group-writable by a group other
 * than root's (logrotate's rule: gid 0 is as trusted as root). */
static bool dir_shared(const struct stat *st)
{
    return (st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid != 0);
}

bool safe_file_check_dir(const char *path, char *err, size_t err_len)
{
    char buf[4096];
    const char *dir = dir_of(path, buf, sizeof(buf));
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, err_len, "%s: cannot create in %s: %s", path, dir, strerror(errno));
        return false;
    }
    if (dir_shared(&st) && !(st.st_mode & S_ISVTX)) {
        snprintf(err, err_len,
                 "%s: refusing to write in %s: the directory is writable by other users "
                 "(mode %04o) and not sticky, so anyone could plant a link there (make it "
                 "0755 or choose another directory)",
                 path, dir, (unsigned)(st.st_mode & 07777));
        errno = EPERM;
        return false;
    }
    return true;
}

/* Says why an open with O_NOFOLLOW failed, in words an operator acts on. */
static void open_error(const char *path, const char *what, int saved_errno, char *err,
                       size_t err_len)
{
    if (saved_errno == ELOOP)
        snprintf(err, err_len, "%s: is a symbolic link; refusing to follow it (remove it)", path);
    else
        snprintf(err, err_len, "%s: %s: %s", path, what, strerror(saved_errno));
    errno = saved_errno;
}

int safe_file_open_append(const char *path, mode_t mode, char *err, size_t err_len)
{
    if (!safe_file_check_dir(path, err, err_len))
        return -1;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
        open_error(path, "cannot open", errno, err, err_len);
        return -1;
    }
    struct stat st, dir_st;
    char buf[4096];
    if (fstat(fd, &st) != 0 || stat(dir_of(path, buf, sizeof(buf)), &dir_st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
        return fd;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "%s: not a regular file", path);
        goto fail;
    }
    /* A second name for the file: it may be a link to a file elsewhere that is not ours. */
    if (st.st_nlink > 1) {
        snprintf(err, err_len, "%s: has %lu hard links; refusing to append to it (remove it)",
                 path, (unsigned long)st.st_nlink);
        goto fail;
    }
    /* In /tmp-like directories anyone may have created the name first. */
    if (dir_shared(&dir_st) && st.st_uid != geteuid()) {
        snprintf(err, err_len, "%s: owned by uid %lu in a shared directory; refusing to "
                 "append to it", path, (unsigned long)st.st_uid);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

int safe_file_create_excl(const char *path, mode_t mode, char *err, size_t err_len)
{
    if (!safe_file_check_dir(path, err, err_len))
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
        int saved_errno = errno;
        open_error(path, "cannot create", saved_errno, err, err_len);
    }
    return fd;
}

bool safe_file_temp_open(struct safe_file_temp *temp, const char *target, char *err,
                         size_t err_len)
{
    temp->fd = -1;
    temp->temp_path[0] = '\0';
    int n = snprintf(temp->target, sizeof(temp->target), "%s", target);
    int m = snprintf(temp->temp_path, sizeof(temp->temp_path), "%s.tmp.XXXXXX", target);
    if (n < 0 || (size_t)n >= sizeof(temp->target) || m < 0 ||
        (size_t)m >= sizeof(temp->temp_path)) {
        snprintf(err, err_len, "%s: path too long", target);
        temp->temp_path[0] = '\0';
        return false;
    }
    if (!safe_file_check_dir(target, err, err_len)) {
        temp->temp_path[0] = '\0';
        return false;
    }
    /* mkstemp: O_CREAT|O_EXCL, mode 0600, a name nobody can predict. */
    temp->fd = mkostemp(temp->temp_path, O_CLOEXEC);
    if (temp->fd < 0) {
        snprintf(err, err_len, "%s: cannot create %s: %s", target, temp->temp_path,
                 strerror(errno));
        temp->temp_path[0] = '\0';
        return false;
    }
    return true;
}

bool safe_file_commit(struct safe_file_temp *temp, char *err, size_t err_len)
{
    bool ok = fsync(temp->fd) == 0;
    int saved_errno = errno;
    if (close(temp->fd) != 0 && ok) {
        ok = false;
        saved_errno = errno;
    }
    temp->fd = -1;
    if (!ok) {
        snprintf(err, err_len, "%s: write %s: %s", temp->target, temp->temp_path,
                 strerror(saved_errno));
        safe_file_abort(temp);
        return false;
    }
    /* rename replaces the name itself: a symlink at the target is replaced, not followed. */
    if (rename(temp->temp_path, temp->target) != 0) {
        snprintf(err, err_len, "%s: rename: %s", temp->target, strerror(errno));
        safe_file_abort(temp);
        return false;
    }
    temp->temp_path[0] = '\0';
    /* Make the rename itself durable. */
    char buf[4096];
    int dir_fd = open(dir_of(temp->target, buf, sizeof(buf)), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
    return true;
}

void safe_file_abort(struct safe_file_temp *temp)
{
    int saved_errno = errno;   /* callers report the error that made them abort */
    if (temp->fd >= 0)
        close(temp->fd);
    temp->fd = -1;
    if (temp->temp_path[0] != '\0')
        unlink(temp->temp_path);
    temp->temp_path[0] = '\0';
    errno = saved_errno;
}

bool safe_file_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool safe_file_replace(const char *target, const void *data, size_t len, char *err,
                       size_t err_len)
{
    struct safe_file_temp temp;
    if (!safe_file_temp_open(&temp, target, err, err_len))
        return false;
    if (!safe_file_write_all(temp.fd, data, len)) {
        snprintf(err, err_len, "%s: write %s: %s", target, temp.temp_path, strerror(errno));
        safe_file_abort(&temp);
        return false;
    }
    return safe_file_commit(&temp, err, err_len);
}
