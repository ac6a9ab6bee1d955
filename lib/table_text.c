/*
 * table_text.c - read the line-oriented files of the table family: the
 * text sources of "tern map build", cidr: and regexp: files.
 *
 * Returns logical lines: "#" comment lines and blank lines are skipped, a
 * line that starts with white space continues the previous one (joined
 * with one space), trailing white space and CR are dropped.  Trusts
 * nothing in the file: every physical and logical line is limited to
 * TABLE_LINE_MAX bytes, a NUL byte makes the line malformed, and a bad
 * line is reported with "file:line" and skipped so that the caller can
 * report every bad line in one pass.  Called by table_build.c,
 * table_cidr.c and table_regexp.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "table_impl.h"

enum line_kind {
	LINE_SKIP,         /* blank or comment */
	LINE_START,        /* starts a logical line */
	LINE_CONTINUATION, /* starts with white space */
};

int
table_is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

const char *
table_skip_space(const char *p)
{
	while (table_is_space((unsigned char)*p))
		p++;
	return p;
}

void
table_fold_case(char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (char)(p[i] - 'A' + 'a');
}

void
table_text_init(struct table_text *tt, FILE *fp, const char *path)
{
	memset(tt, 0, sizeof(*tt));
	tt->fp = fp;
	tt->path = xstrdup(path);
}

int
table_text_open(struct table_text *tt, const char *path, struct str *err)
{
	FILE *fp = fopen(path, "re");

	if (fp == NULL) {
		int saved = errno;

		str_printf(err, "%s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	table_text_init(tt, fp, path);
	return 0;
}

void
table_text_close(struct table_text *tt)
{
	if (tt->fp)
		fclose(tt->fp);
	tt->fp = NULL;
	free(tt->path);
	tt->path = NULL;
	str_free(&tt->line);
	str_free(&tt->phys);
	str_free(&tt->reason);
}

/*
 * One physical line into tt->phys, without its newline and trailing white
 * space.  1: a line; 0: end of file; -2: read error.  Bytes past
 * TABLE_LINE_MAX are dropped (*toolong); NUL bytes are dropped (*nul).
 */
static int
read_physical(struct table_text *tt, int *toolong, int *nul)
{
	size_t len;
	int c;

	str_reset(&tt->phys);
	*toolong = *nul = 0;
	while ((c = getc_unlocked(tt->fp)) != EOF && c != '\n') {
		if (c == '\0')
			*nul = 1;
		else if (tt->phys.len >= TABLE_LINE_MAX)
			*toolong = 1;
		else
			str_appendc(&tt->phys, c);
	}
	if (c == EOF) {
		if (ferror(tt->fp))
			return -2;
		if (tt->phys.len == 0 && !*toolong && !*nul)
			return 0;
	}
	tt->lineno++;
	len = tt->phys.len;
	while (len > 0 && table_is_space((unsigned char)tt->phys.data[len - 1]))
		len--;
	str_cstr(&tt->phys);
	str_truncate(&tt->phys, len);
	return 1;
}

static enum line_kind
classify(struct table_text *tt, int toolong, int nul)
{
	const char *p = table_skip_space(str_cstr(&tt->phys));

	if (*p == '#')
		return LINE_SKIP;
	if (*p == '\0' && !toolong && !nul)
		return LINE_SKIP;
	if (table_is_space((unsigned char)tt->phys.data[0]))
		return LINE_CONTINUATION;
	return LINE_START;
}

/* Remember the first reason why the logical line is bad. */
__attribute__((format(printf, 2, 3))) static void
mark_bad(struct table_text *tt, const char *fmt, ...)
{
	va_list ap;

	if (tt->reason.len > 0)
		return;
	va_start(ap, fmt);
	str_vprintf(&tt->reason, fmt, ap);
	va_end(ap);
	tt->reason_line = tt->lineno;
}

static void
check_physical(struct table_text *tt, int toolong, int nul)
{
	if (toolong)
		mark_bad(tt, "line longer than %d bytes", TABLE_LINE_MAX);
	else if (nul)
		mark_bad(tt, "NUL byte in line");
}

/* Append a physical line (its text after leading white space). */
static void
append_physical(struct table_text *tt)
{
	const char *p = table_skip_space(str_cstr(&tt->phys));
	size_t n = strlen(p);

	if (tt->line.len > 0)
		str_appendc(&tt->line, ' ');
	if (tt->line.len + n > TABLE_LINE_MAX) {
		mark_bad(tt, "line longer than %d bytes with its continuation lines",
		        TABLE_LINE_MAX);
		return;
	}
	str_append(&tt->line, p, n);
}

static void
begin_line(struct table_text *tt, int toolong, int nul)
{
	tt->start = tt->lineno;
	check_physical(tt, toolong, nul);
	append_physical(tt);
}

int
table_text_next(struct table_text *tt, struct str *err)
{
	int have = 0, toolong, nul, r;

	str_reset(&tt->line);
	str_reset(&tt->reason);
	str_cstr(&tt->line);
	if (tt->held) {
		tt->held = 0;
		begin_line(tt, tt->held_toolong, tt->held_nul);
		have = 1;
	}
	while ((r = read_physical(tt, &toolong, &nul)) == 1) {
		switch (classify(tt, toolong, nul)) {
		case LINE_SKIP:
			continue;
		case LINE_START:
			if (have) {
				tt->held = 1;
				tt->held_toolong = toolong;
				tt->held_nul = nul;
				goto done;
			}
			begin_line(tt, toolong, nul);
			have = 1;
			continue;
		case LINE_CONTINUATION:
			if (!have) {
				tt->start = tt->lineno;
				mark_bad(tt, "continuation line without a line before it");
				have = 1;
			}
			check_physical(tt, toolong, nul);
			append_physical(tt);
			continue;
		}
	}
	if (r == -2) {
		str_printf(err, "%s: read error: %s", tt->path, strerror(errno));
		return -2;
	}
done:
	if (!have)
		return 0;
	if (tt->reason.len > 0) {
		str_printf(err, "%s:%ld: %s", tt->path, tt->reason_line, str_cstr(&tt->reason));
		return -1;
	}
	return 1;
}
