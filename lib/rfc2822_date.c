/*
 * rfc2822_date.c - header dates; see rfc2822_date.h.
 *
 * Trusts the C library's idea of local time; writes the names itself so
 * that no locale changes a header.  Called by cleanup (Received:, Date:)
 * and by whoever writes a header date.
 */
#include <stdlib.h>
#include <string.h>

#include "rfc2822_date.h"

#define ZONE_NAME_MAX 16 /* a longer zone abbreviation is left out */

static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const month_names[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void
rfc2822_date_init(void)
{
	struct tm tm;
	time_t now = time(NULL);

	tzset();
	(void)localtime_r(&now, &tm); /* loads the zone file */
}

static int
zone_name_ok(const char *z)
{
	size_t n = 0;

	if (z == NULL)
		return 0;
	for (; z[n]; n++)
		if (!((z[n] >= 'A' && z[n] <= 'Z') || (z[n] >= 'a' && z[n] <= 'z')))
			return 0;
	return n > 0 && n <= ZONE_NAME_MAX;
}

void
rfc2822_date(time_t when, struct str *out)
{
	struct tm tm;
	long off, hours, minutes;
	char sign = '+';

	if (localtime_r(&when, &tm) == NULL) {
		when = 0;
		gmtime_r(&when, &tm);
		tm.tm_gmtoff = 0;
		tm.tm_zone = "UTC";
	}
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	hours = off / 60;
	minutes = off % 60;
	str_printf(out, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", day_names[tm.tm_wday % 7],
	        tm.tm_mday, month_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	        tm.tm_sec, sign, hours % 100, minutes);
	if (zone_name_ok(tm.tm_zone))
		str_printf(out, " (%s)", tm.tm_zone);
}
