//! Content negotiation: the `Accept` header a scrape sends and the parser a
//! response's `Content-Type` selects, as Prometheus 3 does it
//! (`scrape/scrape.go` `acceptHeader`, `config/config.go`
//! `ScrapeProtocolsHeaders`, `model/textparse/interface.go`
//! `extractMediaType`).

use std::fmt;

use super::ExpoError;

pub use strata_config::{EscapingScheme, ScrapeProtocol};

/// What a scrape protocol means on the wire (the protocol itself, its
/// names and defaults are prometheus.yml's: `strata_config`).
pub trait ProtocolMedia {
    /// The media range this protocol asks for in `Accept`.
    fn header_value(self) -> &'static str;
    /// The bare media type (`HeaderMediaType` in Prometheus).
    fn media_type(self) -> &'static str;
    /// The format this protocol's responses are parsed as; `None` for
    /// protobuf, which Strata does not parse.
    fn format(self) -> Option<Format>;
}

impl ProtocolMedia for ScrapeProtocol {
    fn header_value(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "application/openmetrics-text;version=1.0.0",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "application/vnd.google.protobuf",
            ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => {
                "text/plain"
            }
            ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0 => {
                "application/openmetrics-text"
            }
        }
    }

    fn format(self) -> Option<Format> {
        match self {
            ScrapeProtocol::PrometheusProto => None,
            ScrapeProtocol::PrometheusText0_0_4 => Some(Format::PrometheusText0_0_4),
            ScrapeProtocol::PrometheusText1_0_0 => Some(Format::PrometheusText1_0_0),
            ScrapeProtocol::OpenMetricsText0_0_1 => Some(Format::OpenMetrics0_0_1),
            ScrapeProtocol::OpenMetricsText1_0_0 => Some(Format::OpenMetrics1_0_0),
        }
    }
}

/// Go's `isValidLegacyRune`: a rune of the legacy name set at position `i`.
fn legacy_rune(c: char, i: usize) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (c.is_ascii_digit() && i > 0)
}

/// Whether a metric or label name needs neither quoting nor escaping.
pub fn is_legacy_name(name: &str) -> bool {
    !name.is_empty() && name.chars().enumerate().all(|(i, c)| legacy_rune(c, i))
}

/// Writing names under an escaping scheme.
pub trait EscapeName {
    /// A name as this scheme writes it in an exposition (Prometheus'
    /// `model.EscapeName`); `/federate` writes with it.
    fn escape(self, name: &str) -> std::borrow::Cow<'_, str>;
}

impl EscapeName for EscapingScheme {
    fn escape(self, name: &str) -> std::borrow::Cow<'_, str> {
        use std::fmt::Write;
        match self {
            EscapingScheme::AllowUtf8 => name.into(),
            EscapingScheme::Underscores if is_legacy_name(name) => name.into(),
            EscapingScheme::Underscores => name
                .chars()
                .enumerate()
                .map(|(i, c)| if legacy_rune(c, i) { c } else { '_' })
                .collect::<String>()
                .into(),
            // Underscores are doubled even in legacy names, so that escaping
            // can be undone.
            EscapingScheme::Dots => {
                let mut out = String::with_capacity(name.len() + 8);
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        '.' => out.push_str("_dot_"),
                        c if legacy_rune(c, i) => out.push(c),
                        _ => out.push_str("__"),
                    }
                }
                out.into()
            }
            EscapingScheme::Values if is_legacy_name(name) => name.into(),
            EscapingScheme::Values => {
                let mut out = String::from("U__");
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        c if legacy_rune(c, i) => out.push(c),
                        c => {
                            let _ = write!(out, "_{:x}_", u32::from(c));
                        }
                    }
                }
                out.into()
            }
        }
    }
}

/// The `Accept` header Prometheus 3 sends for `protocols` (already
/// validated): weights from `0.(n+1)` down in list order — n being the five
/// known protocols — and `*/*` last with the next lower weight. With the
/// defaults: `application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2`.
pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
    accept_header_with_escaping(protocols, EscapingScheme::AllowUtf8)
}

/// [`accept_header`] with a non-default `metric_name_escaping_scheme`.
pub fn accept_header_with_escaping(protocols: &[ScrapeProtocol], scheme: EscapingScheme) -> String {
    let mut weight = ScrapeProtocol::ALL.len() + 1;
    let mut out = String::with_capacity(64 * (protocols.len() + 1));
    for p in protocols {
        out.push_str(p.header_value());
        if matches!(
            p,
            ScrapeProtocol::PrometheusText1_0_0 | ScrapeProtocol::OpenMetricsText1_0_0
        ) {
            out.push_str(";escaping=");
            out.push_str(scheme.as_str());
        }
        // Go's `fmt.Sprintf(";q=0.%d", weight)`: a weight that reached 0 or
        // went below (only with an invalid list) prints as Go would.
        out.push_str(&format!(";q=0.{}", weight as i64));
        out.push(',');
        weight = weight.wrapping_sub(1);
    }
    out.push_str(&format!("*/*;q=0.{}", weight as i64));
    out
}

/// The `Accept-Encoding` header (`enable_compression`, default true).
pub fn accept_encoding_header(enable_compression: bool) -> &'static str {
    if enable_compression {
        "gzip"
    } else {
        "identity"
    }
}

/// An exposition format Strata parses. The two versions of each family
/// share one parser (as in Prometheus, which chooses by media type only);
/// the version is kept for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    PrometheusText0_0_4,
    PrometheusText1_0_0,
    OpenMetrics1_0_0,
    OpenMetrics0_0_1,
}

impl Format {
    pub fn is_openmetrics(self) -> bool {
        matches!(self, Format::OpenMetrics1_0_0 | Format::OpenMetrics0_0_1)
    }

    pub fn protocol(self) -> ScrapeProtocol {
        match self {
            Format::PrometheusText0_0_4 => ScrapeProtocol::PrometheusText0_0_4,
            Format::PrometheusText1_0_0 => ScrapeProtocol::PrometheusText1_0_0,
            Format::OpenMetrics1_0_0 => ScrapeProtocol::OpenMetricsText1_0_0,
            Format::OpenMetrics0_0_1 => ScrapeProtocol::OpenMetricsText0_0_1,
        }
    }

    pub const ALL: [Format; 4] = [
        Format::PrometheusText0_0_4,
        Format::PrometheusText1_0_0,
        Format::OpenMetrics1_0_0,
        Format::OpenMetrics0_0_1,
    ];
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.protocol().as_str())
    }
}

/// The parser a response selects, and the warning Prometheus logs (at debug
/// level) when it had to use `fallback_scrape_protocol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub format: Format,
    pub fallback_reason: Option<ExpoError>,
}

/// Chooses the parser as Prometheus 3 does; see [`negotiate`] for the
/// warning when the fallback was used.
pub fn format_for(
    content_type: Option<&str>,
    fallback: Option<ScrapeProtocol>,
) -> Result<Format, ExpoError> {
    negotiate(content_type, fallback).map(|n| n.format)
}

/// Prometheus 3's `extractMediaType` + parser choice: only the media type
/// counts (`text/plain` → text parser, `application/openmetrics-text` →
/// OpenMetrics, whatever their `version`); a blank, unparsable or
/// unsupported `Content-Type` uses `fallback` if there is one and is an
/// error otherwise. Protobuf (by content type or fallback) is recognised and
/// refused: Strata has no protobuf parser.
pub fn negotiate(
    content_type: Option<&str>,
    fallback: Option<ScrapeProtocol>,
) -> Result<Negotiated, ExpoError> {
    let ct = content_type.unwrap_or("");
    let use_fallback = |reason: ExpoError| -> Result<Negotiated, ExpoError> {
        match fallback {
            None => Err(reason),
            Some(p) => match p.format() {
                Some(format) => Ok(Negotiated {
                    format,
                    fallback_reason: Some(reason),
                }),
                None => Err(ExpoError::UnsupportedProtobuf),
            },
        }
    };
    if ct.is_empty() {
        return use_fallback(ExpoError::BlankContentType);
    }
    let (media_type, params) = match parse_media_type(ct) {
        Ok(m) => m,
        Err(reason) => {
            return use_fallback(ExpoError::InvalidContentType {
                content_type: ct.to_string(),
                reason,
            });
        }
    };
    let version = params
        .iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v.as_str());
    let format = match media_type.as_str() {
        "text/plain" => match version {
            Some("1.0.0") => Format::PrometheusText1_0_0,
            _ => Format::PrometheusText0_0_4,
        },
        "application/openmetrics-text" => match version {
            Some("0.0.1") => Format::OpenMetrics0_0_1,
            _ => Format::OpenMetrics1_0_0,
        },
        "application/vnd.google.protobuf" => return Err(ExpoError::UnsupportedProtobuf),
        _ => {
            return use_fallback(ExpoError::UnsupportedContentType(ct.to_string()));
        }
    };
    Ok(Negotiated {
        format,
        fallback_reason: None,
    })
}

/// Go's `mime.ParseMediaType`: the lower-cased media type and its
/// parameters (names lower-cased), or Go's error text.
pub fn parse_media_type(v: &str) -> Result<(String, Vec<(String, String)>), String> {
    let base = v.split(';').next().unwrap_or("");
    let media_type = base.to_lowercase().trim().to_string();
    check_media_type(&media_type)?;
    let mut params: Vec<(String, String)> = Vec::new();
    let mut rest = &v[base.len()..];
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        match consume_media_param(rest) {
            Some((key, value, after)) => {
                if let Some((_, old)) = params.iter().find(|(k, _)| *k == key) {
                    if *old != value {
                        return Err("mime: duplicate parameter name".into());
                    }
                } else {
                    params.push((key, value));
                }
                rest = after;
            }
            None => {
                // Go ignores trailing semicolons.
                if rest.trim() == ";" {
                    break;
                }
                return Err("mime: invalid media parameter".into());
            }
        }
    }
    Ok((media_type, params))
}

fn check_media_type(v: &str) -> Result<(), String> {
    let (typ, rest) = consume_token(v);
    if typ.is_empty() {
        return Err("mime: no media type".into());
    }
    if rest.is_empty() {
        return Ok(());
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Err("mime: expected slash after first token".into());
    };
    let (sub, rest) = consume_token(rest);
    if sub.is_empty() {
        return Err("mime: expected token after slash".into());
    }
    if !rest.is_empty() {
        return Err("mime: unexpected content after media subtype".into());
    }
    Ok(())
}

fn is_tspecial(c: char) -> bool {
    "()<>@,;:\\\"/[]?=".contains(c)
}

fn is_token_char(c: char) -> bool {
    c > ' ' && c < '\x7f' && !is_tspecial(c)
}

fn consume_token(v: &str) -> (&str, &str) {
    let end = v.find(|c: char| !is_token_char(c)).unwrap_or(v.len());
    v.split_at(end)
}

fn consume_media_param(v: &str) -> Option<(String, String, &str)> {
    let rest = v.trim_start().strip_prefix(';')?.trim_start();
    let (param, rest) = consume_token(rest);
    if param.is_empty() {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let (value, after) = consume_value(rest)?;
    if value.is_empty() && after.len() == rest.len() {
        return None;
    }
    Some((param.to_lowercase(), value, after))
}

fn consume_value(v: &str) -> Option<(String, &str)> {
    let Some(quoted) = v.strip_prefix('"') else {
        let (t, rest) = consume_token(v);
        return Some((t.to_string(), rest));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &quoted[i + 1..])),
            // Go keeps a backslash before anything but a tspecial literally.
            '\\' if quoted[i + 1..].starts_with(is_tspecial) => {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '\r' | '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_accept_header_is_prometheus_3s() {
        assert_eq!(
            accept_header(&ScrapeProtocol::DEFAULT),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
             application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        assert_eq!(
            accept_header(&ScrapeProtocol::PROTO_FIRST),
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,\
             application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
             application/openmetrics-text;version=0.0.1;q=0.4,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
             text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        );
        assert_eq!(
            accept_header_with_escaping(
                &[ScrapeProtocol::PrometheusText1_0_0],
                EscapingScheme::Underscores
            ),
            "text/plain;version=1.0.0;escaping=underscores;q=0.6,*/*;q=0.5"
        );
    }

    #[test]
    fn content_type_selects_the_parser_by_media_type_only() {
        let f = |ct: &str| format_for(Some(ct), None);
        assert_eq!(f("text/plain"), Ok(Format::PrometheusText0_0_4));
        assert_eq!(
            f("text/plain; version=0.0.4; charset=utf-8"),
            Ok(Format::PrometheusText0_0_4)
        );
        assert_eq!(
            f("text/plain;version=1.0.0;escaping=allow-utf-8"),
            Ok(Format::PrometheusText1_0_0)
        );
        assert_eq!(f("Text/Plain;"), Ok(Format::PrometheusText0_0_4));
        assert_eq!(
            f("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Ok(Format::OpenMetrics1_0_0)
        );
        assert_eq!(
            f("application/openmetrics-text;version=0.0.1"),
            Ok(Format::OpenMetrics0_0_1)
        );
        assert_eq!(
            f("application/openmetrics-text;version=\"2.0.0\""),
            Ok(Format::OpenMetrics1_0_0)
        );
        assert_eq!(
            f(
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            ),
            Err(ExpoError::UnsupportedProtobuf)
        );
    }

    #[test]
    fn blank_unknown_or_broken_content_type_needs_a_fallback() {
        assert_eq!(format_for(None, None), Err(ExpoError::BlankContentType));
        assert_eq!(format_for(Some(""), None), Err(ExpoError::BlankContentType));
        assert!(matches!(
            format_for(Some("application/json"), None),
            Err(ExpoError::UnsupportedContentType(_))
        ));
        // Go's mime parser refuses these even though the type is known.
        for bad in [
            "text/plain;;",
            "text/plain; version",
            "text/",
            "/plain",
            "text/plain x",
            "text/plain; a=1; a=2",
            "a/b/c",
            "/",
            "application/openmetrics-text; charset=UTF-8; charset=utf-8",
        ] {
            assert!(
                matches!(
                    format_for(Some(bad), None),
                    Err(ExpoError::InvalidContentType { .. })
                ),
                "{bad}"
            );
        }
        // A single token is a valid (unsupported) media type for Go.
        assert!(matches!(
            format_for(Some("text"), None),
            Err(ExpoError::UnsupportedContentType(_))
        ));
        let n = negotiate(
            Some("application/json"),
            Some(ScrapeProtocol::PrometheusText0_0_4),
        );
        assert!(matches!(
            n,
            Ok(Negotiated {
                format: Format::PrometheusText0_0_4,
                fallback_reason: Some(ExpoError::UnsupportedContentType(_))
            })
        ));
        assert_eq!(
            format_for(None, Some(ScrapeProtocol::OpenMetricsText1_0_0)),
            Ok(Format::OpenMetrics1_0_0)
        );
        assert_eq!(
            format_for(
                Some("text/plain;;"),
                Some(ScrapeProtocol::PrometheusText1_0_0)
            ),
            Ok(Format::PrometheusText1_0_0)
        );
        assert_eq!(
            format_for(None, Some(ScrapeProtocol::PrometheusProto)),
            Err(ExpoError::UnsupportedProtobuf)
        );
        // A good content type wins over the fallback.
        assert_eq!(
            format_for(
                Some("text/plain"),
                Some(ScrapeProtocol::OpenMetricsText1_0_0)
            ),
            Ok(Format::PrometheusText0_0_4)
        );
    }

    #[test]
    fn go_mime_parameters() {
        assert_eq!(
            parse_media_type("A/B ; Q=\"x\\\"y\" ; r=s;"),
            Ok((
                "a/b".to_string(),
                vec![
                    ("q".to_string(), "x\"y".to_string()),
                    ("r".to_string(), "s".to_string())
                ]
            ))
        );
        assert!(parse_media_type("a/b; q=\"unterminated").is_err());
        assert!(parse_media_type("a/b; q=1; q=1").is_ok());
    }
}
