/* Per-operation DID resolution: bounded count, documents held until the operation ends. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void dc__op_init(struct dc_op *op, struct dc_ctx *c, struct dc_errinfo *ei)
{
	memset(op, 0, sizeof *op);
	op->c = c;
	op->ei = ei;
}

void dc__op_clear(struct dc_op *op)
{
	for (size_t i = 0; i < op->n_docs; i++)
		dc_did_doc_free(op->docs[i]);
	op->n_docs = 0;
}

dc_err dc__op_resolve(struct dc_op *op, const char *did_or_url, const struct dc_did_doc **out)
{
	*out = NULL;
	char *did = NULL;
	dc_err rc = dc__did_of(did_or_url, &did);
	if (rc)
		return dc__fail(op->ei, rc, "not a DID or DID URL: %.200s", did_or_url);
	for (size_t i = 0; i < op->n_docs; i++) {
		if (strcmp(op->docs[i]->id, did) == 0) {
			*out = op->docs[i];
			free(did);
			return DC_OK;
		}
	}
	if (op->n_resolutions >= op->c->lim.max_resolutions || op->n_docs >= DC_OP_MAX_DOCS) {
		rc = dc__fail(op->ei, DC_ERR_TOO_BIG, "too many DID resolutions in one message (limit %zu)",
		              op->c->lim.max_resolutions);
		free(did);
		return rc;
	}
	op->n_resolutions++;
	struct dc_did_doc *doc = NULL;
	rc = dc_resolve(op->c->res, did, &doc, op->ei);
	free(did);
	if (rc)
		return rc;
	op->docs[op->n_docs++] = doc;
	*out = doc;
	return DC_OK;
}

dc_err dc__op_key(struct dc_op *op, const char *kid, enum dc_rel rel, const struct dc_key **out)
{
	*out = NULL;
	const struct dc_did_doc *doc = NULL;
	dc_err rc = dc__op_resolve(op, kid, &doc);
	if (rc)
		return rc;
	const struct dc_vm *vm = dc__did_doc_vm(doc, kid);
	if (!vm)
		return dc__fail(op->ei, DC_ERR_NOT_FOUND, "key %.200s not in the DID document of %.200s", kid, doc->id);
	bool listed = rel == DC_REL_KA ? dc__did_doc_in_ka(doc, kid) : dc__did_doc_in_auth(doc, kid);
	if (!listed)
		return dc__fail(op->ei, DC_ERR_DENIED, "key %.200s is not listed under %s of %.200s", kid,
		                rel == DC_REL_KA ? "keyAgreement" : "authentication", doc->id);
	*out = vm->key;
	return DC_OK;
}
