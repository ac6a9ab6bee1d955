/*
 * config_params.c - THE parameter table: every main.cf parameter Tern
 * knows, with its type, default, bounds, one-line summary and, where the
 * type says too little, a check of its value.  See config.h.
 *
 * Defaults are the ones SPEC.md ships; names follow Postfix wherever
 * Postfix has the same meaning.  The checks here see values already
 * expanded; they trust nothing about them.  Used by config.c (loading,
 * validation, getters), `tern check`, `tern config` and the docs.
 * A new parameter is one new line here, in the section of its user.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "parse.h"
#include "paths.h"
#include "str.h"

#define NO_LIMIT  LLONG_MAX
#define MINUTE    60LL
#define HOUR      (60 * MINUTE)
#define DAY       (24 * HOUR)
#define INT_LIMIT 1000000000LL /* the largest count any INT parameter takes */

/* Table entries, one per line below. */
#define P_STR(n, d, s, chk)                                                                        \
	{                                                                                          \
		.name = n, .type = PARAM_STR, .defval = d, .summary = s, .check = chk              \
	}
#define P_LIST(n, d, s, chk)                                                                       \
	{                                                                                          \
		.name = n, .type = PARAM_LIST, .defval = d, .summary = s, .check = chk             \
	}
#define P_BOOL(n, d, s)                                                                            \
	{                                                                                          \
		.name = n, .type = PARAM_BOOL, .defval = d, .summary = s                           \
	}
#define P_INT(n, d, lo, hi, s)                                                                     \
	{                                                                                          \
		.name = n, .type = PARAM_INT, .defval = d, .min = lo, .max = hi, .summary = s      \
	}
#define P_TIME(n, d, u, lo, hi, s)                                                                 \
	{                                                                                          \
		.name = n, .type = PARAM_TIME, .defval = d, .min = lo, .max = hi, .time_unit = u,  \
		.summary = s                                                                       \
	}
#define P_SIZE(n, d, lo, hi, s)                                                                    \
	{                                                                                          \
		.name = n, .type = PARAM_SIZE, .defval = d, .min = lo, .max = hi, .summary = s     \
	}

/* One of a fixed set of words ("" allowed only when listed). */
static int
check_word(const char *value, const char *const *words, struct str *why)
{
	for (size_t i = 0; words[i]; i++)
		if (strcmp(value, words[i]) == 0)
			return 0;
	str_printf(why, "\"%s\": expected one of:", value);
	for (size_t i = 0; words[i]; i++)
		str_printf(why, "%s \"%s\"", i ? "," : "", words[i]);
	return -1;
}

/* Every item of a list is one of a fixed set of words. */
static int
check_word_list(const char *value, const char *const *words, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++)
		ret = check_word(items[i], words, why);
	param_list_free(items);
	return ret;
}

static int
check_tls_level_server(const char *value, struct str *why)
{
	static const char *const words[] = {"none", "may", "encrypt", NULL};

	return check_word(value, words, why);
}

static int
check_tls_level_client(const char *value, struct str *why)
{
	static const char *const words[] = {"none", "may", "encrypt", "verify", "dane", NULL};

	return check_word(value, words, why);
}

static int
check_proxy_protocol(const char *value, struct str *why)
{
	static const char *const words[] = {"", "haproxy", NULL};

	return check_word(value, words, why);
}

static int
check_inet_protocols(const char *value, struct str *why)
{
	static const char *const words[] = {"all", "ipv4", "ipv6", NULL};

	return check_word_list(value, words, why);
}

static int
check_allow_mail_to(const char *value, struct str *why)
{
	static const char *const words[] = {"alias", "forward", "include", NULL};

	return check_word_list(value, words, why);
}

static int
check_notify_classes(const char *value, struct str *why)
{
	static const char *const words[] = {
	        "bounce", "2bounce", "delay", "policy", "protocol", "resource", "software", NULL};

	return check_word_list(value, words, why);
}

/* "[!][>=|<=]TLSv1.2": protocol names as OpenSSL spells them. */
static int
check_tls_protocols(const char *value, struct str *why)
{
	static const char *const names[] = {
	        "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL};
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++) {
		const char *p = items[i];

		if (*p == '!')
			p++;
		else if (strncmp(p, ">=", 2) == 0 || strncmp(p, "<=", 2) == 0)
			p += 2;
		ret = -1;
		for (size_t k = 0; names[k]; k++)
			if (strcmp(p, names[k]) == 0)
				ret = 0;
		if (ret < 0)
			str_printf(why, "\"%s\": expected a protocol such as >=TLSv1.2 or !SSLv3",
			        items[i]);
	}
	param_list_free(items);
	return ret;
}

/* Is s "type:name" with a lower-case type (a table)? */
static int
is_table_spec(const char *s)
{
	const char *p = s;

	while (islower((unsigned char)*p) || isdigit((unsigned char)*p))
		p++;
	return p > s && *p == ':' && p[1] != '\0' && p[1] != ':';
}

static int
check_maps(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++) {
		if (!is_table_spec(items[i])) {
			str_printf(why, "\"%s\": expected a table \"type:name\"", items[i]);
			ret = -1;
		}
	}
	param_list_free(items);
	return ret;
}

/* Host or domain name syntax: labels of letters, digits, "-", "_"
 * (UTF-8 octets allowed), separated by single dots. */
static int
is_hostname(const char *s)
{
	size_t label = 0;

	if (*s == '\0' || strlen(s) > 253)
		return 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum(ch) || ch == '-' || ch == '_' || ch >= 0x80) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

static int
is_ip_address(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Domains: host names, ".parent" patterns, or tables. */
static int
check_domains(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++) {
		const char *d = items[i][0] == '.' ? items[i] + 1 : items[i];

		if (!is_table_spec(items[i]) && !is_hostname(d)) {
			str_printf(why, "\"%s\": expected a domain name or a table", items[i]);
			ret = -1;
		}
	}
	param_list_free(items);
	return ret;
}

/* One network: "a.b.c.d[/n]", "[v6]/n", "v6/n", a host name or a table. */
static int
is_network(const char *item)
{
	char addr[INET6_ADDRSTRLEN + 2];
	const char *slash = strchr(item, '/');
	size_t len = slash ? (size_t)(slash - item) : strlen(item);
	long long bits;
	const char *why;
	unsigned char buf[16];
	int v6;

	if (is_table_spec(item))
		return 1;
	if (len >= 2 && item[0] == '[' && item[len - 1] == ']') {
		item++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(addr))
		return 0;
	memcpy(addr, item, len);
	addr[len] = '\0';
	v6 = inet_pton(AF_INET6, addr, buf) == 1;
	if (!v6 && inet_pton(AF_INET, addr, buf) != 1)
		return slash == NULL && is_hostname(addr);
	if (slash == NULL)
		return 1;
	return parse_int(slash + 1, 0, v6 ? 128 : 32, &bits, &why) == 0;
}

static int
check_networks(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++) {
		if (!is_network(items[i])) {
			str_printf(why,
			        "\"%s\": expected an address, network/length, host name or table",
			        items[i]);
			ret = -1;
		}
	}
	param_list_free(items);
	return ret;
}

static int
check_inet_interfaces(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++) {
		const char *s = items[i];

		if (strcmp(s, "all") == 0 || strcmp(s, "loopback-only") == 0 || is_ip_address(s) ||
		        is_hostname(s))
			continue;
		str_printf(
		        why, "\"%s\": expected all, loopback-only, an address or a host name", s);
		ret = -1;
	}
	param_list_free(items);
	return ret;
}

/* A next hop: "host", "host:port", "[host]", "[host]:port" ([] skips MX). */
static int
is_nexthop(const char *s)
{
	char host[256];
	const char *end, *port = NULL;
	size_t len;
	long long n;
	const char *why;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return 0;
		len = (size_t)(end - s - 1);
		s++;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return 0;
	} else {
		end = strrchr(s, ':');
		len = end ? (size_t)(end - s) : strlen(s);
		if (end)
			port = end + 1;
	}
	if (len == 0 || len >= sizeof(host))
		return 0;
	memcpy(host, s, len);
	host[len] = '\0';
	if (port && parse_int(port, 1, 65535, &n, &why) < 0)
		return 0;
	return is_hostname(host) || is_ip_address(host);
}

static int
check_nexthops(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++) {
		if (!is_nexthop(items[i])) {
			str_printf(why, "\"%s\": expected host, host:port, [host] or [host]:port",
			        items[i]);
			ret = -1;
		}
	}
	param_list_free(items);
	return ret;
}

static int
check_nexthop(const char *value, struct str *why)
{
	if (strchr(value, ',') || strchr(value, ' ')) {
		str_printf(why, "\"%s\": expected a single next hop", value);
		return -1;
	}
	return check_nexthops(value, why);
}

/* DNS servers as lib/dns.h takes them: "ip", "ip@port" or "[ip]:port". */
static int
check_dns_servers(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++) {
		char *ip = items[i], *port = NULL, *end;
		long long n;
		const char *perr;

		if (*ip == '[' && (end = strchr(ip, ']')) != NULL) {
			*end = '\0';
			ip++;
			if (end[1] == ':')
				port = end + 2;
			else if (end[1] != '\0')
				ip = "";
		} else if ((end = strchr(ip, '@')) != NULL) {
			*end = '\0';
			port = end + 1;
		}
		if (!is_ip_address(ip) || (port && parse_int(port, 1, 65535, &n, &perr) < 0)) {
			str_printf(
			        why, "\"%s\": expected an IP address, ip@port or [ip]:port", value);
			ret = -1;
		}
	}
	param_list_free(items);
	return ret;
}

static int
check_ipv4(const char *value, struct str *why)
{
	unsigned char buf[4];

	if (*value == '\0' || inet_pton(AF_INET, value, buf) == 1)
		return 0;
	str_printf(why, "\"%s\": expected an IPv4 address", value);
	return -1;
}

static int
check_ipv6(const char *value, struct str *why)
{
	unsigned char buf[16];

	if (*value == '\0' || inet_pton(AF_INET6, value, buf) == 1)
		return 0;
	str_printf(why, "\"%s\": expected an IPv6 address", value);
	return -1;
}

static int
check_hostname(const char *value, struct str *why)
{
	if (*value == '\0' || is_hostname(value))
		return 0;
	str_printf(why, "\"%s\": expected a host name", value);
	return -1;
}

/* retry_schedule: durations (bare numbers are seconds), at least one. */
static int
check_durations(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	const char *reason;
	long long secs;
	int ret = 0;

	if (items[0] == NULL) {
		str_appendz(why, "expected at least one duration");
		ret = -1;
	}
	for (size_t i = 0; items[i] && ret == 0; i++) {
		if (parse_duration(items[i], 's', &secs, &reason) < 0 || secs < 1 ||
		        secs > 100 * DAY) {
			str_printf(why, "\"%s\": %s", items[i],
			        secs < 1 || secs > 100 * DAY ? "expected 1s..100d" : reason);
			ret = -1;
		}
	}
	param_list_free(items);
	return ret;
}

static int
check_abs_path(const char *value, struct str *why)
{
	if (value[0] == '/')
		return 0;
	str_printf(why, "\"%s\": expected an absolute path", value);
	return -1;
}

static int
check_abs_path_or_empty(const char *value, struct str *why)
{
	return *value ? check_abs_path(value, why) : 0;
}

static int
check_abs_paths(const char *value, struct str *why)
{
	char **items = param_list_split(value);
	int ret = 0;

	for (size_t i = 0; items[i] && ret == 0; i++)
		ret = check_abs_path(items[i], why);
	param_list_free(items);
	return ret;
}

/* home_mailbox: a path below the home directory, "" for the spool. */
static int
check_home_mailbox(const char *value, struct str *why)
{
	if (value[0] != '/' && strstr(value, "..") == NULL)
		return 0;
	str_printf(why, "\"%s\": expected a relative path without \"..\" (\"Maildir/\")", value);
	return -1;
}

/* A user or group name. */
static int
check_account(const char *value, struct str *why)
{
	const char *p = value;

	if (islower((unsigned char)*p) || *p == '_')
		for (p++; islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
		        *p == '-';)
			p++;
	if (p > value && *p == '\0' && p - value <= 32)
		return 0;
	str_printf(why, "\"%s\": expected a user or group name", value);
	return -1;
}

const struct param_def param_table[] = {
        /* Files, directories and accounts. */
        P_STR("config_directory", TERN_CONFIG_DIR, "directory of main.cf and master.cf",
                check_abs_path),
        P_STR("queue_directory", TERN_QUEUE_DIR, "the queue: incoming/, active/, deferred/, ...",
                check_abs_path),
        P_STR("daemon_directory", TERN_DAEMON_DIR, "directory of the daemon programs",
                check_abs_path),
        P_STR("command_directory", TERN_COMMAND_DIR, "directory of tern, sendmail and postdrop",
                check_abs_path),
        P_STR("drop_directory", "/var/lib/tern/drop",
                "the Drop: maildirs of hosted and local users", check_abs_path),
        P_BOOL("unprivileged_mode", "no",
                "run every process as the invoking user, without chroot (development, tests)"),
        P_STR("mail_owner", "tern", "the unprivileged user of the daemons and the queue",
                check_account),
        P_STR("setgid_group", "ternpost", "group of postdrop and of the maildrop/ directory",
                check_account),
        P_STR("maillog_file", "", "log file (empty: syslog, facility mail)",
                check_abs_path_or_empty),
        P_LIST("alternate_config_directories", "",
                "other configuration directories that ordinary users may name with -C",
                check_abs_paths),
        P_STR("pickup_directory", "",
                "IIS-style Pickup folder: files dropped here are sent as with sendmail -t (empty: "
                "off)",
                check_abs_path_or_empty),
        P_LIST("authorized_submit_users", "static:anyone",
                "local users who may submit mail with sendmail (a list or table)", NULL),

        /* Names, domains and networks. */
        P_STR("myhostname", "", "this host's fully qualified name (empty: gethostname())",
                check_hostname),
        P_STR("mydomain", "", "this host's domain (default: myhostname without its first label)",
                check_hostname),
        P_STR("myorigin", "$myhostname", "domain that locally submitted mail comes from",
                check_hostname),
        P_LIST("mydestination", "$myhostname, localhost",
                "domains delivered to system accounts and aliases", check_domains),
        P_LIST("mynetworks", "127.0.0.0/8, [::1]/128",
                "clients trusted to relay: addresses, networks, host names or tables",
                check_networks),
        P_LIST("relay_domains", "", "domains this host relays to from any client (backup MX)",
                check_domains),
        P_STR("relayhost", "", "smart host for all outbound mail: host, [host], [host]:port",
                check_nexthop),
        P_LIST("inet_interfaces", "all",
                "addresses the listeners bind: all, loopback-only, or a list",
                check_inet_interfaces),
        P_LIST("inet_protocols", "all", "IP versions used: all, ipv4, ipv6", check_inet_protocols),
        P_LIST("dns_servers", "",
                "DNS servers to ask (empty: /etc/resolv.conf): ip, ip@port or [ip]:port",
                check_dns_servers),
        P_STR("recipient_delimiter", "", "separator of address extensions (user+ext)", NULL),

        /* smtpd: protocol and limits. */
        P_STR("smtpd_banner", "$myhostname ESMTP", "text of the 220 greeting after the code", NULL),
        P_INT("smtpd_line_length_limit", "2048", 512, 1048576,
                "longest command line accepted, in bytes"),
        P_INT("smtpd_sasl_response_limit", "12288", 512, 1048576,
                "longest AUTH response accepted, in bytes"),
        P_INT("smtpd_hard_error_limit", "20", 1, 10000,
                "errors in one session before 421 and close"),
        P_TIME("smtpd_timeout", "300s", 's', 1, HOUR,
                "deadline for a whole command line or data chunk"),
        P_INT("smtpd_min_data_rate", "1024", 0, INT_LIMIT,
                "slowest accepted message data, bytes per second (0: no minimum)"),
        P_SIZE("message_size_limit", "10240000", 0, NO_LIMIT,
                "largest message in bytes (0: no limit)"),
        P_SIZE("smtpd_session_size_limit", "51200000", 0, NO_LIMIT,
                "bytes of message data in one session (0: no limit)"),
        P_INT("smtpd_recipient_limit", "1000", 1, INT_LIMIT, "recipients per message"),
        P_INT("smtpd_messages_per_session", "1000", 1, INT_LIMIT, "messages per session"),
        P_INT("hopcount_limit", "100", 1, 10000,
                "Received: headers before 554 5.4.6 too many hops"),
        P_INT("smtpd_client_connection_limit", "50", 0, INT_LIMIT,
                "concurrent sessions per client IP (0: no limit)"),
        P_INT("smtpd_connection_limit", "10000", 0, INT_LIMIT,
                "concurrent sessions per listener (0: as file descriptors allow)"),
        P_INT("smtpd_client_message_rate_limit", "0", 0, INT_LIMIT,
                "messages per client IP and per login in anvil_rate_time_unit (0: off)"),
        P_INT("smtpd_client_recipient_rate_limit", "0", 0, INT_LIMIT,
                "recipients per client IP and per login in anvil_rate_time_unit (0: off)"),
        P_INT("smtpd_client_connection_rate_limit", "0", 0, INT_LIMIT,
                "connections per client IP in anvil_rate_time_unit (0: off)"),
        P_INT("smtpd_client_auth_failure_limit", "0", 0, INT_LIMIT,
                "failed AUTH attempts per client IP in anvil_rate_time_unit (0: off)"),
        P_TIME("anvil_rate_time_unit", "60s", 's', 1, DAY, "the time unit of the rate limits"),
        P_SIZE("header_size_limit", "102400", 1024, NO_LIMIT, "bytes in one message header"),
        P_INT("header_count_limit", "1000", 1, INT_LIMIT, "headers in one message"),
        P_SIZE("queue_minfree", "100m", 0, NO_LIMIT,
                "free bytes the queue file system keeps; below it mail gets 452 4.3.1"),
        P_TIME("smtpd_stress_timeout", "10s", 's', 1, HOUR,
                "smtpd_timeout when the listener is under stress"),
        P_INT("smtpd_stress_threshold", "80", 1, 100,
                "percent of smtpd_connection_limit in use that means stress"),
        P_STR("smtpd_upstream_proxy_protocol", "",
                "haproxy: the PROXY protocol v1/v2 gives the real client (empty: off)",
                check_proxy_protocol),
        P_TIME("smtpd_upstream_proxy_timeout", "5s", 's', 1, HOUR,
                "deadline for the PROXY protocol header"),
        P_BOOL("smtpd_reverse_dns_check", "no",
                "look up the client's PTR and mark it unverified unless forward-confirmed"),
        P_BOOL("smtpd_reject_unverified_client", "no",
                "refuse clients whose PTR does not forward-confirm"),
        P_STR("smtpd_protocol_log", "",
                "file for the W3C extended protocol log of every command and reply (empty: off)",
                check_abs_path_or_empty),
        P_BOOL("smtpd_helo_required", "no", "require HELO or EHLO before MAIL"),
        P_STR("fallback_relay", "",
                "host that takes mail for unknown recipients in our domains (empty: 550 5.1.1)",
                check_nexthop),

        /* smtpd: policy. */
        P_LIST("smtpd_client_restrictions", "", "restrictions at connect", NULL),
        P_LIST("smtpd_helo_restrictions", "", "restrictions at HELO/EHLO", NULL),
        P_LIST("smtpd_sender_restrictions", "", "restrictions at MAIL FROM", NULL),
        P_LIST("smtpd_relay_restrictions",
                "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
                "relay control at RCPT TO", NULL),
        P_LIST("smtpd_recipient_restrictions", "", "restrictions at RCPT TO, after relay control",
                NULL),
        P_LIST("smtpd_data_restrictions", "", "restrictions at DATA and BDAT", NULL),
        P_LIST("smtpd_etrn_restrictions", "permit_mynetworks, reject", "who may use ETRN", NULL),
        P_LIST("smtpd_etrn_clients", "$mynetworks", "clients that may use ETRN", check_networks),
        P_LIST("smtpd_sender_login_maps", "", "sender address -> logins that may use it (tenants)",
                check_maps),
        P_LIST("relay_recipient_maps", "", "valid recipients in relay_domains (empty: all)",
                check_maps),

        /* smtpd: TLS and AUTH. */
        P_STR("smtpd_tls_cert_file", "", "server certificate, PEM (empty: no STARTTLS)",
                check_abs_path_or_empty),
        P_STR("smtpd_tls_key_file", "$smtpd_tls_cert_file", "private key of the server certificate",
                check_abs_path_or_empty),
        P_LIST("smtpd_tls_chain_files", "",
                "PEM files, each key then certificate chain (instead of cert_file and key_file)",
                check_abs_paths),
        P_LIST("smtpd_tls_sni_maps", "", "SNI host name -> chain file with key and certificates",
                check_maps),
        P_STR("smtpd_tls_security_level", "may",
                "none, may (offer STARTTLS) or encrypt (530 5.7.0 before STARTTLS)",
                check_tls_level_server),
        P_LIST("smtpd_tls_protocols", ">=TLSv1.2", "TLS versions offered", check_tls_protocols),
        P_LIST("smtpd_tls_mandatory_protocols", ">=TLSv1.2",
                "TLS versions when smtpd_tls_security_level is encrypt", check_tls_protocols),
        P_BOOL("smtpd_tls_wrappermode", "no", "implicit TLS from the first byte (port 465)"),
        P_BOOL("smtpd_sasl_auth_enable", "no", "offer AUTH PLAIN and LOGIN"),
        P_BOOL("smtpd_tls_auth_only", "yes", "offer AUTH only inside TLS"),
        P_LIST("auth_password_maps", "", "login -> crypt(3) hash (yescrypt or SHA-512), for auth",
                check_maps),

        /* cleanup. */
        P_LIST("canonical_maps", "", "address rewriting of sender and recipients, all mail",
                check_maps),
        P_LIST("sender_canonical_maps", "", "address rewriting of senders, all mail", check_maps),
        P_LIST("recipient_canonical_maps", "", "address rewriting of recipients, all mail",
                check_maps),
        P_LIST("virtual_alias_maps", "", "address -> addresses, for hosted and local domains",
                check_maps),
        P_LIST("virtual_alias_domains", "", "domains that exist only as virtual aliases",
                check_domains),
        P_INT("virtual_alias_recursion_limit", "100", 1, 10000,
                "nesting of virtual alias expansion"),
        P_INT("virtual_alias_expansion_limit", "1000", 1, INT_LIMIT,
                "addresses one virtual alias expansion may produce"),
        P_TIME("temporary_file_max_age", "1h", 's', MINUTE, 30 * DAY,
                "age after which a temporary queue file left by a killed process is removed"),

        /* qmgr. */
        P_LIST("retry_schedule", "10m, 10m, 10m, 15m, 30m, 1h, 2h, 4h",
                "gaps between delivery attempts; the last one repeats", check_durations),
        P_TIME("delay_warning_time", "12h", 'h', 0, 100 * DAY,
                "age at which a delay DSN is sent (0: never)"),
        P_TIME("maximal_queue_lifetime", "5d", 'd', 0, 100 * DAY,
                "age at which undeliverable mail bounces"),
        P_TIME("local_delay_warning_time", "12h", 'h', 0, 100 * DAY,
                "delay_warning_time for final local delivery"),
        P_TIME("local_queue_lifetime", "5d", 'd', 0, 100 * DAY,
                "maximal_queue_lifetime for final local delivery"),
        P_TIME("bounce_queue_lifetime", "5d", 'd', 0, 100 * DAY,
                "maximal_queue_lifetime of DSNs themselves (then corrupt/)"),
        P_STR("bounce_notice_recipient", "postmaster",
                "who gets the copies named by notify_classes", NULL),
        P_LIST("notify_classes", "resource, software",
                "problems reported to the postmaster: bounce, 2bounce, delay, policy, protocol, "
                "resource, software",
                check_notify_classes),
        P_SIZE("bounce_size_limit", "50000", 0, NO_LIMIT,
                "largest original returned whole in a bounce; larger ones return their header "
                "(0: no limit)"),
        P_INT("default_destination_concurrency_limit", "20", 1, 10000,
                "parallel deliveries per destination"),
        P_INT("default_process_limit", "100", 1, 100000,
                "processes per service when master.cf says \"-\""),
        P_INT("smtp_messages_per_connection", "20", 1, 100000,
                "messages sent over one SMTP connection"),
        P_INT("smtp_recipients_per_transaction", "1000", 1, INT_LIMIT,
                "recipients per SMTP transaction; larger lists are split"),
        P_TIME("queue_run_delay", "5m", 's', 1, DAY, "interval between scans of deferred/"),
        P_LIST("defer_transports", "", "transports whose mail waits for a flush (ETRN)", NULL),
        P_LIST("fast_flush_domains", "$relay_domains", "domains whose deferred mail ETRN may flush",
                check_domains),
        P_INT("qmgr_message_active_limit", "20000", 1, INT_LIMIT, "messages in active/ at once"),
        P_INT("destination_failure_limit", "3", 1, 1000,
                "failed deliveries in a row before a destination is backed off"),
        P_TIME("destination_backoff_time", "5m", 's', 1, DAY,
                "how long a backed-off destination is left alone"),
        P_TIME("delivery_agent_timeout", "1h", 's', 1, DAY,
                "longest wait of qmgr for a delivery agent's next answer"),

        /* local. */
        P_LIST("virtual_mailbox_domains", "",
                "hosted domains: mailboxes that are not system accounts", check_domains),
        P_LIST("virtual_mailbox_maps", "",
                "hosted address -> maildir below drop_directory (empty: from the address)",
                check_maps),
        P_LIST("virtual_uid_maps", "", "hosted address -> uid the delivery runs as", check_maps),
        P_LIST("virtual_gid_maps", "", "hosted address -> gid the delivery runs as", check_maps),
        P_INT("virtual_minimum_uid", "100", 1, INT_LIMIT, "smallest uid a hosted delivery runs as"),
        P_STR("home_mailbox", "Maildir/",
                "system accounts' maildir below their home (empty: mail_spool_directory)",
                check_home_mailbox),
        P_STR("mail_spool_directory", "/var/mail", "mbox files of system accounts", check_abs_path),
        P_LIST("alias_maps", "cdb:" TERN_CONFIG_DIR "/aliases",
                "aliases(5) tables for local domains, built by newaliases", check_maps),
        P_LIST("forward_path", "~/.forward",
                "forwarding files of system accounts (~/ is the home directory)", NULL),
        P_SIZE("mailbox_size_limit", "0", 0, NO_LIMIT, "quota of one mailbox in bytes (0: none)"),
        P_LIST("mailbox_size_limit_maps", "", "address -> quota of that mailbox", check_maps),
        P_SIZE("domain_size_limit", "0", 0, NO_LIMIT,
                "quota of all mailboxes of one hosted domain in bytes (0: none)"),
        P_LIST("domain_size_limit_maps", "", "hosted domain -> quota of that domain", check_maps),
        P_LIST("allow_mail_to_commands", "alias, forward",
                "where |command deliveries may come from: alias, forward, include",
                check_allow_mail_to),
        P_LIST("allow_mail_to_files", "alias, forward",
                "where /file deliveries may come from: alias, forward, include",
                check_allow_mail_to),
        P_BOOL("drop_system_mailboxes", "no",
                "system accounts get drop_directory/<user>/ instead of home_mailbox"),
        P_STR("default_privs", "nobody",
                "the user of commands and files of root-owned aliases and :include: files",
                check_account),
        P_TIME("command_time_limit", "1000s", 's', 1, DAY, "time limit of a |command delivery"),

        /* smtp. */
        P_LIST("transport_maps", "", "domain -> transport:nexthop (domain, .parent, *)",
                check_maps),
        P_LIST("sender_dependent_relayhost_maps", "", "sender or @domain -> relay host (tenants)",
                check_maps),
        P_LIST("smtp_fallback_relay", "", "hosts tried when direct delivery fails", check_nexthops),
        P_STR("smtp_bind_address", "", "source IPv4 address of outbound connections", check_ipv4),
        P_STR("smtp_bind_address6", "", "source IPv6 address of outbound connections", check_ipv6),
        P_STR("smtp_helo_name", "$myhostname", "name sent in EHLO/HELO", check_hostname),
        P_STR("smtp_tls_security_level", "may", "none, may, encrypt, verify or dane",
                check_tls_level_client),
        P_LIST("smtp_tls_policy_maps", "", "destination -> TLS security level", check_maps),
        P_STR("smtp_tls_cert_file", "", "client certificate, PEM (empty: none)",
                check_abs_path_or_empty),
        P_STR("smtp_tls_key_file", "$smtp_tls_cert_file", "private key of the client certificate",
                check_abs_path_or_empty),
        P_STR("smtp_tls_CAfile", "/etc/ssl/certs/ca-certificates.crt",
                "trusted CAs for verify (read before chroot)", check_abs_path_or_empty),
        P_LIST("smtp_tls_protocols", ">=TLSv1", "TLS versions for opportunistic TLS",
                check_tls_protocols),
        P_LIST("smtp_tls_mandatory_protocols", ">=TLSv1.2",
                "TLS versions at the levels encrypt and above", check_tls_protocols),
        P_BOOL("smtp_sasl_auth_enable", "no",
                "authenticate to servers listed in the password maps"),
        P_LIST("smtp_sasl_password_maps", "", "next hop -> username:password", check_maps),
        P_TIME("smtp_connect_timeout", "30s", 's', 1, HOUR, "deadline for the TCP connection"),
        P_TIME("smtp_helo_timeout", "300s", 's', 1, HOUR,
                "deadline for the greeting and the EHLO reply"),
        P_TIME("smtp_mail_timeout", "300s", 's', 1, HOUR, "deadline for the MAIL FROM reply"),
        P_TIME("smtp_rcpt_timeout", "300s", 's', 1, HOUR, "deadline for each RCPT TO reply"),
        P_TIME("smtp_data_init_timeout", "120s", 's', 1, HOUR, "deadline for the DATA reply"),
        P_TIME("smtp_data_xfer_timeout", "180s", 's', 1, HOUR, "deadline for each block of data"),
        P_TIME("smtp_data_done_timeout", "600s", 's', 1, HOUR,
                "deadline for the reply to the end of data"),
        P_TIME("smtp_quit_timeout", "300s", 's', 1, HOUR, "deadline for the QUIT reply"),
        P_INT("smtp_mx_address_limit", "5", 1, 1000, "addresses tried per delivery"),
        P_INT("smtp_tcp_port", "25", 1, 65535, "port of next hops given without one"),
        P_TIME("smtp_rset_timeout", "20s", 's', 1, HOUR,
                "deadline for the RSET reply before a connection is reused"),
        P_TIME("smtp_connection_cache_time", "2s", 's', 0, HOUR,
                "idle time after which a kept connection is closed, not reused (0: no reuse)"),
        P_LIST("smtp_helo_only_destinations", "",
                "next hops and MX hosts sent HELO instead of EHLO (names, .parent, tables)", NULL),
        P_STR("masquerade_domain", "",
                "outbound SMTP only: replaces the envelope sender's domain (empty: off)",
                check_hostname),
        P_LIST("smtp_generic_maps", "",
                "outbound SMTP only: address rewriting, envelope and headers", check_maps),

        /* master and every daemon. */
        P_TIME("master_backoff_min", "1s", 's', 1, HOUR,
                "first delay before a failing service is restarted"),
        P_TIME("master_backoff_max", "60s", 's', 1, DAY,
                "largest delay before a failing service is restarted (the delay doubles)"),
        P_TIME("master_stop_grace", "30s", 's', 1, HOUR,
                "time children get to exit at stop before SIGKILL"),
        P_TIME("max_idle", "100s", 's', 1, DAY, "an idle daemon process exits after this long"),
        P_INT("max_use", "100", 1, INT_LIMIT, "clients a daemon process serves before it exits"),
        P_TIME("ipc_timeout", "3600s", 's', 1, DAY, "deadline for one request between processes"),
        P_TIME("table_change_check_interval", "30s", 's', 1, HOUR,
                "how often a daemon checks whether its tables changed"),
};

const unsigned long param_count = sizeof(param_table) / sizeof(param_table[0]);

const struct param_def *
param_find(const char *name)
{
	for (unsigned long i = 0; i < param_count; i++)
		if (strcmp(param_table[i].name, name) == 0)
			return &param_table[i];
	return NULL;
}
