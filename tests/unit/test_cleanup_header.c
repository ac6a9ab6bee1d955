/*
 * test_cleanup_header.c - lib/header.c: recognising header fields and
 * continuations, reading unfolded values, folding new fields within the
 * line limits of RFC 5322.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "header.h"

static size_t
name_len(const char *line)
{
	return header_field_name(line, strlen(line));
}

Test(header, field_names)
{
	cr_assert_eq(name_len("Subject: hi"), 7);
	cr_assert_eq(name_len("Subject:"), 7);
	cr_assert_eq(name_len("X-Foo-Bar:x"), 9);
	cr_assert_eq(name_len("Subject \t: obsolete blanks"), 7);
	cr_assert_eq(name_len("Received: from x"), 8);
	/* not header fields */
	cr_assert_eq(name_len(""), 0);
	cr_assert_eq(name_len(": no name"), 0);
	cr_assert_eq(name_len("no colon here"), 0);
	cr_assert_eq(name_len("two words: x"), 0);
	cr_assert_eq(name_len(" Subject: continuation"), 0);
	cr_assert_eq(name_len("From someone Mon Jan  1"), 0);
	cr_assert_eq(name_len("Sub\x01ject: x"), 0);
	cr_assert_eq(name_len("Sub\xc3\xa9: x"), 0);
	/* the colon must be within the buffer given */
	cr_assert_eq(header_field_name("Subject: x", 7), 0);
	cr_assert_eq(header_field_name("Subject: x", 8), 7);
}

Test(header, long_names_are_not_fields)
{
	char line[HEADER_NAME_MAX + 8];

	memset(line, 'x', HEADER_NAME_MAX);
	strcpy(line + HEADER_NAME_MAX, ": v");
	cr_assert_eq(name_len(line), 0);
	line[HEADER_NAME_MAX - 1] = ':';
	cr_assert_eq(header_field_name(line, HEADER_NAME_MAX), HEADER_NAME_MAX - 1);
}

Test(header, continuation)
{
	cr_assert(header_is_continuation(" x", 2));
	cr_assert(header_is_continuation("\tx", 2));
	cr_assert_not(header_is_continuation("x", 1));
	cr_assert_not(header_is_continuation("", 0));
}

Test(header, field_is)
{
	const char *f = "return-PATH: <a@b>";

	cr_assert(header_field_is(f, strlen(f), "Return-Path"));
	cr_assert_not(header_field_is(f, strlen(f), "Return-Pat"));
	cr_assert_not(header_field_is(f, strlen(f), "Return-Paths"));
	cr_assert_not(header_field_is("body line", 9, "body"));
}

static void
value_is(const char *field, const char *want)
{
	struct str v = STR_INIT;

	header_field_value(field, strlen(field), &v);
	cr_assert_str_eq(str_cstr(&v), want, "value of [%s]", field);
	str_free(&v);
}

Test(header, values_unfolded)
{
	value_is("Subject: hello", "hello");
	value_is("Subject:hello  ", "hello");
	value_is("Subject:  \t", "");
	value_is("To: a@b,\n\tc@d", "a@b,\tc@d");
	value_is("To: a@b,\r\n c@d\n  e@f", "a@b, c@d  e@f");
	value_is("Subject : obsolete", "obsolete");
	value_is("Message-ID: \n <x@y>", "<x@y>");
	value_is("not a field", "");
}

Test(header, fold_short_stays_one_line)
{
	struct str out = STR_INIT;

	cr_assert_eq(header_fold(&out, "Subject", "a short one"), 0);
	cr_assert_str_eq(str_cstr(&out), "Subject: a short one\n");
	str_free(&out);
}

Test(header, fold_long_value_at_blanks)
{
	struct str out = STR_INIT, value = STR_INIT, back = STR_INIT;
	const char *line, *nl;

	for (int i = 0; i < 60; i++)
		str_printf(&value, "%sword%d", i ? " " : "", i);
	cr_assert_eq(header_fold(&out, "X-Long", str_cstr(&value)), 0);
	/* every line within the soft limit, continuation lines start with a tab */
	line = str_cstr(&out);
	for (int n = 0; *line; n++, line = nl + 1) {
		nl = strchr(line, '\n');
		cr_assert_not_null(nl);
		cr_assert_leq((size_t)(nl - line), HEADER_LINE_SOFT);
		if (n > 0)
			cr_assert_eq(line[0], '\t');
	}
	/* unfolding gives the words back, a tab where a fold was */
	header_field_value(out.data, out.len - 1, &back);
	for (size_t i = 0; i < back.len; i++)
		if (back.data[i] == '\t')
			back.data[i] = ' ';
	cr_assert_str_eq(str_cstr(&back), str_cstr(&value));
	str_free(&out);
	str_free(&value);
	str_free(&back);
}

Test(header, fold_long_word_kept_whole_up_to_the_hard_limit)
{
	struct str out = STR_INIT, word = STR_INIT;
	char value[2 * HEADER_LINE_MAX];

	for (int i = 0; i < 200; i++)
		str_appendc(&word, 'w');
	snprintf(value, sizeof(value), "short %s end", str_cstr(&word));
	cr_assert_eq(header_fold(&out, "X", value), 0);
	cr_assert(strstr(str_cstr(&out), "\n\twwww") != NULL);
	str_reset(&out);

	/* a word that cannot fit in 998 octets: refused, nothing appended */
	str_reset(&word);
	for (int i = 0; i < HEADER_LINE_MAX; i++)
		str_appendc(&word, 'w');
	str_setz(&out, "keep");
	cr_assert_eq(header_fold(&out, "X", str_cstr(&word)), -1);
	cr_assert_str_eq(str_cstr(&out), "keep");
	/* exactly at the limit with the tab: fits */
	str_truncate(&word, HEADER_LINE_MAX - 1);
	snprintf(value, sizeof(value), "a %s", str_cstr(&word));
	cr_assert_eq(header_fold(&out, "X", value), 0);
	str_free(&out);
	str_free(&word);
}

Test(header, fold_refuses_line_ends)
{
	struct str out = STR_INIT;

	cr_assert_eq(header_fold(&out, "X", "a\nb"), -1);
	cr_assert_eq(header_fold(&out, "X", "a\rb"), -1);
	cr_assert_eq(out.len, 0);
	str_free(&out);
}

Test(header, fold_phrases_keeps_clauses_whole)
{
	struct str out = STR_INIT;
	const char *phrases[] = {"from client.example (client.example [192.0.2.7])",
	        "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)",
	        "by mx.example (Tern) with ESMTPS id 0K2QF7B1D3T0A1C4", "", "for <b@example.com>;",
	        "Tue, 3 Jun 2025 14:05:09 +0200 (CEST)"};

	cr_assert_eq(header_fold_phrases(&out, "Received", phrases, 6), 0);
	cr_assert_str_eq(str_cstr(&out),
	        "Received: from client.example (client.example [192.0.2.7])\n"
	        "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\n"
	        "\tby mx.example (Tern) with ESMTPS id 0K2QF7B1D3T0A1C4 for <b@example.com>;\n"
	        "\tTue, 3 Jun 2025 14:05:09 +0200 (CEST)\n");
	str_free(&out);
}

Test(header, fold_phrases_longer_than_a_line_fold_at_blanks)
{
	struct str out = STR_INIT, helo = STR_INIT, word = STR_INIT;
	const char *phrases[2];
	const char *line, *nl;

	for (int i = 0; i < 30; i++)
		str_printf(&helo, "%sw%d", i ? " " : "", i);
	for (int i = 0; i < 990; i++)
		str_appendc(&word, 'x');
	phrases[0] = str_cstr(&helo);
	phrases[1] = str_cstr(&word);
	cr_assert_eq(header_fold_phrases(&out, "X", phrases, 2), 0);
	for (line = str_cstr(&out); *line; line = nl + 1) {
		nl = strchr(line, '\n');
		cr_assert_leq((size_t)(nl - line), HEADER_LINE_MAX);
	}
	/* one octet more than a line can hold */
	str_appendz(&word, "xxxxxxxx");
	phrases[1] = str_cstr(&word);
	str_reset(&out);
	cr_assert_eq(header_fold_phrases(&out, "X", phrases, 2), -1);
	cr_assert_eq(out.len, 0);
	phrases[1] = "a\nb";
	cr_assert_eq(header_fold_phrases(&out, "X", phrases, 2), -1);
	str_free(&out);
	str_free(&helo);
	str_free(&word);
}
