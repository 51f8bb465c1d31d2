// The patient page's one store: what the page was rendered with (team,
// patient, me, the members, the team's columns, the lists the patient is
// on) and the page state the patient modules share.
import { readJsonAttr } from "/static/rounds.js";

const root = document.getElementById("patient-app");

/** Fixed for the life of the page. */
export const page = {
  root,
  team: root.dataset.team,
  patient: root.dataset.patient,
  me: root.dataset.me,
  members: readJsonAttr(root, "data-members", []),
  columns: readJsonAttr(root, "data-columns", []),
  apiTeam: `/api/v1/teams/${root.dataset.team}`,
  apiPatient: `/api/v1/teams/${root.dataset.team}/patients/${root.dataset.patient}`,
};

export const state = {
  fields: {}, // key → {value, version}: the base of the next save
  specs: {}, // key → editor spec
  lists: readJsonAttr(root, "data-lists", []), // the lists the patient is on
  notesShown: "", // the notes drawn (ids and versions)
  notesStale: false, // notes changed while one of mine was being edited or deleted
  ehrShown: null, // the EHR answer last drawn (to redraw only on a change)
  ehrPolls: 0,
  ehrTimer: null,
};
