"""smtpd limits, each at its boundary and one past it: message size (DATA,
SIZE=, BDAT), session size, recipients per message, messages per session,
errors per session, sessions per client IP and per listener, deadlines,
the minimum data rate, and stress mode.
"""
import socket
import time

import pytest

from smtpd_util import Client, crlf, queue_files, queued, send_message, smtpd_tern


def content_of_size(n):
    """Message content (CRLF lines, nothing to dot-stuff) of exactly n octets."""
    head = b"Subject: size\r\n\r\n"
    body_len = n - len(head)
    lines, left = [], body_len
    while left > 0:
        take = min(left, 78)
        if take < 2:
            lines[-1] = lines[-1][:-2] + b"z" * take + b"\r\n"
            break
        lines.append(b"y" * (take - 2) + b"\r\n")
        left -= take
    data = head + b"".join(lines)
    assert len(data) == n
    return data


def try_data(c, content, rcpt="root@tern.test"):
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)
    c.expect("DATA", 354)
    c.send(content + b".\r\n")
    return c.reply()


def test_message_size_limit(tern):
    t = smtpd_tern(tern, main_cf={"message_size_limit": "10000"})
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    code, lines = c.cmd("EHLO client.test")
    assert "SIZE 10000" in lines
    # SIZE= at and past the limit.
    c.expect("MAIL FROM:<a@example.org> SIZE=10000", 250)
    c.expect("RSET", 250)
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=10001") == (
        552, ["5.3.4 Message size exceeds fixed limit"])
    # DATA at and past the limit: past it, the data is read to its end,
    # refused, and the session goes on.
    code, lines = try_data(c, content_of_size(10000))
    assert code == 250
    code, lines = try_data(c, content_of_size(10001))
    assert (code, lines) == (552, ["5.3.4 Message size exceeds fixed limit"])
    code, lines = try_data(c, content_of_size(200000))
    assert code == 552
    assert c.cmd("NOOP")[0] == 250
    # BDAT at and past the limit.
    for size, want in ((10000, 250), (10001, 552)):
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<root@tern.test>", 250)
        c.send(b"BDAT %d LAST\r\n" % size + content_of_size(size))
        code, lines = c.reply()
        assert code == want, lines
    assert len(queue_files(t)) == 2
    t.wait_for_log(r"reject: END-OF-MESSAGE from unknown\[127\.0\.0\.1\]: 552 5\.3\.4 "
                   r"Message size exceeds fixed limit; from=<a@example\.org> "
                   r"to=<root@tern\.test> proto=ESMTP helo=<client\.test>")


def test_session_size_limit(tern):
    t = smtpd_tern(tern, main_cf={"smtpd_session_size_limit": "20000"})
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    # ".\r\n" counts too: 9997 + 3 = 10000 octets of data per message.
    assert try_data(c, content_of_size(9997))[0] == 250
    c.expect("MAIL FROM:<a@example.org>", 250)  # 10000 < 20000
    c.expect("RSET", 250)
    assert try_data(c, content_of_size(9997))[0] == 250
    code, lines = c.cmd("MAIL FROM:<a@example.org>")  # 20000: no more
    assert code == 421 and lines[0].startswith("4.7.0 ")
    assert c.closed()


def test_recipient_limit(tern):
    t = smtpd_tern(tern, options=["smtpd_recipient_limit=3"])
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    for r in ("root@tern.test", "alice@tern.test", "bob@tern.test"):
        c.expect(f"RCPT TO:<{r}>", 250)
    for r in ("postmaster@tern.test", "root@localhost"):
        assert c.cmd(f"RCPT TO:<{r}>") == (452, ["4.5.3 Error: too many recipients"])
    c.expect("DATA", 354)
    c.send(crlf("Subject: three\n\nx\n") + b".\r\n")
    assert c.reply()[0] == 250


def test_messages_per_session(tern):
    t = smtpd_tern(tern, options=["smtpd_messages_per_session=2"])
    c = Client(t.port())
    send_message(c, "a@example.org", ["root@tern.test"], crlf("Subject: 1\n\nx\n"))
    send_message(c, "a@example.org", ["root@tern.test"], crlf("Subject: 2\n\nx\n"), ehlo=None)
    code, lines = c.cmd("MAIL FROM:<a@example.org>")
    assert code == 421 and lines[0].startswith("4.7.0 ")
    assert c.closed()
    assert len(queue_files(t)) == 2


def test_hard_error_limit(tern):
    t = smtpd_tern(tern, options=["smtpd_hard_error_limit=3"])
    c = Client(t.port())
    for i in range(3):
        assert c.cmd(f"BAD{i}")[0] == 500
    assert c.cmd("NOOP")[0] == 250  # three errors: at the limit
    c.send("BAD3\r\n")
    assert c.reply()[0] == 500      # the fourth is answered ...
    code, lines = c.reply()         # ... and ends the session
    assert code == 421 and lines[0] == "4.7.0 tern.test Error: too many errors"
    assert c.closed()
    t.wait_for_log(r"too many errors after UNKNOWN from unknown\[127\.0\.0\.1\]$")


def test_hard_error_limit_counts_refused_recipients(tern):
    t = smtpd_tern(tern, options=["smtpd_hard_error_limit=2"])
    c = Client(t.port())
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<nosuchuser1@tern.test>", 550)
    c.expect("RCPT TO:<nosuchuser2@tern.test>", 550)
    c.send("RCPT TO:<nosuchuser3@tern.test>\r\n")
    assert c.reply()[0] == 550
    assert c.reply()[0] == 421
    assert c.closed()


def test_client_connection_limit(tern):
    t = smtpd_tern(tern, options=["smtpd_client_connection_limit=2"])
    first = [Client(t.port()) for _ in range(2)]
    assert all(c.greeting[0] == 220 for c in first)
    third = Client(t.port())
    assert third.greeting[0] == 421
    assert third.greeting[1][0].startswith("4.7.0 ")
    assert third.closed()
    other = Client(t.port(), source="127.0.0.2")   # another client IP
    assert other.greeting[0] == 220
    first[0].expect("QUIT", 221)
    first[0].closed()
    time.sleep(0.2)
    again = Client(t.port())
    assert again.greeting[0] == 220
    t.wait_for_log(r"Connection concurrency limit exceeded: 3 from unknown\[127\.0\.0\.1\]")


def test_connection_limit(tern):
    t = smtpd_tern(tern, options=["smtpd_connection_limit=3"])
    held = [Client(t.port(), source=f"127.0.0.{i + 1}") for i in range(3)]
    assert all(c.greeting[0] == 220 for c in held)
    refused = Client(t.port(), source="127.0.0.9")
    assert refused.greeting[0] == 421
    assert refused.greeting[1][0].startswith("4.3.2 ")
    assert refused.closed()
    held[1].expect("QUIT", 221)
    held[1].closed()
    time.sleep(0.2)
    assert Client(t.port(), source="127.0.0.9").greeting[0] == 220


def test_command_deadline(tern):
    t = smtpd_tern(tern, options=["smtpd_timeout=2s"])
    mark = t.log_mark()
    c = Client(t.port())
    start = time.monotonic()
    # A byte every half second: the line never completes in time.
    closed = False
    for ch in "NOOP and more and more and more":
        try:
            c.send(ch)
        except OSError:
            closed = True
            break
        time.sleep(0.5)
        if time.monotonic() - start > 6:
            break
    assert closed or c.closed(timeout=3)
    assert time.monotonic() - start < 5
    t.wait_for_log(r"timeout after CONNECT from unknown\[127\.0\.0\.1\]", since=mark)


def test_min_data_rate(tern):
    t = smtpd_tern(tern, options=["smtpd_timeout=2s", "smtpd_min_data_rate=1000"])
    mark = t.log_mark()
    c = Client(t.port())
    c.expect("EHLO x", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.expect("DATA", 354)
    start = time.monotonic()
    closed = False
    while time.monotonic() - start < 10:
        try:
            c.send(b"x" * 50 + b"\r\n")   # about 100 octets per second
        except OSError:
            closed = True
            break
        time.sleep(0.5)
        if c.closed(timeout=0.01):
            closed = True
            break
    assert closed
    assert time.monotonic() - start < 8
    t.wait_for_log(r"timeout \(data rate below smtpd_min_data_rate\) after DATA", since=mark)
    assert queue_files(t) == []


def test_fast_data_is_not_cut_off(tern):
    t = smtpd_tern(tern, options=["smtpd_timeout=2s", "smtpd_min_data_rate=1000"])
    c = Client(t.port())
    c.expect("EHLO x", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: slow start\r\n\r\n")
    for _ in range(6):          # 3 s, at 2000 octets per second
        c.send(b"y" * 998 + b"\r\n")
        time.sleep(0.5)
    c.send(b".\r\n")
    assert c.reply()[0] == 250


def test_stress_mode(tern):
    t = smtpd_tern(tern, options=["smtpd_connection_limit=5", "smtpd_stress_threshold=60",
                                  "smtpd_stress_timeout=1s", "smtpd_timeout=60s"])
    mark = t.log_mark()
    held = [Client(t.port(), source=f"127.0.0.{i + 1}") for i in range(3)]
    for c in held:
        c.expect("NOOP", 250)
    # 3 of 5 is 60%: not more than the threshold.
    quiet = Client(t.port(), source="127.0.1.1")   # the 4th: 80% > 60%
    t.wait_for_log(r"stress mode on: 4 of 5 sessions in use; timeout 1s", since=mark)
    start = time.monotonic()
    assert quiet.closed(timeout=5)
    assert time.monotonic() - start < 4
    for c in held:
        c.close()
    t.wait_for_log(r"stress mode off", since=mark)
