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

#include <string.h>

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
