/*
 * table_db.c - "hash:/path/name" and "btree:/path/name": Berkeley DB 5.3
 * files /path/name.db.
 *
 * TABLE_READ opens the file read-only, once, before a daemon chroots.
 * TABLE_WRITE is for caches (TLS sessions, verification and rate state):
 * the file is created (mode 0600) when missing, held under an exclusive
 * flock(2) so that one process owns it, and flushed when closed.  Caches
 * are disposable: one that Berkeley DB cannot read is removed and
 * recreated with a warning.  Keys are stored folded, without a trailing
 * NUL.  Trusts Berkeley DB with the file's structure, and checks value
 * lengths against TABLE_VALUE_MAX.  Berkeley DB's own error text is
 * caught (never printed) and appended to the reason.  Also the writer
 * behind "tern map build -t hash|btree" (table_build.c).
 */
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "table_impl.h"

#define DB_CACHE_MODE 0600 /* caches may hold private state */

struct db_table {
	DB *db;
	int lock_fd; /* TABLE_WRITE: our own descriptor, holding the flock */
};

/* Berkeley DB's last message, kept to explain the error that follows. */
static char db_last_message[256];

static void
db_catch_message(const DB_ENV *env, const char *prefix, const char *text)
{
	(void)env;
	(void)prefix;
	snprintf(db_last_message, sizeof(db_last_message), "%s", text);
}

static void
db_reason(struct str *err, const char *what, const char *path, int r)
{
	str_printf(err, "%s %s: %s", what, path, db_strerror(r));
	if (db_last_message[0])
		str_printf(err, " (%s)", db_last_message);
	db_last_message[0] = '\0';
}

/* Open path as a database of type with oflags; 0 or a Berkeley DB error. */
static int
db_open_path(const char *path, DBTYPE type, u_int32_t oflags, DB **dbp)
{
	DB *db;
	int r;

	db_last_message[0] = '\0';
	if ((r = db_create(&db, NULL, 0)) != 0)
		return r;
	db->set_errcall(db, db_catch_message);
	if ((r = db->open(db, NULL, path, NULL, type, oflags, DB_CACHE_MODE)) != 0) {
		db->close(db, DB_NOSYNC);
		return r;
	}
	*dbp = db;
	return 0;
}

/* Errors that mean "not a database we can read": a cache is recreated. */
static int
db_damaged(int r)
{
	return r == EINVAL || r == DB_OLD_VERSION || r == DB_VERSION_MISMATCH ||
	        r == DB_RUNRECOVERY || r == DB_PAGE_NOTFOUND || r == DB_VERIFY_BAD;
}

/* Open (create) the cache file and take its lock; the descriptor or -1. */
static int
db_lock_path(const char *path, int create_flags, struct str *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | create_flags, DB_CACHE_MODE);

	if (fd < 0) {
		str_printf(err, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			str_printf(err, "%s: in use by another process", path);
		else
			str_printf(err, "lock %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
db_open_cache(struct table *t, DBTYPE type, struct db_table *d, struct str *err)
{
	int r;

	if ((d->lock_fd = db_lock_path(t->path, 0, err)) < 0)
		return -1;
	if ((r = db_open_path(t->path, type, DB_CREATE, &d->db)) == 0)
		return 0;
	if (!db_damaged(r)) {
		db_reason(err, "open", t->path, r);
		close(d->lock_fd);
		return -1;
	}
	msg_warn("%s: damaged cache %s (%s): removing and recreating it", t->spec, t->path,
	        db_strerror(r));
	db_last_message[0] = '\0';
	close(d->lock_fd);
	if (unlink(t->path) != 0 && errno != ENOENT) {
		str_printf(err, "remove damaged cache %s: %s", t->path, strerror(errno));
		return -1;
	}
	if ((d->lock_fd = db_lock_path(t->path, O_EXCL, err)) < 0)
		return -1;
	if ((r = db_open_path(t->path, type, DB_CREATE, &d->db)) != 0) {
		db_reason(err, "create", t->path, r);
		close(d->lock_fd);
		return -1;
	}
	return 0;
}

static int
db_table_open(struct table *t, DBTYPE type, struct str *err)
{
	struct db_table *d = xcalloc(1, sizeof(*d));
	int r;

	d->lock_fd = -1;
	if (t->flags & TABLE_WRITE) {
		if (db_open_cache(t, type, d, err) != 0) {
			free(d);
			return -1;
		}
	} else if ((r = db_open_path(t->path, type, DB_RDONLY, &d->db)) != 0) {
		if (r == ENOENT)
			str_printf(err, "open %s: %s", t->path, strerror(r));
		else
			db_reason(err, "open", t->path, r);
		free(d);
		return -1;
	}
	t->state = d;
	return 0;
}

static int
hash_table_open(struct table *t, struct str *err)
{
	return db_table_open(t, DB_HASH, err);
}

static int
btree_table_open(struct table *t, struct str *err)
{
	return db_table_open(t, DB_BTREE, err);
}

static void
db_dbt(DBT *dbt, const void *data, size_t len)
{
	memset(dbt, 0, sizeof(*dbt));
	dbt->data = (void *)data;
	dbt->size = (u_int32_t)len;
}

static int
db_table_lookup(struct table *t, const char *key, size_t klen, struct str *value, struct str *err)
{
	struct db_table *d = t->state;
	DBT k, v;
	int r;

	db_dbt(&k, key, klen);
	db_dbt(&v, NULL, 0);
	if ((r = d->db->get(d->db, NULL, &k, &v, 0)) == DB_NOTFOUND)
		return 0;
	if (r != 0) {
		db_reason(err, "read", t->path, r);
		return -1;
	}
	if (v.size > TABLE_VALUE_MAX) {
		str_printf(err, "%s: damaged database: value of %u bytes", t->path, v.size);
		return -1;
	}
	if (value)
		str_set(value, v.data, v.size);
	return 1;
}

static int
db_table_update(struct table *t, const char *key, size_t klen, const char *value, size_t vlen,
        struct str *err)
{
	struct db_table *d = t->state;
	DBT k, v;
	int r;

	db_dbt(&k, key, klen);
	db_dbt(&v, value, vlen);
	if ((r = d->db->put(d->db, NULL, &k, &v, 0)) != 0) {
		db_reason(err, "write", t->path, r);
		return -1;
	}
	return 0;
}

static int
db_table_remove(struct table *t, const char *key, size_t klen, struct str *err)
{
	struct db_table *d = t->state;
	DBT k;
	int r;

	db_dbt(&k, key, klen);
	if ((r = d->db->del(d->db, NULL, &k, 0)) != 0 && r != DB_NOTFOUND) {
		db_reason(err, "delete in", t->path, r);
		return -1;
	}
	return 0;
}

static void
db_table_close(struct table *t)
{
	struct db_table *d = t->state;
	int r;

	if (d == NULL)
		return;
	if ((r = d->db->close(d->db, 0)) != 0)
		msg_warn("%s: close %s: %s", t->spec, t->path, db_strerror(r));
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d);
	t->state = NULL;
}

struct db_build {
	DB *db;
	char *path;
};

static void *
db_build_start(const char *path, DBTYPE type, struct str *err)
{
	struct db_build *b;
	DB *db;
	int r;

	/* path is the new, empty file: Berkeley DB makes it a database. */
	if ((r = db_open_path(path, type, DB_CREATE, &db)) != 0) {
		db_reason(err, "create", path, r);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->db = db;
	b->path = xstrdup(path);
	return b;
}

static void *
hash_build_start(const char *path, int fd, struct str *err)
{
	(void)fd;
	return db_build_start(path, DB_HASH, err);
}

static void *
btree_build_start(const char *path, int fd, struct str *err)
{
	(void)fd;
	return db_build_start(path, DB_BTREE, err);
}

static int
db_build_add(
        void *arg, const char *key, size_t klen, const char *value, size_t vlen, struct str *err)
{
	struct db_build *b = arg;
	DBT k, v;
	int r;

	db_dbt(&k, key, klen);
	db_dbt(&v, value, vlen);
	if ((r = b->db->put(b->db, NULL, &k, &v, DB_NOOVERWRITE)) == DB_KEYEXIST)
		return 1;
	if (r != 0) {
		db_reason(err, "write", b->path, r);
		return -1;
	}
	return 0;
}

static int
db_build_finish(void *arg, struct str *err)
{
	struct db_build *b = arg;
	int r;

	if ((r = b->db->close(b->db, 0)) != 0)
		db_reason(err, "write", b->path, r);
	free(b->path);
	free(b);
	return r != 0 ? -1 : 0;
}

static void
db_build_abort(void *arg)
{
	struct db_build *b = arg;

	b->db->close(b->db, DB_NOSYNC);
	free(b->path);
	free(b);
}

const struct table_ops table_hash_ops = {
        .type = "hash",
        .flags = TABLE_OPS_FILE | TABLE_OPS_WRITABLE,
        .suffix = ".db",
        .open = hash_table_open,
        .lookup = db_table_lookup,
        .update = db_table_update,
        .remove = db_table_remove,
        .close = db_table_close,
        .build_start = hash_build_start,
        .build_add = db_build_add,
        .build_finish = db_build_finish,
        .build_abort = db_build_abort,
};

const struct table_ops table_btree_ops = {
        .type = "btree",
        .flags = TABLE_OPS_FILE | TABLE_OPS_WRITABLE,
        .suffix = ".db",
        .open = btree_table_open,
        .lookup = db_table_lookup,
        .update = db_table_update,
        .remove = db_table_remove,
        .close = db_table_close,
        .build_start = btree_build_start,
        .build_add = db_build_add,
        .build_finish = db_build_finish,
        .build_abort = db_build_abort,
};
