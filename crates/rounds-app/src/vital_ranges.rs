//! The reference ranges a team's vital signs are flagged against: the
//! catalog's adult defaults (`rounds_core::vitals`), each replaceable by
//! the team's owners.

use std::sync::Arc;

use rounds_core::audit::Operation;
use rounds_core::validate::InvalidInput;
use rounds_core::vitals::{Range, ReferenceRanges, Vital};
use rounds_core::{TeamId, Timestamp};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::{Actor, App, AppError};

/// One sign's range as the team page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalRangeView {
    pub vital: Vital,
    /// The range in force: the team's, else the default (`None`: not flagged).
    pub range: Option<Range>,
    pub default: Option<Range>,
    /// The team set its own.
    pub custom: bool,
}

/// A range an owner asks for; both ends `None` turns flagging off for it.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalRangeSpec {
    pub vital: String,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

fn views(team: &[(Vital, Range)]) -> Vec<VitalRangeView> {
    let defaults = ReferenceRanges::default();
    Vital::ALL
        .into_iter()
        .map(|vital| {
            let own = team.iter().find(|(v, _)| *v == vital).map(|(_, r)| *r);
            let default = defaults.get(vital);
            VitalRangeView {
                vital,
                range: own.or(default),
                default,
                custom: own.is_some(),
            }
        })
        .collect()
}

impl App {
    /// The ranges the team's vital signs are flagged against.
    pub(crate) async fn reference_ranges(
        &self,
        team: TeamId,
    ) -> Result<Arc<ReferenceRanges>, AppError> {
        let mut conn = self.db.read().await?;
        let own = rounds_store::vital_ranges::of_team(&mut conn, team).await?;
        Ok(Arc::new(ReferenceRanges::with_team(own)))
    }

    /// Every sign with the range in force for the team (members).
    pub async fn vital_ranges(
        &self,
        actor: &Actor,
        team: TeamId,
    ) -> Result<Vec<VitalRangeView>, AppError> {
        self.team_access(actor, team, Need::Member, "getVitalRanges")
            .await?;
        let mut conn = self.db.read().await?;
        let own = rounds_store::vital_ranges::of_team(&mut conn, team).await?;
        Ok(views(&own))
    }

    /// Sets the team's own ranges (owners; recorded as
    /// PatientSchemaUpdate): the signs given replace what the team had for
    /// them; a range equal to the default goes back to following it.
    pub async fn set_vital_ranges(
        &self,
        actor: &Actor,
        team: TeamId,
        specs: &[VitalRangeSpec],
    ) -> Result<Vec<VitalRangeView>, AppError> {
        self.team_access(actor, team, Need::Owner, "setVitalRanges")
            .await?;
        let defaults = ReferenceRanges::default();
        let mut asked: Vec<(Vital, Range)> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let field = format!("ranges[{i}]");
            let vital = Vital::from_key(&spec.vital).ok_or_else(|| {
                InvalidInput::new(
                    field.clone(),
                    format!(
                        "{:?} is not a vital sign ({})",
                        spec.vital,
                        Vital::ALL.map(Vital::key).join(", ")
                    ),
                )
            })?;
            if asked.iter().any(|(v, _)| *v == vital) {
                return Err(
                    InvalidInput::new(field, format!("{} appears twice", vital.key())).into(),
                );
            }
            asked.push((vital, Range::checked(vital, spec.low, spec.high, &field)?));
        }
        let mut tx = self.db.write().await?;
        let mut own = rounds_store::vital_ranges::of_team(tx.conn(), team).await?;
        for (vital, range) in &asked {
            own.retain(|(v, _)| v != vital);
            let unchanged = defaults.get(*vital).unwrap_or(Range {
                low: None,
                high: None,
            }) == *range;
            if !unchanged {
                own.push((*vital, *range));
            }
        }
        own.sort_by_key(|(v, _)| Vital::ALL.iter().position(|a| a == v));
        rounds_store::vital_ranges::replace(tx.conn(), team, &own, actor.user.id, Timestamp::now())
            .await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientSchemaUpdate,
            Subject::team(team),
            json!({
                "action": "referenceRanges",
                "changed": asked.iter().map(|(v, r)| json!({"vital": v.key(), "low": r.low, "high": r.high})).collect::<Vec<_>>(),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(views(&own))
    }
}
