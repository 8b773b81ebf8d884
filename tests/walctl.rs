//! `walctl` as a user runs it: the real binary against a real ledger.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::process::{json_of, walctl};
use common::{address, new_key, TestLedger};
use sqlx::PgPool;
use tokio::net::TcpListener;
use wal::client::keyfile;
use wal::money::Wal;

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("walctl-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[sqlx::test]
async fn a_user_makes_a_key_receives_sends_and_audits(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let dir = temp_dir();
    let alice_key = dir.join("alice.key");
    let treasury_key = dir.join("treasury.key");
    keyfile::write_new(&treasury_key, &ledger.treasury).unwrap();

    let made = walctl(&ledger.url, &alice_key, &["keygen", "--json"]).await;
    assert!(made.status.success());
    let alice = json_of(&made)["address"].as_str().unwrap().to_owned();
    let mode = std::fs::metadata(&alice_key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret = std::fs::read_to_string(&alice_key).unwrap();
    let printed =
        String::from_utf8_lossy(&made.stdout).to_string() + &String::from_utf8_lossy(&made.stderr);
    assert!(
        !printed.contains(secret.trim()),
        "keygen printed the secret"
    );
    let again = walctl(&ledger.url, &alice_key, &["keygen"]).await;
    assert!(!again.status.success(), "keygen overwrote a key");
    assert_eq!(std::fs::read_to_string(&alice_key).unwrap(), secret);
    let shown = walctl(&ledger.url, &alice_key, &["address"]).await;
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), alice);

    let sent = walctl(
        &ledger.url,
        &treasury_key,
        &["send", &alice, "12.5", "--memo", "hi", "--json"],
    )
    .await;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let transfer = json_of(&sent);
    assert_eq!(transfer["amount"], "12.5");
    assert_eq!(transfer["to"], alice);

    let balance = walctl(&ledger.url, &alice_key, &["balance"]).await;
    assert_eq!(String::from_utf8_lossy(&balance.stdout).trim(), "12.5 WAL");
    let history = json_of(&walctl(&ledger.url, &alice_key, &["history", "--json"]).await);
    assert_eq!(history["entries"][0]["entry_id"], transfer["id"]);
    assert_eq!(history["entries"][0]["memo"], "hi");

    // Errors: non-zero exit, the server's detail on stderr, the problem with --json.
    let treasury = address(&ledger.treasury).to_string();
    let overdraw = walctl(
        &ledger.url,
        &alice_key,
        &["send", &treasury, "13", "--json"],
    )
    .await;
    assert!(!overdraw.status.success());
    assert_eq!(json_of(&overdraw)["error"]["code"], "INSUFFICIENT_FUNDS");
    assert!(String::from_utf8_lossy(&overdraw.stderr).contains("holds 12.5 WAL"));
    let precise = walctl(
        &ledger.url,
        &alice_key,
        &["send", &treasury, "0.0000000001"],
    )
    .await;
    assert!(!precise.status.success());
    assert!(String::from_utf8_lossy(&precise.stderr).contains("9 fractional digits"));
    let faucet = walctl(&ledger.url, &alice_key, &["faucet", "--json"]).await;
    assert_eq!(json_of(&faucet)["error"]["code"], "FORBIDDEN");

    let audit = walctl(&ledger.url, &alice_key, &["audit", "--json"]).await;
    assert!(audit.status.success());
    assert_eq!(json_of(&audit)["ok"], true);
    assert_eq!(
        ledger.balance(&alice.parse().unwrap()).await,
        Wal::parse("12.5").unwrap()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A loopback HTTP proxy in front of the ledger that lets the first POST through to the
/// ledger but never delivers its answer (the client times out after the ledger executed
/// it); everything else it forwards as is. Returns its URL and the POSTs it saw.
async fn first_answer_lost_proxy(ledger_url: String) -> (String, Arc<AtomicUsize>) {
    let posts = Arc::new(AtomicUsize::new(0));
    let seen = posts.clone();
    let forward = move |request: axum::extract::Request| {
        let (ledger_url, seen) = (ledger_url.clone(), seen.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let lose_answer = parts.method == "POST" && seen.fetch_add(1, Ordering::SeqCst) == 0;
            let url = format!("{ledger_url}{}", parts.uri.path_and_query().unwrap());
            let mut headers = parts.headers.clone();
            headers.remove("host");
            let answer = reqwest::Client::new()
                .request(parts.method.clone(), url)
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let headers = answer.headers().clone();
            let bytes = answer.bytes().await.unwrap();
            if lose_answer {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            (status, headers, bytes)
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, posts)
}

#[sqlx::test]
async fn a_retry_after_a_timeout_reuses_the_idempotency_key(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let dir = temp_dir();
    let treasury_key = dir.join("treasury.key");
    keyfile::write_new(&treasury_key, &ledger.treasury).unwrap();
    let recipient = address(&new_key()).to_string();
    let (proxy_url, posts) = first_answer_lost_proxy(ledger.url.clone()).await;
    let sent = walctl(
        &proxy_url,
        &treasury_key,
        &["--timeout-secs", "2", "send", &recipient, "3", "--json"],
    )
    .await;
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let transfer = json_of(&sent);
    assert_eq!(
        posts.load(Ordering::SeqCst),
        2,
        "walctl sent the transfer twice"
    );
    // Executed exactly once, and the answer is that one execution's.
    assert_eq!(
        ledger.balance(&recipient.parse().unwrap()).await,
        Wal::from_wal(3)
    );
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM journal_entries WHERE kind = 'transfer'")
            .fetch_all(&ledger.db)
            .await
            .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(transfer["id"], ids[0].to_string());
    std::fs::remove_dir_all(dir).unwrap();
}

#[sqlx::test]
async fn an_operator_manages_a_node_with_walctl(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let dir = temp_dir();
    let operator = dir.join("operator.key");
    let protocol = dir.join("protocol.key");
    let stranger = dir.join("stranger.key");
    for key in [&operator, &protocol, &stranger] {
        assert!(walctl(&ledger.url, key, &["keygen"]).await.status.success());
    }
    let protocol_hex = hex::encode(keyfile::read(&protocol).unwrap().verifying_key().to_bytes());
    let register = [
        "node",
        "register",
        "--name",
        "n1",
        "--endpoint",
        "http://127.0.0.1:9100",
        "--protocol-key",
        protocol.to_str().unwrap(),
        "--commission-rate",
        "0.05",
        "--storage-price-vote",
        "0.0001",
        "--write-price-vote",
        "0.00002",
        "--json",
    ];
    let made = walctl(&ledger.url, &operator, &register).await;
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let node = json_of(&made);
    assert_eq!(node["protocol_public_key"], protocol_hex);
    let id = node["id"].as_str().unwrap().to_owned();

    let updated = walctl(
        &ledger.url,
        &operator,
        &["node", "update", &id, "--commission-rate", "0.2", "--json"],
    )
    .await;
    assert!(
        updated.status.success(),
        "{}",
        String::from_utf8_lossy(&updated.stderr)
    );
    assert_eq!(json_of(&updated)["pending_commission"][0]["rate"], "0.2");
    let refused = walctl(
        &ledger.url,
        &stranger,
        &["node", "update", &id, "--name", "mine", "--json"],
    )
    .await;
    assert!(!refused.status.success());
    assert_eq!(json_of(&refused)["error"]["code"], "FORBIDDEN");

    let shown = walctl(&ledger.url, &stranger, &["node", "show", &id, "--json"]).await;
    assert_eq!(json_of(&shown)["name"], "n1");
    let listed = walctl(&ledger.url, &stranger, &["node", "list", "--json"]).await;
    assert_eq!(json_of(&listed)["nodes"][0]["id"], id);
    let text = walctl(&ledger.url, &stranger, &["node", "show", &id]).await;
    assert!(String::from_utf8_lossy(&text.stdout).contains("commission 0.05 (-> 0.2 from epoch 2)"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[sqlx::test]
async fn a_delegator_and_an_operator_stake_earn_and_claim_with_walctl(db: PgPool) {
    let dir = temp_dir();
    let admin = dir.join("admin.key");
    assert!(walctl("http://unused", &admin, &["keygen"])
        .await
        .status
        .success());
    let admin_address = address(&keyfile::read(&admin).unwrap());
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = 10;
        config.admin_address = Some(admin_address);
    })
    .await;
    let treasury = dir.join("treasury.key");
    keyfile::write_new(&treasury, &ledger.treasury).unwrap();
    let (operator, protocol) = (dir.join("operator.key"), dir.join("protocol.key"));
    for key in [&operator, &protocol] {
        assert!(walctl(&ledger.url, key, &["keygen"]).await.status.success());
    }
    let run = |key: std::path::PathBuf, args: Vec<String>| {
        let url = ledger.url.clone();
        async move {
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            args.push("--json");
            let out = walctl(&url, &key, &args).await;
            assert!(
                out.status.success(),
                "walctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            json_of(&out)
        }
    };
    let argv = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let node = run(
        operator.clone(),
        argv(&[
            "node",
            "register",
            "--name",
            "n1",
            "--endpoint",
            "http://127.0.0.1:9100",
            "--protocol-key",
            protocol.to_str().unwrap(),
            "--commission-rate",
            "0.1",
            "--storage-price-vote",
            "0.0001",
            "--write-price-vote",
            "0.00002",
        ]),
    )
    .await;
    let node_id = node["id"].as_str().unwrap().to_owned();

    let stake = run(treasury.clone(), argv(&["stake", &node_id, "1000"])).await;
    assert_eq!(stake["status"], "pending");
    let stakes = run(treasury.clone(), argv(&["stakes"])).await;
    assert_eq!(stakes["stakes"][0]["id"], stake["id"]);
    let ended = run(admin.clone(), argv(&["epoch", "--advance"])).await;
    assert_eq!(ended["epoch"], 0);
    let committee = run(treasury.clone(), argv(&["committee"])).await;
    assert_eq!(committee["members"][0]["node_id"], node_id.as_str());
    assert_eq!(
        committee["members"][0]["shards"].as_array().unwrap().len(),
        10
    );
    let subsidy = run(
        treasury.clone(),
        argv(&["subsidize", "200", "--epochs", "2"]),
    )
    .await;
    assert_eq!(subsidy["slots"][1]["amount"], "100");
    // The operator sees what the epoch is worth so far: 100 - 3% = 97, 10% of it theirs.
    let shown = run(operator.clone(), argv(&["node", "show", &node_id])).await;
    assert_eq!(shown["expected_reward"], "97");
    assert_eq!(shown["expected_commission"], "9.7");
    run(admin.clone(), argv(&["epoch", "--advance"])).await;
    let epoch = run(treasury.clone(), argv(&["epoch", "1"])).await;
    assert_eq!(epoch["change"]["burned"], "3");
    let claim = run(operator.clone(), argv(&["claim", &node_id])).await;
    assert_eq!(claim["amount"], "9.7");
    let leaving = run(
        treasury.clone(),
        argv(&["unstake", stake["id"].as_str().unwrap()]),
    )
    .await;
    assert_eq!(leaving["status"], "withdrawing");
    assert_eq!(leaving["value"], "1087.3");
    let text = walctl(&ledger.url, &treasury, &["stakes"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("withdrawing, worth 1087.3 WAL now"), "{text}");
    let refused = walctl(&ledger.url, &treasury, &["claim", &node_id, "--json"]).await;
    assert_eq!(json_of(&refused)["error"]["code"], "FORBIDDEN");
    ledger.assert_audit_ok().await;
    ledger.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// What a new user meets first: a command that needs a key before there is one says how
/// to make one; output into a closed pipe ends quietly.
#[sqlx::test]
async fn walctl_guides_a_new_user_and_ends_quietly_on_a_closed_pipe(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let dir = temp_dir();
    let missing = dir.join("no-such.key");
    let to = address(&new_key()).to_string();
    let send = walctl(&ledger.url, &missing, &["send", &to, "1"]).await;
    assert!(!send.status.success());
    let stderr = String::from_utf8_lossy(&send.stderr);
    assert!(
        stderr.contains("walctl keygen") && stderr.contains("--key"),
        "{stderr}"
    );

    // `walctl history | head -c 1`: the reader closes the pipe after one byte.
    let treasury_key = dir.join("treasury.key");
    keyfile::write_new(&treasury_key, &ledger.treasury).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args([
            "--url",
            &ledger.url,
            "--key",
            treasury_key.to_str().unwrap(),
            "network",
        ])
        .env_remove("WAL_LEDGER_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // closed before walctl writes
    let done = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(
        !stderr.contains("panicked"),
        "a closed pipe is no panic: {stderr}"
    );
    assert!(done.status.success(), "{stderr}");
}

#[sqlx::test]
async fn a_voter_proposes_votes_and_follows_the_tally_with_walctl(db: PgPool) {
    let dir = temp_dir();
    let admin = common::new_key();
    let admin_address = address(&admin);
    let ledger = TestLedger::start_with(db, move |config| {
        config.n_shards = 10;
        config.admin_address = Some(admin_address);
    })
    .await;
    let voter_file = dir.join("voter.key");
    assert!(walctl(&ledger.url, &voter_file, &["keygen"])
        .await
        .status
        .success());
    let voter = keyfile::read(&voter_file).unwrap();
    ledger.fund(&voter, "2000").await;
    let idem = || uuid::Uuid::new_v4().to_string();
    let registration = serde_json::json!({
        "name": "n1", "endpoint": "http://127.0.0.1:9100",
        "protocol_public_key": hex::encode(new_key().verifying_key().to_bytes()),
        "commission_rate": "0.1", "storage_price_vote": "0.0001", "write_price_vote": "0.00002"
    });
    let node: serde_json::Value = ledger
        .client(&voter)
        .post("/v1/nodes", &registration, &idem())
        .await
        .unwrap();
    let stake = serde_json::json!({"node_id": node["id"], "amount": "500"});
    let _: serde_json::Value = ledger
        .client(&voter)
        .post("/v1/stakes", &stake, &idem())
        .await
        .unwrap();
    let _: serde_json::Value = ledger
        .client(&admin)
        .post("/v1/admin/epochs/advance", &serde_json::json!({}), &idem())
        .await
        .unwrap();

    let run = |args: &[&str]| {
        let (url, key) = (ledger.url.clone(), voter_file.clone());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = walctl(&url, &key, &args).await;
            assert!(
                out.status.success(),
                "walctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out
        }
    };
    let proposed = json_of(
        &run(&[
            "gov",
            "propose",
            "--title",
            "cheaper",
            "--set",
            "reward_burn_rate=0.05",
            "--set",
            "jail_epochs=3",
            "--json",
        ])
        .await,
    );
    let id = proposed["id"].as_str().unwrap().to_owned();
    assert_eq!(proposed["changes"]["jail_epochs"], "3");
    let voted = json_of(&run(&["gov", "vote", &id, "yes", "--json"]).await);
    assert_eq!(
        Wal::parse(voted["power"].as_str().unwrap()).unwrap(),
        Wal::from_wal(500)
    );
    let shown = String::from_utf8(run(&["gov", "show", &id]).await.stdout).unwrap();
    assert!(
        shown.contains("quorum      100.00% of the power took part (needs 33.40%)"),
        "{shown}"
    );
    assert!(
        shown.contains("threshold   yes is 100.00% of yes + no + veto"),
        "{shown}"
    );
    assert!(shown.contains("time left"), "{shown}");
    let listed = json_of(&run(&["gov", "list", "--status", "voting", "--json"]).await);
    assert_eq!(listed["proposals"][0]["id"], serde_json::json!(id));
    // Refused locally: a change without `=`, and an unknown choice.
    let bad = walctl(
        &ledger.url,
        &voter_file,
        &["gov", "propose", "--title", "t", "--set", "jail_epochs"],
    )
    .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NAME=VALUE"));
    for _ in 0..2 {
        let _: serde_json::Value = ledger
            .client(&admin)
            .post("/v1/admin/epochs/advance", &serde_json::json!({}), &idem())
            .await
            .unwrap();
    }
    let after = json_of(&run(&["gov", "show", &id, "--json"]).await);
    assert_eq!(after["status"], "passed");
    let params = json_of(&run(&["gov", "params", "--json"]).await);
    assert_eq!(params["jail_epochs"], 3);
    assert_eq!(
        params["set_by"]["jail_epochs"]["proposal_id"],
        serde_json::json!(id)
    );
    let old = String::from_utf8(run(&["gov", "params", "--epoch", "1"]).await.stdout).unwrap();
    assert!(old.contains("parameters in force in epoch 1"), "{old}");
    assert!(
        old.lines().any(|l| l.contains("jail_epochs")
            && l.contains(" 2 ")
            && l.contains("genesis default")),
        "{old}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
