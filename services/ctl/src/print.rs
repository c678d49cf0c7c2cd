//! Output for people: queues, cases and escalations as short, aligned lines.

use std::io::Write;

use earshot_proto::v1 as pb;

/// Writes to stdout; a closed stdout (a pager or `head` that quit) ends the program quietly.
pub fn emit(text: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("earshotctl: cannot write output: {error}");
        std::process::exit(1);
    }
}

fn excerpt(text: &str, width: usize) -> String {
    let single: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if single.chars().count() <= width {
        single
    } else {
        format!("{}…", single.chars().take(width - 1).collect::<String>())
    }
}

/// The strongest reasons, as `factor (+0.25: detail)`.
pub fn reasons(reasons: &[pb::Reason], most: usize) -> String {
    reasons
        .iter()
        .take(most)
        .map(|r| format!("{} {:+.2} ({})", r.factor, r.contribution, r.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

fn time(ts: Option<&pbjson_types::Timestamp>) -> String {
    ts.map(|t| {
        let secs = t.seconds.rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
    })
    .unwrap_or_default()
}

/// One queue, in the order agents get its cases.
pub fn queue(name: &str, cases: &[pb::CaseView]) {
    outln!("\n== queue {name} ({} waiting) ==", cases.len());
    for (rank, case) in cases.iter().enumerate() {
        let latest = case.posts.last();
        outln!(
            "{:>3}. P{:<3} {}  {:<16} {:<8} {:<2} x{}{}  {}",
            rank + 1,
            case.priority,
            case.case_id,
            excerpt(&case.customer, 16),
            latest.map(|p| p.channel.as_str()).unwrap_or(""),
            case.language,
            case.contact_count,
            if case.escalated { " ESCALATED" } else { "" },
            latest.map(|p| excerpt(&p.text, 70)).unwrap_or_default(),
        );
        outln!("       why: {}", reasons(&case.reasons, 3));
    }
}

/// A whole case.
pub fn case(case: &pb::CaseView) {
    outln!(
        "case {}  queue {}  priority {}  state {}{}  contacts {}{}",
        case.case_id,
        case.queue,
        case.priority,
        case.state,
        if case.assigned_agent.is_empty() { String::new() } else { format!(" ({})", case.assigned_agent) },
        case.contact_count,
        if case.escalated { "  ESCALATED" } else { "" }
    );
    outln!("customer {}  language {}  topic {}", case.customer, case.language, case.topic);
    outln!("why: {}", reasons(&case.reasons, 8));
    for post in &case.posts {
        outln!(
            "  {} {:<8} {:<14} P{:<3} {}",
            time(post.created_at.as_ref()),
            post.channel,
            excerpt(&post.author_handle, 14),
            post.priority,
            excerpt(&post.text, 90)
        );
    }
    if !case.history.is_empty() {
        outln!("history:");
        for event in &case.history {
            outln!("  {} {:<13} {:<10} {}", time(event.at.as_ref()), event.action, event.agent, event.detail);
        }
    }
}

/// Queue depths.
pub fn stats(stats: &[pb::QueueStat]) {
    outln!("{:<14} {:>7} {:>7} {:>8} {:>6}  oldest waiting", "queue", "waiting", "offered", "assigned", "top P");
    for s in stats {
        outln!(
            "{:<14} {:>7} {:>7} {:>8} {:>6}  {}",
            s.queue,
            s.waiting,
            s.offered,
            s.assigned,
            s.top_priority,
            time(s.oldest_enqueued_at.as_ref())
        );
    }
}

/// One escalation on one line.
pub fn escalation(e: &pb::Escalation) {
    outln!(
        "{} {}  {:<12} {:<18} L{} P{:<3} {}  {:<10} {}{}",
        e.escalation_id,
        time(e.created_at.as_ref()),
        e.state,
        e.reason,
        e.level,
        e.priority,
        e.case_id,
        e.queue,
        excerpt(&e.detail, 80),
        if e.supervisor.is_empty() { String::new() } else { format!("  [{}]", e.supervisor) }
    );
}

/// One escalation event as a line a person reads while watching: when, what, who hears of it,
/// which case, why; the cursor last, for resuming.
pub fn event(e: &pb::EscalationEvent) {
    let when = time(e.at.as_ref());
    if let Some(w) = &e.warning {
        outln!(
            "{when}  {:<13} {:<18} {:<14} {} {:<10} P{:<3} {}   [{}]",
            "SLA WARNING",
            w.clock,
            "",
            w.case_id,
            w.queue,
            w.priority,
            w.detail,
            e.cursor
        );
        return;
    }
    let Some(x) = &e.escalation else { return };
    let what = match e.kind.as_str() {
        "level_raised" => format!("LEVEL {}", x.level),
        other => other.to_uppercase(),
    };
    let who = match e.kind.as_str() {
        "raised" | "level_raised" => format!("→ {}", x.audience),
        _ if !e.actor.is_empty() => format!("by {}", e.actor),
        _ => String::new(),
    };
    outln!(
        "{when}  {what:<13} {:<18} {who:<14} {} {:<10} P{:<3} {}   [{} {}]",
        x.reason,
        x.case_id,
        x.queue,
        x.priority,
        excerpt(&x.detail, 70),
        x.escalation_id,
        e.cursor
    );
}

/// An escalation with its history, oldest first.
pub fn escalation_view(view: &pb::EscalationView) {
    if let Some(e) = &view.escalation {
        escalation(e);
        outln!(
            "  audience {} (level {}){}",
            e.audience,
            e.level,
            match &e.next_level_at {
                Some(at) => format!(", next level at {} unless acknowledged", time(Some(at))),
                None => String::new(),
            }
        );
    }
    for entry in &view.history {
        outln!("  {}  {:<13} {:<10} {}", time(entry.at.as_ref()), entry.action, entry.actor, entry.detail);
    }
}

/// A policy in one block.
pub fn policy(p: &pb::SlaPolicy) {
    let queues = if p.queues.is_empty() { "every other queue".to_owned() } else { p.queues.join(", ") };
    outln!("{}  ({queues}), warning at {}%", p.name, p.warning_percent);
    for t in &p.targets {
        outln!(
            "  priority ≥ {:<3} first response {:>5} min, next response {:>5} min",
            t.min_priority,
            t.first_response_minutes,
            t.next_response_minutes
        );
    }
    match &p.business_hours {
        Some(hours) => {
            let windows: Vec<String> =
                hours.windows.iter().map(|w| format!("{} {}–{}", w.day, w.start, w.end)).collect();
            outln!("  business hours {}: {}", hours.time_zone, windows.join(", "));
            if !hours.holidays.is_empty() {
                outln!("  holidays {}", hours.holidays.join(", "));
            }
        }
        None => outln!("  around the clock"),
    }
    if let Some(rules) = &p.escalation {
        let levels: Vec<String> = rules
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 0 { l.audience.clone() } else { format!("+{} min {}", l.after_minutes, l.audience) })
            .collect();
        outln!(
            "  escalate at once: risk ≥ {:.2}, negative post by ≥ {} followers, contact {}; levels {}",
            rules.risk_threshold.unwrap_or_default(),
            rules.reach_followers.unwrap_or_default(),
            rules.repeat_contacts.unwrap_or_default(),
            levels.join(", ")
        );
    }
}
