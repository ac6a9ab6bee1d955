"""local, the final delivery agent, driven through its socket by
tests/tools/localq (a queue file written with lib's writer and the
delivery request that qmgr would send), under the real master, with
cleanup for forwarded copies.  Mail lands in real maildirs, mbox files,
commands and files; the tests read them back.
"""
import os
import pwd
import re
import stat
import subprocess
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

ME = pwd.getpwuid(os.getuid()).pw_name

MESSAGE = ("From: sender@example.org\nTo: someone@tern.test\nSubject: test\n\n"
           "body line 1\nFrom the start of a line\nlast line\n")

LOCAL_CF = ("local unix - n n - - local\n"
            "cleanup unix - - n - 0 cleanup\n")


def local_tern(tern, main_cf=None, name="tern", aliases=None):
    cf = {"myorigin": "tern.test", "mydestination": "tern.test, localhost",
          "virtual_mailbox_domains": "hosted.test", "drop_system_mailboxes": "yes",
          "queue_minfree": "1m"}
    cf.update(main_cf or {})
    t = tern(main_cf=cf, master_cf=LOCAL_CF, name=name)
    if aliases is not None:
        set_aliases(t, aliases)
    t.start()
    t.wait_until(lambda: (t.queue / "private" / "local").exists(), what="private/local")
    return t


def set_aliases(t, text):
    src = t.etc / "aliases"
    src.write_text(textwrap.dedent(text))
    r = t.run("map", "build", "-a", str(src))
    assert r.returncode == 0, r.stderr
    t.write_main_cf(alias_maps=f"cdb:{src}")


def localq(t, rcpts, message=MESSAGE, sender="sender@example.org", extra=(), again=None,
           timeout=60):
    """Run localq; returns (queue ID, {index: answer dict}, done dict, completed)."""
    cmd = [str(t.build / "tests" / "tools" / "localq"), "-q", str(t.queue), "-f", sender]
    if again:
        cmd += ["-I", again]
    for r in rcpts:
        if isinstance(r, tuple):
            cmd += ["-r", r[0]] + list(r[1:])
        else:
            cmd += ["-r", r]
    cmd += list(extra)
    p = subprocess.run(cmd, input=message.encode() if isinstance(message, str) else message,
                       capture_output=True, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    qid, answers, done = None, {}, None
    for line in out.splitlines():
        if line.startswith("queue_id="):
            qid = line.split("=", 1)[1]
        elif line.startswith("rcpt="):
            fields = dict(re.findall(r"(\w+)=(.*?)(?= \w+=|$)", line))
            answers[int(fields["rcpt"])] = fields
        elif line.startswith("done "):
            done = dict(re.findall(r"(\w+)=(.*?)(?= \w+=|$)", line[5:]))
    return qid, answers, done, p


def deliver_one(t, rcpt, **kw):
    qid, answers, done, p = localq(t, [rcpt], **kw)
    assert done is not None and done["status"] == "ok", (p.stdout, p.stderr, t.log()[-3000:])
    return qid, answers[0]


def maildir_files(path, sub="new"):
    d = Path(path) / sub
    return sorted(d.iterdir()) if d.exists() else []


def only_file(path):
    files = maildir_files(path)
    assert len(files) == 1, files
    return files[0]


# ---- mailboxes ----

def test_local_user_into_drop(tern):
    t = local_tern(tern)
    qid, a = deliver_one(t, f"{ME}@tern.test")
    assert (a["status"], a["dsn"], a["relay"]) == ("sent", "2.0.0", "local"), a
    assert a["reason"] == "delivered to maildir"
    box = t.drop / ME
    f = only_file(box)
    text = f.read_bytes()
    assert text.startswith(b"Return-Path: <sender@example.org>\n" +
                           f"Delivered-To: {ME}@tern.test\n".encode() + b"From: sender@")
    # Stored text is LF only, no quoting in a maildir.
    assert b"\r" not in text and b"\nFrom the start of a line\n" in text
    # Idempotent name: arrival.Q<id>R<index>.host,S=size
    assert re.fullmatch(rf"\d+\.Q{qid}R0\.tern\.test,S={len(text)}", f.name), f.name
    for sub in ("tmp", "new", "cur"):
        assert (box / sub).is_dir()
    assert maildir_files(box, "tmp") == []
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_home_maildir_and_extension(tern, tmp_path):
    # A system account's ~/Maildir/ (home_mailbox); user+ext is the user.
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    t = local_tern(tern, {"drop_system_mailboxes": "no", "home_mailbox": "Maildir-tern-test/",
                          "recipient_delimiter": "+"})
    box = home / "Maildir-tern-test"
    try:
        qid, a = deliver_one(t, f"{ME}+box@tern.test")
        assert a["status"] == "sent", a
        f = only_file(box)
        assert f"Delivered-To: {ME}+box@tern.test\n".encode() in f.read_bytes()
    finally:
        subprocess.run(["rm", "-rf", str(box)])


def test_hosted_mailbox_from_address_and_map(tern):
    t = local_tern(tern)
    qid, a = deliver_one(t, "Alice@hosted.test")
    assert a["status"] == "sent", a
    only_file(t.drop / "hosted.test" / "alice")
    # With virtual_mailbox_maps: the map's path below the Drop; others unknown.
    vm = t.etc / "vmailbox"
    vm.write_text("bob@hosted.test hosted.test/b/bob/\n"
                  "carol@hosted.test /etc/evil/\n"
                  "dave@hosted.test ../../escape/\n"
                  f"erin@hosted.test {t.drop}/hosted.test/erin\n")
    assert t.run("map", "build", str(vm)).returncode == 0
    t.write_main_cf(virtual_mailbox_maps=f"cdb:{vm}")
    t.reload()
    time.sleep(1)
    qid, answers, done, p = localq(t, ["bob@hosted.test", "carol@hosted.test",
                                       "dave@hosted.test", "erin@hosted.test",
                                       "nobody@hosted.test"])
    assert answers[0]["status"] == "sent", answers
    only_file(t.drop / "hosted.test" / "b" / "bob")
    assert answers[1]["status"] == "deferred" and answers[1]["dsn"] == "4.3.5", answers[1]
    assert "outside" in answers[1]["reason"]
    assert answers[2]["status"] == "deferred" and ".." in answers[2]["reason"], answers[2]
    assert answers[3]["status"] == "sent", answers[3]
    only_file(t.drop / "hosted.test" / "erin")
    assert (answers[4]["status"], answers[4]["dsn"]) == ("bounced", "5.1.1"), answers[4]
    assert not Path("/etc/evil").exists() and not (t.drop.parent.parent / "escape").exists()


def encode(local):
    """The path encoding of docs/local.md."""
    out = ""
    for i, b in enumerate(local.lower().encode()):
        c = chr(b)
        if (c.isascii() and (c.islower() or c.isdigit()) or c in "-_+=.") and \
                not (i == 0 and c == "."):
            out += c
        else:
            out += "%%%02X" % b
    return out


def test_path_escapes_stay_in_the_drop(tern):
    t = local_tern(tern)
    before = set(os.listdir(t.root))
    rcpts = ["../../../../tmp/x@hosted.test", "a/../../b@hosted.test", "..@hosted.test",
             ".@hosted.test", "/etc/passwd@hosted.test", "%2e%2e@hosted.test"]
    qid, answers, done, p = localq(t, rcpts)
    assert done["status"] == "ok", p.stderr
    names = sorted(os.listdir(t.drop / "hosted.test"))
    for name in names:
        assert "/" not in name and name not in (".", "..")
        assert not name.startswith(".")
    # Each went to its own encoded mailbox.
    assert names == sorted(encode(r.rsplit("@", 1)[0]) for r in rcpts)
    assert "%2E.%2F..%2F..%2F..%2Ftmp%2Fx" in names
    assert "%2E." in names and "%2E" in names and "%252e%252e" in names
    for a in answers.values():
        assert a["status"] == "sent", a
    # Nothing was written anywhere but below the Drop.
    assert set(os.listdir(t.root)) == before
    assert not Path("/tmp/x").exists()
    # A local (system) recipient with "/" or ".." is unknown, never a path.
    qid, answers, done, p = localq(t, [f"../{ME}@tern.test", f"{ME}/x@tern.test"])
    for a in answers.values():
        assert (a["status"], a["dsn"]) == ("bounced", "5.1.1"), a


def test_mbox_spool_with_concurrent_deliveries(tern, tmp_path):
    spool = tmp_path / "mail"
    spool.mkdir()
    t = local_tern(tern, {"drop_system_mailboxes": "no", "home_mailbox": "",
                          "mail_spool_directory": str(spool)})
    n = 12
    results = []

    def one(i):
        body = MESSAGE.replace("body line 1", f"message number {i}")
        results.append(localq(t, [f"{ME}@tern.test"], message=body))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for qid, answers, done, p in results:
        assert answers[0]["status"] == "sent", (answers, p.stderr)
        assert answers[0]["reason"] == "delivered to mailbox"
    text = (spool / ME).read_text()
    messages = re.split(r"(?m)^(?=From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$)", text)
    messages = [m for m in messages if m]
    assert len(messages) == n
    for m in messages:
        assert m.startswith("From sender@example.org ")
        assert "\nReturn-Path: <sender@example.org>\n" in m
        assert "\n>From the start of a line\n" in m  # quoted
        assert m.endswith("last line\n\n")
    assert sorted(int(re.search(r"message number (\d+)", m).group(1)) for m in messages) \
        == list(range(n))
    assert not (spool / f"{ME}.lock").exists()


# ---- loops, repeats ----

def test_delivered_to_loop(tern):
    t = local_tern(tern)
    looped = f"Delivered-To: other@tern.test\nDelivered-To: {ME.upper()}@TERN.test\n" + MESSAGE
    qid, answers, done, p = localq(t, [f"{ME}@tern.test", "alice@hosted.test"], message=looped)
    assert (answers[0]["status"], answers[0]["dsn"]) == ("bounced", "5.4.6"), answers[0]
    assert "loop" in answers[0]["reason"]
    # Only this recipient's own Delivered-To counts.
    assert answers[1]["status"] == "sent", answers[1]
    assert not (t.drop / ME).exists()


def test_repeat_after_crash_is_not_duplicated(tern):
    t = local_tern(tern)
    qid, a = deliver_one(t, "alice@hosted.test")
    box = t.drop / "hosted.test" / "alice"
    first = only_file(box)
    # qmgr never recorded the result: the same request comes again.
    qid2, answers, done, p = localq(t, ["alice@hosted.test"], again=qid)
    assert qid2 == qid and answers[0]["status"] == "sent", answers
    assert "already" in answers[0]["reason"]
    assert maildir_files(box) == [first]
    # Also after a reader moved it to cur/ with flags.
    os.rename(first, box / "cur" / (first.name + ":2,S"))
    qid2, answers, done, p = localq(t, ["alice@hosted.test"], again=qid)
    assert answers[0]["status"] == "sent" and maildir_files(box) == []
    assert len(maildir_files(box, "cur")) == 1
    # A temporary left by a crash before the link is replaced, not kept.
    (box / "tmp" / "stale").write_text("x")
    qid3, a3 = deliver_one(t, "alice@hosted.test")
    assert len(maildir_files(box)) == 1


def test_request_must_match_queue_file(tern):
    t = local_tern(tern)
    qid, answers, done, p = localq(t, ["alice@hosted.test"], extra=["-n"])
    qid2, answers, done, p = localq(t, [("bob@hosted.test", "-i", "0"),
                                        ("carol@hosted.test", "-i", "5")], again=qid)
    for a in answers.values():
        assert (a["status"], a["dsn"]) == ("deferred", "4.3.0"), a
        assert a["reason"] == "queue file and request disagree"
    assert not (t.drop / "hosted.test").exists()


# ---- aliases ----

def test_alias_to_several_users(tern):
    t = local_tern(tern, aliases=f"""\
        team: {ME}, alice@hosted.test, bob@hosted.test, {ME}
        owner-team: {ME}
        nobody-here: nosuchuser
        """)
    qid, a = deliver_one(t, "team@tern.test")
    assert (a["status"], a["reason"]) == ("sent", "delivered to 3 destinations"), a
    for box in (t.drop / ME, t.drop / "hosted.test" / "alice", t.drop / "hosted.test" / "bob"):
        f = only_file(box)
        text = f.read_text()
        # owner-team is the sender of the expansion.
        assert text.startswith("Return-Path: <owner-team@tern.test>\n"), text[:200]
    assert "Delivered-To: alice@hosted.test\n" in only_file(t.drop / "hosted.test" / "alice") \
        .read_text()
    t.wait_for_log(rf"{qid}: orig_to=<team@tern.test>, member=<bob@hosted.test>, dsn=2.0.0, "
                   r"status=sent \(delivered to maildir\)")
    qid, a = deliver_one(t, "nobody-here@tern.test")
    assert (a["status"], a["dsn"]) == ("bounced", "5.1.1"), a
    assert 'unknown user: "nosuchuser"' in a["reason"]


def test_alias_self_reference_and_loop(tern):
    t = local_tern(tern, aliases=f"{ME}: {ME}, alice@hosted.test\n"
                   "a: b\n"
                   "b: a, bob@hosted.test\n" +
                   "".join(f"deep{i}: deep{i + 1}\n" for i in range(30)))
    qid, a = deliver_one(t, f"{ME}@tern.test")
    assert a["status"] == "sent", a
    only_file(t.drop / ME)
    only_file(t.drop / "hosted.test" / "alice")
    # a -> b -> a: a is its own ancestor: a is a user? no: unknown; bob gets it.
    qid, a = deliver_one(t, "a@tern.test")
    assert a["status"] == "sent", a
    assert "failed for good" in a["reason"] and 'unknown user: "a"' in a["reason"]
    only_file(t.drop / "hosted.test" / "bob")
    qid, a = deliver_one(t, "deep0@tern.test")
    assert (a["status"], a["dsn"]) == ("bounced", "5.4.6"), a


PIPE_SCRIPT = """\
#!/bin/sh
# Records its environment, arguments and standard input.
out="{out}"
env | sort > "$out.env"
cat > "$out.stdin"
id -u > "$out.uid"
pwd > "$out.cwd"
exit ${{EXIT:-{code}}}
"""


def pipe_script(tmp_path, name, code=0):
    out = tmp_path / name
    script = tmp_path / f"{name}.sh"
    script.write_text(PIPE_SCRIPT.format(out=out, code=code))
    script.chmod(0o755)
    return script, out


def read_env(out):
    env = {}
    for line in Path(f"{out}.env").read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    return env


def test_alias_to_pipe(tern, tmp_path):
    script, out = pipe_script(tmp_path, "pipe")
    fail, fout = pipe_script(tmp_path, "fail", code=67)
    temp, tout = pipe_script(tmp_path, "temp", code=75)
    slow = tmp_path / "slow.sh"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    t = local_tern(tern, {"command_time_limit": "2s"}, aliases=f"""\
        pipe: "|{script} --flag"
        fail: |{fail}
        temp: |{temp}
        slow: |{slow}
        """)
    # An envelope made to break a shell: it never reaches one.
    evil = "x$(touch${IFS}/tmp/tern-pwned)`id`;|&@example.org"
    qid, a = deliver_one(t, ("pipe@tern.test", "-O", "rfc822;Pipe@Tern.Test"), sender=evil)
    assert a["status"] == "sent", a
    assert a["reason"] == f"delivered to command: {script} --flag"
    env = read_env(out)
    assert env["SENDER"] == evil
    assert env["RECIPIENT"] == "pipe@tern.test"
    assert env["ORIGINAL_RECIPIENT"] == "Pipe@Tern.Test"
    assert env["QUEUE_ID"] == qid
    assert env["PATH"] == "/usr/bin:/bin"
    for k in ("HOME", "USER", "SHELL"):
        assert k in env
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == \
        {"SENDER", "RECIPIENT", "ORIGINAL_RECIPIENT", "QUEUE_ID", "HOME", "USER", "SHELL",
         "PATH"}, env
    assert not Path("/tmp/tern-pwned").exists()
    stdin = Path(f"{out}.stdin").read_text()
    assert stdin.startswith(f"From {evil} ")
    assert f"\nReturn-Path: <{evil}>\nDelivered-To: pipe@tern.test\nFrom: sender@" in stdin
    assert stdin.endswith("last line\n")
    assert Path(f"{out}.cwd").read_text() == "/\n"
    # Exit codes: 67 bounces with its code, 75 defers, a timeout defers.
    qid, a = deliver_one(t, "fail@tern.test")
    assert (a["status"], a["dsn"]) == ("bounced", "5.1.1"), a
    assert "status 67" in a["reason"]
    qid, a = deliver_one(t, "temp@tern.test")
    assert (a["status"], a["dsn"]) == ("deferred", "4.3.0"), a
    start = time.monotonic()
    qid, a = deliver_one(t, "slow@tern.test")
    assert (a["status"], a["dsn"]) == ("deferred", "4.3.0"), a
    assert "time limit" in a["reason"] and time.monotonic() - start < 20


def test_command_output_in_bounce(tern, tmp_path):
    script = tmp_path / "say.sh"
    script.write_text("#!/bin/sh\necho 'no such mailbox here' >&2\nexit 1\n")
    script.chmod(0o755)
    t = local_tern(tern, aliases=f"say: |{script}\n")
    qid, a = deliver_one(t, "say@tern.test")
    assert (a["status"], a["dsn"]) == ("bounced", "5.3.0"), a
    assert "no such mailbox here" in a["reason"]


def test_include_and_file(tern, tmp_path):
    inc = tmp_path / "list.inc"
    inc.write_text(f"# the list\nalice@hosted.test\n  bob@hosted.test, {ME}\n")
    box = tmp_path / "archive.mbox"
    t = local_tern(tern, aliases=f"""\
        list: :include:{inc}
        archive: {box}
        both: archive, list
        notabs: :include:relative
        maildir: {tmp_path}/md/
        """)
    qid, a = deliver_one(t, "list@tern.test")
    assert (a["status"], a["reason"]) == ("sent", "delivered to 3 destinations"), a
    only_file(t.drop / "hosted.test" / "alice")
    only_file(t.drop / "hosted.test" / "bob")
    only_file(t.drop / ME)
    qid, a = deliver_one(t, "archive@tern.test")
    assert (a["status"], a["reason"]) == ("sent", f"delivered to file: {box}"), a
    qid, a = deliver_one(t, "archive@tern.test")
    text = box.read_text()
    assert text.count("\nReturn-Path: <sender@example.org>\nDelivered-To: archive@tern.test\n") \
        == 2
    assert text.count("\n>From the start of a line\n") == 2
    assert text.startswith("From sender@example.org ") and text.endswith("last line\n\n")
    qid, a = deliver_one(t, "notabs@tern.test")
    assert a["status"] == "bounced", a
    qid, a = deliver_one(t, "maildir@tern.test")
    assert a["status"] == "sent", a
    only_file(tmp_path / "md")
    # A symbolic link is never followed for a file target.
    box.unlink()
    box.symlink_to(tmp_path / "elsewhere")
    qid, a = deliver_one(t, "archive@tern.test")
    assert (a["status"], a["dsn"]) == ("bounced", "5.2.0"), a
    assert not (tmp_path / "elsewhere").exists()


def test_include_commands_restricted(tern, tmp_path):
    script, out = pipe_script(tmp_path, "inc")
    inc = tmp_path / "cmd.inc"
    inc.write_text(f"|{script}\n")
    t = local_tern(tern, aliases=f"inc: :include:{inc}\n")
    qid, a = deliver_one(t, "inc@tern.test")
    assert (a["status"], a["dsn"]) == ("bounced", "5.7.1"), a
    assert not Path(f"{out}.env").exists()
    t.write_main_cf(allow_mail_to_commands="alias, forward, include")
    t.reload()
    time.sleep(1)
    qid, a = deliver_one(t, "inc@tern.test")
    assert a["status"] == "sent", a
    assert Path(f"{out}.env").exists()


def test_forward_file(tern, tmp_path):
    fwd = tmp_path / "fwd"
    fwd.mkdir()
    script, out = pipe_script(tmp_path, "fwdpipe")
    t = local_tern(tern, {"forward_path": f"{fwd}/$${{user}}.forward"})
    f = fwd / f"{ME}.forward"
    f.write_text(f"# forward\n\\{ME}, alice@hosted.test\n\"|{script}\"\n")
    f.chmod(0o644)
    qid, a = deliver_one(t, f"{ME}@tern.test")
    assert a["status"] == "sent", a
    only_file(t.drop / ME)
    only_file(t.drop / "hosted.test" / "alice")
    assert read_env(out)["RECIPIENT"] == f"{ME}@tern.test"
    # Group or world writable: ignored, the mailbox gets it.
    f.chmod(0o666)
    qid, a = deliver_one(t, f"{ME}@tern.test")
    assert a["reason"] == "delivered to maildir", a
    assert len(maildir_files(t.drop / ME)) == 2
    assert len(maildir_files(t.drop / "hosted.test" / "alice")) == 1
    t.wait_for_log(r"writable by others; ignored")
    # A symbolic link: ignored.
    f.unlink()
    (tmp_path / "real.forward").write_text("alice@hosted.test\n")
    f.symlink_to(tmp_path / "real.forward")
    qid, a = deliver_one(t, f"{ME}@tern.test")
    assert len(maildir_files(t.drop / ME)) == 3


def test_forward_to_remote_goes_through_cleanup(tern):
    t = local_tern(tern, aliases="""\
        away: friend@example.net, other@example.com
        """)
    before = set(os.listdir(t.queue / "incoming"))
    qid, a = deliver_one(t, ("away@tern.test", "-N", "failure"))
    assert a["status"] == "sent", a
    m = re.fullmatch(r"forwarded as (\w+)", a["reason"])
    assert m, a
    new = set(os.listdir(t.queue / "incoming")) - before
    assert new == {m.group(1)}
    p = subprocess.run([str(t.build / "tests" / "tools" / "qfdump"),
                        str(t.queue / "incoming" / m.group(1))], capture_output=True)
    out = p.stdout.decode()
    assert "sender=sender@example.org" in out
    assert "rcpt=friend@example.net\tnotify=2\torcpt=rfc822;away@tern.test" in out
    assert "rcpt=other@example.com" in out
    assert "\nDelivered-To: away@tern.test\n" in out


# ---- quotas ----

def test_mailbox_quota_defers_then_bounces(tern):
    t = local_tern(tern, {"mailbox_size_limit": "2000"})
    qid, a = deliver_one(t, "alice@hosted.test")
    assert a["status"] == "sent", a
    box = t.drop / "hosted.test" / "alice"
    assert (box / "maildirsize").read_text().startswith("2000S\n")
    big = MESSAGE + "x" * 1800 + "\n"
    qid, a = deliver_one(t, "alice@hosted.test", message=big)
    assert (a["status"], a["dsn"]) == ("deferred", "4.2.2"), a
    assert "over quota" in a["reason"]
    # Older than local_queue_lifetime: bounced, 5.2.2.
    t.write_main_cf(local_queue_lifetime="1h")
    t.reload()
    time.sleep(1)
    qid, a = deliver_one(t, "alice@hosted.test", message=big, extra=["-A", "7200"])
    assert (a["status"], a["dsn"]) == ("bounced", "5.2.2"), a
    # Deleting mail (maildirsize not told) frees the quota at the next check.
    for f in maildir_files(box):
        f.unlink()
    qid, a = deliver_one(t, "alice@hosted.test", message=big)
    assert a["status"] == "sent", a


def test_domain_quota(tern):
    t = local_tern(tern, {"domain_size_limit": "1500"})
    for user in ("alice", "bob"):
        qid, a = deliver_one(t, f"{user}@hosted.test", message=MESSAGE + "y" * 500 + "\n")
        assert a["status"] == "sent", a
    qid, a = deliver_one(t, "carol@hosted.test", message=MESSAGE + "y" * 500 + "\n")
    assert (a["status"], a["dsn"]) == ("deferred", "4.2.2"), a
    assert "domain is over quota" in a["reason"]
    # Another domain is not affected.
    t.write_main_cf(virtual_mailbox_domains="hosted.test, other.test")
    t.reload()
    time.sleep(1)
    qid, a = deliver_one(t, "carol@other.test", message=MESSAGE + "y" * 500 + "\n")
    assert a["status"] == "sent", a


# ---- root mode ----

@pytest.mark.root
def test_root_mode_writes_as_the_recipient(tern):
    user = f"terntest{os.getpid() % 100000}"
    subprocess.run(["userdel", "-r", user], capture_output=True)
    scratch = Path(tempfile.mkdtemp(prefix="tern-local-"))
    scratch.chmod(0o777)
    r = subprocess.run(["useradd", "-m", "-s", "/bin/sh", user], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    try:
        pw = pwd.getpwnam(user)
        home = Path(pw.pw_dir)
        script = scratch / "who.sh"
        script.write_text(f"#!/bin/sh\nid -u > {scratch}/who.out\n")
        script.chmod(0o755)
        t = tern(main_cf={"unprivileged_mode": "no", "myorigin": "tern.test",
                          "mydestination": "tern.test", "virtual_mailbox_domains": "hosted.test",
                          "virtual_uid_maps": f"static:{pw.pw_uid}",
                          "virtual_gid_maps": f"static:{pw.pw_gid}",
                          "queue_minfree": "1m"},
                 master_cf=LOCAL_CF)
        r = t.run("setup")
        assert r.returncode == 0, r.stdout + r.stderr
        set_aliases(t, f"runs: |{script}\n")
        t.start()
        t.wait_until(lambda: (t.queue / "private" / "local").exists(), what="private/local")
        qid, a = deliver_one(t, f"{user}@tern.test")
        assert a["status"] == "sent", (a, t.log()[-2000:])
        f = only_file(home / "Maildir")
        st = f.stat()
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
        # Hosted mail: the Drop mailbox belongs to the hosted uid, the domain to root.
        qid, a = deliver_one(t, "zed@hosted.test")
        assert a["status"] == "sent", (a, t.log()[-2000:])
        f = only_file(t.drop / "hosted.test" / "zed")
        assert f.stat().st_uid == pw.pw_uid
        for sub in ("", "new", "tmp", "cur"):
            assert (t.drop / "hosted.test" / "zed" / sub).stat().st_uid == pw.pw_uid
        assert (t.drop / "hosted.test").stat().st_uid == 0
        # A root-owned alias's command runs as default_privs (nobody), not root.
        qid, a = deliver_one(t, "runs@tern.test")
        assert a["status"] == "sent", (a, t.log()[-2000:])
        assert (scratch / "who.out").read_text().strip() == str(pwd.getpwnam("nobody").pw_uid)
        # Mail for root itself is never written as root.
        qid, a = deliver_one(t, "root@tern.test")
        assert a["status"] == "deferred" and "root" in a["reason"], a
        # Nothing in the user's home was written by root.
        for dirpath, dirs, files in os.walk(home):
            for n in dirs + files:
                assert os.lstat(os.path.join(dirpath, n)).st_uid == pw.pw_uid, n
    finally:
        subprocess.run(["userdel", "-r", user], capture_output=True)
        subprocess.run(["rm", "-rf", str(scratch)])
