/*
 * version.c — the build's version and commit (version.h), from the header that
 * cmake/version.cmake writes into the build tree at every build.
 */
#include "server/version.h"

#include <stdio.h>
#include <string.h>

#include "version_generated.h"

const char *version_number(void)
{
    return RAFTKV_VERSION_TEXT;
}

const char *version_git_sha1(void)
{
    return RAFTKV_GIT_SHA1_TEXT;
}

bool version_git_dirty(void)
{
    return RAFTKV_GIT_DIRTY_FLAG != 0;
}

const char *version_redis_git_sha1(void)
{
    static char short_sha1[9];
    if (strcmp(RAFTKV_GIT_SHA1_TEXT, "unknown") == 0) {
        return "00000000";
    }
    snprintf(short_sha1, sizeof short_sha1, "%.8s", RAFTKV_GIT_SHA1_TEXT);
    return short_sha1;
}

void version_format(const char *program, char *out, size_t out_bytes)
{
    bool known = strcmp(RAFTKV_GIT_SHA1_TEXT, "unknown") != 0;
    snprintf(out, out_bytes, "%s %s (commit %.7s%s)", program, RAFTKV_VERSION_TEXT,
             RAFTKV_GIT_SHA1_TEXT, known && version_git_dirty() ? ", modified" : "");
}
