"""test_compat_strings.py — raftkv's string and keyspace commands side by side with a real
redis-server 7.0 (compat.py): the same commands on both, the raw replies compared byte for
byte. Edge cases first; each test starts from FLUSHALL on both sides (the `fresh` fixture).

A difference is a raftkv bug: such a test is marked xfail(strict=True) with both replies in
its reason, so it documents the bug and fails once the bug is fixed.
"""

from compat import compat, fresh, redis_server  # noqa: F401 -- pytest fixtures


def test_get_of_a_missing_key_is_nil(fresh):
    fresh.compare("GET", "missing")


def test_set_then_get(fresh):
    fresh.compare("SET", "k", "v")
    fresh.compare("GET", "k")
