"""A separate Postfix instance for the side-by-side benchmarks: its own
config_directory, queue_directory, data_directory, mailbox base and log
under a temporary directory, listening on 127.0.0.1 only, on a port of
its own, started with "postfix -c DIR start" and stopped at the end.
The system's Postfix (if any) is never touched or started.

Postfix's defaults are kept, durability included: cleanup fsyncs each
queue file, virtual(8) fsyncs each maildir file.  No service is
chrooted (a chroot would need copies of /etc files in the temporary
queue).  Needs root (Postfix's master starts as root and its daemons run
as mail_owner "postfix") and Debian's postfix package; the benchmarks
check for it and skip the comparison without it.
"""
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import find_program, wait_port

POSTFIX_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
{qmgr}
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

HOSTED_BOX = "bench@hosted.test"


def available():
    """None when Postfix can run here, else why not."""
    if not find_program("postfix"):
        return "Debian's postfix package is not installed"
    if os.geteuid() != 0:
        return "the Postfix instance needs root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "there is no postfix user"
    return None


class Postfix:
    def __init__(self, port, main_cf=None, with_qmgr=True):
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="postfix-bench-"))
        os.chmod(self.root, 0o755)
        self.etc = self.root / "etc"
        self.queue = self.root / "spool"
        self.data = self.root / "data"
        self.drop = self.root / "drop"
        self.maillog = self.root / "maillog"
        for d in (self.etc, self.queue, self.data, self.drop):
            d.mkdir()
        nobody = pwd.getpwnam("nobody")
        postfix = pwd.getpwnam("postfix")
        os.chown(self.drop, nobody.pw_uid, nobody.pw_gid)
        os.chown(self.data, postfix.pw_uid, postfix.pw_gid)
        (self.etc / "vmailbox").write_text(f"{HOSTED_BOX} hosted.test/bench/\n")
        cf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test",
            "mydomain": "bench.test",
            "mydestination": "$myhostname, localhost",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.root,
            "virtual_mailbox_domains": "hosted.test",
            "virtual_mailbox_base": self.drop,
            "virtual_mailbox_maps": f"texthash:{self.etc}/vmailbox",
            "virtual_uid_maps": f"static:{nobody.pw_uid}",
            "virtual_gid_maps": f"static:{nobody.pw_gid}",
        }
        cf.update(main_cf or {})
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in cf.items()))
        qmgr = "qmgr unix n - n 300 1 qmgr" if with_qmgr else ""
        (self.etc / "master.cf").write_text(POSTFIX_MASTER_CF.format(port=port, qmgr=qmgr))
        self.started = False

    def postfix(self, *args, check=True):
        r = subprocess.run([find_program("postfix"), "-c", str(self.etc), *args],
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)}: {r.stdout}{r.stderr}\n"
                               f"log:\n{self.log()[-3000:]}")
        return r

    def start(self):
        self.postfix("start")
        self.started = True
        wait_port(self.port, timeout=30)
        return self

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    def master_pid(self):
        try:
            return int((self.data / "master.lock").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def processes(self):
        """The instance's processes: master and its descendants."""
        master = self.master_pid()
        if master is None:
            return []
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        found, todo = [], [master]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += [p for p, pp in parents.items() if pp == pid]
        return found

    def hosted_box(self):
        return self.drop / "hosted.test" / "bench"

    def queue_count(self):
        total = 0
        for folder in ("incoming", "active", "deferred"):
            for _dirpath, _dirs, files in os.walk(self.queue / folder):
                total += len(files)
        return total

    def stop(self):
        pids = self.processes()
        if self.started:
            self.postfix("stop", check=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
            time.sleep(0.1)
        for pid in pids:
            try:
                if os.readlink(f"/proc/{pid}/exe").startswith("/usr/lib/postfix/"):
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        self.started = False
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)
