// The patient page: fields edited like cells (with the conflict choice),
// notes (patient-notes.js), the EHR card (patient-ehr.js), all kept live
// through the feed of a list the patient is on (live.js): a field saved,
// a note written or the EHR link changed elsewhere shows without a reload.
import { el, api, makeEditor, displayNode, displayText, showBanner, EMPTY } from "/static/rounds.js";
import { LiveFeed, liveBadge } from "/static/live.js";
import { page, state } from "/static/patient-store.js";
import { setupNotes, notesChangedElsewhere } from "/static/patient-notes.js";
import { loadEhr } from "/static/patient-ehr.js";
import { setupTaskCard } from "/static/tasks.js";
import { setupIpassCard } from "/static/ipass.js";

const NAME_KEYS = ["family", "given"];
const FEED_WAIT_MS = 2000;

function fieldBox(key) {
  return page.root.querySelector(`.field[data-key="${CSS.escape(key)}"]`);
}

/** The editor specs of the fields on the page, and their values as rendered. */
function readFields() {
  for (const f of page.root.querySelectorAll(".field")) {
    const key = f.dataset.key;
    state.fields[key] = { value: f.dataset.value || null, version: Number(f.dataset.version) };
    const col = page.columns.find((c) => c.key === key);
    const label = f.querySelector("dt").textContent;
    state.specs[key] = col
      ? { key, type: col.type, label, unit: col.unit, options: col.options || [], col }
      : { key, type: f.dataset.kind, label, max: key === "mrn" ? 64 : key === "family" || key === "given" ? 100 : 50 };
  }
}

/** A field's value with its edit button (a real button inside the dd: a
 * definition list holds only terms and definitions). */
function show(key) {
  const dd = fieldBox(key).querySelector("dd");
  const spec = state.specs[key];
  const fields = state.fields;
  const value = spec.col ? displayNode(spec.col, fields, null, page.members) : document.createTextNode(fields[key] && fields[key].value ? fields[key].value : "");
  const text = spec.col ? displayText(spec.col, fields, null, page.members) : value.textContent;
  const btn = el("button", { type: "button", class: "field-edit", "aria-label": `${spec.label}: ${text || "empty"}, edit` }, value);
  if (!btn.textContent) btn.append(el("span", { class: "muted", text: EMPTY }));
  dd.replaceChildren(btn);
  dd.classList.add("editable");
}

function edit(key) {
  const dd = fieldBox(key).querySelector("dd");
  if (dd.querySelector("form")) return;
  const form = makeEditor({
    specs: [state.specs[key]],
    fields: state.fields,
    members: page.members,
    save: (edits) => api("PATCH", page.apiPatient, { fields: edits }),
    done: (saved) => {
      applyFields(saved);
      show(key);
      const btn = dd.querySelector("button.field-edit");
      if (btn) btn.focus();
    },
  });
  dd.replaceChildren(form);
  form.focusFirst();
}

function setupFields() {
  readFields();
  for (const key of Object.keys(state.fields)) {
    show(key);
    const dd = fieldBox(key).querySelector("dd");
    dd.addEventListener("click", (e) => {
      if (!dd.querySelector("form")) edit(key);
      e.stopPropagation();
    });
  }
}

/**
 * Saved values (from this page, the feed or a reload), newer versions only.
 * Fields not being edited are redrawn; an open editor keeps its base
 * version, so a save from it still meets the conflict choice.
 */
function applyFields(saved) {
  if (!saved) return;
  let renamed = false;
  for (const [k, v] of Object.entries(saved)) {
    const cur = state.fields[k];
    if (!cur || !v || v.version < cur.version || (v.version === cur.version && v.value === cur.value)) continue;
    state.fields[k] = { value: v.value, version: v.version };
    if (NAME_KEYS.includes(k)) renamed = true;
    const dd = fieldBox(k) && fieldBox(k).querySelector("dd");
    if (dd && !dd.querySelector("form")) show(k);
  }
  if (renamed) showName();
}

/** The heading follows a name typed in by hand. */
function showName() {
  const h1 = document.getElementById("patient-name");
  if (!h1 || !h1.firstChild || page.root.querySelector(".ehr-card:not([hidden]) .ehr-sections")) return;
  const name = displayText({ key: "name" }, state.fields, null, page.members);
  h1.firstChild.textContent = `${name || "(no name)"} `;
}

// ---------------------------------------------------------------- live

/** Everything read again: fields, notes, the EHR card. */
async function reloadAll() {
  const p = await loadEhr();
  if (!p) return { ok: false, status: 0 };
  applyFields(p.fields);
  state.lists = p.lists || [];
  notesChangedElsewhere();
  taskCard.load(false);
  return { ok: true };
}

let caughtUp = false;

/** The patient left the list followed (moved, taken off, list deleted): follow another. */
async function refollow() {
  const p = await loadEhr();
  if (!p) return;
  state.lists = p.lists || [];
  if (state.lists.some((l) => l.id === currentList)) return;
  if (!state.lists.length) {
    live.stop("ended", "Not on a list");
    showBanner("This patient is no longer on a list of the team: reload the page to see later changes.", "info");
    return;
  }
  currentList = state.lists[0].id;
  live.follow(`${page.apiTeam}/lists/${currentList}/events`);
}

const mine = (d) => d && d.patientId === page.patient;
let currentList = state.lists.length ? state.lists[0].id : null;
const live = new LiveFeed({
  path: `${page.apiTeam}/lists/${currentList}/events`,
  handlers: {
    // What changed between the page being rendered and the feed starting.
    ready: () => {
      if (!caughtUp) reloadAll();
      caughtUp = true;
    },
    patientUpdated: (d) => {
      if (!mine(d)) return;
      applyFields(d.fields);
      if (d.fields && "ehrId" in d.fields) loadEhr();
    },
    noteChanged: (d) => {
      if (mine(d)) notesChangedElsewhere();
    },
    taskChanged: (d) => mine(d) && taskCard.load(false),
    urgentChanged: (d) => mine(d) && notesChangedElsewhere(),
    noteSeen: (d) => mine(d) && notesChangedElsewhere(),
    handoffChanged: (d) => mine(d) && ipassCard.load(),
    patientRemoved: (d) => mine(d) && refollow(),
    patientMoved: (d) => mine(d) && refollow(),
    listDeleted: () => refollow(),
    // The EHR was read again in the background: show what it said now.
    ehrRefreshed: () => loadEhr(),
    resync: () => reloadAll(),
    other: () => {},
  },
  onStatus: liveBadge(document.getElementById("live")),
  reload: reloadAll,
});

setupFields();
setupNotes();
const taskCard = setupTaskCard({
  root: document.getElementById("tasks"),
  apiTeam: page.apiTeam,
  apiPatient: page.apiPatient,
  members: page.members,
  me: page.me,
  isOwner: page.root.dataset.owner === "true",
});
const ipassCard = setupIpassCard({ root: document.getElementById("handoff"), apiPatient: page.apiPatient });
if (currentList) {
  // The first `ready` reads everything once (see above); should the feed be
  // slow to answer, the EHR card does not wait for it.
  live.start();
  setTimeout(() => {
    if (!caughtUp) loadEhr();
  }, FEED_WAIT_MS);
} else {
  // A patient on no list has no feed to follow.
  loadEhr();
}
