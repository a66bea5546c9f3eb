//! CORS as API Gateway (HTTP API) does it, from the `CorsConfiguration` that `template.yaml`
//! gives the API: one configuration, deployed by SAM and followed here. The gateway answers
//! every preflight itself (a function never sees `OPTIONS`) and sets the CORS headers of every
//! answer to a request with an `Origin`, replacing any a function set.

use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_yaml_ng::Value;

use crate::LocalError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `*`, or exact origins.
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    /// Lower case.
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
}

/// A `!Ref` to a template parameter resolves to its default, unless the environment
/// overrides it (as `sam deploy --parameter-overrides` would): `CorsAllowOrigins` from
/// `CORS_ALLOW_ORIGINS`.
fn strings(
    value: Option<&Value>,
    template: &Value,
    overrides: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let resolved: Option<String> = match value {
        Some(Value::Tagged(tagged)) if tagged.tag == "Ref" => {
            let name = tagged.value.as_str().unwrap_or_default();
            overrides(name).or_else(|| {
                template
                    .get("Parameters")
                    .and_then(|p| p.get(name))
                    .and_then(|p| p.get("Default"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        }
        Some(Value::Sequence(items)) => {
            return items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    resolved
        .map(|s| {
            s.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The environment variable that overrides a template parameter: `CorsAllowOrigins` →
/// `CORS_ALLOW_ORIGINS`.
pub fn override_variable(parameter: &str) -> String {
    let mut out = String::new();
    for (i, c) in parameter.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl Cors {
    /// The `CorsConfiguration` of the template's `AWS::Serverless::HttpApi`; `None` if it
    /// has none.
    pub fn from_template(
        text: &str,
        overrides: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Cors>, LocalError> {
        let template = crate::template::parse(text)?;
        let config = crate::template::resources(&template, "AWS::Serverless::HttpApi")?
            .find_map(|(_, r)| r.get("Properties").and_then(|p| p.get("CorsConfiguration")));
        let Some(config) = config else {
            return Ok(None);
        };
        let list = |key: &str| strings(config.get(key), &template, overrides);
        Ok(Some(Cors {
            allow_origins: list("AllowOrigins"),
            allow_methods: list("AllowMethods")
                .into_iter()
                .map(|m| m.to_ascii_uppercase())
                .collect(),
            allow_headers: list("AllowHeaders")
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            expose_headers: list("ExposeHeaders"),
            max_age: config.get("MaxAge").and_then(Value::as_u64),
        }))
    }

    pub fn from_template_env(text: &str) -> Result<Option<Cors>, LocalError> {
        Cors::from_template(text, &|name| std::env::var(override_variable(name)).ok())
    }

    fn allowed_origin(&self, origin: &str) -> Option<HeaderValue> {
        if self.allow_origins.iter().any(|o| o == "*") {
            return Some(HeaderValue::from_static("*"));
        }
        self.allow_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }

    /// The answer to a preflight (`OPTIONS` with an `Origin` and an
    /// `Access-Control-Request-Method`), or `None` if the request is not one.
    pub fn preflight(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Response<axum::body::Body>> {
        if method != Method::OPTIONS {
            return None;
        }
        let origin = headers.get("origin")?.to_str().ok()?;
        let requested = headers
            .get("access-control-request-method")?
            .to_str()
            .ok()?;
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let method_ok = self
            .allow_methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(requested));
        let asked: Vec<String> = headers
            .get("access-control-request-headers")
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                h.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let headers_ok = asked
            .iter()
            .all(|h| self.allow_headers.iter().any(|a| a == "*" || a == h));
        // A refused preflight is answered without CORS headers: the browser then refuses.
        let (Some(allow_origin), true, true) = (self.allowed_origin(origin), method_ok, headers_ok)
        else {
            return Some(response);
        };
        let out = response.headers_mut();
        out.insert("access-control-allow-origin", allow_origin);
        if let Ok(v) = HeaderValue::from_str(&self.allow_methods.join(",")) {
            out.insert("access-control-allow-methods", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.allow_headers.join(",")) {
            out.insert("access-control-allow-headers", v);
        }
        if let Some(age) = self.max_age {
            out.insert("access-control-max-age", HeaderValue::from(age));
        }
        Some(response)
    }

    /// Sets the CORS headers of an answer to a request from `origin`.
    pub fn decorate(
        &self,
        origin: Option<&HeaderValue>,
        response: &mut Response<axum::body::Body>,
    ) {
        let headers = response.headers_mut();
        for name in [
            "access-control-allow-origin",
            "access-control-allow-methods",
            "access-control-allow-headers",
            "access-control-expose-headers",
            "access-control-allow-credentials",
            "access-control-max-age",
        ] {
            headers.remove(name);
        }
        let Some(origin) = origin.and_then(|o| o.to_str().ok()) else {
            return;
        };
        let Some(allow_origin) = self.allowed_origin(origin) else {
            return;
        };
        headers.insert("access-control-allow-origin", allow_origin);
        if !self.expose_headers.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&self.expose_headers.join(",")) {
                headers.insert("access-control-expose-headers", v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  CorsAllowOrigins: { Type: CommaDelimitedList, Default: "*" }
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: !Ref CorsAllowOrigins
        AllowMethods: [GET, POST, DELETE]
        AllowHeaders: [Authorization, content-type]
        ExposeHeaders: [X-Total-Count, Link]
        MaxAge: 600
"#;

    fn preflight(
        cors: &Cors,
        origin: &str,
        method: &str,
        asked: &str,
    ) -> Response<axum::body::Body> {
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_str(origin).unwrap());
        headers.insert(
            "access-control-request-method",
            HeaderValue::from_str(method).unwrap(),
        );
        headers.insert(
            "access-control-request-headers",
            HeaderValue::from_str(asked).unwrap(),
        );
        cors.preflight(&Method::OPTIONS, &headers).unwrap()
    }

    #[test]
    fn reads_the_template_and_its_parameter_default_or_override() {
        let cors = Cors::from_template(TEMPLATE, &|_| None).unwrap().unwrap();
        assert_eq!(cors.allow_origins, ["*"]);
        assert_eq!(cors.allow_headers, ["authorization", "content-type"]);
        assert_eq!(cors.expose_headers, ["X-Total-Count", "Link"]);
        let only = |name: &str| {
            (name == "CorsAllowOrigins").then(|| "https://a.example, https://b.example".to_owned())
        };
        let cors = Cors::from_template(TEMPLATE, &only).unwrap().unwrap();
        assert_eq!(
            cors.allow_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(override_variable("CorsAllowOrigins"), "CORS_ALLOW_ORIGINS");
    }

    #[test]
    fn preflights_allow_only_what_is_configured() {
        let only = |_: &str| Some("https://a.example".to_owned());
        let cors = Cors::from_template(TEMPLATE, &only).unwrap().unwrap();
        let ok = preflight(
            &cors,
            "https://a.example",
            "DELETE",
            "authorization, Content-Type",
        );
        assert_eq!(ok.status(), 204);
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "https://a.example"
        );
        assert_eq!(ok.headers()["access-control-max-age"], "600");
        for (origin, method, asked) in [
            ("https://evil.example", "GET", ""),
            ("https://a.example", "PUT", ""),
            ("https://a.example", "GET", "x-secret"),
        ] {
            let refused = preflight(&cors, origin, method, asked);
            assert!(
                !refused
                    .headers()
                    .contains_key("access-control-allow-origin"),
                "{origin} {method} {asked}"
            );
        }
    }

    #[test]
    fn answers_get_the_origin_and_exposed_headers_and_lose_a_functions_own() {
        let cors = Cors::from_template(TEMPLATE, &|_| None).unwrap().unwrap();
        let mut response = Response::new(axum::body::Body::empty());
        response.headers_mut().insert(
            "access-control-allow-origin",
            HeaderValue::from_static("https://x"),
        );
        cors.decorate(
            Some(&HeaderValue::from_static("https://a.example")),
            &mut response,
        );
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert_eq!(
            response.headers()["access-control-expose-headers"],
            "X-Total-Count,Link"
        );
        let mut no_origin = Response::new(axum::body::Body::empty());
        cors.decorate(None, &mut no_origin);
        assert!(no_origin.headers().is_empty());
    }
}
