// The meeting view: the whole list on the meeting-room screen, read from
// across the room. The list's meeting column set in type sized to the
// screen (at least 1.25 % of its width: 24 px at 1080p, 48 px at 4K),
// made as large as it can be without needing more pages; patients that do
// not fit one screen are on clearly marked pages, turned by key, button or
// timer, never cut off. One patient is highlighted: moving the highlight
// here moves it on every open meeting view of the list (the live feed's
// `meetingFocus`), and it is announced to screen readers. In mask mode the
// server sends initials and bed instead of names and MRNs.
// (Over 500 lines: the one meeting screen — loading, drawing, fitting type
// and pages, the shared highlight, keys and the column picker; the picker,
// ~130 lines at the end, is the part that could stand in a module of its own.)
import { el, api, showBanner, badge } from "/static/rounds.js";
import { LiveFeed, liveBadge } from "/static/live.js";
import { fillEhrCell, isEhrColumn, ago, NUMERIC_EHR } from "/static/ehr.js";

const root = document.getElementById("meeting-app");
const TEAM = root.dataset.team;
const LIST = root.dataset.list;
const MASKED = root.dataset.masked === "true";
const apiList = `/api/v1/teams/${TEAM}/lists/${LIST}`;
const params = new URLSearchParams(location.search);
params.delete("mask");
if (MASKED) params.set("masked", "true");
const meetingUrl = `${apiList}/meeting?${params}`;

/** The smallest type, as a share of the screen's width (24 px at 1920). */
const MIN_VW = 1.25;
/** The largest type tried when few patients leave room. */
const MAX_VW = 2.4;
/** Values older than this show their age beside them. */
const STALE_MS = 6 * 3600 * 1000;
/** A local move wins over feed echoes for this long. */
const LOCAL_WINS_MS = 800;

/** How each I-PASS illness severity reads on the board. */
const SEVERITY = { unstable: "UNSTABLE", watcher: "Watcher", stable: "Stable" };

const $ = (id) => document.getElementById(id);
const state = { data: null, current: null, page: 0, pages: [], lastLocalMove: 0 };

function pref(name, fallback) {
  try {
    const v = localStorage.getItem(`rounds.meeting.${name}`);
    return v == null ? fallback : v;
  } catch (e) {
    return fallback;
  }
}
function setPref(name, value) {
  try {
    localStorage.setItem(`rounds.meeting.${name}`, String(value));
  } catch (e) {
    /* private mode: the choice lasts for this page only */
  }
}
const prefs = { shortcuts: pref("shortcuts", "on") !== "off", timer: Number(pref("timer", "0")) || 0 };

// ---------------------------------------------------------------- loading

let seq = 0;
let loadFailure = null;

async function load() {
  const mine = ++seq;
  try {
    const data = await api("GET", meetingUrl);
    if (mine !== seq) return null;
    state.data = data;
    loadFailure = null;
    $("list-name").textContent = data.list.name;
    if (data.focus && Date.now() - state.lastLocalMove > LOCAL_WINS_MS) state.current = data.focus;
    showBanner("");
    render();
    schedulePoll();
    return data;
  } catch (e) {
    loadFailure = e.status || 0;
    if (e.status === 404) {
      live.stop("ended", "No access");
      showBanner("This list no longer exists, or you are no longer a member of its team.");
    } else {
      showBanner(`The meeting view could not be loaded: ${e.message}`);
    }
    return null;
  }
}

// The team's open urgent notes as the alerts (alerts.js) hear them: each
// row's count follows without reading the meeting again.
document.addEventListener("rounds:urgent", (e) => {
  if (!state.data || !e.detail || e.detail.team !== TEAM) return;
  const count = new Map();
  for (const u of e.detail.items || []) count.set(u.note.patientId, (count.get(u.note.patientId) || 0) + 1);
  let changed = false;
  for (const r of rowsOf()) {
    const n = count.get(r.patientId) || 0;
    if ((r.urgent || 0) !== n) {
      r.urgent = n;
      changed = true;
    }
  }
  if (changed) render();
});

let pollTimer = null;
function schedulePoll() {
  clearTimeout(pollTimer);
  const ehr = state.data && state.data.ehr;
  if (!ehr || !ehr.connected) return;
  pollTimer = setTimeout(() => load(), ehr.pending ? 1500 : 60000);
}

let soonTimer = null;
const loadSoon = () => {
  clearTimeout(soonTimer);
  soonTimer = setTimeout(load, 120);
};

// ---------------------------------------------------------------- drawing

function rowsOf() {
  return (state.data && state.data.rows) || [];
}

/** Units as a wall screen needs them (no-op once the server's are short). */
function shortUnits(text) {
  return text.replace(/\s*(beats|breaths)\/minute\b/g, " /min");
}

/** The part every patient's location shares ("Ward 7B, "), said once in the header. */
function sharedPlace(rows) {
  const locs = rows.map((r) => (r.display && r.display.location) || "");
  if (locs.length < 2 || locs.some((l) => !l)) return "";
  let prefix = locs[0];
  for (const l of locs) {
    while (prefix && !l.startsWith(prefix)) prefix = prefix.slice(0, -1);
  }
  const cut = Math.max(prefix.lastIndexOf(", "), prefix.lastIndexOf(" · "));
  return cut > 0 ? prefix.slice(0, cut + 2) : "";
}

function render() {
  const wrap = $("table-wrap");
  const rows = rowsOf();
  const all = state.data.columns;
  const columns = all.filter((c) => c.key !== "latestNote");
  const withNotes = all.length !== columns.length;
  $("count").textContent = `${rows.length} patient${rows.length === 1 ? "" : "s"}`;
  if (!rows.length) {
    wrap.replaceChildren(el("p", { class: "empty", text: "No patients on this list yet." }));
    state.pages = [];
    showPage(0);
    return;
  }
  if (!rows.some((r) => r.patientId === state.current)) state.current = rows[0].patientId;
  const place = sharedPlace(rows);
  const headLabel = (c) => (c.key === "location" && place ? `${c.label} (${place.replace(/[,·]\s*$/, "").trim()})` : c.label);
  // One tbody per patient: the row of columns and, under it across the
  // whole width, the newest note; a page holds whole patients.
  const table = el(
    "table",
    { class: "meeting-board", id: "plist" },
    el("caption", { class: "sr", text: `Patients of ${state.data.list.name}${MASKED ? ", names hidden" : ""}${withNotes ? "; each patient's newest note is on the line under the patient" : ""}` }),
    el("colgroup", {}, columns.map((c) => el("col", { "data-key": c.key }))),
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", "data-key": c.key, text: headLabel(c) })))),
    rows.map((r, i) => {
      const tr = el("tr", { "data-patient": r.patientId, "data-index": String(i) });
      columns.forEach((c) => tr.append(cellFor(c, r, place)));
      const body = el("tbody", { "data-patient": r.patientId }, tr);
      if (withNotes && r.latestNote) body.append(noteRow(r.latestNote, columns.length));
      body.addEventListener("click", () => select(r.patientId, { local: true }));
      body.addEventListener("dblclick", () => open(r.patientId));
      return body;
    }),
  );
  wrap.replaceChildren(table);
  layout();
  markCurrent();
}

function noteRow(n, span) {
  return el(
    "tr",
    { class: "m-note-row" },
    el(
      "td",
      { colspan: String(span), "data-key": "latestNote" },
      el("span", { class: "m-note-mark", text: "Note: " }),
      el("span", { class: "m-note", text: n.body }),
      el("span", { class: "m-note-by", text: ` — ${noteMeta(n)}${n.shortened ? " · more on the patient page" : ""}` }),
    ),
  );
}

/** The note's meta line: who and when. */
function noteMeta(n) {
  const when = ago(n.createdAt);
  return [n.authorName, when].filter(Boolean).join(", ");
}

function cellFor(c, r, place) {
  if (c.key === "name") {
    const th = el("th", { scope: "row", "data-key": "name" }, el("span", { class: "m-name", text: r.label || "—" }));
    // The hand-off beside the name: I-PASS severity, urgent notes awaiting
    // acknowledgement (kept current by the alerts' team feed).
    if (r.severity) th.append(" ", el("span", { class: `m-sev sev-${r.severity}`, text: SEVERITY[r.severity] || r.severity }));
    if (r.urgent) {
      th.append(" ", el("span", { class: "urgent-tag m-urgent" }, r.urgent > 1 ? `URGENT ×${r.urgent}` : "URGENT", el("span", { class: "sr", text: r.urgent > 1 ? " notes not yet acknowledged" : " note not yet acknowledged" })));
    }
    return th;
  }
  const td = el("td", { "data-key": c.key });
  if (isEhrColumn(c) || r.ehr) {
    if (fillEhrCell(td, c, r, { ages: false })) {
      const val = td.querySelector(".ehr-val");
      if (val) {
        let text = shortUnits(val.textContent);
        if (c.key === "location" && place && text.startsWith(place)) text = text.slice(place.length);
        val.textContent = text;
      }
      // A wall screen: the value and its reason are read, not tabbed through.
      td.removeAttribute("tabindex");
      td.removeAttribute("role");
      td.removeAttribute("aria-haspopup");
      const cell = r.cells && r.cells[c.key];
      const at = cell && cell.at ? Date.parse(cell.at) : NaN;
      if (NUMERIC_EHR.has(c.key) && !isNaN(at) && Date.now() - at > STALE_MS) td.append(el("span", { class: "m-age", text: ` ${ago(cell.at)}` }));
      return td;
    }
  }
  const value = r.fields && r.fields[c.key] ? r.fields[c.key].value : "";
  if (c.type === "choice") {
    const o = (c.options || []).find((x) => x.id === value);
    if (o) td.append(badge(o));
    return td;
  }
  if (c.type === "checkbox") {
    const on = value === "true";
    td.append(el("span", { class: on ? "tick on" : "tick", text: on ? "✓ yes" : "–" }));
    return td;
  }
  let text = (r.display && r.display[c.key]) || "";
  if (c.key === "location" && place && text.startsWith(place)) text = text.slice(place.length);
  td.textContent = text;
  return td;
}

// ---------------------------------------------------------------- fitting and pages

/** What is kept free below the board. */
function footRoom() {
  return 4;
}

/** The board's rows cut into pages that fit under its top, above `reserve`. */
function paginate(table, reserve) {
  const top = table.getBoundingClientRect().top;
  const avail = window.innerHeight - top - reserve;
  const headH = table.tHead.getBoundingClientRect().height;
  const pages = [];
  let cur = [];
  let used = headH;
  Array.from(table.tBodies).forEach((body, i) => {
    const h = body.getBoundingClientRect().height;
    if (cur.length && used + h > avail) {
      pages.push(cur);
      cur = [];
      used = headH;
    }
    cur.push(i);
    used += h;
  });
  if (cur.length) pages.push(cur);
  return pages;
}

/**
 * The columns' widths for the board's width `avail`: short columns (the
 * values, badges, initials) keep their whole width and never wrap; the
 * long ones (plans, names) share the rest by how much they hold. Null when
 * even wrapped the columns do not fit.
 */
function columnWidths(table, avail, px) {
  const ths = Array.from(table.tHead.rows[0].cells);
  const widths = (w) => {
    table.style.width = w;
    return ths.map((th) => th.getBoundingClientRect().width);
  };
  // The notes span every column: they wrap to whatever the columns leave.
  table.classList.add("measuring");
  const max = widths("max-content");
  const min = widths("min-content");
  table.style.width = "";
  table.classList.remove("measuring");
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  if (sum(max) <= avail) {
    const extra = avail - sum(max);
    return max.map((m) => m + (extra * m) / sum(max));
  }
  if (sum(min) > avail + 1) return null;
  const short = max.map((m) => m <= px * 7.5);
  let out = max.map((m, i) => (short[i] ? m : min[i]));
  if (sum(out) > avail) {
    out = min.slice();
    short.fill(false);
  }
  let rest = avail - sum(out);
  const room = out.map((w, i) => (short[i] ? 0 : max[i] - w));
  const total = sum(room);
  if (total > 0) out = out.map((w, i) => w + (rest * room[i]) / total);
  return out;
}

/** Sets type size `px` (board, head and marker) and fitted column widths; answers the pages and whether the width fits. */
function measure(table, px) {
  table.style.fontSize = `${px}px`;
  const head = document.querySelector(".meeting-head");
  if (head) head.style.fontSize = `${Math.max(14, px * 0.72)}px`;
  table.classList.remove("fixed");
  for (const col of table.querySelectorAll("col")) col.style.width = "";
  const wrap = $("table-wrap");
  const widths = columnWidths(table, wrap.clientWidth, px);
  if (!widths) return { pages: paginate(table, footRoom()), fitsWidth: false };
  table.querySelectorAll("col").forEach((col, i) => {
    col.style.width = `${Math.floor(widths[i] * 100) / 100}px`;
  });
  table.classList.add("fixed");
  const fitsWidth = table.getBoundingClientRect().right <= wrap.getBoundingClientRect().right + 1;
  return { pages: paginate(table, footRoom()), fitsWidth };
}

/** Type as large as it can be without more pages than at the smallest size. */
function layout() {
  const table = $("plist");
  if (!table || !table.tBodies[0]) return;
  const trs = Array.from(table.tBodies);
  for (const tr of trs) tr.hidden = false;
  // The head as it is when paged (its marker and page buttons shown), so
  // that the board's top does not move once the pages are cut.
  const label = $("page-label");
  label.hidden = false;
  label.textContent = `Page 88 of 88 · patients ${rowsOf().length}–${rowsOf().length} of ${rowsOf().length}`;
  for (const id of ["prev-page", "next-page", "timer-label", "page-foot"]) $(id).hidden = false;
  $("page-foot").textContent = "Last page · page 1 of 88 follows · Page Down or “Next page” turns the page";
  const vw = window.innerWidth / 100;
  const smallest = Math.max(16, Math.round(MIN_VW * vw));
  table.classList.remove("squeeze");
  let first = measure(table, smallest);
  if (!first.fitsWidth) {
    // Too many columns even wrapped: values may wrap inside their cells.
    table.classList.add("squeeze");
    first = measure(table, smallest);
  }
  const fewest = first.pages.length;
  let best = smallest;
  for (let s = MAX_VW; Math.round(s * vw) > smallest; s -= 0.15) {
    const px = Math.round(s * vw);
    const r = measure(table, px);
    if (r.pages.length <= fewest && r.fitsWidth) {
      best = px;
      break;
    }
  }
  measure(table, best);
  root.dataset.fontPx = String(best);
  // Whatever still reaches below the screen on some page makes the pages
  // shorter.
  let reserve = footRoom();
  const wanted = state.page;
  for (let tries = 0; tries < 4; tries++) {
    for (const tr of trs) tr.hidden = false;
    state.pages = paginate(table, reserve);
    let over = 0;
    for (let p = 0; p < state.pages.length; p++) {
      showPage(p, { quiet: true });
      over = Math.max(over, overflowBelow(table));
    }
    if (over <= 0) break;
    reserve += over + 2;
  }
  const at = pageOf(state.current);
  showPage(at >= 0 ? at : Math.min(wanted, state.pages.length - 1));
}

/** How far the shown page (rows and marker) reaches below the screen. */
function overflowBelow(table) {
  let bottom = table.getBoundingClientRect().bottom;
  const foot = $("page-foot");
  if (!foot.hidden) bottom = Math.max(bottom, foot.getBoundingClientRect().bottom);
  return Math.ceil(bottom - window.innerHeight);
}

function pageOf(id) {
  const i = rowsOf().findIndex((r) => r.patientId === id);
  return state.pages.findIndex((p) => p.includes(i));
}

function showPage(p, { quiet = false } = {}) {
  const n = state.pages.length;
  state.page = n ? ((p % n) + n) % n : 0;
  const table = $("plist");
  const shown = new Set(state.pages[state.page] || []);
  if (table && table.tBodies[0]) {
    Array.from(table.tBodies).forEach((body, i) => {
      body.hidden = !shown.has(i);
    });
  }
  const paged = n > 1;
  const label = $("page-label");
  const foot = $("page-foot");
  label.hidden = !paged;
  foot.hidden = !paged;
  for (const id of ["prev-page", "next-page"]) $(id).hidden = !paged;
  $("timer-label").hidden = !paged;
  root.dataset.pages = String(n);
  root.dataset.page = String(state.page + 1);
  if (!paged) return;
  const idx = state.pages[state.page];
  const total = rowsOf().length;
  label.textContent = `Page ${state.page + 1} of ${n} · patients ${idx[0] + 1}–${idx[idx.length - 1] + 1} of ${total}`;
  drawFoot();
  if (!quiet) restartTimer();
}

let countdown = 0;
function drawFoot() {
  const n = state.pages.length;
  if (n < 2) return;
  const next = state.page + 1 < n ? `Continued on page ${state.page + 2} of ${n}` : `Last page · page 1 of ${n} follows`;
  const timer = prefs.timer ? ` · next page in ${countdown} s` : " · Page Down or “Next page” turns the page";
  $("page-foot").textContent = `${next}${timer}`;
}

let timerId = null;
function restartTimer() {
  clearInterval(timerId);
  timerId = null;
  if (!prefs.timer || state.pages.length < 2) return;
  countdown = prefs.timer;
  drawFoot();
  timerId = setInterval(() => {
    countdown -= 1;
    if (countdown <= 0) {
      showPage(state.page + 1);
      return;
    }
    drawFoot();
  }, 1000);
}

// ---------------------------------------------------------------- the highlight

function markCurrent() {
  const table = $("plist");
  if (!table) return;
  for (const body of table.tBodies) {
    const on = body.dataset.patient === state.current;
    body.classList.toggle("current", on);
    const tr = body.rows[0];
    tr.classList.toggle("current", on);
    if (on) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }
}

function announce(by) {
  const rows = rowsOf();
  const i = rows.findIndex((r) => r.patientId === state.current);
  if (i < 0) return;
  const r = rows[i];
  const where = (r.display && r.display.location) || "";
  const who = by ? ` (moved by ${by})` : "";
  const text = `Highlighted: ${r.label}${where ? `, ${where}` : ""}, patient ${i + 1} of ${rows.length}${who}.`;
  $("focus-announce").textContent = text;
}

let sendTimer = null;
function sendFocus() {
  clearTimeout(sendTimer);
  const id = state.current;
  sendTimer = setTimeout(() => {
    api("PUT", `${apiList}/meeting/focus`, { patientId: id }).catch((e) => showBanner(`The highlight could not be shared: ${e.message}`));
  }, 40);
}

/** Highlights a patient; `local`: moved here (shared with the other screens). */
function select(id, { local = false, by = null } = {}) {
  if (!rowsOf().some((r) => r.patientId === id)) return;
  const changed = state.current !== id;
  state.current = id;
  markCurrent();
  const p = pageOf(id);
  if (p >= 0 && p !== state.page) showPage(p);
  if (changed) announce(by);
  if (local) {
    state.lastLocalMove = Date.now();
    if (changed) sendFocus();
  }
}

function step(delta) {
  const rows = rowsOf();
  if (!rows.length) return;
  const i = Math.max(0, rows.findIndex((r) => r.patientId === state.current));
  const j = Math.min(rows.length - 1, Math.max(0, i + delta));
  select(rows[j].patientId, { local: true });
}

function open(id) {
  if (MASKED) {
    showBanner("Names are hidden on this screen: open the patient from the list page instead.");
    return;
  }
  location.href = `/teams/${TEAM}/patients/${id}`;
}

// ---------------------------------------------------------------- keys and controls

document.addEventListener("keydown", (e) => {
  if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.target.closest && e.target.closest("input, select, textarea, dialog")) return;
  // WCAG 2.1.4: letters only while the single-key shortcuts are on.
  if (e.key.length === 1 && !prefs.shortcuts) return;
  const rows = rowsOf();
  switch (e.key) {
    case "ArrowDown":
    case "j":
      step(1);
      break;
    case "ArrowUp":
    case "k":
      step(-1);
      break;
    case "Home":
      if (rows.length) select(rows[0].patientId, { local: true });
      break;
    case "End":
      if (rows.length) select(rows[rows.length - 1].patientId, { local: true });
      break;
    case "PageDown":
    case "n":
      showPage(state.page + 1);
      break;
    case "PageUp":
    case "p":
      showPage(state.page - 1);
      break;
    case "Enter":
      if (e.target !== document.body && !(e.target.closest && e.target.closest("tr"))) return;
      if (state.current) open(state.current);
      break;
    default:
      return;
  }
  e.preventDefault();
});

$("prev-patient").addEventListener("click", () => step(-1));
$("next-patient").addEventListener("click", () => step(1));
$("prev-page").addEventListener("click", () => showPage(state.page - 1));
$("next-page").addEventListener("click", () => showPage(state.page + 1));

const shortcuts = $("shortcuts");
function drawShortcuts() {
  shortcuts.checked = prefs.shortcuts;
  $("keys-help").textContent = prefs.shortcuts
    ? `↑ ↓ or j k move the highlight · Page Down / Up or n p turn pages · ${MASKED ? "names hidden" : "Enter opens the patient"}`
    : `↑ ↓ move the highlight · Page Down / Up turn pages · single-key shortcuts are off`;
}
shortcuts.addEventListener("change", () => {
  prefs.shortcuts = shortcuts.checked;
  setPref("shortcuts", prefs.shortcuts ? "on" : "off");
  drawShortcuts();
});
drawShortcuts();

const timerSelect = $("page-timer");
timerSelect.value = String(prefs.timer);
if (timerSelect.value !== String(prefs.timer)) prefs.timer = 0;
timerSelect.addEventListener("change", () => {
  prefs.timer = Number(timerSelect.value) || 0;
  setPref("timer", prefs.timer);
  restartTimer();
  drawFoot();
});

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (state.data && rowsOf().length) layout();
  }, 150);
});

// ---------------------------------------------------------------- the column set

$("choose-columns").addEventListener("click", () => openColumnPicker());

function openColumnPicker() {
  if (!state.data) return;
  const chosen = state.data.columns.map((c) => c.key);
  const byKey = new Map(state.data.available.map((c) => [c.key, c]));
  const order = chosen.concat(state.data.available.map((c) => c.key).filter((k) => !chosen.includes(k))).filter((k) => byKey.has(k));
  const on = new Set(chosen);
  const list = el("ol", { class: "m-picker" });
  const msg = el("p", { class: "form-msg", role: "alert" });
  const draw = (focusKey, focusWhich) => {
    list.replaceChildren(
      ...order.map((key, i) => {
        const c = byKey.get(key);
        const id = `mcol-${i}`;
        const box = el("input", { type: "checkbox", id, checked: on.has(key), disabled: key === "name" });
        box.addEventListener("change", () => (box.checked ? on.add(key) : on.delete(key)));
        const up = el("button", { type: "button", class: "small", "aria-label": `Move ${c.label} up`, disabled: i === 0, text: "↑" });
        const down = el("button", { type: "button", class: "small", "aria-label": `Move ${c.label} down`, disabled: i === order.length - 1, text: "↓" });
        const move = (d, which) => {
          const j = i + d;
          [order[i], order[j]] = [order[j], order[i]];
          draw(key, which);
        };
        up.addEventListener("click", () => move(-1, "up"));
        down.addEventListener("click", () => move(1, "down"));
        const li = el("li", { "data-key": key }, el("label", { class: "check", for: id }, box, ` ${c.label}${key === "name" ? " (always)" : ""}`), el("span", { class: "m-move" }, up, down));
        if (key === focusKey) setTimeout(() => (focusWhich === "up" && !up.disabled ? up : down.disabled ? up : down).focus(), 0);
        return li;
      }),
    );
  };
  draw();
  const save = el("button", { type: "submit", class: "primary", text: "Save" });
  const reset = el("button", { type: "button", class: "small", text: "Back to the default set" });
  const cancel = el("button", { type: "button", class: "small", text: "Cancel" });
  const form = el(
    "form",
    { method: "dialog" },
    el("h2", { id: "mcol-title", text: "Columns of the meeting view" }),
    el("p", { class: "muted", text: "For this list, on every meeting screen. Fewer columns leave room for larger type." }),
    list,
    msg,
    el("div", { class: "acts" }, save, reset, cancel),
  );
  const dialog = el("dialog", { class: "m-dialog", "aria-labelledby": "mcol-title" }, form);
  const close = () => {
    dialog.close();
    dialog.remove();
    $("choose-columns").focus();
  };
  const put = async (columns) => {
    try {
      await api("PUT", `${apiList}/meeting/columns`, { columns });
      close();
      await load();
    } catch (e) {
      msg.className = "form-msg error";
      msg.textContent = e.message;
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    put(order.filter((k) => on.has(k) || k === "name"));
  });
  reset.addEventListener("click", () => put(null));
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    close();
  });
  document.body.append(dialog);
  dialog.showModal();
}

// ---------------------------------------------------------------- live

const live = new LiveFeed({
  path: `${apiList}/events`,
  lastEventId: root.dataset.lastEventId,
  kinds: ["meetingFocus", "meetingColumnsChanged"],
  handlers: {
    meetingFocus: (d) => {
      if (!d.patientId || d.patientId === state.current) return;
      if (Date.now() - state.lastLocalMove < LOCAL_WINS_MS) return;
      select(d.patientId, { by: d.by && d.by.name });
    },
    listDeleted: () => {
      live.stop("ended", "List deleted");
      showBanner("This list was deleted.");
    },
    resync: () => loadSoon(),
    other: () => loadSoon(),
  },
  onStatus: liveBadge($("live")),
  reload: async () => ((await load()) ? { ok: true } : { ok: false, status: loadFailure || 0 }),
});

load().then((data) => {
  if (data) {
    live.lastId = String(data.lastEventId);
    live.start();
  }
});
