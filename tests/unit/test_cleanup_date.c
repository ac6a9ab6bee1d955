/*
 * test_cleanup_date.c - lib/rfc2822_date.c: header dates in several time
 * zones, with English names whatever the locale.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rfc2822_date.h"

static void
date_is(const char *tz, time_t when, const char *want)
{
	struct str out = STR_INIT;

	setenv("TZ", tz, 1);
	rfc2822_date_init();
	rfc2822_date(when, &out);
	cr_assert_str_eq(str_cstr(&out), want, "TZ=%s", tz);
	cr_assert_lt(out.len, RFC2822_DATE_MAX);
	str_free(&out);
}

Test(rfc2822_date, utc)
{
	date_is("UTC0", 0, "Thu, 1 Jan 1970 00:00:00 +0000 (UTC)");
	date_is("UTC0", 1700000000, "Tue, 14 Nov 2023 22:13:20 +0000 (UTC)");
}

Test(rfc2822_date, offsets_east_and_west)
{
	date_is("IST-5:30", 1700000000, "Wed, 15 Nov 2023 03:43:20 +0530 (IST)");
	date_is("ABC+3", 1700000000, "Tue, 14 Nov 2023 19:13:20 -0300 (ABC)");
	date_is("XYZ+9:45", 86400 * 59, "Sat, 28 Feb 1970 14:15:00 -0945 (XYZ)");
}

Test(rfc2822_date, zone_names_that_are_not_letters_are_left_out)
{
	date_is("<+04>-4", 1700000000, "Wed, 15 Nov 2023 02:13:20 +0400");
}
