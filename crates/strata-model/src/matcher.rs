//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus 3 regex semantics.
//!
//! Prometheus compiles `=~"re"` as Go RE2 `^(?s:re)$`: fully anchored, `.`
//! matches newlines, `\d \w \s` are ASCII-only, `\Q…\E` quotes, `x{,n}` is a
//! literal and repeat counts above 1000 are errors. Rust's `regex` is also
//! linear-time but differs on those points, so patterns are rewritten at the
//! syntax-tree level before compiling. Common shapes (literal, alternation of
//! literals, `prefix.*`, `.*`, `.+`) are answered without running a regex,
//! and the index uses the literal sets to read postings directly.

use regex_syntax::ast::{self, Ast};
use regex_syntax::hir::{Class, Hir, HirKind};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(&self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MatcherError {
    #[error("invalid regular expression {pattern:?}: {reason}")]
    BadRegex { pattern: String, reason: String },
}

/// A compiled Prometheus regex with fast paths for common shapes.
#[derive(Clone)]
pub struct PromRegex {
    source: String,
    kind: RegexKind,
}

#[derive(Clone)]
enum RegexKind {
    /// `.*`
    Any,
    /// `.+`
    NonEmpty,
    /// A plain string: equality.
    Literal(String),
    /// `a|b|c` of plain strings, sorted.
    Set(Vec<String>),
    /// `prefix.*`
    Prefix(String),
    /// Anything else; `prefix` is a required literal prefix used to skip
    /// values cheaply before running the automaton.
    General { re: regex::Regex, prefix: String },
}

/// Largest repeat count Go's RE2 accepts.
const MAX_REPEAT: u32 = 1000;

/// A pattern in Prometheus' (Go RE2) syntax, parsed and made to behave like
/// RE2 (`(?s)`, ASCII classes, repeat limits), with its printed form.
struct GoRegex {
    wrapped: String,
    ast: ast::Ast,
    printed: String,
}

impl GoRegex {
    fn parse(pattern: &str) -> Result<GoRegex, MatcherError> {
        let bad = |reason: String| MatcherError::BadRegex {
            pattern: pattern.to_string(),
            reason,
        };
        let wrapped = format!("(?s:{})", rewrite_go_syntax(pattern));
        let mut ast = ast::parse::ParserBuilder::new()
            .build()
            .parse(&wrapped)
            .map_err(|e| bad(first_line(&e.to_string())))?;
        check_repeats(&ast).map_err(bad)?;
        asciify(&mut ast);
        let mut printed = String::new();
        ast::print::Printer::new()
            .print(&ast, &mut printed)
            .map_err(|e| bad(e.to_string()))?;
        Ok(GoRegex {
            wrapped,
            ast,
            printed,
        })
    }

    /// The fully anchored regex, as Prometheus matches label values.
    fn anchored(&self, pattern: &str) -> Result<regex::Regex, MatcherError> {
        regex::RegexBuilder::new(&format!("^(?:{})$", self.printed))
            .size_limit(64 << 20)
            .build()
            .map_err(|e| MatcherError::BadRegex {
                pattern: pattern.to_string(),
                reason: first_line(&e.to_string()),
            })
    }
}

impl PromRegex {
    pub fn new(pattern: &str) -> Result<Self, MatcherError> {
        let go = GoRegex::parse(pattern)?;
        let hir = regex_syntax::hir::translate::TranslatorBuilder::new()
            .build()
            .translate(&go.wrapped, &go.ast)
            .map_err(|e| MatcherError::BadRegex {
                pattern: pattern.to_string(),
                reason: first_line(&e.to_string()),
            })?;
        let kind = match classify(&hir) {
            Some(k) => k,
            None => RegexKind::General {
                re: go.anchored(pattern)?,
                prefix: literal_prefix(&hir),
            },
        };
        Ok(PromRegex {
            source: pattern.to_string(),
            kind,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Compiles `pattern` with Prometheus' syntax and anchoring into a full
    /// regex with capture groups (for `label_replace`).
    pub fn compile_anchored(pattern: &str) -> Result<regex::Regex, MatcherError> {
        GoRegex::parse(pattern)?.anchored(pattern)
    }

    pub fn is_match(&self, s: &str) -> bool {
        match &self.kind {
            RegexKind::Any => true,
            RegexKind::NonEmpty => !s.is_empty(),
            RegexKind::Literal(l) => s == l,
            RegexKind::Set(set) => set.binary_search_by(|x| x.as_str().cmp(s)).is_ok(),
            RegexKind::Prefix(p) => s.starts_with(p.as_str()),
            RegexKind::General { re, prefix } => s.starts_with(prefix.as_str()) && re.is_match(s),
        }
    }

    /// The finite set of strings this regex matches, when it is one.
    pub fn literal_set(&self) -> Option<Vec<&str>> {
        match &self.kind {
            RegexKind::Literal(l) => Some(vec![l.as_str()]),
            RegexKind::Set(s) => Some(s.iter().map(String::as_str).collect()),
            _ => None,
        }
    }

    /// A prefix every match starts with ("" when none is known).
    pub fn required_prefix(&self) -> &str {
        match &self.kind {
            RegexKind::Literal(l) => l,
            RegexKind::Prefix(p) => p,
            RegexKind::General { prefix, .. } => prefix,
            _ => "",
        }
    }

    /// Whether the regex matches the empty string (which, for a matcher,
    /// means it also matches series that lack the label).
    pub fn matches_empty(&self) -> bool {
        self.is_match("")
    }

    pub fn matches_everything(&self) -> bool {
        matches!(self.kind, RegexKind::Any)
    }
}

impl fmt::Debug for PromRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PromRegex({:?})", self.source)
    }
}

impl PartialEq for PromRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

fn first_line(s: &str) -> String {
    // regex-syntax errors are multi-line with a caret diagram; keep the gist.
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Text-level rewrites for Go syntax the Rust parser does not know:
/// `\Q…\E` becomes escaped literals, and `{,` (a literal in Go) is escaped.
fn rewrite_go_syntax(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Q') => {
                    let mut lit = String::new();
                    loop {
                        match chars.next() {
                            None => break,
                            Some('\\') if chars.peek() == Some(&'E') => {
                                chars.next();
                                break;
                            }
                            Some(ch) => lit.push(ch),
                        }
                    }
                    out.push_str(&regex_syntax::escape(&lit));
                }
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `]` or `^]` is literal inside a class.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '{' if !in_class && chars.peek() == Some(&',') => out.push_str("\\{"),
            c => out.push(c),
        }
    }
    out
}

fn check_repeats(ast: &Ast) -> Result<(), String> {
    match ast {
        Ast::Repetition(r) => {
            if let ast::RepetitionKind::Range(range) = &r.op.kind {
                let (a, b) = match *range {
                    ast::RepetitionRange::Exactly(n) => (n, n),
                    ast::RepetitionRange::AtLeast(n) => (n, n),
                    ast::RepetitionRange::Bounded(a, b) => (a, b),
                };
                if a > MAX_REPEAT || b > MAX_REPEAT {
                    return Err(format!(
                        "invalid repeat count: {{{a},{b}}} exceeds {MAX_REPEAT}"
                    ));
                }
            }
            check_repeats(&r.ast)
        }
        Ast::Group(g) => check_repeats(&g.ast),
        Ast::Alternation(a) => a.asts.iter().try_for_each(check_repeats),
        Ast::Concat(c) => c.asts.iter().try_for_each(check_repeats),
        _ => Ok(()),
    }
}

/// Makes `\d \w \s` (and negations) ASCII-only like RE2, inside and outside
/// bracket classes.
fn asciify(ast: &mut Ast) {
    match ast {
        Ast::ClassPerl(p) => {
            let (kind, negated) = (perl_to_ascii(&p.kind), p.negated);
            let span = p.span;
            *ast = Ast::class_bracketed(ast::ClassBracketed {
                span,
                negated,
                kind: ast::ClassSet::Item(ast::ClassSetItem::Ascii(ast::ClassAscii {
                    span,
                    kind,
                    negated: false,
                })),
            });
        }
        Ast::ClassBracketed(c) => asciify_set(&mut c.kind),
        Ast::Repetition(r) => asciify(&mut r.ast),
        Ast::Group(g) => asciify(&mut g.ast),
        Ast::Alternation(a) => a.asts.iter_mut().for_each(asciify),
        Ast::Concat(c) => c.asts.iter_mut().for_each(asciify),
        _ => {}
    }
}

fn asciify_set(set: &mut ast::ClassSet) {
    match set {
        ast::ClassSet::Item(item) => asciify_item(item),
        ast::ClassSet::BinaryOp(op) => {
            asciify_set(&mut op.lhs);
            asciify_set(&mut op.rhs);
        }
    }
}

fn asciify_item(item: &mut ast::ClassSetItem) {
    match item {
        ast::ClassSetItem::Perl(p) => {
            *item = ast::ClassSetItem::Ascii(ast::ClassAscii {
                span: p.span,
                kind: perl_to_ascii(&p.kind),
                negated: p.negated,
            })
        }
        ast::ClassSetItem::Bracketed(b) => asciify_set(&mut b.kind),
        ast::ClassSetItem::Union(u) => u.items.iter_mut().for_each(asciify_item),
        _ => {}
    }
}

fn perl_to_ascii(k: &ast::ClassPerlKind) -> ast::ClassAsciiKind {
    match k {
        ast::ClassPerlKind::Digit => ast::ClassAsciiKind::Digit,
        ast::ClassPerlKind::Space => ast::ClassAsciiKind::Space,
        ast::ClassPerlKind::Word => ast::ClassAsciiKind::Word,
    }
}

fn unwrap_capture(h: &Hir) -> &Hir {
    match h.kind() {
        HirKind::Capture(c) => unwrap_capture(&c.sub),
        _ => h,
    }
}

fn is_any_char(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            r.len() == 1 && r[0].start() == '\0' && r[0].end() == '\u{10FFFF}'
        }
        _ => false,
    }
}

fn as_literal(h: &Hir) -> Option<String> {
    match unwrap_capture(h).kind() {
        HirKind::Literal(l) => String::from_utf8(l.0.to_vec()).ok(),
        HirKind::Empty => Some(String::new()),
        _ => None,
    }
}

fn classify(h: &Hir) -> Option<RegexKind> {
    let h = unwrap_capture(h);
    if let Some(l) = as_literal(h) {
        return Some(RegexKind::Literal(l));
    }
    match h.kind() {
        HirKind::Repetition(r) if r.max.is_none() && is_any_char(&r.sub) => match r.min {
            0 => Some(RegexKind::Any),
            1 => Some(RegexKind::NonEmpty),
            _ => None,
        },
        HirKind::Alternation(_) | HirKind::Class(_) | HirKind::Concat(_)
            if finite_strings(h).is_some() =>
        {
            let mut set = finite_strings(h)?;
            set.sort();
            set.dedup();
            Some(RegexKind::Set(set))
        }
        HirKind::Concat(parts) if parts.len() == 2 => {
            let prefix = as_literal(&parts[0])?;
            match unwrap_capture(&parts[1]).kind() {
                HirKind::Repetition(r) if r.min == 0 && r.max.is_none() && is_any_char(&r.sub) => {
                    Some(RegexKind::Prefix(prefix))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Largest finite language expanded into a literal set.
const MAX_SET: usize = 256;

/// Every string `h` matches, when that is a small finite set. The parser
/// turns `a|b` into a class and `abc|abd` into `ab[cd]`, so alternations,
/// classes and concatenations are all expanded.
fn finite_strings(h: &Hir) -> Option<Vec<String>> {
    match h.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(l) => Some(vec![String::from_utf8(l.0.to_vec()).ok()?]),
        HirKind::Capture(c) => finite_strings(&c.sub),
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    out.push(ch.to_string());
                    if out.len() > MAX_SET {
                        return None;
                    }
                }
            }
            Some(out)
        }
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(finite_strings(a)?);
                if out.len() > MAX_SET {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(parts) => {
            let mut acc = vec![String::new()];
            for p in parts {
                let next = finite_strings(p)?;
                if acc.len() * next.len() > MAX_SET {
                    return None;
                }
                acc = acc
                    .iter()
                    .flat_map(|a| next.iter().map(move |b| format!("{a}{b}")))
                    .collect();
            }
            Some(acc)
        }
        _ => None,
    }
}

fn literal_prefix(h: &Hir) -> String {
    let h = unwrap_capture(h);
    match h.kind() {
        HirKind::Literal(l) => String::from_utf8(l.0.to_vec()).unwrap_or_default(),
        HirKind::Concat(parts) => parts.first().and_then(as_literal).unwrap_or_default(),
        _ => String::new(),
    }
}

/// A label matcher as written in a selector: `name op "value"`.
#[derive(Clone, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<PromRegex>,
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(PromRegex::new(&value)?),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    pub fn regex(&self) -> Option<&PromRegex> {
        self.regex.as_ref()
    }

    /// Whether a label value matches; a missing label is the empty string.
    pub fn matches(&self, v: &str) -> bool {
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::RegexMatch, Some(r)) => r.is_match(v),
            (MatchOp::RegexNoMatch, Some(r)) => !r.is_match(v),
            // Unreachable by construction; treat as no match rather than panic.
            (_, None) => false,
        }
    }

    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.op.as_str(),
            crate::labels::quote(&self.value)
        )
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        match PromRegex::new(p) {
            Ok(r) => r.is_match(s),
            Err(e) => panic!("{p}: {e}"),
        }
    }

    #[test]
    fn anchored_and_dot_matches_newline() {
        assert!(m("foo", "foo"));
        assert!(!m("foo", "foobar"));
        assert!(!m("oo", "foo"));
        assert!(m("f.o", "f\no"));
        assert!(m(".*", "a\nb"));
        assert!(m("a|b", "b"));
        assert!(!m("a|b", "ab"));
    }

    #[test]
    fn fast_paths_agree_with_the_automaton() {
        for (p, yes, no) in [
            (".*", "", "never-fails-anyway"),
            (".+", "x", ""),
            ("api-.*", "api-x", "ap"),
            ("(foo|bar|baz)", "bar", "ba"),
            ("foo", "foo", "fo"),
            ("a(b|c)d", "acd", "ad"),
        ] {
            assert!(m(p, yes), "{p} should match {yes:?}");
            if p != ".*" {
                assert!(!m(p, no), "{p} should not match {no:?}");
            }
        }
    }

    #[test]
    fn perl_classes_are_ascii_like_re2() {
        assert!(m(r"\d+", "123"));
        assert!(!m(r"\d", "٣"));
        assert!(!m(r"\w", "é"));
        assert!(m(r"[\d\s]+", "1 2"));
        assert!(m(r"\D", "é"));
    }

    #[test]
    fn go_only_syntax() {
        assert!(m(r"\Qa.b\E", "a.b"));
        assert!(!m(r"\Qa.b\E", "axb"));
        assert!(m("a{,3}", "a{,3}"));
        assert!(PromRegex::new("a{1001}").is_err());
        assert!(PromRegex::new("a{1000}").is_ok());
        assert!(PromRegex::new("(").is_err());
    }

    #[test]
    fn literal_sets_for_postings() {
        let r = PromRegex::new("b|a|c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.literal_set(), Some(vec!["a", "b", "c"]));
        assert!(
            PromRegex::new("a.*")
                .map(|r| r.literal_set().is_none())
                .unwrap_or(false)
        );
    }

    #[test]
    fn matcher_semantics_for_missing_labels() {
        let ne = Matcher::new(MatchOp::NotEqual, "x", "").unwrap_or_else(|e| panic!("{e}"));
        assert!(!ne.matches(""));
        let re = Matcher::new(MatchOp::RegexMatch, "x", "a|").unwrap_or_else(|e| panic!("{e}"));
        assert!(re.matches_empty());
    }
}
