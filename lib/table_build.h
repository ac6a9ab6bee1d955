/*
 * table_build.h - compile a text table into a cdb:, hash: or btree: file
 * ("tern map build", newaliases).
 *
 * Source formats (both read in lines of at most TABLE_LINE_MAX bytes;
 * "#" comment lines and blank lines are skipped; a line that starts with
 * white space continues the previous one):
 *
 *	TABLE_SOURCE_MAP	"key value": the key is the first word, the
 *				value the rest of the line, trimmed.
 *	TABLE_SOURCE_ALIASES	aliases(5): "name: value, value2"; the value
 *				is stored with its items separated by ", "
 *				(commas inside double quotes are kept);
 *				":include:" and the like stay text.
 *
 * Keys are folded to lower case.  A repeated key keeps its first value,
 * with a warning naming file:line.  Every bad line is logged as
 * "file:line: reason" (msg_error) and the build fails; err gets the
 * first one.
 *
 * The output is SOURCE.cdb (cdb) or SOURCE.db (hash, btree), replaced
 * atomically: written to a new temporary file in the same directory
 * (O_EXCL), fsynced, renamed over the target, and the directory fsynced.
 * On any failure the temporary file is removed and the old output is
 * left as it was.  The output takes the source's permission bits (and,
 * when run by root, its owner and group), so a private source gives a
 * private table.
 */
#ifndef TERN_TABLE_BUILD_H
#define TERN_TABLE_BUILD_H

#include "str.h"

enum table_source_format {
	TABLE_SOURCE_MAP,
	TABLE_SOURCE_ALIASES,
};

/* table_build() results */
#define TABLE_BUILD_OK      0
#define TABLE_BUILD_NOINPUT 1 /* the source cannot be opened */
#define TABLE_BUILD_DATAERR 2 /* bad lines in the source (each logged) */
#define TABLE_BUILD_IOERR   3 /* the output cannot be written */
#define TABLE_BUILD_USAGE   4 /* a type that is not compiled */

#define TABLE_BUILD_ERRORS_MAX 100 /* bad lines logged before giving up */

struct table_build_stats {
	long entries;    /* keys stored */
	long duplicates; /* repeated keys skipped */
	long errors;     /* bad lines */
};

/*
 * Compile source into the file of table type ("cdb", "hash", "btree").
 * stats may be NULL.  Returns a TABLE_BUILD_* result, with the reason in
 * err for any but TABLE_BUILD_OK.
 */
int table_build(const char *type, const char *source, enum table_source_format format,
        struct table_build_stats *stats, struct str *err);

/* The output file name for source and type; 0, or -1 for an unknown type. */
int table_build_output(const char *type, const char *source, struct str *path);

#endif
