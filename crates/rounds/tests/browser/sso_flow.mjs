// Single sign-on in headless Chromium (started by tests/it/sso.rs): the
// sign-in page shows the providers' buttons; a click reaches the provider's
// login form; signing in there brings the nurse straight to her ward's list,
// in the team the directory's group gave her. At a provider that makes no
// accounts (JIT off), an unknown person sees a page telling her to ask her
// administrator. The last stdout line is a JSON summary.
//
// Environment: ROUNDS_URL, ROUNDS_CHROMIUM, ROUNDS_NODE_MODULES, ROUNDS_ARTIFACTS.
import { checker, env, launch } from "./harness.mjs";

const BASE = env("ROUNDS_URL");
const ART = env("ROUNDS_ARTIFACTS");
const { log, check } = checker("sso");
const problems = [];
const browser = await launch();
const summary = {};

/** A new browser profile whose page errors are collected; `allowed(r)`
 * names the error answers expected there. */
async function newPage(allowed = () => false) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // The browser's own favicon.ico request is the one 404 allowed.
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico") && !allowed(r)) {
      problems.push(`${r.status()} for ${r.url()}`);
    }
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  return page;
}

const ours = (path) => new RegExp(`^${BASE.replace(/[.]/g, "\\.")}${path}`);

try {
  // 1. The nurse: one click, the provider's form, her ward list.
  const page = await newPage();
  await page.goto(`${BASE}/sign-in`);
  const button = page.getByRole("link", { name: "Sign in with Hospital hospital" });
  check(await button.isVisible(), "the provider's button is on the sign-in page");
  check(await page.getByRole("link", { name: "Sign in with Clinic" }).isVisible(), "the second provider's button too");
  check(await page.locator("input[name=username]").isVisible(), "the local form is there too");
  await page.screenshot({ path: `${ART}/sso-sign-in.png`, fullPage: true });
  await button.click();
  await page.waitForSelector("input[name=login]");
  check(page.url().includes("/interaction/"), `at the provider's login form (${page.url()})`);
  await page.fill("input[name=login]", "sub-ada");
  await Promise.all([page.waitForURL(ours("/teams/[^/]+/lists/")), page.click("#login")]);
  summary.landed = new URL(page.url()).pathname;
  await page.waitForLoadState("networkidle");
  await page.screenshot({ path: `${ART}/sso-landed.png`, fullPage: true });
  check(await page.getByRole("heading", { name: "Ward round" }).first().isVisible(), "she lands on the ward's list");
  check(await page.locator("text=Ada Nurse >> visible=true").first().isVisible(), "under her name from the claims");
  // (On a phone the list page leaves out the crumbs naming the team.)
  await page.goto(`${BASE}/teams`);
  check(await page.getByText("Ward 7B").first().isVisible(), "her team is the one her directory group gave her");
  await page.screenshot({ path: `${ART}/sso-teams.png`, fullPage: true });
  await page.goto(`${BASE}/account`);
  check(await page.getByText("sub-ada").isVisible(), "the account page shows her sign-in identity");

  // 2. Someone the site has no account for, at the provider that makes none.
  const refusedAt = (r) => r.status() === 403 && new URL(r.url()).pathname === "/sign-in/sso/clinic/callback";
  const other = await newPage(refusedAt);
  await other.goto(`${BASE}/sign-in`);
  await other.getByRole("link", { name: "Sign in with Clinic" }).click();
  await other.waitForSelector("input[name=login]");
  await other.fill("input[name=login]", "sub-bob");
  const [answer] = await Promise.all([
    other.waitForResponse((r) => new URL(r.url()).pathname === "/sign-in/sso/clinic/callback"),
    other.click("#login"),
  ]);
  await other.waitForLoadState();
  summary.refusedStatus = answer.status();
  check(await other.getByRole("heading", { name: "No Rounds account" }).isVisible(), "the page says there is no account");
  check(await other.getByText("Ask your Rounds administrator").isVisible(), "and to ask the administrator");
  const back = await other.request.get(`${BASE}/api/v1/me`);
  check(back.status() === 401, `no session was made (${back.status()})`);
  await other.screenshot({ path: `${ART}/sso-no-account.png`, fullPage: true });
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
