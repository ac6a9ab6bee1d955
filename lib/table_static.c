/*
 * table_static.c - "static:value" and "static:{value with spaces}": every
 * key maps to the one value.
 *
 * The braces let a value hold white space (main.cf splits lists at it);
 * "static:{}" is the empty value.  Trusts nothing in the spec.  Called
 * through table.c.
 */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "table_impl.h"

static int
static_open(struct table *t, struct str *err)
{
	const char *p = t->name, *end = p + strlen(p), *brace;

	if (*p == '{') {
		if ((brace = strchr(p, '}')) == NULL) {
			str_printf(err, "missing \"}\" at position %ld", (long)(end - t->spec) + 1);
			return -1;
		}
		if (brace[1] != '\0') {
			str_printf(err, "unexpected text after \"}\" at position %ld",
			        (long)(brace - t->spec) + 2);
			return -1;
		}
		p = table_skip_space(p + 1);
		for (end = brace; end > p && table_is_space((unsigned char)end[-1]); end--)
			;
	}
	if ((size_t)(end - p) > TABLE_VALUE_MAX) {
		str_printf(err, "value longer than %d bytes", TABLE_VALUE_MAX);
		return -1;
	}
	t->state = xstrndup(p, (size_t)(end - p));
	return 0;
}

static int
static_lookup(struct table *t, const char *key, size_t klen, struct str *value, struct str *err)
{
	(void)key;
	(void)klen;
	(void)err;
	if (value)
		str_setz(value, t->state);
	return 1;
}

static void
static_close(struct table *t)
{
	free(t->state);
	t->state = NULL;
}

const struct table_ops table_static_ops = {
        .type = "static",
        .flags = 0,
        .suffix = "",
        .open = static_open,
        .lookup = static_lookup,
        .close = static_close,
};
