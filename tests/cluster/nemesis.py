"""nemesis.py — fault injection for the cluster suites: crashes, pauses, partitions, packet loss.

A Nemesis hurts one harness.Cluster and writes down everything it does. Happy path:

    with Nemesis(cluster, seed) as nemesis:          # prints the seed
        nemesis.kill_leader(); ...; nemesis.heal()   # or nemesis.run_random(duration_s)
    # leaving the block undoes every fault; nemesis.schedule_text() is the whole schedule

Faults on processes use the harness's primitives: kill -9 and restart (a random node, the
leader, a majority at once), SIGSTOP/SIGCONT pauses longer than the election timeout (a paused
old leader wakes believing it leads; paused while cut off, it wakes with no news of the new term
and answers its queued clients first). Faults on the network are nftables rules in a table of
this process's own (`inet raftkv_test_<pid>_<n>`): every rule matches the two nodes' loopback
addresses *and* this cluster's peer ports, so neither client traffic (clients connect from
127.0.0.1) nor another engineer's cluster on the same addresses is touched. Partitions come as
majority/minority, an isolated leader, a bridge (one node sees both halves) and one-way cuts;
packet loss drops N% of peer packets with `numgen random mod 100 < N`. keep_away_until_compacted
isolates a node until the leader's log starts past it, so it must catch up from a snapshot.

Without root: Nemesis(cluster, injected=True), on a Cluster(fault_injection=True), makes the same
network faults through the nodes' own fault point (RAFT.FAULT, server/transport_fault.c) instead
of nftables (InjectedNetworkFaults): a cut is set on both ends of the link, so that the restart
of one end does not heal it; a partial loss on the sender's end only (both would square it).
It adds what nftables cannot do here: delay() and reorder() of peer messages. A node that is
down or paused when a rule changes misses it: its other end still holds every cut.

Every choice comes from a random.Random seeded with the printed seed, and every action is
printed and recorded with its time since the nemesis started (schedule_text()), so a failure
can be replayed (same seed) or redone by hand.

Failure modes: every fault is bounded (hold times are arguments) and undone by heal()/close()
even when the test fails; close() deletes the nftables table whatever happened, and the table
is also deleted at interpreter exit (a runner killed with SIGKILL leaves its
`raftkv_test_<pid>_*` table behind: `nft delete table inet <name>` removes it). A node that died
on its own is reported (harness.NodeExitError), never restarted to hide it. An nft command that
fails raises NemesisError with nft's message. Not thread-safe: one thread drives a nemesis;
other threads may only read its schedule.
"""

import atexit
import itertools
import os
import random
import subprocess
import threading
import time

import redis

from harness import ClusterError, node_host, wait_until

NFT = "nft"
NFT_TIMEOUT_S = 10.0
PAUSE_ELECTION_TIMEOUTS = 3  # a pause lasts this many election timeouts (longer than one)
DEFAULT_HOLD_S = (1.0, 3.0)  # how long a random fault lasts: uniform in this range
DEFAULT_QUIET_S = (0.5, 1.5)  # how long the cluster runs healthy between random faults
LAST_FAULT_GRACE_S = 0.5
# A cut-off leader's pause: long enough for a new leader and for clients with the short
# timeout to move to it and write; short enough that clients with the long timeout still wait
# on the old leader when it wakes (workload.CLIENT_TIMEOUTS_S).
DEPOSED_PAUSE_S = (2.2, 3.2)
DEPOSED_AWAKE_S = 0.5  # a woken, still cut-off old leader's time to answer queued requests
COMPACTION_WAIT_S = 60.0
FILLER_BATCH = 50  # writes per pipeline while pushing the leader's log past a node
FILLER_MAX_WRITES = 20_000
ISOLATION_SETTLE_S = 0.3
# Appends sent before the cut may still sit in the TCP stream and arrive after it heals; the
# leader must compact this far past the node's last index, and keep it away at least this long,
# so that what arrives cannot fill the gap.
COMPACTION_MARGIN_ENTRIES = 1000
KEEP_AWAY_MIN_S = 3.0

_table_counter = itertools.count()
_live_tables = set()


class NemesisError(Exception):
    """A fault could not be applied or undone (nft failed, the cluster is not in shape)."""


def _run_nft(script):
    """Runs an nft script atomically (nft -f -); raises NemesisError with nft's message."""
    try:
        done = subprocess.run([NFT, "-f", "-"], input=script, capture_output=True, text=True,
                              timeout=NFT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NemesisError("cannot run nft: %s" % error) from None
    if done.returncode != 0:
        raise NemesisError("nft failed (%d): %s\nscript:\n%s"
                           % (done.returncode, done.stderr.strip(), script))


def nft_available():
    """True if nft can create and delete a table here (root and nf_tables present)."""
    name = "raftkv_test_probe_%d" % os.getpid()
    try:
        _run_nft("add table inet %s\ndelete table inet %s\n" % (name, name))
    except NemesisError:
        return False
    return True


class _PacketDrops:
    """What both ways of cutting links share: `drops` is {(from id, to id): percent}, and the
    subclass's apply() puts it in force."""

    def cut(self, source, destination, percent=100, both_ways=True):
        """Drops `percent`% of the peer packets from source to destination (and back)."""
        self.drops[(source, destination)] = percent
        if both_ways:
            self.drops[(destination, source)] = percent
        self.apply()

    def partition(self, *groups):
        """No peer packet crosses between different groups; within a group all flow."""
        self.drops = {}
        for group_a, group_b in itertools.combinations(groups, 2):
            for a in group_a:
                for b in group_b:
                    self.drops[(a, b)] = 100
                    self.drops[(b, a)] = 100
        self.apply()


class NetworkFaults(_PacketDrops):
    """An nftables table that drops peer packets between chosen node addresses.

    The rules are kept as a set of (source id, destination id, loss percent) drops; each change
    rewrites the chain in one atomic nft transaction. loss 100 drops every packet."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.table = "raftkv_test_%d_%d" % (os.getpid(), next(_table_counter))
        self.drops = {}  # (from id, to id) -> percent of packets dropped
        ports = sorted(cluster.node(i).peer_port for i in cluster.ids())
        self.ports = set(ports)
        port_list = ", ".join(str(port) for port in ports)
        _run_nft("add table inet {t}\n"
                 "add set inet {t} peer_ports {{ type inet_service; elements = {{ {p} }}; }}\n"
                 "add chain inet {t} drops {{ type filter hook output priority 0; "
                 "policy accept; }}\n".format(t=self.table, p=port_list))
        _live_tables.add(self.table)

    def add_node(self, node_id):
        """Puts a node that joined later under the rules: its peer port joins the set."""
        port = self.cluster.node(node_id).peer_port
        if port not in self.ports:
            _run_nft("add element inet %s peer_ports { %d }\n" % (self.table, port))
            self.ports.add(port)

    def _rules(self):
        lines = ["flush chain inet %s drops" % self.table]
        for (source, destination), percent in sorted(self.drops.items()):
            match = "ip saddr %s ip daddr %s" % (node_host(source), node_host(destination))
            loss = "" if percent >= 100 else " numgen random mod 100 < %d" % percent
            for direction in ("dport", "sport"):
                lines.append("add rule inet %s drops %s tcp %s @peer_ports%s drop"
                             % (self.table, match, direction, loss))
        return "\n".join(lines) + "\n"

    def apply(self):
        _run_nft(self._rules())

    def heal(self):
        self.drops = {}
        self.apply()

    def describe(self):
        return ", ".join("%d->%d %d%%" % (a, b, p) for (a, b), p in sorted(self.drops.items()))

    def close(self):
        """Deletes the table; safe to call twice."""
        if self.table in _live_tables:
            _live_tables.discard(self.table)
            _run_nft("delete table inet %s\n" % self.table)


class InjectedNetworkFaults(_PacketDrops):
    """NetworkFaults' interface over the nodes' fault injection (RAFT.FAULT), no root needed.

    drops is the same {(from id, to id): percent}; delays is {(from id, to id): (delay ms,
    reorder ms)}, set on the sender. apply() rewrites every live node's faults: HEAL, then its
    rules (a few milliseconds without them, which a partition that is being rewritten anyway
    tolerates)."""

    def __init__(self, cluster):
        if not cluster.fault_injection:
            raise NemesisError("InjectedNetworkFaults needs Cluster(fault_injection=True)")
        self.cluster = cluster
        self.table = "fault injection (RAFT.FAULT)"
        self.drops = {}
        self.delays = {}

    def add_node(self, node_id):
        pass  # a new node runs with --enable-fault-injection like the others

    def _node_rules(self, node_id):
        rules = []
        for (source, destination), percent in sorted(self.drops.items()):
            if percent >= 100:
                if source == node_id:
                    rules.append(("cut", destination, None, "out"))
                if destination == node_id:
                    rules.append(("cut", source, None, "in"))
            elif source == node_id:
                rules.append(("loss", destination, percent, "out"))
        for (source, destination), (delay_ms, reorder_ms) in sorted(self.delays.items()):
            if source == node_id and delay_ms:
                rules.append(("delay", destination, delay_ms, "out"))
            if source == node_id and reorder_ms:
                rules.append(("reorder", destination, reorder_ms, "out"))
        return rules

    def apply(self):
        for node_id in self.cluster.ids():
            node = self.cluster.node(node_id)
            if not node.running() or node.paused:
                continue
            self.cluster.fault(node_id, "heal")
            for action, peer, value, direction in self._node_rules(node_id):
                self.cluster.fault(node_id, action, peer=peer, value=value, direction=direction)

    def heal(self):
        self.drops = {}
        self.delays = {}
        self.apply()

    def describe(self):
        parts = ["%d->%d %d%%" % (a, b, p) for (a, b), p in sorted(self.drops.items())]
        parts += ["%d->%d delay %d ms reorder %d ms" % (a, b, d, r)
                  for (a, b), (d, r) in sorted(self.delays.items())]
        return ", ".join(parts)

    def close(self):
        """Removes every fault from the nodes still running; safe to call twice."""
        self.drops = {}
        self.delays = {}
        for node_id in self.cluster.ids():
            node = self.cluster.node(node_id)
            if node.running() and not node.paused:
                try:
                    self.cluster.fault(node_id, "heal")
                except (redis.RedisError, OSError):
                    pass  # a node going down as the test ends has no faults left either


@atexit.register
def _delete_leftover_tables():
    """A last resort: no rule of this process outlives it, even if a test forgot close()."""
    for table in list(_live_tables):
        try:
            _run_nft("delete table inet %s\n" % table)
        except NemesisError:
            pass
        _live_tables.discard(table)


class Nemesis:
    """Faults against one cluster, chosen by a seeded random.Random, all recorded."""

    def __init__(self, cluster, seed=None, announce=print, injected=False):
        self.cluster = cluster
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1 << 31)
        self.random = random.Random(self.seed)
        self.started = time.monotonic()
        self.schedule = []  # (seconds since start, text)
        self.counts = {}  # fault name -> times applied
        self._lock = threading.Lock()
        # Held while a fault is applied or undone, and by MembershipNemesis while it adds or
        # retires a node: the harness's Cluster is not thread-safe.
        self.cluster_lock = threading.RLock()
        self._announce = announce
        self.injected = injected
        self.network = InjectedNetworkFaults(cluster) if injected else NetworkFaults(cluster)
        self.election_timeout_s = cluster.election_timeout_ms / 1000.0
        self.record("seed %d (replay: Nemesis(cluster, seed=%d))" % (self.seed, self.seed))

    # ---- bookkeeping ----

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def record(self, text, fault=None):
        moment = time.monotonic() - self.started
        with self._lock:
            self.schedule.append((moment, text))
            if fault is not None:
                self.counts[fault] = self.counts.get(fault, 0) + 1
        if self._announce is not None:
            self._announce("nemesis %8.3f s: %s" % (moment, text))

    def schedule_text(self):
        with self._lock:
            lines = ["nemesis seed %d, schedule:" % self.seed]
            lines += ["  %8.3f s  %s" % (moment, text) for moment, text in self.schedule]
        return "\n".join(lines)

    def close(self):
        """Undoes everything: heals the network, resumes and restarts nodes; always deletes
        the nftables table. Errors while restarting nodes are raised after the table is gone."""
        try:
            self.heal(wait=False)
        finally:
            self.network.close()
            self.record("closed: %s" % ("every injected fault healed" if self.injected else
                                        "nftables table %s deleted" % self.network.table))

    # ---- healing ----

    def heal(self, wait=True):
        """Removes every network rule, resumes paused nodes, starts the ones a fault stopped.
        A node that died on its own is a failure, never restarted to hide it: raises
        harness.NodeExitError with its log."""
        with self.cluster_lock:
            self.network.heal()
            self.cluster.check_alive()
            for node_id in self.cluster.ids():
                node = self.cluster.node(node_id)
                if node.paused:
                    self.cluster.resume(node_id)
                if not node.running():
                    self.cluster.start_node(node_id)
            if self.injected:
                self.network.apply()  # a node paused during the heal still had its cuts
        self.record("heal: network whole, every node running")
        if wait:
            self.cluster.wait_for_leader(timeout_s=20 * self.election_timeout_s + 5)

    # ---- process faults ----

    def leader(self, among=None):
        """The current leader (waits for one), or None if none appears in time."""
        try:
            return self.cluster.leader(timeout_s=20 * self.election_timeout_s + 5, among=among)
        except ClusterError:
            return None

    def kill(self, node_ids, why="kill -9"):
        for node_id in node_ids:
            self.cluster.kill(node_id)
        self.record("%s nodes %s" % (why, sorted(node_ids)), fault=why)

    def restart(self, node_ids):
        """Starts the given nodes again; one that left the cluster meanwhile (retired by a
        MembershipNemesis) stays down."""
        self.cluster.check_alive()
        members = [i for i in node_ids if i in self.cluster.ids()]
        for node_id in members:
            if not self.cluster.node(node_id).running():
                self.cluster.start_node(node_id)
        gone = sorted(set(node_ids) - set(members))
        self.record("restarted nodes %s%s" % (sorted(members), " (%s left the cluster)" % gone
                                                if gone else ""))

    def kill_random(self):
        victim = self.random.choice(self.cluster.ids())
        self.kill([victim], why="kill -9 random")
        return [victim]

    def kill_leader(self):
        victim = self.leader()
        if victim is None:
            self.record("kill leader: no leader known, skipped")
            return []
        self.kill([victim], why="kill -9 leader")
        return [victim]

    def kill_majority(self):
        ids = self.cluster.ids()
        victims = self.random.sample(ids, len(ids) // 2 + 1)
        self.kill(victims, why="kill -9 majority")
        return victims

    def pause(self, node_ids, why="SIGSTOP"):
        for node_id in node_ids:
            if self.cluster.node(node_id).running():
                self.cluster.pause(node_id)
        self.record("%s nodes %s" % (why, sorted(node_ids)), fault=why)

    def resume(self, node_ids):
        for node_id in node_ids:
            self.cluster.resume(node_id)
        if self.injected:
            self.network.apply()  # what changed while they slept
        self.record("SIGCONT nodes %s" % sorted(node_ids))

    def pause_leader(self):
        victim = self.leader()
        if victim is None:
            self.record("pause leader: no leader known, skipped")
            return []
        self.pause([victim], why="SIGSTOP leader")
        return [victim]

    def pause_random(self):
        victim = self.random.choice(self.cluster.ids())
        self.pause([victim], why="SIGSTOP random")
        return [victim]

    def pause_hold_s(self):
        """A pause longer than the election timeout, so that the others elect a new leader."""
        return PAUSE_ELECTION_TIMEOUTS * self.election_timeout_s * self.random.uniform(1.0, 2.0)

    # ---- network faults ----

    def partition(self, *groups, why="partition"):
        groups = [sorted(group) for group in groups]
        self.network.partition(*groups)
        self.record("%s %s" % (why, " | ".join(str(group) for group in groups)), fault=why)

    def partition_halves(self):
        """A random majority and minority."""
        ids = list(self.cluster.ids())
        self.random.shuffle(ids)
        minority = ids[:(len(ids) - 1) // 2]
        majority = ids[len(minority):]
        self.partition(minority, majority, why="partition minority/majority")
        return minority

    def isolate(self, node_id, why="isolate node"):
        others = [i for i in self.cluster.ids() if i != node_id]
        self.partition([node_id], others, why=why)

    def isolate_leader(self):
        victim = self.leader()
        if victim is None:
            self.record("isolate leader: no leader known, skipped")
            return []
        self.isolate(victim, why="isolate leader")
        return [victim]

    def bridge(self):
        """Two halves that cannot talk, and one node (the bridge) that talks to both."""
        ids = list(self.cluster.ids())
        self.random.shuffle(ids)
        bridge, rest = ids[0], ids[1:]
        half = len(rest) // 2
        left, right = rest[:half], rest[half:]
        drops = {}
        for a in left:
            for b in right:
                drops[(a, b)] = drops[(b, a)] = 100
        self.network.drops = drops
        self.network.apply()
        self.record("bridge: node %d sees %s and %s, which do not see each other"
                    % (bridge, sorted(left), sorted(right)), fault="bridge")
        return bridge

    def one_way_cut(self):
        """Drops the packets from one node to another, only that way."""
        source, destination = self.random.sample(self.cluster.ids(), 2)
        self.network.drops = {(source, destination): 100}
        self.network.apply()
        self.record("one-way cut: %d -> %d dropped" % (source, destination), fault="one-way cut")

    def packet_loss(self, percent=None):
        """Drops percent% of the packets on every peer link, both ways."""
        percent = percent if percent is not None else self.random.randint(10, 50)
        self.network.drops = {(a, b): percent for a in self.cluster.ids()
                              for b in self.cluster.ids() if a != b}
        self.network.apply()
        self.record("packet loss %d%% on every peer link" % percent, fault="packet loss")

    def delay(self, delay_ms=None, reorder_ms=0):
        """Injected only: every peer message held delay_ms (and a random half of them up to
        reorder_ms more, so that later ones overtake them), on every link both ways."""
        if not self.injected:
            raise NemesisError("delay and reordering need Nemesis(injected=True)")
        delay_ms = delay_ms if delay_ms is not None else self.random.randint(20, 150)
        self.network.delays = {(a, b): (delay_ms, reorder_ms) for a in self.cluster.ids()
                               for b in self.cluster.ids() if a != b}
        self.network.apply()
        self.record("delay %d ms, reorder %d ms on every peer link" % (delay_ms, reorder_ms),
                    fault="delay")

    def reorder(self, reorder_ms=None):
        reorder_ms = reorder_ms if reorder_ms is not None else self.random.randint(20, 150)
        self.delay(0, reorder_ms)

    def pause_isolated_leader(self):
        """Cuts the leader off and SIGSTOPs it at once: the others elect a new leader while no
        message of the new term can reach the old one, not even into its socket buffers."""
        victim = self.leader()
        if victim is None:
            self.record("pause isolated leader: no leader known, skipped")
            return []
        self.isolate(victim, why="isolate leader")
        self.pause([victim], why="SIGSTOP isolated leader")
        return [victim]

    def wake_isolated(self, node_ids):
        """SIGCONT, then a moment still cut off (the node believes it leads and answers what
        its clients queued), then the network heals."""
        self.resume(node_ids)
        time.sleep(DEPOSED_AWAKE_S)
        self.heal_network()

    def heal_network(self):
        self.network.heal()
        self.record("network healed")

    # ---- a node kept away until the leader compacts past it ----

    def keep_away_until_compacted(self, node_id, timeout_s=COMPACTION_WAIT_S):
        """Isolates node_id and writes filler keys (filler:<n>) through the leader of the
        others until the leader's first log index is beyond node_id's last index, so that the
        node can only catch up from a snapshot. Needs a cluster started with a small
        snapshot_entries. Leaves the node isolated; returns the number of filler writes."""
        self.isolate(node_id, why="keep away until compacted")
        others = [i for i in self.cluster.ids() if i != node_id]
        leader_id = self.cluster.wait_for_leader(timeout_s=timeout_s, among=others)
        # What was in flight when the rules went in may still arrive: read the node's last
        # index once the link has been quiet for a few heartbeats.
        time.sleep(ISOLATION_SETTLE_S)
        lagging_last = self.cluster.raft_info(node_id)["raft_last_index"]
        client = redis.Redis(host=self.cluster.node(leader_id).host,
                             port=self.cluster.node(leader_id).client_port, socket_timeout=10,
                             **self.cluster.redis_options())
        written = 0
        deadline = time.monotonic() + timeout_s
        try:
            kept_until = time.monotonic() + KEEP_AWAY_MIN_S
            while (self.cluster.raft_info(leader_id)["raft_first_index"]
                   <= lagging_last + 1 + COMPACTION_MARGIN_ENTRIES):
                if time.monotonic() > deadline or written >= FILLER_MAX_WRITES:
                    raise NemesisError("the leader did not compact past index %d after %d "
                                       "writes" % (lagging_last, written))
                pipe = client.pipeline(transaction=False)
                for _ in range(FILLER_BATCH):
                    pipe.set("filler:%d" % written, "x" * 32)
                    written += 1
                pipe.execute()
            # Compacted already: stay away for the rest of the minimum time all the same (a
            # fast leader gets there in well under it), writing no more.
            time.sleep(max(0.0, kept_until - time.monotonic()))
        finally:
            client.close()
        first = self.cluster.raft_info(leader_id)["raft_first_index"]
        self.record("leader %d compacted to first index %d (node %d last index %d) after %d "
                    "filler writes" % (leader_id, first, node_id, lagging_last, written))
        return written

    # ---- a random schedule ----

    def random_fault(self):
        """Applies one fault drawn at random; returns (name, undo) where undo() removes it."""
        choices = [
            ("kill random", self.kill_random, self.restart),
            ("kill leader", self.kill_leader, self.restart),
            ("kill majority", self.kill_majority, self.restart),
            ("pause leader", self.pause_leader, self.resume),
            ("pause random", self.pause_random, self.resume),
            ("pause isolated leader", self.pause_isolated_leader, self.wake_isolated),
            ("partition halves", self.partition_halves, lambda _: self.heal_network()),
            ("isolate leader", self.isolate_leader, lambda _: self.heal_network()),
            ("bridge", self.bridge, lambda _: self.heal_network()),
            ("one-way cut", self.one_way_cut, lambda _: self.heal_network()),
            ("packet loss", self.packet_loss, lambda _: self.heal_network()),
        ]
        if self.injected:
            choices += [("delay", self.delay, lambda _: self.heal_network()),
                        ("reorder", self.reorder, lambda _: self.heal_network())]
        name, apply, undo = self.random.choice(choices)
        victims = apply()
        return name, lambda: undo(victims)

    def run_random(self, duration_s, stop=None, hold_s=DEFAULT_HOLD_S, quiet_s=DEFAULT_QUIET_S):
        """Applies random faults one at a time for duration_s: each held for a time drawn from
        hold_s (pauses: longer than the election timeout), then undone, then quiet_s of calm.
        Stops early when the threading.Event stop is set. Always heals before returning."""
        deadline = time.monotonic() + duration_s
        try:
            while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                with self.cluster_lock:
                    name, undo = self.random_fault()
                # The last fault may run past the deadline by one hold, but no further;
                # a pause always outlasts the election timeout.
                hold = min(self.random.uniform(*hold_s),
                           max(0.0, deadline - time.monotonic()) + LAST_FAULT_GRACE_S)
                if name == "pause isolated leader":
                    hold = self.random.uniform(*DEPOSED_PAUSE_S)
                elif name.startswith("pause"):
                    hold = max(hold, self.pause_hold_s())
                self._sleep(hold, stop)
                with self.cluster_lock:
                    undo()
                self._sleep(self.random.uniform(*quiet_s), stop)
        finally:
            self.heal(wait=False)

    @staticmethod
    def _sleep(seconds, stop):
        if stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    def wait_caught_up(self, timeout_s=30.0):
        """After heal(): every node applied the leader's commit index."""
        return self.cluster.wait_applied(timeout_s=timeout_s)


class MembershipNemesis:
    """Replaces nodes one at a time, as an operator swaps machines, while a Nemesis hurts the
    cluster from another thread: a new node (the next unused id) joins with --join through a
    random running member, catches up as a learner, is promoted, and an old voter is removed
    — the leader with probability leader_share — and stopped (harness.Cluster.retire).

    Each RAFT.NODE goes through harness.Cluster.change_membership (to the leader, retried
    after TRYAGAIN, MOVED, CLUSTERDOWN and uncertain outcomes); the guards' refusals that a
    fault explains (a learner not caught up, no live majority left) are retried too, until
    step_timeout_s, since the faults come and go. Every step is recorded in the nemesis's
    schedule; counts holds how many of each change committed. observers are called with the
    new list of member ids after each add and each retirement (the workload's addresses, the
    leader watch, the network rules follow the membership that way).

    Choices come from a random.Random seeded with the nemesis's seed + 1; the interleaving with
    the other thread's faults is not replayable, the schedule says what happened."""

    GUARD_REFUSALS = ("not caught up", "live majority")
    AGREE_TIMEOUT_S = 15.0  # a running member that lists another configuration this long

    def __init__(self, nemesis, observers=(), leader_share=0.34, step_timeout_s=60.0,
                 quiet_s=(0.5, 1.5)):
        self.nemesis = nemesis
        self.cluster = nemesis.cluster
        self.random = random.Random(nemesis.seed + 1)
        self.observers = list(observers)
        self.leader_share = leader_share
        self.step_timeout_s = step_timeout_s
        self.quiet_s = quiet_s
        self.next_id = max(self.cluster.all_ids()) + 1
        self.counts = {"add": 0, "promote": 0, "remove": 0, "remove leader": 0}
        self.replacements = 0
        self.stranded = []  # members that never caught up with a configuration, replaced
        self.errors = []

    def changes(self):
        return self.counts["add"] + self.counts["promote"] + self.counts["remove"]

    def _notify(self):
        ids = self.cluster.ids()
        for observer in self.observers:
            observer(ids)

    def _change(self, *arguments, done):
        """RAFT.NODE <arguments> until it succeeds; a guard's refusal is retried."""
        deadline = time.monotonic() + self.step_timeout_s
        while True:
            try:
                return self.cluster.change_membership(
                    *arguments, done=done, timeout_s=max(1.0, deadline - time.monotonic()))
            except redis.ResponseError as error:
                if (not any(text in str(error) for text in self.GUARD_REFUSALS)
                        or time.monotonic() >= deadline):
                    raise
                time.sleep(0.2)

    def _roles(self):
        """{id: role} of the committed configuration as the leader lists it, or {} while the
        leader's configuration in force is not committed: a change seen only in force may
        still be lost (an isolated leader appended it), and a step built on it would fail."""
        leader_id = self.cluster.leader(timeout_s=self.step_timeout_s)
        try:
            before = self.cluster.raft_info(leader_id)
            members = self.cluster.members(leader_id)
            after = self.cluster.raft_info(leader_id)
        except (redis.RedisError, OSError):
            return {}  # the leader was killed or cut off meanwhile: not known now
        if (before["raft_configuration_index"] != after["raft_configuration_index"]
                or after["raft_configuration_index"] > after["raft_commit_index"]
                or after["raft_role"] != "leader"):
            return {}
        return {member["id"]: member["role"] for member in members}

    def lagging_members(self):
        """Running, unpaused members whose RAFT.NODE LIST differs from the committed
        configuration the leader lists, once AGREE_TIMEOUT_S has not been enough for them.

        Such a member used to be stranded by a transport bug, since fixed (test_membership.py's
        test_member_that_missed_a_higher_ids_join_reaches_it_as_leader): a member that missed
        the ADD of a higher id never reached it. One that still lags is replaced, as an
        operator would (counted in `stranded`: 0 is expected now), so that the rest of the run
        still tests what it is meant to."""
        deadline = time.monotonic() + self.AGREE_TIMEOUT_S
        while True:
            roles = self._roles()
            lagging = []
            for node_id in sorted(roles):
                node = self.cluster.nodes.get(node_id)
                if node is None or not node.running() or node.paused:
                    continue
                try:
                    view = {m["id"]: m["role"] for m in self.cluster.members(node_id)}
                except (redis.RedisError, OSError):
                    continue
                if view != roles:
                    lagging.append(node_id)
            if roles and not lagging:
                return []
            if time.monotonic() >= deadline:
                return lagging
            time.sleep(0.2)

    def _informed_members(self):
        """Members that list the leader's committed configuration: a joining node asks one
        of them, since a stranded member (see lagging_members) knows no leader to send it to."""
        roles = self._roles()
        informed = []
        for node_id in sorted(roles):
            try:
                view = {m["id"]: m["role"] for m in self.cluster.members(node_id)}
            except (redis.RedisError, OSError, KeyError):
                continue
            if view == roles:
                informed.append(node_id)
        return informed

    def settle(self):
        """After the faults: replaces every member still lagging (see lagging_members)."""
        lagging = self.lagging_members()
        while lagging:
            self.replace_one(lagging=lagging)
            lagging = self.lagging_members()

    def replace_one(self, lagging=None):
        """Adds a node, promotes it, removes an old voter — a lagging member first (see
        lagging_members); returns (new id, removed id)."""
        if lagging is None:
            lagging = self.lagging_members()
        for node_id in lagging:
            self.stranded.append(node_id)
            self.nemesis.record("membership: node %d still lists another configuration after "
                                "%.0f s (stranded?); it is the one replaced now"
                                % (node_id, self.AGREE_TIMEOUT_S), fault="membership stranded")
        new_id = self.next_id
        self.next_id += 1
        informed = self._informed_members()
        with self.nemesis.cluster_lock:
            running = [i for i in self.cluster.ids() if self.cluster.node(i).running()]
            via = self.random.choice([i for i in informed if i in running] or running or [None])
            self.cluster.add_node(new_id, join_via=via, start=False)
            self._notify()
            self.cluster.start_node(new_id)
        self.nemesis.record("membership: node %d starts with --join via node %s" % (new_id, via))
        wait_until(lambda: self._roles().get(new_id) is not None, timeout_s=self.step_timeout_s,
                   what="node %d's ADD to commit" % new_id, on_timeout=self.cluster.describe)
        self.counts["add"] += 1
        self.nemesis.record("membership: node %d added as a learner" % new_id,
                            fault="membership add")
        self._change("PROMOTE", str(new_id), done=lambda: self._roles().get(new_id) == "voter")
        self.counts["promote"] += 1
        self.nemesis.record("membership: node %d promoted" % new_id, fault="membership promote")
        victim, was_leader = self._choose_victim(new_id, lagging)
        self._change("REMOVE", str(victim),
                     done=lambda: (lambda roles: bool(roles) and victim not in roles)(
                         self._roles()))
        self.counts["remove"] += 1
        if was_leader:
            self.counts["remove leader"] += 1
        self.nemesis.record("membership: node %d removed%s" % (
            victim, " (it was the leader)" if was_leader else ""), fault="membership remove")
        with self.nemesis.cluster_lock:
            self.cluster.retire(victim)
            self._notify()
        self.nemesis.record("membership: node %d stopped and retired" % victim)
        self.replacements += 1
        return new_id, victim

    def _choose_victim(self, new_id, lagging):
        roles = wait_until(self._roles, timeout_s=self.step_timeout_s,
                           what="a committed configuration", on_timeout=self.cluster.describe)
        leader_id = self.cluster.leader(timeout_s=self.step_timeout_s)
        behind = [i for i in lagging if i in roles and i != leader_id]
        if behind:
            return behind[0], False
        voters = [i for i, role in roles.items() if role == "voter" and i != new_id]
        if leader_id in voters and self.random.random() < self.leader_share:
            return leader_id, True
        others = [i for i in voters if i != leader_id] or voters
        victim = self.random.choice(others)
        return victim, victim == leader_id

    def run(self, duration_s, stop=None):
        """Replaces nodes one after another for duration_s (the last replacement finishes);
        an exception is kept in errors and ends the run. For a thread's target."""
        deadline = time.monotonic() + duration_s
        try:
            while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                self.replace_one()
                pause = self.random.uniform(*self.quiet_s)
                if stop is not None:
                    stop.wait(pause)
                else:
                    time.sleep(pause)
        except Exception as error:  # noqa: BLE001 -- the test re-raises it
            self.errors.append(error)
            self.nemesis.record("membership: stopped by %r" % (error,))

    def summary(self):
        return ("%d replacements, %d membership changes (%d adds, %d promotions, %d removals, "
                "%d of them of the leader); %d stranded member(s) replaced: %s"
                % (self.replacements, self.changes(), self.counts["add"],
                   self.counts["promote"], self.counts["remove"], self.counts["remove leader"],
                   len(self.stranded), self.stranded))


def wait_snapshot_installed(cluster, node_id, before, timeout_s=COMPACTION_WAIT_S):
    """Waits until node_id has installed more snapshots than `before`; returns the count."""
    def installed():
        cluster.check_alive()  # a node that dies installing it fails at once, with its log
        count = cluster.raft_info(node_id)["raft_snapshots_installed"]
        return count if count > before else None
    return wait_until(installed, timeout_s=timeout_s,
                      what="node %d to install a snapshot from the leader" % node_id,
                      on_timeout=cluster.describe)
