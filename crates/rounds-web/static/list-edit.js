// Cell editing on the list page: the editor in a cell (with the conflict
// choice of rounds.js makeEditor), checkboxes that toggle on a click, and
// saved values merged into the rows by version.
import { api, sentence, specsFor, makeEditor, showBanner } from "/static/rounds.js";
import { page, state, actions, handOrder } from "/static/list-store.js";

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

export function startEdit(row, col) {
  if (state.editing && state.editing.patientId === row.patientId && state.editing.colKey === col.key) return;
  const specs = specsFor(col);
  if (!specs) return;
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
      const cell = document.querySelector(`tr[data-patient="${row.patientId}"] [data-key="${col.key}"]`);
      if (cell && cell.tabIndex === 0) cell.focus();
    },
  });
  state.editing = { patientId: row.patientId, colKey: col.key, node };
  actions.render();
  node.focusFirst();
}

export async function toggleCheckbox(row, col) {
  const cur = row.fields[col.key];
  const on = cur && cur.value === "true";
  try {
    const answer = await savePatient(row.patientId, { [col.key]: { value: !on, baseVersion: cur ? cur.version : 0 } });
    applyFields(row.patientId, answer.fields);
    actions.render();
    if (!handOrder()) actions.loadSoon();
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
