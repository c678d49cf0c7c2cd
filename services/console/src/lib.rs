//! earshot-console: the web console agents, supervisors and admins sign in to with their API key.
//!
//! Pages are rendered on the server (maud) and work as plain forms; live parts (the case an agent
//! works, the supervisor's board and escalation feed) arrive as Server-Sent Events carrying HTML
//! fragments that a small embedded script swaps in. The console holds no data of its own: every
//! page is read from, and every action sent to, the gRPC services with the signed-in user's key,
//! so what a user may see and do is exactly what the key allows.

mod admin;
mod agent;
mod backend;
pub mod config;
mod error;
mod pages;
mod policy_form;
pub mod session;
mod supervisor;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use earshot_proto::v1 as pb;
use maud::html;
use serde::Deserialize;
use tokio::net::TcpListener;

pub use config::Config;
use error::Failure;
use session::{SESSION_COOKIE, SIGNIN_COOKIE, Session, Sessions, same_token, set_cookie, token};

/// What every handler shares.
#[derive(Clone)]
pub struct Console {
    backend: backend::Backend,
    sessions: Sessions,
    secure_cookies: bool,
}

impl Console {
    /// A console calling the services `config` names.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            backend: backend::Backend::new(config)?,
            sessions: Sessions::new(config.session_idle()),
            secure_cookies: config.secure_cookies,
        })
    }

    /// The request's session, or "sign in first".
    fn session(&self, headers: &HeaderMap) -> Result<Session, Failure> {
        self.sessions.of(headers).ok_or(Failure::SignIn)
    }

    /// The session of a form post whose CSRF token matches it.
    fn form_session(&self, headers: &HeaderMap, csrf: &str) -> Result<Session, Failure> {
        let session = self.session(headers)?;
        if same_token(&session.csrf, csrf) { Ok(session) } else { Err(Failure::Csrf) }
    }

    /// Clients acting as the session's user.
    fn clients(&self, session: &Session) -> Result<backend::Clients, Failure> {
        self.backend.as_user(&session.secret)
    }
}

/// Every page and action.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(|| async { "ok" }))
        .route("/assets/console.js", get(script))
        .route("/assets/console.css", get(style))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .merge(agent::routes())
        .merge(supervisor::routes())
        .merge(admin::routes())
        .with_state(console)
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let console = Console::new(&config)?;
    tracing::info!(addr = %listener.local_addr()?, "console serving");
    axum::serve(listener, router(console)).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../assets/console.js"))
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../assets/console.css"))
}

/// The page for the user's first role, or sign-in.
async fn home(State(console): State<Console>, headers: HeaderMap) -> Redirect {
    match console.sessions.of(&headers) {
        Some(session) if session.has("agent") => Redirect::to("/agent"),
        Some(session) if session.has("supervisor") => Redirect::to("/supervisor"),
        Some(session) if session.has("admin") => Redirect::to("/admin"),
        Some(_) => Redirect::to("/signin?problem=roles"),
        None => Redirect::to("/signin"),
    }
}

#[derive(Deserialize)]
struct SigninQuery {
    problem: Option<String>,
}

async fn signin_page(
    State(console): State<Console>,
    axum::extract::Query(query): axum::extract::Query<SigninQuery>,
) -> Response {
    let problem = match query.problem.as_deref() {
        Some("expired") => Some("Your key was revoked or your session ended; sign in again."),
        Some("roles") => Some("Your key has no role the console serves (agent, supervisor or admin)."),
        _ => None,
    };
    signin_form(&console, problem, StatusCode::OK)
}

/// The sign-in form with a fresh token, paired with a cookie.
fn signin_form(console: &Console, problem: Option<&str>, status: StatusCode) -> Response {
    let csrf = token();
    let page = pages::frame(
        "Sign in",
        None,
        html! {
            section.signin {
                h1 { "Sign in" }
                @if let Some(problem) = problem { p.problem role="alert" { (problem) } }
                form method="post" action="/signin" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="key" { "API key" }
                    input #key type="password" name="key" autocomplete="off" required autofocus;
                    button #signin type="submit" { "Sign in" }
                }
                p.hint { "Use the key an admin made for you (agent, supervisor or admin)." }
            }
        },
    );
    let cookie = set_cookie(SIGNIN_COOKIE, &csrf, console.secure_cookies, None);
    (status, [(header::SET_COOKIE, cookie)], page).into_response()
}

#[derive(Deserialize)]
struct SigninForm {
    key: String,
    #[serde(default)]
    csrf: String,
}

async fn signin(State(console): State<Console>, headers: HeaderMap, Form(form): Form<SigninForm>) -> Response {
    let paired = session::cookie(&headers, SIGNIN_COOKIE).is_some_and(|cookie| same_token(&cookie, &form.csrf));
    if !paired {
        return Failure::Csrf.into_response();
    }
    let key = form.key.trim().to_owned();
    let who = match console.backend.as_user(&key) {
        Ok(mut clients) => clients.keys.who_am_i(pb::WhoAmIRequest {}).await.map(|r| r.into_inner()),
        Err(_) => Err(tonic::Status::unauthenticated("not a key")),
    };
    let who = match who {
        Ok(who) => who,
        Err(status)
            if status.code() == tonic::Code::Unauthenticated || status.code() == tonic::Code::PermissionDenied =>
        {
            return signin_form(&console, Some("That key is not valid."), StatusCode::UNAUTHORIZED);
        }
        Err(status) => return Failure::Service(status).into_response(),
    };
    if !who.roles.iter().any(|r| matches!(r.as_str(), "agent" | "supervisor" | "admin")) {
        return signin_form(&console, Some("That key has no agent, supervisor or admin role."), StatusCode::FORBIDDEN);
    }
    tracing::info!(tenant = %who.tenant, key_id = %who.key_id, "console sign-in");
    let id = console.sessions.start(key, who);
    let cookie = set_cookie(SESSION_COOKIE, &id, console.secure_cookies, None);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// The query of a page a form redirected back to: the line to show.
#[derive(Deserialize)]
struct FlashQuery {
    msg: Option<String>,
}

/// A form that carries nothing but its CSRF token.
#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn signout(State(console): State<Console>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Err(failure) = console.form_session(&headers, &form.csrf) {
        return failure.into_response();
    }
    console.sessions.end(&headers);
    let cookie = set_cookie(SESSION_COOKIE, "", console.secure_cookies, Some(std::time::Duration::ZERO));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/signin")).into_response()
}

/// Where a form goes back to, with a line to show there.
fn back(path: &str, message: &str) -> Redirect {
    let encoded: String = form_urlencoded::byte_serialize(message.as_bytes()).collect();
    let joiner = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{joiner}msg={encoded}"))
}

/// Server-Sent Events a task produces (`produce` gets the sending end) until it returns or the
/// browser goes away.
fn live_events<F, Fut>(produce: F) -> impl futures::Stream<Item = Result<Event, std::convert::Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(sender));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(receiver), Ok)
}
