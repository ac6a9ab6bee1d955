"""The administrator's side of qmgr: tern queue list/show/hold/release/
delete/requeue/flush, per-destination hold with defer_transports released
by a flush or by the ETRN request smtpd sends, with qmgr running and (for
the file operations) without it.
"""
import json
import os
import time

import pytest

from qmgr_fixture import QmgrEnv, wait_for

pytestmark = pytest.mark.timeout(120)

EX_NOINPUT = 66
EX_UNAVAILABLE = 69


def starts_for(env, qid):
    return [e for e in env.events("start") if e["id"] == qid]


def test_hold_and_release_a_deferred_message(tern):
    env = QmgrEnv(tern).start()
    env.set_script("* defer\n")
    qid, = env.inject("h@far.test")
    env.wait_in(qid, "deferred")
    r = env.t.run("queue", "hold", qid)
    assert r.returncode == 0 and f"{qid}: placed on hold" in r.stdout
    env.wait_in(qid, "hold")
    env.t.wait_for_log(rf"qmgr\[\d+\]: {qid}: placed on hold")
    n = len(starts_for(env, qid))
    time.sleep(2.5)  # retry_schedule is 1s: held mail is not tried
    assert len(starts_for(env, qid)) == n
    listing = env.t.run("queue", "list", check=True).stdout
    assert f"{qid}!" in listing
    env.set_script("")
    r = env.t.run("queue", "release", qid)
    assert r.returncode == 0 and "released from hold" in r.stdout
    env.wait_gone(qid)
    assert env.deliveries() == [(qid, "h@far.test")]
    # Releasing what is not held fails.
    assert env.t.run("queue", "release", qid).returncode == EX_NOINPUT


def test_hold_and_delete_while_active(tern):
    env = QmgrEnv(tern, main_cf={"default_destination_concurrency_limit": "1"}).start()
    env.set_script("@slow.test sleep=2 sent\n")
    m1, = env.inject("one@slow.test")
    wait_for(lambda: starts_for(env, m1), what="m1 in flight")
    m2, = env.inject("two@slow.test")
    m3, = env.inject("three@slow.test")
    env.t.wait_for_log(rf"{m3}: from=")
    # m1 is being delivered: hold waits for it, and then it is finished.
    assert env.t.run("queue", "hold", m1).returncode == 0
    # m2 and m3 wait for the destination: hold and delete take them out now.
    assert env.t.run("queue", "hold", m2).returncode == 0
    assert env.t.run("queue", "delete", m3).returncode == 0
    env.wait_in(m2, "hold")
    env.wait_gone(m3)
    env.t.wait_for_log(rf"{m3}: removed")
    env.t.wait_for_log(rf"{m1}: removed")
    assert env.deliveries() == [(m1, "one@slow.test")]
    assert not starts_for(env, m2) and not starts_for(env, m3)
    assert env.t.run("queue", "release", m2).returncode == 0
    env.wait_gone(m2)
    assert (m2, "two@slow.test") in env.deliveries()


def test_delete_and_requeue(tern):
    env = QmgrEnv(tern, main_cf={"retry_schedule": "1h"}).start()
    env.set_script("* defer\n")
    a, = env.inject("a@far.test")
    b, = env.inject("b@far.test")
    env.wait_in(a, "deferred")
    env.wait_in(b, "deferred")
    r = env.t.run("queue", "delete", a)
    assert r.returncode == 0 and f"{a}: removed" in r.stdout
    assert not env.where(a)
    env.t.wait_for_log(rf"qmgr\[\d+\]: {a}: removed")
    assert env.t.run("queue", "delete", a).returncode == EX_NOINPUT
    # b would wait an hour; requeue makes it due now.
    env.set_script("")
    r = env.t.run("queue", "requeue", b)
    assert r.returncode == 0 and "requeued" in r.stdout
    env.wait_gone(b)
    assert env.deliveries() == [(b, "b@far.test")]


def test_list_and_show(tern):
    env = QmgrEnv(tern, main_cf={"retry_schedule": "1h"}).start()
    assert "Mail queue is empty" in env.t.run("queue", "list", check=True).stdout
    env.set_script("* defer 4.7.0 421 4.7.0 try later\n")
    qid, = env.inject("p@far.test", "q@far.test", sender="alice@tern.test")
    env.wait_in(qid, "deferred")
    text = env.t.run("queue", "list", check=True).stdout
    assert qid in text and "alice@tern.test" in text and "(421 4.7.0 try later)" in text
    data = json.loads(env.t.run("queue", "list", "--json", check=True).stdout)
    assert data["qmgr"] == "running"
    msg, = data["messages"]
    assert msg["queue_id"] == qid and msg["folder"] == "deferred"
    assert msg["sender"] == "alice@tern.test"
    assert [r["address"] for r in msg["recipients"]] == ["p@far.test", "q@far.test"]
    assert msg["next_attempt"] > time.time() + 3000
    show = env.t.run("queue", "show", qid, check=True).stdout
    assert f"queue_id: {qid}" in show and "folder: deferred" in show
    assert "recipient 0: <p@far.test> pending attempts=1" in show
    assert env.t.run("queue", "show", "0" * 16).returncode == EX_NOINPUT
    assert env.t.run("queue", "show", "nonsense").returncode != 0


def test_defer_transports_flush_and_etrn(tern):
    env = QmgrEnv(tern, main_cf={"defer_transports": "smtp",
                                 "fast_flush_domains": "etrn.test, .sub.test"}).start()
    m1, = env.inject("a@etrn.test")
    m2, = env.inject("b@other.test")
    m3, = env.inject("c@etrn.test", "d@other.test")
    for qid in (m1, m2, m3):
        env.wait_in(qid, "deferred")
    env.t.wait_for_log(rf"{m1}: to=<a@etrn.test>, relay=none, .*dsn=4.3.2, status=deferred "
                       r"\(deferred transport")
    time.sleep(1.5)  # retries re-defer without an attempt
    assert env.events("start") == []
    # ETRN as smtpd sends it: only fast_flush_domains are eligible.
    r = env.control(("request", "flush"), ("domain", "other.test"), ("etrn", "1"))
    assert r["status"] == "refused"
    r = env.control(("request", "flush"), ("domain", "x.sub.test"), ("etrn", "1"))
    assert r["status"] == "ok"
    r = env.control(("request", "flush"), ("etrn", "1"))
    assert r["status"] == "fail"
    r = env.control(("request", "flush"), ("domain", "ETRN.test"), ("etrn", "1"))
    assert r["status"] == "ok"
    env.wait_gone(m1)
    wait_for(lambda: (m3, "c@etrn.test") in env.deliveries(), what="c@etrn.test")
    assert all(e["flags"] == "flush" for e in env.events("start"))
    time.sleep(1.5)
    got = env.deliveries()
    assert (m2, "b@other.test") not in got and (m3, "d@other.test") not in got
    assert set(env.where(m2)) | set(env.where(m3)) <= {"deferred", "active"}
    # The administrator's flush lets everything through.
    r = env.t.run("queue", "flush")
    assert r.returncode == 0 and "flush started" in r.stdout
    env.wait_gone(m2)
    env.wait_gone(m3)
    assert sorted(env.deliveries()) == sorted([(m1, "a@etrn.test"), (m2, "b@other.test"),
                                               (m3, "c@etrn.test"), (m3, "d@other.test")])


def test_flush_domain_ends_backoff(tern):
    env = QmgrEnv(tern, main_cf={"destination_failure_limit": "1",
                                 "destination_backoff_time": "1h",
                                 "retry_schedule": "1h"}).start()
    env.set_script("* dest-fail\n")
    qid, = env.inject("z@down.test")
    env.t.wait_for_log(r"destination smtp:down.test: backed off for 3600s")
    env.wait_in(qid, "deferred")
    env.set_script("")
    assert env.t.run("queue", "flush", "down.test").returncode == 0
    env.t.wait_for_log(r"destination smtp:down.test: back-off ended by a flush")
    env.wait_gone(qid)


def test_control_refuses_malformed_requests(tern):
    env = QmgrEnv(tern).start()
    assert env.control(("request", "bogus"))["status"] == "fail"
    assert env.control(("request", "hold"), ("queue_id", "../../etc"))["status"] == "fail"
    assert env.control(("request", "hold"), ("queue_id", "0" * 16))["reason"] == \
        "no such message"
    assert env.control(("request", "flush"), ("domain", "a b"), ("etrn", "1"))["status"] == "fail"
    r = env.control(("request", "destinations"))
    assert r["status"] == "ok"
    # qmgr is still there and works.
    qid, = env.inject("ok@fine.test")
    env.wait_gone(qid)


def test_queue_commands_without_qmgr(tern):
    env = QmgrEnv(tern, main_cf={"retry_schedule": "1h"}).start()
    env.set_script("* defer\n")
    a, = env.inject("a@far.test")
    b, = env.inject("b@far.test")
    env.wait_in(a, "deferred")
    env.wait_in(b, "deferred")
    env.t.stop()
    r = env.t.run("queue", "hold", a)
    assert r.returncode == 0 and "qmgr is not running" in r.stdout
    assert env.where(a) == ["hold"]
    r = env.t.run("queue", "release", a)
    assert r.returncode == 0 and env.where(a) == ["deferred"]
    assert os.stat(env.queue / "deferred" / a).st_mtime <= time.time() + 1
    r = env.t.run("queue", "delete", b)
    assert r.returncode == 0 and not env.where(b)
    assert env.t.run("queue", "flush").returncode == EX_UNAVAILABLE
    data = json.loads(env.t.run("queue", "list", "--json", check=True).stdout)
    assert data["qmgr"] == "not running" and [m["queue_id"] for m in data["messages"]] == [a]
    # Started again, the released message is due at once.
    env.set_script("")
    env.t.start()
    env.wait_gone(a)
    assert env.deliveries() == [(a, "a@far.test")]
