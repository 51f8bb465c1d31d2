// The list page's table: header cells with the sort marks, one row per
// patient with its cells (team values, EHR values, the name line with the
// latest note), the row count; keeps the focus and an open editor across
// redraws.
import { el, displayNode, displayText, specsFor, fmtTime } from "/static/rounds.js";
import { tasksCell } from "/static/tasks.js";
import { isEhrColumn, ehrCell, fillEhrCell, reanchorPopover, closePopover } from "/static/ehr.js";
import { page, state, ehrOn, rowName } from "/static/list-store.js";
import { sortIndex, onHeaderClick, clearView, renderTools } from "/static/list-view.js";
import { startEdit, toggleCheckbox } from "/static/list-edit.js";
import { rowMenu, toggleNotes, notesRow } from "/static/list-rows.js";
import { renderEhr } from "/static/list-ehr.js";

function columnsShown() {
  return state.data ? state.data.columns.filter((c) => !c.hidden) : [];
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

function fillCell(cell, col, row) {
  if (col.key === "name") {
    const text = rowName(row) || "(no name)";
    const line = el("span", { class: row.ehr ? "name-line ehr" : "name-line" }, el("a", { href: `/teams/${page.team}/patients/${row.patientId}`, class: "pname", text }));
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
  if (col.key === "tasks") {
    cell.append(tasksCell(row, page.team));
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
  cell.append(displayNode(col, row.fields, row, page.members));
  if (!specs) return;
  cell.classList.add("editable");
  cell.tabIndex = 0;
  cell.setAttribute("role", "button");
  cell.setAttribute("aria-label", `${col.label}: ${displayText(col, row.fields, row, page.members) || "empty"} — edit`);
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
