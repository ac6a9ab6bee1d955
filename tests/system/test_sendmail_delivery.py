"""sendmail to the Drop: the whole path under the real master, sendmail
-> postdrop -> maildrop/ -> pickup -> cleanup -> qmgr -> local -> a
maildir.  newaliases then delivery through the new alias, -t -i -f -F as
the delivered file shows them, and -q and -bp against the real qmgr with
a deferred message.  Unprivileged mode: the local user is the invoking
user (drop_system_mailboxes puts its mailbox in the Drop), hosted.test a
hosted domain (drop_directory/hosted.test/<user>/).
"""
import os
import re
import time

from submit_fixture import (EX_OK, body_of, delivered, full_tern, header, run, sendmail,
                            start_and_wait)
from test_local import ME, maildir_files


def deferred(t):
    return sorted(n for n in os.listdir(t.queue / "deferred") if not n.startswith("tmp."))


def only(files):
    assert len(files) == 1, files
    return files[0].read_bytes()


# ---- newaliases, then delivery through the new alias ----

def test_newaliases_then_delivery_through_the_alias(tern):
    t = full_tern(tern, main_cf={"table_change_check_interval": "1s"}, start=False)
    aliases = t.etc / "aliases"
    aliases.write_text(f"# the team\nteam: {ME},\n  alice@hosted.test, bob@hosted.test\n")
    t.write_main_cf(alias_maps=f"cdb:{aliases}")
    r = run(t, "newaliases")
    assert r.returncode == EX_OK, r.stderr
    assert r.stdout.decode() == f"{aliases}: 1 aliases\n"
    start_and_wait(t)
    mark = t.log_mark()
    r = sendmail(t, "team@tern.test", input=b"Subject: to the team\n\nhello team\n")
    assert r.returncode == EX_OK, r.stderr
    boxes = {ME: t.drop / ME, "alice@hosted.test": t.drop / "hosted.test" / "alice",
             "bob@hosted.test": t.drop / "hosted.test" / "bob"}
    for member, box in boxes.items():
        text = only(delivered(box))
        assert header(text, "Return-Path") == [f"<{ME}@tern.test>"], text
        assert header(text, "Subject") == ["to the team"]
        assert body_of(text) == b"hello team\n"
        address = member if "@" in member else f"{member}@tern.test"
        assert header(text, "Delivered-To")[0] == address, text
        t.wait_for_log(rf"orig_to=<team@tern\.test>, member=<{re.escape(address)}>, "
                       r"dsn=2\.0\.0, status=sent", since=mark)
    t.wait_for_log(r"to=<team@tern\.test>, relay=local, .*dsn=2\.0\.0, status=sent "
                   r"\(delivered to 3 destinations\)", since=mark, timeout=20)

    # a new alias while the system runs: newaliases, local sees the new
    # table (and restarts), the next message goes through it
    mark = t.log_mark()
    aliases.write_text(f"team: {ME}\nsales: carol@hosted.test, \\{ME}\n")
    r = run(t, "newaliases")
    assert r.returncode == EX_OK, r.stderr
    assert r.stdout.decode() == f"{aliases}: 2 aliases\n"
    t.wait_for_log(rf"tern/local\[\d+\]: table cdb:{re.escape(str(aliases))} has changed",
                   since=mark, timeout=20)
    r = sendmail(t, "sales@tern.test", input=b"Subject: to sales\n\nhello sales\n")
    assert r.returncode == EX_OK, r.stderr
    text = only(delivered(t.drop / "hosted.test" / "carol"))
    assert header(text, "Subject") == ["to sales"]
    files = delivered(t.drop / ME, 2)  # \ME: ME's own mailbox, a second message
    assert sorted(header(f.read_bytes(), "Subject")[0] for f in files) == ["to sales",
                                                                           "to the team"]
    t.wait_for_log(r"to=<sales@tern\.test>, relay=local, .*status=sent", since=mark)
    # the old members of team got nothing more
    assert len(maildir_files(boxes["alice@hosted.test"])) == 1
    assert len(maildir_files(boxes["bob@hosted.test"])) == 1


# ---- -t -i -f -F, as delivered ----

def test_t_i_f_F_as_delivered(tern):
    t = full_tern(tern)
    text = (f"To: {ME}@tern.test, Alice <alice@hosted.test>\nCc: bob@hosted.test\n"
            "Bcc: carol@hosted.test\nSubject: extracted\n\nfirst\n.\nafter the dot\n").encode()
    r = sendmail(t, "-t", "-i", "-f", "sender@example.org", "-F", "Sender Name", input=text)
    assert r.returncode == EX_OK, r.stderr
    boxes = {f"{ME}@tern.test": t.drop / ME,
             "alice@hosted.test": t.drop / "hosted.test" / "alice",
             "bob@hosted.test": t.drop / "hosted.test" / "bob",
             "carol@hosted.test": t.drop / "hosted.test" / "carol"}
    for address, box in boxes.items():
        got = only(delivered(box))
        assert header(got, "Return-Path") == ["<sender@example.org>"], got
        assert header(got, "Delivered-To") == [address]
        assert header(got, "From") == ["Sender Name <sender@example.org>"]
        assert header(got, "To") == [f"{ME}@tern.test, Alice <alice@hosted.test>"]
        assert header(got, "Cc") == ["bob@hosted.test"]
        assert header(got, "Bcc") == [], got  # not even in the Bcc recipient's copy
        fields = got.split(b"\n\n", 1)[0].split(b"\n")
        assert not [f for f in fields if b"carol" in f and not f.startswith(b"Delivered-To:")]
        assert body_of(got) == b"first\n.\nafter the dot\n"  # -i: the dot is text

    # without -i the lone dot ends the message; -F with the caller's own
    # address (the login name, qualified with myorigin)
    r = sendmail(t, "-F", "The Admin", f"{ME}@tern.test",
                 input=b"Subject: dots\n\nbefore\n.\nnot sent\n")
    assert r.returncode == EX_OK, r.stderr
    files = delivered(t.drop / ME, 2)
    got = [f.read_bytes() for f in files if b"Subject: dots" in f.read_bytes()]
    assert len(got) == 1, files
    assert header(got[0], "Return-Path") == [f"<{ME}@tern.test>"]
    assert header(got[0], "From") == [f"The Admin <{ME}@tern.test>"]
    assert body_of(got[0]) == b"before\n"

    # -f <>: the null sender; an existing From: is kept whatever -F says
    r = sendmail(t, "-f", "<>", "-F", "Not Used", "alice@hosted.test",
                 input=b"From: Real <real@example.net>\nSubject: null\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    files = delivered(t.drop / "hosted.test" / "alice", 2)
    got = [f.read_bytes() for f in files if b"Subject: null" in f.read_bytes()]
    assert len(got) == 1, files
    assert header(got[0], "Return-Path") == ["<>"]
    assert header(got[0], "From") == ["Real <real@example.net>"]


# ---- -q and -bp against the real qmgr ----

def test_q_retries_a_deferred_message_at_once_and_bp_shows_it(tern, tmp_path):
    # retries an hour apart: only a flush can bring the message back
    t = full_tern(tern, main_cf={"retry_schedule": "1h", "queue_run_delay": "1h"})
    assert run(t, "mailq").stdout == b"Mail queue is empty\n"
    # a symbolic link planted as alice's mailbox: refused, deferred
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (t.drop / "hosted.test").mkdir(parents=True, exist_ok=True)
    os.symlink(elsewhere, t.drop / "hosted.test" / "alice")
    mark = t.log_mark()
    r = sendmail(t, "-f", "sender@example.org", "alice@hosted.test",
                 input=b"Subject: deferred\n\nlater\n")
    assert r.returncode == EX_OK, r.stderr
    m = t.wait_for_log(r"([0-9A-Z]{16}): to=<alice@hosted\.test>, relay=local, .*dsn=4\.\d\.\d, "
                       r"status=deferred \((.*)\)$", since=mark, timeout=20)
    qid, reason = m.group(1), m.group(2)
    t.wait_until(lambda: deferred(t) == [qid], what="the message in deferred/")

    # -bp (and mailq): the deferred message, its sender, recipient and reason
    r = run(t, "sendmail", "-bp")
    assert r.returncode == EX_OK, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("-Queue ID-")
    entry = [x for x in lines if x.startswith(qid)]
    assert len(entry) == 1, lines
    # "ID", no mark (neither active nor held), the size, the arrival time
    # in 20 columns, the sender
    assert re.fullmatch(rf"{qid}  [ \d]{{8}} \w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d {{3}}"
                        r"sender@example\.org", entry[0]), entry
    at = lines.index(entry[0])
    assert lines[at + 1] == f"   ({reason})"
    assert lines[at + 2].strip() == "alice@hosted.test"
    assert lines[-1] == "-- 1 Kbytes in 1 Request."
    assert run(t, "mailq").stdout == r.stdout
    assert os.listdir(elsewhere) == []

    # -q with the obstacle still there: an attempt at once, deferred again
    mark = t.log_mark()
    r = run(t, "sendmail", "-q")
    assert r.returncode == EX_OK, r.stderr
    t.wait_for_log(rf"{qid}: to=<alice@hosted\.test>, relay=local, .*status=deferred",
                   since=mark, timeout=10)
    t.wait_until(lambda: deferred(t) == [qid], what="deferred again")

    # -qR for another site leaves it alone
    mark = t.log_mark()
    assert run(t, "sendmail", "-qRother.test").returncode == EX_OK
    time.sleep(1.5)
    assert f"{qid}: to=<alice" not in t.log()[mark:]
    assert deferred(t) == [qid]

    # the obstacle gone, -qR for its site: delivered at once
    os.unlink(t.drop / "hosted.test" / "alice")
    mark = t.log_mark()
    r = run(t, "sendmail", "-qRhosted.test")
    assert r.returncode == EX_OK, r.stderr
    got = only(delivered(t.drop / "hosted.test" / "alice", timeout=10))
    assert header(got, "Subject") == ["deferred"]
    assert header(got, "Return-Path") == ["<sender@example.org>"]
    t.wait_for_log(rf"{qid}: to=<alice@hosted\.test>, relay=local, .*status=sent", since=mark)
    t.wait_for_log(rf"{qid}: removed", since=mark)
    t.wait_until(lambda: run(t, "mailq").stdout == b"Mail queue is empty\n",
                 what="an empty queue")
    assert os.listdir(elsewhere) == []
