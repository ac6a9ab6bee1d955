"""make install, and local submission on a production (root-mode) install.

The layout test installs the current build into a temporary DESTDIR.
The root test builds and installs a whole Tern whose compiled-in paths
(SYSCONFDIR, PREFIX, SPOOLDIR) are a temporary directory, so that its
sendmail, run by an unprivileged user without -C, finds its own main.cf;
make install runs tern setup, which makes postdrop setgid ternpost.  Then
"nobody" submits through the setgid postdrop, and may not name a
configuration directory of its own; its mail goes all the way (pickup,
cleanup, qmgr, local) to a hosted mailbox in the Drop, written as the
hosted-mail uid (virtual_uid_maps), never as root.
"""
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import TOP, build_dir, instance_processes
from submit_fixture import EX_NOPERM, EX_OK

MAKE_ENV_DROP = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
VMAIL_UID = 5000  # the hosted mailboxes' owner: virtual_uid_maps, no account needed
VMAIL_GID = 5001


def make_env():
    return {k: v for k, v in os.environ.items() if k not in MAKE_ENV_DROP}


def mode_of(path):
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


@pytest.mark.timeout(900)
def test_make_install_layout(tmp_path):
    build = build_dir()
    dest = tmp_path / "dest"
    # "-o all": install what this build made, whatever flags it was made with
    r = subprocess.run(["make", "-C", str(TOP), "-o", "all", f"BUILD={build}", f"DESTDIR={dest}",
                        "INSTALL_SENDMAIL_LINKS=yes", "install"],
                       capture_output=True, text=True, timeout=800, env=make_env())
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    sbin = dest / "usr/local/sbin"
    libexec = dest / "usr/local/libexec/tern"
    for p in ("tern", "sendmail", "postdrop"):
        assert mode_of(sbin / p)[0] == 0o755, p
    for p in ("master", "cleanup", "pickup", "trivial-rewrite"):
        assert mode_of(libexec / p)[0] == 0o755, p
    assert os.readlink(sbin / "mailq") == "sendmail"
    assert os.readlink(sbin / "newaliases") == "sendmail"
    for f in ("main.cf", "master.cf"):
        assert mode_of(dest / "etc/tern" / f)[0] == 0o644
    assert (dest / "usr/local/share/man/man1/sendmail.1").exists()
    assert (dest / "usr/local/share/man/man8/tern.8").exists()
    assert os.readlink(dest / "usr/sbin/sendmail") == "/usr/local/sbin/sendmail"
    assert os.readlink(dest / "usr/lib/sendmail") == "/usr/local/sbin/sendmail"
    assert os.readlink(dest / "usr/bin/mailq") == "/usr/local/sbin/mailq"
    assert os.readlink(dest / "usr/bin/newaliases") == "/usr/local/sbin/newaliases"
    # without INSTALL_SENDMAIL_LINKS nothing outside PREFIX and SYSCONFDIR
    dest2 = tmp_path / "dest2"
    r = subprocess.run(["make", "-C", str(TOP), "-o", "all", f"BUILD={build}",
                        f"DESTDIR={dest2}", "install"],
                       capture_output=True, text=True, timeout=800, env=make_env())
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(os.listdir(dest2)) == ["etc", "usr"]
    assert sorted(os.listdir(dest2 / "usr")) == ["local"]


# ---- root mode, installed ----

class Installed:
    def __init__(self, top):
        self.top = top
        self.prefix = top / "usr"
        self.etc = top / "etc" / "tern"
        self.spool = top / "spool"
        self.log = top / "log" / "maillog"
        self.sbin = self.prefix / "sbin"

    def tern(self, *args, check=True):
        r = subprocess.run([str(self.sbin / "tern"), *args], capture_output=True, text=True,
                           timeout=120)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r

    def as_nobody(self, *args, input=b"", env=None):
        # LeakSanitizer cannot run in a setgid process (postdrop): in a
        # sanitizer build, leaks are checked everywhere but here.
        e = {"PATH": "/usr/bin:/bin", "ASAN_OPTIONS": "detect_leaks=0"}
        e.update(env or {})
        return subprocess.run(["/usr/sbin/runuser", "-u", "nobody", "--", *args], input=input,
                              capture_output=True, timeout=60, env=e)

    def wait_log(self, text, since=0, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                log = self.log.read_text(errors="replace")
            except FileNotFoundError:
                log = ""
            if text in log[since:]:
                return log
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not logged; log:\n{log[since:]}")

    def log_mark(self):
        try:
            return len(self.log.read_text(errors="replace"))
        except FileNotFoundError:
            return 0


def write_config(inst):
    inst.etc.mkdir(parents=True)
    (inst.top / "log").mkdir()
    (inst.top / "alt").mkdir()
    main_cf = (f"queue_directory = {inst.spool}\n"
               f"drop_directory = {inst.top}/drop\n"
               f"maillog_file = {inst.log}\n"
               "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
               "myhostname = tern.test\nmyorigin = tern.test\n"
               "mydestination = tern.test, localhost\nalias_maps =\n"
               "queue_minfree = 1m\nmaster_stop_grace = 5s\n"
               "virtual_mailbox_domains = hosted.test\n"
               f"virtual_uid_maps = static:{VMAIL_UID}\n"
               f"virtual_gid_maps = static:{VMAIL_GID}\n"
               "retry_schedule = 1h\nqueue_run_delay = 1h\n"
               f"alternate_config_directories = {inst.top}/alt\n")
    (inst.etc / "main.cf").write_text(main_cf)
    (inst.top / "alt" / "main.cf").write_text(main_cf)
    # the production lines of conf/master.cf for these services
    (inst.etc / "master.cf").write_text("pickup unix n - - 60 1 pickup\n"
                                        "cleanup unix - - n - 0 cleanup\n"
                                        "qmgr unix n - - 300 1 qmgr\n"
                                        "rewrite unix - - n - - trivial-rewrite\n"
                                        "local unix - n n - - local\n")
    for d in (inst.top, inst.top / "etc", inst.etc, inst.top / "alt"):
        os.chmod(d, 0o755)


@pytest.mark.root
@pytest.mark.timeout(900)
def test_root_install_setgid_postdrop_and_unprivileged_submission():
    top = Path(tempfile.mkdtemp(prefix="tern-install-", dir="/tmp"))
    inst = Installed(top)
    try:
        write_config(inst)  # make install keeps an existing main.cf and master.cf
        r = subprocess.run(["make", "-C", str(TOP), "-j2", f"BUILD={top}/build",
                            f"PREFIX={inst.prefix}", f"SYSCONFDIR={top}/etc",
                            f"SPOOLDIR={inst.spool}", "install"],
                           capture_output=True, text=True, timeout=800, env=make_env())
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert "tern setup: queue directory" in r.stdout  # run by make install as root
        run_checks(inst)
    finally:
        if (inst.spool / "pid" / "master.sock").exists():
            inst.tern("stop", check=False)
        for pid in instance_processes(str(top)):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(top, ignore_errors=True)


def run_checks(inst):
    ternpost = grp.getgrnam("ternpost").gr_gid
    tern_uid = pwd.getpwnam("tern").pw_uid
    nobody = pwd.getpwnam("nobody").pw_uid
    assert mode_of(inst.sbin / "postdrop") == (0o2755, 0, ternpost)
    assert mode_of(inst.sbin / "sendmail")[0] == 0o755
    assert mode_of(inst.spool / "maildrop") == (0o1730, tern_uid, ternpost)
    assert mode_of(inst.spool / "public")[:2] == (0o2710, tern_uid)
    sendmail = str(inst.sbin / "sendmail")

    # the system is down: the submission waits in maildrop/, as nobody's file
    r = inst.as_nobody(sendmail, "alice@hosted.test", input=b"Subject: while down\n\nbody\n")
    assert r.returncode == EX_OK, r.stderr
    [waiting] = os.listdir(inst.spool / "maildrop")
    mode, uid, gid = mode_of(inst.spool / "maildrop" / waiting)
    assert (mode, uid, gid) == (0o444, nobody, ternpost)
    # a copy that root owns claims nobody's uid: pickup refuses it
    forged = "0000000000000007"
    shutil.copy(inst.spool / "maildrop" / waiting, inst.spool / "maildrop" / forged)

    mark = inst.log_mark()
    inst.tern("start")
    log = inst.wait_log(f"(maildrop {waiting})", since=mark)
    inst.wait_log(f"{forged}: moved from maildrop/ to corrupt/: file owner is not the uid",
                  since=mark)
    qid = re.search(rf"([0-9A-Z]{{16}}): uid={nobody} from=<nobody> \(maildrop {waiting}\)",
                    log[mark:]).group(1)
    # ... and is delivered into the Drop, written as the hosted-mail uid
    alice = inst.top / "drop" / "hosted.test" / "alice"
    inst.wait_log(f"{qid}: to=<alice@hosted.test>, relay=local, ", since=mark)
    log = inst.wait_log(f"{qid}: removed", since=mark)
    assert re.search(rf"{qid}: to=<alice@hosted\.test>, relay=local, .*status=sent "
                     r"\(delivered to maildir\)", log[mark:]), log[mark:]
    [f] = os.listdir(alice / "new")
    text = (alice / "new" / f).read_bytes()
    assert f".Q{qid}R0." in f
    assert text.startswith(b"Return-Path: <nobody@tern.test>\n"
                           b"Delivered-To: alice@hosted.test\n")
    assert f"from userid {nobody}".encode() in text and b"Subject: while down\n" in text
    assert mode_of(alice / "new" / f) == (0o600, VMAIL_UID, VMAIL_GID)
    for d in ("", "new", "cur", "tmp"):
        assert mode_of(alice / d)[1:] == (VMAIL_UID, VMAIL_GID), d
    assert_nothing_written_as_root(inst.top / "drop")

    # the system is up: submitted at once, pickup woken by postdrop, delivered
    mark = inst.log_mark()
    r = inst.as_nobody(sendmail, "-t", input=b"To: carol@hosted.test\nSubject: up\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    log = inst.wait_log(f"uid={nobody} from=<nobody> (maildrop ", since=mark)
    qid = re.search(rf"([0-9A-Z]{{16}}): uid={nobody} from=<nobody> \(maildrop ",
                    log[mark:]).group(1)  # pickup's line: the queue ID, not postdrop's
    inst.wait_log(f"{qid}: removed", since=mark)
    carol = inst.top / "drop" / "hosted.test" / "carol"
    [f] = os.listdir(carol / "new")
    assert b"\nSubject: up\n" in (carol / "new" / f).read_bytes()
    assert mode_of(carol / "new" / f) == (0o600, VMAIL_UID, VMAIL_GID)
    assert_nothing_written_as_root(inst.top / "drop")

    # no configuration directory of one's own, in any way
    for args, env in (([sendmail, "-C", "/tmp", "bob@example.com"], None),
                      ([sendmail, "bob@example.com"], {"TERN_CONFIG_DIR": "/tmp"}),
                      ([str(inst.sbin / "postdrop"), "-C", "/tmp"], None),
                      ([str(inst.sbin / "postdrop")], {"TERN_CONFIG_DIR": "/tmp"})):
        r = inst.as_nobody(*args, input=b"Subject: no\n\nx\n", env=env)
        assert r.returncode == EX_NOPERM, (args, r.returncode, r.stderr)
        assert b"alternate_config_directories" in r.stderr
    # ... but a listed one
    mark = inst.log_mark()
    r = inst.as_nobody(sendmail, "-C", str(inst.top / "alt"), "bob@example.com",
                       input=b"Subject: alt\n\nx\n")
    assert r.returncode == EX_OK, r.stderr
    inst.wait_log(f"uid={nobody} from=<nobody>", since=mark)
    # no smtp service in this master.cf: it waits in deferred/
    log = inst.wait_log("to=<bob@example.com>, relay=", since=mark)
    assert re.search(r"to=<bob@example\.com>, relay=.*status=deferred \(mail transport "
                     r"unavailable", log[mark:]), log[mark:]

    # the queue is mail_owner's: nobody cannot list it, root can
    r = inst.as_nobody(str(inst.sbin / "mailq"))
    assert r.returncode == EX_NOPERM
    r = subprocess.run([str(inst.sbin / "mailq")], capture_output=True, timeout=30)
    assert r.returncode == EX_OK, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[1].endswith("  nobody@tern.test"), lines
    assert lines[2] == "   (mail transport unavailable: no service smtp in master.cf)", lines
    assert lines[3].strip() == "bob@example.com" and lines[-1] == "-- 1 Kbytes in 1 Request."
    inst.tern("stop")


def assert_nothing_written_as_root(drop):
    """Below the Drop root made only the directories on the way to the
    mailboxes; every mailbox, its folders and its files are the hosted
    mail uid's."""
    for where, dirs, files in os.walk(drop):
        depth = len(Path(where).relative_to(drop).parts)
        for name in dirs + files:
            uid = os.lstat(os.path.join(where, name)).st_uid
            if depth == 0:  # drop/<domain>/
                assert uid == 0, (where, name)
            else:
                assert uid == VMAIL_UID, (where, name, uid)


# ---- the three set-ups of docs/setups.md ----

def setups():
    text = (TOP / "docs" / "setups.md").read_text()
    blocks = text.split("```main.cf\n")[1:]
    return [b.split("```", 1)[0] for b in blocks]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["mx", "null-client", "workstation"])
def test_setup_examples_pass_tern_check(tmp_path, index):
    from certs import make_ca, make_cert
    blocks = setups()
    assert len(blocks) == 3
    etc = tmp_path / "etc"
    etc.mkdir()
    main_cf = (blocks[index].replace("/etc/tern/", f"{etc}/")
               .replace("/var/spool/tern", str(tmp_path / "spool"))
               .replace("/var/lib/tern/drop", str(tmp_path / "drop"))
               .replace("/var/mail", str(tmp_path / "mail")))
    (etc / "main.cf").write_text(main_cf)
    shutil.copy(TOP / "conf" / "master.cf", etc / "master.cf")
    tern = str(build_dir() / "bin" / "tern")
    # the tables and files it names
    for word in main_cf.split():
        if word.startswith("cdb:"):
            src = Path(word[4:])
            src.write_text("postmaster@example.com  x\n" if "alias" not in src.name
                           else "postmaster: root\n")
            args = ["-a"] if "alias" in src.name else []
            r = subprocess.run([tern, "map", "build", *args, str(src)], capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, r.stderr
    if "smtpd_tls_cert_file" in main_cf:
        (etc / "tls").mkdir()
        ca = make_ca(tmp_path / "ca")
        cert, key = make_cert(ca, tmp_path / "ca", "mx1.example.net", dns=["mx1.example.net"])
        shutil.copy(cert, etc / "tls" / "cert.pem")
        shutil.copy(key, etc / "tls" / "key.pem")
    (tmp_path / "mail").mkdir()
    r = subprocess.run([tern, "-c", str(etc), "check"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in (r.stdout + r.stderr).lower()
