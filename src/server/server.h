/*
 * server.h — the state of one raftkv process, shared by the files of src/server/.
 *
 * Data flows one way (DESIGN.md): client.c reads bytes and parses requests; commands.c
 * routes each one — connection and cluster commands are answered at once, a write is
 * proposed to the Raft core, a linearizable read asks the core for a read index; node.c
 * drives the core's ready batches (persist, replicate, apply through kv/) and completes the
 * waiting requests; client.c writes the replies back, in request order.
 *
 * A request that cannot complete within request_timeout_ms gets an error: for a write that
 * was proposed, -UNCERTAIN (it may still commit); for everything else an error that
 * guarantees it had no effect (docs/errors.md lists them).
 *
 * Everything runs on the libuv loop thread, except the fsync and snapshot work that node.c
 * hands to the thread pool; the loop never touches storage while such work runs.
 */
#ifndef RAFTKV_SERVER_SERVER_H
#define RAFTKV_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "driver/driver.h"
#include "kv/kv.h"
#include "proto/proto.h"
#include "proto/resp.h"
#include "raft/raft.h"
#include "replica/replica.h"
#include "server/config.h"
#include "server/transport.h"
#include "storage/storage.h"

struct backup;
struct client;
struct pubsub_target;
struct server;
struct tls_context;
struct tls_session;

/* Where a reply goes: a buffer, and the protocol version to encode it in. */
struct reply_target {
    struct proto_buffer *buffer;
    int protocol;
    bool blocked; /* kv said the command waits (a blocking pop found nothing) */
    size_t mark;  /* buffer's length when the sink was made: where a rewind goes back to */
};

enum request_kind {
    REQUEST_IMMEDIATE, /* answered at once, but queued behind earlier requests */
    REQUEST_WRITE,     /* proposed; waits for its entry to be applied */
    REQUEST_READ,      /* waits for a read index, then for the state machine to reach it */
};

struct client;
struct server;

/* A latency histogram (stats.c): counts[i] for durations up to histogram_bound_s(i), the
 * last for those above every bound. */
#define HISTOGRAM_BUCKETS 16
struct histogram {
    uint64_t counts[HISTOGRAM_BUCKETS + 1];
    uint64_t total;
    uint64_t sum_ns;
};
void histogram_record_ns(struct histogram *histogram, uint64_t duration_ns);
double histogram_bound_s(size_t bucket);

/* Error replies by their first word ("ERR", "WRONGTYPE", "MOVED", ...), process-wide. */
#define STATS_ERROR_KINDS      128
#define STATS_ERROR_KIND_BYTES 32
void stats_count_error(const char *text, size_t text_bytes);
typedef void (*stats_error_fn)(void *context, const char *kind, uint64_t count);
void stats_for_each_error(stats_error_fn visit, void *context);

/* Per command (INFO commandstats and latencystats, /metrics): the data commands by their place
 * in kv's table, then the server's own (commands.c). A command's time runs from its arrival
 * to its answer, so a write's includes its replication and fsync (Redis counts only the
 * command's own work). Latencies go into buckets a quarter of a power of two wide (stats.c). */
#define STATS_COMMAND_SLOTS   512
#define STATS_NO_COMMAND      0xffff
#define STATS_LATENCY_BUCKETS 160
struct command_stat {
    uint64_t calls;
    uint64_t usec;
    uint64_t failed;   /* answered with an error */
    uint64_t rejected; /* refused before it ran (ACL, arity, NOAUTH) */
    uint32_t *latency; /* STATS_LATENCY_BUCKETS counts, allocated at the first call */
};

/* SLOWLOG: commands slower than slowlog-log-slower-than, the newest first. */
#define SLOWLOG_ARGS_BYTES 256
struct slowlog_entry {
    uint64_t id;
    uint64_t time_s;
    uint64_t duration_us;
    char args[SLOWLOG_ARGS_BYTES]; /* arguments, each as u8 length + bytes, truncated */
    size_t args_bytes;
    uint32_t argc; /* how many the command had */
    char client_address[64];
    char client_name[64];
};
/* What a command's statistics need once it is answered (a request keeps its own copy). */
struct request_stat {
    uint16_t slot; /* STATS_NO_COMMAND: none */
    uint64_t started_ns;
    char args[SLOWLOG_ARGS_BYTES];
    size_t args_bytes;
    uint32_t argc;
};
/* A command arrives: its slot, its start, its arguments for the slow log (client->stat). */
void stats_command_begin(struct client *client, size_t slot, size_t argc,
                         const struct kv_arg *argv);
void stats_command_done(const struct client *client, const struct request_stat *stat, bool failed);
void stats_command_rejected(struct server *server, size_t slot);
double stats_latency_percentile_us(const struct command_stat *command, double percentile);
void stats_reset(struct server *server);
void stats_free(struct server *server);
void stats_sample(struct server *server, uint64_t now_ms);
uint64_t stats_average(const uint64_t samples[16]);

/* LATENCY: events at or above latency-monitor-threshold, per kind (stats.c). */
enum latency_event { LATENCY_COMMAND, LATENCY_WAL_FSYNC, LATENCY_APPLY, LATENCY_EVENT_COUNT };
#define LATENCY_HISTORY 160
struct latency_series {
    uint64_t latest_s;
    uint64_t latest_ms;
    uint64_t max_ms;
    uint64_t samples_s[LATENCY_HISTORY];
    uint64_t samples_ms[LATENCY_HISTORY];
    size_t count;
    size_t next;
};
void stats_latency_event(struct server *server, enum latency_event event, uint64_t duration_ns);
const char *stats_latency_event_name(enum latency_event event);

struct slowlog {
    struct slowlog_entry *entries; /* a ring of slowlog_max_len */
    size_t capacity;
    size_t count;
    size_t next;
    uint64_t next_id;
};

/* A request that could not be answered at once. It sits in its client's FIFO (replies leave
 * in request order) and in one of the server's pending lists. Its reply is built in its own
 * buffer and moved to the client's output once every earlier request is done. */
struct request {
    struct client *client; /* NULL once the client has gone: the outcome is discarded */
    struct request *client_next;
    struct request *pending_prev;
    struct request *pending_next;
    enum request_kind kind;
    bool done;
    bool pending;             /* linked in one of the server's pending lists */
    bool applied_as_proposed; /* write: its entry was applied with the proposed term */
    uint64_t deadline_ms;     /* uv_now() value after which it fails */
    uint64_t index;           /* write: the entry's index; read: the confirmed read index */
    uint64_t term;            /* write: the entry's term */
    uint64_t read_id;         /* read: the id passed to raft_read_index */
    uint64_t min_index;       /* read: the client's last write before it (read your writes) */
    uint8_t *command;         /* read, blocking write: the command, kv-encoded (the argv is gone) */
    bool block_started;       /* blocking write: parked once (blocking.c) */
    bool block_retry;         /* blocking write: proposed again after a signal */
    uint64_t block_deadline_ms; /* blocking write: uv_now() of its timeout (0: none) */
    uint64_t trace_id;          /* sampled for the dashboard's request paths (0: not) */
    size_t command_bytes;
    struct request_stat stat; /* for INFO commandstats and SLOWLOG, at its answer */
    struct proto_buffer reply;
    struct reply_target target; /* reply, in the client's protocol version */
    struct kv_reply sink;       /* kv's replies, into target */
};

/* A doubly linked list of requests, in the order they were added. */
struct request_list {
    struct request *head;
    struct request *tail;
    size_t count;
};

/* Arguments back to back, each with its length: MULTI's queue and WATCH's list (multi.c). */
struct multi_args {
    uint8_t *bytes;
    size_t bytes_used;
    size_t bytes_capacity;
    size_t *lengths;
    size_t count;
    size_t capacity;
};

/* MULTI's queue on a connection (multi.c): the tail of the raft.exec command being built,
 * and the keys WATCH named with their tokens (kv_watch_token), which outlive MULTI. */
struct multi {
    bool active; /* between MULTI and EXEC / DISCARD */
    bool dirty;  /* a command was refused while queueing: EXEC answers EXECABORT */
    bool writes; /* some queued command writes (else the transaction is a read) */
    bool grows;  /* some queued command may grow the data (denyoom) */
    uint32_t commands;
    struct multi_args queue;   /* each command's argument count, then its arguments */
    struct multi_args watched; /* key, token, key, token... */
};

/* CLIENT SESSION: exactly-once writes (kv/session.c). Every write command and every EXEC the
 * connection sends outside MULTI takes the next sequence number, whatever becomes of it. */
struct client_session {
    bool active;
    uint8_t id[KV_SESSION_ID_MAX_BYTES];
    size_t id_bytes;
    uint64_t next_seq;
    uint64_t acked;       /* the number CLIENT SESSION gave: every write below it was answered */
    uint64_t current_seq; /* the number of the command being executed; 0: none */
};

/* A channel or a pattern with subscribers on this node (pubsub.c): its name and its
 * subscribers, in the order they subscribed. Freed when the last one leaves. */
struct pubsub_entry {
    struct pubsub_entry *next; /* the channel table's chain (unused for patterns) */
    uint64_t hash;
    uint8_t *name;
    size_t name_bytes;
    struct client **clients;
    size_t client_count;
    size_t client_capacity;
};

/* Every subscription on this node: channels in a hash table, patterns in a list in the order
 * they were first subscribed. */
struct pubsub_registry {
    struct pubsub_entry **buckets;
    size_t bucket_count;
    size_t channel_count;
    struct pubsub_entry **patterns;
    size_t pattern_count;
    size_t pattern_capacity;
    struct pubsub_target *targets; /* scratch: one message's receivers, listed before writing */
    size_t target_capacity;
    bool delivering;   /* pubsub_deliver runs: emptied entries are freed after it */
    bool prune_needed; /* some entry was emptied meanwhile */
};

/* A connection's subscriptions, in the order it made them (what UNSUBSCRIBE with no argument
 * walks), and its place against the pubsub output limits. */
struct client_pubsub {
    struct pubsub_entry **channels;
    size_t channel_count;
    size_t channel_capacity;
    struct pubsub_entry **patterns;
    size_t pattern_count;
    size_t pattern_capacity;
    uint64_t soft_limit_since_ms; /* when its unsent bytes passed the soft limit (0: below) */
};

/* RAFT.CONSISTENCY: what a read on this connection promises (commands.c). */
enum read_consistency {
    READ_LINEARIZABLE = 0, /* a read index: from the leader, or asked of it by a follower */
    READ_LEASE,            /* the leader's lease when it holds: bounded clock drift */
    READ_STALE,            /* this node's state machine as it is: possibly stale */
};

struct client {
    uv_tcp_t handle;
    struct server *server;
    uint64_t id;
    char address[64];
    char name[128];
    struct client *prev;
    struct client *next;
    struct resp_parser parser;
    struct proto_buffer input;
    struct proto_buffer output;  /* replies ready to be written */
    struct proto_buffer writing; /* the bytes of the write in flight */
    uv_write_t write_request;
    bool write_in_flight;
    struct request *fifo_head; /* requests not yet answered, oldest first */
    struct request *fifo_tail;
    uint32_t fifo_count;
    int protocol;                      /* 2 or 3 (HELLO 3) */
    bool readonly;                     /* READONLY: reads served by this node, even a follower */
    enum read_consistency consistency; /* RAFT.CONSISTENCY: how this connection's reads are */
    bool authenticated;
    char user[KV_ACL_NAME_MAX_BYTES + 1]; /* the ACL user it runs as (acl.c) */
    struct kv_acl_user *acl;              /* that user, compiled; NULL until needed */
    uint64_t acl_generation;              /* kv_acl_generation when it was compiled */
    bool closing;
    bool close_after_reply; /* QUIT */
    bool reading;
    bool flush_scheduled;
    struct client *flush_next;
    uint64_t created_ms;
    uint64_t last_command_ms; /* when its latest command arrived (CLIENT LIST's idle) */
    char last_command[48];    /* that command, as CLIENT LIST's cmd (client_list.c) */
    uint64_t commands;
    uint64_t last_write_index; /* the log index of its latest proposed write */
    uint32_t reads_unanswered; /* linearizable reads not yet executed */
    struct backup *backup;     /* RAFT.BACKUP streaming on this connection (backup.c) */
    struct multi multi;        /* MULTI ... EXEC (multi.c) */
    struct client_session session;
    struct client_pubsub pubsub; /* SUBSCRIBE, PSUBSCRIBE (pubsub.c) */
    struct request_stat stat;    /* the command being executed (stats.c) */
    uint64_t requests_created;
    bool no_evict;           /* CLIENT NO-EVICT (nothing is evicted: shown, not used) */
    struct tls_session *tls; /* NULL: plaintext (client_tls.c) */
};

/* A peer's heartbeat round trips (node.c): the leader's view of its followers. */
struct peer_round_trip {
    raft_node_id peer; /* 0: unused */
    uint64_t sent_ns;  /* the heartbeat awaiting its response; 0: none */
    struct histogram histogram;
};

struct server_stats {
    uint64_t expire_entries;       /* active-expiry entries proposed (clock.c) */
    uint64_t blocked_total;        /* times a blocking command was parked (blocking.c) */
    uint64_t blocked_retries;      /* parked commands proposed again after a signal */
    uint64_t blocked_timeouts;     /* parked commands answered by their timeout */
    uint64_t blocked_unblocked;    /* parked commands answered TRYAGAIN (leadership lost) */
    uint64_t expire_keys_proposed; /* keys they named */
    uint64_t connections_received;
    uint64_t connections_rejected;
    uint64_t commands_processed;
    uint64_t protocol_errors;
    uint64_t writes_committed;
    uint64_t writes_uncertain;
    uint64_t writes_retry;
    uint64_t writes_refused_size;  /* above max-request-bytes */
    uint64_t writes_refused_quota; /* -OOM: the database is above max-db-bytes */
    uint64_t reads_linearizable;
    uint64_t reads_stale;
    uint64_t reads_failed;
    uint64_t redirects;
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    uint64_t fsyncs;
    uint64_t fsync_entries;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t entries_applied;          /* log entries applied to the state machine */
    struct histogram wal_fsync;        /* the WAL's fsync, with the hard state when it changed */
    struct histogram apply;            /* one batch of committed entries into the state machine */
    struct histogram snapshot_save;    /* exporting a snapshot (on a worker thread) */
    struct histogram snapshot_install; /* replacing the state machine with a leader's */
    struct peer_round_trip round_trips[RAFT_MAX_NODES];
    struct command_stat commands[STATS_COMMAND_SLOTS];
    uint64_t ops_samples[16]; /* per second, one sample per 100 ms (INFO's instantaneous_*) */
    uint64_t input_samples[16];
    uint64_t output_samples[16];
    uint64_t sample_commands, sample_input, sample_output, sample_ms;
    size_t sample_next;
    uint64_t pubsub_messages;         /* messages (and notifications) delivered to subscribers */
    uint64_t pubsub_slow_disconnects; /* subscribers closed at the pubsub output limit */
};

/* The Raft side: the core, its storage and its state machine (node.c). */
/* The leader's clock for entry stamps and reads (clock.c). */
struct node_clock {
    bool anchored;            /* an entry of the current term was applied in this process */
    uint64_t anchor_stamp_ms; /* the replicated clock then */
    uint64_t anchor_mono_ms;  /* and the loop's monotonic time then */
    uint64_t last_ms;         /* the largest time handed out: stamps never go backwards */
    uint64_t seen_ms;         /* the replicated clock after the last apply */
};

struct node {
    struct raft *raft;
    struct storage *storage;
    struct kv *kv;
    struct driver driver;      /* the ready loop (src/driver), with node.c's host callbacks */
    bool sync_save_hard_state; /* the fsync in flight also saves sync_hard_state */
    struct raft_hard_state sync_hard_state;
    size_t sync_entry_count;       /* entries the fsync in flight makes durable (stats) */
    uint64_t sync_duration_ns;     /* how long the last fsync took (stats) */
    uint64_t snapshot_duration_ns; /* how long the last export took (stats) */
    int sync_result;
    bool sync_in_flight; /* sync_work queued, after_sync not yet run */
    uv_work_t sync_work;
    bool snapshot_in_progress;
    bool snapshot_commit_pending; /* exported; commit once no fsync is in flight */
    uv_work_t snapshot_work;
    int snapshot_result;
    uint64_t snapshot_index; /* the export's applied point and its data file's measure */
    uint64_t snapshot_term;
    uint64_t snapshot_data_bytes;
    uint64_t snapshot_checksum;
    char snapshot_message[STORAGE_MESSAGE_BYTES];
    uint64_t log_bytes;          /* entry bytes applied since the last snapshot */
    uint64_t kv_unflushed_bytes; /* applied since the last background flush (node.c) */
    bool kv_flush_in_flight;
    int kv_flush_result;
    uv_work_t kv_flush_work;
    bool trash_in_flight; /* storage's trash being emptied on the pool (node.c) */
    int trash_result;
    char trash_path[STORAGE_MAX_PATH_BYTES];
    uv_work_t trash_work;
    bool spare_in_flight; /* the next WAL segment being allocated on the pool (node.c) */
    bool spare_prepared;  /* allocated: storage is told at the next append */
    bool spare_failing;   /* the last allocation failed (warned once; retried after a pause) */
    uint64_t spare_retry_ms;
    int spare_result;
    char spare_path[STORAGE_MAX_PATH_BYTES];
    uint64_t spare_bytes;
    uv_work_t spare_work;
    uint64_t log_bytes_exported; /* log_bytes when the snapshot in progress began */
    char incoming_snapshot_path[CONFIG_PATH_BYTES + 64];
    bool has_incoming_snapshot;
    raft_node_id last_leader;
    uint64_t leader_changes;
    uint64_t next_read_id;
    uint64_t clock_epoch_ns; /* node_set_clock: when the lease's clock was 0 */
    uint64_t max_db_bytes;   /* the space quota in force (config, or half the disk) */
    bool over_quota;         /* the alarm INFO shows; logged when it changes */
    /* A storage or state-machine failure at run time: the node stops taking part (as if it
     * had crashed), answers clients with failure_reason, and reopens its data from disk at
     * recover_at_ms, with a growing backoff, until that succeeds (node_boot.c). */
    bool fatal;
    bool kv_suspect; /* the failure was the state machine's: rebuild it on recovery */
    char failure_reason[STORAGE_MESSAGE_BYTES + 128];
    uint64_t failures;
    uint64_t recover_at_ms;   /* the next reopen */
    uint64_t recovered_at_ms; /* the last successful reopen (0: the start) */
    uint32_t recover_backoff_ms;
    bool data_prepared; /* --restore / --force-new-cluster ran (the first open only) */
    struct node_clock clock;
    uint64_t expire_index;    /* the active-expiry entry in flight (0: none) */
    bool applied_since_ready; /* entries applied: wake blocked pops, expire (node.c) */
    uint64_t expire_term;
};

/* The membership as last loaded from the core (members.c). */
struct members {
    bool loaded;
    bool from_log;  /* the book came from a CONFIG entry (else the flags are the book) */
    bool pending;   /* the configuration in force was not committed yet */
    uint64_t index; /* raft_configuration_index() when loaded */
    struct raft_configuration configuration;
    struct raft_configuration committed; /* in force at the commit index */
    uint32_t count;
    struct config_member book[TRANSPORT_MAX_PEERS + 1]; /* addresses, newest context first */
};

/* A node started with --join asks a member to add it (join.c). */
struct join {
    bool active;
    bool connected;
    uv_tcp_t handle;
    uv_connect_t connect_request;
    uv_write_t write_request;
    uv_timer_t timer;
    bool handles_open;
    char host[CONFIG_HOST_BYTES];
    uint16_t port;
    char request[2 * CONFIG_HOST_BYTES + CONFIG_SECRET_BYTES + 256];
    char reply[512];
    size_t reply_bytes;
    uint32_t replies_expected;
    uint32_t backoff_ms;
    uint32_t redirects;
    struct tls_session *tls; /* tls-only: the member's client port speaks TLS */
    bool request_sent;
};

/* TLS for clients and peers (client_tls.c): the contexts built from the tls-* settings, and
 * the extra listener of tls-port. */
struct server_tls {
    struct tls_context *clients; /* NULL: no TLS client listener */
    struct tls_context *peers;   /* NULL: plaintext peer links */
    struct tls_context *join;    /* tls-only with --join: we dial a member's TLS client port */
    uv_tcp_t listener;           /* tls-port */
    bool listening;
    uint64_t handshake_failures; /* client connections closed by a TLS failure */
    uint64_t reloads;
    uint64_t reload_failures;
};

struct server {
    uv_loop_t *loop;
    struct server_config config;
    struct node node;
    struct transport *transport;
    struct members members;
    struct join join;
    struct backup *backup;       /* the one RAFT.BACKUP in progress */
    struct metrics *metrics;     /* the HTTP listener of --metrics-addr, or NULL (metrics.c) */
    struct dashboard *dashboard; /* what the dashboard shows (dashboard.c), or NULL */
    uv_tcp_t listener;
    uv_timer_t tick_timer;
    uv_timer_t sweep_timer;
    uv_prepare_t prepare;
    uv_check_t check;
    /* Active while the core has a ready the driver left for the next loop turn (it yields
     * after each apply): the loop then polls without waiting, and on_prepare goes on. */
    uv_idle_t more_readies;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_signal_t sighup; /* reloads the TLS certificates */
    struct server_tls tls;
    struct client *clients;
    uint32_t client_count;
    uint64_t next_client_id;
    struct client *flush_list;
    struct request_list pending_writes;      /* ordered by index */
    struct request_list pending_reads;       /* waiting for their read index, by read_id */
    struct request_list reads_waiting_apply; /* read index known, state machine behind */
    struct request_list blocked;             /* blocking commands waiting (blocking.c) */
    struct pubsub_registry pubsub;           /* subscriptions on this node (pubsub.c) */
    struct server_stats stats;
    struct slowlog slowlog;
    struct latency_series latency[LATENCY_EVENT_COUNT];
    uint64_t peak_resident_bytes; /* INFO memory's used_memory_peak */
    char executable[256];
    uint64_t started_ms;
    bool stopping;
    int exit_code;
    char run_id[41];
    /* --replication (replica.h's enum; REPLICA_MODE_RAFT, 0, is the default): in one of the
     * lecture's unsafe foils, `replica` runs the data commands (replication.c). */
    int replication_mode;
    struct replica *replica; /* NULL in Raft mode */
    uint64_t anti_entropy_due_ms;
};

/* replication.c: the lecture's foil modes (never the default) */
/* "raft", "naive" or "lww": what INFO, /api/state and the dashboard's banner show. */
const char *server_replication_name(const struct server *server);
/* Whether the node runs one of the unsafe foils. */
bool server_replication_unsafe(const struct server *server);
/* The multi-line WARNING an unsafe mode logs at start (nothing for Raft). */
void replication_warn(const struct server *server);
/* Creates the mode's replica once the state machine is open: 0, or -1 with error set. */
int replication_start(struct server *server, char *error, size_t error_bytes);
void replication_stop(struct server *server);
/* A data command (authenticated, resolved, arity checked) in a foil mode: a read runs locally,
 * a write applies here, is answered and sent to every sibling; answered at once either way. */
void replication_execute(struct client *client, const struct kv_command *command, size_t argc,
                         const struct kv_arg *argv);
/* A REPLICA frame from a sibling (the transport's on_replica). */
void replication_receive(struct server *server, const struct peer_replica *message);
/* From the sweep timer: lww's anti-entropy round, once per REPLICA_ANTI_ENTROPY_MS. */
void replication_sweep(struct server *server);

/* acl.c: ACL users on connections */
void acl_client_init(struct client *client); /* the default user; authenticated if nopass */
void acl_client_free(struct client *client);
/* AUTH: true when name/password match an enabled user (the connection now runs as it);
 * otherwise replies WRONGPASS (or why the users cannot be read) into out. */
bool acl_authenticate(struct client *client, const struct kv_arg *name,
                      const struct kv_arg *password, struct proto_buffer *out);
bool acl_default_nopass(struct client *client);
/* The same for the node: may anyone run commands as the default user without a password? */
bool acl_server_default_nopass(struct server *server);
/* Whether the connection's user may run argv (data: its kv command, or NULL for a server
 * command whose keys start at server_first_key, 0 for none); else the error text. */
bool acl_permits(struct client *client, size_t argc, const struct kv_arg *argv,
                 const struct kv_command *data, int server_first_key, char *error,
                 size_t error_bytes);
void acl_command(struct client *client, size_t argc, const struct kv_arg *argv);

/* node.c: a peer answered a heartbeat (its round trip, for /metrics) */
void node_note_heartbeat_response(struct server *server, raft_node_id from);

/* metrics.c: /metrics, /livez, /readyz over HTTP (--metrics-addr), and the dashboard's paths */
int metrics_listen(struct server *server);
void metrics_close(struct server *server);
/* The dashboard's event streams (GET /api/events): how many are open, and bytes for all of
 * them (a stream that cannot keep up is closed). */
uint32_t metrics_stream_count(const struct server *server);
void metrics_stream_broadcast(struct server *server, const uint8_t *bytes, size_t length);

/* web_assets.c, generated at build time from web/ (src/server/CMakeLists.txt) */
struct web_asset {
    const char *name; /* "index.html" */
    const uint8_t *data;
    size_t bytes;
};
extern const struct web_asset web_assets[];
extern const size_t web_asset_count;

/* dashboard.c: the live dashboard (started and stopped with the HTTP listener) */
int dashboard_start(struct server *server);
void dashboard_stop(struct server *server);
/* How to answer a GET of the dashboard's: body is filled, the rest told here. */
struct dashboard_answer {
    int status;
    const char *reason;
    const char *content_type;
    const char *location; /* a redirect's target, or NULL */
    bool no_store;        /* Cache-Control: no-store (the /api/ paths) */
};
/* Answers `path` (the URL without its query) if it is one of the dashboard's: /, /dashboard,
 * /dashboard/<file>, /api/state; false when it is not. /api/events is metrics.c's, which
 * opens the stream with dashboard_stream_begin's bytes. */
bool dashboard_answer(struct server *server, const char *path, struct proto_buffer *body,
                      struct dashboard_answer *answer);
void dashboard_stream_begin(struct server *server, struct proto_buffer *out);
/* What the node records for it, each a no-op without a dashboard: a Raft message to or from
 * a peer, a leader change as this node saw it, entries committed (applied false) or applied. */
void dashboard_count_message(struct server *server, const struct raft_message *message,
                             bool outbound);
void dashboard_note_leader(struct server *server, raft_node_id leader, uint64_t term);
void dashboard_note_entries(struct server *server, const struct raft_entry *entries, size_t count,
                            bool applied);
/* A client write's path, sampled: begin returns its id (0: not sampled, the other calls then
 * do nothing); proposed with raft_propose's result; answered with its reply. */
uint64_t dashboard_trace_begin(struct server *server, size_t argc, const struct kv_arg *argv);
void dashboard_trace_proposed(struct server *server, uint64_t id, int result, uint64_t index,
                              uint64_t term);
void dashboard_trace_answered(struct server *server, uint64_t id, const uint8_t *reply,
                              size_t reply_bytes);
/* A command this node redirected at once (a follower's MOVED, CLUSTERDOWN): the whole path. */
void dashboard_trace_redirected(struct server *server, size_t argc, const struct kv_arg *argv,
                                const uint8_t *reply, size_t reply_bytes);
/* info.c: the process's resident set, in bytes (0 when /proc cannot tell) */
uint64_t info_resident_bytes(void);

/* client.c: connections */
int client_listen(struct server *server);
/* Accepts one connection from a listener, as a TLS client or a plaintext one. */
void client_accept(uv_stream_t *listener, bool tls);
/* Bytes were added to the input: checks its limit, then parses and executes what is there. */
void client_input_received(struct client *client);
void client_close(struct client *client);
/* client_command.c: CLIENT KILL */
void client_kill(struct client *self, struct proto_buffer *out, size_t argc,
                 const struct kv_arg *argv);
void client_close_all(struct server *server);
void client_start_reading(struct client *client);
/* client_reply.c: replies in request order */
void client_flush_all(struct server *server);
void client_schedule_flush(struct client *client);
/* Moves the replies of finished requests at the head of the FIFO to the output. */
void client_drain_fifo(struct client *client);
struct request *client_request_new(struct client *client, enum request_kind kind);
void client_request_finish(struct request *request);
void client_request_free(struct request *request);

/* client_tls.c: TLS clients, the contexts, reloads */
/* Builds the contexts from the settings (before anything listens): 0, or -1 with a sentence. */
int server_tls_setup(struct server *server, char *error, size_t error_bytes);
void server_tls_free(struct server *server);
/* Rebuilds both contexts from the files; on failure the old ones stay and error says why. */
int server_tls_reload(struct server *server, char *error, size_t error_bytes);
int client_tls_listen(struct server *server);
void client_tls_close_listener(struct server *server);
/* A fresh connection speaks TLS: 0, or -1 (the caller closes it). */
int client_tls_attach(struct client *client);
void client_tls_on_allocate(uv_handle_t *handle, size_t suggested, uv_buf_t *buffer);
void client_tls_on_read(uv_stream_t *stream, ssize_t count, const uv_buf_t *buffer);
/* client_reply.c's flush for a TLS client: encrypt the output, write the ciphertext. */
void client_tls_flush(struct client *client);
/* The client port to name to this client (MOVED, CLUSTER SLOTS): a TLS client gets the
 * member's TLS port, the client port shifted as ours is (tls-port - port). */
uint16_t client_port_for(const struct client *client, const struct config_member *member);

/* reply.c: RESP replies into a buffer, with the client's protocol version. */
void reply_sink_init(struct kv_reply *sink, struct reply_target *target);
void reply_status(struct proto_buffer *buffer, const char *text);
void reply_error(struct proto_buffer *buffer, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void reply_integer(struct proto_buffer *buffer, int64_t value);
void reply_bulk(struct proto_buffer *buffer, const void *data, size_t length);
void reply_bulk_string(struct proto_buffer *buffer, const char *text);
void reply_null(struct proto_buffer *buffer, int protocol);
void reply_array(struct proto_buffer *buffer, uint64_t count);
/* A HELP subcommand's answer: one status line each, as Redis. */
void reply_help(struct proto_buffer *buffer, const char *const *lines, size_t count);
void reply_map(struct proto_buffer *buffer, int protocol, uint64_t pairs);
void reply_verbatim(struct proto_buffer *buffer, int protocol, const char *text, size_t length);

/* commands.c */
/* Case-insensitive: is the argument this word (a subcommand, an option)? */
bool argument_is(const struct kv_arg *argument, const char *text);
void commands_execute(struct client *client, size_t argc, const struct resp_argument *argv);
/* A kv command already looked up (internal ones included: MULTI's raft.exec), routed as any
 * data command: proposed, read, redirected or refused. */
void commands_execute_resolved(struct client *client, const struct kv_command *command, size_t argc,
                               const struct kv_arg *argv);
bool commands_is_server_command(const struct kv_arg *name);
/* A command's name as Redis's COMMAND and errors give it, lowercase, with the subcommand of a
 * container ("get", "client|list"), NUL-terminated and cut to fit `capacity` (at least 2). */
void commands_full_name(size_t argc, const struct kv_arg *argv, char *out, size_t capacity);
/* Every command called at least once, with its calls (for /metrics). */
typedef void (*commands_call_fn)(void *context, const char *name, const struct command_stat *stat);
void commands_for_each_call(struct server *server, commands_call_fn visit, void *context);
/* Answers at once, in request order (a refused write, MULTI's replies): an error text, a
 * status, an empty array, or the error kv_command_resolve gives for an unknown command or a
 * wrong arity. */
void commands_reply_immediate(struct client *client, const char *error_text);
/* An answer a deferred handler knows at once: write it into the buffer returned (NULL: out of
 * memory, the client is being closed), then call commands_immediate_end. */
struct proto_buffer *commands_immediate_begin(struct client *client, struct request **request);
void commands_immediate_end(struct request *request);
void commands_reply_status_immediate(struct client *client, const char *status);
void commands_reply_empty_array(struct client *client);
void commands_reply_resolve_error(struct client *client, size_t argc, const struct kv_arg *argv);

/* commands_server.c: the handlers of the server's own commands (commands.c's table). */
#define SERVER_HANDLER(name)                                                                       \
    void name(struct client *client, struct proto_buffer *out, size_t argc,                        \
              const struct kv_arg *argv)
SERVER_HANDLER(command_ping);
SERVER_HANDLER(command_echo);
SERVER_HANDLER(command_quit);
SERVER_HANDLER(command_select);
SERVER_HANDLER(command_auth);
SERVER_HANDLER(command_hello);
SERVER_HANDLER(command_client);
/* client_list.c: CLIENT LIST [TYPE t | ID id...] and CLIENT INFO, and what they show. */
void client_note_command(struct client *client, size_t argc, const struct kv_arg *argv);
SERVER_HANDLER(client_list_command);
void client_info_command(struct client *client, struct proto_buffer *out);
SERVER_HANDLER(command_readonly);
SERVER_HANDLER(command_raft_consistency);
SERVER_HANDLER(command_readwrite);
SERVER_HANDLER(command_config);
SERVER_HANDLER(command_info);
SERVER_HANDLER(command_cluster);
SERVER_HANDLER(command_raft_info);
SERVER_HANDLER(command_slowlog);
SERVER_HANDLER(command_latency);
SERVER_HANDLER(command_raft_transfer);
SERVER_HANDLER(command_raft_tls); /* client_tls.c: RAFT.TLS RELOAD */

/* fault.c: the operator's side of fault injection (--enable-fault-injection) */
SERVER_HANDLER(command_raft_fault);
/* {"enabled":bool,"active":[{"action":"cut","peer":2,"direction":"out",...},...]}, appended
 * (for /api/faults and the dashboard's /api/state). */
void fault_describe_json(const struct server *server, struct proto_buffer *out);
/* INFO's fault_injection_active: "cut-out:2,delay:3:200ms" ("" when none). */
void fault_describe_text(const struct server *server, char *out, size_t out_bytes);
/* POST /api/fault (post: the body, a JSON object) or GET /api/faults: writes the JSON answer
 * into out and returns the HTTP status (200, 400, 403). */
int fault_http(struct server *server, bool post, const uint8_t *body, size_t body_bytes,
               struct proto_buffer *out);

/* multi.c */
SERVER_HANDLER(command_multi);
SERVER_HANDLER(command_watch);
SERVER_HANDLER(command_unwatch);
SERVER_HANDLER(command_discard);
void multi_exec(struct client *client, size_t argc, const struct kv_arg *argv);
/* Inside MULTI, queues (or refuses) a command and answers it; false when the command is not
 * for the queue (the connection is not in MULTI, or it is EXEC, DISCARD, MULTI, ...). */
bool multi_intercept(struct client *client, size_t argc, const struct kv_arg *argv);
void multi_reset(struct client *client);
/* The error a node answers when it cannot take a request: MOVED to the leader (its TLS port
 * for a TLS client), or CLUSTERDOWN. key may be NULL (slot 0); client may be NULL (gone). */
void commands_redirect(struct server *server, const struct client *client,
                       struct proto_buffer *buffer, const struct kv_arg *key);

/* members.c: the book of addresses, the transport's peers */
#define MEMBERS_LINE_BYTES        (2 * CONFIG_HOST_BYTES + 64) /* "ID=CLIENT,PEER\n" */
#define MEMBERS_CONTEXT_MAX_BYTES (2 * RAFT_MAX_NODES * MEMBERS_LINE_BYTES)
/* Reloads the membership if the core's configuration changed, and tells the transport. */
void members_refresh(struct server *server);
/* Where a member listens: the configuration's address book, else the --member flags (this
 * node's own line always). NULL when unknown. */
const struct config_member *members_address(const struct server *server, raft_node_id id);
/* The members of the configuration in force whose address is known, voters first; out has
 * room for TRANSPORT_MAX_PEERS. */
uint32_t members_list(const struct server *server, const struct config_member **out);
/* The address book of the configuration in force as a CONFIG entry's context: one
 * "ID=CLIENT,PEER" line per member but `removed` (RAFT_NODE_NONE: none), and one for `added`
 * (NULL: none). Returns the bytes written to out. */
size_t members_build_context(const struct server *server, const struct config_member *added,
                             raft_node_id removed, char *out, size_t out_bytes);
/* members_command.c: RAFT.NODE ADD|PROMOTE|DEMOTE|REMOVE|LIST; a change is answered once
 * applied. */
void members_command(struct client *client, size_t argc, const struct kv_arg *argv);

/* backup.c */
/* RAFT.BACKUP: streams a copy of the state machine (proto/backup.h) and closes. */
void backup_command(struct client *client, size_t argc, const struct kv_arg *argv);
/* Queues more of the stream into the client's output; false when the stream failed (the
 * caller closes the connection). */
bool backup_pump(struct client *client);
void backup_client_gone(struct client *client);
/* Is there more of the stream to queue now (the export done, the replies before it out)? */
bool backup_has_more(const struct client *client);
/* Is an export running on the thread pool (it reads the state machine)? */
bool backup_exporting(const struct server *server);

/* join.c */
/* Starts asking config.join to add this node, if it is started with --join and is not a
 * member of any configuration yet; stops by itself once the node is a member. */
void join_start(struct server *server);
void join_stop(struct server *server);

/* info.c */
void info_generate(struct server *server, struct proto_buffer *text, const char *section);
void cluster_command(struct client *client, struct proto_buffer *out, size_t argc,
                     const struct kv_arg *argv);
void raft_info_command(struct client *client, struct proto_buffer *out);

/* node.c */
int node_start(struct server *server, char *error, size_t error_bytes);
void node_stop(struct server *server);
void node_process_ready(struct server *server);
/* Hands the node's core to a fresh driver (at start, and after a recovery). */
void node_start_driver(struct server *server, const struct raft_hard_state *saved_hard_state);
void node_tick(struct server *server);
void node_on_peer_message(struct server *server, const struct raft_message *message,
                          const char *snapshot_data_path);
/* Proposes a client's write; returns 0, or a raft error for the caller to answer. */
int node_propose(struct server *server, struct request *request, const uint8_t *data,
                 size_t data_bytes);
/* A proposed entry at (index, term) now decides `request`: it waits in pending_writes. */
void node_track_write(struct server *server, struct request *request, uint64_t index,
                      uint64_t term);
int node_read_index(struct server *server, struct request *request);
/* The same from the leader's lease when it holds (raft_read_lease): no round. */
int node_read_lease(struct server *server, struct request *request);
/* Brings the core's lease clock up to the monotonic clock (raft_set_clock); before any step. */
void node_set_clock(struct server *server);
/* Is the state machine above its space quota (max-db-bytes)? */
bool node_over_quota(const struct server *server);
/* A storage or apply failure at run time: fail every waiting request, stop taking part, and
 * recover later (node_boot.c). The process does not exit. */
void node_fail(struct server *server, const char *reason);
/* Called from the sweep timer: reopens the data of a failed node when its time has come. */
void node_maybe_recover(struct server *server);
/* Sets the next reopen: after a node that ran (node_fail), a short backoff if it had run a
 * while since its last recovery; after a reopen that failed, a doubled one (up to 10 s). */
void node_schedule_recovery(struct server *server, bool after_running);
void node_sweep_timeouts(struct server *server);
bool node_is_leader(const struct server *server);

/* Shared by node.c (the ready loop, requests, snapshots) and node_boot.c (start, stop,
 * recovery). */
void node_path_join(char *out, size_t out_bytes, const char *directory, const char *name);
/* Every pending write at or below last_index has an outcome now (node.c). */
void node_settle_writes(struct server *server, uint64_t first_index, uint64_t last_index);
/* node_restore.c: --restore and --force-new-cluster, between storage_open and the rest of
 * the first start; *reopen asks for storage to be opened again. 0, or -1 with error set. */
int node_prepare_data(struct server *server, const struct storage_recovered *recovered,
                      bool *reopen, char *error, size_t error_bytes);
/* node_snapshot.c: the leader's snapshot of a ready, and our own when it is time. */
void node_install_snapshot(struct server *server, const struct raft_snapshot_meta *meta);
void node_maybe_snapshot(struct server *server);
/* Loads a snapshot's data file into the state machine; 0 or -1 (logged). */
int node_import_snapshot(struct server *server, const char *data_path,
                         const struct raft_snapshot_meta *meta);

/* clock.c: the leader's time, and active expiry */
/* The time to stamp an entry with (Unix ms): never below the replicated clock or any time
 * handed out before, and within CLOCK_MAX_CORRECTION_MS of the time the anchor predicts. */
uint64_t node_clock_stamp(struct server *server);
/* The time a read on this node compares deadlines with: the leader's clock, or 0 on any
 * other node (kv then uses its applied clock). */
uint64_t node_clock_read(struct server *server);
/* After entries applied: anchors the clock to the replicated one. */
void node_clock_applied(struct server *server, const struct raft_entry *last);
/* On the leader, proposes the deletion of keys whose deadline has passed, one entry at a
 * time (called by the sweep, and when the previous expiry entry has applied). */
void node_expire_keys(struct server *server);

/* pubsub.c: SUBSCRIBE, PSUBSCRIBE, their UNSUBSCRIBEs, PUBSUB, and the delivery of what kv
 * publishes */
SERVER_HANDLER(command_subscribe);
SERVER_HANDLER(command_unsubscribe);
SERVER_HANDLER(command_psubscribe);
SERVER_HANDLER(command_punsubscribe);
SERVER_HANDLER(command_pubsub);
SERVER_HANDLER(command_reset);
/* The connection's channels and patterns: in RESP2, more than 0 puts it in subscribed mode. */
size_t pubsub_subscription_count(const struct client *client);
/* In RESP2 subscribed mode, refuses (with Redis's error) a command Redis refuses there;
 * false when the command may run. */
bool pubsub_refuses(struct client *client, size_t argc, const struct kv_arg *argv);
/* Drops the connection's subscriptions (it closes, or RESET), sending nothing. */
void pubsub_client_gone(struct client *client);
/* After a batch applied: hands the messages it published to this node's subscribers. */
void pubsub_deliver(struct server *server);
/* kv's count of receivers (kv_set_receivers). */
uint64_t pubsub_receivers(void *context, const uint8_t *channel, size_t channel_bytes);
void pubsub_free(struct server *server);
/* The pubsub output limits, Redis's client-output-buffer-limit pubsub <hard> <soft> <seconds>:
 * true when a subscriber with `unsent_bytes` not yet written must be disconnected now.
 * *soft_since_ms remembers when it passed the soft limit (0: it is below). */
bool pubsub_output_limit_reached(uint64_t unsent_bytes, uint64_t hard_bytes, uint64_t soft_bytes,
                                 uint64_t soft_seconds, uint64_t now_ms, uint64_t *soft_since_ms);

/* blocking.c */
/* A write whose entry replied `blocked`: wait for a signal on its keys, or its timeout. */
void blocking_park(struct server *server, struct request *request);
/* After a batch applied: proposes again the oldest waiter on each key that got members. */
void blocking_wake(struct server *server);
/* From the sweep: timeouts, clients gone, leadership lost. */
void blocking_sweep(struct server *server);
void blocking_fail_all(struct server *server, const char *text);

/* request lists */
void request_list_push(struct request_list *list, struct request *request);
void request_list_push_front(struct request_list *list, struct request *request);
void request_list_remove(struct request_list *list, struct request *request);
void request_list_discard(struct request_list *list);

uint64_t server_now_ms(const struct server *server);

#endif
