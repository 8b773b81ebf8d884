//! Governance through the API (ECONOMICS.md, "Governance"), every tally worked out by
//! hand in the comments: inheritance, owners overriding their operator, a changed vote,
//! stake made during voting, the five outcomes, deposits to the FROST, the new
//! parameters from the next epoch and their effect, history by epoch; bad input that
//! changes nothing; votes racing the change that tallies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use common::{
    address, amount, code_of, ledger_with_admin, new_key, node_registration, post_ok as post,
    snapshot, wal, TestLedger,
};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use sqlx::PgPool;

async fn try_post(ledger: &TestLedger, key: &SigningKey, path: &str, body: Value) -> String {
    code_of(
        ledger
            .client(key)
            .post::<_, Value>(path, &body, &uuid::Uuid::new_v4().to_string())
            .await,
    )
}

async fn get(ledger: &TestLedger, path: &str) -> Value {
    ledger.public().get(path).await.unwrap()
}

async fn advance(ledger: &TestLedger, admin: &SigningKey) {
    post(ledger, admin, "/v1/admin/epochs/advance", json!({})).await;
}

async fn propose(ledger: &TestLedger, key: &SigningKey, title: &str, changes: Value) -> String {
    let body = json!({"title": title, "description": "worked example", "changes": changes});
    post(ledger, key, "/v1/proposals", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn vote(ledger: &TestLedger, key: &SigningKey, proposal: &str, choice: &str) -> Value {
    post(
        ledger,
        key,
        &format!("/v1/proposals/{proposal}/votes"),
        json!({"choice": choice}),
    )
    .await
}

/// The tally of a proposal as (yes, no, abstain, veto, total) in WAL text.
async fn tally(ledger: &TestLedger, proposal: &str) -> (Value, [String; 5]) {
    let p = get(ledger, &format!("/v1/proposals/{proposal}")).await;
    let t = &p["tally"];
    let field = |name: &str| amount(&t[name]).to_string();
    let sums = [
        field("yes"),
        field("no"),
        field("abstain"),
        field("veto"),
        field("total_power"),
    ];
    (p, sums)
}

fn wal_sums(values: [&str; 5]) -> [String; 5] {
    values.map(|v| wal(v).to_string())
}

/// Two nodes with 500 WAL each in their pools from epoch 1 (rate 1:1, no rewards yet):
/// A = opA 100 + d1 300 + d2 100, B = opB 200 + d3 300. Total power 1000.
struct Network {
    op_a: SigningKey,
    op_b: SigningKey,
    d1: SigningKey,
    d2: SigningKey,
    d3: SigningKey,
    node_b: String,
}

async fn two_pools(ledger: &TestLedger, admin: &SigningKey) -> Network {
    let keys: Vec<SigningKey> = (0..5).map(|_| new_key()).collect();
    for key in &keys {
        ledger.fund(key, "2000").await;
    }
    let [op_a, op_b, d1, d2, d3] = <[SigningKey; 5]>::try_from(keys).unwrap();
    let node_a = post(ledger, &op_a, "/v1/nodes", node_registration("a", "0.1")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let node_b = post(ledger, &op_b, "/v1/nodes", node_registration("b", "0.1")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (key, node, stake) in [
        (&op_a, &node_a, "100"),
        (&d1, &node_a, "300"),
        (&d2, &node_a, "100"),
        (&op_b, &node_b, "200"),
        (&d3, &node_b, "300"),
    ] {
        post(
            ledger,
            key,
            "/v1/stakes",
            json!({"node_id": node, "amount": stake}),
        )
        .await;
    }
    advance(ledger, admin).await;
    Network {
        op_a,
        op_b,
        d1,
        d2,
        d3,
        node_b,
    }
}

#[sqlx::test]
async fn five_proposals_tallied_by_hand(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let n = two_pools(&ledger, &admin).await;
    let proposer = new_key();
    ledger.fund(&proposer, "6000").await;
    assert_eq!(get(&ledger, "/v1/network").await["epoch"], 1);

    // Epoch 1: five proposals, each paying the 1000 WAL deposit; they vote through epoch 2.
    let p1 = propose(
        &ledger,
        &proposer,
        "burn more",
        json!({"reward_burn_rate": "0.1", "slash_threshold": "0.6"}),
    )
    .await;
    let p2 = propose(
        &ledger,
        &proposer,
        "nobody cares",
        json!({"jail_epochs": "3"}),
    )
    .await;
    let p3 = propose(&ledger, &proposer, "vetoed", json!({"slash_rate": "0.5"})).await;
    let p4 = propose(
        &ledger,
        &proposer,
        "split",
        json!({"committee_size_max": "100"}),
    )
    .await;
    let p5 = propose(
        &ledger,
        &proposer,
        "too late",
        json!({"jail_threshold": "0.7"}),
    )
    .await;
    assert_eq!(ledger.balance(&address(&proposer)).await, wal("1000"));
    assert_eq!(ledger.balance_of_key("sys:gov:deposits").await, wal("5000"));
    let audit = ledger.audit().await;
    assert_eq!(audit["ok"], json!(true), "{audit}");
    assert_eq!(amount(&audit["voting_deposits"]), wal("5000"));
    let shown = get(&ledger, &format!("/v1/proposals/{p1}")).await;
    assert_eq!(shown["status"], "voting");
    assert_eq!(shown["voting_ends_epoch"], 2);
    assert_eq!(shown["changes"]["reward_burn_rate"], "0.1");

    // P1: opA votes first and inherits all of A: its own 100 + the other 400.
    let first = vote(&ledger, &n.op_a, &p1, "yes").await;
    assert_eq!(amount(&first["power"]), wal("500"));
    // d1 overrides its operator with its 300; opA keeps 100 + d2's 100 = 200.
    vote(&ledger, &n.d1, &p1, "no").await;
    vote(&ledger, &n.op_b, &p1, "yes").await;
    // d3 changes its mind: the last vote counts.
    vote(&ledger, &n.d3, &p1, "abstain").await;
    vote(&ledger, &n.d3, &p1, "yes").await;
    let (_, live) = tally(&ledger, &p1).await;
    // yes = opA 200 + opB (200 + B's rest 0) + d3 300 = 700; no = d1 300.
    assert_eq!(live, wal_sums(["700", "300", "0", "0", "1000"]));
    // P2: only d2 (100 of 1000 < 33.4%).
    vote(&ledger, &n.d2, &p2, "yes").await;
    // P3: d1 and d3 veto 600; opA yes with 100 + d2's 100; opB abstains with 200.
    vote(&ledger, &n.d1, &p3, "veto").await;
    vote(&ledger, &n.d3, &p3, "veto").await;
    vote(&ledger, &n.op_a, &p3, "yes").await;
    vote(&ledger, &n.op_b, &p3, "abstain").await;
    // P4: each operator with its whole pool, 500 against 500.
    vote(&ledger, &n.op_a, &p4, "no").await;
    vote(&ledger, &n.op_b, &p4, "yes").await;
    // P5: both operators yes, 1000: it passes, but after P1 lowers slash_threshold to
    // 0.6 a jail_threshold of 0.7 is inconsistent, so it fails.
    vote(&ledger, &n.op_a, &p5, "yes").await;
    vote(&ledger, &n.op_b, &p5, "yes").await;
    // A proposer with no stake and no node has no vote.
    assert_eq!(
        try_post(
            &ledger,
            &proposer,
            &format!("/v1/proposals/{p1}/votes"),
            json!({"choice": "yes"})
        )
        .await,
        "FORBIDDEN"
    );

    advance(&ledger, &admin).await; // into epoch 2: still voting
                                    // Epoch 2: d4 stakes 500 with B and vetoes P1; pending stake has no power.
    let d4 = new_key();
    ledger.fund(&d4, "600").await;
    post(
        &ledger,
        &d4,
        "/v1/stakes",
        json!({"node_id": n.node_b, "amount": "500"}),
    )
    .await;
    let late = vote(&ledger, &d4, &p1, "veto").await;
    assert_eq!(amount(&late["power"]), wal("0"));
    // 100 WAL of subsidy for epoch 2's rewards: the change out of 2 burns the old 3%.
    post(
        &ledger,
        &n.d2,
        "/v1/subsidies",
        json!({"amount": "100", "epochs": 1}),
    )
    .await;
    let before_tally = ledger.balance_of_key("sys:burn").await;

    advance(&ledger, &admin).await; // 2 -> 3 tallies all five
    let expect = [
        (&p1, "passed", ["700", "300", "0", "0", "1000"]),
        (&p2, "no_quorum", ["100", "0", "0", "0", "1000"]),
        (&p3, "vetoed", ["200", "0", "200", "600", "1000"]),
        (&p4, "rejected", ["500", "500", "0", "0", "1000"]),
        (&p5, "failed", ["1000", "0", "0", "0", "1000"]),
    ];
    for (id, status, sums) in expect {
        let (shown, counted) = tally(&ledger, id).await;
        assert_eq!(shown["status"], status, "proposal {id}: {shown}");
        assert_eq!(shown["decided_epoch"], 2);
        assert_eq!(counted, wal_sums(sums), "proposal {id}");
        assert_eq!(
            shown["tally"]["quorum_reached"],
            json!(status != "no_quorum")
        );
    }
    // Deposits: P1, P4 and P5 refunded (3000), P2 and P3 burned (2000).
    assert_eq!(ledger.balance(&address(&proposer)).await, wal("4000"));
    assert_eq!(ledger.balance_of_key("sys:gov:deposits").await, wal("0"));
    let epoch_2 = get(&ledger, "/v1/epochs/2").await;
    let burned_at_2 = amount(&epoch_2["change"]["burned"]);
    assert_eq!(
        burned_at_2,
        wal("3"),
        "epoch 2 ran under the old 3%: {epoch_2}"
    );
    assert_eq!(
        ledger.balance_of_key("sys:burn").await,
        before_tally.checked_add(wal("2003")).unwrap()
    );
    // The votes as counted, by voter; d4's pending stake counted nothing.
    let votes = get(&ledger, &format!("/v1/proposals/{p1}/votes")).await;
    let counted: std::collections::HashMap<String, String> = votes["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["voter"].as_str().unwrap().to_owned(),
                amount(&v["power"]).to_string(),
            )
        })
        .collect();
    assert_eq!(counted[&address(&n.op_a).to_string()], "200");
    assert_eq!(counted[&address(&n.d1).to_string()], "300");
    assert_eq!(counted[&address(&d4).to_string()], "0");
    assert_eq!(counted.len(), 5);
    // Closed: no more votes.
    assert_eq!(
        try_post(
            &ledger,
            &n.d2,
            &format!("/v1/proposals/{p1}/votes"),
            json!({"choice": "no"})
        )
        .await,
        "CONFLICT"
    );

    // History: epoch 2 ran under the defaults, epoch 3 under P1's values (not P5's).
    let at_2 = get(&ledger, "/v1/params?epoch=2").await;
    assert_eq!(at_2["reward_burn_rate"], "0.03");
    assert_eq!(
        at_2["set_by"]["reward_burn_rate"],
        json!({"epoch": 0, "proposal_id": null})
    );
    let now = get(&ledger, "/v1/params").await;
    assert_eq!(now["epoch"], 3);
    assert_eq!(now["reward_burn_rate"], "0.1");
    assert_eq!(now["slash_threshold"], "0.6");
    assert_eq!(now["jail_threshold"], "0.5");
    assert_eq!(
        now["set_by"]["slash_threshold"],
        json!({"epoch": 3, "proposal_id": p1})
    );
    assert_eq!(get(&ledger, "/v1/params?epoch=3").await, now);
    // Its effect: the change out of epoch 3 burns 10% of its 100 WAL subsidy.
    post(
        &ledger,
        &n.d2,
        "/v1/subsidies",
        json!({"amount": "100", "epochs": 1}),
    )
    .await;
    advance(&ledger, &admin).await;
    let epoch_3 = get(&ledger, "/v1/epochs/3").await;
    assert_eq!(amount(&epoch_3["change"]["burned"]), wal("10"), "{epoch_3}");
    let listed = get(&ledger, "/v1/proposals?status=failed").await;
    assert_eq!(listed["proposals"].as_array().unwrap().len(), 1);
    assert_eq!(listed["proposals"][0]["id"], json!(p5));
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn bad_proposals_and_votes_change_nothing(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let n = two_pools(&ledger, &admin).await;
    let poor = new_key();
    ledger.fund(&poor, "999.999999999").await;
    let rich = new_key();
    ledger.fund(&rich, "30000").await;
    let open = propose(&ledger, &rich, "open", json!({"jail_epochs": "3"})).await;
    let too_many: serde_json::Map<String, Value> = [
        "stake_min",
        "node_stake_min",
        "committee_size_max",
        "reward_burn_rate",
        "subsidy_rate",
        "epochs_ahead_max",
        "rate_change_max",
        "price_change_max",
        "audit_challenges_per_epoch",
        "audit_challenges_min",
        "slash_threshold",
        "slash_rate",
        "jail_threshold",
        "jail_epochs",
        "proposal_deposit",
        "voting_epochs",
        "gov_quorum",
    ]
    .iter()
    .map(|name| ((*name).to_owned(), json!("1")))
    .collect();
    let body = |title: &str, description: &str, changes: Value| json!({"title": title, "description": description, "changes": changes});
    let invalid = [
        body("t", "", json!({"bogus": "1"})),
        body("t", "", json!({"n_shards": "20"})),
        body("t", "", json!({"jail_epochs": "54"})),
        body("t", "", json!({"slash_rate": "0.0000000001"})),
        body("t", "", json!({"jail_threshold": "0.95"})),
        body("", "", json!({"jail_epochs": "3"})),
        body("t", &"x".repeat(10_001), json!({"jail_epochs": "3"})),
        body("t", "", Value::Object(too_many)),
        body("t", "", json!({})),
        body("t", "", json!({"jail_epochs": 3})),
    ];
    let unaffordable = body("t", "", json!({"jail_epochs": "3"}));
    let cases = invalid
        .into_iter()
        .map(|request| (&rich, request, "INVALID_ARGUMENT"))
        .chain([(&poor, unaffordable, "INSUFFICIENT_FUNDS")]);
    for (key, request, code) in cases {
        let before = snapshot(&ledger.db).await;
        let got = try_post(&ledger, key, "/v1/proposals", request.clone()).await;
        assert_eq!(got, code, "{request}");
        let after = snapshot(&ledger.db).await;
        assert_eq!(after, before, "{request} changed a table");
    }
    let votes_path = format!("/v1/proposals/{open}/votes");
    let vote_cases = [
        (&n.d1, votes_path.as_str(), "maybe", "INVALID_ARGUMENT"),
        (&n.d1, "/v1/proposals/999/votes", "yes", "NOT_FOUND"),
        (&poor, votes_path.as_str(), "yes", "FORBIDDEN"),
    ];
    for (key, path, choice, code) in vote_cases {
        let before = snapshot(&ledger.db).await;
        let got = try_post(&ledger, key, path, json!({ "choice": choice })).await;
        assert_eq!(got, code, "{path} {choice}");
        assert_eq!(snapshot(&ledger.db).await, before);
    }
    // The open cap: 20 voting at once (one is open already).
    for i in 1..20 {
        propose(
            &ledger,
            &rich,
            &format!("p{i}"),
            json!({"jail_epochs": "3"}),
        )
        .await;
    }
    let before = snapshot(&ledger.db).await;
    let over = try_post(
        &ledger,
        &rich,
        "/v1/proposals",
        body("21st", "", json!({"jail_epochs": "3"})),
    )
    .await;
    assert_eq!(over, "CONFLICT");
    assert_eq!(snapshot(&ledger.db).await, before);
    // A vote on a closed proposal: every one of them closes at the change out of epoch 2.
    advance(&ledger, &admin).await;
    advance(&ledger, &admin).await;
    let before = snapshot(&ledger.db).await;
    let closed = try_post(
        &ledger,
        &n.d1,
        &format!("/v1/proposals/{open}/votes"),
        json!({"choice": "yes"}),
    )
    .await;
    assert_eq!(closed, "CONFLICT");
    assert_eq!(snapshot(&ledger.db).await, before);
    assert_eq!(
        get(&ledger, &format!("/v1/proposals/{open}")).await["status"],
        "no_quorum"
    );
    assert_eq!(
        code_of(ledger.public().get::<Value>("/v1/params?epoch=99").await),
        "NOT_FOUND"
    );
    for bad in [
        "/v1/params?epoch=-1",
        "/v1/params?epoch=x",
        "/v1/proposals?status=open",
        "/v1/proposals?status=",
    ] {
        assert_eq!(
            code_of(ledger.public().get::<Value>(bad).await),
            "INVALID_ARGUMENT",
            "{bad}"
        );
    }
    assert_eq!(
        code_of(ledger.public().get::<Value>("/v1/proposals/0").await),
        "NOT_FOUND"
    );
    ledger.assert_audit_ok().await;
}

#[sqlx::test]
async fn votes_racing_the_tallying_change_count_exactly_once(db: PgPool) {
    let (ledger, admin) = ledger_with_admin(db).await;
    let n = two_pools(&ledger, &admin).await;
    let proposer = new_key();
    ledger.fund(&proposer, "2000").await;
    let id = propose(&ledger, &proposer, "race", json!({"jail_epochs": "3"})).await;
    advance(&ledger, &admin).await; // epoch 2: the last of voting
    let voters = [
        n.d1.clone(),
        n.d2.clone(),
        n.d3.clone(),
        n.op_a.clone(),
        n.op_b.clone(),
    ];
    let url = ledger.url.clone();
    let mut racing = Vec::new();
    for (i, key) in voters.iter().enumerate() {
        let client = wal::client::LedgerClient::new(
            &url,
            Some(key.clone()),
            std::time::Duration::from_secs(30),
        );
        let path = format!("/v1/proposals/{id}/votes");
        let choice = if i % 2 == 0 { "yes" } else { "no" };
        racing.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for _ in 0..5 {
                let answer = client
                    .post::<_, Value>(
                        &path,
                        &json!({"choice": choice}),
                        &uuid::Uuid::new_v4().to_string(),
                    )
                    .await;
                accepted.push(answer.is_ok());
            }
            accepted
        }));
    }
    let stake = {
        let client = ledger.client(&n.d2);
        let node = n.node_b.clone();
        tokio::spawn(async move {
            client
                .post::<_, Value>(
                    "/v1/stakes",
                    &json!({"node_id": node, "amount": "10"}),
                    &uuid::Uuid::new_v4().to_string(),
                )
                .await
        })
    };
    let racing_proposal = {
        let client = ledger.client(&proposer);
        tokio::spawn(async move {
            let body =
                json!({"title": "racing", "description": "", "changes": {"jail_epochs": "4"}});
            client
                .post::<_, Value>("/v1/proposals", &body, &uuid::Uuid::new_v4().to_string())
                .await
        })
    };
    advance(&ledger, &admin).await; // 2 -> 3 tallies while votes arrive
    let mut voters_accepted = 0i64;
    for task in racing {
        let accepted = task.await.unwrap();
        // Once refused (voting closed), never accepted again.
        let first_refused = accepted.iter().position(|ok| !ok).unwrap_or(accepted.len());
        assert!(
            accepted[first_refused..].iter().all(|ok| !ok),
            "{accepted:?}"
        );
        voters_accepted += i64::from(first_refused > 0);
    }
    stake.await.unwrap().unwrap();
    // The proposal made during the change landed in epoch 2 or 3, and votes after it.
    let made = racing_proposal.await.unwrap().unwrap();
    let created = made["created_epoch"].as_i64().unwrap();
    assert!(created == 2 || created == 3, "{made}");
    let racing = get(
        &ledger,
        &format!("/v1/proposals/{}", made["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(racing["status"], "voting");
    assert_eq!(racing["voting_ends_epoch"], created + 1);
    let shown = get(&ledger, &format!("/v1/proposals/{id}")).await;
    assert_ne!(shown["status"], "voting");
    // Every vote in the table was counted by the tally (its voter has a power recorded
    // at the tally); none came later.
    let uncounted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM votes v JOIN proposals p ON p.id = v.proposal_id
         WHERE NOT EXISTS (SELECT 1 FROM tally_own_power o
                           WHERE o.epoch = p.decided_epoch AND o.voter = v.voter)",
    )
    .fetch_one(&ledger.db)
    .await
    .unwrap();
    assert_eq!(uncounted, 0);
    let votes = get(&ledger, &format!("/v1/proposals/{id}/votes")).await;
    let counted = votes["votes"]
        .as_array()
        .unwrap()
        .iter()
        .fold(wal("0"), |sum, v| {
            sum.checked_add(amount(&v["power"])).unwrap()
        });
    let t = &shown["tally"];
    let participation = [
        amount(&t["yes"]),
        amount(&t["no"]),
        amount(&t["abstain"]),
        amount(&t["veto"]),
    ]
    .into_iter()
    .fold(wal("0"), |a, b| a.checked_add(b).unwrap());
    assert_eq!(counted, participation);
    // A voter has a vote on record exactly when one of its votes was accepted.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM votes WHERE proposal_id = $1")
        .bind(id.parse::<i64>().unwrap())
        .fetch_one(&ledger.db)
        .await
        .unwrap();
    assert_eq!(rows, voters_accepted);
    ledger.assert_audit_ok().await;
}
