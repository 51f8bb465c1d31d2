// The bedside phone (375×812) on the demo ward of 36 patients: the list
// as cards that scroll with the page, the first card's name, bed, HR and
// SpO₂ on the first screen, every target at least 44 px, an edit made on
// a desktop on the phone's card within 1 s, a mistaken change undone, and
// no tick without an explicit control. Screenshots at 375, 1440 and 1920 px.
//
// Env: ROUNDS_URL, ROUNDS_USER, ROUNDS_PASSWORD (the demo's sign-in),
// ROUNDS_LIST_PATH (the ward list), plus the harness's.
import path from "node:path";
import { env, checker, launch, closeControl, waitFor, api } from "./harness.mjs";

const BASE = env("ROUNDS_URL").replace(/\/$/, "");
const USER = env("ROUNDS_USER");
const PASSWORD = env("ROUNDS_PASSWORD");
const LIST_PATH = env("ROUNDS_LIST_PATH");
const ART = env("ROUNDS_ARTIFACTS");
const { log, check } = checker("phone");
const summary = { ok: false };

/** Signs in through the form; answers where the sign-in landed. */
async function signIn(p, user = USER, password = PASSWORD) {
  await p.goto(`${BASE}/sign-in`);
  await p.fill("input[name=username]", user);
  await p.fill("input[name=password]", password);
  await Promise.all([p.waitForURL(/\/teams/), p.click("button[type=submit]")]);
  return new URL(p.url()).pathname;
}

/** Waits until the list is drawn and no EHR cell is still being read. */
async function listReady(p) {
  await waitFor(p, () => document.querySelectorAll("#plist tbody tr[data-patient]").length >= 36 && !document.querySelector("#plist .ehr-pending") && document.querySelector("#live")?.dataset.state === "live", null, "the ward list is drawn and live", 30000);
}

const browser = await launch();
try {
  // ---- the charge nurse's desktop (1440×900), then 1920×1080
  const desk = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const d = await desk.newPage();
  const landed = await signIn(d);
  check(landed === LIST_PATH, `sign-in lands on the team's default list (${landed})`);
  await listReady(d);
  const apiList = `/api/v1${LIST_PATH}`;
  const team = LIST_PATH.split("/")[2];
  // The team's own columns of a ward round: a status and a "seen" tick.
  let r = await api(d, "GET", apiList);
  check(r.body.columns.filter((c) => c.source === "ehr").length >= 8, "the demo's list starts with the ward's EHR columns");
  r = await api(d, "POST", `${apiList}/columns`, { label: "Status", type: "choice", options: [{ label: "Stable", color: "#1f7a3d" }, { label: "Watch", color: "#d39e00" }, { label: "Critical", color: "#c0392b" }] });
  check(r.status === 201, `a Status column is added (${r.status})`);
  const statusCol = r.body;
  r = await api(d, "POST", `${apiList}/columns`, { label: "Seen", type: "checkbox" });
  check(r.status === 201, "a Seen checkbox column is added");
  const seenKey = r.body.key;
  // The nurse on the phone: a colleague of the charge nurse, member of the ward's team.
  const nursePassword = "bedside-phone-password-2026";
  r = await api(d, "POST", "/api/v1/users", { username: "nurse", displayName: "Nurse Okoro", password: nursePassword });
  check(r.status === 201 || r.status === 409, `a nurse's account (${r.status})`);
  r = await api(d, "POST", `/api/v1/teams/${team}/members`, { username: "nurse" });
  check(r.status === 201 || r.status === 409, `the nurse joins the ward's team (${r.status})`);
  r = await api(d, "GET", apiList);
  const rows = r.body.rows;
  const planKey = r.body.columns.find((c) => c.label === "Plan").key;
  // Statuses for a few patients, so the cards show their badges.
  for (const [i, opt] of [[0, 2], [1, 1], [2, 0], [3, 0], [4, 1]]) {
    await api(d, "PATCH", `/api/v1/teams/${team}/patients/${rows[i].patientId}`, { fields: { [statusCol.key]: { value: statusCol.options[opt].id, baseVersion: 0 } } });
  }
  await api(d, "PATCH", `/api/v1/teams/${team}/patients/${rows[1].patientId}`, { fields: { [planKey]: { value: "Chest X-ray at 10, then review antibiotics", baseVersion: 0 } } });
  await api(d, "POST", `/api/v1/teams/${team}/patients/${rows[0].patientId}/notes`, { body: "Family meeting at 14:00; daughter is the contact." });
  await d.reload();
  await listReady(d);
  // Desktop density: the table's rows on the first screen, the row menu beside the name.
  const deskFacts = await d.evaluate(() => {
    const rows = [...document.querySelectorAll("#plist tbody tr[data-patient]")];
    const wrap = document.getElementById("table-wrap").getBoundingClientRect();
    const visible = rows.filter((r) => r.getBoundingClientRect().bottom <= Math.min(innerHeight, wrap.bottom)).length;
    const firstRow = rows[0].getBoundingClientRect();
    const menu = rows[0].querySelector("details.rowmenu > summary").getBoundingClientRect();
    const name = rows[0].querySelector(".pname").getBoundingClientRect();
    const badge = rows[0].querySelector(".ehr-badge")?.getBoundingClientRect();
    return { visible, tableTop: Math.round(firstRow.top), menuRight: Math.round(menu.right), nameBadgeOneLine: !badge || Math.abs(badge.top + badge.height / 2 - (name.top + name.height / 2)) < 8 };
  });
  log("desktop 1440×900:", JSON.stringify(deskFacts));
  summary.desktop = deskFacts;
  await d.screenshot({ path: path.join(ART, "list-demo-1440x900.png") });
  check(deskFacts.visible >= 15, `at least 15 rows on the first desktop screen (${deskFacts.visible})`);
  check(deskFacts.menuRight < 600, `the row menu is beside the name (x=${deskFacts.menuRight})`);
  check(deskFacts.nameBadgeOneLine, "name and EHR badge on one line");
  const hrTitle = await d.getAttribute('#plist thead th[data-key="heartRate"] button', "title");
  check(/Heart rate/.test(hrTitle || ""), `the HR header says what HR means (${hrTitle})`);
  await d.setViewportSize({ width: 1920, height: 1080 });
  await d.waitForTimeout(300);
  await d.screenshot({ path: path.join(ART, "list-demo-1920x1080.png") });

  // ---- the nurse's phone
  const phoneCtx = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const p = await phoneCtx.newPage();
  const phoneLanded = await signIn(p, "nurse", nursePassword);
  check(phoneLanded === LIST_PATH, "the phone lands on the ward list too");
  await listReady(p);
  const layout = await p.evaluate(() => {
    const card = document.querySelector("#plist tbody tr[data-patient]");
    const box = (sel) => {
      const n = card.querySelector(sel);
      if (!n) return null;
      const b = n.getBoundingClientRect();
      return { top: Math.round(b.top), bottom: Math.round(b.bottom), left: Math.round(b.left), right: Math.round(b.right) };
    };
    return {
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: 375,
      layoutWidth: innerWidth,
      wide: [...document.querySelectorAll("body *")].filter((n) => n.getBoundingClientRect().right > 376).slice(0, 6).map((n) => `${n.tagName}.${n.className} ${Math.round(n.getBoundingClientRect().right)}`),
      innerHeight: 812,
      cards: document.querySelector("#table-wrap").classList.contains("cards"),
      wrapScrolls: getComputedStyle(document.getElementById("table-wrap")).overflowY,
      card: box(":scope > th"),
      name: box(".pname"),
      bed: box('[data-key="location"]'),
      hr: box('[data-key="heartRate"]'),
      spo2: box('[data-key="spo2"]'),
      cardBottom: Math.round(card.getBoundingClientRect().bottom),
    };
  });
  log("phone layout:", JSON.stringify(layout));
  await p.screenshot({ path: path.join(ART, "list-demo-375x812.png") });
  await p.screenshot({ path: path.join(ART, "list-demo-375-full.png"), fullPage: true });
  summary.phone = layout;
  check(layout.cards, "the phone shows cards");
  check(layout.scrollWidth <= 375 && layout.layoutWidth <= 375, `no sideways scroll of the page (${layout.scrollWidth} px wide; ${layout.wide.join(", ")})`);
  check(layout.wrapScrolls === "visible", "the cards scroll with the page, not in a box of their own");
  for (const k of ["name", "bed", "hr", "spo2"]) {
    const b = layout[k];
    check(b && b.bottom <= layout.innerHeight && b.top >= 0 && b.right <= layout.innerWidth, `the first card's ${k} is on the first screen (${JSON.stringify(b)})`);
  }
  // The list's other pages wait behind one "More" button: the first card
  // starts high on the screen, and the menu opens to the pages.
  check(layout.card.top < 300, `the first card starts within 300 px of the top (${layout.card.top})`);
  const more = p.locator("#list-more > summary");
  check(await more.isVisible(), "a More button on the phone");
  check(!(await p.locator("#list-more a", { hasText: "Hand-off sheet" }).isVisible()), "the hand-off sheet link is in the closed menu");
  await more.click();
  check(await p.locator("#list-more a", { hasText: "Hand-off sheet" }).isVisible(), "More opens the menu with the hand-off sheet");
  check(await p.locator("#list-more a", { hasText: "Export / import" }).isVisible(), "and export / import");
  await p.keyboard.press("Escape");
  check(!(await p.locator("#list-more a", { hasText: "Hand-off sheet" }).isVisible()), "Escape closes the menu");
  // Every target on the first screen (and of the first three cards) at least 44 × 44 px.
  const small = await p.evaluate(() => {
    const sel = "a[href], button, summary, input:not([type=hidden]), select, textarea, [role=button], [tabindex='0']";
    const cards = [...document.querySelectorAll("#plist tbody tr[data-patient]")].slice(0, 3);
    const out = [];
    let smallest = null;
    for (const n of document.querySelectorAll(sel)) {
      const b = n.getBoundingClientRect();
      if (!b.width || !b.height || n.closest("[hidden], .sr")) continue;
      const onFirstScreen = b.top < innerHeight && b.bottom > 0;
      if (!onFirstScreen && !cards.some((c) => c.contains(n))) continue;
      const m = Math.min(b.width, b.height);
      const what = `${n.tagName.toLowerCase()}${n.id ? "#" + n.id : ""}${n.className && typeof n.className === "string" ? "." + n.className.split(" ")[0] : ""} “${(n.getAttribute("aria-label") || n.textContent || "").trim().slice(0, 30)}”`;
      if (!smallest || m < smallest.size) smallest = { size: Math.round(m), what };
      if (b.width < 44 || b.height < 44) out.push(`${what} ${Math.round(b.width)}×${Math.round(b.height)}`);
    }
    return { out, smallest };
  });
  log("smallest target:", JSON.stringify(small.smallest));
  summary.smallestTarget = small.smallest;
  check(small.out.length === 0, `every target is at least 44 × 44 px (${small.out.join("; ")})`);

  // An edit on the desktop shows on the phone's card within 1 s.
  const first = rows[0].patientId;
  const fresh = await api(d, "GET", `/api/v1/teams/${team}/patients/${first}`);
  const planVersion = fresh.body.fields?.[planKey]?.version ?? fresh.body.values?.[planKey]?.version ?? 0;
  const planText = `Mobilise with physio ${Date.now() % 1000}`;
  r = await api(d, "PATCH", `/api/v1/teams/${team}/patients/${first}`, { fields: { [planKey]: { value: planText, baseVersion: planVersion } } });
  const t0 = Date.now(); // saved on the desktop
  check(r.status === 200, `the desktop saves a plan (${r.status})`);
  await waitFor(p, ([id, k, t]) => document.querySelector(`#plist tr[data-patient="${id}"] [data-key="${k}"]`)?.textContent.includes(t), [first, planKey, planText], "the phone's card shows the desktop's plan", 1000);
  summary.desktopEditSeenAfterMs = Date.now() - t0;
  check(summary.desktopEditSeenAfterMs <= 1000, `the phone's card shows the plan after ${summary.desktopEditSeenAfterMs} ms`);
  await waitFor(p, () => document.getElementById("announce")?.textContent, null, "the live region speaks", 2000);
  const heard = await p.textContent("#announce");
  check(/Plan/.test(heard || ""), `the change is said in the polite live region (“${heard}”)`);

  // No accidental ticks: a tap on the Seen line opens its editor, nothing is saved.
  const seenCell = (id) => p.locator(`#plist tr[data-patient="${id}"] [data-key="${seenKey}"]`);
  const seenValue = async (id) => {
    const x = await api(p, "GET", `/api/v1/teams/${team}/patients/${id}`);
    const f = x.body.fields?.[seenKey] || x.body.values?.[seenKey];
    return f ? f.value : null;
  };
  await seenCell(first).scrollIntoViewIfNeeded();
  await seenCell(first).tap();
  await p.waitForSelector(`#plist tr[data-patient="${first}"] [data-key="${seenKey}"] input[type=checkbox]`, { timeout: 3000 });
  check((await seenValue(first)) !== "true", "a tap on a checkbox line ticks nothing (it opens the editor)");
  await p.locator(`#plist tr[data-patient="${first}"] [data-key="${seenKey}"] button:has-text("Cancel")`).tap();
  check((await seenValue(first)) !== "true", "Cancel leaves it unticked");
  // Taps on the card's name line, bed and a vital sign change nothing either.
  await p.locator(`#plist tr[data-patient="${first}"] [data-key="heartRate"]`).tap();
  await p.waitForSelector(".popover", { timeout: 3000 });
  check((await p.textContent(".popover")).includes("HR"), "a tap on HR shows its details");
  await p.screenshot({ path: path.join(ART, "list-demo-375-popover.png") });
  log("popover:", JSON.stringify(await p.evaluate(() => { const b = document.querySelector(".popover").getBoundingClientRect(); return { b, cls: document.querySelector(".popover").className, iw: innerWidth, ih: innerHeight, vv: [visualViewport.width, visualViewport.height, visualViewport.scale], sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }; })));
  await p.locator(".popover button:has-text('Close')").tap();
  check((await seenValue(first)) !== "true", "still unticked after taps elsewhere on the card");

  // A mistaken change undone: tick Seen on the wrong patient, then Undo.
  const wrong = rows[1].patientId;
  await seenCell(wrong).scrollIntoViewIfNeeded();
  await seenCell(wrong).tap();
  await p.locator(`#plist tr[data-patient="${wrong}"] [data-key="${seenKey}"] input[type=checkbox]`).check();
  await p.locator(`#plist tr[data-patient="${wrong}"] [data-key="${seenKey}"] button:has-text("Save")`).tap();
  await waitFor(p, ([id, k]) => document.querySelector(`#plist tr[data-patient="${id}"] [data-key="${k}"] .tick.on`), [wrong, seenKey], "the card shows the tick");
  check((await seenValue(wrong)) === "true", "the tick is saved");
  await p.waitForSelector("#undo-bar:not([hidden]) #undo-btn", { timeout: 3000 });
  const undoBox = await p.locator("#undo-btn").boundingBox();
  check(undoBox.y > 812 / 2 && undoBox.height >= 44, `Undo is in thumb's reach (y=${Math.round(undoBox.y)}, ${Math.round(undoBox.height)} px high)`);
  await p.screenshot({ path: path.join(ART, "list-demo-375-undo.png") });
  await p.locator("#undo-btn").tap();
  await waitFor(p, ([id, k]) => !document.querySelector(`#plist tr[data-patient="${id}"] [data-key="${k}"] .tick.on`), [wrong, seenKey], "the card shows the tick undone");
  check((await seenValue(wrong)) !== "true", "Undo puts it back unticked");

  // Notes on a card: open, write, the newest note shows on the card.
  await p.locator(`#plist tr[data-patient="${first}"] .note-line`).tap();
  await p.waitForSelector(`#plist tr.notes-row textarea`, { timeout: 3000 });
  await p.screenshot({ path: path.join(ART, "list-demo-375-notes.png") });
  check((await p.evaluate(() => document.documentElement.scrollWidth)) <= 375, "no sideways scroll with the notes open");

  // ---- a second list: it starts with the ward's EHR columns; the column
  // picker offers the team's own columns first and warns before a second "Plan".
  r = await api(d, "POST", `/api/v1/teams/${team}/lists`, { name: "Discharge planning" });
  check(r.status === 201, "a second list is made");
  const list2 = r.body.id;
  r = await api(d, "GET", `/api/v1/teams/${team}/lists/${list2}`);
  const startKeys = r.body.columns.map((c) => c.key);
  check(["heartRate", "bloodPressure", "respiratoryRate", "temperature", "spo2"].every((k) => startKeys.includes(k)), `the new list starts with the vital signs (${startKeys.join(", ")})`);
  await d.goto(`${BASE}/teams/${team}/lists/${list2}`);
  await waitFor(d, () => document.querySelector("#live")?.dataset.state === "live", null, "the new list is live");
  await d.click("#columns-panel > summary");
  const offered = await d.$$eval("#builtin-add > *", (xs) => xs.map((x) => (x.tagName === "OPTGROUP" ? `${x.label}: ${[...x.children].map((o) => o.textContent).join("/")}` : x.textContent)));
  check(/^The team's columns: .*Plan/.test(offered[0] || "") && /Status/.test(offered[0]) && /Seen/.test(offered[0]), `the picker offers the team's columns first (${offered.join(" | ")})`);
  const teamColsBefore = (await api(d, "GET", `/api/v1/teams/${team}/patients/${first}`)).body.columns.length;
  await d.fill("#new-column input[name=label]", "plan");
  await d.click("#new-column button[type=submit]");
  await d.waitForSelector("#new-column .form-msg.warn", { timeout: 3000 });
  const warned = await d.textContent("#new-column .form-msg.warn");
  check(/already has a column “Plan”/.test(warned), `a second “Plan” is warned about (${warned})`);
  check((await api(d, "GET", `/api/v1/teams/${team}/patients/${first}`)).body.columns.length === teamColsBefore, "and not made");
  await d.click('#new-column .form-msg.warn button:has-text("Show the team")');
  let shownPlan = false;
  for (let i = 0; i < 30 && !shownPlan; i++) {
    r = await api(d, "GET", `/api/v1/teams/${team}/lists/${list2}`);
    shownPlan = r.body.columns.some((c) => c.key === planKey);
    if (!shownPlan) await d.waitForTimeout(100);
  }
  check(shownPlan, "the new list shows the team's own Plan (the same column, the same values)");
  check((await api(d, "GET", `/api/v1/teams/${team}/patients/${first}`)).body.columns.length === teamColsBefore, "no second Plan was made");

  summary.ok = true;
} finally {
  await browser.close();
  closeControl();
}
console.log(JSON.stringify(summary));
