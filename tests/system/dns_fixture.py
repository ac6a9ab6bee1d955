"""DNS fixtures for the system tests.

dns_server: the scripted server of dnsserver.py on loopback.  Import it
into a test module ("from dns_fixture import dns_server") and declare the
data the test needs:

    def test_x(dns_server):
        dns_server.set_zones({"example.": [("MX", 10, "mx.example.")]})
        ... dns_servers = dns_server.address ...

It starts empty (every name NXDOMAIN) and stops at teardown.

signed_zone: a factory for DNSSEC-signed zones served by nsd (signed with
ldns-signzone), for tests of secure and bogus answers:

    def test_y(signed_zone):
        z = signed_zone("secure.example", "@ IN MX 10 mx\\nmx IN A 192.0.2.1\\n",
                        tamper=[("192.0.2.1", "192.0.2.9")])
        ... dns_servers = z.address, trust anchor file = z.anchor ...

The body is zone-file text relative to the origin (SOA and NS are added);
tamper replaces text in the signed zone, so the records it touches no
longer match their signatures.  Skips the test when nsd or ldnsutils is
missing; every nsd stops at teardown.
"""

import os
import shutil
import socket
import subprocess
import time

import pytest
from dnslib import DNSRecord

from dnsserver import DNSServer

NSD_START_TIMEOUT = 10


@pytest.fixture
def dns_server():
    srv = DNSServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SignedZone:
    """nsd serving one signed zone on 127.0.0.1 and a free port."""

    def __init__(self, workdir, origin, body, tamper=None):
        self.dir = str(workdir)
        self.origin = origin.rstrip(".") + "."
        self.body = body
        self.tamper = tamper or []
        self.port = None
        self.anchor = None
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1@%d" % self.port

    def _run(self, *cmd):
        r = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (cmd, r.stderr)
        return r.stdout

    def _sign(self):
        key = self._run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", self.origin).strip()
        self.anchor = os.path.join(self.dir, key + ".key")
        zone = os.path.join(self.dir, "zone")
        with open(zone, "w") as f:
            f.write("$ORIGIN %s\n$TTL 300\n" % self.origin)
            f.write("@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\n")
            f.write("ns IN A 127.0.0.1\n")
            f.write(self.body)
        self._run("ldns-signzone", "-f", zone + ".signed", zone, key)
        with open(zone + ".signed") as f:
            signed = f.read()
        for old, new in self.tamper:
            assert old in signed, old
            signed = signed.replace(old, new)
        with open(zone + ".signed", "w") as f:
            f.write(signed)

    def _config(self):
        conf = os.path.join(self.dir, "nsd.conf")
        with open(conf, "w") as f:
            f.write('server:\n\tip-address: 127.0.0.1@%d\n\tusername: ""\n\tchroot: ""\n'
                    '\tzonesdir: "%s"\n\tpidfile: "%s/nsd.pid"\n\tdatabase: ""\n'
                    '\tzonelistfile: "%s/zone.list"\n\txfrdfile: "%s/xfrd.state"\n'
                    '\txfrdir: "%s"\n\tlogfile: "%s/nsd.log"\n\tserver-count: 1\n'
                    'remote-control:\n\tcontrol-enable: no\n'
                    'zone:\n\tname: %s\n\tzonefile: zone.signed\n'
                    % (self.port, self.dir, self.dir, self.dir, self.dir, self.dir,
                       self.dir, self.origin))
        return conf

    def _answers(self):
        q = DNSRecord.question(self.origin, "SOA")
        try:
            q.send("127.0.0.1", self.port, timeout=0.2)
            return True
        except (socket.timeout, OSError):
            return False

    def start(self):
        self._sign()
        for _ in range(5):
            self.port = _free_port()
            self.proc = subprocess.Popen(["nsd", "-d", "-c", self._config()],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + NSD_START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._answers():
                    return self
                time.sleep(0.1)
            self.stop()
        raise RuntimeError("nsd did not start; see %s/nsd.log" % self.dir)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def signed_zone(tmp_path):
    for tool in ("nsd", "ldns-keygen", "ldns-signzone"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)
    zones = []

    def make(origin, body, tamper=None):
        workdir = tmp_path / ("zone%d" % len(zones))
        workdir.mkdir()
        z = SignedZone(workdir, origin, body, tamper)
        zones.append(z)
        return z.start()

    try:
        yield make
    finally:
        for z in zones:
            z.stop()
