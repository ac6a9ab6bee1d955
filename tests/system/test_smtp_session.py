"""smtp: the SMTP dialogue with fake remote servers.  EHLO and HELO,
PIPELINING, SIZE, 8BITMIME with quoted-printable conversion, SMTPUTF8,
DSN parameters, and the classification of every kind of reply.
"""
import time

import pytest

from dns_fixture import dns_server  # noqa: F401  (fixture)
from smtp_util import env  # noqa: F401  (fixture)

NEXTHOP = "[127.0.0.2]"


def test_ehlo_and_pipelining(env):
    mx = env.mx("127.0.0.2")
    env.start()
    answers, done = env.send(NEXTHOP, ["b1@far.example", "b2@far.example", "b3@far.example"])
    assert [answers[i]["status"] for i in range(3)] == ["sent"] * 3
    assert done["status"] == "ok"
    assert mx.verbs()[:6] == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA"]
    assert mx.commands[0][1] == "EHLO tern.test"
    # RCPT x3 and DATA came with MAIL, before its reply
    assert mx.pipelined >= 4
    assert len(mx.wait_messages(1)[0].rcpts) == 3


def test_no_pipelining_waits_for_each_reply(env):
    mx = env.mx("127.0.0.2", ext=["8BITMIME"])
    env.start()
    answers, _ = env.send(NEXTHOP, ["b1@far.example", "b2@far.example"])
    assert answers[0]["status"] == answers[1]["status"] == "sent"
    assert mx.pipelined == 0
    assert "SIZE=" not in mx.messages[0].mail


def test_helo_fallback(env):
    mx = env.mx("127.0.0.2", ehlo=False)
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob@far.example"])
    assert answers[0]["status"] == "sent"
    assert mx.verbs()[:3] == ["EHLO", "HELO", "MAIL"]
    assert mx.messages[0].mail == "<alice@tern.test>"


def test_helo_only_destination(env):
    env.dns.set_zones({"old.example.": [("MX", 10, "mx.old.example.")],
                       "mx.old.example.": [("A", "127.0.0.2")]})
    mx = env.mx("127.0.0.2")
    env.start(smtp_helo_only_destinations=".old.example")
    answers, _ = env.send("old.example", ["bob@old.example"])
    assert answers[0]["status"] == "sent"
    assert mx.verbs()[0] == "HELO"
    assert "EHLO" not in mx.verbs()


def test_size_refusal_sends_nothing(env):
    mx = env.mx("127.0.0.2", ext=["PIPELINING", "SIZE 50"])
    env.start()
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert answers[0]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.3.4"
    assert "exceeds size limit 50" in answers[0]["reason"]
    assert "MAIL" not in mx.verbs()
    assert done["status"] == "ok"


def test_size_declared(env):
    mx = env.mx("127.0.0.2")
    env.start()
    env.send(NEXTHOP, ["bob@far.example"])
    mail = mx.wait_messages(1)[0].mail
    assert " SIZE=" in mail
    size = int(mail.split("SIZE=")[1].split()[0])
    assert abs(size - len(mx.messages[0].data)) < 10


EIGHTBIT = ("From: alice@tern.test\nTo: bob@far.example\nSubject: plain\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            "Caf\u00e9 cr\u00e8me = 1 \n.dot line\n").encode()

MULTIPART = ("From: alice@tern.test\nMIME-Version: 1.0\n"
             "Content-Type: multipart/mixed; boundary=\"BOUND\"\n\n"
             "preamble\n--BOUND\nContent-Type: text/plain; charset=utf-8\n\n"
             "na\u00efve text\n--BOUND\nContent-Type: application/octet-stream\n"
             "Content-Transfer-Encoding: base64\n\nAAECAwQ=\n"
             "--BOUND\nContent-Type: text/plain\n\nascii only\n--BOUND--\nepilogue\n").encode()


def test_8bit_to_8bitmime_peer(env):
    mx = env.mx("127.0.0.2")
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob@far.example"], message=EIGHTBIT, args=["-8"])
    assert answers[0]["status"] == "sent"
    msg = mx.wait_messages(1)[0]
    assert "BODY=8BITMIME" in msg.mail
    assert "Caf\u00e9".encode() in msg.data


def test_8bit_converted_for_7bit_peer(env):
    mx = env.mx("127.0.0.2", ext=["PIPELINING"])
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob@far.example"], message=EIGHTBIT, args=["-8"])
    assert answers[0]["status"] == "sent"
    msg = mx.wait_messages(1)[0]
    assert "BODY=" not in msg.mail
    assert all(b < 0x80 for b in msg.data), msg.data
    assert b"Content-Transfer-Encoding: quoted-printable\r\n" in msg.data
    assert b"Content-Transfer-Encoding: 8bit" not in msg.data
    assert b"Caf=C3=A9 cr=C3=A8me =3D 1=20\r\n" in msg.data
    assert b"\r\n..dot line\r\n" in msg.data


def test_8bit_multipart_converts_only_8bit_parts(env):
    mx = env.mx("127.0.0.2", ext=[])
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob@far.example"], message=MULTIPART, args=["-8"])
    assert answers[0]["status"] == "sent"
    data = mx.wait_messages(1)[0].data
    assert all(b < 0x80 for b in data)
    parts = data.split(b"--BOUND")
    assert len(parts) == 5, data
    assert b"quoted-printable" in parts[1] and b"na=C3=AFve text" in parts[1]
    assert b"AAECAwQ=" in parts[2] and b"quoted-printable" not in parts[2]
    assert b"quoted-printable" not in parts[3] and b"ascii only" in parts[3]
    assert parts[4].startswith(b"--\r\nepilogue")


def test_8bit_long_line_soft_breaks(env):
    mx = env.mx("127.0.0.2", ext=[])
    env.start()
    body = ("\u00e9" * 200 + "\n").encode()
    msg = b"Subject: long\n\n" + body
    env.send(NEXTHOP, ["bob@far.example"], message=msg)
    data = mx.wait_messages(1)[0].data
    assert b"MIME-Version: 1.0\r\n" in data
    assert b"Content-Transfer-Encoding: quoted-printable\r\n" in data
    body_out = data.split(b"\r\n\r\n", 1)[1]
    lines = body_out.split(b"\r\n")
    assert max(len(line) for line in lines) <= 76
    joined = b"".join(line[:-1] if line.endswith(b"=") else line for line in lines)
    assert joined.count(b"=C3=A9") == 200


def test_smtputf8_needed_and_missing(env):
    mx = env.mx("127.0.0.2", ext=["PIPELINING", "8BITMIME"])
    env.start()
    answers, done = env.send(NEXTHOP, ["bob@far.example", "j\u00f6rg@far.example"],
                             args=["-U"])
    assert answers[0]["status"] == "sent", answers
    assert answers[1]["status"] == "bounced"
    assert answers[1]["dsn"] == "5.6.7"
    assert "SMTPUTF8 is required" in answers[1]["reason"]
    msg = mx.wait_messages(1)[0]
    assert "SMTPUTF8" not in msg.mail
    assert msg.rcpts == ["<bob@far.example>"]


def test_smtputf8_header_bounces_all(env):
    mx = env.mx("127.0.0.2", ext=["PIPELINING", "8BITMIME"])
    env.start()
    message = "Subject: gr\u00fc\u00dfe\n\nhi\n".encode()
    answers, _ = env.send(NEXTHOP, ["bob@far.example"], message=message, args=["-U"])
    assert answers[0]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.6.7"
    assert mx.messages == []


def test_smtputf8_flag_without_utf8_is_sent(env):
    mx = env.mx("127.0.0.2", ext=["PIPELINING", "8BITMIME"])
    env.start()
    message = "Subject: plain\n\nbody caf\u00e9\n".encode()
    answers, _ = env.send(NEXTHOP, ["bob@far.example"], message=message, args=["-U", "-8"])
    assert answers[0]["status"] == "sent"
    msg = mx.wait_messages(1)[0]
    assert "SMTPUTF8" not in msg.mail
    assert "BODY=8BITMIME" in msg.mail


def test_smtputf8_offered(env):
    mx = env.mx("127.0.0.2")
    env.start()
    answers, _ = env.send(NEXTHOP, ["j\u00f6rg@far.example"], args=["-U"])
    assert answers[0]["status"] == "sent"
    msg = mx.wait_messages(1)[0]
    assert " SMTPUTF8" in msg.mail
    assert msg.rcpts[0] == "<j\u00f6rg@far.example>"


def test_dsn_parameters_passed_on(env):
    mx = env.mx("127.0.0.2")
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob+x@far.example"],
                          args=["-N", "success,failure", "-O", "-R", "hdrs", "-E", "env+id=1"])
    assert answers[0]["status"] == "sent"
    assert answers[0]["relayed"] == "0"
    msg = mx.wait_messages(1)[0]
    assert " RET=HDRS" in msg.mail
    assert " ENVID=env+2Bid+3D1" in msg.mail
    assert msg.rcpts[0] == "<bob+x@far.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Bx@far.example"


def test_dsn_not_offered_marks_relayed(env):
    mx = env.mx("127.0.0.2", ext=["PIPELINING"])
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob@far.example", "carol@far.example"],
                          args=["-N", "success", "-R", "full"])
    assert answers[0]["status"] == "sent"
    assert answers[0]["relayed"] == "1"
    msg = mx.wait_messages(1)[0]
    assert "RET=" not in msg.mail and "NOTIFY" not in msg.rcpts[0]


def test_rcpt_partial_refusal(env):
    mx = env.mx("127.0.0.2", replies={
        "RCPT <nobody@far.example>": "550 5.1.1 <nobody@far.example>: user unknown",
        "RCPT <later@far.example>": "452 4.2.2 mailbox full"})
    env.start()
    answers, done = env.send(NEXTHOP, ["bob@far.example", "nobody@far.example",
                                       "later@far.example"])
    assert answers[0]["status"] == "sent"
    assert answers[1]["status"] == "bounced" and answers[1]["dsn"] == "5.1.1"
    assert "said: 550 5.1.1 <nobody@far.example>: user unknown (in reply to RCPT TO" \
        in answers[1]["reason"]
    assert answers[2]["status"] == "deferred" and answers[2]["dsn"] == "4.2.2"
    assert done["status"] == "ok"
    assert mx.wait_messages(1)[0].rcpts == ["<bob@far.example>"]


def test_all_rcpts_refused_then_rset(env):
    mx = env.mx("127.0.0.2", replies={"RCPT": "550 5.7.1 relaying denied"})
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob@far.example", "carol@far.example"])
    assert answers[0]["status"] == answers[1]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.7.1"
    assert mx.messages == []
    # the next message on the same connection starts with RSET
    mx.replies.clear()
    answers, _ = env.send(NEXTHOP, ["dave@far.example"])
    assert answers[0]["status"] == "sent"
    assert answers[0]["conn_use"] == "2"
    assert "RSET" in mx.verbs(conn=1)


def test_mail_5xx_bounces_everyone(env):
    env.mx("127.0.0.2", replies={"MAIL": "553 5.1.8 sender rejected"})
    env.start()
    answers, done = env.send(NEXTHOP, ["bob@far.example", "carol@far.example"])
    assert answers[0]["status"] == answers[1]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.1.8"
    assert "(in reply to MAIL FROM command)" in answers[0]["reason"]
    assert done["status"] == "ok"


def test_mail_4xx_defers_destination(env):
    env.mx("127.0.0.2", replies={"MAIL": "451 4.3.0 local problem"})
    env.start()
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert answers == {}
    assert done["status"] == "defer"
    assert done["dsn"] == "4.3.0"
    assert "451 4.3.0 local problem" in done["reason"]


@pytest.mark.parametrize("stage,code", [("DATA", "554 5.6.0 no thanks"),
                                        ("EOD", "552 5.3.4 too big"),
                                        ("EOD", "451 4.3.0 try again")])
def test_data_replies(env, stage, code):
    env.mx("127.0.0.2", replies={stage: code})
    env.start()
    answers, _ = env.send(NEXTHOP, ["bob@far.example"])
    want = "bounced" if code.startswith("5") else "deferred"
    assert answers[0]["status"] == want
    assert answers[0]["dsn"] == code.split()[1]
    where = "DATA" if stage == "DATA" else "end of DATA"
    assert "(in reply to %s command)" % where in answers[0]["reason"]


def test_421_at_rcpt_defers_the_rest(env):
    env.mx("127.0.0.2", ext=["8BITMIME"], replies={
        "RCPT <carol@far.example>": "421 4.7.0 closing"})
    env.start()
    answers, done = env.send(NEXTHOP, ["bob@far.example", "carol@far.example",
                                       "dave@far.example"])
    # nothing was delivered: every recipient is still to go
    assert answers == {}
    assert done["status"] == "defer"
    assert "421 4.7.0 closing" in done["reason"]


def test_dropped_after_end_of_data_is_deferred_not_retried(env):
    env.dns.set_zones({"two.example.": [("MX", 10, "a.two.example."),
                                        ("MX", 20, "b.two.example.")],
                       "a.two.example.": [("A", "127.0.0.2")],
                       "b.two.example.": [("A", "127.0.0.3")]})
    env.mx("127.0.0.2", drop="EOD")
    second = env.mx("127.0.0.3")
    env.start()
    answers, _ = env.send("two.example", ["bob@two.example"])
    assert answers[0]["status"] == "deferred"
    assert "may be sent more than once" in answers[0]["reason"]
    assert second.connections == 0


def test_dropped_at_mail_tries_next_mx(env):
    env.dns.set_zones({"two.example.": [("MX", 10, "a.two.example."),
                                        ("MX", 20, "b.two.example.")],
                       "a.two.example.": [("A", "127.0.0.2")],
                       "b.two.example.": [("A", "127.0.0.3")]})
    env.mx("127.0.0.2", drop="MAIL")
    second = env.mx("127.0.0.3")
    env.start()
    answers, _ = env.send("two.example", ["bob@two.example"])
    assert answers[0]["status"] == "sent"
    assert answers[0]["relay"].startswith("b.two.example")
    assert len(second.wait_messages(1)) == 1


def test_greeting_timeout_defers(env):
    env.mx("127.0.0.2", stall="greeting")
    env.start(smtp_helo_timeout="2s")
    start = time.monotonic()
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert time.monotonic() - start < 30
    assert done["status"] == "defer"
    assert "timed out while receiving the initial server greeting" in done["reason"]


def test_5xx_greeting_bounces(env):
    env.mx("127.0.0.2", greeting="554 5.7.1 go away")
    env.start()
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert answers[0]["status"] == "bounced"
    assert "refused to talk to me: 554 5.7.1 go away" in answers[0]["reason"]
