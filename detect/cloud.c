/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Cloud storage and file-drop services, by TLS SNI / HTTP Host suffix or by nDPI's
 * application name: the one table to extend when a new service shows up (T1567.002).
 */
#include "detect_internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct cloud_suffix {
    const char *suffix;     /* matches the name itself and its subdomains */
    size_t suffix_len;
    const char *service;
    bool shards;            /* subdomains are storage shards of one service: one destination */
};

/* Every flow record of a named destination is looked up here: lengths are known up front
 * so a lookup measures the name once instead of twice per table entry. */
#define SUFFIX(text) text, sizeof(text) - 1

static const struct cloud_suffix cloud_suffixes[] = {
    { SUFFIX("mega.nz"), "MEGA", true },
    { SUFFIX("mega.co.nz"), "MEGA", true },
    { SUFFIX("mega.io"), "MEGA", true },
    { SUFFIX("pcloud.com"), "pCloud", false },
    { SUFFIX("pcloud.link"), "pCloud", false },
    { SUFFIX("dropbox.com"), "Dropbox", false },
    { SUFFIX("dropboxusercontent.com"), "Dropbox", true },
    { SUFFIX("dropboxapi.com"), "Dropbox", false },
    { SUFFIX("drive.google.com"), "Google Drive", false },
    { SUFFIX("storage.googleapis.com"), "Google Cloud Storage", false },
    { SUFFIX("content.googleapis.com"), "Google Drive", false },
    { SUFFIX("upload.googleapis.com"), "Google Drive", false },
    { SUFFIX("onedrive.live.com"), "OneDrive", false },
    { SUFFIX("storage.live.com"), "OneDrive", false },
    { SUFFIX("1drv.com"), "OneDrive", false },
    { SUFFIX("1drv.ms"), "OneDrive", false },
    { SUFFIX("sharepoint.com"), "SharePoint", false },
    { SUFFIX("box.com"), "Box", false },
    { SUFFIX("boxcloud.com"), "Box", true },
    { SUFFIX("transfer.sh"), "transfer.sh", false },
    { SUFFIX("file.io"), "file.io", false },
    { SUFFIX("gofile.io"), "Gofile", true },
    { SUFFIX("wetransfer.com"), "WeTransfer", true },
    { SUFFIX("we.tl"), "WeTransfer", false },
    { SUFFIX("anonfiles.com"), "AnonFiles", false },
    { SUFFIX("bayfiles.com"), "BayFiles", false },
    { SUFFIX("mediafire.com"), "MediaFire", true },
    { SUFFIX("sendspace.com"), "SendSpace", true },
    { SUFFIX("catbox.moe"), "Catbox", false },
    { SUFFIX("filebin.net"), "Filebin", false },
    { SUFFIX("temp.sh"), "temp.sh", false },
    { SUFFIX("oshi.at"), "oshi.at", false },
    { SUFFIX("s3.amazonaws.com"), "Amazon S3", false },
    { SUFFIX("blob.core.windows.net"), "Azure Blob Storage", false },
    { SUFFIX("icloud-content.com"), "iCloud Drive", true },
    { SUFFIX("disk.yandex.com"), "Yandex Disk", false },
    { SUFFIX("disk.yandex.ru"), "Yandex Disk", false },
    { SUFFIX("backblazeb2.com"), "Backblaze B2", false },
    { SUFFIX("r2.cloudflarestorage.com"), "Cloudflare R2", false },
};

/* nDPI application names (ndpi_protocol_ids.h and its name table). */
static const struct cloud_suffix cloud_apps[] = {
    { SUFFIX("Dropbox"), "Dropbox", false },
    { SUFFIX("GoogleDrive"), "Google Drive", false },
    { SUFFIX("MS_OneDrive"), "OneDrive", false },
    { SUFFIX("OneDrive"), "OneDrive", false },
    { SUFFIX("MEGA"), "MEGA", false },
    { SUFFIX("Mega"), "MEGA", false },
    { SUFFIX("pCloud"), "pCloud", false },
    { SUFFIX("Box"), "Box", false },
};

static bool name_has_suffix(const char *name, size_t name_len, const char *suffix,
                            size_t suffix_len)
{
    if (suffix_len == 0 || name_len < suffix_len)
        return false;
    const char *tail = name + name_len - suffix_len;
    /* The last byte rejects most entries before a full comparison. */
    if (tolower((unsigned char)name[name_len - 1]) != tolower((unsigned char)suffix[suffix_len - 1]) ||
        strcasecmp(tail, suffix) != 0)
        return false;
    return tail == name || tail[-1] == '.';
}

/* Suffix match at a label boundary, case-insensitive. */
bool cloud_name_has_suffix(const char *name, const char *suffix)
{
    return name_has_suffix(name, strlen(name), suffix, strlen(suffix));
}

/* Regional S3 endpoints: s3.<region>.amazonaws.com, s3-<region>.amazonaws.com, and
 * bucket.s3.<region>.amazonaws.com. */
static bool is_regional_s3(const char *name)
{
    if (!cloud_name_has_suffix(name, "amazonaws.com"))
        return false;
    for (const char *p = name; (p = strcasestr(p, "s3")) != NULL; p += 2) {
        bool label_start = p == name || p[-1] == '.';
        if (label_start && (p[2] == '.' || p[2] == '-'))
            return true;
    }
    return false;
}

/* Looks the name up in the suffix table, then the app in the nDPI table. */
const char *cloud_storage_service(const char *server_name, const char *app_protocol,
                                  const char **site)
{
    if (site)
        *site = NULL;
    if (server_name && server_name[0]) {
        size_t name_len = strlen(server_name);
        for (size_t i = 0; i < sizeof(cloud_suffixes) / sizeof(cloud_suffixes[0]); i++) {
            if (!name_has_suffix(server_name, name_len, cloud_suffixes[i].suffix,
                                 cloud_suffixes[i].suffix_len))
                continue;
            if (site && cloud_suffixes[i].shards)
                *site = cloud_suffixes[i].suffix;
            return cloud_suffixes[i].service;
        }
        if (is_regional_s3(server_name))
            return "Amazon S3";
    }
    if (app_protocol && app_protocol[0]) {
        for (size_t i = 0; i < sizeof(cloud_apps) / sizeof(cloud_apps[0]); i++)
            if (strcmp(app_protocol, cloud_apps[i].suffix) == 0)
                return cloud_apps[i].service;
    }
    return NULL;
}
