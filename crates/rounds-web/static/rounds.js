// Shared helpers of the Rounds pages: DOM building (never innerHTML with
// data), the JSON API with the CSRF header, how values are shown, the cell
// editors with the conflict choice, and the message banner. (The live feed
// is live.js.) Over 500 lines: the value display, the column-type table and
// the editor built from it are one job (a cell's value, shown and edited),
// and every page imports them with the DOM and API helpers they use.

/** Builds an element: el("a", {href, class: "x", onclick: fn}, "text", child). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "value") node.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled" || k === "hidden") node[k] = !!v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute("content") : "";
}

export class ApiError extends Error {
  constructor(status, code, message, field, conflicts) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.conflicts = conflicts;
  }
}

/** Calls the JSON API; resolves to the parsed answer (null for 204), throws ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", "Rounds cannot be reached; check the connection and try again.");
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    if (resp.status === 401) {
      throw new ApiError(401, "unauthenticated", "Your session has ended: reload the page to sign in again.");
    }
    throw new ApiError(resp.status, err.code || "error", err.message || `The server answered ${resp.status}.`, err.field, err.conflicts);
  }
  return data;
}

/** "The server says …" with a capital first letter. */
export function sentence(s) {
  s = String(s || "");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function fmtDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function fmtTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return String(iso || "");
  const today = new Date();
  if (d.toDateString() === today.toDateString()) {
    return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  return fmtDateTime(iso);
}

export function ageOf(birth) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birth || "");
  if (!m) return "";
  const now = new Date();
  let years = now.getFullYear() - Number(m[1]);
  const md = (now.getMonth() + 1) * 100 + now.getDate();
  if (md < Number(m[2]) * 100 + Number(m[3])) years -= 1;
  return years >= 0 ? String(years) : "";
}

/** The one mark of an empty value, on every page. */
export const EMPTY = "—";

const SEX_LETTER = { female: "F", male: "M", other: "X", unknown: "?" };

function val(fields, key) {
  const f = fields && fields[key];
  return f && f.value != null ? String(f.value) : "";
}

/** A valid #rrggbb or a neutral grey. */
export function safeColour(c) {
  return /^#[0-9a-fA-F]{6}$/.test(c || "") ? c : "#6b7280";
}

/** Black or white text on `hex`, whichever reads better. */
export function inkOn(hex) {
  const c = safeColour(hex);
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16) / 255);
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return lum > 0.55 ? "#111" : "#fff";
}

/** A coloured badge for a choice option (colours through the CSSOM, which the CSP allows). */
export function badge(option) {
  const b = el("span", { class: "badge", text: option.label });
  b.style.backgroundColor = safeColour(option.color);
  b.style.color = inkOn(option.color);
  return b;
}

export function memberName(members, id) {
  const m = (members || []).find((x) => x.userId === id);
  return m ? m.displayName : id ? "(former member)" : "";
}

/** The text a column shows for a patient's fields (same rules as the server). */
export function displayText(col, fields, row, members) {
  switch (col.key) {
    case "name": {
      const family = val(fields, "family");
      const given = val(fields, "given");
      if (family && given) return `${family.toUpperCase()}, ${given}`;
      return family ? family.toUpperCase() : given;
    }
    case "mrn":
      return val(fields, "mrn");
    case "ageSex":
      return `${ageOf(val(fields, "birthDate"))} ${SEX_LETTER[val(fields, "sex")] || ""}`.trim();
    case "birthDate":
      return val(fields, "birthDate");
    case "location":
      return ["ward", "room", "bed"].map((k) => val(fields, k)).filter(Boolean).join(" · ");
    case "added":
      return row && row.addedAt ? fmtDateTime(row.addedAt) : "";
    default:
      break;
  }
  const v = val(fields, col.key);
  if (!v) return "";
  const type = COLUMN_TYPES[col.type];
  return type && type.text ? type.text(col, v, members) : v;
}

/** The content of a cell: a badge for choices, text otherwise. */
export function displayNode(col, fields, row, members) {
  const type = COLUMN_TYPES[col.type];
  const node = type && type.node ? type.node(col, val(fields, col.key)) : null;
  return node || document.createTextNode(displayText(col, fields, row, members));
}

/** The patient fields behind a column, as editor specs; null when it cannot be edited. */
export function specsFor(col) {
  switch (col.key) {
    case "name":
      return [
        { key: "family", type: "text", label: "Family name", max: 100 },
        { key: "given", type: "text", label: "Given names", max: 100 },
      ];
    case "mrn":
      return [{ key: "mrn", type: "text", label: "MRN", max: 64 }];
    case "ageSex":
      return [
        { key: "sex", type: "sex", label: "Sex" },
        { key: "birthDate", type: "date", label: "Birth date" },
      ];
    case "birthDate":
      return [{ key: "birthDate", type: "date", label: "Birth date" }];
    case "location":
      return [
        { key: "ward", type: "text", label: "Ward", max: 50 },
        { key: "room", type: "text", label: "Room", max: 50 },
        { key: "bed", type: "text", label: "Bed", max: 50 },
      ];
    case "added":
      return null;
    default:
      return [{ key: col.key, type: col.type || "text", label: col.label, unit: col.unit, options: col.options || [], col }];
  }
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** A stored value as an input holds it. */
export function toInput(type, v) {
  if (v == null) return "";
  const t = COLUMN_TYPES[type];
  return t && t.toInput ? t.toInput(v) : String(v);
}

/** An input's value as the API takes it (null clears). */
export function fromInput(type, input) {
  const t = COLUMN_TYPES[type];
  if (t && t.fromInput) return t.fromInput(input);
  const v = input.value;
  return v === "" || v == null ? null : v;
}

/** A value in stored form, shown for a spec (for the conflict choice). */
export function showStored(spec, v, members) {
  if (v == null || v === "") return "(empty)";
  const col = spec.col || { key: "__", type: spec.type, options: spec.options, unit: spec.unit };
  if (spec.type === "sex" || spec.type === "text" || spec.type === "date") return String(v);
  const fields = { [col.key]: { value: v } };
  return displayText(col, fields, null, members) || String(v);
}

export function inputFor(spec, value, members, id) {
  const common = { id, name: spec.key, "aria-label": spec.label };
  if (spec.type === "sex") {
    return el(
      "select",
      common,
      ["", "female", "male", "other", "unknown"].map((s) => el("option", { value: s, selected: s === (value || ""), text: s || "—" })),
    );
  }
  return (COLUMN_TYPES[spec.type] || COLUMN_TYPES.text).input(spec, value, common, members);
}

function choiceOf(col, v) {
  return (col.options || []).find((x) => x.id === v);
}

function choiceSelect(spec, value, common) {
  const sel = el(
    "select",
    { ...common, class: "choice-select" },
    el("option", { value: "", text: "—" }),
    (spec.options || []).map((o) => {
      const opt = el("option", { value: o.id, selected: o.id === value, text: o.label });
      opt.style.backgroundColor = safeColour(o.color);
      opt.style.color = inkOn(o.color);
      return opt;
    }),
  );
  const paint = () => {
    const o = choiceOf(spec, sel.value);
    sel.style.backgroundColor = o ? safeColour(o.color) : "";
    sel.style.color = o ? inkOn(o.color) : "";
  };
  sel.addEventListener("change", paint);
  paint();
  return sel;
}

/**
 * What the browser does with each type of team column: `input` its editor
 * (spec, stored value, common attributes, members), `filter` the list
 * page's filter (text: contains…, date: from … to …, choice: is …,
 * checkbox: ticked or not); and where the type differs from plain text:
 * `text` how a value reads (col, stored value, members), `node` a cell's
 * content other than that text (null: the text), `toInput`/`fromInput`
 * between the stored value and the input's. The list of types, their
 * labels and rules (unit, options) come from the server's catalog
 * (GET /api/v1/catalog, `columnTypes`, written in rounds-core's
 * column_type.rs); a test checks that this table has an entry for each.
 */
export const COLUMN_TYPES = {
  text: {
    filter: "text",
    input: (spec, value, common) => el("input", { ...common, type: "text", maxlength: spec.max || 500, value: value || "" }),
  },
  longText: {
    filter: "text",
    input: (spec, value, common) => el("textarea", { ...common, rows: 4, maxlength: 10000, value: value || "" }),
  },
  number: {
    filter: "text",
    text: (col, v) => (col.unit ? `${v} ${col.unit}` : v),
    input: (spec, value, common) => el("input", { ...common, type: "text", inputmode: "decimal", value: value || "" }),
  },
  date: {
    filter: "date",
    input: (spec, value, common) => el("input", { ...common, type: "date", value: value || "" }),
  },
  dateTime: {
    filter: "date",
    text: (col, v) => fmtDateTime(v),
    input: (spec, value, common) => el("input", { ...common, type: "datetime-local", value: toInput("dateTime", value) }),
    toInput: (v) => {
      const d = new Date(v);
      if (isNaN(d)) return "";
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    },
    fromInput: (input) => {
      const v = input.value;
      if (v === "" || v == null) return null;
      const d = new Date(v);
      return isNaN(d) ? v : d.toISOString();
    },
  },
  choice: {
    filter: "choice",
    text: (col, v) => {
      const o = choiceOf(col, v);
      return o ? o.label : "";
    },
    node: (col, v) => {
      const o = choiceOf(col, v);
      return o ? badge(o) : null;
    },
    input: choiceSelect,
  },
  checkbox: {
    filter: "checkbox",
    text: (col, v) => (v === "true" ? "✓" : ""),
    node: (col, v) => {
      const on = v === "true";
      return el("span", { class: on ? "tick on" : "tick", role: "img", "aria-label": on ? "yes" : "no", text: on ? "✓" : EMPTY });
    },
    input: (spec, value, common) => el("input", { ...common, type: "checkbox", checked: value === "true" }),
    fromInput: (input) => input.checked,
  },
  person: {
    filter: "text",
    text: (col, v, members) => memberName(members, v),
    input: (spec, value, common, members) =>
      el(
        "select",
        common,
        el("option", { value: "", text: "—" }),
        (members || []).map((m) => el("option", { value: m.userId, selected: m.userId === value, text: m.displayName })),
      ),
  },
};

let editorCount = 0;

/**
 * An editor for some fields of one patient. `fields` are the patient's
 * fields ({key: {value, version}}) when editing starts: their versions are
 * the base of the save. `save(edits)` sends them and throws ApiError.
 * `done(savedFields | null)` closes the editor.
 */
export function makeEditor({ specs, fields, members, save, done, compact }) {
  const base = {};
  for (const s of specs) base[s.key] = fields[s.key] ? fields[s.key].version : 0;
  const inputs = {};
  const msg = el("p", { class: "form-msg", role: "status" });
  const conflictBox = el("div", { class: "conflict", hidden: true });
  const form = el("form", { class: compact ? "editor compact" : "editor" });
  const n = ++editorCount;
  for (const s of specs) {
    const id = `ed${n}-${s.key}`;
    const input = inputFor(s, fields[s.key] ? fields[s.key].value : "", members, id);
    inputs[s.key] = input;
    if (specs.length > 1 || s.type === "checkbox") {
      form.append(el("label", { for: id, class: s.type === "checkbox" ? "check" : "" }, s.type === "checkbox" ? input : null, s.label, s.type === "checkbox" ? null : input));
    } else {
      form.append(input);
    }
    if (s.unit) form.append(el("span", { class: "unit", text: s.unit }));
  }
  const saveBtn = el("button", { type: "submit", class: "small primary", text: "Save" });
  const cancelBtn = el("button", { type: "button", class: "small", text: "Cancel" });
  form.append(el("div", { class: "editor-buttons" }, saveBtn, cancelBtn), msg, conflictBox);

  const values = () => {
    const out = {};
    for (const s of specs) out[s.key] = fromInput(s.type, inputs[s.key]);
    return out;
  };

  async function send(vals, bases) {
    const edits = {};
    for (const s of specs) {
      const before = fields[s.key] ? fields[s.key].value : null;
      const now = vals[s.key];
      const same = (before ?? null) === (now === null ? null : String(now)) || ((before == null || before === "") && now === null);
      if (same && bases === base) continue;
      edits[s.key] = { value: now, baseVersion: bases[s.key] };
    }
    if (Object.keys(edits).length === 0) {
      done(null);
      return;
    }
    saveBtn.disabled = true;
    msg.textContent = "Saving…";
    try {
      const answer = await save(edits);
      msg.textContent = "";
      done(answer ? answer.fields : null);
    } catch (e) {
      saveBtn.disabled = false;
      if (e.code === "edit_conflict" && e.conflicts) {
        msg.textContent = "";
        showConflict(e.conflicts, vals);
      } else {
        msg.textContent = sentence(e.message);
        msg.className = "form-msg error";
        const bad = e.field && inputs[e.field];
        if (bad) bad.focus();
      }
    }
  }

  function showConflict(conflicts, vals) {
    conflictBox.replaceChildren();
    conflictBox.hidden = false;
    conflictBox.append(el("p", { class: "conflict-title", text: "Someone else saved this meanwhile — nothing of yours was lost. Choose:" }));
    for (const c of conflicts) {
      const spec = specs.find((s) => s.key === c.field) || { key: c.field, type: "text", label: c.field };
      const when = c.updatedAt ? fmtTime(c.updatedAt) : "";
      conflictBox.append(
        el(
          "p",
          { class: "conflict-values" },
          specs.length > 1 ? el("strong", { text: `${spec.label}: ` }) : null,
          el("span", { class: "yours", text: `Yours: ${showStored(spec, c.yours, members)}` }),
          " / ",
          el("span", { class: "saved", text: `Saved by ${c.updatedBy || "someone"}${when ? " at " + when : ""}: ${showStored(spec, c.current, members)}` }),
        ),
      );
    }
    const keep = el("button", { type: "button", class: "small primary", text: "Keep mine" });
    const take = el("button", { type: "button", class: "small", text: "Take saved" });
    keep.addEventListener("click", () => {
      const bases = { ...base };
      for (const c of conflicts) bases[c.field] = c.currentVersion;
      conflictBox.hidden = true;
      send(vals, bases);
    });
    take.addEventListener("click", () => {
      const saved = {};
      for (const c of conflicts) saved[c.field] = { value: c.current, version: c.currentVersion };
      done(saved);
    });
    conflictBox.append(el("div", { class: "editor-buttons" }, keep, take));
    keep.focus();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send(values(), base);
  });
  cancelBtn.addEventListener("click", () => done(null));
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      done(null);
    }
  });
  // A choice or a person is saved as soon as it is picked with the mouse
  // or a finger; stepping through the options with the keyboard saves
  // nothing until Enter (or Save).
  if (specs.length === 1 && (specs[0].type === "choice" || specs[0].type === "person")) {
    const sel = inputs[specs[0].key];
    let keyed = false;
    sel.addEventListener("pointerdown", () => {
      keyed = false;
    });
    sel.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        send(values(), base);
      } else if (e.key !== "Tab" && e.key !== "Escape") keyed = true;
    });
    sel.addEventListener("change", () => {
      if (!keyed) send(values(), base);
    });
  }
  form.focusFirst = () => {
    const first = inputs[specs[0].key];
    first.focus();
    if (first.select && first.type === "text") first.select();
  };
  return form;
}

/** A message banner (error, ended access) that never leaves the page blank. */
export function showBanner(text, kind) {
  const b = document.getElementById("banner");
  if (!b) return;
  b.replaceChildren();
  if (!text) {
    b.hidden = true;
    return;
  }
  b.className = `banner ${kind || "error"}`;
  b.append(el("span", { text }));
  if (kind !== "info") {
    b.append(" ", el("button", { type: "button", class: "small", text: "Reload", onclick: () => location.reload() }));
  }
  b.hidden = false;
}

/**
 * Says `text` in the page's polite live region (#announce): what changed
 * elsewhere, for screen-reader users (nothing is said twice in a row
 * without a pause, so a repeat is still read).
 */
export function announce(text) {
  const region = document.getElementById("announce");
  if (!region || !text) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

export function readJsonAttr(node, name, fallback) {
  try {
    return JSON.parse(node.getAttribute(name) || "");
  } catch (e) {
    return fallback;
  }
}
