/*
 * local_recipient.c - one recipient, from its address to its mailboxes,
 * commands, files and forwarded copies, and the one result qmgr hears.
 *
 * For each address, at every level of expansion:
 *
 *	1. nesting beyond LOCAL_EXPAND_DEPTH, or more than LOCAL_EXPAND_MAX
 *	   targets: 5.4.6 / 5.3.0;
 *	2. the message already carries "Delivered-To: <this address>":
 *	   a mail loop, 5.4.6;
 *	3. the domain's class (lib/resolve.h): hosted domains go to their
 *	   mailbox (virtual_mailbox_maps, or the encoded address); local
 *	   domains (and, at the top, whatever qmgr routed to local) to:
 *	4. alias_maps (the local part, then its base without the extension),
 *	   with owner-ALIAS as the sender of the expansion when it exists;
 *	5. the system account of the base (getpwnam): its .forward
 *	   (forward_path), else its mailbox: drop_directory/<user>/ when
 *	   drop_system_mailboxes, else ~/home_mailbox (a maildir), else an
 *	   mbox in mail_spool_directory; no account: 5.1.1.
 *
 * An address that is its own ancestor ("a: a", "a: b", "b: a") goes to
 * its mailbox without being expanded again; an address or target met
 * twice in one expansion is delivered once.  Inside an expansion,
 * addresses of other domains (and hosted addresses without a mailbox) are
 * collected and sent on as one new message per sender through cleanup
 * (local_forward.c), with Delivered-To: of the address that expanded.
 *
 * The result for qmgr: deferred when any target deferred (the retry
 * repeats the expansion: maildir targets are idempotent, commands, files
 * and forwarded copies are not: docs/local.md); else sent when any
 * target was delivered (members that failed for good are logged and
 * named in the reason); else bounced with the first failure.
 *
 * Trusts the configuration and its tables; nothing from the message
 * reaches a path except through local_path_encode.  Called by local.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "local.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "resolve.h"

#define SEEN_MAX LOCAL_EXPAND_MAX /* distinct targets remembered per recipient */

struct forward_group {
	char *sender;
	char *delivered_to;
	char **addresses;
	size_t n;
};

/* The expansion of one recipient. */
struct expansion {
	struct local_message *m;
	const struct local_rcpt *r;
	size_t targets;
	size_t sent, deferred, bounced;
	struct local_result first_sent, first_defer, first_bounce;
	char **seen;
	size_t nseen;
	struct forward_group *fwd;
	size_t nfwd;
};

/* One level: the address being expanded and what its items may do. */
struct level {
	const struct level *parent;
	const char *address;
	const char *sender;
	unsigned source; /* LOCAL_SRC_* of the items, 0 at the top */
	const struct local_identity *privs;
	int depth;
};

#define DELIVER_NOEXPAND 0x01u /* \user, or an ancestor: the mailbox only */

static void deliver_address(
        struct expansion *x, const struct level *lv, const char *address, unsigned flags);

/* ---- bookkeeping ---- */

static int
seen(struct expansion *x, const char *kind, const char *key)
{
	struct str k = STR_INIT;

	str_printf(&k, "%s:%s", kind, key);
	for (char *p = k.data; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	for (size_t i = 0; i < x->nseen; i++)
		if (strcmp(x->seen[i], k.data) == 0) {
			str_free(&k);
			return 1;
		}
	if (x->nseen < SEEN_MAX) {
		x->seen = xreallocarray(x->seen, x->nseen + 1, sizeof(char *));
		x->seen[x->nseen++] = str_steal(&k);
	}
	str_free(&k);
	return 0;
}

static void
keep_first(struct local_result *first, size_t count, const struct local_result *res)
{
	if (count != 1)
		return;
	first->status = res->status;
	memcpy(first->dsn, res->dsn, sizeof(first->dsn));
	str_set(&first->reason, res->reason.data, res->reason.len);
}

/* Count one target's result; log it when it is not the recipient itself. */
static void
record(struct expansion *x, const char *target, struct local_result *res)
{
	if (res->status == LOCAL_SENT)
		keep_first(&x->first_sent, ++x->sent, res);
	else if (res->status == LOCAL_DEFER)
		keep_first(&x->first_defer, ++x->deferred, res);
	else
		keep_first(&x->first_bounce, ++x->bounced, res);
	if (target != NULL)
		msg_info("%s: orig_to=<%s>, member=%s, dsn=%s, status=%s (%s)", x->m->queue_id,
		        x->r->address, target, res->dsn, local_status_name(res->status),
		        str_cstr(&res->reason));
}

static void
record_text(struct expansion *x, const struct level *lv, enum local_status st, const char *dsn,
        const char *reason)
{
	struct local_result res;
	struct str target = STR_INIT;

	local_result_init(&res);
	local_result_set(&res, st, dsn, "%s", reason);
	if (lv->depth > 0)
		str_printf(&target, "<%s>", lv->address);
	record(x, lv->depth > 0 ? target.data : NULL, &res);
	local_result_free(&res);
	str_free(&target);
}

static const char *
domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at ? at + 1 : "";
}

/* Is address being expanded above lv (lv itself not counted)? */
static int
is_ancestor(const struct level *lv, const char *address)
{
	for (lv = lv->parent; lv != NULL; lv = lv->parent)
		if (strcasecmp(lv->address, address) == 0)
			return 1;
	return 0;
}

/* The local part without its extension (recipient_delimiter). */
static char *
base_of(const char *local)
{
	const char *delims = local_cfg.recipient_delimiter;
	size_t n = *delims && local[0] && !strchr(delims, local[0]) ? strcspn(local, delims)
	                                                            : strlen(local);

	return xstrndup(local, n);
}

static void
lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Lookups by address, base address, "@domain": 1, 0, -1 (err). */
static int
lookup_address(struct local_maps *maps, const char *address, struct str *value, struct str *err)
{
	const char *at = strrchr(address, '@');
	char *local = xstrndup(address, at ? (size_t)(at - address) : strlen(address));
	char *base = base_of(local);
	struct str key = STR_INIT;
	int rc = local_maps_lookup(maps, address, value, err);

	if (rc == 0 && strcmp(base, local) != 0) {
		str_printf(&key, "%s@%s", base, domain_of(address));
		rc = local_maps_lookup(maps, key.data, value, err);
	}
	if (rc == 0) {
		str_reset(&key);
		str_printf(&key, "@%s", domain_of(address));
		rc = local_maps_lookup(maps, key.data, value, err);
	}
	free(local);
	free(base);
	str_free(&key);
	return rc;
}

/* A size from a map or the default; -1 with res on an error. */
static long long
size_limit(struct local_maps *maps, const char *key, int by_address, long long def,
        struct local_result *res)
{
	struct str value = STR_INIT, err = STR_INIT;
	const char *why;
	long long bytes = def;
	int rc = by_address ? lookup_address(maps, key, &value, &err)
	                    : local_maps_lookup(maps, key, &value, &err);

	if (rc < 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0", "quota lookup: %s", str_cstr(&err));
		bytes = -1;
	} else if (rc == 1 && parse_size(str_cstr(&value), &bytes, &why) < 0) {
		msg_warn("quota of %s: \"%s\": %s", key, str_cstr(&value), why);
		local_result_set(
		        res, LOCAL_DEFER, "4.3.5", "bad quota for %s in a size limit map", key);
		bytes = -1;
	}
	str_free(&value);
	str_free(&err);
	return bytes;
}

/* ---- mailboxes ---- */

static void
deliver_mailbox(
        struct expansion *x, const struct level *lv, const char *address, struct local_mailbox *mb)
{
	struct local_copy c = {lv->sender, address, 0, 0, 0};
	struct local_result res;
	struct str target = STR_INIT;

	if (seen(x, "mailbox", str_cstr(&mb->display)))
		return;
	local_result_init(&res);
	if (mb->kind == LOCAL_MBOX) {
		c.from_line = c.quote_from = c.mbox_end = 1;
		local_mbox_deliver(x->m, mb, &c, &res);
	} else {
		local_maildir_deliver(x->m, x->r, mb, &c, &res);
	}
	if (lv->depth > 0)
		str_printf(&target, "<%s>", address);
	record(x, lv->depth > 0 ? target.data : NULL, &res);
	local_result_free(&res);
	str_free(&target);
}

/* The mailbox of a system account; -1 with res set. */
static int
system_mailbox(const struct local_identity *id, const char *address, struct local_mailbox *mb,
        struct local_result *res)
{
	struct str why = STR_INIT;
	int rc = 0;

	mb->owner = local_identity_copy(id);
	if (local_cfg.drop_system_mailboxes) {
		mb->kind = LOCAL_MAILDIR;
		mb->base = local_cfg.drop_directory;
		mb->root_creates = 1;
		if (local_path_encode(id->user, strlen(id->user), &why) < 0) {
			local_result_set(
			        res, LOCAL_BOUNCE, "5.1.3", "user name unusable as a path");
			rc = -1;
		} else {
			local_path_push(&mb->path, why.data);
			str_printf(&mb->display, "%s/%s", mb->base, why.data);
		}
	} else if (*local_cfg.home_mailbox) {
		mb->kind = LOCAL_MAILDIR;
		mb->base = id->home;
		if (local_path_parse(local_cfg.home_mailbox, id->home, &mb->path, &why) < 0) {
			local_result_set(
			        res, LOCAL_DEFER, "4.3.5", "home_mailbox: %s", str_cstr(&why));
			rc = -1;
		} else {
			str_printf(&mb->display, "%s/%s", strcmp(id->home, "/") ? id->home : "",
			        local_cfg.home_mailbox);
		}
	} else {
		mb->kind = LOCAL_MBOX;
		mb->base = local_cfg.mail_spool_directory;
		if (strchr(id->user, '/') || strcmp(id->user, ".") == 0 ||
		        strcmp(id->user, "..") == 0 || !*id->user) {
			local_result_set(
			        res, LOCAL_BOUNCE, "5.1.3", "user name unusable as a path");
			rc = -1;
		} else {
			str_printf(&mb->display, "%s/%s", mb->base, id->user);
		}
	}
	if (rc == 0 &&
	        (mb->mailbox_limit = size_limit(&local_cfg.mailbox_size_limit_maps, address, 1,
	                 local_cfg.mailbox_size_limit, res)) < 0)
		rc = -1;
	str_free(&why);
	return rc;
}

/* The uid and gid of a hosted mailbox; -1 with res set. */
static int
hosted_owner(const char *address, struct local_mailbox *mb, struct local_result *res)
{
	struct str value = STR_INIT, err = STR_INIT;
	const char *why = NULL;
	long long uid = -1, gid = -1;
	gid_t pw_gid;
	int rc;

	if (local_cfg.unprivileged) {
		mb->owner = local_identity_copy(local_cfg.self);
		return 0;
	}
	rc = lookup_address(&local_cfg.virtual_uid_maps, address, &value, &err);
	if (rc == 1 && parse_int(str_cstr(&value), 0, LOCAL_ID_MAX, &uid, &why) < 0)
		rc = -2;
	if (rc == 1) {
		str_reset(&value);
		rc = lookup_address(&local_cfg.virtual_gid_maps, address, &value, &err);
		if (rc == 1 && parse_int(str_cstr(&value), 0, LOCAL_ID_MAX, &gid, &why) < 0)
			rc = -2;
		else if (rc == 0 && local_identity_group((uid_t)uid, &pw_gid) == 0)
			gid = (long long)pw_gid;
		else if (rc == 0)
			rc = -3;
	} else if (rc == 0) {
		rc = -4;
	}
	if (rc == -1)
		local_result_set(
		        res, LOCAL_DEFER, "4.3.0", "uid or gid lookup: %s", str_cstr(&err));
	else if (rc == -2)
		local_result_set(res, LOCAL_DEFER, "4.3.5", "bad uid or gid \"%s\" for %s: %s",
		        str_cstr(&value), address, why);
	else if (rc == -3)
		local_result_set(
		        res, LOCAL_DEFER, "4.3.5", "no gid for %s in virtual_gid_maps", address);
	else if (rc == -4)
		local_result_set(
		        res, LOCAL_DEFER, "4.3.5", "no uid for %s in virtual_uid_maps", address);
	else if (uid < local_cfg.virtual_minimum_uid)
		local_result_set(res, LOCAL_DEFER, "4.3.5",
		        "uid %lld of %s is below virtual_minimum_uid", uid, address);
	else
		mb->owner = local_identity_uid((uid_t)uid, (gid_t)gid);
	if (mb->owner == NULL)
		msg_warn("hosted mailbox of %s: %s", address, str_cstr(&res->reason));
	str_free(&value);
	str_free(&err);
	return mb->owner ? 0 : -1;
}

/* The mailbox of a hosted address: 1 built, 0 none, -1 res set. */
static int
hosted_mailbox(const char *address, struct local_mailbox *mb, struct local_result *res)
{
	const char *at = strrchr(address, '@'), *domain = domain_of(address);
	char *local = xstrndup(address, at ? (size_t)(at - address) : strlen(address));
	char *base = base_of(local);
	struct str value = STR_INIT, err = STR_INIT, enc = STR_INIT;
	int rc = 1;

	mb->kind = LOCAL_MAILDIR;
	mb->base = local_cfg.drop_directory;
	mb->root_creates = 1;
	if (local_path_encode(domain, strlen(domain), &enc) < 0) {
		local_result_set(res, LOCAL_BOUNCE, "5.1.2", "domain unusable as a path");
		rc = -1;
		goto done;
	}
	str_printf(&mb->domain_dir, "%s/%s", mb->base, enc.data);
	if (local_cfg.virtual_mailbox_maps.n > 0) {
		rc = lookup_address(&local_cfg.virtual_mailbox_maps, address, &value, &err);
		if (rc < 0) {
			local_result_set(
			        res, LOCAL_DEFER, "4.3.0", "mailbox lookup: %s", str_cstr(&err));
		} else if (rc == 1 &&
		        local_path_parse(str_cstr(&value), mb->base, &mb->path, &err) < 0) {
			msg_warn("virtual_mailbox_maps: %s: %s", address, str_cstr(&err));
			local_result_set(res, LOCAL_DEFER, "4.3.5", "%s", str_cstr(&err));
			rc = -1;
		}
	} else {
		local_path_push(&mb->path, enc.data);
		str_reset(&enc);
		if (local_path_encode(base, strlen(base), &enc) < 0) {
			local_result_set(res, LOCAL_BOUNCE, "5.1.3",
			        "local part unusable as a mailbox name");
			rc = -1;
		} else {
			local_path_push(&mb->path, enc.data);
		}
	}
	if (rc != 1)
		goto done;
	str_appendz(&mb->display, mb->base);
	for (size_t i = 0; i < mb->path.n; i++)
		str_printf(&mb->display, "/%s", mb->path.v[i]);
	if (hosted_owner(address, mb, res) < 0 ||
	        (mb->mailbox_limit = size_limit(&local_cfg.mailbox_size_limit_maps, address, 1,
	                 local_cfg.mailbox_size_limit, res)) < 0 ||
	        (mb->domain_limit = size_limit(&local_cfg.domain_size_limit_maps, domain, 0,
	                 local_cfg.domain_size_limit, res)) < 0)
		rc = -1;
done:
	free(local);
	free(base);
	str_free(&value);
	str_free(&err);
	str_free(&enc);
	return rc;
}

/* ---- targets of items ---- */

static void
add_forward(struct expansion *x, const struct level *lv, const char *address)
{
	struct forward_group *g = NULL;

	if (seen(x, "forward", address))
		return;
	for (size_t i = 0; i < x->nfwd && g == NULL; i++)
		if (strcmp(x->fwd[i].sender, lv->sender) == 0 &&
		        strcmp(x->fwd[i].delivered_to, lv->address) == 0)
			g = &x->fwd[i];
	if (g == NULL) {
		x->fwd = xreallocarray(x->fwd, x->nfwd + 1, sizeof(*x->fwd));
		g = &x->fwd[x->nfwd++];
		g->sender = xstrdup(lv->sender);
		g->delivered_to = xstrdup(lv->address);
		g->addresses = NULL;
		g->n = 0;
	}
	g->addresses = xreallocarray(g->addresses, g->n + 1, sizeof(char *));
	g->addresses[g->n++] = xstrdup(address);
}

static void
command_target(struct expansion *x, const struct level *lv, const char *command)
{
	struct local_copy c = {lv->sender, lv->address, 1, 0, 0};
	const char *orcpt = strchr(x->r->orcpt, ';');
	struct local_command_env e = {lv->sender, lv->address, orcpt ? orcpt + 1 : x->r->address};
	struct local_result res;
	struct str key = STR_INIT, target = STR_INIT;

	str_printf(&key, "%lu:%s", (unsigned long)lv->privs->uid, command);
	if (seen(x, "command", key.data)) {
		str_free(&key);
		return;
	}
	local_result_init(&res);
	if (!(local_cfg.allow_commands & lv->source))
		local_result_set(&res, LOCAL_BOUNCE, "5.7.1", "mail to command is restricted");
	else
		local_command_deliver(x->m, command, lv->privs, &e, &c, &res);
	str_appendz(&target, "\"|");
	local_text_sanitize(&target, command, strlen(command), LOCAL_REASON_SHOWN);
	str_appendc(&target, '"');
	record(x, target.data, &res);
	local_result_free(&res);
	str_free(&key);
	str_free(&target);
}

/* "/dir/": a maildir, written with the item's privileges; the last
 * component is created when missing. */
static void
maildir_target(
        struct expansion *x, const struct level *lv, const char *path, struct local_result *res)
{
	struct local_copy c = {lv->sender, lv->address, 0, 0, 0};
	struct local_mailbox mb;
	char *dir = xstrdup(path), *slash;
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';
	slash = strrchr(dir, '/');
	local_mailbox_init(&mb);
	mb.kind = LOCAL_MAILDIR;
	mb.owner = local_identity_copy(lv->privs);
	str_setz(&mb.display, dir);
	if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 ||
	        strcmp(slash + 1, "..") == 0) {
		local_result_set(res, LOCAL_BOUNCE, "5.3.5", "bad maildir path %s", path);
	} else {
		local_path_push(&mb.path, slash + 1);
		*slash = '\0';
		mb.base = slash == dir ? "/" : dir;
		local_maildir_deliver(x->m, x->r, &mb, &c, res);
	}
	local_mailbox_free(&mb);
	free(dir);
}

static void
file_target(struct expansion *x, const struct level *lv, const char *path)
{
	struct local_copy c = {lv->sender, lv->address, 1, 1, 1};
	struct local_result res;
	struct str target = STR_INIT;
	size_t len = strlen(path);

	if (seen(x, "file", path))
		return;
	local_result_init(&res);
	str_appendc(&target, '"');
	local_text_sanitize(&target, path, len, LOCAL_REASON_SHOWN);
	str_appendc(&target, '"');
	if (!(local_cfg.allow_files & lv->source)) {
		local_result_set(&res, LOCAL_BOUNCE, "5.7.1", "mail to file is restricted");
	} else if (path[len - 1] == '/') {
		maildir_target(x, lv, path, &res);
	} else {
		local_file_deliver(x->m, path, lv->privs, &c, &res);
	}
	record(x, target.data, &res);
	local_result_free(&res);
	str_free(&target);
}

static void expand_items(struct expansion *x, const struct level *lv, const char *text, int lines);

static void
include_target(struct expansion *x, const struct level *lv, const char *path)
{
	struct local_result res;
	struct local_identity *owner = NULL, *file_owner;
	struct level sub;
	struct str text = STR_INIT;
	uid_t uid;
	gid_t gid;

	local_result_init(&res);
	if (path[0] != '/') {
		local_result_set(
		        &res, LOCAL_BOUNCE, "5.3.5", ":include: %s is not an absolute path", path);
		record(x, path, &res);
	} else if (lv->depth + 1 > LOCAL_EXPAND_DEPTH) {
		local_result_set(
		        &res, LOCAL_BOUNCE, "5.4.6", "nesting of :include: %s is too deep", path);
		record(x, path, &res);
	} else if (local_read_file(path, lv->privs, 0, &text, &uid, &gid, &res) < 0) {
		record(x, path, &res);
	} else {
		/* Its commands and files run as its owner (never root). */
		if (lv->privs->switch_ids) {
			file_owner = local_identity_owner(uid, gid);
			owner = local_identity_unroot(file_owner);
			local_identity_free(file_owner);
		} else {
			owner = local_identity_copy(lv->privs);
		}
		sub = *lv;
		sub.parent = lv;
		sub.source = LOCAL_SRC_INCLUDE;
		sub.privs = owner;
		sub.depth = lv->depth + 1;
		expand_items(x, &sub, str_cstr(&text), 1);
	}
	local_identity_free(owner);
	local_result_free(&res);
	str_free(&text);
}

static void
expand_items(struct expansion *x, const struct level *lv, const char *text, int lines)
{
	struct local_items items = {NULL, 0, 0};
	struct str addr = STR_INIT;

	local_items_parse(text, lines, &items);
	if (items.n == 0)
		record_text(x, lv, LOCAL_BOUNCE, "5.3.0", "expansion names no destination");
	for (size_t i = 0; i < items.n; i++) {
		const struct local_item *it = &items.v[i];

		str_reset(&addr);
		switch (it->kind) {
		case LOCAL_ITEM_ADDRESS:
		case LOCAL_ITEM_NOEXPAND:
			str_appendz(&addr, it->text);
			if (strchr(it->text, '@') == NULL)
				str_printf(&addr, "@%s", domain_of(lv->address));
			deliver_address(x, lv, addr.data,
			        it->kind == LOCAL_ITEM_NOEXPAND ? DELIVER_NOEXPAND : 0);
			break;
		case LOCAL_ITEM_COMMAND:
			command_target(x, lv, it->text);
			break;
		case LOCAL_ITEM_FILE:
			file_target(x, lv, it->text);
			break;
		case LOCAL_ITEM_INCLUDE:
			include_target(x, lv, it->text);
			break;
		}
	}
	local_items_free(&items);
	str_free(&addr);
}

/* ---- addresses ---- */

/* alias_maps for key: 1 expanded, 0 no alias, -1 failed (recorded). */
static int
try_alias(struct expansion *x, const struct level *lv, const char *address, const char *key)
{
	struct str value = STR_INIT, err = STR_INIT, owner = STR_INIT, sender = STR_INIT;
	struct local_identity *privs = NULL, *owner_privs = NULL;
	struct level sub;
	int rc;

	rc = local_alias_lookup(key, &value, &privs, &err);
	if (rc < 0) {
		msg_warn("%s: alias lookup of %s: %s", x->m->queue_id, key, str_cstr(&err));
		record_text(x, lv, LOCAL_DEFER, "4.3.0", "alias lookup failed");
	} else if (rc == 1) {
		sub.parent = lv;
		sub.address = address;
		sub.sender = lv->sender;
		sub.source = LOCAL_SRC_ALIAS;
		sub.privs = privs;
		sub.depth = lv->depth + 1;
		str_printf(&owner, "owner-%s", key);
		str_reset(&err);
		if (*lv->sender && local_alias_lookup(owner.data, NULL, &owner_privs, &err) == 1) {
			str_printf(&sender, "%s@%s", owner.data, domain_of(address));
			sub.sender = sender.data;
		}
		expand_items(x, &sub, str_cstr(&value), 0);
	}
	local_identity_free(privs);
	local_identity_free(owner_privs);
	str_free(&value);
	str_free(&err);
	str_free(&owner);
	str_free(&sender);
	return rc;
}

/* The forward_path items for id: "~/" and $home, $user expanded. */
static void
forward_file(const char *item, const struct local_identity *id, struct str *path)
{
	const char *p = item;

	if (p[0] == '~' && p[1] == '/') {
		str_appendz(path, strcmp(id->home, "/") ? id->home : "");
		p++;
	}
	while (*p) {
		if (strncmp(p, "$home", 5) == 0 || strncmp(p, "${home}", 7) == 0) {
			str_appendz(path, id->home);
			p += p[1] == '{' ? 7 : 5;
		} else if (strncmp(p, "$user", 5) == 0 || strncmp(p, "${user}", 7) == 0) {
			str_appendz(path, id->user);
			p += p[1] == '{' ? 7 : 5;
		} else {
			str_appendc(path, *p++);
		}
	}
}

/* The user's .forward: 1 expanded, 0 none, -1 failed (recorded). */
static int
try_forward(struct expansion *x, const struct level *lv, const char *address,
        const struct local_identity *id)
{
	struct str path = STR_INIT, text = STR_INIT;
	struct local_result res;
	struct level sub;
	uid_t uid;
	gid_t gid;
	int rc = 0;

	if (id->switch_ids && id->uid == 0)
		return 0; /* root's mail is aliased, never forwarded as root */
	local_result_init(&res);
	for (char *const *f = local_cfg.forward_path; *f && rc == 0; f++) {
		struct local_items items = {NULL, 0, 0};

		str_reset(&path);
		forward_file(*f, id, &path);
		rc = local_read_file(path.data, id, 1, &text, &uid, &gid, &res);
		if (rc < 0) {
			record(x, NULL, &res);
			break;
		}
		if (rc == 0)
			continue;
		local_items_parse(str_cstr(&text), 1, &items);
		rc = items.n > 0; /* an empty .forward: the mailbox */
		local_items_free(&items);
		if (rc == 0)
			continue;
		sub.parent = lv;
		sub.address = address;
		sub.sender = lv->sender;
		sub.source = LOCAL_SRC_FORWARD;
		sub.privs = id;
		sub.depth = lv->depth + 1;
		expand_items(x, &sub, text.data, 1);
	}
	local_result_free(&res);
	str_free(&path);
	str_free(&text);
	return rc;
}

static void
deliver_local(struct expansion *x, const struct level *lv, const char *address, unsigned flags)
{
	const char *at = strrchr(address, '@');
	char *local = xstrndup(address, at ? (size_t)(at - address) : strlen(address));
	char *base = base_of(local), *key = xstrdup(local);
	struct local_identity *id = NULL;
	struct local_mailbox mb;
	struct local_result res;
	struct str err = STR_INIT, why = STR_INIT;
	int rc;

	lower(key);
	lower(base);
	local_mailbox_init(&mb);
	local_result_init(&res);
	if (is_ancestor(lv, address))
		flags |= DELIVER_NOEXPAND;
	if (!(flags & DELIVER_NOEXPAND)) {
		if (seen(x, "address", address))
			goto done;
		if ((rc = try_alias(x, lv, address, key)) == 0 && strcmp(base, key) != 0)
			rc = try_alias(x, lv, address, base);
		if (rc != 0)
			goto done;
	}
	rc = local_identity_user(base, &id, &err);
	if (rc < 0) {
		msg_warn("%s: %s", x->m->queue_id, str_cstr(&err));
		record_text(x, lv, LOCAL_DEFER, "4.3.0", "password file lookup failed");
		goto done;
	}
	if (rc == 0) {
		str_printf(&why, "unknown user: \"%s\"", base);
		record_text(x, lv, LOCAL_BOUNCE, "5.1.1", why.data);
		goto done;
	}
	if (!(flags & DELIVER_NOEXPAND) && try_forward(x, lv, address, id) != 0)
		goto done;
	if (system_mailbox(id, address, &mb, &res) < 0) {
		struct str target = STR_INIT;

		str_printf(&target, "<%s>", address);
		record(x, lv->depth > 0 ? target.data : NULL, &res);
		str_free(&target);
		goto done;
	}
	deliver_mailbox(x, lv, address, &mb);
done:
	local_identity_free(id);
	local_mailbox_free(&mb);
	local_result_free(&res);
	free(local);
	free(base);
	free(key);
	str_free(&err);
	str_free(&why);
}

/* A hosted address: 1 delivered (or failed: recorded), 0 no mailbox. */
static int
deliver_hosted(struct expansion *x, const struct level *lv, const char *address)
{
	struct local_mailbox mb;
	struct local_result res;
	int rc;

	local_mailbox_init(&mb);
	local_result_init(&res);
	rc = hosted_mailbox(address, &mb, &res);
	if (rc < 0) {
		struct str target = STR_INIT;

		str_printf(&target, "<%s>", address);
		record(x, lv->depth > 0 ? target.data : NULL, &res);
		str_free(&target);
		rc = 1;
	} else if (rc == 1) {
		deliver_mailbox(x, lv, address, &mb);
	}
	local_mailbox_free(&mb);
	local_result_free(&res);
	return rc;
}

static void
deliver_address(
        struct expansion *x, const struct level *parent, const char *address, unsigned flags)
{
	struct resolve_result rr;
	struct level lv;
	enum resolve_class class = RESOLVE_CLASS_LOCAL;
	struct str why = STR_INIT;
	int top = parent == NULL;

	lv.parent = parent;
	lv.address = address;
	lv.sender = top ? x->m->sender : parent->sender;
	lv.source = top ? 0 : parent->source;
	lv.privs = top ? NULL : parent->privs;
	lv.depth = top ? 0 : parent->depth;
	if (++x->targets > LOCAL_EXPAND_MAX) {
		str_printf(&why, "expansion of <%s> exceeds %d destinations", x->r->address,
		        LOCAL_EXPAND_MAX);
		record_text(x, &lv, LOCAL_BOUNCE, "5.3.0", why.data);
		goto done;
	}
	if (lv.depth > LOCAL_EXPAND_DEPTH) {
		str_printf(&why, "expansion of <%s> is nested deeper than %d levels", address,
		        LOCAL_EXPAND_DEPTH);
		record_text(x, &lv, LOCAL_BOUNCE, "5.4.6", why.data);
		goto done;
	}
	if (local_copy_delivered_to(x->m, address)) {
		str_printf(&why, "mail forwarding loop for %s", address);
		record_text(x, &lv, LOCAL_BOUNCE, "5.4.6", why.data);
		goto done;
	}
	resolve_result_init(&rr);
	switch (resolve_address(local_cfg.resolver, address, NULL, &rr)) {
	case RESOLVE_OK:
		class = rr.class;
		break;
	case RESOLVE_DEFER:
		record_text(x, &lv, LOCAL_DEFER, "4.3.0", "address resolution failed");
		resolve_result_free(&rr);
		goto done;
	default:
		if (!top) {
			str_printf(&why, "bad address syntax: %s", str_cstr(&rr.reason));
			record_text(x, &lv, LOCAL_BOUNCE, "5.1.3", why.data);
			resolve_result_free(&rr);
			goto done;
		}
		break;
	}
	resolve_result_free(&rr);
	if (class == RESOLVE_CLASS_HOSTED) {
		if (deliver_hosted(x, &lv, address) == 0) {
			if (top) {
				str_printf(&why, "unknown user: \"%s\"", address);
				record_text(x, &lv, LOCAL_BOUNCE, "5.1.1", why.data);
			} else {
				add_forward(x, parent, address);
			}
		}
	} else if (class == RESOLVE_CLASS_LOCAL || top) {
		deliver_local(x, &lv, address, flags);
	} else {
		add_forward(x, parent, address);
	}
done:
	str_free(&why);
}

/* ---- the recipient ---- */

static void
send_forwards(struct expansion *x)
{
	for (size_t i = 0; i < x->nfwd; i++) {
		struct forward_group *g = &x->fwd[i];
		struct local_result res;
		struct str target = STR_INIT;

		local_result_init(&res);
		local_forward_send(
		        x->m, x->r, g->sender, g->delivered_to, g->addresses, g->n, &res);
		for (size_t k = 0; k < g->n; k++)
			str_printf(&target, "%s<%s>", k ? "," : "", g->addresses[k]);
		record(x, target.data, &res);
		local_result_free(&res);
		str_free(&target);
	}
}

static void
take(struct local_result *res, const struct local_result *pick)
{
	res->status = pick->status;
	memcpy(res->dsn, pick->dsn, sizeof(res->dsn));
	str_set(&res->reason, pick->reason.data, pick->reason.len);
}

static void
combine(struct expansion *x, struct local_result *res)
{
	if (x->deferred > 0)
		take(res, &x->first_defer);
	else if (x->sent == 1 && x->bounced == 0)
		take(res, &x->first_sent);
	else if (x->sent > 0 && x->bounced == 0)
		local_result_set(
		        res, LOCAL_SENT, "2.0.0", "delivered to %zu destinations", x->sent);
	else if (x->sent > 0)
		local_result_set(res, LOCAL_SENT, "2.0.0",
		        "delivered to %zu destinations; %zu failed for good, first: %s", x->sent,
		        x->bounced, str_cstr(&x->first_bounce.reason));
	else if (x->bounced > 0)
		take(res, &x->first_bounce);
	else
		local_result_set(res, LOCAL_BOUNCE, "5.3.0", "expansion names no destination");
}

void
local_deliver_rcpt(struct local_message *m, const struct local_rcpt *r, struct local_result *res)
{
	struct expansion x;

	memset(&x, 0, sizeof(x));
	x.m = m;
	x.r = r;
	local_result_init(&x.first_sent);
	local_result_init(&x.first_defer);
	local_result_init(&x.first_bounce);
	deliver_address(&x, NULL, r->address, 0);
	send_forwards(&x);
	combine(&x, res);
	for (size_t i = 0; i < x.nseen; i++)
		free(x.seen[i]);
	free(x.seen);
	for (size_t i = 0; i < x.nfwd; i++) {
		free(x.fwd[i].sender);
		free(x.fwd[i].delivered_to);
		for (size_t k = 0; k < x.fwd[i].n; k++)
			free(x.fwd[i].addresses[k]);
		free(x.fwd[i].addresses);
	}
	free(x.fwd);
	local_result_free(&x.first_sent);
	local_result_free(&x.first_defer);
	local_result_free(&x.first_bounce);
}
