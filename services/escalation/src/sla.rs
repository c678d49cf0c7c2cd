//! SLA targets by priority band (DESIGN "SLA and escalation defaults").

/// First-response targets and the repeat-contact trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Target for priority ≥ 80.
    pub high_ms: i64,
    /// Target for priority 50–79.
    pub medium_ms: i64,
    /// Target for priority < 50.
    pub low_ms: i64,
    /// The contact count that escalates an open case.
    pub repeat_contact_escalates: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self { high_ms: 15 * 60_000, medium_ms: 60 * 60_000, low_ms: 240 * 60_000, repeat_contact_escalates: 3 }
    }
}

impl Policy {
    /// How long the customer may wait for an answer at `priority`.
    pub fn target_ms(&self, priority: u32) -> i64 {
        match priority {
            80.. => self.high_ms,
            50..=79 => self.medium_ms,
            _ => self.low_ms,
        }
    }
}

/// Minutes written for people: `15 min`, `4 h`.
pub fn duration_label(ms: i64) -> String {
    let minutes = ms / 60_000;
    if minutes >= 60 && minutes % 60 == 0 { format!("{} h", minutes / 60) } else { format!("{minutes} min") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_design_defaults() {
        let policy = Policy::default();
        assert_eq!(policy.target_ms(100), 15 * 60_000);
        assert_eq!(policy.target_ms(80), 15 * 60_000);
        assert_eq!(policy.target_ms(79), 60 * 60_000);
        assert_eq!(policy.target_ms(50), 60 * 60_000);
        assert_eq!(policy.target_ms(49), 240 * 60_000);
        assert_eq!(duration_label(240 * 60_000), "4 h");
        assert_eq!(duration_label(15 * 60_000), "15 min");
    }
}
