/*
 * client_command.c — CLIENT KILL (LIST and INFO are in client_list.c, the other CLIENT
 * subcommands in commands_server.c). CLIENT KILL closes the matching connections (after the reply
 * when it is the caller's own, with SKIPME no); their waiting writes still apply and their outcome
 * is discarded, as when a client disconnects.
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
