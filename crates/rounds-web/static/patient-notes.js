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
  if (n.urgent) urgentLine(li, n);
  if (n.receipt) receiptLine(li, n);
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

/** An urgent note: whom it alerts, and who acknowledged it when (or the button, for whom it alerts). */
function urgentLine(li, n) {
  const u = n.urgent;
  li.classList.add("urgent");
  const line = el("p", { class: "note-urgent" });
  if (u.acknowledgedAt) {
    li.classList.add("acked");
    line.append(el("span", { class: "urgent-tag acked", text: "URGENT" }), ` Seen by ${u.acknowledgedByName} · `, el("time", { datetime: u.acknowledgedAt, title: fmtDateTime(u.acknowledgedAt), text: fmtTime(u.acknowledgedAt) }), " — handling it");
  } else {
    const to = u.audience === "team" ? "the team" : u.audience === "owners" ? "the owners" : "named members";
    line.append(el("span", { class: "urgent-tag", text: "URGENT" }), ` Not yet acknowledged · to ${to}${u.escalatedAt ? ", escalated to the owners" : ""}${u.repeats ? ` · alerted again ${u.repeats}×` : ""}`);
    if (u.toMe) {
      const b = el("button", { type: "button", class: "small primary", text: "Seen — I'll handle it" });
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          await api("POST", `${page.apiTeam}/notes/${n.id}/acknowledge`);
        } catch (e) {
          showBanner(sentence(e.message), "info");
        }
        await loadNotes();
      });
      line.append(" ", b);
    }
  }
  li.querySelector(".note-meta").after(line);
}

const reported = new Set(); // notes whose receipt this page has sent
const receiptsOpen = new Set(); // notes whose "who has seen it" list is shown

/** A note asking for a read receipt: the author sees who has seen it; anyone else's screen reports it seen. */
function receiptLine(li, n) {
  if (n.authorId !== page.me) {
    if (!n.receipt.seenByMe && !reported.has(n.id)) {
      reported.add(n.id);
      api("POST", `${page.apiTeam}/notes/${n.id}/seen`).catch(() => reported.delete(n.id));
    }
    return;
  }
  const count = n.receipt.seen;
  const list = el("ol", { class: "receipts plain" });
  const show = el("button", { type: "button", class: "small", "aria-expanded": "false", text: "Who has seen it" });
  const load = async () => {
    try {
      const seen = await api("GET", `${page.apiTeam}/notes/${n.id}/receipts`);
      list.replaceChildren(...seen.map((r) => el("li", {}, `${r.name} · `, el("time", { datetime: r.seenAt, title: fmtDateTime(r.seenAt), text: fmtTime(r.seenAt) }))));
      show.setAttribute("aria-expanded", "true");
    } catch (e) {
      showBanner(sentence(e.message), "info");
    }
  };
  show.addEventListener("click", () => {
    if (receiptsOpen.has(n.id)) {
      receiptsOpen.delete(n.id);
      list.replaceChildren();
      show.setAttribute("aria-expanded", "false");
    } else {
      receiptsOpen.add(n.id);
      load();
    }
  });
  li.querySelector(".note-body").after(el("p", { class: "note-receipt" }, `Read receipt: seen by ${count} ${count === 1 ? "person" : "people"} `, count ? show : "", list));
  if (receiptsOpen.has(n.id)) load();
}

/** Which notes, in which version and urgent state: the list is redrawn only when this changes. */
const signature = (notes) => notes.map((n) => `${n.id}:${n.version}:${n.urgent ? `${n.urgent.repeats}:${n.urgent.acknowledgedAt}` : ""}:${n.receipt ? n.receipt.seen : ""}`).join(",");

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
  // The server-rendered notes carry no urgent state: read them once.
  loadNotes(false);
  // A change that came while a note was being edited or a delete confirmed.
  notesList.addEventListener("toggle", () => state.notesStale && notesChangedElsewhere(), true);

  const noteForm = document.getElementById("note-form");
  const noteMsg = document.getElementById("note-msg");
  const urgentBox = document.getElementById("note-urgent");
  const showUrgentFields = () => {
    document.getElementById("urgent-fields").hidden = !urgentBox.checked;
    document.getElementById("urgent-names").hidden = document.getElementById("urgent-to").value !== "members";
  };
  urgentBox.addEventListener("change", showUrgentFields);
  document.getElementById("urgent-to").addEventListener("change", showUrgentFields);
  noteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const area = noteForm.querySelector("textarea");
    if (!area.value.trim()) return;
    noteMsg.className = "form-msg";
    noteMsg.textContent = "Saving…";
    const req = { body: area.value, receipt: document.getElementById("note-receipt").checked };
    if (urgentBox.checked) {
      const to = noteForm.querySelector("#urgent-to").value;
      req.urgent = { to, members: to === "members" ? [...noteForm.querySelectorAll("[name=urgentMember]:checked")].map((c) => c.value) : [] };
    }
    try {
      await api("POST", `${page.apiPatient}/notes`, req);
      area.value = "";
      urgentBox.checked = false;
      document.getElementById("note-receipt").checked = false;
      showUrgentFields();
      noteMsg.textContent = "Note added.";
      await loadNotes();
    } catch (err) {
      noteMsg.className = "form-msg error";
      noteMsg.textContent = sentence(err.message);
    }
  });
}
