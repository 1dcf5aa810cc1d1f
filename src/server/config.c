/*
 * config.c — parsing flags and the config file into struct server_config.
 *
 * Every setting has one name, used as "--name value" on the command line and "name value" in
 * the file, and one row in the settings table below (with its help text), so the two forms
 * and --help can never disagree.
 */
#include "server/config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/version.h"

enum setting_kind {
    SETTING_U32,
    SETTING_U64,
    SETTING_STRING,
    SETTING_MEMBER,
    SETTING_BOOL, /* yes|no; a flag alone means yes */
    SETTING_LOG_LEVEL,
    SETTING_ID,
    SETTING_I64,
};

struct setting {
    const char *name;
    enum setting_kind kind;
    size_t offset;
    size_t string_bytes;
    const char *help;
};

#define FIELD(name) offsetof(struct server_config, name)

static const struct setting settings[] = {
    {"id", SETTING_ID, FIELD(id), 0, "this node's id, a positive integer (required)"},
    {"member", SETTING_MEMBER, 0, 0,
     "ID=CLIENT_HOST:PORT,PEER_HOST:PORT[,HTTP_HOST:PORT] — one per node, this one included "
     "(required; repeat); the optional third address is the member's --metrics-addr, which "
     "the dashboard uses to reach it"},
    {"join", SETTING_STRING, FIELD(join), sizeof(((struct server_config *)0)->join),
     "HOST:PORT, the client address of any member of a running cluster: a node whose data "
     "directory holds no configuration asks to be added there as a learner, then waits for "
     "the leader (default: none; start with only this node's --member line)"},
    {"promote-max-lag", SETTING_U64, FIELD(promote_max_lag), 0,
     "RAFT.NODE PROMOTE refuses a learner more than this many entries behind the leader "
     "(default 1000)"},
    {"restore", SETTING_STRING, FIELD(restore), sizeof(((struct server_config *)0)->restore),
     "FILE: start a new single-node cluster of this node from a backup (raftkv-backup); the "
     "data directory must hold no data; grow it with RAFT.NODE ADD (default: none)"},
    {"force-new-cluster", SETTING_BOOL, FIELD(force_new_cluster), 0,
     "disaster recovery after a majority is lost for good: rewrite the configuration to this "
     "node alone, keeping its data, and say what may have been lost (default no)"},
    {"data-dir", SETTING_STRING, FIELD(data_directory),
     sizeof(((struct server_config *)0)->data_directory),
     "directory for the log, the snapshots and the database (required)"},
    {"cluster-id", SETTING_STRING, FIELD(cluster_id),
     sizeof(((struct server_config *)0)->cluster_id),
     "name shared by the cluster's nodes, at most 16 bytes; peers of another cluster are "
     "refused (default raftkv)"},
    {"secret", SETTING_STRING, FIELD(secret), sizeof(((struct server_config *)0)->secret),
     "shared secret that peers prove with an HMAC (default: none)"},
    {"requirepass", SETTING_STRING, FIELD(requirepass),
     sizeof(((struct server_config *)0)->requirepass),
     "password clients must give with AUTH (default: none)"},
    {"tick-ms", SETTING_U32, FIELD(tick_ms), 0, "length of one Raft tick (default 10)"},
    {"heartbeat-ms", SETTING_U32, FIELD(heartbeat_ms), 0, "leader heartbeat interval (default 50)"},
    {"election-timeout-ms", SETTING_U32, FIELD(election_timeout_ms), 0,
     "follower waits a random time in [T, 2T) before campaigning (default 500)"},
    {"request-timeout-ms", SETTING_U32, FIELD(request_timeout_ms), 0,
     "a command that cannot complete in this time gets an error (default 5000)"},
    {"max-clients", SETTING_U32, FIELD(max_clients), 0, "client connections (default 10000)"},
    {"max-bulk-bytes", SETTING_U64, FIELD(max_bulk_bytes), 0,
     "longest string argument, Redis's proto-max-bulk-len (default 8388608, at most "
     "536870912)"},
    {"max-request-bytes", SETTING_U64, FIELD(max_request_bytes), 0,
     "largest write request, all arguments together (default 16777216, at least "
     "max-bulk-bytes + 65536, at most 603979776)"},
    {"max-array-length", SETTING_U32, FIELD(max_array_length), 0,
     "most arguments in one request (default 1048576)"},
    {"max-query-buffer-bytes", SETTING_U64, FIELD(max_query_buffer_bytes), 0,
     "unparsed input per client (default 1073741824)"},
    {"max-output-buffer-bytes", SETTING_U64, FIELD(max_output_buffer_bytes), 0,
     "unsent replies per client before it is disconnected (default 1073741824)"},
    {"max-pipeline-requests", SETTING_U32, FIELD(max_pipeline_requests), 0,
     "requests in progress per client before reading from it pauses (default 1024)"},
    {"pubsub-hard-limit-bytes", SETTING_U64, FIELD(pubsub_hard_limit_bytes), 0,
     "a subscriber whose unsent messages and replies reach this is disconnected, as Redis's "
     "client-output-buffer-limit pubsub hard limit (default 33554432; 0: none)"},
    {"pubsub-soft-limit-bytes", SETTING_U64, FIELD(pubsub_soft_limit_bytes), 0,
     "... or that stays at or above this for more than pubsub-soft-limit-seconds (default "
     "8388608; 0: none)"},
    {"pubsub-soft-limit-seconds", SETTING_U64, FIELD(pubsub_soft_limit_seconds), 0,
     "the soft limit's grace (default 60)"},
    {"snapshot-entries", SETTING_U64, FIELD(snapshot_entries), 0,
     "take a snapshot and compact the log every this many entries (default 100000)"},
    {"snapshot-log-bytes", SETTING_U64, FIELD(snapshot_log_bytes), 0,
     "also take a snapshot once the log since the last one holds this many bytes (default "
     "536870912)"},
    {"max-db-bytes", SETTING_U64, FIELD(max_db_bytes), 0,
     "space quota: above it the leader refuses writes that can grow the data with -OOM "
     "(default 0: half the size of the data directory's file system)"},
    {"wal-segment-bytes", SETTING_U64, FIELD(wal_segment_bytes), 0,
     "size of each preallocated WAL segment file (default 67108864)"},
    {"max-inflight-appends", SETTING_U32, FIELD(max_inflight_appends), 0,
     "unacknowledged append messages per follower (default 256)"},
    {"follower-reads", SETTING_BOOL, FIELD(follower_reads), 0,
     "yes: every client connection starts as after READONLY, so a follower serves its reads "
     "itself (linearizable: it asks the leader for a read index) instead of redirecting them; "
     "for load balancers and clients that send no READONLY (default no)"},
    {"metrics-addr", SETTING_STRING, FIELD(metrics_addr),
     sizeof(((struct server_config *)0)->metrics_addr),
     "HOST:PORT to serve /metrics (Prometheus), /livez and /readyz over HTTP on (default: "
     "none)"},
    {"slowlog-log-slower-than", SETTING_I64, FIELD(slowlog_log_slower_than), 0,
     "SLOWLOG keeps commands that took at least this many microseconds from arrival to answer "
     "(default 10000; 0: every command; -1: none)"},
    {"slowlog-max-len", SETTING_U64, FIELD(slowlog_max_len), 0,
     "entries SLOWLOG keeps (default 128)"},
    {"latency-monitor-threshold", SETTING_U64, FIELD(latency_monitor_threshold), 0,
     "LATENCY records events (commands, fsyncs, applies) of at least this many milliseconds "
     "(default 0: off)"},
    {"tls-port", SETTING_U32, FIELD(tls_port), 0,
     "also listen for TLS clients on this port of the node's client host (default 0: none)"},
    {"tls-only", SETTING_BOOL, FIELD(tls_only), 0,
     "the client port of --member speaks TLS and no plaintext client port is opened, as "
     "Redis's port 0 with tls-port (default no)"},
    {"tls-replication", SETTING_BOOL, FIELD(tls_replication), 0,
     "every peer connection uses TLS, both sides presenting a certificate of "
     "tls-ca-cert-file's CA; plaintext peers are refused (default no)"},
    {"tls-verify-peer-name", SETTING_BOOL, FIELD(tls_verify_peer_name), 0,
     "with tls-replication, a peer's certificate must also name the peer's address of "
     "--member in its subjectAltName (IP address), checked by both the dialing and the "
     "accepting side (default no)"},
    {"tls-cert-file", SETTING_STRING, FIELD(tls_cert_file),
     sizeof(((struct server_config *)0)->tls_cert_file),
     "PEM certificate (chain) this node presents to clients and peers"},
    {"tls-key-file", SETTING_STRING, FIELD(tls_key_file),
     sizeof(((struct server_config *)0)->tls_key_file), "PEM private key of tls-cert-file"},
    {"tls-ca-cert-file", SETTING_STRING, FIELD(tls_ca_cert_file),
     sizeof(((struct server_config *)0)->tls_ca_cert_file),
     "PEM CA certificates that client and peer certificates must chain to"},
    {"tls-auth-clients", SETTING_STRING, FIELD(tls_auth_clients),
     sizeof(((struct server_config *)0)->tls_auth_clients),
     "yes: TLS clients must present a certificate of the CA; optional: verified if given; "
     "no: not asked (default yes)"},
    {"enable-fault-injection", SETTING_BOOL, FIELD(enable_fault_injection), 0,
     "tests and demos only, never in production: RAFT.FAULT and POST /api/fault on "
     "--metrics-addr may cut, delay, drop and reorder this node's messages to and from its "
     "peers (default no; refused otherwise)"},
    {"log-level", SETTING_LOG_LEVEL, FIELD(log_level), 0,
     "debug, info, warning or error (default info)"},
    {"replication", SETTING_STRING, FIELD(replication),
     sizeof(((struct server_config *)0)->replication),
     "raft (the default, and the only mode for real data), or the lecture's unsafe foils: naive "
     "(write to every sibling, ignore errors, read locally) or lww (last writer wins, "
     "anti-entropy); see docs/operations.md"},
};

#define SETTING_COUNT (sizeof settings / sizeof settings[0])

void config_default(struct server_config *config)
{
    memset(config, 0, sizeof *config);
    snprintf(config->cluster_id, sizeof config->cluster_id, "raftkv");
    snprintf(config->replication, sizeof config->replication, "raft");
    config->tick_ms = 10;
    config->heartbeat_ms = 50;
    config->election_timeout_ms = 500;
    config->request_timeout_ms = 5000;
    config->max_clients = 10000;
    config->max_bulk_bytes = LIMITS_DEFAULT_BULK_BYTES;
    config->max_request_bytes = LIMITS_DEFAULT_REQUEST_BYTES;
    config->max_array_length = 1024 * 1024;
    config->max_query_buffer_bytes = 1ull << 30;
    config->max_output_buffer_bytes = 1ull << 30;
    config->max_pipeline_requests = 1024;
    config->pubsub_hard_limit_bytes = 32ull * 1024 * 1024;
    config->pubsub_soft_limit_bytes = 8ull * 1024 * 1024;
    config->pubsub_soft_limit_seconds = 60;
    config->snapshot_entries = 100000;
    config->snapshot_log_bytes = 512ull * 1024 * 1024;
    config->max_db_bytes = 0;
    config->wal_segment_bytes = 64ull * 1024 * 1024;
    config->max_inflight_appends = 256;
    config->promote_max_lag = 1000;
    config->log_level = LOG_LEVEL_INFO;
    config->slowlog_log_slower_than = 10000;
    config->slowlog_max_len = 128;
    config->latency_monitor_threshold = 0;
    snprintf(config->tls_auth_clients, sizeof config->tls_auth_clients, "yes");
}

bool config_uses_tls(const struct server_config *config)
{
    return config->tls_port != 0 || config->tls_only || config->tls_replication;
}

void config_print_help(const char *program)
{
    printf("Usage: %s [--config FILE] [--name value ...]\n\n"
           "raftkv: a strongly consistent, Raft-replicated key-value server that speaks the\n"
           "Redis protocol. Each setting is a flag (--name value) or a line of the config\n"
           "file (name value); flags win.\n\n",
           program);
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        printf("  --%-24s %s\n", settings[i].name, settings[i].help);
    }
    printf("  --%-24s %s\n", "config", "read settings from FILE first");
    printf("  --%-24s %s\n", "version", "print the version and the commit built from");
    printf("  --%-24s %s\n", "help", "print this text");
    printf("\nExample, node 1 of 3:\n  %s --id 1 --data-dir /var/lib/raftkv/1 \\\n"
           "    --member 1=127.0.0.1:6379,127.0.0.1:7379 \\\n"
           "    --member 2=127.0.0.1:6380,127.0.0.1:7380 \\\n"
           "    --member 3=127.0.0.1:6381,127.0.0.1:7381\n",
           program);
}

static int parse_unsigned(const char *text, uint64_t max, uint64_t *out)
{
    if (text[0] < '0' || text[0] > '9') {
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > max) {
        return -1;
    }
    *out = value;
    return 0;
}

/* "HOST:PORT", the host numeric (an IPv6 host goes in brackets: "[::1]:6379"). */
static int parse_address(const char *text, char *host, size_t host_bytes, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text) {
        return -1;
    }
    const char *host_start = text;
    size_t host_length = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        host_start++;
        host_length -= 2;
    }
    uint64_t value;
    if (host_length == 0 || host_length >= host_bytes ||
        parse_unsigned(colon + 1, 65535, &value) != 0 || value == 0) {
        return -1;
    }
    memcpy(host, host_start, host_length);
    host[host_length] = '\0';
    *port = (uint16_t)value;
    return 0;
}

int config_parse_address(const char *text, char *host, size_t host_bytes, uint16_t *port)
{
    return parse_address(text, host, host_bytes, port);
}

int config_parse_member(const char *text, struct config_member *member)
{
    char copy[2 * CONFIG_HOST_BYTES + 64];
    if (strlen(text) >= sizeof copy) {
        return -1;
    }
    strcpy(copy, text);
    char *equals = strchr(copy, '=');
    char *comma = equals != NULL ? strchr(equals, ',') : NULL;
    if (equals == NULL || comma == NULL) {
        return -1;
    }
    *equals = '\0';
    *comma = '\0';
    memset(member, 0, sizeof *member);
    uint64_t id;
    if (parse_unsigned(copy, UINT32_MAX, &id) != 0 || id == 0 ||
        parse_address(equals + 1, member->client_host, sizeof member->client_host,
                      &member->client_port) != 0 ||
        parse_address(comma + 1, member->peer_host, sizeof member->peer_host, &member->peer_port) !=
            0) {
        return -1;
    }
    member->id = id;
    return 0;
}

static void format_address(char *out, size_t out_bytes, const char *host, uint16_t port)
{
    bool bracket = strchr(host, ':') != NULL;
    snprintf(out, out_bytes, "%s%s%s:%u", bracket ? "[" : "", host, bracket ? "]" : "",
             (unsigned)port);
}

void config_format_member(const struct config_member *member, char *out, size_t out_bytes)
{
    char client[CONFIG_HOST_BYTES + 16];
    char peer[CONFIG_HOST_BYTES + 16];
    format_address(client, sizeof client, member->client_host, member->client_port);
    format_address(peer, sizeof peer, member->peer_host, member->peer_port);
    snprintf(out, out_bytes, "%llu=%s,%s", (unsigned long long)member->id, client, peer);
}

/* A --member flag: the address book's text, and optionally ",HTTP_HOST:PORT" after it. */
static int parse_member(struct server_config *config, const char *text)
{
    if (config->member_count >= RAFT_MAX_NODES) {
        return -1;
    }
    char copy[3 * CONFIG_HOST_BYTES + 64];
    if (strlen(text) >= sizeof copy) {
        return -1;
    }
    strcpy(copy, text);
    char *first_comma = strchr(copy, ',');
    char *http = first_comma != NULL ? strchr(first_comma + 1, ',') : NULL;
    if (http != NULL) {
        *http++ = '\0';
    }
    struct config_member member;
    if (config_parse_member(copy, &member) != 0 || config_member(config, member.id) != NULL) {
        return -1;
    }
    if (http != NULL) {
        char host[CONFIG_HOST_BYTES];
        uint16_t port;
        if (parse_address(http, host, sizeof host, &port) != 0 ||
            strlen(http) >= sizeof member.http) {
            return -1;
        }
        snprintf(member.http, sizeof member.http, "%s", http);
    }
    config->members[config->member_count++] = member;
    return 0;
}

static int apply_setting(struct server_config *config, const struct setting *setting,
                         const char *value)
{
    uint8_t *base = (uint8_t *)config;
    uint64_t number;
    switch (setting->kind) {
    case SETTING_U32:
        if (parse_unsigned(value, UINT32_MAX, &number) != 0) {
            return -1;
        }
        *(uint32_t *)(base + setting->offset) = (uint32_t)number;
        return 0;
    case SETTING_U64:
        if (parse_unsigned(value, UINT64_MAX, &number) != 0) {
            return -1;
        }
        *(uint64_t *)(base + setting->offset) = number;
        return 0;
    case SETTING_ID:
        if (parse_unsigned(value, UINT32_MAX, &number) != 0 || number == 0) {
            return -1;
        }
        config->id = number;
        return 0;
    case SETTING_STRING:
        if (strlen(value) >= setting->string_bytes) {
            return -1;
        }
        strcpy((char *)(base + setting->offset), value);
        return 0;
    case SETTING_MEMBER:
        return parse_member(config, value);
    case SETTING_BOOL:
        if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
            return -1;
        }
        *(bool *)(base + setting->offset) = strcmp(value, "yes") == 0;
        return 0;
    case SETTING_LOG_LEVEL:
        return log_level_parse(value, &config->log_level);
    case SETTING_I64: {
        bool negative = value[0] == '-';
        if (parse_unsigned(value + (negative ? 1 : 0), INT64_MAX, &number) != 0) {
            return -1;
        }
        *(int64_t *)(base + setting->offset) = negative ? -(int64_t)number : (int64_t)number;
        return 0;
    }
    }
    return -1;
}

static const struct setting *find_setting(const char *name)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        if (strcmp(settings[i].name, name) == 0) {
            return &settings[i];
        }
    }
    return NULL;
}

static int set_named(struct server_config *config, const char *name, const char *value, char *error,
                     size_t error_bytes)
{
    const struct setting *setting = find_setting(name);
    if (setting == NULL) {
        snprintf(error, error_bytes, "unknown setting '%s' (see --help)", name);
        return -1;
    }
    if (apply_setting(config, setting, value) != 0) {
        snprintf(error, error_bytes, "invalid value '%s' for %s: %s", value, name, setting->help);
        return -1;
    }
    return 0;
}

static int load_file(struct server_config *config, const char *path, char *error,
                     size_t error_bytes)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(error, error_bytes, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(config->config_file, sizeof config->config_file, "%s", path);
    char line[4096];
    int line_number = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, file) != NULL) {
        line_number++;
        line[strcspn(line, "\r\n")] = '\0';
        char *name = line + strspn(line, " \t");
        if (*name == '\0' || *name == '#') {
            continue;
        }
        char *value = name + strcspn(name, " \t");
        if (*value != '\0') {
            *value++ = '\0';
            value += strspn(value, " \t");
        }
        char detail[512];
        if (set_named(config, name, value, detail, sizeof detail) != 0) {
            snprintf(error, error_bytes, "%s:%d: %s", path, line_number, detail);
            rc = -1;
        }
    }
    fclose(file);
    return rc;
}

/* The client's edge may be lowered, never raised, past base/limits.h's chain. */
static int validate_size_limits(const struct server_config *config, char *error, size_t error_bytes)
{
    if (config->max_bulk_bytes > LIMITS_MAX_BULK_BYTES ||
        config->max_array_length > LIMITS_MAX_ARGUMENTS) {
        snprintf(error, error_bytes, "max-bulk-bytes is at most %llu, max-array-length at most %u",
                 (unsigned long long)LIMITS_MAX_BULK_BYTES, (unsigned)LIMITS_MAX_ARGUMENTS);
        return -1;
    }
    if (config->max_request_bytes > LIMITS_MAX_REQUEST_BYTES ||
        config->max_request_bytes < config->max_bulk_bytes + LIMITS_MIN_REQUEST_SLACK_BYTES) {
        snprintf(error, error_bytes,
                 "max-request-bytes must be in [max-bulk-bytes + %llu, %llu], so that a SET of "
                 "the longest value fits",
                 (unsigned long long)LIMITS_MIN_REQUEST_SLACK_BYTES,
                 (unsigned long long)LIMITS_MAX_REQUEST_BYTES);
        return -1;
    }
    if (config->wal_segment_bytes < 4096 || config->wal_segment_bytes > (1ull << 32) ||
        config->snapshot_log_bytes == 0) {
        snprintf(error, error_bytes,
                 "wal-segment-bytes must be in [4096, 4294967296], snapshot-log-bytes positive");
        return -1;
    }
    return 0;
}

/* The files are only named here; tls.c reads them at start (client_tls_setup). */
static int validate_tls(const struct server_config *config, char *error, size_t error_bytes)
{
    const char *auth = config->tls_auth_clients;
    if (strcmp(auth, "yes") != 0 && strcmp(auth, "no") != 0 && strcmp(auth, "optional") != 0) {
        snprintf(error, error_bytes, "tls-auth-clients is yes, no or optional, not '%s'", auth);
        return -1;
    }
    if (config->tls_port > 65535) {
        snprintf(error, error_bytes, "tls-port must be below 65536");
        return -1;
    }
    if (config->tls_verify_peer_name && !config->tls_replication) {
        snprintf(error, error_bytes, "tls-verify-peer-name needs tls-replication");
        return -1;
    }
    if (!config_uses_tls(config)) {
        return 0;
    }
    if (config->tls_cert_file[0] == '\0' || config->tls_key_file[0] == '\0') {
        snprintf(error, error_bytes,
                 "tls-port, tls-only and tls-replication need tls-cert-file and tls-key-file");
        return -1;
    }
    bool clients_verified = (config->tls_port != 0 || config->tls_only) && strcmp(auth, "no") != 0;
    if ((config->tls_replication || clients_verified) && config->tls_ca_cert_file[0] == '\0') {
        snprintf(error, error_bytes,
                 "tls-replication and tls-auth-clients yes|optional need "
                 "tls-ca-cert-file");
        return -1;
    }
    const struct config_member *self = config_member(config, config->id);
    if (config->tls_only && config->tls_port != 0 && config->tls_port != self->client_port) {
        snprintf(error, error_bytes,
                 "with tls-only the client port of --member speaks TLS: leave tls-port unset");
        return -1;
    }
    if (!config->tls_only && config->tls_port == self->client_port) {
        snprintf(error, error_bytes,
                 "tls-port %u is the plaintext client port; pick another or use tls-only",
                 (unsigned)config->tls_port);
        return -1;
    }
    return 0;
}

static int validate(const struct server_config *config, char *error, size_t error_bytes)
{
    if (config->id == 0 || config->member_count == 0 || config->data_directory[0] == '\0') {
        if (config->config_file[0] != '\0') {
            /* The packaged service's case: the shipped file sets none of them. */
            snprintf(error, error_bytes,
                     "--id, --member and --data-dir are required: set id, one member line per "
                     "node and data-dir in %s (see raftkv(1))",
                     config->config_file);
        } else {
            snprintf(error, error_bytes, "--id, --member and --data-dir are required (see --help)");
        }
        return -1;
    }
    if ((config->restore[0] != '\0' || config->force_new_cluster) && config->join[0] != '\0') {
        snprintf(error, error_bytes, "--join cannot go with --restore or --force-new-cluster");
        return -1;
    }
    if (config->join[0] != '\0') {
        char host[CONFIG_HOST_BYTES];
        uint16_t port;
        if (parse_address(config->join, host, sizeof host, &port) != 0) {
            snprintf(error, error_bytes, "--join takes HOST:PORT, the client address of a member");
            return -1;
        }
    }
    if (config_member(config, config->id) == NULL) {
        snprintf(error, error_bytes, "node id %llu is not among the --member entries",
                 (unsigned long long)config->id);
        return -1;
    }
    if (config->tick_ms == 0 || config->heartbeat_ms < config->tick_ms ||
        config->election_timeout_ms < 2 * config->heartbeat_ms) {
        snprintf(error, error_bytes,
                 "need tick-ms > 0, heartbeat-ms >= tick-ms and election-timeout-ms >= 2 x "
                 "heartbeat-ms");
        return -1;
    }
    if (config->request_timeout_ms == 0 || config->max_clients == 0 ||
        config->max_bulk_bytes == 0 || config->max_array_length == 0 ||
        config->max_pipeline_requests == 0 || config->max_inflight_appends == 0 ||
        config->max_inflight_appends > 4096 || config->snapshot_entries == 0) {
        snprintf(error, error_bytes, "limits must be positive (max-inflight-appends <= 4096)");
        return -1;
    }
    if (validate_tls(config, error, error_bytes) != 0) {
        return -1;
    }
    if (strcmp(config->replication, "raft") != 0 && strcmp(config->replication, "naive") != 0 &&
        strcmp(config->replication, "lww") != 0) {
        snprintf(error, error_bytes, "--replication takes raft, naive or lww, not '%s'",
                 config->replication);
        return -1;
    }
    if (strcmp(config->replication, "raft") != 0 &&
        (config->join[0] != '\0' || config->restore[0] != '\0' || config->force_new_cluster)) {
        snprintf(error, error_bytes,
                 "--replication %s cannot go with --join, --restore or --force-new-cluster "
                 "(they are Raft's)",
                 config->replication);
        return -1;
    }
    return validate_size_limits(config, error, error_bytes);
}

int config_parse(struct server_config *config, int argc, char **argv, char *error,
                 size_t error_bytes)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help(argv[0]);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            char version[128];
            version_format("raftkv", version, sizeof version);
            printf("%s\n", version);
            return 1;
        }
        /* Hidden: the build generates raftkv.conf and raftkv(1)'s settings with these
         * (docs/man/CMakeLists.txt), from the table above, so neither can drift from it. */
        if (strcmp(argv[i], "--print-config-template") == 0 && i + 1 < argc) {
            config_print_template(argv[i + 1]);
            return 1;
        }
        if (strcmp(argv[i], "--print-man-settings") == 0) {
            config_print_man_settings();
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
            load_file(config, argv[i + 1], error, error_bytes) != 0) {
            return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        bool lone_flag = i + 1 >= argc && strncmp(argv[i], "--", 2) == 0 &&
                         find_setting(argv[i] + 2) != NULL &&
                         find_setting(argv[i] + 2)->kind == SETTING_BOOL;
        if (lone_flag) {
            if (set_named(config, argv[i] + 2, "yes", error, error_bytes) != 0) {
                return -1;
            }
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            snprintf(error, error_bytes, "expected --name value, got '%s' (see --help)", argv[i]);
            return -1;
        }
        const char *name = argv[i] + 2;
        const struct setting *setting = find_setting(name);
        if (setting != NULL && setting->kind == SETTING_BOOL &&
            strncmp(argv[i + 1], "--", 2) == 0) {
            if (set_named(config, name, "yes", error, error_bytes) != 0) {
                return -1;
            }
            continue; /* a flag alone: yes */
        }
        const char *value = argv[++i];
        if (strcmp(name, "config") == 0) {
            continue;
        }
        if (set_named(config, name, value, error, error_bytes) != 0) {
            return -1;
        }
    }
    return validate(config, error, error_bytes);
}

const struct config_member *config_member(const struct server_config *config, raft_node_id id)
{
    for (uint32_t i = 0; i < config->member_count; i++) {
        if (config->members[i].id == id) {
            return &config->members[i];
        }
    }
    return NULL;
}

/* ---- at run time (CONFIG GET / SET / REWRITE) ------------------------------------------------ */

int config_format_value(const struct server_config *config, const char *name, char *out,
                        size_t out_bytes)
{
    const struct setting *setting = find_setting(name);
    if (setting == NULL) {
        return -1;
    }
    const uint8_t *base = (const uint8_t *)config;
    switch (setting->kind) {
    case SETTING_U32:
        snprintf(out, out_bytes, "%" PRIu32, *(const uint32_t *)(base + setting->offset));
        break;
    case SETTING_U64:
        snprintf(out, out_bytes, "%" PRIu64, *(const uint64_t *)(base + setting->offset));
        break;
    case SETTING_I64:
        snprintf(out, out_bytes, "%" PRId64, *(const int64_t *)(base + setting->offset));
        break;
    case SETTING_ID:
        snprintf(out, out_bytes, "%" PRIu64, (uint64_t)config->id);
        break;
    case SETTING_STRING:
        snprintf(out, out_bytes, "%s", (const char *)(base + setting->offset));
        break;
    case SETTING_BOOL:
        snprintf(out, out_bytes, "%s", *(const bool *)(base + setting->offset) ? "yes" : "no");
        break;
    case SETTING_LOG_LEVEL:
        snprintf(out, out_bytes, "%s", log_level_name(config->log_level));
        for (char *c = out; *c != '\0'; c++) {
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        }
        break;
    case SETTING_MEMBER: {
        size_t used = 0;
        out[0] = '\0';
        for (uint32_t i = 0; i < config->member_count && used + 1 < out_bytes; i++) {
            char member[2 * CONFIG_HOST_BYTES + 64];
            config_format_member(&config->members[i], member, sizeof member);
            const char *http = config->members[i].http;
            used += (size_t)snprintf(out + used, out_bytes - used, "%s%s%s%s", i > 0 ? " " : "",
                                     member, http[0] != '\0' ? "," : "", http);
        }
        break;
    }
    }
    return 0;
}

int config_set_value(struct server_config *config, const char *name, const char *value, char *error,
                     size_t error_bytes)
{
    return set_named(config, name, value, error, error_bytes);
}

size_t config_setting_count(void)
{
    return SETTING_COUNT;
}

void config_setting_describe(size_t index, struct config_setting_info *info)
{
    assert(index < SETTING_COUNT);
    const struct setting *setting = &settings[index];
    assert(setting->name != NULL && setting->help != NULL);
    static const char *const value_names[] = {
        [SETTING_U32] = "N",
        [SETTING_U64] = "N",
        [SETTING_I64] = "N",
        [SETTING_STRING] = "VALUE",
        [SETTING_BOOL] = "yes|no",
        [SETTING_LOG_LEVEL] = "LEVEL",
        [SETTING_ID] = "ID",
        [SETTING_MEMBER] = "ID=CLIENT_HOST:PORT,PEER_HOST:PORT[,HTTP_HOST:PORT]",
    };
    info->name = setting->name;
    info->help = setting->help;
    /* A kind added later without a placeholder here is documented as VALUE. */
    size_t kinds = sizeof value_names / sizeof value_names[0];
    info->value_name = (size_t)setting->kind < kinds && value_names[setting->kind] != NULL
                           ? value_names[setting->kind]
                           : "VALUE";
}

void config_for_each_setting(config_setting_fn visit, void *context)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        if (settings[i].kind != SETTING_MEMBER) {
            visit(context, settings[i].name);
        }
    }
}

/* The file again, each line that sets one of `names` set to the current value, the names it
 * did not set appended; written aside, fsynced, renamed over, so a crash leaves one or the
 * other whole. Comments and every other line stay as they were. */
int config_rewrite(const struct server_config *config, const char *const *names, size_t count,
                   char *error, size_t error_bytes)
{
    if (config->config_file[0] == '\0') {
        snprintf(error, error_bytes, "The server is running without a config file");
        return -1;
    }
    char temporary[CONFIG_PATH_BYTES + 8];
    snprintf(temporary, sizeof temporary, "%s.tmp", config->config_file);
    FILE *in = fopen(config->config_file, "r");
    FILE *out = fopen(temporary, "w");
    if (in == NULL || out == NULL) {
        snprintf(error, error_bytes, "cannot rewrite %s: %s", config->config_file, strerror(errno));
        if (in != NULL) {
            fclose(in);
        }
        if (out != NULL) {
            fclose(out);
        }
        return -1;
    }
    bool written[64] = {false};
    char line[4096];
    while (fgets(line, sizeof line, in) != NULL) {
        const char *start = line + strspn(line, " \t");
        size_t length = strcspn(start, " \t\r\n");
        size_t match = count;
        for (size_t i = 0; i < count && i < 64 && *start != '#'; i++) {
            if (strlen(names[i]) == length && strncmp(start, names[i], length) == 0) {
                match = i;
            }
        }
        char value[4096];
        if (match < count && !written[match] &&
            config_format_value(config, names[match], value, sizeof value) == 0) {
            fprintf(out, "%s %s\n", names[match], value);
            written[match] = true;
        } else if (match == count) {
            fputs(line, out);
        }
    }
    for (size_t i = 0; i < count && i < 64; i++) {
        char value[4096];
        if (!written[i] && config_format_value(config, names[i], value, sizeof value) == 0) {
            fprintf(out, "%s %s\n", names[i], value);
        }
    }
    fclose(in);
    bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = fclose(out) == 0 && ok;
    if (!ok || rename(temporary, config->config_file) != 0) {
        snprintf(error, error_bytes, "cannot rewrite %s: %s", config->config_file, strerror(errno));
        remove(temporary);
        return -1;
    }
    return 0;
}
