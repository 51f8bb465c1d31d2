// Abnormal values on the demo ward (the sandbox EHR) in headless Chromium:
// the list sorted by NEWS2 with its flags, a flagged value's class, symbol
// and accessible name, the team page's reference-range form (an owner
// narrows a range and the list flags more), and the patient page.
// Started by tests/it/browser.rs; checks throw, the last stdout line is a
// JSON summary.
//
// Environment: ROUNDS_URL, ROUNDS_TEAM_ID, ROUNDS_LIST_ID, ROUNDS_PASSWORD,
// ROUNDS_CHROMIUM, ROUNDS_NODE_MODULES, ROUNDS_ARTIFACTS.
import { readFileSync } from "node:fs";
import path from "node:path";
import { checker, closeControl, env, launch, signIn } from "./harness.mjs";

const BASE = env("ROUNDS_URL");
const TEAM = env("ROUNDS_TEAM_ID");
const LIST = env("ROUNDS_LIST_ID");
const PASSWORD = env("ROUNDS_PASSWORD");
const ART = env("ROUNDS_ARTIFACTS");
const { log, check } = checker("flags-browser");
const problems = [];
const summary = {};

/** Every flagged cell of the list: key, class, symbol, accessible name. */
const flaggedCells = () =>
  [...document.querySelectorAll("#plist tbody td.ehr-cell")]
    .filter((td) => /\b(flag-(high|low)|risk-(lowMedium|medium|high))\b/.test(td.className))
    .map((td) => ({ key: td.dataset.key, cls: td.className, sym: td.querySelector(".flag-sym")?.textContent || "", label: ((td.querySelector(".cell-btn") || td).getAttribute("aria-label") || (td.querySelector(".cell-btn") || td).textContent || "") }));

/**
 * axe-core's serious and critical findings on the flags themselves (the
 * marks, symbols and risk bands); the page's other findings are counted
 * in the summary for the accessibility work.
 */
async function axeOnFlags(page, where) {
  // Evaluated through the DevTools protocol: the page's CSP forbids inline scripts.
  await page.evaluate(readFileSync(path.join(env("ROUNDS_NODE_MODULES"), "axe-core", "axe.min.js"), "utf8"));
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ["violations"] }));
  const serious = result.violations.filter((v) => ["serious", "critical"].includes(v.impact));
  const onFlags = serious.flatMap((v) => v.nodes.filter((n) => /flag-|risk-/.test(n.html)).map((n) => `${v.id}: ${n.html.slice(0, 120)}`));
  summary[`axe-${where}`] = { serious: serious.map((v) => v.id), onFlags };
  check(onFlags.length === 0, `axe-core finds nothing serious on the ${where}'s flags (${onFlags.join(" | ")})`);
}

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const a = await ctx.newPage();
  a.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  a.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  a.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
  });
  await signIn(a, BASE, "owner", PASSWORD);
  await a.goto(`${BASE}/teams/${TEAM}/lists/${LIST}?sort=-news2`);
  await a.waitForFunction(() => document.querySelectorAll("#plist tbody tr[data-patient]").length > 0 && !document.querySelector("#plist .ehr-pending"), null, { timeout: 30000 });
  await a.waitForTimeout(300);
  const cells = await a.evaluate(flaggedCells);
  summary.flagged = cells.length;
  check(cells.length > 10, `the demo ward has flagged cells (${cells.length})`);
  const bad = cells.filter((c) => (/flag-(high|low)/.test(c.cls) && !["▲", "▼"].includes(c.sym)) || !/(high|low|risk)/.test(c.label));
  check(bad.length === 0, `every flagged cell has its symbol and the flag in its accessible name (${JSON.stringify(bad.slice(0, 3))})`);
  const high = cells.find((c) => /flag-high/.test(c.cls));
  check(!!high && high.sym === "▲" && /high \(/.test(high.label), `a high value: ▲ and "high (range)" in its name (${JSON.stringify(high)})`);
  const low = cells.find((c) => /flag-low/.test(c.cls));
  check(!!low && low.sym === "▼" && /low \(/.test(low.label), `a low value: ▼ and "low (range)" in its name (${JSON.stringify(low)})`);
  const scores = await a.$$eval('#plist tbody tr[data-patient] td[data-key="news2"] .ehr-val', (xs) => xs.map((x) => parseInt(x.textContent, 10)));
  check(scores.length > 1 && scores.every((s, i) => i === 0 || scores[i - 1] >= s), `sorted by NEWS2, highest first (${scores.join(", ")})`);
  const bands = await a.$$eval('#plist tbody td[data-key="news2"] .risk-band', (xs) => [...new Set(xs.map((x) => x.textContent))]);
  check(bands.length >= 2, `NEWS2 bands written out (${bands.join(", ")})`);
  await a.screenshot({ path: `${ART}/flags-list-1920x1080.png` });
  await axeOnFlags(a, "list");

  // The patient with the highest NEWS2: flagged vital signs on their page.
  const hrBefore = (await a.evaluate(flaggedCells)).filter((c) => c.key === "heartRate").length;
  await a.click("#plist tbody tr[data-patient] .pname");
  await a.waitForSelector("#ehr-card .ehr-vitals", { timeout: 20000 });
  const flaggedRows = await a.$$eval("#ehr-card .ehr-vitals td.value", (tds) => tds.filter((td) => /flag-|risk-/.test(td.className)).map((td) => td.textContent));
  check(flaggedRows.length > 0 && flaggedRows.some((t) => /(high|low) \(/.test(t)), `the patient page flags in words (${flaggedRows.join(" | ")})`);
  await a.screenshot({ path: `${ART}/flags-patient-1920x1080.png`, fullPage: true });
  await axeOnFlags(a, "patient page");

  // The owner narrows the heart-rate range on the team page: more flags.
  await a.goto(`${BASE}/teams/${TEAM}`);
  await a.waitForSelector("#ranges-card form", { timeout: 10000 });
  await a.fill('#ranges-card input[name="heartRate-low"]', "70");
  await a.fill('#ranges-card input[name="heartRate-high"]', "80");
  await a.click("#ranges-card button[type=submit]");
  await a.waitForFunction(() => /Saved/.test(document.querySelector("#ranges-card .form-msg")?.textContent || ""), null, { timeout: 10000 });
  check(/team's own/.test(await a.textContent('#ranges-card tr[data-vital="heartRate"]')), "the team's own heart-rate range is marked as such");
  await a.screenshot({ path: `${ART}/flags-team-ranges-1920x1080.png`, fullPage: true });
  await axeOnFlags(a, "team page");
  await a.goto(`${BASE}/teams/${TEAM}/lists/${LIST}?sort=-news2`);
  await a.waitForFunction(() => document.querySelectorAll("#plist tbody tr[data-patient]").length > 0 && !document.querySelector("#plist .ehr-pending"), null, { timeout: 30000 });
  await a.waitForFunction(() => [...document.querySelectorAll('#plist tbody td[data-key="heartRate"]')].some((td) => /70–80 bpm/.test(((td.querySelector(".cell-btn") || td).getAttribute("aria-label") || (td.querySelector(".cell-btn") || td).textContent || ""))), null, { timeout: 10000 });
  const hrAfter = (await a.evaluate(flaggedCells)).filter((c) => c.key === "heartRate");
  check(hrAfter.length > hrBefore && hrAfter.every((c) => /\((70–80 bpm)\)/.test(c.label)), `the narrower range flags more heart rates (${hrBefore} → ${hrAfter.length})`);

  check(problems.length === 0, `no script errors (${problems.join(" | ")})`);
  log("done");
  summary.ok = true;
  console.log(JSON.stringify(summary));
} finally {
  await browser.close();
  closeControl();
}
