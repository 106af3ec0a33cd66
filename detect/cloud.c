/*
 * Cloud storage and file-drop services, by TLS SNI / HTTP Host suffix or by nDPI's
 * application name: the one table to extend when a new service shows up (T1567.002).
 */
#include "detect_internal.h"

#include <string.h>
#include <strings.h>

struct cloud_suffix {
    const char *suffix;     /* matches the name itself and its subdomains */
    const char *service;
    bool shards;            /* subdomains are storage shards of one service: one destination */
};

static const struct cloud_suffix cloud_suffixes[] = {
    { "mega.nz", "MEGA", true },
    { "mega.co.nz", "MEGA", true },
    { "mega.io", "MEGA", true },
    { "pcloud.com", "pCloud", false },
    { "pcloud.link", "pCloud", false },
    { "dropbox.com", "Dropbox", false },
    { "dropboxusercontent.com", "Dropbox", true },
    { "dropboxapi.com", "Dropbox", false },
    { "drive.google.com", "Google Drive", false },
    { "storage.googleapis.com", "Google Cloud Storage", false },
    { "content.googleapis.com", "Google Drive", false },
    { "upload.googleapis.com", "Google Drive", false },
    { "onedrive.live.com", "OneDrive", false },
    { "storage.live.com", "OneDrive", false },
    { "1drv.com", "OneDrive", false },
    { "1drv.ms", "OneDrive", false },
    { "sharepoint.com", "SharePoint", false },
    { "box.com", "Box", false },
    { "boxcloud.com", "Box", true },
    { "transfer.sh", "transfer.sh", false },
    { "file.io", "file.io", false },
    { "gofile.io", "Gofile", true },
    { "wetransfer.com", "WeTransfer", true },
    { "we.tl", "WeTransfer", false },
    { "anonfiles.com", "AnonFiles", false },
    { "bayfiles.com", "BayFiles", false },
    { "mediafire.com", "MediaFire", true },
    { "sendspace.com", "SendSpace", true },
    { "catbox.moe", "Catbox", false },
    { "filebin.net", "Filebin", false },
    { "temp.sh", "temp.sh", false },
    { "oshi.at", "oshi.at", false },
    { "s3.amazonaws.com", "Amazon S3", false },
    { "blob.core.windows.net", "Azure Blob Storage", false },
    { "icloud-content.com", "iCloud Drive", true },
    { "disk.yandex.com", "Yandex Disk", false },
    { "disk.yandex.ru", "Yandex Disk", false },
    { "backblazeb2.com", "Backblaze B2", false },
    { "r2.cloudflarestorage.com", "Cloudflare R2", false },
};

/* nDPI application names (ndpi_protocol_ids.h and its name table). */
static const struct cloud_suffix cloud_apps[] = {
    { "Dropbox", "Dropbox", false },
    { "GoogleDrive", "Google Drive", false },
    { "MS_OneDrive", "OneDrive", false },
    { "OneDrive", "OneDrive", false },
    { "MEGA", "MEGA", false },
    { "Mega", "MEGA", false },
    { "pCloud", "pCloud", false },
    { "Box", "Box", false },
};

/* Suffix match at a label boundary, case-insensitive. */
bool cloud_name_has_suffix(const char *name, const char *suffix)
{
    size_t name_len = strlen(name), suffix_len = strlen(suffix);
    if (suffix_len == 0 || name_len < suffix_len)
        return false;
    const char *tail = name + name_len - suffix_len;
    if (strcasecmp(tail, suffix) != 0)
        return false;
    return tail == name || tail[-1] == '.';
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
        for (size_t i = 0; i < sizeof(cloud_suffixes) / sizeof(cloud_suffixes[0]); i++) {
            if (!cloud_name_has_suffix(server_name, cloud_suffixes[i].suffix))
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
