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

/// Checks one series of a `WriteBatch` built by any writer against the
/// batch invariants storage relies on (sorted, unique, non-empty names and
/// values) and the limits. Remote-write batches pass by construction: the
/// decoder applies the same rules while it builds them.
pub fn validate_series(
    labels: &[strata_model::LabelRef<'_>],
    limits: &Limits,
) -> Result<(), crate::InvalidReason> {
    use crate::InvalidReason;
    use crate::decode::truncate;
    if labels.is_empty() {
        return Err(InvalidReason::EmptyLabelSet);
    }
    if labels.len() > limits.max_labels_per_series {
        return Err(InvalidReason::TooManyLabels {
            n: labels.len(),
            max: limits.max_labels_per_series,
        });
    }
    for l in labels {
        if l.name.is_empty() {
            return Err(InvalidReason::EmptyLabelName);
        }
        if l.name.len() > limits.max_label_name_len {
            return Err(InvalidReason::NameTooLong {
                name: truncate(l.name),
                len: l.name.len(),
                max: limits.max_label_name_len,
            });
        }
        if l.value.len() > limits.max_label_value_len {
            return Err(InvalidReason::ValueTooLong {
                name: l.name.to_string(),
                len: l.value.len(),
                max: limits.max_label_value_len,
            });
        }
        if l.value.is_empty() {
            return Err(InvalidReason::EmptyLabelValue(truncate(l.name)));
        }
        if limits.name_validation == NameValidation::Legacy {
            if l.name == strata_model::METRIC_NAME {
                if !legacy_metric_name(l.value.as_bytes()) {
                    return Err(InvalidReason::InvalidMetricName(truncate(l.value)));
                }
            } else if !legacy_label_name(l.name.as_bytes()) {
                return Err(InvalidReason::InvalidLabelName(truncate(l.name)));
            }
        }
    }
    for w in labels.windows(2) {
        match w[0].name.cmp(w[1].name) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => {
                return Err(InvalidReason::DuplicateLabelName(truncate(w[0].name)));
            }
            std::cmp::Ordering::Greater => return Err(InvalidReason::UnsortedLabels),
        }
    }
    Ok(())
}
