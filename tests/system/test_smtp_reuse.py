"""smtp: connections kept for the next message to the same next hop
(smtp_messages_per_connection, smtp_connection_cache_time), and large
recipient lists split into transactions (smtp_recipients_per_transaction).
"""
import time

from certs import test_ca  # noqa: F401  (fixture)
from dns_fixture import dns_server  # noqa: F401  (fixture)
from fakesmtp import server_context
from smtp_util import env  # noqa: F401  (fixture)

NEXTHOP = "[127.0.0.2]"


def test_connection_reused(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_connection_cache_time="10s")
    uses = []
    for i in range(3):
        answers, _ = env.send(NEXTHOP, ["bob%d@far.example" % i])
        assert answers[0]["status"] == "sent"
        uses.append(answers[0]["conn_use"])
    assert uses == ["1", "2", "3"]
    msgs = mx.wait_messages(3)
    assert mx.connections == 1
    assert [m.conn for m in msgs] == [1, 1, 1]
    # a clean connection needs no RSET: a poll shows it alive
    assert mx.verbs(conn=1) == ["EHLO"] + ["MAIL", "RCPT", "DATA"] * 3


def test_messages_per_connection_limit(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_connection_cache_time="10s", smtp_messages_per_connection=2)
    uses = [env.send(NEXTHOP, ["b%d@far.example" % i])[0][0]["conn_use"] for i in range(5)]
    assert uses == ["1", "2", "1", "2", "1"]
    mx.wait_messages(5)
    assert [m.conn for m in mx.messages] == [1, 1, 2, 2, 3]
    # a used-up connection is closed politely
    assert mx.verbs(conn=1)[-1] == "QUIT"


def test_idle_connection_not_reused(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_connection_cache_time="1s")
    env.send(NEXTHOP, ["a@far.example"])
    time.sleep(1.5)
    answers, _ = env.send(NEXTHOP, ["b@far.example"])
    assert answers[0]["conn_use"] == "1"
    assert mx.connections == 2
    assert mx.verbs(conn=1)[-1] == "QUIT"


def test_no_reuse_for_another_nexthop(env):
    a = env.mx("127.0.0.2")
    b = env.mx("127.0.0.3")
    env.start(smtp_connection_cache_time="10s")
    env.send("[127.0.0.2]", ["x@far.example"])
    answers, _ = env.send("[127.0.0.3]", ["y@far.example"])
    assert answers[0]["conn_use"] == "1"
    answers, _ = env.send("[127.0.0.2]", ["z@far.example"])
    assert answers[0]["conn_use"] == "2"
    assert a.connections == 1 and b.connections == 1


def test_kept_connection_closed_by_server_reconnects(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_connection_cache_time="10s")
    env.send(NEXTHOP, ["a@far.example"])
    mx.close_sessions()
    time.sleep(0.2)
    answers, done = env.send(NEXTHOP, ["b@far.example"])
    assert answers[0]["status"] == "sent", (answers, done)
    assert answers[0]["conn_use"] == "1"
    assert mx.connections == 2


def test_kept_connection_failing_rset_reconnects(env):
    # after a refused transaction the kept connection needs RSET
    mx = env.mx("127.0.0.2", replies={"RCPT": "550 5.1.1 unknown"}, drop="RSET")
    env.start(smtp_connection_cache_time="10s")
    answers, _ = env.send(NEXTHOP, ["a@far.example"])
    assert answers[0]["status"] == "bounced"
    mx.replies.clear()
    answers, done = env.send(NEXTHOP, ["b@far.example"])
    assert answers[0]["status"] == "sent", (answers, done)
    assert answers[0]["conn_use"] == "1"
    assert mx.connections == 2
    assert mx.verbs(conn=1)[-1] == "RSET"


def test_kept_tls_connection_checked_with_rset(env, test_ca):
    mx = env.mx("127.0.0.2", tls=server_context(test_ca.server_chain, test_ca.server_key))
    env.start(smtp_connection_cache_time="10s", smtp_tls_security_level="may")
    env.send(NEXTHOP, ["a@far.example"])
    answers, _ = env.send(NEXTHOP, ["b@far.example"])
    assert answers[0]["conn_use"] == "2"
    assert mx.connections == 1
    assert "RSET" in mx.verbs(conn=1)
    assert all(m.tls for m in mx.wait_messages(2))


def test_recipients_split_into_transactions(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_recipients_per_transaction=2)
    rcpts = ["r%d@far.example" % i for i in range(5)]
    answers, done = env.send(NEXTHOP, rcpts)
    assert sorted(answers) == list(range(5))
    assert all(a["status"] == "sent" for a in answers.values())
    msgs = mx.wait_messages(3)
    assert [len(m.rcpts) for m in msgs] == [2, 2, 1]
    assert mx.connections == 1
    assert [answers[i]["conn_use"] for i in range(5)] == ["1", "1", "2", "2", "3"]


def test_split_respects_messages_per_connection(env):
    mx = env.mx("127.0.0.2")
    env.start(smtp_recipients_per_transaction=1, smtp_messages_per_connection=2)
    answers, _ = env.send(NEXTHOP, ["r%d@far.example" % i for i in range(3)])
    assert all(a["status"] == "sent" for a in answers.values())
    mx.wait_messages(3)
    assert [m.conn for m in mx.messages] == [1, 1, 2]


def test_kept_connection_quit_when_stopping(env):
    mx = env.mx("127.0.0.2")
    t = env.start(smtp_connection_cache_time="60s")
    env.send(NEXTHOP, ["a@far.example"])
    assert mx.verbs(conn=1)[-1] == "DATA"
    t.stop()
    t.wait_until(lambda: mx.verbs(conn=1)[-1] == "QUIT", what="QUIT at exit")
