// The gateway's admin page: a thin client of /admin/api/v1. Everything
// shown is put in with textContent (never as HTML).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let key = sessionStorage.getItem("gateway-admin-key") || "";

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + key } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch("/admin/api/v1" + path, opts);
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) {
      const msg = data && data.error ? data.error.message : "HTTP " + r.status;
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return data;
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function button(label, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    // Each action is audited: show the log as it is now.
    b.addEventListener("click", () => onClick().then(loadAudit).catch(show));
    return b;
  }

  function show(e) {
    if (e.status === 401) {
      $("console").hidden = true;
      $("signin").hidden = false;
      $("key-error").textContent = e.message;
      return;
    }
    $("error").textContent = e.message;
  }

  function when(ms) {
    return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "never";
  }

  function showSecret(s) {
    const box = $("new-secret");
    box.hidden = false;
    box.textContent = "New secret for " + s.clientId + " (shown only now): " + s.clientSecret + "  (secret id " + s.secretId + ")";
  }

  async function loadClients() {
    const clients = await api("GET", "/clients");
    const body = $("clients");
    body.replaceChildren();
    for (const c of clients) {
      const tr = document.createElement("tr");
      cell(tr, c.name);
      cell(tr, c.clientId, "mono");
      cell(tr, c.tenants.join(", "));
      const secrets = cell(tr, "");
      for (const s of c.secrets) {
        const line = document.createElement("div");
        line.className = "mono";
        line.textContent = s.secretId.slice(0, 8) + " " + (s.revokedAt ? "revoked" : s.live ? "live, expires " + when(s.expiresAt) : "expired") + " ";
        if (s.live) line.appendChild(button("Revoke", async () => { await api("DELETE", "/clients/" + c.clientId + "/secrets/" + s.secretId); await loadClients(); }));
        secrets.appendChild(line);
      }
      cell(tr, c.disabled ? "disabled" : "enabled");
      const actions = cell(tr, "");
      actions.appendChild(button("New secret", async () => { showSecret(await api("POST", "/clients/" + c.clientId + "/secrets", {})); await loadClients(); }));
      actions.appendChild(button(c.disabled ? "Enable" : "Disable", async () => { await api("PATCH", "/clients/" + c.clientId, { disabled: !c.disabled }); await loadClients(); }));
      actions.appendChild(button("Delete", async () => { if (confirm("Delete client " + c.name + "?")) { await api("DELETE", "/clients/" + c.clientId); await loadClients(); } }));
      body.appendChild(tr);
    }
  }

  async function loadTenants() {
    const tenants = await api("GET", "/tenants");
    const body = $("tenants");
    body.replaceChildren();
    for (const t of tenants) {
      const tr = document.createElement("tr");
      cell(tr, t.tenantId, "mono");
      cell(tr, t.baseUrl, "mono");
      cell(tr, t.fhirVersion);
      cell(tr, t.auth.kind + (t.hasSecret ? " (secret sealed)" : ""));
      cell(tr, t.allowWrites ? "allowed" : "read-only");
      const actions = cell(tr, t.origin === "config" ? "from the configuration file" : "");
      if (t.origin !== "config") actions.appendChild(button("Remove", async () => { if (confirm("Remove tenant " + t.tenantId + "?")) { await api("DELETE", "/tenants/" + encodeURIComponent(t.tenantId)); await loadTenants(); } }));
      body.appendChild(tr);
    }
  }

  async function loadAudit() {
    const v = await api("GET", "/audit/verify");
    $("audit-state").textContent = v.intact ? "Hash chain intact: " + v.records + " records." : "Hash chain BROKEN: " + v.break;
    const recs = await api("GET", "/audit?limit=50");
    const body = $("audit");
    body.replaceChildren();
    for (const r of recs) {
      const tr = document.createElement("tr");
      cell(tr, String(r.seq));
      cell(tr, when(r.at), "when");
      cell(tr, r.client_id || "-", "mono");
      cell(tr, r.tenant_id || "-");
      cell(tr, r.method + " " + r.path, "mono");
      cell(tr, String(r.status));
      cell(tr, r.outcome);
      body.appendChild(tr);
    }
  }

  async function loadAll() {
    $("error").textContent = "";
    await loadClients();
    await loadTenants();
    await loadAudit();
    $("signin").hidden = true;
    $("console").hidden = false;
  }

  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    key = $("key").value.trim();
    sessionStorage.setItem("gateway-admin-key", key);
    $("key-error").textContent = "";
    loadAll().catch(show);
  });

  $("client-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const tenants = $("client-tenants").value.split(",").map((t) => t.trim()).filter(Boolean);
    api("POST", "/clients", { name: $("client-name").value, tenants })
      .then((r) => { showSecret(r.secret); ev.target.reset(); return loadClients(); })
      .then(loadAudit)
      .catch(show);
  });

  $("tenant-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const kind = $("tenant-auth").value;
    const auth = { kind };
    if (kind === "basic") auth.username = $("tenant-user").value;
    if (kind === "client_credentials") auth.client_id = $("tenant-user").value;
    const body = { baseUrl: $("tenant-base").value, fhirVersion: $("tenant-version").value, auth, allowWrites: $("tenant-writes").checked };
    if (kind !== "none") body.secret = $("tenant-secret").value;
    api("PUT", "/tenants/" + encodeURIComponent($("tenant-id").value.trim()), body)
      .then(() => { ev.target.reset(); return loadTenants(); })
      .then(loadAudit)
      .catch(show);
  });

  if (key) loadAll().catch(show);
})();
