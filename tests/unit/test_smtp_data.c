/*
 * test_smtp_data.c - the DATA/BDAT state machine and the dot-stuffer
 * (lib/smtp_data.c).  Every sample stream is fed whole, one octet at a
 * time, split at every position and split at every pair of positions; all
 * must give the same content, the same end and the same errors.  The
 * smuggling variants (CVE-2023-51764 class) are among the samples.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))
#define S(lit)    lit, sizeof(lit) - 1
#define ALL       ((size_t)-1) /* consumed everything, no end seen */

#define ELF SMTP_DATA_ERR_BARE_LF
#define ECR SMTP_DATA_ERR_BARE_CR

struct result {
	struct str out;
	size_t consumed;
	int done;
	unsigned errors;
	unsigned long long bytes;
	unsigned long long header_bytes;
	unsigned long header_count;
	unsigned long received_count;
};

/* Feed in[0..len) cut at the given positions (ascending); stop when done. */
static void
feed_split(const char *in, size_t len, enum smtp_data_mode mode, const struct smtp_data_limits *lim,
        const size_t *cuts, size_t ncuts, struct result *r)
{
	struct smtp_data d;
	size_t start = 0, i;

	smtp_data_init(&d, mode, lim);
	str_init(&r->out);
	r->consumed = 0;
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		size_t n = smtp_data_feed(&d, in + start, end - start, &r->out);

		cr_assert(n <= end - start);
		r->consumed += n;
		if (d.done) {
			cr_assert_eq(
			        smtp_data_feed(&d, in + start + n, end - start - n, &r->out), 0);
			break;
		}
		cr_assert_eq(n, end - start, "not done, so all must be taken");
		start = end;
	}
	if (mode != SMTP_DATA_DOT)
		smtp_data_finish(&d, &r->out);
	cr_assert_eq(d.input_bytes, r->consumed);
	r->done = d.done;
	r->errors = d.errors;
	r->bytes = d.bytes;
	r->header_bytes = d.header_bytes;
	r->header_count = d.header_count;
	r->received_count = d.received_count;
}

static void
same_result(const struct result *a, const struct result *b, const char *what)
{
	size_t common = a->out.len < b->out.len ? a->out.len : b->out.len;

	/* After an error the stored content is only some prefix: both must agree on it. */
	if (a->errors == 0)
		cr_assert_eq(a->out.len, b->out.len, "%s: output length %zu vs %zu", what,
		        a->out.len, b->out.len);
	cr_assert(common == 0 || memcmp(a->out.data, b->out.data, common) == 0, "%s", what);
	cr_assert_eq(a->consumed, b->consumed, "%s: consumed", what);
	cr_assert_eq(a->done, b->done, "%s: done", what);
	cr_assert_eq(a->errors, b->errors, "%s: errors %#x vs %#x", what, a->errors, b->errors);
	cr_assert_eq(a->bytes, b->bytes, "%s: bytes", what);
	cr_assert_eq(a->header_bytes, b->header_bytes, "%s: header bytes", what);
	cr_assert_eq(a->header_count, b->header_count, "%s: header count", what);
	cr_assert_eq(a->received_count, b->received_count, "%s: received", what);
}

/*
 * Feed whole, then octet by octet, then split at every position, then at
 * every pair of positions: every way must agree.  Returns the whole-feed
 * result for the caller to check.
 */
static void
feed_every_way(const char *in, size_t len, enum smtp_data_mode mode,
        const struct smtp_data_limits *lim, struct result *whole)
{
	struct result r;
	size_t cuts[2], i, j, *each;
	char what[64];

	feed_split(in, len, mode, lim, NULL, 0, whole);
	each = malloc((len + 1) * sizeof(*each));
	for (i = 0; i < len; i++)
		each[i] = i + 1;
	feed_split(in, len, mode, lim, each, len ? len - 1 : 0, &r);
	same_result(whole, &r, "octet by octet");
	str_free(&r.out);
	free(each);
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		feed_split(in, len, mode, lim, cuts, 1, &r);
		snprintf(what, sizeof(what), "split at %zu", i);
		same_result(whole, &r, what);
		str_free(&r.out);
		if (len > 80)
			continue;
		for (j = i; j <= len; j++) {
			cuts[1] = j;
			feed_split(in, len, mode, lim, cuts, 2, &r);
			snprintf(what, sizeof(what), "split at %zu and %zu", i, j);
			same_result(whole, &r, what);
			str_free(&r.out);
		}
	}
}

struct data_case {
	const char *name;
	const char *in;
	size_t len;
	const char *out; /* stored content */
	size_t out_len;
	size_t consumed; /* ALL: no end of data in the input */
	unsigned errors;
};

static const struct data_case data_cases[] = {
        /* ends, dot-unstuffing, pipelining */
        {"empty message", S(".\r\n"), S(""), 3, 0},
        {"one line", S("a\r\n.\r\n"), S("a\r\n"), 6, 0},
        {"header and body", S("Subject: x\r\n\r\nbody\r\n.\r\n"), S("Subject: x\r\n\r\nbody\r\n"),
                23, 0},
        {"empty first line", S("\r\n.\r\n"), S("\r\n"), 5, 0},
        {"stuffed dot", S("..leading dot\r\n.\r\n"), S(".leading dot\r\n"), 18, 0},
        {"dot then text", S(".x\r\n.\r\n"), S("x\r\n"), 7, 0},
        {"dot line", S("a\r\n..\r\n.\r\n"), S("a\r\n.\r\n"), 10, 0},
        {"two dots", S("a\r\n...\r\n.\r\n"), S("a\r\n..\r\n"), 11, 0},
        {"dot space", S("a\r\n. \r\n.\r\n"), S("a\r\n \r\n"), 10, 0},
        {"dot inside a line", S("a.b\r\na.\r\n.\r\n"), S("a.b\r\na.\r\n"), 12, 0},
        {"NUL octets", S("a\0b\r\n.\r\n"), S("a\0b\r\n"), 8, 0},
        {"8-bit octets", S("\xc3\xbc\xff\r\n.\r\n"), S("\xc3\xbc\xff\r\n"), 8, 0},
        {"pipelined QUIT", S("a\r\n.\r\nQUIT\r\n"), S("a\r\n"), 6, 0},
        {"pipelined transaction", S("a\r\n.\r\nMAIL FROM:<x@y.z>\r\nRCPT TO:<w@y.z>\r\nDATA\r\n"),
                S("a\r\n"), 6, 0},
        {"second message pipelined", S("a\r\n.\r\nb\r\n.\r\n"), S("a\r\n"), 6, 0},
        {"end then junk", S(".\r\n\n\r.\r\n"), S(""), 3, 0},
        /* not ended yet */
        {"no end", S("a\r\nb\r\n"), S("a\r\nb\r\n"), ALL, 0},
        {"half an end", S("a\r\n."), S("a\r\n"), ALL, 0},
        {"almost an end", S("a\r\n.\r"), S("a\r\n"), ALL, 0},
        {"nothing", S(""), S(""), ALL, 0},
        {"pending CR", S("a\r"), S("a"), ALL, 0},
        /* smuggling: never an end of data; read on to the real one */
        {"LF.CRLF", S("a\n.\r\nMAIL FROM:<evil@x.y>\r\n\r\n.\r\n"), S("a"),
                sizeof("a\n.\r\nMAIL FROM:<evil@x.y>\r\n\r\n.\r\n") - 1, ELF},
        {"LF.CRLF unfinished", S("a\n.\r\nMAIL FROM:<evil@x.y>\r\n"), S("a"), ALL, ELF},
        {"CRLF.LF", S("a\r\n.\nRCPT TO:<e@x.y>\r\n.\r\n"), S("a\r\n"),
                sizeof("a\r\n.\nRCPT TO:<e@x.y>\r\n.\r\n") - 1, ELF},
        {"LF.LF", S("a\n.\nX\r\n.\r\n"), S("a"), sizeof("a\n.\nX\r\n.\r\n") - 1, ELF},
        {"CR.CR", S("a\r.\rX\r\n.\r\n"), S("a"), sizeof("a\r.\rX\r\n.\r\n") - 1, ECR},
        {"CR.CRLF", S("a\r.\r\nX\r\n.\r\n"), S("a"), sizeof("a\r.\r\nX\r\n.\r\n") - 1, ECR},
        {"CRLF.CR", S("a\r\n.\rX\r\n.\r\n"), S("a\r\n"), sizeof("a\r\n.\rX\r\n.\r\n") - 1, ECR},
        {"CRLF.CR then CRLF", S("a\r\n.\r\r\n.\r\n"), S("a\r\n"), 10, ECR},
        {"LF.LF alone", S("\n.\n"), S(""), ALL, ELF},
        {"CRLF.LF alone", S("a\r\n.\n"), S("a\r\n"), ALL, ELF},
        {"LF CRLF . CRLF", S("a\n\r\n.\r\n"), S("a"), 7, ELF},
        {"CRLF LF . CRLF", S("a\r\n\n.\r\nX\r\n.\r\n"), S("a\r\n"),
                sizeof("a\r\n\n.\r\nX\r\n.\r\n") - 1, ELF},
        {"CR CRLF", S("a\r\r\n.\r\n"), S("a"), 7, ECR},
        {"CR LF split by CR", S("a\r\r\n\r\n.\r\n"), S("a"), 9, ECR},
        {"LF CR", S("a\n\r.\r\n.\r\n"), S("a"), sizeof("a\n\r.\r\n.\r\n") - 1, ELF | ECR},
        {"CR at start", S("\r.\r\n.\r\n"), S(""), 7, ECR},
        {"LF at start", S("\n.\r\n.\r\n"), S(""), 7, ELF},
        {"dot LF at start", S(".\n.\r\n"), S(""), ALL, ELF},
        {"dot CR at start", S(".\r.\r\n"), S(""), ALL, ECR},
        {"dot CR CR LF", S(".\r\r\n.\r\n"), S(""), 7, ECR},
        {"NUL between CR and LF", S("a\r\0\n.\r\n"), S("a"), ALL, ELF | ECR},
        {"pipelined smuggle", S("a\r\n.\nQUIT\r\nMAIL FROM:<x@y.z>\r\n.\r\nNOOP\r\n"), S("a\r\n"),
                sizeof("a\r\n.\nQUIT\r\nMAIL FROM:<x@y.z>\r\n.\r\n") - 1, ELF},
};

Test(smtp_data, samples_every_split)
{
	size_t i;

	for (i = 0; i < NCASES(data_cases); i++) {
		const struct data_case *c = &data_cases[i];
		struct result r;

		feed_every_way(c->in, c->len, SMTP_DATA_DOT, NULL, &r);
		cr_expect_eq(r.out.len, c->out_len, "%s: output %zu octets, want %zu", c->name,
		        r.out.len, c->out_len);
		cr_expect(r.out.len == c->out_len &&
		                memcmp(str_cstr(&r.out), c->out, c->out_len) == 0,
		        "%s: output", c->name);
		if (c->consumed == ALL) {
			cr_expect_eq(r.consumed, c->len, "%s", c->name);
			cr_expect_eq(r.done, 0, "%s: ended", c->name);
		} else {
			cr_expect_eq(r.consumed, c->consumed, "%s: consumed %zu, want %zu", c->name,
			        r.consumed, c->consumed);
			cr_expect_eq(r.done, 1, "%s: not ended", c->name);
		}
		cr_expect_eq(r.errors, c->errors, "%s: errors %#x, want %#x", c->name, r.errors,
		        c->errors);
		str_free(&r.out);
	}
}

/* The end is never found where a bare CR or LF stands in for a CRLF. */
Test(smtp_data, smuggling_never_ends)
{
	static const char *const fake_ends[] = {
	        "\n.\n",
	        "\n.\r\n",
	        "\r.\r",
	        "\r.\r\n",
	        "\r\n.\n",
	        "\r\n.\r",
	        "\n.\r",
	        "\r.\n",
	        "\r\n.\r\r\n",
	        "\r\r\n.\n",
	        "\n\n.\n\n",
	        "\r\n\x00.\r\n",
	};
	size_t i;

	for (i = 0; i < NCASES(fake_ends); i++) {
		struct str in = STR_INIT;
		struct result r;
		size_t fake_len = i == NCASES(fake_ends) - 1 ? 6 : strlen(fake_ends[i]);

		str_setz(&in, "Subject: test\r\n\r\nbody");
		str_append(&in, fake_ends[i], fake_len);
		str_appendz(&in, "MAIL FROM:<smuggled@x.y>\r\nRCPT TO:<v@x.y>\r\nDATA\r\nx");
		/* without the real end: the whole input is data */
		feed_every_way(in.data, in.len, SMTP_DATA_DOT, NULL, &r);
		cr_expect_eq(r.done, 0, "fake end %zu taken as end", i);
		cr_expect_eq(r.consumed, in.len);
		str_free(&r.out);
		/* with it: the end is the real one */
		str_appendz(&in, "\r\n.\r\nQUIT\r\n");
		feed_every_way(in.data, in.len, SMTP_DATA_DOT, NULL, &r);
		cr_expect_eq(r.done, 1, "fake end %zu", i);
		cr_expect_eq(r.consumed, in.len - 6, "fake end %zu", i);
		if (i != NCASES(fake_ends) - 1)
			cr_expect_neq(r.errors & (ELF | ECR), 0, "fake end %zu: no error", i);
		str_free(&r.out);
		str_free(&in);
	}
}

Test(smtp_data, size_limit)
{
	struct smtp_data_limits lim = {.message_size = 12};
	struct smtp_reply reply;
	struct smtp_data d;
	struct result r;
	struct str big = STR_INIT, out = STR_INIT;
	size_t i, n;

	/* exactly at the limit: 12 octets with the CRLF */
	feed_every_way(S("0123456789\r\n.\r\nQUIT\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, 0);
	cr_expect_eq(r.bytes, 12);
	cr_expect_eq(r.consumed, 15);
	str_free(&r.out);
	/* one past: read on to the end, store no more */
	feed_every_way(S("01234567890\r\n.\r\nQUIT\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, SMTP_DATA_ERR_SIZE);
	cr_expect_eq(r.bytes, 13);
	cr_expect_eq(r.done, 1);
	cr_expect_eq(r.consumed, 16);
	cr_expect_leq(r.out.len, 12);
	str_free(&r.out);
	/* the dots removed by unstuffing do not count */
	feed_every_way(S("..........\r\n.\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, 0);
	cr_expect_eq(r.bytes, 11);
	str_free(&r.out);

	/* a megabyte over a 1000-octet limit: memory stays small, the end is found */
	for (i = 0; i < 16384; i++)
		str_appendz(
		        &big, "0123456789012345678901234567890123456789012345678901234567890\r\n");
	str_appendz(&big, ".\r\nRSET\r\n");
	lim.message_size = 1000;
	smtp_data_init(&d, SMTP_DATA_DOT, &lim);
	n = 0;
	for (i = 0; i < big.len && !d.done; i += 4096)
		n += smtp_data_feed(
		        &d, big.data + i, big.len - i < 4096 ? big.len - i : 4096, &out);
	cr_expect_eq(d.done, 1);
	cr_expect_eq(n, big.len - 6);
	cr_expect_eq(d.bytes, 16384ULL * 63);
	cr_expect_leq(out.len, 1000);
	cr_expect_eq(d.errors, SMTP_DATA_ERR_SIZE);
	cr_expect_eq(smtp_data_reply(&d, &reply), -1);
	cr_expect_eq(reply.code, 552);
	cr_expect_str_eq(reply.dsn, "5.3.4");
	str_free(&big);
	str_free(&out);
}

struct header_case {
	const char *name;
	const char *in;
	size_t len;
	unsigned long long header_bytes;
	unsigned long header_count;
	unsigned long received;
};

static const struct header_case header_cases[] = {
        {"two Received", S("Received: a\r\nReceived: b\r\nSubject: c\r\n\r\nReceived: no\r\n.\r\n"),
                38, 3, 2},
        {"continuation", S("Received: a\r\n\tfrom b\r\nX: y\r\n\r\nbody\r\n.\r\n"), 28, 2, 1},
        {"space continuation", S("Received: a\r\n  b\r\n c\r\n\r\n.\r\n"), 22, 1, 1},
        {"case", S("RECEIVED: a\r\nreceived: b\r\nReCeIvEd: c\r\n\r\n.\r\n"), 39, 3, 3},
        {"blank before colon", S("Received : a\r\nReceived\t: b\r\n\r\n.\r\n"), 28, 2, 2},
        {"not Received",
                S("Received-SPF: pass\r\nReceive: x\r\nXReceived: y\r\nReceivedX: z\r\n\r\n.\r\n"),
                60, 4, 0},
        {"colon first", S(":x\r\nReceived: a\r\n\r\n.\r\n"), 0, 0, 0},
        {"no colon ends the header", S("Subject: a\r\nthis is body\r\nReceived: x\r\n\r\n.\r\n"),
                12, 1, 0},
        {"name without colon", S("Received\r\nReceived: x\r\n.\r\n"), 0, 0, 0},
        {"space first", S(" x\r\nReceived: y\r\n\r\n.\r\n"), 0, 0, 0},
        {"empty first", S("\r\nReceived: x\r\n.\r\n"), 0, 0, 0},
        {"stuffed name", S("..Received: x\r\n\r\n.\r\n"), 14, 1, 0},
        {"no body", S("A: b\r\n.\r\n"), 6, 1, 0},
        {"empty value", S("A:\r\nB:\r\n\r\n.\r\n"), 8, 2, 0},
        {"8-bit name ends", S("A: b\r\n\xc3\xbc: c\r\n\r\n.\r\n"), 6, 1, 0},
        {"long name", S("X-Very-Long-Header-Name-For-Testing: v\r\n\r\n.\r\n"), 40, 1, 0},
        {"no header", S(".\r\n"), 0, 0, 0},
};

Test(smtp_data, header_counts)
{
	size_t i;

	for (i = 0; i < NCASES(header_cases); i++) {
		const struct header_case *c = &header_cases[i];
		struct result r;

		feed_every_way(c->in, c->len, SMTP_DATA_DOT, NULL, &r);
		cr_expect_eq(r.done, 1, "%s", c->name);
		cr_expect_eq(r.errors, 0, "%s", c->name);
		cr_expect_eq(r.header_bytes, c->header_bytes, "%s: header bytes %llu, want %llu",
		        c->name, r.header_bytes, c->header_bytes);
		cr_expect_eq(
		        r.header_count, c->header_count, "%s: count %lu", c->name, r.header_count);
		cr_expect_eq(r.received_count, c->received, "%s: received %lu", c->name,
		        r.received_count);
		str_free(&r.out);
	}
}

/* Build a message with n Received: headers. */
static void
received_message(struct str *s, unsigned long n)
{
	unsigned long i;

	str_reset(s);
	for (i = 0; i < n; i++)
		str_printf(s, "Received: from hop%lu by hop%lu\r\n", i, i + 1);
	str_appendz(s, "Subject: loop\r\n\r\nbody\r\n.\r\n");
}

Test(smtp_data, header_limits)
{
	struct smtp_data_limits lim = {0};
	struct smtp_reply reply;
	struct smtp_data d;
	struct str s = STR_INIT, out = STR_INIT;
	struct result r;
	size_t i;

	/* hop count: at the limit passes, one more fails */
	lim.hop_count = 5;
	received_message(&s, 5);
	feed_split(s.data, s.len, SMTP_DATA_DOT, &lim, NULL, 0, &r);
	cr_expect_eq(r.errors, 0);
	cr_expect_eq(r.received_count, 5);
	str_free(&r.out);
	received_message(&s, 6);
	feed_every_way(s.data, s.len, SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, SMTP_DATA_ERR_HOPS);
	cr_expect_eq(r.received_count, 6);
	cr_expect_eq(r.done, 1);
	str_free(&r.out);
	/* the default limit of the specification: 100 */
	lim.hop_count = 100;
	received_message(&s, 100);
	feed_split(s.data, s.len, SMTP_DATA_DOT, &lim, NULL, 0, &r);
	cr_expect_eq(r.errors, 0);
	str_free(&r.out);
	received_message(&s, 101);
	smtp_data_init(&d, SMTP_DATA_DOT, &lim);
	cr_expect_eq(smtp_data_feed(&d, s.data, s.len, &out), s.len);
	cr_expect_eq(smtp_data_reply(&d, &reply), -1);
	cr_expect_eq(reply.code, 554);
	cr_expect_str_eq(reply.dsn, "5.4.6");
	lim.hop_count = 0;

	/* header count */
	lim.header_count = 3;
	feed_every_way(S("A: 1\r\nB: 2\r\nC: 3\r\n\r\n.\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, 0);
	str_free(&r.out);
	feed_every_way(S("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n.\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, SMTP_DATA_ERR_HEADER_COUNT);
	str_free(&r.out);
	/* continuation lines are not fields */
	feed_every_way(S("A: 1\r\n 2\r\n 3\r\n 4\r\n\r\n.\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, 0);
	str_free(&r.out);
	lim.header_count = 0;

	/* header size: the header lines with their CRLFs */
	lim.header_size = 12;
	feed_every_way(S("A: b\r\nC: d\r\n\r\nlong body line\r\n.\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, 0);
	cr_expect_eq(r.header_bytes, 12);
	str_free(&r.out);
	feed_every_way(S("A: b\r\nC: de\r\n\r\n.\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, SMTP_DATA_ERR_HEADER_SIZE);
	str_free(&r.out);
	feed_every_way(S("A: b\r\n  continued\r\n\r\n.\r\n"), SMTP_DATA_DOT, &lim, &r);
	cr_expect_eq(r.errors, SMTP_DATA_ERR_HEADER_SIZE);
	str_free(&r.out);

	/* one endless header line: refused while it streams, not at its end */
	lim.header_size = 1000;
	smtp_data_init(&d, SMTP_DATA_DOT, &lim);
	str_reset(&out);
	smtp_data_feed(&d, "Subject: ", 9, &out);
	for (i = 0; i < 200; i++)
		smtp_data_feed(&d, "xxxxxxxxxx", 10, &out);
	cr_expect_eq(d.errors, SMTP_DATA_ERR_HEADER_SIZE);
	cr_expect_leq(out.len, 1000);
	cr_expect_eq(smtp_data_feed(&d, "\r\n\r\n.\r\n", 7, &out), 7);
	cr_expect_eq(d.done, 1);
	cr_expect_eq(smtp_data_reply(&d, &reply), -1);
	cr_expect_eq(reply.code, 552);
	str_free(&s);
	str_free(&out);
}

Test(smtp_data, replies_by_priority)
{
	static const struct {
		unsigned errors;
		int code;
		const char *dsn;
	} cases[] = {
	        {0, 250, "2.0.0"},
	        {SMTP_DATA_ERR_BARE_LF, 554, "5.5.2"},
	        {SMTP_DATA_ERR_BARE_CR, 554, "5.5.2"},
	        {SMTP_DATA_ERR_SIZE, 552, "5.3.4"},
	        {SMTP_DATA_ERR_HEADER_SIZE, 552, "5.3.4"},
	        {SMTP_DATA_ERR_HEADER_COUNT, 552, "5.3.4"},
	        {SMTP_DATA_ERR_HOPS, 554, "5.4.6"},
	        {SMTP_DATA_ERR_HOPS | SMTP_DATA_ERR_SIZE, 552, "5.3.4"},
	        {SMTP_DATA_ERR_SIZE | SMTP_DATA_ERR_BARE_CR, 554, "5.5.2"},
	};
	struct smtp_data d;
	struct smtp_reply r;
	struct str out = STR_INIT;
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		smtp_data_init(&d, SMTP_DATA_DOT, NULL);
		d.errors = cases[i].errors;
		cr_expect_eq(smtp_data_reply(&d, &r), cases[i].errors ? -1 : 0);
		cr_expect_eq(r.code, cases[i].code, "errors %#x", cases[i].errors);
		cr_expect_str_eq(r.dsn, cases[i].dsn, "errors %#x", cases[i].errors);
	}
	smtp_data_init(&d, SMTP_DATA_DOT, NULL);
	smtp_data_feed(&d, "a\n.\r\n.\r\n", 8, &out);
	smtp_data_reply(&d, &r);
	str_reset(&out);
	smtp_reply_format(&r, &out);
	cr_expect_str_eq(out.data, "554 5.5.2 Error: bare <LF> received in message data\r\n");
	str_free(&out);
}

Test(smtp_data, bdat_text)
{
	static const struct {
		const char *name;
		const char *in;
		size_t len;
		unsigned errors;
	} cases[] = {
	        {"plain", S("Subject: x\r\n\r\nbody\r\n"), 0},
	        {"dots are content", S("a\r\n.\r\n..\r\nb\r\n"), 0},
	        {"no final CRLF", S("a\r\nb"), 0},
	        {"bare LF", S("a\nb\r\n"), ELF},
	        {"bare CR", S("a\rb\r\n"), ECR},
	        {"CR at the very end", S("a\r"), ECR},
	        {"LF at the start", S("\nb"), ELF},
	        {"empty", S(""), 0},
	};
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		struct result r;

		feed_every_way(cases[i].in, cases[i].len, SMTP_DATA_BDAT, NULL, &r);
		cr_expect_eq(r.done, 1, "%s", cases[i].name);
		cr_expect_eq(r.consumed, cases[i].len, "%s", cases[i].name);
		cr_expect_eq(r.errors, cases[i].errors, "%s: %#x", cases[i].name, r.errors);
		if (cases[i].errors == 0) {
			cr_expect_eq(r.out.len, cases[i].len, "%s", cases[i].name);
			cr_expect(memcmp(r.out.data ? r.out.data : "", cases[i].in, cases[i].len) ==
			                0,
			        "%s", cases[i].name);
		}
		str_free(&r.out);
		/* a binary body carries every octet as it is */
		feed_every_way(cases[i].in, cases[i].len, SMTP_DATA_BDAT_BINARY, NULL, &r);
		cr_expect_eq(r.errors, 0, "%s (binary)", cases[i].name);
		cr_expect_eq(r.out.len, cases[i].len, "%s (binary)", cases[i].name);
		cr_expect(memcmp(r.out.data ? r.out.data : "", cases[i].in, cases[i].len) == 0,
		        "%s (binary)", cases[i].name);
		str_free(&r.out);
	}
}

/* A CR at the end of one chunk and its LF at the start of the next is a CRLF. */
Test(smtp_data, bdat_chunks)
{
	struct smtp_data d;
	struct str out = STR_INIT;
	struct smtp_data_limits lim = {.message_size = 100, .hop_count = 1};

	smtp_data_init(&d, SMTP_DATA_BDAT, &lim);
	cr_expect_eq(smtp_data_feed(&d, "Received: a\r", 12, &out), 12);
	cr_expect_eq(smtp_data_feed(&d, "\nSubject: b\r\n\r", 14, &out), 14);
	cr_expect_eq(smtp_data_feed(&d, "", 0, &out), 0);
	cr_expect_eq(smtp_data_feed(&d, "\nbody", 5, &out), 5);
	cr_expect_eq(d.done, 0);
	smtp_data_finish(&d, &out);
	cr_expect_eq(d.done, 1);
	cr_expect_eq(d.errors, 0);
	cr_expect_eq(d.header_count, 2);
	cr_expect_eq(d.received_count, 1);
	cr_expect_str_eq(str_cstr(&out), "Received: a\r\nSubject: b\r\n\r\nbody");
	/* finished is finished */
	cr_expect_eq(smtp_data_feed(&d, "more", 4, &out), 0);
	smtp_data_finish(&d, &out);
	cr_expect_eq(out.len, 31);
	str_free(&out);
}

struct stuff_case {
	const char *in;
	size_t len;
	const char *out;
	size_t out_len;
	unsigned long repaired;
};

static const struct stuff_case stuff_cases[] = {
        {S(""), S(".\r\n"), 0},
        {S("a"), S("a\r\n.\r\n"), 0},
        {S("a\r\n"), S("a\r\n.\r\n"), 0},
        {S(".a\r\n"), S("..a\r\n.\r\n"), 0},
        {S("."), S("..\r\n.\r\n"), 0},
        {S("a\r\n.\r\n"), S("a\r\n..\r\n.\r\n"), 0},
        {S("a\r\n..\r\nb"), S("a\r\n...\r\nb\r\n.\r\n"), 0},
        {S("a.b\r\n"), S("a.b\r\n.\r\n"), 0},
        {S("a\n.b\n"), S("a\r\n..b\r\n.\r\n"), 2},
        {S("a\rb"), S("a\r\nb\r\n.\r\n"), 1},
        {S("a\r"), S("a\r\n.\r\n"), 1},
        {S("a\r\r\n"), S("a\r\n\r\n.\r\n"), 1},
        {S("\n.\n"), S("\r\n..\r\n.\r\n"), 2},
        {S("\r.\r"), S("\r\n..\r\n.\r\n"), 2},
        {S("\n\r"), S("\r\n\r\n.\r\n"), 2},
        {S("a\0b"), S("a\0b\r\n.\r\n"), 0},
};

static void
stuff_split(
        const char *in, size_t len, int dot, size_t cut, struct str *out, unsigned long *repaired)
{
	struct smtp_data_stuffer st;

	smtp_data_stuff_init(&st, dot);
	str_reset(out);
	smtp_data_stuff(&st, in, cut, out);
	smtp_data_stuff(&st, in + cut, len - cut, out);
	smtp_data_stuff_end(&st, out);
	*repaired = st.repaired;
}

Test(smtp_data, stuff_table)
{
	struct str out = STR_INIT;
	unsigned long repaired;
	size_t i, cut, j;

	for (i = 0; i < NCASES(stuff_cases); i++) {
		const struct stuff_case *c = &stuff_cases[i];

		for (cut = 0; cut <= c->len; cut++) {
			stuff_split(c->in, c->len, 1, cut, &out, &repaired);
			cr_expect(
			        out.len == c->out_len && memcmp(out.data, c->out, c->out_len) == 0,
			        "case %zu cut %zu", i, cut);
			cr_expect_eq(repaired, c->repaired, "case %zu cut %zu", i, cut);
			/* never a bare CR or LF */
			for (j = 0; j < out.len; j++) {
				if (out.data[j] == '\r')
					cr_assert(j + 1 < out.len && out.data[j + 1] == '\n');
				if (out.data[j] == '\n')
					cr_assert(j > 0 && out.data[j - 1] == '\r');
			}
		}
	}
	/* BDAT: the same line ends, no stuffing, no final dot */
	stuff_split(S(".a\nb"), 0, 2, &out, &repaired);
	cr_expect_str_eq(str_cstr(&out), ".a\r\nb\r\n");
	cr_expect_eq(repaired, 1);
	str_free(&out);
}

static unsigned
next_random(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

/*
 * Whatever the client side stuffs, the server side takes back exactly:
 * random content full of CRs, LFs and dots, stuffed, then fed to the
 * receiver in random pieces, gives the content with CRLF line ends, the
 * right end, and no error.
 */
Test(smtp_data, stuff_then_receive)
{
	static const char alphabet[] = "..\r\n\r\nab.\r\n\0x";
	unsigned seed = 4242;
	int round;

	for (round = 0; round < 2000; round++) {
		struct smtp_data_stuffer st;
		struct smtp_data d;
		struct str content = STR_INIT, wire = STR_INIT, lines = STR_INIT, got = STR_INIT;
		size_t len = next_random(&seed) % 300, i, taken = 0;

		for (i = 0; i < len; i++)
			str_appendc(
			        &content, alphabet[next_random(&seed) % (sizeof(alphabet) - 1)]);
		smtp_data_stuff_init(&st, 1);
		smtp_data_stuff(&st, content.data, content.len, &wire);
		smtp_data_stuff_end(&st, &wire);
		smtp_data_stuff_init(&st, 0);
		smtp_data_stuff(&st, content.data, content.len, &lines);
		smtp_data_stuff_end(&st, &lines);
		str_appendz(&wire, "QUIT\r\n");

		smtp_data_init(&d, SMTP_DATA_DOT, NULL);
		while (taken < wire.len && !d.done) {
			size_t n = 1 + next_random(&seed) % 17;

			if (n > wire.len - taken)
				n = wire.len - taken;
			taken += smtp_data_feed(&d, wire.data + taken, n, &got);
		}
		cr_assert_eq(d.done, 1, "round %d", round);
		cr_assert_eq(d.errors, 0, "round %d", round);
		cr_assert_eq(taken, wire.len - 6, "round %d", round);
		cr_assert_eq(got.len, lines.len, "round %d", round);
		cr_assert(got.len == 0 || memcmp(got.data, lines.data, got.len) == 0, "round %d",
		        round);
		str_free(&content);
		str_free(&wire);
		str_free(&lines);
		str_free(&got);
	}
}

/* Random octets, random pieces: the same result as one piece, and never a crash. */
Test(smtp_data, random_streams_split_invariant)
{
	static const char alphabet[] = "\r\n.\r\nab\r\n.";
	unsigned seed = 99;
	int round;

	for (round = 0; round < 3000; round++) {
		struct str in = STR_INIT;
		struct result whole, pieces;
		size_t len = next_random(&seed) % 120, i, cuts[8], ncuts = 0;
		struct smtp_data_limits lim = {
		        .message_size = 60, .header_size = 20, .header_count = 3, .hop_count = 1};

		for (i = 0; i < len; i++)
			str_appendc(&in,
			        (round & 1) ? (char)next_random(&seed)
			                    : alphabet[next_random(&seed) % 10]);
		for (i = 0; i < 8 && len > 0; i++) {
			size_t c = next_random(&seed) % (len + 1);

			if (ncuts == 0 || c >= cuts[ncuts - 1])
				cuts[ncuts++] = c;
		}
		feed_split(in.data ? in.data : "", len,
		        round % 3 == 2 ? SMTP_DATA_BDAT : SMTP_DATA_DOT, &lim, NULL, 0, &whole);
		feed_split(in.data ? in.data : "", len,
		        round % 3 == 2 ? SMTP_DATA_BDAT : SMTP_DATA_DOT, &lim, cuts, ncuts,
		        &pieces);
		same_result(&whole, &pieces, "random");
		str_free(&whole.out);
		str_free(&pieces.out);
		str_free(&in);
	}
}
