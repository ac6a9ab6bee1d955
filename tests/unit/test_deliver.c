/*
 * test_deliver.c - the frames of the delivery-agent protocol: request,
 * answer and final frames through the wire format and back, and every
 * kind of frame the decoders must refuse.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deliver.h"

#define ID "0K2QF7B1D3T0A1C4"

static void
sample_request(struct deliver_request *r)
{
	deliver_request_init(r);
	deliver_request_set(r, ID, "smtp", "[mx.example.net]:2525", "alice@example.org",
	        DELIVER_FLAG_8BITMIME | DELIVER_FLAG_FLUSH);
	deliver_request_add_rcpt(r, 0, "bob@example.net", "rfc822", "Bob@Example.NET",
	        QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE);
	deliver_request_add_rcpt(r, 7, "carol@example.net", NULL, NULL, 0);
	deliver_request_add_rcpt(r, 3, "dave@example.net", "", "", QUEUE_NOTIFY_NEVER);
}

/* Encode, put on the wire, read back. */
static void
through_wire(const struct attr_list *in, struct attr_list *out)
{
	struct str wire = STR_INIT;
	size_t used;
	const char *why;

	attr_encode(in, &wire);
	attr_list_init(out);
	cr_assert_eq(attr_decode(wire.data, wire.len, DELIVER_REQUEST_MAX, out, &used, &why), 1);
	cr_assert_eq(used, wire.len);
	str_free(&wire);
}

Test(deliver, request_round_trip)
{
	struct deliver_request r, back;
	struct attr_list l, m;
	struct str why = STR_INIT;

	sample_request(&r);
	attr_list_init(&l);
	deliver_request_encode(&r, &l);
	through_wire(&l, &m);
	cr_assert_eq(deliver_request_decode(&m, &back, &why), 0, "%s", str_cstr(&why));
	cr_assert_str_eq(back.queue_id, ID);
	cr_assert_str_eq(back.queue_file, "active/" ID);
	cr_assert_str_eq(back.transport, "smtp");
	cr_assert_str_eq(back.nexthop, "[mx.example.net]:2525");
	cr_assert_str_eq(back.sender, "alice@example.org");
	cr_assert_eq(back.flags, DELIVER_FLAG_8BITMIME | DELIVER_FLAG_FLUSH);
	cr_assert_eq(back.nrcpt, 3);
	cr_assert_eq(back.rcpts[0].index, 0);
	cr_assert_str_eq(back.rcpts[0].address, "bob@example.net");
	cr_assert_str_eq(back.rcpts[0].orcpt_type, "rfc822");
	cr_assert_str_eq(back.rcpts[0].orcpt_address, "Bob@Example.NET");
	cr_assert_eq(back.rcpts[0].notify, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE);
	cr_assert_eq(back.rcpts[1].index, 7);
	cr_assert_str_eq(back.rcpts[1].orcpt_type, "");
	cr_assert_eq(back.rcpts[1].notify, 0);
	cr_assert_eq(back.rcpts[2].notify, QUEUE_NOTIFY_NEVER);
	deliver_request_free(&back);
	deliver_request_free(&r);
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&why);
}

/* Build the sample request's attributes with one of them replaced
 * (value NULL: left out), or one more appended (name "+extra"). */
static void
tampered(struct attr_list *out, const char *name, const char *value)
{
	struct deliver_request r;
	struct attr_list l;

	sample_request(&r);
	attr_list_init(&l);
	deliver_request_encode(&r, &l);
	attr_list_init(out);
	for (size_t i = 0; i < l.n; i++) {
		const char *n = attr_name(&l, &l.v[i]);

		if (strcmp(n, name) == 0) {
			if (value)
				attr_put_str(out, n, value);
			name = "\x01"; /* only the first */
			continue;
		}
		attr_put(out, n, attr_value(&l, &l.v[i]), l.v[i].value_len);
	}
	if (strcmp(name, "+extra") == 0)
		attr_put_str(out, "extra", "1");
	deliver_request_free(&r);
	attr_list_free(&l);
}

static void
refused(const char *name, const char *value, const char *expect)
{
	struct deliver_request r;
	struct attr_list l;
	struct str why = STR_INIT;

	tampered(&l, name, value);
	cr_assert_eq(deliver_request_decode(&l, &r, &why), -1, "%s=%s accepted", name,
	        value ? value : "(none)");
	cr_assert(strstr(str_cstr(&why), expect) != NULL, "%s=%s: \"%s\" lacks \"%s\"", name,
	        value ? value : "(none)", str_cstr(&why), expect);
	cr_assert_eq(r.nrcpt, 0);
	attr_list_free(&l);
	str_free(&why);
}

Test(deliver, request_refusals)
{
	refused("request", "bounce", "unknown request");
	refused("protocol", "2", "version 2");
	refused("protocol", "x", "protocol");
	refused("queue_id", "not-an-id", "queue_id");
	refused("queue_file", "deferred/" ID, "queue_file is not active/" ID);
	refused("queue_file", "active/../../etc/passwd", "queue_file");
	refused("transport", "sm tp", "transport");
	refused("transport", "", "transport");
	refused("nexthop", "a b", "nexthop");
	refused("sender", "a\rb@x", "sender");
	refused("flags", NULL, "expected attribute flags");
	refused("rcpt_count", "4", "missing");
	refused("rcpt_count", "2", "unexpected attribute");
	refused("rcpt_count", "0", "rcpt_count");
	refused("rcpt_count", "1001", "rcpt_count");
	refused("rcpt_index", "-1", "rcpt_index");
	refused("rcpt_index", "3", "twice");
	refused("rcpt_address", "", "empty");
	refused("rcpt_address", "bob\n@example.net", "control character");
	refused("rcpt_orcpt_type", "", "together");
	refused("rcpt_notify", "success,never", "rcpt_notify");
	refused("rcpt_notify", "sometimes", "rcpt_notify");
	refused("rcpt_notify", "success,", "rcpt_notify");
	refused("+extra", NULL, "unexpected attribute extra");
}

Test(deliver, request_with_unknown_flag_words)
{
	struct deliver_request r;
	struct attr_list l;
	struct str why = STR_INIT;

	tampered(&l, "flags", "smtputf8,future-word");
	cr_assert_eq(deliver_request_decode(&l, &r, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(r.flags, DELIVER_FLAG_SMTPUTF8);
	deliver_request_free(&r);
	attr_list_free(&l);
	str_free(&why);
}

Test(deliver, answer_round_trip_and_cleaning)
{
	struct deliver_result res, back;
	struct deliver_done done;
	enum deliver_reply_kind kind;
	struct attr_list l, m;
	struct str why = STR_INIT;

	deliver_result_init(&res);
	res.index = 7;
	res.status = DELIVER_BOUNCED;
	snprintf(res.dsn, sizeof(res.dsn), "5.1.1");
	str_setz(&res.reason, "550 5.1.1 <carol@example.net>:\r\n user\tunknown");
	str_setz(&res.relay, "mx.example.net[192.0.2.1]:25");
	res.delay_conn_ms = 120;
	res.delay_xmit_ms = 45;
	res.conn_use = 2;
	res.dsn_relayed = 1;
	attr_list_init(&l);
	deliver_result_encode(&res, &l);
	through_wire(&l, &m);
	deliver_result_init(&back);
	deliver_done_init(&done);
	cr_assert_eq(deliver_reply_decode(&m, &kind, &back, &done, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(kind, DELIVER_REPLY_RCPT);
	cr_assert_eq(back.index, 7);
	cr_assert_eq(back.status, DELIVER_BOUNCED);
	cr_assert_str_eq(back.dsn, "5.1.1");
	cr_assert_str_eq(str_cstr(&back.reason), "550 5.1.1 <carol@example.net>:   user unknown");
	cr_assert_str_eq(str_cstr(&back.relay), "mx.example.net[192.0.2.1]:25");
	cr_assert_eq(back.delay_conn_ms, 120);
	cr_assert_eq(back.delay_xmit_ms, 45);
	cr_assert_eq(back.conn_use, 2);
	cr_assert_eq(back.dsn_relayed, 1);
	deliver_result_free(&res);
	deliver_result_free(&back);
	deliver_done_free(&done);
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&why);
}

Test(deliver, final_frame)
{
	struct deliver_result res;
	struct deliver_done d, back;
	enum deliver_reply_kind kind;
	struct attr_list l, m;
	struct str why = STR_INIT;

	deliver_done_init(&d);
	d.status = DELIVER_DONE_DEFER;
	str_setz(&d.reason, "connect to mx.example.net[192.0.2.1]:25: Connection refused");
	attr_list_init(&l);
	deliver_done_encode(&d, &l);
	through_wire(&l, &m);
	deliver_result_init(&res);
	deliver_done_init(&back);
	cr_assert_eq(deliver_reply_decode(&m, &kind, &res, &back, &why), 0, "%s", str_cstr(&why));
	cr_assert_eq(kind, DELIVER_REPLY_DONE);
	cr_assert_eq(back.status, DELIVER_DONE_DEFER);
	cr_assert_str_eq(back.dsn, "4.0.0", "an empty dsn with defer becomes 4.0.0");
	cr_assert_str_eq(str_cstr(&back.relay), "");
	deliver_result_free(&res);
	deliver_done_free(&d);
	deliver_done_free(&back);
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&why);
}

/* A reply frame from pairs "name", "value", ..., NULL. */
static int
decode_pairs(struct str *why, ...)
{
	struct deliver_result res;
	struct deliver_done done;
	enum deliver_reply_kind kind;
	struct attr_list l;
	const char *name;
	va_list ap;
	int rc;

	attr_list_init(&l);
	va_start(ap, why);
	while ((name = va_arg(ap, const char *)) != NULL)
		attr_put_str(&l, name, va_arg(ap, const char *));
	va_end(ap);
	deliver_result_init(&res);
	deliver_done_init(&done);
	rc = deliver_reply_decode(&l, &kind, &res, &done, why);
	deliver_result_free(&res);
	deliver_done_free(&done);
	attr_list_free(&l);
	return rc;
}

#define GOOD_RCPT                                                                                  \
	"rcpt_index", "1", "reason", "ok", "relay", "local", "delay_conn", "0", "delay_xmit", "0"

Test(deliver, reply_refusals)
{
	struct str why = STR_INIT;

	cr_assert_eq(decode_pairs(&why, "result", "rcpt", "status", "sent", "dsn", "2.0.0",
	                     GOOD_RCPT, NULL),
	        0, "%s", str_cstr(&why));
	cr_assert_eq(decode_pairs(&why, "result", "rcpt", "status", "sent", "dsn", "4.0.0",
	                     GOOD_RCPT, NULL),
	        -1, "a dsn of the wrong class");
	cr_assert_eq(decode_pairs(&why, "result", "rcpt", "status", "maybe", "dsn", "4.0.0",
	                     GOOD_RCPT, NULL),
	        -1);
	cr_assert_eq(decode_pairs(&why, "result", "rcpt", "status", "deferred", "dsn", "4.0",
	                     GOOD_RCPT, NULL),
	        -1);
	cr_assert_eq(decode_pairs(&why, "result", "rcpt", "status", "deferred", "dsn", "4.0.0",
	                     "rcpt_index", "1", "reason", "x", "relay", "r", NULL),
	        -1, "delays are required");
	cr_assert_eq(decode_pairs(&why, "result", "rcpt", "status", "deferred", "dsn", "4.0.0",
	                     "rcpt_index", "1", "reason", "a\nb", "relay", "r", "delay_conn", "0",
	                     "delay_xmit", "0", NULL),
	        -1, "control characters are refused");
	cr_assert_eq(decode_pairs(&why, "status", "ok", "result", "done", NULL), -1,
	        "result must come first");
	cr_assert_eq(decode_pairs(&why, "result", "maybe", NULL), -1);
	cr_assert_eq(
	        decode_pairs(&why, "result", "done", "status", "ok", "dsn", "", "reason", "", NULL),
	        0, "%s", str_cstr(&why));
	cr_assert_eq(decode_pairs(&why, "result", "done", "status", "defer", "dsn", "", "reason",
	                     "", NULL),
	        -1, "defer needs a dsn");
	cr_assert_eq(decode_pairs(&why, "result", "done", "status", "defer", "dsn", "5.0.0",
	                     "reason", "", NULL),
	        -1, "the final dsn is a 4.x.x");
	str_free(&why);
}

Test(deliver, words_and_codes)
{
	struct str s = STR_INIT;
	unsigned bits;

	deliver_notify_format(QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY, &s);
	cr_assert_str_eq(str_cstr(&s), "success,delay");
	cr_assert_eq(deliver_notify_parse("delay,failure", &bits), 0);
	cr_assert_eq(bits, QUEUE_NOTIFY_DELAY | QUEUE_NOTIFY_FAILURE);
	cr_assert_eq(deliver_notify_parse("", &bits), 0);
	cr_assert_eq(bits, 0);
	cr_assert_eq(deliver_notify_parse("never,delay", &bits), -1);
	cr_assert_eq(deliver_flags_parse("flush,,8bitmime"), 0, "an empty word: nothing");
	cr_assert(deliver_dsn_valid("2.0.0", '2'));
	cr_assert(deliver_dsn_valid("5.123.456", 0));
	cr_assert(!deliver_dsn_valid("5.1234.1", 0));
	cr_assert(!deliver_dsn_valid("3.0.0", 0));
	cr_assert(!deliver_dsn_valid("4.0.0 ", '4'));
	cr_assert(!deliver_dsn_valid("4..0", '4'));
	cr_assert(!deliver_dsn_valid("4.0.0", '5'));
	cr_assert_str_eq(deliver_status_name(DELIVER_DEFERRED), "deferred");
	str_free(&s);
}

/* The blocking helpers over a real socket pair, as an agent uses them. */
Test(deliver, send_over_a_socket)
{
	struct deliver_result res, back;
	struct deliver_done done;
	enum deliver_reply_kind kind;
	struct attr_list l;
	struct str err = STR_INIT;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	deliver_result_init(&res);
	res.index = 2;
	res.status = DELIVER_SENT;
	snprintf(res.dsn, sizeof(res.dsn), "2.0.0");
	str_setz(&res.reason, "delivered to maildir");
	str_setz(&res.relay, "local");
	cr_assert_eq(deliver_send_result(sv[0], &res, 5000, &err), 0, "%s", str_cstr(&err));
	deliver_done_init(&done);
	cr_assert_eq(deliver_send_done(sv[0], &done, 5000, &err), 0);
	attr_list_init(&l);
	deliver_result_init(&back);
	cr_assert_eq(attr_recv(sv[1], &l, DELIVER_REPLY_MAX, 5000, &err), 0);
	cr_assert_eq(deliver_reply_decode(&l, &kind, &back, &done, &err), 0, "%s", str_cstr(&err));
	cr_assert_eq(kind, DELIVER_REPLY_RCPT);
	cr_assert_str_eq(str_cstr(&back.relay), "local");
	cr_assert_eq(attr_recv(sv[1], &l, DELIVER_REPLY_MAX, 5000, &err), 0);
	cr_assert_eq(deliver_reply_decode(&l, &kind, &back, &done, &err), 0, "%s", str_cstr(&err));
	cr_assert_eq(kind, DELIVER_REPLY_DONE);
	cr_assert_eq(done.status, DELIVER_DONE_OK);
	close(sv[0]);
	close(sv[1]);
	deliver_result_free(&res);
	deliver_result_free(&back);
	deliver_done_free(&done);
	attr_list_free(&l);
	str_free(&err);
}
