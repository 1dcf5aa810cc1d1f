/*
 * client.c — client connections: accept, read, parse, hand each request to commands.c, close.
 * The replies' way back, in request order, is client_reply.c's.
 *
 * Happy path: bytes arrive in the client's input buffer; resp_parse() yields one request at
 * a time (pipelining: many per read); each is executed. A request answered at once, with no
 * earlier request still waiting, writes its reply straight into the output buffer; one that
 * must wait (a write to commit, a read for its read index) becomes a struct request at the
 * tail of the client's FIFO, and later replies queue behind it. Outputs are flushed once
 * per event-loop turn (server->flush_list), so a pipeline's replies leave in few writes.
 *
 * Failure modes: a protocol error answers "-ERR Protocol error: ..." and closes the
 * connection, as Redis does. A client over max_query_buffer_bytes is closed, and so is one
 * whose unsent replies (the output buffer and the replies finished behind a waiting request)
 * pass max_output_buffer_bytes, or one of whose replies does not fit at all: at once, its
 * replies dropped, as Redis's client-output-buffer-limit does. A client with
 * max_pipeline_requests waiting stops being read until some complete. A connection past
 * max_clients (which start-up lowers to what RLIMIT_NOFILE leaves after storage's reserve)
 * gets "-ERR max number of clients reached" and is closed at once. A closed client's waiting
 * requests stay in the server's pending lists, detached, so that node.c can still settle
 * them; their replies are dropped.
 *
 * TLS clients (tls-port, tls-only) take the same path: client_tls.c decrypts what they send
 * into the same input buffer and encrypts the same output, through a few calls made here and in
 * client_reply.c.
 */
#include "server/server.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "server/log.h"
#include "server/tls.h"

enum {
    READ_CHUNK_BYTES = 64 * 1024,
    LISTEN_BACKLOG = 511,
    /* File descriptors clients may never take: the peers' links and the 64 connections the
     * transport lets sit in their handshake, the WAL's segments and directory, LMDB, snapshot
     * files being written or streamed, libuv's own, stdio. Redis keeps 32 for itself. */
    CLIENT_RESERVED_DESCRIPTORS = 128,
};

uint64_t server_now_ms(const struct server *server)
{
    return uv_now(server->loop);
}

static void on_closed(uv_handle_t *handle)
{
    struct client *client = handle->data;
    resp_parser_free(&client->parser);
    multi_reset(client);
    acl_client_free(client);
    proto_buffer_free(&client->input);
    proto_buffer_free(&client->output);
    proto_buffer_free(&client->writing);
    tls_session_free(client->tls);
    free(client);
}

void client_close(struct client *client)
{
    if (uv_is_closing((uv_handle_t *)&client->handle)) {
        return;
    }
    struct server *server = client->server;
    backup_client_gone(client);
    pubsub_client_gone(client); /* no message is written to a closing connection */
    /* Detach the waiting requests: node.c settles them and frees them. */
    struct request *request = client->fifo_head;
    while (request != NULL) {
        struct request *next = request->client_next;
        request->client = NULL;
        request->client_next = NULL;
        if (request->done && !request->pending) {
            client_request_free(request);
        }
        request = next;
    }
    client->fifo_head = client->fifo_tail = NULL;
    client->fifo_count = 0;
    if (client->prev != NULL) {
        client->prev->next = client->next;
    } else {
        server->clients = client->next;
    }
    if (client->next != NULL) {
        client->next->prev = client->prev;
    }
    server->client_count--;
    /* It may still be on the flush list: mark it so that client_flush_all skips it. */
    if (client->flush_scheduled) {
        struct client **link = &server->flush_list;
        while (*link != NULL && *link != client) {
            link = &(*link)->flush_next;
        }
        if (*link == client) {
            *link = client->flush_next;
        }
        client->flush_scheduled = false;
    }
    log_debug("client %llu (%s) closed", (unsigned long long)client->id, client->address);
    uv_close((uv_handle_t *)&client->handle, on_closed);
}

static void on_allocate(uv_handle_t *handle, size_t suggested, uv_buf_t *buffer)
{
    (void)suggested;
    struct client *client = handle->data;
    if (proto_buffer_reserve(&client->input, READ_CHUNK_BYTES) != 0) {
        buffer->base = NULL;
        buffer->len = 0;
        return;
    }
    buffer->base = (char *)client->input.data + client->input.length;
    buffer->len = client->input.capacity - client->input.length;
}

static void protocol_error(struct client *client)
{
    const char *text = resp_parser_error(&client->parser);
    char message[160];
    snprintf(message, sizeof message, "ERR %s", text);
    resp_append_error(&client->output, message, strlen(message));
    client->server->stats.protocol_errors++;
    log_info("client %llu (%s): %s; closing the connection", (unsigned long long)client->id,
             client->address, text);
    client->close_after_reply = true;
    uv_read_stop((uv_stream_t *)&client->handle);
    client->reading = false;
    client_schedule_flush(client);
}

/* Program order within one connection, as Redis keeps it for a pipeline: a read waits for
 * the connection's earlier writes (commands.c gives it their index), and a write behind a
 * read not yet executed waits, unparsed, until that read has run, so the read cannot see it. */
static bool must_wait(const struct client *client, const struct resp_command *command)
{
    if (client->reads_unanswered == 0) {
        return false;
    }
    const struct kv_command *data =
        kv_command_lookup((const uint8_t *)command->argv[0].data, command->argv[0].length);
    return data != NULL && (data->flags & KV_COMMAND_WRITE);
}

/* Parses and executes every complete request in the input buffer. */
static void client_process_input(struct client *client)
{
    size_t offset = 0;
    while (!client->close_after_reply && !client->closing && !client->output.append_failed) {
        if (client->fifo_count >= client->server->config.max_pipeline_requests) {
            uv_read_stop((uv_stream_t *)&client->handle); /* resumes in client_drain_fifo */
            client->reading = false;
            break;
        }
        struct resp_command command;
        size_t consumed = 0;
        int rc = resp_parse(&client->parser, (const char *)client->input.data + offset,
                            client->input.length - offset, &consumed, &command);
        if (rc == RESP_COMMAND && must_wait(client, &command)) {
            /* Not consumed: parsed again once the reads have run (client_drain_fifo). */
            uv_read_stop((uv_stream_t *)&client->handle);
            client->reading = false;
            break;
        }
        if (rc == RESP_COMMAND) {
            client->commands++;
            client->server->stats.commands_processed++;
            commands_execute(client, command.argc, command.argv);
            offset += consumed;
            continue;
        }
        offset += consumed;
        if (rc != RESP_NEED_MORE) {
            protocol_error(client);
        }
        break;
    }
    proto_buffer_consume(&client->input, offset);
    client_schedule_flush(client);
}

static void on_read(uv_stream_t *stream, ssize_t count, const uv_buf_t *buffer)
{
    (void)buffer;
    struct client *client = stream->data;
    if (count < 0) {
        client_close(client);
        return;
    }
    if (count == 0) {
        return;
    }
    client->input.length += (size_t)count;
    client->server->stats.bytes_in += (uint64_t)count;
    client_input_received(client);
}

void client_input_received(struct client *client)
{
    if (client->input.length > client->server->config.max_query_buffer_bytes) {
        log_warning("client %llu (%s) passed max-query-buffer-bytes; closing",
                    (unsigned long long)client->id, client->address);
        client_close(client);
        return;
    }
    client_process_input(client);
}

void client_start_reading(struct client *client)
{
    uv_alloc_cb allocate = client->tls != NULL ? client_tls_on_allocate : on_allocate;
    uv_read_cb read = client->tls != NULL ? client_tls_on_read : on_read;
    if (uv_read_start((uv_stream_t *)&client->handle, allocate, read) == 0) {
        client->reading = true;
        /* Requests may be waiting in the input buffer since reading paused. */
        if (client->input.length > 0) {
            client_process_input(client);
        }
    }
}

static void describe_peer(struct client *client)
{
    struct sockaddr_storage address;
    int length = sizeof address;
    snprintf(client->address, sizeof client->address, "?");
    if (uv_tcp_getpeername(&client->handle, (struct sockaddr *)&address, &length) != 0) {
        return;
    }
    char host[48];
    if (address.ss_family == AF_INET) {
        struct sockaddr_in *ipv4 = (struct sockaddr_in *)&address;
        uv_ip4_name(ipv4, host, sizeof host);
        snprintf(client->address, sizeof client->address, "%s:%u", host, ntohs(ipv4->sin_port));
    } else if (address.ss_family == AF_INET6) {
        struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *)&address;
        uv_ip6_name(ipv6, host, sizeof host);
        snprintf(client->address, sizeof client->address, "[%s]:%u", host, ntohs(ipv6->sin6_port));
    }
}

static struct client *client_new(struct server *server)
{
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        return NULL;
    }
    struct resp_limits limits;
    resp_limits_default(&limits);
    limits.max_bulk_bytes = server->config.max_bulk_bytes;
    limits.max_array_length = server->config.max_array_length;
    if (resp_parser_init(&client->parser, &limits) != 0) {
        free(client);
        return NULL;
    }
    client->server = server;
    client->id = ++server->next_client_id;
    client->protocol = 2;
    client->readonly = server->config.follower_reads;
    acl_client_init(client);
    client->created_ms = server_now_ms(server);
    proto_buffer_init(&client->input, server->config.max_query_buffer_bytes + READ_CHUNK_BYTES);
    proto_buffer_init(&client->output, server->config.max_output_buffer_bytes);
    proto_buffer_init(&client->writing, server->config.max_output_buffer_bytes);
    return client;
}

/* One connection too many: answer as Redis does and close it at once. It must not hold its
 * descriptor until the end of the loop turn, because libuv accepts a whole burst of
 * connections in one turn, and a burst held open would eat the descriptors reserved for
 * storage. A fresh socket's send buffer always takes the short error, so no write is queued. */
static void client_refuse(struct client *client)
{
    client->server->stats.connections_rejected++;
    if (client->tls != NULL) {
        client_close(client); /* no plaintext error on a TLS connection */
        return;
    }
    reply_error(&client->output, "ERR max number of clients reached");
    uv_buf_t refusal = uv_buf_init((char *)client->output.data, (unsigned)client->output.length);
    (void)uv_try_write((uv_stream_t *)&client->handle, &refusal, 1);
    client_close(client);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct server *server = listener->data;
    if (status < 0) {
        log_warning("accept failed: %s", uv_strerror(status));
        return;
    }
    client_accept(listener, server->config.tls_only);
}

void client_accept(uv_stream_t *listener, bool tls)
{
    struct server *server = listener->data;
    struct client *client = client_new(server);
    if (client == NULL || uv_tcp_init(server->loop, &client->handle) != 0) {
        free(client);
        return;
    }
    client->handle.data = client;
    if (uv_accept(listener, (uv_stream_t *)&client->handle) != 0) {
        uv_close((uv_handle_t *)&client->handle, on_closed);
        return;
    }
    server->stats.connections_received++;
    uv_tcp_nodelay(&client->handle, 1);
    describe_peer(client);
    if (tls && client_tls_attach(client) != 0) {
        log_warning("client %s: cannot allocate a TLS session; closing", client->address);
        uv_close((uv_handle_t *)&client->handle, on_closed);
        return;
    }
    client->next = server->clients;
    if (server->clients != NULL) {
        server->clients->prev = client;
    }
    server->clients = client;
    server->client_count++;
    if (server->client_count > server->config.max_clients || server->stopping) {
        client_refuse(client);
        return;
    }
    client_start_reading(client);
}

/*
 * Clients must never take the file descriptors storage needs: a WAL that cannot fsync its
 * directory or open its next segment (EMFILE) fails the waiting writes and takes the node out
 * of the cluster until its data reopens, so without a budget a flood of idle connections stops
 * the leader. As Redis does at startup (adjustOpenFilesLimit), the soft RLIMIT_NOFILE is
 * raised to max_clients plus a reserve when the hard limit allows, and otherwise max_clients is
 * lowered to what fits (INFO's maxclients then shows the lower value, as Redis's does); the
 * connections past it get "-ERR max number of clients reached".
 */
static void client_budget_descriptors(struct server *server)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
        return;
    }
    rlim_t wanted = (rlim_t)server->config.max_clients + CLIENT_RESERVED_DESCRIPTORS;
    if (limit.rlim_cur >= wanted) {
        return;
    }
    struct rlimit raised = limit;
    raised.rlim_cur =
        limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted ? wanted : limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
        limit.rlim_cur = raised.rlim_cur;
    }
    if (limit.rlim_cur >= wanted) {
        return;
    }
    uint32_t fit = limit.rlim_cur > CLIENT_RESERVED_DESCRIPTORS + 1
                       ? (uint32_t)(limit.rlim_cur - CLIENT_RESERVED_DESCRIPTORS)
                       : 1;
    assert(fit < server->config.max_clients);
    log_warning("max-clients %u needs %llu file descriptors, but the limit (ulimit -n) is %llu: "
                "max-clients lowered to %u",
                server->config.max_clients, (unsigned long long)wanted,
                (unsigned long long)limit.rlim_cur, fit);
    server->config.max_clients = fit;
}

int client_listen(struct server *server)
{
    client_budget_descriptors(server);
    const struct config_member *self = config_member(&server->config, server->config.id);
    struct sockaddr_storage address;
    int rc = uv_ip4_addr(self->client_host, self->client_port, (struct sockaddr_in *)&address);
    if (rc != 0) {
        rc = uv_ip6_addr(self->client_host, self->client_port, (struct sockaddr_in6 *)&address);
    }
    if (rc != 0) {
        log_error("invalid client address %s:%u", self->client_host, self->client_port);
        return -1;
    }
    uv_tcp_init(server->loop, &server->listener);
    server->listener.data = server;
    rc = uv_tcp_bind(&server->listener, (const struct sockaddr *)&address, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&server->listener, LISTEN_BACKLOG, on_connection);
    }
    if (rc != 0) {
        log_error("cannot listen for clients on %s:%u: %s", self->client_host, self->client_port,
                  uv_strerror(rc));
        return -1;
    }
    log_info("listening for %sclients on %s:%u", server->config.tls_only ? "TLS " : "",
             self->client_host, self->client_port);
    return client_tls_listen(server);
}

void client_close_all(struct server *server)
{
    while (server->clients != NULL) {
        client_close(server->clients);
    }
    if (!uv_is_closing((uv_handle_t *)&server->listener)) {
        uv_close((uv_handle_t *)&server->listener, NULL);
    }
    client_tls_close_listener(server);
}

/* At shutdown: frees the requests still waiting (their clients are gone). */
