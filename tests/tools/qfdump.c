/*
 * qfdump.c - print a queue file through lib's reader, for the system
 * tests: the envelope as "name=value" lines, one "rcpt=" line per
 * recipient, an empty line, then the message text exactly as stored.
 *
 *	qfdump [-e | -c] FILE
 *
 *	-e	the envelope only
 *	-c	the message text only
 *
 * Exits 0 for a valid file, 2 when the reader refuses it (the reason on
 * standard error), 1 for other errors.  Trusts nothing in the file: it is
 * read by queue_file_open, which checks every record.  A test tool,
 * never installed.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "queue_file.h"
#include "str.h"

#define QFDUMP_BUFFER 65536

static void
envelope(struct queue_file *qf)
{
	const struct queue_envelope *e = queue_file_envelope(qf);

	printf("arrival=%lld\n", e->arrival_usec);
	printf("sender=%s\n", e->sender);
	printf("envid=%s\n", e->envid);
	printf("ret=%d\n", (int)e->ret);
	printf("flags=%u\n", e->flags);
	printf("uid=%lld\n", e->uid);
	printf("helo=%s\n", e->helo);
	printf("client_name=%s\n", e->client_name);
	printf("client_addr=%s\n", e->client_addr);
	printf("client_port=%d\n", e->client_port);
	printf("protocol=%s\n", e->protocol);
	printf("tls_cipher=%s\n", e->tls_cipher);
	printf("auth_login=%s\n", e->auth_login);
	for (size_t i = 0; i < queue_file_rcpt_count(qf); i++) {
		const struct queue_rcpt *r = queue_file_rcpt(qf, i);

		printf("rcpt=%s\tnotify=%u\torcpt=%s%s%s\tstate=%d\n", r->address, r->notify,
		        r->orcpt_type, *r->orcpt_type ? ";" : "", r->orcpt_addr, (int)r->state);
	}
	printf("content_size=%llu\n", queue_file_content_size(qf));
}

static int
content(struct queue_file *qf)
{
	char buf[QFDUMP_BUFFER];
	struct str err = STR_INIT;
	ssize_t n;

	fflush(stdout);
	while ((n = queue_file_read_content(qf, buf, sizeof(buf), &err)) > 0)
		if (write(1, buf, (size_t)n) != n)
			msg_fatal("write: %m");
	if (n < 0) {
		fprintf(stderr, "qfdump: %s\n", str_cstr(&err));
		str_free(&err);
		return n == QUEUE_CORRUPT ? 2 : 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct queue_file *qf;
	struct str err = STR_INIT;
	int ch, env_only = 0, text_only = 0, rc;

	msg_init("qfdump");
	msg_to_stderr(1);
	msg_stderr_plain(1);
	while ((ch = getopt(argc, argv, "ec")) != -1) {
		if (ch == 'e')
			env_only = 1;
		else if (ch == 'c')
			text_only = 1;
		else
			optind = argc + 1;
	}
	if (optind != argc - 1 || (env_only && text_only)) {
		fprintf(stderr, "usage: qfdump [-e | -c] file\n");
		return 1;
	}
	rc = queue_file_open(argv[optind], QUEUE_OPEN_READ, &qf, &err);
	if (rc != QUEUE_OK) {
		fprintf(stderr, "qfdump: %s\n", str_cstr(&err));
		str_free(&err);
		return rc == QUEUE_CORRUPT ? 2 : 1;
	}
	if (!text_only)
		envelope(qf);
	if (!env_only && !text_only)
		printf("\n");
	rc = env_only ? 0 : content(qf);
	queue_file_close(qf);
	str_free(&err);
	return rc;
}
