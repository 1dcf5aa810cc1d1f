"""test_compat_command.py — what clients learn about commands, side by side with redis-server
7.0: COMMAND INFO's arity, key positions and the flags cluster clients act on (write,
readonly, blocking, movablekeys) for every data command raftkv has, and COMMAND GETKEYS,
which cluster clients (redis-py's RedisCluster) ask for the commands whose keys follow a
numkeys argument.
"""

import pytest

from compat import compat, fresh, parse, redis_server  # noqa: F401 -- pytest fixtures

# Flags a client's routing depends on; the others (fast, noscript, ...) are Redis's own.
ROUTING_FLAGS = {b"write", b"readonly", b"blocking", b"movablekeys"}


def data_commands(compat):
    """Every command raftkv lists in COMMAND that is not one of its own (raft.*) or a
    connection/admin command Redis describes differently."""
    names = []
    for entry in parse(compat.raftkv("COMMAND")):
        name = entry[0]
        if name.startswith(b"raft.") or name in (b"cluster", b"client", b"config", b"info",
                                                 b"command", b"hello", b"auth", b"select"):
            continue
        names.append(name.decode())
    return sorted(names)


def test_command_info_agrees_on_arity_keys_and_routing_flags(compat):
    names = data_commands(compat)
    assert len(names) >= 140, names
    mismatches = []
    for name in names:
        ours = parse(compat.raftkv("COMMAND", "INFO", name))[0]
        theirs = parse(compat.redis("COMMAND", "INFO", name))[0]
        assert theirs is not None, "redis-server does not know %s" % name
        our_view = (ours[1], ours[3], ours[4], ours[5], set(ours[2]) & ROUTING_FLAGS)
        their_view = (theirs[1], theirs[3], theirs[4], theirs[5], set(theirs[2]) & ROUTING_FLAGS)
        if our_view != their_view:
            mismatches.append((name, our_view, their_view))
    assert not mismatches, "\n".join("%s: raftkv %s, redis %s" % m for m in mismatches)


@pytest.mark.parametrize("command", [
    "GETKEYS ZUNIONSTORE dst 2 a b WEIGHTS 1 2",
    "GETKEYS ZINTER 3 a b c",
    "GETKEYS LMPOP 2 a b LEFT COUNT 3",
    "GETKEYS BLMPOP 0 1 a RIGHT",
    "GETKEYS BZMPOP 1.5 2 a b MIN",
    "GETKEYS SINTERCARD 2 a b LIMIT 1",
    "GETKEYS MSET a 1 b 2",
    "GETKEYS BLPOP a b c 0",
    "GETKEYS SET k v",
    "GETKEYS LMOVE a b LEFT RIGHT",
    "GETKEYS LMPOP 5 a LEFT",
    "GETKEYS PING x",
    "GETKEYS NOSUCHCOMMAND x",
    "GETKEYS GET",
    "GETKEYS GET a b",
])
def test_command_getkeys(fresh, command):
    fresh.compare("COMMAND", *command.split())
