"""qmgr end to end: the real qmgr, trivial-rewrite and master, with the
test delivery agent (tests/tools/testagent) as the transports, observed
from the agent's side (what it was asked, when, how many at once), from
the maillog and from the queue files.
"""
import json
import re
import time

import pytest

from qmgr_fixture import QmgrEnv, max_overlap, wait_for

pytestmark = pytest.mark.timeout(120)

TO_LINE = (r"^.*qmgr\[\d+\]: (?P<id>[0-9A-Z]{16}): to=<(?P<to>[^>]*)>, relay=(?P<relay>\S+), "
           r"(?:conn_use=\d+, )?delay=(?P<delay>[\d.]+), "
           r"delays=(?P<delays>[\d.]+/[\d.]+/[\d.]+/[\d.]+), dsn=(?P<dsn>\d\.\d+\.\d+), "
           r"status=(?P<status>sent|deferred|bounced) \((?P<reason>.*)\)$")


def to_lines(env, qid=None):
    out = [m.groupdict() for m in re.finditer(TO_LINE, env.t.log(), re.M)]
    return [m for m in out if qid is None or m["id"] == qid]


def test_delivers_groups_and_logs(tern):
    env = QmgrEnv(tern, main_cf={"transport_maps": "inline:{c.test=relay:[10.0.0.9]:2525}"},
                  agents={"smtp": "5", "relay": "2"}).start()
    qid, = env.inject("a1@a.test", "b1@b.test", "a2@a.test", "c1@c.test", "a3@A.TEST")
    env.t.wait_for_log(rf"{qid}: removed")
    log = env.t.log()
    assert re.search(rf"qmgr\[\d+\]: {qid}: from=<sender@tern.test>, size=\d+, nrcpt=5 "
                     r"\(queue active\)$", log, re.M)
    lines = to_lines(env, qid)
    assert sorted(l["to"] for l in lines) == ["a1@a.test", "a2@a.test", "a3@A.TEST",
                                              "b1@b.test", "c1@c.test"]
    for l in lines:
        assert l["status"] == "sent" and l["dsn"] == "2.0.0"
        assert l["relay"] == "testagent[127.0.0.1]:0"
        assert l["reason"] == "250 2.0.0 Ok: delivered by testagent"
    # One request per destination (transport and next hop), recipients in file order.
    starts = {(e["transport"], e["nexthop"]): e for e in env.events("start")}
    assert set(starts) == {("smtp", "a.test"), ("smtp", "b.test"), ("relay", "[10.0.0.9]:2525")}
    assert starts[("smtp", "a.test")]["rcpts"] == "a1@a.test,a2@a.test,a3@A.TEST"
    assert starts[("smtp", "a.test")]["n"] == "3"
    assert starts[("relay", "[10.0.0.9]:2525")]["rcpts"] == "c1@c.test"
    assert not env.where(qid)
    assert not env.events("repeat")


def test_recipients_per_request_are_split(tern):
    env = QmgrEnv(tern, main_cf={"smtp_recipients_per_transaction": "2"}).start()
    qid, = env.inject(*[f"u{i}@split.test" for i in range(5)])
    env.t.wait_for_log(rf"{qid}: removed")
    sizes = sorted(int(e["n"]) for e in env.events("start"))
    assert sizes == [1, 2, 2]
    assert sorted(r for _, r in env.deliveries()) == sorted(f"u{i}@split.test" for i in range(5))


def test_destination_concurrency_limit(tern):
    env = QmgrEnv(tern, main_cf={"default_destination_concurrency_limit": "2"},
                  agents={"smtp": "10"}).start()
    env.set_script("* sleep=0.6 sent\n")
    ids = env.inject("x@one.test", count=6) + env.inject("y@two.test", count=6)
    for qid in ids:
        env.wait_gone(qid, timeout=60)
    iv = env.intervals()
    assert len(iv) == 12
    per = {}
    for start, end, ev in iv:
        per.setdefault(ev["nexthop"], []).append((start, end, ev))
    # Never more than 2 at once per destination, and the limit was reached.
    assert max_overlap(per["one.test"]) == 2
    assert max_overlap(per["two.test"]) == 2
    assert max_overlap(iv) >= 3


def test_transport_process_limit(tern):
    env = QmgrEnv(tern, agents={"smtp": "3"}).start()
    env.set_script("* sleep=0.5 sent\n")
    ids = [env.inject(f"r@d{i}.test")[0] for i in range(9)]
    for qid in ids:
        env.wait_gone(qid, timeout=60)
    iv = env.intervals()
    assert len(iv) == 9
    assert max_overlap(iv) == 3  # maxproc of the smtp service in master.cf


def test_retries_follow_the_schedule(tern):
    env = QmgrEnv(tern, main_cf={"retry_schedule": "1s, 2s, 3s"}).start()
    env.set_script("@retry.test defer-until 4\n")
    qid, = env.inject("r@retry.test")
    env.t.wait_for_log(rf"{qid}: removed", timeout=30)
    starts = [e["t"] for e in env.events("start")]
    assert len(starts) == 5  # deferred 4 times, then sent
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    for got, want in zip(gaps, [1, 2, 3, 3]):  # the last entry repeats
        assert want - 0.05 <= got <= want + 1.5, gaps
    lines = to_lines(env, qid)
    assert [l["status"] for l in lines] == ["deferred"] * 4 + ["sent"]
    assert lines[0]["dsn"] == "4.4.1" and lines[0]["reason"] == "451 4.4.1 try again later"


def test_deferred_message_records_facts_and_next_time(tern):
    env = QmgrEnv(tern, main_cf={"retry_schedule": "30s"}).start()
    env.set_script("@later.test defer 4.2.0 452 4.2.0 mailbox busy\n")
    qid, = env.inject("ok@fine.test", "w@later.test", notify="success,failure")
    env.wait_in(qid, "deferred")
    before = time.time()
    show = json.loads(env.t.run("queue", "show", qid, "--json", check=True).stdout)
    assert show["folder"] == "deferred"
    # The next attempt is the file's mtime: about now + 30s.
    assert before + 25 <= show["next_attempt"] <= before + 31
    r0, r1 = show["recipients"]
    assert (r0["address"], r0["state"], r0["dsn"]) == ("ok@fine.test", "delivered", "2.0.0")
    assert (r1["address"], r1["state"], r1["attempts"]) == ("w@later.test", "pending", 1)
    assert r1["dsn"] == "4.2.0" and r1["reason"] == "452 4.2.0 mailbox busy"
    assert abs(r1["last_attempt"] - before) < 5
    # Not tried again before its time.
    time.sleep(2)
    assert len(env.events("start")) == 2


def test_bounce_is_recorded_and_logged(tern):
    env = QmgrEnv(tern).start()
    env.set_script("nobody@far.test bounce 5.1.1 550 5.1.1 <nobody@far.test>: no such user\n")
    qid, = env.inject("nobody@far.test", "yes@far.test")
    env.t.wait_for_log(rf"{qid}: removed")
    lines = {l["to"]: l for l in to_lines(env, qid)}
    assert lines["nobody@far.test"]["status"] == "bounced"
    assert lines["nobody@far.test"]["dsn"] == "5.1.1"
    assert lines["nobody@far.test"]["reason"] == "550 5.1.1 <nobody@far.test>: no such user"
    assert lines["yes@far.test"]["status"] == "sent"


def test_null_sender_bounce_goes_to_corrupt_with_facts(tern):
    env = QmgrEnv(tern).start()
    env.set_script("* bounce 5.7.1 550 5.7.1 refused\n")
    qid, = env.inject("postmaster@far.test", sender="")
    env.wait_in(qid, "corrupt")
    env.t.wait_for_log(rf"warning: {qid}: moved from active/ to corrupt/: undeliverable")
    show = json.loads(env.t.run("queue", "show", qid, "--json", check=True).stdout)
    r, = show["recipients"]
    assert (r["state"], r["dsn"], r["reason"], r["attempts"]) == \
        ("failed", "5.7.1", "550 5.7.1 refused", 1)


def test_expiry_after_the_lifetime(tern):
    env = QmgrEnv(tern, main_cf={"maximal_queue_lifetime": "3s", "retry_schedule": "1s"}).start()
    env.set_script("* defer 4.4.1 connect to far.test: Connection timed out\n")
    t0 = time.time()
    qid, = env.inject("late@far.test")
    env.t.wait_for_log(rf"{qid}: removed", timeout=30)
    assert time.time() - t0 >= 3
    lines = to_lines(env, qid)
    assert all(l["status"] == "deferred" for l in lines[:-1]) and len(lines) >= 3
    last = lines[-1]
    assert last["status"] == "bounced" and last["dsn"] == "5.4.1"
    assert last["reason"] == ("message expired after 3s in the queue: "
                              "connect to far.test: Connection timed out")


def test_expiry_facts_recorded(tern):
    # Mail from the null sender lives bounce_queue_lifetime.
    env = QmgrEnv(tern, main_cf={"bounce_queue_lifetime": "10s"}).start()
    env.set_script("* defer\n")
    # Arrived 20s ago: the first deferral expires it; the null sender keeps it in corrupt/.
    qid, = env.inject("old@far.test", sender="", age=20)
    env.wait_in(qid, "corrupt")
    show = json.loads(env.t.run("queue", "show", qid, "--json", check=True).stdout)
    r, = show["recipients"]
    assert r["state"] == "failed" and r["dsn"] == "5.4.1"
    assert r["reason"].startswith("message expired after 10s in the queue: 451 4.4.1")
    assert len(env.events("start")) == 1


def test_destination_backoff(tern):
    env = QmgrEnv(tern, main_cf={"destination_failure_limit": "2",
                                 "destination_backoff_time": "4s",
                                 "retry_schedule": "1s"}).start()
    env.set_script("@down.test dest-fail connect to down.test[192.0.2.7]:25: "
                   "Connection refused\n")
    qid, = env.inject("a@down.test")
    env.t.wait_for_log(r"destination smtp:down.test: backed off for 4s after 2 failures: "
                       r"connect to down.test\[192.0.2.7\]:25: Connection refused")
    assert len(env.events("start")) == 2
    # Shown by the queue viewer with state and reason.
    listing = json.loads(env.t.run("queue", "list", "--json", check=True).stdout)
    dest, = [d for d in listing["destinations"] if d["nexthop"] == "down.test"]
    assert dest["state"] == "backoff" and dest["failures"] == 2
    assert "Connection refused" in dest["reason"] and dest["until"] > time.time()
    text = env.t.run("queue", "list", check=True).stdout
    assert "smtp:down.test backoff 2" in text
    # Meanwhile: a second message and the retries are deferred without an attempt.
    qid2, = env.inject("b@down.test")
    env.t.wait_for_log(rf"{qid2}: to=<b@down.test>, relay=none, .*status=deferred "
                       r"\(delivery temporarily suspended: connect to down.test")
    time.sleep(1.5)
    assert len(env.events("start")) == 2
    # After the back-off: probing, one delivery at a time; success makes it ready.
    env.set_script("@down.test sleep=0.3 sent\n")
    env.t.wait_for_log(r"destination smtp:down.test: back-off over; probing", timeout=10)
    env.wait_gone(qid, timeout=15)
    env.wait_gone(qid2, timeout=15)
    env.t.wait_for_log(r"destination smtp:down.test: ready again")
    iv = [i for i in env.intervals() if i[2]["nexthop"] == "down.test"]
    assert max_overlap(iv[2:3]) == 1


def test_agent_protocol_error_defers(tern):
    env = QmgrEnv(tern).start()
    # A recipient address the file does not have makes the agent answer
    # "disagree"; here a crash mid-request gives a lost connection instead.
    env.set_script("first@x.test sent\nsecond@x.test crash\n")
    qid, = env.inject("first@x.test", "second@x.test", "third@x.test")
    env.t.wait_for_log(rf"{qid}: to=<second@x.test>, relay=none, .*dsn=4.3.0, "
                       r"status=deferred \(delivery agent smtp failed: lost connection\)")
    env.t.wait_for_log(rf"{qid}: to=<third@x.test>, .*status=deferred \(delivery agent smtp "
                       r"failed: lost connection\)")
    env.set_script("")
    env.t.wait_for_log(rf"{qid}: removed")
    delivered = [r for q, r in env.deliveries() if q == qid]
    assert sorted(delivered) == ["first@x.test", "second@x.test", "third@x.test"]
    assert not env.events("repeat")


def test_many_messages_each_delivered_once(tern):
    env = QmgrEnv(tern, agents={"smtp": "4"}).start()
    ids = env.inject("one@bulk.test", "two@bulk2.test", count=200)
    for qid in ids:
        env.wait_gone(qid, timeout=90)
    got = env.deliveries()
    assert len(got) == 400 and len(set(got)) == 400
    assert {q for q, _ in got} == set(ids)
    assert not env.events("repeat")
