"""Helpers for the smtpd system tests (test_smtpd_*.py).

    t = smtpd_tern(tern, main_cf={...}, options=["smtpd_timeout=2s"])
    c = Client(t.port())               # raw client: c.reply(), c.cmd("EHLO x")
    c.cmd("EHLO client.test")          # -> (code, [lines])
    qid = send_message(c, "a@example.org", ["root@tern.test"], b"Subject: x\\r\\n\\r\\nhi\\r\\n")
    env, rcpts, content = queued(t, qid)

smtpd_tern() starts an instance whose master.cf runs smtpd on a free
loopback port (with any -o options), cleanup and trivial-rewrite, and
waits until the internal sockets exist.  mydestination is tern.test and
localhost; alice@tern.test and bob@tern.test exist through
virtual_alias_maps, root@tern.test as a system account.
"""
import os
import socket
import ssl
import subprocess
import time

LOCAL_USERS = "inline:{alice@tern.test=root@tern.test, bob@tern.test=root@tern.test}"


def smtpd_line(port, options=(), service=None):
    name = service or f"127.0.0.1:{port}"
    line = f"{name} inet n - n - - smtpd\n"
    for o in options:
        line += f"    -o {o}\n"
    return line


def smtpd_tern(tern, main_cf=None, options=(), extra_services="", with_cleanup=True,
               with_rewrite=True, name="tern", start=True):
    cf = {
        "queue_minfree": "1m",
        "myorigin": "tern.test",
        "mydestination": "tern.test, localhost",
        "virtual_alias_maps": LOCAL_USERS,
        "ipc_timeout": "30s",
    }
    cf.update(main_cf or {})
    t = tern(main_cf=cf, name=name)
    master = smtpd_line(t.port(), options)
    if with_cleanup:
        master += "cleanup unix - - n - 0 cleanup\n"
    if with_rewrite:
        master += "rewrite unix - - n - - trivial-rewrite\n"
    master += extra_services
    t.write_master_cf(master)
    if start:
        t.start()
        wait_ready(t, with_cleanup, with_rewrite)
    return t


def wait_ready(t, with_cleanup=True, with_rewrite=True):
    def ready():
        ok = True
        if with_cleanup:
            ok = ok and (t.queue / "private" / "cleanup").exists()
        if with_rewrite:
            ok = ok and (t.queue / "private" / "rewrite").exists()
        return ok
    t.wait_until(ready, what="internal sockets")


class Client:
    """A raw SMTP client over a socket (optionally from a given source
    address), reading replies line by line."""

    def __init__(self, port, source=None, timeout=15, greet=True, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        assert line.endswith(b"\r"), f"reply line without CRLF: {line!r}"
        return line[:-1].decode("ascii")

    def reply(self):
        """(code, [text lines]) of one possibly multi-line reply."""
        lines = []
        while True:
            line = self.line()
            code, sep, text = line[:3], line[3:4], line[4:]
            assert code.isdigit() and sep in ("-", " "), f"malformed reply {line!r}"
            lines.append(text)
            if sep == " ":
                return int(code), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code, start=None):
        got, lines = self.cmd(line)
        assert got == code, f"{line!r}: expected {code}, got {got} {lines}"
        if start is not None:
            assert lines[-1].startswith(start), f"{line!r}: {lines}"
        return lines

    def closed(self, timeout=5):
        """True when the server closed the connection (after any
        pending replies, which are dropped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def starttls(self, ca_file=None, server_hostname="localhost"):
        ctx = ssl.create_default_context(cafile=ca_file) if ca_file else \
            ssl._create_unverified_context()
        if not ca_file:
            ctx.check_hostname = False
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def crlf(text):
    return text.replace("\n", "\r\n").encode()


SIMPLE = crlf("From: a@example.org\nTo: root@tern.test\nSubject: hello\n\nline 1\nline 2\n")


def send_message(c, sender, rcpts, content, ehlo="client.test", params=""):
    """One whole transaction on a raw client; returns the queue ID."""
    if ehlo:
        c.expect(f"EHLO {ehlo}", 250)
    c.expect(f"MAIL FROM:<{sender}>{params}", 250)
    for r in rcpts:
        c.expect(f"RCPT TO:<{r}>", 250)
    c.expect("DATA", 354)
    c.send(dot_stuff(content) + b".\r\n")
    code, lines = c.reply()
    assert code == 250, (code, lines)
    return queue_id_of(lines[-1])


def dot_stuff(content):
    out = b"".join((b"." + line if line.startswith(b".") else line)
                   for line in content.splitlines(keepends=True))
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def queue_id_of(text):
    assert text.startswith("2.0.0 Ok: queued as "), text
    return text.rsplit(" ", 1)[1]


def tool(t, name):
    return str(t.build / "tests" / "tools" / name)


def qfdump(t, path):
    """(envelope dict, [rcpt dicts], content bytes) of a queue file."""
    p = subprocess.run([tool(t, "qfdump"), str(path)], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    head, _, content = p.stdout.partition(b"\n\n")
    env, rcpts = {}, []
    for line in head.decode().splitlines():
        name, _, value = line.partition("=")
        if name == "rcpt":
            fields = value.split("\t")
            r = {"address": fields[0]}
            r.update(f.split("=", 1) for f in fields[1:])
            rcpts.append(r)
        else:
            env[name] = value
    return env, rcpts, content


def all_queue_files(t):
    """Every file in the queue folders (committed or temporary)."""
    found = []
    for folder in ("incoming", "active", "deferred", "hold", "corrupt", "maildrop"):
        d = t.queue / folder
        if d.is_dir():
            found += [f"{folder}/{n}" for n in sorted(os.listdir(d))]
    return found


def queue_files(t, timeout=5):
    """The queue's files once cleanup is done with its temporaries: a
    message that smtpd abandons makes cleanup remove its file, a moment
    later.  A temporary file still there after timeout is reported."""
    deadline = time.monotonic() + timeout
    while True:
        found = all_queue_files(t)
        if not any(os.path.basename(f).startswith("tmp.") for f in found):
            return found
        if time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def queued(t, qid, timeout=10):
    """The queue file of qid, wherever it went: (env, rcpts, content)."""
    deadline = time.monotonic() + timeout
    while True:
        for folder in ("incoming", "active", "deferred", "hold"):
            path = t.queue / folder / qid
            if path.exists():
                return qfdump(t, path)
        if time.monotonic() > deadline:
            raise AssertionError(f"{qid} not in the queue: {queue_files(t)}")
        time.sleep(0.05)


def header_lines(content):
    return content.split(b"\n\n", 1)[0].decode(errors="replace").split("\n")


def body_of(content):
    return content.split(b"\n\n", 1)[1]


def smtpd_pids(t):
    """pids of the instance's smtpd processes."""
    pids = []
    for pid in t.processes():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if argv0.endswith(b"/smtpd"):
            pids.append(pid)
    return pids


def process_pids(t, program):
    pids = []
    for pid in t.processes():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if argv0.endswith(b"/" + program.encode()):
            pids.append(pid)
    return pids
