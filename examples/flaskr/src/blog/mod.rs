//! The blog: posts and their views.

pub mod post;
mod views;

use unchained::routes::Routes;

/// The blog's routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/", views::index)
        .get("/create", views::create_form)
        .name("create")
        .post("/create", views::create)
        .name("create")
        .get("/{id}/update", views::update_form)
        .name("update")
        .post("/{id}/update", views::update)
        .name("update")
        .post("/{id}/delete", views::delete)
}
