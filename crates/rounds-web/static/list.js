// The list page: the table with inline editing, sort/filter/search kept in
// the address, patients added/removed/moved/reordered, column management,
// notes per row and the live feed; in EHR mode the EHR columns (refreshed
// while the list is open), the outage banner, adding patients from an EHR
// search and linking patients typed in by hand to their EHR record.
import {
  el, api, sentence, displayNode, displayText, specsFor, makeEditor, Live, liveBadge,
  showBanner, readJsonAttr, fmtTime,
} from "/static/rounds.js";
import {
  EHR_COLUMNS, NUMERIC_EHR, isEhrColumn, ehrCell, fillEhrCell, makeEhrSearch, confirmLink, linkPatient,
  reanchorPopover, closePopover,
} from "/static/ehr.js";

const root = document.getElementById("list-app");
const TEAM = root.dataset.team;
const LIST = root.dataset.list;
const IS_OWNER = root.dataset.owner === "true";
const members = readJsonAttr(root, "data-members", []);
const otherLists = readJsonAttr(root, "data-lists", []).filter((l) => l.id !== LIST);
const apiList = `/api/v1/teams/${TEAM}/lists/${LIST}`;
const apiTeam = `/api/v1/teams/${TEAM}`;

const BUILTINS = { name: "Name", mrn: "MRN", ageSex: "Age/sex", birthDate: "Born", location: "Location", added: "Added" };
const TYPES = [
  ["text", "Text"], ["longText", "Long text"], ["number", "Number"], ["date", "Date"],
  ["dateTime", "Date and time"], ["choice", "Choice (status)"], ["checkbox", "Checkbox"], ["person", "Person (team member)"],
];
const DEFAULT_OPTION_COLOURS = ["#1f7a3d", "#d39e00", "#c0392b", "#2563eb", "#6b7280"];

const state = {
  data: null, // the getList answer
  view: readView(),
  editing: null, // {patientId, colKey, node}
  notes: new Map(), // patientId → notes (newest first)
  openNotes: new Set(),
  fresh: new Set(), // patientIds whose latest note just arrived
  noteDrafts: new Map(), // patientId → a note being typed (kept across renders)
  openMenu: null, // the patientId whose action menu is open (kept across renders)
  loading: false,
  linking: null, // the manual row being linked to an EHR record
  refreshing: false, // an on-demand EHR refresh is under way
};

const ehrOn = () => !!(state.data && state.data.ehr && state.data.ehr.connected);

// ---------------------------------------------------------------- view in the URL

function readView() {
  const p = new URLSearchParams(location.search);
  const sort = (p.get("sort") || "").split(",").map((s) => s.trim()).filter(Boolean).map((s) => (s.startsWith("-") ? { key: s.slice(1), desc: true } : { key: s.replace(/^\+/, ""), desc: false }));
  return { sort: sort.slice(0, 2), filters: p.getAll("filter").filter(Boolean), q: p.get("q") || "" };
}

function viewQuery() {
  const p = new URLSearchParams();
  if (state.view.sort.length) p.set("sort", state.view.sort.map((s) => (s.desc ? "-" : "") + s.key).join(","));
  for (const f of state.view.filters) p.append("filter", f);
  if (state.view.q.trim()) p.set("q", state.view.q.trim());
  return p.toString();
}

function viewChanged() {
  const qs = viewQuery();
  history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : ""));
  const m = document.getElementById("meeting-link");
  if (m) m.href = `/teams/${TEAM}/lists/${LIST}/meeting${qs ? `?${qs}` : ""}`;
  load();
}

const handOrder = () => !state.view.sort.length && !state.view.filters.length && !state.view.q.trim();

// ---------------------------------------------------------------- loading

let loadSeq = 0;
let loadTimer = null;
let loadFailure = null; // the status of the last failed load (0: no answer), null after a success

function loadSoon() {
  clearTimeout(loadTimer);
  loadTimer = setTimeout(load, 120);
}

async function load(opts) {
  const seq = ++loadSeq;
  const refresh = !!(opts && opts.refresh === true);
  const p = new URLSearchParams(viewQuery());
  if (refresh) p.set("refresh", "true");
  const qs = p.toString();
  state.loading = true;
  try {
    const data = await api("GET", apiList + (qs ? `?${qs}` : ""));
    if (seq !== loadSeq) return;
    state.data = data;
    state.loading = false;
    loadFailure = null;
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
    loadFailure = e.status;
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

// ---------------------------------------------------------------- table

function columnsShown() {
  return state.data ? state.data.columns.filter((c) => !c.hidden) : [];
}

function sortIndex(key) {
  return state.view.sort.findIndex((s) => s.key === key);
}

function onHeaderClick(col, e) {
  const i = sortIndex(col.key);
  let sort = state.view.sort.slice();
  if (e.shiftKey) {
    if (i >= 0) sort[i] = { key: col.key, desc: !sort[i].desc };
    else sort = [sort[0], { key: col.key, desc: false }].filter(Boolean).slice(0, 2);
  } else if (i === 0 && sort.length === 1) {
    if (sort[0].desc) sort = [];
    else sort = [{ key: col.key, desc: true }];
  } else if (i >= 0) {
    sort[i] = { key: col.key, desc: !sort[i].desc };
  } else {
    sort = [{ key: col.key, desc: false }];
  }
  state.view.sort = sort;
  viewChanged();
}

function headerCell(col, first) {
  const i = sortIndex(col.key);
  const dir = i >= 0 ? (state.view.sort[i].desc ? "descending" : "ascending") : "none";
  const btn = el(
    "button",
    { type: "button", class: "sort-btn", title: "Sort by this column (Shift-click: second sort key)" },
    el("span", { class: "col-label", text: col.label }),
    i >= 0 ? el("span", { class: "sort-mark", text: `${state.view.sort[i].desc ? "▼" : "▲"}${state.view.sort.length > 1 ? i + 1 : ""}` }) : null,
  );
  btn.addEventListener("click", (e) => onHeaderClick(col, e));
  const th = el("th", { scope: "col", class: first ? "pin" : "", "aria-sort": dir, "data-key": col.key }, btn);
  if (col.width) th.style.width = `${col.width}px`;
  return th;
}

function render() {
  const wrap = document.getElementById("table-wrap");
  const data = state.data;
  if (!data) return;
  renderTools();
  renderEhr();
  const ed = state.editing;
  let active = ed && ed.node.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = !active && document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focusKey : null;
  if (focusKey) active = document.activeElement;
  const selection = active && typeof active.selectionStart === "number" ? [active.selectionStart, active.selectionEnd] : null;
  const cols = columnsShown();
  if (!data.rows.length) {
    wrap.replaceChildren(
      data.total
        ? el("p", { class: "empty" }, "No patient matches this view. ", el("button", { type: "button", class: "small", text: "Show the whole list", onclick: clearView }))
        : el("p", { class: "empty", text: "No patients yet — add the first." }),
    );
    const add = document.getElementById(ehrOn() ? "ehr-search" : "add-patient");
    if (!data.total && add) add.open = true;
    state.editing = null;
    updateCount();
    closePopover();
    return;
  }
  const table = el("table", { class: "plist", id: "plist" });
  const head = el("tr", {}, cols.map((c, i) => headerCell(c, i === 0)), el("th", { scope: "col", class: "row-acts" }, el("span", { class: "sr", text: "Actions" })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  let editorPlaced = false;
  data.rows.forEach((row, index) => {
    const tr = el("tr", { "data-patient": row.patientId, class: row.ehr ? "ehr-row" : "" });
    cols.forEach((col, i) => {
      const cell = el(i === 0 ? "th" : "td", { "data-key": col.key, "data-label": col.label });
      if (i === 0) {
        cell.setAttribute("scope", "row");
        cell.className = "pin";
      }
      if (ed && ed.patientId === row.patientId && ed.colKey === col.key) {
        cell.classList.add("editing");
        cell.append(ed.node);
        editorPlaced = true;
      } else {
        fillCell(cell, col, row);
      }
      tr.append(cell);
    });
    tr.append(el("td", { class: "row-acts" }, rowMenu(row, index)));
    body.append(tr);
    if (state.openNotes.has(row.patientId)) body.append(notesRow(row, cols.length + 1));
  });
  table.append(body);
  wrap.replaceChildren(table);
  reanchorPopover((key) => {
    const [pid, ck] = key.split(":");
    return table.querySelector(`tr[data-patient="${CSS.escape(pid)}"] [data-key="${CSS.escape(ck)}"]`);
  });
  if (ed && !editorPlaced) state.editing = null; // the patient or the column is gone
  if (focusKey) active = wrap.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
  if (active && document.contains(active)) {
    active.focus();
    if (selection && active.setSelectionRange) {
      try {
        active.setSelectionRange(selection[0], selection[1]);
      } catch (e) {
        /* not a text input */
      }
    }
  }
  updateCount();
}

function updateCount() {
  const c = document.getElementById("row-count");
  if (!c || !state.data) return;
  const { rows, total } = state.data;
  c.textContent = rows.length === total ? `${total} patient${total === 1 ? "" : "s"}` : `${rows.length} of ${total} patients`;
}

/** A row's name as the list shows it (the EHR's for an EHR patient). */
function rowName(row) {
  if (row.ehr && row.display && row.display.name) return row.display.name;
  return displayText({ key: "name" }, row.fields, row, members);
}

function fillCell(cell, col, row) {
  if (col.key === "name") {
    const text = rowName(row) || "(no name)";
    const line = el("span", { class: row.ehr ? "name-line ehr" : "name-line" }, el("a", { href: `/teams/${TEAM}/patients/${row.patientId}`, class: "pname", text }));
    if (row.ehr) {
      const c = ehrCell(col, row);
      const why = c && c.state !== "ok" ? ` (${c.state === "pending" ? "still being read" : c.reason || c.state})` : "";
      line.append(" ", el("span", { class: `ehr-badge${c && (c.state === "failed" || c.state === "missing") ? " stale" : ""}`, title: `From the EHR (Patient/${row.ehr.ehrId})${why}`, text: "EHR" }));
    } else {
      const edit = el("button", { type: "button", class: "cell-edit", "aria-label": `Edit name of ${text}`, text: "✎" });
      edit.addEventListener("click", () => startEdit(row, col));
      line.append(edit);
    }
    cell.append(line);
    if (row.duplicateMrn) cell.append(el("span", { class: "flag", title: "Another patient of the team has the same MRN", text: " ⚠ same MRN" }));
    const notes = state.notes.get(row.patientId);
    const n = notes ? notes[0] : row.latestNote;
    if (n) {
      cell.append(
        el(
          "button",
          { type: "button", class: state.fresh.has(row.patientId) ? "note-line fresh" : "note-line", title: "Show notes", onclick: () => toggleNotes(row.patientId) },
          el("span", { class: "note-tag", text: "Note" }),
          n.body,
          el("span", { class: "muted", text: ` — ${n.authorName}, ${fmtTime(n.createdAt)}` }),
        ),
      );
    }
    return;
  }
  if (isEhrColumn(col) || row.ehr) {
    try {
      if (fillEhrCell(cell, col, row)) return;
    } catch (e) {
      cell.replaceChildren(el("span", { class: "ehr-mark failed", title: "This value could not be shown", text: "—" }));
      return;
    }
    if (isEhrColumn(col)) return; // a manual patient has no EHR values
  }
  const specs = specsFor(col);
  cell.append(displayNode(col, row.fields, row, members));
  if (!specs) return;
  cell.classList.add("editable");
  cell.tabIndex = 0;
  cell.setAttribute("role", "button");
  cell.setAttribute("aria-label", `${col.label}: ${displayText(col, row.fields, row, members) || "empty"} — edit`);
  if (col.type === "checkbox") {
    cell.addEventListener("click", () => toggleCheckbox(row, col));
  } else {
    cell.addEventListener("click", () => startEdit(row, col));
  }
  cell.addEventListener("keydown", (e) => {
    if (e.target === cell && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      cell.click();
    }
  });
}

function savePatient(patientId, edits) {
  return api("PATCH", `${apiTeam}/patients/${patientId}`, { fields: edits });
}

function applyFields(patientId, fields) {
  if (!state.data || !fields) return;
  const row = state.data.rows.find((r) => r.patientId === patientId);
  if (!row) return;
  for (const [k, v] of Object.entries(fields)) {
    const cur = row.fields[k];
    if (!cur || v.version >= cur.version) row.fields[k] = { value: v.value, version: v.version };
  }
}

function startEdit(row, col) {
  if (state.editing && state.editing.patientId === row.patientId && state.editing.colKey === col.key) return;
  const specs = specsFor(col);
  if (!specs) return;
  const node = makeEditor({
    specs,
    fields: row.fields,
    members,
    compact: true,
    save: (edits) => savePatient(row.patientId, edits),
    done: (saved) => {
      state.editing = null;
      applyFields(row.patientId, saved);
      render();
      if (saved && !handOrder()) loadSoon();
      const cell = document.querySelector(`tr[data-patient="${row.patientId}"] [data-key="${col.key}"]`);
      if (cell && cell.tabIndex === 0) cell.focus();
    },
  });
  state.editing = { patientId: row.patientId, colKey: col.key, node };
  render();
  node.focusFirst();
}

async function toggleCheckbox(row, col) {
  const cur = row.fields[col.key];
  const on = cur && cur.value === "true";
  try {
    const answer = await savePatient(row.patientId, { [col.key]: { value: !on, baseVersion: cur ? cur.version : 0 } });
    applyFields(row.patientId, answer.fields);
    render();
    if (!handOrder()) loadSoon();
  } catch (e) {
    if (e.code === "edit_conflict") {
      // Show the choice in the editor.
      startEdit(row, col);
      showBanner("Someone else changed that checkbox meanwhile; check it and try again.", "info");
      loadSoon();
    } else {
      showBanner(sentence(e.message));
    }
  }
}

// ---------------------------------------------------------------- row actions

function rowMenu(row, index) {
  const name = rowName(row) || "patient";
  const menu = el("details", { class: "rowmenu", open: state.openMenu === row.patientId }, el("summary", { "aria-label": `Actions for ${name}`, text: "⋯" }));
  menu.addEventListener("toggle", () => {
    if (menu.open) {
      state.openMenu = row.patientId;
      for (const other of document.querySelectorAll("details.rowmenu[open]")) if (other !== menu) other.open = false;
    } else if (state.openMenu === row.patientId) state.openMenu = null;
  });
  const box = el("div", { class: "rowmenu-box" });
  const up = el("button", { type: "button", class: "small", text: "↑ Up", disabled: !handOrder() || index === 0 });
  const down = el("button", { type: "button", class: "small", text: "↓ Down", disabled: !handOrder() || index === state.data.rows.length - 1 });
  up.addEventListener("click", () => reorder(index, -1));
  down.addEventListener("click", () => reorder(index, 1));
  box.append(el("div", { class: "acts" }, up, down));
  if (!handOrder()) box.append(el("p", { class: "muted small", text: "Clear sort, filter and search to order by hand." }));
  box.append(el("button", { type: "button", class: "small", text: state.openNotes.has(row.patientId) ? "Hide notes" : "Notes", onclick: () => toggleNotes(row.patientId) }));
  if (otherLists.length) {
    const sel = el("select", { "aria-label": `Move ${name} to` }, otherLists.map((l) => el("option", { value: l.id, text: l.name })));
    const go = el("button", { type: "button", class: "small", text: "Move" });
    go.addEventListener("click", () => act(() => api("POST", `${apiList}/patients/${row.patientId}/move`, { toListId: sel.value }), `Moved ${name}.`));
    box.append(el("div", { class: "acts" }, sel, go));
  }
  if (!row.ehr && ehrOn()) {
    box.append(el("button", { type: "button", class: "small", text: "Link to EHR…", onclick: () => startLinking(row) }));
  } else if (row.ehr) {
    box.append(el("a", { class: "button small", href: `/teams/${TEAM}/patients/${row.patientId}`, text: "EHR details" }));
  }
  const confirm = el("details", { class: "confirm" }, el("summary", { text: "Remove…" }));
  const yes = el("button", { type: "button", class: "small danger", text: `Yes, take ${name} off this list` });
  yes.addEventListener("click", () => act(() => api("DELETE", `${apiList}/patients/${row.patientId}`), `${name} taken off the list.`));
  confirm.append(yes);
  box.append(confirm);
  menu.append(box);
  return menu;
}

async function act(call, done) {
  try {
    await call();
    showBanner(done, "info");
    await load();
  } catch (e) {
    showBanner(sentence(e.message));
  }
}

async function reorder(index, delta) {
  const rows = state.data.rows.slice();
  const j = index + delta;
  if (j < 0 || j >= rows.length) return;
  [rows[index], rows[j]] = [rows[j], rows[index]];
  state.data.rows = rows;
  render();
  state.openMenu = rows[j].patientId;
  render();
  try {
    await api("PUT", `${apiList}/order`, { patientIds: rows.map((r) => r.patientId) });
  } catch (e) {
    showBanner(sentence(e.message));
    load();
  }
}

// ---------------------------------------------------------------- notes

async function fetchNotes(patientId) {
  const notes = await api("GET", `${apiTeam}/patients/${patientId}/notes`);
  state.notes.set(patientId, notes);
  return notes;
}

async function toggleNotes(patientId) {
  state.openMenu = null;
  if (state.openNotes.has(patientId)) {
    state.openNotes.delete(patientId);
    render();
    return;
  }
  state.openNotes.add(patientId);
  render();
  try {
    await fetchNotes(patientId);
  } catch (e) {
    showBanner(`The notes could not be loaded: ${e.message}`);
  }
  render();
}

function notesRow(row, span) {
  const notes = state.notes.get(row.patientId);
  const box = el("div", { class: "notes-box" });
  const area = el("textarea", { name: "body", rows: 2, maxlength: 10000, required: true, "aria-label": "New note", "data-focus-key": `note:${row.patientId}`, value: state.noteDrafts.get(row.patientId) || "" });
  area.addEventListener("input", () => state.noteDrafts.set(row.patientId, area.value));
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el("form", { class: "note-add" }, area, el("button", { type: "submit", class: "small primary", text: "Add note" }), msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = area.value;
    if (!body.trim()) return;
    msg.textContent = "Saving…";
    try {
      await api("POST", `${apiTeam}/patients/${row.patientId}/notes`, { body });
      state.noteDrafts.delete(row.patientId);
      area.value = "";
      await fetchNotes(row.patientId);
      render();
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
    }
  });
  box.append(form);
  if (!notes) box.append(el("p", { class: "muted", text: "Loading notes…" }));
  else if (!notes.length) box.append(el("p", { class: "empty", text: "No notes yet." }));
  else {
    box.append(
      el(
        "ol",
        { class: "notes" },
        notes.map((n) =>
          el("li", { class: "note" }, el("p", { class: "note-meta" }, el("strong", { text: n.authorName }), ` · ${fmtTime(n.createdAt)}${n.edited ? " · edited" : ""}`), el("p", { class: "note-body", text: n.body })),
        ),
      ),
    );
  }
  box.append(el("a", { href: `/teams/${TEAM}/patients/${row.patientId}`, text: "All details and notes →" }));
  return el("tr", { class: "notes-row" }, el("td", { colspan: span }, box));
}

async function noteChanged(data) {
  const id = data.patientId;
  if (!state.data || !state.data.rows.some((r) => r.patientId === id)) return;
  try {
    await fetchNotes(id);
    state.fresh.add(id);
    setTimeout(() => {
      state.fresh.delete(id);
      const line = document.querySelector(`tr[data-patient="${id}"] .note-line`);
      if (line) line.classList.remove("fresh");
    }, 4000);
    render();
  } catch (e) {
    /* the next event or reload shows it */
  }
}

// ---------------------------------------------------------------- tools: search, sort, filter, columns

function clearView() {
  state.view = { sort: [], filters: [], q: "" };
  viewChanged();
}

function colLabel(key) {
  const c = state.data && state.data.columns.find((x) => x.key === key);
  return c ? c.label : BUILTINS[key] || "(removed column)";
}

function filterText(f) {
  const [key, op, ...rest] = f.split(":");
  let value = rest.join(":");
  const col = state.data && state.data.columns.find((x) => x.key === key);
  if (op === "is" && col && col.options) {
    const o = col.options.find((x) => x.id === value);
    if (o) value = o.label;
  }
  const words = { contains: "contains", is: "is", checked: "ticked:", from: "from", to: "until" };
  if (op === "checked") return `${colLabel(key)} ${value === "true" ? "ticked" : "not ticked"}`;
  return `${colLabel(key)} ${words[op] || op} “${value}”`;
}

let searchTimer = null;
let toolsBuilt = false;

function renderTools() {
  const tools = document.getElementById("tools");
  if (!toolsBuilt) {
    toolsBuilt = true;
    const search = el("input", { type: "search", id: "search", placeholder: "Search this list", "aria-label": "Search this list", value: state.view.q });
    search.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        state.view.q = search.value;
        viewChanged();
      }, 300);
    });
    tools.replaceChildren(
      el("div", { class: "toolbar" }, search, el("span", { id: "row-count", class: "muted" }), el("div", { id: "view-chips", class: "chips" })),
      el("div", { class: "panels" }, filterPanel(), columnsPanel(), listPanel()),
    );
  }
  renderChips();
  renderColumnsPanel();
  renderFilterOptions();
}

function renderChips() {
  const chips = document.getElementById("view-chips");
  chips.replaceChildren();
  state.view.sort.forEach((s, i) => {
    chips.append(
      el(
        "span",
        { class: "chip" },
        `${i === 0 ? "Sorted by" : "then"} ${colLabel(s.key)} ${s.desc ? "▼" : "▲"}`,
        el("button", {
          type: "button", class: "chip-x", "aria-label": `Stop sorting by ${colLabel(s.key)}`, text: "×",
          onclick: () => {
            state.view.sort.splice(i, 1);
            viewChanged();
          },
        }),
      ),
    );
  });
  state.view.filters.forEach((f, i) => {
    chips.append(
      el(
        "span",
        { class: "chip" },
        filterText(f),
        el("button", {
          type: "button", class: "chip-x", "aria-label": `Remove filter ${filterText(f)}`, text: "×",
          onclick: () => {
            state.view.filters.splice(i, 1);
            viewChanged();
          },
        }),
      ),
    );
  });
  if (state.view.sort.length || state.view.filters.length || state.view.q) {
    chips.append(el("button", { type: "button", class: "small", text: "Clear view", onclick: clearView }));
  }
}

function filterKind(col) {
  if (!col) return "text";
  if (NUMERIC_EHR.has(col.key)) return "number";
  if (col.key === "birthDate" || col.key === "added" || col.key === "encounterStart" || col.type === "date" || col.type === "dateTime") return "date";
  if (col.type === "choice") return "choice";
  if (col.type === "checkbox") return "checkbox";
  return "text";
}

let filterUi = null;

function filterPanel() {
  const colSel = el("select", { id: "filter-col", "aria-label": "Filter column" });
  const valueBox = el("span", { class: "filter-value" });
  const add = el("button", { type: "button", class: "small primary", text: "Add filter" });
  const msg = el("p", { class: "form-msg", role: "status" });
  const panel = el("details", { class: "panel", id: "filter-panel" }, el("summary", { text: "Filter" }), el("div", { class: "row" }, colSel, valueBox, add), msg);
  filterUi = { colSel, valueBox, current: null };
  colSel.addEventListener("change", () => renderFilterValue());
  add.addEventListener("click", () => {
    const f = filterUi.current && filterUi.current();
    if (!f) {
      msg.textContent = "Choose a value to filter by.";
      return;
    }
    msg.textContent = "";
    state.view.filters.push(f);
    viewChanged();
  });
  return panel;
}

function renderFilterOptions() {
  if (!filterUi || !state.data) return;
  const signature = JSON.stringify(state.data.columns.map((c) => [c.key, c.label, c.options]));
  if (signature === filterUi.signature) return; // keep what is being typed
  filterUi.signature = signature;
  const keep = filterUi.colSel.value;
  filterUi.colSel.replaceChildren(...state.data.columns.map((c) => el("option", { value: c.key, text: c.label, selected: c.key === keep })));
  renderFilterValue();
}

function renderFilterValue() {
  const col = state.data.columns.find((c) => c.key === filterUi.colSel.value);
  const key = filterUi.colSel.value;
  const box = filterUi.valueBox;
  switch (filterKind(col)) {
    case "choice": {
      const sel = el("select", { "aria-label": "is" }, (col.options || []).map((o) => el("option", { value: o.id, text: o.label })));
      box.replaceChildren("is ", sel);
      filterUi.current = () => (sel.value ? `${key}:is:${sel.value}` : null);
      break;
    }
    case "checkbox": {
      const sel = el("select", { "aria-label": "state" }, el("option", { value: "true", text: "ticked" }), el("option", { value: "false", text: "not ticked" }));
      box.replaceChildren(sel);
      filterUi.current = () => `${key}:checked:${sel.value}`;
      break;
    }
    case "number":
    case "date": {
      const kind = filterKind(col);
      const attrs = kind === "number" ? { type: "text", inputmode: "decimal", size: 6, class: "num" } : { type: "date" };
      const from = el("input", { ...attrs, "aria-label": "from" });
      const to = el("input", { ...attrs, "aria-label": "to" });
      box.replaceChildren("from ", from, " to ", to);
      filterUi.current = () => {
        const parts = [];
        if (from.value) parts.push(`${key}:from:${from.value}`);
        if (to.value) parts.push(`${key}:to:${to.value}`);
        if (!parts.length) return null;
        if (parts.length === 2) state.view.filters.push(parts.shift());
        return parts[0];
      };
      break;
    }
    default: {
      const text = el("input", { type: "text", placeholder: "contains…", "aria-label": "contains" });
      box.replaceChildren(text);
      filterUi.current = () => (text.value.trim() ? `${key}:contains:${text.value.trim()}` : null);
    }
  }
}

// Columns: rename, hide/show, reorder, remove, add, save as a set.
let columnsList = null;

function columnsPanel() {
  columnsList = el("ol", { class: "col-list" });
  const builtinSel = el("select", { id: "builtin-add", "aria-label": "Built-in column to show" });
  const builtinLabel = el("span", { text: "Built-in column:" });
  const builtinAdd = el("button", { type: "button", class: "small", text: "Show" });
  builtinAdd.addEventListener("click", () => {
    if (builtinSel.value) columnCall(() => api("POST", `${apiList}/columns`, { key: builtinSel.value }));
  });
  const panel = el(
    "details",
    { class: "panel", id: "columns-panel" },
    el("summary", { text: "Columns" }),
    columnsList,
    el("div", { class: "row builtin-row" }, builtinLabel, builtinSel, builtinAdd),
    newColumnForm(),
    saveSetForm(),
  );
  columnsList.builtinSel = builtinSel;
  columnsList.builtinLabel = builtinLabel;
  return panel;
}

async function columnCall(call, okText) {
  try {
    await call();
    if (okText) showBanner(okText, "info");
    await load();
    return true;
  } catch (e) {
    showBanner(sentence(e.message));
    return false;
  }
}

function renderColumnsPanel() {
  if (!columnsList || !state.data) return;
  // Never throw away a label being typed: wait for the next render. (A
  // focused button is redrawn, and focused again below: its click must act
  // on the columns as they are now.)
  const focused = columnsList.contains(document.activeElement) ? document.activeElement : null;
  if (focused && focused.tagName !== "BUTTON") return;
  const focusAct = focused ? focused.dataset.act : null;
  const cols = state.data.columns;
  columnsList.replaceChildren(
    ...cols.map((c, i) => {
      const li = el("li", { class: c.hidden ? "col-item hidden-col" : "col-item" });
      const path = `${apiList}/columns/${encodeURIComponent(c.key)}`;
      if (c.builtin || isEhrColumn(c)) li.append(...[el("span", { class: "col-name", text: c.label }), isEhrColumn(c) ? el("span", { class: "muted small", text: "from the EHR" }) : null].filter(Boolean));
      else {
        const input = el("input", { value: c.label, "aria-label": `Label of ${c.label}`, maxlength: 100 });
        const save = el("button", { type: "button", class: "small", "data-act": `${c.key}:rename`, text: "Rename" });
        save.addEventListener("click", () => columnCall(() => api("PATCH", path, { label: input.value }), "Column renamed."));
        li.append(el("span", { class: "col-name" }, input, save), el("span", { class: "muted small", text: typeLabel(c) }));
      }
      li.append(
        el(
          "span",
          { class: "acts" },
          el("button", { type: "button", class: "small", "data-act": `${c.key}:left`, "aria-label": `Move ${c.label} left`, text: "←", disabled: i === 0, onclick: () => columnCall(() => api("PATCH", path, { position: i - 1 })) }),
          el("button", { type: "button", class: "small", "data-act": `${c.key}:right`, "aria-label": `Move ${c.label} right`, text: "→", disabled: i === cols.length - 1, onclick: () => columnCall(() => api("PATCH", path, { position: i + 1 })) }),
          el("button", { type: "button", class: "small", "data-act": `${c.key}:hide`, text: c.hidden ? "Show" : "Hide", onclick: () => columnCall(() => api("PATCH", path, { hidden: !c.hidden })) }),
          c.key === "name" ? null : el("button", { type: "button", class: "small danger", text: "Remove", onclick: () => columnCall(() => api("DELETE", path), `Column “${c.label}” removed from this list.`) }),
        ),
      );
      return li;
    }),
  );
  if (focusAct) {
    const again = columnsList.querySelector(`button[data-act="${CSS.escape(focusAct)}"]`);
    if (again && !again.disabled) again.focus();
  }
  const missing = Object.keys(BUILTINS).filter((k) => !cols.some((c) => c.key === k));
  const ehrMissing = ehrOn() ? EHR_COLUMNS.filter(([k]) => !cols.some((c) => c.key === k)) : [];
  const keep = columnsList.builtinSel.value;
  const options = [];
  if (missing.length) options.push(...missing.map((k) => el("option", { value: k, text: BUILTINS[k], selected: k === keep })));
  if (ehrMissing.length) options.push(el("optgroup", { label: "From the EHR" }, ehrMissing.map(([k, l]) => el("option", { value: k, text: l, selected: k === keep }))));
  if (!options.length) options.push(el("option", { value: "", text: "(all shown)" }));
  columnsList.builtinSel.replaceChildren(...options);
  columnsList.builtinLabel.textContent = ehrOn() ? "Built-in or EHR column:" : "Built-in column:";
}

function typeLabel(c) {
  const t = TYPES.find((x) => x[0] === c.type);
  return (t ? t[1] : c.type || "") + (c.unit ? ` (${c.unit})` : "");
}

function newColumnForm() {
  const label = el("input", { name: "label", maxlength: 100, required: true, "aria-label": "Column label", placeholder: "e.g. Status" });
  const type = el("select", { name: "type", "aria-label": "Column type" }, TYPES.map(([v, t]) => el("option", { value: v, text: t })));
  const unit = el("input", { name: "unit", maxlength: 20, placeholder: "e.g. mmHg", "aria-label": "Unit" });
  const unitLabel = el("label", { class: "short", hidden: true }, "Unit", unit);
  const options = el("ol", { class: "options" });
  const addOpt = el("button", { type: "button", class: "small", text: "+ Option" });
  const optBox = el("div", { class: "options-box", hidden: true }, el("p", { class: "muted small", text: "Options, in the order they sort:" }), options, addOpt);
  const msg = el("p", { class: "form-msg", role: "status" });
  const addOption = (text) => {
    const colour = el("input", { type: "color", value: DEFAULT_OPTION_COLOURS[options.children.length % DEFAULT_OPTION_COLOURS.length], "aria-label": "Colour" });
    const optLabel = el("input", { maxlength: 100, value: text || "", placeholder: "Option", "aria-label": "Option label" });
    const del = el("button", { type: "button", class: "small", "aria-label": "Remove option", text: "×" });
    const li = el("li", {}, colour, optLabel, del);
    del.addEventListener("click", () => li.remove());
    options.append(li);
  };
  addOpt.addEventListener("click", () => addOption(""));
  type.addEventListener("change", () => {
    unitLabel.hidden = type.value !== "number";
    optBox.hidden = type.value !== "choice";
    if (type.value === "choice" && !options.children.length) ["", "", ""].forEach(addOption);
  });
  const form = el(
    "form",
    { class: "new-column", id: "new-column" },
    el("h3", { text: "New column" }),
    el("div", { class: "row" }, el("label", {}, "Label", label), el("label", { class: "role" }, "Type", type), unitLabel),
    optBox,
    el("button", { type: "submit", class: "small primary", text: "Add column" }),
    msg,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { label: label.value, type: type.value };
    if (type.value === "number" && unit.value.trim()) body.unit = unit.value.trim();
    if (type.value === "choice") {
      body.options = [...options.children]
        .map((li) => ({ label: li.querySelector("input:not([type=color])").value.trim(), color: li.querySelector("input[type=color]").value }))
        .filter((o) => o.label);
    }
    msg.textContent = "Adding…";
    msg.className = "form-msg";
    try {
      await api("POST", `${apiList}/columns`, body);
      msg.textContent = `Column “${body.label}” added.`;
      label.value = "";
      unit.value = "";
      options.replaceChildren();
      type.value = "text";
      type.dispatchEvent(new Event("change"));
      await load();
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
    }
  });
  return form;
}

function saveSetForm() {
  const name = el("input", { maxlength: 100, required: true, "aria-label": "Name of the column set", placeholder: "e.g. ICU columns" });
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el("form", { class: "row save-set" }, el("label", {}, "Save these columns as a set", name), el("button", { type: "submit", class: "small", text: "Save set" }), msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `${apiTeam}/schemas`, { name: name.value, fromListId: LIST });
      msg.textContent = `Saved “${name.value}”: new lists of the team can start from it.`;
      msg.className = "form-msg";
      name.value = "";
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
    }
  });
  return form;
}

function listPanel() {
  const name = el("input", { maxlength: 100, required: true, "aria-label": "List name", value: root.querySelector("#list-name").textContent });
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el("form", { class: "row" }, name, el("button", { type: "submit", class: "small", text: "Rename list" }), msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PATCH", apiList, { name: name.value });
      msg.textContent = "Renamed.";
      msg.className = "form-msg";
      load();
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
    }
  });
  return el("details", { class: "panel" }, el("summary", { text: "List" }), form);
}

// ---------------------------------------------------------------- add a patient

function setupAddPatient() {
  const form = document.getElementById("add-patient-form");
  const msg = document.getElementById("add-patient-msg");
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields = {};
    for (const input of form.querySelectorAll("input[name], select[name]")) {
      if (input.name === "csrf_token") continue;
      if (input.value.trim()) fields[input.name] = input.value.trim();
    }
    msg.textContent = "Adding…";
    msg.className = "form-msg";
    try {
      const answer = await api("POST", `${apiList}/patients`, { fields });
      const added = displayText({ key: "name" }, answer.row.fields, answer.row, members) || "Patient";
      msg.textContent = answer.duplicateMrnOf && answer.duplicateMrnOf.length ? `${added} added — another patient of the team has the same MRN: check it is not the same person twice.` : `${added} added.`;
      msg.className = answer.duplicateMrnOf && answer.duplicateMrnOf.length ? "form-msg error" : "form-msg ok";
      form.reset();
      form.querySelector("input[name=family]").focus();
      await load();
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
      const bad = err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
      if (bad) bad.focus();
    }
  });
}

// ---------------------------------------------------------------- EHR mode

let pollTimer = null;
let pendingPolls = 0;
let lastLoadAt = 0;

/** While cells are still loading: poll again soon; otherwise refresh every minute. */
function scheduleEhrPoll() {
  clearTimeout(pollTimer);
  lastLoadAt = Date.now();
  if (!ehrOn() || live.stopped) return;
  const pending = !!state.data.ehr.pending;
  pendingPolls = pending ? pendingPolls + 1 : 0;
  const wait = pending ? (pendingPolls > 20 ? 5000 : 1500) : 60000;
  pollTimer = setTimeout(() => {
    if (document.visibilityState === "hidden" && !pending) return; // caught up on return
    load();
  }, wait);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && ehrOn() && Date.now() - lastLoadAt > 60000) load();
});

async function refreshEhr() {
  if (state.refreshing) return;
  state.refreshing = true;
  renderEhr();
  try {
    await load({ refresh: true });
  } finally {
    state.refreshing = false;
    renderEhr();
  }
}

function renderEhr() {
  const ehr = state.data && state.data.ehr;
  const banner = document.getElementById("ehr-banner");
  const status = document.getElementById("ehr-status");
  const on = ehrOn();
  // The outage banner: the EHR columns degrade, nothing else does.
  if (banner) {
    const bad = on && (ehr.state === "degraded" || ehr.state === "down");
    banner.hidden = !bad;
    if (bad) {
      const since = ehr.since ? ` (since ${fmtTime(ehr.since)})` : "";
      const what = ehr.state === "down" ? `The EHR is not answering${since}.` : `The EHR is answering only in part${since}.`;
      const last = ehr.lastGoodRead ? ` Showing the last good read from ${fmtTime(ehr.lastGoodRead)}.` : " No EHR data could be read yet.";
      banner.replaceChildren(
        el("span", { class: "ehr-banner-text" }, el("strong", { text: what }), last, " Team fields and notes keep working.", ehr.message ? el("span", { class: "muted small ehr-banner-detail", text: ` (${ehr.message})` }) : null),
        el("button", { type: "button", class: "small", text: state.refreshing ? "Refreshing…" : "Refresh EHR data", disabled: state.refreshing, onclick: refreshEhr }),
      );
    }
  }
  if (status) {
    status.hidden = !on;
    if (on) {
      const outage = ehr.state === "degraded" || ehr.state === "down"; // the banner has the button then
      const read = ehr.lastGoodRead ? `read ${fmtTime(ehr.lastGoodRead)}` : "";
      status.replaceChildren(
        el("span", { class: `ehr-dot ${ehr.state || "ok"}`, "aria-hidden": "true" }),
        el("span", { class: "ehr-status-text", title: ehr.message || "" }, `EHR${ehr.name ? `: ${ehr.name}` : ""}`, read ? el("span", { class: "muted", text: ` · ${read}` }) : null, ehr.pending ? el("span", { class: "muted", text: " · loading…" }) : null),
        // replaceChildren would print a null as "null".
        ...(outage ? [] : [el("button", { type: "button", class: "small", id: "ehr-refresh", text: state.refreshing ? "Refreshing…" : "Refresh EHR data", disabled: state.refreshing, onclick: refreshEhr })]),
      );
    }
  }
  renderEhrSearch();
}

// The search panel: adds patients from the EHR, or (in link mode) finds
// the record of a patient typed in by hand.
let ehrSearch = null;
let ehrPanel = null;

function ehrSearchAction(r, redraw) {
  const linking = state.linking;
  if (linking) {
    if (r.patientId && r.patientId !== linking.patientId) {
      return el("span", { class: "muted small", text: "Already a patient of the team" });
    }
    const b = el("button", { type: "button", class: "small primary", text: "Link…" });
    b.addEventListener("click", () => doLink(r, b));
    return b;
  }
  if (r.onList) return el("span", { class: "on-list", text: "✓ On this list" });
  const b = el("button", { type: "button", class: "small primary", text: r.patientId ? "Add to this list" : "Add", "aria-label": `Add ${r.name || r.ehrId} to this list` });
  b.addEventListener("click", async () => {
    b.disabled = true;
    b.textContent = "Adding…";
    try {
      await api("POST", `${apiList}/patients`, { ehrId: r.ehrId });
      ehrSearch.update(r.ehrId, { onList: true });
      ehrMsg(`${r.name || "Patient"} added.`, "ok");
      await load();
    } catch (e) {
      b.disabled = false;
      b.textContent = "Add";
      ehrMsg(sentence(e.message), "error");
    }
    redraw();
  });
  return b;
}

function ehrMsg(text, kind) {
  const m = document.getElementById("ehr-search-msg");
  if (!m) return;
  m.textContent = text;
  m.className = `form-msg ${kind || ""}`;
}

function renderEhrSearch() {
  const slot = document.getElementById("ehr-search-slot");
  if (!slot) return;
  if (!ehrOn()) {
    slot.replaceChildren();
    ehrPanel = null;
    return;
  }
  if (!ehrPanel) {
    ehrSearch = makeEhrSearch({ path: () => `${apiList}/ehr-search`, action: ehrSearchAction });
    const summary = el("summary", { id: "ehr-search-title", text: "Add from EHR" });
    const linkBar = el("div", { class: "link-bar", hidden: true });
    ehrPanel = el("details", { class: "card add-patient ehr-search-card", id: "ehr-search" }, summary, linkBar, ehrSearch.node, el("p", { class: "form-msg", id: "ehr-search-msg", role: "status" }));
    ehrPanel.summaryNode = summary;
    ehrPanel.linkBar = linkBar;
    slot.replaceChildren(ehrPanel);
    if (state.data && !state.data.total) {
      ehrPanel.open = true;
      const manual = document.getElementById("add-patient");
      if (manual) manual.open = false;
    }
    const manualSummary = document.querySelector("#add-patient > summary");
    if (manualSummary) manualSummary.textContent = "Add a patient by hand";
  }
  const l = state.linking;
  ehrPanel.classList.toggle("linking", !!l);
  ehrPanel.summaryNode.textContent = l ? `Link ${l.name} to the EHR` : "Add from EHR";
  ehrPanel.linkBar.hidden = !l;
  if (l) {
    ehrPanel.linkBar.replaceChildren(
      el("p", {}, "Find ", el("strong", { text: l.name }), "’s record in the EHR, then choose Link. The team’s fields and notes are kept."),
      el("button", { type: "button", class: "small", text: "Cancel linking", onclick: stopLinking }),
    );
  }
}

function manualSummary(row) {
  const v = (k) => (row.fields[k] && row.fields[k].value) || "";
  return { name: rowName(row) || "(no name)", mrn: v("mrn"), birthDate: v("birthDate"), gender: v("sex") };
}

function startLinking(row) {
  state.openMenu = null;
  state.linking = { patientId: row.patientId, ...manualSummary(row) };
  render();
  ehrPanel.open = true;
  const v = (k) => (row.fields[k] && row.fields[k].value) || "";
  ehrSearch.fill({ family: v("family"), given: v("given"), birthDate: v("birthDate") });
  ehrMsg("");
  ehrSearch.redraw();
  ehrPanel.scrollIntoView({ block: "start", behavior: "smooth" });
  ehrSearch.focus();
  if (v("family") || v("given") || v("birthDate")) ehrSearch.run();
}

function stopLinking() {
  state.linking = null;
  ehrSearch.clear();
  ehrMsg("");
  renderEhrSearch();
}

async function doLink(r, button) {
  const l = state.linking;
  if (!l) return;
  const ok = await confirmLink(l, { name: r.name, mrn: r.mrn, birthDate: r.birthDate, gender: r.gender });
  if (!ok) return;
  button.disabled = true;
  try {
    await linkPatient(TEAM, l.patientId, r.ehrId);
    state.linking = null;
    ehrSearch.clear();
    ehrMsg(`${l.name} is now linked to the EHR record of ${r.name || r.ehrId}.`, "ok");
    await load();
  } catch (e) {
    button.disabled = false;
    ehrMsg(sentence(e.message), "error");
  }
}

// ---------------------------------------------------------------- live

const liveNode = document.getElementById("live");
const live = new Live(
  `${apiList}/events`,
  root.dataset.lastEventId,
  {
    patientUpdated: (d) => {
      applyFields(d.patientId, d.fields);
      const touched = Object.keys(d.fields || {});
      const viewKeys = new Set([...state.view.sort.map((s) => s.key), ...state.view.filters.map((f) => f.split(":")[0])]);
      const needsReload = state.view.q.trim() || touched.some((k) => viewKeys.has(k) || (["family", "given"].includes(k) && viewKeys.has("name")) || (k === "birthDate" && viewKeys.has("ageSex")));
      render();
      if (needsReload) loadSoon();
    },
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
    closed: () => {
      // Access may have ended, or the server is restarting: find out, and
      // keep trying while the server cannot be reached (a 404 stops it).
      liveBadge(liveNode)("reconnecting", "Reconnecting…");
      const attempt = async () => {
        if (live.stopped) return;
        const data = await load();
        if (data) {
          live.stopped = false;
          live.start();
        } else if (!live.stopped && !(loadFailure >= 400 && loadFailure < 500)) {
          liveBadge(liveNode)("reconnecting", "Reconnecting…");
          setTimeout(attempt, 2000);
        } else if (!live.stopped) {
          liveBadge(liveNode)("ended", "Not connected");
        }
      };
      setTimeout(attempt, 3000);
    },
    other: () => loadSoon(),
  },
  liveBadge(liveNode),
);

// ---------------------------------------------------------------- start

setupAddPatient();
liveNode.textContent = "Loading…";
load().then((data) => {
  if (data) {
    live.lastId = String(data.lastEventId);
    live.start();
  } else {
    liveBadge(liveNode)("ended", "Not connected");
  }
});
