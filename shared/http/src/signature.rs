//! Who sent a request, proven by an HMAC-SHA256 of its timestamp and exact body with the
//! client's secret (`X-Ingest-Signature: t=<unix seconds>,client=<name>,v1=<hex>`), as
//! payment webhooks sign theirs. The timestamp bounds a replay to its window; the
//! comparison takes constant time.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const HEADER: &str = "x-ingest-signature";
/// A signature older than this is refused: a captured request cannot be replayed later.
pub const MAX_AGE_SECONDS: u64 = 300;
/// Clocks disagree a little: a timestamp this far ahead still counts.
pub const MAX_AHEAD_SECONDS: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Ingest-Signature: sign each request (see the README's ingest section)")]
    Missing,
    #[error(
        "X-Ingest-Signature must be t=<unix seconds>,client=<name>,v1=<64 hex digits of HMAC-SHA256(secret, \"<t>.<body>\")>"
    )]
    Malformed,
    #[error(
        "the signature's timestamp is more than {MAX_AGE_SECONDS} s old: sign each request as it is sent"
    )]
    TooOld,
    #[error(
        "the signature's timestamp is more than {MAX_AHEAD_SECONDS} s in the future: check the client's clock"
    )]
    InTheFuture,
    /// One answer for both, so the answer does not tell which client names exist.
    #[error("unknown client or wrong signature")]
    Refused,
}

/// The header's three parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub timestamp: u64,
    pub client: String,
    pub mac: Vec<u8>,
}

pub fn parse(header: Option<&str>) -> Result<Signed, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut client = None;
    let mut mac = None;
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        let slot = match name {
            "t" => &mut timestamp,
            "client" => &mut client,
            "v1" => &mut mac,
            _ => return Err(SignatureError::Malformed),
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(SignatureError::Malformed);
        }
    }
    let timestamp = timestamp
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or(SignatureError::Malformed)?;
    let client = client
        .filter(|c| valid_client_name(c))
        .ok_or(SignatureError::Malformed)?;
    let mac = mac
        .filter(|m| m.len() == 64)
        .and_then(|m| hex::decode(m).ok())
        .ok_or(SignatureError::Malformed)?;
    Ok(Signed {
        timestamp,
        client,
        mac,
    })
}

/// Letters, digits, `-` and `_`, 1 to 64 of them: safe in item keys and logs.
pub fn valid_client_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The MAC a client sends for `body` at `timestamp` (what the README's example computes).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The whole `X-Ingest-Signature` value `client` sends for `body` at `timestamp`.
pub fn header_value(client: &str, secret: &str, timestamp: u64, body: &[u8]) -> String {
    format!(
        "t={timestamp},client={client},v1={}",
        sign(secret, timestamp, body)
    )
}

/// One of a client's secrets; a rotated-out one stays valid `until` then (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
}

/// The machine clients and their secrets: the `IngestClientsSecret` secret's JSON,
/// `{"acme": {"secrets": [{"value": "…"}, {"value": "old", "until": 1796700000}]}}`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clients(pub HashMap<String, Client>);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub secrets: Vec<ClientSecret>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Clients {
    /// The client that signed `body` as `signed` says, if its timestamp is in the window
    /// and one of the client's live secrets makes the same MAC.
    pub fn verify(&self, signed: &Signed, body: &[u8], now: u64) -> Result<String, SignatureError> {
        if signed.timestamp + MAX_AGE_SECONDS < now {
            return Err(SignatureError::TooOld);
        }
        if signed.timestamp > now + MAX_AHEAD_SECONDS {
            return Err(SignatureError::InTheFuture);
        }
        let client = self.0.get(&signed.client).ok_or(SignatureError::Refused)?;
        let live = client
            .secrets
            .iter()
            .filter(|s| s.until.is_none_or(|until| until >= now));
        let mut matched = false;
        // Every live secret is tried, so the time taken does not tell which one matched.
        for secret in live {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.value.as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(signed.timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            matched |= mac.verify_slice(&signed.mac).is_ok();
        }
        if matched {
            Ok(signed.client.clone())
        } else {
            Err(SignatureError::Refused)
        }
    }
}

/// A new client secret: 32 random bytes as hex.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientsError {
    #[error("client names are 1 to 64 letters, digits, - or _")]
    BadName,
    #[error("client {0} exists already (rotate its secret, or revoke it first)")]
    Exists(String),
    #[error("no client {0}")]
    Unknown(String),
}

impl Clients {
    /// Adds `name` with a new secret, which it returns (shown once, kept nowhere else).
    pub fn add(&mut self, name: &str) -> Result<String, ClientsError> {
        if !valid_client_name(name) {
            return Err(ClientsError::BadName);
        }
        if self.0.contains_key(name) {
            return Err(ClientsError::Exists(name.to_owned()));
        }
        let secret = new_secret();
        self.0.insert(
            name.to_owned(),
            Client {
                secrets: vec![ClientSecret {
                    value: secret.clone(),
                    until: None,
                }],
            },
        );
        Ok(secret)
    }

    /// Gives `name` a new secret; the ones it had stay valid for `grace` seconds from `now`
    /// (so the client can switch without a refused request), and those already past their
    /// grace are dropped.
    pub fn rotate(&mut self, name: &str, grace: u64, now: u64) -> Result<String, ClientsError> {
        let client = self
            .0
            .get_mut(name)
            .ok_or_else(|| ClientsError::Unknown(name.to_owned()))?;
        client.secrets.retain(|s| s.until.is_none_or(|u| u >= now));
        for old in &mut client.secrets {
            old.until = Some(old.until.map_or(now + grace, |u| u.min(now + grace)));
        }
        let secret = new_secret();
        client.secrets.insert(
            0,
            ClientSecret {
                value: secret.clone(),
                until: None,
            },
        );
        Ok(secret)
    }

    /// Removes `name` and every secret it had, at once.
    pub fn revoke(&mut self, name: &str) -> Result<(), ClientsError> {
        self.0
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| ClientsError::Unknown(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> Clients {
        Clients(HashMap::from([(
            "acme".to_owned(),
            Client {
                secrets: vec![
                    ClientSecret {
                        value: "new-secret".into(),
                        until: None,
                    },
                    ClientSecret {
                        value: "old-secret".into(),
                        until: Some(2_000),
                    },
                ],
            },
        )]))
    }

    fn header(secret: &str, t: u64, body: &[u8]) -> String {
        header_value("acme", secret, t, body)
    }

    #[test]
    fn a_signed_body_is_its_clients_and_nothing_else() {
        let body = br#"{"items":[]}"#;
        let signed = parse(Some(&header("new-secret", 1_000, body))).unwrap();
        assert_eq!(clients().verify(&signed, body, 1_000).unwrap(), "acme");
        let tampered = br#"{"items":[1]}"#;
        assert_eq!(
            clients().verify(&signed, tampered, 1_000),
            Err(SignatureError::Refused)
        );
        let stranger = parse(Some(&format!(
            "t=1000,client=nobody,v1={}",
            sign("new-secret", 1_000, body)
        )))
        .unwrap();
        assert_eq!(
            clients().verify(&stranger, body, 1_000),
            Err(SignatureError::Refused)
        );
    }

    #[test]
    fn the_timestamp_bounds_a_replay() {
        let body = b"{}";
        let signed = parse(Some(&header("new-secret", 1_000, body))).unwrap();
        assert!(clients().verify(&signed, body, 1_300).is_ok());
        assert_eq!(
            clients().verify(&signed, body, 1_301),
            Err(SignatureError::TooOld)
        );
        assert!(clients().verify(&signed, body, 940).is_ok());
        assert_eq!(
            clients().verify(&signed, body, 939),
            Err(SignatureError::InTheFuture)
        );
    }

    #[test]
    fn a_rotated_out_secret_works_until_its_grace_ends() {
        let body = b"{}";
        let old = parse(Some(&header("old-secret", 2_000, body))).unwrap();
        assert!(clients().verify(&old, body, 2_000).is_ok());
        let later = parse(Some(&header("old-secret", 2_001, body))).unwrap();
        assert_eq!(
            clients().verify(&later, body, 2_001),
            Err(SignatureError::Refused)
        );
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_its_grace_and_revocation_ends_all() {
        let mut clients = Clients::default();
        let first = clients.add("acme").unwrap();
        assert_eq!(
            clients.add("acme"),
            Err(ClientsError::Exists("acme".into()))
        );
        assert_eq!(clients.add("no spaces"), Err(ClientsError::BadName));
        let second = clients.rotate("acme", 600, 10_000).unwrap();
        assert_ne!(first, second);
        let with = |secret: &str, t: u64| {
            let signed = parse(Some(&format!(
                "t={t},client=acme,v1={}",
                sign(secret, t, b"x")
            )))
            .unwrap();
            clients.verify(&signed, b"x", t)
        };
        assert!(with(&first, 10_600).is_ok(), "the old secret in its grace");
        assert!(with(&first, 10_601).is_err(), "and not after");
        assert!(with(&second, 20_000).is_ok());
        clients.revoke("acme").unwrap();
        let signed = parse(Some(&format!(
            "t=20000,client=acme,v1={}",
            sign(&second, 20_000, b"x")
        )))
        .unwrap();
        assert_eq!(
            clients.verify(&signed, b"x", 20_000),
            Err(SignatureError::Refused)
        );
        assert_eq!(
            clients.revoke("acme"),
            Err(ClientsError::Unknown("acme".into()))
        );
    }

    #[test]
    fn a_header_in_the_wrong_form_says_the_right_form() {
        let good = "0".repeat(64);
        for bad in [
            "".to_owned(),
            "t=1,client=acme".to_owned(),
            format!("t=x,client=acme,v1={good}"),
            format!("t=1,client=ac me,v1={good}"),
            "t=1,client=acme,v1=abc".to_owned(),
            format!("t=1,t=2,client=acme,v1={good}"),
            format!("t=1,client=acme,v1={good},v0=1"),
            format!("sha256={good}"),
        ] {
            assert_eq!(parse(Some(&bad)), Err(SignatureError::Malformed), "{bad}");
        }
        assert_eq!(parse(None), Err(SignatureError::Missing));
    }
}
