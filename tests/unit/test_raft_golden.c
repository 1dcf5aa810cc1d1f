/*
 * test_raft_golden.c — golden-trace tests for the consensus core, after the datadriven
 * scripts of etcd's raft (its testdata directory): a script drives a small in-memory cluster
 * step by step, everything the cores hand out is printed as text, and the text is compared
 * with the output checked in beside each step. A reviewer reads a script as the behaviour it
 * pins down; a change in behaviour shows up as a diff of that text.
 *
 * The scripts are the .txt files of tests/unit/testdata/raft, one cmocka test per file. The
 * host here uses only raft.h: an instantly durable "disk" per node (hard state, log,
 * snapshot), a state machine that records the commands it applied, and one FIFO queue of
 * messages that moves only when a script says so. It calls raft_ready() itself rather than
 * going through src/driver, because the point is to print each ready exactly as the core
 * hands it out; it never uses raft_early(), so everything arrives in readies.
 *
 * Script format. A file is a sequence of steps, each a command line, a line "----", and the
 * command's expected output, which ends at the first blank line (outputs never contain one).
 * Lines starting with '#' between steps are comments and blank lines separate steps:
 *
 *     # Node 1's election timer fires first (§5.2).
 *     campaign 1
 *     ----
 *     ticked 15 times: role=pre-candidate term=0
 *
 * Commands (IDs are 1..N; a LINK is FROM->TO where either side may be *):
 *
 *   new N [pre-vote=on|off] [check-quorum=on|off] [election=TICKS] [heartbeat=TICKS]
 *                          a fresh cluster of voters 1..N; node i's PRNG is seeded with i,
 *                          so every run is the same. Defaults are raft_config_default's.
 *   add-node               starts node N+1 with an empty configuration: it waits to be added
 *                          (and restarts that way; its log then says what it is).
 *   change ID add-learner|promote|demote|remove NODE [force] [context=TEXT]
 *                          raft_propose_change on ID; prints the index and term it was given.
 *   tick ID|all [COUNT]    raft_tick, COUNT times (1).
 *   campaign ID            ticks a non-leader until its election timer fires (until it has
 *                          a ready); prints how many ticks that took.
 *   propose ID DATA        raft_propose; prints the index and term it was given.
 *   read-index ID REQUEST  raft_read_index with request id REQUEST.
 *   process ID...|all      for each node in turn: raft_ready, print it, then do what raft.h
 *                          asks in its order (queue messages_immediate, install the snapshot,
 *                          persist, queue messages, apply committed), then raft_advance.
 *   deliver [LINK...|all]  steps the queued messages on those links into their targets, in
 *                          queue order, printing each. A message across a partition is
 *                          dropped instead. A delivered SNAPSHOT carries the sender's stored
 *                          snapshot; its fate is reported back (raft_report_snapshot).
 *   drop LINK...           removes queued messages on those links, printing each.
 *   partition IDS [| IDS]  cuts the links between groups; nodes not named form one more
 *                          group. `partition 3` isolates node 3.
 *   heal                   joins every group again.
 *   stabilize              process all and deliver all, repeated until nothing is left.
 *   compact ID INDEX       the host snapshots its state machine at INDEX and raft_compact()s.
 *   restart ID             the node restarts from its disk (its state machine from its
 *                          snapshot, the rest replayed); queued messages stay queued.
 *   status [ID...|all]     role, term, vote, leader, commit, applied, first and last index;
 *                          for a leader also each follower's match and next.
 *   configuration [ID...|all]
 *                          the configuration in force and the index of its entry (0: the
 *                          snapshot's or the boot configuration).
 *   storage ID...          what the node's disk and state machine hold.
 *
 * A command that the core refuses prints "(error) <raft_error_string>"; one with nothing to
 * print prints "(ok)". Output notation: an entry is INDEX/TERM followed by noop, its quoted
 * command ("3/1 \"x\"") or its configuration ("4/1 config voters=[1 2 3] learners=[4]
 * highest=4", with context="..." when the host gave one); a message is FROM->TO TYPE term=T
 * and the fields raft.h says matter for its type. A ready prints as "ready ID:" and, in
 * raft.h's order, each field that holds something: messages immediate, snapshot, hard state,
 * entries, messages, committed, reads, failed reads, soft state (only when it changed).
 * Within stabilize, the messages delivered in one round follow a "delivered:" line.
 *
 * Rewrite mode: with RAFTKV_GOLDEN_REWRITE=1 in the environment the test writes the actual
 * outputs into the files instead of comparing (regenerate after an intended change, then
 * review the diff). Without it, each differing step fails the test with the file, line,
 * command and a line diff of expected against actual.
 *
 * Failure modes: a malformed script line fails the test (in both modes), and so does a core
 * that breaks its contract with the host (a gap in the entries to persist, an entry applied
 * out of order, a second vote in one term, a snapshot installed without its data); such
 * lines read "FAILURE: ..." in the output.
 */
#include "raft/raft.h"

#include <dirent.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifndef RAFTKV_GOLDEN_DIR
#define RAFTKV_GOLDEN_DIR "tests/unit/testdata/raft"
#endif

enum {
    GOLDEN_MAX_NODES = 7,
    GOLDEN_MAX_LOG = 1024,         /* highest log index a script may reach */
    GOLDEN_MAX_COMMAND_BYTES = 64, /* payload of one proposed command */
    GOLDEN_MAX_ENTRY_BYTES = 256,  /* payload of any entry (a CONFIG entry of 7 members: 72) */
    GOLDEN_MAX_QUEUE = 1024,       /* messages in flight */
    GOLDEN_MAX_ARGUMENTS = 32,     /* words on one command line */
    GOLDEN_MAX_STABILIZE_ROUNDS = 100,
    GOLDEN_MAX_CAMPAIGN_TICKS = 1000,
    GOLDEN_MAX_DIFF_LINES = 2000, /* longer outputs are shown whole, not diffed */
    GOLDEN_MAX_SCRIPTS = 64,
};

/* ---- text ---- */

struct text {
    char *bytes;
    size_t length;
    size_t capacity;
};

static void text_vprintf(struct text *text, const char *format, va_list arguments)
{
    va_list copy;
    va_copy(copy, arguments);
    int needed = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    assert_true(needed >= 0);
    size_t want = text->length + (size_t)needed + 1;
    if (want > text->capacity) {
        size_t capacity = text->capacity > 0 ? text->capacity : 256;
        while (capacity < want) {
            capacity *= 2;
        }
        text->bytes = realloc(text->bytes, capacity);
        assert_non_null(text->bytes);
        text->capacity = capacity;
    }
    vsnprintf(text->bytes + text->length, (size_t)needed + 1, format, arguments);
    text->length += (size_t)needed;
}

static void text_printf(struct text *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *text, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    text_vprintf(text, format, arguments);
    va_end(arguments);
}

static void text_clear(struct text *text)
{
    text->length = 0;
    if (text->bytes != NULL) {
        text->bytes[0] = '\0';
    }
}

/* ---- the in-memory cluster ---- */

struct applied_command {
    uint64_t index;
    uint32_t data_bytes;
    uint8_t data[GOLDEN_MAX_COMMAND_BYTES];
};

/* The state machine: the commands applied so far, in order. A snapshot's data is a copy. */
struct state_machine {
    uint64_t applied;
    uint32_t count;
    struct applied_command commands[GOLDEN_MAX_LOG];
};

/* A node's disk: durable the moment it is written. The log holds (first, last_index], with
 * first = snapshot.index + 1, stored at log[index]. */
struct disk {
    struct raft_hard_state hard_state;
    bool has_snapshot;
    struct raft_snapshot_meta snapshot;
    struct state_machine snapshot_data;
    uint64_t last_index;
    struct raft_entry log[GOLDEN_MAX_LOG + 1];
    uint8_t log_data[GOLDEN_MAX_LOG + 1][GOLDEN_MAX_ENTRY_BYTES];
};

struct node {
    raft_node_id id;
    bool joining; /* started by add-node: boots with an empty configuration */
    struct raft *raft;
    struct disk disk;
    struct state_machine machine;
    /* Snapshot data that arrived beside a SNAPSHOT message, until a ready installs it. */
    bool has_incoming;
    struct raft_snapshot_meta incoming_meta;
    struct state_machine incoming;
    uint32_t group; /* partition group; links between different groups are cut */
};

/* A message in flight, deep-copied: entries and their data, and for a SNAPSHOT the sender's
 * stored snapshot data (the stream a real host sends beside the message). */
struct queued_message {
    struct raft_message message;
    struct raft_entry *entries;
    uint8_t (*entry_data)[GOLDEN_MAX_ENTRY_BYTES];
    struct state_machine *snapshot_data;
};

struct cluster {
    uint32_t node_count;
    uint32_t voter_count; /* nodes 1..voter_count boot as the voters */
    bool pre_vote;
    bool check_quorum;
    uint32_t election_timeout_ticks;
    uint32_t heartbeat_interval_ticks;
    struct node nodes[GOLDEN_MAX_NODES];
    uint32_t queue_count;
    struct queued_message queue[GOLDEN_MAX_QUEUE];
};

/* One script being run. */
struct run {
    struct cluster *cluster; /* NULL until `new` */
    struct text out;         /* the current command's output */
    char usage[256];         /* why the current command line is malformed */
    bool failed;             /* the core broke its contract, or the host hit a limit */
};

static void run_fail(struct run *run, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void run_fail(struct run *run, const char *format, ...)
{
    text_printf(&run->out, "FAILURE: ");
    va_list arguments;
    va_start(arguments, format);
    text_vprintf(&run->out, format, arguments);
    va_end(arguments);
    text_printf(&run->out, "\n");
    run->failed = true;
}

static int usage_error(struct run *run, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(struct run *run, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(run->usage, sizeof run->usage, format, arguments);
    va_end(arguments);
    return -1;
}

static struct node *node_of(struct cluster *cluster, raft_node_id id)
{
    assert_true(id >= 1 && id <= cluster->node_count);
    return &cluster->nodes[id - 1];
}

/* ---- printing what the core hands out ---- */

static const char *const message_type_names[RAFT_MSG_TYPE_MAX + 1] = {
    [RAFT_MSG_PRE_VOTE] = "PRE_VOTE",
    [RAFT_MSG_PRE_VOTE_RESPONSE] = "PRE_VOTE_RESPONSE",
    [RAFT_MSG_VOTE] = "VOTE",
    [RAFT_MSG_VOTE_RESPONSE] = "VOTE_RESPONSE",
    [RAFT_MSG_APPEND] = "APPEND",
    [RAFT_MSG_APPEND_RESPONSE] = "APPEND_RESPONSE",
    [RAFT_MSG_HEARTBEAT] = "HEARTBEAT",
    [RAFT_MSG_HEARTBEAT_RESPONSE] = "HEARTBEAT_RESPONSE",
    [RAFT_MSG_SNAPSHOT] = "SNAPSHOT",
    [RAFT_MSG_TIMEOUT_NOW] = "TIMEOUT_NOW",
    [RAFT_MSG_READ_INDEX] = "READ_INDEX",
    [RAFT_MSG_READ_INDEX_RESPONSE] = "READ_INDEX_RESPONSE",
};

static void print_data(struct text *out, const uint8_t *data, uint32_t data_bytes)
{
    text_printf(out, "\"");
    for (uint32_t i = 0; i < data_bytes; i++) {
        if (data[i] >= 0x21 && data[i] <= 0x7e && data[i] != '"' && data[i] != '\\') {
            text_printf(out, "%c", data[i]);
        } else {
            text_printf(out, "\\x%02x", data[i]);
        }
    }
    text_printf(out, "\"");
}

static void print_ids(struct text *out, const raft_node_id *ids, uint32_t count)
{
    text_printf(out, "[");
    for (uint32_t i = 0; i < count; i++) {
        text_printf(out, "%s%" PRIu64, i > 0 ? " " : "", ids[i]);
    }
    text_printf(out, "]");
}

/* "voters=[1 2 3] learners=[4] highest=4", learners left out when there are none. */
static void print_configuration(struct text *out, const struct raft_configuration *configuration)
{
    text_printf(out, "voters=");
    print_ids(out, configuration->voters, configuration->voter_count);
    if (configuration->learner_count > 0) {
        text_printf(out, " learners=");
        print_ids(out, configuration->learners, configuration->learner_count);
    }
    text_printf(out, " highest=%" PRIu64, configuration->highest_id);
}

static void print_config_entry(struct text *out, const struct raft_entry *entry)
{
    struct raft_configuration configuration;
    const uint8_t *context = NULL;
    uint32_t context_bytes = 0;
    if (raft_configuration_decode(entry->data, entry->data_bytes, &configuration, &context,
                                  &context_bytes) != 0) {
        text_printf(out, "config (malformed, %" PRIu32 " bytes)", entry->data_bytes);
        return;
    }
    text_printf(out, "config ");
    print_configuration(out, &configuration);
    if (context_bytes > 0) {
        text_printf(out, " context=");
        print_data(out, context, context_bytes);
    }
}

static void print_entry(struct text *out, const struct raft_entry *entry)
{
    text_printf(out, "%" PRIu64 "/%" PRIu64 " ", entry->index, entry->term);
    if (entry->type == RAFT_ENTRY_NOOP) {
        text_printf(out, "noop");
    } else if (entry->type == RAFT_ENTRY_COMMAND) {
        print_data(out, entry->data, entry->data_bytes);
    } else if (entry->type == RAFT_ENTRY_CONFIG) {
        print_config_entry(out, entry);
    } else {
        text_printf(out, "type=%u", entry->type);
    }
}

static void print_snapshot_meta(struct text *out, const struct raft_snapshot_meta *meta)
{
    text_printf(out, "index=%" PRIu64 " term=%" PRIu64 " voters=", meta->index, meta->term);
    print_ids(out, meta->configuration.voters, meta->configuration.voter_count);
    if (meta->configuration.learner_count > 0) {
        text_printf(out, " learners=");
        print_ids(out, meta->configuration.learners, meta->configuration.learner_count);
    }
}

/* The fields raft.h (struct raft_message) says matter for each type, and no others. */
static void print_message_fields(struct text *out, const struct raft_message *message)
{
    switch (message->type) {
    case RAFT_MSG_PRE_VOTE:
    case RAFT_MSG_VOTE:
        text_printf(out, " index=%" PRIu64 " log_term=%" PRIu64 "%s", message->index,
                    message->log_term, message->force ? " force" : "");
        break;
    case RAFT_MSG_PRE_VOTE_RESPONSE:
    case RAFT_MSG_VOTE_RESPONSE:
        text_printf(out, " %s", message->reject ? "rejected" : "granted");
        break;
    case RAFT_MSG_APPEND:
        text_printf(out, " index=%" PRIu64 " log_term=%" PRIu64 " commit=%" PRIu64 " entries=[",
                    message->index, message->log_term, message->commit);
        for (uint32_t i = 0; i < message->entry_count; i++) {
            text_printf(out, "%s", i > 0 ? ", " : "");
            print_entry(out, &message->entries[i]);
        }
        text_printf(out, "]");
        break;
    case RAFT_MSG_APPEND_RESPONSE:
        if (message->reject) {
            text_printf(out,
                        " rejected index=%" PRIu64 " hint_index=%" PRIu64 " hint_term=%" PRIu64,
                        message->index, message->hint_index, message->hint_term);
        } else {
            text_printf(out, " index=%" PRIu64, message->index);
        }
        break;
    case RAFT_MSG_HEARTBEAT:
        text_printf(out, " commit=%" PRIu64 " context=%" PRIu64, message->commit, message->context);
        break;
    case RAFT_MSG_HEARTBEAT_RESPONSE:
        text_printf(out, " context=%" PRIu64, message->context);
        break;
    case RAFT_MSG_SNAPSHOT:
        text_printf(out, " snapshot=(");
        print_snapshot_meta(out, &message->snapshot);
        text_printf(out, ")");
        break;
    case RAFT_MSG_READ_INDEX:
        text_printf(out, " context=%" PRIu64 "%s", message->context,
                    message->force ? " lease" : "");
        break;
    case RAFT_MSG_READ_INDEX_RESPONSE:
        if (message->reject) {
            text_printf(out, " context=%" PRIu64 " rejected", message->context);
        } else {
            text_printf(out, " context=%" PRIu64 " index=%" PRIu64, message->context,
                        message->index);
        }
        break;
    default:
        break; /* TIMEOUT_NOW: the term alone */
    }
}

static void print_raft_message(struct text *out, const struct raft_message *message)
{
    const char *name = message->type >= 1 && message->type <= RAFT_MSG_TYPE_MAX
                           ? message_type_names[message->type]
                           : "UNKNOWN";
    text_printf(out, "%" PRIu64 "->%" PRIu64 " %s term=%" PRIu64, message->from, message->to, name,
                message->term);
    print_message_fields(out, message);
}

static void print_message_list(struct text *out, const char *title,
                               const struct raft_message *messages, size_t count)
{
    if (count == 0) {
        return;
    }
    text_printf(out, "  %s:\n", title);
    for (size_t i = 0; i < count; i++) {
        text_printf(out, "    ");
        print_raft_message(out, &messages[i]);
        text_printf(out, "\n");
    }
}

static void print_entry_list(struct text *out, const char *title, const struct raft_entry *entries,
                             size_t count)
{
    if (count == 0) {
        return;
    }
    text_printf(out, "  %s:\n", title);
    for (size_t i = 0; i < count; i++) {
        text_printf(out, "    ");
        print_entry(out, &entries[i]);
        text_printf(out, "\n");
    }
}

static void print_hard_state(struct text *out, const struct raft_hard_state *state)
{
    text_printf(out, "term=%" PRIu64 " vote=%" PRIu64 " commit=%" PRIu64, state->term, state->vote,
                state->commit);
}

/* Every field of a ready that holds something, in the order raft.h lists them (which is the
 * order the host acts on them); an empty field is left out. */
static void print_ready(struct text *out, raft_node_id id, const struct raft_ready *ready)
{
    text_printf(out, "ready %" PRIu64 ":\n", id);
    print_message_list(out, "messages immediate", ready->messages_immediate,
                       ready->messages_immediate_count);
    if (ready->snapshot != NULL) {
        text_printf(out, "  snapshot: ");
        print_snapshot_meta(out, ready->snapshot);
        text_printf(out, "\n");
    }
    if (ready->has_hard_state) {
        text_printf(out, "  hard state: ");
        print_hard_state(out, &ready->hard_state);
        text_printf(out, "\n");
    }
    print_entry_list(out, "entries", ready->entries, ready->entry_count);
    print_message_list(out, "messages", ready->messages, ready->message_count);
    print_entry_list(out, "committed", ready->committed, ready->committed_count);
    if (ready->read_count > 0) {
        text_printf(out, "  reads:");
        for (size_t i = 0; i < ready->read_count; i++) {
            text_printf(out, " request=%" PRIu64 "@index=%" PRIu64, ready->reads[i].request_id,
                        ready->reads[i].index);
        }
        text_printf(out, "\n");
    }
    if (ready->failed_read_count > 0) {
        text_printf(out, "  failed reads:");
        for (size_t i = 0; i < ready->failed_read_count; i++) {
            text_printf(out, " request=%" PRIu64, ready->failed_reads[i]);
        }
        text_printf(out, "\n");
    }
    if (ready->soft_state_changed) {
        text_printf(out, "  soft state: role=%s leader=%" PRIu64 "\n",
                    raft_role_string(ready->soft_state.role), ready->soft_state.leader);
    }
}

/* ---- the host: starting nodes, queueing, persisting, applying ---- */

static void start_node(struct cluster *cluster, struct node *node)
{
    struct raft_config config;
    raft_config_default(&config, node->id);
    config.pre_vote = cluster->pre_vote;
    config.check_quorum = cluster->check_quorum;
    config.election_timeout_ticks = cluster->election_timeout_ticks;
    config.heartbeat_interval_ticks = cluster->heartbeat_interval_ticks;
    config.random_seed = node->id;
    if (!node->joining) {
        config.configuration.voter_count = cluster->voter_count;
        for (uint32_t i = 0; i < cluster->voter_count; i++) {
            config.configuration.voters[i] = i + 1;
        }
    }
    /* The state machine is volatile: it restarts from the snapshot and replays the log. */
    node->machine = node->disk.snapshot_data;
    struct raft_boot_state boot;
    memset(&boot, 0, sizeof boot);
    boot.hard_state = node->disk.hard_state;
    boot.has_snapshot = node->disk.has_snapshot;
    boot.snapshot = node->disk.snapshot;
    uint64_t first = node->disk.has_snapshot ? node->disk.snapshot.index + 1 : 1;
    boot.entries = &node->disk.log[first];
    boot.entry_count = (size_t)(node->disk.last_index + 1 - first);
    boot.applied = node->machine.applied;
    int rc = raft_new(&config, &boot, &node->raft);
    assert_int_equal(rc, 0);
}

static void queued_free(struct queued_message *queued)
{
    free(queued->entries);
    free(queued->entry_data);
    free(queued->snapshot_data);
    memset(queued, 0, sizeof *queued);
}

static void enqueue(struct run *run, const struct node *sender, const struct raft_message *message)
{
    struct cluster *cluster = run->cluster;
    if (message->from != sender->id || message->to < 1 || message->to > cluster->node_count ||
        message->to == sender->id) {
        run_fail(run, "node %" PRIu64 " sent a message from %" PRIu64 " to %" PRIu64, sender->id,
                 message->from, message->to);
        return;
    }
    if (cluster->queue_count == GOLDEN_MAX_QUEUE) {
        run_fail(run, "more than %d messages queued", GOLDEN_MAX_QUEUE);
        return;
    }
    struct queued_message *queued = &cluster->queue[cluster->queue_count++];
    memset(queued, 0, sizeof *queued);
    queued->message = *message;
    queued->message.entries = NULL;
    if (message->entry_count > 0) {
        queued->entries = calloc(message->entry_count, sizeof *queued->entries);
        queued->entry_data = calloc(message->entry_count, sizeof *queued->entry_data);
        assert_non_null(queued->entries);
        assert_non_null(queued->entry_data);
        for (uint32_t i = 0; i < message->entry_count; i++) {
            const struct raft_entry *entry = &message->entries[i];
            assert_true(entry->data_bytes <= GOLDEN_MAX_ENTRY_BYTES);
            queued->entries[i] = *entry;
            queued->entries[i].data = entry->data_bytes > 0 ? queued->entry_data[i] : NULL;
            if (entry->data_bytes > 0) {
                memcpy(queued->entry_data[i], entry->data, entry->data_bytes);
            }
        }
        queued->message.entries = queued->entries;
    }
    if (message->type == RAFT_MSG_SNAPSHOT) {
        queued->snapshot_data = malloc(sizeof *queued->snapshot_data);
        assert_non_null(queued->snapshot_data);
        *queued->snapshot_data = sender->disk.snapshot_data;
        if (!sender->disk.has_snapshot || sender->disk.snapshot.index != message->snapshot.index) {
            run_fail(run, "node %" PRIu64 " sent a snapshot at %" PRIu64 " it does not store",
                     sender->id, message->snapshot.index);
        }
    }
}

static void install_snapshot(struct run *run, struct node *node,
                             const struct raft_snapshot_meta *meta)
{
    if (!node->has_incoming || node->incoming_meta.index != meta->index ||
        node->incoming_meta.term != meta->term) {
        run_fail(run,
                 "node %" PRIu64 " must install a snapshot at %" PRIu64 " whose data never arrived",
                 node->id, meta->index);
        return;
    }
    if (meta->index <= node->machine.applied) {
        run_fail(run,
                 "node %" PRIu64 " must install a snapshot at %" PRIu64
                 " behind its applied index %" PRIu64,
                 node->id, meta->index, node->machine.applied);
    }
    node->has_incoming = false;
    node->machine = node->incoming;
    node->disk.has_snapshot = true;
    node->disk.snapshot = *meta;
    node->disk.snapshot_data = node->incoming;
    node->disk.last_index = meta->index; /* the whole stored log is discarded */
}

static void persist_hard_state(struct run *run, struct node *node,
                               const struct raft_hard_state *state)
{
    const struct raft_hard_state *old = &node->disk.hard_state;
    if (state->term < old->term) {
        run_fail(run, "node %" PRIu64 " persists term %" PRIu64 " after %" PRIu64, node->id,
                 state->term, old->term);
    }
    if (state->term == old->term && old->vote != RAFT_NODE_NONE && state->vote != old->vote) {
        run_fail(run, "node %" PRIu64 " votes for %" PRIu64 " after %" PRIu64 " in term %" PRIu64,
                 node->id, state->vote, old->vote, state->term);
    }
    if (state->commit < old->commit) {
        run_fail(run, "node %" PRIu64 " persists commit %" PRIu64 " after %" PRIu64, node->id,
                 state->commit, old->commit);
    }
    node->disk.hard_state = *state;
}

/* raft.h: the host truncates its log from entries[0].index, then appends (§5.3). */
static void persist_entries(struct run *run, struct node *node, uint64_t durable_commit,
                            const struct raft_entry *entries, size_t count)
{
    struct disk *disk = &node->disk;
    uint64_t first = disk->has_snapshot ? disk->snapshot.index + 1 : 1;
    if (entries[0].index < first || entries[0].index > disk->last_index + 1) {
        run_fail(run,
                 "node %" PRIu64 " must persist from %" PRIu64 ", its log holds %" PRIu64
                 "..%" PRIu64,
                 node->id, entries[0].index, first, disk->last_index);
        return;
    }
    if (entries[0].index <= durable_commit) {
        run_fail(run, "node %" PRIu64 " overwrites entry %" PRIu64 ", committed", node->id,
                 entries[0].index);
    }
    disk->last_index = entries[0].index - 1;
    for (size_t i = 0; i < count; i++) {
        const struct raft_entry *entry = &entries[i];
        if (entry->index != disk->last_index + 1 || entry->index > GOLDEN_MAX_LOG ||
            entry->data_bytes > GOLDEN_MAX_ENTRY_BYTES) {
            run_fail(run, "node %" PRIu64 " cannot persist entry %" PRIu64, node->id, entry->index);
            return;
        }
        disk->log[entry->index] = *entry;
        disk->log[entry->index].data = disk->log_data[entry->index];
        if (entry->data_bytes > 0) {
            memcpy(disk->log_data[entry->index], entry->data, entry->data_bytes);
        }
        disk->last_index = entry->index;
    }
}

/* raft.h: every committed entry is durable locally and comes in order. */
static void apply_entry(struct run *run, struct node *node, const struct raft_entry *entry)
{
    struct disk *disk = &node->disk;
    if (entry->index != node->machine.applied + 1) {
        run_fail(run, "node %" PRIu64 " applies %" PRIu64 " after %" PRIu64, node->id, entry->index,
                 node->machine.applied);
        return;
    }
    if (entry->index > disk->last_index || disk->log[entry->index].term != entry->term) {
        run_fail(run, "node %" PRIu64 " applies %" PRIu64 "/%" PRIu64 ", not on its disk", node->id,
                 entry->index, entry->term);
        return;
    }
    node->machine.applied = entry->index;
    if (entry->type == RAFT_ENTRY_COMMAND) {
        struct applied_command *command = &node->machine.commands[node->machine.count++];
        command->index = entry->index;
        command->data_bytes = entry->data_bytes;
        memcpy(command->data, entry->data, entry->data_bytes);
    }
}

/* Takes one ready, prints it and does what raft.h says, in its order. */
static bool process_node(struct run *run, struct node *node)
{
    struct raft_ready ready;
    if (!raft_ready(node->raft, &ready)) {
        return false;
    }
    print_ready(&run->out, node->id, &ready);
    for (size_t i = 0; i < ready.messages_immediate_count; i++) {
        enqueue(run, node, &ready.messages_immediate[i]);
    }
    if (ready.snapshot != NULL) {
        install_snapshot(run, node, ready.snapshot);
    }
    uint64_t durable_commit = node->disk.hard_state.commit;
    if (ready.has_hard_state) {
        persist_hard_state(run, node, &ready.hard_state);
    }
    if (ready.entry_count > 0) {
        persist_entries(run, node, durable_commit, ready.entries, ready.entry_count);
    }
    for (size_t i = 0; i < ready.message_count; i++) {
        if (ready.messages[i].entry_count > 0) {
            run_fail(run, "node %" PRIu64 ": a message after persistence carries entries",
                     node->id);
        }
        enqueue(run, node, &ready.messages[i]);
    }
    for (size_t i = 0; i < ready.committed_count; i++) {
        apply_entry(run, node, &ready.committed[i]);
    }
    raft_advance(node->raft, &ready);
    return true;
}

/* ---- the network ---- */

/* A link FROM->TO; 0 on either side matches any node. */
struct link {
    raft_node_id from;
    raft_node_id to;
};

static bool link_matches(const struct link *links, uint32_t link_count,
                         const struct raft_message *message)
{
    for (uint32_t i = 0; i < link_count; i++) {
        if ((links[i].from == 0 || links[i].from == message->from) &&
            (links[i].to == 0 || links[i].to == message->to)) {
            return true;
        }
    }
    return false;
}

static bool link_is_cut(struct cluster *cluster, const struct raft_message *message)
{
    return node_of(cluster, message->from)->group != node_of(cluster, message->to)->group;
}

/* The sim's rule (tests/sim/network.c): a snapshot's sender learns whether it arrived. */
static void report_snapshot(struct run *run, const struct raft_message *message, bool success)
{
    if (message->type != RAFT_MSG_SNAPSHOT) {
        return;
    }
    raft_report_snapshot(node_of(run->cluster, message->from)->raft, message->to, success);
    text_printf(&run->out, "report-snapshot %" PRIu64 "->%" PRIu64 ": %s\n", message->from,
                message->to, success ? "done" : "failed");
}

static void deliver_one(struct run *run, struct queued_message *queued, const char *indent)
{
    const struct raft_message *message = &queued->message;
    text_printf(&run->out, "%s", indent);
    print_raft_message(&run->out, message);
    if (link_is_cut(run->cluster, message)) {
        text_printf(&run->out, " (dropped: partition)\n");
        if (message->type == RAFT_MSG_SNAPSHOT) {
            text_printf(&run->out, "%s", indent);
        }
        report_snapshot(run, message, false);
        return;
    }
    struct node *target = node_of(run->cluster, message->to);
    if (message->type == RAFT_MSG_SNAPSHOT) {
        target->has_incoming = true;
        target->incoming_meta = message->snapshot;
        target->incoming = *queued->snapshot_data;
    }
    int rc = raft_step(target->raft, message);
    if (rc != 0) {
        text_printf(&run->out, " (error) %s", raft_error_string(rc));
    }
    text_printf(&run->out, "\n");
    if (message->type == RAFT_MSG_SNAPSHOT) {
        text_printf(&run->out, "%s", indent);
    }
    report_snapshot(run, message, rc == 0);
}

/* Takes the queued messages on `links` out of the queue, in order, and delivers or drops
 * them. Messages the deliveries produce wait for a `process`, so none joins meanwhile. Each
 * printed line starts with `indent`. */
static uint32_t move_messages(struct run *run, const struct link *links, uint32_t link_count,
                              bool drop, const char *indent)
{
    struct cluster *cluster = run->cluster;
    uint32_t moved = 0;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < cluster->queue_count; i++) {
        struct queued_message queued = cluster->queue[i];
        if (!link_matches(links, link_count, &queued.message)) {
            cluster->queue[kept++] = queued;
            continue;
        }
        moved++;
        if (drop) {
            text_printf(&run->out, "dropped ");
            print_raft_message(&run->out, &queued.message);
            text_printf(&run->out, "\n");
            report_snapshot(run, &queued.message, false);
        } else {
            deliver_one(run, &queued, indent);
        }
        queued_free(&queued);
    }
    cluster->queue_count = kept;
    return moved;
}

/* ---- commands ---- */

static int parse_u64(struct run *run, const char *word, uint64_t *out)
{
    char *end = NULL;
    unsigned long long value = strtoull(word, &end, 10);
    if (word[0] < '0' || word[0] > '9' || end == NULL || *end != '\0') {
        return usage_error(run, "not a number: %s", word);
    }
    *out = value;
    return 0;
}

static int parse_node(struct run *run, const char *word, raft_node_id *out)
{
    uint64_t id = 0;
    if (parse_u64(run, word, &id) != 0 || id < 1 || id > run->cluster->node_count) {
        return usage_error(run, "no node %s", word);
    }
    *out = id;
    return 0;
}

/* "ID...|all" into a set of nodes. */
static int parse_nodes(struct run *run, int argc, char **argv, bool nodes[GOLDEN_MAX_NODES + 1])
{
    memset(nodes, 0, sizeof(bool) * (GOLDEN_MAX_NODES + 1));
    if (argc == 0 || (argc == 1 && strcmp(argv[0], "all") == 0)) {
        for (uint32_t i = 1; i <= run->cluster->node_count; i++) {
            nodes[i] = true;
        }
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        raft_node_id id = RAFT_NODE_NONE;
        if (parse_node(run, argv[i], &id) != 0) {
            return -1;
        }
        nodes[id] = true;
    }
    return 0;
}

static int parse_link_side(struct run *run, const char *word, raft_node_id *out)
{
    if (strcmp(word, "*") == 0) {
        *out = 0;
        return 0;
    }
    return parse_node(run, word, out);
}

/* "FROM->TO..." or "all" into links. */
static int parse_links(struct run *run, int argc, char **argv, struct link *links,
                       uint32_t *link_count)
{
    *link_count = 0;
    if (argc == 0 || (argc == 1 && strcmp(argv[0], "all") == 0)) {
        links[(*link_count)++] = (struct link){0, 0};
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        char *arrow = strstr(argv[i], "->");
        if (arrow == NULL) {
            return usage_error(run, "not a link FROM->TO: %s", argv[i]);
        }
        *arrow = '\0';
        struct link link;
        if (parse_link_side(run, argv[i], &link.from) != 0 ||
            parse_link_side(run, arrow + 2, &link.to) != 0) {
            return -1;
        }
        links[(*link_count)++] = link;
    }
    return 0;
}

static int parse_switch(struct run *run, const char *value, bool *out)
{
    if (strcmp(value, "on") == 0 || strcmp(value, "off") == 0) {
        *out = strcmp(value, "on") == 0;
        return 0;
    }
    return usage_error(run, "expected on or off: %s", value);
}

static void cluster_free(struct cluster *cluster)
{
    if (cluster == NULL) {
        return;
    }
    for (uint32_t i = 0; i < cluster->node_count; i++) {
        raft_free(cluster->nodes[i].raft);
    }
    for (uint32_t i = 0; i < cluster->queue_count; i++) {
        queued_free(&cluster->queue[i]);
    }
    free(cluster);
}

static int parse_new_option(struct run *run, struct cluster *cluster, char *option)
{
    char *equals = strchr(option, '=');
    if (equals == NULL) {
        return usage_error(run, "expected KEY=VALUE: %s", option);
    }
    *equals = '\0';
    const char *value = equals + 1;
    uint64_t ticks = 0;
    if (strcmp(option, "pre-vote") == 0) {
        return parse_switch(run, value, &cluster->pre_vote);
    }
    if (strcmp(option, "check-quorum") == 0) {
        return parse_switch(run, value, &cluster->check_quorum);
    }
    if (strcmp(option, "election") == 0 && parse_u64(run, value, &ticks) == 0) {
        cluster->election_timeout_ticks = (uint32_t)ticks;
        return 0;
    }
    if (strcmp(option, "heartbeat") == 0 && parse_u64(run, value, &ticks) == 0) {
        cluster->heartbeat_interval_ticks = (uint32_t)ticks;
        return 0;
    }
    return usage_error(run, "unknown option %s", option);
}

static int command_new(struct run *run, int argc, char **argv)
{
    uint64_t count;
    if (parse_u64(run, argv[0], &count) != 0 || count < 1 || count > GOLDEN_MAX_NODES) {
        return usage_error(run, "new takes 1..%d nodes", GOLDEN_MAX_NODES);
    }
    struct cluster *cluster = calloc(1, sizeof *cluster);
    assert_non_null(cluster);
    struct raft_config defaults;
    raft_config_default(&defaults, 1);
    cluster->node_count = (uint32_t)count;
    cluster->voter_count = (uint32_t)count;
    cluster->pre_vote = defaults.pre_vote;
    cluster->check_quorum = defaults.check_quorum;
    cluster->election_timeout_ticks = defaults.election_timeout_ticks;
    cluster->heartbeat_interval_ticks = defaults.heartbeat_interval_ticks;
    for (int i = 1; i < argc; i++) {
        if (parse_new_option(run, cluster, argv[i]) != 0) {
            free(cluster);
            return -1;
        }
    }
    cluster_free(run->cluster);
    run->cluster = cluster;
    for (uint32_t i = 0; i < cluster->node_count; i++) {
        cluster->nodes[i].id = i + 1;
        start_node(cluster, &cluster->nodes[i]);
    }
    text_printf(&run->out, "(ok)\n");
    return 0;
}

static int command_tick(struct run *run, int argc, char **argv)
{
    bool nodes[GOLDEN_MAX_NODES + 1];
    uint64_t count = 1;
    if (parse_nodes(run, 1, argv, nodes) != 0 ||
        (argc == 2 && parse_u64(run, argv[1], &count) != 0)) {
        return -1;
    }
    for (uint64_t t = 0; t < count; t++) {
        for (uint32_t id = 1; id <= run->cluster->node_count; id++) {
            if (nodes[id]) {
                raft_tick(node_of(run->cluster, id)->raft);
            }
        }
    }
    text_printf(&run->out, "(ok)\n");
    return 0;
}

static int command_campaign(struct run *run, int argc, char **argv)
{
    raft_node_id id = RAFT_NODE_NONE;
    if (parse_node(run, argv[0], &id) != 0) {
        return -1;
    }
    struct raft *raft = node_of(run->cluster, id)->raft;
    if (raft_has_ready(raft)) {
        return usage_error(run, "node %" PRIu64 " has a ready: process it first", id);
    }
    if (raft_role(raft) == RAFT_LEADER) {
        text_printf(&run->out, "(error) a leader does not campaign\n");
        return 0;
    }
    int ticks = 0;
    while (!raft_has_ready(raft) && ticks < GOLDEN_MAX_CAMPAIGN_TICKS) {
        raft_tick(raft);
        ticks++;
    }
    text_printf(&run->out, "ticked %d times: role=%s term=%" PRIu64 "\n", ticks,
                raft_role_string(raft_role(raft)), raft_term(raft));
    return 0;
}

static int command_propose(struct run *run, int argc, char **argv)
{
    raft_node_id id = RAFT_NODE_NONE;
    if (parse_node(run, argv[0], &id) != 0) {
        return -1;
    }
    size_t data_bytes = strlen(argv[1]);
    if (data_bytes > GOLDEN_MAX_COMMAND_BYTES) {
        return usage_error(run, "a command has at most %d bytes", GOLDEN_MAX_COMMAND_BYTES);
    }
    uint64_t index = 0;
    uint64_t term = 0;
    int rc = raft_propose(node_of(run->cluster, id)->raft, (const uint8_t *)argv[1],
                          (uint32_t)data_bytes, &index, &term);
    if (rc != 0) {
        text_printf(&run->out, "(error) %s\n", raft_error_string(rc));
    } else {
        text_printf(&run->out, "index=%" PRIu64 " term=%" PRIu64 "\n", index, term);
    }
    return 0;
}

static int command_read_index(struct run *run, int argc, char **argv)
{
    raft_node_id id = RAFT_NODE_NONE;
    uint64_t request;
    if (parse_node(run, argv[0], &id) != 0 || parse_u64(run, argv[1], &request) != 0) {
        return -1;
    }
    int rc = raft_read_index(node_of(run->cluster, id)->raft, request);
    if (rc != 0) {
        text_printf(&run->out, "(error) %s\n", raft_error_string(rc));
    } else {
        text_printf(&run->out, "(ok)\n");
    }
    return 0;
}

static bool process_nodes(struct run *run, const bool nodes[GOLDEN_MAX_NODES + 1])
{
    bool any = false;
    for (uint32_t id = 1; id <= run->cluster->node_count; id++) {
        if (nodes[id]) {
            any |= process_node(run, node_of(run->cluster, id));
        }
    }
    return any;
}

static int command_process(struct run *run, int argc, char **argv)
{
    bool nodes[GOLDEN_MAX_NODES + 1];
    if (parse_nodes(run, argc, argv, nodes) != 0) {
        return -1;
    }
    if (!process_nodes(run, nodes)) {
        text_printf(&run->out, "(no ready)\n");
    }
    return 0;
}

static int move_command(struct run *run, int argc, char **argv, bool drop)
{
    struct link links[GOLDEN_MAX_ARGUMENTS];
    uint32_t link_count;
    if (parse_links(run, argc, argv, links, &link_count) != 0) {
        return -1;
    }
    if (move_messages(run, links, link_count, drop, "") == 0) {
        text_printf(&run->out, "(no messages)\n");
    }
    return 0;
}

static int command_deliver(struct run *run, int argc, char **argv)
{
    return move_command(run, argc, argv, false);
}

static int command_drop(struct run *run, int argc, char **argv)
{
    return move_command(run, argc, argv, true);
}

static int command_partition(struct run *run, int argc, char **argv)
{
    uint32_t group = 1;
    bool named = false;
    for (uint32_t i = 0; i < run->cluster->node_count; i++) {
        run->cluster->nodes[i].group = 0;
    }
    for (int i = 0; i < argc; i++) {
        raft_node_id id = RAFT_NODE_NONE;
        if (strcmp(argv[i], "|") == 0) {
            group++;
            continue;
        }
        if (parse_node(run, argv[i], &id) != 0) {
            return -1;
        }
        node_of(run->cluster, id)->group = group;
        named = true;
    }
    if (!named) {
        return usage_error(run, "partition names no node");
    }
    text_printf(&run->out, "(ok)\n");
    return 0;
}

static int command_heal(struct run *run, int argc, char **argv)
{
    for (uint32_t i = 0; i < run->cluster->node_count; i++) {
        run->cluster->nodes[i].group = 0;
    }
    text_printf(&run->out, "(ok)\n");
    return 0;
}

static int command_stabilize(struct run *run, int argc, char **argv)
{
    bool nodes[GOLDEN_MAX_NODES + 1];
    parse_nodes(run, 0, NULL, nodes);
    struct link all = {0, 0};
    for (int round = 0; round < GOLDEN_MAX_STABILIZE_ROUNDS; round++) {
        bool any = process_nodes(run, nodes);
        if (run->cluster->queue_count > 0) {
            text_printf(&run->out, "delivered:\n");
            any |= move_messages(run, &all, 1, false, "  ") > 0;
        }
        if (!any) {
            if (round == 0) {
                text_printf(&run->out, "(ok)\n");
            }
            return 0;
        }
    }
    run_fail(run, "no rest after %d rounds", GOLDEN_MAX_STABILIZE_ROUNDS);
    return 0;
}

static int command_compact(struct run *run, int argc, char **argv)
{
    raft_node_id id = RAFT_NODE_NONE;
    uint64_t index;
    if (parse_node(run, argv[0], &id) != 0 || parse_u64(run, argv[1], &index) != 0) {
        return -1;
    }
    struct node *node = node_of(run->cluster, id);
    struct raft_configuration configuration;
    int rc = raft_configuration_at(node->raft, index, &configuration);
    if (rc == 0) {
        rc = raft_compact(node->raft, index);
    }
    if (rc != 0) {
        text_printf(&run->out, "(error) %s\n", raft_error_string(rc));
        return 0;
    }
    /* The snapshot is the state machine as it stood at `index`. */
    struct disk *disk = &node->disk;
    disk->snapshot_data = node->machine;
    disk->snapshot_data.applied = index;
    while (disk->snapshot_data.count > 0 &&
           disk->snapshot_data.commands[disk->snapshot_data.count - 1].index > index) {
        disk->snapshot_data.count--;
    }
    disk->has_snapshot = true;
    disk->snapshot.index = index;
    disk->snapshot.term = raft_term_at(node->raft, index);
    disk->snapshot.configuration = configuration;
    if (index > disk->last_index || disk->snapshot.term != disk->log[index].term) {
        run_fail(run, "node %" PRIu64 " compacted to %" PRIu64 "/%" PRIu64 ", not on its disk", id,
                 index, disk->snapshot.term);
    }
    text_printf(&run->out, "(ok)\n");
    return 0;
}

static int command_restart(struct run *run, int argc, char **argv)
{
    raft_node_id id = RAFT_NODE_NONE;
    if (parse_node(run, argv[0], &id) != 0) {
        return -1;
    }
    struct node *node = node_of(run->cluster, id);
    raft_free(node->raft);
    node->raft = NULL;
    node->has_incoming = false;
    start_node(run->cluster, node);
    text_printf(&run->out, "(ok)\n");
    return 0;
}

static int command_add_node(struct run *run, int argc, char **argv)
{
    (void)argv;
    struct cluster *cluster = run->cluster;
    if (argc != 0 || cluster->node_count == GOLDEN_MAX_NODES) {
        return usage_error(run, "add-node: at most %d nodes", GOLDEN_MAX_NODES);
    }
    struct node *node = &cluster->nodes[cluster->node_count++];
    node->id = cluster->node_count;
    node->joining = true;
    start_node(cluster, node);
    text_printf(&run->out, "node %" PRIu64 " waits to be added\n", node->id);
    return 0;
}

static const struct {
    const char *name;
    uint8_t type;
} change_types[] = {
    {"add-learner", RAFT_CHANGE_ADD_LEARNER},
    {"promote", RAFT_CHANGE_PROMOTE},
    {"demote", RAFT_CHANGE_DEMOTE},
    {"remove", RAFT_CHANGE_REMOVE},
};

/* "change ID TYPE NODE [force] [context=TEXT]". NODE is any id, so that a script can name a
 * stranger; one no node runs cannot be added (its messages would have nowhere to go). */
static int command_change(struct run *run, int argc, char **argv)
{
    raft_node_id leader = RAFT_NODE_NONE;
    struct raft_change change = {0};
    if (parse_node(run, argv[0], &leader) != 0 || parse_u64(run, argv[2], &change.id) != 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof change_types / sizeof change_types[0]; i++) {
        if (strcmp(argv[1], change_types[i].name) == 0) {
            change.type = change_types[i].type;
        }
    }
    if (change.type == 0) {
        return usage_error(run, "no change %s: add-learner, promote, demote or remove", argv[1]);
    }
    const char *context = NULL;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "force") == 0) {
            change.force = true;
        } else if (strncmp(argv[i], "context=", 8) == 0) {
            context = argv[i] + 8;
        } else {
            return usage_error(run, "change: unknown option %s", argv[i]);
        }
    }
    uint32_t context_bytes = context != NULL ? (uint32_t)strlen(context) : 0;
    uint64_t index = 0;
    uint64_t term = 0;
    int rc = raft_propose_change(node_of(run->cluster, leader)->raft, &change,
                                 (const uint8_t *)context, context_bytes, &index, &term);
    if (rc != 0) {
        text_printf(&run->out, "(error) %s\n", raft_error_string(rc));
    } else {
        text_printf(&run->out, "index=%" PRIu64 " term=%" PRIu64 "\n", index, term);
    }
    return 0;
}

static int command_configuration(struct run *run, int argc, char **argv)
{
    bool nodes[GOLDEN_MAX_NODES + 1];
    if (parse_nodes(run, argc, argv, nodes) != 0) {
        return -1;
    }
    for (uint32_t id = 1; id <= run->cluster->node_count; id++) {
        if (!nodes[id]) {
            continue;
        }
        struct raft *raft = node_of(run->cluster, id)->raft;
        text_printf(&run->out, "%" PRIu32 ": index=%" PRIu64 " ", id,
                    raft_configuration_index(raft));
        print_configuration(&run->out, raft_configuration(raft));
        text_printf(&run->out, "\n");
    }
    return 0;
}

static void print_status(struct run *run, struct node *node)
{
    struct raft *raft = node->raft;
    text_printf(&run->out,
                "%" PRIu64 ": role=%s term=%" PRIu64 " vote=%" PRIu64 " leader=%" PRIu64
                " commit=%" PRIu64 " applied=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64 "\n",
                node->id, raft_role_string(raft_role(raft)), raft_term(raft), raft_vote(raft),
                raft_leader(raft), raft_commit_index(raft), raft_applied_index(raft),
                raft_first_index(raft), raft_last_index(raft));
    if (raft_role(raft) != RAFT_LEADER) {
        return;
    }
    for (uint32_t id = 1; id <= run->cluster->node_count; id++) {
        uint64_t match;
        uint64_t next;
        if (id != node->id && raft_progress(raft, id, &match, &next)) {
            text_printf(&run->out, "   progress %u: match=%" PRIu64 " next=%" PRIu64 "\n", id,
                        match, next);
        }
    }
}

static int command_status(struct run *run, int argc, char **argv)
{
    bool nodes[GOLDEN_MAX_NODES + 1];
    if (parse_nodes(run, argc, argv, nodes) != 0) {
        return -1;
    }
    for (uint32_t id = 1; id <= run->cluster->node_count; id++) {
        if (nodes[id]) {
            print_status(run, node_of(run->cluster, id));
        }
    }
    return 0;
}

static void print_storage(struct run *run, struct node *node)
{
    struct text *out = &run->out;
    struct disk *disk = &node->disk;
    text_printf(out, "%" PRIu64 ": hard state ", node->id);
    print_hard_state(out, &disk->hard_state);
    text_printf(out, "\n   snapshot: ");
    if (disk->has_snapshot) {
        print_snapshot_meta(out, &disk->snapshot);
    } else {
        text_printf(out, "none");
    }
    text_printf(out, "\n   log:");
    uint64_t first = disk->has_snapshot ? disk->snapshot.index + 1 : 1;
    for (uint64_t index = first; index <= disk->last_index; index++) {
        text_printf(out, index > first ? ", " : " ");
        print_entry(out, &disk->log[index]);
    }
    text_printf(out, "%s\n   state machine: applied=%" PRIu64,
                first > disk->last_index ? " (empty)" : "", node->machine.applied);
    for (uint32_t i = 0; i < node->machine.count; i++) {
        text_printf(out, " ");
        print_data(out, node->machine.commands[i].data, node->machine.commands[i].data_bytes);
    }
    text_printf(out, "\n");
}

static int command_storage(struct run *run, int argc, char **argv)
{
    bool nodes[GOLDEN_MAX_NODES + 1];
    if (parse_nodes(run, argc, argv, nodes) != 0) {
        return -1;
    }
    for (uint32_t id = 1; id <= run->cluster->node_count; id++) {
        if (nodes[id]) {
            print_storage(run, node_of(run->cluster, id));
        }
    }
    return 0;
}

/* The commands, Redis-style: name, argument counts (after the name), handler. */
struct golden_command {
    const char *name;
    int min_arguments;
    int max_arguments;
    int (*handler)(struct run *run, int argc, char **argv);
};

static const struct golden_command golden_commands[] = {
    {"new", 1, 5, command_new},
    {"tick", 1, 2, command_tick},
    {"campaign", 1, 1, command_campaign},
    {"propose", 2, 2, command_propose},
    {"read-index", 2, 2, command_read_index},
    {"process", 0, GOLDEN_MAX_NODES, command_process},
    {"deliver", 0, GOLDEN_MAX_ARGUMENTS - 1, command_deliver},
    {"drop", 1, GOLDEN_MAX_ARGUMENTS - 1, command_drop},
    {"partition", 1, GOLDEN_MAX_ARGUMENTS - 1, command_partition},
    {"heal", 0, 0, command_heal},
    {"stabilize", 0, 0, command_stabilize},
    {"compact", 2, 2, command_compact},
    {"restart", 1, 1, command_restart},
    {"add-node", 0, 0, command_add_node},
    {"change", 3, 5, command_change},
    {"configuration", 0, GOLDEN_MAX_NODES, command_configuration},
    {"status", 0, GOLDEN_MAX_NODES, command_status},
    {"storage", 1, GOLDEN_MAX_NODES, command_storage},
};

/* Runs one command line; its output lands in run->out. Returns -1 (with run->usage) when the
 * line is malformed. */
static int run_command(struct run *run, const char *line)
{
    char copy[1024];
    if (strlen(line) >= sizeof copy) {
        return usage_error(run, "line too long");
    }
    strcpy(copy, line);
    char *argv[GOLDEN_MAX_ARGUMENTS];
    int argc = 0;
    char *save = NULL;
    for (char *word = strtok_r(copy, " \t", &save); word != NULL;
         word = strtok_r(NULL, " \t", &save)) {
        if (argc == GOLDEN_MAX_ARGUMENTS) {
            return usage_error(run, "more than %d words", GOLDEN_MAX_ARGUMENTS);
        }
        argv[argc++] = word;
    }
    text_clear(&run->out);
    for (size_t i = 0; i < sizeof golden_commands / sizeof golden_commands[0]; i++) {
        const struct golden_command *command = &golden_commands[i];
        if (strcmp(argv[0], command->name) != 0) {
            continue;
        }
        if (argc - 1 < command->min_arguments || argc - 1 > command->max_arguments) {
            return usage_error(run, "%s takes %d to %d arguments", command->name,
                               command->min_arguments, command->max_arguments);
        }
        if (run->cluster == NULL && strcmp(command->name, "new") != 0) {
            return usage_error(run, "no cluster yet: start with new");
        }
        return command->handler(run, argc - 1, argv + 1);
    }
    return usage_error(run, "unknown command %s", argv[0]);
}

/* ---- scripts: parsing, comparing, rewriting ---- */

struct lines {
    char **items;
    size_t count;
    char *storage; /* the text the items point into */
};

/* Splits text (taken over) into lines, without their newlines. */
static struct lines lines_split(char *text)
{
    struct lines lines = {.storage = text};
    size_t capacity = 0;
    char *cursor = text;
    while (*cursor != '\0') {
        if (lines.count == capacity) {
            capacity = capacity > 0 ? capacity * 2 : 64;
            lines.items = realloc(lines.items, capacity * sizeof *lines.items);
            assert_non_null(lines.items);
        }
        lines.items[lines.count++] = cursor;
        char *newline = strchr(cursor, '\n');
        if (newline == NULL) {
            break;
        }
        *newline = '\0';
        cursor = newline + 1;
    }
    return lines;
}

static void lines_free(struct lines *lines)
{
    free(lines->items);
    free(lines->storage);
}

static char *read_whole_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fail_msg("cannot open %s", path);
    }
    struct text text = {0};
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
        text_printf(&text, "%.*s", (int)got, chunk);
    }
    fclose(file);
    text_printf(&text, "%s", "");
    return text.bytes;
}

static bool is_blank(const char *line)
{
    return line[strspn(line, " \t\r")] == '\0';
}

/* Prints a line diff of expected against actual: the longest common subsequence kept, the
 * rest marked - (expected only) and + (actual only). */
static void print_diff(const struct lines *expected, size_t expected_from, size_t expected_count,
                       const struct lines *actual)
{
    size_t n = expected_count;
    size_t m = actual->count;
    char **left = expected->items + expected_from;
    if (n > GOLDEN_MAX_DIFF_LINES || m > GOLDEN_MAX_DIFF_LINES) {
        for (size_t i = 0; i < n; i++) {
            fprintf(stderr, "-%s\n", left[i]);
        }
        for (size_t j = 0; j < m; j++) {
            fprintf(stderr, "+%s\n", actual->items[j]);
        }
        return;
    }
    uint32_t *table = calloc((n + 1) * (m + 1), sizeof *table);
    assert_non_null(table);
    for (size_t i = n; i-- > 0;) {
        for (size_t j = m; j-- > 0;) {
            uint32_t *cell = &table[i * (m + 1) + j];
            if (strcmp(left[i], actual->items[j]) == 0) {
                *cell = table[(i + 1) * (m + 1) + j + 1] + 1;
            } else {
                uint32_t down = table[(i + 1) * (m + 1) + j];
                uint32_t across = table[i * (m + 1) + j + 1];
                *cell = down > across ? down : across;
            }
        }
    }
    size_t i = 0;
    size_t j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && strcmp(left[i], actual->items[j]) == 0) {
            fprintf(stderr, " %s\n", left[i++]);
            j++;
        } else if (i < n &&
                   (j == m || table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1])) {
            fprintf(stderr, "-%s\n", left[i++]);
        } else {
            fprintf(stderr, "+%s\n", actual->items[j++]);
        }
    }
    free(table);
}

struct script_result {
    uint32_t steps;
    uint32_t mismatches;
    bool broken; /* malformed script, or a FAILURE line */
};

/* Compares one step's output with the expected lines; prints the diff when they differ. */
static bool compare_step(const char *path, size_t command_line, const char *command,
                         const struct lines *script, size_t expected_from, size_t expected_count,
                         const char *actual_text, bool quiet)
{
    char *copy = strdup(actual_text);
    assert_non_null(copy);
    size_t length = strlen(copy);
    if (length > 0 && copy[length - 1] == '\n') {
        copy[length - 1] = '\0';
    }
    struct lines actual = lines_split(copy);
    bool same = actual.count == expected_count;
    for (size_t i = 0; same && i < expected_count; i++) {
        same = strcmp(actual.items[i], script->items[expected_from + i]) == 0;
    }
    if (!same && quiet) {
        fprintf(stderr, "%s:%zu: `%s`: new output\n", path, command_line, command);
    } else if (!same) {
        fprintf(stderr, "%s:%zu: `%s` printed something else (- expected, + actual):\n", path,
                command_line, command);
        print_diff(script, expected_from, expected_count, &actual);
    }
    lines_free(&actual);
    return same;
}

static void write_whole_file(const char *path, const struct text *text)
{
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.rewrite", path);
    FILE *file = fopen(temporary, "wb");
    if (file == NULL || fwrite(text->bytes, 1, text->length, file) != text->length ||
        fclose(file) != 0 || rename(temporary, path) != 0) {
        fail_msg("cannot write %s", path);
    }
}

/* Runs one step at script->items[*at] (a command line); appends it, rewritten, to `rewritten`
 * and moves *at past its expected output. */
static void run_step(const char *path, struct run *run, const struct lines *script, size_t *at,
                     bool rewrite, struct text *rewritten, struct script_result *result)
{
    size_t command_at = *at;
    const char *command = script->items[command_at];
    if (command_at + 1 >= script->count || strcmp(script->items[command_at + 1], "----") != 0) {
        fprintf(stderr, "%s:%zu: expected ---- after the command\n", path, command_at + 1);
        result->broken = true;
        *at = script->count;
        return;
    }
    size_t expected_from = command_at + 2;
    size_t expected_end = expected_from;
    while (expected_end < script->count && !is_blank(script->items[expected_end])) {
        expected_end++;
    }
    *at = expected_end;
    result->steps++;
    run->failed = false;
    if (run_command(run, command) != 0) {
        fprintf(stderr, "%s:%zu: %s: %s\n", path, command_at + 1, command, run->usage);
        result->broken = true;
        text_clear(&run->out);
        text_printf(&run->out, "(malformed: %s)\n", run->usage);
    }
    if (run->failed) {
        fprintf(stderr, "%s:%zu: %s: the core broke its contract:\n%s", path, command_at + 1,
                command, run->out.bytes);
        result->broken = true;
    }
    if (!compare_step(path, command_at + 1, command, script, expected_from,
                      expected_end - expected_from, run->out.length > 0 ? run->out.bytes : "",
                      rewrite)) {
        result->mismatches++;
    }
    text_printf(rewritten, "%s\n----\n%s", command, run->out.length > 0 ? run->out.bytes : "");
}

static struct script_result run_script(const char *path, bool rewrite)
{
    struct lines script = lines_split(read_whole_file(path));
    struct script_result result = {0};
    struct run run = {0};
    struct text rewritten = {0};
    text_printf(&rewritten, "%s", "");
    size_t at = 0;
    while (at < script.count) {
        const char *line = script.items[at];
        if (is_blank(line) || line[0] == '#') {
            text_printf(&rewritten, "%s\n", line);
            at++;
            continue;
        }
        run_step(path, &run, &script, &at, rewrite, &rewritten, &result);
    }
    if (rewrite && !result.broken && result.mismatches > 0) {
        write_whole_file(path, &rewritten);
        fprintf(stderr, "%s: rewrote %u of %u outputs\n", path, result.mismatches, result.steps);
        result.mismatches = 0;
    }
    cluster_free(run.cluster);
    free(run.out.bytes);
    free(rewritten.bytes);
    lines_free(&script);
    return result;
}

static void test_script(void **state)
{
    const char *path = *state;
    const char *rewrite_variable = getenv("RAFTKV_GOLDEN_REWRITE");
    bool rewrite = rewrite_variable != NULL && strcmp(rewrite_variable, "1") == 0;
    struct script_result result = run_script(path, rewrite);
    if (result.broken) {
        fail_msg("%s: malformed step or broken contract (see above)", path);
    }
    if (result.mismatches > 0) {
        fail_msg("%s: %u of %u steps differ from the expected output (see above); after an "
                 "intended change, regenerate with RAFTKV_GOLDEN_REWRITE=1 and review the diff",
                 path, result.mismatches, result.steps);
    }
    assert_true(result.steps > 0);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One cmocka test per script in `directory` (argv[1], else the source tree's testdata). */
int main(int argc, char **argv)
{
    const char *directory = argc > 1 ? argv[1] : RAFTKV_GOLDEN_DIR;
    DIR *listing = opendir(directory);
    if (listing == NULL) {
        fprintf(stderr, "test_raft_golden: cannot open %s\n", directory);
        return 1;
    }
    char *names[GOLDEN_MAX_SCRIPTS];
    size_t count = 0;
    for (struct dirent *item = readdir(listing); item != NULL; item = readdir(listing)) {
        size_t length = strlen(item->d_name);
        if (length > 4 && strcmp(item->d_name + length - 4, ".txt") == 0) {
            assert_true(count < GOLDEN_MAX_SCRIPTS);
            names[count++] = strdup(item->d_name);
        }
    }
    closedir(listing);
    if (count == 0) {
        fprintf(stderr, "test_raft_golden: no scripts in %s\n", directory);
        return 1;
    }
    qsort(names, count, sizeof names[0], compare_names);
    struct CMUnitTest tests[GOLDEN_MAX_SCRIPTS];
    char *paths[GOLDEN_MAX_SCRIPTS];
    for (size_t i = 0; i < count; i++) {
        size_t bytes = strlen(directory) + strlen(names[i]) + 2;
        paths[i] = malloc(bytes);
        assert_non_null(paths[i]);
        snprintf(paths[i], bytes, "%s/%s", directory, names[i]);
        tests[i] = (struct CMUnitTest){names[i], test_script, NULL, NULL, paths[i]};
    }
    int failures = _cmocka_run_group_tests("raft_golden", tests, count, NULL, NULL);
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
        free(paths[i]);
    }
    return failures;
}
