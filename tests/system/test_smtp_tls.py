"""smtp: STARTTLS by policy.  may (TLS when offered; a broken handshake
is followed by a plain-text delivery on a new connection), encrypt
(deferred without TLS), smtp_tls_policy_maps per destination, and what a
server sends before the handshake thrown away.
"""
from certs import test_ca  # noqa: F401  (fixture)
from dns_fixture import dns_server  # noqa: F401  (fixture)
from fakesmtp import server_context
from smtp_util import env  # noqa: F401  (fixture)

NEXTHOP = "[127.0.0.2]"


def test_may_uses_tls_when_offered(env, test_ca):
    mx = env.mx("127.0.0.2", tls=server_context(test_ca.server_chain, test_ca.server_key))
    t = env.start(smtp_tls_security_level="may")
    answers, _ = env.send(NEXTHOP, ["bob@far.example"])
    assert answers[0]["status"] == "sent", answers
    msg = mx.wait_messages(1)[0]
    assert msg.tls
    assert mx.verbs()[:3] == ["EHLO", "STARTTLS", "EHLO"]
    t.wait_for_log(r"TLS connection established to 127\.0\.0\.2\[127\.0\.0\.2\]:\d+: TLSv1\.[23]")


def test_may_without_starttls_is_plain(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_tls_security_level="may")
    answers, _ = env.send(NEXTHOP, ["bob@far.example"])
    assert answers[0]["status"] == "sent"
    assert not mx.wait_messages(1)[0].tls


def test_may_broken_handshake_retries_in_plain_text(env):
    mx = env.mx("127.0.0.2", tls_broken=True)
    t = env.start(smtp_tls_security_level="may")
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert answers[0]["status"] == "sent", (answers, done)
    msg = mx.wait_messages(1)[0]
    assert not msg.tls
    assert mx.connections == 2
    assert "STARTTLS" not in mx.verbs(conn=2)
    t.wait_for_log(r"TLS handshake with .* failed.*trying again in plain text")


def test_encrypt_without_starttls_defers(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_tls_security_level="encrypt")
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert answers == {}
    assert done["status"] == "defer"
    assert done["dsn"] == "4.7.4"
    assert "TLS is required, but was not offered" in done["reason"]
    assert "MAIL" not in mx.verbs()


def test_encrypt_broken_handshake_defers(env):
    mx = env.mx("127.0.0.2", tls_broken=True)
    env.start(smtp_tls_security_level="encrypt")
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert done["status"] == "defer"
    assert done["dsn"] == "4.7.5"
    assert mx.connections == 1


def test_policy_map_per_destination(env, test_ca):
    env.dns.set_zones({
        "secure.example.": [("MX", 10, "mx.secure.example.")],
        "mx.secure.example.": [("A", "127.0.0.2")],
        "other.example.": [("MX", 10, "mx.other.example.")],
        "mx.other.example.": [("A", "127.0.0.3")],
    })
    env.mx("127.0.0.2")  # no STARTTLS
    plain = env.mx("127.0.0.3", tls=server_context(test_ca.server_chain, test_ca.server_key))
    env.start(smtp_tls_security_level="may",
              smtp_tls_policy_maps="inline:{secure.example=encrypt, other.example=none}")
    answers, done = env.send("secure.example", ["bob@secure.example"])
    assert done["status"] == "defer" and done["dsn"] == "4.7.4"
    answers, done = env.send("other.example", ["bob@other.example"])
    assert answers[0]["status"] == "sent"
    assert not plain.wait_messages(1)[0].tls
    assert "STARTTLS" not in plain.verbs()


def test_encrypt_with_tls_delivers(env, test_ca):
    mx = env.mx("127.0.0.2", tls=server_context(test_ca.server_chain, test_ca.server_key))
    env.start(smtp_tls_security_level="encrypt")
    answers, _ = env.send(NEXTHOP, ["bob@far.example"])
    assert answers[0]["status"] == "sent"
    assert mx.wait_messages(1)[0].tls


def test_verify_level_is_not_faked(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_tls_security_level="verify")
    answers, done = env.send(NEXTHOP, ["bob@far.example"])
    assert done["status"] == "defer"
    assert done["dsn"] == "4.7.5"
    assert mx.connections == 0


def test_bytes_before_handshake_are_discarded(env, test_ca):
    # The server pipelines a fake reply right after "220 Ready": were it
    # read as the answer to the client's post-TLS EHLO, the extensions
    # would be lost; it must be thrown away with the plain-text buffer.
    mx = env.mx("127.0.0.2", tls=server_context(test_ca.server_chain, test_ca.server_key),
                tls_inject=b"250 injected\r\n")
    env.start(smtp_tls_security_level="encrypt")
    answers, _ = env.send(NEXTHOP, ["bob@far.example"], args=["-8"],
                          message="Subject: x\n\ncaf\u00e9\n".encode())
    assert answers[0]["status"] == "sent", answers
    msg = mx.wait_messages(1)[0]
    assert msg.tls
    # the real EHLO reply (with 8BITMIME and PIPELINING) was used
    assert "BODY=8BITMIME" in msg.mail
