//! SLA policies: how fast a tenant answers, by priority band, in which hours; when supervisors are
//! warned; what escalates at once; and who hears about an escalation nobody picks up.
//!
//! A case is governed by the policy naming its queue, else the tenant's `default` policy, else the
//! built-in one (DESIGN's table, from the service's flags). Fields a policy leaves out take the
//! built-in values, so a tenant can set business hours without restating every target.

use earshot_core::InvalidArgument;
use earshot_core::clock::timestamp_from_ms;
use earshot_core::ids::check_name;
use earshot_proto::v1 as pb;

use crate::calendar::{BusinessHours, Calendar};

/// The policy that governs queues no other policy names.
pub const DEFAULT_POLICY: &str = "default";
/// The name of the built-in policy in answers.
pub const BUILTIN_POLICY: &str = "builtin";
/// Longest target: 30 days.
const MAX_TARGET_MINUTES: u32 = 30 * 24 * 60;

/// The two SLA clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    /// From the case's first post to the first agent response.
    FirstResponse,
    /// From a customer's post after a response to the next response.
    NextResponse,
}

impl ClockKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::FirstResponse => "first_response",
            ClockKind::NextResponse => "next_response",
        }
    }

    /// For people: `first response`.
    pub fn label(self) -> &'static str {
        match self {
            ClockKind::FirstResponse => "first response",
            ClockKind::NextResponse => "next response",
        }
    }

    /// From the stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "first_response" => Some(ClockKind::FirstResponse),
            "next_response" => Some(ClockKind::NextResponse),
            _ => None,
        }
    }
}

/// Targets for cases at or above a priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    /// Lowest priority of the band.
    pub min_priority: u32,
    /// First-response target.
    pub first_response_ms: i64,
    /// Next-response target.
    pub next_response_ms: i64,
}

/// One escalation level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Time after the previous level (0 for level 1).
    pub after_ms: i64,
    /// Who hears about it.
    pub audience: String,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// Queues it governs.
    pub queues: Vec<String>,
    /// Bands, highest `min_priority` first; the last has `min_priority` 0.
    pub bands: Vec<Band>,
    /// Warn at this share of a target, in percent.
    pub warning_percent: u32,
    /// When clocks run.
    pub calendar: Calendar,
    /// Immediate escalation at or above this risk.
    pub risk_threshold: f32,
    /// Immediate escalation of a negative post by an author with this many followers.
    pub reach_followers: u64,
    /// Immediate escalation at this contact of an open case.
    pub repeat_contacts: u32,
    /// Level 1 first.
    pub levels: Vec<Level>,
    /// Last change (0 for the built-in policy).
    pub updated_at_ms: i64,
}

/// The built-in policy's values, from the service's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// First-response target for priority ≥ 80.
    pub high_ms: i64,
    /// For 50–79.
    pub medium_ms: i64,
    /// For < 50.
    pub low_ms: i64,
    /// Contact number that escalates.
    pub repeat_contacts: u32,
}

impl Default for Builtin {
    fn default() -> Self {
        Self { high_ms: 15 * 60_000, medium_ms: 60 * 60_000, low_ms: 240 * 60_000, repeat_contacts: 3 }
    }
}

fn minutes_ms(minutes: u32) -> i64 {
    i64::from(minutes) * 60_000
}

fn whole_minutes(ms: i64) -> u32 {
    u32::try_from(ms / 60_000).unwrap_or(u32::MAX)
}

impl Builtin {
    /// DESIGN's table: next-response targets equal first-response ones; warnings at 80%; level 2
    /// (managers) after 30 minutes without acknowledgement.
    pub fn policy(&self) -> Policy {
        let band = |min_priority, ms| Band { min_priority, first_response_ms: ms, next_response_ms: ms };
        Policy {
            name: BUILTIN_POLICY.to_owned(),
            queues: Vec::new(),
            bands: vec![band(80, self.high_ms), band(50, self.medium_ms), band(0, self.low_ms)],
            warning_percent: 80,
            calendar: Calendar::AlwaysOpen,
            risk_threshold: 0.9,
            reach_followers: 100_000,
            repeat_contacts: self.repeat_contacts,
            levels: vec![
                Level { after_ms: 0, audience: "supervisors".to_owned() },
                Level { after_ms: 30 * 60_000, audience: "managers".to_owned() },
            ],
            updated_at_ms: 0,
        }
    }
}

fn check_minutes(field: String, minutes: u32) -> Result<i64, InvalidArgument> {
    if minutes == 0 || minutes > MAX_TARGET_MINUTES {
        return Err(InvalidArgument::new(field, format!("must be 1 to {MAX_TARGET_MINUTES} minutes")));
    }
    Ok(minutes_ms(minutes))
}

impl Policy {
    /// Validates a policy a client sent; fields it leaves out take `builtin`'s values. Errors name
    /// the field.
    pub fn from_wire(wire: &pb::SlaPolicy, builtin: &Policy) -> Result<Self, InvalidArgument> {
        check_name("name", &wire.name)?;
        if wire.name == BUILTIN_POLICY {
            return Err(InvalidArgument::new("name", "'builtin' is reserved"));
        }
        let mut queues = Vec::with_capacity(wire.queues.len());
        for (i, queue) in wire.queues.iter().enumerate() {
            let queue = queue.trim().to_ascii_lowercase();
            check_name(&format!("queues[{i}]"), &queue)?;
            if !queues.contains(&queue) {
                queues.push(queue);
            }
        }
        match (wire.name == DEFAULT_POLICY, queues.is_empty()) {
            (true, false) => {
                return Err(InvalidArgument::new(
                    "queues",
                    "must be empty for 'default', which governs every other queue",
                ));
            }
            (false, true) => {
                return Err(InvalidArgument::new("queues", "names no queue; the policy would govern nothing"));
            }
            _ => {}
        }
        if wire.targets.len() > 10 {
            return Err(InvalidArgument::new("targets", "has more than 10 bands"));
        }
        let mut bands = Vec::with_capacity(wire.targets.len());
        for (i, target) in wire.targets.iter().enumerate() {
            let field = |name: &str| format!("targets[{i}].{name}");
            if target.min_priority > 100 {
                return Err(InvalidArgument::new(field("min_priority"), "is above 100"));
            }
            if bands.iter().any(|b: &Band| b.min_priority == target.min_priority) {
                return Err(InvalidArgument::new(field("min_priority"), "repeats another band's"));
            }
            bands.push(Band {
                min_priority: target.min_priority,
                first_response_ms: check_minutes(field("first_response_minutes"), target.first_response_minutes)?,
                next_response_ms: check_minutes(field("next_response_minutes"), target.next_response_minutes)?,
            });
        }
        bands.sort_by_key(|band| std::cmp::Reverse(band.min_priority));
        if bands.is_empty() {
            bands = builtin.bands.clone();
        } else if bands.last().is_some_and(|b| b.min_priority != 0) {
            return Err(InvalidArgument::new("targets", "needs a band with min_priority 0 so every case has a target"));
        }
        let warning_percent = match wire.warning_percent {
            0 => builtin.warning_percent,
            percent @ 1..=99 => percent,
            _ => return Err(InvalidArgument::new("warning_percent", "must be 1 to 99")),
        };
        let calendar = match &wire.business_hours {
            Some(hours) => Calendar::Business(Box::new(BusinessHours::from_wire(hours)?)),
            None => Calendar::AlwaysOpen,
        };
        let rules = wire.escalation.clone().unwrap_or_default();
        let risk_threshold = rules.risk_threshold.unwrap_or(builtin.risk_threshold);
        if !(0.0..=1.0).contains(&risk_threshold) || risk_threshold.is_nan() {
            return Err(InvalidArgument::new("escalation.risk_threshold", "must be 0 to 1"));
        }
        let repeat_contacts = rules.repeat_contacts.unwrap_or(builtin.repeat_contacts);
        if !(2..=100).contains(&repeat_contacts) {
            return Err(InvalidArgument::new("escalation.repeat_contacts", "must be 2 to 100"));
        }
        if rules.levels.len() > 10 {
            return Err(InvalidArgument::new("escalation.levels", "has more than 10 levels"));
        }
        let mut levels = Vec::with_capacity(rules.levels.len());
        for (i, level) in rules.levels.iter().enumerate() {
            let field = |name: &str| format!("escalation.levels[{i}].{name}");
            let audience = level.audience.trim().to_owned();
            check_name(&field("audience"), &audience)?;
            let after_ms = if i == 0 { 0 } else { check_minutes(field("after_minutes"), level.after_minutes)? };
            levels.push(Level { after_ms, audience });
        }
        if levels.is_empty() {
            levels = builtin.levels.clone();
        }
        Ok(Policy {
            name: wire.name.clone(),
            queues,
            bands,
            warning_percent,
            calendar,
            risk_threshold,
            reach_followers: rules.reach_followers.unwrap_or(builtin.reach_followers),
            repeat_contacts,
            levels,
            updated_at_ms: 0,
        })
    }

    /// The wire form, every field spelled out.
    pub fn to_wire(&self) -> pb::SlaPolicy {
        pb::SlaPolicy {
            name: self.name.clone(),
            queues: self.queues.clone(),
            targets: self
                .bands
                .iter()
                .map(|band| pb::SlaTarget {
                    min_priority: band.min_priority,
                    first_response_minutes: whole_minutes(band.first_response_ms),
                    next_response_minutes: whole_minutes(band.next_response_ms),
                })
                .collect(),
            warning_percent: self.warning_percent,
            business_hours: match &self.calendar {
                Calendar::AlwaysOpen => None,
                Calendar::Business(hours) => Some(hours.to_wire()),
            },
            escalation: Some(pb::EscalationRules {
                risk_threshold: Some(self.risk_threshold),
                reach_followers: Some(self.reach_followers),
                repeat_contacts: Some(self.repeat_contacts),
                levels: self
                    .levels
                    .iter()
                    .map(|level| pb::EscalationLevel {
                        after_minutes: whole_minutes(level.after_ms),
                        audience: level.audience.clone(),
                    })
                    .collect(),
            }),
            updated_at: (self.updated_at_ms > 0).then(|| timestamp_from_ms(self.updated_at_ms)),
        }
    }

    /// The target of a clock for a case at `priority`.
    pub fn target_ms(&self, clock: ClockKind, priority: u32) -> i64 {
        let band = self.bands.iter().find(|band| priority >= band.min_priority).or(self.bands.last());
        match (band, clock) {
            (Some(band), ClockKind::FirstResponse) => band.first_response_ms,
            (Some(band), ClockKind::NextResponse) => band.next_response_ms,
            (None, _) => 0,
        }
    }

    /// Open time after which supervisors are warned about a clock with `target_ms`.
    pub fn warning_ms(&self, target_ms: i64) -> i64 {
        target_ms * i64::from(self.warning_percent) / 100
    }

    /// Level `level` (1-based), if the policy has it.
    pub fn level(&self, level: u32) -> Option<&Level> {
        usize::try_from(level).ok().and_then(|l| l.checked_sub(1)).and_then(|i| self.levels.get(i))
    }
}

/// Minutes written for people: `15 min`, `4 h`, `1 h 30 min`.
pub fn duration_label(ms: i64) -> String {
    let minutes = ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn builtin() -> Policy {
        Builtin::default().policy()
    }

    #[test]
    fn builtin_bands_follow_design() {
        let policy = builtin();
        assert_eq!(policy.target_ms(ClockKind::FirstResponse, 100), 15 * 60_000);
        assert_eq!(policy.target_ms(ClockKind::FirstResponse, 80), 15 * 60_000);
        assert_eq!(policy.target_ms(ClockKind::FirstResponse, 79), 60 * 60_000);
        assert_eq!(policy.target_ms(ClockKind::FirstResponse, 50), 60 * 60_000);
        assert_eq!(policy.target_ms(ClockKind::NextResponse, 49), 240 * 60_000);
        assert_eq!(policy.warning_ms(15 * 60_000), 12 * 60_000);
        assert_eq!(duration_label(240 * 60_000), "4 h");
        assert_eq!(duration_label(15 * 60_000), "15 min");
        assert_eq!(duration_label(90 * 60_000), "1 h 30 min");
    }

    #[test]
    fn a_partial_policy_takes_the_rest_from_the_builtin_one_and_round_trips() {
        let wire = pb::SlaPolicy {
            name: "vip".into(),
            queues: vec!["Billing".into()],
            targets: vec![
                pb::SlaTarget { min_priority: 0, first_response_minutes: 30, next_response_minutes: 60 },
                pb::SlaTarget { min_priority: 60, first_response_minutes: 5, next_response_minutes: 10 },
            ],
            escalation: Some(pb::EscalationRules { risk_threshold: Some(0.7), ..Default::default() }),
            ..Default::default()
        };
        let policy = Policy::from_wire(&wire, &builtin()).unwrap();
        assert_eq!(policy.queues, ["billing"]);
        assert_eq!(policy.target_ms(ClockKind::FirstResponse, 60), 5 * 60_000);
        assert_eq!(policy.target_ms(ClockKind::NextResponse, 59), 60 * 60_000);
        assert_eq!(policy.risk_threshold, 0.7);
        assert_eq!(policy.reach_followers, 100_000);
        assert_eq!(policy.level(2).unwrap().audience, "managers");
        assert!(policy.level(3).is_none());
        let again = Policy::from_wire(&policy.to_wire(), &builtin()).unwrap();
        assert_eq!(again.bands, policy.bands);
        assert_eq!(again.levels, policy.levels);
    }

    #[test]
    fn bad_policies_name_the_field() {
        let field = |wire: pb::SlaPolicy| Policy::from_wire(&wire, &builtin()).unwrap_err().field;
        let base = pb::SlaPolicy { name: "vip".into(), queues: vec!["billing".into()], ..Default::default() };
        assert_eq!(field(pb::SlaPolicy { name: "".into(), ..base.clone() }), "name");
        assert_eq!(field(pb::SlaPolicy { queues: vec![], ..base.clone() }), "queues");
        assert_eq!(field(pb::SlaPolicy { name: "default".into(), ..base.clone() }), "queues");
        let no_floor = vec![pb::SlaTarget { min_priority: 50, first_response_minutes: 5, next_response_minutes: 5 }];
        assert_eq!(field(pb::SlaPolicy { targets: no_floor, ..base.clone() }), "targets");
        let zero = vec![pb::SlaTarget { min_priority: 0, first_response_minutes: 0, next_response_minutes: 5 }];
        assert_eq!(field(pb::SlaPolicy { targets: zero, ..base.clone() }), "targets[0].first_response_minutes");
        assert_eq!(field(pb::SlaPolicy { warning_percent: 100, ..base.clone() }), "warning_percent");
        let risk = pb::EscalationRules { risk_threshold: Some(1.5), ..Default::default() };
        assert_eq!(field(pb::SlaPolicy { escalation: Some(risk), ..base.clone() }), "escalation.risk_threshold");
        let levels = pb::EscalationRules {
            levels: vec![
                pb::EscalationLevel { after_minutes: 0, audience: "leads".into() },
                pb::EscalationLevel { after_minutes: 0, audience: "managers".into() },
            ],
            ..Default::default()
        };
        assert_eq!(field(pb::SlaPolicy { escalation: Some(levels), ..base }), "escalation.levels[1].after_minutes");
    }
}
