// A shift change in three browsers on a real Rounds server (started by
// tests/it/browser.rs, whose team has a charge nurse who owns it, a nurse
// and a resident, one list with one patient, and urgent notes alerting
// again every 2 s). The nurse (desktop) adds a task for the resident, due
// already: the resident's list (a phone, 375×812) shows it overdue, live.
// The nurse writes an urgent note to the team: within 1 s an alert stands
// on the charge nurse's list page (desktop) and on the resident's phone,
// the list's urgent board shows it, and the browser notification fires;
// nobody acknowledges, so it alerts again; the resident taps "Seen — I'll
// handle it" and the alert leaves both screens within 1 s while the note on
// the nurse's patient page says who saw it and when. The resident ticks the
// task off on "My tasks". Last an urgent note to the owners is written while
// the charge nurse has no Rounds page open: it is there when she opens one.
// Read receipts are counted live (on the patient page and on an open list);
// an urgent note to the resident alone escalates to the charge nurse's
// screen after its repeats, and she acknowledges it.
// Then a shift hand-off of the list from the nurse to the resident, each
// patient marked ready and acknowledged in turn, open on both screens and
// the owner's "My tasks" until the last one is acknowledged.
//
// Environment: ROUNDS_URL, ROUNDS_TEAM_ID, ROUNDS_LIST_ID, ROUNDS_PATIENT_ID,
// ROUNDS_PASSWORD, ROUNDS_CHROMIUM, ROUNDS_NODE_MODULES, ROUNDS_ARTIFACTS.
import { checker, closeControl, env, launch, signIn as signInAt } from "./harness.mjs";

const BASE = env("ROUNDS_URL");
const TEAM = env("ROUNDS_TEAM_ID");
const LIST = env("ROUNDS_LIST_ID");
const PATIENT = env("ROUNDS_PATIENT_ID");
const PASSWORD = env("ROUNDS_PASSWORD");
const ART = env("ROUNDS_ARTIFACTS");
const { log, check } = checker("handoff");
const problems = [];

function watch(page, who) {
  page.on("pageerror", (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error" || /Failed to load resource.*40[349]/.test(m.text())) return;
    problems.push(`${who}: console error: ${m.text()}`);
  });
}

/** Records browser notifications instead of showing them. */
const fakeNotifications = () => {
  window.__notified = [];
  class Recorded {
    constructor(title, opts) {
      window.__notified.push({ title, body: opts && opts.body });
    }
    close() {}
    static get permission() {
      return "granted";
    }
    static requestPermission() {
      return Promise.resolve("granted");
    }
  }
  window.Notification = Recorded;
};

const browser = await launch();
const summary = {};
const pages = [];
async function person(who, viewport) {
  const ctx = await browser.newContext({ viewport });
  await ctx.addInitScript(fakeNotifications);
  const p = await ctx.newPage();
  watch(p, who);
  pages.push([who, p]);
  await signInAt(p, BASE, who, PASSWORD);
  return p;
}

try {
  const listUrl = `${BASE}/teams/${TEAM}/lists/${LIST}`;
  const charge = await person("charge", { width: 1440, height: 900 });
  const resident = await person("resident", { width: 375, height: 812 });
  const nurse = await person("nurse", { width: 1280, height: 900 });
  await charge.goto(listUrl);
  await resident.goto(listUrl);
  await nurse.goto(`${BASE}/teams/${TEAM}/patients/${PATIENT}`);
  for (const p of [charge, resident, nurse]) await p.waitForSelector("#live[data-state=live]", { timeout: 5000 });

  // A task for the resident, due an hour ago: overdue on the resident's list, live.
  await nurse.fill("#tasks form input[name=body]", "Repeat potassium and call back");
  await nurse.selectOption("#tasks form select[name=ownerId]", { label: "resident display" });
  await nurse.fill("#tasks form input[name=dueAt]", localInput(Date.now() - 3600 * 1000));
  await nurse.click("#tasks form button[type=submit]");
  await nurse.waitForSelector("#tasks li.task.overdue", { timeout: 5000 });
  check(await nurse.isVisible("#tasks li.task.overdue .task-late"), "the task is marked overdue on the patient page");
  await resident.waitForSelector("#plist [data-key=tasks] .task-count.overdue", { timeout: 5000 });
  check((await resident.textContent("#plist [data-key=tasks] .task-open")) === "1", "the resident's list shows one open task, overdue, without a reload");

  // The urgent note, to the team.
  await nurse.fill("#note-form textarea[name=body]", "K+ 6.9 on the repeat. Needs a doctor now.");
  await nurse.check("#note-urgent");
  await nurse.selectOption("#urgent-to", "team");
  const sentAt = Date.now();
  await nurse.click("#note-form button[type=submit]");
  const seen = await Promise.all(
    [charge, resident].map(async (p) => {
      await p.waitForSelector("#alerts .alert-urgent", { timeout: 3000 });
      return Date.now() - sentAt;
    }),
  );
  summary.alertSeenMs = seen;
  log("alert seen after", seen, "ms");
  check(seen.every((ms) => ms < 1000), `the alert is on both other screens within 1 s (${seen.join(", ")} ms)`);
  check(!(await nurse.isVisible("#alerts .alert-urgent")), "the author gets no alert of her own note");
  check((await charge.textContent("#alerts .alert-urgent")).includes("K+ 6.9"), "the alert shows the note");
  await charge.waitForSelector("#urgent-board li", { timeout: 3000 });
  check(await charge.isVisible("#urgent-board li:has-text('K+ 6.9')"), "the list's urgent board shows the open note at the top");
  // The patient's own row (a card on the phone) carries the tag too.
  const urgentRow = `#plist tr[data-patient="${PATIENT}"] .urgent-row-tag`;
  await charge.waitForSelector(urgentRow, { timeout: 3000 });
  await resident.waitForSelector(urgentRow, { timeout: 3000 });
  const tagBox = await resident.locator(urgentRow).boundingBox();
  check(tagBox && tagBox.height >= 44, `on the phone the patient's card carries the urgent tag as a 44 px target (${JSON.stringify(tagBox)})`);
  const notified = await resident.evaluate(() => window.__notified.length);
  check(notified >= 1, "a browser notification was raised");

  // Nobody acknowledges: it alerts again (every 2 s here).
  await resident.waitForSelector("#alerts .alert-urgent:has-text('alerted again')", { timeout: 5000 });
  check((await resident.evaluate(() => window.__notified.length)) > notified, "the re-notification raised another browser notification");
  await charge.screenshot({ path: `${ART}/handoff-alert-desktop.png` });
  await resident.screenshot({ path: `${ART}/handoff-alert-phone.png` });
  const ackBox = await resident.locator("#alerts button.ack").boundingBox();
  check(ackBox && ackBox.width >= 300 && ackBox.height >= 48, "on the phone the acknowledge button is a full-width, one-thumb target");

  // The resident takes it on; it leaves every screen.
  const ackAt = Date.now();
  await resident.click("#alerts button.ack");
  const cleared = await Promise.all(
    [charge, resident].map(async (p) => {
      await p.waitForSelector("#alerts .alert-urgent", { state: "detached", timeout: 3000 });
      return Date.now() - ackAt;
    }),
  );
  summary.alertClearedMs = cleared;
  check(cleared.every((ms) => ms < 1000), `the alert leaves both screens within 1 s (${cleared.join(", ")} ms)`);
  await charge.waitForSelector("#urgent-board", { state: "hidden", timeout: 3000 });
  await charge.waitForSelector(urgentRow, { state: "detached", timeout: 3000 });
  check(!(await resident.isVisible(urgentRow)), "the card's urgent tag is gone once acknowledged");
  await nurse.waitForSelector("#notes li.note.urgent.acked", { timeout: 3000 });
  check((await nurse.textContent("#notes li.note.urgent.acked")).includes("Seen by resident display"), "the note shows who saw it, live");
  await nurse.screenshot({ path: `${ART}/handoff-patient-acknowledged.png`, fullPage: true });

  // My tasks on the phone: ticked off; the charge nurse's list counts none.
  await resident.goto(`${BASE}/teams/${TEAM}/tasks`);
  await resident.waitForSelector("#mine li.task", { timeout: 5000 });
  check((await resident.textContent("#mine li.task")).includes("Repeat potassium"), "My tasks lists the resident's task with its patient");
  await resident.screenshot({ path: `${ART}/handoff-my-tasks-phone.png`, fullPage: true });
  await resident.check("#mine li.task input[type=checkbox]");
  await resident.waitForSelector("#mine li.task.done", { timeout: 5000 });
  await charge.waitForSelector("#plist [data-key=tasks] .muted", { timeout: 5000 });
  check(!(await charge.isVisible("#plist [data-key=tasks] .task-count")), "the list's task count went down live");

  // Offline: an urgent note to the owners while the charge nurse has no page open.
  await charge.goto("about:blank");
  await nurse.fill("#note-form textarea[name=body]", "Family asking to speak to the nurse in charge.");
  await nurse.check("#note-urgent");
  await nurse.selectOption("#urgent-to", "owners");
  await nurse.click("#note-form button[type=submit]");
  await nurse.waitForSelector("#notes li.note.urgent:not(.acked)", { timeout: 5000 });
  await charge.goto(`${BASE}/teams`);
  await charge.waitForSelector("#alerts .alert-urgent:has-text('Family asking')", { timeout: 3000 });
  check(true, "the owner who was offline gets the alert on opening Rounds");
  await charge.screenshot({ path: `${ART}/handoff-offline-owner.png` });

  // A read receipt: the nurse asks for one; the resident opens the patient
  // on the phone; the nurse's page says who has seen it, without a reload.
  await nurse.fill("#note-form textarea[name=body]", "Plan for tonight: read before 20:00.");
  await nurse.check("#note-receipt");
  await nurse.click("#note-form button[type=submit]");
  await nurse.waitForSelector("#notes li.note:has-text('Plan for tonight') .note-receipt", { timeout: 5000 });
  check((await nurse.textContent("#notes li.note:has-text('Plan for tonight') .note-receipt")).includes("seen by 0"), "the note asks for a receipt, seen by nobody yet");
  await resident.goto(`${BASE}/teams/${TEAM}/patients/${PATIENT}`);
  await resident.waitForSelector("#notes li.note:has-text('Plan for tonight')", { timeout: 5000 });
  await nurse.waitForSelector("#notes li.note:has-text('Plan for tonight') .note-receipt:has-text('seen by 1')", { timeout: 3000 });
  await nurse.click("#notes li.note:has-text('Plan for tonight') .note-receipt button");
  await nurse.waitForSelector("#notes .receipts li:has-text('resident display')", { timeout: 3000 });
  check(true, "the author sees, live, that the resident has seen the note, and when");
  // Shown on the list's note line counts too: the charge nurse opens the list.
  await charge.goto(listUrl);
  await charge.waitForSelector("#plist .note-line:has-text('Plan for tonight')", { timeout: 5000 });
  await nurse.waitForSelector("#notes li.note:has-text('Plan for tonight') .note-receipt:has-text('seen by 2')", { timeout: 3000 });
  check(true, "a note shown on the list's note line is reported seen, live to its author");
  // A receipt note that reaches the list already open arrives live and is
  // counted seen there without a reload (the resident has no page open).
  await resident.goto("about:blank");
  await nurse.fill("#note-form textarea[name=body]", "Second plan: fluids at midnight.");
  await nurse.check("#note-receipt");
  await nurse.click("#note-form button[type=submit]");
  await charge.waitForSelector("#plist .note-line:has-text('Second plan')", { timeout: 5000 });
  await nurse.waitForSelector("#notes li.note:has-text('Second plan') .note-receipt:has-text('seen by 1')", { timeout: 3000 });
  await nurse.click("#notes li.note:has-text('Second plan') .note-receipt button");
  await nurse.waitForSelector("#notes li.note:has-text('Second plan') .receipts li:has-text('charge display')", { timeout: 3000 });
  check(true, "a receipt note arriving live on an open list is counted seen there, without a reload");

  // Escalation: an urgent note to the resident alone. The charge nurse, an
  // owner but not addressed, sees it on the list's board with no alert of
  // her own; nobody acknowledges, and after the team's five repeats (every
  // 2 s here) it reaches her screen as escalated. She takes it on.
  await nurse.fill("#note-form textarea[name=body]", "Na+ 118, please review.");
  await nurse.check("#note-urgent");
  await nurse.selectOption("#urgent-to", "members");
  await nurse.check("#urgent-names label:has-text('resident display') input");
  await nurse.click("#note-form button[type=submit]");
  await charge.waitForSelector("#urgent-board li:has-text('Na+ 118')", { timeout: 5000 });
  check(!(await charge.isVisible("#alerts .alert-urgent:has-text('Na+ 118')")), "an owner who is not addressed sees the note on the board but gets no alert");
  await charge.waitForSelector("#alerts .alert-urgent:has-text('Na+ 118')", { timeout: 25000 });
  check((await charge.textContent("#alerts .alert-urgent:has-text('Na+ 118')")).includes("escalated"), "unacknowledged after its repeats, the note escalates to the owner's screen");
  await charge.click("#alerts .alert-urgent:has-text('Na+ 118') button.ack");
  await charge.waitForSelector("#alerts .alert-urgent:has-text('Na+ 118')", { state: "detached", timeout: 3000 });
  check(true, "the owner acknowledges the escalated note and its alert leaves");
  await resident.screenshot({ path: `${ART}/handoff-patient-phone.png`, fullPage: true });

  // I-PASS on the patient page, then the printable sheet (print media, PDF).
  await nurse.selectOption("#ipass-form select[name=severity]", "unstable");
  await nurse.fill("#ipass-form textarea[name=summary]", "Hyperkalaemia, on insulin-dextrose.");
  await nurse.fill("#ipass-form textarea[name=contingency]", "If K+ > 6.5 again, then call the registrar.");
  await nurse.click("#ipass-form button[type=submit]");
  await nurse.waitForSelector("#handoff[data-severity=unstable]", { timeout: 5000 });
  await nurse.fill("#tasks form input[name=body]", "ECG after the next dose");
  await nurse.click("#tasks form button[type=submit]");
  await nurse.waitForSelector("#tasks li.task:has-text('ECG after')", { timeout: 5000 });
  await charge.goto(`${BASE}/teams/${TEAM}/lists/${LIST}/handoff`);
  await charge.emulateMedia({ media: "print" });
  const sheet = await charge.textContent("main");
  for (const want of ["AMES, Ada", "Unstable", "Hyperkalaemia", "ECG after the next dose", "If K+ > 6.5 again"]) {
    check(sheet.includes(want), `the printed sheet shows ${want}`);
  }
  check(!(await charge.isVisible("header.bar")) && !(await charge.isVisible("#print-sheet")), "print hides the bar and the buttons");
  const pdf = await charge.pdf({ path: `${ART}/handoff-sheet.pdf`, format: "A4" });
  check(pdf.length > 1000 && pdf.subarray(0, 5).toString() === "%PDF-", "Chromium renders the sheet to a PDF");
  await charge.screenshot({ path: `${ART}/handoff-sheet-print.png`, fullPage: true });
  await charge.emulateMedia({ media: "screen" });

  // Shift hand-off of the list: the nurse (giver, desktop) to the resident
  // (receiver, phone), patient by patient; open on both screens and on the
  // owner's My tasks until the last patient is acknowledged.
  await nurse.goto(listUrl);
  await resident.goto(listUrl);
  await charge.goto(`${BASE}/teams/${TEAM}/tasks`);
  for (const p of [charge, resident, nurse]) await p.waitForSelector("#live[data-state=live]", { timeout: 5000 });
  const added = await nurse.evaluate(async ([team, list]) => {
    const r = await fetch(`/api/v1/teams/${team}/lists/${list}/patients`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content },
      body: JSON.stringify({ fields: { family: "CROSS", given: "Bea", bed: "5" } }),
    });
    return r.status;
  }, [TEAM, LIST]);
  check(added === 201, "a second patient joins the list");
  await nurse.waitForSelector("#plist tr:has-text('CROSS')", { timeout: 5000 });
  await nurse.click(".handoff-new summary");
  await nurse.selectOption("#handoff-receiver", { label: "resident display" });
  await nurse.click(".handoff-start button[type=submit]");
  await nurse.waitForSelector("#shift-handoff article.shift-handoff", { timeout: 5000 });
  check((await nurse.textContent("#shift-handoff article h2")).includes("to resident display"), "the giver's list shows the open hand-off");
  for (const p of [resident, charge]) await p.waitForSelector("#shift-handoff article.shift-handoff", { timeout: 3000 });
  check((await resident.textContent("#shift-handoff article h2")).includes("nurse display is handing"), "the receiver's phone shows it, live");
  check((await charge.textContent("#shift-handoff article h2")).includes("to resident display"), "the owner's My tasks shows it, live");
  check((await resident.locator("#shift-handoff li.handoff-patient.waiting").count()) === 2, "both patients wait to be marked ready");
  check((await resident.locator("#shift-handoff button:has-text('Acknowledge')").count()) === 0, "nothing to acknowledge before the giver marks a patient ready");
  check(!(await nurse.isVisible(".handoff-new")), "the giver cannot start a second hand-off of the list meanwhile");

  const readyAt = Date.now();
  await nurse.click("#shift-handoff li.handoff-patient:has-text('AMES') button:has-text('Mark ready')");
  await resident.waitForSelector("#shift-handoff li.handoff-patient.ready:has-text('AMES')", { timeout: 3000 });
  summary.handoffReadyMs = Date.now() - readyAt;
  check(summary.handoffReadyMs < 1000, `the ready mark reaches the receiver within 1 s (${summary.handoffReadyMs} ms)`);
  const ackButton = resident.locator("#shift-handoff li.handoff-patient:has-text('AMES') button:has-text('Acknowledge')");
  const ackTarget = await ackButton.boundingBox();
  check(ackTarget && ackTarget.height >= 44, "the acknowledge button is a thumb-sized target on the phone");
  await resident.screenshot({ path: `${ART}/shift-handoff-receiver-phone.png`, fullPage: true });
  await ackButton.click();
  for (const p of [nurse, resident, charge]) await p.waitForSelector("#shift-handoff li.handoff-patient.acked:has-text('AMES')", { timeout: 3000 });
  check((await nurse.textContent("#shift-handoff .handoff-count")).includes("1 of 2 acknowledged"), "the giver sees one of two acknowledged; the hand-off is still open");
  await nurse.screenshot({ path: `${ART}/shift-handoff-giver-desktop.png` });

  await nurse.click("#shift-handoff button:has-text('Mark all ready')");
  await resident.waitForSelector("#shift-handoff li.handoff-patient.ready:has-text('CROSS')", { timeout: 3000 });
  await resident.click("#shift-handoff li.handoff-patient:has-text('CROSS') button:has-text('Acknowledge')");
  for (const p of [nurse, resident, charge]) await p.waitForSelector("#shift-handoff article.shift-handoff", { state: "detached", timeout: 3000 });
  check(true, "the last acknowledgement closes the hand-off on the giver's, the receiver's and the owner's screens");
  check(await nurse.isVisible(".handoff-new"), "the giver can start a new hand-off again");

  // What changed since the resident last looked: the nurse's new patient
  // (and the rest of her changes) are marked on the resident's list, with
  // a count; "Mark all seen" clears them.
  await resident.reload();
  await resident.waitForSelector("#since-looked:not([hidden]) .since-count", { timeout: 5000 });
  check(/\d+ patients? changed since you last looked/.test(await resident.textContent("#since-looked .since-count")), "the list says how many patients changed since the resident last looked");
  await resident.waitForSelector("#table-wrap [data-patient].changed-since:has-text('CROSS')", { timeout: 3000 });
  check(true, "the nurse's new patient is marked as changed on the resident's list");
  await resident.screenshot({ path: `${ART}/since-looked-phone.png`, fullPage: true });
  await nurse.reload();
  await nurse.waitForSelector("#live[data-state=live]", { timeout: 5000 });
  check((await nurse.locator("#table-wrap [data-patient].changed-since:has-text('CROSS')").count()) === 0, "the nurse's own new patient is not news to her");
  await resident.click("#since-looked button:has-text('Mark all seen')");
  await resident.waitForSelector("#since-looked", { state: "hidden", timeout: 3000 });
  check((await resident.locator("#table-wrap .changed-since").count()) === 0, "after Mark all seen no row is marked");
  await resident.reload();
  await resident.waitForSelector("#live[data-state=live]", { timeout: 5000 });
  await resident.waitForTimeout(500);
  check((await resident.locator("#table-wrap .changed-since").count()) === 0 && !(await resident.isVisible("#since-looked")), "and none after opening the list again");

  // The same on the patient page: a note the nurse writes now is news there.
  const cross = await resident.getAttribute("#table-wrap [data-patient]:has-text('CROSS')", "data-patient");
  await nurse.goto(`${BASE}/teams/${TEAM}/patients/${cross}`);
  await nurse.fill("#note-form textarea[name=body]", "Daughter calls at 18:00.");
  await nurse.click("#note-form button[type=submit]");
  await nurse.waitForSelector("#notes li.note:has-text('Daughter calls')", { timeout: 5000 });
  await resident.goto(`${BASE}/teams/${TEAM}/patients/${cross}`);
  await resident.waitForSelector("#since-looked:not([hidden]) .since-count", { timeout: 5000 });
  check((await resident.textContent("#since-looked .since-count")).includes("new note"), "the patient page says a note is new since the resident last looked");
  await resident.screenshot({ path: `${ART}/since-looked-patient-phone.png` });
  await resident.click("#since-looked button:has-text('Mark all seen')");
  await resident.waitForSelector("#since-looked", { state: "hidden", timeout: 3000 });
  await resident.reload();
  await resident.waitForSelector("#notes li.note:has-text('Daughter calls')", { timeout: 5000 });
  await resident.waitForTimeout(500);
  check(!(await resident.isVisible("#since-looked")), "and not after Mark all seen");

  check(problems.length === 0, `no page errors (${problems.join("; ")})`);
  summary.ok = true;
} catch (e) {
  for (const [who, p] of pages) await p.screenshot({ path: `${ART}/handoff-failure-${who}.png`, fullPage: true }).catch(() => {});
  console.error(e);
  console.error(problems.join("\n"));
  summary.ok = false;
  summary.error = String(e);
} finally {
  await browser.close();
  closeControl();
}
console.log(JSON.stringify(summary));
process.exit(summary.ok ? 0 : 1);

function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
