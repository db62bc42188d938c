//! The parsers against hand-written documents, valid and invalid, for each
//! rule of docs/exposition.md.

use strata_model::format::format_go_g;
use strata_scrape::expo::{Entry, Format, LabelPairs, MetricType, NORMAL_NAN_BITS, Parser};

const TEXT: Format = Format::PrometheusText0_0_4;
const OM: Format = Format::OpenMetrics1_0_0;

/// Renders every entry as one line; checks on the way that the three ways
/// of getting a label set agree.
fn render(format: Format, doc: &str) -> Result<Vec<String>, String> {
    render_bytes(format, doc.as_bytes())
}

fn render_bytes(format: Format, doc: &[u8]) -> Result<Vec<String>, String> {
    let mut p = Parser::new(format, doc);
    let mut out = Vec::new();
    let mut pairs = LabelPairs::new();
    loop {
        match p.next() {
            Ok(None) => return Ok(out),
            Err(e) => return Err(e.to_string()),
            Ok(Some(e)) => out.push(match e {
                Entry::Series(s) => {
                    let labels = s.to_labels();
                    s.write_pairs(&mut pairs);
                    assert_eq!(pairs.to_labels(), labels);
                    assert_eq!(pairs.hash64(), labels.hash64());
                    assert_eq!(pairs.iter().count(), labels.len());
                    assert_eq!(labels.metric_name(), Some(&*s.name()));
                    let v = if s.value.is_nan() {
                        assert_eq!(s.value.to_bits(), NORMAL_NAN_BITS);
                        "NaN".to_string()
                    } else {
                        format_go_g(s.value)
                    };
                    match s.timestamp_ms {
                        Some(t) => format!("{labels} {v} @{t}"),
                        None => format!("{labels} {v}"),
                    }
                }
                Entry::Type { metric, kind } => format!("TYPE {metric} {kind}"),
                Entry::Help { metric, text } => format!("HELP {metric} {text:?}"),
                Entry::Unit { metric, unit } => format!("UNIT {metric} {unit}"),
                Entry::Comment(c) => format!("COMMENT {}", String::from_utf8_lossy(c)),
            }),
        }
    }
}

fn ok(format: Format, doc: &str) -> Vec<String> {
    match render(format, doc) {
        Ok(v) => v,
        Err(e) => panic!("{doc:?} refused: {e}"),
    }
}

fn err(format: Format, doc: &str) -> String {
    match render(format, doc) {
        Ok(v) => panic!("{doc:?} accepted: {v:?}"),
        Err(e) => e,
    }
}

fn err_bytes(format: Format, doc: &[u8]) -> String {
    match render_bytes(format, doc) {
        Ok(v) => panic!("{doc:?} accepted: {v:?}"),
        Err(e) => e,
    }
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn text_basic_document() {
    let doc = "# HELP http_requests_total The total number of HTTP requests.\n\
               # TYPE http_requests_total counter\n\
               http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
               http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
               \n\
               # A normal comment\n\
               metric_without_timestamp_and_labels 12.47\n\
               msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n";
    assert_eq!(
        ok(TEXT, doc),
        lines(&[
            "HELP http_requests_total \"The total number of HTTP requests.\"",
            "TYPE http_requests_total counter",
            "{__name__=\"http_requests_total\", code=\"200\", method=\"post\"} 1027 @1395066363000",
            "{__name__=\"http_requests_total\", code=\"400\", method=\"post\"} 3 @1395066363000",
            "COMMENT # A normal comment",
            "{__name__=\"metric_without_timestamp_and_labels\"} 12.47",
            "{__name__=\"msdos_file_access_time_seconds\", error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\", path=\"C:\\\\DIR\\\\FILE.TXT\"} 1.458255915e+09",
        ])
    );
}

#[test]
fn text_timestamps_are_unsigned_integer_milliseconds() {
    assert_eq!(ok(TEXT, "a 1 0\n"), lines(&["{__name__=\"a\"} 1 @0"]));
    assert_eq!(
        ok(TEXT, "a 1 9223372036854775807"),
        lines(&["{__name__=\"a\"} 1 @9223372036854775807"])
    );
    assert!(err(TEXT, "a 1 -5\n").contains("expected timestamp or new record"));
    assert!(err(TEXT, "a 1 1.5\n").contains("expected next entry after timestamp"));
    assert!(err(TEXT, "a 1 9223372036854775808\n").contains("value out of range"));
    assert!(err(TEXT, "a 1 2 3\n").contains("expected next entry after timestamp"));
}

#[test]
fn text_whitespace_blank_lines_and_line_ends() {
    assert_eq!(
        ok(TEXT, "\n \t\na  \t 1 \t 2 \t\n\n"),
        lines(&["{__name__=\"a\"} 1 @2"])
    );
    // Blanks before a metric name are part of it in Prometheus 3.
    assert_eq!(
        ok(TEXT, "\n \t\n \ta 1\n  {\"b\"} 2\n"),
        lines(&["{__name__=\" \\ta\"} 1", "{__name__=\"b\"} 2"])
    );
    // No final newline needed.
    assert_eq!(ok(TEXT, "a 1"), lines(&["{__name__=\"a\"} 1"]));
    assert_eq!(ok(TEXT, ""), Vec::<String>::new());
    // Blanks around every token inside braces; commas optional, trailing allowed.
    assert_eq!(
        ok(TEXT, "a { x = \"1\" y=\"2\" , z=\"3\", } 1\n"),
        lines(&["{__name__=\"a\", x=\"1\", y=\"2\", z=\"3\"} 1"])
    );
    assert_eq!(ok(TEXT, "a {} 1\n"), lines(&["{__name__=\"a\"} 1"]));
    // The value may follow the closing brace directly.
    assert_eq!(
        ok(TEXT, "a{b=\"c\"}1\n"),
        lines(&["{__name__=\"a\", b=\"c\"} 1"])
    );
    // A value token is anything up to a blank or brace: `a-1 2` is a=-1 @2.
    assert_eq!(ok(TEXT, "a-1 2\n"), lines(&["{__name__=\"a\"} -1 @2"]));
    // CRLF: the carriage return is part of the value (or type) and fails.
    assert!(err(TEXT, "a 1\r\n").contains("invalid syntax"));
    assert!(err(TEXT, "a 1 2\r\n").contains("expected next entry after timestamp"));
    assert!(err(TEXT, "# TYPE a gauge\r\na 1\n").contains("invalid metric type"));
    // A NUL where a line may start ends the document, as in Prometheus.
    assert_eq!(ok(TEXT, "a 1\n\0garbage{"), lines(&["{__name__=\"a\"} 1"]));
    // So does one right after `#` (with or without blanks); later in a
    // comment it is skipped.
    assert_eq!(ok(TEXT, "a 1\n# \0\nb 1\n"), lines(&["{__name__=\"a\"} 1"]));
    assert_eq!(ok(TEXT, "a 1\n#\0\nb 1\n"), lines(&["{__name__=\"a\"} 1"]));
    assert_eq!(ok(TEXT, "a 1\n# x\0\nb 1\n").len(), 3);
    // Inside the comment state NULs are skipped, even within HELP or TYPE.
    assert_eq!(
        ok(TEXT, "# H\0EL\0P\0 \0m x\n# TYP\0E\0\tm gauge\n"),
        lines(&["HELP m \"x\"", "TYPE m gauge"])
    );
    assert!(err(TEXT, "# HE\0LP 1x y\n").contains("expected metric name after HELP"));
    assert!(err(TEXT, "a 1\0\n").contains("expected timestamp or new record"));
}

#[test]
fn text_comments_help_and_type() {
    assert_eq!(
        ok(
            TEXT,
            "#\n#no space\n# HELP\n# HELPER x\n#\tHELP m  two  spaces \n# HELP m\n# HELP m \\\\ \\n \\\" \\t\n# TYPE m untyped\n# TYPE m summary\n"
        ),
        lines(&[
            "COMMENT #",
            "COMMENT #no space",
            "COMMENT # HELP",
            "COMMENT # HELPER x",
            "HELP m \" two  spaces \"",
            "HELP m \"\"",
            "HELP m \"\\\\ \\n \\\\\\\" \\\\t\"",
            "TYPE m unknown",
            "TYPE m summary",
        ])
    );
    assert_eq!(
        ok(
            TEXT,
            "# HELP \"my.metric\" has \"quotes\"\n# TYPE \"my.metric\" gauge\n"
        ),
        lines(&[
            "HELP my.metric \"has \\\"quotes\\\"\"",
            "TYPE my.metric gauge"
        ])
    );
    assert!(
        err(TEXT, "# TYPE m gaugehistogram\n").contains("invalid metric type \"gaugehistogram\"")
    );
    assert!(err(TEXT, "# TYPE m counter \n").contains("invalid metric type \"counter \""));
    assert!(err(TEXT, "# TYPE m\n").contains("invalid metric type \"\""));
    assert!(err(TEXT, "# TYPE 1m counter\n").contains("expected metric name after TYPE"));
    assert!(err(TEXT, "# HELP #\n").contains("expected metric name after HELP"));
    assert!(err_bytes(TEXT, b"# HELP m \xff\n").contains("not a valid utf8 string"));
    // NUL: kept in HELP text, an error right after the name.
    assert_eq!(
        render_bytes(TEXT, b"# HELP m a\0b\n").map(|v| v.len()),
        Ok(1)
    );
    assert!(err_bytes(TEXT, b"# HELP m\0 x\n").contains("linebreak expected after metadata"));
    // Invalid UTF-8 is fine in comments; values after it are still checked.
    assert_eq!(render_bytes(TEXT, b"# \xff\na 1\n").map(|v| v.len()), Ok(2));
    assert_eq!(
        render_bytes(TEXT, b"# \xff\na{b=\"\xc3\xbc\"} 1\n").map(|v| v[1].clone()),
        Ok("{__name__=\"a\", b=\"\u{fc}\"} 1".to_string())
    );
    assert!(
        err_bytes(TEXT, b"# \xff\na{b=\"\xc3\xbc\"} 1\nc{d=\"\xff\"} 1\n")
            .starts_with("line 3: invalid UTF-8 label value")
    );
}

#[test]
fn text_label_values_and_escapes() {
    assert_eq!(
        ok(TEXT, "a{b=\"x\\\\y\\\"z\\nw\\t\"} 1\n"),
        lines(&["{__name__=\"a\", b=\"x\\\\y\\\"z\\nw\\\\t\"} 1"])
    );
    // A raw newline inside a value is accepted by the text format.
    assert_eq!(
        ok(TEXT, "a{b=\"x\ny\"} 1\n"),
        lines(&["{__name__=\"a\", b=\"x\\ny\"} 1"])
    );
    // Empty values mean "absent".
    assert_eq!(
        ok(TEXT, "a{b=\"\",c=\"d\"} 1\n"),
        lines(&["{__name__=\"a\", c=\"d\"} 1"])
    );
    assert_eq!(
        ok(TEXT, "a{b=\"ü→✓\"} 1\n"),
        lines(&["{__name__=\"a\", b=\"ü→✓\"} 1"])
    );
    assert!(err(TEXT, "a{b='c'} 1\n").contains("expected label value"));
    assert!(err(TEXT, "a{b=c} 1\n").contains("expected label value"));
    assert!(err(TEXT, "a{b=\"c} 1\n").contains("expected label value"));
    assert!(err(TEXT, "a{b=\"c\\\n\"} 1\n").contains("expected label value"));
    assert!(err(TEXT, "a{b} 1\n").contains("expected equal"));
    assert!(err(TEXT, "a{,b=\"c\"} 1\n").contains("expected label name"));
    assert!(err(TEXT, "a{b=\"c\",,d=\"e\"} 1\n").contains("expected label name"));
    assert!(err(TEXT, "a{b=\"c\"\n").contains("expected label name"));
    assert!(err(TEXT, "a{1b=\"c\"} 1\n").contains("expected label name"));
    assert!(err(TEXT, "a{b:c=\"d\"} 1\n").contains("expected equal"));
    assert!(err_bytes(TEXT, b"a{b=\"\xff\"} 1\n").contains("invalid UTF-8 label value"));
    assert!(err_bytes(TEXT, b"a{\xff=\"x\"} 1\n").contains("expected label name"));
    // NULs right after a value's closing quote end up in the value, quote
    // included, as Prometheus' lexer and its strip-the-last-byte give them.
    assert_eq!(
        render_bytes(TEXT, b"a{b=\"x\"\0} 1\n"),
        Ok(lines(&["{__name__=\"a\", b=\"x\\\"\"} 1"]))
    );
    assert_eq!(
        render_bytes(OM, b"a{b=\"x\"\0\0} 1\n# EOF\n"),
        Ok(lines(&["{__name__=\"a\", b=\"x\\\"\\x00\"} 1"]))
    );
    assert_eq!(
        render_bytes(TEXT, b"a{b=\"x\\\0\"y\"} 1\n").map(|v| v.len()),
        Ok(1)
    );
    // NUL is allowed inside label values (the lexer skips it), not in names.
    assert_eq!(
        render_bytes(TEXT, b"a{b=\"x\0y\"} 1\n").map(|v| v.len()),
        Ok(1)
    );
    assert!(render_bytes(TEXT, b"a{b\0=\"x\"} 1\n").is_err());
}

#[test]
fn duplicate_label_names_are_refused() {
    for f in [TEXT, OM] {
        let eof = if f == OM { "# EOF\n" } else { "" };
        assert!(
            err(f, &format!("a{{b=\"1\",b=\"2\"}} 1\n{eof}"))
                .contains("label name \"b\" is not unique")
        );
        assert!(err(f, &format!("a{{c=\"1\",b=\"1\",c=\"2\"}} 1\n{eof}")).contains("not unique"));
        assert!(
            err(f, &format!("a{{__name__=\"b\"}} 1\n{eof}")).contains("\"__name__\" is not unique")
        );
        assert!(err(f, &format!("a{{\"b\"=\"1\",b=\"2\"}} 1\n{eof}")).contains("not unique"));
        assert!(
            err(f, &format!("a{{\"\\\\\"=\"1\",\"\\\\\"=\"2\"}} 1\n{eof}")).contains("not unique")
        );
        // An empty value deletes every label of that name first, as
        // Prometheus' label builder does.
        assert_eq!(
            render(f, &format!("a{{b=\"\",b=\"x\",c=\"y\"}} 1\n{eof}")),
            Ok(lines(&["{__name__=\"a\", c=\"y\"} 1"]))
        );
        assert_eq!(
            render(f, &format!("a{{b=\"x\",b=\"\"}} 1\n{eof}")),
            Ok(lines(&["{__name__=\"a\"} 1"]))
        );
        assert!(err(f, &format!("a{{__name__=\"\"}} 1\n{eof}")).contains("missing metric name"));
        // Unsorted but unique is fine.
        assert_eq!(
            render(f, &format!("a{{c=\"1\",b=\"1\"}} 1\n{eof}")).map(|v| v.len()),
            Ok(1)
        );
    }
}

#[test]
fn utf8_names_quoted_inside_braces() {
    assert_eq!(
        ok(
            TEXT,
            "{\"my.metric\", \"other.label\"=\"v\", plain=\"w\"} 1\n"
        ),
        lines(&["{__name__=\"my.metric\", other.label=\"v\", plain=\"w\"} 1"])
    );
    assert_eq!(
        ok(TEXT, "{\"only.name\"} 2\n"),
        lines(&["{__name__=\"only.name\"} 2"])
    );
    assert_eq!(
        ok(TEXT, "{a=\"b\", \"n\\\"q\"} 2\n"),
        lines(&["{__name__=\"n\\\"q\", a=\"b\"} 2"])
    );
    assert_eq!(
        ok(OM, "{\"my.metric\",\"x.y\"=\"v\"} 1\n# EOF\n"),
        lines(&["{__name__=\"my.metric\", x.y=\"v\"} 1"])
    );
    assert!(err(TEXT, "a{\"b\"} 1\n").contains("metric name already set"));
    assert!(err(TEXT, "{\"a\",\"b\"} 1\n").contains("metric name already set"));
    assert!(err(TEXT, "{a=\"ok\"} 1\n").contains("metric name not set"));
    assert!(err(TEXT, "{} 1\n").contains("metric name not set"));
    assert!(err(TEXT, "{\"\"} 1\n").contains("invalid metric name"));
    assert!(err(TEXT, "a{\"\"=\"x\"} 1\n").contains("invalid label name"));
    assert!(err_bytes(TEXT, b"{\"\xff\"} 1\n").contains("invalid metric name"));
    assert!(err(TEXT, "a.b 1\n").contains("invalid syntax"));
}

#[test]
fn values_as_go_parses_them() {
    let v = |s: &str| ok(TEXT, &format!("a {s}\n"));
    assert_eq!(v("NaN"), lines(&["{__name__=\"a\"} NaN"]));
    assert_eq!(v("nan"), lines(&["{__name__=\"a\"} NaN"]));
    assert_eq!(v("+Inf"), lines(&["{__name__=\"a\"} +Inf"]));
    assert_eq!(v("-Inf"), lines(&["{__name__=\"a\"} -Inf"]));
    assert_eq!(v("Inf"), lines(&["{__name__=\"a\"} +Inf"]));
    assert_eq!(v("infinity"), lines(&["{__name__=\"a\"} +Inf"]));
    assert_eq!(v("+1.5e3"), lines(&["{__name__=\"a\"} 1500"]));
    assert_eq!(v(".5"), lines(&["{__name__=\"a\"} 0.5"]));
    assert_eq!(v("-0"), lines(&["{__name__=\"a\"} -0"]));
    for bad in [
        "+NaN", "0x10", "0x1p3", "1_000", "1e", "true", "1e400", "--1", "1.2.3",
    ] {
        let e = err(TEXT, &format!("a {bad}\n"));
        assert!(e.contains("while parsing: \"a "), "{bad}: {e}");
    }
    assert!(
        err(TEXT, "a 1e400\n")
            .contains("strconv.ParseFloat: parsing \"1e400\": value out of range")
    );
    assert!(err(TEXT, "a 1_2\n").contains("unsupported character in float"));
    assert!(err(TEXT, "a\n").contains("expected value after metric"));
    assert!(err(TEXT, "a{b=\"c\"} {\n").contains("expected value after metric"));
}

#[test]
fn error_messages_follow_prometheus_and_carry_the_line() {
    assert_eq!(
        err(TEXT, "ok 1\n\na{b x\n"),
        "line 3: expected equal, got \"x\" (\"LNAME\") while parsing: \"a{b x\""
    );
    assert_eq!(
        err(TEXT, "a true\n"),
        "line 1: strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"a true\""
    );
    assert_eq!(
        err(TEXT, "9 1\n"),
        "line 1: expected a valid start token, got \"9\" (\"TIMESTAMP\") while parsing: \"9\""
    );
    assert_eq!(err(OM, "a 1\n"), "line 2: data does not end with # EOF");
    // The parser stops after an error.
    let mut p = Parser::new(TEXT, b"a x\nb 1\n");
    assert!(p.next().is_err());
    assert!(matches!(p.next(), Ok(None)));
}

#[test]
fn classic_histogram_and_summary_labels_are_normalised() {
    let doc = "# TYPE h histogram\n\
               h_bucket{le=\"1\"} 1\nh_bucket{le=\"0.50\"} 1\nh_bucket{le=\"1e3\"} 1\n\
               h_bucket{le=\"+Inf\"} 2\nh_bucket{le=\"inf\"} 2\nh_bucket{le=\"x\"} 2\nh_count{quantile=\"1\"} 2\n\
               # TYPE s summary\ns{quantile=\"0\"} 1\ns{quantile=\"1e-7\"} 1\ns{le=\"1\"} 1\n\
               # HELP other help does not change the type\nother{quantile=\"1\"} 1\n\
               # TYPE g gauge\ng{le=\"1\"} 1\n";
    assert_eq!(
        ok(TEXT, doc)
            .into_iter()
            .filter(|l| l.starts_with('{'))
            .collect::<Vec<_>>(),
        lines(&[
            "{__name__=\"h_bucket\", le=\"1.0\"} 1",
            "{__name__=\"h_bucket\", le=\"0.5\"} 1",
            "{__name__=\"h_bucket\", le=\"1000.0\"} 1",
            "{__name__=\"h_bucket\", le=\"+Inf\"} 2",
            "{__name__=\"h_bucket\", le=\"+Inf\"} 2",
            "{__name__=\"h_bucket\", le=\"x\"} 2",
            "{__name__=\"h_count\", quantile=\"1\"} 2",
            "{__name__=\"s\", quantile=\"0.0\"} 1",
            "{__name__=\"s\", quantile=\"1e-07\"} 1",
            "{__name__=\"s\", le=\"1\"} 1",
            "{__name__=\"other\", quantile=\"1.0\"} 1",
            "{__name__=\"g\", le=\"1\"} 1",
        ])
    );
}

#[test]
fn openmetrics_document() {
    let doc = "# TYPE a counter\n# HELP a help \\\"q\\\" \\\\ \\n\n# UNIT a_seconds seconds\n\
               a_total{x=\"1\"} 1 1.5\n\
               a_total{x=\"2\"} 2 # {trace_id=\"abc\"} 0.5 1.25\n\
               a_total{x=\"3\"} 3 100 # {} 1\n\
               a_created{x=\"1\"} 1.6e9\n\
               # TYPE i info\ni_info{v=\"1\"} 1\n\
               # TYPE ss stateset\nss{ss=\"a\"} 1\n\
               # TYPE gh gaugehistogram\ngh_bucket{le=\"1\"} 1\ngh_gcount 1\ngh_gsum 1\n\
               # TYPE u unknown\nu NaN -0.0015\n\
               # EOF\n";
    assert_eq!(
        ok(OM, doc),
        lines(&[
            "TYPE a counter",
            "HELP a \"help \\\"q\\\" \\\\ \\n\"",
            "UNIT a_seconds seconds",
            "{__name__=\"a_total\", x=\"1\"} 1 @1500",
            "{__name__=\"a_total\", x=\"2\"} 2",
            "{__name__=\"a_total\", x=\"3\"} 3 @100000",
            "{__name__=\"a_created\", x=\"1\"} 1.6e+09",
            "TYPE i info",
            "{__name__=\"i_info\", v=\"1\"} 1",
            "TYPE ss stateset",
            "{__name__=\"ss\", ss=\"a\"} 1",
            "TYPE gh gaugehistogram",
            "{__name__=\"gh_bucket\", le=\"1\"} 1",
            "{__name__=\"gh_gcount\"} 1",
            "{__name__=\"gh_gsum\"} 1",
            "TYPE u unknown",
            "{__name__=\"u\"} NaN @-1",
        ])
    );
    // `# EOF` without a final newline is fine; OM 0.0.1 is the same parser.
    assert_eq!(
        ok(Format::OpenMetrics0_0_1, "a 1\n# EOF"),
        lines(&["{__name__=\"a\"} 1"])
    );
    assert_eq!(ok(OM, "# EOF"), Vec::<String>::new());
}

#[test]
fn openmetrics_created_series_are_kept_unless_asked() {
    let doc = b"# TYPE c counter\nc_total 1\nc_created 1e9\n# TYPE g gauge\ng_created 1\n# EOF\n";
    let names = |skip: bool| {
        let mut p = Parser::new(OM, doc).skip_created_series(skip);
        let mut v = Vec::new();
        while let Ok(Some(e)) = p.next() {
            if let Entry::Series(s) = e {
                v.push(s.name().into_owned());
            }
        }
        v
    };
    assert_eq!(names(false), ["c_total", "c_created", "g_created"]);
    assert_eq!(names(true), ["c_total", "g_created"]);
}

#[test]
fn openmetrics_timestamps_are_seconds() {
    let ts = |t: &str| ok(OM, &format!("a 1 {t}\n# EOF\n"));
    assert_eq!(ts("1"), lines(&["{__name__=\"a\"} 1 @1000"]));
    assert_eq!(ts("1.0005"), lines(&["{__name__=\"a\"} 1 @1000"]));
    assert_eq!(ts("-1.5"), lines(&["{__name__=\"a\"} 1 @-1500"]));
    assert_eq!(ts("1e3"), lines(&["{__name__=\"a\"} 1 @1000000"]));
    assert_eq!(
        ts("1e300"),
        lines(&[&format!("{{__name__=\"a\"}} 1 @{}", i64::MIN)])
    );
    assert!(err(OM, "a 1 NaN\n# EOF\n").contains("invalid timestamp NaN"));
    assert!(err(OM, "a 1 Inf\n# EOF\n").contains("invalid timestamp +Inf"));
    assert!(err(OM, "a 1 1_2\n# EOF\n").contains("unsupported character"));
}

#[test]
fn openmetrics_is_strict() {
    for (doc, msg) in [
        ("", "data does not end with # EOF"),
        ("a 1\n", "data does not end with # EOF"),
        ("a 1", "data does not end with # EOF"),
        ("\n# EOF\n", "expected a valid start token"),
        ("a 1\n\n# EOF\n", "expected a valid start token"),
        (" a 1\n# EOF\n", "expected a valid start token"),
        ("# a comment\n# EOF\n", "expected a valid start token"),
        ("#\tTYPE a counter\n# EOF\n", "expected a valid start token"),
        ("#  TYPE a counter\n# EOF\n", "expected a valid start token"),
        ("# EOF\n\n", "unexpected data after # EOF"),
        ("# EOF\na 1\n", "unexpected data after # EOF"),
        ("# EOF \n", "unexpected data after # EOF"),
        (
            "# TYPE a untyped\n# EOF\n",
            "invalid metric type \"untyped\"",
        ),
        (
            "# TYPE a  counter\n# EOF\n",
            "invalid metric type \" counter\"",
        ),
        ("# TYPE a\n# EOF\n", "expected text in TYPE"),
        ("# HELP a\n# EOF\n", "expected text in HELP"),
        (
            "# UNIT a_b c\n# EOF\n",
            "unit \"c\" not a suffix of metric \"a_b\"",
        ),
        ("# UNIT ab b\n# EOF\n", "not a suffix"),
        ("# UNIT b b\n# EOF\n", "not a suffix"),
        ("a  1\n# EOF\n", "expected value after metric"),
        ("a\t1\n# EOF\n", "expected value after metric"),
        ("a{b=\"c\"}1\n# EOF\n", "expected value after metric"),
        ("a {b=\"c\"} 1\n# EOF\n", "invalid syntax"),
        ("a{b=\"c\", d=\"e\"} 1\n# EOF\n", "expected label name"),
        ("a{b = \"c\"} 1\n# EOF\n", "expected equal"),
        (
            "a{b=\"c\"d=\"e\"} 1\n# EOF\n",
            "expected comma or brace close",
        ),
        ("a{b=\"c\nd\"} 1\n# EOF\n", "expected label value"),
        ("a 1 \n# EOF\n", "expected timestamp or exemplar"),
        ("a 1 2 \n# EOF\n", "expected next entry after timestamp"),
        ("a 1 2 3\n# EOF\n", "expected next entry after timestamp"),
        ("a 1\r\n# EOF\n", "invalid syntax"),
        (
            "a 1 # {b=\"c\"}\n# EOF\n",
            "expected value after exemplar labels",
        ),
        (
            "a 1 # {b=\"c\"} 1 NaN\n# EOF\n",
            "invalid exemplar timestamp NaN",
        ),
        (
            "a 1 # {b=\"c\"} 1 2 3\n# EOF\n",
            "expected next entry after exemplar timestamp",
        ),
        (
            "a 1 # {b=\"c\"} 1 \n# EOF\n",
            "expected timestamp or comment",
        ),
        ("a 1 # {\"q\"} 1\n# EOF\n", "expected label name"),
        ("a 1 # {b=c} 1\n# EOF\n", "expected label value"),
        ("a 1 # {b} 1\n# EOF\n", "expected equal"),
        ("a 1 # {b=\"c\"} x\n# EOF\n", "invalid syntax"),
        ("a 1 #{b=\"c\"} 1\n# EOF\n", "invalid syntax"),
    ] {
        let e = err(OM, doc);
        assert!(e.contains(msg), "{doc:?}: {e}");
    }
    // An empty unit and a quoted metric name are fine.
    assert_eq!(
        ok(OM, "# UNIT a \n# HELP \"a.b\" x\n# EOF\n"),
        lines(&["UNIT a ", "HELP a.b \"x\""])
    );
    assert!(err_bytes(OM, b"a{b=\"\xff\"} 1\n# EOF\n").contains("invalid UTF-8 label value"));
    assert!(err_bytes(OM, b"a 1 # {b=\"\0\"} 1\n# EOF\n").contains("expected label value"));
    assert_eq!(
        render_bytes(OM, b"a{b=\"\0\"} 1\n# EOF").map(|v| v.len()),
        Ok(1)
    );
    // NULs around the final newline of `# EOF` are skipped, as the lexer
    // reads them in its comment state; anything else after is an error.
    assert_eq!(
        render_bytes(OM, b"a 1\n# EOF\0\n\0\0"),
        Ok(lines(&["{__name__=\"a\"} 1"]))
    );
    assert!(err_bytes(OM, b"a 1\n# EOF\n\0x").contains("unexpected data after # EOF"));
    assert_eq!(
        render_bytes(OM, b"# U\0NIT\0 \0a_b b\n# T\0YPE a gauge\n# E\0OF"),
        Ok(lines(&["UNIT a_b b", "TYPE a gauge"]))
    );
    assert!(err_bytes(OM, b"# \0EOF").contains("expected a valid start token"));
    // NULs after a metadata line's newline join its text, newline included.
    assert_eq!(
        render_bytes(OM, b"# HELP a x\n\0a 1\n# EOF\n"),
        Ok(lines(&["HELP a \"x\\n\"", "{__name__=\"a\"} 1"]))
    );
    assert!(err_bytes(OM, b"# TYPE a gauge\n\0a 1\n# EOF\n").contains("invalid metric type"));
}

#[test]
fn series_bytes_identify_the_series_as_written() {
    let body = b"a{b=\"c\"} 1 2\nx 3\n";
    let mut p = Parser::new(TEXT, body);
    let Ok(Some(Entry::Series(s))) = p.next() else {
        panic!("no series")
    };
    assert_eq!(s.series_bytes(), b"a{b=\"c\"}");
    assert_eq!(s.metric_type(), MetricType::Unknown);
    let h = s.series_hash();
    let Ok(Some(Entry::Series(s))) = p.next() else {
        panic!("no series")
    };
    assert_eq!(s.series_bytes(), b"x");
    assert_ne!(s.series_hash(), h);
    let mut q = Parser::new(TEXT, b"a{b=\"c\"} 5\n");
    let Ok(Some(Entry::Series(s))) = q.next() else {
        panic!("no series")
    };
    assert_eq!(s.series_hash(), h);
    // Borrowed where nothing was unescaped.
    assert!(matches!(s.name(), std::borrow::Cow::Borrowed(_)));
    assert!(s.labels().all(|(n, v)| matches!(
        (n, v),
        (std::borrow::Cow::Borrowed(_), std::borrow::Cow::Borrowed(_))
    )));
}
