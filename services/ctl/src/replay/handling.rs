//! How long simulated agents take over a case: a distribution read from the command line, drawn
//! from a seeded generator so two runs of one replay see the same work.

use std::str::FromStr;

use anyhow::{Context, Result, bail};

/// Parses `90s`, `4m`, `1h`, `250ms` or a bare number of seconds into milliseconds.
pub fn parse_duration_ms(value: &str) -> Result<i64> {
    let value = value.trim();
    let split = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("'{value}' is not a duration like 90s, 4m or 1h"))?;
    let unit_ms = match unit {
        "ms" => 1.0,
        "" | "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => bail!("'{value}': unknown unit '{unit}' (ms, s, m, h)"),
    };
    Ok((number * unit_ms).round() as i64)
}

/// A handling-time distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HandleTime {
    /// Always the same.
    Fixed(i64),
    /// Uniform between two durations.
    Uniform(i64, i64),
    /// Exponential with this mean (most cases quick, a few long).
    Exponential(i64),
}

impl HandleTime {
    /// The mean, in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        match *self {
            Self::Fixed(ms) | Self::Exponential(ms) => ms as f64,
            Self::Uniform(low, high) => (low + high) as f64 / 2.0,
        }
    }

    /// One draw, in milliseconds.
    pub fn draw(&self, rng: &mut SplitMix) -> i64 {
        match *self {
            Self::Fixed(ms) => ms,
            Self::Uniform(low, high) => low + ((high - low) as f64 * rng.unit()).round() as i64,
            Self::Exponential(mean) => (-(mean as f64) * (1.0 - rng.unit()).ln()).round() as i64,
        }
    }
}

impl std::fmt::Display for HandleTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = super::stats::short_duration;
        match *self {
            Self::Fixed(ms) => write!(f, "fixed:{}", show(ms)),
            Self::Uniform(low, high) => write!(f, "uniform:{}..{}", show(low), show(high)),
            Self::Exponential(mean) => write!(f, "exp:{}", show(mean)),
        }
    }
}

impl FromStr for HandleTime {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Self> {
        let (kind, spec) = value.split_once(':').unwrap_or(("fixed", value));
        let parsed = match kind {
            "fixed" => Self::Fixed(parse_duration_ms(spec)?),
            "exp" => Self::Exponential(parse_duration_ms(spec)?),
            "uniform" => {
                let (low, high) = spec.split_once("..").context("uniform needs MIN..MAX, e.g. uniform:2m..6m")?;
                let (low, high) = (parse_duration_ms(low)?, parse_duration_ms(high)?);
                if low > high {
                    bail!("uniform:{spec}: MIN is above MAX");
                }
                Self::Uniform(low, high)
            }
            _ => bail!("'{value}': expected exp:MEAN, fixed:D or uniform:MIN..MAX"),
        };
        if parsed.mean_ms() <= 0.0 {
            bail!("'{value}': handling takes some time");
        }
        Ok(parsed)
    }
}

/// SplitMix64: small, fast and good enough to draw handling times reproducibly.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_distributions_parse() {
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("4m").unwrap(), 240_000);
        assert_eq!(parse_duration_ms("1.5h").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("30").unwrap(), 30_000);
        assert!(parse_duration_ms("4 minutes").is_err());
        assert_eq!("exp:4m".parse::<HandleTime>().unwrap(), HandleTime::Exponential(240_000));
        assert_eq!("uniform:2m..6m".parse::<HandleTime>().unwrap(), HandleTime::Uniform(120_000, 360_000));
        assert_eq!("5m".parse::<HandleTime>().unwrap(), HandleTime::Fixed(300_000));
        assert!("uniform:6m..2m".parse::<HandleTime>().is_err());
        assert!("exp:0s".parse::<HandleTime>().is_err());
    }

    #[test]
    fn draws_have_the_stated_mean() {
        let mut rng = SplitMix::new(7);
        for handle in [HandleTime::Exponential(240_000), HandleTime::Uniform(60_000, 180_000)] {
            let n = 20_000;
            let mean = (0..n).map(|_| handle.draw(&mut rng)).sum::<i64>() as f64 / n as f64;
            assert!((mean / handle.mean_ms() - 1.0).abs() < 0.03, "{handle:?}: mean {mean}");
        }
    }
}
