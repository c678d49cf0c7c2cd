//! An SLA policy as an admin edits it: one HTML form per policy (prefilled from what escalation
//! stores), read back into the wire policy. Only the shape is checked here (numbers are numbers,
//! hours look like hours); escalation validates the values and names the field it refuses.

use earshot_proto::v1 as pb;
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::Failure;
use crate::pages::csrf_field;
use crate::session::Session;

/// Priority bands a form offers (the built-in policy has three).
const BAND_ROWS: usize = 4;

/// The fields of the policy form, as posted.
#[derive(Debug, Default, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    name: String,
    /// Comma-separated queue names.
    #[serde(default)]
    queues: String,
    #[serde(default)]
    warning_percent: String,
    #[serde(default)]
    b0_min: String,
    #[serde(default)]
    b0_first: String,
    #[serde(default)]
    b0_next: String,
    #[serde(default)]
    b1_min: String,
    #[serde(default)]
    b1_first: String,
    #[serde(default)]
    b1_next: String,
    #[serde(default)]
    b2_min: String,
    #[serde(default)]
    b2_first: String,
    #[serde(default)]
    b2_next: String,
    #[serde(default)]
    b3_min: String,
    #[serde(default)]
    b3_first: String,
    #[serde(default)]
    b3_next: String,
    /// IANA zone; empty: around the clock.
    #[serde(default)]
    time_zone: String,
    /// "mon-fri 09:00-17:00, sat 10:00-14:00".
    #[serde(default)]
    hours: String,
    /// Comma-separated YYYY-MM-DD.
    #[serde(default)]
    holidays: String,
    #[serde(default)]
    risk_threshold: String,
    #[serde(default)]
    reach_followers: String,
    #[serde(default)]
    repeat_contacts: String,
    /// "supervisors, managers after 30".
    #[serde(default)]
    levels: String,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn invalid(field: &str, reason: impl std::fmt::Display) -> Failure {
    Failure::Form(format!("{field}: {reason}"))
}

/// A number field; empty is `None`.
fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| invalid(field, format!("'{text}' is not a number")))
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()
}

/// "mon-fri 09:00-17:00, sat 10:00-14:00" as windows, one per day.
fn windows(text: &str) -> Result<Vec<pb::BusinessWindow>, Failure> {
    let mut windows = Vec::new();
    for item in list(text) {
        let shape = || invalid("hours", format!("'{item}' is not like 'mon-fri 09:00-17:00'"));
        let (days, times) = item.split_once(' ').ok_or_else(shape)?;
        let (start, end) = times.trim().split_once('-').ok_or_else(shape)?;
        let day_index = |day: &str| DAYS.iter().position(|d| d.eq_ignore_ascii_case(day.trim())).ok_or_else(shape);
        let (first, last) = match days.split_once('-') {
            Some((first, last)) => (day_index(first)?, day_index(last)?),
            None => (day_index(days)?, day_index(days)?),
        };
        if last < first {
            return Err(shape());
        }
        for day in &DAYS[first..=last] {
            windows.push(pb::BusinessWindow {
                day: (*day).to_owned(),
                start: start.trim().to_owned(),
                end: end.trim().to_owned(),
            });
        }
    }
    Ok(windows)
}

/// "supervisors, managers after 30" as levels.
fn levels(text: &str) -> Result<Vec<pb::EscalationLevel>, Failure> {
    list(text)
        .into_iter()
        .map(|item| match item.split_once(" after ") {
            Some((audience, minutes)) => {
                let minutes = minutes.trim().trim_end_matches("min").trim();
                let after_minutes = number("levels", minutes)?.unwrap_or(0);
                Ok(pb::EscalationLevel { after_minutes, audience: audience.trim().to_owned() })
            }
            None => Ok(pb::EscalationLevel { after_minutes: 0, audience: item }),
        })
        .collect()
}

impl PolicyForm {
    /// The policy the form describes.
    pub fn to_wire(&self) -> Result<pb::SlaPolicy, Failure> {
        let rows = [
            (&self.b0_min, &self.b0_first, &self.b0_next),
            (&self.b1_min, &self.b1_first, &self.b1_next),
            (&self.b2_min, &self.b2_first, &self.b2_next),
            (&self.b3_min, &self.b3_first, &self.b3_next),
        ];
        let mut targets = Vec::new();
        for (i, (min, first, next)) in rows.into_iter().enumerate() {
            if min.trim().is_empty() && first.trim().is_empty() && next.trim().is_empty() {
                continue;
            }
            let field = |name: &str| format!("band {} {name}", i + 1);
            targets.push(pb::SlaTarget {
                min_priority: number(&field("priority from"), min)?.unwrap_or(0),
                first_response_minutes: number(&field("first response"), first)?.unwrap_or(0),
                next_response_minutes: number(&field("next response"), next)?.unwrap_or(0),
            });
        }
        let business_hours = (!self.time_zone.trim().is_empty()).then(|| -> Result<_, Failure> {
            Ok(pb::BusinessHours {
                time_zone: self.time_zone.trim().to_owned(),
                windows: windows(&self.hours)?,
                holidays: list(&self.holidays),
            })
        });
        Ok(pb::SlaPolicy {
            name: self.name.trim().to_owned(),
            queues: list(&self.queues),
            targets,
            warning_percent: number("warn at", &self.warning_percent)?.unwrap_or(0),
            business_hours: business_hours.transpose()?,
            escalation: Some(pb::EscalationRules {
                risk_threshold: number("risk threshold", &self.risk_threshold)?,
                reach_followers: number("reach followers", &self.reach_followers)?,
                repeat_contacts: number("repeat contacts", &self.repeat_contacts)?,
                levels: levels(&self.levels)?,
            }),
            updated_at: None,
        })
    }
}

/// Windows back as the admin would type them: "mon-fri 09:00-17:00, sat 10:00-14:00" (consecutive
/// days with the same hours run together).
fn hours_text(hours: &pb::BusinessHours) -> String {
    let day_index = |day: &str| DAYS.iter().position(|d| *d == day);
    let mut runs: Vec<(usize, usize, &str, &str)> = Vec::new();
    for window in &hours.windows {
        let Some(day) = day_index(&window.day) else { continue };
        match runs.last_mut() {
            Some((_, last, start, end)) if *last + 1 == day && *start == window.start && *end == window.end => {
                *last = day
            }
            _ => runs.push((day, day, &window.start, &window.end)),
        }
    }
    let items: Vec<String> = runs
        .into_iter()
        .map(|(first, last, start, end)| match first == last {
            true => format!("{} {start}-{end}", DAYS[first]),
            false => format!("{}-{} {start}-{end}", DAYS[first], DAYS[last]),
        })
        .collect();
    items.join(", ")
}

fn levels_text(levels: &[pb::EscalationLevel]) -> String {
    let items: Vec<String> =
        levels
            .iter()
            .enumerate()
            .map(|(i, level)| {
                if i == 0 {
                    level.audience.clone()
                } else {
                    format!("{} after {}", level.audience, level.after_minutes)
                }
            })
            .collect();
    items.join(", ")
}

/// The form for `policy` (a new one when its name is empty), posting to `/admin/policies`.
pub fn policy_form(policy: &pb::SlaPolicy, session: &Session) -> Markup {
    let new = policy.name.is_empty();
    let hours = policy.business_hours.clone().unwrap_or_default();
    let rules = policy.escalation.clone().unwrap_or_default();
    let band = |i: usize| policy.targets.get(i).cloned();
    html! {
        form.policy method="post" action="/admin/policies" data-policy=(policy.name) {
            (csrf_field(session))
            fieldset {
                legend { @if new { "New policy" } @else { "Policy " (policy.name) } }
                label { "Name " input name="name" value=(policy.name) required pattern="[A-Za-z0-9_-]+" readonly[!new]; }
                label { "Queues " input name="queues" value=(policy.queues.join(", ")) placeholder="billing, legal (empty: default)"; }
                label { "Warn at % " input name="warning_percent" type="number" min="1" max="99" placeholder="80"
                    value=[(policy.warning_percent > 0).then_some(policy.warning_percent)]; }
                table.bands {
                    thead { tr { th { "From priority" } th { "First response (min)" } th { "Next response (min)" } } }
                    tbody {
                        @for i in 0..BAND_ROWS {
                            @let target = band(i);
                            tr {
                                td { input name={ "b" (i) "_min" } type="number" min="0" max="100" aria-label={ "band " (i + 1) " from priority" }
                                    value=[target.as_ref().map(|t| t.min_priority)]; }
                                td { input name={ "b" (i) "_first" } type="number" min="1" aria-label={ "band " (i + 1) " first response" }
                                    value=[target.as_ref().map(|t| t.first_response_minutes)]; }
                                td { input name={ "b" (i) "_next" } type="number" min="1" aria-label={ "band " (i + 1) " next response" }
                                    value=[target.as_ref().map(|t| t.next_response_minutes)]; }
                            }
                        }
                    }
                }
                label { "Time zone " input name="time_zone" value=(hours.time_zone) placeholder="Europe/Berlin (empty: around the clock)"; }
                label { "Hours " input name="hours" value=(hours_text(&hours)) placeholder="mon-fri 09:00-17:00"; }
                label { "Holidays " input name="holidays" value=(hours.holidays.join(", ")) placeholder="2026-12-25, 2027-01-01"; }
                label { "Risk threshold " input name="risk_threshold" value=[rules.risk_threshold] placeholder="0.9"; }
                label { "Reach followers " input name="reach_followers" value=[rules.reach_followers] placeholder="100000"; }
                label { "Repeat contacts " input name="repeat_contacts" value=[rules.repeat_contacts] placeholder="3"; }
                label { "Levels " input name="levels" value=(levels_text(&rules.levels)) placeholder="supervisors, managers after 30"; }
                button type="submit" { @if new { "Add policy" } @else { "Save policy" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_form_reads_as_the_policy_it_shows() {
        let form = PolicyForm {
            name: " vip ".into(),
            queues: "billing, legal,".into(),
            warning_percent: "70".into(),
            b0_min: "80".into(),
            b0_first: "5".into(),
            b0_next: "10".into(),
            b2_min: "0".into(),
            b2_first: "60".into(),
            b2_next: "120".into(),
            time_zone: "Europe/Berlin".into(),
            hours: "mon-fri 09:00-17:00, sat 10:00-14:00".into(),
            holidays: "2026-12-25".into(),
            repeat_contacts: "2".into(),
            levels: "supervisors, managers after 30".into(),
            ..PolicyForm::default()
        };
        let policy = form.to_wire().unwrap();
        assert_eq!(
            (policy.name.as_str(), policy.queues.clone()),
            ("vip", vec!["billing".to_owned(), "legal".to_owned()])
        );
        assert_eq!(policy.targets.len(), 2);
        assert_eq!(policy.targets[1].first_response_minutes, 60);
        let hours = policy.business_hours.clone().unwrap();
        assert_eq!(hours.windows.len(), 6);
        assert_eq!((hours.windows[5].day.as_str(), hours.windows[5].end.as_str()), ("sat", "14:00"));
        let rules = policy.escalation.clone().unwrap();
        assert_eq!((rules.repeat_contacts, rules.risk_threshold), (Some(2), None));
        assert_eq!(rules.levels[1].after_minutes, 30);
        assert_eq!(hours_text(&hours), "mon-fri 09:00-17:00, sat 10:00-14:00");
        assert_eq!(levels_text(&rules.levels), "supervisors, managers after 30");
    }

    #[test]
    fn a_malformed_field_is_named() {
        let form = PolicyForm { name: "x".into(), b1_first: "soon".into(), ..PolicyForm::default() };
        assert!(form.to_wire().unwrap_err().to_string().starts_with("band 2 first response"));
        let form =
            PolicyForm { name: "x".into(), time_zone: "UTC".into(), hours: "weekdays".into(), ..PolicyForm::default() };
        assert!(form.to_wire().unwrap_err().to_string().starts_with("hours: 'weekdays'"));
    }
}
