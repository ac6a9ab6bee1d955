/*
 * inet_match.c - match a client address (and its verified name) against
 * a list of networks, host names and tables: mynetworks.  The contract
 * is inet_match.h.
 *
 * Trusts the list as configuration (it was validated by config), but
 * still refuses what it cannot parse; trusts nothing in the client
 * address or name, which are only compared.  Called by smtpd.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inet_match.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "table.h"

enum item_kind { ITEM_NET, ITEM_NAME, ITEM_TABLE };

struct item {
	enum item_kind kind;
	int family;
	unsigned char addr[16];
	int prefix;
	char *name;          /* ITEM_NAME */
	struct table *table; /* ITEM_TABLE */
};

struct inet_match {
	struct item *items;
	size_t n;
	int wants_name;
	struct table **tables;
	size_t ntables;
};

/* ::ffff:0:0/96 */
static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
inet_parse_addr(const char *text, int *family, unsigned char addr[16])
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, text, buf) == 1) {
		*family = AF_INET;
		memcpy(addr, buf, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, buf) == 1) {
		if (memcmp(buf, v4mapped, sizeof(v4mapped)) == 0) {
			*family = AF_INET;
			memcpy(addr, buf + 12, 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, buf, 16);
		}
		return 0;
	}
	return -1;
}

/* Clear the bits after prefix; 1 when some were set. */
static int
clear_host_bits(unsigned char *addr, int bytes, int prefix)
{
	int changed = 0;

	for (int i = 0; i < bytes; i++) {
		int keep = prefix - i * 8;
		unsigned char mask;

		if (keep >= 8)
			continue;
		mask = keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
		if (addr[i] & ~mask)
			changed = 1;
		addr[i] &= mask;
	}
	return changed;
}

int
inet_parse_network(
        const char *text, int *family, unsigned char addr[16], int *prefix, int *host_bits)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	int bracketed = 0, bits;
	long long v;
	const char *why;

	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
		bracketed = 1;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (!bracketed && inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		bits = 128;
	} else {
		return -1;
	}
	*prefix = bits;
	if (slash) {
		if (parse_int(slash + 1, 0, bits, &v, &why) < 0)
			return -1;
		*prefix = (int)v;
	}
	*host_bits = clear_host_bits(addr, bits / 8, *prefix);
	return 0;
}

static int
is_table_spec(const char *s)
{
	const char *p = s;

	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
		p++;
	return p > s && *p == ':' && p[1] != '\0';
}

static int
is_host_name(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > INET_MATCH_NAME_MAX)
		return 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch >= 0x80) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

static int
add_item(struct inet_match *m, const char *what, const char *text, struct str *err)
{
	struct item it;
	int host_bits = 0;

	memset(&it, 0, sizeof(it));
	if (inet_parse_network(text, &it.family, it.addr, &it.prefix, &host_bits) == 0) {
		it.kind = ITEM_NET;
		if (host_bits)
			msg_warn("%s: \"%s\": host bits set; using the network they are in", what,
			        text);
	} else if (is_table_spec(text)) {
		it.kind = ITEM_TABLE;
		it.table = table_open(text, TABLE_READ, err);
		if (it.table == NULL)
			return -1;
		m->tables = xreallocarray(m->tables, m->ntables + 1, sizeof(*m->tables));
		m->tables[m->ntables++] = it.table;
	} else if (is_host_name(text)) {
		it.kind = ITEM_NAME;
		it.name = xstrdup(text);
		m->wants_name = 1;
	} else {
		str_printf(
		        err, "%s: \"%s\": not an address, network, host name or table", what, text);
		return -1;
	}
	m->items = xreallocarray(m->items, m->n + 1, sizeof(*m->items));
	m->items[m->n++] = it;
	return 0;
}

struct inet_match *
inet_match_new(const char *what, char *const *items, struct str *err)
{
	struct inet_match *m = xcalloc(1, sizeof(*m));
	size_t count = 0;

	for (; items && items[count]; count++) {
		if (count >= INET_MATCH_ITEMS_MAX) {
			str_printf(err, "%s: more than %d items", what, INET_MATCH_ITEMS_MAX);
			inet_match_free(m);
			return NULL;
		}
		if (add_item(m, what, items[count], err) < 0) {
			inet_match_free(m);
			return NULL;
		}
	}
	return m;
}

void
inet_match_free(struct inet_match *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->items[i].name);
		if (m->items[i].table)
			table_close(m->items[i].table);
	}
	free(m->items);
	free(m->tables);
	free(m);
}

static int
net_contains(const struct item *it, int family, const unsigned char *addr)
{
	unsigned char copy[16];

	if (family != it->family)
		return 0;
	memcpy(copy, addr, family == AF_INET ? 4 : 16);
	clear_host_bits(copy, family == AF_INET ? 4 : 16, it->prefix);
	return memcmp(copy, it->addr, family == AF_INET ? 4 : 16) == 0;
}

int
inet_match_client(
        struct inet_match *m, const char *addr, const char *verified_name, struct str *err)
{
	unsigned char bin[16];
	int family = 0, have_addr;

	have_addr = addr != NULL && inet_parse_addr(addr, &family, bin) == 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct item *it = &m->items[i];
		int rc;

		switch (it->kind) {
		case ITEM_NET:
			if (have_addr && net_contains(it, family, bin))
				return 1;
			break;
		case ITEM_NAME:
			if (verified_name && strcasecmp(verified_name, it->name) == 0)
				return 1;
			break;
		case ITEM_TABLE:
			if (addr && (rc = table_lookup(it->table, addr, NULL, err)) != 0)
				return rc;
			if (verified_name &&
			        (rc = table_lookup(it->table, verified_name, NULL, err)) != 0)
				return rc;
			break;
		}
	}
	return 0;
}

int
inet_match_wants_name(const struct inet_match *m)
{
	return m->wants_name;
}

size_t
inet_match_table_count(const struct inet_match *m)
{
	return m->ntables;
}

struct table *
inet_match_table(const struct inet_match *m, size_t i)
{
	return i < m->ntables ? m->tables[i] : NULL;
}
