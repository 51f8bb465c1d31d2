//! Data in and out of a list: the page offering the exports and the
//! import, the downloads themselves, and the printable sheet.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use minijinja::context;
use rounds_app::export::{CellValue, ListFormat};
use rounds_core::{ListId, TeamId};
use serde::Serialize;

use super::{message, render, PageActor, PageError, PagePath, PageResult};
use crate::api::dto::TeamDto;
use crate::api::export::{download, format_of, run};
use crate::api::lists::view_spec;
use crate::AppState;

/// The view part of a query (sort, filter, q), as it came.
fn view_query(query: Option<&str>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .filter(|(k, _)| matches!(k.as_ref(), "sort" | "filter" | "q")),
        )
        .finish()
}

pub async fn data_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let detail = state.app.get_team(&page.actor, team).await?;
    let lists = state.app.list_lists(&page.actor, team).await?;
    let Some(this) = lists.iter().find(|l| l.id == list) else {
        return Err(PageError::NoSuch("list"));
    };
    let view_error = view_spec(query.as_deref()).err().map(|e| e.message);
    let view = view_query(query.as_deref());
    let (me, csrf) = page.page_context();
    Ok(render(
        &state,
        StatusCode::OK,
        "list_data.html",
        context! {
            me, csrf,
            section => "teams",
            team => TeamDto::from(&detail.team),
            list => crate::api::lists::ListDto::from(this),
            view,
            view_error,
            limits => context! {
                bytes => rounds_app::import::MAX_FILE_BYTES,
                rows => rounds_app::import::MAX_ROWS,
            },
        },
    ))
}

/// `/teams/{teamId}/lists/{listId}/export?format=…`: the download.
pub async fn export_download(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let result = async {
        let format = format_of(query.as_deref(), false)?;
        run(&state, &page.actor, team, list, query.as_deref(), format).await
    }
    .await;
    Ok(match result {
        Ok(export) => download(export),
        Err(e) => message(
            &state,
            Some(&page.session),
            e.status,
            "The export did not work",
            &e.message,
        ),
    })
}

#[derive(Serialize)]
struct PrintCell {
    text: String,
    at: Option<String>,
    kind: &'static str,
}

/// `/teams/{teamId}/lists/{listId}/print`: the sheet to print (A4 or
/// Letter, landscape), recorded as an export.
pub async fn print_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let paper = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "paper")
        .map_or("a4".to_owned(), |(_, v)| v.into_owned());
    if paper != "a4" && paper != "letter" {
        return Ok(message(
            &state,
            Some(&page.session),
            StatusCode::UNPROCESSABLE_ENTITY,
            "The sheet cannot be printed",
            "paper: use a4 or letter",
        ));
    }
    let export = match run(
        &state,
        &page.actor,
        team,
        list,
        query.as_deref(),
        ListFormat::Print,
    )
    .await
    {
        Ok(e) => e,
        Err(e) => {
            return Ok(message(
                &state,
                Some(&page.session),
                e.status,
                "The sheet cannot be printed",
                &e.message,
            ))
        }
    };
    let sheet = &export.sheet;
    let rows: Vec<Vec<PrintCell>> = sheet
        .rows
        .iter()
        .map(|row| {
            row.cells
                .iter()
                .map(|c| PrintCell {
                    text: match &c.value {
                        CellValue::Bool(true) => "✓".to_owned(),
                        CellValue::DateTime(t) => t.to_rfc3339().replace('T', " "),
                        _ => c.text.clone(),
                    },
                    at: c.at.clone(),
                    kind: match c.value {
                        CellValue::Number(_) => "number",
                        _ => "text",
                    },
                })
                .collect()
        })
        .collect();
    let (me, csrf) = page.page_context();
    let printed_at = sheet.exported_at.to_rfc3339();
    Ok(render(
        &state,
        StatusCode::OK,
        "list_print.html",
        context! {
            me, csrf,
            paper,
            list_name => sheet.list_name,
            headers => sheet.columns.iter().map(|c| c.header()).collect::<Vec<_>>(),
            rows,
            shown => sheet.rows.len(),
            total => sheet.total,
            view => sheet.view,
            printed_by => sheet.exported_by,
            printed_at => printed_at.replace('T', " ").replace('Z', " UTC"),
            back => format!("/teams/{team}/lists/{list}/data?{}", view_query(query.as_deref())),
        },
    ))
}
