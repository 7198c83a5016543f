/* adapters/imap.c: which parts of a mail are DIDComm messages (mail_extract), on well-formed
 * and hostile mail, and the [imap] section's refusals. The adapter's file is compiled in here
 * so that its static helpers can be tested; its ops get another name. */
#define gw_ad_imap gw_ad_imap_under_test
#include "../../adapters/imap.c"
#undef gw_ad_imap

#include "testutil.h"

#define JWE "{\"protected\":\"eyJ0eXAiOiJ4In0\",\"recipients\":[],\"iv\":\"aa\",\"ciphertext\":\"bb\",\"tag\":\"cc\"}"
#define JWE_B64 "eyJwcm90ZWN0ZWQiOiJleUowZVhBaU9pSjRJbjAiLCJyZWNpcGllbnRzIjpbXSwiaXYiOiJhYSIsImNpcGhlcnRleHQiOiJiYiIsInRhZyI6ImNjIn0="
#define HDR "From: carol@example.test\r\nTo: gw@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
#define MP "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"

static dc_err ex(const char *mail, struct extract *x)
{
	return mail_extract(mail, strlen(mail), 65536, x);
}

static void extract_typed(void)
{
	struct extract x;
	/* the gateway's own shape: text, then the DIDComm part in base64 */
	const char *m = HDR "Keywords: didcomm\r\n" MP "--b1\r\nContent-Type: text/plain\r\n\r\nfor agents\r\n"
	                    "--b1\r\nContent-Type: application/didcomm-encrypted+json\r\nContent-Transfer-Encoding: base64\r\n"
	                    "Content-Disposition: attachment; filename=\"message.dcem\"\r\n\r\n" JWE_B64 "\r\n--b1--\r\n";
	CU_ASSERT_EQUAL(ex(m, &x), DC_OK);
	CU_ASSERT_EQUAL(x.n, 1);
	CU_ASSERT(x.keywords);
	CU_ASSERT_STRING_EQUAL(x.p[0].media, "application/didcomm-encrypted+json");
	CU_ASSERT(x.p[0].len == strlen(JWE) && memcmp(x.p[0].data, JWE, strlen(JWE)) == 0);
	extract_clear(&x);
	/* several, in MIME order; upper case type; signed and plain too */
	m = HDR MP "--b1\r\nContent-Type: APPLICATION/DIDCOMM-SIGNED+JSON\r\n\r\n{\"payload\":\"1\"}\r\n"
	           "--b1\r\nContent-Type: application/didcomm-plain+json; charset=utf-8\r\n\r\n{\"id\":\"2\"}\r\n"
	           "--b1\r\nContent-Type: application/didcomm-encrypted+json\r\n\r\n" JWE "\r\n--b1--\r\n";
	CU_ASSERT_EQUAL(ex(m, &x), DC_OK);
	CU_ASSERT_EQUAL_FATAL(x.n, 3);
	CU_ASSERT_STRING_EQUAL(x.p[0].media, "application/didcomm-signed+json");
	CU_ASSERT_STRING_EQUAL(x.p[1].media, "application/didcomm-plain+json");
	CU_ASSERT_STRING_EQUAL(x.p[2].media, "application/didcomm-encrypted+json");
	CU_ASSERT(x.p[1].len == 10 && memcmp(x.p[1].data, "{\"id\":\"2\"}", 10) == 0);
	CU_ASSERT(!x.keywords);
	extract_clear(&x);
	/* the whole body is the message */
	m = HDR "Content-Type: application/didcomm-encrypted+json\r\n\r\n" JWE;
	CU_ASSERT_EQUAL(ex(m, &x), DC_OK);
	CU_ASSERT_EQUAL(x.n, 1);
	extract_clear(&x);
}

static void extract_sniffed(void)
{
	struct extract x;
	/* named .dcsm by a person, sent as octet-stream: the name says what it is */
	const char *m = HDR MP "--b1\r\nContent-Type: application/octet-stream; name=\"hi.DCSM\"\r\n"
	                       "Content-Transfer-Encoding: base64\r\n\r\n" JWE_B64 "\r\n--b1--\r\n";
	CU_ASSERT_EQUAL(ex(m, &x), DC_OK);
	CU_ASSERT_EQUAL_FATAL(x.n, 1);
	CU_ASSERT_STRING_EQUAL(x.p[0].media, "application/didcomm-signed+json");
	extract_clear(&x);
	/* a .json attachment holding a JWE: classified by content ("") */
	m = HDR MP "--b1\r\nContent-Type: application/json\r\nContent-Disposition: attachment; filename=m.json\r\n\r\n" JWE
	           "\r\n--b1--\r\n";
	CU_ASSERT_EQUAL(ex(m, &x), DC_OK);
	CU_ASSERT_EQUAL_FATAL(x.n, 1);
	CU_ASSERT_STRING_EQUAL(x.p[0].media, "");
	extract_clear(&x);
	/* an ordinary JSON attachment is not one */
	m = HDR MP "--b1\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--b1--\r\n";
	CU_ASSERT_EQUAL(ex(m, &x), DC_ERR_NOT_FOUND);
	extract_clear(&x);
}

static void extract_none(void)
{
	struct extract x;
	CU_ASSERT_EQUAL(ex(HDR "\r\nhello, is anyone there?\r\n", &x), DC_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(x.bad, "no DIDComm part"));
	extract_clear(&x);
	CU_ASSERT_EQUAL(ex(HDR MP "--b1\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b1--\r\n", &x), DC_ERR_NOT_FOUND);
	extract_clear(&x);
	CU_ASSERT_EQUAL(mail_extract("", 0, 65536, &x), DC_ERR_MALFORMED);
	extract_clear(&x);
}

/* hostile mail: never a crash, always a reason */
static void extract_hostile(void)
{
	struct extract x;
	dc_err rc;
	/* a DIDComm part bigger than max_message_bytes */
	size_t big = 200000;
	char *m = malloc(big + 300);
	int w = snprintf(m, 300, HDR "Content-Type: application/didcomm-encrypted+json\r\n\r\n");
	memset(m + w, 'a', big);
	m[w + (int)big] = 0;
	CU_ASSERT_EQUAL(ex(m, &x), DC_ERR_MALFORMED);
	CU_ASSERT_PTR_NOT_NULL(strstr(x.bad, "over max_message_bytes"));
	extract_clear(&x);
	free(m);
	/* nested multiparts, 300 deep */
	size_t cap = 300 * 120 + 1000, o = 0;
	m = malloc(cap);
	o += (size_t)snprintf(m + o, cap - o, HDR);
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(m + o, cap - o, "Content-Type: multipart/mixed; boundary=\"n%d\"\r\n\r\n--n%d\r\n", i, i);
	o += (size_t)snprintf(m + o, cap - o, "Content-Type: application/didcomm-encrypted+json\r\n\r\n" JWE "\r\n");
	for (int i = 299; i >= 0; i--)
		o += (size_t)snprintf(m + o, cap - o, "--n%d--\r\n", i);
	rc = ex(m, &x);
	CU_ASSERT(rc == DC_ERR_MALFORMED || rc == DC_ERR_NOT_FOUND);
	CU_ASSERT(x.bad[0] != 0);
	extract_clear(&x);
	free(m);
	/* many parts */
	cap = 200 * 100 + 1000;
	o = 0;
	m = malloc(cap);
	o += (size_t)snprintf(m + o, cap - o, HDR MP);
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(m + o, cap - o, "--b1\r\nContent-Type: application/didcomm-plain+json\r\n\r\n{}\r\n");
	o += (size_t)snprintf(m + o, cap - o, "--b1--\r\n");
	CU_ASSERT_EQUAL(ex(m, &x), DC_ERR_MALFORMED);
	CU_ASSERT(x.n <= MAX_DC_PARTS);
	extract_clear(&x);
	free(m);
	/* broken base64, a wrong charset, a boundary that never closes, garbage claiming DIDComm:
	 * taken or refused, never a crash (the gateway refuses garbage when it reads it) */
	const char *odd[] = {
		HDR MP "--b1\r\nContent-Type: application/didcomm-encrypted+json\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		       "!!!not*base64$$$\r\n--b1--\r\n",
		HDR MP "--b1\r\nContent-Type: application/didcomm-plain+json; charset=x-no-such\r\n\r\n\xff\xfe{\r\n--b1--\r\n",
		HDR MP "--b1\r\nContent-Type: application/didcomm-encrypted+json\r\n\r\n" JWE,
		HDR "Content-Type: multipart/mixed\r\n\r\n--\r\n--\r\n",
		HDR "Content-Type: application/didcomm-encrypted+json\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n",
		"\r\n\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n----\r\n",
		"Content-Type: ;;;\r\n\r\nx",
		NULL,
	};
	for (size_t i = 0; odd[i]; i++) {
		rc = ex(odd[i], &x);
		CU_ASSERT(rc == DC_OK || x.bad[0]);
		extract_clear(&x);
	}
	/* random bytes */
	uint8_t r[4096];
	for (int k = 0; k < 200; k++) {
		randombytes_buf(r, sizeof r);
		rc = mail_extract((const char *)r, sizeof r, 65536, &x);
		CU_ASSERT(rc == DC_OK || x.bad[0]);
		extract_clear(&x);
	}
}

/* each kind of hostile mail has its own reason, found before anything goes to the gateway */
static void extract_reasons(void)
{
	static const struct {
		const char *mail, *why;
	} t[] = {
		{ HDR MP "--b1\r\nContent-Type: application/didcomm-encrypted+json\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		         "!!!not*base64$$$\r\n--b1--\r\n",
		  "cannot be decoded (broken base64)" },
		/* one character short, data after the padding, a character outside the alphabet */
		{ HDR "Content-Type: application/didcomm-encrypted+json\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		      "eyJwcm90ZWN0ZWQiOiJ\r\n",
		  "broken base64" },
		{ HDR "Content-Type: application/didcomm-encrypted+json\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		      "eyJw==cm90\r\n",
		  "broken base64" },
		{ HDR "Content-Type: application/didcomm-encrypted+json\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		      "eyJw.m90\r\n",
		  "broken base64" },
		{ HDR MP "--b1\r\nContent-Type: application/didcomm-plain+json; charset=x-no-such\r\n\r\n\xff\xfe{\r\n--b1--\r\n",
		  "in charset x-no-such (DIDComm messages are UTF-8)" },
		{ HDR MP "--b1\r\nContent-Type: application/json; charset=utf-16\r\nContent-Disposition: attachment; "
		         "filename=m.json\r\n\r\n" JWE "\r\n--b1--\r\n",
		  "in charset utf-16" },
		{ HDR "Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: application/didcomm-encrypted+json\r\n\r\n" JWE
		      "\r\n--x--\r\n",
		  "malformed MIME: a multipart/mixed with no boundary parameter" },
		{ HDR "Content-Type: multipart/mixed; boundary=y\r\n\r\n--x\r\nContent-Type: application/didcomm-encrypted+json\r\n\r\n" JWE
		      "\r\n--x--\r\n",
		  "malformed MIME: the boundary of a multipart/mixed never occurs" },
		{ NULL, NULL },
	};
	for (size_t i = 0; t[i].mail; i++) {
		struct extract x;
		CU_ASSERT_EQUAL(ex(t[i].mail, &x), DC_ERR_MALFORMED);
		if (!strstr(x.bad, t[i].why))
			fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, x.bad, t[i].why);
		CU_ASSERT_PTR_NOT_NULL(strstr(x.bad, t[i].why));
		extract_clear(&x);
	}
	/* clean base64 on several lines, with padding; utf-8 and us-ascii are fine */
	struct extract x;
	CU_ASSERT_EQUAL(ex(HDR "Content-Type: application/didcomm-encrypted+json; charset=UTF-8\r\n"
	                       "Content-Transfer-Encoding: base64\r\n\r\neyJwcm90ZWN0ZWQiOiJleUowZVhB\r\n"
	                       "aU9pSjRJbjAiLCJyZWNpcGllbnRzIjpbXSwiaXYiOiJhYSIsImNpcGhlcnRleHQiOiJiYiIsInRhZyI6ImNjIn0=\r\n",
	                   &x),
	                DC_OK);
	CU_ASSERT(x.n == 1 && x.p[0].len == strlen(JWE) && memcmp(x.p[0].data, JWE, strlen(JWE)) == 0);
	extract_clear(&x);
	/* nested 100,000 deep (7 MB): refused before libetpan's recursive parser sees it (which
	 * overflows the stack on it), also with the type behind comments and folds */
	for (int v = 0; v < 2; v++) {
		int depth = 100000;
		size_t cap = (size_t)depth * 120 + 1000, o = 0;
		char *m = malloc(cap);
		o += (size_t)snprintf(m + o, cap - o, HDR);
		for (int i = 0; i < depth; i++)
			o += (size_t)(v ? snprintf(m + o, cap - o,
			                           "content-type :\r\n (a (nested) comment) Multipart/Mixed; boundary=\"n%d\"\r\n\r\n--n%d\r\n",
			                           i, i) :
			                  snprintf(m + o, cap - o, "Content-Type: multipart/mixed; boundary=\"n%d\"\r\n\r\n--n%d\r\n", i, i));
		o += (size_t)snprintf(m + o, cap - o, "Content-Type: application/didcomm-encrypted+json\r\n\r\n" JWE "\r\n");
		CU_ASSERT_EQUAL(mail_extract(m, o, 65536, &x), DC_ERR_MALFORMED);
		CU_ASSERT_PTR_NOT_NULL(strstr(x.bad, "multipart/message headers, over"));
		extract_clear(&x);
		free(m);
	}
	/* the gateway's own mails name their part message.dcem: no composite header for that */
	CU_ASSERT_EQUAL(composite_headers("Content-Type: application/didcomm-encrypted+json; name=message.dcem\r\n", 70), 0);
	CU_ASSERT_EQUAL(composite_headers("X: 1\r\nContent-Type: message/rfc822\r\n", 38), 1);
}

static void url_and_config(void)
{
	struct mail_srv s;
	char f[200];
	CU_ASSERT(url_parse("imap://127.0.0.1:1143/INBOX", &s, f, sizeof f) && !strcmp(s.port, "1143") &&
	          !strcmp(f, "INBOX") && !s.tls);
	CU_ASSERT(url_parse("imaps://mail.example", &s, f, sizeof f) && !strcmp(s.port, "993") && !strcmp(f, "INBOX") &&
	          s.tls);
	CU_ASSERT(url_parse("imap://h/Lists.didcomm", &s, f, sizeof f) && !strcmp(f, "Lists.didcomm"));
	CU_ASSERT(!url_parse("imap://h/a\"b", &s, f, sizeof f));
	CU_ASSERT(!url_parse("imap://h/a*", &s, f, sizeof f));
	CU_ASSERT(!url_parse("smtp://h", &s, f, sizeof f));
	struct gw_limits lim = { .max_message_bytes = 65536 };
	struct gw_adapter *ad = NULL;
	struct dc_errinfo ei = { 0 };
	struct gw_conf_value mbv[2] = { { "imap://127.0.0.1:1/Other tag lab", 7 }, { "imap://x tag", 8 } };
	struct imap_conf c = { .url = "imap://127.0.0.1:1/INBOX", .username = "gw", .password_file = "/nonexistent",
		               .processed = "Processed", .rejected = "Rejected", .starttls = "if-offered", .poll_ms = 1000,
		               .timeout_ms = 1000, .max_mail = 1 << 20, .batch = 10, .mailbox = { mbv, 1 } };
	CU_ASSERT_EQUAL_FATAL(gw_ad_imap_under_test.create(&c, &lim, &ad, &ei), DC_OK);
	CU_ASSERT_EQUAL(ad->n_mb, 2);
	CU_ASSERT_STRING_EQUAL(ad->mb[1].tag, "lab");
	CU_ASSERT_STRING_EQUAL(ad->mb[1].folder, "Other");
	gw_ad_imap_under_test.free(ad);
	ad = NULL;
	c.mailbox.v = &mbv[1];
	CU_ASSERT_EQUAL(gw_ad_imap_under_test.create(&c, &lim, &ad, &ei), DC_ERR_INVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "line 8"));
	c.mailbox.n = 0;
	c.rejected = "delete";
	CU_ASSERT_EQUAL(gw_ad_imap_under_test.create(&c, &lim, &ad, &ei), DC_ERR_INVAL);
	c.rejected = "Rejected";
	c.username = NULL;
	CU_ASSERT_EQUAL(gw_ad_imap_under_test.create(&c, &lim, &ad, &ei), DC_ERR_INVAL);
	CU_ASSERT_PTR_NULL(ad);
}

void init_imap_tests(void)
{
	CU_pSuite s = CU_add_suite("imap", NULL, NULL);
	TU_ADD(s, extract_typed);
	TU_ADD(s, extract_sniffed);
	TU_ADD(s, extract_none);
	TU_ADD(s, extract_hostile);
	TU_ADD(s, extract_reasons);
	TU_ADD(s, url_and_config);
}
