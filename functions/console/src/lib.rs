//! `GET /admin` and `GET /admin/{path+}`: the admin console, `console/dist` as `make console`
//! built it. Release builds carry the files (and their gzip forms, compressed at build time)
//! in the binary; debug builds, as `make up` runs them, read them from disk.
//!
//! Served from the API's own origin, so the console needs no CORS and its token never
//! crosses to another site; `Content-Security-Policy` keeps the page to that origin.

use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, RequestExt, Response};
use ps_http::ApiError;
use ps_http::route::route_key;
use rust_embed_for_web::{EmbedableFile, RustEmbed};

#[derive(RustEmbed)]
#[folder = "../../console/dist/"]
#[allow_missing = true]
struct Built;

/// Where the console lives on the API.
pub const BASE: &str = "/admin/";

/// Styles are inline because MUI (through emotion) writes them at run time; scripts, data
/// and everything else come from this origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub async fn handle(req: Request) -> Response<Body> {
    ps_http::answer(req, |req| async move {
        match route_key(&req).as_str() {
            // The page's URLs are absolute (`/admin/assets/…`, its routes after `#`), so
            // it works with or without the slash.
            "GET /admin" => serve("", accepts_gzip(&req)),
            "GET /admin/{path+}" => {
                let path = req
                    .path_parameters()
                    .first("path")
                    .unwrap_or_default()
                    .to_owned();
                serve(&path, accepts_gzip(&req))
            }
            _ => Err(ApiError::NoRoute(route_key(&req))),
        }
    })
    .await
}

fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next() == Some("gzip") && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
}

/// A file of the build; any other path without an extension is a page of the console's
/// own router and gets `index.html`.
fn serve(path: &str, gzip: bool) -> Result<Response<Body>, ApiError> {
    let path = if path.is_empty() { "index.html" } else { path };
    let (name, file) = match Built::get(path) {
        Some(file) => (path, file),
        None if !path.rsplit('/').next().unwrap_or(path).contains('.') => {
            match Built::get("index.html") {
                Some(file) => ("index.html", file),
                None => return Err(not_built()),
            }
        }
        None if Built::get("index.html").is_none() => return Err(not_built()),
        None => return Err(ApiError::NoRoute(format!("GET {BASE}{path}"))),
    };
    let (body, encoded) = match file.data_gzip() {
        Some(compressed) if gzip => (bytes(&compressed), true),
        _ => (bytes(&file.data()), false),
    };
    let mut answer = Response::new(Body::Binary(body));
    let headers = answer.headers_mut();
    let mime = file
        .mime_type()
        .unwrap_or_else(|| "application/octet-stream".into());
    if let Ok(mime) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, mime);
    }
    if encoded {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    // Weak: the gzip and plain forms are the same resource, not the same bytes. The crate's
    // hash is base85, whose alphabet is not promised to stay free of `"`: hex it.
    let hash = file.hash();
    let hash: &str = hash.as_ref();
    let hex: String = hash.bytes().map(|b| format!("{b:02x}")).collect();
    if let Ok(tag) = HeaderValue::from_str(&format!("W/\"{hex}\"")) {
        headers.insert(header::ETAG, tag);
    }
    // Vite names the assets by their content: they never change under a name.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if name == "index.html" {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    Ok(answer)
}

fn bytes(data: &impl AsRef<[u8]>) -> Vec<u8> {
    data.as_ref().to_vec()
}

fn not_built() -> ApiError {
    ApiError::Service(ps_http::error::ServiceError::Unavailable(
        "the console was not built into this function: run `make console` (make up and make package do) and build again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;

    #[test]
    fn gzip_is_taken_unless_refused() {
        let with = |value: &str| {
            let mut req = Request::default();
            req.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&req)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br"));
        assert!(!accepts_gzip(&Request::default()));
    }

    #[test]
    fn a_missing_asset_is_a_404_and_a_console_route_is_the_page() {
        if Built::get("index.html").is_none() {
            // Not built: both say how to build it.
            assert_eq!(
                serve("posts", false).unwrap_err().status(),
                StatusCode::SERVICE_UNAVAILABLE
            );
            return;
        }
        assert_eq!(
            serve("assets/nothing-here.js", false).unwrap_err().status(),
            StatusCode::NOT_FOUND
        );
        let page = serve("posts/5", false).unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            page.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
}
