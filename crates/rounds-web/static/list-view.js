// The list page's view, kept in the address: sort (header clicks, a
// second key with Shift), filters, search; the toolbar with the chips and
// the Filter panel.
import { el, COLUMN_TYPES } from "/static/rounds.js";
import { NUMERIC_EHR } from "/static/ehr.js";
import { page, state, ui, actions } from "/static/list-store.js";
import { BUILTINS, columnsPanel, renderColumnsPanel, listPanel } from "/static/list-columns.js";

export function viewQuery() {
  const p = new URLSearchParams();
  if (state.view.sort.length) p.set("sort", state.view.sort.map((s) => (s.desc ? "-" : "") + s.key).join(","));
  for (const f of state.view.filters) p.append("filter", f);
  if (state.view.q.trim()) p.set("q", state.view.q.trim());
  return p.toString();
}

export function viewChanged() {
  const qs = viewQuery();
  history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : ""));
  const m = document.getElementById("meeting-link");
  if (m) m.href = `/teams/${page.team}/lists/${page.list}/meeting${qs ? `?${qs}` : ""}`;
  actions.load();
}

export function sortIndex(key) {
  return state.view.sort.findIndex((s) => s.key === key);
}

export function onHeaderClick(col, e) {
  const i = sortIndex(col.key);
  let sort = state.view.sort.slice();
  if (e.shiftKey) {
    if (i >= 0) sort[i] = { key: col.key, desc: !sort[i].desc };
    else sort = [sort[0], { key: col.key, desc: false }].filter(Boolean).slice(0, 2);
  } else if (i === 0 && sort.length === 1) {
    if (sort[0].desc) sort = [];
    else sort = [{ key: col.key, desc: true }];
  } else if (i >= 0) {
    sort[i] = { key: col.key, desc: !sort[i].desc };
  } else {
    sort = [{ key: col.key, desc: false }];
  }
  state.view.sort = sort;
  viewChanged();
}

export function clearView() {
  state.view = { sort: [], filters: [], q: "" };
  viewChanged();
}

function colLabel(key) {
  const c = state.data && state.data.columns.find((x) => x.key === key);
  return c ? c.label : BUILTINS[key] || "(removed column)";
}

function filterText(f) {
  const [key, op, ...rest] = f.split(":");
  let value = rest.join(":");
  const col = state.data && state.data.columns.find((x) => x.key === key);
  if (op === "is" && col && col.options) {
    const o = col.options.find((x) => x.id === value);
    if (o) value = o.label;
  }
  if (op === "checked") return `${colLabel(key)} ${value === "true" ? "ticked" : "not ticked"}`;
  // Numbers as a nurse writes them (SpO₂ ≤ 92); dates from / until.
  if (filterKind(col) === "number" && (op === "from" || op === "to")) return `${colLabel(key)} ${op === "from" ? "≥" : "≤"} ${value}`;
  const words = { contains: "contains", is: "is", from: "from", to: "until" };
  return op === "contains" ? `${colLabel(key)} contains “${value}”` : `${colLabel(key)} ${words[op] || op} ${value}`;
}

/** The sort control of a phone (the cards have no header to click). */
function sortSelect() {
  const sel = el("select", { id: "sort-select", "aria-label": "Sort by" });
  sel.addEventListener("change", () => {
    const [key, dir] = sel.value.split(":");
    state.view.sort = key ? [{ key, desc: dir === "desc" }] : [];
    viewChanged();
  });
  return el("label", { class: "sort-pick phone-only" }, el("span", { class: "sr", text: "Sort by" }), sel);
}

function renderSortSelect() {
  const sel = document.getElementById("sort-select");
  if (!sel || !state.data) return;
  if (sel === document.activeElement) return;
  const s = state.view.sort[0];
  const cur = s ? `${s.key}:${s.desc ? "desc" : "asc"}` : "";
  const opts = [el("option", { value: "", text: "In list order" })];
  for (const c of state.data.columns.filter((x) => !x.hidden)) {
    opts.push(el("option", { value: `${c.key}:asc`, text: `${c.label} ▲` }), el("option", { value: `${c.key}:desc`, text: `${c.label} ▼` }));
  }
  sel.replaceChildren(...opts);
  sel.value = cur;
}

export function renderTools() {
  const tools = document.getElementById("tools");
  if (!ui.toolsBuilt) {
    ui.toolsBuilt = true;
    const search = el("input", { type: "search", id: "search", placeholder: "Search this list", "aria-label": "Search this list", value: state.view.q });
    search.addEventListener("input", () => {
      clearTimeout(ui.searchTimer);
      ui.searchTimer = setTimeout(() => {
        state.view.q = search.value;
        viewChanged();
      }, 300);
    });
    tools.replaceChildren(
      el(
        "div",
        { class: "toolbar", id: "list-toolbar" },
        search,
        sortSelect(),
        el("span", { id: "row-count", class: "muted", role: "status" }),
        el("div", { class: "panels" }, filterPanel(), columnsPanel(), listPanel()),
        el("div", { id: "view-chips", class: "chips" }),
      ),
    );
  }
  renderSortSelect();
  renderChips();
  renderColumnsPanel();
  renderFilterOptions();
}

function renderChips() {
  const chips = document.getElementById("view-chips");
  chips.replaceChildren();
  state.view.sort.forEach((s, i) => {
    chips.append(
      el(
        "span",
        { class: "chip" },
        `${i === 0 ? "Sorted by" : "then"} ${colLabel(s.key)} ${s.desc ? "▼" : "▲"}`,
        el("button", {
          type: "button", class: "chip-x", "aria-label": `Stop sorting by ${colLabel(s.key)}`, text: "×",
          onclick: () => {
            state.view.sort.splice(i, 1);
            viewChanged();
          },
        }),
      ),
    );
  });
  state.view.filters.forEach((f, i) => {
    chips.append(
      el(
        "span",
        { class: "chip" },
        filterText(f),
        el("button", {
          type: "button", class: "chip-x", "aria-label": `Remove filter ${filterText(f)}`, text: "×",
          onclick: () => {
            state.view.filters.splice(i, 1);
            viewChanged();
          },
        }),
      ),
    );
  });
  if (state.view.sort.length || state.view.filters.length || state.view.q) {
    chips.append(el("button", { type: "button", class: "small", text: "Clear view", onclick: clearView }));
  }
}

function filterKind(col) {
  if (!col) return "text";
  if (NUMERIC_EHR.has(col.key)) return "number";
  if (col.key === "birthDate" || col.key === "added" || col.key === "encounterStart") return "date";
  const type = COLUMN_TYPES[col.type];
  return type ? type.filter : "text";
}

function filterPanel() {
  const colSel = el("select", { id: "filter-col", "aria-label": "Filter column" });
  const valueBox = el("span", { class: "filter-value" });
  const add = el("button", { type: "button", class: "small primary", text: "Add filter" });
  const msg = el("p", { class: "form-msg", role: "status" });
  const panel = el("details", { class: "panel", id: "filter-panel" }, el("summary", { text: "Filter" }), el("div", { class: "row" }, colSel, valueBox, add), msg);
  ui.filterUi = { colSel, valueBox, current: null };
  colSel.addEventListener("change", () => renderFilterValue());
  add.addEventListener("click", () => {
    const f = ui.filterUi.current && ui.filterUi.current();
    if (!f) {
      msg.textContent = "Choose a value to filter by.";
      return;
    }
    msg.textContent = "";
    state.view.filters.push(f);
    viewChanged();
  });
  return panel;
}

function renderFilterOptions() {
  if (!ui.filterUi || !state.data) return;
  const signature = JSON.stringify(state.data.columns.map((c) => [c.key, c.label, c.options]));
  if (signature === ui.filterUi.signature) return; // keep what is being typed
  ui.filterUi.signature = signature;
  const keep = ui.filterUi.colSel.value;
  ui.filterUi.colSel.replaceChildren(...state.data.columns.map((c) => el("option", { value: c.key, text: c.label, selected: c.key === keep })));
  renderFilterValue();
}

function renderFilterValue() {
  const col = state.data.columns.find((c) => c.key === ui.filterUi.colSel.value);
  const key = ui.filterUi.colSel.value;
  const box = ui.filterUi.valueBox;
  switch (filterKind(col)) {
    case "choice": {
      const sel = el("select", { "aria-label": "is" }, (col.options || []).map((o) => el("option", { value: o.id, text: o.label })));
      box.replaceChildren("is ", sel);
      ui.filterUi.current = () => (sel.value ? `${key}:is:${sel.value}` : null);
      break;
    }
    case "checkbox": {
      const sel = el("select", { "aria-label": "state" }, el("option", { value: "true", text: "ticked" }), el("option", { value: "false", text: "not ticked" }));
      box.replaceChildren(sel);
      ui.filterUi.current = () => `${key}:checked:${sel.value}`;
      break;
    }
    case "number":
    case "date": {
      const kind = filterKind(col);
      const attrs = kind === "number" ? { type: "text", inputmode: "decimal", size: 6, class: "num" } : { type: "date" };
      const from = el("input", { ...attrs, "aria-label": "from" });
      const to = el("input", { ...attrs, "aria-label": "to" });
      box.replaceChildren("from ", from, " to ", to);
      ui.filterUi.current = () => {
        const parts = [];
        if (from.value) parts.push(`${key}:from:${from.value}`);
        if (to.value) parts.push(`${key}:to:${to.value}`);
        if (!parts.length) return null;
        if (parts.length === 2) state.view.filters.push(parts.shift());
        return parts[0];
      };
      break;
    }
    default: {
      const text = el("input", { type: "text", placeholder: "contains…", "aria-label": "contains" });
      box.replaceChildren(text);
      ui.filterUi.current = () => (text.value.trim() ? `${key}:contains:${text.value.trim()}` : null);
    }
  }
}

// Columns: rename, hide/show, reorder, remove, add, save as a set.
