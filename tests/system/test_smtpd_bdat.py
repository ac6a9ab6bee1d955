"""smtpd and CHUNKING (RFC 3030): BDAT in several chunks, BDAT LAST and
BDAT 0 LAST, pipelined chunks, refused chunks read and dropped so the
input stays in step, bare CR/LF across chunk boundaries, DATA after BDAT.
"""
import pytest

from smtpd_util import Client, body_of, queue_files, queue_id_of, queued, smtpd_tern


@pytest.fixture
def t(tern):
    return smtpd_tern(tern)


def begin(c, rcpt="root@tern.test"):
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)


def bdat(c, data, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
    return c.reply()


def test_several_chunks(t):
    c = Client(t.port())
    begin(c)
    parts = [b"Subject: chunks\r\n", b"\r\nfirst line\r\n.leading dot\r\n", b"", b"last\r\n"]
    for p in parts[:-1]:
        assert bdat(c, p) == (250, [f"2.0.0 Ok: {len(p)} octets received"])
    code, lines = bdat(c, parts[-1], last=True)
    assert code == 250
    _, _, content = queued(t, queue_id_of(lines[0]))
    # No dot handling in BDAT: the dot stays.
    assert body_of(content) == b"first line\n.leading dot\nlast\n"


def test_bdat_zero_last_and_single_chunk(t):
    c = Client(t.port())
    begin(c)
    assert bdat(c, b"Subject: a\r\n\r\nbody\r\n")[0] == 250
    code, lines = bdat(c, b"", last=True)
    assert code == 250
    queued(t, queue_id_of(lines[0]))
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    code, lines = bdat(c, b"Subject: b\r\n\r\none chunk\r\n", last=True)
    assert code == 250
    _, _, content = queued(t, queue_id_of(lines[0]))
    assert body_of(content) == b"one chunk\n"


def test_pipelined_chunks(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    msg = b"Subject: pipelined\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(3000))
    pieces = [msg[i:i + 7000] for i in range(0, len(msg), 7000)]
    batch = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<root@tern.test>\r\n"
    for i, p in enumerate(pieces):
        last = i == len(pieces) - 1
        batch += b"BDAT %d%s\r\n" % (len(p), b" LAST" if last else b"") + p
    batch += b"QUIT\r\n"
    c.send(batch)
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    for _ in pieces[:-1]:
        assert c.reply()[0] == 250
    code, lines = c.reply()
    assert code == 250
    assert c.reply()[0] == 221
    _, _, content = queued(t, queue_id_of(lines[0]))
    assert body_of(content) == body_of(msg.replace(b"\r\n", b"\n"))


def test_refused_chunks_are_read_and_dropped(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    # No MAIL: the chunk (which looks like commands) is dropped.
    assert bdat(c, b"QUIT\r\nMAIL FROM:<x@example.org>\r\n") == (
        503, ["5.5.1 Error: need MAIL command"])
    c.expect("MAIL FROM:<a@example.org>", 250)
    assert bdat(c, b"RCPT TO:<root@tern.test>\r\n", last=True) == (
        503, ["5.5.1 Error: need RCPT command"])
    c.expect("RCPT TO:<nosuchuser@tern.test>", 550)
    assert bdat(c, b"x" * 100000, last=True) == (554, ["5.5.1 Error: no valid recipients"])
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert queue_files(t) == []


def test_bare_lf_in_a_chunk(t):
    c = Client(t.port())
    begin(c)
    code, lines = bdat(c, b"Subject: x\r\n\r\nbad\nline\r\n")
    assert code == 554 and lines[0].startswith("5.5.2 ")
    # The transaction is over: the rest is refused, and read.
    assert bdat(c, b"more\r\n", last=True)[0] == 503
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert queue_files(t) == []


def test_crlf_split_across_chunks(t):
    c = Client(t.port())
    begin(c)
    assert bdat(c, b"Subject: split\r\n\r\nline one\r")[0] == 250
    code, lines = bdat(c, b"\nline two\r\n", last=True)
    assert code == 250
    _, _, content = queued(t, queue_id_of(lines[0]))
    assert body_of(content) == b"line one\nline two\n"
    # A CR at the very end of the message is bare.
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    code, lines = bdat(c, b"Subject: x\r\n\r\nends in CR\r", last=True)
    assert code == 554 and lines[0].startswith("5.5.2 ")


def test_data_after_bdat_and_rset(t):
    c = Client(t.port())
    begin(c)
    assert bdat(c, b"Subject: x\r\n\r\n")[0] == 250
    assert c.cmd("DATA") == (503, ["5.5.1 Error: DATA after BDAT"])
    c.expect("RSET", 250)
    assert bdat(c, b"body\r\n", last=True)[0] == 503
    assert queue_files(t) == []


def test_bdat_body_with_8bit_mime(t):
    c = Client(t.port())
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<a@example.org> BODY=8BITMIME", 250)
    c.expect("RCPT TO:<root@tern.test>", 250)
    body = "Subject: 8bit\r\n\r\nGr\u00fc\u00dfe\r\n".encode()
    code, lines = bdat(c, body, last=True)
    assert code == 250
    env, _, content = queued(t, queue_id_of(lines[0]))
    assert body_of(content) == "Gr\u00fc\u00dfe\n".encode()
