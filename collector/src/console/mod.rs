//! The web console, served on the agent API's HTTPS listener under
//! `/console/`: server-rendered pages (askama templates, auto-escaped),
//! embedded CSS/JS, cookie sessions and CSRF tokens.
//!
//! Routes (stable; the browser tests rely on them):
//! - `GET /console/sign-in`, `POST /console/sign-in` (form `token`),
//!   `POST /console/sign-out` (form `csrf`);
//! - `GET /console/` overview, `GET /console/devices`, `GET /console/devices/{id}`,
//!   `POST /console/devices/{id}/retire` (form `csrf`, admin only),
//!   `GET /console/software`, `GET /console/compliance`, `GET /console/alerts`;
//! - `GET /console/static/console.css|console.js`;
//! - `GET /api/v1/software` (admin bearer token, JSON).
//!
//! Every page without a live session answers `303` to the sign-in page and
//! carries no fleet data.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::unix_now;

pub mod charts;
pub mod config;
pub mod delta;
pub mod index;
pub mod pages;
pub mod search;
pub mod session;
pub mod software;
pub mod trend;
pub mod trim;

use session::{COOKIE_NAME, Role, Session, cookie_value, role_for_token, secret_eq};

/// Where the console lives.
pub const BASE: &str = "/console";

/// The Content-Security-Policy of every console answer: own scripts and
/// styles only (no inline script), no framing, no foreign forms.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../../static/console.css");
const JS: &str = include_str!("../../static/console.js");

/// The console's routes (merged into the agent API router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::overview))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/devices", get(pages::devices))
        .route("/console/devices/{id}", get(pages::device))
        .route("/console/devices/{id}/retire", post(pages::retire))
        .route("/console/software", get(pages::software))
        .route("/console/compliance", get(pages::compliance))
        .route("/console/alerts", get(pages::alerts))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .layer(middleware::from_fn(security_headers))
        .merge(software::router())
}

/// Strict headers on every console answer.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    static_asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    static_asset(JS, "text/javascript; charset=utf-8")
}

fn static_asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Renders a template as an HTML answer (500 without details on failure).
pub fn html<T: askama::Template>(template: &T) -> Response {
    match template.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The request's live session, if any.
pub fn current_session(app: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie_value(v, COOKIE_NAME))?;
    let session = app.console.sessions.get(id, unix_now())?;
    Some((id.to_string(), session))
}

/// The session, or the redirect to the sign-in page.
#[allow(clippy::result_large_err)]
pub fn require_session(app: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    current_session(app, headers)
        .map(|(_, s)| s)
        .ok_or_else(|| Redirect::to("/console/sign-in").into_response())
}

/// Whether a submitted CSRF token is the session's.
pub fn csrf_ok(session: &Session, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|t| secret_eq(t, &session.csrf))
}

/// 403 for a refused state-changing request (an HTML page).
pub fn forbidden(message: &'static str) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Refused",
        message.to_string(),
        "/console/",
    )
}

/// An error answer as an HTML page (no fleet data, no navigation).
pub fn error_page(
    status: StatusCode,
    title: &'static str,
    message: String,
    back: &str,
) -> Response {
    let mut r = html(&ErrorPage {
        title,
        message,
        back: back.to_string(),
    });
    if r.status().is_success() {
        *r.status_mut() = status;
    }
    r
}

/// 400 page for a query string the page cannot use (instead of axum's
/// plain-text rejection).
pub fn bad_query(rejection: &QueryRejection, back: &str) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Bad request",
        rejection.body_text(),
        back,
    )
}

/// The page of an error answer.
#[derive(askama::Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Short heading (`Bad request`).
    pub title: &'static str,
    /// What went wrong (escaped: it may quote the request).
    pub message: String,
    /// Where the back link goes.
    pub back: String,
}

/// The navigation bar's data.
#[derive(Debug, Clone)]
pub struct Nav {
    /// Which page is shown (`overview`, `devices`, ...).
    pub active: &'static str,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: String,
    /// `admin` or `viewer`.
    pub role: &'static str,
    /// The start-up load of the device index is still running: lists may
    /// be incomplete, and every page says so.
    pub index_loading: bool,
}

impl Nav {
    /// The bar for `active` in `session`.
    pub fn new(active: &'static str, session: &Session, app: &crate::app::App) -> Self {
        Nav {
            active,
            csrf: session.csrf.clone(),
            role: session.role.as_str(),
            index_loading: !app.live.console().is_loaded(),
        }
    }
}

/// The sign-in page.
#[derive(askama::Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    /// Shown after a refused token.
    pub error: Option<&'static str>,
}

async fn sign_in_page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if current_session(&app, &headers).is_some() {
        return Redirect::to("/console/").into_response();
    }
    html(&SignInPage { error: None })
}

/// Form of `POST /console/sign-in`.
#[derive(Debug, serde::Deserialize)]
pub struct SignInForm {
    /// The admin token or a viewer token.
    #[serde(default)]
    pub token: String,
}

/// Form of the state-changing posts.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: Option<String>,
}

fn session_cookie(id: &str, max_age: i64) -> String {
    format!("{COOKIE_NAME}={id}; Path={BASE}; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// Largest sign-in form read (a token is far shorter).
const MAX_SIGN_IN_BYTES: usize = 4096;

async fn sign_in(State(app): State<AppState>, request: Request) -> Response {
    // Before the body is read or the token compared: a source over its
    // rate cannot guess tokens at full speed.
    if let Some(ip) = crate::http::enroll::source(&request)
        && let Err(wait) = app
            .console
            .sign_in_limiter
            .check(ip, std::time::Instant::now())
    {
        tracing::warn!(source = %ip, "console sign-in refused: too many attempts from this address");
        let mut r = html(&SignInPage {
            error: Some("Too many sign-in attempts from this address; wait a minute."),
        });
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        return r;
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_SIGN_IN_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "the sign-in form could not be read".into(),
                "/console/sign-in",
            );
        }
    };
    let form: SignInForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "malformed sign-in form".into(),
                "/console/sign-in",
            );
        }
    };
    let role = role_for_token(
        form.token.trim(),
        &app.secrets.admin_token,
        &app.console.config.viewer_tokens,
    );
    let Some(role) = role else {
        tracing::warn!("console sign-in refused: unknown token");
        let mut r = html(&SignInPage {
            error: Some("That token is not valid."),
        });
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    };
    let (id, _) = app.console.sessions.create(role, unix_now());
    tracing::info!(role = role.as_str(), "console sign-in");
    let cookie = session_cookie(&id, app.console.sessions.lifetime_secs());
    let mut r = Redirect::to("/console/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn sign_out(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some((id, session)) = current_session(&app, &headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let form: CsrfForm = serde_urlencoded::from_bytes(&body).unwrap_or(CsrfForm { csrf: None });
    if !csrf_ok(&session, form.csrf.as_deref()) {
        return forbidden("missing or wrong CSRF token");
    }
    app.console.sessions.remove(&id);
    let mut r = Redirect::to("/console/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie("", 0)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Everything the console keeps in the app: settings, sessions, trend saver.
#[derive(Debug)]
pub struct ConsoleState {
    /// `[console]` and `[licences]`.
    pub config: config::ConsoleConfig,
    /// Live sessions.
    pub sessions: session::Sessions,
    /// The last daily snapshot queued, to save only changes.
    pub last_daily: std::sync::Mutex<Vec<crate::store::DailyCompliance>>,
    /// Sign-in attempts per source address.
    pub sign_in_limiter: crate::rate_limit::RateLimiter,
}

impl ConsoleState {
    /// State for `config`.
    pub fn new(config: config::ConsoleConfig) -> Self {
        ConsoleState {
            sessions: session::Sessions::new(config.session_secs),
            sign_in_limiter: crate::rate_limit::RateLimiter::new(config.sign_in_per_minute),
            config,
            last_daily: Default::default(),
        }
    }
}

/// Whether `role` may change anything.
pub fn may_change(role: Role) -> bool {
    role == Role::Admin
}

/// Fills the console index from the store (start-up): every device's
/// stored inventory and package list. Runs beside the writer: a device the
/// writer has applied meanwhile keeps the writer's newer answer.
pub fn load_index(
    live: &crate::state::LiveState,
    queries: &dyn crate::store::DeviceQueries,
) -> Result<(), crate::store::StoreError> {
    let index = live.console();
    queries.console_seeds(&mut |seed| {
        let inv: Option<fleetwatch_protocol::Inventory> = seed
            .inventory
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        let packages: Option<Vec<fleetwatch_protocol::Package>> = seed
            .packages
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        let doc = match inv {
            Some(inv) => {
                let mut doc = index::ConsoleDoc::from_inventory(&inv, packages.as_deref());
                if doc.packages.is_none() {
                    doc.packages = Some(Vec::new());
                }
                doc
            }
            None => index::ConsoleDoc::enrolled(&seed.hostname),
        };
        // Under the live-state lock (the writer's order: fleet, then
        // index), so the writer cannot change the entry in between.
        let fleet = live.read();
        index.apply_seed(
            &seed.device_id,
            &doc,
            fleet.device(&seed.device_id).map(|d| &**d),
        );
        Ok(())
    })?;
    index.mark_loaded();
    trim::release_free_heap();
    Ok(())
}

/// Loads the console index on its own thread: with 100,000 devices of
/// 1,000 packages the load parses gigabytes of stored JSON (about a
/// minute, docs/benchmarks.md), and the collector must take reports and
/// scrapes within its start-up target meanwhile.
pub fn spawn_index_load(
    live: std::sync::Arc<crate::state::LiveState>,
    queries: std::sync::Arc<dyn crate::store::DeviceQueries>,
) {
    let spawned = std::thread::Builder::new()
        .name("console-index".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            match load_index(&live, queries.as_ref()) {
                Ok(()) => tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "console index loaded"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "the console index could not be loaded; the console shows only devices reporting since start-up"
                ),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the console index thread could not start");
    }
}
