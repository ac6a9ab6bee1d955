"""trivial-rewrite end to end: a Tern instance whose master.cf runs the
rewrite service, asked through its socket with tests/tools/rewriteq (the
blocking client library) and with raw frames.
"""
import os
import socket
import struct
import subprocess
import time

import pytest

REWRITE_LINE = "rewrite unix - - n - - trivial-rewrite\n"


def build_table(t, name, text):
    src = t.etc / name
    src.write_text(text)
    r = t.run("map", "build", str(src))
    assert r.returncode == 0, r.stderr
    return f"cdb:{src}"


@pytest.fixture
def instance(tern):
    t = tern()
    params = {
        "mydestination": "$myhostname, localhost",
        "virtual_mailbox_domains": "hosted.test",
        "virtual_mailbox_maps": build_table(t, "vmailbox",
                                            "alice@hosted.test hosted.test/alice/\n"),
        "virtual_alias_maps": "inline:{sales@hosted.test=alice@hosted.test}",
        "relay_domains": "relay.test",
        "relay_recipient_maps": build_table(t, "relay_recipients", "known@relay.test x\n"),
        "transport_maps": build_table(t, "transport",
                                      "special.test relay:[10.1.2.3]:2525\n"
                                      ".special.test slow:\n"),
        "relayhost": "[smart.test]:587",
        "sender_dependent_relayhost_maps": "inline:{@tenant.test=[tenant-relay.test]}",
        "recipient_delimiter": "+",
        "table_change_check_interval": "1s",
    }
    t.write_main_cf(**params)
    t.write_master_cf(REWRITE_LINE)
    t.start()
    t.wait_until(lambda: (t.queue / "private" / "rewrite").exists(), what="rewrite socket")
    return t


def rewriteq_path(t):
    return str(t.build / "tests" / "tools" / "rewriteq")


def ask(t, *requests):
    """One rewriteq run: a dict of name=value per reply line."""
    r = subprocess.run([rewriteq_path(t), str(t.queue / "private" / "rewrite"), *requests],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(requests), r.stdout + r.stderr
    return [parse(line) for line in lines]


def parse(line):
    fields = {}
    for item in line.split(" "):
        name, _, value = item.partition("=")
        fields[name] = value
    if "reason" in fields:  # the reason is free text: the rest of the line
        fields["reason"] = line.split(" reason=", 1)[1]
    return fields


def test_rewrite_resolve_verify(instance):
    t = instance
    (rw, bare, bad,
     local, hosted, relay, remote, tenant, special, sub_special, literal) = ask(
        t,
        "rewrite:User.Name@Hosted.TEST.",
        "rewrite:bare",
        "rewrite:user@-bad-.test",
        "resolve:root@Tern.Test",
        "resolve:alice@hosted.test",
        "resolve:known@relay.test",
        "resolve:someone@far.example",
        "resolve:someone@far.example\tboss@tenant.test",
        "resolve:x@special.test",
        "resolve:x@a.special.test",
        "resolve:x@[127.0.0.1]")
    assert rw == {"status": "ok", "address": "User.Name@hosted.test"}
    assert bare == {"status": "ok", "address": "bare@tern.test"}
    assert bad["status"] == "error" and "domain" in bad["reason"]
    assert local == {"status": "ok", "class": "local", "transport": "local",
                     "nexthop": "tern.test", "recipient": "root@tern.test", "flags": ""}
    assert (hosted["class"], hosted["transport"]) == ("hosted", "local")
    assert (relay["class"], relay["transport"], relay["nexthop"]) == \
        ("relay", "smtp", "[smart.test]:587")
    assert (remote["class"], remote["nexthop"]) == ("remote", "[smart.test]:587")
    assert tenant["nexthop"] == "[tenant-relay.test]"
    assert (special["transport"], special["nexthop"]) == ("relay", "[10.1.2.3]:2525")
    assert (sub_special["transport"], sub_special["nexthop"]) == ("slow", "[smart.test]:587")
    assert (literal["class"], literal["transport"]) == ("local", "local")

    replies = ask(t,
                  "verify:root@tern.test",
                  "verify:root+tag@localhost",
                  "verify:PostMaster@tern.test",
                  "verify:nosuchuser@tern.test",
                  "verify:alice@hosted.test",
                  "verify:sales@hosted.test",
                  "verify:bob@hosted.test",
                  "verify:known@relay.test",
                  "verify:stranger@relay.test",
                  "verify:anyone@far.example",
                  "verify:root%evil.example@tern.test",
                  "verify:evil.example!root@tern.test")
    assert [r["status"] for r in replies] == [
        "ok", "ok", "ok", "unknown", "ok", "ok", "unknown", "ok", "unknown", "ok",
        "unknown", "unknown"]
    assert replies[3]["class"] == "local" and "unknown" in replies[3]["reason"]
    assert replies[6]["class"] == "hosted"
    assert replies[8]["class"] == "relay"
    assert replies[10]["flags"] == "routing_trick"
    assert replies[11]["flags"] == "routing_trick"

    trick, = ask(t, "resolve:root%evil.example@tern.test")
    assert (trick["class"], trick["transport"], trick["nexthop"], trick["flags"]) == \
        ("local", "local", "tern.test", "routing_trick")


def test_missing_service_defers(tern):
    t = tern()
    t.write_master_cf("")
    (t.queue / "private").mkdir(parents=True)
    reply, = ask(t, "verify:root@tern.test")
    assert reply["status"] == "defer"
    assert reply["reason"].startswith("rewrite service: connect")


# ---- raw frames ----

def attr(name, value):
    return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value


def frame(*pairs):
    body = b"".join(attr(n, v) for n, v in pairs)
    return struct.pack(">I", len(body)) + body


def read_frame(sock):
    def read_exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    head = read_exact(4)
    if head is None:
        return None
    body = read_exact(struct.unpack(">I", head)[0])
    out, i = {}, 0
    while i < len(body):
        nlen = body[i]
        name = body[i + 1:i + 1 + nlen].decode()
        i += 1 + nlen
        vlen = struct.unpack(">I", body[i:i + 4])[0]
        out[name] = body[i + 4:i + 4 + vlen].decode()
        i += 4 + vlen
    return out


def unix_socket(t):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(str(t.queue / "private" / "rewrite"))
    return s


def test_many_requests_on_one_connection_and_bad_requests(instance):
    s = unix_socket(instance)
    # Pipelined: all written at once, answered in order.
    s.sendall(frame((b"request", b"rewrite"), (b"address", b"a@B.test")) +
              frame((b"request", b"resolve"), (b"address", b"a@far.example")) +
              frame((b"request", b"verify"), (b"address", b"nosuch@tern.test")) +
              frame((b"request", b"frobnicate"), (b"address", b"a@b.test")) +
              frame((b"request", b"verify")) +
              frame((b"request", b"verify"), (b"address", b"a\x00b@tern.test")) +
              frame((b"request", b"rewrite"), (b"address", b"x@c.test")))
    replies = [read_frame(s) for _ in range(7)]
    assert replies[0] == {"status": "ok", "address": "a@b.test"}
    assert replies[1]["status"] == "ok" and replies[1]["nexthop"] == "[smart.test]:587"
    assert replies[2]["status"] == "unknown"
    assert replies[3] == {"status": "error", "reason": "unknown request"}
    assert replies[4]["status"] == "error" and "address" in replies[4]["reason"]
    assert replies[5]["status"] == "error"
    assert replies[6] == {"status": "ok", "address": "x@c.test"}

    # A malformed frame: an error reply, then the connection is closed.
    s.sendall(struct.pack(">I", 6) + b"\x01A" + struct.pack(">I", 0))
    reply = read_frame(s)
    assert reply["status"] == "error" and "name" in reply["reason"]
    assert read_frame(s) is None
    s.close()

    # A frame over the service's limit.
    s = unix_socket(instance)
    s.sendall(struct.pack(">I", 1 << 20))
    reply = read_frame(s)
    assert reply["status"] == "error" and "too large" in reply["reason"]
    assert read_frame(s) is None
    s.close()


def rewrite_pids(t):
    return {p["pid"] for p in t.status()["processes"] if p["service"] == "rewrite"}


def test_table_change_reaches_a_fresh_process(instance):
    t = instance
    q = subprocess.Popen([rewriteq_path(t), str(t.queue / "private" / "rewrite")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        def one(request):
            q.stdin.write(request + "\n")
            q.stdin.flush()
            return parse(q.stdout.readline().rstrip("\n"))

        assert one("verify:bob@hosted.test")["status"] == "unknown"
        assert one("resolve:x@special.test")["nexthop"] == "[10.1.2.3]:2525"
        old = rewrite_pids(t)
        assert len(old) == 1
        mark = t.log_mark()
        time.sleep(1.1)  # a new mtime second for the rebuilt files
        build_table(t, "vmailbox", "alice@hosted.test hosted.test/alice/\n"
                                   "bob@hosted.test hosted.test/bob/\n")
        build_table(t, "transport", "special.test relay:[10.9.9.9]\n")
        t.wait_for_log(r"table cdb:\S+ has changed", since=mark, timeout=15)
        # The same client, the same kept connection: the old process closed
        # it, the client reconnects to a fresh one.
        assert one("verify:bob@hosted.test")["status"] == "ok"
        assert one("resolve:x@special.test")["nexthop"] == "[10.9.9.9]"
        t.wait_until(lambda: rewrite_pids(t) and not (rewrite_pids(t) & old),
                     what="the old rewrite process to go")
    finally:
        q.stdin.close()
        q.wait(timeout=30)


def test_stop_with_an_idle_client_connection(instance):
    """A kept connection does not hold up a stop: the service sees the
    signal between requests, closes the connection and exits."""
    t = instance
    s = unix_socket(t)
    s.sendall(frame((b"request", b"rewrite"), (b"address", b"a@b.test")))
    assert read_frame(s)["status"] == "ok"
    pid, = rewrite_pids(t)
    started = time.monotonic()
    t.stop()
    assert time.monotonic() - started < 4  # master_stop_grace is 5s
    assert read_frame(s) is None
    s.close()
    assert not os.path.exists(f"/proc/{pid}")
