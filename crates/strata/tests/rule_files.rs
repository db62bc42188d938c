//! Rule files through the binary: `strata check rules` as promtool, and
//! `rule_files` validated at start (exit 2) and on reload (the old
//! configuration stays).

mod support;

use std::process::Command;
use support::{Server, TestResult, bin};

fn testdata(name: &str) -> String {
    format!(
        "{}/../strata-rules/tests/testdata/{name}",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into())
    )
}

#[test]
fn check_rules_reports_like_promtool() -> TestResult {
    let out = Command::new(bin())
        .args(["check", "rules"])
        .arg(testdata("good.yml"))
        .arg(testdata("strata_only_manifest.yml"))
        .output()?;
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("  SUCCESS: 2 rules found"), "{stdout}");
    assert!(stdout.contains("  SUCCESS: 1 rules found"), "{stdout}");

    let out = Command::new(bin())
        .args(["check", "rules"])
        .arg(testdata("bad_expr.yml"))
        .arg(testdata("good.yml"))
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "bad_expr.yml: 5:15: group \"g\", rule 1, \"job:up:sum\": could not parse expression"
        ),
        "{stderr}"
    );

    // Duplicates are a lint: reported, exit 0 (promtool without --lint-fatal).
    let out = Command::new(bin())
        .args(["check", "rules"])
        .arg(testdata("duplicate_rules.yml"))
        .output()?;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lint error 1 duplicate rule(s) found."));
    Ok(())
}

#[test]
fn bad_rule_files_stop_the_start_and_fail_a_reload() -> TestResult {
    let dir = tempfile::tempdir()?;
    let rules = dir.path().join("rules.yml");
    std::fs::copy(testdata("good.yml"), &rules)?;
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "rule_files: ['rules.yml']\n")?;

    let out = Command::new(bin())
        .args(["check", "config"])
        .arg(&cfg)
        .output()?;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("  SUCCESS: 2 rules found"));

    let s = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap_or_default(),
            "--web.enable-lifecycle",
        ],
    );
    // A reload with a broken rule file fails and keeps the running config.
    std::fs::copy(testdata("bad_expr.yml"), &rules)?;
    let r = s.client.post(s.url("/-/reload")).send()?;
    assert_eq!(r.status().as_u16(), 500);
    let body = r.text()?;
    assert!(body.contains("could not parse expression"), "{body}");
    let metrics = s.client.get(s.url("/metrics")).send()?.text()?;
    assert!(
        metrics.contains("strata_config_last_reload_successful 0"),
        "{metrics}"
    );
    assert_eq!(s.stop(), Some(0));

    // At start it is an invalid configuration: exit 2, naming the rule.
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "rules.yml:5:15: group \"g\", rule 1, \"job:up:sum\": could not parse expression"
        ),
        "{stderr}"
    );
    Ok(())
}
