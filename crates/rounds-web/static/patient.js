// The patient page: fields edited like cells (with the conflict choice),
// and notes: add, and edit or delete one's own.
import { el, api, sentence, makeEditor, displayNode, readJsonAttr, fmtTime, fmtDateTime, showBanner } from "/static/rounds.js";

const root = document.getElementById("patient-app");
const TEAM = root.dataset.team;
const PATIENT = root.dataset.patient;
const ME = root.dataset.me;
const members = readJsonAttr(root, "data-members", []);
const columns = readJsonAttr(root, "data-columns", []);
const apiPatient = `/api/v1/teams/${TEAM}/patients/${PATIENT}`;

// Every field's value and version, as the page was rendered.
const fields = {};
const specs = {};
for (const f of root.querySelectorAll(".field")) {
  const key = f.dataset.key;
  fields[key] = { value: f.dataset.value || null, version: Number(f.dataset.version) };
  const col = columns.find((c) => c.key === key);
  const label = f.querySelector("dt").textContent;
  specs[key] = col
    ? { key, type: col.type, label, unit: col.unit, options: col.options || [], col }
    : { key, type: f.dataset.kind, label, max: key === "mrn" ? 64 : key === "family" || key === "given" ? 100 : 50 };
}

function show(key) {
  const box = root.querySelector(`.field[data-key="${CSS.escape(key)}"]`);
  const dd = box.querySelector("dd");
  dd.replaceChildren();
  const spec = specs[key];
  if (spec.col) dd.append(displayNode(spec.col, fields, null, members));
  else dd.append(fields[key] && fields[key].value ? fields[key].value : "");
  if (!dd.textContent) dd.append(el("span", { class: "muted", text: "—" }));
  dd.classList.add("editable");
  dd.tabIndex = 0;
  dd.setAttribute("role", "button");
  dd.setAttribute("aria-label", `${spec.label}: edit`);
}

function edit(key) {
  const box = root.querySelector(`.field[data-key="${CSS.escape(key)}"]`);
  const dd = box.querySelector("dd");
  if (dd.querySelector("form")) return;
  const form = makeEditor({
    specs: [specs[key]],
    fields,
    members,
    save: (edits) => api("PATCH", apiPatient, { fields: edits }),
    done: (saved) => {
      if (saved) for (const [k, v] of Object.entries(saved)) fields[k] = { value: v.value, version: v.version };
      show(key);
      dd.focus();
    },
  });
  dd.replaceChildren(form);
  dd.removeAttribute("role");
  dd.tabIndex = -1;
  form.focusFirst();
}

for (const key of Object.keys(fields)) {
  show(key);
  const dd = root.querySelector(`.field[data-key="${CSS.escape(key)}"] dd`);
  dd.addEventListener("click", (e) => {
    if (!dd.querySelector("form")) edit(key);
    e.stopPropagation();
  });
  dd.addEventListener("keydown", (e) => {
    if (e.target === dd && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      edit(key);
    }
  });
}

// ---------------------------------------------------------------- notes

const notesList = document.getElementById("notes");

function noteItem(n) {
  const li = el("li", { class: "note", "data-id": n.id });
  const body = el("p", { class: "note-body", text: n.body });
  li.append(
    el("p", { class: "note-meta" }, el("strong", { text: n.authorName }), " · ", el("time", { datetime: n.createdAt, title: fmtDateTime(n.createdAt), text: fmtTime(n.createdAt) }), n.edited ? " · edited" : ""),
    body,
  );
  if (n.authorId === ME) {
    const editBtn = el("button", { type: "button", class: "small", text: "Edit" });
    const confirm = el("details", { class: "confirm" }, el("summary", { text: "Delete…" }));
    const yes = el("button", { type: "button", class: "small danger", text: "Yes, delete this note" });
    confirm.append(yes);
    const acts = el("div", { class: "acts" }, editBtn, confirm);
    li.append(acts);
    yes.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/v1/teams/${TEAM}/notes/${n.id}`);
        await loadNotes();
      } catch (e) {
        showBanner(sentence(e.message));
      }
    });
    editBtn.addEventListener("click", () => {
      const area = el("textarea", { rows: 4, maxlength: 10000, value: n.body, "aria-label": "Note" });
      const msg = el("p", { class: "form-msg", role: "status" });
      const form = el("form", { class: "editor" }, area, el("div", { class: "editor-buttons" }, el("button", { type: "submit", class: "small primary", text: "Save" }), el("button", { type: "button", class: "small", text: "Cancel", onclick: () => loadNotes() })), msg);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          await api("PATCH", `/api/v1/teams/${TEAM}/notes/${n.id}`, { body: area.value, baseVersion: n.version });
          await loadNotes();
        } catch (err) {
          msg.className = "form-msg error";
          msg.textContent = err.code === "edit_conflict" ? "This note was changed meanwhile (in another window?). Your text is still here: copy it, then reload." : sentence(err.message);
        }
      });
      body.replaceWith(form);
      acts.remove();
      area.focus();
    });
  }
  return li;
}

async function loadNotes() {
  try {
    const notes = await api("GET", `${apiPatient}/notes`);
    notesList.replaceChildren(...(notes.length ? notes.map(noteItem) : [el("li", { class: "empty", text: "No notes yet." })]));
  } catch (e) {
    showBanner(`The notes could not be loaded: ${e.message}`);
  }
}

// Times as the reader's clock shows them; own notes get their buttons.
const rendered = [...notesList.querySelectorAll("li.note")].map((li) => ({
  id: li.dataset.id,
  version: Number(li.dataset.version),
  authorId: li.dataset.mine === "true" ? ME : "",
  authorName: li.querySelector(".note-meta strong").textContent,
  createdAt: li.querySelector("time").getAttribute("datetime"),
  edited: li.querySelector(".note-meta").textContent.includes("edited"),
  body: li.querySelector(".note-body").textContent,
}));
if (rendered.length) notesList.replaceChildren(...rendered.map(noteItem));

const noteForm = document.getElementById("note-form");
const noteMsg = document.getElementById("note-msg");
noteForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const area = noteForm.querySelector("textarea");
  if (!area.value.trim()) return;
  noteMsg.className = "form-msg";
  noteMsg.textContent = "Saving…";
  try {
    await api("POST", `${apiPatient}/notes`, { body: area.value });
    area.value = "";
    noteMsg.textContent = "Note added.";
    await loadNotes();
  } catch (err) {
    noteMsg.className = "form-msg error";
    noteMsg.textContent = sentence(err.message);
  }
});
