//! Reading the log: search by client, tenant and time, and export as CSV,
//! JSON lines or a FHIR Bundle of AuditEvents.

use crate::error::{GatewayError, Result};

use super::{record_from_row, Audit, AuditRecord, COLUMNS};

impl AuditRecord {
    /// The record as a FHIR R4 AuditEvent.
    pub fn to_audit_event(&self, gateway_url: &str) -> serde_json::Value {
        let recorded =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.at) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
        let outcome = match self.status {
            200..=399 => "0",
            400..=499 => "4",
            _ => "8",
        };
        let action = match self.method.as_str() {
            "POST" if self.path.ends_with("_search") => "E",
            "GET" | "HEAD" => "R",
            "POST" => "C",
            "PUT" | "PATCH" => "U",
            "DELETE" => "D",
            _ => "E",
        };
        let mut entity = serde_json::json!([]);
        if let Some(t) = &self.resource_type {
            entity = serde_json::json!([{"what": {"display": self.path}, "type": {"system": "http://hl7.org/fhir/resource-types", "code": t}}]);
        }
        serde_json::json!({
            "resourceType": "AuditEvent",
            "id": format!("gateway-{}", self.seq),
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
            "action": action,
            "recorded": recorded,
            "outcome": outcome,
            "outcomeDesc": format!("HTTP {} ({}), {} ms", self.status, self.outcome, self.duration_ms),
            "agent": [{
                "who": {"identifier": {"system": format!("{gateway_url}/clients"), "value": self.client_id.clone().unwrap_or_else(|| "unknown".into())}},
                "requestor": true,
                "network": self.client_addr.as_ref().map(|a| serde_json::json!({"address": a, "type": "2"})),
            }],
            "source": {"site": self.tenant_id, "observer": {"display": "Rounds gateway"}},
            "entity": entity,
            "extension": [{"url": "urn:rounds:gateway:audit-chain", "valueString": format!("{} {} {}", self.seq, self.prev_hash, self.hash)}],
        })
    }
}

/// Filters for [`Audit::search`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this client.
    pub client_id: Option<String>,
    /// Only this tenant.
    pub tenant_id: Option<String>,
    /// At or after, Unix milliseconds.
    pub since: Option<i64>,
    /// Before, Unix milliseconds.
    pub until: Option<i64>,
    /// At most this many (newest first); all when absent.
    pub limit: Option<i64>,
}

impl Audit {
    /// Records matching `filter`, newest first.
    pub async fn search(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let mut sql = format!("SELECT {COLUMNS} FROM gateway_audit WHERE 1 = 1");
        let mut texts: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let mut n = 0;
        let mut binds: Vec<bool> = Vec::new(); // true: text
        if let Some(c) = &filter.client_id {
            n += 1;
            sql.push_str(&format!(" AND client_id = ${n}"));
            texts.push(c.clone());
            binds.push(true);
        }
        if let Some(t) = &filter.tenant_id {
            n += 1;
            sql.push_str(&format!(" AND tenant_id = ${n}"));
            texts.push(t.clone());
            binds.push(true);
        }
        if let Some(s) = filter.since {
            n += 1;
            sql.push_str(&format!(" AND at >= ${n}"));
            ints.push(s);
            binds.push(false);
        }
        if let Some(u) = filter.until {
            n += 1;
            sql.push_str(&format!(" AND at < ${n}"));
            ints.push(u);
            binds.push(false);
        }
        sql.push_str(" ORDER BY seq DESC");
        if let Some(l) = filter.limit {
            sql.push_str(&format!(" LIMIT {}", l.clamp(1, 100_000)));
        }
        let mut query = sqlx::query(&sql);
        let (mut ti, mut ii) = (texts.into_iter(), ints.into_iter());
        for is_text in binds {
            query = if is_text {
                query.bind(ti.next().unwrap_or_default())
            } else {
                query.bind(ii.next().unwrap_or_default())
            };
        }
        let mut conn = self.db.read().await?;
        let rows = query.fetch_all(&mut *conn).await?;
        rows.iter().map(record_from_row).collect()
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
    /// A FHIR R4 Bundle (collection) of AuditEvents.
    Fhir,
}

/// Writes `records` in `format`.
pub fn export(
    records: &[AuditRecord],
    format: ExportFormat,
    gateway_url: &str,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let io = |e: std::io::Error| GatewayError::Corrupt(format!("cannot write the export: {e}"));
    match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            for r in records {
                w.serialize(r)
                    .map_err(|e| GatewayError::Corrupt(format!("cannot write the export: {e}")))?;
            }
            w.flush().map_err(io)?;
        }
        ExportFormat::JsonLines => {
            for r in records {
                let line =
                    serde_json::to_string(r).map_err(|e| GatewayError::Corrupt(e.to_string()))?;
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        ExportFormat::Fhir => {
            let entries: Vec<serde_json::Value> = records
                .iter()
                .map(|r| serde_json::json!({"resource": r.to_audit_event(gateway_url)}))
                .collect();
            let bundle = serde_json::json!({"resourceType": "Bundle", "type": "collection", "total": entries.len(), "entry": entries});
            writeln!(out, "{bundle}").map_err(io)?;
        }
    }
    Ok(())
}
