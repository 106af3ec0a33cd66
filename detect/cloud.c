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
};

static const struct cloud_suffix cloud_suffixes[] = {
    { "mega.nz", "MEGA" },
    { "mega.co.nz", "MEGA" },
    { "mega.io", "MEGA" },
    { "megaupload.nz", "MEGA" },
    { "pcloud.com", "pCloud" },
    { "pcloud.link", "pCloud" },
    { "dropbox.com", "Dropbox" },
    { "dropboxusercontent.com", "Dropbox" },
    { "dropboxapi.com", "Dropbox" },
    { "drive.google.com", "Google Drive" },
    { "storage.googleapis.com", "Google Cloud Storage" },
    { "content.googleapis.com", "Google Drive" },
    { "upload.googleapis.com", "Google Drive" },
    { "onedrive.live.com", "OneDrive" },
    { "storage.live.com", "OneDrive" },
    { "1drv.com", "OneDrive" },
    { "1drv.ms", "OneDrive" },
    { "sharepoint.com", "SharePoint" },
    { "box.com", "Box" },
    { "boxcloud.com", "Box" },
    { "transfer.sh", "transfer.sh" },
    { "file.io", "file.io" },
    { "gofile.io", "Gofile" },
    { "wetransfer.com", "WeTransfer" },
    { "we.tl", "WeTransfer" },
    { "anonfiles.com", "AnonFiles" },
    { "bayfiles.com", "BayFiles" },
    { "mediafire.com", "MediaFire" },
    { "sendspace.com", "SendSpace" },
    { "catbox.moe", "Catbox" },
    { "filebin.net", "Filebin" },
    { "temp.sh", "temp.sh" },
    { "oshi.at", "oshi.at" },
    { "s3.amazonaws.com", "Amazon S3" },
    { "blob.core.windows.net", "Azure Blob Storage" },
    { "icloud-content.com", "iCloud Drive" },
    { "disk.yandex.com", "Yandex Disk" },
    { "disk.yandex.ru", "Yandex Disk" },
    { "backblazeb2.com", "Backblaze B2" },
    { "r2.cloudflarestorage.com", "Cloudflare R2" },
};

/* nDPI application names (ndpi_protocol_ids.h and its name table). */
static const struct cloud_suffix cloud_apps[] = {
    { "Dropbox", "Dropbox" },
    { "GoogleDrive", "Google Drive" },
    { "MS_OneDrive", "OneDrive" },
    { "OneDrive", "OneDrive" },
    { "MEGA", "MEGA" },
    { "Mega", "MEGA" },
    { "pCloud", "pCloud" },
    { "Box", "Box" },
};

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

const char *cloud_storage_service(const char *server_name, const char *app_protocol)
{
    if (server_name && server_name[0]) {
        for (size_t i = 0; i < sizeof(cloud_suffixes) / sizeof(cloud_suffixes[0]); i++)
            if (cloud_suffixes[i].service && cloud_name_has_suffix(server_name, cloud_suffixes[i].suffix))
                return cloud_suffixes[i].service;
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
