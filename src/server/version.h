/*
 * version.h — the version raftkv was built as and the git commit it was built from, for
 * `raftkv --version`, `raftkv-backup --version` and INFO server.
 *
 * The version is CMakeLists.txt's project(VERSION), the only place it is written (the Debian
 * package's version must equal it; tests/cluster/test_package.py checks). The commit is read at
 * build time by cmake/version.cmake: 40 hex digits, or "unknown" for a build without git.
 * Nothing here allocates; every string is static.
 */
#ifndef RAFTKV_SERVER_VERSION_H
#define RAFTKV_SERVER_VERSION_H

#include <stdbool.h>
#include <stddef.h>

const char *version_number(void);   /* "0.1.0" */
const char *version_git_sha1(void); /* full commit, or "unknown" */
bool version_git_dirty(void);       /* tracked files differed from the commit */
/* Redis's redis_git_sha1: the commit's first 8 hex digits, "00000000" when unknown. */
const char *version_redis_git_sha1(void);
/* "raftkv 0.1.0 (commit abc1234)", "... (commit abc1234, modified)" or "(commit unknown)",
 * with `program` in place of raftkv. */
void version_format(const char *program, char *out, size_t out_bytes);

#endif
