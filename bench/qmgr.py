#!/usr/bin/python3
"""qmgr throughput: N queued messages to one destination, delivered by a
fast test agent (tests/tools/testagent without a script or log).

    /usr/bin/python3 bench/qmgr.py BUILD_DIR [-n 10000] [-r 1] [-p 20]

The messages are written into incoming/ while qmgr is idle, then one
wakeup starts the run; it ends when every message is removed.  Prints
messages per second through qmgr and qmgr's CPU time (user + system)
per message, read from /proc.  Everything runs in a temporary directory
in unprivileged mode; nothing is installed.
"""
import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time


def wakeup(path):
    body = b"\x07request" + struct.pack(">I", 6) + b"wakeup"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(struct.pack(">I", len(body)) + body)
    s.close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("-n", type=int, default=10000, help="messages")
    ap.add_argument("-r", type=int, default=1, help="recipients per message")
    ap.add_argument("-p", type=int, default=20, help="agent processes (maxproc)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    root = tempfile.mkdtemp(prefix="tern-bench-qmgr-")
    etc, spool, log = f"{root}/etc", f"{root}/spool", f"{root}/maillog"
    os.makedirs(etc)
    with open(f"{etc}/main.cf", "w") as f:
        f.write(f"unprivileged_mode = yes\nqueue_directory = {spool}\n"
                f"drop_directory = {root}/drop\nmaillog_file = {log}\n"
                f"daemon_directory = {build}/bin\ninet_interfaces = 127.0.0.1\n"
                "inet_protocols = ipv4\nmyhostname = tern.test\nmydestination = tern.test\n"
                "alias_maps =\nqueue_run_delay = 1h\n")
    with open(f"{etc}/master.cf", "w") as f:
        f.write("qmgr unix n - n 3600 1 qmgr\nrewrite unix - - n - - trivial-rewrite\n"
                f"smtp unix - - n - {args.p} {build}/tests/tools/testagent\n")
    tern = [f"{build}/bin/tern", "-c", etc]
    try:
        subprocess.run(tern + ["start"], check=True, capture_output=True)
        while not os.path.exists(f"{spool}/public/qmgr"):
            time.sleep(0.05)
        time.sleep(0.5)
        rcpts = []
        for i in range(args.r):
            rcpts += ["-r", f"user{i}@bench.test"]
        t0 = time.monotonic()
        subprocess.run([f"{build}/tests/tools/qinject", "-q", spool, "-n", str(args.n)] + rcpts,
                       check=True, stdout=subprocess.DEVNULL)
        print(f"queued {args.n} messages in {time.monotonic() - t0:.1f}s")
        pid = int(re.findall(r"tern/qmgr\[(\d+)\]", open(log).read())[-1])
        cpu0 = cpu_seconds(pid)
        t0 = time.monotonic()
        wakeup(f"{spool}/public/qmgr")
        while True:
            left = sum(len(os.listdir(f"{spool}/{d}")) for d in ("incoming", "active"))
            if left == 0:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        removed = open(log).read().count(": removed")
        deferred = len(os.listdir(f"{spool}/deferred"))
        print(f"delivered {removed} messages ({args.r} recipient(s) each, {args.p} agents) "
              f"in {elapsed:.2f}s: {removed / elapsed:.0f} messages/s")
        print(f"qmgr CPU: {cpu:.2f}s, {1e6 * cpu / max(removed, 1):.0f} microseconds per message")
        if deferred:
            print(f"warning: {deferred} messages deferred", file=sys.stderr)
    finally:
        subprocess.run(tern + ["stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
