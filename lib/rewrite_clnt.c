/*
 * rewrite_clnt.c - the client of trivial-rewrite: blocking calls over a
 * persistent connection, and event-driven calls with a FIFO of requests
 * on a persistent non-blocking connection; see rewrite_clnt.h.
 *
 * Trusts nothing in a reply: every frame is decoded within
 * REWRITE_FRAME_MAX, every attribute checked (status, class and flags
 * must be known words); a malformed reply closes the connection and the
 * request fails with RESOLVE_DEFER.  Called by smtpd (async), cleanup,
 * qmgr and the rewriteq test tool (blocking).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "unix_connect.h"
#include "clock.h"
#include "attr.h"
#include "mem.h"
#include "msg.h"
#include "rewrite_clnt.h"

#define REWRITE_CONNECT_RETRY_MS 10   /* pause when the listen queue is full */
#define REWRITE_READ_CHUNK       4096 /* octets read per read(2) */

enum rewrite_op {
	OP_CANONICAL,
	OP_RESOLVE,
	OP_VERIFY,
};

static char *clnt_path;
static int clnt_timeout_ms = REWRITE_CLNT_TIMEOUT_MS;

static const char *
service_path(void)
{
	return clnt_path ? clnt_path : REWRITE_CLNT_PATH;
}

void
rewrite_reply_init(struct rewrite_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->status = RESOLVE_DEFER;
	reply->class = RESOLVE_CLASS_REMOTE;
}

void
rewrite_reply_free(struct rewrite_reply *reply)
{
	str_free(&reply->address);
	str_free(&reply->transport);
	str_free(&reply->nexthop);
	str_free(&reply->reason);
}

static void
reply_reset(struct rewrite_reply *reply)
{
	reply->status = RESOLVE_DEFER;
	reply->class = RESOLVE_CLASS_REMOTE;
	reply->flags = 0;
	str_reset(&reply->address);
	str_reset(&reply->transport);
	str_reset(&reply->nexthop);
	str_reset(&reply->reason);
}

static void
reply_defer(struct rewrite_reply *reply, const char *why)
{
	reply_reset(reply);
	reply->status = RESOLVE_DEFER;
	str_printf(&reply->reason, "rewrite service: %s", why);
}

/* ---- the protocol ---- */

static void
request_build(struct attr_list *l, enum rewrite_op op, const char *addr, const char *sender)
{
	static const char *const verbs[] = {"rewrite", "resolve", "verify"};

	attr_list_reset(l);
	attr_put_str(l, "request", verbs[op]);
	attr_put_str(l, "address", addr);
	if (op == OP_RESOLVE && sender != NULL)
		attr_put_str(l, "sender", sender);
}

/* Copy an optional string attribute; -1 when present but not text. */
static int
take_str(const struct attr_list *l, const char *name, struct str *out, int required)
{
	const struct attr *a = attr_find(l, name);
	const char *v;

	if (a == NULL)
		return required ? -1 : 0;
	if ((v = attr_get_str(l, name)) == NULL)
		return -1;
	str_setz(out, v);
	return 0;
}

/* Fill reply from a reply frame; 0, or -1 for a malformed reply (reason in why). */
static int
reply_parse(const struct attr_list *l, enum rewrite_op op, struct rewrite_reply *reply,
        const char **why)
{
	const char *status = attr_get_str(l, "status"), *v;
	int ok;

	reply_reset(reply);
	*why = "malformed reply";
	if (status == NULL || resolve_status_parse(status, &reply->status) < 0)
		return -1;
	if (take_str(l, "reason", &reply->reason, 0) < 0)
		return -1;
	if (reply->status == RESOLVE_ERROR)
		return 0;
	ok = reply->status == RESOLVE_OK;
	switch (op) {
	case OP_CANONICAL:
		if (!ok)
			return -1;
		return take_str(l, "address", &reply->address, 1);
	case OP_RESOLVE:
	case OP_VERIFY:
		if (op == OP_RESOLVE && reply->status == RESOLVE_UNKNOWN)
			return -1;
		if (reply->status == RESOLVE_DEFER)
			return 0;
		if ((v = attr_get_str(l, "class")) == NULL ||
		        resolve_class_parse(v, &reply->class) < 0)
			return -1;
		if ((v = attr_get_str(l, "flags")) == NULL ||
		        resolve_flags_parse(v, &reply->flags) < 0)
			return -1;
		if (take_str(l, "recipient", &reply->address, 1) < 0 ||
		        take_str(l, "transport", &reply->transport, op == OP_RESOLVE && ok) < 0 ||
		        take_str(l, "nexthop", &reply->nexthop, op == OP_RESOLVE && ok) < 0)
			return -1;
		return 0;
	}
	return -1;
}

/* A new connection to the service (non-blocking); -1 with err set. */
static int
service_connect(long long deadline, struct str *err)
{
	struct str why = STR_INIT;
	int fd;

	/* A UNIX socket says EAGAIN when its listen queue is full: retry. */
	while ((fd = unix_connect(service_path(), UNIX_CONNECT_NONBLOCK, &why)) < 0) {
		struct timespec pause = {0, REWRITE_CONNECT_RETRY_MS * 1000000L};

		if (errno != EAGAIN || deadline <= 0 || clock_ms() >= deadline) {
			str_append(err, why.data, why.len);
			break;
		}
		str_reset(&why);
		nanosleep(&pause, NULL);
	}
	str_free(&why);
	return fd;
}

/* ---- blocking ---- */

static int blocking_fd = -1;

void
rewrite_clnt_disconnect(void)
{
	if (blocking_fd >= 0)
		close(blocking_fd);
	blocking_fd = -1;
}

void
rewrite_clnt_setup(const char *path, int timeout_ms)
{
	free(clnt_path);
	clnt_path = path ? xstrdup(path) : NULL;
	clnt_timeout_ms = timeout_ms > 0 ? timeout_ms : REWRITE_CLNT_TIMEOUT_MS;
	rewrite_clnt_disconnect();
}

/* One exchange on the open connection: 0, or -1 with err set. */
static int
blocking_exchange(
        const struct attr_list *req, struct attr_list *rep, long long deadline, struct str *err)
{
	long long left = deadline - clock_ms();
	int rc;

	if (left <= 0) {
		str_appendz(err, "request timed out");
		return -1;
	}
	if (attr_send(blocking_fd, req, (int)left, err) < 0)
		return -1;
	if ((left = deadline - clock_ms()) <= 0)
		left = 1;
	rc = attr_recv(blocking_fd, rep, REWRITE_FRAME_MAX, (int)left, err);
	if (rc == 1)
		str_appendz(err, "connection closed by the service");
	return rc == 0 ? 0 : -1;
}

static enum resolve_status
blocking_call(enum rewrite_op op, const char *addr, const char *sender, struct rewrite_reply *reply)
{
	struct attr_list req, rep;
	struct str err = STR_INIT;
	long long deadline = clock_ms() + clnt_timeout_ms;
	const char *why = NULL;
	int done = 0;

	attr_list_init(&req);
	attr_list_init(&rep);
	request_build(&req, op, addr, sender);
	/* A kept connection may have been closed by the service: try twice. */
	for (int attempt = 0; attempt < 2 && !done && clock_ms() < deadline; attempt++) {
		str_reset(&err);
		if (blocking_fd < 0 && (blocking_fd = service_connect(deadline, &err)) < 0)
			break;
		if (fcntl(blocking_fd, F_SETFL, 0) < 0 ||
		        blocking_exchange(&req, &rep, deadline, &err) < 0) {
			rewrite_clnt_disconnect();
			continue;
		}
		if (reply_parse(&rep, op, reply, &why) < 0) {
			str_setz(&err, why);
			rewrite_clnt_disconnect();
			break;
		}
		done = 1;
	}
	if (!done) {
		if (err.len == 0)
			str_appendz(&err, "request timed out");
		reply_defer(reply, str_cstr(&err));
		msg_warn("%s: %s", service_path(), str_cstr(&err));
	}
	attr_list_free(&req);
	attr_list_free(&rep);
	str_free(&err);
	return reply->status;
}

enum resolve_status
rewrite_canonical(const char *addr, struct rewrite_reply *reply)
{
	return blocking_call(OP_CANONICAL, addr, NULL, reply);
}

enum resolve_status
rewrite_resolve(const char *addr, const char *sender, struct rewrite_reply *reply)
{
	return blocking_call(OP_RESOLVE, addr, sender, reply);
}

enum resolve_status
rewrite_verify(const char *addr, struct rewrite_reply *reply)
{
	return blocking_call(OP_VERIFY, addr, NULL, reply);
}

/* ---- event-driven ---- */

struct rewrite_request {
	enum rewrite_op op;
	struct str frame; /* the encoded request, kept for a resend */
	rewrite_callback cb;
	void *arg;
	int sends;          /* connections it was sent on */
	long long deadline; /* ms, CLOCK_MONOTONIC */
	struct rewrite_request *next;
};

static struct {
	struct event_base *base;
	int fd;
	struct event *rev, *wev, *timer, *fail_ev;
	struct str in, out;
	struct rewrite_request *head, *tail; /* pending, oldest first */
	unsigned count;
	struct str fail_reason; /* for fail_ev */
} aconn = {.fd = -1};

static void async_read(evutil_socket_t fd, short what, void *arg);
static void async_write(evutil_socket_t fd, short what, void *arg);
static void async_timeout(evutil_socket_t fd, short what, void *arg);
static void async_fail_event(evutil_socket_t fd, short what, void *arg);

static void
async_close(void)
{
	if (aconn.rev) {
		event_free(aconn.rev);
		aconn.rev = NULL;
	}
	if (aconn.wev) {
		event_free(aconn.wev);
		aconn.wev = NULL;
	}
	if (aconn.fd >= 0)
		close(aconn.fd);
	aconn.fd = -1;
	str_reset(&aconn.in);
	str_reset(&aconn.out);
}

static void
request_free(struct rewrite_request *req)
{
	str_free(&req->frame);
	free(req);
}

/* Detach the whole queue and fail each request with DEFER. */
static void
async_fail_all(const char *why)
{
	struct rewrite_request *req = aconn.head, *next;
	struct rewrite_reply reply;

	aconn.head = aconn.tail = NULL;
	aconn.count = 0;
	if (aconn.timer)
		evtimer_del(aconn.timer);
	if (req)
		msg_warn("%s: %s", service_path(), why);
	rewrite_reply_init(&reply);
	for (; req; req = next) {
		next = req->next;
		reply_defer(&reply, why);
		if (req->cb)
			req->cb(&reply, req->arg);
		request_free(req);
	}
	rewrite_reply_free(&reply);
}

/*
 * No connection could be made for a new request: fail the queue from the
 * event loop, not from the caller's stack (unless a later request has
 * connected by then, and taken the queue with it).
 */
static void
async_fail_later(const char *why)
{
	str_setz(&aconn.fail_reason, why);
	event_active(aconn.fail_ev, EV_TIMEOUT, 0);
}

static void
async_fail_event(evutil_socket_t fd, short what, void *arg)
{
	struct str why = STR_INIT;

	(void)fd;
	(void)what;
	(void)arg;
	if (aconn.fd >= 0)
		return;
	str_set(&why, aconn.fail_reason.data, aconn.fail_reason.len);
	async_fail_all(str_cstr(&why));
	str_free(&why);
}

/* Arm the timer for the oldest request. */
static void
async_arm_timer(void)
{
	long long left;
	struct timeval tv;

	if (aconn.head == NULL) {
		evtimer_del(aconn.timer);
		return;
	}
	left = aconn.head->deadline - clock_ms();
	if (left < 0)
		left = 0;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(aconn.timer, &tv);
}

/* Open a connection and queue every pending request on it; 0 or -1 (err set). */
static int
async_open(struct str *err)
{
	struct rewrite_request *req;
	int fd;

	if ((fd = service_connect(0, err)) < 0)
		return -1;
	aconn.fd = fd;
	aconn.rev = event_new(aconn.base, fd, EV_READ | EV_PERSIST, async_read, NULL);
	aconn.wev = event_new(aconn.base, fd, EV_WRITE, async_write, NULL);
	event_add(aconn.rev, NULL);
	for (req = aconn.head; req; req = req->next) {
		str_append(&aconn.out, req->frame.data, req->frame.len);
		req->sends++;
	}
	if (aconn.out.len)
		event_add(aconn.wev, NULL);
	return 0;
}

/*
 * The connection broke (EOF, error): requests sent only once go out again
 * on a new connection; the rest fail.
 */
static void
async_broken(const char *why)
{
	struct rewrite_request *req;
	struct str err = STR_INIT;
	int retry = aconn.head != NULL;

	async_close();
	for (req = aconn.head; req; req = req->next)
		if (req->sends >= 2)
			retry = 0;
	if (!retry) {
		async_fail_all(why);
		return;
	}
	if (async_open(&err) < 0)
		async_fail_all(str_cstr(&err));
	str_free(&err);
}

static void
async_write(evutil_socket_t fd, short what, void *arg)
{
	ssize_t n;

	(void)what;
	(void)arg;
	while (aconn.out.len > 0) {
		n = send((int)fd, aconn.out.data, aconn.out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(aconn.wev, NULL);
			return;
		}
		if (n <= 0) {
			async_broken("write to the service failed");
			return;
		}
		str_consume(&aconn.out, (size_t)n);
	}
}

/* Hand complete reply frames to their requests; 0, or -1 on a protocol error. */
static int
async_deliver(void)
{
	struct attr_list l;
	struct rewrite_reply reply;
	const char *why;
	size_t used;
	int rc = 0;

	attr_list_init(&l);
	rewrite_reply_init(&reply);
	while (aconn.in.len > 0 && rc == 0) {
		struct rewrite_request *req = aconn.head;
		int d = attr_decode(
		        aconn.in.data, aconn.in.len, REWRITE_FRAME_MAX, &l, &used, &why);

		if (d == 0)
			break;
		if (d < 0 || req == NULL || reply_parse(&l, req->op, &reply, &why) < 0) {
			if (req == NULL)
				why = "reply without a request";
			async_broken(why);
			rc = -1;
			break;
		}
		str_consume(&aconn.in, used);
		aconn.head = req->next;
		if (aconn.head == NULL)
			aconn.tail = NULL;
		else
			/* The service answers in order: a request's time starts
			 * when the one before it was answered, so a long burst
			 * of requests to a working service never times out. */
			aconn.head->deadline = clock_ms() + clnt_timeout_ms;
		aconn.count--;
		if (req->cb)
			req->cb(&reply, req->arg);
		request_free(req);
	}
	async_arm_timer();
	attr_list_free(&l);
	rewrite_reply_free(&reply);
	return rc;
}

static void
async_read(evutil_socket_t fd, short what, void *arg)
{
	char buf[REWRITE_READ_CHUNK];
	ssize_t n;

	(void)what;
	(void)arg;
	n = read((int)fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		async_broken(n == 0 ? "connection closed by the service"
		                    : "read from the service failed");
		return;
	}
	str_append(&aconn.in, buf, (size_t)n);
	async_deliver();
}

static void
async_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (aconn.head == NULL || aconn.head->deadline > clock_ms()) {
		async_arm_timer();
		return;
	}
	/* Replies come in order: one stuck request holds up the rest. */
	async_close();
	async_fail_all("request timed out");
}

static struct rewrite_request *
async_submit(struct event_base *base, enum rewrite_op op, const char *addr, const char *sender,
        rewrite_callback cb, void *arg)
{
	struct rewrite_request *req = xcalloc(1, sizeof(*req));
	struct attr_list l;
	struct str err = STR_INIT;

	if (aconn.base == NULL) {
		aconn.base = base;
		aconn.timer = evtimer_new(base, async_timeout, NULL);
		aconn.fail_ev = event_new(base, -1, 0, async_fail_event, NULL);
	} else if (aconn.base != base) {
		msg_panic("rewrite client: a second event base");
	}
	attr_list_init(&l);
	request_build(&l, op, addr, sender);
	attr_encode(&l, &req->frame);
	attr_list_free(&l);
	req->op = op;
	req->cb = cb;
	req->arg = arg;
	req->deadline = clock_ms() + clnt_timeout_ms;
	if (aconn.tail)
		aconn.tail->next = req;
	else
		aconn.head = req;
	aconn.tail = req;
	aconn.count++;
	if (aconn.head == req)
		async_arm_timer();
	if (aconn.fd < 0) {
		/* async_open queues every pending request, this one included. */
		if (async_open(&err) < 0)
			async_fail_later(str_cstr(&err));
	} else {
		str_append(&aconn.out, req->frame.data, req->frame.len);
		req->sends++;
		event_add(aconn.wev, NULL);
	}
	str_free(&err);
	return req;
}

struct rewrite_request *
rewrite_canonical_async(struct event_base *base, const char *addr, rewrite_callback cb, void *arg)
{
	return async_submit(base, OP_CANONICAL, addr, NULL, cb, arg);
}

struct rewrite_request *
rewrite_resolve_async(struct event_base *base, const char *addr, const char *sender,
        rewrite_callback cb, void *arg)
{
	return async_submit(base, OP_RESOLVE, addr, sender, cb, arg);
}

struct rewrite_request *
rewrite_verify_async(struct event_base *base, const char *addr, rewrite_callback cb, void *arg)
{
	return async_submit(base, OP_VERIFY, addr, NULL, cb, arg);
}

void
rewrite_cancel(struct rewrite_request *req)
{
	if (req)
		req->cb = NULL;
}

unsigned
rewrite_async_pending(void)
{
	return aconn.count;
}

void
rewrite_async_shutdown(void)
{
	struct rewrite_request *req, *next;

	async_close();
	for (req = aconn.head; req; req = next) {
		next = req->next;
		request_free(req);
	}
	aconn.head = aconn.tail = NULL;
	aconn.count = 0;
	if (aconn.timer)
		event_free(aconn.timer);
	if (aconn.fail_ev)
		event_free(aconn.fail_ev);
	aconn.timer = aconn.fail_ev = NULL;
	aconn.base = NULL;
	str_free(&aconn.in);
	str_free(&aconn.out);
	str_free(&aconn.fail_reason);
}
