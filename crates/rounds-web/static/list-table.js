// The list page's table: header cells with the sort marks (and what each
// abbreviation means), one row per patient with its cells (team values,
// EHR values, the name line with the row menu and the latest note), the
// row count; keeps the focus and an open editor across redraws. On a
// phone the same table is drawn as cards (one per patient: name, who and
// where, status, vital signs, then the other columns in the list's order).
import { el, api, displayNode, displayText, specsFor, fmtTime, EMPTY } from "/static/rounds.js";
import { isEhrColumn, ehrCell, fillEhrCell, reanchorPopover, closePopover, ago, NUMERIC_EHR } from "/static/ehr.js";
import { columnHint } from "/static/list-columns.js";
import { tasksCell } from "/static/tasks.js";
import { page, state, ehrOn, rowName } from "/static/list-store.js";
import { sortIndex, onHeaderClick, clearView, renderTools } from "/static/list-view.js";
import { startEdit, toggleCheckbox } from "/static/list-edit.js";
import { rowMenu, toggleNotes, notesRow } from "/static/list-rows.js";
import { renderEhr } from "/static/list-ehr.js";

function columnsShown() {
  return state.data ? state.data.columns.filter((c) => !c.hidden) : [];
}

/** Phones get cards: the same table, each row drawn as a card. */
export const phoneQuery = window.matchMedia("(max-width: 700px)");
export const isPhone = () => phoneQuery.matches;
phoneQuery.addEventListener("change", () => {
  state.editing = null;
  render();
});

/** The cells a card shows in its head line (who and where the patient is). */
const WHO = new Set(["ageSex", "location", "mrn"]);

/** "admitted 3 d ago": a location's or an admission's age is the admission's. */
export function ageWords(when, col) {
  const a = ago(when);
  return col.key === "location" || col.key === "encounterStart" ? `admitted ${a}` : a;
}

function headerCell(col, first) {
  const i = sortIndex(col.key);
  const dir = i >= 0 ? (state.view.sort[i].desc ? "descending" : "ascending") : "none";
  const hint = columnHint(col);
  const btn = el(
    "button",
    { type: "button", class: "sort-btn", "data-focus-key": `sort:${col.key}`, title: `${hint ? `${hint}. ` : ""}Sort by this column (Shift-click: second sort key)` },
    el("span", { class: "col-label", text: col.label }),
    i >= 0 ? el("span", { class: "sort-mark", "aria-hidden": "true", text: `${state.view.sort[i].desc ? "▼" : "▲"}${state.view.sort.length > 1 ? i + 1 : ""}` }) : null,
  );
  btn.addEventListener("click", (e) => onHeaderClick(col, e));
  const th = el("th", { scope: "col", class: first ? "pin" : "", "aria-sort": dir, "data-key": col.key }, btn);
  if (col.width) th.style.width = `${col.width}px`;
  return th;
}

/** The role a cell plays in a card (its place and look on a phone). */
function cardPart(col, statusKey) {
  if (WHO.has(col.key)) return "c-who";
  if (col.key === statusKey) return "c-status";
  if (NUMERIC_EHR.has(col.key)) return "c-vital";
  return "c-field";
}

const statusOf = (cols) => {
  const status = cols.find((c) => c.type === "choice");
  return status ? status.key : null;
};

/** One patient's row (a card on a phone), with the open editor placed in its cell. */
function buildRow(row, index, cols, statusKey, phone) {
  const ed = state.editing;
  let editorPlaced = false;
  const tr = el("tr", { "data-patient": row.patientId, class: row.ehr ? "ehr-row" : "" });
  cols.forEach((col, i) => {
    const cell = el(i === 0 ? "th" : "td", { "data-key": col.key, "data-label": col.label });
    if (i === 0) {
      cell.setAttribute("scope", "row");
      cell.className = "pin";
    } else cell.className = cardPart(col, statusKey);
    if (ed && ed.patientId === row.patientId && ed.colKey === col.key) {
      cell.classList.add("editing");
      cell.append(ed.node);
      editorPlaced = true;
      if (i === 0) cell.append(rowMenu(row, index));
    } else {
      fillCell(cell, col, row, phone);
      if (i === 0) cell.querySelector(".pin-line").append(rowMenu(row, index));
    }
    tr.append(cell);
  });
  return { tr, editorPlaced };
}

/**
 * Redraws one patient's row after a change of its fields, when nothing of
 * the page around it changes (no editor, menu or focus in the row);
 * answers false when the whole table must be drawn instead.
 */
export function renderRow(patientId) {
  const data = state.data;
  const wrap = document.getElementById("table-wrap");
  const old = wrap && wrap.querySelector(`#plist tbody tr[data-patient="${CSS.escape(patientId)}"]`);
  const index = data ? data.rows.findIndex((r) => r.patientId === patientId) : -1;
  if (!old || index < 0 || old.contains(document.activeElement) || (state.editing && state.editing.patientId === patientId) || state.openMenu === patientId) return false;
  if (isPhone() !== wrap.classList.contains("cards")) return false;
  const cols = columnsShown();
  const { tr } = buildRow(data.rows[index], index, cols, statusOf(cols), isPhone());
  old.replaceWith(tr);
  reanchorPopover((key) => {
    const [pid, ck] = key.split(":");
    return wrap.querySelector(`tr[data-patient="${CSS.escape(pid)}"] [data-key="${CSS.escape(ck)}"]`);
  });
  document.dispatchEvent(new Event("rounds:rows"));
  return true;
}

export function render() {
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
  const phone = isPhone();
  wrap.classList.toggle("cards", phone);
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
  const statusKey = statusOf(cols);
  const table = el("table", { class: phone ? "plist cards" : "plist", id: "plist" });
  const head = el("tr", {}, cols.map((c, i) => headerCell(c, i === 0)));
  table.append(el("caption", { class: "sr", text: `Patients of ${data.list.name}` }), el("thead", {}, head));
  const body = el("tbody");
  let editorPlaced = false;
  data.rows.forEach((row, index) => {
    const built = buildRow(row, index, cols, statusKey, phone);
    editorPlaced = editorPlaced || built.editorPlaced;
    body.append(built.tr);
    if (state.openNotes.has(row.patientId)) body.append(notesRow(row, cols.length));
  });
  table.append(body);
  wrap.replaceChildren(table);
  reanchorPopover((key) => {
    const [pid, ck] = key.split(":");
    return table.querySelector(`tr[data-patient="${CSS.escape(pid)}"] [data-key="${CSS.escape(ck)}"]`);
  });
  if (ed && !editorPlaced) state.editing = null; // the patient or the column is gone
  if (focusKey) active = document.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
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
  // Others mark rows (alerts.js: open urgent notes) after each drawing.
  document.dispatchEvent(new Event("rounds:rows"));
}

function updateCount() {
  const c = document.getElementById("row-count");
  if (!c || !state.data) return;
  const { rows, total } = state.data;
  const text = rows.length === total ? `${total} patient${total === 1 ? "" : "s"}` : `${rows.length} of ${total} patients`;
  if (c.textContent !== text) c.textContent = text; // a polite status: said only when it changes
}

/** How each I-PASS illness severity reads beside a name. */
const SEVERITY_WORDS = { unstable: "UNSTABLE", watcher: "Watcher", stable: "Stable" };

/** A row's name as the list shows it (the EHR's for an EHR patient). */

function fillCell(cell, col, row, phone) {
  if (col.key === "name") {
    const text = rowName(row) || "(no name)";
    const line = el("span", { class: row.ehr ? "name-line ehr" : "name-line" }, el("a", { href: `/teams/${page.team}/patients/${row.patientId}`, class: "pname", "data-focus-key": `open:${row.patientId}`, text }));
    if (row.ehr) {
      const c = ehrCell(col, row);
      const why = c && c.state !== "ok" ? ` (${c.state === "pending" ? "still being read" : c.reason || c.state})` : "";
      line.append(" ", el("span", { class: `ehr-badge${c && (c.state === "failed" || c.state === "missing") ? " stale" : ""}`, title: `From the EHR (Patient/${row.ehr.ehrId})${why}`, text: "EHR" }));
    } else {
      const edit = el("button", { type: "button", class: "cell-edit", "aria-label": `Edit name of ${text}`, "data-focus-key": `edit:${row.patientId}:name`, text: "✎" });
      edit.addEventListener("click", () => startEdit(row, col));
      line.append(edit);
    }
    // The I-PASS illness severity, set on the patient's hand-off.
    const sev = row.severity ? el("span", { class: `sev-tag sev-${row.severity}`, title: "I-PASS illness severity", text: SEVERITY_WORDS[row.severity] || row.severity }) : null;
    cell.append(el("div", { class: "pin-line" }, line, ...(sev ? [sev] : [])));
    if (row.duplicateMrn) cell.append(el("span", { class: "flag", title: "Another patient of the team has the same MRN", text: " ⚠ same MRN" }));
    const notes = state.notes.get(row.patientId);
    const n = notes ? notes[0] : row.latestNote;
    if (n) {
      reportSeen(n);
      cell.append(
        el(
          "button",
          { type: "button", class: state.fresh.has(row.patientId) ? "note-line fresh" : "note-line", title: "Show notes", "data-focus-key": `noteline:${row.patientId}`, "aria-expanded": state.openNotes.has(row.patientId) ? "true" : "false", onclick: () => toggleNotes(row.patientId) },
          el("span", { class: "note-tag", text: "Note" }),
          n.body,
          el("span", { class: "muted", text: ` — ${n.authorName}, ${fmtTime(n.createdAt)}` }),
        ),
      );
    }
    return;
  }
  if (col.key === "tasks") {
    cell.append(tasksCell(row, page.team));
    return;
  }
  // The cell stays a table cell (a screen reader keeps the table); what
  // can be pressed is a control inside it.
  const focusKey = `cell:${row.patientId}:${col.key}`;
  if (isEhrColumn(col) || row.ehr) {
    const inner = el("span", { class: "cell-btn", "data-focus-key": focusKey, "data-label": col.label });
    try {
      if (fillEhrCell(inner, col, row, { ageWords })) {
        // A value shown is the control's name (what is seen is what is
        // said); the details stay in its description (the title).
        // (A flag's words are in the control's text for screen readers.)
        if (inner.querySelector(".ehr-val")) inner.removeAttribute("aria-label");
        cell.classList.add("ehr-cell", ...[...inner.classList].filter((c) => c.startsWith("ehr-") || c.startsWith("flag-") || c.startsWith("risk-")));
        cell.title = inner.title; // the reason on hover, over the whole cell
        cell.append(inner);
        return;
      }
    } catch (e) {
      cell.replaceChildren(el("span", { class: "ehr-mark failed", title: "This value could not be shown", text: EMPTY }));
      return;
    }
    if (isEhrColumn(col)) return; // a manual patient has no EHR values
  }
  const specs = specsFor(col);
  if (!specs) {
    cell.append(displayNode(col, row.fields, row, page.members));
    return;
  }
  const shown = displayText(col, row.fields, row, page.members);
  const value = col.type === "checkbox" ? (shown ? "ticked" : "not ticked") : shown || "empty";
  // On a phone a checkbox opens its editor (a stray tap must not tick it).
  const toggles = col.type === "checkbox" && !phone;
  const btn = el("button", { type: "button", class: "cell-btn", "data-focus-key": focusKey, "data-label": col.label, "aria-label": `${col.label}: ${value}, ${toggles ? (shown ? "untick" : "tick") : "edit"}` }, displayNode(col, row.fields, row, page.members));
  cell.classList.add("editable");
  cell.append(btn);
  // The whole cell answers a click (its padding too); the button the keyboard.
  cell.addEventListener("click", () => (toggles ? toggleCheckbox(row, col) : startEdit(row, col)));
}

// A note line showing a note whose author asked for a read receipt reports
// it seen (once per page; the server counts each person once).
const reportedSeen = new Set();
function reportSeen(n) {
  if (!n.receipt || n.receipt.seenByMe || n.authorId === page.me || reportedSeen.has(n.id)) return;
  reportedSeen.add(n.id);
  api("POST", `${page.apiTeam}/notes/${n.id}/seen`).catch(() => reportedSeen.delete(n.id));
}
