/*
 * log.c — formatting and level filtering for log.h. Writes whole lines with one fprintf so
 * that lines of the nodes of a local cluster sharing a terminal do not interleave mid-line.
 */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level configured_level = LOG_LEVEL_INFO;
static uint64_t configured_node_id;

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "DEBUG",
    [LOG_LEVEL_INFO] = "INFO",
    [LOG_LEVEL_WARNING] = "WARNING",
    [LOG_LEVEL_ERROR] = "ERROR",
};

void log_configure(enum log_level level, uint64_t node_id)
{
    configured_level = level;
    configured_node_id = node_id;
}

const char *log_level_name(enum log_level level)
{
    return level >= LOG_LEVEL_DEBUG && level <= LOG_LEVEL_ERROR ? level_names[level] : "info";
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (int level = LOG_LEVEL_DEBUG; level <= LOG_LEVEL_ERROR; level++) {
        if (strcasecmp(name, level_names[level]) == 0) {
            *out = (enum log_level)level;
            return 0;
        }
    }
    return -1;
}

void log_write(enum log_level level, const char *format, ...)
{
    if (level < configured_level) {
        return;
    }
    char message[1024];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    fprintf(stderr, "%s.%03ldZ node=%llu %s %s\n", stamp, now.tv_nsec / 1000000,
            (unsigned long long)configured_node_id, level_names[level], message);
}
