"""smtpd and cleanup: 250 only after cleanup's commit.  kill -9 of cleanup
in the middle of a message, or while smtpd waits for the final answer,
gives a 4xx (or a dropped connection) and nothing queued; a missing
cleanup service, a full queue file system and cleanup's own refusals are
answered as such.
"""
import os
import signal
import time

import pytest

from smtpd_util import (SIMPLE, Client, all_queue_files, crlf, process_pids, queue_id_of, queued,
                        send_message, smtpd_pids, smtpd_tern)


def committed(t):
    """Queue files other than cleanup's temporaries."""
    return [f for f in all_queue_files(t) if not os.path.basename(f).startswith("tmp.")]


def start_data(c):
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.expect("DATA", 354)


def finish_after_failure(c):
    """The reply to the end of data, or None when smtpd dropped us."""
    try:
        return c.reply()
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return None


def test_kill_cleanup_in_the_middle_of_a_message(tern):
    t = smtpd_tern(tern)
    c = Client(t.port())
    start_data(c)
    c.send(b"Subject: killed\r\n\r\n" + b"x" * 998 + b"\r\n")
    pids = t.wait_until(lambda: process_pids(t, "cleanup"), what="a cleanup process")
    c.send(b"y" * 998 + b"\r\n" * 100)
    time.sleep(0.2)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    try:
        c.send((b"z" * 998 + b"\r\n") * 300 + b".\r\n")
    except OSError:
        pass
    r = finish_after_failure(c)
    if r is not None:
        code, lines = r
        assert 400 <= code < 500, (code, lines)
        assert c.cmd("NOOP")[0] == 250
    assert committed(t) == []
    t.wait_for_log(r"lost connection to cleanup|talking to cleanup")
    # smtpd lives on, and master starts a fresh cleanup.
    c = Client(t.port())
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    assert committed(t) == [f"incoming/{qid}"]
    assert len(smtpd_pids(t)) == 1


def test_kill_cleanup_before_its_final_answer(tern):
    t = smtpd_tern(tern)
    c = Client(t.port())
    start_data(c)
    c.send(b"Subject: stopped\r\n\r\nbody\r\n")
    pids = t.wait_until(lambda: process_pids(t, "cleanup"), what="a cleanup process")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    c.send(b".\r\n")
    time.sleep(0.5)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    r = finish_after_failure(c)
    assert r is None or 400 <= r[0] < 500, r
    assert committed(t) == []


def test_no_cleanup_service(tern):
    t = smtpd_tern(tern, with_cleanup=False)
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    assert c.cmd("DATA") == (451, ["4.3.0 Error: queue file write error"])
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.send(b"BDAT 20 LAST\r\nSubject: x\r\n\r\nabcdef")
    assert c.reply() == (451, ["4.3.0 Error: queue file write error"])
    assert c.cmd("NOOP")[0] == 250
    t.wait_for_log(r"NOQUEUE: unknown\[127\.0\.0\.1\]: cleanup: connect private/cleanup")


def test_queue_file_system_full(tern):
    t = smtpd_tern(tern, main_cf={"queue_minfree": "1000000g"})
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    assert c.cmd("MAIL FROM:<a@example.org>") == (452, ["4.3.1 Insufficient system storage"])
    assert committed(t) == []


def test_message_size_is_checked_against_free_space(tern):
    free = os.statvfs("/tmp")
    room = free.f_bavail * free.f_frsize
    t = smtpd_tern(tern)
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    assert c.cmd(f"MAIL FROM:<a@example.org> SIZE={room * 2}")[0] in (452, 552)
    c.expect("MAIL FROM:<a@example.org> SIZE=1000", 250)


def test_cleanup_refusal_is_passed_on(tern):
    # smtpd lets 5 Received: fields through; cleanup (main.cf) allows 3.
    t = smtpd_tern(tern, main_cf={"hopcount_limit": "3"}, options=["hopcount_limit=100"])
    c = Client(t.port())
    start_data(c)
    hops = "".join(f"Received: from h{i}\n" for i in range(5))
    c.send(crlf(hops + "Subject: loop\n\nbody\n") + b".\r\n")
    code, lines = c.reply()
    assert code == 554 and lines[0].startswith("5.4.6 "), lines
    assert c.cmd("NOOP")[0] == 250
    assert committed(t) == []
    t.wait_for_log(r"[0-9A-Z]+: reject: END-OF-MESSAGE from unknown\[127\.0\.0\.1\]: 554 5\.4\.6")


def test_many_messages_in_parallel(tern):
    t = smtpd_tern(tern)
    clients = [Client(t.port(), source=f"127.0.0.{i + 1}") for i in range(10)]
    for c in clients:
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@example.org>", 250)
        c.expect("RCPT TO:<root@tern.test>", 250)
        c.expect("DATA", 354)
    for i, c in enumerate(clients):
        c.send(crlf(f"Subject: parallel {i}\n\n" + "line\n" * 1000))
    ids = []
    for c in clients:
        c.send(b".\r\n")
    for c in clients:
        code, lines = c.reply()
        assert code == 250
        ids.append(queue_id_of(lines[0]))
    for qid in ids:
        queued(t, qid)
    assert len(committed(t)) == 10
