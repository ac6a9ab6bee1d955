#!/usr/bin/python3
"""Relay (issue 9): smtp-source into the MTA, the MTA relaying every
message to smtp-sink on another port, until the sink has received them
all; Tern and Postfix side by side.

    /usr/bin/python3 bench/relay.py BUILD [-n 10000] [-s 20] [-l 4096] [-r 3] [--only tern|postfix]

smtp-source (or bench/smtp_load) sends MESSAGES messages of LENGTH
octets over SESSIONS parallel sessions to bench@relay.test, a domain
that is not ours (the client is in mynetworks, so it may relay); both
MTAs send everything to relayhost = [127.0.0.1]:SINKPORT, where
smtp-sink (or bench/smtp_sink) counts the messages.  A fresh sink for
each side.  Target: Tern at least 1.5 times Postfix's messages per
second.
"""
import benchlib
import postfix_instance
import tern_instance

RCPT = "bench@relay.test"


def with_sink(args, side):
    """side(sink port, finished(start, deferred/ folder)) -> figures, cpu"""
    port = tern_instance.free_port()
    sink = benchlib.Sink(args.build, port, args.messages)
    try:
        figures, cpu = side(port, lambda start, deferred: sink.reached(
                args.messages, args.timeout, benchlib.folder_not_empty(deferred, "deferred")))
    finally:
        sink.stop()
    figures["sink"] = sink.tool
    return figures, cpu


def tern_side(args):
    def run(sink_port, finished):
        t = tern_instance.tern_instance(
                args.build, ["cleanup", "rewrite", "qmgr", "smtp"],
                main_cf={"relayhost": f"[127.0.0.1]:{sink_port}"})
        try:
            figures = benchlib.timed_load(args, t.port(), RCPT,
                                          lambda start: finished(start, t.queue / "deferred"))
            return figures, benchlib.instance_cpu(t.processes(), t.master_pid())
        finally:
            tern_instance.stop(t)

    figures, cpu = with_sink(args, run)
    benchlib.report_side("Tern", figures, cpu)
    return figures


def postfix_side(args):
    def run(sink_port, finished):
        p = postfix_instance.Postfix(tern_instance.free_port(),
                                     main_cf={"relayhost": f"[127.0.0.1]:{sink_port}"}).start()
        try:
            figures = benchlib.timed_load(args, p.port, RCPT,
                                          lambda start: finished(start, p.queue / "deferred"))
            return figures, benchlib.instance_cpu(p.processes(), p.master_pid())
        finally:
            p.stop()

    figures, cpu = with_sink(args, run)
    benchlib.report_side("Postfix", figures, cpu)
    return figures


def main():
    args = benchlib.arguments(__doc__, runs=3)
    benchlib.say(f"relay: {args.sessions} sessions, {args.messages} messages of {args.length} "
                 "octets, relayed to a sink, until the sink has received them all")
    benchlib.compare("relay", args, lambda: tern_side(args), lambda: postfix_side(args),
                     target=1.5)


if __name__ == "__main__":
    main()
