/*
 * log.h — the server's log: one line per event on stderr, with a time stamp, the node id and
 * a level, in the spirit of Redis's log lines:
 *
 *   2026-11-25T22:30:34.123Z node=1 INFO became leader at term 3
 *
 * Under systemd's journal the time stamp gives way to a syslog priority prefix (log.c).
 * Lines below the configured level are dropped before formatting. Only the loop thread logs
 * (the thread-pool work reports back to it), so no locking is needed.
 */
#ifndef RAFTKV_SERVER_LOG_H
#define RAFTKV_SERVER_LOG_H

#include <stdint.h>

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARNING = 2,
    LOG_LEVEL_ERROR = 3,
};

void log_configure(enum log_level level, uint64_t node_id);
/* "raftkv: <message>", as an error, for what stops the process before log_configure. */
void log_startup_failure(const char *message);
/* Parses "debug", "info", "warning" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);
void log_write(enum log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)   log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)    log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...) log_write(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...)   log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
