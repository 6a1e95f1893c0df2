//! Same-site redirect targets: `next` is honoured only when it is a path
//! on this site, never another host.

/// `target` if it is a path on this site (`/account?tab=1`), else `None`.
///
/// Refused: anything not starting with a single `/` (`https://evil`,
/// `//evil`, `evil`), backslashes (browsers read `/\evil` as `//evil`),
/// control characters and whitespace, and values over 2048 bytes.
pub fn safe_path(target: &str) -> Option<&str> {
    let ok = target.starts_with('/')
        && !target.starts_with("//")
        && target.len() <= 2048
        && !target.contains('\\')
        && !target.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(target)
}

/// `next` when it is safe, else `fallback`.
pub fn next_or<'a>(next: Option<&'a str>, fallback: &'a str) -> &'a str {
    next.and_then(safe_path).unwrap_or(fallback)
}

/// Percent-encodes `value` for a query string.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_pass() {
        assert_eq!(safe_path("/account?x=1"), Some("/account?x=1"));
        for bad in [
            "//evil.com",
            "https://evil.com",
            "evil",
            "/\\evil.com",
            "/a b",
            "/\nx",
            "",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_path(bad), None, "{bad:?}");
        }
        assert_eq!(next_or(Some("//evil"), "/"), "/");
        assert_eq!(next_or(None, "/home"), "/home");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("/a?b=c&d"), "/a%3Fb%3Dc%26d");
    }
}
