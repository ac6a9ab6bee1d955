"""The test-certificate helper (certs.py): what it makes verifies with
`openssl verify` against its CA, the expired certificate does not, the
names are where TLS clients look for them, and Python's ssl module accepts
the server certificate for a real handshake on loopback."""

import socket
import ssl
import subprocess
import threading

from certs import make_ca, make_cert, test_ca  # noqa: F401


def verify(ca_cert, cert, *extra):
    return subprocess.run(["openssl", "verify", "-CAfile", str(ca_cert), *extra, str(cert)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def text_of(cert):
    return subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(cert)],
                          stdout=subprocess.PIPE, check=True, text=True).stdout


def test_issued_certificates_verify(test_ca):
    for cert in (test_ca.server_cert, test_ca.other_cert, test_ca.client_cert,
                 test_ca.ca_cert):
        r = verify(test_ca.ca_cert, cert)
        assert r.returncode == 0, r.stdout
        assert r.stdout.strip().endswith(": OK")


def test_expired_certificate_does_not_verify(test_ca):
    r = verify(test_ca.ca_cert, test_ca.expired_cert)
    assert r.returncode != 0
    assert "certificate has expired" in r.stdout


def test_foreign_ca_does_not_verify(tmp_path, test_ca):
    other = make_ca(tmp_path / "other", name="Someone Else")
    r = verify(other.cert, test_ca.server_cert)
    assert r.returncode != 0


def test_names_and_purposes(test_ca):
    t = text_of(test_ca.server_cert)
    assert "DNS:mx.example" in t and "DNS:localhost" in t
    assert "IP Address:127.0.0.1" in t
    assert "CA:FALSE" in t
    assert "DNS:*.wild.example" in text_of(test_ca.other_cert)
    assert verify(test_ca.ca_cert, test_ca.server_cert, "-purpose", "sslserver",
                  "-verify_hostname", "mx.example").returncode == 0
    assert verify(test_ca.ca_cert, test_ca.server_cert, "-verify_ip",
                  "127.0.0.1").returncode == 0
    assert verify(test_ca.ca_cert, test_ca.server_cert, "-verify_hostname",
                  "elsewhere.example").returncode != 0
    assert verify(test_ca.ca_cert, test_ca.client_cert, "-purpose",
                  "sslclient").returncode == 0
    assert verify(test_ca.ca_cert, test_ca.client_cert, "-purpose",
                  "sslserver").returncode != 0


def test_keys_are_private_and_match(test_ca):
    for cert, key in ((test_ca.server_cert, test_ca.server_key),
                      (test_ca.client_cert, test_ca.client_key)):
        assert key.stat().st_mode & 0o077 == 0
        pub_cert = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", str(cert)],
                                  stdout=subprocess.PIPE, check=True).stdout
        pub_key = subprocess.run(["openssl", "pkey", "-pubout", "-in", str(key)],
                                 stdout=subprocess.PIPE, check=True).stdout
        assert pub_cert == pub_key


def test_python_tls_handshake_on_loopback(test_ca):
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(test_ca.server_chain, test_ca.server_key)
    client_ctx = ssl.create_default_context(cafile=str(test_ca.ca_cert))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors = []

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(100).upper())
        except Exception as e:  # reported by the assertion below
            errors.append(e)

    th = threading.Thread(target=serve)
    th.start()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="mx.example") as tls:
            tls.sendall(b"ehlo\r\n")
            assert tls.recv(100) == b"EHLO\r\n"
    th.join(10)
    listener.close()
    assert not errors
