/*
 * rfc2822_date.h - the date-time of message headers (RFC 5322 3.3), for
 * Date: and the Received: header:
 *
 *	Tue, 3 Jun 2025 14:05:09 +0200 (CEST)
 *
 * Local time with its numeric offset; the zone's abbreviation follows as
 * a comment when it is letters only.  Day and month names are English,
 * whatever the locale.  The time zone must be loaded before a daemon
 * chroots: call rfc2822_date_init() (tzset) in pre_jail.
 */
#ifndef TERN_RFC2822_DATE_H
#define TERN_RFC2822_DATE_H

#include <time.h>

#include "str.h"

#define RFC2822_DATE_MAX 64 /* octets of the longest date written */

void rfc2822_date_init(void);

/* Append the date of when to out. */
void rfc2822_date(time_t when, struct str *out);

#endif
