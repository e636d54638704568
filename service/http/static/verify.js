// Checks, in the reader's own browser, that a decision is in the log as shown.
//
// Fetches the decision's public view (entry + receipt) and the log's verifier keys, then:
//   1. verifies the checkpoint's Ed25519 signatures (C2SP signed note) with those keys;
//   2. checks the checkpoint is of the tree the receipt's proof is for;
//   3. recomputes the entry's leaf hash, SHA-256(0x00 || RFC 8785 canonical JSON);
//   4. walks the RFC 9162 inclusion proof from that leaf hash to the checkpoint's root.
// Nothing the server says is trusted except what these checks prove. Data reaches the
// page only through textContent.

const encoder = new TextEncoder();
const EM_DASH_SPACE = "\u2014 ";

class CheckFailed extends Error {}

// --- RFC 8785 (JCS) canonical JSON ----------------------------------------------------

export function canonicalize(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    // JSON.stringify escapes strings exactly as RFC 8785 §3.2.2.2 asks.
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    // ECMAScript Number-to-String is the number format RFC 8785 §3.2.2.3 prescribes.
    if (!Number.isFinite(value)) throw new CheckFailed("the entry holds a non-finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return "[" + value.map(canonicalize).join(",") + "]";
  }
  if (typeof value === "object") {
    // Array.prototype.sort without a comparator orders by UTF-16 code units (§3.2.3).
    const keys = Object.keys(value).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalize(value[k])).join(",") + "}";
  }
  throw new CheckFailed("the entry holds a value JSON cannot carry");
}

// --- bytes and hashes -----------------------------------------------------------------

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function fromHex(text, what) {
  if (typeof text !== "string" || !/^(?:[0-9a-f]{2})*$/.test(text)) {
    throw new CheckFailed(`${what} is not hexadecimal`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromBase64(text, what) {
  let raw;
  try {
    raw = atob(text);
  } catch {
    throw new CheckFailed(`${what} is not base64`);
  }
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// RFC 6962 §2.1: leaves and interior nodes hash with distinct prefixes.
export async function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), encoder.encode(canonicalize(entry))));
}

async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

// RFC 9162 §2.1.3.2: verify an inclusion proof. Plain arithmetic, not bit operators,
// which JavaScript would truncate to 32 bits.
export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new CheckFailed(`entry ${index} cannot be in a tree of size ${size}`);
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new CheckFailed("the inclusion proof is longer than the tree is deep");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new CheckFailed("the inclusion proof is shorter than the tree is deep");
  return r;
}

// --- C2SP signed notes, checkpoints and verifier keys ----------------------------------

export function parseNote(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new CheckFailed("the checkpoint has no blank line before its signatures");
  const body = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) throw new CheckFailed("the checkpoint does not end with a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw new CheckFailed("the checkpoint lacks origin, size or root");
  const [origin, sizeText, rootText] = lines;
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(sizeText)) {
    throw new CheckFailed("the checkpoint's tree size is not a decimal number");
  }
  const root = fromBase64(rootText, "the checkpoint's root hash");
  if (root.length !== 32) throw new CheckFailed("the checkpoint's root hash is not 32 bytes");
  const signatures = block.slice(0, -1).split("\n").map((line) => {
    if (!line.startsWith(EM_DASH_SPACE)) {
      throw new CheckFailed("a signature line does not start with an em dash");
    }
    const rest = line.slice(EM_DASH_SPACE.length);
    const space = rest.indexOf(" ");
    if (space <= 0) throw new CheckFailed("a signature line has no signature");
    const raw = fromBase64(rest.slice(space + 1), "a signature");
    if (raw.length <= 4) throw new CheckFailed("a signature line is too short");
    return { name: rest.slice(0, space), keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { body, origin, size: Number(sizeText), root, signatures };
}

export async function parseKey(line) {
  const first = line.indexOf("+");
  const second = line.indexOf("+", first + 1);
  if (first <= 0 || second < 0) throw new CheckFailed("the verifier key is malformed");
  const name = line.slice(0, first);
  const keyId = fromHex(line.slice(first + 1, second).toLowerCase(), "the key id");
  const raw = fromBase64(line.slice(second + 1), "the public key");
  if (keyId.length !== 4) throw new CheckFailed("the key id is not 4 bytes");
  if (raw.length !== 33 || raw[0] !== 0x01) {
    throw new CheckFailed("the verifier key is not an Ed25519 key");
  }
  // The key id commits to the name and the key: SHA-256(name || 0x0A || 0x01 || key)[:4].
  const expected = (await sha256(concat(encoder.encode(name + "\n"), raw))).slice(0, 4);
  if (!equal(expected, keyId)) throw new CheckFailed(`the key id of ${name} does not match its key`);
  return { name, keyId, publicKey: raw.slice(1) };
}

function keyLabel(key) {
  return `${key.name}+${toHex(key.keyId)}`;
}

// C2SP signed-note rules: lines by unknown keys are ignored, a line by a known key must
// verify, and at least one must. During a key rotation a checkpoint carries a line per
// key. A key with an end date (signsUntil) counts only for entries logged by then: a
// checkpoint is never older than its entries, so a later one is a retired key at work.
export async function verifyNoteSignatures(note, keys, entryTime) {
  const valid = [];
  const retired = [];
  for (const key of keys) {
    const line = note.signatures.find((s) => s.name === key.name && equal(s.keyId, key.keyId));
    if (!line) continue;
    let cryptoKey;
    try {
      cryptoKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" },
        false, ["verify"]);
    } catch {
      throw new CheckFailed("this browser cannot check Ed25519 signatures; use `fairwitness verify`");
    }
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, line.signature,
      encoder.encode(note.body));
    if (!ok) throw new CheckFailed(`the signature by ${keyLabel(key)} does not verify`);
    if (key.signsUntil && entryTime > key.signsUntil) retired.push(keyLabel(key));
    else valid.push(keyLabel(key));
  }
  if (!valid.length) {
    if (retired.length) {
      throw new CheckFailed(`the checkpoint is signed only by keys retired before this entry: ${retired.join(", ")}`);
    }
    throw new CheckFailed("the checkpoint carries no signature by the log's keys");
  }
  return valid;
}

// GET /v1/log/key as JSON: every key the log has used, with its validity.
export async function parseKeyList(doc) {
  if (!doc || !Array.isArray(doc.keys)) throw new CheckFailed("the log's key list is malformed");
  return Promise.all(doc.keys.map(async (item) => {
    const key = await parseKey(String(item.verifier_key));
    key.signsUntil = typeof item.signs_until === "string" ? item.signs_until : null;
    return key;
  }));
}

// --- the page ---------------------------------------------------------------------------

async function fetchOk(url, what) {
  const resp = await fetch(url, { headers: { Accept: what.accept }, cache: "no-store" });
  if (!resp.ok) throw new CheckFailed(`could not fetch ${what.name} (HTTP ${resp.status})`);
  return what.accept === "application/json" ? resp.json() : resp.text();
}

function setStep(list, id, ok, text) {
  const item = list.querySelector(`[data-step="${id}"]`);
  if (!item) return;
  item.classList.remove("pending", "ok", "fail");
  item.classList.add(ok ? "ok" : "fail");
  const mark = item.querySelector(".mark");
  if (mark) mark.textContent = ok ? "✓" : "✗";
  const detail = item.querySelector(".detail");
  if (detail) detail.textContent = text;
}

async function run(section) {
  const status = section.querySelector("#proof-status");
  const steps = section.querySelector("#proof-steps");
  const fail = (message) => {
    status.className = "status fail";
    status.textContent = "Not verified: " + message;
  };
  if (!window.crypto || !crypto.subtle) {
    fail("this page needs a browser with WebCrypto over HTTPS; use `fairwitness verify` instead.");
    return;
  }
  let view, keys;
  try {
    const [doc, keyList] = await Promise.all([
      fetchOk(section.dataset.decisionUrl, { name: "the decision", accept: "application/json" }),
      fetchOk(section.dataset.keyUrl, { name: "the log's keys", accept: "application/json" }),
    ]);
    view = doc;
    keys = await parseKeyList(keyList);
    if (!keys.length) throw new CheckFailed("the log serves no verifier key");
  } catch (err) {
    fail(err instanceof CheckFailed ? err.message : "the receipt could not be fetched.");
    return;
  }

  const receipt = view.receipt;
  const results = [];
  const check = async (id, label, fn) => {
    try {
      const detail = await fn();
      setStep(steps, id, true, detail);
      results.push({ id, ok: true });
    } catch (err) {
      const message = err instanceof CheckFailed ? err.message : `${label} could not be checked`;
      setStep(steps, id, false, message);
      results.push({ id, ok: false, label, message });
    }
  };

  let note = null;
  let signer = null;
  let leaf = null;
  await check("signature", "the checkpoint signature", async () => {
    note = parseNote(receipt.checkpoint);
    signer = (await verifyNoteSignatures(note, keys, view.entry.time)).join(" and ");
    return `signed by ${signer}`;
  });
  await check("size", "the tree size", async () => {
    if (!note) throw new CheckFailed("no checkpoint to compare with");
    if (note.size !== receipt.tree_size) {
      throw new CheckFailed(`the checkpoint is for size ${note.size}, the proof for ${receipt.tree_size}`);
    }
    return `the proof and the checkpoint are both for a log of ${note.size} entries`;
  });
  await check("leaf", "the entry hash", async () => {
    if (view.entry.id !== section.dataset.decisionId) {
      throw new CheckFailed("the receipt is for another entry");
    }
    leaf = await leafHash(view.entry);
    const stated = fromHex(receipt.leaf_hash, "the leaf hash");
    if (!equal(leaf, stated)) {
      throw new CheckFailed(`the entry as served hashes to ${toHex(leaf)}, but the log's leaf ` +
        `is ${receipt.leaf_hash}: the entry was changed after it was logged`);
    }
    return `SHA-256 of the canonical entry is ${toHex(leaf)}`;
  });
  await check("inclusion", "the inclusion proof", async () => {
    if (!note || !leaf) throw new CheckFailed("needs the entry hash and a checkpoint");
    const proof = receipt.inclusion_proof.map((h, i) => fromHex(h, `proof hash ${i}`));
    const root = await rootFromInclusionProof(receipt.index, receipt.tree_size, leaf, proof);
    if (!equal(root, note.root)) {
      throw new CheckFailed("the proof from this entry does not lead to the signed root hash");
    }
    return `${proof.length} hashes lead from entry ${receipt.index} to the signed root`;
  });

  const failed = results.find((r) => !r.ok);
  if (failed) {
    fail(`${failed.label} failed — ${failed.message}.`);
  } else {
    status.className = "status ok";
    status.textContent = `Verified: entry ${receipt.index} is in the log of size ` +
      `${receipt.tree_size}, checkpoint signed by ${signer}`;
  }
  section.dataset.verified = failed ? "false" : "true";
}

const section = document.getElementById("proof");
if (section) run(section);
