//! Every endpoint's JSON request body, read the way the server reads it (an empty body
//! is `{}`, a NUL anywhere is refused, then serde), then checked by the validation the
//! handler runs before it touches the database. The first byte picks the body type:
//! `a` + n is type n of the list below (so seeds are readable: `m{"to": ...}`).
//! Asserted:
//! - nothing panics, and parsing and validation give the same answer twice;
//! - the NUL scan (`json_has_nul`) is exact: on any valid JSON it says yes exactly
//!   when some string or key holds U+0000;
//! - a body that is accepted, re-serialised (through `serde_json::Value`, and by the
//!   type's own `Serialize` where it has one), parses to the same value and is accepted
//!   again with the same result;
//! - validations keep their documented bounds (a transfer's amount is positive and at
//!   most the supply, its memo at most 256 characters; a subsidy's epochs in range; an
//!   accepted proposal's changes are applied and the epoch change's reward split runs
//!   with the resulting parameters, to the FROST; a node's name is 1..=64 printable
//!   characters; an advance's epoch is not negative).

#![no_main]

use std::collections::BTreeMap;
use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use wal::audits::record::AuditBatch;
use wal::governance::proposals;
use wal::governance::tally::Choice;
use wal::http::admin::AdvanceRequest;
use wal::http::faucet::FaucetRequest;
use wal::http::NoArguments;
use wal::ledger::transfer::{self, TransferRequest};
use wal::money::rates::parse_usd;
use wal::money::Wal;
use wal::params::{Params, DEFINITIONS};
use wal::pricing::store::Observation;
use wal::rewards::distribution::{distribute, Member};
use wal::rewards::subsidy::{self, SubsidyRequest};
use wal::staking::nodes::{RegisterNode, UpdateNode, NAME_LEN_MAX};
use wal::staking::stakes::StakeRequest;
use wal::storage::contracts::{
    check_attributes, BuyRequest, CertifyRequest, ExtendRequest, PatchRequest,
};
use wal::wire::challenge::{Answer, Challenge};
use wal::wire::ids::{BlobId, NodeId};
use wal::wire::text::json_has_nul;
use wal::wire::{Address, ProposalRequest, VoteRequest};

/// What a validation concluded, comparable: `Ok(summary)` or `Err(message)`.
type Verdict = Result<String, String>;

fn supply() -> Wal {
    Wal::from_wal(5_000_000_000)
}

/// The signer of every request: a valid key, so self-transfers can be told apart.
fn signer() -> Address {
    Address::from_key(&ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key())
}

/// The parameters as the migrations seed them (the same pairs the crate's own tests
/// read), falling back to each parameter's lower bound.
fn params() -> &'static Params {
    static PARAMS: std::sync::OnceLock<Params> = std::sync::OnceLock::new();
    PARAMS.get_or_init(seeded_params)
}

fn seeded_params() -> Params {
    let seeds = [
        include_str!("../../migrations/20261130000002_staking.sql"),
        include_str!("../../migrations/20261201000001_audits.sql"),
        include_str!("../../migrations/20261203000001_governance.sql"),
    ];
    let mut rows: BTreeMap<String, String> = BTreeMap::new();
    for sql in seeds {
        let Some(start) = sql.find("INSERT INTO params") else {
            continue;
        };
        let end = start + sql[start..].find(';').expect("a statement ends");
        for pair in sql[start..end].split('(').skip(2) {
            let fields: Vec<&str> = pair.split('\'').collect();
            if fields.len() > 3 {
                rows.insert(fields[1].to_owned(), fields[3].to_owned());
            }
        }
    }
    Params::from_texts(|name| {
        rows.get(name)
            .map(String::as_str)
            .or_else(|| DEFINITIONS.iter().find(|d| d.name == name).map(|d| d.min))
    })
    .expect("the seeded parameters are within bounds")
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The body as `Signed::json` reads it, `None` where the server answers 400.
fn read<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    if json_has_nul(body) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// Parses, validates and, if accepted, re-serialises and checks again.
fn check<T: DeserializeOwned + Debug>(body: &[u8], validate: impl Fn(&T) -> Verdict) {
    let first: Option<T> = read(body);
    let second: Option<T> = read(body);
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "parsing is not deterministic"
    );
    let Some(parsed) = first else { return };
    let verdict = validate(&parsed);
    assert_eq!(
        verdict,
        validate(&parsed),
        "validation is not deterministic"
    );
    if verdict.is_err() {
        return;
    }
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    let value: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
    let again = serde_json::to_vec(&value).expect("a JSON value serialises");
    let reparsed: T = read(&again).expect("a re-serialised accepted body parses");
    assert_eq!(format!("{reparsed:?}"), format!("{parsed:?}"));
    assert_eq!(
        validate(&reparsed),
        verdict,
        "re-serialised body judged differently"
    );
}

/// `check`, plus a round trip through the type's own serialisation.
fn check_serializable<T: DeserializeOwned + Serialize + Debug>(
    body: &[u8],
    validate: impl Fn(&T) -> Verdict,
) {
    check(body, &validate);
    let Some(parsed) = read::<T>(body) else {
        return;
    };
    let Ok(verdict) = validate(&parsed) else {
        return;
    };
    let own = serde_json::to_vec(&parsed).expect("an accepted body serialises");
    let reparsed: T = read(&own).expect("own serialisation parses");
    assert_eq!(format!("{reparsed:?}"), format!("{parsed:?}"));
    assert_eq!(validate(&reparsed), Ok(verdict));
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn attributes(map: &BTreeMap<String, String>) -> Verdict {
    check_attributes(map).map_err(err)?;
    for (name, value) in map {
        assert!(!name.is_empty() && name.chars().count() <= 64);
        assert!(value.chars().count() <= 1024 && !value.chars().any(char::is_control));
    }
    Ok(format!("{} attributes", map.len()))
}

fn node_id(text: &str) -> Result<i64, String> {
    let id = text.parse::<NodeId>().map_err(err)?.get();
    assert!(id > 0, "node id {text:?} parsed to {id}");
    assert_eq!(id.to_string(), text, "node ids have one spelling");
    Ok(id)
}

fn name_ok(name: &str) {
    let n = name.chars().count();
    assert!((1..=NAME_LEN_MAX).contains(&n) && !name.chars().any(char::is_control));
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        // The scan reads the text, the parse keeps the last of duplicate keys: a NUL in
        // an overwritten value is seen by the scan only, and refusing it is safe. A NUL
        // the parse keeps must never be missed.
        if has_nul(&value) {
            assert!(json_has_nul(body), "the NUL scan missed a NUL");
        }
    }
    match which.wrapping_sub(b'a') % 18 {
        0 => check::<RegisterNode>(body, |b| {
            b.validate().map_err(err)?;
            name_ok(&b.name);
            assert!(b.endpoint.len() <= 256);
            Ok(String::new())
        }),
        1 => check::<UpdateNode>(body, |b| {
            b.validate().map_err(err)?;
            if let Some(name) = &b.name {
                name_ok(name);
            }
            Ok(String::new())
        }),
        2 => check::<NoArguments>(body, |_| Ok(String::new())),
        3 => check::<BuyRequest>(body, |b| {
            let layout = b.metadata.validate().map_err(err)?;
            attributes(&b.attributes.clone().unwrap_or_default())?;
            Ok(format!("{layout:?} {}", b.metadata.blob_id()))
        }),
        4 => check::<ExtendRequest>(body, |b| Ok(format!("{} {}", b.epochs, b.max_total))),
        5 => check::<CertifyRequest>(body, |b| {
            let ids: Vec<i64> = b
                .confirmations
                .iter()
                .map(|c| node_id(&c.node_id))
                .collect::<Result<_, _>>()?;
            Ok(format!("{ids:?}"))
        }),
        6 => check::<PatchRequest>(body, |b| {
            // Patched onto a contract without attributes, then checked whole.
            let mut map = BTreeMap::new();
            for (name, value) in &b.attributes {
                match value {
                    Some(v) => map.insert(name.clone(), v.clone()),
                    None => map.remove(name),
                };
            }
            attributes(&map)
        }),
        7 => check::<StakeRequest>(body, |b| {
            let id = node_id(&b.node_id)?;
            Ok(format!("{id} {}", b.amount))
        }),
        8 => check::<FaucetRequest>(body, |b| match &b.to {
            Some(to) => {
                let address = Address::parse_spendable(to).map_err(err)?;
                assert!(address.verifying_key().is_ok());
                assert_eq!(address.to_string().parse::<Address>().ok(), Some(address));
                Ok(address.to_string())
            }
            None => Ok(String::new()),
        }),
        9 => check::<AuditBatch>(body, |b| {
            let mut out = Vec::new();
            for r in &b.results {
                let blob: BlobId = r.blob_id.parse().map_err(err)?;
                assert_eq!(blob.to_string().parse::<BlobId>().ok(), Some(blob));
                out.push((node_id(&r.node_id)?, blob.to_string()));
            }
            Ok(format!("{out:?}"))
        }),
        10 => check::<Observation>(body, |b| {
            let price = parse_usd(&b.wal_usd)?;
            Ok(format!("{price} {}", b.observed_at.to_rfc3339()))
        }),
        11 => check::<SubsidyRequest>(body, |b| {
            subsidy::validate(b, 53, supply()).map_err(err)?;
            assert!(b.amount.is_positive() && b.amount <= supply());
            assert!((1..=53).contains(&b.epochs));
            Ok(String::new())
        }),
        12 => check::<TransferRequest>(body, |b| {
            let (to, amount) = transfer::validate(signer(), b, supply()).map_err(err)?;
            assert!(amount.is_positive() && amount <= supply() && to != signer());
            assert!(b.memo.as_ref().is_none_or(|m| m.chars().count() <= 256));
            Ok(format!("{to} {amount}"))
        }),
        13 => check_serializable::<ProposalRequest>(body, |b| {
            let before = params();
            let after = proposals::check(b, before).map_err(err)?;
            for (name, value) in &b.changes {
                let mut one = before.clone();
                one.set(name, value)
                    .expect("an accepted change applies alone");
                assert_eq!(after.text_of(name), one.text_of(name), "{name} not applied");
            }
            // What a passed proposal's parameters feed: the next epoch change's reward
            // split must run with them (it panicking would stop every epoch change).
            let members = [Member {
                node_id: 1,
                shards: 10,
                performance: Decimal::ONE,
                commission_rate: Decimal::new(1, 1),
            }];
            let slot = Wal::from_wal(1000);
            let d = distribute(
                slot,
                supply(),
                after.subsidy_rate,
                after.reward_burn_rate,
                &members,
            );
            let out = Wal::checked_sum(
                [d.burned, d.carried_to_next]
                    .into_iter()
                    .chain(d.members.iter().map(|m| m.reward)),
            );
            assert_eq!(out, Some(d.reward_pool), "the reward split lost FROST");
            assert_eq!(slot.checked_add(d.subsidy), Some(d.reward_pool));
            Ok(format!("{after:?}"))
        }),
        14 => check_serializable::<VoteRequest>(body, |b| {
            let choice = Choice::parse(&b.choice).ok_or("not a choice")?;
            assert_eq!(choice.as_str(), b.choice);
            Ok(b.choice.clone())
        }),
        15 => check::<AdvanceRequest>(body, |b| {
            assert!(
                b.epoch.is_none_or(|e| e.0 >= 0),
                "a negative epoch was read"
            );
            Ok(format!("{b:?}"))
        }),
        16 => check_serializable::<Challenge>(body, |b| Ok(format!("{b:?}"))),
        _ => check_serializable::<Answer>(body, |b| Ok(format!("{b:?}"))),
    }
});
