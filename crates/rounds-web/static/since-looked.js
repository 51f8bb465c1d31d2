// "What changed since I last looked", on the list page and the patient
// page: what others changed since you last marked it seen — new patients,
// field values, notes, urgent notes sent or acknowledged, tasks, EHR
// values measured since — with a count and "Mark all seen". On the list
// the changed rows carry the class `changed-since` (kept when the table is
// drawn again) and say what changed in their title.
import { el, api, sentence, fmtTime } from "/static/rounds.js";

const bar = document.getElementById("since-looked");
if (bar) start(bar);

const WORDS = {
  added: "new on the list",
  field: "details changed",
  note: "new note",
  urgent: "urgent note",
  urgentAcknowledged: "urgent note acknowledged",
  task: "tasks changed",
  ehr: "new EHR values",
};

function describe(changes) {
  const kinds = [];
  for (const c of changes) if (!kinds.includes(c.kind)) kinds.push(c.kind);
  return kinds.map((k) => WORDS[k] || k).join(", ");
}

function start(bar) {
  const team = bar.dataset.team;
  const list = bar.dataset.list;
  const patient = bar.dataset.patient;
  const base = list ? `/api/v1/teams/${team}/lists/${list}` : `/api/v1/teams/${team}/patients/${patient}`;
  const table = document.getElementById("table-wrap");
  let marks = new Map();
  let timer = null;

  function paint() {
    if (!table) return;
    for (const node of table.querySelectorAll("[data-patient]")) {
      const what = marks.get(node.dataset.patient);
      node.classList.toggle("changed-since", !!what);
      if (what) node.setAttribute("data-changed", `Changed since you last looked: ${what}`);
      else node.removeAttribute("data-changed");
      const first = node.querySelector(".pin");
      if (first) {
        if (what) first.setAttribute("title", `Changed since you last looked: ${what}`);
        else first.removeAttribute("title");
      }
    }
  }

  function draw(data) {
    marks = new Map(data.patients.map((p) => [p.patientId, describe(p.changes)]));
    paint();
    if (!data.count) {
      bar.hidden = true;
      bar.replaceChildren();
      return;
    }
    const text = list
      ? `${data.count} patient${data.count === 1 ? "" : "s"} changed since you last looked (${fmtTime(data.since)})`
      : `Changed since you last looked (${fmtTime(data.since)}): ${describe(data.patients[0].changes)}`;
    bar.replaceChildren(
      el("span", { class: "since-count", role: "status" }, text),
      el("button", { type: "button", class: "small", onclick: seen }, "Mark all seen"),
    );
    bar.hidden = false;
  }

  async function load() {
    // After live updates stopped (signed out, session over) nothing is read.
    const live = document.getElementById("live");
    if (live && live.dataset.state === "ended") return;
    try {
      draw(await api("GET", `${base}/changes`));
    } catch (e) {
      // Nothing to mark when it cannot be read; the page says the rest.
    }
  }

  async function seen() {
    try {
      await api("POST", `${base}/seen`, {});
      draw({ count: 0, patients: [], since: new Date().toISOString() });
    } catch (e) {
      bar.append(el("span", { class: "error" }, ` ${sentence(e.message)}`));
    }
  }

  if (table) {
    // The rows are drawn again on live changes (list-table.js says so):
    // mark them again, and read what changed again a moment later.
    document.addEventListener("rounds:rows", () => {
      paint();
      clearTimeout(timer);
      timer = setTimeout(load, 800);
    });
  }
  load();
}
