//! Rounds' use cases over storage: accounts and sessions, care teams, the
//! access rule and the audit trail. The web layer and the CLI call these;
//! they never touch SQL themselves.

mod access;
pub mod access_report;
mod accounts;
mod audit;
pub mod backup;
pub mod csv_out;
pub mod ehr;
mod error;
pub mod export;
pub mod import;
mod ipass;
mod lists;
mod live;
mod meeting;
mod metrics;
mod notes;
mod patients;
mod receipts;
pub mod secret_box;
mod secrets;
mod shift_handoff;
mod since_looked;
pub mod smart_keys;
pub mod sso;
mod strength;
mod tasks;
mod teams;
pub mod templates;
mod urgent;
mod vital_ranges;

use rounds_core::audit::ClientInfo;
use rounds_core::model::User;
use rounds_store::Db;

pub use access::Need;
pub use accounts::{
    Bootstrap, Caller, NewUserInput, OneTimePassword, SessionInfo, SignedIn, UserChange,
};
pub use audit::{AuditExport, AuditQuery, ExportFormat, VerifyReport, VIEW_WINDOW};
pub use error::{AppError, FieldConflict};
pub use ipass::{HandoffSheet, IpassChange};
pub use lists::{ColumnSpec, ResolvedColumn, DEFAULT_COLUMNS, DEFAULT_EHR_COLUMNS};
pub use live::{LiveFeed, LiveMessage, FEED_RETENTION_SECS};
pub use meeting::{
    MeetingColumn, MeetingEhr, MeetingNote, MeetingRow, MeetingView, MEETING_COLUMNS_MAX, NOTE_KEY,
};
pub use patients::{
    ListAnswer, ListView, NewPatient, PatientDetail, PatientRow, Receipts, TeamPatient,
};
pub use rounds_store::receipts::Receipt;
pub use rounds_store::shift_handoff::ShiftHandoff;
pub use rounds_store::{Backend, DbOptions, StoreError};
pub use secrets::{mask_token, new_token, token_matches};
pub use shift_handoff::{HandoffPatientView, ShiftHandoffView, Which as HandoffWhich};
pub use since_looked::{ChangeMark, SinceLooked};
pub use tasks::{MyTasks, NewTask as NewTaskInput, TaskChange, TaskOnPatient};
pub use teams::TeamDetail;
pub use urgent::{UrgentRequest, UrgentView};
pub use vital_ranges::{VitalRangeSpec, VitalRangeView};

/// Session and sign-in limits.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// A session unused for this long ends.
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute_secs: u64,
    /// Failed sign-ins allowed per account within the window.
    pub signin_max_failures_per_account: u32,
    /// Failed sign-ins allowed per client address within the window.
    pub signin_max_failures_per_address: u32,
    /// The window over which failures are counted, and the lockout length.
    pub signin_window_secs: u64,
    /// How long a sign-in (or password change) waits for a free place to
    /// hash its password before it is told the server is busy (503).
    pub password_hash_wait_secs: u64,
    /// EHR mode's limits and outbound policy.
    pub ehr: ehr::EhrSettings,
    /// On PostgreSQL, wake live feeds at once with `LISTEN`/`NOTIFY` when
    /// another instance commits a change (off: they poll, every 250 ms).
    pub live_notify: bool,
    /// Single sign-on: local sign-in on or off, break-glass admins, limits.
    pub sso: sso::SsoSettings,
    /// Urgent notes' clock.
    pub urgent: UrgentSettings,
}

/// How the server keeps urgent notes' schedule.
#[derive(Debug, Clone)]
pub struct UrgentSettings {
    /// How often each instance looks for urgent notes due to alert again.
    pub tick_ms: u64,
    /// The shortest re-notification interval a team may set.
    pub min_interval_secs: i64,
}

impl Default for UrgentSettings {
    fn default() -> Self {
        Self {
            tick_ms: 1000,
            min_interval_secs: 60,
        }
    }
}

impl AppConfig {
    // The defaults, written once: `Default` below and the settings of
    // `rounds serve` (crates/rounds/src/config.rs) both use them.
    pub const DEFAULT_SESSION_IDLE_SECS: u64 = 30 * 60;
    pub const DEFAULT_SESSION_ABSOLUTE_SECS: u64 = 12 * 60 * 60;
    pub const DEFAULT_SIGNIN_MAX_FAILURES_PER_ACCOUNT: u32 = 5;
    pub const DEFAULT_SIGNIN_MAX_FAILURES_PER_ADDRESS: u32 = 20;
    pub const DEFAULT_SIGNIN_WINDOW_SECS: u64 = 15 * 60;
    pub const DEFAULT_LIVE_NOTIFY: bool = true;
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            session_idle_secs: Self::DEFAULT_SESSION_IDLE_SECS,
            session_absolute_secs: Self::DEFAULT_SESSION_ABSOLUTE_SECS,
            signin_max_failures_per_account: Self::DEFAULT_SIGNIN_MAX_FAILURES_PER_ACCOUNT,
            signin_max_failures_per_address: Self::DEFAULT_SIGNIN_MAX_FAILURES_PER_ADDRESS,
            signin_window_secs: Self::DEFAULT_SIGNIN_WINDOW_SECS,
            password_hash_wait_secs: 10,
            ehr: ehr::EhrSettings::default(),
            live_notify: Self::DEFAULT_LIVE_NOTIFY,
            sso: sso::SsoSettings::default(),
            urgent: UrgentSettings::default(),
        }
    }
}

/// Everything a request needs: the database and the limits.
#[derive(Clone)]
pub struct App {
    db: Db,
    config: AppConfig,
    hub: std::sync::Arc<live::Hub>,
    views: std::sync::Arc<audit::RecentViews>,
    /// getList's rows per list, while nothing they show has changed.
    list_rows: std::sync::Arc<patients::ListRowsCache>,
    ehr: std::sync::Arc<ehr::EhrState>,
    hasher: std::sync::Arc<secrets::Hasher>,
    metrics: metrics::SharedMetrics,
    sso: std::sync::Arc<sso::SsoState>,
    /// Whether this instance's urgent-note clock runs.
    urgent_clock: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A signed-in person making a request, and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub client: ClientInfo,
}

impl App {
    /// Opens the database at `url` and brings its schema up to date.
    pub async fn open(
        url: &str,
        db_options: &DbOptions,
        config: AppConfig,
    ) -> Result<Self, StoreError> {
        let db = Db::open(url, db_options).await?;
        db.migrate().await?;
        Ok(Self {
            db,
            ehr: std::sync::Arc::new(ehr::EhrState::new(config.ehr.clone())),
            hasher: std::sync::Arc::new(secrets::Hasher::per_core(std::time::Duration::from_secs(
                config.password_hash_wait_secs,
            ))),
            config,
            hub: std::sync::Arc::new(live::Hub::new()),
            views: std::sync::Arc::default(),
            list_rows: std::sync::Arc::default(),
            metrics: std::sync::Arc::new(metrics::Metrics::new()),
            sso: std::sync::Arc::default(),
            urgent_clock: std::sync::Arc::default(),
        })
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// True when the database answers.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    /// Stops the live feed's background work, then closes the database.
    pub async fn close(&self) {
        self.stop_live().await;
        self.db.close().await;
    }
}
