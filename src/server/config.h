/*
 * config.h — a node's configuration: command-line flags and an optional config file with the
 * same names (one "name value" per line, '#' comments), flags winning over the file.
 *
 * Failure modes: an unknown name, a malformed value, a missing required setting (id, members,
 * data directory) or an inconsistent one (our id not among the members, heartbeat not below
 * the election timeout) is reported in one sentence in the caller's buffer, and the node does
 * not start. Nothing here allocates: the struct holds everything by value.
 */
#ifndef RAFTKV_SERVER_CONFIG_H
#define RAFTKV_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "raft/raft.h"
#include "server/log.h"

#define CONFIG_HOST_BYTES       256
#define CONFIG_PATH_BYTES       1024
#define CONFIG_SECRET_BYTES     1024
#define CONFIG_CLUSTER_ID_BYTES 16

struct config_member {
    raft_node_id id;
    char client_host[CONFIG_HOST_BYTES];
    uint16_t client_port;
    char peer_host[CONFIG_HOST_BYTES];
    uint16_t peer_port;
    /* Where the member serves HTTP (its --metrics-addr: metrics, health, the dashboard),
     * "HOST:PORT", or empty when unknown. Only the --member flags give it (an optional third
     * address); the address book in the log never carries it (design note 24). */
    char http[CONFIG_HOST_BYTES + 8];
};

struct server_config {
    raft_node_id id;
    uint32_t member_count;
    struct config_member members[RAFT_MAX_NODES];
    char data_directory[CONFIG_PATH_BYTES];
    char cluster_id[CONFIG_CLUSTER_ID_BYTES + 1];
    char secret[CONFIG_SECRET_BYTES + 1];
    char requirepass[CONFIG_SECRET_BYTES + 1];
    uint32_t tick_ms;
    uint32_t heartbeat_ms;
    uint32_t election_timeout_ms;
    uint32_t request_timeout_ms; /* a command that cannot complete gets an error then */
    uint32_t max_clients;
    uint64_t max_bulk_bytes;          /* longest string argument (proto-max-bulk-len) */
    uint64_t max_request_bytes;       /* largest write, as a log entry (base/limits.h) */
    uint32_t max_array_length;        /* most arguments in one request */
    uint64_t max_query_buffer_bytes;  /* unparsed input per client */
    uint64_t max_output_buffer_bytes; /* replies not yet written, per client */
    uint32_t max_pipeline_requests;   /* requests in progress per client before it is paused */
    uint64_t pubsub_hard_limit_bytes; /* a subscriber with this much unsent is disconnected */
    uint64_t pubsub_soft_limit_bytes; /* ... or with this much for pubsub_soft_limit_seconds */
    uint64_t pubsub_soft_limit_seconds;
    uint64_t snapshot_entries;   /* take a snapshot after this many applied entries */
    uint64_t snapshot_log_bytes; /* ... or once the log since the last one holds this */
    uint64_t max_db_bytes;       /* space quota of the state machine; 0 = half the disk */
    uint64_t wal_segment_bytes;  /* the WAL rolls to a new (preallocated) file here */
    uint32_t max_inflight_appends;
    uint64_t promote_max_lag;                 /* RAFT.NODE PROMOTE: entries a learner may lag */
    char join[CONFIG_HOST_BYTES + 8];         /* a member's client HOST:PORT, or empty */
    char restore[CONFIG_PATH_BYTES];          /* a backup to start a new cluster from, or empty */
    bool force_new_cluster;                   /* rewrite the configuration to this node alone */
    char metrics_addr[CONFIG_HOST_BYTES + 8]; /* HTTP /metrics HOST:PORT, or empty: none */
    bool follower_reads;                      /* connections start READONLY */
    /* TLS (client_tls.c, tls.c): files, listeners and who must present a certificate. */
    uint32_t tls_port;           /* an extra TLS client listener; 0: none */
    bool tls_only;               /* the member's client port speaks TLS itself */
    bool tls_replication;        /* every peer link TLS, certificates both ways */
    bool tls_verify_peer_name;   /* a peer's certificate must name its --member peer address */
    bool enable_fault_injection; /* RAFT.FAULT and POST /api/fault: tests and demos only */
    char tls_cert_file[CONFIG_PATH_BYTES];    /* PEM chain, ours first */
    char tls_key_file[CONFIG_PATH_BYTES];     /* PEM private key */
    char tls_ca_cert_file[CONFIG_PATH_BYTES]; /* PEM CAs certificates must chain to */
    char tls_auth_clients[16];                /* yes (default), no, optional */
    enum log_level log_level;
    int64_t slowlog_log_slower_than; /* microseconds; -1: off, 0: every command */
    uint64_t slowlog_max_len;
    uint64_t latency_monitor_threshold;  /* milliseconds; 0: off */
    char config_file[CONFIG_PATH_BYTES]; /* --config FILE, for CONFIG REWRITE; or empty */
    char replication[16]; /* raft (default), or the lecture's foils naive, lww (src/replica) */
};

void config_default(struct server_config *config);
/* Parses argv (and the file named by --config). Returns 0, 1 when --help was printed, or
 * -1 with a sentence in error. */
int config_parse(struct server_config *config, int argc, char **argv, char *error,
                 size_t error_bytes);
void config_print_help(const char *program);
const struct config_member *config_member(const struct server_config *config, raft_node_id id);
/* "ID=CLIENT_HOST:PORT,PEER_HOST:PORT", as the address book in the log holds it: 0, or -1 for
 * malformed text. (A --member flag may add ",HTTP_HOST:PORT"; only the flags' parser takes it.) */
int config_parse_member(const char *text, struct config_member *member);
/* The same text back (IPv6 hosts in brackets), without the HTTP address. */
void config_format_member(const struct config_member *member, char *out, size_t out_bytes);
/* At run time: a setting's value as text (-1: no such setting); a new value, checked as at
 * start (-1, with the reason in error); every setting's name; and CONFIG REWRITE's new file
 * (-1, with the reason: no file was given, or it cannot be written). */
int config_format_value(const struct server_config *config, const char *name, char *out,
                        size_t out_bytes);
int config_set_value(struct server_config *config, const char *name, const char *value, char *error,
                     size_t error_bytes);
/* The settings table, for the generated documents (config_document.c): each setting's name,
 * help sentence and the placeholder its value is written as; all strings are static. */
struct config_setting_info {
    const char *name;
    const char *help;
    const char *value_name; /* "N", "VALUE", "yes|no", ... */
};
size_t config_setting_count(void);
void config_setting_describe(size_t index, struct config_setting_info *info);
/* config_document.c: the commented config file (every setting, its help and its default;
 * data_directory is the example data-dir line's value) and the settings part of raftkv(1), in
 * roff, both on stdout. */
void config_print_template(const char *data_directory);
void config_print_man_settings(void);
typedef void (*config_setting_fn)(void *context, const char *name);
void config_for_each_setting(config_setting_fn visit, void *context);
int config_rewrite(const struct server_config *config, const char *const *names, size_t count,
                   char *error, size_t error_bytes);
/* Does any listener or link use TLS (so the certificate files are needed)? */
bool config_uses_tls(const struct server_config *config);
/* "HOST:PORT" with a numeric host: 0, or -1. */
int config_parse_address(const char *text, char *host, size_t host_bytes, uint16_t *port);

#endif
