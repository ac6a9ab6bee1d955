/*
 * smtp_tls.c - the client's TLS policy: which security level a
 * destination gets, and the OpenSSL contexts for it.
 *
 * The level is smtp_tls_security_level (default may), unless
 * smtp_tls_policy_maps has an entry for the destination; the maps are
 * searched, first hit wins, with the next hop as written
 * ("[mx.example]:2525"), then its host or domain, then each parent domain
 * as ".example.com".  The value's first word is the level:
 *
 *	none	 never STARTTLS
 *	may	 STARTTLS when offered; a failed handshake makes the delivery
 *		 start again in plain text on a new connection (smtp_deliver.c);
 *		 protocols smtp_tls_protocols
 *	encrypt	 STARTTLS required (else 4.7.4, next address); protocols
 *		 smtp_tls_mandatory_protocols; the certificate is not checked
 *	verify, dane	certificate checks come later: such a destination is
 *		 deferred (4.7.5) rather than sent with less than it asked for
 *
 * The contexts are made before the jail (smtp_tls_init): no CA file is
 * loaded since nothing is verified yet; the client certificate
 * (smtp_tls_cert_file, smtp_tls_key_file) is offered when set.
 * Trusts the configuration.  Called by smtp.c (init) and smtp_deliver.c.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "config.h"
#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "smtp.h"
#include "table.h"
#include "tls.h"

#define SMTP_TLS_TABLE_MAX 16 /* smtp_tls_policy_maps entries */

static SSL_CTX *ctx_may, *ctx_encrypt;
static enum smtp_tls_level default_level;
static struct table *policy_tables[SMTP_TLS_TABLE_MAX];
static size_t npolicy_tables;

static const struct {
	const char *name;
	enum smtp_tls_level level;
} level_names[] = {
        {"none", SMTP_TLS_NONE},
        {"may", SMTP_TLS_MAY},
        {"encrypt", SMTP_TLS_ENCRYPT},
        {"verify", SMTP_TLS_VERIFY},
        {"dane", SMTP_TLS_DANE},
};

const char *
smtp_tls_level_name(enum smtp_tls_level level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "invalid";
}

static enum smtp_tls_level
level_parse(const char *word, size_t len)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strlen(level_names[i].name) == len &&
		        strncasecmp(level_names[i].name, word, len) == 0)
			return level_names[i].level;
	return SMTP_TLS_INVALID;
}

/*
 * The lowest and highest protocol versions of a list such as ">=TLSv1",
 * "!SSLv3, !TLSv1" or "TLSv1.2 TLSv1.3".  SSL versions are never used.
 */
static int
protocols_parse(char *const *items, int *min, int *max, struct str *err)
{
	static const int order[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
	const size_t n = sizeof(order) / sizeof(order[0]);
	int allowed[4] = {1, 1, 1, 1}, listed[4] = {0, 0, 0, 0}, any_listed = 0;
	size_t k;

	for (size_t i = 0; items[i]; i++) {
		const char *p = items[i], *why;
		int v, kind = 0; /* 0 listed, 1 excluded, 2 >=, 3 <= */

		if (*p == '!') {
			kind = 1;
			p++;
		} else if (strncmp(p, ">=", 2) == 0) {
			kind = 2;
			p += 2;
		} else if (strncmp(p, "<=", 2) == 0) {
			kind = 3;
			p += 2;
		}
		if (strncmp(p, "SSL", 3) == 0)
			continue;
		if (tls_version_parse(p, &v, &why) < 0) {
			str_printf(err, "TLS protocol \"%s\": %s", items[i], why);
			return -1;
		}
		for (k = 0; k < n; k++) {
			if (kind == 0 && order[k] == v) {
				listed[k] = 1;
				any_listed = 1;
			} else if (kind == 1 && order[k] == v) {
				allowed[k] = 0;
			} else if (kind == 2 && order[k] < v) {
				allowed[k] = 0;
			} else if (kind == 3 && order[k] > v) {
				allowed[k] = 0;
			}
		}
	}
	*min = *max = 0;
	for (k = 0; k < n; k++) {
		if (!allowed[k] || (any_listed && !listed[k]))
			continue;
		if (*min == 0)
			*min = order[k];
		*max = order[k];
	}
	if (*min == 0) {
		str_appendz(err, "the TLS protocol list allows no version");
		return -1;
	}
	return 0;
}

static SSL_CTX *
ctx_make(struct config *c, const char *protocols_param, struct str *err)
{
	struct tls_client_config tc;
	const char *cert = config_str(c, "smtp_tls_cert_file");
	int min, max;
	SSL_CTX *ctx;

	memset(&tc, 0, sizeof(tc));
	if (protocols_parse(config_list(c, protocols_param), &min, &max, err) < 0)
		return NULL;
	tc.min_version = min;
	if (cert[0] != '\0') {
		tc.cert_file = cert;
		tc.key_file = config_str(c, "smtp_tls_key_file");
	}
	if ((ctx = tls_client_ctx_new(&tc, err)) == NULL)
		return NULL;
	if (max != TLS1_3_VERSION)
		SSL_CTX_set_max_proto_version(ctx, max);
	return ctx;
}

int
smtp_tls_init(struct config *c, struct str *err)
{
	const char *level = config_str(c, "smtp_tls_security_level");
	char *const *maps = config_list(c, "smtp_tls_policy_maps");

	default_level = level_parse(level, strlen(level));
	for (size_t i = 0; maps[i]; i++) {
		struct table *t;

		if (npolicy_tables >= SMTP_TLS_TABLE_MAX) {
			str_printf(err, "smtp_tls_policy_maps: more than %d tables",
			        SMTP_TLS_TABLE_MAX);
			return -1;
		}
		if ((t = table_open(maps[i], TABLE_READ, err)) == NULL)
			return -1;
		policy_tables[npolicy_tables++] = t;
		daemon_watch_table(t);
	}
	if ((ctx_may = ctx_make(c, "smtp_tls_protocols", err)) == NULL)
		return -1;
	if ((ctx_encrypt = ctx_make(c, "smtp_tls_mandatory_protocols", err)) == NULL)
		return -1;
	return 0;
}

void
smtp_tls_free(void)
{
	for (size_t i = 0; i < npolicy_tables; i++)
		table_close(policy_tables[i]);
	npolicy_tables = 0;
	SSL_CTX_free(ctx_may);
	SSL_CTX_free(ctx_encrypt);
	ctx_may = ctx_encrypt = NULL;
}

/* Look key up in the policy maps: 1 and the level, 0 when not found. */
static int
policy_lookup(const char *key, enum smtp_tls_level *level)
{
	struct str value = STR_INIT;
	int found = 0;

	for (size_t i = 0; i < npolicy_tables && !found; i++) {
		int r = table_lookup(policy_tables[i], key, &value, NULL);

		if (r < 0) {
			/* A table we cannot read: the strictest answer we can give. */
			*level = SMTP_TLS_INVALID;
			found = 1;
		} else if (r > 0) {
			const char *v = str_cstr(&value);
			size_t len;

			v += strspn(v, " \t");
			len = strcspn(v, " \t");
			*level = level_parse(v, len);
			if (*level == SMTP_TLS_INVALID)
				msg_warn("%s: TLS policy for %s: unknown level \"%.*s\"",
				        table_spec(policy_tables[i]), key, (int)len, v);
			found = 1;
		}
	}
	str_free(&value);
	return found;
}

enum smtp_tls_level
smtp_tls_policy(const char *nexthop, const struct smtp_dest *d)
{
	enum smtp_tls_level level;
	const char *p;

	if (npolicy_tables > 0) {
		if (policy_lookup(nexthop, &level))
			goto done;
		if (policy_lookup(d->host, &level))
			goto done;
		for (p = strchr(d->host, '.'); p && !d->literal; p = strchr(p + 1, '.')) {
			if (policy_lookup(p, &level))
				goto done;
		}
	}
	level = default_level;
done:
	return level;
}

struct ssl_ctx_st *
smtp_tls_ctx(enum smtp_tls_level level)
{
	return level == SMTP_TLS_MAY ? ctx_may : ctx_encrypt;
}
