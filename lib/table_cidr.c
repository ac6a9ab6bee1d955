/*
 * table_cidr.c - "cidr:/path/file": "network/prefixlen value" lines, for
 * lookups by client IP address.
 *
 * File format (read with table_text.c): "#" comments, blank lines,
 * continuation lines; each entry is an IPv4 or IPv6 network with an
 * optional "/prefixlen" (a bare address is /32 or /128; an IPv6 address
 * may be written in brackets), white space, and the value.  The first
 * matching entry wins.  A network with host bits set is used with those
 * bits cleared, with a warning; a bad network or prefix length, a missing
 * value, or more than TABLE_ENTRIES_MAX entries refuse the file with
 * "file:line: reason".  The key is an IP address string; an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) matches IPv4 entries; anything that is
 * not an address is not found.  The file is read once at table_open().
 * Called through table.c.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"
#include "table_impl.h"

struct cidr_entry {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
	char *value;
};

/* ::ffff:0:0/96, IPv4 addresses written as IPv6 */
static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

struct cidr_table {
	struct cidr_entry *entries;
	size_t count;
};

/* Parse an address (maybe in brackets, for IPv6) of len bytes; 0 or -1. */
static int
cidr_parse_address(const char *p, size_t len, int *family, unsigned char *addr)
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
		p++;
		len -= 2;
		if (memchr(p, ':', len) == NULL)
			return -1;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/* Clear the bits after prefix; 1 when any were set. */
static int
cidr_mask(unsigned char *addr, int family, int prefix)
{
	int bytes = family == AF_INET ? 4 : 16, changed = 0;

	for (int i = 0; i < bytes; i++) {
		int keep = prefix - i * 8;
		unsigned char mask;

		mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
		if (addr[i] & ~mask)
			changed = 1;
		addr[i] &= mask;
	}
	return changed;
}

static int
cidr_match(const struct cidr_entry *e, int family, const unsigned char *addr)
{
	int full = e->prefix / 8, rest = e->prefix % 8;

	if (e->family != family || memcmp(e->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((addr[full] ^ e->addr[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

/* Parse "network[/len]" of len bytes into e; 0, or -1 with a reason. */
static int
cidr_parse_network(
        struct table_text *tt, const char *net, size_t len, struct cidr_entry *e, struct str *err)
{
	const char *slash = memchr(net, '/', len);
	size_t alen = slash ? (size_t)(slash - net) : len;
	int max;

	if (cidr_parse_address(net, alen, &e->family, e->addr) != 0) {
		str_printf(err, "%s:%ld: bad network address \"%.*s\"", tt->path, tt->start,
		        (int)alen, net);
		return -1;
	}
	max = e->family == AF_INET ? 32 : 128;
	e->prefix = max;
	if (slash) {
		const char *p = slash + 1, *end = net + len;
		int v = 0;

		if (p == end || end - p > 3)
			v = -1;
		for (; v >= 0 && p < end; p++)
			v = *p >= '0' && *p <= '9' ? v * 10 + (*p - '0') : -1;
		if (v < 0 || v > max) {
			str_printf(err, "%s:%ld: bad prefix length \"%.*s\" (0 to %d)", tt->path,
			        tt->start, (int)(net + len - slash), slash, max);
			return -1;
		}
		e->prefix = v;
	}
	if (cidr_mask(e->addr, e->family, e->prefix))
		msg_warn("%s:%ld: host bits set in \"%.*s\": using the network without them",
		        tt->path, tt->start, (int)len, net);
	return 0;
}

/* One logical line into a new entry; 0, or -1 with a reason. */
static int
cidr_parse_line(struct cidr_table *ct, struct table_text *tt, struct str *err)
{
	const char *line = str_cstr(&tt->line), *value;
	size_t netlen = 0;
	struct cidr_entry e;

	while (line[netlen] && !table_is_space((unsigned char)line[netlen]))
		netlen++;
	value = table_skip_space(line + netlen);
	memset(&e, 0, sizeof(e));
	if (cidr_parse_network(tt, line, netlen, &e, err) != 0)
		return -1;
	if (*value == '\0') {
		str_printf(err, "%s:%ld: missing value after \"%.*s\"", tt->path, tt->start,
		        (int)netlen, line);
		return -1;
	}
	if (ct->count >= TABLE_ENTRIES_MAX) {
		str_printf(err, "%s:%ld: more than %d entries", tt->path, tt->start,
		        TABLE_ENTRIES_MAX);
		return -1;
	}
	e.value = xstrdup(value);
	if ((ct->count & (ct->count - 1)) == 0)
		ct->entries = xreallocarray(
		        ct->entries, ct->count ? ct->count * 2 : 1, sizeof(*ct->entries));
	ct->entries[ct->count++] = e;
	return 0;
}

static void
cidr_free(struct cidr_table *ct)
{
	for (size_t i = 0; i < ct->count; i++)
		free(ct->entries[i].value);
	free(ct->entries);
	free(ct);
}

static int
cidr_open(struct table *t, struct str *err)
{
	struct cidr_table *ct = xcalloc(1, sizeof(*ct));
	struct table_text tt;
	int r;

	if (table_text_open(&tt, t->path, err) != 0) {
		free(ct);
		return -1;
	}
	while ((r = table_text_next(&tt, err)) == 1)
		if (cidr_parse_line(ct, &tt, err) != 0) {
			r = -1;
			break;
		}
	table_text_close(&tt);
	if (r != 0) {
		cidr_free(ct);
		return -1;
	}
	t->state = ct;
	return 0;
}

static int
cidr_lookup(struct table *t, const char *key, size_t klen, struct str *value, struct str *err)
{
	struct cidr_table *ct = t->state;
	unsigned char addr[16];
	int family;

	(void)err;
	if (cidr_parse_address(key, klen, &family, addr) != 0)
		return 0;
	if (family == AF_INET6 && memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		memmove(addr, addr + 12, 4);
		family = AF_INET;
	}
	for (size_t i = 0; i < ct->count; i++)
		if (cidr_match(&ct->entries[i], family, addr)) {
			if (value)
				str_setz(value, ct->entries[i].value);
			return 1;
		}
	return 0;
}

static void
cidr_close(struct table *t)
{
	if (t->state)
		cidr_free(t->state);
	t->state = NULL;
}

const struct table_ops table_cidr_ops = {
        .type = "cidr",
        .flags = TABLE_OPS_FILE,
        .suffix = "",
        .open = cidr_open,
        .lookup = cidr_lookup,
        .close = cidr_close,
};
