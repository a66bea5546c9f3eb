//! Short keyed-free digests as hex: what the edge stores or logs instead of a client's own
//! text (a user name, a request body).

use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};

/// The BLAKE2b digest of `parts` (each followed by a 0 byte, so part boundaries count), `bytes`
/// long (1 to 64), as lowercase hex.
pub fn hex(parts: &[&[u8]], bytes: usize) -> String {
    let mut hasher = Blake2bVar::new(bytes).expect("a digest length from 1 to 64");
    for part in parts {
        hasher.update(part);
        hasher.update(&[0]);
    }
    let mut out = vec![0u8; bytes];
    hasher
        .finalize_variable(&mut out)
        .expect("the buffer has the length asked for");
    out.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_stable_sized_and_see_part_boundaries() {
        let d = super::hex(&[b"ab", b"c"], 12);
        assert_eq!(d.len(), 24);
        assert_eq!(d, super::hex(&[b"ab", b"c"], 12));
        assert_ne!(d, super::hex(&[b"a", b"bc"], 12));
    }
}
