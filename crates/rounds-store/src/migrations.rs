//! The schema steps, embedded in the binary. Each step exists once per
//! backend, under `migrations/<backend>/NNNN_name.sql`; rounds-db runs them.

use rounds_db::Step;

pub(crate) const STEPS: &[Step] = &[
    Step {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Step {
        version: 2,
        name: "patient lists",
        sqlite: include_str!("../migrations/sqlite/0002_patient_lists.sql"),
        postgres: include_str!("../migrations/postgres/0002_patient_lists.sql"),
    },
    Step {
        version: 3,
        name: "ehr",
        sqlite: include_str!("../migrations/sqlite/0003_ehr.sql"),
        postgres: include_str!("../migrations/postgres/0003_ehr.sql"),
    },
    Step {
        version: 4,
        name: "single sign-on",
        sqlite: include_str!("../migrations/sqlite/0004_single_sign_on.sql"),
        postgres: include_str!("../migrations/postgres/0004_single_sign_on.sql"),
    },
    Step {
        version: 5,
        name: "vital ranges",
        sqlite: include_str!("../migrations/sqlite/0005_vital_ranges.sql"),
        postgres: include_str!("../migrations/postgres/0005_vital_ranges.sql"),
    },
    Step {
        version: 6,
        name: "meeting view",
        sqlite: include_str!("../migrations/sqlite/0006_meeting_view.sql"),
        postgres: include_str!("../migrations/postgres/0006_meeting_view.sql"),
    },
    Step {
        version: 7,
        name: "handoff",
        sqlite: include_str!("../migrations/sqlite/0007_handoff.sql"),
        postgres: include_str!("../migrations/postgres/0007_handoff.sql"),
    },
    Step {
        version: 8,
        name: "lean list indexes",
        sqlite: include_str!("../migrations/sqlite/0008_lean_list_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0008_lean_list_indexes.sql"),
    },
    Step {
        version: 9,
        name: "sso sealed secrets",
        sqlite: include_str!("../migrations/sqlite/0009_sso_sealed_secrets.sql"),
        postgres: include_str!("../migrations/postgres/0009_sso_sealed_secrets.sql"),
    },
    Step {
        version: 10,
        name: "shift handoff",
        sqlite: include_str!("../migrations/sqlite/0010_shift_handoff.sql"),
        postgres: include_str!("../migrations/postgres/0010_shift_handoff.sql"),
    },
    Step {
        version: 11,
        name: "last looked",
        sqlite: include_str!("../migrations/sqlite/0011_last_looked.sql"),
        postgres: include_str!("../migrations/postgres/0011_last_looked.sql"),
    },
    Step {
        version: 12,
        name: "list feed seq",
        sqlite: include_str!("../migrations/sqlite/0012_list_feed_seq.sql"),
        postgres: include_str!("../migrations/postgres/0012_list_feed_seq.sql"),
    },
    Step {
        version: 13,
        name: "batch shapes",
        sqlite: include_str!("../migrations/sqlite/0013_batch_shapes.sql"),
        postgres: include_str!("../migrations/postgres/0013_batch_shapes.sql"),
    },
];
