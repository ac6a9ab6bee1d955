/*
 * table_impl.h - what a table back end provides; private to lib/table*.c.
 *
 * table.c parses "type:name", finds the back end's struct table_ops,
 * folds keys to lower case (unless the back end keeps case), enforces the
 * key and value limits, and prefixes every error with the table's spec.
 * A back end sees only keys within TABLE_KEY_MAX and appends a bare
 * reason (no spec) to err.
 *
 * Back ends that are compiled from a text source by "tern map build"
 * (cdb:, hash:, btree:) also provide the build_* functions, which
 * table_build.c drives over a temporary file it created with O_EXCL.
 *
 * table_text.c reads the line-oriented files of this family (text
 * sources, cidr:, regexp:): "#" comment lines and blank lines are
 * skipped, a line that starts with white space continues the previous
 * one, and every line is limited to TABLE_LINE_MAX bytes.
 */
#ifndef TERN_TABLE_IMPL_H
#define TERN_TABLE_IMPL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "str.h"
#include "table.h"

/* struct table_ops flags */
#define TABLE_OPS_FILE     1 /* name (plus suffix) is a file that table_changed() watches */
#define TABLE_OPS_WRITABLE 2 /* may be opened with TABLE_WRITE */
#define TABLE_OPS_KEEPCASE 4 /* keys are not folded to lower case (regexp:) */

struct table_ops {
	const char *type;   /* "cdb", "hash", ... */
	int flags;          /* TABLE_OPS_* */
	const char *suffix; /* appended to the name to make the file name */

	/* 0 on success; -1 with a reason in err.  t->path is set for files. */
	int (*open)(struct table *t, struct str *err);
	/* 1 found (value set when not NULL), 0 not found, -1 error. */
	int (*lookup)(
	        struct table *t, const char *key, size_t klen, struct str *value, struct str *err);
	/* Writable back ends only: 0 on success, -1 with a reason in err. */
	int (*update)(struct table *t, const char *key, size_t klen, const char *value, size_t vlen,
	        struct str *err);
	int (*remove)(struct table *t, const char *key, size_t klen, struct str *err);
	void (*close)(struct table *t);

	/*
	 * Compiled back ends only (NULL otherwise).  build_start() gets a
	 * new, empty file opened read-write (fd) and its path; build_add()
	 * returns 0 when added, 1 when the key was already there (the
	 * first value stays), -1 on error; build_finish() completes the
	 * file (the caller fsyncs and renames it); build_abort() releases
	 * everything after an error (the caller removes the file).
	 */
	void *(*build_start)(const char *path, int fd, struct str *err);
	int (*build_add)(void *b, const char *key, size_t klen, const char *value, size_t vlen,
	        struct str *err);
	int (*build_finish)(void *b, struct str *err);
	void (*build_abort)(void *b);
};

struct table {
	const struct table_ops *ops;
	char *spec;       /* "type:name" as given */
	const char *name; /* inside spec, after "type:" */
	char *path;       /* name plus suffix for file tables, else NULL */
	int flags;        /* TABLE_READ or TABLE_WRITE */
	int seen_valid;   /* seen holds the file as it was at open */
	struct stat seen;
	void *state; /* the back end's */
};

extern const struct table_ops table_cdb_ops;
extern const struct table_ops table_hash_ops;
extern const struct table_ops table_btree_ops;
extern const struct table_ops table_inline_ops;
extern const struct table_ops table_static_ops;
extern const struct table_ops table_cidr_ops;
extern const struct table_ops table_regexp_ops;

/* The back end for a type name of len bytes, or NULL. */
const struct table_ops *table_find_ops(const char *type, size_t len);

/* Fold ASCII upper case to lower case in place (keys are bytes, not text). */
void table_fold_case(char *p, size_t len);

/* Reader of line-oriented table files (table_text.c). */
struct table_text {
	FILE *fp;
	char *path;
	long lineno;       /* physical lines read so far */
	long start;        /* first physical line of the logical line returned */
	struct str line;   /* the logical line returned, trimmed, continuations joined */
	struct str phys;   /* physical line held over for the next call */
	int held;          /* phys holds a line that starts the next logical line */
	int held_toolong;  /* ... which was longer than TABLE_LINE_MAX */
	int held_nul;      /* ... which contained a NUL byte */
	struct str reason; /* why the logical line being built is bad */
	long reason_line;  /* ... and which physical line says so */
};

/* 0 on success; -1 with "path: reason" in err (errno kept for ENOENT). */
int table_text_open(struct table_text *tt, const char *path, struct str *err);
/* The same over an open stream, which table_text_close() closes. */
void table_text_init(struct table_text *tt, FILE *fp, const char *path);

/*
 * The next logical line.  1: tt->line holds it, tt->start its line number.
 * 0: end of file.  -1: the line is malformed, err has "path:line: reason"
 * (the caller may go on reading).  -2: read error, err has "path: reason".
 */
int table_text_next(struct table_text *tt, struct str *err);
void table_text_close(struct table_text *tt);

/* White space in table files: space, tab, CR, VT, FF (never NUL). */
int table_is_space(int c);
/* Skip white space from p; return the first other byte. */
const char *table_skip_space(const char *p);

#endif
