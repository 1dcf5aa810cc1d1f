/*
 * client_reply.c — a client's replies on their way back, in request order: the requests that
 * wait (the client's FIFO, and the server's pending lists they sit in), the output buffers and
 * their limit, and the flushes that write them once per event-loop turn.
 *
 * Happy path: a request answered at once, with nothing waiting ahead of it, goes straight to
 * the output; one that waits is a struct request at the FIFO's tail, and replies queue behind
 * it until it finishes (client_request_finish, client_drain_fifo). client_flush_all writes
 * every client scheduled since the last turn: what the kernel takes at once, then one uv_write.
 * Failure modes: a client whose unsent replies pass max_output_buffer_bytes is closed at once,
 * its replies dropped (Redis's client-output-buffer-limit); a failed write closes it.
 */
#include "server/server.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

void request_list_push(struct request_list *list, struct request *request)
{
    assert(!request->pending);
    request->pending = true;
    request->pending_next = NULL;
    request->pending_prev = list->tail;
    if (list->tail != NULL) {
        list->tail->pending_next = request;
    } else {
        list->head = request;
    }
    list->tail = request;
    list->count++;
}

void request_list_push_front(struct request_list *list, struct request *request)
{
    assert(!request->pending);
    request->pending = true;
    request->pending_prev = NULL;
    request->pending_next = list->head;
    if (list->head != NULL) {
        list->head->pending_prev = request;
    } else {
        list->tail = request;
    }
    list->head = request;
    list->count++;
}

void request_list_remove(struct request_list *list, struct request *request)
{
    assert(request->pending);
    if (request->pending_prev != NULL) {
        request->pending_prev->pending_next = request->pending_next;
    } else {
        list->head = request->pending_next;
    }
    if (request->pending_next != NULL) {
        request->pending_next->pending_prev = request->pending_prev;
    } else {
        list->tail = request->pending_prev;
    }
    request->pending = false;
    request->pending_prev = NULL;
    request->pending_next = NULL;
    list->count--;
}

void client_request_free(struct request *request)
{
    assert(!request->pending);
    proto_buffer_free(&request->reply);
    free(request->command);
    free(request);
}

struct request *client_request_new(struct client *client, enum request_kind kind)
{
    struct request *request = calloc(1, sizeof *request);
    if (request == NULL) {
        return NULL;
    }
    struct server *server = client->server;
    request->client = client;
    request->kind = kind;
    request->stat = client->stat; /* answered later: its statistics then */
    client->requests_created++;
    request->deadline_ms = server_now_ms(server) + server->config.request_timeout_ms;
    proto_buffer_init(&request->reply, server->config.max_output_buffer_bytes);
    request->target.buffer = &request->reply;
    request->target.protocol = client->protocol;
    reply_sink_init(&request->sink, &request->target);
    if (client->fifo_tail != NULL) {
        client->fifo_tail->client_next = request;
    } else {
        client->fifo_head = request;
    }
    client->fifo_tail = request;
    client->fifo_count++;
    if (kind == REQUEST_READ) {
        client->reads_unanswered++;
    }
    return request;
}

/*
 * Unsent replies are the output buffer and the replies finished behind a request that still
 * waits (a write to commit, a read for its index): both count against max_output_buffer_bytes,
 * or a pipeline of large replies behind one slow write (a lost quorum holds it for
 * request_timeout_ms) could hold any amount of memory. This walks the FIFO, so it runs only
 * when a finished reply has to wait, and it stops at the limit.
 */
static bool client_output_over_limit(const struct client *client)
{
    size_t limit = client->server->config.max_output_buffer_bytes;
    size_t unsent = client->output.length;
    for (const struct request *request = client->fifo_head; request != NULL && unsent <= limit;
         request = request->client_next) {
        unsent += request->reply.length;
    }
    return unsent > limit;
}

/* As Redis does at client-output-buffer-limit: the client is disconnected and its unsent
 * replies are dropped, never sent with a hole in them. At once, so that none of its requests
 * still waiting (a pipeline holds up to max_pipeline_requests) is executed for nothing. */
static void client_drop_over_output_limit(struct client *client)
{
    log_warning("client %llu (%s) passed max-output-buffer-bytes; closing",
                (unsigned long long)client->id, client->address);
    client->closing = true;
    client_close(client);
}

/* The request's reply is complete; it leaves once every earlier one has. A request whose
 * client has gone is freed here (its outcome was still needed to settle the pending list).
 * The client may be closed on return, if its unsent replies passed their limit. */
void client_request_finish(struct request *request)
{
    assert(!request->done);
    request->done = true;
    struct client *client = request->client;
    if (request->trace_id != 0 && client != NULL) {
        dashboard_trace_answered(client->server, request->trace_id, request->reply.data,
                                 request->reply.length);
    }
    if (client != NULL && request->stat.slot != STATS_NO_COMMAND) {
        stats_command_done(client, &request->stat,
                           request->reply.length > 0 && request->reply.data[0] == '-');
    }
    if (request->kind == REQUEST_READ && client != NULL) {
        client->reads_unanswered--;
    }
    if (client == NULL) {
        if (!request->pending) {
            client_request_free(request);
        }
        return;
    }
    /* After every drain the head is unfinished, so a finished request that is not the head
     * stays behind it; a drain may free the request, so this is decided first. */
    bool waits = client->fifo_head != request || request->pending;
    client_drain_fifo(client);
    if (waits && !uv_is_closing((uv_handle_t *)&client->handle) &&
        client_output_over_limit(client)) {
        client_drop_over_output_limit(client);
    }
}

void client_drain_fifo(struct client *client)
{
    if (uv_is_closing((uv_handle_t *)&client->handle)) {
        return;
    }
    bool moved = false;
    while (client->fifo_head != NULL && client->fifo_head->done && !client->fifo_head->pending) {
        struct request *request = client->fifo_head;
        client->fifo_head = request->client_next;
        if (client->fifo_head == NULL) {
            client->fifo_tail = NULL;
        }
        client->fifo_count--;
        /* A reply that lost a part (append_failed) passed the limit on its own. */
        bool over_limit =
            request->reply.append_failed ||
            proto_buffer_append(&client->output, request->reply.data, request->reply.length) != 0;
        client_request_free(request);
        if (over_limit) {
            client_drop_over_output_limit(client);
            return;
        }
        moved = true;
    }
    if (moved) {
        client_schedule_flush(client);
        if (!client->reading && !client->closing &&
            client->fifo_count < client->server->config.max_pipeline_requests) {
            client_start_reading(client);
        }
    }
}

void client_schedule_flush(struct client *client)
{
    /* A closing client is freed by its close callback; it must not join the list again (a
     * cancelled write's callback runs after client_close took it off). */
    if (client->flush_scheduled || uv_is_closing((uv_handle_t *)&client->handle)) {
        return;
    }
    client->flush_scheduled = true;
    client->flush_next = client->server->flush_list;
    client->server->flush_list = client;
}

static void on_write_done(uv_write_t *write_request, int status)
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

static void client_flush(struct client *client)
{
    if (client->output.append_failed) {
        client_drop_over_output_limit(client); /* a reply written straight here did not fit */
        return;
    }
    if (client->closing) {
        client_close(client);
        return;
    }
    if (client->backup != NULL && !backup_pump(client)) {
        client_close(client);
        return;
    }
    if (client->tls != NULL) {
        client_tls_flush(client); /* client_tls.c: the same steps, through the session */
        return;
    }
    if (!client->write_in_flight && client->output.length > 0) {
        /* Most replies fit the socket's buffer: write them now, and only hand libuv what the
         * kernel did not take (a queued uv_write costs an epoll registration per write). */
        uv_buf_t direct = uv_buf_init((char *)client->output.data, (unsigned)client->output.length);
        int written = uv_try_write((uv_stream_t *)&client->handle, &direct, 1);
        if (written < 0 && written != UV_EAGAIN) {
            client_close(client);
            return;
        }
        if (written > 0) {
            client->server->stats.bytes_out += (uint64_t)written;
            proto_buffer_consume(&client->output, (size_t)written);
        }
    }
    if (!client->write_in_flight && client->output.length == 0 && backup_has_more(client)) {
        /* The socket took everything at once: no write callback will come to ask for more,
         * so come back at once (client_flush_all runs the list until it is empty). */
        client_schedule_flush(client);
        return;
    }
    if (client->write_in_flight || client->output.length == 0) {
        if (client->close_after_reply && !client->write_in_flight && client->output.length == 0 &&
            client->fifo_count == 0 && client->backup == NULL) {
            client_close(client);
        }
        return;
    }
    /* Swap buffers: the output's bytes go out while new replies gather in the other one. */
    struct proto_buffer swap = client->writing;
    client->writing = client->output;
    client->output = swap;
    uv_buf_t buffer = uv_buf_init((char *)client->writing.data, (unsigned)client->writing.length);
    client->write_request.data = client;
    if (uv_write(&client->write_request, (uv_stream_t *)&client->handle, &buffer, 1,
                 on_write_done) != 0) {
        client_close(client);
        return;
    }
    client->write_in_flight = true;
}

void client_flush_all(struct server *server)
{
    while (server->flush_list != NULL) {
        struct client *client = server->flush_list;
        server->flush_list = client->flush_next;
        client->flush_scheduled = false;
        client_flush(client);
    }
}

void request_list_discard(struct request_list *list)
{
    while (list->head != NULL) {
        struct request *request = list->head;
        request_list_remove(list, request);
        if (request->client == NULL) {
            client_request_free(request);
        }
    }
}
