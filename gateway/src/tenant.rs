//! Tenant names as requests carry them: `X-Scope-OrgID` (gRPC metadata `x-scope-orgid` is the
//! same HTTP/2 header) and the Basic-auth username, each one tenant or a federated set `a|b`.

use std::fmt;

use sextant_model::TenantId;

use crate::error::GatewayError;

/// The header (and gRPC metadata key) naming the tenant.
pub(crate) const ORG_ID_HEADER: &str = "x-scope-orgid";

/// The tenants a request acts on: non-empty, without duplicates, in the order named. Writes act
/// on exactly one; reads may name several (`a|b`) and are answered from all of them.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantSet(Vec<TenantId>);

impl TenantSet {
    /// One tenant.
    pub fn single(tenant: TenantId) -> Self {
        Self(vec![tenant])
    }

    /// Parses `a` or `a|b|…`; every part must be a valid tenant id (surrounding spaces are
    /// ignored), duplicates are dropped.
    pub fn parse(text: &str) -> Result<Self, sextant_model::IdError> {
        let mut tenants: Vec<TenantId> = Vec::new();
        for part in text.split('|') {
            let tenant = TenantId::new(part.trim())?;
            if !tenants.contains(&tenant) {
                tenants.push(tenant);
            }
        }
        Ok(Self(tenants))
    }

    pub fn iter(&self) -> impl Iterator<Item = &TenantId> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a set names at least one tenant.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tenant when the set has exactly one.
    pub fn single_tenant(&self) -> Option<&TenantId> {
        match self.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether both sets name the same tenants, in any order.
    pub fn same_tenants(&self, other: &TenantSet) -> bool {
        self.0.len() == other.0.len() && self.0.iter().all(|t| other.0.contains(t))
    }
}

impl fmt::Display for TenantSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, tenant) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(tenant.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for TenantSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantSet({self})")
    }
}

/// The tenant(s) of a request as the access log reads them from the response.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedTenant(pub(crate) String);

/// `X-Scope-OrgID`, parsed: `None` when absent; refused when repeated or not valid tenant ids.
pub(crate) fn org_id_header(headers: &http::HeaderMap) -> Result<Option<TenantSet>, GatewayError> {
    let mut values = headers.get_all(ORG_ID_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(GatewayError::BadParameter(
            "more than one X-Scope-OrgID header".to_owned(),
        ));
    }
    let text = value.to_str().unwrap_or("\u{fffd}");
    TenantSet::parse(text.trim())
        .map(Some)
        .map_err(GatewayError::InvalidTenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_parse_dedupe_and_print() {
        let set = TenantSet::parse("bbb|aaa| bbb ").unwrap();
        assert_eq!(set.to_string(), "bbb|aaa");
        assert_eq!(set.len(), 2);
        assert_eq!(set.single_tenant(), None);
        assert!(set.same_tenants(&TenantSet::parse("aaa|bbb").unwrap()));
        assert!(!set.same_tenants(&TenantSet::parse("aaa").unwrap()));
        let one = TenantSet::parse("aaa|aaa").unwrap();
        assert_eq!(one.single_tenant().map(TenantId::as_str), Some("aaa"));
        for bad in ["", "|", "aaa|", "aaa||bbb", "Bad", "a/b", "aaa|x"] {
            assert!(TenantSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_header_is_optional_but_single_and_valid() {
        let mut headers = http::HeaderMap::new();
        assert!(org_id_header(&headers).unwrap().is_none());
        headers.insert(ORG_ID_HEADER, "aaa|bbb".parse().unwrap());
        assert_eq!(org_id_header(&headers).unwrap().unwrap().len(), 2);
        headers.append(ORG_ID_HEADER, "aaa".parse().unwrap());
        assert!(org_id_header(&headers).is_err());
        headers.insert(ORG_ID_HEADER, "../x".parse().unwrap());
        assert!(matches!(
            org_id_header(&headers),
            Err(GatewayError::InvalidTenant(_))
        ));
    }
}
