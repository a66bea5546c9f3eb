//! The domain of placeholder-sync, free of AWS: what posts and comments are, what a valid
//! write looks like, how lists are filtered and paged, and the narrow store ports the
//! handlers are given. Everything here is testable in memory.

pub mod change;
pub mod drift;
pub mod error;
pub mod ingest;
pub mod login;
pub mod merge;
pub mod model;
pub mod ports;
pub mod precondition;
pub mod query;
pub mod service;
pub mod validation;

pub use error::{ServiceError, StoreError};
pub use model::{Comment, NEW_POST_USER_ID, Post, Versioned};
