//! Differential test: `strata_rules::load` and the real `promtool check
//! rules` (Debian's Prometheus 2.42) must accept and refuse the same files
//! of `tests/testdata/`, except the Prometheus 3 / Strata additions listed
//! in `DIFFERENT`, which must still differ.

#![allow(clippy::unwrap_used)] // test helpers: a failure should stop the test

use std::path::{Path, PathBuf};
use std::process::Command;

const PROMTOOL: &str = "/usr/bin/promtool";

/// (file, why Strata accepts what promtool 2.42 refuses).
const DIFFERENT: &[(&str, &str)] = &[
    (
        "strata_only_manifest.yml",
        "a Prometheus Operator PrometheusRule manifest: Strata reads its spec.groups (the rules issue asks for it); promtool wants a plain rule file",
    ),
    (
        "strata_only_group_labels.yml",
        "group-level labels are Prometheus 3 (model/rulefmt RuleGroup.Labels); 2.42 calls them an unknown field",
    ),
    (
        "strata_only_query_offset.yml",
        "group query_offset is Prometheus 2.53+ (prometheus/prometheus#14061); 2.42 calls it an unknown field",
    ),
];

fn testdata() -> PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/testdata")
}

#[test]
fn strata_and_promtool_agree_on_every_rule_file() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is required (apt-get install prometheus)"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 17, "the corpus is missing: {files:?}");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let strata = strata_rules::load(path);
        let promtool = Command::new(PROMTOOL)
            .args(["check", "rules"])
            .arg(path)
            .output()
            .unwrap();
        let promtool_ok = promtool.status.success();
        let different = DIFFERENT.iter().any(|(f, _)| *f == name);
        if different {
            if strata.is_err() || promtool_ok {
                failures.push(format!(
                    "{name}: listed as a difference (strata accepts, promtool refuses), got strata ok={} promtool ok={promtool_ok}",
                    strata.is_ok()
                ));
            }
        } else if strata.is_ok() != promtool_ok {
            failures.push(format!(
                "{name}: strata {:?}, promtool {}",
                strata.as_ref().map(|_| "ok"),
                String::from_utf8_lossy(&promtool.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_name_file_line_group_and_rule() {
    let err = |f: &str| -> Vec<String> {
        strata_rules::load(&testdata().join(f))
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.to_string())
            .collect()
    };
    let e = err("bad_expr.yml");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!(
            "{}: 5:15: group \"g\", rule 1, \"job:up:sum\": could not parse expression:",
            testdata().join("bad_expr.yml").display()
        )),
        "{e:?}"
    );
    assert!(
        err("dup_group.yml")[0].ends_with("6:5: groupname: \"g\" is repeated in the same file")
    );
    let unknown = err("unknown_field.yml");
    assert!(
        unknown[0].contains("groups[0].rules[0].severity: unknown field \"severity\""),
        "{unknown:?}"
    );
    assert!(
        err("both_record_alert.yml")[0].contains("only one of 'record' and 'alert' must be set")
    );
    assert!(err("record_with_for.yml")[0].contains("invalid field 'for' in recording rule"));
    assert!(err("empty_expr.yml")[0].contains("field 'expr' must be set in rule"));
    assert!(err("record_name_braces.yml")[0].contains("braces present in the recording rule name"));
    assert!(err("bad_duration.yml")[0].contains("invalid duration \"5x\""));
    assert!(err("label_name_reserved.yml")[0].contains("invalid label name: __name__"));
    assert!(err("empty_group_name.yml")[0].contains("Groupname must not be empty"));
    // promtool 2.42: `...: group "g", rule 1, "A": annotation "summary":
    // template: __alert_A:1: unclosed action`.
    let t = err("bad_template.yml");
    assert_eq!(t.len(), 1, "{t:?}");
    assert!(
        t[0].starts_with(&testdata().join("bad_template.yml").display().to_string()),
        "{t:?}"
    );
    assert!(
        t[0].ends_with(
            "group \"g\", rule 1, \"A\": annotation \"summary\": template: __alert_A:1: unclosed action"
        ),
        "{t:?}"
    );
}

#[test]
fn a_manifest_and_a_plain_file_read_the_same() {
    let m = strata_rules::load(&testdata().join("strata_only_manifest.yml")).unwrap();
    assert_eq!(m.groups.len(), 1);
    assert_eq!(m.groups[0].rules[0].name(), "NodeDown");
    let good = strata_rules::load(&testdata().join("good.yml")).unwrap();
    assert_eq!(strata_rules::rule_count(&good), 2);
    assert_eq!(
        good.groups[0].interval,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(good.groups[0].limit, 100);
    match &good.groups[0].rules[1].kind {
        strata_rules::RuleKind::Alerting {
            for_,
            keep_firing_for,
            annotations,
            ..
        } => {
            assert_eq!(*for_, std::time::Duration::from_secs(600));
            assert_eq!(*keep_firing_for, std::time::Duration::from_secs(300));
            assert_eq!(annotations["summary"], "CPU high on {{ $labels.instance }}");
        }
        other => panic!("{other:?}"),
    }
    let dups = strata_rules::load(&testdata().join("duplicate_rules.yml")).unwrap();
    assert_eq!(strata_rules::duplicate_rules(&dups).len(), 1);
    assert!(strata_rules::duplicate_rules(&good).is_empty());
}
