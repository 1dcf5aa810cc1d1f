/*
 * log.c — formatting and level filtering for log.h. Writes whole lines with one fprintf so
 * that lines of the nodes of a local cluster sharing a terminal do not interleave mid-line.
 *
 * Under systemd, stderr is a stream to the journal, which time-stamps each line itself and
 * reads a syslog priority from a "<N>" prefix (sd-daemon(3)): when $JOURNAL_STREAM names the
 * device and inode that stderr is (systemd.exec(5)), lines carry that prefix instead of our
 * time stamp, so `journalctl -p warning -u raftkv` finds the warnings and errors.
 */
#include "server/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level configured_level = LOG_LEVEL_INFO;
static uint64_t configured_node_id;
static bool to_journal;

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "DEBUG",
    [LOG_LEVEL_INFO] = "INFO",
    [LOG_LEVEL_WARNING] = "WARNING",
    [LOG_LEVEL_ERROR] = "ERROR",
};

/* syslog's priorities: debug 7, info 6, warning 4, error 3. */
static const int journal_priorities[] = {
    [LOG_LEVEL_DEBUG] = 7,
    [LOG_LEVEL_INFO] = 6,
    [LOG_LEVEL_WARNING] = 4,
    [LOG_LEVEL_ERROR] = 3,
};

/* $JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected; a child whose stderr was
 * redirected elsewhere inherits the variable, hence the comparison. */
static bool stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long device = 0;
    unsigned long long inode = 0;
    struct stat status;
    if (stream == NULL || sscanf(stream, "%llu:%llu", &device, &inode) != 2 ||
        fstat(STDERR_FILENO, &status) != 0) {
        return false;
    }
    return (unsigned long long)status.st_dev == device &&
           (unsigned long long)status.st_ino == inode;
}

void log_configure(enum log_level level, uint64_t node_id)
{
    configured_level = level;
    configured_node_id = node_id;
    to_journal = stderr_is_journal();
}

void log_startup_failure(const char *message)
{
    fprintf(stderr, "%sraftkv: %s\n", stderr_is_journal() ? "<3>" : "", message);
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
    if (to_journal) {
        fprintf(stderr, "<%d>node=%llu %s %s\n", journal_priorities[level],
                (unsigned long long)configured_node_id, level_names[level], message);
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    fprintf(stderr, "%s.%03ldZ node=%llu %s %s\n", stamp, now.tv_nsec / 1000000,
            (unsigned long long)configured_node_id, level_names[level], message);
}
