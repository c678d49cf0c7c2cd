//! The posts a replay feeds in, with when each arrives: the inbound rows of a Customer Support on
//! Twitter CSV, or JSONL posts with `created_at`, in time order, with long quiet periods cut short.

use anyhow::{Context, Result, bail};
use earshot_core::clock::ms_from_timestamp;
use earshot_proto::v1 as pb;

use crate::jsonl;

/// A post and when it arrives, in simulated milliseconds from the start of the replay.
pub struct Arrival {
    /// Offset from the first post.
    pub at_ms: i64,
    /// The post (without `created_at`: the services stamp it with the simulated time).
    pub post: pb::Post,
}

/// Which posts of a file to replay.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Posts from this moment (Unix ms) on.
    pub from_ms: Option<i64>,
    /// Posts before this moment (Unix ms).
    pub until_ms: Option<i64>,
    /// Quiet periods longer than this are cut to it.
    pub max_gap_ms: i64,
    /// At most this many posts (0: all).
    pub limit: usize,
}

/// Reads `path` (`.csv`: Customer Support on Twitter rows, inbound only; anything else: JSONL
/// posts), keeps the selected posts in time order and spaces them as they came, cutting quiet
/// periods longer than the selection's gap to it.
pub fn load(path: &str, selection: Selection) -> Result<Vec<Arrival>> {
    let Selection { from_ms, until_ms, max_gap_ms, limit } = selection;
    let mut timed = if path.ends_with(".csv") { twcs(path)? } else { posts(path)? };
    timed.retain(|(at, _)| from_ms.is_none_or(|from| *at >= from) && until_ms.is_none_or(|until| *at < until));
    timed.sort_by_key(|(at, _)| *at);
    if limit > 0 {
        timed.truncate(limit);
    }
    let mut arrivals = Vec::with_capacity(timed.len());
    let mut previous: Option<i64> = None;
    let mut offset = 0;
    for (at, post) in timed {
        if let Some(previous) = previous {
            offset += (at - previous).clamp(0, max_gap_ms);
        }
        previous = Some(at);
        arrivals.push(Arrival { at_ms: offset, post });
    }
    if arrivals.is_empty() {
        bail!("{path} has no posts to replay in the selected period");
    }
    Ok(arrivals)
}

fn posts(path: &str) -> Result<Vec<(i64, pb::Post)>> {
    let posts: Vec<pb::Post> = jsonl::read(path)?;
    posts
        .into_iter()
        .enumerate()
        .map(|(i, mut post)| {
            let at = post.created_at.take().with_context(|| format!("{path}: post {} has no created_at", i + 1))?;
            Ok((ms_from_timestamp(&at), post))
        })
        .collect()
}

fn twcs(path: &str) -> Result<Vec<(i64, pb::Post)>> {
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).from_path(path).with_context(|| format!("opening {path}"))?;
    let headers = reader.headers().with_context(|| format!("reading {path}"))?.clone();
    let column =
        |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("{path} has no `{name}` column"));
    let (id, author, inbound, created, text) =
        (column("tweet_id")?, column("author_id")?, column("inbound")?, column("created_at")?, column("text")?);
    let mut timed = Vec::new();
    let mut malformed = 0;
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{path}: row {}", line + 1))?;
        if record.len() != headers.len() {
            malformed += 1;
            continue;
        }
        if record.get(inbound) != Some("True") {
            continue;
        }
        let field = |index: usize| record.get(index).unwrap_or_default().to_owned();
        let at = twitter_time(&field(created)).with_context(|| format!("{path}: row {}: created_at", line + 1))?;
        let post = pb::Post {
            channel: "twitter".into(),
            external_id: field(id),
            visibility: pb::Visibility::Public as i32,
            author: Some(pb::Author {
                external_id: field(author),
                handle: format!("@{}", field(author)),
                ..Default::default()
            }),
            text: field(text),
            ..Default::default()
        };
        timed.push((at, post));
    }
    if malformed > 0 {
        eprintln!("{path}: skipped {malformed} rows whose fields do not match the header");
    }
    Ok(timed)
}

/// Unix milliseconds of Twitter's `Tue Oct 31 22:10:47 +0000 2017`.
fn twitter_time(value: &str) -> Result<i64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, month, day, clock, offset, year] = parts.as_slice() else {
        bail!("'{value}' is not like 'Tue Oct 31 22:10:47 +0000 2017'");
    };
    let month =
        MONTHS.iter().position(|m| m == month).with_context(|| format!("unknown month in '{value}'"))? as i64 + 1;
    let number = |text: &str| text.parse::<i64>().with_context(|| format!("'{text}' in '{value}'"));
    let hms: Vec<i64> = clock.split(':').map(number).collect::<Result<_>>()?;
    let [hours, minutes, seconds] = hms.as_slice() else {
        bail!("'{clock}' is not hh:mm:ss");
    };
    let offset_minutes = {
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let digits = number(offset.trim_start_matches(['+', '-']))?;
        sign * (digits / 100 * 60 + digits % 100)
    };
    let days = days_from_civil(number(year)?, month, number(day)?);
    let seconds = days * 86_400 + hours * 3_600 + (minutes - offset_minutes) * 60 + seconds;
    Ok(seconds * 1_000)
}

/// Unix milliseconds of a UTC time written `2017-10-31T21:00Z` or `2017-10-31T21:00:30Z`.
pub fn utc_time(value: &str) -> Result<i64> {
    let shape = || format!("'{value}' is not a UTC time like 2017-10-31T21:00Z");
    let (date, time) = value.strip_suffix('Z').and_then(|v| v.split_once('T')).with_context(shape)?;
    let number = |text: &str| text.parse::<i64>().with_context(shape);
    let date: Vec<i64> = date.split('-').map(number).collect::<Result<_>>()?;
    let time: Vec<i64> = time.split(':').map(number).collect::<Result<_>>()?;
    let (&[year, month, day], &[hours, minutes, ref seconds @ ..]) = (date.as_slice(), time.as_slice()) else {
        bail!(shape());
    };
    let seconds = seconds.first().copied().unwrap_or(0);
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hours < 24 && minutes < 60 && seconds < 61;
    if !valid {
        bail!(shape());
    }
    Ok((days_from_civil(year, month, day) * 86_400 + hours * 3_600 + minutes * 60 + seconds) * 1_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twitter_times_are_read_with_their_offset() {
        assert_eq!(twitter_time("Thu Jan 01 00:00:00 +0000 1970").unwrap(), 0);
        assert_eq!(twitter_time("Tue Oct 31 22:10:47 +0000 2017").unwrap(), 1_509_487_847_000);
        assert_eq!(twitter_time("Tue Oct 31 23:10:47 +0100 2017").unwrap(), 1_509_487_847_000);
        assert_eq!(twitter_time("Wed Feb 29 12:00:00 +0000 2012").unwrap(), 1_330_516_800_000);
        assert!(twitter_time("yesterday").is_err());
        assert_eq!(utc_time("2017-10-31T22:10:47Z").unwrap(), 1_509_487_847_000);
        assert_eq!(utc_time("2017-10-31T22:10Z").unwrap(), 1_509_487_800_000);
        assert!(utc_time("2017-10-31 22:10").is_err());
        assert!(utc_time("2017-13-01T00:00Z").is_err());
    }

    #[test]
    fn inbound_rows_arrive_in_time_order_with_quiet_periods_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twcs.csv");
        let rows = "\
,tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
0,3,115712,True,Tue Oct 31 22:20:00 +0000 2017,@sprintcare still waiting,,
1,2,sprintcare,False,Tue Oct 31 22:10:30 +0000 2017,@115712 sorry,,1
2,1,115712,True,Tue Oct 31 22:10:00 +0000 2017,@sprintcare my bill is wrong,,
3,4,115713,True,Tue Oct 31 22:20:30 +0000 2017,@sprintcare no signal,,
";
        std::fs::write(&path, rows).unwrap();
        let all = Selection { from_ms: None, until_ms: None, max_gap_ms: 120_000, limit: 0 };
        let arrivals = load(path.to_str().unwrap(), all).unwrap();
        let seen: Vec<(i64, &str)> = arrivals.iter().map(|a| (a.at_ms, a.post.external_id.as_str())).collect();
        assert_eq!(seen, [(0, "1"), (120_000, "3"), (150_000, "4")], "the 10-minute gap became 2 minutes");
        assert_eq!(arrivals[0].post.author.as_ref().unwrap().external_id, "115712");
        assert!(arrivals.iter().all(|a| a.post.created_at.is_none()));

        let window = Selection { from_ms: Some(utc_time("2017-10-31T22:15Z").unwrap()), ..all };
        let later = load(path.to_str().unwrap(), window).unwrap();
        assert_eq!(
            later.iter().map(|a| (a.at_ms, a.post.external_id.as_str())).collect::<Vec<_>>(),
            [(0, "3"), (30_000, "4")]
        );
    }
}
