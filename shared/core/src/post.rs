//! A customer post, validated and normalised: what every service after ingest can rely on.

use std::collections::BTreeMap;

use earshot_proto::v1 as pb;

use crate::InvalidArgument;
use crate::clock::{ms_from_timestamp, timestamp_from_ms};

/// Where a post was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Twitter / X.
    Twitter,
    /// Facebook.
    Facebook,
    /// Instagram.
    Instagram,
    /// LinkedIn.
    Linkedin,
    /// A product or store review.
    Review,
    /// A community forum.
    Forum,
    /// A blog entry.
    Blog,
    /// Email to support.
    Email,
    /// Live chat.
    Chat,
    /// A note from a contact-center platform.
    ContactCenter,
}

impl Channel {
    /// Every channel, in a stable order.
    pub const ALL: [Channel; 10] = [
        Channel::Twitter,
        Channel::Facebook,
        Channel::Instagram,
        Channel::Linkedin,
        Channel::Review,
        Channel::Forum,
        Channel::Blog,
        Channel::Email,
        Channel::Chat,
        Channel::ContactCenter,
    ];

    /// The wire name, e.g. `contact_center`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Twitter => "twitter",
            Channel::Facebook => "facebook",
            Channel::Instagram => "instagram",
            Channel::Linkedin => "linkedin",
            Channel::Review => "review",
            Channel::Forum => "forum",
            Channel::Blog => "blog",
            Channel::Email => "email",
            Channel::Chat => "chat",
            Channel::ContactCenter => "contact_center",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub fn parse(value: &str) -> Option<Channel> {
        let value = value.trim().to_ascii_lowercase();
        Channel::ALL.into_iter().find(|c| c.as_str() == value)
    }

    /// How a post on this channel is seen when the connector does not say.
    pub fn default_visibility(self) -> Visibility {
        match self {
            Channel::Email | Channel::Chat | Channel::ContactCenter => Visibility::Private,
            _ => Visibility::Public,
        }
    }
}

/// How many people can see a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Anyone.
    Public,
    /// A public reply in a thread.
    Reply,
    /// Only the brand.
    Private,
}

/// The customer who wrote a post.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Author {
    /// The channel's id for the customer; ties the customer's contacts together.
    pub external_id: String,
    /// Display handle.
    pub handle: String,
    /// Followers on the channel.
    pub followers: u64,
    /// Verified account.
    pub verified: bool,
    /// CRM tier, lowercase; empty when unknown.
    pub tier: String,
}

/// Engagement counts when the post was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Engagement {
    /// Likes.
    pub likes: u64,
    /// Shares / retweets.
    pub shares: u64,
    /// Replies.
    pub replies: u64,
}

/// A validated, normalised post.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// Channel.
    pub channel: Channel,
    /// The channel's id of the post; with tenant and channel, the deduplication key.
    pub external_id: String,
    /// Visibility (the channel's default when the connector left it unspecified).
    pub visibility: Visibility,
    /// Author.
    pub author: Author,
    /// Text, trimmed, non-empty.
    pub text: String,
    /// Lowercase language hint; empty when unknown.
    pub language_hint: String,
    /// When the customer posted, Unix ms (receipt time when the connector did not say).
    pub created_at_ms: i64,
    /// External id of the post replied to.
    pub in_reply_to: String,
    /// External id of the thread.
    pub thread_id: String,
    /// Link to the post.
    pub url: String,
    /// Engagement.
    pub engagement: Engagement,
    /// Free metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Input limits; defaults follow DESIGN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted text, in characters.
    pub max_text_chars: usize,
    /// Most posts in one batch request.
    pub max_batch: usize,
    /// Largest gRPC message a service accepts, in bytes. Every service takes the same value, and
    /// the pipeline sizes its batches to it, so a batch ingest sends always fits what its peers
    /// accept.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_text_chars: 10_000, max_batch: 1_000, max_message_bytes: 16 * 1024 * 1024 }
    }
}

const MAX_ID_LEN: usize = 256;
const MAX_METADATA_ENTRIES: usize = 64;
const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Posts dated further ahead than this are rejected as clock errors.
const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

fn check_external_id(field: &str, value: &str, required: bool) -> Result<String, InvalidArgument> {
    let value = value.trim();
    if value.is_empty() && required {
        return Err(InvalidArgument::new(field, "is required"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(InvalidArgument::new(field, format!("is longer than {MAX_ID_LEN} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidArgument::new(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

impl Post {
    /// A public tweet with `text` by an author with `followers`, dated at the epoch: a fixture for
    /// tests, benchmarks and tools that need a valid post and nothing more.
    pub fn example(text: &str, followers: u64) -> Post {
        Post {
            channel: Channel::Twitter,
            external_id: "example".into(),
            visibility: Visibility::Public,
            author: Author { external_id: "author".into(), followers, ..Default::default() },
            text: text.into(),
            language_hint: String::new(),
            created_at_ms: 0,
            in_reply_to: String::new(),
            thread_id: String::new(),
            url: String::new(),
            engagement: Engagement::default(),
            metadata: BTreeMap::new(),
        }
    }

    /// Validates and normalises a wire post received at `now_ms`.
    pub fn from_wire(post: pb::Post, limits: &Limits, now_ms: i64) -> Result<Post, InvalidArgument> {
        let channel = Channel::parse(&post.channel).ok_or_else(|| {
            let known: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
            InvalidArgument::new("channel", format!("'{}' is not one of {}", post.channel, known.join(", ")))
        })?;
        let external_id = check_external_id("external_id", &post.external_id, true)?;
        let visibility = match pb::Visibility::try_from(post.visibility) {
            Ok(pb::Visibility::Unspecified) => channel.default_visibility(),
            Ok(pb::Visibility::Public) => Visibility::Public,
            Ok(pb::Visibility::Reply) => Visibility::Reply,
            Ok(pb::Visibility::Private) => Visibility::Private,
            Err(_) => return Err(InvalidArgument::new("visibility", format!("unknown value {}", post.visibility))),
        };
        let author = post.author.ok_or_else(|| InvalidArgument::new("author", "is required"))?;
        let author = Author {
            external_id: check_external_id("author.external_id", &author.external_id, true)?,
            handle: check_external_id("author.handle", &author.handle, false)?,
            followers: author.followers,
            verified: author.verified,
            tier: check_external_id("author.tier", &author.tier, false)?.to_ascii_lowercase(),
        };
        let text: String =
            post.text.chars().map(|c| if c.is_control() && !matches!(c, '\n' | '\t') { ' ' } else { c }).collect();
        let text = text.trim();
        if text.is_empty() {
            return Err(InvalidArgument::new("text", "is empty"));
        }
        let chars = text.chars().count();
        if chars > limits.max_text_chars {
            return Err(InvalidArgument::new(
                "text",
                format!("has {chars} characters; the limit is {}", limits.max_text_chars),
            ));
        }
        let text = text.to_owned();
        let language_hint = check_external_id("language_hint", &post.language_hint, false)?.to_ascii_lowercase();
        if language_hint.len() > 16 {
            return Err(InvalidArgument::new("language_hint", "is not a language tag"));
        }
        let created_at_ms = match post.created_at {
            None => now_ms,
            Some(ts) => {
                if !(0..1_000_000_000).contains(&ts.nanos) {
                    return Err(InvalidArgument::new("created_at", "nanos out of range"));
                }
                let ms = ms_from_timestamp(&ts);
                if ms > now_ms + MAX_FUTURE_MS {
                    return Err(InvalidArgument::new("created_at", "is more than a day in the future"));
                }
                if ms < 0 {
                    return Err(InvalidArgument::new("created_at", "is before 1970"));
                }
                ms
            }
        };
        if post.metadata.len() > MAX_METADATA_ENTRIES {
            return Err(InvalidArgument::new("metadata", format!("has more than {MAX_METADATA_ENTRIES} entries")));
        }
        let metadata_bytes: usize = post.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if metadata_bytes > MAX_METADATA_BYTES {
            return Err(InvalidArgument::new("metadata", format!("is larger than {MAX_METADATA_BYTES} bytes")));
        }
        let engagement = post.engagement.unwrap_or_default();
        Ok(Post {
            channel,
            external_id,
            visibility,
            author,
            text,
            language_hint,
            created_at_ms,
            in_reply_to: check_external_id("in_reply_to", &post.in_reply_to, false)?,
            thread_id: check_external_id("thread_id", &post.thread_id, false)?,
            url: check_external_id("url", &post.url, false)?,
            engagement: Engagement { likes: engagement.likes, shares: engagement.shares, replies: engagement.replies },
            metadata: post.metadata.into_iter().collect(),
        })
    }

    /// The wire form of this post.
    pub fn to_wire(&self) -> pb::Post {
        pb::Post {
            channel: self.channel.as_str().to_owned(),
            external_id: self.external_id.clone(),
            visibility: match self.visibility {
                Visibility::Public => pb::Visibility::Public,
                Visibility::Reply => pb::Visibility::Reply,
                Visibility::Private => pb::Visibility::Private,
            } as i32,
            author: Some(pb::Author {
                external_id: self.author.external_id.clone(),
                handle: self.author.handle.clone(),
                followers: self.author.followers,
                verified: self.author.verified,
                tier: self.author.tier.clone(),
            }),
            text: self.text.clone(),
            language_hint: self.language_hint.clone(),
            created_at: Some(timestamp_from_ms(self.created_at_ms)),
            in_reply_to: self.in_reply_to.clone(),
            thread_id: self.thread_id.clone(),
            url: self.url.clone(),
            engagement: Some(pb::Engagement {
                likes: self.engagement.likes,
                shares: self.engagement.shares,
                replies: self.engagement.replies,
            }),
            metadata: self.metadata.clone().into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> pb::Post {
        pb::Post {
            channel: "Twitter".into(),
            external_id: " 123 ".into(),
            author: Some(pb::Author { external_id: "u1".into(), ..Default::default() }),
            text: "  my order never arrived\u{0007}  ".into(),
            ..Default::default()
        }
    }

    #[test]
    fn normalises_channel_ids_text_and_visibility() {
        let post = Post::from_wire(wire(), &Limits::default(), 1_000).unwrap();
        assert_eq!(post.channel, Channel::Twitter);
        assert_eq!(post.external_id, "123");
        assert_eq!(post.text, "my order never arrived");
        assert_eq!(post.visibility, Visibility::Public);
        assert_eq!(post.created_at_ms, 1_000);
        assert_eq!(Post::from_wire(post.to_wire(), &Limits::default(), 5).unwrap(), post);
    }

    #[test]
    fn rejections_name_the_field() {
        type Mutation = fn(&mut pb::Post);
        let cases: Vec<(Mutation, &str)> = vec![
            (|p| p.channel = "myspace".into(), "channel"),
            (|p| p.external_id = "".into(), "external_id"),
            (|p| p.author = None, "author"),
            (|p| p.author.as_mut().unwrap().external_id = " ".into(), "author.external_id"),
            (|p| p.text = " \n ".into(), "text"),
            (|p| p.text = "x".repeat(10_001), "text"),
            (|p| p.visibility = 9, "visibility"),
            (|p| p.created_at = Some(timestamp_from_ms(10_000_000_000_000)), "created_at"),
        ];
        for (mutate, field) in cases {
            let mut post = wire();
            mutate(&mut post);
            let error = Post::from_wire(post, &Limits::default(), 1_000).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
    }
}
