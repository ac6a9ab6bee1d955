/*
 * test_dns_rr.c - the DNS record-data parser and its helpers, on
 * hand-made byte arrays: every type, every truncation, bad labels,
 * compression pointers, over-long names, TXT strings past the end.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <string.h>

#include "dns.h"
#include "mem.h"
#include "str.h"

#define B(s) ((const unsigned char *)(s)), (sizeof(s) - 1)

static const unsigned char mx_ok[] = "\x00\x0a\x03mx1\x07"
                                     "example\x00";
static const unsigned char ptr_ok[] = "\x04host\x07"
                                      "example\x03net\x00";
static const unsigned char txt_ok[] = "\x03"
                                      "abc\x00\x02"
                                      "de";
static const unsigned char tlsa_ok[] = "\x03\x01\x01\xab\xcd\xef";

static int
parse(int type, const unsigned char *p, size_t n, struct dns_rr *rr, const char **why)
{
	int rc;

	*why = NULL;
	rc = dns_rr_parse(type, p, n, rr, why);
	if (rc < 0)
		cr_assert_not_null(*why);
	return rc;
}

/* Every proper prefix of valid rdata must fail, without reading past it. */
static void
assert_prefixes_fail(int type, const unsigned char *full, size_t len)
{
	for (size_t n = 0; n < len; n++) {
		unsigned char *copy = xmalloc(n + 1); /* exact size, for ASan */
		struct dns_rr rr;
		const char *why;

		memcpy(copy, full, n);
		cr_assert_eq(
		        parse(type, copy, n, &rr, &why), -1, "type %d prefix %zu parsed", type, n);
		free(copy);
	}
}

Test(dns_rr, a_and_aaaa)
{
	struct dns_rr rr;
	const char *why;
	struct str s = STR_INIT;
	unsigned char v6[16];

	cr_assert_eq(parse(DNS_T_A, B("\xc0\x00\x02\x01"), &rr, &why), 0);
	dns_rr_format(&rr, &s);
	cr_assert_str_eq(str_cstr(&s), "192.0.2.1");
	dns_rr_clear(&rr);
	cr_assert_eq(parse(DNS_T_A, B("\xc0\x00\x02"), &rr, &why), -1);
	cr_assert_eq(parse(DNS_T_A, B("\xc0\x00\x02\x01\x05"), &rr, &why), -1);
	cr_assert_eq(parse(DNS_T_A, NULL, 0, &rr, &why), -1);

	inet_pton(AF_INET6, "2001:db8::1", v6);
	cr_assert_eq(parse(DNS_T_AAAA, v6, 16, &rr, &why), 0);
	str_reset(&s);
	dns_rr_format(&rr, &s);
	cr_assert_str_eq(str_cstr(&s), "2001:db8::1");
	cr_assert_eq(parse(DNS_T_AAAA, v6, 15, &rr, &why), -1);
	cr_assert_eq(parse(DNS_T_AAAA,
	                     B("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	                       "\x00\x00\x00\x00"),
	                     &rr, &why),
	        -1);
	str_free(&s);
}

Test(dns_rr, mx)
{
	struct dns_rr rr;
	const char *why;

	cr_assert_eq(parse(DNS_T_MX, mx_ok, sizeof(mx_ok) - 1, &rr, &why), 0);
	cr_assert_eq(rr.u.mx.pref, 10);
	cr_assert_str_eq(rr.u.mx.host, "mx1.example");
	cr_assert_eq(parse(DNS_T_MX, B("\xff\xff\x00"), &rr, &why), 0);
	cr_assert_eq(rr.u.mx.pref, 65535);
	cr_assert_str_eq(rr.u.mx.host, ".");
	assert_prefixes_fail(DNS_T_MX, mx_ok, sizeof(mx_ok) - 1);
	/* trailing bytes after the host */
	cr_assert_eq(parse(DNS_T_MX,
	                     B("\x00\x0a\x01"
	                       "a\x00\x00"),
	                     &rr, &why),
	        -1);
	cr_assert_str_eq(why, "trailing bytes after name");
}

Test(dns_rr, names_ptr_cname_ns)
{
	struct dns_rr rr;
	const char *why;
	static const int types[] = {DNS_T_PTR, DNS_T_CNAME, DNS_T_NS};

	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(parse(types[i], ptr_ok, sizeof(ptr_ok) - 1, &rr, &why), 0);
		cr_assert_str_eq(rr.u.name, "host.example.net");
		assert_prefixes_fail(types[i], ptr_ok, sizeof(ptr_ok) - 1);
	}
	cr_assert_eq(parse(DNS_T_PTR, B("\x00"), &rr, &why), 0);
	cr_assert_str_eq(rr.u.name, ".");
	cr_assert_eq(parse(DNS_T_PTR, B("\x05_smtp\x01-\x00"), &rr, &why), 0);
	cr_assert_str_eq(rr.u.name, "_smtp.-");
}

Test(dns_rr, bad_labels_and_pointers)
{
	struct dns_rr rr;
	const char *why;
	unsigned char lab63[1 + 63 + 1], lab64[1 + 64 + 1];

	/* compression pointers, anywhere in the name */
	cr_assert_eq(parse(DNS_T_PTR, B("\xc0\x0c"), &rr, &why), -1);
	cr_assert_str_eq(why, "compression pointer in name");
	cr_assert_eq(parse(DNS_T_PTR,
	                     B("\x01"
	                       "a\xc0\x0c"),
	                     &rr, &why),
	        -1);
	cr_assert_str_eq(why, "compression pointer in name");
	cr_assert_eq(parse(DNS_T_MX, B("\x00\x01\xc0\x0c"), &rr, &why), -1);
	/* extended label types 0x40 and 0x80, and length 64 */
	cr_assert_eq(parse(DNS_T_PTR,
	                     B("\x40"
	                       "a\x00"),
	                     &rr, &why),
	        -1);
	cr_assert_str_eq(why, "bad label length");
	cr_assert_eq(parse(DNS_T_PTR,
	                     B("\x80"
	                       "a\x00"),
	                     &rr, &why),
	        -1);
	memset(lab63, 'a', sizeof(lab63));
	lab63[0] = 63;
	lab63[64] = 0;
	cr_assert_eq(parse(DNS_T_PTR, lab63, sizeof(lab63), &rr, &why), 0);
	cr_assert_eq(strlen(rr.u.name), 63);
	memset(lab64, 'a', sizeof(lab64));
	lab64[0] = 64;
	lab64[65] = 0;
	cr_assert_eq(parse(DNS_T_PTR, lab64, sizeof(lab64), &rr, &why), -1);
	cr_assert_str_eq(why, "bad label length");
	/* a label running past the end */
	cr_assert_eq(parse(DNS_T_PTR,
	                     B("\x05"
	                       "ab"),
	                     &rr, &why),
	        -1);
	cr_assert_str_eq(why, "label truncated");
	/* no root label */
	cr_assert_eq(parse(DNS_T_PTR,
	                     B("\x02"
	                       "ab"),
	                     &rr, &why),
	        -1);
	cr_assert_str_eq(why, "name truncated");
}

Test(dns_rr, bad_characters)
{
	static const char *bad[] = {"\x03"
	                            "a b\x00",
	        "\x03"
	        "a.b\x00",
	        "\x03"
	        "a\\b\x00",
	        "\x03"
	        "a\"b\x00",
	        "\x03"
	        "a\x7f"
	        "b\x00",
	        "\x02\xc3\xa9\x00",
	        "\x03"
	        "a\nb\x00"};
	struct dns_rr rr;
	const char *why;
	unsigned char nul[] = {3, 'a', 0, 'b', 0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse(DNS_T_PTR, (const unsigned char *)bad[i], strlen(bad[i]) + 1,
		                     &rr, &why),
		        -1, "bad name %zu accepted", i);
		cr_assert_str_eq(why, "bad character in name");
	}
	cr_assert_eq(parse(DNS_T_PTR, nul, sizeof(nul), &rr, &why), -1);
	cr_assert_str_eq(why, "bad character in name");
}

/* A wire name of total bytes made of 63-byte labels and a shorter last. */
static size_t
long_name(unsigned char *buf, size_t total)
{
	size_t pos = 0, left = total - 1; /* the root label */

	while (left > 0) {
		size_t lab = left - 1 > 63 ? 63 : left - 1;

		if (left - 1 - lab == 1) /* leave no 1-byte remainder */
			lab--;
		buf[pos++] = (unsigned char)lab;
		memset(buf + pos, 'x', lab);
		pos += lab;
		left -= 1 + lab;
	}
	buf[pos++] = 0;
	return pos;
}

Test(dns_rr, name_length_limits)
{
	unsigned char buf[300];
	struct dns_rr rr;
	const char *why;
	size_t n;

	n = long_name(buf, 255);
	cr_assert_eq(n, 255);
	cr_assert_eq(parse(DNS_T_PTR, buf, n, &rr, &why), 0);
	cr_assert_eq(strlen(rr.u.name), DNS_NAME_MAX);
	n = long_name(buf, 256);
	cr_assert_eq(n, 256);
	cr_assert_eq(parse(DNS_T_PTR, buf, n, &rr, &why), -1);
	cr_assert_str_eq(why, "name too long");
	n = long_name(buf, 290);
	cr_assert_eq(parse(DNS_T_PTR, buf, n, &rr, &why), -1);
	cr_assert_str_eq(why, "name too long");
	/* and inside an MX */
	buf[0] = 0;
	buf[1] = 5;
	n = long_name(buf + 2, 256);
	cr_assert_eq(parse(DNS_T_MX, buf, n + 2, &rr, &why), -1);
}

Test(dns_rr, txt)
{
	struct dns_rr rr;
	const char *why;
	struct str s = STR_INIT;

	cr_assert_eq(parse(DNS_T_TXT, txt_ok, sizeof(txt_ok) - 1, &rr, &why), 0);
	cr_assert_eq(rr.u.txt.len, 5);
	cr_assert_str_eq(rr.u.txt.data, "abcde");
	dns_rr_clear(&rr);
	/* every truncation of a string past its length byte */
	for (size_t n = 1; n < sizeof(txt_ok) - 1; n++) {
		unsigned char *copy = xmemdup(txt_ok, n);
		int rc = parse(DNS_T_TXT, copy, n, &rr, &why);

		/* cutting exactly after a complete string is valid TXT */
		if (n == 4 || n == 5) {
			cr_assert_eq(rc, 0, "prefix %zu", n);
			dns_rr_clear(&rr);
		} else {
			cr_assert_eq(rc, -1, "prefix %zu", n);
			cr_assert_str_eq(why, "TXT string runs past the end");
		}
		free(copy);
	}
	cr_assert_eq(parse(DNS_T_TXT, NULL, 0, &rr, &why), -1);
	cr_assert_eq(parse(DNS_T_TXT,
	                     B("\xff"
	                       "abc"),
	                     &rr, &why),
	        -1);
	cr_assert_eq(parse(DNS_T_TXT, B("\x00"), &rr, &why), 0);
	cr_assert_eq(rr.u.txt.len, 0);
	cr_assert_str_eq(rr.u.txt.data, "");
	dns_rr_clear(&rr);
	/* bytes are kept as they are, NUL included; the text form escapes */
	cr_assert_eq(parse(DNS_T_TXT,
	                     B("\x05"
	                       "a\x00\"\\\x01"),
	                     &rr, &why),
	        0);
	cr_assert_eq(rr.u.txt.len, 5);
	cr_assert(memcmp(rr.u.txt.data, "a\0\"\\\x01", 5) == 0);
	dns_rr_format(&rr, &s);
	cr_assert_str_eq(str_cstr(&s), "\"a\\000\\034\\092\\001\"");
	dns_rr_clear(&rr);
	str_free(&s);
}

Test(dns_rr, tlsa)
{
	struct dns_rr rr;
	const char *why;
	struct str s = STR_INIT;

	cr_assert_eq(parse(DNS_T_TLSA, tlsa_ok, sizeof(tlsa_ok) - 1, &rr, &why), 0);
	cr_assert_eq(rr.u.tlsa.usage, 3);
	cr_assert_eq(rr.u.tlsa.selector, 1);
	cr_assert_eq(rr.u.tlsa.mtype, 1);
	cr_assert_eq(rr.u.tlsa.len, 3);
	dns_rr_format(&rr, &s);
	cr_assert_str_eq(str_cstr(&s), "3 1 1 abcdef");
	dns_rr_clear(&rr);
	cr_assert_eq(parse(DNS_T_TLSA, tlsa_ok, 3, &rr, &why), 0);
	cr_assert_eq(rr.u.tlsa.len, 0);
	dns_rr_clear(&rr);
	assert_prefixes_fail(DNS_T_TLSA, tlsa_ok, 3);
	str_free(&s);
}

Test(dns_rr, other_types_raw)
{
	struct dns_rr rr;
	const char *why;
	struct str s = STR_INIT;

	cr_assert_eq(parse(99, B("\x01\x02\xff"), &rr, &why), 0);
	cr_assert_eq(rr.u.raw.len, 3);
	dns_rr_format(&rr, &s);
	cr_assert_str_eq(str_cstr(&s), "\\# 3 0102ff");
	dns_rr_clear(&rr);
	cr_assert_eq(parse(99, NULL, 0, &rr, &why), 0);
	cr_assert_eq(rr.u.raw.len, 0);
	dns_rr_clear(&rr);
	str_free(&s);
}

static struct dns_answer *
answer(int type)
{
	struct dns_answer *a = xcalloc(1, sizeof(*a));

	a->rrtype = type;
	a->qname = xstrdup("example");
	return a;
}

Test(dns_rr, answer_records)
{
	struct dns_answer *a = answer(DNS_T_MX);
	char *data[] = {(char *)mx_ok, (char *)"\x00\x14\x00", NULL};
	int len[] = {sizeof(mx_ok) - 1, 3};
	char *bad[] = {(char *)mx_ok, (char *)"\x00\x14", (char *)mx_ok, NULL};
	int badlen[] = {sizeof(mx_ok) - 1, 2, sizeof(mx_ok) - 1};
	char *none[] = {NULL};

	cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, data, len, 60), 0);
	cr_assert_eq(a->status, DNS_OK);
	cr_assert_eq(a->n, 2);
	cr_assert_eq(a->rr[1].ttl, 60);
	cr_assert_str_eq(a->rr[1].u.mx.host, ".");
	cr_assert_null(a->why);
	/* one bad record spoils the answer, and says which */
	cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, bad, badlen, 60), -1);
	cr_assert_eq(a->status, DNS_MALFORMED);
	cr_assert_eq(a->n, 0);
	cr_assert_null(a->rr);
	cr_assert_str_eq(a->why, "record 2: MX record truncated");
	/* a negative length */
	badlen[1] = -1;
	cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, bad, badlen, 60), -1);
	cr_assert_eq(a->status, DNS_MALFORMED);
	cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, none, len, 60), 0);
	cr_assert_eq(a->status, DNS_NODATA);
	dns_answer_free(a);
}

Test(dns_rr, null_mx)
{
	struct dns_answer *a = answer(DNS_T_MX);
	char *null[] = {(char *)"\x00\x00\x00", NULL};
	char *two[] = {(char *)"\x00\x00\x00", (char *)mx_ok, NULL};
	char *pref1[] = {(char *)"\x00\x01\x00", NULL};
	int len[] = {3, sizeof(mx_ok) - 1};

	cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, null, len, 60), 0);
	cr_assert_eq(a->status, DNS_NULLMX);
	cr_assert(dns_mx_is_null(a));
	cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, two, len, 60), 0);
	cr_assert_eq(a->status, DNS_OK);
	cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, pref1, len, 60), 0);
	cr_assert_eq(a->status, DNS_OK);
	dns_answer_free(a);
}

Test(dns_rr, mx_sort_orders_and_shuffles)
{
	static const char *rd[] = {"\x00\x14\x01"
	                           "c\x00",
	        "\x00\x0a\x01"
	        "a\x00",
	        "\x00\x0a\x01"
	        "b\x00",
	        "\x00\x05\x01"
	        "z\x00"};
	char *data[5];
	int len[4];
	int seen_ab = 0, seen_ba = 0;

	for (size_t i = 0; i < 4; i++) {
		data[i] = (char *)rd[i];
		len[i] = 5;
	}
	data[4] = NULL;
	for (int run = 0; run < 200; run++) {
		struct dns_answer *a = answer(DNS_T_MX);

		cr_assert_eq(dns_answer_set_records(a, DNS_T_MX, data, len, 1), 0);
		dns_mx_sort(a);
		cr_assert_eq(a->n, 4);
		cr_assert_str_eq(a->rr[0].u.mx.host, "z");
		cr_assert_eq(a->rr[1].u.mx.pref, 10);
		cr_assert_eq(a->rr[2].u.mx.pref, 10);
		cr_assert_str_eq(a->rr[3].u.mx.host, "c");
		if (strcmp(a->rr[1].u.mx.host, "a") == 0)
			seen_ab++;
		else
			seen_ba++;
		dns_answer_free(a);
	}
	cr_assert(seen_ab > 0 && seen_ba > 0, "ab %d ba %d", seen_ab, seen_ba);
}

Test(dns_rr, reverse_names)
{
	struct str s = STR_INIT;

	cr_assert_eq(dns_reverse_name("192.0.2.10", &s), 0);
	cr_assert_str_eq(str_cstr(&s), "10.2.0.192.in-addr.arpa");
	cr_assert_eq(dns_reverse_name("2001:db8::1", &s), 0);
	cr_assert_str_eq(str_cstr(&s),
	        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	        "8.b.d.0.1.0.0.2.ip6.arpa");
	cr_assert_eq(dns_reverse_name("example.com", &s), -1);
	cr_assert_eq(dns_reverse_name("192.0.2", &s), -1);
	cr_assert_eq(dns_reverse_name("", &s), -1);
	str_free(&s);
}

Test(dns, check_name)
{
	const char *why;
	char big[300];

	cr_assert_eq(dns_check_name("example.com", &why), 0);
	cr_assert_eq(dns_check_name("example.com.", &why), 0);
	cr_assert_eq(dns_check_name(".", &why), 0);
	cr_assert_eq(dns_check_name("_25._tcp.mx.example", &why), 0);
	cr_assert_eq(dns_check_name("", &why), -1);
	cr_assert_eq(dns_check_name("a..b", &why), -1);
	cr_assert_eq(dns_check_name(".a", &why), -1);
	cr_assert_eq(dns_check_name("a b", &why), -1);
	cr_assert_eq(dns_check_name("a\\046b", &why), -1);
	cr_assert_eq(dns_check_name("caf\xc3\xa9.example", &why), -1);
	memset(big, 'a', sizeof(big));
	big[64] = '\0';
	cr_assert_eq(dns_check_name(big, &why), -1);
	big[63] = '\0';
	cr_assert_eq(dns_check_name(big, &why), 0);
	memset(big, 'a', sizeof(big));
	for (int i = 63; i < 299; i += 64)
		big[i] = '.';
	big[254] = '\0';
	cr_assert_eq(dns_check_name(big, &why), -1);
	big[253] = '\0';
	cr_assert_eq(dns_check_name(big, &why), 0);
}

Test(dns, parse_servers)
{
	char **v;
	size_t n;
	struct str err = STR_INIT;
	static const char *bad[] = {"", " , ", "localhost", "1.2.3.4@", "1.2.3.4@0",
	        "1.2.3.4@65536", "1.2.3.4@5x", "[::1", "[::1]x", "[::1]:", "::1@-1", "1.2.3.4.5"};

	cr_assert_eq(
	        dns_parse_servers("127.0.0.1@5353, ::1 [2001:db8::1]:53,[192.0.2.1]", &v, &n, &err),
	        0, "%s", str_cstr(&err));
	cr_assert_eq(n, 4);
	cr_assert_str_eq(v[0], "127.0.0.1@5353");
	cr_assert_str_eq(v[1], "::1");
	cr_assert_str_eq(v[2], "2001:db8::1@53");
	cr_assert_str_eq(v[3], "192.0.2.1");
	cr_assert_null(v[4]);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		str_reset(&err);
		cr_assert_eq(
		        dns_parse_servers(bad[i], &v, &n, &err), -1, "accepted \"%s\"", bad[i]);
		cr_assert(err.len > 0);
	}
	str_reset(&err);
	cr_assert_eq(dns_parse_servers("1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 "
	                               "1.1.1.7 1.1.1.8 1.1.1.9 1.1.1.10 1.1.1.11 1.1.1.12 "
	                               "1.1.1.13 1.1.1.14 1.1.1.15 1.1.1.16 1.1.1.17",
	                     &v, &n, &err),
	        -1);
	str_free(&err);
}

Test(dns, type_names)
{
	cr_assert_eq(dns_type_code("mx"), DNS_T_MX);
	cr_assert_eq(dns_type_code("TLSA"), DNS_T_TLSA);
	cr_assert_eq(dns_type_code("TYPE99"), 99);
	cr_assert_eq(dns_type_code("TYPE65536"), -1);
	cr_assert_eq(dns_type_code("TYPE"), -1);
	cr_assert_eq(dns_type_code("BOGUS"), -1);
	cr_assert_str_eq(dns_type_name(DNS_T_AAAA), "AAAA");
	cr_assert_str_eq(dns_type_name(99), "TYPE99");
	cr_assert_str_eq(dns_status_name(DNS_NULLMX), "NULLMX");
}
