/*
 * metrics.c — the node over HTTP, for Prometheus and for health checks: `--metrics-addr
 * HOST:PORT` (off by default) serves
 *
 *   GET /metrics   the Prometheus text format (version 0.0.4), raftkv_ names that mirror
 *                  etcd's where etcd has one (has_leader, leader_changes_seen_total, ...);
 *   GET /livez     200 while the process serves (a node recovering from a storage failure is
 *                  alive: it recovers by itself);
 *   GET /readyz    200 when a leader is known, the node is not failed, and it has applied
 *                  what it knows committed to within READY_MAX_LAG_ENTRIES; 503 otherwise,
 *                  with the reason in the body;
 *   POST /api/fault, GET /api/faults   fault injection (fault.c; refused with 403 unless the
 *                  node runs with --enable-fault-injection).
 *
 * Every answer carries Access-Control-Allow-Origin: * (the dashboard of one node calls the
 * others), and OPTIONS gets the CORS preflight's answer.
 *
 * Requests are parsed by Debian's libhttp-parser on the node's libuv loop. Each connection
 * serves one request and is closed after the answer (Connection: close), so there is no
 * keep-alive state; a connection that has not sent a whole request within
 * METRICS_REQUEST_TIMEOUT_MS, sends a URL longer than METRICS_URL_BYTES or a body (except
 * POST /api/fault's: at most METRICS_MAX_BODY_BYTES, with a Content-Length, else 413 / 411),
 * or sends what the parser refuses, gets 408 / 414 / 400 and is closed; past
 * METRICS_MAX_CONNECTIONS new connections are closed at once. Nothing here but fault injection
 * changes the node's state.
 *
 * The dashboard (dashboard.c) answers its own paths through the same listener: /, /dashboard,
 * /dashboard/<file> and /api/state as one request each, and GET /api/events as an event
 * stream (text/event-stream) that stays open. A stream leaves the request limits: it is
 * counted against METRICS_MAX_STREAMS instead of METRICS_MAX_CONNECTIONS (past it, 503), its
 * request timer stops, and it lives until the browser goes or it falls more than
 * METRICS_STREAM_MAX_UNSENT_BYTES behind (then it is closed: a browser reconnects by itself).
 */
#include "server/server.h"

#include <http_parser.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    METRICS_URL_BYTES = 256,
    METRICS_MAX_CONNECTIONS = 64,
    METRICS_REQUEST_TIMEOUT_MS = 5000,
    METRICS_LISTEN_BACKLOG = 64,
    METRICS_READ_BYTES = 4096,
    READY_MAX_LAG_ENTRIES = 1000,
    METRICS_RESPONSE_MAX_BYTES = 4 * 1024 * 1024,
    METRICS_MAX_BODY_BYTES = 4096, /* POST /api/fault's JSON */
    METRICS_MAX_STREAMS = 32,
    METRICS_STREAM_MAX_UNSENT_BYTES = 1024 * 1024,
};

struct metrics_connection;

struct metrics {
    struct server *server;
    uv_tcp_t listener;
    struct metrics_connection *connections; /* every one not yet freed, to close at shutdown */
    size_t connection_count;                /* ...of which this many are not closing */
    uint32_t stream_count;                  /* event streams open (not in connection_count) */
    bool closing;
    bool listener_closed;
};

struct metrics_connection {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write;
    struct metrics *metrics;
    struct metrics_connection *prev;
    struct metrics_connection *next;
    http_parser parser;
    char url[METRICS_URL_BYTES];
    size_t url_bytes;
    bool url_too_long;
    char location[METRICS_URL_BYTES + 16]; /* "Location: ...\r\n" of a redirect, or "" */
    bool has_body;
    bool body_allowed;       /* POST /api/fault with an acceptable Content-Length */
    int body_refused_status; /* 411 or 413 for such a POST that is not acceptable */
    char body[METRICS_MAX_BODY_BYTES];
    size_t body_bytes;
    bool answered;
    bool closing;
    bool streaming;       /* an event stream: `response` is the write in flight, if any */
    bool write_in_flight; /* streams only */
    bool no_store;        /* Cache-Control: no-store (the dashboard's /api/ answers) */
    int handles_open;     /* tcp and timer: freed when both closed */
    struct proto_buffer response;
    struct proto_buffer stream_unsent; /* streams: bytes waiting for the write in flight */
    char read_buffer[METRICS_READ_BYTES];
};

/* ---- the text of /metrics -------------------------------------------------------------------- */

static void add(struct proto_buffer *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void add(struct proto_buffer *out, const char *format, ...)
{
    char line[512];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    if (length > 0) {
        proto_buffer_append(out, line,
                            (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
    }
}

static void metric(struct proto_buffer *out, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    add(out, "# HELP raftkv_%s %s\n# TYPE raftkv_%s %s\nraftkv_%s %" PRIu64 "\n", name, help, name,
        type, name, value);
}

/* A histogram's samples; labels ("peer=\"2\",") go in front of le, or "" for none. */
static void histogram_samples(struct proto_buffer *out, const char *name, const char *labels,
                              const struct histogram *h)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
        cumulative += h->counts[i];
        add(out, "raftkv_%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, labels, histogram_bound_s(i),
            cumulative);
    }
    add(out, "raftkv_%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, h->total);
    size_t label_bytes = strlen(labels);
    char braces[64] = "";
    if (label_bytes > 0 && label_bytes < sizeof braces - 2) {
        snprintf(braces, sizeof braces, "{%.*s}", (int)(label_bytes - 1), labels);
    }
    add(out, "raftkv_%s_sum%s %.9f\n", name, braces, (double)h->sum_ns / 1e9);
    add(out, "raftkv_%s_count%s %" PRIu64 "\n", name, braces, h->total);
}

static void histogram(struct proto_buffer *out, const char *name, const char *help,
                      const struct histogram *h)
{
    add(out, "# HELP raftkv_%s %s\n# TYPE raftkv_%s histogram\n", name, help, name);
    histogram_samples(out, name, "", h);
}

static void command_line(void *context, const char *name, const struct command_stat *stat)
{
    add(context, "raftkv_commands_total{command=\"%s\"} %" PRIu64 "\n", name, stat->calls);
}

static void error_line(void *context, const char *kind, uint64_t count)
{
    /* Label values escape backslash, quote and newline; error kinds are one word. */
    char escaped[2 * STATS_ERROR_KIND_BYTES];
    size_t used = 0;
    for (const char *c = kind; *c != '\0' && used + 2 < sizeof escaped; c++) {
        if (*c == '\\' || *c == '"') {
            escaped[used++] = '\\';
        }
        escaped[used++] = *c == '\n' ? ' ' : *c;
    }
    escaped[used] = '\0';
    add(context, "raftkv_errors_total{type=\"%s\"} %" PRIu64 "\n", escaped, count);
}

static void metrics_text(struct server *server, struct proto_buffer *out)
{
    struct node *node = &server->node;
    struct raft *raft = node->raft;
    const struct server_stats *stats = &server->stats;
    bool leader_known = raft != NULL && raft_leader(raft) != 0;
    metric(out, "has_leader", "gauge", "Whether a leader is known to this node.",
           leader_known ? 1 : 0);
    metric(out, "is_leader", "gauge", "Whether this node is the leader.",
           raft != NULL && raft_role(raft) == RAFT_LEADER ? 1 : 0);
    metric(out, "is_learner", "gauge", "Whether this node is a learner (a non-voting member).",
           raft != NULL &&
                   raft_configuration_is_learner(raft_configuration(raft), server->config.id)
               ? 1
               : 0);
    metric(out, "node_failed", "gauge",
           "Whether this node stopped on a storage failure and is recovering.", node->fatal);
    metric(out, "leader_changes_seen_total", "counter", "Leader changes this node has seen.",
           node->leader_changes);
    metric(out, "elections_started_total", "counter", "Elections this node started.",
           raft != NULL ? raft_election_count(raft) : 0);
    metric(out, "term", "gauge", "The current Raft term.", raft != NULL ? raft_term(raft) : 0);
    metric(out, "commit_index", "gauge", "The highest log index known committed.",
           raft != NULL ? raft_commit_index(raft) : 0);
    metric(out, "applied_index", "gauge", "The highest log index applied to the state machine.",
           node->kv != NULL ? kv_applied_index(node->kv) : 0);
    metric(out, "proposals_committed_total", "counter",
           "Client writes this node proposed that committed.", stats->writes_committed);
    metric(out, "proposals_applied_total", "counter",
           "Log entries this node applied to its state machine.", stats->entries_applied);
    metric(out, "proposals_pending", "gauge", "Client writes proposed and not yet settled.",
           server->pending_writes.count);
    metric(out, "proposals_failed_total", "counter",
           "Client writes proposed that did not commit (TRYAGAIN) or whose fate is unknown "
           "(UNCERTAIN).",
           stats->writes_retry + stats->writes_uncertain);
    metric(out, "reads_linearizable_total", "counter", "Reads served after a read index.",
           stats->reads_linearizable);
    metric(out, "reads_failed_total", "counter", "Reads refused because the read index failed.",
           stats->reads_failed);
    metric(out, "redirects_total", "counter", "Commands answered MOVED to the leader.",
           stats->redirects);
    metric(out, "wal_fsyncs_total", "counter", "Fsyncs of the write-ahead log.", stats->fsyncs);
    histogram(out, "wal_fsync_duration_seconds", "Fsync of the write-ahead log.",
              &stats->wal_fsync);
    histogram(out, "apply_duration_seconds", "Applying one batch of committed entries.",
              &stats->apply);
    histogram(out, "snapshot_save_duration_seconds", "Exporting a snapshot of the state machine.",
              &stats->snapshot_save);
    histogram(out, "snapshot_install_duration_seconds",
              "Installing a snapshot received from the leader.", &stats->snapshot_install);
    add(out, "# HELP raftkv_peer_round_trip_time_seconds Heartbeat round trips to each peer "
             "(measured while this node leads).\n"
             "# TYPE raftkv_peer_round_trip_time_seconds histogram\n");
    for (size_t i = 0; i < RAFT_MAX_NODES; i++) {
        const struct peer_round_trip *trip = &stats->round_trips[i];
        if (trip->peer != 0) {
            char labels[48];
            snprintf(labels, sizeof labels, "peer=\"%" PRIu64 "\",", (uint64_t)trip->peer);
            histogram_samples(out, "peer_round_trip_time_seconds", labels, &trip->histogram);
        }
    }
    uint64_t snapshot_sent, snapshot_received;
    transport_snapshot_bytes(server->transport, &snapshot_sent, &snapshot_received);
    metric(out, "snapshot_sent_bytes_total", "counter", "Snapshot data sent to peers.",
           snapshot_sent);
    metric(out, "snapshot_received_bytes_total", "counter", "Snapshot data received from peers.",
           snapshot_received);
    metric(out, "snapshots_taken_total", "counter", "Snapshots this node took.",
           stats->snapshots_taken);
    metric(out, "snapshots_installed_total", "counter", "Snapshots installed from the leader.",
           stats->snapshots_installed);
    metric(out, "db_used_bytes", "gauge", "Bytes of the database's pages in use.",
           node->kv != NULL ? kv_used_bytes(node->kv) : 0);
    metric(out, "db_file_bytes", "gauge", "Size of the database file.",
           node->kv != NULL ? kv_file_bytes(node->kv) : 0);
    metric(out, "db_quota_bytes", "gauge", "The space quota (max-db-bytes).", node->max_db_bytes);
    metric(out, "db_quota_alarm", "gauge", "Whether writes that grow the data are refused.",
           node_over_quota(server) ? 1 : 0);
    uint64_t keys = 0;
    uint64_t expires = 0;
    if (node->kv != NULL && kv_key_counts(node->kv, &keys, &expires) != 0) {
        keys = expires = 0;
    }
    metric(out, "keys", "gauge", "Keys in the state machine.", keys);
    metric(out, "keys_with_expiry", "gauge", "Keys with a time to live.", expires);
    metric(out, "connected_clients", "gauge", "Client connections.", server->client_count);
    metric(out, "blocked_clients", "gauge", "Clients waiting in a blocking command.",
           server->blocked.count);
    metric(out, "net_input_bytes_total", "counter", "Bytes read from clients.", stats->bytes_in);
    metric(out, "net_output_bytes_total", "counter", "Bytes written to clients.", stats->bytes_out);
    metric(out, "resident_memory_bytes", "gauge", "Resident set size of the process.",
           info_resident_bytes());
    add(out, "# HELP raftkv_commands_total Commands received, by name.\n"
             "# TYPE raftkv_commands_total counter\n");
    commands_for_each_call(server, command_line, out);
    add(out, "# HELP raftkv_errors_total Error replies, by their first word.\n"
             "# TYPE raftkv_errors_total counter\n");
    stats_for_each_error(error_line, out);
}

/* Why the node is not ready, or NULL when it is. */
static const char *not_ready_reason(struct server *server, char *text, size_t text_bytes)
{
    struct node *node = &server->node;
    if (node->fatal || node->raft == NULL || node->kv == NULL) {
        return "the node is recovering from a storage failure";
    }
    if (raft_leader(node->raft) == 0) {
        return "no leader is known";
    }
    uint64_t commit = raft_commit_index(node->raft);
    uint64_t applied = kv_applied_index(node->kv);
    if (commit > applied && commit - applied > READY_MAX_LAG_ENTRIES) {
        snprintf(text, text_bytes, "applied %" PRIu64 " of %" PRIu64 " committed entries", applied,
                 commit);
        return text;
    }
    return NULL;
}

/* ---- HTTP -------------------------------------------------------------------------------------
 */

/* The struct metrics goes once its listener and every connection have closed. */
static void metrics_maybe_free(struct metrics *metrics)
{
    if (metrics->closing && metrics->listener_closed && metrics->connections == NULL) {
        free(metrics);
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct metrics_connection *connection = handle->data;
    if (--connection->handles_open > 0) {
        return;
    }
    struct metrics *metrics = connection->metrics;
    if (connection->prev != NULL) {
        connection->prev->next = connection->next;
    } else {
        metrics->connections = connection->next;
    }
    if (connection->next != NULL) {
        connection->next->prev = connection->prev;
    }
    proto_buffer_free(&connection->response);
    proto_buffer_free(&connection->stream_unsent);
    free(connection);
    metrics_maybe_free(metrics);
}

/* Counted out at once, not when libuv has closed the handles: a connection being closed
 * must not keep a new one out (the limit is on connections still served). */
static void connection_close(struct metrics_connection *connection)
{
    if (!connection->closing) {
        connection->closing = true;
        if (connection->streaming) {
            connection->metrics->stream_count--;
        } else {
            connection->metrics->connection_count--;
        }
    }
    if (!uv_is_closing((uv_handle_t *)&connection->tcp)) {
        uv_close((uv_handle_t *)&connection->tcp, on_handle_closed);
    }
    if (!uv_is_closing((uv_handle_t *)&connection->timer)) {
        uv_close((uv_handle_t *)&connection->timer, on_handle_closed);
    }
}

static void on_written(uv_write_t *write, int status)
{
    (void)status;
    connection_close(write->data);
}

static void respond(struct metrics_connection *connection, int status, const char *reason,
                    const char *content_type, const struct proto_buffer *body, bool head)
{
    if (connection->answered) {
        return;
    }
    connection->answered = true;
    uv_read_stop((uv_stream_t *)&connection->tcp);
    struct proto_buffer *out = &connection->response;
    add(out,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
        "Access-Control-Allow-Origin: *\r\n%s%s%s\r\n",
        status, reason, content_type, body != NULL ? body->length : 0,
        connection->parser.method == HTTP_OPTIONS
            ? "Access-Control-Allow-Methods: POST, GET\r\nAccess-Control-Allow-Headers: "
              "Content-Type\r\nAccess-Control-Max-Age: 600\r\n"
            : "",
        connection->no_store ? "Cache-Control: no-store\r\n" : "", connection->location);
    if (body != NULL && !head) {
        proto_buffer_append(out, body->data, body->length);
    }
    uv_buf_t buffer = uv_buf_init((char *)out->data, (unsigned)out->length);
    connection->write.data = connection;
    if (uv_write(&connection->write, (uv_stream_t *)&connection->tcp, &buffer, 1, on_written) !=
        0) {
        connection_close(connection);
    }
}

static void respond_text(struct metrics_connection *connection, int status, const char *reason,
                         const char *text)
{
    struct proto_buffer body;
    proto_buffer_init(&body, METRICS_RESPONSE_MAX_BYTES);
    proto_buffer_append(&body, text, strlen(text));
    proto_buffer_append(&body, "\n", 1);
    respond(connection, status, reason, "text/plain; charset=utf-8", &body, false);
    proto_buffer_free(&body);
}

static const char *status_reason(int status)
{
    return status == 200   ? "OK"
           : status == 400 ? "Bad Request"
           : status == 403 ? "Forbidden"
                           : "Error";
}

static bool path_is(const struct metrics_connection *connection, const char *path)
{
    size_t path_bytes = strcspn(connection->url, "?");
    return path_bytes == strlen(path) && strncmp(connection->url, path, path_bytes) == 0;
}

/* The CORS preflight and fault injection's routes (fault.c): true when it answered. */
static bool serve_fault_api(struct metrics_connection *connection)
{
    enum http_method method = connection->parser.method;
    if (method == HTTP_OPTIONS) {
        respond(connection, 204, "No Content", "text/plain; charset=utf-8", NULL, false);
        return true;
    }
    bool post = path_is(connection, "/api/fault");
    if (!post && !path_is(connection, "/api/faults")) {
        return false;
    }
    if (method != (post ? HTTP_POST : HTTP_GET)) {
        respond_text(connection, 405, "Method Not Allowed",
                     post ? "POST /api/fault, GET /api/faults"
                          : "GET /api/faults, POST /api/fault");
        return true;
    }
    struct proto_buffer body;
    proto_buffer_init(&body, METRICS_RESPONSE_MAX_BYTES);
    int status = fault_http(connection->metrics->server, post, (const uint8_t *)connection->body,
                            connection->body_bytes, &body);
    proto_buffer_append(&body, "\n", 1);
    respond(connection, status, status_reason(status), "application/json", &body, false);
    proto_buffer_free(&body);
    return true;
}

/* ---- the dashboard's event streams ------------------------------------------------------------
 */

static void stream_flush(struct metrics_connection *connection);

static void on_stream_written(uv_write_t *write, int status)
{
    struct metrics_connection *connection = write->data;
    connection->write_in_flight = false;
    if (status != 0) {
        connection_close(connection);
        return;
    }
    proto_buffer_truncate(&connection->response, 0);
    stream_flush(connection);
}

/* Hands what waits to the socket, unless a write is in flight (its callback comes back). */
static void stream_flush(struct metrics_connection *connection)
{
    if (connection->write_in_flight || connection->closing ||
        connection->stream_unsent.length == 0) {
        return;
    }
    struct proto_buffer writing = connection->stream_unsent;
    connection->stream_unsent = connection->response;
    connection->response = writing;
    uv_buf_t buffer =
        uv_buf_init((char *)connection->response.data, (unsigned)connection->response.length);
    connection->write.data = connection;
    if (uv_write(&connection->write, (uv_stream_t *)&connection->tcp, &buffer, 1,
                 on_stream_written) != 0) {
        connection_close(connection);
        return;
    }
    connection->write_in_flight = true;
}

static void stream_send(struct metrics_connection *connection, const void *bytes, size_t length)
{
    if (connection->closing) {
        return;
    }
    if (connection->stream_unsent.length + length > METRICS_STREAM_MAX_UNSENT_BYTES ||
        proto_buffer_append(&connection->stream_unsent, bytes, length) != 0) {
        connection_close(connection); /* it cannot keep up; its browser reconnects */
        return;
    }
    stream_flush(connection);
}

static void stream_open(struct metrics_connection *connection)
{
    struct metrics *metrics = connection->metrics;
    connection->no_store = true;
    if (metrics->stream_count >= METRICS_MAX_STREAMS) {
        char text[128];
        snprintf(text, sizeof text, "too many event streams are open (%d); try again later",
                 METRICS_MAX_STREAMS);
        respond_text(connection, 503, "Service Unavailable", text);
        return;
    }
    connection->answered = true;
    connection->streaming = true;
    metrics->connection_count--;
    metrics->stream_count++;
    uv_timer_stop(&connection->timer);
    struct proto_buffer start;
    proto_buffer_init(&start, METRICS_STREAM_MAX_UNSENT_BYTES);
    add(&start, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                "Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n");
    dashboard_stream_begin(metrics->server, &start);
    stream_send(connection, start.data, start.length);
    proto_buffer_free(&start);
}

uint32_t metrics_stream_count(const struct server *server)
{
    return server->metrics != NULL ? server->metrics->stream_count : 0;
}

void metrics_stream_broadcast(struct server *server, const uint8_t *bytes, size_t length)
{
    struct metrics *metrics = server->metrics;
    if (metrics == NULL) {
        return;
    }
    for (struct metrics_connection *c = metrics->connections; c != NULL; c = c->next) {
        if (c->streaming) {
            stream_send(c, bytes, length);
        }
    }
}

/* A path of the dashboard's (dashboard.c), answered as one request. */
static void serve_dashboard(struct metrics_connection *connection,
                            const struct dashboard_answer *answer, struct proto_buffer *body,
                            bool head)
{
    connection->no_store = answer->no_store;
    if (answer->location != NULL) {
        snprintf(connection->location, sizeof connection->location, "Location: %s\r\n",
                 answer->location);
    }
    respond(connection, answer->status, answer->reason, answer->content_type, body, head);
}

static void serve(struct metrics_connection *connection)
{
    struct server *server = connection->metrics->server;
    if (serve_fault_api(connection)) {
        return;
    }
    bool head = connection->parser.method == HTTP_HEAD;
    if (connection->parser.method != HTTP_GET && !head) {
        respond_text(connection, 405, "Method Not Allowed", "only GET and HEAD");
        return;
    }
    size_t path_bytes = strcspn(connection->url, "?");
    connection->url[path_bytes] = '\0';
    struct proto_buffer body;
    proto_buffer_init(&body, METRICS_RESPONSE_MAX_BYTES);
    struct dashboard_answer dashboard;
    if (strcmp(connection->url, "/api/events") == 0) {
        if (head) {
            respond_text(connection, 405, "Method Not Allowed", "an event stream takes GET");
        } else {
            stream_open(connection);
        }
    } else if (dashboard_answer(server, connection->url, &body, &dashboard)) {
        serve_dashboard(connection, &dashboard, &body, head);
    } else if (strcmp(connection->url, "/metrics") == 0) {
        metrics_text(server, &body);
        respond(connection, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", &body, head);
    } else if (strcmp(connection->url, "/livez") == 0) {
        proto_buffer_append(&body, "ok\n", 3);
        respond(connection, 200, "OK", "text/plain; charset=utf-8", &body, head);
    } else if (strcmp(connection->url, "/readyz") == 0) {
        char text[128];
        const char *reason = not_ready_reason(server, text, sizeof text);
        const char *answer = reason != NULL ? reason : "ok";
        proto_buffer_append(&body, answer, strlen(answer));
        proto_buffer_append(&body, "\n", 1);
        respond(connection, reason != NULL ? 503 : 200,
                reason != NULL ? "Service Unavailable" : "OK", "text/plain; charset=utf-8", &body,
                head);
    } else {
        respond_text(connection, 404, "Not Found",
                     "try /metrics, /livez, /readyz, /dashboard or /api/state");
    }
    proto_buffer_free(&body);
}

static int on_url(http_parser *parser, const char *at, size_t length)
{
    struct metrics_connection *connection = parser->data;
    if (connection->url_bytes + length >= METRICS_URL_BYTES) {
        connection->url_too_long = true;
        return -1;
    }
    memcpy(connection->url + connection->url_bytes, at, length);
    connection->url_bytes += length;
    connection->url[connection->url_bytes] = '\0';
    return 0;
}

/* Only POST /api/fault may have a body, of a declared length within METRICS_MAX_BODY_BYTES. */
static int on_headers_complete(http_parser *parser)
{
    struct metrics_connection *connection = parser->data;
    if (parser->method != HTTP_POST || !path_is(connection, "/api/fault")) {
        return 0; /* a body, if any, is refused by on_body */
    }
    if ((parser->flags & F_CONTENTLENGTH) == 0) {
        connection->body_refused_status = 411; /* chunked, or no length at all */
        return -1;
    }
    if (parser->content_length > METRICS_MAX_BODY_BYTES) {
        connection->body_refused_status = 413;
        return -1;
    }
    connection->body_allowed = true;
    return 0;
}

static int on_body(http_parser *parser, const char *at, size_t length)
{
    struct metrics_connection *connection = parser->data;
    if (!connection->body_allowed || length > sizeof connection->body - connection->body_bytes) {
        connection->has_body = true;
        return -1;
    }
    memcpy(connection->body + connection->body_bytes, at, length);
    connection->body_bytes += length;
    return 0;
}

static int on_message_complete(http_parser *parser)
{
    serve(parser->data);
    http_parser_pause(parser, 1); /* one request per connection */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buffer)
{
    (void)suggested;
    struct metrics_connection *connection = handle->data;
    *buffer = uv_buf_init(connection->read_buffer, sizeof connection->read_buffer);
}

static void on_read(uv_stream_t *stream, ssize_t bytes_read, const uv_buf_t *buffer)
{
    struct metrics_connection *connection = stream->data;
    if (bytes_read < 0) {
        connection_close(connection);
        return;
    }
    if (bytes_read == 0 || connection->answered) {
        return;
    }
    http_parser_execute(&connection->parser, &parser_settings, buffer->base, (size_t)bytes_read);
    enum http_errno error = HTTP_PARSER_ERRNO(&connection->parser);
    if (connection->answered || error == HPE_OK) {
        return;
    }
    if (connection->url_too_long) {
        respond_text(connection, 414, "URI Too Long", "the URL is too long");
    } else if (connection->body_refused_status == 411) {
        respond_text(connection, 411, "Length Required", "POST /api/fault needs a Content-Length");
    } else if (connection->body_refused_status == 413) {
        respond_text(connection, 413, "Payload Too Large", "the body is larger than 4096 bytes");
    } else if (connection->has_body) {
        respond_text(connection, 400, "Bad Request", "requests have no body here");
    } else {
        respond_text(connection, 400, "Bad Request", http_errno_description(error));
    }
}

static void on_timeout(uv_timer_t *timer)
{
    struct metrics_connection *connection = timer->data;
    if (!connection->answered) {
        respond_text(connection, 408, "Request Timeout", "no whole request in time");
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct metrics *metrics = listener->data;
    if (status != 0 || metrics->closing) {
        return;
    }
    struct metrics_connection *connection = calloc(1, sizeof *connection);
    if (connection == NULL) {
        return; /* the pending connection waits in the backlog */
    }
    connection->metrics = metrics;
    uv_tcp_init(listener->loop, &connection->tcp);
    uv_timer_init(listener->loop, &connection->timer);
    connection->tcp.data = connection->timer.data = connection;
    connection->handles_open = 2;
    connection->next = metrics->connections;
    if (metrics->connections != NULL) {
        metrics->connections->prev = connection;
    }
    metrics->connections = connection;
    metrics->connection_count++;
    proto_buffer_init(&connection->response, METRICS_RESPONSE_MAX_BYTES + 512);
    proto_buffer_init(&connection->stream_unsent, METRICS_RESPONSE_MAX_BYTES + 512);
    http_parser_init(&connection->parser, HTTP_REQUEST);
    connection->parser.data = connection;
    if (uv_accept(listener, (uv_stream_t *)&connection->tcp) != 0 ||
        metrics->connection_count > METRICS_MAX_CONNECTIONS) {
        connection_close(connection);
        return;
    }
    uv_timer_start(&connection->timer, on_timeout, METRICS_REQUEST_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&connection->tcp, on_alloc, on_read) != 0) {
        connection_close(connection);
    }
}

int metrics_listen(struct server *server)
{
    if (server->config.metrics_addr[0] == '\0') {
        return 0;
    }
    char host[CONFIG_HOST_BYTES];
    uint16_t port;
    struct sockaddr_storage address;
    if (config_parse_address(server->config.metrics_addr, host, sizeof host, &port) != 0 ||
        (uv_ip4_addr(host, port, (struct sockaddr_in *)&address) != 0 &&
         uv_ip6_addr(host, port, (struct sockaddr_in6 *)&address) != 0)) {
        log_error("invalid --metrics-addr %s (HOST:PORT with a numeric host)",
                  server->config.metrics_addr);
        return -1;
    }
    struct metrics *metrics = calloc(1, sizeof *metrics);
    if (metrics == NULL) {
        return -1;
    }
    metrics->server = server;
    uv_tcp_init(server->loop, &metrics->listener);
    metrics->listener.data = metrics;
    server->metrics = metrics;
    int rc = uv_tcp_bind(&metrics->listener, (const struct sockaddr *)&address, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&metrics->listener, METRICS_LISTEN_BACKLOG, on_connection);
    }
    if (rc != 0) {
        log_error("cannot listen for metrics on %s: %s", server->config.metrics_addr,
                  uv_strerror(rc));
        return -1;
    }
    if (dashboard_start(server) != 0) {
        log_error("cannot start the dashboard: out of memory");
        return -1;
    }
    log_info("serving /metrics, /livez and /readyz on http://%s, and the dashboard on "
             "http://%s/dashboard",
             server->config.metrics_addr, server->config.metrics_addr);
    return 0;
}

static void on_listener_closed(uv_handle_t *handle)
{
    struct metrics *metrics = handle->data;
    metrics->listener_closed = true;
    metrics_maybe_free(metrics);
}

void metrics_close(struct server *server)
{
    struct metrics *metrics = server->metrics;
    if (metrics == NULL) {
        return;
    }
    dashboard_stop(server);
    server->metrics = NULL;
    metrics->closing = true;
    for (struct metrics_connection *c = metrics->connections; c != NULL; c = c->next) {
        connection_close(c);
    }
    uv_close((uv_handle_t *)&metrics->listener, on_listener_closed);
}
