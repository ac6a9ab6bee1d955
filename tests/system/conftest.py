"""The shared harness of Tern's system tests.

A test asks for the ``tern`` fixture, a factory of Tern instances, each in
a temporary directory of its own:

    def test_something(tern):
        t = tern(master_cf=t_line)            # or tern() and t.add_service(...)
        t.start()
        t.wait_for_log(r"daemon started")
        ...

Every instance runs with unprivileged_mode = yes (unless the test says
otherwise), free loopback ports, its own queue_directory, drop_directory
and maillog_file, and daemon_directory = $TERN_BUILD/bin.  Teardown stops
it and asserts that no process of the instance is left: every process
whose command line or environment names the instance directory.

Helpers: start(), stop(), reload(), status() (the --json form as a dict),
run(*args) (the tern command), log() (the maillog text), log_mark() and
wait_for_log(regex, timeout, since=mark), port(name) (a free port, the
same one for the same name), processes(), path names (root, etc, queue,
drop, maillog), and testsvc_line() to write a master.cf line for the test
service tests/tools/testsvc.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]


def build_dir():
    build = os.environ.get("TERN_BUILD")
    if not build:
        pytest.skip("TERN_BUILD is not set (run through make system)")
    return Path(build)


def pytest_runtest_setup(item):
    if item.get_closest_marker("root") and os.geteuid() != 0:
        pytest.skip("needs root")


_ports_given = set()


def free_port():
    """A loopback TCP port that nothing listens on now (and that this run
    has not handed out before)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port")


def instance_processes(marker):
    """pids of the processes whose command line or environment holds
    marker (a path), other than this one."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{what}", "rb") as f:
                    if needle in f.read():
                        found.append(int(entry))
                        break
            except OSError:
                continue
    return found


def proc_status(pid):
    """/proc/PID/status as a dict of its fields."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


class Tern:
    """One Tern instance in its own directory."""

    BASE_MAIN_CF = """\
unprivileged_mode = yes
queue_directory = {queue}
drop_directory = {drop}
maillog_file = {maillog}
daemon_directory = {bin}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = tern.test
alias_maps =
master_stop_grace = 5s
"""

    def __init__(self, root, main_cf=None, master_cf=""):
        self.build = build_dir()
        self.bin = self.build / "bin"
        self.testsvc = self.build / "tests" / "tools" / "testsvc"
        self.root = Path(root)
        self.etc = self.root / "etc"
        self.queue = self.root / "spool"
        self.drop = self.root / "drop"
        self.maillog = self.root / "log" / "maillog"
        self.ports = {}
        for d in (self.etc, self.maillog.parent):
            d.mkdir(parents=True, exist_ok=True)
        self.main_cf_extra = dict(main_cf or {})
        self.write_main_cf()
        self.write_master_cf(master_cf)
        self.started = False

    # ---- configuration ----

    def port(self, name="smtp"):
        if name not in self.ports:
            self.ports[name] = free_port()
        return self.ports[name]

    def main_cf_text(self):
        text = self.BASE_MAIN_CF.format(queue=self.queue, drop=self.drop,
                                         maillog=self.maillog, bin=self.bin)
        for name, value in self.main_cf_extra.items():
            text += f"{name} = {value}\n"
        return text

    def write_main_cf(self, **params):
        """Rewrite main.cf: the base settings, then the instance's extra
        ones, then params (which are kept for later rewrites)."""
        self.main_cf_extra.update(params)
        (self.etc / "main.cf").write_text(self.main_cf_text())

    def write_master_cf(self, text):
        (self.etc / "master.cf").write_text(text)

    def add_service(self, line):
        with open(self.etc / "master.cf", "a") as f:
            f.write(line.rstrip("\n") + "\n")

    def testsvc_line(self, name, type="inet", private="n", unpriv="-", chroot="n",
                     wakeup="-", maxproc="-", args=""):
        """A master.cf line that runs the test service."""
        return (f"{name} {type} {private} {unpriv} {chroot} {wakeup} {maxproc} "
                f"{self.testsvc} {args}").rstrip()

    # ---- the tern command ----

    def run(self, *args, check=False, timeout=90):
        r = subprocess.run([str(self.bin / "tern"), "-c", str(self.etc), *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"tern {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def start(self, check=True):
        r = self.run("start", check=check)
        if r.returncode == 0:
            self.started = True
        return r

    def stop(self, check=True):
        r = self.run("stop", check=check)
        if r.returncode == 0:
            self.started = False
        return r

    def reload(self, check=True):
        return self.run("reload", check=check)

    def status(self):
        r = self.run("status", "--json")
        return json.loads(r.stdout)

    def master_pid(self):
        try:
            return int((self.queue / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    # ---- the log ----

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self):
        return len(self.log())

    def wait_for_log(self, regex, timeout=10, since=0):
        """The first match of regex in the log after offset since, waiting
        up to timeout seconds for it."""
        pattern = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = pattern.search(self.log(), since)
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matching {regex!r} within {timeout}s; "
                                     f"log:\n{self.log()[since:]}")
            time.sleep(0.05)

    # ---- processes ----

    def processes(self):
        return instance_processes(str(self.root))

    def wait_until(self, predicate, timeout=10, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def cleanup(self):
        """Stop the instance; kill and report anything left behind."""
        if self.started or (self.queue / "pid" / "master.sock").exists():
            self.run("stop", timeout=60)
        deadline = time.monotonic() + 5
        left = self.processes()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.processes()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left


@pytest.fixture
def tern(tmp_path):
    """Factory: tern(main_cf={...}, master_cf="...") -> a Tern instance.
    Teardown stops each one and asserts that none left a process."""
    made = []

    def make(main_cf=None, master_cf="", name="tern"):
        t = Tern(tmp_path / name, main_cf=main_cf, master_cf=master_cf)
        made.append(t)
        return t

    yield make
    leftovers = {}
    for t in made:
        left = t.cleanup()
        if left:
            leftovers[str(t.root)] = left
    assert not leftovers, f"processes left behind: {leftovers}"


def connect(port, host="127.0.0.1", timeout=10):
    """A line-oriented client: returns (socket, file) with a read timeout."""
    s = socket.create_connection((host, port), timeout=timeout)
    return s, s.makefile("rwb", buffering=0)


def connect_unix(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return s, s.makefile("rwb", buffering=0)


def greeting_fields(line):
    """'hello pid=1 uid=0 ...' -> {'pid': '1', 'uid': '0', ...}"""
    text = line.decode() if isinstance(line, bytes) else line
    assert text.startswith("hello "), text
    return dict(item.split("=", 1) for item in text.split()[1:])

