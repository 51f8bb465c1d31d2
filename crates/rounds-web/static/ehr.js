// EHR mode on the pages: the EHR columns and their cells (the value, how
// old it is, and why a value is missing, on hover and on tap), the search
// of the team's EHR with its results, and the confirmation before a
// patient typed in by hand is linked to an EHR record.
import { el, api, sentence, fmtDateTime, fmtTime } from "/static/rounds.js";

/**
 * The catalog of team column types, EHR columns and vital signs, from the
 * server (GET /api/v1/catalog): the pages keep no copy of labels, units or
 * column types.
 */
async function loadCatalog() {
  try {
    return await api("GET", "/api/v1/catalog");
  } catch (e) {
    return { columnTypes: [], ehrColumns: [], vitals: [], news2Parts: [] };
  }
}
export const CATALOG = await loadCatalog();

/** The columns a list can show from the EHR: [key, label], as the API names them. */
export const EHR_COLUMNS = CATALOG.ehrColumns.map((c) => [c.key, c.label]);

const EHR_KEYS = new Set(EHR_COLUMNS.map(([k]) => k));
/** EHR columns of numbers (vital signs, NEWS2): filtered as numbers (from … to …). */
export const NUMERIC_EHR = new Set(CATALOG.ehrColumns.filter((c) => c.type === "number").map((c) => c.key));
/** What an EHR column's header means ("Heart rate" for HR). */
export function ehrDescription(key) {
  const c = CATALOG.ehrColumns.find((x) => x.key === key);
  return c ? c.description : "";
}
/** Built-in columns that show the EHR's value for an EHR patient. */
const EHR_BUILTINS = new Set(["name", "mrn", "ageSex", "birthDate", "location"]);
/** Cells whose age would say nothing (who the patient is does not age). */
const NO_AGE = new Set(["name", "mrn", "ageSex", "birthDate", "gp"]);

export function isEhrColumn(col) {
  return !!col && (col.source === "ehr" || EHR_KEYS.has(col.key));
}

/**
 * The EHR state of one cell, or null when the cell is the team's own
 * (a manual patient, or a team column). A patient whose EHR record could
 * not be read at all has every EHR cell failed with the row's reason.
 */
export function ehrCell(col, row) {
  if (!row) return null;
  const cell = row.cells && row.cells[col.key];
  if (cell) return cell;
  if (!row.ehr) return null;
  if (!isEhrColumn(col) && !EHR_BUILTINS.has(col.key)) return null;
  switch (row.ehr.state) {
    case "pending":
      return { state: "pending" };
    case "failed":
      return { state: "failed", reason: row.ehr.reason || "the EHR record could not be read" };
    case "otherServer":
      return { state: "missing", reason: row.ehr.reason || "this patient was added from another EHR server than the team's connection" };
    default:
      return isEhrColumn(col) ? { state: "empty", fetchedAt: row.ehr.fetchedAt } : { state: "ok", fetchedAt: row.ehr.fetchedAt };
  }
}

/** "just now", "5 min ago", "2 h ago", "3 d ago". */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso || "");
  if (isNaN(t)) return "";
  const s = Math.max(0, (now - t) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)} h ago`;
  if (s < 60 * 86400) return `${Math.floor(s / 86400)} d ago`;
  if (s < 730 * 86400) return `${Math.floor(s / (30 * 86400))} mo ago`;
  return `${Math.floor(s / (365 * 86400))} y ago`;
}

const MARK = { pending: "…", failed: "—", missing: "—", empty: "none" };

/** What a cell says in words (the title on hover, the popover on tap). */
export function cellExplain(col, row, cell) {
  const lines = [];
  const label = col.label || col.key;
  switch (cell.state) {
    case "pending":
      lines.push(`${label}: still being read from the EHR…`);
      break;
    case "failed":
      lines.push(`${label} could not be read from the EHR: ${cell.reason || "no reason given"}.`);
      break;
    case "missing":
      lines.push(`${label} is not available: ${cell.reason || "the EHR does not offer it"}.`);
      break;
    case "empty":
      lines.push(`${label}: none recorded in the EHR.`);
      break;
    default: {
      const text = shownText((row.display && row.display[col.key]) || "");
      lines.push(`${label}: ${text || "—"}${cell.flag ? `, ${cell.flag.text}` : ""}`);
      if (cell.risk && !cell.flag) {
        const names = (cell.missing || []).map((k) => (CATALOG.news2Parts.find((p) => p.key === k) || { name: k }).name);
        lines.push(`Low risk (NEWS2 0–4)${names.length ? `; partial: no ${names.join(", ")}` : ""}.`);
      }
      if (cell.at) lines.push(`Recorded ${fmtDateTime(cell.at)} (${ago(cell.at)}).`);
    }
  }
  if (cell.total != null && cell.shown != null && cell.shown < cell.total) lines.push(`${cell.shown} of ${cell.total} shown.`);
  const read = cell.fetchedAt || (row.ehr && row.ehr.fetchedAt);
  if (read && cell.state !== "pending") lines.push(`Read from the EHR at ${fmtTime(read)}.`);
  return lines;
}

/** A display text as people read it: a date and time (an encounter's start) in local time. */
export function shownText(text) {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text) ? fmtDateTime(text) : text;
}

/** The plain text of a cell (the meeting view, sorting by eye). */
export function ehrText(col, row) {
  const cell = ehrCell(col, row);
  const text = shownText((row.display && row.display[col.key]) || "");
  if (!cell) return text;
  if (cell.state === "ok") return text;
  if (cell.state === "empty") return text || "";
  return MARK[cell.state] || "—";
}

/**
 * The content of an EHR cell: the value and its age, or a muted marker
 * whose reason shows on hover and on tap (`cell` gets the title and the
 * tap handler). Never throws on odd data: a bad cell must not break its row.
 * `ageWords(when, col)`, when given, says the age in the caller's words
 * ("admitted 3 d ago" for a location).
 */
export function fillEhrCell(cellNode, col, row, { ages = true, ageWords = null } = {}) {
  let cell;
  try {
    cell = ehrCell(col, row);
  } catch (e) {
    cell = { state: "failed", reason: "the value could not be shown" };
  }
  if (!cell) return false;
  const text = shownText((row.display && row.display[col.key]) || "");
  cellNode.classList.add("ehr-cell", `ehr-${cell.state || "ok"}`);
  if (cell.state === "ok" || (cell.state === "empty" && text)) {
    showValue(cellNode, text, cell);
    const when = cell.at || (cell.state === "ok" && !NO_AGE.has(col.key) ? cell.fetchedAt || (row.ehr && row.ehr.fetchedAt) : null);
    if (ages && when && !NO_AGE.has(col.key)) cellNode.append(el("span", { class: "ehr-age", text: ageWords ? ageWords(when, col) : ago(when) }));
    if (cell.total != null && cell.shown != null && cell.shown < cell.total) cellNode.append(el("span", { class: "ehr-age", text: `${cell.shown} of ${cell.total}` }));
  } else {
    const mark = MARK[cell.state] || "—";
    cellNode.append(el("span", { class: `ehr-mark ${cell.state}`, "aria-hidden": "true", text: mark }));
    if (cell.state === "failed") cellNode.append(el("span", { class: "ehr-warn", "aria-hidden": "true", text: "!" }));
  }
  const lines = cellExplain(col, row, cell);
  cellNode.title = lines.join("\n");
  cellNode.tabIndex = 0;
  cellNode.setAttribute("role", "button");
  cellNode.setAttribute("aria-label", lines.join(" "));
  cellNode.setAttribute("aria-haspopup", "dialog");
  const open = (e) => {
    e.stopPropagation();
    openPopover(cellNode, lines, `${row.patientId}:${col.key}`);
  };
  cellNode.addEventListener("click", open);
  cellNode.addEventListener("keydown", (e) => {
    if (e.target === cellNode && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      open(e);
    }
  });
  return true;
}

/**
 * A value as every view shows it: the server's display text, then its
 * flag (markFlag); with `words`, the flag's text is also written out (the
 * patient page; the list has it in the cell's accessible name and popover).
 * The one place a vital-sign value is put on a page.
 */
export function showValue(node, text, cell, { words = false } = {}) {
  node.append(el("span", { class: "ehr-val", text }));
  markFlag(node, cell);
  const said = cell && ((cell.flag && cell.flag.text) || cell.riskText);
  if (words && said) node.append(el("span", { class: "flag-text", text: ` ${said}` }));
}

/**
 * Marks an abnormal value: a class for the colour (flag-high, flag-low,
 * risk-lowMedium, risk-medium, risk-high), the symbol beside the value, and
 * for NEWS2 its risk band in words. The flag's text is in the cell's
 * accessible name and popover (cellExplain), so nothing rests on colour.
 */
export function markFlag(node, cell) {
  if (!cell) return;
  if (cell.risk) {
    node.classList.add(`risk-${cell.risk}`);
    const band = { low: "low", lowMedium: "low–med", medium: "medium", high: "high" }[cell.risk] || cell.risk;
    node.append(el("span", { class: "risk-band", "aria-hidden": "true" }, cell.flag ? el("span", { class: "flag-sym", text: cell.flag.symbol }) : null, band));
    // Said, not only shown (where the control is named by its text).
    node.append(el("span", { class: "sr", text: `, ${cell.flag ? cell.flag.text : `${band} risk`}` }));
    return;
  }
  if (!cell.flag) return;
  node.classList.add(`flag-${cell.flag.kind}`);
  node.append(el("span", { class: "flag-sym", "aria-hidden": "true", title: cell.flag.text, text: cell.flag.symbol }));
  node.append(el("span", { class: "sr", text: `, ${cell.flag.text}` }));
}

// ---------------------------------------------------------------- popover

let pop = null; // { box, anchor, key }

export function closePopover() {
  if (!pop) return;
  const { box, anchor } = pop;
  pop = null;
  box.remove();
  if (anchor && document.contains(anchor) && box.contains(document.activeElement)) anchor.focus();
}

/** The key of the open popover ("patientId:column"), to reopen it after a redraw. */
export function popoverKey() {
  return pop ? pop.key : null;
}

/** A small box next to `anchor` (a sheet at the bottom of a phone's screen). */
export function openPopover(anchor, lines, key) {
  const again = pop && pop.key === key && document.contains(pop.box);
  closePopover();
  if (again && key) return; // a second tap closes it
  const close = el("button", { type: "button", class: "small", text: "Close" });
  const box = el("div", { class: "popover", role: "dialog", "aria-label": lines[0] || "Details" }, lines.map((l) => el("p", { text: l })), close);
  close.addEventListener("click", closePopover);
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closePopover();
  });
  document.body.append(box);
  pop = { box, anchor, key };
  place();
  close.focus({ preventScroll: true });
}

function place() {
  if (!pop) return;
  const { box, anchor } = pop;
  if (window.innerWidth <= 640) {
    box.classList.add("sheet");
    return;
  }
  const r = anchor.getBoundingClientRect();
  const w = box.offsetWidth;
  const h = box.offsetHeight;
  let left = Math.min(Math.max(8, r.left), window.innerWidth - w - 8);
  let top = r.bottom + 4;
  if (top + h > window.innerHeight - 8) top = Math.max(8, r.top - h - 4);
  box.style.left = `${left}px`;
  box.style.top = `${top}px`;
}

document.addEventListener(
  "click",
  (e) => {
    if (pop && !pop.box.contains(e.target) && !pop.anchor.contains(e.target)) closePopover();
  },
  true,
);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && pop) closePopover();
});
window.addEventListener("resize", () => place());

/** After a redraw: the popover follows its cell's new node, or closes. */
export function reanchorPopover(findNode) {
  if (!pop) return;
  const node = findNode(pop.key);
  if (!node) {
    closePopover();
    return;
  }
  pop.anchor = node;
  place();
}

// ---------------------------------------------------------------- search

const SEX = { female: "female", male: "male", other: "other", unknown: "unknown" };

/** "3 of 120 found". */
export function foundText(n, total) {
  if (total == null) return `${n} found (the EHR gives no total)`;
  if (total === 0 || n === 0) return "No patient found.";
  if (total === n) return `${n} found`;
  return `${n} of ${total} found`;
}

let searchCount = 0;

/**
 * The EHR search form and its results. `path` is searchEhr's address;
 * `action(result, rerender)` gives what each result row offers (Add,
 * Link, "On this list"). Answers { node, form, fill(values), run(), clear() }.
 */
export function makeEhrSearch({ path, action, heading }) {
  const n = ++searchCount;
  const input = (name, label, attrs) => {
    const id = `ehrs${n}-${name}`;
    const node = el("input", { id, name, autocomplete: "off", ...attrs });
    return { node, label: el("label", { for: id, class: attrs && attrs.class }, label, node) };
  };
  const name = input("name", "Name", { maxlength: 100, placeholder: "any part of the name", type: "search" });
  const family = input("family", "Family name", { maxlength: 100 });
  const given = input("given", "Given name", { maxlength: 100 });
  const mrn = input("mrn", "MRN", { maxlength: 64 });
  const birth = input("birthDate", "Birth date", { type: "date" });
  const id = input("id", "EHR id", { maxlength: 64, placeholder: "Patient/…" });
  const genderId = `ehrs${n}-gender`;
  const gender = el("select", { id: genderId, name: "gender" }, ["", "female", "male", "other", "unknown"].map((g) => el("option", { value: g, text: g || "—" })));
  const submit = el("button", { type: "submit", text: "Search the EHR" });
  const clearBtn = el("button", { type: "button", class: "small", text: "Clear" });
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el(
    "form",
    { class: "row ehr-search-form", novalidate: true },
    name.label, family.label, given.label, mrn.label, birth.label,
    el("label", { for: genderId, class: "role" }, "Sex", gender),
    id.label,
    el("div", { class: "acts" }, submit, clearBtn),
  );
  const count = el("p", { class: "ehr-found muted", role: "status" });
  const results = el("div", { class: "ehr-results" });
  const node = el("div", { class: "ehr-search" }, heading || null, form, msg, count, results);
  const inputs = { name: name.node, family: family.node, given: given.node, mrn: mrn.node, birthDate: birth.node, gender, id: id.node };
  let last = null; // the last answer, redrawn after an action
  let seq = 0;

  function criteria() {
    const body = {};
    for (const [k, i] of Object.entries(inputs)) {
      const v = i.value.trim();
      if (v) body[k] = k === "id" ? v.replace(/^Patient\//, "") : v;
    }
    return body;
  }

  function draw() {
    results.replaceChildren();
    if (!last) {
      count.textContent = "";
      return;
    }
    count.textContent = foundText(last.results.length, last.total);
    if (!last.results.length) return;
    const rows = last.results.map((r) => {
      const tr = el(
        "tr",
        { "data-ehr-id": r.ehrId },
        el("td", { "data-label": "Name" }, el("strong", { text: r.name || "(no name)" }), r.mrn ? null : el("span", { class: "muted small ehr-id", text: ` Patient/${r.ehrId}` })),
        el("td", { "data-label": "MRN", text: r.mrn || "" }),
        el("td", { "data-label": "Born", text: r.birthDate || "" }),
        el("td", { "data-label": "Sex", text: SEX[r.gender] || r.gender || "" }),
        el("td", { class: "actions" }, action(r, draw)),
      );
      return tr;
    });
    results.append(
      el(
        "div",
        { class: "scroll" },
        el("table", { class: "grid ehr-results-table" }, el("thead", {}, el("tr", {}, ["Name", "MRN", "Born", "Sex"].map((h) => el("th", { scope: "col", text: h })), el("th", { scope: "col" }, el("span", { class: "sr", text: "Action" })))), el("tbody", {}, rows)),
      ),
    );
  }

  async function run() {
    for (const i of Object.values(inputs)) i.removeAttribute("aria-invalid");
    const body = criteria();
    if (!Object.keys(body).length) {
      msg.className = "form-msg error";
      msg.textContent = "Type at least one thing to search by: a name, an MRN, a birth date…";
      name.node.focus();
      return;
    }
    const mine = ++seq;
    msg.className = "form-msg";
    msg.textContent = "Searching the EHR…";
    submit.disabled = true;
    try {
      const answer = await api("POST", path(), body);
      if (mine !== seq) return;
      msg.textContent = "";
      last = { total: answer.total ?? null, results: answer.results || [] };
      draw();
    } catch (e) {
      if (mine !== seq) return;
      msg.className = "form-msg error";
      msg.textContent = e.code === "not_connected" ? "The team has no EHR connection (any more): reload the page." : sentence(e.message);
      const bad = e.field && inputs[e.field];
      if (bad) {
        bad.setAttribute("aria-invalid", "true");
        bad.focus();
      }
    } finally {
      if (mine === seq) submit.disabled = false;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  clearBtn.addEventListener("click", () => clear());

  function clear() {
    form.reset();
    last = null;
    msg.textContent = "";
    draw();
  }

  function fill(values) {
    form.reset();
    for (const [k, v] of Object.entries(values || {})) if (inputs[k] && v) inputs[k].value = v;
  }

  /** Marks a result (after an add) and redraws. */
  function update(ehrId, changes) {
    if (!last) return;
    const r = last.results.find((x) => x.ehrId === ehrId);
    if (r) Object.assign(r, changes);
    draw();
  }

  return { node, form, fill, run, clear, update, redraw: draw, focus: () => (inputs.family.value ? inputs.family : inputs.name).focus() };
}

// ---------------------------------------------------------------- linking

/**
 * Asks before a manual patient is linked to an EHR record, showing both.
 * `manual` and `record` are { name, mrn, birthDate, gender }. Resolves true
 * when confirmed.
 */
export function confirmLink(manual, record) {
  return new Promise((resolve) => {
    const side = (title, p) =>
      el(
        "div",
        { class: "link-side" },
        el("h3", { text: title }),
        el("p", { class: "link-name", text: p.name || "(no name)" }),
        el("p", { class: "muted", text: [p.mrn ? `MRN ${p.mrn}` : "no MRN", p.birthDate ? `born ${p.birthDate}` : "", p.gender || ""].filter(Boolean).join(" · ") }),
      );
    const yes = el("button", { type: "button", class: "primary", text: "Link them" });
    const no = el("button", { type: "button", class: "small", text: "Cancel" });
    const dialog = el(
      "dialog",
      { class: "link-dialog", "aria-labelledby": "link-title" },
      el("h2", { id: "link-title", text: "Link to this EHR record?" }),
      el("div", { class: "link-sides" }, side("In Rounds (typed in)", manual), el("span", { class: "link-arrow", "aria-hidden": "true", text: "→" }), side("In the EHR", record)),
      el("p", { text: "Check that both are the same person. The team's fields and notes stay with the patient; name, MRN, birth date and location then come from the EHR." }),
      el("div", { class: "acts" }, yes, no),
    );
    const done = (v) => {
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}

/** Links a manual patient to an EHR record; resolves to the answer, throws ApiError. */
export function linkPatient(team, patientId, ehrId) {
  return api("PUT", `/api/v1/teams/${team}/patients/${patientId}/ehr-link`, { ehrId });
}

/** The connection's health in words: [state class, text]. */
export function healthText(h) {
  if (!h) return ["unknown", "Not used yet."];
  const last = h.lastGoodRead ? `last good read ${fmtTime(h.lastGoodRead)}` : "no good read yet";
  switch (h.state) {
    case "ok":
      return ["ok", `Working · ${last}`];
    case "degraded":
      return ["degraded", `Answering in part${h.since ? ` since ${fmtTime(h.since)}` : ""}${h.message ? `: ${h.message}` : ""} · ${last}`];
    case "down":
      return ["down", `Not answering${h.since ? ` since ${fmtTime(h.since)}` : ""}${h.message ? `: ${h.message}` : ""} · ${last}`];
    default:
      return ["unknown", h.lastGoodRead ? `Not checked lately · ${last}` : "Not used yet."];
  }
}
