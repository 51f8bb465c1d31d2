// The meeting view in headless Chromium, on the demo ward (36 sandbox EHR
// inpatients, 4 team columns), started by tests/it/browser.rs:
// - at 1920×1080 and 3840×2160 every patient and every meeting column is
//   on screen without scrolling, on marked pages that advance by key and
//   button, nothing clipped (every cell's box inside the viewport, no cell
//   overflowing), body text at least 24 px at 1080p and larger at 4K;
// - the presenter's highlight follows on a second meeting view within 1 s,
//   and is announced in a polite live region;
// - with the single-key shortcuts off, j does nothing and the buttons step;
// - mask mode: no name or MRN of the ward in the page's text, title or
//   attributes;
// - axe-core finds no serious or critical violation in any of these states;
// - the column picker changes the set on both screens.
// Screenshots go to ROUNDS_ARTIFACTS. The last stdout line is a JSON summary.
import { readFileSync } from "node:fs";
import path from "node:path";
import { checker, closeControl, env, launch, signIn as signInAt } from "./harness.mjs";

const BASE = env("ROUNDS_URL");
const TEAM = env("ROUNDS_TEAM_ID");
const LIST = env("ROUNDS_LIST_ID");
const PASSWORD = env("ROUNDS_PASSWORD");
const ART = env("ROUNDS_ARTIFACTS");
const PATIENTS = JSON.parse(env("ROUNDS_PATIENT_IDS"));
const NAME_WORDS = JSON.parse(env("ROUNDS_NAME_WORDS"));
const MRNS = JSON.parse(env("ROUNDS_MRNS"));
const COLUMNS = Number(env("ROUNDS_MEETING_COLUMNS"));
const NOTES = Number(env("ROUNDS_NOTES"));
const AXE = path.join(env("ROUNDS_NODE_MODULES"), "axe-core", "axe.min.js");
const MEETING = `${BASE}/teams/${TEAM}/lists/${LIST}/meeting`;

const { log, check } = checker("meeting");
const problems = [];
function watch(page, who) {
  page.on("pageerror", (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource.*404.*/.test(m.text())) problems.push(`${who}: console error: ${m.text()}`);
  });
}

async function waitFor(page, fn, arg, what, timeout = 10000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 25 });
  } catch (e) {
    throw new Error(`timed out waiting until ${what}`);
  }
  log("ok:", what);
}

const ready = (p) => waitFor(p, (n) => document.querySelector("#live")?.dataset.state === "live" && document.querySelectorAll("#plist tbody tr[data-patient]").length === n && document.querySelector("#meeting-app").dataset.fontPx, PATIENTS.length, "the meeting view is live with every patient");
const current = (p) => p.getAttribute("#plist tbody tr.current", "data-patient");

/** What the visible page of the board shows, and whether anything is off screen or clipped. */
function visiblePage() {
  const W = window.innerWidth;
  const H = window.innerHeight;
  const app = document.querySelector("#meeting-app");
  const table = document.querySelector("#plist");
  const bodies = [...table.tBodies].filter((b) => !b.hidden);
  const rows = bodies.flatMap((b) => [...b.rows]);
  const bad = [];
  const inside = (node, what) => {
    const r = node.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return;
    if (r.left < -0.5 || r.top < -0.5 || r.right > W + 0.5 || r.bottom > H + 0.5) bad.push(`${what} at ${Math.round(r.left)},${Math.round(r.top)}–${Math.round(r.right)},${Math.round(r.bottom)}`);
  };
  const heads = [...table.tHead.rows[0].cells];
  heads.forEach((th) => inside(th, `header ${th.dataset.key}`));
  const sizes = [];
  for (const tr of rows) {
    for (const cell of tr.cells) {
      const who = tr.closest("tbody").dataset.patient;
      inside(cell, `cell ${cell.dataset.key} of ${who}`);
      if (cell.scrollWidth > cell.clientWidth + 1 || cell.scrollHeight > cell.clientHeight + 1) bad.push(`cell ${cell.dataset.key} of ${who} overflows`);
      sizes.push(parseFloat(getComputedStyle(cell).fontSize));
    }
  }
  const label = document.querySelector("#page-label");
  const foot = document.querySelector("#page-foot");
  if (!label.hidden) inside(label, "page label");
  if (!foot.hidden) inside(foot, "page foot");
  const doc = document.documentElement;
  return {
    ids: bodies.map((b) => b.dataset.patient),
    notes: bodies.filter((b) => b.querySelector(".m-note-row .m-note")).length,
    columns: heads.length,
    page: Number(app.dataset.page),
    pages: Number(app.dataset.pages),
    label: label.hidden ? "" : label.textContent,
    foot: foot.hidden ? "" : foot.textContent,
    scrolls: doc.scrollHeight > H + 1 || doc.scrollWidth > W + 1,
    minFont: Math.min(...sizes),
    headFont: parseFloat(getComputedStyle(heads[0]).fontSize),
    fontPx: Number(app.dataset.fontPx),
    bad,
  };
}

/** Walks every page (Page Down), checking each; answers the figures. */
async function walkPages(p, tag, minFont) {
  const first = await p.evaluate(visiblePage);
  const seen = new Set();
  const perPage = [];
  let notes = 0;
  for (let i = 0; i < first.pages; i++) {
    if (i > 0) {
      const want = ((first.page - 1 + i) % first.pages) + 1;
      await p.keyboard.press("PageDown");
      await waitFor(p, (n) => document.querySelector("#meeting-app").dataset.page === String(n), want, `${tag}: page ${want} shows`);
    }
    const v = await p.evaluate(visiblePage);
    check(v.bad.length === 0, `${tag} page ${v.page}: nothing off screen or clipped (${v.bad.slice(0, 5).join("; ")})`);
    check(!v.scrolls, `${tag} page ${v.page}: the page does not scroll`);
    // The newest note is the last meeting column: a line under each patient that has one.
    check(v.columns === COLUMNS - 1, `${tag} page ${v.page}: all ${COLUMNS - 1} meeting columns in the header, and the note under its patient (${v.columns}, ${v.notes} notes)`);
    check(v.minFont >= minFont, `${tag} page ${v.page}: body text ${v.minFont}px ≥ ${minFont}px`);
    if (v.pages > 1) check(new RegExp(`^Page ${v.page} of ${v.pages}`).test(v.label) && /page/i.test(v.foot), `${tag} page ${v.page}: marked "${v.label}" / "${v.foot}"`);
    v.ids.forEach((id) => seen.add(id));
    perPage.push(v.ids.length);
    notes += v.notes;
    // Every page at 1080p; 4K screenshots are slow to write, the first page is enough.
    if (!tag.startsWith("3840") || v.page === 1) await p.screenshot({ path: `${ART}/meeting-${tag}-p${v.page}.png` });
  }
  check(PATIENTS.every((id) => seen.has(id)), `${tag}: every one of the ${PATIENTS.length} patients is on some page`);
  check(notes === NOTES, `${tag}: the ${NOTES} newest notes are shown (${notes})`);
  return { pages: first.pages, rowsPerPage: perPage, columns: first.columns, fontPx: first.fontPx, bodyFontPx: first.minFont, headerFontPx: first.headFont };
}

async function axe(p, state) {
  // Evaluated through the DevTools protocol: the page's CSP (no inline script) stays on.
  await p.evaluate(readFileSync(AXE, "utf8"));
  const found = await p.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0] && v.nodes[0].target.join(" ") }));
  });
  const serious = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (found.length) log(`axe (${state}): ${JSON.stringify(found)}`);
  check(serious.length === 0, `axe: no serious or critical violation in ${state} (${JSON.stringify(serious)})`);
  return found.length;
}

/** Names and MRNs in the page's text, title and attributes. */
function identifiersIn([words, mrns]) {
  const texts = [document.title, document.body.innerText];
  for (const node of document.querySelectorAll("*")) {
    for (const a of node.attributes) texts.push(a.value);
  }
  const all = texts.join("\n");
  const lower = all.toLowerCase();
  const tokens = new Set(lower.split(/[^\p{L}\p{N}]+/u));
  return words.filter((w) => tokens.has(w.toLowerCase())).concat(mrns.filter((m) => lower.includes(m.toLowerCase())));
}

const browser = await launch();
const summary = {};
const pages = [];
try {
  const ctx = (w, h) => browser.newContext({ viewport: { width: w, height: h }, bypassCSP: false });
  // The presenter's screen and a second meeting screen (another person).
  const a = await (await ctx(1920, 1080)).newPage();
  const b = await (await ctx(1920, 1080)).newPage();
  watch(a, "chair");
  watch(b, "nurse");
  pages.push(["chair", a], ["nurse", b]);
  await signInAt(a, BASE, "chair", PASSWORD);
  await signInAt(b, BASE, "nurse", PASSWORD);
  await a.goto(MEETING);
  await ready(a);

  // ------------------------------------------------------------ fits 1080p
  summary.at1080 = await walkPages(a, "1920x1080", 24);
  log("1080p:", JSON.stringify(summary.at1080));
  await a.screenshot({ path: `${ART}/meeting-1920x1080.png` });

  // ------------------------------------------------------------ presenter focus on a second screen
  await b.goto(MEETING);
  await ready(b);
  const latencies = [];
  for (const key of ["ArrowDown", "j", "ArrowDown", "End", "Home"]) {
    const before = await current(a);
    const t0 = Date.now();
    await a.keyboard.press(key);
    const now = await current(a);
    check(now && now !== before, `${key} moves the highlight on the presenter's screen`);
    await waitFor(b, (id) => document.querySelector("#plist tbody tr.current")?.dataset.patient === id && !document.querySelector("#plist tbody tr.current").closest("tbody").hidden, now, `the second screen follows ${key}`, 3000);
    latencies.push(Date.now() - t0);
  }
  summary.focusLatencyMs = latencies;
  check(Math.max(...latencies) < 1000, `the highlight followed within 1 s (${latencies.join(", ")} ms)`);
  const said = await b.textContent("#focus-announce");
  check(/^Highlighted: .+patient 1 of 36/.test(said) && (await b.getAttribute("#focus-announce", "aria-live")) === "polite", `the highlight is announced politely ("${said}")`);
  check((await b.getAttribute("#plist tbody tr.current", "aria-current")) === "true", "the highlighted row is aria-current");
  await a.keyboard.press("End");
  await waitFor(b, () => { const app = document.querySelector("#meeting-app"); return app.dataset.page === app.dataset.pages; }, null, "the second screen turns to the last page with the highlight");
  await a.keyboard.press("Home");
  await waitFor(b, () => document.querySelector("#meeting-app").dataset.page === "1", null, "and back to the first");

  // ------------------------------------------------------------ shortcuts off: buttons step
  await a.uncheck("#shortcuts");
  await a.locator("body").focus().catch(() => {});
  await a.evaluate(() => document.activeElement && document.activeElement.blur());
  const still = await current(a);
  await a.keyboard.press("j");
  check((await current(a)) === still, "with single-key shortcuts off, j does nothing");
  await a.focus("#next-patient");
  await a.keyboard.press("Enter");
  const stepped = await current(a);
  check(stepped && stepped !== still, "the Next patient button steps by keyboard");
  await a.click("#prev-patient");
  check((await current(a)) === still, "the Previous patient button steps back");
  await a.keyboard.press("ArrowDown");
  check((await current(a)) === stepped, "arrow keys still step with the shortcuts off");
  const focusStyle = await a.evaluate(() => {
    const btn = document.querySelector("#next-patient");
    btn.focus();
    const s = getComputedStyle(btn);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  check(focusStyle.style !== "none" && focusStyle.width >= 2, `focus is visible (${JSON.stringify(focusStyle)})`);
  summary.axe = {};
  summary.axe.shortcutsOff = await axe(a, "the meeting view, shortcuts off");
  await a.check("#shortcuts");
  await a.evaluate(() => document.activeElement && document.activeElement.blur());

  // ------------------------------------------------------------ axe on the pages
  summary.axe.page1 = await axe(a, "the meeting view, page 1");
  if (summary.at1080.pages > 1) {
    await a.click("#next-page");
    summary.axe.page2 = await axe(a, "the meeting view, page 2");
  }

  // ------------------------------------------------------------ 4K
  await a.setViewportSize({ width: 3840, height: 2160 });
  await waitFor(a, () => Number(document.querySelector("#meeting-app").dataset.fontPx) >= 40, null, "the type grows on the 4K screen");
  summary.at2160 = await walkPages(a, "3840x2160", 40);
  log("4K:", JSON.stringify(summary.at2160));
  await a.keyboard.press("Home");
  await a.screenshot({ path: `${ART}/meeting-3840x2160.png` });
  await a.setViewportSize({ width: 1920, height: 1080 });

  // ------------------------------------------------------------ mask mode
  const m = await (await ctx(1920, 1080)).newPage();
  watch(m, "masked");
  pages.push(["masked", m]);
  await signInAt(m, BASE, "nurse", PASSWORD);
  // The page as the server sends it, before any script runs.
  const raw = await (await m.request.get(`${MEETING}?masked=1`)).text();
  const rawHits = [...NAME_WORDS.filter((w) => new RegExp(`(^|[^\\p{L}\\p{N}])${w}([^\\p{L}\\p{N}]|$)`, "iu").test(raw)), ...MRNS.filter((x) => raw.includes(x))];
  check(rawHits.length === 0, `the masked page's HTML holds no name or MRN (${rawHits.join(", ")})`);
  await m.goto(`${MEETING}?masked=1`);
  await ready(m);
  const hits = await m.evaluate(identifiersIn, [NAME_WORDS, MRNS]);
  check(hits.length === 0, `mask mode: no name or MRN in the text, title or attributes (${hits.join(", ")})`);
  const unmasked = await a.evaluate(identifiersIn, [NAME_WORDS, MRNS]);
  check(unmasked.length > 10, `(the same check finds ${unmasked.length} on the unmasked screen)`);
  check(/^[A-Z]\. /.test(await m.textContent("#plist tbody tr th[scope=row] .m-name")), "mask mode shows initials");
  summary.masked = await walkPages(m, "masked-1920x1080", 24);
  await m.keyboard.press("Home");
  await m.screenshot({ path: `${ART}/meeting-masked-1920x1080.png` });
  summary.axe.masked = await axe(m, "the masked meeting view");

  // ------------------------------------------------------------ the column set, on both screens
  await a.click("#choose-columns");
  await a.waitForSelector("dialog.m-dialog[open]");
  summary.axe.picker = await axe(a, "the column picker");
  const last = await a.$$eval("dialog.m-dialog input[type=checkbox]:checked", (xs) => xs.length);
  await a.uncheck("dialog.m-dialog li:has-text('Diet') input[type=checkbox]");
  await a.screenshot({ path: `${ART}/meeting-columns-1920x1080.png` });
  await Promise.all([
    a.waitForResponse((r) => r.request().method() === "PUT" && /\/meeting\/columns$/.test(r.url())),
    a.click("dialog.m-dialog button:has-text('Save')"),
  ]);
  await waitFor(a, (n) => document.querySelectorAll("#plist thead th").length === n, COLUMNS - 2, "the presenter's board drops the Diet column");
  await waitFor(b, (n) => document.querySelectorAll("#plist thead th").length === n, COLUMNS - 2, "so does the second screen");
  check(last === COLUMNS, `the picker had the ${COLUMNS} columns ticked`);
  await a.click("#choose-columns");
  await a.click("dialog.m-dialog button:has-text('Back to the default set')");
  await waitFor(b, (n) => document.querySelectorAll("#plist thead th").length === n, COLUMNS - 1, "back to the default set on the second screen");

  check(problems.length === 0, `no script errors or CSP violations (${problems.join(" | ")})`);
  summary.ok = true;
  console.log(JSON.stringify(summary));
} catch (e) {
  for (const [who, p] of pages) await p.screenshot({ path: `${ART}/meeting-failure-${who}.png` }).catch(() => {});
  console.error(problems.join("\n"));
  throw e;
} finally {
  await browser.close();
  closeControl();
}
