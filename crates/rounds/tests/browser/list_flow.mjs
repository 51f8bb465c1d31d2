// Drives headless Chromium through a ward round on a real Rounds server
// (started by tests/it/browser.rs). Every check throws on failure, so a
// non-zero exit status fails the Rust test; the last stdout line is a JSON
// summary.
//
// Environment: ROUNDS_URL, ROUNDS_TEAM_ID, ROUNDS_PASSWORD, ROUNDS_CHROMIUM,
// ROUNDS_NODE_MODULES (where playwright-core is), ROUNDS_ARTIFACTS.
import { createRequire } from "node:module";
import { rmSync } from "node:fs";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("ROUNDS_URL");
const TEAM = env("ROUNDS_TEAM_ID");
const PASSWORD = env("ROUNDS_PASSWORD");
const ART = env("ROUNDS_ARTIFACTS");
const require = createRequire(path.join(env("ROUNDS_NODE_MODULES"), "noop.js"));
const { chromium } = require("playwright-core");

for (const who of ["charge", "nurse"]) rmSync(`${ART}/failure-${who}.png`, { force: true });
const problems = [];
const log = (...a) => console.error("[browser]", ...a);
const check = (cond, what) => {
  if (!cond) throw new Error(`check failed: ${what}`);
  log("ok:", what);
};

function watch(page, who) {
  page.on("pageerror", (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    // CSP violations and script errors show up as console errors.
    if (m.type() === "error" && !/Failed to load resource.*40[49]/.test(m.text())) problems.push(`${who}: console error: ${m.text()}`);
  });
}

async function signIn(page, username) {
  await page.goto(`${BASE}/sign-in`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", PASSWORD);
  await Promise.all([page.waitForURL(/\/teams/), page.click("button[type=submit]")]);
}

// playwright starts Chromium with a fresh temporary profile of its own
// (it refuses --user-data-dir with launch()) and deletes it on close.
const browser = await chromium.launch({
  executablePath: env("ROUNDS_CHROMIUM"),
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const summary = {};
const pages = [];
try {
  // ---------------------------------------------------------------- charge nurse, desktop
  const ctxA = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const a = await ctxA.newPage();
  watch(a, "charge");
  pages.push(["charge", a]);
  await signIn(a, "charge");
  await a.goto(`${BASE}/teams/${TEAM}`);
  check(await a.isVisible("text=No lists yet"), "the team page says there are no lists yet");
  await a.fill("#lists input[name=name]", "Morning round");
  await Promise.all([a.waitForURL(/\/lists\//), a.click("#lists button:has-text('Create list')")]);
  const listUrl = a.url();
  summary.listUrl = listUrl;
  await a.waitForSelector("#live[data-state=live]", { timeout: 5000 });
  check(await a.isVisible("text=No patients yet — add the first"), "an empty list says so");

  // Three patients through the add form.
  const patients = [
    ["Nakamura", "Aiko", "MRN-1001", "1950-03-04", "female", "7B", "12", "A"],
    ["Okafor", "Chidi", "MRN-1002", "1982-11-20", "male", "7B", "12", "B"],
    ["Élodie", "Martin", "MRN-1003", "1999-06-30", "female", "7B", "14", "A"],
  ];
  for (const [family, given, mrn, born, sex, ward, room, bed] of patients) {
    await a.fill("#add-patient-form input[name=family]", family);
    await a.fill("#add-patient-form input[name=given]", given);
    await a.fill("#add-patient-form input[name=mrn]", mrn);
    await a.fill("#add-patient-form input[name=birthDate]", born);
    await a.selectOption("#add-patient-form select[name=sex]", sex);
    await a.fill("#add-patient-form input[name=ward]", ward);
    await a.fill("#add-patient-form input[name=room]", room);
    await a.fill("#add-patient-form input[name=bed]", bed);
    await a.click("#add-patient-form button[type=submit]");
    await a.waitForSelector(`#plist tbody tr:has-text("${family.toUpperCase()}")`, { timeout: 5000 });
  }
  check((await a.locator("#plist tbody tr[data-patient]").count()) === 3, "three patients are on the list");

  // A choice column with coloured options.
  await a.click("#columns-panel > summary");
  await a.fill("#new-column input[name=label]", "Status");
  await a.selectOption("#new-column select[name=type]", "choice");
  const optionInputs = a.locator("#new-column .options input:not([type=color])");
  await optionInputs.nth(0).fill("Stable");
  await optionInputs.nth(1).fill("Watch");
  await optionInputs.nth(2).fill("Critical");
  await a.locator("#new-column .options input[type=color]").nth(2).fill("#c0392b");
  await a.click("#new-column button[type=submit]");
  await a.waitForSelector('#plist thead th:has-text("Status")', { timeout: 5000 });
  await a.click("#columns-panel > summary");
  check(await a.isVisible('#plist thead th:has-text("Status")'), "the Status column is shown");

  const statusCell = (family) => a.locator(`#plist tbody tr:has-text("${family}") td[data-label="Status"]`);
  async function setStatus(family, label) {
    await statusCell(family).click();
    const select = statusCell(family).locator("select");
    await select.selectOption({ label });
    await a.waitForFunction(
      ([f, l]) => {
        const row = [...document.querySelectorAll("#plist tbody tr")].find((r) => r.textContent.includes(f));
        const cell = row && row.querySelector('td[data-label="Status"]');
        return cell && !cell.querySelector("select") && cell.textContent.includes(l);
      },
      [family, label],
      { timeout: 5000 },
    );
  }
  await setStatus("NAKAMURA", "Watch");
  await setStatus("OKAFOR", "Critical");
  await setStatus("ÉLODIE", "Stable");
  const critical = await a.evaluate(() => {
    const row = [...document.querySelectorAll("#plist tbody tr")].find((r) => r.textContent.includes("OKAFOR"));
    const badge = row && row.querySelector('td[data-label="Status"] .badge');
    return badge ? getComputedStyle(badge).backgroundColor : "no badge";
  });
  check(critical === "rgb(192, 57, 43)", `the Critical badge has its colour (${critical})`);

  // Sort by Status: options order Stable, Watch, Critical.
  await a.click('#plist thead th:has-text("Status") button');
  await a.waitForFunction(() => new URL(location.href).searchParams.get("sort") !== null, null, { timeout: 5000 });
  await a.waitForFunction(() => document.querySelector("#plist tbody tr th")?.textContent.includes("ÉLODIE"), null, { timeout: 5000 });
  const order = await a.$$eval("#plist tbody tr[data-patient] th.pin .pname", (xs) => xs.map((x) => x.textContent));
  check(JSON.stringify(order) === JSON.stringify(["ÉLODIE, Martin", "NAKAMURA, Aiko", "OKAFOR, Chidi"]), `sorted by status: ${order.join(" / ")}`);
  const sortedUrl = a.url();
  check(/sort=/.test(sortedUrl), `the sort is in the address (${sortedUrl})`);
  // It survives a reload, server-rendered before any script runs.
  await a.reload();
  const firstServer = await a.$eval("#plist tbody tr th", (x) => x.textContent);
  check(firstServer.includes("ÉLODIE"), "the sort survives a reload");
  await a.waitForSelector("#live[data-state=live]", { timeout: 5000 });

  // Filter: Status is Critical; then search; both in the address.
  await a.click("#filter-panel > summary");
  await a.selectOption("#filter-col", { label: "Status" });
  await a.selectOption("#filter-panel .filter-value select", { label: "Critical" });
  await a.click("#filter-panel button:has-text('Add filter')");
  await a.waitForFunction(() => document.querySelectorAll("#plist tbody tr[data-patient]").length === 1, null, { timeout: 5000 });
  check(new URL(a.url()).searchParams.getAll("filter").length === 1, "a filter narrows the list to the critical patient and is in the address");
  await a.click("#view-chips button:has-text('Clear view')");
  await a.waitForFunction(() => document.querySelectorAll("#plist tbody tr[data-patient]").length === 3, null, { timeout: 5000 });
  await a.fill("#search", "okaf");
  await a.waitForFunction(() => document.querySelectorAll("#plist tbody tr[data-patient]").length === 1 && new URL(location.href).searchParams.get("q") === "okaf", null, { timeout: 5000 });
  check(true, "the search box narrows the list and keeps q= in the address");
  await a.fill("#search", "");
  await a.click('#plist thead th:has-text("Status") button');
  await a.waitForFunction(() => document.querySelectorAll("#plist tbody tr[data-patient]").length === 3 && new URL(location.href).searchParams.get("sort"), null, { timeout: 5000 });
  await a.click("#filter-panel > summary");

  // ---------------------------------------------------------------- the nurse, on a phone
  const ctxB = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const b = await ctxB.newPage();
  watch(b, "nurse");
  pages.push(["nurse", b]);
  await signIn(b, "nurse");
  await b.goto(listUrl);
  await b.waitForSelector("#live[data-state=live]", { timeout: 5000 });
  check((await b.locator("#plist tbody tr[data-patient]").count()) === 3, "the nurse sees the three patients");

  // A change by the charge nurse appears on the nurse's phone without reload.
  const navB = await b.evaluate(() => performance.getEntriesByType("navigation").length + ":" + performance.timeOrigin);
  let t0 = Date.now();
  await setStatus("NAKAMURA", "Critical");
  await b.waitForFunction(() => {
    const row = [...document.querySelectorAll("#plist tbody tr")].find((r) => r.textContent.includes("NAKAMURA"));
    return row && row.querySelector('td[data-label="Status"]')?.textContent.includes("Critical");
  }, null, { timeout: 3000 });
  summary.valueSeenAfterMs = Date.now() - t0;
  check(true, `the nurse sees NAKAMURA become Critical within 3 s (${summary.valueSeenAfterMs} ms)`);

  // A note written by the charge nurse appears too.
  const noteText = `Check potassium at 14:00 (${Date.now() % 10000})`;
  await a.locator('#plist tbody tr:has-text("OKAFOR") .rowmenu > summary').click();
  await a.locator('#plist tbody tr:has-text("OKAFOR") .rowmenu-box button:has-text("Notes")').click();
  await a.waitForSelector(".notes-row textarea", { timeout: 5000 });
  t0 = Date.now();
  await a.fill(".notes-row textarea", noteText);
  await a.click(".notes-row button[type=submit]");
  await a.waitForSelector(`.notes-row .note-body:has-text("${noteText}")`, { timeout: 5000 });
  await b.waitForFunction((t) => document.querySelector("#plist")?.textContent.includes(t), noteText, { timeout: 3000 });
  summary.noteSeenAfterMs = Date.now() - t0;
  check(true, `the nurse sees the note within 3 s (${summary.noteSeenAfterMs} ms)`);
  const navB2 = await b.evaluate(() => performance.getEntriesByType("navigation").length + ":" + performance.timeOrigin);
  check(navB === navB2, "the nurse's page was not reloaded");

  // Concurrent edit of one field: the nurse's stale save is refused with both values.
  await b.locator('#plist tbody tr:has-text("OKAFOR") td[data-label="Status"]').click();
  await setStatus("OKAFOR", "Watch");
  await b.waitForFunction(() => {
    const row = [...document.querySelectorAll("#plist tbody tr")].find((r) => r.textContent.includes("OKAFOR"));
    return row && row.querySelector('td[data-label="Status"] select');
  }, null, { timeout: 3000 });
  await b.locator('#plist tbody tr:has-text("OKAFOR") td[data-label="Status"] select').selectOption({ label: "Stable" });
  await b.waitForSelector(".conflict:not([hidden])", { timeout: 5000 });
  const conflictText = await b.textContent(".conflict");
  check(/Yours: Stable/.test(conflictText) && /Saved by charge display.*: Watch/.test(conflictText), `the conflict shows both values: ${conflictText.replace(/\s+/g, " ")}`);
  await b.screenshot({ path: `${ART}/list-conflict-375.png` });
  await b.click(".conflict button:has-text('Keep mine')");
  await a.waitForFunction(() => {
    const row = [...document.querySelectorAll("#plist tbody tr")].find((r) => r.textContent.includes("OKAFOR"));
    return row && row.querySelector('td[data-label="Status"]')?.textContent.includes("Stable");
  }, null, { timeout: 3000 });
  check(true, "keeping mine saves it, and the other screen shows it");

  // ---------------------------------------------------------------- screenshots
  await a.waitForTimeout(300);
  await a.screenshot({ path: `${ART}/list-1920x1080.png` });
  await b.evaluate(() => window.scrollTo(0, 0));
  await b.screenshot({ path: `${ART}/list-375x812.png` });
  // The nurse's phone, scrolled sideways: the name stays pinned.
  await b.evaluate(() => {
    const w = document.getElementById("table-wrap");
    w.scrollLeft = w.scrollWidth;
    w.scrollIntoView();
  });
  await b.screenshot({ path: `${ART}/list-375x812-scrolled.png` });
  const pinned = await b.evaluate(() => {
    const th = document.querySelector("#plist tbody th.pin");
    const wrap = document.getElementById("table-wrap");
    return th.getBoundingClientRect().left - wrap.getBoundingClientRect().left;
  });
  check(Math.abs(pinned) < 3, `the name column stays pinned when the table scrolls sideways (${pinned}px)`);
  const tooSmall = await b.evaluate(() =>
    [...document.querySelectorAll("#plist td.editable, .rowmenu > summary, #add-patient > summary")]
      .map((x) => x.getBoundingClientRect().height)
      .filter((h) => h > 0 && h < 43.5).length,
  );
  check(tooSmall === 0, `tap targets are at least 44 px high (${tooSmall} smaller)`);

  // Patient detail page with the note.
  await a.click('#plist tbody tr:has-text("OKAFOR") .pname');
  await a.waitForSelector("#patient-name");
  check((await a.textContent("#notes")).includes(noteText), "the patient page shows the note");
  await a.screenshot({ path: `${ART}/patient-1920x1080.png` });

  // Meeting view: arrow keys move the highlight.
  await a.goto(`${listUrl}/meeting`);
  await a.waitForSelector("#live[data-state=live]", { timeout: 5000 });
  const first = await a.getAttribute("#plist tbody tr.current", "data-patient");
  await a.keyboard.press("ArrowDown");
  const second = await a.getAttribute("#plist tbody tr.current", "data-patient");
  check(first && second && first !== second, "ArrowDown moves the highlight in the meeting view");
  await a.screenshot({ path: `${ART}/meeting-1920x1080.png` });

  check(problems.length === 0, `no script errors or CSP violations (${problems.join(" | ")})`);
  summary.ok = true;
  console.log(JSON.stringify(summary));
} catch (e) {
  for (const [who, p] of pages) await p.screenshot({ path: `${ART}/failure-${who}.png` }).catch(() => {});
  console.error(problems.join("\n"));
  throw e;
} finally {
  await browser.close();
}
