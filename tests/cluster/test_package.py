"""test_package.py — the Debian package, built from this tree and checked as an operator gets it.

Builds the package once for the module with scripts/build-package.sh (dpkg-buildpackage from a
copy of the tree, nocheck, every core), unpacks it into a throw-away root with `dpkg -x`, and
checks: the version equals CMake's project version and the commit it was built from; the
runtime libraries are dependencies by their package names; lintian reports no error;
`systemd-analyze verify` accepts the unit; the files sit where the unit, the man page and the
docs say; every setting of `raftkv --help` is in the shipped raftkv.conf and in raftkv(1); the
defaults the config shows are the server's own (CONFIG GET); and the installed binary, run
against the installed config, refuses it as shipped (exit 2, naming what is missing), then
serves on loopback once id, member and data-dir are set, telling a fake service manager
READY=1 only once it listens, and STOPPING=1 on SIGTERM.

Failure modes: a build or lintian failure shows the tail of its output. Every wait is
bounded; the node is killed and the temporary root removed even when a check fails.
"""

import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_TIMEOUT_S = 600
COMMAND_TIMEOUT_S = 120
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
HOST = "127.0.0.61"
TAIL_CHARS = 6000
MAX_EXPOSURE = 1.5  # systemd-analyze security's score of raftkv.service
# The Debian 12 packages of the libraries raftkv links (src/*/CMakeLists.txt).
RUNTIME_PACKAGES = ["libc6", "libuv1", "liblmdb0", "libssl3", "liblua5.1-0",
                    "libhttp-parser2.9", "libxxhash0", "lua-cjson", "lua-bitop", "adduser"]


def run(command, timeout=COMMAND_TIMEOUT_S, check=True, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError("%s exited %d:\n%s\n%s" % (
            command, result.returncode, result.stdout[-TAIL_CHARS:], result.stderr[-TAIL_CHARS:]))
    return result


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as cmake:
        return re.search(r"project\(raftkv VERSION ([0-9.]+)", cmake.read()).group(1)


def expected_commit():
    """The commit the build must report, as scripts/build-package.sh passes it on."""
    result = run(["git", "-C", REPO, "rev-parse", "HEAD"], check=False)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


class Package:
    def __init__(self, directory):
        self.directory = directory
        self.version = project_version()
        self.commit = expected_commit()
        self.deb = None
        self.root = os.path.join(directory, "root")

    def path(self, absolute):
        return os.path.join(self.root, absolute.lstrip("/"))

    def read(self, absolute):
        path = self.path(absolute)
        if path.endswith(".gz"):
            with gzip.open(path, "rt") as compressed:
                return compressed.read()
        with open(path) as plain:
            return plain.read()


@pytest.fixture(scope="module")
def package():
    directory = tempfile.mkdtemp(prefix="raftkv-package-")
    try:
        built = Package(directory)
        started = time.monotonic()
        run(["bash", os.path.join(REPO, "scripts", "build-package.sh"), directory],
            timeout=BUILD_TIMEOUT_S)
        print("package built in %.0f s" % (time.monotonic() - started))
        debs = [name for name in os.listdir(directory)
                if re.fullmatch(r"raftkv_%s_[a-z0-9]+\.deb" % re.escape(built.version), name)]
        assert len(debs) == 1, os.listdir(directory)
        built.deb = os.path.join(directory, debs[0])
        run(["dpkg", "-x", built.deb, built.root])
        yield built
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def unit_settings(package):
    """raftkv.service's [Service] lines as {name: [values]}."""
    settings = {}
    for line in package.read("/lib/systemd/system/raftkv.service").splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            settings.setdefault(name.strip(), []).append(value.strip())
    return settings


def help_settings(package):
    """Every setting `raftkv --help` lists (--config, --version and --help are flags only)."""
    text = run([package.path("/usr/bin/raftkv"), "--help"]).stdout
    names = re.findall(r"^  --([a-z0-9-]+) ", text, re.MULTILINE)
    return [name for name in names if name not in ("config", "version", "help")]


def test_changelog_version_is_the_projects():
    changelog = run(["dpkg-parsechangelog", "-l", os.path.join(REPO, "debian", "changelog"),
                     "-S", "Version"]).stdout.strip()
    assert changelog == project_version()


def test_package_version_and_runtime_dependencies(package):
    fields = run(["dpkg-deb", "-f", package.deb, "Package", "Version", "Depends"]).stdout
    assert "Package: raftkv\n" in fields
    assert "Version: %s\n" % package.version in fields
    depends = [item.split()[0] for item in
               re.search(r"^Depends: (.*)$", fields, re.MULTILINE).group(1).split(", ")]
    for name in RUNTIME_PACKAGES:
        assert name in depends, (name, depends)
    control = os.path.join(package.directory, "control")
    run(["dpkg-deb", "-e", package.deb, control])
    with open(os.path.join(control, "conffiles")) as listed:
        assert listed.read().split() == ["/etc/raftkv/raftkv.conf"]
    with open(os.path.join(control, "postinst")) as postinst:
        script = postinst.read()
    # The user the unit runs as is the one postinst creates, owning the data directory.
    assert re.search(r"adduser --system --group .*raftkv", script.replace("\\\n", ""))
    assert "chown raftkv:raftkv /var/lib/raftkv" in script
    assert "chown root:raftkv /etc/raftkv/raftkv.conf" in script


def test_lintian_reports_no_error(package):
    result = run(["lintian", "--fail-on", "error", "--no-tag-display-limit", package.deb],
                 timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not re.search(r"^E: ", result.stdout, re.MULTILINE), result.stdout


def test_systemd_analyze_verifies_the_unit(package):
    """The unit as installed, but for its binary's path, which is the unpacked one: verify
    checks that ExecStart's program is executable and that man:raftkv(1) opens (MANPATH points
    into the unpacked root), and needs the host's systemd units (sysinit.target, ...), so
    --root cannot be used."""
    unit = os.path.join(package.directory, "raftkv.service")
    with open(unit, "w") as copy:
        copy.write(package.read("/lib/systemd/system/raftkv.service").replace(
            "/usr/bin/raftkv", package.path("/usr/bin/raftkv")))
    result = run(["systemd-analyze", "verify", unit], check=False,
                 env=dict(os.environ, MANPATH=package.path("/usr/share/man")))
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    # systemd's own rating of the sandbox: 1.4 today (0 is the best, 10 none at all; 2 is the
    # edge of "OK"), a guard against an option dropped by mistake.
    result = run(["systemd-analyze", "security", "--offline=true", unit])
    exposure = float(re.search(r"Overall exposure level for raftkv.service: ([0-9.]+)",
                               result.stdout).group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout
    settings = unit_settings(package)
    assert settings["Type"] == ["notify"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["User"] == ["raftkv"]
    for hardening in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                      "ProtectHome=yes", "ReadWritePaths=/var/lib/raftkv"):
        name, value = hardening.split("=")
        assert settings[name] == [value]


def test_files_are_where_the_unit_and_the_docs_say(package):
    settings = unit_settings(package)
    command = settings["ExecStart"][0].split()
    assert os.access(package.path(command[0]), os.X_OK), command
    assert command[1] == "--config" and os.path.isfile(package.path(command[2])), command
    for directory in settings["ReadWritePaths"]:
        assert os.path.isdir(package.path(directory)), directory
    for document in settings["Documentation"][0].split():
        if document.startswith("file:"):
            assert os.path.isfile(package.path(document[len("file:"):])), document
        else:
            page = re.fullmatch(r"man:([a-z-]+)\(([0-9])\)", document)
            assert os.path.isfile(package.path("/usr/share/man/man%s/%s.%s.gz" % (
                page.group(2), page.group(1), page.group(2)))), document
    assert os.access(package.path("/usr/bin/raftkv-backup"), os.X_OK)
    manual = package.read("/usr/share/man/man1/raftkv.1.gz")
    assert os.path.isfile(package.path("/usr/share/man/man1/raftkv-backup.1.gz"))
    # Every path raftkv(1) names under FILES and elsewhere exists in the package.
    for named in re.findall(r"^\.I (/[^\s]+)", manual, re.MULTILINE):
        assert os.path.exists(package.path(named)), named
    for named in re.findall(r"\.IR (/usr/share/doc/raftkv/[a-z.]+)", manual):
        assert os.path.isfile(package.path(named)), named
    for command in ("RAFT.INFO", "RAFT.TRANSFER\\-LEADER", "RAFT.NODE ADD", "RAFT.BACKUP",
                    "RAFT.TLS RELOAD", "CLIENT SESSION", "UNCERTAIN", "MOVED", "TRYAGAIN"):
        assert command in manual, command
    man = shutil.which("man")
    if man is not None:  # the page renders without a warning (groff -ww, as lintian checks)
        for page in ("raftkv.1.gz", "raftkv-backup.1.gz"):
            result = run([man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z",
                          package.path("/usr/share/man/man1/" + page)],
                         env=dict(os.environ, MANROFFSEQ="", LC_ALL="C.UTF-8"))
            assert result.stderr == "", result.stderr


def test_every_setting_is_in_the_config_and_the_man_page(package):
    names = help_settings(package)
    assert len(names) >= 40 and "data-dir" in names and "log-level" in names
    config = package.read("/etc/raftkv/raftkv.conf")
    manual = package.read("/usr/share/man/man1/raftkv.1.gz")
    for name in names:
        assert re.search(r"^#%s( |$)" % re.escape(name), config, re.MULTILINE), name
        assert re.search(r"^# %s: " % re.escape(name), config, re.MULTILINE), name
        assert "\\fB\\-\\-%s\\fR" % name.replace("-", "\\-") in manual, name
    # Nothing is set as shipped: every line is a comment or blank.
    assert all(line == "" or line.startswith("#") for line in config.splitlines())
    assert "#data-dir /var/lib/raftkv\n" in config


def free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind((HOST, 0))
            sockets.append(listener)
        return [listener.getsockname()[1] for listener in sockets]
    finally:
        for listener in sockets:
            listener.close()


class Node:
    """The installed binary on loopback, with a fake service manager's notify socket."""

    def __init__(self, package, workdir, config_text, notify_path, journal=False):
        self.config = os.path.join(workdir, "raftkv.conf")
        with open(self.config, "w") as config:
            config.write(config_text)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        self.notify.settimeout(0.1)
        self.log = open(os.path.join(workdir, "node.log"), "ab")
        # An abstract-namespace socket ("\0name" to Python) is "@name" in NOTIFY_SOCKET.
        told = "@" + notify_path[1:] if notify_path.startswith("\0") else notify_path
        environment = dict(os.environ, NOTIFY_SOCKET=told)
        environment.pop("JOURNAL_STREAM", None)
        if journal:  # as systemd says that stderr is the journal's stream (systemd.exec(5))
            status = os.fstat(self.log.fileno())
            environment["JOURNAL_STREAM"] = "%d:%d" % (status.st_dev, status.st_ino)
        self.process = subprocess.Popen([package.path("/usr/bin/raftkv"), "--config", self.config],
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        env=environment)
        self.log_path = self.log.name

    def log_text(self, whole=False):
        with open(self.log_path, errors="replace") as log:
            text = log.read()
        return text if whole else text[-TAIL_CHARS:]

    def wait_for_message(self, expected, timeout_s):
        deadline = time.monotonic() + timeout_s
        received = []
        while time.monotonic() < deadline:
            try:
                received.append(self.notify.recv(4096).decode())
            except socket.timeout:
                assert self.process.poll() is None or expected == "STOPPING=1", self.log_text()
                continue
            if expected in received[-1].split("\n"):
                return received
        raise AssertionError("no %s within %.0f s (got %r):\n%s" % (
            expected, timeout_s, received, self.log_text()))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
            raise AssertionError("the node did not stop on SIGTERM:\n" + self.log_text())

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.notify.close()
        self.log.close()


def operator_config(package, data_directory, ports, extra=""):
    """The shipped file with the three lines an operator adds, as docs/operations.md says."""
    return package.read("/etc/raftkv/raftkv.conf") + (
        "id 1\nmember 1=%s:%d,%s:%d\ndata-dir %s\n%s" % (
            HOST, ports[0], HOST, ports[1], data_directory, extra))


def raw_info(client, section):
    """INFO as the text says it: redis-py would turn a commit such as 00000000 or 1e234567
    into a number."""
    client.set_response_callback("INFO", lambda response, **options: response)
    text = client.execute_command("INFO", section)
    text = text.decode() if isinstance(text, bytes) else text
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def wait_for_leader(client, node):
    deadline = time.monotonic() + READY_TIMEOUT_S
    while raw_info(client, "raft").get("raft_role") != "leader":
        assert time.monotonic() < deadline, node.log_text()
        time.sleep(0.05)


def test_installed_binary_refuses_the_shipped_config(package):
    config = package.path("/etc/raftkv/raftkv.conf")
    result = run([package.path("/usr/bin/raftkv"), "--config", config], check=False)
    assert result.returncode == 2, result  # the unit's RestartPreventExitStatus
    for word in ("id", "member", "data-dir", config, "raftkv(1)"):
        assert word in result.stderr, (word, result.stderr)
    assert result.stderr.startswith("raftkv: --id"), result.stderr
    # Under systemd the journal files it as an error (priority 3).
    with tempfile.TemporaryFile() as stderr:
        status = os.fstat(stderr.fileno())
        environment = dict(os.environ, JOURNAL_STREAM="%d:%d" % (status.st_dev, status.st_ino))
        code = subprocess.run([package.path("/usr/bin/raftkv"), "--config", config],
                              stderr=stderr, env=environment, timeout=COMMAND_TIMEOUT_S).returncode
        stderr.seek(0)
        assert code == 2 and stderr.read().decode().startswith("<3>raftkv: --id")


def test_installed_binary_serves_from_the_installed_config(package):
    version = run([package.path("/usr/bin/raftkv"), "--version"]).stdout.strip()
    assert version.startswith("raftkv %s (commit %s" % (package.version, package.commit[:7]))
    backup_version = run([package.path("/usr/bin/raftkv-backup"), "--version"]).stdout
    assert backup_version.startswith("raftkv-backup %s (commit" % package.version)
    workdir = tempfile.mkdtemp(prefix="raftkv-installed-")
    node = None
    try:
        ports = free_ports(2)
        data = os.path.join(workdir, "data")
        os.mkdir(data)
        node = Node(package, workdir, operator_config(package, data, ports),
                    os.path.join(workdir, "notify.socket"), journal=True)
        node.wait_for_message("READY=1", READY_TIMEOUT_S)
        # To the journal, each line has a syslog priority and no time stamp of its own.
        lines = node.log_text(whole=True).splitlines()
        assert lines and all(re.match(r"<[3467]>node=1 (DEBUG|INFO|WARNING|ERROR) ", line)
                             for line in lines), lines
        assert any(line.startswith("<6>node=1 INFO ") for line in lines), lines
        # READY=1 means it listens: the client port answers at once, with no retry.
        client = redis.Redis(host=HOST, port=ports[0], socket_timeout=10)
        assert client.ping()
        wait_for_leader(client, node)
        assert client.set("installed", "yes") and client.get("installed") == b"yes"
        server = raw_info(client, "server")
        assert server["redis_version"] == "7.0.0"
        assert server["raftkv_version"] == package.version
        assert server["raftkv_git_sha1"] == package.commit
        expected_short = package.commit[:8] if package.commit != "unknown" else "00000000"
        assert server["redis_git_sha1"] == expected_short
        assert server["redis_git_dirty"] in ("0", "1")
        assert server["config_file"] == node.config
        backup = os.path.join(workdir, "backup")
        result = run([package.path("/usr/bin/raftkv-backup"), "%s:%d" % (HOST, ports[0]),
                      backup])
        assert "checksums verified" in result.stdout and os.path.getsize(backup) > 0
        assert node.stop() == 0, node.log_text()
        node.wait_for_message("STOPPING=1", 1.0)
        node.close()
        # Again from the same data, told through an abstract-namespace socket this time.
        node = Node(package, workdir, operator_config(package, data, ports),
                    "\0raftkv-test-%d" % os.getpid())
        node.wait_for_message("READY=1", READY_TIMEOUT_S)
        client = redis.Redis(host=HOST, port=ports[0], socket_timeout=10)
        wait_for_leader(client, node)
        assert client.get("installed") == b"yes"
        # Not the journal: the lines carry their time stamp again.
        assert re.search(r"^\d{4}-\d\d-\d\dT[0-9:.]+Z node=1 INFO ", node.log_text(), re.MULTILINE)
        assert node.stop() == 0, node.log_text()
    finally:
        if node is not None:
            node.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_defaults_in_the_config_are_the_servers(package):
    """Uncomment every default the shipped file shows (not the examples of settings without
    one) and ask the running node for each with CONFIG GET: the file tells the truth."""
    config = package.read("/etc/raftkv/raftkv.conf")
    example_only = {"id", "member", "join", "restore", "data-dir", "metrics-addr",
                    "tls-cert-file", "tls-key-file", "tls-ca-cert-file"}
    defaults = {}
    for line in config.splitlines():
        match = re.fullmatch(r"#([a-z0-9-]+) (\S+)", line)
        if match and match.group(1) not in example_only:
            defaults[match.group(1)] = match.group(2)
    assert len(defaults) >= 30 and defaults["election-timeout-ms"] == "500"
    workdir = tempfile.mkdtemp(prefix="raftkv-defaults-")
    node = None
    try:
        ports = free_ports(2)
        data = os.path.join(workdir, "data")
        os.mkdir(data)
        uncommented = "".join("%s %s\n" % item for item in defaults.items())
        node = Node(package, workdir, operator_config(package, data, ports, uncommented),
                    os.path.join(workdir, "notify.socket"))
        node.wait_for_message("READY=1", READY_TIMEOUT_S)
        client = redis.Redis(host=HOST, port=ports[0], socket_timeout=10, decode_responses=True)
        for name, value in defaults.items():
            assert client.config_get(name) == {name: value}, name
        assert node.stop() == 0, node.log_text()
    finally:
        if node is not None:
            node.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_make_install_honours_destdir_and_prefix():
    """CMake's install() rules, as `make install PREFIX=... DESTDIR=...` runs them, applied to
    the build this test suite runs from (RAFTKV_BUILD_DIR): everything lands under
    DESTDIR/PREFIX, the config under PREFIX/etc, nothing outside."""
    build = os.environ.get("RAFTKV_BUILD_DIR")
    if not build:
        pytest.skip("RAFTKV_BUILD_DIR names no build (ctest and make package-test set it)")
    destination = tempfile.mkdtemp(prefix="raftkv-install-")
    try:
        run(["cmake", "--install", build, "--prefix", "/opt/raftkv"],
            env=dict(os.environ, DESTDIR=destination))
        installed = sorted(os.path.relpath(os.path.join(top, name), destination)
                           for top, _, names in os.walk(destination) for name in names)
        assert all(path.startswith("opt/raftkv/") for path in installed), installed
        for path in ("bin/raftkv", "bin/raftkv-backup", "share/man/man1/raftkv.1",
                     "share/man/man1/raftkv-backup.1", "etc/raftkv/raftkv.conf",
                     "share/doc/raftkv/operations.md", "share/doc/raftkv/errors.md"):
            assert "opt/raftkv/" + path in installed, (path, installed)
        if os.path.isdir(os.path.join(REPO, "web")):
            assert any(path.startswith("opt/raftkv/share/raftkv/web/") for path in installed)
        binary = os.path.join(destination, "opt/raftkv/bin/raftkv")
        assert run([binary, "--version"]).stdout.startswith("raftkv %s " % project_version())
    finally:
        shutil.rmtree(destination, ignore_errors=True)


def test_no_ready_when_the_node_cannot_listen(package):
    """READY=1 means the node listens: with its client port taken it exits 1 (the unit then
    restarts it) and never says READY."""
    workdir = tempfile.mkdtemp(prefix="raftkv-busy-")
    node = None
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        ports = free_ports(2)
        taken.bind((HOST, ports[0]))
        taken.listen(1)
        data = os.path.join(workdir, "data")
        os.mkdir(data)
        node = Node(package, workdir, operator_config(package, data, ports),
                    os.path.join(workdir, "notify.socket"))
        assert node.process.wait(timeout=READY_TIMEOUT_S) == 1, node.log_text()
        messages = []
        while True:
            try:
                messages.append(node.notify.recv(4096).decode())
            except socket.timeout:
                break
        assert not any("READY=1" in message.split("\n") for message in messages), messages
    finally:
        taken.close()
        if node is not None:
            node.close()
        shutil.rmtree(workdir, ignore_errors=True)
