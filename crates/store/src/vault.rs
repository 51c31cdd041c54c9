//! Field encryption at rest (DP-02, DP-03, DP-06): SM4-GCM by default, AES-256-GCM selectable,
//! under data keys that the operator's master key wraps; keyed blind indexes (HMAC-SM3) for exact
//! look-up. Ciphertext is bound to its table, column and row, so it cannot be moved between rows.
//! The master key never touches the database, the logs or a `Debug` output.

use std::collections::HashMap;
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, AesGcm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sm3::Sm3;
use zeroize::Zeroizing;

type Sm4Gcm = AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;
type HmacSm3 = Hmac<Sm3>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the master key must be 64 hexadecimal characters (32 bytes)")]
    BadMasterKey,
    #[error("the master key does not open this database's data keys")]
    WrongMasterKey,
    #[error("no data key {0}")]
    UnknownKey(i64),
    #[error("a sealed value failed to open (altered, or moved from another row)")]
    Inauthentic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sm4Gcm,
    Aes256Gcm,
}

impl Algorithm {
    pub fn code(self) -> &'static str {
        match self {
            Algorithm::Sm4Gcm => "sm4-gcm",
            Algorithm::Aes256Gcm => "aes-256-gcm",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sm4-gcm" => Some(Algorithm::Sm4Gcm),
            "aes-256-gcm" => Some(Algorithm::Aes256Gcm),
            _ => None,
        }
    }
    fn key_len(self) -> usize {
        match self {
            Algorithm::Sm4Gcm => 16,
            Algorithm::Aes256Gcm => 32,
        }
    }
}

/// The operator's master key: from a file or an environment variable, never from the database.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn from_hex(hex_text: &str) -> Result<Self, VaultError> {
        let bytes = Zeroizing::new(hex::decode(hex_text.trim()).map_err(|_| VaultError::BadMasterKey)?);
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| VaultError::BadMasterKey)?;
        Ok(MasterKey(Zeroizing::new(arr)))
    }
    pub fn random() -> Self {
        MasterKey(Zeroizing::new(rand::random()))
    }
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.0))
    }
    /// A sub-key for one purpose, so the master key itself encrypts nothing.
    fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut mac = <HmacSm3 as KeyInit>::new_from_slice(&*self.0).unwrap_or_else(|_| unreachable_hmac());
        mac.update(purpose.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

// HMAC accepts keys of any length; this cannot be reached.
fn unreachable_hmac() -> HmacSm3 {
    <HmacSm3 as KeyInit>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable_hmac())
}

fn seal_with(alg: Algorithm, key: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes: [u8; 12] = rand::random();
    let payload = Payload { msg: plaintext, aad };
    let ct = match alg {
        Algorithm::Sm4Gcm => Sm4Gcm::new_from_slice(key).ok().and_then(|c| c.encrypt(&nonce_bytes.into(), payload).ok()),
        Algorithm::Aes256Gcm => Aes256Gcm::new_from_slice(key).ok().and_then(|c| c.encrypt(&nonce_bytes.into(), payload).ok()),
    };
    let mut out = nonce_bytes.to_vec();
    out.extend(ct.unwrap_or_default());
    out
}

fn open_with(alg: Algorithm, key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < 12 + 16 {
        return Err(VaultError::Inauthentic);
    }
    let (nonce, ct) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| VaultError::Inauthentic)?;
    let payload = Payload { msg: ct, aad };
    let pt = match alg {
        Algorithm::Sm4Gcm => Sm4Gcm::new_from_slice(key).ok().and_then(|c| c.decrypt(&nonce.into(), payload).ok()),
        Algorithm::Aes256Gcm => Aes256Gcm::new_from_slice(key).ok().and_then(|c| c.decrypt(&nonce.into(), payload).ok()),
    };
    pt.ok_or(VaultError::Inauthentic)
}

struct DataKey {
    alg: Algorithm,
    key: Zeroizing<Vec<u8>>,
}

/// A data key as stored: wrapped (sealed) under the master key.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub id: i64,
    pub algorithm: Algorithm,
    pub wrapped: String,
}

/// The keys in use. Shared by every request; rotation adds keys while reads go on.
pub struct Vault {
    master: MasterKey,
    wrap_key: Zeroizing<[u8; 32]>,
    blind_key: Zeroizing<[u8; 32]>,
    keys: RwLock<HashMap<i64, DataKey>>,
    active: RwLock<i64>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(***)")
    }
}

fn wrap_aad(id: i64, alg: Algorithm) -> String {
    format!("data_key/{id}/{}", alg.code())
}

impl Vault {
    pub fn new(master: MasterKey) -> Self {
        let wrap_key = master.derive("wardbook/wrap/v1");
        let blind_key = master.derive("wardbook/blind-index/v1");
        Vault { master, wrap_key, blind_key, keys: RwLock::new(HashMap::new()), active: RwLock::new(0) }
    }

    pub fn master_hex(&self) -> Zeroizing<String> {
        self.master.to_hex()
    }

    /// Makes a new data key and returns it wrapped, for the store to save.
    pub fn new_data_key(&self, id: i64, alg: Algorithm) -> WrappedKey {
        let key: Zeroizing<Vec<u8>> = Zeroizing::new((0..alg.key_len()).map(|_| rand::random::<u8>()).collect());
        let wrapped = seal_with(Algorithm::Sm4Gcm, &self.wrap_key[..16], wrap_aad(id, alg).as_bytes(), &key);
        WrappedKey { id, algorithm: alg, wrapped: B64.encode(wrapped) }
    }

    /// Unwraps a stored data key into the vault; fails if the master key is not the one that wrapped it.
    pub fn install(&self, w: &WrappedKey, active: bool) -> Result<(), VaultError> {
        let sealed = B64.decode(&w.wrapped).map_err(|_| VaultError::WrongMasterKey)?;
        let key = open_with(Algorithm::Sm4Gcm, &self.wrap_key[..16], wrap_aad(w.id, w.algorithm).as_bytes(), &sealed)
            .map_err(|_| VaultError::WrongMasterKey)?;
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert(w.id, DataKey { alg: w.algorithm, key: Zeroizing::new(key) });
        if active {
            *self.active.write().unwrap_or_else(|p| p.into_inner()) = w.id;
        }
        Ok(())
    }

    pub fn active_key(&self) -> i64 {
        *self.active.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn knows(&self, id: i64) -> bool {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).contains_key(&id)
    }

    /// `<key id>.<base64(nonce ‖ ciphertext ‖ tag)>`, bound to `table/column/row`.
    pub fn seal(&self, table: &str, column: &str, row: i64, plaintext: &str) -> String {
        let id = self.active_key();
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let Some(k) = keys.get(&id) else { return String::new() };
        let aad = format!("{table}/{column}/{row}");
        format!("{id}.{}", B64.encode(seal_with(k.alg, &k.key, aad.as_bytes(), plaintext.as_bytes())))
    }

    pub fn open(&self, table: &str, column: &str, row: i64, sealed: &str) -> Result<String, VaultError> {
        let (id, body) = sealed.split_once('.').ok_or(VaultError::Inauthentic)?;
        let id: i64 = id.parse().map_err(|_| VaultError::Inauthentic)?;
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let k = keys.get(&id).ok_or(VaultError::UnknownKey(id))?;
        let bytes = B64.decode(body).map_err(|_| VaultError::Inauthentic)?;
        let aad = format!("{table}/{column}/{row}");
        let pt = open_with(k.alg, &k.key, aad.as_bytes(), &bytes)?;
        String::from_utf8(pt).map_err(|_| VaultError::Inauthentic)
    }

    /// The key id a sealed value was made with.
    pub fn key_of(sealed: &str) -> Option<i64> {
        sealed.split_once('.').and_then(|(id, _)| id.parse().ok())
    }

    /// A keyed blind index of a normalised value: equal inputs give equal tokens; the token
    /// reveals nothing without the key. `kind` separates columns so tokens do not collide.
    pub fn blind(&self, kind: &str, normalised: &str) -> String {
        let mut mac = <HmacSm3 as KeyInit>::new_from_slice(&*self.blind_key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(normalised.as_bytes());
        B64.encode(&mac.finalize().into_bytes()[..20])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8998_sm4_gcm_vector() {
        // RFC 8998 appendix A.1.
        let key = hex::decode("0123456789ABCDEFFEDCBA9876543210").expect("hex");
        let iv = hex::decode("00001234567800000000ABCD").expect("hex");
        let aad = hex::decode("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2").expect("hex");
        let pt = hex::decode(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        )
        .expect("hex");
        let want = "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D83DE3541E4C2B58177E065A9BF7B62EC";
        let c = Sm4Gcm::new_from_slice(&key).expect("key");
        let nonce: [u8; 12] = iv.as_slice().try_into().expect("iv");
        let ct = c.encrypt(&nonce.into(), Payload { msg: &pt, aad: &aad }).expect("encrypt");
        assert_eq!(hex::encode_upper(ct), want);
    }

    fn vault(alg: Algorithm) -> Vault {
        let v = Vault::new(MasterKey::random());
        let w = v.new_data_key(1, alg);
        v.install(&w, true).expect("install");
        v
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        for alg in [Algorithm::Sm4Gcm, Algorithm::Aes256Gcm] {
            let v = vault(alg);
            let s = v.seal("people", "id_number", 7, "11010519491231002X");
            assert!(!s.contains("11010519491231002X"));
            assert_eq!(v.open("people", "id_number", 7, &s).as_deref(), Ok("11010519491231002X"));
            // Moved to another row or column, it does not open.
            assert_eq!(v.open("people", "id_number", 8, &s), Err(VaultError::Inauthentic));
            assert_eq!(v.open("people", "phone", 7, &s), Err(VaultError::Inauthentic));
            // Nonces are fresh: the same value seals differently each time.
            assert_ne!(s, v.seal("people", "id_number", 7, "11010519491231002X"));
        }
    }

    #[test]
    fn wrong_master_key_is_refused_and_blind_index_is_keyed() {
        let a = Vault::new(MasterKey::random());
        let w = a.new_data_key(1, Algorithm::Sm4Gcm);
        let b = Vault::new(MasterKey::random());
        assert_eq!(b.install(&w, true), Err(VaultError::WrongMasterKey));
        assert_eq!(a.blind("rid", "11010519491231002X"), a.blind("rid", "11010519491231002X"));
        assert_ne!(a.blind("rid", "11010519491231002X"), b.blind("rid", "11010519491231002X"));
        assert_ne!(a.blind("rid", "x"), a.blind("phone", "x"));
        assert!(MasterKey::from_hex("abcd").is_err());
        assert_eq!(format!("{:?}", MasterKey::random()), "MasterKey(***)");
    }
}
