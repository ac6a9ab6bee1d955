#!/usr/bin/python3
"""smtpd acceptance (issue 5): messages per second that smtpd answers
with 250, each only after cleanup's durable commit.

    /usr/bin/python3 bench/accept.py BUILD [-n 10000] [-s 20] [-l 4096]

smtp-source (or bench/smtp_load without Postfix's tools) sends the
messages over SESSIONS parallel sessions, one message per connection,
to a Tern instance with smtpd, cleanup and trivial-rewrite but no qmgr,
so the files stay in incoming/; the rate is messages / the load's
running time.  Postfix, when installed, is measured the same way
(smtpd and cleanup, no qmgr, and so in_flow_delay = 0s) for comparison.
"""
import os

import benchlib
import postfix_instance
import tern_instance


def tern_side(args):
    t = tern_instance.tern_instance(args.build, ["cleanup", "rewrite"])
    try:
        figures = benchlib.timed_load(args, t.port(), tern_instance.HOSTED_BOX)
        queued = len([f for f in os.listdir(t.queue / "incoming") if not f.startswith("tmp")])
        cpu = benchlib.instance_cpu(t.processes(), t.master_pid())
    finally:
        tern_instance.stop(t)
    benchlib.report_side("Tern", figures, cpu)
    benchlib.say(f"Tern: {queued} files committed in incoming/")
    figures["queued"] = queued
    return figures


def postfix_side(args):
    # Without qmgr, in_flow_delay would hold each message for up to 1s
    # waiting for qmgr's tokens: off, as for a pure acceptance figure.
    p = postfix_instance.Postfix(tern_instance.free_port(), main_cf={"in_flow_delay": "0s"},
                                 with_qmgr=False).start()
    try:
        figures = benchlib.timed_load(args, p.port, postfix_instance.HOSTED_BOX)
        queued = p.queue_count()
        cpu = benchlib.instance_cpu(p.processes(), p.master_pid())
    finally:
        p.stop()
    benchlib.report_side("Postfix", figures, cpu)
    benchlib.say(f"Postfix: {queued} files committed in incoming/")
    figures["queued"] = queued
    return figures


def main():
    args = benchlib.arguments(__doc__)
    benchlib.say(f"smtpd acceptance: {args.sessions} sessions, {args.messages} messages "
                 f"of {args.length} octets, durable commits")
    benchlib.compare("accept", args, lambda: tern_side(args), lambda: postfix_side(args))


if __name__ == "__main__":
    main()
