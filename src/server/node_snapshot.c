/*
 * node_snapshot.c — a node's snapshots: taking its own, installing the leader's, and the disk
 * work around them, none of it on the event loop where it could stall heartbeats.
 *
 * Taking one: every snapshot-entries applied entries, or once the log holds snapshot-log-bytes,
 * kv exports a compacted copy of LMDB on a thread-pool thread while writes go on, and storage
 * fsyncs and checksums it there too; back on the loop, with no fsync in flight (storage is not
 * thread-safe), the copy becomes the durable snapshot and the log is compacted behind it.
 * Replaced snapshots and compacted segments go to storage's trash, emptied on the pool.
 *
 * Installing the leader's: storage first, in its crash-safe order (reset the log, sync, then
 * commit), then the state machine imports a copy. A failure on the way is node_fail's.
 */
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "server/log.h"

/* Loads a snapshot's data file into LMDB (kv copies it; storage keeps the original). */
int node_import_snapshot(struct server *server, const char *data_path,
                         const struct raft_snapshot_meta *meta)
{
    uint64_t index = 0;
    uint64_t term = 0;
    int rc = kv_snapshot_import_copy(server->node.kv, data_path, &index, &term);
    if (rc != 0 || index != meta->index || term != meta->term) {
        log_error("cannot import snapshot %s: %s (holds %llu/%llu, expected %llu/%llu)", data_path,
                  rc != 0 ? kv_error_string(rc) : "mismatch", (unsigned long long)index,
                  (unsigned long long)term, (unsigned long long)meta->index,
                  (unsigned long long)meta->term);
        return -1;
    }
    return 0;
}

/* Replaced snapshots and compacted segments wait in storage's trash: deleting them takes
 * seconds for a large snapshot, so it happens on the thread pool. */
static void trash_work(uv_work_t *work)
{
    struct server *server = work->data;
    server->node.trash_result = storage_trash_empty(NULL, server->node.trash_path);
}

static void after_trash(uv_work_t *work, int status)
{
    struct server *server = work->data;
    server->node.trash_in_flight = false;
    if (status != 0 || server->node.trash_result != 0) {
        log_warning("cannot empty %s: %s", server->node.trash_path,
                    strerror(-server->node.trash_result));
    }
}

static void empty_trash(struct server *server)
{
    struct node *node = &server->node;
    const char *path = NULL;
    if (node->trash_in_flight || !storage_trash_take(node->storage, &path)) {
        return; /* a job in flight picks up what arrived meanwhile next time */
    }
    snprintf(node->trash_path, sizeof node->trash_path, "%s", path);
    node->trash_in_flight = true;
    node->trash_work.data = server;
    if (uv_queue_work(server->loop, &node->trash_work, trash_work, after_trash) != 0) {
        node->trash_in_flight = false;
    }
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
    if (storage_snapshot_adopt(node->storage, writer, path) != 0) {
        return -1; /* the writer is gone */
    }
    if (from_leader) {
        return storage_snapshot_install_from_leader(node->storage, writer);
    }
    /* Our own snapshot was measured off the loop (snapshot_work): no second read here. */
    return storage_snapshot_commit_measured(node->storage, writer, node->snapshot_data_bytes,
                                            node->snapshot_checksum);
}

/* Installs a snapshot received from the leader. Storage first, in its crash-safe order (the
 * log is reset and synced before the snapshot is committed, so a crash never leaves the new
 * snapshot followed by entries of the conflicting history); then the state machine. A crash
 * after the first step restarts from the snapshot: open_state_machine() imports it. */
void node_install_snapshot(struct server *server, const struct raft_snapshot_meta *meta)
{
    struct node *node = &server->node;
    if (!node->has_incoming_snapshot) {
        node_fail(server, "the core installs a snapshot whose data never arrived");
        return;
    }
    node->has_incoming_snapshot = false;
    int rc = store_snapshot(node, meta, node->incoming_snapshot_path, true);
    char data_path[CONFIG_PATH_BYTES + 128];
    struct raft_snapshot_meta stored;
    if (rc == 0) {
        rc = storage_snapshot_latest(node->storage, &stored, data_path, sizeof data_path);
    }
    uint64_t started_ns = uv_hrtime();
    if (rc == 0) {
        rc = node_import_snapshot(server, data_path, meta);
    }
    histogram_record_ns(&server->stats.snapshot_install, uv_hrtime() - started_ns);
    if (rc != 0) {
        node_fail(server, "cannot install the snapshot received from the leader");
        return;
    }
    node->log_bytes = 0;
    empty_trash(server);
    server->stats.snapshots_installed++;
    log_info("installed snapshot at index %llu term %llu from the leader",
             (unsigned long long)meta->index, (unsigned long long)meta->term);
    /* Writes waiting on indexes the snapshot covers can no longer learn their outcome. */
    node_settle_writes(server, meta->index + 1, meta->index);
}

static void snapshot_work(uv_work_t *work)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    char path[CONFIG_PATH_BYTES + 64];
    node_path_join(path, sizeof path, server->config.data_directory, "snapshot-export.tmp");
    node->snapshot_message[0] = '\0';
    uint64_t started_ns = uv_hrtime();
    node->snapshot_result =
        kv_snapshot_export(node->kv, path, &node->snapshot_index, &node->snapshot_term);
    if (node->snapshot_result == 0) {
        /* The checksum reads the whole file: here, not on the loop, which only renames. */
        int rc = storage_snapshot_measure(NULL, path, &node->snapshot_data_bytes,
                                          &node->snapshot_checksum, node->snapshot_message,
                                          sizeof node->snapshot_message);
        node->snapshot_result = rc != 0 ? KV_ERROR_STORAGE : 0;
    }
    node->snapshot_duration_ns = uv_hrtime() - started_ns; /* recorded on the loop */
}

/* Turns the exported copy into the durable snapshot and compacts the log behind it. Runs on
 * the loop thread with no fsync in flight (storage is not thread-safe). */
static void commit_snapshot(struct server *server)
{
    struct node *node = &server->node;
    char path[CONFIG_PATH_BYTES + 64];
    node_path_join(path, sizeof path, server->config.data_directory, "snapshot-export.tmp");
    struct raft_snapshot_meta meta = {.index = node->snapshot_index, .term = node->snapshot_term};
    int rc = raft_configuration_at(node->raft, meta.index, &meta.configuration);
    if (rc == 0) {
        rc = store_snapshot(node, &meta, path, false);
    }
    if (rc == 0) {
        rc = raft_compact(node->raft, meta.index);
    }
    if (rc == 0) {
        rc = wal_compact(node->storage, meta.index);
    }
    if (rc != 0) {
        log_warning("snapshot at index %llu not taken: %s", (unsigned long long)meta.index,
                    storage_message(node->storage));
        storage_discard(node->storage, path);
        empty_trash(server);
        return;
    }
    node->log_bytes -=
        node->log_bytes_exported < node->log_bytes ? node->log_bytes_exported : node->log_bytes;
    empty_trash(server);
    server->stats.snapshots_taken++;
    histogram_record_ns(&server->stats.snapshot_save, node->snapshot_duration_ns);
    log_info("snapshot taken at index %llu term %llu; log compacted",
             (unsigned long long)meta.index, (unsigned long long)meta.term);
}

static void after_snapshot(uv_work_t *work, int status)
{
    struct server *server = work->data;
    struct node *node = &server->node;
    node->snapshot_in_progress = false;
    if (node->fatal) {
        return; /* recovery reopens storage; the exported copy is left for it to replace */
    }
    if (status != 0 || node->snapshot_result != 0) {
        log_warning("snapshot export failed: %s %s", kv_error_string(node->snapshot_result),
                    node->snapshot_message);
        return;
    }
    if (driver_busy(&node->driver)) {
        node->snapshot_commit_pending = true; /* after the fsync in flight */
        return;
    }
    commit_snapshot(server);
}

void node_maybe_snapshot(struct server *server)
{
    struct node *node = &server->node;
    if (server->replica != NULL) {
        return; /* a foil mode has no log to compact (replication.c) */
    }
    if (node->snapshot_commit_pending && !driver_busy(&node->driver)) {
        node->snapshot_commit_pending = false;
        commit_snapshot(server);
    }
    uint64_t applied = kv_applied_index(node->kv);
    uint64_t first = raft_first_index(node->raft);
    if (node->snapshot_in_progress || node->snapshot_commit_pending || server->stopping ||
        node->fatal || applied < first) {
        return;
    }
    /* By count, and by bytes: the core keeps every entry since the snapshot in memory. */
    if (applied - first + 1 < server->config.snapshot_entries &&
        node->log_bytes < server->config.snapshot_log_bytes) {
        return;
    }
    node->log_bytes_exported = node->log_bytes;
    node->snapshot_in_progress = true;
    node->snapshot_work.data = server;
    if (uv_queue_work(server->loop, &node->snapshot_work, snapshot_work, after_snapshot) != 0) {
        node->snapshot_in_progress = false;
    }
}
