/*
 * config.c - read main.cf, expand $name references, check and serve the
 * typed values of the parameter table (config_params.c); see config.h.
 *
 * Trusts main.cf as the administrator's file, but still bounds every
 * line, name and expansion, and reports each fault with "file:line".
 * Called by every daemon and command at start (config_load, config_set
 * for master.cf -o overrides, config_validate) and then through the
 * typed getters; by `tern check` and `tern config` to report and dump.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "str.h"

/* What is known about one parameter's value. */
enum entry_state {
	ENTRY_UNKNOWN, /* not yet expanded and checked */
	ENTRY_GOOD,    /* value (and num) valid */
	ENTRY_BAD,     /* expansion or type check failed */
};

struct entry {
	const struct param_def *def; /* NULL for a name not in the table */
	char *name;                  /* owned when def is NULL */
	char *raw;                   /* as set; NULL means the default */
	char *deflt;                 /* a default other than the table's, or NULL */
	char *origin;                /* "file:line" or where; NULL for default */
	unsigned long seq;           /* order of setting, for ordered reports */
	enum entry_state state;
	char *value; /* expanded, when state is ENTRY_GOOD */
	long long num;
	char **list; /* split value, made on demand */
};

struct config {
	struct entry *entries; /* param_table order, then unknown names */
	size_t count, cap;
	char *path; /* main.cf as given to config_load */
	unsigned long seq;
	char **retired; /* values handed out before a config_set: kept until free */
	size_t nretired, capretired;
};

struct config *cfg;

/* The stack of entries being expanded, for loop detection. */
struct expansion {
	size_t stack[CONFIG_EXPAND_DEPTH + 1];
	int depth;
};

static int entry_expand(struct config *c, size_t i, struct expansion *ex, struct str *why);

static int
is_name_char(int ch)
{
	return isalnum((unsigned char)ch) || ch == '_';
}

static int
name_valid(const char *name, size_t len)
{
	if (len == 0 || len > CONFIG_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(name[i]))
			return 0;
	return 1;
}

/*
 * Lists: items separated by commas and white space; braces group, so
 * "inline:{a=1, b=2}" and "{ text with spaces }" are single items.
 */
char **
param_list_split(const char *value)
{
	char **items = NULL;
	size_t n = 0, cap = 0;
	const char *p = value, *start;
	int depth;

	for (;;) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		depth = 0;
		for (; *p; p++) {
			if (*p == '{')
				depth++;
			else if (*p == '}' && depth > 0)
				depth--;
			else if (depth == 0 && (*p == ',' || isspace((unsigned char)*p)))
				break;
		}
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 8;
			items = xreallocarray(items, cap, sizeof(*items));
		}
		items[n++] = xstrndup(start, (size_t)(p - start));
	}
	if (items == NULL)
		items = xcalloc(1, sizeof(*items));
	items[n] = NULL;
	return items;
}

void
param_list_free(char **items)
{
	if (items == NULL)
		return;
	for (size_t i = 0; items[i]; i++)
		free(items[i]);
	free(items);
}

static int
check_bounds(const struct param_def *p, long long v, const char *what, struct str *why)
{
	char val[32], limit[32];
	long long bound = v < p->min ? p->min : p->max;

	if (v >= p->min && v <= p->max)
		return 0;
	if (p->type == PARAM_TIME) {
		format_duration(v, val, sizeof(val));
		format_duration(bound, limit, sizeof(limit));
	} else {
		snprintf(val, sizeof(val), "%lld", v);
		snprintf(limit, sizeof(limit), "%lld", bound);
	}
	str_printf(why, "%s %s is %s the %s %s", what, val, v < p->min ? "below" : "above",
	        v < p->min ? "minimum" : "maximum", limit);
	return -1;
}

/* Parse value by p's type into *num (numbers, sizes, seconds, booleans). */
static int
param_parse(const struct param_def *p, const char *value, long long *num, struct str *why)
{
	const char *reason = NULL;
	int b;

	*num = 0;
	switch (p->type) {
	case PARAM_STR:
	case PARAM_LIST:
		return 0;
	case PARAM_INT:
		if (parse_int(value, LLONG_MIN, LLONG_MAX, num, &reason) < 0)
			break;
		return check_bounds(p, *num, "number", why);
	case PARAM_BOOL:
		if (parse_bool(value, &b, &reason) < 0)
			break;
		*num = b;
		return 0;
	case PARAM_TIME:
		if (parse_duration(value, p->time_unit, num, &reason) < 0)
			break;
		return check_bounds(p, *num, "time", why);
	case PARAM_SIZE:
		if (parse_size(value, num, &reason) < 0)
			break;
		return check_bounds(p, *num, "size", why);
	}
	str_printf(why, "\"%s\": %s", value, reason ? reason : "bad value");
	return -1;
}

int
param_check_value(const struct param_def *p, const char *value, struct str *why)
{
	long long num;

	if (param_parse(p, value, &num, why) < 0)
		return -1;
	if (p->check && p->check(value, why) < 0)
		return -1;
	return 0;
}

/* Check the "$" syntax of a raw value without expanding it. */
static int
syntax_check(const char *raw, struct str *why)
{
	const char *p = raw, *end;

	while ((p = strchr(p, '$')) != NULL) {
		p++;
		if (*p == '$') {
			p++;
		} else if (*p == '{' || *p == '(') {
			end = strchr(p + 1, *p == '{' ? '}' : ')');
			if (end == NULL || !name_valid(p + 1, (size_t)(end - p - 1))) {
				str_printf(why, "bad \"$%c\" reference (expected $%cname%c)", *p,
				        *p, *p == '{' ? '}' : ')');
				return -1;
			}
			p = end + 1;
		} else if (is_name_char(*p)) {
			while (is_name_char(*p))
				p++;
		} else if (*p == '\0') {
			str_appendz(why, "\"$\" at the end of the value (use $$ for a literal $)");
			return -1;
		} else {
			str_printf(why, "bad \"$\" escape \"$%c\" (use $$ for a literal $)", *p);
			return -1;
		}
	}
	return 0;
}

static void
config_grow(struct config *c)
{
	if (c->count == c->cap) {
		c->cap = c->cap ? c->cap * 2 : param_count + 16;
		c->entries = xreallocarray(c->entries, c->cap, sizeof(*c->entries));
	}
}

struct config *
config_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));

	for (size_t i = 0; i < param_count; i++) {
		config_grow(c);
		memset(&c->entries[c->count], 0, sizeof(c->entries[0]));
		c->entries[c->count].def = &param_table[i];
		c->count++;
	}
	return c;
}

static const char *
entry_name(const struct entry *e)
{
	return e->def ? e->def->name : e->name;
}

/* The entry for name, or -1. */
static long
entry_find(const struct config *c, const char *name)
{
	const struct param_def *p = param_find(name);

	if (p)
		return p - param_table;
	for (size_t i = param_count; i < c->count; i++)
		if (strcmp(c->entries[i].name, name) == 0)
			return (long)i;
	return -1;
}

struct config *
config_clone(const struct config *c)
{
	struct config *d = xcalloc(1, sizeof(*d));

	d->count = d->cap = c->count;
	d->entries = xcalloc(c->count, sizeof(*d->entries));
	for (size_t i = 0; i < c->count; i++) {
		const struct entry *e = &c->entries[i];

		d->entries[i].def = e->def;
		d->entries[i].name = e->name ? xstrdup(e->name) : NULL;
		d->entries[i].raw = e->raw ? xstrdup(e->raw) : NULL;
		d->entries[i].deflt = e->deflt ? xstrdup(e->deflt) : NULL;
		d->entries[i].origin = e->origin ? xstrdup(e->origin) : NULL;
		d->entries[i].seq = e->seq;
	}
	d->path = c->path ? xstrdup(c->path) : NULL;
	d->seq = c->seq;
	return d;
}

static void
retire(struct config *c, char *p)
{
	if (p == NULL)
		return;
	if (c->nretired == c->capretired) {
		c->capretired = c->capretired ? c->capretired * 2 : 16;
		c->retired = xreallocarray(c->retired, c->capretired, sizeof(*c->retired));
	}
	c->retired[c->nretired++] = p;
}

/* Forget every expanded value (a setting changed; others may use it). */
static void
config_invalidate(struct config *c)
{
	for (size_t i = 0; i < c->count; i++) {
		struct entry *e = &c->entries[i];

		retire(c, e->value);
		if (e->list) {
			for (size_t j = 0; e->list[j]; j++)
				retire(c, e->list[j]);
			retire(c, (char *)e->list);
		}
		e->value = NULL;
		e->list = NULL;
		e->state = ENTRY_UNKNOWN;
	}
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	config_invalidate(c);
	for (size_t i = 0; i < c->count; i++) {
		free(c->entries[i].name);
		free(c->entries[i].raw);
		free(c->entries[i].deflt);
		free(c->entries[i].origin);
	}
	for (size_t i = 0; i < c->nretired; i++)
		free(c->retired[i]);
	free(c->retired);
	free(c->entries);
	free(c->path);
	free(c);
}

/* Store a setting: the last one wins. */
static void
config_store(struct config *c, const char *name, const char *value, const char *origin)
{
	long i = entry_find(c, name);
	struct entry *e;

	if (i < 0) {
		config_grow(c);
		i = (long)c->count++;
		memset(&c->entries[i], 0, sizeof(c->entries[0]));
		c->entries[i].name = xstrdup(name);
	}
	config_invalidate(c);
	e = &c->entries[i];
	free(e->raw);
	free(e->origin);
	e->raw = xstrdup(value);
	e->origin = xstrdup(origin);
	e->seq = ++c->seq;
}

static void
trim(struct str *s)
{
	size_t start = 0;

	while (s->len > 0 && isspace((unsigned char)s->data[s->len - 1]))
		s->len--;
	while (start < s->len && isspace((unsigned char)s->data[start]))
		start++;
	str_consume(s, start);
	str_cstr(s);
	if (s->data)
		s->data[s->len] = '\0';
}

/* One logical line: "name = value".  Returns the error count (0 or 1). */
static int
config_parse_line(struct config *c, const char *path, unsigned long lineno, struct str *line,
        struct str *errors, struct str *warnings)
{
	const char *p = str_cstr(line), *name = p;
	struct str why = STR_INIT;
	char origin[64 + PATH_MAX];
	char *namez;
	size_t nlen;
	int bad = 0;

	while (is_name_char(*p))
		p++;
	nlen = (size_t)(p - name);
	while (*p == ' ' || *p == '\t')
		p++;
	if (nlen == 0 || *p != '=') {
		str_printf(errors, "%s:%lu: %s\n", path, lineno,
		        nlen == 0 ? "expected a parameter name at the start of the line"
		                  : "missing \"=\" after the parameter name");
		return 1;
	}
	if (nlen > CONFIG_NAME_MAX) {
		str_printf(errors, "%s:%lu: parameter name longer than %d bytes\n", path, lineno,
		        CONFIG_NAME_MAX);
		return 1;
	}
	namez = xstrndup(name, nlen);
	p++;
	while (isspace((unsigned char)*p))
		p++;
	snprintf(origin, sizeof(origin), "%s:%lu", path, lineno);
	if (syntax_check(p, &why) < 0) {
		str_printf(errors, "%s: parameter %s: %s\n", origin, namez, str_cstr(&why));
		bad = 1;
	} else {
		if (param_find(namez) == NULL && warnings)
			str_printf(warnings, "%s: unknown parameter %s\n", origin, namez);
		config_store(c, namez, p, origin);
	}
	free(namez);
	str_free(&why);
	return bad;
}

/* Is a physical line blank or a comment (first non-space is "#")? */
static int
line_is_ignorable(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && isspace((unsigned char)s[i]))
		i++;
	return i == len || s[i] == '#';
}

int
config_load(struct config *c, const char *path, struct str *errors, struct str *warnings)
{
	struct str logical = STR_INIT;
	unsigned long lineno = 0, start = 0;
	char *buf = NULL;
	size_t bufsize = 0;
	ssize_t n;
	int nerr = 0, skipping = 0;
	FILE *fp;

	free(c->path);
	c->path = xstrdup(path);
	if ((fp = fopen(path, "r")) == NULL) {
		str_printf(errors, "%s: cannot open: %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = getline(&buf, &bufsize, fp)) >= 0) {
		size_t len = (size_t)n;

		lineno++;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (line_is_ignorable(buf, len))
			continue;
		if (!isspace((unsigned char)buf[0])) {
			/* A new logical line: finish the previous one. */
			if (logical.len > 0 && !skipping) {
				trim(&logical);
				nerr += config_parse_line(
				        c, path, start, &logical, errors, warnings);
			}
			str_reset(&logical);
			skipping = 0;
			start = lineno;
		} else if (start == 0) {
			str_printf(errors,
			        "%s:%lu: continuation line without a parameter before it\n", path,
			        lineno);
			nerr++;
			skipping = 1;
			start = lineno;
			continue;
		}
		if (skipping)
			continue;
		if (memchr(buf, '\0', len) != NULL) {
			str_printf(errors, "%s:%lu: line contains a NUL byte\n", path, lineno);
			nerr++;
			skipping = 1;
			continue;
		}
		if (len > CONFIG_LINE_MAX || logical.len + len + 1 > CONFIG_LINE_MAX) {
			str_printf(errors, "%s:%lu: line longer than %d bytes\n", path, lineno,
			        CONFIG_LINE_MAX);
			nerr++;
			skipping = 1;
			continue;
		}
		if (logical.len > 0) {
			size_t i = 0;

			while (i < len && isspace((unsigned char)buf[i]))
				i++;
			str_appendc(&logical, ' ');
			str_append(&logical, buf + i, len - i);
		} else {
			str_append(&logical, buf, len);
		}
	}
	if (ferror(fp)) {
		str_printf(errors, "%s: read error: %s\n", path, strerror(errno));
		nerr++;
	} else if (logical.len > 0 && !skipping) {
		trim(&logical);
		nerr += config_parse_line(c, path, start, &logical, errors, warnings);
	}
	fclose(fp);
	free(buf);
	str_free(&logical);
	return nerr;
}

int
config_load_dir(struct config *c, const char *dir, struct str *errors, struct str *warnings)
{
	struct str path = STR_INIT, abs = STR_INIT;
	struct entry *e = &c->entries[param_find("config_directory") - param_table];
	char cwd[PATH_MAX];
	int nerr;

	if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		str_printf(&abs, "%s/", cwd);
	str_appendz(&abs, dir);
	while (abs.len > 1 && abs.data[abs.len - 1] == '/')
		str_truncate(&abs, abs.len - 1);
	config_invalidate(c);
	free(e->deflt);
	e->deflt = xstrdup(str_cstr(&abs));
	str_printf(&path, "%s/main.cf", dir);
	nerr = config_load(c, str_cstr(&path), errors, warnings);
	str_free(&path);
	str_free(&abs);
	return nerr;
}

int
config_set(struct config *c, const char *name, const char *value, const char *where,
        struct str *errors)
{
	const struct param_def *p;
	struct str why = STR_INIT;
	int ret = 0;

	if (!name_valid(name, strlen(name))) {
		str_printf(errors, "%s: bad parameter name \"%s\"\n", where, name);
		return -1;
	}
	p = param_find(name);
	if (syntax_check(value, &why) < 0 ||
	        (p && strchr(value, '$') == NULL && param_check_value(p, value, &why) < 0)) {
		str_printf(errors, "%s: parameter %s: %s\n", where, name, str_cstr(&why));
		ret = -1;
	} else {
		config_store(c, name, value, where);
	}
	str_free(&why);
	return ret;
}

/* The raw value: the setting, else the default. */
static const char *
entry_raw(const struct entry *e)
{
	if (e->raw)
		return e->raw;
	if (e->deflt)
		return e->deflt;
	return e->def ? e->def->defval : "";
}

static void
hostname_value(struct str *out)
{
	char host[HOST_NAME_MAX + 1];

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[HOST_NAME_MAX] = '\0';
	str_setz(out, host);
}

/* Expand text into out; why gets the reason on failure. */
static int
expand_text(
        struct config *c, const char *text, struct expansion *ex, struct str *out, struct str *why)
{
	const char *p = text, *name, *end;
	char nbuf[CONFIG_NAME_MAX + 1];
	size_t nlen;
	long i;

	while (*p) {
		if (*p != '$') {
			const char *q = strchr(p, '$');
			size_t run = q ? (size_t)(q - p) : strlen(p);

			str_append(out, p, run);
			p += run;
			continue;
		}
		p++;
		if (*p == '$') {
			str_appendc(out, '$');
			p++;
			continue;
		}
		if (*p == '{' || *p == '(') {
			name = p + 1;
			end = strchr(name, *p == '{' ? '}' : ')');
			if (end == NULL) {
				str_printf(why, "bad \"$%c\" reference", *p);
				return -1;
			}
			nlen = (size_t)(end - name);
			p = end + 1;
		} else {
			name = p;
			while (is_name_char(*p))
				p++;
			nlen = (size_t)(p - name);
		}
		if (!name_valid(name, nlen)) {
			str_appendz(why, "bad \"$\" escape (use $$ for a literal $)");
			return -1;
		}
		memcpy(nbuf, name, nlen);
		nbuf[nlen] = '\0';
		if ((i = entry_find(c, nbuf)) < 0) {
			str_printf(why, "undefined parameter $%s", nbuf);
			return -1;
		}
		if (entry_expand(c, (size_t)i, ex, why) < 0)
			return -1;
		str_appendz(out, c->entries[i].value);
	}
	return 0;
}

/* The special defaults that depend on the host. */
static int
entry_special(
        struct config *c, struct entry *e, struct expansion *ex, struct str *val, struct str *why)
{
	const char *name = entry_name(e), *dot;
	long i;

	if (strcmp(name, "myhostname") == 0 && val->len == 0) {
		hostname_value(val);
	} else if (strcmp(name, "mydomain") == 0 && e->raw == NULL) {
		if ((i = entry_find(c, "myhostname")) < 0 ||
		        entry_expand(c, (size_t)i, ex, why) < 0)
			return -1;
		dot = strchr(c->entries[i].value, '.');
		str_setz(val, dot && dot[1] ? dot + 1 : "localdomain");
	}
	return 0;
}

static int
entry_expand(struct config *c, size_t i, struct expansion *ex, struct str *why)
{
	struct entry *e = &c->entries[i];
	struct str val = STR_INIT;
	long long num = 0;
	int ret = -1;

	if (e->state == ENTRY_GOOD)
		return 0;
	for (int k = 0; k < ex->depth; k++) {
		if (ex->stack[k] == i) {
			str_printf(why, "recursive expansion of $%s", entry_name(e));
			return -1;
		}
	}
	if (ex->depth > CONFIG_EXPAND_DEPTH) {
		str_printf(why, "recursive expansion of $%s (more than %d levels)", entry_name(e),
		        CONFIG_EXPAND_DEPTH);
		return -1;
	}
	ex->stack[ex->depth++] = i;
	if (expand_text(c, entry_raw(e), ex, &val, why) == 0 &&
	        entry_special(c, e, ex, &val, why) == 0) {
		if (e->def == NULL || param_parse(e->def, str_cstr(&val), &num, why) == 0)
			ret = 0;
	}
	ex->depth--;
	if (ret == 0) {
		e->value = str_steal(&val);
		if (e->value == NULL)
			e->value = xstrdup("");
		e->num = num;
		e->state = ENTRY_GOOD;
	}
	str_free(&val);
	return ret;
}

/* Report one entry's expansion and type errors; return 0 or 1. */
static int
entry_validate(struct config *c, size_t i, struct str *errors)
{
	struct entry *e = &c->entries[i];
	struct expansion ex = {.depth = 0};
	struct str why = STR_INIT;
	int bad = 0;

	if (entry_expand(c, i, &ex, &why) < 0 ||
	        (e->def && e->def->check && e->def->check(e->value, &why) < 0)) {
		if (e->origin)
			str_printf(errors, "%s: parameter %s: %s\n", e->origin, entry_name(e),
			        str_cstr(&why));
		else
			str_printf(errors, "%s: parameter %s: %s (default value \"%s\")\n",
			        config_path(c), entry_name(e), str_cstr(&why), entry_raw(e));
		bad = 1;
	}
	str_free(&why);
	return bad;
}

static int
seq_compare(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

int
config_validate(struct config *c, struct str *errors)
{
	const struct entry **set = xcalloc(c->count + 1, sizeof(*set));
	size_t nset = 0;
	int nerr = 0;

	/* Settings in the order they were made, then the defaults. */
	for (size_t i = 0; i < c->count; i++)
		if (c->entries[i].raw && c->entries[i].def)
			set[nset++] = &c->entries[i];
	qsort(set, nset, sizeof(*set), seq_compare);
	for (size_t k = 0; k < nset; k++)
		nerr += entry_validate(c, (size_t)(set[k] - c->entries), errors);
	for (size_t i = 0; i < param_count; i++)
		if (c->entries[i].raw == NULL)
			nerr += entry_validate(c, i, errors);
	free(set);
	return nerr;
}

/* The entry for a getter: known, expanded and valid, or fatal. */
static struct entry *
config_get(struct config *c, const char *name, const char *getter)
{
	struct expansion ex = {.depth = 0};
	struct str why = STR_INIT;
	const struct param_def *p;
	struct entry *e;

	if (c == NULL)
		msg_panic("%s(%s): no configuration loaded", getter, name);
	if ((p = param_find(name)) == NULL)
		msg_panic("%s: unknown parameter %s", getter, name);
	e = &c->entries[p - param_table];
	if (e->state != ENTRY_GOOD && entry_expand(c, (size_t)(p - param_table), &ex, &why) < 0)
		msg_fatal("%s: parameter %s: %s", e->origin ? e->origin : config_path(c), name,
		        str_cstr(&why));
	str_free(&why);
	return e;
}

static struct entry *
config_get_typed(struct config *c, const char *name, const char *getter, enum param_type t1,
        enum param_type t2)
{
	struct entry *e = config_get(c, name, getter);

	if (e->def->type != t1 && e->def->type != t2)
		msg_panic("%s: parameter %s has another type", getter, name);
	return e;
}

const char *
config_str(struct config *c, const char *name)
{
	return config_get(c, name, "config_str")->value;
}

long long
config_int(struct config *c, const char *name)
{
	return config_get_typed(c, name, "config_int", PARAM_INT, PARAM_INT)->num;
}

int
config_bool(struct config *c, const char *name)
{
	return (int)config_get_typed(c, name, "config_bool", PARAM_BOOL, PARAM_BOOL)->num;
}

long long
config_time(struct config *c, const char *name)
{
	return config_get_typed(c, name, "config_time", PARAM_TIME, PARAM_TIME)->num;
}

long long
config_size(struct config *c, const char *name)
{
	return config_get_typed(c, name, "config_size", PARAM_SIZE, PARAM_INT)->num;
}

char *const *
config_list(struct config *c, const char *name)
{
	struct entry *e = config_get(c, name, "config_list");

	if (e->list == NULL)
		e->list = param_list_split(e->value);
	return e->list;
}

int
config_valid(struct config *c, const char *name, struct str *why)
{
	struct expansion ex = {.depth = 0};
	struct str reason = STR_INIT;
	long i = entry_find(c, name);
	int ok;

	if (i < 0) {
		str_printf(&reason, "undefined parameter $%s", name);
		ok = 0;
	} else {
		const struct param_def *p = c->entries[i].def;

		ok = entry_expand(c, (size_t)i, &ex, &reason) == 0 &&
		        (p == NULL || p->check == NULL ||
		                p->check(c->entries[i].value, &reason) == 0);
	}
	if (!ok && why)
		str_appendz(why, str_cstr(&reason));
	str_free(&reason);
	return ok;
}

const char *
config_raw(const struct config *c, const char *name)
{
	long i = entry_find(c, name);

	if (i < 0)
		return NULL;
	return entry_raw(&c->entries[i]);
}

int
config_is_set(const struct config *c, const char *name)
{
	long i = entry_find(c, name);

	return i >= 0 && c->entries[i].raw != NULL;
}

const char *
config_origin(const struct config *c, const char *name)
{
	long i = entry_find(c, name);

	if (i < 0 || c->entries[i].origin == NULL)
		return "default";
	return c->entries[i].origin;
}

const char *
config_path(const struct config *c)
{
	return c->path ? c->path : "main.cf";
}

void
config_dump(struct config *c, struct str *out, int only_set)
{
	for (size_t i = 0; i < c->count; i++) {
		const struct entry *e = &c->entries[i];
		const char *raw = entry_raw(e);

		if (only_set && e->raw == NULL)
			continue;
		str_printf(out, "%s =%s%s\n", entry_name(e), *raw ? " " : "", raw);
	}
}
