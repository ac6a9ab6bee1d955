"""Tern instances for the benchmarks, made as the system tests make them:
this imports the harness of tests/system/conftest.py (class Tern:
unprivileged mode, its own queue, Drop and log under a temporary
directory, daemon_directory = BUILD/bin) and adds the master.cf lines
of the benchmarks' set-ups.  Nothing is tuned: the commit is the
durable one (fsync of the file and of incoming/), local fsyncs each
maildir file and its directory.
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests" / "system"))

import conftest  # noqa: E402  (the system tests' harness, on the path above)

Tern = conftest.Tern
free_port = conftest.free_port  # a free loopback port, also for Postfix and the sink

SERVICES = {
    "cleanup": "cleanup unix - - n - 0 cleanup",
    "rewrite": "rewrite unix - - n - - trivial-rewrite",
    "qmgr": "qmgr unix n - n 300 1 qmgr",
    "local": "local unix - n n - - local",
    "smtp": "smtp unix - - n - - smtp",
}

HOSTED_BOX = "bench@hosted.test"


def tern_instance(build, services, main_cf=None, smtpd_options=()):
    """A started Tern instance in a fresh temporary directory, with an
    smtpd listener on a free loopback port and the named services of
    SERVICES.  Call .cleanup() (stop, and kill anything left), then
    remove .root."""
    os.environ["TERN_BUILD"] = str(Path(build).resolve())  # read by Tern()
    root = Path(tempfile.mkdtemp(prefix="tern-bench-")) / "tern"
    cf = {"myorigin": "tern.test", "mydestination": "tern.test, localhost",
          "virtual_mailbox_domains": "hosted.test",
          "virtual_mailbox_maps": f"inline:{{{HOSTED_BOX}=hosted.test/bench/}}"}
    cf.update(main_cf or {})
    t = Tern(root, main_cf=cf)
    lines = [f"127.0.0.1:{t.port()} inet n - n - - smtpd"]
    lines += [f"    -o {o}" for o in smtpd_options]
    lines += [SERVICES[s] for s in services]
    t.write_master_cf("\n".join(lines) + "\n")
    sockets = [t.queue / ("public" if SERVICES[s].split()[2] == "n" else "private") / s
               for s in services]
    try:
        t.start()
        t.wait_until(lambda: all(p.exists() for p in sockets), timeout=20,
                     what="the internal services' sockets")
        wait_listening(t.port())
    except BaseException:
        stop(t)
        raise
    return t


def wait_listening(port):
    from benchlib import wait_port
    wait_port(port)


def master_pid(t):
    return t.master_pid()


def hosted_box(t):
    return t.drop / "hosted.test" / "bench"


def stop(t):
    """Stops the instance, kills anything it left, and removes its
    directory (kept when BENCH_KEEP is set)."""
    left = t.cleanup()
    if left:
        print(f"warning: killed processes left behind by the Tern instance: {left}")
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(t.root.parent, ignore_errors=True)
