/*
 * parse.c - typed value parsing; see parse.h.  Input is untrusted text
 * from configuration files, command lines and the network.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

/* Parse an unsigned decimal prefix; return the count of digits used. */
static int
parse_digits(const char *s, long long *value, const char **why)
{
	long long v = 0;
	int n = 0;

	for (; isdigit((unsigned char)s[n]); n++) {
		int d = s[n] - '0';

		if (v > (LLONG_MAX - d) / 10) {
			*why = "number too large";
			return -1;
		}
		v = v * 10 + d;
	}
	if (n == 0) {
		*why = "not a number";
		return -1;
	}
	*value = v;
	return n;
}

static long long
unit_seconds(int unit)
{
	switch (unit) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	case 'w':
		return 7 * 86400;
	default:
		return 0;
	}
}

int
parse_duration(const char *s, int default_unit, long long *seconds, const char **why)
{
	long long v, mult;
	int n;

	if ((n = parse_digits(s, &v, why)) < 0)
		return -1;
	if (s[n] == '\0')
		mult = unit_seconds(default_unit);
	else if (s[n + 1] == '\0')
		mult = unit_seconds(tolower((unsigned char)s[n]));
	else
		mult = 0;
	if (mult == 0) {
		*why = "bad time unit (use s, m, h, d or w)";
		return -1;
	}
	if (v > LLONG_MAX / mult) {
		*why = "time value too large";
		return -1;
	}
	*seconds = v * mult;
	return 0;
}

int
parse_size(const char *s, long long *bytes, const char **why)
{
	long long v, mult = 1;
	int n;

	if ((n = parse_digits(s, &v, why)) < 0)
		return -1;
	if (s[n] != '\0') {
		if (s[n + 1] != '\0') {
			*why = "bad size unit (use k, m or g)";
			return -1;
		}
		switch (tolower((unsigned char)s[n])) {
		case 'k':
			mult = 1024LL;
			break;
		case 'm':
			mult = 1024LL * 1024;
			break;
		case 'g':
			mult = 1024LL * 1024 * 1024;
			break;
		default:
			*why = "bad size unit (use k, m or g)";
			return -1;
		}
	}
	if (v > LLONG_MAX / mult) {
		*why = "size too large";
		return -1;
	}
	*bytes = v * mult;
	return 0;
}

int
parse_bool(const char *s, int *value, const char **why)
{
	static const char *yes[] = {"yes", "true", "on", "1"};
	static const char *no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value = 0;
			return 0;
		}
	}
	*why = "not a boolean (use yes or no)";
	return -1;
}

int
parse_int(const char *s, long long min, long long max, long long *value, const char **why)
{
	long long v;
	int neg = 0, n;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	if ((n = parse_digits(s, &v, why)) < 0)
		return -1;
	if (s[n] != '\0') {
		*why = "not a number";
		return -1;
	}
	if (neg)
		v = -v;
	if (v < min || v > max) {
		*why = "number out of range";
		return -1;
	}
	*value = v;
	return 0;
}

void
format_duration(long long secs, char *buf, unsigned long size)
{
	if (secs != 0 && secs % 86400 == 0)
		snprintf(buf, size, "%lldd", secs / 86400);
	else if (secs != 0 && secs % 3600 == 0)
		snprintf(buf, size, "%lldh", secs / 3600);
	else if (secs != 0 && secs % 60 == 0)
		snprintf(buf, size, "%lldm", secs / 60);
	else
		snprintf(buf, size, "%llds", secs);
}
