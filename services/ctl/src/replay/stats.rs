//! Time to offer per priority band, as the replay reports it.

/// The SLA bands of DESIGN.md.
pub const BANDS: [(&str, u32, u32); 3] = [("high ≥80", 80, 100), ("medium 50–79", 50, 79), ("low <50", 0, 49)];

/// Every first offer of a case in one replay.
#[derive(Debug, Default, Clone)]
pub struct Waits {
    /// `(priority of the case's first post, simulated ms from enqueue to offer)`.
    pub offers: Vec<(u32, i64)>,
}

/// Percentiles of one band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandStats {
    /// Cases offered.
    pub cases: usize,
    /// Median, in ms.
    pub p50: i64,
    /// 90th percentile, in ms.
    pub p90: i64,
    /// 99th percentile, in ms.
    pub p99: i64,
}

/// The nearest-rank `q` quantile of sorted values (not empty).
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> T {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Waits {
    /// The band's percentiles; `None` when no case of the band was offered.
    pub fn band(&self, low: u32, high: u32) -> Option<BandStats> {
        let mut waits: Vec<i64> =
            self.offers.iter().filter(|(p, _)| (low..=high).contains(p)).map(|(_, w)| (*w).max(0)).collect();
        if waits.is_empty() {
            return None;
        }
        waits.sort_unstable();
        Some(BandStats {
            cases: waits.len(),
            p50: quantile(&waits, 0.50),
            p90: quantile(&waits, 0.90),
            p99: quantile(&waits, 0.99),
        })
    }
}

/// `42s`, `3m05s`, `2h10m`.
pub fn short_duration(ms: i64) -> String {
    let seconds = (ms as f64 / 1000.0).round() as i64;
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_take_nearest_rank_percentiles() {
        let offers = (1..=100).map(|i| (85, i * 1_000)).chain([(10, 5_000)]).collect();
        let waits = Waits { offers };
        let high = waits.band(80, 100).unwrap();
        assert_eq!((high.cases, high.p50, high.p90, high.p99), (100, 50_000, 90_000, 99_000));
        assert_eq!(waits.band(0, 49).unwrap().p99, 5_000);
        assert_eq!(waits.band(50, 79), None);
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(short_duration(42_400), "42s");
        assert_eq!(short_duration(185_000), "3m05s");
        assert_eq!(short_duration(7_800_000), "2h10m");
    }
}
