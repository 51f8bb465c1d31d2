// The meeting view: the whole list on the meeting-room screen, read from
// across the room. The list's meeting column set in type sized to the
// screen (at least 1.25 % of its width: 24 px at 1080p, 48 px at 4K),
// made as large as it can be without needing more pages; patients that do
// not fit one screen are on clearly marked pages, turned by key, button or
// timer, never cut off. One patient is highlighted: moving the highlight
// here moves it on every open meeting view of the list (the live feed's
// `meetingFocus`), and it is announced to screen readers. In mask mode the
// server sends initials and bed instead of names and MRNs.
import { el, api, showBanner, badge } from "/static/rounds.js";
import { LiveFeed, liveBadge } from "/static/live.js";
import { fillEhrCell, isEhrColumn, ago } from "/static/ehr.js";

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

function render() {
  const wrap = $("table-wrap");
  const rows = rowsOf();
  const columns = state.data.columns;
  $("count").textContent = `${rows.length} patient${rows.length === 1 ? "" : "s"}`;
  if (!rows.length) {
    wrap.replaceChildren(el("p", { class: "empty", text: "No patients on this list yet." }));
    state.pages = [];
    showPage(0);
    return;
  }
  if (!rows.some((r) => r.patientId === state.current)) state.current = rows[0].patientId;
  const table = el(
    "table",
    { class: "meeting-board", id: "plist" },
    el("caption", { class: "sr", text: `Patients of ${state.data.list.name}${MASKED ? ", names hidden" : ""}` }),
    el("colgroup", {}, columns.map((c) => el("col", { "data-key": c.key }))),
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", "data-key": c.key, text: c.label })))),
    el(
      "tbody",
      {},
      rows.map((r, i) => {
        const tr = el("tr", { "data-patient": r.patientId, "data-index": String(i) });
        columns.forEach((c) => tr.append(cellFor(c, r)));
        tr.addEventListener("click", () => select(r.patientId, { local: true }));
        tr.addEventListener("dblclick", () => open(r.patientId));
        return tr;
      }),
    ),
  );
  wrap.replaceChildren(table);
  layout();
  markCurrent();
}

/** The note's meta line: who and when. */
function noteMeta(n) {
  const when = ago(n.createdAt);
  return [n.authorName, when].filter(Boolean).join(", ");
}

function cellFor(c, r) {
  if (c.key === "name") {
    const th = el("th", { scope: "row", "data-key": "name" }, el("span", { class: "m-name", text: r.label || "—" }));
    if (r.ehr) th.append(el("span", { class: "ehr-badge", text: "EHR" }));
    return th;
  }
  const td = el("td", { "data-key": c.key });
  if (c.key === "latestNote") {
    const n = r.latestNote;
    if (n) {
      td.append(el("span", { class: "m-note", text: n.body }), el("span", { class: "m-note-by", text: ` — ${noteMeta(n)}${n.shortened ? " · more on the patient page" : ""}` }));
    } else {
      td.append(el("span", { class: "m-none", text: "no note" }));
    }
    return td;
  }
  if (isEhrColumn(c) || r.ehr) {
    if (fillEhrCell(td, c, r, { ages: false })) {
      // A wall screen: the value and its reason are read, not tabbed through.
      td.removeAttribute("tabindex");
      td.removeAttribute("role");
      td.removeAttribute("aria-haspopup");
      const cell = r.cells && r.cells[c.key];
      const at = cell && cell.at ? Date.parse(cell.at) : NaN;
      if (!isNaN(at) && Date.now() - at > STALE_MS) td.append(el("span", { class: "m-age", text: ` ${ago(cell.at)}` }));
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
  td.textContent = (r.display && r.display[c.key]) || "";
  return td;
}

// ---------------------------------------------------------------- fitting and pages

/** The pages at type size `px`: [[row index…]…], and whether the width fits. */
function measure(table, px) {
  table.style.fontSize = `${px}px`;
  const head = document.querySelector(".meeting-head");
  if (head) head.style.fontSize = `${Math.max(14, px * 0.72)}px`;
  const foot = $("page-foot");
  foot.style.fontSize = `${Math.max(14, px * 0.8)}px`;
  const top = table.getBoundingClientRect().top + window.scrollY;
  const footH = Math.ceil(px * 0.8 * 1.5) + 12;
  const avail = window.innerHeight - top - footH - 4;
  const headH = table.tHead.getBoundingClientRect().height;
  const trs = Array.from(table.tBodies[0].rows);
  const pages = [];
  let cur = [];
  let used = headH;
  trs.forEach((tr, i) => {
    const h = tr.getBoundingClientRect().height;
    if (cur.length && used + h > avail) {
      pages.push(cur);
      cur = [];
      used = headH;
    }
    cur.push(i);
    used += h;
  });
  if (cur.length) pages.push(cur);
  const wrap = $("table-wrap");
  const fitsWidth = table.getBoundingClientRect().right <= wrap.getBoundingClientRect().right + 1 && table.scrollWidth <= wrap.clientWidth + 1;
  return { pages, fitsWidth };
}

/** Type as large as it can be without more pages than at the smallest size. */
function layout() {
  const table = $("plist");
  if (!table || !table.tBodies[0]) return;
  for (const tr of table.tBodies[0].rows) tr.hidden = false;
  table.classList.remove("fixed");
  for (const col of table.querySelectorAll("col")) col.style.width = "";
  const vw = window.innerWidth / 100;
  const smallest = Math.max(16, MIN_VW * vw);
  let best = smallest;
  let result = measure(table, smallest);
  const fewest = result.pages.length;
  for (let s = MAX_VW; s * vw > smallest; s -= 0.15) {
    const px = Math.round(s * vw);
    const r = measure(table, px);
    if (r.pages.length <= fewest && r.fitsWidth) {
      best = px;
      result = r;
      break;
    }
  }
  if (best === smallest) result = measure(table, smallest);
  // Fix the columns' widths as measured with every row, so that each page
  // keeps the heights it was cut by.
  const ths = Array.from(table.tHead.rows[0].cells);
  const widths = ths.map((th) => th.getBoundingClientRect().width);
  table.querySelectorAll("col").forEach((col, i) => {
    col.style.width = `${widths[i]}px`;
  });
  table.classList.add("fixed");
  state.pages = result.pages;
  root.dataset.fontPx = String(best);
  const at = pageOf(state.current);
  showPage(at >= 0 ? at : Math.min(state.page, state.pages.length - 1));
}

function pageOf(id) {
  const i = rowsOf().findIndex((r) => r.patientId === id);
  return state.pages.findIndex((p) => p.includes(i));
}

function showPage(p) {
  const n = state.pages.length;
  state.page = n ? ((p % n) + n) % n : 0;
  const table = $("plist");
  const shown = new Set(state.pages[state.page] || []);
  if (table && table.tBodies[0]) {
    Array.from(table.tBodies[0].rows).forEach((tr, i) => {
      tr.hidden = !shown.has(i);
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
  restartTimer();
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
  for (const tr of table.querySelectorAll("tbody tr")) {
    const on = tr.dataset.patient === state.current;
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
