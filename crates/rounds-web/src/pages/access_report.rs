//! The per-patient access report page (site administrators).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use minijinja::context;

use super::{message, render, PageActor, PageResult};
use crate::api::access_report::{respond, AccessParams, AccessReportDto};
use crate::AppState;

pub async fn page(
    State(state): State<AppState>,
    page: PageActor,
    Query(params): Query<AccessParams>,
) -> PageResult {
    state
        .app
        .require_admin(&page.actor, "patientAccessReport")
        .await?;
    let (me, csrf) = page.page_context();
    let asked = params.patient_id.is_some() || params.ehr_id.is_some();
    let (report, error) = if asked {
        match params.key() {
            Ok(key) => {
                let report = state.app.patient_access_report(&page.actor, &key).await?;
                (Some(AccessReportDto::from(&report)), None)
            }
            Err(e) => (None, Some(e.message)),
        }
    } else {
        (None, None)
    };
    Ok(render(
        &state,
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "admin_patient_access.html",
        context! {
            me, csrf, section => "audit",
            patient_id => params.patient_id.clone().unwrap_or_default(),
            ehr_id => params.ehr_id.clone().unwrap_or_default(),
            report, error,
        },
    ))
}

pub async fn download(
    State(state): State<AppState>,
    page: PageActor,
    Query(params): Query<AccessParams>,
) -> PageResult {
    let params = AccessParams {
        format: Some("csv".into()),
        ..params
    };
    Ok(match respond(&state, &page.actor, &params).await {
        Ok(r) => r.into_response(),
        Err(e) => message(
            &state,
            Some(&page.session),
            e.status,
            "The report cannot be exported",
            &e.message,
        ),
    })
}
