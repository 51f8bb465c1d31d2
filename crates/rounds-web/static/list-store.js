// The list page's one store: what the page was rendered with (the team,
// the list, the members), the page state, and the few page-wide actions
// (load, render) that list.js installs at start, so that the other list
// modules share one state without importing each other in a circle.
import { readJsonAttr, displayText } from "/static/rounds.js";

const root = document.getElementById("list-app");

/** Fixed for the life of the page. */
export const page = {
  root,
  team: root.dataset.team,
  list: root.dataset.list,
  isOwner: root.dataset.owner === "true",
  me: root.dataset.me,
  members: readJsonAttr(root, "data-members", []),
  teamColumns: readJsonAttr(root, "data-team-columns", []),
  otherLists: readJsonAttr(root, "data-lists", []).filter((l) => l.id !== root.dataset.list),
  apiList: `/api/v1/teams/${root.dataset.team}/lists/${root.dataset.list}`,
  apiTeam: `/api/v1/teams/${root.dataset.team}`,
};

/** The view in the address: sort keys, filters, search. */
export function readView() {
  const p = new URLSearchParams(location.search);
  const sort = (p.get("sort") || "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (s.startsWith("-") ? { key: s.slice(1), desc: true } : { key: s.replace(/^\+/, ""), desc: false }));
  return { sort: sort.slice(0, 2), filters: p.getAll("filter").filter(Boolean), q: p.get("q") || "" };
}

export const state = {
  data: null, // the getList answer
  view: readView(),
  editing: null, // {patientId, colKey, node}
  notes: new Map(), // patientId → notes (newest first)
  openNotes: new Set(),
  fresh: new Set(), // patientIds whose latest note just arrived
  noteDrafts: new Map(), // patientId → a note being typed (kept across renders)
  openMenu: null, // the patientId whose action menu is open (kept across renders)
  loading: false,
  loadFailure: null, // the status of the last failed load (0: no answer), null after a success
  linking: null, // the manual row being linked to an EHR record
  refreshing: false, // an on-demand EHR refresh is under way
};

/** Handles on the panels built once, and the timers of the page. */
export const ui = {
  toolsBuilt: false,
  searchTimer: null,
  filterUi: null, // {colSel, valueBox, current, signature}
  columnsList: null, // the <ol> of the Columns panel
  ehrSearch: null, // the EHR search (ehr.js makeEhrSearch)
  ehrPanel: null, // the <details> around it
  pollTimer: null,
  pendingPolls: 0,
  lastLoadAt: 0,
};

/** Page-wide actions, installed by list.js. */
export const actions = {
  load: async () => undefined,
  loadSoon: () => {},
  render: () => {},
  liveStopped: () => false,
};

export const ehrOn = () => !!(state.data && state.data.ehr && state.data.ehr.connected);

/** The hand order applies: no sort, filter or search. */
export const handOrder = () => !state.view.sort.length && !state.view.filters.length && !state.view.q.trim();

/** A row's name as the list shows it (the EHR's for an EHR patient). */
export function rowName(row) {
  if (row.ehr && row.display && row.display.name) return row.display.name;
  return displayText({ key: "name" }, row.fields, row, page.members);
}
