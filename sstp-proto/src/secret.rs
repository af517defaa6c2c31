//! Secrets that must never reach a log: passwords, MPPE keys, binding keys.

use std::fmt;
use zeroize::Zeroize;

/// Bytes that are redacted in `Debug` output and zeroed when dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wrap bytes as a secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
    /// The secret bytes. Callers must not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&[u8]> for Secret {
    fn from(b: &[u8]) -> Self {
        Secret(b.to_vec())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s.into_bytes())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn debug_is_redacted() {
        let s = Secret::from("hunter2".to_string());
        let d = format!("{s:?}");
        assert_eq!(d, "<redacted 7 bytes>");
        assert!(!d.contains("hunter2"));
    }
}
