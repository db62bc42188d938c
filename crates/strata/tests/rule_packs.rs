//! The shipped rule packs (`rules/`): each file passes `strata check rules`
//! and the real `promtool check rules`, its unit tests pass under `strata
//! test rules` and the real `promtool test rules`, every alert carries what
//! on-call needs (severity, summary, description, a runbook section that
//! exists), and `strata run --rule-pack` loads them without any file.

mod support;

use std::process::Command;
use support::{Server, TestResult, bin};

const PACKS: [&str; 3] = ["kubernetes-triage", "kafka", "strata"];

fn repo(path: &str) -> String {
    format!(
        "{}/../../{path}",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into())
    )
}

fn run(cmd: &str, args: &[&str]) -> Result<(bool, String), Box<dyn std::error::Error>> {
    let out = Command::new(cmd).args(args).output()?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn packs_check_and_pass_their_tests_under_strata_and_promtool() -> TestResult {
    let with_promtool = support::peer_installed("promtool")?;
    for pack in PACKS {
        let rules = repo(&format!("rules/{pack}.yml"));
        let tests = repo(&format!("rules/{pack}_test.yml"));
        let (ok, out) = run(bin(), &["check", "rules", &rules])?;
        assert!(ok, "strata check rules {pack}:\n{out}");
        let (ok, out) = run(bin(), &["test", "rules", &tests])?;
        assert!(ok, "strata test rules {pack}:\n{out}");
        if with_promtool {
            let (ok, out) = run("/usr/bin/promtool", &["check", "rules", &rules])?;
            assert!(ok, "promtool check rules {pack}:\n{out}");
            let (ok, out) = run("/usr/bin/promtool", &["test", "rules", &tests])?;
            assert!(ok, "promtool test rules {pack}:\n{out}");
        }
    }
    Ok(())
}

#[test]
fn every_alert_has_severity_summary_description_and_a_runbook_section() -> TestResult {
    for pack in PACKS {
        let text = std::fs::read_to_string(repo(&format!("rules/{pack}.yml")))?;
        let runbook = std::fs::read_to_string(repo(&format!("docs/runbooks/{pack}.md")))?;
        let anchors: Vec<String> = runbook
            .lines()
            .filter_map(|l| l.strip_prefix("## "))
            .map(|h| {
                h.trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ')
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect()
            })
            .collect();
        let file = strata_rules::parse(&text, pack).map_err(|e| format!("{e:?}"))?;
        let mut alerts = 0;
        for r in file.groups.iter().flat_map(|g| &g.rules) {
            let strata_rules::RuleKind::Alerting {
                alert, annotations, ..
            } = &r.kind
            else {
                continue;
            };
            alerts += 1;
            let sev = r
                .labels
                .get("severity")
                .map(String::as_str)
                .unwrap_or_default();
            assert!(
                ["critical", "warning", "info"].contains(&sev),
                "{pack}/{alert}: severity {sev:?}"
            );
            for key in ["summary", "description", "runbook_url"] {
                assert!(
                    annotations.get(key).is_some_and(|v| !v.trim().is_empty()),
                    "{pack}/{alert}: no {key}"
                );
            }
            let url = annotations
                .get("runbook_url")
                .map(String::as_str)
                .unwrap_or_default();
            let anchor = url.rsplit_once('#').map(|(_, a)| a).unwrap_or_default();
            assert!(
                url.contains(&format!("docs/runbooks/{pack}.md#"))
                    && anchors.iter().any(|a| a == anchor),
                "{pack}/{alert}: runbook_url {url} has no section in docs/runbooks/{pack}.md"
            );
        }
        assert!(alerts > 0, "{pack} has no alerts");
    }
    Ok(())
}

#[test]
fn rule_pack_flag_loads_packs_and_lists_them() -> TestResult {
    let (ok, out) = run(bin(), &["rules", "packs"])?;
    assert!(ok, "{out}");
    for pack in PACKS {
        assert!(out.contains(pack), "{out}");
    }
    let (ok, out) = run(bin(), &["rules", "show", "kafka"])?;
    let file = std::fs::read_to_string(repo("rules/kafka.yml"))?;
    assert!(
        ok && out == file,
        "strata rules show kafka differs from rules/kafka.yml"
    );

    let dir = tempfile::tempdir()?;
    let (ok, out) = run(
        bin(),
        &[
            "run",
            "--rule-pack",
            "kafak",
            "--data-dir",
            &dir.path().display().to_string(),
        ],
    )?;
    assert!(!ok && out.contains("unknown rule pack \"kafak\""), "{out}");
    let (ok, out) = run(
        bin(),
        &[
            "run",
            "--agent",
            "--rule-pack",
            "kafka",
            "--data-dir",
            &dir.path().display().to_string(),
        ],
    )?;
    assert!(!ok && out.contains("--agent"), "{out}");

    let s = Server::start(
        &dir.path().join("data"),
        &["--rule-pack", "kafka,kubernetes-triage"],
    );
    let (code, v) = s.get_json("/api/v1/rules", None);
    assert_eq!(code, 200, "{v}");
    let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
    let files: std::collections::BTreeSet<&str> =
        groups.iter().filter_map(|g| g["file"].as_str()).collect();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        ["rule-pack:kafka", "rule-pack:kubernetes-triage"]
    );
    let (_, only) = s.get_json("/api/v1/rules?file[]=rule-pack:kafka&type=record", None);
    let records: Vec<&str> = only["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        !records.is_empty() && records.iter().all(|r| r.contains("kafka")),
        "{records:?}"
    );
    Ok(())
}
