// Data in and out of a list in a real browser (tests/it/data_browser.rs
// starts the server with a team, a list of 45 patients, a number column
// "Score" and a text column "Plan"). The charge nurse prints the list:
// Chromium renders the print sheet to PDF on A4 and on Letter (the Rust side
// reads the PDFs back with pdftotext). Then the import on the list's data
// page: a CSV whose "Score" column holds words shows the problem by row and
// column; mapping that column to "Plan" instead clears it; the import is
// confirmed and the rows are on the list. On a phone the same file again
// shows its patients as the team's, and (asked to) what it would change on
// them. axe-core finds no serious or
// critical violation in any state of the import page; screenshots at
// 1440 px and 375 px go to target/test-artifacts/.
//
// Env: ROUNDS_URL, ROUNDS_TEAM_ID, ROUNDS_LIST_ID, ROUNDS_USER,
// ROUNDS_PASSWORD, and the harness's.
import fs from "node:fs";
import path from "node:path";
import { checker, closeControl, env, launch, signIn } from "./harness.mjs";

const BASE = env("ROUNDS_URL").replace(/\/$/, "");
const TEAM = env("ROUNDS_TEAM_ID");
const LIST = env("ROUNDS_LIST_ID");
const USER = env("ROUNDS_USER");
const PASSWORD = env("ROUNDS_PASSWORD");
const ART = env("ROUNDS_ARTIFACTS");
const AXE = fs.readFileSync(path.join(env("ROUNDS_NODE_MODULES"), "axe-core", "axe.min.js"), "utf8");
const { log, check } = checker("data");
const summary = { ok: false, axe: {}, pdfs: [] };
const problems = [];

function watch(page, who) {
  page.on("pageerror", (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error" || /Failed to load resource.*(40[349]|422)/.test(m.text())) return;
    problems.push(`${who}: console error: ${m.text()}`);
  });
}

/** axe-core on the page as it is: every serious or critical violation fails. */
async function audit(p, state) {
  await p.evaluate(AXE);
  const result = await p.evaluate(() => window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }, resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const all = result.violations.map((v) => `${v.id}(${v.impact}, ${v.nodes.length})`);
  summary.axe[state] = { serious: bad.length, violations: all };
  log(`axe ${state}: ${all.length ? all.join(", ") : "no violations"}`);
  const detail = bad.map((v) => `${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`).join("\n  ");
  check(!bad.length, `no serious or critical axe violation on ${state}${detail ? `:\n  ${detail}` : ""}`);
}

// Three new patients; row 3's score is a word, which a number column refuses.
const CSV = [
  "Surname,First name,MRN,Date of birth,Score",
  "Curie,Marie,IMP-1,1967-11-07,3",
  "Bohr,Niels,IMP-2,1885-10-07,call the registrar",
  "Dirac,Paul,IMP-3,1902-08-08,",
  "",
].join("\r\n");

async function choose(p) {
  await p.setInputFiles("#import-file", { name: "ward.csv", mimeType: "text/csv", buffer: Buffer.from(CSV, "utf8") });
  await p.click("#import-form button[type=submit]");
}

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const p = await ctx.newPage();
  watch(p, USER);
  await signIn(p, BASE, USER, PASSWORD);
  const listUrl = `${BASE}/teams/${TEAM}/lists/${LIST}`;

  // ---- the print sheet, rendered to PDF by Chromium
  for (const paper of ["a4", "letter"]) {
    await p.goto(`${listUrl}/print?paper=${paper}&sort=name`);
    await p.emulateMedia({ media: "print" });
    const file = `${ART}/list-print-${paper}.pdf`;
    const pdf = await p.pdf({ path: file, preferCSSPageSize: true, printBackground: true });
    check(pdf.length > 1000 && pdf.subarray(0, 5).toString() === "%PDF-", `Chromium renders the ${paper} sheet to a PDF`);
    summary.pdfs.push(file);
    await p.emulateMedia({ media: "screen" });
  }

  // ---- the import page
  const dataUrl = `${listUrl}/data`;
  await p.goto(dataUrl);
  await audit(p, "import page");
  await choose(p);
  await p.waitForSelector(".import-problems li", { timeout: 10000 });
  const listed = await p.$$eval(".import-problems li", (lis) => lis.map((li) => li.textContent));
  log("problems:", listed);
  check(listed.length === 1 && /^Row 3, Score: /.test(listed[0]), `the problem by row and column: ${listed}`);
  check(!(await p.$("#import-confirm")), "no import while a problem remains");
  await audit(p, "import preview with a problem");
  await p.screenshot({ path: `${ART}/import-problem-1440.png`, fullPage: true });

  // The file's Score is a remark: map it to the Plan column instead.
  const select = p.locator('select[aria-label="Where “Score” goes"]');
  check((await select.inputValue()) !== "", "Score was matched by name");
  await select.selectOption({ label: "Plan" });
  await p.waitForSelector("#import-confirm", { timeout: 10000 });
  check(!(await p.$(".import-problems")), "the problem is gone with the new mapping");
  const summaryText = await p.textContent(".import-summary");
  check(/3 rows .*3 new patients/.test(summaryText), `the preview counts the rows: ${summaryText}`);
  await audit(p, "import preview ready");
  await p.screenshot({ path: `${ART}/import-ready-1440.png`, fullPage: true });
  await p.click("#import-confirm");
  await p.waitForSelector("#import-preview [role=status]", { timeout: 10000 });
  const done = await p.textContent("#import-preview [role=status]");
  check(/Imported: 3 new patients/.test(done), `the import says what it did: ${done}`);
  await audit(p, "import done");

  // The rows are on the list, with the remark in Plan.
  await p.click("text=Open the list");
  await p.waitForURL(new RegExp(`/lists/${LIST}`));
  await p.waitForFunction(() => document.querySelectorAll("#plist tbody tr[data-patient]").length >= 48, null, { timeout: 15000 });
  const text = await p.textContent("#plist tbody");
  for (const name of ["CURIE, Marie", "BOHR, Niels", "DIRAC, Paul"]) check(text.includes(name), `${name} is on the list`);
  check(text.includes("call the registrar"), "the remark went to Plan");

  // ---- a phone: the same page at 375 px, the problem shown
  const phoneCtx = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const phone = await phoneCtx.newPage();
  watch(phone, `${USER} (phone)`);
  await signIn(phone, BASE, USER, PASSWORD);
  await phone.goto(dataUrl);
  await choose(phone);
  await phone.waitForSelector("#import-preview .import-summary", { timeout: 10000 });
  // The same MRNs are the team's now: shown as such, not as new.
  const dups = await phone.textContent("#import-preview");
  check(/IMP-1 is the team's patient/.test(dups), "MRNs the team has are shown");
  // Asked to, the preview lists what the file would change on them.
  check(!(await phone.$("#import-ehr")), "no EHR matching offered: the team has no EHR");
  await phone.check("#import-update");
  await phone.waitForSelector(".import-updates li", { timeout: 10000 });
  const changes = await phone.$$eval(".import-updates li", (lis) => lis.map((li) => li.textContent));
  log("changes:", changes);
  check(changes.some((c) => /^Row 2 \(CURIE, Marie\): Score: \(empty\) → 3$/.test(c)), `the change to Curie is shown: ${changes}`);
  await audit(phone, "import preview on a phone");
  await phone.screenshot({ path: `${ART}/import-375.png`, fullPage: true });
  const overflow = await phone.evaluate(() => {
    const wide = [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}${e.className ? "." + String(e.className).split(" ").join(".") : ""}`);
    return { by: document.documentElement.scrollWidth - document.documentElement.clientWidth, wide: wide.slice(0, 8) };
  });
  check(overflow.by <= 1, `no sideways scrolling on a phone (overflow ${overflow.by}px: ${overflow.wide.join(", ")})`);

  check(!problems.length, `no page errors: ${problems.join("; ")}`);
  summary.ok = true;
} finally {
  await browser.close();
  closeControl();
}
console.log(JSON.stringify(summary));
