"""smtp: next hops and DNS routing.  MX order and fallback to the next
MX, equal preferences spread, null MX, NXDOMAIN, SERVFAIL, our own MX
dropped (backup MX), relay hosts in both forms, smtp_fallback_relay,
smtp_bind_address, and the final frame when no server answers.
"""
import os
import pwd

import pytest

from conftest import proc_status
from dns_fixture import dns_server  # noqa: F401  (fixture)
from smtp_util import FAST, env  # noqa: F401  (fixture)


def zones(**extra):
    z = {
        "example.com.": [("MX", 10, "mx1.example.com."), ("MX", 20, "mx2.example.com.")],
        "mx1.example.com.": [("A", "127.0.0.2")],
        "mx2.example.com.": [("A", "127.0.0.3")],
    }
    z.update(extra)
    return z


def test_mx_order_first_host_takes_it(env):
    env.dns.set_zones(zones())
    mx1 = env.mx("127.0.0.2")
    mx2 = env.mx("127.0.0.3")
    env.start()
    answers, done = env.send("example.com", ["bob@example.com"])
    assert done["status"] == "ok"
    assert answers[0]["status"] == "sent", answers
    assert answers[0]["dsn"] == "2.0.0"
    assert answers[0]["relay"] == "mx1.example.com[127.0.0.2]:%d" % env.port
    assert answers[0]["reason"].startswith("250 2.0.0 Ok: queued as FAKE1")
    msgs = mx1.wait_messages(1)
    assert msgs[0].mail.startswith("<alice@tern.test>")
    assert msgs[0].rcpts[0].startswith("<bob@example.com>")
    # dot-stuffing and CRLF on the wire
    assert b"\r\n..leading dot\r\n" in msgs[0].data
    assert b"Subject: test\r\n" in msgs[0].data
    assert mx2.connections == 0


def test_next_mx_after_refused_and_4xx_greeting(env):
    env.dns.set_zones(zones(**{
        "example.com.": [("MX", 5, "down.example.com."), ("MX", 10, "mx1.example.com."),
                         ("MX", 20, "mx2.example.com.")],
        "down.example.com.": [("A", "127.0.0.9")],  # nothing listens there
    }))
    mx1 = env.mx("127.0.0.2", greeting="421 4.3.2 busy")
    mx2 = env.mx("127.0.0.3")
    env.start()
    answers, done = env.send("example.com", ["bob@example.com"])
    assert answers[0]["status"] == "sent", answers
    assert answers[0]["relay"].startswith("mx2.example.com[127.0.0.3]")
    assert mx1.connections == 1
    assert len(mx2.wait_messages(1)) == 1


def test_all_mx_fail_defers_destination(env):
    env.dns.set_zones(zones())
    env.mx("127.0.0.2", greeting="421 4.3.2 try later")
    env.mx("127.0.0.3", drop="EHLO")
    env.start()
    answers, done = env.send("example.com", ["bob@example.com", "carol@example.com"])
    # nobody answered: no per-recipient frames, the destination failed
    assert answers == {}
    assert done["status"] == "defer"
    assert done["dsn"].startswith("4.")
    assert "mx2.example.com[127.0.0.3]" in done["reason"], done
    assert "lost connection" in done["reason"]


def test_equal_preferences_are_spread(env):
    env.dns.set_zones(zones(**{
        "example.com.": [("MX", 10, "mx1.example.com."), ("MX", 10, "mx2.example.com.")],
    }))
    mx1 = env.mx("127.0.0.2")
    mx2 = env.mx("127.0.0.3")
    env.start(smtp_connection_cache_time="0")
    for _ in range(16):
        answers, _ = env.send("example.com", ["bob@example.com"])
        assert answers[0]["status"] == "sent"
    assert len(mx1.messages) + len(mx2.messages) == 16
    # both get some: the chance of 16 on one side is 2 * 2^-16
    assert mx1.messages and mx2.messages, (len(mx1.messages), len(mx2.messages))


def test_null_mx_bounces(env):
    env.dns.set_zones({"nullmx.example.": [("MX", 0, ".")]})
    env.start()
    answers, done = env.send("nullmx.example", ["bob@nullmx.example"])
    assert answers[0]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.1.10"
    assert "null MX" in answers[0]["reason"]
    assert done["status"] == "ok"


def test_nxdomain_bounces(env):
    env.dns.set_zones({})
    env.start()
    answers, done = env.send("nowhere.example", ["bob@nowhere.example"])
    assert answers[0]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.1.2"
    assert "not found" in answers[0]["reason"]


def test_servfail_defers(env):
    env.dns.set_zones({"broken.example.": "servfail"})
    env.start()
    answers, done = env.send("broken.example", ["bob@broken.example"])
    assert answers == {}
    assert done["status"] == "defer"
    assert done["dsn"] == "4.4.3"


def test_no_mx_uses_the_domain_address(env):
    env.dns.set_zones({"plain.example.": [("A", "127.0.0.2")]})
    mx = env.mx("127.0.0.2")
    env.start()
    answers, _ = env.send("plain.example", ["bob@plain.example"])
    assert answers[0]["status"] == "sent"
    assert answers[0]["relay"].startswith("plain.example[127.0.0.2]")
    assert len(mx.wait_messages(1)) == 1


def test_cname_is_followed(env):
    env.dns.set_zones({
        "alias.example.": [("CNAME", "real.example.")],
        "real.example.": [("MX", 10, "mx1.example.com.")],
        "mx1.example.com.": [("A", "127.0.0.2")],
    })
    mx = env.mx("127.0.0.2")
    env.start()
    answers, _ = env.send("alias.example", ["bob@alias.example"])
    assert answers[0]["status"] == "sent", answers
    assert len(mx.wait_messages(1)) == 1


def test_backup_mx_drops_itself_and_worse(env):
    # we are mx-self (127.0.0.1 is in inet_interfaces): 20 and worse go
    env.dns.set_zones(zones(**{
        "example.com.": [("MX", 10, "mx1.example.com."), ("MX", 20, "self.example.com."),
                         ("MX", 30, "mx2.example.com.")],
        "self.example.com.": [("A", "127.0.0.1")],
    }))
    env.mx("127.0.0.2", greeting="421 4.3.2 not now")
    mx2 = env.mx("127.0.0.3")
    env.start()
    answers, done = env.send("example.com", ["bob@example.com"])
    assert done["status"] == "defer"
    assert "mx1.example.com" in done["reason"]
    assert mx2.connections == 0


def test_only_ourselves_loops(env):
    env.dns.set_zones({
        "loop.example.": [("MX", 10, "tern.test."), ("MX", 20, "mx1.example.com.")],
        "tern.test.": [("A", "127.0.0.1")],
        "mx1.example.com.": [("A", "127.0.0.2")],
    })
    mx = env.mx("127.0.0.2")
    env.start()
    answers, _ = env.send("loop.example", ["bob@loop.example"])
    assert answers[0]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.4.6"
    assert "loops back to myself" in answers[0]["reason"]
    assert mx.connections == 0


def test_relayhost_forms(env):
    env.dns.set_zones({
        "smart.example.": [("MX", 10, "mx1.example.com."), ("A", "127.0.0.3")],
        "mx1.example.com.": [("A", "127.0.0.2")],
    })
    mx1 = env.mx("127.0.0.2")
    direct = env.mx("127.0.0.3")
    other = env.mx("127.0.0.4")
    env.start()
    # [host]: no MX lookup, the host's own address
    answers, _ = env.send("[smart.example]", ["bob@far.example"])
    assert answers[0]["relay"].startswith("smart.example[127.0.0.3]"), answers
    assert len(direct.wait_messages(1)) == 1
    # host: MX lookup
    answers, _ = env.send("smart.example", ["bob@far.example"])
    assert answers[0]["relay"].startswith("mx1.example.com[127.0.0.2]"), answers
    # [address]:port
    answers, _ = env.send("[127.0.0.4]:%d" % env.port, ["bob@far.example"])
    assert answers[0]["relay"] == "127.0.0.4[127.0.0.4]:%d" % env.port
    assert len(mx1.messages) == 1 and len(other.messages) == 1


def test_relayhost_port(env):
    env.dns.set_zones({})
    other_port = env.port + 1
    mx = env.mx("127.0.0.2", port=other_port)
    env.start()
    answers, _ = env.send("[127.0.0.2]:%d" % other_port, ["bob@far.example"])
    assert answers[0]["status"] == "sent"
    assert answers[0]["relay"].endswith(":%d" % other_port)
    assert len(mx.wait_messages(1)) == 1


def test_fallback_relay_after_direct_failure(env):
    env.dns.set_zones(zones())
    env.mx("127.0.0.2", greeting="421 4.3.2 busy")
    env.mx("127.0.0.3", replies={"MAIL": "451 4.3.0 later"})
    relay = env.mx("127.0.0.5")
    env.start(smtp_fallback_relay="[127.0.0.5]")
    answers, done = env.send("example.com", ["bob@example.com"])
    assert answers[0]["status"] == "sent", (answers, done)
    assert answers[0]["relay"].startswith("127.0.0.5[127.0.0.5]")
    assert len(relay.wait_messages(1)) == 1


def test_fallback_relay_not_for_recipient_refusals(env):
    env.dns.set_zones(zones())
    env.mx("127.0.0.2", replies={"RCPT": "450 4.2.0 greylisted"})
    relay = env.mx("127.0.0.5")
    env.start(smtp_fallback_relay="[127.0.0.5]")
    answers, done = env.send("example.com", ["bob@example.com"])
    assert answers[0]["status"] == "deferred"
    assert answers[0]["dsn"] == "4.2.0"
    assert "greylisted" in answers[0]["reason"]
    assert relay.connections == 0


def test_bind_address(env):
    env.dns.set_zones({})
    mx = env.mx("127.0.0.2")
    env.start(smtp_bind_address="127.0.0.7")
    answers, _ = env.send("[127.0.0.2]", ["bob@far.example"])
    assert answers[0]["status"] == "sent"
    assert mx.peers[0][0] == "127.0.0.7"


def test_mx_address_limit(env):
    env.dns.set_zones({
        "many.example.": [("MX", 10, "m1.example."), ("MX", 20, "m2.example."),
                          ("MX", 30, "m3.example.")],
        "m1.example.": [("A", "127.0.0.2")],
        "m2.example.": [("A", "127.0.0.3")],
        "m3.example.": [("A", "127.0.0.4")],
    })
    a = env.mx("127.0.0.2", greeting="421 4.3.2 no")
    b = env.mx("127.0.0.3", greeting="421 4.3.2 no")
    c = env.mx("127.0.0.4")
    env.start(smtp_mx_address_limit=2)
    answers, done = env.send("many.example", ["bob@many.example"])
    assert done["status"] == "defer"
    assert a.connections == 1 and b.connections == 1 and c.connections == 0


def test_ipv6_addresses(env):
    env.dns.set_zones({"six.example.": [("MX", 10, "mx6.six.example.")],
                       "mx6.six.example.": [("AAAA", "::1")]})
    mx = env.mx("::1")
    env.start(inet_protocols="all")
    answers, done = env.send("six.example", ["bob@six.example"])
    assert answers[0]["status"] == "sent", (answers, done)
    assert answers[0]["relay"] == "mx6.six.example[::1]:%d" % env.port
    assert len(mx.wait_messages(1)) == 1
    # an IPv6 address literal as the next hop
    answers, _ = env.send("[IPv6:::1]", ["bob@[IPv6:::1]"])
    assert answers[0]["status"] == "sent"


def test_ipv4_only_skips_aaaa(env):
    env.dns.set_zones({"six.example.": [("MX", 10, "mx6.six.example.")],
                       "mx6.six.example.": [("AAAA", "::1")]})
    mx = env.mx("::1")
    env.start(inet_protocols="ipv4")
    answers, done = env.send("six.example", ["bob@six.example"])
    assert answers[0]["status"] == "bounced"
    assert answers[0]["dsn"] == "5.4.4"
    assert mx.connections == 0
    assert [q for q in env.dns.queries if q[1] == "AAAA"] == []


@pytest.mark.root
def test_root_mode_chrooted_agent(env):
    """The agent as mail_owner, chrooted into the queue: DNS, the queue
    file and the network all work from inside."""
    env.dns.set_zones(zones())
    mx = env.mx("127.0.0.2")
    t = env.tern(main_cf=dict(FAST, unprivileged_mode="no", dns_servers=env.dns.address,
                              smtp_tcp_port=str(env.port)),
                 master_cf="smtp unix - y y - 1 smtp\n")
    t.run("setup", check=True)
    t.start()
    env.t = t
    t.wait_until(lambda: (t.queue / "private" / "smtp").exists(), what="smtp socket")
    answers, done = env.send("example.com", ["bob@example.com"], args=["-u", "tern"])
    assert answers[0]["status"] == "sent", (answers, done)
    assert len(mx.wait_messages(1)) == 1
    pids = [p for p in t.processes()
            if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"smtp\0")
            or b"/smtp\0" in open(f"/proc/{p}/cmdline", "rb").read()]
    assert pids, "no smtp process"
    sanitizer = "sanitizer build" in t.log()  # such builds do not chroot
    for p in pids:
        assert proc_status(p)["Uid"].split()[0] == str(pwd.getpwnam("tern").pw_uid)
        assert os.readlink(f"/proc/{p}/root") == ("/" if sanitizer else str(t.queue))
