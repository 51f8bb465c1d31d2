// Notes on the patient page: the list (times in the reader's clock), add a
// note, edit or delete one's own; reloaded when a note changes elsewhere.
import { el, api, sentence, fmtTime, fmtDateTime, showBanner } from "/static/rounds.js";
import { page, state } from "/static/patient-store.js";

const notesList = document.getElementById("notes");

function noteEditor(n, body, acts) {
  const area = el("textarea", { rows: 4, maxlength: 10000, value: n.body, "aria-label": "Note" });
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el(
    "form",
    { class: "editor" },
    area,
    el("div", { class: "editor-buttons" }, el("button", { type: "submit", class: "small primary", text: "Save" }), el("button", { type: "button", class: "small", text: "Cancel", onclick: () => loadNotes() })),
    msg,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PATCH", `${page.apiTeam}/notes/${n.id}`, { body: area.value, baseVersion: n.version });
      await loadNotes();
    } catch (err) {
      msg.className = "form-msg error";
      msg.textContent = err.code === "edit_conflict" ? "This note was changed meanwhile (in another window?). Your text is still here: copy it, then reload." : sentence(err.message);
    }
  });
  body.replaceWith(form);
  acts.remove();
  area.focus();
}

function noteItem(n) {
  const li = el("li", { class: "note", "data-id": n.id });
  const body = el("p", { class: "note-body", text: n.body });
  li.append(
    el("p", { class: "note-meta" }, el("strong", { text: n.authorName }), " · ", el("time", { datetime: n.createdAt, title: fmtDateTime(n.createdAt), text: fmtTime(n.createdAt) }), n.edited ? " · edited" : ""),
    body,
  );
  if (n.authorId === page.me) {
    const editBtn = el("button", { type: "button", class: "small", text: "Edit" });
    const confirm = el("details", { class: "confirm" }, el("summary", { text: "Delete…" }));
    const yes = el("button", { type: "button", class: "small danger", text: "Yes, delete this note" });
    confirm.append(yes);
    const acts = el("div", { class: "acts" }, editBtn, confirm);
    li.append(acts);
    yes.addEventListener("click", async () => {
      try {
        await api("DELETE", `${page.apiTeam}/notes/${n.id}`);
        await loadNotes();
      } catch (e) {
        showBanner(sentence(e.message));
      }
    });
    editBtn.addEventListener("click", () => noteEditor(n, body, acts));
  }
  return li;
}

/** Which notes, in which version: the list is redrawn only when this changes. */
const signature = (notes) => notes.map((n) => `${n.id}:${n.version}`).join(",");

/** Reads the notes again and redraws them (`force`: even when unchanged, to close an editor). */
export async function loadNotes(force = true) {
  state.notesStale = false;
  try {
    const notes = await api("GET", `${page.apiPatient}/notes`);
    const seen = signature(notes);
    if (!force && seen === state.notesShown) return;
    state.notesShown = seen;
    notesList.replaceChildren(...(notes.length ? notes.map(noteItem) : [el("li", { class: "empty", text: "No notes yet." })]));
  } catch (e) {
    showBanner(`The notes could not be loaded: ${e.message}`);
  }
}

/**
 * The notes may have changed elsewhere: redraw when they did, but not under
 * the reader's hands (a note being edited, a delete being confirmed); then
 * after that.
 */
export function notesChangedElsewhere() {
  if (notesList.querySelector("form, details.confirm[open]")) {
    state.notesStale = true;
    return;
  }
  loadNotes(false);
}

/** The server-rendered notes get their local times and buttons; the form adds a note. */
export function setupNotes() {
  const rendered = [...notesList.querySelectorAll("li.note")].map((li) => ({
    id: li.dataset.id,
    version: Number(li.dataset.version),
    authorId: li.dataset.mine === "true" ? page.me : "",
    authorName: li.querySelector(".note-meta strong").textContent,
    createdAt: li.querySelector("time").getAttribute("datetime"),
    edited: li.querySelector(".note-meta").textContent.includes("edited"),
    body: li.querySelector(".note-body").textContent,
  }));
  if (rendered.length) notesList.replaceChildren(...rendered.map(noteItem));
  state.notesShown = signature(rendered);
  // A change that came while a note was being edited or a delete confirmed.
  notesList.addEventListener("toggle", () => state.notesStale && notesChangedElsewhere(), true);

  const noteForm = document.getElementById("note-form");
  const noteMsg = document.getElementById("note-msg");
  noteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const area = noteForm.querySelector("textarea");
    if (!area.value.trim()) return;
    noteMsg.className = "form-msg";
    noteMsg.textContent = "Saving…";
    try {
      await api("POST", `${page.apiPatient}/notes`, { body: area.value });
      area.value = "";
      noteMsg.textContent = "Note added.";
      await loadNotes();
    } catch (err) {
      noteMsg.className = "form-msg error";
      noteMsg.textContent = sentence(err.message);
    }
  });
}
