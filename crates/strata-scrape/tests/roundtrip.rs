//! Property: any label set and sample written in the text format (0.0.4,
//! with Prometheus 3's quoting for names outside the legacy charset) or in
//! OpenMetrics parses back to the same series.

use std::collections::BTreeMap;

use proptest::prelude::*;
use strata_model::{Label, Labels, METRIC_NAME};
use strata_scrape::expo::{Entry, Format, LabelPairs, Parser};

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn legacy_metric(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn legacy_label(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Shortest round-trip digits; sometimes in exponent form.
        if v.abs() > 1e15 || (v != 0.0 && v.abs() < 1e-5) {
            format!("{v:e}")
        } else {
            format!("{v}")
        }
    }
}

/// The series line as a client library would write it.
fn line(name: &str, labels: &BTreeMap<String, String>, value: f64, ts: &str, om: bool) -> String {
    let sep = if om { "," } else { ", " };
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(n, v)| {
            if legacy_label(n) {
                format!("{n}=\"{}\"", escape(v))
            } else {
                format!("\"{}\"=\"{}\"", escape(n), escape(v))
            }
        })
        .collect();
    let mut out = String::new();
    if legacy_metric(name) {
        out.push_str(name);
    } else {
        pairs.insert(0, format!("\"{}\"", escape(name)));
    }
    if !pairs.is_empty() {
        out.push('{');
        out.push_str(&pairs.join(sep));
        out.push('}');
    }
    out.push(' ');
    out.push_str(&value_text(value));
    out.push_str(ts);
    out.push('\n');
    out
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        "\\PC{1,12}",
        "[a-z]{1,5}[.\\-/ ]{1,3}[a-z]{0,5}",
    ]
}

fn label_name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,15}",
        "\\PC{1,10}",
        "[a-z]{1,4}[.\\\\\"\n]{1,2}[a-z]{0,4}",
    ]
    .prop_filter("__name__ is the metric name", |n| n != METRIC_NAME)
}

fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (0u64..1_000_000).prop_map(|v| v as f64),
        (-1000i64..1000).prop_map(|v| v as f64 / 8.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

fn expected(name: &str, labels: &BTreeMap<String, String>) -> Labels {
    let mut v: Vec<Label> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| Label::new(n.clone(), v.clone()))
        .collect();
    v.push(Label::new(METRIC_NAME, name));
    Labels::new(v)
}

fn parse_one(format: Format, doc: &str) -> Result<(Labels, f64, Option<i64>), String> {
    let mut p = Parser::new(format, doc.as_bytes());
    let mut found = None;
    let mut pairs = LabelPairs::new();
    loop {
        match p.next() {
            Ok(None) => break,
            Ok(Some(Entry::Series(s))) => {
                let l = s.to_labels();
                s.write_pairs(&mut pairs);
                if pairs.to_labels() != l {
                    return Err("write_pairs and to_labels differ".into());
                }
                if found.is_some() {
                    return Err("two series".into());
                }
                found = Some((l, s.value, s.timestamp_ms));
            }
            Ok(Some(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    found.ok_or_else(|| "no series".to_string())
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn text_format_round_trips(
        name in name_strategy(),
        labels in proptest::collection::btree_map(label_name_strategy(), "\\PC{0,20}|[\"\\\\\n]{1,4}", 0..8),
        value in value_strategy(),
        ts in proptest::option::of(0i64..=i64::MAX),
    ) {
        let ts_text = ts.map(|t| format!(" {t}")).unwrap_or_default();
        let doc = format!("# TYPE x gauge\n{}", line(&name, &labels, value, &ts_text, false));
        let (l, v, t) = parse_one(Format::PrometheusText0_0_4, &doc)
            .map_err(|e| TestCaseError::fail(format!("{doc:?}: {e}")))?;
        prop_assert_eq!(l, expected(&name, &labels), "{:?}", doc);
        prop_assert!(same_value(v, value), "{:?}: {} vs {}", doc, v, value);
        prop_assert_eq!(t, ts);
    }

    #[test]
    fn openmetrics_round_trips(
        name in name_strategy(),
        labels in proptest::collection::btree_map(label_name_strategy(), "[^\n]{0,20}|[\"\\\\]{1,4}", 0..8),
        value in value_strategy(),
        ts_seconds in proptest::option::of(-1_000_000_000i64..4_000_000_000),
    ) {
        let ts_text = ts_seconds.map(|t| format!(" {t}")).unwrap_or_default();
        let doc = format!("{}# EOF\n", line(&name, &labels, value, &ts_text, true));
        let (l, v, t) = parse_one(Format::OpenMetrics1_0_0, &doc)
            .map_err(|e| TestCaseError::fail(format!("{doc:?}: {e}")))?;
        prop_assert_eq!(l, expected(&name, &labels), "{:?}", doc);
        prop_assert!(same_value(v, value), "{:?}: {} vs {}", doc, v, value);
        prop_assert_eq!(t, ts_seconds.map(|s| s * 1000));
    }

    /// Whatever the bytes, every format parses to an end or an error.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        for f in Format::ALL {
            let mut p = Parser::new(f, &body);
            let mut n = 0;
            while let Ok(Some(e)) = p.next() {
                if let Entry::Series(s) = e {
                    let _ = s.to_labels();
                }
                n += 1;
                prop_assert!(n <= body.len() + 1);
            }
        }
    }
}
