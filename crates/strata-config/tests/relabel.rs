//! Relabeling behaviour, action by action, with the edge cases Prometheus'
//! relabel tests care about (written for Strata, not copied).

#![allow(clippy::unwrap_used)] // test helpers: a failure should stop the test

use proptest::prelude::*;
use std::borrow::Cow;
use strata_config::relabel::{self, RelabelError};
use strata_config::{Action, NameValidation, RelabelConfig, RelabelSpec};
use strata_model::{Labels, LabelsBuilder};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn rule(f: impl FnOnce(&mut RelabelSpec)) -> RelabelConfig {
    let mut spec = RelabelSpec::default();
    f(&mut spec);
    RelabelConfig::new(spec, NameValidation::Utf8).unwrap()
}

fn src(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Runs `rules` through every entry point and checks they agree.
fn run(input: &Labels, rules: &[RelabelConfig]) -> Option<Labels> {
    let plain = relabel::process(input, rules);
    let mut b = input.builder();
    let kept = relabel::process_builder(&mut b, rules);
    assert_eq!(
        kept,
        plain.is_some(),
        "process_builder disagrees with process"
    );
    if kept {
        assert_eq!(Some(b.labels()), plain, "process_builder result differs");
    }
    plain
}

#[test]
fn replace_with_groups_and_separator() {
    let r = rule(|s| {
        s.source_labels = src(&["a", "b"]);
        s.regex = Some("(f).*;(.*)r".into());
        s.target_label = "a".into();
        s.replacement = "b${1}${2}m".into();
    });
    let out = run(&labels(&[("a", "foo"), ("b", "bar")]), &[r]).unwrap();
    assert_eq!(out, labels(&[("a", "bfbam"), ("b", "bar")]));
}

#[test]
fn replace_without_match_changes_nothing() {
    let r = rule(|s| {
        s.source_labels = src(&["a"]);
        s.regex = Some("x(.*)".into());
        s.target_label = "b".into();
    });
    let input = labels(&[("a", "foo")]);
    assert_eq!(run(&input, &[r]).unwrap(), input);
}

#[test]
fn regex_is_anchored_and_dot_matches_newline() {
    let keep_o = rule(|s| {
        s.source_labels = src(&["a"]);
        s.regex = Some("o".into());
        s.action = Action::Keep;
    });
    assert_eq!(
        run(&labels(&[("a", "foo")]), std::slice::from_ref(&keep_o)),
        None
    );
    assert!(run(&labels(&[("a", "o")]), &[keep_o]).is_some());
    let keep_dot = rule(|s| {
        s.source_labels = src(&["a"]);
        s.regex = Some("a.b".into());
        s.action = Action::Keep;
    });
    assert!(run(&labels(&[("a", "a\nb")]), &[keep_dot]).is_some());
}

#[test]
fn empty_replacement_deletes_the_target() {
    let r = rule(|s| {
        s.source_labels = src(&["a"]);
        s.regex = Some("foo".into());
        s.target_label = "b".into();
        s.replacement = String::new();
    });
    let out = run(&labels(&[("a", "foo"), ("b", "x")]), &[r]).unwrap();
    assert_eq!(out, labels(&[("a", "foo")]));
}

#[test]
fn missing_source_with_default_regex_sets_a_constant() {
    let r = rule(|s| {
        s.source_labels = src(&["missing"]);
        s.target_label = "env".into();
        s.replacement = "prod".into();
    });
    let out = run(&labels(&[("a", "1")]), &[r]).unwrap();
    assert_eq!(out, labels(&[("a", "1"), ("env", "prod")]));
    // No source labels at all behaves the same.
    let r = rule(|s| {
        s.target_label = "env".into();
        s.replacement = "prod".into();
    });
    assert_eq!(run(&labels(&[]), &[r]).unwrap(), labels(&[("env", "prod")]));
}

#[test]
fn default_replacement_of_empty_value_deletes() {
    // `$1` of an empty match is empty: the target goes away.
    let r = rule(|s| {
        s.source_labels = src(&["missing"]);
        s.target_label = "a".into();
    });
    assert_eq!(run(&labels(&[("a", "1")]), &[r]).unwrap(), labels(&[]));
}

#[test]
fn expansion_follows_go_rules() {
    let cases: &[(&str, &str)] = &[
        ("$1", "foo"),
        ("${1}x", "foox"),
        // `$1x` names group "1x", which does not exist: empty, so deleted.
        ("$1x", ""),
        ("$$1", "$1"),
        ("a$", "a$"),
        ("${1", "${1"),
        ("$ a", "$ a"),
        ("$01", ""),
        ("$2", ""),
        ("[${1}]", "[foo]"),
    ];
    for (template, want) in cases {
        let r = rule(|s| {
            s.source_labels = src(&["a"]);
            s.target_label = "b".into();
            s.replacement = template.to_string();
        });
        let out = run(&labels(&[("a", "foo")]), &[r]).unwrap();
        assert_eq!(out.get("b").unwrap_or(""), *want, "template {template:?}");
    }
}

#[test]
fn named_groups() {
    let r = rule(|s| {
        s.source_labels = src(&["__address__"]);
        s.regex = Some(r"(?P<host>[^:]+):(?P<port>\d+)".into());
        s.target_label = "hp".into();
        s.replacement = "${port}-$host".into();
    });
    let out = run(&labels(&[("__address__", "localhost:9090")]), &[r]).unwrap();
    assert_eq!(out.get("hp"), Some("9090-localhost"));
}

#[test]
fn templated_target_label() {
    let r = rule(|s| {
        s.source_labels = src(&["kind"]);
        s.regex = Some("(.+)".into());
        s.target_label = "is_${1}".into();
        s.replacement = "yes".into();
    });
    let out = run(&labels(&[("kind", "db")]), &[r]).unwrap();
    assert_eq!(out.get("is_db"), Some("yes"));
    // Under the legacy scheme an expanded name that is not a legacy name is
    // skipped rather than set.
    let mut spec = RelabelSpec {
        source_labels: src(&["kind"]),
        regex: Some("(.+)".into()),
        target_label: "is_${1}".into(),
        replacement: "yes".into(),
        ..RelabelSpec::default()
    };
    let legacy = RelabelConfig::new(spec.clone(), NameValidation::Legacy).unwrap();
    let input = labels(&[("kind", "a.b")]);
    assert_eq!(run(&input, &[legacy]).unwrap(), input);
    // An expansion to the empty name is never set.
    spec.target_label = "${2}".into();
    let empty_target = RelabelConfig::new(spec, NameValidation::Utf8).unwrap();
    assert_eq!(run(&input, &[empty_target]).unwrap(), input);
}

#[test]
fn metric_name_as_target() {
    let r = rule(|s| {
        s.source_labels = src(&["__name__"]);
        s.regex = Some("old_(.*)".into());
        s.target_label = "__name__".into();
        s.replacement = "new_$1".into();
    });
    let out = run(&labels(&[("__name__", "old_total"), ("job", "a")]), &[r]).unwrap();
    assert_eq!(out.metric_name(), Some("new_total"));
}

#[test]
fn keep_and_drop() {
    let keep = rule(|s| {
        s.source_labels = src(&["__name__"]);
        s.regex = Some("up|go_.*".into());
        s.action = Action::Keep;
    });
    let drop = rule(|s| {
        s.source_labels = src(&["__name__"]);
        s.regex = Some("up|go_.*".into());
        s.action = Action::Drop;
    });
    for (name, matches) in [
        ("up", true),
        ("go_gc", true),
        ("upx", false),
        ("node_up", false),
    ] {
        let l = labels(&[("__name__", name)]);
        assert_eq!(
            run(&l, std::slice::from_ref(&keep)).is_some(),
            matches,
            "{name}"
        );
        assert_eq!(
            run(&l, std::slice::from_ref(&drop)).is_some(),
            !matches,
            "{name}"
        );
    }
    // A missing label is the empty string: `.+` does not match it.
    let keep_present = rule(|s| {
        s.source_labels = src(&["team"]);
        s.regex = Some(".+".into());
        s.action = Action::Keep;
    });
    assert_eq!(run(&labels(&[("a", "1")]), &[keep_present]), None);
}

#[test]
fn keepequal_and_dropequal() {
    let keepeq = rule(|s| {
        s.source_labels = src(&["a"]);
        s.target_label = "b".into();
        s.action = Action::KeepEqual;
    });
    let dropeq = rule(|s| {
        s.source_labels = src(&["a"]);
        s.target_label = "b".into();
        s.action = Action::DropEqual;
    });
    let same = labels(&[("a", "x"), ("b", "x")]);
    let differ = labels(&[("a", "x"), ("b", "y")]);
    let both_missing = labels(&[("c", "1")]);
    assert!(run(&same, std::slice::from_ref(&keepeq)).is_some());
    assert!(run(&differ, std::slice::from_ref(&keepeq)).is_none());
    assert!(run(&both_missing, std::slice::from_ref(&keepeq)).is_some());
    assert!(run(&same, std::slice::from_ref(&dropeq)).is_none());
    assert!(run(&differ, std::slice::from_ref(&dropeq)).is_some());
}

#[test]
fn hashmod_matches_md5_tail() {
    // Expected values: md5 of the joined value, last 8 bytes big-endian,
    // modulo (computed independently with Python's hashlib).
    let cases: &[(&[(&str, &str)], &[&str], u64, &str)] = &[
        (&[("a", "foo")], &["a"], 1000, "696"),
        (&[("a", "foo"), ("b", "bar")], &["a", "b"], 8, "6"),
        (&[], &["a"], 10, "8"),
        (
            &[("__address__", "10.0.0.1:9100")],
            &["__address__"],
            3,
            "2",
        ),
    ];
    for (input, sources, modulus, want) in cases {
        let r = rule(|s| {
            s.source_labels = src(sources);
            s.modulus = *modulus;
            s.target_label = "shard".into();
            s.action = Action::HashMod;
        });
        let out = run(&labels(input), &[r]).unwrap();
        assert_eq!(out.get("shard"), Some(*want), "{input:?}");
    }
}

#[test]
fn labelmap_copies_matching_names() {
    let r = rule(|s| {
        s.regex = Some("__meta_kubernetes_pod_label_(.+)".into());
        s.action = Action::LabelMap;
    });
    let input = labels(&[
        ("__meta_kubernetes_pod_label_app", "web"),
        ("__meta_kubernetes_pod_label_tier", "front"),
        ("job", "k8s"),
    ]);
    let out = run(&input, &[r]).unwrap();
    assert_eq!(out.get("app"), Some("web"));
    assert_eq!(out.get("tier"), Some("front"));
    assert_eq!(out.get("__meta_kubernetes_pod_label_app"), Some("web"));
    assert_eq!(out.len(), 5);
    let r = rule(|s| {
        s.regex = Some("(a)(b)?".into());
        s.replacement = "${1}_${2}_x".into();
        s.action = Action::LabelMap;
    });
    let out = run(&labels(&[("a", "1"), ("ab", "2")]), &[r]).unwrap();
    assert_eq!(out.get("a__x"), Some("1"));
    assert_eq!(out.get("a_b_x"), Some("2"));
}

#[test]
fn labeldrop_and_labelkeep() {
    let input = labels(&[("__name__", "up"), ("a", "1"), ("b", "2"), ("tmp_x", "3")]);
    let drop = rule(|s| {
        s.regex = Some("tmp_.*|b".into());
        s.action = Action::LabelDrop;
    });
    assert_eq!(
        run(&input, &[drop]).unwrap(),
        labels(&[("__name__", "up"), ("a", "1")])
    );
    let keep = rule(|s| {
        s.regex = Some("__name__|a".into());
        s.action = Action::LabelKeep;
    });
    assert_eq!(
        run(&input, &[keep]).unwrap(),
        labels(&[("__name__", "up"), ("a", "1")])
    );
}

#[test]
fn lowercase_and_uppercase() {
    let lower = rule(|s| {
        s.source_labels = src(&["a", "b"]);
        s.target_label = "l".into();
        s.action = Action::Lowercase;
    });
    let upper = rule(|s| {
        s.source_labels = src(&["a"]);
        s.target_label = "u".into();
        s.action = Action::Uppercase;
    });
    let out = run(&labels(&[("a", "FoO"), ("b", "ÄÖ")]), &[lower, upper]).unwrap();
    assert_eq!(out.get("l"), Some("foo;äö"));
    assert_eq!(out.get("u"), Some("FOO"));
    // Go maps rune by rune: ß has no single-rune upper case and stays.
    let upper = rule(|s| {
        s.source_labels = src(&["a"]);
        s.target_label = "a".into();
        s.action = Action::Uppercase;
    });
    assert_eq!(
        run(&labels(&[("a", "straße")]), &[upper]).unwrap().get("a"),
        Some("STRAßE")
    );
}

#[test]
fn rules_chain_in_order() {
    let rules = [
        rule(|s| {
            s.source_labels = src(&["__address__"]);
            s.regex = Some("([^:]+):.*".into());
            s.target_label = "host".into();
        }),
        rule(|s| {
            s.source_labels = src(&["host"]);
            s.regex = Some("db.*".into());
            s.action = Action::Drop;
        }),
        rule(|s| {
            s.regex = Some("__.*".into());
            s.action = Action::LabelDrop;
        }),
    ];
    let web = run(&labels(&[("__address__", "web1:80")]), &rules).unwrap();
    assert_eq!(web, labels(&[("host", "web1")]));
    assert_eq!(run(&labels(&[("__address__", "db1:5432")]), &rules), None);
}

#[test]
fn unchanged_labels_are_borrowed() {
    let input = labels(&[("__name__", "up"), ("job", "a")]);
    let rules = [
        rule(|s| {
            s.source_labels = src(&["__name__"]);
            s.regex = Some("up".into());
            s.action = Action::Keep;
        }),
        rule(|s| {
            s.regex = Some("tmp_.*".into());
            s.action = Action::LabelDrop;
        }),
    ];
    assert!(matches!(
        relabel::process_cow(&input, &rules),
        Some(Cow::Borrowed(_))
    ));
    // A replace that does not match, or sets the value already there, copies nothing.
    let rules = [
        rule(|s| {
            s.source_labels = src(&["job"]);
            s.regex = Some("b".into());
            s.target_label = "x".into();
        }),
        rule(|s| {
            s.source_labels = src(&["job"]);
            s.target_label = "job".into();
        }),
        rule(|s| {
            s.source_labels = src(&["job"]);
            s.target_label = "job".into();
            s.action = Action::Lowercase;
        }),
    ];
    assert!(matches!(
        relabel::process_cow(&input, &rules),
        Some(Cow::Borrowed(_))
    ));
    // A change does copy.
    let set = [rule(|s| {
        s.target_label = "env".into();
        s.replacement = "prod".into();
    })];
    assert!(matches!(
        relabel::process_cow(&input, &set),
        Some(Cow::Owned(_))
    ));
}

#[test]
fn validation_per_action() {
    let check = |f: &dyn Fn(&mut RelabelSpec), scheme: NameValidation| {
        let mut spec = RelabelSpec::default();
        f(&mut spec);
        RelabelConfig::new(spec, scheme).err()
    };
    let u = NameValidation::Utf8;
    assert_eq!(
        check(&|_| {}, u),
        Some(RelabelError::TargetRequired(Action::Replace))
    );
    assert_eq!(
        check(
            &|s| {
                s.action = Action::HashMod;
                s.target_label = "x".into();
            },
            u
        ),
        Some(RelabelError::ZeroModulus)
    );
    for a in [
        Action::Lowercase,
        Action::Uppercase,
        Action::KeepEqual,
        Action::DropEqual,
    ] {
        assert_eq!(
            check(&|s| s.action = a, u),
            Some(RelabelError::TargetRequired(a))
        );
        assert_eq!(
            check(
                &|s| {
                    s.action = a;
                    s.target_label = "t".into();
                    s.replacement = "x".into();
                },
                u
            ),
            Some(RelabelError::ReplacementNotAllowed(a))
        );
    }
    for a in [Action::KeepEqual, Action::DropEqual] {
        assert_eq!(
            check(
                &|s| {
                    s.action = a;
                    s.target_label = "t".into();
                    s.separator = ",".into();
                },
                u
            ),
            Some(RelabelError::OnlySourceAndTarget(a))
        );
    }
    for a in [Action::LabelDrop, Action::LabelKeep] {
        assert_eq!(
            check(
                &|s| {
                    s.action = a;
                    s.source_labels = src(&["a"]);
                },
                u
            ),
            Some(RelabelError::OnlyRegex(a))
        );
        assert_eq!(check(&|s| s.action = a, u), None);
    }
    let legacy = NameValidation::Legacy;
    let dotted = |s: &mut RelabelSpec| s.target_label = "a.b".into();
    assert_eq!(check(&dotted, u), None);
    assert_eq!(
        check(&dotted, legacy),
        Some(RelabelError::InvalidTarget("a.b".into(), Action::Replace))
    );
    assert_eq!(check(&|s| s.target_label = "x_${1}".into(), legacy), None);
    assert_eq!(
        check(&|s| s.target_label = "${1".into(), legacy),
        Some(RelabelError::InvalidTarget("${1".into(), Action::Replace))
    );
    assert_eq!(
        check(
            &|s| {
                s.action = Action::LabelMap;
                s.replacement = "a-b".into();
            },
            legacy
        ),
        Some(RelabelError::InvalidReplacement(
            "a-b".into(),
            Action::LabelMap
        ))
    );
    assert!(matches!(
        check(
            &|s| {
                s.regex = Some("(".into());
                s.target_label = "x".into();
            },
            u
        ),
        Some(RelabelError::Regex(_))
    ));
    assert_eq!(Action::parse("HashMod"), Some(Action::HashMod));
    assert_eq!(Action::parse("replac"), None);
}

fn arb_labels() -> impl Strategy<Value = Labels> {
    proptest::collection::vec(("[a-c_]{1,3}|__name__", "[a-cß.:$]{0,4}"), 0..6)
        .prop_map(|pairs| Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))))
}

fn arb_rule() -> impl Strategy<Value = Option<RelabelConfig>> {
    (
        proptest::sample::select(Action::ALL.to_vec()),
        proptest::collection::vec("[a-c_]{1,3}", 0..3),
        proptest::option::of("[a-c.*+?|()]{0,6}"),
        "[a-c$1{}_]{0,5}",
        "[a-c$1{}]{0,5}",
        0u64..5,
    )
        .prop_map(|(action, sources, regex, target, replacement, modulus)| {
            // Only rules that validate; the generator's invalid combinations
            // (and unparsable regexes) become None.
            let mut spec = RelabelSpec {
                action,
                source_labels: sources,
                regex,
                target_label: target,
                modulus,
                ..RelabelSpec::default()
            };
            if matches!(action, Action::Replace | Action::LabelMap) {
                spec.replacement = replacement;
            }
            if matches!(action, Action::LabelDrop | Action::LabelKeep) {
                spec.source_labels.clear();
                spec.target_label.clear();
            }
            RelabelConfig::new(spec, NameValidation::Utf8).ok()
        })
}

proptest! {
    #[test]
    fn process_never_panics_and_entry_points_agree(
        input in arb_labels(),
        rules in proptest::collection::vec(arb_rule(), 0..5),
    ) {
        let rules: Vec<RelabelConfig> = rules.into_iter().flatten().collect();
        if let Some(out) = run(&input, &rules) {
            // The result is a well-formed label set: sorted, unique, no empty values.
            let v = out.as_slice();
            prop_assert!(v.windows(2).all(|w| w[0].name < w[1].name));
            prop_assert!(v.iter().all(|l| !l.value.is_empty()));
        }
    }

    #[test]
    fn keep_and_drop_are_complements(input in arb_labels(), regex in "[a-c.*+|]{0,5}", source in "[a-c_]{1,3}") {
        let mk = |action| RelabelConfig::new(RelabelSpec {
            action,
            source_labels: vec![source.clone()],
            regex: Some(regex.clone()),
            ..RelabelSpec::default()
        }, NameValidation::Utf8);
        if let (Ok(keep), Ok(drop)) = (mk(Action::Keep), mk(Action::Drop)) {
            prop_assert_ne!(run(&input, &[keep]).is_some(), run(&input, &[drop]).is_some());
        }
    }
}

#[test]
fn builder_variant_edits_in_place() {
    let mut b: LabelsBuilder = labels(&[("a", "1"), ("tmp", "x")]).builder();
    let rules = [rule(|s| {
        s.regex = Some("tmp".into());
        s.action = Action::LabelDrop;
    })];
    assert!(relabel::process_builder(&mut b, &rules));
    assert_eq!(b.labels(), labels(&[("a", "1")]));
}
