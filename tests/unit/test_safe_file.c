/* SPDX-License-Identifier: GPL-3.0-or-later */
/* common/safe_file: links planted at output names are refused or replaced, never followed;
 * directories others can write are refused unless sticky. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/safe_file.h"

static char dir[] = "/tmp/exflow-safe-file-XXXXXX";
static char target[300], victim[300], name[400];

/* victim's text, for "untouched" checks. */
static const char *read_victim(void)
{
    static char text[64];
    FILE *f = fopen(victim, "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

UNIT_TEST(test_setup)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    FILE *f = fopen(victim, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("keep\n", f);
        fclose(f);
    }
}

UNIT_TEST(test_append_refuses_links)
{
    char err[512] = "";
    snprintf(name, sizeof(name), "%s/sym.json", dir);
    CHECK(symlink(victim, name) == 0);
    CHECK(safe_file_open_append(name, 0644, err, sizeof(err)) < 0);
    CHECK(strstr(err, "symbolic link") != NULL);
    unlink(name);
    snprintf(name, sizeof(name), "%s/hard.json", dir);
    CHECK(link(victim, name) == 0);
    CHECK(safe_file_open_append(name, 0644, err, sizeof(err)) < 0);
    CHECK(strstr(err, "hard links") != NULL);
    unlink(name);
    CHECK_STR(read_victim(), "keep\n");
    int fd = safe_file_open_append("/dev/null", 0644, err, sizeof(err));
    CHECK(fd >= 0);                                 /* a character device is fine */
    if (fd >= 0)
        close(fd);
    snprintf(name, sizeof(name), "%s/new.json", dir);
    fd = safe_file_open_append(name, 0600, err, sizeof(err));
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    unlink(name);
}

UNIT_TEST(test_replace_does_not_follow)
{
    char err[512] = "";
    snprintf(target, sizeof(target), "%s/state", dir);
    CHECK(symlink(victim, target) == 0);
    CHECK(safe_file_replace(target, "new\n", 4, err, sizeof(err)));
    struct stat st;
    CHECK(lstat(target, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
    CHECK_STR(read_victim(), "keep\n");
    unlink(target);
    /* A temp file that cannot be committed leaves nothing behind. */
    struct safe_file_temp temp;
    CHECK(safe_file_temp_open(&temp, target, err, sizeof(err)));
    CHECK(access(temp.temp_path, F_OK) == 0);
    char path[sizeof(temp.temp_path)];
    memcpy(path, temp.temp_path, sizeof(path));
    safe_file_abort(&temp);
    CHECK(access(path, F_OK) != 0);
}

UNIT_TEST(test_create_excl)
{
    char err[512] = "";
    snprintf(name, sizeof(name), "%s/pid", dir);
    CHECK(symlink(victim, name) == 0);
    CHECK(safe_file_create_excl(name, 0644, err, sizeof(err)) < 0);
    CHECK_EQ_U(errno, EEXIST);
    unlink(name);
    int fd = safe_file_create_excl(name, 0644, err, sizeof(err));
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    CHECK(safe_file_create_excl(name, 0644, err, sizeof(err)) < 0);
    unlink(name);
    CHECK_STR(read_victim(), "keep\n");
}

UNIT_TEST(test_shared_dirs)
{
    char err[512] = "", sub[320];
    snprintf(sub, sizeof(sub), "%s/open", dir);
    CHECK(mkdir(sub, 0700) == 0);
    CHECK(chmod(sub, 0777) == 0);
    snprintf(name, sizeof(name), "%s/out.json", sub);
    CHECK(!safe_file_check_dir(name, err, sizeof(err)));
    CHECK(strstr(err, "writable by other users (mode 0777)") != NULL);
    CHECK(safe_file_open_append(name, 0644, err, sizeof(err)) < 0);
    CHECK(!safe_file_replace(name, "x", 1, err, sizeof(err)));
    CHECK(access(name, F_OK) != 0);
    CHECK(chmod(sub, 01777) == 0);                  /* sticky, as /tmp: allowed */
    CHECK(safe_file_check_dir(name, err, sizeof(err)));
    CHECK(safe_file_replace(name, "x", 1, err, sizeof(err)));
    unlink(name);
    rmdir(sub);
    snprintf(name, sizeof(name), "%s/no/such/dir/file", dir);
    CHECK(!safe_file_check_dir(name, err, sizeof(err)));
    CHECK(strstr(err, "cannot create") != NULL);
}

UNIT_TEST(test_teardown)
{
    unlink(victim);
    CHECK(rmdir(dir) == 0);
}

UNIT_MAIN("safe_file",
          UNIT_CASE(test_setup), UNIT_CASE(test_append_refuses_links),
          UNIT_CASE(test_replace_does_not_follow), UNIT_CASE(test_create_excl),
          UNIT_CASE(test_shared_dirs), UNIT_CASE(test_teardown))
