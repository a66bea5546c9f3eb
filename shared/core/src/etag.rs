//! Entity tags are the stored version, so `If-Match` maps onto a conditional write.

use crate::error::ServiceError;

pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// An `If-Match` request header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: the write applies to whatever is current.
    None,
    /// `If-Match: *`: the resource must exist.
    Any,
    /// The current ETag must be one of these (strong comparison, RFC 9110 13.1.1).
    OneOf(Vec<String>),
}

impl Precondition {
    pub fn parse(header: Option<&str>) -> Precondition {
        let Some(raw) = header else {
            return Precondition::None;
        };
        if raw.trim() == "*" {
            return Precondition::Any;
        }
        Precondition::OneOf(
            raw.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Precondition::None)
    }

    pub fn check(&self, current_version: u64) -> Result<(), ServiceError> {
        match self {
            Precondition::None | Precondition::Any => Ok(()),
            Precondition::OneOf(tags) => {
                let current = etag(current_version);
                // Weak tags (W/"..") never match under strong comparison.
                if tags.contains(&current) {
                    Ok(())
                } else {
                    Err(ServiceError::PreconditionFailed)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn absent_header_and_star_accept_any_version() {
        assert_eq!(Precondition::parse(None).check(7), Ok(()));
        assert_eq!(Precondition::parse(Some(" * ")).check(7), Ok(()));
    }

    #[test]
    fn weak_tag_does_not_match() {
        assert_eq!(
            Precondition::parse(Some("W/\"7\"")).check(7),
            Err(ServiceError::PreconditionFailed)
        );
    }

    proptest! {
        #[test]
        fn a_tag_matches_exactly_its_own_version(v in 0u64..u64::MAX, w in 0u64..u64::MAX) {
            let p = Precondition::parse(Some(&etag(v)));
            prop_assert_eq!(p.check(w).is_ok(), v == w);
        }

        #[test]
        fn a_list_matches_if_any_member_does(vs in proptest::collection::vec(0u64..50, 1..5), w in 0u64..50) {
            let header = vs.iter().map(|v| etag(*v)).collect::<Vec<_>>().join(", ");
            prop_assert_eq!(Precondition::parse(Some(&header)).check(w).is_ok(), vs.contains(&w));
        }
    }
}
