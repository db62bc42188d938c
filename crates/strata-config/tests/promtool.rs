//! Differential test: Strata and the real `promtool check config` must
//! agree on accepting or refusing every file in `tests/testdata/`, except
//! the files listed in `testdata/known_differences.txt`, which must still
//! differ exactly as listed.

#![allow(clippy::unwrap_used)] // test helpers: a failure should stop the test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROMTOOL: &str = "/usr/bin/promtool";

fn testdata() -> PathBuf {
    Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/testdata")
}

fn verdict(ok: bool) -> &'static str {
    if ok { "accept" } else { "reject" }
}

fn promtool_verdict(file: &Path) -> &'static str {
    let out = Command::new(PROMTOOL)
        .arg("check")
        .arg("config")
        .arg(file)
        .current_dir(testdata())
        .output()
        .unwrap_or_else(|e| {
            panic!("{PROMTOOL} must be installed (apt-get install prometheus): {e}")
        });
    verdict(out.status.success())
}

fn known_differences() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(testdata().join("known_differences.txt")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (file, strata, promtool) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let reason: Vec<&str> = parts.collect();
        assert!(
            !reason.is_empty(),
            "{file}: a known difference needs a reason"
        );
        assert!(
            testdata().join(file).exists(),
            "{file} is listed but missing"
        );
        out.insert(file.to_string(), (strata.to_string(), promtool.to_string()));
    }
    out
}

#[test]
fn strata_and_promtool_agree() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is required for this test"
    );
    let known = known_differences();
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(
        files.len() > 50,
        "expected the whole test corpus, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let strata = strata_config::Config::load(path);
        let s = verdict(strata.is_ok());
        let p = promtool_verdict(path);
        // The file name says what Prometheus 3 does.
        let expected = if name.ends_with(".good.yml") {
            "accept"
        } else {
            "reject"
        };
        match known.get(&name) {
            Some((ks, kp)) => {
                if s != ks || p != kp {
                    failures.push(format!(
                        "{name}: listed as strata={ks} promtool={kp}, got strata={s} promtool={p}"
                    ));
                }
            }
            None => {
                if s != p {
                    failures.push(format!("{name}: strata={s} promtool={p} ({strata:?})"));
                }
                if s != expected {
                    failures.push(format!(
                        "{name}: strata={s}, the file is named {expected} ({strata:?})"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}
