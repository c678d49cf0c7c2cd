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
