// Row actions on the list page: the ⋯ menu (order by hand, notes, move to
// another list, link to the EHR, take off the list), the notes under a
// row with the live note line, and the form that adds a patient by hand.
import { el, api, sentence, displayText, showBanner, fmtTime, announce } from "/static/rounds.js";
import { page, state, actions, ehrOn, handOrder, rowName } from "/static/list-store.js";
import { startLinking } from "/static/list-ehr.js";

export function rowMenu(row, index) {
  const name = rowName(row) || "patient";
  const menu = el("details", { class: "rowmenu", open: state.openMenu === row.patientId }, el("summary", { "aria-label": `Actions for ${name}`, "data-focus-key": `menu:${row.patientId}`, text: "⋯" }));
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
  box.append(el("button", { type: "button", class: "small", "aria-expanded": state.openNotes.has(row.patientId) ? "true" : "false", text: state.openNotes.has(row.patientId) ? "Hide notes" : "Notes", onclick: () => toggleNotes(row.patientId) }));
  if (page.otherLists.length) {
    const sel = el("select", { "aria-label": `Move ${name} to` }, page.otherLists.map((l) => el("option", { value: l.id, text: l.name })));
    const go = el("button", { type: "button", class: "small", text: "Move" });
    go.addEventListener("click", () => act(() => api("POST", `${page.apiList}/patients/${row.patientId}/move`, { toListId: sel.value }), `Moved ${name}.`));
    box.append(el("div", { class: "acts" }, sel, go));
  }
  if (!row.ehr && ehrOn()) {
    box.append(el("button", { type: "button", class: "small", text: "Link to EHR…", onclick: () => startLinking(row) }));
  } else if (row.ehr) {
    box.append(el("a", { class: "button small", href: `/teams/${page.team}/patients/${row.patientId}`, text: "EHR details" }));
  }
  const confirm = el("details", { class: "confirm" }, el("summary", { text: "Remove…" }));
  const yes = el("button", { type: "button", class: "small danger", text: `Yes, take ${name} off this list` });
  yes.addEventListener("click", () => act(() => api("DELETE", `${page.apiList}/patients/${row.patientId}`), `${name} taken off the list.`));
  confirm.append(yes);
  box.append(confirm);
  menu.append(box);
  return menu;
}

async function act(call, done) {
  try {
    await call();
    showBanner(done, "info");
    await actions.load();
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
  actions.render();
  state.openMenu = rows[j].patientId;
  actions.render();
  try {
    await api("PUT", `${page.apiList}/order`, { patientIds: rows.map((r) => r.patientId) });
  } catch (e) {
    showBanner(sentence(e.message));
    actions.load();
  }
}

// ---------------------------------------------------------------- notes

async function fetchNotes(patientId) {
  const notes = await api("GET", `${page.apiTeam}/patients/${patientId}/notes`);
  state.notes.set(patientId, notes);
  return notes;
}

/** Focus on the first of `keys` ([data-focus-key]) that the page shows. */
function focusKey(...keys) {
  for (const k of keys) {
    const node = document.querySelector(`[data-focus-key="${CSS.escape(k)}"]`);
    if (node) {
      node.focus();
      return;
    }
  }
}

/** Opens or closes a patient's notes; the focus goes to the new note, and back on closing. */
export async function toggleNotes(patientId) {
  state.openMenu = null;
  if (state.openNotes.has(patientId)) {
    state.openNotes.delete(patientId);
    actions.render();
    focusKey(`noteline:${patientId}`, `menu:${patientId}`);
    return;
  }
  state.openNotes.add(patientId);
  actions.render();
  focusKey(`note:${patientId}`);
  try {
    await fetchNotes(patientId);
  } catch (e) {
    showBanner(`The notes could not be loaded: ${e.message}`);
  }
  actions.render();
}

export function notesRow(row, span) {
  const notes = state.notes.get(row.patientId);
  const box = el("div", { class: "notes-box" });
  const area = el("textarea", { name: "body", rows: 2, maxlength: 10000, required: true, "aria-label": "New note", placeholder: "New note…", "data-focus-key": `note:${row.patientId}`, value: state.noteDrafts.get(row.patientId) || "" });
  area.addEventListener("input", () => state.noteDrafts.set(row.patientId, area.value));
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el("form", { class: "note-add" }, area, el("button", { type: "submit", class: "small primary", "data-focus-key": `noteadd:${row.patientId}`, text: "Add note" }), msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = area.value;
    if (!body.trim()) return;
    msg.textContent = "Saving…";
    try {
      await api("POST", `${page.apiTeam}/patients/${row.patientId}/notes`, { body });
      state.noteDrafts.delete(row.patientId);
      area.value = "";
      await fetchNotes(row.patientId);
      actions.render();
      focusKey(`note:${row.patientId}`); // ready for the next note
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
  box.append(
    el(
      "div",
      { class: "acts notes-foot" },
      el("a", { class: "button small", href: `/teams/${page.team}/patients/${row.patientId}`, text: "All details and notes" }),
      el("button", { type: "button", class: "small", "data-focus-key": `noteclose:${row.patientId}`, text: "Close notes", onclick: () => toggleNotes(row.patientId) }),
    ),
  );
  return el("tr", { class: "notes-row", "data-notes-of": row.patientId }, el("td", { colspan: span, "aria-label": `Notes of ${rowName(row) || "the patient"}` }, box));
}

export async function noteChanged(data) {
  const id = data.patientId;
  const row = state.data && state.data.rows.find((r) => r.patientId === id);
  if (!row) return;
  if (data.by && data.by.userId !== page.me) {
    const did = data.action === "deleted" ? "deleted a note of" : data.action === "edited" || data.action === "updated" ? "edited a note of" : "added a note for";
    announce(`${data.by.name || "A colleague"} ${did} ${rowName(row) || "a patient"}.`);
  }
  try {
    await fetchNotes(id);
    state.fresh.add(id);
    setTimeout(() => {
      state.fresh.delete(id);
      const line = document.querySelector(`tr[data-patient="${id}"] .note-line`);
      if (line) line.classList.remove("fresh");
    }, 4000);
    actions.render();
  } catch (e) {
    /* the next event or reload shows it */
  }
}

export function setupAddPatient() {
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
      const answer = await api("POST", `${page.apiList}/patients`, { fields });
      const added = displayText({ key: "name" }, answer.row.fields, answer.row, page.members) || "Patient";
      msg.textContent = answer.duplicateMrnOf && answer.duplicateMrnOf.length ? `${added} added — another patient of the team has the same MRN: check it is not the same person twice.` : `${added} added.`;
      msg.className = answer.duplicateMrnOf && answer.duplicateMrnOf.length ? "form-msg error" : "form-msg ok";
      form.reset();
      form.querySelector("input[name=family]").focus();
      await actions.load();
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
      const bad = err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
      if (bad) bad.focus();
    }
  });
}
