"""lib/dns through the dnsq tool against the scripted DNS server.

Runs $TERN_BUILD/tests/tools/dnsq (make system sets TERN_BUILD) with the
test server as its only DNS server and checks what each answer says:
records and their order, statuses, timing, and that nothing goes wrong
when answers are late, malformed or never come.
"""
import os
import re
import socket
import subprocess
import time

import pytest

from dns_fixture import dns_server, signed_zone  # noqa: F401  (fixtures)
from dnsserver import DNSServer

LINE = re.compile(r"^(?P<name>\S+) (?P<type>\S+) (?P<status>\S+) rcode=(?P<rcode>\d+) "
                  r"secure=(?P<secure>[01]) bogus=(?P<bogus>[01]) canon=(?P<canon>\S+) "
                  r"ms=(?P<ms>\d+)(?: why=\"(?P<why>[^\"]*)\")?(?P<rest>.*)$")

ZONES = {
    "example.": [("MX", 10, "mx1.example."), ("MX", 10, "mx2.example."),
                 ("MX", 20, "backup.example."), ("MX", 5, "first.example.")],
    "mx1.example.": [("A", "192.0.2.1"), ("A", "192.0.2.2"), ("AAAA", "2001:db8::1")],
    "null.example.": [("MX", 0, ".")],
    "notnull.example.": [("MX", 0, "."), ("MX", 10, "mx1.example.")],
    "txt.example.": [("TXT", "v=spf1 -all")],
    "multi.example.": [("TXT", ["v=DKIM1; ", "k=rsa; ", "p=abc"])],
    "long.example.": [("TXT", "x" * 600)],
    "_25._tcp.mx1.example.": [("TLSA", 3, 1, 1, "0123456789abcdef" * 4)],
    "alias.example.": [("CNAME", "alias2.example.")],
    "alias2.example.": [("CNAME", "mx1.example.")],
    "1.2.0.192.in-addr.arpa.": [("PTR", "mx1.example.")],
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.":
        [("PTR", "v6.example.")],
    "servfail.example.": "servfail",
    "refused.example.": "refused",
    "gone.example.": "nxdomain",
    "timeout.example.": "timeout",
    "bad.example.": "malformed",
    "badlabel.example.": "badlabel",
}
BEHAVIOURS = {"slow.example.": "slow:1", "slow2.example.": "slow:2"}
SLOW_RECORDS = {"slow.example.": [("A", "192.0.2.50")], "slow2.example.": [("A", "192.0.2.51")]}


def dnsq_binary():
    build = os.environ.get("TERN_BUILD")
    if not build:
        pytest.skip("TERN_BUILD is not set (run through make system)")
    return os.path.join(build, "tests", "tools", "dnsq")


def dnsq(*args, servers=None, timeout=30, env=None):
    cmd = [dnsq_binary()]
    if servers:
        cmd += ["-s", servers]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env=env)


def parse(out):
    """The answer lines of dnsq's output, as dicts with a list of records."""
    answers = []
    for line in out.splitlines():
        m = LINE.match(line)
        assert m, "unexpected line %r" % line
        a = m.groupdict()
        a["ms"] = int(a["ms"])
        a["rr"] = [r for r in a.pop("rest").split(" ; ")[1:]]
        answers.append(a)
    return answers


def ask(srv, *args, **kw):
    r = dnsq(*args, servers=srv.address, **kw)
    assert r.returncode == 0, r.stderr
    return parse(r.stdout)


def one(srv, *args, **kw):
    answers = ask(srv, *args, **kw)
    assert len(answers) == 1, answers
    return answers[0]


@pytest.fixture
def srv(dns_server):
    zones = dict(ZONES)
    zones.update(SLOW_RECORDS)
    dns_server.set_zones(zones, BEHAVIOURS)
    return dns_server


def test_mx_sorted_with_equal_preferences_shuffled(srv):
    orders = set()
    for _ in range(4):
        for a in ask(srv, "-n", "25", "MX", "example"):
            assert a["status"] == "OK"
            assert a["rr"][0] == "5 first.example"
            assert sorted(a["rr"][1:3]) == ["10 mx1.example", "10 mx2.example"]
            assert a["rr"][3] == "20 backup.example"
            orders.add(tuple(a["rr"][1:3]))
    assert len(orders) == 2, orders


def test_null_mx(srv):
    a = one(srv, "MX", "null.example")
    assert a["status"] == "NULLMX"
    assert a["rr"] == ["0 ."]
    assert "null MX" in a["why"]
    # "0 ." among other records is not a null MX
    a = one(srv, "MX", "notnull.example")
    assert a["status"] == "OK"
    assert a["rr"] == ["0 .", "10 mx1.example"]


def test_a_and_aaaa(srv):
    answers = {a["type"]: a for a in ask(srv, "A", "mx1.example", "AAAA/mx1.example")}
    assert answers["A"]["status"] == "OK"
    assert sorted(answers["A"]["rr"]) == ["192.0.2.1", "192.0.2.2"]
    assert answers["AAAA"]["rr"] == ["2001:db8::1"]
    assert answers["AAAA"]["secure"] == "0" and answers["AAAA"]["bogus"] == "0"


def test_ptr_through_reverse_names(srv):
    answers = {a["name"]: a for a in ask(srv, "PTR", "192.0.2.1", "2001:db8::1", "192.0.2.99")}
    assert answers["1.2.0.192.in-addr.arpa"]["rr"] == ["mx1.example"]
    v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    assert answers[v6]["rr"] == ["v6.example"]
    assert answers["99.2.0.192.in-addr.arpa"]["status"] == "NXDOMAIN"
    assert srv.queried("1.2.0.192.in-addr.arpa") == [("PTR", "udp")]


def test_txt(srv):
    answers = {a["name"]: a for a in ask(srv, "TXT", "txt.example", "multi.example",
                                         "long.example", "mx1.example")}
    assert answers["txt.example"]["rr"] == ['"v=spf1 -all"']
    # the character-strings of one record are joined
    assert answers["multi.example"]["rr"] == ['"v=DKIM1; k=rsa; p=abc"']
    assert answers["long.example"]["rr"] == ['"' + "x" * 600 + '"']
    assert answers["mx1.example"]["status"] == "NODATA"


def test_tlsa(srv):
    a = one(srv, "TLSA", "_25._tcp.mx1.example")
    assert a["status"] == "OK"
    assert a["rr"] == ["3 1 1 " + "0123456789abcdef" * 4]


def test_cname_chain_followed(srv):
    a = one(srv, "A", "alias.example")
    assert a["status"] == "OK"
    assert a["canon"] == "mx1.example"
    assert sorted(a["rr"]) == ["192.0.2.1", "192.0.2.2"]
    a = one(srv, "A", "mx1.example")
    assert a["canon"] == "-"


def test_nxdomain_servfail_refused_are_distinct(srv):
    answers = {a["name"]: a for a in ask(srv, "-t", "5000", "A", "nowhere.example",
                                         "gone.example", "servfail.example",
                                         "refused.example")}
    assert answers["nowhere.example"]["status"] == "NXDOMAIN"
    assert answers["nowhere.example"]["rcode"] == "3"
    assert answers["gone.example"]["status"] == "NXDOMAIN"
    assert answers["servfail.example"]["status"] == "TEMPFAIL"
    assert answers["servfail.example"]["rcode"] == "2"
    assert "SERVFAIL" in answers["servfail.example"]["why"]
    assert answers["refused.example"]["status"] == "TEMPFAIL"
    for a in answers.values():
        assert a["ms"] < 4000, a


def test_timeout_honoured(srv):
    start = time.monotonic()
    a = one(srv, "-t", "1500", "A", "timeout.example")
    elapsed = time.monotonic() - start
    assert a["status"] == "TEMPFAIL"
    assert a["why"] == "timeout"
    assert 1400 <= a["ms"] <= 2500, a
    assert elapsed < 3.5
    assert srv.queried("timeout.example")


def test_slow_answer_within_timeout(srv):
    a = one(srv, "-t", "4000", "A", "slow.example")
    assert a["status"] == "OK"
    assert a["rr"] == ["192.0.2.50"]
    assert 900 <= a["ms"] < 3000, a


def test_late_answer_after_timeout_is_ignored(srv):
    # The answer comes at 2 s; the query gives up at 0.7 s and the loop
    # runs on until 3 s, so the late answer arrives and must be dropped.
    r = dnsq("-t", "700", "-l", "2500", "A", "slow2.example", servers=srv.address)
    assert r.returncode == 0, r.stderr
    answers = parse(r.stdout)
    assert len(answers) == 1
    assert answers[0]["status"] == "TEMPFAIL" and answers[0]["why"] == "timeout"
    assert "ERROR" not in r.stderr and "Sanitizer" not in r.stderr


def test_malformed_rdata_reported(srv):
    answers = {a["type"]: a for a in ask(srv, "MX", "bad.example", "A/bad.example",
                                         "AAAA/bad.example", "TXT/bad.example",
                                         "TLSA/bad.example", "PTR/bad.example")}
    assert set(answers) == {"MX", "A", "AAAA", "TXT", "TLSA", "PTR"}
    for a in answers.values():
        assert a["status"] == "MALFORMED", a
        assert a["rr"] == []
    assert "MX record truncated" in answers["MX"]["why"]
    assert "not 4 bytes" in answers["A"]["why"]
    assert "runs past the end" in answers["TXT"]["why"]
    assert "bad character" in answers["PTR"]["why"]


def test_bad_label_refused_by_resolver_library(srv):
    # libunbound checks names inside MX data itself: the answer never
    # reaches our parser and the server counts as failing.
    a = one(srv, "-t", "5000", "MX", "badlabel.example")
    assert a["status"] == "TEMPFAIL"


def test_concurrent_queries_on_one_loop(srv):
    names = ["slow.example", "A/mx1.example", "MX/example", "TXT/txt.example",
             "AAAA/mx1.example", "A/slow2.example", "MX/null.example", "A/nowhere.example"]
    start = time.monotonic()
    answers = ask(srv, "-t", "5000", "A", *names)
    elapsed = time.monotonic() - start
    assert len(answers) == len(names)
    by = {(a["name"], a["type"]): a for a in answers}
    # fast answers did not wait for the slow ones
    for key in [("mx1.example", "A"), ("example", "MX"), ("txt.example", "TXT")]:
        assert by[key]["ms"] < 800, by[key]
    assert by[("slow.example", "A")]["rr"] == ["192.0.2.50"]
    assert by[("slow2.example", "A")]["rr"] == ["192.0.2.51"]
    # the two slow ones overlapped: 2 s, not 3
    assert elapsed < 2.9, elapsed
    assert answers[-1]["name"] == "slow2.example"


def test_tcp_after_truncation(dns_server):
    dns_server.set_zones({"big.example.": [("A", "192.0.2.%d" % i) for i in range(1, 60)],
                          "tc.example.": [("A", "192.0.2.9")]},
                         {"tc.example.": "tc"})
    answers = {a["name"]: a for a in ask(dns_server, "A", "big.example", "tc.example")}
    assert len(answers["big.example"]["rr"]) == 59
    assert answers["tc.example"]["rr"] == ["192.0.2.9"]
    assert ("A", "tcp") in dns_server.queried("tc.example")


def test_hosts_file_used_when_given(srv, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# test\n192.0.2.77 pinned.example pinned\n2001:db8::77 pinned.example\n")
    answers = {(a["name"], a["type"]): a for a in ask(
        srv, "-H", str(hosts), "A", "pinned.example", "AAAA/pinned.example", "mx1.example")}
    assert answers[("pinned.example", "A")]["rr"] == ["192.0.2.77"]
    assert answers[("pinned.example", "AAAA")]["rr"] == ["2001:db8::77"]
    assert sorted(answers[("mx1.example", "A")]["rr"]) == ["192.0.2.1", "192.0.2.2"]
    assert srv.queried("pinned.example") == []
    # without the file the name goes to the server
    assert one(srv, "A", "pinned.example")["status"] == "NXDOMAIN"


def test_resolv_conf_used_without_servers(tmp_path):
    # resolv.conf names no port, so this server needs port 53 on a
    # loopback address of its own.
    srv = DNSServer({"rc.example.": [("A", "192.0.2.53")]}, host="127.0.53.1", port=53)
    try:
        srv.start()
    except OSError as e:
        pytest.skip("cannot listen on 127.0.53.1:53: %s" % e)
    try:
        rc = tmp_path / "resolv.conf"
        rc.write_text("search example\noptions ndots:1\nnameserver 127.0.53.1\n")
        hosts = tmp_path / "hosts"
        hosts.write_text("192.0.2.88 fromhosts.example\n")
        r = dnsq("-r", str(rc), "-H", str(hosts), "A", "rc.example", "fromhosts.example")
        assert r.returncode == 0, r.stderr
        answers = {a["name"]: a for a in parse(r.stdout)}
        assert answers["rc.example"]["rr"] == ["192.0.2.53"]
        assert answers["fromhosts.example"]["rr"] == ["192.0.2.88"]
        assert srv.queried("rc.example")
    finally:
        srv.stop()


def test_sync_queries(srv):
    answers = ask(srv, "-S", "-t", "1000", "A", "mx1.example", "MX/null.example",
                  "timeout.example", "bad.example")
    assert [a["status"] for a in answers] == ["OK", "NULLMX", "TEMPFAIL", "MALFORMED"]
    assert 900 <= answers[2]["ms"] - answers[1]["ms"] <= 2000


def test_cancelled_queries_never_call_back(srv):
    r = dnsq("-C", "-l", "1500", "A", "slow.example", "mx1.example", servers=srv.address)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["cancelled slow.example A", "cancelled mx1.example A"]


def test_resolver_freed_inside_a_callback(srv):
    r = dnsq("-F", "-l", "1500", "A", "mx1.example", "slow.example", "slow2.example",
             servers=srv.address)
    assert r.returncode == 0, r.stderr
    answers = parse(r.stdout)
    assert len(answers) == 1 and answers[0]["name"] == "mx1.example"


def test_trust_anchor_makes_unsigned_answers_bogus(srv):
    # With the root's key as anchor, the test server (which has no
    # DNSSEC data, not even for the root) cannot be validated.
    anchor = "/usr/share/dns/root.key"
    if not os.path.exists(anchor):
        pytest.skip("dns-root-data is not installed")
    a = one(srv, "-a", anchor, "-t", "5000", "A", "mx1.example")
    assert a["status"] == "BOGUS"
    assert a["bogus"] == "1" and a["secure"] == "0"
    assert a["why"]
    assert not any(n.startswith("_ta-") for n, _, _ in srv.queries)


def test_only_the_asked_names_reach_the_server(srv):
    ask(srv, "-a", "/usr/share/dns/root.key", "-t", "3000", "MX", "example")
    ask(srv, "MX", "example")
    assert all(p in ("udp", "tcp") for _, _, p in srv.queries)
    # every query named the test data or the root keys the validator wants
    for name, qtype, _ in srv.queries:
        assert name.endswith("example.") or (name, qtype) == (".", "DNSKEY"), (name, qtype)


def test_configuration_errors(srv, tmp_path):
    for args, text in [(["-s", "192.0.2.1@99999"], "bad DNS server address"),
                       (["-s", "dns.example"], "bad DNS server address"),
                       (["-s", ""], "empty DNS server list"),
                       (["-r", str(tmp_path / "none")], "cannot read"),
                       (["-s", srv.address, "-H", str(tmp_path / "none")], "cannot read"),
                       (["-s", srv.address, "-a", str(tmp_path / "none")], "trust anchor")]:
        r = dnsq(*args, "A", "mx1.example")
        assert r.returncode == 1, (args, r.stdout)
        assert text in r.stderr, (args, r.stderr)
    bad_anchor = tmp_path / "anchor"
    bad_anchor.write_text("this is not a DNSKEY\n")
    r = dnsq("-s", srv.address, "-a", str(bad_anchor), "A", "mx1.example")
    assert r.returncode == 1
    for name in ["a..example", "a b.example", "x" * 64 + ".example", "caf\u00e9.example"]:
        r = dnsq("A", name, servers=srv.address)
        assert r.returncode == 1, name
        assert "domain name" in r.stderr, (name, r.stderr)
    assert srv.queries == []


def test_unused_port_is_a_timeout_not_a_hang():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    start = time.monotonic()
    r = dnsq("-t", "1000", "A", "mx1.example", servers="127.0.0.1@%d" % port)
    assert r.returncode == 0, r.stderr
    assert parse(r.stdout)[0]["status"] == "TEMPFAIL"
    assert time.monotonic() - start < 3


def test_dnssec_secure_and_bogus(signed_zone):
    tlsa = "0123456789abcdef" * 4
    z = signed_zone("secure.example",
                    "@ IN MX 10 mx\n"
                    "mx IN A 192.0.2.25\n"
                    "_25._tcp.mx IN TLSA 3 1 1 %s\n"
                    "forged IN A 192.0.2.66\n" % tlsa,
                    tamper=[("192.0.2.66", "192.0.2.67")])
    r = dnsq("-a", z.anchor, "-t", "5000", "MX", "secure.example", "A/mx.secure.example",
             "TLSA/_25._tcp.mx.secure.example", "A/nope.secure.example",
             "TXT/mx.secure.example", "A/forged.secure.example", servers=z.address)
    assert r.returncode == 0, r.stderr
    by = {(a["name"], a["type"]): a for a in parse(r.stdout)}
    assert by[("secure.example", "MX")]["rr"] == ["10 mx.secure.example"]
    assert by[("_25._tcp.mx.secure.example", "TLSA")]["rr"] == ["3 1 1 " + tlsa]
    assert by[("nope.secure.example", "A")]["status"] == "NXDOMAIN"
    assert by[("mx.secure.example", "TXT")]["status"] == "NODATA"
    for key in [("secure.example", "MX"), ("mx.secure.example", "A"),
                ("_25._tcp.mx.secure.example", "TLSA"), ("nope.secure.example", "A"),
                ("mx.secure.example", "TXT")]:
        assert (by[key]["secure"], by[key]["bogus"]) == ("1", "0"), by[key]
    forged = by[("forged.secure.example", "A")]
    assert forged["status"] == "BOGUS"
    assert (forged["secure"], forged["bogus"]) == ("0", "1")
    assert forged["rr"] == []
    # the same data without a trust anchor: answered, but not secure
    a = one(z, "TLSA", "_25._tcp.mx.secure.example")
    assert a["status"] == "OK" and a["secure"] == "0"


def test_files_read_before_chroot(signed_zone, tmp_path):
    # The trust anchor and hosts file are read when the resolver is made;
    # queries then work inside an empty chroot.
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    z = signed_zone("secure.example", "mx IN A 192.0.2.25\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.99 pinned.example\n")
    jail = tmp_path / "jail"
    jail.mkdir()
    # (LeakSanitizer cannot read /proc from inside the jail; the other
    # tests look for leaks.)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    r = dnsq("-j", str(jail), "-a", z.anchor, "-H", str(hosts), "A", "mx.secure.example",
             "pinned.example", servers=z.address, env=env)
    assert r.returncode == 0, r.stderr
    by = {a["name"]: a for a in parse(r.stdout)}
    assert by["mx.secure.example"]["rr"] == ["192.0.2.25"]
    assert by["mx.secure.example"]["secure"] == "1"
    assert by["pinned.example"]["rr"] == ["192.0.2.99"]
