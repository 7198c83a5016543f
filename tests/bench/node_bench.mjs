// didcomm-node (didcomm-rust compiled to wasm) side of tests/bench: the same operations as
// bench.c, in the same output format, so run.sh can put them side by side.
//
//   node node_bench.mjs [SECONDS]          "row<TAB>did-kind<TAB>op<TAB>mode<TAB>ops_per_sec<TAB>iterations"
//   node node_bench.mjs rss-prepare DIR MIB   writes DIR/node-big.json (+ keys) for:
//   node node_bench.mjs rss-unpack DIR        "rss<TAB>message_bytes<TAB>envelope_bytes<TAB>base_kb<TAB>read_kb<TAB>peak_kb"
//
// The didcomm-node package comes from tests/interop/node_modules (tests/interop/run.sh installs it).
// DIDs: did:example (in-memory documents) and did:peer:2 (numalgo 2, decoded by a small resolver
// here, with a cache as our resolver has). Resolvers are async JS callbacks, as in real use.
import { createRequire } from "node:module";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../interop/package.json"));
const { Message } = require("didcomm-node");

const BODY_BYTES = 300;

// ---- keys ---------------------------------------------------------------------------------
function okp(crv) {
	const jwk = generateKeyPairSync(crv.toLowerCase()).privateKey.export({ format: "jwk" });
	return { pub: { kty: "OKP", crv: jwk.crv, x: jwk.x }, priv: jwk };
}

class Resolver {
	constructor(docs, dynamic) {
		this.docs = new Map(docs.map((d) => [d.id, d]));
		this.dynamic = dynamic; // did -> doc (did:peer:2), results cached
	}
	async resolve(did) {
		let d = this.docs.get(did);
		if (!d && this.dynamic) {
			d = this.dynamic(did);
			if (d) this.docs.set(did, d);
		}
		return d || null;
	}
}

class Secrets {
	constructor(list) {
		this.map = new Map(list.map((s) => [s.id, s]));
	}
	async get_secret(id) {
		return this.map.get(id) || null;
	}
	async find_secrets(ids) {
		return ids.filter((id) => this.map.has(id));
	}
}

const vm = (id, did, jwk) => ({ id, type: "JsonWebKey2020", controller: did, publicKeyJwk: jwk });
const secret = (id, jwk) => ({ id, type: "JsonWebKey2020", privateKeyJwk: jwk });

function exampleParty(name) {
	const did = `did:example:${name}`;
	const ed = okp("Ed25519"), x = okp("X25519");
	const doc = {
		id: did,
		verificationMethod: [vm(`${did}#key-1`, did, ed.pub), vm(`${did}#key-x25519-1`, did, x.pub)],
		authentication: [`${did}#key-1`],
		keyAgreement: [`${did}#key-x25519-1`],
		service: [],
	};
	return { did, doc, secrets: [secret(`${did}#key-1`, ed.priv), secret(`${did}#key-x25519-1`, x.priv)] };
}

// ---- did:peer:2 ---------------------------------------------------------------------------
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function b58enc(bytes) {
	let n = BigInt("0x" + (Buffer.from(bytes).toString("hex") || "0"));
	let s = "";
	while (n > 0n) {
		s = B58[Number(n % 58n)] + s;
		n /= 58n;
	}
	for (const b of bytes) {
		if (b !== 0) break;
		s = "1" + s;
	}
	return s;
}
function b58dec(s) {
	let n = 0n;
	for (const ch of s) {
		const v = B58.indexOf(ch);
		if (v < 0) throw new Error("bad base58");
		n = n * 58n + BigInt(v);
	}
	let hex = n.toString(16);
	if (hex.length % 2) hex = "0" + hex;
	const lead = s.match(/^1*/)[0].length;
	return Buffer.concat([Buffer.alloc(lead), n ? Buffer.from(hex, "hex") : Buffer.alloc(0)]);
}
const MC = { X25519: [0xec, 0x01], Ed25519: [0xed, 0x01] };
const mbKey = (crv, xB64) => "z" + b58enc(Buffer.concat([Buffer.from(MC[crv]), Buffer.from(xB64, "base64url")]));

function peer2Party() {
	const ed = okp("Ed25519"), x = okp("X25519");
	const did = `did:peer:2.E${mbKey("X25519", x.pub.x)}.V${mbKey("Ed25519", ed.pub.x)}`;
	// key ids: "#key-N" in order of appearance (peer DID method spec, numalgo 2)
	return { did, secrets: [secret(`${did}#key-1`, x.priv), secret(`${did}#key-2`, ed.priv)] };
}

function peer2Resolve(did) {
	if (!did.startsWith("did:peer:2.")) return null;
	const doc = { id: did, verificationMethod: [], authentication: [], keyAgreement: [], service: [] };
	let n = 0;
	for (const el of did.slice("did:peer:2.".length).split(".")) {
		const purpose = el[0];
		if (purpose === "S") continue; // services: none in the bench
		const raw = b58dec(el.slice(2)); // strip purpose and 'z'
		const crv = raw[0] === 0xec ? "X25519" : raw[0] === 0xed ? "Ed25519" : null;
		if (!crv || raw[1] !== 0x01 || raw.length !== 34) throw new Error(`unsupported key in ${did}`);
		const id = `${did}#key-${++n}`;
		doc.verificationMethod.push(vm(id, did, { kty: "OKP", crv, x: raw.subarray(2).toString("base64url") }));
		(purpose === "E" ? doc.keyAgreement : doc.authentication).push(id);
	}
	return doc;
}

// ---- worlds and operations -------------------------------------------------------------
function world(kind, bodyBytes = BODY_BYTES) {
	let alice, bob, resolver;
	if (kind === "did:example") {
		alice = exampleParty("alice");
		bob = exampleParty("bob");
		resolver = new Resolver([alice.doc, bob.doc]);
	} else {
		alice = peer2Party();
		bob = peer2Party();
		resolver = new Resolver([], peer2Resolve);
	}
	const text = Array.from({ length: Math.max(0, bodyBytes - 11) }, (_, i) => "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]).join("");
	const msg = {
		id: "3fa85f64-5717-4562-b3fc-2c963f66afa6",
		typ: "application/didcomm-plain+json",
		type: "https://example.org/bench/1.0/note",
		from: alice.did,
		to: [bob.did],
		created_time: 1700000000,
		body: { text },
	};
	return { kind, alice, bob, resolver, msg, aliceSecrets: new Secrets(alice.secrets), bobSecrets: new Secrets(bob.secrets) };
}

const MODES = [
	["plaintext", (m, w) => m.pack_plaintext(w.resolver)],
	["signed-EdDSA", async (m, w) => (await m.pack_signed(w.alice.did, w.resolver, w.aliceSecrets))[0]],
	["anoncrypt-X25519-XC20P", async (m, w) => (await m.pack_encrypted(w.bob.did, null, null, w.resolver, w.aliceSecrets,
		{ forward: false, enc_alg_anon: "Xc20pEcdhEsA256kw" }))[0]],
	["anoncrypt-X25519-A256CBC-HS512", async (m, w) => (await m.pack_encrypted(w.bob.did, null, null, w.resolver, w.aliceSecrets,
		{ forward: false, enc_alg_anon: "A256cbcHs512EcdhEsA256kw" }))[0]],
	["authcrypt-X25519-A256CBC-HS512", async (m, w) => (await m.pack_encrypted(w.bob.did, w.alice.did, null, w.resolver, w.aliceSecrets,
		{ forward: false }))[0]],
];

async function unpack(w, env) {
	const [m] = await Message.unpack(env, w.resolver, w.bobSecrets, { unwrap_re_wrapping_forward: true });
	m.free();
}

async function timed(fn, secs) {
	const now = () => Number(process.hrtime.bigint()) / 1e9;
	let t0 = now();
	while (now() - t0 < secs / 5) await fn();
	let n = 0, t;
	t0 = now();
	do {
		for (let k = 0; k < 8; k++) await fn();
		n += 8;
		t = now() - t0;
	} while (t < secs);
	return [n / t, n];
}

async function bench(secs) {
	for (const kind of ["did:example", "did:peer:2"]) {
		const w = world(kind);
		const m = new Message(w.msg);
		for (const [name, pack] of MODES) {
			const env = await pack(m, w);
			await unpack(w, env); // fail early, before timing, if it does not round-trip
			let [ops, n] = await timed(() => pack(m, w), secs);
			console.log(`row\t${kind}\tpack\t${name}\t${ops.toFixed(1)}\t${n}`);
			[ops, n] = await timed(() => unpack(w, env), secs);
			console.log(`row\t${kind}\tunpack\t${name}\t${ops.toFixed(1)}\t${n}`);
		}
		m.free();
	}
}

// ---- peak RSS for one big unpack (separate process from the packing) ---------------------
async function rssPrepare(dir, mib) {
	const want = Math.floor(mib * 1024 * 1024);
	const w = world("did:example", want - 300);
	const m = new Message(w.msg);
	const [env] = await m.pack_encrypted(w.bob.did, null, null, w.resolver, w.aliceSecrets,
		{ forward: false, enc_alg_anon: "Xc20pEcdhEsA256kw" });
	m.free();
	fs.writeFileSync(path.join(dir, "node-world.json"), JSON.stringify({ docs: [w.alice.doc, w.bob.doc], secrets: w.bob.secrets }));
	fs.writeFileSync(path.join(dir, "node-big.json"), env);
	console.log(`prepared\t${JSON.stringify(w.msg).length}\t${env.length}`);
}

async function rssUnpack(dir) {
	const { docs, secrets } = JSON.parse(fs.readFileSync(path.join(dir, "node-world.json"), "utf8"));
	const resolver = new Resolver(docs), sr = new Secrets(secrets);
	const base = process.resourceUsage().maxRSS;
	const env = fs.readFileSync(path.join(dir, "node-big.json"), "utf8");
	const afterRead = process.resourceUsage().maxRSS;
	const [m] = await Message.unpack(env, resolver, sr, {});
	const out = JSON.stringify(m.as_value());
	m.free();
	const peak = process.resourceUsage().maxRSS;
	console.log(`rss\t${out.length}\t${env.length}\t${base}\t${afterRead}\t${peak}`);
}

const [cmd, a1, a2] = process.argv.slice(2);
if (cmd === "rss-prepare") await rssPrepare(a1, Number(a2));
else if (cmd === "rss-unpack") await rssUnpack(a1);
else await bench(cmd ? Number(cmd) : 1.0);
