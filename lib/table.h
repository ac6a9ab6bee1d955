/*
 * table.h - lookup tables behind one small interface.
 *
 * A table is named "type:name" as in main.cf:
 *
 *	cdb:/etc/tern/access		tinycdb file /etc/tern/access.cdb
 *	hash:/etc/tern/access		Berkeley DB hash file access.db
 *	btree:/etc/tern/access		Berkeley DB btree file access.db
 *	inline:{k1=v1, k2=v2}		the pairs themselves
 *	static:value			every key maps to value
 *	cidr:/etc/tern/clients.cidr	"network/len value" lines, first match
 *	regexp:/etc/tern/checks.regexp	"/re/flags value" lines, first match
 *
 * Keys are matched without regard to case (they are folded to lower case
 * when a table is built and when it is searched), except by regexp:,
 * whose patterns say for themselves ("i" flag).  Tables are opened before
 * a daemon chroots; table_changed() tells a daemon that its file was
 * replaced, so it can finish its work and exit (master starts a fresh one).
 *
 * Each back end lives in its own file (table_cdb.c, table_db.c, ...) and
 * fills in a struct table_ops; table.c dispatches by type.
 */
#ifndef TERN_TABLE_H
#define TERN_TABLE_H

#include "str.h"

struct table;

/*
 * Limits.  A key longer than TABLE_KEY_MAX is never found (lookups say
 * "not found" without asking the back end); text sources and cidr:/regexp:
 * files are read in lines of at most TABLE_LINE_MAX bytes (after joining
 * continuation lines); a cidr: or regexp: file holds at most
 * TABLE_ENTRIES_MAX entries.  No table refers to another (no recursion).
 */
#define TABLE_KEY_MAX     1024
#define TABLE_VALUE_MAX   65536
#define TABLE_LINE_MAX    65536
#define TABLE_ENTRIES_MAX 100000

/* Open flags. */
#define TABLE_READ  0
#define TABLE_WRITE 1 /* read-write state (caches): hash: and btree: only */

/*
 * Open a table.  Returns NULL and appends "spec: reason" to err on any
 * failure: unknown type, missing file, malformed line (with file:line).
 */
struct table *table_open(const char *spec, int flags, struct str *err);

/*
 * Look up key.  Returns 1 and sets value when found (value may be NULL
 * to test for presence), 0 when not found, -1 on a read error (logged,
 * and err filled when not NULL).
 */
int table_lookup(struct table *t, const char *key, struct str *value, struct str *err);

/*
 * Read-write tables only: 0 on success, -1 on error (logged).  Deleting a
 * missing key succeeds.  A TABLE_WRITE table is owned by one process (an
 * exclusive lock; a second opener fails) and written back at close.
 */
int table_update(struct table *t, const char *key, const char *value);
int table_delete(struct table *t, const char *key);

const char *table_spec(const struct table *t);

/*
 * 1 when the table's file was replaced, edited or removed since it was
 * opened (for TABLE_WRITE: only replaced or removed), else 0; always 0
 * for inline: and static:.
 */
int table_changed(struct table *t);
void table_close(struct table *t);

/* Validate a spec without keeping it open (tern check). */
int table_check(const char *spec, struct str *err);

#endif
