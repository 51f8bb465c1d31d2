//! Reading a list's EHR patients ahead, without waiting, when its page or
//! live feed opens.

use rounds_core::{ListId, TeamId};

use crate::{App, AppError};

impl App {
    /// Starts reading the EHR data of a list's patients that memory lacks
    /// (or holds due for a re-read), without waiting: called when the
    /// list's page or live feed opens, so that the table's first getList
    /// finds them read or under way. The caller has checked that `actor`
    /// may see the list; nothing is shown, so nothing is audited here (the
    /// getList that shows it is).
    pub(crate) async fn start_list_read(&self, team: TeamId, list: ListId) -> Result<(), AppError> {
        if self.stored_connection(team).await?.is_none() {
            return Ok(());
        }
        let refs = {
            let mut conn = self.db.read().await?;
            rounds_store::ehr::refs_of_list(&mut conn, team, list).await?
        };
        if refs.is_empty() {
            return Ok(());
        }
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = app.ehr_data(team, &refs, false, &[list]).await {
                tracing::debug!(error = %e, "reading a list's EHR patients ahead failed");
            }
        });
        Ok(())
    }

    /// [`App::start_list_read`] for a list page being rendered: only when
    /// `actor` is a member of the team and the list is the team's; else
    /// nothing (quietly: the page's own reads refuse it, and record that).
    pub async fn read_list_ahead(
        &self,
        actor: &crate::Actor,
        team: TeamId,
        list: ListId,
    ) -> Result<(), AppError> {
        let allowed = {
            let mut conn = self.db.read().await?;
            rounds_store::teams::role_of(&mut conn, team, actor.user.id)
                .await?
                .is_some()
                && rounds_store::lists::by_id(&mut conn, list)
                    .await?
                    .is_some_and(|l| l.team_id == team)
        };
        if allowed {
            self.start_list_read(team, list).await?;
        }
        Ok(())
    }
}
