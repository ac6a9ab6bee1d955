/*
 * smtp.c - the SMTP client daemon: takes one delivery request from qmgr
 * (docs/delivery-protocol.md, lib/deliver.h), delivers the message to
 * the request's next hop (smtp_deliver.c), and answers one frame per
 * recipient as its result becomes final, then a final frame.
 *
 * master.cf: "smtp unix - - - - - smtp" (chrooted, unprivileged).
 * DAEMON_SINGLE: one request per connection, one connection at a time;
 * master starts more processes up to maxproc.  Between requests the
 * process keeps its SMTP connections for reuse (smtp_cache.c).
 *
 * Before the jail (pre_jail) it reads every parameter, opens
 * smtp_tls_policy_maps, smtp_generic_maps and the HELO-only tables,
 * makes the TLS contexts and the DNS resolver (dns_servers, else
 * /etc/resolv.conf and /etc/hosts), and learns this host's addresses.
 *
 * Trusts main.cf.  Trusts nothing in the request: it is decoded by
 * lib/deliver.c, and every recipient is checked against the queue file
 * (same address, still pending) before anything is sent; the queue file
 * is validated by lib/queue_file.c.  Does not log to= lines (qmgr does,
 * from the answers); logs its own diagnostics keyed by the queue ID.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attr.h"
#include "config.h"
#include "daemon.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "smtp.h"
#include "table.h"

#define SMTP_HELO_TABLE_MAX 16 /* tables in smtp_helo_only_destinations */

struct smtp_conf smtp_conf;

static long long ipc_ms;
static int client_fd = -1;
static struct table *helo_tables[SMTP_HELO_TABLE_MAX];

double
smtp_seconds_since(long long start_ms)
{
	return (double)(clock_ms() - start_ms) / 1000.0;
}

int
smtp_str_has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* ---- answers to qmgr ---- */

static long long
to_ms(double sec)
{
	long long ms = (long long)(sec * 1000.0 + 0.5);

	if (ms < 0)
		return 0;
	return ms > DELIVER_DELAY_MAX ? DELIVER_DELAY_MAX : ms;
}

static void
send_result(struct smtp_delivery *d, size_t index, enum deliver_status st, const char *dsn,
        const char *reason, const char *relay, const struct smtp_rcpt *r)
{
	struct deliver_result res;
	struct str err = STR_INIT;
	int cls = st == DELIVER_SENT ? '2' : st == DELIVER_DEFERRED ? '4' : '5';

	if (d->aborted)
		return;
	deliver_result_init(&res);
	res.index = index;
	res.status = st;
	if (deliver_dsn_valid(dsn, cls))
		snprintf(res.dsn, sizeof(res.dsn), "%s", dsn);
	else
		snprintf(res.dsn, sizeof(res.dsn), "%c.0.0", cls);
	deliver_clean_text(&res.reason, reason, DELIVER_REASON_MAX);
	deliver_clean_text(&res.relay, relay && relay[0] ? relay : "none", DELIVER_RELAY_MAX);
	if (r) {
		res.delay_conn_ms = to_ms(r->conn_sec);
		res.delay_xmit_ms = to_ms(r->xfer_sec);
		res.conn_use = r->conn_use;
		res.dsn_relayed = r->relayed && st == DELIVER_SENT;
		res.dsn_passed = !r->relayed && st == DELIVER_SENT &&
		        (r->notify & QUEUE_NOTIFY_SUCCESS) != 0;
	}
	if (deliver_send_result(client_fd, &res, (int)ipc_ms, &err) < 0) {
		msg_warn("%s: cannot answer qmgr: %s; stopping this delivery", d->queue_id,
		        str_cstr(&err));
		d->aborted = 1;
	}
	deliver_result_free(&res);
	str_free(&err);
}

static void
report(struct smtp_delivery *d, struct smtp_rcpt *r)
{
	enum deliver_status st = r->status == SMTP_RCPT_SENT ? DELIVER_SENT
	        : r->status == SMTP_RCPT_BOUNCED             ? DELIVER_BOUNCED
	                                                     : DELIVER_DEFERRED;

	msg_debug("%s: to=<%s> relay=%s conn_use=%d status=%s dsn=%s (%s)", d->queue_id, r->address,
	        str_cstr(&r->relay), r->conn_use, deliver_status_name(st), r->dsn,
	        str_cstr(&r->reason));
	send_result(d, r->index, st, r->dsn, str_cstr(&r->reason), str_cstr(&r->relay), r);
}

static void
send_done(enum deliver_done_status st, const char *dsn, const char *reason, const char *relay)
{
	struct deliver_done done;
	struct str err = STR_INIT;

	deliver_done_init(&done);
	done.status = st;
	if (st == DELIVER_DONE_DEFER)
		snprintf(done.dsn, sizeof(done.dsn), "%s",
		        deliver_dsn_valid(dsn, '4') ? dsn : "4.0.0");
	deliver_clean_text(&done.reason, reason ? reason : "", DELIVER_REASON_MAX);
	deliver_clean_text(&done.relay, relay ? relay : "", DELIVER_RELAY_MAX);
	if (deliver_send_done(client_fd, &done, (int)ipc_ms, &err) < 0)
		msg_warn("cannot send the final answer to qmgr: %s", str_cstr(&err));
	deliver_done_free(&done);
	str_free(&err);
}

/* ---- one request ---- */

/* Every recipient still unanswered: deferred with dsn and reason. */
static void
defer_all(struct smtp_delivery *d, const char *dsn, const char *reason)
{
	for (size_t i = 0; i < d->nrcpt; i++) {
		struct smtp_rcpt *r = &d->rcpt[i];

		if (r->reported)
			continue;
		r->reported = 1;
		send_result(d, r->index, DELIVER_DEFERRED, dsn, reason, "none", NULL);
	}
}

/* The first pass over the text: what it holds, and whether the header
 * rewriting works.  0, or -1 with the reason in err. */
static int
scan_message(struct smtp_delivery *d, struct str *err)
{
	struct smtp_mime *m = smtp_mime_new(
	        &d->scan, SMTP_MIME_SCAN, smtp_rewrite_active() ? smtp_rewrite_header : NULL);
	char *buf = xmalloc(SMTP_CONTENT_BLOCK);
	struct str scratch = STR_INIT;
	ssize_t n;
	int rc = 0;

	queue_file_rewind(d->qf);
	while ((n = queue_file_read_content(d->qf, buf, SMTP_CONTENT_BLOCK, err)) > 0) {
		str_reset(&scratch);
		smtp_mime_feed(m, buf, (size_t)n, &scratch);
	}
	if (n < 0) {
		rc = -1;
	} else {
		str_reset(&scratch);
		smtp_mime_end(m, &scratch);
		if (smtp_mime_hook_failed(m)) {
			str_appendz(err, "smtp_generic_maps lookup failed");
			rc = -1;
		}
	}
	smtp_mime_free(m);
	str_free(&scratch);
	free(buf);
	return rc;
}

static void
delivery_free(struct smtp_delivery *d)
{
	for (size_t i = 0; i < d->nrcpt; i++) {
		struct smtp_rcpt *r = &d->rcpt[i];

		free(r->address);
		free(r->wire);
		free(r->orcpt_type);
		free(r->orcpt);
		str_free(&r->reason);
		str_free(&r->relay);
	}
	free(d->rcpt);
	str_free(&d->sender);
	str_free(&d->fail_reason);
	str_free(&d->fail_relay);
	smtp_mime_scan_free(&d->scan);
	if (d->qf)
		queue_file_close(d->qf);
}

/* Take the request's recipients that agree with the queue file. */
static void
take_recipients(struct smtp_delivery *d, const struct deliver_request *dr)
{
	size_t count = queue_file_rcpt_count(d->qf);

	d->rcpt = xcalloc(dr->nrcpt ? dr->nrcpt : 1, sizeof(*d->rcpt));
	for (size_t i = 0; i < dr->nrcpt; i++) {
		const struct deliver_rcpt *in = &dr->rcpts[i];
		const struct queue_rcpt *q =
		        in->index < count ? queue_file_rcpt(d->qf, in->index) : NULL;
		struct smtp_rcpt *r;

		if (q == NULL || strcmp(q->address, in->address) != 0 ||
		        q->state != QUEUE_RCPT_PENDING) {
			msg_warn("%s: recipient %zu <%s>: queue file and request disagree",
			        d->queue_id, in->index, in->address);
			send_result(d, in->index, DELIVER_DEFERRED, "4.3.0",
			        "queue file and request disagree", "none", NULL);
			continue;
		}
		r = &d->rcpt[d->nrcpt++];
		r->index = in->index;
		r->address = xstrdup(in->address);
		r->orcpt_type = xstrdup(in->orcpt_type);
		r->orcpt = xstrdup(in->orcpt_address);
		r->notify = in->notify;
	}
}

/* Envelope addresses through smtp_generic_maps and masquerade_domain. */
static int
rewrite_envelope(struct smtp_delivery *d, const char *sender)
{
	struct str tmp = STR_INIT;
	int rc = 0;

	if (smtp_rewrite_sender(sender, &d->sender) < 0)
		rc = -1;
	for (size_t i = 0; i < d->nrcpt && rc == 0; i++) {
		if (smtp_rewrite_address(d->rcpt[i].address, &tmp) < 0)
			rc = -1;
		d->rcpt[i].wire = xstrdup(str_cstr(&tmp));
	}
	for (size_t i = 0; i < d->nrcpt; i++)
		if (d->rcpt[i].wire == NULL)
			d->rcpt[i].wire = xstrdup(d->rcpt[i].address);
	str_free(&tmp);
	return rc;
}

static void
deliver_request(const struct deliver_request *dr)
{
	struct smtp_delivery d;
	struct str err = STR_INIT;

	memset(&d, 0, sizeof(d));
	d.queue_id = dr->queue_id;
	d.nexthop = dr->nexthop;
	d.report = report;
	if (queue_file_open(dr->queue_file, QUEUE_OPEN_READ, &d.qf, &err) != QUEUE_OK) {
		msg_warn("%s: cannot open the queue file %s: %s", dr->queue_id, dr->queue_file,
		        str_cstr(&err));
		for (size_t i = 0; i < dr->nrcpt; i++)
			send_result(&d, dr->rcpts[i].index, DELIVER_DEFERRED, "4.3.0",
			        "cannot read the queue file", "none", NULL);
		send_done(DELIVER_DONE_OK, "", "", "");
		goto out;
	}
	d.env = queue_file_envelope(d.qf);
	take_recipients(&d, dr);
	if (d.nrcpt == 0) {
		send_done(DELIVER_DONE_OK, "", "", "");
		goto out;
	}
	if (rewrite_envelope(&d, dr->sender) < 0) {
		defer_all(&d, "4.3.0", "smtp_generic_maps lookup failed");
		send_done(DELIVER_DONE_OK, "", "", "");
		goto out;
	}
	if (scan_message(&d, &err) < 0) {
		msg_warn("%s: %s", d.queue_id, str_cstr(&err));
		defer_all(&d, "4.3.0", str_cstr(&err));
		send_done(DELIVER_DONE_OK, "", "", "");
		goto out;
	}
	d.need_smtputf8 = (d.env->flags & QUEUE_FLAG_SMTPUTF8) ||
	        (dr->flags & DELIVER_FLAG_SMTPUTF8) || smtp_str_has_8bit(str_cstr(&d.sender));
	for (size_t i = 0; i < d.nrcpt; i++)
		if (smtp_str_has_8bit(d.rcpt[i].wire))
			d.need_smtputf8 = 1;
	d.body_8bitmime = (d.env->flags & QUEUE_FLAG_8BITMIME) ||
	        (dr->flags & DELIVER_FLAG_8BITMIME) || d.scan.body_8bit;

	smtp_deliver(&d);

	if (d.dest_failed)
		send_done(DELIVER_DONE_DEFER, d.fail_dsn, str_cstr(&d.fail_reason),
		        str_cstr(&d.fail_relay));
	else
		send_done(DELIVER_DONE_OK, "", "", "");
out:
	delivery_free(&d);
	str_free(&err);
}

static void
serve(int fd)
{
	struct attr_list req;
	struct deliver_request dr;
	struct str err = STR_INIT;
	const char *proto;
	int rc;

	client_fd = fd;
	attr_list_init(&req);
	deliver_request_init(&dr);
	if ((rc = attr_recv(fd, &req, DELIVER_REQUEST_MAX, (int)ipc_ms, &err)) != 0) {
		if (rc < 0)
			msg_warn("reading the delivery request: %s", str_cstr(&err));
		goto out;
	}
	proto = attr_get_str(&req, "protocol");
	if (proto && strcmp(proto, "1") != 0) {
		str_printf(&err, "unsupported delivery protocol version %.20s", proto);
		msg_warn("%s", str_cstr(&err));
		send_done(DELIVER_DONE_DEFER, "4.3.5", str_cstr(&err), "");
		goto out;
	}
	if (deliver_request_decode(&req, &dr, &err) < 0) {
		msg_warn("malformed delivery request: %s", str_cstr(&err));
		send_done(DELIVER_DONE_DEFER, "4.3.5", "malformed delivery request", "");
		goto out;
	}
	deliver_request(&dr);
	smtp_cache_retire();
	smtp_cache_expire();
out:
	client_fd = -1;
	attr_list_free(&req);
	deliver_request_free(&dr);
	str_free(&err);
}

/* ---- configuration ---- */

static void
read_params(void)
{
	char *const *protocols = config_list(cfg, "inet_protocols");
	const char *b4 = config_str(cfg, "smtp_bind_address");
	const char *b6 = config_str(cfg, "smtp_bind_address6");
	struct smtp_conf *p = &smtp_conf;
	struct str err = STR_INIT;

	p->helo_name = config_str(cfg, "smtp_helo_name");
	p->myhostname = config_str(cfg, "myhostname");
	p->port = (int)config_int(cfg, "smtp_tcp_port");
	p->connect_ms = config_time(cfg, "smtp_connect_timeout") * 1000;
	p->helo_ms = config_time(cfg, "smtp_helo_timeout") * 1000;
	p->mail_ms = config_time(cfg, "smtp_mail_timeout") * 1000;
	p->rcpt_ms = config_time(cfg, "smtp_rcpt_timeout") * 1000;
	p->data_init_ms = config_time(cfg, "smtp_data_init_timeout") * 1000;
	p->data_xfer_ms = config_time(cfg, "smtp_data_xfer_timeout") * 1000;
	p->data_done_ms = config_time(cfg, "smtp_data_done_timeout") * 1000;
	p->quit_ms = config_time(cfg, "smtp_quit_timeout") * 1000;
	p->rset_ms = config_time(cfg, "smtp_rset_timeout") * 1000;
	p->cache_ms = config_time(cfg, "smtp_connection_cache_time") * 1000;
	p->messages_per_connection = config_int(cfg, "smtp_messages_per_connection");
	p->rcpts_per_transaction = config_int(cfg, "smtp_recipients_per_transaction");
	p->mx_address_limit = config_int(cfg, "smtp_mx_address_limit");
	p->fallback_relay = config_list(cfg, "smtp_fallback_relay");
	p->helo_only = config_list(cfg, "smtp_helo_only_destinations");
	for (size_t i = 0; protocols[i]; i++) {
		if (strcmp(protocols[i], "all") == 0)
			p->use_ipv4 = p->use_ipv6 = 1;
		else if (strcmp(protocols[i], "ipv4") == 0)
			p->use_ipv4 = 1;
		else if (strcmp(protocols[i], "ipv6") == 0)
			p->use_ipv6 = 1;
	}
	if (!p->use_ipv4 && !p->use_ipv6)
		p->use_ipv4 = p->use_ipv6 = 1;
	if (b4[0] != '\0') {
		if (inet_pton(AF_INET, b4, &p->bind4) != 1)
			msg_fatal("smtp_bind_address: bad address \"%s\"", b4);
		p->bind4_set = 1;
	}
	if (b6[0] != '\0') {
		if (inet_pton(AF_INET6, b6, &p->bind6) != 1)
			msg_fatal("smtp_bind_address6: bad address \"%s\"", b6);
		p->bind6_set = 1;
	}
	for (size_t i = 0; p->helo_only[i]; i++) {
		struct table *t;

		if (strchr(p->helo_only[i], ':') == NULL)
			continue;
		if (p->helo_only_ntables >= SMTP_HELO_TABLE_MAX)
			msg_fatal("smtp_helo_only_destinations: more than %d tables",
			        SMTP_HELO_TABLE_MAX);
		if ((t = table_open(p->helo_only[i], TABLE_READ, &err)) == NULL)
			msg_fatal("smtp_helo_only_destinations: %s", str_cstr(&err));
		helo_tables[p->helo_only_ntables++] = t;
		daemon_watch_table(t);
	}
	p->helo_only_tables = helo_tables;
	ipc_ms = config_time(cfg, "ipc_timeout") * 1000;
	str_free(&err);
}

static void
pre_jail(int argc, char **argv)
{
	struct str err = STR_INIT;

	(void)argc;
	(void)argv;
	read_params();
	if (smtp_dns_init(cfg, &err) < 0)
		msg_fatal("DNS: %s", str_cstr(&err));
	if (smtp_tls_init(cfg, &err) < 0)
		msg_fatal("TLS: %s", str_cstr(&err));
	if (smtp_rewrite_init(cfg, &err) < 0)
		msg_fatal("%s", str_cstr(&err));
	str_free(&err);
}

static void
post_jail(void)
{
	atexit(smtp_cache_close_all);
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
	        .model = DAEMON_SINGLE,
	        .pre_jail = pre_jail,
	        .post_jail = post_jail,
	        .serve = serve,
	};
	int status = daemon_main(argc, argv, &ops);

	smtp_cache_close_all();
	smtp_rewrite_free();
	smtp_tls_free();
	smtp_dns_free();
	for (size_t i = 0; i < smtp_conf.helo_only_ntables; i++)
		table_close(helo_tables[i]);
	return status;
}
