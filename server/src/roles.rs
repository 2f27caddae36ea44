//! Roles (`server.target`, `--target`): which parts of Sextant one process runs. `all` (the
//! default) runs every role in one process. A scaled deployment runs the roles apart; today
//! the roles that share their state only through the control-plane database and object
//! storage can run apart — `compactor` (retention, compaction, tenant data removal) and
//! `admin` (the admin API) — while `gateway`, `ingester` and `querier` still need each other in
//! one process (their cluster transport is not built yet) and `generator` is not built.

use std::collections::BTreeSet;

/// One role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Role {
    Gateway,
    Ingester,
    Querier,
    Compactor,
    Generator,
    Admin,
}

impl Role {
    const ALL: [Role; 6] = [
        Role::Gateway,
        Role::Ingester,
        Role::Querier,
        Role::Compactor,
        Role::Generator,
        Role::Admin,
    ];

    fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Ingester => "ingester",
            Role::Querier => "querier",
            Role::Compactor => "compactor",
            Role::Generator => "generator",
            Role::Admin => "admin",
        }
    }

    /// Whether the role can run in a process without the others.
    fn runs_apart(self) -> bool {
        matches!(self, Role::Compactor | Role::Admin)
    }
}

/// The roles of this process: every role, or some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roles {
    All,
    Some(BTreeSet<Role>),
}

impl Roles {
    /// Parses `all` or a comma-separated list of role names; every problem is named.
    pub(crate) fn parse(text: &str) -> Result<Roles, String> {
        let names: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() || names == ["all"] {
            return Ok(Roles::All);
        }
        let mut roles = BTreeSet::new();
        for name in names {
            let role = Role::ALL
                .into_iter()
                .find(|r| r.name() == name)
                .ok_or_else(|| {
                    format!(
                        "unknown role {name:?} (all, gateway, ingester, querier, compactor, \
                         generator, admin)"
                    )
                })?;
            roles.insert(role);
        }
        if let Some(role) = roles.iter().find(|r| !r.runs_apart()) {
            return Err(format!(
                "role {} cannot run apart from the others yet (the roles' cluster transport is \
                 not built): run it within `all`; compactor and admin can run apart",
                role.name()
            ));
        }
        Ok(Roles::Some(roles))
    }

    pub(crate) fn is_all(&self) -> bool {
        matches!(self, Roles::All)
    }

    pub(crate) fn has(&self, role: Role) -> bool {
        match self {
            Roles::All => true,
            Roles::Some(roles) => roles.contains(&role),
        }
    }
}

impl std::fmt::Display for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Roles::All => f.write_str("all"),
            Roles::Some(roles) => {
                let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_refuse_what_cannot_run_apart() {
        assert_eq!(Roles::parse("all"), Ok(Roles::All));
        assert_eq!(Roles::parse(""), Ok(Roles::All));
        let split = Roles::parse("compactor, admin").unwrap();
        assert!(split.has(Role::Compactor) && split.has(Role::Admin));
        assert!(!split.has(Role::Ingester) && !split.is_all());
        assert_eq!(split.to_string(), "compactor,admin");
        assert!(Roles::All.has(Role::Ingester));
        let err = Roles::parse("ingester").unwrap_err();
        assert!(err.contains("cannot run apart"), "{err}");
        let err = Roles::parse("compactor,bogus").unwrap_err();
        assert!(err.contains("unknown role \"bogus\""), "{err}");
    }
}
