// The meeting view: the whole list in large type, live, one patient
// highlighted and moved with the arrow keys; Enter opens the patient.
import { el, api, displayNode, showBanner, readJsonAttr } from "/static/rounds.js";
import { LiveFeed, liveBadge } from "/static/live.js";
import { isEhrColumn, ehrCell, ehrText } from "/static/ehr.js";

const root = document.getElementById("meeting-app");
const TEAM = root.dataset.team;
const LIST = root.dataset.list;
const members = readJsonAttr(root, "data-members", []);
const apiList = `/api/v1/teams/${TEAM}/lists/${LIST}`;
const state = { data: null, current: null };
let seq = 0;
let loadFailure = null; // the status of the last failed load (0: no answer), null after a success
let timer = null;

async function load() {
  const mine = ++seq;
  try {
    const data = await api("GET", apiList + location.search);
    if (mine !== seq) return null;
    state.data = data;
    loadFailure = null;
    document.getElementById("list-name").textContent = data.list.name;
    showBanner("");
    render();
    schedulePoll();
    return data;
  } catch (e) {
    loadFailure = e.status || 0;
    if (e.status === 404) {
      live.stop("ended", "No access");
      showBanner("This list no longer exists, or you are no longer a member of its team.");
    } else {
      showBanner(`The list could not be loaded: ${e.message}`);
    }
    return null;
  }
}

let pollTimer = null;
function schedulePoll() {
  clearTimeout(pollTimer);
  const ehr = state.data && state.data.ehr;
  if (!ehr || !ehr.connected) return;
  pollTimer = setTimeout(() => load(), ehr.pending ? 1500 : 60000);
}

const loadSoon = () => {
  clearTimeout(timer);
  timer = setTimeout(load, 120);
};

function render() {
  const wrap = document.getElementById("table-wrap");
  const { rows, columns } = state.data;
  const cols = columns.filter((c) => !c.hidden);
  document.getElementById("count").textContent = `${rows.length} patient${rows.length === 1 ? "" : "s"}`;
  if (!rows.length) {
    wrap.replaceChildren(el("p", { class: "empty", text: "No patients on this list yet." }));
    return;
  }
  if (!rows.some((r) => r.patientId === state.current)) state.current = rows[0].patientId;
  // Many rows: smaller type so that the whole list fits the screen.
  document.body.dataset.density = rows.length > 24 ? "dense" : rows.length > 14 ? "medium" : "roomy";
  const table = el(
    "table",
    { class: "plist meeting-table", id: "plist" },
    el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col", text: c.label })))),
    el(
      "tbody",
      {},
      rows.map((r) => {
        const tr = el("tr", { "data-patient": r.patientId, class: r.patientId === state.current ? "current" : "", "aria-selected": r.patientId === state.current ? "true" : "false" });
        cols.forEach((c) => tr.append(el("td", { "data-key": c.key }, cellNode(c, r))));
        tr.addEventListener("click", () => select(r.patientId));
        tr.addEventListener("dblclick", () => open(r.patientId));
        return tr;
      }),
    ),
  );
  wrap.replaceChildren(table);
  const cur = table.querySelector("tr.current");
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

/** A cell: the team's value, or the EHR's display text (a muted mark when it has none). */
function cellNode(c, r) {
  let cell = null;
  try {
    cell = isEhrColumn(c) || r.ehr ? ehrCell(c, r) : null;
  } catch (e) {
    cell = { state: "failed" };
  }
  if (!cell) {
    if (isEhrColumn(c)) return document.createTextNode("");
    return displayNode(c, r.fields, r, members);
  }
  const text = ehrText(c, r);
  if (cell.state === "ok" || (cell.state === "empty" && text)) {
    const span = el("span", { text });
    if (c.key === "name") span.append(el("span", { class: "ehr-badge", text: "EHR" }));
    return span;
  }
  return el("span", { class: `ehr-mark ${cell.state}`, title: cell.reason || "", text: text || "—" });
}

function select(id) {
  state.current = id;
  render();
}

function open(id) {
  location.href = `/teams/${TEAM}/patients/${id}`;
}

document.addEventListener("keydown", (e) => {
  if (!state.data || !state.data.rows.length || e.target.closest("input, select, textarea")) return;
  const rows = state.data.rows;
  const i = Math.max(0, rows.findIndex((r) => r.patientId === state.current));
  let j = i;
  if (e.key === "ArrowDown" || e.key === "j") j = Math.min(rows.length - 1, i + 1);
  else if (e.key === "ArrowUp" || e.key === "k") j = Math.max(0, i - 1);
  else if (e.key === "Home") j = 0;
  else if (e.key === "End") j = rows.length - 1;
  else if (e.key === "Enter") {
    open(rows[i].patientId);
    return;
  } else return;
  e.preventDefault();
  select(rows[j].patientId);
});

const liveNode = document.getElementById("live");
const live = new LiveFeed({
  path: `${apiList}/events`,
  lastEventId: root.dataset.lastEventId,
  handlers: {
    patientUpdated: (d) => {
      const row = state.data && state.data.rows.find((r) => r.patientId === d.patientId);
      if (row) {
        for (const [k, v] of Object.entries(d.fields || {})) row.fields[k] = v;
        render();
      }
      if (location.search) loadSoon();
    },
    noteChanged: () => {},
    listDeleted: () => {
      live.stop("ended", "List deleted");
      showBanner("This list was deleted.");
    },
    resync: () => loadSoon(),
    other: () => loadSoon(),
  },
  onStatus: liveBadge(liveNode),
  reload: async () => ((await load()) ? { ok: true } : { ok: false, status: loadFailure || 0 }),
});

load().then((data) => {
  if (data) {
    live.lastId = String(data.lastEventId);
    live.start();
  }
});
