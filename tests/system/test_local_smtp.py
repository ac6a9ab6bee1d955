"""From SMTP to the file: smtpd, cleanup, trivial-rewrite, qmgr and local
under the real master; mail sent with smtplib ends up in maildirs,
commands and files, and survives kill -9 of qmgr and local.
"""
import os
import pwd
import random
import re
import signal
import smtplib
import threading
import time
from pathlib import Path

import pytest

from test_local import ME, maildir_files, pipe_script, read_env, set_aliases

HOSTED = "inline:{alice@hosted.test=hosted.test/alice/, bob@hosted.test=hosted.test/bob/}"


def full_tern(tern, main_cf=None, aliases=None):
    cf = {"myorigin": "tern.test", "mydestination": "tern.test, localhost",
          "virtual_mailbox_domains": "hosted.test", "virtual_mailbox_maps": HOSTED,
          "drop_system_mailboxes": "yes", "queue_minfree": "1m", "ipc_timeout": "30s",
          "retry_schedule": "1s", "queue_run_delay": "1s", "destination_backoff_time": "1s",
          "master_backoff_min": "1s", "master_backoff_max": "2s"}
    cf.update(main_cf or {})
    t = tern(main_cf=cf)
    port = t.port()
    t.write_master_cf(f"127.0.0.1:{port} inet n - n - - smtpd\n"
                      "cleanup unix - - n - 0 cleanup\n"
                      "rewrite unix - - n - - trivial-rewrite\n"
                      "qmgr unix n - n 300 1 qmgr\n"
                      "local unix - n n - - local\n")
    if aliases is not None:
        set_aliases(t, aliases)
    t.start()
    t.wait_until(lambda: all((t.queue / p).exists() for p in
                             ("private/cleanup", "private/rewrite", "private/local")),
                 what="internal sockets")
    return t


def send(t, rcpts, body="hello\r\n", sender="a@example.org", headers=""):
    msg = f"From: {sender}\r\nSubject: test\r\n{headers}\r\n{body}"
    with smtplib.SMTP("127.0.0.1", t.port(), timeout=30) as s:
        s.sendmail(sender, rcpts, msg)


def wait_files(box, n, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = maildir_files(box)
        if len(files) >= n:
            return files
        time.sleep(0.1)
    raise AssertionError(f"{box}: {len(maildir_files(box))} files, expected {n}")


def test_smtp_to_local_user_hosted_alias_pipe_forward(tern, tmp_path):
    script, out = pipe_script(tmp_path, "pipe")
    fwd = tmp_path / "fwd"
    fwd.mkdir()
    (fwd / f"{ME}.forward").write_text(f"\\{ME}\nbob@hosted.test\n")
    t = full_tern(tern, {"forward_path": f"{fwd}/$${{user}}.forward"}, aliases=f"""\
        team: alice@hosted.test, bob@hosted.test
        pipe: "|{script}"
        """)
    send(t, [f"{ME}@tern.test"])
    f = wait_files(t.drop / ME, 1)[0]
    text = f.read_text()
    assert text.startswith(f"Return-Path: <a@example.org>\nDelivered-To: {ME}@tern.test\n"
                           "Received: from ")
    assert text.endswith("\n\nhello\n")
    wait_files(t.drop / "hosted.test" / "bob", 1)  # through the .forward
    send(t, ["alice@hosted.test"])
    wait_files(t.drop / "hosted.test" / "alice", 1)
    send(t, ["team@tern.test"])
    wait_files(t.drop / "hosted.test" / "alice", 2)
    wait_files(t.drop / "hosted.test" / "bob", 2)
    send(t, ["pipe@tern.test"], sender="\"x;rm -rf /\"@example.org")
    t.wait_until(lambda: Path(f"{out}.stdin").exists(), what="the pipe")
    t.wait_for_log(r"to=<pipe@tern\.test>, relay=local, .*status=sent \(delivered to command")
    env = read_env(out)
    assert env["SENDER"] == "x;rm -rf /@example.org"
    assert env["RECIPIENT"] == "pipe@tern.test"
    assert "\nSubject: test\n" in Path(f"{out}.stdin").read_text()


def test_smtp_loop_and_quota(tern):
    t = full_tern(tern, {"mailbox_size_limit_maps": "inline:{bob@hosted.test=1000}",
                         "local_queue_lifetime": "6s"})
    send(t, [f"{ME}@tern.test"], headers=f"Delivered-To: {ME}@tern.test\r\n")
    t.wait_for_log(rf"to=<{ME}@tern\.test>, relay=local, .*dsn=5\.4\.6, status=bounced "
                   r"\(mail forwarding loop", timeout=20)
    assert not (t.drop / ME).exists()
    send(t, ["bob@hosted.test"], body="x" * 2000 + "\r\n", sender="")
    t.wait_for_log(r"to=<bob@hosted\.test>, relay=local, .*dsn=4\.2\.2, status=deferred "
                   r"\(mailbox is over quota", timeout=20)
    t.wait_for_log(r"to=<bob@hosted\.test>, relay=local, .*dsn=5\.2\.2, status=bounced",
                   timeout=40)
    assert maildir_files(t.drop / "hosted.test" / "bob") == []


def local_pids(t):
    binary = str(t.bin / "local").encode()
    pids = []
    for pid in t.processes():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0] == binary:
                    pids.append(pid)
        except OSError:
            pass
    return pids


@pytest.mark.timeout(600)
def test_thousand_messages_with_kills(tern):
    t = full_tern(tern)
    total, senders = 1000, 4
    stop = threading.Event()
    kills = {"qmgr": 0, "local": 0, "in_flight": 0}
    errors = []

    def sender(k):
        try:
            with smtplib.SMTP("127.0.0.1", t.port(), timeout=60) as s:
                for i in range(k, total, senders):
                    s.sendmail("a@example.org", ["alice@hosted.test"],
                               f"Subject: n{i}\r\nX-Number: {i}\r\n\r\n{'z' * 200}\r\n")
                    time.sleep(0.04)  # spread the load over the kills
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    def killer():
        rnd = random.Random(8)
        while not stop.wait(rnd.uniform(0.05, 0.3)):
            if rnd.random() < 0.3:
                pid = t.wait_until(lambda: pid_of(t, "qmgr"), what="qmgr")
                os.kill(pid, signal.SIGKILL)
                kills["qmgr"] += 1
            else:
                pids = local_pids(t)
                kills["in_flight"] += len(pids)
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills["local"] += 1
                    except ProcessLookupError:
                        pass

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    kt = threading.Thread(target=killer)
    kt.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    time.sleep(2)
    stop.set()
    kt.join()
    assert not errors, errors
    box = t.drop / "hosted.test" / "alice"
    deadline = time.monotonic() + 300
    numbers = []
    while time.monotonic() < deadline:
        numbers = []
        for f in maildir_files(box):
            m = re.search(rb"\nX-Number: (\d+)\n", f.read_bytes())
            numbers.append(int(m.group(1)))
        if len(set(numbers)) == total:
            break
        time.sleep(0.5)
    duplicates = len(numbers) - len(set(numbers))
    print(f"kills: qmgr {kills['qmgr']}, local {kills['local']}; "
          f"duplicates {duplicates}")
    assert sorted(set(numbers)) == list(range(total))
    t.wait_until(lambda: not os.listdir(t.queue / "active") and
                 not os.listdir(t.queue / "incoming"), timeout=60, what="an empty queue")
    assert maildir_files(box, "tmp") == []
    assert duplicates <= kills["in_flight"]
    assert kills["qmgr"] > 0 and kills["local"] > 0


def pid_of(t, name):
    binary = str(t.bin / name).encode()
    for pid in t.processes():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0] == binary:
                    return pid
        except OSError:
            pass
    return None
