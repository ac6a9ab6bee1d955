/*
 * test_inet_match.c - network lists (mynetworks): addresses, networks,
 * IPv6, IPv4-mapped clients, host names and tables.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "inet_match.h"
#include "str.h"

static struct inet_match *
make(const char *const *items)
{
	struct str err = STR_INIT;
	struct inet_match *m = inet_match_new("mynetworks", (char *const *)items, &err);

	cr_assert_not_null(m, "inet_match_new: %s", str_cstr(&err));
	str_free(&err);
	return m;
}

static int
match(struct inet_match *m, const char *addr, const char *name)
{
	return inet_match_client(m, addr, name, NULL);
}

Test(inet_match, default_mynetworks)
{
	const char *items[] = {"127.0.0.0/8", "[::1]/128", NULL};
	struct inet_match *m = make(items);

	cr_assert_eq(match(m, "127.0.0.1", NULL), 1);
	cr_assert_eq(match(m, "127.255.255.254", NULL), 1);
	cr_assert_eq(match(m, "128.0.0.1", NULL), 0);
	cr_assert_eq(match(m, "126.255.255.255", NULL), 0);
	cr_assert_eq(match(m, "::1", NULL), 1);
	cr_assert_eq(match(m, "::2", NULL), 0);
	cr_assert_eq(match(m, "::ffff:127.0.0.9", NULL), 1);
	cr_assert_eq(match(m, "::ffff:10.0.0.1", NULL), 0);
	cr_assert_eq(match(m, "not an address", NULL), 0);
	cr_assert_eq(match(m, NULL, NULL), 0);
	cr_assert_eq(inet_match_wants_name(m), 0);
	inet_match_free(m);
}

Test(inet_match, single_addresses_and_prefixes)
{
	const char *items[] = {
	        "10.1.2.3", "192.0.2.0/25", "2001:db8::/32", "[2001:db9::7]", "0.0.0.0/0", NULL};
	const char *narrow[] = {"10.1.2.3", "192.0.2.0/25", "2001:db8::/32", "[2001:db9::7]", NULL};
	struct inet_match *m = make(narrow), *all = make(items);

	cr_assert_eq(match(m, "10.1.2.3", NULL), 1);
	cr_assert_eq(match(m, "10.1.2.4", NULL), 0);
	cr_assert_eq(match(m, "192.0.2.127", NULL), 1);
	cr_assert_eq(match(m, "192.0.2.128", NULL), 0);
	cr_assert_eq(match(m, "2001:db8:ffff::1", NULL), 1);
	cr_assert_eq(match(m, "2001:db9::7", NULL), 1);
	cr_assert_eq(match(m, "2001:db9::8", NULL), 0);
	/* 0.0.0.0/0 matches every IPv4 address and no IPv6 one. */
	cr_assert_eq(match(all, "203.0.113.5", NULL), 1);
	cr_assert_eq(match(all, "2001:dba::1", NULL), 0);
	inet_match_free(m);
	inet_match_free(all);
}

Test(inet_match, parse_network)
{
	unsigned char addr[16];
	int family, prefix, host_bits;

	cr_assert_eq(inet_parse_network("192.0.2.77/24", &family, addr, &prefix, &host_bits), 0);
	cr_assert_eq(family, AF_INET);
	cr_assert_eq(prefix, 24);
	cr_assert_eq(host_bits, 1);
	cr_assert_eq(addr[3], 0);
	cr_assert_eq(inet_parse_network("[::1]/128", &family, addr, &prefix, &host_bits), 0);
	cr_assert_eq(family, AF_INET6);
	cr_assert_eq(host_bits, 0);
	cr_assert_eq(inet_parse_network("1.2.3.4/33", &family, addr, &prefix, &host_bits), -1);
	cr_assert_eq(inet_parse_network("::/129", &family, addr, &prefix, &host_bits), -1);
	cr_assert_eq(inet_parse_network("1.2.3.4/", &family, addr, &prefix, &host_bits), -1);
	cr_assert_eq(inet_parse_network("[1.2.3.4]", &family, addr, &prefix, &host_bits), -1);
	cr_assert_eq(inet_parse_network("1.2.3", &family, addr, &prefix, &host_bits), -1);
	cr_assert_eq(inet_parse_network("", &family, addr, &prefix, &host_bits), -1);
	cr_assert_eq(inet_parse_addr("::ffff:1.2.3.4", &family, addr), 0);
	cr_assert_eq(family, AF_INET);
	cr_assert_eq(addr[0], 1);
}

Test(inet_match, host_names_need_a_verified_name)
{
	const char *items[] = {"relay.example.com", NULL};
	struct inet_match *m = make(items);

	cr_assert_eq(inet_match_wants_name(m), 1);
	cr_assert_eq(match(m, "192.0.2.1", NULL), 0);
	cr_assert_eq(match(m, "192.0.2.1", "RELAY.Example.COM"), 1);
	cr_assert_eq(match(m, "192.0.2.1", "other.example.com"), 0);
	cr_assert_eq(match(m, "192.0.2.1", "x.relay.example.com"), 0);
	inet_match_free(m);
}

Test(inet_match, tables)
{
	const char *items[] = {"inline:{192.0.2.9=ok, trusted.example=ok}", NULL};
	struct inet_match *m = make(items);

	cr_assert_eq(inet_match_table_count(m), 1);
	cr_assert_not_null(inet_match_table(m, 0));
	cr_assert_null(inet_match_table(m, 1));
	cr_assert_eq(match(m, "192.0.2.9", NULL), 1);
	cr_assert_eq(match(m, "192.0.2.10", NULL), 0);
	cr_assert_eq(match(m, "192.0.2.10", "Trusted.Example"), 1);
	inet_match_free(m);
}

Test(inet_match, refused_items)
{
	const char *bad1[] = {"127.0.0.0/8", "not a network!", NULL};
	const char *bad2[] = {"nosuchtype:/x", NULL};
	const char *empty[] = {NULL};
	struct str err = STR_INIT;
	struct inet_match *m;

	cr_assert_null(inet_match_new("mynetworks", (char *const *)bad1, &err));
	cr_assert(strstr(str_cstr(&err), "not a network!") != NULL, "%s", str_cstr(&err));
	str_reset(&err);
	cr_assert_null(inet_match_new("mynetworks", (char *const *)bad2, &err));
	cr_assert(err.len > 0);
	m = inet_match_new("mynetworks", (char *const *)empty, &err);
	cr_assert_not_null(m);
	cr_assert_eq(match(m, "127.0.0.1", NULL), 0);
	inet_match_free(m);
	str_free(&err);
}
