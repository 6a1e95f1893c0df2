//! The blog's pages.

use sea_orm::prelude::ChronoUtc;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryOrder, Set};
use serde::Deserialize;
use unchained::prelude::*;
use unchained_database::Db;
use unchained_security::CurrentUser;
use unchained_security::models::user;
use unchained_session::Session;

use super::post;
use crate::error::AppError;

/// What the create and update forms send.
#[derive(Debug, Deserialize, garde::Validate)]
pub struct PostForm {
    #[garde(custom(not_blank), length(chars, max = 200))]
    title: String,
    #[garde(skip)]
    body: String,
}

/// A title of spaces is no title.
fn not_blank(value: &str, _: &()) -> garde::Result {
    if value.trim().is_empty() {
        return Err(garde::Error::new("this field is required."));
    }
    Ok(())
}

/// `GET /`: every post, newest first.
pub async fn index(page: Page, Db(db): Db) -> Result<Response, AppError> {
    let rows = post::Entity::find()
        .find_also_related(user::Entity)
        .order_by_desc(post::Column::Created)
        .order_by_desc(post::Column::Id)
        .all(&db)
        .await?;
    let posts: Vec<_> = rows
        .into_iter()
        .map(|(p, author)| {
            context! {
                id => p.id,
                author_id => p.author_id,
                title => p.title,
                body => p.body,
                created => p.created.format("%Y-%m-%d").to_string(),
                author => author.map(|a| a.email).unwrap_or_default(),
            }
        })
        .collect();
    Ok(page.render("blog/index.html", context! { posts }).await)
}

/// `GET /create`: the empty form, for a logged-in user.
pub async fn create_form(page: Page, _: CurrentUser) -> Response {
    page.render("blog/create.html", context! {}).await
}

/// `POST /create`.
pub async fn create(
    page: Page,
    Db(db): Db,
    user: CurrentUser,
    session: Session,
    form: Form<PostForm>,
) -> Result<Response, AppError> {
    let form = match form.into_valid() {
        Ok(form) => form,
        Err(invalid) => {
            let context = context! { form => invalid };
            return Ok(page
                .render_with_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "blog/create.html",
                    context,
                )
                .await);
        }
    };
    post::ActiveModel {
        author_id: Set(user.id()),
        title: Set(form.title.trim().to_owned()),
        body: Set(form.body),
        created: Set(ChronoUtc::now()),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    session.flash("message", "Post created.").await?;
    Ok(Redirect::to(&page.app().url_for("app.index", &[])?).into_response())
}

/// `GET /{id}/update`: the form, filled with the post.
pub async fn update_form(
    page: Page,
    Db(db): Db,
    Path(id): Path<i32>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    let post = own_post(&db, id, &user).await?;
    let form = context! { values => context! { title => &post.title, body => post.body } };
    Ok(page
        .render(
            "blog/update.html",
            context! { id, title => post.title, form },
        )
        .await)
}

/// `POST /{id}/update`.
pub async fn update(
    page: Page,
    Db(db): Db,
    Path(id): Path<i32>,
    user: CurrentUser,
    session: Session,
    form: Form<PostForm>,
) -> Result<Response, AppError> {
    let post = own_post(&db, id, &user).await?;
    let form = match form.into_valid() {
        Ok(form) => form,
        Err(invalid) => {
            let context = context! { id, title => post.title, form => invalid };
            return Ok(page
                .render_with_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "blog/update.html",
                    context,
                )
                .await);
        }
    };
    let mut active: post::ActiveModel = post.into();
    active.title = Set(form.title.trim().to_owned());
    active.body = Set(form.body);
    active.update(&db).await?;
    session.flash("message", "Post updated.").await?;
    Ok(Redirect::to(&page.app().url_for("app.index", &[])?).into_response())
}

/// `POST /{id}/delete`.
pub async fn delete(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<i32>,
    user: CurrentUser,
    session: Session,
) -> Result<Response, AppError> {
    own_post(&db, id, &user).await?.delete(&db).await?;
    session.flash("message", "Post deleted.").await?;
    Ok(Redirect::to(&app.url_for("app.index", &[])?).into_response())
}

/// The post `id` if it exists and `user` wrote it.
async fn own_post(
    db: &DatabaseConnection,
    id: i32,
    user: &CurrentUser,
) -> Result<post::Model, AppError> {
    let post = post::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    if post.author_id != user.id() {
        return Err(AppError::Forbidden);
    }
    Ok(post)
}
