/*
 * qmgr_sched.c - transports and destinations: which delivery starts
 * next.  A transport is a unix service of master.cf (its maxproc caps
 * the connections qmgr opens to it); a destination is a transport and a
 * next hop, with a FIFO of jobs, at most
 * default_destination_concurrency_limit deliveries at once, and the
 * back-off state of docs/qmgr.md (ready, backoff, probing).  A
 * transport's capacity goes round-robin over its destinations that have
 * work.
 *
 * Trusts master.cf as master does (it was validated before master
 * started qmgr) and the transport names trivial-rewrite gives only as
 * keys: a name master.cf lacks is refused.  Called by qmgr_message.c
 * (jobs), qmgr_deliver.c (ends of deliveries), qmgr_control.c (flush,
 * the destination list), qmgr.c (start).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "config.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"

struct qmgr_transport {
	char *name;
	char *socket;   /* "private/NAME" or "public/NAME" */
	unsigned limit; /* connections at once; 0: no limit */
	unsigned active;
	int deferred;           /* in defer_transports */
	struct qmgr_dest *ring; /* destinations with queued jobs; the next to serve */
	size_t ring_len;
	struct event *retry_ev; /* after a full listen queue */
	int throttled;
	struct qmgr_transport *next;
};

struct qmgr_dest {
	char *key; /* "transport:nexthop" */
	struct qmgr_transport *transport;
	char *nexthop;
	struct qmgr_job *head, *tail;
	size_t queued_jobs, queued_rcpts;
	unsigned active;
	unsigned refs; /* recipients that point here */
	enum qmgr_dest_state state;
	unsigned failures;
	long long since; /* first failure of the row */
	long long last;  /* last failure */
	long long until; /* end of the back-off */
	char dsn[QUEUE_DSN_MAX + 1];
	struct str reason;
	struct event *timer;
	struct qmgr_dest *ring_next, *ring_prev;
	int in_ring;
};

static struct qmgr_transport *transports;
static struct qmgr_map *dests; /* key -> struct qmgr_dest */

/* ---- transports ---- */

static void
on_transport_retry(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr_transport *t = arg;

	(void)fd;
	(void)what;
	t->throttled = 0;
	qmgr_kick();
}

/* What the delivery protocol accepts as a transport name. */
static int
transport_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > DELIVER_TRANSPORT_MAX)
		return 0;
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && *name != '-' && *name != '_')
			return 0;
	return 1;
}

static int
listed(char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

void
qmgr_sched_init(const char *confdir)
{
	struct str path = STR_INIT, errors = STR_INIT, warnings = STR_INIT;
	struct mastercf *mcf;
	int nerr = 0;

	dests = qmgr_map_new();
	str_printf(&path, "%s/master.cf", confdir);
	mcf = mastercf_load(str_cstr(&path), cfg, &errors, &warnings, &nerr);
	if (nerr > 0)
		msg_warn("%s: %d error%s; using the services that parsed", str_cstr(&path), nerr,
		        nerr == 1 ? "" : "s");
	for (int i = 0; i < mcf->count; i++) {
		const struct service *s = &mcf->services[i];
		struct qmgr_transport *t;
		struct str sock = STR_INIT;

		if (s->type != SERVICE_UNIX || !transport_name_ok(s->name))
			continue;
		t = xcalloc(1, sizeof(*t));
		t->name = xstrdup(s->name);
		str_printf(&sock, "%s/%s", s->private ? "private" : "public", s->name);
		t->socket = str_steal(&sock);
		t->limit = s->maxproc_default ? (unsigned)qmgr_params.process_limit
		                              : (unsigned)s->maxproc;
		t->deferred = listed(qmgr_params.defer_transports, s->name);
		t->next = transports;
		transports = t;
	}
	mastercf_free(mcf);
	str_free(&path);
	str_free(&errors);
	str_free(&warnings);
}

static struct qmgr_transport *
transport_find(const char *name)
{
	for (struct qmgr_transport *t = transports; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* ---- destinations ---- */

static void on_backoff_end(evutil_socket_t fd, short what, void *arg);

/* Text without white space or control characters, as the protocol wants. */
static int
nexthop_ok(const char *s)
{
	if (strlen(s) > DELIVER_NEXTHOP_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

struct qmgr_dest *
qmgr_dest_get(const char *transport, const char *nexthop, struct str *why)
{
	struct qmgr_transport *t = transport_find(transport);
	struct qmgr_dest *d;
	struct str key = STR_INIT;

	if (t == NULL) {
		str_printf(why, "no service %s in master.cf", transport);
		return NULL;
	}
	if (!nexthop_ok(nexthop)) {
		str_printf(why, "malformed next hop for transport %s", transport);
		return NULL;
	}
	str_printf(&key, "%s:%s", transport, nexthop);
	d = qmgr_map_get(dests, str_cstr(&key));
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->key = str_steal(&key);
		d->transport = t;
		d->nexthop = xstrdup(nexthop);
		d->state = QMGR_DEST_READY;
		str_init(&d->reason);
		d->timer = evtimer_new(qmgr_base(), on_backoff_end, d);
		qmgr_map_put(dests, d->key, d);
	}
	str_free(&key);
	d->refs++;
	return d;
}

const char *
qmgr_dest_key(const struct qmgr_dest *d)
{
	return d->key;
}

const char *
qmgr_dest_transport(const struct qmgr_dest *d)
{
	return d->transport->name;
}

const char *
qmgr_dest_nexthop(const struct qmgr_dest *d)
{
	return d->nexthop;
}

const char *
qmgr_dest_socket(const struct qmgr_dest *d)
{
	return d->transport->socket;
}

int
qmgr_dest_transport_deferred(const struct qmgr_dest *d)
{
	return d->transport->deferred;
}

int
qmgr_dest_suspended(const struct qmgr_dest *d, const char **dsn, const char **reason)
{
	if (d->state != QMGR_DEST_BACKOFF)
		return 0;
	*dsn = d->dsn;
	*reason = d->reason.data ? d->reason.data : "";
	return 1;
}

/* How long an idle destination's failures are remembered: twice the
 * longest retry gap, plus the back-off. */
static long long
forget_after(void)
{
	long long longest = 0;

	for (size_t i = 0; i < qmgr_params.nretry; i++)
		if (qmgr_params.retry[i] > longest)
			longest = qmgr_params.retry[i];
	return 2 * longest + qmgr_params.backoff_time;
}

/* Free an idle destination that has nothing (more) to show. */
static void
dest_gc(struct qmgr_dest *d)
{
	if (d->refs > 0 || d->active > 0 || d->head != NULL || d->state == QMGR_DEST_BACKOFF)
		return;
	if ((d->state == QMGR_DEST_PROBING || d->failures > 0) &&
	        qmgr_now() - d->last < forget_after())
		return;
	qmgr_map_remove(dests, d->key);
	event_free(d->timer);
	str_free(&d->reason);
	free(d->key);
	free(d->nexthop);
	free(d);
}

void
qmgr_dest_release(struct qmgr_dest *d)
{
	if (d->refs == 0)
		msg_panic("qmgr_dest_release: %s has no reference", d->key);
	d->refs--;
	dest_gc(d);
}

static void
ring_add(struct qmgr_dest *d)
{
	struct qmgr_transport *t = d->transport;

	if (d->in_ring)
		return;
	if (t->ring == NULL) {
		d->ring_next = d->ring_prev = d;
		t->ring = d;
	} else {
		/* Just before the next one to serve: last in the round. */
		d->ring_next = t->ring;
		d->ring_prev = t->ring->ring_prev;
		t->ring->ring_prev->ring_next = d;
		t->ring->ring_prev = d;
	}
	d->in_ring = 1;
	t->ring_len++;
}

static void
ring_remove(struct qmgr_dest *d)
{
	struct qmgr_transport *t = d->transport;

	if (!d->in_ring)
		return;
	if (d->ring_next == d) {
		t->ring = NULL;
	} else {
		d->ring_prev->ring_next = d->ring_next;
		d->ring_next->ring_prev = d->ring_prev;
		if (t->ring == d)
			t->ring = d->ring_next;
	}
	d->ring_next = d->ring_prev = NULL;
	d->in_ring = 0;
	t->ring_len--;
}

void
qmgr_dest_enqueue(struct qmgr_dest *d, struct qmgr_job *job)
{
	job->next = NULL;
	job->queued = 1;
	if (d->tail)
		d->tail->next = job;
	else
		d->head = job;
	d->tail = job;
	d->queued_jobs++;
	d->queued_rcpts += job->nrcpt;
	ring_add(d);
}

void
qmgr_dest_dequeue(struct qmgr_job *job)
{
	struct qmgr_dest *d = job->dest;
	struct qmgr_job **p;

	if (!job->queued)
		return;
	for (p = &d->head; *p && *p != job; p = &(*p)->next)
		;
	if (*p == NULL)
		msg_panic("qmgr_dest_dequeue: job not in %s", d->key);
	*p = job->next;
	if (d->tail == job) {
		d->tail = NULL;
		for (struct qmgr_job *j = d->head; j; j = j->next)
			d->tail = j;
	}
	job->next = NULL;
	job->queued = 0;
	d->queued_jobs--;
	d->queued_rcpts -= job->nrcpt;
	if (d->head == NULL)
		ring_remove(d);
}

/* Put a job back at the head of its FIFO. */
static void
requeue_head(struct qmgr_dest *d, struct qmgr_job *job)
{
	job->next = d->head;
	job->queued = 1;
	d->head = job;
	if (d->tail == NULL)
		d->tail = job;
	d->queued_jobs++;
	d->queued_rcpts += job->nrcpt;
	ring_add(d);
}

static unsigned
dest_limit(const struct qmgr_dest *d)
{
	if (d->state == QMGR_DEST_BACKOFF)
		return 0;
	if (d->state == QMGR_DEST_PROBING)
		return 1;
	return (unsigned)qmgr_params.dest_concurrency;
}

static int
transport_has_room(const struct qmgr_transport *t)
{
	return !t->throttled && (t->limit == 0 || t->active < t->limit);
}

/* Start one job of t, round-robin; 0 when none could start. */
static int
start_one(struct qmgr_transport *t)
{
	struct qmgr_dest *d = t->ring;

	for (size_t n = t->ring_len; n > 0 && d; n--, d = d->ring_next) {
		struct qmgr_job *job;

		if (d->active >= dest_limit(d))
			continue;
		job = d->head;
		qmgr_dest_dequeue(job);
		t->ring = d->in_ring ? d->ring_next : t->ring;
		d->active++;
		t->active++;
		if (qmgr_deliver_start(job) < 0) {
			struct timeval tv = {0, QMGR_CONNECT_RETRY_MS * 1000};

			d->active--;
			t->active--;
			requeue_head(d, job);
			t->throttled = 1;
			if (t->retry_ev == NULL)
				t->retry_ev = evtimer_new(qmgr_base(), on_transport_retry, t);
			evtimer_add(t->retry_ev, &tv);
			msg_debug("transport %s: listen queue full; waiting", t->name);
			return 0;
		}
		return 1;
	}
	return 0;
}

void
qmgr_sched_run(void)
{
	if (qmgr_stopping())
		return;
	for (struct qmgr_transport *t = transports; t; t = t->next)
		while (t->ring && transport_has_room(t) && start_one(t))
			;
}

/* ---- back-off ---- */

static void
defer_queued(struct qmgr_dest *d)
{
	struct str why = STR_INIT;

	str_printf(&why, "delivery temporarily suspended: %s", str_cstr(&d->reason));
	while (d->head) {
		struct qmgr_job *job = d->head;
		struct qmgr_message *m = job->msg;

		qmgr_dest_dequeue(job);
		for (size_t i = 0; i < job->nrcpt; i++)
			qmgr_rcpt_defer(job->rcpts[i], d->dsn, str_cstr(&why));
		qmgr_message_job_done(m, job);
	}
	str_free(&why);
}

static void
back_off(struct qmgr_dest *d)
{
	struct timeval tv = {.tv_sec = (time_t)qmgr_params.backoff_time};

	d->state = QMGR_DEST_BACKOFF;
	d->until = qmgr_now() + qmgr_params.backoff_time;
	evtimer_add(d->timer, &tv);
	msg_info("destination %s: backed off for %llds after %u failure%s: %s", d->key,
	        qmgr_params.backoff_time, d->failures, d->failures == 1 ? "" : "s",
	        str_cstr(&d->reason));
	defer_queued(d);
}

static void
on_backoff_end(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr_dest *d = arg;

	(void)fd;
	(void)what;
	d->state = QMGR_DEST_PROBING;
	d->until = 0;
	msg_info("destination %s: back-off over; probing", d->key);
	qmgr_kick();
}

void
qmgr_dest_done(struct qmgr_dest *d, int ok, const char *dsn, const char *reason)
{
	d->active--;
	d->transport->active--;
	if (ok) {
		if (d->state == QMGR_DEST_PROBING)
			msg_info("destination %s: ready again", d->key);
		if (d->state != QMGR_DEST_BACKOFF) {
			d->state = QMGR_DEST_READY;
			d->failures = 0;
			d->since = 0;
			str_reset(&d->reason);
		}
	} else {
		d->failures++;
		d->last = qmgr_now();
		if (d->since == 0)
			d->since = d->last;
		str_setz(&d->reason, reason && *reason ? reason : "delivery failed");
		snprintf(d->dsn, sizeof(d->dsn), "%s",
		        dsn && deliver_dsn_valid(dsn, '4') ? dsn : "4.0.0");
		if (d->state != QMGR_DEST_BACKOFF &&
		        (d->state == QMGR_DEST_PROBING ||
		                d->failures >= (unsigned)qmgr_params.failure_limit))
			back_off(d);
	}
	qmgr_kick();
	dest_gc(d);
}

/* "[host]:port", "host:port", "[host]" -> "host" compared with domain. */
static int
nexthop_is(const char *nexthop, const char *domain)
{
	const char *p = nexthop, *end;
	size_t n = strlen(domain);

	if (*p == '[') {
		p++;
		end = strchr(p, ']');
	} else {
		end = strchr(p, ':');
	}
	if (end == NULL)
		end = p + strlen(p);
	return (size_t)(end - p) == n && strncasecmp(p, domain, n) == 0;
}

static void
flush_one(const char *key, void *value, void *arg)
{
	struct qmgr_dest *d = value;
	const char *domain = arg;

	(void)key;
	if (domain && !nexthop_is(d->nexthop, domain))
		return;
	if (d->state == QMGR_DEST_BACKOFF)
		evtimer_del(d->timer);
	if (d->state != QMGR_DEST_READY || d->failures > 0)
		msg_info("destination %s: back-off ended by a flush", d->key);
	d->state = QMGR_DEST_READY;
	d->failures = 0;
	d->since = d->until = 0;
}

void
qmgr_dest_flush(const char *domain)
{
	qmgr_map_walk(dests, flush_one, (void *)domain);
	qmgr_kick();
}

static const char *const state_names[] = {"ready", "backoff", "probing"};

static size_t listed_count;
static int listing_troubled; /* the first round: destinations that failed */

/* Those in trouble first, then the others, at most QMGR_DEST_LIST_MAX
 * in all, so the reply stays one bounded frame. */
static void
list_one(const char *key, void *value, void *arg)
{
	struct qmgr_dest *d = value;
	struct attr_list *out = arg;
	int troubled = d->state != QMGR_DEST_READY || d->failures > 0;

	(void)key;
	if (troubled != listing_troubled || listed_count >= QMGR_DEST_LIST_MAX)
		return;
	listed_count++;
	attr_put_str(out, "dest_transport", d->transport->name);
	attr_put_str(out, "dest_nexthop", d->nexthop);
	attr_put_str(out, "dest_state", state_names[d->state]);
	attr_put_int(out, "dest_active", d->active);
	attr_put_int(out, "dest_queued", (long long)d->queued_rcpts);
	attr_put_int(out, "dest_failures", d->failures);
	attr_put_str(out, "dest_reason", d->reason.data ? d->reason.data : "");
	attr_put_int(out, "dest_since", d->since);
	attr_put_int(out, "dest_until", d->until);
}

void
qmgr_dest_list(struct attr_list *out)
{
	listed_count = 0;
	for (listing_troubled = 1; listing_troubled >= 0; listing_troubled--)
		qmgr_map_walk(dests, list_one, out);
}

static void
collect_idle(const char *key, void *value, void *arg)
{
	struct qmgr_dest **list = arg;
	struct qmgr_dest *d = value;

	(void)key;
	if (d->refs == 0 && d->active == 0 && d->head == NULL) {
		d->ring_next = *list; /* not in a ring: the link is free */
		*list = d;
	}
}

void
qmgr_dest_forget_idle(void)
{
	struct qmgr_dest *list = NULL, *next;

	qmgr_map_walk(dests, collect_idle, &list);
	for (; list; list = next) {
		next = list->ring_next;
		list->ring_next = NULL;
		dest_gc(list);
	}
}
