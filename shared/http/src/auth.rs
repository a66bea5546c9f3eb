//! Bearer tokens (JWT, HS256) and the users who may obtain them (argon2 password hashes).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::OsRng;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::Request;
use lambda_http::http::header;
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::request::header as header_value;

const ISSUER: &str = "placeholder-sync";
/// An HS256 key shorter than its hash output weakens it.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

fn env(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError::Missing(name))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

/// The shared HS256 secret, which both signs (auth-api) and verifies (the write routes).
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Self, ConfigError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET",
                reason: format!("must be at least {MIN_SECRET_BYTES} bytes"),
            });
        }
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        })
    }

    /// `JWT_SECRET` (required) and `TOKEN_TTL_SECONDS` (default 900).
    pub fn from_env() -> Result<Self, ConfigError> {
        let ttl = match std::env::var("TOKEN_TTL_SECONDS") {
            Ok(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or(ConfigError::Invalid {
                    name: "TOKEN_TTL_SECONDS",
                    reason: "must be a positive integer".into(),
                })?,
            Err(_) => 900,
        };
        TokenKeys::new(env("JWT_SECRET")?.as_bytes(), Duration::from_secs(ttl))
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, subject: &str) -> Result<String, ApiError> {
        self.issue_at(subject, now())
    }

    /// Issues a token as if at `issued_at` (tests use it for expired tokens).
    pub fn issue_at(&self, subject: &str, issued_at: u64) -> Result<String, ApiError> {
        let claims = Claims {
            sub: subject.to_owned(),
            iss: ISSUER.to_owned(),
            iat: issued_at,
            exp: issued_at + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("token signing failed: {e}")))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| ApiError::InvalidToken(format!("invalid bearer token: {e}")))
    }

    /// Checks `Authorization: Bearer <token>`; every write route calls this first.
    pub fn authorize(&self, req: &Request) -> Result<Claims, ApiError> {
        let value = header_value(req, header::AUTHORIZATION).ok_or(ApiError::MissingToken)?;
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::InvalidToken(
                "Authorization must be 'Bearer <token>'".into(),
            ));
        }
        self.verify(token.trim())
    }
}

/// Who may log in: username → argon2 PHC string. Plain passwords are never configured.
#[derive(Debug, Clone)]
pub struct UserDirectory {
    users: HashMap<String, String>,
}

/// Checked when the user is unknown, so an unknown name costs as much as a wrong password
/// and timing does not reveal which names exist. An argon2id hash with the default
/// parameters (those `hash_password` uses) of a random password that was thrown away; a
/// match would not log anyone in, the name being unknown. A constant, where hashing one at
/// start took 30-40 ms of every auth-api cold start.
const DECOY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$w1MKbSGsFWBd6+VpqgvAGA$X29UL0OiXvcb2xP35fJYjyEmrIMT7Sbsr7vQUK2/his";

impl UserDirectory {
    pub fn new(users: HashMap<String, String>) -> Result<Self, ConfigError> {
        for (name, phc) in &users {
            PasswordHash::new(phc).map_err(|e| ConfigError::Invalid {
                name: "AUTH_USERS",
                reason: format!("hash of {name} is not a PHC string: {e}"),
            })?;
        }
        Ok(UserDirectory { users })
    }

    /// `AUTH_USERS`: a JSON object `{"username": "$argon2id$..."}`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let raw = env("AUTH_USERS")?;
        let users: HashMap<String, String> =
            serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid {
                name: "AUTH_USERS",
                reason: format!("must be a JSON object of username to argon2 hash: {e}"),
            })?;
        UserDirectory::new(users)
    }

    pub fn verify(&self, username: &str, password: &str) -> bool {
        let (phc, known) = match self.users.get(username) {
            Some(phc) => (phc.as_str(), true),
            None => (DECOY_PHC, false),
        };
        let matches = PasswordHash::new(phc)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    }
}

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn a_fresh_token_verifies_and_names_its_subject() {
        let k = keys();
        assert_eq!(k.verify(&k.issue("demo").unwrap()).unwrap().sub, "demo");
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_fail() {
        let k = keys();
        let expired = k.issue_at("demo", now() - 3600).unwrap();
        assert!(k.verify(&expired).is_err());
        let mut tampered = k.issue("demo").unwrap();
        tampered.push('x');
        assert!(k.verify(&tampered).is_err());
        let other = TokenKeys::new(&[8u8; 32], Duration::from_secs(60)).unwrap();
        assert!(k.verify(&other.issue("demo").unwrap()).is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKeys::new(b"short", Duration::from_secs(60)).is_err());
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let users = UserDirectory::new(HashMap::from([(
            "demo".to_owned(),
            hash_password("demo-password"),
        )]))
        .unwrap();
        assert!(users.verify("demo", "demo-password"));
        assert!(!users.verify("demo", "demo-passworD"));
        assert!(!users.verify("nobody", "demo-password"));
    }

    /// An unknown name must cost what a known one does: the decoy is a real argon2id hash
    /// with the parameters every `hash_password` hash has.
    #[test]
    fn the_decoy_costs_what_a_password_hash_costs() {
        let decoy = PasswordHash::new(DECOY_PHC).unwrap();
        let real_phc = hash_password("x");
        let real = PasswordHash::new(&real_phc).unwrap();
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.version, real.version);
        assert_eq!(decoy.params, real.params);
        assert_eq!(
            decoy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "same output length"
        );
    }
}
