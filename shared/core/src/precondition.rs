//! What a conditional write requires of the stored version. The HTTP edge reads it from
//! `If-Match` (whose entity tags are versions); the domain only compares versions.

use crate::error::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No condition: the write applies to whatever is current.
    None,
    /// The resource must exist (`If-Match: *`).
    Any,
    /// The stored version must be one of these. Empty when every tag given names no
    /// version of ours (a weak or foreign tag): nothing can then match.
    OneOf(Vec<u64>),
}

impl Precondition {
    pub fn is_none(&self) -> bool {
        matches!(self, Precondition::None)
    }

    /// Whether the write must be conditional on the version it read.
    pub fn pins_version(&self) -> bool {
        matches!(self, Precondition::OneOf(_))
    }

    pub fn check(&self, current_version: u64) -> Result<(), ServiceError> {
        match self {
            Precondition::None | Precondition::Any => Ok(()),
            Precondition::OneOf(versions) if versions.contains(&current_version) => Ok(()),
            Precondition::OneOf(_) => Err(ServiceError::PreconditionFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn no_condition_and_any_accept_every_version() {
        assert_eq!(Precondition::None.check(7), Ok(()));
        assert_eq!(Precondition::Any.check(7), Ok(()));
        assert_eq!(
            Precondition::OneOf(vec![]).check(7),
            Err(ServiceError::PreconditionFailed)
        );
    }

    proptest! {
        #[test]
        fn a_list_matches_if_any_member_does(vs in proptest::collection::vec(0u64..50, 0..5), w in 0u64..50) {
            prop_assert_eq!(Precondition::OneOf(vs.clone()).check(w).is_ok(), vs.contains(&w));
        }
    }
}
