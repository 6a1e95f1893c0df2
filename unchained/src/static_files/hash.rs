//! The content hash of a static file: what `static_url` puts in `?v=` and
//! the `ETag` carries.

use sha2::{Digest, Sha256};

/// How many hex digits of the SHA-256 are kept: 48 bits, plenty to tell
/// one version of a file from the next.
const HASH_LEN: usize = 12;

/// The first 12 hex digits of the SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(HASH_LEN);
    for byte in digest.iter().take(HASH_LEN / 2) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_hex_digits_of_sha256() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(content_hash(b""), "e3b0c44298fc");
        assert_eq!(content_hash(b"abc"), "ba7816bf8f01");
        assert_ne!(content_hash(b"body {}"), content_hash(b"body { }"));
    }
}
