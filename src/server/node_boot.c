/*
 * node_boot.c — a node's life outside the ready loop: opening its data (storage, then the
 * state machine, then the core) at start, stopping cleanly, the peer transport's callbacks,
 * and recovering by itself after a storage failure at run time.
 *
 * Start: storage_open() recovers the log, the term and vote and the latest snapshot; the
 * state machine is trusted only after a clean stop (CLEAN_MARKER below), and is otherwise
 * rebuilt from the snapshot and the log; the core is created from what was recovered.
 * A node that cannot open its data at start refuses to start, with the reason.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "server/log.h"

/* ---- peers ---- */

void node_on_peer_message(struct server *server, const struct raft_message *message,
                          const char *snapshot_data_path)
{
    struct node *node = &server->node;
    dashboard_count_message(server, message, false);
    if (node->fatal) {
        return;
    }
    if (message->type == RAFT_MSG_SNAPSHOT) {
        if (snapshot_data_path == NULL ||
            storage_stream_claim(NULL, snapshot_data_path, node->incoming_snapshot_path) != 0) {
            log_warning("snapshot from node %llu arrived without its data; ignored",
                        (unsigned long long)message->from);
            return;
        }
        node->has_incoming_snapshot = true;
    }
    if (message->type == RAFT_MSG_HEARTBEAT_RESPONSE) {
        node_note_heartbeat_response(server, message->from);
    }
    if (server->replica != NULL) {
        return; /* a foil mode's core is never stepped (the handshake keeps Raft peers out) */
    }
    node_set_clock(server);
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

static void on_transport_replica(void *context, const struct peer_replica *message)
{
    replication_receive(context, message);
}

static void on_transport_unreachable(void *context, raft_node_id peer)
{
    struct server *server = context;
    if (!server->node.fatal) {
        driver_report_unreachable(&server->node.driver, peer);
    }
}

static void on_transport_snapshot_sent(void *context, raft_node_id peer, bool success)
{
    struct server *server = context;
    if (!server->node.fatal) {
        driver_report_snapshot(&server->node.driver, peer, success);
    }
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

/* The kernel's id of this boot of the machine, or "" where there is none. */
static void read_boot_id(char *out, size_t out_bytes)
{
    out[0] = '\0';
    FILE *file = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (file == NULL) {
        return;
    }
    if (fgets(out, (int)out_bytes, file) == NULL) {
        out[0] = '\0';
    }
    fclose(file);
    out[strcspn(out, "\n")] = '\0';
}

/* LMDB is trusted after a clean stop, or after the process alone died (storage/clean_stop.c
 * says why); otherwise it is rebuilt from the snapshot and the log. */
enum { APPLY_BYTES_PER_READY = 2 * 1024 * 1024 };

static int check_clean_stop(struct server *server, const char *kv_directory, char *error,
                            size_t error_bytes)
{
    bool clean = false;
    char boot[64];
    read_boot_id(boot, sizeof boot);
    if (storage_clean_stop_take(server->node.storage, boot, &clean) != 0) {
        snprintf(error, error_bytes, "%s", storage_message(server->node.storage));
        return -1;
    }
    if (clean) {
        return 0;
    }
    bool removed = false;
    if (kv_discard(kv_directory, &removed) != 0) {
        snprintf(error, error_bytes, "cannot remove the database in %s: %s", kv_directory,
                 strerror(errno));
        return -1;
    }
    if (removed) {
        log_warning("the last stop was not clean: rebuilding the database from the snapshot "
                    "and the log");
    }
    return 0;
}

/* Syncs the database and leaves the marker that lets the next start trust it. */
static void mark_clean_stop(struct server *server)
{
    if (kv_sync(server->node.kv) == 0 && storage_clean_stop_mark(server->node.storage) != 0) {
        log_warning("%s: the next start rebuilds the database",
                    storage_message(server->node.storage));
    }
}

static int open_state_machine(struct server *server, const struct storage_recovered *recovered,
                              char *error, size_t error_bytes)
{
    struct node *node = &server->node;
    char directory[CONFIG_PATH_BYTES + 16];
    node_path_join(directory, sizeof directory, server->config.data_directory, "kv");
    bool foil = server_replication_unsafe(server);
    /* A foil mode has no log to rebuild the state machine from: it is the only copy, synced
     * at every commit and so trusted after a crash (replication.c). */
    if (!foil && check_clean_stop(server, directory, error, error_bytes) != 0) {
        return -1;
    }
    struct kv_options options;
    kv_options_default(&options);
    options.sync_each_commit = foil;
    options.lww_stamps = server->replication_mode == REPLICA_MODE_LWW;
    /* APPEND and SETRANGE check it while applying: the same on every replica, not a flag. */
    options.max_value_bytes = LIMITS_MAX_BULK_BYTES;
    int rc = kv_open(directory, &options, &node->kv);
    if (rc != 0) {
        snprintf(error, error_bytes, "cannot open the database in %s: %s", directory,
                 kv_error_string(rc));
        return -1;
    }
    kv_set_receivers(node->kv, pubsub_receivers, server); /* PUBLISH's messages (pubsub.c) */
    /* A rebuilt (or lagging) database starts from the snapshot; the core replays the log. */
    if (recovered->has_snapshot && kv_applied_index(node->kv) < recovered->snapshot.index) {
        struct raft_snapshot_meta meta;
        char data_path[CONFIG_PATH_BYTES + 128];
        if (storage_snapshot_latest(node->storage, &meta, data_path, sizeof data_path) != 0 ||
            node_import_snapshot(server, data_path, &meta) != 0) {
            snprintf(error, error_bytes, "cannot load the snapshot at index %llu",
                     (unsigned long long)recovered->snapshot.index);
            return -1;
        }
        log_info("loaded snapshot at index %llu", (unsigned long long)meta.index);
    }
    return 0;
}

/* The core's decisions, in the log at debug level (--log-level debug). */
static void trace_core(void *context, const char *line)
{
    (void)context;
    log_debug("raft: %s", line);
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
    /* Lease reads (RAFT.CONSISTENCY lease): the lease ends 10% of an election timeout and two
     * ticks before any follower may vote again — room for clocks that run 10% apart and for
     * the tick timer's lag (node_tick). Too short a timeout for that: no lease. */
    uint32_t margin = raft_config.election_timeout_ticks / 10 + 2;
    raft_config.lease_ticks = raft_config.election_timeout_ticks > 2 * margin
                                  ? raft_config.election_timeout_ticks - margin
                                  : 0;
    raft_config.max_inflight_appends = config->max_inflight_appends;
    /* The edge (commands.c) admits requests up to max-request-bytes; the core and the layers
     * below it take the chain's ceilings (base/limits.h). */
    raft_config.max_entry_bytes = (uint32_t)LIMITS_MAX_ENTRY_BYTES;
    raft_config.max_append_bytes = (uint32_t)LIMITS_APPEND_BYTES;
    raft_config.max_append_entries = LIMITS_MAX_APPEND_ENTRIES;
    raft_config.max_uncommitted_bytes = 2 * config->max_request_bytes + LIMITS_APPEND_BYTES;
    /* One apply holds the loop: a pipelined burst of large MSETs (a few thousand entries of
     * 20 KB) once kept it from sending heartbeats for longer than an election timeout. */
    raft_config.max_committed_bytes_per_ready = APPLY_BYTES_PER_READY;
    raft_config.random_seed = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ config->id;
    raft_config.max_promote_lag = config->promote_max_lag;
    raft_config.trace = trace_core;
    /* The bootstrap configuration, used only while the log and the snapshot hold none: the
     * --member flags, or nothing at all for a node that joins a running cluster (it waits to
     * be added, and learns the members from the leader's log). */
    if (config->join[0] == '\0') {
        raft_config.configuration.voter_count = config->member_count;
        for (uint32_t i = 0; i < config->member_count; i++) {
            raft_config.configuration.voters[i] = config->members[i].id;
        }
    }
    struct raft_boot_state boot = {
        .hard_state = recovered->hard_state,
        .has_snapshot = recovered->has_snapshot,
        .snapshot = recovered->snapshot,
        .entries = recovered->entries,
        .entry_count = recovered->entry_count,
        /* A foil mode's state machine counts its own entries, which no log holds. */
        .applied = server_replication_unsafe(server) ? 0 : kv_applied_index(node->kv),
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
    node_start_driver(server, &recovered->hard_state);
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
    transport.tls = server->tls.peers; /* tls-replication: NULL for plaintext links */
    transport.tls_verify_peer_name = config->tls_verify_peer_name;
    transport.fault_injection = config->enable_fault_injection;
    transport.fault_seed = config->id; /* reproducible; RAFT.FAULT SEED changes it */
    transport.replication_mode = (uint16_t)server->replication_mode;
    /* The largest frame (an APPEND with the largest entry) must fit whole, or it would never
     * leave and its follower would wait for it forever. */
    transport.max_send_buffer_bytes = LIMITS_MAX_PEER_FRAME_BYTES + 2 * LIMITS_APPEND_BYTES;
    transport.snapshot_chunk_bytes = LIMITS_SNAPSHOT_CHUNK_BYTES;
    /* The peers come from the configuration in force, once the transport runs. */
    snprintf(transport.incoming_directory, sizeof transport.incoming_directory, "%s",
             config->data_directory);
    struct transport_callbacks callbacks = {
        .context = server,
        .on_message = on_transport_message,
        .on_unreachable = on_transport_unreachable,
        .on_snapshot_sent = on_transport_snapshot_sent,
        .on_peer_state = on_transport_peer_state,
        .on_replica = server_replication_unsafe(server) ? on_transport_replica : NULL,
    };
    int rc = transport_start(server->loop, &transport, &callbacks, &server->transport);
    if (rc != 0) {
        snprintf(error, error_bytes, "cannot start the peer transport on %s:%u: %s",
                 self->peer_host, self->peer_port, transport_error_string(rc));
        return -1;
    }
    members_refresh(server);
    join_start(server);
    return 0;
}

/* The quota when the file system cannot be measured, and the largest one taken: LMDB maps
 * twice the quota into the address space, which is 128 TiB on x86-64. */
#define QUOTA_FALLBACK_BYTES (8ull << 30)
#define QUOTA_MAX_BYTES      (16ull << 40)

/* The space quota in force: the flag, or half of the data directory's file system. Called
 * once storage has created the directory (a fresh node's does not exist before). */
static uint64_t resolve_quota(const struct server_config *config)
{
    uint64_t quota = config->max_db_bytes;
    struct statvfs disk;
    if (quota == 0) {
        quota = statvfs(config->data_directory, &disk) == 0
                    ? (uint64_t)disk.f_blocks * disk.f_frsize / 2
                    : QUOTA_FALLBACK_BYTES;
    }
    return quota < QUOTA_MAX_BYTES ? quota : QUOTA_MAX_BYTES;
}

/* Storage, then the state machine, then the core: what a start or a recovery opens. */
static int open_data(struct server *server, char *error, size_t error_bytes)
{
    struct node *node = &server->node;
    const struct server_config *config = &server->config;
    struct storage_options options;
    storage_options_default(&options);
    options.log = storage_log;
    options.segment_max_bytes = config->wal_segment_bytes;
    options.defer_deletes = true; /* emptied on the thread pool (node.c, empty_trash) */
    struct storage_recovered recovered;
    memset(&recovered, 0, sizeof recovered);
    char message[STORAGE_MESSAGE_BYTES];
    int rc = storage_open(config->data_directory, &options, &node->storage, &recovered, message,
                          sizeof message);
    bool reopen = false;
    if (rc == 0 && !node->data_prepared) {
        /* --restore and --force-new-cluster act once, at the first start (node_restore.c). */
        node->data_prepared = true;
        if (node_prepare_data(server, &recovered, &reopen, error, error_bytes) != 0) {
            storage_recovered_free(&recovered);
            storage_close(node->storage);
            node->storage = NULL;
            return -1;
        }
    }
    if (rc == 0 && reopen) {
        storage_recovered_free(&recovered);
        storage_close(node->storage);
        memset(&recovered, 0, sizeof recovered);
        rc = storage_open(config->data_directory, &options, &node->storage, &recovered, message,
                          sizeof message);
    }
    if (rc != 0) {
        node->storage = NULL;
        snprintf(error, error_bytes, "cannot open the data: %s", message);
        return -1;
    }
    if (storage_replication_mode_claim(node->storage, server_replication_name(server),
                                       recovered.fresh) != 0) {
        snprintf(error, error_bytes, "cannot open the data: %s", storage_message(node->storage));
        storage_recovered_free(&recovered);
        storage_close(node->storage);
        node->storage = NULL;
        return -1;
    }
    node->max_db_bytes = resolve_quota(config);
    rc = open_state_machine(server, &recovered, error, error_bytes);
    if (rc == 0) {
        rc = start_core(server, &recovered, error, error_bytes);
    }
    storage_recovered_free(&recovered);
    return rc;
}

/* Closes what open_data opened; the state machine is marked clean only when asked. */
static void close_data(struct server *server, bool clean)
{
    struct node *node = &server->node;
    if (node->kv != NULL) {
        if (clean) {
            mark_clean_stop(server);
        }
        kv_close(node->kv);
        node->kv = NULL;
    }
    if (node->storage != NULL) {
        storage_close(node->storage);
        node->storage = NULL;
    }
}

int node_start(struct server *server, char *error, size_t error_bytes)
{
    struct node *node = &server->node;
    const struct server_config *config = &server->config;
    node_path_join(node->incoming_snapshot_path, sizeof node->incoming_snapshot_path,
                   config->data_directory, "incoming-snapshot.data");
    server->replication_mode = replica_mode_parse(config->replication);
    if (server->replication_mode < 0) {
        snprintf(error, error_bytes, "unknown replication mode '%s'", config->replication);
        return -1;
    }
    replication_warn(server);
    if (open_data(server, error, error_bytes) != 0 ||
        replication_start(server, error, error_bytes) != 0) {
        return -1;
    }
    log_info("space quota (max-db-bytes) %llu bytes; the database holds %llu",
             (unsigned long long)node->max_db_bytes, (unsigned long long)kv_used_bytes(node->kv));
    return start_transport(server, error, error_bytes);
}

/*
 * Recovery after a failure at run time, in place of a restart. The failed node has stopped
 * taking part (node_fail): it steps no message and ticks no timer, exactly like a crashed
 * node, which Raft tolerates. Once no thread-pool work is in flight it closes its storage and
 * state machine and opens them again from disk, with the rules of a start: the WAL's torn
 * tail is cut, the state machine is rebuilt unless it was closed cleanly, the core restarts
 * from the durable term, vote and log. The old core is kept (for INFO) until a new one
 * exists. A reopen that fails (the disk is still full) is retried with a growing backoff.
 */
enum {
    RECOVER_BACKOFF_MIN_MS = 200,
    RECOVER_BACKOFF_MAX_MS = 10000,
    /* A node that ran this long since its last start or recovery starts its backoff afresh. */
    RECOVER_HEALTHY_MS = 60000,
};

void node_schedule_recovery(struct server *server, bool after_running)
{
    struct node *node = &server->node;
    uint64_t now_ms = server_now_ms(server);
    bool fresh = node->recover_backoff_ms == 0 ||
                 (after_running && now_ms >= node->recovered_at_ms + RECOVER_HEALTHY_MS);
    if (fresh) {
        node->recover_backoff_ms = RECOVER_BACKOFF_MIN_MS;
    } else if (node->recover_backoff_ms < RECOVER_BACKOFF_MAX_MS) {
        node->recover_backoff_ms *= 2;
    }
    node->recover_at_ms = now_ms + node->recover_backoff_ms;
}

void node_maybe_recover(struct server *server)
{
    struct node *node = &server->node;
    if (!node->fatal || server->stopping || server_now_ms(server) < node->recover_at_ms ||
        node->sync_in_flight || node->snapshot_in_progress || node->kv_flush_in_flight ||
        node->trash_in_flight || backup_exporting(server)) {
        return;
    }
    log_info("reopening the data (failure %llu: %s)", (unsigned long long)node->failures,
             node->failure_reason);
    struct raft *old_core = node->raft;
    node->raft = NULL;
    close_data(server, !node->kv_suspect && !driver_busy(&node->driver));
    char error[1024];
    if (open_data(server, error, sizeof error) != 0) {
        close_data(server, false);
        raft_free(node->raft);
        node->raft = old_core;
        node->kv_suspect = true; /* a half-done rebuild is never trusted */
        node_schedule_recovery(server, false);
        log_error("%s; retrying in %u ms", error, node->recover_backoff_ms);
        return;
    }
    raft_free(old_core);
    if (server->replica != NULL) {
        replica_set_kv(server->replica, node->kv);
    }
    node->fatal = false;
    node->kv_suspect = false;
    node->snapshot_commit_pending = false;
    node->has_incoming_snapshot = false;
    node->last_leader = RAFT_NODE_NONE;
    node->log_bytes = 0;
    node->recovered_at_ms = server_now_ms(server);
    log_info("recovered: taking part in the cluster again");
}

/* Called once the loop has stopped: nothing is in flight any more. */
void node_stop(struct server *server)
{
    struct node *node = &server->node;
    request_list_discard(&server->pending_writes);
    request_list_discard(&server->pending_reads);
    request_list_discard(&server->reads_waiting_apply);
    request_list_discard(&server->blocked);
    pubsub_free(server);
    replication_stop(server);
    close_data(server, !node->fatal && (node->raft == NULL || !driver_busy(&node->driver)));
    raft_free(node->raft);
    node->raft = NULL;
}
