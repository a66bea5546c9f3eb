//! Reading `template.yaml`: the routes and the CORS configuration both come from it.

use serde_yaml_ng::Value;

use crate::LocalError;

pub fn parse(text: &str) -> Result<Value, LocalError> {
    serde_yaml_ng::from_str(text).map_err(|e| LocalError::Template(e.to_string()))
}

/// The template's resources of one `Type`, with their logical names.
pub fn resources<'a>(
    template: &'a Value,
    kind: &'a str,
) -> Result<impl Iterator<Item = (&'a str, &'a Value)>, LocalError> {
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| LocalError::Template("no Resources".into()))?;
    Ok(resources
        .iter()
        .filter(move |(_, resource)| resource.get("Type").and_then(Value::as_str) == Some(kind))
        .map(|(name, resource)| (name.as_str().unwrap_or_default(), resource)))
}
