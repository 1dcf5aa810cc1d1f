/*
 * slowlog.c — SLOWLOG GET / LEN / RESET / HELP and LATENCY LATEST / HISTORY / RESET / HELP,
 * over what stats.c records: the commands that took at least slowlog-log-slower-than
 * microseconds from arrival to answer (a write's time includes its replication and fsync),
 * and the events (command, wal-fsync, apply) of at least latency-monitor-threshold ms.
 * Replies have Redis 7.0's shapes; both read only this node's records.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#define SLOWLOG_DEFAULT_GET 10
#define SLOWLOG_REPLY_ARGS  32 /* as Redis: the rest is "... (N more arguments)" */

static void slowlog_entry_reply(struct proto_buffer *out, const struct slowlog_entry *entry)
{
    reply_array(out, 6);
    reply_integer(out, (int64_t)entry->id);
    reply_integer(out, (int64_t)entry->time_s);
    reply_integer(out, (int64_t)entry->duration_us);
    size_t kept = 0;
    for (size_t at = 0; at < entry->args_bytes; at += 1 + (uint8_t)entry->args[at]) {
        kept++;
    }
    bool more = entry->argc > kept || kept > SLOWLOG_REPLY_ARGS;
    size_t shown = kept < SLOWLOG_REPLY_ARGS - (more ? 1 : 0) ? kept : SLOWLOG_REPLY_ARGS - 1;
    reply_array(out, shown + (more ? 1 : 0));
    size_t at = 0;
    for (size_t i = 0; i < shown; i++) {
        reply_bulk(out, entry->args + at + 1, (uint8_t)entry->args[at]);
        at += 1 + (uint8_t)entry->args[at];
    }
    if (more) {
        char text[64];
        snprintf(text, sizeof text, "... (%zu more arguments)", (size_t)entry->argc - shown);
        reply_bulk_string(out, text);
    }
    reply_bulk_string(out, entry->client_address);
    reply_bulk_string(out, entry->client_name);
}

SERVER_HANDLER(command_slowlog)
{
    struct slowlog *log = &client->server->slowlog;
    const struct kv_arg *sub = &argv[1];
    if (argument_is(sub, "GET") && argc <= 3) {
        int64_t count = SLOWLOG_DEFAULT_GET;
        if (argc == 3 &&
            (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &count) || count < -1)) {
            reply_error(out, "ERR count should be greater than or equal to -1");
            return;
        }
        size_t shown = count < 0 || (uint64_t)count > log->count ? log->count : (size_t)count;
        reply_array(out, shown);
        for (size_t i = 0; i < shown; i++) {
            size_t at = (log->next + log->capacity - 1 - i) % log->capacity;
            slowlog_entry_reply(out, &log->entries[at]);
        }
    } else if (argument_is(sub, "LEN") && argc == 2) {
        reply_integer(out, (int64_t)log->count);
    } else if (argument_is(sub, "RESET") && argc == 2) {
        log->count = 0;
        log->next = 0;
        reply_status(out, "OK");
    } else if (argument_is(sub, "HELP") && argc == 2) {
        static const char *const lines[] = {
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help."};
        reply_help(out, lines, sizeof lines / sizeof lines[0]);
    } else if (argument_is(sub, "GET") || argument_is(sub, "LEN") || argument_is(sub, "RESET")) {
        reply_error(out, "ERR wrong number of arguments for 'slowlog|%.*s' command",
                    (int)sub->data_bytes, (const char *)sub->data);
    } else {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try SLOWLOG HELP.",
                    (int)(sub->data_bytes < 100 ? sub->data_bytes : 100), (const char *)sub->data);
    }
}

static int latency_event_from(const struct kv_arg *name)
{
    for (int event = 0; event < LATENCY_EVENT_COUNT; event++) {
        if (argument_is(name, stats_latency_event_name((enum latency_event)event))) {
            return event;
        }
    }
    return -1;
}

SERVER_HANDLER(command_latency)
{
    struct server *server = client->server;
    const struct kv_arg *sub = &argv[1];
    if (argument_is(sub, "LATEST") && argc == 2) {
        size_t count = 0;
        for (int e = 0; e < LATENCY_EVENT_COUNT; e++) {
            count += server->latency[e].count > 0 ? 1 : 0;
        }
        reply_array(out, count);
        for (int e = 0; e < LATENCY_EVENT_COUNT; e++) {
            const struct latency_series *series = &server->latency[e];
            if (series->count == 0) {
                continue;
            }
            reply_array(out, 4);
            reply_bulk_string(out, stats_latency_event_name((enum latency_event)e));
            reply_integer(out, (int64_t)series->latest_s);
            reply_integer(out, (int64_t)series->latest_ms);
            reply_integer(out, (int64_t)series->max_ms);
        }
    } else if (argument_is(sub, "HISTORY") && argc == 3) {
        int event = latency_event_from(&argv[2]);
        const struct latency_series *series = event >= 0 ? &server->latency[event] : NULL;
        size_t count = series != NULL ? series->count : 0;
        reply_array(out, count);
        for (size_t i = 0; i < count; i++) {
            size_t at = (series->next + LATENCY_HISTORY - count + i) % LATENCY_HISTORY;
            reply_array(out, 2);
            reply_integer(out, (int64_t)series->samples_s[at]);
            reply_integer(out, (int64_t)series->samples_ms[at]);
        }
    } else if (argument_is(sub, "RESET")) {
        int64_t reset = 0;
        for (int e = 0; e < LATENCY_EVENT_COUNT; e++) {
            bool named = argc == 2;
            for (size_t a = 2; a < argc && !named; a++) {
                named = latency_event_from(&argv[a]) == e;
            }
            if (named && server->latency[e].count > 0) {
                memset(&server->latency[e], 0, sizeof server->latency[e]);
                reset++;
            }
        }
        reply_integer(out, reset);
    } else if (argument_is(sub, "HELP") && argc == 2) {
        static const char *const lines[] = {
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HELP",
            "    Prints this help."};
        reply_help(out, lines, sizeof lines / sizeof lines[0]);
    } else {
        reply_error(out,
                    "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
                    "LATENCY HELP.",
                    (int)(sub->data_bytes < 100 ? sub->data_bytes : 100), (const char *)sub->data);
    }
}
