//! Alert label and annotation templates. NOT IMPLEMENTED YET: text is
//! returned verbatim and every template is accepted; Go text/template
//! expansion (`$labels`, `$value`, `humanize`…) is the next step of the
//! rules issue (docs/rules.md).
use std::collections::BTreeMap;
pub struct TemplateData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
}
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);
pub fn expand(_name: &str, text: &str, _data: &TemplateData<'_>) -> Result<String, TemplateError> {
    Ok(text.to_string())
}
pub fn check(_name: &str, _text: &str) -> Result<(), TemplateError> {
    Ok(())
}
