/* Secrets: private JWKs with kid, in a JSON array file kept 0600. Loading accepts plain JWKs
 * with "kid" (also the spec appendix's "kid " typo) and {"id","type","privateKeyJwk"}.
 * Files readable or writable by group or others are refused: a keystore must be 0600. */
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

struct dc_keystore {
	struct dc_key **keys;
	size_t n, cap;
};

dc_err dc_keystore_new(struct dc_keystore **out)
{
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
	return ks->n;
}

const struct dc_key *dc_keystore_get(const struct dc_keystore *ks, const char *kid)
{
	if (!ks || !kid)
		return NULL;
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->keys[i]->kid, kid) == 0)
			return ks->keys[i];
	return NULL;
}

dc_err dc_keystore_take(struct dc_keystore *ks, struct dc_key *k)
{
	if (!k)
		return DC_ERR_INVAL;
	if (!k->kid || !k->priv) {
		dc_key_free(k);
		return DC_ERR_INVAL;
	}
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->keys[i]->kid, k->kid) == 0) { /* replace */
			dc_key_free(ks->keys[i]);
			ks->keys[i] = k;
			return DC_OK;
		}
	if (ks->n >= KS_MAX_KEYS) {
		dc_key_free(k);
		return DC_ERR_TOO_BIG;
	}
	if (ks->n == ks->cap) {
		size_t nc = ks->cap ? ks->cap * 2 : 16;
		struct dc_key **nk = realloc(ks->keys, nc * sizeof *nk);
		if (!nk) {
			dc_key_free(k);
			return DC_ERR_NOMEM;
		}
		ks->keys = nk;
		ks->cap = nc;
	}
	ks->keys[ks->n++] = k;
	return DC_OK;
}

static dc_err load_one(struct dc_keystore *ks, const cJSON *e, size_t i, struct dc_errinfo *ei)
{
	const cJSON *jwk = e;
	const char *kid = dc__json_str(e, "kid");
	if (!kid)
		kid = dc__json_str(e, "kid "); /* DIDComm spec appendix A.2 spells it so */
	const cJSON *pk = dc__json_obj(e, "privateKeyJwk");
	if (pk) {
		jwk = pk;
		kid = dc__json_str(e, "id");
	}
	if (!kid || !*kid)
		return dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu]: no kid", i);
	struct dc_key *k = NULL;
	struct dc_errinfo inner = { 0 };
	dc_err rc = dc__jwk_parse(jwk, &k, &inner);
	if (rc)
		return dc__fail(ei, rc, "secrets[%zu] (%.200s): %s", i, kid, inner.msg);
	if (!k->priv) {
		dc_key_free(k);
		return dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu] (%.200s): no private part d", i, kid);
	}
	if ((rc = dc__key_set_kid(k, kid))) {
		dc_key_free(k);
		return rc;
	}
	return dc_keystore_take(ks, k);
}

dc_err dc_keystore_load_text(struct dc_keystore *ks, const char *json, size_t len, struct dc_errinfo *ei)
{
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(json, len, 16, &j, ei);
	if (rc)
		return rc;
	if (cJSON_IsObject(j)) {
		rc = load_one(ks, j, 0, ei);
	} else if (cJSON_IsArray(j)) {
		size_t i = 0;
		const cJSON *e;
		cJSON_ArrayForEach(e, j)
		{
			if (!cJSON_IsObject(e)) {
				rc = dc__fail(ei, DC_ERR_MALFORMED, "secrets[%zu]: not an object", i);
				break;
			}
			if ((rc = load_one(ks, e, i++, ei)))
				break;
		}
	} else {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "secrets: want a JSON array of private JWKs");
	}
	dc__json_delete_secret(j);
	return rc;
}

dc_err dc_keystore_load_file(struct dc_keystore *ks, const char *path, struct dc_errinfo *ei)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dc__fail(ei, DC_ERR_IO, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dc__fail(ei, DC_ERR_IO, "not a regular file");
	}
	if (st.st_mode & 077) {
		close(fd);
		return dc__fail(ei, DC_ERR_DENIED, "secrets file is accessible by group or others (mode %03o; want 600)",
		                (unsigned)(st.st_mode & 0777));
	}
	if ((size_t)st.st_size > KS_MAX_FILE) {
		close(fd);
		return dc__fail(ei, DC_ERR_TOO_BIG, "secrets file over %u bytes", KS_MAX_FILE);
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *b = sodium_malloc(cap);
	if (!b) {
		close(fd);
		return DC_ERR_NOMEM;
	}
	while (n < cap - 1) {
		ssize_t r = read(fd, b + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	dc_err rc = dc_keystore_load_text(ks, b, n, ei);
	sodium_free(b); /* zeroes */
	return rc;
}

dc_err dc_keystore_save_file(const struct dc_keystore *ks, const char *path, struct dc_errinfo *ei)
{
	cJSON *arr = cJSON_CreateArray();
	char *txt = NULL, *tmp = NULL, *dirc = NULL;
	int fd = -1;
	dc_err rc = DC_ERR_NOMEM;
	if (!arr)
		return DC_ERR_NOMEM;
	for (size_t i = 0; i < ks->n; i++) {
		cJSON *k = NULL;
		if (dc__jwk_to_json(ks->keys[i], true, true, &k))
			goto out;
		cJSON_AddItemToArray(arr, k);
	}
	if (!(txt = cJSON_Print(arr)))
		goto out;
	size_t n = strlen(path) + 32;
	if (!(tmp = malloc(n)) || !(dirc = strdup(path)))
		goto out;
	unsigned char rnd[8];
	randombytes_buf(rnd, sizeof rnd);
	snprintf(tmp, n, "%s.tmp%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2], rnd[3]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = dc__fail(ei, DC_ERR_IO, "cannot create %.200s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t len = strlen(txt), off = 0;
	while (off < len) {
		ssize_t w = write(fd, txt + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = dc__fail(ei, DC_ERR_IO, "writing %.200s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		rc = dc__fail(ei, DC_ERR_IO, "writing %.200s: %s", tmp, strerror(errno));
		goto out;
	}
	int cr = close(fd);
	fd = -1;
	if (cr != 0 || rename(tmp, path) != 0) {
		rc = dc__fail(ei, DC_ERR_IO, "saving %.200s: %s", path, strerror(errno));
		goto out;
	}
	int dfd = open(dirname(dirc), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd); /* make the rename durable */
		close(dfd);
	}
	free(tmp);
	tmp = NULL;
	rc = DC_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dirc);
	if (txt) {
		sodium_memzero(txt, strlen(txt));
		free(txt);
	}
	dc__json_delete_secret(arr);
	return rc;
}
