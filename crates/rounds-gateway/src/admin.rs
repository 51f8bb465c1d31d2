//! The administration API and page (not yet built: the console commands
//! cover the registry for now).

use std::sync::Arc;

use axum::Router;

use crate::Gateway;

/// The admin routes.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new()
}
