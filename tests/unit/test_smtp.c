/* adapters/smtp.c: the mail it writes (read back with libetpan's MIME parser), header
 * injection refused, and the send path through a fake host (no network: refusals, the
 * outbound policy, a relay that is not there). The adapter's file is compiled in here so that
 * its static helpers can be tested; its ops get another name so the gateway's stay unique. */
#define _GNU_SOURCE /* strcasestr */
#define gw_ad_smtp gw_ad_smtp_under_test
#include "../../adapters/smtp.c"
#undef gw_ad_smtp

#include "testutil.h"

static const char *const JWE = "{\"protected\":\"eyJ0eXAiOiJhcHBsaWNhdGlvbi9kaWRjb21tLWVuY3J5cHRlZCtqc29uIn0\","
                               "\"recipients\":[],\"iv\":\"aa\",\"ciphertext\":\"bb\",\"tag\":\"cc\"}";

static char *build(const char *to, const char *mt, const char *data, size_t len, dc_err want)
{
	struct mail_in in = { .from = "gw@gw.example", .to = to, .media_type = mt, .data = (const uint8_t *)data,
		              .len = len, .now = 1700000000 };
	char *m = NULL, why[200] = "";
	size_t n = 0;
	CU_ASSERT_EQUAL(mail_build(&in, &m, &n, why, sizeof why), want);
	if (want == DC_OK) {
		CU_ASSERT_EQUAL(n, strlen(m));
	} else {
		CU_ASSERT_PTR_NULL(m);
	}
	return m;
}

static void mail_headers(void)
{
	char *m = build("carol@example.test", "application/didcomm-encrypted+json", JWE, strlen(JWE), DC_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "From: <gw@gw.example>\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "To: <carol@example.test>\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "Keywords: didcomm\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "MIME-Version: 1.0\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "Message-ID: <dc."));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "@gw.example>\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "filename=\"message.dcem\""));
	CU_ASSERT_PTR_NULL(strstr(m, "attachment.")); /* the human text names no attachment */
	CU_ASSERT_PTR_NULL(strcasestr(MAIL_BODY_TEXT, "open"));
	CU_ASSERT_PTR_NULL(strcasestr(MAIL_BODY_TEXT, "attach"));
	/* every line ends in CRLF and fits 78 characters (RFC 5322) */
	for (const char *p = m; *p;) {
		const char *e = strstr(p, "\r\n");
		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		CU_ASSERT(e - p <= 78);
		CU_ASSERT_PTR_NULL(memchr(p, '\n', (size_t)(e - p)));
		p = e + 2;
	}
	/* same bytes, same Message-ID (a resend is recognisable); other bytes, another one */
	char *again = build("carol@example.test", "application/didcomm-encrypted+json", JWE, strlen(JWE), DC_OK);
	char *other = build("carol@example.test", "application/didcomm-encrypted+json", JWE, strlen(JWE) - 1, DC_OK);
	CU_ASSERT_STRING_EQUAL(m, again);
	const char *a = strstr(m, "Message-ID:"), *b = strstr(other, "Message-ID:");
	CU_ASSERT(strncmp(a, b, 50) != 0);
	free(m);
	free(again);
	free(other);
	char *s = build("carol@example.test", "application/didcomm-signed+json", JWE, strlen(JWE), DC_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "filename=\"message.dcsm\""));
	free(s);
}

/* headers from a visible plaintext (DIDComm Email Transport Extension): Message-ID id@thid,
 * Subject from the protocol name + a piece of thid, In-Reply-To, problem reports */
static char *build_plain(const char *mt, const char *json)
{
	return build("carol@example.test", mt, json, strlen(json), DC_OK);
}

static bool has_line(const char *m, const char *line)
{
	const char *hdr_end = strstr(m, "\r\n\r\n");
	const char *p = strstr(m, line);
	return p && (p == m || p[-1] == '\n') && (!hdr_end || p < hdr_end);
}

static void mail_thread_headers(void)
{
	char pn[64];
	proto_of("https://didcomm.org/issue-credential/3.0/offer-credential", pn, sizeof pn);
	CU_ASSERT_STRING_EQUAL(pn, "issue-credential");
	proto_of("https://didcomm.org/basicmessage/2.0/message", pn, sizeof pn);
	CU_ASSERT_STRING_EQUAL(pn, "basicmessage");
	proto_of("https://example.org/a/b/my-proto/1.10/x", pn, sizeof pn);
	CU_ASSERT_STRING_EQUAL(pn, "my-proto");
	proto_of("https://didcomm.org/2.0/message", pn, sizeof pn); /* no name before the version */
	CU_ASSERT_STRING_EQUAL(pn, "");
	proto_of("https://didcomm.org/x\r\ny/2.0/m", pn, sizeof pn);
	CU_ASSERT_STRING_EQUAL(pn, "");
	proto_of("no-uri", pn, sizeof pn);
	CU_ASSERT_STRING_EQUAL(pn, "");

	/* the first message of a thread: no thid, so the thread is its id */
	char *m = build_plain("application/didcomm-plain+json",
	                      "{\"id\":\"1234567890abcdef\",\"type\":\"https://didcomm.org/issue-credential/3.0/"
	                      "propose-credential\",\"body\":{}}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT(has_line(m, "Subject: issue-credential 12345678\r\n"));
	CU_ASSERT(has_line(m, "Message-ID: <1234567890abcdef@1234567890abcdef>\r\n"));
	CU_ASSERT_PTR_NULL(strstr(m, "In-Reply-To:"));
	CU_ASSERT(has_line(m, "Keywords: didcomm\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(m, "filename=\"message.dcpm\""));
	free(m);

	/* a later one: Re:, id@thid, In-Reply-To the thread's first message; a long one folds */
	m = build_plain("application/didcomm-plain+json",
	                "{\"id\":\"5a3c1f0e-98b1-4c2e-a4c3-0d7f5e6b7a81\",\"thid\":\"0f8e7d6c-5b4a-4938-8271-605f4e3d2c1b\","
	                "\"type\":\"https://didcomm.org/issue-credential/3.0/offer-credential\",\"body\":{}}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT(has_line(m, "Subject: Re: issue-credential 0f8e7d6c\r\n"));
	CU_ASSERT(has_line(m, "Message-ID:\r\n <5a3c1f0e-98b1-4c2e-a4c3-0d7f5e6b7a81@0f8e7d6c-5b4a-4938-8271-605f4e3d2c1b>\r\n"));
	CU_ASSERT(has_line(m, "In-Reply-To:\r\n <0f8e7d6c-5b4a-4938-8271-605f4e3d2c1b@0f8e7d6c-5b4a-4938-8271-605f4e3d2c1b>\r\n"));
	CU_ASSERT(has_line(m, "References:\r\n <0f8e7d6c"));
	for (const char *p = m; *p;) { /* still every line within 78 characters */
		const char *e = strstr(p, "\r\n");
		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		CU_ASSERT(e - p <= 78);
		p = e + 2;
	}
	free(m);

	/* signed: the JWS payload is read (base64url of {"id":"s1","thid":"t1","type":".../trust-ping/2.0/ping"}) */
	m = build_plain("application/didcomm-signed+json",
	                "{\"payload\":\"eyJpZCI6InMxIiwidGhpZCI6InQxIiwidHlwZSI6Imh0dHBzOi8vZGlkY29tbS5vcmcvdHJ1c3QtcGluZy8y"
	                "LjAvcGluZyJ9\",\"signatures\":[]}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT(has_line(m, "Subject: Re: trust-ping t1\r\n"));
	CU_ASSERT(has_line(m, "Message-ID: <s1@t1>\r\n"));
	CU_ASSERT(has_line(m, "In-Reply-To: <t1@t1>\r\n"));
	free(m);

	/* values that cannot be a msg-id or go into a header: the hash form and the generic subject */
	const char *hostile[] = {
		"{\"id\":\"a b\",\"type\":\"https://didcomm.org/x/1.0/y\"}",
		"{\"id\":\"a\\r\\nBcc: evil@x\",\"type\":\"https://didcomm.org/x/1.0/y\"}",
		"{\"id\":\"ok\",\"thid\":\"t<h>\",\"type\":\"https://didcomm.org/x/1.0/y\"}",
		"{\"id\":\"ok\",\"type\":\"https://didcomm.org/x\\r\\nBcc: e@x/1.0/y\"}",
		"{\"id\":\"..\",\"type\":\"https://didcomm.org/x/1.0/y\"}",
		"{\"id\":7}",
		"[1,2]",
		"not json",
	};
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		m = build_plain("application/didcomm-plain+json", hostile[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_PTR_NULL(strstr(m, "Bcc:"));
		CU_ASSERT_PTR_NULL(strstr(m, "evil"));
		if (i != 3)
			CU_ASSERT(has_line(m, "Message-ID: <dc."));
		if (i == 3) /* a good id, a type with no usable protocol name */
			CU_ASSERT(has_line(m, "Subject: DIDComm message\r\n") && has_line(m, "Message-ID: <ok@ok>\r\n"));
		free(m);
	}
	/* a signed message whose payload is not base64url */
	m = build_plain("application/didcomm-signed+json", "{\"payload\":\"**\",\"signatures\":[]}");
	CU_ASSERT(m && has_line(m, "Subject: DIDComm message\r\n") && has_line(m, "Message-ID: <dc."));
	free(m);
}

/* a problem report: Subject "Problem CODE -- Re: ...", a body that says what went wrong */
static void mail_problem_report(void)
{
	char *m = build_plain("application/didcomm-plain+json",
	                      "{\"id\":\"pr1\",\"pthid\":\"abcdef123456\",\"type\":\"https://didcomm.org/report-problem/2.0/"
	                      "problem-report\",\"body\":{\"code\":\"e.p.xfer.cant-use-endpoint\",\"comment\":\"Unable "
	                      "to use the {1} endpoint for {2}.\\r\\nBcc: x\",\"args\":[\"https://agents.r.us/inbox\","
	                      "\"did:sov:C805sNYhMrjHiqZDTUASHg\"],\"escalate_to\":\"mailto:admin@foo.org\"}}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT(has_line(m, "Subject: Problem e.p.xfer.cant-use-endpoint -- Re: abcdef12\r\n"));
	CU_ASSERT(has_line(m, "Message-ID: <pr1@pr1>\r\n"));
	CU_ASSERT(has_line(m, "In-Reply-To: <abcdef123456@abcdef123456>\r\n"));
	/* the text part, decoded */
	size_t idx = 0;
	struct mailmime *mm = NULL;
	CU_ASSERT_EQUAL_FATAL(mailmime_parse(m, strlen(m), &idx, &mm), MAILIMF_NO_ERROR);
	struct mailmime *body = mm->mm_data.mm_message.mm_msg_mime;
	struct mailmime *text = clist_content(clist_begin(body->mm_data.mm_multipart.mm_mp_list));
	struct mailmime_data *d = text->mm_data.mm_single;
	char *dec = NULL;
	size_t dl = 0, i2 = 0;
	CU_ASSERT_EQUAL_FATAL(mailmime_part_parse(d->dt_data.dt_text.dt_data, d->dt_data.dt_text.dt_length, &i2,
	                                          MAILMIME_MECHANISM_BASE64, &dec, &dl),
	                      MAILIMF_NO_ERROR);
	char *t = strndup(dec, dl);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "Problem code: e.p.xfer.cant-use-endpoint\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "Comment: Unable to use the https://agents.r.us/inbox endpoint for "
	                                 "did:sov:C805sNYhMrjHiqZDTUASHg.  Bcc: x\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "Escalate to: mailto:admin@foo.org\r\n"));
	CU_ASSERT_PTR_NULL(strcasestr(t, "open"));
	free(t);
	mmap_string_unref(dec);
	mailmime_free(mm);
	free(m);
	/* a code that cannot go into a Subject: an ordinary message of protocol report-problem */
	m = build_plain("application/didcomm-plain+json",
	                "{\"id\":\"pr2\",\"type\":\"https://didcomm.org/report-problem/2.0/problem-report\","
	                "\"body\":{\"code\":\"e.p.x\\r\\nBcc: y\"}}");
	CU_ASSERT(m && has_line(m, "Subject: report-problem pr2\r\n") && !strstr(m, "Bcc"));
	free(m);
}

/* what libetpan reads back: multipart/mixed, text/plain, then the DIDComm part, intact */
static void mail_reads_back(void)
{
	/* bytes of every value, and a length that is not a multiple of 3 */
	uint8_t data[1001];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7);
	char *m = build("carol@example.test", "application/didcomm-encrypted+json", (const char *)data, sizeof data, DC_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	size_t idx = 0;
	struct mailmime *mm = NULL;
	CU_ASSERT_EQUAL_FATAL(mailmime_parse(m, strlen(m), &idx, &mm), MAILIMF_NO_ERROR);
	CU_ASSERT_EQUAL_FATAL(mm->mm_type, MAILMIME_MESSAGE);
	struct mailmime *body = mm->mm_data.mm_message.mm_msg_mime;
	CU_ASSERT_EQUAL_FATAL(body->mm_type, MAILMIME_MULTIPLE);
	clist *l = body->mm_data.mm_multipart.mm_mp_list;
	CU_ASSERT_EQUAL_FATAL(clist_count(l), 2);
	struct mailmime *text = clist_content(clist_begin(l)), *dc = clist_content(clist_next(clist_begin(l)));
	CU_ASSERT_STRING_EQUAL(text->mm_content_type->ct_subtype, "plain");
	CU_ASSERT_STRING_EQUAL(dc->mm_content_type->ct_subtype, "didcomm-encrypted+json");
	const struct mailmime_data *d = dc->mm_data.mm_single;
	char *dec = NULL;
	size_t dl = 0, i2 = 0;
	CU_ASSERT_EQUAL_FATAL(mailmime_part_parse(d->dt_data.dt_text.dt_data, d->dt_data.dt_text.dt_length, &i2,
	                                          d->dt_encoding, &dec, &dl),
	                      MAILIMF_NO_ERROR);
	CU_ASSERT_EQUAL(dl, sizeof data);
	CU_ASSERT(dl == sizeof data && memcmp(dec, data, dl) == 0);
	mmap_string_unref(dec);
	mailmime_free(mm);
	free(m);
}

/* header injection and other addresses that cannot be one bare recipient */
static void mail_refusals(void)
{
	const char *bad[] = { "a@b\r\nBcc: evil@x", "a@b\nX: y", "a@b\r", "<a@b>", "a@b, c@d", "a b@c", "ab", "a@b@c",
		              "@b", "a@", "a@b;c", "a\"@b", "é@b", NULL };
	for (size_t i = 0; bad[i]; i++)
		build(bad[i], "application/didcomm-encrypted+json", JWE, strlen(JWE), DC_ERR_INVAL);
	build("a@b", "text/plain", JWE, strlen(JWE), DC_ERR_INVAL);
	build("a@b", "application/didcomm-encrypted+json\r\nX: y", JWE, strlen(JWE), DC_ERR_INVAL);
	/* destinations: the rule's bare address and the DID document's mailto: */
	struct gw_dest d;
	char r[300];
	CU_ASSERT(gw_dest_parse("smtp carol@example.test", &d) && dest_rcpt(&d, r, sizeof r));
	CU_ASSERT_STRING_EQUAL(r, "carol@example.test");
	CU_ASSERT(gw_dest_parse("resolved smtp mailto:dave@example.test", &d) && dest_rcpt(&d, r, sizeof r));
	CU_ASSERT_STRING_EQUAL(r, "dave@example.test");
	CU_ASSERT(gw_dest_parse("resolved smtp mailto:dave@example.test?cc=x@y", &d) && !dest_rcpt(&d, r, sizeof r));
	CU_ASSERT(gw_dest_parse("resolved smtp mailto:a@b,c@d", &d) && !dest_rcpt(&d, r, sizeof r));
}

static void url_forms(void)
{
	struct mail_srv s;
	CU_ASSERT(url_parse("smtp://127.0.0.1:2525", "smtp", "smtps", "25", "465", &s, NULL));
	CU_ASSERT_STRING_EQUAL(s.host, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(s.port, "2525");
	CU_ASSERT(!s.tls);
	CU_ASSERT(url_parse("smtps://mail.example", "smtp", "smtps", "25", "465", &s, NULL));
	CU_ASSERT(s.tls && !strcmp(s.port, "465"));
	CU_ASSERT(url_parse("smtp://[::1]:25/", "smtp", "smtps", "25", "465", &s, NULL) && !strcmp(s.host, "::1"));
	CU_ASSERT(!url_parse("http://x", "smtp", "smtps", "25", "465", &s, NULL));
	CU_ASSERT(!url_parse("smtp://x:0", "smtp", "smtps", "25", "465", &s, NULL));
	CU_ASSERT(!url_parse("smtp://x:65536", "smtp", "smtps", "25", "465", &s, NULL));
	CU_ASSERT(!url_parse("smtp://user@x", "smtp", "smtps", "25", "465", &s, NULL));
	CU_ASSERT(!url_parse("smtp://x/path", "smtp", "smtps", "25", "465", &s, NULL));
}

/* ---- the send path through a fake host --------------------------------------------------- */
struct fake {
	struct gw_host h;
	bool deny;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	enum gw_send_result r;
	char why[300];
	pthread_t sender, doner;
};

static void f_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
{
	(void)h, (void)lvl, (void)fmt;
}

static dc_err f_check(struct gw_host *h, const struct sockaddr *sa, socklen_t len, bool untrusted, char *why,
                      size_t why_len)
{
	(void)sa, (void)len;
	struct fake *f = (struct fake *)h;
	CU_ASSERT(!untrusted); /* the relay is the operator's */
	if (f->deny) {
		snprintf(why, why_len, "outbound policy: test says no");
		return DC_ERR_DENIED;
	}
	return DC_OK;
}

static void f_done(void *arg, enum gw_send_result r, const char *why)
{
	struct fake *f = arg;
	pthread_mutex_lock(&f->mu);
	f->r = r;
	snprintf(f->why, sizeof f->why, "%s", why ? why : "");
	f->doner = pthread_self();
	f->done++;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* send one to dest through a fresh adapter on url; the outcome and why */
static enum gw_send_result send_via(const char *url, const char *dest, bool deny, char *why, size_t why_len)
{
	struct smtp_conf c = { .url = (char *)url, .from = "gw@gw.example", .username = "", .password_file = "",
		               .starttls = "if-offered", .timeout_ms = 5000 };
	struct gw_limits lim = { .max_message_bytes = 65536 };
	struct gw_adapter *ad = NULL;
	struct dc_errinfo ei = { 0 };
	struct fake f = { .h = { .limits = &lim, .log = f_log, .outbound_check = f_check }, .deny = deny };
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.cv, NULL);
	CU_ASSERT_EQUAL_FATAL(gw_ad_smtp_under_test.create(&c, &lim, &ad, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(gw_ad_smtp_under_test.start(ad, &f.h, &ei), DC_OK);
	struct gw_dest d;
	CU_ASSERT_FATAL(gw_dest_parse(dest, &d));
	struct gw_envelope env = { .media_type = "application/didcomm-encrypted+json", .data = (const uint8_t *)JWE,
		                   .len = strlen(JWE) };
	pthread_mutex_lock(&f.mu);
	CU_ASSERT_EQUAL(gw_ad_smtp_under_test.send(ad, &d, &env, f_done, &f), DC_OK);
	CU_ASSERT_EQUAL(f.done, 0); /* never from inside send() */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	while (!f.done && pthread_cond_timedwait(&f.cv, &f.mu, &until) == 0)
		;
	pthread_mutex_unlock(&f.mu);
	CU_ASSERT_EQUAL(f.done, 1);
	CU_ASSERT(!pthread_equal(f.doner, pthread_self()));
	gw_ad_smtp_under_test.stop(ad);
	gw_ad_smtp_under_test.stop(ad); /* idempotent */
	CU_ASSERT_EQUAL(gw_ad_smtp_under_test.send(ad, &d, &env, f_done, &f), DC_ERR_AGAIN);
	gw_ad_smtp_under_test.free(ad);
	snprintf(why, why_len, "%s", f.why);
	pthread_mutex_destroy(&f.mu);
	pthread_cond_destroy(&f.cv);
	return f.r;
}

static void send_outcomes(void)
{
	/* a port nothing listens on */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	char url[64], why[300];
	snprintf(url, sizeof url, "smtp://127.0.0.1:%u", ntohs(a.sin_port));
	CU_ASSERT_EQUAL(send_via(url, "smtp carol@example.test", false, why, sizeof why), GW_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "refused"));
	close(fd);
	CU_ASSERT_EQUAL(send_via(url, "smtp carol@example.test", true, why, sizeof why), GW_RETRY);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "test says no"));
	/* refused before any connection: injection in a DID document's mailto: */
	CU_ASSERT_EQUAL(send_via(url, "resolved smtp mailto:a@b%0d%0aBcc:x@y", false, why, sizeof why), GW_FAILED);
	CU_ASSERT_EQUAL(send_via(url, "resolved smtp mailto:a@b,c@d", false, why, sizeof why), GW_FAILED);
}

static void config_refusals(void)
{
	struct gw_limits lim = { .max_message_bytes = 65536 };
	struct gw_adapter *ad = NULL;
	struct dc_errinfo ei = { 0 };
	struct smtp_conf c = { .url = "smtp://127.0.0.1:25", .from = "gw@gw.example", .username = "", .password_file = "",
		               .starttls = "if-offered", .timeout_ms = 5000 };
	c.from = NULL;
	CU_ASSERT_EQUAL(gw_ad_smtp_under_test.create(&c, &lim, &ad, &ei), DC_ERR_INVAL);
	c.from = "gw@x\r\nBcc: y@z";
	CU_ASSERT_EQUAL(gw_ad_smtp_under_test.create(&c, &lim, &ad, &ei), DC_ERR_INVAL);
	c.from = "gw@gw.example";
	c.url = "imap://x";
	CU_ASSERT_EQUAL(gw_ad_smtp_under_test.create(&c, &lim, &ad, &ei), DC_ERR_INVAL);
	c.url = "smtp://127.0.0.1:25";
	c.username = "u";
	CU_ASSERT_EQUAL(gw_ad_smtp_under_test.create(&c, &lim, &ad, &ei), DC_ERR_INVAL);
	CU_ASSERT_PTR_NULL(ad);
	char ep[100];
	CU_ASSERT(smtp_endpoint(&c, ep, sizeof ep));
	CU_ASSERT_STRING_EQUAL(ep, "mailto:gw@gw.example");
}

void init_smtp_tests(void)
{
	CU_pSuite s = CU_add_suite("smtp", NULL, NULL);
	TU_ADD(s, mail_headers);
	TU_ADD(s, mail_reads_back);
	TU_ADD(s, mail_thread_headers);
	TU_ADD(s, mail_problem_report);
	TU_ADD(s, mail_refusals);
	TU_ADD(s, url_forms);
	TU_ADD(s, send_outcomes);
	TU_ADD(s, config_refusals);
}
