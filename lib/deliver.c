/*
 * deliver.c - the frames of the delivery-agent protocol; see deliver.h
 * and docs/delivery-protocol.md.
 *
 * Trusts nothing it decodes: every attribute is checked for presence,
 * length, characters and range, and a request's recipients for unique
 * indexes.  The encoders trust their caller (qmgr or an agent) for the
 * structure, and clean the free text.  Called by qmgr and the agents.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"

#define DELIVER_FOLDER "active/" /* where a request's queue file is, version 1 */

/* ---- small checks ---- */

/* Text: no control characters (C0, DEL), at most max octets. */
static int
text_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f || n >= max)
			return 0;
	}
	return 1;
}

static int
transport_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DELIVER_TRANSPORT_MAX)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

/* A next hop: text without white space; "" is allowed (the transport
 * then knows where to go). */
static int
nexthop_ok(const char *s)
{
	if (!text_ok(s, DELIVER_NEXTHOP_MAX))
		return 0;
	return strchr(s, ' ') == NULL;
}

int
deliver_dsn_valid(const char *dsn, int class)
{
	const char *p = dsn;

	if (dsn == NULL || (*p != '2' && *p != '4' && *p != '5'))
		return 0;
	if (class != 0 && *p != class)
		return 0;
	p++;
	for (int part = 0; part < 2; part++) {
		int digits = 0;

		if (*p++ != '.')
			return 0;
		while (isdigit((unsigned char)*p) && digits < 4) {
			p++;
			digits++;
		}
		if (digits < 1 || digits > 3)
			return 0;
	}
	return *p == '\0';
}

void
deliver_clean_text(struct str *out, const char *text, size_t max)
{
	size_t n = strlen(text);

	if (n > max)
		n = max;
	str_reset(out);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];

		str_appendc(out, ch < 0x20 || ch == 0x7f ? ' ' : ch);
	}
}

/* ---- word lists ---- */

static const struct word {
	const char *name;
	unsigned bit;
} notify_words[] =
        {
                {"success", QUEUE_NOTIFY_SUCCESS},
                {"failure", QUEUE_NOTIFY_FAILURE},
                {"delay", QUEUE_NOTIFY_DELAY},
                {"never", QUEUE_NOTIFY_NEVER},
},
  flag_words[] = {
          {"8bitmime", DELIVER_FLAG_8BITMIME},
          {"smtputf8", DELIVER_FLAG_SMTPUTF8},
          {"flush", DELIVER_FLAG_FLUSH},
};

static void
words_format(const struct word *w, size_t n, unsigned bits, struct str *out)
{
	int first = 1;

	str_reset(out);
	for (size_t i = 0; i < n; i++) {
		if (bits & w[i].bit) {
			if (!first)
				str_appendc(out, ',');
			str_appendz(out, w[i].name);
			first = 0;
		}
	}
}

/* Sets *bits; returns the number of unknown words, or -1 for an empty
 * word. */
static int
words_parse(const struct word *w, size_t n, const char *text, unsigned *bits)
{
	const char *p = text;
	int unknown = 0;

	*bits = 0;
	if (*p == '\0')
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		size_t i;

		if (len == 0)
			return -1;
		for (i = 0; i < n; i++) {
			if (strlen(w[i].name) == len && strncmp(w[i].name, p, len) == 0) {
				*bits |= w[i].bit;
				break;
			}
		}
		if (i == n)
			unknown++;
		if (end == NULL)
			return unknown;
		p = end + 1;
	}
}

#define NWORDS(a) (sizeof(a) / sizeof((a)[0]))

void
deliver_notify_format(unsigned notify, struct str *out)
{
	words_format(notify_words, NWORDS(notify_words), notify, out);
}

int
deliver_notify_parse(const char *text, unsigned *notify)
{
	if (words_parse(notify_words, NWORDS(notify_words), text, notify) != 0)
		return -1;
	if ((*notify & QUEUE_NOTIFY_NEVER) && *notify != QUEUE_NOTIFY_NEVER)
		return -1;
	return 0;
}

void
deliver_flags_format(unsigned flags, struct str *out)
{
	words_format(flag_words, NWORDS(flag_words), flags, out);
}

unsigned
deliver_flags_parse(const char *text)
{
	unsigned flags;

	if (words_parse(flag_words, NWORDS(flag_words), text, &flags) < 0)
		return 0;
	return flags;
}

static const char *const status_names[] = {"sent", "deferred", "bounced"};

const char *
deliver_status_name(enum deliver_status st)
{
	if ((unsigned)st >= NWORDS(status_names))
		return "?";
	return status_names[st];
}

int
deliver_status_parse(const char *name, enum deliver_status *st)
{
	for (size_t i = 0; i < NWORDS(status_names); i++) {
		if (strcmp(name, status_names[i]) == 0) {
			*st = (enum deliver_status)i;
			return 0;
		}
	}
	return -1;
}

static int
status_class(enum deliver_status st)
{
	return st == DELIVER_SENT ? '2' : st == DELIVER_DEFERRED ? '4' : '5';
}

/* ---- the request ---- */

void
deliver_request_init(struct deliver_request *r)
{
	memset(r, 0, sizeof(*r));
}

void
deliver_request_free(struct deliver_request *r)
{
	for (size_t i = 0; i < r->nrcpt; i++) {
		free(r->rcpts[i].address);
		free(r->rcpts[i].orcpt_type);
		free(r->rcpts[i].orcpt_address);
	}
	free(r->rcpts);
	free(r->queue_file);
	free(r->transport);
	free(r->nexthop);
	free(r->sender);
	deliver_request_init(r);
}

void
deliver_request_set(struct deliver_request *r, const char *queue_id, const char *transport,
        const char *nexthop, const char *sender, unsigned flags)
{
	struct str path = STR_INIT;

	if (strlen(queue_id) >= sizeof(r->queue_id))
		msg_panic("deliver_request_set: bad queue ID");
	memcpy(r->queue_id, queue_id, strlen(queue_id) + 1);
	str_printf(&path, "%s%s", DELIVER_FOLDER, queue_id);
	free(r->queue_file);
	free(r->transport);
	free(r->nexthop);
	free(r->sender);
	r->queue_file = str_steal(&path);
	r->transport = xstrdup(transport);
	r->nexthop = xstrdup(nexthop);
	r->sender = xstrdup(sender);
	r->flags = flags;
}

void
deliver_request_add_rcpt(struct deliver_request *r, size_t index, const char *address,
        const char *orcpt_type, const char *orcpt_address, unsigned notify)
{
	struct deliver_rcpt *rc;

	if (r->nrcpt == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 8;
		r->rcpts = xreallocarray(r->rcpts, r->cap, sizeof(*r->rcpts));
	}
	rc = &r->rcpts[r->nrcpt++];
	rc->index = index;
	rc->address = xstrdup(address);
	rc->orcpt_type = xstrdup(orcpt_type ? orcpt_type : "");
	rc->orcpt_address = xstrdup(orcpt_address ? orcpt_address : "");
	rc->notify = notify;
}

void
deliver_request_encode(const struct deliver_request *r, struct attr_list *l)
{
	struct str words = STR_INIT;

	if (r->nrcpt == 0 || r->nrcpt > DELIVER_RCPT_MAX || !queue_id_valid(r->queue_id) ||
	        !transport_ok(r->transport) || !nexthop_ok(r->nexthop) ||
	        !text_ok(r->sender, QUEUE_ADDR_MAX))
		msg_panic("deliver_request_encode: malformed request for %s", r->queue_id);
	attr_list_reset(l);
	attr_put_str(l, "request", "deliver");
	attr_put_int(l, "protocol", DELIVER_PROTOCOL);
	attr_put_str(l, "queue_id", r->queue_id);
	attr_put_str(l, "queue_file", r->queue_file);
	attr_put_str(l, "transport", r->transport);
	attr_put_str(l, "nexthop", r->nexthop);
	attr_put_str(l, "sender", r->sender);
	deliver_flags_format(r->flags, &words);
	attr_put_str(l, "flags", str_cstr(&words));
	attr_put_int(l, "rcpt_count", (long long)r->nrcpt);
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct deliver_rcpt *rc = &r->rcpts[i];

		attr_put_int(l, "rcpt_index", (long long)rc->index);
		attr_put_str(l, "rcpt_address", rc->address);
		attr_put_str(l, "rcpt_orcpt_type", rc->orcpt_type);
		attr_put_str(l, "rcpt_orcpt_address", rc->orcpt_address);
		deliver_notify_format(rc->notify, &words);
		attr_put_str(l, "rcpt_notify", str_cstr(&words));
	}
	str_free(&words);
}

/*
 * A cursor over the attributes in order: the request's recipients are
 * groups of fixed names, so each is taken by position, not by name.
 */
struct cursor {
	const struct attr_list *l;
	size_t i;
	struct str *why;
};

/* The next attribute's value when it is called name and holds no NUL. */
static const char *
next_str(struct cursor *c, const char *name)
{
	const struct attr *a;
	const char *value;

	if (c->i >= c->l->n) {
		str_printf(c->why, "attribute %s missing", name);
		return NULL;
	}
	a = &c->l->v[c->i];
	if (strcmp(attr_name(c->l, a), name) != 0) {
		str_printf(c->why, "expected attribute %s, found %s", name, attr_name(c->l, a));
		return NULL;
	}
	value = attr_value(c->l, a);
	if (strlen(value) != a->value_len) {
		str_printf(c->why, "attribute %s holds a NUL", name);
		return NULL;
	}
	c->i++;
	return value;
}

static int
next_int(struct cursor *c, const char *name, long long min, long long max, long long *v)
{
	const char *s = next_str(c, name);
	const char *why;

	if (s == NULL)
		return -1;
	if (parse_int(s, min, max, v, &why) < 0) {
		str_printf(c->why, "attribute %s: %s", name, why);
		return -1;
	}
	return 0;
}

static int
next_text(struct cursor *c, const char *name, size_t max, int empty_ok, const char **out)
{
	const char *s = next_str(c, name);

	if (s == NULL)
		return -1;
	if (!text_ok(s, max) || (!empty_ok && *s == '\0')) {
		str_printf(c->why, "attribute %s: %s", name,
		        *s ? "control character or too long" : "empty");
		return -1;
	}
	*out = s;
	return 0;
}

static int
compare_index(const void *a, const void *b)
{
	size_t x = **(const size_t *const *)a, y = **(const size_t *const *)b;

	return x < y ? -1 : x > y;
}

/* No two recipients with one index. */
static int
indexes_unique(const struct deliver_request *r)
{
	const size_t **v = xcalloc(r->nrcpt, sizeof(*v));
	int ok = 1;

	for (size_t i = 0; i < r->nrcpt; i++)
		v[i] = &r->rcpts[i].index;
	qsort(v, r->nrcpt, sizeof(*v), compare_index);
	for (size_t i = 1; i < r->nrcpt && ok; i++)
		if (*v[i] == *v[i - 1])
			ok = 0;
	free(v);
	return ok;
}

static int
request_rcpt_decode(struct cursor *c, struct deliver_request *r)
{
	const char *addr, *otype, *oaddr, *notify_text;
	unsigned notify;
	long long index;

	if (next_int(c, "rcpt_index", 0, QUEUE_RCPT_MAX - 1, &index) < 0 ||
	        next_text(c, "rcpt_address", QUEUE_ADDR_MAX, 0, &addr) < 0 ||
	        next_text(c, "rcpt_orcpt_type", QUEUE_ORCPT_TYPE_MAX, 1, &otype) < 0 ||
	        next_text(c, "rcpt_orcpt_address", QUEUE_ADDR_MAX, 1, &oaddr) < 0 ||
	        next_text(c, "rcpt_notify", 64, 1, &notify_text) < 0)
		return -1;
	if ((*otype == '\0') != (*oaddr == '\0')) {
		str_appendz(c->why, "ORCPT type and address must come together");
		return -1;
	}
	if (deliver_notify_parse(notify_text, &notify) < 0) {
		str_printf(c->why, "bad rcpt_notify \"%s\"", notify_text);
		return -1;
	}
	deliver_request_add_rcpt(r, (size_t)index, addr, otype, oaddr, notify);
	return 0;
}

int
deliver_request_decode(const struct attr_list *l, struct deliver_request *r, struct str *why)
{
	struct cursor c = {l, 0, why};
	const char *verb, *id, *file, *transport, *nexthop, *sender, *flags;
	long long version, count;
	struct str expect = STR_INIT;

	deliver_request_init(r);
	if ((verb = next_str(&c, "request")) == NULL)
		goto bad;
	if (strcmp(verb, "deliver") != 0) {
		str_printf(why, "unknown request \"%.64s\"", verb);
		goto bad;
	}
	if (next_int(&c, "protocol", 1, 1000000, &version) < 0)
		goto bad;
	if (version != DELIVER_PROTOCOL) {
		str_printf(why, "protocol version %lld is not %d", version, DELIVER_PROTOCOL);
		goto bad;
	}
	if ((id = next_str(&c, "queue_id")) == NULL || (file = next_str(&c, "queue_file")) == NULL)
		goto bad;
	if (!queue_id_valid(id)) {
		str_appendz(why, "malformed queue_id");
		goto bad;
	}
	str_printf(&expect, "%s%s", DELIVER_FOLDER, id);
	if (strcmp(file, str_cstr(&expect)) != 0) {
		str_printf(why, "queue_file is not %s", str_cstr(&expect));
		goto bad;
	}
	if ((transport = next_str(&c, "transport")) == NULL || !transport_ok(transport)) {
		if (transport)
			str_appendz(why, "malformed transport");
		goto bad;
	}
	if ((nexthop = next_str(&c, "nexthop")) == NULL || !nexthop_ok(nexthop)) {
		if (nexthop)
			str_appendz(why, "malformed nexthop");
		goto bad;
	}
	if (next_text(&c, "sender", QUEUE_ADDR_MAX, 1, &sender) < 0 ||
	        next_text(&c, "flags", 256, 1, &flags) < 0 ||
	        next_int(&c, "rcpt_count", 1, DELIVER_RCPT_MAX, &count) < 0)
		goto bad;
	deliver_request_set(r, id, transport, nexthop, sender, deliver_flags_parse(flags));
	for (long long i = 0; i < count; i++)
		if (request_rcpt_decode(&c, r) < 0)
			goto bad;
	if (c.i != l->n) {
		str_printf(why, "unexpected attribute %s after the recipients",
		        attr_name(l, &l->v[c.i]));
		goto bad;
	}
	if (!indexes_unique(r)) {
		str_appendz(why, "a recipient index appears twice");
		goto bad;
	}
	str_free(&expect);
	return 0;
bad:
	str_free(&expect);
	deliver_request_free(r);
	return -1;
}

/* ---- answers ---- */

void
deliver_result_init(struct deliver_result *r)
{
	memset(r, 0, sizeof(*r));
	str_init(&r->reason);
	str_init(&r->relay);
}

void
deliver_result_free(struct deliver_result *r)
{
	str_free(&r->reason);
	str_free(&r->relay);
}

void
deliver_done_init(struct deliver_done *d)
{
	memset(d, 0, sizeof(*d));
	str_init(&d->reason);
	str_init(&d->relay);
}

void
deliver_done_free(struct deliver_done *d)
{
	str_free(&d->reason);
	str_free(&d->relay);
}

static long long
clamp_delay(long long ms)
{
	return ms < 0 ? 0 : ms > DELIVER_DELAY_MAX ? DELIVER_DELAY_MAX : ms;
}

void
deliver_result_encode(const struct deliver_result *r, struct attr_list *l)
{
	struct str text = STR_INIT;

	if (!deliver_dsn_valid(r->dsn, status_class(r->status)))
		msg_panic("deliver_result_encode: dsn \"%s\" for status %s", r->dsn,
		        deliver_status_name(r->status));
	attr_list_reset(l);
	attr_put_str(l, "result", "rcpt");
	attr_put_int(l, "rcpt_index", (long long)r->index);
	attr_put_str(l, "status", deliver_status_name(r->status));
	attr_put_str(l, "dsn", r->dsn);
	deliver_clean_text(&text, r->reason.data ? r->reason.data : "", DELIVER_REASON_MAX);
	attr_put_str(l, "reason", str_cstr(&text));
	deliver_clean_text(&text, r->relay.len ? r->relay.data : "none", DELIVER_RELAY_MAX);
	attr_put_str(l, "relay", str_cstr(&text));
	attr_put_int(l, "delay_conn", clamp_delay(r->delay_conn_ms));
	attr_put_int(l, "delay_xmit", clamp_delay(r->delay_xmit_ms));
	if (r->conn_use > 0)
		attr_put_int(l, "conn_use", r->conn_use);
	if (r->dsn_relayed)
		attr_put_int(l, "dsn_relayed", 1);
	if (r->dsn_passed)
		attr_put_int(l, "dsn_passed", 1);
	str_free(&text);
}

void
deliver_done_encode(const struct deliver_done *d, struct attr_list *l)
{
	struct str text = STR_INIT;
	const char *dsn = d->dsn;

	if (d->status == DELIVER_DONE_DEFER && *dsn == '\0')
		dsn = "4.0.0";
	if (*dsn && !deliver_dsn_valid(dsn, '4'))
		msg_panic("deliver_done_encode: dsn \"%s\"", dsn);
	attr_list_reset(l);
	attr_put_str(l, "result", "done");
	attr_put_str(l, "status", d->status == DELIVER_DONE_OK ? "ok" : "defer");
	attr_put_str(l, "dsn", dsn);
	deliver_clean_text(&text, d->reason.data ? d->reason.data : "", DELIVER_REASON_MAX);
	attr_put_str(l, "reason", str_cstr(&text));
	if (d->relay.len) {
		deliver_clean_text(&text, d->relay.data, DELIVER_RELAY_MAX);
		attr_put_str(l, "relay", str_cstr(&text));
	}
	str_free(&text);
}

/* An optional attribute by name: NULL when absent. */
static const char *
optional_str(const struct attr_list *l, const char *name)
{
	return attr_find(l, name) ? attr_get_str(l, name) : NULL;
}

static int
reply_text(
        const struct attr_list *l, const char *name, size_t max, struct str *out, struct str *why)
{
	const char *s = attr_get_str(l, name);

	if (s == NULL || !text_ok(s, max)) {
		str_printf(why, "attribute %s %s", name, s ? "malformed" : "missing");
		return -1;
	}
	str_setz(out, s);
	return 0;
}

/* An optional integer attribute: 0 when absent; -1 when malformed. */
static int
optional_int(const struct attr_list *l, const char *name, long long min, long long max,
        long long *v, struct str *why)
{
	*v = 0;
	if (attr_find(l, name) == NULL)
		return 0;
	if (attr_get_int(l, name, min, max, v) < 0) {
		str_printf(why, "attribute %s malformed", name);
		return -1;
	}
	return 0;
}

static int
result_decode(const struct attr_list *l, struct deliver_result *res, struct str *why)
{
	const char *st = attr_get_str(l, "status"), *dsn = attr_get_str(l, "dsn");
	long long v;

	if (attr_get_int(l, "rcpt_index", 0, QUEUE_RCPT_MAX - 1, &v) < 0) {
		str_appendz(why, "attribute rcpt_index missing or malformed");
		return -1;
	}
	res->index = (size_t)v;
	if (st == NULL || deliver_status_parse(st, &res->status) < 0) {
		str_appendz(why, "attribute status missing or malformed");
		return -1;
	}
	if (dsn == NULL || !deliver_dsn_valid(dsn, status_class(res->status))) {
		str_printf(why, "dsn does not fit status %s", st);
		return -1;
	}
	memcpy(res->dsn, dsn, strlen(dsn) + 1);
	if (reply_text(l, "reason", DELIVER_REASON_MAX, &res->reason, why) < 0 ||
	        reply_text(l, "relay", DELIVER_RELAY_MAX, &res->relay, why) < 0)
		return -1;
	if (attr_get_int(l, "delay_conn", 0, DELIVER_DELAY_MAX, &res->delay_conn_ms) < 0 ||
	        attr_get_int(l, "delay_xmit", 0, DELIVER_DELAY_MAX, &res->delay_xmit_ms) < 0) {
		str_appendz(why, "attribute delay_conn or delay_xmit missing or malformed");
		return -1;
	}
	if (optional_int(l, "conn_use", 1, 1000000000, &v, why) < 0)
		return -1;
	res->conn_use = (long)v;
	if (optional_int(l, "dsn_relayed", 0, 1, &v, why) < 0)
		return -1;
	res->dsn_relayed = (int)v;
	if (optional_int(l, "dsn_passed", 0, 1, &v, why) < 0)
		return -1;
	res->dsn_passed = (int)v;
	return 0;
}

static int
done_decode(const struct attr_list *l, struct deliver_done *done, struct str *why)
{
	const char *st = attr_get_str(l, "status"), *dsn = attr_get_str(l, "dsn");
	const char *relay = optional_str(l, "relay");

	if (st == NULL || (strcmp(st, "ok") != 0 && strcmp(st, "defer") != 0)) {
		str_appendz(why, "final status missing or malformed");
		return -1;
	}
	done->status = strcmp(st, "ok") == 0 ? DELIVER_DONE_OK : DELIVER_DONE_DEFER;
	if (dsn == NULL || (*dsn && !deliver_dsn_valid(dsn, '4')) ||
	        (*dsn == '\0' && done->status == DELIVER_DONE_DEFER)) {
		str_appendz(why, "final dsn missing or malformed");
		return -1;
	}
	memcpy(done->dsn, dsn, strlen(dsn) + 1);
	if (reply_text(l, "reason", DELIVER_REASON_MAX, &done->reason, why) < 0)
		return -1;
	str_reset(&done->relay);
	if (attr_find(l, "relay")) {
		if (relay == NULL || !text_ok(relay, DELIVER_RELAY_MAX)) {
			str_appendz(why, "attribute relay malformed");
			return -1;
		}
		str_setz(&done->relay, relay);
	}
	return 0;
}

int
deliver_reply_decode(const struct attr_list *l, enum deliver_reply_kind *kind,
        struct deliver_result *res, struct deliver_done *done, struct str *why)
{
	const char *what;

	if (l->n == 0 || strcmp(attr_name(l, &l->v[0]), "result") != 0 ||
	        (what = attr_get_str(l, "result")) == NULL) {
		str_appendz(why, "frame does not start with result");
		return -1;
	}
	if (strcmp(what, "rcpt") == 0) {
		*kind = DELIVER_REPLY_RCPT;
		return result_decode(l, res, why);
	}
	if (strcmp(what, "done") == 0) {
		*kind = DELIVER_REPLY_DONE;
		return done_decode(l, done, why);
	}
	str_printf(why, "unknown result \"%.64s\"", what);
	return -1;
}

int
deliver_send_result(int fd, const struct deliver_result *r, int timeout_ms, struct str *err)
{
	struct attr_list l;
	int rc;

	attr_list_init(&l);
	deliver_result_encode(r, &l);
	rc = attr_send(fd, &l, timeout_ms, err);
	attr_list_free(&l);
	return rc;
}

int
deliver_send_done(int fd, const struct deliver_done *d, int timeout_ms, struct str *err)
{
	struct attr_list l;
	int rc;

	attr_list_init(&l);
	deliver_done_encode(d, &l);
	rc = attr_send(fd, &l, timeout_ms, err);
	attr_list_free(&l);
	return rc;
}
