// Cell editing on the list page: the editor in a cell (with the conflict
// choice of rounds.js makeEditor), checkboxes that toggle on a click (on a
// desktop; a phone opens the editor), saved values merged into the rows by
// version, and Undo of the last change made here.
import { el, api, sentence, specsFor, makeEditor, showBanner, displayText } from "/static/rounds.js";
import { page, state, actions, handOrder, rowName } from "/static/list-store.js";

function savePatient(patientId, edits) {
  return api("PATCH", `${page.apiTeam}/patients/${patientId}`, { fields: edits });
}

export function applyFields(patientId, fields) {
  if (!state.data || !fields) return;
  const row = state.data.rows.find((r) => r.patientId === patientId);
  if (!row) return;
  for (const [k, v] of Object.entries(fields)) {
    const cur = row.fields[k];
    if (!cur || v.version >= cur.version) row.fields[k] = { value: v.value, version: v.version };
  }
}

/** Focus back on a cell after its editor closed (or its name's ✎ button). */
function focusCell(patientId, key) {
  const cell = document.querySelector(`tr[data-patient="${CSS.escape(patientId)}"] [data-key="${CSS.escape(key)}"]`);
  if (!cell) return;
  const inner = cell.querySelector(".cell-btn, .cell-edit, .pname");
  if (inner) inner.focus();
}

// ---------------------------------------------------------------- undo

let undoTimer = null;

/** The values of `keys` before a change, to put back on Undo. */
function before(row, keys) {
  const out = {};
  for (const k of keys) out[k] = row.fields[k] ? row.fields[k].value : null;
  return out;
}

/** Offers to undo a change just saved here: a bar at the bottom with Undo. */
function offerUndo(row, col, old, saved) {
  const bar = document.getElementById("undo-bar");
  if (!bar || !saved) return;
  const keys = Object.keys(saved).filter((k) => k in old);
  if (!keys.length) return;
  const name = rowName(row) || "the patient";
  const what = col.key === "name" ? "Name" : col.label;
  const shown = displayText(col, row.fields, row, page.members);
  const undo = el("button", { type: "button", class: "small", id: "undo-btn", text: "Undo" });
  undo.addEventListener("click", async () => {
    clearTimeout(undoTimer);
    undo.disabled = true;
    const edits = {};
    for (const k of keys) {
      const value = col.type === "checkbox" ? old[k] === "true" : old[k] === "" ? null : old[k];
      edits[k] = { value, baseVersion: saved[k].version };
    }
    try {
      const answer = await savePatient(row.patientId, edits);
      applyFields(row.patientId, answer.fields);
      actions.render();
      if (!handOrder()) actions.loadSoon();
      bar.replaceChildren(el("span", { text: `Undone: ${what} of ${name} is back as it was.` }));
      undoTimer = setTimeout(() => (bar.hidden = true), 4000);
      focusCell(row.patientId, col.key);
    } catch (e) {
      bar.replaceChildren(el("span", { text: e.code === "edit_conflict" ? `Not undone: someone changed ${what} of ${name} meanwhile.` : sentence(e.message) }));
      undoTimer = setTimeout(() => (bar.hidden = true), 6000);
    }
  });
  const dismiss = el("button", { type: "button", class: "small", "aria-label": "Dismiss", text: "×", onclick: () => (bar.hidden = true) });
  const now = col.type === "checkbox" ? (shown ? "ticked" : "not ticked") : shown || "empty";
  bar.replaceChildren(el("span", { class: "undo-text", text: `${what} of ${name}: ${now}.` }), undo, dismiss);
  bar.hidden = false;
  clearTimeout(undoTimer);
  undoTimer = setTimeout(() => (bar.hidden = true), 10000);
}

export function startEdit(row, col) {
  if (state.editing && state.editing.patientId === row.patientId && state.editing.colKey === col.key) return;
  const specs = specsFor(col);
  if (!specs) return;
  const old = before(row, specs.map((s) => s.key));
  const node = makeEditor({
    specs,
    fields: row.fields,
    members: page.members,
    compact: true,
    save: (edits) => savePatient(row.patientId, edits),
    done: (saved) => {
      state.editing = null;
      applyFields(row.patientId, saved);
      actions.render();
      if (saved && !handOrder()) actions.loadSoon();
      focusCell(row.patientId, col.key);
      const now = state.data && state.data.rows.find((r) => r.patientId === row.patientId);
      if (saved && now) offerUndo(now, col, old, saved);
    },
  });
  state.editing = { patientId: row.patientId, colKey: col.key, node };
  actions.render();
  node.focusFirst();
}

export async function toggleCheckbox(row, col) {
  const cur = row.fields[col.key];
  const on = cur && cur.value === "true";
  const old = before(row, [col.key]);
  try {
    const answer = await savePatient(row.patientId, { [col.key]: { value: !on, baseVersion: cur ? cur.version : 0 } });
    applyFields(row.patientId, answer.fields);
    actions.render();
    if (!handOrder()) actions.loadSoon();
    focusCell(row.patientId, col.key);
    const now = state.data && state.data.rows.find((r) => r.patientId === row.patientId);
    if (now) offerUndo(now, col, old, answer.fields);
  } catch (e) {
    if (e.code === "edit_conflict") {
      // Show the choice in the editor.
      startEdit(row, col);
      showBanner("Someone else changed that checkbox meanwhile; check it and try again.", "info");
      actions.loadSoon();
    } else {
      showBanner(sentence(e.message));
    }
  }
}
