// The mediator's protocols packed and read by another implementation: didcomm-rust through
// the npm package didcomm-node (tests/interop installs it). An agent whose keys are ours
// (a did:peer:2 made by `did new`) speaks to the gateway with didcomm-node only:
// coordinate-mediation 3.0 (mediate-request -> grant with routing_did an array,
// recipient-update -> success), then messagepickup 3.0 (status-request, delivery-request ->
// delivery whose base64 attachments didcomm-node opens, messages-received -> status 0).
//   node --no-wasm-tier-up mednode.mjs BIN STATE.json NAME   (NAME: the agent's entry in STATE)
// Prints "ok ..." / "FAIL ...: why" lines; exit 1 on a failure.
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "interop", "package.json"));
const { Message } = require("didcomm-node");
const [BIN, statef, name] = process.argv.slice(2);
const st = JSON.parse(fs.readFileSync(statef, "utf8"));
const GW = st.gw, ME = st[name];
const CM3 = "https://didcomm.org/coordinate-mediation/3.0/", PU3 = "https://didcomm.org/messagepickup/3.0/";
let failed = 0;
const ok = (w) => console.log(`ok node: ${w}`);
const bad = (w, why) => { failed++; console.log(`FAIL node: ${w}: ${String(why).slice(0, 400)}`); };
const expect = (c, w, why) => (c ? ok(w) : bad(w, JSON.stringify(why)));

// base58btc multibase -> bytes (for the Multikey public keys of did:peer documents)
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function b58(s) {
	let n = 0n;
	for (const c of s) n = n * 58n + BigInt(B58.indexOf(c));
	const out = [];
	while (n > 0n) { out.unshift(Number(n & 255n)); n >>= 8n; }
	for (const c of s) { if (c !== "1") break; out.unshift(0); }
	return Buffer.from(out);
}
// our resolver's document, in the shape didcomm-node reads (JsonWebKey2020, no services)
function nodeDoc(did) {
	const r = spawnSync(BIN, ["did", "resolve", did], { encoding: "utf8" });
	const d = JSON.parse(r.stdout);
	const vms = d.verificationMethod.map((vm) => {
		const raw = b58(vm.publicKeyMultibase.slice(1));
		const crv = raw[0] === 0xec ? "X25519" : "Ed25519";
		return { id: vm.id, type: "JsonWebKey2020", controller: vm.controller,
			publicKeyJwk: { kty: "OKP", crv, x: raw.subarray(2).toString("base64url") } };
	});
	return { id: d.id, keyAgreement: d.keyAgreement, authentication: d.authentication, verificationMethod: vms, service: [] };
}
const docs = [nodeDoc(GW), nodeDoc(ME), nodeDoc(st.alice)]; // alice: the sender of the held messages
const dr = { resolve: async (did) => docs.find((d) => d.id === did) || null };
const secrets = JSON.parse(fs.readFileSync(st.files[name], "utf8")).map(({ kid, ...jwk }) => ({
	id: kid, type: "JsonWebKey2020", privateKeyJwk: jwk }));
const sr = {
	get_secret: async (id) => secrets.find((s) => s.id === id) || null,
	find_secrets: async (ids) => ids.filter((id) => secrets.some((s) => s.id === id)),
};

async function ask(type, body) {
	const m = new Message({ id: randomUUID(), typ: "application/didcomm-plain+json", type, from: ME, to: [GW], body,
		return_route: "all" });
	const id = m.as_value().id;
	const [env] = await m.pack_encrypted(GW, ME, null, dr, sr, { forward: false });
	m.free();
	const res = await fetch(`http://127.0.0.1:${st.port}/`, { method: "POST", body: env,
		headers: { "Content-Type": "application/didcomm-encrypted+json" } });
	const txt = await res.text();
	const [r, meta] = await Message.unpack(txt, dr, sr, {});
	const v = r.as_value();
	r.free();
	return { status: res.status, id, msg: v, meta };
}

try {
	let r = await ask(CM3 + "mediate-request", {});
	expect(r.status === 200 && r.msg.type === CM3 + "mediate-grant" && Array.isArray(r.msg.body.routing_did) &&
		r.msg.body.routing_did[0] === GW && r.msg.thid === r.id && r.meta.authenticated && r.meta.encrypted_from_kid.startsWith(GW),
		"mediate-request packed by didcomm-node; the grant (authcrypt from the gateway) opens there, routing_did [gateway]", r);
	r = await ask(CM3 + "recipient-update", { updates: [{ recipient_did: ME, action: "add" }] });
	expect(r.msg.type === CM3 + "recipient-update-response" && r.msg.body.updated[0].result === "success",
		"recipient-update -> success", r.msg);
	// the sender (medagent.py) sends while we wait; then pick up
	const want = Number(process.argv[5] || 3);
	const sent = spawnSync("python3", [path.join(here, "medagent.py"), st.lib, statef, "sendto", name, String(want)],
		{ encoding: "utf8" });
	process.stdout.write(sent.stdout);
	r = await ask(PU3 + "status-request", {});
	expect(r.msg.type === PU3 + "status" && r.msg.body.message_count === want, `status: ${want} waiting`, r.msg);
	r = await ask(PU3 + "delivery-request", { limit: 10 });
	const atts = r.msg.attachments || [];
	const inner = [];
	for (const a of atts) {
		const [m] = await Message.unpack(Buffer.from(a.data.base64, "base64url").toString(), dr, sr, {});
		inner.push(m.as_value());
		m.free();
	}
	expect(r.msg.type === PU3 + "delivery" && atts.length === want && inner.every((m) => m.body.content.startsWith("hello")),
		`delivery: ${want} attachments (id, data.base64) that didcomm-node opens`, r.msg.type);
	r = await ask(PU3 + "messages-received", { message_id_list: atts.map((a) => a.id) });
	expect(r.msg.type === PU3 + "status" && r.msg.body.message_count === 0, "messages-received -> status 0", r.msg);
} catch (e) {
	bad("exchange", e.stack || e);
}
process.exit(failed ? 1 : 0);
