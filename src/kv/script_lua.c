/*
 * script_lua.c — one script run in Lua 5.1: the instruction budget and the memory cap, the
 * conversions between kv's replies and Lua values, redis.call and redis.register_function,
 * and the runs themselves (EVAL, FCALL, library loads). The environment the code sees is
 * script_sandbox.c's.
 *
 * Happy path (kv_lua_eval): a fresh lua_State with a counting allocator and a count hook;
 * the sandbox; the script compiled as "@user_script" and called under an error handler that, as
 * Redis's __redis__err__handler, turns any error into {err=..., source=..., line=...}; its
 * result converted to a tape (script_tape.c) and replayed to the client's sink; the state
 * closed. redis.call resolves the command in kv's table, runs its handler in the entry's
 * transaction with a recording sink, and converts the recording into Lua values.
 *
 * Every run gets a new state, so its allocations, its garbage collection and hence the point
 * where the memory cap or the budget stops it are the same on every replica (design note 17).
 * Nothing random or timed comes from outside the entry: math.random draws from a generator
 * seeded by kv_random(exec), TIME answers exec->now_ms, tostring() of a table gives a number
 * counted in this run instead of an address.
 *
 * Failure modes: a Lua error is the script's error reply; a runaway script is stopped after
 * KV_SCRIPT_INSTRUCTION_BUDGET instructions — from then on every instruction raises again, so
 * pcall cannot swallow the stop — and replies KV_SCRIPT_ERROR_BUDGET; the heap past
 * KV_SCRIPT_MEMORY_BYTES fails allocations, which Lua turns into "not enough memory"; a storage
 * failure inside a command stops the script the same way and is returned (negative) so that
 * the batch aborts. All Lua work runs under lua_cpcall: nothing raises outside it.
 */
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/script_lua.h"

struct kv_lua *kv_lua_of(lua_State *L)
{
    void *context = NULL;
    lua_getallocf(L, &context);
    assert(context != NULL);
    return context;
}

/* ---- the allocator and the hook: the two limits ---- */

static void *kv_lua_alloc(void *context, void *block, size_t old_bytes, size_t new_bytes)
{
    struct kv_lua *lua = context;
    if (new_bytes == 0) {
        free(block);
        lua->memory_bytes -= old_bytes;
        return NULL;
    }
    if (new_bytes > old_bytes &&
        lua->memory_bytes - old_bytes + new_bytes > KV_SCRIPT_MEMORY_BYTES) {
        return NULL;
    }
    void *grown = realloc(block, new_bytes);
    if (grown != NULL) {
        lua->memory_bytes = lua->memory_bytes - old_bytes + new_bytes;
    }
    return grown;
}

/* Pushes Redis's error table {err = "CODE message"}. A `coded` text ("WRONGTYPE Operation
 * ...", as a command replies) keeps its first word as the code; any other text gets "ERR".
 * CR and LF around the message are cut (luaPushErrorBuff). */
void kv_lua_push_error(lua_State *L, const char *text, size_t bytes, bool coded)
{
    const char *code = "ERR";
    size_t code_bytes = 3;
    const char *message = text;
    const char *space = coded ? memchr(text, ' ', bytes) : NULL;
    if (coded && space != NULL) {
        code = text;
        code_bytes = (size_t)(space - text);
        message = space + 1;
    }
    size_t message_bytes = bytes - (size_t)(message - text);
    while (message_bytes > 0 && (message[0] == '\r' || message[0] == '\n')) {
        message++, message_bytes--;
    }
    while (message_bytes > 0 &&
           (message[message_bytes - 1] == '\r' || message[message_bytes - 1] == '\n')) {
        message_bytes--;
    }
    lua_newtable(L);
    lua_pushliteral(L, "err");
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    luaL_addlstring(&buffer, code, code_bytes);
    luaL_addchar(&buffer, ' ');
    luaL_addlstring(&buffer, message, message_bytes);
    luaL_pushresult(&buffer);
    lua_rawset(L, -3);
}

/* Raises {err = "ERR " .. text}, as Redis's luaPushError + luaError. */
int kv_lua_raise(lua_State *L, const char *text)
{
    kv_lua_push_error(L, text, strlen(text), false);
    return lua_error(L);
}

static void kv_lua_stop(struct kv_lua *lua, const char *text)
{
    if (!lua->stopping) {
        lua->stopping = true;
        lua->stop_text = text;
    }
}

static void kv_lua_hook(lua_State *L, lua_Debug *debug);

/* Raises the stop's error again, and makes every later instruction raise it too. */
int kv_lua_raise_stop(lua_State *L, struct kv_lua *lua)
{
    lua_sethook(L, kv_lua_hook, LUA_MASKCOUNT, 1);
    kv_lua_push_error(L, lua->stop_text, strlen(lua->stop_text), true);
    return lua_error(L);
}

static void kv_lua_hook(lua_State *L, lua_Debug *debug)
{
    (void)debug;
    struct kv_lua *lua = kv_lua_of(L);
    if (!lua->stopping) {
        lua->instructions += KV_SCRIPT_HOOK_INTERVAL;
        if (lua->instructions < KV_SCRIPT_INSTRUCTION_BUDGET) {
            return;
        }
        kv_lua_stop(lua, KV_SCRIPT_ERROR_BUDGET);
    }
    /* From now on at every instruction of this thread, so that a pcall that caught the stop
     * cannot go on: the next instruction raises again. */
    lua_sethook(L, kv_lua_hook, LUA_MASKCOUNT, 1);
    kv_lua_push_error(L, lua->stop_text, strlen(lua->stop_text), true);
    lua_error(L);
}

/* ---- small conversions ---- */

/* A Lua number as Redis replies it: (long long) of the double, which on x86-64 gives
 * INT64_MIN for NaN and anything out of range (made explicit: the cast is undefined in C). */
static int64_t kv_lua_number_to_int64(lua_Number number)
{
    if (isnan(number) || number >= 9223372036854775808.0 || number < -9223372036854775808.0) {
        return INT64_MIN;
    }
    return (int64_t)number;
}

static void kv_lua_lowercase(const char *in, size_t bytes, char *out, size_t capacity)
{
    size_t i = 0;
    for (; i < bytes && i + 1 < capacity; i++) {
        out[i] = (char)tolower((unsigned char)in[i]);
    }
    out[i] = '\0';
}

/* ---- the error handler (Redis's __redis__err__handler) ---- */

static int kv_lua_error_handler(lua_State *L)
{
    lua_Debug where;
    bool have = lua_getstack(L, 1, &where) && lua_getinfo(L, "Sl", &where);
    if (have && strcmp(where.what, "C") == 0) {
        /* An error raised in C (redis.call, error()) is reported at its Lua caller. */
        have = lua_getstack(L, 2, &where) && lua_getinfo(L, "Sl", &where);
    }
    if (lua_type(L, 1) != LUA_TTABLE) {
        lua_pushcfunction(L, kv_lua_tostring);
        lua_pushvalue(L, 1);
        lua_call(L, 1, 1);
        lua_newtable(L);
        lua_pushliteral(L, "err");
        lua_pushliteral(L, "ERR ");
        lua_pushvalue(L, -4);
        lua_concat(L, 2);
        lua_rawset(L, -3);
        lua_replace(L, 1);
        lua_settop(L, 1);
    }
    if (have) {
        lua_pushstring(L, where.source);
        lua_setfield(L, 1, "source");
        lua_pushinteger(L, where.currentline);
        lua_setfield(L, 1, "line");
    }
    return 1;
}

/* ---- kv replies into Lua values (redis.call) ---- */

static void kv_lua_push_reply(lua_State *L, struct kv_lua *lua, struct kv_tape_reader *reader);

static void kv_lua_push_items(lua_State *L, struct kv_lua *lua, struct kv_tape_reader *reader,
                              uint64_t count)
{
    lua_createtable(L, count < 1024 ? (int)count : 1024, 0);
    for (uint64_t i = 0; i < count; i++) {
        kv_lua_push_reply(L, lua, reader);
        lua_rawseti(L, -2, (int)(i + 1));
    }
}

/* {name = {...}}: RESP3's map and set shapes. */
static void kv_lua_push_keyed(lua_State *L, struct kv_lua *lua, struct kv_tape_reader *reader,
                              const char *name, uint64_t count, bool with_values)
{
    lua_newtable(L);
    lua_pushstring(L, name);
    lua_newtable(L);
    for (uint64_t i = 0; i < count; i++) {
        kv_lua_push_reply(L, lua, reader);
        if (with_values) {
            kv_lua_push_reply(L, lua, reader);
        } else {
            lua_pushboolean(L, 1);
        }
        if (lua_isnil(L, -2)) {
            lua_pop(L, 2);
        } else {
            lua_rawset(L, -3);
        }
    }
    lua_rawset(L, -3);
}

static void kv_lua_push_reply(lua_State *L, struct kv_lua *lua, struct kv_tape_reader *reader)
{
    struct kv_tape_item item;
    if (!lua_checkstack(L, 4)) {
        luaL_error(L, "reached lua stack limit");
    }
    do {
        if (!kv_tape_read(reader, &item)) {
            lua_pushboolean(L, 0);
            return;
        }
    } while (item.kind == KV_TAPE_PAIR && lua->resp == 2);
    bool resp3 = lua->resp == 3;
    switch (item.kind) {
    case KV_TAPE_STATUS:
        lua_newtable(L);
        lua_pushliteral(L, "ok");
        lua_pushlstring(L, (const char *)item.text, item.bytes);
        lua_rawset(L, -3);
        break;
    case KV_TAPE_ERROR:
        kv_lua_push_error(L, (const char *)item.text, item.bytes, true);
        break;
    case KV_TAPE_INTEGER: {
        int64_t value;
        memcpy(&value, &item.value, sizeof value);
        lua_pushnumber(L, (lua_Number)value);
        break;
    }
    case KV_TAPE_BULK:
        lua_pushlstring(L, (const char *)item.text, item.bytes);
        break;
    case KV_TAPE_DOUBLE:
        if (resp3) {
            char text[KV_DOUBLE_TEXT_BYTES * 2];
            size_t bytes = item.bytes < sizeof text - 1 ? item.bytes : sizeof text - 1;
            memcpy(text, item.text, bytes);
            text[bytes] = '\0';
            lua_newtable(L);
            lua_pushliteral(L, "double");
            lua_pushnumber(L, strtod(text, NULL));
            lua_rawset(L, -3);
        } else {
            lua_pushlstring(L, (const char *)item.text, item.bytes);
        }
        break;
    case KV_TAPE_NULL:
    case KV_TAPE_NULL_ARRAY:
        if (resp3) {
            lua_pushnil(L);
        } else {
            lua_pushboolean(L, 0);
        }
        break;
    case KV_TAPE_ARRAY:
        kv_lua_push_items(L, lua, reader, item.value);
        break;
    case KV_TAPE_SET:
        if (resp3) {
            kv_lua_push_keyed(L, lua, reader, "set", item.value, false);
        } else {
            kv_lua_push_items(L, lua, reader, item.value);
        }
        break;
    case KV_TAPE_MAP:
        if (resp3) {
            kv_lua_push_keyed(L, lua, reader, "map", item.value, true);
        } else {
            kv_lua_push_items(L, lua, reader, 2 * item.value);
        }
        break;
    case KV_TAPE_PAIRS:
        if (resp3) {
            lua_createtable(L, item.value < 1024 ? (int)item.value : 1024, 0);
            for (uint64_t i = 0; i < item.value; i++) {
                struct kv_tape_item marker;
                kv_tape_read(reader, &marker); /* the pair's marker */
                kv_lua_push_items(L, lua, reader, 2);
                lua_rawseti(L, -2, (int)(i + 1));
            }
        } else {
            kv_lua_push_items(L, lua, reader, 2 * item.value);
        }
        break;
    case KV_TAPE_PAIR:
        kv_lua_push_items(L, lua, reader, 2);
        break;
    }
}

/* ---- redis.call / redis.pcall ---- */

static bool kv_lua_forbidden(const struct kv_command *command)
{
    /* Redis 7.0's "noscript" commands among kv's: scripting itself and the blocking pops
     * (BLMPOP and BZMPOP are allowed and do not wait). */
    if (strcmp(kv_command_group(command), "scripting") == 0) {
        return true;
    }
    return (command->flags & KV_COMMAND_BLOCKING) && strcmp(command->name, "blmpop") != 0 &&
           strcmp(command->name, "bzmpop") != 0;
}

/* Reads redis.call's arguments into lua->argv; numbers become "%.17g" text, as Redis. Pushes
 * the error table and returns false when an argument is neither. */
static bool kv_lua_command_arguments(lua_State *L, struct kv_lua *lua, size_t argc)
{
    if (argc > lua->argv_capacity) {
        struct kv_arg *argv = realloc(lua->argv, argc * sizeof *argv);
        if (argv == NULL) {
            luaL_error(L, "not enough memory");
        }
        lua->argv = argv;
        lua->argv_capacity = argc;
    }
    for (size_t i = 0; i < argc; i++) {
        int index = (int)i + 1;
        if (lua_type(L, index) == LUA_TNUMBER) {
            char text[64];
            snprintf(text, sizeof text, "%.17g", (double)lua_tonumber(L, index));
            lua_pushstring(L, text);
            lua_replace(L, index);
        } else if (lua_type(L, index) != LUA_TSTRING) {
            kv_lua_push_error(L, "Lua redis lib command arguments must be strings or integers", 59,
                              false);
            return false;
        }
        size_t bytes;
        lua->argv[i].data = (const uint8_t *)lua_tolstring(L, index, &bytes);
        lua->argv[i].data_bytes = bytes;
    }
    return true;
}

/* The checks Redis makes before a script's command runs; NULL when it may not run (the error
 * table pushed). */
static const struct kv_command *kv_lua_command_check(lua_State *L, struct kv_lua *lua, size_t argc)
{
    const struct kv_command *command =
        kv_command_lookup(lua->argv[0].data, lua->argv[0].data_bytes);
    const char *refusal = NULL;
    if (command == NULL || (command->flags & KV_COMMAND_INTERNAL)) {
        refusal = "Unknown Redis command called from script";
    } else if (!kv_command_arity_ok(command, argc)) {
        refusal = "Wrong number of args calling Redis command from script";
    } else if (kv_lua_forbidden(command)) {
        refusal = "This Redis command is not allowed from script";
    } else if ((command->flags & KV_COMMAND_WRITE) && (lua->read_only || !lua->exec->writable)) {
        refusal = "Write commands are not allowed from read-only scripts.";
    }
    if (refusal != NULL) {
        kv_lua_push_error(L, refusal, strlen(refusal), false);
        return NULL;
    }
    return command;
}

/* Runs the checked command with a recording sink; false when the script must stop (its
 * write budget spent, or storage failed: lua->storage_result then aborts the batch). */
static bool kv_lua_command_run(struct kv_lua *lua, const struct kv_command *command, size_t argc)
{
    if (command->flags & KV_COMMAND_WRITE) {
        for (size_t i = 0; i < argc; i++) {
            lua->write_bytes += lua->argv[i].data_bytes;
        }
        lua->write_bytes += KV_SCRIPT_WRITE_OVERHEAD_BYTES;
        if (lua->write_bytes > lua->exec->kv->options.max_value_bytes) {
            kv_lua_stop(lua, KV_SCRIPT_ERROR_WRITE_BUDGET);
            return false;
        }
    }
    struct kv_reply sink;
    kv_tape_reset(&lua->call_tape);
    kv_tape_sink(&lua->call_tape, &sink);
    const struct kv_reply *client = lua->exec->reply;
    lua->exec->reply = &sink;
    int result = command->handler(lua->exec, argc, lua->argv);
    lua->exec->reply = client;
    /* A command that changed a collection's items wrote its record again (its version). */
    assert(result != 0 || lua->exec->unsettled_count == 0);
    if (result < 0) {
        lua->storage_result = result;
        kv_lua_stop(lua, "ERR storage failure inside a script");
        return false;
    }
    return true;
}

static int kv_lua_command(lua_State *L, bool raise)
{
    struct kv_lua *lua = kv_lua_of(L);
    if (lua->stopping) {
        return kv_lua_raise_stop(L, lua);
    }
    if (lua->phase != KV_LUA_RUNNING) {
        return kv_lua_raise(L, "redis.call/pcall can only be called inside a script invocation");
    }
    size_t argc = (size_t)lua_gettop(L);
    if (argc == 0) {
        kv_lua_push_error(L, "Please specify at least one argument for this redis lib call", 60,
                          false);
        return raise ? lua_error(L) : 1;
    }
    if (argc > KV_MAX_COMMAND_ARGS) {
        return kv_lua_raise(L, "Too many arguments calling Redis command from script");
    }
    if (!kv_lua_command_arguments(L, lua, argc)) {
        return raise ? lua_error(L) : 1;
    }
    const struct kv_command *command = kv_lua_command_check(L, lua, argc);
    if (command == NULL) {
        return raise ? lua_error(L) : 1;
    }
    if (!kv_lua_command_run(lua, command, argc)) {
        return kv_lua_raise_stop(L, lua);
    }
    if (lua->call_tape.failed) {
        return luaL_error(L, "not enough memory");
    }
    lua_settop(L, 0);
    bool is_error = lua->call_tape.used > 0 && lua->call_tape.data[0] == KV_TAPE_ERROR;
    struct kv_tape_reader reader = {
        .data = lua->call_tape.data, .used = lua->call_tape.used, .at = 0};
    kv_lua_push_reply(L, lua, &reader);
    if (raise && is_error) {
        return lua_error(L);
    }
    return 1;
}

int kv_lua_call(lua_State *L)
{
    return kv_lua_command(L, true);
}

int kv_lua_pcall_command(lua_State *L)
{
    return kv_lua_command(L, false);
}

/* ---- register_function (a library loading) ---- */

struct kv_lua_registration {
    int entry; /* stack index of the entry table being filled */
    bool has_name;
    bool has_callback;
    unsigned flags;
};

static void kv_lua_registration_flags(lua_State *L, struct kv_lua_registration *registration,
                                      int flags)
{
    for (int i = 1;; i++) {
        lua_rawgeti(L, flags, i);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return;
        }
        size_t bytes = 0;
        const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &bytes) : "";
        unsigned flag = kv_script_flag_parse(name, bytes);
        if (flag == 0) {
            kv_lua_raise(L, "unknown flag given");
        }
        registration->flags |= flag;
        lua_pop(L, 1);
    }
}

/* register_function{function_name=, callback=, flags=, description=}. */
static void kv_lua_registration_named(lua_State *L, struct kv_lua_registration *registration)
{
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            kv_lua_raise(L, "named argument key given to redis.register_function is not a string");
        }
        const char *key = lua_tostring(L, -2);
        if (strcmp(key, "function_name") == 0) {
            if (!lua_isstring(L, -1)) {
                kv_lua_raise(L, "function_name argument given to redis.register_function must be "
                                "a string");
            }
            lua_pushvalue(L, -1);
            lua_setfield(L, registration->entry, "name");
            registration->has_name = true;
        } else if (strcmp(key, "description") == 0) {
            if (!lua_isstring(L, -1)) {
                kv_lua_raise(L, "description argument given to redis.register_function must be "
                                "a string");
            }
            lua_pushvalue(L, -1);
            lua_setfield(L, registration->entry, "description");
        } else if (strcmp(key, "callback") == 0) {
            if (!lua_isfunction(L, -1)) {
                kv_lua_raise(L, "callback argument given to redis.register_function must be a "
                                "function");
            }
            lua_pushvalue(L, -1);
            lua_setfield(L, registration->entry, "callback");
            registration->has_callback = true;
        } else if (strcmp(key, "flags") == 0) {
            if (!lua_istable(L, -1)) {
                kv_lua_raise(L, "flags argument to redis.register_function must be a table "
                                "representing function flags");
            }
            kv_lua_registration_flags(L, registration, lua_gettop(L));
        } else {
            kv_lua_raise(L, "unknown argument given to redis.register_function");
        }
        lua_pop(L, 1);
    }
}

int kv_lua_register_function(lua_State *L)
{
    struct kv_lua *lua = kv_lua_of(L);
    if (lua->phase != KV_LUA_LOADING) {
        return kv_lua_raise(L, "redis.register_function can only be called on FUNCTION LOAD "
                               "command");
    }
    int argc = lua_gettop(L);
    lua_newtable(L);
    struct kv_lua_registration registration = {.entry = lua_gettop(L)};
    if (argc == 1) {
        if (!lua_istable(L, 1)) {
            return kv_lua_raise(L, "calling redis.register_function with a single argument is "
                                   "only applicable to Lua table (representing named arguments).");
        }
        kv_lua_registration_named(L, &registration);
        if (!registration.has_name) {
            return kv_lua_raise(L, "redis.register_function must get a function name argument");
        }
        if (!registration.has_callback) {
            return kv_lua_raise(L, "redis.register_function must get a callback argument");
        }
    } else if (argc == 2) {
        if (!lua_isstring(L, 1)) {
            return kv_lua_raise(L, "first argument to redis.register_function must be a string");
        }
        if (!lua_isfunction(L, 2)) {
            return kv_lua_raise(L, "second argument to redis.register_function must be a function");
        }
        lua_pushvalue(L, 1);
        lua_setfield(L, registration.entry, "name");
        lua_pushvalue(L, 2);
        lua_setfield(L, registration.entry, "callback");
    } else {
        return kv_lua_raise(L, "wrong number of arguments to redis.register_function");
    }
    lua_pushnumber(L, registration.flags);
    lua_setfield(L, registration.entry, "flags");
    lua_getfield(L, registration.entry, "name");
    size_t bytes;
    const char *name = lua_tolstring(L, -1, &bytes);
    if (!kv_script_name_valid(name, bytes)) {
        return kv_lua_raise(L, &KV_SCRIPT_ERROR_NAME[4]); /* without its "ERR " */
    }
    char lower[KV_SCRIPT_NAME_BYTES];
    kv_lua_lowercase(name, bytes, lower, sizeof lower);
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_FUNCTIONS);
    lua_getfield(L, -1, lower);
    if (!lua_isnil(L, -1)) {
        return kv_lua_raise(L, "Function already exists in the library");
    }
    lua_pop(L, 1);
    lua_pushvalue(L, registration.entry);
    lua_setfield(L, -2, lower);
    return 0;
}

/* ---- Lua values into the reply (the script's result) ---- */

/* A text as one RESP line: CR and LF become spaces (an error's trailing ones are cut first),
 * as Redis's addReplyErrorFormat and status conversion. */
static void kv_lua_tape_line(struct kv_tape *tape, enum kv_tape_kind kind, const char *text,
                             size_t bytes)
{
    if (kind == KV_TAPE_ERROR) {
        while (bytes > 0 && (text[bytes - 1] == '\r' || text[bytes - 1] == '\n')) {
            bytes--;
        }
    }
    size_t start = tape->used;
    kv_tape_text(tape, kind, text, bytes);
    if (!tape->failed) {
        uint8_t *copy = tape->data + start + 1 + sizeof(uint64_t);
        for (size_t i = 0; i < bytes; i++) {
            copy[i] = (copy[i] == '\r' || copy[i] == '\n') ? ' ' : copy[i];
        }
    }
}

static void kv_lua_value_to_tape(lua_State *L, struct kv_tape *tape, int depth);

/* The table's field `name` if it has the type wanted (pushed), else nothing pushed. */
static bool kv_lua_field(lua_State *L, const char *name, int type)
{
    lua_pushstring(L, name);
    lua_gettable(L, -2);
    if (lua_type(L, -1) == type) {
        return true;
    }
    lua_pop(L, 1);
    return false;
}

static bool kv_lua_special_to_tape(lua_State *L, struct kv_tape *tape, int depth)
{
    size_t bytes;
    if (kv_lua_field(L, "err", LUA_TSTRING)) {
        const char *text = lua_tolstring(L, -1, &bytes);
        kv_lua_tape_line(tape, KV_TAPE_ERROR, text, bytes);
    } else if (kv_lua_field(L, "ok", LUA_TSTRING)) {
        const char *text = lua_tolstring(L, -1, &bytes);
        kv_lua_tape_line(tape, KV_TAPE_STATUS, text, bytes);
    } else if (kv_lua_field(L, "double", LUA_TNUMBER)) {
        char text[KV_DOUBLE_TEXT_BYTES];
        size_t length = kv_format_double(lua_tonumber(L, -1), text);
        kv_tape_text(tape, KV_TAPE_DOUBLE, text, length);
    } else if (kv_lua_field(L, "big_number", LUA_TSTRING)) {
        const char *text = lua_tolstring(L, -1, &bytes);
        kv_lua_tape_line(tape, KV_TAPE_BULK, text, bytes);
    } else if (kv_lua_field(L, "map", LUA_TTABLE) || kv_lua_field(L, "set", LUA_TTABLE)) {
        lua_pushliteral(L, "map");
        lua_gettable(L, -3);
        bool map = lua_rawequal(L, -1, -2);
        lua_pop(L, 1);
        size_t at = kv_tape_count_placeholder(tape, map ? KV_TAPE_MAP : KV_TAPE_SET);
        uint64_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (map) {
                lua_pushvalue(L, -2);
                kv_lua_value_to_tape(L, tape, depth + 1); /* the key */
                kv_lua_value_to_tape(L, tape, depth + 1); /* the value */
            } else {
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                kv_lua_value_to_tape(L, tape, depth + 1);
            }
            count++;
        }
        kv_tape_count_patch(tape, at, count);
    } else {
        return false;
    }
    lua_pop(L, 1);
    return true;
}

/* Converts and pops the value at the top of the stack (Redis's luaReplyToRedisReply: lookups
 * go through metamethods, an array ends at its first nil). */
static void kv_lua_value_to_tape(lua_State *L, struct kv_tape *tape, int depth)
{
    if (depth > KV_SCRIPT_REPLY_MAX_DEPTH || !lua_checkstack(L, 4)) {
        kv_tape_text(tape, KV_TAPE_ERROR, "ERR reached lua stack limit", 27);
        lua_pop(L, 1);
        return;
    }
    size_t bytes;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        const char *text = lua_tolstring(L, -1, &bytes);
        kv_tape_text(tape, KV_TAPE_BULK, text, bytes);
        break;
    }
    case LUA_TBOOLEAN:
        /* After redis.setresp(3) Redis replies a boolean (RESP2 :1 and :0); kv's sink has no
         * boolean, so a RESP3 client gets :1 and :0 too (docs/commands.md). */
        if (lua_toboolean(L, -1)) {
            kv_tape_integer(tape, 1);
        } else if (kv_lua_of(L)->resp == 3) {
            kv_tape_integer(tape, 0);
        } else {
            kv_tape_kind(tape, KV_TAPE_NULL);
        }
        break;
    case LUA_TNUMBER:
        kv_tape_integer(tape, kv_lua_number_to_int64(lua_tonumber(L, -1)));
        break;
    case LUA_TTABLE: {
        if (kv_lua_special_to_tape(L, tape, depth)) {
            break;
        }
        size_t at = kv_tape_count_placeholder(tape, KV_TAPE_ARRAY);
        uint64_t count = 0;
        for (;;) {
            lua_pushnumber(L, (lua_Number)(count + 1));
            lua_gettable(L, -2);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            kv_lua_value_to_tape(L, tape, depth + 1);
            count++;
        }
        kv_tape_count_patch(tape, at, count);
        break;
    }
    default:
        kv_tape_kind(tape, KV_TAPE_NULL);
        break;
    }
    lua_pop(L, 1);
}

/* The error at the top of the stack, as Redis 7.0 replies a script's error: the message, and
 * where it was raised when the handler could tell. */
static void kv_lua_error_to_tape(lua_State *L, struct kv_lua *lua)
{
    struct kv_tape *tape = &lua->reply_tape;
    if (!lua_istable(L, -1)) {
        const char *message = lua_isstring(L, -1) ? lua_tostring(L, -1) : "execution failure";
        char text[KV_LUA_ERROR_BYTES];
        int length = snprintf(text, sizeof text, "ERR Error running script %s, %.100s",
                              lua->funcname, message);
        kv_lua_tape_line(tape, KV_TAPE_ERROR, text, (size_t)length);
        return;
    }
    int error = lua_gettop(L);
    lua_getfield(L, error, "err");
    if (!lua_isstring(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "ERR unknown error"); /* error({}): Redis 7.0 crashes here */
    }
    lua_getfield(L, error, "source");
    lua_getfield(L, error, "line");
    if (lua_isstring(L, -1) && lua_isstring(L, -2)) {
        lua_pushfstring(L, " script: %s, on %s:%s.", lua->funcname, lua_tostring(L, -2),
                        lua_tostring(L, -1));
        lua_replace(L, -3);
        lua_pop(L, 1);
        lua_concat(L, 2);
    } else {
        lua_pop(L, 2);
    }
    size_t bytes;
    const char *text = lua_tolstring(L, -1, &bytes);
    kv_lua_tape_line(tape, KV_TAPE_ERROR, text, bytes);
}

/* ---- runs ---- */

/* Compiles call->code (from its offset) as chunk `name`; pushes the function, or the message
 * and returns false. */
static bool kv_lua_compile(lua_State *L, const struct kv_script_call *call, const char *name)
{
    const char *code = (const char *)call->code + call->code_offset;
    size_t bytes = call->code_bytes - call->code_offset;
    if (bytes > 0 && code[0] == LUA_SIGNATURE[0]) {
        /* What Redis's parser-only Lua answers for bytecode. */
        lua_pushfstring(L, "%s:1: unexpected symbol near '<\\27>'", name + 1);
        return false;
    }
    return luaL_loadbuffer(L, code, bytes, name) == 0;
}

static void kv_lua_push_strings(lua_State *L, const struct kv_arg *argv, size_t count)
{
    lua_createtable(L, count < 1024 ? (int)count : 1024, 0);
    for (size_t i = 0; i < count; i++) {
        lua_pushlstring(L, (const char *)argv[i].data, argv[i].data_bytes);
        lua_rawseti(L, -2, (int)(i + 1));
    }
}

static void kv_lua_tape_error_with(struct kv_tape *tape, const char *prefix, lua_State *L)
{
    size_t bytes;
    const char *message = lua_tolstring(L, -1, &bytes);
    char text[KV_LUA_ERROR_BYTES];
    int length =
        snprintf(text, sizeof text, "%s%.*s", prefix, (int)bytes, message != NULL ? message : "");
    size_t used = (size_t)length < sizeof text ? (size_t)length : sizeof text - 1;
    kv_lua_tape_line(tape, KV_TAPE_ERROR, text, used);
}

/* Calls the function under the handler at stack index 1 with `argc` arguments already
 * pushed, and records its result or error. */
static void kv_lua_invoke(lua_State *L, struct kv_lua *lua, int argc)
{
    lua->phase = KV_LUA_RUNNING;
    int rc = lua_pcall(L, argc, 1, 1);
    lua->phase = KV_LUA_DONE;
    if (lua->stopping) {
        return; /* kv_lua_run replies the stop */
    }
    if (rc != 0) {
        kv_lua_error_to_tape(L, lua);
    } else {
        kv_lua_value_to_tape(L, &lua->reply_tape, 0);
    }
}

static int kv_lua_protected_eval(lua_State *L)
{
    struct kv_lua *lua = lua_touserdata(L, 1);
    lua_settop(L, 0);
    kv_lua_sandbox(L);
    kv_lua_use_globals(L, KV_LUA_GLOBALS);
    lua_pushcfunction(L, kv_lua_error_handler);
    if (!kv_lua_compile(L, lua->call, "@user_script")) {
        kv_lua_tape_error_with(&lua->reply_tape, "ERR Error compiling script (new function): ", L);
        return 0;
    }
    lua->compiled = true;
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_GLOBALS);
    kv_lua_push_strings(L, lua->call->keys, lua->call->key_count);
    lua_setfield(L, -2, "KEYS");
    kv_lua_push_strings(L, lua->call->args, lua->call->arg_count);
    lua_setfield(L, -2, "ARGV");
    lua_pop(L, 1);
    kv_lua_invoke(L, lua, 0);
    return 0;
}

/* Runs the library's code with the load API as its globals; true when it registered at least
 * one function, else its error is on the reply tape. */
static bool kv_lua_run_library(lua_State *L, struct kv_lua *lua)
{
    kv_lua_use_globals(L, KV_LUA_LOAD_API);
    if (!kv_lua_compile(L, lua->call, "@user_function")) {
        kv_lua_tape_error_with(&lua->reply_tape, "ERR Error compiling function: ", L);
        return false;
    }
    lua->phase = KV_LUA_LOADING;
    int rc = lua_pcall(L, 0, 0, 1);
    lua->phase = KV_LUA_SETUP;
    kv_lua_use_globals(L, KV_LUA_GLOBALS);
    if (lua->stopping) {
        return false;
    }
    if (rc != 0) {
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
        }
        kv_lua_tape_error_with(&lua->reply_tape, "ERR Error registering functions: ", L);
        return false;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_FUNCTIONS);
    lua_pushnil(L);
    bool any = lua_next(L, -2) != 0;
    lua_settop(L, 1);
    if (!any) {
        kv_tape_text(&lua->reply_tape, KV_TAPE_ERROR, "ERR No functions registered", 27);
    }
    return any;
}

static int kv_lua_protected_fcall(lua_State *L)
{
    struct kv_lua *lua = lua_touserdata(L, 1);
    lua_settop(L, 0);
    kv_lua_sandbox(L);
    lua_pushcfunction(L, kv_lua_error_handler);
    if (!kv_lua_run_library(L, lua)) {
        return 0;
    }
    char lower[KV_SCRIPT_NAME_BYTES];
    kv_lua_lowercase(lua->function, strlen(lua->function), lower, sizeof lower);
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_FUNCTIONS);
    lua_getfield(L, -1, lower);
    if (!lua_istable(L, -1)) {
        kv_tape_text(&lua->reply_tape, KV_TAPE_ERROR, "ERR Function not found", 22);
        return 0;
    }
    int entry = lua_gettop(L);
    lua_getfield(L, entry, "flags");
    unsigned flags = (unsigned)lua_tonumber(L, -1);
    lua_getfield(L, entry, "name");
    snprintf(lua->funcname, sizeof lua->funcname, "%s", lua_tostring(L, -1));
    if (lua->read_only_command && !(flags & KV_SCRIPT_FLAG_NO_WRITES)) {
        kv_tape_text(&lua->reply_tape, KV_TAPE_ERROR, KV_SCRIPT_ERROR_RO_FLAG,
                     strlen(KV_SCRIPT_ERROR_RO_FLAG));
        return 0;
    }
    if (flags & KV_SCRIPT_FLAG_NO_WRITES) {
        lua->read_only = true;
    }
    lua_getfield(L, entry, "callback");
    kv_lua_push_strings(L, lua->call->keys, lua->call->key_count);
    kv_lua_push_strings(L, lua->call->args, lua->call->arg_count);
    kv_lua_invoke(L, lua, 2);
    return 0;
}

static char *kv_lua_strdup_value(lua_State *L, int index)
{
    size_t bytes;
    const char *text = lua_tolstring(L, index, &bytes);
    char *copy = text != NULL ? malloc(bytes + 1) : NULL;
    if (copy != NULL) {
        memcpy(copy, text, bytes);
        copy[bytes] = '\0';
    }
    return copy;
}

static int kv_lua_function_compare(const void *a, const void *b)
{
    return strcmp(((const struct kv_script_function *)a)->name,
                  ((const struct kv_script_function *)b)->name);
}

/* Copies the registrations into lua->library (C memory: it outlives the state). */
static int kv_lua_collect_library(lua_State *L, struct kv_lua *lua)
{
    struct kv_script_library *library = lua->library;
    size_t capacity = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_FUNCTIONS);
    int functions = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, functions)) {
        if (library->count == capacity) {
            capacity = capacity == 0 ? 8 : capacity * 2;
            struct kv_script_function *grown =
                realloc(library->functions, capacity * sizeof *grown);
            if (grown == NULL) {
                return KV_ERROR_NO_MEMORY;
            }
            library->functions = grown;
        }
        struct kv_script_function *function = &library->functions[library->count];
        memset(function, 0, sizeof *function);
        library->count++;
        lua_getfield(L, -1, "name");
        function->name = kv_lua_strdup_value(L, -1);
        lua_getfield(L, -2, "description");
        function->description = lua_isnil(L, -1) ? NULL : kv_lua_strdup_value(L, -1);
        bool lost = function->name == NULL || (!lua_isnil(L, -1) && function->description == NULL);
        lua_getfield(L, -3, "flags");
        function->flags = (unsigned)lua_tonumber(L, -1);
        lua_pop(L, 4);
        if (lost) {
            return KV_ERROR_NO_MEMORY;
        }
    }
    lua_settop(L, functions - 1);
    qsort(library->functions, library->count, sizeof library->functions[0],
          kv_lua_function_compare);
    return 0;
}

static int kv_lua_protected_library(lua_State *L)
{
    struct kv_lua *lua = lua_touserdata(L, 1);
    lua_settop(L, 0);
    kv_lua_sandbox(L);
    lua_pushcfunction(L, kv_lua_error_handler);
    if (kv_lua_run_library(L, lua)) {
        lua->storage_result = kv_lua_collect_library(L, lua);
    }
    return 0;
}

static int kv_lua_open(struct kv_lua *lua, struct kv_exec *exec, const struct kv_script_call *call)
{
    memset(lua, 0, sizeof *lua);
    lua->exec = exec;
    lua->call = call;
    lua->read_only = call->read_only || !exec->writable;
    lua->resp = 2;
    lua->random_state = kv_random(exec);
    snprintf(lua->funcname, sizeof lua->funcname, "%s", call->name);
    lua->L = lua_newstate(kv_lua_alloc, lua);
    if (lua->L == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    lua_sethook(lua->L, kv_lua_hook, LUA_MASKCOUNT, KV_SCRIPT_HOOK_INTERVAL);
    return 0;
}

static void kv_lua_close(struct kv_lua *lua)
{
    if (lua->L != NULL) {
        lua_close(lua->L);
    }
    kv_tape_free(&lua->call_tape);
    kv_tape_free(&lua->reply_tape);
    free(lua->argv);
}

/* Runs `body` protected, with blocking commands that do not wait and PUBLISH answering 0
 * (its count differs between nodes: a script must not branch on it, design note 18), and
 * leaves the reply on the reply tape. Returns 0 or the storage failure that stopped the
 * script. */
static int kv_lua_run(struct kv_lua *lua, lua_CFunction body)
{
    bool was_in_transaction = lua->exec->in_transaction;
    bool was_hiding = lua->exec->hide_receivers;
    lua->exec->in_transaction = true;
    lua->exec->hide_receivers = true;
    int rc = lua_cpcall(lua->L, body, lua);
    lua->exec->in_transaction = was_in_transaction;
    lua->exec->hide_receivers = was_hiding;
    if (lua->storage_result != 0) {
        return lua->storage_result;
    }
    if (lua->stopping) {
        kv_tape_reset(&lua->reply_tape);
        char text[KV_LUA_ERROR_BYTES];
        int length =
            lua->library != NULL
                ? snprintf(text, sizeof text, "ERR Error registering functions: %s", lua->stop_text)
                : snprintf(text, sizeof text, "%s script: %s", lua->stop_text, lua->funcname);
        kv_tape_text(&lua->reply_tape, KV_TAPE_ERROR, text, (size_t)length);
    } else if (rc != 0 || lua->reply_tape.failed) {
        const char *message = rc == 0                    ? "not enough memory"
                              : lua_isstring(lua->L, -1) ? lua_tostring(lua->L, -1)
                                                         : "execution failure";
        kv_tape_reset(&lua->reply_tape);
        char text[KV_LUA_ERROR_BYTES];
        int length = snprintf(text, sizeof text, "ERR Error running script %s, %.100s",
                              lua->funcname, message);
        kv_lua_tape_line(&lua->reply_tape, KV_TAPE_ERROR, text, (size_t)length);
    }
    return 0;
}

static void kv_lua_reply(struct kv_lua *lua)
{
    if (lua->reply_tape.failed) {
        kv_reply_text_error(lua->exec, "ERR Error running script: not enough memory");
        return;
    }
    kv_tape_replay(&lua->reply_tape, lua->exec->reply);
}

int kv_lua_eval(struct kv_exec *exec, const struct kv_script_call *call, bool *compiled)
{
    struct kv_lua lua;
    *compiled = false;
    int result = kv_lua_open(&lua, exec, call);
    if (result == 0) {
        result = kv_lua_run(&lua, kv_lua_protected_eval);
    }
    if (result == 0) {
        *compiled = lua.compiled;
        kv_lua_reply(&lua);
    }
    kv_lua_close(&lua);
    return result;
}

int kv_lua_fcall(struct kv_exec *exec, const struct kv_script_call *call, const char *function,
                 bool read_only_command)
{
    struct kv_lua lua;
    int result = kv_lua_open(&lua, exec, call);
    lua.function = function;
    lua.read_only_command = read_only_command;
    if (result == 0) {
        result = kv_lua_run(&lua, kv_lua_protected_fcall);
    }
    if (result == 0) {
        kv_lua_reply(&lua);
    }
    kv_lua_close(&lua);
    return result;
}

/* The error the run left on its reply tape, if any, as a malloc'd text. */
static int kv_lua_take_error(struct kv_lua *lua, char **error_text)
{
    struct kv_tape_reader reader = {
        .data = lua->reply_tape.data, .used = lua->reply_tape.used, .at = 0};
    struct kv_tape_item item;
    if (!kv_tape_read(&reader, &item) || item.kind != KV_TAPE_ERROR) {
        return 0;
    }
    *error_text = malloc(item.bytes + 1);
    if (*error_text == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    memcpy(*error_text, item.text, item.bytes);
    (*error_text)[item.bytes] = '\0';
    return 0;
}

static int kv_lua_protected_check(lua_State *L)
{
    struct kv_lua *lua = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (!kv_lua_compile(L, lua->call, "@user_script")) {
        kv_lua_tape_error_with(&lua->reply_tape, "ERR Error compiling script (new function): ", L);
    }
    return 0;
}

int kv_lua_compile_check(struct kv_exec *exec, const struct kv_script_call *call, char **error_text)
{
    struct kv_lua lua;
    *error_text = NULL;
    int result = kv_lua_open(&lua, exec, call);
    if (result == 0) {
        result = kv_lua_run(&lua, kv_lua_protected_check);
    }
    if (result == 0) {
        result = kv_lua_take_error(&lua, error_text);
    }
    kv_lua_close(&lua);
    return result;
}

int kv_lua_library_load(struct kv_exec *exec, const struct kv_script_call *call,
                        struct kv_script_library *library, char **error_text)
{
    struct kv_lua lua;
    memset(library, 0, sizeof *library);
    *error_text = NULL;
    int result = kv_lua_open(&lua, exec, call);
    lua.library = library;
    if (result == 0) {
        result = kv_lua_run(&lua, kv_lua_protected_library);
    }
    if (result == 0) {
        result = kv_lua_take_error(&lua, error_text);
    }
    if (result != 0 || *error_text != NULL) {
        kv_script_library_free(library);
    }
    kv_lua_close(&lua);
    return result;
}

void kv_script_library_free(struct kv_script_library *library)
{
    for (size_t i = 0; i < library->count; i++) {
        free(library->functions[i].name);
        free(library->functions[i].description);
    }
    free(library->functions);
    library->functions = NULL;
    library->count = 0;
}
