// I-PASS hand-off: the card of the patient page (severity, summary,
// contingency, synthesis; the action list is the Tasks card), and on the
// printable hand-off sheet the reader's local times and the Print button.
import { api, sentence, fmtDateTime } from "/static/rounds.js";

/** The patient page's I-PASS card in `root`; returns {load} for live updates. */
export function setupIpassCard({ root, apiPatient }) {
  const form = root.querySelector("form");
  const msg = form.querySelector(".form-msg");
  const stamp = root.querySelector(".ipass-stamp");
  let version = 0;
  let dirty = false;
  const fill = (h) => {
    version = h.version;
    form.severity.value = h.severity || "";
    form.summary.value = h.summary;
    form.contingency.value = h.contingency;
    form.synthesis.value = h.synthesis;
    root.dataset.severity = h.severity || "";
    stamp.textContent = h.updatedAt ? `Saved by ${h.updatedBy || "someone"}, ${fmtDateTime(h.updatedAt)}` : "Not written yet.";
    dirty = false;
  };
  async function load() {
    if (dirty) {
      msg.className = "form-msg";
      msg.textContent = "Someone else saved this hand-off meanwhile; save to keep yours, or reload to see theirs.";
      return;
    }
    try {
      fill(await api("GET", `${apiPatient}/handoff`));
    } catch (e) {
      stamp.textContent = `The hand-off could not be loaded: ${e.message}`;
    }
  }
  form.addEventListener("input", () => (dirty = true));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    msg.className = "form-msg";
    msg.textContent = "Saving…";
    try {
      fill(
        await api("PUT", `${apiPatient}/handoff`, {
          baseVersion: version,
          severity: form.severity.value || null,
          summary: form.summary.value,
          contingency: form.contingency.value,
          synthesis: form.synthesis.value,
        }),
      );
      msg.textContent = "Hand-off saved.";
    } catch (err) {
      msg.className = "form-msg error";
      msg.textContent = err.code === "edit_conflict" ? "Someone else saved this hand-off meanwhile. Copy your text, then reload." : sentence(err.message);
    }
  });
  load();
  return { load };
}

const printButton = document.getElementById("print-sheet");
if (printButton) {
  for (const t of document.querySelectorAll("time[datetime]")) t.textContent = fmtDateTime(t.getAttribute("datetime"));
  printButton.addEventListener("click", () => window.print());
}
