/*
 * table_build.c - compile a text table ("key value" lines or aliases(5))
 * into a cdb:, hash: or btree: file, replaced atomically; see
 * table_build.h.
 *
 * Reads the source with table_text.c (line limits, comments,
 * continuations) and trusts nothing in it: every bad line is reported with
 * file:line, and nothing replaces the old output unless the whole source
 * is good.  The durable path is the commit protocol: a new temporary file
 * (O_EXCL) in the output's directory, written by the back end's build_*
 * functions, fsynced, renamed over the output, then the directory
 * fsynced.  Called by "tern map build" (tern/map.c), newaliases and the
 * unit tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "table_build.h"
#include "table_impl.h"

#define BUILD_TEMP_ATTEMPTS 100 /* names tried before giving up on a temporary file */

struct build {
	const struct table_ops *ops;
	enum table_source_format format;
	struct table_text tt;
	void *writer;
	struct table_build_stats stats;
	struct str key;
	struct str value;
	struct str *err;
};

/* A bad line: log it, count it, keep the first as the result's reason. */
__attribute__((format(printf, 2, 3))) static void
build_bad_line(struct build *b, const char *fmt, ...)
{
	struct str line = STR_INIT;
	va_list ap;

	str_printf(&line, "%s:%ld: ", b->tt.path, b->tt.start);
	va_start(ap, fmt);
	str_vprintf(&line, fmt, ap);
	va_end(ap);
	msg_error("%s", str_cstr(&line));
	if (b->stats.errors++ == 0)
		str_appendz(b->err, str_cstr(&line));
	str_free(&line);
}

/* "key value": 0, or -1 after reporting the line. */
static int
build_parse_map(struct build *b)
{
	const char *line = str_cstr(&b->tt.line), *value;
	size_t klen = 0;

	while (line[klen] && !table_is_space((unsigned char)line[klen]))
		klen++;
	value = table_skip_space(line + klen);
	if (*value == '\0') {
		build_bad_line(
		        b, "missing value after key \"%.*s\"", (int)(klen > 64 ? 64 : klen), line);
		return -1;
	}
	str_set(&b->key, line, klen);
	str_setz(&b->value, value);
	return 0;
}

/* Append the items of an alias value to b->value, separated by ", ". */
static void
build_alias_items(struct build *b, const char *p)
{
	str_reset(&b->value);
	while (*p) {
		const char *item = p, *end;
		int quoted = 0;

		for (; *p && (quoted || *p != ','); p++) {
			if (*p == '"')
				quoted = !quoted;
			else if (quoted && *p == '\\' && p[1])
				p++;
		}
		item = table_skip_space(item);
		for (end = p; end > item && table_is_space((unsigned char)end[-1]); end--)
			;
		if (end > item) {
			if (b->value.len > 0)
				str_appendz(&b->value, ", ");
			str_append(&b->value, item, (size_t)(end - item));
		}
		if (*p == ',')
			p++;
	}
	str_cstr(&b->value);
}

/* "name: value, value2": 0, or -1 after reporting the line. */
static int
build_parse_alias(struct build *b)
{
	const char *line = str_cstr(&b->tt.line), *name = line, *p, *colon;
	size_t nlen;

	if (*line == '"') {
		name = line + 1;
		if ((p = strchr(name, '"')) == NULL) {
			build_bad_line(b, "missing closing quote in the alias name");
			return -1;
		}
		nlen = (size_t)(p - name);
		colon = table_skip_space(p + 1);
	} else {
		nlen = strcspn(line, ": \t\r\v\f");
		colon = table_skip_space(line + nlen);
	}
	if (*colon != ':') {
		build_bad_line(b, "missing \":\" after the alias name \"%.*s\"",
		        (int)(nlen > 64 ? 64 : nlen), name);
		return -1;
	}
	if (nlen == 0) {
		build_bad_line(b, "empty alias name");
		return -1;
	}
	build_alias_items(b, colon + 1);
	if (b->value.len == 0) {
		build_bad_line(
		        b, "missing value for alias \"%.*s\"", (int)(nlen > 64 ? 64 : nlen), name);
		return -1;
	}
	str_set(&b->key, name, nlen);
	return 0;
}

/* Parse and store one logical line; -1 on a write error (err set). */
static int
build_line(struct build *b)
{
	struct str why = STR_INIT;
	int r;

	if (b->format == TABLE_SOURCE_ALIASES ? build_parse_alias(b) : build_parse_map(b))
		return 0;
	if (b->key.len > TABLE_KEY_MAX) {
		build_bad_line(b, "key longer than %d bytes", TABLE_KEY_MAX);
		return 0;
	}
	if (b->value.len > TABLE_VALUE_MAX) {
		build_bad_line(b, "value longer than %d bytes", TABLE_VALUE_MAX);
		return 0;
	}
	table_fold_case(b->key.data, b->key.len);
	if (b->stats.errors > 0)
		return 0; /* the output is lost anyway; just look for more errors */
	r = b->ops->build_add(
	        b->writer, b->key.data, b->key.len, b->value.data, b->value.len, &why);
	if (r < 0) {
		str_appendz(b->err, str_cstr(&why));
		str_free(&why);
		return -1;
	}
	if (r > 0) {
		msg_warn("%s:%ld: duplicate key \"%s\": keeping the first value", b->tt.path,
		        b->tt.start, str_cstr(&b->key));
		b->stats.duplicates++;
	} else
		b->stats.entries++;
	return 0;
}

/* Read every line into the writer; a TABLE_BUILD_* result. */
static int
build_read_source(struct build *b)
{
	struct str why = STR_INIT;
	int r;

	while ((r = table_text_next(&b->tt, &why)) != 0) {
		if (r == -2) {
			str_appendz(b->err, str_cstr(&why));
			str_free(&why);
			return TABLE_BUILD_IOERR;
		}
		if (r == -1) {
			msg_error("%s", str_cstr(&why));
			if (b->stats.errors++ == 0)
				str_appendz(b->err, str_cstr(&why));
		} else if (build_line(b) != 0) {
			str_free(&why);
			return TABLE_BUILD_IOERR;
		}
		str_reset(&why);
		if (b->stats.errors >= TABLE_BUILD_ERRORS_MAX) {
			msg_error("%s: more than %d bad lines, giving up", b->tt.path,
			        TABLE_BUILD_ERRORS_MAX);
			break;
		}
	}
	str_free(&why);
	return b->stats.errors > 0 ? TABLE_BUILD_DATAERR : TABLE_BUILD_OK;
}

/* Create a new temporary file beside output; its descriptor, or -1. */
static int
build_open_temp(const char *output, struct str *temp, struct str *err)
{
	static unsigned counter;

	for (int i = 0; i < BUILD_TEMP_ATTEMPTS; i++) {
		int fd;

		str_reset(temp);
		str_printf(temp, "%s.tmp.%ld.%u", output, (long)getpid(), counter++);
		if ((fd = open(str_cstr(temp), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0)
			return fd;
		if (errno != EEXIST) {
			str_printf(err, "create %s: %s", str_cstr(temp), strerror(errno));
			return -1;
		}
	}
	str_printf(err, "create %s.tmp.*: too many temporary files", output);
	return -1;
}

/* fsync the directory that holds path. */
static int
build_sync_directory(const char *path, struct str *err)
{
	const char *slash = strrchr(path, '/');
	char *dir =
	        slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	int fd, r = -1;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		r = fsync(fd);
		close(fd);
	}
	if (r != 0)
		str_printf(err, "fsync directory %s: %s", dir, strerror(errno));
	free(dir);
	return r;
}

/*
 * Give the new file the source's permissions (and owner, when root),
 * fsync it, close it (always), rename it over output, fsync the directory.
 */
static int
build_commit(
        int fd, const struct stat *source, const char *temp, const char *output, struct str *err)
{
	const char *what = NULL;
	int saved;

	if (geteuid() == 0 && fchown(fd, source->st_uid, source->st_gid) != 0)
		what = "chown";
	else if (fchmod(fd, source->st_mode & 0666) != 0)
		what = "chmod";
	else if (fsync(fd) != 0)
		what = "fsync";
	saved = errno;
	if (close(fd) != 0 && what == NULL)
		what = "close", saved = errno;
	if (what) {
		str_printf(err, "%s %s: %s", what, temp, strerror(saved));
		return -1;
	}
	if (rename(temp, output) != 0) {
		str_printf(err, "rename %s to %s: %s", temp, output, strerror(errno));
		return -1;
	}
	return build_sync_directory(output, err);
}

int
table_build_output(const char *type, const char *source, struct str *path)
{
	const struct table_ops *ops = table_find_ops(type, strlen(type));

	if (ops == NULL || ops->build_start == NULL)
		return -1;
	str_printf(path, "%s%s", source, ops->suffix);
	return 0;
}

/* Write the table through a temporary file; a TABLE_BUILD_* result. */
static int
build_write(struct build *b, const char *output, const struct stat *st)
{
	struct str temp = STR_INIT;
	int fd, result;

	if ((fd = build_open_temp(output, &temp, b->err)) < 0) {
		str_free(&temp);
		return TABLE_BUILD_IOERR;
	}
	if ((b->writer = b->ops->build_start(str_cstr(&temp), fd, b->err)) == NULL)
		result = TABLE_BUILD_IOERR;
	else if ((result = build_read_source(b)) != TABLE_BUILD_OK)
		b->ops->build_abort(b->writer);
	else if (b->ops->build_finish(b->writer, b->err) != 0)
		result = TABLE_BUILD_IOERR;
	else {
		if (build_commit(fd, st, str_cstr(&temp), output, b->err) != 0)
			result = TABLE_BUILD_IOERR;
		fd = -1; /* build_commit() closed it */
	}
	if (fd >= 0)
		close(fd);
	if (result != TABLE_BUILD_OK)
		unlink(str_cstr(&temp)); /* gone already when the rename was done */
	str_free(&temp);
	return result;
}

int
table_build(const char *type, const char *source, enum table_source_format format,
        struct table_build_stats *stats, struct str *err)
{
	struct str output = STR_INIT;
	struct build b;
	struct stat st;
	int result;

	memset(&b, 0, sizeof(b));
	b.format = format;
	b.err = err;
	b.ops = table_find_ops(type, strlen(type));
	if (b.ops == NULL || b.ops->build_start == NULL) {
		str_printf(err, "%s: cannot build a table of type \"%s\" (use cdb, hash or btree)",
		        source, type);
		return TABLE_BUILD_USAGE;
	}
	if (table_text_open(&b.tt, source, err) != 0)
		return TABLE_BUILD_NOINPUT;
	if (fstat(fileno(b.tt.fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		str_printf(err, "%s: not a regular file", source);
		table_text_close(&b.tt);
		return TABLE_BUILD_NOINPUT;
	}
	str_printf(&output, "%s%s", source, b.ops->suffix);
	result = build_write(&b, str_cstr(&output), &st);
	if (stats)
		*stats = b.stats;
	table_text_close(&b.tt);
	str_free(&b.key);
	str_free(&b.value);
	str_free(&output);
	return result;
}
