"""A scripted DNS server for the system tests (python3-dnslib).

It listens on 127.0.0.1 (or the host given), on one free port for both UDP
and TCP (or the port given), and answers from the zones a test declares:

    srv = DNSServer({
        "example.":        [("MX", 10, "mx1.example."), ("MX", 20, "mx2.example.")],
        "mx1.example.":    [("A", "127.0.0.2"), ("AAAA", "::1")],
        "txt.example.":    [("TXT", "v=spf1 -all"), ("TXT", ["two ", "strings"])],
        "_25._tcp.mx1.example.": [("TLSA", 3, 1, 1, "abcd")],
        "alias.example.":  [("CNAME", "mx1.example.")],
        "raw.example.":    [("RAW", 15, b"\\x00\\x0a")],   # any type, any bytes
        "fail.example.":   "servfail",                     # a behaviour
    })
    srv.start(); ... srv.address -> "127.0.0.1@PORT"; srv.stop()

Records are (TYPE, fields...); every TTL is DNSServer.ttl.  A name that is not declared is NXDOMAIN; a
declared name without records of the asked type is NODATA.  CNAMEs are
followed within the declared names, as a recursive server would.

Behaviours, given instead of a record list, or in the behaviours dict
(DNSServer(zones, behaviours)) to act on a name that also has records:

    servfail, refused, nxdomain   that response code
    timeout                       never answer
    slow:SECONDS                  answer SECONDS after the first query for
                                  the name and type (retries too; other
                                  queries go on meanwhile)
    malformed                     record data of the asked type that does
                                  not parse (an MX of 2 bytes, an A of 3,
                                  a TXT string running past the end, ...)
    badlabel                      an MX whose host has a label length of
                                  80, which the resolver library itself
                                  refuses (the answer becomes SERVFAIL)
    tc                            over UDP, an empty answer with TC set, so
                                  the client must ask again over TCP

Every query is recorded in srv.queries as (name, TYPE, "udp"|"tcp").
Names are compared without regard to case, with or without a final dot.
Run directly ("python3 dnsserver.py ZONES.json") to serve a JSON zone dict
until interrupted; it prints the address on its first line.
"""

import json
import socket
import struct
import sys
import threading
import time

from dnslib import EDNS0, QTYPE, RCODE, RD, RR, DNSRecord
from dnslib import AAAA, CNAME, MX, NS, PTR, A

UDP_MAX_DEFAULT = 512
CNAME_HOPS_MAX = 8

MALFORMED_RDATA = {
    "MX": b"\x00\x0a",               # preference, then no host at all
    "A": b"\x7f\x00\x00",            # 3 bytes
    "AAAA": b"\x00" * 5,             # 5 bytes
    "TXT": b"\x10abc",               # a 16-byte string with 3 bytes
    "TLSA": b"\x03\x01",             # shorter than usage+selector+type
    "PTR": b"\x05ho st\x07example\x00",  # a space inside a label
}


def norm(name):
    name = str(name).lower()
    return name if name.endswith(".") else name + "."


def txt_rdata(value):
    parts = value if isinstance(value, (list, tuple)) else [value]
    out = b""
    for part in parts:
        data = part.encode() if isinstance(part, str) else bytes(part)
        if not data:
            out += b"\x00"
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            out += bytes([len(chunk)]) + chunk
    return out


def make_rr(owner, rec, ttl):
    """One declared record as a dnslib RR."""
    kind = rec[0].upper()
    if kind == "A":
        return RR(owner, QTYPE.A, rdata=A(rec[1]), ttl=ttl)
    if kind == "AAAA":
        return RR(owner, QTYPE.AAAA, rdata=AAAA(rec[1]), ttl=ttl)
    if kind == "MX":
        return RR(owner, QTYPE.MX, rdata=MX(rec[2], rec[1]), ttl=ttl)
    if kind == "PTR":
        return RR(owner, QTYPE.PTR, rdata=PTR(rec[1]), ttl=ttl)
    if kind == "CNAME":
        return RR(owner, QTYPE.CNAME, rdata=CNAME(rec[1]), ttl=ttl)
    if kind == "NS":
        return RR(owner, QTYPE.NS, rdata=NS(rec[1]), ttl=ttl)
    if kind == "TXT":
        return RR(owner, QTYPE.TXT, rdata=RD(txt_rdata(rec[1])), ttl=ttl)
    if kind == "TLSA":
        data = bytes([rec[1], rec[2], rec[3]]) + bytes.fromhex(rec[4])
        return RR(owner, QTYPE.TLSA, rdata=RD(data), ttl=ttl)
    if kind == "RAW":
        return RR(owner, rec[1], rdata=RD(bytes(rec[2])), ttl=ttl)
    raise ValueError("unknown record kind %r" % (rec[0],))


def rec_type(rec):
    kind = rec[0].upper()
    return rec[1] if kind == "RAW" else getattr(QTYPE, kind)


class DNSServer:
    ttl = 300

    def __init__(self, zones=None, behaviours=None, host="127.0.0.1", port=0):
        self.host = host
        self.want_port = port
        self.port = None
        self.queries = []
        self.zones = {}
        self.behaviours = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._first_seen = {}
        self._udp = None
        self._tcp = None
        self.set_zones(zones or {}, behaviours)

    # -- configuration -------------------------------------------------

    def set_zones(self, zones, behaviours=None):
        """Replace the served data; a str value is a behaviour."""
        recs, behs = {}, {}
        for name, value in zones.items():
            if isinstance(value, str):
                behs[norm(name)] = value
            else:
                recs[norm(name)] = list(value)
        for name, value in (behaviours or {}).items():
            behs[norm(name)] = value
        with self._lock:
            self.zones, self.behaviours = recs, behs

    @property
    def address(self):
        """The server in dns_servers form."""
        return "%s@%d" % (self.host, self.port)

    def queried(self, name):
        """The (TYPE, proto) of each query seen for name."""
        with self._lock:
            return [(t, p) for n, t, p in self.queries if n == norm(name)]

    # -- life ----------------------------------------------------------

    def start(self):
        for _ in range(1 if self.want_port else 50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, self.want_port))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            self._udp, self._tcp, self.port = udp, tcp, port
            break
        else:
            raise RuntimeError("no free port for UDP and TCP together")
        self._udp.settimeout(0.2)
        self._tcp.settimeout(0.2)
        self._spawn(self._udp_loop)
        self._spawn(self._tcp_loop)
        return self

    def stop(self):
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout=5)
        for s in (self._udp, self._tcp):
            if s is not None:
                s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    # -- transport -----------------------------------------------------

    def _udp_loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self._udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self._spawn(self._udp_one, data, peer)

    def _udp_one(self, data, peer):
        reply = self._answer(data, "udp")
        if reply is None or self._stop.is_set():
            return
        try:
            self._udp.sendto(reply, peer)
        except OSError:
            pass

    def _tcp_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._spawn(self._tcp_conn, conn)

    def _recv_exact(self, conn, n):
        buf = b""
        while len(buf) < n and not self._stop.is_set():
            try:
                chunk = conn.recv(n - len(buf))
            except socket.timeout:
                continue
            if not chunk:
                return None
            buf += chunk
        return buf if len(buf) == n else None

    def _tcp_conn(self, conn):
        conn.settimeout(0.2)
        try:
            while not self._stop.is_set():
                head = self._recv_exact(conn, 2)
                if head is None:
                    return
                data = self._recv_exact(conn, struct.unpack("!H", head)[0])
                if data is None:
                    return
                reply = self._answer(data, "tcp")
                if reply is not None and not self._stop.is_set():
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass
        finally:
            conn.close()

    # -- answers -------------------------------------------------------

    def _answer(self, data, proto):
        """The reply packet for one query, or None for no reply."""
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        qname = norm(request.q.qname)
        qtype = QTYPE.get(request.q.qtype)
        with self._lock:
            self.queries.append((qname, qtype, proto))
            behaviour = self.behaviours.get(qname)
            zones = self.zones
        reply = request.reply(ra=1, aa=1)
        udp_max = UDP_MAX_DEFAULT
        for rr in request.ar:
            if rr.rtype == QTYPE.OPT:
                udp_max = max(UDP_MAX_DEFAULT, rr.rclass)
                reply.add_ar(EDNS0(udp_len=1232))
        if behaviour is not None:
            if behaviour == "timeout":
                return None
            if behaviour.startswith("slow:"):
                # Resolution takes SECONDS from the first query; retries
                # wait for the same moment, as at a recursive server.
                key = (qname, qtype)
                with self._lock:
                    first = self._first_seen.setdefault(key, time.monotonic())
                delay = first + float(behaviour[5:]) - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return None
            elif behaviour == "tc" and proto == "udp":
                reply.header.tc = 1
                return reply.pack()
            elif behaviour in ("servfail", "refused", "nxdomain"):
                reply.header.rcode = getattr(RCODE, behaviour.upper())
                return reply.pack()
            elif behaviour == "malformed":
                bad = MALFORMED_RDATA.get(qtype, MALFORMED_RDATA["MX"])
                reply.add_answer(RR(qname, request.q.qtype, rdata=RD(bad), ttl=self.ttl))
                return reply.pack()
            elif behaviour == "badlabel":
                return self._badlabel(reply, qname)
        self._fill(reply, zones, qname, request.q.qtype)
        packet = reply.pack()
        if proto == "udp" and len(packet) > udp_max:
            reply.rr = []
            reply.header.tc = 1
            packet = reply.pack()
        return packet

    def _fill(self, reply, zones, qname, qtype):
        name = qname
        for _ in range(CNAME_HOPS_MAX):
            recs = zones.get(name)
            if recs is None:
                if name == qname:
                    reply.header.rcode = RCODE.NXDOMAIN
                return
            found = [r for r in recs if rec_type(r) == qtype]
            cnames = [r for r in recs if r[0].upper() == "CNAME"]
            if found or not cnames or qtype == QTYPE.CNAME:
                for rec in found:
                    reply.add_answer(make_rr(name, rec, self.ttl))
                return
            reply.add_answer(make_rr(name, cnames[0], self.ttl))
            name = norm(cnames[0][1])

    def _badlabel(self, reply, qname):
        rdata = b"\x00\x0a" + bytes([80]) + b"x" * 80 + b"\x00"
        reply.ar = []
        packet = bytearray(reply.pack())
        packet[6:8] = struct.pack("!H", 1)  # ANCOUNT
        # owner: a pointer to the question name at offset 12
        packet += b"\xc0\x0c" + struct.pack("!HHIH", QTYPE.MX, 1, self.ttl, len(rdata))
        packet += rdata
        return bytes(packet)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: dnsserver.py ZONES.json\n")
        return 2
    with open(argv[1]) as f:
        zones = json.load(f)
    srv = DNSServer({k: (v if isinstance(v, str) else [tuple(r) for r in v])
                     for k, v in zones.items()})
    srv.start()
    print(srv.address, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
