use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::keys::{KeyDigest, generate, parse};
use crate::tenant::{ApiKey, KeyRecord, LimitOverrides, Tenant};

fn pepper() -> Pepper {
    Pepper::new(b"pepper-for-auth-tests".to_vec()).unwrap()
}

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

struct World {
    snapshot: Snapshot,
    clock: ManualClock,
}

impl World {
    fn new() -> Self {
        let clock = ManualClock::new(1_700_000_000_000);
        let mut snapshot = Snapshot::default();
        for (id, status) in [
            ("tenant-a", TenantStatus::Active),
            ("tenant-s", TenantStatus::Suspended),
        ] {
            snapshot.tenants.insert(
                tenant(id),
                Tenant {
                    id: tenant(id),
                    display_name: id.into(),
                    status,
                    limits: LimitOverrides::default(),
                    generator: sextant_model::GeneratorSettings::default(),
                    version: 1,
                    created_at: clock.now(),
                    updated_at: clock.now(),
                },
            );
        }
        Self { snapshot, clock }
    }

    /// Adds a key; returns its full string.
    fn key(&mut self, owner: &str, edit: impl FnOnce(&mut ApiKey)) -> String {
        let (key_id, full) = generate().unwrap();
        let secret = parse(&full).unwrap().secret;
        let mut key = ApiKey {
            key_id: key_id.clone(),
            tenant: tenant(owner),
            scopes: Scopes::read_write(),
            read_tenants: Vec::new(),
            expires_at: None,
            revoked_at: None,
            created_at: self.clock.now(),
            last_used_at: None,
            description: String::new(),
        };
        edit(&mut key);
        let digest = KeyDigest::compute(&pepper(), &secret);
        self.snapshot.keys.insert(key_id, KeyRecord { key, digest });
        full
    }

    fn auth(&self, presented: &str) -> Result<Principal> {
        authenticate(&self.snapshot, presented, &pepper(), self.clock.now())
    }
}

fn refused(r: Result<Principal>) {
    let err = r.expect_err("refused");
    assert!(matches!(err, Error::Unauthenticated), "{err}");
    assert_eq!(err.to_string(), "invalid credentials");
}

#[test]
fn a_valid_key_names_its_tenant_and_scopes() {
    let mut w = World::new();
    let key = w.key("tenant-a", |k| {
        k.scopes = Scopes {
            write: true,
            read: false,
        };
        k.read_tenants = vec![tenant("tenant-s")];
    });
    let p = w.auth(&key).unwrap();
    assert_eq!(p.tenant, tenant("tenant-a"));
    assert_eq!(p.status, TenantStatus::Active);
    assert!(p.scopes.write && !p.scopes.read);
    assert_eq!(p.read_tenants, [tenant("tenant-s")]);
    assert_eq!(p.key_id, parse(&key).unwrap().key_id);
}

#[test]
fn every_bad_key_fails_alike() {
    let mut w = World::new();
    let key = w.key("tenant-a", |_| {});
    refused(w.auth(""));
    refused(w.auth("Basic nonsense"));
    // Unknown key ID with a well-formed string.
    let (_, unknown) = generate().unwrap();
    refused(w.auth(&unknown));
    // The right key ID with another secret (a well-formed key whose ID was swapped in).
    let (_, other) = generate().unwrap();
    let id = parse(&key).unwrap().key_id;
    let forged_body = format!("sxt_{id}_{}", parse(&other).unwrap().secret);
    let forged = forge(&forged_body);
    assert_eq!(parse(&forged).unwrap().key_id, id);
    refused(w.auth(&forged));
    // A key of a tenant missing from the snapshot.
    let orphan = w.key("tenant-a", |k| k.tenant = tenant("tenant-gone"));
    refused(w.auth(&orphan));
    assert!(w.auth(&key).is_ok());
}

/// A well-formed key with a correct checksum for `body` (`sxt_<id>_<secret>`).
fn forge(body: &str) -> String {
    // Try every checksum the parser could accept is too many; recompute it the parser's way.
    let mut value = crc32fast::hash(body.as_bytes());
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut check = [b'0'; 6];
    for slot in check.iter_mut().rev() {
        *slot = B62[(value % 62) as usize];
        value /= 62;
    }
    format!("{body}{}", String::from_utf8(check.to_vec()).unwrap())
}

#[test]
fn revoked_keys_fail() {
    let mut w = World::new();
    let now = w.clock.now();
    let key = w.key("tenant-a", |k| k.revoked_at = Some(now));
    refused(w.auth(&key));
}

#[test]
fn keys_expire_at_their_expiry() {
    let mut w = World::new();
    let at = w.clock.now() + Duration::from_secs(60);
    let key = w.key("tenant-a", |k| k.expires_at = Some(at));
    assert!(w.auth(&key).is_ok());
    w.clock.advance(Duration::from_millis(59_999));
    assert!(w.auth(&key).is_ok());
    w.clock.advance(Duration::from_millis(1));
    refused(w.auth(&key));
}

#[test]
fn a_suspended_tenant_is_returned_with_its_status() {
    let mut w = World::new();
    let key = w.key("tenant-s", |_| {});
    let p = w.auth(&key).unwrap();
    assert_eq!(p.status, TenantStatus::Suspended);
}

#[test]
fn another_pepper_fails() {
    let mut w = World::new();
    let key = w.key("tenant-a", |_| {});
    let other = Pepper::new(b"a different pepper!!".to_vec()).unwrap();
    let err = authenticate(&w.snapshot, &key, &other, w.clock.now()).expect_err("wrong pepper");
    assert!(matches!(err, Error::Unauthenticated));
}
