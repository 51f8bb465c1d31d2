//! The per-patient access report page (site administrators).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::{app_error_page, message, render, PageActor};
use crate::api::access_report::{respond, AccessParams, AccessReportDto};
use crate::AppState;

pub async fn page(
    State(state): State<AppState>,
    page: PageActor,
    Query(params): Query<AccessParams>,
) -> Response {
    if let Err(err) = state
        .app
        .require_admin(&page.actor, "patientAccessReport")
        .await
    {
        return app_error_page(&state, &page.session, err);
    }
    let (me, csrf) = page.page_context();
    let asked = params.patient_id.is_some() || params.ehr_id.is_some();
    let (report, error) = if asked {
        match params.key() {
            Ok(key) => match state.app.patient_access_report(&page.actor, &key).await {
                Ok(r) => (Some(AccessReportDto::from(&r)), None),
                Err(err) => return app_error_page(&state, &page.session, err),
            },
            Err(e) => (None, Some(e.message)),
        }
    } else {
        (None, None)
    };
    render(
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
    )
}

pub async fn download(
    State(state): State<AppState>,
    page: PageActor,
    Query(params): Query<AccessParams>,
) -> Response {
    let params = AccessParams {
        format: Some("csv".into()),
        ..params
    };
    match respond(&state, &page.actor, &params).await {
        Ok(r) => r.into_response(),
        Err(e) => message(
            &state,
            Some(&page.session),
            e.status,
            "The report cannot be exported",
            &e.message,
        ),
    }
}
