// The seed's user, in headless Chromium (Debian's package, driven by playwright-core): open the
// gateway's public URL with the token, be told that this browser must be paired, wait for the
// operator to approve it, and reach the Control UI's chat.
//
// Protocol, one JSON object a line. stdin: the plan first ({playwright, executable, url, host,
// node, spki, token, timeoutMs}; on stdin, not argv, so the token is in no process list), then
// "approved" once the operator has approved the device. stdout: {event: "page"}, then
// {event: "pairing"} when the gateway asks for approval (or {event: "done"} early), then
// {event: "done", ...}. What the browser sent is reported as facts about the token (whether it
// matched), never the token.
import { createRequire } from "node:module";
import readline from "node:readline";

const lines = readline.createInterface({ input: process.stdin });
const queue = [];
let wake = null;
lines.on("line", (line) => { queue.push(line); if (wake) { wake(); wake = null; } });
async function nextLine() {
  while (!queue.length) await new Promise((resolve) => { wake = resolve; });
  return queue.shift();
}
const say = (object) => process.stdout.write(JSON.stringify(object) + "\n");

const plan = JSON.parse(await nextLine());
const { chromium } = createRequire(plan.playwright + "/package.json")("playwright-core");
const connects = [];  // the gateway's answers to the page's `connect` requests
const sent = [];      // what each `connect` carried
let changed = () => {};

function watch(socket) {
  const asked = new Set();
  socket.on("framesent", ({ payload }) => {
    let frame; try { frame = JSON.parse(String(payload)); } catch { return; }
    if (frame.method !== "connect") return;
    asked.add(frame.id);
    const auth = frame.params?.auth ?? {};
    sent.push({ url: socket.url().replace(/#.*/, ""), token: auth.token === undefined ? "none"
      : auth.token === plan.token ? "matches" : "differs", deviceToken: "deviceToken" in auth,
      device: Boolean(frame.params?.device), client: frame.params?.client?.id ?? "" });
  });
  socket.on("framereceived", ({ payload }) => {
    let frame; try { frame = JSON.parse(String(payload)); } catch { return; }
    if (frame.type !== "res" || !asked.has(frame.id)) return;
    connects.push({ ok: Boolean(frame.ok), message: String(frame.error?.message ?? ""),
                    code: String(frame.error?.details?.code ?? frame.error?.code ?? "") });
    changed();
  });
}

function until(predicate, ms) {
  return new Promise((resolve) => {
    const check = () => { const hit = connects.find(predicate); if (hit) { clearTimeout(timer); changed = () => {}; resolve(hit); } };
    const timer = setTimeout(() => { changed = () => {}; resolve(null); }, ms);
    changed = check;
    check();
  });
}

const browser = await chromium.launch({
  executablePath: plan.executable, headless: true, timeout: plan.timeoutMs,
  // --no-sandbox: the browser runs as root in the gateway's network namespace (a namespace of
  // its own already); the certificate made for this run is the only one it accepts
  args: ["--no-sandbox", "--disable-gpu", `--host-resolver-rules=MAP ${plan.host} ${plan.node}`,
         `--ignore-certificate-errors-spki-list=${plan.spki}`],
});
const result = { event: "done", connects, sent, reached: false };
try {
  const page = await browser.newPage();
  page.on("websocket", watch);
  const response = await page.goto(plan.url, { waitUntil: "load", timeout: plan.timeoutMs });
  say({ event: "page", status: response?.status() ?? 0 });
  const first = await until(() => true, plan.timeoutMs);
  if (first && !first.ok && /pairing required/i.test(first.message)) {
    say({ event: "pairing" });
    if ((await nextLine()) !== "approved") throw new Error("the operator did not approve");
    const settle = (c) => c.ok;
    // the UI retries by itself; a user who waits too long reloads the page
    if (!(await until(settle, 20000))) await page.reload({ waitUntil: "load", timeout: plan.timeoutMs });
    if (await until(settle, plan.timeoutMs)) {
      // the chat: its message box is shown once the UI is connected
      await page.getByRole("textbox").first().waitFor({ state: "visible", timeout: plan.timeoutMs });
      result.reached = true;
      result.title = await page.title();
      result.path = new URL(page.url()).pathname;
    }
  }
} catch (error) {
  result.error = String(error.message ?? error).split("\n")[0].replaceAll(plan.token, "<token>");
} finally {
  await browser.close();
}
say(result);
process.exit(0);
