//! Hub tokens: who may read or write which tenant, signed by the hub with HMAC-SHA256.
//!
//! A token is `rem1.<claims>.<signature>`, both parts base64url without padding; the claims are
//! JSON naming the signing key (`kid`), so keys can be rotated: the hub keeps every key it
//! still accepts in `hub-keys.json` in its data directory and signs with the newest.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::kv::Kv;

const PREFIX: &str = "rem1.";

/// Longest token the hub reads.
pub const MAX_TOKEN_LEN: usize = 4096;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The signing key's id.
    pub kid: String,
    /// The one tenant the token opens.
    pub tenant: String,
    /// When set, only this device may push with the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Pulls only.
    #[serde(default)]
    pub read_only: bool,
    /// May push schema changes.
    #[serde(default)]
    pub admin: bool,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// The hub's signing keys, by id; the newest signs.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenKeys {
    /// The key new tokens are signed with.
    pub current: String,
    /// Every accepted key (hex secrets), by id.
    keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(bytes * 2);
    out
}

/// Where [`TokenKeys::load_or_create_in`] keeps the keys: one key outside every tenant.
const STORED_KEYS: &[u8] = b"hub-keys";

impl TokenKeys {
    /// The keys in `dir/hub-keys.json`, created with one fresh 256-bit key when missing.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join("hub-keys.json");
        match std::fs::read(&path) {
            Ok(raw) => serde_json::from_slice(&raw)
                .map_err(|e| Error::storage(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(Error::storage)?;
                let keys = Self::fresh();
                let raw = serde_json::to_vec_pretty(&keys).map_err(Error::storage)?;
                std::fs::write(&path, raw).map_err(Error::storage)?;
                Ok(keys)
            }
            Err(e) => Err(Error::storage(format!("{}: {e}", path.display()))),
        }
    }

    /// The keys stored in `kv` (a hub's storage shared by several `rem serve` processes, which
    /// must all sign and verify alike), created with one fresh key when missing. The first
    /// process creates them; the others, waiting on [`Kv::exclusive`], read them.
    pub fn load_or_create_in(kv: &dyn Kv) -> Result<Self> {
        let _only_writer = kv.exclusive(STORED_KEYS)?;
        if let Some(raw) = kv.get(STORED_KEYS)? {
            return serde_json::from_slice(&raw)
                .map_err(|e| Error::storage(format!("the hub's stored keys: {e}")));
        }
        let keys = Self::fresh();
        kv.put(
            STORED_KEYS,
            &serde_json::to_vec(&keys).map_err(Error::storage)?,
        )?;
        Ok(keys)
    }

    /// One new 256-bit key, the signing one.
    fn fresh() -> Self {
        let kid = random_hex(4);
        TokenKeys {
            current: kid.clone(),
            keys: BTreeMap::from([(kid, random_hex(32))]),
        }
    }

    /// Adds a new key and makes it the signing one; older keys stay accepted.
    pub fn rotate(&mut self) -> String {
        let kid = random_hex(4);
        self.keys.insert(kid.clone(), random_hex(32));
        self.current = kid.clone();
        kid
    }

    fn mac(&self, kid: &str, payload: &str) -> Result<Hmac<Sha256>> {
        let secret = self.keys.get(kid).ok_or_else(|| {
            Error::InvalidArgument(format!("token signed with unknown key `{kid}`"))
        })?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| Error::storage("bad hub key"))?;
        mac.update(PREFIX.as_bytes());
        mac.update(payload.as_bytes());
        Ok(mac)
    }

    /// A signed token with `claims` (its `kid` is set to the current key).
    pub fn issue(&self, mut claims: Claims) -> Result<String> {
        claims.kid = self.current.clone();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).map_err(Error::storage)?);
        let signature = self.mac(&claims.kid, &payload)?.finalize().into_bytes();
        Ok(format!(
            "{PREFIX}{payload}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The claims of a token this hub signed and that has not expired at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims> {
        let bad = |why: &str| Error::InvalidArgument(format!("token refused: {why}"));
        if token.len() > MAX_TOKEN_LEN {
            return Err(bad("too long"));
        }
        let rest = token
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("not a remdb hub token"))?;
        let (payload, signature) = rest.split_once('.').ok_or_else(|| bad("malformed"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad("malformed claims"))?;
        let claims: Claims = serde_json::from_slice(&raw).map_err(|_| bad("malformed claims"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| bad("malformed signature"))?;
        self.mac(&claims.kid, payload)
            .map_err(|_| bad("unknown signing key"))?
            .verify_slice(&signature)
            .map_err(|_| bad("bad signature"))?;
        if claims.exp <= now {
            return Err(bad("expired"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            kid: String::new(),
            tenant: "acme".into(),
            device: None,
            read_only: false,
            admin: false,
            exp: 2_000,
        }
    }

    #[test]
    fn tokens_verify_until_they_expire_and_not_after_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let keys = TokenKeys::load_or_create(dir.path()).unwrap();
        let token = keys.issue(claims()).unwrap();
        assert_eq!(keys.verify(&token, 1_000).unwrap().tenant, "acme");
        assert!(keys
            .verify(&token, 2_000)
            .unwrap_err()
            .to_string()
            .contains("expired"));
        // Another tenant's name in the same signature.
        let (head, sig) = token.rsplit_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                tenant: "other".into(),
                kid: keys.current.clone(),
                ..claims()
            })
            .unwrap(),
        );
        let forged = format!("{PREFIX}{forged_claims}.{sig}");
        assert!(keys
            .verify(&forged, 1_000)
            .unwrap_err()
            .to_string()
            .contains("bad signature"));
        assert!(keys.verify(&format!("{head}.AAAA"), 1_000).is_err());
        assert!(keys.verify("garbage", 1_000).is_err());
        // Another hub's keys do not verify it; the same hub reopened does.
        let other = TokenKeys::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.verify(&token, 1_000).is_err());
        assert!(TokenKeys::load_or_create(dir.path())
            .unwrap()
            .verify(&token, 1_000)
            .is_ok());
    }

    #[test]
    fn rotated_keys_keep_old_tokens_valid() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = TokenKeys::load_or_create(dir.path()).unwrap();
        let old = keys.issue(claims()).unwrap();
        keys.rotate();
        let new = keys.issue(claims()).unwrap();
        assert!(keys.verify(&old, 1_000).is_ok() && keys.verify(&new, 1_000).is_ok());
        assert_ne!(
            keys.verify(&new, 1_000).unwrap().kid,
            keys.verify(&old, 1_000).unwrap().kid
        );
    }
}
