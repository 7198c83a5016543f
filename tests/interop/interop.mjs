// Interop between didcomm-gateway (our CLI, env BIN) and didcomm-rust (npm didcomm-node 0.4.1).
//
// Every case is packed by one side and unpacked by the other, in both directions:
//   "n2o <case>": didcomm-node packs, our `unpack --meta` opens it;
//   "o2n <case>": our `pack` builds it, didcomm-node's Message.unpack opens it.
// The unpacked message must equal the original JSON and the metadata must match what the case
// expects (didcomm-rust's semantics, checked node-to-node with INTEROP_SELF=1).
// Keys are fresh random per run (node:crypto), written to a temporary directory.
//
// Usage: node interop.mjs            (BIN from env, default build/release/didcomm-gateway)
//        INTEROP_SELF=1 node interop.mjs   ("ours" is didcomm-node too: tests the harness)
//        INTEROP_ONLY=regex node interop.mjs   (run the matching cases only)
//        INTEROP_KEEP=1 ...  keep the temporary directory and print its path
//        INTEROP_DEBUG=1 ... print each unpacker's metadata and rejection reasons on stderr
// DID rotation: "n2o/o2n from_prior-<alg>": didcomm-node's FromPrior.pack read by ours, ours read by
// didcomm-node (issuer kid, claims, JWT header), and a JWT changed after signing refused.
// Output: one "ok <name>" / "FAIL <name>: reason" line per case, then
//         "interop: N passed, M failed"; exit 1 if M > 0.
import { createRequire } from "node:module";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const require = createRequire(import.meta.url);
const { Message, FromPrior } = require("didcomm-node");

const BIN = process.env.BIN || "build/release/didcomm-gateway";
const SELF = process.env.INTEROP_SELF === "1";
const DEBUG = process.env.INTEROP_DEBUG === "1";
const ONLY = process.env.INTEROP_ONLY ? new RegExp(process.env.INTEROP_ONLY) : null;
const FORWARD_TYPE = "https://didcomm.org/routing/2.0/forward";

// ---- keys and DID documents ---------------------------------------------------------------

function newJwk(crv) {
	const kp =
		crv === "P-256" ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
		: crv === "secp256k1" ? generateKeyPairSync("ec", { namedCurve: "secp256k1" })
		: generateKeyPairSync(crv.toLowerCase());
	const priv = kp.privateKey.export({ format: "jwk" });
	const pub = { kty: priv.kty, crv: priv.crv, x: priv.x };
	if (priv.y) pub.y = priv.y;
	return { pub, priv };
}

// name -> { did, auth: [[frag, crv]], agree: [[frag, crv]], service }
const PARTIES = {
	alice: {
		auth: [["key-1", "Ed25519"], ["key-2", "P-256"], ["key-3", "secp256k1"]],
		agree: [["key-x25519-1", "X25519"], ["key-p256-1", "P-256"]],
	},
	bob: {
		auth: [["key-1", "Ed25519"]],
		agree: [["key-x25519-1", "X25519"], ["key-x25519-2", "X25519"], ["key-p256-1", "P-256"]],
	},
	carol: { // reachable only through mediator1
		auth: [["key-1", "Ed25519"]],
		agree: [["key-x25519-1", "X25519"], ["key-p256-1", "P-256"]],
		routed: true,
	},
	mediator1: {
		auth: [["key-1", "Ed25519"]],
		agree: [["key-x25519-1", "X25519"]],
	},
	oldalice: { // alice's prior DID (DID rotation): one authentication key of each type
		auth: [["key-1", "Ed25519"], ["key-2", "P-256"], ["key-3", "secp256k1"]],
		agree: [["key-x25519-1", "X25519"]],
	},
};

function buildWorld(dir) {
	const docs = [], secrets = {};
	for (const [name, p] of Object.entries(PARTIES)) {
		const did = `did:example:${name}`;
		const vms = [], sec = [];
		const add = ([frag, crv]) => {
			const id = `${did}#${frag}`;
			const { pub, priv } = newJwk(crv);
			vms.push({ id, type: "JsonWebKey2020", controller: did, publicKeyJwk: pub });
			sec.push({ kid: id, ...priv });
			return id;
		};
		const doc = {
			"@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
			id: did,
			verificationMethod: vms,
			authentication: p.auth.map(add),
			keyAgreement: p.agree.map(add),
			service: [],
		};
		if (p.routed)
			doc.service.push({
				id: `${did}#didcomm-1`,
				type: "DIDCommMessaging",
				serviceEndpoint: {
					uri: `https://${name}.example/didcomm`,
					accept: ["didcomm/v2"],
					routingKeys: ["did:example:mediator1#key-x25519-1"],
				},
			});
		else if (name === "mediator1")
			doc.service.push({
				id: `${did}#didcomm-1`,
				type: "DIDCommMessaging",
				serviceEndpoint: { uri: "https://mediator1.example/didcomm", accept: ["didcomm/v2"] },
			});
		docs.push(doc);
		secrets[name] = sec;
	}
	secrets["mediator1+carol"] = [...secrets.mediator1, ...secrets.carol];
	secrets["alice+old"] = [...secrets.alice, ...secrets.oldalice];
	const files = { docs: path.join(dir, "did-docs.json"), secrets: {} };
	fs.writeFileSync(files.docs, JSON.stringify(docs, null, 1));
	for (const [name, sec] of Object.entries(secrets)) {
		files.secrets[name] = path.join(dir, `secrets-${name}.json`);
		fs.writeFileSync(files.secrets[name], JSON.stringify(sec, null, 1), { mode: 0o600 });
	}
	return { docs, secrets, files };
}

// ---- didcomm-node resolvers ------------------------------------------------------------------

class DocResolver {
	constructor(docs) {
		// didcomm-node wants exactly these members (all present; no @context).
		this.docs = docs.map((d) => ({
			id: d.id,
			keyAgreement: d.keyAgreement,
			authentication: d.authentication,
			verificationMethod: d.verificationMethod,
			service: d.service,
		}));
	}
	async resolve(did) {
		return this.docs.find((d) => d.id === did) || null;
	}
}

class SecretResolver {
	constructor(jwks) {
		this.secrets = jwks.map(({ kid, ...jwk }) => ({ id: kid, type: "JsonWebKey2020", privateKeyJwk: jwk }));
	}
	async get_secret(id) {
		return this.secrets.find((s) => s.id === id) || null;
	}
	async find_secrets(ids) {
		return ids.filter((id) => this.secrets.some((s) => s.id === id));
	}
}

// ---- the two implementations ------------------------------------------------------------
// pack(c, msg) -> [envelope strings]; unpack(env, party, {unwrap}) -> {message, metadata}

function nodeImpl(world) {
	const dr = new DocResolver(world.docs);
	const sr = (party) => new SecretResolver(world.secrets[party]);
	return {
		name: "didcomm-node",
		async pack(c, msgObj) {
			const msg = new Message(msgObj);
			try {
				const alice = sr("alice");
				if (c.mode === "plaintext") return [await msg.pack_plaintext(dr)];
				if (c.mode === "signed") return [(await msg.pack_signed(c.node.sign, dr, alice))[0]];
				const opts = { forward: !!c.forward, protect_sender: !!c.protect };
				if (c.enc) opts.enc_alg_anon = NODE_ANON_ALG[c.enc];
				const out = [];
				for (const to of c.node.to)
					out.push((await msg.pack_encrypted(to, c.node.from || null, c.node.sign || null, dr, alice, opts))[0]);
				return out;
			} finally {
				msg.free();
			}
		},
		async unpack(env, party, { unwrap = false } = {}) {
			const [m, meta] = await Message.unpack(env, dr, sr(party), {
				expect_decrypt_by_all_keys: false,
				unwrap_re_wrapping_forward: unwrap,
			});
			const message = m.as_value();
			m.free();
			return { message, metadata: meta };
		},
	};
}

function run(args, input) {
	const r = spawnSync(BIN, args, { input, encoding: "utf8", maxBuffer: 256 << 20 });
	// EPIPE: the program exited without reading all its input; its status tells the rest.
	if (r.error && (r.error.code !== "EPIPE" || r.status === null))
		throw new Error(`${path.basename(BIN)} ${args[0]}: ${r.error.message}`);
	if (r.status !== 0) {
		const err = (r.stderr || "").trim().split("\n").pop() || `exit ${r.status}`;
		throw new Error(`${path.basename(BIN)} ${args[0]} exit ${r.status}: ${err}`);
	}
	return r.stdout;
}

function oursImpl(world) {
	const f = world.files;
	return {
		name: "ours",
		async pack(c, msgObj) {
			const a = ["pack", "--mode", c.mode, "--did-docs", f.docs, "--secrets", f.secrets[c.ours.secrets || "alice"]];
			if (c.ours.fromPrior) a.push("--from-prior-issuer", c.ours.fromPrior, "--rotated-at", String(c.ours.rotatedAt));
			if (c.ours.to) a.push("--to", c.ours.to);
			if (c.ours.from) a.push("--from", c.ours.from);
			if (c.ours.sign) a.push("--sign-from", c.ours.sign);
			if (c.enc) a.push("--enc", c.enc);
			if (c.ours.curve) a.push("--curve", c.ours.curve);
			if (c.protect) a.push("--protect-sender");
			if ((c.mode === "anoncrypt" || c.mode === "authcrypt") && !c.forward) a.push("--no-forward");
			a.push("-");
			return run(a, JSON.stringify(msgObj)).split("\n").filter((l) => l.trim() !== "");
		},
		async unpack(env, party, { unwrap = false } = {}) {
			const a = ["unpack", "--meta", "--did-docs", f.docs, "--secrets", f.secrets[party]];
			if (!unwrap) a.push("--no-unwrap-forward");
			a.push("-");
			const out = run(a, env);
			let j;
			try {
				j = JSON.parse(out);
			} catch (e) {
				throw new Error(`unpack printed invalid JSON: ${out.slice(0, 120)}`);
			}
			if (!j || typeof j.message !== "object" || typeof j.metadata !== "object")
				throw new Error(`unpack --meta output lacks message/metadata: ${out.slice(0, 120)}`);
			return j;
		},
	};
}

// ---- comparisons --------------------------------------------------------------------------

const NODE_ANON_ALG = { "XC20P": "Xc20pEcdhEsA256kw", "A256GCM": "A256gcmEcdhEsA256kw", "A256CBC-HS512": "A256cbcHs512EcdhEsA256kw" };

// "A256cbcHs512Ecdh1puA256kw" (didcomm-rust) and "ECDH-1PU+A256KW/A256CBC-HS512" (ours) -> the latter.
function canonAlg(s) {
	if (s === undefined || s === null) return null;
	const u = String(s).toUpperCase().replace(/[^A-Z0-9]/g, "");
	const kw = u.includes("ECDH1PU") ? "ECDH-1PU+A256KW" : u.includes("ECDHES") ? "ECDH-ES+A256KW" : `?${s}`;
	const enc = u.includes("A256CBCHS512") ? "A256CBC-HS512" : u.includes("A256GCM") ? "A256GCM"
		: u.includes("XC20P") ? "XC20P" : `?${s}`;
	return `${kw}/${enc}`;
}

function canonMeta(m) {
	const opt = (v) => (v === undefined || v === null ? null : v);
	return {
		encrypted: !!m.encrypted,
		authenticated: !!m.authenticated,
		non_repudiation: !!m.non_repudiation,
		anonymous_sender: !!m.anonymous_sender,
		re_wrapped_in_forward: !!m.re_wrapped_in_forward,
		encrypted_from_kid: opt(m.encrypted_from_kid),
		encrypted_to_kids: m.encrypted_to_kids ? [...m.encrypted_to_kids].sort() : null,
		sign_from: opt(m.sign_from),
		enc_alg_auth: canonAlg(m.enc_alg_auth),
		enc_alg_anon: canonAlg(m.enc_alg_anon),
		sign_alg: m.sign_alg ? String(m.sign_alg).toUpperCase() : null,
	};
}

function stable(v) {
	if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
	if (v && typeof v === "object")
		return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(",")}}`;
	return JSON.stringify(v);
}

function firstDiff(a, b, where = "") {
	if (stable(a) === stable(b)) return null;
	if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
		for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
			const d = firstDiff(a[k], b[k], `${where}/${k}`);
			if (d) return d;
		}
	}
	const show = (x) => (x === undefined ? "absent" : JSON.stringify(x).slice(0, 80));
	return `${where || "/"}: got ${show(a)}, want ${show(b)}`;
}

// want: full expected metadata (canonical form); fields in `loose` are not compared;
// `alt` gives extra acceptable values per field.
function checkMeta(got, want, { loose = [], alt = {} } = {}) {
	const g = canonMeta(got);
	for (const k of Object.keys(want)) {
		if (loose.includes(k)) continue;
		const ok = [want[k], ...(alt[k] || [])].some((w) => stable(g[k]) === stable(w));
		if (!ok) return `metadata.${k}: got ${JSON.stringify(g[k])}, want ${JSON.stringify(want[k])}`;
	}
	return null;
}

// ---- cases --------------------------------------------------------------------------------

const A = "did:example:alice", B = "did:example:bob", C = "did:example:carol", M = "did:example:mediator1";
const BOB_X = [`${B}#key-x25519-1`, `${B}#key-x25519-2`];

function baseMsg(c) {
	const now = Math.floor(Date.now() / 1000);
	const m = {
		id: randomUUID(),
		typ: "application/didcomm-plain+json",
		type: "https://example.org/interop/1.0/note",
		to: [c.rcpt === "carol" ? C : B],
		created_time: now,
		expires_time: now + 3600,
		thid: "thread-1",
		body: {
			text: "héllo wörld ✓ \"quoted\" \\ back\tslash 🚀",
			n: 42, neg: -7, big: 9007199254740991, frac: 1.5, yes: true, no: false, nil: null,
			list: [1, "two", { three: [3] }], empty: {}, none: [],
			pad: c.big ? "x".repeat(c.big) : "",
		},
		attachments: [
			{ id: "att-json", media_type: "application/json", data: { json: { k: "v", arr: [1, 2] } } },
			{ id: "att-b64", filename: "hello.txt", media_type: "text/plain", data: { base64: "aGVsbG8gd29ybGQ=" } },
		],
		"x-interop-ext": { custom: "header" },
	};
	if (c.msgFrom !== false) m.from = A;
	return m;
}

const NONE = {
	encrypted: false, authenticated: false, non_repudiation: false, anonymous_sender: false,
	re_wrapped_in_forward: false, encrypted_from_kid: null, encrypted_to_kids: null, sign_from: null,
	enc_alg_auth: null, enc_alg_anon: null, sign_alg: null,
};
const anonAlg = (enc) => `ECDH-ES+A256KW/${enc}`;
const AUTH_ALG = "ECDH-1PU+A256KW/A256CBC-HS512";

function cases() {
	const L = [];
	L.push({ name: "plaintext", mode: "plaintext", node: {}, ours: {}, want: { ...NONE } });
	for (const [alg, frag] of [["EdDSA", "key-1"], ["ES256", "key-2"], ["ES256K", "key-3"]]) {
		const kid = `${A}#${frag}`;
		L.push({
			name: `signed-${alg}`, mode: "signed", node: { sign: kid }, ours: { sign: kid },
			want: { ...NONE, authenticated: true, non_repudiation: true, sign_from: kid, sign_alg: alg.toUpperCase() },
		});
	}
	for (const crv of ["X25519", "P-256"]) {
		for (const enc of ["XC20P", "A256GCM", "A256CBC-HS512"]) {
			const toKids = crv === "X25519" ? BOB_X : [`${B}#key-p256-1`];
			L.push({
				name: `anoncrypt-${crv}-${enc}`, mode: "anoncrypt", enc, msgFrom: false,
				node: { to: [crv === "X25519" ? B : `${B}#key-p256-1`] },
				ours: { to: B, curve: crv === "X25519" ? null : crv },
				want: { ...NONE, encrypted: true, anonymous_sender: true, encrypted_to_kids: toKids, enc_alg_anon: anonAlg(enc) },
			});
		}
		const fromKid = crv === "X25519" ? `${A}#key-x25519-1` : `${A}#key-p256-1`;
		const toKids = crv === "X25519" ? BOB_X : [`${B}#key-p256-1`];
		const authWant = { ...NONE, encrypted: true, authenticated: true, encrypted_from_kid: fromKid, encrypted_to_kids: toKids, enc_alg_auth: AUTH_ALG };
		L.push({
			name: `authcrypt-${crv}-A256CBC-HS512`, mode: "authcrypt",
			node: { to: [B], from: crv === "X25519" ? A : fromKid },
			ours: { to: B, from: crv === "X25519" ? A : fromKid },
			want: authWant,
		});
		L.push({
			name: `protect-sender-${crv}`, mode: "authcrypt", protect: true,
			node: { to: [B], from: fromKid }, ours: { to: B, from: fromKid },
			want: { ...authWant, anonymous_sender: true, enc_alg_anon: anonAlg("XC20P") },
		});
	}
	L.push({
		name: "authcrypt+sign-EdDSA", mode: "authcrypt",
		node: { to: [B], from: A, sign: A }, ours: { to: B, from: A, sign: A },
		want: { ...NONE, encrypted: true, authenticated: true, non_repudiation: true, encrypted_from_kid: `${A}#key-x25519-1`,
			encrypted_to_kids: BOB_X, enc_alg_auth: AUTH_ALG, sign_from: `${A}#key-1`, sign_alg: "EDDSA" },
	});
	L.push({
		name: "authcrypt+sign-ES256-P-256", mode: "authcrypt",
		node: { to: [B], from: `${A}#key-p256-1`, sign: `${A}#key-2` }, ours: { to: B, from: `${A}#key-p256-1`, sign: `${A}#key-2` },
		want: { ...NONE, encrypted: true, authenticated: true, non_repudiation: true, encrypted_from_kid: `${A}#key-p256-1`,
			encrypted_to_kids: [`${B}#key-p256-1`], enc_alg_auth: AUTH_ALG, sign_from: `${A}#key-2`, sign_alg: "ES256" },
	});
	L.push({
		name: "anoncrypt+sign-EdDSA", mode: "anoncrypt",
		node: { to: [B], sign: A }, ours: { to: B, sign: A },
		want: { ...NONE, encrypted: true, authenticated: true, non_repudiation: true, anonymous_sender: true,
			encrypted_to_kids: BOB_X, enc_alg_anon: anonAlg("XC20P"), sign_from: `${A}#key-1`, sign_alg: "EDDSA" },
	});
	L.push({
		name: "protect-sender+sign", mode: "authcrypt", protect: true,
		node: { to: [B], from: A, sign: A }, ours: { to: B, from: A, sign: A },
		want: { ...NONE, encrypted: true, authenticated: true, non_repudiation: true, anonymous_sender: true,
			encrypted_from_kid: `${A}#key-x25519-1`, encrypted_to_kids: BOB_X, enc_alg_auth: AUTH_ALG,
			enc_alg_anon: anonAlg("XC20P"), sign_from: `${A}#key-1`, sign_alg: "EDDSA" },
	});
	L.push({
		name: "anoncrypt-100KB-A256CBC-HS512", mode: "anoncrypt", enc: "A256CBC-HS512", msgFrom: false, big: 100000,
		node: { to: [B] }, ours: { to: B },
		want: { ...NONE, encrypted: true, anonymous_sender: true, encrypted_to_kids: BOB_X, enc_alg_anon: anonAlg("A256CBC-HS512") },
	});
	// Forward: carol's service routes through mediator1. The mediator opens the outer layer and
	// sees a forward; carol opens the attachment.
	const carolAuth = { ...NONE, encrypted: true, authenticated: true, encrypted_from_kid: `${A}#key-x25519-1`,
		encrypted_to_kids: [`${C}#key-x25519-1`], enc_alg_auth: AUTH_ALG };
	L.push({
		name: "forward-authcrypt-via-mediator", mode: "authcrypt", rcpt: "carol", forward: true, kind: "forward",
		node: { to: [C], from: A }, ours: { to: C, from: A },
		fwdWant: { ...NONE, encrypted: true, anonymous_sender: true, encrypted_to_kids: [`${M}#key-x25519-1`], enc_alg_anon: anonAlg("XC20P") },
		want: carolAuth,
	});
	L.push({
		name: "forward-anoncrypt-via-mediator", mode: "anoncrypt", rcpt: "carol", forward: true, kind: "forward", msgFrom: false,
		node: { to: [C] }, ours: { to: C },
		fwdWant: { ...NONE, encrypted: true, anonymous_sender: true, encrypted_to_kids: [`${M}#key-x25519-1`], enc_alg_anon: anonAlg("XC20P") },
		want: { ...NONE, encrypted: true, anonymous_sender: true, encrypted_to_kids: [`${C}#key-x25519-1`], enc_alg_anon: anonAlg("XC20P") },
	});
	// One party holding both the mediator's and carol's keys: unpack opens the forward too
	// (didcomm-rust: unwrap_re_wrapping_forward; ours: the default).
	L.push({
		name: "forward-rewrapped-unwrap", mode: "authcrypt", rcpt: "carol", forward: true, kind: "rewrapped",
		node: { to: [C], from: A }, ours: { to: C, from: A },
		want: { ...carolAuth, re_wrapped_in_forward: true },
		// didcomm-rust keeps the outer layer's anonymous flags; the kids may name either layer.
		loose: ["anonymous_sender", "enc_alg_anon"],
		alt: { encrypted_to_kids: [[`${M}#key-x25519-1`]] },
	});
	// --no-forward / forward:false towards a routed DID: a plain envelope for carol.
	L.push({
		name: "no-forward-to-routed-did", mode: "authcrypt", rcpt: "carol",
		node: { to: [C], from: A }, ours: { to: C, from: A },
		want: carolAuth, unpackAs: "carol",
	});
	// Failures that must stay failures.
	L.push({ name: "reject-tampered-anoncrypt", mode: "anoncrypt", msgFrom: false, node: { to: [B] }, ours: { to: B }, kind: "tamper", tamper: "ciphertext" });
	L.push({ name: "reject-tampered-authcrypt-tag", mode: "authcrypt", node: { to: [B], from: A }, ours: { to: B, from: A }, kind: "tamper", tamper: "tag" });
	L.push({ name: "reject-tampered-signature", mode: "signed", node: { sign: `${A}#key-1` }, ours: { sign: `${A}#key-1` }, kind: "tamper", tamper: "signature" });
	L.push({ name: "reject-wrong-recipient", mode: "authcrypt", node: { to: [B], from: A }, ours: { to: B, from: A }, kind: "tamper", tamper: "none", unpackAs: "carol" });
	return L;
}

// Flip one base64url character of a JWE/JWS member (keeps it valid base64url).
function tamper(env, what) {
	if (what === "none") return env;
	const j = JSON.parse(env);
	const flip = (s) => {
		const i = Math.floor(s.length / 2);
		return s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
	};
	if (what === "signature") j.signatures[0].signature = flip(j.signatures[0].signature);
	else j[what] = flip(j[what]);
	return JSON.stringify(j);
}

async function runCase(c, packer, unpacker) {
	const msg = baseMsg(c);
	const envs = await packer.pack(c, msg);
	if (envs.length !== 1) return `expected 1 envelope, got ${envs.length}`;
	const env = envs[0];
	let parsed;
	try {
		parsed = JSON.parse(env);
	} catch {
		return `envelope is not JSON: ${env.slice(0, 80)}`;
	}
	if (c.kind === "tamper") {
		// Control first: the untouched envelope must open for its recipient, so that a
		// rejection below means "detected", not "unpack does not work at all".
		await unpacker.unpack(env, c.rcpt === "carol" ? "carol" : "bob");
		let r;
		try {
			r = await unpacker.unpack(tamper(env, c.tamper), c.unpackAs || "bob");
		} catch (e) {
			if (DEBUG) console.error(`  ${c.name}: rejected: ${e && e.message ? e.message : e}`);
			return null; // rejected, as it must be
		}
		return `accepted a ${c.tamper === "none" ? "message for another party" : `tampered ${c.tamper}`}`;
	}
	if (c.mode !== "plaintext" && c.mode !== "signed" && !parsed.ciphertext) return "envelope is not a JWE";
	if (c.mode === "signed" && !parsed.signatures) return "envelope is not a JWS";
	if (c.kind === "forward") {
		const f = await unpacker.unpack(env, "mediator1");
		const fm = f.message;
		if (fm.type !== FORWARD_TYPE) return `mediator got type ${fm.type}, want forward`;
		if (!fm.body || typeof fm.body.next !== "string" || !fm.body.next.startsWith(C))
			return `forward body.next ${JSON.stringify(fm.body && fm.body.next)}, want ${C}`;
		const inner = fm.attachments && fm.attachments[0] && fm.attachments[0].data && fm.attachments[0].data.json;
		if (!inner || typeof inner !== "object") return "forward has no JSON attachment";
		let d = checkMeta(f.metadata, c.fwdWant);
		if (d) return `forward layer ${d}`;
		const r = await unpacker.unpack(JSON.stringify(inner), "carol");
		if ((d = firstDiff(r.message, msg))) return `message ${d}`;
		if ((d = checkMeta(r.metadata, c.want))) return d;
		return null;
	}
	const party = c.kind === "rewrapped" ? "mediator1+carol" : c.unpackAs || (c.rcpt === "carol" ? "carol" : "bob");
	const r = await unpacker.unpack(env, party, { unwrap: c.kind === "rewrapped" });
	if (DEBUG) console.error(`  ${c.name}: ${JSON.stringify(r.metadata)}`);
	let d = firstDiff(r.message, msg);
	if (d) return `message ${d}`;
	if ((d = checkMeta(r.metadata, c.want, { loose: c.loose, alt: c.alt }))) return d;
	return null;
}

// Ours only: --to with two DIDs prints one envelope per DID, each for its own recipient.
async function multiDid(world, ours, node) {
	const msg = baseMsg({});
	msg.to = [B, C];
	const envs = await ours.pack({ mode: "authcrypt", ours: { to: `${B},${C}`, from: A } }, msg);
	if (envs.length !== 2) return `expected 2 envelopes, got ${envs.length}`;
	const wants = { bob: BOB_X, carol: [`${C}#key-x25519-1`] };
	for (const [i, party] of [[0, "bob"], [1, "carol"]]) {
		const r = await node.unpack(envs[i], party);
		let d = firstDiff(r.message, msg);
		if (d) return `${party}: message ${d}`;
		if ((d = checkMeta(r.metadata, { ...NONE, encrypted: true, authenticated: true, encrypted_from_kid: `${A}#key-x25519-1`,
			encrypted_to_kids: wants[party], enc_alg_auth: AUTH_ALG }))) return `${party}: ${d}`;
	}
	return null;
}

// ---- did:peer:2 created by our CLI ------------------------------------------------------------
// An independent decoder (peer DID method spec, numalgo 2) checks what `did resolve` prints for
// DIDs made by `did new --method peer2`; didcomm-node then gets a document built from the DID
// string itself (JsonWebKey2020, the representation it supports), with the key ids ours uses.

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function b58dec(s) {
	let n = 0n;
	for (const ch of s) {
		const v = B58.indexOf(ch);
		if (v < 0) throw new Error(`bad base58 character ${ch}`);
		n = n * 58n + BigInt(v);
	}
	let hex = n.toString(16);
	if (hex.length % 2) hex = "0" + hex;
	const lead = s.match(/^1*/)[0].length;
	return Buffer.concat([Buffer.alloc(lead), n ? Buffer.from(hex, "hex") : Buffer.alloc(0)]);
}

const PEER_ABBR = { t: "type", s: "serviceEndpoint", r: "routingKeys", a: "accept" };
function peerExpand(v) {
	if (Array.isArray(v)) return v.map(peerExpand);
	if (v && typeof v === "object")
		return Object.fromEntries(Object.entries(v).map(([k, x]) => [PEER_ABBR[k] || k, peerExpand(x)]));
	return v === "dm" ? "DIDCommMessaging" : v;
}

// -> { keys: [{purpose, crv, x, mb}], services: [...] }
function peer2Decode(did) {
	if (!did.startsWith("did:peer:2.")) throw new Error(`not a did:peer:2: ${did}`);
	const keys = [], services = [];
	for (const el of did.slice("did:peer:2.".length).split(".")) {
		const purpose = el[0], val = el.slice(1);
		if (purpose === "S") {
			const sv = peerExpand(JSON.parse(Buffer.from(val, "base64url").toString("utf8")));
			services.push(...(Array.isArray(sv) ? sv : [sv]));
			continue;
		}
		if (val[0] !== "z") throw new Error(`key ${val.slice(0, 12)}: not base58btc multibase`);
		const raw = b58dec(val.slice(1));
		const crv = raw[0] === 0xec && raw[1] === 0x01 ? "X25519" : raw[0] === 0xed && raw[1] === 0x01 ? "Ed25519" : null;
		if (!crv || raw.length !== 34) throw new Error(`key ${val.slice(0, 12)}: unsupported multicodec ${raw.subarray(0, 2).toString("hex")}`);
		keys.push({ purpose, crv, x: raw.subarray(2).toString("base64url"), mb: val });
	}
	return { keys, services };
}

// The raw public key of a verification method in whatever representation ours printed.
function vmKeyX(vm) {
	if (vm.publicKeyJwk) return vm.publicKeyJwk.x;
	if (vm.publicKeyMultibase && vm.publicKeyMultibase[0] === "z") {
		const raw = b58dec(vm.publicKeyMultibase.slice(1));
		return (raw.length === 34 ? raw.subarray(2) : raw).toString("base64url");
	}
	if (vm.publicKeyBase58) return b58dec(vm.publicKeyBase58).toString("base64url");
	return null;
}

// Checks ours' resolved document against the DID string; returns a didcomm-node document.
function peer2Check(did, doc, endpoint) {
	const dec = peer2Decode(did);
	if (doc.id !== did) throw new Error(`resolved id ${doc.id}`);
	const vms = doc.verificationMethod || [];
	const rel = { E: "keyAgreement", V: "authentication" };
	const out = { id: did, verificationMethod: [], keyAgreement: [], authentication: [], service: [] };
	const abs = (id) => (id.startsWith("#") ? did + id : id);
	for (const k of dec.keys) {
		const vm = vms.find((v) => vmKeyX(v) === k.x);
		if (!vm) throw new Error(`resolved document lacks the ${k.crv} key ${k.mb.slice(0, 12)}...`);
		const id = abs(vm.id);
		const r = rel[k.purpose];
		if (r) {
			const refs = (doc[r] || []).map((x) => abs(typeof x === "string" ? x : x.id));
			if (!refs.includes(id)) throw new Error(`${id} is not in ${r}`);
			out[r].push(id);
		}
		out.verificationMethod.push({ id, type: "JsonWebKey2020", controller: did, publicKeyJwk: { kty: "OKP", crv: k.crv, x: k.x } });
	}
	if (!dec.keys.some((k) => k.purpose === "E" && k.crv === "X25519")) throw new Error("no X25519 keyAgreement key in the DID");
	if (!dec.keys.some((k) => k.purpose === "V" && k.crv === "Ed25519")) throw new Error("no Ed25519 authentication key in the DID");
	const uri = (s) => (typeof s.serviceEndpoint === "string" ? s.serviceEndpoint : s.serviceEndpoint && s.serviceEndpoint.uri);
	if (!dec.services.some((s) => uri(s) === endpoint)) throw new Error(`the DID's services lack ${endpoint}: ${JSON.stringify(dec.services)}`);
	if (!(doc.service || []).some((s) => uri(s) === endpoint)) throw new Error(`resolved services lack ${endpoint}`);
	for (const [i, s] of dec.services.entries()) {
		if (s.type !== "DIDCommMessaging") continue; // didcomm-node 0.4.1 rejects other service types
		const se = typeof s.serviceEndpoint === "string" ? { uri: s.serviceEndpoint } : s.serviceEndpoint;
		out.service.push({ id: abs(s.id || (i ? `#service-${i}` : "#service")), type: s.type,
			serviceEndpoint: { uri: se.uri, accept: se.accept || s.accept, routingKeys: se.routingKeys || s.routingKeys || [] } });
	}
	return out;
}

async function peer2Cases(world, dir, report) {
	const secretsFile = path.join(dir, "peer2-secrets.json");
	const mk = (name) => {
		const ep = `https://${name}.peer.example/didcomm`;
		const did = run(["did", "new", "--method", "peer2", "--endpoint", ep, "--secrets", secretsFile]).trim();
		const doc = JSON.parse(run(["did", "resolve", did]));
		return { did, ep, doc };
	};
	let pa, pb, ndocs;
	try {
		pa = mk("alice");
		pb = mk("bob");
		ndocs = [peer2Check(pa.did, pa.doc, pa.ep), peer2Check(pb.did, pb.doc, pb.ep)];
		report("peer2 did-new-resolve", null);
	} catch (e) {
		report("peer2 did-new-resolve", e.message || String(e));
		return;
	}
	const jwks = JSON.parse(fs.readFileSync(secretsFile, "utf8"));
	const secrets = Array.isArray(jwks) ? jwks.map((j) => (j.privateKeyJwk ? { kid: j.id, ...j.privateKeyJwk } : j)) : [];
	const dr = new DocResolver(ndocs);
	const sr = new SecretResolver(secrets);
	const msg = baseMsg({});
	msg.from = pa.did;
	msg.to = [pb.did];
	const want = (aX, bX) => ({ ...NONE, encrypted: true, authenticated: true, encrypted_from_kid: aX,
		encrypted_to_kids: [bX], enc_alg_auth: AUTH_ALG });
	const ka = (d) => d.keyAgreement[0];
	// n2o: didcomm-node packs authcrypt between the two peer DIDs; ours unpacks (resolving did:peer:2 itself).
	try {
		const m = new Message(msg);
		const [env] = await m.pack_encrypted(pb.did, pa.did, null, dr, sr, { forward: false });
		m.free();
		const out = run(["unpack", "--meta", "--secrets", secretsFile, "-"], env);
		const r = JSON.parse(out);
		const d = firstDiff(r.message, msg) || checkMeta(r.metadata, want(ka(ndocs[0]), ka(ndocs[1])));
		report("n2o peer2-authcrypt", d);
	} catch (e) {
		report("n2o peer2-authcrypt", e.message || String(e));
	}
	// o2n: ours packs; didcomm-node unpacks with its own view of the peer DIDs.
	try {
		const out = run(["pack", "--mode", "authcrypt", "--to", pb.did, "--from", pa.did, "--no-forward",
			"--secrets", secretsFile, "-"], JSON.stringify(msg));
		const [m, meta] = await Message.unpack(out.trim(), dr, sr, { unwrap_re_wrapping_forward: false });
		const got = m.as_value();
		m.free();
		report("o2n peer2-authcrypt", firstDiff(got, msg) || checkMeta(meta, want(ka(ndocs[0]), ka(ndocs[1]))));
	} catch (e) {
		report("o2n peer2-authcrypt", e.message || String(e));
	}
}

// ---- DID rotation (from_prior) --------------------------------------------------------------
// Both ways, every signing key type of the prior DID: didcomm-node's FromPrior.pack in a message
// that ours unpacks; ours' pack --from-prior-issuer read by didcomm-node's Message.unpack, which
// must report our issuer kid. A JWT changed after signing is refused by each side.
const OLD = "did:example:oldalice";

function flipJwtClaims(jwt) {
	const [h, p, s] = jwt.split(".");
	const i = Math.floor(p.length / 2);
	return [h, p.slice(0, i) + (p[i] === "A" ? "B" : "A") + p.slice(i + 1), s].join(".");
}

async function rejects(fn) {
	try {
		await fn();
	} catch (e) {
		if (DEBUG) console.error(`  rejected: ${e && e.message ? e.message : e}`);
		return true;
	}
	return false;
}

function checkFromPrior(r, msg, kid, iat) {
	let d = firstDiff(r.message, msg);
	if (d) return `message ${d}`;
	if (r.metadata.from_prior_issuer_kid !== kid)
		return `from_prior_issuer_kid ${JSON.stringify(r.metadata.from_prior_issuer_kid)}, want ${kid}`;
	const fp = r.metadata.from_prior || {};
	if (fp.iss !== OLD || fp.sub !== A || fp.iat !== iat) return `from_prior claims ${JSON.stringify(fp)}`;
	return null;
}

async function fromPriorCases(world, ours, node, report) {
	const dr = new DocResolver(world.docs), srOld = new SecretResolver(world.secrets["alice+old"]);
	let iat = 1700000000;
	for (const [alg, frag] of [["EdDSA", "key-1"], ["ES256", "key-2"], ["ES256K", "key-3"]]) {
		const kid = `${OLD}#${frag}`;
		iat++;
		const name = (tag) => `${tag} from_prior-${alg}`;
		if (!ONLY || ONLY.test(name("n2o"))) {
			let err = null;
			try {
				const fp = new FromPrior({ iss: OLD, sub: A, iat });
				const [jwt, used] = await fp.pack(kid, dr, srOld);
				fp.free();
				if (used !== kid) throw new Error(`FromPrior.pack used ${used}, want ${kid}`);
				const msg = { ...baseMsg({}), from_prior: jwt };
				const c = { mode: "authcrypt", node: { to: [B], from: A } };
				const [env] = await node.pack(c, msg);
				err = checkFromPrior(await ours.unpack(env, "bob"), msg, kid, iat);
				if (!err) {
					// didcomm-node checks from_prior when it packs: change the JWT in its plaintext output
					const [pt] = await node.pack({ mode: "plaintext", node: {} }, msg);
					const bad = JSON.parse(pt);
					bad.from_prior = flipJwtClaims(bad.from_prior);
					if (!(await rejects(() => ours.unpack(JSON.stringify(bad), "bob"))))
						err = "accepted a from_prior JWT changed after signing";
				}
			} catch (e) {
				err = e && e.message ? e.message : String(e);
			}
			report(name("n2o"), err);
		}
		if (!ONLY || ONLY.test(name("o2n"))) {
			let err = null;
			try {
				const msg = baseMsg({});
				const c = { mode: "authcrypt", node: {}, ours: { to: B, from: A, secrets: "alice+old", fromPrior: kid, rotatedAt: iat } };
				const [env] = await ours.pack(c, msg);
				const r = await node.unpack(env, "bob");
				const jwt = r.message.from_prior;
				if (typeof jwt !== "string") throw new Error("no from_prior in the message didcomm-node read");
				err = checkFromPrior(r, { ...msg, from_prior: jwt }, kid, iat);
				const hdr = JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString());
				if (!err && (hdr.typ !== "JWT" || hdr.alg !== alg || hdr.kid !== kid))
					err = `JWT header ${JSON.stringify(hdr)}`;
				if (!err) {
					const [pt] = await ours.pack({ ...c, mode: "plaintext" }, msg);
					const bad = JSON.parse(pt);
					bad.from_prior = flipJwtClaims(bad.from_prior);
					if (!(await rejects(() => node.unpack(JSON.stringify(bad), "bob"))))
						err = "didcomm-node accepted our from_prior JWT changed after signing";
				}
			} catch (e) {
				err = e && e.message ? e.message : String(e);
			}
			report(name("o2n"), err);
		}
	}
}

async function main() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dcinterop."));
	let passed = 0, failed = 0;
	const report = (name, err) => {
		if (err) {
			failed++;
			console.log(`FAIL ${name}: ${String(err).replace(/\s+/g, " ").slice(0, 400)}`);
		} else {
			passed++;
			console.log(`ok ${name}`);
		}
	};
	try {
		const world = buildWorld(dir);
		const node = nodeImpl(world);
		let ours = oursImpl(world);
		if (SELF) ours = { ...nodeImpl(world), name: "node-self" };
		else if (!fs.existsSync(BIN)) {
			report("binary", `${BIN} not found (build it first: make build)`);
			console.log(`interop: ${passed} passed, ${failed} failed`);
			return 1;
		}
		const dirs = [["n2o", node, ours], ["o2n", ours, node]];
		for (const c of cases()) {
			for (const [tag, packer, unpacker] of dirs) {
				const name = `${tag} ${c.name}`;
				if (ONLY && !ONLY.test(name)) continue;
				let err;
				try {
					err = await runCase(c, packer, unpacker);
				} catch (e) {
					err = e && e.message ? e.message : String(e);
				}
				report(name, err);
			}
		}
		if (!SELF && (!ONLY || ONLY.test("peer2"))) await peer2Cases(world, dir, report);
		if (!SELF) await fromPriorCases(world, ours, node, report);
		if (!SELF && (!ONLY || ONLY.test("o2n multi-did"))) {
			let err;
			try {
				err = await multiDid(world, ours, node);
			} catch (e) {
				err = e && e.message ? e.message : String(e);
			}
			report("o2n multi-did", err);
		}
	} finally {
		if (process.env.INTEROP_KEEP === "1") console.error(`interop: kept ${dir}`);
		else fs.rmSync(dir, { recursive: true, force: true });
	}
	console.log(`interop: ${passed} passed, ${failed} failed`);
	return failed ? 1 : 0;
}

process.exitCode = await main();
