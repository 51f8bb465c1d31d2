// Accessibility (WCAG 2.2 AA) of the pages around the list, on the demo
// ward: axe-core on every page state (sign-in, both password pages, the
// teams page, the team page, the list on a desktop and a phone, with notes
// open, with an editor open, the patient page) with no serious or critical
// violation; then a keyboard-only round (sign in, sort, notes, an EHR
// value's details, edit a field, open a patient, add a note, edit a field
// there) with the focus kept after each redraw.
//
// Env: ROUNDS_URL, ROUNDS_USER, ROUNDS_PASSWORD, ROUNDS_LIST_PATH, and the harness's.
import fs from "node:fs";
import path from "node:path";
import { env, checker, launch, closeControl, waitFor, api } from "./harness.mjs";

const BASE = env("ROUNDS_URL").replace(/\/$/, "");
const USER = env("ROUNDS_USER");
const PASSWORD = env("ROUNDS_PASSWORD");
const LIST_PATH = env("ROUNDS_LIST_PATH");
const ART = env("ROUNDS_ARTIFACTS");
const AXE = fs.readFileSync(path.join(env("ROUNDS_NODE_MODULES"), "axe-core", "axe.min.js"), "utf8");
const { log, check } = checker("a11y");
const summary = { ok: false, axe: {} };

/** axe-core on the page as it is: every violation of impact serious or critical fails. */
async function audit(p, state) {
  await p.evaluate(AXE);
  const result = await p.evaluate(() => {
    // Header buttons scrolled sideways under the pinned name column are
    // covered by design (the list scrolls under it); they are left out.
    const pin = document.querySelector("#plist thead th.pin");
    const edge = pin ? pin.getBoundingClientRect().right : -Infinity;
    const covered = [...document.querySelectorAll("#plist thead th:not(.pin) button")].filter((b) => b.getBoundingClientRect().right <= edge);
    return window.axe.run({ include: [document], exclude: covered.map((b) => [`button[data-focus-key="${b.dataset.focusKey}"]`]) }, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }, resultTypes: ["violations"] });
  });
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const all = result.violations.map((v) => `${v.id}(${v.impact}, ${v.nodes.length})`);
  summary.axe[state] = { serious: bad.length, violations: all };
  log(`axe ${state}: ${all.length ? all.join(", ") : "no violations"}`);
  const detail = bad.map((v) => `${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`).join("\n  ");
  check(!bad.length, `no serious or critical axe violation on ${state}${detail ? `:\n  ${detail}` : ""}`);
}

async function listReady(p) {
  await waitFor(p, () => document.querySelectorAll("#plist tbody tr[data-patient]").length >= 36 && !document.querySelector("#plist .ehr-pending") && document.querySelector("#live")?.dataset.state === "live", null, "the ward list is drawn and live", 30000);
}

const active = (p) => p.evaluate(() => {
  const a = document.activeElement;
  return { tag: a?.tagName, key: a?.dataset?.focusKey || "", label: a?.getAttribute("aria-label") || a?.textContent?.trim().slice(0, 40) || "" };
});

/** Presses Tab (Shift+Tab with back) until the focused element passes `pred`; fails after `max`. */
async function tabTo(p, pred, arg, what, max = 400, back = false) {
  for (let i = 0; i < max; i++) {
    if (await p.evaluate(pred, arg)) return;
    await p.keyboard.press(back ? "Shift+Tab" : "Tab");
  }
  throw new Error(`Tab never reached ${what}`);
}

const browser = await launch();
try {
  // ---- axe on every page state
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const a = await ctx.newPage();
  await a.goto(`${BASE}/sign-in`);
  await audit(a, "sign-in");
  await a.fill("input[name=username]", USER);
  await a.fill("input[name=password]", PASSWORD);
  await Promise.all([a.waitForURL(/\/teams/), a.click("button[type=submit]")]);
  await listReady(a);
  const team = LIST_PATH.split("/")[2];
  const apiList = `/api/v1${LIST_PATH}`;
  // A team column of each common kind, as a ward has.
  let r = await api(a, "POST", `${apiList}/columns`, { label: "Status", type: "choice", options: [{ label: "Stable", color: "#1f7a3d" }, { label: "Watch", color: "#d39e00" }, { label: "Critical", color: "#c0392b" }] });
  const status = r.body;
  await api(a, "POST", `${apiList}/columns`, { label: "Seen", type: "checkbox" });
  r = await api(a, "GET", apiList);
  const rows = r.body.rows;
  const planKey = r.body.columns.find((c) => c.label === "Plan").key;
  await api(a, "PATCH", `/api/v1/teams/${team}/patients/${rows[0].patientId}`, { fields: { [status.key]: { value: status.options[2].id, baseVersion: 0 } } });
  await a.reload();
  await listReady(a);
  await audit(a, "list (desktop)");
  const first = rows[0].patientId;
  // Notes open under a row.
  await a.locator(`#plist tr[data-patient="${first}"] .rowmenu > summary`).click();
  await a.locator(`#plist tr[data-patient="${first}"] .rowmenu-box button:has-text("Notes")`).click();
  await a.waitForSelector("#plist tr.notes-row textarea");
  await audit(a, "list with notes open");
  await a.locator("#plist tr.notes-row button:has-text('Close notes')").click();
  // An editor open in a cell.
  await a.locator(`#plist tr[data-patient="${first}"] [data-key="${planKey}"]`).click();
  await a.waitForSelector(`#plist tr[data-patient="${first}"] [data-key="${planKey}"] form.editor`);
  await audit(a, "list with an editor open");
  await a.keyboard.press("Escape");
  // An EHR value's details.
  await a.locator(`#plist tr[data-patient="${first}"] [data-key="heartRate"]`).click();
  await a.waitForSelector(".popover");
  await audit(a, "list with an EHR value's details");
  await a.keyboard.press("Escape");
  await a.goto(`${BASE}/teams`);
  await audit(a, "teams");
  await a.goto(`${BASE}/teams/${team}`);
  await a.waitForLoadState("networkidle");
  await audit(a, "team page");
  await a.goto(`${BASE}/teams/${team}/patients/${first}`);
  await a.waitForSelector("#ehr-card:not([hidden]) .ehr-sections", { timeout: 15000 });
  await audit(a, "patient page (EHR patient)");
  await a.screenshot({ path: path.join(ART, "patient-demo-1440x900.png"), fullPage: true });
  await a.goto(`${BASE}/account/password`);
  await audit(a, "change password");
  const changeTitle = await a.title();
  // The phone: the list as cards, and the patient page.
  const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const p = await phone.newPage();
  await p.goto(`${BASE}/sign-in`);
  await p.fill("input[name=username]", USER);
  await p.fill("input[name=password]", PASSWORD);
  await Promise.all([p.waitForURL(/\/teams/), p.click("button[type=submit]")]);
  await listReady(p);
  await audit(p, "list (phone)");
  await p.goto(`${BASE}/teams/${team}/patients/${first}`);
  await p.waitForSelector("#ehr-card:not([hidden]) .ehr-sections", { timeout: 15000 });
  await audit(p, "patient page (phone)");
  await p.screenshot({ path: path.join(ART, "patient-demo-375x812.png"), fullPage: true });
  // At 320 px (WCAG reflow) the patient page does not scroll sideways.
  await p.setViewportSize({ width: 320, height: 640 });
  await p.waitForTimeout(300);
  const reflow = await p.evaluate(() => ({ w: document.documentElement.scrollWidth, wide: [...document.querySelectorAll("main *")].filter((n) => n.getBoundingClientRect().right > 321).slice(0, 4).map((n) => `${n.tagName}.${n.className}`) }));
  check(reflow.w <= 320, `the patient page reflows at 320 px (${reflow.w} px; ${reflow.wide.join(", ")})`);
  // The forced password page of a new account with a one-time password.
  r = await api(a, "POST", "/api/v1/users", { username: "newnurse", displayName: "New Nurse" });
  check(r.status === 201, `an account with a one-time password (${r.status})`);
  const oneTime = r.body.oneTimePassword || r.body.password;
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const f = await fresh.newPage();
  await f.goto(`${BASE}/sign-in`);
  await f.fill("input[name=username]", "newnurse");
  await f.fill("input[name=password]", oneTime);
  await Promise.all([f.waitForURL(/\/account\/password/), f.click("button[type=submit]")]);
  await audit(f, "choose password (forced)");
  const forcedTitle = await f.title();
  check(forcedTitle !== changeTitle, `the two password pages have their own titles (“${forcedTitle}” / “${changeTitle}”)`);

  // ---- a keyboard-only round
  const kctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const k = await kctx.newPage();
  await k.goto(`${BASE}/sign-in`);
  await tabTo(k, () => document.activeElement?.name === "username", null, "the username");
  await k.keyboard.type(USER);
  await k.keyboard.press("Tab");
  await k.keyboard.type(PASSWORD);
  await Promise.all([k.waitForURL(/\/lists\//), k.keyboard.press("Enter")]);
  check(new URL(k.url()).pathname === LIST_PATH, "signed in by keyboard, on the ward list");
  await listReady(k);
  // Sort by HR: the header button keeps the focus after the redraw.
  await tabTo(k, () => document.activeElement?.dataset?.focusKey === "sort:heartRate", null, "the HR header");
  await k.keyboard.press("Enter");
  await waitFor(k, () => document.querySelector('#plist thead th[data-key="heartRate"]')?.getAttribute("aria-sort") === "ascending", null, "the list is sorted by HR");
  await k.waitForTimeout(300);
  let f1 = await active(k);
  check(f1.key === "sort:heartRate", `the focus stays on the HR header after sorting (${JSON.stringify(f1)})`);
  await k.keyboard.press("Enter");
  await waitFor(k, () => document.querySelector('#plist thead th[data-key="heartRate"]')?.getAttribute("aria-sort") === "descending", null, "sorted by HR, highest first");
  await k.waitForTimeout(300);
  f1 = await active(k);
  check(f1.key === "sort:heartRate", "and after sorting again");
  const top = await k.getAttribute("#plist tbody tr[data-patient]", "data-patient");
  // Notes of the top patient from its row menu: the focus goes to the new note.
  await tabTo(k, (id) => document.activeElement?.dataset?.focusKey === `menu:${id}`, top, "the row menu");
  await k.keyboard.press("Enter");
  await tabTo(k, () => /^(Notes|Hide notes)$/.test(document.activeElement?.textContent?.trim() || ""), null, "Notes in the menu", 20);
  await k.keyboard.press("Enter");
  await k.waitForSelector("#plist tr.notes-row textarea");
  f1 = await active(k);
  check(f1.key === `note:${top}`, `after Notes the focus is on the new note (${JSON.stringify(f1)})`);
  const noteText = `Seen by keyboard ${Date.now() % 10000}`;
  await k.keyboard.type(noteText);
  await k.keyboard.press("Tab");
  await k.keyboard.press("Enter");
  await waitFor(k, (t) => document.querySelector("#plist tr.notes-row")?.textContent.includes(t), noteText, "the note is listed");
  await tabTo(k, () => document.activeElement?.textContent?.trim() === "Close notes", null, "Close notes", 30);
  await k.keyboard.press("Enter");
  // The notes row closes and the focus moves back (not at once on a busy machine).
  await waitFor(k, (top) => !document.querySelector("#plist tr.notes-row") && [`noteline:${top}`, `menu:${top}`].includes(document.activeElement?.dataset?.focusKey), top, "the notes close and the focus is back on the row", 5000).catch(() => {});
  f1 = await active(k);
  check(f1.key === `noteline:${top}` || f1.key === `menu:${top}`, `after closing the notes the focus is back on the row (${JSON.stringify(f1)})`);
  // An EHR value's details: Escape closes them and the focus is back on the cell.
  await tabTo(k, (id) => document.activeElement?.dataset?.focusKey === `cell:${id}:spo2`, top, "the SpO₂ cell");
  await k.keyboard.press("Enter");
  await k.waitForSelector(".popover");
  f1 = await active(k);
  check(f1.tag === "BUTTON" && f1.label === "Close", "the details take the focus (on Close)");
  await k.keyboard.press("Escape");
  await k.waitForSelector(".popover", { state: "detached", timeout: 3000 });
  f1 = await active(k);
  check(f1.key === `cell:${top}:spo2`, `after closing the details the focus is back on the cell (${JSON.stringify(f1)})`);
  // Edit the plan: Enter opens the editor, Enter saves, the focus is back on the cell.
  await tabTo(k, ([id, key]) => document.activeElement?.dataset?.focusKey === `cell:${id}:${key}`, [top, planKey], "the Plan cell");
  await k.keyboard.press("Enter");
  await k.waitForSelector(`#plist tr[data-patient="${top}"] [data-key="${planKey}"] form.editor input`);
  const plan = `Keyboard plan ${Date.now() % 10000}`;
  await k.keyboard.press("Control+A");
  await k.keyboard.type(plan);
  await k.keyboard.press("Enter");
  await waitFor(k, ([id, key, t]) => !document.querySelector(`#plist tr[data-patient="${id}"] [data-key="${key}"] form`) && document.querySelector(`#plist tr[data-patient="${id}"] [data-key="${key}"]`)?.textContent.includes(t), [top, planKey, plan], "the plan is saved");
  f1 = await active(k);
  check(f1.key === `cell:${top}:${planKey}`, `after saving the focus is back on the Plan cell (${JSON.stringify(f1)})`);
  // Open the patient, add a note and edit a field there.
  await tabTo(k, (id) => document.activeElement?.dataset?.focusKey === `open:${id}`, top, "the patient's name", 400, true);
  await Promise.all([k.waitForURL(/\/patients\//), k.keyboard.press("Enter")]);
  await tabTo(k, () => document.activeElement?.name === "body" && document.activeElement.form?.id === "note-form", null, "the new note on the patient page");
  const note2 = `Patient page note ${Date.now() % 10000}`;
  await k.keyboard.type(note2);
  // Past the note's options (read receipt, urgent) to its button.
  await tabTo(k, () => document.activeElement?.form?.id === "note-form" && document.activeElement.type === "submit", null, "the note's button");
  await k.keyboard.press("Enter");
  await waitFor(k, (t) => document.getElementById("notes")?.textContent.includes(t), note2, "the note is on the patient page");
  await tabTo(k, (key) => document.activeElement?.closest?.(`.field[data-key="${key}"]`) && document.activeElement.classList.contains("field-edit"), planKey, "the Plan field", 200, true);
  const label = await k.evaluate(() => document.activeElement.getAttribute("aria-label"));
  check(label.includes(plan), `the field's name says its value (${label})`);
  await k.keyboard.press("Enter");
  await k.waitForSelector(`.field[data-key="${planKey}"] form.editor input`);
  await k.keyboard.press("Control+A");
  await k.keyboard.type(`${plan} (checked)`);
  await k.keyboard.press("Enter");
  await waitFor(k, ([key, t]) => document.querySelector(`.field[data-key="${key}"] dd`)?.textContent.includes(t), [planKey, `${plan} (checked)`], "the field is saved on the patient page");
  f1 = await k.evaluate((key) => !!document.activeElement?.closest?.(`.field[data-key="${key}"]`), planKey);
  check(f1, "the focus is back on the field after saving");
  summary.ok = true;
} finally {
  await browser.close();
  closeControl();
}
console.log(JSON.stringify(summary));
