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
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(transparent)]
    Secret(#[from] ps_aws::secrets::SecretError),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

/// The shared HS256 secret, which both signs (auth-api) and verifies (the write routes); and
/// the one before the last rotation, which still verifies, so that a rotation logs nobody
/// out: a token signed before it stays good until it expires.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    previous: Option<DecodingKey>,
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
            previous: None,
            ttl,
        })
    }

    /// Keys from a secret's versions: the current one signs, both verify. A previous value
    /// too short to be a key is not accepted.
    pub fn from_versions(
        versions: &ps_aws::secrets::SecretVersions,
        ttl: Duration,
    ) -> Result<Self, ConfigError> {
        let mut keys = TokenKeys::new(versions.current.as_bytes(), ttl)?;
        keys.previous = versions
            .previous
            .as_deref()
            .filter(|p| p.len() >= MIN_SECRET_BYTES)
            .map(|p| DecodingKey::from_secret(p.as_bytes()));
        Ok(keys)
    }

    /// The key in the Secrets Manager secret `JWT_SECRET_ARN` names (current and previous),
    /// and `TOKEN_TTL_SECONDS` (default 900).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let versions = ps_aws::secrets::read_from_env("JWT_SECRET_ARN").await?;
        TokenKeys::from_versions(&versions, Self::ttl_from_env()?)
    }

    fn ttl_from_env() -> Result<Duration, ConfigError> {
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
        Ok(Duration::from_secs(ttl))
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
        let decoded = match (
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation),
            &self.previous,
        ) {
            (Err(e), Some(previous))
                if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature =>
            {
                jsonwebtoken::decode::<Claims>(token, previous, &validation)
            }
            (decoded, _) => decoded,
        };
        decoded
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

    /// The users in the Secrets Manager secret `AUTH_USERS_SECRET_ARN` names: a JSON object
    /// `{"username": "$argon2id$..."}`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let raw = ps_aws::secrets::read_from_env("AUTH_USERS_SECRET_ARN")
            .await?
            .current;
        Self::from_json(&raw)
    }

    pub fn from_json(raw: &str) -> Result<Self, ConfigError> {
        let users: HashMap<String, String> =
            serde_json::from_str(raw).map_err(|e| ConfigError::Invalid {
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
    use ps_aws::secrets::SecretVersions;

    /// After a rotation the new key signs, and a token signed with the old one still
    /// verifies until it expires; a key from neither version is refused.
    #[test]
    fn a_rotation_keeps_tokens_of_the_previous_key_good() {
        let (old, new) = ("o".repeat(40), "n".repeat(40));
        let ttl = Duration::from_secs(900);
        let before = TokenKeys::from_versions(
            &SecretVersions {
                current: old.clone(),
                previous: None,
            },
            ttl,
        )
        .unwrap();
        let after = TokenKeys::from_versions(
            &SecretVersions {
                current: new.clone(),
                previous: Some(old),
            },
            ttl,
        )
        .unwrap();
        let issued_before = before.issue("alice").unwrap();
        assert_eq!(after.verify(&issued_before).unwrap().sub, "alice");
        let issued_after = after.issue("bob").unwrap();
        assert!(
            before.verify(&issued_after).is_err(),
            "the old key does not know the new"
        );
        let stranger = TokenKeys::new(&[7u8; 40], ttl)
            .unwrap()
            .issue("eve")
            .unwrap();
        assert!(after.verify(&stranger).is_err());
        // An expired token of the previous key is refused like any other.
        let stale = before.issue_at("alice", now() - 2 * 900).unwrap();
        assert!(after.verify(&stale).is_err());
    }

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
