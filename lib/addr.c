/*
 * addr.c - RFC 5321 address parsing and quoting; the contract is addr.h.
 *
 * Trusts nothing: the input is the argument of a MAIL or RCPT command,
 * straight from the network, not NUL-terminated and possibly holding any
 * octet.  Every scan is bounded by the given length and by the named
 * limits.  Called by smtp_cmd.c (MAIL, RCPT, ORCPT) and by anything that
 * must take an address apart or write one out (cleanup, smtp, sendmail).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "addr.h"

/* Where a domain stops, and what it may be. */
enum domain_ctx {
	DOMAIN_IN_PATH,  /* followed by ">" */
	DOMAIN_IN_ROUTE, /* followed by "," or ":" */
	DOMAIN_IN_MAILBOX
};

static const char *const addr_errors[ADDR_STATUS_COUNT] = {
        [ADDR_OK] = "ok",
        [ADDR_ERR_NO_OPEN] = "address must start with \"<\"",
        [ADDR_ERR_NO_CLOSE] = "missing \">\" after the address",
        [ADDR_ERR_TRAILING] = "unexpected text after \">\"",
        [ADDR_ERR_NULL_NOT_ALLOWED] = "null address not allowed here",
        [ADDR_ERR_ROUTE] = "malformed source route",
        [ADDR_ERR_EMPTY_LOCAL] = "empty local part",
        [ADDR_ERR_LOCAL] = "invalid character in local part",
        [ADDR_ERR_QUOTED] = "malformed quoted local part",
        [ADDR_ERR_NO_DOMAIN] = "missing domain",
        [ADDR_ERR_DOMAIN] = "malformed domain",
        [ADDR_ERR_NUMERIC_DOMAIN] = "numeric domain must be an address literal",
        [ADDR_ERR_LITERAL] = "malformed address literal",
        [ADDR_ERR_LOCAL_TOO_LONG] = "local part too long",
        [ADDR_ERR_DOMAIN_TOO_LONG] = "domain too long",
        [ADDR_ERR_LABEL_TOO_LONG] = "domain label too long",
        [ADDR_ERR_PATH_TOO_LONG] = "address too long",
        [ADDR_ERR_UTF8_INVALID] = "malformed UTF-8 in address",
        [ADDR_ERR_UTF8_NOT_ALLOWED] = "non-ASCII address without SMTPUTF8",
};

void
addr_init(struct addr *a)
{
	str_init(&a->local);
	str_init(&a->local_wire);
	str_init(&a->domain);
	str_init(&a->domain_lc);
	a->flags = 0;
	a->literal_family = 0;
	memset(a->literal_addr, 0, sizeof(a->literal_addr));
}

void
addr_reset(struct addr *a)
{
	str_reset(&a->local);
	str_reset(&a->local_wire);
	str_reset(&a->domain);
	str_reset(&a->domain_lc);
	a->flags = 0;
	a->literal_family = 0;
	memset(a->literal_addr, 0, sizeof(a->literal_addr));
}

void
addr_free(struct addr *a)
{
	str_free(&a->local);
	str_free(&a->local_wire);
	str_free(&a->domain);
	str_free(&a->domain_lc);
	addr_init(a);
}

const char *
addr_strerror(enum addr_status st)
{
	if ((unsigned)st >= ADDR_STATUS_COUNT)
		return "unknown address error";
	return addr_errors[st];
}

/*
 * Length of the well-formed UTF-8 sequence at p (1 for ASCII), or 0 when
 * it is malformed or truncated (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
static size_t
utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned c = p[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
	if (n == 0 || avail < n)
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && p[1] < 0xa0)
		return 0; /* overlong */
	if (c == 0xed && p[1] >= 0xa0)
		return 0; /* surrogate */
	if (c == 0xf0 && p[1] < 0x90)
		return 0; /* overlong */
	if (c == 0xf4 && p[1] >= 0x90)
		return 0; /* above U+10FFFF */
	return n;
}

int
addr_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_seq(p + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

int
addr_is_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* RFC 5322 atext, ASCII part. */
static int
is_atext(int c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * A non-ASCII sequence at p: check it against the options.  Returns its
 * length, or 0 with *st set.
 */
static size_t
take_utf8(const char *p, const char *end, unsigned opts, enum addr_status *st)
{
	size_t n;

	if (!(opts & ADDR_OPT_SMTPUTF8)) {
		*st = ADDR_ERR_UTF8_NOT_ALLOWED;
		return 0;
	}
	if ((n = utf8_seq((const unsigned char *)p, (size_t)(end - p))) == 0) {
		*st = ADDR_ERR_UTF8_INVALID;
		return 0;
	}
	return n;
}

/* A quoted string at *pp (on the opening quote); leaves *pp after it. */
static enum addr_status
parse_quoted(const char **pp, const char *end, unsigned opts, struct addr *a)
{
	const char *p = *pp + 1;
	enum addr_status st = ADDR_OK;
	size_t n;

	for (;;) {
		unsigned char c;

		if (p >= end)
			return ADDR_ERR_QUOTED;
		c = (unsigned char)*p;
		if (c == '"') {
			p++;
			break;
		}
		if (c == '\\') {
			if (p + 1 >= end || (unsigned char)p[1] < 32 || (unsigned char)p[1] > 126)
				return ADDR_ERR_QUOTED;
			str_appendc(&a->local, p[1]);
			p += 2;
		} else if (c >= 32 && c <= 126) {
			str_appendc(&a->local, c);
			p++;
		} else if (c >= 0x80) {
			if ((n = take_utf8(p, end, opts, &st)) == 0)
				return st;
			str_append(&a->local, p, n);
			a->flags |= ADDR_HAS_UTF8;
			p += n;
		} else {
			return ADDR_ERR_QUOTED;
		}
		if ((size_t)(p - *pp) > ADDR_LOCAL_MAX)
			return ADDR_ERR_LOCAL_TOO_LONG;
	}
	if ((size_t)(p - *pp) > ADDR_LOCAL_MAX)
		return ADDR_ERR_LOCAL_TOO_LONG;
	if (a->local.len == 0)
		return ADDR_ERR_EMPTY_LOCAL;
	str_set(&a->local_wire, *pp, (size_t)(p - *pp));
	a->flags |= ADDR_WAS_QUOTED;
	*pp = p;
	return ADDR_OK;
}

/*
 * A local part at *pp: a quoted string or a (loose) dot-atom.  Leaves *pp
 * on the first octet after it, which the caller judges.
 */
static enum addr_status
parse_local(const char **pp, const char *end, unsigned opts, struct addr *a)
{
	const char *start = *pp, *p = *pp;
	enum addr_status st = ADDR_OK;
	size_t n;

	if (p < end && *p == '"')
		return parse_quoted(pp, end, opts, a);
	while (p < end) {
		unsigned char c = (unsigned char)*p;

		if (c >= 0x80) {
			if ((n = take_utf8(p, end, opts, &st)) == 0)
				return st;
			a->flags |= ADDR_HAS_UTF8;
			p += n;
		} else if (is_atext(c) || c == '.') {
			p++;
		} else {
			break;
		}
		if ((size_t)(p - start) > ADDR_LOCAL_MAX)
			return ADDR_ERR_LOCAL_TOO_LONG;
	}
	if (p == start)
		return (p < end && *p != '@' && *p != '>') ? ADDR_ERR_LOCAL : ADDR_ERR_EMPTY_LOCAL;
	str_set(&a->local, start, (size_t)(p - start));
	str_set(&a->local_wire, start, (size_t)(p - start));
	*pp = p;
	return ADDR_OK;
}

/* An address literal at *pp (on "["); stores into a when a is not NULL. */
static enum addr_status
parse_literal(const char **pp, const char *end, struct addr *a)
{
	const char *start = *pp, *p = *pp + 1, *text;
	char buf[ADDR_LITERAL_MAX + 1];
	unsigned char bin[16];
	size_t len;
	int family;

	while (p < end && *p != ']') {
		unsigned char c = (unsigned char)*p;

		/* dcontent: %d33-90 / %d94-126 */
		if (c < 33 || c > 126 || c == '[' || c == '\\')
			return ADDR_ERR_LITERAL;
		if ((size_t)(p - start) > ADDR_LITERAL_MAX)
			return ADDR_ERR_LITERAL;
		p++;
	}
	if (p >= end)
		return ADDR_ERR_LITERAL;
	len = (size_t)(p - start - 1);
	if (len == 0 || len > ADDR_LITERAL_MAX)
		return ADDR_ERR_LITERAL;
	memcpy(buf, start + 1, len);
	buf[len] = '\0';
	if (len > 5 && strncasecmp(buf, "IPv6:", 5) == 0) {
		family = AF_INET6;
		text = buf + 5;
	} else if (strchr(buf, ':') != NULL) {
		return ADDR_ERR_LITERAL; /* a General-address-literal tag we do not know */
	} else {
		family = AF_INET;
		text = buf;
	}
	if (inet_pton(family, text, bin) != 1)
		return ADDR_ERR_LITERAL;
	p++;
	if (a != NULL) {
		str_set(&a->domain, start, (size_t)(p - start));
		a->flags |= ADDR_IS_LITERAL;
		a->literal_family = family;
		memcpy(a->literal_addr, bin, family == AF_INET ? 4 : 16);
	}
	*pp = p;
	return ADDR_OK;
}

/* Check one finished label of a domain. */
static enum addr_status
check_label(const char *label, size_t len)
{
	if (len == 0)
		return ADDR_ERR_DOMAIN;
	if (len > ADDR_LABEL_MAX)
		return ADDR_ERR_LABEL_TOO_LONG;
	if (label[0] == '-' || label[len - 1] == '-')
		return ADDR_ERR_DOMAIN;
	return ADDR_OK;
}

/*
 * A domain or address literal at *pp; leaves *pp on the first octet after
 * it.  The domain is stored into a when a is not NULL (a route's domains
 * are checked, not kept).
 */
static enum addr_status
parse_domain(const char **pp, const char *end, unsigned opts, struct addr *a)
{
	const char *start = *pp, *p = *pp, *label = *pp;
	enum addr_status st = ADDR_OK;
	int numeric = 1;
	size_t n;

	if (p < end && *p == '[')
		return parse_literal(pp, end, a);
	for (;;) {
		unsigned char c = p < end ? (unsigned char)*p : 0;

		if (c >= 0x80) {
			if ((n = take_utf8(p, end, opts, &st)) == 0)
				return st;
			if (a != NULL)
				a->flags |= ADDR_HAS_UTF8;
			numeric = 0;
			p += n;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (!isdigit(c))
				numeric = 0;
			p++;
		} else {
			if ((st = check_label(label, (size_t)(p - label))) != ADDR_OK)
				return st;
			if (c != '.')
				break;
			label = ++p;
		}
		if ((size_t)(p - start) > ADDR_DOMAIN_MAX)
			return ADDR_ERR_DOMAIN_TOO_LONG;
		if ((size_t)(p - label) > ADDR_LABEL_MAX)
			return ADDR_ERR_LABEL_TOO_LONG;
	}
	if (numeric)
		return ADDR_ERR_NUMERIC_DOMAIN;
	if (a != NULL)
		str_set(&a->domain, start, (size_t)(p - start));
	*pp = p;
	return ADDR_OK;
}

/* A source route at *pp (on the first "@"); leaves *pp after its ":". */
static enum addr_status
parse_route(const char **pp, const char *end, unsigned opts)
{
	const char *p = *pp;
	enum addr_status st;

	for (;;) {
		if (p >= end || *p != '@')
			return ADDR_ERR_ROUTE;
		p++;
		if ((st = parse_domain(&p, end, opts, NULL)) != ADDR_OK) {
			if (st == ADDR_ERR_UTF8_INVALID || st == ADDR_ERR_UTF8_NOT_ALLOWED)
				return st;
			return ADDR_ERR_ROUTE;
		}
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == ':')
			break;
		return ADDR_ERR_ROUTE;
	}
	*pp = p + 1;
	return ADDR_OK;
}

/* Set the derived fields once the parts are known. */
static void
addr_finish(struct addr *a)
{
	str_set(&a->domain_lc, a->domain.data, a->domain.len);
	str_lower(&a->domain_lc);
	if (a->local.len == 10 && strncasecmp(a->local.data, "postmaster", 10) == 0)
		a->flags |= ADDR_LOCAL_POSTMASTER;
	if (addr_local_needs_quote(a->local.data, a->local.len))
		a->flags |= ADDR_LOCAL_NEEDS_QUOTE;
}

/* What follows a local part in a path or mailbox, when it is not "@". */
static enum addr_status
after_local_error(const char *p, const char *end, enum domain_ctx ctx, const struct addr *a)
{
	if (p >= end)
		return ctx == DOMAIN_IN_PATH ? ADDR_ERR_NO_CLOSE : ADDR_ERR_NO_DOMAIN;
	if (*p == '>' && ctx == DOMAIN_IN_PATH)
		return ADDR_ERR_NO_DOMAIN;
	return (a->flags & ADDR_WAS_QUOTED) ? ADDR_ERR_QUOTED : ADDR_ERR_LOCAL;
}

enum addr_status
addr_parse_path(const char *s, size_t len, enum addr_path_type type, unsigned opts, struct addr *a,
        size_t *used)
{
	const char *p = s, *end = s + len;
	enum addr_status st;

	addr_reset(a);
	if (len == 0 || *p != '<')
		return ADDR_ERR_NO_OPEN;
	p++;
	if (p >= end) {
		st = ADDR_ERR_NO_CLOSE;
		goto fail;
	}
	if (*p == '>') {
		if (type != ADDR_REVERSE_PATH)
			return ADDR_ERR_NULL_NOT_ALLOWED;
		a->flags |= ADDR_IS_NULL;
		if (used != NULL)
			*used = 2;
		return ADDR_OK;
	}
	if (p < end && *p == '@') {
		if ((st = parse_route(&p, end, opts)) != ADDR_OK)
			goto fail;
		a->flags |= ADDR_HAD_ROUTE;
		if (p < end && *p == '>') {
			st = ADDR_ERR_ROUTE; /* a route to nobody */
			goto fail;
		}
	}
	if ((st = parse_local(&p, end, opts, a)) != ADDR_OK)
		goto fail;
	if (p < end && *p == '>' && type == ADDR_FORWARD_PATH && !(a->flags & ADDR_HAD_ROUTE) &&
	        a->local.len == 10 && strncasecmp(a->local.data, "postmaster", 10) == 0) {
		a->flags |= ADDR_IS_POSTMASTER;
	} else if (p >= end || *p != '@') {
		st = after_local_error(p, end, DOMAIN_IN_PATH, a);
		goto fail;
	} else {
		p++;
		if ((st = parse_domain(&p, end, opts, a)) != ADDR_OK)
			goto fail;
		if (p >= end) {
			st = ADDR_ERR_NO_CLOSE;
			goto fail;
		}
		if (*p != '>') {
			st = (a->flags & ADDR_IS_LITERAL) ? ADDR_ERR_LITERAL : ADDR_ERR_DOMAIN;
			goto fail;
		}
	}
	p++;
	if ((size_t)(p - s) > ADDR_PATH_MAX) {
		st = ADDR_ERR_PATH_TOO_LONG;
		goto fail;
	}
	addr_finish(a);
	if (used != NULL)
		*used = (size_t)(p - s);
	return ADDR_OK;
fail:
	addr_reset(a);
	return st;
}

enum addr_status
addr_parse_mailbox(const char *s, size_t len, unsigned opts, struct addr *a)
{
	const char *p = s, *end = s + len;
	enum addr_status st;

	addr_reset(a);
	if ((st = parse_local(&p, end, opts, a)) != ADDR_OK)
		goto fail;
	if (p >= end || *p != '@') {
		st = after_local_error(p, end, DOMAIN_IN_MAILBOX, a);
		goto fail;
	}
	p++;
	if ((st = parse_domain(&p, end, opts, a)) != ADDR_OK)
		goto fail;
	if (p != end) {
		st = (a->flags & ADDR_IS_LITERAL) ? ADDR_ERR_TRAILING : ADDR_ERR_DOMAIN;
		goto fail;
	}
	addr_finish(a);
	return ADDR_OK;
fail:
	addr_reset(a);
	return st;
}

int
addr_local_needs_quote(const char *local, size_t len)
{
	size_t i;
	int prev_dot = 1;

	if (len == 0)
		return 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '.') {
			if (prev_dot)
				return 1;
			prev_dot = 1;
			continue;
		}
		prev_dot = 0;
		if (c < 0x80 && !is_atext(c))
			return 1;
	}
	return prev_dot; /* a trailing dot */
}

void
addr_quote_local(const char *local, size_t len, struct str *out)
{
	size_t i;

	if (!addr_local_needs_quote(local, len)) {
		str_append(out, local, len);
		return;
	}
	str_appendc(out, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '"' || c == '\\')
			str_appendc(out, '\\');
		/* Nothing unprintable can be quoted (RFC 5321 qtextSMTP). */
		str_appendc(out, (c < 32 || c == 127) ? '?' : c);
	}
	str_appendc(out, '"');
}

void
addr_format(const struct addr *a, struct str *out)
{
	if (a->flags & ADDR_IS_NULL)
		return;
	addr_quote_local(a->local.data ? a->local.data : "", a->local.len, out);
	if (a->domain.len > 0) {
		str_appendc(out, '@');
		str_append(out, a->domain.data, a->domain.len);
	}
}

const char *
addr_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : NULL;
}

int
addr_local_has_routing(const char *local, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (local[i] == '%' || local[i] == '!' || local[i] == '@')
			return 1;
	return 0;
}
