/*
 * table_cdb.c - "cdb:/path/name": a tinycdb file /path/name.cdb, the
 * default compiled table.
 *
 * The file is opened and mapped once, at table_open() (before a daemon
 * chroots); a replacement by rename leaves the mapping valid, and
 * table_changed() tells the daemon to restart.  Keys are stored folded,
 * without a trailing NUL.  Trusts the file only as far as tinycdb's
 * bounds checks go: a value longer than TABLE_VALUE_MAX is a damaged
 * file.  Also the writer behind "tern map build -t cdb" (table_build.c).
 */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "table_impl.h"

struct cdb_table {
	int fd;
	struct cdb cdb;
};

static int
cdb_table_open(struct table *t, struct str *err)
{
	struct cdb_table *c;
	int fd;

	if ((fd = open(t->path, O_RDONLY | O_CLOEXEC)) < 0) {
		str_printf(err, "open %s: %s", t->path, strerror(errno));
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	if (cdb_init(&c->cdb, fd) != 0) {
		str_printf(err, "%s: not a cdb file (or damaged): %s", t->path, strerror(errno));
		close(fd);
		free(c);
		return -1;
	}
	t->state = c;
	return 0;
}

static int
cdb_table_lookup(struct table *t, const char *key, size_t klen, struct str *value, struct str *err)
{
	struct cdb_table *c = t->state;
	const void *data;
	unsigned len;
	int r;

	if ((r = cdb_find(&c->cdb, key, (unsigned)klen)) < 0) {
		str_printf(err, "%s: damaged cdb file: %s", t->path, strerror(errno));
		return -1;
	}
	if (r == 0)
		return 0;
	len = cdb_datalen(&c->cdb);
	if (len > TABLE_VALUE_MAX || (data = cdb_getdata(&c->cdb)) == NULL) {
		str_printf(err, "%s: damaged cdb file: bad value length %u", t->path, len);
		return -1;
	}
	if (value)
		str_set(value, data, len);
	return 1;
}

static void
cdb_table_close(struct table *t)
{
	struct cdb_table *c = t->state;

	if (c == NULL)
		return;
	cdb_free(&c->cdb);
	close(c->fd);
	free(c);
	t->state = NULL;
}

struct cdb_build {
	struct cdb_make make;
	char *path;
};

static void *
cdb_build_start(const char *path, int fd, struct str *err)
{
	struct cdb_build *b = xcalloc(1, sizeof(*b));

	if (cdb_make_start(&b->make, fd) != 0) {
		str_printf(err, "%s: %s", path, strerror(errno));
		free(b);
		return NULL;
	}
	b->path = xstrdup(path);
	return b;
}

static int
cdb_build_add(
        void *arg, const char *key, size_t klen, const char *value, size_t vlen, struct str *err)
{
	struct cdb_build *b = arg;
	int r;

	r = cdb_make_put(&b->make, key, (unsigned)klen, value, (unsigned)vlen, CDB_PUT_INSERT);
	if (r < 0) {
		str_printf(err, "write %s: %s", b->path, strerror(errno));
		return -1;
	}
	return r > 0 ? 1 : 0;
}

static int
cdb_build_finish(void *arg, struct str *err)
{
	struct cdb_build *b = arg;
	int r = cdb_make_finish(&b->make);

	if (r != 0)
		str_printf(err, "write %s: %s", b->path, strerror(errno));
	free(b->path);
	free(b);
	return r != 0 ? -1 : 0;
}

static void
cdb_build_abort(void *arg)
{
	struct cdb_build *b = arg;

	/* Frees tinycdb's memory; the file itself is the caller's to remove. */
	(void)cdb_make_finish(&b->make);
	free(b->path);
	free(b);
}

const struct table_ops table_cdb_ops = {
        .type = "cdb",
        .flags = TABLE_OPS_FILE,
        .suffix = ".cdb",
        .open = cdb_table_open,
        .lookup = cdb_table_lookup,
        .close = cdb_table_close,
        .build_start = cdb_build_start,
        .build_add = cdb_build_add,
        .build_finish = cdb_build_finish,
        .build_abort = cdb_build_abort,
};
