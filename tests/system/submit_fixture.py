"""Helpers of the local-submission tests (test_sendmail*.py): a Tern
instance with pickup and cleanup, running sendmail and friends, reading
what reached incoming/ through lib's reader (tests/tools/qfdump)."""
import os
import re
import subprocess
import time

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_IOERR = 74
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78

SUBMIT_MASTER_CF = ("pickup unix n - n 60 1 pickup\n"
                    "cleanup unix - - n - 0 cleanup\n")


def submit_tern(tern, main_cf=None, master_cf=SUBMIT_MASTER_CF, start=True, name="tern"):
    """A Tern instance with pickup (public/pickup) and cleanup, started."""
    from conftest import build_dir
    cf = {"queue_minfree": "1m", "myorigin": "tern.test",
          "mydestination": "tern.test, localhost",
          "command_directory": str(build_dir() / "bin")}
    cf.update(main_cf or {})
    t = tern(main_cf=cf, master_cf=master_cf, name=name)
    if start:
        start_and_wait(t)
    return t


FULL_MASTER_CF = SUBMIT_MASTER_CF + ("rewrite unix - - n - - trivial-rewrite\n"
                                     "qmgr unix n - n 300 1 qmgr\n"
                                     "local unix - n n - - local\n")


def full_tern(tern, main_cf=None, start=True, name="tern"):
    """submit_tern with the whole path to the Drop: trivial-rewrite, qmgr
    and local too; hosted.test is a hosted domain, system accounts (the
    invoking user) get their mailbox in the Drop."""
    cf = {"virtual_mailbox_domains": "hosted.test", "drop_system_mailboxes": "yes",
          "ipc_timeout": "30s"}
    cf.update(main_cf or {})
    return submit_tern(tern, main_cf=cf, master_cf=FULL_MASTER_CF, start=start, name=name)


def unix_sockets(t):
    """The sockets of master.cf's unix services: public/NAME when the
    private column is n, else private/NAME."""
    paths = []
    for line in (t.etc / "master.cf").read_text().splitlines():
        f = line.split()
        if len(f) >= 3 and not line[0].isspace() and not f[0].startswith("#") and f[1] == "unix":
            paths.append(("public" if f[2] == "n" else "private") + "/" + f[0])
    return paths


def start_and_wait(t):
    """Start t and wait for the sockets of its unix services."""
    t.start()
    for path in unix_sockets(t):
        t.wait_until(lambda: (t.queue / path).exists(), what=path)


def delivered(box, n=1, timeout=30):
    """The files of maildir box's new/, once there are at least n."""
    new = box / "new"
    deadline = time.monotonic() + timeout
    while True:
        files = sorted(new.iterdir()) if new.is_dir() else []
        if len(files) >= n:
            return files
        if time.monotonic() > deadline:
            raise AssertionError(f"{box}: {len(files)} messages, expected {n}")
        time.sleep(0.05)


def run(t, program, *args, input=b"", env=None, confdir=True, timeout=60):
    """Run build/bin/PROGRAM with -C ETC; returns the CompletedProcess."""
    path = str(t.bin / program)
    cmd = [path] + (["-C", str(t.etc)] if confdir else []) + list(args)
    if isinstance(input, str):
        input = input.encode()
    full_env = dict(os.environ)
    full_env.pop("TERN_CONFIG_DIR", None)
    full_env.update(env or {})
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout,
                          env=full_env)


def sendmail(t, *args, **kw):
    return run(t, "sendmail", *args, **kw)


def picked_up(t, since=0, timeout=20):
    """The queue ID of the next message pickup handed to cleanup."""
    m = t.wait_for_log(r"tern/pickup\[\d+\]: ([0-9A-Z]{16}): uid=(\d+) from=<([^>]*)>",
                       timeout=timeout, since=since)
    return m.group(1)


def maildrop(t):
    return sorted(n for n in os.listdir(t.queue / "maildrop"))


def incoming(t):
    """Committed queue files (not cleanup's temporaries)."""
    return sorted(n for n in os.listdir(t.queue / "incoming") if not n.startswith("tmp."))


def qfdump(t, path):
    """(envelope dict, [rcpt dicts], content bytes) of a queue file."""
    p = subprocess.run([str(t.build / "tests" / "tools" / "qfdump"), str(path)],
                       capture_output=True, timeout=30)
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


def submitted(t, *args, input=b"", since=None, **kw):
    """sendmail ARGS < input, then wait for pickup: (envelope, rcpts, content)."""
    mark = t.log_mark() if since is None else since
    r = sendmail(t, *args, input=input, **kw)
    assert r.returncode == 0, (r.returncode, r.stderr.decode())
    qid = picked_up(t, since=mark)
    t.wait_until(lambda: (t.queue / "incoming" / qid).exists(), what="incoming/" + qid)
    return queued(t, qid)


def headers_of(content):
    head = content.split(b"\n\n", 1)[0].decode()
    fields = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += "\n" + line
        else:
            fields.append(line)
    return fields


def header(content, name):
    """The values of the fields called name (any case)."""
    out = []
    for f in headers_of(content):
        n, _, v = f.partition(":")
        if n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def body_of(content):
    return content.split(b"\n\n", 1)[1] if b"\n\n" in content else b""


def rcpt_addresses(rcpts):
    return sorted(r["address"] for r in rcpts)


def no_temporaries(t):
    return [n for n in os.listdir(t.queue / "maildrop") if n.startswith("tmp.")] == []


QUEUE_ID = re.compile(r"^[0-9A-Z]{16}$")
