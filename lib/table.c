/*
 * table.c - lookup tables: parse "type:name", dispatch to the back end,
 * fold keys, enforce limits, notice replaced files; see table.h.
 *
 * Trusts the back ends (table_*.c, through table_impl.h) and nothing in
 * the spec or the keys: a spec comes from main.cf or the command line, a
 * key from the network.  Called by every daemon that consults a table,
 * by "tern check" and by "tern map".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mem.h"
#include "msg.h"
#include "table_impl.h"

static const struct table_ops *const table_types[] = {
        &table_cdb_ops,
        &table_hash_ops,
        &table_btree_ops,
        &table_inline_ops,
        &table_static_ops,
        &table_cidr_ops,
        &table_regexp_ops,
};

#define TABLE_TYPE_COUNT (sizeof(table_types) / sizeof(table_types[0]))

const struct table_ops *
table_find_ops(const char *type, size_t len)
{
	for (size_t i = 0; i < TABLE_TYPE_COUNT; i++)
		if (strlen(table_types[i]->type) == len &&
		        memcmp(table_types[i]->type, type, len) == 0)
			return table_types[i];
	return NULL;
}

static void
append_known_types(struct str *err)
{
	for (size_t i = 0; i < TABLE_TYPE_COUNT; i++)
		str_printf(err, "%s%s", i ? ", " : "", table_types[i]->type);
}

/* Find the back end for spec; NULL with a reason in why. */
static const struct table_ops *
spec_ops(const char *spec, int flags, struct str *why)
{
	const char *colon = strchr(spec, ':');
	const struct table_ops *ops;

	if (colon == NULL || colon == spec) {
		str_appendz(why, "missing table type (expected type:name; types are ");
		append_known_types(why);
		str_appendz(why, ")");
		return NULL;
	}
	if ((ops = table_find_ops(spec, (size_t)(colon - spec))) == NULL) {
		str_printf(why, "unknown table type \"%.*s\" (known types: ", (int)(colon - spec),
		        spec);
		append_known_types(why);
		str_appendz(why, ")");
		return NULL;
	}
	if (colon[1] == '\0') {
		str_printf(why, "missing table name after \"%s:\"", ops->type);
		return NULL;
	}
	if ((flags & TABLE_WRITE) && !(ops->flags & TABLE_OPS_WRITABLE)) {
		str_printf(why, "table type \"%s\" is read-only", ops->type);
		return NULL;
	}
	return ops;
}

static void
table_free(struct table *t)
{
	free(t->spec);
	free(t->path);
	free(t);
}

struct table *
table_open(const char *spec, int flags, struct str *err)
{
	struct str why = STR_INIT;
	const struct table_ops *ops;
	struct table *t;

	if ((ops = spec_ops(spec, flags, &why)) == NULL) {
		str_printf(err, "%s: %s", spec, str_cstr(&why));
		str_free(&why);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->ops = ops;
	t->flags = flags;
	t->spec = xstrdup(spec);
	t->name = strchr(t->spec, ':') + 1;
	if (ops->flags & TABLE_OPS_FILE) {
		struct str path = STR_INIT;

		str_printf(&path, "%s%s", t->name, ops->suffix);
		t->path = str_steal(&path);
		/* Before the open: a replacement in between reads as a change. */
		t->seen_valid = stat(t->path, &t->seen) == 0;
	}
	if (ops->open(t, &why) != 0) {
		str_printf(err, "%s: %s", spec, str_cstr(&why));
		str_free(&why);
		table_free(t);
		return NULL;
	}
	/* A cache may have been created or recreated by the open. */
	if (t->path && (flags & TABLE_WRITE))
		t->seen_valid = stat(t->path, &t->seen) == 0;
	str_free(&why);
	return t;
}

/* Copy key into buf (TABLE_KEY_MAX + 1 bytes), folded; its length, or -1 when too long. */
static long
table_key(const struct table *t, const char *key, char *buf)
{
	size_t len = strnlen(key, TABLE_KEY_MAX + 1);

	if (len > TABLE_KEY_MAX)
		return -1;
	memcpy(buf, key, len);
	buf[len] = '\0';
	if (!(t->ops->flags & TABLE_OPS_KEEPCASE))
		table_fold_case(buf, len);
	return (long)len;
}

int
table_lookup(struct table *t, const char *key, struct str *value, struct str *err)
{
	char buf[TABLE_KEY_MAX + 1];
	struct str why = STR_INIT;
	long len;
	int r;

	if ((len = table_key(t, key, buf)) < 0)
		return 0;
	r = t->ops->lookup(t, buf, (size_t)len, value, &why);
	if (r < 0) {
		msg_error("%s: lookup error: %s", t->spec, str_cstr(&why));
		if (err)
			str_printf(err, "%s: %s", t->spec, str_cstr(&why));
	}
	str_free(&why);
	return r;
}

/* Common checks of table_update() and table_delete(); the key's length or -1. */
static long
table_write_key(struct table *t, const char *key, char *buf, const char *what)
{
	long len;

	if (!(t->flags & TABLE_WRITE)) {
		msg_error("%s: %s: table is not open for writing", t->spec, what);
		return -1;
	}
	if ((len = table_key(t, key, buf)) < 0)
		msg_error("%s: %s: key longer than %d bytes", t->spec, what, TABLE_KEY_MAX);
	return len;
}

int
table_update(struct table *t, const char *key, const char *value)
{
	char buf[TABLE_KEY_MAX + 1];
	struct str why = STR_INIT;
	size_t vlen;
	long len;
	int r;

	if ((len = table_write_key(t, key, buf, "update")) < 0)
		return -1;
	if ((vlen = strnlen(value, TABLE_VALUE_MAX + 1)) > TABLE_VALUE_MAX) {
		msg_error("%s: update: value longer than %d bytes", t->spec, TABLE_VALUE_MAX);
		return -1;
	}
	if ((r = t->ops->update(t, buf, (size_t)len, value, vlen, &why)) < 0)
		msg_error("%s: update: %s", t->spec, str_cstr(&why));
	str_free(&why);
	return r < 0 ? -1 : 0;
}

int
table_delete(struct table *t, const char *key)
{
	char buf[TABLE_KEY_MAX + 1];
	struct str why = STR_INIT;
	long len;
	int r;

	if ((len = table_write_key(t, key, buf, "delete")) < 0)
		return -1;
	if ((r = t->ops->remove(t, buf, (size_t)len, &why)) < 0)
		msg_error("%s: delete: %s", t->spec, str_cstr(&why));
	str_free(&why);
	return r < 0 ? -1 : 0;
}

const char *
table_spec(const struct table *t)
{
	return t->spec;
}

int
table_changed(struct table *t)
{
	struct stat now;

	if (t->path == NULL)
		return 0;
	if (stat(t->path, &now) != 0)
		return t->seen_valid || errno != ENOENT;
	if (!t->seen_valid)
		return 1;
	if (now.st_dev != t->seen.st_dev || now.st_ino != t->seen.st_ino)
		return 1;
	/* A cache changes under our own writes; only its replacement counts. */
	if (t->flags & TABLE_WRITE)
		return 0;
	return now.st_size != t->seen.st_size || now.st_mtim.tv_sec != t->seen.st_mtim.tv_sec ||
	        now.st_mtim.tv_nsec != t->seen.st_mtim.tv_nsec;
}

void
table_close(struct table *t)
{
	if (t == NULL)
		return;
	t->ops->close(t);
	table_free(t);
}

int
table_check(const char *spec, struct str *err)
{
	struct table *t = table_open(spec, TABLE_READ, err);

	if (t == NULL)
		return -1;
	table_close(t);
	return 0;
}
