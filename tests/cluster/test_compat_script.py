"""test_compat_script.py — Lua scripting side by side with redis-server 7.0, raw replies compared
byte for byte: EVAL's conversions both ways, redis.call/pcall and their errors (the error texts
with "script: <sha>, on @user_script:<line>."), the read-only sandbox, SCRIPT LOAD/EXISTS/FLUSH
and EVALSHA, the _RO commands and the shebang flags, and Redis 7's functions (FUNCTION LOAD /
LIST / DELETE / FLUSH, FCALL, FCALL_RO). raftkv runs every script as one log entry on every
replica; the last test checks that a script loaded with SCRIPT LOAD survives the loss of the
leader.

Left out on purpose (they cannot compare byte for byte): math.random's numbers, TIME, INFO,
redis.REDIS_VERSION (raftkv says 7.0.0), error({}) (Redis 7.0.15 crashes on it), and the depth
at which a self-referencing table stops converting.
"""

import time

import pytest

from compat import compat, fresh, redis_server  # noqa: F401 -- pytest fixtures

FN_ECHO = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)"
FN_V2 = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 'v2' end)"
FN_RO = ("#!lua name=rolib\nredis.register_function{function_name='rofunc', callback=function(keys, "
         "args) return redis.call('get', keys[1]) end, flags={'no-writes'}}")
FN_WRITE_FLAGGED = ("#!lua name=wlib\nredis.register_function{function_name='wfunc', "
                    "callback=function(keys, args) return redis.call('set', keys[1], args[1]) end, "
                    "flags={'no-writes'}}")
FN_ERRORS = ("#!lua name=errlib\nredis.register_function('ef', function(keys, args) error('inside') "
             "end)\nredis.register_function('ef2', function(keys, args) return "
             "redis.call('incr','s') end)")

SCRIPTS = {
    "lua to redis conversions": [
        ("EVAL", "return 3.99", "0"), ("EVAL", "return -3.99", "0"), ("EVAL", "return true", "0"),
        ("EVAL", "return false", "0"), ("EVAL", "return nil", "0"), ("EVAL", "return 'x'", "0"),
        ("EVAL", "return {1,{2,{3,'x'}},false,true}", "0"), ("EVAL", "return 1e300", "0"),
        ("EVAL", "return 0/0", "0"), ("EVAL", "return 12345678901234", "0"),
        ("EVAL", "return {1, 2, nil, 4}", "0"), ("EVAL", "return {1, 2, {err='inner'}}", "0"),
        ("EVAL", "return {ok=5}", "0"), ("EVAL", "return {err=5}", "0"),
        ("EVAL", "return {double=1.5}", "0"), ("EVAL", "return {a=1}", "0"),
        ("EVAL", "return {err='boom'}", "0"), ("EVAL", "return {ok='fine'}", "0"),
        ("EVAL", "return redis.error_reply('boom')", "0"),
        ("EVAL", "return redis.error_reply('MY thing')", "0"),
        ("EVAL", "return redis.error_reply('-MY thing')", "0"),
        ("EVAL", "return redis.status_reply('fine')", "0"),
        ("EVAL", "return redis.status_reply()", "0"), ("EVAL", "return redis.error_reply(1)", "0"),
        ("EVAL", "", "0"), ("EVAL", "return", "0"), ("EVAL", "return math.huge", "0"),
        ("EVAL", "return ARGV", "0", "a", "b"), ("EVAL", "return KEYS", "2", "a", "b", "c"),
        ("EVAL", "return #KEYS", "0"), ("EVAL", "return KEYS[1]..ARGV[1]", "1", "k", "v"),
        ("EVAL", "return setmetatable({}, {})", "0"),
    ],
    "redis to lua conversions": [
        "SET s text", "ZADD z 1.5 a 2 b", "HSET h f v",
        ("EVAL", "return redis.call('get', 'nosuch')", "0"),
        ("EVAL", "return redis.call('get', 'nosuch') == false", "0"),
        ("EVAL", "return type(redis.call('set', 'q', '1'))", "0"),
        ("EVAL", "return redis.call('set', 'q', '1').ok", "0"),
        ("EVAL", "return redis.call('hgetall', 'nosuch')", "0"),
        ("EVAL", "return redis.call('hgetall', 'h')", "0"),
        ("EVAL", "return redis.call('zrange', 'z', 0, -1, 'withscores')", "0"),
        ("EVAL", "return redis.call('zscore', 'z', 'a')", "0"),
        ("EVAL", "return redis.call('lpop', 'nosuch', 2)", "0"),
        ("EVAL", "return redis.call('blmpop', '0', '1', 'nosuch', 'left')", "0"),
        ("EVAL", "return redis.call('incr', 'counter')", "0"),
        ("EVAL", "return redis.call('set', 'num', 3.1)", "0"), "GET num",
        ("EVAL", "return redis.call('set', 'num', 12345678901234567890)", "0"), "GET num",
        ("EVAL", "return redis.call('set', 'num', 42)", "0"), "GET num",
        ("EVAL", "return redis.call('set', 'num', -0.5)", "0"), "GET num",
        ("EVAL", "return redis.call('SET', 'up', 'x')", "0"), "GET up",
        ("EVAL", "return redis.call('get', 1)", "0"),
        ("EVAL", "return redis.call('ping')", "0"), ("EVAL", "return redis.call('echo', 'hi')", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('hgetall','nosuch')", "0"),
        ("EVAL", "return redis.call('set', KEYS[1], 'v')", "1", "kk"), "GET kk",
        ("EVAL", "return cjson.encode({1,2,{a=1}})", "0"),
        ("EVAL", "return cjson.decode('[1,2,3]')", "0"), ("EVAL", "return bit.band(7,3)", "0"),
        ("EVAL", "return string.rep('x', 3)", "0"), ("EVAL", "return tostring(123.5)", "0"),
        ("EVAL", "return loadstring('return 5')()", "0"),
        ("EVAL", "return coroutine.wrap(function() coroutine.yield(7) end)()", "0"),
        ("EVAL", "return redis.sha1hex('')", "0"),
    ],
    "errors": [
        "SET s text",
        ("EVAL", "return redis.call('set','x',{})", "0"), ("EVAL", "return redis.call()", "0"),
        ("EVAL", "return redis.pcall()", "0"),
        ("EVAL", "return redis.call('eval','return 1','0')", "0"),
        ("EVAL", "return redis.call('blpop','nosuch','0')", "0"),
        ("EVAL", "return redis.call('function','list')", "0"),
        ("EVAL", "return redis.call('script','exists','x')", "0"),
        ("EVAL", "return redis.call('raft.exec','0')", "0"),
        ("EVAL", "return redis.call('nosuch')", "0"),
        ("EVAL", "return redis.call('incr', 'a', 'b')", "0"),
        ("EVAL", "return redis.pcall('get', 'a', 'b')", "0"),
        ("EVAL", "return redis.call('incr', 's')", "0"),
        ("EVAL", "return redis.pcall('incr', 's')", "0"),
        ("EVAL", "local r = redis.pcall('incr', 's'); return r.err", "0"),
        ("EVAL", "return redis.call('lpush', 's', 'x')", "0"),
        ("EVAL", "local ok, e = pcall(function() error('x') end) return e", "0"),
        ("EVAL", "local ok, e = pcall(redis.call, 'incr', 's') return e", "0"),
        ("EVAL", "return redis.sha1hex()", "0"), ("EVAL", "syntax error here", "0"),
        ("EVAL", "local t = nil; return t.x", "0"), ("EVAL", "error('boom')", "0"),
        ("EVAL", "\n\nerror('line3')", "0"), ("EVAL", "error({err='custom'})", "0"),
        ("EVAL", "error({err='ERR custom2'})", "0"), ("EVAL", "error(nil)", "0"),
        ("EVAL", "error(12)", "0"), ("EVAL", "return redis.setresp(4)", "0"),
        ("EVAL", "return redis.log(redis.LOG_WARNING, 'x')", "0"),
        ("EVAL", "return redis.log('x')", "0"),
        ("EVAL", "return 1", "2", "a"), ("EVAL", "return 1", "-1"), ("EVAL", "return 1", "x"),
        "EVAL", "EVAL x",
    ],
    "sandbox": [
        ("EVAL", "x = 1", "0"), ("EVAL", "return rawset(_G, 'x', 1)", "0"),
        ("EVAL", "string.x = 1", "0"), ("EVAL", "local s = string; s.y = 1", "0"),
        ("EVAL", "redis.call = nil", "0"), ("EVAL", "return tostring(print)", "0"),
        ("EVAL", "return os.time()", "0"), ("EVAL", "return getmetatable('').__index == string", "0"),
        ("EVAL", "return dofile('/etc/passwd')", "0"),
        ("EVAL", "return loadfile('/etc/passwd')", "0"),
    ],
    "script cache": [
        "SCRIPT FLUSH", ("SCRIPT", "LOAD", "return 'hi'"),
        ("EVALSHA", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "0"),
        ("EVALSHA", "2F31BA2BB6D6A0F42CC159D2E2DAD55440778DE3", "0"),
        ("SCRIPT", "EXISTS", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3",
         "ffffffffffffffffffffffffffffffffffffffff"),
        ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"), ("EVALSHA", "fff", "0"),
        ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "5"),
        ("EVAL", "return 'cached'", "0"),
        ("EVALSHA", "952f49ffc8f7b098d8ab5da45d3164ca36ed18b1", "0"),
        ("SCRIPT", "LOAD", "syntax error"), ("SCRIPT", "LOAD", "#!lua flags=bogus\nreturn 1"),
        ("SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 1"),
        ("EVALSHA_RO", "77f21361171213377cb083e2ffc2ae24ffdff8fb", "0"),
        "SCRIPT FLUSH ASYNC", ("EVALSHA", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "0"),
        ("SCRIPT", "EXISTS", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3"),
        "SCRIPT FLUSH bogus", "SCRIPT bogus", "SCRIPT", "SCRIPT LOAD", "SCRIPT EXISTS",
        "SCRIPT LOAD x y", "SCRIPT KILL", "SCRIPT HELP", "SCRIPT FLUSH SYNC",
    ],
    "read-only scripts and shebang flags": [
        "SET k val",
        ("EVAL_RO", "return redis.call('set','a','b')", "0"),
        ("EVAL_RO", "return redis.call('get','k')", "0"),
        ("EVAL_RO", "#!lua\nreturn 1", "0"), ("EVAL_RO", "return 1", "0"),
        ("EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get','k')", "0"),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0"),
        ("EVAL", "#!lua flags=no-writes\nerror('x')", "0"), ("EVAL", "#!lua\nerror('x')", "0"),
        ("EVAL", "#!lua name=foo\nreturn 1", "0"), ("EVAL", "#!lua flags=bogus\nreturn 1", "0"),
        ("EVAL", "#!luax\nreturn 1", "0"), ("EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1", "0"),
        ("EVAL", "#!lua flags=\nreturn 1", "0"), ("EVAL", "#!lua   flags=no-writes   \nreturn 1", "0"),
        ("EVAL", "#!lua\n", "0"), ("EVAL", "#!lua", "0"), "GET a",
    ],
    "functions": [
        "FUNCTION FLUSH", ("FUNCTION", "LOAD", FN_ECHO), ("FUNCTION", "LOAD", FN_ECHO),
        ("FCALL", "myfunc", "0", "a"), ("FUNCTION", "LOAD", "REPLACE", FN_V2),
        ("FCALL", "myfunc", "0", "a"), ("FCALL", "MYFUNC", "0", "a"), ("FCALL", "nosuch", "0"),
        ("FCALL", "myfunc", "1"), ("FCALL_RO", "myfunc", "0"), ("FUNCTION", "LOAD", FN_RO),
        "SET k val", ("FCALL_RO", "rofunc", "1", "k"), ("FCALL", "rofunc", "1", "k"),
        ("FUNCTION", "LOAD", FN_WRITE_FLAGGED), ("FCALL", "wfunc", "1", "k", "x"), "GET k",
        "FUNCTION LIST LIBRARYNAME mylib", "FUNCTION LIST LIBRARYNAME rolib WITHCODE",
        "FUNCTION LIST LIBRARYNAME MY*", "FUNCTION LIST LIBRARYNAME nothing",
        "FUNCTION DELETE rolib", "FUNCTION DELETE rolib", ("FCALL_RO", "rofunc", "1", "k"),
        ("FUNCTION", "LOAD", FN_ERRORS), "SET s text", ("FCALL", "ef", "0"), ("FCALL", "ef2", "0"),
        "FUNCTION STATS", "FUNCTION FLUSH ASYNC", "FUNCTION LIST", ("FCALL", "myfunc", "0"),
    ],
    "function load errors": [
        ("FUNCTION", "LOAD", "return 1"), ("FUNCTION", "LOAD", "#!lua\nreturn 1"),
        ("FUNCTION", "LOAD", "#!lua name=bad-name\nreturn 1"),
        ("FUNCTION", "LOAD", "#!lua name=empty\nlocal x = 1"),
        ("FUNCTION", "LOAD", "#!lua name=badfn\nredis.register_function('my-func', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=callit\nredis.call('set','a','b')"),
        ("FUNCTION", "LOAD", "#!lua name=glob\nx = 1"),
        ("FUNCTION", "LOAD", "#!lua name=synt\nthis is bad"),
        ("FUNCTION", "LOAD", "#!lua name=err\nerror('oops')"),
        ("FUNCTION", "LOAD", "#!lua name=twice\nredis.register_function('t1', function() return 1 end)\n"
                             "redis.register_function('t1', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=flagbad\nredis.register_function{function_name='fb', "
                             "callback=function() return 1 end, flags={'bogus'}}"),
        ("FUNCTION", "LOAD", "#!lua name=arg1\nredis.register_function('onlyname')"),
        ("FUNCTION", "LOAD", "#!lua name=l7\nredis.register_function{function_name='f7', "
                             "callback=function(k, a) return 1 end, bogus=1}"),
        ("FUNCTION", "LOAD", "#!lua name=l8\nredis.register_function{function_name='f8'}"),
        ("FUNCTION", "LOAD", "#!lua name=l9\nredis.register_function{callback=function() end}"),
        ("FUNCTION", "LOAD", "#!lua name=l10\nredis.register_function('f10', 'notfn')"),
        ("FUNCTION", "LOAD", "#!lua name=l12\nredis.register_function('f12', function() end, 3)"),
        ("FUNCTION", "LOAD", "#!lua name=l13\nredis.register_function{function_name='f13', "
                             "callback=function(k, a) return 1 end, flags='no-writes'}"),
        ("FUNCTION", "LOAD", "#!lua name=l1\nlocal a = string.len('abc')\n"
                             "redis.register_function('f1', function(k, a) return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=x foo=bar\nreturn 1"),
        ("FUNCTION", "LOAD", "#!lua name=x name=y\nreturn 1"),
        ("FUNCTION", "LOAD", "#!foo name=x\nreturn 1"), ("FUNCTION", "LOAD", "#!lua name=nl"),
        ("FUNCTION", "LOAD", "#!lua name=nl2\n"), "FUNCTION LOAD REPLACE", "FUNCTION LOAD bogus x",
        "FUNCTION LIST WITHCODE WITHCODE", "FUNCTION LIST LIBRARYNAME",
        "FUNCTION LIST LIBRARYNAME a LIBRARYNAME b", "FUNCTION LIST bogus", "FUNCTION bogus",
        "FUNCTION", "FUNCTION LOAD", "FUNCTION DELETE a b", "FUNCTION FLUSH bogus",
        "FUNCTION KILL", "FUNCTION HELP", "FUNCTION LIST",
    ],
    "function load and call details": [
        ("FUNCTION", "LOAD", "#!LUA name=upper\nredis.register_function('up', function(k, a) return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua  name=sp\nredis.register_function('sp1', function(k, a) return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=l4\nlocal j = redis.REDIS_VERSION_NUM .. redis.LOG_DEBUG\n"
                             "redis.register_function('f4', function(k, a) return KEYS end)"),
        ("FCALL", "f4", "0"), ("FCALL", "up", "0"), ("FCALL", "sp1", "0"),
        ("FUNCTION", "LOAD", "#!lua name=l14\nredis.register_function{function_name='f14', "
                             "callback=function(k, a) return {k[1], a[1]} end, description='desc'}"),
        ("FCALL", "f14", "1", "kk", "aa"), "FUNCTION LIST LIBRARYNAME l14",
        ("FUNCTION", "LOAD", "#!lua name=rep\nredis.register_function('r1', function(k, a) return 1 end)"),
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=rep\nredis.register_function('f4', function(k, a) return 1 end)"),
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=rep\nredis.register_function('r2', function(k, a) return 2 end)"),
        ("FCALL", "r1", "0"), ("FCALL", "r2", "0"), "FUNCTION FLUSH",
    ],
    "resp3 inside a script": [
        "HSET h f v", "SADD s m", "ZADD z 1.5 a",
        ("EVAL", "redis.setresp(3); return redis.call('hgetall', 'h')", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('hgetall', 'h').map.f", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('smembers', 's')", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('smembers', 's').set.m", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('zscore', 'z', 'a')", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('zscore', 'z', 'a').double", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('get', 'nosuch') == nil", "0"),
        ("EVAL", "redis.setresp(3); return redis.call('zrange', 'z', 0, -1, 'withscores')", "0"),
        ("EVAL", "return {map={a='b'}}", "0"), ("EVAL", "return {set={a=true}}", "0"),
        ("EVAL", "return {big_number='123'}", "0"),
        ("EVAL", "redis.setresp(3); return {true, false}", "0"),
    ],
    "key positions": [
        ("COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b", "c"),
        ("COMMAND", "GETKEYS", "FCALL", "f", "1", "a", "b"),
        ("COMMAND", "GETKEYS", "EVALSHA_RO", "x", "0", "b"),
    ],
    "multi with scripts": [
        "MULTI", ("EVAL", "return redis.call('incr', KEYS[1])", "1", "c"),
        ("EVAL", "return redis.call('incr', KEYS[1])", "1", "c"), "GET c", "EXEC",
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_as_redis(fresh, name):
    fresh.setup("SCRIPT FLUSH", "FUNCTION FLUSH")
    fresh.compare_many(SCRIPTS[name])


def test_runaway_script_is_stopped(fresh):
    """Redis would run `while true do end` until SCRIPT KILL; raftkv stops it after its
    instruction budget with an error and keeps serving."""
    reply = fresh.raftkv("EVAL", "while true do end", "0")
    assert reply.startswith(b"-ERR Script exceeded the instruction budget"), reply
    assert fresh.raftkv("EVAL", "return 1", "0") == b":1\r\n"


RESP3_SCRIPTS = [
    ("HSET", "h", "f", "v"),
    ("EVAL", "return redis.call('hgetall', 'h')", "0"),
    ("EVAL", "return {double=1.5}", "0"), ("EVAL", "return {map={a='b'}}", "0"),
    ("EVAL", "return {set={a=true}}", "0"), ("EVAL", "return nil", "0"),
    ("EVAL", "return false", "0"), ("EVAL", "return true", "0"),
    ("EVAL", "redis.setresp(3); return redis.call('hgetall', 'h')", "0"),
    ("FUNCTION", "LOAD", "REPLACE", FN_RO), ("FUNCTION", "LIST", "LIBRARYNAME", "rolib"),
    ("FUNCTION", "STATS"), ("FUNCTION", "DELETE", "rolib"),
]


def test_scripts_over_resp3(fresh):
    """Over HELLO 3 a script's reply takes RESP3's shapes as in Redis (maps, sets, doubles, the
    null); FUNCTION LIST and STATS answer maps."""
    from compat import Connection
    leader = fresh.cluster.node(fresh.cluster.wait_for_leader())
    connections = (Connection("127.0.0.1", fresh.redis_server.port),
                   Connection(leader.host, leader.client_port))
    try:
        for connection in connections:
            assert connection.command(["HELLO", "3"]).startswith(b"%")
        for arguments in RESP3_SCRIPTS:
            theirs = connections[0].command(list(arguments))
            ours = connections[1].command(list(arguments))
            assert ours == theirs, "RESP3 %r: redis-server %r, raftkv %r" % (arguments, theirs,
                                                                              ours)
    finally:
        for connection in connections:
            connection.close()


def test_scripts_survive_leader_loss(compat):
    """A script loaded with SCRIPT LOAD, a library loaded with FUNCTION LOAD and a script cached
    by EVAL are replicated state: after the leader is killed, the new leader runs them."""
    cluster = compat.cluster
    leader = cluster.wait_for_leader()
    sha = cluster.raw_command(leader, "SCRIPT", "LOAD", "return 'loaded ' .. ARGV[1]")
    cluster.raw_command(leader, "FUNCTION", "LOAD", "REPLACE",
                        "#!lua name=failover\nredis.register_function('survivor', "
                        "function(k, a) return redis.call('incr', k[1]) end)")
    assert cluster.raw_command(leader, "EVAL", "return 'cached'", "0") == b"cached"
    cluster.wait_applied()
    cluster.kill(leader)
    try:
        new_leader = cluster.wait_for_leader()
        assert new_leader != leader
        assert cluster.raw_command(new_leader, "EVALSHA", sha, "0", "x") == b"loaded x"
        assert cluster.raw_command(new_leader, "FCALL", "survivor", "1", "n") == 1
        assert cluster.raw_command(new_leader, "EVALSHA", CACHED_SHA, "0") == b"cached"
    finally:
        cluster.start_node(leader)
        cluster.wait_applied()
        compat._raftkv.close()  # its connection was to the killed node
    # The old leader, restarted from its own files, has them too: a READONLY read of it.
    client = cluster.client(leader)
    client.execute_command("READONLY")
    assert client.execute_command("EVALSHA_RO", sha, "0", "y") == b"loaded y"


CACHED_SHA = "952f49ffc8f7b098d8ab5da45d3164ca36ed18b1"  # sha1("return 'cached'")

