"""What the Python benchmarks share: finding the load tools (Postfix's
smtp-source and smtp-sink when the postfix package is installed, else
Tern's own bench/smtp_load and bench/smtp_sink), running a load and a
sink, waiting for a maildir to fill, reading CPU and memory from /proc,
and printing results.

Every benchmark prints human-readable lines and, last, one line

    RESULT {"bench": NAME, ...figures...}

which bench/summary.py gathers into the table of "make bench".
Benchmarks talk only to loopback addresses and stop by themselves.
"""
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/lib/postfix/sbin"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def find_program(name):
    return shutil.which(name, path=SBIN_PATH)


def postfix_tools():
    """{'postfix', 'smtp-source', 'smtp-sink'} -> path, for those found."""
    found = {}
    for name in ("postfix", "smtp-source", "smtp-sink"):
        path = find_program(name)
        if path:
            found[name] = path
    return found


def say(text):
    print(text, flush=True)


def result(name, **figures):
    say("RESULT " + json.dumps(dict(bench=name, **figures), sort_keys=True))


# ---- load and sink ----

class Load:
    """smtp-source (or bench/smtp_load) sending messages of length octets
    from sender to rcpt over sessions parallel sessions; runs in the
    background, wait() returns its elapsed time and output."""

    def __init__(self, build, port, messages, sessions=20, length=4096,
                 sender="load@bench.test", rcpt="bench@hosted.test", prefer_postfix=True):
        source = find_program("smtp-source") if prefer_postfix else None
        if source:
            self.tool = "smtp-source"
            argv = [source, "-s", str(sessions), "-m", str(messages), "-l", str(length),
                    "-f", sender, "-t", rcpt, "-M", "load.bench.test", f"127.0.0.1:{port}"]
        else:
            self.tool = "smtp_load"
            argv = [str(Path(build) / "bench" / "smtp_load"), "-p", str(port),
                    "-H", "127.0.0.1", "-s", str(sessions), "-m", str(messages),
                    "-z", str(length), "-f", sender, "-t", rcpt]
        self.argv = argv
        self.start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)

    def wait(self, timeout):
        out, _ = self.proc.communicate(timeout=timeout)
        elapsed = time.monotonic() - self.start
        if self.proc.returncode != 0:
            raise RuntimeError(f"{self.tool} failed ({self.proc.returncode}): {out.strip()}")
        return elapsed, out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Sink:
    """smtp-sink (or bench/smtp_sink) on 127.0.0.1:port, counting
    messages; reached(n) waits for the n-th and returns the monotonic
    time at which it arrived."""

    def __init__(self, build, port, expect):
        sink = find_program("smtp-sink")
        self.count = 0
        self.times = {}
        self.expect = expect
        self.cond = threading.Condition()
        if sink:
            self.tool = "smtp-sink"
            argv = [sink, "-c", "-u", "nobody", f"127.0.0.1:{port}", "1024"]
        else:
            self.tool = "smtp_sink"
            argv = [str(Path(build) / "bench" / "smtp_sink"), "-c", f"127.0.0.1:{port}"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     bufsize=0)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_port(port)

    def _read(self):
        pattern = re.compile(rb"mesg=(\d+)")
        pending = b""
        while True:
            chunk = self.proc.stdout.read(4096)
            if not chunk:
                break
            now = time.monotonic()
            pending += chunk
            parts = re.split(rb"[\r\n]", pending)
            pending = parts.pop()
            for part in parts:
                m = pattern.search(part)
                if m:
                    with self.cond:
                        self.count = max(self.count, int(m.group(1)))
                        self.times.setdefault(self.count, now)
                        self.cond.notify_all()

    def reached(self, n, timeout, failed=None):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count < n:
                why = failed() if failed else None
                if why:
                    raise RuntimeError(why)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.tool}: {self.count} of {n} messages "
                                       f"within {timeout}s")
                self.cond.wait(min(left, 1.0))
            return min(t for c, t in self.times.items() if c >= n)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_port(port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")
            time.sleep(0.05)


def wait_maildir(box, n, timeout, start, failed=None):
    """Polls box/new until it holds n files; returns the monotonic time
    at which it first saw them.  Polls less often while far off, so the
    poll costs little CPU.  failed() (when given) is asked at each poll
    and ends the wait with its reason (e.g. mail deferred)."""
    new = Path(box) / "new"
    deadline = start + timeout
    while True:
        why = failed() if failed else None
        if why:
            raise RuntimeError(why)
        try:
            count = len(os.listdir(new))
        except FileNotFoundError:
            count = 0
        now = time.monotonic()
        if count >= n:
            return now, count
        if now > deadline:
            raise RuntimeError(f"{new}: {count} of {n} files within {timeout:.0f}s")
        time.sleep(0.02 if n - count < 200 else 0.2)


# ---- /proc ----

def proc_name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    return os.path.basename(argv0.split()[0]) if argv0 else None


def proc_cpu(pid, children=False):
    """utime + stime in seconds (with children: also the reaped ones)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def cpu_by_name(pids):
    """{program name: CPU seconds} over the live processes in pids."""
    cpu = {}
    for pid in pids:
        name = proc_name(pid)
        if name:
            cpu[name] = cpu.get(name, 0.0) + proc_cpu(pid)
    return cpu


def cpu_table(cpu, messages):
    return ", ".join(f"{name} {1e3 * secs / messages:.2f}"
                     for name, secs in sorted(cpu.items(), key=lambda kv: -kv[1]) if secs > 0)


def ratio(a, b):
    return round(a / b, 2) if a and b else None


# ---- the side-by-side runs ----

def arguments(doc, messages=10000, runs=1):
    import argparse
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("build", help="Tern's build directory (make's BUILD)")
    ap.add_argument("-n", "--messages", type=int,
                    default=int(os.environ.get("BENCH_MESSAGES", messages)))
    ap.add_argument("-s", "--sessions", type=int, default=20)
    ap.add_argument("-l", "--length", type=int, default=4096, help="octets of body")
    ap.add_argument("--only", choices=("tern", "postfix"), help="run one side only")
    ap.add_argument("-r", "--runs", type=int, default=int(os.environ.get("BENCH_RUNS", runs)),
                    help="runs of each side, alternating; the median run is reported")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per side")
    args = ap.parse_args()
    args.build = str(Path(args.build).resolve())
    return args


def instance_cpu(pids, master):
    """{program: CPU seconds} of an instance's live processes, plus
    "(exited)": what its master's reaped children used."""
    cpu = cpu_by_name(pids)
    if master:
        exited = proc_cpu(master, children=True) - proc_cpu(master)
        if exited > 0:
            cpu["(exited)"] = exited
    return cpu


def timed_load(args, port, rcpt, finished=None):
    """Sends args.messages messages to rcpt on port; finished(start)
    waits until the last one has arrived where it should and returns
    that moment (without it, the run ends with the load).  Returns the
    figures of the run."""
    load = Load(args.build, port, args.messages, args.sessions, args.length, rcpt=rcpt)
    try:
        accepted, _out = load.wait(args.timeout)
    finally:
        load.kill()
    end = finished(load.start) if finished else load.start + accepted
    elapsed = end - load.start
    return {"tool": load.tool, "messages": args.messages, "seconds": round(elapsed, 2),
            "rate": round(args.messages / elapsed, 1),
            "accept_seconds": round(accepted, 2)}


def report_side(side, figures, cpu):
    say(f"{side}: {figures['messages']} messages in {figures['seconds']:.2f}s: "
        f"{figures['rate']:.0f} messages/s (the load, {figures['tool']}, ended after "
        f"{figures['accept_seconds']:.2f}s)")
    if cpu:
        say(f"{side}: CPU milliseconds per message: {cpu_table(cpu, figures['messages'])}")
        figures["cpu_ms_per_message"] = round(1e3 * sum(cpu.values()) / figures["messages"], 2)


def median_run(runs):
    """The run with the median rate, with every run's rate added."""
    ordered = sorted(runs, key=lambda f: f["rate"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rates"] = [f["rate"] for f in runs]
    return chosen


def compare(name, args, tern_side, postfix_side, target=None):
    """Runs tern_side() and postfix_side() (each returns the figures of
    one run) args.runs times, alternating, prints the median run of each
    and the ratio of their rates, then the RESULT line."""
    import postfix_instance
    res, runs = {}, {"tern": [], "postfix": []}
    why = postfix_instance.available()
    if args.only == "tern":
        why = "--only tern"
    elif why is None and not find_program("smtp-source"):
        why = "smtp-source is not installed"
    failures = []
    for i in range(args.runs):
        if args.runs > 1:
            say(f"-- run {i + 1} of {args.runs}")
        sides = [] if args.only == "postfix" else [("tern", tern_side)]
        sides += [] if why else [("postfix", postfix_side)]
        for side, run in sides:
            try:
                runs[side].append(run())
            except RuntimeError as e:
                say(f"{name}: {side} run {i + 1} FAILED: {e}")
                failures.append(f"{side} run {i + 1}: {e}")
    for side in ("tern", "postfix"):
        if runs[side]:
            res[side] = median_run(runs[side])
    if failures:
        res["failures"] = failures
    if why:
        say(f"{name}: the comparison with Postfix is SKIPPED: {why}")
        res["postfix_skipped"] = why
    if "tern" in res and "postfix" in res:
        res["ratio"] = ratio(res["tern"]["rate"], res["postfix"]["rate"])
    for side in ("tern", "postfix"):
        if side in res and args.runs > 1:
            say(f"{name}: {side} rates {res[side]['rates']} messages/s; median "
                f"{res[side]['rate']:.0f}")
    if "ratio" in res:
        say(f"{name}: Tern/Postfix = {res['ratio']}" + (f" (target >= {target})" if target else ""))
    if target:
        res["target"] = target
    result(name, **res)


def folder_not_empty(path, what):
    """A failed() for the waits: the reason when a queue folder (with
    its subfolders, as Postfix hashes them) holds a file."""
    def check():
        for _dirpath, _dirs, files in os.walk(path):
            if files:
                return f"{what}: mail in {path} (see the log; BENCH_KEEP=1 keeps it)"
        return None
    return check
