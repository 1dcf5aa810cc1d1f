/*
 * join.c — a new node asks a running cluster to add it (--join HOST:PORT).
 *
 * Happy path. A node started with --join and a data directory that holds no configuration
 * boots with an empty one: it never campaigns and waits for a leader. join_start() connects
 * to the member named by --join as a Redis client would, sends (after AUTH when requirepass
 * is set) RAFT.NODE ADD <id> <client> <peer> with this node's own --member addresses, follows
 * a -MOVED to the leader, and stops at +OK: the change is committed, and the leader sends this
 * node the log (or a snapshot), which carries the configuration and every member's address
 * (members.c). The operator then promotes it (RAFT.NODE PROMOTE).
 *
 * Failure modes. A member that is down, a refused connection, -TRYAGAIN (a change in progress,
 * a new leader, this node's own ADD not committed yet), -CLUSTERDOWN or -UNCERTAIN (the
 * leader lost its majority) are retried with a backoff from 500 ms to 5 s, until this node
 * is a member of the *committed* configuration: holding its ADD entry is not enough, since a
 * new leader may truncate an uncommitted one. Every other error (an id used before, a full
 * cluster) is logged each time, so that the operator sees it; the node keeps trying in case the
 * cause goes away. A reply longer than the buffer is treated as an error of the connection.
 *
 * TLS. In a tls-only cluster the member's client port speaks TLS: the request then goes
 * through a tls_session (tls.h) that verifies the member against tls-ca-cert-file and presents
 * this node's certificate. The handshake's records and the request are small, so they are
 * written with uv_try_write; a socket that does not take them at once ends the attempt, which
 * is retried as any other failure.
 */
#include "server/server.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/log.h"
#include "server/tls.h"

enum {
    JOIN_BACKOFF_MIN_MS = 500,
    JOIN_BACKOFF_MAX_MS = 5000,
    JOIN_MAX_REDIRECTS = 5,
};

static void join_attempt(struct server *server);

/* A member of the committed configuration. One in force but not committed is not enough:
 * this node may hold the leader's ADD entry before it commits, and a new leader whose log
 * lacks it truncates it; a node that stopped asking then would never be contacted again. An
 * ADD that did commit is answered +OK again, so asking once more costs a round trip. */
static bool is_member(const struct server *server)
{
    struct raft *raft = server->node.raft;
    struct raft_configuration committed;
    if (raft_configuration_at(raft, raft_commit_index(raft), &committed) != 0) {
        return false; /* no configuration known at the commit index: ask */
    }
    return raft_configuration_has(&committed, server->config.id);
}

static void on_timer(uv_timer_t *timer)
{
    join_attempt(timer->data);
}

static void on_closed(uv_handle_t *handle)
{
    struct server *server = handle->data;
    struct join *join = &server->join;
    join->connected = false;
    tls_session_free(join->tls);
    join->tls = NULL;
    if (!join->active || server->stopping) {
        return;
    }
    uint32_t delay = join->backoff_ms;
    join->backoff_ms =
        join->backoff_ms * 2 > JOIN_BACKOFF_MAX_MS ? JOIN_BACKOFF_MAX_MS : join->backoff_ms * 2;
    if (join->redirects > 0 && join->redirects <= JOIN_MAX_REDIRECTS) {
        delay = 0; /* a MOVED: go to the leader at once */
    }
    uv_timer_start(&join->timer, on_timer, delay, 0);
}

static void disconnect(struct server *server)
{
    struct join *join = &server->join;
    if (join->connected && !uv_is_closing((uv_handle_t *)&join->handle)) {
        uv_close((uv_handle_t *)&join->handle, on_closed);
    }
}

static void finish(struct server *server, const char *why)
{
    struct join *join = &server->join;
    if (join->active) {
        log_info("join: %s", why);
    }
    join->active = false;
    disconnect(server);
}

static size_t append_bulk(char *out, size_t used, size_t capacity, const char *text)
{
    int n = snprintf(out + used, capacity - used, "$%zu\r\n%s\r\n", strlen(text), text);
    return n > 0 && (size_t)n < capacity - used ? used + (size_t)n : capacity;
}

static void build_request(struct server *server)
{
    struct join *join = &server->join;
    const struct config_member *self = config_member(&server->config, server->config.id);
    char id[24];
    char client[CONFIG_HOST_BYTES + 16];
    char peer[CONFIG_HOST_BYTES + 16];
    snprintf(id, sizeof id, "%" PRIu64, server->config.id);
    snprintf(client, sizeof client, "%s:%u", self->client_host, (unsigned)self->client_port);
    snprintf(peer, sizeof peer, "%s:%u", self->peer_host, (unsigned)self->peer_port);
    size_t capacity = sizeof join->request;
    size_t used = 0;
    join->replies_expected = 1;
    if (server->config.requirepass[0] != '\0') {
        used = (size_t)snprintf(join->request, capacity, "*2\r\n");
        used = append_bulk(join->request, used, capacity, "AUTH");
        used = append_bulk(join->request, used, capacity, server->config.requirepass);
        join->replies_expected = 2;
    }
    int n = snprintf(join->request + used, capacity - used, "*5\r\n");
    used += n > 0 ? (size_t)n : 0;
    used = append_bulk(join->request, used, capacity, "RAFT.NODE");
    used = append_bulk(join->request, used, capacity, "ADD");
    used = append_bulk(join->request, used, capacity, id);
    used = append_bulk(join->request, used, capacity, client);
    used = append_bulk(join->request, used, capacity, peer);
    assert(used < capacity); /* the buffer holds two hosts and a password */
}

/* One reply line (without CRLF). Returns false when the connection is done with. */
static bool handle_reply(struct server *server, const char *line)
{
    struct join *join = &server->join;
    bool last = join->replies_expected == 1;
    join->replies_expected--;
    if (!last) { /* AUTH's answer */
        if (strcmp(line, "+OK") != 0) {
            log_warning("join: %s:%u refused AUTH: %s", join->host, (unsigned)join->port, line);
            return false;
        }
        return true;
    }
    if (strcmp(line, "+OK") == 0) {
        finish(server, "added to the cluster as a learner; waiting for the leader's log "
                       "(promote it with RAFT.NODE PROMOTE once it has caught up)");
        return false;
    }
    unsigned slot;
    char address[CONFIG_HOST_BYTES + 16];
    if (sscanf(line, "-MOVED %u %271s", &slot, address) == 2 &&
        config_parse_address(address, join->host, sizeof join->host, &join->port) == 0) {
        join->redirects++;
        log_info("join: redirected to the leader at %s", address);
        return false;
    }
    join->redirects = 0;
    if (strncmp(line, "-TRYAGAIN", 9) == 0 || strncmp(line, "-CLUSTERDOWN", 12) == 0 ||
        strncmp(line, "-UNCERTAIN", 10) == 0) {
        log_info("join: not yet (%s); retrying", line + 1);
    } else {
        log_warning("join: %s:%u refused to add this node: %s", join->host, (unsigned)join->port,
                    line + 1);
    }
    return false;
}

/* Ciphertext of the TLS join: read here, decrypted into join->reply. */
static char tls_read_buffer[16 * 1024];

/* Writes what the session has for the member; false when the socket did not take it all. */
static bool tls_send_output(struct server *server)
{
    struct join *join = &server->join;
    struct proto_buffer out;
    proto_buffer_init(&out, 1 << 20);
    bool sent = tls_session_take_output(join->tls, &out) == TLS_OK;
    if (sent && out.length > 0) {
        uv_buf_t buffer = uv_buf_init((char *)out.data, (unsigned)out.length);
        sent = uv_try_write((uv_stream_t *)&join->handle, &buffer, 1) == (int)out.length;
    }
    proto_buffer_free(&out);
    return sent;
}

/* Feeds ciphertext, sends the request once TLS is up, and moves the plaintext replies into
 * join->reply. Returns the plaintext bytes added, or -1 after a failure (logged). */
static ssize_t tls_receive(struct server *server, const char *bytes, size_t count)
{
    struct join *join = &server->join;
    size_t before = join->reply_bytes;
    int rc = tls_session_receive(join->tls, bytes, count);
    for (size_t read_bytes = 1; rc == TLS_OK && read_bytes > 0;) {
        size_t room = sizeof join->reply - join->reply_bytes - 1;
        rc = tls_session_read(join->tls, join->reply + join->reply_bytes, room, &read_bytes);
        join->reply_bytes += read_bytes;
        if (room == 0) {
            break; /* on_read says the reply is too long */
        }
    }
    if (rc == TLS_OK && !join->request_sent && tls_session_established(join->tls)) {
        size_t consumed = 0;
        rc = tls_session_write(join->tls, join->request, strlen(join->request), &consumed);
        join->request_sent = rc == TLS_OK;
    }
    if (rc != TLS_OK) {
        log_warning("join: TLS with %s:%u failed: %s", join->host, (unsigned)join->port,
                    rc == TLS_ERROR_PROTOCOL ? tls_session_error(join->tls) : tls_error_string(rc));
        return -1;
    }
    if (!tls_send_output(server)) {
        log_info("join: %s:%u did not take the TLS handshake at once", join->host,
                 (unsigned)join->port);
        return -1;
    }
    return (ssize_t)(join->reply_bytes - before);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buffer)
{
    struct server *server = handle->data;
    struct join *join = &server->join;
    (void)suggested;
    if (join->tls != NULL) {
        *buffer = uv_buf_init(tls_read_buffer, sizeof tls_read_buffer);
        return;
    }
    size_t room = sizeof join->reply - join->reply_bytes - 1;
    *buffer = uv_buf_init(join->reply + join->reply_bytes, (unsigned)room);
}

static void on_read(uv_stream_t *stream, ssize_t read_bytes, const uv_buf_t *buffer)
{
    struct server *server = stream->data;
    struct join *join = &server->join;
    if (read_bytes < 0) {
        log_info("join: connection to %s:%u closed: %s", join->host, (unsigned)join->port,
                 uv_strerror((int)read_bytes));
        disconnect(server);
        return;
    }
    if (join->tls != NULL) {
        if (tls_receive(server, buffer->base, (size_t)read_bytes) < 0) {
            disconnect(server);
            return;
        }
    } else {
        join->reply_bytes += (size_t)read_bytes;
    }
    join->reply[join->reply_bytes] = '\0';
    char *line = join->reply;
    char *end;
    while ((end = strstr(line, "\r\n")) != NULL) {
        *end = '\0';
        if (!handle_reply(server, line)) {
            disconnect(server);
            return;
        }
        line = end + 2;
    }
    size_t rest = join->reply_bytes - (size_t)(line - join->reply);
    memmove(join->reply, line, rest);
    join->reply_bytes = rest;
    if (join->reply_bytes >= sizeof join->reply - 1) {
        log_warning("join: a reply from %s:%u is too long", join->host, (unsigned)join->port);
        disconnect(server);
    }
}

static void on_written(uv_write_t *request, int status)
{
    struct server *server = request->data;
    if (status < 0) {
        disconnect(server);
    }
}

static void on_connect(uv_connect_t *request, int status)
{
    struct server *server = request->data;
    struct join *join = &server->join;
    if (status < 0 || !join->active) {
        if (status < 0) {
            log_info("join: cannot reach %s:%u: %s", join->host, (unsigned)join->port,
                     uv_strerror(status));
        }
        disconnect(server);
        return;
    }
    build_request(server);
    join->reply_bytes = 0;
    join->request_sent = false;
    if (server->tls.join != NULL) {
        /* The request waits until TLS is up (tls_receive). */
        if (tls_session_new(server->tls.join, false, &join->tls) != TLS_OK ||
            tls_session_handshake(join->tls) != TLS_OK || !tls_send_output(server) ||
            uv_read_start((uv_stream_t *)&join->handle, on_alloc, on_read) != 0) {
            log_info("join: cannot start TLS with %s:%u", join->host, (unsigned)join->port);
            disconnect(server);
        }
        return;
    }
    uv_buf_t buffer = uv_buf_init(join->request, (unsigned)strlen(join->request));
    join->write_request.data = server;
    if (uv_write(&join->write_request, (uv_stream_t *)&join->handle, &buffer, 1, on_written) != 0 ||
        uv_read_start((uv_stream_t *)&join->handle, on_alloc, on_read) != 0) {
        disconnect(server);
    }
}

static void join_attempt(struct server *server)
{
    struct join *join = &server->join;
    if (!join->active || server->stopping || join->connected) {
        return;
    }
    if (is_member(server)) {
        finish(server, "this node is a member now");
        return;
    }
    if (join->redirects > JOIN_MAX_REDIRECTS) {
        join->redirects = 0; /* redirected in circles: start again from --join */
        config_parse_address(server->config.join, join->host, sizeof join->host, &join->port);
    }
    struct sockaddr_storage address;
    if (uv_ip4_addr(join->host, join->port, (struct sockaddr_in *)&address) != 0 &&
        uv_ip6_addr(join->host, join->port, (struct sockaddr_in6 *)&address) != 0) {
        log_warning("join: %s is not a numeric address", join->host);
        join->active = false;
        return;
    }
    uv_tcp_init(server->loop, &join->handle);
    join->handle.data = server;
    join->connected = true; /* the handle is open, whatever the connect's outcome */
    join->connect_request.data = server;
    if (uv_tcp_connect(&join->connect_request, &join->handle, (const struct sockaddr *)&address,
                       on_connect) != 0) {
        disconnect(server);
        return;
    }
    log_info("join: asking %s:%u to add node %" PRIu64, join->host, (unsigned)join->port,
             server->config.id);
}

void join_start(struct server *server)
{
    struct join *join = &server->join;
    if (server->config.join[0] == '\0' || join->active) {
        return;
    }
    if (is_member(server)) {
        log_info("join: this node is a member already; --join is not needed");
        return;
    }
    join->active = true;
    join->backoff_ms = JOIN_BACKOFF_MIN_MS;
    config_parse_address(server->config.join, join->host, sizeof join->host, &join->port);
    uv_timer_init(server->loop, &join->timer);
    join->timer.data = server;
    join->handles_open = true;
    join_attempt(server);
}

void join_stop(struct server *server)
{
    struct join *join = &server->join;
    join->active = false;
    disconnect(server);
    if (join->handles_open) {
        join->handles_open = false;
        uv_timer_stop(&join->timer);
        uv_close((uv_handle_t *)&join->timer, NULL);
    }
}
