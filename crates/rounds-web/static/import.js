// The import on a list's export and import page: read the chosen file,
// ask the server for a preview (nothing is written), let the person change
// where each column goes, show every problem, then import on confirmation
// (all rows or none).
import { CATALOG } from "/static/ehr.js";

const section = document.getElementById("import");
const form = document.getElementById("import-form");
const input = document.getElementById("import-file");
const out = document.getElementById("import-preview");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

/** The types a new column made by the import may have (from the server's catalog). */
const TYPES = CATALOG.columnTypes.filter((t) => t.offeredOnImport).map((t) => t.type);
let current = null; // { fileName, content, preview, matchEhr, updateExisting }

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function base64Of(buffer) {
  const bytes = new Uint8Array(buffer);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function endpoint(rest) {
  return `/api/v1/teams/${section.dataset.team}/lists/${section.dataset.list}/import${rest}`;
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  return { ok: r.ok, status: r.status, data };
}

function errorText(res) {
  if (res.status === 413) return "The file is too large to import.";
  return (res.data && res.data.error && res.data.error.message) || `The server answered ${res.status}.`;
}

function mappingFromForm() {
  return current.preview.headers.map((h) => {
    const select = out.querySelector(`select[data-index="${h.index}"]`);
    const v = select ? select.value : "";
    if (!v) return {};
    if (v.startsWith("new:")) return { new: { label: h.header || `Column ${h.index + 1}`, type: v.slice(4) } };
    return { column: v };
  });
}

function targetSelect(h, targets) {
  const select = el("select", { "data-index": h.index, "aria-label": `Where “${h.header}” goes` });
  select.append(el("option", { value: "", text: "(leave out)" }));
  const existing = el("optgroup", { label: "Columns" });
  for (const t of targets) existing.append(el("option", { value: t.key, text: t.label, selected: h.column === t.key }));
  select.append(existing);
  const fresh = el("optgroup", { label: "New team column" });
  for (const type of TYPES) {
    const guessed = type === h.guessedType ? " (guessed)" : "";
    fresh.append(el("option", { value: `new:${type}`, text: `New ${type} column${guessed}`, selected: h.newType === type }));
  }
  select.append(fresh);
  select.addEventListener("change", () => preview(mappingFromForm()));
  return select;
}

function render(p) {
  out.replaceChildren();
  out.append(el("p", { class: "import-summary", text: `${p.rows} rows (${p.kind.toUpperCase()}): ${p.newPatients} new patients, ${p.existingPatients} the team already has.` }));
  const table = el("table", { class: "import-map" });
  table.append(el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Column in the file" }), el("th", { scope: "col", text: "Goes to" }), el("th", { scope: "col", text: "First values" }))));
  const body = el("tbody");
  for (const h of p.headers) {
    const sample = p.sample.map((r) => r[h.index]).filter((v) => v).slice(0, 3).join(" · ");
    body.append(el("tr", {}, el("th", { scope: "row", text: h.header || `(column ${h.index + 1})` }), el("td", {}, targetSelect(h, p.targets)), el("td", { class: "muted", text: sample })));
  }
  table.append(body);
  out.append(table);
  if (p.duplicates.length) {
    const list = el("ul");
    for (const d of p.duplicates) {
      const text = d.ofRow ? `Row ${d.row}: MRN ${d.mrn} is also in row ${d.ofRow}.`
        : `Row ${d.row}: MRN ${d.mrn} is the team's patient ${d.name}${d.onList ? " (already on this list)" : " (will be put on this list, fields unchanged)"}.`;
      list.append(el("li", { text }));
    }
    out.append(el("h3", { text: "Duplicate MRNs" }), list);
  }
  const options = el("div", { class: "import-options" });
  if (p.ehrAvailable) {
    const ehr = el("label", { class: "check" }, el("input", { type: "checkbox", id: "import-ehr", checked: current.matchEhr }), " Look rows with an MRN up in the team's EHR (matches are added as EHR patients)");
    ehr.querySelector("input").addEventListener("change", (e) => { current.matchEhr = e.target.checked; preview(mappingFromForm()); });
    options.append(ehr);
  }
  if (p.existingPatients || current.updateExisting) {
    const upd = el("label", { class: "check" }, el("input", { type: "checkbox", id: "import-update", checked: current.updateExisting }), ` Update the fields of the ${p.existingPatients} patient${p.existingPatients === 1 ? "" : "s"} the team already has from this file (empty cells leave a field as it is)`);
    upd.querySelector("input").addEventListener("change", (e) => { current.updateExisting = e.target.checked; preview(mappingFromForm()); });
    options.append(upd);
  }
  if (options.childElementCount) out.append(options);
  if (current.updateExisting && p.updates.length) {
    const names = new Map(p.duplicates.filter((d) => d.patientId).map((d) => [d.patientId, d.name]));
    const list = el("ul", { class: "import-updates" });
    for (const u of p.updates) {
      const what = u.changes.map((c) => `${c.label}: ${c.from ?? "(empty)"} → ${c.to}`).join("; ");
      list.append(el("li", { text: `Row ${u.row}${names.has(u.patientId) ? ` (${names.get(u.patientId)})` : ""}: ${what}` }));
    }
    out.append(el("h3", { text: `Changes to patients the team has (${p.updates.length})` }), list);
  } else if (current.updateExisting && p.existingPatients) {
    out.append(el("p", { class: "muted", text: "The file changes nothing on the patients the team already has." }));
  }
  if (p.ehr.length) {
    const list = el("ul");
    for (const m of p.ehr) list.append(el("li", { text: `Row ${m.row} (MRN ${m.mrn}): ${m.name ? m.name + ", " : ""}${m.note}` }));
    out.append(el("h3", { text: "EHR matches" }), list);
  }
  if (p.problems.length) {
    const list = el("ul", { class: "import-problems" });
    for (const x of p.problems) {
      const where = x.row ? `Row ${x.row}${x.column ? `, ${x.column}` : ""}` : x.column || "The file";
      list.append(el("li", { text: `${where}: ${x.message}` }));
    }
    out.append(el("h3", { class: "error", text: `${p.problems.length} problem${p.problems.length === 1 ? "" : "s"}: fix the file (or the mapping) and preview again` }), list);
  } else {
    const go = el("button", { type: "button", id: "import-confirm", text: `Import ${p.rows} rows` });
    go.addEventListener("click", confirm);
    out.append(el("p", {}, go));
  }
}

async function preview(mapping) {
  out.replaceChildren(el("p", { class: "muted", text: "Checking the file…" }));
  const res = await post(endpoint("/preview"), { fileName: current.fileName, content: current.content, mapping, matchEhr: current.matchEhr, updateExisting: current.updateExisting });
  if (!res.ok) {
    out.replaceChildren(el("p", { class: "error", role: "alert", text: errorText(res) }));
    return;
  }
  current.preview = res.data;
  render(res.data);
}

async function confirm() {
  const button = document.getElementById("import-confirm");
  if (button) button.disabled = true;
  const res = await post(endpoint(""), { fileName: current.fileName, content: current.content, mapping: mappingFromForm(), matchEhr: current.matchEhr, updateExisting: current.updateExisting });
  if (!res.ok) {
    out.append(el("p", { class: "error", role: "alert", text: errorText(res) }));
    if (button) button.disabled = false;
    return;
  }
  const r = res.data;
  const back = `/teams/${section.dataset.team}/lists/${section.dataset.list}`;
  out.replaceChildren(
    el("p", { class: "notice", role: "status", text: `Imported: ${r.added} new patients${r.ehr ? ` (${r.ehr} from the EHR)` : ""}, ${r.existing} the team had${r.updated ? ` (${r.updated} updated)` : ""}, ${r.columnsCreated} new columns.` }),
    el("p", {}, el("a", { href: back, text: "Open the list" })),
  );
}

if (form) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = input.files && input.files[0];
    if (!file) return;
    if (file.size > Number(section.dataset.maxBytes)) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: `The file is larger than ${Math.floor(Number(section.dataset.maxBytes) / 1048576)} MB; split it.` }));
      return;
    }
    current = { fileName: file.name, content: base64Of(await file.arrayBuffer()), preview: null, matchEhr: false, updateExisting: false };
    preview(undefined);
  });
}
