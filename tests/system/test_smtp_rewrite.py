"""smtp: outbound-only rewriting.  masquerade_domain changes the
envelope sender's domain only; smtp_generic_maps rewrites envelope and
header addresses; the queue file keeps the originals.
"""
from dns_fixture import dns_server  # noqa: F401  (fixture)
from smtp_util import env  # noqa: F401  (fixture)

NEXTHOP = "[127.0.0.2]"

MESSAGE = (b"From: Alice <alice@tern.test>\n"
           b"To: Bob <bob@internal.example>, carol@far.example\n"
           b"Cc: (team) dave@internal.example\n"
           b"Subject: alice@tern.test stays in the subject\n"
           b"\n"
           b"From: alice@tern.test in the body stays\n")


def test_masquerade_domain_envelope_only(env):
    mx = env.mx("127.0.0.2")
    env.start(masquerade_domain="masq.example")
    answers, _ = env.send(NEXTHOP, ["bob@far.example"], message=MESSAGE,
                          sender="alice@host.tern.test")
    assert answers[0]["status"] == "sent"
    msg = mx.wait_messages(1)[0]
    assert msg.mail.startswith("<alice@masq.example>")
    assert b"From: Alice <alice@tern.test>\r\n" in msg.data
    # the null sender stays null
    env.send(NEXTHOP, ["bob@far.example"], message=MESSAGE, sender="")
    assert mx.wait_messages(2)[1].mail.startswith("<>")


def test_generic_maps(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_generic_maps="inline:{alice@tern.test=alice.smith@public.example, "
                                "@internal.example=@public.example}")
    answers, _ = env.send(NEXTHOP, ["bob@internal.example", "carol@far.example"],
                          message=MESSAGE)
    assert answers[0]["status"] == answers[1]["status"] == "sent"
    msg = mx.wait_messages(1)[0]
    assert msg.mail.startswith("<alice.smith@public.example>")
    assert msg.rcpts == ["<bob@public.example>", "<carol@far.example>"]
    data = msg.data
    assert b"From: Alice <alice.smith@public.example>\r\n" in data
    assert b"To: Bob <bob@public.example>, carol@far.example\r\n" in data
    assert b"Cc: team <dave@public.example>\r\n" in data
    assert b"Subject: alice@tern.test stays in the subject\r\n" in data
    assert b"From: alice@tern.test in the body stays\r\n" in data


def test_generic_maps_then_masquerade(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_generic_maps="inline:{alice@tern.test=info@brand.example}",
              masquerade_domain="masq.example")
    env.send(NEXTHOP, ["bob@far.example"], message=MESSAGE)
    msg = mx.wait_messages(1)[0]
    assert msg.mail.startswith("<info@masq.example>")
    assert b"From: Alice <info@brand.example>\r\n" in msg.data
