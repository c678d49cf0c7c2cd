//! The HTML every page shares: the frame, the problem page, and the pieces several pages show (a
//! case, a time, a countdown). Rendered on the server with maud, which escapes every value; the
//! one script (`/assets/console.js`) only swaps live fragments, runs countdowns and keys.

use axum::http::StatusCode;
use axum::response::Html;
use earshot_core::clock::ms_from_timestamp;
use earshot_proto::v1 as pb;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::session::Session;

/// The page frame: title, navigation for the user's roles, sign-out, and the body.
pub fn frame(title: &str, session: Option<&Session>, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Earshot" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header {
                    strong { "Earshot" }
                    @if let Some(session) = session {
                        nav {
                            @if session.has("agent") { a href="/agent" { "My cases" } }
                            @if session.has("supervisor") { a href="/supervisor" { "Supervisor" } }
                            @if session.has("admin") { a href="/admin" { "Admin" } }
                        }
                        span.who { (who(session)) }
                        form method="post" action="/signout" {
                            (csrf_field(session))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(page.into_string())
}

/// "ana · agent · acme" for the header: the agent, else the key's name, else its id.
fn who(session: &Session) -> String {
    let key = &session.key;
    let name = [&key.agent_id, &key.name, &key.key_id].into_iter().find(|n| !n.is_empty()).cloned().unwrap_or_default();
    format!("{} · {} · {}", name, session.key.roles.join(", "), session.key.tenant)
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A page saying what went wrong.
pub fn problem(status: StatusCode, message: &str) -> Html<String> {
    frame(
        status.canonical_reason().unwrap_or("Problem"),
        None,
        html! {
            section.problem {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p role="alert" { (message) }
                p { a href="/" { "Back to the console" } }
            }
        },
    )
}

/// A flash line from a redirect's `msg`.
pub fn flash(message: Option<&str>) -> Markup {
    html! { @if let Some(message) = message.filter(|m| !m.is_empty()) { p.flash role="status" { (message) } } }
}

/// `HH:MM:SS UTC` of a millisecond instant.
pub fn clock_time(ms: i64) -> String {
    let seconds = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// A timestamp as a `<time>` the script shows in local time.
pub fn time(at: Option<&pbjson_types::Timestamp>) -> Markup {
    match at {
        Some(at) => {
            let ms = ms_from_timestamp(at);
            html! { time data-at=(ms) { (clock_time(ms)) } }
        }
        None => html! { "—" },
    }
}

/// A live countdown to `until_ms` ("Offer: 4:59 left", then "Offer: overdue 0:12").
pub fn countdown(label: &str, until_ms: i64) -> Markup {
    html! { span.countdown data-until=(until_ms) data-label=(label) { (label) " until " (clock_time(until_ms)) } }
}

/// A case: who, why it is where it is, every post in order, and its history with the replies.
pub fn case_body(case: &pb::CaseView) -> Markup {
    html! {
        p.meta {
            "Customer " strong { (case.customer) } " · queue " (case.queue) " · priority " strong { (case.priority) }
            " · " (case.state) @if case.waiting { " · waiting on the customer" }
            @if case.escalated { " · " span.badge { "escalated" } }
        }
        h3 { "Why it is here" }
        ul.reasons {
            @for reason in &case.reasons {
                li { (reason.factor) " +" (format!("{:.0}", reason.contribution * 100.0)) ": " (reason.detail) }
            }
        }
        h3 { "Posts (" (case.posts.len()) ")" }
        ol.posts {
            @for post in &case.posts {
                li.post {
                    p.post-meta { (post.channel) " · " (post.author_handle) " · " (time(post.created_at.as_ref()))
                        " · priority " (post.priority) }
                    p.post-text { (post.text) }
                }
            }
        }
        h3 { "History" }
        ol.history {
            @for event in &case.history {
                li {
                    (time(event.at.as_ref())) " " strong { (event.action) }
                    @if !event.agent.is_empty() { " by " (event.agent) }
                    " — " (event.detail)
                    @if !event.text.is_empty() { blockquote.reply { (event.text) } }
                }
            }
        }
    }
}

/// "4m 12s", "1h 05m", "15m": a span of seconds as people read it.
pub fn span(seconds: u64) -> String {
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, seconds) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{minutes}m {seconds:02}s"),
        _ => format!("{hours}h {minutes:02}m"),
    }
}

/// Every SLA clock of a case, each running one a live countdown, and the case's escalations with
/// when each rises to its next level.
pub fn sla_clocks(clocks: Option<&pb::CaseClocks>) -> Markup {
    let label = |kind: &str| if kind == "first_response" { "First response" } else { "Next response" };
    let at_ms = |at: Option<&pbjson_types::Timestamp>| at.map(ms_from_timestamp);
    html! {
        section.clocks {
            h3 { "SLA clocks" }
            @match clocks.filter(|c| !c.clocks.is_empty() || !c.escalations.is_empty()) {
                None => p { "No SLA clock yet: it starts when escalation hears of the case." },
                Some(case) => {
                    table.clocks {
                        thead { tr { th { "Clock" } th { "Deadline" } th { "Used of target" } th { "Policy · queue · priority" } } }
                        tbody {
                            @for clock in &case.clocks {
                                tr class={ "clock " (clock.state) } data-clock=(clock.kind) {
                                    td { (label(&clock.kind)) }
                                    td {
                                        @match (clock.state.as_str(), at_ms(clock.due_at.as_ref())) {
                                            ("running", Some(due)) => {
                                                (countdown(label(&clock.kind), due))
                                                @if let Some(warn) = clock.warn_at.as_ref() { " · warns at " (time(Some(warn))) }
                                            }
                                            ("fired", Some(due)) => { span.breached { "Breached" } " · " (countdown("overdue since", due)) }
                                            ("paused", _) => { "Paused (waiting on the customer) since " (time(clock.paused_at.as_ref())) }
                                            ("stopped", _) => { "Answered" }
                                            (state, _) => { (state) }
                                        }
                                    }
                                    td { (span(clock.used_seconds)) " of " (span(clock.target_seconds)) }
                                    td { (clock.policy) " · " (clock.queue) " · " (clock.priority) }
                                }
                            }
                        }
                    }
                    @if !case.escalations.is_empty() {
                        table.case-escalations {
                            thead { tr { th { "Escalation" } th { "Level" } th { "State" } th { "Next level" } } }
                            tbody {
                                @for escalation in &case.escalations {
                                    tr class={ "escalation " (escalation.state) @if escalation.reason.starts_with("sla_") { " breach" } } {
                                        td.reason { (escalation.reason) " · " (time(escalation.created_at.as_ref())) }
                                        td { (escalation.level) " · " (escalation.audience) }
                                        td { (escalation.state) }
                                        td { @match at_ms(escalation.next_level_at.as_ref()) {
                                            Some(next) => (countdown(&format!("Level {}", escalation.level + 1), next)),
                                            None => "—",
                                        } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An escalation as a row of the supervisor's feed, with its actions.
pub fn escalation_row(escalation: &pb::Escalation, session: &Session) -> Markup {
    let breach = escalation.reason.starts_with("sla_");
    html! {
        tr id={ "esc-" (escalation.escalation_id) } class={ "escalation " (escalation.state) @if breach { " breach" } } {
            td { (time(escalation.created_at.as_ref())) }
            td { a href={ "/supervisor/case?id=" (escalation.case_id) } { (escalation.case_id) } }
            td.reason { (escalation.reason) }
            td { (escalation.level) " · " (escalation.audience) }
            td { (escalation.state) }
            td { (escalation.queue) " / " (escalation.priority) }
            td { (escalation.detail) }
            td.actions {
                @if escalation.state == "open" {
                    form method="post" action={ "/supervisor/escalation/" (escalation.escalation_id) "/acknowledge" } {
                        (csrf_field(session)) button type="submit" { "Acknowledge" }
                    }
                }
                @if escalation.state != "resolved" {
                    form method="post" action={ "/supervisor/escalation/" (escalation.escalation_id) "/resolve" } {
                        (csrf_field(session)) button type="submit" { "Resolve" }
                    }
                    (reassign_form(&escalation.case_id, session))
                }
            }
        }
    }
}

/// Reassign a case: to a queue or `agent:ID`, picked from the page's `#reassign-targets` list or
/// typed.
pub fn reassign_form(case_id: &str, session: &Session) -> Markup {
    html! {
        form.reassign method="post" action={ "/supervisor/case/" (case_id) "/reassign" } {
            (csrf_field(session))
            input name="target" list="reassign-targets" placeholder="queue or agent:ID" required aria-label="Reassign to";
            button type="submit" { "Reassign" }
        }
    }
}

/// A supervisor's SLA warning (a case nearing its target) as a feed row.
pub fn warning_row(warning: &pb::SlaWarning) -> Markup {
    let clock = if warning.clock == "first_response" { "first response" } else { "next response" };
    html! {
        tr id={ "warn-" (warning.case_id) "-" (warning.clock) } class="warning" {
            td { "—" }
            td { a href={ "/supervisor/case?id=" (warning.case_id) } { (warning.case_id) } }
            td.reason { "sla_warning" }
            td { "—" }
            td { "due soon" }
            td { (warning.queue) " / " (warning.priority) }
            td { (clock) " " (countdown("due", warning.due_at.as_ref().map_or(0, ms_from_timestamp))) " · " (warning.detail) }
            td {}
        }
    }
}

/// Raw markup for the static help of keyboard shortcuts.
pub fn shortcuts() -> Markup {
    html! {
        aside #help hidden {
            h3 { "Keys" }
            (PreEscaped("<dl><dt>n</dt><dd>next case</dd><dt>r</dt><dd>reply</dd><dt>e</dt><dd>escalate</dd>\
                <dt>w</dt><dd>waiting on the customer</dd><dt>d</dt><dd>resolve (done)</dd><dt>?</dt><dd>this help</dd></dl>"))
        }
    }
}
