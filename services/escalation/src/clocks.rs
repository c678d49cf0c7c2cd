//! The SLA clocks of a case, as pure transitions on the timer row: start, re-target, pause, resume,
//! stop. Due and warning instants are always derived the same way, from the open time consumed so
//! far and the policy's calendar, so a pause, a transfer or a priority change can never make a
//! clock forget time already spent.

use earshot_core::clock::timestamp_from_ms;
use earshot_proto::v1 as pb;
use earshot_store::escalation::sla_timer::{Model as Timer, TimerState};
use sea_orm::ActiveEnum as _;

use crate::calendar::NEVER;
use crate::policy::{ClockKind, Policy};

/// Whether the customer is still waiting for an answer on this clock.
pub fn awaiting_answer(timer: &Timer) -> bool {
    timer.state != TimerState::Stopped
}

/// A clock started at `at_ms` (the customer's post).
pub fn start(
    tenant: &str,
    case_id: &str,
    kind: ClockKind,
    at_ms: i64,
    priority: u32,
    queue: &str,
    policy: &Policy,
) -> Timer {
    let mut timer = Timer {
        tenant: tenant.to_owned(),
        case_id: case_id.to_owned(),
        kind: kind.as_str().to_owned(),
        started_at_ms: at_ms,
        due_at_ms: NEVER,
        state: TimerState::Running,
        priority: i32::try_from(priority).unwrap_or(100),
        queue: queue.to_owned(),
        policy: policy.name.clone(),
        target_ms: policy.target_ms(kind, priority),
        consumed_ms: 0,
        segment_start_ms: at_ms,
        warn_at_ms: None,
        warned: false,
        paused_at_ms: None,
    };
    schedule(&mut timer, policy);
    timer
}

/// Places the due and warning instants of a running clock.
fn schedule(timer: &mut Timer, policy: &Policy) {
    if timer.state != TimerState::Running {
        return;
    }
    let left = timer.target_ms - timer.consumed_ms;
    timer.due_at_ms = policy.calendar.add(timer.segment_start_ms, left);
    let warn_left = policy.warning_ms(timer.target_ms) - timer.consumed_ms;
    timer.warn_at_ms = (!timer.warned).then(|| policy.calendar.add(timer.segment_start_ms, warn_left.max(0)));
}

/// The case moved queue or changed priority: the target comes from `policy` (the new queue's) for
/// the new priority, counted from the clock's start. A breached or answered clock keeps its record.
pub fn retarget(timer: &mut Timer, policy: &Policy, priority: u32, queue: &str) {
    if timer.state != TimerState::Running && timer.state != TimerState::Paused {
        return;
    }
    let kind = ClockKind::parse(&timer.kind).unwrap_or(ClockKind::FirstResponse);
    timer.priority = i32::try_from(priority).unwrap_or(100);
    timer.queue = queue.to_owned();
    timer.policy = policy.name.clone();
    timer.target_ms = policy.target_ms(kind, priority);
    schedule(timer, policy);
}

/// The agent is waiting on the customer from `at_ms`: the clock stops counting.
pub fn pause(timer: &mut Timer, at_ms: i64, policy: &Policy) {
    if timer.state != TimerState::Running {
        return;
    }
    let at_ms = at_ms.max(timer.segment_start_ms);
    timer.consumed_ms += policy.calendar.between(timer.segment_start_ms, at_ms);
    timer.state = TimerState::Paused;
    timer.paused_at_ms = Some(at_ms);
    timer.due_at_ms = NEVER;
    timer.warn_at_ms = None;
}

/// The wait is over at `at_ms`: the clock counts on from where it paused.
pub fn resume(timer: &mut Timer, at_ms: i64, policy: &Policy) {
    if timer.state != TimerState::Paused {
        return;
    }
    timer.segment_start_ms = at_ms.max(timer.paused_at_ms.unwrap_or(at_ms));
    timer.state = TimerState::Running;
    timer.paused_at_ms = None;
    schedule(timer, policy);
}

/// The agent answered at `at_ms`: the clock stops for good, keeping the open time it used.
pub fn stop(timer: &mut Timer, at_ms: i64, policy: &Policy) {
    timer.consumed_ms = used_ms(timer, at_ms, policy);
    timer.segment_start_ms = at_ms.max(timer.segment_start_ms);
    timer.state = TimerState::Stopped;
    timer.warn_at_ms = None;
    timer.paused_at_ms = None;
}

/// Open time the clock has used by `now_ms`: what it consumed before its last segment, plus the
/// open time since, while it still counts.
pub fn used_ms(timer: &Timer, now_ms: i64, policy: &Policy) -> i64 {
    let counting = timer.state == TimerState::Running || timer.state == TimerState::Fired;
    let since =
        if counting { policy.calendar.between(timer.segment_start_ms, now_ms.max(timer.segment_start_ms)) } else { 0 };
    timer.consumed_ms + since
}

/// The clock as a supervisor reads it at `now_ms`.
pub fn to_wire(timer: &Timer, now_ms: i64, policy: &Policy) -> pb::SlaClock {
    let seconds = |ms: i64| u64::try_from(ms / 1_000).unwrap_or(0);
    let has_deadline =
        (timer.state == TimerState::Running || timer.state == TimerState::Fired) && timer.due_at_ms != NEVER;
    pb::SlaClock {
        kind: timer.kind.clone(),
        state: timer.state.to_value(),
        policy: timer.policy.clone(),
        queue: timer.queue.clone(),
        priority: u32::try_from(timer.priority).unwrap_or(0),
        target_seconds: seconds(timer.target_ms),
        used_seconds: seconds(used_ms(timer, now_ms, policy)),
        started_at: Some(timestamp_from_ms(timer.started_at_ms)),
        due_at: has_deadline.then(|| timestamp_from_ms(timer.due_at_ms)),
        warn_at: timer
            .warn_at_ms
            .filter(|_| timer.state == TimerState::Running && !timer.warned)
            .map(timestamp_from_ms),
        paused_at: timer.paused_at_ms.filter(|_| timer.state == TimerState::Paused).map(timestamp_from_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Builtin;
    use earshot_core::clock::ms_from_timestamp;

    const MINUTE: i64 = 60_000;

    #[test]
    fn a_pause_keeps_the_time_already_spent() {
        let policy = Builtin::default().policy();
        let mut timer = start("t", "c", ClockKind::FirstResponse, 0, 90, "billing", &policy);
        assert_eq!(timer.due_at_ms, 15 * MINUTE);
        assert_eq!(timer.warn_at_ms, Some(12 * MINUTE));
        pause(&mut timer, 10 * MINUTE, &policy);
        assert_eq!(timer.consumed_ms, 10 * MINUTE);
        resume(&mut timer, 70 * MINUTE, &policy);
        assert_eq!(timer.due_at_ms, 75 * MINUTE);
        assert_eq!(timer.warn_at_ms, Some(72 * MINUTE));
    }

    #[test]
    fn retargeting_counts_from_the_start() {
        let policy = Builtin::default().policy();
        let mut timer = start("t", "c", ClockKind::FirstResponse, 0, 10, "billing", &policy);
        assert_eq!(timer.due_at_ms, 240 * MINUTE);
        retarget(&mut timer, &policy, 85, "legal");
        assert_eq!(timer.due_at_ms, 15 * MINUTE);
        assert_eq!(timer.queue, "legal");
        timer.warned = true;
        retarget(&mut timer, &policy, 60, "legal");
        assert_eq!((timer.due_at_ms, timer.warn_at_ms), (60 * MINUTE, None));
        stop(&mut timer, 20 * MINUTE, &policy);
        retarget(&mut timer, &policy, 90, "legal");
        assert_eq!(timer.state, TimerState::Stopped);
    }

    #[test]
    fn a_clock_reads_what_it_used_and_when_it_breaches() {
        let policy = Builtin::default().policy();
        let mut timer = start("t", "c", ClockKind::FirstResponse, 0, 90, "billing", &policy);
        let running = to_wire(&timer, 5 * MINUTE, &policy);
        assert_eq!((running.used_seconds, running.target_seconds), (300, 900));
        assert_eq!(running.due_at.map(|at| ms_from_timestamp(&at)), Some(15 * MINUTE));
        assert_eq!(running.warn_at.map(|at| ms_from_timestamp(&at)), Some(12 * MINUTE));
        pause(&mut timer, 6 * MINUTE, &policy);
        let paused = to_wire(&timer, 50 * MINUTE, &policy);
        assert_eq!((paused.state.as_str(), paused.used_seconds), (TimerState::Paused.to_value().as_str(), 360));
        assert!(paused.due_at.is_none() && paused.warn_at.is_none() && paused.paused_at.is_some());
        resume(&mut timer, 60 * MINUTE, &policy);
        stop(&mut timer, 63 * MINUTE, &policy);
        let answered = to_wire(&timer, 90 * MINUTE, &policy);
        assert_eq!((answered.state.as_str(), answered.used_seconds), (TimerState::Stopped.to_value().as_str(), 540));
        assert!(answered.due_at.is_none());
    }
}
