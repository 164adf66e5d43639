// The JSON API from Node with nothing but its standard library (node:https): runs the
// cases given as JSON (argv[2]) against the gateway (argv[3], https://host:port) with the
// PEM files in argv[4] (ca.crt, <cert>.crt, <cert>.key), and prints one JSON result per
// case: {name, status, body, retryAfter, error}. status 0 = the TLS handshake failed.
import { readFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const base = new URL(process.argv[3]);
const dir = process.argv[4];
const ca = readFileSync(path.join(dir, "ca.crt"));

function send(c) {
  return new Promise((resolve) => {
    const headers = { ...c.headers };
    const body = c.body === null ? null : Buffer.from(c.body, "utf8");
    if (c.content_type) headers["content-type"] = c.content_type;
    if (body) headers["content-length"] = body.length;
    const options = {
      host: base.hostname, port: base.port, path: c.path, method: c.method, headers, ca,
      agent: false,
    };
    if (c.cert) {
      options.cert = readFileSync(path.join(dir, `${c.cert}.crt`));
      options.key = readFileSync(path.join(dir, `${c.cert}.key`));
    }
    const req = https.request(options, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve({
        status: res.statusCode, body: Buffer.concat(chunks).toString("utf8"),
        retryAfter: res.headers["retry-after"] ?? null, error: null,
      }));
    });
    req.on("error", (e) => resolve({ status: 0, body: "", retryAfter: null,
                                     error: `${e.code ?? ""} ${e.message}` }));
    if (body) req.write(body);
    req.end();
  });
}

for (const c of cases) {
  let result;
  for (let i = 0; i < c.repeat; i++) result = await send(c);
  // a JSON answer must parse as JSON: what a client library would do with it
  if (result.status > 0) {
    try { JSON.parse(result.body); } catch (e) { result.error = `not JSON: ${e.message}`; }
  }
  console.log(JSON.stringify({ name: c.name, ...result }));
}
