/*
 * stats.c — the numbers INFO and /metrics (metrics.c) report that are more than one counter:
 * latency histograms (the WAL's fsync, applying a batch, taking and installing snapshots) and
 * the error replies counted by their first word, as Redis's errorstats counts them.
 *
 * Error counts are process-wide: reply.c counts every error reply it writes, whatever path
 * produced it (a server handler, a kv reply, a replayed session reply), and none of those
 * paths has the server in reach. A process runs one server, and only its loop thread writes
 * replies, so a static table is exact. Past STATS_ERROR_KINDS distinct first words, further
 * kinds are counted together (Redis stops tracking new ones at 128 too).
 */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Upper bounds in seconds, as Prometheus's default buckets, finer at the low end where a
 * loopback fsync or apply lands. */
static const double histogram_bounds_s[HISTOGRAM_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0,
};

void histogram_record_ns(struct histogram *histogram, uint64_t duration_ns)
{
    double seconds = (double)duration_ns / 1e9;
    size_t bucket = 0;
    while (bucket < HISTOGRAM_BUCKETS && seconds > histogram_bounds_s[bucket]) {
        bucket++;
    }
    histogram->counts[bucket]++; /* counts[HISTOGRAM_BUCKETS]: above every bound */
    histogram->total++;
    histogram->sum_ns += duration_ns;
}

double histogram_bound_s(size_t bucket)
{
    return histogram_bounds_s[bucket];
}

static struct {
    struct {
        char kind[STATS_ERROR_KIND_BYTES];
        uint64_t count;
    } kinds[STATS_ERROR_KINDS];
    size_t kind_count;
    uint64_t untracked;
} error_stats;

void stats_count_error(const char *text, size_t text_bytes)
{
    size_t length = 0;
    while (length < text_bytes && length + 1 < STATS_ERROR_KIND_BYTES && text[length] != ' ') {
        length++;
    }
    for (size_t i = 0; i < error_stats.kind_count; i++) {
        if (strlen(error_stats.kinds[i].kind) == length &&
            memcmp(error_stats.kinds[i].kind, text, length) == 0) {
            error_stats.kinds[i].count++;
            return;
        }
    }
    if (error_stats.kind_count == STATS_ERROR_KINDS) {
        error_stats.untracked++;
        return;
    }
    memcpy(error_stats.kinds[error_stats.kind_count].kind, text, length);
    error_stats.kinds[error_stats.kind_count].kind[length] = '\0';
    error_stats.kinds[error_stats.kind_count].count = 1;
    error_stats.kind_count++;
}

void stats_for_each_error(stats_error_fn visit, void *context)
{
    for (size_t i = 0; i < error_stats.kind_count; i++) {
        visit(context, error_stats.kinds[i].kind, error_stats.kinds[i].count);
    }
    if (error_stats.untracked > 0) {
        visit(context, "UNTRACKED", error_stats.untracked);
    }
}

/* ---- per command ------------------------------------------------------------------------------
 */

/* Bucket b holds latencies up to 2^(b/4) microseconds (bucket 0: up to 1 µs). */
static size_t latency_bucket(uint64_t duration_us)
{
    size_t bucket = 0;
    double bound = 1.0;
    while (bucket + 1 < STATS_LATENCY_BUCKETS && (double)duration_us > bound) {
        bucket++;
        bound *= 1.189207115002721; /* 2^(1/4) */
    }
    return bucket;
}

static double latency_bound_us(size_t bucket)
{
    double bound = 1.0;
    for (size_t i = 0; i < bucket; i++) {
        bound *= 1.189207115002721;
    }
    return bound;
}

void stats_command_begin(struct client *client, size_t slot, size_t argc, const struct kv_arg *argv)
{
    struct request_stat *stat = &client->stat;
    stat->slot = (uint16_t)(slot < STATS_COMMAND_SLOTS ? slot : STATS_NO_COMMAND);
    stat->started_ns = uv_hrtime();
    stat->argc = (uint32_t)argc;
    size_t used = 0;
    /* The slow log's copy of the arguments, only while there is a slow log. */
    for (size_t i = 0; i < argc && client->server->config.slowlog_log_slower_than >= 0; i++) {
        size_t length = argv[i].data_bytes < 127 ? argv[i].data_bytes : 127;
        if (used + 1 + length > SLOWLOG_ARGS_BYTES) {
            break;
        }
        stat->args[used] = (char)length;
        memcpy(stat->args + used + 1, argv[i].data, length);
        used += 1 + length;
    }
    stat->args_bytes = used;
}

static void slowlog_add(struct server *server, const struct client *client,
                        const struct request_stat *stat, uint64_t duration_us)
{
    struct slowlog *log = &server->slowlog;
    size_t wanted = server->config.slowlog_max_len;
    if (wanted == 0) {
        return;
    }
    if (log->capacity != wanted) {
        struct slowlog_entry *entries = calloc(wanted, sizeof *entries);
        if (entries == NULL) {
            return;
        }
        free(log->entries);
        log->entries = entries;
        log->capacity = wanted;
        log->count = 0;
        log->next = 0;
    }
    struct slowlog_entry *entry = &log->entries[log->next];
    entry->id = log->next_id++;
    entry->time_s = (uint64_t)time(NULL);
    entry->duration_us = duration_us;
    memcpy(entry->args, stat->args, stat->args_bytes);
    entry->args_bytes = stat->args_bytes;
    entry->argc = stat->argc;
    snprintf(entry->client_address, sizeof entry->client_address, "%s", client->address);
    snprintf(entry->client_name, sizeof entry->client_name, "%.63s", client->name);
    log->next = (log->next + 1) % log->capacity;
    log->count += log->count < log->capacity ? 1 : 0;
}

void stats_command_done(const struct client *client, const struct request_stat *stat, bool failed)
{
    struct server *server = client->server;
    if (stat->slot >= STATS_COMMAND_SLOTS) {
        return;
    }
    uint64_t duration_us = (uv_hrtime() - stat->started_ns) / 1000;
    struct command_stat *command = &server->stats.commands[stat->slot];
    command->calls++;
    command->usec += duration_us;
    command->failed += failed ? 1 : 0;
    server->stats.sample_commands++;
    if (command->latency == NULL) {
        command->latency = calloc(STATS_LATENCY_BUCKETS, sizeof *command->latency);
    }
    if (command->latency != NULL) {
        command->latency[latency_bucket(duration_us)]++;
    }
    stats_latency_event(server, LATENCY_COMMAND, duration_us * 1000);
    int64_t threshold = server->config.slowlog_log_slower_than;
    if (threshold >= 0 && duration_us >= (uint64_t)threshold) {
        slowlog_add(server, client, stat, duration_us);
    }
}

const char *stats_latency_event_name(enum latency_event event)
{
    static const char *const names[LATENCY_EVENT_COUNT] = {"command", "wal-fsync", "apply"};
    return names[event];
}

void stats_latency_event(struct server *server, enum latency_event event, uint64_t duration_ns)
{
    uint64_t threshold_ms = server->config.latency_monitor_threshold;
    uint64_t duration_ms = duration_ns / 1000000;
    if (threshold_ms == 0 || duration_ms < threshold_ms) {
        return;
    }
    struct latency_series *series = &server->latency[event];
    uint64_t now_s = (uint64_t)time(NULL);
    series->latest_s = now_s;
    series->latest_ms = duration_ms;
    series->max_ms = duration_ms > series->max_ms ? duration_ms : series->max_ms;
    size_t last = (series->next + LATENCY_HISTORY - 1) % LATENCY_HISTORY;
    if (series->count > 0 && series->samples_s[last] == now_s) {
        /* one sample per second, the largest (as Redis) */
        if (duration_ms > series->samples_ms[last]) {
            series->samples_ms[last] = duration_ms;
        }
        return;
    }
    series->samples_s[series->next] = now_s;
    series->samples_ms[series->next] = duration_ms;
    series->next = (series->next + 1) % LATENCY_HISTORY;
    series->count += series->count < LATENCY_HISTORY ? 1 : 0;
}

void stats_command_rejected(struct server *server, size_t slot)
{
    if (slot < STATS_COMMAND_SLOTS) {
        server->stats.commands[slot].rejected++;
    }
}

double stats_latency_percentile_us(const struct command_stat *command, double percentile)
{
    if (command->latency == NULL || command->calls == 0) {
        return 0;
    }
    uint64_t total = 0;
    for (size_t b = 0; b < STATS_LATENCY_BUCKETS; b++) {
        total += command->latency[b];
    }
    uint64_t rank = (uint64_t)((double)total * percentile / 100.0 + 0.5);
    uint64_t seen = 0;
    for (size_t b = 0; b < STATS_LATENCY_BUCKETS; b++) {
        seen += command->latency[b];
        if (seen >= rank && seen > 0) {
            return latency_bound_us(b);
        }
    }
    return latency_bound_us(STATS_LATENCY_BUCKETS - 1);
}

void stats_reset(struct server *server)
{
    for (size_t i = 0; i < STATS_COMMAND_SLOTS; i++) {
        free(server->stats.commands[i].latency);
        memset(&server->stats.commands[i], 0, sizeof server->stats.commands[i]);
    }
    memset(&error_stats, 0, sizeof error_stats);
}

void stats_free(struct server *server)
{
    for (size_t i = 0; i < STATS_COMMAND_SLOTS; i++) {
        free(server->stats.commands[i].latency);
        server->stats.commands[i].latency = NULL;
    }
    free(server->slowlog.entries);
    server->slowlog.entries = NULL;
}

/* Every 100 ms (the sweep timer calls it more often): one sample of each rate. */
void stats_sample(struct server *server, uint64_t now_ms)
{
    struct server_stats *stats = &server->stats;
    if (stats->sample_ms != 0 && now_ms - stats->sample_ms < 100) {
        return;
    }
    uint64_t elapsed = stats->sample_ms != 0 ? now_ms - stats->sample_ms : 0;
    if (elapsed > 0) {
        size_t at = stats->sample_next;
        stats->ops_samples[at] = stats->sample_commands * 1000 / elapsed;
        stats->input_samples[at] = (stats->bytes_in - stats->sample_input) * 1000 / elapsed;
        stats->output_samples[at] = (stats->bytes_out - stats->sample_output) * 1000 / elapsed;
        stats->sample_next = (at + 1) % 16;
    }
    stats->sample_ms = now_ms;
    stats->sample_commands = 0;
    stats->sample_input = stats->bytes_in;
    stats->sample_output = stats->bytes_out;
}

uint64_t stats_average(const uint64_t samples[16])
{
    uint64_t sum = 0;
    for (size_t i = 0; i < 16; i++) {
        sum += samples[i];
    }
    return sum / 16;
}
