"""smtpd: the protocol as a client sees it -- greeting, every EHLO
extension, each command's reply, sequencing, pipelining, the queue file
that a committed message leaves (read back with tests/tools/qfdump), and
the log lines.
"""
import os
import pwd
import re
import smtplib
import time

import pytest

from conftest import proc_status
from smtpd_util import (SIMPLE, Client, body_of, crlf, header_lines, queue_files, queue_id_of,
                        queued, send_message, smtpd_pids, smtpd_tern, wait_ready)


@pytest.fixture
def t(tern):
    return smtpd_tern(tern)


def test_greeting_and_ehlo_extensions(t):
    c = Client(t.port())
    assert c.greeting == (220, ["tern.test ESMTP"])
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    assert lines[0] == "tern.test"
    assert lines[1:] == ["PIPELINING", "SIZE 10240000", "ETRN", "ENHANCEDSTATUSCODES",
                         "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]
    # No certificate: no STARTTLS; AUTH is not offered yet.
    assert not any(line.startswith(("STARTTLS", "AUTH")) for line in lines)
    assert c.cmd("HELO client.test") == (250, ["tern.test"])


def test_banner_and_size_follow_the_configuration(tern):
    t = smtpd_tern(tern, main_cf={"smtpd_banner": "$myhostname ESMTP ready",
                                  "message_size_limit": "0"})
    c = Client(t.port())
    assert c.greeting == (220, ["tern.test ESMTP ready"])
    code, lines = c.cmd("EHLO x")
    assert "SIZE" in lines and not any(line.startswith("SIZE ") for line in lines)


def test_commands_and_their_replies(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert c.cmd("NOOP anything") == (250, ["2.0.0 Ok"])
    assert c.cmd("RSET") == (250, ["2.0.0 Ok"])
    code, lines = c.cmd("VRFY root")
    assert code == 252 and lines[0].startswith("2.0.0 ")
    assert c.cmd("EXPN staff")[0] == 502
    assert c.cmd("EXPN staff")[1][0].startswith("5.5.1 ")
    assert c.cmd("TURN")[0] == 502
    assert c.cmd("ATRN")[0] == 502
    code, lines = c.cmd("HELP")
    assert code == 214 and lines[0].startswith("2.0.0 ")
    assert c.cmd("AUTH PLAIN AGZvbwBiYXI=") == (503, ["5.5.1 Error: authentication not enabled"])
    code, lines = c.cmd("ETRN example.com")
    assert code == 458 and lines[0].startswith("4.3.0 ")
    assert c.cmd("ETRN bad/domain")[0] == 501
    assert c.cmd("STARTTLS")[0] == 502
    assert c.cmd("FOO bar") == (500, ["5.5.2 Error: command not recognized"])
    assert c.cmd("QUIT") == (221, ["2.0.0 Bye"])
    assert c.closed()


def test_out_of_sequence_commands(t):
    c = Client(t.port())
    assert c.cmd("RCPT TO:<root@tern.test>") == (503, ["5.5.1 Error: need MAIL command"])
    assert c.cmd("DATA") == (503, ["5.5.1 Error: need MAIL command"])
    assert c.cmd("ETRN example.com")[0] == 503
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    assert c.cmd("MAIL FROM:<a@example.org>") == (503, ["5.5.1 Error: nested MAIL command"])
    assert c.cmd("DATA") == (503, ["5.5.1 Error: need RCPT command"])
    c.expect("RCPT TO:<nosuchuser@tern.test>", 550)
    assert c.cmd("DATA") == (554, ["5.5.1 Error: no valid recipients"])
    # RSET ends the transaction.
    c.expect("RSET", 250)
    assert c.cmd("RCPT TO:<root@tern.test>")[0] == 503
    # HELO/EHLO ends it too.
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("EHLO again.test", 250)
    assert c.cmd("RCPT TO:<root@tern.test>")[0] == 503


def test_helo_required(tern):
    t = smtpd_tern(tern, options=["smtpd_helo_required=yes"])
    c = Client(t.port())
    assert c.cmd("MAIL FROM:<a@example.org>") == (503, ["5.5.1 Error: send HELO/EHLO first"])
    c.expect("HELO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)


def test_mail_without_helo_is_allowed_by_default(t):
    c = Client(t.port())
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE, ehlo=None)
    env, _, _ = queued(t, qid)
    assert env["helo"] == "" and env["protocol"] == "SMTP"


def test_committed_message_is_exact(t):
    body = "".join(f"line {i} " + "x" * (i % 120) + "\n" for i in range(2000))
    body += ".leading dot\n..two dots\n.\n"
    content = crlf("From: a@example.org\nTo: root@tern.test\nSubject: exact\n\n" + body)
    c = Client(t.port())
    qid = send_message(c, "a@example.org", ["root@tern.test"], content)
    env, rcpts, stored = queued(t, qid)
    assert env["sender"] == "a@example.org"
    assert env["helo"] == "client.test"
    assert env["client_addr"] == "127.0.0.1"
    assert env["protocol"] == "ESMTP"
    assert [r["address"] for r in rcpts] == ["root@tern.test"]
    head = header_lines(stored)
    assert head[0].startswith("Received: from client.test (unknown [127.0.0.1])")
    assert f"id {qid}" in "\n".join(head[:4])
    assert body_of(stored) == body.encode()
    # smtplib's view of the same.
    with smtplib.SMTP("127.0.0.1", t.port(), timeout=15) as s:
        s.ehlo("lib.test")
        s.sendmail("b@example.org", ["alice@tern.test"], content)


def test_envelope_parameters_are_recorded(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org> BODY=8BITMIME RET=HDRS ENVID=abc+2Bdef SIZE=1000", 250)
    c.expect("RCPT TO:<root@tern.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Root+40tern.test", 250)
    c.expect("RCPT TO:<bob@tern.test> NOTIFY=NEVER", 250)
    c.expect("DATA", 354)
    c.send(SIMPLE + b".\r\n")
    code, lines = c.reply()
    assert code == 250
    env, rcpts, _ = queued(t, queue_id_of(lines[0]))
    assert env["envid"] == "abc+def"
    assert env["ret"] != "0"
    assert int(env["flags"]) & 1  # 8BITMIME
    by_orcpt = {r.get("orcpt", ""): r for r in rcpts}
    assert "rfc822;Root@tern.test" in by_orcpt, rcpts
    assert by_orcpt["rfc822;Root@tern.test"]["notify"] not in ("", "0")


def test_smtputf8(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    assert c.cmd("MAIL FROM:<j\u00f6rg@example.org>")[0] == 553
    c.expect("MAIL FROM:<j\u00f6rg@example.org> SMTPUTF8", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.expect("DATA", 354)
    c.send(crlf("Subject: utf8\n\nbody\n") + b".\r\n")
    code, lines = c.reply()
    assert code == 250
    env, _, _ = queued(t, queue_id_of(lines[0]))
    assert env["sender"] == "j\u00f6rg@example.org"
    assert int(env["flags"]) & 2  # SMTPUTF8


def test_null_sender_and_source_route(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<>", 250)
    c.expect("RCPT TO:<@relay.example,@other.example:root@tern.test>", 250)
    c.expect("DATA", 354)
    c.send(SIMPLE + b".\r\n")
    code, lines = c.reply()
    assert code == 250
    env, rcpts, _ = queued(t, queue_id_of(lines[0]))
    assert env["sender"] == ""
    assert rcpts[0]["address"] == "root@tern.test"


def test_pipelined_transactions(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    batch = b""
    for i in range(5):
        batch += (f"MAIL FROM:<s{i}@example.org>\r\nRCPT TO:<root@tern.test>\r\n"
                  f"RCPT TO:<nosuchuser{i}@tern.test>\r\nDATA\r\n").encode()
        batch += crlf(f"Subject: message {i}\n\nbody {i}\n") + b".\r\n"
    batch += b"NOOP\r\nQUIT\r\n"
    c.send(batch)
    ids = []
    for i in range(5):
        assert c.reply()[0] == 250
        assert c.reply()[0] == 250
        assert c.reply()[0] == 550
        assert c.reply()[0] == 354
        code, lines = c.reply()
        assert code == 250
        ids.append(queue_id_of(lines[0]))
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    assert len(set(ids)) == 5
    for i, qid in enumerate(ids):
        env, _, content = queued(t, qid)
        assert env["sender"] == f"s{i}@example.org"
        assert body_of(content) == f"body {i}\n".encode()


def test_log_lines(t):
    mark = t.log_mark()
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<nosuchuser@tern.test>", 550)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.expect("DATA", 354)
    c.send(SIMPLE + b".\r\n")
    code, lines = c.reply()
    qid = queue_id_of(lines[0])
    c.cmd("BOGUS")
    c.expect("QUIT", 221)
    t.wait_for_log(r"tern/smtpd\[\d+\]: connect from unknown\[127\.0\.0\.1\]$", since=mark)
    t.wait_for_log(rf"tern/smtpd\[\d+\]: {qid}: client=unknown\[127\.0\.0\.1\]$", since=mark)
    t.wait_for_log(
        r"tern/smtpd\[\d+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.1 "
        r"<nosuchuser@tern\.test>: Recipient address rejected: User unknown in local recipient "
        r"table; from=<a@example\.org> to=<nosuchuser@tern\.test> proto=ESMTP helo=<client\.test>$",
        since=mark)
    t.wait_for_log(
        r"tern/smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1/2 "
        r"data=1 quit=1 unknown=0/1 commands=5/7$", since=mark)


def test_protocol_log(tern, tmp_path):
    path = tmp_path / "smtp-protocol.log"
    t = smtpd_tern(tern, options=[f"smtpd_protocol_log={path}"])
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("AUTH PLAIN c2VjcmV0", 503)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("QUIT", 221)
    c.closed()
    time.sleep(0.2)
    text = path.read_bytes().decode()
    assert text.startswith("#Software: Tern smtpd\r\n")
    assert "#Fields: date time c-ip cs-username s-sitename s-computername cs-method " \
        "cs-uri-query sc-status\r\n" in text
    assert re.search(r"^\S+ \S+ 127\.0\.0\.1 client\.test \S+ tern\.test MAIL "
                     r"FROM:<a@example\.org> 250\r$", text, re.M), text
    assert "c2VjcmV0" not in text and "PLAIN+***" in text


def test_session_survives_a_client_that_vanishes(t):
    for _ in range(3):
        c = Client(t.port())
        c.send("EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root@tern.test>\r\nDATA\r\n"
               "Subject: half\r\n\r\nsome")
        c.close()
    c = Client(t.port())
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    queued(t, qid)
    time.sleep(0.3)
    assert queue_files(t) == [f"incoming/{qid}"]


def test_stop_closes_sessions_with_421(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    start = time.monotonic()
    t.stop()
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.3.2 tern.test Service shutting down")
    assert c.closed()
    assert time.monotonic() - start < 10


def test_reload_lets_sessions_finish(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    old = smtpd_pids(t)
    t.reload()
    time.sleep(0.5)
    # The old process still serves the session; a new one takes new clients.
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE, ehlo=None)
    queued(t, qid)
    d = Client(t.port())
    d.expect("EHLO client.test", 250)
    assert set(smtpd_pids(t)) - set(old)
    c.expect("QUIT", 221)
    c.closed()
    t.wait_until(lambda: not set(old) & set(smtpd_pids(t)), what="the old smtpd to exit")


@pytest.mark.root
def test_root_mode_privileges_and_chroot(tern):
    t = smtpd_tern(tern, main_cf={"unprivileged_mode": "no"}, start=False)
    port = t.port()
    t.write_master_cf(f"127.0.0.1:{port} inet n y y - - smtpd\n"
                      "cleanup unix - y y - 0 cleanup\n"
                      "rewrite unix - y n - - trivial-rewrite\n")
    t.run("setup", check=True)
    t.start()
    wait_ready(t)
    c = Client(port)
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    queued(t, qid)
    pid = smtpd_pids(t)[0]
    status = proc_status(pid)
    tern_uid = pwd.getpwnam("tern").pw_uid
    assert [int(x) for x in status["Uid"].split()] == [tern_uid] * 4
    if "not chrooting" not in t.log():  # sanitizer builds skip the chroot
        assert os.readlink(f"/proc/{pid}/root") == str(t.queue.resolve())
