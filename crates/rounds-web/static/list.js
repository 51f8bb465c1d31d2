// The list page: loads the list (with the view kept in the address) and
// follows its live feed. The parts live in their own modules around one
// store (list-store.js): list-table.js draws the table, list-edit.js edits
// cells, list-rows.js has the row actions, notes and the add form,
// list-view.js the sort/filter/search toolbar, list-columns.js the column
// and list panels, list-ehr.js EHR mode; live.js is the feed.
import { api, showBanner, announce, displayText } from "/static/rounds.js";
import { LiveFeed, liveBadge } from "/static/live.js";
import { page, state, actions, rowName } from "/static/list-store.js";
import { viewQuery, viewChanged } from "/static/list-view.js";
import { render, renderRow, phoneQuery } from "/static/list-table.js";
import { applyFields } from "/static/list-edit.js";
import { noteChanged, setupAddPatient } from "/static/list-rows.js";
import { scheduleEhrPoll, watchEhrOnReturn } from "/static/list-ehr.js";
import { popoverKey } from "/static/ehr.js";

let loadSeq = 0;
let loadTimer = null;

function loadSoon() {
  clearTimeout(loadTimer);
  loadTimer = setTimeout(load, 120);
}

/** Loads the list as the view shows it; resolves to the answer, undefined on failure. */
async function load(opts) {
  const seq = ++loadSeq;
  const refresh = !!(opts && opts.refresh === true);
  const p = new URLSearchParams(viewQuery());
  if (refresh) p.set("refresh", "true");
  const qs = p.toString();
  state.loading = true;
  try {
    const data = await api("GET", page.apiList + (qs ? `?${qs}` : ""));
    if (seq !== loadSeq) return;
    state.data = data;
    state.loading = false;
    state.loadFailure = null;
    document.getElementById("list-name").textContent = data.list.name;
    document.title = `${data.list.name} · Rounds`;
    showBanner("");
    render();
    scheduleEhrPoll();
    return data;
  } catch (e) {
    if (seq !== loadSeq) return;
    state.loading = false;
    scheduleEhrPoll();
    state.loadFailure = e.status;
    if (e.status === 404) {
      live.stop("ended", "No access");
      showBanner("This list no longer exists, or you are no longer a member of its team.");
    } else if (e.status === 422 && (state.view.sort.length || state.view.filters.length)) {
      showBanner(`This view cannot be shown (${e.message}); showing the whole list.`, "info");
      state.view = { sort: [], filters: [], q: state.view.q };
      viewChanged();
    } else {
      showBanner(`The list could not be loaded: ${e.message}`);
    }
  }
}

/** What a colleague changed, in words for the live region. */
function tellChange(d) {
  if (!d.by || d.by.userId === page.me || !state.data) return;
  const row = state.data.rows.find((r) => r.patientId === d.patientId);
  if (!row) return;
  const keys = Object.keys(d.fields || {});
  const col = state.data.columns.find((c) => keys.includes(c.key));
  const who = d.by.name || "A colleague";
  if (col && keys.length === 1) {
    const v = displayText(col, row.fields, row, page.members);
    announce(`${who} set ${col.label} of ${rowName(row) || "a patient"} to ${col.type === "checkbox" ? (v ? "ticked" : "not ticked") : v || "empty"}.`);
  } else announce(`${who} changed the details of ${rowName(row) || "a patient"}.`);
}

/** A saved field: merged into its row; the view is asked again when it may change. */
function patientUpdated(d) {
  applyFields(d.patientId, d.fields);
  tellChange(d);
  const touched = Object.keys(d.fields || {});
  const viewKeys = new Set([...state.view.sort.map((s) => s.key), ...state.view.filters.map((f) => f.split(":")[0])]);
  const needsReload =
    state.view.q.trim() ||
    touched.some((k) => viewKeys.has(k) || (["family", "given"].includes(k) && viewKeys.has("name")) || (k === "birthDate" && viewKeys.has("ageSex")));
  if (needsReload || !renderRow(d.patientId)) render();
  if (needsReload) loadSoon();
}

const liveNode = document.getElementById("live");
const live = new LiveFeed({
  path: `${page.apiList}/events`,
  lastEventId: page.root.dataset.lastEventId,
  handlers: {
    patientUpdated,
    noteChanged: (d) => noteChanged(d),
    listRenamed: (d) => {
      document.getElementById("list-name").textContent = d.name;
      loadSoon();
    },
    listDeleted: () => {
      live.stop("ended", "List deleted");
      showBanner("This list was deleted. Its patients are still in the team.");
    },
    resync: () => loadSoon(),
    other: () => loadSoon(),
  },
  onStatus: liveBadge(liveNode),
  reload: async () => ((await load()) ? { ok: true } : { ok: false, status: state.loadFailure || 0 }),
});

Object.assign(actions, { load, loadSoon, render, liveStopped: () => live.stopped });

// Closing an EHR value's details (Escape or Close) puts the focus back on
// its cell, also after a redraw replaced the cell's node.
function refocusAfterPopover(e) {
  const inside = e.target && e.target.closest && e.target.closest(".popover");
  if (!inside || (e.type === "keydown" && e.key !== "Escape") || (e.type === "click" && !e.target.closest("button"))) return;
  const key = popoverKey();
  if (!key) return;
  // Before the details close (their own handlers run after this capture).
  const cell = document.querySelector(`[data-focus-key="${CSS.escape(`cell:${key}`)}"]`);
  if (cell) cell.focus({ preventScroll: true });
}
document.addEventListener("keydown", refocusAfterPopover, true);
document.addEventListener("click", refocusAfterPopover, true);

// The list's other pages (hand-off sheet, meeting view, export): a row of
// buttons on wide screens, one "More" button on a phone, so the first
// patient stays near the top of the screen.
function setupMoreMenu() {
  const more = document.getElementById("list-more");
  if (!more) return;
  const fit = () => { more.open = !phoneQuery.matches; more.classList.toggle("menu", phoneQuery.matches); };
  phoneQuery.addEventListener("change", fit);
  fit();
  document.addEventListener("click", (e) => {
    if (phoneQuery.matches && more.open && !more.contains(e.target)) more.open = false;
  });
  more.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && phoneQuery.matches && more.open) {
      more.open = false;
      more.querySelector("summary").focus();
    }
  });
}

setupMoreMenu();
setupAddPatient();
watchEhrOnReturn();
liveNode.textContent = "Loading…";
load().then((data) => {
  if (data) {
    live.lastId = String(data.lastEventId);
    live.start();
  } else {
    liveBadge(liveNode)("ended", "Not connected");
  }
});
