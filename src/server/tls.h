/*
 * tls.h — TLS over memory: OpenSSL sessions that never touch a socket, for the client
 * connections (client_tls.c) and the peer transport (transport_connection.c).
 *
 * Happy path. A tls_context is built once from the settings' files (certificate chain, key,
 * CA) and shared by every connection of one kind. Each connection owns a tls_session: its
 * SSL object reads ciphertext from one memory BIO and writes ciphertext to another, so the
 * caller stays in charge of the socket. The caller hands every byte read from the socket to
 * tls_session_receive(), then calls tls_session_read() until it yields no more plaintext
 * (this also drives the handshake); it encrypts replies with tls_session_write() and writes
 * what tls_session_take_output() gives it with uv_write. Nothing here blocks or does I/O, so
 * it is safe on the libuv loop, and the tests drive two sessions against each other through
 * memory alone (tests/unit/test_tls.c).
 *
 * Versions: TLS 1.2 and 1.3 only, renegotiation refused, no session tickets or cache (a
 * reload must take effect for every new connection).
 *
 * Failure modes. A session that fails (a bad record, a certificate that does not verify, a
 * plaintext client on a TLS port) returns TLS_ERROR_PROTOCOL from then on, with one line in
 * tls_session_error() for the caller to log before it closes that one connection. A peer's
 * close_notify returns TLS_ERROR_CLOSED. A context whose files cannot be read or do not
 * match fails with one sentence; tls_context_reload() that fails keeps the old SSL_CTX.
 *
 * Reload. A context holds its SSL_CTX by pointer; tls_context_reload() builds a new one from
 * the same files and replaces it. Sessions already open keep the SSL_CTX they were created
 * from (OpenSSL counts its references), so existing connections continue untouched.
 *
 * Ownership: tls_context_create() and tls_session_new() allocate; tls_context_free() and
 * tls_session_free() release. A context may be freed while sessions made from it live on.
 * Threads: the loop thread only (OpenSSL's error queue is per thread; every call here
 * clears it first).
 */
#ifndef RAFTKV_SERVER_TLS_H
#define RAFTKV_SERVER_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/proto.h"

#define TLS_PATH_BYTES  1024
#define TLS_ERROR_BYTES 256

/* X(name, value, text) per code, as transport.h does: enum and strings from one list. */
#define TLS_ERRORS(X)                                                                              \
    X(TLS_OK, 0, "TLS_OK")                                                                         \
    X(TLS_ERROR_NO_MEMORY, -1, "TLS_ERROR_NO_MEMORY")                                              \
    /* a certificate, key or CA file cannot be read or used */                                     \
    X(TLS_ERROR_FILE, -2, "TLS_ERROR_FILE")                                                        \
    /* the handshake or a record failed: the reason is in tls_session_error() */                   \
    X(TLS_ERROR_PROTOCOL, -3, "TLS_ERROR_PROTOCOL")                                                \
    /* the other side sent close_notify */                                                         \
    X(TLS_ERROR_CLOSED, -4, "TLS_ERROR_CLOSED")

enum tls_error {
#define TLS_ERROR_ENUMERATOR(name, value, text) name = value,
    TLS_ERRORS(TLS_ERROR_ENUMERATOR)
#undef TLS_ERROR_ENUMERATOR
};

const char *tls_error_string(int error);

/* Whose certificate the context asks for, as the accepting side. Redis's tls-auth-clients:
 * yes (required), no (not asked), optional (verified when given). A dialing session always
 * verifies the acceptor's certificate when the context has a CA. */
enum tls_verify {
    TLS_VERIFY_REQUIRED,
    TLS_VERIFY_NONE,
    TLS_VERIFY_OPTIONAL,
};

struct tls_files {
    char cert_file[TLS_PATH_BYTES];    /* PEM chain: our certificate first */
    char key_file[TLS_PATH_BYTES];     /* PEM private key */
    char ca_cert_file[TLS_PATH_BYTES]; /* PEM CAs that certificates must chain to; may be
                                        * empty with TLS_VERIFY_NONE */
};

struct tls_context;
struct tls_session;

/* Builds a context from the files; 0, or TLS_ERROR_FILE / TLS_ERROR_NO_MEMORY with a sentence
 * in error. The files are copied; `name` ("client", "peer") prefixes messages. */
int tls_context_create(const struct tls_files *files, enum tls_verify verify, const char *name,
                       struct tls_context **out, char *error, size_t error_bytes);
/* Reads the files again into a new SSL_CTX and switches to it; on failure the old one stays
 * and error says why. New sessions use the new one; open sessions keep theirs. */
int tls_context_reload(struct tls_context *context, char *error, size_t error_bytes);
void tls_context_free(struct tls_context *context);
/* How many reloads succeeded (for INFO). */
unsigned long tls_context_generation(const struct tls_context *context);

/* A session that accepts (a server: client listener, inbound peer) or dials. */
int tls_session_new(struct tls_context *context, bool accept, struct tls_session **out);
void tls_session_free(struct tls_session *session);

/* Ciphertext from the socket. */
int tls_session_receive(struct tls_session *session, const void *bytes, size_t count);
/* Plaintext received, up to `capacity` bytes into out (*read_bytes, 0 when more ciphertext is
 * needed); drives the handshake. TLS_OK, TLS_ERROR_CLOSED or TLS_ERROR_PROTOCOL. */
int tls_session_read(struct tls_session *session, void *out, size_t capacity, size_t *read_bytes);
/* Starts or continues the handshake without reading (a dialer calls it once connected). */
int tls_session_handshake(struct tls_session *session);
bool tls_session_established(const struct tls_session *session);
/* Encrypts all of bytes once the handshake is done (*consumed = count), none before
 * (*consumed = 0): the caller keeps its plaintext until then. */
int tls_session_write(struct tls_session *session, const void *bytes, size_t count,
                      size_t *consumed);
/* Ciphertext waiting for the socket: its size, and all of it appended to out. */
size_t tls_session_output_bytes(const struct tls_session *session);
int tls_session_take_output(struct tls_session *session, struct proto_buffer *out);
/* Queues close_notify (take the output afterwards, best effort). */
void tls_session_close_notify(struct tls_session *session);
/* The reason of the last TLS_ERROR_PROTOCOL, one line. */
const char *tls_session_error(const struct tls_session *session);
/* The peer certificate's subject ("" when none), for logs. */
void tls_session_peer_subject(const struct tls_session *session, char *out, size_t out_bytes);

/* Peer names (tls-verify-peer-name). A dialing session, before its handshake: the acceptor's
 * certificate must also name `host` (a numeric IP address: an IP subjectAltName; anything
 * else: a DNS name), or verification fails with OpenSSL's reason ("IP address mismatch").
 * TLS_OK, or TLS_ERROR_NO_MEMORY. */
int tls_session_expect_peer_name(struct tls_session *session, const char *host);
/* An accepting session, once established: true when the dialer's certificate names `host`
 * as above; else false with a sentence in reason. */
bool tls_session_peer_names(const struct tls_session *session, const char *host, char *reason,
                            size_t reason_bytes);

#endif
