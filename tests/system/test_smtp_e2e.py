"""smtp end to end under the real master: mail sent with smtplib to
smtpd goes through cleanup, trivial-rewrite and qmgr to the smtp agent,
which relays it to fake remote MX hosts found in the test DNS.  The log
lines are qmgr's, from the agent's answers.
"""
import re
import smtplib

from conftest import free_port
from dns_fixture import dns_server  # noqa: F401  (fixture)
from fakesmtp import FakeSMTP
from smtp_util import FAST

ZONES = {
    "example.com.": [("MX", 10, "mx1.example.com."), ("MX", 20, "mx2.example.com.")],
    "mx1.example.com.": [("A", "127.0.0.2")],
    "mx2.example.com.": [("A", "127.0.0.3")],
    "nullmx.example.": [("MX", 0, ".")],
}


def relay_tern(tern, dns, port, **params):
    cf = dict(FAST)
    cf.update({"myorigin": "tern.test", "mydestination": "tern.test, localhost",
               "queue_minfree": "1m", "ipc_timeout": "30s", "dns_servers": dns.address,
               "smtp_tcp_port": str(port), "retry_schedule": "1s", "queue_run_delay": "1s",
               "destination_backoff_time": "1s", "bounce_notice_recipient": "",
               "smtp_connection_cache_time": "10s"})
    cf.update({k: str(v) for k, v in params.items()})
    t = tern(main_cf=cf)
    t.write_master_cf(f"127.0.0.1:{t.port()} inet n - n - - smtpd\n"
                      "cleanup unix - - n - 0 cleanup\n"
                      "rewrite unix - - n - - trivial-rewrite\n"
                      "qmgr unix n - n 300 1 qmgr\n"
                      "smtp unix - - n - 1 smtp\n"
                      "local unix - n n - - local\n")
    t.start()
    t.wait_until(lambda: all((t.queue / p).exists() for p in
                             ("private/cleanup", "private/rewrite", "private/smtp")),
                 what="internal sockets")
    return t


def send(t, rcpts, sender="alice@tern.test", body="hello\r\n"):
    msg = f"From: {sender}\r\nSubject: relay test\r\n\r\n{body}"
    with smtplib.SMTP("127.0.0.1", t.port(), timeout=30) as s:
        s.sendmail(sender, rcpts, msg)


def test_relay_through_mx(tern, dns_server):
    dns_server.set_zones(ZONES)
    port = free_port()
    with FakeSMTP("127.0.0.2", port, name="mx1") as mx1, \
            FakeSMTP("127.0.0.3", port, name="mx2") as mx2:
        t = relay_tern(tern, dns_server, port)
        mark = t.log_mark()
        send(t, ["bob@example.com", "carol@example.com"])
        msg = mx1.wait_messages(1)[0]
        assert sorted(msg.rcpts) == ["<bob@example.com>", "<carol@example.com>"]
        assert msg.mail.startswith("<alice@tern.test>")
        assert b"Subject: relay test\r\n" in msg.data
        assert b"Received: " in msg.data
        for rcpt in ("bob", "carol"):
            t.wait_for_log(r"to=<%s@example\.com>, relay=mx1\.example\.com\[127\.0\.0\.2\]:%d, "
                           r"conn_use=1, delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                           r"status=sent \(250 2\.0\.0 Ok: queued as FAKE1\)" % (rcpt, port),
                           timeout=30, since=mark)
        assert mx2.connections == 0
        # the next message reuses the kept connection
        send(t, ["dave@example.com"])
        t.wait_for_log(r"to=<dave@example\.com>, relay=mx1\S+, conn_use=2, .*status=sent",
                       timeout=30, since=mark)
        assert mx1.connections == 1


def test_retry_after_temporary_refusal(tern, dns_server):
    dns_server.set_zones(ZONES)
    port = free_port()
    with FakeSMTP("127.0.0.2", port, name="mx1",
                  replies={"RCPT": "450 4.2.0 greylisted, come back later"}) as mx1:
        t = relay_tern(tern, dns_server, port)
        mark = t.log_mark()
        send(t, ["bob@example.com"])
        t.wait_for_log(r"to=<bob@example\.com>, relay=mx1\S+, .*dsn=4\.2\.0, status=deferred "
                       r"\(host mx1\.example\.com\[127\.0\.0\.2\]:\d+ said: 450 4\.2\.0 greylisted",
                       timeout=30, since=mark)
        mx1.replies.clear()
        t.wait_for_log(r"to=<bob@example\.com>, .*status=sent", timeout=60, since=mark)
        assert len(mx1.wait_messages(1)) == 1


def test_bounce_and_unreachable(tern, dns_server):
    dns_server.set_zones(ZONES)
    port = free_port()
    with FakeSMTP("127.0.0.2", port, name="mx1",
                  replies={"RCPT <nobody@example.com>": "550 5.1.1 no such user"}) as mx1:
        t = relay_tern(tern, dns_server, port)
        mark = t.log_mark()
        send(t, ["bob@example.com", "nobody@example.com", "x@nullmx.example"])
        t.wait_for_log(r"to=<nobody@example\.com>, .*dsn=5\.1\.1, status=bounced \(host mx1",
                       timeout=30, since=mark)
        t.wait_for_log(r"to=<x@nullmx\.example>, relay=none, .*dsn=5\.1\.10, status=bounced",
                       timeout=30, since=mark)
        t.wait_for_log(r"to=<bob@example\.com>, .*status=sent", timeout=30, since=mark)
        assert mx1.wait_messages(1)[0].rcpts == ["<bob@example.com>"]
    # mx1 is gone now, mx2 never listened: the destination is deferred
    mark = t.log_mark()
    send(t, ["eve@example.com"])
    m = t.wait_for_log(r"to=<eve@example\.com>, .*status=deferred \((.*)\)", timeout=30,
                       since=mark)
    assert re.search(r"connect to mx\d\.example\.com\[127\.0\.0\.\d\]:\d+: Connection refused",
                     m.group(1)), m.group(0)
