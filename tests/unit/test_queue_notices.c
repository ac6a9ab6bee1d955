/*
 * test_queue_notices.c - the queue file's facts for notifications: the
 * NOTICES record (the delay notice is sent once per message) and the
 * RELAYED done mark, written by the writer, updated in place, read back
 * after a reopen, and refused where the format says so.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_file.h"
#include "queue_record.h"

static char qdir[] = "/tmp/tern-queue-notices-XXXXXX";
static char path[sizeof(qdir) + QUEUE_ID_SIZE + 8];

static void
setup(void)
{
	cr_assert_not_null(mkdtemp(qdir));
}

static void
teardown(void)
{
	queue_file_fault_hook = NULL;
	unlink(path);
	rmdir(qdir);
}

TestSuite(queue_notices, .init = setup, .fini = teardown);

static void
write_file(void)
{
	struct queue_writer *w;
	struct str err = STR_INIT;
	char id[QUEUE_ID_SIZE];

	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK, "%s", str_cstr(&err));
	cr_assert_eq(queue_file_put_sender(w, "a@example.org"), QUEUE_OK);
	cr_assert_eq(queue_file_put_rcpt(w, "b@example.net", NULL, NULL, QUEUE_NOTIFY_SUCCESS),
	        QUEUE_OK);
	cr_assert_eq(queue_file_put_rcpt(w, "c@example.net", NULL, NULL, 0), QUEUE_OK);
	cr_assert_eq(queue_file_put_content(w, "Subject: x\n\nhi\n", 15), QUEUE_OK);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK, "%s", str_cstr(&err));
	snprintf(path, sizeof(path), "%s/%s", qdir, id);
	str_free(&err);
}

static struct queue_file *
open_file(int mode)
{
	struct queue_file *qf;
	struct str err = STR_INIT;

	cr_assert_eq(queue_file_open(path, mode, &qf, &err), QUEUE_OK, "%s", str_cstr(&err));
	str_free(&err);
	return qf;
}

static int
fail_update(enum queue_step step, const char *name)
{
	(void)name;
	return step == QUEUE_STEP_UPDATE ? EIO : 0;
}

Test(queue_notices, written_empty_then_recorded_once)
{
	struct queue_file *qf;
	struct str err = STR_INIT;

	write_file();
	qf = open_file(QUEUE_OPEN_UPDATE);
	cr_assert_eq(queue_file_notices(qf), 0);
	cr_assert_eq(queue_file_set_notices(qf, QUEUE_NOTICE_DELAY, &err), QUEUE_OK, "%s",
	        str_cstr(&err));
	cr_assert_eq(queue_file_notices(qf), QUEUE_NOTICE_DELAY);
	queue_file_close(qf);
	qf = open_file(QUEUE_OPEN_READ);
	cr_assert_eq(queue_file_notices(qf), QUEUE_NOTICE_DELAY);
	cr_assert_eq(queue_file_set_notices(qf, 0, &err), QUEUE_INVALID, "read-only");
	queue_file_close(qf);
	str_free(&err);
}

Test(queue_notices, unknown_bits_and_failed_updates)
{
	struct queue_file *qf;
	struct str err = STR_INIT;

	write_file();
	qf = open_file(QUEUE_OPEN_UPDATE);
	cr_assert_eq(queue_file_set_notices(qf, 0x80, &err), QUEUE_INVALID);
	cr_assert_eq(queue_file_notices(qf), 0);
	queue_file_fault_hook = fail_update;
	cr_assert_eq(queue_file_set_notices(qf, QUEUE_NOTICE_DELAY, &err), QUEUE_IOERROR);
	cr_assert_eq(queue_file_notices(qf), 0, "a failed update is not made");
	queue_file_fault_hook = NULL;
	queue_file_close(qf);
	qf = open_file(QUEUE_OPEN_READ);
	cr_assert_eq(queue_file_notices(qf), 0);
	queue_file_close(qf);
	str_free(&err);
}

Test(queue_notices, relayed_is_a_final_done_mark)
{
	struct queue_file *qf;
	struct str err = STR_INIT;

	write_file();
	qf = open_file(QUEUE_OPEN_UPDATE);
	cr_assert_eq(queue_file_mark_done(qf, 0, QUEUE_RCPT_RELAYED, &err), QUEUE_OK, "%s",
	        str_cstr(&err));
	cr_assert_eq(queue_file_mark_done(qf, 0, QUEUE_RCPT_FAILED, &err), QUEUE_INVALID);
	queue_file_close(qf);
	qf = open_file(QUEUE_OPEN_READ);
	cr_assert_eq(queue_file_rcpt(qf, 0)->state, QUEUE_RCPT_RELAYED);
	cr_assert_eq(queue_file_rcpt(qf, 1)->state, QUEUE_RCPT_PENDING);
	queue_file_close(qf);
	str_free(&err);
}

/* A bad value in the NOTICES octet makes the file corrupt. */
Test(queue_notices, unknown_bits_on_disk_are_corrupt)
{
	struct queue_file *qf;
	struct str err = STR_INIT;
	unsigned char buf[65536];
	ssize_t n;
	int fd;

	write_file();
	fd = open(path, O_RDWR);
	n = read(fd, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	for (size_t off = 0; off < (size_t)n;
	        off += QUEUE_RECORD_HEADER + queue_get_u32(buf + off + 1)) {
		if (buf[off] == QREC_NOTICES) {
			cr_assert_eq(pwrite(fd, "\x02", 1, (off_t)off + QUEUE_RECORD_HEADER), 1);
			break;
		}
	}
	close(fd);
	cr_assert_eq(queue_file_open(path, QUEUE_OPEN_READ, &qf, &err), QUEUE_CORRUPT);
	cr_assert(strstr(str_cstr(&err), "NOTICES has unknown bits") != NULL, "%s", str_cstr(&err));
	str_free(&err);
}

/* A file without the record (made before it existed, or by hand) reads
 * as -1 and cannot record a notice. */
Test(queue_notices, file_without_the_record)
{
	unsigned char in[65536], out[65536];
	size_t len, olen = 0;
	uint32_t crc = 0, records = 0;
	struct queue_file *qf;
	struct str err = STR_INIT;
	ssize_t n;
	int fd, dropped = 0;

	write_file();
	fd = open(path, O_RDWR);
	n = read(fd, in, sizeof(in));
	cr_assert_gt(n, 0);
	len = (size_t)n;
	for (size_t off = 0; off < len;) {
		uint32_t rlen = queue_get_u32(in + off + 1);
		size_t whole = QUEUE_RECORD_HEADER + rlen;

		if (in[off] == QREC_NOTICES) {
			dropped = 1;
		} else if (in[off] == QREC_END) {
			memcpy(out + olen, in + off, whole);
			queue_put_u32(out + olen + QUEUE_RECORD_HEADER + 8, records);
			queue_put_u32(out + olen + QUEUE_RECORD_HEADER + 16, crc);
			olen += whole;
		} else {
			memcpy(out + olen, in + off, whole);
			crc = queue_record_crc(crc, in[off], in + off + QUEUE_RECORD_HEADER, rlen);
			records++;
			olen += whole;
		}
		off += whole;
	}
	cr_assert(dropped);
	cr_assert_eq(ftruncate(fd, 0), 0);
	cr_assert_eq(pwrite(fd, out, olen, 0), (ssize_t)olen);
	close(fd);
	qf = open_file(QUEUE_OPEN_UPDATE);
	cr_assert_eq(queue_file_notices(qf), -1);
	cr_assert_eq(queue_file_set_notices(qf, QUEUE_NOTICE_DELAY, &err), QUEUE_INVALID);
	cr_assert(strstr(str_cstr(&err), "no NOTICES record") != NULL);
	queue_file_close(qf);
	str_free(&err);
}
