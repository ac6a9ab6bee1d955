/*
 * test_addr.c - RFC 5321 path and mailbox parsing (lib/addr.c), as tables
 * of inputs and expected results, plus generated cases: every octet in
 * every part of an address, and every length limit at and one past it.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

#define R  1 /* reverse-path only */
#define F  2 /* forward-path only */
#define B  3 /* both */
#define U  ADDR_OPT_SMTPUTF8
#define Q  ADDR_WAS_QUOTED
#define NQ ADDR_LOCAL_NEEDS_QUOTE
#define LT ADDR_IS_LITERAL
#define RT ADDR_HAD_ROUTE
#define U8 ADDR_HAS_UTF8
#define PM (ADDR_IS_POSTMASTER | ADDR_LOCAL_POSTMASTER)
#define LP ADDR_LOCAL_POSTMASTER

struct path_case {
	const char *in;
	int types;     /* R, F or B */
	unsigned opts; /* ADDR_OPT_* */
	enum addr_status want;
	const char *local;  /* unquoted local part (when OK) */
	const char *domain; /* lower-cased domain (when OK) */
	unsigned flags;     /* exact flags (when OK) */
};

static const struct path_case path_cases[] = {
        /* plain dot-atoms */
        {"<user@example.com>", B, 0, ADDR_OK, "user", "example.com", 0},
        {"<User@Example.COM>", B, 0, ADDR_OK, "User", "example.com", 0},
        {"<a@b.c>", B, 0, ADDR_OK, "a", "b.c", 0},
        {"<first.last@example.com>", B, 0, ADDR_OK, "first.last", "example.com", 0},
        {"<a.b.c.d@example.com>", B, 0, ADDR_OK, "a.b.c.d", "example.com", 0},
        {"<a+tag@example.com>", B, 0, ADDR_OK, "a+tag", "example.com", 0},
        {"<!#$%&'*+-/=?^_`{|}~@example.com>", B, 0, ADDR_OK, "!#$%&'*+-/=?^_`{|}~", "example.com",
                0},
        {"<0@example.com>", B, 0, ADDR_OK, "0", "example.com", 0},
        {"<user@sub.domain.example.com>", B, 0, ADDR_OK, "user", "sub.domain.example.com", 0},
        {"<user@xn--bcher-kva.example>", B, 0, ADDR_OK, "user", "xn--bcher-kva.example", 0},
        {"<user@under_score.example>", B, 0, ADDR_OK, "user", "under_score.example", 0},
        {"<user@a-b.example>", B, 0, ADDR_OK, "user", "a-b.example", 0},
        {"<user@a--b.example>", B, 0, ADDR_OK, "user", "a--b.example", 0},
        {"<user@1a.example>", B, 0, ADDR_OK, "user", "1a.example", 0},
        {"<user@123.example>", B, 0, ADDR_OK, "user", "123.example", 0},
        {"<user@example.c0m>", B, 0, ADDR_OK, "user", "example.c0m", 0},
        {"<user@1-2.3>", B, 0, ADDR_OK, "user", "1-2.3", 0},
        {"<user@localhost>", B, 0, ADDR_OK, "user", "localhost", 0},
        {"<user@LOCALHOST>", B, 0, ADDR_OK, "user", "localhost", 0},
        {"<user@x>", B, 0, ADDR_OK, "user", "x", 0},
        {"<USER@X>", B, 0, ADDR_OK, "USER", "x", 0},
        {"<user@_dmarc.example>", B, 0, ADDR_OK, "user", "_dmarc.example", 0},
        /* loose dots, as Postfix accepts them */
        {"<a..b@x.org>", B, 0, ADDR_OK, "a..b", "x.org", NQ},
        {"<.a@x.org>", B, 0, ADDR_OK, ".a", "x.org", NQ},
        {"<a.@x.org>", B, 0, ADDR_OK, "a.", "x.org", NQ},
        {"<.@x.org>", B, 0, ADDR_OK, ".", "x.org", NQ},
        {"<...@x.org>", B, 0, ADDR_OK, "...", "x.org", NQ},
        /* quoted local parts */
        {"<\"a b\"@example.com>", B, 0, ADDR_OK, "a b", "example.com", Q | NQ},
        {"<\"abc\"@example.com>", B, 0, ADDR_OK, "abc", "example.com", Q},
        {"<\"a.b\"@example.com>", B, 0, ADDR_OK, "a.b", "example.com", Q},
        {"<\"a\\\"b\"@x.org>", B, 0, ADDR_OK, "a\"b", "x.org", Q | NQ},
        {"<\"a\\\\b\"@x.org>", B, 0, ADDR_OK, "a\\b", "x.org", Q | NQ},
        {"<\"a@b\"@x.org>", B, 0, ADDR_OK, "a@b", "x.org", Q | NQ},
        {"<\"a>b\"@x.org>", B, 0, ADDR_OK, "a>b", "x.org", Q | NQ},
        {"<\"a<b\"@x.org>", B, 0, ADDR_OK, "a<b", "x.org", Q | NQ},
        {"<\"\\a\"@x.org>", B, 0, ADDR_OK, "a", "x.org", Q},
        {"<\"\\ \"@x.org>", B, 0, ADDR_OK, " ", "x.org", Q | NQ},
        {"<\"a..b\"@x.org>", B, 0, ADDR_OK, "a..b", "x.org", Q | NQ},
        {"<\" \"@x.org>", B, 0, ADDR_OK, " ", "x.org", Q | NQ},
        {"<\"a,b:c;d\"@x.org>", B, 0, ADDR_OK, "a,b:c;d", "x.org", Q | NQ},
        {"<\"(comment)\"@x.org>", B, 0, ADDR_OK, "(comment)", "x.org", Q | NQ},
        {"<\"[x]\"@x.org>", B, 0, ADDR_OK, "[x]", "x.org", Q | NQ},
        {"<\"user%host\"@x.org>", B, 0, ADDR_OK, "user%host", "x.org", Q},
        {"<\"@\"@x.org>", B, 0, ADDR_OK, "@", "x.org", Q | NQ},
        {"<\"\\\"\"@x.org>", B, 0, ADDR_OK, "\"", "x.org", Q | NQ},
        {"<\"~\"@x.org>", B, 0, ADDR_OK, "~", "x.org", Q},
        {"<\"a b\"@[192.0.2.1]>", B, 0, ADDR_OK, "a b", "[192.0.2.1]", Q | NQ | LT},
        /* address literals */
        {"<user@[192.0.2.1]>", B, 0, ADDR_OK, "user", "[192.0.2.1]", LT},
        {"<user@[0.0.0.0]>", B, 0, ADDR_OK, "user", "[0.0.0.0]", LT},
        {"<user@[255.255.255.255]>", B, 0, ADDR_OK, "user", "[255.255.255.255]", LT},
        {"<user@[127.0.0.1]>", B, 0, ADDR_OK, "user", "[127.0.0.1]", LT},
        {"<user@[IPv6:2001:db8::1]>", B, 0, ADDR_OK, "user", "[ipv6:2001:db8::1]", LT},
        {"<user@[ipv6:2001:DB8::1]>", B, 0, ADDR_OK, "user", "[ipv6:2001:db8::1]", LT},
        {"<user@[IPV6:::1]>", B, 0, ADDR_OK, "user", "[ipv6:::1]", LT},
        {"<user@[IPv6:::]>", B, 0, ADDR_OK, "user", "[ipv6:::]", LT},
        {"<user@[IPv6:::ffff:192.0.2.1]>", B, 0, ADDR_OK, "user", "[ipv6:::ffff:192.0.2.1]", LT},
        {"<user@[IPv6:2001:db8:0:0:0:0:0:1]>", B, 0, ADDR_OK, "user", "[ipv6:2001:db8:0:0:0:0:0:1]",
                LT},
        {"<user@[IPv6:fe80::1:2:3:4]>", B, 0, ADDR_OK, "user", "[ipv6:fe80::1:2:3:4]", LT},
        /* null sender, postmaster */
        {"<>", R, 0, ADDR_OK, "", "", ADDR_IS_NULL},
        {"<>", F, 0, ADDR_ERR_NULL_NOT_ALLOWED, NULL, NULL, 0},
        {"<>", R, U, ADDR_OK, "", "", ADDR_IS_NULL},
        {"<postmaster>", F, 0, ADDR_OK, "postmaster", "", PM},
        {"<Postmaster>", F, 0, ADDR_OK, "Postmaster", "", PM},
        {"<POSTMASTER>", F, 0, ADDR_OK, "POSTMASTER", "", PM},
        {"<PostMaster>", F, U, ADDR_OK, "PostMaster", "", PM},
        {"<\"postmaster\">", F, 0, ADDR_OK, "postmaster", "", PM | Q},
        {"<postmaster>", R, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<postmaster@example.com>", B, 0, ADDR_OK, "postmaster", "example.com", LP},
        {"<PostMaster@Example.com>", B, 0, ADDR_OK, "PostMaster", "example.com", LP},
        {"<postmaster@[192.0.2.1]>", B, 0, ADDR_OK, "postmaster", "[192.0.2.1]", LP | LT},
        {"<postmasters>", F, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<postmaste>", F, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<abuse>", F, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<@a:postmaster>", F, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        /* source routes: checked, then dropped */
        {"<@a:user@example.com>", B, 0, ADDR_OK, "user", "example.com", RT},
        {"<@a,@b:user@example.com>", B, 0, ADDR_OK, "user", "example.com", RT},
        {"<@a.example,@b.example,@c.example:user@d.example>", B, 0, ADDR_OK, "user", "d.example",
                RT},
        {"<@[192.0.2.1]:user@d.example>", B, 0, ADDR_OK, "user", "d.example", RT},
        {"<@a:\"q u\"@d.example>", B, 0, ADDR_OK, "q u", "d.example", RT | Q | NQ},
        {"<@a:user@[192.0.2.9]>", B, 0, ADDR_OK, "user", "[192.0.2.9]", RT | LT},
        {"<@relay.example:postmaster@d.example>", B, 0, ADDR_OK, "postmaster", "d.example",
                RT | LP},
        {"<@:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a,:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a,b:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a,,@b:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a;user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a..b:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@-a:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@1.2.3.4:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@[1.2.3]:user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a :user@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a:>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@x.org>", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a", B, 0, ADDR_ERR_ROUTE, NULL, NULL, 0},
        {"<@a:@b:user@x.org>", B, 0, ADDR_ERR_EMPTY_LOCAL, NULL, NULL, 0},
        {"<@b\xc3\xbc:u@x.org>", B, 0, ADDR_ERR_UTF8_NOT_ALLOWED, NULL, NULL, 0},
        {"<@b\xc3\xbc:u@x.org>", B, U, ADDR_OK, "u", "x.org", RT},
        {"<@b\xc3:u@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        /* SMTPUTF8 */
        {"<\xc3\xbcser@example.com>", B, U, ADDR_OK, "\xc3\xbcser", "example.com", U8},
        {"<\xc3\xbcser@example.com>", B, 0, ADDR_ERR_UTF8_NOT_ALLOWED, NULL, NULL, 0},
        {"<user@b\xc3\xbc"
         "cher.example>",
                B, U, ADDR_OK, "user",
                "b\xc3\xbc"
                "cher.example",
                U8},
        {"<user@b\xc3\xbc"
         "cher.example>",
                B, 0, ADDR_ERR_UTF8_NOT_ALLOWED, NULL, NULL, 0},
        {"<user@B\xc3\x9c"
         "CHER.Example>",
                B, U, ADDR_OK, "user",
                "b\xc3\x9c"
                "cher.example",
                U8},
        {"<\"\xc3\xbc ser\"@x.org>", B, U, ADDR_OK, "\xc3\xbc ser", "x.org", Q | NQ | U8},
        {"<\"\xc3\xbc ser\"@x.org>", B, 0, ADDR_ERR_UTF8_NOT_ALLOWED, NULL, NULL, 0},
        {"<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>", B, U,
                ADDR_OK, "\xe7\x94\xa8\xe6\x88\xb7",
                "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", U8},
        {"<\xf0\x9f\x98\x80@x.org>", B, U, ADDR_OK, "\xf0\x9f\x98\x80", "x.org", U8},
        {"<\xf4\x8f\xbf\xbf@x.org>", B, U, ADDR_OK, "\xf4\x8f\xbf\xbf", "x.org", U8},
        {"<\xef\xbf\xbd@x.org>", B, U, ADDR_OK, "\xef\xbf\xbd", "x.org", U8},
        {"<\xc2\x80@x.org>", B, U, ADDR_OK, "\xc2\x80", "x.org", U8},
        {"<\xc3\xbc@[1.2.3.4]>", B, U, ADDR_OK, "\xc3\xbc", "[1.2.3.4]", U8 | LT},
        {"<a.\xc3\xbc.b@x.org>", B, U, ADDR_OK, "a.\xc3\xbc.b", "x.org", U8},
        {"<user@example.com>", B, U, ADDR_OK, "user", "example.com", 0},
        {"<\xc3@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xc3@x.org>", B, 0, ADDR_ERR_UTF8_NOT_ALLOWED, NULL, NULL, 0},
        {"<\x80@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xbf@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xc0\xaf@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xc1\xbf@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xe0\x80\xaf@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xe0\x9f\xbf@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xed\xa0\x80@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xed\xbf\xbf@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xf0\x80\x80\x80@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xf4\x90\x80\x80@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xf5\x80\x80\x80@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xf8\x88\x80\x80\x80@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xfe@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xff@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xe4\xbd@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\xc3\xbc\xbc@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<user@b\xc3.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<user@b\xff.org>", B, 0, ADDR_ERR_UTF8_NOT_ALLOWED, NULL, NULL, 0},
        {"<\"\xc3\"@x.org>", B, U, ADDR_ERR_UTF8_INVALID, NULL, NULL, 0},
        {"<\"\\\xc3\xbc\"@x.org>", B, U, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<user@[\xc3\xbc]>", B, U, ADDR_ERR_LITERAL, NULL, NULL, 0},
        /* brackets */
        {"user@example.com", B, 0, ADDR_ERR_NO_OPEN, NULL, NULL, 0},
        {"", B, 0, ADDR_ERR_NO_OPEN, NULL, NULL, 0},
        {" <user@example.com>", B, 0, ADDR_ERR_NO_OPEN, NULL, NULL, 0},
        {"user@example.com>", B, 0, ADDR_ERR_NO_OPEN, NULL, NULL, 0},
        {"[user@example.com]", B, 0, ADDR_ERR_NO_OPEN, NULL, NULL, 0},
        {"\"user@example.com\"", B, 0, ADDR_ERR_NO_OPEN, NULL, NULL, 0},
        {"<", B, 0, ADDR_ERR_NO_CLOSE, NULL, NULL, 0},
        {"<user@example.com", B, 0, ADDR_ERR_NO_CLOSE, NULL, NULL, 0},
        {"<user", B, 0, ADDR_ERR_NO_CLOSE, NULL, NULL, 0},
        {"<user@[1.2.3.4]", B, 0, ADDR_ERR_NO_CLOSE, NULL, NULL, 0},
        {"<\"a b\"", B, 0, ADDR_ERR_NO_CLOSE, NULL, NULL, 0},
        {"< >", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<<user@example.com>>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"< user@example.com>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<user@example.com >", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com\t>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user @example.com>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<user@ example.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<Joe <user@example.com>>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<user@example.com (Joe)>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<(Joe) user@example.com>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        /* local parts */
        {"<a b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a(b)@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a,b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a;b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a:b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a[b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a]b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a\\b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a\\@b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a<b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a\"b@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a\tb@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a\x7f@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<a>b@x.org>", B, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<\"a\"b@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\".b@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\" @x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<a.\"b\"@x.org>", B, 0, ADDR_ERR_LOCAL, NULL, NULL, 0},
        {"<\"a@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\\\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\\", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\tb\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\\\tb\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\x7f\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\\\x7f\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\x01\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\rb\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"a\nb\"@x.org>", B, 0, ADDR_ERR_QUOTED, NULL, NULL, 0},
        {"<\"\"@x.org>", B, 0, ADDR_ERR_EMPTY_LOCAL, NULL, NULL, 0},
        {"<\"\">", F, 0, ADDR_ERR_EMPTY_LOCAL, NULL, NULL, 0},
        {"<user>", B, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<\"a b\">", B, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<user%host>", F, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        {"<host!user>", F, 0, ADDR_ERR_NO_DOMAIN, NULL, NULL, 0},
        /* domains */
        {"<user@>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@.example.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example..com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com.>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@.>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@-example.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example-.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.-com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com->", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@->", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@ex!ample.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@exa mple.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com@other>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@@example.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com:25>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com,x>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@exam%ple.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com\"\">", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@\"example.com\">", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@exam\\ple.com>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@example.com/x>", B, 0, ADDR_ERR_DOMAIN, NULL, NULL, 0},
        {"<user@1.2.3.4>", B, 0, ADDR_ERR_NUMERIC_DOMAIN, NULL, NULL, 0},
        {"<user@123>", B, 0, ADDR_ERR_NUMERIC_DOMAIN, NULL, NULL, 0},
        {"<user@1.2.3.4.5>", B, 0, ADDR_ERR_NUMERIC_DOMAIN, NULL, NULL, 0},
        {"<user@0>", B, 0, ADDR_ERR_NUMERIC_DOMAIN, NULL, NULL, 0},
        /* bad literals */
        {"<user@[1.2.3]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.256]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[01.2.3.4]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4.5]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.-4]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[0x7f.0.0.1]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[2130706433]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4]x>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4].com>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4]]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[[1.2.3.4]]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[::1]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[2001:db8::1]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:1.2.3.4]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6::::1]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:1::2::3]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:12345::]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:1:2:3:4:5:6:7:8:9]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:g::1]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:2001:db8::1%eth0]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6 :::1]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv4:1.2.3.4]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[tag:content]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[x-tag:content]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[ 1.2.3.4]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4 ]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[x]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[localhost]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4\\]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[1.2.3.4\t]>", B, 0, ADDR_ERR_LITERAL, NULL, NULL, 0},
        {"<user@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001]>", B, 0,
                ADDR_ERR_LITERAL, NULL, NULL, 0},
};

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))
#define P(s)      (s), strlen(s)

/* Run one path through the parser as the given type and check everything. */
static void
check_path(const char *in, size_t len, enum addr_path_type type, unsigned opts,
        enum addr_status want, const char *local, const char *domain, unsigned flags)
{
	struct addr a, again;
	struct str out = STR_INIT, wrapped = STR_INIT;
	enum addr_status st;
	size_t used = 0;
	const char *tname = type == ADDR_REVERSE_PATH ? "reverse" : "forward";

	addr_init(&a);
	addr_init(&again);
	st = addr_parse_path(in, len, type, opts, &a, &used);
	cr_expect_eq(st, want, "%s path \"%s\" opts %u: got %d (%s), want %d (%s)", tname, in, opts,
	        st, addr_strerror(st), want, addr_strerror(want));
	if (st == ADDR_OK && want == ADDR_OK) {
		cr_expect_eq(used, len, "%s \"%s\": used %zu of %zu", tname, in, used, len);
		cr_expect_str_eq(str_cstr(&a.local), local, "\"%s\": local", in);
		cr_expect_str_eq(str_cstr(&a.domain_lc), domain, "\"%s\": domain", in);
		cr_expect_eq(a.domain.len, a.domain_lc.len, "\"%s\"", in);
		cr_expect_eq(a.flags, flags, "\"%s\": flags %#x, want %#x", in, a.flags, flags);
		/* What addr_format writes must parse back to the same address. */
		if (!(a.flags & ADDR_IS_NULL)) {
			addr_format(&a, &out);
			str_printf(&wrapped, "<%s>", str_cstr(&out));
			st = addr_parse_path(wrapped.data, wrapped.len, type, opts, &again, NULL);
			cr_expect_eq(
			        st, ADDR_OK, "\"%s\" -> \"%s\" does not parse", in, wrapped.data);
			cr_expect_str_eq(str_cstr(&again.local), str_cstr(&a.local), "\"%s\"", in);
			cr_expect_str_eq(
			        str_cstr(&again.domain), str_cstr(&a.domain), "\"%s\"", in);
		}
	} else if (st != ADDR_OK) {
		cr_expect_eq(a.local.len + a.domain.len + a.flags, 0, "\"%s\": not reset", in);
	}
	addr_free(&a);
	addr_free(&again);
	str_free(&out);
	str_free(&wrapped);
}

Test(addr, path_table)
{
	size_t i;

	for (i = 0; i < NCASES(path_cases); i++) {
		const struct path_case *c = &path_cases[i];

		if (c->types & R)
			check_path(c->in, strlen(c->in), ADDR_REVERSE_PATH, c->opts, c->want,
			        c->local, c->domain, c->flags);
		if (c->types & F)
			check_path(c->in, strlen(c->in), ADDR_FORWARD_PATH, c->opts, c->want,
			        c->local, c->domain, c->flags);
	}
	cr_expect_geq(NCASES(path_cases), 250);
}

/* The path ends at its ">": what follows is the caller's. */
Test(addr, path_used_stops_at_bracket)
{
	static const struct {
		const char *in;
		size_t used;
	} cases[] = {
	        {"<a@b.c> SIZE=10", 7},
	        {"<a@b.c>>", 7},
	        {"<>x", 2},
	        {"<\"a>b\"@x.org> BODY=8BITMIME", 13},
	        {"<@r:u@x.org>\r\n", 12},
	        {"<u@[1.2.3.4]>junk", 13},
	};
	struct addr a;
	size_t i, used;

	addr_init(&a);
	for (i = 0; i < NCASES(cases); i++) {
		cr_expect_eq(addr_parse_path(cases[i].in, strlen(cases[i].in), ADDR_REVERSE_PATH, 0,
		                     &a, &used),
		        ADDR_OK, "%s", cases[i].in);
		cr_expect_eq(used, cases[i].used, "%s: used %zu", cases[i].in, used);
	}
	addr_free(&a);
}

/* The length bound is the caller's: nothing past len is ever read. */
Test(addr, path_respects_len)
{
	const char *s = "<user@example.com>";
	struct addr a;
	size_t n;

	addr_init(&a);
	for (n = 0; n < strlen(s); n++) {
		char *copy = malloc(n ? n : 1);

		memcpy(copy, s, n);
		cr_expect_neq(addr_parse_path(copy, n, ADDR_FORWARD_PATH, 0, &a, NULL), ADDR_OK,
		        "prefix of %zu octets accepted", n);
		free(copy);
	}
	cr_expect_eq(addr_parse_path(s, strlen(s), ADDR_FORWARD_PATH, 0, &a, NULL), ADDR_OK);
	/* A NUL inside is just a bad octet. */
	cr_expect_eq(addr_parse_path("<us\0er@x.org>", 13, ADDR_FORWARD_PATH, 0, &a, NULL),
	        ADDR_ERR_LOCAL);
	cr_expect_eq(addr_parse_path("<user@x.o\0rg>", 13, ADDR_FORWARD_PATH, 0, &a, NULL),
	        ADDR_ERR_DOMAIN);
	cr_expect_eq(addr_parse_path("<\"us\0er\"@x.org>", 15, ADDR_FORWARD_PATH, 0, &a, NULL),
	        ADDR_ERR_QUOTED);
	cr_expect_eq(addr_parse_path("<\0>", 3, ADDR_REVERSE_PATH, 0, &a, NULL), ADDR_ERR_LOCAL);
	addr_free(&a);
}

static const char *
is_atext_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	                (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL)
	        ? "yes"
	        : NULL;
}

/* Parse a whole path: stopping short of the end counts as trailing junk. */
static enum addr_status
parse_whole(const char *buf, int n, unsigned opts, struct addr *a)
{
	size_t used = 0;
	enum addr_status st;

	st = addr_parse_path(buf, (size_t)n, ADDR_FORWARD_PATH, opts, a, &used);
	if (st == ADDR_OK && used != (size_t)n)
		return ADDR_ERR_TRAILING;
	return st;
}

/* Every octet in the middle of a dot-atom, a quoted string and a domain label. */
Test(addr, every_octet)
{
	struct addr a;
	char buf[64];
	int c;

	addr_init(&a);
	for (c = 0; c < 256; c++) {
		enum addr_status st;
		int n;

		/* dot-atom */
		n = snprintf(buf, sizeof(buf), "<a%cb@x.org>", c ? c : '?');
		buf[2] = (char)c;
		st = parse_whole(buf, n, 0, &a);
		if (c >= 0x80)
			cr_expect_eq(st, ADDR_ERR_UTF8_NOT_ALLOWED, "local octet %#x", c);
		else if (is_atext_char(c))
			cr_expect_eq(st, ADDR_OK, "local octet %#x", c);
		else
			cr_expect_neq(st, ADDR_OK, "local octet %#x", c);
		st = parse_whole(buf, n, ADDR_OPT_SMTPUTF8, &a);
		if (c >= 0x80)
			cr_expect_eq(st, ADDR_ERR_UTF8_INVALID, "local octet %#x (utf8)", c);

		/* quoted string */
		n = snprintf(buf, sizeof(buf), "<\"a%cb\"@x.org>", c ? c : '?');
		buf[3] = (char)c;
		st = parse_whole(buf, n, 0, &a);
		if (c >= 0x80)
			cr_expect_eq(st, ADDR_ERR_UTF8_NOT_ALLOWED, "quoted octet %#x", c);
		else if (c == '\\')
			cr_expect(st == ADDR_OK && strcmp(a.local.data, "ab") == 0, "\"a\\b\"");
		else if (c >= 32 && c <= 126 && c != '"')
			cr_expect(st == ADDR_OK && a.local.len == 3 && a.local.data[1] == c,
			        "quoted octet %#x", c);
		else
			cr_expect_neq(st, ADDR_OK, "quoted octet %#x", c);

		/* escaped in a quoted string */
		n = snprintf(buf, sizeof(buf), "<\"a\\%cb\"@x.org>", c ? c : '?');
		buf[4] = (char)c;
		st = parse_whole(buf, n, ADDR_OPT_SMTPUTF8, &a);
		if (c >= 32 && c <= 126)
			cr_expect_eq(st, ADDR_OK, "escaped octet %#x", c);
		else
			cr_expect_neq(st, ADDR_OK, "escaped octet %#x", c);

		/* domain label */
		n = snprintf(buf, sizeof(buf), "<u@a%cb.org>", c ? c : '?');
		buf[4] = (char)c;
		st = parse_whole(buf, n, 0, &a);
		if (c >= 0x80)
			cr_expect_eq(st, ADDR_ERR_UTF8_NOT_ALLOWED, "domain octet %#x", c);
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
			cr_expect_eq(st, ADDR_OK, "domain octet %#x", c);
		else
			cr_expect_neq(st, ADDR_OK, "domain octet %#x", c);
	}
	addr_free(&a);
}

static void
repeat(struct str *s, int c, size_t n)
{
	while (n-- > 0)
		str_appendc(s, c);
}

/* A domain of exactly n octets: labels of up to 63, separated by dots. */
static void
domain_of_len(struct str *s, size_t n)
{
	while (n > 0) {
		size_t label = n > 63 ? 63 : n;

		if (n - label == 1)
			label--; /* never leave a lone dot at the end */
		repeat(s, 'd', label);
		n -= label;
		if (n > 0) {
			str_appendc(s, '.');
			n--;
		}
	}
}

static enum addr_status
parse_built(struct str *s, enum addr_path_type type)
{
	struct addr a;
	enum addr_status st;

	addr_init(&a);
	st = addr_parse_path(s->data, s->len, type, 0, &a, NULL);
	addr_free(&a);
	return st;
}

Test(addr, length_limits)
{
	struct str s = STR_INIT, d = STR_INIT;
	struct addr a;

	addr_init(&a);
	/* local part: 64 octets as written */
	str_setz(&s, "<");
	repeat(&s, 'l', 64);
	str_appendz(&s, "@x.org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_OK);
	str_setz(&s, "<");
	repeat(&s, 'l', 65);
	str_appendz(&s, "@x.org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_LOCAL_TOO_LONG);
	str_setz(&s, "<\"");
	repeat(&s, 'l', 62);
	str_appendz(&s, "\"@x.org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_OK);
	str_setz(&s, "<\"");
	repeat(&s, 'l', 63);
	str_appendz(&s, "\"@x.org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_LOCAL_TOO_LONG);
	str_setz(&s, "<\"");
	repeat(&s, 'l', 5000);
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_LOCAL_TOO_LONG);
	/* escapes count as written */
	str_setz(&s, "<\"");
	for (int i = 0; i < 31; i++)
		str_appendz(&s, "\\\"");
	str_appendz(&s, "\"@x.org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_OK);
	str_setz(&s, "<\"");
	for (int i = 0; i < 32; i++)
		str_appendz(&s, "\\\"");
	str_appendz(&s, "\"@x.org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_LOCAL_TOO_LONG);

	/* label: 63 */
	str_setz(&s, "<u@");
	repeat(&s, 'a', 63);
	str_appendz(&s, ".org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_OK);
	str_setz(&s, "<u@");
	repeat(&s, 'a', 64);
	str_appendz(&s, ".org>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_LABEL_TOO_LONG);
	str_setz(&s, "<u@x.");
	repeat(&s, 'a', 64);
	str_appendz(&s, ">");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_LABEL_TOO_LONG);

	/* path: 256 octets with "<" and ">" */
	str_setz(&s, "<u@");
	domain_of_len(&s, 252);
	str_appendz(&s, ">");
	cr_expect_eq(s.len, 256);
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_OK);
	str_setz(&s, "<u@");
	domain_of_len(&s, 253);
	str_appendz(&s, ">");
	cr_expect_eq(s.len, 257);
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_PATH_TOO_LONG);
	/* a source route counts toward the path */
	str_setz(&s, "<@r:u@");
	domain_of_len(&s, 249);
	str_appendz(&s, ">");
	cr_expect_eq(s.len, 256);
	cr_expect_eq(parse_built(&s, ADDR_REVERSE_PATH), ADDR_OK);
	str_setz(&s, "<@rr:u@");
	domain_of_len(&s, 249);
	str_appendz(&s, ">");
	cr_expect_eq(parse_built(&s, ADDR_REVERSE_PATH), ADDR_ERR_PATH_TOO_LONG);

	/* domain: 255 (a bare mailbox, since a path could not hold it) */
	str_setz(&s, "u@");
	domain_of_len(&s, 255);
	cr_expect_eq(addr_parse_mailbox(s.data, s.len, 0, &a), ADDR_OK);
	cr_expect_eq(a.domain.len, 255);
	str_setz(&s, "u@");
	domain_of_len(&s, 256);
	cr_expect_eq(addr_parse_mailbox(s.data, s.len, 0, &a), ADDR_ERR_DOMAIN_TOO_LONG);
	str_setz(&s, "<u@");
	domain_of_len(&s, 100000);
	str_appendz(&s, ">");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_DOMAIN_TOO_LONG);

	/* literal: no room for more than any IPv6 text form */
	str_setz(&s, "<u@[IPv6:");
	repeat(&s, '0', 200);
	str_appendz(&s, "::1]>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_ERR_LITERAL);
	str_setz(&s, "<u@[IPv6:0000:0000:0000:0000:0000:ffff:255.255.255.255]>");
	cr_expect_eq(parse_built(&s, ADDR_FORWARD_PATH), ADDR_OK);
	addr_free(&a);
	str_free(&s);
	str_free(&d);
}

Test(addr, literal_values)
{
	struct addr a;
	unsigned char v6[16];

	addr_init(&a);
	cr_assert_eq(
	        addr_parse_path(P("<u@[192.0.2.1]>"), ADDR_FORWARD_PATH, 0, &a, NULL), ADDR_OK);
	cr_expect_eq(a.literal_family, AF_INET);
	cr_expect(memcmp(a.literal_addr, "\xc0\x00\x02\x01", 4) == 0);
	cr_expect_str_eq(a.domain.data, "[192.0.2.1]");
	cr_assert_eq(addr_parse_path(P("<u@[IPv6:2001:DB8::1]>"), ADDR_FORWARD_PATH, 0, &a, NULL),
	        ADDR_OK);
	cr_expect_eq(a.literal_family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8::1", v6);
	cr_expect(memcmp(a.literal_addr, v6, 16) == 0);
	cr_expect_str_eq(a.domain.data, "[IPv6:2001:DB8::1]");
	cr_assert_eq(addr_parse_path(P("<u@x.org>"), ADDR_FORWARD_PATH, 0, &a, NULL), ADDR_OK);
	cr_expect_eq(a.literal_family, 0);
	addr_free(&a);
}

Test(addr, wire_form_kept)
{
	struct addr a;

	addr_init(&a);
	cr_assert_eq(
	        addr_parse_path(P("<\"a\\ b\"@X.org>"), ADDR_FORWARD_PATH, 0, &a, NULL), ADDR_OK);
	cr_expect_str_eq(a.local.data, "a b");
	cr_expect_str_eq(a.local_wire.data, "\"a\\ b\"");
	cr_expect_str_eq(a.domain.data, "X.org");
	cr_expect_str_eq(a.domain_lc.data, "x.org");
	cr_assert_eq(
	        addr_parse_path(P("<@r1,@r2:Joe.Bloggs@X.org>"), ADDR_FORWARD_PATH, 0, &a, NULL),
	        ADDR_OK);
	cr_expect_str_eq(a.local_wire.data, "Joe.Bloggs");
	cr_expect_str_eq(a.local.data, "Joe.Bloggs");
	addr_free(&a);
}

struct mailbox_case {
	const char *in;
	unsigned opts;
	enum addr_status want;
	const char *local;
	const char *domain;
};

static const struct mailbox_case mailbox_cases[] = {
        {"user@example.com", 0, ADDR_OK, "user", "example.com"},
        {"User@EXAMPLE.com", 0, ADDR_OK, "User", "example.com"},
        {"\"a b\"@x.org", 0, ADDR_OK, "a b", "x.org"},
        {"u@[192.0.2.1]", 0, ADDR_OK, "u", "[192.0.2.1]"},
        {"\xc3\xbc@x.org", ADDR_OPT_SMTPUTF8, ADDR_OK, "\xc3\xbc", "x.org"},
        {"\xc3\xbc@x.org", 0, ADDR_ERR_UTF8_NOT_ALLOWED, NULL, NULL},
        {"<user@example.com>", 0, ADDR_ERR_LOCAL, NULL, NULL},
        {"user", 0, ADDR_ERR_NO_DOMAIN, NULL, NULL},
        {"postmaster", 0, ADDR_ERR_NO_DOMAIN, NULL, NULL},
        {"\"a\"", 0, ADDR_ERR_NO_DOMAIN, NULL, NULL},
        {"", 0, ADDR_ERR_EMPTY_LOCAL, NULL, NULL},
        {"@x.org", 0, ADDR_ERR_EMPTY_LOCAL, NULL, NULL},
        {" user@x.org", 0, ADDR_ERR_LOCAL, NULL, NULL},
        {"user@", 0, ADDR_ERR_DOMAIN, NULL, NULL},
        {"user@x.org ", 0, ADDR_ERR_DOMAIN, NULL, NULL},
        {"user@x.org>", 0, ADDR_ERR_DOMAIN, NULL, NULL},
        {"user@x.org junk", 0, ADDR_ERR_DOMAIN, NULL, NULL},
        {"user@[1.2.3.4]x", 0, ADDR_ERR_TRAILING, NULL, NULL},
        {"user@[1.2.3.4]>", 0, ADDR_ERR_TRAILING, NULL, NULL},
        {"@a:user@x.org", 0, ADDR_ERR_EMPTY_LOCAL, NULL, NULL},
        {"a b@x.org", 0, ADDR_ERR_LOCAL, NULL, NULL},
        {"user@1.2.3.4", 0, ADDR_ERR_NUMERIC_DOMAIN, NULL, NULL},
};

Test(addr, mailbox_table)
{
	struct addr a;
	size_t i;

	addr_init(&a);
	for (i = 0; i < NCASES(mailbox_cases); i++) {
		const struct mailbox_case *c = &mailbox_cases[i];
		enum addr_status st = addr_parse_mailbox(c->in, strlen(c->in), c->opts, &a);

		cr_expect_eq(st, c->want, "mailbox \"%s\": got %s, want %s", c->in,
		        addr_strerror(st), addr_strerror(c->want));
		if (st == ADDR_OK && c->want == ADDR_OK) {
			cr_expect_str_eq(a.local.data, c->local, "%s", c->in);
			cr_expect_str_eq(a.domain_lc.data, c->domain, "%s", c->in);
		}
	}
	addr_free(&a);
}

Test(addr, quote_local)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"abc", "abc"},
	        {"a.b", "a.b"},
	        {"a+b", "a+b"},
	        {"!#$%&'*+-/=?^_`{|}~", "!#$%&'*+-/=?^_`{|}~"},
	        {"\xc3\xbcser", "\xc3\xbcser"},
	        {"a b", "\"a b\""},
	        {"a\"b", "\"a\\\"b\""},
	        {"a\\b", "\"a\\\\b\""},
	        {"", "\"\""},
	        {"a..b", "\"a..b\""},
	        {".a", "\".a\""},
	        {"a.", "\"a.\""},
	        {".", "\".\""},
	        {"a@b", "\"a@b\""},
	        {"a,b", "\"a,b\""},
	        {"(x)", "\"(x)\""},
	        {"a\rb", "\"a?b\""},
	        {"a\nb", "\"a?b\""},
	        {"a\x7f", "\"a?\""},
	};
	struct str s = STR_INIT;
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		str_reset(&s);
		addr_quote_local(cases[i].in, strlen(cases[i].in), &s);
		cr_expect_str_eq(str_cstr(&s), cases[i].out, "quote \"%s\"", cases[i].in);
		cr_expect_eq(addr_local_needs_quote(cases[i].in, strlen(cases[i].in)),
		        strcmp(cases[i].in, cases[i].out) != 0, "%s", cases[i].in);
	}
	/* appends, never replaces */
	str_setz(&s, "x:");
	addr_quote_local("a b", 3, &s);
	cr_expect_str_eq(s.data, "x:\"a b\"");
	str_free(&s);
}

Test(addr, format)
{
	struct addr a;
	struct str s = STR_INIT;

	addr_init(&a);
	cr_assert_eq(addr_parse_path(P("<>"), ADDR_REVERSE_PATH, 0, &a, NULL), ADDR_OK);
	addr_format(&a, &s);
	cr_expect_str_eq(str_cstr(&s), "");
	cr_assert_eq(addr_parse_path(P("<Postmaster>"), ADDR_FORWARD_PATH, 0, &a, NULL), ADDR_OK);
	addr_format(&a, &s);
	cr_expect_str_eq(str_cstr(&s), "Postmaster");
	str_reset(&s);
	cr_assert_eq(
	        addr_parse_path(P("<@r:\"abc\"@X.Org>"), ADDR_FORWARD_PATH, 0, &a, NULL), ADDR_OK);
	addr_format(&a, &s);
	cr_expect_str_eq(str_cstr(&s), "abc@X.Org");
	str_reset(&s);
	cr_assert_eq(addr_parse_path(P("<\"a\\\\b c\"@[1.2.3.4]>"), ADDR_FORWARD_PATH, 0, &a, NULL),
	        ADDR_OK);
	addr_format(&a, &s);
	cr_expect_str_eq(str_cstr(&s), "\"a\\\\b c\"@[1.2.3.4]");
	addr_free(&a);
	str_free(&s);
}

Test(addr, domain_of)
{
	cr_expect_str_eq(addr_domain_of("user@example.com"), "example.com");
	cr_expect_str_eq(addr_domain_of("a@b@c.org"), "c.org");
	cr_expect_str_eq(addr_domain_of("\"a@b\"@c.org"), "c.org");
	cr_expect_str_eq(addr_domain_of("u@[1.2.3.4]"), "[1.2.3.4]");
	cr_expect_str_eq(addr_domain_of("user@"), "");
	cr_expect_null(addr_domain_of("postmaster"));
	cr_expect_null(addr_domain_of(""));
}

Test(addr, ascii_and_utf8)
{
	static const struct {
		const char *s;
		int ascii, utf8;
	} cases[] = {
	        {"", 1, 1},
	        {"plain", 1, 1},
	        {"\x7f", 1, 1},
	        {"\xc3\xbc", 0, 1},
	        {"\xe2\x82\xac", 0, 1},
	        {"\xf0\x9f\x98\x80", 0, 1},
	        {"\xc3", 0, 0},
	        {"\x80", 0, 0},
	        {"\xc0\x80", 0, 0},
	        {"\xed\xa0\x80", 0, 0},
	        {"\xf4\x90\x80\x80", 0, 0},
	        {"a\xc3\xbc"
	         "b\xff",
	                0, 0},
	};
	size_t i;

	for (i = 0; i < NCASES(cases); i++) {
		cr_expect_eq(
		        addr_is_ascii(cases[i].s, strlen(cases[i].s)), cases[i].ascii, "%zu", i);
		cr_expect_eq(
		        addr_utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].utf8, "%zu", i);
	}
	cr_expect_eq(addr_is_ascii("a\0b", 3), 1);
	cr_expect_eq(addr_utf8_valid("a\0b", 3), 1);
}

/*
 * The relay check's question: could a mailer route this local part
 * elsewhere?  Checked on what the parser gives, since that is what the
 * relay check sees.
 */
Test(addr, local_routing)
{
	static const struct {
		const char *path;
		int routed;
	} cases[] = {
	        {"<user@ours.example>", 0},
	        {"<first.last+tag@ours.example>", 0},
	        {"<user%evil.example@ours.example>", 1},
	        {"<evil.example!user@ours.example>", 1},
	        {"<\"user@evil.example\"@ours.example>", 1},
	        {"<\"user%evil.example\"@ours.example>", 1},
	        {"<\"evil!user\"@ours.example>", 1},
	        {"<@ours.example:user@evil.example>", 0}, /* the route is dropped: evil.example */
	        {"<\"@evil.example:user\"@ours.example>", 1},
	        {"<\"user\"@ours.example>", 0},
	        {"<\"us er\"@ours.example>", 0},
	};
	struct addr a;
	size_t i;

	addr_init(&a);
	for (i = 0; i < NCASES(cases); i++) {
		cr_assert_eq(addr_parse_path(cases[i].path, strlen(cases[i].path),
		                     ADDR_FORWARD_PATH, 0, &a, NULL),
		        ADDR_OK, "%s", cases[i].path);
		cr_expect_eq(addr_local_has_routing(a.local.data, a.local.len), cases[i].routed,
		        "%s", cases[i].path);
	}
	cr_assert_eq(addr_parse_path(P("<@ours.example:user@evil.example>"), ADDR_FORWARD_PATH, 0,
	                     &a, NULL),
	        ADDR_OK);
	cr_expect_str_eq(a.domain_lc.data, "evil.example");
	addr_free(&a);
}

Test(addr, strerror_distinct)
{
	int i, j;

	for (i = 0; i < ADDR_STATUS_COUNT; i++) {
		cr_assert_not_null(addr_strerror((enum addr_status)i));
		for (j = 0; j < i; j++)
			cr_expect_str_neq(addr_strerror((enum addr_status)i),
			        addr_strerror((enum addr_status)j));
	}
	cr_expect_str_eq(addr_strerror((enum addr_status)999), "unknown address error");
}
