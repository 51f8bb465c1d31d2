// Single sign-on in headless Chromium (started by tests/it/sso.rs): the
// sign-in page shows the provider's button; a click reaches the provider's
// login form; signing in there brings the nurse back to her teams, with the
// team the directory's group gave her. The last stdout line is a JSON summary.
//
// Environment: ROUNDS_URL, ROUNDS_CHROMIUM, ROUNDS_NODE_MODULES, ROUNDS_ARTIFACTS.
import { checker, env, launch } from "./harness.mjs";

const BASE = env("ROUNDS_URL");
const ART = env("ROUNDS_ARTIFACTS");
const { log, check } = checker("sso");
const problems = [];
const browser = await launch();
const summary = {};
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // The browser's own favicon.ico request is the one 404 allowed.
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) problems.push(`${r.status()} for ${r.url()}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  await page.goto(`${BASE}/sign-in`);
  const button = page.getByRole("link", { name: "Sign in with Hospital hospital" });
  check(await button.isVisible(), "the provider's button is on the sign-in page");
  check(await page.locator("input[name=username]").isVisible(), "the local form is there too");
  await page.screenshot({ path: `${ART}/sso-sign-in.png`, fullPage: true });
  await button.click();
  await page.waitForSelector("input[name=login]");
  check(page.url().includes("/interaction/"), `at the provider's login form (${page.url()})`);
  await page.fill("input[name=login]", "sub-ada");
  await Promise.all([page.waitForURL(new RegExp(`^${BASE.replace(/[.]/g, "\\.")}/teams`)), page.click("#login")]);
  summary.landed = new URL(page.url()).pathname;
  check(await page.getByText("Ward 7B").first().isVisible(), "she lands in her team");
  check(await page.getByText("Ada Nurse").first().isVisible(), "under her name from the claims");
  await page.screenshot({ path: `${ART}/sso-landed.png`, fullPage: true });
  await page.goto(`${BASE}/account`);
  check(await page.getByText("sub-ada").isVisible(), "the account page shows her sign-in identity");
  check(problems.length === 0, `no page errors (${problems.join("; ")})`);
  summary.ok = true;
} catch (e) {
  log("failed:", e.message);
  summary.ok = false;
  summary.error = e.message;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
