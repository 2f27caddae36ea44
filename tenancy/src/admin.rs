//! Operators: admin users (a name and an Argon2id password, for the console) and admin tokens
//! (bearer credentials for the admin API and for acting on any tenant).

use std::sync::OnceLock;
use std::time::SystemTime;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use sextant_model::TenantId;

use crate::error::{Error, Result};
use crate::keys::Pepper;

/// An admin user as listed: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub name: String,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// An admin token as listed: never the token nor its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    pub token_id: String,
    /// Who or what the token is for (audit and access logs).
    pub name: String,
    pub created_at: SystemTime,
    pub expires_at: Option<SystemTime>,
    pub revoked_at: Option<SystemTime>,
}

impl AdminToken {
    /// Whether the token is neither revoked nor expired at `now`.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// What [`crate::bootstrap`] created on a first start; the secrets print as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The generated admin token, to be shown once; `None` when the operator supplied one.
    pub admin_token: Option<String>,
    /// The single tenant (`single-tenant`).
    pub tenant: TenantId,
    /// A read and write key of that tenant, to be shown once.
    pub key: String,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap")
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("tenant", &self.tenant)
            .field("key", &"***")
            .finish()
    }
}

/// Admin users and tokens in the control-plane database. Token mutations bump the tenancy
/// revision (tokens are part of the snapshot); user mutations do not.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Creates an admin user with an Argon2id hash of `password`; an existing name is a
    /// conflict.
    async fn create_admin_user(&self, name: &str, password: &str) -> Result<AdminUser>;

    /// Every admin user, ordered by name.
    async fn list_admin_users(&self) -> Result<Vec<AdminUser>>;

    /// Whether `password` is `name`'s (false for an unknown user, after the same work). A hash
    /// made with weaker parameters than today's is replaced on success.
    async fn verify_admin_password(&self, name: &str, password: &str) -> Result<bool>;

    /// Creates a token `sxa_…` for `name`; returns it with the whole token string, which is
    /// never stored and cannot be shown again.
    async fn create_admin_token(
        &self,
        name: &str,
        expires_at: Option<SystemTime>,
        pepper: &Pepper,
    ) -> Result<(AdminToken, String)>;

    /// Records an operator-supplied token (any string of at least
    /// [`MIN_SUPPLIED_TOKEN_LEN`] characters, not starting with `sxt_`); supplying the same
    /// string again returns the token already recorded.
    async fn insert_admin_token_secret(
        &self,
        name: &str,
        secret: &str,
        pepper: &Pepper,
    ) -> Result<AdminToken>;

    /// Every admin token, revoked ones included, ordered by creation then ID.
    async fn list_admin_tokens(&self) -> Result<Vec<AdminToken>>;

    /// Revokes a token (again keeps the first time); an unknown token is not found.
    async fn revoke_admin_token(&self, token_id: &str) -> Result<AdminToken>;

    /// Whether the database holds no tenant, admin token or admin user: a first start.
    async fn is_empty(&self) -> Result<bool>;
}

/// The shortest operator-supplied admin token accepted.
pub const MIN_SUPPLIED_TOKEN_LEN: usize = 32;

/// The shortest admin password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Checks an admin user or token name: 1 to 64 printable characters.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} name must be 1 to 64 printable characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_supplied_token(secret: &str) -> Result<()> {
    if secret.chars().count() < MIN_SUPPLIED_TOKEN_LEN {
        return Err(Error::Invalid(format!(
            "an admin token must be at least {MIN_SUPPLIED_TOKEN_LEN} characters"
        )));
    }
    if secret.starts_with(crate::keys::KEY_PREFIX) {
        return Err(Error::Invalid(
            "an admin token must not start with sxt_ (that is an API key)".into(),
        ));
    }
    Ok(())
}

/// Argon2id with OWASP's parameters: 19 MiB, 2 passes, 1 lane.
pub(crate) const M_COST_KIB: u32 = 19_456;
pub(crate) const T_COST: u32 = 2;
pub(crate) const P_COST: u32 = 1;

fn hasher(m: u32, t: u32, p: u32) -> Result<Argon2<'static>> {
    let params =
        Params::new(m, t, p, None).map_err(|e| Error::Invalid(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// An Argon2id PHC string of `password` with the given cost parameters.
pub(crate) fn hash_password_with(password: &str, m: u32, t: u32, p: u32) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Random(e.to_string()))?;
    let hash = hasher(m, t, p)?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Invalid(format!("hash password: {e}")))?;
    Ok(hash.to_string())
}

/// An Argon2id PHC string of `password` with today's parameters.
pub(crate) fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "an admin password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    hash_password_with(password, M_COST_KIB, T_COST, P_COST)
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    Wrong,
    Right,
    /// Right, and the stored hash is weaker than today's: store this one instead.
    RightRehashed(String),
}

/// Checks `password` against the PHC string `stored`.
pub(crate) fn check_password(stored: &str, password: &str) -> Result<Checked> {
    let parsed = PasswordHash::new(stored)
        .map_err(|e| Error::Corrupt(format!("admin password hash: {e}")))?;
    let params =
        Params::try_from(&parsed).map_err(|e| Error::Corrupt(format!("argon2 params: {e}")))?;
    // Verified with the parameters in the hash, whatever they are.
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    if !ok {
        return Ok(Checked::Wrong);
    }
    let weaker = parsed.algorithm.as_str() != Algorithm::Argon2id.as_str()
        || params.m_cost() < M_COST_KIB
        || params.t_cost() < T_COST
        || params.p_cost() < P_COST;
    if weaker {
        Ok(Checked::RightRehashed(hash_password_with(
            password, M_COST_KIB, T_COST, P_COST,
        )?))
    } else {
        Ok(Checked::Right)
    }
}

/// Spends the work of one check for an unknown user, so timing does not tell which names
/// exist.
pub(crate) fn check_dummy(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a real password").ok());
    if let Some(dummy) = dummy {
        let _ = check_password(dummy, password);
    }
}

/// Runs CPU-heavy password work off the async executor.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Invalid(format!("password task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_owasp_argon2id_phc_strings() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(
            check_password(&phc, "correct horse").unwrap(),
            Checked::Right
        );
        assert_eq!(check_password(&phc, "wrong horse").unwrap(), Checked::Wrong);
        assert_ne!(phc, hash_password("correct horse").unwrap(), "salted");
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn weaker_hashes_are_rehashed() {
        let weak = hash_password_with("correct horse", 64, 1, 1).unwrap();
        let Checked::RightRehashed(new) = check_password(&weak, "correct horse").unwrap() else {
            panic!("a weak hash was not rehashed");
        };
        assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            check_password(&new, "correct horse").unwrap(),
            Checked::Right
        );
        assert_eq!(check_password(&weak, "nope").unwrap(), Checked::Wrong);
        assert!(check_password("not a phc string", "x").is_err());
    }

    #[test]
    fn names_and_supplied_tokens() {
        assert!(check_name("user", "alice").is_ok());
        assert!(check_name("user", "").is_err());
        assert!(check_name("user", "a\nb").is_err());
        assert!(check_supplied_token(&"x".repeat(31)).is_err());
        assert!(check_supplied_token(&"x".repeat(32)).is_ok());
        assert!(check_supplied_token(&format!("sxt_{}", "x".repeat(40))).is_err());
    }
}
