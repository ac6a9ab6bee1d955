"""tern map build / tern map query: the real binary on real files.

Runs $TERN_BUILD/bin/tern (make system sets TERN_BUILD) in a fresh
directory per test and checks exit codes, messages and the files left.
"""
import os
import subprocess

import pytest

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66


def tern_binary():
    build = os.environ.get("TERN_BUILD")
    if not build:
        pytest.skip("TERN_BUILD is not set (run through make system)")
    return os.path.join(build, "bin", "tern")


def tern(*args):
    return subprocess.run([tern_binary(), *args], capture_output=True, text=True,
                          timeout=30)


def query(spec, key):
    return tern("map", "query", spec, key)


def test_build_and_query_cdb(tmp_path):
    src = tmp_path / "access"
    src.write_text("# access\n"
                   "Example.COM   OK\n"
                   "spam.example  REJECT no\n"
                   "    spam here\n"
                   "example.com   duplicate\n")
    r = tern("map", "build", str(src))
    assert r.returncode == 0, r.stderr
    assert f"{src}:5: duplicate key \"example.com\"" in r.stderr
    assert (tmp_path / "access.cdb").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["access", "access.cdb"]

    r = query(f"cdb:{src}", "EXAMPLE.com")
    assert (r.returncode, r.stdout) == (0, "OK\n")
    r = query(f"cdb:{src}", "spam.example")
    assert (r.returncode, r.stdout) == (0, "REJECT no spam here\n")
    r = query(f"cdb:{src}", "example.org")
    assert (r.returncode, r.stdout) == (1, "")


@pytest.mark.parametrize("kind", ["hash", "btree"])
def test_build_berkeley_db(tmp_path, kind):
    src = tmp_path / "transport"
    src.write_text("example.com smtp:[relay.example]:587\n")
    r = tern("map", "build", "-t", kind, str(src))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "transport.db").exists()
    r = query(f"{kind}:{src}", "Example.Com")
    assert (r.returncode, r.stdout) == (0, "smtp:[relay.example]:587\n")
    # "type:FILE" names the type as -t does.
    src.write_text("example.com smtp:[other.example]\n")
    r = tern("map", "build", f"{kind}:{src}")
    assert r.returncode == 0, r.stderr
    assert query(f"{kind}:{src}", "example.com").stdout == "smtp:[other.example]\n"


def test_build_aliases(tmp_path):
    src = tmp_path / "aliases"
    src.write_text("postmaster: root\n"
                   "Root: alice,bob,\n"
                   "\t\"|/usr/local/bin/filter x,y\" ,\n"
                   "   :include:/etc/tern/staff\n")
    r = tern("map", "build", "-a", str(src))
    assert r.returncode == 0, r.stderr
    r = query(f"cdb:{src}", "root")
    assert r.returncode == 0
    assert r.stdout == ("alice, bob, \"|/usr/local/bin/filter x,y\", "
                        ":include:/etc/tern/staff\n")
    assert query(f"cdb:{src}", "postmaster").stdout == "root\n"


def test_bad_source_keeps_old_table(tmp_path):
    src = tmp_path / "access"
    src.write_text("a 1\n")
    assert tern("map", "build", str(src)).returncode == 0
    before = (tmp_path / "access.cdb").read_bytes()

    src.write_text("a 2\n# comment\nnovalue\nb 3\n")
    r = tern("map", "build", str(src))
    assert r.returncode == EX_DATAERR
    assert f"{src}:3: missing value after key \"novalue\"" in r.stderr
    assert (tmp_path / "access.cdb").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["access", "access.cdb"]
    assert query(f"cdb:{src}", "a").stdout == "1\n"


def test_bad_aliases_and_long_line(tmp_path):
    src = tmp_path / "aliases"
    src.write_text("root alice\nok: bob\n")
    r = tern("map", "build", "-a", str(src))
    assert r.returncode == EX_DATAERR
    assert f"{src}:1: missing \":\" after the alias name \"root\"" in r.stderr
    assert not (tmp_path / "aliases.cdb").exists()

    src.write_text("a 1\nb " + "x" * 70000 + "\n")
    r = tern("map", "build", str(src))
    assert r.returncode == EX_DATAERR
    assert f"{src}:2: line longer than 65536 bytes" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aliases"]


def test_missing_file_and_usage(tmp_path):
    r = tern("map", "build", str(tmp_path / "absent"))
    assert r.returncode == EX_NOINPUT
    assert "absent: No such file or directory" in r.stderr
    assert list(tmp_path.iterdir()) == []

    assert tern("map", "build").returncode == EX_USAGE
    assert tern("map", "build", "-t", "cidr", str(tmp_path / "x")).returncode == EX_USAGE
    assert tern("map", "frobnicate").returncode == EX_USAGE

    r = query("nosuch:/x", "k")
    assert r.returncode == EX_NOINPUT
    assert "unknown table type \"nosuch\"" in r.stderr
    r = query(f"cdb:{tmp_path / 'absent'}", "k")
    assert r.returncode == EX_NOINPUT
    assert "absent.cdb: No such file or directory" in r.stderr


def test_query_other_types(tmp_path):
    assert query("inline:{ K1 = v1, k2=v2 }", "k1").stdout == "v1\n"
    assert query("static:{REJECT go away}", "anything").stdout == "REJECT go away\n"
    r = query("inline:{k1=v1", "k1")
    assert r.returncode == EX_NOINPUT
    assert "missing \"}\" at position 14" in r.stderr

    nets = tmp_path / "clients.cidr"
    nets.write_text("192.0.2.0/24 doc\n2001:db8::/32 doc6\n")
    assert query(f"cidr:{nets}", "192.0.2.9").stdout == "doc\n"
    assert query(f"cidr:{nets}", "2001:db8::1").stdout == "doc6\n"
    assert query(f"cidr:{nets}", "198.51.100.1").returncode == 1

    checks = tmp_path / "checks.regexp"
    checks.write_text("/^(.+)@example\\.com$/ user $1\n")
    assert query(f"regexp:{checks}", "joe@example.com").stdout == "user joe\n"
    checks.write_text("/ok/ fine\n/a(b/ bad\n")
    r = query(f"regexp:{checks}", "x")
    assert r.returncode == EX_NOINPUT
    assert f"{checks}:2: bad regular expression" in r.stderr
