/*
 * cleanup_rewrite.c - the envelope's addresses through canonical_maps,
 * sender_canonical_maps, recipient_canonical_maps and virtual_alias_maps,
 * then duplicate recipients removed.
 *
 * Trusts its tables (the administrator's, opened before the jail) only
 * as far as their syntax: a table's answer is split, qualified and
 * bounded like any other input, and a table that cannot be read defers
 * the message rather than guess.  Called by cleanup.c (the sender, at
 * request=open) and cleanup_headers.c (the recipients, when the header
 * is complete).
 *
 * A lookup tries, in order, each key against every table of the list:
 *
 *	user+ext@domain, user@domain		the full address
 *	user+ext, user				when domain is myorigin or in
 *						mydestination
 *	@domain					the whole domain
 *
 * (the "+ext" forms only with recipient_delimiter).  A result "@other"
 * keeps the local part; when a key without the extension matched, the
 * extension is put back into the result's local part.  Canonical maps
 * map one address to one: the senders through sender_canonical_maps then
 * canonical_maps, the recipients through recipient_canonical_maps then
 * canonical_maps, each list once.  virtual_alias_maps then map one
 * recipient to any number (a result is a list separated by commas or
 * blanks), recursively: an address that is its own ancestor (a loop,
 * "a -> a" or "a -> b -> a") is kept as it is and not expanded further;
 * deeper than virtual_alias_recursion_limit, or more than
 * virtual_alias_expansion_limit addresses from one recipient, defers the
 * message with a log line.  Duplicates are then removed, the first kept:
 * local parts compare exactly, domains without regard to case.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "table.h"

struct maps {
	const char *param;
	struct table **t;
	size_t n;
};

static struct maps canonical = {"canonical_maps", NULL, 0};
static struct maps sender_canonical = {"sender_canonical_maps", NULL, 0};
static struct maps rcpt_canonical = {"recipient_canonical_maps", NULL, 0};
static struct maps virtual_alias = {"virtual_alias_maps", NULL, 0};
static struct maps local_domain_tables = {"mydestination", NULL, 0};
static const char *delimiters = "";

static int
is_table_spec(const char *s)
{
	const char *p = s;

	while (islower((unsigned char)*p) || isdigit((unsigned char)*p))
		p++;
	return p > s && *p == ':';
}

static void
open_table(struct maps *m, const char *spec)
{
	struct str err = STR_INIT;
	struct table *t = table_open(spec, TABLE_READ, &err);

	if (t == NULL)
		msg_fatal("%s: %s", m->param, str_cstr(&err));
	m->t = xreallocarray(m->t, m->n + 1, sizeof(*m->t));
	m->t[m->n++] = t;
	daemon_watch_table(t);
	str_free(&err);
}

static void
open_maps(struct maps *m)
{
	char *const *list = config_list(cfg, m->param);

	for (size_t i = 0; list[i]; i++)
		open_table(m, list[i]);
}

void
cleanup_rewrite_init(void)
{
	char *const *dest = config_list(cfg, "mydestination");

	open_maps(&canonical);
	open_maps(&sender_canonical);
	open_maps(&rcpt_canonical);
	open_maps(&virtual_alias);
	for (size_t i = 0; dest[i]; i++)
		if (is_table_spec(dest[i]))
			open_table(&local_domain_tables, dest[i]);
	delimiters = config_str(cfg, "recipient_delimiter");
}

/* ---- keys and lookups ---- */

static int
domain_is_local(const char *domain, struct str *err)
{
	struct str key = STR_INIT;
	int found = 0;

	if (strcasecmp(domain, cleanup_myorigin) == 0)
		return 1;
	for (size_t i = 0; cleanup_mydestination[i]; i++)
		if (!is_table_spec(cleanup_mydestination[i]) &&
		        strcasecmp(domain, cleanup_mydestination[i]) == 0)
			return 1;
	str_setz(&key, domain);
	for (size_t i = 0; i < local_domain_tables.n && found == 0; i++)
		found = table_lookup(local_domain_tables.t[i], str_cstr(&key), NULL, err);
	str_free(&key);
	return found;
}

/* One key against every table of m: 1 found, 0 not, -1 error. */
static int
lookup_key(const struct maps *m, const char *key, struct str *value, struct str *err)
{
	for (size_t i = 0; i < m->n; i++) {
		int rc = table_lookup(m->t[i], key, value, err);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Put ext back into addr's local part ("user@d" -> "user+ext@d"). */
static void
add_extension(const char *addr, char delim, const char *ext, struct str *out)
{
	const char *at = strrchr(addr, '@');
	size_t local = at ? (size_t)(at - addr) : strlen(addr);

	str_append(out, addr, local);
	str_appendc(out, delim);
	str_appendz(out, ext);
	if (at)
		str_appendz(out, at);
}

/*
 * Look address up in m by the keys above.  Returns 1 with the result in
 * out (the "@domain" and extension rules applied), 0 when not found, -1
 * on a table error.
 */
static int
lookup_address(const struct maps *m, const char *address, struct str *out, struct str *err)
{
	const char *at = strrchr(address, '@');
	struct str local = STR_INIT, base = STR_INIT, key = STR_INIT, value = STR_INIT;
	const char *domain = at ? at + 1 : "", *ext = NULL;
	char delim = '\0';
	int rc = 0, local_domain, base_matched = 0;

	if (m->n == 0 || *address == '\0')
		return 0;
	str_set(&local, address, at ? (size_t)(at - address) : strlen(address));
	str_set(&base, local.data, local.len);
	if (*delimiters) {
		size_t cut = strcspn(str_cstr(&local), delimiters);

		if (cut > 0 && cut < local.len) {
			delim = local.data[cut];
			ext = str_cstr(&local) + cut + 1;
			str_truncate(&base, cut);
		}
	}
	/* user+ext@domain, user@domain */
	rc = lookup_key(m, address, &value, err);
	if (rc == 0 && ext) {
		str_printf(&key, "%s@%s", str_cstr(&base), domain);
		if ((rc = lookup_key(m, str_cstr(&key), &value, err)) == 1)
			base_matched = 1;
	}
	/* user+ext, user: only in our own domains */
	if (rc == 0 && at && (local_domain = domain_is_local(domain, err)) != 0) {
		if (local_domain < 0)
			rc = -1;
		else if ((rc = lookup_key(m, str_cstr(&local), &value, err)) == 0 && ext &&
		        (rc = lookup_key(m, str_cstr(&base), &value, err)) == 1)
			base_matched = 1;
	}
	/* @domain */
	if (rc == 0 && at) {
		str_reset(&key);
		str_printf(&key, "@%s", domain);
		rc = lookup_key(m, str_cstr(&key), &value, err);
	}
	if (rc == 1) {
		const char *v = str_cstr(&value);

		str_reset(out);
		if (v[0] == '@')
			str_printf(out, "%s%s", str_cstr(base_matched ? &base : &local), v);
		else if (base_matched && strchr(v, ',') == NULL && strchr(v, ' ') == NULL)
			add_extension(v, delim, ext, out);
		else
			str_appendz(out, v);
	}
	if (rc < 0 && err->len == 0)
		str_printf(err, "lookup of %s failed", address);
	str_free(&local);
	str_free(&base);
	str_free(&key);
	str_free(&value);
	return rc;
}

/* One address through the canonical lists, each at most once. */
static int
canonicalize(const struct maps *first, const char *address, struct str *out, struct str *err)
{
	struct str tmp = STR_INIT, q = STR_INIT;
	int rc;

	str_setz(out, address);
	for (int pass = 0; pass < 2; pass++) {
		const struct maps *m = pass == 0 ? first : &canonical;

		rc = lookup_address(m, str_cstr(out), &tmp, err);
		if (rc < 0) {
			str_free(&tmp);
			str_free(&q);
			return -1;
		}
		if (rc == 1) {
			/* one address: the first item of the answer */
			size_t n = strcspn(str_cstr(&tmp), ", \t");

			str_truncate(&tmp, n);
			if (tmp.len > 0) {
				str_reset(&q);
				cleanup_qualify(str_cstr(&tmp), &q);
				str_set(out, q.data, q.len);
			}
		}
	}
	str_free(&tmp);
	str_free(&q);
	return 0;
}

enum cleanup_status
cleanup_rewrite_sender(const char *sender, struct str *out, struct str *err)
{
	if (*sender == '\0') {
		str_setz(out, "");
		return CLEANUP_OK;
	}
	return canonicalize(&sender_canonical, sender, out, err) < 0 ? CLEANUP_DEFER : CLEANUP_OK;
}

/* ---- virtual aliases ---- */

/* Local parts compare exactly, domains without regard to case. */
static int
same_address(const char *a, const char *b)
{
	const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');
	size_t la = at_a ? (size_t)(at_a - a) : strlen(a);
	size_t lb = at_b ? (size_t)(at_b - b) : strlen(b);

	if (la != lb || memcmp(a, b, la) != 0 || (at_a == NULL) != (at_b == NULL))
		return 0;
	return at_a == NULL || strcasecmp(at_a, at_b) == 0;
}

struct expansion {
	const char *id;
	const struct cleanup_rcpt *from;
	struct cleanup_final_list *out;
	size_t made;        /* addresses made from this recipient */
	const char **chain; /* the ancestors of the address being expanded */
	size_t depth;
	struct str *err;
};

static int
emit(struct expansion *x, const char *address)
{
	struct cleanup_final_list *l = x->out;

	if (++x->made > (size_t)cleanup_expansion_limit) {
		str_printf(x->err, "virtual alias expansion of <%s> makes more than %lld addresses",
		        x->from->address, cleanup_expansion_limit);
		return -1;
	}
	if (l->n >= CLEANUP_RCPT_MAX) {
		str_printf(x->err, "more than %d recipients after virtual alias expansion",
		        CLEANUP_RCPT_MAX);
		return -1;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].address = xstrdup(address);
	l->v[l->n].from = x->from;
	l->n++;
	return 0;
}

static int
expand(struct expansion *x, const char *address)
{
	struct str value = STR_INIT, q = STR_INIT;
	char **items;
	int rc;

	if (x->depth > (size_t)cleanup_recursion_limit) {
		str_printf(x->err, "virtual alias expansion of <%s> nests deeper than %lld",
		        x->from->address, cleanup_recursion_limit);
		return -1;
	}
	rc = lookup_address(&virtual_alias, address, &value, x->err);
	if (rc <= 0) {
		str_free(&value);
		return rc < 0 ? -1 : emit(x, address);
	}
	x->chain[x->depth++] = address;
	items = param_list_split(str_cstr(&value));
	for (size_t i = 0; items[i] && rc >= 0; i++) {
		int loop = 0;

		str_reset(&q);
		cleanup_qualify(items[i], &q);
		for (size_t k = 0; k < x->depth && !loop; k++)
			loop = same_address(str_cstr(&q), x->chain[k]);
		if (loop) {
			msg_debug("%s: virtual alias loop at <%s>: kept", x->id, str_cstr(&q));
			rc = emit(x, str_cstr(&q));
		} else {
			rc = expand(x, str_cstr(&q)) < 0 ? -1 : 0;
		}
	}
	x->depth--;
	param_list_free(items);
	str_free(&value);
	str_free(&q);
	return rc < 0 ? -1 : 0;
}

/* ---- duplicates ---- */

static uint64_t
address_hash(const char *a)
{
	const char *at = strrchr(a, '@');
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = a; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (at && p > at)
			c = (unsigned char)tolower(c);
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

static void
remove_duplicates(struct cleanup_final_list *l)
{
	size_t size = 16, kept = 0;
	size_t *slot;

	while (size < 2 * l->n)
		size *= 2;
	slot = xcalloc(size, sizeof(*slot)); /* index + 1; 0 is empty */
	for (size_t i = 0; i < l->n; i++) {
		size_t h = (size_t)(address_hash(l->v[i].address) & (size - 1));
		int dup = 0;

		while (slot[h] != 0 && !dup) {
			dup = same_address(l->v[slot[h] - 1].address, l->v[i].address);
			h = (h + 1) & (size - 1);
		}
		if (dup) {
			free(l->v[i].address);
			continue;
		}
		l->v[kept] = l->v[i];
		slot[h] = ++kept;
	}
	l->n = kept;
	free(slot);
}

enum cleanup_status
cleanup_rewrite_rcpts(const char *id, const struct cleanup_rcpt_list *in,
        struct cleanup_final_list *out, struct str *err)
{
	struct str canon = STR_INIT;
	const char **chain = xcalloc((size_t)cleanup_recursion_limit + 2, sizeof(*chain));
	int rc = 0;

	for (size_t i = 0; i < in->n && rc == 0; i++) {
		struct expansion x = {id, &in->v[i], out, 0, chain, 0, err};

		if ((rc = canonicalize(&rcpt_canonical, in->v[i].address, &canon, err)) == 0)
			rc = expand(&x, str_cstr(&canon));
	}
	free(chain);
	str_free(&canon);
	if (rc < 0) {
		msg_warn("%s: %s", id, str_cstr(err));
		return CLEANUP_DEFER;
	}
	remove_duplicates(out);
	return CLEANUP_OK;
}

void
cleanup_final_list_free(struct cleanup_final_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].address);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
