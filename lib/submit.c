/*
 * submit.c - checks shared by sendmail, postdrop and pickup; see submit.h.
 *
 * Trusts nothing: the address is rebuilt in RFC 5321 form and parsed by
 * addr.h, so whatever passes here can be written to a queue file and
 * sent on the wire.
 */
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "queue_file.h"
#include "submit.h"

#define SUBMIT_PLACEHOLDER_DOMAIN "localhost" /* to parse a local part alone */

static int
refused(struct str *why, const char *text)
{
	if (why)
		str_appendz(why, text);
	return -1;
}

int
submit_address_check(const char *address, int null_ok, unsigned *flags, struct str *why)
{
	struct str wire = STR_INIT;
	struct addr a;
	const char *at = strrchr(address, '@');
	size_t len = strlen(address), local_len = at ? (size_t)(at - address) : len;
	enum addr_status st;

	if (len == 0)
		return null_ok ? 0 : refused(why, "empty address");
	if (len > QUEUE_ADDR_MAX)
		return refused(why, "address too long");
	if (local_len == 0)
		return refused(why, "empty local part");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)address[i] < 0x20 || address[i] == 0x7f)
			return refused(why, "control character in address");
	addr_quote_local(address, local_len, &wire);
	str_appendc(&wire, '@');
	str_appendz(&wire, at ? at + 1 : SUBMIT_PLACEHOLDER_DOMAIN);
	addr_init(&a);
	st = addr_parse_mailbox(wire.data, wire.len, ADDR_OPT_SMTPUTF8, &a);
	if (st != ADDR_OK)
		(void)refused(why, addr_strerror(st));
	else if (flags && (a.flags & ADDR_HAS_UTF8))
		*flags |= SUBMIT_ADDR_UTF8;
	addr_free(&a);
	str_free(&wire);
	return st == ADDR_OK ? 0 : -1;
}

int
submit_notify_parse(const char *text, unsigned *notify)
{
	static const struct {
		const char *word;
		unsigned bit;
	} words[] = {
	        {"success", QUEUE_NOTIFY_SUCCESS},
	        {"failure", QUEUE_NOTIFY_FAILURE},
	        {"delay", QUEUE_NOTIFY_DELAY},
	};
	const char *p = text, *end;
	unsigned bits = 0;
	size_t n;

	if (strcasecmp(text, "never") == 0) {
		*notify = QUEUE_NOTIFY_NEVER;
		return 0;
	}
	while (*p) {
		unsigned bit = 0;

		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (n == strlen(words[i].word) && strncasecmp(p, words[i].word, n) == 0)
				bit = words[i].bit;
		if (bit == 0 || (bits & bit))
			return -1;
		bits |= bit;
		if (end == NULL)
			break;
		p = end + 1;
		if (*p == '\0')
			return -1;
	}
	if (bits == 0)
		return -1;
	*notify = bits;
	return 0;
}

void
submit_notify_format(unsigned notify, struct str *out)
{
	const char *sep = "";

	if (notify & QUEUE_NOTIFY_NEVER) {
		str_appendz(out, "NEVER");
		return;
	}
	if (notify & QUEUE_NOTIFY_SUCCESS) {
		str_appendz(out, "SUCCESS");
		sep = ",";
	}
	if (notify & QUEUE_NOTIFY_FAILURE) {
		str_printf(out, "%sFAILURE", sep);
		sep = ",";
	}
	if (notify & QUEUE_NOTIFY_DELAY)
		str_printf(out, "%sDELAY", sep);
}
