/*
 * test_resolve.c - address resolution (lib/resolve.c): canonical forms,
 * domain classes, transport_maps precedence, relay hosts, recipient
 * existence per class with inline: and cdb: tables built here, routing
 * tricks, the fallback relay, table errors and the cache.
 */
#include <cdb.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "resolve.h"
#include "str.h"
#include "table_build.h"

static char dir[64];
static struct config *conf;
static struct resolver *rv;
static struct resolve_result res;

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tern-resolve-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	conf = config_new();
	resolve_result_init(&res);
	/* A fixed identity; no default aliases file. */
	config_set(conf, "myhostname", "mx.example.net", "test", NULL);
	config_set(conf, "alias_maps", "", "test", NULL);
}

static void
teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	resolver_close(rv);
	rv = NULL;
	resolve_result_free(&res);
	config_free(conf);
	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

TestSuite(resolve, .init = setup, .fini = teardown);

static void
set(const char *name, const char *value)
{
	struct str err = STR_INIT;

	cr_assert_eq(config_set(conf, name, value, "test", &err), 0, "%s", str_cstr(&err));
	str_free(&err);
}

static void
open_resolver(void)
{
	struct str err = STR_INIT;

	cr_assert_eq(config_validate(conf, &err), 0, "%s", str_cstr(&err));
	rv = resolver_open(conf, &err);
	cr_assert_not_null(rv, "%s", str_cstr(&err));
	str_free(&err);
}

/* Build dir/name.cdb from text; returns "cdb:dir/name" (static). */
static const char *
cdb_table(const char *name, const char *text, enum table_source_format format)
{
	static char specs[4][600];
	static int next;
	char *spec = specs[next++ % 4];
	char path[512];
	struct str err = STR_INIT;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs(text, fp);
	cr_assert_eq(fclose(fp), 0);
	cr_assert_eq(
	        table_build("cdb", path, format, NULL, &err), TABLE_BUILD_OK, "%s", str_cstr(&err));
	str_free(&err);
	snprintf(spec, sizeof(specs[0]), "cdb:%s", path);
	return spec;
}

/*
 * A cdb file whose every hash slot points past its end: cdb_init accepts
 * it, every lookup fails with a read error.  Returns "cdb:dir/name".
 */
static const char *
broken_cdb(const char *name)
{
	static char spec[600];
	unsigned char header[2048];
	char path[512];
	int fd;

	for (size_t i = 0; i < sizeof(header); i += 8) {
		unsigned pos = 1u << 20, n = 1;

		for (int k = 0; k < 4; k++) {
			header[i + (size_t)k] = (unsigned char)(pos >> (8 * k));
			header[i + 4 + (size_t)k] = (unsigned char)(n >> (8 * k));
		}
	}
	snprintf(path, sizeof(path), "%s/%s.cdb", dir, name);
	cr_assert((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0);
	cr_assert_eq(write(fd, header, sizeof(header)), (ssize_t)sizeof(header));
	close(fd);
	snprintf(spec, sizeof(spec), "cdb:%s/%s", dir, name);
	return spec;
}

static enum resolve_status
resolve(const char *addr, const char *sender)
{
	return resolve_address(rv, addr, sender, &res);
}

static void
assert_route(const char *addr, const char *sender, enum resolve_class cl, const char *transport,
        const char *nexthop)
{
	enum resolve_status st = resolve(addr, sender);

	cr_assert_eq(
	        st, RESOLVE_OK, "%s: %s: %s", addr, resolve_status_name(st), str_cstr(&res.reason));
	cr_assert_eq(res.class, cl, "%s: class %s", addr, resolve_class_name(res.class));
	cr_assert_str_eq(str_cstr(&res.transport), transport, "%s", addr);
	cr_assert_str_eq(str_cstr(&res.nexthop), nexthop, "%s", addr);
}

static void
assert_class(const char *addr, enum resolve_class cl)
{
	enum resolve_status st = resolve(addr, NULL);

	cr_assert_eq(
	        st, RESOLVE_OK, "%s: %s: %s", addr, resolve_status_name(st), str_cstr(&res.reason));
	cr_assert_eq(res.class, cl, "%s: class %s, want %s", addr, resolve_class_name(res.class),
	        resolve_class_name(cl));
}

static void
assert_verify(const char *addr, enum resolve_status want)
{
	enum resolve_status st = resolve_verify(rv, addr, &res);

	cr_assert_eq(st, want, "%s: %s, want %s (%s)", addr, resolve_status_name(st),
	        resolve_status_name(want), str_cstr(&res.reason));
}

static void
assert_canonical(const char *addr, const char *want)
{
	struct str canon = STR_INIT, reason = STR_INIT;

	cr_assert_eq(resolve_canonical(rv, addr, &canon, &reason), RESOLVE_OK, "%s: %s", addr,
	        str_cstr(&reason));
	cr_assert_str_eq(str_cstr(&canon), want);
	str_free(&canon);
	str_free(&reason);
}

static void
assert_malformed(const char *addr)
{
	struct str canon = STR_INIT, reason = STR_INIT;

	cr_assert_eq(resolve_canonical(rv, addr, &canon, &reason), RESOLVE_ERROR, "%s", addr);
	cr_assert_gt(reason.len, 0);
	cr_assert_eq(resolve(addr, NULL), RESOLVE_ERROR, "%s", addr);
	cr_assert_eq(resolve_verify(rv, addr, &res), RESOLVE_ERROR, "%s", addr);
	str_free(&canon);
	str_free(&reason);
}

Test(resolve, canonical_forms)
{
	char longaddr[RESOLVE_ADDRESS_MAX + 16];

	set("myorigin", "origin.example");
	open_resolver();
	assert_canonical("User.Name@Example.COM.", "User.Name@example.com");
	assert_canonical("Bob", "Bob@origin.example");
	assert_canonical("postmaster", "postmaster@origin.example");
	assert_canonical("a@[127.0.0.1]", "a@[127.0.0.1]");
	assert_canonical("a@[IPv6:::1]", "a@[ipv6:::1]");
	assert_canonical("\"quoted@at\"@X.example", "\"quoted@at\"@x.example");
	assert_canonical("us%er@Host.Example", "us%er@host.example");
	assert_canonical("j\xc3\xb6rg@B\xc3\xbc"
	                 "cher.Example",
	        "j\xc3\xb6rg@b\xc3\xbc"
	        "cher.example");
	assert_canonical("", "");

	assert_malformed("@example.com");
	assert_malformed("user@");
	assert_malformed("user@.");
	assert_malformed("user@-bad-.example");
	assert_malformed("user@exa mple.com");
	assert_malformed("user@1.2.3.4");
	assert_malformed("user@[300.1.1.1]");
	assert_malformed("us\ter@example.com");
	assert_malformed("user@ex..ample.com");
	assert_malformed("bad\xff@example.com");
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	memcpy(longaddr + sizeof(longaddr) - 13, "@example.com", 12);
	assert_malformed(longaddr);
	cr_assert_eq(resolve("", NULL), RESOLVE_ERROR);
}

Test(resolve, domain_classes)
{
	set("mydestination", "$myhostname, localhost, inline:{dest.example=yes}");
	set("virtual_mailbox_domains", "hosted.example");
	set("virtual_alias_domains", "alias.example");
	set("relay_domains", "relay.example, .sub.example");
	open_resolver();
	assert_class("a@mx.example.net", RESOLVE_CLASS_LOCAL);
	assert_class("a@MX.Example.NET.", RESOLVE_CLASS_LOCAL);
	assert_class("a@localhost", RESOLVE_CLASS_LOCAL);
	assert_class("a@Dest.Example", RESOLVE_CLASS_LOCAL);
	assert_class("bare", RESOLVE_CLASS_LOCAL); /* @$myorigin = @$myhostname */
	assert_class("a@[127.0.0.1]", RESOLVE_CLASS_LOCAL);
	assert_class("a@[IPv6:::1]", RESOLVE_CLASS_LOCAL);
	assert_class("a@[192.0.2.77]", RESOLVE_CLASS_REMOTE);
	assert_class("a@hosted.example", RESOLVE_CLASS_HOSTED);
	assert_class("a@alias.example", RESOLVE_CLASS_HOSTED);
	assert_class("a@relay.example", RESOLVE_CLASS_RELAY);
	assert_class("a@x.sub.example", RESOLVE_CLASS_RELAY);
	assert_class("a@deep.x.sub.example", RESOLVE_CLASS_RELAY);
	/* Subdomains match only when listed. */
	assert_class("a@sub.example", RESOLVE_CLASS_REMOTE);
	assert_class("a@x.mx.example.net", RESOLVE_CLASS_REMOTE);
	assert_class("a@x.hosted.example", RESOLVE_CLASS_REMOTE);
	assert_class("a@x.relay.example", RESOLVE_CLASS_REMOTE);
	assert_class("a@elsewhere.example", RESOLVE_CLASS_REMOTE);
	assert_class("a@notdest.example", RESOLVE_CLASS_REMOTE);
	cr_assert_str_eq(str_cstr(&res.recipient), "a@notdest.example");
	cr_assert_eq(res.flags, 0);
}

Test(resolve, default_transports)
{
	set("relay_domains", "relay.example");
	set("virtual_mailbox_domains", "hosted.example");
	open_resolver();
	assert_route("a@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "local", "mx.example.net");
	assert_route("a@hosted.example", NULL, RESOLVE_CLASS_HOSTED, "local", "hosted.example");
	assert_route("a@relay.example", NULL, RESOLVE_CLASS_RELAY, "smtp", "relay.example");
	assert_route("a@Far.Example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "far.example");
	assert_route("a@[192.0.2.9]", NULL, RESOLVE_CLASS_REMOTE, "smtp", "[192.0.2.9]");
}

Test(resolve, transport_maps_most_specific_wins)
{
	set("relayhost", "[smart.example]:587");
	set("transport_maps",
	        "inline:{a.b.example.com=t1:h1, .b.example.com=t2:[h2]:25, "
	        ".example.com=t3:, example.com=t5, *=t4:[h4]:2525, "
	        "hoponly.example=:[hop.example], bare.example=:}, "
	        "inline:{x.b.example.com=second:map, c.example.com=second:c}");
	open_resolver();
	assert_route("u@a.b.example.com", NULL, RESOLVE_CLASS_REMOTE, "t1", "h1");
	/* The exact key of the second map beats the ".parent" key of the first. */
	assert_route("u@x.b.example.com", NULL, RESOLVE_CLASS_REMOTE, "second", "map");
	assert_route("u@y.b.example.com", NULL, RESOLVE_CLASS_REMOTE, "t2", "[h2]:25");
	assert_route("u@deep.y.b.example.com", NULL, RESOLVE_CLASS_REMOTE, "t2", "[h2]:25");
	assert_route("u@c.example.com", NULL, RESOLVE_CLASS_REMOTE, "second", "c");
	/* Empty next hop: the class default (relayhost for remote). */
	assert_route("u@b.example.com", NULL, RESOLVE_CLASS_REMOTE, "t3", "[smart.example]:587");
	/* ".example.com" does not match example.com itself; the exact key does. */
	assert_route("u@example.com", NULL, RESOLVE_CLASS_REMOTE, "t5", "[smart.example]:587");
	assert_route("u@other.org", NULL, RESOLVE_CLASS_REMOTE, "t4", "[h4]:2525");
	assert_route("u@hoponly.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "[hop.example]");
	assert_route("u@bare.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "[smart.example]:587");
	/* Local domains go through transport_maps too ("*" here). */
	assert_route("u@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "t4", "[h4]:2525");
	/* Literals: themselves and "*" only. */
	assert_route("u@[192.0.2.1]", NULL, RESOLVE_CLASS_REMOTE, "t4", "[h4]:2525");
}

Test(resolve, transport_maps_bad_value_is_an_error)
{
	set("transport_maps", "inline:{bad.example=sm tp:x, bad2.example=smtp:a b}");
	open_resolver();
	cr_assert_eq(resolve("u@bad.example", NULL), RESOLVE_ERROR);
	cr_assert(strstr(str_cstr(&res.reason), "transport_maps") != NULL);
	cr_assert_eq(resolve("u@bad2.example", NULL), RESOLVE_ERROR);
	assert_route("u@good.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "good.example");
}

Test(resolve, relayhost_forms)
{
	set("relayhost", "smart.example");
	set("relay_domains", "relay.example");
	open_resolver();
	/* "host" (MX lookup) is passed on as written; smtp interprets it. */
	assert_route("u@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "smart.example");
	assert_route("u@relay.example", NULL, RESOLVE_CLASS_RELAY, "smtp", "smart.example");
	/* Local mail never goes to the relay host. */
	assert_route("u@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "local", "mx.example.net");
}

Test(resolve, relayhost_bracketed_with_port)
{
	set("relayhost", "[192.0.2.25]:2525");
	open_resolver();
	assert_route("u@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "[192.0.2.25]:2525");
}

Test(resolve, sender_dependent_relayhost)
{
	set("relayhost", "[default.relay]");
	set("sender_dependent_relayhost_maps",
	        "inline:{boss@tenant.example=[boss.relay]:587, @tenant.example=[tenant.relay]}");
	set("transport_maps", "inline:{pinned.example=smtp:[pinned.hop]}");
	open_resolver();
	assert_route("u@far.example", "Boss@Tenant.Example", RESOLVE_CLASS_REMOTE, "smtp",
	        "[boss.relay]:587");
	assert_route("u@far.example", "other@tenant.example", RESOLVE_CLASS_REMOTE, "smtp",
	        "[tenant.relay]");
	assert_route("u@far.example", "x@unrelated.example", RESOLVE_CLASS_REMOTE, "smtp",
	        "[default.relay]");
	assert_route("u@far.example", "", RESOLVE_CLASS_REMOTE, "smtp", "[default.relay]");
	assert_route("u@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "[default.relay]");
	/* transport_maps with a next hop overrides the sender's relay host. */
	assert_route("u@pinned.example", "other@tenant.example", RESOLVE_CLASS_REMOTE, "smtp",
	        "[pinned.hop]");
	/* A malformed sender is an error, not a guess. */
	cr_assert_eq(resolve("u@far.example", "bad@@"), RESOLVE_ERROR);
	cr_assert(strstr(str_cstr(&res.reason), "sender") != NULL);
}

Test(resolve, local_recipients_exist)
{
	const char *aliases =
	        cdb_table("aliases", "info: root\nSales: root, bin\n", TABLE_SOURCE_ALIASES);

	set("recipient_delimiter", "+");
	set("alias_maps", aliases);
	set("virtual_alias_maps", "inline:{valias@mx.example.net=root}");
	open_resolver();
	assert_verify("root@mx.example.net", RESOLVE_OK);
	cr_assert_eq(res.class, RESOLVE_CLASS_LOCAL);
	assert_verify("Root@MX.example.net", RESOLVE_OK); /* accounts are lower-cased */
	assert_verify("root+tag@mx.example.net", RESOLVE_OK);
	assert_verify("root", RESOLVE_OK);
	assert_verify("info@mx.example.net", RESOLVE_OK);
	assert_verify("info+news@mx.example.net", RESOLVE_OK);
	assert_verify("sales@localhost", RESOLVE_OK);
	assert_verify("valias@mx.example.net", RESOLVE_OK);
	assert_verify("postmaster@mx.example.net", RESOLVE_OK);
	assert_verify("PostMaster@localhost", RESOLVE_OK);
	assert_verify("postmaster@[127.0.0.1]", RESOLVE_OK);
	assert_verify("nosuchuser@mx.example.net", RESOLVE_UNKNOWN);
	cr_assert(strstr(str_cstr(&res.reason), "unknown") != NULL);
	assert_verify("nosuchuser+root@mx.example.net", RESOLVE_UNKNOWN);
	assert_verify("+root@mx.example.net", RESOLVE_UNKNOWN);
	assert_verify("valias@localhost", RESOLVE_UNKNOWN);
	/* The resolution of an unknown local recipient is still local. */
	assert_route(
	        "nosuchuser@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "local", "mx.example.net");
}

Test(resolve, delimiter_off_keeps_extension)
{
	open_resolver();
	assert_verify("root@mx.example.net", RESOLVE_OK);
	assert_verify("root+tag@mx.example.net", RESOLVE_UNKNOWN);
}

Test(resolve, hosted_recipients_exist)
{
	const char *mailboxes = cdb_table("vmailbox",
	        "alice@hosted.example hosted.example/alice/\n"
	        "@catchall.example catchall.example/all/\n",
	        TABLE_SOURCE_MAP);

	set("recipient_delimiter", "+-");
	set("virtual_mailbox_domains", "hosted.example, catchall.example, inline:{t.example=1}");
	set("virtual_mailbox_maps", mailboxes);
	set("virtual_alias_maps", "inline:{sales@hosted.example=alice@hosted.example}");
	open_resolver();
	assert_verify("alice@hosted.example", RESOLVE_OK);
	cr_assert_eq(res.class, RESOLVE_CLASS_HOSTED);
	assert_verify("ALICE@Hosted.Example", RESOLVE_OK);
	assert_verify("alice+x@hosted.example", RESOLVE_OK);
	assert_verify("alice-x@hosted.example", RESOLVE_OK);
	assert_verify("sales@hosted.example", RESOLVE_OK);
	assert_verify("anyone@catchall.example", RESOLVE_OK);
	assert_verify("postmaster@t.example", RESOLVE_OK);
	assert_verify("bob@hosted.example", RESOLVE_UNKNOWN);
	assert_verify("bob@t.example", RESOLVE_UNKNOWN);
	/* A system account is no mailbox in a hosted domain. */
	assert_verify("root@hosted.example", RESOLVE_UNKNOWN);
}

Test(resolve, relay_recipients)
{
	const char *valid = cdb_table(
	        "relay_rcpt", "known@relay.example x\n@open.example x\n", TABLE_SOURCE_MAP);

	set("relay_domains", "relay.example, open.example, unchecked.example");
	set("relay_recipient_maps", valid);
	open_resolver();
	assert_verify("known@relay.example", RESOLVE_OK);
	cr_assert_eq(res.class, RESOLVE_CLASS_RELAY);
	assert_verify("stranger@relay.example", RESOLVE_UNKNOWN);
	assert_verify("anyone@open.example", RESOLVE_OK);
	/* relay_recipient_maps is set: a domain without entries has no one. */
	assert_verify("anyone@unchecked.example", RESOLVE_UNKNOWN);
	/* Remote recipients are not ours to judge. */
	assert_verify("anyone@far.example", RESOLVE_OK);
	cr_assert_eq(res.class, RESOLVE_CLASS_REMOTE);
}

Test(resolve, relay_without_recipient_maps_accepts_all)
{
	set("relay_domains", "relay.example");
	open_resolver();
	assert_verify("anyone@relay.example", RESOLVE_OK);
}

Test(resolve, routing_tricks_stay_local)
{
	set("virtual_mailbox_domains", "hosted.example");
	set("virtual_mailbox_maps", "inline:{@hosted.example=x}");
	set("fallback_relay", "primary.example");
	set("relayhost", "[smart.example]");
	open_resolver();
	static const char *const tricks[] = {
	        "user%evil.example@mx.example.net",
	        "evil.example!user@mx.example.net",
	        "user@evil.example@mx.example.net", /* "user@evil.example"@mx.example.net */
	        "@evil.example:user@mx.example.net",
	        "root%evil.example@[127.0.0.1]",
	};

	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		assert_route(tricks[i], NULL, RESOLVE_CLASS_LOCAL, "local",
		        strchr(tricks[i], '[') ? "[127.0.0.1]" : "mx.example.net");
		cr_assert(res.flags & RESOLVE_FLAG_ROUTING_TRICK, "%s", tricks[i]);
		cr_assert_not(res.flags & RESOLVE_FLAG_FALLBACK, "%s", tricks[i]);
		assert_verify(tricks[i], RESOLVE_UNKNOWN);
		cr_assert(res.flags & RESOLVE_FLAG_ROUTING_TRICK);
	}
	/* Hosted: a catch-all takes it in, still local, never rerouted. */
	assert_route("u%evil.example@hosted.example", NULL, RESOLVE_CLASS_HOSTED, "local",
	        "hosted.example");
	cr_assert(res.flags & RESOLVE_FLAG_ROUTING_TRICK);
	assert_verify("u%evil.example@hosted.example", RESOLVE_OK);
	/* Remote: the domain decides; the flag is only information. */
	assert_route("u%x@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "[smart.example]");
	cr_assert(res.flags & RESOLVE_FLAG_ROUTING_TRICK);
}

Test(resolve, fallback_relay_takes_unknown_local_recipients)
{
	set("virtual_mailbox_domains", "hosted.example");
	set("virtual_mailbox_maps", "inline:{alice@hosted.example=x}");
	set("fallback_relay", "primary.example");
	open_resolver();
	assert_route(
	        "nosuch@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "smtp", "[primary.example]");
	cr_assert(res.flags & RESOLVE_FLAG_FALLBACK);
	assert_verify("nosuch@mx.example.net", RESOLVE_OK);
	cr_assert(res.flags & RESOLVE_FLAG_FALLBACK);
	cr_assert_str_eq(str_cstr(&res.nexthop), "[primary.example]");
	assert_route("bob@hosted.example", NULL, RESOLVE_CLASS_HOSTED, "smtp", "[primary.example]");
	/* Known recipients stay here. */
	assert_route("root@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "local", "mx.example.net");
	cr_assert_eq(res.flags, 0);
	assert_route("alice@hosted.example", NULL, RESOLVE_CLASS_HOSTED, "local", "hosted.example");
	/* Other classes are untouched. */
	assert_route("x@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "far.example");
	cr_assert_eq(res.flags, 0);
}

Test(resolve, fallback_relay_forms)
{
	set("fallback_relay", "[192.0.2.5]:2525");
	open_resolver();
	assert_route(
	        "nosuch@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "smtp", "[192.0.2.5]:2525");
	resolver_close(rv);
	set("fallback_relay", "primary.example:2525");
	open_resolver();
	assert_route("nosuch@mx.example.net", NULL, RESOLVE_CLASS_LOCAL, "smtp",
	        "[primary.example]:2525");
}

Test(resolve, table_errors_defer)
{
	const char *broken = broken_cdb("broken");
	struct str spec = STR_INIT;

	/* The test's premise: the file opens, every lookup fails. */
	set("alias_maps", broken);
	set("relay_domains", "relay.example");
	set("relay_recipient_maps", broken);
	set("virtual_mailbox_domains", "hosted.example");
	set("virtual_mailbox_maps", broken);
	open_resolver();
	/* LOCAL: an account proves existence; without one, a broken alias table defers. */
	assert_verify("root@mx.example.net", RESOLVE_OK);
	assert_verify("nosuchuser@mx.example.net", RESOLVE_DEFER);
	cr_assert(strstr(str_cstr(&res.reason), "alias_maps") != NULL, "%s", str_cstr(&res.reason));
	assert_verify("alice@hosted.example", RESOLVE_DEFER);
	assert_verify("x@relay.example", RESOLVE_DEFER);
	assert_verify("x@far.example", RESOLVE_OK);
	resolver_close(rv);

	/* A broken domain table or transport table defers resolution. */
	str_printf(&spec, "$myhostname, %s", broken);
	set("alias_maps", "");
	set("mydestination", str_cstr(&spec));
	open_resolver();
	cr_assert_eq(resolve("x@mx.example.net", NULL), RESOLVE_OK);
	cr_assert_eq(resolve("x@other.example", NULL), RESOLVE_DEFER);
	cr_assert(strstr(str_cstr(&res.reason), "mydestination") != NULL);
	assert_verify("x@other.example", RESOLVE_DEFER);
	resolver_close(rv);

	set("mydestination", "$myhostname");
	set("transport_maps", broken);
	open_resolver();
	cr_assert_eq(resolve("x@far.example", NULL), RESOLVE_DEFER);
	cr_assert(strstr(str_cstr(&res.reason), "transport_maps") != NULL);
	cr_assert_eq(res.transport.len, 0);
	resolver_close(rv);

	set("transport_maps", "");
	set("sender_dependent_relayhost_maps", broken);
	open_resolver();
	cr_assert_eq(resolve("x@far.example", "s@tenant.example"), RESOLVE_DEFER);
	str_free(&spec);
}

Test(resolve, defer_is_not_cached)
{
	unsigned long hits, misses;

	set("virtual_mailbox_domains", "hosted.example");
	set("virtual_mailbox_maps", broken_cdb("broken"));
	open_resolver();
	assert_verify("a@hosted.example", RESOLVE_DEFER);
	assert_verify("a@hosted.example", RESOLVE_DEFER);
	resolver_cache_stats(rv, &hits, &misses);
	cr_assert_eq(hits, 0);
	cr_assert_eq(misses, 2);
}

Test(resolve, missing_table_fails_open)
{
	struct str err = STR_INIT, path = STR_INIT;

	str_printf(&path, "cdb:%s/nonexistent", dir);
	set("virtual_mailbox_maps", str_cstr(&path));
	cr_assert_eq(config_validate(conf, &err), 0);
	cr_assert_null(resolver_open(conf, &err));
	cr_assert(strstr(str_cstr(&err), "virtual_mailbox_maps") != NULL, "%s", str_cstr(&err));
	str_free(&err);
	str_free(&path);
}

Test(resolve, cache_hits_and_expiry)
{
	unsigned long hits, misses;

	open_resolver();
	resolver_cache_setup(rv, 8, 300);
	assert_route("a@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "far.example");
	assert_route("a@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "far.example");
	assert_verify("a@far.example", RESOLVE_OK);
	assert_verify("a@far.example", RESOLVE_OK);
	/* Another sender is another question. */
	assert_route("a@far.example", "s@x.example", RESOLVE_CLASS_REMOTE, "smtp", "far.example");
	resolver_cache_stats(rv, &hits, &misses);
	cr_assert_eq(hits, 2);
	cr_assert_eq(misses, 3);
	usleep(400 * 1000);
	assert_route("a@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "far.example");
	resolver_cache_stats(rv, &hits, &misses);
	cr_assert_eq(hits, 2);
	cr_assert_eq(misses, 4);
	/* Bounded: many addresses through a small cache keep answering right. */
	for (int i = 0; i < 100; i++) {
		char addr[64];

		snprintf(addr, sizeof(addr), "u%d@d%d.example", i, i);
		assert_route(addr, NULL, RESOLVE_CLASS_REMOTE, "smtp", strchr(addr, '@') + 1);
		cr_assert_str_eq(str_cstr(&res.recipient), addr);
	}
	resolver_cache_setup(rv, 0, 0);
	assert_route("a@far.example", NULL, RESOLVE_CLASS_REMOTE, "smtp", "far.example");
}

Test(resolve, wire_names)
{
	enum resolve_status st;
	enum resolve_class cl;
	struct str s = STR_INIT;
	unsigned flags;

	cr_assert_eq(resolve_status_parse("defer", &st), 0);
	cr_assert_eq(st, RESOLVE_DEFER);
	cr_assert_eq(resolve_status_parse("maybe", &st), -1);
	cr_assert_eq(resolve_class_parse("hosted", &cl), 0);
	cr_assert_eq(cl, RESOLVE_CLASS_HOSTED);
	cr_assert_eq(resolve_class_parse("", &cl), -1);
	resolve_flags_format(RESOLVE_FLAG_ROUTING_TRICK | RESOLVE_FLAG_FALLBACK, &s);
	cr_assert_str_eq(str_cstr(&s), "routing_trick,fallback");
	cr_assert_eq(resolve_flags_parse(str_cstr(&s), &flags), 0);
	cr_assert_eq(flags, RESOLVE_FLAG_ROUTING_TRICK | RESOLVE_FLAG_FALLBACK);
	cr_assert_eq(resolve_flags_parse("", &flags), 0);
	cr_assert_eq(flags, 0);
	cr_assert_eq(resolve_flags_parse("routing_trick,bogus", &flags), -1);
	str_free(&s);
}
