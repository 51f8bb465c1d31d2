// The EHR card of the patient page: the patient's EHR data with its
// status, read again every minute and when the link changes; "Read again"
// and "Unlink…"; for a patient typed in by hand, the search that links them
// to their EHR record.
import { el, api, sentence, fmtTime, showBanner } from "/static/rounds.js";
import { makeEhrSearch, confirmLink, linkPatient } from "/static/ehr.js";
import { g, joined, personName, renderSummary } from "/static/patient-summary.js";
import { page, state } from "/static/patient-store.js";

const REREAD_MS = 60000;
const ehrCard = document.getElementById("ehr-card");
const grid = document.getElementById("patient-grid");

/**
 * Reads the patient (with the EHR part) and draws the EHR card when what it
 * shows changed; resolves to the patient, null when it could not be read.
 */
export async function loadEhr(refresh = false) {
  clearTimeout(state.ehrTimer);
  let p;
  let conn = null;
  try {
    [p, conn] = await Promise.all([api("GET", refresh ? `${page.apiPatient}?refresh=true` : page.apiPatient), api("GET", `${page.apiTeam}/ehr-connection`).catch(() => null)]);
  } catch (e) {
    showBanner(`The EHR data could not be loaded: ${e.message}`);
    return null;
  }
  const seen = JSON.stringify([p.ehr, conn && conn.connected, conn && conn.name]);
  if (seen === state.ehrShown && !refresh) {
    readAgainLater(p.ehr);
    return p;
  }
  state.ehrShown = seen;
  if (!p.ehr) {
    // Typed in by hand (or unlinked elsewhere): the team's fields alone.
    grid.classList.remove("has-ehr");
    document.getElementById("details-title").textContent = "Details";
    if (conn && conn.connected) renderLinkCard(p, conn);
    else ehrCard.hidden = true;
    return p;
  }
  drawEhr(p.ehr, conn);
  readAgainLater(p.ehr);
  return p;
}

/**
 * A linked patient's EHR data is read again: soon while it is still being
 * read, then every minute while the page is seen.
 */
function readAgainLater(ehr) {
  if (!ehr) return;
  if (!ehr.summary) {
    const reading = ehr.state === "pending" || !ehr.state || ehr.state === "ok";
    if (reading && state.ehrPolls++ < 40) state.ehrTimer = setTimeout(loadEhr, state.ehrPolls > 10 ? 5000 : 1500);
    return;
  }
  state.ehrTimer = setTimeout(() => {
    if (document.visibilityState === "hidden") {
      document.addEventListener("visibilitychange", () => loadEhr(), { once: true });
    } else loadEhr();
  }, REREAD_MS);
}

function drawEhr(ehr, conn) {
  grid.classList.add("has-ehr");
  ehrCard.classList.remove("link-card");
  ehrCard.hidden = false;
  document.getElementById("details-title").textContent = "The team’s fields";
  const summary = ehr.summary;
  const head = el(
    "div",
    { class: "ehr-head" },
    el("h2", { id: "ehr-title" }, "From the EHR ", el("span", { class: "ehr-badge", text: "EHR" })),
    el(
      "p",
      { class: "muted small" },
      el("span", { text: joined(conn && conn.name ? conn.name : "", ehr.fetchedAt ? `read ${fmtTime(ehr.fetchedAt)}` : "") }),
      el("button", { type: "button", class: "small", id: "ehr-reload", text: "Read again", onclick: () => loadEhr(true) }),
      unlinkControl(),
    ),
  );
  const parts = [head];
  if (ehr.state === "otherServer") parts.push(el("p", { class: "ehr-reason failed", text: ehr.reason || "This patient was added from another EHR server than the team's current connection; their EHR data cannot be read." }));
  else if (ehr.state === "failed") parts.push(el("p", { class: "ehr-reason failed", text: `The EHR record could not be read: ${ehr.reason || "no reason given"}. The team’s fields and notes keep working.` }));
  if (summary) {
    parts.push(el("div", { class: "ehr-sections" }, renderSummary(summary)));
    const h1 = document.getElementById("patient-name");
    const nm = personName(g(summary, "patient"));
    if (nm && h1.firstChild && /^\(no name\)\s*$/.test(h1.firstChild.textContent)) h1.firstChild.textContent = `${nm} `;
  } else if (ehr.state === "pending" || !ehr.state || ehr.state === "ok") {
    parts.push(el("p", { class: "muted", text: "Still reading the EHR…" }));
  }
  ehrCard.replaceChildren(...parts);
}

/** "Unlink…": the patient becomes one typed in by hand again (the team's fields and notes stay). */
function unlinkControl() {
  const yes = el("button", { type: "button", class: "small danger", text: "Yes, unlink from the EHR record" });
  const box = el("details", { class: "confirm" }, el("summary", { text: "Unlink…" }), el("p", { class: "small", text: "The patient stays on their lists with the team’s fields and notes, but shows no EHR data until linked again." }), yes);
  yes.addEventListener("click", async () => {
    try {
      await api("DELETE", `${page.apiPatient}/ehr-link`);
      location.reload();
    } catch (e) {
      showBanner(sentence(e.message));
    }
  });
  return box;
}

function renderLinkCard(p, conn) {
  ehrCard.hidden = false;
  ehrCard.classList.add("link-card");
  const lists = p.lists || [];
  const v = (k) => (p.fields && p.fields[k] && p.fields[k].value) || "";
  const name = (p.display && p.display.name) || document.getElementById("patient-name").firstChild.textContent.trim();
  const parts = [
    el("h2", { id: "ehr-title", text: "EHR" }),
    el("p", {}, `This patient was typed in by hand. If they have a record in the team’s EHR${conn.name ? ` (${conn.name})` : ""}, link it: its data then shows here and in the lists. The team’s fields and notes are kept.`),
  ];
  if (!lists.length) {
    parts.push(el("p", { class: "muted", text: "Put the patient on one of the team’s lists to search the EHR from here." }));
    ehrCard.replaceChildren(...parts);
    return;
  }
  const msg = el("p", { class: "form-msg", role: "status" });
  const search = makeEhrSearch({
    path: () => `${page.apiTeam}/lists/${lists[0].id}/ehr-search`,
    action: (r) => {
      if (r.patientId && r.patientId !== page.patient) return el("span", { class: "muted small", text: "Already a patient of the team" });
      const b = el("button", { type: "button", class: "small primary", text: "Link…" });
      b.addEventListener("click", async () => {
        const manual = { name, mrn: v("mrn"), birthDate: v("birthDate"), gender: v("sex") };
        if (!(await confirmLink(manual, { name: r.name, mrn: r.mrn, birthDate: r.birthDate, gender: r.gender }))) return;
        b.disabled = true;
        msg.className = "form-msg";
        msg.textContent = "Linking…";
        try {
          await linkPatient(page.team, page.patient, r.ehrId);
          location.reload();
        } catch (e) {
          b.disabled = false;
          msg.className = "form-msg error";
          msg.textContent = sentence(e.message);
        }
      });
      return b;
    },
  });
  const box = el("div", { class: "link-search", hidden: true }, search.node, msg);
  const start = el("button", { type: "button", id: "link-ehr", text: "Link to EHR…" });
  start.addEventListener("click", () => {
    box.hidden = false;
    start.hidden = true;
    search.fill({ family: v("family"), given: v("given"), birthDate: v("birthDate") });
    search.focus();
    if (v("family") || v("given") || v("birthDate")) search.run();
  });
  parts.push(start, box);
  ehrCard.replaceChildren(...parts);
}
