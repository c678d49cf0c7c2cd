//! The weights file: a magic line, a JSON header (buckets, languages, calibration, provenance),
//! then every weight as a little-endian `i16` scaled per output. Small enough to commit (the
//! data it was trained on stays where it is) and read with nothing but std and serde.

use super::{Calibration, Model, OUTPUTS};

const MAGIC: &[u8; 8] = b"ESMODEL1";

/// A weights file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The bytes are not a model of this version.
    #[error("model {origin}: {reason}")]
    Format {
        /// File name, or `built-in`.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be read or written.
    #[error("model file {path}: {source}")]
    Io {
        /// File name.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    buckets_log2: u32,
    languages: Vec<String>,
    /// Weight = stored i16 × scale, per output.
    scales: [f32; OUTPUTS],
    calibration: Calibration,
    provenance: serde_json::Value,
}

impl Model {
    /// A model from its weights (`buckets × 2`, `buckets` a power of two).
    pub(crate) fn new(
        weights: Vec<f32>,
        languages: Vec<String>,
        calibration: Calibration,
        provenance: serde_json::Value,
    ) -> Self {
        let buckets = (weights.len() / OUTPUTS) as u32;
        debug_assert!(buckets.is_power_of_two());
        Self { weights, mask: buckets - 1, languages, calibration, provenance }
    }

    /// The number of hash buckets.
    pub fn buckets(&self) -> usize {
        self.weights.len() / OUTPUTS
    }

    /// The model as the bytes of a weights file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut scales = [0.0f32; OUTPUTS];
        for (output, scale) in scales.iter_mut().enumerate() {
            let largest = self.weights.iter().skip(output).step_by(OUTPUTS).fold(0.0f32, |m, w| m.max(w.abs()));
            *scale = if largest == 0.0 { 1.0 } else { largest / f32::from(i16::MAX) };
        }
        let header = Header {
            buckets_log2: self.buckets().trailing_zeros(),
            languages: self.languages.clone(),
            scales,
            calibration: self.calibration.clone(),
            provenance: self.provenance.clone(),
        };
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + header.len() + self.weights.len() * 2);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        for (i, weight) in self.weights.iter().enumerate() {
            let quantized = (weight / scales[i % OUTPUTS]).round().clamp(f32::from(i16::MIN), f32::from(i16::MAX));
            bytes.extend_from_slice(&(quantized as i16).to_le_bytes());
        }
        bytes
    }

    /// Reads a weights file's bytes; `origin` names it in errors.
    pub fn from_bytes(origin: &str, bytes: &[u8]) -> Result<Self, ModelError> {
        let error = |reason: &str| ModelError::Format { origin: origin.to_owned(), reason: reason.to_owned() };
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| error("not an Earshot model (bad magic)"))?;
        let (length, rest) = rest.split_at_checked(4).ok_or_else(|| error("truncated header"))?;
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let (header, weights) = rest.split_at_checked(length).ok_or_else(|| error("truncated header"))?;
        let header: Header =
            serde_json::from_slice(header).map_err(|e| error(&format!("header is not valid JSON: {e}")))?;
        if header.buckets_log2 > 26 {
            return Err(error("more than 2^26 buckets"));
        }
        let expected = (1usize << header.buckets_log2) * OUTPUTS;
        if weights.len() != expected * 2 {
            return Err(error(&format!("expected {expected} weights, found {} bytes", weights.len())));
        }
        let weights = weights
            .chunks_exact(2)
            .enumerate()
            .map(|(i, b)| f32::from(i16::from_le_bytes([b[0], b[1]])) * header.scales[i % OUTPUTS])
            .collect();
        Ok(Self::new(weights, header.languages, header.calibration, header.provenance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        let weights = (0..16).map(|i| (i as f32 - 8.0) / 4.0).collect();
        let calibration = Calibration {
            lexicon_shares: [("en".to_owned(), 0.3)].into(),
            fallback_lexicon_share: 0.2,
            positive_weights: [("en".to_owned(), 1.0)].into(),
            fallback_positive_weight: 0.5,
            thresholds: [("en".to_owned(), 0.4)].into(),
            offsets: [("en".to_owned(), -0.1)].into(),
            fallback_threshold: 0.45,
            fallback_offset: 0.0,
        };
        Model::new(weights, vec!["en".into()], calibration, serde_json::json!({"seed": 7}))
    }

    #[test]
    fn round_trips_within_quantization() {
        let model = tiny();
        let back = Model::from_bytes("test", &model.to_bytes()).unwrap();
        assert_eq!(back.buckets(), 8);
        assert_eq!(back.calibration, model.calibration);
        assert_eq!(back.provenance, model.provenance);
        for (a, b) in model.weights.iter().zip(&back.weights) {
            assert!((a - b).abs() < 1e-3, "{a} {b}");
        }
    }

    #[test]
    fn bad_bytes_say_what_is_wrong() {
        let bytes = tiny().to_bytes();
        let message = |b: &[u8]| Model::from_bytes("m.bin", b).unwrap_err().to_string();
        assert!(message(b"nonsense").contains("bad magic"));
        assert!(message(&bytes[..bytes.len() - 2]).contains("expected 16 weights"));
        assert!(message(&bytes[..10]).contains("truncated"));
        assert!(message(b"ESMODEL1\x02\0\0\0{]").contains("m.bin"));
    }
}
