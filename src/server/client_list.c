/*
 * client_list.c — CLIENT LIST and CLIENT INFO: one line of `field=value` pairs per connection
 * of this node, with Redis 7.0's fields in Redis 7.0's order, so that the libraries that parse
 * them (redis-py's client_list(), which rq's Worker calls to learn its own address) find every
 * field they look for. The line is the node's view: a client connected to another node is
 * listed there, not here, as Redis Cluster's nodes each list their own.
 *
 * Fields raftkv has no counterpart for are given their Redis values for a plain connection
 * (db=0, ssub=0, argv-mem=0, oll=0, redir=-1); the buffer sizes are this connection's own
 * buffers. `cmd` is the last command the connection sent, as `name` or `container|sub`, and
 * `idle` the seconds since it arrived.
 */
#include "server/server.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void client_note_command(struct client *client, size_t argc, const struct kv_arg *argv)
{
    client->last_command_ms = server_now_ms(client->server);
    commands_full_name(argc, argv, client->last_command, sizeof client->last_command);
}

/* The connection's local address, as Redis's `laddr`. */
static void local_address(struct client *client, char *text, size_t capacity)
{
    struct sockaddr_storage address;
    int length = sizeof address;
    char host[48];
    snprintf(text, capacity, "?");
    if (uv_tcp_getsockname(&client->handle, (struct sockaddr *)&address, &length) != 0) {
        return;
    }
    if (address.ss_family == AF_INET) {
        struct sockaddr_in *ipv4 = (struct sockaddr_in *)&address;
        uv_ip4_name(ipv4, host, sizeof host);
        snprintf(text, capacity, "%s:%u", host, ntohs(ipv4->sin_port));
    } else if (address.ss_family == AF_INET6) {
        struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *)&address;
        uv_ip6_name(ipv6, host, sizeof host);
        snprintf(text, capacity, "[%s]:%u", host, ntohs(ipv6->sin6_port));
    }
}

/* Redis's flags letters for what raftkv has: P subscribed, x in MULTI, r READONLY; N none. */
static void client_flags(const struct client *client, char *text)
{
    size_t length = 0;
    if (client->pubsub.channel_count + client->pubsub.pattern_count > 0) {
        text[length++] = 'P';
    }
    if (client->multi.active) {
        text[length++] = 'x';
    }
    if (client->readonly) {
        text[length++] = 'r';
    }
    if (length == 0) {
        text[length++] = 'N';
    }
    text[length] = '\0';
}

/* Appends the client's line, without the newline; false when memory runs out. */
static bool append_client_line(struct proto_buffer *text, struct client *client)
{
    uint64_t now_ms = server_now_ms(client->server);
    char laddr[64];
    char flags[8];
    local_address(client, laddr, sizeof laddr);
    client_flags(client, flags);
    uv_os_fd_t fd = -1;
    uv_fileno((const uv_handle_t *)&client->handle, &fd);
    uint64_t last_ms = client->last_command_ms != 0 ? client->last_command_ms : client->created_ms;
    size_t output_bytes = client->output.length + client->writing.length;
    size_t memory_bytes = sizeof *client + client->input.capacity + client->output.capacity +
                          client->writing.capacity;
    char line[1024];
    int length = snprintf(
        line, sizeof line,
        "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64 " idle=%" PRIu64
        " flags=%s db=0 sub=%zu psub=%zu ssub=0 multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0"
        " multi-mem=%zu rbs=%zu rbp=%zu obl=%zu oll=0 omem=%zu tot-mem=%zu events=%s cmd=%s"
        " user=%s redir=-1 resp=%d",
        client->id, client->address, laddr, (int)fd, client->name,
        (now_ms - client->created_ms) / 1000, (now_ms - last_ms) / 1000, flags,
        client->pubsub.channel_count, client->pubsub.pattern_count,
        client->multi.active ? (int)client->multi.commands : -1, client->input.length,
        client->input.capacity - client->input.length, client->multi.queue.bytes_used,
        client->input.capacity, client->input.length, client->output.length, output_bytes,
        memory_bytes, client->write_in_flight ? "rw" : "r",
        client->last_command[0] != '\0' ? client->last_command : "NULL", client->user,
        client->protocol);
    assert(length > 0);
    if ((size_t)length >= sizeof line) {
        length = (int)sizeof line - 1; /* names are bounded: cannot happen, but stay in bounds */
    }
    return proto_buffer_append(text, line, (size_t)length) == 0;
}

/* Redis's client types, for CLIENT LIST TYPE: raftkv has no replica or master connections. */
enum client_type { CLIENT_TYPE_NORMAL, CLIENT_TYPE_PUBSUB, CLIENT_TYPE_NONE };

static bool parse_client_type(const struct kv_arg *name, enum client_type *type)
{
    if (argument_is(name, "normal")) {
        *type = CLIENT_TYPE_NORMAL;
    } else if (argument_is(name, "pubsub")) {
        *type = CLIENT_TYPE_PUBSUB;
    } else if (argument_is(name, "replica") || argument_is(name, "slave") ||
               argument_is(name, "master")) {
        *type = CLIENT_TYPE_NONE;
    } else {
        return false;
    }
    return true;
}

static enum client_type type_of(const struct client *client)
{
    return client->pubsub.channel_count + client->pubsub.pattern_count > 0 ? CLIENT_TYPE_PUBSUB
                                                                           : CLIENT_TYPE_NORMAL;
}

static struct client *find_client(struct server *server, uint64_t id)
{
    for (struct client *each = server->clients; each != NULL; each = each->next) {
        if (each->id == id && !each->closing) {
            return each;
        }
    }
    return NULL;
}

/* server->clients is newest first; Redis lists its clients oldest first. */
static struct client *oldest_client(struct server *server)
{
    struct client *each = server->clients;
    while (each != NULL && each->next != NULL) {
        each = each->next;
    }
    return each;
}

static bool append_line(struct proto_buffer *text, struct client *client)
{
    return append_client_line(text, client) && proto_buffer_append(text, "\n", 1) == 0;
}

/* CLIENT LIST [TYPE type] | CLIENT LIST ID id [id ...]: as Redis 7.0 parses them (a TYPE and
 * an ID filter together are a syntax error there too). */
void client_list_command(struct client *client, struct proto_buffer *out, size_t argc,
                         const struct kv_arg *argv)
{
    struct server *server = client->server;
    struct proto_buffer text;
    proto_buffer_init(&text, PROTO_BUFFER_DEFAULT_MAX_BYTES);
    bool ok = true;
    if (argc == 4 && argument_is(&argv[2], "TYPE")) {
        enum client_type type;
        if (!parse_client_type(&argv[3], &type)) {
            reply_error(out, "ERR Unknown client type '%.*s'", (int)argv[3].data_bytes,
                        (const char *)argv[3].data);
            goto free_text;
        }
        for (struct client *each = oldest_client(server); each != NULL && ok; each = each->prev) {
            if (!each->closing && type_of(each) == type) {
                ok = append_line(&text, each);
            }
        }
    } else if (argc > 3 && argument_is(&argv[2], "ID")) {
        for (size_t i = 3; i < argc && ok; i++) {
            int64_t id;
            if (!kv_parse_int64(argv[i].data, argv[i].data_bytes, &id)) {
                reply_error(out, "ERR Invalid client ID");
                goto free_text;
            }
            struct client *found = id > 0 ? find_client(server, (uint64_t)id) : NULL;
            if (found != NULL) {
                ok = append_line(&text, found);
            }
        }
    } else if (argc == 2) {
        for (struct client *each = oldest_client(server); each != NULL && ok; each = each->prev) {
            if (!each->closing) {
                ok = append_line(&text, each);
            }
        }
    } else {
        reply_error(out, "ERR syntax error");
        goto free_text;
    }
    if (!ok) {
        client->closing = true; /* out of memory: as any other failed reply */
        goto free_text;
    }
    reply_verbatim(out, client->protocol, text.length > 0 ? (const char *)text.data : "",
                   text.length);
free_text:
    proto_buffer_free(&text);
}

/* CLIENT INFO: the line of the connection that asks. */
void client_info_command(struct client *client, struct proto_buffer *out)
{
    struct proto_buffer text;
    proto_buffer_init(&text, PROTO_BUFFER_DEFAULT_MAX_BYTES);
    if (append_line(&text, client)) {
        reply_verbatim(out, client->protocol, (const char *)text.data, text.length);
    } else {
        client->closing = true;
    }
    proto_buffer_free(&text);
}
