/*
 * smtp_rewrite.c - outbound-only address rewriting: smtp_generic_maps
 * (envelope and headers) and masquerade_domain (the envelope sender).
 *
 * smtp_generic_maps (Postfix's meaning): each address is looked up, in
 * every table of the list in order, first as "user@domain", then as
 * "@domain".  A result "@other" keeps the local part ("user@other");
 * any other result replaces the whole address (only its first item when
 * the result is a list).  The envelope sender and recipients (what MAIL
 * FROM and RCPT TO say) are rewritten, and the addresses of the
 * top-level header fields that carry them (From:, Sender:, Reply-To:, To:,
 * Cc:, Bcc:, their Resent- forms, Return-Path:, Errors-To:, Mail-
 * Followup-To:, Mail-Reply-To:, Disposition-Notification-To:,
 * Return-Receipt-To:).  A header field none of whose addresses change is
 * sent as it was; one that changes is written again as "name <address>"
 * items, folded, which drops comments and group names.  The queue file
 * is never changed: this is what the next hop sees, not what we keep.
 *
 * masquerade_domain (IIS's meaning): after the generic maps, a non-null
 * envelope sender's domain is replaced by masquerade_domain, so that
 * bounces come back to it.  Headers are not touched.
 *
 * A table that cannot be read is an error (-1): the delivery is then
 * deferred rather than sent with addresses the administrator wanted
 * hidden.  Tables are opened before the jail and watched for changes.
 * Trusts the configuration; the addresses come from a validated queue
 * file.  Called by smtp.c (init), smtp_deliver.c (envelope) and
 * smtp_8bit.c through a hook (headers).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "header.h"
#include "mem.h"
#include "msg.h"
#include "rfc5322_addr.h"
#include "smtp.h"
#include "table.h"

#define SMTP_GENERIC_TABLE_MAX 16   /* tables in smtp_generic_maps */
#define SMTP_HEADER_ADDR_MAX   1000 /* addresses rewritten in one header field */

static struct table *generic[SMTP_GENERIC_TABLE_MAX];
static size_t ngeneric;
static const char *masquerade;

static const char *const address_headers[] = {
        "From",
        "Sender",
        "Reply-To",
        "To",
        "Cc",
        "Bcc",
        "Resent-From",
        "Resent-Sender",
        "Resent-Reply-To",
        "Resent-To",
        "Resent-Cc",
        "Resent-Bcc",
        "Return-Path",
        "Errors-To",
        "Mail-Followup-To",
        "Mail-Reply-To",
        "Disposition-Notification-To",
        "Return-Receipt-To",
        NULL,
};

int
smtp_rewrite_init(struct config *c, struct str *err)
{
	char *const *maps = config_list(c, "smtp_generic_maps");

	masquerade = config_str(c, "masquerade_domain");
	for (size_t i = 0; maps[i]; i++) {
		struct table *t;

		if (ngeneric >= SMTP_GENERIC_TABLE_MAX) {
			str_printf(err, "smtp_generic_maps: more than %d tables",
			        SMTP_GENERIC_TABLE_MAX);
			return -1;
		}
		if ((t = table_open(maps[i], TABLE_READ, err)) == NULL)
			return -1;
		generic[ngeneric++] = t;
		daemon_watch_table(t);
	}
	return 0;
}

void
smtp_rewrite_free(void)
{
	for (size_t i = 0; i < ngeneric; i++)
		table_close(generic[i]);
	ngeneric = 0;
}

int
smtp_rewrite_active(void)
{
	return ngeneric > 0;
}

/* One key against every table: 1 found (value set), 0 not, -1 error. */
static int
lookup_key(const char *key, struct str *value)
{
	for (size_t i = 0; i < ngeneric; i++) {
		struct str err = STR_INIT;
		int rc = table_lookup(generic[i], key, value, &err);

		if (rc < 0)
			msg_warn("smtp_generic_maps: %s: lookup of %s failed: %s",
			        table_spec(generic[i]), key, str_cstr(&err));
		str_free(&err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * address through smtp_generic_maps into out (unchanged when no entry).
 * Returns 1 when rewritten, 0 when not, -1 when a table failed.
 */
int
smtp_rewrite_address(const char *address, struct str *out)
{
	const char *at = strrchr(address, '@');
	struct str key = STR_INIT, value = STR_INIT;
	int rc = 0;

	str_setz(out, address);
	if (ngeneric == 0 || *address == '\0')
		return 0;
	rc = lookup_key(address, &value);
	if (rc == 0 && at) {
		str_printf(&key, "@%s", at + 1);
		rc = lookup_key(str_cstr(&key), &value);
	}
	if (rc == 1) {
		const char *v = str_cstr(&value);
		size_t n;

		v += strspn(v, " \t");
		n = strcspn(v, ", \t");
		if (n == 0) {
			rc = 0;
		} else if (v[0] == '@') {
			str_set(out, address, at ? (size_t)(at - address) : strlen(address));
			str_append(out, v, n);
		} else {
			str_set(out, v, n);
		}
	}
	str_free(&key);
	str_free(&value);
	return rc;
}

/*
 * The envelope sender: generic maps, then masquerade_domain.  Returns
 * 0, or -1 when a table failed.
 */
int
smtp_rewrite_sender(const char *sender, struct str *out)
{
	const char *at;
	struct str tmp = STR_INIT;

	if (smtp_rewrite_address(sender, out) < 0)
		return -1;
	if (masquerade[0] != '\0' && out->len > 0) {
		str_setz(&tmp, str_cstr(out));
		at = strrchr(str_cstr(&tmp), '@');
		str_reset(out);
		str_append(out, tmp.data, at ? (size_t)(at - tmp.data) : tmp.len);
		str_appendc(out, '@');
		str_appendz(out, masquerade);
	}
	str_free(&tmp);
	return 0;
}

static int
is_address_header(const char *field, size_t len)
{
	for (size_t i = 0; address_headers[i]; i++)
		if (header_field_is(field, len, address_headers[i]))
			return 1;
	return 0;
}

/*
 * A top-level header field field[0..len) (lines separated by LF, no
 * final line end).  Returns 1 with the new field in out (no final line
 * end), 0 when it stays as it is, -1 when a table failed.
 */
int
smtp_rewrite_header(const char *field, size_t len, struct str *out)
{
	struct rfc5322_addr_list list;
	struct str value = STR_INIT, newval = STR_INIT, mapped = STR_INIT, name = STR_INIT;
	size_t namelen, n, skipped = 0;
	int changed = 0, rc = 0;

	if (ngeneric == 0 || !is_address_header(field, len))
		return 0;
	namelen = header_field_name(field, len);
	header_field_value(field, len, &value);
	rfc5322_addr_list_init(&list);
	n = rfc5322_addr_parse(
	        value.data ? value.data : "", value.len, &list, SMTP_HEADER_ADDR_MAX, &skipped);
	for (size_t i = 0; i < n && rc >= 0; i++) {
		int r = smtp_rewrite_address(str_cstr(&list.v[i].addr), &mapped);

		if (r < 0)
			rc = -1;
		if (r > 0 && !str_eq(&list.v[i].addr, str_cstr(&mapped))) {
			str_setz(&list.v[i].addr, str_cstr(&mapped));
			changed = 1;
		}
	}
	/* Items that are not addresses would be lost: keep such a field. */
	if (rc == 0 && changed && skipped == 0) {
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				str_appendz(&newval, ", ");
			rfc5322_format_mailbox(
			        str_cstr(&list.v[i].name), str_cstr(&list.v[i].addr), &newval);
		}
		while (namelen > 0 && (field[namelen - 1] == ' ' || field[namelen - 1] == '\t'))
			namelen--;
		str_set(&name, field, namelen);
		str_reset(out);
		if (header_fold(out, str_cstr(&name), str_cstr(&newval)) == 0) {
			while (out->len > 0 && out->data[out->len - 1] == '\n')
				str_truncate(out, out->len - 1);
			rc = 1;
		}
	}
	rfc5322_addr_list_free(&list);
	str_free(&value);
	str_free(&newval);
	str_free(&mapped);
	str_free(&name);
	return rc;
}
