/*
 * dns_rr.c - DNS record data: parse rdata into struct dns_rr, fill and
 * free answers, sort MX lists, build reverse names; see dns.h.
 *
 * Trusts nothing it parses: the bytes come from a DNS server by way of
 * libunbound, which checks little inside the record data of most types.
 * Every length is checked before it is used, names must be uncompressed
 * wire names of at most 255 bytes whose labels are at most 63 bytes of
 * plain printable ASCII, and anything else fails with a reason rather
 * than being read past.  Called by dns.c and by tests.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "mem.h"
#include "str.h"

#define MX_PREF_LEN   2
#define TXT_MAX_CHARS 255 /* one character-string */

static const struct {
	int code;
	const char *name;
} type_names[] = {
        {DNS_T_A, "A"},
        {DNS_T_NS, "NS"},
        {DNS_T_CNAME, "CNAME"},
        {DNS_T_PTR, "PTR"},
        {DNS_T_MX, "MX"},
        {DNS_T_TXT, "TXT"},
        {DNS_T_AAAA, "AAAA"},
        {DNS_T_TLSA, "TLSA"},
};

/* A byte that may appear in a label of a name we hand out. */
static int
label_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '.' && c != '\\' && c != '"';
}

/*
 * dns_name_parse - an uncompressed wire-format name at data[0..len) into
 * presentation form (no final dot; the root is ".") in out, which must
 * hold DNS_NAME_MAX + 1 bytes.  *used is set to the bytes consumed.
 * Returns 0, or -1 with *why set.
 */
int
dns_name_parse(const unsigned char *data, size_t len, size_t *used, char *out, size_t outsize,
        const char **why)
{
	size_t pos = 0, o = 0;

	if (outsize < DNS_NAME_MAX + 1) {
		*why = "name buffer too small";
		return -1;
	}
	for (;;) {
		unsigned lab;

		if (pos >= len) {
			*why = "name truncated";
			return -1;
		}
		lab = data[pos];
		if ((lab & 0xc0) == 0xc0) {
			*why = "compression pointer in name";
			return -1;
		}
		if (lab > DNS_LABEL_MAX) {
			*why = "bad label length";
			return -1;
		}
		if (lab == 0)
			break;
		/* this label, and at least the root label after it */
		if (pos + 1 + lab + 1 > DNS_WIRE_NAME_MAX) {
			*why = "name too long";
			return -1;
		}
		if (lab > len - pos - 1) {
			*why = "label truncated";
			return -1;
		}
		if (o > 0)
			out[o++] = '.';
		for (unsigned i = 0; i < lab; i++) {
			unsigned char c = data[pos + 1 + i];

			if (!label_char_ok(c)) {
				*why = "bad character in name";
				return -1;
			}
			out[o++] = (char)c;
		}
		pos += 1 + lab;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	*used = pos + 1;
	return 0;
}

/* A name that must fill the rest of the rdata exactly. */
static int
parse_name_only(const unsigned char *data, size_t len, char *out, const char **why)
{
	size_t used;

	if (dns_name_parse(data, len, &used, out, DNS_NAME_MAX + 1, why) < 0)
		return -1;
	if (used != len) {
		*why = "trailing bytes after name";
		return -1;
	}
	return 0;
}

static int
parse_txt(const unsigned char *data, size_t len, struct dns_rr *rr, const char **why)
{
	struct str s = STR_INIT;
	size_t pos = 0;

	if (len == 0) {
		*why = "empty TXT record";
		return -1;
	}
	while (pos < len) {
		size_t n = data[pos];

		if (n > len - pos - 1) {
			str_free(&s);
			*why = "TXT string runs past the end";
			return -1;
		}
		str_append(&s, data + pos + 1, n);
		pos += 1 + n;
	}
	rr->u.txt.len = s.len;
	rr->u.txt.data = s.len ? str_steal(&s) : xstrdup("");
	str_free(&s);
	return 0;
}

static int
parse_tlsa(const unsigned char *data, size_t len, struct dns_rr *rr, const char **why)
{
	if (len < DNS_TLSA_MIN) {
		*why = "TLSA record shorter than 3 bytes";
		return -1;
	}
	rr->u.tlsa.usage = data[0];
	rr->u.tlsa.selector = data[1];
	rr->u.tlsa.mtype = data[2];
	rr->u.tlsa.len = len - DNS_TLSA_MIN;
	rr->u.tlsa.data = xmalloc(rr->u.tlsa.len + 1);
	memcpy(rr->u.tlsa.data, data + DNS_TLSA_MIN, rr->u.tlsa.len);
	rr->u.tlsa.data[rr->u.tlsa.len] = 0;
	return 0;
}

/*
 * dns_rr_parse - rdata of the given type into *rr (whose ttl the caller
 * sets).  Returns 0, or -1 with *why set and nothing left to free.
 */
int
dns_rr_parse(int type, const unsigned char *data, size_t len, struct dns_rr *rr, const char **why)
{
	memset(rr, 0, sizeof(*rr));
	rr->type = type;
	if (data == NULL && len > 0) {
		*why = "missing record data";
		return -1;
	}
	switch (type) {
	case DNS_T_A:
		if (len != sizeof(rr->u.a)) {
			*why = "A record not 4 bytes";
			return -1;
		}
		memcpy(&rr->u.a, data, len);
		return 0;
	case DNS_T_AAAA:
		if (len != sizeof(rr->u.aaaa)) {
			*why = "AAAA record not 16 bytes";
			return -1;
		}
		memcpy(&rr->u.aaaa, data, len);
		return 0;
	case DNS_T_MX:
		if (len < MX_PREF_LEN + 1) {
			*why = "MX record truncated";
			return -1;
		}
		rr->u.mx.pref = (unsigned)data[0] << 8 | data[1];
		return parse_name_only(data + MX_PREF_LEN, len - MX_PREF_LEN, rr->u.mx.host, why);
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		return parse_name_only(data, len, rr->u.name, why);
	case DNS_T_TXT:
		return parse_txt(data, len, rr, why);
	case DNS_T_TLSA:
		return parse_tlsa(data, len, rr, why);
	default:
		rr->u.raw.len = len;
		rr->u.raw.data = xmalloc(len + 1);
		if (len > 0)
			memcpy(rr->u.raw.data, data, len);
		rr->u.raw.data[len] = 0;
		return 0;
	}
}

void
dns_rr_clear(struct dns_rr *rr)
{
	switch (rr->type) {
	case DNS_T_A:
	case DNS_T_AAAA:
	case DNS_T_MX:
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		break;
	case DNS_T_TXT:
		free(rr->u.txt.data);
		break;
	case DNS_T_TLSA:
		free(rr->u.tlsa.data);
		break;
	default:
		free(rr->u.raw.data);
		break;
	}
	memset(&rr->u, 0, sizeof(rr->u));
}

static void
free_records(struct dns_answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		dns_rr_clear(&a->rr[i]);
	free(a->rr);
	a->rr = NULL;
	a->n = 0;
}

/*
 * dns_answer_set_records - parse a NULL-terminated array of rdata (as
 * libunbound's ub_result gives it) into a->rr.  Sets a->status to DNS_OK,
 * DNS_NODATA (no records), DNS_NULLMX, or DNS_MALFORMED with a->why
 * naming the record and the fault (and no records kept).  Returns 0 or -1
 * (malformed).
 */
int
dns_answer_set_records(
        struct dns_answer *a, int type, char *const *data, const int *len, uint32_t ttl)
{
	size_t count = 0;

	free_records(a);
	free(a->why);
	a->why = NULL;
	while (data != NULL && data[count] != NULL)
		count++;
	if (count == 0) {
		a->status = DNS_NODATA;
		a->why = xstrdup("no records of this type");
		return 0;
	}
	a->rr = xcalloc(count, sizeof(*a->rr));
	for (size_t i = 0; i < count; i++) {
		const char *why = NULL;
		struct str s = STR_INIT;

		if (len[i] < 0 ||
		        dns_rr_parse(type, (const unsigned char *)data[i],
		                len[i] < 0 ? 0 : (size_t)len[i], &a->rr[i], &why) < 0) {
			free_records(a);
			str_printf(&s, "record %zu: %s", i + 1, why ? why : "negative length");
			a->why = str_steal(&s);
			str_free(&s);
			a->status = DNS_MALFORMED;
			return -1;
		}
		a->rr[i].ttl = ttl;
		a->n = i + 1;
	}
	a->status = DNS_OK;
	if (dns_mx_is_null(a)) {
		a->status = DNS_NULLMX;
		a->why = xstrdup("null MX: the domain accepts no mail");
	}
	return 0;
}

/* dns_mx_is_null - a single MX record "0 ." (RFC 7505). */
int
dns_mx_is_null(const struct dns_answer *a)
{
	return a->rrtype == DNS_T_MX && a->n == 1 && a->rr[0].type == DNS_T_MX &&
	        a->rr[0].u.mx.pref == 0 && strcmp(a->rr[0].u.mx.host, ".") == 0;
}

struct mx_key {
	unsigned pref;
	uint32_t tiebreak;
	size_t index;
};

static int
mx_key_cmp(const void *x, const void *y)
{
	const struct mx_key *a = x, *b = y;

	if (a->pref != b->pref)
		return a->pref < b->pref ? -1 : 1;
	if (a->tiebreak != b->tiebreak)
		return a->tiebreak < b->tiebreak ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

/*
 * dns_mx_sort - order MX records by preference, records of equal
 * preference in random order (RFC 5321 5.1).  Other answers are left
 * alone.
 */
void
dns_mx_sort(struct dns_answer *a)
{
	struct mx_key *keys;
	struct dns_rr *sorted;

	if (a->rrtype != DNS_T_MX || a->n < 2)
		return;
	keys = xcalloc(a->n, sizeof(*keys));
	for (size_t i = 0; i < a->n; i++) {
		keys[i].pref = a->rr[i].u.mx.pref;
		keys[i].tiebreak = arc4random();
		keys[i].index = i;
	}
	qsort(keys, a->n, sizeof(*keys), mx_key_cmp);
	sorted = xcalloc(a->n, sizeof(*sorted));
	for (size_t i = 0; i < a->n; i++)
		sorted[i] = a->rr[keys[i].index];
	free(a->rr);
	a->rr = sorted;
	free(keys);
}

void
dns_answer_free(struct dns_answer *a)
{
	if (a == NULL)
		return;
	free_records(a);
	free(a->qname);
	free(a->canonname);
	free(a->why);
	free(a);
}

/*
 * dns_reverse_name - the in-addr.arpa or ip6.arpa name of an IPv4 or IPv6
 * address in text form, into out (replacing its contents).  Returns 0, or
 * -1 when ip is not an address.
 */
int
dns_reverse_name(const char *ip, struct str *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[sizeof(struct in6_addr)];

	str_reset(out);
	if (inet_pton(AF_INET, ip, b) == 1) {
		str_printf(out, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, b) == 1) {
		for (size_t i = sizeof(b); i-- > 0;) {
			str_appendc(out, hex[b[i] & 0xf]);
			str_appendc(out, '.');
			str_appendc(out, hex[b[i] >> 4]);
			str_appendc(out, '.');
		}
		str_appendz(out, "ip6.arpa");
		return 0;
	}
	return -1;
}

const char *
dns_status_name(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "OK";
	case DNS_NODATA:
		return "NODATA";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NULLMX:
		return "NULLMX";
	case DNS_TEMPFAIL:
		return "TEMPFAIL";
	case DNS_MALFORMED:
		return "MALFORMED";
	case DNS_BOGUS:
		return "BOGUS";
	}
	return "UNKNOWN";
}

/* dns_type_name - "MX" and so on; other types as "TYPE99" (static buffer). */
const char *
dns_type_name(int type)
{
	static char buf[sizeof("TYPE-2147483648")];

	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].code == type)
			return type_names[i].name;
	snprintf(buf, sizeof(buf), "TYPE%d", type);
	return buf;
}

/* dns_type_code - the inverse of dns_type_name (any case); -1 if unknown. */
int
dns_type_code(const char *name)
{
	char *end;
	unsigned long v;

	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(type_names[i].name, name) == 0)
			return type_names[i].code;
	if (strncasecmp(name, "TYPE", 4) != 0 || name[4] < '0' || name[4] > '9')
		return -1;
	v = strtoul(name + 4, &end, 10);
	if (*end != '\0' || v > 65535)
		return -1;
	return (int)v;
}

static void
append_hex(struct str *out, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		str_appendc(out, hex[p[i] >> 4]);
		str_appendc(out, hex[p[i] & 0xf]);
	}
}

/*
 * dns_rr_format - append the record's data in text form: "10 mx.example",
 * "192.0.2.1", "\"text\"" (with \DDD escapes for '"', '\\' and
 * non-printables), "3 1 1 abcd...", and "\# LEN HEX" for other types.
 */
void
dns_rr_format(const struct dns_rr *rr, struct str *out)
{
	char buf[INET6_ADDRSTRLEN];

	switch (rr->type) {
	case DNS_T_A:
		str_appendz(out, inet_ntop(AF_INET, &rr->u.a, buf, sizeof(buf)));
		break;
	case DNS_T_AAAA:
		str_appendz(out, inet_ntop(AF_INET6, &rr->u.aaaa, buf, sizeof(buf)));
		break;
	case DNS_T_MX:
		str_printf(out, "%u %s", rr->u.mx.pref, rr->u.mx.host);
		break;
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		str_appendz(out, rr->u.name);
		break;
	case DNS_T_TXT:
		str_appendc(out, '"');
		for (size_t i = 0; i < rr->u.txt.len; i++) {
			unsigned char c = (unsigned char)rr->u.txt.data[i];

			if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
				str_printf(out, "\\%03u", c);
			else
				str_appendc(out, c);
		}
		str_appendc(out, '"');
		break;
	case DNS_T_TLSA:
		str_printf(
		        out, "%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype);
		append_hex(out, rr->u.tlsa.data, rr->u.tlsa.len);
		break;
	default:
		str_printf(out, "\\# %zu ", rr->u.raw.len);
		append_hex(out, rr->u.raw.data, rr->u.raw.len);
		break;
	}
}
