/*
 * blocking.c — clients waiting in a blocking command (BLPOP, BZPOPMIN, BLMOVE, ...).
 *
 * A blocking command is a write like any other: the leader proposes it, and when its entry
 * applies, kv either takes what there is (the reply goes out as for any write) or finds
 * nothing and says `blocked`. Then the request is parked here, in arrival order, with the
 * keys it waits on and its deadline. After every applied batch, kv names the keys whose list
 * or sorted set got members (kv_take_signals); the oldest parked request waiting on such a key
 * is proposed again — the pop itself always goes through the log, so every replica pops the
 * same element for the same client. One that finds nothing again is parked again at the head
 * of the queue, keeping its place.
 *
 * Failure modes: the deadline passing answers Redis's timeout reply (a null array, or a null
 * bulk for BLMOVE / BRPOPLPUSH); a node that stops leading answers its parked clients TRYAGAIN
 * (nothing was taken: retrying at the new leader is safe); a client that disconnects is
 * forgotten; a re-proposal that fails to commit settles like any write (TRYAGAIN, UNCERTAIN).
 */
#include "server/server.h"

#include <stdlib.h>
#include <string.h>

enum {
    MAX_STACK_ARGUMENTS = 64,
};

struct parked_argv {
    struct kv_arg stack[MAX_STACK_ARGUMENTS];
    struct kv_arg *argv;
    size_t argc;
};

static int parked_decode(const struct request *request, struct parked_argv *decoded)
{
    decoded->argv = decoded->stack;
    int rc = kv_command_decode(request->command, request->command_bytes, decoded->stack,
                               MAX_STACK_ARGUMENTS, &decoded->argc, NULL);
    if (rc == KV_ERROR_TOO_BIG) {
        decoded->argv = malloc(decoded->argc * sizeof *decoded->argv);
        rc = decoded->argv == NULL
                 ? KV_ERROR_NO_MEMORY
                 : kv_command_decode(request->command, request->command_bytes, decoded->argv,
                                     decoded->argc, &decoded->argc, NULL);
    }
    return rc;
}

static void parked_free(struct parked_argv *decoded)
{
    if (decoded->argv != decoded->stack) {
        free(decoded->argv);
    }
}

static void finish_parked(struct server *server, struct request *request)
{
    request_list_remove(&server->blocked, request);
    client_request_finish(request);
}

void blocking_park(struct server *server, struct request *request)
{
    request->target.blocked = false;
    struct parked_argv decoded;
    size_t first = 0;
    size_t count = 0;
    uint64_t timeout_ms = 0;
    if (request->command == NULL || parked_decode(request, &decoded) != 0) {
        reply_error(&request->reply, "ERR the blocking command cannot be parked");
        client_request_finish(request);
        return;
    }
    bool shaped = kv_blocking_wait(decoded.argc, decoded.argv, &first, &count, &timeout_ms);
    parked_free(&decoded);
    if (!shaped) {
        reply_error(&request->reply, "ERR the blocking command cannot be parked");
        client_request_finish(request);
        return;
    }
    /* The first park sets the deadline; a retry that blocks again keeps it. */
    if (!request->block_started) {
        request->block_started = true;
        request->block_deadline_ms = timeout_ms == 0 ? 0 : server_now_ms(server) + timeout_ms;
    }
    /* A retry goes back to the head: it keeps its place before later arrivals. */
    if (request->block_retry && server->blocked.head != NULL) {
        request_list_push_front(&server->blocked, request);
    } else {
        request_list_push(&server->blocked, request);
    }
    request->block_retry = false;
    server->stats.blocked_total++;
}

/* Does the parked request wait on this key (NULL: on any)? */
static bool waits_on(const struct request *request, const uint8_t *key, size_t key_bytes)
{
    if (key == NULL) {
        return true;
    }
    struct parked_argv decoded;
    if (parked_decode(request, &decoded) != 0) {
        return false;
    }
    size_t first = 0;
    size_t count = 0;
    uint64_t timeout_ms = 0;
    bool found = false;
    if (kv_blocking_wait(decoded.argc, decoded.argv, &first, &count, &timeout_ms)) {
        for (size_t i = first; i < first + count && !found; i++) {
            found = decoded.argv[i].data_bytes == key_bytes &&
                    memcmp(decoded.argv[i].data, key, key_bytes) == 0;
        }
    }
    parked_free(&decoded);
    return found;
}

/* Proposes a parked request's command again; it then waits as a write. */
static void retry(struct server *server, struct request *request)
{
    request_list_remove(&server->blocked, request);
    struct parked_argv decoded;
    int rc = parked_decode(request, &decoded);
    uint8_t *encoded = NULL;
    size_t written = 0;
    if (rc == 0) {
        size_t bytes = kv_command_encoded_bytes(decoded.argc, decoded.argv);
        encoded = bytes > 0 ? malloc(bytes) : NULL;
        rc = encoded == NULL
                 ? KV_ERROR_NO_MEMORY
                 : kv_command_encode(decoded.argc, decoded.argv, node_clock_stamp(server), encoded,
                                     bytes, &written);
        parked_free(&decoded);
    }
    if (rc == 0) {
        rc = node_propose(server, request, encoded, written);
    }
    free(encoded);
    if (rc != 0) {
        reply_error(&request->reply,
                    "TRYAGAIN the blocked command could not be proposed again "
                    "(%s); it took nothing, retry it",
                    rc < 0 ? raft_error_string(rc) : kv_error_string(rc));
        client_request_finish(request);
        return;
    }
    request->block_retry = true;
    request->deadline_ms = server_now_ms(server) + server->config.request_timeout_ms;
    server->stats.blocked_retries++;
}

static void wake_one(void *context, const uint8_t *key, size_t key_bytes)
{
    struct server *server = context;
    struct request *request = server->blocked.head;
    while (request != NULL) {
        struct request *next = request->pending_next;
        if (request->client != NULL && waits_on(request, key, key_bytes)) {
            retry(server, request);
            if (key != NULL) {
                return; /* the oldest waiter on this key tries first */
            }
            /* NULL: too many keys changed to name them; every waiter tries. */
        }
        request = next;
    }
}

void blocking_wake(struct server *server)
{
    bool waiting = server->blocked.head != NULL && node_is_leader(server);
    kv_take_signals(server->node.kv, waiting ? wake_one : NULL, server);
}

void blocking_sweep(struct server *server)
{
    uint64_t now_ms = server_now_ms(server);
    bool leader = node_is_leader(server);
    struct request *request = server->blocked.head;
    while (request != NULL) {
        struct request *next = request->pending_next;
        if (request->client == NULL) {
            finish_parked(server, request); /* gone: nothing to answer */
        } else if (!leader) {
            server->stats.blocked_unblocked++;
            reply_error(&request->reply, "TRYAGAIN this node stopped leading while the command "
                                         "was blocked; it took nothing, retry it");
            finish_parked(server, request);
        } else if (request->block_deadline_ms != 0 && request->block_deadline_ms <= now_ms) {
            struct parked_argv decoded;
            if (parked_decode(request, &decoded) == 0) {
                kv_reply_blocking_timeout(decoded.argc, decoded.argv, &request->sink);
                parked_free(&decoded);
            }
            server->stats.blocked_timeouts++;
            finish_parked(server, request);
        }
        request = next;
    }
}

void blocking_fail_all(struct server *server, const char *text)
{
    while (server->blocked.head != NULL) {
        struct request *request = server->blocked.head;
        if (request->client != NULL) {
            reply_error(&request->reply, "%s", text);
        }
        finish_parked(server, request);
    }
}
