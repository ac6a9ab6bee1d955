/*
 * table_regexp.c - "regexp:/path/file": "/pattern/flags value" lines,
 * POSIX extended regular expressions, first match wins.
 *
 * File format (read with table_text.c): "#" comments, blank lines,
 * continuation lines; each entry is "/pattern/" (a "/" inside the pattern
 * is written "\/"), optional flags ("i": ignore case), white space, and
 * the value.  "!/pattern/" matches the keys that the pattern does not
 * match.  In the value, $1 .. $9 (or ${1} .. ${9}) stand for the groups
 * that matched, and $$ for a dollar sign.  Keys keep their case: the "i"
 * flag says when case does not matter.  A bad pattern, flag or "$", a
 * group number the pattern lacks, a missing value, or more than
 * TABLE_ENTRIES_MAX entries refuse the file with "file:line: reason".
 * Compiled once at table_open(); regexec(3) bounds the work per key by
 * the key length limit.  Called through table.c.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "table_impl.h"

#define REGEXP_GROUPS_MAX 9 /* $1 .. $9 */

struct regexp_entry {
	regex_t re;
	int negate;
	char *value;
};

struct regexp_table {
	struct regexp_entry *entries;
	size_t count;
};

/*
 * Check the "$" references in value against a pattern with groups
 * capture groups; 0, or -1 with a reason.
 */
static int
regexp_check_value(const char *value, size_t groups, int negate, struct str *why)
{
	for (const char *p = value; (p = strchr(p, '$')) != NULL;) {
		int n;

		if (p[1] == '$') {
			p += 2;
			continue;
		}
		if (p[1] >= '1' && p[1] <= '9')
			n = p[1] - '0', p += 2;
		else if (p[1] == '{' && p[2] >= '1' && p[2] <= '9' && p[3] == '}')
			n = p[2] - '0', p += 4;
		else {
			str_appendz(why, "bad \"$\" in the value (write $$ for a dollar sign)");
			return -1;
		}
		if (negate) {
			str_printf(why, "$%d in the value of a negated pattern", n);
			return -1;
		}
		if ((size_t)n > groups) {
			str_printf(why, "$%d in the value, but the pattern has %zu group%s", n,
			        groups, groups == 1 ? "" : "s");
			return -1;
		}
	}
	return 0;
}

/* Split "[!]/pattern/flags value"; 0, or -1 with a reason. */
static int
regexp_split(char *line, struct regexp_entry *e, char **pattern, int *cflags, char **value,
        struct str *why)
{
	char *p = line;

	if (*p == '!')
		e->negate = 1, p++;
	if (*p++ != '/') {
		str_appendz(why, "expected \"/pattern/\" at the start of the line");
		return -1;
	}
	*pattern = p;
	while (*p && *p != '/')
		p += p[0] == '\\' && p[1] ? 2 : 1;
	if (*p != '/') {
		str_appendz(why, "missing \"/\" at the end of the pattern");
		return -1;
	}
	if (p == *pattern) {
		str_appendz(why, "empty pattern");
		return -1;
	}
	*p++ = '\0';
	*cflags = REG_EXTENDED | (e->negate ? REG_NOSUB : 0);
	for (; *p && !table_is_space((unsigned char)*p); p++) {
		if (*p != 'i') {
			str_printf(why, "unknown flag \"%c\" (flags: i)", *p);
			return -1;
		}
		*cflags |= REG_ICASE;
	}
	*value = (char *)table_skip_space(p);
	if (**value == '\0') {
		str_appendz(why, "missing value");
		return -1;
	}
	return 0;
}

/* One logical line into e; 0, or -1 with a reason (e is then empty). */
static int
regexp_parse_line(struct table_text *tt, struct regexp_entry *e, struct str *why)
{
	char *line = tt->line.data, *pattern, *value;
	int cflags, r;

	memset(e, 0, sizeof(*e));
	if (regexp_split(line, e, &pattern, &cflags, &value, why) != 0)
		return -1;
	if ((r = regcomp(&e->re, pattern, cflags)) != 0) {
		char text[256];

		regerror(r, &e->re, text, sizeof(text));
		str_printf(why, "bad regular expression \"%s\": %s", pattern, text);
		return -1;
	}
	if (regexp_check_value(value, e->re.re_nsub, e->negate, why) != 0) {
		regfree(&e->re);
		return -1;
	}
	e->value = xstrdup(value);
	return 0;
}

static void
regexp_free(struct regexp_table *rt)
{
	for (size_t i = 0; i < rt->count; i++) {
		regfree(&rt->entries[i].re);
		free(rt->entries[i].value);
	}
	free(rt->entries);
	free(rt);
}

static int
regexp_add(struct regexp_table *rt, struct table_text *tt, struct str *err)
{
	struct str why = STR_INIT;
	struct regexp_entry e;

	if (rt->count >= TABLE_ENTRIES_MAX)
		str_printf(&why, "more than %d entries", TABLE_ENTRIES_MAX);
	else if (regexp_parse_line(tt, &e, &why) == 0) {
		if ((rt->count & (rt->count - 1)) == 0)
			rt->entries = xreallocarray(
			        rt->entries, rt->count ? rt->count * 2 : 1, sizeof(*rt->entries));
		rt->entries[rt->count++] = e;
		return 0;
	}
	str_printf(err, "%s:%ld: %s", tt->path, tt->start, str_cstr(&why));
	str_free(&why);
	return -1;
}

static int
regexp_open(struct table *t, struct str *err)
{
	struct regexp_table *rt = xcalloc(1, sizeof(*rt));
	struct table_text tt;
	int r;

	if (table_text_open(&tt, t->path, err) != 0) {
		free(rt);
		return -1;
	}
	while ((r = table_text_next(&tt, err)) == 1)
		if (regexp_add(rt, &tt, err) != 0) {
			r = -1;
			break;
		}
	table_text_close(&tt);
	if (r != 0) {
		regexp_free(rt);
		return -1;
	}
	t->state = rt;
	return 0;
}

/* Expand the value of e for key; 0, or -1 when it grows too long. */
static int
regexp_expand(const char *value, const char *key, const regmatch_t *m, struct str *out)
{
	str_reset(out);
	for (const char *p = value; *p; p++) {
		int n = -1;

		if (*p != '$')
			str_appendc(out, *p);
		else if (p[1] == '$')
			str_appendc(out, '$'), p++;
		else if (p[1] == '{')
			n = p[2] - '0', p += 3;
		else
			n = p[1] - '0', p++;
		if (n > 0 && m[n].rm_so >= 0)
			str_append(out, key + m[n].rm_so, (size_t)(m[n].rm_eo - m[n].rm_so));
		if (out->len > TABLE_VALUE_MAX)
			return -1;
	}
	return 0;
}

static int
regexp_lookup(struct table *t, const char *key, size_t klen, struct str *value, struct str *err)
{
	struct regexp_table *rt = t->state;
	regmatch_t m[REGEXP_GROUPS_MAX + 1];
	struct str expanded = STR_INIT;

	(void)klen;
	for (size_t i = 0; i < rt->count; i++) {
		struct regexp_entry *e = &rt->entries[i];
		int r = regexec(&e->re, key, e->negate ? 0 : REGEXP_GROUPS_MAX + 1,
		        e->negate ? NULL : m, 0);

		if (r != 0 && r != REG_NOMATCH) {
			str_printf(err, "%s: entry %zu: regexec failed (%d)", t->path, i + 1, r);
			return -1;
		}
		if ((r == 0) == e->negate)
			continue;
		if (value == NULL)
			return 1;
		if (regexp_expand(e->value, key, m, &expanded) != 0) {
			str_printf(err,
			        "%s: entry %zu: value longer than %d bytes after substitution",
			        t->path, i + 1, TABLE_VALUE_MAX);
			str_free(&expanded);
			return -1;
		}
		str_set(value, expanded.data, expanded.len);
		str_free(&expanded);
		return 1;
	}
	return 0;
}

static void
regexp_close(struct table *t)
{
	if (t->state)
		regexp_free(t->state);
	t->state = NULL;
}

const struct table_ops table_regexp_ops = {
        .type = "regexp",
        .flags = TABLE_OPS_FILE | TABLE_OPS_KEEPCASE,
        .suffix = "",
        .open = regexp_open,
        .lookup = regexp_lookup,
        .close = regexp_close,
};
