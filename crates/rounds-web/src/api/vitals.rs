//! The catalog for the browser (EHR columns and vital signs with their
//! labels and units, the team column types: the pages keep no copy of
//! their own), the flag of an abnormal value as
//! the API writes it, and a team's reference ranges.

use axum::extract::State;
use axum::Json;
use rounds_app::{VitalRangeSpec, VitalRangeView};
use rounds_core::lists::{ColumnType, EhrColumn};
use rounds_core::vitals::{News2, News2Part, Range, Vital, VitalFlag};
use rounds_core::TeamId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

/// Why a cell is flagged: a value outside its range, or an early-warning
/// score above low risk. Shown with colour, the symbol and the text.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlagDto {
    /// high or low (a vital sign), risk (NEWS2).
    pub kind: &'static str,
    /// ▲ or ▼ (NEWS2: ▲, ▲▲, ▲▲▲ by band).
    pub symbol: &'static str,
    /// "high (60–100 bpm)", "medium risk (NEWS2 5–6); partial: …".
    pub text: String,
}

impl FlagDto {
    pub fn of_vital(f: &VitalFlag) -> Self {
        Self {
            kind: f.flag.as_str(),
            symbol: f.flag.symbol(),
            text: f.text(),
        }
    }

    /// `None` for low risk (not flagged).
    pub fn of_news2(n: &News2) -> Option<Self> {
        n.risk.is_flagged().then(|| Self {
            kind: "risk",
            symbol: n.risk.symbol(),
            text: n.risk_text(),
        })
    }
}

/// A range; either end may be open (null).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RangeDto {
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// "60–100 bpm".
    pub text: String,
}

impl RangeDto {
    fn of(vital: Vital, r: &Range) -> Self {
        Self {
            low: r.low,
            high: r.high,
            text: r.text(vital.short_unit()),
        }
    }
}

/// One vital sign of the catalog.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VitalSignDto {
    /// heartRate, respiratoryRate, temperature, spo2, systolic, diastolic, weight, height, bmi, headCircumference.
    pub key: &'static str,
    /// "Heart rate".
    pub name: &'static str,
    /// "HR".
    pub abbreviation: &'static str,
    /// "bpm".
    pub unit: &'static str,
    /// LOINC codes, the preferred first.
    pub loinc: &'static [&'static str],
    /// The adult reference range used unless a team sets its own.
    pub default_range: Option<RangeDto>,
}

/// One column a list can show from the EHR.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrColumnDto {
    /// The column key (heartRate, bloodPressure, news2, conditions, ...).
    pub key: &'static str,
    /// The header: "HR".
    pub label: &'static str,
    /// What the header means (its tooltip): "Heart rate".
    pub description: &'static str,
    /// number (sorted and filtered as numbers) or text.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A part of NEWS2.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct News2PartDto {
    pub key: &'static str,
    pub name: &'static str,
}

/// A type a team column can have.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnTypeDto {
    /// text, longText, number, date, dateTime, choice, checkbox, person.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What the pages call it: "Date and time".
    pub label: &'static str,
    /// A column of the type may have a unit.
    pub takes_unit: bool,
    /// A column of the type has options (at least one).
    pub takes_options: bool,
    /// The import page offers a new column of the type.
    pub offered_on_import: bool,
}

impl ColumnTypeDto {
    fn of(t: ColumnType) -> Self {
        Self {
            kind: t.as_str(),
            label: t.label(),
            takes_unit: t.takes_unit(),
            takes_options: t.takes_options(),
            offered_on_import: t.offered_on_import(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogDto {
    /// The team column types, in the order the column form offers them.
    pub column_types: Vec<ColumnTypeDto>,
    pub ehr_columns: Vec<EhrColumnDto>,
    pub vitals: Vec<VitalSignDto>,
    pub news2_parts: Vec<News2PartDto>,
}

/// The catalog of team column types, EHR columns and vital signs: keys,
/// labels, what they mean, units, column types and default reference
/// ranges. The pages take their labels and column types from here.
#[utoipa::path(get, path = "/api/v1/catalog", operation_id = "getCatalog", tag = "ehr",
    security(("session" = [])),
    responses((status = 200, body = CatalogDto), (status = 401, body = ErrorBody)))]
pub async fn get_catalog(ApiActor(_actor): ApiActor) -> Json<CatalogDto> {
    let defaults = rounds_core::vitals::ReferenceRanges::default();
    Json(CatalogDto {
        column_types: ColumnType::ALL.into_iter().map(ColumnTypeDto::of).collect(),
        ehr_columns: EhrColumn::ALL
            .into_iter()
            .map(|c| EhrColumnDto {
                key: c.key(),
                label: c.label(),
                description: c.description(),
                kind: if c.is_numeric() { "number" } else { "text" },
            })
            .collect(),
        vitals: Vital::ALL
            .into_iter()
            .map(|v| VitalSignDto {
                key: v.key(),
                name: v.name(),
                abbreviation: v.abbreviation(),
                unit: v.short_unit(),
                loinc: v.loinc(),
                default_range: defaults.get(v).map(|r| RangeDto::of(v, &r)),
            })
            .collect(),
        news2_parts: News2Part::ALL
            .into_iter()
            .map(|p| News2PartDto {
                key: p.key(),
                name: p.name(),
            })
            .collect(),
    })
}

/// One sign's range for the team.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VitalRangeDto {
    pub vital: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    /// In force: the team's own, else the default; null: not flagged.
    pub range: Option<RangeDto>,
    pub default: Option<RangeDto>,
    /// The team set its own.
    pub custom: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VitalRangesDto {
    pub ranges: Vec<VitalRangeDto>,
}

impl From<Vec<VitalRangeView>> for VitalRangesDto {
    fn from(views: Vec<VitalRangeView>) -> Self {
        Self {
            ranges: views
                .into_iter()
                .map(|v| VitalRangeDto {
                    vital: v.vital.key(),
                    name: v.vital.name(),
                    unit: v.vital.short_unit(),
                    range: v.range.map(|r| RangeDto::of(v.vital, &r)),
                    default: v.default.map(|r| RangeDto::of(v.vital, &r)),
                    custom: v.custom,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VitalRangeRequest {
    /// The sign's key (heartRate, ...).
    pub vital: String,
    /// Null or left out: no lower bound.
    #[serde(default)]
    pub low: Option<f64>,
    #[serde(default)]
    pub high: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetVitalRangesRequest {
    /// The signs to change; a range equal to the default follows the
    /// default again; both ends null: the sign is not flagged.
    pub ranges: Vec<VitalRangeRequest>,
}

/// The reference ranges the team's vital signs are flagged against.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/vital-ranges", operation_id = "getVitalRanges", tag = "teams",
    security(("session" = [])),
    params(("teamId" = String, Path)),
    responses((status = 200, body = VitalRangesDto), (status = 404, body = ErrorBody)))]
pub async fn get_vital_ranges(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<VitalRangesDto>> {
    let views = state.app.vital_ranges(&actor, team).await?;
    Ok(Json(views.into()))
}

/// Set the team's own reference ranges (owners; recorded as
/// PatientSchemaUpdate). Every view flags against them at once.
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/vital-ranges", operation_id = "setVitalRanges", tag = "teams",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    request_body = SetVitalRangesRequest,
    responses((status = 200, body = VitalRangesDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_vital_ranges(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<SetVitalRangesRequest>,
) -> ApiResult<Json<VitalRangesDto>> {
    let specs: Vec<VitalRangeSpec> = body
        .ranges
        .into_iter()
        .map(|r| VitalRangeSpec {
            vital: r.vital,
            low: r.low,
            high: r.high,
        })
        .collect();
    let views = state.app.set_vital_ranges(&actor, team, &specs).await?;
    Ok(Json(views.into()))
}
