#![no_main]
//! Any text given to `strata_rules::parse` returns validated groups or a
//! list of errors, never a panic; every error renders, and an accepted
//! file's rules all have an expression the engine parses.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match strata_rules::parse(text, "fuzz.yml") {
        Ok(file) => {
            for g in &file.groups {
                for r in &g.rules {
                    assert!(strata_promql::check_expr(&r.expr).is_ok(), "{}", r.expr);
                }
            }
            let _ = strata_rules::duplicate_rules(&file);
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(!e.to_string().is_empty());
            }
        }
    }
});
