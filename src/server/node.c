/*
 * node.c — the loop that drives the Raft core: persist, replicate, apply, reply.
 *
 * Once per event-loop turn (and again whenever an fsync finishes) node_process_ready() takes
 * the core's ready batch and works through it in raft.h's order:
 *
 *   1. send the leader's APPENDs and heartbeats at once — followers store them while our own
 *      fsync runs (thesis §10.2.1);
 *   2. install a snapshot received from the leader, if any;
 *   3. write the new entries to the WAL, then fdatasync it (and save the term and vote when
 *      they changed) on a thread-pool thread. Proposals and messages that arrive meanwhile go
 *      into the next batch and share the next fsync (group commit);
 *   4. after the fsync: send the messages that depended on it (votes, acknowledgements);
 *   5. apply the committed entries in one LMDB transaction and answer the clients waiting on
 *      them; serve the reads whose index is now applied; then raft_advance().
 *
 * A write's outcome is learnt only when its index is applied: the entry there has the term
 * raft_propose returned (success), or another (it was never committed: TRYAGAIN, no effect).
 * A write that outlives request_timeout_ms before either happens gets UNCERTAIN.
 *
 * Failure modes: a storage or state-machine error is fatal — the node stops (exit code 1)
 * rather than acknowledge anything it cannot vouch for; restarting re-reads the disk.
 * Snapshots are taken every snapshot_entries applied entries: LMDB is copied on a thread-pool
 * thread while writes go on, then the copy becomes the snapshot and the log is compacted.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/log.h"

enum {
    MAX_STACK_ARGUMENTS = 64,
};

bool node_is_leader(const struct server *server)
{
    return raft_role(server->node.raft) == RAFT_LEADER;
}

static void path_join(char *out, size_t out_bytes, const char *directory, const char *name)
{
    snprintf(out, out_bytes, "%s/%s", directory, name);
}

/* ---- replies to waiting requests ---- */

static void finish_with_error(struct request *request, const char *format, const char *detail)
{
    if (request->client != NULL) {
        reply_error(&request->reply, format, detail);
    }
    client_request_finish(request);
}

static void settle_write(struct server *server, struct request *request, int outcome)
{
    request_list_remove(&server->pending_writes, request);
    switch (outcome) {
    case 0:
        server->stats.writes_committed++;
        client_request_finish(request); /* kv wrote the reply */
        break;
    case 1:
        server->stats.writes_retry++;
        finish_with_error(request, "TRYAGAIN %s",
                          "the command was not committed (leadership "
                          "changed); it had no effect, retry it");
        break;
    default:
        server->stats.writes_uncertain++;
        finish_with_error(request, "UNCERTAIN %s",
                          "the outcome of the command is unknown: it may or may not have "
                          "been applied");
        break;
    }
}

static void serve_read(struct server *server, struct request *request)
{
    struct kv_arg stack_arguments[MAX_STACK_ARGUMENTS];
    struct kv_arg *arguments = stack_arguments;
    size_t argc = 0;
    int rc = kv_command_decode(request->command, request->command_bytes, arguments,
                               MAX_STACK_ARGUMENTS, &argc);
    if (rc == KV_ERROR_TOO_BIG) {
        arguments = malloc(argc * sizeof *arguments);
        rc = arguments == NULL ? KV_ERROR_NO_MEMORY
                               : kv_command_decode(request->command, request->command_bytes,
                                                   arguments, argc, &argc);
    }
    if (rc == 0 && request->client != NULL) {
        server->stats.reads_linearizable++;
        kv_read(server->node.kv, argc, arguments, &request->sink);
    } else if (rc != 0 && request->client != NULL) {
        reply_error(&request->reply, "ERR cannot decode the read: %s", kv_error_string(rc));
    }
    if (arguments != stack_arguments) {
        free(arguments);
    }
    client_request_finish(request);
}

/* ---- applying committed entries ---- */

/* kv asks, per committed command, who waits for its reply: a pending write of the same index
 * and term. The list is sorted by index, so the search starts at its head. */
static const struct kv_reply *reply_provider(void *context, uint64_t index, uint64_t term)
{
    struct server *server = context;
    for (struct request *request = server->pending_writes.head;
         request != NULL && request->index <= index; request = request->pending_next) {
        if (request->index == index && request->term == term) {
            request->applied_as_proposed = true;
            return request->client != NULL ? &request->sink : NULL;
        }
    }
    return NULL;
}

/* After a batch is applied, every pending write at or below its last index has an outcome. */
static void settle_writes(struct server *server, uint64_t first_index, uint64_t last_index)
{
    while (server->pending_writes.head != NULL &&
           server->pending_writes.head->index <= last_index) {
        struct request *request = server->pending_writes.head;
        if (request->applied_as_proposed) {
            settle_write(server, request, 0);
        } else if (request->index >= first_index) {
            settle_write(server, request, 1); /* another entry won this index */
        } else {
            settle_write(server, request, 2); /* skipped by a snapshot: unknown */
        }
    }
}

static void serve_waiting_reads(struct server *server)
{
    uint64_t applied = kv_applied_index(server->node.kv);
    struct request *request = server->reads_waiting_apply.head;
    while (request != NULL) {
        struct request *next = request->pending_next;
        if (request->index <= applied) {
            request_list_remove(&server->reads_waiting_apply, request);
            serve_read(server, request);
        }
        request = next;
    }
}

/* Applies committed entries in one LMDB transaction and settles the writes they decide. */
static void apply_entries(struct server *server, const struct raft_entry *entries, size_t count)
{
    if (count == 0) {
        return;
    }
    int rc = kv_apply_batch(server->node.kv, entries, count, reply_provider, server);
    if (rc != 0) {
        char reason[512];
        snprintf(reason, sizeof reason, "cannot apply committed entries: %s (%s)",
                 kv_error_string(rc), kv_last_error(server->node.kv));
        server_fail(server, reason);
        return;
    }
    settle_writes(server, entries[0].index, entries[count - 1].index);
}

static void apply_committed(struct server *server, const struct raft_ready *ready, size_t from,
                            size_t to)
{
    if (from < to) {
        apply_entries(server, ready->committed + from, to - from);
    }
}

/* Committed entries below the ready's first new entry were made durable by earlier readies
 * (raft.h): they may be applied, and their clients answered, while this ready's fsync runs. */
static size_t durable_committed_count(const struct raft_ready *ready)
{
    if (ready->entry_count == 0) {
        return ready->committed_count;
    }
    uint64_t first_new = ready->entries[0].index;
    size_t count = 0;
    while (count < ready->committed_count && ready->committed[count].index < first_new) {
        count++;
    }
    return count;
}

static struct request *take_pending_read(struct server *server, uint64_t read_id)
{
    for (struct request *request = server->pending_reads.head; request != NULL;
         request = request->pending_next) {
        if (request->read_id == read_id) {
            request_list_remove(&server->pending_reads, request);
            return request;
        }
    }
    return NULL; /* timed out meanwhile */
}

/* Moves the confirmed reads to wait for the state machine, and fails the refused ones. */
static void handle_reads(struct server *server, const struct raft_read_state *reads,
                         size_t read_count, const uint64_t *failed_reads, size_t failed_read_count)
{
    for (size_t i = 0; i < read_count; i++) {
        struct request *request = take_pending_read(server, reads[i].request_id);
        if (request == NULL) {
            continue;
        }
        request->index = reads[i].index > request->min_index ? reads[i].index : request->min_index;
        request_list_push(&server->reads_waiting_apply, request);
    }
    for (size_t i = 0; i < failed_read_count; i++) {
        struct request *request = take_pending_read(server, failed_reads[i]);
        if (request != NULL) {
            server->stats.reads_failed++;
            finish_with_error(request, "TRYAGAIN %s",
                              "leadership changed before the read was confirmed; retry it");
        }
    }
    serve_waiting_reads(server);
}

/* ---- snapshots ---- */

static int copy_file(const char *from, const char *to)
{
    int input = open(from, O_RDONLY | O_CLOEXEC);
    if (input < 0) {
        return -errno;
    }
    int output = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (output < 0) {
        int error = -errno;
        close(input);
        return error;
    }
    char buffer[1 << 16];
    ssize_t count;
    int rc = 0;
    while ((count = read(input, buffer, sizeof buffer)) > 0) {
        if (write(output, buffer, (size_t)count) != count) {
            rc = -EIO;
            break;
        }
    }
    if (count < 0) {
        rc = -errno;
    }
    if (rc == 0 && fsync(output) != 0) {
        rc = -errno;
    }
    close(input);
    close(output);
    return rc;
}

/* Loads a snapshot's data file into LMDB (kv consumes a copy; storage keeps the original). */
static int import_snapshot_data(struct server *server, const char *data_path,
                                const struct raft_snapshot_meta *meta)
{
    char copy[CONFIG_PATH_BYTES + 64];
    path_join(copy, sizeof copy, server->config.data_directory, "import.tmp");
    int rc = copy_file(data_path, copy);
    if (rc != 0) {
        log_error("cannot copy snapshot %s: %s", data_path, strerror(-rc));
        return -1;
    }
    uint64_t index = 0;
    uint64_t term = 0;
    rc = kv_snapshot_import(server->node.kv, copy, &index, &term);
    if (rc != 0 || index != meta->index || term != meta->term) {
        log_error("cannot import snapshot %s: %s (holds %llu/%llu, expected %llu/%llu)", data_path,
                  rc != 0 ? kv_error_string(rc) : "mismatch", (unsigned long long)index,
                  (unsigned long long)term, (unsigned long long)meta->index,
                  (unsigned long long)meta->term);
        return -1;
    }
    return 0;
}

/* Moves the data file at `path` into a new durable snapshot. A leader's snapshot replaces
 * the log (storage's reset, sync, then commit); our own only joins it. */
static int store_snapshot(struct node *node, const struct raft_snapshot_meta *meta,
                          const char *path, bool from_leader)
{
    struct storage_snapshot_writer *writer = NULL;
    int rc = storage_snapshot_begin(node->storage, meta, &writer);
    if (rc != 0) {
        return rc;
    }
    if (rename(path, storage_snapshot_data_path(writer)) != 0) {
        storage_snapshot_abort(node->storage, writer);
        return -1;
    }
    return from_leader ? storage_snapshot_install_from_leader(node->storage, writer)
                       : storage_snapshot_commit(node->storage, writer);
}

/* Installs a snapshot received from the leader. Storage first, in its crash-safe order (the
 * log is reset and synced before the snapshot is committed, so a crash never leaves the new
 * snapshot followed by entries of the conflicting history); then the state machine. A crash
 * after the first step restarts from the snapshot: open_state_machine() imports it. */
static void install_snapshot(struct server *server, const struct raft_snapshot_meta *meta)
{
    struct node *node = &server->node;
    if (!node->has_incoming_snapshot) {
        server_fail(server, "the core installs a snapshot whose data never arrived");
        return;
    }
    node->has_incoming_snapshot = false;
    int rc = store_snapshot(node, meta, node->incoming_snapshot_path, true);
    char data_path[CONFIG_PATH_BYTES + 128];
    struct raft_snapshot_meta stored;
    if (rc == 0) {
        rc = storage_snapshot_latest(node->storage, &stored, data_path, sizeof data_path);
    }
    if (rc == 0) {
        rc = import_snapshot_data(server, data_path, meta);
    }
    if (rc != 0) {
        server_fail(server, "cannot install the snapshot received from the leader");
        return;
    }
    server->stats.snapshots_installed++;
    log_info("installed snapshot at index %llu term %llu from the leader",
             (unsigned long long)meta->index, (unsigned long long)meta->term);
    /* Writes waiting on indexes the snapshot covers can no longer learn their outcome. */
    settle_writes(server, meta->index + 1, meta->index);
}

static void snapshot_work(uv_work_t *work)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    char path[CONFIG_PATH_BYTES + 64];
    path_join(path, sizeof path, server->config.data_directory, "snapshot-export.tmp");
    node->snapshot_result =
        kv_snapshot_export(node->kv, path, &node->snapshot_index, &node->snapshot_term);
}

/* Turns the exported copy into the durable snapshot and compacts the log behind it. Runs on
 * the loop thread with no fsync in flight (storage is not thread-safe). */
static void commit_snapshot(struct server *server)
{
    struct node *node = &server->node;
    char path[CONFIG_PATH_BYTES + 64];
    path_join(path, sizeof path, server->config.data_directory, "snapshot-export.tmp");
    struct raft_snapshot_meta meta = {.index = node->snapshot_index,
                                      .term = node->snapshot_term,
                                      .configuration = *raft_configuration(node->raft)};
    int rc = store_snapshot(node, &meta, path, false);
    if (rc == 0) {
        rc = raft_compact(node->raft, meta.index, &meta.configuration);
    }
    if (rc == 0) {
        rc = wal_compact(node->storage, meta.index);
    }
    if (rc != 0) {
        log_warning("snapshot at index %llu not taken: %s", (unsigned long long)meta.index,
                    storage_message(node->storage));
        unlink(path);
        return;
    }
    server->stats.snapshots_taken++;
    log_info("snapshot taken at index %llu term %llu; log compacted",
             (unsigned long long)meta.index, (unsigned long long)meta.term);
}

static void after_snapshot(uv_work_t *work, int status)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    node->snapshot_in_progress = false;
    if (status != 0 || node->snapshot_result != 0) {
        log_warning("snapshot export failed: %s", kv_error_string(node->snapshot_result));
        return;
    }
    if (node->ready_in_progress) {
        node->snapshot_commit_pending = true; /* after the fsync in flight */
        return;
    }
    commit_snapshot(server);
}

static void maybe_snapshot(struct server *server)
{
    struct node *node = &server->node;
    if (node->snapshot_commit_pending && !node->ready_in_progress) {
        node->snapshot_commit_pending = false;
        commit_snapshot(server);
    }
    uint64_t applied = kv_applied_index(node->kv);
    uint64_t first = raft_first_index(node->raft);
    if (node->snapshot_in_progress || node->snapshot_commit_pending || server->stopping ||
        applied < first || applied - first + 1 < server->config.snapshot_entries) {
        return;
    }
    node->snapshot_in_progress = true;
    node->snapshot_work.data = server;
    if (uv_queue_work(server->loop, &node->snapshot_work, snapshot_work, after_snapshot) != 0) {
        node->snapshot_in_progress = false;
    }
}

/* ---- the ready loop ---- */

static void send_message(struct server *server, const struct raft_message *message)
{
    if (message->type != RAFT_MSG_SNAPSHOT) {
        transport_send(server->transport, message);
        return;
    }
    struct raft_snapshot_meta meta;
    char data_path[CONFIG_PATH_BYTES + 128];
    int rc = storage_snapshot_latest(server->node.storage, &meta, data_path, sizeof data_path);
    if (rc != 0 || meta.index != message->snapshot.index ||
        transport_send_snapshot(server->transport, message, data_path) != 0) {
        raft_report_snapshot(server->node.raft, message->to, false);
        return;
    }
    log_info("sending snapshot at index %llu to node %llu", (unsigned long long)meta.index,
             (unsigned long long)message->to);
}

static void report_role_change(struct server *server, const struct raft_ready *ready)
{
    struct node *node = &server->node;
    if (!ready->soft_state_changed) {
        return;
    }
    if (ready->soft_state.leader != node->last_leader) {
        node->leader_changes++;
        if (ready->soft_state.leader == server->config.id) {
            log_info("became leader at term %llu", (unsigned long long)raft_term(node->raft));
        } else if (ready->soft_state.leader != RAFT_NODE_NONE) {
            log_info("following leader %llu at term %llu",
                     (unsigned long long)ready->soft_state.leader,
                     (unsigned long long)raft_term(node->raft));
        } else {
            log_info("no leader known at term %llu (%s)", (unsigned long long)raft_term(node->raft),
                     raft_role_string(ready->soft_state.role));
        }
    }
    node->last_leader = ready->soft_state.leader;
}

/* What a ready allows before its fsync: apply what was already durable, answer the reads
 * confirmed so far. */
static void start_ready(struct server *server)
{
    struct node *node = &server->node;
    struct raft_ready *ready = &node->ready;
    node->applied_early = durable_committed_count(ready);
    apply_committed(server, ready, 0, node->applied_early);
    if (!node->fatal) {
        handle_reads(server, ready->reads, ready->read_count, ready->failed_reads,
                     ready->failed_read_count);
    }
}

/* After the fsync: send what depended on it, apply the rest, advance. */
static void finish_ready(struct server *server)
{
    struct node *node = &server->node;
    struct raft_ready *ready = &node->ready;
    for (size_t i = 0; i < ready->message_count; i++) {
        send_message(server, &ready->messages[i]);
    }
    apply_committed(server, ready, node->applied_early, ready->committed_count);
    if (node->fatal) {
        return;
    }
    serve_waiting_reads(server);
    report_role_change(server, ready);
    raft_advance(node->raft, ready);
    node->ready_in_progress = false;
    maybe_snapshot(server);
}

static void sync_work(uv_work_t *work)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    node->sync_result = 0;
    if (wal_sync_pending(node->storage)) {
        node->sync_result = wal_sync(node->storage);
    }
    if (node->sync_result == 0 && node->sync_hard_state) {
        node->sync_result = storage_hard_state_save(node->storage, &node->ready.hard_state);
    }
}

static void after_sync(uv_work_t *work, int status)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    if (status != 0 || node->sync_result != 0) {
        char reason[STORAGE_MESSAGE_BYTES + 64];
        snprintf(reason, sizeof reason, "cannot make the log durable: %s",
                 storage_message(node->storage));
        server_fail(server, reason);
        return;
    }
    server->stats.fsyncs++;
    server->stats.fsync_entries += node->ready.entry_count;
    if (node->sync_hard_state) {
        node->saved_hard_state = node->ready.hard_state;
    }
    if (server->transport != NULL) {
        transport_hold(server->transport);
        finish_ready(server);
        transport_release(server->transport);
    }
    node_process_ready(server);
    client_flush_all(server);
}

/* Only the term and vote need to be durable (Figure 2); the commit index is saved with them
 * when they change, and is otherwise relearnt from the leader and the state machine. */
static bool hard_state_needs_saving(const struct node *node, const struct raft_ready *ready)
{
    return ready->has_hard_state && (ready->hard_state.term != node->saved_hard_state.term ||
                                     ready->hard_state.vote != node->saved_hard_state.vote);
}

/* While a ready's fsync runs: replicate new entries, apply what committed meanwhile and
 * answer its clients, and serve confirmed reads, without waiting for the fsync. */
static void process_early(struct server *server)
{
    struct node *node = &server->node;
    struct raft_early early;
    if (node->fatal || !raft_early(node->raft, &early)) {
        return;
    }
    for (size_t i = 0; i < early.messages_immediate_count; i++) {
        send_message(server, &early.messages_immediate[i]);
    }
    apply_entries(server, early.committed, early.committed_count);
    if (node->fatal) {
        return;
    }
    handle_reads(server, early.reads, early.read_count, early.failed_reads,
                 early.failed_read_count);
    raft_early_advance(node->raft, &early);
}

static void process_readies(struct server *server);

/* Everything the core wants sent in one pass leaves in one write per peer. */
void node_process_ready(struct server *server)
{
    if (server->transport == NULL) {
        return;
    }
    transport_hold(server->transport);
    if (server->node.ready_in_progress) {
        process_early(server);
    } else {
        process_readies(server);
    }
    if (server->transport != NULL) {
        transport_release(server->transport);
    }
}

static void process_readies(struct server *server)
{
    struct node *node = &server->node;
    while (!node->ready_in_progress && !node->fatal && raft_ready(node->raft, &node->ready)) {
        struct raft_ready *ready = &node->ready;
        node->ready_in_progress = true;
        for (size_t i = 0; i < ready->messages_immediate_count; i++) {
            send_message(server, &ready->messages_immediate[i]);
        }
        if (ready->snapshot != NULL) {
            install_snapshot(server, ready->snapshot);
            if (node->fatal) {
                return;
            }
        }
        start_ready(server);
        if (node->fatal) {
            return;
        }
        if (ready->entry_count > 0 &&
            wal_append(node->storage, ready->entries, ready->entry_count) != 0) {
            char reason[STORAGE_MESSAGE_BYTES + 64];
            snprintf(reason, sizeof reason, "cannot write the log: %s",
                     storage_message(node->storage));
            server_fail(server, reason);
            return;
        }
        node->sync_hard_state = hard_state_needs_saving(node, ready);
        if (wal_sync_pending(node->storage) || node->sync_hard_state) {
            node->sync_work.data = server;
            if (uv_queue_work(server->loop, &node->sync_work, sync_work, after_sync) != 0) {
                server_fail(server, "cannot queue the fsync");
            }
            return; /* after_sync finishes this ready */
        }
        finish_ready(server);
    }
}

void node_tick(struct server *server)
{
    if (!server->node.fatal) {
        raft_tick(server->node.raft);
    }
}

/* ---- requests from clients ---- */

int node_propose(struct server *server, struct request *request, const uint8_t *data,
                 size_t data_bytes)
{
    if (data_bytes > UINT32_MAX) {
        return RAFT_ERROR_TOO_BIG;
    }
    uint64_t index = 0;
    uint64_t term = 0;
    int rc = raft_propose(server->node.raft, data, (uint32_t)data_bytes, &index, &term);
    if (rc != 0) {
        return rc;
    }
    request->index = index;
    request->term = term;
    /* Keep the list sorted by index: a new leader may reuse indexes of an earlier term. */
    struct request *after = server->pending_writes.tail;
    if (after == NULL || after->index <= index) {
        request_list_push(&server->pending_writes, request);
        return 0;
    }
    while (after != NULL && after->index > index) {
        after = after->pending_prev;
    }
    request->pending = true;
    request->pending_prev = after;
    request->pending_next = after != NULL ? after->pending_next : server->pending_writes.head;
    request->pending_next->pending_prev = request;
    if (after != NULL) {
        after->pending_next = request;
    } else {
        server->pending_writes.head = request;
    }
    server->pending_writes.count++;
    return 0;
}

int node_read_index(struct server *server, struct request *request)
{
    uint64_t read_id = ++server->node.next_read_id;
    int rc = raft_read_index(server->node.raft, read_id);
    if (rc != 0) {
        return rc;
    }
    request->read_id = read_id;
    request_list_push(&server->pending_reads, request);
    return 0;
}

static void expire(struct server *server, struct request_list *list, uint64_t now_ms,
                   bool uncertain)
{
    struct request *request = list->head;
    while (request != NULL) {
        struct request *next = request->pending_next;
        if (request->deadline_ms <= now_ms) {
            request_list_remove(list, request);
            if (uncertain) {
                server->stats.writes_uncertain++;
                finish_with_error(request, "UNCERTAIN %s",
                                  "timed out waiting for the write to commit: it may or may not "
                                  "have been applied");
            } else {
                server->stats.reads_failed++;
                finish_with_error(request, "CLUSTERDOWN %s",
                                  "no majority confirmed the read in time; it was not "
                                  "executed");
            }
        }
        request = next;
    }
}

void node_sweep_timeouts(struct server *server)
{
    uint64_t now_ms = server_now_ms(server);
    expire(server, &server->pending_writes, now_ms, true);
    expire(server, &server->pending_reads, now_ms, false);
    expire(server, &server->reads_waiting_apply, now_ms, false);
}

/* ---- peers ---- */

void node_on_peer_message(struct server *server, const struct raft_message *message,
                          const char *snapshot_data_path)
{
    struct node *node = &server->node;
    if (node->fatal) {
        return;
    }
    if (message->type == RAFT_MSG_SNAPSHOT) {
        if (snapshot_data_path == NULL ||
            rename(snapshot_data_path, node->incoming_snapshot_path) != 0) {
            log_warning("snapshot from node %llu arrived without its data; ignored",
                        (unsigned long long)message->from);
            return;
        }
        node->has_incoming_snapshot = true;
    }
    int rc = raft_step(node->raft, message);
    if (rc != 0) {
        log_warning("refused a %s message from node %llu: %s",
                    raft_message_type_string(message->type), (unsigned long long)message->from,
                    raft_error_string(rc));
    }
}

static void on_transport_message(void *context, const struct raft_message *message,
                                 const char *snapshot_data_path)
{
    node_on_peer_message(context, message, snapshot_data_path);
}

static void on_transport_unreachable(void *context, raft_node_id peer)
{
    struct server *server = context;
    raft_report_unreachable(server->node.raft, peer);
}

static void on_transport_snapshot_sent(void *context, raft_node_id peer, bool success)
{
    struct server *server = context;
    raft_report_snapshot(server->node.raft, peer, success);
}

static void on_transport_peer_state(void *context, raft_node_id peer, bool connected)
{
    (void)context;
    log_info("peer %llu %s", (unsigned long long)peer, connected ? "connected" : "disconnected");
}

/* ---- start and stop ---- */

static void storage_log(void *arg, enum storage_log_level level, const char *message)
{
    (void)arg;
    if (level == STORAGE_LOG_WARNING) {
        log_warning("storage: %s", message);
    } else {
        log_info("storage: %s", message);
    }
}

/*
 * LMDB commits without fsync (the WAL is the source of durability), so after a power loss its
 * file may hold a meta page that points at pages never written: silently corrupt. It is
 * therefore trusted only after a clean shutdown, which syncs it and leaves CLEAN_MARKER.
 * After any other stop (kill -9, power loss, a fatal error) the database is rebuilt from
 * durable sources: the latest snapshot (fsynced) and the log after it (fsynced; the log is
 * never compacted past the snapshot). The marker is removed, durably, before anything is
 * applied, so a crash after this start is never mistaken for a clean one.
 */
#define CLEAN_MARKER "kv-clean-shutdown"

static int check_clean_shutdown(struct server *server, const char *kv_directory, char *error,
                                size_t error_bytes)
{
    char marker[CONFIG_PATH_BYTES + 32];
    path_join(marker, sizeof marker, server->config.data_directory, CLEAN_MARKER);
    if (unlink(marker) == 0) {
        int directory = open(server->config.data_directory, O_RDONLY | O_DIRECTORY);
        if (directory < 0 || fsync(directory) != 0) {
            snprintf(error, error_bytes, "cannot sync %s: %s", server->config.data_directory,
                     strerror(errno));
            if (directory >= 0) {
                close(directory);
            }
            return -1;
        }
        close(directory);
        return 0;
    }
    char data[CONFIG_PATH_BYTES + 32];
    path_join(data, sizeof data, kv_directory, "data.mdb");
    if (access(data, F_OK) == 0) {
        log_warning("the last stop was not clean: rebuilding the database from the snapshot "
                    "and the log");
        char lock[CONFIG_PATH_BYTES + 32];
        path_join(lock, sizeof lock, kv_directory, "lock.mdb");
        if (unlink(data) != 0 || (unlink(lock) != 0 && errno != ENOENT)) {
            snprintf(error, error_bytes, "cannot remove %s: %s", data, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Syncs the database and leaves the marker that lets the next start trust it. */
static void mark_clean_shutdown(struct server *server)
{
    if (kv_sync(server->node.kv) != 0) {
        return;
    }
    char marker[CONFIG_PATH_BYTES + 32];
    path_join(marker, sizeof marker, server->config.data_directory, CLEAN_MARKER);
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }
    bool synced = fsync(fd) == 0;
    close(fd);
    int directory = open(server->config.data_directory, O_RDONLY | O_DIRECTORY);
    if (directory >= 0) {
        synced = fsync(directory) == 0 && synced;
        close(directory);
    }
    if (!synced) {
        unlink(marker);
    }
}

static int open_state_machine(struct server *server, const struct storage_recovered *recovered,
                              char *error, size_t error_bytes)
{
    struct node *node = &server->node;
    char directory[CONFIG_PATH_BYTES + 16];
    path_join(directory, sizeof directory, server->config.data_directory, "kv");
    if (mkdir(directory, 0700) != 0 && errno != EEXIST) {
        snprintf(error, error_bytes, "cannot create %s: %s", directory, strerror(errno));
        return -1;
    }
    if (check_clean_shutdown(server, directory, error, error_bytes) != 0) {
        return -1;
    }
    struct kv_options options;
    kv_options_default(&options);
    options.map_size_bytes = server->config.lmdb_map_bytes;
    options.max_value_bytes = server->config.max_bulk_bytes;
    int rc = kv_open(directory, &options, &node->kv);
    if (rc != 0) {
        snprintf(error, error_bytes, "cannot open the database in %s: %s", directory,
                 kv_error_string(rc));
        return -1;
    }
    /* A rebuilt (or lagging) database starts from the snapshot; the core replays the log. */
    if (recovered->has_snapshot && kv_applied_index(node->kv) < recovered->snapshot.index) {
        struct raft_snapshot_meta meta;
        char data_path[CONFIG_PATH_BYTES + 128];
        if (storage_snapshot_latest(node->storage, &meta, data_path, sizeof data_path) != 0 ||
            import_snapshot_data(server, data_path, &meta) != 0) {
            snprintf(error, error_bytes, "cannot load the snapshot at index %llu",
                     (unsigned long long)recovered->snapshot.index);
            return -1;
        }
        log_info("loaded snapshot at index %llu", (unsigned long long)meta.index);
    }
    return 0;
}

static int start_core(struct server *server, const struct storage_recovered *recovered, char *error,
                      size_t error_bytes)
{
    struct node *node = &server->node;
    const struct server_config *config = &server->config;
    struct raft_config raft_config;
    raft_config_default(&raft_config, config->id);
    raft_config.election_timeout_ticks = config->election_timeout_ms / config->tick_ms;
    raft_config.heartbeat_interval_ticks = config->heartbeat_ms / config->tick_ms;
    raft_config.max_inflight_appends = config->max_inflight_appends;
    raft_config.max_entry_bytes = (uint32_t)(config->max_bulk_bytes + (1u << 20) > UINT32_MAX
                                                 ? UINT32_MAX
                                                 : config->max_bulk_bytes + (1u << 20));
    raft_config.random_seed = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ config->id;
    raft_config.configuration.voter_count = config->member_count;
    for (uint32_t i = 0; i < config->member_count; i++) {
        raft_config.configuration.voters[i] = config->members[i].id;
    }
    struct raft_boot_state boot = {
        .hard_state = recovered->hard_state,
        .has_snapshot = recovered->has_snapshot,
        .snapshot = recovered->snapshot,
        .entries = recovered->entries,
        .entry_count = recovered->entry_count,
        .applied = kv_applied_index(node->kv),
    };
    int rc = raft_new(&raft_config, &boot, &node->raft);
    if (rc != 0) {
        snprintf(error, error_bytes,
                 "cannot start Raft from the data on disk: %s (applied index %llu, log ends "
                 "at %llu)",
                 raft_error_string(rc), (unsigned long long)boot.applied,
                 (unsigned long long)(recovered->entry_count > 0
                                          ? recovered->entries[recovered->entry_count - 1].index
                                          : recovered->snapshot.index));
        return -1;
    }
    node->saved_hard_state = recovered->hard_state;
    log_info("recovered term %llu, log %llu..%llu, applied %llu",
             (unsigned long long)recovered->hard_state.term,
             (unsigned long long)raft_first_index(node->raft),
             (unsigned long long)raft_last_index(node->raft), (unsigned long long)boot.applied);
    return 0;
}

static int start_transport(struct server *server, char *error, size_t error_bytes)
{
    const struct server_config *config = &server->config;
    struct transport_config transport;
    transport_config_default(&transport);
    transport.id = config->id;
    const struct config_member *self = config_member(config, config->id);
    snprintf(transport.host, sizeof transport.host, "%s", self->peer_host);
    transport.port = self->peer_port;
    memset(transport.cluster_id, 0, sizeof transport.cluster_id);
    memcpy(transport.cluster_id, config->cluster_id, strlen(config->cluster_id));
    transport.secret = (const uint8_t *)config->secret;
    transport.secret_bytes = strlen(config->secret);
    for (uint32_t i = 0; i < config->member_count; i++) {
        const struct config_member *member = &config->members[i];
        if (member->id == config->id) {
            continue;
        }
        struct transport_peer_address *peer = &transport.peers[transport.peer_count++];
        peer->id = member->id;
        snprintf(peer->host, sizeof peer->host, "%s", member->peer_host);
        peer->port = member->peer_port;
    }
    snprintf(transport.incoming_directory, sizeof transport.incoming_directory, "%s",
             config->data_directory);
    struct transport_callbacks callbacks = {
        .context = server,
        .on_message = on_transport_message,
        .on_unreachable = on_transport_unreachable,
        .on_snapshot_sent = on_transport_snapshot_sent,
        .on_peer_state = on_transport_peer_state,
    };
    int rc = transport_start(server->loop, &transport, &callbacks, &server->transport);
    if (rc != 0) {
        snprintf(error, error_bytes, "cannot start the peer transport on %s:%u: %s",
                 self->peer_host, self->peer_port, transport_error_string(rc));
        return -1;
    }
    return 0;
}

int node_start(struct server *server, char *error, size_t error_bytes)
{
    struct node *node = &server->node;
    const struct server_config *config = &server->config;
    path_join(node->incoming_snapshot_path, sizeof node->incoming_snapshot_path,
              config->data_directory, "incoming-snapshot.data");
    struct storage_options options;
    storage_options_default(&options);
    options.log = storage_log;
    struct storage_recovered recovered;
    memset(&recovered, 0, sizeof recovered);
    char message[STORAGE_MESSAGE_BYTES];
    int rc = storage_open(config->data_directory, &options, &node->storage, &recovered, message,
                          sizeof message);
    if (rc != 0) {
        snprintf(error, error_bytes, "refusing to start: %s", message);
        return -1;
    }
    if (open_state_machine(server, &recovered, error, error_bytes) != 0 ||
        start_core(server, &recovered, error, error_bytes) != 0) {
        storage_recovered_free(&recovered);
        return -1;
    }
    storage_recovered_free(&recovered);
    return start_transport(server, error, error_bytes);
}

/* Called once the loop has stopped: nothing is in flight any more. */
void node_stop(struct server *server)
{
    struct node *node = &server->node;
    request_list_discard(&server->pending_writes);
    request_list_discard(&server->pending_reads);
    request_list_discard(&server->reads_waiting_apply);
    if (node->kv != NULL) {
        if (!node->fatal && !node->ready_in_progress) {
            mark_clean_shutdown(server);
        }
        kv_close(node->kv);
        node->kv = NULL;
    }
    if (node->storage != NULL) {
        storage_close(node->storage);
        node->storage = NULL;
    }
    raft_free(node->raft);
    node->raft = NULL;
}
