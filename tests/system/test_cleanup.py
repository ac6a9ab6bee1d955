"""cleanup through its socket: the real daemon under master, real queue
files read back with lib's reader (tests/tools/qfdump), the commit order
traced with strace, kill -9 at random points, a full file system.
"""
import os
import random
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import connect_unix


# ---- helpers ----

def cleanup_tern(tern, main_cf=None, maxproc="0", name="tern"):
    cf = {"queue_minfree": "1m", "myorigin": "tern.test",
          "mydestination": "tern.test, localhost"}
    cf.update(main_cf or {})
    t = tern(main_cf=cf, master_cf=f"cleanup unix - - n - {maxproc} cleanup\n", name=name)
    t.start()
    t.wait_until(lambda: (t.queue / "private" / "cleanup").exists(), what="private/cleanup")
    return t


def tool(t, name):
    return str(t.build / "tests" / "tools" / name)


def submit(t, message, sender="", rcpts=(), flags="", attrs=(), rcpt_attrs=None,
           extra=(), timeout=60):
    """Send one message with cleanupq; returns (exit code, replies dict, stderr)."""
    cmd = [tool(t, "cleanupq"), "-s", str(t.queue / "private" / "cleanup"), "-f", sender]
    for r in rcpts:
        cmd += ["-r", r]
        for a in (rcpt_attrs or {}).get(r, ()):
            cmd += ["-R", a]
    for f in flags:
        cmd.append("-" + f)
    for a in attrs:
        cmd += ["-a", a]
    cmd += list(extra)
    if isinstance(message, str):
        message = message.encode()
    p = subprocess.run(cmd, input=message, capture_output=True, timeout=timeout)
    replies = {}
    for line in p.stdout.decode(errors="replace").splitlines():
        name, _, value = line.partition("=")
        replies[name] = value
    return p.returncode, replies, p.stderr.decode(errors="replace")


def ok_id(result):
    rc, rep, err = result
    assert rc == 0 and rep.get("end.status") == "ok", (rc, rep, err)
    assert rep["open.queue_id"] == rep["end.queue_id"]
    return rep["end.queue_id"]


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


def queued(t, qid):
    return qfdump(t, t.queue / "incoming" / qid)


def incoming(t):
    return sorted(os.listdir(t.queue / "incoming"))


def headers_of(content):
    """The header fields of stored content (LF line ends), unfolded names kept."""
    head = content.split(b"\n\n", 1)[0].decode()
    fields = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += "\n" + line
        else:
            fields.append(line)
    return fields


def field_names(content):
    return [f.split(":", 1)[0].lower() for f in headers_of(content)]


def crlf(text):
    return text.replace("\n", "\r\n").encode()


SIMPLE = crlf("From: a@example.org\nTo: b@example.com\nSubject: hello\n\nbody line 1\nline 2\n")


# ---- a message committed is readable and exact ----

def test_committed_message_is_exact(tern):
    t = cleanup_tern(tern)
    body = "".join(f"line {i} " + "x" * (i % 90) + "\n" for i in range(3000))
    message = crlf("From: a@example.org\nTo: b@example.com\nSubject: big\n\n" + body)
    qid = ok_id(submit(t, message, sender="a@example.org", rcpts=["b@example.com"],
                       attrs=["helo=client.example", "client_addr=192.0.2.7",
                              "client_name=client.example", "client_port=40001",
                              "protocol=ESMTP"],
                       extra=["-b", "1000"]))
    assert incoming(t) == [qid]
    env, rcpts, content = queued(t, qid)
    assert env["sender"] == "a@example.org"
    assert env["helo"] == "client.example"
    assert env["client_addr"] == "192.0.2.7"
    assert env["client_name"] == "client.example"
    assert env["client_port"] == "40001"
    assert env["protocol"] == "ESMTP"
    assert [r["address"] for r in rcpts] == ["b@example.com"]
    assert rcpts[0]["state"] == "0"
    # Stored: our Received: in front, then the message exactly, CRLF as LF.
    first, rest = content.split(b"\n", 1)
    assert first.startswith(b"Received: from client.example")
    while rest[:1] in (b" ", b"\t"):
        rest = rest.split(b"\n", 1)[1]
    assert rest == message.replace(b"\r\n", b"\n")
    assert int(env["content_size"]) == len(content)
    t.wait_for_log(rf"cleanup\[\d+\]: {qid}: message-id=")


def test_envelope_facts_are_recorded(tern):
    t = cleanup_tern(tern)
    qid = ok_id(submit(t, SIMPLE, sender="s@example.org",
                       rcpts=["r1@example.com", "r2@example.com"],
                       rcpt_attrs={"r1@example.com": ["notify=SUCCESS,FAILURE",
                                                      "orcpt=rfc822;R1@example.com"],
                                   "r2@example.com": ["notify=NEVER"]},
                       flags="8U",
                       attrs=["envid=ENV123", "ret=HDRS", "helo=h.example",
                              "client_addr=2001:db8::5", "protocol=ESMTPSA",
                              "tls_protocol=TLSv1.3", "tls_cipher=TLS_AES_256_GCM_SHA384",
                              "auth_login=alice"]))
    env, rcpts, content = queued(t, qid)
    assert env["envid"] == "ENV123"
    assert env["ret"] == "2"
    assert int(env["flags"]) == 0x01 | 0x02
    assert env["auth_login"] == "alice"
    assert env["tls_cipher"] == "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"
    assert rcpts[0] == {"address": "r1@example.com", "notify": "3",
                        "orcpt": "rfc822;R1@example.com", "state": "0"}
    assert rcpts[1]["notify"] == "8"


def test_line_ends_normalised(tern):
    t = cleanup_tern(tern)
    # LF-only lines, a bare CR, no final line end
    message = b"Subject: lf only\n\nline one\nbare\rcr\r\nlast line without end"
    qid = ok_id(submit(t, message, sender="a@example.org", rcpts=["b@example.com"]))
    content = queued(t, qid)[2]
    assert content.endswith(b"Subject: lf only\n\nline one\nbare cr\nlast line without end\n")
    assert b"\r" not in content


def test_body_without_empty_line_gets_one(tern):
    t = cleanup_tern(tern)
    message = crlf("Subject: x\nthis is not a header line\nmore\n")
    qid = ok_id(submit(t, message, sender="a@example.org", rcpts=["b@example.com"]))
    content = queued(t, qid)[2]
    assert content.endswith(b"\nSubject: x\n\nthis is not a header line\nmore\n")


# ---- Received: ----

def received_of(content):
    fields = [f for f in headers_of(content) if f.lower().startswith("received:")]
    return fields[0], fields


def test_received_remote_with_tls_and_one_recipient(tern):
    t = cleanup_tern(tern, main_cf={"myhostname": "mx.tern.test"})
    qid = ok_id(submit(t, SIMPLE, sender="a@example.org", rcpts=["b@example.com"],
                       attrs=["helo=client.example", "client_addr=192.0.2.7",
                              "client_name=host.example", "client_verified=1",
                              "protocol=ESMTPSA", "tls_protocol=TLSv1.3",
                              "tls_cipher=TLS_AES_256_GCM_SHA384"]))
    rec, _ = received_of(queued(t, qid)[2])
    flat = re.sub(r"\n[ \t]", " ", rec)
    assert flat.startswith("Received: from client.example (host.example [192.0.2.7]) "
                           "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384) "
                           f"by mx.tern.test (Tern) with ESMTPSA id {qid} "
                           "for <b@example.com>; "), flat
    date = flat.split("; ", 1)[1]
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} "
                        r"\d\d:\d\d:\d\d [+-]\d{4}( \([A-Za-z]+\))?", date), date
    assert "unverified" not in flat


def test_received_unverified_unknown_ipv6_and_many_recipients(tern):
    t = cleanup_tern(tern)
    qid = ok_id(submit(t, SIMPLE, sender="a@example.org",
                       rcpts=["b@example.com", "c@example.com"],
                       attrs=["helo=h", "client_addr=2001:db8::1", "client_name=liar.example",
                              "client_verified=0", "protocol=ESMTP"]))
    env, _, content = queued(t, qid)
    flat = re.sub(r"\n[ \t]", " ", received_of(content)[0])
    assert flat.startswith("Received: from h (liar.example [IPv6:2001:db8::1] (unverified)) "
                           f"by tern.test (Tern) with ESMTP id {qid};"), flat
    assert " for " not in flat
    # an unverified name is not recorded as the client's name
    assert env["client_name"] == ""
    qid = ok_id(submit(t, SIMPLE, sender="a@example.org", rcpts=["b@example.com"],
                       attrs=["client_addr=192.0.2.9", "protocol=SMTP"]))
    flat = re.sub(r"\n[ \t]", " ", received_of(queued(t, qid)[2])[0])
    assert flat.startswith("Received: from unknown (unknown [192.0.2.9]) by tern.test"), flat


def test_received_lines_stay_short_with_long_fields(tern):
    t = cleanup_tern(tern)
    helo = "h" * 500
    rcpt = "r" * 64 + "@" + ".".join(["d" * 60] * 15) + ".example"
    qid = ok_id(submit(t, SIMPLE, sender="a@example.org", rcpts=[rcpt],
                       attrs=[f"helo={helo}", "client_addr=192.0.2.7",
                              "client_name=" + "n" * 250, "protocol=ESMTP"]))
    content = queued(t, qid)[2]
    rec = received_of(content)[0]
    flat = re.sub(r"\n[ \t]", " ", rec)
    assert f"from {helo} (" in flat and f"for <{rcpt}>;" in flat
    for line in content.split(b"\n"):
        assert len(line) <= 998
    assert max(len(l) for l in rec.split("\n")) <= 998


def test_received_local_submission(tern):
    t = cleanup_tern(tern)
    qid = ok_id(submit(t, b"Subject: s\n\nbody\n", sender="root", rcpts=["bob"], flags="l",
                       attrs=["submit_uid=1000"]))
    env, rcpts, content = queued(t, qid)
    flat = re.sub(r"\n[ \t]", " ", received_of(content)[0])
    assert flat.startswith(f"Received: by tern.test (Tern, from userid 1000) id {qid} "
                           "for <bob@tern.test>; "), flat
    assert env["uid"] == "1000"
    assert env["sender"] == "root@tern.test"


# ---- hop count and header limits ----

def with_received(n):
    return crlf("".join(f"Received: from hop{i} by hop{i + 1}; Mon, 1 Jan 2024 00:00:00 +0000\n"
                        for i in range(n)) + "Subject: hops\n\nbody\n")


def test_hop_count_at_and_past_the_limit(tern):
    t = cleanup_tern(tern, main_cf={"hopcount_limit": "5"})
    # 4 Received: fields pass; ours makes 5
    qid = ok_id(submit(t, with_received(4), sender="a@example.org", rcpts=["b@example.com"]))
    assert len(received_of(queued(t, qid)[2])[1]) == 5
    mark = t.log_mark()
    for n in (5, 6, 40):
        rc, rep, _ = submit(t, with_received(n), sender="a@example.org",
                            rcpts=["b@example.com"], attrs=["protocol=ESMTP", "helo=h.example",
                                                            "client_addr=192.0.2.1"])
        assert rc == 2 and rep["end.status"] == "fail", rep
        assert rep["end.dsn"] == "5.4.6"
        assert rep["end.reply"] == "554 5.4.6 Too many hops"
        assert rep["end.queue_id"] == rep["open.queue_id"]
    assert incoming(t) == [qid]
    line = t.wait_for_log(r"(\w+): reject: header Received: from hop4 by hop5; .* from "
                          r"unknown\[192\.0\.2\.1\]; from=<a@example\.org> to=<b@example\.com> "
                          r"proto=ESMTP helo=<h\.example>: 554 5\.4\.6 Too many hops",
                          since=mark)
    assert line.group(1) != qid


def test_header_size_limit(tern):
    t = cleanup_tern(tern, main_cf={"header_size_limit": "2048"})
    def message(header_bytes):
        head = "Subject: size\r\n"
        filler = "X-Fill: " + "f" * (header_bytes - len(head) - len("X-Fill: \r\n")) + "\r\n"
        return (head + filler + "\r\n" + "body " * 2000 + "\r\n").encode()
    # the header's field lines with their line ends; the empty line is not counted
    ok_id(submit(t, message(2048), sender="a@example.org", rcpts=["b@example.com"]))
    rc, rep, _ = submit(t, message(2049), sender="a@example.org", rcpts=["b@example.com"])
    assert rc == 2 and rep["end.status"] == "fail" and rep["end.dsn"] == "5.3.4", rep
    assert rep["end.reply"] == "552 5.3.4 Message header too big"
    # a long body line is not a header, even when no empty line comes first
    ok_id(submit(t, b"Subject: x\r\n" + b"b" * 5000 + b"\r\n", sender="a@example.org",
                 rcpts=["b@example.com"]))
    assert len(incoming(t)) == 2
    t.wait_for_log(r"reject: message header is larger than header_size_limit \(2048\); "
                   r"from=<a@example\.org> to=<b@example\.com>: 552 5\.3\.4")


def test_header_count_limit(tern):
    t = cleanup_tern(tern, main_cf={"header_count_limit": "10"})
    def message(n):
        return crlf("".join(f"X-H{i}: v\n" for i in range(n)) + "\nbody\n")
    ok_id(submit(t, message(10), sender="a@example.org", rcpts=["b@example.com"]))
    rc, rep, _ = submit(t, message(11), sender="a@example.org", rcpts=["b@example.com"])
    assert rc == 2 and rep["end.reply"] == "552 5.3.4 Too many message header fields", rep
    assert len(incoming(t)) == 1


def test_message_size_limit(tern):
    t = cleanup_tern(tern, main_cf={"message_size_limit": "100000"})
    ok_id(submit(t, b"Subject: s\r\n\r\n" + b"x" * 99000 + b"\r\n", sender="a@example.org",
                 rcpts=["b@example.com"]))
    rc, rep, _ = submit(t, b"Subject: s\r\n\r\n" + b"x" * 100000 + b"\r\n",
                        sender="a@example.org", rcpts=["b@example.com"])
    assert rc == 2 and rep["end.reply"] == "552 5.3.4 Message size exceeds fixed limit", rep
    assert len(incoming(t)) == 1


# ---- fields removed and added ----

def test_return_path_removed(tern):
    t = cleanup_tern(tern)
    message = crlf("Return-Path: <forged@example.net>\nSubject: rp\n"
                   "return-path:\n <again@example.net>\n\nReturn-Path: in the body stays\n")
    qid = ok_id(submit(t, message, sender="a@example.org", rcpts=["b@example.com"],
                       attrs=["client_addr=192.0.2.1"]))
    content = queued(t, qid)[2]
    assert "return-path" not in field_names(content)
    assert b"forged" not in content and b"again" not in content
    assert content.endswith(b"\nSubject: rp\n\nReturn-Path: in the body stays\n")


def test_local_submission_gets_missing_fields(tern):
    t = cleanup_tern(tern, main_cf={"myhostname": "mx.tern.test"})
    qid = ok_id(submit(t, b"Subject: local\n\nhello\n", sender="alice", rcpts=["bob"],
                       flags="l", extra=["-F", "Alice Q. Liddell"]))
    content = queued(t, qid)[2]
    fields = headers_of(content)
    assert field_names(content) == ["received", "subject", "from", "date", "message-id"]
    assert fields[2] == 'From: "Alice Q. Liddell" <alice@tern.test>'
    assert re.fullmatch(r"Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}.*", fields[3])
    assert fields[4] == f"Message-ID: <{qid}@mx.tern.test>"
    t.wait_for_log(rf"{qid}: message-id=<{qid}@mx\.tern\.test>")
    # fields the message has are kept, not repeated
    message = (b"From: Someone <someone@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
               b"Message-Id: <own@example.org>\n\nhi\n")
    qid = ok_id(submit(t, message, sender="alice", rcpts=["bob"], flags="l"))
    content = queued(t, qid)[2]
    assert field_names(content) == ["received", "from", "date", "message-id"]
    t.wait_for_log(rf"{qid}: message-id=<own@example\.org>")
    # the null sender
    qid = ok_id(submit(t, b"Subject: bounce\n\nx\n", sender="", rcpts=["bob"], flags="l"))
    assert "From: MAILER-DAEMON@mx.tern.test" in headers_of(queued(t, qid)[2])


def test_remote_submission_gets_nothing_added(tern):
    t = cleanup_tern(tern)
    message = crlf("Subject: remote\n\nhello\n")
    qid = ok_id(submit(t, message, sender="a@example.org", rcpts=["b@example.com"],
                       attrs=["client_addr=192.0.2.1", "protocol=ESMTP"]))
    content = queued(t, qid)[2]
    assert field_names(content) == ["received", "subject"]
    t.wait_for_log(rf"{qid}: message-id=<>")


def test_recipients_from_headers_and_bcc_removed(tern):
    t = cleanup_tern(tern)
    message = ("From: alice\n"
               "To: Bob Smith <bob@example.com>, \"Doe, Jane\" <jane@example.com>\n"
               "Cc: team: carol@example.com, dave (Dave D.) ;, root\n"
               "Bcc: secret@example.com,\n  hidden@example.com\n"
               "Subject: -t\n\nbody\nBcc: in the body stays\n").encode()
    qid = ok_id(submit(t, message, sender="alice", rcpts=["extra@example.com"], flags="lt"))
    env, rcpts, content = queued(t, qid)
    assert [r["address"] for r in rcpts] == [
        "extra@example.com", "bob@example.com", "jane@example.com", "carol@example.com",
        "dave@tern.test", "root@tern.test", "secret@example.com", "hidden@example.com"]
    assert int(env["flags"]) & 0x08
    assert "bcc" not in field_names(content)
    assert b"secret" not in content.split(b"\n\n", 1)[0]
    assert content.endswith(b"\nbody\nBcc: in the body stays\n")
    assert "to" in field_names(content) and "cc" in field_names(content)


def test_resent_headers_take_precedence_with_t(tern):
    t = cleanup_tern(tern)
    message = (b"To: old@example.com\nResent-To: new@example.com\n"
               b"Resent-Bcc: hushed@example.com\nBcc: oldbcc@example.com\n\nbody\n")
    qid = ok_id(submit(t, message, sender="alice", flags="lt"))
    _, rcpts, content = queued(t, qid)
    assert [r["address"] for r in rcpts] == ["new@example.com", "hushed@example.com"]
    assert field_names(content) == ["received", "to", "resent-to", "from", "date",
                                    "message-id"]


def test_no_recipients(tern):
    t = cleanup_tern(tern)
    rc, rep, _ = submit(t, b"Subject: none\n\nx\n", sender="alice", flags="lt")
    assert rc == 2 and rep["end.reply"] == \
        "554 5.5.1 No recipient addresses found in message header", rep
    rc, rep, _ = submit(t, SIMPLE, sender="a@example.org")
    assert rc == 2 and rep["end.reply"] == "554 5.5.1 No recipients specified", rep
    assert incoming(t) == []


# ---- address rewriting ----

def test_canonical_maps(tern):
    t = cleanup_tern(tern, main_cf={
        "sender_canonical_maps": "inline:{old@example.org=new@example.org}",
        "recipient_canonical_maps": "inline:{@legacy.example=@example.com}",
        "canonical_maps": "inline:{new@example.org=final@example.org, "
                          "postmaster=admin@example.com, joe=joe.smith}",
        "recipient_delimiter": "+"})
    qid = ok_id(submit(t, SIMPLE, sender="OLD@example.org",
                       rcpts=["u1@legacy.example", "u2+tag@LEGACY.example",
                              "postmaster@tern.test", "joe+x@localhost",
                              "postmaster@elsewhere.example"]))
    env, rcpts, _ = queued(t, qid)
    # sender: sender_canonical_maps, then canonical_maps on its result
    assert env["sender"] == "final@example.org"
    assert [r["address"] for r in rcpts] == [
        "u1@example.com", "u2+tag@example.com", "admin@example.com",
        "joe.smith+x@tern.test", "postmaster@elsewhere.example"]
    # ORCPT keeps what the client gave when the address changed
    assert rcpts[0]["orcpt"] == "rfc822;u1@legacy.example"
    assert rcpts[4]["orcpt"] == ""


def test_virtual_alias_one_to_many_recursion_and_loops(tern, tmp_path):
    t = tern_with_aliases(tern, tmp_path, """\
        list@example.com      alice@example.com, bob@example.com, sub@example.com
        sub@example.com       carol@example.com dave@example.com
        self@example.com      self@example.com, copy@example.com
        ping@example.com      pong@example.com
        pong@example.com      ping@example.com
        @catchall.example     bucket@example.com
        deep0@example.com     deep1@example.com
        deep1@example.com     deep2@example.com
        deep2@example.com     deep3@example.com
        deep3@example.com     end@example.com
        """)
    qid = ok_id(submit(t, SIMPLE, sender="a@example.org",
                       rcpts=["list@example.com", "self@example.com", "ping@example.com",
                              "anyone@catchall.example", "deep0@example.com"]))
    _, rcpts, _ = queued(t, qid)
    assert [r["address"] for r in rcpts] == [
        "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com",
        "self@example.com", "copy@example.com", "ping@example.com", "bucket@example.com",
        "end@example.com"]
    assert {r["orcpt"] for r in rcpts[:4]} == {"rfc822;list@example.com"}
    assert rcpts[4]["orcpt"] == ""


def tern_with_aliases(tern, tmp_path, text, **cf):
    src = tmp_path / "virtual"
    src.write_text("\n".join(l.strip() for l in text.splitlines()) + "\n")
    p = subprocess.run([str(build_bin() / "tern"), "map", "build", str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    main_cf = {"virtual_alias_maps": f"cdb:{src}"}
    main_cf.update(cf)
    return cleanup_tern(tern, main_cf=main_cf)


def build_bin():
    from pathlib import Path
    return Path(os.environ["TERN_BUILD"]) / "bin"


def test_virtual_alias_limits_defer(tern, tmp_path):
    t = tern_with_aliases(tern, tmp_path, """\
        deep0@example.com     deep1@example.com
        deep1@example.com     deep2@example.com
        deep2@example.com     deep3@example.com
        deep3@example.com     end@example.com
        wide@example.com      w1@example.com w2@example.com w3@example.com w4@example.com
        """, virtual_alias_recursion_limit="3", virtual_alias_expansion_limit="3")
    rc, rep, _ = submit(t, SIMPLE, sender="a@example.org", rcpts=["deep0@example.com"])
    assert rc == 2 and rep["end.status"] == "defer" and rep["end.dsn"] == "4.3.0", rep
    t.wait_for_log(r"warning: \w+: virtual alias expansion of <deep0@example\.com> nests "
                   r"deeper than 3")
    rc, rep, _ = submit(t, SIMPLE, sender="a@example.org", rcpts=["wide@example.com"])
    assert rc == 2 and rep["end.status"] == "defer", rep
    t.wait_for_log(r"virtual alias expansion of <wide@example\.com> makes more than 3 addresses")
    # within the limits: fine
    ok_id(submit(t, SIMPLE, sender="a@example.org", rcpts=["deep1@example.com"]))
    assert len(incoming(t)) == 1


def test_duplicates_removed(tern):
    t = cleanup_tern(tern, main_cf={
        "virtual_alias_maps": "inline:{both@example.com=a@example.com B@Example.com}"})
    qid = ok_id(submit(t, SIMPLE, sender="s@example.org",
                       rcpts=["a@example.com", "A@EXAMPLE.COM", "a@Example.Com",
                              "b@example.com", "both@example.com", "a@example.com"]))
    _, rcpts, _ = queued(t, qid)
    # local parts compare exactly, domains in any case; the first one is kept
    assert [r["address"] for r in rcpts] == ["a@example.com", "A@EXAMPLE.COM",
                                             "b@example.com", "B@Example.com"]


# ---- aborts, protocol errors, the wakeup ----

def frame(*pairs):
    body = b""
    for name, value in pairs:
        if isinstance(value, str):
            value = value.encode()
        body += bytes([len(name)]) + name.encode() + struct.pack(">I", len(value)) + value
    return struct.pack(">I", len(body)) + body


def read_frame(f):
    head = f.read(4)
    if len(head) < 4:
        return None
    body = f.read(struct.unpack(">I", head)[0])
    attrs, i = {}, 0
    while i < len(body):
        n = body[i]
        name = body[i + 1:i + 1 + n].decode()
        i += 1 + n
        vlen = struct.unpack(">I", body[i:i + 4])[0]
        attrs[name] = body[i + 4:i + 4 + vlen].decode(errors="replace")
        i += 4 + vlen
    return attrs


def test_client_gone_before_end_leaves_nothing(tern):
    t = cleanup_tern(tern)
    message = SIMPLE + b"x" * 300000 + b"\r\n"
    rc, rep, _ = submit(t, message, sender="a@example.org", rcpts=["b@example.com"],
                        extra=["-b", "4096", "-x", "150000"])
    assert rc == 0 and rep["open.status"] == "ok"
    qid = rep["open.queue_id"]
    t.wait_for_log(rf"{qid}: lost connection before the end of the message; removed")
    assert incoming(t) == []


@pytest.mark.parametrize("frames, reason", [
    ([("request", "rcpt"), ("address", "x@y")], "the first request must be request=open"),
    ([("request", "open")], "missing or invalid sender attribute"),
    ([("request", "open"), ("sender", "a@b"), ("flags", "local,bogus")], 'unknown flag "bogus"'),
    ([("request", "open"), ("sender", "a\x01b@c")], "missing or invalid sender attribute"),
    ([("request", "open"), ("sender", "a@b"), ("client_port", "70000")],
     "invalid client_port attribute"),
])
def test_bad_open_is_a_protocol_error(tern, frames, reason):
    t = cleanup_tern(tern)
    s, f = connect_unix(t.queue / "private" / "cleanup")
    f.write(frame(*frames))
    rep = read_frame(f)
    assert rep == {"status": "error", "reason": reason}
    assert read_frame(f) is None  # closed
    s.close()
    t.wait_for_log(r"warning: NOQUEUE: protocol error: " + re.escape(reason))
    assert incoming(t) == []


@pytest.mark.parametrize("after_open, reason", [
    ([[("request", "rcpt"), ("address", "")]], "missing or invalid address attribute"),
    ([[("request", "rcpt"), ("address", "b@c"), ("notify", "NEVER,SUCCESS")]],
     "invalid notify attribute"),
    ([[("request", "rcpt"), ("address", "b@c"), ("orcpt", "nosemicolon")]],
     "invalid orcpt attribute"),
    ([[("request", "rcpt"), ("address", "b@c")], [("request", "data"), ("data", "Subject: x\r\n")],
      [("request", "rcpt"), ("address", "c@d")]], "request=rcpt after request=data"),
    ([[("request", "rcpt"), ("address", "b@c")], [("request", "data"), ("data", "x" * 65537)]],
     "missing or oversized data attribute"),
    ([[("request", "bogus")]], 'unknown request "bogus"'),
])
def test_bad_request_after_open_removes_the_file(tern, after_open, reason):
    t = cleanup_tern(tern)
    s, f = connect_unix(t.queue / "private" / "cleanup")
    f.write(frame(("request", "open"), ("sender", "a@example.org")))
    rep = read_frame(f)
    assert rep["status"] == "ok"
    qid = rep["queue_id"]
    assert incoming(t) == [f"tmp.{qid}"]
    for fr in after_open:
        f.write(frame(*fr))
    assert read_frame(f) == {"status": "error", "reason": reason}
    s.close()
    t.wait_for_log(rf"warning: {qid}: protocol error: " + re.escape(reason))
    assert incoming(t) == []


def test_oversized_frame_is_refused(tern):
    t = cleanup_tern(tern)
    s, f = connect_unix(t.queue / "private" / "cleanup")
    f.write(frame(("request", "open"), ("sender", "a@example.org")))
    qid = read_frame(f)["queue_id"]
    f.write(struct.pack(">I", 10 * 1024 * 1024))
    assert read_frame(f) is None
    s.close()
    t.wait_for_log(rf"warning: {qid}: reading a request: attribute frame too large; removed")
    assert incoming(t) == []


def test_qmgr_is_woken_after_the_commit(tern):
    t = cleanup_tern(tern)
    qmgr = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    qmgr.bind(str(t.queue / "public" / "qmgr"))
    qmgr.listen(5)
    qmgr.settimeout(10)
    try:
        qid = ok_id(submit(t, SIMPLE, sender="a@example.org", rcpts=["b@example.com"]))
        conn, _ = qmgr.accept()
        f = conn.makefile("rb")
        assert read_frame(f) == {"request": "wakeup"}
        assert (t.queue / "incoming" / qid).exists()
        conn.close()
        # a refused message wakes nobody
        submit(t, SIMPLE, sender="a@example.org")
        qmgr.settimeout(1)
        with pytest.raises(socket.timeout):
            qmgr.accept()
    finally:
        qmgr.close()


def test_queue_minfree_refuses_at_open(tern):
    t = cleanup_tern(tern, main_cf={"queue_minfree": "100000g"})
    rc, rep, _ = submit(t, SIMPLE, sender="a@example.org", rcpts=["b@example.com"])
    assert rc == 2 and rep["open.status"] == "defer", rep
    assert rep["open.dsn"] == "4.3.1"
    assert rep["open.reply"] == "452 4.3.1 Insufficient system storage"
    assert "open.queue_id" not in rep and "end.status" not in rep
    assert incoming(t) == []
    t.wait_for_log(r"warning: NOQUEUE: queue file system has \d+ bytes free, less than "
                   r"queue_minfree \(107374182400000\)")
    t.wait_for_log(r"NOQUEUE: reject: queue file system has .*; from=<a@example\.org>: "
                   r"452 4\.3\.1 Insufficient system storage")


# ---- the commit protocol, traced ----

def cleanup_pids(t):
    pids = []
    for pid in t.processes():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "cleanup":
                    pids.append(pid)
        except OSError:
            pass
    return pids


def test_commit_order_fsync_rename_fsync_reply(tern):
    if not shutil_which("strace"):
        pytest.skip("strace is not installed")
    t = cleanup_tern(tern, maxproc="1")
    # A client that says nothing brings up the one cleanup process.
    s, f = connect_unix(t.queue / "private" / "cleanup")
    pid = t.wait_until(lambda: cleanup_pids(t), what="a cleanup process")[0]
    trace = t.root / "strace.out"
    st = subprocess.Popen(["strace", "-f", "-tt", "-s", "256", "-o", str(trace), "-e",
                           "trace=openat,fsync,fdatasync,rename,renameat,renameat2,link,linkat,"
                           "write,sendto,sendmsg", "-p", str(pid)],
                          stderr=subprocess.PIPE, text=True)
    try:
        line = st.stderr.readline()
        assert "attached" in line, line
        s.close()
        f.close()
        ids = [ok_id(submit(t, SIMPLE + b"x" * (70000 * i) + b"\r\n", sender="a@example.org",
                            rcpts=["b@example.com"])) for i in range(3)]
    finally:
        st.terminate()
        st.wait(timeout=10)
    lines = trace.read_text().splitlines()
    assert cleanup_pids(t) == [pid]

    def index(pattern, start=0):
        rx = re.compile(pattern)
        for i in range(start, len(lines)):
            if rx.search(lines[i]):
                return i
        raise AssertionError(f"no {pattern!r} after line {start} in:\n" + "\n".join(lines))

    for qid in ids:
        opened = index(rf'openat\((\d+), "tmp\.{qid}", [^)]*O_EXCL[^)]*\) = (\d+)')
        m = re.search(rf'openat\((\d+), "tmp\.{qid}".*\) = (\d+)', lines[opened])
        dirfd, filefd = m.group(1), m.group(2)
        open_reply = index(rf"sendto\(\d+, .*{qid}", opened)
        fsync_file = index(rf"fsync\({filefd}\) += 0", open_reply)
        renamed = index(rf'rename\w*\(.*"tmp\.{qid}", .*"{qid}".*\) += 0', fsync_file)
        fsync_dir = index(rf"fsync\({dirfd}\) += 0", renamed)
        reply = index(rf"sendto\(\d+, .*status.*ok.*{qid}", open_reply + 1)
        assert open_reply < fsync_file < renamed < fsync_dir < reply, (
            open_reply, fsync_file, renamed, fsync_dir, reply)
        # nothing about this message reached the client in between
        between = [l for l in lines[open_reply + 1:reply] if "sendto(" in l and qid in l]
        assert between == []
        # every write of the file came before its fsync
        writes = [i for i in range(opened, fsync_file + 200 if fsync_file + 200 < len(lines)
                                   else len(lines))
                  if re.search(rf"\bwrite\({filefd}, ", lines[i]) and i < renamed]
        assert writes and max(writes) < fsync_file


def shutil_which(name):
    from shutil import which
    return which(name)


# ---- kill -9 at random points, and the sweep ----

def start_submit(t, message, chunk=8192, wait_ms=2):
    src = t.root / f"message.{time.monotonic_ns()}"
    src.write_bytes(message)
    cmd = [tool(t, "cleanupq"), "-s", str(t.queue / "private" / "cleanup"), "-f",
           "a@example.org", "-r", "b@example.com", "-b", str(chunk), "-w", str(wait_ms),
           "-T", "20"]
    with open(src, "rb") as f:
        return subprocess.Popen(cmd, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def parse_replies(out):
    rep = {}
    for line in out.decode(errors="replace").splitlines():
        name, _, value = line.partition("=")
        rep[name] = value
    return rep


def kill_cleanups(t):
    for pid in cleanup_pids(t):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stored_text(content):
    """The stored message without our Received: field."""
    assert content.startswith(b"Received: ")
    rest = content.split(b"\n", 1)[1]
    while rest[:1] in (b" ", b"\t"):
        rest = rest.split(b"\n", 1)[1]
    return rest


def test_kill9_leaves_no_half_file_and_the_sweep_removes_temporaries(tern):
    t = cleanup_tern(tern, main_cf={"master_backoff_min": "1s", "master_backoff_max": "1s",
                                    "temporary_file_max_age": "60s"})
    rng = random.Random(4711)
    # One certain victim: killed while its temporary exists.
    p = start_submit(t, SIMPLE + b"y" * 400000 + b"\r\n", chunk=4096, wait_ms=20)
    t.wait_until(lambda: any(n.startswith("tmp.") for n in incoming(t)), what="a temporary")
    kill_cleanups(t)
    p.communicate(timeout=30)
    victims = [n for n in incoming(t) if n.startswith("tmp.")]
    assert victims

    sent = []
    for i in range(20):
        body = f"message {i}\r\n".encode() + b"z" * 70 * rng.randint(10, 3000) + b"\r\n"
        message = crlf(f"Subject: kill {i}\n\n") + body
        p = start_submit(t, message, wait_ms=rng.choice([1, 5, 10]))
        if rng.random() < 0.7:
            # wait for the open, then kill at a random point of the transfer
            t.wait_until(lambda: cleanup_pids(t), what="a cleanup process")
            time.sleep(rng.uniform(0.0, 0.1))
            kill_cleanups(t)
        out, _ = p.communicate(timeout=60)
        sent.append((parse_replies(out), message))

    names = incoming(t)
    committed = [rep["end.queue_id"] for rep, _ in sent if rep.get("end.status") == "ok"]
    assert committed, "no submission survived; the test proves nothing"
    assert len(committed) < len(sent), "nothing was killed; the test proves nothing"
    # Every acknowledged message is there and exact.
    for rep, message in sent:
        if rep.get("end.status") == "ok":
            content = queued(t, rep["end.queue_id"])[2]
            assert stored_text(content) == message.replace(b"\r\n", b"\n")
    # Every file that is not a temporary reads back valid.
    for name in names:
        if not name.startswith("tmp."):
            qfdump(t, t.queue / "incoming" / name)

    # The sweep: temporaries older than temporary_file_max_age go, younger ones stay.
    temps = [n for n in names if n.startswith("tmp.")]
    old = time.time() - 7200
    for n in temps:
        os.utime(t.queue / "incoming" / n, (old, old))
    fresh = t.queue / "incoming" / "tmp.0000000000000FRESH"
    fresh.write_bytes(b"being written")
    mark = t.log_mark()
    kill_cleanups(t)
    time.sleep(1.2)  # master's back-off after the kill
    ok_id(submit(t, SIMPLE, sender="a@example.org", rcpts=["b@example.com"]))
    for n in temps:
        t.wait_for_log(rf"warning: removing stale temporary file incoming/{re.escape(n)} "
                       rf"\(age \d+ s\)", since=mark)
    left = incoming(t)
    assert [n for n in left if n.startswith("tmp.")] == ["tmp.0000000000000FRESH"]
    assert not any(n in left for n in temps)
    # nothing went to corrupt/
    assert os.listdir(t.queue / "corrupt") == []


# ---- a full file system ----

@pytest.mark.root
def test_full_file_system_gives_a_temporary_failure(tern):
    t = tern(main_cf={"queue_minfree": "0", "myorigin": "tern.test"},
             master_cf="cleanup unix - - n - 0 cleanup\n")
    t.queue.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(t.queue)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        t.start()
        t.wait_until(lambda: (t.queue / "private" / "cleanup").exists(), what="socket")
        big = SIMPLE + (b"q" * 998 + b"\r\n") * 3000  # 3 MB
        rc, rep, _ = submit(t, big, sender="a@example.org", rcpts=["b@example.com"])
        assert rc == 2 and rep["end.status"] == "defer", rep
        assert rep["end.reply"] == "452 4.3.1 Insufficient system storage"
        assert incoming(t) == []
        t.wait_for_log(r"warning: \w+: queue file write failed: no space")
        # the space is back: mail flows again
        qid = ok_id(submit(t, SIMPLE, sender="a@example.org", rcpts=["b@example.com"]))
        assert incoming(t) == [qid]
        # queue_minfree is checked again before the commit: a message that
        # fits the disk but leaves less than queue_minfree free is refused
        old_pids = cleanup_pids(t)
        t.write_main_cf(queue_minfree="1m")
        t.reload()
        t.wait_until(lambda: not set(cleanup_pids(t)) & set(old_pids), what="old cleanup gone")
        mark = t.log_mark()
        middle = SIMPLE + (b"m" * 998 + b"\r\n") * 1400  # 1.4 MB of 2 MB
        rc, rep, _ = submit(t, middle, sender="a@example.org", rcpts=["b@example.com"])
        assert rep["open.status"] == "ok", rep
        assert rc == 2 and rep["end.reply"] == "452 4.3.1 Insufficient system storage", rep
        t.wait_for_log(rf"warning: {rep['open.queue_id']}: queue file system has \d+ bytes "
                       r"free, less than queue_minfree \(1048576\)", since=mark)
        assert incoming(t) == [qid]
    finally:
        t.stop(check=False)
        subprocess.run(["umount", str(t.queue)], capture_output=True)
