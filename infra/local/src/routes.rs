//! The HTTP API's routes, read from `template.yaml`, so the local gateway routes exactly as
//! the deployed API Gateway will.

use std::collections::HashMap;
use std::path::Path;

use serde_yaml_ng::Value;

use crate::LocalError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// As declared, e.g. `/posts/{id}`.
    pub path: String,
    /// The Cargo binary that serves it (its `cargo lambda watch` function name).
    pub function: String,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /posts/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters if `path` matches this route's pattern.
    fn matches(&self, path: &str) -> Option<HashMap<String, String>> {
        let mut pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut params = HashMap::new();
        // A greedy `{name+}` at the end takes one or more segments, slashes and all.
        if let Some(name) = pattern
            .last()
            .and_then(|p| p.strip_prefix('{'))
            .and_then(|p| p.strip_suffix("+}"))
        {
            let fixed = pattern.len() - 1;
            if actual.len() <= fixed || actual[fixed..].iter().all(|a| a.is_empty()) {
                return None;
            }
            params.insert(name.to_owned(), actual[fixed..].join("/"));
            pattern.truncate(fixed);
            return matches_fixed(&pattern, &actual[..fixed], params);
        }
        if pattern.len() != actual.len() {
            return None;
        }
        matches_fixed(&pattern, &actual, params)
    }
}

/// Segment by segment: a literal matches itself, `{name}` any non-empty segment.
fn matches_fixed(
    pattern: &[&str],
    actual: &[&str],
    mut params: HashMap<String, String>,
) -> Option<HashMap<String, String>> {
    for (p, a) in pattern.iter().zip(actual) {
        match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !a.is_empty() => {
                params.insert(name.to_owned(), (*a).to_owned());
            }
            _ if p == a => {}
            _ => return None,
        }
    }
    Some(params)
}

#[derive(Debug, Clone)]
pub struct Routes(Vec<Route>);

impl Routes {
    pub fn from_template_file(path: &Path) -> Result<Routes, LocalError> {
        let text = std::fs::read_to_string(path)?;
        Routes::from_template(&text)
    }

    /// Every `HttpApi` event of every `AWS::Serverless::Function`, served by the binary its
    /// `Metadata.BuildProperties.Binary` names.
    pub fn from_template(text: &str) -> Result<Routes, LocalError> {
        let template = crate::template::parse(text)?;
        let mut routes = Vec::new();
        for (name, resource) in crate::template::resources(&template, "AWS::Serverless::Function")?
        {
            let events = resource
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping);
            let http_events: Vec<&Value> = events
                .into_iter()
                .flatten()
                .map(|(_, e)| e)
                .filter(|e| e.get("Type").and_then(Value::as_str) == Some("HttpApi"))
                .collect();
            if http_events.is_empty() {
                continue;
            }
            let function = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    LocalError::Template(format!("{name} has no Metadata.BuildProperties.Binary"))
                })?;
            for event in http_events {
                let props = event.get("Properties");
                let field = |key: &str| {
                    props
                        .and_then(|p| p.get(key))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            LocalError::Template(format!("an HttpApi event of {name} has no {key}"))
                        })
                };
                routes.push(Route {
                    method: field("Method")?.to_ascii_uppercase(),
                    path: field("Path")?,
                    function: function.to_owned(),
                });
            }
        }
        if routes.is_empty() {
            return Err(LocalError::Template("no HttpApi routes".into()));
        }
        Ok(Routes(routes))
    }

    pub fn all(&self) -> &[Route] {
        &self.0
    }

    /// The route for a request and its path parameters. Literal segments win over
    /// parameters, as in API Gateway.
    pub fn resolve(&self, method: &str, path: &str) -> Option<(&Route, HashMap<String, String>)> {
        self.0
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .filter_map(|r| r.matches(path).map(|params| (r, params)))
            .min_by_key(|(_, params)| params.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Resources:
  Posts:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: posts-api } }
    Properties:
      Events:
        Get: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: "/posts/{id}", Method: get } }
        List: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /posts, Method: GET } }
  Table:
    Type: AWS::DynamoDB::Table
"#;

    #[test]
    fn routes_come_from_http_api_events() {
        let routes = Routes::from_template(TEMPLATE).unwrap();
        assert_eq!(routes.all().len(), 2);
        let (route, params) = routes.resolve("GET", "/posts/42").unwrap();
        assert_eq!(
            (route.key().as_str(), route.function.as_str()),
            ("GET /posts/{id}", "posts-api")
        );
        assert_eq!(params["id"], "42");
        assert!(routes.resolve("GET", "/posts/42/x").is_none());
        assert!(routes.resolve("DELETE", "/posts/42").is_none());
        assert!(routes.resolve("GET", "/posts/").unwrap().1.is_empty());
    }

    #[test]
    fn a_greedy_parameter_takes_the_rest_of_the_path() {
        let routes = Routes::from_template(
            r#"
Resources:
  Console:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: console } }
    Properties:
      Events:
        Page: { Type: HttpApi, Properties: { Path: /admin, Method: GET } }
        Files: { Type: HttpApi, Properties: { Path: "/admin/{path+}", Method: GET } }
"#,
        )
        .unwrap();
        let (route, params) = routes.resolve("GET", "/admin/assets/x/index.js").unwrap();
        assert_eq!(route.key(), "GET /admin/{path+}");
        assert_eq!(params["path"], "assets/x/index.js");
        assert_eq!(
            routes.resolve("GET", "/admin/").unwrap().0.key(),
            "GET /admin"
        );
        assert_eq!(
            routes.resolve("GET", "/admin").unwrap().0.key(),
            "GET /admin"
        );
        assert!(routes.resolve("GET", "/administrator/x").is_none());
    }
}
