"""smtpd against bad input: every malformed command, path, parameter,
over-long line, bare CR or LF, wrong end-of-data, oversized header,
binary garbage, TLS garbage and abrupt disconnect gets its RFC reply or a
clean close -- never a crash, a hang or a queue file.

The command table runs every case on a fresh connection to one instance;
each case says what must come back and whether the session goes on.
"""
import os
import random
import socket
import struct
import time

import pytest

from smtpd_util import SIMPLE, Client, crlf, queue_files, send_message, smtpd_pids, smtpd_tern

GOES_ON, CLOSES = "goes on", "closes"

# (name, needs MAIL first, line sent, code, enhanced code or None, after)
COMMANDS = [
    ("empty line", False, b"\r\n", 500, "5.5.2", GOES_ON),
    ("blanks only", False, b"   \r\n", 500, "5.5.2", GOES_ON),
    ("unknown verb", False, b"FOO bar\r\n", 500, "5.5.2", GOES_ON),
    ("verb after a blank", False, b" NOOP\r\n", 500, "5.5.2", GOES_ON),
    ("tab for space", False, b"MAIL\tFROM:<a@example.org>\r\n", 500, "5.5.2", GOES_ON),
    ("NUL in a line", False, b"MAIL FROM:<a\x00b@example.org>\r\n", 500, "5.5.2", GOES_ON),
    ("over-long line", False, b"NOOP " + b"x" * 3000 + b"\r\n", 500, "5.5.2", GOES_ON),
    ("over-long line, no CR", False, b"y" * 5000 + b"\n", 500, "5.5.2", GOES_ON),
    ("HELO without name", False, b"HELO\r\n", 501, None, GOES_ON),
    ("EHLO without name", False, b"EHLO\r\n", 501, None, GOES_ON),
    ("MAIL alone", False, b"MAIL\r\n", 501, "5.5.4", GOES_ON),
    ("MAIL TO:", False, b"MAIL TO:<a@example.org>\r\n", 501, "5.5.4", GOES_ON),
    ("MAIL without brackets", False, b"MAIL FROM:a@example.org\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL two spaces", False, b"MAIL FROM:  <a@example.org>\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL unclosed", False, b"MAIL FROM:<a@example.org\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL junk after >", False, b"MAIL FROM:<a@example.org>x\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL double @", False, b"MAIL FROM:<a@@example.org>\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL numeric domain", False, b"MAIL FROM:<a@1.2.3.4>\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL bad literal", False, b"MAIL FROM:<a@[1.2.3]>\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL bad route", False, b"MAIL FROM:<@a,b:u@example.org>\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL empty label", False, b"MAIL FROM:<a@example..org>\r\n", 501, "5.1.7", GOES_ON),
    ("MAIL long local part", False, b"MAIL FROM:<" + b"a" * 65 + b"@example.org>\r\n",
     501, "5.1.7", GOES_ON),
    ("MAIL long path", False, b"MAIL FROM:<" + b"a" * 60 + b"@" + b"b." * 100 + b"org>\r\n",
     501, "5.1.7", GOES_ON),
    ("MAIL 8-bit without SMTPUTF8", False, b"MAIL FROM:<\xc3\xa9@example.org>\r\n",
     553, "5.6.7", GOES_ON),
    ("MAIL bad UTF-8", False, b"MAIL FROM:<\xc3@example.org> SMTPUTF8\r\n", 501, "5.1.7",
     GOES_ON),
    ("MAIL unknown parameter", False, b"MAIL FROM:<a@example.org> FOO=BAR\r\n", 555, "5.5.4",
     GOES_ON),
    ("MAIL bad SIZE", False, b"MAIL FROM:<a@example.org> SIZE=abc\r\n", 555, "5.5.4",
     GOES_ON),
    ("MAIL SIZE twice", False, b"MAIL FROM:<a@example.org> SIZE=1 SIZE=2\r\n", 555, "5.5.4",
     GOES_ON),
    ("MAIL bad BODY", False, b"MAIL FROM:<a@example.org> BODY=9BIT\r\n", 555, "5.5.4",
     GOES_ON),
    ("MAIL BINARYMIME (not offered)", False, b"MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n",
     555, "5.5.4", GOES_ON),
    ("MAIL bad RET", False, b"MAIL FROM:<a@example.org> RET=ALL\r\n", 555, "5.5.4", GOES_ON),
    ("MAIL bad ENVID", False, b"MAIL FROM:<a@example.org> ENVID=a+zz\r\n", 555, "5.5.4",
     GOES_ON),
    ("MAIL SMTPUTF8 with value", False, b"MAIL FROM:<a@example.org> SMTPUTF8=yes\r\n",
     555, "5.5.4", GOES_ON),
    ("MAIL NOTIFY (RCPT only)", False, b"MAIL FROM:<a@example.org> NOTIFY=NEVER\r\n",
     555, "5.5.4", GOES_ON),
    ("MAIL too many parameters", False,
     b"MAIL FROM:<a@example.org>" + b"".join(b" X%d=1" % i for i in range(20)) + b"\r\n",
     555, "5.5.4", GOES_ON),
    ("MAIL SIZE past 2^64", False, b"MAIL FROM:<a@example.org> SIZE=99999999999999999999\r\n",
     552, "5.3.4", GOES_ON),
    ("RCPT null", True, b"RCPT TO:<>\r\n", 501, "5.1.3", GOES_ON),
    ("RCPT no domain", True, b"RCPT TO:<root>\r\n", 501, "5.1.3", GOES_ON),
    ("RCPT FROM:", True, b"RCPT FROM:<root@tern.test>\r\n", 501, "5.5.4", GOES_ON),
    ("RCPT bad quoted", True, b'RCPT TO:<"ab@tern.test>\r\n', 501, "5.1.3", GOES_ON),
    ("RCPT long label", True, b"RCPT TO:<a@" + b"x" * 64 + b".test>\r\n", 501, "5.1.3",
     GOES_ON),
    ("RCPT bad NOTIFY", True, b"RCPT TO:<root@tern.test> NOTIFY=SOMETIMES\r\n", 555, "5.5.4",
     GOES_ON),
    ("RCPT NEVER with others", True, b"RCPT TO:<root@tern.test> NOTIFY=NEVER,SUCCESS\r\n",
     555, "5.5.4", GOES_ON),
    ("RCPT bad ORCPT", True, b"RCPT TO:<root@tern.test> ORCPT=bogus\r\n", 555, "5.5.4",
     GOES_ON),
    ("RCPT SIZE (MAIL only)", True, b"RCPT TO:<root@tern.test> SIZE=10\r\n", 555, "5.5.4",
     GOES_ON),
    ("DATA with argument", True, b"DATA now\r\n", 501, "5.5.4", GOES_ON),
    ("RSET with argument", False, b"RSET all\r\n", 501, "5.5.4", GOES_ON),
    ("QUIT with argument", False, b"QUIT now\r\n", 501, "5.5.4", GOES_ON),
    ("STARTTLS with argument", False, b"STARTTLS now\r\n", 501, "5.5.4", GOES_ON),
    ("VRFY alone", False, b"VRFY\r\n", 501, "5.5.4", GOES_ON),
    ("ETRN alone", False, b"ETRN\r\n", 501, "5.5.4", GOES_ON),
    ("BDAT alone", False, b"BDAT\r\n", 501, "5.5.4", GOES_ON),
    ("BDAT bad size", False, b"BDAT ten\r\n", 501, "5.5.4", GOES_ON),
    ("BDAT size past 2^64", False, b"BDAT 99999999999999999999\r\n", 501, "5.5.4", GOES_ON),
    ("bare LF", False, b"NOOP\n", 521, "5.5.2", CLOSES),
    ("bare LF inside", False, b"NOOP\nNOOP\r\n", 521, "5.5.2", CLOSES),
    ("bare CR", False, b"NOOP\rNOOP\r\n", 521, "5.5.2", CLOSES),
    ("bare CR before CRLF", False, b"NOOP\r\r\n", 521, "5.5.2", CLOSES),
]


@pytest.fixture
def t(tern):
    return smtpd_tern(tern, main_cf={"smtpd_hard_error_limit": "1000"})


def run_case(port, needs_mail, data):
    c = Client(port)
    c.expect("EHLO client.test", 250)
    if needs_mail:
        c.expect("MAIL FROM:<a@example.org>", 250)
    c.send(data)
    code, lines = c.reply()
    return c, code, lines


def test_bad_commands_table(t):
    wrong = []
    for name, needs_mail, data, code, dsn, after in COMMANDS:
        c, got, lines = run_case(t.port(), needs_mail, data)
        text = lines[-1]
        if got != code:
            wrong.append(f"{name}: expected {code}, got {got} {text!r}")
        elif dsn and not text.startswith(dsn + " "):
            wrong.append(f"{name}: expected {dsn}, got {text!r}")
        elif dsn is None and text[:1].isdigit() and text[1:2] == ".":
            wrong.append(f"{name}: no enhanced code expected, got {text!r}")
        elif after == GOES_ON:
            if c.cmd("NOOP") != (250, ["2.0.0 Ok"]):
                wrong.append(f"{name}: the session did not go on")
        elif after == CLOSES and not c.closed():
            wrong.append(f"{name}: the session was not closed")
        c.close()
    assert not wrong, "\n".join(wrong)
    assert queue_files(t) == []
    assert len(smtpd_pids(t)) == 1


def test_line_length_limit_boundary(tern):
    t = smtpd_tern(tern, options=["smtpd_line_length_limit=512"])
    c = Client(t.port())
    # 512 octets with the CRLF: accepted.
    line = "NOOP " + "a" * (512 - 7)
    assert len(line) + 2 == 512
    assert c.cmd(line) == (250, ["2.0.0 Ok"])
    # One more: refused, and the rest of the line is discarded.
    assert c.cmd(line + "b") == (500, ["5.5.2 Error: line too long"])
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])


def data_case(port, payload):
    """Send a message whose data is payload (after 354); return the reply
    to its end and whether the session goes on."""
    c = Client(port)
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.expect("DATA", 354)
    c.send(payload)
    code, lines = c.reply()
    goes_on = c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    c.close()
    return code, lines[-1], goes_on


DATA_CASES = [
    # (name, payload, code, enhanced code)
    ("bare LF in a line", b"Subject: x\r\n\r\nab\ncd\r\n.\r\n", 554, "5.5.2"),
    ("bare CR in a line", b"Subject: x\r\n\r\nab\rcd\r\n.\r\n", 554, "5.5.2"),
    ("LF.CRLF is not the end", b"Subject: x\r\n\r\nbody\n.\r\nmore\r\n.\r\n", 554, "5.5.2"),
    ("CR.CR is not the end", b"Subject: x\r\n\r\nbody\r.\rmore\r\n.\r\n", 554, "5.5.2"),
    ("LF.LF is not the end", b"Subject: x\r\n\r\nbody\n.\nmore\r\n.\r\n", 554, "5.5.2"),
    ("CRLF.LF is not the end", b"Subject: x\r\n\r\nbody\r\n.\nmore\r\n.\r\n", 554, "5.5.2"),
    ("bare LF in a header", b"Subject: x\nTo: y\r\n\r\nbody\r\n.\r\n", 554, "5.5.2"),
]


def test_bad_message_data(t):
    wrong = []
    for name, payload, code, dsn in DATA_CASES:
        got, text, goes_on = data_case(t.port(), payload)
        if got != code or not text.startswith(dsn + " "):
            wrong.append(f"{name}: expected {code} {dsn}, got {got} {text!r}")
        if not goes_on:
            wrong.append(f"{name}: the session did not go on")
    assert not wrong, "\n".join(wrong)
    assert queue_files(t) == []


def test_smuggled_commands_are_message_data(t):
    """<LF>.<CR><LF> followed by a second transaction: all one (refused)
    message, no second transaction and nothing queued."""
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.org>\r\n"
           b"RCPT TO:<alice@tern.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nbad\r\n.\r\n")
    code, lines = c.reply()
    assert code == 554 and lines[0].startswith("5.5.2 ")
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert queue_files(t) == []


def test_header_limits(tern):
    t = smtpd_tern(tern, main_cf={"header_size_limit": "2048", "header_count_limit": "10",
                                  "hopcount_limit": "3"})
    big = "Subject: " + "x" * 1000 + "\n" + "X-Filler: " + "y" * 1100 + "\n"
    code, text, goes_on = data_case(t.port(), crlf(big + "\nbody\n") + b".\r\n")
    assert (code, text[:6]) == (552, "5.3.4 ") and goes_on
    # At the limit: 10 fields pass, 11 do not.
    ten = "".join(f"X-H{i}: v\n" for i in range(10))
    c = Client(t.port())
    qid = send_message(c, "a@example.org", ["root@tern.test"], crlf(ten + "\nbody\n"))
    assert qid
    code, text, goes_on = data_case(t.port(), crlf(ten + "X-H10: v\n\nbody\n") + b".\r\n")
    assert (code, text[:6]) == (552, "5.3.4 ") and goes_on
    hops = "".join(f"Received: from h{i}\n" for i in range(4))
    code, text, goes_on = data_case(t.port(), crlf(hops + "\nbody\n") + b".\r\n")
    assert (code, text[:6]) == (554, "5.4.6 ") and goes_on
    assert len(queue_files(t)) == 1


def garbage(seed, size, newlines):
    rnd = random.Random(seed)
    data = bytearray(rnd.getrandbits(8) for _ in range(size))
    if not newlines:
        data = data.replace(b"\n", b"x").replace(b"\r", b"x")
    return bytes(data)


def drain(sock, timeout=5):
    """Read until the server closes or goes quiet; the bytes read."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got, True
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        return got, True
    except socket.timeout:
        return got, False


def test_binary_garbage(t):
    for seed in range(4):
        s = socket.create_connection(("127.0.0.1", t.port()), timeout=10)
        s.recv(1000)
        s.sendall(garbage(seed, 20000, newlines=seed % 2 == 1))
        got, closed = drain(s, timeout=3)
        # Every reply is a well-formed line; text without line ends earns
        # 500s, random LFs end the session at the first bare one.
        for line in got.split(b"\r\n")[:-1]:
            assert line[:3].isdigit() and line[3:4] in (b" ", b"-"), line
        assert b"\n" not in got.replace(b"\r\n", b"")
        s.close()
    c = Client(t.port())
    send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    assert len(queue_files(t)) == 1
    assert len(smtpd_pids(t)) == 1


def test_garbage_ends_the_session_at_the_error_limit(tern):
    t = smtpd_tern(tern, main_cf={"smtpd_hard_error_limit": "5"})
    s = socket.create_connection(("127.0.0.1", t.port()), timeout=10)
    s.recv(1000)
    s.sendall(b"".join(b"JUNK%d\r\n" % i for i in range(50)))
    got, closed = drain(s)
    lines = got.split(b"\r\n")
    assert lines.count(b"500 5.5.2 Error: command not recognized") == 6
    assert lines[6].startswith(b"421 4.7.0 ")
    assert closed


def client_hello():
    """A TLS 1.2 ClientHello record, as a client would send it."""
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x04\x13\x01\x00\xff" +
            b"\x01\x00" + b"\x00\x00")
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def test_tls_garbage_on_a_plain_port(t):
    s = socket.create_connection(("127.0.0.1", t.port()), timeout=10)
    s.recv(1000)
    s.sendall(client_hello() * 20)
    got, closed = drain(s, timeout=3)
    for line in got.split(b"\r\n")[:-1]:
        assert line[:3].isdigit(), line
    s.close()
    c = Client(t.port())
    c.expect("EHLO x", 250)
    assert queue_files(t) == []


def test_abrupt_disconnects(t):
    stages = [b"", b"EHLO x\r\n", b"EHLO x\r\nMAIL FROM:<a@example.org>\r\n",
              b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root@tern.test>\r\nDATA\r\n",
              b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root@tern.test>\r\nDATA\r\n"
              b"Subject: x\r\n\r\n" + b"body line\r\n" * 5000,
              b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root@tern.test>\r\n"
              b"BDAT 1000 LAST\r\nSubject: x\r\n"]
    mark = t.log_mark()
    for data in stages:
        for reset in (False, True):
            s = socket.create_connection(("127.0.0.1", t.port()), timeout=10)
            s.recv(1000)
            if data:
                s.sendall(data)
                time.sleep(0.1)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    t.wait_until(lambda: t.log()[mark:].count("disconnect from") == 2 * len(stages),
                 what="every disconnect logged")
    assert "lost connection after DATA" in t.log()[mark:]
    assert queue_files(t) == []
    c = Client(t.port())
    send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    assert len(smtpd_pids(t)) == 1
