//! Import of patients into a list from a CSV or Excel file: a preview,
//! then the import itself (all rows or none).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use rounds_app::import::{
    DuplicateOf, ImportPreview, ImportRequest, ImportResult, Target, MAX_FILE_BYTES, MAX_ROWS,
};
use rounds_core::lists::ColumnType;
use rounds_core::{ListId, TeamId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

/// The largest import request body: the largest file, base64-encoded, and
/// the mapping.
pub const IMPORT_BODY_LIMIT: usize = MAX_FILE_BYTES / 3 * 4 + 256 * 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewColumnDto {
    pub label: String,
    /// text, longText, number, date, dateTime, choice (options from the file's values), checkbox or person.
    pub r#type: String,
}

/// Where one of the file's columns goes: `{"column": "<key>"}`, `{"new": {...}}`, or `{}` to leave it out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingDto {
    /// `name`, `location`, a patient field (family, given, mrn, birthDate, sex, ward, room, bed) or a team column id.
    pub column: Option<String>,
    pub new: Option<NewColumnDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportBody {
    /// The file's name (its ending must fit its content).
    pub file_name: String,
    /// The file, base64-encoded.
    pub content: String,
    /// One entry per column of the file, in order; left out: matched by header name.
    pub mapping: Option<Vec<MappingDto>>,
    /// Look rows with an MRN up in the team's EHR and add matches as EHR patients.
    #[serde(default)]
    pub match_ehr: bool,
    /// Update the fields of patients the team already has (matched by MRN)
    /// from the file's filled cells; left out: their fields stay as they are.
    #[serde(default)]
    pub update_existing: bool,
}

impl ImportBody {
    fn request(&self) -> ApiResult<ImportRequest> {
        let invalid = |field: &str, message: String| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
            .with_field(field)
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.content.trim())
            .map_err(|e| invalid("content", format!("content: not base64 ({e})")))?;
        let mapping = match &self.mapping {
            None => None,
            Some(m) => Some(
                m.iter()
                    .enumerate()
                    .map(|(i, t)| match (&t.column, &t.new) {
                        (Some(_), Some(_)) => Err(invalid(
                            "mapping",
                            format!("mapping[{i}]: give column or new, not both"),
                        )),
                        (Some(c), None) => Ok(Target::Field(c.clone())),
                        (None, Some(n)) => n
                            .r#type
                            .parse::<ColumnType>()
                            .map(|kind| Target::NewColumn {
                                label: n.label.clone(),
                                kind,
                            })
                            .map_err(|e| {
                                invalid("mapping", format!("mapping[{i}]: {}", e.message))
                            }),
                        (None, None) => Ok(Target::Skip),
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
        };
        Ok(ImportRequest {
            file_name: self.file_name.clone(),
            bytes,
            mapping,
            match_ehr: self.match_ehr,
            update_existing: self.update_existing,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderDto {
    pub index: usize,
    pub header: String,
    /// The column it is mapped to (None: left out, or a new column).
    pub column: Option<String>,
    /// The new column it would make, if mapped so.
    pub new_type: Option<String>,
    /// The type a new column for it would have.
    pub guessed_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDto {
    /// The row in the file (the header is row 1); 0 for the file as a whole.
    pub row: usize,
    /// The file's column header (empty: the whole row).
    pub column: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateDto {
    pub row: usize,
    pub mrn: String,
    /// The earlier row of the file with the same MRN.
    pub of_row: Option<usize>,
    /// The team's patient with the same MRN (the row is that patient).
    pub patient_id: Option<String>,
    pub name: Option<String>,
    pub on_list: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrMatchDto {
    pub row: usize,
    pub mrn: String,
    pub ehr_id: Option<String>,
    pub name: Option<String>,
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetDto {
    pub key: String,
    pub label: String,
    pub r#type: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChangeDto {
    /// The field key or column id.
    pub key: String,
    pub label: String,
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatientUpdateDto {
    pub row: usize,
    pub patient_id: String,
    pub changes: Vec<FieldChangeDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportPreviewDto {
    /// csv or xlsx: what the file turned out to be.
    pub kind: String,
    pub rows: usize,
    pub headers: Vec<HeaderDto>,
    /// Every problem, by row and column; the import needs none.
    pub problems: Vec<ProblemDto>,
    pub duplicates: Vec<DuplicateDto>,
    pub ehr: Vec<EhrMatchDto>,
    /// The columns a header can be mapped to.
    pub targets: Vec<TargetDto>,
    /// The first rows, as text.
    pub sample: Vec<Vec<String>>,
    pub new_patients: usize,
    pub existing_patients: usize,
    /// True when the import would go through as it is.
    pub ready: bool,
    /// Whether the team has an EHR to match rows in (matchEhr).
    pub ehr_available: bool,
    /// With updateExisting: each patient the team has whose fields the file changes.
    pub updates: Vec<PatientUpdateDto>,
    pub max_rows: usize,
    pub max_bytes: usize,
}

impl From<ImportPreview> for ImportPreviewDto {
    fn from(p: ImportPreview) -> Self {
        Self {
            kind: p.kind.as_str().into(),
            rows: p.rows,
            headers: p
                .headers
                .into_iter()
                .enumerate()
                .map(|(index, h)| HeaderDto {
                    index,
                    header: h.header,
                    column: match &h.target {
                        Target::Field(k) => Some(k.clone()),
                        _ => None,
                    },
                    new_type: match &h.target {
                        Target::NewColumn { kind, .. } => Some(kind.as_str().into()),
                        _ => None,
                    },
                    guessed_type: h.guessed.as_str().into(),
                })
                .collect(),
            ready: p.problems.is_empty(),
            problems: p
                .problems
                .into_iter()
                .map(|x| ProblemDto {
                    row: x.row,
                    column: x.column,
                    message: x.message,
                })
                .collect(),
            duplicates: p
                .duplicates
                .into_iter()
                .map(|d| {
                    let (of_row, patient_id, name, on_list) = match d.of {
                        DuplicateOf::Row(r) => (Some(r), None, None, None),
                        DuplicateOf::Patient {
                            patient_id,
                            name,
                            on_list,
                        } => (
                            None,
                            Some(patient_id.to_string()),
                            Some(name),
                            Some(on_list),
                        ),
                    };
                    DuplicateDto {
                        row: d.row,
                        mrn: d.mrn,
                        of_row,
                        patient_id,
                        name,
                        on_list,
                    }
                })
                .collect(),
            ehr: p
                .ehr
                .into_iter()
                .map(|m| EhrMatchDto {
                    row: m.row,
                    mrn: m.mrn,
                    ehr_id: m.ehr_id,
                    name: m.name,
                    note: m.note,
                })
                .collect(),
            targets: p
                .targets
                .into_iter()
                .map(|t| TargetDto {
                    key: t.key,
                    label: t.label,
                    r#type: t.kind,
                })
                .collect(),
            sample: p.sample,
            new_patients: p.new_patients,
            existing_patients: p.existing_patients,
            ehr_available: p.ehr_available,
            updates: p
                .updates
                .into_iter()
                .map(|u| PatientUpdateDto {
                    row: u.row,
                    patient_id: u.patient_id.to_string(),
                    changes: u
                        .changes
                        .into_iter()
                        .map(|c| FieldChangeDto {
                            key: c.key,
                            label: c.label,
                            from: c.from,
                            to: c.to,
                        })
                        .collect(),
                })
                .collect(),
            max_rows: MAX_ROWS,
            max_bytes: MAX_FILE_BYTES,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResultDto {
    /// New patients made.
    pub added: usize,
    /// Rows that were patients the team already had (put on the list).
    pub existing: usize,
    /// Of the added, those added as EHR patients.
    pub ehr: usize,
    /// Of the existing, those whose fields were updated (updateExisting).
    pub updated: usize,
    pub columns_created: usize,
}

impl From<ImportResult> for ImportResultDto {
    fn from(r: ImportResult) -> Self {
        Self {
            added: r.added,
            existing: r.existing,
            ehr: r.ehr,
            updated: r.updated,
            columns_created: r.columns_created,
        }
    }
}

/// Preview an import (any member): the file's headers mapped to columns,
/// every cell checked, every problem by row and column, duplicate MRNs and
/// EHR matches. Writes nothing. Files: CSV (UTF-8) or .xlsx, at most
/// 2 MB and 5,000 rows.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/import/preview", operation_id = "previewImport", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = ImportBody,
    responses((status = 200, body = ImportPreviewDto), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview_import(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<ImportBody>,
) -> ApiResult<Json<ImportPreviewDto>> {
    let request = body.request()?;
    let preview = state
        .app
        .preview_import(&actor, team, list, &request)
        .await?;
    Ok(Json(preview.into()))
}

/// Import the file into the list: every row in one transaction, or, if any
/// problem remains, nothing (422 naming the first). Each patient put on the
/// list is recorded as PatientListAddPatient.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/import", operation_id = "importPatients", tag = "patients",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = ImportBody,
    responses((status = 201, body = ImportResultDto), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_patients(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<ImportBody>,
) -> ApiResult<(StatusCode, Json<ImportResultDto>)> {
    let request = body.request()?;
    let result = state
        .app
        .import_patients(&actor, team, list, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(result.into())))
}
