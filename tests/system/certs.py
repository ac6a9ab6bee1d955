"""Test certificates for the system tests, made with the openssl command.

Plain functions, each returning paths (pathlib.Path):

    ca = make_ca(directory)                         # a CA: ca.cert, ca.key
    cert, key = make_cert(ca, directory, "mx.example",
                          dns=["mx.example", "localhost"], ips=["127.0.0.1"])
    cert, key = make_cert(ca, directory, "old.example", expired=True)
    cert, key = make_cert(ca, directory, "client", client=True)
    pki = make_test_pki(directory)                  # all of the above at once

make_test_pki() gives a TestPKI with: ca_cert, ca_key; server_cert and
server_key (CN mx.example; DNS mx.example, localhost; IP 127.0.0.1);
other_cert and other_key (DNS other.example, *.wild.example: a second
certificate for SNI tests); expired_cert and expired_key (valid names,
expired in 2020); client_cert and client_key (clientAuth); and
server_chain (server certificate then the CA, the file a server loads).

The module-scoped fixture ``test_ca`` makes one TestPKI per test module:

    from certs import test_ca  # noqa: F401   (in a test module)

    def test_tls(test_ca):
        ... test_ca.server_cert, test_ca.server_key, test_ca.ca_cert ...

Keys are EC P-256 without a passphrase, written with mode 0600.
"""

import os
import subprocess
from pathlib import Path

import pytest

OPENSSL = "openssl"

_CA_CONFIG = """\
[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ ca ]
default_ca = test_ca

[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied
"""

_LEAF_EXTENSIONS = """\
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = {eku}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{san}
"""


class CA:
    """A certificate authority on disk: cert, key, and its openssl ca state."""

    def __init__(self, directory, cert, key, config):
        self.dir = Path(directory)
        self.cert = Path(cert)
        self.key = Path(key)
        self.config = Path(config)


class TestPKI:
    """Everything make_test_pki() made (paths)."""

    __test__ = False  # not a pytest test class

    def __init__(self, **paths):
        for name, path in paths.items():
            setattr(self, name, path)


def _openssl(*args, cwd=None):
    r = subprocess.run([OPENSSL, *[str(a) for a in args]], cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.strip()))
    return r.stdout


def _new_key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", path)
    os.chmod(path, 0o600)


def make_ca(directory, name="Tern Test CA", days=3650):
    """Make a self-signed CA in directory/ca/; returns a CA."""
    d = Path(directory) / "ca"
    (d / "issued").mkdir(parents=True, exist_ok=True)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    config = d / "openssl.cnf"
    config.write_text(_CA_CONFIG.format(dir=d))
    key = d / "ca.key"
    cert = d / "ca.pem"
    _new_key(key)
    _openssl("req", "-config", config, "-new", "-x509", "-key", key, "-out", cert,
             "-subj", "/CN=" + name, "-days", days, "-extensions", "v3_ca", "-sha256")
    return CA(d, cert, key, config)


def make_cert(ca, directory, name, dns=None, ips=None, days=365, expired=False,
              client=False, stem=None):
    """Issue a certificate for CN=name signed by ca.

    dns and ips fill subjectAltName (dns defaults to [name] for a server);
    expired gives a validity that ended in 2020; client makes a clientAuth
    certificate.  Returns (cert_path, key_path) in directory, named after
    stem (default: name).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = stem or name.replace("*", "wildcard")
    key = directory / (stem + ".key")
    csr = directory / (stem + ".csr")
    cert = directory / (stem + ".pem")
    ext = directory / (stem + ".ext")
    if dns is None:
        dns = [] if client else [name]
    alt = ["DNS:" + n for n in dns] + ["IP:" + a for a in (ips or [])]
    ext.write_text(_LEAF_EXTENSIONS.format(
        eku="clientAuth" if client else "serverAuth, clientAuth",
        san=("subjectAltName = " + ", ".join(alt)) if alt else ""))
    _new_key(key)
    _openssl("req", "-config", ca.config, "-new", "-key", key, "-out", csr,
             "-subj", "/CN=" + name)
    if expired:
        validity = ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"]
    else:
        validity = ["-days", days]
    _openssl("ca", "-batch", "-notext", "-config", ca.config, "-cert", ca.cert,
             "-keyfile", ca.key, "-in", csr, "-out", cert, "-extfile", ext,
             "-extensions", "leaf", *validity)
    csr.unlink()
    ext.unlink()
    return cert, key


def make_test_pki(directory):
    """A CA and the usual certificates under directory; returns a TestPKI."""
    directory = Path(directory)
    ca = make_ca(directory)
    server_cert, server_key = make_cert(ca, directory, "mx.example",
                                        dns=["mx.example", "localhost"],
                                        ips=["127.0.0.1"], stem="server")
    other_cert, other_key = make_cert(ca, directory, "other.example",
                                      dns=["other.example", "*.wild.example"],
                                      stem="other")
    expired_cert, expired_key = make_cert(ca, directory, "mx.example",
                                          dns=["mx.example", "localhost"],
                                          ips=["127.0.0.1"], expired=True,
                                          stem="expired")
    client_cert, client_key = make_cert(ca, directory, "client.example",
                                        client=True, stem="client")
    chain = directory / "server-chain.pem"
    chain.write_text(server_cert.read_text() + ca.cert.read_text())
    return TestPKI(dir=directory, ca=ca, ca_cert=ca.cert, ca_key=ca.key,
                   server_cert=server_cert, server_key=server_key,
                   server_chain=chain,
                   other_cert=other_cert, other_key=other_key,
                   expired_cert=expired_cert, expired_key=expired_key,
                   client_cert=client_cert, client_key=client_key)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    """One TestPKI per test module."""
    return make_test_pki(tmp_path_factory.mktemp("certs"))
