"""tern check, tern init and tern config: the real binary on real files.

Each test writes a configuration directory of its own (or lets tern init
write one) and checks exit codes and the exact "main.cf:3:" messages.
"""
import os
import subprocess

import pytest

EX_CONFIG = 78
EX_USAGE = 64
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    build = os.environ.get("TERN_BUILD")
    if not build:
        pytest.skip("TERN_BUILD is not set (run through make system)")
    return build


def tern(*args):
    return subprocess.run([os.path.join(build_dir(), "bin", "tern"), *args],
                          capture_output=True, text=True, timeout=60)


def check(confdir):
    return tern("-c", str(confdir), "check")


def errors(r):
    """The error lines (not warnings, not the summary)."""
    return [l for l in r.stderr.splitlines()
            if not l.startswith("warning: ") and not l.startswith("tern check:")]


MASTER_CF = "cleanup unix - - - - 0 cleanup\nqmgr unix n - n 300 1 qmgr\n"


def make_conf(tmp_path, main_extra="", master=MASTER_CF):
    """A small valid configuration under tmp_path; returns its directory."""
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "main.cf").write_text(
        "# test configuration\n"
        f"queue_directory = {tmp_path}/spool\n"
        f"drop_directory = {tmp_path}/drop\n"
        f"daemon_directory = {build_dir()}/bin\n"
        "unprivileged_mode = yes\n"
        "alias_maps =\n"
        "myhostname = mx.example.org\n" + main_extra)
    (conf / "master.cf").write_text(master)
    return conf


def test_good_configuration(tmp_path):
    conf = make_conf(tmp_path, "mydestination = $myhostname, ${mydomain}, $(myorigin)\n")
    r = check(conf)
    assert r.returncode == 0, r.stderr
    assert errors(r) == []


def test_bad_values_are_reported_with_file_and_line(tmp_path):
    conf = make_conf(tmp_path)
    with open(conf / "main.cf", "a") as f:
        f.write("smtpd_timeout = 5x\n"                   # line 8
                "relayhost = ${nowhere}\n"               # line 9
                "myorigin = $mydomain\n"                 # line 10
                "mydomain = $myorigin\n"                 # line 11
                "smtpd_banner = costs $ 5\n"             # line 12
                "hopcount_limit = 0\n"                   # line 13
                "no_such_thing = 1\n")                   # line 14
    r = check(conf)
    assert r.returncode == EX_CONFIG
    main = f"{conf}/main.cf"
    errs = errors(r)
    assert f"{main}:8: parameter smtpd_timeout: \"5x\": bad time unit (use s, m, h, d or w)" \
        in errs
    assert f"{main}:9: parameter relayhost: undefined parameter $nowhere" in errs
    assert f"{main}:10: parameter myorigin: recursive expansion of $myorigin" in errs
    assert f"{main}:11: parameter mydomain: recursive expansion of $mydomain" in errs
    assert f"{main}:12: parameter smtpd_banner: bad \"$\" escape \"$ \" " \
        "(use $$ for a literal $)" in errs
    assert f"{main}:13: parameter hopcount_limit: number 0 is below the minimum 1" in errs
    assert f"warning: {main}:14: unknown parameter no_such_thing" in r.stderr
    assert "tern check: " in r.stderr


def test_overlong_line(tmp_path):
    conf = make_conf(tmp_path, "smtpd_banner = " + "x" * 70000 + "\n")
    r = check(conf)
    assert r.returncode == EX_CONFIG
    assert errors(r) == [f"{conf}/main.cf:8: line longer than 65536 bytes"]


def test_missing_main_cf(tmp_path):
    r = check(tmp_path)
    assert r.returncode == EX_CONFIG
    assert f"{tmp_path}/main.cf: cannot open: No such file or directory" in errors(r)
    assert f"{tmp_path}/master.cf: cannot open: No such file or directory" in errors(r)


def test_master_cf_errors(tmp_path):
    conf = make_conf(tmp_path, master=(
        "smtp inet n - - - - smtpd\n"                              # 1
        "cleanup unix - - - -\n"                                   # 2
        "qmgr unix maybe - - - - qmgr\n"                           # 3
        "local unix - - - - lots local\n"                          # 4
        "smtp inet n - - - - smtpd\n"                              # 5
        "2525 inet n - - - - smtpd -o smtpd_timeout=1y\n"          # 6
        "2526 inet n - - - - smtpd -o nonsense_param=1\n"))        # 7
    r = check(conf)
    assert r.returncode == EX_CONFIG
    m = f"{conf}/master.cf"
    errs = errors(r)
    assert f"{m}:2: expected at least 8 fields (service type private unpriv chroot wakeup " \
        "maxproc command), found 6" in errs
    assert f"{m}:3: private, unpriv and chroot must each be y, n or -, not \"maybe - -\"" \
        in errs
    assert f"{m}:4: bad maxproc \"lots\": not a number (0..100000 or -)" in errs
    assert f"{m}:5: duplicate service \"smtp\" (inet), first defined at {m}:1" in errs
    assert f"{m}:6: parameter smtpd_timeout: \"1y\": bad time unit (use s, m, h, d or w)" \
        in errs
    assert f"warning: {m}:7: unknown parameter nonsense_param in -o" in r.stderr


def test_override_checked_as_the_service_sees_it(tmp_path):
    conf = make_conf(tmp_path, master=MASTER_CF + (
        "2525 inet n - - - - smtpd\n"
        "  -o smtpd_banner=$undefined_here\n"
        "  -o myhostname=other.example.org\n"))
    r = check(conf)
    assert r.returncode == EX_CONFIG
    assert errors(r) == [
        f"{conf}/master.cf:3: parameter smtpd_banner: undefined parameter $undefined_here"]


def test_tables_are_opened(tmp_path):
    aliases = tmp_path / "aliases"
    conf = make_conf(tmp_path, f"virtual_alias_maps = cdb:{aliases}, inline:{{a=b, c=d}}\n")
    r = check(conf)
    assert r.returncode == EX_CONFIG
    assert errors(r) == [
        f"{conf}/main.cf:8: parameter virtual_alias_maps: cdb:{aliases}: "
        f"open {aliases}.cdb: No such file or directory"]
    aliases.write_text("a@example.org b@example.org\n")
    assert tern("map", "build", str(aliases)).returncode == 0
    r = check(conf)
    assert r.returncode == 0, r.stderr

    # A table named only in an override is opened too.
    (conf / "master.cf").write_text(
        MASTER_CF + "2525 inet n - - - - smtpd -o smtpd_sender_login_maps=cdb:/nonexistent/x\n")
    r = check(conf)
    assert r.returncode == EX_CONFIG
    assert errors(r) == [
        f"{conf}/master.cf:3: parameter smtpd_sender_login_maps: cdb:/nonexistent/x: "
        "open /nonexistent/x.cdb: No such file or directory"]


def test_tls_files(tmp_path):
    conf = make_conf(tmp_path, f"smtpd_tls_cert_file = {tmp_path}/missing.pem\n")
    r = check(conf)
    assert r.returncode == EX_CONFIG
    assert errors(r) == [f"{conf}/main.cf:8: parameter smtpd_tls_cert_file: "
                         f"{tmp_path}/missing.pem: No such file or directory"]

    (tmp_path / "junk.pem").write_text("not a certificate\n")
    conf2 = tmp_path / "two"
    conf2.mkdir()
    (conf2 / "main.cf").write_text((conf / "main.cf").read_text().replace(
        "missing.pem", "junk.pem"))
    (conf2 / "master.cf").write_text(MASTER_CF)
    r = check(conf2)
    assert r.returncode == EX_CONFIG
    assert f"{tmp_path}/junk.pem: no usable PEM certificate" in r.stderr


def test_queue_directory_must_be_a_directory(tmp_path):
    (tmp_path / "afile").write_text("")
    conf = make_conf(tmp_path, f"queue_directory = {tmp_path}/afile\n")
    r = check(conf)
    assert r.returncode == EX_CONFIG
    assert errors(r) == [
        f"{conf}/main.cf:8: parameter queue_directory: {tmp_path}/afile: not a directory"]


def test_init_then_check(tmp_path):
    conf = tmp_path / "etc"
    run = tmp_path / "run"
    r = tern("-c", str(conf), "init", str(run))
    assert r.returncode == 0, r.stderr
    for name in ("main.cf", "master.cf", "smtpd-cert.pem", "smtpd-key.pem"):
        assert (conf / name).exists()
    assert (conf / "smtpd-key.pem").stat().st_mode & 0o077 == 0
    main = (conf / "main.cf").read_text()
    assert "unprivileged_mode = yes\n" in main
    assert f"queue_directory = {run}/spool\n" in main
    assert f"drop_directory = {run}/drop\n" in main
    assert f"maillog_file = {run}/log/maillog\n" in main
    assert f"daemon_directory = {os.path.realpath(build_dir())}/bin\n" in main
    master = (conf / "master.cf").read_text()
    for listener in ("127.0.0.1:2525", "127.0.0.1:2587", "127.0.0.1:2465"):
        assert f"\n{listener} inet" in master
    assert "-o smtpd_tls_wrappermode=yes" in master
    r = check(conf)
    assert r.returncode == 0, r.stderr
    assert errors(r) == []

    # A second init keeps what is there.
    (conf / "main.cf").write_text(main + "hopcount_limit = 50\n")
    r = tern("-c", str(conf), "init", str(run))
    assert r.returncode == 0, r.stderr
    assert (conf / "main.cf").read_text().endswith("hopcount_limit = 50\n")

    r = tern("-c", str(conf), "config", "-x", "hopcount_limit", "queue_directory")
    assert (r.returncode, r.stdout) == (0, f"hopcount_limit = 50\nqueue_directory = {run}/spool\n")


def test_init_usage(tmp_path):
    assert tern("-c", str(tmp_path), "init").returncode == EX_USAGE


def test_production_files_pass(tmp_path):
    r = check(os.path.join(TOP, "conf"))
    assert r.returncode == 0, r.stderr
    assert errors(r) == []


def test_config_command(tmp_path):
    conf = make_conf(tmp_path, "smtpd_banner = $myhostname hello\nlocal_setting = 1\n")
    r = tern("-c", str(conf), "config", "-n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "smtpd_banner = $myhostname hello" in lines
    assert "local_setting = 1" in lines
    assert not any(l.startswith("hopcount_limit") for l in lines)

    r = tern("-c", str(conf), "config", "-x", "smtpd_banner")
    assert (r.returncode, r.stdout) == (0, "smtpd_banner = mx.example.org hello\n")

    r = tern("-c", str(conf), "config", "-d", "smtpd_banner", "message_size_limit")
    assert r.stdout == "smtpd_banner = $myhostname ESMTP\nmessage_size_limit = 10240000\n"

    r = tern("-c", str(conf), "config", "no_such_parameter")
    assert r.returncode == EX_CONFIG

    r = tern("config", "-m")
    assert r.returncode == 0
    assert "| `retry_schedule` | list | `10m, 10m, 10m, 15m, 30m, 1h, 2h, 4h` |" in r.stdout
