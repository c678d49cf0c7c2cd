//! When SLA clocks run: around the clock, or inside a tenant's business hours in its time zone,
//! minus its holidays. A 1-hour target set at 16:30 on a Friday, for a team that works 9–17 on
//! weekdays, is due at 09:30 on Monday, not at 17:30 on Friday night.

use std::collections::BTreeSet;

use earshot_core::InvalidArgument;
use earshot_proto::v1 as pb;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// How far ahead a calendar looks for open hours before it calls a target unreachable.
const HORIZON_DAYS: usize = 800;
/// A due time that never comes (a calendar with no open hours left within the horizon).
pub const NEVER: i64 = i64::MAX / 4;

/// When clocks run.
#[derive(Debug, Clone)]
pub enum Calendar {
    /// Every millisecond counts.
    AlwaysOpen,
    /// Only business hours count.
    Business(Box<BusinessHours>),
}

/// Opening hours in a time zone, with holidays.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    zone_name: String,
    zone: TimeZone,
    /// Per weekday, Monday first: sorted, non-overlapping `[start, end)` minutes of the day.
    days: [Vec<(i32, i32)>; 7],
    holidays: BTreeSet<Date>,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM` as minutes of the day; `24:00` is allowed as an end.
fn minutes(field: &str, value: &str) -> Result<i32, InvalidArgument> {
    let parsed = value.split_once(':').and_then(|(h, m)| {
        let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
        (h.to_string().len() <= 2 && m.to_string().len() <= 2 && (0..=24).contains(&h) && (0..60).contains(&m))
            .then_some(h * 60 + m)
    });
    match parsed {
        Some(total) if total <= 24 * 60 => Ok(total),
        _ => Err(InvalidArgument::new(field, format!("'{value}' is not a time of day HH:MM"))),
    }
}

fn label(minutes: i32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl BusinessHours {
    /// Validates the wire form; errors name the field (`business_hours.windows[2].end`).
    pub fn from_wire(wire: &pb::BusinessHours) -> Result<Self, InvalidArgument> {
        let zone = TimeZone::get(&wire.time_zone).map_err(|_| {
            InvalidArgument::new("business_hours.time_zone", format!("'{}' is not an IANA time zone", wire.time_zone))
        })?;
        if wire.windows.is_empty() {
            return Err(InvalidArgument::new("business_hours.windows", "needs at least one window"));
        }
        if wire.windows.len() > 70 || wire.holidays.len() > 1_000 {
            return Err(InvalidArgument::new("business_hours", "has more than 70 windows or 1000 holidays"));
        }
        let mut days: [Vec<(i32, i32)>; 7] = Default::default();
        for (i, window) in wire.windows.iter().enumerate() {
            let field = |name: &str| format!("business_hours.windows[{i}].{name}");
            let day = DAY_NAMES.iter().position(|d| window.day.eq_ignore_ascii_case(d)).ok_or_else(|| {
                InvalidArgument::new(field("day"), format!("'{}' is not one of mon … sun", window.day))
            })?;
            let start = minutes(&field("start"), &window.start)?;
            let end = minutes(&field("end"), &window.end)?;
            if end <= start || start >= 24 * 60 {
                return Err(InvalidArgument::new(field("end"), "must be after start"));
            }
            if days[day].iter().any(|&(s, e)| start < e && s < end) {
                return Err(InvalidArgument::new(field("start"), "overlaps another window of that day"));
            }
            days[day].push((start, end));
            days[day].sort_unstable();
        }
        let mut holidays = BTreeSet::new();
        for (i, holiday) in wire.holidays.iter().enumerate() {
            let date = holiday.parse::<Date>().map_err(|_| {
                InvalidArgument::new(format!("business_hours.holidays[{i}]"), format!("'{holiday}' is not YYYY-MM-DD"))
            })?;
            holidays.insert(date);
        }
        Ok(Self { zone_name: wire.time_zone.clone(), zone, days, holidays })
    }

    /// The wire form, windows in week order.
    pub fn to_wire(&self) -> pb::BusinessHours {
        let windows = self
            .days
            .iter()
            .zip(DAY_NAMES)
            .flat_map(|(windows, day)| {
                windows.iter().map(move |&(start, end)| pb::BusinessWindow {
                    day: day.to_owned(),
                    start: label(start),
                    end: label(end),
                })
            })
            .collect();
        pb::BusinessHours {
            time_zone: self.zone_name.clone(),
            windows,
            holidays: self.holidays.iter().map(ToString::to_string).collect(),
        }
    }

    /// The instant of `minute` of the local `date` (a time skipped by a clock change counts as the
    /// instant after the gap).
    fn instant(&self, date: Date, minute: i32) -> Option<i64> {
        let (date, minute) = if minute >= 24 * 60 { (date.tomorrow().ok()?, minute - 24 * 60) } else { (date, minute) };
        let hour = i8::try_from(minute / 60).ok()?;
        let min = i8::try_from(minute % 60).ok()?;
        let zoned = date.at(hour, min, 0, 0).to_zoned(self.zone.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }

    /// Open intervals `[start, end)` in milliseconds that end after `from_ms`, in order, clipped to
    /// start no earlier than `from_ms`.
    fn open_from(&self, from_ms: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let first = Timestamp::from_millisecond(from_ms)
            .map(|ts| ts.to_zoned(self.zone.clone()))
            .ok()
            .map(|zoned: Zoned| zoned.date())
            .and_then(|date| date.yesterday().ok());
        let dates = std::iter::successors(first, |date| date.tomorrow().ok()).take(HORIZON_DAYS);
        dates
            .filter(|date| !self.holidays.contains(date))
            .flat_map(move |date| {
                let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
                self.days[weekday]
                    .iter()
                    .filter_map(move |&(start, end)| Some((self.instant(date, start)?, self.instant(date, end)?)))
            })
            .filter(move |&(_, end)| end > from_ms)
            .map(move |(start, end)| (start.max(from_ms), end))
    }
}

impl Calendar {
    /// The instant at which `duration_ms` of open time has passed since `from_ms`.
    pub fn add(&self, from_ms: i64, duration_ms: i64) -> i64 {
        match self {
            Calendar::AlwaysOpen => from_ms.saturating_add(duration_ms),
            Calendar::Business(hours) => {
                let mut remaining = duration_ms.max(0);
                for (start, end) in hours.open_from(from_ms) {
                    if end - start >= remaining {
                        return start + remaining;
                    }
                    remaining -= end - start;
                }
                NEVER
            }
        }
    }

    /// Open time between two instants.
    pub fn between(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        match self {
            Calendar::AlwaysOpen => to_ms - from_ms,
            Calendar::Business(hours) => hours
                .open_from(from_ms)
                .take_while(|&(start, _)| start < to_ms)
                .map(|(start, end)| end.min(to_ms) - start)
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn weekdays_9_to_17(zone: &str, holidays: &[&str]) -> Calendar {
        let windows = DAY_NAMES[..5]
            .iter()
            .map(|day| pb::BusinessWindow { day: day.to_string(), start: "09:00".into(), end: "17:00".into() })
            .collect();
        let wire = pb::BusinessHours {
            time_zone: zone.into(),
            windows,
            holidays: holidays.iter().map(|h| h.to_string()).collect(),
        };
        Calendar::Business(Box::new(BusinessHours::from_wire(&wire).unwrap()))
    }

    #[test]
    fn inside_hours_a_target_is_plain_arithmetic() {
        let calendar = weekdays_9_to_17("Europe/Berlin", &[]);
        // Wednesday 2026-11-18 10:00 Berlin = 09:00 UTC.
        let start = at("2026-11-18T09:00:00Z");
        assert_eq!(calendar.add(start, HOUR), start + HOUR);
        assert_eq!(calendar.between(start, start + HOUR), HOUR);
    }

    #[test]
    fn a_target_crosses_the_night_and_the_weekend() {
        let calendar = weekdays_9_to_17("Europe/Berlin", &[]);
        // Wednesday 16:30 Berlin + 1 h = Thursday 09:30 Berlin.
        assert_eq!(calendar.add(at("2026-11-18T15:30:00Z"), HOUR), at("2026-11-19T08:30:00Z"));
        // Friday 16:30 Berlin + 1 h = Monday 09:30 Berlin.
        assert_eq!(calendar.add(at("2026-11-20T15:30:00Z"), HOUR), at("2026-11-23T08:30:00Z"));
        // A post on Saturday starts counting on Monday at 09:00.
        assert_eq!(calendar.add(at("2026-11-21T12:00:00Z"), 15 * MINUTE), at("2026-11-23T08:15:00Z"));
        // Open time from Friday 16:30 to Monday 09:30 is one hour.
        assert_eq!(calendar.between(at("2026-11-20T15:30:00Z"), at("2026-11-23T08:30:00Z")), HOUR);
    }

    #[test]
    fn holidays_are_skipped_and_clock_changes_respected() {
        let calendar = weekdays_9_to_17("Europe/Berlin", &["2026-12-25"]);
        // Thursday 24 Dec 16:30 + 1 h: Friday 25th is a holiday → Monday 28th 09:30 (UTC+1).
        assert_eq!(calendar.add(at("2026-12-24T15:30:00Z"), HOUR), at("2026-12-28T08:30:00Z"));
        // Across the end of summer time (Sunday 25 Oct 2026): Friday 16:30 CEST + 1 h = Monday
        // 09:30 CET.
        assert_eq!(calendar.add(at("2026-10-23T14:30:00Z"), HOUR), at("2026-10-26T08:30:00Z"));
    }

    #[test]
    fn bad_hours_name_the_field() {
        let mut wire = pb::BusinessHours {
            time_zone: "Mars/Olympus".into(),
            windows: vec![pb::BusinessWindow { day: "mon".into(), start: "09:00".into(), end: "17:00".into() }],
            holidays: vec![],
        };
        assert_eq!(BusinessHours::from_wire(&wire).unwrap_err().field, "business_hours.time_zone");
        wire.time_zone = "UTC".into();
        wire.windows[0].end = "08:00".into();
        assert_eq!(BusinessHours::from_wire(&wire).unwrap_err().field, "business_hours.windows[0].end");
        wire.windows[0].end = "24:00".into();
        wire.windows[0].day = "funday".into();
        assert_eq!(BusinessHours::from_wire(&wire).unwrap_err().field, "business_hours.windows[0].day");
        wire.windows[0].day = "Mon".into();
        wire.holidays.push("25/12/2026".into());
        assert_eq!(BusinessHours::from_wire(&wire).unwrap_err().field, "business_hours.holidays[0]");
        wire.holidays.clear();
        let hours = BusinessHours::from_wire(&wire).unwrap();
        assert_eq!(hours.to_wire().windows[0].end, "24:00");
    }
}
