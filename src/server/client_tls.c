/*
 * client_tls.c — TLS for client connections, and the server's TLS contexts (tls.h): built from
 * the tls-* settings at start, rebuilt on SIGHUP or RAFT.TLS RELOAD.
 *
 * Happy path. A connection accepted on tls-port (or on the client port with tls-only) gets a
 * tls_session. Its reads land in one shared ciphertext buffer (libuv calls the allocation and
 * the read callbacks back to back on the loop thread, so one buffer serves every client), are
 * handed to the session, and every byte of plaintext the session yields goes into the
 * client's input, where client.c parses it exactly as it parses a plaintext client's. Replies
 * gather in the client's output as for any client; client_tls_flush() encrypts them when no
 * write is in flight (so the output buffer's limit still bounds what is unsent) and writes
 * the ciphertext: what the kernel takes at once, then one uv_write.
 *
 * Failure modes. A TLS failure — a plaintext client on the TLS port, random bytes, a missing
 * or untrusted client certificate, a bad record — closes that connection after sending the
 * alert OpenSSL queued, with one log line giving the reason; the node serves on. A client's
 * close_notify closes the connection; QUIT sends ours before closing.
 *
 * Reload. server_tls_reload() rebuilds both contexts from the same files: new connections use
 * the new certificates, open ones keep theirs, and a reload that fails keeps the old contexts
 * and says why (logged, and RAFT.TLS RELOAD's error).
 */
#include "server/server.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "server/log.h"
#include "server/tls.h"

enum {
    TLS_READ_BYTES = 64 * 1024,
    /* Plaintext encrypted per step: its ciphertext must fit the writing buffer beside it. */
    TLS_WRITE_SLICE_BYTES = 1024 * 1024,
    TLS_LISTEN_BACKLOG = 511,
    TLS_SUBJECT_BYTES = 256,
};

/* Every TLS client's reads pass through here (see the opening comment). */
static char read_buffer[TLS_READ_BYTES];

/* ---- contexts ---- */

static void tls_files_from_config(const struct server_config *config, struct tls_files *files)
{
    memset(files, 0, sizeof *files);
    snprintf(files->cert_file, sizeof files->cert_file, "%s", config->tls_cert_file);
    snprintf(files->key_file, sizeof files->key_file, "%s", config->tls_key_file);
    snprintf(files->ca_cert_file, sizeof files->ca_cert_file, "%s", config->tls_ca_cert_file);
}

static enum tls_verify client_verify(const struct server_config *config)
{
    if (strcmp(config->tls_auth_clients, "no") == 0) {
        return TLS_VERIFY_NONE;
    }
    if (strcmp(config->tls_auth_clients, "optional") == 0) {
        return TLS_VERIFY_OPTIONAL;
    }
    return TLS_VERIFY_REQUIRED;
}

int server_tls_setup(struct server *server, char *error, size_t error_bytes)
{
    const struct server_config *config = &server->config;
    struct tls_files files;
    tls_files_from_config(config, &files);
    if (config->tls_port != 0 || config->tls_only) {
        if (tls_context_create(&files, client_verify(config), "client", &server->tls.clients, error,
                               error_bytes) != TLS_OK) {
            return -1;
        }
    }
    if (config->tls_only && config->join[0] != '\0') {
        /* join.c dials a member's client port, which speaks TLS in a tls-only cluster: it
         * verifies the member and presents our certificate, as any client of it must. */
        if (files.ca_cert_file[0] == '\0') {
            snprintf(error, error_bytes, "--join with tls-only needs tls-ca-cert-file");
            server_tls_free(server);
            return -1;
        }
        if (tls_context_create(&files, TLS_VERIFY_REQUIRED, "join", &server->tls.join, error,
                               error_bytes) != TLS_OK) {
            server_tls_free(server);
            return -1;
        }
    }
    if (config->tls_replication) {
        /* Mutual: as acceptor we require the dialer's certificate, as dialer we verify the
         * acceptor's; both must chain to tls-ca-cert-file. */
        if (tls_context_create(&files, TLS_VERIFY_REQUIRED, "peer", &server->tls.peers, error,
                               error_bytes) != TLS_OK) {
            server_tls_free(server);
            return -1;
        }
    }
    return 0;
}

void server_tls_free(struct server *server)
{
    tls_context_free(server->tls.clients);
    tls_context_free(server->tls.peers);
    tls_context_free(server->tls.join);
    server->tls.clients = NULL;
    server->tls.peers = NULL;
    server->tls.join = NULL;
}

int server_tls_reload(struct server *server, char *error, size_t error_bytes)
{
    if (server->tls.clients == NULL && server->tls.peers == NULL) {
        snprintf(error, error_bytes, "TLS is not configured on this node");
        return -1;
    }
    /* Both contexts read the same files: try the first; if it fails nothing changed. */
    int rc = TLS_OK;
    if (server->tls.clients != NULL) {
        rc = tls_context_reload(server->tls.clients, error, error_bytes);
    }
    if (rc == TLS_OK && server->tls.peers != NULL) {
        rc = tls_context_reload(server->tls.peers, error, error_bytes);
    }
    if (rc == TLS_OK && server->tls.join != NULL) {
        rc = tls_context_reload(server->tls.join, error, error_bytes);
    }
    if (rc != TLS_OK) {
        server->tls.reload_failures++;
        log_warning("TLS reload failed, the certificates in use stay: %s", error);
        return -1;
    }
    server->tls.reloads++;
    log_info("TLS certificates reloaded from %s; new connections use them",
             server->config.tls_cert_file);
    return 0;
}

SERVER_HANDLER(command_raft_tls)
{
    (void)argc;
    if (!argument_is(&argv[1], "RELOAD")) {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try RAFT.TLS RELOAD.",
                    (int)argv[1].data_bytes, (const char *)argv[1].data);
        return;
    }
    char error[512];
    if (server_tls_reload(client->server, error, sizeof error) != 0) {
        reply_error(out, "ERR TLS reload failed, the certificates in use stay: %s", error);
        return;
    }
    reply_status(out, "OK");
}

/* ---- the listener ---- */

static void on_tls_connection(uv_stream_t *listener, int status)
{
    if (status < 0) {
        log_warning("TLS accept failed: %s", uv_strerror(status));
        return;
    }
    client_accept(listener, true);
}

int client_tls_listen(struct server *server)
{
    if (server->config.tls_port == 0) {
        return 0;
    }
    const struct config_member *self = config_member(&server->config, server->config.id);
    uint16_t port = (uint16_t)server->config.tls_port;
    struct sockaddr_storage address;
    int rc = uv_ip4_addr(self->client_host, port, (struct sockaddr_in *)&address);
    if (rc != 0) {
        rc = uv_ip6_addr(self->client_host, port, (struct sockaddr_in6 *)&address);
    }
    if (rc != 0) {
        log_error("invalid TLS client address %s:%u", self->client_host, port);
        return -1;
    }
    uv_tcp_init(server->loop, &server->tls.listener);
    server->tls.listener.data = server;
    server->tls.listening = true;
    rc = uv_tcp_bind(&server->tls.listener, (const struct sockaddr *)&address, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&server->tls.listener, TLS_LISTEN_BACKLOG, on_tls_connection);
    }
    if (rc != 0) {
        log_error("cannot listen for TLS clients on %s:%u: %s", self->client_host, port,
                  uv_strerror(rc));
        return -1;
    }
    log_info("listening for TLS clients on %s:%u (tls-auth-clients %s)", self->client_host, port,
             server->config.tls_auth_clients);
    return 0;
}

void client_tls_close_listener(struct server *server)
{
    if (server->tls.listening && !uv_is_closing((uv_handle_t *)&server->tls.listener)) {
        uv_close((uv_handle_t *)&server->tls.listener, NULL);
    }
}

int client_tls_attach(struct client *client)
{
    assert(client->tls == NULL);
    assert(client->server->tls.clients != NULL);
    return tls_session_new(client->server->tls.clients, true, &client->tls) == TLS_OK ? 0 : -1;
}

uint16_t client_port_for(const struct client *client, const struct config_member *member)
{
    if (client == NULL || client->tls == NULL) {
        return member->client_port;
    }
    const struct server_config *config = &client->server->config;
    if (config->tls_only || config->tls_port == 0) {
        return member->client_port;
    }
    /* Every node's TLS port is its client port shifted as ours is (docs/operations.md). */
    const struct config_member *self = config_member(config, config->id);
    int64_t shifted = (int64_t)member->client_port + (int64_t)config->tls_port - self->client_port;
    return shifted > 0 && shifted <= 65535 ? (uint16_t)shifted : member->client_port;
}

/* ---- reading ---- */

/* A TLS failure: send the alert OpenSSL queued (best effort), log why, close. */
static void client_tls_fail(struct client *client, int rc)
{
    struct server *server = client->server;
    if (rc == TLS_ERROR_PROTOCOL) {
        server->tls.handshake_failures += tls_session_established(client->tls) ? 0 : 1;
        log_info("client %llu (%s): TLS: %s; closing the connection",
                 (unsigned long long)client->id, client->address, tls_session_error(client->tls));
    } else if (rc != TLS_ERROR_CLOSED) {
        log_warning("client %llu (%s): TLS: %s; closing the connection",
                    (unsigned long long)client->id, client->address, tls_error_string(rc));
    }
    if (!client->write_in_flight &&
        tls_session_take_output(client->tls, &client->writing) == TLS_OK &&
        client->writing.length > 0) {
        uv_buf_t alert =
            uv_buf_init((char *)client->writing.data, (unsigned)client->writing.length);
        (void)uv_try_write((uv_stream_t *)&client->handle, &alert, 1);
    }
    client_close(client);
}

void client_tls_on_allocate(uv_handle_t *handle, size_t suggested, uv_buf_t *buffer)
{
    (void)handle;
    (void)suggested;
    *buffer = uv_buf_init(read_buffer, sizeof read_buffer);
}

/* Moves every byte of plaintext the session holds into the client's input. */
static int client_tls_decrypt(struct client *client)
{
    size_t limit = client->server->config.max_query_buffer_bytes;
    for (;;) {
        if (client->input.length > limit) {
            return TLS_OK; /* client_input_received closes it */
        }
        if (proto_buffer_reserve(&client->input, TLS_READ_BYTES) != PROTO_OK) {
            return TLS_ERROR_NO_MEMORY;
        }
        size_t read_bytes = 0;
        int rc = tls_session_read(client->tls, client->input.data + client->input.length,
                                  client->input.capacity - client->input.length, &read_bytes);
        if (rc != TLS_OK) {
            return rc;
        }
        if (read_bytes == 0) {
            return TLS_OK;
        }
        client->input.length += read_bytes;
    }
}

void client_tls_on_read(uv_stream_t *stream, ssize_t count, const uv_buf_t *buffer)
{
    struct client *client = stream->data;
    if (count < 0) {
        client_close(client);
        return;
    }
    if (count == 0) {
        return;
    }
    assert(buffer->base == read_buffer);
    client->server->stats.bytes_in += (uint64_t)count;
    int rc = tls_session_receive(client->tls, buffer->base, (size_t)count);
    if (rc == TLS_OK) {
        rc = client_tls_decrypt(client);
    }
    if (rc != TLS_OK) {
        client_tls_fail(client, rc);
        return;
    }
    client_schedule_flush(client); /* handshake records to send, if nothing else */
    if (client->input.length > 0) {
        client_input_received(client);
    }
}

/* ---- writing ---- */

static void on_tls_write_done(uv_write_t *write_request, int status)
{
    struct client *client = write_request->data;
    client->write_in_flight = false;
    if (uv_is_closing((uv_handle_t *)&client->handle)) {
        return; /* cancelled by client_close; on_closed frees the client next */
    }
    client->server->stats.bytes_out += client->writing.length;
    proto_buffer_consume(&client->writing, client->writing.length);
    if (status < 0) {
        client->closing = true;
    }
    client_schedule_flush(client);
}

/* Encrypts a slice of the output into `writing` (empty: no write is in flight). */
static int client_tls_encrypt(struct client *client)
{
    assert(!client->write_in_flight);
    size_t slice = client->output.length < TLS_WRITE_SLICE_BYTES ? client->output.length
                                                                 : TLS_WRITE_SLICE_BYTES;
    size_t consumed = 0;
    int rc = tls_session_write(client->tls, client->output.data, slice, &consumed);
    if (rc != TLS_OK) {
        return rc;
    }
    proto_buffer_consume(&client->output, consumed);
    return tls_session_take_output(client->tls, &client->writing);
}

/* Sends close_notify after the last reply of a QUIT, best effort, and closes. */
static void client_tls_finish(struct client *client)
{
    tls_session_close_notify(client->tls);
    if (tls_session_take_output(client->tls, &client->writing) == TLS_OK &&
        client->writing.length > 0) {
        uv_buf_t bye = uv_buf_init((char *)client->writing.data, (unsigned)client->writing.length);
        (void)uv_try_write((uv_stream_t *)&client->handle, &bye, 1);
    }
    client_close(client);
}

void client_tls_flush(struct client *client)
{
    while (!client->write_in_flight) {
        int rc = client_tls_encrypt(client);
        if (rc != TLS_OK) {
            client_tls_fail(client, rc);
            return;
        }
        if (client->writing.length == 0) {
            break;
        }
        uv_buf_t direct =
            uv_buf_init((char *)client->writing.data, (unsigned)client->writing.length);
        int written = uv_try_write((uv_stream_t *)&client->handle, &direct, 1);
        if (written < 0 && written != UV_EAGAIN) {
            client_close(client);
            return;
        }
        if (written > 0) {
            client->server->stats.bytes_out += (uint64_t)written;
            proto_buffer_consume(&client->writing, (size_t)written);
        }
        if (client->writing.length > 0) {
            uv_buf_t rest =
                uv_buf_init((char *)client->writing.data, (unsigned)client->writing.length);
            client->write_request.data = client;
            if (uv_write(&client->write_request, (uv_stream_t *)&client->handle, &rest, 1,
                         on_tls_write_done) != 0) {
                client_close(client);
                return;
            }
            client->write_in_flight = true;
        }
    }
    if (!client->write_in_flight && client->output.length == 0 && backup_has_more(client)) {
        client_schedule_flush(client); /* as client_flush: nothing else will ask for more */
        return;
    }
    if (client->close_after_reply && !client->write_in_flight && client->output.length == 0 &&
        client->fifo_count == 0 && client->backup == NULL) {
        client_tls_finish(client);
    }
}
