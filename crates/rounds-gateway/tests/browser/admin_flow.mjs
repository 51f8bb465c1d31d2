// The gateway's admin page in Chromium: a site administrator signs in with
// an administration key, maps a tenant to a FHIR server, registers a client
// (its secret shown once, and working at the token endpoint), rotates the
// secret (both work, then the old one is revoked and refused), disables the
// client (refused), enables it and deletes it. The page is checked with
// axe-core (no serious or critical violations) at each state, under its
// own strict content security policy (no violations reported), on a
// desktop and a phone. Screenshots go to $ROUNDS_ARTIFACTS.
//
// Environment: GATEWAY_URL, GATEWAY_ADMIN_KEY, GATEWAY_UPSTREAM (a FHIR base
// for the tenant), ROUNDS_CHROMIUM, ROUNDS_NODE_MODULES, ROUNDS_ARTIFACTS.
import fs from "node:fs";
import path from "node:path";
import { env, checker, launch } from "../../../rounds/tests/browser/harness.mjs";

const base = env("GATEWAY_URL");
const adminKey = env("GATEWAY_ADMIN_KEY");
const upstream = env("GATEWAY_UPSTREAM");
const artifacts = env("ROUNDS_ARTIFACTS");
const axeSource = fs.readFileSync(path.join(env("ROUNDS_NODE_MODULES"), "axe-core", "axe.min.js"), "utf8");
const { log, check } = checker("gateway-admin");

const browser = await launch();
const summary = { ok: false, axe: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.accept(); });

  // axe runs through the DevTools protocol, which the page's CSP does not
  // stop; the page's own scripts stay under it.
  async function axe(state) {
    await page.evaluate(axeSource);
    const result = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
    });
    summary.axe.push({ state, violations: result });
    const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
    check(bad.length === 0, `axe (${state}): no serious or critical violations ${JSON.stringify(bad)}`);
    if (result.length) log(`axe (${state}) minor:`, JSON.stringify(result));
  }

  const token = async (id, secret) => {
    const r = await page.request.post(`${base}/token`, {
      form: { grant_type: "client_credentials", scope: "hospital-a" },
      headers: { Authorization: "Basic " + Buffer.from(`${id}:${secret}`).toString("base64") },
    });
    return { status: r.status(), body: await r.json().catch(() => null) };
  };

  // Sign in: a wrong key is refused at the form, the right one opens the console.
  await page.goto(`${base}/admin`);
  await axe("sign-in");
  await page.fill("#key", "not-a-key");
  await page.click("#key-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("key-error").textContent.length > 0);
  check(await page.isVisible("#signin"), "a wrong key keeps the sign-in form, with its error");
  // The refused key's 401 is the one expected error in the console.
  check(problems.length === 1 && /401/.test(problems[0]), `the wrong key's 401 only: ${JSON.stringify(problems)}`);
  problems.length = 0;
  await page.fill("#key", adminKey);
  await page.click("#key-form button[type=submit]");
  await page.waitForSelector("#console:not([hidden])");
  check(!(await page.isVisible("#signin")), "the right key opens the console");

  // Map a tenant.
  await page.fill("#tenant-id", "hospital-a");
  await page.fill("#tenant-base", upstream);
  await page.click("#tenant-form button[type=submit]");
  await page.waitForSelector("#tenants tr:has-text('hospital-a')");
  const tenantRow = await page.textContent("#tenants tr:has-text('hospital-a')");
  check(tenantRow.includes(upstream) && tenantRow.includes("read-only"), `the tenant is mapped: ${tenantRow}`);

  // Register a client: the secret is shown once.
  await page.fill("#client-name", "Ward app");
  await page.fill("#client-tenants", "hospital-a");
  await page.click("#client-form button[type=submit]");
  await page.waitForSelector("#new-secret:not([hidden])");
  const notice = await page.textContent("#new-secret");
  const m = /New secret for (\S+) \(shown only now\): (\S+)\s+\(secret id (\S+)\)/.exec(notice);
  check(m, `the new secret is shown: ${notice.replace(/: \S+ /, ": … ")}`);
  const [, clientId, secret1, secretId1] = m;
  await page.waitForSelector(`#clients tr:has-text('${clientId}')`);
  check((await page.inputValue("#client-name")) === "", "the form is emptied after registering");
  let t = await token(clientId, secret1);
  check(t.status === 200 && t.body.token_type === "Bearer", `the shown secret gets a token (${t.status})`);
  await axe("client registered");
  await page.screenshot({ path: path.join(artifacts, "gateway-admin-registered.png"), fullPage: true });

  // Shown once: after a reload the secret is nowhere on the page.
  await page.reload();
  await page.waitForSelector(`#clients tr:has-text('${clientId}')`);
  const text = await page.textContent("body");
  check(!text.includes(secret1), "after a reload the secret is not shown again");
  check(await page.isHidden("#new-secret"), "no secret notice after a reload");

  // Rotate: a second secret; both live and both work.
  const row = () => page.locator(`#clients tr:has-text('${clientId}')`);
  await row().getByRole("button", { name: "New secret" }).click();
  await page.waitForFunction((old) => {
    const n = document.getElementById("new-secret");
    return !n.hidden && !n.textContent.includes(old);
  }, secretId1);
  const m2 = /: (\S+)\s+\(secret id (\S+)\)/.exec(await page.textContent("#new-secret"));
  const [, secret2, secretId2] = m2;
  check(secretId2 !== secretId1 && secret2 !== secret1, "rotation shows a new secret");
  await page.waitForFunction((id) => [...document.querySelectorAll("#clients tr")].some((r) => r.textContent.includes(id) && (r.textContent.match(/live/g) || []).length === 2), clientId);
  check((await token(clientId, secret1)).status === 200, "the old secret still works during the rotation");
  check((await token(clientId, secret2)).status === 200, "the new secret works");
  // Revoke the old one.
  const oldLine = row().locator("div.mono", { hasText: secretId1.slice(0, 8) });
  await oldLine.getByRole("button", { name: "Revoke" }).click();
  await page.waitForFunction((id) => [...document.querySelectorAll("#clients div.mono")].some((d) => d.textContent.startsWith(id) && d.textContent.includes("revoked")), secretId1.slice(0, 8));
  t = await token(clientId, secret1);
  check(t.status === 401 && t.body.error === "invalid_client", `the revoked secret is refused (${t.status} ${t.body && t.body.error})`);
  check((await token(clientId, secret2)).status === 200, "the new secret keeps working");

  // Disable, then enable.
  await row().getByRole("button", { name: "Disable" }).click();
  await page.waitForFunction((id) => [...document.querySelectorAll("#clients tr")].some((r) => r.textContent.includes(id) && r.textContent.includes("disabled")), clientId);
  t = await token(clientId, secret2);
  check(t.status === 401 && t.body.error === "invalid_client", `a disabled client is refused (${t.status})`);
  await page.screenshot({ path: path.join(artifacts, "gateway-admin-rotated-disabled.png"), fullPage: true });
  await row().getByRole("button", { name: "Enable" }).click();
  await page.waitForFunction((id) => [...document.querySelectorAll("#clients tr")].some((r) => r.textContent.includes(id) && r.textContent.includes("enabled")), clientId);
  check((await token(clientId, secret2)).status === 200, "enabled again, the client gets tokens");
  await axe("rotated, revoked, enabled");

  // Delete (after a confirmation).
  await row().getByRole("button", { name: "Delete" }).click();
  await page.waitForSelector(`#clients tr:has-text('${clientId}')`, { state: "detached" });
  check(dialogs.some((d) => d.includes("Ward app")), "deleting asks first, naming the client");
  t = await token(clientId, secret2);
  check(t.status === 401, `a deleted client is refused (${t.status})`);

  // The audit section lists the token requests.
  await page.reload();
  await page.waitForSelector("#audit tr");
  const state = await page.textContent("#audit-state");
  check(/intact/.test(state), `the audit chain is shown intact: ${state}`);
  check(problems.length === 0, `no console errors or CSP violations: ${JSON.stringify(problems)}`);
  await page.screenshot({ path: path.join(artifacts, "gateway-admin-desktop.png"), fullPage: true });

  // A phone: the same console, readable at 375 px.
  const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const p2 = await phone.newPage();
  p2.on("console", (m) => log("phone:", m.text()));
  await p2.goto(`${base}/admin`);
  await p2.fill("#key", adminKey);
  await p2.click("#key-form button[type=submit]");
  await p2.waitForSelector("#console:not([hidden])");
  const overflow = await p2.evaluate(() => {
    const wide = [...document.querySelectorAll("body, body *")].filter((e) => e.getBoundingClientRect().right > 376 && !(e.parentElement && e.parentElement.closest(".scroll")));
    if (wide.length) console.error("wider than the phone:", wide.slice(0, 5).map((e) => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().width)).join(", "), "viewport", window.innerWidth);
    return document.documentElement.scrollWidth - 375;
  });
  check(overflow <= 0, `the page itself does not scroll sideways on a phone (overflow ${overflow} px; wide tables scroll in their own box)`);
  await p2.screenshot({ path: path.join(artifacts, "gateway-admin-phone.png"), fullPage: true });
  summary.clientId = clientId;
  summary.ok = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
