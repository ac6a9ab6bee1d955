"""pickup: maildrop/ as untrusted input (malformed files to corrupt/),
and the IIS-style Pickup folder (pickup_directory) with and without
X-Sender:/X-Receiver:.  The real daemons under master; what reached the
queue is read back through lib's reader.
"""
import os
import shutil
import subprocess
import time

from submit_fixture import (EX_OK, body_of, header, incoming, maildrop, picked_up, queued,
                            rcpt_addresses, sendmail, start_and_wait, submit_tern)


# ---- maildrop/ ----

def wait_corrupt(t, name, since=0):
    t.wait_for_log(rf"warning: {name}: moved from maildrop/ to corrupt/: ", since=since,
                   timeout=20)
    assert os.path.lexists(t.queue / "corrupt" / name)
    assert not (t.queue / "maildrop" / name).exists()


def test_malformed_maildrop_files_go_to_corrupt(tern):
    t = submit_tern(tern, start=False)
    t.run("setup", check=True)
    # a real submission while the system is down, to copy and damage
    assert sendmail(t, "bob@example.com", input=b"Subject: ok\n\nbody\n").returncode == EX_OK
    [good] = maildrop(t)
    data = (t.queue / "maildrop" / good).read_bytes()
    md = t.queue / "maildrop"
    (md / "0000000000000001").write_bytes(data[:len(data) // 2])  # truncated
    (md / "0000000000000002").write_bytes(b"not a queue file at all\n")
    flipped = bytearray(data)
    flipped[data.index(b"body")] ^= 0x01  # in the text, under END's CRC
    (md / "0000000000000003").write_bytes(bytes(flipped))  # CRC broken
    (md / "stray-name").write_bytes(data)
    os.symlink(str(md / good), str(md / "0000000000000004"))
    mark = t.log_mark()
    start_and_wait(t)
    for name in ("0000000000000001", "0000000000000002", "0000000000000003", "stray-name",
                 "0000000000000004"):
        wait_corrupt(t, name, since=mark)
    # the good one went on, and pickup kept going after the bad ones
    qid = picked_up(t, since=mark)
    t.wait_until(lambda: maildrop(t) == [], what="maildrop/ emptied")
    _, rcpts, _ = queued(t, qid)
    assert rcpt_addresses(rcpts) == ["bob@example.com"]
    assert incoming(t) == [qid]


def test_maildrop_file_that_is_not_a_local_submission(tern):
    """A valid queue file, but not one postdrop writes: remote mail with
    client facts and no local flag or uid.  It goes to corrupt/."""
    t = submit_tern(tern)
    p = subprocess.run([str(t.build / "tests" / "tools" / "cleanupq"),
                        "-s", str(t.queue / "private" / "cleanup"), "-f", "a@example.com",
                        "-r", "b@example.com", "-a", "client_addr=192.0.2.1", "-a", "helo=x"],
                       input=b"Subject: remote\n\nx\n", capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    qid = dict(line.split("=", 1) for line in p.stdout.decode().splitlines())["end.queue_id"]
    tmp = t.queue / "maildrop" / "tmp.X"  # written aside, renamed in
    shutil.copy(t.queue / "incoming" / qid, tmp)
    os.rename(tmp, t.queue / "maildrop" / "0000000000000009")
    mark = t.log_mark()
    wake(t)
    wait_corrupt(t, "0000000000000009", since=mark)
    assert ("0000000000000009: moved from maildrop/ to corrupt/: not a local submission"
            in t.log()[mark:])


def test_maildrop_temporaries_are_left_to_postdrop(tern):
    t = submit_tern(tern)
    (t.queue / "maildrop" / "tmp.1K10RQDNQ130052K").write_bytes(b"partial")
    sendmail(t, "bob@example.com", input=b"\nx\n")
    picked_up(t)
    time.sleep(0.5)
    assert (t.queue / "maildrop" / "tmp.1K10RQDNQ130052K").exists()
    assert not list((t.queue / "corrupt").iterdir())


# ---- the Pickup folder ----

def folder_tern(tern, tmp_path):
    pickup = tmp_path / "Pickup"
    pickup.mkdir()
    t = submit_tern(tern, main_cf={"pickup_directory": str(pickup)})
    return t, pickup


def drop(pickup, name, text):
    """Write under a temporary name, then rename in: the folder's rule."""
    tmp = pickup / (name + ".tmp")
    tmp.write_bytes(text)
    os.rename(tmp, pickup / name)


def wake(t):
    """postdrop's wakeup is what sendmail does; here: any submission."""
    assert sendmail(t, "wake@example.com", input=b"Subject: wake\n\nx\n").returncode == EX_OK


def folder_message(t, name, since):
    m = t.wait_for_log(rf"([0-9A-Z]{{16}}): uid=\d+ from=<([^>]*)> \(pickup folder {name}\)",
                       since=since, timeout=90)
    qid = m.group(1)
    t.wait_until(lambda: (t.queue / "incoming" / qid).exists(), what="committed")
    return queued(t, qid)


def test_pickup_folder_with_x_sender_and_x_receiver(tern, tmp_path):
    t, pickup = folder_tern(tern, tmp_path)
    mark = t.log_mark()
    drop(pickup, "one.eml",
         b"X-Sender: <app@example.com>\r\nX-Receiver: <a@example.net>\r\n"
         b"X-Receiver: b@example.net, c@example.net\r\n"
         b"From: Web App <noreply@example.com>\r\nTo: list@example.org\r\n"
         b"Bcc: hidden@example.org\r\nSubject: from IIS\r\n\r\nbody\r\n")
    wake(t)
    env, rcpts, content = folder_message(t, "one.eml", mark)
    assert env["sender"] == "app@example.com"
    assert rcpt_addresses(rcpts) == ["a@example.net", "b@example.net", "c@example.net"]
    assert int(env["flags"]) & 0x08 == 0  # the envelope is explicit
    assert header(content, "X-Sender") == [] and header(content, "X-Receiver") == []
    assert header(content, "Bcc") == []
    assert header(content, "To") == ["list@example.org"]
    assert header(content, "Subject") == ["from IIS"]
    assert body_of(content) == b"body\n"
    assert not (pickup / "one.eml").exists()
    assert env["uid"] == str(os.stat(pickup).st_uid)


def test_pickup_folder_without_x_receiver_is_sendmail_t(tern, tmp_path):
    t, pickup = folder_tern(tern, tmp_path)
    mark = t.log_mark()
    drop(pickup, "two.EML", b"From: Alice <alice@example.com>\nTo: bob@example.net\n"
                            b"Cc: carol@example.net\nBcc: dave@example.net\nSubject: t\n\nhi\n")
    wake(t)
    env, rcpts, content = folder_message(t, "two.EML", mark)
    assert env["sender"] == "alice@example.com"  # From: without X-Sender:
    assert rcpt_addresses(rcpts) == ["bob@example.net", "carol@example.net", "dave@example.net"]
    assert int(env["flags"]) & 0x08
    assert header(content, "Bcc") == []


def test_pickup_folder_bad_files_go_to_bad(tern, tmp_path):
    t, pickup = folder_tern(tern, tmp_path)
    mark = t.log_mark()
    drop(pickup, "nosender.eml", b"To: bob@example.net\nSubject: who\n\nx\n")
    drop(pickup, "norcpt.eml", b"From: a@example.com\nSubject: whom\n\nx\n")
    drop(pickup, "badrcpt.eml", b"X-Receiver: not an address@\nFrom: a@example.com\n\nx\n")
    drop(pickup, "hops.eml", b"From: a@example.com\nTo: b@example.net\n" +
         b"Received: from x by y\n" * 101 + b"\nx\n")
    (pickup / "partial.eml.tmp").write_bytes(b"From: a@example.com\nTo: b@exa")  # not taken
    (pickup / "notes.txt").write_bytes(b"From: a@example.com\nTo: b@example.net\n\nx\n")
    wake(t)
    for name in ("nosender.eml", "norcpt.eml", "badrcpt.eml", "hops.eml"):
        t.wait_for_log(rf"warning: {name}: moved to bad/: ", since=mark, timeout=90)
        assert (pickup / "bad" / name).exists()
        assert not (pickup / name).exists()
    log = t.log()[mark:]
    assert "nosender.eml: moved to bad/: no sender" in log
    assert "norcpt.eml: moved to bad/: cleanup: 554 5.5.1 No recipient addresses" in log
    assert "hops.eml: moved to bad/: cleanup: 554 5.4.6" in log
    assert (pickup / "partial.eml.tmp").exists() and (pickup / "notes.txt").exists()
    # nothing half-submitted: only the wakeup messages reached the queue
    for qid in incoming(t):
        env, _, _ = queued(t, qid)
        assert env["sender"] == "root@tern.test"
    # a second bad file of the same name does not replace the first
    drop(pickup, "nosender.eml", b"To: bob@example.net\n\nagain\n")
    mark = t.log_mark()
    wake(t)
    t.wait_for_log(r"warning: nosender.eml: moved to bad/: ", since=mark, timeout=90)
    assert len([p for p in (pickup / "bad").iterdir() if p.name.startswith("nosender")]) == 2


def test_pickup_folder_waits_while_cleanup_is_down(tern, tmp_path):
    pickup = tmp_path / "Pickup"
    pickup.mkdir()
    t = submit_tern(tern, main_cf={"pickup_directory": str(pickup)},
                    master_cf="pickup unix n - n 1 1 pickup\n", start=False)
    t.start()
    drop(pickup, "later.eml", b"From: a@example.com\nTo: b@example.net\n\nx\n")
    t.wait_for_log(r"warning: later.eml: connect private/cleanup: .*; will try again",
                   timeout=30)
    assert (pickup / "later.eml").exists()
    mark = t.log_mark()
    with open(t.etc / "master.cf", "a") as f:
        f.write("cleanup unix - - n - 0 cleanup\n")
    t.reload()
    folder_message(t, "later.eml", mark)
    assert not (pickup / "later.eml").exists()


def test_maildrop_message_that_cleanup_refuses_goes_to_corrupt(tern):
    """Nobody can be told any more (sendmail has exited): the file goes to
    corrupt/ (the Badmail folder) with cleanup's reply in the log."""
    t = submit_tern(tern, main_cf={"hopcount_limit": "5"})
    mark = t.log_mark()
    r = sendmail(t, "bob@example.com", input=b"Received: from a by b\n" * 6 + b"\nloop\n")
    assert r.returncode == EX_OK
    m = t.wait_for_log(r"warning: ([0-9A-Z]{16}): moved from maildrop/ to corrupt/: "
                       r"cleanup: 554 5.4.6 Too many hops", since=mark, timeout=20)
    assert (t.queue / "corrupt" / m.group(1)).exists()
    assert maildrop(t) == [] and incoming(t) == []
