/*
 * table_inline.c - "inline:{k1=v1, k2=v2}": the pairs written in the spec.
 *
 * White space around keys, values, "=" and "," is ignored; a value runs
 * to the next "," or "}" (so it cannot hold either); "{}" is an empty
 * table and a trailing "," is allowed.  Keys are folded to lower case; a
 * repeated key keeps its first value (with a warning).  A malformed spec
 * is refused with the position (1-based, in the whole spec) where it
 * goes wrong.  Trusts nothing in the spec: it comes from main.cf or a
 * command line.  Called through table.c.
 */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"
#include "table_impl.h"

struct inline_pair {
	char *key;
	char *value;
};

struct inline_table {
	struct inline_pair *pairs;
	size_t count;
};

/* The text from p to end without white space at either end. */
static char *
trimmed_copy(const char *p, const char *end)
{
	p = table_skip_space(p);
	while (end > p && table_is_space((unsigned char)end[-1]))
		end--;
	return xstrndup(p, (size_t)(end - p));
}

static void
inline_free(struct inline_table *it)
{
	for (size_t i = 0; i < it->count; i++) {
		free(it->pairs[i].key);
		free(it->pairs[i].value);
	}
	free(it->pairs);
	free(it);
}

static struct inline_pair *
inline_find(struct inline_table *it, const char *key)
{
	for (size_t i = 0; i < it->count; i++)
		if (strcmp(it->pairs[i].key, key) == 0)
			return &it->pairs[i];
	return NULL;
}

/* Add one pair; 0, or -1 with a reason.  Takes ownership of key and value. */
static int
inline_add(
        struct table *t, struct inline_table *it, char *key, char *value, long pos, struct str *err)
{
	const char *why = NULL;

	if (*key == '\0')
		why = "empty key";
	else if (strlen(key) > TABLE_KEY_MAX)
		why = "key too long";
	else if (*value == '\0')
		why = "missing value";
	else if (strlen(value) > TABLE_VALUE_MAX)
		why = "value too long";
	else if (it->count >= TABLE_ENTRIES_MAX)
		why = "too many entries";
	if (why) {
		str_printf(err, "%s at position %ld", why, pos);
		free(key);
		free(value);
		return -1;
	}
	table_fold_case(key, strlen(key));
	if (inline_find(it, key)) {
		msg_warn("%s: duplicate key \"%s\" at position %ld: keeping the first value",
		        t->spec, key, pos);
		free(key);
		free(value);
		return 0;
	}
	it->pairs = xreallocarray(it->pairs, it->count + 1, sizeof(*it->pairs));
	it->pairs[it->count].key = key;
	it->pairs[it->count].value = value;
	it->count++;
	return 0;
}

/* Parse the pairs after "{"; p is just past it.  0, or -1 with a reason. */
static int
inline_parse(struct table *t, struct inline_table *it, const char *p, struct str *err)
{
	const char *key, *value;

#define POS(q) ((long)((q)-t->spec) + 1)
	for (;;) {
		p = table_skip_space(p);
		if (*p == '}') {
			p++;
			break;
		}
		key = p;
		p += strcspn(p, "=,}");
		if (*p != '=') {
			str_printf(err, "expected \"=\" after key at position %ld", POS(p));
			return -1;
		}
		value = ++p;
		p += strcspn(p, ",}");
		if (*p == '\0') {
			str_printf(err, "missing \"}\" at position %ld", POS(p));
			return -1;
		}
		if (inline_add(t, it, trimmed_copy(key, value - 1), trimmed_copy(value, p),
		            POS(key), err) != 0)
			return -1;
		if (*p++ == '}')
			break;
	}
	p = table_skip_space(p);
	if (*p != '\0') {
		str_printf(err, "unexpected text after \"}\" at position %ld", POS(p));
		return -1;
	}
#undef POS
	return 0;
}

static int
inline_open(struct table *t, struct str *err)
{
	struct inline_table *it = xcalloc(1, sizeof(*it));
	const char *p = table_skip_space(t->name);

	if (*p != '{') {
		str_printf(err, "expected \"{\" at position %ld", (long)(p - t->spec) + 1);
		free(it);
		return -1;
	}
	if (inline_parse(t, it, p + 1, err) != 0) {
		inline_free(it);
		return -1;
	}
	t->state = it;
	return 0;
}

static int
inline_lookup(struct table *t, const char *key, size_t klen, struct str *value, struct str *err)
{
	struct inline_pair *pair = inline_find(t->state, key);

	(void)klen;
	(void)err;
	if (pair == NULL)
		return 0;
	if (value)
		str_setz(value, pair->value);
	return 1;
}

static void
inline_close(struct table *t)
{
	if (t->state)
		inline_free(t->state);
	t->state = NULL;
}

const struct table_ops table_inline_ops = {
        .type = "inline",
        .flags = 0,
        .suffix = "",
        .open = inline_open,
        .lookup = inline_lookup,
        .close = inline_close,
};
