use crate::validation::ValidationErrors;

/// Why a store operation did not happen. The ports speak this, whatever backs them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A conditional write lost: the item's version is no longer the one expected.
    #[error("the item changed since it was read")]
    VersionConflict,
    /// A comment's post does not exist (or vanished during the write).
    #[error("the parent post does not exist")]
    ParentMissing,
    /// An `Idempotency-Key` already used for a request with another body.
    #[error("this Idempotency-Key was used with another request")]
    KeyReused,
    /// The first request with this `Idempotency-Key` is still being written.
    #[error("a request with this Idempotency-Key is still being processed")]
    KeyInFlight,
    #[error("storage backend failed: {0}")]
    Backend(String),
}

/// Why a request to the domain failed. The HTTP layer maps each kind to one status code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("validation failed")]
    Invalid(ValidationErrors),
    #[error("{0} not found")]
    NotFound(String),
    #[error("precondition failed: the resource has changed (ETag mismatch)")]
    PreconditionFailed,
    #[error("{0}")]
    Conflict(String),
    /// Well-formed, but not to be done (an `Idempotency-Key` reused with another body).
    #[error("{0}")]
    Unprocessable(String),
    #[error("storage temporarily unavailable")]
    Unavailable(String),
}

impl From<ValidationErrors> for ServiceError {
    fn from(errors: ValidationErrors) -> Self {
        ServiceError::Invalid(errors)
    }
}
