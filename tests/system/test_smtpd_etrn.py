"""ETRN in smtpd (RFC 1985): the per-listener smtpd_etrn_clients check, the
asynchronous flush request to qmgr on public/qmgr, and the mapping of its
answers to replies.  With the real qmgr, mail held for a deferred
transport goes out after a permitted client's ETRN and not after a refused
client's; with a scripted stand-in for qmgr, every answer (and silence, a
dropped connection, garbage) gives its reply and the session goes on.
"""
import os
import socket
import threading
import time

import pytest

from qmgr_fixture import QmgrEnv, decode_frame, encode_frame, wait_for
from smtpd_util import Client, smtpd_line, smtpd_tern

pytestmark = pytest.mark.timeout(120)


def etrn_env(tern, options=(), main_cf=None):
    """qmgr with the test agent as smtp (held by defer_transports), and an
    smtpd listener with options."""
    cf = {"defer_transports": "smtp", "fast_flush_domains": "etrn.test",
          "retry_schedule": "1s"}
    cf.update(main_cf or {})
    env = QmgrEnv(tern, main_cf=cf)
    env.t.add_service(smtpd_line(env.t.port(), options))
    return env.start()


def ehlo_client(t, source=None):
    c = Client(t.port(), source=source)
    c.expect("EHLO client.test", 250)
    return c


def test_etrn_releases_mail_only_for_permitted_clients(tern):
    env = etrn_env(tern, options=["smtpd_etrn_clients=127.0.0.2"])
    t = env.t
    m1, = env.inject("a@etrn.test")
    m2, = env.inject("b@other.test")
    env.wait_in(m1, "deferred")
    env.wait_in(m2, "deferred")
    t.wait_for_log(rf"{m1}: to=<a@etrn.test>, relay=none, .*status=deferred \(deferred transport")

    # A client outside smtpd_etrn_clients: refused, and nothing moves.
    c = ehlo_client(t, source="127.0.0.3")
    assert c.cmd("ETRN etrn.test") == (554, ["5.7.1 etrn.test: ETRN access denied"])
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    c.expect("QUIT", 221)
    t.wait_for_log(r"NOQUEUE: reject: ETRN from unknown\[127\.0\.0\.3\]: 554 5\.7\.1 "
                   r"etrn\.test: ETRN access denied")
    time.sleep(2.5)  # several retry passes: the held mail stays held
    assert env.events("start") == []
    assert env.where(m1) in (["deferred"], ["active"])

    # A permitted client: a domain qmgr does not flush for ETRN gets 459...
    c = ehlo_client(t, source="127.0.0.2")
    assert c.cmd("ETRN other.test") == (459, ["4.7.1 other.test: not eligible for ETRN"])
    t.wait_for_log(r"NOQUEUE: reject: ETRN from unknown\[127\.0\.0\.2\]: 459 4\.7\.1 "
                   r"other\.test: not eligible for ETRN \(domain not eligible for ETRN\)")
    # ...and an eligible one ("@" form, any case) is flushed.
    assert c.cmd("ETRN @ETRN.test") == (250, ["2.0.0 Queuing for node ETRN.test started"])
    env.wait_gone(m1)
    assert env.deliveries() == [(m1, "a@etrn.test")]
    t.wait_for_log(r"smtpd\[\d+\]: ETRN ETRN\.test from unknown\[127\.0\.0\.2\]: "
                   r"queuing started")
    t.wait_for_log(r"qmgr\[\d+\]: flush requested for ETRN\.test")
    c.expect("QUIT", 221)
    time.sleep(1.5)
    assert (m2, "b@other.test") not in env.deliveries()
    assert env.where(m2) in (["deferred"], ["active"])
    t.wait_for_log(r"disconnect from unknown\[127\.0\.0\.2\] ehlo=1 etrn=1/2 quit=1")


def test_etrn_default_clients_are_mynetworks(tern):
    env = etrn_env(tern, main_cf={"mynetworks": "127.0.0.5"})
    qid, = env.inject("c@etrn.test")
    env.wait_in(qid, "deferred")
    c = ehlo_client(env.t, source="127.0.0.6")
    assert c.cmd("ETRN etrn.test")[0] == 554
    c = ehlo_client(env.t, source="127.0.0.5")
    assert c.cmd("ETRN etrn.test") == (250, ["2.0.0 Queuing for node etrn.test started"])
    env.wait_gone(qid)


def test_etrn_syntax_and_sequence(tern):
    t = smtpd_tern(tern)
    c = Client(t.port())
    assert c.cmd("ETRN etrn.test") == (503, ["5.5.1 Error: send HELO/EHLO first"])
    c.expect("HELO client.test", 250)
    assert c.cmd("ETRN") == (501, ["5.5.4 Syntax: ETRN domain"])
    for bad in ("bad/domain", "a b", "@", "#", "exa$mple.test", "x" * 256,
                "[192.0.2.1]", "a@b.test"):
        assert c.cmd(f"ETRN {bad}") == (501, ["5.5.4 Error: invalid parameter syntax"]), bad
    c.expect("MAIL FROM:<a@example.org>", 250)
    assert c.cmd("ETRN etrn.test") == (503, ["5.5.1 Error: MAIL transaction in progress"])
    c.expect("RSET", 250)
    # Syntax and sequence are fine: no qmgr here, so 458.
    assert c.cmd("ETRN etrn.test") == (458, ["4.3.0 Unable to queue messages for node "
                                             "etrn.test"])
    c.expect("QUIT", 221)


def test_etrn_without_qmgr(tern):
    t = smtpd_tern(tern)
    c = ehlo_client(t)
    assert c.cmd("ETRN etrn.test") == (458, ["4.3.0 Unable to queue messages for node "
                                             "etrn.test"])
    t.wait_for_log(r"warning: ETRN etrn\.test from unknown\[127\.0\.0\.1\]: flush request "
                   r"failed: connect public/qmgr: No such file or directory")
    # A socket nobody listens on (qmgr died): refused at once.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(t.queue / "public" / "qmgr"))
    try:
        assert c.cmd("ETRN #etrn.test")[0] == 458
        t.wait_for_log(r"flush request failed: connect public/qmgr: Connection refused")
    finally:
        dead.close()
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])


class FakeQmgr:
    """A stand-in for qmgr on public/qmgr: records each request frame and
    answers it as the script says: a list of (name, value) pairs, raw
    bytes, "silent" (hold the connection open) or "close"."""

    def __init__(self, path):
        self.path = str(path)
        self.requests = []
        self.script = []
        self.held = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            data = b""
            pairs = None
            while pairs is None:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                data += chunk
                pairs, _ = decode_frame(data)
            self.requests.append(pairs)
            what = self.script.pop(0) if self.script else "close"
            if what == "silent":
                self.held.append(conn)
                continue
            try:
                if isinstance(what, bytes):
                    conn.sendall(what)
                elif what != "close":
                    conn.sendall(encode_frame(what))
            except OSError:
                pass  # smtpd gave up on an answer it refused
            conn.close()

    def stop(self):
        self.sock.close()
        for conn in self.held:
            conn.close()
        os.unlink(self.path)


@pytest.fixture
def fake(tern):
    t = smtpd_tern(tern, main_cf={"ipc_timeout": "1s"})
    q = FakeQmgr(t.queue / "public" / "qmgr")
    yield t, q
    q.stop()


def test_etrn_request_and_answers(fake):
    t, q = fake
    c = ehlo_client(t)
    q.script = [[("status", "ok")],
                [("status", "refused"), ("reason", "not\x01 here")],
                [("status", "fail"), ("reason", "malformed domain")],
                [("status", "bogus")],
                [("reason", "no status")],
                "close",
                b"\x00\x00\xff\xff" + b"x" * 70000,  # a frame over smtpd's limit
                b"\x00\x00\x00\x04\x03abc",  # an attribute that runs past its frame
                ]
    assert c.cmd("ETRN @Sub.Etrn.test") == (250, ["2.0.0 Queuing for node Sub.Etrn.test "
                                                  "started"])
    assert q.requests[0] == [("request", "flush"), ("domain", "Sub.Etrn.test"), ("etrn", "1")]
    assert c.cmd("ETRN b.test") == (459, ["4.7.1 b.test: not eligible for ETRN"])
    t.wait_for_log(r"reject: ETRN from unknown\[127\.0\.0\.1\]: 459 4\.7\.1 b\.test: not "
                   r"eligible for ETRN \(not\? here\)")
    for reason in ("malformed domain", "malformed reply", "malformed reply",
                   "connection closed by the service", "attribute frame too large",
                   "attribute length runs past the frame"):
        code, lines = c.cmd("ETRN c.test")
        assert (code, lines) == (458, ["4.3.0 Unable to queue messages for node c.test"])
        t.wait_for_log(r"warning: ETRN c\.test from unknown\[127\.0\.0\.1\]: flush request "
                       rf"failed: .*({reason})")
    assert len(q.requests) == 8
    # The session is still in step.
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    c.expect("QUIT", 221)
    t.wait_for_log(r"ehlo=1 noop=1 etrn=1/8 quit=1 commands=4/11")


def test_etrn_waits_for_qmgr_and_keeps_pipelined_order(fake):
    t, q = fake
    c = ehlo_client(t)
    q.script = ["silent", [("status", "ok")]]
    start = time.monotonic()
    c.send("ETRN slow.test\r\nNOOP\r\nETRN fast.test\r\n")
    assert c.reply() == (458, ["4.3.0 Unable to queue messages for node slow.test"])
    elapsed = time.monotonic() - start
    assert 0.8 < elapsed < 5, elapsed  # ipc_timeout is 1s
    assert c.reply() == (250, ["2.0.0 Ok"])
    assert c.reply() == (250, ["2.0.0 Queuing for node fast.test started"])
    t.wait_for_log(r"ETRN slow\.test from unknown\[127\.0\.0\.1\]: flush request failed: "
                   r"no reply within 1s")
    assert [dict(r)["domain"] for r in q.requests] == ["slow.test", "fast.test"]


def test_client_leaves_while_etrn_waits(fake):
    t, q = fake
    q.script = ["silent"]
    c = ehlo_client(t)
    c.send("ETRN gone.test\r\n")
    wait_for(lambda: q.requests, what="the flush request")
    c.sock.close()
    t.wait_for_log(r"lost connection after ETRN from unknown\[127\.0\.0\.1\]")
    # smtpd is still there, and its next ETRN is answered.
    q.script = [[("status", "ok")]]
    c = ehlo_client(t)
    assert c.cmd("ETRN next.test")[0] == 250


def test_stop_while_etrn_waits(tern):
    # qmgr never answers, and the deadline (10s) is far: a stop ends the
    # session with 421 meanwhile, and the pending request is dropped.
    t = smtpd_tern(tern, main_cf={"ipc_timeout": "60s"})
    q = FakeQmgr(t.queue / "public" / "qmgr")
    try:
        q.script = ["silent"]
        c = ehlo_client(t)
        c.send("ETRN held.test\r\n")
        wait_for(lambda: q.requests, what="the flush request")
        start = time.monotonic()
        t.stop()
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("4.3.2 ")
        assert time.monotonic() - start < 9
        assert c.closed()
        assert "flush request failed" not in t.log()
    finally:
        q.stop()
