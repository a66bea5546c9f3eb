//! Entity tags on the wire (RFC 9110 8.8.3, 13.1.1, 13.1.2). A single record's tag is its
//! stored version, strong (`"3"`), so `If-Match` becomes a conditional write; any other read
//! (a list, a record with `_embed`) gets a weak tag of its body, for `If-None-Match`.
//!
//! A malformed condition header is a 400: ignoring it would turn a client's guarded write
//! into an unguarded one.

use std::hash::{Hash, Hasher};

use lambda_http::Request;
use lambda_http::http::{HeaderName, HeaderValue, header};
use ps_core::precondition::Precondition;

use crate::ApiError;

/// The strong tag of a stored version.
pub fn of_version(version: u64) -> String {
    format!("\"{version}\"")
}

/// A weak tag of a body's bytes. Tags only need to change when the body does: the
/// standard library's SipHash suffices (a new build may change every tag, which costs one
/// full answer per client).
pub fn of_body(body: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("W/\"{:016x}\"", hasher.finish())
}

/// An entity tag as sent: weak or strong, and its opaque part without quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    pub opaque: String,
}

/// `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagList {
    Any,
    Tags(Vec<EntityTag>),
}

fn malformed(name: &HeaderName) -> ApiError {
    ApiError::BadRequest(format!(
        "{name} must be * or a comma-separated list of quoted entity tags (\"3\" or W/\"3\"), in ASCII"
    ))
}

/// Parses `*` or `#entity-tag`; `None` if malformed (including any non-ASCII byte, which
/// RFC 9110 would allow as obs-text but no tag of ours contains).
pub fn parse_tag_list(raw: &[u8]) -> Option<TagList> {
    if !raw.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?.trim_matches([' ', '\t']);
    if text == "*" {
        return Some(TagList::Any);
    }
    let mut tags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (weak, after) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let inner = after.strip_prefix('"')?;
        let end = inner.find('"')?;
        let opaque = &inner[..end];
        // etagc: %x21 / %x23-7E (DQUOTE is the delimiter; no spaces or controls).
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b))
        {
            return None;
        }
        tags.push(EntityTag {
            weak,
            opaque: opaque.to_owned(),
        });
        rest = inner[end + 1..].trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return None;
        }
    }
    (!tags.is_empty()).then_some(TagList::Tags(tags))
}

fn tag_list(req: &Request, name: HeaderName) -> Result<Option<TagList>, ApiError> {
    let values: Vec<&HeaderValue> = req.headers().get_all(&name).iter().collect();
    if values.is_empty() {
        return Ok(None);
    }
    let joined: Vec<u8> = values
        .iter()
        .map(|v| v.as_bytes())
        .collect::<Vec<_>>()
        .join(&b","[..]);
    parse_tag_list(&joined)
        .map(Some)
        .ok_or_else(|| malformed(&name))
}

/// `If-Match`, as the domain's precondition. Strong comparison: a weak tag, or a tag that
/// is no version of ours, can never match.
pub fn if_match(req: &Request) -> Result<Precondition, ApiError> {
    Ok(match tag_list(req, header::IF_MATCH)? {
        None => Precondition::None,
        Some(TagList::Any) => Precondition::Any,
        Some(TagList::Tags(tags)) => Precondition::OneOf(
            tags.iter()
                .filter(|t| !t.weak)
                .filter_map(|t| {
                    let v: u64 = t.opaque.parse().ok()?;
                    (v.to_string() == t.opaque).then_some(v)
                })
                .collect(),
        ),
    })
}

/// `If-None-Match`, checked and kept for the answer.
#[derive(Debug, Clone, Default)]
pub struct IfNoneMatch(Option<TagList>);

impl IfNoneMatch {
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        Ok(IfNoneMatch(tag_list(req, header::IF_NONE_MATCH)?))
    }

    /// Whether an answer tagged `etag` is what the client already has (weak comparison).
    pub fn matches(&self, etag: &[u8]) -> bool {
        let Some(TagList::Tags(current)) = parse_tag_list(etag) else {
            return false;
        };
        match &self.0 {
            None => false,
            Some(TagList::Any) => true,
            Some(TagList::Tags(tags)) => tags
                .iter()
                .any(|t| current.iter().any(|c| c.opaque == t.opaque)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tags(raw: &str) -> Option<TagList> {
        parse_tag_list(raw.as_bytes())
    }

    #[test]
    fn parses_star_lists_weak_tags_and_commas_inside_tags() {
        assert_eq!(tags(" * "), Some(TagList::Any));
        let Some(TagList::Tags(t)) = tags("\"1\", W/\"2\",,\"a,b\"") else {
            panic!()
        };
        let opaque: Vec<(&str, bool)> = t.iter().map(|t| (t.opaque.as_str(), t.weak)).collect();
        assert_eq!(opaque, [("1", false), ("2", true), ("a,b", false)]);
    }

    #[test]
    fn refuses_what_is_not_a_tag_list() {
        for bad in [
            "77", "\"77", "\"77\" x", "w/\"1\"", "", " , ", "\"a b\"", "*, \"1\"",
        ] {
            assert_eq!(tags(bad), None, "{bad:?}");
        }
        let mut non_ascii = b"\"77\"".to_vec();
        non_ascii.push(0xc3);
        assert_eq!(parse_tag_list(&non_ascii), None);
    }

    proptest! {
        #[test]
        fn a_version_tag_round_trips(v in any::<u64>(), weak in any::<bool>()) {
            let tag = if weak { format!("W/{}", of_version(v)) } else { of_version(v) };
            let Some(TagList::Tags(t)) = tags(&tag) else { panic!() };
            prop_assert_eq!(t, vec![EntityTag { weak, opaque: v.to_string() }]);
        }

        #[test]
        fn bytes_outside_ascii_are_always_refused(prefix in "[ -~]{0,8}", byte in 0x80u8..=0xff) {
            let mut raw = prefix.into_bytes();
            raw.push(byte);
            prop_assert_eq!(parse_tag_list(&raw), None);
        }
    }
}
