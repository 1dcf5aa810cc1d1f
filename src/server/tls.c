/*
 * tls.c — OpenSSL over memory BIOs (tls.h): contexts built from files, reloads that keep the
 * old context when they fail, and sessions that turn ciphertext into plaintext and back
 * without a socket.
 *
 * Each session's SSL reads from `incoming` (ciphertext the caller received) and writes to
 * `outgoing` (ciphertext the caller must send). Both are memory BIOs owned by the SSL. An
 * empty `incoming` makes OpenSSL answer SSL_ERROR_WANT_READ, which is "need more bytes", never
 * an error; SSL_ERROR_WANT_WRITE cannot happen, because a memory BIO takes every write.
 * Plaintext is written only once the handshake is done (tls_session_write), so no SSL_write
 * ever has to be retried with the same buffer — the one rule of OpenSSL's non-blocking API
 * that would otherwise leak into the callers.
 */
#include "server/tls.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* A TLS record starts with its content type; a handshake record is 22. Anything else as the
 * first byte an acceptor sees is not a TLS client (a plaintext RESP or peer frame). */
#define TLS_RECORD_HANDSHAKE 0x16

struct tls_context {
    SSL_CTX *ssl_context; /* replaced by a reload; sessions hold their own reference */
    struct tls_files files;
    enum tls_verify verify;
    char name[32];
    unsigned long generation;
};

struct tls_session {
    SSL *ssl;
    BIO *incoming; /* owned by ssl */
    BIO *outgoing; /* owned by ssl */
    bool accept;
    bool received_any;
    bool failed;
    char error[TLS_ERROR_BYTES];
};

const char *tls_error_string(int error)
{
    switch (error) {
#define TLS_ERROR_CASE(name, value, text)                                                          \
    case name:                                                                                     \
        return text;
        TLS_ERRORS(TLS_ERROR_CASE)
#undef TLS_ERROR_CASE
    }
    return "unknown";
}

/* OpenSSL's first queued reason, or `fallback`; the queue is emptied. */
static void openssl_reason(char *out, size_t out_bytes, const char *fallback)
{
    unsigned long code = ERR_get_error();
    if (code == 0) {
        snprintf(out, out_bytes, "%s", fallback);
    } else {
        ERR_error_string_n(code, out, out_bytes);
    }
    ERR_clear_error();
}

/* ---- contexts ---- */

/* fopen first: "No such file or directory" says more than OpenSSL's "system lib". */
static int check_readable(const char *setting, const char *path, char *error, size_t error_bytes)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(error, error_bytes, "cannot read %s %s: %s", setting, path, strerror(errno));
        return TLS_ERROR_FILE;
    }
    fclose(file);
    return TLS_OK;
}

static int load_identity(SSL_CTX *ssl_context, const struct tls_files *files, char *error,
                         size_t error_bytes)
{
    char reason[TLS_ERROR_BYTES];
    if (check_readable("tls-cert-file", files->cert_file, error, error_bytes) != TLS_OK ||
        check_readable("tls-key-file", files->key_file, error, error_bytes) != TLS_OK) {
        return TLS_ERROR_FILE;
    }
    if (SSL_CTX_use_certificate_chain_file(ssl_context, files->cert_file) != 1) {
        openssl_reason(reason, sizeof reason, "not a PEM certificate");
        snprintf(error, error_bytes, "tls-cert-file %s is not usable: %s", files->cert_file,
                 reason);
        return TLS_ERROR_FILE;
    }
    if (SSL_CTX_use_PrivateKey_file(ssl_context, files->key_file, SSL_FILETYPE_PEM) != 1) {
        openssl_reason(reason, sizeof reason, "not a PEM private key");
        snprintf(error, error_bytes, "tls-key-file %s is not usable with tls-cert-file %s: %s",
                 files->key_file, files->cert_file, reason);
        return TLS_ERROR_FILE;
    }
    if (SSL_CTX_check_private_key(ssl_context) != 1) {
        openssl_reason(reason, sizeof reason, "mismatch");
        snprintf(error, error_bytes, "tls-key-file %s does not match tls-cert-file %s: %s",
                 files->key_file, files->cert_file, reason);
        return TLS_ERROR_FILE;
    }
    return TLS_OK;
}

static int load_authorities(SSL_CTX *ssl_context, const struct tls_files *files, bool accept_names,
                            char *error, size_t error_bytes)
{
    char reason[TLS_ERROR_BYTES];
    if (check_readable("tls-ca-cert-file", files->ca_cert_file, error, error_bytes) != TLS_OK) {
        return TLS_ERROR_FILE;
    }
    if (SSL_CTX_load_verify_locations(ssl_context, files->ca_cert_file, NULL) != 1) {
        openssl_reason(reason, sizeof reason, "no certificate in it");
        snprintf(error, error_bytes, "tls-ca-cert-file %s is not usable: %s", files->ca_cert_file,
                 reason);
        return TLS_ERROR_FILE;
    }
    if (accept_names) {
        /* The CA names sent in CertificateRequest, so a client picks the right certificate. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(files->ca_cert_file);
        if (names != NULL) {
            SSL_CTX_set_client_CA_list(ssl_context, names); /* takes ownership */
        }
        ERR_clear_error();
    }
    return TLS_OK;
}

static SSL_CTX *build_ssl_context(const struct tls_files *files, enum tls_verify verify,
                                  char *error, size_t error_bytes)
{
    ERR_clear_error();
    SSL_CTX *ssl_context = SSL_CTX_new(TLS_method());
    if (ssl_context == NULL) {
        snprintf(error, error_bytes, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl_context, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl_context, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                         SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle connections keep no 34 KiB of buffers each. */
    SSL_CTX_set_mode(ssl_context, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ssl_context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ssl_context, 0);
    if (load_identity(ssl_context, files, error, error_bytes) != TLS_OK) {
        goto free_context;
    }
    int mode = SSL_VERIFY_NONE;
    if (verify == TLS_VERIFY_REQUIRED) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    } else if (verify == TLS_VERIFY_OPTIONAL) {
        mode = SSL_VERIFY_PEER;
    }
    if (files->ca_cert_file[0] != '\0') {
        if (load_authorities(ssl_context, files, verify != TLS_VERIFY_NONE, error, error_bytes) !=
            TLS_OK) {
            goto free_context;
        }
    } else if (verify != TLS_VERIFY_NONE) {
        snprintf(error, error_bytes, "tls-ca-cert-file is needed to verify certificates");
        goto free_context;
    }
    SSL_CTX_set_verify(ssl_context, mode, NULL);
    return ssl_context;

free_context:
    SSL_CTX_free(ssl_context);
    ERR_clear_error();
    return NULL;
}

int tls_context_create(const struct tls_files *files, enum tls_verify verify, const char *name,
                       struct tls_context **out, char *error, size_t error_bytes)
{
    *out = NULL;
    struct tls_context *context = calloc(1, sizeof *context);
    if (context == NULL) {
        snprintf(error, error_bytes, "out of memory for the %s TLS context", name);
        return TLS_ERROR_NO_MEMORY;
    }
    context->files = *files;
    context->verify = verify;
    snprintf(context->name, sizeof context->name, "%s", name);
    context->ssl_context = build_ssl_context(files, verify, error, error_bytes);
    if (context->ssl_context == NULL) {
        free(context);
        return TLS_ERROR_FILE;
    }
    *out = context;
    return TLS_OK;
}

int tls_context_reload(struct tls_context *context, char *error, size_t error_bytes)
{
    assert(context->ssl_context != NULL);
    SSL_CTX *fresh = build_ssl_context(&context->files, context->verify, error, error_bytes);
    if (fresh == NULL) {
        return TLS_ERROR_FILE;
    }
    SSL_CTX_free(context->ssl_context); /* open sessions keep their own reference */
    context->ssl_context = fresh;
    context->generation++;
    return TLS_OK;
}

void tls_context_free(struct tls_context *context)
{
    if (context == NULL) {
        return;
    }
    SSL_CTX_free(context->ssl_context);
    free(context);
}

unsigned long tls_context_generation(const struct tls_context *context)
{
    return context->generation;
}

/* ---- sessions ---- */

int tls_session_new(struct tls_context *context, bool accept, struct tls_session **out)
{
    *out = NULL;
    ERR_clear_error();
    struct tls_session *session = calloc(1, sizeof *session);
    if (session == NULL) {
        return TLS_ERROR_NO_MEMORY;
    }
    session->accept = accept;
    session->ssl = SSL_new(context->ssl_context);
    session->incoming = BIO_new(BIO_s_mem());
    session->outgoing = BIO_new(BIO_s_mem());
    if (session->ssl == NULL || session->incoming == NULL || session->outgoing == NULL) {
        BIO_free(session->incoming);
        BIO_free(session->outgoing);
        SSL_free(session->ssl);
        free(session);
        ERR_clear_error();
        return TLS_ERROR_NO_MEMORY;
    }
    /* An empty incoming BIO means "retry later", not end of file. */
    BIO_set_mem_eof_return(session->incoming, -1);
    SSL_set_bio(session->ssl, session->incoming, session->outgoing);
    if (accept) {
        SSL_set_accept_state(session->ssl);
    } else {
        SSL_set_connect_state(session->ssl);
    }
    *out = session;
    return TLS_OK;
}

void tls_session_free(struct tls_session *session)
{
    if (session == NULL) {
        return;
    }
    SSL_free(session->ssl); /* frees both BIOs */
    free(session);
}

static int session_fail(struct tls_session *session, const char *format, const char *detail)
{
    session->failed = true;
    snprintf(session->error, sizeof session->error, format, detail);
    ERR_clear_error();
    return TLS_ERROR_PROTOCOL;
}

/* Classifies an SSL call's result: TLS_OK for "need more bytes", else closed or failed. */
static int session_result(struct tls_session *session, int rc)
{
    int code = SSL_get_error(session->ssl, rc);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return TLS_OK;
    }
    if (code == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return TLS_ERROR_CLOSED;
    }
    long verify = SSL_get_verify_result(session->ssl);
    char reason[TLS_ERROR_BYTES - 64];
    openssl_reason(reason, sizeof reason, "TLS failure without a reason");
    if (verify != X509_V_OK) {
        return session_fail(session, "certificate verification failed: %s",
                            X509_verify_cert_error_string(verify));
    }
    return session_fail(session, "%s", reason);
}

int tls_session_receive(struct tls_session *session, const void *bytes, size_t count)
{
    if (session->failed) {
        return TLS_ERROR_PROTOCOL;
    }
    if (count == 0) {
        return TLS_OK;
    }
    if (session->accept && !session->received_any &&
        ((const unsigned char *)bytes)[0] != TLS_RECORD_HANDSHAKE) {
        return session_fail(session, "%s",
                            "the first bytes are not a TLS handshake (plaintext on a TLS port?)");
    }
    session->received_any = true;
    ERR_clear_error();
    size_t offset = 0;
    while (offset < count) {
        size_t chunk = count - offset > (size_t)INT32_MAX ? (size_t)INT32_MAX : count - offset;
        int written = BIO_write(session->incoming, (const char *)bytes + offset, (int)chunk);
        if (written <= 0) {
            ERR_clear_error();
            return TLS_ERROR_NO_MEMORY;
        }
        offset += (size_t)written;
    }
    return TLS_OK;
}

int tls_session_handshake(struct tls_session *session)
{
    if (session->failed) {
        return TLS_ERROR_PROTOCOL;
    }
    if (SSL_is_init_finished(session->ssl)) {
        return TLS_OK;
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(session->ssl);
    return rc == 1 ? TLS_OK : session_result(session, rc);
}

bool tls_session_established(const struct tls_session *session)
{
    return !session->failed && SSL_is_init_finished(session->ssl);
}

int tls_session_read(struct tls_session *session, void *out, size_t capacity, size_t *read_bytes)
{
    *read_bytes = 0;
    if (session->failed) {
        return TLS_ERROR_PROTOCOL;
    }
    if (capacity == 0) {
        return tls_session_handshake(session);
    }
    ERR_clear_error();
    int chunk = capacity > (size_t)INT32_MAX ? INT32_MAX : (int)capacity;
    int rc = SSL_read(session->ssl, out, chunk);
    if (rc > 0) {
        *read_bytes = (size_t)rc;
        return TLS_OK;
    }
    return session_result(session, rc);
}

int tls_session_write(struct tls_session *session, const void *bytes, size_t count,
                      size_t *consumed)
{
    *consumed = 0;
    if (session->failed) {
        return TLS_ERROR_PROTOCOL;
    }
    if (!SSL_is_init_finished(session->ssl) || count == 0) {
        return TLS_OK;
    }
    ERR_clear_error();
    while (*consumed < count) {
        size_t left = count - *consumed;
        int chunk = left > (size_t)INT32_MAX ? INT32_MAX : (int)left;
        int rc = SSL_write(session->ssl, (const char *)bytes + *consumed, chunk);
        if (rc <= 0) {
            /* A memory BIO takes everything: only a failure (or no memory) ends up here. */
            return session_result(session, rc) == TLS_OK ? TLS_ERROR_NO_MEMORY : TLS_ERROR_PROTOCOL;
        }
        *consumed += (size_t)rc;
    }
    return TLS_OK;
}

size_t tls_session_output_bytes(const struct tls_session *session)
{
    return BIO_ctrl_pending(session->outgoing);
}

int tls_session_take_output(struct tls_session *session, struct proto_buffer *out)
{
    size_t pending = BIO_ctrl_pending(session->outgoing);
    if (pending == 0) {
        return TLS_OK;
    }
    if (proto_buffer_reserve(out, pending) != PROTO_OK) {
        return TLS_ERROR_NO_MEMORY;
    }
    while (pending > 0) {
        int chunk = pending > (size_t)INT32_MAX ? INT32_MAX : (int)pending;
        int read = BIO_read(session->outgoing, out->data + out->length, chunk);
        assert(read > 0); /* the bytes are pending in memory */
        out->length += (size_t)read;
        pending -= (size_t)read;
    }
    return TLS_OK;
}

void tls_session_close_notify(struct tls_session *session)
{
    if (session->failed || !SSL_is_init_finished(session->ssl)) {
        return;
    }
    ERR_clear_error();
    (void)SSL_shutdown(session->ssl);
    ERR_clear_error();
}

const char *tls_session_error(const struct tls_session *session)
{
    return session->error[0] != '\0' ? session->error : "no error";
}

void tls_session_peer_subject(const struct tls_session *session, char *out, size_t out_bytes)
{
    assert(out_bytes > 0);
    out[0] = '\0';
    X509 *certificate = SSL_get1_peer_certificate(session->ssl);
    if (certificate == NULL) {
        return;
    }
    X509_NAME_oneline(X509_get_subject_name(certificate), out, (int)out_bytes);
    X509_free(certificate);
}

/* ---- peer names ---- */

/* An IP address in text, as X509_VERIFY_PARAM_set1_ip_asc and X509_check_ip_asc take it. */
static bool is_ip_address(const char *host)
{
    ASN1_OCTET_STRING *parsed = a2i_IPADDRESS(host);
    if (parsed == NULL) {
        ERR_clear_error();
        return false;
    }
    ASN1_OCTET_STRING_free(parsed);
    return true;
}

int tls_session_expect_peer_name(struct tls_session *session, const char *host)
{
    ERR_clear_error();
    X509_VERIFY_PARAM *param = SSL_get0_param(session->ssl);
    int rc = is_ip_address(host) ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                                 : X509_VERIFY_PARAM_set1_host(param, host, 0);
    ERR_clear_error();
    return rc == 1 ? TLS_OK : TLS_ERROR_NO_MEMORY;
}

bool tls_session_peer_names(const struct tls_session *session, const char *host, char *reason,
                            size_t reason_bytes)
{
    ERR_clear_error();
    X509 *certificate = SSL_get1_peer_certificate(session->ssl);
    if (certificate == NULL) {
        snprintf(reason, reason_bytes, "the peer presented no certificate");
        return false;
    }
    bool ip = is_ip_address(host);
    int rc = ip ? X509_check_ip_asc(certificate, host, 0)
                : X509_check_host(certificate, host, strlen(host), 0, NULL);
    X509_free(certificate);
    ERR_clear_error();
    if (rc != 1) {
        snprintf(reason, reason_bytes, "the peer's certificate does not name %s %s",
                 ip ? "its IP address" : "its host", host);
        return false;
    }
    return true;
}
