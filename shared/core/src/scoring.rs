//! Risk and priority: an explainable sum of weighted factors (DESIGN "Priority and ageing").
//!
//! Every factor that moves risk becomes a [`Reason`] with its contribution, so an agent can see
//! why a case sits where it does. Weights are data ([`Weights`], `weights.toml`), not code.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::post::{Post, Visibility};

/// Intents the classifier scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Intent {
    /// A service failure or grievance.
    Complaint,
    /// Asking for information or help.
    Question,
    /// Thanks or compliments.
    Praise,
    /// Wants to buy or upgrade.
    PurchaseIntent,
    /// Threatens to leave.
    ChurnThreat,
    /// Threatens legal action.
    LegalThreat,
    /// Physical danger or harm.
    Safety,
    /// Reports the service is down.
    Outage,
    /// Advertising, scams, noise.
    Spam,
    /// Says they will go public: post it online, tell the press, leave a review.
    PublicityThreat,
    /// Asks for a manager or a supervisor.
    SupervisorDemand,
}

impl Intent {
    /// Every intent, in wire order.
    pub const ALL: [Intent; 11] = [
        Intent::Complaint,
        Intent::Question,
        Intent::Praise,
        Intent::PurchaseIntent,
        Intent::ChurnThreat,
        Intent::LegalThreat,
        Intent::Safety,
        Intent::Outage,
        Intent::Spam,
        Intent::PublicityThreat,
        Intent::SupervisorDemand,
    ];

    /// The wire name, e.g. `legal_threat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Complaint => "complaint",
            Intent::Question => "question",
            Intent::Praise => "praise",
            Intent::PurchaseIntent => "purchase_intent",
            Intent::ChurnThreat => "churn_threat",
            Intent::LegalThreat => "legal_threat",
            Intent::Safety => "safety",
            Intent::Outage => "outage",
            Intent::Spam => "spam",
            Intent::PublicityThreat => "publicity_threat",
            Intent::SupervisorDemand => "supervisor_demand",
        }
    }

    /// Parses a wire name.
    pub fn parse(value: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == value)
    }
}

/// How the classifier's learned model names itself as the cue behind complaint evidence, e.g.
/// `model 0.86: 'still waiting', 'nobody'` (shown as it is, not quoted as a phrase).
pub const MODEL_CUE: &str = "model ";

/// A post whose sentiment is at or below this reads negative (VADER's convention, kept by the
/// fused sentiment: the model moves posts across it, never the scale).
pub const NEGATIVE_SENTIMENT: f32 = -0.05;

/// Weights of the risk factors; see `weights.toml` for their meaning.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// × max(0, -sentiment).
    pub negativity: f32,
    /// When the post is a complaint, times its complaint evidence.
    pub complaint: f32,
    /// × normalised log of followers.
    pub reach: f32,
    /// Verified author.
    pub verified: f32,
    /// × normalised log of engagement.
    pub engagement: f32,
    /// Per repeat contact.
    pub repeat_contact: f32,
    /// Repeat contacts counted at most.
    pub max_repeat_contacts: u32,
    /// Once, when the case is escalated (missing in older weight files: 0.20).
    #[serde(default = "default_escalated")]
    pub escalated: f32,
    /// × intent score, by intent wire name.
    pub intents: BTreeMap<String, f32>,
    /// By visibility: `public`, `reply`, `private`.
    pub publicity: BTreeMap<String, f32>,
    /// By CRM tier.
    pub tiers: BTreeMap<String, f32>,
    /// Immediate-escalation thresholds.
    pub escalate: EscalateThresholds,
}

fn default_escalated() -> f32 {
    0.20
}

/// When a post is escalated at once.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EscalateThresholds {
    /// Risk at or above which a post escalates.
    pub risk: f32,
    /// A negative post from an author with at least this many followers escalates.
    pub reach_followers: u64,
    /// Score of a legal, safety or publicity threat, or a supervisor demand, at or above which a
    /// post escalates.
    pub threat_score: f32,
}

/// The weights shipped with Earshot.
pub const DEFAULT_WEIGHTS: &str = include_str!("../weights.toml");

/// A weights file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// Not valid weights TOML.
    #[error("invalid weights in {origin}: {source}")]
    Parse {
        /// File name, or `built-in`.
        origin: String,
        /// Why.
        source: toml::de::Error,
    },
    /// The file could not be read.
    #[error("reading weights {path}: {source}")]
    Io {
        /// File name.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl Weights {
    /// Parses weights from TOML text read from `origin`.
    pub fn from_toml(origin: &str, text: &str) -> Result<Self, WeightsError> {
        toml::from_str(text).map_err(|source| WeightsError::Parse { origin: origin.to_owned(), source })
    }

    /// The weights in `path`, or the built-in ones when no path is configured.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, WeightsError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WeightsError::Io { path: origin.clone(), source })?;
        Self::from_toml(&origin, &text)
    }

    fn intent(&self, intent: Intent) -> f32 {
        self.intents.get(intent.as_str()).copied().unwrap_or(0.0)
    }
}

impl Default for Weights {
    fn default() -> Self {
        // The embedded file is checked by a unit test; this never fails in a built binary.
        Self::from_toml("built-in", DEFAULT_WEIGHTS).unwrap_or_else(|error| panic!("{error}"))
    }
}

/// What the classifier read in a post.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Sentiment compound in [-1, 1].
    pub sentiment: f32,
    /// Complaint flag.
    pub complaint: bool,
    /// Intent scores in [0, 1], with the phrase that triggered each.
    pub intents: Vec<(Intent, f32, String)>,
}

/// One factor behind a risk score.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// Machine-readable factor.
    pub factor: String,
    /// Contribution to risk.
    pub contribution: f32,
    /// Human-readable detail.
    pub detail: String,
}

/// Risk, priority and whether to escalate now, with the reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Risk in [0, 1].
    pub risk: f32,
    /// round(100 × risk).
    pub priority: u32,
    /// Factors, largest contribution first.
    pub reasons: Vec<Reason>,
    /// Immediate escalation triggers (`legal`, `safety`, `publicity`, `supervisor`, `risk`,
    /// `reach`); empty when none.
    pub escalate: Vec<String>,
}

/// Followers written for people: `182k followers`.
pub fn followers_label(followers: u64) -> String {
    match followers {
        0..1_000 => format!("{followers} followers"),
        1_000..1_000_000 => format!("{}k followers", followers / 1_000),
        _ => format!("{:.1}M followers", followers as f64 / 1e6),
    }
}

/// Priority for a risk value.
pub fn priority_of(risk: f32) -> u32 {
    points(risk.clamp(0.0, 1.0)).unsigned_abs()
}

/// The priority points a contribution to risk is worth (0.2 → 20): how a case-level reason (a
/// repeat contact, an escalation) adds to the priority of the case's strongest post.
pub fn points(contribution: f32) -> i32 {
    (contribution * 100.0).round() as i32
}

impl Weights {
    /// Scores one post from what the classifier read in it.
    pub fn assess(&self, post: &Post, signals: &Signals) -> Assessment {
        let mut reasons = Vec::new();
        let mut add = |factor: &str, contribution: f32, detail: String| {
            if contribution.abs() >= 0.005 {
                reasons.push(Reason { factor: factor.to_owned(), contribution, detail });
            }
        };
        if signals.sentiment < 0.0 {
            add("negativity", self.negativity * -signals.sentiment, format!("sentiment {:.2}", signals.sentiment));
        }
        if signals.complaint {
            let evidence = signals.intents.iter().find(|(intent, _, _)| *intent == Intent::Complaint);
            let confidence = evidence.map_or(1.0, |(_, score, _)| score.clamp(0.0, 1.0));
            let cue = evidence.map(|(_, _, cue)| cue);
            let detail = match cue {
                Some(cue) if cue.starts_with(MODEL_CUE) => cue.clone(),
                Some(cue) if !cue.is_empty() && cue != "negative tone" && cue != "negation" => format!("'{cue}'"),
                _ => "reports a service failure".to_owned(),
            };
            add("complaint", self.complaint * confidence, detail);
        }
        for (intent, score, cue) in &signals.intents {
            if *intent == Intent::Complaint {
                continue;
            }
            let detail = if cue.is_empty() { format!("{:.2}", score) } else { format!("'{cue}'") };
            add(intent.as_str(), self.intent(*intent) * score, detail);
        }
        let followers = post.author.followers;
        let reach = ((followers as f32 + 1.0).log10() / 6.0).min(1.0);
        add("reach", self.reach * reach, followers_label(followers));
        if post.author.verified {
            add("verified", self.verified, "verified author".to_owned());
        }
        let visibility = match post.visibility {
            Visibility::Public => "public",
            Visibility::Reply => "reply",
            Visibility::Private => "private",
        };
        let publicity = self.publicity.get(visibility).copied().unwrap_or(0.0);
        add("publicity", publicity, format!("{visibility} {}", post.channel.as_str()));
        let e = post.engagement;
        let weighted = e.likes.saturating_add(e.shares.saturating_mul(2)).saturating_add(e.replies.saturating_mul(2));
        let engagement = ((weighted as f32 + 1.0).log10() / 3.0).min(1.0);
        add(
            "engagement",
            self.engagement * engagement,
            format!("{} likes, {} shares, {} replies", e.likes, e.shares, e.replies),
        );
        if let Some(tier_weight) = self.tiers.get(&post.author.tier) {
            add("tier", *tier_weight, format!("{} customer", post.author.tier));
        }

        let risk = reasons.iter().map(|r| r.contribution).sum::<f32>().clamp(0.0, 1.0);
        reasons.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));

        let mut escalate = Vec::new();
        let threat = |intent: Intent| {
            signals.intents.iter().any(|(i, score, _)| *i == intent && *score >= self.escalate.threat_score)
        };
        if threat(Intent::LegalThreat) {
            escalate.push("legal".to_owned());
        }
        if threat(Intent::Safety) {
            escalate.push("safety".to_owned());
        }
        if threat(Intent::PublicityThreat) {
            escalate.push("publicity".to_owned());
        }
        if threat(Intent::SupervisorDemand) {
            escalate.push("supervisor".to_owned());
        }
        if risk >= self.escalate.risk {
            escalate.push("risk".to_owned());
        }
        let negative = signals.sentiment <= NEGATIVE_SENTIMENT || signals.complaint;
        if negative && followers >= self.escalate.reach_followers {
            escalate.push("reach".to_owned());
        }
        Assessment { risk, priority: priority_of(risk), reasons, escalate }
    }

    /// The case-level reason for repeated contacts (`contacts` counts every post in the open case).
    pub fn repeat_contact(&self, contacts: u32) -> Option<Reason> {
        let repeats = contacts.saturating_sub(1).min(self.max_repeat_contacts);
        (repeats > 0).then(|| Reason {
            factor: "repeat_contact".to_owned(),
            contribution: self.repeat_contact * repeats as f32,
            detail: format!("contact {contacts} in the open case"),
        })
    }

    /// The case-level reason for an escalation (`why`: the escalation reasons).
    pub fn escalated(&self, why: &str) -> Reason {
        Reason { factor: "escalated".to_owned(), contribution: self.escalated, detail: format!("escalated: {why}") }
    }
}

impl From<&Reason> for earshot_proto::v1::Reason {
    fn from(reason: &Reason) -> Self {
        Self { factor: reason.factor.clone(), contribution: reason.contribution, detail: reason.detail.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(followers: u64, visibility: Visibility) -> Post {
        Post { visibility, ..Post::example("x", followers) }
    }

    #[test]
    fn embedded_weights_parse_and_files_override_them() {
        let weights = Weights::default();
        assert!(weights.intents.contains_key("legal_threat"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(&path, DEFAULT_WEIGHTS.replace("negativity = 0.35", "negativity = 0.5")).unwrap();
        assert_eq!(Weights::load(Some(&path)).unwrap().negativity, 0.5);
        std::fs::write(&path, "negativity = 'x'").unwrap();
        assert!(Weights::load(Some(&path)).unwrap_err().to_string().contains("w.toml"));
        assert!(Weights::load(Some(&dir.path().join("missing.toml"))).is_err());
    }

    #[test]
    fn angry_high_reach_complaint_outranks_neutral_question() {
        let weights = Weights::default();
        let angry = weights.assess(
            &post(182_000, Visibility::Public),
            &Signals { sentiment: -0.8, complaint: true, intents: vec![(Intent::Complaint, 0.9, String::new())] },
        );
        let question = weights.assess(
            &post(150, Visibility::Public),
            &Signals { sentiment: 0.0, complaint: false, intents: vec![(Intent::Question, 0.8, String::new())] },
        );
        assert!(angry.priority > question.priority + 30, "{angry:?} vs {question:?}");
        assert!(angry.escalate.contains(&"reach".to_owned()), "{angry:?}");
        assert!(question.escalate.is_empty());
        assert_eq!(angry.reasons[0].factor, "complaint");
        assert!(angry.reasons.iter().any(|r| r.detail == "182k followers"));
    }

    #[test]
    fn a_confident_complaint_lands_in_the_upper_half_and_a_hesitant_one_below_it() {
        let weights = Weights::default();
        let complaint = |evidence: f32| {
            let signals = Signals {
                sentiment: -0.1,
                complaint: true,
                intents: vec![(Intent::Complaint, evidence, "model 0.90".into())],
            };
            weights.assess(&post(0, Visibility::Reply), &signals)
        };
        let (confident, hesitant) = (complaint(0.95), complaint(0.5));
        assert!(confident.priority >= 50, "{confident:?}");
        assert!(hesitant.priority < 50 && hesitant.priority < confident.priority, "{hesitant:?}");
        assert_eq!(confident.reasons[0].detail, "model 0.90");
    }

    #[test]
    fn legal_threat_escalates_and_spam_sinks() {
        let weights = Weights::default();
        let legal = weights.assess(
            &post(10, Visibility::Private),
            &Signals {
                sentiment: -0.3,
                complaint: true,
                intents: vec![(Intent::LegalThreat, 0.9, "my lawyer".into())],
            },
        );
        assert!(legal.escalate.contains(&"legal".to_owned()));
        assert!(legal.reasons.iter().any(|r| r.detail == "'my lawyer'"));
        let calm = weights.assess(
            &post(10, Visibility::Public),
            &Signals {
                sentiment: 0.0,
                complaint: true,
                intents: vec![(Intent::Complaint, 0.9, "never arrived".into())],
            },
        );
        assert!(calm.reasons.iter().any(|r| r.factor == "complaint" && r.detail == "'never arrived'"));
        let spam = weights.assess(
            &post(10, Visibility::Public),
            &Signals { sentiment: 0.5, complaint: false, intents: vec![(Intent::Spam, 1.0, String::new())] },
        );
        assert_eq!(spam.priority, 0);
    }

    #[test]
    fn repeat_contacts_are_capped() {
        let weights = Weights::default();
        assert!(weights.repeat_contact(1).is_none());
        let third = weights.repeat_contact(3).unwrap();
        let tenth = weights.repeat_contact(10).unwrap();
        assert!((third.contribution - 0.2).abs() < 1e-6);
        assert!((tenth.contribution - 0.3).abs() < 1e-6);
    }
}
