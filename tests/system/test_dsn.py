"""Delivery status notifications end to end under the real master: mail
sent with smtplib goes through smtpd, cleanup, trivial-rewrite and qmgr to
local (hosted mailboxes in the Drop) and to the scripted test agent as the
smtp transport (which makes remote recipients fail or wait); the
notifications qmgr writes through cleanup are delivered by local into the
sender's mailbox and read back with Python's email package, field by
field.  The relayed/passed-on cases use the real smtp agent and a fake MX.
"""
import email
import email.policy
import re
import smtplib
import subprocess
import time

from conftest import free_port
from dns_fixture import dns_server  # noqa: F401  (fixture)
from fakesmtp import DEFAULT_EXT, FakeSMTP
from smtp_util import FAST

HOSTED = ("inline:{alice@hosted.test=hosted.test/alice/, bob@hosted.test=hosted.test/bob/, "
          "pm@hosted.test=hosted.test/pm/}")
UNKNOWN = ("host mx.far.test[192.0.2.1]:25 said: 550 5.1.1 <nobody@far.test>: no such user "
           "(in reply to RCPT TO command)")
BODY = "Hello Bob,\r\nthis is the body.\r\n"
QID = r"[0-9A-Z]{16}"


class DsnEnv:
    """A Tern instance: smtpd, cleanup, trivial-rewrite, qmgr, local and,
    as the smtp transport, tests/tools/testagent (or smtp_line)."""

    def __init__(self, tern, main_cf=None, cleanup=True, smtp_line=None):
        cf = {"myorigin": "tern.test", "mydestination": "tern.test, localhost",
              "virtual_mailbox_domains": "hosted.test", "virtual_mailbox_maps": HOSTED,
              "drop_system_mailboxes": "yes", "queue_minfree": "1m", "ipc_timeout": "30s",
              "retry_schedule": "1s", "queue_run_delay": "1s", "destination_backoff_time": "1s",
              "master_backoff_min": "1s", "master_backoff_max": "2s"}
        cf.update(main_cf or {})
        self.t = tern(main_cf=cf)
        self.script = self.t.root / "agent.script"
        self.script.write_text("")
        self.agent_log = self.t.root / "agent.log"
        testagent = self.t.build / "tests" / "tools" / "testagent"
        self.smtp_line = smtp_line or (f"smtp unix - - n - 5 {testagent} -l {self.agent_log} "
                                       f"-s {self.script}")
        self.cleanup = cleanup
        self.write_master()

    def write_master(self):
        lines = [f"127.0.0.1:{self.t.port()} inet n - n - - smtpd",
                 "rewrite unix - - n - - trivial-rewrite",
                 "qmgr unix n - n 300 1 qmgr",
                 "local unix - n n - - local",
                 self.smtp_line]
        if self.cleanup:
            lines.append("cleanup unix - - n - 0 cleanup")
        self.t.write_master_cf("\n".join(lines) + "\n")

    def start(self):
        self.t.start()
        self.t.wait_until(lambda: all((self.t.queue / p).exists() for p in
                                      ("private/rewrite", "private/local", "public/qmgr")),
                          what="internal sockets")
        return self

    def set_script(self, text):
        self.script.write_text(text)

    def send(self, rcpts, sender="alice@hosted.test", mail_opts=(), rcpt_opts=None,
             body=BODY, subject="dsn test", headers=""):
        """Send one message; rcpt_opts: {address: [options]}.  Its queue ID."""
        msg = (f"From: {sender or 'nobody@hosted.test'}\r\nTo: someone\r\n"
               f"Subject: {subject}\r\n{headers}\r\n{body}")
        with smtplib.SMTP("127.0.0.1", self.t.port(), timeout=30) as s:
            s.ehlo("client.test")
            assert s.has_extn("dsn")
            code, text = s.mail(sender, list(mail_opts))
            assert code == 250, text
            for r in rcpts:
                code, text = s.rcpt(r, (rcpt_opts or {}).get(r, []))
                assert code == 250, text
            code, text = s.data(msg.encode())
            assert code == 250, text
        return re.search(QID, text.decode()).group(0)

    def box(self, user):
        return self.t.drop / "hosted.test" / user / "new"

    def reports(self, user, n=1, timeout=30):
        """The first n messages in user's mailbox, parsed (oldest first)."""
        box = self.box(user)

        def files():
            return sorted(box.iterdir(), key=lambda p: p.stat().st_mtime) if box.exists() else []
        self.t.wait_until(lambda: len(files()) >= n, timeout=timeout,
                          what=f"{n} message(s) in {box}")
        return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
                for f in files()[:n]]

    def count(self, user):
        box = self.box(user)
        return len(list(box.iterdir())) if box.exists() else 0

    def where(self, qid):
        return [f for f in ("incoming", "active", "deferred", "hold", "corrupt")
                if (self.t.queue / f / qid).exists()]

    def dump(self, folder, qid):
        p = subprocess.run([str(self.t.build / "tests" / "tools" / "qfdump"),
                            str(self.t.queue / folder / qid)], capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()
        return p.stdout.decode(errors="replace")

    def agent_events(self, kind):
        try:
            text = self.agent_log.read_text()
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.startswith(kind + " ")]


def norm(value):
    return " ".join(str(value).split())


def parse_report(msg):
    """(text, per-message fields, [per-recipient fields], original part)."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts[:2]] == ["text/plain",
                                                         "message/delivery-status"]
    text = norm(parts[0].get_content())
    blocks = parts[1].get_payload()
    fields = [{k: norm(v) for k, v in b.items()} for b in blocks]
    original = parts[2] if len(parts) > 2 else None
    assert len(parts) <= 3
    return text, fields[0], fields[1:], original


def raw(msg, name):
    """A header field's value as written."""
    values = [v for k, v in msg.raw_items() if k.lower() == name.lower()]
    assert len(values) == 1, (name, values)
    return norm(values[0])


def check_header(msg, to, subject):
    assert raw(msg, "From") == "MAILER-DAEMON@tern.test (Mail Delivery System)"
    assert norm(msg["To"]) == to
    assert norm(msg["Subject"]) == subject
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["MIME-Version"] == "1.0"
    assert re.fullmatch(rf"<{QID}@tern\.test>", msg["Message-ID"])
    assert msg["Date"].datetime is not None
    # local's Return-Path: the notification came from the null sender.
    assert msg["Return-Path"] == "<>"
    for line in msg.as_bytes().split(b"\n"):
        assert len(line.rstrip(b"\r")) <= 998


def test_bounce_every_field_ret_full_envid_orcpt(tern):
    env = DsnEnv(tern).start()
    env.set_script(f"nobody@far.test bounce 5.1.1 {UNKNOWN}\n"
                   "carol@far.test bounce 5.7.1 refused by policy\n"
                   "* sent\n")
    qid = env.send(["nobody@far.test", "ok@far.test", "carol@far.test"],
                   mail_opts=["RET=FULL", "ENVID=QQ314159"],
                   rcpt_opts={"nobody@far.test": ["ORCPT=rfc822;Nobody@Far.Test",
                                                  "NOTIFY=FAILURE"]})
    env.t.wait_for_log(rf"{qid}: sender non-delivery notification: {QID}", timeout=30)
    env.t.wait_for_log(rf"{qid}: removed", timeout=30)
    msg, = env.reports("alice")
    check_header(msg, "alice@hosted.test", "Undelivered Mail Returned to Sender")
    text, per_msg, rcpts, original = parse_report(msg)
    assert "<nobody@far.test> (originally <Nobody@Far.Test>): host mx.far.test" in text
    assert "<carol@far.test>: refused by policy" in text
    assert "ok@far.test" not in text
    assert per_msg["Reporting-MTA"] == "dns; tern.test"
    assert per_msg["X-Tern-Queue-ID"] == qid
    assert per_msg["Original-Envelope-Id"] == "QQ314159"
    arrival = email.utils.parsedate_to_datetime(per_msg["Arrival-Date"]).timestamp()
    assert abs(arrival - time.time()) < 60
    assert len(rcpts) == 2, "one report listing both failed recipients"
    nobody, carol = rcpts
    assert nobody["Final-Recipient"] == "rfc822; nobody@far.test"
    assert nobody["Original-Recipient"] == "rfc822; Nobody@Far.Test"
    assert nobody["Action"] == "failed"
    assert nobody["Status"] == "5.1.1"
    assert nobody["Remote-MTA"] == "dns; mx.far.test"
    assert nobody["Diagnostic-Code"] == "smtp; 550 5.1.1 <nobody@far.test>: no such user"
    assert abs(email.utils.parsedate_to_datetime(nobody["Last-Attempt-Date"]).timestamp()
               - time.time()) < 60
    assert "Will-Retry-Until" not in nobody
    assert carol["Final-Recipient"] == "rfc822; carol@far.test"
    assert "Original-Recipient" not in carol and "Remote-MTA" not in carol
    assert (carol["Action"], carol["Status"]) == ("failed", "5.7.1")
    assert carol["Diagnostic-Code"] == "X-Tern; refused by policy"
    # RET=FULL: the whole message comes back.
    assert original.get_content_type() == "message/rfc822"
    inner = original.get_payload()[0]
    assert inner["Subject"] == "dsn test"
    assert inner.get_payload().replace("\r\n", "\n") == BODY.replace("\r\n", "\n")
    assert "Received" in inner
    time.sleep(1)
    assert env.count("alice") == 1, "exactly one report"


def test_ret_hdrs_returns_headers_only(tern):
    env = DsnEnv(tern).start()
    env.set_script(f"nobody@far.test bounce 5.1.1 {UNKNOWN}\n")
    qid = env.send(["nobody@far.test"], mail_opts=["RET=HDRS"])
    msg, = env.reports("alice")
    text, per_msg, rcpts, original = parse_report(msg)
    assert per_msg["X-Tern-Queue-ID"] == qid
    assert "Original-Envelope-Id" not in per_msg
    assert original.get_content_type() == "text/rfc822-headers"
    returned = original.get_content()
    assert "Subject: dsn test" in returned and "this is the body" not in returned
    assert "this is the body" not in msg.as_string()
    assert "The header of your message is attached." in text


def test_large_message_returns_headers(tern):
    env = DsnEnv(tern, {"bounce_size_limit": "2000"}).start()
    env.set_script(f"nobody@far.test bounce 5.1.1 {UNKNOWN}\n")
    env.send(["nobody@far.test"], body="x" * 70 + "\r\n" * 1 + ("y" * 70 + "\r\n") * 100)
    msg, = env.reports("alice")
    text, _, _, original = parse_report(msg)
    assert original.get_content_type() == "text/rfc822-headers"
    assert "larger than 2000 octets" in text
    assert "yyyy" not in msg.as_string()


def test_notify_never_and_failure_only(tern):
    env = DsnEnv(tern).start()
    env.set_script(f"* bounce 5.1.1 {UNKNOWN}\n")
    mark = env.t.log_mark()
    qid = env.send(["a@far.test", "b@far.test"],
                   rcpt_opts={"a@far.test": ["NOTIFY=NEVER"],
                              "b@far.test": ["NOTIFY=SUCCESS,DELAY"]})
    env.t.wait_for_log(rf"{qid}: removed", timeout=30, since=mark)
    time.sleep(1)
    assert "notification" not in env.t.log()[mark:]
    assert env.count("alice") == 0


def test_success_notice_from_local_delivery(tern):
    env = DsnEnv(tern).start()
    qid = env.send(["bob@hosted.test", "alice@hosted.test"], mail_opts=["ENVID=ok-1"],
                   rcpt_opts={"bob@hosted.test": ["NOTIFY=SUCCESS"],
                              "alice@hosted.test": ["NOTIFY=FAILURE"]})
    env.t.wait_for_log(rf"{qid}: sender delivery status notification: {QID}", timeout=30)
    # alice gets her own copy of the message and the report.
    msgs = env.reports("alice", 2)
    report, = [m for m in msgs if m.get_content_type() == "multipart/report"]
    check_header(report, "alice@hosted.test", "Successful Mail Delivery Report")
    text, per_msg, rcpts, original = parse_report(report)
    assert per_msg["Original-Envelope-Id"] == "ok-1"
    bob, = rcpts
    assert bob["Final-Recipient"] == "rfc822; bob@hosted.test"
    assert (bob["Action"], bob["Status"]) == ("delivered", "2.0.0")
    assert bob["Diagnostic-Code"].startswith("X-Tern; ")
    assert original.get_content_type() == "text/rfc822-headers"
    assert env.count("bob") == 1


def test_delay_notice_once_then_expiry_bounce(tern):
    env = DsnEnv(tern, {"delay_warning_time": "2s", "maximal_queue_lifetime": "8s"}).start()
    env.set_script("slow@far.test defer 4.4.1 connect to mx.far.test[192.0.2.1]:25: "
                   "Connection refused\n"
                   "quiet@far.test defer 4.4.1 connect to mx.far.test[192.0.2.1]:25: "
                   "Connection refused\n")
    qid = env.send(["slow@far.test", "quiet@far.test"],
                   rcpt_opts={"quiet@far.test": ["NOTIFY=FAILURE"]})
    env.t.wait_for_log(rf"{qid}: sender delay notification: {QID}", timeout=30)
    delay, = env.reports("alice")
    check_header(delay, "alice@hosted.test", "Delayed Mail (still being retried)")
    text, per_msg, rcpts, original = parse_report(delay)
    assert "WARNING ONLY" in text
    slow, = rcpts  # quiet@ asked for failures only
    assert slow["Final-Recipient"] == "rfc822; slow@far.test"
    assert (slow["Action"], slow["Status"]) == ("delayed", "4.4.1")
    until = email.utils.parsedate_to_datetime(slow["Will-Retry-Until"]).timestamp()
    arrival = email.utils.parsedate_to_datetime(per_msg["Arrival-Date"]).timestamp()
    assert until - arrival == 8
    assert original.get_content_type() == "text/rfc822-headers"
    # Then the lifetime runs out: one bounce for both, no second delay notice.
    env.t.wait_for_log(rf"{qid}: sender non-delivery notification: {QID}", timeout=40)
    env.t.wait_for_log(rf"{qid}: removed", timeout=30)
    msgs = env.reports("alice", 2)
    assert env.count("alice") == 2
    assert len(re.findall(rf"{qid}: sender delay notification", env.t.log())) == 1
    bounce = msgs[1]
    check_header(bounce, "alice@hosted.test", "Undelivered Mail Returned to Sender")
    _, _, rcpts, _ = parse_report(bounce)
    assert sorted(r["Final-Recipient"] for r in rcpts) == ["rfc822; quiet@far.test",
                                                          "rfc822; slow@far.test"]
    for r in rcpts:
        assert (r["Action"], r["Status"]) == ("failed", "5.4.1")
        assert r["Diagnostic-Code"].startswith("X-Tern; message expired after 8s in the queue")


def test_null_sender_gets_nothing(tern):
    env = DsnEnv(tern).start()
    env.set_script(f"* bounce 5.1.1 {UNKNOWN}\n")
    mark = env.t.log_mark()
    qid = env.send(["nobody@far.test"], sender="")
    env.t.wait_for_log(rf"warning: {qid}: moved from active/ to corrupt/: undeliverable "
                       r"notification", timeout=30, since=mark)
    assert env.where(qid) == ["corrupt"]
    time.sleep(1)
    assert "notification:" not in env.t.log()[mark:]
    assert len(env.agent_events("start")) == 1


def test_undeliverable_bounce_goes_to_corrupt(tern):
    env = DsnEnv(tern).start()
    env.set_script(f"* bounce 5.1.1 {UNKNOWN}\n")
    qid = env.send(["nobody@far.test"], sender="ghost@far.test")
    m = env.t.wait_for_log(rf"{qid}: sender non-delivery notification: ({QID})", timeout=30)
    bounce_id = m.group(1)
    env.t.wait_for_log(rf"{qid}: removed", timeout=30)
    env.t.wait_for_log(rf"warning: {bounce_id}: moved from active/ to corrupt/: undeliverable "
                       r"notification", timeout=30)
    assert env.where(bounce_id) == ["corrupt"]
    dump = env.dump("corrupt", bounce_id)
    assert re.search(r"^sender=$", dump, re.M)
    assert "rcpt=ghost@far.test" in dump and "state=2" in dump
    assert "Subject: Undelivered Mail Returned to Sender" in dump
    assert f"X-Tern-Queue-ID: {qid}" in dump


def test_postmaster_copy_with_reply_to(tern):
    env = DsnEnv(tern, {"notify_classes": "bounce",
                        "bounce_notice_recipient": "pm@hosted.test"}).start()
    env.set_script(f"nobody@far.test bounce 5.1.1 {UNKNOWN}\n")
    qid = env.send(["nobody@far.test"], mail_opts=["RET=FULL"])
    env.t.wait_for_log(rf"{qid}: postmaster non-delivery notification: {QID}", timeout=30)
    sender_copy, = env.reports("alice")
    pm, = env.reports("pm")
    check_header(pm, "pm@hosted.test", "Postmaster Copy: Undelivered Mail Returned to Sender")
    assert pm["Reply-To"] == "alice@hosted.test"
    text, per_msg, rcpts, original = parse_report(pm)
    assert per_msg["X-Tern-Queue-ID"] == qid
    assert rcpts[0]["Final-Recipient"] == "rfc822; nobody@far.test"
    # The postmaster sees the header only, the sender the whole message.
    assert original.get_content_type() == "text/rfc822-headers"
    assert parse_report(sender_copy)[3].get_content_type() == "message/rfc822"
    assert "Reply-To" not in sender_copy


def test_bounce_is_owed_until_cleanup_takes_it(tern):
    # Without cleanup the bounce cannot be written: the failed recipient
    # is never delivered again, the message waits, and once cleanup is
    # back the bounce goes out and the message is removed.
    env = DsnEnv(tern, cleanup=False).start()
    env.set_script(f"nobody@far.test bounce 5.1.1 {UNKNOWN}\n")
    # smtpd needs cleanup to take the message: inject it with qinject.
    p = subprocess.run([str(env.t.build / "tests" / "tools" / "qinject"), "-q",
                        str(env.t.queue), "-D", "incoming", "-f", "alice@hosted.test",
                        "-r", "nobody@far.test", "-w"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    qid = p.stdout.split()[0]
    env.t.wait_for_log(rf"warning: {qid}: cannot send the sender non-delivery notification: "
                       r".*; it will be tried again", timeout=30)
    env.t.wait_until(lambda: env.where(qid) == ["deferred"], timeout=30, what="deferred")
    dump = env.dump("deferred", qid)
    assert re.search(r"rcpt=nobody@far.test\t.*state=0", dump), dump
    time.sleep(3)  # several retry times pass
    assert len(env.agent_events("start")) == 1, "a failed recipient is never tried again"
    env.cleanup = True
    env.write_master()
    env.t.reload()
    env.t.wait_for_log(rf"{qid}: sender non-delivery notification: {QID}", timeout=30)
    env.t.wait_for_log(rf"{qid}: removed", timeout=30)
    msg, = env.reports("alice")
    _, per_msg, rcpts, _ = parse_report(msg)
    assert per_msg["X-Tern-Queue-ID"] == qid
    assert rcpts[0]["Status"] == "5.1.1"
    assert len(env.agent_events("start")) == 1


ZONES = {
    "far.example.": [("MX", 10, "mx.far.example.")],
    "mx.far.example.": [("A", "127.0.0.2")],
}


def test_relayed_notice_when_the_next_hop_lacks_dsn(tern, dns_server):
    dns_server.set_zones(ZONES)
    port = free_port()
    smtp_params = dict(FAST)
    smtp_params.update({"dns_servers": dns_server.address, "smtp_tcp_port": str(port)})
    ext = [e for e in DEFAULT_EXT if e != "DSN"]
    with FakeSMTP("127.0.0.2", port, name="mx.far.example", ext=ext) as mx:
        env = DsnEnv(tern, smtp_params, smtp_line="smtp unix - - n - 1 smtp").start()
        qid = env.send(["bob@far.example"], rcpt_opts={"bob@far.example": ["NOTIFY=SUCCESS"]})
        mx.wait_messages(1)
        env.t.wait_for_log(rf"{qid}: sender delivery status notification: {QID}", timeout=30)
        msg, = env.reports("alice")
        check_header(msg, "alice@hosted.test", "Successful Mail Delivery Report")
        text, _, rcpts, _ = parse_report(msg)
        bob, = rcpts
        assert (bob["Action"], bob["Status"]) == ("relayed", "2.0.0")
        assert bob["Remote-MTA"] == "dns; mx.far.example"
        assert bob["Diagnostic-Code"].startswith("smtp; 250 ")
        assert '"relayed"' in text
        assert not any("NOTIFY=" in c for _, c in mx.commands)


def test_no_notice_when_the_next_hop_takes_the_dsn_request(tern, dns_server):
    dns_server.set_zones(ZONES)
    port = free_port()
    smtp_params = dict(FAST)
    smtp_params.update({"dns_servers": dns_server.address, "smtp_tcp_port": str(port)})
    with FakeSMTP("127.0.0.2", port, name="mx.far.example") as mx:
        env = DsnEnv(tern, smtp_params, smtp_line="smtp unix - - n - 1 smtp").start()
        mark = env.t.log_mark()
        qid = env.send(["bob@far.example"], mail_opts=["ENVID=pass-1"],
                       rcpt_opts={"bob@far.example": ["NOTIFY=SUCCESS",
                                                   "ORCPT=rfc822;Bob@Far.Example"]})
        mx.wait_messages(1)
        env.t.wait_for_log(rf"{qid}: removed", timeout=30, since=mark)
        rcpt_cmds = [c for _, c in mx.commands if c.upper().startswith("RCPT")]
        assert "NOTIFY=SUCCESS" in rcpt_cmds[0] and "ORCPT=rfc822;Bob@Far.Example" in rcpt_cmds[0]
        time.sleep(1)
        assert "notification" not in env.t.log()[mark:]
        assert env.count("alice") == 0
