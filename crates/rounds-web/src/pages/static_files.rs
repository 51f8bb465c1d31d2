//! The style sheet and the page scripts built into the binary, and the
//! route that serves them (under their content-hashed names, see
//! [`super::assets`]).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{assets, not_found_page};

/// The style sheet and the page scripts, built into the binary. Scripts
/// are files (the Content-Security-Policy allows no inline script).
pub(super) const STATIC_FILES: [(&str, &str, &str); 33] = [
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    ),
    (
        "rounds.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/rounds.js"),
    ),
    (
        "list.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list.js"),
    ),
    (
        "patient.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient.js"),
    ),
    (
        "meeting.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/meeting.js"),
    ),
    (
        "ehr.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/ehr.js"),
    ),
    (
        "connection.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/connection.js"),
    ),
    (
        "team.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/team.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/live.js"),
    ),
    (
        "list-store.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-store.js"),
    ),
    (
        "list-view.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-view.js"),
    ),
    (
        "list-table.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-table.js"),
    ),
    (
        "list-edit.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-edit.js"),
    ),
    (
        "list-rows.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-rows.js"),
    ),
    (
        "list-columns.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-columns.js"),
    ),
    (
        "list-ehr.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-ehr.js"),
    ),
    (
        "patient-store.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-store.js"),
    ),
    (
        "patient-notes.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-notes.js"),
    ),
    (
        "patient-ehr.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-ehr.js"),
    ),
    (
        "patient-summary.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-summary.js"),
    ),
    // Data in and out of a list (export, print, import).
    (
        "data-link.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/data-link.js"),
    ),
    (
        "data.css",
        "text/css; charset=utf-8",
        include_str!("../../static/data.css"),
    ),
    (
        "import.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/import.js"),
    ),
    (
        "print.css",
        "text/css; charset=utf-8",
        include_str!("../../static/print.css"),
    ),
    (
        "print.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/print.js"),
    ),
    (
        "tasks.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/tasks.js"),
    ),
    (
        "my-tasks.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/my-tasks.js"),
    ),
    (
        "alerts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/alerts.js"),
    ),
    (
        "ipass.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/ipass.js"),
    ),
    (
        "handoff-team.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/handoff-team.js"),
    ),
    (
        "shift-handoff.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/shift-handoff.js"),
    ),
    (
        "since-looked.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/since-looked.js"),
    ),
    (
        "handoff.css",
        "text/css; charset=utf-8",
        include_str!("../../static/handoff.css"),
    ),
];

pub(super) async fn static_file(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    match assets::assets().find(&file) {
        Some((asset, hashed)) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (
                    header::CACHE_CONTROL,
                    if hashed {
                        assets::HASHED_CACHE
                    } else {
                        assets::PLAIN_CACHE
                    },
                ),
            ],
            asset.body.clone(),
        )
            .into_response(),
        None => not_found_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::STATIC_FILES;

    /// Every script a page loads, and every module a script imports, is in
    /// the table as JavaScript: a missing entry leaves a page without its
    /// script (the browser refuses a module served as anything else).
    #[test]
    fn every_imported_script_is_served_as_javascript() {
        let served = |name: &str| {
            STATIC_FILES
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, content_type, _)| *content_type)
        };
        let templates = crate::pages::templates();
        let mut wanted: Vec<String> = Vec::new();
        for (name, body) in STATIC_FILES.iter().map(|(n, _, b)| (*n, *b)) {
            if name.ends_with(".js") {
                wanted.extend(
                    body.split("from \"/static/")
                        .skip(1)
                        .filter_map(|rest| rest.split('"').next().map(str::to_owned)),
                );
            }
        }
        for (name, _) in templates.templates() {
            let source = templates
                .get_template(name)
                .map(|t| t.source().to_owned())
                .unwrap_or_default();
            wanted.extend(
                source
                    .split("src=\"/static/")
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next().map(str::to_owned)),
            );
        }
        assert!(wanted.len() > 20, "found only {wanted:?}");
        for file in &wanted {
            assert_eq!(
                served(file),
                Some("text/javascript; charset=utf-8"),
                "/static/{file} is imported but not served as JavaScript"
            );
        }
    }
}
