"""master, the daemon skeleton and tern start/stop/reload/status/setup,
with the test service tests/tools/testsvc (real processes, real sockets).
"""
import grp
import os
import pwd
import signal
import socket
import stat
import struct
import subprocess
import time

import pytest

from conftest import connect, connect_unix, greeting_fields, proc_status


def svc_greeting(port):
    s, f = connect(port)
    return s, f, greeting_fields(f.readline())


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def wakeup_frame():
    def attr(name, value):
        return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    body = attr(b"request", b"wakeup")
    return struct.pack(">I", len(body)) + body


# ---- start, status, stop ----

def test_start_status_stop(tern):
    t = tern()
    port = t.port()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}", args="-p myhostname") + "\n" +
                      t.testsvc_line("echo", type="unix", private="y",
                                     args="-m event") + "\n")
    r = t.start()
    assert "started, pid" in r.stderr
    master_pid = t.master_pid()
    assert master_pid and os.path.exists(f"/proc/{master_pid}")

    s, f, hello = svc_greeting(port)
    assert hello["service"] == f"127.0.0.1:{port}"
    assert hello["model"] == "single"
    assert hello["myhostname"] == "tern.test"
    f.write(b"ping\n")
    assert f.readline() == b"ping\n"

    u, uf = connect_unix(t.queue / "private" / "echo")
    uhello = greeting_fields(uf.readline())
    assert uhello["model"] == "event"
    uf.write(b"pong\n")
    assert uf.readline() == b"pong\n"

    st = t.status()
    assert st["running"] is True and st["pid"] == master_pid
    assert st["mode"] == "unprivileged"
    listeners = {(l["service"], l["address"]) for l in st["listeners"]}
    assert (f"127.0.0.1:{port}", f"127.0.0.1:{port}") in listeners
    assert ("echo", "private/echo") in listeners
    procs = {p["pid"]: p for p in st["processes"]}
    assert procs[int(hello["pid"])]["state"] == "busy"
    assert procs[int(uhello["pid"])]["service"] == "echo"
    assert stat.S_IMODE(os.stat(t.queue / "private" / "echo").st_mode) == 0o600

    text = t.run("status", check=True).stdout
    assert f"127.0.0.1:{port}" in text and "private/echo" in text

    s.close(), f.close(), u.close(), uf.close()
    t.stop()
    assert t.processes() == []
    assert not (t.queue / "pid" / "master.pid").exists()
    assert not (t.queue / "pid" / "master.sock").exists()
    assert not (t.queue / "private" / "echo").exists()
    r = t.run("status")
    assert r.returncode == 1 and "the master is not running" in r.stderr


def test_stop_ends_sessions_after_grace(tern):
    t = tern(main_cf={"master_stop_grace": "2s"})
    port, eport = t.port("single"), t.port("event")
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}") + "\n" +
                      t.testsvc_line(f"127.0.0.1:{eport}", args="-m event") + "\n")
    t.start()
    s1, f1, h1 = svc_greeting(port)
    s2, f2, h2 = svc_greeting(eport)
    f1.write(b"sleep 60\n")
    began = time.monotonic()
    t.stop()
    took = time.monotonic() - began
    assert took < 10, took
    assert t.processes() == []
    log = t.log()
    assert "stopping: stop requested" in log
    # The event daemon closed its session at the grace deadline; the
    # single one, stuck in its work, was killed.
    assert "grace period over: closing 1 session" in log
    assert f"pid {h1['pid']} killed by signal 9" in log
    assert f2.readline() == b""


# ---- failures and back-off ----

def test_killed_child_is_restarted_with_backoff(tern):
    t = tern(main_cf={"master_backoff_min": "1s", "master_backoff_max": "16s"})
    port = t.port()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}") + "\n")
    t.start()
    s, f, hello = svc_greeting(port)
    expected = [1, 2, 4]
    for delay in expected:
        pid = int(hello["pid"])
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        assert f.readline() == b""
        s.close(), f.close()
        # Once master has seen the death, the next process waits.
        t.wait_for_log(rf"warning: process {t.testsvc} pid {pid} killed by signal 9")
        t.wait_for_log(rf"next process no sooner than in {delay} s \(failure")
        s, f, hello = svc_greeting(port)
        gap = time.monotonic() - killed
        assert int(hello["pid"]) != pid
        assert delay - 0.2 <= gap < delay + 3, (delay, gap)
    s.close(), f.close()


def test_service_dying_at_start_is_throttled(tern):
    t = tern(main_cf={"master_backoff_min": "1s", "master_backoff_max": "60s"})
    port = t.port()
    # A bad service argument: the program exits 1 right after it starts.
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}", args="-m bogus") + "\n")
    t.start()
    s = socket.create_connection(("127.0.0.1", port))
    time.sleep(4.5)
    log = t.log()
    starts = log.count("exit status 1")
    # Back-off 1, 2, 4 s: at most 3 starts in 4.5 s, not a busy loop.
    assert 2 <= starts <= 3, log
    assert "died right after start" in log and "throttling" in log
    st = t.status()
    assert [l["state"] for l in st["listeners"]] == ["throttled"]
    s.close()


def test_port_in_use_is_refused(tern):
    t = tern()
    port = t.port()
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", port))
    busy.listen()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}") + "\n" +
                      t.testsvc_line("other", type="unix") + "\n")
    r = t.start(check=False)
    busy.close()
    assert r.returncode != 0
    assert f"tern: fatal: 127.0.0.1:{port}: Address already in use\n" in r.stderr
    assert t.processes() == []
    assert not (t.queue / "pid" / "master.pid").exists()
    assert not (t.queue / "public" / "other").exists()


def test_bad_main_cf_is_refused_with_file_and_line(tern):
    t = tern(main_cf={"max_use": "lots"})
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{t.port()}") + "\n")
    r = t.start(check=False)
    assert r.returncode != 0
    lineno = t.main_cf_text().splitlines().index("max_use = lots") + 1
    assert f"{t.etc}/main.cf:{lineno}: parameter max_use" in r.stderr
    assert "not started" in r.stderr
    assert t.processes() == []


def test_bad_master_cf_is_refused(tern):
    t = tern(master_cf="smtp inet n - n - many smtpd\n")
    r = t.start(check=False)
    assert r.returncode != 0
    assert f"{t.etc}/master.cf:1:" in r.stderr
    assert t.processes() == []


def test_second_master_is_refused(tern):
    t = tern()
    t.write_master_cf(t.testsvc_line("svc", type="unix") + "\n")
    t.start()
    pid = t.master_pid()
    r = t.start(check=False)
    assert r.returncode != 0
    assert f"the master is already running (pid {pid})" in r.stderr
    # master itself refuses too, on the pid file lock.
    r = subprocess.run([str(t.bin / "master"), "-C", str(t.etc), "-f"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"the master is already running (pid {pid}" in r.stderr
    assert t.master_pid() == pid
    assert t.status()["pid"] == pid


# ---- reload ----

@pytest.mark.parametrize("model", ["single", "event"])
def test_reload_keeps_live_connection(tern, model):
    t = tern()
    port = t.port()

    def master_cf(origin):
        return t.testsvc_line(f"127.0.0.1:{port}", maxproc="5",
                              args=f"-o myorigin={origin} -m {model} -p myorigin") + "\n"

    t.write_master_cf(master_cf("one.example"))
    t.start()
    s1, f1, h1 = svc_greeting(port)
    assert h1["myorigin"] == "one.example"
    mark = t.log_mark()
    t.write_master_cf(master_cf("two.example"))
    t.reload()
    t.wait_for_log(r"reload -- configuration", since=mark)

    f1.write(b"still here\n")
    assert f1.readline() == b"still here\n"
    s2, f2, h2 = svc_greeting(port)
    assert h2["myorigin"] == "two.example"
    assert h2["pid"] != h1["pid"]
    f2.write(b"new\n")
    assert f2.readline() == b"new\n"
    f1.write(b"again\n")
    assert f1.readline() == b"again\n"
    states = {p["pid"]: p["state"] for p in t.status()["processes"]}
    assert states[int(h1["pid"])] == "exiting"
    # The old process leaves when its session ends.
    f1.write(b"quit\n")
    s1.close(), f1.close()
    assert wait_gone(int(h1["pid"]))
    s2.close(), f2.close()


def test_reload_adds_and_removes_listeners(tern):
    t = tern()
    a, b = t.port("a"), t.port("b")
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{a}") + "\n")
    t.start()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{b}") + "\n")
    t.reload()
    s, f, h = svc_greeting(b)
    s.close(), f.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", a), timeout=5)
    assert [l["address"] for l in t.status()["listeners"]] == [f"127.0.0.1:{b}"]


def test_reload_refuses_bad_configuration(tern):
    t = tern()
    port = t.port()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}") + "\n")
    t.start()
    t.write_main_cf(max_idle="forever")
    r = t.reload(check=False)
    assert r.returncode != 0
    assert f"{t.etc}/main.cf:" in r.stderr and "max_idle" in r.stderr
    s, f, h = svc_greeting(port)  # still running the old configuration
    s.close(), f.close()


# ---- limits, wakeup, tables ----

def test_maxproc_limits_single_service(tern):
    t = tern()
    port = t.port()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}", maxproc="2") + "\n")
    t.start()
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]

    def greeted(s, timeout):
        s.settimeout(timeout)
        try:
            return greeting_fields(s.recv(1000))
        except (socket.timeout, TimeoutError):
            return None

    first = [greeted(s, 1.5) for s in conns]
    served = [h for h in first if h]
    assert len(served) == 2, first
    procs = [p for p in t.status()["processes"] if p["service"] == f"127.0.0.1:{port}"]
    assert len(procs) == 2
    # Closing the served ones lets two waiting ones through, on the same
    # two processes.
    waiting = [s for s, h in zip(conns, first) if h is None]
    for s, h in zip(conns, first):
        if h:
            s.close()
    later = [greeted(s, 10) for s in waiting[:2]]
    assert all(later), later
    assert {h["pid"] for h in later} <= {h["pid"] for h in served}
    assert len(t.status()["processes"]) <= 2
    for s in waiting:
        s.close()


def test_wakeup_is_delivered(tern):
    t = tern()
    t.write_master_cf(t.testsvc_line("waker", type="unix", private="n", wakeup="1",
                                     maxproc="1") + "\n")
    t.start()
    first = t.wait_for_log(r"testsvc\[\d+\]: testsvc: wakeup received")
    t.wait_for_log(r"testsvc: wakeup received", since=first.end())
    # A wakeup from outside (as pickup gets one from postdrop).
    mark = t.log_mark()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(t.queue / "public" / "waker"))
    s.sendall(wakeup_frame())
    s.close()
    t.wait_for_log(r"wakeup received", since=mark, timeout=5)
    assert stat.S_IMODE(os.stat(t.queue / "public" / "waker").st_mode) == 0o622
    # Anything else on the socket is a client, not a wakeup.
    u, uf = connect_unix(t.queue / "public" / "waker")
    assert uf.readline().startswith(b"hello ")
    u.close(), uf.close()


def test_changed_table_replaces_the_daemon(tern):
    t = tern(main_cf={"table_change_check_interval": "1s"})
    port = t.port()
    table = t.root / "lookup"
    table.write_text("key first\n")
    t.run("map", "build", str(table), check=True)
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}", args=f"-T cdb:{table}") + "\n")
    t.start()
    s, f, h1 = svc_greeting(port)
    f.write(b"get key\n")
    assert f.readline() == b"value first\n"
    f.write(b"quit\n")
    s.close(), f.close()
    mark = t.log_mark()
    time.sleep(1.1)  # a new mtime second
    table.write_text("key second\n")
    t.run("map", "build", str(table), check=True)
    t.wait_for_log(rf"testsvc\[{h1['pid']}\]: table cdb:{table} has changed", since=mark)
    assert wait_gone(int(h1["pid"]))
    s, f, h2 = svc_greeting(port)
    assert h2["pid"] != h1["pid"]
    f.write(b"get key\n")
    assert f.readline() == b"value second\n"
    s.close(), f.close()


def test_idle_daemon_exits(tern):
    t = tern(main_cf={"max_idle": "1s"})
    port = t.port()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}") + "\n")
    t.start()
    s, f, h = svc_greeting(port)
    s.close(), f.close()
    assert wait_gone(int(h["pid"]), timeout=5)
    s, f, h2 = svc_greeting(port)
    assert h2["pid"] != h["pid"]
    s.close(), f.close()


def test_max_use_ends_a_daemon(tern):
    t = tern(main_cf={"max_use": "2"})
    port = t.port()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}", maxproc="1") + "\n")
    t.start()
    pids = []
    for _ in range(4):
        s, f, h = svc_greeting(port)
        pids.append(h["pid"])
        f.write(b"quit\n")
        f.readline()
        s.close(), f.close()
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[1] != pids[2]


def test_foreground_master_stops_on_sigterm(tern):
    t = tern()
    port = t.port()
    t.write_master_cf(t.testsvc_line(f"127.0.0.1:{port}") + "\n")
    p = subprocess.Popen([str(t.bin / "tern"), "-c", str(t.etc), "start", "--foreground"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t.wait_for_log(r"daemon started")
        s, f, h = svc_greeting(port)
        s.close(), f.close()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0
    assert "daemon started" in err  # the foreground master logs to stderr too
    assert t.processes() == []


# ---- root mode ----

@pytest.mark.root
def test_root_mode_setup_privileges_and_chroot(tern):
    t = tern(main_cf={"unprivileged_mode": "no"})
    port = t.port()
    t.write_master_cf(
        t.testsvc_line(f"127.0.0.1:{port}", unpriv="y", chroot="y") + "\n" +
        t.testsvc_line("plain", type="unix", private="y", unpriv="y", chroot="n",
                       args="-m event") + "\n" +
        t.testsvc_line("rooted", type="unix", private="y", unpriv="n", chroot="n") + "\n")
    first = t.run("setup", check=True)
    assert "queue directory" in first.stdout
    again = t.run("setup", check=True)
    assert "created" not in again.stdout  # idempotent
    tern_user = pwd.getpwnam("tern")
    assert grp.getgrnam("ternpost")
    assert tern_user.pw_shell.endswith("nologin")

    def mode_owner(name):
        st = os.lstat(t.queue / name)
        return (oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name,
                grp.getgrgid(st.st_gid).gr_name)

    assert mode_owner("maildrop") == ("0o1730", "tern", "ternpost")
    assert mode_owner("public") == ("0o2710", "tern", "ternpost")
    assert mode_owner("private")[:2] == ("0o700", "tern")
    for d in ("incoming", "active", "deferred", "hold", "corrupt"):
        assert mode_owner(d)[:2] == ("0o700", "tern")
    assert mode_owner("pid") == ("0o755", "root", grp.getgrgid(0).gr_name)
    assert os.path.isdir(t.drop)

    t.start()
    sanitizer = "sanitizer build" in t.log()
    s, f, hello = svc_greeting(port)
    u, uf = connect_unix(t.queue / "private" / "plain")
    plain = greeting_fields(uf.readline())
    v, vf = connect_unix(t.queue / "private" / "rooted")
    rooted = greeting_fields(vf.readline())
    sanitizer = sanitizer or "sanitizer build" in t.log()

    for h in (hello, plain):
        pid = int(h["pid"])
        uids = proc_status(pid)["Uid"].split()
        gids = proc_status(pid)["Gid"].split()
        assert uids == [str(tern_user.pw_uid)] * 4, uids
        assert gids == [str(tern_user.pw_gid)] * 4, gids
        assert proc_status(pid)["Groups"].split() == [str(tern_user.pw_gid)]
    root_of = os.readlink(f"/proc/{hello['pid']}/root")
    if not sanitizer:
        assert root_of == str(t.queue)
        assert hello["root"] == "?"  # /proc is not inside the chroot
    assert os.readlink(f"/proc/{plain['pid']}/root") == "/"
    assert int(rooted["uid"]) == 0  # unpriv = n stays root (as local does)
    st = os.stat(t.queue / "private" / "plain")
    assert st.st_uid == tern_user.pw_uid and stat.S_IMODE(st.st_mode) == 0o600

    master_pid = t.master_pid()
    root_procs = [p for p in t.processes() if proc_status(p)["Uid"].split()[0] == "0"]
    assert sorted(root_procs) == sorted([master_pid, int(rooted["pid"])])
    for c in (s, f, u, uf, v, vf):
        c.close()
    t.stop()
    assert t.processes() == []
