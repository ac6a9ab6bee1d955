"""Helpers of the smtp client's system tests (test_smtp*.py).

A test gets a Tern instance that runs only the smtp delivery agent
(maxproc 1, so successive requests meet the same process and its kept
connections), the scripted DNS server as its only resolver, and fake MX
hosts (fakesmtp.py) on 127.0.0.x and one shared port, which the agent
uses for every next hop given without a port (smtp_tcp_port).  Requests
are sent with tests/tools/smtpq, as qmgr would send them; its answers are
parsed into dicts.
"""
import subprocess

import pytest

from conftest import free_port
from fakesmtp import FakeSMTP

SMTP_SERVICE = "smtp unix - n n - 1 smtp\n"

FAST = {
    "smtp_connect_timeout": "3s",
    "smtp_helo_timeout": "5s",
    "smtp_mail_timeout": "5s",
    "smtp_rcpt_timeout": "5s",
    "smtp_data_init_timeout": "5s",
    "smtp_data_xfer_timeout": "5s",
    "smtp_data_done_timeout": "5s",
    "smtp_quit_timeout": "2s",
    "smtp_rset_timeout": "2s",
    "smtp_tls_security_level": "none",
}

MESSAGE = (b"From: Alice <alice@tern.test>\n"
           b"To: Bob <bob@example.com>\n"
           b"Subject: test\n"
           b"\n"
           b"Hello.\n"
           b".leading dot\n")


class Env:
    """One test's world: Tern, its DNS server and its fake MX hosts."""

    def __init__(self, tern, dns, port):
        self.tern = tern
        self.dns = dns
        self.port = port
        self.servers = []
        self.t = None

    def start(self, **params):
        main = dict(FAST)
        main.update({"dns_servers": self.dns.address, "smtp_tcp_port": str(self.port)})
        main.update({k: str(v) for k, v in params.items()})
        self.t = self.tern(main_cf=main, master_cf=SMTP_SERVICE)
        self.t.start()
        self.t.wait_until(lambda: (self.t.queue / "private" / "smtp").exists(),
                          what="smtp socket")
        (self.t.queue / "active").mkdir(parents=True, exist_ok=True)
        return self.t

    def mx(self, host, **kw):
        kw.setdefault("name", "mx-" + host)
        s = FakeSMTP(host, kw.pop("port", self.port), **kw).start()
        self.servers.append(s)
        return s

    def send(self, nexthop, rcpts, message=MESSAGE, sender="alice@tern.test", args=(),
             timeout=120):
        """Run smtpq: (answers by recipient index, the final answer)."""
        tool = str(self.t.build / "tests" / "tools" / "smtpq")
        cmd = [tool, "-q", str(self.t.queue), "-n", nexthop, "-f", sender, *args, *rcpts]
        r = subprocess.run(cmd, input=message, capture_output=True, timeout=timeout)
        out = r.stdout.decode("utf-8", "replace")
        assert r.returncode == 0, out + r.stderr.decode("utf-8", "replace")
        answers, done = {}, None
        for line in out.splitlines():
            kind, fields = parse(line)
            if kind == "rcpt":
                answers[int(fields["index"])] = fields
            elif kind == "done":
                done = fields
        assert done is not None, out
        return answers, done

    def stop(self):
        for s in self.servers:
            s.stop()


def parse(line):
    kind, _, rest = line.partition(" ")
    if "=" in kind:  # queue_id=...
        return kind.split("=", 1)[0], {}
    head, _, reason = rest.partition(" reason=")
    fields = dict(item.split("=", 1) for item in head.split(" ") if "=" in item)
    fields["reason"] = reason
    return kind, fields


@pytest.fixture
def env(tern, dns_server):
    e = Env(tern, dns_server, free_port())
    try:
        yield e
    finally:
        e.stop()
