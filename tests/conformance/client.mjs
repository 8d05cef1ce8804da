// A client of the OpenClaw gateway for the conformance tests: HTTP probes and WebSocket
// `connect` handshakes, as a browser (with an Origin) or a backend client would send them.
// Usage: node client.mjs PLAN_JSON  ->  prints one JSON result. It uses the `ws` package of
// the installed openclaw (Node's own WebSocket cannot set an Origin header).
import { createRequire } from "node:module";

const plan = JSON.parse(process.argv[2]);
const require = createRequire(plan.packageDir + "/package.json");
const WebSocket = require("ws");
const base = `http://127.0.0.1:${plan.port}`;
const result = { probes: {}, bodies: {}, handshakes: {} };

async function probe(path) {
  try {
    const response = await fetch(base + path, { signal: AbortSignal.timeout(15000) });
    const text = await response.text();
    try { result.bodies[path] = JSON.parse(text); } catch {}
    return response.status;
  } catch (error) {
    return String(error.cause?.code ?? error.name);
  }
}

function handshake({ token, origin, clientId, mode }) {
  return new Promise((resolve) => {
    const headers = origin ? { Origin: origin } : {};
    const ws = new WebSocket(`ws://127.0.0.1:${plan.port}/`, { headers, handshakeTimeout: 15000 });
    const done = (result) => { clearTimeout(timer); try { ws.terminate(); } catch {} resolve(result); };
    const timer = setTimeout(() => done({ outcome: "timeout" }), 30000);
    const connect = () => ws.send(JSON.stringify({
      type: "req", id: "c1", method: "connect",
      params: {
        minProtocol: 3, maxProtocol: 4, role: "operator", scopes: ["operator.read"],
        client: { id: clientId, version: "conformance", platform: "linux", mode },
        caps: [], auth: token ? { token } : undefined,
      },
    }));
    let sent = false;
    ws.on("open", () => setTimeout(() => { if (!sent) { sent = true; connect(); } }, 300));
    ws.on("message", (data) => {
      let frame;
      try { frame = JSON.parse(String(data)); } catch { return; }
      if (frame.type === "event" && frame.event === "connect.challenge" && !sent) { sent = true; connect(); return; }
      if (frame.type === "res" && frame.id === "c1") {
        done(frame.ok ? { outcome: "accepted" }
                      : { outcome: "refused", message: String(frame.error?.message ?? "") });
      }
    });
    ws.on("close", (code, reason) => done({ outcome: "closed", code, message: String(reason) }));
    ws.on("error", (error) => done({ outcome: "error", message: String(error.message) }));
  });
}

for (const path of plan.probes) result.probes[path] = await probe(path);
for (const [name, spec] of Object.entries(plan.handshakes)) result.handshakes[name] = await handshake(spec);
console.log(JSON.stringify(result));
