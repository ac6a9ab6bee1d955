/*
 * inet_match.h - does a client belong to a list of networks?  The matcher
 * behind mynetworks (and, later, access lists that name networks).
 *
 * A list is the items of a PARAM_LIST value (config_list), each one of:
 *
 *	192.0.2.1		one IPv4 address (/32)
 *	192.0.2.0/24		an IPv4 network; host bits set are cleared,
 *				with a warning
 *	[2001:db8::1]		one IPv6 address (/128); brackets optional
 *	[2001:db8::]/32		an IPv6 network; brackets optional
 *	mail.example.com	a host name: matches the client's verified
 *				(forward-confirmed) name, without regard to
 *				case; a client without one never matches
 *	type:name		a table (table.h), looked up with the client
 *				address, then with its verified name; any
 *				value found is a match
 *
 * An IPv4-mapped IPv6 client address (::ffff:192.0.2.1) is matched as
 * the IPv4 address.  The first item that matches wins; order matters only
 * for table errors, which stop the search.  Tables are opened by
 * inet_match_new() (before a daemon chroots) and closed by
 * inet_match_free().  Nothing here blocks except table lookups, which
 * read local files.
 *
 * Callers: smtpd (mynetworks).  Pure logic apart from the tables: unit
 * tests in tests/unit/test_inet_match.c.
 */
#ifndef TERN_INET_MATCH_H
#define TERN_INET_MATCH_H

#include <stddef.h>

#include "str.h"

struct table;
struct inet_match;

#define INET_MATCH_ITEMS_MAX 4096 /* items in one list */
#define INET_MATCH_NAME_MAX  253  /* octets of a host name item */

/*
 * Parse one network item: "addr", "addr/len", "[v6]", "[v6]/len".
 * Returns 0 and fills family (AF_INET, AF_INET6), addr (network byte
 * order, host bits cleared) and prefix; *host_bits is set to 1 when bits
 * beyond the prefix had to be cleared.  Returns -1 when text is not a
 * network.
 */
int inet_parse_network(
        const char *text, int *family, unsigned char addr[16], int *prefix, int *host_bits);

/*
 * Parse an address in text form (no brackets, no prefix) into family and
 * addr; an IPv4-mapped IPv6 address becomes AF_INET.  0 or -1.
 */
int inet_parse_addr(const char *text, int *family, unsigned char addr[16]);

/*
 * Build a matcher from a NULL-terminated list.  Returns NULL with
 * "item: reason" appended to err for an item that is neither a network,
 * a host name nor a table, or a table that cannot be opened; warns
 * (msg_warn) about networks written with host bits set.  what names the
 * list in diagnostics ("mynetworks").
 */
struct inet_match *inet_match_new(const char *what, char *const *items, struct str *err);
void inet_match_free(struct inet_match *m);

/*
 * Does the client (address in text, verified name or NULL) match?
 * 1 yes, 0 no, -1 a table could not be read (logged; err filled when
 * not NULL).  An address that does not parse never matches a network.
 */
int inet_match_client(
        struct inet_match *m, const char *addr, const char *verified_name, struct str *err);

/* 1 when some item is a host name, which only a verified client name
 * can match: the caller knows that a reverse lookup is needed. */
int inet_match_wants_name(const struct inet_match *m);

/* The tables opened (for daemon_watch_table). */
size_t inet_match_table_count(const struct inet_match *m);
struct table *inet_match_table(const struct inet_match *m, size_t i);

#endif
