/*
 * test_table.c - lookup tables of every type, and the compiler behind
 * "tern map build": real files in a fresh temporary directory per test.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "str.h"
#include "table.h"
#include "table_build.h"

static char dir[64];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tern-table-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void
remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

TestSuite(table, .init = make_dir, .fini = remove_dir);

/* dir/name, in a static buffer (one of a few, so two can be used at once) */
static const char *
in_dir(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/* "type:dir/name", in a static buffer */
static const char *
spec_of(const char *type, const char *name)
{
	static char buf[600];

	snprintf(buf, sizeof(buf), "%s:%s/%s", type, dir, name);
	return buf;
}

static void
write_file(const char *name, const char *text)
{
	FILE *fp = fopen(in_dir(name), "w");

	cr_assert_not_null(fp);
	fputs(text, fp);
	cr_assert_eq(fclose(fp), 0);
}

/* How many entries the directory holds (temporary files show up here). */
static int
dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static struct table *
open_ok(const char *spec, int flags)
{
	struct str err = STR_INIT;
	struct table *t = table_open(spec, flags, &err);

	cr_assert_not_null(t, "table_open(%s): %s", spec, str_cstr(&err));
	str_free(&err);
	return t;
}

/* The error text of a table_open() that must fail. */
static char *
open_fails(const char *spec, int flags)
{
	struct str err = STR_INIT;
	struct table *t = table_open(spec, flags, &err);

	cr_assert_null(t, "table_open(%s) should fail", spec);
	cr_assert(err.len > 0);
	return str_steal(&err);
}

static void
expect_value(struct table *t, const char *key, const char *want)
{
	struct str value = STR_INIT, err = STR_INIT;
	int r = table_lookup(t, key, &value, &err);

	if (want == NULL) {
		cr_assert_eq(r, 0, "%s: \"%s\" should be missing, got %d (%s)", table_spec(t), key,
		        r, str_cstr(&value));
	} else {
		cr_assert_eq(r, 1, "%s: \"%s\" not found (%d, %s)", table_spec(t), key, r,
		        str_cstr(&err));
		cr_assert_str_eq(str_cstr(&value), want, "%s: \"%s\"", table_spec(t), key);
	}
	str_free(&value);
	str_free(&err);
}

static const char map_source[] = "# access map\n"
                                 "\n"
                                 "Example.COM   OK\n"
                                 "spam.example  REJECT no spam\n"
                                 "   here, please\n"
                                 "user@Example.com\tDISCARD   \n"
                                 "  # a comment inside does not break the continuation\n"
                                 "example.com   second value\n";

static void
build_ok(const char *type, const char *name, enum table_source_format format,
        struct table_build_stats *stats)
{
	struct str err = STR_INIT;
	int r = table_build(type, in_dir(name), format, stats, &err);

	cr_assert_eq(r, TABLE_BUILD_OK, "build %s %s: %d %s", type, name, r, str_cstr(&err));
	str_free(&err);
}

static void
check_built_map(const char *type)
{
	struct table_build_stats stats;
	struct str spec = STR_INIT;
	struct table *t;

	write_file("access", map_source);
	build_ok(type, "access", TABLE_SOURCE_MAP, &stats);
	cr_assert_eq(stats.entries, 3);
	cr_assert_eq(stats.duplicates, 1);
	cr_assert_eq(stats.errors, 0);
	str_printf(&spec, "%s:%s", type, in_dir("access"));
	t = open_ok(str_cstr(&spec), TABLE_READ);
	expect_value(t, "example.com", "OK"); /* the first value wins */
	expect_value(t, "EXAMPLE.com", "OK");
	expect_value(t, "spam.example", "REJECT no spam here, please");
	expect_value(t, "USER@example.COM", "DISCARD");
	expect_value(t, "example.org", NULL);
	expect_value(t, "", NULL);
	cr_assert_eq(table_lookup(t, "example.com", NULL, NULL), 1);
	cr_assert_eq(table_changed(t), 0);
	table_close(t);
	str_free(&spec);
}

Test(table, build_and_lookup_cdb)
{
	check_built_map("cdb");
	cr_assert_eq(access(in_dir("access.cdb"), F_OK), 0);
	cr_assert_eq(dir_entries(), 2, "no temporary file left behind");
}

Test(table, build_and_lookup_hash)
{
	check_built_map("hash");
	cr_assert_eq(access(in_dir("access.db"), F_OK), 0);
	cr_assert_eq(dir_entries(), 2);
}

Test(table, build_and_lookup_btree)
{
	check_built_map("btree");
	cr_assert_eq(dir_entries(), 2);
}

Test(table, build_keeps_source_permissions)
{
	struct stat st;

	write_file("secret", "smtp.example user:password\n");
	cr_assert_eq(chmod(in_dir("secret"), 0640), 0);
	build_ok("cdb", "secret", TABLE_SOURCE_MAP, NULL);
	cr_assert_eq(stat(in_dir("secret.cdb"), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640);
}

Test(table, build_bad_source_keeps_old_table)
{
	struct table_build_stats stats;
	struct str err = STR_INIT;
	struct table *t;
	int r;

	write_file("map", "a 1\nb 2\n");
	build_ok("cdb", "map", TABLE_SOURCE_MAP, NULL);
	write_file("map", "a 10\nnovalue\nc 3\n  \n\tcontinued\nd\n");
	r = table_build("cdb", in_dir("map"), TABLE_SOURCE_MAP, &stats, &err);
	cr_assert_eq(r, TABLE_BUILD_DATAERR);
	cr_assert_eq(stats.errors, 2);
	cr_assert(strstr(str_cstr(&err), "/map:2: missing value after key \"novalue\""), "%s",
	        str_cstr(&err));
	cr_assert_eq(dir_entries(), 2, "no temporary file left behind");
	t = open_ok(spec_of("cdb", "map"), TABLE_READ);
	expect_value(t, "a", "1");
	expect_value(t, "c", NULL);
	table_close(t);

	/* Fixed, it replaces the old table; continuation lines join with a space. */
	write_file("map", "a 10\nc 3\n  \n\tcontinued\n");
	build_ok("cdb", "map", TABLE_SOURCE_MAP, NULL);
	t = open_ok(spec_of("cdb", "map"), TABLE_READ);
	expect_value(t, "a", "10");
	expect_value(t, "b", NULL);
	expect_value(t, "c", "3 continued");
	table_close(t);
	str_free(&err);
}

Test(table, build_line_errors)
{
	struct table_build_stats stats;
	struct str err = STR_INIT;
	char *big = malloc(70000);
	FILE *fp;

	/* A line longer than 64 KiB, named by its line number. */
	memset(big, 'x', 69999);
	big[69999] = '\0';
	fp = fopen(in_dir("long"), "w");
	fprintf(fp, "a 1\n# fine\nk %s\nb 2\n", big);
	fclose(fp);
	cr_assert_eq(table_build("cdb", in_dir("long"), TABLE_SOURCE_MAP, &stats, &err),
	        TABLE_BUILD_DATAERR);
	cr_assert(strstr(str_cstr(&err), "/long:3: line longer than 65536 bytes"), "%s",
	        str_cstr(&err));
	cr_assert_eq(stats.errors, 1);

	/* A key over the limit. */
	big[TABLE_KEY_MAX + 1] = '\0';
	fp = fopen(in_dir("longkey"), "w");
	fprintf(fp, "%s value\n", big);
	fclose(fp);
	str_reset(&err);
	cr_assert_eq(table_build("hash", in_dir("longkey"), TABLE_SOURCE_MAP, NULL, &err),
	        TABLE_BUILD_DATAERR);
	cr_assert(strstr(str_cstr(&err), "/longkey:1: key longer than 1024 bytes"), "%s",
	        str_cstr(&err));

	/* A continuation line with nothing before it; a NUL byte. */
	write_file("cont", "  leading value\nok 1\n");
	str_reset(&err);
	cr_assert_eq(table_build("cdb", in_dir("cont"), TABLE_SOURCE_MAP, NULL, &err),
	        TABLE_BUILD_DATAERR);
	cr_assert(strstr(str_cstr(&err), "/cont:1: continuation line without a line before it"),
	        "%s", str_cstr(&err));
	fp = fopen(in_dir("nul"), "w");
	fwrite("ok 1\nbad \0value\n", 1, 16, fp);
	fclose(fp);
	str_reset(&err);
	cr_assert_eq(table_build("cdb", in_dir("nul"), TABLE_SOURCE_MAP, NULL, &err),
	        TABLE_BUILD_DATAERR);
	cr_assert(strstr(str_cstr(&err), "/nul:2: NUL byte in line"), "%s", str_cstr(&err));
	cr_assert_eq(access(in_dir("nul.cdb"), F_OK), -1);

	/* Missing source; a type that is not compiled. */
	str_reset(&err);
	cr_assert_eq(table_build("cdb", in_dir("absent"), TABLE_SOURCE_MAP, NULL, &err),
	        TABLE_BUILD_NOINPUT);
	cr_assert(
	        strstr(str_cstr(&err), "absent: No such file or directory"), "%s", str_cstr(&err));
	str_reset(&err);
	cr_assert_eq(table_build("cidr", in_dir("cont"), TABLE_SOURCE_MAP, NULL, &err),
	        TABLE_BUILD_USAGE);
	cr_assert(strstr(str_cstr(&err), "cannot build a table of type \"cidr\""));
	free(big);
	str_free(&err);
}

Test(table, build_aliases)
{
	struct table_build_stats stats;
	struct str err = STR_INIT;
	struct table *t;

	write_file("aliases",
	        "# aliases\n"
	        "Postmaster:  root\n"
	        "root: alice,bob ,\n"
	        "   carol@example.com,\n"
	        "\t\"|/usr/bin/filter -a x,y\", /var/log/mail.copy\n"
	        "staff: :include:/etc/tern/staff, ,\n"
	        "\"quoted name\": dave\n"
	        "root: ignored\n");
	build_ok("cdb", "aliases", TABLE_SOURCE_ALIASES, &stats);
	cr_assert_eq(stats.entries, 4);
	cr_assert_eq(stats.duplicates, 1);
	t = open_ok(spec_of("cdb", "aliases"), TABLE_READ);
	expect_value(t, "postmaster", "root");
	expect_value(t, "ROOT",
	        "alice, bob, carol@example.com, \"|/usr/bin/filter -a x,y\", /var/log/mail.copy");
	expect_value(t, "staff", ":include:/etc/tern/staff");
	expect_value(t, "quoted name", "dave");
	table_close(t);

	write_file("bad", "root alice\nempty:\nok: x\nwith space: y\n");
	cr_assert_eq(table_build("cdb", in_dir("bad"), TABLE_SOURCE_ALIASES, &stats, &err),
	        TABLE_BUILD_DATAERR);
	cr_assert_eq(stats.errors, 3);
	cr_assert(strstr(str_cstr(&err), "/bad:1: missing \":\" after the alias name \"root\""),
	        "%s", str_cstr(&err));
	str_free(&err);
}

Test(table, inline_tables)
{
	struct table *t;
	char *why;

	t = open_ok("inline:{k1=v1, K2=v2}", TABLE_READ);
	expect_value(t, "k1", "v1");
	expect_value(t, "k2", "v2");
	expect_value(t, "K1", "v1");
	expect_value(t, "k3", NULL);
	table_close(t);

	t = open_ok("inline:{ k1 = v1 ,k2=v2 = 2,  k1 = again, }", TABLE_READ);
	expect_value(t, "k1", "v1");
	expect_value(t, "k2", "v2 = 2");
	table_close(t);

	t = open_ok("inline:{}", TABLE_READ);
	expect_value(t, "k1", NULL);
	table_close(t);

	why = open_fails("inline:{k1=v1", TABLE_READ);
	cr_assert_str_eq(why, "inline:{k1=v1: missing \"}\" at position 14");
	free(why);
	why = open_fails("inline:k1=v1", TABLE_READ);
	cr_assert_str_eq(why, "inline:k1=v1: expected \"{\" at position 8");
	free(why);
	why = open_fails("inline:{k1=v1, k2}", TABLE_READ);
	cr_assert_str_eq(why, "inline:{k1=v1, k2}: expected \"=\" after key at position 18");
	free(why);
	why = open_fails("inline:{k1=v1, =v2}", TABLE_READ);
	cr_assert_str_eq(why, "inline:{k1=v1, =v2}: empty key at position 16");
	free(why);
	why = open_fails("inline:{k1= }", TABLE_READ);
	cr_assert_str_eq(why, "inline:{k1= }: missing value at position 9");
	free(why);
	why = open_fails("inline:{k1=v1} junk", TABLE_READ);
	cr_assert_str_eq(why, "inline:{k1=v1} junk: unexpected text after \"}\" at position 16");
	free(why);
}

Test(table, static_tables)
{
	struct table *t;
	char *why;

	t = open_ok("static:OK", TABLE_READ);
	expect_value(t, "anything", "OK");
	expect_value(t, "", "OK");
	table_close(t);
	t = open_ok("static:{ REJECT go away }", TABLE_READ);
	expect_value(t, "x", "REJECT go away");
	table_close(t);
	why = open_fails("static:{REJECT", TABLE_READ);
	cr_assert_str_eq(why, "static:{REJECT: missing \"}\" at position 15");
	free(why);
	why = open_fails("static:", TABLE_READ);
	cr_assert_str_eq(why, "static:: missing table name after \"static:\"");
	free(why);
}

Test(table, cidr_tables)
{
	struct table *t;

	write_file("clients.cidr",
	        "# clients\n"
	        "192.168.1.5        host five\n"
	        "192.168.1.0/24     lan\n"
	        "192.168.0.0/16     site\n"
	        "10.1.2.3/8         ten\n"
	        "2001:db8::/32      doc\n"
	        "[2001:db8:1::1]    one\n"
	        "::1                loopback\n"
	        "0.0.0.0/0          anywhere\n"
	        "  and then some\n");
	t = open_ok(spec_of("cidr", "clients.cidr"), TABLE_READ);
	expect_value(t, "192.168.1.5", "host five");
	expect_value(t, "192.168.1.6", "lan");
	expect_value(t, "192.168.2.1", "site");
	expect_value(t, "10.200.0.1", "ten");    /* host bits cleared */
	expect_value(t, "2001:db8:1::1", "doc"); /* first match wins */
	expect_value(t, "2001:DB8::FFFF", "doc");
	expect_value(t, "::1", "loopback");
	expect_value(t, "::2", NULL);
	expect_value(t, "::ffff:192.168.1.5", "host five");
	expect_value(t, "8.8.8.8", "anywhere and then some");
	expect_value(t, "not an address", NULL);
	expect_value(t, "192.168.1.5/32", NULL);
	table_close(t);
}

static void
cidr_error(const char *text, const char *want)
{
	char *why;

	write_file("bad.cidr", text);
	why = open_fails(spec_of("cidr", "bad.cidr"), TABLE_READ);
	cr_assert(strstr(why, want), "\"%s\" lacks \"%s\"", why, want);
	free(why);
}

Test(table, cidr_errors)
{
	cidr_error("10.0.0.0/8 ok\n\n1.2.3/24 bad\n", "/bad.cidr:3: bad network address \"1.2.3\"");
	cidr_error("10.0.0.0/33 bad\n", "/bad.cidr:1: bad prefix length \"/33\" (0 to 32)");
	cidr_error("2001:db8::/129 bad\n", "/bad.cidr:1: bad prefix length \"/129\"");
	cidr_error("10.0.0.0/ bad\n", "/bad.cidr:1: bad prefix length \"/\"");
	cidr_error("# x\n10.0.0.0/8\n", "/bad.cidr:2: missing value after \"10.0.0.0/8\"");
	cidr_error("[10.0.0.1] v\n", "/bad.cidr:1: bad network address \"[10.0.0.1]\"");
}

static void
regexp_error(const char *text, const char *want)
{
	char *why;

	write_file("bad.regexp", text);
	why = open_fails(spec_of("regexp", "bad.regexp"), TABLE_READ);
	cr_assert(strstr(why, want), "\"%s\" lacks \"%s\"", why, want);
	free(why);
}

Test(table, regexp_tables)
{
	struct table *t;

	write_file("checks.regexp",
	        "# checks\n"
	        "/^(.*)@(example\\.com)$/     user $1 at ${2} costs $$5\n"
	        "/^Spam/i                      REJECT spam\n"
	        "/^Case$/                      exact\n"
	        "/a\\/b/                       slash\n"
	        "!/\\.(org|net)$/              not org or net\n"
	        "/(x)?y/                       [$1]\n");
	t = open_ok(spec_of("regexp", "checks.regexp"), TABLE_READ);
	expect_value(t, "joe@example.com", "user joe at example.com costs $5");
	expect_value(t, "SPAMMER.org", "REJECT spam");
	expect_value(t, "Case", "exact");
	expect_value(t, "case.org", NULL); /* keys keep their case */
	expect_value(t, "a/b.org", "slash");
	expect_value(t, "host.com", "not org or net");
	expect_value(t, "y.net", "[]"); /* an unmatched group is empty */
	expect_value(t, "xy.net", "[x]");
	expect_value(t, "plain.org", NULL);
	table_close(t);
}

Test(table, regexp_errors)
{
	regexp_error("/ok/ fine\n/a(b/ bad\n", "/bad.regexp:2: bad regular expression \"a(b\"");
	regexp_error("/a/x v\n", "/bad.regexp:1: unknown flag \"x\"");
	regexp_error("/(a)/ $2\n", "/bad.regexp:1: $2 in the value, but the pattern has 1 group");
	regexp_error("!/(a)/ $1\n", "/bad.regexp:1: $1 in the value of a negated pattern");
	regexp_error("/a/ cost $5x\n", "/bad.regexp:1: $5 in the value, but the pattern has 0");
	regexp_error("/a/ $x\n", "/bad.regexp:1: bad \"$\" in the value");
	regexp_error("/a/\n", "/bad.regexp:1: missing value");
	regexp_error("a v\n", "/bad.regexp:1: expected \"/pattern/\"");
	regexp_error("# c\n\n/abc v\n", "/bad.regexp:3: missing \"/\" at the end of the pattern");
}

Test(table, spec_errors)
{
	char *why;

	why = open_fails("nosuch:/etc/x", TABLE_READ);
	cr_assert_str_eq(why,
	        "nosuch:/etc/x: unknown table type \"nosuch\" (known types: cdb, "
	        "hash, btree, inline, static, cidr, regexp)");
	free(why);
	why = open_fails("/etc/tern/access", TABLE_READ);
	cr_assert(strstr(why, "/etc/tern/access: missing table type"), "%s", why);
	free(why);
	why = open_fails(spec_of("cdb", "missing"), TABLE_READ);
	cr_assert(strstr(why, "/missing.cdb: No such file or directory"), "%s", why);
	free(why);
	why = open_fails(spec_of("hash", "missing"), TABLE_READ);
	cr_assert(strstr(why, "/missing.db: No such file or directory"), "%s", why);
	free(why);
	why = open_fails(spec_of("cidr", "missing"), TABLE_READ);
	cr_assert(strstr(why, "/missing: No such file or directory"), "%s", why);
	free(why);
	why = open_fails(spec_of("cdb", "missing"), TABLE_WRITE);
	cr_assert(strstr(why, "table type \"cdb\" is read-only"), "%s", why);
	free(why);

	write_file("junk.cdb", "not a cdb file");
	why = open_fails(spec_of("cdb", "junk"), TABLE_READ);
	cr_assert(strstr(why, "not a cdb file"), "%s", why);
	free(why);

	{
		struct str err = STR_INIT;

		cr_assert_eq(table_check("inline:{a=b}", &err), 0);
		cr_assert_eq(table_check("inline:{a=b", &err), -1);
		cr_assert(strstr(str_cstr(&err), "missing \"}\""));
		str_free(&err);
	}
}

Test(table, long_keys_are_not_found)
{
	char key[TABLE_KEY_MAX + 2];
	struct table *t = open_ok("static:yes", TABLE_READ);

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	expect_value(t, key, NULL);
	key[TABLE_KEY_MAX] = '\0';
	expect_value(t, key, "yes");
	table_close(t);
}

Test(table, changed_after_replacement)
{
	struct table *t, *c;

	write_file("map", "a 1\n");
	build_ok("cdb", "map", TABLE_SOURCE_MAP, NULL);
	write_file("nets.cidr", "10.0.0.0/8 ten\n");
	t = open_ok(spec_of("cdb", "map"), TABLE_READ);
	c = open_ok(spec_of("cidr", "nets.cidr"), TABLE_READ);
	cr_assert_eq(table_changed(t), 0);
	cr_assert_eq(table_changed(c), 0);

	write_file("map", "a 2\n");
	build_ok("cdb", "map", TABLE_SOURCE_MAP, NULL);
	cr_assert_eq(table_changed(t), 1);
	expect_value(t, "a", "1"); /* the old table stays readable */
	table_close(t);
	t = open_ok(spec_of("cdb", "map"), TABLE_READ);
	expect_value(t, "a", "2");
	cr_assert_eq(table_changed(t), 0);
	cr_assert_eq(unlink(in_dir("map.cdb")), 0);
	cr_assert_eq(table_changed(t), 1, "a removed file is a change");
	table_close(t);

	/* Edited in place: the size changes. */
	write_file("nets.cidr", "10.0.0.0/8 ten\n192.168.0.0/16 lan\n");
	cr_assert_eq(table_changed(c), 1);
	table_close(c);

	t = open_ok("inline:{a=b}", TABLE_READ);
	cr_assert_eq(table_changed(t), 0);
	table_close(t);
}

static void
check_cache(const char *type)
{
	struct table *t;
	char *why;

	t = open_ok(spec_of(type, "cache"), TABLE_WRITE);
	expect_value(t, "k", NULL);
	cr_assert_eq(table_update(t, "Key1", "value one"), 0);
	cr_assert_eq(table_update(t, "key2", "value two"), 0);
	cr_assert_eq(table_update(t, "key2", "value 2"), 0);
	expect_value(t, "KEY1", "value one");
	expect_value(t, "key2", "value 2");
	cr_assert_eq(table_delete(t, "key1"), 0);
	cr_assert_eq(table_delete(t, "never there"), 0);
	expect_value(t, "key1", NULL);

	/* One process owns a cache. */
	why = open_fails(spec_of(type, "cache"), TABLE_WRITE);
	cr_assert(strstr(why, "in use by another process"), "%s", why);
	free(why);
	cr_assert_eq(table_changed(t), 0, "our own writes are no change");
	table_close(t);

	/* Written for good: a reader sees it, and may not write. */
	t = open_ok(spec_of(type, "cache"), TABLE_READ);
	expect_value(t, "key2", "value 2");
	expect_value(t, "key1", NULL);
	cr_assert_eq(table_update(t, "key3", "x"), -1);
	cr_assert_eq(table_delete(t, "key2"), -1);
	table_close(t);
}

Test(table, cache_hash)
{
	check_cache("hash");
}

Test(table, cache_btree)
{
	check_cache("btree");
}

Test(table, damaged_cache_is_recreated)
{
	struct table *t;
	char *why;

	write_file("cache.db", "this is not a Berkeley DB file, just some junk text\n");
	why = open_fails(spec_of("hash", "cache"), TABLE_READ);
	cr_assert(strstr(why, "/cache.db"), "%s", why);
	free(why);

	t = open_ok(spec_of("hash", "cache"), TABLE_WRITE);
	expect_value(t, "k", NULL);
	cr_assert_eq(table_update(t, "k", "v"), 0);
	table_close(t);
	t = open_ok(spec_of("hash", "cache"), TABLE_READ);
	expect_value(t, "k", "v");
	table_close(t);

	/* A cache of the other type is no use either. */
	t = open_ok(spec_of("btree", "cache"), TABLE_WRITE);
	expect_value(t, "k", NULL);
	table_close(t);
	cr_assert_eq(dir_entries(), 1);
}
