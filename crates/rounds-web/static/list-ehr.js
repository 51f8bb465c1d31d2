// EHR mode on the list page: the status line and the outage banner, the
// polling while EHR cells load (and every minute after), the on-demand
// refresh, the EHR search panel that adds patients, and linking a patient
// typed in by hand to their EHR record.
import { el, api, sentence, fmtTime } from "/static/rounds.js";
import { makeEhrSearch, confirmLink, linkPatient } from "/static/ehr.js";
import { page, state, ui, actions, ehrOn, rowName } from "/static/list-store.js";

/** While cells are still loading: poll again soon; otherwise refresh every minute. */
export function scheduleEhrPoll() {
  clearTimeout(ui.pollTimer);
  ui.lastLoadAt = Date.now();
  if (!ehrOn() || actions.liveStopped()) return;
  const pending = !!state.data.ehr.pending;
  ui.pendingPolls = pending ? ui.pendingPolls + 1 : 0;
  const wait = pending ? (ui.pendingPolls > 20 ? 5000 : 1500) : 60000;
  ui.pollTimer = setTimeout(() => {
    if (document.visibilityState === "hidden" && !pending) return; // caught up on return
    actions.load();
  }, wait);
}

/** Back on a tab left for over a minute: read the EHR columns again. */
export function watchEhrOnReturn() {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && ehrOn() && Date.now() - ui.lastLoadAt > 60000) actions.load();
  });
}

async function refreshEhr() {
  if (state.refreshing) return;
  state.refreshing = true;
  renderEhr();
  try {
    await actions.load({ refresh: true });
  } finally {
    state.refreshing = false;
    renderEhr();
  }
}

export function renderEhr() {
  const ehr = state.data && state.data.ehr;
  const banner = document.getElementById("ehr-banner");
  const status = document.getElementById("ehr-status");
  const on = ehrOn();
  // The outage banner: the EHR columns degrade, nothing else does.
  if (banner) {
    const bad = on && (ehr.state === "degraded" || ehr.state === "down");
    banner.hidden = !bad;
    if (bad) {
      const since = ehr.since ? ` (since ${fmtTime(ehr.since)})` : "";
      const what = ehr.state === "down" ? `The EHR is not answering${since}.` : `The EHR is answering only in part${since}.`;
      const last = ehr.lastGoodRead ? ` Showing the last good read from ${fmtTime(ehr.lastGoodRead)}.` : " No EHR data could be read yet.";
      banner.replaceChildren(
        el("span", { class: "ehr-banner-text" }, el("strong", { text: what }), last, " Team fields and notes keep working.", ehr.message ? el("span", { class: "muted small ehr-banner-detail", text: ` (${ehr.message})` }) : null),
        el("button", { type: "button", class: "small", text: state.refreshing ? "Refreshing…" : "Refresh EHR data", disabled: state.refreshing, onclick: refreshEhr }),
      );
    }
  }
  if (status) {
    status.hidden = !on;
    if (on) {
      const outage = ehr.state === "degraded" || ehr.state === "down"; // the banner has the button then
      const read = ehr.lastGoodRead ? `read ${fmtTime(ehr.lastGoodRead)}` : "";
      status.replaceChildren(
        el("span", { class: `ehr-dot ${ehr.state || "ok"}`, "aria-hidden": "true" }),
        el("span", { class: "ehr-status-text", title: ehr.message || "" }, `EHR${ehr.name ? `: ${ehr.name}` : ""}`, read ? el("span", { class: "muted", text: ` · ${read}` }) : null, ehr.pending ? el("span", { class: "muted", text: " · loading…" }) : null),
        // replaceChildren would print a null as "null".
        ...(outage ? [] : [el("button", { type: "button", class: "small", id: "ehr-refresh", "aria-label": state.refreshing ? "Refreshing the EHR data" : "Refresh EHR data", title: "Read the EHR columns again now", disabled: state.refreshing, onclick: refreshEhr }, el("span", { "aria-hidden": "true", text: "↻ " }), state.refreshing ? "Refreshing…" : "Refresh")]),
      );
    }
  }
  renderEhrSearch();
}

// The search panel: adds patients from the EHR, or (in link mode) finds
// the record of a patient typed in by hand.
function ehrSearchAction(r, redraw) {
  const linking = state.linking;
  if (linking) {
    if (r.patientId && r.patientId !== linking.patientId) {
      return el("span", { class: "muted small", text: "Already a patient of the team" });
    }
    const b = el("button", { type: "button", class: "small primary", text: "Link…" });
    b.addEventListener("click", () => doLink(r, b));
    return b;
  }
  if (r.onList) return el("span", { class: "on-list", text: "✓ On this list" });
  const b = el("button", { type: "button", class: "small primary", text: r.patientId ? "Add to this list" : "Add", "aria-label": `Add ${r.name || r.ehrId} to this list` });
  b.addEventListener("click", async () => {
    b.disabled = true;
    b.textContent = "Adding…";
    try {
      await api("POST", `${page.apiList}/patients`, { ehrId: r.ehrId });
      ui.ehrSearch.update(r.ehrId, { onList: true });
      ehrMsg(`${r.name || "Patient"} added.`, "ok");
      await actions.load();
    } catch (e) {
      b.disabled = false;
      b.textContent = "Add";
      ehrMsg(sentence(e.message), "error");
    }
    redraw();
  });
  return b;
}

function ehrMsg(text, kind) {
  const m = document.getElementById("ehr-search-msg");
  if (!m) return;
  m.textContent = text;
  m.className = `form-msg ${kind || ""}`;
}

function renderEhrSearch() {
  const slot = document.getElementById("ehr-search-slot");
  if (!slot) return;
  if (!ehrOn()) {
    slot.replaceChildren();
    ui.ehrPanel = null;
    return;
  }
  if (!ui.ehrPanel) {
    ui.ehrSearch = makeEhrSearch({ path: () => `${page.apiList}/ehr-search`, action: ehrSearchAction });
    const summary = el("summary", { id: "ehr-search-title", text: "Add from EHR" });
    const linkBar = el("div", { class: "link-bar", hidden: true });
    ui.ehrPanel = el("details", { class: "card add-patient ehr-search-card", id: "ehr-search" }, summary, linkBar, ui.ehrSearch.node, el("p", { class: "form-msg", id: "ehr-search-msg", role: "status" }));
    ui.ehrPanel.summaryNode = summary;
    ui.ehrPanel.linkBar = linkBar;
    slot.replaceChildren(ui.ehrPanel);
    if (state.data && !state.data.total) {
      ui.ehrPanel.open = true;
      const manual = document.getElementById("add-patient");
      if (manual) manual.open = false;
    }
    const manualSummary = document.querySelector("#add-patient > summary");
    if (manualSummary) manualSummary.textContent = "Add a patient by hand";
  }
  const l = state.linking;
  ui.ehrPanel.classList.toggle("linking", !!l);
  ui.ehrPanel.summaryNode.textContent = l ? `Link ${l.name} to the EHR` : "Add from EHR";
  ui.ehrPanel.linkBar.hidden = !l;
  if (l) {
    ui.ehrPanel.linkBar.replaceChildren(
      el("p", {}, "Find ", el("strong", { text: l.name }), "’s record in the EHR, then choose Link. The team’s fields and notes are kept."),
      el("button", { type: "button", class: "small", text: "Cancel linking", onclick: stopLinking }),
    );
  }
}

function manualSummary(row) {
  const v = (k) => (row.fields[k] && row.fields[k].value) || "";
  return { name: rowName(row) || "(no name)", mrn: v("mrn"), birthDate: v("birthDate"), gender: v("sex") };
}

export function startLinking(row) {
  state.openMenu = null;
  state.linking = { patientId: row.patientId, ...manualSummary(row) };
  actions.render();
  ui.ehrPanel.open = true;
  const v = (k) => (row.fields[k] && row.fields[k].value) || "";
  ui.ehrSearch.fill({ family: v("family"), given: v("given"), birthDate: v("birthDate") });
  ehrMsg("");
  ui.ehrSearch.redraw();
  ui.ehrPanel.scrollIntoView({ block: "start", behavior: "smooth" });
  ui.ehrSearch.focus();
  if (v("family") || v("given") || v("birthDate")) ui.ehrSearch.run();
}

function stopLinking() {
  state.linking = null;
  ui.ehrSearch.clear();
  ehrMsg("");
  renderEhrSearch();
}

async function doLink(r, button) {
  const l = state.linking;
  if (!l) return;
  const ok = await confirmLink(l, { name: r.name, mrn: r.mrn, birthDate: r.birthDate, gender: r.gender });
  if (!ok) return;
  button.disabled = true;
  try {
    await linkPatient(page.team, l.patientId, r.ehrId);
    state.linking = null;
    ui.ehrSearch.clear();
    ehrMsg(`${l.name} is now linked to the EHR record of ${r.name || r.ehrId}.`, "ok");
    await actions.load();
  } catch (e) {
    button.disabled = false;
    ehrMsg(sentence(e.message), "error");
  }
}
