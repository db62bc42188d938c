//! Per-series validation limits and name rules.

/// Which names are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameValidation {
    /// Prometheus 3: any non-empty valid UTF-8 string.
    Utf8,
    /// Prometheus 2: `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names,
    /// `[a-zA-Z_][a-zA-Z0-9_]*` for label names.
    Legacy,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_labels_per_series: usize,
    pub max_label_name_len: usize,
    pub max_label_value_len: usize,
    /// Cap on the compressed body.
    pub max_body_bytes: usize,
    /// Cap on the decompressed body: bounds one request's memory.
    pub max_decompressed_bytes: usize,
    pub name_validation: NameValidation,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_labels_per_series: 128,
            max_label_name_len: 1024,
            max_label_value_len: 4096,
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 256 << 20,
            name_validation: NameValidation::Utf8,
        }
    }
}

pub(crate) fn legacy_metric_name(s: &[u8]) -> bool {
    match s.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_' || *first == b':')
                && rest
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
        }
        None => false,
    }
}

pub(crate) fn legacy_label_name(s: &[u8]) -> bool {
    match s.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        None => false,
    }
}
