// The team's EHR connection page. Owners set it (name, base URL,
// authentication, batch mode), test it before or after saving, and
// disconnect it; members see only its name and health. Secrets are
// write-only: the page never receives them back.
import { el, api, sentence, fmtDateTime, fmtTime, showBanner } from "/static/rounds.js";
import { healthText } from "/static/ehr.js";

const root = document.getElementById("ehr-app");
const TEAM = root.dataset.team;
const IS_OWNER = root.dataset.owner === "true";
const apiConn = `/api/v1/teams/${TEAM}/ehr-connection`;
const $ = (id) => document.getElementById(id);

let conn = null; // the last getEhrConnection / setEhrConnection answer

// ---------------------------------------------------------------- health

function renderHealth() {
  const box = $("ehr-health");
  const parts = [el("h2", { text: "Status" })];
  if (!conn || !conn.connected) {
    parts.push(
      el("p", { class: "ehr-health-line" }, el("span", { class: "ehr-dot unknown", "aria-hidden": "true" }), el("strong", { text: "Not connected." })),
      el("p", { class: "muted", text: IS_OWNER ? "Patients are typed in by hand. Fill in the form below to connect the team’s EHR: its patients can then be searched and added to lists, with live EHR columns." : "Patients are typed in by hand. An owner of the team can connect the team’s EHR." }),
    );
  } else {
    const [state, text] = healthText(conn.health);
    parts.push(
      el("p", { class: "ehr-health-line", id: "ehr-health-line", "data-state": state }, el("span", { class: `ehr-dot ${state}`, "aria-hidden": "true" }), el("strong", { id: "ehr-conn-name", text: conn.name || "EHR" }), " — ", el("span", { text })),
    );
    if (IS_OWNER && conn.updatedAt) parts.push(el("p", { class: "muted small", text: `Set ${fmtDateTime(conn.updatedAt)}${conn.updatedBy ? ` by ${conn.updatedBy}` : ""}.` }));
  }
  box.replaceChildren(...parts);
}

// ---------------------------------------------------------------- the form (owners)

const form = $("ehr-form");

function authKind() {
  const r = form.querySelector("input[name=authKind]:checked");
  return r ? r.value : "none";
}

function showAuth() {
  const kind = authKind();
  for (const box of form.querySelectorAll(".auth-fields")) box.hidden = box.dataset.auth !== kind;
}

function val(id) {
  const n = $(id);
  return n ? n.value.trim() : "";
}

/** The form as setEhrConnection / testEhrConnection take it. */
function formBody(newKey) {
  const kind = authKind();
  const auth = { kind };
  if (kind === "clientCredentials") {
    auth.clientId = val("cc-clientId");
    const secret = $("cc-clientSecret").value; // as typed: secrets may have spaces
    if (secret) auth.clientSecret = secret;
    auth.method = $("cc-method").value;
    if (val("cc-scope")) auth.scope = val("cc-scope");
    if (val("cc-tokenUrl")) auth.tokenUrl = val("cc-tokenUrl");
  } else if (kind === "backendServices") {
    auth.clientId = val("bs-clientId");
    if (val("bs-scope")) auth.scope = val("bs-scope");
    if (val("bs-tokenUrl")) auth.tokenUrl = val("bs-tokenUrl");
    if (newKey) auth.newKey = true;
  }
  return { name: val("f-name"), baseUrl: val("f-baseUrl"), auth, batchMode: $("f-batchMode").value, batchShape: val("f-batchShape") || "auto" };
}

/** "In use: one batch Bundle (measured …)" for a batchShape answer. */
function shapeText(shape) {
  if (!shape || !shape.description) return "";
  const how = { fixed: "fixed here", measured: shape.measuredAt ? `measured ${fmtDateTime(shape.measuredAt)}` : "measured", default: "not measured yet" }[shape.source] || shape.source;
  return `In use: ${shape.description} (${how}).`;
}

function fillForm() {
  const c = conn && conn.connected ? conn : null;
  const a = (c && c.auth) || { kind: "none" };
  $("f-name").value = (c && c.name) || "";
  $("f-baseUrl").value = (c && c.baseUrl) || "";
  for (const r of form.querySelectorAll("input[name=authKind]")) r.checked = r.value === a.kind;
  const cc = a.kind === "clientCredentials";
  const bs = a.kind === "backendServices";
  $("cc-clientId").value = cc ? a.clientId || "" : "";
  $("cc-clientSecret").value = "";
  $("cc-clientSecret").placeholder = cc && a.hasSecret ? "saved — leave empty to keep" : "";
  $("cc-method").value = cc && a.method === "post" ? "post" : "basic";
  $("cc-scope").value = cc ? a.scope || "" : "";
  $("cc-tokenUrl").value = cc ? a.tokenUrl || "" : "";
  $("bs-clientId").value = bs ? a.clientId || "" : "";
  $("bs-scope").value = bs ? a.scope || "" : "";
  $("bs-tokenUrl").value = bs ? a.tokenUrl || "" : "";
  const jwks = bs && a.publicJwks ? JSON.stringify(a.publicJwks, null, 2) : "";
  $("jwks").value = jwks;
  $("jwks-copy").disabled = !jwks;
  $("jwks-kid").textContent = bs && a.keyId ? `Key id (kid): ${a.keyId}` : "";
  $("new-key").hidden = !(bs && a.publicJwks);
  $("f-batchMode").value = (c && c.batchMode) || "auto";
  const shape = c && c.batchShape;
  $("f-batchShape").value = (shape && shape.setting) || "auto";
  $("f-batchShape-now").textContent = shapeText(shape);
  if (c && ((c.batchMode && c.batchMode !== "auto") || (shape && shape.setting !== "auto"))) form.querySelector("details.advanced").open = true;
  $("ehr-disconnect").hidden = !c;
  $("ehr-disconnect").open = false;
  $("ehr-save").textContent = c ? "Save changes" : "Save and connect";
  showAuth();
}

function clearErrors() {
  for (const m of form.querySelectorAll(".field-msg")) m.textContent = "";
  for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
}

/** Puts an API error next to the field it names (else under the buttons). */
function showError(e, fallbackMsg) {
  const field = (e.field || "").split(".").pop();
  const visible = (n) => n && !n.closest("[hidden]");
  const input = field ? [...form.querySelectorAll(`[data-field="${CSS.escape(field)}"]`)].find(visible) : null;
  const slot = field ? [...form.querySelectorAll(`.field-msg[data-for="${CSS.escape(field)}"]`)].find(visible) : null;
  const text = sentence(e.message);
  if (slot) {
    slot.textContent = text;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    fallbackMsg.textContent = "Check the highlighted field.";
  } else {
    fallbackMsg.textContent = text;
  }
  fallbackMsg.className = "form-msg error";
}

function localCheck(body) {
  if (!body.baseUrl) return { field: "baseUrl", message: "Give the FHIR server’s base URL." };
  if (!/^https?:\/\//i.test(body.baseUrl)) return { field: "baseUrl", message: "The base URL starts with https:// (or http:// on a closed network)." };
  if (body.auth.kind !== "none" && !body.auth.clientId) return { field: "clientId", message: "Give the client id the EHR registered for Rounds." };
  return null;
}

async function save(newKey) {
  clearErrors();
  const msg = $("ehr-form-msg");
  const body = formBody(newKey);
  const bad = body.name ? localCheck(body) : { field: "name", message: "Give the connection a name people recognise, e.g. the hospital’s EHR." };
  if (bad) {
    showError(bad, msg);
    return;
  }
  msg.className = "form-msg";
  msg.textContent = newKey ? "Making a new key pair…" : "Saving…";
  $("ehr-save").disabled = true;
  try {
    conn = await api("PUT", apiConn, body);
    fillForm();
    renderHealth();
    msg.className = "form-msg ok";
    msg.textContent = newKey
      ? "New key pair made and saved. Register the new public key with the EHR."
      : body.auth.kind === "backendServices" && conn.auth && conn.auth.publicJwks
        ? "Saved. Register the public key above with the EHR if you have not yet."
        : "Saved. The team’s lists can now search and add patients from the EHR.";
  } catch (e) {
    showError(e, msg);
  } finally {
    $("ehr-save").disabled = false;
  }
}

// ---------------------------------------------------------------- test

/** The resources Rounds reads (the medications in one of three forms). */
const USED = ["Patient", "Encounter", "Observation", "Condition", "AllergyIntolerance", "MedicationRequest", "MedicationStatement", "MedicationOrder", "Coverage"];
const MEDICATIONS = ["MedicationRequest", "MedicationStatement", "MedicationOrder"];
const OUTCOME = { pass: ["pass", "✓ pass"], fail: ["fail", "✗ fail"], notOffered: ["not-offered", "– not offered"], not_offered: ["not-offered", "– not offered"] };
const AUTH_WORDS = { none: "none", client_secret_basic: "client credentials (HTTP Basic)", client_secret_post: "client credentials (in the form)", private_key_jwt: "SMART Backend Services (signed key)" };

function yesNo(v) {
  return v ? "yes" : "no";
}

function renderTest(t) {
  const box = $("ehr-test");
  box.hidden = false;
  const checks = t.checks || [];
  const counts = { pass: 0, fail: 0, notOffered: 0 };
  for (const c of checks) {
    const k = c.outcome === "not_offered" ? "notOffered" : c.outcome;
    counts[k] = (counts[k] || 0) + 1;
  }
  const parts = [
    el("h2", { text: "Test result" }),
    el(
      "p",
      { class: t.ok ? "test-verdict ok" : "test-verdict fail", id: "test-verdict" },
      t.ok ? `✓ The connection works${t.version ? `: FHIR ${t.version}${t.fhirVersion ? ` (${t.fhirVersion})` : ""}` : ""}.` : "✗ The connection does not work yet.",
    ),
  ];
  if (t.error) parts.push(el("p", { class: "error", id: "test-error", text: sentence(t.error) }));
  const facts = [
    ["FHIR version", t.version ? `${t.version}${t.fhirVersion ? ` (${t.fhirVersion})` : ""}` : "unknown"],
    ["Authentication", AUTH_WORDS[t.auth] || t.auth || "—"],
  ];
  if (t.tokenObtained != null && t.auth && t.auth !== "none") facts.push(["Token obtained", yesNo(t.tokenObtained)]);
  facts.push(["Batch", t.batch ? "yes: several queries go as one request" : "no: one request per query"]);
  facts.push(["Patient search", yesNo(t.patientSearch)]);
  if (t.batchShape && t.batchShape.description) {
    const tried = (t.batchShape.trials || []).map((x) => `${x.shape} ${x.micros != null ? `${(x.micros / 1000).toFixed(0)} ms` : "failed"}`).join(", ");
    facts.push(["Fastest way to send many queries", `${t.batchShape.description}${tried ? ` (on a few patients: ${tried})` : ""}`]);
  }
  const offered = t.resources || [];
  const used = USED.filter((r) => offered.includes(r));
  const lacking = USED.filter((r) => !offered.includes(r) && !(MEDICATIONS.includes(r) && MEDICATIONS.some((m) => offered.includes(m))));
  facts.push(["Offered", used.length ? used.join(", ") : "—"]);
  if (lacking.length && offered.length) facts.push(["Not offered", `${lacking.join(", ")} (shown as missing, never as an error)`]);
  const others = offered.filter((r) => !USED.includes(r));
  parts.push(el("dl", { class: "test-facts" }, facts.map(([k, v]) => el("div", { "data-fact": k }, el("dt", { text: k }), el("dd", { text: v })))));
  if (others.length) parts.push(el("details", { class: "checks" }, el("summary", { text: `${others.length} other resource types offered (Rounds does not read them)` }), el("p", { class: "muted small", text: others.join(", ") })));
  if (checks.length) {
    const summary = `Checks: ${counts.pass} pass, ${counts.fail || 0} fail, ${counts.notOffered || 0} not offered`;
    const rows = checks.map((c) => {
      const [cls, word] = OUTCOME[c.outcome] || ["", c.outcome];
      return el("tr", { class: `check-${cls}` }, el("td", { "data-label": "Result" }, el("span", { class: `outcome ${cls}`, text: word })), el("td", { "data-label": "Check", text: [c.section ? `§${String(c.section).replace(/^§/, "")}` : "", c.title || c.id].filter(Boolean).join(" ") }), el("td", { "data-label": "Detail", class: "detail", text: c.detail || "" }));
    });
    parts.push(
      el(
        "details",
        { class: "checks", open: counts.fail > 0 },
        el("summary", { text: summary }),
        el("div", { class: "scroll" }, el("table", { class: "grid checks-table" }, el("thead", {}, el("tr", {}, el("th", { text: "Result" }), el("th", { text: "Check" }), el("th", { text: "Detail" }))), el("tbody", {}, rows))),
      ),
    );
  }
  box.replaceChildren(...parts);
}

async function test() {
  clearErrors();
  const msg = $("ehr-form-msg");
  const body = formBody(false);
  if (!body.name) body.name = "test";
  const bad = localCheck(body);
  if (bad) {
    showError(bad, msg);
    return;
  }
  const btn = $("ehr-test-btn");
  btn.disabled = true;
  msg.className = "form-msg";
  msg.textContent = "Testing: reading the server’s metadata, signing in, searching…";
  try {
    const t = await api("POST", `${apiConn}/test`, body);
    msg.textContent = t.ok ? "Test done: the connection works. Save it to use it." : "Test done: see what went wrong below.";
    msg.className = t.ok ? "form-msg ok" : "form-msg error";
    renderTest(t);
    $("ehr-test").scrollIntoView({ block: "nearest" });
  } catch (e) {
    showError(e, msg);
  } finally {
    btn.disabled = false;
  }
}

async function disconnect() {
  const msg = $("ehr-form-msg");
  try {
    await api("DELETE", apiConn);
    conn = { connected: false };
    fillForm();
    renderHealth();
    $("ehr-test").hidden = true;
    msg.className = "form-msg ok";
    msg.textContent = "Disconnected. The team’s lists keep their patients, fields and notes.";
  } catch (e) {
    msg.className = "form-msg error";
    msg.textContent = sentence(e.message);
  }
}

async function copyJwks() {
  const text = $("jwks").value;
  const msg = $("jwks-msg");
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    // Not a secure context (plain http on a network): select it instead.
    const area = $("jwks");
    area.focus();
    area.select();
    const ok = document.execCommand && document.execCommand("copy");
    if (!ok) {
      msg.className = "form-msg";
      msg.textContent = "Selected: copy it with Ctrl+C (or ⌘C).";
      return;
    }
  }
  msg.className = "form-msg ok";
  msg.textContent = `Copied at ${fmtTime(new Date().toISOString())}.`;
}

if (form) {
  for (const r of form.querySelectorAll("input[name=authKind]")) r.addEventListener("change", showAuth);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    save(false);
  });
  $("ehr-test-btn").addEventListener("click", test);
  $("ehr-disconnect-yes").addEventListener("click", disconnect);
  $("jwks-copy").addEventListener("click", copyJwks);
  $("new-key-yes").addEventListener("click", () => {
    $("new-key").open = false;
    save(true);
  });
  form.addEventListener("input", (e) => {
    if (e.target.hasAttribute("aria-invalid")) e.target.removeAttribute("aria-invalid");
  });
}

async function start() {
  try {
    conn = await api("GET", apiConn);
  } catch (e) {
    showBanner(`The connection could not be loaded: ${e.message}`);
    conn = null;
  }
  renderHealth();
  if (form && conn) fillForm();
}

start();
