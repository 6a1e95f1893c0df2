//! flaskr, the tutorial's blog: posts listed at `/`; `/create`,
//! `/{id}/update` and `/{id}/delete` for their logged-in author; register,
//! login and logout from the security bundle; sessions in the SQL store.

pub mod blog;
mod error;

use unchained::prelude::*;

unchained::project!();

/// flaskr's own bundle, listed as `app` in unchained.toml.
#[derive(Default)]
pub struct FlaskrBundle;

#[unchained::bundle]
impl Bundle for FlaskrBundle {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        blog::routes()
    }

    fn models(&self, ctx: &ModelContext) -> Vec<ModelDef> {
        vec![ModelDef::from_entity(ctx, blog::post::Entity)]
    }
}
