"""conftest.py — pytest fixtures that give cluster tests real raftkv clusters and always
clean them up.

Happy path: a test asks for `cluster` (a 3-node cluster shared by its module, with a leader
elected) or for `make_cluster` (a factory: make_cluster(size=5, snapshot_entries=200) starts
a private cluster for one test). After the test every node is stopped with SIGTERM and must
exit with code 0 (under AddressSanitizer a leak makes it nonzero), then the temporary
directory is removed.

Failure modes: when a test fails, the directory is kept, its path and the tail of every
node's log are printed, and the full logs are attached to the failure report as sections.
Set RAFTKV_KEEP_CLUSTER=1 to keep (and print) every cluster's directory, failed or not.
A nonzero exit at shutdown is reported as an error of the test (or module) that owned the
cluster. Paused nodes are resumed and every process is killed whatever happened.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Cluster  # noqa: E402

_failed_modules = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "report_" + report.when, report)
    if report.failed:
        _failed_modules.add(item.module.__name__)
        for cluster in list(Cluster.live_clusters):
            for title, text in cluster.report_sections():
                report.sections.append((title, text))


def _announce(config, text):
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text)
    else:
        sys.stderr.write(text + "\n")


def _finish(config, cluster, failed):
    """Stops the cluster; keeps its files when anything went wrong. Returns the exit errors."""
    errors = cluster.close(graceful=True)
    if failed or errors or os.environ.get("RAFTKV_KEEP_CLUSTER"):
        cluster.kept = True
        _announce(config, "\nraftkv cluster kept in %s\n%s" % (cluster.root, cluster.describe()))
    else:
        cluster.remove_files()
    return errors


def _test_failed(item):
    return any(getattr(getattr(item, "report_" + when, None), "failed", False)
               for when in ("setup", "call"))


@pytest.fixture(autouse=True)
def _remove_own_clusters(request):
    """A test that builds a Cluster itself and closes it leaves its directory (hundreds of MB
    per run of the suite): after a test that passed, the directories of the clusters it made
    and closed go too. A failed test keeps them, as make_cluster does."""
    first = len(Cluster.created)
    yield
    made = Cluster.created[first:]
    del Cluster.created[first:]
    if _test_failed(request.node) or os.environ.get("RAFTKV_KEEP_CLUSTER"):
        return
    for cluster in made:
        if cluster.closed and cluster.owns_root and not cluster.kept:
            cluster.remove_files()


@pytest.fixture
def make_cluster(request):
    """Factory for clusters private to one test: make_cluster(size=3, **Cluster options)
    starts the nodes (start=False starts none; wait=True also waits for a leader) and
    returns the Cluster."""
    clusters = []

    def make(size=3, start=True, wait=True, **options):
        cluster = Cluster(size=size, **options)
        clusters.append(cluster)
        if start:
            cluster.start()
            if wait:
                cluster.wait_for_leader()
        return cluster

    yield make
    errors = []
    for cluster in clusters:
        errors += _finish(request.config, cluster, _test_failed(request.node))
    if errors:
        pytest.fail("unclean node exit at shutdown:\n%s" % "\n".join(map(str, errors)))


@pytest.fixture(scope="module")
def module_cluster(request):
    cluster = Cluster(size=3)
    try:
        cluster.start()
        cluster.wait_for_leader()
    except Exception:
        _finish(request.config, cluster, True)
        raise
    yield cluster
    errors = _finish(request.config, cluster, request.module.__name__ in _failed_modules)
    if errors:
        pytest.fail("unclean node exit at shutdown:\n%s" % "\n".join(map(str, errors)))


@pytest.fixture
def cluster(module_cluster):
    """The module's 3-node cluster, whole (healed) before each test; after each test, checks
    that no node died on its own — a death fails that test only, not every later one."""
    module_cluster.heal()
    yield module_cluster
    module_cluster.check_alive()
