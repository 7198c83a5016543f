/* Secrets: private keys by kid.
 *
 * Input: a JSON array (or one object) of private JWKs with "kid" (the spec appendix A.2
 * spells it "kid " with a trailing space: read too), or of {"id","type","privateKeyJwk"}
 * objects (didcomm-rust / DIF style; kid = id); the array may also come wrapped as
 * {"secrets": [...]} (our transcriptions of didcomm-rust's vectors). A load is all or
 * nothing, and one input may not give a kid twice; a later load replaces keys of the same
 * kid.
 *
 * Files: a keystore file must not be accessible by group or others at all (mode & 077 == 0),
 * as ssh treats private keys: a readable secrets file has already leaked, and refusing it is
 * the only way to make that visible. Tests and tools copy the spec's vector files with
 * `install -m 600`. Files are written atomically: a temporary file in the same directory
 * (O_CREAT|O_EXCL, 0600), write, fsync, checked close, rename, fsync of the directory. The
 * text is written with write(2) rather than stdio so that no library buffer keeps a copy.
 * Every buffer that held secret text is zeroed before it is freed (the file buffer is
 * sodium_malloc'd; parsed JSON goes through dc__json_delete_secret). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KS_MAX_FILE (16u << 20)
#define KS_MAX_KEYS 100000
#define KS_DEPTH 16
#define KS_MAX_KID 10240

struct dc_keystore {
	struct dc_key **keys;
	size_t n, cap;
};

dc_err dc_keystore_new(struct dc_keystore **out)
{
	if (!out)
		return DC_ERR_INVAL;
	*out = calloc(1, sizeof **out);
	return *out ? DC_OK : DC_ERR_NOMEM;
}

void dc_keystore_free(struct dc_keystore *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++)
		dc_key_free(ks->keys[i]);
	free(ks->keys);
	free(ks);
}

size_t dc_keystore_count(const struct dc_keystore *ks)
{
	return ks ? ks->n : 0;
}

const struct dc_key *dc_keystore_at(const struct dc_keystore *ks, size_t i)
{
	return ks && i < ks->n ? ks->keys[i] : NULL;
}

static size_t find(const struct dc_keystore *ks, const char *kid)
{
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->keys[i]->kid, kid) == 0)
			return i;
	return (size_t)-1;
}

const struct dc_key *dc_keystore_get(const struct dc_keystore *ks, const char *kid)
{
	if (!ks || !kid)
		return NULL;
	size_t i = find(ks, kid);
	return i == (size_t)-1 ? NULL : ks->keys[i];
}

static dc_err reserve(struct dc_keystore *ks, size_t more)
{
	if (more > KS_MAX_KEYS || ks->n > KS_MAX_KEYS - more)
		return DC_ERR_TOO_BIG;
	if (ks->n + more <= ks->cap)
		return DC_OK;
	size_t nc = ks->cap ? ks->cap : 16;
	while (nc < ks->n + more)
		nc *= 2;
	struct dc_key **nk = realloc(ks->keys, nc * sizeof *nk);
	if (!nk)
		return DC_ERR_NOMEM;
	ks->keys = nk;
	ks->cap = nc;
	return DC_OK;
}

dc_err dc_keystore_take(struct dc_keystore *ks, struct dc_key *k)
{
	if (!k)
		return DC_ERR_INVAL;
	dc_err rc = DC_ERR_INVAL;
	if (!ks || !k->kid || !k->kid[0] || !k->priv)
		goto fail;
	size_t i = find(ks, k->kid);
	if (i != (size_t)-1) { /* replace */
		dc_key_free(ks->keys[i]);
		ks->keys[i] = k;
		return DC_OK;
	}
	if ((rc = reserve(ks, 1)))
		goto fail;
	ks->keys[ks->n++] = k;
	return DC_OK;
fail:
	dc_key_free(k);
	return rc;
}

/* ---- loading ----------------------------------------------------------------------------- */

static dc_err load_one(const cJSON *e, size_t i, struct dc_key **out, struct dc_errinfo *ei)
{
	*out = NULL;
	if (!cJSON_IsObject(e))
		return dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu]: not an object", i);
	const cJSON *jwk = e, *jkid;
	const cJSON *pk = cJSON_GetObjectItemCaseSensitive(e, "privateKeyJwk");
	if (pk) {
		if (!cJSON_IsObject(pk))
			return dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu]: privateKeyJwk is not an object", i);
		jwk = pk;
		jkid = cJSON_GetObjectItemCaseSensitive(e, "id");
	} else {
		jkid = cJSON_GetObjectItemCaseSensitive(e, "kid");
		if (!jkid)
			jkid = cJSON_GetObjectItemCaseSensitive(e, "kid "); /* spec appendix A.2 */
	}
	if (!cJSON_IsString(jkid) || !jkid->valuestring[0] || strlen(jkid->valuestring) > KS_MAX_KID)
		return dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu]: %s is missing, empty or not a string", i,
		                pk ? "id" : "kid");
	const char *kid = jkid->valuestring;
	struct dc_key *k = NULL;
	struct dc_errinfo inner = { 0 };
	dc_err rc = dc__jwk_parse(jwk, &k, &inner);
	if (rc)
		return dc__fail(ei, rc, "secrets[%zu] (%.200s): %s", i, kid, inner.msg[0] ? inner.msg : dc_strerror(rc));
	if (!k->priv) {
		dc_key_free(k);
		return dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu] (%.200s): no private part \"d\"", i, kid);
	}
	if ((rc = dc__key_set_kid(k, kid))) {
		dc_key_free(k);
		return rc;
	}
	*out = k;
	return DC_OK;
}

dc_err dc_keystore_load_text(struct dc_keystore *ks, const char *json, size_t len, struct dc_errinfo *ei)
{
	if (!ks || !json)
		return DC_ERR_INVAL;
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(json, len, KS_DEPTH, &j, ei);
	if (rc)
		return rc;
	size_t n = 0;
	struct dc_key **got = NULL;
	cJSON *list = j;
	if (cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "secrets")) {
		list = cJSON_GetObjectItemCaseSensitive(j, "secrets");
		if (!cJSON_IsArray(list)) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "secrets: \"secrets\" is not an array");
			goto out;
		}
	}
	if (!cJSON_IsObject(list) && !cJSON_IsArray(list)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "secrets: want a JSON array of private JWKs");
		goto out;
	}
	size_t want = cJSON_IsArray(list) ? (size_t)cJSON_GetArraySize(list) : 1;
	if (want > KS_MAX_KEYS) {
		rc = dc__fail(ei, DC_ERR_TOO_BIG, "secrets: more than %d keys", KS_MAX_KEYS);
		goto out;
	}
	if (!(got = calloc(want ? want : 1, sizeof *got))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	for (const cJSON *e = cJSON_IsArray(list) ? list->child : list; e && n < want;
	     e = cJSON_IsArray(list) ? e->next : NULL) {
		if ((rc = load_one(e, n, &got[n], ei)))
			goto out;
		for (size_t k = 0; k < n; k++)
			if (strcmp(got[k]->kid, got[n]->kid) == 0) {
				rc = dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu]: kid %.200s given twice", n, got[n]->kid);
				n++;
				goto out;
			}
		n++;
	}
	if ((rc = reserve(ks, n))) {
		dc__fail(ei, rc, "secrets: %s", rc == DC_ERR_TOO_BIG ? "too many keys" : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) { /* cannot fail now: room is reserved */
		size_t at = find(ks, got[i]->kid);
		if (at == (size_t)-1) {
			ks->keys[ks->n++] = got[i];
		} else {
			dc_key_free(ks->keys[at]);
			ks->keys[at] = got[i];
		}
		got[i] = NULL;
	}
out:
	for (size_t i = 0; got && i < n; i++)
		dc_key_free(got[i]);
	free(got);
	dc__json_delete_secret(j);
	return rc;
}

dc_err dc_keystore_load_file(struct dc_keystore *ks, const char *path, struct dc_errinfo *ei)
{
	if (!ks || !path)
		return DC_ERR_INVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dc__fail(ei, DC_ERR_IO, "cannot open %.200s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dc__fail(ei, DC_ERR_IO, "%.200s: not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return dc__fail(ei, DC_ERR_DENIED,
		                "%.200s: secrets file is accessible by group or others (mode %03o; want 600: chmod 600 it)",
		                path, (unsigned)(st.st_mode & 0777));
	}
	if ((uintmax_t)st.st_size > KS_MAX_FILE) {
		close(fd);
		return dc__fail(ei, DC_ERR_TOO_BIG, "%.200s: secrets file over %u bytes", path, KS_MAX_FILE);
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *b = sodium_malloc(cap);
	if (!b) {
		close(fd);
		return DC_ERR_NOMEM;
	}
	dc_err rc = DC_OK;
	while (n < cap - 1) {
		ssize_t r = read(fd, b + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = dc__fail(ei, DC_ERR_IO, "reading %.200s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc == DC_OK) {
		struct dc_errinfo inner = { 0 };
		rc = dc_keystore_load_text(ks, b, n, &inner);
		if (rc)
			dc__fail(ei, rc, "%.200s: %s", path, inner.msg[0] ? inner.msg : dc_strerror(rc));
	}
	sodium_free(b); /* zeroes */
	return rc;
}

/* ---- saving ------------------------------------------------------------------------------ */

/* The array printed into a sodium_malloc'd buffer (cJSON's own printer would leave copies of
 * the secrets in freed heap as it grows its buffer). *cap: the buffer size for sodium_free. */
static dc_err print_secret(const cJSON *arr, char **out, size_t *cap)
{
	*out = NULL;
	size_t c = 4096;
	for (;;) {
		char *b = sodium_malloc(c);
		if (!b)
			return DC_ERR_NOMEM;
		if (cJSON_PrintPreallocated((cJSON *)arr, b, (int)c, true)) {
			*out = b;
			*cap = c;
			return DC_OK;
		}
		sodium_free(b);
		if (c >= (size_t)KS_MAX_FILE)
			return DC_ERR_TOO_BIG;
		c *= 2;
	}
}


dc_err dc_keystore_save_file(const struct dc_keystore *ks, const char *path, struct dc_errinfo *ei)
{
	if (!ks || !path || !path[0])
		return DC_ERR_INVAL;
	cJSON *arr = cJSON_CreateArray();
	char *txt = NULL, *tmp = NULL, *dirc = NULL;
	size_t txt_cap = 0;
	int fd = -1;
	dc_err rc = DC_ERR_NOMEM;
	if (!arr)
		return DC_ERR_NOMEM;
	for (size_t i = 0; i < ks->n; i++) {
		cJSON *k = NULL;
		if ((rc = dc__jwk_to_json(ks->keys[i], true, true, &k)))
			goto out;
		if (!cJSON_AddItemToArray(arr, k)) {
			dc__json_delete_secret(k);
			rc = DC_ERR_NOMEM;
			goto out;
		}
	}
	if ((rc = print_secret(arr, &txt, &txt_cap))) {
		dc__fail(ei, rc, "saving %.200s: %s", path, rc == DC_ERR_TOO_BIG ? "too big" : "out of memory");
		goto out;
	}
	rc = DC_ERR_NOMEM;
	size_t n = strlen(path) + 32;
	if (!(tmp = malloc(n)) || !(dirc = strdup(path)))
		goto out;
	uint8_t rnd[6];
	randombytes_buf(rnd, sizeof rnd);
	snprintf(tmp, n, "%s.tmp%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = dc__fail(ei, DC_ERR_IO, "cannot create %.200s: %s", tmp, strerror(errno));
		free(tmp); /* not ours: do not unlink it */
		tmp = NULL;
		goto out;
	}
	if (dc__write_all(fd, txt, strlen(txt)) || dc__write_all(fd, "\n", 1) || fsync(fd) != 0) {
		rc = dc__fail(ei, DC_ERR_IO, "writing %.200s: %s", tmp, strerror(errno));
		goto out;
	}
	int cr = close(fd);
	fd = -1;
	if (cr != 0) {
		rc = dc__fail(ei, DC_ERR_IO, "closing %.200s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0) {
		rc = dc__fail(ei, DC_ERR_IO, "renaming %.200s to %.200s: %s", tmp, path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* make the rename durable; a directory that cannot be opened or synced (some
	 * filesystems refuse) is reported */
	int dfd = open(dirname(dirc), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
		rc = dc__fail(ei, DC_ERR_IO, "%.200s written, but syncing its directory failed: %s", path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	rc = DC_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dirc);
	if (txt)
		sodium_free(txt); /* zeroes */
	dc__json_delete_secret(arr);
	return rc;
}
