/*
 * script_lua.h — what script_lua.c (a run: limits, conversions, redis.call, the runs) and
 * script_sandbox.c (the environment a run's Lua code sees) share: one run's state and the
 * registry keys of its Lua state. Private to kv's scripting files.
 */
#ifndef RAFTKV_KV_SCRIPT_LUA_H
#define RAFTKV_KV_SCRIPT_LUA_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "kv/script.h"
#include "kv/script_tape.h"

/* Debian's lua-cjson and lua-bitop (lua-cjson.h and lua-bitop.h declare nothing else). */
int luaopen_cjson(lua_State *L);
int luaopen_bit(lua_State *L);

#define KV_LUA_VERSION     "7.0.0" /* what INFO says as redis_version */
#define KV_LUA_VERSION_NUM 0x070000
#define KV_LUA_ERROR_BYTES 1024

/* Registry keys. */
#define KV_LUA_PROTECTED "kv.protected" /* read-only proxy -> the table behind it */
#define KV_LUA_GLOBALS   "kv.globals"   /* the real globals (behind the global proxy) */
#define KV_LUA_GLOBAL_MT "kv.global_mt" /* the proxy's metatable: its __index is switched */
#define KV_LUA_LOAD_API  "kv.load_api"  /* the globals while a library loads */
#define KV_LUA_STRING_MT "kv.string_mt" /* a proxy of the string metatable */
#define KV_LUA_FUNCTIONS "kv.functions" /* lowercase name -> {name, callback, flags, ...} */
#define KV_LUA_IDS       "kv.ids"       /* object -> the number tostring() shows */

enum kv_lua_phase {
    KV_LUA_SETUP,
    KV_LUA_LOADING, /* a library's code registers its functions */
    KV_LUA_RUNNING, /* the script or function runs: redis.call works */
    KV_LUA_DONE,
};

struct kv_lua {
    lua_State *L;
    struct kv_exec *exec;
    const struct kv_script_call *call;
    enum kv_lua_phase phase;
    size_t memory_bytes;
    uint64_t instructions;
    uint64_t write_bytes;
    uint64_t random_state;
    uint64_t next_object_id;
    bool read_only;
    int resp; /* redis.setresp: how command replies convert */
    /* Set once the budget ran out or storage failed: every further instruction raises. */
    bool stopping;
    const char *stop_text;
    int storage_result;
    bool compiled;
    char funcname[KV_SCRIPT_NAME_BYTES];
    struct kv_tape call_tape;
    struct kv_tape reply_tape;
    struct kv_arg *argv;
    size_t argv_capacity;
    /* FCALL */
    const char *function;
    bool read_only_command;
    /* FUNCTION LOAD: a stop is an error registering the functions */
    struct kv_script_library *library;
};

/* The run a Lua state belongs to (its allocator's context). */
struct kv_lua *kv_lua_of(lua_State *L);
/* Pushes Redis's error table {err = "CODE message"}; see script_lua.c. */
void kv_lua_push_error(lua_State *L, const char *text, size_t bytes, bool coded);
/* Raises {err = "ERR " .. text}. */
int kv_lua_raise(lua_State *L, const char *text);
/* Raises the run's stop again (the budget spent, storage failed). */
int kv_lua_raise_stop(lua_State *L, struct kv_lua *lua);

/* redis.call, redis.pcall and redis.register_function (script_lua.c). */
int kv_lua_call(lua_State *L);
int kv_lua_pcall_command(lua_State *L);
int kv_lua_register_function(lua_State *L);

/* The sandbox (script_sandbox.c): builds the globals in a fresh state; points the global proxy
 * at the real globals (KV_LUA_GLOBALS) or at the load API (KV_LUA_LOAD_API); tostring(). */
void kv_lua_sandbox(lua_State *L);
void kv_lua_use_globals(lua_State *L, const char *registry_key);
int kv_lua_tostring(lua_State *L);

#endif
