/*
 * test_tls.c — the TLS layer (server/tls.h) with two sessions talking through memory alone:
 * no socket, no loop. What one session gives in tls_session_take_output() is handed to the
 * other's tls_session_receive(), whole or cut at random points.
 *
 * The certificates are made here with OpenSSL's API into a fresh temporary directory: a CA, a
 * node certificate it signs, and a stranger CA with a certificate of its own. One behaviour
 * per test: the handshake and data both ways, nothing encrypted before the handshake, a
 * plaintext client refused with its reason, a foreign certificate refused, close_notify, a
 * megabyte cut at random points, a reload that fails keeping the old context and open
 * sessions, a reload that succeeds, and bad files refused with a sentence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/tls.h"

#define TEST_PUMP_ROUNDS 64
#define TEST_BIG_BYTES   (1024 * 1024)

static char directory[256];

/* ---- a throw-away PKI ---- */

static void add_extension(X509 *certificate, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &context, nid, value);
    assert_non_null(extension);
    assert_int_equal(X509_add_ext(certificate, extension, -1), 1);
    X509_EXTENSION_free(extension);
}

/* A certificate for `key` named `name`, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *make_certificate(EVP_PKEY *key, const char *name, X509 *issuer, EVP_PKEY *issuer_key,
                              long serial)
{
    X509 *certificate = X509_new();
    assert_non_null(certificate);
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial);
    X509_gmtime_adj(X509_getm_notBefore(certificate), -60);
    X509_gmtime_adj(X509_getm_notAfter(certificate), 24 * 3600);
    X509_set_pubkey(certificate, key);
    X509_NAME *subject = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(certificate, issuer != NULL ? X509_get_subject_name(issuer) : subject);
    if (issuer == NULL) {
        add_extension(certificate, certificate, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(certificate, certificate, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(certificate, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        if (strcmp(name, "node") == 0) { /* for the peer-name tests */
            add_extension(certificate, issuer, NID_subject_alt_name,
                          "IP:127.0.0.11,DNS:node.example");
        }
    }
    assert_true(X509_sign(certificate, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    return certificate;
}

static void write_pem(const char *name, X509 *certificate, EVP_PKEY *key)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    if (certificate != NULL) {
        assert_int_equal(PEM_write_X509(file, certificate), 1);
    } else {
        assert_int_equal(PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL), 1);
    }
    fclose(file);
}

/* ca.crt; node.crt/.key signed by it; renewed.crt/.key too (another name); stranger.crt/.key
 * signed by stranger-ca.crt. */
static void make_pki(void)
{
    EVP_PKEY *ca_key = EVP_EC_gen("P-256");
    EVP_PKEY *node_key = EVP_EC_gen("P-256");
    EVP_PKEY *renewed_key = EVP_EC_gen("P-256");
    EVP_PKEY *stranger_ca_key = EVP_EC_gen("P-256");
    EVP_PKEY *stranger_key = EVP_EC_gen("P-256");
    assert_non_null(ca_key);
    assert_non_null(stranger_key);
    X509 *ca = make_certificate(ca_key, "test-ca", NULL, NULL, 1);
    X509 *node = make_certificate(node_key, "node", ca, ca_key, 2);
    X509 *renewed = make_certificate(renewed_key, "renewed", ca, ca_key, 3);
    X509 *stranger_ca = make_certificate(stranger_ca_key, "stranger-ca", NULL, NULL, 4);
    X509 *stranger = make_certificate(stranger_key, "stranger", stranger_ca, stranger_ca_key, 5);
    write_pem("ca.crt", ca, NULL);
    write_pem("node.crt", node, NULL);
    write_pem("node.key", NULL, node_key);
    write_pem("renewed.crt", renewed, NULL);
    write_pem("renewed.key", NULL, renewed_key);
    write_pem("stranger-ca.crt", stranger_ca, NULL);
    write_pem("stranger.crt", stranger, NULL);
    write_pem("stranger.key", NULL, stranger_key);
    X509 *certificates[] = {ca, node, renewed, stranger_ca, stranger};
    EVP_PKEY *keys[] = {ca_key, node_key, renewed_key, stranger_ca_key, stranger_key};
    for (size_t i = 0; i < 5; i++) {
        X509_free(certificates[i]);
        EVP_PKEY_free(keys[i]);
    }
}

static void files_for(struct tls_files *files, const char *cert, const char *key, const char *ca)
{
    memset(files, 0, sizeof *files);
    snprintf(files->cert_file, sizeof files->cert_file, "%s/%s", directory, cert);
    snprintf(files->key_file, sizeof files->key_file, "%s/%s", directory, key);
    snprintf(files->ca_cert_file, sizeof files->ca_cert_file, "%s/%s", directory, ca);
}

static struct tls_context *context_for(const char *cert, const char *key, const char *ca)
{
    struct tls_files files;
    files_for(&files, cert, key, ca);
    struct tls_context *context = NULL;
    char error[512] = "";
    int rc = tls_context_create(&files, TLS_VERIFY_REQUIRED, "test", &context, error, sizeof error);
    if (rc != TLS_OK) {
        fail_msg("tls_context_create: %s", error);
    }
    return context;
}

static int setup_group(void **state)
{
    (void)state;
    snprintf(directory, sizeof directory, "/tmp/raftkv-test-tls-XXXXXX");
    if (mkdtemp(directory) == NULL) {
        return -1;
    }
    make_pki();
    return 0;
}

static int teardown_group(void **state)
{
    (void)state;
    const char *names[] = {"ca.crt",      "node.crt",     "node.key",     "renewed.crt",
                           "renewed.key", "stranger.crt", "stranger.key", "stranger-ca.crt",
                           "garbage.crt", "served.crt",   "served.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", directory, names[i]);
        unlink(path);
    }
    rmdir(directory);
    return 0;
}

/* ---- two sessions in memory ---- */

struct pair {
    struct tls_context *server_context;
    struct tls_context *client_context;
    struct tls_session *server;
    struct tls_session *client;
    int server_rc; /* the last error each side saw (TLS_OK while fine) */
    int client_rc;
};

static void pair_open(struct pair *pair, struct tls_context *server_context,
                      struct tls_context *client_context)
{
    memset(pair, 0, sizeof *pair);
    pair->server_context = server_context;
    pair->client_context = client_context;
    assert_int_equal(tls_session_new(server_context, true, &pair->server), TLS_OK);
    assert_int_equal(tls_session_new(client_context, false, &pair->client), TLS_OK);
}

static void pair_close(struct pair *pair)
{
    tls_session_free(pair->server);
    tls_session_free(pair->client);
}

/* Moves from's ciphertext to to, then reads what `to` can give into plain (may be NULL). */
static int deliver(struct tls_session *from, struct tls_session *to, struct proto_buffer *plain)
{
    struct proto_buffer wire;
    proto_buffer_init(&wire, (size_t)64 << 20);
    assert_int_equal(tls_session_take_output(from, &wire), TLS_OK);
    int rc = tls_session_receive(to, wire.data, wire.length);
    proto_buffer_free(&wire);
    while (rc == TLS_OK) {
        char chunk[16384];
        size_t read_bytes = 0;
        rc = tls_session_read(to, chunk, sizeof chunk, &read_bytes);
        if (rc != TLS_OK || read_bytes == 0) {
            break;
        }
        if (plain != NULL) {
            assert_int_equal(proto_buffer_append(plain, chunk, read_bytes), PROTO_OK);
        }
    }
    return rc;
}

/* Runs the handshake to its end or to a failure; returns whether both are established. */
static bool pair_handshake(struct pair *pair)
{
    assert_int_equal(tls_session_handshake(pair->client), TLS_OK);
    for (int round = 0; round < TEST_PUMP_ROUNDS; round++) {
        pair->server_rc = deliver(pair->client, pair->server, NULL);
        pair->client_rc = deliver(pair->server, pair->client, NULL);
        if (pair->server_rc != TLS_OK || pair->client_rc != TLS_OK) {
            return false;
        }
        if (tls_session_established(pair->server) && tls_session_established(pair->client) &&
            tls_session_output_bytes(pair->client) == 0 &&
            tls_session_output_bytes(pair->server) == 0) {
            return true;
        }
    }
    return false;
}

static void send_text(struct tls_session *from, struct tls_session *to, const char *text)
{
    size_t consumed = 0;
    assert_int_equal(tls_session_write(from, text, strlen(text), &consumed), TLS_OK);
    assert_int_equal(consumed, strlen(text));
    struct proto_buffer plain;
    proto_buffer_init(&plain, 1 << 20);
    assert_int_equal(deliver(from, to, &plain), TLS_OK);
    assert_int_equal(plain.length, strlen(text));
    assert_memory_equal(plain.data, text, plain.length);
    proto_buffer_free(&plain);
}

/* ---- tests ---- */

static void handshake_then_data_flows_both_ways(void **state)
{
    (void)state;
    struct tls_context *context = context_for("node.crt", "node.key", "ca.crt");
    struct pair pair;
    pair_open(&pair, context, context);
    assert_true(pair_handshake(&pair));
    send_text(pair.client, pair.server, "*1\r\n$4\r\nPING\r\n");
    send_text(pair.server, pair.client, "+PONG\r\n");
    char subject[256];
    tls_session_peer_subject(pair.server, subject, sizeof subject);
    assert_non_null(strstr(subject, "CN=node"));
    pair_close(&pair);
    tls_context_free(context);
}

static void nothing_is_encrypted_before_the_handshake(void **state)
{
    (void)state;
    struct tls_context *context = context_for("node.crt", "node.key", "ca.crt");
    struct pair pair;
    pair_open(&pair, context, context);
    size_t consumed = 99;
    assert_int_equal(tls_session_write(pair.client, "early", 5, &consumed), TLS_OK);
    assert_int_equal(consumed, 0);
    assert_false(tls_session_established(pair.client));
    assert_true(pair_handshake(&pair));
    send_text(pair.client, pair.server, "early");
    pair_close(&pair);
    tls_context_free(context);
}

static void plaintext_to_an_acceptor_fails_with_a_reason(void **state)
{
    (void)state;
    struct tls_context *context = context_for("node.crt", "node.key", "ca.crt");
    struct tls_session *server = NULL;
    assert_int_equal(tls_session_new(context, true, &server), TLS_OK);
    const char ping[] = "PING\r\n";
    assert_int_equal(tls_session_receive(server, ping, sizeof ping - 1), TLS_ERROR_PROTOCOL);
    assert_non_null(strstr(tls_session_error(server), "not a TLS handshake"));
    size_t read_bytes = 1;
    char out[16];
    assert_int_equal(tls_session_read(server, out, sizeof out, &read_bytes), TLS_ERROR_PROTOCOL);
    assert_int_equal(read_bytes, 0);
    tls_session_free(server);
    tls_context_free(context);
}

static void a_certificate_of_another_ca_is_refused(void **state)
{
    (void)state;
    struct tls_context *ours = context_for("node.crt", "node.key", "ca.crt");
    struct tls_context *theirs = context_for("stranger.crt", "stranger.key", "stranger-ca.crt");
    struct pair pair;
    pair_open(&pair, ours, theirs);
    assert_false(pair_handshake(&pair));
    /* The stranger (dialing) cannot verify us: it fails first, and says why. */
    assert_int_equal(pair.client_rc, TLS_ERROR_PROTOCOL);
    assert_non_null(strstr(tls_session_error(pair.client), "certificate verification failed"));
    assert_false(tls_session_established(pair.server));
    pair_close(&pair);
    tls_context_free(ours);
    tls_context_free(theirs);
}

/* tls-verify-peer-name: the dialer checks the acceptor's certificate names the address it
 * dialed; the acceptor checks the dialer's with tls_session_peer_names. */
static void peer_names_are_checked_on_both_sides(void **state)
{
    (void)state;
    struct tls_context *context = context_for("node.crt", "node.key", "ca.crt");
    const char *named[] = {"127.0.0.11", "node.example"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        struct pair pair;
        pair_open(&pair, context, context);
        assert_int_equal(tls_session_expect_peer_name(pair.client, named[i]), TLS_OK);
        assert_true(pair_handshake(&pair));
        char reason[160] = "";
        assert_true(tls_session_peer_names(pair.server, named[i], reason, sizeof reason));
        assert_false(tls_session_peer_names(pair.server, "127.0.0.12", reason, sizeof reason));
        assert_string_equal(reason, "the peer's certificate does not name its IP address "
                                    "127.0.0.12");
        assert_false(tls_session_peer_names(pair.server, "other.example", reason, sizeof reason));
        assert_string_equal(reason, "the peer's certificate does not name its host other.example");
        pair_close(&pair);
    }
    const char *not_named[] = {"127.0.0.12", "other.example"};
    const char *reasons[] = {"IP address mismatch", "hostname mismatch"};
    for (size_t i = 0; i < sizeof not_named / sizeof not_named[0]; i++) {
        struct pair pair;
        pair_open(&pair, context, context);
        assert_int_equal(tls_session_expect_peer_name(pair.client, not_named[i]), TLS_OK);
        assert_false(pair_handshake(&pair));
        assert_int_equal(pair.client_rc, TLS_ERROR_PROTOCOL);
        assert_non_null(strstr(tls_session_error(pair.client), reasons[i]));
        assert_false(tls_session_established(pair.server));
        pair_close(&pair);
    }
    tls_context_free(context);
}

static void close_notify_reads_as_closed(void **state)
{
    (void)state;
    struct tls_context *context = context_for("node.crt", "node.key", "ca.crt");
    struct pair pair;
    pair_open(&pair, context, context);
    assert_true(pair_handshake(&pair));
    tls_session_close_notify(pair.client);
    assert_true(tls_session_output_bytes(pair.client) > 0);
    assert_int_equal(deliver(pair.client, pair.server, NULL), TLS_ERROR_CLOSED);
    pair_close(&pair);
    tls_context_free(context);
}

/* A megabyte, its ciphertext cut at random points, arrives whole and in order. */
static void a_megabyte_cut_at_random_points_arrives_whole(void **state)
{
    (void)state;
    struct tls_context *context = context_for("node.crt", "node.key", "ca.crt");
    struct pair pair;
    pair_open(&pair, context, context);
    assert_true(pair_handshake(&pair));
    uint8_t *data = malloc(TEST_BIG_BYTES);
    assert_non_null(data);
    uint32_t seed = 12345;
    for (size_t i = 0; i < TEST_BIG_BYTES; i++) {
        seed = seed * 1103515245u + 12345u;
        data[i] = (uint8_t)(seed >> 16);
    }
    size_t consumed = 0;
    assert_int_equal(tls_session_write(pair.client, data, TEST_BIG_BYTES, &consumed), TLS_OK);
    assert_int_equal(consumed, TEST_BIG_BYTES);
    struct proto_buffer wire;
    struct proto_buffer plain;
    proto_buffer_init(&wire, (size_t)64 << 20);
    proto_buffer_init(&plain, (size_t)64 << 20);
    assert_int_equal(tls_session_take_output(pair.client, &wire), TLS_OK);
    size_t offset = 0;
    while (offset < wire.length) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 8) % 40000;
        piece = piece > wire.length - offset ? wire.length - offset : piece;
        assert_int_equal(tls_session_receive(pair.server, wire.data + offset, piece), TLS_OK);
        offset += piece;
        for (;;) {
            char chunk[16384];
            size_t read_bytes = 0;
            assert_int_equal(tls_session_read(pair.server, chunk, sizeof chunk, &read_bytes),
                             TLS_OK);
            if (read_bytes == 0) {
                break;
            }
            assert_int_equal(proto_buffer_append(&plain, chunk, read_bytes), PROTO_OK);
        }
    }
    assert_int_equal(plain.length, TEST_BIG_BYTES);
    assert_memory_equal(plain.data, data, TEST_BIG_BYTES);
    proto_buffer_free(&wire);
    proto_buffer_free(&plain);
    free(data);
    pair_close(&pair);
    tls_context_free(context);
}

static void copy_file(const char *from, const char *to)
{
    char source[512];
    char target[512];
    snprintf(source, sizeof source, "%s/%s", directory, from);
    snprintf(target, sizeof target, "%s/%s", directory, to);
    FILE *in = fopen(source, "r");
    FILE *out = fopen(target, "w");
    assert_non_null(in);
    assert_non_null(out);
    char buffer[4096];
    size_t count;
    while ((count = fread(buffer, 1, sizeof buffer, in)) > 0) {
        assert_int_equal(fwrite(buffer, 1, count, out), count);
    }
    fclose(in);
    fclose(out);
}

static void served_subject(struct tls_context *server_context, struct tls_context *client_context,
                           char *subject, size_t subject_bytes)
{
    struct pair pair;
    pair_open(&pair, server_context, client_context);
    assert_true(pair_handshake(&pair));
    tls_session_peer_subject(pair.client, subject, subject_bytes);
    pair_close(&pair);
}

/* A reload that fails keeps the old context; one that succeeds serves the new certificate;
 * a session opened before either keeps working. */
static void reload_keeps_the_old_context_on_failure(void **state)
{
    (void)state;
    copy_file("node.crt", "served.crt");
    copy_file("node.key", "served.key");
    struct tls_context *server = context_for("served.crt", "served.key", "ca.crt");
    struct tls_context *client = context_for("node.crt", "node.key", "ca.crt");
    struct pair open;
    pair_open(&open, server, client);
    assert_true(pair_handshake(&open));

    char path[512]; /* an empty certificate file */
    snprintf(path, sizeof path, "%s/served.crt", directory);
    FILE *empty = fopen(path, "w");
    fclose(empty);
    char error[512] = "";
    assert_int_equal(tls_context_reload(server, error, sizeof error), TLS_ERROR_FILE);
    assert_non_null(strstr(error, "tls-cert-file"));
    assert_int_equal(tls_context_generation(server), 0);
    char subject[256];
    served_subject(server, client, subject, sizeof subject);
    assert_non_null(strstr(subject, "CN=node"));

    copy_file("renewed.crt", "served.crt");
    copy_file("renewed.key", "served.key");
    assert_int_equal(tls_context_reload(server, error, sizeof error), TLS_OK);
    assert_int_equal(tls_context_generation(server), 1);
    served_subject(server, client, subject, sizeof subject);
    assert_non_null(strstr(subject, "CN=renewed"));

    send_text(open.client, open.server, "still here");
    pair_close(&open);
    tls_context_free(server); /* before the sessions of other tests: nothing refers to it */
    tls_context_free(client);
}

static void bad_files_are_refused_with_a_sentence(void **state)
{
    (void)state;
    struct {
        const char *cert;
        const char *key;
        const char *ca;
        const char *expected;
    } cases[] = {
        {"absent.crt", "node.key", "ca.crt", "cannot read tls-cert-file"},
        {"node.crt", "absent.key", "ca.crt", "cannot read tls-key-file"},
        {"node.crt", "stranger.key", "ca.crt", "not usable with tls-cert-file"},
        {"node.crt", "node.key", "absent-ca.crt", "cannot read tls-ca-cert-file"},
        {"node.key", "node.key", "ca.crt", "tls-cert-file"},
        {"node.crt", "node.key", "node.key", "tls-ca-cert-file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tls_files files;
        files_for(&files, cases[i].cert, cases[i].key, cases[i].ca);
        struct tls_context *context = (struct tls_context *)&files; /* must be reset to NULL */
        char error[512] = "";
        assert_int_equal(
            tls_context_create(&files, TLS_VERIFY_REQUIRED, "test", &context, error, sizeof error),
            TLS_ERROR_FILE);
        assert_null(context);
        if (strstr(error, cases[i].expected) == NULL) {
            fail_msg("case %zu: '%s' lacks '%s'", i, error, cases[i].expected);
        }
        assert_null(strchr(error, '\n'));
    }
}

static void error_names_cover_every_code(void **state)
{
    (void)state;
    assert_string_equal(tls_error_string(TLS_OK), "TLS_OK");
    assert_string_equal(tls_error_string(TLS_ERROR_CLOSED), "TLS_ERROR_CLOSED");
    assert_string_equal(tls_error_string(-99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_then_data_flows_both_ways),
        cmocka_unit_test(nothing_is_encrypted_before_the_handshake),
        cmocka_unit_test(plaintext_to_an_acceptor_fails_with_a_reason),
        cmocka_unit_test(a_certificate_of_another_ca_is_refused),
        cmocka_unit_test(peer_names_are_checked_on_both_sides),
        cmocka_unit_test(close_notify_reads_as_closed),
        cmocka_unit_test(a_megabyte_cut_at_random_points_arrives_whole),
        cmocka_unit_test(reload_keeps_the_old_context_on_failure),
        cmocka_unit_test(bad_files_are_refused_with_a_sentence),
        cmocka_unit_test(error_names_cover_every_code),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
