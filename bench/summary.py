#!/usr/bin/python3
"""The summary table of "make bench": reads the log that bench/run.sh
kept (every benchmark's output, each after a "== NAME" line) and prints
one row per figure, with Postfix's figure and the ratio where there is
one, and the target.

    /usr/bin/python3 bench/summary.py BUILD/bench/bench.log

The Python benchmarks end with a "RESULT {json}" line; the shell ones
and qmgr.py print lines of their own, matched here by the patterns
below.  A figure that is missing is shown as "-".
"""
import json
import re
import sys


def sections(text):
    """{script name: its output}"""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^== (\S+)$", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


def find(pattern, text, group=1, cast=float):
    m = re.search(pattern, text or "", re.M)
    return cast(m.group(group)) if m else None


def fmt(value, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:.2f}" if value < 10 else f"{value:.0f}"
    return f"{value}{unit}"


def compared(rows, res, label):
    if res is None:
        rows.append((label, "-", "-", "-", "", "not run"))
        return
    tern, postfix = res.get("tern", {}), res.get("postfix")
    target = res.get("target")
    r = res.get("ratio")
    verdict = ""
    if target and r is not None:
        verdict = "met" if r >= target else "BELOW TARGET"
    if postfix is None:
        verdict = "Postfix skipped: " + res.get("postfix_skipped", "?")
    if res.get("failures"):
        verdict += f" ({len(res['failures'])} run(s) FAILED, see the log)"
    rows.append((label, fmt(tern.get("rate"), " msg/s"),
                 fmt(postfix.get("rate"), " msg/s") if postfix else "-",
                 fmt(r, "x") if r is not None else "-",
                 f">= {target}x" if target else "", verdict))


def main():
    text = open(sys.argv[1], errors="replace").read()
    parts = sections(text)
    results = {}
    for out in parts.values():
        for m in re.finditer(r"^RESULT (\{.*\})$", out, re.M):
            res = json.loads(m.group(1))
            results[res["bench"]] = res
    rows = []
    compared(rows, results.get("accept"), "1. smtpd acceptance, 20 sessions, 4 KiB")
    acc = parts.get("smtpd_accept.sh")
    rate = find(r"rate=([\d.]+)/s", acc)
    rows.append(("1. smtpd acceptance (smtpd_accept.sh, smtp_load)", fmt(rate, " msg/s"),
                 "", "", "", "" if acc is not None else "not run"))
    idle = parts.get("smtpd_idle.sh")
    rss = find(r"smtpd resident memory: (\d+) MiB", idle, cast=int)
    fresh = find(r"fresh_transaction_seconds=([\d.]+)", idle)
    ready = find(r"idle=\d+ ready=(\d+)", idle, cast=int)
    rows.append(("2. 10,000 idle sessions: smtpd RSS", fmt(rss, " MiB"), "", "",
                 "< 200 MiB", "" if rss is None else ("met" if rss < 200 else "MISSED")))
    rows.append(("2. fresh transaction meanwhile", fmt(fresh, " s"), "", "", "< 1 s",
                 "" if fresh is None else ("met" if fresh < 1 else "MISSED")
                 + (f" ({ready} sessions ready)" if ready is not None else "")))
    q = parts.get("qmgr.py")
    rows.append(("3. qmgr, 10,000 messages, test agent",
                 fmt(find(r"delivered \d+ messages .*: ([\d.]+) messages/s", q), " msg/s"),
                 "", "", "", "" if q is not None else "not run"))
    rows.append(("3. qmgr CPU per message",
                 fmt(find(r"qmgr CPU: .* (\d+) microseconds per message", q, cast=int), " us"),
                 "", "", "", ""))
    compared(rows, results.get("e2e"), "4. end to end into the Drop")
    compared(rows, results.get("relay"), "5. relay to a sink")
    head = ("figure", "Tern", "Postfix", "Tern/Postfix", "target", "")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("\n== summary (2-core machine; see docs/benchmarks.md)")
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    main()
