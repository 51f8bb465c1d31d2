//! Who may call the API: a live administration key (`Authorization:
//! Bearer rga_...`), and the audit record of each call, written when the
//! call ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::audit::AuditEntry;
use crate::Gateway;

use super::error::{ApiError, ApiResult};

/// A caller holding a live administration key; the call is audited when
/// the guard is dropped.
pub struct Admin {
    gw: Arc<Gateway>,
    entry: Option<AuditEntry>,
    started: Instant,
}

impl Drop for Admin {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.duration_ms =
                i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
            let gw = self.gw.clone();
            tokio::spawn(async move {
                if let Err(e) = gw.audit.append(&entry).await {
                    tracing::error!(error = %e, "cannot audit an admin call");
                }
            });
        }
    }
}

impl Admin {
    pub(super) fn done(&mut self, status: StatusCode) {
        if let Some(e) = self.entry.as_mut() {
            e.status = status.as_u16();
            e.outcome = if status.is_success() {
                "ok".into()
            } else {
                "refused".into()
            };
        }
    }
}

impl FromRequestParts<Arc<Gateway>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let mut entry = AuditEntry {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            client_addr: peer,
            status: 401,
            outcome: "admin_unauthenticated".into(),
            ..AuditEntry::default()
        };
        let refuse = |gw: &Arc<Gateway>, entry: AuditEntry, msg: &str| {
            let gw = gw.clone();
            tokio::spawn(async move {
                let _ = gw.audit.append(&entry).await;
            });
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", msg)
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned());
        let Some(token) = token else {
            return Err(refuse(
                gw,
                entry,
                "an administration key is required (Authorization: Bearer rga_...)",
            ));
        };
        match gw.registry.check_admin_token(&token).await {
            Ok(Some(key)) => {
                entry.client_id = Some(format!("admin:{}", key.id));
                entry.status = 200;
                entry.outcome = "ok".into();
                Ok(Admin {
                    gw: gw.clone(),
                    entry: Some(entry),
                    started: Instant::now(),
                })
            }
            Ok(None) => Err(refuse(gw, entry, "this is not a live administration key")),
            Err(e) => Err(e.into()),
        }
    }
}

pub(super) fn finish<T: IntoResponse>(admin: &mut Admin, r: ApiResult<T>) -> Response {
    let resp = match r {
        Ok(v) => v.into_response(),
        Err(e) => e.into_response(),
    };
    admin.done(resp.status());
    resp
}
