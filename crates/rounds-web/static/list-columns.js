// The list page's Columns and List panels: rename, hide/show, reorder and
// remove columns, show a built-in or EHR column again, add a team column,
// save the columns as a set; rename the list.
import { el, api, sentence, showBanner } from "/static/rounds.js";
import { CATALOG, EHR_COLUMNS, isEhrColumn } from "/static/ehr.js";
import { page, state, ui, actions, ehrOn } from "/static/list-store.js";

export const BUILTINS = { name: "Name", mrn: "MRN", ageSex: "Age/sex", birthDate: "Born", location: "Location", added: "Added", tasks: "Tasks" };

/** What a column's short label means (the header's tooltip). */
const HINTS = {
  mrn: "Medical record number",
  ageSex: "Age in years and sex (F female, M male, X other)",
  location: "Ward, room and bed",
  added: "When the patient was added to this list",
  heartRate: "Heart rate, beats per minute (bpm), the latest reading and its age",
  bloodPressure: "Blood pressure, systolic/diastolic in mmHg, the latest reading",
  respiratoryRate: "Respiratory rate, breaths per minute, the latest reading",
  temperature: "Body temperature in °C, the latest reading",
  spo2: "Oxygen saturation by pulse oximetry (SpO₂), %, the latest reading",
  weight: "Body weight, the latest measurement",
  height: "Body height, the latest measurement",
  bmi: "Body mass index, kg/m²",
  conditions: "Active problems (conditions) in the EHR",
  allergies: "Allergies and intolerances recorded in the EHR",
  medications: "Active medication orders in the EHR",
  coverage: "Insurance coverage",
  gp: "General practitioner",
  encounterStatus: "Status of the current encounter (admission)",
  encounterType: "Type of the current encounter",
  encounterStart: "When the current admission began",
  tasks: "Open tasks of the patient and the next one due",
  news2: "National Early Warning Score 2, from the EHR's vital signs",
};

/** The tooltip of a column's header: what its label means, and where it comes from. */
export function columnHint(col) {
  const hint = HINTS[col.key];
  if (hint) return hint;
  if (col.builtin || isEhrColumn(col)) return "";
  const type = typeOf(col.type);
  return `${col.label}: the team's own column${type ? ` (${type.label.toLowerCase()})` : ""}`;
}
/** The team column types, from the server: [{type, label, takesUnit, takesOptions}]. */
const TYPES = CATALOG.columnTypes;
const typeOf = (name) => TYPES.find((t) => t.type === name);
const DEFAULT_OPTION_COLOURS = ["#1f7a3d", "#d39e00", "#c0392b", "#2563eb", "#6b7280"];

export function columnsPanel() {
  ui.columnsList = el("ol", { class: "col-list" });
  const builtinSel = el("select", { id: "builtin-add", "aria-label": "Column to show" });
  const builtinLabel = el("span", { text: "Show a column the team has:" });
  const builtinAdd = el("button", { type: "button", class: "small", text: "Show" });
  builtinAdd.addEventListener("click", () => {
    if (builtinSel.value) columnCall(() => api("POST", `${page.apiList}/columns`, { key: builtinSel.value }));
  });
  const panel = el(
    "details",
    { class: "panel", id: "columns-panel" },
    el("summary", { text: "Columns" }),
    ui.columnsList,
    el("div", { class: "row builtin-row" }, builtinLabel, builtinSel, builtinAdd),
    newColumnForm(),
    saveSetForm(),
  );
  ui.columnsList.builtinSel = builtinSel;
  ui.columnsList.builtinLabel = builtinLabel;
  return panel;
}

async function columnCall(call, okText) {
  try {
    await call();
    if (okText) showBanner(okText, "info");
    await actions.load();
    return true;
  } catch (e) {
    showBanner(sentence(e.message));
    return false;
  }
}

export function renderColumnsPanel() {
  if (!ui.columnsList || !state.data) return;
  // Never throw away a label being typed: wait for the next render. (A
  // focused button is redrawn, and focused again below: its click must act
  // on the columns as they are now.)
  const focused = ui.columnsList.contains(document.activeElement) ? document.activeElement : null;
  if (focused && focused.tagName !== "BUTTON") return;
  const focusAct = focused ? focused.dataset.act : null;
  const cols = state.data.columns;
  ui.columnsList.replaceChildren(
    ...cols.map((c, i) => {
      const li = el("li", { class: c.hidden ? "col-item hidden-col" : "col-item" });
      const path = `${page.apiList}/columns/${encodeURIComponent(c.key)}`;
      if (c.builtin || isEhrColumn(c)) li.append(...[el("span", { class: "col-name", text: c.label }), isEhrColumn(c) ? el("span", { class: "muted small", text: "from the EHR" }) : null].filter(Boolean));
      else {
        const input = el("input", { value: c.label, "aria-label": `Label of ${c.label}`, maxlength: 100 });
        const save = el("button", { type: "button", class: "small", "data-act": `${c.key}:rename`, text: "Rename" });
        save.addEventListener("click", () => columnCall(() => api("PATCH", path, { label: input.value }), "Column renamed."));
        li.append(el("span", { class: "col-name" }, input, save), el("span", { class: "muted small", text: typeLabel(c) }));
      }
      li.append(
        el(
          "span",
          { class: "acts" },
          el("button", { type: "button", class: "small", "data-act": `${c.key}:left`, "aria-label": `Move ${c.label} left`, text: "←", disabled: i === 0, onclick: () => columnCall(() => api("PATCH", path, { position: i - 1 })) }),
          el("button", { type: "button", class: "small", "data-act": `${c.key}:right`, "aria-label": `Move ${c.label} right`, text: "→", disabled: i === cols.length - 1, onclick: () => columnCall(() => api("PATCH", path, { position: i + 1 })) }),
          el("button", { type: "button", class: "small", "data-act": `${c.key}:hide`, text: c.hidden ? "Show" : "Hide", onclick: () => columnCall(() => api("PATCH", path, { hidden: !c.hidden })) }),
          c.key === "name" ? null : el("button", { type: "button", class: "small danger", text: "Remove", onclick: () => columnCall(() => api("DELETE", path), `Column “${c.label}” removed from this list.`) }),
        ),
      );
      return li;
    }),
  );
  if (focusAct) {
    const again = ui.columnsList.querySelector(`button[data-act="${CSS.escape(focusAct)}"]`);
    if (again && !again.disabled) again.focus();
  }
  const missing = Object.keys(BUILTINS).filter((k) => !cols.some((c) => c.key === k));
  const ehrMissing = ehrOn() ? EHR_COLUMNS.filter(([k]) => !cols.some((c) => c.key === k)) : [];
  const teamMissing = page.teamColumns.filter((t) => !cols.some((c) => c.key === t.key));
  const keep = ui.columnsList.builtinSel.value;
  const options = [];
  if (teamMissing.length) options.push(el("optgroup", { label: "The team's columns" }, teamMissing.map((t) => el("option", { value: t.key, text: t.label, selected: t.key === keep }))));
  if (missing.length) options.push(el("optgroup", { label: "Built-in" }, missing.map((k) => el("option", { value: k, text: BUILTINS[k], selected: k === keep }))));
  if (ehrMissing.length) options.push(el("optgroup", { label: "From the EHR" }, ehrMissing.map(([k, l]) => el("option", { value: k, text: l, selected: k === keep }))));
  if (!options.length) options.push(el("option", { value: "", text: "(all shown)" }));
  ui.columnsList.builtinSel.replaceChildren(...options);
  ui.columnsList.builtinLabel.textContent = "Show a column the team has:";
}

function typeLabel(c) {
  const t = typeOf(c.type);
  return (t ? t.label : c.type || "") + (c.unit ? ` (${c.unit})` : "");
}

function newColumnForm() {
  const label = el("input", { name: "label", maxlength: 100, required: true, "aria-label": "Column label", placeholder: "e.g. Status" });
  const type = el("select", { name: "type", "aria-label": "Column type" }, TYPES.map((t) => el("option", { value: t.type, text: t.label })));
  const unit = el("input", { name: "unit", maxlength: 20, placeholder: "e.g. mmHg", "aria-label": "Unit" });
  const unitLabel = el("label", { class: "short", hidden: true }, "Unit", unit);
  const options = el("ol", { class: "options" });
  const addOpt = el("button", { type: "button", class: "small", text: "+ Option" });
  const optBox = el("div", { class: "options-box", hidden: true }, el("p", { class: "muted small", text: "Options, in the order they sort:" }), options, addOpt);
  const msg = el("p", { class: "form-msg", role: "status" });
  const addOption = (text) => {
    const colour = el("input", { type: "color", value: DEFAULT_OPTION_COLOURS[options.children.length % DEFAULT_OPTION_COLOURS.length], "aria-label": "Colour" });
    const optLabel = el("input", { maxlength: 100, value: text || "", placeholder: "Option", "aria-label": "Option label" });
    const del = el("button", { type: "button", class: "small", "aria-label": "Remove option", text: "×" });
    const li = el("li", {}, colour, optLabel, del);
    del.addEventListener("click", () => li.remove());
    options.append(li);
  };
  addOpt.addEventListener("click", () => addOption(""));
  type.addEventListener("change", () => {
    const t = typeOf(type.value);
    unitLabel.hidden = !(t && t.takesUnit);
    optBox.hidden = !(t && t.takesOptions);
    if (t && t.takesOptions && !options.children.length) ["", "", ""].forEach(addOption);
  });
  const form = el(
    "form",
    { class: "new-column", id: "new-column" },
    el("h3", { text: "New column" }),
    el("div", { class: "row" }, el("label", {}, "Label", label), el("label", { class: "role" }, "Type", type), unitLabel),
    optBox,
    el("button", { type: "submit", class: "small primary", text: "Add column" }),
    msg,
  );
  let confirmedLabel = null; // a second column of an existing name, once confirmed
  label.addEventListener("input", () => {
    confirmedLabel = null;
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { label: label.value, type: type.value };
    if (confirmedLabel !== null && confirmedLabel === body.label) body.allowSameLabel = true;
    const same = page.teamColumns.find((t) => t.label.trim().toLowerCase() === body.label.trim().toLowerCase());
    if (same && confirmedLabel !== body.label) {
      const shown = state.data && state.data.columns.some((c) => c.key === same.key);
      const show = el("button", { type: "button", class: "small primary", text: `Show the team's “${same.label}”` });
      show.addEventListener("click", async () => {
        if (await columnCall(() => api("POST", `${page.apiList}/columns`, { key: same.key }), `Column “${same.label}” shown.`)) {
          label.value = "";
          msg.replaceChildren();
        }
      });
      const anyway = el("button", { type: "button", class: "small", text: "Make a second one" });
      anyway.addEventListener("click", () => {
        confirmedLabel = body.label;
        form.requestSubmit();
      });
      msg.className = "form-msg warn";
      msg.replaceChildren(
        ...[el("span", { text: `The team already has a column “${same.label}”${shown ? " (on this list)" : ""}. A new one would be a second, separate “${body.label}” with its own values. ` }), shown ? null : show, " ", anyway].filter((x) => x !== null),
      );
      (shown ? anyway : show).focus();
      return;
    }
    const t = typeOf(type.value);
    if (t && t.takesUnit && unit.value.trim()) body.unit = unit.value.trim();
    if (t && t.takesOptions) {
      body.options = [...options.children]
        .map((li) => ({ label: li.querySelector("input:not([type=color])").value.trim(), color: li.querySelector("input[type=color]").value }))
        .filter((o) => o.label);
    }
    msg.textContent = "Adding…";
    msg.className = "form-msg";
    try {
      const added = await api("POST", `${page.apiList}/columns`, body);
      if (added && added.key && !page.teamColumns.some((t) => t.key === added.key)) page.teamColumns.push({ key: added.key, label: added.label || body.label, type: body.type });
      confirmedLabel = null;
      msg.textContent = `Column “${body.label}” added.`;
      label.value = "";
      unit.value = "";
      options.replaceChildren();
      type.value = "text";
      type.dispatchEvent(new Event("change"));
      await actions.load();
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
    }
  });
  return form;
}

function saveSetForm() {
  const name = el("input", { maxlength: 100, required: true, "aria-label": "Name of the column set", placeholder: "e.g. ICU columns" });
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el("form", { class: "row save-set" }, el("label", {}, "Save these columns as a set", name), el("button", { type: "submit", class: "small", text: "Save set" }), msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `${page.apiTeam}/schemas`, { name: name.value, fromListId: page.list });
      msg.textContent = `Saved “${name.value}”: new lists of the team can start from it.`;
      msg.className = "form-msg";
      name.value = "";
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
    }
  });
  return form;
}

export function listPanel() {
  const name = el("input", { maxlength: 100, required: true, "aria-label": "List name", value: page.root.querySelector("#list-name").textContent });
  const msg = el("p", { class: "form-msg", role: "status" });
  const form = el("form", { class: "row" }, name, el("button", { type: "submit", class: "small", text: "Rename list" }), msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PATCH", page.apiList, { name: name.value });
      msg.textContent = "Renamed.";
      msg.className = "form-msg";
      actions.load();
    } catch (err) {
      msg.textContent = sentence(err.message);
      msg.className = "form-msg error";
    }
  });
  return el("details", { class: "panel" }, el("summary", { text: "List" }), form);
}
