//! The blog's pages.

use minijinja::context;
use sea_orm::{ActiveModelTrait, EntityTrait, ModelTrait, QueryOrder, Set};
use serde::Deserialize;
use unchained::axum::extract::Form;
use unchained::prelude::*;
use unchained_database::Db;
use unchained_security::models::user;
use unchained_security::{CsrfToken, CurrentUser, MaybeUser};
use unchained_session::Session;

use super::post;
use crate::error::AppError;
use crate::flash::{flash, take_flashes};

/// What the create and update forms send.
#[derive(Debug, Deserialize)]
pub struct PostForm {
    title: String,
    body: String,
}

impl PostForm {
    fn error(&self) -> Option<&'static str> {
        self.title.trim().is_empty().then_some("Title is required.")
    }
}

/// `GET /`: every post, newest first.
pub async fn index(
    State(app): State<AppState>,
    Db(db): Db,
    user: MaybeUser,
    csrf: CsrfToken,
    session: Session,
) -> Result<Response, AppError> {
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
                title => p.title,
                body => p.body,
                created => p.created.format("%Y-%m-%d").to_string(),
                author => author.map(|a| a.email).unwrap_or_default(),
                mine => user.0.as_ref().is_some_and(|u| u.id() == p.author_id),
            }
        })
        .collect();
    let page = page_context(&app, &user, &csrf, &session).await?;
    Ok(app.render("blog/index.html", context! { posts, ..page }))
}

/// `GET /create`.
pub async fn create_form(
    State(app): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    session: Session,
) -> Result<Response, AppError> {
    let page = page_context(&app, &MaybeUser(Some(user.0)), &csrf, &session).await?;
    Ok(app.render(
        "blog/create.html",
        context! { title => "", body => "", ..page },
    ))
}

/// `POST /create`.
pub async fn create(
    State(app): State<AppState>,
    Db(db): Db,
    user: CurrentUser,
    csrf: CsrfToken,
    session: Session,
    Form(form): Form<PostForm>,
) -> Result<Response, AppError> {
    if let Some(error) = form.error() {
        let page = page_context(&app, &MaybeUser(Some(user.0)), &csrf, &session).await?;
        return Ok(app.render(
            "blog/create.html",
            context! { title => form.title, body => form.body, error, ..page },
        ));
    }
    post::ActiveModel {
        author_id: Set(user.id()),
        title: Set(form.title.trim().to_owned()),
        body: Set(form.body),
        created: Set(chrono_now()),
        ..Default::default()
    }
    .insert(&db)
    .await?;
    flash(&session, "message", "Post created.").await?;
    Ok(Redirect::to(&app.url_for("app.index", &[])?).into_response())
}

/// The post `id` if it exists and `user` wrote it.
async fn own_post(
    db: &sea_orm::DatabaseConnection,
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

/// `GET /{id}/update`.
pub async fn update_form(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<i32>,
    user: CurrentUser,
    csrf: CsrfToken,
    session: Session,
) -> Result<Response, AppError> {
    let post = own_post(&db, id, &user).await?;
    let page = page_context(&app, &MaybeUser(Some(user.0)), &csrf, &session).await?;
    Ok(app.render(
        "blog/update.html",
        context! { id => post.id, title => post.title, body => post.body, ..page },
    ))
}

/// `POST /{id}/update`.
pub async fn update(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<i32>,
    user: CurrentUser,
    csrf: CsrfToken,
    session: Session,
    Form(form): Form<PostForm>,
) -> Result<Response, AppError> {
    let post = own_post(&db, id, &user).await?;
    if let Some(error) = form.error() {
        let page = page_context(&app, &MaybeUser(Some(user.0)), &csrf, &session).await?;
        return Ok(app.render(
            "blog/update.html",
            context! { id, title => form.title, body => form.body, error, ..page },
        ));
    }
    let mut active: post::ActiveModel = post.into();
    active.title = Set(form.title.trim().to_owned());
    active.body = Set(form.body);
    active.update(&db).await?;
    flash(&session, "message", "Post updated.").await?;
    Ok(Redirect::to(&app.url_for("app.index", &[])?).into_response())
}

/// `POST /{id}/delete`.
pub async fn delete(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<i32>,
    user: CurrentUser,
    session: Session,
) -> Result<Response, AppError> {
    let post = own_post(&db, id, &user).await?;
    post.delete(&db).await?;
    flash(&session, "message", "Post deleted.").await?;
    Ok(Redirect::to(&app.url_for("app.index", &[])?).into_response())
}

/// What every page's layout needs: the app's title, the user, the CSRF
/// token for the logout form, and pending flash messages.
async fn page_context(
    app: &AppState,
    user: &MaybeUser,
    csrf: &CsrfToken,
    session: &Session,
) -> Result<minijinja::Value, AppError> {
    let app_title: String = app
        .config()
        .get("APP_TITLE")
        .unwrap_or_else(|_| "Flaskr".to_owned());
    Ok(context! {
        app_title,
        current_user => user.0.as_ref().map(|u| u.email().to_owned()),
        csrf_token => csrf.0.clone(),
        flashes => take_flashes(session).await?,
    })
}

fn chrono_now() -> sea_orm::prelude::DateTimeUtc {
    sea_orm::prelude::ChronoUtc::now()
}
