//! Searching the team's EHR from a list, audited with the query.

use std::collections::HashMap;

use rounds_core::audit::Operation;
use rounds_core::validate::InvalidInput;
use rounds_core::{ListId, PatientId, TeamId};
use rounds_fhir::PatientQuery;
use serde_json::json;

use super::health::fhir_general;
use super::{fhir_config_text, line};
use crate::access::Need;
use crate::{Actor, App, AppError};

/// One match of an EHR search.
#[derive(Debug, Clone)]
pub struct EhrSearchHit {
    pub ehr_id: String,
    pub name: String,
    pub mrn: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub on_list: bool,
    /// The team's patient with this EHR record, if it has one.
    pub patient_id: Option<PatientId>,
}

#[derive(Debug, Clone)]
pub struct EhrSearchResult {
    pub total: Option<u64>,
    pub hits: Vec<EhrSearchHit>,
}

/// Search criteria, as typed.
#[derive(Debug, Clone, Default)]
pub struct EhrSearch {
    pub name: Option<String>,
    pub family: Option<String>,
    pub given: Option<String>,
    pub mrn: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub id: Option<String>,
    pub count: Option<u32>,
}

impl App {
    /// Searches the team's EHR from a list; recorded as PatientSearch with
    /// the query.
    pub async fn search_ehr(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        search: &EhrSearch,
    ) -> Result<EhrSearchResult, AppError> {
        self.team_access(actor, team, Need::Member, "searchEhr")
            .await?;
        {
            let mut conn = self.db.read().await?;
            self.list_in_team(&mut conn, actor, team, list).await?;
        }
        let query = patient_query(search)?;
        let (c, client) = self.connected(team).await?;
        let found = client.search_patients(&query).await;
        let mut entry = self.entry_for(
            actor,
            Operation::PatientSearch,
            match &found {
                Ok(_) => rounds_core::audit::Outcome::Success,
                Err(_) => rounds_core::audit::Outcome::Refused("the EHR search failed".into()),
            },
        );
        entry.team_id = Some(team);
        entry.list_id = Some(list.to_string());
        entry.detail = json!({
            "source": "ehr",
            "server": c.base_url,
            "query": {
                "name": query.name, "family": query.family, "given": query.given,
                "mrn": query.identifier, "birthDate": query.birthdate,
                "gender": query.gender, "id": query.id,
            },
            "results": found.as_ref().map(|f| f.patients.len()).ok(),
            "total": found.as_ref().ok().and_then(|f| f.total),
            // The EHR's patients found are named, for the per-patient access report.
            "ehrIds": found.as_ref().ok().map(|f| f.patients.iter().map(|p| p.id.clone()).collect::<Vec<_>>()),
        });
        self.record(entry).await?;
        let found = found.map_err(|e| {
            tracing::warn!(team = %team, error = %e, "EHR search failed");
            AppError::EhrUnavailable {
                message: fhir_general(&e),
            }
        })?;
        let mut conn = self.db.read().await?;
        let refs = rounds_store::ehr::refs_of_team(&mut conn, team).await?;
        let on_list: std::collections::HashSet<PatientId> =
            rounds_store::patients::entries(&mut conn, list)
                .await?
                .into_iter()
                .map(|e| e.patient_id)
                .collect();
        drop(conn);
        let by_ehr: HashMap<&str, PatientId> = refs
            .iter()
            .filter(|(_, r)| r.server == c.base_url)
            .map(|(p, r)| (r.id.as_str(), *p))
            .collect();
        let hits = found
            .patients
            .iter()
            .map(|p| {
                let patient_id = by_ehr.get(p.id.as_str()).copied();
                EhrSearchHit {
                    ehr_id: p.id.clone(),
                    name: p.display_name(),
                    mrn: p.mrn.clone(),
                    birth_date: p.birth_date.clone(),
                    gender: p.gender.clone(),
                    on_list: patient_id.is_some_and(|id| on_list.contains(&id)),
                    patient_id,
                }
            })
            .collect();
        Ok(EhrSearchResult {
            total: found.total,
            hits,
        })
    }
}

/// The FHIR search for `search`, checked.
fn patient_query(search: &EhrSearch) -> Result<PatientQuery, InvalidInput> {
    let query = PatientQuery {
        id: line("id", search.id.as_deref())?,
        family: line("family", search.family.as_deref())?,
        given: line("given", search.given.as_deref())?,
        name: line("name", search.name.as_deref())?,
        birthdate: line("birthDate", search.birth_date.as_deref())?,
        gender: line("gender", search.gender.as_deref())?,
        identifier: line("mrn", search.mrn.as_deref())?,
        count: Some(search.count.unwrap_or(20).clamp(1, 50)),
    };
    if query.id.is_none()
        && query.family.is_none()
        && query.given.is_none()
        && query.name.is_none()
        && query.birthdate.is_none()
        && query.gender.is_none()
        && query.identifier.is_none()
    {
        return Err(InvalidInput::new(
            "name",
            "give at least one of name, family, given, MRN, birth date, gender or id",
        ));
    }
    if let Some(b) = &query.birthdate {
        if time::Date::parse(b, time::macros::format_description!("[year]-[month]-[day]")).is_err()
        {
            return Err(InvalidInput::new(
                "birthDate",
                "give the date as YYYY-MM-DD",
            ));
        }
    }
    if let Some(g) = &query.gender {
        if !matches!(g.as_str(), "female" | "male" | "other" | "unknown") {
            return Err(InvalidInput::new(
                "gender",
                format!("{g:?} is not one of female, male, other, unknown"),
            ));
        }
    }
    if let Some(id) = &query.id {
        rounds_fhir::check_id(id).map_err(|e| InvalidInput::new("id", fhir_config_text(&e)))?;
    }
    Ok(query)
}
