/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/syslog_tls.c: syslog over TLS (RFC 5425) for the TCP sink, with GnuTLS, the library
 * rsyslog's own gtls driver uses. The sink owns the socket and the spool; this file owns the
 * credentials (loaded once at start, so a bad file is a start-up error) and one session per
 * connection.
 *
 * RFC 5425 section 5.2: the client verifies the server's certificate chain and that it was
 * issued for the host named in the URL; TLS 1.2 is the oldest version offered. Application
 * data is only ever written after a handshake that verified, so no alert leaves in clear.
 *
 * The transport functions count the bytes that go into the socket: the sink maps the
 * socket's unacknowledged bytes (SIOCOUTQ) back to plaintext through them.
 */
#include "output_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* TLS 1.2 and 1.3 only, GnuTLS's vetted defaults otherwise (RFC 5425 and RFC 9325). */
#define SYSLOG_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct syslog_tls {
    gnutls_certificate_credentials_t credentials;
    gnutls_session_t session;          /* NULL between connections */
    char host[256];                    /* checked against the certificate */
    bool host_is_address;              /* an IP literal: no SNI (RFC 6066 section 3) */
    int fd;
    uint64_t pushed;                   /* bytes this session wrote into the socket */
};

/* "--syslog-ca FILE: ...": the option's name and GnuTLS's reason. */
static bool load_failed(char *err, size_t err_len, const char *option, const char *file, int rc)
{
    snprintf(err, err_len, "%s %s: cannot load: %s", option, file, gnutls_strerror(rc));
    return false;
}

static bool tls_load_credentials(struct syslog_tls *tls, const struct output_config *config,
                                 char *err, size_t err_len)
{
    int rc = gnutls_certificate_allocate_credentials(&tls->credentials);
    if (rc < 0) {
        snprintf(err, err_len, "TLS set-up failed: %s", gnutls_strerror(rc));
        return false;
    }
    if (config->syslog_ca != NULL) {
        rc = gnutls_certificate_set_x509_trust_file(tls->credentials, config->syslog_ca,
                                                    GNUTLS_X509_FMT_PEM);
        if (rc <= 0)
            return load_failed(err, err_len, "--syslog-ca", config->syslog_ca,
                               rc == 0 ? GNUTLS_E_NO_CERTIFICATE_FOUND : rc);
    } else {
        rc = gnutls_certificate_set_x509_system_trust(tls->credentials);
        if (rc <= 0) {
            snprintf(err, err_len, "--syslog tls://: the system trust store holds no CA "
                     "certificate (%s); give the collector's CA with --syslog-ca",
                     rc < 0 ? gnutls_strerror(rc) : "empty");
            return false;
        }
    }
    if ((config->syslog_cert == NULL) != (config->syslog_key == NULL)) {
        snprintf(err, err_len, "--syslog-cert and --syslog-key go together (mutual TLS)");
        return false;
    }
    if (config->syslog_cert != NULL) {
        rc = gnutls_certificate_set_x509_key_file(tls->credentials, config->syslog_cert,
                                                  config->syslog_key, GNUTLS_X509_FMT_PEM);
        if (rc < 0) {
            snprintf(err, err_len, "--syslog-cert %s / --syslog-key %s: cannot load: %s",
                     config->syslog_cert, config->syslog_key, gnutls_strerror(rc));
            return false;
        }
    }
    return true;
}

struct syslog_tls *syslog_tls_new(const struct output_config *config, const char *host,
                                  char *err, size_t err_len)
{
    struct syslog_tls *tls = calloc(1, sizeof(*tls));
    if (tls == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    tls->fd = -1;
    snprintf(tls->host, sizeof(tls->host), "%s", host);
    unsigned char address[16];
    tls->host_is_address = inet_pton(AF_INET, host, address) == 1 ||
                           inet_pton(AF_INET6, host, address) == 1;
    if (!tls_load_credentials(tls, config, err, err_len)) {
        syslog_tls_free(tls);
        return NULL;
    }
    return tls;
}

/* GnuTLS writes through these: the socket is non-blocking, EAGAIN goes back as is. */
static ssize_t tls_push(gnutls_transport_ptr_t context, const void *data, size_t len)
{
    struct syslog_tls *tls = context;
    ssize_t n = send(tls->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
        tls->pushed += (uint64_t)n;
    return n;
}

static ssize_t tls_pull(gnutls_transport_ptr_t context, void *data, size_t len)
{
    struct syslog_tls *tls = context;
    return recv(tls->fd, data, len, MSG_DONTWAIT);
}

bool syslog_tls_start(struct syslog_tls *tls, int fd, char *why, size_t why_len)
{
    syslog_tls_end(tls);
    int rc = gnutls_init(&tls->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
    if (rc < 0) {
        tls->session = NULL;
        snprintf(why, why_len, "TLS: %s", gnutls_strerror(rc));
        return false;
    }
    const char *error_at = NULL;
    rc = gnutls_priority_set_direct(tls->session, SYSLOG_TLS_PRIORITY, &error_at);
    if (rc >= 0)
        rc = gnutls_credentials_set(tls->session, GNUTLS_CRD_CERTIFICATE, tls->credentials);
    if (rc >= 0 && !tls->host_is_address)
        rc = gnutls_server_name_set(tls->session, GNUTLS_NAME_DNS, tls->host, strlen(tls->host));
    if (rc < 0) {
        snprintf(why, why_len, "TLS: %s", gnutls_strerror(rc));
        syslog_tls_end(tls);
        return false;
    }
    /* The handshake itself fails when the chain or the name does not verify. */
    gnutls_session_set_verify_cert(tls->session, tls->host, 0);
    tls->fd = fd;
    tls->pushed = 0;
    gnutls_transport_set_ptr(tls->session, tls);
    gnutls_transport_set_push_function(tls->session, tls_push);
    gnutls_transport_set_pull_function(tls->session, tls_pull);
    return true;
}

/* Why the collector's certificate was refused, in GnuTLS's words. */
static void tls_describe_verify_failure(struct syslog_tls *tls, char *why, size_t why_len)
{
    unsigned status = gnutls_session_get_verify_cert_status(tls->session);
    gnutls_datum_t text = { NULL, 0 };
    gnutls_certificate_type_t type = gnutls_certificate_type_get(tls->session);
    if (gnutls_certificate_verification_status_print(status, type, &text, 0) == 0 && text.data) {
        size_t len = strlen((const char *)text.data);
        while (len > 0 && (text.data[len - 1] == ' ' || text.data[len - 1] == '.'))
            len--;
        snprintf(why, why_len, "TLS: the collector's certificate for %s was rejected: %.*s "
                 "(check --syslog-ca and the certificate's names)", tls->host, (int)len,
                 (const char *)text.data);
        gnutls_free(text.data);
    } else {
        snprintf(why, why_len, "TLS: the collector's certificate for %s was rejected "
                 "(status 0x%x)", tls->host, status);
    }
}

int syslog_tls_handshake(struct syslog_tls *tls, char *why, size_t why_len)
{
    int rc = gnutls_handshake(tls->session);
    if (rc == GNUTLS_E_SUCCESS)
        return 1;
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(rc))
        return 0;
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
        tls_describe_verify_failure(tls, why, why_len);
    else if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
        snprintf(why, why_len, "TLS handshake refused by the collector: %s (a client "
                 "certificate it requires? see --syslog-cert)",
                 gnutls_alert_get_name(gnutls_alert_get(tls->session)));
    else
        snprintf(why, why_len, "TLS handshake failed: %s", gnutls_strerror(rc));
    return -1;
}

ssize_t syslog_tls_send(struct syslog_tls *tls, const void *data, size_t len, char *why,
                        size_t why_len)
{
    ssize_t n = gnutls_record_send(tls->session, data, len);
    if (n >= 0)
        return n;
    /* GnuTLS keeps what it could not push: the next call repeats the same data. */
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        return SYSLOG_TLS_AGAIN;
    snprintf(why, why_len, "TLS: %s", gnutls_strerror((int)n));
    return SYSLOG_TLS_FAILED;
}

bool syslog_tls_drain(struct syslog_tls *tls, char *why, size_t why_len)
{
    char discard[1024];
    for (;;) {
        ssize_t n = gnutls_record_recv(tls->session, discard, sizeof(discard));
        if (n > 0)
            continue; /* a syslog collector sends no data; TLS 1.3 tickets are handled inside */
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            return true;
        if (n == 0) {
            snprintf(why, why_len, "connection closed by the collector (TLS close_notify)");
            return false;
        }
        if (!gnutls_error_is_fatal((int)n))
            continue;
        snprintf(why, why_len, "TLS: %s", gnutls_strerror((int)n));
        return false;
    }
}

uint64_t syslog_tls_pushed(const struct syslog_tls *tls)
{
    return tls->pushed;
}

void syslog_tls_end(struct syslog_tls *tls)
{
    if (tls->session != NULL)
        gnutls_deinit(tls->session);
    tls->session = NULL;
    tls->fd = -1;
}

void syslog_tls_free(struct syslog_tls *tls)
{
    if (tls == NULL)
        return;
    syslog_tls_end(tls);
    if (tls->credentials != NULL)
        gnutls_certificate_free_credentials(tls->credentials);
    free(tls);
}
