//! The roles a ledger may name by address: one check for all of them.

use crate::error::Error;
use crate::wire::Address;

/// A privileged role the ledger's config assigns to one address; unset means disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Advances epochs by hand (`WAL_ADMIN_ADDRESS`).
    Admin,
    /// Posts WAL/USD observations (`WAL_ORACLE_ADDRESS`).
    Oracle,
    /// Reports challenge results (`WAL_AUDITOR_ADDRESS`).
    Auditor,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Oracle => "oracle",
            Role::Auditor => "auditor",
        }
    }

    fn variable(self) -> &'static str {
        match self {
            Role::Admin => "WAL_ADMIN_ADDRESS",
            Role::Oracle => "WAL_ORACLE_ADDRESS",
            Role::Auditor => "WAL_AUDITOR_ADDRESS",
        }
    }

    fn may(self) -> &'static str {
        match self {
            Role::Admin => "advance the epoch",
            Role::Oracle => "post prices",
            Role::Auditor => "report audit results",
        }
    }
}

/// Refuses (403) unless the role is configured (`holder`) and `signer` holds it.
pub fn require(role: Role, holder: Option<Address>, signer: Address) -> Result<(), Error> {
    let Some(holder) = holder else {
        return Err(Error::Forbidden(format!(
            "the {} role is disabled on this ledger ({} is unset)",
            role.name(),
            role.variable()
        )));
    };
    if signer != holder {
        return Err(Error::Forbidden(format!(
            "only the {} {holder} may {}, not {signer}",
            role.name(),
            role.may()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(byte: u8) -> Address {
        let key = ed25519_dalek::SigningKey::from_bytes(&[byte; 32]).verifying_key();
        Address::from_key(&key)
    }

    #[test]
    fn only_the_holder_passes() {
        let (holder, other) = (address(1), address(2));
        assert!(require(Role::Oracle, Some(holder), holder).is_ok());
        let refused = require(Role::Oracle, Some(holder), other).unwrap_err();
        assert!(matches!(&refused, Error::Forbidden(d) if d.contains("only the oracle")));
        let disabled = require(Role::Admin, None, holder).unwrap_err();
        assert!(matches!(&disabled, Error::Forbidden(d) if d.contains("WAL_ADMIN_ADDRESS")));
    }
}
