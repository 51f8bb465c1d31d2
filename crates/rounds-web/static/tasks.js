// Tasks per patient: the Tasks card of the patient page, the Tasks cell of
// a list row, and the task lines "My tasks" shows. Times are shown in the
// reader's clock; an open task past its due time is marked overdue.
import { el, api, sentence, fmtTime, fmtDateTime, showBanner } from "/static/rounds.js";

/** The list row's Tasks cell: open count and next due; overdue stands out. */
export function tasksCell(row, team) {
  const t = row.tasks || { open: 0 };
  if (!t.open) return el("span", { class: "muted", text: "—" });
  const due = t.nextDue ? ` · ${fmtTime(t.nextDue)}` : "";
  const title = `${t.open} open task${t.open === 1 ? "" : "s"}${t.nextDue ? `, next due ${fmtDateTime(t.nextDue)}` : ""}${t.overdue ? `, ${t.overdue} overdue` : ""}`;
  return el(
    "a",
    { class: t.overdue ? "task-count overdue" : "task-count", href: `/teams/${team}/patients/${row.patientId}#tasks`, title, "aria-label": title },
    el("span", { class: "task-open", text: String(t.open) }),
    due,
    t.overdue ? el("span", { class: "task-late", text: ` ${t.overdue} overdue` }) : "",
  );
}

/** A local datetime-local value as RFC 3339 (UTC); "" stays null. */
export function fromLocal(v) {
  if (!v) return null;
  const d = new Date(v);
  return isNaN(d) ? null : d.toISOString();
}

function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function ownerSelect(members, value, label) {
  const s = el("select", { "aria-label": label, class: "task-owner" }, el("option", { value: "", text: "Unassigned" }));
  for (const m of members) s.append(el("option", { value: m.userId, text: m.displayName, selected: m.userId === value }));
  return s;
}

/**
 * One task as a line: tick box, text, owner, due; changes go to the API at
 * once. `opts`: {apiTeam, members, me, patient: {name, href, location}?, changed()}.
 */
export function taskItem(t, opts) {
  const li = el("li", { class: `task${t.done ? " done" : ""}${t.overdue ? " overdue" : ""}`, "data-id": t.id });
  const save = async (change) => {
    try {
      await api("PATCH", `${opts.apiTeam}/tasks/${t.id}`, { baseVersion: t.version, ...change });
    } catch (e) {
      showBanner(e.code === "edit_conflict" ? "This task was changed meanwhile; it is shown as it is now." : sentence(e.message), "info");
    }
    if (opts.changed) opts.changed();
  };
  const box = el("input", { type: "checkbox", checked: t.done, "aria-label": `Done: ${t.body}` });
  box.addEventListener("change", () => save({ done: box.checked }));
  const main = el("div", { class: "task-main" });
  if (opts.patient) {
    main.append(el("a", { class: "task-patient", href: opts.patient.href, text: opts.patient.name || "(no name)" }), opts.patient.location ? el("span", { class: "muted", text: ` ${opts.patient.location}` }) : "", " ");
  }
  main.append(el("span", { class: "task-body", text: t.body }));
  const meta = el("div", { class: "task-meta" });
  if (t.done) {
    meta.append(`Done by ${t.doneByName || "someone"} · `, el("time", { datetime: t.doneAt, title: fmtDateTime(t.doneAt), text: fmtTime(t.doneAt) }));
  } else {
    const owner = ownerSelect(opts.members, t.ownerId, `Owner of: ${t.body}`);
    owner.addEventListener("change", () => save({ ownerId: owner.value || null }));
    const due = el("input", { type: "datetime-local", value: toLocal(t.dueAt), "aria-label": `Due: ${t.body}`, class: "task-due" });
    due.addEventListener("change", () => save({ dueAt: fromLocal(due.value) }));
    meta.append(owner, " ", due);
    if (t.overdue) meta.append(" ", el("strong", { class: "task-late", text: "Overdue" }));
  }
  const del = el("button", { type: "button", class: "small link task-del", text: "Delete", "aria-label": `Delete task: ${t.body}` });
  del.addEventListener("click", async () => {
    try {
      await api("DELETE", `${opts.apiTeam}/tasks/${t.id}`);
    } catch (e) {
      showBanner(sentence(e.message), "info");
    }
    if (opts.changed) opts.changed();
  });
  if (t.createdBy === opts.me || opts.isOwner) meta.append(" ", del);
  li.append(box, el("div", { class: "task-text" }, main, meta));
  return li;
}

/**
 * The Tasks card of a patient page, in `root` (a section with a list and
 * a form). Returns {load}: call it when the feed says a task changed.
 */
export function setupTaskCard({ root, apiTeam, apiPatient, members, me, isOwner }) {
  const list = root.querySelector(".tasks");
  const form = root.querySelector("form");
  const msg = root.querySelector(".form-msg");
  const ownerSlot = form.querySelector(".owner-slot");
  const owner = ownerSelect(members, "", "Owner");
  owner.name = "ownerId";
  ownerSlot.replaceWith(el("label", {}, "Owner ", owner));
  let shown = "";
  async function load(force) {
    try {
      const tasks = await api("GET", `${apiPatient}/tasks`);
      const sig = tasks.map((t) => `${t.id}:${t.version}:${t.overdue}`).join(",");
      if (!force && sig === shown && !list.querySelector(":focus")) return;
      shown = sig;
      const opts = { apiTeam, members, me, isOwner, changed: () => load(true) };
      list.replaceChildren(...(tasks.length ? tasks.map((t) => taskItem(t, opts)) : [el("li", { class: "empty", text: "No tasks." })]));
    } catch (e) {
      showBanner(`The tasks could not be loaded: ${e.message}`);
    }
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = form.querySelector("[name=body]");
    if (!body.value.trim()) return;
    msg.className = "form-msg";
    msg.textContent = "Saving…";
    try {
      await api("POST", `${apiPatient}/tasks`, {
        body: body.value,
        ownerId: owner.value || null,
        dueAt: fromLocal(form.querySelector("[name=dueAt]").value),
      });
      body.value = "";
      owner.value = "";
      form.querySelector("[name=dueAt]").value = "";
      msg.textContent = "Task added.";
      await load(true);
    } catch (err) {
      msg.className = "form-msg error";
      msg.textContent = sentence(err.message);
    }
  });
  load(true);
  // Overdue is a matter of time too: look again each minute.
  setInterval(() => load(false), 60000);
  return { load };
}
