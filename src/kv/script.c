/*
 * script.c — the scripting commands and their storage: EVAL, EVALSHA (and the _RO forms),
 * SCRIPT LOAD/EXISTS/FLUSH, FUNCTION LOAD/LIST/DELETE/FLUSH/STATS, FCALL (and FCALL_RO).
 * script_lua.c runs the Lua.
 *
 * Storage (docs/storage.md): "scripts" maps a script's SHA1 (40 lowercase hex digits) to its
 * body — what SCRIPT LOAD and every EVAL that compiled store, so that EVALSHA finds them on
 * every replica, after restarts and in snapshots. "functions" holds each library under
 * 'l' + its lowercase name (the value: its code, shebang included) and each function under
 * 'f' + its lowercase name (the value: its library's lowercase name), so FCALL finds the one
 * library to load without loading them all. Names are compared without case, as Redis does.
 *
 * Happy path: check the arguments in Redis 7.0's order with its error texts, look the script
 * up, run it (kv_lua_*), store what it defined. Failure modes: a script's own errors are its
 * reply; LMDB failures are returned (negative) and abort the batch; EVALSHA never consults
 * anything but the replicated "scripts" database, so every replica answers NOSCRIPT alike.
 */
#include <assert.h>
#include <ctype.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv/script.h"

#define KV_SCRIPT_ERROR_NOSCRIPT  "NOSCRIPT No matching script. Please use EVAL."
#define KV_SCRIPT_ERROR_NOTBUSY   "NOTBUSY No scripts in execution right now."
#define KV_SCRIPT_ERROR_NOT_FOUND "ERR Function not found"
#define KV_SCRIPT_ERROR_LONG_NAME                                                                  \
    "ERR Library and function names longer than 250 bytes are not supported"
#define KV_SCRIPT_MAX_NAME_BYTES  250 /* under LMDB's key limit with the prefix */
#define KV_SCRIPT_LIBRARY_PREFIX  'l'
#define KV_SCRIPT_FUNCTION_PREFIX 'f'
#define KV_SCRIPT_REPLY_BYTES     512

static const char *const kv_script_flag_names[KV_SCRIPT_FLAG_COUNT] = {
    "no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys",
};

const char *kv_script_flag_name(size_t i)
{
    assert(i < KV_SCRIPT_FLAG_COUNT);
    return kv_script_flag_names[i];
}

unsigned kv_script_flag_parse(const char *name, size_t bytes)
{
    for (size_t i = 0; i < KV_SCRIPT_FLAG_COUNT; i++) {
        if (strlen(kv_script_flag_names[i]) == bytes &&
            memcmp(kv_script_flag_names[i], name, bytes) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

void kv_script_sha1_hex(const uint8_t *data, size_t bytes, char hex[KV_SCRIPT_SHA_HEX_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(data, bytes, digest);
    for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[KV_SCRIPT_SHA_HEX_BYTES] = '\0';
}

bool kv_script_name_valid(const char *name, size_t bytes)
{
    if (bytes == 0) {
        return false;
    }
    for (size_t i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_') {
            return false;
        }
    }
    return true;
}

static void kv_script_reply_format(struct kv_exec *exec, const char *format, const char *value,
                                   size_t value_bytes)
{
    char text[KV_SCRIPT_REPLY_BYTES];
    int length = snprintf(text, sizeof text, format, (int)value_bytes, value);
    size_t used = (size_t)length < sizeof text ? (size_t)length : sizeof text - 1;
    exec->reply->error(exec->reply->context, text, used);
}

static void kv_script_reply_wrong_arity(struct kv_exec *exec, const char *command,
                                        const struct kv_arg *sub)
{
    char name[64];
    size_t i = 0;
    for (; i < sub->data_bytes && i + 1 < sizeof name; i++) {
        name[i] = (char)tolower(sub->data[i]);
    }
    name[i] = '\0';
    char text[KV_SCRIPT_REPLY_BYTES];
    snprintf(text, sizeof text, "ERR wrong number of arguments for '%s|%s' command", command, name);
    kv_reply_text_error(exec, text);
}

/* ---- storage ---- */

static int kv_script_db_get(struct kv_exec *exec, MDB_dbi dbi, const void *key, size_t key_bytes,
                            MDB_val *value, bool *found)
{
    MDB_val stored_key = {.mv_size = key_bytes, .mv_data = (void *)key};
    int rc = mdb_get(exec->txn, dbi, &stored_key, value);
    *found = rc == 0;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    return rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "reading a script");
}

static int kv_script_db_put(struct kv_exec *exec, MDB_dbi dbi, const void *key, size_t key_bytes,
                            const void *data, size_t data_bytes)
{
    MDB_val stored_key = {.mv_size = key_bytes, .mv_data = (void *)key};
    MDB_val value = {.mv_size = data_bytes, .mv_data = (void *)data};
    int rc = mdb_put(exec->txn, dbi, &stored_key, &value, 0);
    return rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "storing a script");
}

static int kv_script_db_drop(struct kv_exec *exec, MDB_dbi dbi)
{
    int rc = mdb_drop(exec->txn, dbi, 0);
    return rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "mdb_drop (scripts)");
}

/* A prefixed, lowercased name as a functions key. */
struct kv_script_key {
    char bytes[KV_SCRIPT_MAX_NAME_BYTES + 2];
    size_t bytes_used;
};

static bool kv_script_key(struct kv_script_key *key, char prefix, const char *name, size_t bytes)
{
    if (bytes > KV_SCRIPT_MAX_NAME_BYTES) {
        return false;
    }
    key->bytes[0] = prefix;
    for (size_t i = 0; i < bytes; i++) {
        key->bytes[1 + i] = (char)tolower((unsigned char)name[i]);
    }
    key->bytes_used = 1 + bytes;
    return true;
}

/* ---- arguments ---- */

/* numkeys at argv[2]; replies Redis's error and returns false when it does not fit argv. */
static bool kv_script_numkeys(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                              size_t *count)
{
    int64_t keys;
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &keys)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return false;
    }
    if (keys > (int64_t)(argc - 3)) {
        kv_reply_text_error(exec, "ERR Number of keys can't be greater than number of args");
        return false;
    }
    if (keys < 0) {
        kv_reply_text_error(exec, "ERR Number of keys can't be negative");
        return false;
    }
    *count = (size_t)keys;
    return true;
}

/* The next space-separated word of line[*at .. end). */
static bool kv_script_word(const char *line, size_t end, size_t *at, const char **word,
                           size_t *bytes)
{
    while (*at < end && (line[*at] == ' ' || line[*at] == '\t')) {
        (*at)++;
    }
    if (*at >= end) {
        return false;
    }
    *word = line + *at;
    while (*at < end && line[*at] != ' ' && line[*at] != '\t') {
        (*at)++;
    }
    *bytes = (size_t)(line + *at - *word);
    return true;
}

/* EVAL's shebang ("#!lua flags=no-writes,..."): *offset is where Lua starts (its newline),
 * *flags what it sets. On a bad shebang *error receives Redis's text (in `text`). */
static bool kv_script_shebang(const struct kv_arg *body, size_t *offset, unsigned *flags,
                              bool *present, char *text, size_t text_bytes)
{
    const char *code = (const char *)body->data;
    *offset = 0;
    *flags = 0;
    *present = body->data_bytes >= 2 && code[0] == '#' && code[1] == '!';
    if (!*present) {
        return true;
    }
    const char *newline = memchr(code, '\n', body->data_bytes);
    if (newline == NULL) {
        snprintf(text, text_bytes, "ERR Invalid script shebang");
        return false;
    }
    size_t end = (size_t)(newline - code);
    *offset = end;
    size_t at = 0;
    const char *word;
    size_t bytes;
    kv_script_word(code, end, &at, &word, &bytes);
    if (bytes != 5 || memcmp(word, "#!lua", 5) != 0) {
        snprintf(text, text_bytes, "ERR Unexpected engine in script shebang: %.*s", (int)bytes,
                 word);
        return false;
    }
    while (kv_script_word(code, end, &at, &word, &bytes)) {
        if (bytes < 6 || memcmp(word, "flags=", 6) != 0) {
            snprintf(text, text_bytes, "ERR Unknown lua shebang option: %.*s", (int)bytes, word);
            return false;
        }
        for (size_t start = 6; start < bytes;) {
            const char *comma = memchr(word + start, ',', bytes - start);
            size_t stop = comma != NULL ? (size_t)(comma - word) : bytes;
            unsigned flag = kv_script_flag_parse(word + start, stop - start);
            if (flag == 0) {
                snprintf(text, text_bytes, "ERR Unexpected flag in script shebang: %.*s",
                         (int)(stop - start), word + start);
                return false;
            }
            *flags |= flag;
            start = stop + 1;
        }
    }
    return true;
}

/* ---- EVAL, EVALSHA ---- */

static int kv_script_store(struct kv_exec *exec, const char *sha, const struct kv_arg *body)
{
    bool found;
    MDB_val stored;
    int result = kv_script_db_get(exec, exec->kv->scripts_dbi, sha, KV_SCRIPT_SHA_HEX_BYTES,
                                  &stored, &found);
    if (result != 0 || found) {
        return result;
    }
    return kv_script_db_put(exec, exec->kv->scripts_dbi, sha, KV_SCRIPT_SHA_HEX_BYTES, body->data,
                            body->data_bytes);
}

/* Runs `body` (known by `sha`) with argv's keys and arguments; caches it when it compiles. */
static int kv_script_run(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                         const struct kv_arg *body, const char *sha, bool read_only_command,
                         bool cache)
{
    size_t offset;
    unsigned flags;
    bool shebang;
    char error[KV_SCRIPT_REPLY_BYTES];
    bool shebang_ok = kv_script_shebang(body, &offset, &flags, &shebang, error, sizeof error);
    if (shebang_ok && read_only_command && shebang && !(flags & KV_SCRIPT_FLAG_NO_WRITES)) {
        kv_reply_text_error(exec, KV_SCRIPT_ERROR_RO_FLAG);
        return 0;
    }
    size_t key_count;
    if (!kv_script_numkeys(exec, argc, argv, &key_count)) {
        return 0;
    }
    if (!shebang_ok) {
        kv_reply_text_error(exec, error);
        return 0;
    }
    struct kv_script_call call = {
        .name = sha,
        .code = body->data,
        .code_bytes = body->data_bytes,
        .code_offset = offset,
        .keys = argv + 3,
        .key_count = key_count,
        .args = argv + 3 + key_count,
        .arg_count = argc - 3 - key_count,
        .read_only = read_only_command || (flags & KV_SCRIPT_FLAG_NO_WRITES),
    };
    bool compiled = false;
    int result = kv_lua_eval(exec, &call, &compiled);
    if (result == 0 && compiled && cache && exec->writable) {
        result = kv_script_store(exec, sha, body);
    }
    return result;
}

/* EVAL and EVAL_RO. */
KV_HANDLER(kv_command_eval)
{
    char sha[KV_SCRIPT_SHA_HEX_BYTES + 1];
    kv_script_sha1_hex(argv[1].data, argv[1].data_bytes, sha);
    bool read_only_command = kv_arg_equals_nocase(&argv[0], "eval_ro");
    return kv_script_run(exec, argc, argv, &argv[1], sha, read_only_command, true);
}

/* EVALSHA and EVALSHA_RO: only the replicated "scripts" database is consulted. */
KV_HANDLER(kv_command_evalsha)
{
    bool read_only_command = kv_arg_equals_nocase(&argv[0], "evalsha_ro");
    char sha[KV_SCRIPT_SHA_HEX_BYTES + 1] = {0};
    bool found = false;
    MDB_val stored;
    if (argv[1].data_bytes == KV_SCRIPT_SHA_HEX_BYTES) {
        for (size_t i = 0; i < KV_SCRIPT_SHA_HEX_BYTES; i++) {
            sha[i] = (char)tolower(argv[1].data[i]);
        }
        int result = kv_script_db_get(exec, exec->kv->scripts_dbi, sha, KV_SCRIPT_SHA_HEX_BYTES,
                                      &stored, &found);
        if (result != 0) {
            return result;
        }
    }
    if (!found) {
        size_t key_count;
        if (argv[1].data_bytes == KV_SCRIPT_SHA_HEX_BYTES &&
            !kv_script_numkeys(exec, argc, argv, &key_count)) {
            return 0;
        }
        kv_reply_text_error(exec, KV_SCRIPT_ERROR_NOSCRIPT);
        return 0;
    }
    /* The stored body is copied: the script's own writes may move the map's pages. */
    void *copy = malloc(stored.mv_size > 0 ? stored.mv_size : 1);
    if (copy == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    memcpy(copy, stored.mv_data, stored.mv_size);
    struct kv_arg body = {.data = copy, .data_bytes = stored.mv_size};
    int result = kv_script_run(exec, argc, argv, &body, sha, read_only_command, false);
    free(copy);
    return result;
}

/* ---- SCRIPT ---- */

static const char *const kv_script_help[] = {
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
    NULL,
};

static void kv_script_reply_help(struct kv_exec *exec, const char *const *lines)
{
    size_t count = 0;
    while (lines[count] != NULL) {
        count++;
    }
    exec->reply->array(exec->reply->context, count);
    for (size_t i = 0; i < count; i++) {
        exec->reply->status(exec->reply->context, lines[i], strlen(lines[i]));
    }
}

static bool kv_script_flush_option(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                   const char *error)
{
    if (argc > 3 || (argc == 3 && !kv_arg_equals_nocase(&argv[2], "async") &&
                     !kv_arg_equals_nocase(&argv[2], "sync"))) {
        kv_reply_text_error(exec, error);
        return false;
    }
    return true;
}

/* SCRIPT LOAD: checked and compiled as EVAL would (a script that does not compile is not
 * stored), then stored; replies the SHA1. */
static int kv_script_load(struct kv_exec *exec, const struct kv_arg *body)
{
    size_t offset;
    unsigned flags;
    bool shebang;
    char error[KV_SCRIPT_REPLY_BYTES];
    if (!kv_script_shebang(body, &offset, &flags, &shebang, error, sizeof error)) {
        kv_reply_text_error(exec, error);
        return 0;
    }
    char sha[KV_SCRIPT_SHA_HEX_BYTES + 1];
    kv_script_sha1_hex(body->data, body->data_bytes, sha);
    char *compile_error = NULL;
    struct kv_script_call call = {
        .name = sha, .code = body->data, .code_bytes = body->data_bytes, .code_offset = offset};
    int result = kv_lua_compile_check(exec, &call, &compile_error);
    if (result != 0) {
        return result;
    }
    if (compile_error != NULL) {
        kv_reply_text_error(exec, compile_error);
        free(compile_error);
        return 0;
    }
    result = kv_script_store(exec, sha, body);
    if (result == 0) {
        exec->reply->bulk(exec->reply->context, (const uint8_t *)sha, KV_SCRIPT_SHA_HEX_BYTES);
    }
    return result;
}

static int kv_script_exists(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    exec->reply->array(exec->reply->context, argc - 2);
    for (size_t i = 2; i < argc; i++) {
        bool found = false;
        if (argv[i].data_bytes == KV_SCRIPT_SHA_HEX_BYTES) {
            char sha[KV_SCRIPT_SHA_HEX_BYTES];
            for (size_t j = 0; j < KV_SCRIPT_SHA_HEX_BYTES; j++) {
                sha[j] = (char)tolower(argv[i].data[j]);
            }
            MDB_val stored;
            int result =
                kv_script_db_get(exec, exec->kv->scripts_dbi, sha, sizeof sha, &stored, &found);
            if (result != 0) {
                return result;
            }
        }
        exec->reply->integer(exec->reply->context, found ? 1 : 0);
    }
    return 0;
}

KV_HANDLER(kv_command_script)
{
    const struct kv_arg *sub = &argv[1];
    if (kv_arg_equals_nocase(sub, "load")) {
        if (argc != 3) {
            kv_script_reply_wrong_arity(exec, "script", sub);
            return 0;
        }
        return kv_script_load(exec, &argv[2]);
    }
    if (kv_arg_equals_nocase(sub, "exists")) {
        if (argc < 3) {
            kv_script_reply_wrong_arity(exec, "script", sub);
            return 0;
        }
        return kv_script_exists(exec, argc, argv);
    }
    if (kv_arg_equals_nocase(sub, "flush")) {
        if (!kv_script_flush_option(exec, argc, argv,
                                    "ERR SCRIPT FLUSH only support SYNC|ASYNC option")) {
            return 0;
        }
        int result = kv_script_db_drop(exec, exec->kv->scripts_dbi);
        if (result == 0) {
            kv_reply_ok(exec);
        }
        return result;
    }
    bool kill = kv_arg_equals_nocase(sub, "kill");
    bool help = kv_arg_equals_nocase(sub, "help");
    bool debug = kv_arg_equals_nocase(sub, "debug");
    if ((kill || help) && argc != 2) {
        kv_script_reply_wrong_arity(exec, "script", sub);
    } else if (debug && argc != 3) {
        kv_script_reply_wrong_arity(exec, "script", sub);
    } else if (kill) {
        kv_reply_text_error(exec, KV_SCRIPT_ERROR_NOTBUSY); /* a script never outlives its entry */
    } else if (help) {
        kv_script_reply_help(exec, kv_script_help);
    } else if (debug) {
        kv_reply_text_error(exec, "ERR SCRIPT DEBUG is not supported by raftkv");
    } else {
        kv_script_reply_format(exec, "ERR unknown subcommand '%.*s'. Try SCRIPT HELP.",
                               (const char *)sub->data,
                               sub->data_bytes < 128 ? sub->data_bytes : 128);
    }
    return 0;
}

/* ---- FCALL ---- */

KV_HANDLER(kv_command_fcall)
{
    bool read_only_command = kv_arg_equals_nocase(&argv[0], "fcall_ro");
    struct kv_script_key function_key;
    bool found = false;
    MDB_val library_name;
    if (kv_script_key(&function_key, KV_SCRIPT_FUNCTION_PREFIX, (const char *)argv[1].data,
                      argv[1].data_bytes)) {
        int result = kv_script_db_get(exec, exec->kv->functions_dbi, function_key.bytes,
                                      function_key.bytes_used, &library_name, &found);
        if (result != 0) {
            return result;
        }
    }
    if (!found) {
        kv_reply_text_error(exec, KV_SCRIPT_ERROR_NOT_FOUND);
        return 0;
    }
    size_t key_count;
    if (!kv_script_numkeys(exec, argc, argv, &key_count)) {
        return 0;
    }
    struct kv_script_key library_key;
    bool valid = kv_script_key(&library_key, KV_SCRIPT_LIBRARY_PREFIX, library_name.mv_data,
                               library_name.mv_size);
    MDB_val code;
    int result = valid ? kv_script_db_get(exec, exec->kv->functions_dbi, library_key.bytes,
                                          library_key.bytes_used, &code, &found)
                       : KV_ERROR_CORRUPT;
    if (result != 0 || !found) {
        return result != 0 ? result : KV_ERROR_CORRUPT; /* an index entry without its library */
    }
    char function[KV_SCRIPT_NAME_BYTES];
    snprintf(function, sizeof function, "%.*s", (int)argv[1].data_bytes,
             (const char *)argv[1].data);
    uint8_t *copy = malloc(code.mv_size > 0 ? code.mv_size : 1);
    if (copy == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    memcpy(copy, code.mv_data, code.mv_size);
    const uint8_t *newline = memchr(copy, '\n', code.mv_size);
    struct kv_script_call call = {
        .name = function,
        .code = copy,
        .code_bytes = code.mv_size,
        .code_offset = newline != NULL ? (size_t)(newline - copy) : code.mv_size,
        .keys = argv + 3,
        .key_count = key_count,
        .args = argv + 3 + key_count,
        .arg_count = argc - 3 - key_count,
        .read_only = read_only_command,
    };
    result = kv_lua_fcall(exec, &call, function, read_only_command);
    free(copy);
    return result;
}

/* ---- FUNCTION ---- */

/* A library's "#!<engine> name=<name>" line. */
struct kv_script_metadata {
    const char *name;
    size_t name_bytes;
    size_t code_offset;
};

static bool kv_script_metadata(const struct kv_arg *code, struct kv_script_metadata *metadata,
                               char *error, size_t error_bytes)
{
    const char *text = (const char *)code->data;
    if (code->data_bytes < 2 || text[0] != '#' || text[1] != '!') {
        snprintf(error, error_bytes, "ERR Missing library metadata");
        return false;
    }
    const char *newline = memchr(text, '\n', code->data_bytes);
    if (newline == NULL) {
        snprintf(error, error_bytes, "ERR Invalid library metadata");
        return false;
    }
    size_t end = (size_t)(newline - text);
    metadata->code_offset = end;
    metadata->name = NULL;
    size_t at = 2;
    const char *word;
    size_t bytes;
    if (!kv_script_word(text, end, &at, &word, &bytes) || bytes != 3 ||
        strncasecmp(word, "lua", 3) != 0) {
        snprintf(error, error_bytes, "ERR Engine '%.*s' not found", (int)(at - 2), text + 2);
        return false;
    }
    while (kv_script_word(text, end, &at, &word, &bytes)) {
        if (bytes < 5 || memcmp(word, "name=", 5) != 0) {
            snprintf(error, error_bytes, "ERR Invalid metadata value given: %.*s", (int)bytes,
                     word);
            return false;
        }
        if (metadata->name != NULL) {
            snprintf(error, error_bytes,
                     "ERR Invalid metadata value, name argument was given multiple times");
            return false;
        }
        metadata->name = word + 5;
        metadata->name_bytes = bytes - 5;
    }
    if (metadata->name == NULL) {
        snprintf(error, error_bytes, "ERR Library name was not given");
        return false;
    }
    if (!kv_script_name_valid(metadata->name, metadata->name_bytes)) {
        snprintf(error, error_bytes, "%s", KV_SCRIPT_ERROR_NAME);
        return false;
    }
    if (metadata->name_bytes > KV_SCRIPT_MAX_NAME_BYTES) {
        snprintf(error, error_bytes, "%s", KV_SCRIPT_ERROR_LONG_NAME);
        return false;
    }
    return true;
}

/* Deletes every function index entry that points at library `lower` (a lowercase name). */
static int kv_script_unindex(struct kv_exec *exec, const char *lower, size_t lower_bytes)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(exec->txn, exec->kv->functions_dbi, &cursor);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_open (functions)");
    }
    char prefix = KV_SCRIPT_FUNCTION_PREFIX;
    MDB_val key = {.mv_size = 1, .mv_data = &prefix};
    MDB_val value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && ((const char *)key.mv_data)[0] == KV_SCRIPT_FUNCTION_PREFIX) {
        if (value.mv_size == lower_bytes && memcmp(value.mv_data, lower, lower_bytes) == 0) {
            /* After a delete LMDB's MDB_NEXT returns the item that took its place. */
            rc = mdb_cursor_del(cursor, 0);
            if (rc != 0) {
                break;
            }
        }
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "unindexing");
}

/* FUNCTION LOAD's checks after the library's code registered its functions: each name fits,
 * and none belongs to another library. Replies the error and returns false otherwise. */
static int kv_script_functions_free(struct kv_exec *exec, const struct kv_script_library *library,
                                    const struct kv_script_key *library_key, bool *free_names)
{
    *free_names = false;
    for (size_t i = 0; i < library->count; i++) {
        const char *name = library->functions[i].name;
        struct kv_script_key key;
        if (!kv_script_key(&key, KV_SCRIPT_FUNCTION_PREFIX, name, strlen(name))) {
            kv_reply_text_error(exec, KV_SCRIPT_ERROR_LONG_NAME);
            return 0;
        }
        MDB_val owner;
        bool found;
        int result = kv_script_db_get(exec, exec->kv->functions_dbi, key.bytes, key.bytes_used,
                                      &owner, &found);
        if (result != 0) {
            return result;
        }
        if (found && (owner.mv_size != library_key->bytes_used - 1 ||
                      memcmp(owner.mv_data, library_key->bytes + 1, owner.mv_size) != 0)) {
            kv_script_reply_format(exec, "ERR Function %.*s already exists", name, strlen(name));
            return 0;
        }
    }
    *free_names = true;
    return 0;
}

static int kv_script_library_store(struct kv_exec *exec, const struct kv_arg *code,
                                   const struct kv_script_library *library,
                                   const struct kv_script_key *library_key)
{
    int result = kv_script_unindex(exec, library_key->bytes + 1, library_key->bytes_used - 1);
    if (result == 0) {
        result = kv_script_db_put(exec, exec->kv->functions_dbi, library_key->bytes,
                                  library_key->bytes_used, code->data, code->data_bytes);
    }
    for (size_t i = 0; i < library->count && result == 0; i++) {
        const char *name = library->functions[i].name;
        struct kv_script_key key;
        bool fits = kv_script_key(&key, KV_SCRIPT_FUNCTION_PREFIX, name, strlen(name));
        assert(fits);
        (void)fits;
        result = kv_script_db_put(exec, exec->kv->functions_dbi, key.bytes, key.bytes_used,
                                  library_key->bytes + 1, library_key->bytes_used - 1);
    }
    return result;
}

static int kv_function_load(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    bool replace = false;
    size_t at = 2;
    for (; at < argc - 1; at++) {
        if (!kv_arg_equals_nocase(&argv[at], "replace")) {
            kv_script_reply_format(exec, "ERR Unknown option given: %.*s",
                                   (const char *)argv[at].data, argv[at].data_bytes);
            return 0;
        }
        replace = true;
    }
    const struct kv_arg *code = &argv[at];
    struct kv_script_metadata metadata;
    char error[KV_SCRIPT_REPLY_BYTES];
    if (!kv_script_metadata(code, &metadata, error, sizeof error)) {
        kv_reply_text_error(exec, error);
        return 0;
    }
    struct kv_script_key library_key;
    kv_script_key(&library_key, KV_SCRIPT_LIBRARY_PREFIX, metadata.name, metadata.name_bytes);
    MDB_val existing;
    bool exists;
    int result = kv_script_db_get(exec, exec->kv->functions_dbi, library_key.bytes,
                                  library_key.bytes_used, &existing, &exists);
    if (result != 0) {
        return result;
    }
    if (exists && !replace) {
        kv_script_reply_format(exec, "ERR Library '%.*s' already exists", metadata.name,
                               metadata.name_bytes);
        return 0;
    }
    char name[KV_SCRIPT_NAME_BYTES];
    snprintf(name, sizeof name, "%.*s", (int)metadata.name_bytes, metadata.name);
    struct kv_script_call call = {.name = name,
                                  .code = code->data,
                                  .code_bytes = code->data_bytes,
                                  .code_offset = metadata.code_offset};
    struct kv_script_library library;
    char *load_error = NULL;
    result = kv_lua_library_load(exec, &call, &library, &load_error);
    if (result != 0 || load_error != NULL) {
        if (load_error != NULL) {
            kv_reply_text_error(exec, load_error);
            free(load_error);
        }
        return result;
    }
    bool free_names;
    result = kv_script_functions_free(exec, &library, &library_key, &free_names);
    if (result == 0 && free_names) {
        result = kv_script_library_store(exec, code, &library, &library_key);
        if (result == 0) {
            exec->reply->bulk(exec->reply->context, (const uint8_t *)metadata.name,
                              metadata.name_bytes);
        }
    }
    kv_script_library_free(&library);
    return result;
}

static int kv_function_delete(struct kv_exec *exec, const struct kv_arg *name)
{
    struct kv_script_key key;
    MDB_val existing;
    bool found = false;
    if (kv_script_key(&key, KV_SCRIPT_LIBRARY_PREFIX, (const char *)name->data, name->data_bytes)) {
        int result = kv_script_db_get(exec, exec->kv->functions_dbi, key.bytes, key.bytes_used,
                                      &existing, &found);
        if (result != 0) {
            return result;
        }
    }
    if (!found) {
        kv_reply_text_error(exec, "ERR Library not found");
        return 0;
    }
    int result = kv_script_unindex(exec, key.bytes + 1, key.bytes_used - 1);
    if (result == 0) {
        MDB_val stored_key = {.mv_size = key.bytes_used, .mv_data = key.bytes};
        int rc = mdb_del(exec->txn, exec->kv->functions_dbi, &stored_key, NULL);
        result = rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "deleting a library");
    }
    if (result == 0) {
        kv_reply_ok(exec);
    }
    return result;
}

/* Calls visit() for every library (its code), in name order; stops early if it fails. */
typedef int (*kv_library_visit_fn)(struct kv_exec *exec, const MDB_val *code, void *context);

static int kv_script_libraries(struct kv_exec *exec, kv_library_visit_fn visit, void *context)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(exec->txn, exec->kv->functions_dbi, &cursor);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_open (functions)");
    }
    char prefix = KV_SCRIPT_LIBRARY_PREFIX;
    MDB_val key = {.mv_size = 1, .mv_data = &prefix};
    MDB_val value;
    int result = 0;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && result == 0 && ((const char *)key.mv_data)[0] == KV_SCRIPT_LIBRARY_PREFIX) {
        result = visit(exec, &value, context);
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (result == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        result = kv_storage_error(exec->kv, rc, "walking the libraries");
    }
    return result;
}

struct kv_function_list {
    const struct kv_arg *pattern; /* LIBRARYNAME, or NULL */
    bool with_code;
    bool count_only;
    size_t count;
    size_t functions;
};

static bool kv_function_list_matches(const struct kv_function_list *list,
                                     const struct kv_script_metadata *metadata)
{
    if (list->pattern == NULL) {
        return true;
    }
    uint8_t pattern[KV_SCRIPT_REPLY_BYTES];
    uint8_t name[KV_SCRIPT_MAX_NAME_BYTES];
    size_t pattern_bytes =
        list->pattern->data_bytes < sizeof pattern ? list->pattern->data_bytes : sizeof pattern;
    for (size_t i = 0; i < pattern_bytes; i++) {
        pattern[i] = (uint8_t)tolower(list->pattern->data[i]);
    }
    for (size_t i = 0; i < metadata->name_bytes; i++) {
        name[i] = (uint8_t)tolower((unsigned char)metadata->name[i]);
    }
    return kv_glob_match(pattern, pattern_bytes, name, metadata->name_bytes);
}

static void kv_function_reply_text(struct kv_exec *exec, const char *text)
{
    exec->reply->bulk(exec->reply->context, (const uint8_t *)text, strlen(text));
}

static void kv_function_reply_functions(struct kv_exec *exec,
                                        const struct kv_script_library *library)
{
    exec->reply->array(exec->reply->context, library->count);
    for (size_t i = 0; i < library->count; i++) {
        const struct kv_script_function *function = &library->functions[i];
        exec->reply->map(exec->reply->context, 3);
        kv_function_reply_text(exec, "name");
        kv_function_reply_text(exec, function->name);
        kv_function_reply_text(exec, "description");
        if (function->description != NULL) {
            kv_function_reply_text(exec, function->description);
        } else {
            exec->reply->null(exec->reply->context);
        }
        kv_function_reply_text(exec, "flags");
        size_t flags = 0;
        for (size_t f = 0; f < KV_SCRIPT_FLAG_COUNT; f++) {
            flags += (function->flags >> f) & 1;
        }
        exec->reply->set(exec->reply->context, flags);
        for (size_t f = 0; f < KV_SCRIPT_FLAG_COUNT; f++) {
            if (function->flags & (1u << f)) {
                const char *flag = kv_script_flag_name(f);
                exec->reply->status(exec->reply->context, flag, strlen(flag));
            }
        }
    }
}

/* Loads a stored library (its code, from the map) to learn its functions. */
static int kv_script_library_inspect(struct kv_exec *exec, const MDB_val *code,
                                     struct kv_script_metadata *metadata,
                                     struct kv_script_library *library)
{
    struct kv_arg text = {.data = code->mv_data, .data_bytes = code->mv_size};
    char error[KV_SCRIPT_REPLY_BYTES];
    memset(library, 0, sizeof *library);
    if (!kv_script_metadata(&text, metadata, error, sizeof error)) {
        return KV_ERROR_CORRUPT; /* it was checked when it was loaded */
    }
    char name[KV_SCRIPT_NAME_BYTES];
    snprintf(name, sizeof name, "%.*s", (int)metadata->name_bytes, metadata->name);
    struct kv_script_call call = {.name = name,
                                  .code = code->mv_data,
                                  .code_bytes = code->mv_size,
                                  .code_offset = metadata->code_offset};
    char *load_error = NULL;
    int result = kv_lua_library_load(exec, &call, library, &load_error);
    free(load_error); /* a stored library loaded once; it loads the same way again */
    return result;
}

static int kv_function_list_visit(struct kv_exec *exec, const MDB_val *code, void *context)
{
    struct kv_function_list *list = context;
    struct kv_script_metadata metadata;
    struct kv_arg text = {.data = code->mv_data, .data_bytes = code->mv_size};
    char error[KV_SCRIPT_REPLY_BYTES];
    if (!kv_script_metadata(&text, &metadata, error, sizeof error)) {
        return KV_ERROR_CORRUPT;
    }
    if (!kv_function_list_matches(list, &metadata)) {
        return 0;
    }
    if (list->count_only) {
        list->count++;
        return 0;
    }
    struct kv_script_library library;
    int result = kv_script_library_inspect(exec, code, &metadata, &library);
    if (result != 0) {
        return result;
    }
    exec->reply->map(exec->reply->context, list->with_code ? 4 : 3);
    kv_function_reply_text(exec, "library_name");
    exec->reply->bulk(exec->reply->context, (const uint8_t *)metadata.name, metadata.name_bytes);
    kv_function_reply_text(exec, "engine");
    kv_function_reply_text(exec, "LUA");
    kv_function_reply_text(exec, "functions");
    kv_function_reply_functions(exec, &library);
    if (list->with_code) {
        kv_function_reply_text(exec, "library_code");
        exec->reply->bulk(exec->reply->context, code->mv_data, code->mv_size);
    }
    kv_script_library_free(&library);
    return 0;
}

static int kv_function_list(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    struct kv_function_list list = {0};
    for (size_t i = 2; i < argc; i++) {
        if (!list.with_code && kv_arg_equals_nocase(&argv[i], "withcode")) {
            list.with_code = true;
        } else if (list.pattern == NULL && kv_arg_equals_nocase(&argv[i], "libraryname")) {
            if (i >= argc - 1) {
                kv_reply_text_error(exec, "ERR library name argument was not given");
                return 0;
            }
            list.pattern = &argv[++i];
        } else {
            kv_script_reply_format(exec, "ERR Unknown argument %.*s", (const char *)argv[i].data,
                                   argv[i].data_bytes);
            return 0;
        }
    }
    list.count_only = true;
    int result = kv_script_libraries(exec, kv_function_list_visit, &list);
    if (result != 0) {
        return result;
    }
    exec->reply->array(exec->reply->context, list.count);
    list.count_only = false;
    return kv_script_libraries(exec, kv_function_list_visit, &list);
}

static int kv_function_count_visit(struct kv_exec *exec, const MDB_val *code, void *context)
{
    (void)exec, (void)code;
    ((struct kv_function_list *)context)->count++;
    return 0;
}

/* FUNCTION STATS: no script is ever running between entries. */
static int kv_function_stats(struct kv_exec *exec)
{
    struct kv_function_list list = {0};
    int result = kv_script_libraries(exec, kv_function_count_visit, &list);
    if (result != 0) {
        return result;
    }
    MDB_stat stat;
    int rc = mdb_stat(exec->txn, exec->kv->functions_dbi, &stat);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_stat (functions)");
    }
    const struct kv_reply *reply = exec->reply;
    reply->map(reply->context, 2);
    kv_function_reply_text(exec, "running_script");
    reply->null(reply->context);
    kv_function_reply_text(exec, "engines");
    reply->map(reply->context, 1);
    kv_function_reply_text(exec, "LUA");
    reply->map(reply->context, 2);
    kv_function_reply_text(exec, "libraries_count");
    reply->integer(reply->context, (int64_t)list.count);
    kv_function_reply_text(exec, "functions_count");
    reply->integer(reply->context, (int64_t)(stat.ms_entries - list.count));
    return 0;
}

static const char *const kv_function_help[] = {
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using "
    "FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore "
    "policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
    "replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance "
    "of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
    NULL,
};

/* The subcommands and their Redis arities. */
static const struct {
    const char *name;
    int arity;
} kv_function_subcommands[] = {
    {"load", -3}, {"list", -2}, {"delete", 3}, {"flush", -2},   {"kill", 2},
    {"stats", 2}, {"dump", 2},  {"help", 2},   {"restore", -3},
};

static bool kv_function_arity_ok(struct kv_exec *exec, size_t argc, const struct kv_arg *sub)
{
    for (size_t i = 0; i < sizeof kv_function_subcommands / sizeof kv_function_subcommands[0];
         i++) {
        if (kv_arg_equals_nocase(sub, kv_function_subcommands[i].name)) {
            int arity = kv_function_subcommands[i].arity;
            if ((arity > 0 && argc != (size_t)arity) || (arity < 0 && argc < (size_t)-arity)) {
                kv_script_reply_wrong_arity(exec, "function", sub);
                return false;
            }
            return true;
        }
    }
    kv_script_reply_format(exec, "ERR unknown subcommand '%.*s'. Try FUNCTION HELP.",
                           (const char *)sub->data, sub->data_bytes < 128 ? sub->data_bytes : 128);
    return false;
}

KV_HANDLER(kv_command_function)
{
    const struct kv_arg *sub = &argv[1];
    if (!kv_function_arity_ok(exec, argc, sub)) {
        return 0;
    }
    if (kv_arg_equals_nocase(sub, "load")) {
        return kv_function_load(exec, argc, argv);
    }
    if (kv_arg_equals_nocase(sub, "list")) {
        return kv_function_list(exec, argc, argv);
    }
    if (kv_arg_equals_nocase(sub, "delete")) {
        return kv_function_delete(exec, &argv[2]);
    }
    if (kv_arg_equals_nocase(sub, "flush")) {
        if (!kv_script_flush_option(exec, argc, argv,
                                    "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")) {
            return 0;
        }
        int result = kv_script_db_drop(exec, exec->kv->functions_dbi);
        if (result == 0) {
            kv_reply_ok(exec);
        }
        return result;
    }
    if (kv_arg_equals_nocase(sub, "stats")) {
        return kv_function_stats(exec);
    }
    if (kv_arg_equals_nocase(sub, "kill")) {
        kv_reply_text_error(exec, KV_SCRIPT_ERROR_NOTBUSY);
    } else if (kv_arg_equals_nocase(sub, "help")) {
        kv_script_reply_help(exec, kv_function_help);
    } else {
        kv_reply_text_error(exec, "ERR FUNCTION DUMP and RESTORE are not supported by raftkv");
    }
    return 0;
}
