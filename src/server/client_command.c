/*
 * client_command.c — CLIENT LIST, INFO, KILL and NO-EVICT (the other CLIENT subcommands are in
 * commands_server.c). A client's line has Redis 7.0's fields, in its order, with raftkv's
 * true values where it has them (the buffers, the subscriptions, the last command, the ACL
 * user) and Redis's neutral ones where it has none (db=0, ssub=0, redir=-1).
 *
 * CLIENT KILL closes the matching connections (after the reply when it is the caller's own,
 * with SKIPME no); their waiting writes still apply and their outcome is discarded, as when a
 * client disconnects.
 */
#include "server/server.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void local_address(const struct client *client, char *out, size_t out_bytes)
{
    struct sockaddr_storage address;
    int length = sizeof address;
    out[0] = '\0';
    if (uv_tcp_getsockname(&client->handle, (struct sockaddr *)&address, &length) != 0) {
        return;
    }
    char host[64] = "";
    int port = 0;
    if (address.ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)&address, host, sizeof host);
        port = ntohs(((const struct sockaddr_in *)&address)->sin_port);
    } else if (address.ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)&address, host, sizeof host);
        port = ntohs(((const struct sockaddr_in6 *)&address)->sin6_port);
    }
    snprintf(out, out_bytes, "%s:%d", host, port);
}

static void flags_text(const struct client *client, char *out)
{
    size_t used = 0;
    if (client->pubsub.channel_count + client->pubsub.pattern_count > 0) {
        out[used++] = 'P';
    }
    if (client->multi.active) {
        out[used++] = 'x';
    }
    if (client->fifo_head != NULL && client->fifo_head->block_started) {
        out[used++] = 'b';
    }
    if (client->readonly) {
        out[used++] = 'r';
    }
    if (client->close_after_reply) {
        out[used++] = 'c';
    }
    if (client->no_evict) {
        out[used++] = 'e';
    }
    if (used == 0) {
        out[used++] = 'N';
    }
    out[used] = '\0';
}

void client_describe(const struct client *client, struct proto_buffer *out)
{
    char laddr[80];
    local_address(client, laddr, sizeof laddr);
    char flags[16];
    flags_text(client, flags);
    uv_os_fd_t fd = -1;
    uv_fileno((const uv_handle_t *)&client->handle, &fd);
    uint64_t now_ms = server_now_ms(client->server);
    uint64_t age_s = (now_ms - client->created_ms) / 1000;
    uint64_t idle_s =
        (now_ms - (client->last_command_ms != 0 ? client->last_command_ms : client->created_ms)) /
        1000;
    char line[1024];
    int length = snprintf(
        line, sizeof line,
        "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64 " idle=%" PRIu64
        " flags=%s db=0 sub=%zu psub=%zu ssub=0 multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 "
        "multi-mem=%zu rbs=%zu rbp=0 obl=0 oll=%u omem=%zu tot-mem=%zu events=r cmd=%s "
        "user=%s redir=-1 resp=%d\n",
        client->id, client->address, laddr, (int)fd, client->name, age_s, idle_s, flags,
        client->pubsub.channel_count, client->pubsub.pattern_count,
        client->multi.active ? (int)client->multi.commands : -1, client->input.length,
        client->input.capacity - client->input.length, client->multi.queue.bytes_used,
        client->input.capacity, client->fifo_count, client->output.length + client->writing.length,
        client->input.capacity + client->output.capacity + client->writing.capacity,
        client->last_command[0] != '\0' ? client->last_command : "NULL", client->user,
        client->protocol);
    proto_buffer_append(
        out, line, length > 0 && (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
}

void client_note_command(struct client *client, const struct kv_arg *argv, size_t argc)
{
    client->last_command_ms = server_now_ms(client->server);
    size_t used = 0;
    for (size_t i = 0; i < argv[0].data_bytes && used + 1 < sizeof client->last_command; i++) {
        char c = (char)argv[0].data[i];
        client->last_command[used++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    if (argc > 1 && kv_acl_is_container(&argv[0])) {
        for (size_t i = 0; i <= argv[1].data_bytes && used + 1 < sizeof client->last_command; i++) {
            char c = i == 0 ? '|' : (char)argv[1].data[i - 1];
            client->last_command[used++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
    }
    client->last_command[used] = '\0';
}

static bool is_pubsub(const struct client *client)
{
    return client->pubsub.channel_count + client->pubsub.pattern_count > 0;
}

/* TYPE normal|master|replica|slave|pubsub: -1 for another word. */
static int type_from(const struct kv_arg *word)
{
    static const char *const types[] = {"normal", "master", "replica", "slave", "pubsub"};
    for (int i = 0; i < 5; i++) {
        if (argument_is(word, types[i])) {
            return i;
        }
    }
    return -1;
}

static bool type_matches(const struct client *client, int type)
{
    return type == 4 ? is_pubsub(client) : type == 0 ? !is_pubsub(client) : false;
}

void client_list(struct client *self, struct proto_buffer *out, size_t argc,
                 const struct kv_arg *argv)
{
    int type = -1;
    size_t ids_from = 0;
    if (argc == 4 && argument_is(&argv[2], "TYPE")) {
        type = type_from(&argv[3]);
        if (type < 0) {
            reply_error(out, "ERR Unknown client type '%.*s'", (int)argv[3].data_bytes,
                        (const char *)argv[3].data);
            return;
        }
    } else if (argc >= 4 && argument_is(&argv[2], "ID")) {
        ids_from = 3;
        for (size_t a = 3; a < argc; a++) {
            int64_t id;
            if (!kv_parse_int64(argv[a].data, argv[a].data_bytes, &id) || id <= 0) {
                reply_error(out, "ERR Invalid client ID");
                return;
            }
        }
    } else if (argc != 2) {
        reply_error(out, "ERR syntax error");
        return;
    }
    struct proto_buffer text;
    proto_buffer_init(&text, 64u << 20);
    for (struct client *c = self->server->clients; c != NULL; c = c->next) {
        bool listed = type < 0 || type_matches(c, type);
        if (ids_from > 0) {
            listed = false;
            for (size_t a = ids_from; a < argc && !listed; a++) {
                int64_t id = 0;
                kv_parse_int64(argv[a].data, argv[a].data_bytes, &id);
                listed = (uint64_t)id == c->id;
            }
        }
        if (listed) {
            client_describe(c, &text);
        }
    }
    reply_verbatim(out, self->protocol, (const char *)text.data, text.length);
    proto_buffer_free(&text);
}

/* CLIENT KILL addr (the old form), or filters: ID, ADDR, LADDR, USER, TYPE, SKIPME. */
void client_kill(struct client *self, struct proto_buffer *out, size_t argc,
                 const struct kv_arg *argv)
{
    const struct kv_arg *addr = NULL, *laddr = NULL, *user = NULL;
    int64_t id = 0;
    int type = -1;
    bool skipme = true;
    bool old_form = argc == 3;
    if (old_form) {
        addr = &argv[2];
    } else if (argc < 4 || argc % 2 != 0) {
        reply_error(out, "ERR syntax error");
        return;
    }
    for (size_t a = 2; !old_form && a + 1 < argc; a += 2) {
        const struct kv_arg *value = &argv[a + 1];
        if (argument_is(&argv[a], "ID")) {
            if (!kv_parse_int64(value->data, value->data_bytes, &id) || id <= 0) {
                reply_error(out, "ERR client-id should be greater than 0");
                return;
            }
        } else if (argument_is(&argv[a], "ADDR")) {
            addr = value;
        } else if (argument_is(&argv[a], "LADDR")) {
            laddr = value;
        } else if (argument_is(&argv[a], "USER")) {
            user = value;
        } else if (argument_is(&argv[a], "TYPE")) {
            type = type_from(value);
            if (type < 0) {
                reply_error(out, "ERR Unknown client type '%.*s'", (int)value->data_bytes,
                            (const char *)value->data);
                return;
            }
        } else if (argument_is(&argv[a], "SKIPME")) {
            if (!argument_is(value, "yes") && !argument_is(value, "no")) {
                reply_error(out, "ERR syntax error");
                return;
            }
            skipme = argument_is(value, "yes");
        } else {
            reply_error(out, "ERR syntax error");
            return;
        }
    }
    int64_t killed = 0;
    struct client *next;
    for (struct client *c = self->server->clients; c != NULL; c = next) {
        next = c->next;
        char local[80];
        local_address(c, local, sizeof local);
        bool match = (id == 0 || (uint64_t)id == c->id) &&
                     (addr == NULL || argument_is(addr, c->address)) &&
                     (laddr == NULL || argument_is(laddr, local)) &&
                     (user == NULL || argument_is(user, c->user)) &&
                     (type < 0 || type_matches(c, type)) && (!(skipme && !old_form) || c != self);
        if (!match) {
            continue;
        }
        killed++;
        if (c == self) {
            c->close_after_reply = true;
        } else {
            client_close(c);
        }
    }
    if (old_form) {
        if (killed == 0) {
            reply_error(out, "ERR No such client");
        } else {
            reply_status(out, "OK");
        }
    } else {
        reply_integer(out, killed);
    }
}
