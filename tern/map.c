/*
 * map.c - "tern map": compile and query lookup tables.
 *
 *	tern map build [-t cdb|hash|btree] [-a] FILE
 *		compile FILE ("key value" lines, or aliases(5) with -a)
 *		into FILE.cdb or FILE.db, replaced atomically
 *		(table_build.h); "type:FILE" names the type too
 *	tern map query SPEC KEY
 *		print KEY's value in the table SPEC ("cdb:/etc/tern/access")
 *
 * Exit status: 0 success (query: found); 1 query: not found; EX_USAGE
 * bad arguments; EX_NOINPUT FILE missing, or the table cannot be opened;
 * EX_DATAERR bad lines in FILE (each reported as "file:line: reason");
 * EX_CANTCREAT the output cannot be written; EX_IOERR a lookup failed.
 * Runs with the invoking user's rights and trusts its arguments no more.
 * Called by tern.c.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "msg.h"
#include "table.h"
#include "table_build.h"
#include "tern.h"

#define MAP_QUERY_NOTFOUND 1

static int
map_usage(void)
{
	fprintf(stderr,
	        "usage: tern map build [-t cdb|hash|btree] [-a] FILE\n"
	        "       tern map query SPEC KEY\n");
	return EX_USAGE;
}

/* "hash:/etc/tern/access" names the type; a plain path keeps *type. */
static const char *
map_split_type(const char *arg, const char **type)
{
	static const char *const types[] = {"cdb", "hash", "btree"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t n = strlen(types[i]);

		if (strncmp(arg, types[i], n) == 0 && arg[n] == ':' && arg[n + 1] != '\0') {
			*type = types[i];
			return arg + n + 1;
		}
	}
	return arg;
}

static int
map_build(int argc, char **argv)
{
	enum table_source_format format = TABLE_SOURCE_MAP;
	struct table_build_stats stats;
	const char *type = NULL, *prefixed = "cdb", *source;
	struct str err = STR_INIT;
	int ch, r;

	optind = 0; /* glibc: start afresh on this argument vector */
	while ((ch = getopt(argc, argv, "+at:")) != -1) {
		switch (ch) {
		case 'a':
			format = TABLE_SOURCE_ALIASES;
			break;
		case 't':
			type = optarg;
			break;
		default:
			return map_usage();
		}
	}
	if (argc - optind != 1)
		return map_usage();
	source = map_split_type(argv[optind], &prefixed);
	if (type == NULL)
		type = prefixed;
	r = table_build(type, source, format, &stats, &err);
	switch (r) {
	case TABLE_BUILD_OK:
		if (msg_verbose)
			msg_info("%s: %ld entries, %ld duplicates", source, stats.entries,
			        stats.duplicates);
		break;
	case TABLE_BUILD_DATAERR:
		/* each bad line was logged */
		msg_error("%s: %ld bad line%s; the table was not changed", source, stats.errors,
		        stats.errors == 1 ? "" : "s");
		break;
	default:
		msg_error("%s", str_cstr(&err));
		break;
	}
	str_free(&err);
	switch (r) {
	case TABLE_BUILD_OK:
		return EX_OK;
	case TABLE_BUILD_NOINPUT:
		return EX_NOINPUT;
	case TABLE_BUILD_DATAERR:
		return EX_DATAERR;
	case TABLE_BUILD_USAGE:
		return EX_USAGE;
	default:
		return EX_CANTCREAT;
	}
}

static int
map_query(int argc, char **argv)
{
	struct str err = STR_INIT, value = STR_INIT;
	struct table *t;
	int r, status;

	if (argc != 3)
		return map_usage();
	if ((t = table_open(argv[1], TABLE_READ, &err)) == NULL) {
		msg_error("%s", str_cstr(&err));
		str_free(&err);
		return EX_NOINPUT;
	}
	r = table_lookup(t, argv[2], &value, NULL);
	if (r > 0) {
		fwrite(value.data, 1, value.len, stdout);
		putchar('\n');
		status = fflush(stdout) == 0 ? EX_OK : EX_IOERR;
	} else
		status = r == 0 ? MAP_QUERY_NOTFOUND : EX_IOERR;
	table_close(t);
	str_free(&value);
	str_free(&err);
	return status;
}

int
tern_map(int argc, char **argv, const char *confdir)
{
	(void)confdir;
	if (argc < 2)
		return map_usage();
	if (strcmp(argv[1], "build") == 0)
		return map_build(argc - 1, argv + 1);
	if (strcmp(argv[1], "query") == 0)
		return map_query(argc - 1, argv + 1);
	msg_error("map: unknown command \"%s\"", argv[1]);
	return map_usage();
}
