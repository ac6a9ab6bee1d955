"""qmgr's promises across crashes: kill -9 of qmgr and of an agent in the
middle of a delivery, restarts with mail in active/, incoming/ and
deferred/, a graceful stop with a delivery in flight, corrupt files.
Nothing acknowledged is lost and no finished recipient is delivered again.
"""
import os
import pwd
import re
import shutil
import signal
import tempfile
import time

import pytest

from qmgr_fixture import QmgrEnv, wait_for

pytestmark = pytest.mark.timeout(120)


def qmgr_pid(env):
    pids = re.findall(r"tern/qmgr\[(\d+)\]", env.t.log())
    return int(pids[-1]) if pids else None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def count(env, qid, rcpt):
    return env.deliveries().count((qid, rcpt))


def test_qmgr_killed_mid_delivery(tern):
    env = QmgrEnv(tern).start()
    env.set_script("r2@slow.test sleep=3 sent\n")
    qid, = env.inject("r1@fast.test", "r2@slow.test")
    env.t.wait_for_log(rf"{qid}: to=<r1@fast.test>, .*status=sent")
    wait_for(lambda: [e for e in env.events("start") if e["nexthop"] == "slow.test"],
             what="the slow delivery to start")
    pid = qmgr_pid(env)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), what="qmgr to die")
    assert env.where(qid) == ["active"]
    mark = env.t.log_mark()
    env.wakeup()  # master starts a new qmgr for the connection
    env.t.wait_for_log(rf"{qid}: removed", timeout=30, since=mark)
    assert qmgr_pid(env) != pid
    # r1 was recorded before the kill: never again.  r2's first result
    # was lost with qmgr (the duplicate window), so it went again.
    assert count(env, qid, "r1@fast.test") == 1
    assert count(env, qid, "r2@slow.test") >= 1
    assert not env.events("repeat")
    assert re.search(rf"{qid}: from=", env.t.log()[mark:])
    assert not re.search(rf"{qid}: to=<r1@fast.test>", env.t.log()[mark:])


def test_agent_killed_mid_delivery(tern):
    env = QmgrEnv(tern).start()
    env.set_script("r2@x.test hang\n")
    qid, = env.inject("r1@x.test", "r2@x.test", "r3@x.test")
    env.t.wait_for_log(rf"{qid}: to=<r1@x.test>, .*status=sent")
    start, = env.events("start")
    os.kill(int(start["pid"]), signal.SIGKILL)
    env.t.wait_for_log(rf"{qid}: to=<r2@x.test>, relay=none, .*dsn=4.3.0, status=deferred "
                       r"\(delivery agent smtp failed: lost connection\)")
    env.t.wait_for_log(rf"{qid}: to=<r3@x.test>, .*status=deferred")
    env.set_script("")
    env.t.wait_for_log(rf"{qid}: removed")
    assert [count(env, qid, f"r{i}@x.test") for i in (1, 2, 3)] == [1, 1, 1]
    assert not env.events("repeat")


def test_restart_takes_up_every_folder(tern):
    env = QmgrEnv(tern, main_cf={"retry_schedule": "1h"})
    # Messages left by a previous life, qmgr not running.
    env.t.run("start", check=True)
    env.t.stop()
    inc, = env.inject("i@x.test", wake=False)
    act, = env.inject("a@x.test", folder="active", wake=False)
    due, = env.inject("d@x.test", folder="deferred", mtime=-5, wake=False)
    later, = env.inject("l@x.test", folder="deferred", mtime=3600, wake=False)
    env.start()
    for qid in (inc, act, due):
        env.wait_gone(qid)
    time.sleep(1)
    assert env.where(later) == ["deferred"]
    assert sorted(r for _, r in env.deliveries()) == ["a@x.test", "d@x.test", "i@x.test"]


def test_partly_delivered_message_resumes_after_crash(tern):
    env = QmgrEnv(tern, main_cf={"retry_schedule": "1h"}).start()
    env.set_script("r2@x.test defer\n")
    qid, = env.inject("r1@x.test", "r2@x.test")
    env.wait_in(qid, "deferred")
    env.t.stop()
    # As if qmgr had died with the message in active/.
    os.rename(env.queue / "deferred" / qid, env.queue / "active" / qid)
    env.set_script("")
    env.start()
    env.wait_gone(qid)
    assert count(env, qid, "r1@x.test") == 1 and count(env, qid, "r2@x.test") == 1
    assert not env.events("repeat")


def test_stop_waits_for_the_delivery_in_flight(tern):
    env = QmgrEnv(tern).start()
    env.set_script("* sleep=2 sent\n")
    qid, = env.inject("s@x.test")
    wait_for(lambda: env.events("start"), what="the delivery to start")
    env.t.stop()  # master_stop_grace is 5s: the answer comes in time
    assert env.t.log().count(f"{qid}: to=<s@x.test>") == 1
    assert re.search(rf"{qid}: to=<s@x.test>, .*status=sent", env.t.log())
    assert not env.where(qid)
    env.start()
    time.sleep(1)
    assert env.deliveries() == [(qid, "s@x.test")]


def test_corrupt_files_go_to_corrupt_and_the_queue_flows(tern):
    env = QmgrEnv(tern).start()
    pid = qmgr_pid(env)
    good, = env.inject("good@x.test", wake=False)
    template, = env.inject("t@x.test", folder="hold", wake=False)
    data = (env.queue / "hold" / template).read_bytes()
    garbage_id, truncated_id = "1K00000000000001", "1K00000000000002"
    (env.queue / "incoming" / garbage_id).write_bytes(b"this is not a queue file\n")
    (env.queue / "incoming" / truncated_id).write_bytes(data[:len(data) // 2])
    (env.queue / "incoming" / "tmp.1K00000000000003").write_bytes(b"being written")
    env.wakeup()
    env.wait_gone(good)
    for bad in (garbage_id, truncated_id):
        env.wait_in(bad, "corrupt")
        env.t.wait_for_log(rf"warning: {bad}: moved from incoming/ to corrupt/: ")
    assert (env.queue / "incoming" / "tmp.1K00000000000003").exists()
    assert qmgr_pid(env) == pid and alive(pid)
    more, = env.inject("more@x.test")
    env.wait_gone(more)
    assert sorted(r for _, r in env.deliveries()) == ["good@x.test", "more@x.test"]


@pytest.mark.root
def test_root_mode_chrooted_qmgr(tern):
    """qmgr as master.cf ships it: chrooted into the queue, as mail_owner."""
    shared = tempfile.mkdtemp(prefix="tern-qmgr-root-")  # reachable by the tern user
    os.chmod(shared, 0o777)
    try:
        env = QmgrEnv(tern, main_cf={"unprivileged_mode": "no"}, qmgr_chroot="y",
                      agent_dir=shared)
        env.t.run("setup", check=True)
        env.set_script("")
        env.start()
        owner = pwd.getpwnam("tern")
        ids = env.inject("a@x.test", "b@y.test", count=3, wake=False)
        for qid in ids:  # as cleanup, running as mail_owner, would have written them
            os.chown(env.queue / "incoming" / qid, owner.pw_uid, owner.pw_gid)
        env.wakeup()
        for qid in ids:
            env.wait_gone(qid)
        assert len(env.deliveries()) == 6
        pid = qmgr_pid(env)
        status = open(f"/proc/{pid}/status").read()
        assert re.search(rf"^Uid:\s+{owner.pw_uid}\s", status, re.M)
        if "sanitizer build" not in env.t.log():
            assert os.readlink(f"/proc/{pid}/root") == str(env.queue)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
