"""test_dashboard_browser.py — the dashboard as a person uses it, in a real browser.

Debian's headless Chromium (browser.py) opens the page of node 1 of a running 3-node cluster,
with ?supervisor= pointing at a supervisor of that cluster (dashboard_fixture.ClusterSupervisor,
the control API `make run`'s supervisor serves). The test reads the leader from the page's
DOM, clicks "kill" on the leader's card, and waits for the page to show another node leading
and the killed one greyed "unreachable since hh:mm:ss"; then clicks "restart" and waits for it
to come back; "pause" greys a node by its silence. Then `make run`'s own demo
(scripts/supervisor.py, fault injection on): "cut off" on the leader's card, another node
leads, the cut node's write is refused, "heal". A screenshot of each state is kept in
$RAFTKV_ARTIFACTS (else dashboard-artifacts/ under the working directory):
dashboard-healthy.png, dashboard-failover.png, dashboard-recovered.png, dashboard-paused.png,
dashboard-cut-off.png.
"""

import os
import re
import shutil
import signal
import tempfile
import time

import pytest
import redis

import browser
from dashboard_fixture import ClusterSupervisor, dashboard_cluster, http_address

PAGE_TIMEOUT_S = 20.0  # the page learning the cluster, under ASan on a busy machine
FAILOVER_TIMEOUT_S = 20.0

pytestmark = pytest.mark.skipif(not browser.available(),
                                reason="Debian's chromium is not installed "
                                       "(scripts/install-deps.sh installs it)")


def artifacts_directory():
    directory = os.environ.get("RAFTKV_ARTIFACTS") or os.path.join(os.getcwd(),
                                                                     "dashboard-artifacts")
    os.makedirs(directory, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = dashboard_cluster(str(tmp_path_factory.mktemp("dashboard-browser")))
    cluster.start()
    cluster.wait_for_leader()
    yield cluster
    cluster.close()


@pytest.fixture
def supervisor(cluster):
    supervisor = ClusterSupervisor(cluster)
    yield supervisor
    supervisor.close()


@pytest.fixture
def page():
    page = browser.Browser()
    yield page
    page.close()


def leader_on_page(page):
    return int(page.evaluate("document.getElementById('leader').dataset.leaderId"))


def node_card(node_id, field):
    return "document.querySelector('.node[data-node-id=\"%d\"]').dataset.%s" % (node_id, field)


def test_clicking_kill_on_the_leader_shows_another_node_taking_over(cluster, supervisor, page):
    artifacts = artifacts_directory()
    url = "http://%s/dashboard?supervisor=%s" % (http_address(cluster.node(1)), supervisor.url)
    page.navigate(url)
    # Every node's card, all reachable, one leader agreed by the page.
    page.wait_for("document.querySelectorAll('.node[data-reachable=\"true\"]').length === 3 && "
                  "document.getElementById('leader').dataset.leaderId !== '0'",
                  PAGE_TIMEOUT_S, "three reachable nodes and a leader")
    first_leader = cluster.wait_for_leader()
    cluster.client(first_leader).set("favorite_food", "pickles")
    cluster.client(first_leader).incr("visits")
    follower = next(i for i in cluster.ids() if i != first_leader)
    try:
        cluster.client(follower).set("redirected", "yes")  # a follower answers MOVED
    except redis.exceptions.ResponseError:
        pass
    page.wait_for("[...document.querySelectorAll('td.command')].some("
                  "c => c.textContent === 'SET favorite_food pickles')",
                  PAGE_TIMEOUT_S, "the write in the log tails")
    leader = leader_on_page(page)
    assert leader == cluster.wait_for_leader()
    page.screenshot(os.path.join(artifacts, "dashboard-healthy.png"))

    # The person clicks "kill" on the leader's card.
    clicked = page.evaluate(
        "(() => { const b = document.querySelector('.node[data-node-id=\"%d\"] "
        "button[data-action=\"kill\"]'); if (!b) return false; b.click(); return true; })()"
        % leader)
    assert clicked, "no kill button on the leader's card"
    page.wait_for("(() => { const id = document.getElementById('leader').dataset.leaderId; "
                  "return id !== '0' && id !== '%d'; })()" % leader,
                  FAILOVER_TIMEOUT_S, "another node leading")
    assert ("kill", leader) in supervisor.actions
    assert not cluster.node(leader).running()
    new_leader = leader_on_page(page)
    assert new_leader in cluster.ids() and new_leader != leader
    assert new_leader == cluster.wait_for_leader(among=[i for i in cluster.ids() if i != leader])
    page.wait_for("%s === 'false'" % node_card(leader, "reachable"), FAILOVER_TIMEOUT_S,
                  "the killed node greyed")
    status = page.evaluate("document.querySelector('.node[data-node-id=\"%d\"] .status')"
                           ".textContent" % leader)
    assert status.startswith("unreachable since "), status
    page.screenshot(os.path.join(artifacts, "dashboard-failover.png"))

    # And "restart" brings it back, following the new leader.
    page.evaluate("document.querySelector('.node[data-node-id=\"%d\"] "
                  "button[data-action=\"restart\"]').click()" % leader)
    page.wait_for("%s === 'true' && %s === 'follower'"
                  % (node_card(leader, "reachable"), node_card(leader, "role")),
                  FAILOVER_TIMEOUT_S, "the restarted node back as a follower")
    assert leader_on_page(page) == new_leader
    page.screenshot(os.path.join(artifacts, "dashboard-recovered.png"))


def test_a_paused_node_is_greyed_and_comes_back_when_resumed(cluster, supervisor, page):
    artifacts = artifacts_directory()
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids() if i != leader)
    url = "http://%s/dashboard?supervisor=%s" % (http_address(cluster.node(leader)),
                                                   supervisor.url)
    page.navigate(url)
    page.wait_for("document.querySelectorAll('.node[data-reachable=\"true\"]').length === 3",
                  PAGE_TIMEOUT_S, "three reachable nodes")
    # Without --enable-fault-injection the nodes say faults are off: no cut / heal buttons.
    assert page.evaluate("document.querySelectorAll('button[data-action=\"cut\"]').length") == 0
    page.evaluate("document.querySelector('.node[data-node-id=\"%d\"] "
                  "button[data-action=\"pause\"]').click()" % follower)
    # A stopped process keeps its connection open: the page notices the silence (no heartbeat).
    page.wait_for("%s === 'false'" % node_card(follower, "reachable"), FAILOVER_TIMEOUT_S,
                  "the paused node greyed")
    assert ("pause", follower) in supervisor.actions
    page.wait_for("document.querySelector('.node[data-node-id=\"%d\"] .status').textContent"
                  ".includes('supervisor: paused')" % follower, PAGE_TIMEOUT_S,
                  "the supervisor's word for it")
    page.screenshot(os.path.join(artifacts, "dashboard-paused.png"))
    page.evaluate("document.querySelector('.node[data-node-id=\"%d\"] "
                  "button[data-action=\"resume\"]').click()" % follower)
    page.wait_for("%s === 'true'" % node_card(follower, "reachable"), FAILOVER_TIMEOUT_S,
                  "the resumed node back")


def test_make_runs_demo_cut_off_the_leader_and_heal_it_from_the_page(request, page):
    """The demo as `make run` starts it (scripts/supervisor.py, fault injection on): the page
    finds every node through the --member flags' HTTP addresses, shows the fault buttons, and
    "cut off" on the leader's card makes the others elect a new leader while the cut node's
    writes are refused; "heal" brings it back as a follower."""
    from test_supervisor import Running  # the real supervisor, on free ports

    root = tempfile.mkdtemp(prefix="raftkv-dashboard-demo-")
    running = Running(root, 3)
    try:
        _wait(lambda: "Ctrl-C stops the cluster" in running.text(), "the supervisor's banner")
        url = re.search(r"http://\S+/dashboard\?supervisor=\S+", running.text()).group(0)
        page.navigate(url)
        page.wait_for("document.querySelectorAll('.node[data-reachable=\"true\"]').length === 3 "
                      "&& document.getElementById('leader').dataset.leaderId !== '0' && "
                      "document.querySelectorAll('button[data-action=\"cut\"]').length > 0",
                      PAGE_TIMEOUT_S, "three nodes, a leader and the fault buttons")
        leader = leader_on_page(page)
        page.evaluate("document.querySelector('.node[data-node-id=\"%d\"] "
                      "button[data-action=\"cut\"][data-peer=\"all\"]').click()" % leader)
        page.wait_for("(() => { const id = document.getElementById('leader').dataset.leaderId; "
                      "return id !== '0' && id !== '%d'; })()" % leader,
                      FAILOVER_TIMEOUT_S, "another node leading once the leader is cut off")
        page.wait_for("document.querySelector('.node[data-node-id=\"%d\"] .faults')"
                      ".textContent.includes('cut')" % leader, PAGE_TIMEOUT_S,
                      "the cut shown on its card")
        # Once it has stepped down (CheckQuorum: it hears no majority), the cut-off node refuses
        # writes (it knows no leader to send them to), and the page shows the refusal.
        page.wait_for("%s !== 'leader'" % node_card(leader, "role"), FAILOVER_TIMEOUT_S,
                      "the cut-off leader stepping down")
        with pytest.raises(redis.exceptions.ResponseError):
            running.client(leader).set("written-to-the-cut-node", "1")
        page.wait_for("[...document.querySelectorAll('#requests li')].some(li => "
                      "li.textContent.includes('node %d') && li.textContent.includes("
                      "'SET written-to-the-cut-node'))" % leader, PAGE_TIMEOUT_S,
                      "the refused write's path")
        page.screenshot(os.path.join(artifacts_directory(), "dashboard-cut-off.png"))
        page.evaluate("document.querySelector('.node[data-node-id=\"%d\"] "
                      "button[data-action=\"heal\"][data-peer=\"all\"]').click()" % leader)
        page.wait_for("%s === 'follower' && !document.querySelector('.node[data-node-id=\"%d\"]"
                      " .faults').textContent.includes('cut')" % (node_card(leader, "role"), leader),
                      FAILOVER_TIMEOUT_S, "the healed node back as a follower")
    finally:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _wait(predicate, what, timeout_s=PAGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %.0f s" % (what, timeout_s))
        time.sleep(0.1)


def test_a_node_of_the_lectures_naive_mode_gets_a_loud_banner(tmp_path, page):
    naive = dashboard_cluster(str(tmp_path), size=1, extra_args=["--replication", "naive"])
    try:
        naive.start()
        page.navigate("http://%s/dashboard" % http_address(naive.node(1)))
        banner = page.wait_for("(() => { const b = document.getElementById('mode-banner'); "
                               "return !b.hidden && b.textContent; })()", PAGE_TIMEOUT_S,
                               "the banner of a mode that is not Raft")
        assert "naive" in banner and "NOT Raft" in banner
    finally:
        naive.close()
