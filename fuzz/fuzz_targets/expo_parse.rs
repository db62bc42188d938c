#![no_main]
//! Any bytes, in every exposition format, parse to an end or an error:
//! never a panic; every series' label sets agree between the two builders
//! and are sorted with unique names.
use libfuzzer_sys::fuzz_target;
use strata_scrape::expo::{Entry, Format, LabelPairs, Parser};

fuzz_target!(|data: &[u8]| {
    let mut pairs = LabelPairs::new();
    for format in Format::ALL {
        for skip_created in [false, true] {
            let mut p = Parser::new(format, data).skip_created_series(skip_created);
            let mut entries = 0usize;
            loop {
                match p.next() {
                    Ok(Some(Entry::Series(s))) => {
                        let labels = s.to_labels();
                        s.write_pairs(&mut pairs);
                        assert_eq!(pairs.to_labels(), labels);
                        assert_eq!(pairs.hash64(), labels.hash64());
                        let l = labels.as_slice();
                        assert!(l.windows(2).all(|w| w[0].name < w[1].name));
                        assert!(labels.metric_name().is_some_and(|n| !n.is_empty()));
                        assert!(data.len() >= s.series_bytes().len());
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
                entries += 1;
                assert!(entries <= data.len() + 1);
            }
            assert!(matches!(p.next(), Ok(None)));
        }
    }
});
