/*
 * node.c — the loop that drives the Raft core: persist, replicate, apply, reply.
 *
 * Once per event-loop turn (and again whenever an fsync finishes) node_process_ready() hands
 * the core to the ready driver (src/driver), whose callbacks here work through each batch in
 * raft.h's order:
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
 * Failure modes: a storage or state-machine error (a full disk, an I/O error) stops the node's
 * part in the cluster at once — it acknowledges nothing it cannot vouch for — but not the
 * process: node_fail() answers every waiting client, and node_boot.c reopens the data from
 * disk, as a restart would, until that succeeds. Nothing is ever skipped: an entry that
 * failed to apply is applied again after the reopen. Snapshots are node_snapshot.c's; start,
 * stop and recovery node_boot.c's.
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

enum {
    KV_FLUSH_BYTES = 32 * 1024 * 1024,
};

bool node_is_leader(const struct server *server)
{
    return !server->node.fatal && raft_role(server->node.raft) == RAFT_LEADER;
}

void node_path_join(char *out, size_t out_bytes, const char *directory, const char *name)
{
    snprintf(out, out_bytes, "%s/%s", directory, name);
}

/* ---- replies to waiting requests ---- */

static void finish_with_error(struct request *request, const char *format, const char *detail)
{
    if (request->client != NULL) {
        /* A batch that failed half-way may have written kv's reply here already. */
        proto_buffer_truncate(&request->reply, 0);
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
        if (request->target.blocked) {
            blocking_park(server, request); /* nothing to take yet: it waits */
            break;
        }
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
                               MAX_STACK_ARGUMENTS, &argc, NULL);
    if (rc == KV_ERROR_TOO_BIG) {
        arguments = malloc(argc * sizeof *arguments);
        rc = arguments == NULL ? KV_ERROR_NO_MEMORY
                               : kv_command_decode(request->command, request->command_bytes,
                                                   arguments, argc, &argc, NULL);
    }
    if (rc == 0 && request->client != NULL) {
        server->stats.reads_linearizable++;
        kv_read(server->node.kv, argc, arguments, node_clock_read(server), &request->sink);
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
void node_settle_writes(struct server *server, uint64_t first_index, uint64_t last_index)
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

/*
 * LMDB commits without fsync (the WAL makes writes durable), so the data it writes piles up
 * in the page cache. On ext4 (data=ordered) any fsync must first write out such data when its
 * blocks were allocated in the same journal transaction: with a gigabyte pending, an fsync of
 * a small file took seconds and stalled the loop that issued it. So the database is flushed
 * in the background, on the thread pool, every KV_FLUSH_BYTES of applied data.
 */
static void flush_work(uv_work_t *work)
{
    struct server *server = work->data;
    server->node.kv_flush_result = kv_sync(server->node.kv);
}

static void after_flush(uv_work_t *work, int status)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    node->kv_flush_in_flight = false;
    if (status != 0 || node->kv_flush_result != 0) {
        /* Not fatal: the WAL is the source of durability; the data waits for a later flush. */
        log_warning("background flush of the database failed: %s",
                    kv_error_string(node->kv_flush_result));
        /* The kernel may drop pages it could not write: a crash now must rebuild. */
        if (storage_clean_stop_forget(node->storage) != 0) {
            log_warning("%s", storage_message(node->storage));
        }
    }
}

static void maybe_flush_kv(struct server *server)
{
    struct node *node = &server->node;
    if (node->kv_unflushed_bytes < KV_FLUSH_BYTES || node->kv_flush_in_flight || node->fatal ||
        server->stopping) {
        return;
    }
    node->kv_unflushed_bytes = 0;
    node->kv_flush_in_flight = true;
    node->kv_flush_work.data = server;
    if (uv_queue_work(server->loop, &node->kv_flush_work, flush_work, after_flush) != 0) {
        node->kv_flush_in_flight = false;
    }
}

bool node_over_quota(const struct server *server)
{
    const struct node *node = &server->node;
    return node->kv != NULL && kv_used_bytes(node->kv) >= node->max_db_bytes;
}

static void update_quota_alarm(struct server *server)
{
    struct node *node = &server->node;
    bool over = node_over_quota(server);
    if (over != node->over_quota) {
        node->over_quota = over;
        if (over) {
            log_warning("the database holds %llu bytes, at or above max-db-bytes (%llu): writes "
                        "that can grow it are refused with -OOM until space is freed",
                        (unsigned long long)kv_used_bytes(node->kv),
                        (unsigned long long)node->max_db_bytes);
        } else {
            log_info("the database is below max-db-bytes again (%llu of %llu bytes): writes "
                     "are accepted",
                     (unsigned long long)kv_used_bytes(node->kv),
                     (unsigned long long)node->max_db_bytes);
        }
    }
}

/* A RAFT.NODE change waits for its CONFIG entry like a write for its command: applied with the
 * proposed term, it answers OK. */
static void settle_change(struct server *server, const struct raft_entry *entry)
{
    for (struct request *request = server->pending_writes.head;
         request != NULL && request->index <= entry->index; request = request->pending_next) {
        if (request->index == entry->index && request->term == entry->term) {
            request->applied_as_proposed = true;
            reply_status(&request->reply, "OK");
        }
    }
}

/* Applies committed entries in one LMDB transaction and settles the writes they decide. */
static void apply_entries(struct server *server, const struct raft_entry *entries, size_t count)
{
    if (count == 0) {
        return;
    }
    struct node *node = &server->node;
    uint64_t started_ns = uv_hrtime();
    dashboard_note_entries(server, entries, count, false); /* committed: here they arrive */
    int rc = kv_apply_batch(node->kv, entries, count, reply_provider, server);
    histogram_record_ns(&server->stats.apply, uv_hrtime() - started_ns);
    stats_latency_event(server, LATENCY_APPLY, uv_hrtime() - started_ns);
    if (rc == 0) {
        server->stats.entries_applied += count;
        dashboard_note_entries(server, entries, count, true);
    }
    if (rc != 0) {
        char reason[512];
        snprintf(reason, sizeof reason, "cannot apply committed entries %llu..%llu: %s (%s)",
                 (unsigned long long)entries[0].index, (unsigned long long)entries[count - 1].index,
                 kv_error_string(rc), kv_last_error(node->kv));
        node->kv_suspect = true;
        node_fail(server, reason);
        return;
    }
    /* Messages first: a subscriber that published sees its message before the reply, as in
     * Redis. */
    pubsub_deliver(server);
    for (size_t i = 0; i < count; i++) {
        node->log_bytes += entries[i].data_bytes;
        node->kv_unflushed_bytes += entries[i].data_bytes;
        if (entries[i].type == RAFT_ENTRY_CONFIG) {
            settle_change(server, &entries[i]);
        }
    }
    node_settle_writes(server, entries[0].index, entries[count - 1].index);
    node_clock_applied(server, &entries[count - 1]);
    update_quota_alarm(server);
    maybe_flush_kv(server);
    /* Proposals wait until the ready is handled: an apply may run before the ready's entries
     * are written, and a proposal then could move the log they point into. */
    node->applied_since_ready = true;
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

/* ---- the ready loop: the driver (src/driver) with the server's effects ---- */

/* A peer's heartbeat round trip: from a heartbeat sent to it to the first response after it
 * (responses to earlier heartbeats are not told apart: an upper bound, in practice close). */
static struct peer_round_trip *round_trip_slot(struct server *server, raft_node_id peer,
                                               bool create)
{
    struct peer_round_trip *free_slot = NULL;
    for (size_t i = 0; i < RAFT_MAX_NODES; i++) {
        struct peer_round_trip *slot = &server->stats.round_trips[i];
        if (slot->peer == peer) {
            return slot;
        }
        if (slot->peer == 0 && free_slot == NULL) {
            free_slot = slot;
        }
    }
    if (create && free_slot != NULL) {
        free_slot->peer = peer;
        return free_slot;
    }
    return NULL;
}

void node_note_heartbeat_response(struct server *server, raft_node_id from)
{
    struct peer_round_trip *slot = round_trip_slot(server, from, false);
    if (slot != NULL && slot->sent_ns != 0) {
        histogram_record_ns(&slot->histogram, uv_hrtime() - slot->sent_ns);
        slot->sent_ns = 0;
    }
}

static void send_message(struct server *server, const struct raft_message *message)
{
    dashboard_count_message(server, message, true);
    if (message->type == RAFT_MSG_HEARTBEAT) {
        struct peer_round_trip *slot = round_trip_slot(server, message->to, true);
        if (slot != NULL && slot->sent_ns == 0) {
            slot->sent_ns = uv_hrtime();
        }
    }
    if (message->type != RAFT_MSG_SNAPSHOT) {
        transport_send(server->transport, message);
        return;
    }
    struct raft_snapshot_meta meta;
    char data_path[CONFIG_PATH_BYTES + 128];
    int rc = storage_snapshot_latest(server->node.storage, &meta, data_path, sizeof data_path);
    if (rc != 0 || meta.index != message->snapshot.index ||
        transport_send_snapshot(server->transport, message, data_path) != 0) {
        driver_report_snapshot(&server->node.driver, message->to, false);
        return;
    }
    log_info("sending snapshot at index %llu to node %llu", (unsigned long long)meta.index,
             (unsigned long long)message->to);
}

static bool host_send(void *context, const struct raft_message *message)
{
    send_message(context, message);
    return true;
}

static bool host_install_snapshot(void *context, const struct raft_snapshot_meta *meta)
{
    struct server *server = context;
    node_install_snapshot(server, meta);
    return !server->node.fatal;
}

/*
 * Fallocating a new 64 MiB WAL segment took 58-64 ms on a busy disk, on the loop, in the
 * append that rolled the log over. So the next segment is allocated ahead, on the pool, as
 * storage's spare (storage/spare.c). Storage is told only in host_append, where the loop
 * calls into it anyway and no fsync is in flight.
 */
static void spare_work(uv_work_t *work)
{
    struct node *node = &((struct server *)work->data)->node;
    node->spare_result = storage_spare_prepare(NULL, node->spare_path, node->spare_bytes);
}

#define SPARE_RETRY_MS 1000

static void after_spare(uv_work_t *work, int status)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    node->spare_in_flight = false;
    if (status == 0 && node->spare_result == 0) {
        node->spare_prepared = true;
        if (node->spare_failing) {
            log_info("allocated the spare segment %s again", node->spare_path);
        }
        node->spare_failing = false;
        return;
    }
    /* Not fatal: the next segment is allocated where it is created, as without a spare. A
     * full disk fails every attempt: warn once, and try again only after a pause. */
    if (!node->spare_failing) {
        log_warning("cannot allocate the spare segment %s: %s; retrying every %d ms",
                    node->spare_path, strerror(status != 0 ? -status : -node->spare_result),
                    SPARE_RETRY_MS);
    }
    node->spare_failing = true;
    node->spare_retry_ms = uv_now(server->loop) + SPARE_RETRY_MS;
}

static void prepare_spare(struct server *server)
{
    struct node *node = &server->node;
    const char *path = NULL;
    if (node->spare_in_flight || node->spare_prepared || server->stopping ||
        (node->spare_failing && uv_now(server->loop) < node->spare_retry_ms) ||
        !storage_spare_wanted(node->storage, &path, &node->spare_bytes)) {
        return;
    }
    snprintf(node->spare_path, sizeof node->spare_path, "%s", path);
    node->spare_in_flight = true;
    node->spare_work.data = server;
    if (uv_queue_work(server->loop, &node->spare_work, spare_work, after_spare) != 0) {
        node->spare_in_flight = false;
    }
}

static bool host_append(void *context, const struct raft_entry *entries, size_t count)
{
    struct server *server = context;
    struct node *node = &server->node;
    if (node->spare_prepared) {
        node->spare_prepared = false;
        storage_spare_ready(node->storage);
    }
    if (wal_append(node->storage, entries, count) != 0) {
        char reason[STORAGE_MESSAGE_BYTES + 64];
        snprintf(reason, sizeof reason, "cannot write the log: %s", storage_message(node->storage));
        node_fail(server, reason);
        return false;
    }
    node->sync_entry_count = count;
    prepare_spare(server);
    return true;
}

static void on_more_readies(uv_idle_t *idle)
{
    (void)idle; /* its being active keeps the loop from waiting; on_prepare does the work */
}

/* The driver yields after each apply (node_start_driver), so that timers and peers get a turn
 * between the applies of a long backlog; what it left waits for the next loop turn. */
static void schedule_more_readies(struct server *server)
{
    uv_idle_t *idle = &server->more_readies;
    bool more = !server->node.fatal && server->node.raft != NULL &&
                !driver_busy(&server->node.driver) && raft_has_ready(server->node.raft);
    if (more && !uv_is_active((uv_handle_t *)idle)) {
        uv_idle_start(idle, on_more_readies);
    } else if (!more && uv_is_active((uv_handle_t *)idle)) {
        uv_idle_stop(idle);
    }
}

static void sync_work(uv_work_t *work)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    node->sync_result = 0;
    uint64_t started_ns = uv_hrtime();
    if (wal_sync_pending(node->storage)) {
        node->sync_result = wal_sync(node->storage);
    }
    if (node->sync_result == 0 && node->sync_save_hard_state) {
        node->sync_result = storage_hard_state_save(node->storage, &node->sync_hard_state);
    }
    node->sync_duration_ns = uv_hrtime() - started_ns; /* recorded on the loop (after_sync) */
}

static void after_sync(uv_work_t *work, int status)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    node->sync_in_flight = false;
    if (node->fatal) {
        return; /* failed while the fsync ran: recovery reopens everything */
    }
    if (status != 0 || node->sync_result != 0) {
        char reason[STORAGE_MESSAGE_BYTES + 64];
        snprintf(reason, sizeof reason, "cannot make the log durable: %s",
                 storage_message(node->storage));
        node_fail(server, reason);
        return;
    }
    server->stats.fsyncs++;
    server->stats.fsync_entries += node->sync_entry_count;
    histogram_record_ns(&server->stats.wal_fsync, node->sync_duration_ns);
    stats_latency_event(server, LATENCY_WAL_FSYNC, node->sync_duration_ns);
    node->sync_entry_count = 0;
    if (server->transport != NULL) {
        members_refresh(server);
        transport_hold(server->transport);
        driver_synced(&node->driver, 0);
        node_maybe_snapshot(server);
        transport_release(server->transport);
    }
    schedule_more_readies(server);
    client_flush_all(server);
}

/* The fsync runs on a thread-pool thread; entries and proposals that arrive meanwhile go
 * into the next ready and share the next fsync (group commit). */
static bool host_sync(void *context, bool save_hard_state, const struct raft_hard_state *hard)
{
    struct server *server = context;
    struct node *node = &server->node;
    assert(!node->sync_in_flight);
    node->sync_save_hard_state = save_hard_state;
    node->sync_hard_state = *hard;
    node->sync_work.data = server;
    node->sync_in_flight = true;
    if (uv_queue_work(server->loop, &node->sync_work, sync_work, after_sync) != 0) {
        node->sync_in_flight = false;
        node_fail(server, "cannot queue the fsync");
        return false;
    }
    return true;
}

static bool host_apply(void *context, const struct raft_entry *entries, size_t count)
{
    struct server *server = context;
    apply_entries(server, entries, count);
    if (server->node.fatal) {
        return false;
    }
    serve_waiting_reads(server);
    return true;
}

static void host_reads(void *context, const struct raft_read_state *reads, size_t read_count,
                       const uint64_t *failed_reads, size_t failed_read_count)
{
    handle_reads(context, reads, read_count, failed_reads, failed_read_count);
}

static void host_soft_state(void *context, const struct raft_soft_state *soft_state)
{
    struct server *server = context;
    struct node *node = &server->node;
    if (soft_state->leader != node->last_leader) {
        node->leader_changes++;
        dashboard_note_leader(server, soft_state->leader, raft_term(node->raft));
        if (soft_state->leader == server->config.id) {
            log_info("became leader at term %llu", (unsigned long long)raft_term(node->raft));
        } else if (soft_state->leader != RAFT_NODE_NONE) {
            log_info("following leader %llu at term %llu", (unsigned long long)soft_state->leader,
                     (unsigned long long)raft_term(node->raft));
        } else {
            log_info("no leader known at term %llu (%s)", (unsigned long long)raft_term(node->raft),
                     raft_role_string(soft_state->role));
        }
    }
    node->last_leader = soft_state->leader;
}

void node_start_driver(struct server *server, const struct raft_hard_state *saved_hard_state)
{
    static const struct driver_host host = {
        .send = host_send,
        .install_snapshot = host_install_snapshot,
        .append = host_append,
        .sync = host_sync,
        .apply = host_apply,
        .reads = host_reads,
        .soft_state = host_soft_state,
    };
    struct driver_host with_context = host;
    with_context.context = server;
    driver_init(&server->node.driver, server->node.raft, &with_context, saved_hard_state);
    driver_yield_after_apply(&server->node.driver, true);
}

/* Everything the core wants sent in one pass leaves in one write per peer. */
void node_process_ready(struct server *server)
{
    if (server->transport == NULL || server->node.fatal) {
        return;
    }
    members_refresh(server); /* before sending: a new member needs its connection */
    transport_hold(server->transport);
    driver_process(&server->node.driver);
    schedule_more_readies(server);
    if (server->node.applied_since_ready && !server->node.fatal) {
        server->node.applied_since_ready = false;
        blocking_wake(server); /* parked pops whose keys got members try again */
        /* An expiry entry just applied: the next batch of due keys follows at once (the
         * sweep looks for due keys otherwise, not every ready on the write path). */
        struct node *node = &server->node;
        if (node->expire_index != 0 && kv_applied_index(node->kv) >= node->expire_index) {
            node_expire_keys(server);
        }
    }
    node_maybe_snapshot(server);
    if (server->transport != NULL) {
        transport_release(server->transport);
    }
}

void node_tick(struct server *server)
{
    /* A foil mode's core is never ticked: it elects no one (replication.c). */
    if (!server->node.fatal && server->replica == NULL) {
        node_set_clock(server);
        raft_tick(server->node.raft);
    }
}

/* The lease's clock (raft_set_clock): the monotonic clock in ticks since the first call. A core
 * made later (a recovery) starts from there too: the clock only has to be monotonic. */
void node_set_clock(struct server *server)
{
    struct node *node = &server->node;
    uint64_t now = uv_hrtime();
    if (node->clock_epoch_ns == 0) {
        node->clock_epoch_ns = now;
    }
    raft_set_clock(node->raft,
                   (now - node->clock_epoch_ns) / ((uint64_t)server->config.tick_ms * 1000000));
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
    node_track_write(server, request, index, term);
    return 0;
}

void node_track_write(struct server *server, struct request *request, uint64_t index, uint64_t term)
{
    request->index = index;
    request->term = term;
    /* Keep the list sorted by index: a new leader may reuse indexes of an earlier term. */
    struct request *after = server->pending_writes.tail;
    if (after == NULL || after->index <= index) {
        request_list_push(&server->pending_writes, request);
        return;
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
}

static int read_point(struct server *server, struct request *request, bool lease)
{
    uint64_t read_id = ++server->node.next_read_id;
    int rc = lease ? raft_read_lease(server->node.raft, read_id)
                   : raft_read_index(server->node.raft, read_id);
    if (rc != 0) {
        return rc;
    }
    request->read_id = read_id;
    request_list_push(&server->pending_reads, request);
    return 0;
}

int node_read_index(struct server *server, struct request *request)
{
    return read_point(server, request, false);
}

int node_read_lease(struct server *server, struct request *request)
{
    node_set_clock(server);
    return read_point(server, request, true);
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

static void fail_all(struct request_list *list, const char *format, const char *detail)
{
    while (list->head != NULL) {
        struct request *request = list->head;
        request_list_remove(list, request);
        finish_with_error(request, format, detail);
    }
}

void node_fail(struct server *server, const char *reason)
{
    struct node *node = &server->node;
    if (node->fatal) {
        return;
    }
    node->fatal = true;
    node->failures++;
    node_schedule_recovery(server, true);
    snprintf(node->failure_reason, sizeof node->failure_reason, "%s", reason);
    log_error("stopped taking part in the cluster: %s; reopening the data in %u ms", reason,
              node->recover_backoff_ms);
    server->stats.writes_uncertain += server->pending_writes.count;
    fail_all(&server->pending_writes, "UNCERTAIN %s",
             "this node failed to store or apply the write; the cluster may still commit "
             "it, so its outcome is unknown");
    server->stats.reads_failed += server->pending_reads.count + server->reads_waiting_apply.count;
    fail_all(&server->pending_reads, "CLUSTERDOWN %s",
             "this node failed (storage) before the read ran; it was not executed");
    fail_all(&server->reads_waiting_apply, "CLUSTERDOWN %s",
             "this node failed (storage) before the read ran; it was not executed");
    blocking_fail_all(server, "CLUSTERDOWN this node failed (storage) while the command was "
                              "blocked; it took nothing");
}

void node_sweep_timeouts(struct server *server)
{
    uint64_t now_ms = server_now_ms(server);
    expire(server, &server->pending_writes, now_ms, true);
    expire(server, &server->pending_reads, now_ms, false);
    expire(server, &server->reads_waiting_apply, now_ms, false);
    node_maybe_recover(server);
    node_expire_keys(server);
    blocking_sweep(server);
    replication_sweep(server);
}
