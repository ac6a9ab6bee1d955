"""smtpd policy through trivial-rewrite: relay control (550 5.7.1),
mynetworks (networks and tables), unknown users (550 5.1.1), postmaster
always accepted, relay_domains with relay_recipient_maps, address tricks
that must not open the relay, look-up failures (451 4.3.0), and the
optional reverse-DNS check.
"""
import time

import pytest

from dns_fixture import dns_server  # noqa: F401
from smtpd_util import SIMPLE, Client, header_lines, queue_id_of, queued, send_message, \
    smtpd_tern

OUTSIDER = "127.0.0.2"   # a client outside mynetworks in these tests


@pytest.fixture
def t(tern):
    return smtpd_tern(tern, main_cf={
        "mynetworks": "127.0.0.1/32",
        "virtual_mailbox_domains": "hosted.test",
        "virtual_mailbox_maps": "inline:{carol@hosted.test=hosted.test/carol/}",
        "relay_domains": "relay.test, open.test",
        "relay_recipient_maps": "inline:{known@relay.test=ok, @open.test=ok}",
    })


def rcpt(c, address):
    return c.cmd(f"RCPT TO:<{address}>")


def outsider(t):
    c = Client(t.port(), source=OUTSIDER)
    c.expect("EHLO outside.test", 250)
    c.expect("MAIL FROM:<a@example.org>", 250)
    return c


def test_relay_denied_to_outsiders(t):
    mark = t.log_mark()
    c = outsider(t)
    assert rcpt(c, "user@remote.example") == (
        550, ["5.7.1 <user@remote.example>: Relay access denied"])
    assert rcpt(c, "postmaster@remote.example")[0] == 550
    assert rcpt(c, "user@[192.0.2.1]")[0] == 550
    t.wait_for_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 550 5\.7\.1 "
                   r"<user@remote\.example>: Relay access denied; from=<a@example\.org> "
                   r"to=<user@remote\.example> proto=ESMTP helo=<outside\.test>$", since=mark)


def test_mynetworks_may_relay(t):
    c = Client(t.port())
    qid = send_message(c, "a@example.org", ["user@remote.example"], SIMPLE)
    _, rcpts, _ = queued(t, qid)
    assert rcpts[0]["address"] == "user@remote.example"


def test_mynetworks_from_a_table(tern):
    t = smtpd_tern(tern, main_cf={"mynetworks": "127.0.0.1/32, inline:{127.0.0.3=yes}"})
    c = Client(t.port(), source="127.0.0.3")
    c.expect("MAIL FROM:<a@example.org>", 250)
    assert rcpt(c, "user@remote.example")[0] == 250
    c = Client(t.port(), source="127.0.0.4")
    c.expect("MAIL FROM:<a@example.org>", 250)
    assert rcpt(c, "user@remote.example")[0] == 550


def test_unknown_users(t):
    c = outsider(t)
    assert rcpt(c, "nosuchuser@tern.test") == (550, [
        "5.1.1 <nosuchuser@tern.test>: Recipient address rejected: User unknown in local "
        "recipient table"])
    assert rcpt(c, "dave@hosted.test") == (550, [
        "5.1.1 <dave@hosted.test>: Recipient address rejected: User unknown in virtual "
        "mailbox table"])
    assert rcpt(c, "root@tern.test")[0] == 250
    assert rcpt(c, "alice@tern.test")[0] == 250
    assert rcpt(c, "carol@hosted.test")[0] == 250


def test_postmaster_is_always_accepted(t):
    c = outsider(t)
    for address in ("postmaster", "Postmaster", "postmaster@tern.test", "POSTMASTER@localhost",
                    "postmaster@hosted.test", "postmaster@relay.test"):
        assert rcpt(c, address)[0] == 250, address
    c.expect("DATA", 354)
    c.send(SIMPLE + b".\r\n")
    code, lines = c.reply()
    assert code == 250
    _, rcpts, _ = queued(t, queue_id_of(lines[0]))
    assert any(r["address"].lower().startswith("postmaster@") for r in rcpts)


def test_relay_domains_and_relay_recipient_maps(t):
    c = outsider(t)
    assert rcpt(c, "known@relay.test")[0] == 250
    assert rcpt(c, "unknown@relay.test") == (550, [
        "5.1.1 <unknown@relay.test>: Recipient address rejected: User unknown in relay "
        "recipient table"])
    assert rcpt(c, "anyone@open.test")[0] == 250


def test_address_tricks_do_not_open_the_relay(t):
    c = outsider(t)
    for address in ("user%remote.example@tern.test", "remote.example!user@tern.test",
                    '"user@remote.example"@tern.test', "user%remote.example@[127.0.0.1]"):
        code, lines = rcpt(c, address)
        assert code == 550 and lines[0].startswith("5.1.1 "), (address, code, lines)
    # A source route is dropped: this is plain mail for remote.example.
    code, lines = c.cmd("RCPT TO:<@tern.test:user@remote.example>")
    assert code == 550 and lines[0].startswith("5.7.1 ")


def test_rewrite_service_down(tern):
    t = smtpd_tern(tern, with_rewrite=False, main_cf={"ipc_timeout": "30s"})
    c = Client(t.port())
    c.expect("MAIL FROM:<a@example.org>", 250)
    code, lines = rcpt(c, "root@tern.test")
    assert code == 451 and lines[0] == "4.3.0 <root@tern.test>: Temporary lookup failure"
    assert c.cmd("NOOP")[0] == 250


def reverse_dns_tern(tern, dns_server, extra=None):
    """libunbound answers for 127.in-addr.arpa itself (its default local
    zone): 127.0.0.1 is localhost, forward-confirmed; any other loopback
    address has no PTR.  The scripted server only keeps the resolver off
    the network."""
    cf = {"smtpd_reverse_dns_check": "yes", "dns_servers": dns_server.address}
    cf.update(extra or {})
    return smtpd_tern(tern, main_cf=cf)


def test_reverse_dns_check(tern, dns_server):
    t = reverse_dns_tern(tern, dns_server)
    mark = t.log_mark()
    c = Client(t.port())
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    env, _, content = queued(t, qid)
    assert env["client_name"] == "localhost"
    assert header_lines(content)[0] == "Received: from client.test (localhost [127.0.0.1])"
    t.wait_for_log(r"connect from localhost\[127\.0\.0\.1\]", since=mark)
    t.wait_for_log(r"[0-9A-Z]+: client=localhost\[127\.0\.0\.1\]", since=mark)
    # No PTR: unknown, and marked unverified in Received:.
    c = Client(t.port(), source="127.0.0.2")
    qid = send_message(c, "a@example.org", ["root@tern.test"], SIMPLE)
    env, _, content = queued(t, qid)
    assert env["client_name"] == ""
    assert "(unknown [127.0.0.2] (unverified))" in header_lines(content)[0]
    t.wait_for_log(r"connect from unknown\[127\.0\.0\.2\]", since=mark)


def test_reject_unverified_clients(tern, dns_server):
    t = reverse_dns_tern(tern, dns_server, {"smtpd_reject_unverified_client": "yes"})
    assert Client(t.port()).greeting[0] == 220
    c = Client(t.port(), source="127.0.0.2")
    assert c.greeting[0] == 554 and c.greeting[1][0].startswith("5.7.25 ")
    assert c.closed()
    t.wait_for_log(r"NOQUEUE: reject: CONNECT from unknown\[127\.0\.0\.2\]: 554 5\.7\.25 ")
