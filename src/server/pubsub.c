/*
 * pubsub.c — Pub/Sub on this node: the subscriptions of its connections (SUBSCRIBE,
 * PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE), PUBSUB's introspection, RESET, and the delivery of
 * the messages kv publishes.
 *
 * Subscriptions are connection state, local to the node the client is connected to: any node
 * takes them, a follower too. PUBLISH is a write (kv/pubsub.c): its entry applies on every
 * node, and after each applied batch node.c calls pubsub_deliver(), which takes the batch's
 * messages from kv in log order and writes each to this node's subscribers — the channel's
 * subscribers in the order they subscribed, then each matching pattern's. So a subscriber on
 * any node receives every message once its subscription is in place, in the log's order,
 * the same order as every other subscriber. While the batch applied, kv asked
 * pubsub_receivers() how many subscribers each message reaches here: that is PUBLISH's reply
 * (on the leader, the node that answers) and kv keeps no copy of a message nobody here hears.
 *
 * Messages are RESP2 arrays or RESP3 pushes, byte for byte Redis 7.0's: [message, channel,
 * payload], [pmessage, pattern, channel, payload], and [subscribe|unsubscribe|..., name,
 * count] as the commands' replies. A RESP2 connection with subscriptions is in subscribed
 * mode: commands.c refuses the commands Redis refuses there.
 *
 * Failure modes: a subscriber that does not read accumulates unsent messages; once they reach
 * pubsub-hard-limit-bytes, or stay at or above pubsub-soft-limit-bytes for longer than
 * pubsub-soft-limit-seconds (Redis's client-output-buffer-limit pubsub 32mb 8mb 60), it is
 * disconnected with a log line, as Redis does, and the node keeps serving everyone else.
 * Memory for a subscription that cannot be allocated answers an error and subscribes nothing.
 * A subscriber closed during a delivery is skipped; the entries it leaves empty are freed once
 * the delivery is over.
 */
#include "server/server.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

enum {
    PUBSUB_INITIAL_BUCKETS = 64,
    PUBSUB_HEADER_BYTES = 24,
};

/* One receiver of a message: the client, and the pattern it matched (NULL: the channel). */
struct pubsub_target {
    struct client *client;
    struct pubsub_entry *pattern;
};

static uint64_t pubsub_hash(const uint8_t *name, size_t name_bytes)
{
    uint64_t hash = UINT64_C(14695981039346656037); /* FNV-1a */
    for (size_t i = 0; i < name_bytes; i++) {
        hash = (hash ^ name[i]) * UINT64_C(1099511628211);
    }
    return hash;
}

static bool entry_is(const struct pubsub_entry *entry, const uint8_t *name, size_t name_bytes)
{
    return entry->name_bytes == name_bytes &&
           (name_bytes == 0 || memcmp(entry->name, name, name_bytes) == 0);
}

/* Grows an array of pointers to hold one more; false when memory runs out. */
static bool grow(void ***items, size_t count, size_t *capacity)
{
    if (count < *capacity) {
        return true;
    }
    size_t larger = *capacity == 0 ? 4 : *capacity * 2;
    void **resized = realloc(*items, larger * sizeof **items);
    if (resized == NULL) {
        return false;
    }
    *items = resized;
    *capacity = larger;
    return true;
}

/* Removes items[at], keeping the order of the rest. */
static void remove_at(void **items, size_t *count, size_t at)
{
    assert(at < *count);
    memmove(&items[at], &items[at + 1], (*count - at - 1) * sizeof *items);
    (*count)--;
}

static struct pubsub_entry *entry_new(const uint8_t *name, size_t name_bytes, uint64_t hash)
{
    struct pubsub_entry *entry = calloc(1, sizeof *entry);
    if (entry == NULL) {
        return NULL;
    }
    entry->name = malloc(name_bytes > 0 ? name_bytes : 1);
    if (entry->name == NULL) {
        free(entry);
        return NULL;
    }
    if (name_bytes > 0) {
        memcpy(entry->name, name, name_bytes);
    }
    entry->name_bytes = name_bytes;
    entry->hash = hash;
    return entry;
}

static void entry_free(struct pubsub_entry *entry)
{
    free(entry->clients);
    free(entry->name);
    free(entry);
}

/* ---- the registry ---- */

static struct pubsub_entry *channel_find(const struct pubsub_registry *registry,
                                         const uint8_t *name, size_t name_bytes, uint64_t hash)
{
    if (registry->bucket_count == 0) {
        return NULL;
    }
    struct pubsub_entry *entry = registry->buckets[hash % registry->bucket_count];
    while (entry != NULL && (entry->hash != hash || !entry_is(entry, name, name_bytes))) {
        entry = entry->next;
    }
    return entry;
}

/* Doubles the table once it holds as many channels as buckets; a failed growth only makes the
 * chains longer. */
static void channels_maybe_grow(struct pubsub_registry *registry)
{
    if (registry->bucket_count != 0 && registry->channel_count < registry->bucket_count) {
        return;
    }
    size_t count =
        registry->bucket_count == 0 ? PUBSUB_INITIAL_BUCKETS : registry->bucket_count * 2;
    struct pubsub_entry **buckets = calloc(count, sizeof *buckets);
    if (buckets == NULL) {
        return;
    }
    for (size_t b = 0; b < registry->bucket_count; b++) {
        struct pubsub_entry *entry = registry->buckets[b];
        while (entry != NULL) {
            struct pubsub_entry *next = entry->next;
            entry->next = buckets[entry->hash % count];
            buckets[entry->hash % count] = entry;
            entry = next;
        }
    }
    free(registry->buckets);
    registry->buckets = buckets;
    registry->bucket_count = count;
}

static struct pubsub_entry *channel_add(struct pubsub_registry *registry, const uint8_t *name,
                                        size_t name_bytes, uint64_t hash)
{
    channels_maybe_grow(registry);
    if (registry->bucket_count == 0) {
        return NULL;
    }
    struct pubsub_entry *entry = entry_new(name, name_bytes, hash);
    if (entry == NULL) {
        return NULL;
    }
    size_t bucket = hash % registry->bucket_count;
    entry->next = registry->buckets[bucket];
    registry->buckets[bucket] = entry;
    registry->channel_count++;
    return entry;
}

static void channel_remove(struct pubsub_registry *registry, struct pubsub_entry *entry)
{
    struct pubsub_entry **link = &registry->buckets[entry->hash % registry->bucket_count];
    while (*link != entry) {
        assert(*link != NULL);
        link = &(*link)->next;
    }
    *link = entry->next;
    registry->channel_count--;
    entry_free(entry);
}

static struct pubsub_entry *pattern_find(const struct pubsub_registry *registry,
                                         const uint8_t *name, size_t name_bytes, size_t *at)
{
    for (size_t i = 0; i < registry->pattern_count; i++) {
        if (entry_is(registry->patterns[i], name, name_bytes)) {
            if (at != NULL) {
                *at = i;
            }
            return registry->patterns[i];
        }
    }
    return NULL;
}

static struct pubsub_entry *pattern_add(struct pubsub_registry *registry, const uint8_t *name,
                                        size_t name_bytes)
{
    if (!grow((void ***)&registry->patterns, registry->pattern_count,
              &registry->pattern_capacity)) {
        return NULL;
    }
    struct pubsub_entry *entry = entry_new(name, name_bytes, 0);
    if (entry != NULL) {
        registry->patterns[registry->pattern_count++] = entry;
    }
    return entry;
}

static void pattern_remove(struct pubsub_registry *registry, struct pubsub_entry *entry)
{
    size_t at = 0;
    struct pubsub_entry *found = pattern_find(registry, entry->name, entry->name_bytes, &at);
    assert(found == entry);
    (void)found;
    remove_at((void **)registry->patterns, &registry->pattern_count, at);
    entry_free(entry);
}

/* Frees the entries a delivery left without subscribers (pubsub_client_gone defers them). */
static void registry_prune(struct pubsub_registry *registry)
{
    for (size_t b = 0; b < registry->bucket_count; b++) {
        struct pubsub_entry *entry = registry->buckets[b];
        while (entry != NULL) {
            struct pubsub_entry *next = entry->next;
            if (entry->client_count == 0) {
                channel_remove(registry, entry);
            }
            entry = next;
        }
    }
    for (size_t i = registry->pattern_count; i > 0; i--) {
        if (registry->patterns[i - 1]->client_count == 0) {
            pattern_remove(registry, registry->patterns[i - 1]);
        }
    }
    registry->prune_needed = false;
}

void pubsub_free(struct server *server)
{
    struct pubsub_registry *registry = &server->pubsub;
    for (size_t b = 0; b < registry->bucket_count; b++) {
        while (registry->buckets[b] != NULL) {
            struct pubsub_entry *entry = registry->buckets[b];
            registry->buckets[b] = entry->next;
            entry_free(entry);
        }
    }
    for (size_t i = 0; i < registry->pattern_count; i++) {
        entry_free(registry->patterns[i]);
    }
    free(registry->buckets);
    free(registry->patterns);
    free(registry->targets);
    memset(registry, 0, sizeof *registry);
}

/* ---- a connection's subscriptions ---- */

size_t pubsub_subscription_count(const struct client *client)
{
    return client->pubsub.channel_count + client->pubsub.pattern_count;
}

/* The client's list of channels or patterns, and where it holds `entry`. */
static bool client_holds(struct pubsub_entry *const *list, size_t count,
                         const struct pubsub_entry *entry, size_t *at)
{
    for (size_t i = 0; i < count; i++) {
        if (list[i] == entry) {
            *at = i;
            return true;
        }
    }
    return false;
}

/* Subscribes the client to the channel or pattern `name`; false when memory ran out. */
static bool subscribe_one(struct client *client, const struct kv_arg *name, bool pattern)
{
    struct pubsub_registry *registry = &client->server->pubsub;
    struct client_pubsub *mine = &client->pubsub;
    uint64_t hash = pattern ? 0 : pubsub_hash(name->data, name->data_bytes);
    struct pubsub_entry *entry = pattern
                                     ? pattern_find(registry, name->data, name->data_bytes, NULL)
                                     : channel_find(registry, name->data, name->data_bytes, hash);
    struct pubsub_entry ***list = pattern ? &mine->patterns : &mine->channels;
    size_t *count = pattern ? &mine->pattern_count : &mine->channel_count;
    size_t *capacity = pattern ? &mine->pattern_capacity : &mine->channel_capacity;
    size_t at;
    if (entry != NULL && client_holds(*list, *count, entry, &at)) {
        return true; /* already: Redis answers the same confirmation, the count unchanged */
    }
    if (!grow((void ***)list, *count, capacity)) {
        return false;
    }
    bool created = entry == NULL;
    if (created) {
        entry = pattern ? pattern_add(registry, name->data, name->data_bytes)
                        : channel_add(registry, name->data, name->data_bytes, hash);
        if (entry == NULL) {
            return false;
        }
    }
    if (!grow((void ***)&entry->clients, entry->client_count, &entry->client_capacity)) {
        if (created) {
            pattern ? pattern_remove(registry, entry) : channel_remove(registry, entry);
        }
        return false;
    }
    entry->clients[entry->client_count++] = client;
    (*list)[(*count)++] = entry;
    return true;
}

/* Takes the client off entry (listed in its own list at `at`), freeing an emptied entry
 * unless a delivery is running. */
static void unsubscribe_entry(struct client *client, bool pattern, size_t at)
{
    struct pubsub_registry *registry = &client->server->pubsub;
    struct client_pubsub *mine = &client->pubsub;
    struct pubsub_entry **list = pattern ? mine->patterns : mine->channels;
    struct pubsub_entry *entry = list[at];
    remove_at((void **)list, pattern ? &mine->pattern_count : &mine->channel_count, at);
    size_t position = 0;
    bool listed = false;
    for (size_t i = 0; i < entry->client_count && !listed; i++) {
        listed = entry->clients[i] == client;
        position = i;
    }
    assert(listed);
    remove_at((void **)entry->clients, &entry->client_count, position);
    if (entry->client_count > 0) {
        return;
    }
    if (registry->delivering) {
        registry->prune_needed = true;
    } else if (pattern) {
        pattern_remove(registry, entry);
    } else {
        channel_remove(registry, entry);
    }
}

void pubsub_client_gone(struct client *client)
{
    while (client->pubsub.channel_count > 0) {
        unsubscribe_entry(client, false, client->pubsub.channel_count - 1);
    }
    while (client->pubsub.pattern_count > 0) {
        unsubscribe_entry(client, true, client->pubsub.pattern_count - 1);
    }
    free(client->pubsub.channels);
    free(client->pubsub.patterns);
    memset(&client->pubsub, 0, sizeof client->pubsub);
}

/* ---- replies and messages ---- */

/* An array of `count` in RESP2, a push in RESP3: what every Pub/Sub message is. */
static void push_header(struct proto_buffer *out, int protocol, size_t count)
{
    if (protocol == 3) {
        char header[PUBSUB_HEADER_BYTES];
        int length = snprintf(header, sizeof header, ">%zu\r\n", count);
        proto_buffer_append(out, header, (size_t)length);
    } else {
        resp_append_array_header(out, count);
    }
}

/* [kind, name, count]: a (p)(un)subscribe confirmation; name NULL is the null. */
static void confirm(struct client *client, struct proto_buffer *out, const char *kind,
                    const uint8_t *name, size_t name_bytes)
{
    push_header(out, client->protocol, 3);
    reply_bulk_string(out, kind);
    if (name != NULL) {
        reply_bulk(out, name, name_bytes);
    } else {
        reply_null(out, client->protocol);
    }
    reply_integer(out, (int64_t)pubsub_subscription_count(client));
}

static void subscribe_command(struct client *client, struct proto_buffer *out, size_t argc,
                              const struct kv_arg *argv, bool pattern)
{
    for (size_t i = 1; i < argc; i++) {
        if (!subscribe_one(client, &argv[i], pattern)) {
            reply_error(out, "ERR not enough memory to subscribe");
            return;
        }
        confirm(client, out, pattern ? "psubscribe" : "subscribe", argv[i].data,
                argv[i].data_bytes);
    }
}

static void unsubscribe_command(struct client *client, struct proto_buffer *out, size_t argc,
                                const struct kv_arg *argv, bool pattern)
{
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    struct client_pubsub *mine = &client->pubsub;
    size_t *count = pattern ? &mine->pattern_count : &mine->channel_count;
    if (argc == 1) {
        if (*count == 0) {
            confirm(client, out, kind, NULL, 0);
        }
        /* Every one, in the order they were made (Redis walks its dict: any order). */
        while (*count > 0) {
            struct pubsub_entry *entry = pattern ? mine->patterns[0] : mine->channels[0];
            push_header(out, client->protocol, 3);
            reply_bulk_string(out, kind);
            reply_bulk(out, entry->name, entry->name_bytes);
            reply_integer(out, (int64_t)pubsub_subscription_count(client) - 1);
            unsubscribe_entry(client, pattern, 0);
        }
        return;
    }
    for (size_t i = 1; i < argc; i++) {
        struct pubsub_entry **list = pattern ? mine->patterns : mine->channels;
        for (size_t at = 0; at < *count; at++) {
            if (entry_is(list[at], argv[i].data, argv[i].data_bytes)) {
                unsubscribe_entry(client, pattern, at);
                break;
            }
        }
        confirm(client, out, kind, argv[i].data, argv[i].data_bytes);
    }
}

SERVER_HANDLER(command_subscribe)
{
    subscribe_command(client, out, argc, argv, false);
}

SERVER_HANDLER(command_psubscribe)
{
    subscribe_command(client, out, argc, argv, true);
}

SERVER_HANDLER(command_unsubscribe)
{
    unsubscribe_command(client, out, argc, argv, false);
}

SERVER_HANDLER(command_punsubscribe)
{
    unsubscribe_command(client, out, argc, argv, true);
}

/* ---- PUBSUB ---- */

static const char *const PUBSUB_HELP[] = {
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
};

/* PUBSUB CHANNELS [pattern] (and SHARDCHANNELS, which has none here). */
static void pubsub_channels(struct server *server, struct proto_buffer *out,
                            const struct kv_arg *pattern)
{
    const struct pubsub_registry *registry = &server->pubsub;
    size_t matching = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            reply_array(out, matching);
        }
        for (size_t b = 0; b < registry->bucket_count; b++) {
            for (const struct pubsub_entry *e = registry->buckets[b]; e != NULL; e = e->next) {
                if (e->client_count == 0 ||
                    (pattern != NULL &&
                     !kv_glob_match(pattern->data, pattern->data_bytes, e->name, e->name_bytes))) {
                    continue;
                }
                if (pass == 0) {
                    matching++;
                } else {
                    reply_bulk(out, e->name, e->name_bytes);
                }
            }
        }
    }
}

static void pubsub_numsub(struct server *server, struct proto_buffer *out, size_t argc,
                          const struct kv_arg *argv)
{
    reply_array(out, 2 * (argc - 2));
    for (size_t i = 2; i < argc; i++) {
        const struct pubsub_entry *entry =
            channel_find(&server->pubsub, argv[i].data, argv[i].data_bytes,
                         pubsub_hash(argv[i].data, argv[i].data_bytes));
        reply_bulk(out, argv[i].data, argv[i].data_bytes);
        reply_integer(out, entry != NULL ? (int64_t)entry->client_count : 0);
    }
}

SERVER_HANDLER(command_pubsub)
{
    struct server *server = client->server;
    const struct kv_arg *sub = &argv[1];
    if (argument_is(sub, "HELP") && argc == 2) {
        size_t lines = sizeof PUBSUB_HELP / sizeof PUBSUB_HELP[0];
        reply_array(out, lines);
        for (size_t i = 0; i < lines; i++) {
            reply_status(out, PUBSUB_HELP[i]);
        }
    } else if ((argument_is(sub, "CHANNELS") || argument_is(sub, "SHARDCHANNELS")) && argc <= 3) {
        if (argument_is(sub, "CHANNELS")) {
            pubsub_channels(server, out, argc == 3 ? &argv[2] : NULL);
        } else {
            reply_array(out, 0); /* no shard channels: SSUBSCRIBE is not implemented */
        }
    } else if (argument_is(sub, "NUMSUB")) {
        pubsub_numsub(server, out, argc, argv);
    } else if (argument_is(sub, "SHARDNUMSUB")) {
        reply_array(out, 2 * (argc - 2));
        for (size_t i = 2; i < argc; i++) {
            reply_bulk(out, argv[i].data, argv[i].data_bytes);
            reply_integer(out, 0);
        }
    } else if (argument_is(sub, "NUMPAT") && argc == 2) {
        reply_integer(out, (int64_t)server->pubsub.pattern_count);
    } else if (argument_is(sub, "NUMPAT") || argument_is(sub, "HELP")) {
        reply_error(out, "ERR wrong number of arguments for 'pubsub|%s' command",
                    argument_is(sub, "HELP") ? "help" : "numpat");
    } else if (argument_is(sub, "CHANNELS") || argument_is(sub, "SHARDCHANNELS")) {
        reply_error(out,
                    "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
                    "PUBSUB HELP.",
                    (int)(sub->data_bytes < 128 ? sub->data_bytes : 128), (const char *)sub->data);
    } else {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try PUBSUB HELP.",
                    (int)(sub->data_bytes < 128 ? sub->data_bytes : 128), (const char *)sub->data);
    }
}

/* RESET: the connection as new — out of MULTI, READONLY, RESP3 and subscribed mode, its
 * name cleared, and back to the default user, unauthenticated when that one needs a password
 * (as Redis). */
SERVER_HANDLER(command_reset)
{
    (void)argc, (void)argv;
    multi_reset(client);
    pubsub_client_gone(client);
    client->readonly = client->server->config.follower_reads;
    client->consistency = READ_LINEARIZABLE;
    client->protocol = 2;
    client->name[0] = '\0';
    acl_client_free(client);
    acl_client_init(client); /* back to the default user: authenticated if it needs no password */
    reply_status(out, "RESET");
}

/* ---- delivery ---- */

uint64_t pubsub_receivers(void *context, const uint8_t *channel, size_t channel_bytes)
{
    const struct server *server = context;
    const struct pubsub_registry *registry = &server->pubsub;
    const struct pubsub_entry *entry =
        channel_find(registry, channel, channel_bytes, pubsub_hash(channel, channel_bytes));
    uint64_t receivers = entry != NULL ? entry->client_count : 0;
    for (size_t i = 0; i < registry->pattern_count; i++) {
        const struct pubsub_entry *pattern = registry->patterns[i];
        if (pattern->client_count > 0 &&
            kv_glob_match(pattern->name, pattern->name_bytes, channel, channel_bytes)) {
            receivers += pattern->client_count;
        }
    }
    return receivers;
}

bool pubsub_output_limit_reached(uint64_t unsent_bytes, uint64_t hard_bytes, uint64_t soft_bytes,
                                 uint64_t soft_seconds, uint64_t now_ms, uint64_t *soft_since_ms)
{
    bool hard = hard_bytes != 0 && unsent_bytes >= hard_bytes;
    bool soft = soft_bytes != 0 && unsent_bytes >= soft_bytes;
    if (!soft) {
        *soft_since_ms = 0;
    } else if (*soft_since_ms == 0) {
        *soft_since_ms = now_ms != 0 ? now_ms : 1; /* the grace starts */
        soft = false;
    } else if (now_ms - *soft_since_ms <= soft_seconds * 1000) {
        soft = false; /* still within it */
    }
    return hard || soft;
}

/* What the client has not written yet: its output, the write in flight, and the replies
 * finished behind a request that still waits. */
static uint64_t unsent_bytes(const struct client *client)
{
    uint64_t unsent = client->output.length + client->writing.length;
    for (const struct request *r = client->fifo_head; r != NULL; r = r->client_next) {
        unsent += r->reply.length;
    }
    return unsent;
}

static void check_limits(struct client *client)
{
    struct server *server = client->server;
    const struct server_config *config = &server->config;
    uint64_t unsent = unsent_bytes(client);
    if (!pubsub_output_limit_reached(unsent, config->pubsub_hard_limit_bytes,
                                     config->pubsub_soft_limit_bytes,
                                     config->pubsub_soft_limit_seconds, server_now_ms(server),
                                     &client->pubsub.soft_limit_since_ms)) {
        return;
    }
    log_warning("client %llu (%s) is a slow subscriber: %llu bytes not yet sent passed the "
                "pubsub output limit (hard %llu, soft %llu for %llu s); closing",
                (unsigned long long)client->id, client->address, (unsigned long long)unsent,
                (unsigned long long)config->pubsub_hard_limit_bytes,
                (unsigned long long)config->pubsub_soft_limit_bytes,
                (unsigned long long)config->pubsub_soft_limit_seconds);
    server->stats.pubsub_slow_disconnects++;
    /* Closed by the flush, after this delivery: its replies are dropped, as Redis does. */
    client->closing = true;
    client_schedule_flush(client);
}

/* One message to one client, behind the replies it is still owed. */
static void push_message(struct client *client, const struct pubsub_entry *pattern,
                         const uint8_t *channel, size_t channel_bytes, const uint8_t *message,
                         size_t message_bytes)
{
    struct request *request = NULL;
    struct proto_buffer *out = &client->output;
    if (client->fifo_count > 0) {
        request = client_request_new(client, REQUEST_IMMEDIATE);
        if (request == NULL) {
            client->closing = true;
            client_schedule_flush(client);
            return;
        }
        out = &request->reply;
    }
    push_header(out, client->protocol, pattern != NULL ? 4 : 3);
    if (pattern != NULL) {
        reply_bulk_string(out, "pmessage");
        reply_bulk(out, pattern->name, pattern->name_bytes);
    } else {
        reply_bulk_string(out, "message");
    }
    reply_bulk(out, channel, channel_bytes);
    reply_bulk(out, message, message_bytes);
    client->server->stats.pubsub_messages++;
    if (request != NULL) {
        client_request_finish(request);
    } else {
        client_schedule_flush(client);
    }
    if (!uv_is_closing((uv_handle_t *)&client->handle) && !client->closing) {
        check_limits(client);
    }
}

static bool add_target(struct pubsub_registry *registry, size_t *count, struct client *client,
                       struct pubsub_entry *pattern)
{
    if (*count == registry->target_capacity) {
        size_t larger = registry->target_capacity == 0 ? 16 : registry->target_capacity * 2;
        struct pubsub_target *resized = realloc(registry->targets, larger * sizeof *resized);
        if (resized == NULL) {
            return false;
        }
        registry->targets = resized;
        registry->target_capacity = larger;
    }
    registry->targets[(*count)++] = (struct pubsub_target){client, pattern};
    return true;
}

/* The receivers are listed first, then written to: writing may close a client, which changes
 * the lists (pubsub_client_gone), never the entries listed (freed only after the delivery). */
static void deliver_one(void *context, const uint8_t *channel, size_t channel_bytes,
                        const uint8_t *message, size_t message_bytes)
{
    struct server *server = context;
    struct pubsub_registry *registry = &server->pubsub;
    size_t count = 0;
    struct pubsub_entry *entry =
        channel_find(registry, channel, channel_bytes, pubsub_hash(channel, channel_bytes));
    for (size_t i = 0; entry != NULL && i < entry->client_count; i++) {
        add_target(registry, &count, entry->clients[i], NULL);
    }
    for (size_t p = 0; p < registry->pattern_count; p++) {
        struct pubsub_entry *pattern = registry->patterns[p];
        if (!kv_glob_match(pattern->name, pattern->name_bytes, channel, channel_bytes)) {
            continue;
        }
        for (size_t i = 0; i < pattern->client_count; i++) {
            add_target(registry, &count, pattern->clients[i], pattern);
        }
    }
    for (size_t i = 0; i < count; i++) {
        struct pubsub_target *target = &registry->targets[i];
        if (!uv_is_closing((uv_handle_t *)&target->client->handle) && !target->client->closing) {
            push_message(target->client, target->pattern, channel, channel_bytes, message,
                         message_bytes);
        }
    }
}

void pubsub_deliver(struct server *server)
{
    struct pubsub_registry *registry = &server->pubsub;
    assert(!registry->delivering);
    registry->delivering = true;
    kv_take_messages(server->node.kv, deliver_one, server);
    registry->delivering = false;
    if (registry->prune_needed) {
        registry_prune(registry);
    }
}
