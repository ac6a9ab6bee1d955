/*
 * test_cleanup_addr.c - lib/rfc5322_addr.c: address lists of To:, Cc:
 * and Bcc: as users' programs write them (display names, quoted strings,
 * comments, groups, routes), and the From: mailbox that cleanup writes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "rfc5322_addr.h"

#define LIST_MAX 100

static struct rfc5322_addr_list list;
static size_t skipped;

static size_t
parse(const char *value)
{
	rfc5322_addr_list_free(&list);
	return rfc5322_addr_parse(value, strlen(value), &list, LIST_MAX, &skipped);
}

static void
fini(void)
{
	rfc5322_addr_list_free(&list);
}

TestSuite(rfc5322_addr, .fini = fini);

static void
addr_is(size_t i, const char *addr, const char *name)
{
	cr_assert_lt(i, list.n);
	cr_assert_str_eq(str_cstr(&list.v[i].addr), addr);
	cr_assert_str_eq(str_cstr(&list.v[i].name), name);
}

Test(rfc5322_addr, plain_list)
{
	cr_assert_eq(parse("a@example.com, b@example.org,c@x"), 3);
	addr_is(0, "a@example.com", "");
	addr_is(1, "b@example.org", "");
	addr_is(2, "c@x", "");
	cr_assert_eq(skipped, 0);
}

Test(rfc5322_addr, display_names)
{
	cr_assert_eq(parse("John Doe <john@example.com>, \"Doe, Jane\" <jane@example.com>"), 2);
	addr_is(0, "john@example.com", "John Doe");
	addr_is(1, "jane@example.com", "Doe, Jane");
	cr_assert_eq(parse("John Q. Public <jqp@example.com>"), 1);
	addr_is(0, "jqp@example.com", "John Q. Public");
	cr_assert_eq(parse("<bare@example.com>"), 1);
	addr_is(0, "bare@example.com", "");
}

Test(rfc5322_addr, comments)
{
	cr_assert_eq(parse("user@example.com (Old Style Name)"), 1);
	addr_is(0, "user@example.com", "Old Style Name");
	cr_assert_eq(parse("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"), 1);
	addr_is(0, "pete@silly.test", "Pete");
	cr_assert_eq(parse("(only a comment), x@y"), 1);
	addr_is(0, "x@y", "");
	cr_assert_eq(parse("a@b (nested (comment) here)"), 1);
	addr_is(0, "a@b", "nested (comment) here");
}

Test(rfc5322_addr, quoted_local_parts_are_unquoted)
{
	cr_assert_eq(parse("\"john smith\"@example.com, \"a\\\"b\"@c"), 2);
	addr_is(0, "john smith@example.com", "");
	addr_is(1, "a\"b@c", "");
	cr_assert_eq(parse("john . doe @ example . com"), 1);
	addr_is(0, "john.doe@example.com", "");
}

Test(rfc5322_addr, groups)
{
	cr_assert_eq(parse("undisclosed-recipients:;"), 0);
	cr_assert_eq(skipped, 0);
	cr_assert_eq(
	        parse("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, x@y"), 4);
	addr_is(0, "c@a.test", "Ed Jones");
	addr_is(1, "joe@where.test", "");
	addr_is(2, "jdoe@one.test", "John");
	addr_is(3, "x@y", "");
}

Test(rfc5322_addr, routes_literals_and_unqualified)
{
	cr_assert_eq(parse("<@relay1,@relay2:user@example.com>, u@[192.0.2.1], root"), 3);
	addr_is(0, "user@example.com", "");
	addr_is(1, "u@[192.0.2.1]", "");
	addr_is(2, "root", "");
}

Test(rfc5322_addr, folded_values)
{
	cr_assert_eq(parse("a@b,\r\n\tB Name\n <b@c>"), 2);
	addr_is(1, "b@c", "B Name");
}

Test(rfc5322_addr, empty_and_bad_items_are_skipped)
{
	cr_assert_eq(parse(", ,a@b,,<>, c@d"), 2);
	addr_is(0, "a@b", "");
	addr_is(1, "c@d", "");
	cr_assert_eq(skipped, 0);
	cr_assert_eq(parse("a@b, bad;thing@x, c@d"), 2);
	cr_assert_eq(skipped, 1);
	cr_assert_eq(parse("x <a@b> trailing, c@d"), 1);
	addr_is(0, "c@d", "");
	cr_assert_eq(skipped, 1);
}

Test(rfc5322_addr, unclosed_tokens_refuse_the_value)
{
	cr_assert_eq(parse("a@b, \"unclosed@c"), 0);
	cr_assert_gt(skipped, 0);
	cr_assert_eq(parse("a@b (unclosed"), 0);
	cr_assert_eq(parse("a@[1.2.3.4"), 0);
	cr_assert_eq(parse("a@b, c\x01@d"), 0);
}

Test(rfc5322_addr, max_is_respected)
{
	struct str v = STR_INIT;
	size_t n;

	for (int i = 0; i < 150; i++)
		str_printf(&v, "%su%d@example.com", i ? "," : "", i);
	rfc5322_addr_list_free(&list);
	n = rfc5322_addr_parse(v.data, v.len, &list, 120, &skipped);
	cr_assert_eq(n, 120);
	cr_assert_eq(list.n, 120);
	cr_assert_eq(skipped, 30);
	addr_is(119, "u119@example.com", "");
	str_free(&v);
}

Test(rfc5322_addr, utf8_addresses_are_text)
{
	cr_assert_eq(parse("J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc\x63her.example>"), 1);
	addr_is(0, "j\xc3\xb6rg@b\xc3\xbc\x63her.example", "J\xc3\xb6rg");
}

static void
mailbox_is(const char *name, const char *addr, const char *want)
{
	struct str out = STR_INIT;

	rfc5322_format_mailbox(name, addr, &out);
	cr_assert_str_eq(str_cstr(&out), want);
	str_free(&out);
}

Test(rfc5322_addr, format_mailbox)
{
	mailbox_is("", "user@example.com", "user@example.com");
	mailbox_is(NULL, "user@example.com", "user@example.com");
	mailbox_is("John Doe", "john@example.com", "John Doe <john@example.com>");
	mailbox_is("Doe, John", "john@example.com", "\"Doe, John\" <john@example.com>");
	mailbox_is("say \"hi\"", "a@b", "\"say \\\"hi\\\"\" <a@b>");
	mailbox_is("J. R.", "a@b", "\"J. R.\" <a@b>");
	mailbox_is("", "john smith@example.com", "\"john smith\"@example.com");
	mailbox_is("", "root", "root");
	mailbox_is("J\xc3\xb6rg", "j@b", "=?UTF-8?B?SsO2cmc=?= <j@b>");
}

Test(rfc5322_addr, format_long_utf8_name_in_whole_characters)
{
	struct str name = STR_INIT, out = STR_INIT;
	const char *p;

	for (int i = 0; i < 40; i++)
		str_appendz(&name, "\xc3\xa9");
	rfc5322_format_mailbox(str_cstr(&name), "a@b", &out);
	/* two encoded words, each at most 75 octets */
	p = str_cstr(&out);
	cr_assert(strncmp(p, "=?UTF-8?B?", 10) == 0);
	cr_assert_not_null(strstr(p, "?= =?UTF-8?B?"));
	for (const char *w = p; (w = strstr(w, "=?UTF-8?B?")) != NULL; w++) {
		const char *e = strstr(w + 10, "?=");

		cr_assert_not_null(e);
		cr_assert_leq((size_t)(e + 2 - w), 75);
		/* 44 octets (22 characters) per word: never half a character */
		cr_assert_eq((size_t)(e - (w + 10)) % 4, 0);
	}
	cr_assert_not_null(
	        strstr(p, "?= =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOp?="));
	str_free(&name);
	str_free(&out);
}
