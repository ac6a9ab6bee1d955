"""Scripted fake SMTP servers for the smtp client's system tests.

A FakeSMTP listens on one loopback address (IPv4 or IPv6) and port and answers like a
remote MX host would, with behaviour set per test:

    mx = FakeSMTP("127.0.0.2", port, name="mx1")
    mx.start()
    ... mx.messages  -> [Message(mail=..., rcpts=[...], data=b"...", conn=1, tls=False)]
    ... mx.commands  -> [(conn, "EHLO tern.test"), ...]
    mx.stop()

Options (constructor keywords, or attributes set before the client comes):

    ext          EHLO keywords after the greeting line (default: PIPELINING,
                 SIZE 10240000, 8BITMIME, ENHANCEDSTATUSCODES, DSN, SMTPUTF8)
    ehlo         False: EHLO answers "502 5.5.1 EHLO not implemented" (HELO only)
    greeting     the greeting reply ("220 NAME ESMTP")
    replies      {"MAIL": "451 4.3.0 later", "RCPT <b@x>": "550 5.1.1 no",
                  "RCPT": ..., "DATA": ..., "EOD": ..., "RSET": ..., "EHLO": ...}:
                 a reply for every such command, or for one recipient
    drop         a stage at which the connection is closed without a reply:
                 "greeting", "EHLO", "MAIL", "RCPT", "DATA", "EOD", "RSET"
    stall        a stage at which the server goes silent (for timeouts)
    tls          an ssl.SSLContext: offer STARTTLS and do the handshake
    tls_broken   offer STARTTLS, answer 220, then send garbage and close
    tls_inject   bytes sent right after "220 Ready" in the same packet
                 (a server's plain-text injection; the client must discard)
    delay        seconds to wait before each reply

pipelined counts the commands that had arrived before the previous one
was answered (a client that pipelines); a client that waits for each
reply leaves it at 0.

Every connection gets a number (conn, from 1); messages and commands are
recorded with it, so reuse of a connection shows as several messages
with the same conn.  Lines are read as the client sends them and each
command is answered at once, so a pipelining client sees the replies in
order.
"""

import socket
import ssl
import threading
import time

DEFAULT_EXT = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN",
               "SMTPUTF8"]
STALL_SECONDS = 60
LINE_MAX = 100000


class Message:
    def __init__(self, conn, helo, mail, rcpts, data, tls):
        self.conn = conn
        self.helo = helo
        self.mail = mail
        self.rcpts = rcpts
        self.data = data
        self.tls = tls

    def __repr__(self):
        return "Message(conn=%d, mail=%r, rcpts=%r, tls=%r, %d bytes)" % (
            self.conn, self.mail, self.rcpts, self.tls, len(self.data))


class _Closed(Exception):
    pass


class FakeSMTP:
    def __init__(self, host, port, name="mx.example", ext=None, ehlo=True, greeting=None,
                 replies=None, drop=None, stall=None, tls=None, tls_broken=False,
                 tls_inject=b"", delay=0):
        self.host = host
        self.port = port
        self.name = name
        self.ext = list(DEFAULT_EXT if ext is None else ext)
        self.ehlo = ehlo
        self.greeting = greeting or "220 %s ESMTP fake" % name
        self.replies = dict(replies or {})
        self.drop = drop
        self.stall = stall
        self.tls = tls
        self.tls_broken = tls_broken
        self.tls_inject = tls_inject
        self.delay = delay
        self.messages = []
        self.commands = []
        self.connections = 0
        self.pipelined = 0
        self.peers = []
        self.sessions = []
        self.lock = threading.Lock()
        self.sock = None
        self.threads = []
        self.running = False

    # ---- life cycle ----

    def start(self):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(50)
        self.sock.settimeout(0.2)
        self.running = True
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def stop(self):
        """Stop listening and close every session, as a host that went down."""
        self.running = False
        if self.sock:
            self.sock.close()
            self.sock = None
        with self.lock:
            sessions, self.sessions = self.sessions, []
        for c in sessions:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def close_sessions(self):
        """Close every open session (an idle timeout); keep listening."""
        with self.lock:
            sessions, self.sessions = self.sessions, []
        for c in sessions:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_messages(self, n, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("%s: %d messages, wanted %d" % (self.name, len(self.messages), n))

    def verbs(self, conn=None):
        return [c.split(" ", 1)[0].upper() for k, c in self.commands if conn is None or k == conn]

    # ---- sessions ----

    def _accept_loop(self):
        while self.running:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                conn = self.connections
                self.peers.append(peer)
                self.sessions.append(c)
            t = threading.Thread(target=self._session, args=(c, conn), daemon=True)
            t.start()

    def _send(self, s, text):
        if self.delay:
            time.sleep(self.delay)
        s.sendall(text.encode("utf-8", "surrogateescape") + b"\r\n")

    def _readline(self, state):
        if b"\n" in state["buf"]:
            with self.lock:
                self.pipelined += 1
        while b"\n" not in state["buf"]:
            data = state["sock"].recv(65536)
            if not data:
                raise _Closed()
            state["buf"] += data
            if len(state["buf"]) > LINE_MAX and b"\n" not in state["buf"]:
                raise _Closed()
        line, _, rest = state["buf"].partition(b"\n")
        state["buf"] = rest
        return line.rstrip(b"\r").decode("utf-8", "surrogateescape")

    def _stage(self, state, stage):
        """Drop or stall at this stage when told to."""
        if self.drop == stage:
            raise _Closed()
        if self.stall == stage:
            time.sleep(STALL_SECONDS)
            raise _Closed()

    def _reply(self, key, default, arg=None):
        if arg is not None and ("%s %s" % (key, arg)) in self.replies:
            return self.replies["%s %s" % (key, arg)]
        return self.replies.get(key, default)

    def _session(self, s, conn):
        state = {"sock": s, "buf": b"", "tls": False, "helo": None, "mail": None,
                 "rcpts": []}
        try:
            self._stage(state, "greeting")
            self._send(s, self.greeting)
            if not self.greeting.startswith("2"):
                self._readline(state)
                return
            while True:
                line = self._readline(state)
                with self.lock:
                    self.commands.append((conn, line))
                if not self._command(state, conn, line):
                    break
                s = state["sock"]
        except (_Closed, OSError, ssl.SSLError):
            pass
        finally:
            try:
                state["sock"].close()
            except OSError:
                pass

    def _command(self, state, conn, line):
        s = state["sock"]
        verb = line.split(" ", 1)[0].upper()
        arg = line[len(verb):].strip()
        if verb == "EHLO":
            self._stage(state, "EHLO")
            if not self.ehlo:
                self._send(s, "502 5.5.1 EHLO not implemented")
                return True
            reply = self._reply("EHLO", None)
            if reply:
                self._send(s, reply)
                return True
            state["helo"] = arg
            ext = list(self.ext)
            if (self.tls or self.tls_broken) and not state["tls"]:
                ext.append("STARTTLS")
            lines = ["250-%s" % self.name] + ["250-%s" % e for e in ext]
            lines[-1] = "250 " + lines[-1][4:]
            self._send(s, "\r\n".join(lines))
        elif verb == "HELO":
            self._stage(state, "EHLO")
            state["helo"] = arg
            self._send(s, self._reply("HELO", "250 %s" % self.name))
        elif verb == "STARTTLS":
            if self.tls_broken:
                s.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                time.sleep(0.1)
                s.sendall(b"\x15\x03\x01\x00\x02\x02\x28this is not TLS\r\n")
                raise _Closed()
            if not self.tls or state["tls"]:
                self._send(s, "502 5.5.1 no")
                return True
            s.sendall(b"220 2.0.0 Ready to start TLS\r\n" + self.tls_inject)
            state["buf"] = b""
            state["sock"] = self.tls.wrap_socket(s, server_side=True)
            state["tls"] = True
        elif verb == "MAIL":
            self._stage(state, "MAIL")
            state["mail"] = arg[5:].strip() if arg.upper().startswith("FROM:") else arg
            state["rcpts"] = []
            self._send(s, self._reply("MAIL", "250 2.1.0 Ok"))
        elif verb == "RCPT":
            self._stage(state, "RCPT")
            addr = arg[3:].strip() if arg.upper().startswith("TO:") else arg
            path = addr.split(" ", 1)[0]
            reply = self._reply("RCPT", "250 2.1.5 Ok", path)
            if reply.startswith("2"):
                state["rcpts"].append(addr)
            self._send(s, reply)
        elif verb == "DATA":
            self._stage(state, "DATA")
            reply = self._reply("DATA", "354 End data with <CR><LF>.<CR><LF>")
            if not state["rcpts"] and not reply.startswith("5"):
                reply = "554 5.5.1 Error: no valid recipients"
            self._send(s, reply)
            if not reply.startswith("354"):
                return True
            data = []
            while True:
                raw = self._readline_raw(state)
                if raw == b".\r\n":
                    break
                data.append(raw)
            self._stage(state, "EOD")
            with self.lock:
                n = len(self.messages) + 1
                self.messages.append(Message(conn, state["helo"], state["mail"],
                                             list(state["rcpts"]), b"".join(data),
                                             state["tls"]))
            self._send(s, self._reply("EOD", "250 2.0.0 Ok: queued as FAKE%d" % n))
            state["rcpts"] = []
        elif verb == "RSET":
            self._stage(state, "RSET")
            state["mail"] = None
            state["rcpts"] = []
            self._send(s, self._reply("RSET", "250 2.0.0 Ok"))
        elif verb == "NOOP":
            self._send(s, "250 2.0.0 Ok")
        elif verb == "QUIT":
            self._send(s, "221 2.0.0 Bye")
            return False
        else:
            self._send(s, "502 5.5.2 Error: command not recognized")
        return True

    def _readline_raw(self, state):
        """One line of message data with its CRLF, as sent."""
        while b"\n" not in state["buf"]:
            data = state["sock"].recv(65536)
            if not data:
                raise _Closed()
            state["buf"] += data
        line, _, rest = state["buf"].partition(b"\n")
        state["buf"] = rest
        return line + b"\n"


def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
