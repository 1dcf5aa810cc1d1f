/*
 * script.h — Lua scripting: EVAL and its variants, SCRIPT, Redis 7's functions (FUNCTION,
 * FCALL), their entries in the command table (command.c) and what script.c (the commands and
 * their storage) and script_lua.c (the Lua side: sandbox, conversions, redis.*) share.
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c.
 *
 * EVAL, EVALSHA and FCALL are writes: the entry carries the script (or its SHA1, or the
 * function's name) and its arguments, and every replica runs it inside the entry's LMDB
 * transaction. The _RO forms are reads (kv_read). SCRIPT and FUNCTION have subcommands that
 * read (EXISTS, LIST) and subcommands that write (LOAD, FLUSH, DELETE); the table has one
 * flag per command, so both go through the log (docs/design-notes.md, note 17).
 *
 * Every run gets a fresh Lua state (note 17 says why): nothing of one script survives into
 * the next, so replicas, restarts and EVAL_RO on one node cannot make two replicas' Lua states
 * differ. Ownership: struct kv_script_library's strings are malloc'd and freed by
 * kv_script_library_free.
 */
#ifndef RAFTKV_KV_SCRIPT_H
#define RAFTKV_KV_SCRIPT_H

#include "kv/kv_internal.h"

/* The keys follow numkeys at argv[2] (COMMAND reports 0 0 0 and movablekeys, as Redis). The
 * write forms may copy and extend like any command they call (apply.c's page bound). */
#define KV_SCRIPT_WRITE_FLAGS                                                                      \
    (KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_NUMKEYS_2 | KV_COMMAND_COPIES |           \
     KV_COMMAND_EXTENDS)
#define KV_SCRIPT_READ_FLAGS (KV_COMMAND_READ | KV_COMMAND_NUMKEYS_2)

#define KV_SCRIPT_COMMANDS(X)                                                                      \
    X("eval", -3, KV_SCRIPT_WRITE_FLAGS, 0, 0, 0, kv_command_eval)                                 \
    X("evalsha", -3, KV_SCRIPT_WRITE_FLAGS, 0, 0, 0, kv_command_evalsha)                           \
    X("eval_ro", -3, KV_SCRIPT_READ_FLAGS, 0, 0, 0, kv_command_eval)                               \
    X("evalsha_ro", -3, KV_SCRIPT_READ_FLAGS, 0, 0, 0, kv_command_evalsha)                         \
    X("fcall", -3, KV_SCRIPT_WRITE_FLAGS, 0, 0, 0, kv_command_fcall)                               \
    X("fcall_ro", -3, KV_SCRIPT_READ_FLAGS, 0, 0, 0, kv_command_fcall)                             \
    X("script", -2, KV_COMMAND_WRITE, 0, 0, 0, kv_command_script)                                  \
    X("function", -2, KV_COMMAND_WRITE, 0, 0, 0, kv_command_function)

KV_HANDLER(kv_command_eval);
KV_HANDLER(kv_command_evalsha);
KV_HANDLER(kv_command_fcall);
KV_HANDLER(kv_command_script);
KV_HANDLER(kv_command_function);

/* ---- limits: the same on every replica, so that every replica stops a script at the same
 * instruction ---- */

/* Lua VM instructions one run may execute (library loading included): 20 million, about
 * 0.1-0.15 s of `while true do end` on this project's 2-core machines (RelWithDebInfo; a few times
 * that under ASan). The run holds the applying thread, which also drives Raft, so the worst
 * case must stay well below the 500 ms election timeout: 100 million (0.42 s) cost an election
 * in a 3-node cluster. docs/design-notes.md, note 17. */
#define KV_SCRIPT_INSTRUCTION_BUDGET UINT64_C(20000000)
#define KV_SCRIPT_HOOK_INTERVAL      10000 /* instructions between two budget checks */
/* The Lua heap of one run. Lua counts the bytes it asks for, and a fresh state asks for the
 * same bytes on every replica, so the cap is reached at the same point everywhere. */
#define KV_SCRIPT_MEMORY_BYTES (256u * 1024 * 1024)
/* Bytes one script may hand to write commands (arguments, plus this much per command): what
 * keeps one entry inside the map room apply.c reserves for it. */
#define KV_SCRIPT_WRITE_OVERHEAD_BYTES 64
/* Nesting of a script's reply that is converted; deeper parts reply an error, as Redis's
 * "reached lua stack limit". */
#define KV_SCRIPT_REPLY_MAX_DEPTH 1000
#define KV_SCRIPT_SHA_HEX_BYTES   40
#define KV_SCRIPT_NAME_BYTES      256 /* a function's name as errors quote it */

#define KV_SCRIPT_ERROR_BUDGET                                                                     \
    "ERR Script exceeded the instruction budget of 20000000 Lua instructions and was stopped"
/* The write budget is kv_options.max_value_bytes (512 MiB in the server). */
#define KV_SCRIPT_ERROR_WRITE_BUDGET                                                               \
    "ERR Script exceeded the write budget (512 MiB of arguments to write commands) and was "       \
    "stopped"
#define KV_SCRIPT_ERROR_RO_FLAG "ERR Can not execute a script with write flag using *_ro command."

/* Shebang and function flags (#!lua flags=..., register_function{flags=...}). */
enum kv_script_flags {
    KV_SCRIPT_FLAG_NO_WRITES = 1u << 0,
    KV_SCRIPT_FLAG_ALLOW_OOM = 1u << 1,
    KV_SCRIPT_FLAG_ALLOW_STALE = 1u << 2,
    KV_SCRIPT_FLAG_NO_CLUSTER = 1u << 3,
    KV_SCRIPT_FLAG_ALLOW_CROSS_SLOT = 1u << 4,
};
#define KV_SCRIPT_FLAG_COUNT 5
/* The flag's name ("no-writes", ...) for flag number i (0 .. KV_SCRIPT_FLAG_COUNT). */
const char *kv_script_flag_name(size_t i);
/* The flag named name[0..bytes), or 0 when there is none. */
unsigned kv_script_flag_parse(const char *name, size_t bytes);

/* One run's request to script_lua.c. */
struct kv_script_call {
    const char *name; /* the SHA1 (EVAL) or the function's name (FCALL), as errors quote it */
    /* EVAL: the script; FCALL and library loads: the library's code. Lua compiles it from
     * code_offset on (the shebang line dropped, its newline kept so lines count as Redis's). */
    const uint8_t *code;
    size_t code_bytes;
    size_t code_offset;
    const struct kv_arg *keys;
    size_t key_count;
    const struct kv_arg *args;
    size_t arg_count;
    bool read_only; /* writes refused: an _RO command, or the no-writes flag */
};

/* Runs an EVAL script and replies its result (or its error) to exec->reply. *compiled says
 * whether the script compiled (EVAL caches only those). Returns 0, or a negative enum kv_error
 * when storage failed inside (no reply then: the batch aborts) or memory ran out outside Lua. */
int kv_lua_eval(struct kv_exec *exec, const struct kv_script_call *call, bool *compiled);

/* Compiles an EVAL script without running it (SCRIPT LOAD): *error_text receives the compile
 * error's reply text (malloc'd) or stays NULL. */
int kv_lua_compile_check(struct kv_exec *exec, const struct kv_script_call *call,
                         char **error_text);

/* What a library registered (FUNCTION LOAD, FUNCTION LIST). */
struct kv_script_function {
    char *name;
    char *description; /* NULL when none was given */
    unsigned flags;    /* enum kv_script_flags */
};
struct kv_script_library {
    struct kv_script_function *functions; /* sorted by name */
    size_t count;
};
void kv_script_library_free(struct kv_script_library *library);

/* Runs a library's code (call->code, from code_offset) as FUNCTION LOAD does and fills
 * *library. On a Lua error *error_text receives Redis's reply text (malloc'd, the caller
 * frees) and *library stays empty. Returns 0 or a negative enum kv_error (memory outside Lua). */
int kv_lua_library_load(struct kv_exec *exec, const struct kv_script_call *call,
                        struct kv_script_library *library, char **error_text);

/* Loads the library in call->code and runs its function `function` (its name as the library
 * registered it, any case): FCALL. `read_only_command` is FCALL_RO: a function without the
 * no-writes flag is refused. Replies as kv_lua_eval. */
int kv_lua_fcall(struct kv_exec *exec, const struct kv_script_call *call, const char *function,
                 bool read_only_command);

/* SHA1 of data as 40 lowercase hex digits and a terminator. */
void kv_script_sha1_hex(const uint8_t *data, size_t bytes, char hex[KV_SCRIPT_SHA_HEX_BYTES + 1]);

/* Redis's "Library names can only contain letters, numbers, or underscores(_) ..." rule, which
 * Redis 7.0 applies to function names too. */
bool kv_script_name_valid(const char *name, size_t bytes);
#define KV_SCRIPT_ERROR_NAME                                                                       \
    "ERR Library names can only contain letters, numbers, or underscores(_) and must be at "       \
    "least one character long"

#endif
