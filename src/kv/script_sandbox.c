/*
 * script_sandbox.c — the Lua environment a script runs in, built afresh for every run: Redis
 * 7.0's globals (base, table, string, math, cjson, bit, redis) with our replacements, every
 * library table and the globals behind read-only proxies, and the globals a library sees while
 * it loads (only redis.register_function, redis.log and the constants).
 *
 * Debian's liblua5.1 is stock Lua, without Redis's read-only tables, so protection is built
 * from what stock Lua offers: an empty proxy whose __index reads through to the real table and
 * whose __newindex refuses, and replacements of the built-ins that could reach behind a proxy
 * (rawset, rawget, next, pairs, getmetatable, setmetatable). loadstring and load refuse binary
 * chunks; tostring() numbers objects instead of printing addresses; math.random draws from the
 * run's seeded generator. Failure modes: every refusal is a Lua error with Redis's text.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kv/script_lua.h"

/* tostring() without addresses: tables, functions and threads are numbered in the order this
 * run first shows them, so that a script writing tostring({}) writes the same on every
 * replica. */
int kv_lua_tostring(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_callmeta(L, 1, "__tostring")) {
        return 1;
    }
    switch (lua_type(L, 1)) {
    case LUA_TNUMBER:
        lua_pushstring(L, lua_tostring(L, 1));
        return 1;
    case LUA_TSTRING:
        lua_pushvalue(L, 1);
        return 1;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, 1) ? "true" : "false");
        return 1;
    case LUA_TNIL:
        lua_pushliteral(L, "nil");
        return 1;
    default:
        break;
    }
    struct kv_lua *lua = kv_lua_of(L);
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_IDS);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    uint64_t id = (uint64_t)lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (id == 0) {
        id = ++lua->next_object_id;
        lua_pushvalue(L, 1);
        lua_pushnumber(L, (lua_Number)id);
        lua_rawset(L, -3);
    }
    char text[64];
    snprintf(text, sizeof text, "%s: 0x%08llx", luaL_typename(L, 1), (unsigned long long)id);
    lua_pushstring(L, text);
    return 1;
}

/* ---- the sandbox: read-only proxies ---- */

static int kv_lua_readonly_error(lua_State *L)
{
    return luaL_error(L, "Attempt to modify a readonly table");
}

static int kv_lua_missing_global(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      name != NULL ? name : "?");
}

/* Whether the value at index is a read-only proxy; if so, pushes the table behind it. */
static bool kv_lua_behind_proxy(lua_State *L, int index)
{
    if (lua_type(L, index) != LUA_TTABLE) {
        return false;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_PROTECTED);
    lua_pushvalue(L, index);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    return true;
}

/* Replaces the table at the top of the stack with an empty proxy that reads through to it and
 * refuses every write; returns nothing. */
static void kv_lua_protect(lua_State *L)
{
    int real = lua_gettop(L);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushvalue(L, real);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, kv_lua_readonly_error);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_PROTECTED);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, real);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_replace(L, real);
}

static int kv_lua_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (kv_lua_behind_proxy(L, 1)) {
        lua_pushliteral(L, "Attempt to modify a readonly table");
        return lua_error(L); /* no position, as Redis's lua_rawset check */
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

static int kv_lua_rawget(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    if (kv_lua_behind_proxy(L, 1)) {
        lua_replace(L, 1);
    }
    lua_settop(L, 2);
    lua_rawget(L, 1);
    return 1;
}

static int kv_lua_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (kv_lua_behind_proxy(L, 1)) {
        lua_replace(L, 1);
    }
    lua_settop(L, 2);
    if (lua_next(L, 1)) {
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

static int kv_lua_pairs(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushcfunction(L, kv_lua_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int kv_lua_getmetatable(lua_State *L)
{
    luaL_checkany(L, 1);
    if (kv_lua_behind_proxy(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    if (lua_type(L, 1) == LUA_TSTRING) {
        lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_STRING_MT);
        return 1;
    }
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    luaL_getmetafield(L, 1, "__metatable");
    return 1;
}

static int kv_lua_setmetatable(lua_State *L)
{
    int type = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argcheck(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table expected");
    if (kv_lua_behind_proxy(L, 1)) {
        lua_pushliteral(L, "Attempt to modify a readonly table");
        return lua_error(L);
    }
    if (luaL_getmetafield(L, 1, "__metatable")) {
        return luaL_error(L, "cannot change a protected metatable");
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* loadstring and load without binary chunks: Lua 5.1 loads bytecode unchecked, and crafted
 * bytecode can break the VM (Redis removed the undump path for the same reason). */
static int kv_lua_load_text(lua_State *L, const char *code, size_t bytes, const char *name)
{
    if (bytes > 0 && code[0] == LUA_SIGNATURE[0]) {
        lua_pushnil(L);
        lua_pushliteral(L, "binary chunks are not allowed in scripts");
        return 2;
    }
    if (luaL_loadbuffer(L, code, bytes, name) != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

static int kv_lua_loadstring(lua_State *L)
{
    size_t bytes;
    const char *code = luaL_checklstring(L, 1, &bytes);
    const char *name = luaL_optstring(L, 2, code);
    return kv_lua_load_text(L, code, bytes, name);
}

static int kv_lua_load(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    const char *name = luaL_optstring(L, 2, "=(load)");
    lua_settop(L, 2);
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    for (;;) {
        lua_pushvalue(L, 1);
        lua_call(L, 0, 1);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            break;
        }
        if (!lua_isstring(L, -1)) {
            return luaL_error(L, "reader function must return a string");
        }
        if (lua_objlen(L, -1) == 0) {
            lua_pop(L, 1);
            break;
        }
        luaL_addvalue(&buffer);
    }
    luaL_pushresult(&buffer);
    size_t bytes;
    const char *code = lua_tolstring(L, -1, &bytes);
    return kv_lua_load_text(L, code, bytes, name);
}

/* Redis's pcall: an error that is a table ({err=...}) comes back as its message. */
static int kv_lua_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    int argc = lua_gettop(L);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    if (lua_pcall(L, argc - 1, LUA_MULTRET, 0) != 0) {
        struct kv_lua *lua = kv_lua_of(L);
        if (lua->stopping) {
            return kv_lua_raise_stop(L, lua);
        }
        lua_remove(L, 1);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "err");
            if (lua_isstring(L, -1)) {
                lua_replace(L, -2);
            } else {
                lua_pop(L, 1);
            }
        }
        lua_pushboolean(L, 0);
        lua_insert(L, 1);
    }
    return lua_gettop(L);
}

/* math.random and math.randomseed as Redis's (Lua's own, over another generator): the
 * generator is seeded from the entry, so every replica draws the same numbers. */
static uint64_t kv_lua_next_random(struct kv_lua *lua)
{
    uint64_t z = (lua->random_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int kv_lua_math_random(lua_State *L)
{
    struct kv_lua *lua = kv_lua_of(L);
    lua_Number r = (lua_Number)(kv_lua_next_random(lua) >> 11) * (1.0 / 9007199254740992.0);
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, r);
        break;
    case 1: {
        int upper = luaL_checkint(L, 1);
        luaL_argcheck(L, 1 <= upper, 1, "interval is empty");
        lua_pushnumber(L, floor(r * upper) + 1);
        break;
    }
    case 2: {
        int lower = luaL_checkint(L, 1);
        int upper = luaL_checkint(L, 2);
        luaL_argcheck(L, lower <= upper, 2, "interval is empty");
        lua_pushnumber(L, floor(r * ((lua_Number)upper - lower + 1)) + lower);
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    return 1;
}

static int kv_lua_math_randomseed(lua_State *L)
{
    struct kv_lua *lua = kv_lua_of(L);
    lua->random_state = (uint64_t)(int64_t)luaL_checkint(L, 1);
    return 0;
}

/* ---- redis.* (call, pcall and register_function are script_lua.c's) ---- */

/* redis.log: checked as Redis checks it, then dropped (kv has no log; design note 17). */
static int kv_lua_log(lua_State *L)
{
    int argc = lua_gettop(L);
    if (argc < 2) {
        return kv_lua_raise(L, "redis.log() requires two arguments or more.");
    }
    if (!lua_isnumber(L, 1)) {
        return kv_lua_raise(L, "First argument must be a number (log level).");
    }
    lua_Number level = lua_tonumber(L, 1);
    if (level < 0 || level > 3) {
        return kv_lua_raise(L, "Invalid debug level.");
    }
    return 0;
}

static int kv_lua_setresp(lua_State *L)
{
    struct kv_lua *lua = kv_lua_of(L);
    if (lua_gettop(L) != 1) {
        return kv_lua_raise(L, "redis.setresp() requires one argument.");
    }
    int resp = (int)lua_tonumber(L, 1);
    if (resp != 2 && resp != 3) {
        return kv_lua_raise(L, "RESP version must be 2 or 3.");
    }
    lua->resp = resp;
    return 0;
}

static int kv_lua_sha1hex(lua_State *L)
{
    if (lua_gettop(L) != 1) {
        return kv_lua_raise(L, "wrong number of arguments");
    }
    size_t bytes = 0;
    const char *text = lua_tolstring(L, 1, &bytes);
    char hex[KV_SCRIPT_SHA_HEX_BYTES + 1];
    kv_script_sha1_hex((const uint8_t *)(text != NULL ? text : ""), text != NULL ? bytes : 0, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int kv_lua_error_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        kv_lua_push_error(L, "wrong number or type of arguments", 33, false);
        return 1;
    }
    size_t bytes;
    const char *text = lua_tolstring(L, 1, &bytes);
    /* "-CODE msg" and "CODE msg" both keep their code; a text without a space gets ERR. */
    if (bytes > 0 && text[0] == '-') {
        text++, bytes--;
    }
    kv_lua_push_error(L, text, bytes, true);
    if (memchr(text, ' ', bytes) == NULL) {
        lua_pop(L, 1);
        kv_lua_push_error(L, text, bytes, false);
    }
    return 1;
}

static int kv_lua_status_reply(lua_State *L)
{
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        kv_lua_push_error(L, "wrong number or type of arguments", 33, false);
        return 1;
    }
    lua_newtable(L);
    lua_pushliteral(L, "ok");
    lua_pushvalue(L, 1);
    lua_rawset(L, -3);
    return 1;
}

/* redis.set_repl: checked, then nothing to do (every replica runs the whole script). */
static int kv_lua_set_repl(lua_State *L)
{
    if (lua_gettop(L) != 1) {
        return kv_lua_raise(L, "redis.set_repl() requires two arguments.");
    }
    lua_Number flags = lua_tonumber(L, 1);
    if (flags < 0 || flags > 3 || flags != floor(flags)) {
        return kv_lua_raise(
            L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
    }
    return 0;
}

static int kv_lua_replicate_commands(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

static int kv_lua_breakpoint(lua_State *L)
{
    lua_pushboolean(L, 0);
    return 1;
}

static int kv_lua_debug(lua_State *L)
{
    (void)L;
    return 0;
}

static const luaL_Reg kv_lua_redis_api[] = {
    {"call", kv_lua_call},
    {"pcall", kv_lua_pcall_command},
    {"log", kv_lua_log},
    {"setresp", kv_lua_setresp},
    {"sha1hex", kv_lua_sha1hex},
    {"error_reply", kv_lua_error_reply},
    {"status_reply", kv_lua_status_reply},
    {"set_repl", kv_lua_set_repl},
    {"replicate_commands", kv_lua_replicate_commands},
    {"breakpoint", kv_lua_breakpoint},
    {"debug", kv_lua_debug},
    {NULL, NULL},
};

static void kv_lua_set_number(lua_State *L, const char *name, lua_Number value)
{
    lua_pushnumber(L, value);
    lua_setfield(L, -2, name);
}

/* The constants both redis tables have (a script's, and a library load's). */
static void kv_lua_redis_constants(lua_State *L)
{
    kv_lua_set_number(L, "LOG_DEBUG", 0);
    kv_lua_set_number(L, "LOG_VERBOSE", 1);
    kv_lua_set_number(L, "LOG_NOTICE", 2);
    kv_lua_set_number(L, "LOG_WARNING", 3);
    lua_pushliteral(L, KV_LUA_VERSION);
    lua_setfield(L, -2, "REDIS_VERSION");
    kv_lua_set_number(L, "REDIS_VERSION_NUM", KV_LUA_VERSION_NUM);
}

static void kv_lua_open_library(lua_State *L, const char *name, lua_CFunction open, bool global)
{
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (global) {
        lua_setglobal(L, name);
    } else {
        lua_pop(L, 1);
    }
}

static void kv_lua_set_function(lua_State *L, const char *name, lua_CFunction function)
{
    lua_pushcfunction(L, function);
    lua_setfield(L, -2, name);
}

/* The real globals: Redis 7.0's allow list, with our replacements. Leaves them on the stack. */
static void kv_lua_globals(lua_State *L)
{
    kv_lua_open_library(L, "", luaopen_base, false);
    kv_lua_open_library(L, LUA_TABLIBNAME, luaopen_table, false);
    kv_lua_open_library(L, LUA_STRLIBNAME, luaopen_string, false);
    kv_lua_open_library(L, LUA_MATHLIBNAME, luaopen_math, false);
    kv_lua_open_library(L, "cjson", luaopen_cjson, true);
    kv_lua_open_library(L, "bit", luaopen_bit, true);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    static const char *const removed[] = {"dofile",   "loadfile", "print",   "getfenv", "setfenv",
                                          "newproxy", "module",   "require", "_LOADED", NULL};
    for (size_t i = 0; removed[i] != NULL; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, removed[i]);
    }
    kv_lua_set_function(L, "tostring", kv_lua_tostring);
    kv_lua_set_function(L, "rawset", kv_lua_rawset);
    kv_lua_set_function(L, "rawget", kv_lua_rawget);
    kv_lua_set_function(L, "next", kv_lua_next);
    kv_lua_set_function(L, "pairs", kv_lua_pairs);
    kv_lua_set_function(L, "getmetatable", kv_lua_getmetatable);
    kv_lua_set_function(L, "setmetatable", kv_lua_setmetatable);
    kv_lua_set_function(L, "loadstring", kv_lua_loadstring);
    kv_lua_set_function(L, "load", kv_lua_load);
    kv_lua_set_function(L, "pcall", kv_lua_pcall);
    lua_getfield(L, -1, LUA_MATHLIBNAME);
    kv_lua_set_function(L, "random", kv_lua_math_random);
    kv_lua_set_function(L, "randomseed", kv_lua_math_randomseed);
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_register(L, NULL, kv_lua_redis_api);
    kv_lua_redis_constants(L);
    kv_lua_set_number(L, "REPL_NONE", 0);
    kv_lua_set_number(L, "REPL_AOF", 1);
    kv_lua_set_number(L, "REPL_SLAVE", 2);
    kv_lua_set_number(L, "REPL_REPLICA", 2);
    kv_lua_set_number(L, "REPL_ALL", 3);
    lua_setfield(L, -2, "redis");
}

/* What a library's code sees while it loads: redis.register_function, redis.log and the
 * constants, nothing else (as Redis 7.0). */
static void kv_lua_load_api(lua_State *L)
{
    lua_newtable(L);
    lua_newtable(L);
    kv_lua_set_function(L, "register_function", kv_lua_register_function);
    kv_lua_set_function(L, "log", kv_lua_log);
    kv_lua_redis_constants(L);
    lua_newtable(L); /* redis.call and the rest are "nonexistent globals" here, as in Redis */
    kv_lua_set_function(L, "__index", kv_lua_missing_global);
    lua_setmetatable(L, -2);
    kv_lua_protect(L);
    lua_setfield(L, -2, "redis");
    lua_newtable(L);
    kv_lua_set_function(L, "__index", kv_lua_missing_global);
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, KV_LUA_LOAD_API);
}

/* Puts every library table of the globals at the top of the stack behind a proxy, then the
 * globals themselves: the proxy becomes the thread's global table. */
static void kv_lua_protect_globals(lua_State *L)
{
    int globals = lua_gettop(L);
    static const char *const libraries[] = {"string", "table", "math",  "coroutine",
                                            "cjson",  "bit",   "redis", NULL};
    for (size_t i = 0; libraries[i] != NULL; i++) {
        lua_getfield(L, globals, libraries[i]);
        kv_lua_protect(L);
        lua_setfield(L, globals, libraries[i]);
    }
    /* Strings index the proxy; getmetatable("") answers a proxy of their metatable. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_getfield(L, globals, "string");
    lua_setfield(L, -2, "__index");
    kv_lua_protect(L);
    lua_setfield(L, LUA_REGISTRYINDEX, KV_LUA_STRING_MT);
    lua_pop(L, 1);
    lua_pushvalue(L, globals);
    lua_setfield(L, LUA_REGISTRYINDEX, KV_LUA_GLOBALS);
    lua_pushvalue(L, globals);
    kv_lua_protect(L); /* the global proxy, at the top */
    lua_getmetatable(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, KV_LUA_GLOBAL_MT);
    lua_pushvalue(L, -1);
    lua_setfield(L, globals, "_G");
    lua_newtable(L);
    kv_lua_set_function(L, "__index", kv_lua_missing_global);
    lua_setmetatable(L, globals);
    lua_replace(L, LUA_GLOBALSINDEX);
    lua_settop(L, globals - 1);
}

void kv_lua_sandbox(lua_State *L)
{
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, KV_LUA_PROTECTED);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, KV_LUA_IDS);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, KV_LUA_FUNCTIONS);
    kv_lua_globals(L);
    kv_lua_protect_globals(L);
    kv_lua_load_api(L);
}

/* Points the global proxy at the load API (a library loading) or the real globals. */
void kv_lua_use_globals(lua_State *L, const char *registry_key)
{
    lua_getfield(L, LUA_REGISTRYINDEX, KV_LUA_GLOBAL_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, registry_key);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
