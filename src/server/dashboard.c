/*
 * dashboard.c — the live dashboard's side of the HTTP listener (metrics.c carries the bytes):
 *
 *   GET /                  302 to /dashboard
 *   GET /dashboard         the page (web/index.html, embedded at build time: web_assets.c)
 *   GET /dashboard/<file>  its other files (dashboard.js, dashboard.css)
 *   GET /api/state         this node as one JSON object (the shape is docs/operations.md's)
 *   GET /api/events        the same object, pushed as server-sent events when it changes
 *
 * Happy path. The node records, as things happen and at the cost of a few increments, what a
 * snapshot of its core cannot show afterwards: messages per peer and type, each leader change
 * (an election's outcome, as this node saw it), and a sample of client writes with the time of
 * each stage of their path (received, redirected or proposed, committed, applied, answered).
 * A timer every DASHBOARD_TICK_MS builds the state object; when it differs from the last one
 * sent, it goes to every open event stream as one `state` event, so a change reaches a browser
 * within one tick and the stream carries at most one event per tick however busy the node is
 * (never one per Raft message). A heartbeat every DASHBOARD_HEARTBEAT_MS (a comment, and a
 * `heartbeat` event a page can see) tells a browser the node is still there when nothing
 * changes.
 *
 * Cost off the hot path: counting a message is a lookup in a table of at most
 * TRANSPORT_MAX_PEERS slots and an increment; at most DASHBOARD_TRACES_PER_TICK writes are
 * sampled per tick, and the rest cost one comparison. The state is built only while an event
 * stream is open, or when /api/state is asked.
 *
 * Failure modes: a state object that would pass DASHBOARD_STATE_MAX_BYTES is cut at a
 * member's boundary and marked "truncated"; a node whose storage failed (node->fatal) still
 * answers, with "failed" and its reason; nothing here changes the node's state.
 */
#include "server/server.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    DASHBOARD_TICK_MS = 100,
    DASHBOARD_HEARTBEAT_MS = 2000,
    DASHBOARD_LOG_ENTRIES = 20,         /* the tail of the log shown */
    DASHBOARD_ELECTIONS = 16,           /* the latest leader changes kept */
    DASHBOARD_TRACES = 32,              /* sampled requests kept */
    DASHBOARD_TRACES_PER_TICK = 4,      /* at most this many new ones per tick */
    DASHBOARD_WORDS_BYTES = 64,         /* a command in words, cut to fit */
    DASHBOARD_COMMAND_ARGS_SHOWN = 4,   /* arguments decoded for the words */
    DASHBOARD_OUTCOME_BYTES = 40,       /* the first words of a reply */
    DASHBOARD_STATE_MAX_BYTES = 262144, /* one state object */
    DASHBOARD_LINE_BYTES = 512,
};

/* The stages of a client request's path, in the order they happen. */
enum trace_stage {
    STAGE_RECEIVED,
    STAGE_REDIRECTED,
    STAGE_PROPOSED,
    STAGE_COMMITTED,
    STAGE_APPLIED,
    STAGE_ANSWERED,
    STAGE_COUNT,
};

static const char *const stage_names[STAGE_COUNT] = {
    [STAGE_RECEIVED] = "received", [STAGE_REDIRECTED] = "redirected",
    [STAGE_PROPOSED] = "proposed", [STAGE_COMMITTED] = "committed",
    [STAGE_APPLIED] = "applied",   [STAGE_ANSWERED] = "answered",
};

struct dashboard_peer {
    raft_node_id id; /* 0: free */
    uint64_t sent[RAFT_MSG_TYPE_MAX + 1];
    uint64_t received[RAFT_MSG_TYPE_MAX + 1];
};

struct dashboard_election {
    uint64_t time_ms; /* Unix ms */
    uint64_t term;
    raft_node_id leader; /* RAFT_NODE_NONE: the leader was lost */
};

struct dashboard_trace {
    uint64_t id; /* 0: free; a request holds the id, so a reused slot is told apart */
    char words[DASHBOARD_WORDS_BYTES];
    uint64_t index; /* the proposed entry (0 until proposed) */
    uint64_t term;
    uint64_t stage_ms[STAGE_COUNT]; /* Unix ms; 0: not reached */
    char outcome[DASHBOARD_OUTCOME_BYTES];
};

struct dashboard {
    struct server *server;
    uv_timer_t timer;
    struct dashboard_peer peers[TRANSPORT_MAX_PEERS];
    struct dashboard_election elections[DASHBOARD_ELECTIONS];
    size_t election_count; /* ever recorded; the ring holds the latest */
    struct dashboard_trace traces[DASHBOARD_TRACES];
    uint64_t next_trace_id;
    uint32_t traces_this_tick;
    uint64_t last_heartbeat_ms;
    struct proto_buffer last_state; /* the object last pushed to the streams */
    struct proto_buffer state;      /* scratch */
};

/* ---- small helpers ---------------------------------------------------------------------------
 */

static uint64_t wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static void add(struct proto_buffer *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void add(struct proto_buffer *out, const char *format, ...)
{
    char line[DASHBOARD_LINE_BYTES];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    if (length > 0) {
        proto_buffer_append(out, line,
                            (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
    }
}

/* A JSON string: printable ASCII as it is, quote and backslash escaped, every other byte as
 * \u00XX (so binary keys stay valid JSON, shown as Latin-1). */
static void add_json_string(struct proto_buffer *out, const char *text, size_t length)
{
    proto_buffer_append(out, "\"", 1);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            proto_buffer_append(out, escaped, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            proto_buffer_append(out, &text[i], 1);
        } else {
            add(out, "\\u%04x", c);
        }
    }
    proto_buffer_append(out, "\"", 1);
}

static void add_json_text(struct proto_buffer *out, const char *text)
{
    add_json_string(out, text, strlen(text));
}

/* Appends `bytes` to words (NUL-terminated, `capacity` bytes), cutting with "..." when full. */
static void words_append(char *words, size_t capacity, const uint8_t *bytes, size_t length)
{
    size_t used = strlen(words);
    size_t room = capacity - 1 - used;
    if (length <= room) {
        memcpy(words + used, bytes, length);
        words[used + length] = '\0';
        return;
    }
    /* Cut: the text ends in "..." in its last three places (again, if it was cut before). */
    assert(capacity > 4);
    size_t keep = room >= 3 ? room - 3 : 0;
    memcpy(words + used, bytes, keep);
    size_t end = room >= 3 ? used + keep : capacity - 4;
    assert(end + 3 < capacity);
    memcpy(words + end, "...", 3);
    words[end + 3] = '\0';
}

/* "SET key value", the name upper-cased, its first arguments after it, cut to fit; only the
 * name when `arguments` is false. */
static void command_words(size_t argc, const struct kv_arg *argv, bool arguments, char *words,
                          size_t capacity)
{
    words[0] = '\0';
    size_t shown = arguments ? DASHBOARD_COMMAND_ARGS_SHOWN : 1;
    for (size_t i = 0; i < argc && i < shown; i++) {
        if (i > 0) {
            words_append(words, capacity, (const uint8_t *)" ", 1);
        }
        if (i == 0) {
            char name[32];
            size_t length = argv[0].data_bytes < sizeof name ? argv[0].data_bytes : sizeof name;
            for (size_t c = 0; c < length; c++) {
                char letter = (char)argv[0].data[c];
                name[c] = (char)(letter >= 'a' && letter <= 'z' ? letter - 32 : letter);
            }
            words_append(words, capacity, (const uint8_t *)name, length);
        } else {
            words_append(words, capacity, argv[i].data, argv[i].data_bytes);
        }
    }
    if (argc > shown) {
        words_append(words, capacity, (const uint8_t *)" ...", 4);
    }
}

/* A log entry in words: its command, "no-op", "config change" or "(undecodable)". */
static void entry_words(const struct raft_entry *entry, bool arguments, char *words,
                        size_t capacity)
{
    if (entry->type == RAFT_ENTRY_NOOP) {
        snprintf(words, capacity, "no-op");
        return;
    }
    if (entry->type == RAFT_ENTRY_CONFIG) {
        snprintf(words, capacity, "config change");
        return;
    }
    struct kv_arg argv[DASHBOARD_COMMAND_ARGS_SHOWN];
    size_t argc = 0;
    if (kv_command_decode_head(entry->data, entry->data_bytes, argv, DASHBOARD_COMMAND_ARGS_SHOWN,
                               &argc) != 0 ||
        argc == 0) {
        snprintf(words, capacity, "(undecodable)");
        return;
    }
    command_words(argc, argv, arguments, words, capacity);
}

/*
 * The dashboard's HTTP paths ask for no password, so they show what anyone could read from the
 * node anyway: the arguments of commands (keys and values) only while the default user needs
 * no password; otherwise command names alone ("SET ...").
 */
static bool dashboard_shows_arguments(struct server *server)
{
    return server->node.kv != NULL && !server->node.fatal && acl_server_default_nopass(server);
}

/* ---- what the node records as it runs ------------------------------------------------------
 */

static struct dashboard_peer *peer_slot(struct dashboard *dashboard, raft_node_id id)
{
    struct dashboard_peer *free_slot = NULL;
    for (size_t i = 0; i < TRANSPORT_MAX_PEERS; i++) {
        if (dashboard->peers[i].id == id) {
            return &dashboard->peers[i];
        }
        if (dashboard->peers[i].id == RAFT_NODE_NONE && free_slot == NULL) {
            free_slot = &dashboard->peers[i];
        }
    }
    if (free_slot != NULL) {
        memset(free_slot, 0, sizeof *free_slot);
        free_slot->id = id;
    }
    return free_slot; /* NULL: the table is full (not counted) */
}

void dashboard_count_message(struct server *server, const struct raft_message *message,
                             bool outbound)
{
    struct dashboard *dashboard = server->dashboard;
    if (dashboard == NULL || message->type > RAFT_MSG_TYPE_MAX) {
        return;
    }
    struct dashboard_peer *peer = peer_slot(dashboard, outbound ? message->to : message->from);
    if (peer != NULL) {
        (outbound ? peer->sent : peer->received)[message->type]++;
    }
}

void dashboard_note_leader(struct server *server, raft_node_id leader, uint64_t term)
{
    struct dashboard *dashboard = server->dashboard;
    if (dashboard == NULL) {
        return;
    }
    struct dashboard_election *election =
        &dashboard->elections[dashboard->election_count % DASHBOARD_ELECTIONS];
    election->time_ms = wall_ms();
    election->term = term;
    election->leader = leader;
    dashboard->election_count++;
}

static struct dashboard_trace *trace_find(struct dashboard *dashboard, uint64_t id)
{
    if (id == 0) {
        return NULL;
    }
    struct dashboard_trace *trace = &dashboard->traces[id % DASHBOARD_TRACES];
    return trace->id == id ? trace : NULL; /* else its slot went to a newer one */
}

uint64_t dashboard_trace_begin(struct server *server, size_t argc, const struct kv_arg *argv)
{
    struct dashboard *dashboard = server->dashboard;
    if (dashboard == NULL || dashboard->traces_this_tick >= DASHBOARD_TRACES_PER_TICK ||
        argc == 0) {
        return 0;
    }
    dashboard->traces_this_tick++;
    uint64_t id = ++dashboard->next_trace_id;
    struct dashboard_trace *trace = &dashboard->traces[id % DASHBOARD_TRACES];
    memset(trace, 0, sizeof *trace);
    trace->id = id;
    command_words(argc, argv, dashboard_shows_arguments(server), trace->words, sizeof trace->words);
    trace->stage_ms[STAGE_RECEIVED] = wall_ms();
    return id;
}

void dashboard_trace_proposed(struct server *server, uint64_t id, int result, uint64_t index,
                              uint64_t term)
{
    struct dashboard_trace *trace =
        server->dashboard != NULL ? trace_find(server->dashboard, id) : NULL;
    if (trace == NULL) {
        return;
    }
    if (result == 0) {
        trace->index = index;
        trace->term = term;
        trace->stage_ms[STAGE_PROPOSED] = wall_ms();
    } else if (result == RAFT_ERROR_NOT_LEADER) {
        trace->stage_ms[STAGE_REDIRECTED] = wall_ms();
    }
}

void dashboard_note_entries(struct server *server, const struct raft_entry *entries, size_t count,
                            bool applied)
{
    struct dashboard *dashboard = server->dashboard;
    if (dashboard == NULL || count == 0) {
        return;
    }
    uint64_t first = entries[0].index;
    uint64_t last = entries[count - 1].index;
    uint64_t now = 0;
    for (size_t i = 0; i < DASHBOARD_TRACES; i++) {
        struct dashboard_trace *trace = &dashboard->traces[i];
        if (trace->id == 0 || trace->index < first || trace->index > last ||
            entries[trace->index - first].term != trace->term) {
            continue;
        }
        now = now != 0 ? now : wall_ms();
        trace->stage_ms[applied ? STAGE_APPLIED : STAGE_COMMITTED] = now;
    }
}

void dashboard_trace_answered(struct server *server, uint64_t id, const uint8_t *reply,
                              size_t reply_bytes)
{
    struct dashboard_trace *trace =
        server->dashboard != NULL ? trace_find(server->dashboard, id) : NULL;
    if (trace == NULL) {
        return;
    }
    trace->stage_ms[STAGE_ANSWERED] = wall_ms();
    /* The reply's first line, without its RESP type byte: "OK", "MOVED 0 127.0.0.1:6379". */
    size_t length = 0;
    while (length + 1 < reply_bytes && reply[length + 1] != '\r' &&
           length + 1 < sizeof trace->outcome) {
        length++;
    }
    if (reply_bytes > 0 && (reply[0] == '+' || reply[0] == '-' || reply[0] == ':')) {
        size_t prefix = reply[0] == ':' ? 10 : 0; /* "(integer) " */
        length =
            length + prefix < sizeof trace->outcome ? length : sizeof trace->outcome - 1 - prefix;
        memcpy(trace->outcome, "(integer) ", prefix);
        memcpy(trace->outcome + prefix, reply + 1, length);
        trace->outcome[prefix + length] = '\0';
    } else {
        snprintf(trace->outcome, sizeof trace->outcome, "%s",
                 reply_bytes > 0 ? "(a reply)" : "(no reply)");
    }
}

void dashboard_trace_redirected(struct server *server, size_t argc, const struct kv_arg *argv,
                                const uint8_t *reply, size_t reply_bytes)
{
    uint64_t id = dashboard_trace_begin(server, argc, argv);
    struct dashboard_trace *trace = id != 0 ? trace_find(server->dashboard, id) : NULL;
    if (trace != NULL) {
        trace->stage_ms[STAGE_REDIRECTED] = trace->stage_ms[STAGE_RECEIVED];
        dashboard_trace_answered(server, id, reply, reply_bytes);
    }
}

/* ---- the state object ------------------------------------------------------------------------
 */

/* --replication: "raft", or one of the lecture's foils (the page shows a banner for them). */
static const char *replication_mode(const struct server *server)
{
    return server_replication_name(server);
}

/* Where member `id` serves HTTP: its --member flag's third address; for this node, its
 * --metrics-addr when the flag has none. "" when unknown. */
static const char *member_http(const struct server *server, raft_node_id id)
{
    const struct config_member *flag = config_member(&server->config, id);
    if (flag != NULL && flag->http[0] != '\0') {
        return flag->http;
    }
    return id == server->config.id ? server->config.metrics_addr : "";
}

static void add_address(struct proto_buffer *out, const char *name, const char *host, uint16_t port)
{
    char text[CONFIG_HOST_BYTES + 16];
    bool bracket = strchr(host, ':') != NULL;
    snprintf(text, sizeof text, "%s%s%s:%u", bracket ? "[" : "", host, bracket ? "]" : "",
             (unsigned)port);
    add(out, ",\"%s\":", name);
    add_json_text(out, text);
}

static void add_members(struct server *server, struct proto_buffer *out)
{
    struct raft *raft = server->node.raft;
    const struct raft_configuration *configuration = raft_configuration(raft);
    proto_buffer_append(out, ",\"members\":[", 12);
    for (uint32_t i = 0; i < raft_configuration_member_count(configuration); i++) {
        raft_node_id id = raft_configuration_member_at(configuration, i);
        const struct config_member *member = members_address(server, id);
        add(out, "%s{\"id\":%" PRIu64 ",\"voter\":%s,\"self\":%s", i > 0 ? "," : "", id,
            raft_configuration_is_learner(configuration, id) ? "false" : "true",
            id == server->config.id ? "true" : "false");
        if (member != NULL) {
            add_address(out, "client", member->client_host, member->client_port);
            add_address(out, "peer", member->peer_host, member->peer_port);
        } else {
            add(out, ",\"client\":\"\",\"peer\":\"\"");
        }
        add(out, ",\"http\":");
        add_json_text(out, member_http(server, id));
        if (id != server->config.id) {
            uint64_t match, next;
            if (raft_progress(raft, id, &match, &next)) {
                add(out, ",\"match\":%" PRIu64 ",\"next\":%" PRIu64, match, next);
            }
            add(out, ",\"connected\":%s",
                server->transport != NULL && transport_peer_connected(server->transport, id)
                    ? "true"
                    : "false");
        }
        proto_buffer_append(out, "}", 1);
    }
    proto_buffer_append(out, "]", 1);
}

static void add_counters(struct proto_buffer *out, const char *name, const uint64_t *counts)
{
    add(out, ",\"%s\":{", name);
    bool first = true;
    for (int type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
        if (counts[type] != 0) {
            add(out, "%s\"%s\":%" PRIu64, first ? "" : ",", raft_message_type_string(type),
                counts[type]);
            first = false;
        }
    }
    proto_buffer_append(out, "}", 1);
}

static void add_messages(struct dashboard *dashboard, struct proto_buffer *out)
{
    proto_buffer_append(out, ",\"messages\":[", 13);
    bool first = true;
    for (size_t i = 0; i < TRANSPORT_MAX_PEERS; i++) {
        const struct dashboard_peer *peer = &dashboard->peers[i];
        if (peer->id == RAFT_NODE_NONE) {
            continue;
        }
        add(out, "%s{\"peer\":%" PRIu64, first ? "" : ",", peer->id);
        add_counters(out, "sent", peer->sent);
        add_counters(out, "received", peer->received);
        proto_buffer_append(out, "}", 1);
        first = false;
    }
    proto_buffer_append(out, "]", 1);
}

static void add_log(struct server *server, struct proto_buffer *out)
{
    struct raft *raft = server->node.raft;
    bool arguments = dashboard_shows_arguments(server);
    uint64_t last = raft_last_index(raft);
    uint64_t first = raft_first_index(raft);
    if (last >= first + DASHBOARD_LOG_ENTRIES) {
        first = last - DASHBOARD_LOG_ENTRIES + 1;
    }
    proto_buffer_append(out, ",\"log\":[", 8);
    bool first_entry = true;
    for (uint64_t index = first; index <= last && index > 0; index++) {
        const struct raft_entry *entry = raft_entry_at(raft, index);
        if (entry == NULL) {
            continue;
        }
        char words[DASHBOARD_WORDS_BYTES];
        entry_words(entry, arguments, words, sizeof words);
        add(out,
            "%s{\"index\":%" PRIu64 ",\"term\":%" PRIu64 ",\"command\":", first_entry ? "" : ",",
            entry->index, entry->term);
        first_entry = false;
        add_json_text(out, words);
        proto_buffer_append(out, "}", 1);
    }
    proto_buffer_append(out, "]", 1);
}

static void add_elections(struct dashboard *dashboard, struct proto_buffer *out)
{
    proto_buffer_append(out, ",\"elections\":[", 14);
    size_t count = dashboard->election_count;
    size_t kept = count < DASHBOARD_ELECTIONS ? count : DASHBOARD_ELECTIONS;
    for (size_t i = count - kept; i < count; i++) {
        const struct dashboard_election *election = &dashboard->elections[i % DASHBOARD_ELECTIONS];
        add(out, "%s{\"time_ms\":%" PRIu64 ",\"term\":%" PRIu64 ",\"leader\":%" PRIu64 "}",
            i == count - kept ? "" : ",", election->time_ms, election->term, election->leader);
    }
    proto_buffer_append(out, "]", 1);
}

static void add_requests(struct dashboard *dashboard, struct proto_buffer *out)
{
    proto_buffer_append(out, ",\"requests\":[", 13);
    bool first = true;
    /* Oldest first: the ids run in order through the ring. */
    uint64_t newest = dashboard->next_trace_id;
    uint64_t oldest = newest >= DASHBOARD_TRACES ? newest - DASHBOARD_TRACES + 1 : 1;
    for (uint64_t id = oldest; id <= newest && id > 0; id++) {
        const struct dashboard_trace *trace = trace_find(dashboard, id);
        if (trace == NULL) {
            continue;
        }
        add(out, "%s{\"id\":%" PRIu64 ",\"command\":", first ? "" : ",", trace->id);
        add_json_text(out, trace->words);
        if (trace->index != 0) {
            add(out, ",\"index\":%" PRIu64 ",\"term\":%" PRIu64, trace->index, trace->term);
        }
        proto_buffer_append(out, ",\"stages\":{", 11);
        bool first_stage = true;
        for (int stage = 0; stage < STAGE_COUNT; stage++) {
            if (trace->stage_ms[stage] != 0) {
                add(out, "%s\"%s\":%" PRIu64, first_stage ? "" : ",", stage_names[stage],
                    trace->stage_ms[stage]);
                first_stage = false;
            }
        }
        add(out, "},\"outcome\":");
        add_json_text(out, trace->outcome);
        proto_buffer_append(out, "}", 1);
        first = false;
    }
    proto_buffer_append(out, "]", 1);
}

/* The core's part: role, term, vote, leader, indexes, members, the log's tail. */
static void add_core(struct server *server, struct proto_buffer *out)
{
    struct raft *raft = server->node.raft;
    add(out,
        ",\"role\":\"%s\",\"term\":%" PRIu64 ",\"voted_for\":%" PRIu64 ",\"leader_id\":%" PRIu64
        ",\"commit\":%" PRIu64 ",\"applied\":%" PRIu64 ",\"first_index\":%" PRIu64
        ",\"last_index\":%" PRIu64 ",\"elections_started\":%" PRIu64,
        raft_role_string(raft_role(raft)), raft_term(raft), raft_vote(raft), raft_leader(raft),
        raft_commit_index(raft),
        server->node.kv != NULL ? kv_applied_index(server->node.kv) : raft_applied_index(raft),
        raft_first_index(raft), raft_last_index(raft), raft_election_count(raft));
    add_members(server, out);
    add_log(server, out);
}

static void build_state(struct dashboard *dashboard, struct proto_buffer *out)
{
    struct server *server = dashboard->server;
    proto_buffer_truncate(out, 0);
    add(out, "{\"id\":%" PRIu64 ",\"replication\":", server->config.id);
    add_json_text(out, replication_mode(server));
    add(out, ",\"failed\":%s,\"event_streams\":%" PRIu32, server->node.fatal ? "true" : "false",
        metrics_stream_count(server));
    if (server->node.fatal) {
        add(out, ",\"failure_reason\":");
        add_json_text(out, server->node.failure_reason);
    }
    add(out, ",\"faults\":");
    fault_describe_json(server, out); /* the transport's fault point (fault.c) */
    if (server->node.raft != NULL) {
        add_core(server, out);
    }
    add_messages(dashboard, out);
    add_elections(dashboard, out);
    add_requests(dashboard, out);
    proto_buffer_append(out, "}", 1);
    if (out->append_failed || out->length > DASHBOARD_STATE_MAX_BYTES) {
        /* Cannot happen with the limits above (a few KiB); say so rather than send half. */
        proto_buffer_truncate(out, 0);
        add(out, "{\"id\":%" PRIu64 ",\"truncated\":true}", server->config.id);
    }
}

/* ---- the timer and the streams ---------------------------------------------------------------
 */

static void stream_event(struct proto_buffer *out, const struct proto_buffer *state)
{
    proto_buffer_append(out, "event: state\ndata: ", 19);
    proto_buffer_append(out, state->data, state->length);
    proto_buffer_append(out, "\n\n", 2);
}

static void on_tick(uv_timer_t *timer)
{
    struct dashboard *dashboard = timer->data;
    struct server *server = dashboard->server;
    dashboard->traces_this_tick = 0;
    if (metrics_stream_count(server) == 0) {
        proto_buffer_truncate(&dashboard->last_state, 0); /* the next stream starts afresh */
        return;
    }
    build_state(dashboard, &dashboard->state);
    const struct proto_buffer *state = &dashboard->state;
    const struct proto_buffer *last = &dashboard->last_state;
    if (state->length != last->length || memcmp(state->data, last->data, state->length) != 0) {
        proto_buffer_truncate(&dashboard->last_state, 0);
        proto_buffer_append(&dashboard->last_state, state->data, state->length);
        struct proto_buffer event;
        proto_buffer_init(&event, DASHBOARD_STATE_MAX_BYTES + 64);
        stream_event(&event, state);
        metrics_stream_broadcast(server, event.data, event.length);
        proto_buffer_free(&event);
    }
    uint64_t now = uv_now(server->loop);
    if (now - dashboard->last_heartbeat_ms >= DASHBOARD_HEARTBEAT_MS) {
        dashboard->last_heartbeat_ms = now;
        /* A comment keeps proxies from closing an idle stream; the event beside it lets a
         * page tell a stopped node (SIGSTOP: the connection stays open) from an idle one. */
        char heartbeat[96];
        int length = snprintf(heartbeat, sizeof heartbeat,
                              ": heartbeat\nevent: heartbeat\ndata: {\"time_ms\":%" PRIu64 "}\n\n",
                              wall_ms());
        metrics_stream_broadcast(server, (const uint8_t *)heartbeat, (size_t)length);
    }
}

void dashboard_stream_begin(struct server *server, struct proto_buffer *out)
{
    struct dashboard *dashboard = server->dashboard;
    /* retry: how soon a browser reconnects after the stream breaks (the node restarted). */
    static const char retry[] = "retry: 1000\n\n";
    proto_buffer_append(out, retry, sizeof retry - 1);
    if (dashboard != NULL) {
        build_state(dashboard, &dashboard->state);
        stream_event(out, &dashboard->state);
    }
}

int dashboard_start(struct server *server)
{
    struct dashboard *dashboard = calloc(1, sizeof *dashboard);
    if (dashboard == NULL) {
        return -1;
    }
    dashboard->server = server;
    proto_buffer_init(&dashboard->state, DASHBOARD_STATE_MAX_BYTES + 4096);
    proto_buffer_init(&dashboard->last_state, DASHBOARD_STATE_MAX_BYTES + 4096);
    uv_timer_init(server->loop, &dashboard->timer);
    dashboard->timer.data = dashboard;
    uv_timer_start(&dashboard->timer, on_tick, DASHBOARD_TICK_MS, DASHBOARD_TICK_MS);
    server->dashboard = dashboard;
    return 0;
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct dashboard *dashboard = handle->data;
    proto_buffer_free(&dashboard->state);
    proto_buffer_free(&dashboard->last_state);
    free(dashboard);
}

void dashboard_stop(struct server *server)
{
    struct dashboard *dashboard = server->dashboard;
    if (dashboard == NULL) {
        return;
    }
    server->dashboard = NULL;
    uv_close((uv_handle_t *)&dashboard->timer, on_timer_closed);
}

/* ---- the paths -------------------------------------------------------------------------------
 */

static const struct web_asset *asset_named(const char *name)
{
    for (size_t i = 0; i < web_asset_count; i++) {
        if (strcmp(web_assets[i].name, name) == 0) {
            return &web_assets[i];
        }
    }
    return NULL;
}

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot != NULL && strcmp(dot, ".html") == 0) {
        return "text/html; charset=utf-8";
    }
    if (dot != NULL && strcmp(dot, ".js") == 0) {
        return "text/javascript; charset=utf-8";
    }
    if (dot != NULL && strcmp(dot, ".css") == 0) {
        return "text/css; charset=utf-8";
    }
    if (dot != NULL && strcmp(dot, ".png") == 0) {
        return "image/png";
    }
    return "application/octet-stream";
}

bool dashboard_answer(struct server *server, const char *path, struct proto_buffer *body,
                      struct dashboard_answer *answer)
{
    memset(answer, 0, sizeof *answer);
    answer->status = 200;
    answer->reason = "OK";
    if (strcmp(path, "/") == 0) {
        answer->status = 302;
        answer->reason = "Found";
        answer->location = "/dashboard";
        answer->content_type = "text/plain; charset=utf-8";
        proto_buffer_append(body, "the dashboard is at /dashboard\n", 31);
        return true;
    }
    if (strcmp(path, "/api/state") == 0) {
        answer->no_store = true;
        answer->content_type = "application/json";
        if (server->dashboard != NULL) {
            build_state(server->dashboard, body);
        }
        return true;
    }
    const char *name = NULL;
    if (strcmp(path, "/dashboard") == 0 || strcmp(path, "/dashboard/") == 0) {
        name = "index.html";
    } else if (strncmp(path, "/dashboard/", 11) == 0) {
        name = path + 11;
    } else {
        return false;
    }
    const struct web_asset *asset = asset_named(name);
    if (asset == NULL) {
        answer->status = 404;
        answer->reason = "Not Found";
        answer->content_type = "text/plain; charset=utf-8";
        proto_buffer_append(body, "no such file of the dashboard\n", 30);
        return true;
    }
    answer->content_type = content_type_of(asset->name);
    proto_buffer_append(body, asset->data, asset->bytes);
    return true;
}
