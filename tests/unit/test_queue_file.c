/*
 * test_queue_file.c - the queue file writer and reader on real files:
 * round trip of every field, CRLF handling and streaming, every
 * truncation point, every corrupted length, every flipped byte, records
 * out of order, in-place updates, and the commit protocol's order and
 * failure paths through the test hook and a real write failure.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_file.h"
#include "queue_record.h"

#define SAMPLE_ARRIVAL 1700000000123456LL
#define BIG_LINES      20000

static char qdir[] = "/tmp/tern-queue-file-XXXXXX";

static void
make_dir(void)
{
	cr_assert_not_null(mkdtemp(qdir));
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
remove_dir(void)
{
	queue_file_fault_hook = NULL;
	nftw(qdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(queue_file, .init = make_dir, .fini = remove_dir);

static char *
path_of(const char *name)
{
	static char path[sizeof(qdir) + 64];

	snprintf(path, sizeof(path), "%s/%s", qdir, name);
	return path;
}

static unsigned char *
read_whole(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void
write_whole(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int
entries(void)
{
	int fd = open(qdir, O_RDONLY | O_DIRECTORY), n = 0;
	DIR *d = fdopendir(fd);
	struct dirent *e;

	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The message text as sent (CRLF) and as stored (LF). */
static const char sample_text[] = "Subject: hello\r\nFrom: <sender@example.org>\r\n\r\n"
                                  "line one\r\n..dot\r\nbare\rcr\r\nend\r\n";
static const char sample_stored[] = "Subject: hello\nFrom: <sender@example.org>\n\n"
                                    "line one\n..dot\nbare\rcr\nend\n";

static void
put_envelope(struct queue_writer *w)
{
	cr_assert_eq(queue_file_put_arrival(w, SAMPLE_ARRIVAL), QUEUE_OK);
	cr_assert_eq(queue_file_put_sender(w, "sender@example.org"), QUEUE_OK);
	cr_assert_eq(queue_file_put_envid(w, "ENV-1+2"), QUEUE_OK);
	cr_assert_eq(queue_file_put_ret(w, QUEUE_RET_HDRS), QUEUE_OK);
	cr_assert_eq(queue_file_put_helo(w, "client.example.net"), QUEUE_OK);
	cr_assert_eq(queue_file_put_client_name(w, "mail.example.net"), QUEUE_OK);
	cr_assert_eq(queue_file_put_client_addr(w, "2001:db8::7"), QUEUE_OK);
	cr_assert_eq(queue_file_put_client_port(w, 40001), QUEUE_OK);
	cr_assert_eq(queue_file_put_protocol(w, "ESMTPSA"), QUEUE_OK);
	cr_assert_eq(
	        queue_file_put_tls_cipher(w, "TLSv1.3 TLS_AES_256_GCM_SHA384 256/256"), QUEUE_OK);
	cr_assert_eq(queue_file_put_auth_login(w, "alice"), QUEUE_OK);
	cr_assert_eq(queue_file_put_flags(w, QUEUE_FLAG_8BITMIME | QUEUE_FLAG_SMTPUTF8), QUEUE_OK);
	cr_assert_eq(queue_file_put_uid(w, 1000), QUEUE_OK);
}

static void
put_recipients(struct queue_writer *w)
{
	cr_assert_eq(queue_file_put_rcpt(w, "bob@example.com", NULL, NULL, 0), QUEUE_OK);
	cr_assert_eq(queue_file_put_rcpt(w, "carol@example.com", "rfc822", "Carol@Example.COM",
	                     QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE),
	        QUEUE_OK);
	cr_assert_eq(queue_file_put_rcpt(w, "d\xc3\xa9j\xc3\xa0@example.com", "utf-8",
	                     "d\xc3\xa9j\xc3\xa0@example.com", QUEUE_NOTIFY_NEVER),
	        QUEUE_OK);
}

/* Send the text in slices of 3 bytes, so CRLF pairs are split. */
static void
put_sample_text(struct queue_writer *w)
{
	for (size_t i = 0; i < sizeof(sample_text) - 1; i += 3) {
		size_t n = sizeof(sample_text) - 1 - i < 3 ? sizeof(sample_text) - 1 - i : 3;

		cr_assert_eq(queue_file_put_content(w, sample_text + i, n), QUEUE_OK);
	}
}

/* Write the sample by the commit protocol; its path is path_of(id). */
static void
write_sample(char id[QUEUE_ID_SIZE])
{
	struct queue_writer *w;
	struct str err = STR_INIT;

	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK, "%s", str_cstr(&err));
	put_envelope(w);
	put_recipients(w);
	put_sample_text(w);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK, "%s", str_cstr(&err));
	str_free(&err);
}

static int
open_status(const char *path, struct str *err)
{
	struct queue_file *qf;
	int status = queue_file_open(path, QUEUE_OPEN_READ, &qf, err);

	if (status == QUEUE_OK) {
		cr_assert_not_null(qf);
		queue_file_close(qf);
	} else {
		cr_assert_null(qf);
	}
	return status;
}

static void
read_text(struct queue_file *qf, struct str *out, size_t bufsize)
{
	char buf[70000];
	ssize_t n;
	struct str err = STR_INIT;

	cr_assert_leq(bufsize, sizeof(buf));
	str_reset(out);
	while ((n = queue_file_read_content(qf, buf, bufsize, &err)) > 0)
		str_append(out, buf, (size_t)n);
	cr_assert_eq(n, 0, "%s", str_cstr(&err));
	str_free(&err);
}

Test(queue_file, round_trip_every_field)
{
	char id[QUEUE_ID_SIZE];
	struct queue_file *qf;
	struct str err = STR_INIT, text = STR_INIT;
	const struct queue_envelope *env;
	const struct queue_rcpt *r;
	struct stat st;

	write_sample(id);
	cr_assert(queue_id_valid(id));
	cr_assert_eq(entries(), 1, "only the queue file is left");
	cr_assert_eq(stat(path_of(id), &st), 0);
	cr_assert_eq(st.st_mode & 07777, QUEUE_FILE_MODE);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK, "%s",
	        str_cstr(&err));
	env = queue_file_envelope(qf);
	cr_assert_eq(env->arrival_usec, SAMPLE_ARRIVAL);
	cr_assert_str_eq(env->sender, "sender@example.org");
	cr_assert_str_eq(env->envid, "ENV-1+2");
	cr_assert_eq(env->ret, QUEUE_RET_HDRS);
	cr_assert_str_eq(env->helo, "client.example.net");
	cr_assert_str_eq(env->client_name, "mail.example.net");
	cr_assert_str_eq(env->client_addr, "2001:db8::7");
	cr_assert_eq(env->client_port, 40001);
	cr_assert_str_eq(env->protocol, "ESMTPSA");
	cr_assert_str_eq(env->tls_cipher, "TLSv1.3 TLS_AES_256_GCM_SHA384 256/256");
	cr_assert_str_eq(env->auth_login, "alice");
	cr_assert_eq(env->flags, QUEUE_FLAG_8BITMIME | QUEUE_FLAG_SMTPUTF8);
	cr_assert_eq(env->uid, 1000);
	cr_assert_eq(queue_file_rcpt_count(qf), 3);
	r = queue_file_rcpt(qf, 0);
	cr_assert_str_eq(r->address, "bob@example.com");
	cr_assert_str_eq(r->orcpt_type, "");
	cr_assert_str_eq(r->orcpt_addr, "");
	cr_assert_eq(r->notify, 0);
	cr_assert_eq(r->state, QUEUE_RCPT_PENDING);
	cr_assert_eq(r->status.seq, 0);
	r = queue_file_rcpt(qf, 1);
	cr_assert_str_eq(r->address, "carol@example.com");
	cr_assert_str_eq(r->orcpt_type, "rfc822");
	cr_assert_str_eq(r->orcpt_addr, "Carol@Example.COM");
	cr_assert_eq(r->notify, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE);
	r = queue_file_rcpt(qf, 2);
	cr_assert_str_eq(r->address, "d\xc3\xa9j\xc3\xa0@example.com");
	cr_assert_str_eq(r->orcpt_type, "utf-8");
	cr_assert_eq(r->notify, QUEUE_NOTIFY_NEVER);
	cr_assert_eq(queue_file_content_size(qf), sizeof(sample_stored) - 1);
	read_text(qf, &text, 5);
	cr_assert_eq(text.len, sizeof(sample_stored) - 1);
	cr_assert_eq(memcmp(text.data, sample_stored, text.len), 0, "got \"%s\"", text.data);
	queue_file_rewind(qf);
	read_text(qf, &text, sizeof(sample_stored));
	cr_assert_str_eq(str_cstr(&text), sample_stored);
	queue_file_close(qf);
	str_free(&err);
	str_free(&text);
}

Test(queue_file, minimal_envelope_defaults)
{
	struct queue_writer *w;
	struct queue_file *qf;
	struct str err = STR_INIT, text = STR_INIT;
	char id[QUEUE_ID_SIZE];
	const struct queue_envelope *env;

	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	cr_assert_eq(queue_file_put_sender(w, ""), QUEUE_OK, "the null sender");
	cr_assert_eq(queue_file_put_helo(w, ""), QUEUE_OK, "empty means none");
	cr_assert_eq(queue_file_put_rcpt(w, "postmaster", "", "", 0), QUEUE_OK);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK, "%s", str_cstr(&err));
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	env = queue_file_envelope(qf);
	cr_assert_eq(env->arrival_usec, queue_id_usec(id), "arrival defaults to the ID's time");
	cr_assert_str_eq(env->sender, "");
	cr_assert_str_eq(env->envid, "");
	cr_assert_eq(env->ret, QUEUE_RET_NONE);
	cr_assert_str_eq(env->helo, "");
	cr_assert_eq(env->client_port, 0);
	cr_assert_eq(env->flags, 0);
	cr_assert_eq(env->uid, -1);
	cr_assert_eq(queue_file_content_size(qf), 0);
	read_text(qf, &text, 100);
	cr_assert_eq(text.len, 0);
	queue_file_close(qf);
	str_free(&err);
	str_free(&text);
}

Test(queue_file, crlf_across_slices_and_final_cr)
{
	const char *slices[] = {"a\r", "\nb\r", "c\r", "\r", "\n", "\r"};
	struct queue_writer *w;
	struct queue_file *qf;
	struct str err = STR_INIT, text = STR_INIT;
	char id[QUEUE_ID_SIZE];

	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	queue_file_put_sender(w, "a@b");
	queue_file_put_rcpt(w, "c@d", NULL, NULL, 0);
	for (size_t i = 0; i < sizeof(slices) / sizeof(slices[0]); i++)
		cr_assert_eq(queue_file_put_content(w, slices[i], strlen(slices[i])), QUEUE_OK);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	read_text(qf, &text, 100);
	cr_assert_str_eq(str_cstr(&text), "a\nb\rc\r\n\r");
	cr_assert_eq(queue_file_content_size(qf), 8);
	queue_file_close(qf);
	str_free(&err);
	str_free(&text);
}

Test(queue_file, big_message_in_chunks)
{
	struct queue_writer *w;
	struct queue_file *qf;
	struct str err = STR_INIT, sent = STR_INIT, want = STR_INIT, got = STR_INIT;
	char id[QUEUE_ID_SIZE];
	unsigned char *buf;
	size_t len, off, chunks = 0;

	for (int i = 0; i < BIG_LINES; i++) {
		str_printf(&sent, "line %d of the big message\r\n", i);
		str_printf(&want, "line %d of the big message\n", i);
	}
	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	queue_file_put_sender(w, "a@b");
	queue_file_put_rcpt(w, "c@d", NULL, NULL, 0);
	for (off = 0; off < sent.len; off += 7)
		cr_assert_eq(queue_file_put_content(
		                     w, sent.data + off, sent.len - off < 7 ? sent.len - off : 7),
		        QUEUE_OK);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_content_size(qf), want.len);
	read_text(qf, &got, 1000);
	cr_assert_eq(got.len, want.len);
	cr_assert_eq(memcmp(got.data, want.data, want.len), 0);
	queue_file_rewind(qf);
	read_text(qf, &got, 70000);
	cr_assert_eq(memcmp(got.data, want.data, want.len), 0);
	queue_file_close(qf);
	/* Every CONTENT record but the last is full. */
	buf = read_whole(path_of(id), &len);
	for (off = 0; off < len; off += QUEUE_RECORD_HEADER + queue_get_u32(buf + off + 1))
		if (buf[off] == QREC_CONTENT) {
			chunks++;
			cr_assert_leq(queue_get_u32(buf + off + 1), QUEUE_CHUNK_MAX);
		}
	cr_assert_eq(chunks, (want.len + QUEUE_CHUNK_MAX - 1) / QUEUE_CHUNK_MAX);
	free(buf);
	str_free(&err);
	str_free(&sent);
	str_free(&want);
	str_free(&got);
}

Test(queue_file, every_truncation_is_refused)
{
	char id[QUEUE_ID_SIZE];
	unsigned char *buf;
	size_t len;
	struct str err = STR_INIT;

	write_sample(id);
	buf = read_whole(path_of(id), &len);
	for (size_t cut = 0; cut < len; cut++) {
		write_whole(path_of("cut"), buf, cut);
		str_reset(&err);
		cr_assert_eq(open_status(path_of("cut"), &err), QUEUE_CORRUPT, "cut at %zu", cut);
	}
	write_whole(path_of("cut"), buf, len);
	cr_assert_eq(open_status(path_of("cut"), &err), QUEUE_OK);
	free(buf);
	str_free(&err);
}

Test(queue_file, every_corrupted_length_is_refused)
{
	char id[QUEUE_ID_SIZE];
	unsigned char *buf, *bad;
	size_t len, records = 0;
	struct str err = STR_INIT;

	write_sample(id);
	buf = read_whole(path_of(id), &len);
	bad = malloc(len);
	for (size_t off = 0; off < len; off += QUEUE_RECORD_HEADER + queue_get_u32(buf + off + 1)) {
		uint32_t rlen = queue_get_u32(buf + off + 1);
		const uint32_t wrong[] = {
		        rlen + 1, rlen - 1, 0, (uint32_t)len, 0x7fffffffu, 0xffffffffu};

		records++;
		for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
			if (wrong[i] == rlen)
				continue;
			memcpy(bad, buf, len);
			queue_put_u32(bad + off + 1, wrong[i]);
			write_whole(path_of("bad"), bad, len);
			str_reset(&err);
			cr_assert_eq(open_status(path_of("bad"), &err), QUEUE_CORRUPT,
			        "record %c at %zu with length %u", buf[off], off, wrong[i]);
		}
	}
	cr_assert_geq(records, 20);
	free(buf);
	free(bad);
	str_free(&err);
}

/* Is off inside the payload of a STATUS record? */
static int
in_status(const unsigned char *buf, size_t len, size_t where)
{
	for (size_t off = 0; off < len; off += QUEUE_RECORD_HEADER + queue_get_u32(buf + off + 1))
		if (buf[off] == QREC_STATUS && where >= off + QUEUE_RECORD_HEADER &&
		        where < off + QUEUE_RECORD_HEADER + queue_get_u32(buf + off + 1))
			return 1;
	return 0;
}

Test(queue_file, every_flipped_byte_is_refused_outside_status_slots)
{
	char id[QUEUE_ID_SIZE];
	unsigned char *buf;
	size_t len, torn = 0;
	struct str err = STR_INIT;

	write_sample(id);
	buf = read_whole(path_of(id), &len);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0xff;
		write_whole(path_of("flip"), buf, len);
		buf[i] ^= 0xff;
		str_reset(&err);
		if (in_status(buf, len, i)) {
			/* A status copy that fails its CRC is a torn write: ignored. */
			cr_assert_eq(open_status(path_of("flip"), &err), QUEUE_OK, "byte %zu", i);
			torn++;
		} else {
			cr_assert_eq(
			        open_status(path_of("flip"), &err), QUEUE_CORRUPT, "byte %zu", i);
		}
	}
	cr_assert_eq(torn, 3 * QUEUE_STATUS_SIZE);
	free(buf);
	str_free(&err);
}

/* A hand-built file, for the cases the writer never makes. */
struct builder {
	struct str b;
	uint32_t crc;
	unsigned long records, rcpts;
	unsigned long long content;
};

static void
rec(struct builder *bd, int type, const void *payload, size_t len)
{
	unsigned char h[QUEUE_RECORD_HEADER];

	h[0] = (unsigned char)type;
	queue_put_u32(h + 1, (uint32_t)len);
	str_append(&bd->b, h, sizeof(h));
	str_append(&bd->b, payload, len);
	bd->crc = queue_record_crc(bd->crc, type, payload, len);
	bd->records++;
	if (type == QREC_RCPT)
		bd->rcpts++;
	if (type == QREC_CONTENT)
		bd->content += len;
}

static void
rec_text(struct builder *bd, int type, const char *text)
{
	rec(bd, type, text, strlen(text));
}

static void
magic(struct builder *bd, int version)
{
	unsigned char m[QUEUE_MAGIC_SIZE];

	memcpy(m, QUEUE_MAGIC, QUEUE_MAGIC_LEN);
	m[QUEUE_MAGIC_LEN] = (unsigned char)version;
	rec(bd, QREC_MAGIC, m, sizeof(m));
}

static void
arrival(struct builder *bd)
{
	unsigned char v[8];

	queue_put_u64(v, SAMPLE_ARRIVAL);
	rec(bd, QREC_ARRIVAL, v, sizeof(v));
}

static void
envelope(struct builder *bd)
{
	magic(bd, QUEUE_FORMAT_VERSION);
	arrival(bd);
	rec_text(bd, QREC_SENDER, "a@b");
}

static void
rcpt_raw(struct builder *bd, int done, int notify, const char *addr, size_t len)
{
	unsigned char p[QUEUE_RCPT_ADDR + 64];

	p[QUEUE_RCPT_DONE] = (unsigned char)done;
	p[QUEUE_RCPT_NOTIFY] = (unsigned char)notify;
	memcpy(p + QUEUE_RCPT_ADDR, addr, len);
	rec(bd, QREC_RCPT, p, QUEUE_RCPT_ADDR + len);
}

static void
status(struct builder *bd)
{
	unsigned char s[QUEUE_STATUS_SIZE] = {0};

	rec(bd, QREC_STATUS, s, sizeof(s));
}

static void
rcpt(struct builder *bd)
{
	rcpt_raw(bd, 0, 0, "c@d", 3);
	status(bd);
}

static void
end_with(struct builder *bd, int dcontent, int drecords, int drcpts, int dcrc)
{
	unsigned char e[QUEUE_END_SIZE];

	queue_put_u64(e, bd->content + (unsigned long long)dcontent);
	queue_put_u32(e + 8, (uint32_t)(bd->records + (unsigned long)drecords));
	queue_put_u32(e + 12, (uint32_t)(bd->rcpts + (unsigned long)drcpts));
	queue_put_u32(e + 16, bd->crc + (uint32_t)dcrc);
	rec(bd, QREC_END, e, sizeof(e));
}

static void
end(struct builder *bd)
{
	end_with(bd, 0, 0, 0, 0);
}

static void
b_valid(struct builder *bd)
{
	envelope(bd);
	rec_text(bd, QREC_HELO, "h");
	rcpt(bd);
	rec(bd, QREC_CONTENT, "x\n", 2);
	end(bd);
}

static void
b_no_magic(struct builder *bd)
{
	arrival(bd);
	rec_text(bd, QREC_SENDER, "a@b");
	rcpt(bd);
	end(bd);
}

static void
b_bad_magic(struct builder *bd)
{
	rec(bd, QREC_MAGIC, "TERN-QUEUX\1", QUEUE_MAGIC_SIZE);
	arrival(bd);
	rec_text(bd, QREC_SENDER, "a@b");
	rcpt(bd);
	end(bd);
}

static void
b_version_2(struct builder *bd)
{
	magic(bd, 2);
	arrival(bd);
	rec_text(bd, QREC_SENDER, "a@b");
	rcpt(bd);
	end(bd);
}

static void
b_magic_twice(struct builder *bd)
{
	envelope(bd);
	magic(bd, QUEUE_FORMAT_VERSION);
	rcpt(bd);
	end(bd);
}

static void
b_arrival_after_rcpt(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	arrival(bd);
	end(bd);
}

static void
b_helo_after_rcpt(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	rec_text(bd, QREC_HELO, "h");
	end(bd);
}

static void
b_content_before_rcpt(struct builder *bd)
{
	envelope(bd);
	rec_text(bd, QREC_CONTENT, "x");
	rcpt(bd);
	end(bd);
}

static void
b_rcpt_after_content(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	rec_text(bd, QREC_CONTENT, "x");
	rcpt(bd);
	end(bd);
}

static void
b_status_without_rcpt(struct builder *bd)
{
	envelope(bd);
	status(bd);
	rcpt(bd);
	end(bd);
}

static void
b_orcpt_after_status(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	rec(bd, QREC_ORCPT, "\6rfc822c@d", 10);
	end(bd);
}

static void
b_rcpt_without_status(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c@d", 3);
	rec_text(bd, QREC_CONTENT, "x");
	end(bd);
}

static void
b_rcpt_without_status_at_end(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c@d", 3);
	end(bd);
}

static void
b_no_recipients(struct builder *bd)
{
	envelope(bd);
	rec_text(bd, QREC_CONTENT, "x");
	end(bd);
}

static void
b_no_end(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	rec_text(bd, QREC_CONTENT, "x");
}

static void
b_data_after_end(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	end(bd);
	str_appendc(&bd->b, 0);
}

static void
b_record_after_end(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	end(bd);
	rec_text(bd, QREC_CONTENT, "x");
}

static void
b_sender_twice(struct builder *bd)
{
	envelope(bd);
	rec_text(bd, QREC_SENDER, "a@b");
	rcpt(bd);
	end(bd);
}

static void
b_no_sender(struct builder *bd)
{
	magic(bd, QUEUE_FORMAT_VERSION);
	arrival(bd);
	rcpt(bd);
	end(bd);
}

static void
b_no_arrival(struct builder *bd)
{
	magic(bd, QUEUE_FORMAT_VERSION);
	rec_text(bd, QREC_SENDER, "a@b");
	rcpt(bd);
	end(bd);
}

static void
b_unknown_type(struct builder *bd)
{
	envelope(bd);
	rec_text(bd, 'Z', "x");
	rcpt(bd);
	end(bd);
}

static void
b_rcpt_cr(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c\r@d", 4);
	status(bd);
	end(bd);
}

static void
b_rcpt_lf(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c@d\n", 4);
	status(bd);
	end(bd);
}

static void
b_rcpt_nul(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c\0@d", 4);
	status(bd);
	end(bd);
}

static void
b_sender_nul(struct builder *bd)
{
	magic(bd, QUEUE_FORMAT_VERSION);
	arrival(bd);
	rec(bd, QREC_SENDER, "a\0b", 3);
	rcpt(bd);
	end(bd);
}

static void
b_helo_lf(struct builder *bd)
{
	envelope(bd);
	rec_text(bd, QREC_HELO, "evil\nhelo");
	rcpt(bd);
	end(bd);
}

static void
b_orcpt_cr(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c@d", 3);
	rec(bd, QREC_ORCPT, "\6rfc822c\r@d", 11);
	status(bd);
	end(bd);
}

static void
b_orcpt_bad_type(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c@d", 3);
	rec(bd, QREC_ORCPT, "\6rfc 82c@d", 10);
	status(bd);
	end(bd);
}

static void
b_orcpt_type_too_long(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c@d", 3);
	rec(bd, QREC_ORCPT, "\11rfc822c@d", 10);
	status(bd);
	end(bd);
}

static void
b_rcpt_empty(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, 0, "", 0);
	status(bd);
	end(bd);
}

static void
b_done_4(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 4, 0, "c@d", 3);
	status(bd);
	end(bd);
}

static void
b_notify_never_and_success(struct builder *bd)
{
	envelope(bd);
	rcpt_raw(bd, 0, QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_SUCCESS, "c@d", 3);
	status(bd);
	end(bd);
}

static void
b_ret_3(struct builder *bd)
{
	envelope(bd);
	rec(bd, QREC_RET, "\3", 1);
	rcpt(bd);
	end(bd);
}

static void
b_flags_unknown(struct builder *bd)
{
	envelope(bd);
	rec(bd, QREC_FLAGS, "\0\0\1\0", 4);
	rcpt(bd);
	end(bd);
}

static void
b_port_zero(struct builder *bd)
{
	envelope(bd);
	rec(bd, QREC_CLIENT_PORT, "\0\0", 2);
	rcpt(bd);
	end(bd);
}

static void
b_empty_chunk(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	rec(bd, QREC_CONTENT, "", 0);
	end(bd);
}

static void
b_end_records(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	end_with(bd, 0, 1, 0, 0);
}

static void
b_end_rcpts(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	end_with(bd, 0, 0, 1, 0);
}

static void
b_end_content(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	rec_text(bd, QREC_CONTENT, "x");
	end_with(bd, -1, 0, 0, 0);
}

static void
b_end_crc(struct builder *bd)
{
	envelope(bd);
	rcpt(bd);
	end_with(bd, 0, 0, 0, 1);
}

static void
status_copies(struct builder *bd, const struct queue_rcpt_status *a,
        const struct queue_rcpt_status *b, int tear_a, int tear_b)
{
	unsigned char s[QUEUE_STATUS_SIZE] = {0};

	if (a != NULL)
		queue_status_encode(s, a);
	if (b != NULL)
		queue_status_encode(s + QUEUE_STATUS_COPY, b);
	if (tear_a)
		s[QUEUE_STATUS_REASON] ^= 1;
	if (tear_b)
		s[QUEUE_STATUS_COPY + QUEUE_STATUS_REASON] ^= 1;
	envelope(bd);
	rcpt_raw(bd, 0, 0, "c@d", 3);
	rec(bd, QREC_STATUS, s, sizeof(s));
	end(bd);
}

static const struct queue_rcpt_status st1 = {1, 1, 1700000000, "4.4.1", "connection refused"};
static const struct queue_rcpt_status st2 = {2, 2, 1700000600, "4.2.2", "mailbox full"};
static const struct queue_rcpt_status st_seq0 = {0, 1, 1700000000, "4.4.1", "x"};
static const struct queue_rcpt_status st_dsn = {1, 1, 1700000000, "4.4", "x"};

static void
b_status_both_torn(struct builder *bd)
{
	status_copies(bd, &st1, &st2, 1, 1);
}

static void
b_status_same_seq(struct builder *bd)
{
	status_copies(bd, &st1, &st1, 0, 0);
}

static void
b_status_seq_zero(struct builder *bd)
{
	status_copies(bd, &st_seq0, NULL, 0, 0);
}

static void
b_status_bad_dsn(struct builder *bd)
{
	status_copies(bd, &st_dsn, NULL, 0, 0);
}

static const struct {
	const char *name;
	void (*build)(struct builder *);
	const char *reason;
} refused[] = {
        {"no magic", b_no_magic, "no MAGIC record"},
        {"bad magic", b_bad_magic, "bad magic"},
        {"version 2", b_version_2, "unsupported format version 2"},
        {"magic twice", b_magic_twice, "MAGIC record repeated"},
        {"arrival after rcpt", b_arrival_after_rcpt, "ARRIVAL record outside the envelope"},
        {"helo after rcpt", b_helo_after_rcpt, "HELO record outside the envelope"},
        {"content before rcpt", b_content_before_rcpt, "CONTENT record out of order"},
        {"rcpt after content", b_rcpt_after_content, "RCPT record out of order"},
        {"status without rcpt", b_status_without_rcpt, "STATUS record out of order"},
        {"orcpt after status", b_orcpt_after_status, "ORCPT record out of order"},
        {"rcpt without status", b_rcpt_without_status, "CONTENT record out of order"},
        {"rcpt without status at end", b_rcpt_without_status_at_end, "END record out of order"},
        {"no recipients", b_no_recipients, "CONTENT record out of order"},
        {"no end", b_no_end, "no END record"},
        {"data after end", b_data_after_end, "data after the END record"},
        {"record after end", b_record_after_end, "data after the END record"},
        {"sender twice", b_sender_twice, "SENDER record repeated"},
        {"no sender", b_no_sender, "SENDER record missing"},
        {"no arrival", b_no_arrival, "ARRIVAL record missing"},
        {"unknown type", b_unknown_type, "unknown record type 0x5a"},
        {"rcpt with CR", b_rcpt_cr, "RCPT holds a control character"},
        {"rcpt with LF", b_rcpt_lf, "RCPT holds a control character"},
        {"rcpt with NUL", b_rcpt_nul, "RCPT holds a control character"},
        {"sender with NUL", b_sender_nul, "SENDER holds a control character"},
        {"helo with LF", b_helo_lf, "HELO holds a control character"},
        {"orcpt with CR", b_orcpt_cr, "ORCPT holds a control character"},
        {"orcpt type not an atom", b_orcpt_bad_type, "ORCPT type is not an atom"},
        {"orcpt type too long", b_orcpt_type_too_long, "ORCPT lengths out of range"},
        {"empty rcpt", b_rcpt_empty, "RCPT record length out of range"},
        {"done mark 4", b_done_4, "RCPT done mark out of range"},
        {"notify never+success", b_notify_never_and_success, "RCPT NOTIFY out of range"},
        {"ret 3", b_ret_3, "RET out of range"},
        {"unknown flag", b_flags_unknown, "FLAGS has unknown bits"},
        {"port 0", b_port_zero, "CLIENT_PORT out of range"},
        {"empty chunk", b_empty_chunk, "CONTENT record length out of range"},
        {"end record count", b_end_records, "END record count does not match"},
        {"end rcpt count", b_end_rcpts, "END recipient count does not match"},
        {"end content length", b_end_content, "END content length does not match"},
        {"end checksum", b_end_crc, "END checksum does not match"},
        {"status both torn", b_status_both_torn, "STATUS copies both fail their CRC"},
        {"status same seq", b_status_same_seq, "STATUS copies have the same sequence number"},
        {"status seq 0", b_status_seq_zero, "STATUS copy holds an invalid field"},
        {"status bad dsn", b_status_bad_dsn, "STATUS copy holds an invalid field"},
};

static int
open_built(void (*build)(struct builder *), struct str *err)
{
	struct builder bd;

	memset(&bd, 0, sizeof(bd));
	build(&bd);
	write_whole(path_of("built"), bd.b.data, bd.b.len);
	str_free(&bd.b);
	str_reset(err);
	return open_status(path_of("built"), err);
}

Test(queue_file, hand_built_control_is_accepted)
{
	struct str err = STR_INIT;

	cr_assert_eq(open_built(b_valid, &err), QUEUE_OK, "%s", str_cstr(&err));
	str_free(&err);
}

Test(queue_file, malformed_files_are_refused_with_a_reason)
{
	struct str err = STR_INIT;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cr_assert_eq(open_built(refused[i].build, &err), QUEUE_CORRUPT, "%s: accepted",
		        refused[i].name);
		cr_assert_not_null(strstr(str_cstr(&err), refused[i].reason), "%s: \"%s\"",
		        refused[i].name, str_cstr(&err));
		cr_assert_not_null(strstr(str_cstr(&err), "corrupt queue file"));
	}
	str_free(&err);
}

static void
status_torn_one(struct builder *bd)
{
	status_copies(bd, &st1, &st2, 0, 1);
}

Test(queue_file, torn_status_copy_falls_back_to_the_other)
{
	struct str err = STR_INIT;
	struct queue_file *qf;

	cr_assert_eq(open_built(status_torn_one, &err), QUEUE_OK, "%s", str_cstr(&err));
	cr_assert_eq(queue_file_open(path_of("built"), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 1);
	cr_assert_str_eq(queue_file_rcpt(qf, 0)->status.reason, "connection refused");
	queue_file_close(qf);
	str_free(&err);
}

Test(queue_file, not_a_regular_file)
{
	struct str err = STR_INIT;

	cr_assert_eq(open_status(qdir, &err), QUEUE_CORRUPT);
	str_reset(&err);
	cr_assert_eq(open_status(path_of("missing"), &err), QUEUE_IOERROR);
	cr_assert_not_null(strstr(str_cstr(&err), "No such file"));
	cr_assert_eq(symlink("/etc/passwd", path_of("link")), 0);
	str_reset(&err);
	cr_assert_eq(open_status(path_of("link"), &err), QUEUE_IOERROR, "symlinks not followed");
	str_free(&err);
}

static int
differing_bytes(const unsigned char *a, const unsigned char *b, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; i++)
		n += a[i] != b[i];
	return n;
}

Test(queue_file, done_mark_in_place)
{
	char id[QUEUE_ID_SIZE];
	struct queue_file *qf;
	struct str err = STR_INIT;
	unsigned char *before, *after;
	size_t len, len2;

	write_sample(id);
	before = read_whole(path_of(id), &len);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_mark_done(qf, 1, QUEUE_RCPT_DELIVERED, &err), QUEUE_INVALID,
	        "read-only");
	queue_file_close(qf);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_UPDATE, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_mark_done(qf, 1, QUEUE_RCPT_DELIVERED, &err), QUEUE_OK, "%s",
	        str_cstr(&err));
	cr_assert_eq(queue_file_rcpt(qf, 1)->state, QUEUE_RCPT_DELIVERED);
	cr_assert_eq(queue_file_mark_done(qf, 1, QUEUE_RCPT_FAILED, &err), QUEUE_INVALID,
	        "a finished recipient stays finished");
	cr_assert_eq(queue_file_mark_done(qf, 0, QUEUE_RCPT_PENDING, &err), QUEUE_INVALID);
	cr_assert_eq(queue_file_mark_done(qf, 3, QUEUE_RCPT_FAILED, &err), QUEUE_INVALID);
	queue_file_close(qf);
	after = read_whole(path_of(id), &len2);
	cr_assert_eq(len2, len, "updated in place");
	cr_assert_eq(differing_bytes(before, after, len), 1, "one byte changed");
	free(after);

	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_UPDATE, &qf, &err), QUEUE_OK, "%s",
	        str_cstr(&err));
	cr_assert_eq(queue_file_rcpt(qf, 0)->state, QUEUE_RCPT_PENDING);
	cr_assert_eq(queue_file_rcpt(qf, 1)->state, QUEUE_RCPT_DELIVERED);
	cr_assert_eq(queue_file_rcpt(qf, 2)->state, QUEUE_RCPT_PENDING);
	cr_assert_eq(queue_file_mark_done(qf, 2, QUEUE_RCPT_FAILED, &err), QUEUE_OK);
	queue_file_close(qf);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_rcpt(qf, 2)->state, QUEUE_RCPT_FAILED);
	queue_file_close(qf);
	free(before);
	str_free(&err);
}

Test(queue_file, status_slot_in_place)
{
	char id[QUEUE_ID_SIZE];
	struct queue_file *qf;
	struct str err = STR_INIT;
	struct queue_rcpt_status st = {0, 3, 1700001000, "4.4.1", "connect to mx: refused"};
	struct queue_rcpt_status bad = st;
	unsigned char *buf;
	size_t len, status_at = 0;

	write_sample(id);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_UPDATE, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_set_status(qf, 0, &st, &err), QUEUE_OK, "%s", str_cstr(&err));
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 1);
	strcpy(bad.dsn, "4.4");
	cr_assert_eq(queue_file_set_status(qf, 0, &bad, &err), QUEUE_INVALID);
	strcpy(bad.dsn, "3.0.0");
	cr_assert_eq(queue_file_set_status(qf, 0, &bad, &err), QUEUE_INVALID);
	strcpy(bad.dsn, "5.1.1");
	strcpy(bad.reason, "two\nlines");
	cr_assert_eq(queue_file_set_status(qf, 0, &bad, &err), QUEUE_INVALID);
	queue_file_close(qf);

	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_UPDATE, &qf, &err), QUEUE_OK, "%s",
	        str_cstr(&err));
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 1);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.attempts, 3);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.last_attempt, 1700001000);
	cr_assert_str_eq(queue_file_rcpt(qf, 0)->status.dsn, "4.4.1");
	cr_assert_str_eq(queue_file_rcpt(qf, 0)->status.reason, "connect to mx: refused");
	cr_assert_eq(queue_file_rcpt(qf, 1)->status.seq, 0);
	st.attempts = 4;
	strcpy(st.dsn, "5.1.1");
	strcpy(st.reason, "user unknown");
	cr_assert_eq(queue_file_set_status(qf, 0, &st, &err), QUEUE_OK);
	cr_assert_eq(queue_file_mark_done(qf, 0, QUEUE_RCPT_FAILED, &err), QUEUE_OK);
	queue_file_close(qf);

	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 2);
	cr_assert_str_eq(queue_file_rcpt(qf, 0)->status.reason, "user unknown");
	cr_assert_eq(queue_file_rcpt(qf, 0)->state, QUEUE_RCPT_FAILED);
	queue_file_close(qf);

	/* Tear the newer copy (the second): the first one's facts come back. */
	buf = read_whole(path_of(id), &len);
	for (size_t off = 0; off < len; off += QUEUE_RECORD_HEADER + queue_get_u32(buf + off + 1))
		if (buf[off] == QREC_STATUS) {
			status_at = off + QUEUE_RECORD_HEADER;
			break;
		}
	cr_assert_neq(status_at, 0);
	buf[status_at + QUEUE_STATUS_COPY + QUEUE_STATUS_REASON] ^= 0x20;
	write_whole(path_of(id), buf, len);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_UPDATE, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 1);
	cr_assert_str_eq(queue_file_rcpt(qf, 0)->status.reason, "connect to mx: refused");
	/* The next update overwrites the torn copy, never the good one. */
	cr_assert_eq(queue_file_set_status(qf, 0, &st, &err), QUEUE_OK);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 2);
	queue_file_close(qf);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 2);
	cr_assert_str_eq(queue_file_rcpt(qf, 0)->status.reason, "user unknown");
	queue_file_close(qf);
	free(buf);
	str_free(&err);
}

Test(queue_file, content_changed_after_open)
{
	char id[QUEUE_ID_SIZE];
	struct queue_file *qf;
	struct str err = STR_INIT;
	unsigned char *buf;
	char text[100];
	size_t len;

	write_sample(id);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	buf = read_whole(path_of(id), &len);
	for (size_t off = 0; off < len; off += QUEUE_RECORD_HEADER + queue_get_u32(buf + off + 1))
		if (buf[off] == QREC_CONTENT) {
			int fd = open(path_of(id), O_WRONLY);

			queue_put_u32(buf + off + 1, 0x10000000);
			cr_assert_eq(pwrite(fd, buf + off, QUEUE_RECORD_HEADER, (off_t)off),
			        QUEUE_RECORD_HEADER);
			close(fd);
			break;
		}
	cr_assert_eq(queue_file_read_content(qf, text, sizeof(text), &err), QUEUE_CORRUPT);
	cr_assert_not_null(strstr(str_cstr(&err), "content changed"));
	queue_file_close(qf);
	free(buf);
	str_free(&err);
}

Test(queue_file, invalid_values_are_refused_and_the_writer_goes_on)
{
	struct queue_writer *w;
	struct queue_file *qf;
	struct str err = STR_INIT;
	char id[QUEUE_ID_SIZE], longaddr[QUEUE_ADDR_MAX + 2];

	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	cr_assert_eq(queue_file_put_sender(w, "a\r\nb"), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_sender(w, longaddr), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_sender(w, "ok@example.org"), QUEUE_OK);
	cr_assert_eq(queue_file_put_helo(w, "a\tb"), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_client_port(w, 65536), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_flags(w, 0x100), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_ret(w, (enum queue_ret)3), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_uid(w, -1), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_uid(w, 0xffffffffLL), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_arrival(w, -5), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_rcpt(w, "", NULL, NULL, 0), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_rcpt(w, "x\n@y", NULL, NULL, 0), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_rcpt(w, "x@y", "rfc822", NULL, 0), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_rcpt(w, "x@y", NULL, "x@y", 0), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_rcpt(w, "x@y", "rfc 822", "x@y", 0), QUEUE_INVALID);
	cr_assert_eq(
	        queue_file_put_rcpt(w, "x@y", NULL, NULL, QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_DELAY),
	        QUEUE_INVALID);
	cr_assert_eq(queue_file_put_rcpt(w, "x@y", NULL, NULL, 0x10), QUEUE_INVALID);
	cr_assert_eq(queue_file_put_rcpt(w, "x@y", NULL, NULL, QUEUE_NOTIFY_DELAY), QUEUE_OK);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_str_eq(queue_file_envelope(qf)->sender, "ok@example.org");
	cr_assert_str_eq(queue_file_envelope(qf)->helo, "");
	cr_assert_eq(queue_file_rcpt_count(qf), 1);
	cr_assert_str_eq(queue_file_rcpt(qf, 0)->address, "x@y");
	queue_file_close(qf);
	str_free(&err);
}

Test(queue_file, wrong_call_order_is_a_bug, .signal = SIGABRT)
{
	struct queue_writer *w;
	struct str err = STR_INIT;

	cr_redirect_stderr();
	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	queue_file_put_sender(w, "a@b");
	queue_file_put_rcpt(w, "c@d", NULL, NULL, 0);
	queue_file_put_helo(w, "late"); /* panics: abort() */
}

Test(queue_file, abort_removes_the_temporary)
{
	struct queue_writer *w;
	struct str err = STR_INIT;
	struct stat st;

	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	cr_assert_eq(strncmp(queue_file_temp_name(w), QUEUE_TEMP_PREFIX, 4), 0);
	cr_assert_str_eq(queue_file_temp_name(w) + 4, queue_file_id(w));
	cr_assert_eq(stat(path_of(queue_file_temp_name(w)), &st), 0);
	cr_assert_eq(st.st_mode & 07777, QUEUE_FILE_MODE);
	queue_file_put_sender(w, "a@b");
	queue_file_abort(w);
	cr_assert_eq(entries(), 0);
	str_free(&err);
}

/* The hook: a trace of the steps, the directory's state at each, a fault. */
#define TRACE_MAX 64
static enum queue_step trace[TRACE_MAX];
static int ntrace;
static int fault_step = -1, fault_errno, fault_after;
static char trace_id[QUEUE_ID_SIZE];
static int temp_at_rename, id_at_rename, temp_at_dirsync, id_at_dirsync;

static int
exists(const char *name)
{
	struct stat st;

	return stat(path_of(name), &st) == 0;
}

static int
hook(enum queue_step step, const char *name)
{
	char temp[QUEUE_ID_SIZE + 8];

	(void)name;
	if (ntrace < TRACE_MAX)
		trace[ntrace++] = step;
	snprintf(temp, sizeof(temp), "tmp.%s", trace_id);
	if (step == QUEUE_STEP_RENAME) {
		temp_at_rename = exists(temp);
		id_at_rename = exists(trace_id);
	}
	if (step == QUEUE_STEP_FSYNC_DIR) {
		temp_at_dirsync = exists(temp);
		id_at_dirsync = exists(trace_id);
	}
	if ((int)step == fault_step && fault_after-- <= 0)
		return fault_errno;
	return 0;
}

Test(queue_file, commit_order)
{
	struct queue_writer *w;
	struct str err = STR_INIT;
	char id[QUEUE_ID_SIZE];
	int i = 0;

	queue_file_fault_hook = hook;
	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	memcpy(trace_id, queue_file_id(w), QUEUE_ID_SIZE);
	put_envelope(w);
	put_recipients(w);
	put_sample_text(w);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_OK, "%s", str_cstr(&err));
	cr_assert_str_eq(id, trace_id, "the ID chosen at create");
	cr_assert_eq(trace[i++], QUEUE_STEP_CREATE);
	cr_assert_eq(trace[i++], QUEUE_STEP_WRITE);
	while (i < ntrace && trace[i] == QUEUE_STEP_WRITE)
		i++;
	cr_assert_eq(trace[i++], QUEUE_STEP_FSYNC_FILE);
	cr_assert_eq(trace[i++], QUEUE_STEP_RENAME);
	cr_assert_eq(trace[i++], QUEUE_STEP_FSYNC_DIR);
	cr_assert_eq(i, ntrace);
	cr_assert(temp_at_rename && !id_at_rename);
	cr_assert(!temp_at_dirsync && id_at_dirsync);
	cr_assert_eq(entries(), 1);
	str_free(&err);
}

static void
fail_at(enum queue_step step, int error, int expect, const char *words)
{
	struct queue_writer *w;
	struct str err = STR_INIT;
	char id[QUEUE_ID_SIZE];
	int status;

	queue_file_fault_hook = hook;
	fault_step = (int)step;
	fault_errno = error;
	fault_after = 0;
	status = queue_file_create(qdir, &w, &err);
	if (step == QUEUE_STEP_CREATE) {
		cr_assert_eq(status, expect, "create: %d", status);
		cr_assert_null(w);
	} else {
		cr_assert_eq(status, QUEUE_OK);
		memcpy(trace_id, queue_file_id(w), QUEUE_ID_SIZE);
		put_envelope(w);
		put_recipients(w);
		put_sample_text(w);
		cr_assert_eq(queue_file_commit(w, id, &err), expect, "step %d", (int)step);
	}
	cr_assert_not_null(
	        strstr(str_cstr(&err), words), "\"%s\" lacks \"%s\"", str_cstr(&err), words);
	cr_assert_not_null(strstr(str_cstr(&err), strerror(error)));
	cr_assert_eq(entries(), 0, "step %d left a file", (int)step);
	fault_step = -1;
	queue_file_fault_hook = NULL;
	str_free(&err);
}

Test(queue_file, failure_at_each_step_leaves_no_file)
{
	fail_at(QUEUE_STEP_CREATE, ENOSPC, QUEUE_NOSPACE, "create ");
	fail_at(QUEUE_STEP_CREATE, EACCES, QUEUE_IOERROR, "create ");
	fail_at(QUEUE_STEP_WRITE, ENOSPC, QUEUE_NOSPACE, "write ");
	fail_at(QUEUE_STEP_WRITE, EIO, QUEUE_IOERROR, "write ");
	fail_at(QUEUE_STEP_WRITE, EDQUOT, QUEUE_NOSPACE, "write ");
	fail_at(QUEUE_STEP_FSYNC_FILE, EIO, QUEUE_IOERROR, "fsync ");
	fail_at(QUEUE_STEP_FSYNC_FILE, ENOSPC, QUEUE_NOSPACE, "fsync ");
	fail_at(QUEUE_STEP_RENAME, EIO, QUEUE_IOERROR, "rename to ");
	fail_at(QUEUE_STEP_FSYNC_DIR, EIO, QUEUE_IOERROR, "fsync directory ");
}

Test(queue_file, write_failure_inside_the_text_sticks)
{
	struct queue_writer *w;
	struct str err = STR_INIT, text = STR_INIT;
	char id[QUEUE_ID_SIZE];
	int status = QUEUE_OK, i;

	for (i = 0; i < 1000; i++)
		str_appendz(
		        &text, "0123456789012345678901234567890123456789012345678901234567890\r\n");
	queue_file_fault_hook = hook;
	fault_step = QUEUE_STEP_WRITE;
	fault_errno = ENOSPC;
	fault_after = 1; /* the second write(2) fails */
	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	queue_file_put_sender(w, "a@b");
	queue_file_put_rcpt(w, "c@d", NULL, NULL, 0);
	for (i = 0; i < 10 && status == QUEUE_OK; i++)
		status = queue_file_put_content(w, text.data, text.len);
	cr_assert_eq(status, QUEUE_NOSPACE, "the put that met the failure reports it");
	cr_assert_eq(queue_file_put_content(w, "x", 1), QUEUE_NOSPACE, "and so does the next");
	cr_assert_eq(entries(), 1, "the temporary until commit or abort");
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_NOSPACE);
	cr_assert_not_null(strstr(str_cstr(&err), "write "));
	cr_assert_eq(entries(), 0);
	str_free(&err);
	str_free(&text);
}

Test(queue_file, real_write_failure_leaves_no_file)
{
	struct rlimit limit = {200000, 200000};
	struct queue_writer *w;
	struct str err = STR_INIT, text = STR_INIT;
	char id[QUEUE_ID_SIZE];

	/* The kernel refuses to grow the file past the limit (EFBIG). */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
	for (int i = 0; i < 5000; i++)
		str_appendz(
		        &text, "0123456789012345678901234567890123456789012345678901234567890\n");
	cr_assert_eq(queue_file_create(qdir, &w, &err), QUEUE_OK);
	queue_file_put_sender(w, "a@b");
	queue_file_put_rcpt(w, "c@d", NULL, NULL, 0);
	queue_file_put_content(w, text.data, text.len);
	cr_assert_eq(queue_file_commit(w, id, &err), QUEUE_IOERROR);
	cr_assert_not_null(strstr(str_cstr(&err), "write "), "%s", str_cstr(&err));
	cr_assert_eq(entries(), 0);
	str_free(&err);
	str_free(&text);
}

Test(queue_file, failed_update_changes_nothing)
{
	char id[QUEUE_ID_SIZE];
	struct queue_file *qf;
	struct str err = STR_INIT;
	struct queue_rcpt_status st = {0, 1, 1700001000, "4.4.1", "x"};

	write_sample(id);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_UPDATE, &qf, &err), QUEUE_OK);
	queue_file_fault_hook = hook;
	fault_step = QUEUE_STEP_UPDATE;
	fault_errno = EIO;
	fault_after = 0;
	cr_assert_eq(queue_file_mark_done(qf, 0, QUEUE_RCPT_DELIVERED, &err), QUEUE_IOERROR);
	cr_assert_eq(queue_file_rcpt(qf, 0)->state, QUEUE_RCPT_PENDING);
	fault_after = 0;
	cr_assert_eq(queue_file_set_status(qf, 0, &st, &err), QUEUE_IOERROR);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 0);
	fault_step = QUEUE_STEP_FSYNC_FILE;
	fault_after = 0;
	cr_assert_eq(queue_file_mark_done(qf, 0, QUEUE_RCPT_DELIVERED, &err), QUEUE_IOERROR);
	cr_assert_not_null(strstr(str_cstr(&err), "fsync "));
	cr_assert_eq(queue_file_rcpt(qf, 0)->state, QUEUE_RCPT_PENDING);
	queue_file_fault_hook = NULL;
	queue_file_close(qf);
	cr_assert_eq(queue_file_open(path_of(id), QUEUE_OPEN_READ, &qf, &err), QUEUE_OK);
	cr_assert_eq(queue_file_rcpt(qf, 0)->status.seq, 0);
	queue_file_close(qf);
	str_free(&err);
}

Test(queue_file, crc32_check_value)
{
	cr_assert_eq(queue_crc32(0, "123456789", 9), 0xcbf43926u);
	cr_assert_eq(queue_crc32(queue_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}
