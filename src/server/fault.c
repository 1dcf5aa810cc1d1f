/*
 * fault.c — the operator's side of fault injection (--enable-fault-injection; tests and demos
 * only): the RAFT.FAULT command, POST /api/fault and GET /api/faults on the HTTP listener
 * (metrics.c calls fault_http), and the descriptions INFO and the dashboard show. The faults
 * themselves live in the peer transport (transport_fault.c, transport.h says what each does).
 *
 *   RAFT.FAULT CUT <peer|ALL> [IN|OUT|BOTH]
 *   RAFT.FAULT DELAY|LOSS|REORDER <peer|ALL> <ms|percent> [IN|OUT|BOTH]   (0 removes it)
 *   RAFT.FAULT HEAL [<peer|ALL>]
 *   RAFT.FAULT LIST | SEED <n> | HELP
 *
 * Failure modes. On a node started without the flag every subcommand but HELP, and every
 * POST, is refused with FAULT_DISABLED_TEXT (GET /api/faults answers {"enabled":false,...}).
 * Arguments out of range are refused Redis-style and change nothing. The HTTP body is
 * untrusted: it is parsed by Debian's jansson (design note 22), must be one JSON object with
 * only the known fields, and is at most METRICS_MAX_BODY_BYTES (metrics.c checks).
 */
#include "server/server.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FAULT_DISABLED_TEXT                                                                        \
    "fault injection is disabled on this node (start it with --enable-fault-injection)"

enum fault_action { ACTION_CUT, ACTION_DELAY, ACTION_LOSS, ACTION_REORDER, ACTION_HEAL };

static const char *const action_names[] = {"cut", "delay", "loss", "reorder", "heal"};

/* ---- describing the active faults ---- */

/* One fault of one peer as shown: the same value both ways is one item. */
struct fault_item {
    const char *action;
    unsigned directions;
    raft_node_id peer;
    uint32_t value;
    const char *unit; /* "ms", "%", or "" for a cut */
};

#define FAULT_ITEMS_PER_PEER 8

static size_t add_items(const char *action, const char *unit, raft_node_id peer, uint32_t in,
                        uint32_t out, struct fault_item *items)
{
    size_t count = 0;
    if (in != 0 && in == out) {
        items[count++] = (struct fault_item){action, TRANSPORT_FAULT_BOTH, peer, in, unit};
        return count;
    }
    if (in != 0) {
        items[count++] = (struct fault_item){action, TRANSPORT_FAULT_IN, peer, in, unit};
    }
    if (out != 0) {
        items[count++] = (struct fault_item){action, TRANSPORT_FAULT_OUT, peer, out, unit};
    }
    return count;
}

static size_t peer_items(const struct transport_peer_faults *faults, struct fault_item *items)
{
    size_t count = 0;
    raft_node_id peer = faults->peer;
    count += add_items("cut", "", peer, faults->in.cut, faults->out.cut, items + count);
    count +=
        add_items("delay", "ms", peer, faults->in.delay_ms, faults->out.delay_ms, items + count);
    count += add_items("loss", "%", peer, faults->in.loss_percent, faults->out.loss_percent,
                       items + count);
    count += add_items("reorder", "ms", peer, faults->in.reorder_ms, faults->out.reorder_ms,
                       items + count);
    return count;
}

static const char *direction_name(unsigned directions)
{
    return directions == TRANSPORT_FAULT_BOTH ? "both"
           : directions == TRANSPORT_FAULT_IN ? "in"
                                              : "out";
}

/* "cut-out:2", "delay:3:200ms" (both ways), "loss-in:3:10%". */
static int item_text(const struct fault_item *item, char *out, size_t out_bytes)
{
    const char *suffix = item->directions == TRANSPORT_FAULT_BOTH ? ""
                         : item->directions == TRANSPORT_FAULT_IN ? "-in"
                                                                  : "-out";
    if (item->unit[0] == '\0') {
        return snprintf(out, out_bytes, "%s%s:%" PRIu64, item->action, suffix,
                        (uint64_t)item->peer);
    }
    return snprintf(out, out_bytes, "%s%s:%" PRIu64 ":%" PRIu32 "%s", item->action, suffix,
                    (uint64_t)item->peer, item->value, item->unit);
}

typedef void (*fault_item_fn)(void *context, const struct fault_item *item,
                              const struct transport_peer_faults *peer);

static void for_each_item(const struct server *server, fault_item_fn visit, void *context)
{
    struct transport_peer_faults peers[TRANSPORT_MAX_PEERS];
    uint32_t count = transport_fault_list(server->transport, peers, TRANSPORT_MAX_PEERS);
    for (uint32_t i = 0; i < count; i++) {
        struct fault_item items[FAULT_ITEMS_PER_PEER];
        size_t item_count = peer_items(&peers[i], items);
        for (size_t j = 0; j < item_count; j++) {
            visit(context, &items[j], &peers[i]);
        }
    }
}

struct text_context {
    char *out;
    size_t out_bytes;
    size_t used;
};

static void text_item(void *context, const struct fault_item *item,
                      const struct transport_peer_faults *peer)
{
    (void)peer;
    struct text_context *text = context;
    char one[96];
    int length = item_text(item, one, sizeof one);
    if (length <= 0 || text->used + (size_t)length + 2 > text->out_bytes) {
        return; /* the line is full: INFO shows what fits */
    }
    text->used += (size_t)snprintf(text->out + text->used, text->out_bytes - text->used, "%s%s",
                                   text->used > 0 ? "," : "", one);
}

void fault_describe_text(const struct server *server, char *out, size_t out_bytes)
{
    struct text_context text = {.out = out, .out_bytes = out_bytes, .used = 0};
    if (out_bytes > 0) {
        out[0] = '\0';
    }
    for_each_item(server, text_item, &text);
}

static void json_item(void *context, const struct fault_item *item,
                      const struct transport_peer_faults *peer)
{
    json_t *object =
        json_pack("{s:s, s:I, s:s}", "action", item->action, "peer", (json_int_t)item->peer,
                  "direction", direction_name(item->directions));
    if (object == NULL) {
        return;
    }
    if (item->unit[0] != '\0') {
        json_object_set_new(object, strcmp(item->unit, "%") == 0 ? "percent" : "ms",
                            json_integer(item->value));
    }
    json_object_set_new(object, "held_in", json_integer(peer->held_in));
    json_object_set_new(object, "held_out", json_integer(peer->held_out));
    json_object_set_new(object, "dropped_in", json_integer((json_int_t)peer->dropped_in));
    json_object_set_new(object, "dropped_out", json_integer((json_int_t)peer->dropped_out));
    json_array_append_new(context, object);
}

static json_t *describe(const struct server *server)
{
    json_t *active = json_array();
    if (active != NULL) {
        for_each_item(server, json_item, active);
    }
    return json_pack("{s:b, s:o*}", "enabled", transport_fault_enabled(server->transport) ? 1 : 0,
                     "active", active);
}

static void append_json(struct proto_buffer *out, json_t *value)
{
    char *text = value != NULL ? json_dumps(value, JSON_COMPACT) : NULL;
    if (text == NULL) {
        proto_buffer_append(out, "{\"error\":\"out of memory\"}", 25);
    } else {
        proto_buffer_append(out, text, strlen(text));
    }
    free(text);
}

void fault_describe_json(const struct server *server, struct proto_buffer *out)
{
    json_t *value = describe(server);
    append_json(out, value);
    json_decref(value);
}

/* ---- applying a fault ---- */

/* 0, or -1 with the error's text (without "ERR "). */
static int apply(struct server *server, enum fault_action action, raft_node_id peer,
                 unsigned directions, uint32_t value, char *error, size_t error_bytes)
{
    struct transport *transport = server->transport;
    int rc = TRANSPORT_OK;
    switch (action) {
    case ACTION_CUT:
        rc = transport_fault_set(transport, peer, directions, TRANSPORT_FAULT_CUT, 1);
        break;
    case ACTION_DELAY:
        rc = transport_fault_set(transport, peer, directions, TRANSPORT_FAULT_DELAY, value);
        break;
    case ACTION_LOSS:
        rc = transport_fault_set(transport, peer, directions, TRANSPORT_FAULT_LOSS, value);
        break;
    case ACTION_REORDER:
        rc = transport_fault_set(transport, peer, directions, TRANSPORT_FAULT_REORDER, value);
        break;
    case ACTION_HEAL:
        rc = transport_fault_heal(transport, peer);
        break;
    }
    if (rc == TRANSPORT_ERROR_DISABLED) {
        snprintf(error, error_bytes, "%s", FAULT_DISABLED_TEXT);
        return -1;
    }
    if (rc == TRANSPORT_ERROR_UNKNOWN_PEER) {
        snprintf(error, error_bytes, "unknown peer id %" PRIu64 " (not a peer of node %" PRIu64 ")",
                 (uint64_t)peer, (uint64_t)server->config.id);
        return -1;
    }
    if (rc != TRANSPORT_OK) {
        snprintf(error, error_bytes, "invalid fault (%s)", transport_error_string(rc));
        return -1;
    }
    return 0;
}

/* The largest value of an action, and what its value is called. */
static uint32_t value_max(enum fault_action action)
{
    return action == ACTION_LOSS ? TRANSPORT_FAULT_MAX_PERCENT : TRANSPORT_FAULT_MAX_MS;
}

static const char *value_range_text(enum fault_action action)
{
    return action == ACTION_LOSS ? "percent must be an integer from 0 to 100"
                                 : "ms must be an integer from 0 to 60000";
}

/* ---- RAFT.FAULT ---- */

static const char *const help_lines[] = {
    "RAFT.FAULT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CUT <peer|ALL> [IN|OUT|BOTH]",
    "    Drop every message to (OUT) and/or from (IN) the peer; BOTH by default.",
    "DELAY <peer|ALL> <ms> [IN|OUT|BOTH]",
    "    Hold each message <ms> before delivering it, in order (0 removes the delay).",
    "LOSS <peer|ALL> <percent> [IN|OUT|BOTH]",
    "    Drop each message with probability <percent> (0 removes the loss).",
    "REORDER <peer|ALL> <ms> [IN|OUT|BOTH]",
    "    Hold a random half of the messages up to <ms> more, so others overtake them.",
    "HEAL [<peer|ALL>]",
    "    Remove the faults of the peer, or of every peer.",
    "LIST",
    "    The active faults, e.g. cut-out:2, delay:3:200ms.",
    "SEED <n>",
    "    Reseed the generator of loss and reordering.",
    "HELP",
    "    Print this help.",
};

static bool parse_peer(const struct kv_arg *argument, raft_node_id *peer)
{
    int64_t value = 0;
    if (argument_is(argument, "all")) {
        *peer = RAFT_NODE_NONE;
        return true;
    }
    if (!kv_parse_int64(argument->data, argument->data_bytes, &value) || value <= 0) {
        return false;
    }
    *peer = (raft_node_id)value;
    return true;
}

static bool parse_direction(const struct kv_arg *argument, unsigned *directions)
{
    if (argument_is(argument, "in")) {
        *directions = TRANSPORT_FAULT_IN;
    } else if (argument_is(argument, "out")) {
        *directions = TRANSPORT_FAULT_OUT;
    } else if (argument_is(argument, "both")) {
        *directions = TRANSPORT_FAULT_BOTH;
    } else {
        return false;
    }
    return true;
}

static bool parse_action(const struct kv_arg *argument, enum fault_action *action)
{
    for (size_t i = 0; i < sizeof action_names / sizeof action_names[0]; i++) {
        if (argument_is(argument, action_names[i])) {
            *action = (enum fault_action)i;
            return true;
        }
    }
    return false;
}

static void count_item(void *context, const struct fault_item *item,
                       const struct transport_peer_faults *peer)
{
    (void)item, (void)peer;
    (*(size_t *)context)++;
}

static void reply_item(void *context, const struct fault_item *item,
                       const struct transport_peer_faults *peer)
{
    (void)peer;
    char text[96];
    int length = item_text(item, text, sizeof text);
    reply_bulk(context, text, length > 0 ? (size_t)length : 0);
}

/* One element per fault, in the order INFO shows them. */
static void reply_list(struct server *server, struct proto_buffer *out)
{
    size_t count = 0;
    for_each_item(server, count_item, &count);
    reply_array(out, count);
    for_each_item(server, reply_item, out);
}

static void reply_wrong_arity(struct proto_buffer *out, const struct kv_arg *subcommand)
{
    char name[16] = "";
    size_t length =
        subcommand->data_bytes < sizeof name - 1 ? subcommand->data_bytes : sizeof name - 1;
    for (size_t i = 0; i < length; i++) {
        char c = (char)subcommand->data[i];
        name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    reply_error(out, "ERR wrong number of arguments for 'raft.fault|%s' command", name);
}

/* CUT, DELAY, LOSS, REORDER and HEAL: peer, value and direction where they take them. */
static void fault_set_command(struct client *client, struct proto_buffer *out,
                              enum fault_action action, size_t argc, const struct kv_arg *argv)
{
    bool takes_value = action != ACTION_CUT && action != ACTION_HEAL;
    size_t least = action == ACTION_HEAL ? 2 : takes_value ? 4 : 3;
    size_t most = action == ACTION_HEAL ? 3 : least + 1;
    if (argc < least || argc > most) {
        reply_wrong_arity(out, &argv[1]);
        return;
    }
    raft_node_id peer = RAFT_NODE_NONE;
    if (argc > 2 && !parse_peer(&argv[2], &peer)) {
        reply_error(out, "ERR invalid peer id '%.*s' (a node id, or ALL)",
                    (int)(argv[2].data_bytes < 64 ? argv[2].data_bytes : 64), argv[2].data);
        return;
    }
    int64_t value = 0;
    if (takes_value && (!kv_parse_int64(argv[3].data, argv[3].data_bytes, &value) || value < 0 ||
                        value > (int64_t)value_max(action))) {
        reply_error(out, "ERR %s", value_range_text(action));
        return;
    }
    unsigned directions = TRANSPORT_FAULT_BOTH;
    if (action != ACTION_HEAL && argc == most && !parse_direction(&argv[argc - 1], &directions)) {
        reply_error(out, "ERR direction must be IN, OUT or BOTH");
        return;
    }
    char error[192];
    if (apply(client->server, action, peer, directions, (uint32_t)value, error, sizeof error) !=
        0) {
        reply_error(out, "ERR %s", error);
        return;
    }
    reply_status(out, "OK");
}

SERVER_HANDLER(command_raft_fault)
{
    struct server *server = client->server;
    if (argument_is(&argv[1], "help") && argc == 2) {
        reply_help(out, help_lines, sizeof help_lines / sizeof help_lines[0]);
        return;
    }
    if (!transport_fault_enabled(server->transport)) {
        reply_error(out, "ERR %s", FAULT_DISABLED_TEXT);
        return;
    }
    enum fault_action action;
    if (parse_action(&argv[1], &action)) {
        fault_set_command(client, out, action, argc, argv);
    } else if (argument_is(&argv[1], "list")) {
        if (argc != 2) {
            reply_wrong_arity(out, &argv[1]);
            return;
        }
        reply_list(server, out);
    } else if (argument_is(&argv[1], "seed")) {
        int64_t seed = 0;
        if (argc != 3) {
            reply_wrong_arity(out, &argv[1]);
        } else if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &seed) || seed < 0) {
            reply_error(out, "ERR value is not an integer or out of range");
        } else {
            transport_fault_seed(server->transport, (uint64_t)seed);
            reply_status(out, "OK");
        }
    } else {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try RAFT.FAULT HELP.",
                    (int)(argv[1].data_bytes < 64 ? argv[1].data_bytes : 64), argv[1].data);
    }
}

/* ---- HTTP: POST /api/fault, GET /api/faults ---- */

static int http_error(struct proto_buffer *out, int status, const char *text)
{
    json_t *value = json_pack("{s:s}", "error", text);
    append_json(out, value);
    json_decref(value);
    return status;
}

/* A field that must be an integer in [0, most]. */
static bool json_bounded(json_t *value, uint32_t most, uint32_t *out)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > (json_int_t)most) {
        return false;
    }
    *out = (uint32_t)json_integer_value(value);
    return true;
}

static bool json_peer(json_t *value, raft_node_id *peer)
{
    if (json_is_string(value) && strcasecmp(json_string_value(value), "all") == 0) {
        *peer = RAFT_NODE_NONE;
        return true;
    }
    if (json_is_integer(value) && json_integer_value(value) > 0) {
        *peer = (raft_node_id)json_integer_value(value);
        return true;
    }
    return false;
}

/* Checks the request's fields; 0, or the HTTP status with the error in out. */
static int http_parse(json_t *root, enum fault_action *action, raft_node_id *peer,
                      unsigned *directions, uint32_t *value, struct proto_buffer *out)
{
    const char *key;
    json_t *field;
    json_object_foreach(root, key, field)
    {
        if (strcmp(key, "action") != 0 && strcmp(key, "peer") != 0 &&
            strcmp(key, "direction") != 0 && strcmp(key, "ms") != 0 &&
            strcmp(key, "percent") != 0) {
            return http_error(out, 400, "unknown field (action, peer, direction, ms, percent)");
        }
    }
    json_t *name = json_object_get(root, "action");
    struct kv_arg argument = {0};
    if (json_is_string(name)) {
        argument.data = (const uint8_t *)json_string_value(name);
        argument.data_bytes = json_string_length(name);
    }
    if (!json_is_string(name) || !parse_action(&argument, action)) {
        return http_error(out, 400, "action must be cut, heal, delay, loss or reorder");
    }
    json_t *peer_field = json_object_get(root, "peer");
    *peer = RAFT_NODE_NONE;
    if ((peer_field != NULL || *action != ACTION_HEAL) && !json_peer(peer_field, peer)) {
        return http_error(out, 400, "peer must be a node id or \"all\"");
    }
    json_t *direction = json_object_get(root, "direction");
    *directions = TRANSPORT_FAULT_BOTH;
    if (direction != NULL) {
        struct kv_arg text = {0};
        if (json_is_string(direction)) {
            text.data = (const uint8_t *)json_string_value(direction);
            text.data_bytes = json_string_length(direction);
        }
        if (!json_is_string(direction) || !parse_direction(&text, directions)) {
            return http_error(out, 400, "direction must be in, out or both");
        }
    }
    *value = 0;
    if (*action == ACTION_DELAY || *action == ACTION_REORDER || *action == ACTION_LOSS) {
        const char *wanted = *action == ACTION_LOSS ? "percent" : "ms";
        if (!json_bounded(json_object_get(root, wanted), value_max(*action), value)) {
            return http_error(out, 400, value_range_text(*action));
        }
    }
    return 0;
}

int fault_http(struct server *server, bool post, const uint8_t *body, size_t body_bytes,
               struct proto_buffer *out)
{
    if (!post) {
        fault_describe_json(server, out);
        return 200;
    }
    if (!transport_fault_enabled(server->transport)) {
        return http_error(out, 403, FAULT_DISABLED_TEXT);
    }
    json_error_t parse_error;
    json_t *root = json_loadb((const char *)body, body_bytes, JSON_REJECT_DUPLICATES, &parse_error);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return http_error(out, 400, "the body must be one JSON object");
    }
    enum fault_action action = ACTION_HEAL;
    raft_node_id peer = RAFT_NODE_NONE;
    unsigned directions = TRANSPORT_FAULT_BOTH;
    uint32_t value = 0;
    int status = http_parse(root, &action, &peer, &directions, &value, out);
    json_decref(root);
    if (status != 0) {
        return status;
    }
    char error[192];
    if (apply(server, action, peer, directions, value, error, sizeof error) != 0) {
        return http_error(out, 400, error);
    }
    fault_describe_json(server, out);
    return 200;
}
