#!/usr/bin/python3
"""End to end (issue 8): from the first connection to the last file in
the Drop, durable on both sides, Tern and Postfix side by side.

    /usr/bin/python3 bench/e2e.py BUILD [-n 10000] [-s 20] [-l 4096] [-r 3] [--only tern|postfix]

smtp-source (or bench/smtp_load) sends MESSAGES messages of LENGTH
octets over SESSIONS parallel sessions to one hosted mailbox.  Tern:
smtpd, cleanup, trivial-rewrite, qmgr and local, the mailbox in
virtual_mailbox_maps, delivered into a maildir under the Drop.  Postfix:
a separate instance delivering through virtual(8) into a maildir, with
its defaults.  The run ends when the last file is in new/.  Target:
Tern at least 1.5 times Postfix's messages per second.
"""
import benchlib
import postfix_instance
import tern_instance


def tern_side(args):
    t = tern_instance.tern_instance(args.build, ["cleanup", "rewrite", "qmgr", "local"])
    box = tern_instance.hosted_box(t)
    try:
        figures = benchlib.timed_load(
                args, t.port(), tern_instance.HOSTED_BOX,
                lambda start: benchlib.wait_maildir(
                        box, args.messages, args.timeout, start,
                        benchlib.folder_not_empty(t.queue / "deferred", "deferred"))[0])
        cpu = benchlib.instance_cpu(t.processes(), t.master_pid())
    finally:
        tern_instance.stop(t)
    benchlib.report_side("Tern", figures, cpu)
    return figures


def postfix_side(args):
    p = postfix_instance.Postfix(tern_instance.free_port()).start()
    try:
        figures = benchlib.timed_load(
                args, p.port, postfix_instance.HOSTED_BOX,
                lambda start: benchlib.wait_maildir(
                        p.hosted_box(), args.messages, args.timeout, start,
                        benchlib.folder_not_empty(p.queue / "deferred", "deferred"))[0])
        cpu = benchlib.instance_cpu(p.processes(), p.master_pid())
    finally:
        p.stop()
    benchlib.report_side("Postfix", figures, cpu)
    return figures


def main():
    args = benchlib.arguments(__doc__, runs=3)
    benchlib.say(f"end to end: {args.sessions} sessions, {args.messages} messages of "
                 f"{args.length} octets to one hosted mailbox, until the last file is "
                 "in the maildir")
    benchlib.compare("e2e", args, lambda: tern_side(args), lambda: postfix_side(args),
                     target=1.5)


if __name__ == "__main__":
    main()
