"""smtpd and TLS: STARTTLS with the harness's certificates, input
pipelined before the handshake discarded, the session reset after it,
require-TLS (530 5.7.0), implicit TLS (wrapper mode, port 465), SNI among
several chain files, handshake deadlines and TLS garbage.
"""
import smtplib
import socket
import ssl
import time

import pytest

from certs import test_ca  # noqa: F401
from smtpd_util import (SIMPLE, Client, header_lines, queue_files, queue_id_of, queued,
                        send_message, smtpd_pids, smtpd_tern)


def tls_options(pki, extra=()):
    return [f"smtpd_tls_cert_file={pki.server_chain}",
            f"smtpd_tls_key_file={pki.server_key}", *extra]


def client_context(pki, hostname_check=True):
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.check_hostname = hostname_check
    return ctx


def test_starttls_and_the_queue_file(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca))
    c = Client(t.port())
    code, lines = c.cmd("EHLO before.test")
    assert "STARTTLS" in lines
    assert c.cmd("STARTTLS") == (220, ["2.0.0 Ready to start TLS"])
    c.starttls(ca_file=str(test_ca.ca_cert), server_hostname="mx.example")
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    code, lines = c.cmd("EHLO after.test")
    assert code == 250 and "STARTTLS" not in lines
    assert c.cmd("STARTTLS")[0] == 554
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE, ehlo=None)
    env, _, content = queued(t, qid)
    assert env["protocol"] == "ESMTPS"
    assert env["helo"] == "after.test"
    assert " with cipher " in env["tls_cipher"]
    received = "\n".join(header_lines(content)[:4])
    assert "(using TLSv1." in received and "with cipher" in received
    t.wait_for_log(r"TLS connection established from unknown\[127\.0\.0\.1\]: TLSv1\.[23] "
                   r"with cipher \S+ \(\d+ bits\)")


def test_smtplib_starttls(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca))
    with smtplib.SMTP("127.0.0.1", t.port(), timeout=15) as s:
        s.ehlo("lib.test")
        s.starttls(context=client_context(test_ca, hostname_check=False))
        s.ehlo("lib.test")
        assert not s.has_extn("starttls")
        assert s.sendmail("a@example.org", ["root@tern.test"], SIMPLE) == {}


def test_pipelined_input_before_starttls_is_discarded(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca))
    c = Client(t.port())
    c.expect("EHLO x", 250)
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<root@tern.test>\r\n")
    assert c.reply() == (220, ["2.0.0 Ready to start TLS"])
    c.starttls(ca_file=str(test_ca.ca_cert), server_hostname="mx.example")
    c.expect("EHLO x", 250)
    # Neither pipelined command took effect inside TLS.
    assert c.cmd("RCPT TO:<root@tern.test>") == (503, ["5.5.1 Error: need MAIL command"])
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])


def test_session_is_reset_by_starttls(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca, ["smtpd_helo_required=yes"]))
    c = Client(t.port())
    c.expect("EHLO before.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    assert c.cmd("STARTTLS") == (503, ["5.5.1 Error: MAIL transaction in progress"])
    c.expect("RSET", 250)
    c.expect("STARTTLS", 220)
    c.starttls()
    # HELO was forgotten: with smtpd_helo_required, MAIL must wait for it.
    assert c.cmd("MAIL FROM:<a@example.org>") == (503, ["5.5.1 Error: send HELO/EHLO first"])
    c.expect("EHLO after.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)


def test_require_tls(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca, ["smtpd_tls_security_level=encrypt"]))
    c = Client(t.port())
    code, lines = c.cmd("EHLO x")
    assert "STARTTLS" in lines
    must = (530, ["5.7.0 Must issue a STARTTLS command first"])
    assert c.cmd("MAIL FROM:<a@example.org>") == must
    assert c.cmd("RCPT TO:<root@tern.test>") == must
    assert c.cmd("DATA") == must
    assert c.cmd("VRFY root") == must
    assert c.cmd("ETRN example.com") == must
    # A BDAT chunk is read and dropped, then refused: the input stays in step.
    c.send(b"BDAT 12\r\nMAIL FROM:<>")
    assert c.reply() == must
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert c.cmd("RSET")[0] == 250
    c.expect("STARTTLS", 220)
    c.starttls()
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    assert queued(t, qid)[0]["protocol"] == "ESMTPS"


def test_require_tls_without_a_certificate(tern):
    t = smtpd_tern(tern, options=["smtpd_tls_security_level=encrypt"])
    c = Client(t.port())
    c.expect("EHLO x", 250)
    assert c.cmd("STARTTLS") == (454, ["4.7.0 TLS not available due to local problem"])
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 530


def test_wrapper_mode(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca, ["smtpd_tls_wrappermode=yes"]))
    with smtplib.SMTP_SSL("127.0.0.1", t.port(), timeout=15,
                          context=client_context(test_ca, hostname_check=False)) as s:
        code, _ = s.ehlo("wrapped.test")
        assert code == 250
        assert not s.has_extn("starttls")
        assert s.sendmail("a@example.org", ["root@tern.test"], SIMPLE) == {}
    # Plain text on the TLS port: no greeting, and the "handshake" fails.
    mark = t.log_mark()
    s = socket.create_connection(("127.0.0.1", t.port()), timeout=10)
    s.sendall(b"EHLO plain.test\r\n")
    s.settimeout(5)
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    assert b"220" not in got and b"250" not in got
    t.wait_for_log(r"TLS failure .* after CONNECT from unknown\[127\.0\.0\.1\]", since=mark)
    assert len(smtpd_pids(t)) == 1


def chain_file(path, key, cert):
    path.write_text(key.read_text() + cert.read_text())
    path.chmod(0o600)
    return path


def test_sni_selects_among_chain_files(tern, test_ca, tmp_path):
    main = chain_file(tmp_path / "main.pem", test_ca.server_key, test_ca.server_cert)
    other = chain_file(tmp_path / "other.pem", test_ca.other_key, test_ca.other_cert)
    t = smtpd_tern(tern, options=[f"smtpd_tls_chain_files={main},{other}"])
    for name in ("mx.example", "other.example", "x.wild.example"):
        c = Client(t.port())
        c.expect("EHLO x", 250)
        c.expect("STARTTLS", 220)
        c.starttls(ca_file=str(test_ca.ca_cert), server_hostname=name)  # verifies the name
        c.expect("EHLO x", 250)
        c.close()


def test_handshake_deadline(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca, ["smtpd_timeout=2s"]))
    mark = t.log_mark()
    c = Client(t.port())
    c.expect("EHLO x", 250)
    c.expect("STARTTLS", 220)
    start = time.monotonic()
    assert c.closed(timeout=6)            # the client never starts the handshake
    assert time.monotonic() - start < 5
    t.wait_for_log(r"timeout after STARTTLS from unknown\[127\.0\.0\.1\]", since=mark)


def test_tls_garbage_after_starttls(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca))
    mark = t.log_mark()
    for junk in (b"EHLO x\r\n", b"\x16\x03\x01\x00\x05hello", bytes(range(256)) * 8):
        c = Client(t.port())
        c.expect("EHLO x", 250)
        c.expect("STARTTLS", 220)
        c.send(junk)
        assert c.closed(timeout=6)
    t.wait_until(lambda: t.log()[mark:].count("TLS failure") == 3, what="three TLS failures")
    c = Client(t.port())
    send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    assert len(queue_files(t)) == 1
    assert len(smtpd_pids(t)) == 1


def test_tls12_client(tern, test_ca):
    t = smtpd_tern(tern, options=tls_options(test_ca))
    ctx = client_context(test_ca, hostname_check=False)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with smtplib.SMTP("127.0.0.1", t.port(), timeout=15) as s:
        s.starttls(context=ctx)
        assert s.sock.version() == "TLSv1.2"
        code, lines = s.ehlo("x")
        assert code == 250
