/*
 * info.c — what a node tells about itself: INFO (Redis's sections plus a raft section),
 * RAFT.INFO, and the CLUSTER commands that present the whole cluster to cluster-aware clients
 * as one shard owning all 16384 slots, the leader its master and the followers its replicas.
 *
 * Everything here reads state and changes nothing. A node that knows no leader answers
 * CLUSTER SLOTS and CLUSTER SHARDS with CLUSTERDOWN, so that clients retry elsewhere rather
 * than cache a topology without a master.
 */
#include "server/server.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "server/version.h"

static void add_line(struct proto_buffer *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void add_line(struct proto_buffer *text, const char *format, ...)
{
    char line[512];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    if (length < 0) {
        return;
    }
    if ((size_t)length >= sizeof line) {
        length = sizeof line - 1;
    }
    proto_buffer_append(text, line, (size_t)length);
    proto_buffer_append(text, "\r\n", 2);
}

static void end_section(struct proto_buffer *text)
{
    proto_buffer_append(text, "\r\n", 2);
}

/* Redis Cluster node ids are 40 hex digits; ours are derived from the Raft node id. */
static void node_name(raft_node_id id, char name[41])
{
    snprintf(name, 41, "%040" PRIx64, (uint64_t)id);
}

uint64_t info_resident_bytes(void)
{
    FILE *file = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    unsigned long long resident = 0;
    if (file != NULL) {
        if (fscanf(file, "%llu %llu", &pages, &resident) != 2) {
            resident = 0;
        }
        fclose(file);
    }
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static bool wants(const char *section, const char *name, bool in_default)
{
    return strcmp(section, name) == 0 || strcmp(section, "all") == 0 ||
           strcmp(section, "everything") == 0 || (in_default && strcmp(section, "default") == 0);
}

static void info_server(struct server *server, struct proto_buffer *text)
{
    const struct config_member *self = config_member(&server->config, server->config.id);
    uint64_t uptime_ms = server_now_ms(server) - server->started_ms;
    struct utsname name;
    if (uname(&name) != 0) {
        memset(&name, 0, sizeof name);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    add_line(text, "# Server");
    add_line(text, "redis_version:7.0.0");
    add_line(text, "raftkv_version:%s", version_number());
    add_line(text, "raftkv_git_sha1:%s", version_git_sha1());
    add_line(text, "redis_git_sha1:%s", version_redis_git_sha1());
    add_line(text, "redis_git_dirty:%d", version_git_dirty() ? 1 : 0);
    add_line(text, "redis_mode:cluster");
    add_line(text, "os:%s %s %s", name.sysname, name.release, name.machine);
    add_line(text, "arch_bits:%zu", sizeof(void *) * 8);
    add_line(text, "multiplexing_api:epoll");
    add_line(text, "gcc_version:%d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
    add_line(text, "process_id:%ld", (long)getpid());
    add_line(text, "run_id:%s", server->run_id);
    add_line(text, "tcp_port:%u", self->client_port);
    add_line(text, "server_time_usec:%" PRIu64,
             (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000);
    add_line(text, "uptime_in_seconds:%" PRIu64, uptime_ms / 1000);
    add_line(text, "uptime_in_days:%" PRIu64, uptime_ms / 86400000);
    add_line(text, "hz:%u", 1000 / (server->config.tick_ms > 0 ? server->config.tick_ms : 10));
    add_line(text, "configured_hz:%u",
             1000 / (server->config.tick_ms > 0 ? server->config.tick_ms : 10));
    add_line(text, "executable:%s", server->executable);
    add_line(text, "config_file:%s", server->config.config_file);
    add_line(text, "io_threads_active:0");
    end_section(text);
}

static void info_clients(struct server *server, struct proto_buffer *text)
{
    add_line(text, "# Clients");
    add_line(text, "connected_clients:%u", server->client_count);
    add_line(text, "cluster_connections:0");
    add_line(text, "maxclients:%u", server->config.max_clients);
    add_line(text, "client_recent_max_input_buffer:0");
    add_line(text, "client_recent_max_output_buffer:0");
    add_line(text, "blocked_clients:%zu", server->blocked.count);
    add_line(text, "tracking_clients:0");
    add_line(text, "clients_in_timeout_table:%zu", server->blocked.count);
    add_line(text, "pending_writes:%zu", server->pending_writes.count);
    add_line(text, "pending_reads:%zu",
             server->pending_reads.count + server->reads_waiting_apply.count);
    end_section(text);
}

static void add_bytes(struct proto_buffer *text, const char *name, uint64_t bytes)
{
    add_line(text, "%s:%" PRIu64, name, bytes);
    add_line(text, "%s_human:%.2fM", name, (double)bytes / (1024.0 * 1024.0));
}

/* Redis's used_memory is its allocator's count; raftkv's data lives in LMDB's map, so
 * used_memory is the pages the database uses, and the process's own heap is in the RSS. */
static void info_memory(struct server *server, struct proto_buffer *text)
{
    uint64_t rss = info_resident_bytes();
    struct kv *kv = server->node.kv;
    uint64_t used = kv != NULL ? kv_used_bytes(kv) : 0;
    if (rss > server->peak_resident_bytes) {
        server->peak_resident_bytes = rss;
    }
    add_line(text, "# Memory");
    add_bytes(text, "used_memory", used);
    add_bytes(text, "used_memory_rss", rss);
    add_bytes(text, "used_memory_peak", server->peak_resident_bytes);
    add_line(text, "used_memory_dataset:%" PRIu64, used);
    add_bytes(text, "maxmemory", server->node.max_db_bytes);
    add_line(text, "maxmemory_policy:noeviction");
    add_line(text, "mem_fragmentation_ratio:%.2f", used > 0 ? (double)rss / (double)used : 0.0);
    add_line(text, "mem_allocator:libc");
    add_line(text, "lmdb_file_bytes:%" PRIu64, kv != NULL ? kv_file_bytes(kv) : 0);
    add_line(text, "lmdb_map_bytes:%" PRIu64, kv != NULL ? kv_map_bytes(kv) : 0);
    end_section(text);
}

/* Redis's persistence is RDB and AOF; raftkv's is the Raft log (fsynced before every reply)
 * and its snapshots. */
static void info_persistence(struct server *server, struct proto_buffer *text)
{
    add_line(text, "# Persistence");
    add_line(text, "loading:%d", server->node.kv == NULL ? 1 : 0);
    add_line(text, "async_loading:0");
    add_line(text, "rdb_changes_since_last_save:0");
    add_line(text, "rdb_bgsave_in_progress:%d", server->node.snapshot_in_progress ? 1 : 0);
    add_line(text, "rdb_last_bgsave_status:ok");
    add_line(text, "aof_enabled:0");
    add_line(text, "aof_rewrite_in_progress:0");
    add_line(text, "raft_log_fsyncs:%" PRIu64, server->stats.fsyncs);
    add_line(text, "raft_snapshots_taken:%" PRIu64, server->stats.snapshots_taken);
    end_section(text);
}

static void info_cpu(struct proto_buffer *text)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    add_line(text, "# CPU");
    add_line(text, "used_cpu_sys:%ld.%06ld", (long)self.ru_stime.tv_sec,
             (long)self.ru_stime.tv_usec);
    add_line(text, "used_cpu_user:%ld.%06ld", (long)self.ru_utime.tv_sec,
             (long)self.ru_utime.tv_usec);
    add_line(text, "used_cpu_sys_children:%ld.%06ld", (long)children.ru_stime.tv_sec,
             (long)children.ru_stime.tv_usec);
    add_line(text, "used_cpu_user_children:%ld.%06ld", (long)children.ru_utime.tv_sec,
             (long)children.ru_utime.tv_usec);
    end_section(text);
}

struct stats_text {
    struct proto_buffer *text;
    bool latency;
};

static void command_stat_line(void *context, const char *name, const struct command_stat *stat)
{
    struct stats_text *state = context;
    char lower[64];
    size_t length = 0;
    for (; name[length] != '\0' && length + 1 < sizeof lower; length++) {
        lower[length] =
            name[length] >= 'A' && name[length] <= 'Z' ? (char)(name[length] + 32) : name[length];
    }
    lower[length] = '\0';
    if (state->latency) {
        if (stat->calls > 0) {
            add_line(state->text, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f", lower,
                     stats_latency_percentile_us(stat, 50), stats_latency_percentile_us(stat, 99),
                     stats_latency_percentile_us(stat, 99.9));
        }
        return;
    }
    add_line(state->text,
             "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64
             ",usec_per_call=%.2f,rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64,
             lower, stat->calls, stat->usec,
             stat->calls > 0 ? (double)stat->usec / (double)stat->calls : 0.0, stat->rejected,
             stat->failed);
}

static void info_commandstats(struct server *server, struct proto_buffer *text, bool latency)
{
    add_line(text, latency ? "# Latencystats" : "# Commandstats");
    struct stats_text state = {.text = text, .latency = latency};
    commands_for_each_call(server, command_stat_line, &state);
    end_section(text);
}

static void error_stat_line(void *context, const char *kind, uint64_t count)
{
    add_line(context, "errorstat_%s:count=%" PRIu64, kind, count);
}

static void count_errors(void *context, const char *kind, uint64_t count)
{
    (void)kind;
    *(uint64_t *)context += count;
}

static void info_errorstats(struct proto_buffer *text)
{
    add_line(text, "# Errorstats");
    stats_for_each_error(error_stat_line, text);
    end_section(text);
}

static void info_stats(struct server *server, struct proto_buffer *text)
{
    const struct server_stats *stats = &server->stats;
    add_line(text, "# Stats");
    add_line(text, "total_connections_received:%" PRIu64, stats->connections_received);
    add_line(text, "rejected_connections:%" PRIu64, stats->connections_rejected);
    add_line(text, "total_commands_processed:%" PRIu64, stats->commands_processed);
    add_line(text, "total_net_input_bytes:%" PRIu64, stats->bytes_in);
    add_line(text, "total_net_output_bytes:%" PRIu64, stats->bytes_out);
    add_line(text, "instantaneous_ops_per_sec:%" PRIu64, stats_average(stats->ops_samples));
    add_line(text, "instantaneous_input_kbps:%.2f",
             (double)stats_average(stats->input_samples) / 1024.0);
    add_line(text, "instantaneous_output_kbps:%.2f",
             (double)stats_average(stats->output_samples) / 1024.0);
    uint64_t errors = 0;
    stats_for_each_error(count_errors, &errors);
    add_line(text, "total_error_replies:%" PRIu64, errors);
    add_line(text, "evicted_keys:0");
    add_line(text, "protocol_errors:%" PRIu64, stats->protocol_errors);
    /* Keys the leader proposed to delete by active expiry (Redis counts the deleted ones). */
    add_line(text, "pubsub_channels:%zu", server->pubsub.channel_count);
    add_line(text, "pubsub_patterns:%zu", server->pubsub.pattern_count);
    add_line(text, "pubsubshard_channels:0");
    add_line(text, "pubsub_messages_delivered:%" PRIu64, stats->pubsub_messages);
    add_line(text, "pubsub_slow_disconnects:%" PRIu64, stats->pubsub_slow_disconnects);
    add_line(text, "expired_keys:%" PRIu64, stats->expire_keys_proposed);
    add_line(text, "expire_entries:%" PRIu64, stats->expire_entries);
    add_line(text, "blocked_clients_parked:%" PRIu64, stats->blocked_total);
    add_line(text, "blocked_retries:%" PRIu64, stats->blocked_retries);
    add_line(text, "blocked_timeouts:%" PRIu64, stats->blocked_timeouts);
    add_line(text, "blocked_unblocked:%" PRIu64, stats->blocked_unblocked);
    add_line(text, "writes_committed:%" PRIu64, stats->writes_committed);
    add_line(text, "writes_retry:%" PRIu64, stats->writes_retry);
    add_line(text, "writes_uncertain:%" PRIu64, stats->writes_uncertain);
    add_line(text, "writes_refused_size:%" PRIu64, stats->writes_refused_size);
    add_line(text, "writes_refused_quota:%" PRIu64, stats->writes_refused_quota);
    add_line(text, "reads_linearizable:%" PRIu64, stats->reads_linearizable);
    add_line(text, "reads_stale:%" PRIu64, stats->reads_stale);
    add_line(text, "reads_failed:%" PRIu64, stats->reads_failed);
    add_line(text, "redirects:%" PRIu64, stats->redirects);
    end_section(text);
}

static void info_replication(struct server *server, struct proto_buffer *text)
{
    struct raft *raft = server->node.raft;
    bool leader = raft_role(raft) == RAFT_LEADER;
    add_line(text, "# Replication");
    if (server->replica != NULL) {
        /* A foil mode: every node takes writes, so every node says it is a master. */
        const struct replica_stats *stats = replica_stats(server->replica);
        add_line(text, "role:master");
        add_line(text, "connected_slaves:0");
        add_line(text, "replica_local_writes:%" PRIu64, stats->local_writes);
        add_line(text, "replica_messages_sent:%" PRIu64, stats->messages_sent);
        add_line(text, "replica_messages_received:%" PRIu64, stats->messages_received);
        add_line(text, "replica_remote_applied:%" PRIu64, stats->remote_applied);
        add_line(text, "replica_remote_ignored:%" PRIu64, stats->remote_ignored);
        add_line(text, "replica_malformed:%" PRIu64, stats->malformed);
        add_line(text, "replica_digests_sent:%" PRIu64, stats->digests_sent);
        add_line(text, "replica_repairs_sent:%" PRIu64, stats->repairs_sent);
        end_section(text);
        return;
    }
    add_line(text, "role:%s", leader ? "master" : "slave");
    if (leader) {
        uint32_t connected = 0;
        const struct config_member *members[TRANSPORT_MAX_PEERS];
        uint32_t count = members_list(server, members);
        for (uint32_t i = 0; i < count; i++) {
            const struct config_member *member = members[i];
            uint64_t match = 0;
            uint64_t next = 0;
            if (member->id == server->config.id ||
                !raft_progress(raft, member->id, &match, &next)) {
                continue;
            }
            bool online = transport_peer_connected(server->transport, member->id);
            add_line(text, "slave%u:ip=%s,port=%u,state=%s,offset=%" PRIu64 ",lag=0", connected,
                     member->client_host, member->client_port, online ? "online" : "offline",
                     match);
            connected++;
        }
        add_line(text, "connected_slaves:%u", connected);
    } else {
        const struct config_member *leader_member = members_address(server, raft_leader(raft));
        add_line(text, "master_host:%s", leader_member != NULL ? leader_member->client_host : "");
        add_line(text, "master_port:%u", leader_member != NULL ? leader_member->client_port : 0);
        add_line(text, "master_link_status:%s", leader_member != NULL ? "up" : "down");
    }
    add_line(text, "master_repl_offset:%" PRIu64, raft_commit_index(raft));
    end_section(text);
}

static void info_raft(struct server *server, struct proto_buffer *text)
{
    struct raft *raft = server->node.raft;
    add_line(text, "# Raft");
    add_line(text, "raft_node_id:%" PRIu64, (uint64_t)server->config.id);
    add_line(text, "raft_role:%s", raft_role_string(raft_role(raft)));
    add_line(text, "raft_term:%" PRIu64, raft_term(raft));
    add_line(text, "raft_leader_id:%" PRIu64, (uint64_t)raft_leader(raft));
    add_line(text, "raft_voted_for:%" PRIu64, (uint64_t)raft_vote(raft));
    add_line(text, "raft_first_index:%" PRIu64, raft_first_index(raft));
    add_line(text, "raft_last_index:%" PRIu64, raft_last_index(raft));
    add_line(text, "raft_commit_index:%" PRIu64, raft_commit_index(raft));
    const struct node *node = &server->node;
    add_line(text, "raft_applied_index:%" PRIu64,
             node->kv != NULL ? kv_applied_index(node->kv) : 0);
    /* A failed node stays up and recovers by itself (node_boot.c); this says so. */
    add_line(text, "raft_node_state:%s", node->fatal ? "failed" : "ok");
    add_line(text, "raft_failures:%" PRIu64, node->failures);
    if (node->fatal) {
        add_line(text, "raft_failure_reason:%s", node->failure_reason);
    }
    add_line(text, "raft_db_used_bytes:%" PRIu64, node->kv != NULL ? kv_used_bytes(node->kv) : 0);
    add_line(text, "raft_db_file_bytes:%" PRIu64, node->kv != NULL ? kv_file_bytes(node->kv) : 0);
    add_line(text, "raft_db_map_bytes:%" PRIu64, node->kv != NULL ? kv_map_bytes(node->kv) : 0);
    add_line(text, "raft_max_db_bytes:%" PRIu64, node->max_db_bytes);
    add_line(text, "raft_db_quota_alarm:%d", node_over_quota(server) ? 1 : 0);
    add_line(text, "raft_elections_started:%" PRIu64, raft_election_count(raft));
    add_line(text, "raft_lease_reads:%" PRIu64, raft_lease_read_count(raft));
    add_line(text, "raft_follower_reads:%" PRIu64, raft_forwarded_read_count(raft));
    add_line(text, "raft_leader_changes:%" PRIu64, server->node.leader_changes);
    add_line(text, "raft_fsyncs:%" PRIu64, server->stats.fsyncs);
    add_line(text, "raft_fsync_entries:%" PRIu64, server->stats.fsync_entries);
    add_line(text, "raft_snapshots_taken:%" PRIu64, server->stats.snapshots_taken);
    add_line(text, "raft_snapshots_installed:%" PRIu64, server->stats.snapshots_installed);
    const struct raft_configuration *configuration = raft_configuration(raft);
    add_line(text, "raft_voters:%u", configuration->voter_count);
    add_line(text, "raft_learners:%u", configuration->learner_count);
    add_line(text, "raft_configuration_index:%" PRIu64, raft_configuration_index(raft));
    add_line(text, "raft_tls_reloads:%" PRIu64, server->tls.reloads);
    add_line(text, "raft_tls_reload_failures:%" PRIu64, server->tls.reload_failures);
    add_line(text, "raft_tls_handshake_failures:%" PRIu64, server->tls.handshake_failures);
    add_line(text, "raft_member_role:%s",
             raft_configuration_is_voter(configuration, server->config.id)     ? "voter"
             : raft_configuration_is_learner(configuration, server->config.id) ? "learner"
                                                                               : "none");
    add_line(text, "fault_injection:%s",
             transport_fault_enabled(server->transport) ? "enabled" : "disabled");
    char faults[4096];
    fault_describe_text(server, faults, sizeof faults);
    add_line(text, "fault_injection_active:%s", faults);
    uint32_t members = configuration->voter_count + configuration->learner_count;
    for (uint32_t i = 0; i < members; i++) {
        raft_node_id id = i < configuration->voter_count
                              ? configuration->voters[i]
                              : configuration->learners[i - configuration->voter_count];
        uint64_t match = 0;
        uint64_t next = 0;
        if (id != server->config.id && raft_progress(raft, id, &match, &next)) {
            add_line(text,
                     "raft_peer_%" PRIu64 ":match=%" PRIu64 ",next=%" PRIu64 ",connected=%d,"
                     "role=%s",
                     (uint64_t)id, match, next,
                     transport_peer_connected(server->transport, id) ? 1 : 0,
                     i < configuration->voter_count ? "voter" : "learner");
        }
    }
    end_section(text);
}

/* Cluster clients (redis-py's RedisCluster) check cluster_enabled before they start. */
static void info_cluster(struct proto_buffer *text)
{
    add_line(text, "# Cluster");
    add_line(text, "cluster_enabled:1");
    end_section(text);
}

/* Redis's one line per non-empty database: keys (expired ones not yet deleted included, as
 * Redis counts them) and keys with a deadline. avg_ttl is not kept (0, as Redis reports
 * before it has sampled). */
static void info_keyspace(struct server *server, struct proto_buffer *text)
{
    add_line(text, "# Keyspace");
    uint64_t keys = 0;
    uint64_t expires = 0;
    if (server->node.kv != NULL && kv_key_counts(server->node.kv, &keys, &expires) == 0 &&
        keys > 0) {
        add_line(text, "db0:keys=%" PRIu64 ",expires=%" PRIu64 ",avg_ttl=0", keys, expires);
    }
    end_section(text);
}

/* The lecture's unsafe modes say so in every section: two lines before its blank one. */
static void mark_section(const struct server *server, struct proto_buffer *text, size_t before)
{
    const char *warning = replica_mode_warning(server->replication_mode);
    if (warning == NULL || text->length < before + 2) {
        return;
    }
    proto_buffer_truncate(text, text->length - 2);
    add_line(text, "replication_mode:%s", server_replication_name(server));
    add_line(text, "replication_warning:%s", warning);
    end_section(text);
}

static void info_sections(struct server *server, struct proto_buffer *text, const char *section);

void info_generate(struct server *server, struct proto_buffer *text, const char *section)
{
    if (!server_replication_unsafe(server)) {
        info_sections(server, text, section);
        return;
    }
    /* Each section on its own, so that each carries the warning. */
    static const char *const names[] = {"server",     "clients",      "memory", "persistence",
                                        "stats",      "replication",  "cpu",    "commandstats",
                                        "errorstats", "latencystats", "raft",   "cluster",
                                        "keyspace"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        bool in_default =
            strcmp(names[i], "commandstats") != 0 && strcmp(names[i], "latencystats") != 0;
        if (wants(section, names[i], in_default)) {
            size_t before = text->length;
            info_sections(server, text, names[i]);
            mark_section(server, text, before);
        }
    }
}

static void info_sections(struct server *server, struct proto_buffer *text, const char *section)
{
    if (wants(section, "server", true)) {
        info_server(server, text);
    }
    if (wants(section, "clients", true)) {
        info_clients(server, text);
    }
    if (wants(section, "memory", true)) {
        info_memory(server, text);
    }
    if (wants(section, "persistence", true)) {
        info_persistence(server, text);
    }
    if (wants(section, "stats", true)) {
        info_stats(server, text);
    }
    if (wants(section, "replication", true)) {
        info_replication(server, text);
    }
    if (wants(section, "cpu", true)) {
        info_cpu(text);
    }
    if (wants(section, "commandstats", false)) {
        info_commandstats(server, text, false);
    }
    if (wants(section, "errorstats", true)) {
        info_errorstats(text);
    }
    if (wants(section, "latencystats", false)) {
        info_commandstats(server, text, true);
    }
    if (wants(section, "raft", true)) {
        info_raft(server, text);
    }
    if (wants(section, "cluster", true)) {
        info_cluster(text);
    }
    if (wants(section, "keyspace", true)) {
        info_keyspace(server, text);
    }
}

void raft_info_command(struct client *client, struct proto_buffer *out)
{
    struct proto_buffer text;
    proto_buffer_init(&text, 1 << 20);
    info_raft(client->server, &text);
    mark_section(client->server, &text, 0);
    reply_verbatim(out, client->protocol, (const char *)text.data, text.length);
    proto_buffer_free(&text);
}

/* ---- CLUSTER ---- */

/* The master CLUSTER names: the leader, or in a foil mode this node itself, since every node
 * takes writes there (replication.c). */
static raft_node_id cluster_master(const struct server *server)
{
    return server->replica != NULL ? server->config.id : raft_leader(server->node.raft);
}

static void slot_node(const struct client *client, struct proto_buffer *out,
                      const struct config_member *member)
{
    char name[41];
    node_name(member->id, name);
    reply_array(out, 3);
    reply_bulk_string(out, member->client_host);
    reply_integer(out, client_port_for(client, member));
    reply_bulk_string(out, name);
}

static void cluster_slots(struct server *server, const struct client *client,
                          struct proto_buffer *out, const struct config_member *leader)
{
    const struct config_member *members[TRANSPORT_MAX_PEERS];
    uint32_t count = members_list(server, members);
    uint32_t others = 0;
    for (uint32_t i = 0; i < count; i++) {
        others += members[i]->id != leader->id ? 1 : 0;
    }
    reply_array(out, 1);
    reply_array(out, 3 + others);
    reply_integer(out, 0);
    reply_integer(out, 16383);
    slot_node(client, out, leader);
    for (uint32_t i = 0; i < count; i++) {
        if (members[i]->id != leader->id) {
            slot_node(client, out, members[i]);
        }
    }
}

static void shard_node(struct server *server, struct client *client, struct proto_buffer *out,
                       const struct config_member *member, bool master)
{
    char name[41];
    node_name(member->id, name);
    reply_map(out, client->protocol, 7);
    reply_bulk_string(out, "id");
    reply_bulk_string(out, name);
    reply_bulk_string(out, client->tls != NULL ? "tls-port" : "port");
    reply_integer(out, client_port_for(client, member));
    reply_bulk_string(out, "ip");
    reply_bulk_string(out, member->client_host);
    reply_bulk_string(out, "endpoint");
    reply_bulk_string(out, member->client_host);
    reply_bulk_string(out, "role");
    reply_bulk_string(out, master ? "master" : "replica");
    reply_bulk_string(out, "replication-offset");
    reply_integer(out, (int64_t)raft_commit_index(server->node.raft));
    reply_bulk_string(out, "health");
    reply_bulk_string(out, "online");
}

static void cluster_shards(struct server *server, struct client *client, struct proto_buffer *out,
                           const struct config_member *leader)
{
    reply_array(out, 1);
    reply_map(out, client->protocol, 2);
    reply_bulk_string(out, "slots");
    reply_array(out, 2);
    reply_integer(out, 0);
    reply_integer(out, 16383);
    reply_bulk_string(out, "nodes");
    const struct config_member *members[TRANSPORT_MAX_PEERS];
    uint32_t count = members_list(server, members);
    uint32_t others = 0;
    for (uint32_t i = 0; i < count; i++) {
        others += members[i]->id != leader->id ? 1 : 0;
    }
    reply_array(out, 1 + others);
    shard_node(server, client, out, leader, true);
    for (uint32_t i = 0; i < count; i++) {
        if (members[i]->id != leader->id) {
            shard_node(server, client, out, members[i], false);
        }
    }
}

static void cluster_nodes(struct server *server, struct client *client, struct proto_buffer *out)
{
    raft_node_id leader = cluster_master(server);
    char leader_name[41];
    node_name(leader, leader_name);
    struct proto_buffer text;
    proto_buffer_init(&text, 1 << 20);
    const struct config_member *members[TRANSPORT_MAX_PEERS];
    uint32_t count = members_list(server, members);
    for (uint32_t i = 0; i < count; i++) {
        const struct config_member *member = members[i];
        char name[41];
        node_name(member->id, name);
        bool self = member->id == server->config.id;
        bool master = member->id == leader;
        char line[512];
        int length =
            snprintf(line, sizeof line, "%s %s:%u@%u %s%s %s 0 0 %" PRIu64 " connected%s\n", name,
                     member->client_host, client_port_for(client, member), member->peer_port,
                     self ? "myself," : "", master ? "master" : "slave",
                     master || leader == RAFT_NODE_NONE ? "-" : leader_name,
                     raft_term(server->node.raft), master ? " 0-16383" : "");
        if (length > 0) {
            proto_buffer_append(&text, line,
                                (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
        }
    }
    reply_verbatim(out, client->protocol, (const char *)text.data, text.length);
    proto_buffer_free(&text);
}

static void cluster_info(struct server *server, struct client *client, struct proto_buffer *out)
{
    bool has_leader = raft_leader(server->node.raft) != RAFT_NODE_NONE;
    struct proto_buffer text;
    proto_buffer_init(&text, 1 << 16);
    add_line(&text, "cluster_state:%s", has_leader ? "ok" : "fail");
    add_line(&text, "cluster_slots_assigned:16384");
    add_line(&text, "cluster_slots_ok:%d", has_leader ? 16384 : 0);
    add_line(&text, "cluster_slots_pfail:0");
    add_line(&text, "cluster_slots_fail:%d", has_leader ? 0 : 16384);
    const struct config_member *members[TRANSPORT_MAX_PEERS];
    add_line(&text, "cluster_known_nodes:%u", members_list(server, members));
    add_line(&text, "cluster_size:1");
    add_line(&text, "cluster_current_epoch:%" PRIu64, raft_term(server->node.raft));
    add_line(&text, "cluster_my_epoch:%" PRIu64, raft_term(server->node.raft));
    reply_verbatim(out, client->protocol, (const char *)text.data, text.length);
    proto_buffer_free(&text);
}

void cluster_command(struct client *client, struct proto_buffer *out, size_t argc,
                     const struct kv_arg *argv)
{
    struct server *server = client->server;
    const struct kv_arg *sub = &argv[1];
    const struct config_member *leader = members_address(server, cluster_master(server));
    if (argc != 2) {
        reply_error(out, "ERR unknown subcommand or wrong number of arguments for '%.*s'",
                    (int)sub->data_bytes, (const char *)sub->data);
    } else if (argument_is(sub, "MYID")) {
        char name[41];
        node_name(server->config.id, name);
        reply_bulk_string(out, name);
    } else if (argument_is(sub, "INFO")) {
        cluster_info(server, client, out);
    } else if (argument_is(sub, "NODES")) {
        cluster_nodes(server, client, out);
    } else if ((argument_is(sub, "SLOTS") || argument_is(sub, "SHARDS")) && leader == NULL) {
        reply_error(out, "CLUSTERDOWN The cluster is down: no leader is known to this node");
    } else if (argument_is(sub, "SLOTS")) {
        cluster_slots(server, client, out, leader);
    } else if (argument_is(sub, "SHARDS")) {
        cluster_shards(server, client, out, leader);
    } else {
        reply_error(out, "ERR unknown subcommand '%.*s'. Try CLUSTER HELP.", (int)sub->data_bytes,
                    (const char *)sub->data);
    }
}
