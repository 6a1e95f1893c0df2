//! The smallest Unchained app: its own bundle with one page.

use unchained::prelude::*;

unchained::project!();

/// This app's bundle, listed as `app` in unchained.toml.
#[derive(Default)]
pub struct AppBundle;

#[unchained::bundle]
impl Bundle for AppBundle {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get("/", index)
    }
}

async fn index(State(app): State<AppState>) -> Response {
    let title: String = app.config().get("APP_TITLE").unwrap_or_default();
    app.render(
        "index.html",
        serde_json::json!({ "title": title, "bundles": app.bundles() }),
    )
}
