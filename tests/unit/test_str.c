/*
 * test_str.c - growing strings and typed value parsing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "parse.h"
#include "str.h"

Test(str, append_and_printf)
{
	struct str s = STR_INIT;

	cr_assert_str_eq(str_cstr(&s), "");
	str_appendz(&s, "abc");
	str_append(&s, "\0d", 2);
	cr_assert_eq(s.len, 5);
	cr_assert(str_has_nul(&s));
	str_reset(&s);
	for (int i = 0; i < 1000; i++)
		str_printf(&s, "%d,", i);
	cr_assert(s.len > 3000);
	cr_assert_eq(s.data[s.len], '\0');
	str_consume(&s, 2);
	cr_assert(strncmp(s.data, "1,2,", 4) == 0);
	str_truncate(&s, 3);
	cr_assert_str_eq(s.data, "1,2");
	cr_assert(str_eq(&s, "1,2"));
	str_setz(&s, "MiXeD");
	str_lower(&s);
	cr_assert_str_eq(s.data, "mixed");
	str_free(&s);
}

Test(parse, durations)
{
	long long v;
	const char *why;

	cr_assert_eq(parse_duration("10m", 's', &v, &why), 0);
	cr_assert_eq(v, 600);
	cr_assert_eq(parse_duration("2d", 's', &v, &why), 0);
	cr_assert_eq(v, 172800);
	cr_assert_eq(parse_duration("300", 's', &v, &why), 0);
	cr_assert_eq(v, 300);
	cr_assert_eq(parse_duration("5", 'd', &v, &why), 0);
	cr_assert_eq(v, 432000);
	cr_assert_eq(parse_duration("1w", 's', &v, &why), 0);
	cr_assert_eq(v, 604800);
	cr_assert_eq(parse_duration("", 's', &v, &why), -1);
	cr_assert_eq(parse_duration("10x", 's', &v, &why), -1);
	cr_assert_eq(parse_duration("10mm", 's', &v, &why), -1);
	cr_assert_eq(parse_duration("-1s", 's', &v, &why), -1);
	cr_assert_eq(parse_duration("99999999999999999999", 's', &v, &why), -1);
	cr_assert_eq(parse_duration("9999999999999999w", 's', &v, &why), -1);
}

Test(parse, sizes_bools_ints)
{
	long long v;
	int b;
	const char *why;

	cr_assert_eq(parse_size("10240000", &v, &why), 0);
	cr_assert_eq(v, 10240000);
	cr_assert_eq(parse_size("100m", &v, &why), 0);
	cr_assert_eq(v, 100LL * 1024 * 1024);
	cr_assert_eq(parse_size("1k", &v, &why), 0);
	cr_assert_eq(v, 1024);
	cr_assert_eq(parse_size("1 k", &v, &why), -1);
	cr_assert_eq(parse_size("1t", &v, &why), -1);
	cr_assert_eq(parse_bool("Yes", &b, &why), 0);
	cr_assert_eq(b, 1);
	cr_assert_eq(parse_bool("off", &b, &why), 0);
	cr_assert_eq(b, 0);
	cr_assert_eq(parse_bool("maybe", &b, &why), -1);
	cr_assert_eq(parse_int("-5", -10, 10, &v, &why), 0);
	cr_assert_eq(v, -5);
	cr_assert_eq(parse_int("11", -10, 10, &v, &why), -1);
	cr_assert_eq(parse_int("1a", 0, 10, &v, &why), -1);
}

Test(parse, format_duration)
{
	char buf[32];

	format_duration(172800, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2d");
	format_duration(600, buf, sizeof(buf));
	cr_assert_str_eq(buf, "10m");
	format_duration(61, buf, sizeof(buf));
	cr_assert_str_eq(buf, "61s");
}
