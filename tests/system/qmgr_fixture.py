"""Helpers of the qmgr tests: a Tern instance running qmgr, trivial-rewrite
and the test delivery agent (tests/tools/testagent) as the smtp transport
(and optionally more transports), messages written into the queue with
tests/tools/qinject, the agent's event log parsed, and the control
protocol of public/qmgr spoken with raw attribute frames.
"""
import os
import re
import socket
import struct
import subprocess
import time
from pathlib import Path

FOLDERS = ("incoming", "active", "deferred", "hold", "corrupt")


def encode_frame(pairs):
    body = b""
    for name, value in pairs:
        n = name.encode()
        v = value if isinstance(value, bytes) else str(value).encode()
        body += struct.pack("B", len(n)) + n + struct.pack(">I", len(v)) + v
    return struct.pack(">I", len(body)) + body


def decode_frame(data):
    """(list of (name, value) pairs, rest) or (None, data) when incomplete."""
    if len(data) < 4:
        return None, data
    (n,) = struct.unpack(">I", data[:4])
    if len(data) < 4 + n:
        return None, data
    body, rest = data[4:4 + n], data[4 + n:]
    pairs, i = [], 0
    while i < len(body):
        nl = body[i]
        name = body[i + 1:i + 1 + nl].decode()
        i += 1 + nl
        (vl,) = struct.unpack(">I", body[i:i + 4])
        pairs.append((name, body[i + 4:i + 4 + vl].decode(errors="replace")))
        i += 4 + vl
    return pairs, rest


def request(path, pairs, timeout=10):
    """One request frame to a UNIX socket; the reply as a list of pairs."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    s.sendall(encode_frame(pairs))
    data = b""
    while True:
        pairs_back, _ = decode_frame(data)
        if pairs_back is not None:
            s.close()
            return pairs_back
        chunk = s.recv(65536)
        if not chunk:
            s.close()
            raise AssertionError(f"no reply from {path}; got {data!r}")
        data += chunk


class QmgrEnv:
    """A started instance.  agents: {transport: maxproc}."""

    def __init__(self, tern, main_cf=None, agents=None, name="tern", qmgr_wakeup="60",
                 qmgr_chroot="n", agent_dir=None):
        cf = {
            "mydestination": "tern.test",
            "myorigin": "tern.test",
            "retry_schedule": "1s",
            "queue_run_delay": "1h",
            "delivery_agent_timeout": "60s",
        }
        cf.update(main_cf or {})
        self.t = tern(main_cf=cf, name=name)
        agent_dir = Path(agent_dir) if agent_dir else self.t.root
        self.agent_log = agent_dir / "agent.log"
        self.script = agent_dir / "agent.script"
        self.script.write_text("")
        self.agents = agents or {"smtp": "5"}
        testagent = self.t.build / "tests" / "tools" / "testagent"
        lines = [f"qmgr unix n - {qmgr_chroot} {qmgr_wakeup} 1 qmgr",
                 "rewrite unix - - n - - trivial-rewrite",
                 "cleanup unix - - n - 0 cleanup"]  # bounces are written through it
        for transport, maxproc in self.agents.items():
            lines.append(f"{transport} unix - - n - {maxproc} {testagent} "
                         f"-l {self.agent_log} -s {self.script}")
        self.t.write_master_cf("\n".join(lines) + "\n")
        self.queue = self.t.queue
        self.qinject = str(self.t.build / "tests" / "tools" / "qinject")
        self.qfdump = str(self.t.build / "tests" / "tools" / "qfdump")

    def start(self):
        self.t.start()
        self.t.wait_until(lambda: (self.queue / "public" / "qmgr").exists(), what="public/qmgr")
        self.t.wait_until(lambda: (self.queue / "private" / "rewrite").exists(),
                          what="private/rewrite")
        self.t.wait_for_log(r"qmgr\[\d+\]")
        return self

    def set_script(self, text):
        tmp = self.script.with_suffix(".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.script)

    # ---- messages ----

    def inject(self, *rcpts, sender="sender@tern.test", count=1, folder="incoming",
               notify=None, age=None, mtime=None, size=None, wake=True):
        cmd = [self.qinject, "-q", str(self.queue), "-D", folder, "-f", sender,
               "-n", str(count)]
        for r in rcpts:
            cmd += ["-r", r]
        if notify:
            cmd += ["-N", notify]
        if age is not None:
            cmd += ["-a", str(age)]
        if mtime is not None:
            cmd += ["-m", str(mtime)]
        if size is not None:
            cmd += ["-s", str(size)]
        if wake:
            cmd.append("-w")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout.split()

    def wakeup(self):
        request_nowait(self.queue / "public" / "qmgr", [("request", "wakeup")])

    def where(self, qid):
        return [f for f in FOLDERS if (self.queue / f / qid).exists()]

    def gone(self, qid):
        """Absent from every folder in two scans: one scan can miss a file
        that qmgr renames from a folder not yet scanned to one already
        scanned."""
        if self.where(qid):
            return False
        time.sleep(0.1)
        return not self.where(qid)

    def wait_gone(self, qid, timeout=20):
        self.t.wait_until(lambda: self.gone(qid), timeout=timeout,
                          what=f"{qid} to leave the queue (in {self.where(qid)})")

    def wait_in(self, qid, folder, timeout=20):
        self.t.wait_until(lambda: self.where(qid) == [folder], timeout=timeout,
                          what=f"{qid} in {folder}/ (in {self.where(qid)})")

    def dump(self, path):
        """(envelope dict, [rcpt dicts]) of a queue file, read by lib's reader."""
        p = subprocess.run([self.qfdump, str(path)], capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()
        head = p.stdout.split(b"\n\n", 1)[0].decode()
        env, rcpts = {}, []
        for line in head.splitlines():
            name, _, value = line.partition("=")
            if name == "rcpt":
                fields = value.split("\t")
                r = {"address": fields[0]}
                r.update(f.split("=", 1) for f in fields[1:])
                rcpts.append(r)
            else:
                env[name] = value
        return env, rcpts

    # ---- the agent's log ----

    def events(self, kind=None):
        try:
            text = self.agent_log.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            word, _, rest = line.partition(" ")
            ev = {"kind": word}
            for m in re.finditer(r"(\w+)=(\S*)", rest):
                ev[m.group(1)] = m.group(2)
            if "t" in ev:
                ev["t"] = float(ev["t"])
            if kind is None or word == kind:
                out.append(ev)
        return out

    def deliveries(self):
        """[(queue id, recipient)] in the order the agent delivered them."""
        return [(e["id"], e["rcpt"]) for e in self.events("delivered")]

    def intervals(self):
        """[(start, end, start event)] of each request the agent served."""
        starts, out = {}, []
        for e in self.events():
            key = (e.get("pid"), e.get("id"))
            if e["kind"] == "start":
                starts[key] = e
            elif e["kind"] == "end" and key in starts:
                s = starts.pop(key)
                out.append((s["t"], e["t"], s))
        return out

    # ---- the maillog ----

    def log_lines(self, regex, since=0):
        return re.findall(regex, self.t.log()[since:], re.M)

    def control(self, *pairs):
        return dict(request(self.queue / "public" / "qmgr", list(pairs)))


def request_nowait(path, pairs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    s.sendall(encode_frame(pairs))
    s.close()


def max_overlap(intervals):
    """The most intervals open at one time."""
    points = []
    for start, end, _ in intervals:
        points.append((start, 1))
        points.append((end, -1))
    points.sort(key=lambda p: (p[0], p[1]))
    best = cur = 0
    for _, d in points:
        cur += d
        best = max(best, cur)
    return best


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
