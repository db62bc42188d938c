//! `strata test rules` and the real `promtool test rules` agree on
//! promtool-format unit tests: the passing file passes under both, the
//! failing one fails under both.

mod support;

use std::process::Command;
use support::{TestResult, bin};

fn file(name: &str) -> String {
    format!(
        "{}/tests/rule_unittests/{name}",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into())
    )
}

#[test]
fn unit_tests_pass_and_fail_as_under_promtool() -> TestResult {
    let with_promtool = support::peer_installed("promtool")?;
    for (name, pass) in [("passing_test.yml", true), ("failing_test.yml", false)] {
        let out = Command::new(bin())
            .args(["test", "rules"])
            .arg(file(name))
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.success(),
            pass,
            "strata on {name}:\n{stdout}\n{stderr}"
        );
        assert!(stdout.starts_with("Unit Testing:  "), "{stdout}");
        if pass {
            assert!(stdout.contains("  SUCCESS"), "{stdout}");
        } else {
            assert!(
                stderr.contains("alertname: InstanceDown, time: 2m"),
                "{stderr}"
            );
        }
        if with_promtool {
            let p = Command::new("/usr/bin/promtool")
                .args(["test", "rules"])
                .arg(file(name))
                .output()?;
            assert_eq!(
                p.status.success(),
                pass,
                "promtool on {name}: {}",
                String::from_utf8_lossy(&p.stderr)
            );
        }
    }
    Ok(())
}
