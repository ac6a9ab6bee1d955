/*
 * test_attr_stream.c - attribute frames on event-mode streams, and the
 * one-request-one-reply call, against a scripted server in a child
 * process over a real UNIX socket, on a real libevent loop.
 *
 * The server reads one request and acts on its "what" attribute:
 *	ok	status=ok echo=<the request's echo attribute>
 *	split	the same reply in two writes, SPLIT_MS apart
 *	silent	no answer; the connection stays open
 *	close	closes the connection without an answer
 *	big	a frame header announcing more than any client's limit
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr_stream.h"
#include "clock.h"
#include "stream.h"
#include "unix_server.h"

#define SPLIT_MS  200
#define REPLY_MAX 1024

static struct unix_server srv;
static struct event_base *base;

static void
serve_one(int fd)
{
	struct attr_list req, rep;
	struct str err = STR_INIT, frame = STR_INIT;
	const char *what;

	attr_list_init(&req);
	attr_list_init(&rep);
	if (attr_recv(fd, &req, 65536, 10000, &err) != 0)
		goto out;
	what = attr_get_str(&req, "what");
	if (what == NULL || strcmp(what, "close") == 0)
		goto out;
	if (strcmp(what, "silent") == 0) {
		char c;

		alarm(10);
		(void)read(fd, &c, 1); /* until the client gives up */
		goto out;
	}
	if (strcmp(what, "big") == 0) {
		(void)write(fd, "\x00\x10\x00\x00xxxx", 8);
		goto out;
	}
	attr_put_str(&rep, "status", "ok");
	attr_put_str(&rep, "echo", attr_get_str(&req, "echo") ? attr_get_str(&req, "echo") : "");
	attr_encode(&rep, &frame);
	if (strcmp(what, "split") == 0) {
		(void)write(fd, frame.data, 6);
		usleep(SPLIT_MS * 1000);
		(void)write(fd, frame.data + 6, frame.len - 6);
	} else {
		(void)write(fd, frame.data, frame.len);
	}
out:
	attr_list_free(&req);
	attr_list_free(&rep);
	str_free(&err);
	str_free(&frame);
	close(fd);
}

/* One child per connection, so that a silent one holds up no other. */
static void
server(int lfd)
{
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		if (fork() == 0) {
			serve_one(fd);
			_exit(0);
		}
		close(fd);
	}
}

static void
setup(void)
{
	unix_server_start(&srv, "attrstream", "service", server);
	base = event_base_new();
	cr_assert_not_null(base);
}

static void
teardown(void)
{
	unix_server_stop(&srv);
	event_base_free(base);
}

TestSuite(attr_stream, .init = setup, .fini = teardown, .timeout = 20);

/* ---- calls ---- */

struct outcome {
	int calls;
	int ok;
	char status[32];
	char echo[64];
	char why[128];
	long long at;
};

static void
on_done(const struct attr_list *reply, const char *why, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->at = clock_ms();
	if (reply != NULL) {
		const char *st = attr_get_str(reply, "status");
		const char *echo = attr_get_str(reply, "echo");

		o->ok = 1;
		snprintf(o->status, sizeof(o->status), "%s", st ? st : "");
		snprintf(o->echo, sizeof(o->echo), "%s", echo ? echo : "");
	} else {
		snprintf(o->why, sizeof(o->why), "%s", why ? why : "(null)");
	}
	event_base_loopbreak(base);
}

static struct attr_call *
start(const char *what, int timeout_ms, struct outcome *o)
{
	struct attr_list req;
	struct str err = STR_INIT;
	struct attr_call *c;

	attr_list_init(&req);
	attr_put_str(&req, "what", what);
	attr_put_str(&req, "echo", "hello");
	c = attr_call_start(base, srv.path, &req, REPLY_MAX, timeout_ms, on_done, o, &err);
	cr_assert_not_null(c, "%s", str_cstr(&err));
	attr_list_free(&req);
	str_free(&err);
	return c;
}

/* Run the loop until a callback breaks it, or ms pass. */
static void
run_for(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

Test(attr_stream, call_answered)
{
	struct outcome o = {0};

	(void)start("ok", 5000, &o);
	cr_assert_eq(o.calls, 0, "called back from inside attr_call_start");
	run_for(5000);
	cr_assert_eq(o.calls, 1);
	cr_assert(o.ok, "failed: %s", o.why);
	cr_assert_str_eq(o.status, "ok");
	cr_assert_str_eq(o.echo, "hello");
}

Test(attr_stream, reply_in_pieces)
{
	struct outcome o = {0};
	long long t0 = clock_ms();

	(void)start("split", 5000, &o);
	run_for(5000);
	cr_assert(o.ok, "failed: %s", o.why);
	cr_assert_str_eq(o.echo, "hello");
	cr_assert_geq(o.at - t0, SPLIT_MS - 50);
}

Test(attr_stream, silence_passes_the_deadline)
{
	struct outcome o = {0};
	long long t0 = clock_ms();

	(void)start("silent", 300, &o);
	run_for(5000);
	cr_assert_eq(o.calls, 1);
	cr_assert_not(o.ok);
	cr_assert_str_eq(o.why, "no reply within 300ms");
	cr_assert_geq(o.at - t0, 250);
	cr_assert_lt(o.at - t0, 3000);
}

/* The call fails once, with why. */
static void
expect_failure(const char *what, int timeout_ms, const char *why)
{
	struct outcome o = {0};

	(void)start(what, timeout_ms, &o);
	run_for(5000);
	cr_assert_eq(o.calls, 1, "%s", what);
	cr_assert_not(o.ok, "%s", what);
	cr_assert_str_eq(o.why, why);
}

Test(attr_stream, failures)
{
	expect_failure("silent", 1000, "no reply within 1s");
	expect_failure("close", 5000, "connection closed by the service");
	expect_failure("big", 5000, "attribute frame too large");
}

Test(attr_stream, cancelled_call_never_calls_back)
{
	struct outcome o = {0};
	struct attr_call *c = start("ok", 5000, &o);

	attr_call_cancel(c);
	attr_call_cancel(NULL);
	run_for(500);
	cr_assert_eq(o.calls, 0);
}

Test(attr_stream, no_service)
{
	struct attr_list req;
	struct str err = STR_INIT;
	struct outcome o = {0};
	char missing[160];
	struct attr_call *c;

	snprintf(missing, sizeof(missing), "%s/absent", srv.dir);
	attr_list_init(&req);
	attr_put_str(&req, "what", "ok");
	errno = 0;
	c = attr_call_start(base, missing, &req, REPLY_MAX, 1000, on_done, &o, &err);
	cr_assert_null(c);
	cr_assert_eq(errno, ENOENT);
	cr_assert_not_null(strstr(str_cstr(&err), "connect "), "%s", str_cstr(&err));
	cr_assert_not_null(strstr(str_cstr(&err), "/absent"), "%s", str_cstr(&err));
	run_for(200);
	cr_assert_eq(o.calls, 0);
	attr_list_free(&req);
	str_free(&err);
}

/* ---- the pieces: two frames in one read, one taken at a time ---- */

struct reader {
	int frames;
	char first[16], second[16];
};

static void
on_frames(struct stream *s, void *arg)
{
	struct reader *r = arg;
	struct attr_list l;
	const char *why = NULL;
	int rc;

	attr_list_init(&l);
	while ((rc = attr_stream_read(s, REPLY_MAX, &l, &why)) == 1) {
		const char *v = attr_get_str(&l, "n");

		snprintf(r->frames == 0 ? r->first : r->second, 16, "%s", v ? v : "");
		r->frames++;
	}
	cr_assert_eq(rc, 0, "%s", why ? why : "");
	attr_list_free(&l);
	if (r->frames == 2)
		event_base_loopbreak(base);
}

Test(attr_stream, frames_taken_one_at_a_time)
{
	static const struct stream_callbacks cb = {.on_read = on_frames};
	struct attr_list a, b;
	struct str buf = STR_INIT, wire = STR_INIT;
	struct reader r = {0};
	struct stream *s;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s = stream_new(sv[0], 0);
	cr_assert_eq(stream_attach(s, base, &cb, &r), 0);
	attr_list_init(&a);
	attr_list_init(&b);
	attr_put_str(&a, "n", "one");
	attr_put_str(&b, "n", "two");
	attr_encode(&a, &wire);
	attr_encode(&b, &wire);
	/* Both frames and half of a third's header at once. */
	cr_assert_eq(write(sv[1], wire.data, wire.len), (ssize_t)wire.len);
	cr_assert_eq(write(sv[1], "\x00\x00", 2), 2);
	run_for(2000);
	cr_assert_eq(r.frames, 2);
	cr_assert_str_eq(r.first, "one");
	cr_assert_str_eq(r.second, "two");
	/* attr_stream_send puts exactly attr_encode's octets on the wire. */
	cr_assert_eq(attr_stream_send(s, &a, &buf), 0);
	run_for(100);
	{
		char got[64];
		ssize_t n = read(sv[1], got, sizeof(got));
		struct str want = STR_INIT;

		attr_encode(&a, &want);
		cr_assert_eq(n, (ssize_t)want.len);
		cr_assert_eq(memcmp(got, want.data, want.len), 0);
		str_free(&want);
	}
	stream_free(s);
	close(sv[1]);
	attr_list_free(&a);
	attr_list_free(&b);
	str_free(&buf);
	str_free(&wire);
}
