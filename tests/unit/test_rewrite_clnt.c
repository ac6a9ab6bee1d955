/*
 * test_rewrite_clnt.c - the trivial-rewrite client library against a
 * scripted server in a child process, over a real UNIX socket: replies in
 * order, cancellation, deadlines, dropped connections (resent once),
 * malformed replies and a missing service, for both the blocking and the
 * event-driven client.
 *
 * The server answers by the local part of the address:
 *	slow	waits SLOW_MS before answering
 *	once	closes the connection without a reply the first time it is
 *		asked, answers the second time
 *	drop	always closes the connection without a reply
 *	bye	answers, then closes the connection
 *	junk	answers with an unknown status word
 *	other	status=ok class=remote transport=smtp nexthop=DOMAIN
 *		recipient=ADDRESS flags= (verify: status=ok; rewrite: address)
 */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "rewrite_clnt.h"
#include "unix_server.h"

#define SLOW_MS 600

static struct unix_server srv;

static void
reply_to(int fd, const struct attr_list *req, int *once_seen)
{
	const char *verb = attr_get_str(req, "request");
	const char *addr = attr_get_str(req, "address");
	const char *at = addr ? strrchr(addr, '@') : NULL;
	size_t llen = at ? (size_t)(at - addr) : 0;
	struct attr_list rep;
	struct str err = STR_INIT;

	attr_list_init(&rep);
	if (verb == NULL || at == NULL) {
		attr_put_str(&rep, "status", "error");
		attr_put_str(&rep, "reason", "bad request");
	} else if (llen == 4 && strncmp(addr, "drop", 4) == 0) {
		shutdown(fd, SHUT_RDWR);
		goto out;
	} else if (llen == 4 && strncmp(addr, "once", 4) == 0 && !(*once_seen)++) {
		shutdown(fd, SHUT_RDWR);
		goto out;
	} else if (llen == 4 && strncmp(addr, "junk", 4) == 0) {
		attr_put_str(&rep, "status", "maybe");
	} else if (strcmp(verb, "rewrite") == 0) {
		attr_put_str(&rep, "status", "ok");
		attr_put_str(&rep, "address", addr);
	} else {
		if (llen == 4 && strncmp(addr, "slow", 4) == 0)
			usleep(SLOW_MS * 1000);
		attr_put_str(&rep, "status", "ok");
		attr_put_str(&rep, "class", "remote");
		attr_put_str(&rep, "recipient", addr);
		attr_put_str(&rep, "flags", "");
		if (strcmp(verb, "resolve") == 0) {
			attr_put_str(&rep, "transport", "smtp");
			attr_put_str(&rep, "nexthop", at + 1);
		}
	}
	(void)attr_send(fd, &rep, 5000, &err);
	if (llen == 3 && strncmp(addr, "bye", 3) == 0)
		shutdown(fd, SHUT_RDWR);
out:
	attr_list_free(&rep);
	str_free(&err);
}

static void
server(int lfd)
{
	int once_seen = 0;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		struct attr_list req;
		struct str err = STR_INIT;

		if (fd < 0)
			continue;
		attr_list_init(&req);
		while (attr_recv(fd, &req, REWRITE_FRAME_MAX, 10000, &err) == 0)
			reply_to(fd, &req, &once_seen);
		attr_list_free(&req);
		str_free(&err);
		close(fd);
	}
}

static void
setup(void)
{
	unix_server_start(&srv, "rwclnt", "rewrite", server);
	rewrite_clnt_setup(srv.path, 5000);
}

static void
teardown(void)
{
	rewrite_async_shutdown();
	rewrite_clnt_disconnect();
	unix_server_stop(&srv);
}

TestSuite(rewrite_clnt, .init = setup, .fini = teardown);

/* ---- blocking ---- */

Test(rewrite_clnt, blocking_requests)
{
	struct rewrite_reply r;

	rewrite_reply_init(&r);
	cr_assert_eq(rewrite_resolve("a@b.example", "s@x.example", &r), RESOLVE_OK);
	cr_assert_eq(r.class, RESOLVE_CLASS_REMOTE);
	cr_assert_str_eq(str_cstr(&r.transport), "smtp");
	cr_assert_str_eq(str_cstr(&r.nexthop), "b.example");
	cr_assert_str_eq(str_cstr(&r.address), "a@b.example");
	cr_assert_eq(rewrite_verify("a@b.example", &r), RESOLVE_OK);
	cr_assert_eq(r.transport.len, 0);
	cr_assert_eq(rewrite_canonical("c@d.example", &r), RESOLVE_OK);
	cr_assert_str_eq(str_cstr(&r.address), "c@d.example");
	rewrite_reply_free(&r);
}

Test(rewrite_clnt, blocking_reconnects_after_the_service_closed)
{
	struct rewrite_reply r;

	rewrite_reply_init(&r);
	cr_assert_eq(rewrite_verify("bye@x.example", &r), RESOLVE_OK);
	/* The kept connection is dead now; the next request goes on a new one. */
	cr_assert_eq(rewrite_verify("a@x.example", &r), RESOLVE_OK);
	cr_assert_eq(rewrite_verify("once@x.example", &r), RESOLVE_OK);
	cr_assert_eq(rewrite_verify("drop@x.example", &r), RESOLVE_DEFER);
	cr_assert(strstr(str_cstr(&r.reason), "rewrite service") != NULL);
	rewrite_reply_free(&r);
}

Test(rewrite_clnt, blocking_deadline_and_bad_replies)
{
	struct rewrite_reply r;
	struct timespec t0, t1;

	rewrite_reply_init(&r);
	rewrite_clnt_setup(srv.path, 200);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(rewrite_resolve("slow@x.example", NULL, &r), RESOLVE_DEFER);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 500);
	rewrite_clnt_setup(srv.path, 5000);
	cr_assert_eq(rewrite_resolve("junk@x.example", NULL, &r), RESOLVE_DEFER);
	cr_assert(strstr(str_cstr(&r.reason), "malformed reply") != NULL);
	cr_assert_eq(rewrite_resolve("fine@x.example", NULL, &r), RESOLVE_OK);
	rewrite_clnt_setup("/nonexistent/rewrite", 1000);
	cr_assert_eq(rewrite_verify("a@x.example", &r), RESOLVE_DEFER);
	cr_assert(strstr(str_cstr(&r.reason), "connect") != NULL);
	rewrite_reply_free(&r);
}

/* ---- event-driven ---- */

struct seen {
	int n;
	char what[8][300];
};

static void
record(const struct rewrite_reply *r, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->what[s->n], sizeof(s->what[0]), "%s %s %s %s",
		        resolve_status_name(r->status), r->address.len ? r->address.data : "-",
		        r->nexthop.len ? r->nexthop.data : "-",
		        r->reason.len ? r->reason.data : "-");
	s->n++;
}

static void
run_until(struct event_base *base, const struct seen *s, int want)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (s->n < want) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
		cr_assert_lt(t.tv_sec - t0.tv_sec, 10, "only %d of %d callbacks", s->n, want);
	}
}

Test(rewrite_clnt, async_replies_in_order)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};

	rewrite_resolve_async(base, "a@one.example", NULL, record, &s);
	rewrite_verify_async(base, "b@two.example", record, &s);
	rewrite_canonical_async(base, "c@three.example", record, &s);
	rewrite_resolve_async(base, "d@four.example", "s@x.example", record, &s);
	cr_assert_eq(s.n, 0, "no callback from inside the call");
	cr_assert_eq(rewrite_async_pending(), 4);
	run_until(base, &s, 4);
	cr_assert_str_eq(s.what[0], "ok a@one.example one.example -");
	cr_assert_str_eq(s.what[1], "ok b@two.example - -");
	cr_assert_str_eq(s.what[2], "ok c@three.example - -");
	cr_assert_str_eq(s.what[3], "ok d@four.example four.example -");
	cr_assert_eq(rewrite_async_pending(), 0);
	rewrite_async_shutdown();
	event_base_free(base);
}

Test(rewrite_clnt, async_cancel)
{
	struct event_base *base = event_base_new();
	struct seen gone = {0}, kept = {0};
	struct rewrite_request *req;

	req = rewrite_resolve_async(base, "a@one.example", NULL, record, &gone);
	rewrite_resolve_async(base, "b@two.example", NULL, record, &kept);
	rewrite_cancel(req);
	run_until(base, &kept, 1);
	cr_assert_eq(gone.n, 0);
	cr_assert_str_eq(kept.what[0], "ok b@two.example two.example -");
	cr_assert_eq(rewrite_async_pending(), 0);
	rewrite_async_shutdown();
	event_base_free(base);
}

Test(rewrite_clnt, async_timeout_fails_pending_with_defer)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};

	rewrite_clnt_setup(srv.path, 200);
	rewrite_resolve_async(base, "slow@x.example", NULL, record, &s);
	rewrite_resolve_async(base, "after@x.example", NULL, record, &s);
	run_until(base, &s, 2);
	cr_assert(strncmp(s.what[0], "defer - - rewrite service: request timed out", 44) == 0, "%s",
	        s.what[0]);
	cr_assert(strncmp(s.what[1], "defer", 5) == 0, "%s", s.what[1]);
	/* The next request gets a new connection and an answer. */
	rewrite_clnt_setup(srv.path, 5000);
	rewrite_resolve_async(base, "next@x.example", NULL, record, &s);
	run_until(base, &s, 3);
	cr_assert_str_eq(s.what[2], "ok next@x.example x.example -");
	rewrite_async_shutdown();
	event_base_free(base);
}

Test(rewrite_clnt, async_resends_once_after_a_dropped_connection)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};

	rewrite_verify_async(base, "once@x.example", record, &s);
	rewrite_verify_async(base, "second@x.example", record, &s);
	run_until(base, &s, 2);
	cr_assert_str_eq(s.what[0], "ok once@x.example - -");
	cr_assert_str_eq(s.what[1], "ok second@x.example - -");
	rewrite_verify_async(base, "drop@x.example", record, &s);
	run_until(base, &s, 3);
	cr_assert(strncmp(s.what[2], "defer - - rewrite service: connection closed", 44) == 0, "%s",
	        s.what[2]);
	/* The service closing an idle connection is no failure either. */
	rewrite_verify_async(base, "bye@x.example", record, &s);
	run_until(base, &s, 4);
	usleep(50 * 1000);
	rewrite_verify_async(base, "later@x.example", record, &s);
	run_until(base, &s, 5);
	cr_assert_str_eq(s.what[4], "ok later@x.example - -");
	rewrite_async_shutdown();
	event_base_free(base);
}

Test(rewrite_clnt, async_malformed_reply_and_missing_service)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};

	rewrite_resolve_async(base, "junk@x.example", NULL, record, &s);
	run_until(base, &s, 1);
	cr_assert(strstr(s.what[0], "defer") == s.what[0], "%s", s.what[0]);
	rewrite_async_shutdown();
	rewrite_clnt_setup("/nonexistent/rewrite", 1000);
	rewrite_verify_async(base, "a@x.example", record, &s);
	cr_assert_eq(s.n, 1, "no callback from inside the call");
	run_until(base, &s, 2);
	cr_assert(
	        strncmp(s.what[1], "defer - - rewrite service: connect", 34) == 0, "%s", s.what[1]);
	rewrite_async_shutdown();
	event_base_free(base);
}
