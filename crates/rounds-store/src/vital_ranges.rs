//! The reference ranges a team sets for its vital signs (the signs it did
//! not change keep the catalog's defaults, which are not stored).

use rounds_core::lists::format_number;
use rounds_core::vitals::{Range, Vital};
use rounds_core::{TeamId, Timestamp, UserId};
use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// The team's own ranges, in the catalog's order of signs. A row that
/// does not read back (an unknown sign, a bound that is not a number) is
/// an error naming it.
pub async fn of_team(
    conn: &mut AnyConnection,
    team: TeamId,
) -> Result<Vec<(Vital, Range)>, StoreError> {
    let rows = sqlx::query("SELECT vital, low, high FROM team_vital_ranges WHERE team_id = $1")
        .bind(team.to_string())
        .fetch_all(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let key: String = row.try_get("vital")?;
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!("the {key} reference range of team {team}: {what}"))
        };
        let vital = Vital::from_key(&key).ok_or_else(|| corrupt("not a vital sign"))?;
        let bound = |name: &str| -> Result<Option<f64>, StoreError> {
            let text: Option<String> = row.try_get(name)?;
            text.map(|t| {
                t.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| corrupt(&format!("the {name} bound {t:?} is not a number")))
            })
            .transpose()
        };
        out.push((
            vital,
            Range {
                low: bound("low")?,
                high: bound("high")?,
            },
        ));
    }
    out.sort_by_key(|(v, _)| Vital::ALL.iter().position(|a| a == v));
    Ok(out)
}

/// Replaces the team's own ranges with `ranges`.
pub async fn replace(
    conn: &mut AnyConnection,
    team: TeamId,
    ranges: &[(Vital, Range)],
    by: UserId,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM team_vital_ranges WHERE team_id = $1")
        .bind(team.to_string())
        .execute(&mut *conn)
        .await?;
    for (vital, range) in ranges {
        sqlx::query(
            "INSERT INTO team_vital_ranges (team_id, vital, low, high, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(team.to_string())
        .bind(vital.key())
        .bind(range.low.map(format_number))
        .bind(range.high.map(format_number))
        .bind(at.millis())
        .bind(by.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
