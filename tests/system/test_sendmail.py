"""sendmail, mailq, newaliases and postdrop: the real binaries against a
running Tern (master, pickup, cleanup).  A message counts as submitted
when pickup has handed it to cleanup and cleanup committed it into
incoming/, where lib's reader (qfdump) reads it back.  The submission
while the master is down goes on to the Drop (qmgr and local too);
test_sendmail_delivery.py follows the other options to the Drop.
"""
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from submit_fixture import (EX_DATAERR, EX_IOERR, EX_NOUSER, EX_OK, EX_TEMPFAIL,
                            EX_UNAVAILABLE, EX_USAGE, SUBMIT_MASTER_CF, body_of, delivered,
                            full_tern, header, incoming, maildrop, no_temporaries, picked_up,
                            queued, rcpt_addresses, run, sendmail, start_and_wait, submit_tern,
                            submitted)
from test_local import ME

MESSAGE = b"Subject: hello\n\nfirst line\n.\nafter the dot\n"


# ---- recipients, the lone dot, line ends ----

def test_recipients_from_arguments_and_the_lone_dot(tern):
    t = submit_tern(tern)
    env, rcpts, content = submitted(t, "bob@example.com", "carol@example.org, Dave <d@x.example>",
                                    input=MESSAGE)
    assert rcpt_addresses(rcpts) == ["bob@example.com", "carol@example.org", "d@x.example"]
    assert env["sender"] == "root@tern.test"  # the login name, qualified by cleanup
    assert int(env["flags"]) & 0x04  # local submission
    assert int(env["flags"]) & 0x08 == 0  # not -t
    assert env["uid"] == str(os.getuid())
    assert body_of(content) == b"first line\n"  # "." alone ended the message
    assert "from userid 0" in header(content, "Received")[0]
    assert no_temporaries(t) and maildrop(t) == []


@pytest.mark.parametrize("flag", ["-i", "-oi"])
def test_ignore_dots(tern, flag):
    t = submit_tern(tern)
    _, _, content = submitted(t, flag, "bob@example.com", input=MESSAGE)
    assert body_of(content) == b"first line\n.\nafter the dot\n"


def test_line_ends_and_bare_cr(tern):
    t = submit_tern(tern)
    text = b"Subject: crlf\r\n\r\none\r\ntwo\rthree\n.\r\nnot sent\r\n"
    _, _, content = submitted(t, "bob@example.com", input=text)
    # CRLF becomes LF, a CR alone a space; ".\r\n" is a lone dot too
    assert body_of(content) == b"one\ntwo three\n"
    assert b"\r" not in content


def test_dot_at_end_without_newline_and_empty_message(tern):
    t = submit_tern(tern)
    _, _, content = submitted(t, "bob@example.com", input=b"Subject: a\n\nbody\n.")
    assert body_of(content) == b"body\n"
    _, rcpts, content = submitted(t, "bob@example.com", input=b"")
    assert rcpt_addresses(rcpts) == ["bob@example.com"]
    assert header(content, "From") == ["root@tern.test"]


def test_t_takes_recipients_from_the_header_and_removes_bcc(tern):
    t = submit_tern(tern)
    text = (b"From: Me <me@example.com>\nTo: a@example.com, B <b@example.com>\n"
            b"Cc: c@example.com\nBcc: secret@example.com\nSubject: t\n\nbody\n")
    env, rcpts, content = submitted(t, "-t", "-i", input=text)
    assert rcpt_addresses(rcpts) == ["a@example.com", "b@example.com", "c@example.com",
                                     "secret@example.com"]
    assert int(env["flags"]) & 0x08  # recipients from the header
    assert header(content, "Bcc") == []
    assert header(content, "To") == ["a@example.com, B <b@example.com>"]
    # with arguments too: both (and no duplicates)
    env, rcpts, _ = submitted(t, "-t", "x@example.com", "a@example.com", input=text)
    assert rcpt_addresses(rcpts) == ["a@example.com", "b@example.com", "c@example.com",
                                     "secret@example.com", "x@example.com"]


def test_t_resent_fields_win(tern):
    t = submit_tern(tern)
    text = (b"To: old@example.com\nResent-To: new@example.com\nResent-Bcc: hidden@example.com\n"
            b"Subject: again\n\nbody\n")
    _, rcpts, content = submitted(t, "-t", input=text)
    assert rcpt_addresses(rcpts) == ["hidden@example.com", "new@example.com"]
    assert header(content, "Resent-Bcc") == []


def test_no_recipients_is_a_usage_error(tern):
    t = submit_tern(tern)
    r = sendmail(t, input=MESSAGE)
    assert r.returncode == EX_USAGE
    assert b"Recipient names must be specified" in r.stderr
    r = sendmail(t, "-t", input=b"Subject: nobody\n\nbody\n")
    assert r.returncode == EX_USAGE
    assert b"No recipient addresses found in message header" in r.stderr
    assert maildrop(t) == [] and incoming(t) == []


# ---- the envelope options ----

def test_f_and_F_make_sender_and_from(tern):
    t = submit_tern(tern)
    env, _, content = submitted(t, "-f", "alice@example.com", "-F", "Alice Example",
                                "bob@example.com", input=b"Subject: s\n\nbody\n")
    assert env["sender"] == "alice@example.com"
    assert header(content, "From") == ["Alice Example <alice@example.com>"]
    # an existing From: is left alone; -r is -f
    env, _, content = submitted(t, "-r", "<carol@example.org>", "-F", "Not Used",
                                "bob@example.com", input=b"From: Real <r@example.net>\n\nx\n")
    assert env["sender"] == "carol@example.org"
    assert header(content, "From") == ["Real <r@example.net>"]
    # a login name is qualified with myorigin for -F
    env, _, content = submitted(t, "-F", "The Admin", "bob@example.com", input=b"\nx\n")
    assert header(content, "From") == ["The Admin <root@tern.test>"]


def test_null_sender(tern):
    t = submit_tern(tern)
    env, _, _ = submitted(t, "-f", "<>", "bob@example.com", input=b"Subject: n\n\nx\n")
    assert env["sender"] == ""


def test_dsn_options_N_R_V_and_B(tern):
    t = submit_tern(tern)
    env, rcpts, _ = submitted(t, "-N", "success,delay", "-R", "hdrs", "-V", "env-42",
                              "-B", "8BITMIME", "bob@example.com", input=b"Subject: d\n\nx\n")
    assert env["envid"] == "env-42"
    assert env["ret"] == "2"  # HDRS
    assert int(env["flags"]) & 0x01  # 8BITMIME
    assert rcpts[0]["notify"] == str(0x01 | 0x04)  # SUCCESS | DELAY
    env, rcpts, _ = submitted(t, "-N", "never", "-R", "full", "bob@example.com", input=b"\nx\n")
    assert env["ret"] == "1" and rcpts[0]["notify"] == str(0x08)


def test_utf8_address_sets_smtputf8(tern):
    t = submit_tern(tern)
    env, rcpts, _ = submitted(t, "j\u00f6rg@example.com", input=b"Subject: u\n\nx\n")
    assert int(env["flags"]) & 0x02
    assert rcpts[0]["address"] == "j\u00f6rg@example.com"


@pytest.mark.parametrize("args, code", [
    (["-N", "sometimes", "b@example.com"], EX_USAGE),
    (["-R", "all", "b@example.com"], EX_USAGE),
    (["-V", "bad id", "b@example.com"], EX_USAGE),
    (["-B", "BINARY", "b@example.com"], EX_USAGE),
    (["-bd"], EX_USAGE),
    (["-bz"], EX_USAGE),
    (["-k", "b@example.com"], EX_USAGE),
    (["user@"], EX_DATAERR),
    (["bob@example..com"], EX_DATAERR),
    (["-f", "bad address@", "b@example.com"], EX_DATAERR),
])
def test_refusals_and_their_exit_codes(tern, args, code):
    t = submit_tern(tern)
    r = sendmail(t, *args, input=MESSAGE)
    assert r.returncode == code, r.stderr
    assert r.stderr.strip(), "a refusal says why"
    assert maildrop(t) == []


def test_historic_options_are_ignored_with_a_warning(tern):
    t = submit_tern(tern)
    r = sendmail(t, "-oem", "-odb", "-U", "-G", "-L", "label", "-h", "10", "-X", "/tmp/x",
                 "-m", "-n", "-Ac", "-bm", "bob@example.com", input=MESSAGE)
    assert r.returncode == EX_OK, r.stderr
    err = r.stderr.decode()
    for opt in ("-oem", "-odb", "-U", "-G", "-Llabel", "-h10", "-X/tmp/x", "-m", "-n", "-Ac"):
        assert f"warning: {opt} ignored" in err, (opt, err)
    picked_up(t)


def test_message_size_limit(tern):
    t = submit_tern(tern, main_cf={"message_size_limit": "4000"})
    big = b"Subject: big\n\n" + b"x" * 70 + b"\n"
    r = sendmail(t, "bob@example.com", input=big * 100)
    assert r.returncode == EX_DATAERR
    assert b"message too large" in r.stderr
    time.sleep(0.5)
    assert maildrop(t) == [] and incoming(t) == []
    r = sendmail(t, "bob@example.com", input=big * 10)
    assert r.returncode == EX_OK


def test_header_size_limit(tern):
    t = submit_tern(tern, main_cf={"header_size_limit": "2048"})
    r = sendmail(t, "bob@example.com", input=b"X-Long: " + b"y" * 3000 + b"\n\nbody\n")
    assert r.returncode == EX_DATAERR
    assert b"header too big" in r.stderr
    assert maildrop(t) == []


def test_unreadable_input(tern):
    t = submit_tern(tern)
    fd = os.open(str(t.root), os.O_RDONLY)  # read(2) of a directory fails
    try:
        p = subprocess.run([str(t.bin / "sendmail"), "-C", str(t.etc), "bob@example.com"],
                           stdin=fd, capture_output=True, timeout=30)
    finally:
        os.close(fd)
    assert p.returncode == EX_IOERR
    assert b"error reading standard input" in p.stderr
    assert maildrop(t) == [] and no_temporaries(t)


def test_config_directory_from_the_environment(tern):
    t = submit_tern(tern)
    mark = t.log_mark()
    r = run(t, "sendmail", "bob@example.com", input=MESSAGE, confdir=False,
            env={"TERN_CONFIG_DIR": str(t.etc)})
    assert r.returncode == EX_OK, r.stderr
    picked_up(t, since=mark)


# ---- while the mail system is down ----

def test_submission_waits_in_maildrop_while_master_is_down(tern):
    """Submitted while the master is stopped, delivered into the Drop
    once it starts: the whole path, qmgr and local included."""
    t = full_tern(tern, start=False)
    t.run("setup", check=True)  # unprivileged mode: the queue tree only
    r = sendmail(t, f"{ME}@tern.test", "alice@hosted.test",
                 input=b"Subject: later\n\nbody\n")
    assert r.returncode == EX_OK, r.stderr
    waiting = maildrop(t)
    assert len(waiting) == 1 and not waiting[0].startswith("tmp.")
    assert incoming(t) == []
    assert not (t.drop / ME).exists() and not (t.drop / "hosted.test").exists()
    mark = t.log_mark()
    start_and_wait(t)
    qid = picked_up(t, since=mark)
    uid = os.getuid()
    assert t.wait_for_log(rf"{qid}: uid={uid} from=<{ME}> \(maildrop {waiting[0]}\)")
    for box in (t.drop / ME, t.drop / "hosted.test" / "alice"):
        [f] = delivered(box)
        assert f.name.split(".")[1].startswith(f"Q{qid}R")  # this queue file's delivery
        text = f.read_bytes()
        assert header(text, "Return-Path") == [f"<{ME}@tern.test>"]
        assert header(text, "Subject") == ["later"]
        assert f"from userid {uid}" in header(text, "Received")[0]
        assert body_of(text) == b"body\n"
    t.wait_for_log(rf"{qid}: removed", since=mark)
    assert maildrop(t) == [] and incoming(t) == []


# ---- postdrop's input ----

def frame(*pairs):
    body = b""
    for name, value in pairs:
        value = value if isinstance(value, bytes) else value.encode()
        body += bytes([len(name)]) + name.encode() + struct.pack(">I", len(value)) + value
    return struct.pack(">I", len(body)) + body


def test_postdrop_refuses_bad_input_and_leaves_nothing(tern):
    t = submit_tern(tern)
    good_open = frame(("request", "open"), ("sender", "a@example.com"))
    rcpt = frame(("request", "rcpt"), ("address", "b@example.com"))
    data = frame(("request", "data"), ("data", "Subject: x\n\nbody\n"))
    cases = [
        good_open + rcpt + data,  # no end: truncated input
        frame(("request", "rcpt"), ("address", "b@example.com")),  # not open first
        frame(("request", "open"), ("sender", "bad@")) + rcpt + data + frame(("request", "end")),
        good_open + frame(("request", "rcpt"), ("address", "x\ty@example.com")),
        good_open + frame(("request", "rcpt"), ("address", "b@example.com"),
                          ("notify", "maybe")),
        good_open + frame(("request", "data"), ("data", "x")),  # no recipient
        good_open + rcpt + frame(("request", "bogus")),
        good_open + frame(("request", "rcpt"), ("address", "j\u00f6rg@example.com")),  # no smtputf8
        frame(("request", "open"), ("sender", "a@example.com"), ("flags", "remote")),
        good_open + rcpt + data + frame(("request", "abort")),
        b"\xff\xff\xff\xff",
    ]
    for case in cases:
        r = run(t, "postdrop", input=case)
        assert r.returncode in (EX_DATAERR, EX_USAGE), (case, r.returncode, r.stderr)
        assert r.stdout == b""
    assert maildrop(t) == [] and no_temporaries(t)
    r = run(t, "postdrop", input=good_open + rcpt + data + frame(("request", "end")))
    assert r.returncode == EX_OK, r.stderr
    assert len(r.stdout.strip()) == 16


# ---- -bs ----

def smtp_session(t, lines, **kw):
    text = "".join(line + "\r\n" for line in lines).encode()
    r = sendmail(t, "-bs", input=text, **kw)
    return r, r.stdout.decode().split("\r\n")


def test_bs_session(tern):
    t = submit_tern(tern)
    mark = t.log_mark()
    r, replies = smtp_session(t, [
        "EHLO client.example",
        "MAIL FROM:<alice@example.com> BODY=8BITMIME RET=HDRS ENVID=e1",
        "RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE",
        "RCPT TO:<postmaster>",
        "DATA",
        "Subject: via -bs",
        "",
        "..leading dot",
        "body",
        ".",
        "NOOP",
        "QUIT",
    ])
    assert r.returncode == EX_OK
    assert replies[0] == "220 tern.test ESMTP"
    assert "250-PIPELINING" in replies and "250-ENHANCEDSTATUSCODES" in replies
    assert "250-SIZE 10240000" in replies and "250 SMTPUTF8" in replies
    assert "250-STARTTLS" not in replies
    assert replies.count("250 2.1.5 Ok") == 2
    assert "354 End data with <CR><LF>.<CR><LF>" in replies
    queued_line = [x for x in replies if x.startswith("250 2.0.0 Ok: queued as ")]
    assert len(queued_line) == 1
    assert replies[-2] == "221 2.0.0 Bye"
    assert all("\n" not in x and "\r" not in x for x in replies)
    qid = picked_up(t, since=mark)
    t.wait_until(lambda: (t.queue / "incoming" / qid).exists(), what="committed")
    env, rcpts, content = queued(t, qid)
    assert env["sender"] == "alice@example.com" and env["envid"] == "e1"
    assert env["ret"] == "2" and int(env["flags"]) & 0x01
    assert rcpt_addresses(rcpts) == ["bob@example.com", "postmaster@tern.test"]
    assert body_of(content) == b".leading dot\nbody\n"


def test_bs_errors(tern):
    t = submit_tern(tern, main_cf={"smtpd_recipient_limit": "2"})
    r, replies = smtp_session(t, [
        "HELO c",
        "RCPT TO:<b@example.com>",
        "DATA",
        "MAIL FROM:<a@example.com>",
        "MAIL FROM:<a@example.com>",
        "RCPT TO:<bad address>",
        "RCPT TO:<b1@example.com>",
        "RCPT TO:<b2@example.com>",
        "RCPT TO:<b3@example.com>",
        "STARTTLS",
        "BOGUS",
        "VRFY root",
        "X" * 3000,
        "QUIT",
    ])
    assert r.returncode == EX_OK
    assert replies[1] == "250 tern.test"
    assert replies[2].startswith("503 5.5.1")  # RCPT before MAIL
    assert replies[3].startswith("503 5.5.1")  # DATA before MAIL
    assert replies[4] == "250 2.1.0 Ok"
    assert replies[5].startswith("503 5.5.1")  # nested MAIL
    assert replies[6].startswith("501 5.1.3")
    assert replies[7:9] == ["250 2.1.5 Ok", "250 2.1.5 Ok"]
    assert replies[9].startswith("452 4.5.3")
    assert replies[10].startswith("502 5.5.1")
    assert replies[11].startswith("500 5.5.")
    assert replies[12].startswith("252 ")
    assert replies[13].startswith("500 5.5.2")
    assert replies[14] == "221 2.0.0 Bye"


def test_bs_refuses_bare_lf_in_data(tern):
    t = submit_tern(tern)
    text = (b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
            b"Subject: smuggle\r\n\r\nbody\n.\r\nMAIL FROM:<evil@example.com>\r\n.\r\nQUIT\r\n")
    r = sendmail(t, "-bs", input=text)
    replies = r.stdout.decode().split("\r\n")
    assert replies[4].startswith("554 5.5.2"), replies  # refused, nothing queued
    assert replies[5] == "221 2.0.0 Bye"
    time.sleep(1)
    assert maildrop(t) == [] and incoming(t) == []


def test_bs_message_size_limit(tern):
    t = submit_tern(tern, main_cf={"message_size_limit": "1000"})
    r, replies = smtp_session(t, [
        "EHLO c", "MAIL FROM:<a@example.com> SIZE=5000",
        "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA",
        *(["x" * 60] * 40), ".", "QUIT"])
    assert "250-SIZE 1000" in replies
    assert "552 5.3.4 Message size exceeds fixed limit" in replies
    assert any(x.startswith("552 5.3.4") for x in replies[replies.index("354 End data with "
                                                                          "<CR><LF>.<CR><LF>"):])
    assert incoming(t) == [] and maildrop(t) == []


# ---- -bp, mailq ----

def test_mailq(tern):
    t = submit_tern(tern)
    r = run(t, "mailq")
    assert r.returncode == EX_OK and r.stdout == b"Mail queue is empty\n"
    submitted(t, "-f", "alice@example.com", "bob@example.com", "carol@example.org",
              input=b"Subject: q\n\nbody\n")
    t.stop()
    r = sendmail(t, "dave@example.net", input=b"Subject: waiting\n\nx\n")  # stays in maildrop
    assert r.returncode == EX_OK
    r = run(t, "mailq")
    assert r.returncode == EX_OK, r.stderr
    out = r.stdout.decode()
    lines = out.splitlines()
    assert lines[0].startswith("-Queue ID-")
    assert any(x.endswith("  alice@example.com") for x in lines)
    assert any(x.strip() == "bob@example.com" for x in lines)
    assert any(x.strip() == "carol@example.org" for x in lines)
    assert any(x and "#" in x.split()[0] and x.endswith("  root") for x in lines)  # maildrop/
    assert lines[-1] == "-- 1 Kbytes in 2 Requests."
    assert run(t, "sendmail", "-bp").stdout == r.stdout


# ---- -bi, newaliases, and -bv ----

def test_newaliases_and_verify(tern, tmp_path):
    aliases = tmp_path / "aliases"
    aliases.write_text("# aliases\nsupport: bob, carol@example.org\nabuse: postmaster\n")
    t = submit_tern(tern, main_cf={"alias_maps": f"cdb:{aliases}"},
                    master_cf=SUBMIT_MASTER_CF + "rewrite unix - - n - - trivial-rewrite\n",
                    start=False)
    r = run(t, "newaliases")
    assert r.returncode == EX_OK, r.stderr
    assert f"{aliases}: 2 aliases" in r.stdout.decode()
    assert (tmp_path / "aliases.cdb").exists()
    start_and_wait(t)
    t.wait_until(lambda: (t.queue / "private" / "rewrite").exists(), what="private/rewrite")
    r = run(t, "sendmail", "-bv", "support@tern.test", "nosuchuser@tern.test",
            "someone@example.com")
    out = r.stdout.decode()
    assert "support@tern.test... deliverable: support@tern.test (local)" in out
    assert "nosuchuser@tern.test... undeliverable" in out
    assert "someone@example.com... deliverable" in out and "(remote)" in out
    assert r.returncode == EX_NOUSER
    # a new alias is known after newaliases (trivial-rewrite sees the new table)
    aliases.write_text("support: bob\nsales: carol\n")
    assert run(t, "sendmail", "-bi").returncode == EX_OK
    t.wait_until(lambda: b"deliverable: sales@tern.test" in
                 run(t, "sendmail", "-bv", "sales@tern.test").stdout, timeout=30,
                 what="the new alias")
    # bad source line: an error and a status, the old table kept
    aliases.write_text("this line is not an alias\n")
    r = run(t, "newaliases")
    assert r.returncode == EX_DATAERR


def test_verify_without_the_rewrite_service(tern):
    t = submit_tern(tern)
    r = run(t, "sendmail", "-bv", "root@tern.test", "x@example.com")
    out = r.stdout.decode()
    assert "root@tern.test... deliverable" in out and "(local)" in out
    assert "x@example.com... deliverable" in out
    assert r.returncode == EX_OK
    assert run(t, "sendmail", "-bv").returncode == EX_USAGE


# ---- -q ----

class FakeQmgr(threading.Thread):
    """public/qmgr answering each frame with status=ok, recording requests."""

    def __init__(self, path, reply=b"ok"):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.requests = []
        self.reply = reply

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                n = struct.unpack(">I", c.recv(4, socket.MSG_WAITALL))[0]
                body = c.recv(n, socket.MSG_WAITALL)
                attrs, i = {}, 0
                while i < len(body):
                    ln = body[i]
                    name = body[i + 1:i + 1 + ln].decode()
                    vl = struct.unpack(">I", body[i + 1 + ln:i + 5 + ln])[0]
                    attrs[name] = body[i + 5 + ln:i + 5 + ln + vl].decode()
                    i += 5 + ln + vl
                self.requests.append(attrs)
                c.sendall(frame(("status", self.reply.decode())))


def test_flush(tern):
    t = submit_tern(tern)
    r = run(t, "sendmail", "-q")
    assert r.returncode == EX_UNAVAILABLE
    assert b"mail system is not running" in r.stderr
    q = FakeQmgr(t.queue / "public" / "qmgr")
    q.start()
    assert run(t, "sendmail", "-q").returncode == EX_OK
    assert run(t, "sendmail", "-qRexample.com").returncode == EX_OK
    assert q.requests == [{"request": "flush"}, {"request": "flush", "domain": "example.com"}]
    q.sock.close()
