/* unpack: peel envelopes one layer at a time, enforcing the spec's allowed nesting
 * (anoncrypt? -> authcrypt? -> signed? -> plaintext, a forward addressed to our own keys
 * starting the sequence again) and its addressing MUSTs (from == skid DID, from == signer
 * DID, the signer of authcrypt(sign) == the authcrypt sender, to contains our DID).
 * The plaintext comes out as the exact bytes the sender wrote. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TYP_PLAIN "application/didcomm-plain+json"
#define TYP_SIGNED "application/didcomm-signed+json"
#define TYP_ENC "application/didcomm-encrypted+json"

struct state {
	bool anon, auth, sign;   /* layers seen since the last forward */
	char *skid;              /* authcrypt sender kid */
	char *signer;            /* signer kid */
	char *rcpt_kid;          /* kid we decrypted the innermost layer with */
};

static void state_clear(struct state *s)
{
	free(s->skid);
	free(s->signer);
	free(s->rcpt_kid);
	memset(s, 0, sizeof *s);
}

static bool typ_is(const char *typ, const char *want)
{
	/* a media type without '/' carries the application/ prefix (spec §IANA Media Types) */
	if (!strchr(typ, '/'))
		return strcmp(typ, want + strlen("application/")) == 0;
	return strcmp(typ, want) == 0;
}

static bool did_eq(const char *a, const char *b)
{
	size_t la = strcspn(a, "#?/"), lb = strcspn(b, "#?/");
	return la == lb && strncmp(a, b, la) == 0;
}

/* did_eq for a text that is not NUL-terminated */
static bool did_eq_n(const struct dc_span *a, const char *b)
{
	size_t la = 0, lb = strcspn(b, "#?/");
	while (la < a->n && a->p[la] != '#' && a->p[la] != '?' && a->p[la] != '/')
		la++;
	return la == lb && memcmp(a->p, b, la) == 0;
}

static int shown(size_t n)
{
	return n > 200 ? 200 : (int)n;
}

void dc_unpack_meta_free(struct dc_unpack_meta *m)
{
	if (!m)
		return;
	free(m->encrypted_from_kid);
	for (size_t i = 0; i < m->n_encrypted_to_kids; i++)
		free(m->encrypted_to_kids[i]);
	free(m->encrypted_to_kids);
	free(m->sign_from);
	free(m->enc_alg_auth);
	free(m->enc_alg_anon);
	free(m->sign_alg);
	free(m->from_prior_issuer_kid);
	free(m->from_prior_json);
	free(m);
}

static char *alg_text(const struct dc_jwe *jwe)
{
	/* "ALG/ENC", both names from fixed tables (no snprintf: it is a tenth of a microsecond) */
	const char *a = dc__kw_alg_name(jwe->alg), *e = dc__enc_name(jwe->enc);
	size_t an = strlen(a), en = strlen(e);
	char *t = malloc(an + en + 2);
	if (t) {
		memcpy(t, a, an);
		t[an] = '/';
		memcpy(t + an + 1, e, en + 1);
	}
	return t;
}

static dc_err set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
	return (src && !*dst) ? DC_ERR_NOMEM : DC_OK;
}

/* One JWE layer, parsed (jwe is freed here). On success *pt is the payload (malloc'd). */
static dc_err open_jwe(struct dc_op *op, struct dc_jwe *jwe, struct state *st, struct dc_unpack_meta *m, bool first,
                       uint8_t **pt, size_t *pt_len)
{
	const struct dc_keystore *ks = op->c->ks;
	dc_err rc;
	if (jwe->typ && !typ_is(jwe->typ, TYP_ENC)) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "encrypted message: typ is %.100s", jwe->typ);
		goto out;
	}
	bool is_auth = jwe->alg == DC_ALG_ECDH_1PU_A256KW;
	if (is_auth ? (st->auth || st->sign) : (st->anon || st->auth || st->sign)) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "%s layer inside a %s layer is not an allowed DIDComm nesting",
		              is_auth ? "authcrypt" : "anoncrypt", st->sign ? "signed" : st->auth ? "authcrypt" : "anoncrypt");
		goto out;
	}
	const struct dc_key *sender = NULL;
	if (is_auth) {
		if (!jwe->skid) {
			rc = dc__fail(op->ei, DC_ERR_MALFORMED, "authcrypt: no skid and no apu");
			goto out;
		}
		if ((rc = dc__op_key(op, jwe->skid, DC_REL_KA, &sender)))
			goto out;
	}
	size_t held = 0;
	for (size_t i = 0; i < jwe->n_rcpts; i++)
		if (dc_keystore_get(ks, jwe->rcpts[i].kid))
			held++;
	if (!held) {
		char list[200];
		size_t o = 0;
		list[0] = 0;
		for (size_t i = 0; i < jwe->n_rcpts && o < sizeof list - 1; i++) {
			int w = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", jwe->rcpts[i].kid);
			if (w < 0)
				break;
			o += (size_t)w;
		}
		rc = dc__fail(op->ei, DC_ERR_NOT_FOUND, "no secret for any recipient kid: %s%s", list,
		              o >= sizeof list - 1 ? "..." : "");
		goto out;
	}
	rc = DC_ERR_CRYPTO;
	size_t used = 0;
	for (size_t i = 0; i < jwe->n_rcpts && rc; i++) {
		const struct dc_key *k = dc_keystore_get(ks, jwe->rcpts[i].kid);
		if (!k)
			continue;
		rc = dc__jwe_decrypt(jwe, i, k, sender, pt, pt_len, op->ei);
		used = i;
	}
	if (rc) {
		dc__fail(op->ei, DC_ERR_CRYPTO, "%s message: decryption failed", is_auth ? "authcrypt" : "anoncrypt");
		goto out;
	}
	if ((rc = set_str(&st->rcpt_kid, jwe->rcpts[used].kid)))
		goto out;
	m->encrypted = true;
	if (first) {
		m->encrypted_to_kids = calloc(held, sizeof *m->encrypted_to_kids);
		if (!m->encrypted_to_kids) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < jwe->n_rcpts; i++) {
			if (!dc_keystore_get(ks, jwe->rcpts[i].kid))
				continue;
			if (!(m->encrypted_to_kids[m->n_encrypted_to_kids] = strdup(jwe->rcpts[i].kid))) {
				rc = DC_ERR_NOMEM;
				goto out;
			}
			m->n_encrypted_to_kids++;
		}
	}
	if (is_auth) {
		st->auth = true;
		m->authenticated = true;
		if ((rc = set_str(&st->skid, jwe->skid)) || (rc = set_str(&m->encrypted_from_kid, jwe->skid)))
			goto out;
		free(m->enc_alg_auth);
		m->enc_alg_auth = alg_text(jwe);
	} else {
		st->anon = true;
		m->anonymous_sender = true;
		free(m->enc_alg_anon);
		m->enc_alg_anon = alg_text(jwe);
	}
out:
	if (rc && *pt) {
		free(*pt);
		*pt = NULL;
	}
	dc__jwe_free(jwe);
	return rc;
}

/* One JWS layer, parsed (jws is freed here). On success *pl is the payload (malloc'd). */
static dc_err open_jws(struct dc_op *op, struct dc_jws *jws, struct state *st, struct dc_unpack_meta *m, uint8_t **pl,
                       size_t *pl_len)
{
	dc_err rc;
	if (st->sign) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "signed layer inside a signed layer");
		goto out;
	}
	if (jws->n_sigs == 0) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "signed message: no signature");
		goto out;
	}
	for (size_t i = 0; i < jws->n_sigs; i++) {
		const struct dc_jws_sig *s = &jws->sigs[i];
		const struct dc_key *pub = NULL;
		if (!s->kid) {
			rc = dc__fail(op->ei, DC_ERR_MALFORMED, "signed message: signature %zu has no kid", i);
			goto out;
		}
		if (s->typ && !typ_is(s->typ, TYP_SIGNED)) {
			rc = dc__fail(op->ei, DC_ERR_MALFORMED, "signed message: typ is %.100s", s->typ);
			goto out;
		}
		if ((rc = dc__op_key(op, s->kid, DC_REL_AUTH, &pub)))
			goto out;
		if ((rc = dc__jws_verify(jws, i, pub))) {
			rc = dc__fail(op->ei, DC_ERR_CRYPTO, "signed message: signature by %.200s does not verify", s->kid);
			goto out;
		}
	}
	const char *kid = jws->sigs[0].kid;
	if (st->auth && !did_eq(kid, st->skid)) {
		rc = dc__fail(op->ei, DC_ERR_DENIED, "signer %.200s is not the authcrypt sender %.200s", kid, st->skid);
		goto out;
	}
	st->sign = true;
	m->non_repudiation = true;
	m->authenticated = true;
	if ((rc = set_str(&st->signer, kid)) || (rc = set_str(&m->sign_from, kid)) ||
	    (rc = set_str(&m->sign_alg, dc__sig_alg_name(jws->sigs[0].alg))))
		goto out;
	*pl = jws->payload;
	*pl_len = jws->payload_len;
	jws->payload = NULL;
out:
	dc__jws_free(jws);
	return rc;
}

static dc_err check_from_prior(struct dc_op *op, const char *fp, const char *from, struct dc_unpack_meta *m)
{
	struct dc_jwt *jwt = NULL;
	const struct dc_key *pub = NULL;
	dc_err rc = dc__jwt_parse(fp, strlen(fp), &jwt, op->ei);
	if (rc)
		return rc;
	const char *iss = dc__json_str(jwt->payload, "iss"), *sub = dc__json_str(jwt->payload, "sub");
	if (!jwt->kid || !iss) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "from_prior: no kid or no iss");
		goto out;
	}
	if (!did_eq(jwt->kid, iss)) {
		rc = dc__fail(op->ei, DC_ERR_DENIED, "from_prior: kid %.200s is not a key of iss %.200s", jwt->kid, iss);
		goto out;
	}
	const cJSON *sub_j = dc__json_get(jwt->payload, "sub"), *iat = dc__json_get(jwt->payload, "iat");
	if (!dc__is_did(iss) || (sub_j && (!sub || !dc__is_did(sub)))) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "from_prior: iss or sub is not a DID");
		goto out;
	}
	if (iat && !cJSON_IsNumber(iat)) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "from_prior: iat is not a number");
		goto out;
	}
	if (sub && did_eq(sub, iss)) {
		rc = dc__fail(op->ei, DC_ERR_MALFORMED, "from_prior: iss and sub are the same DID");
		goto out;
	}
	/* a rotation message comes from the new DID (sub); one that ends the relationship has
	 * neither sub nor from */
	if (sub ? !from || !did_eq(sub, from) : from != NULL) {
		rc = dc__fail(op->ei, DC_ERR_DENIED, "from_prior: sub %.200s is not the message's from %.200s",
		              sub ? sub : "(none)", from ? from : "(none)");
		goto out;
	}
	if ((rc = dc__op_key(op, jwt->kid, DC_REL_AUTH, &pub)))
		goto out;
	if (dc__verify(pub, jwt->alg, (const uint8_t *)jwt->signing_input, strlen(jwt->signing_input), jwt->sig,
	               jwt->sig_len)) {
		rc = dc__fail(op->ei, DC_ERR_CRYPTO, "from_prior: signature by %.200s does not verify", jwt->kid);
		goto out;
	}
	if ((rc = set_str(&m->from_prior_issuer_kid, jwt->kid)))
		goto out;
	m->from_prior_json = cJSON_PrintUnformatted(jwt->payload);
	if (!m->from_prior_json)
		rc = DC_ERR_NOMEM;
out:
	dc__jwt_free(jwt);
	return rc;
}

static bool has_secret_for_jwe(const struct dc_keystore *ks, const cJSON *env)
{
	const cJSON *rcpts = dc__json_arr(env, "recipients"), *r;
	cJSON_ArrayForEach(r, rcpts)
	{
		const char *kid = dc__json_str(dc__json_obj(r, "header"), "kid");
		if (kid && dc_keystore_get(ks, kid))
			return true;
	}
	return false;
}

static bool int_field(const cJSON *msg, const char *name, int64_t *v)
{
	const cJSON *t = dc__json_get(msg, name);
	if (!cJSON_IsNumber(t))
		return false;
	*v = (int64_t)t->valuedouble;
	return true;
}

/* The headers of a valid plaintext message against the layers around it (from against the
 * authcrypt sender and the signer, to against our recipient key), its from_prior, its times;
 * from the scan pl, or from the tree j when pl is NULL. */
static dc_err plain_headers(struct dc_op *op, const struct state *st, const cJSON *j, const struct dc_plain *pl,
                            struct dc_unpack_meta *m)
{
	const char *from_s = pl ? NULL : dc__json_str(j, "from");
	struct dc_span from = { NULL, 0 };
	if (pl && pl->has_from)
		from = pl->from;
	else if (from_s)
		from = (struct dc_span){ from_s, strlen(from_s) };
	if (st->auth && (!from.p || !did_eq_n(&from, st->skid)))
		return dc__fail(op->ei, DC_ERR_DENIED, "from (%.*s) does not match the authcrypt sender %.200s",
		                from.p ? shown(from.n) : 6, from.p ? from.p : "absent", st->skid);
	if (st->sign && from.p && !did_eq_n(&from, st->signer))
		return dc__fail(op->ei, DC_ERR_DENIED, "from (%.*s) does not match the signer %.200s", shown(from.n),
		                from.p, st->signer);
	if (st->rcpt_kid) {
		bool found;
		if (pl) {
			found = !pl->has_to;
			for (size_t i = 0; i < pl->n_to && !found; i++)
				found = did_eq_n(&pl->to[i], st->rcpt_kid);
		} else {
			const cJSON *to = dc__json_arr(j, "to"), *t;
			found = !to;
			cJSON_ArrayForEach(t, to) if (cJSON_IsString(t) && did_eq(t->valuestring, st->rcpt_kid)) found = true;
		}
		if (!found)
			return dc__fail(op->ei, DC_ERR_DENIED,
			                "the message's to header does not name the recipient of %.200s", st->rcpt_kid);
	}
	dc_err rc;
	const char *fp = pl ? NULL : dc__json_str(j, "from_prior"); /* the scan declines from_prior */
	if (fp && (rc = check_from_prior(op, fp, from_s, m)))
		return rc;
	if (pl) {
		m->has_created_time = pl->has_created_time;
		m->created_time = pl->created_time;
		m->has_expires_time = pl->has_expires_time;
		m->expires_time = pl->expires_time;
	} else {
		m->has_created_time = int_field(j, "created_time", &m->created_time);
		m->has_expires_time = int_field(j, "expires_time", &m->expires_time);
	}
	m->expired = m->has_expires_time && m->expires_time < (int64_t)time(NULL);
	return DC_OK;
}

dc_err dc_unpack(struct dc_ctx *c, const char *in, size_t len, const struct dc_unpack_opts *o, char **msg_out,
                 struct dc_unpack_meta **meta_out, struct dc_errinfo *ei)
{
	return dc__unpack_j(c, NULL, NULL, in, len, o, msg_out, NULL, meta_out, ei);
}

dc_err dc__unpack_j(struct dc_ctx *c, cJSON *first, struct dc_jwe *first_jwe, const char *in, size_t len, const struct dc_unpack_opts *o,
                    char **msg_out, cJSON **msg_json_out, struct dc_unpack_meta **meta_out, struct dc_errinfo *ei)
{
	struct dc_op op;
	struct state st = { 0 };
	struct dc_unpack_meta *m = NULL;
	uint8_t *buf = NULL; /* owns the current layer's bytes once past the caller's input */
	const char *data = in;
	size_t data_len = len;
	cJSON *j = NULL;
	dc_err rc;
	bool unwrap = o ? o->unwrap_forwards : true;

	if (msg_out)
		*msg_out = NULL;
	if (msg_json_out)
		*msg_json_out = NULL;
	if (meta_out)
		*meta_out = NULL;
	if (!c || !in || !msg_out) {
		cJSON_Delete(first);
		dc__jwe_free(first_jwe);
		return DC_ERR_INVAL;
	}
	dc__op_init(&op, c, ei);
	if (len > c->lim.max_message_bytes) {
		cJSON_Delete(first);
		dc__jwe_free(first_jwe);
		return dc__fail(ei, DC_ERR_TOO_BIG, "message of %zu bytes is over the limit of %zu", len,
		                c->lim.max_message_bytes);
	}
	m = calloc(1, sizeof *m);
	if (!m) {
		cJSON_Delete(first);
		dc__jwe_free(first_jwe);
		return DC_ERR_NOMEM;
	}

	size_t max_layers = 3 * (c->lim.max_forward_depth + 1);
	/* the scanner's shape nests 4 deep: with a tighter bound the JSON parser decides */
	bool scan_ok = c->lim.max_json_depth == 0 || c->lim.max_json_depth >= 4;
	bool first_enc = true;
	for (size_t layer = 0;; layer++) {
		if (layer >= max_layers) {
			rc = dc__fail(ei, DC_ERR_TOO_BIG, "more than %zu nested envelopes", max_layers);
			goto out;
		}
		struct dc_jwe *jwe = first_jwe;
		struct dc_jws *jws = NULL;
		struct dc_plain pl;
		bool plain = false; /* a plaintext read in place, pl its headers */
		first_jwe = NULL;
		rc = DC_OK;
		if (jwe) {
			/* the caller read the outermost envelope already */
		} else if (first) { /* the caller parsed the outermost layer already */
			j = first;
			first = NULL;
		} else if (scan_ok && (dc__jwe_scan(data, data_len, c->lim.max_recipients, &jwe, &rc, ei) ||
		                       dc__jws_scan(data, data_len, &jws, &rc, ei))) {
			if (rc) /* an envelope of the usual shape read without a JSON tree */
				goto out;
		} else if (scan_ok && !msg_json_out && dc__plain_scan(data, data_len, c->lim.max_json_depth, &pl)) {
			plain = true; /* a plaintext message, valid, read without a JSON tree */
		} else if ((rc = dc__json_parse(data, data_len, c->lim.max_json_depth, &j, ei))) {
			goto out;
		}
		if (!jwe && !jws && !plain && !cJSON_IsObject(j)) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "message: not a JSON object");
			goto out;
		}
		uint8_t *next = NULL;
		size_t next_len = 0;
		if (jwe || (!plain && dc__json_get(j, "ciphertext"))) {
			/* the tree goes as soon as the JWE is parsed (its decoded copy is all we need): a
			 * large message is then held once as text, once as ciphertext, once as plaintext */
			if (!jwe) {
				rc = dc__jwe_parse(j, c->lim.max_recipients, &jwe, ei);
				cJSON_Delete(j);
				j = NULL;
			}
			if (!rc)
				rc = open_jwe(&op, jwe, &st, m, first_enc, &next, &next_len);
			first_enc = false;
		} else if (jws || (!plain && dc__json_get(j, "payload") &&
		                   (dc__json_get(j, "signatures") || dc__json_get(j, "signature")))) {
			if (!jws)
				rc = dc__jws_parse(j, &jws, ei);
			if (!rc)
				rc = open_jws(&op, jws, &st, m, &next, &next_len);
		} else {
			/* plaintext; the scan checked what dc__msg_validate checks, and it reads no
			 * attachments, so what it read is no forward to unwrap */
			if (!plain && (rc = dc__msg_validate(j, &c->lim, ei)))
				goto out;
			const char *typ = plain ? NULL : dc__json_str(j, "typ");
			if (typ && !typ_is(typ, TYP_PLAIN)) {
				rc = dc__fail(ei, DC_ERR_MALFORMED, "plaintext: typ is %.100s", typ);
				goto out;
			}
			const char *type = plain ? NULL : dc__json_str(j, "type");
			if (unwrap && type && strcmp(type, DC_TYPE_FORWARD) == 0) {
				const cJSON *att = cJSON_GetArrayItem(dc__json_arr(j, "attachments"), 0);
				const cJSON *env = dc__json_obj(dc__json_obj(att, "data"), "json");
				if (env && has_secret_for_jwe(c->ks, env)) {
					char *txt = cJSON_PrintUnformatted(env);
					if (!txt) {
						rc = DC_ERR_NOMEM;
						goto out;
					}
					m->re_wrapped_in_forward = true;
					state_clear(&st);
					first_enc = true;
					free(m->enc_alg_anon);
					free(m->enc_alg_auth);
					free(m->encrypted_from_kid);
					m->enc_alg_anon = m->enc_alg_auth = m->encrypted_from_kid = NULL;
					for (size_t i = 0; i < m->n_encrypted_to_kids; i++)
						free(m->encrypted_to_kids[i]);
					free(m->encrypted_to_kids);
					m->encrypted_to_kids = NULL;
					m->n_encrypted_to_kids = 0;
					m->anonymous_sender = m->authenticated = false;
					cJSON_Delete(j);
					j = NULL;
					free(buf);
					buf = (uint8_t *)txt;
					data = txt;
					data_len = strlen(txt);
					continue;
				}
			}
			if ((rc = plain_headers(&op, &st, j, plain ? &pl : NULL, m)))
				goto out;
			char *txt;
			if (buf && data == (const char *)buf) { /* our own buffer: hand it over */
				txt = (char *)buf;
				buf = NULL;
			} else {
				if (!(txt = malloc(data_len + 1))) {
					rc = DC_ERR_NOMEM;
					goto out;
				}
				memcpy(txt, data, data_len);
			}
			txt[data_len] = 0;
			*msg_out = txt;
			if (msg_json_out) { /* the parsed plaintext too, for a caller that reads it */
				*msg_json_out = j;
				j = NULL;
			}
			rc = DC_OK;
			goto out;
		}
		if (rc)
			goto out;
		cJSON_Delete(j);
		j = NULL;
		free(buf);
		buf = next;
		data = (const char *)next;
		data_len = next_len;
	}
out:
	cJSON_Delete(j);
	free(buf);
	state_clear(&st);
	dc__op_clear(&op);
	if (rc) {
		if (ei && ei->msg[0] == 0)
			dc__fail(ei, rc, "unpack: %s", dc_strerror(rc));
		dc_unpack_meta_free(m);
		return rc;
	}
	if (meta_out)
		*meta_out = m;
	else
		dc_unpack_meta_free(m);
	return DC_OK;
}

static void add_str(cJSON *o, const char *name, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

dc_err dc_unpack_meta_print(const struct dc_unpack_meta *m, char **out)
{
	*out = NULL;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return DC_ERR_NOMEM;
	cJSON_AddBoolToObject(o, "encrypted", m->encrypted);
	cJSON_AddBoolToObject(o, "authenticated", m->authenticated);
	cJSON_AddBoolToObject(o, "non_repudiation", m->non_repudiation);
	cJSON_AddBoolToObject(o, "anonymous_sender", m->anonymous_sender);
	cJSON_AddBoolToObject(o, "re_wrapped_in_forward", m->re_wrapped_in_forward);
	add_str(o, "encrypted_from_kid", m->encrypted_from_kid);
	if (m->encrypted) {
		cJSON *kids = cJSON_AddArrayToObject(o, "encrypted_to_kids");
		for (size_t i = 0; kids && i < m->n_encrypted_to_kids; i++)
			cJSON_AddItemToArray(kids, cJSON_CreateString(m->encrypted_to_kids[i]));
	} else {
		cJSON_AddNullToObject(o, "encrypted_to_kids"); /* as didcomm-rust reports it */
	}
	add_str(o, "sign_from", m->sign_from);
	add_str(o, "sign_alg", m->sign_alg);
	add_str(o, "enc_alg_auth", m->enc_alg_auth);
	add_str(o, "enc_alg_anon", m->enc_alg_anon);
	add_str(o, "from_prior_issuer_kid", m->from_prior_issuer_kid);
	cJSON *fp = m->from_prior_json ? cJSON_Parse(m->from_prior_json) : NULL;
	if (fp)
		cJSON_AddItemToObject(o, "from_prior", fp);
	else
		cJSON_AddNullToObject(o, "from_prior");
	if (m->has_created_time)
		cJSON_AddNumberToObject(o, "created_time", (double)m->created_time);
	if (m->has_expires_time)
		cJSON_AddNumberToObject(o, "expires_time", (double)m->expires_time);
	cJSON_AddBoolToObject(o, "expired", m->expired);
	*out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return *out ? DC_OK : DC_ERR_NOMEM;
}
