// A receipt verifier written from proto/nikgate/v1/common.proto and docs/api.md
// ("Receipts") alone, with nothing but Node's standard library: what a client team in
// another language would write. argv[2]: the server's Ed25519 public key (PEM); argv[3]: a
// JSON array of {name, response_b64, request_b64?}. Prints one JSON line per answer:
// {name, valid, reason, leaf_index, leaf_count, transaction_id}.
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const key = createPublicKey(readFileSync(process.argv[2]));
const answers = JSON.parse(readFileSync(process.argv[3], "utf8"));
const sha256 = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
// key_id: the first 16 hex digits of SHA-256 of the raw 32-byte public key
const keyId = sha256(Buffer.from(key.export({ format: "jwk" }).x, "base64url"))
  .toString("hex").slice(0, 16);

// -- a protobuf reader: just enough for these messages --------------------------------------
function varint(buf, pos) {
  let value = 0n, shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated varint");
    const b = buf[pos++];
    value |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [value, pos];
    shift += 7n;
    if (shift > 63n) throw new Error("varint too long");
  }
}

// Every field of a message, in order: {number, wire, value (Buffer or BigInt), start}.
function fields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    let tag;
    [tag, pos] = varint(buf, pos);
    const number = Number(tag >> 3n), wire = Number(tag & 7n);
    let value;
    if (wire === 0) [value, pos] = varint(buf, pos);
    else if (wire === 1 || wire === 5) { value = buf.subarray(pos, pos + (wire === 1 ? 8 : 4)); pos += value.length; }
    else if (wire === 2) {
      let size;
      [size, pos] = varint(buf, pos);
      value = buf.subarray(pos, pos + Number(size));
      pos += Number(size);
    } else throw new Error(`wire type ${wire} not expected`);
    if (pos > buf.length) throw new Error("truncated field");
    out.push({ number, wire, value, start });
  }
  return out;
}

// A message as {field number: last value} plus {field number: all values} for repeated ones.
function decode(buf) {
  const last = {}, all = {};
  for (const f of fields(buf)) {
    last[f.number] = f.value;
    (all[f.number] ??= []).push(f.value);
  }
  return { last, all };
}
const bytes = (m, n) => (Buffer.isBuffer(m.last[n]) ? m.last[n] : Buffer.alloc(0));
const text = (m, n) => bytes(m, n).toString("utf8");
const number = (m, n) => (typeof m.last[n] === "bigint" ? Number(m.last[n]) : 0);

// -- the tree: RFC 9162, built bottom-up, an odd last node moves up unchanged ------------------
const leafHash = (payload) => sha256(Buffer.from([0]), payload);
const nodeHash = (left, right) => sha256(Buffer.from([1]), left, right);

function rootOf(payload, index, count, path) {
  if (index >= count || path.some((h) => h.length !== 32)) return null;
  let node = leafHash(payload), width = count, used = 0;
  while (width > 1) {
    const left = index % 2 === 1;              // bit 0 set: the sibling is on the left
    if (left || index + 1 < width) {           // else: the level's odd last node, no sibling
      if (used === path.length) return null;
      const sibling = path[used++];
      node = left ? nodeHash(sibling, node) : nodeHash(node, sibling);
    }
    index = Math.floor(index / 2);
    width = Math.ceil(width / 2);
  }
  return used === path.length ? node : null;
}

function check(response, request) {
  // 1. the receipt is the response's last field: number 15, length-delimited, to the end
  const top = fields(response);
  const tail = top[top.length - 1];
  if (!tail || tail.number !== 15 || tail.wire !== 2) return { valid: false, reason: "no receipt as the last field" };
  const body = response.subarray(0, tail.start);
  const receipt = decode(tail.value);
  const payloadBytes = bytes(receipt, 1), signature = bytes(receipt, 2);
  const signedRoot = bytes(receipt, 4);
  const out = { valid: false, leaf_index: number(receipt, 5), leaf_count: null };
  // 2. the signature: over signed_root (over the payload in receipts made before groups)
  const grouped = signedRoot.length > 0;
  if (!verify(null, grouped ? signedRoot : payloadBytes, key, signature)) return { ...out, reason: "bad signature" };
  let rootKeyId = keyId;
  if (grouped) {
    // 3. the payload's path leads to the signed root
    const root = decode(signedRoot);
    out.leaf_count = number(root, 2);
    rootKeyId = text(root, 3);
    const path = receipt.all[6] ?? [];
    const computed = rootOf(payloadBytes, out.leaf_index, out.leaf_count, path);
    if (computed === null || !computed.equals(bytes(root, 1))) return { ...out, reason: "payload not in the signed tree" };
  }
  // 4. the payload covers this response (and request) and names this key
  const payload = decode(payloadBytes);
  out.transaction_id = text(payload, 1);
  if (!(text(receipt, 3) === keyId && text(payload, 7) === keyId && rootKeyId === keyId)) return { ...out, reason: "key id mismatch" };
  if (!bytes(payload, 6).equals(sha256(body))) return { ...out, reason: "response altered" };
  if (request && !bytes(payload, 5).equals(sha256(request))) return { ...out, reason: "different request" };
  return { ...out, valid: true, reason: "valid" };
}

for (const a of answers) {
  let result;
  try {
    result = check(Buffer.from(a.response_b64, "base64"),
                   a.request_b64 ? Buffer.from(a.request_b64, "base64") : null);
  } catch (e) {
    result = { valid: false, reason: `not a response message: ${e.message}` };
  }
  console.log(JSON.stringify({ name: a.name, ...result }));
}
