// What the browser scripts share: their settings from the environment,
// Chromium through playwright-core, checks that log, signing in, and the
// control channel to the Rust side that owns the servers.
import { createRequire } from "node:module";
import path from "node:path";

/** A required environment variable. */
export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

/** Checks that throw on failure (so the Rust test fails) and log on success. */
export function checker(tag) {
  const log = (...a) => console.error(`[${tag}]`, ...a);
  const check = (cond, what) => {
    if (!cond) throw new Error(`check failed: ${what}`);
    log("ok:", what);
  };
  return { log, check };
}

/** Headless Debian Chromium; playwright gives it a fresh temporary profile
 * of its own (it refuses --user-data-dir with launch()) and deletes it on close. */
export async function launch() {
  const require = createRequire(path.join(env("ROUNDS_NODE_MODULES"), "noop.js"));
  const { chromium } = require("playwright-core");
  return chromium.launch({
    executablePath: env("ROUNDS_CHROMIUM"),
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

export async function signIn(page, base, username, password) {
  await page.goto(`${base}/sign-in`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL(/\/teams/), page.click("button[type=submit]")]);
}

/** Waits until `fn(arg)` holds in the page; fails saying what it waited for. */
export async function waitFor(p, fn, arg, what, timeout = 10000) {
  try {
    await p.waitForFunction(fn, arg, { timeout });
  } catch (e) {
    throw new Error(`timed out (${timeout} ms) waiting until ${what}`);
  }
}

/** The JSON API from inside a page (its session and CSRF token). */
export function api(p, method, url, body) {
  return p.evaluate(
    async ([method, url, body]) => {
      const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
      const r = await fetch(url, { method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: body ? JSON.stringify(body) : undefined });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    [method, url, body],
  );
}

// Asks the Rust side (which owns the servers) to do something and waits for
// its answer: "@@<command> <args>" on stdout, one answer line on stdin.
const answers = [];
let answerWaiter = null;
let rl = null;
if (process.env.ROUNDS_CONTROL === "1") {
  rl = (await import("node:readline")).createInterface({ input: process.stdin });
  rl.on("line", (l) => {
    answers.push(l.trim());
    if (answerWaiter) answerWaiter();
  });
}

export async function control(command, timeoutMs = 20000) {
  if (!rl) throw new Error("no control channel to the server (ROUNDS_CONTROL)");
  console.log(`@@${command}`);
  const until = Date.now() + timeoutMs;
  while (!answers.length) {
    if (Date.now() > until) throw new Error(`no answer to ${command}`);
    await new Promise((r) => {
      answerWaiter = r;
      setTimeout(r, 200);
    });
  }
  const a = answers.shift();
  if (!a.startsWith("ok")) throw new Error(`${command}: ${a}`);
  return a;
}

/** Lets Node exit: an open stdin reader keeps it running. */
export function closeControl() {
  if (rl) {
    rl.close();
    process.stdin.destroy();
  }
}
