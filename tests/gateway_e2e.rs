//! `wal-gateway` end to end, as a Walrus HTTP client uses it: the ledger, PostgreSQL, 7
//! real `wal-storage-node` processes and the real gateway process. Walrus's documented
//! examples (`curl -X PUT "$PUBLISHER/v1/blobs?epochs=5" --upload-file f`, `curl
//! "$AGGREGATOR/v1/blobs/$ID"`, `by-object-id`) give Walrus's shapes; a second PUT of
//! the same bytes pays nothing; a paid, uncertified blob PUT again is finished without
//! paying again; Range, HEAD, ETag and content type; reads with nodes down and one
//! hung; bad input in Walrus's envelope, nothing paid.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::time::{Duration, Instant};

use common::process::start_gateway;
use common::storage::{random_file, StorageNet};
use common::walrus;
use common::{address, new_key};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use wal::client::keyfile;
use wal::money::Wal;

const NODES: usize = 7;

/// The publisher's WAL, in FROST.
async fn frost_of(net: &StorageNet, who: &wal::wire::Address) -> i128 {
    net.ledger.balance(who).await.to_frost()
}

/// Asserts Walrus's error envelope with this status, parsed as Walrus's own `Status`,
/// and returns its message.
async fn envelope(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    let inner = walrus::parse_status(&body, status.as_u16());
    assert!(!inner.message.is_empty(), "{body}");
    inner.message
}

/// Walrus's `newlyCreated` answer, parsed as Walrus's own `BlobStoreResult`; returns the
/// object id, the blob id and the cost.
fn assert_newly_created(answer: &Value, size: u64, epochs: u32) -> (String, String, u64) {
    let (blob, _, cost) = newly_created(answer);
    assert_eq!(blob.blob_id.len(), 64);
    assert_eq!(blob.size, size);
    assert!(blob.certified_epoch.is_some(), "{answer}");
    assert!(blob.certified_epoch >= Some(blob.registered_epoch));
    assert!(blob.deletable);
    assert_eq!(blob.storage.end_epoch, blob.storage.start_epoch + epochs);
    assert_eq!(blob.storage.id, blob.id);
    assert!(blob.storage.storage_size > size);
    (blob.id, blob.blob_id, cost)
}

/// A `newlyCreated` answer parsed as Walrus's type: the blob object, the resource
/// operation and the cost.
fn newly_created(answer: &Value) -> (walrus::Blob, walrus::RegisterBlobOp, u64) {
    let walrus::BlobStoreResult::NewlyCreated {
        blob_object,
        resource_operation,
        cost,
        shared_blob_object: None,
    } = walrus::parse(answer)
    else {
        panic!("not newlyCreated (without a shared object): {answer}");
    };
    (blob_object, resource_operation, cost)
}

/// Walrus's `alreadyCertified` answer (parsed as Walrus's type): the object and end.
fn assert_already_certified(answer: &Value, blob_id: &str) -> (String, u32) {
    let walrus::BlobStoreResult::AlreadyCertified {
        blob_id: certified,
        event,
        object,
        end_epoch,
    } = walrus::parse(answer)
    else {
        panic!("not alreadyCertified: {answer}");
    };
    assert_eq!(certified, blob_id);
    assert!(event.is_none(), "{answer}");
    (object.expect("the contract as the object"), end_epoch)
}

#[sqlx::test]
async fn walrus_clients_store_and_read_through_the_gateway(db: PgPool) {
    let mut net = StorageNet::start(db, NODES, NODES as u32).await;
    let publisher_key = new_key();
    let publisher = address(&publisher_key);
    net.ledger.fund(&publisher_key, "100000").await;
    let key_file = net.dir.join("publisher.key");
    keyfile::write_new(&key_file, &publisher_key).unwrap();
    let gateway = start_gateway(
        &net.ledger.url,
        Some(&key_file),
        &[("WAL_GATEWAY_BLOB_BYTES_MAX", "8388608")],
    );
    let http = reqwest::Client::new();
    let file = net.dir.join("blob.bin");
    random_file(&file, 3 << 20, 7);
    let bytes = std::fs::read(&file).unwrap();
    let put = |query: &str, body: Vec<u8>| {
        http.put(format!("{}/v1/blobs{query}", gateway.url))
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
            .send()
    };

    // curl -X PUT "$PUBLISHER/v1/blobs?epochs=5" --upload-file blob.bin
    let before = frost_of(&net, &publisher).await;
    let answer: Value = put("?epochs=5", bytes.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (object_id, blob_id, cost) = assert_newly_created(&answer, bytes.len() as u64, 5);
    assert!(
        matches!(
            newly_created(&answer).1,
            walrus::RegisterBlobOp::RegisterFromScratch {
                epochs_ahead: 5,
                ..
            }
        ),
        "{answer}"
    );
    assert_eq!(
        before - frost_of(&net, &publisher).await,
        i128::from(cost),
        "paid exactly the cost"
    );
    let metadata = wal::client::upload::file_metadata(
        &file,
        NODES as u32,
        &(std::sync::Arc::new(|_| {}) as _),
    )
    .unwrap();
    assert_eq!(blob_id, metadata.blob_id(), "the id walctl would give");

    // The same bytes again: already certified, nothing paid.
    let again: Value = put("?epochs=3", bytes.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (object, end_epoch) = assert_already_certified(&again, &blob_id);
    assert_eq!(object, object_id);
    assert!(end_epoch >= 6);
    assert_eq!(before - frost_of(&net, &publisher).await, i128::from(cost));

    read_back(&http, &gateway.url, &blob_id, &object_id, &bytes).await;
    attributes_become_headers(&net, &http, &gateway.url, &key_file, &object_id, &blob_id).await;
    bad_input(&net, &http, &gateway.url, &publisher, &blob_id).await;
    resume_without_paying_twice(&net, &http, &gateway.url, &publisher_key).await;
    sent_to_another_owner(&net, &http, &gateway.url, &publisher).await;
    quilts(&net, &http, &gateway.url, &publisher).await;
    let gateway = killed_mid_upload(&net, &http, gateway, &key_file, &publisher).await;

    // One node hung: the read still completes within a few stall timeouts (5 s each).
    let hung = net.pid(2);
    nix::sys::signal::kill(hung, nix::sys::signal::Signal::SIGSTOP).unwrap();
    read_promptly(&http, &gateway.url, &blob_id, &bytes).await;
    nix::sys::signal::kill(hung, nix::sys::signal::Signal::SIGCONT).unwrap();
    // 2f = 4 of the 7 nodes gone: the k = 3 left still serve the blob.
    for i in [0, 1, 3, 4] {
        net.nodes[i] = None;
    }
    read_promptly(&http, &gateway.url, &blob_id, &bytes).await;

    let metrics = http
        .get(format!("{}/metrics", gateway.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wal_gateway_bytes_served_total"),
        "{metrics}"
    );
    net.ledger.assert_audit_ok().await;
}

/// A contract as the ledger shows it.
async fn contract_of(net: &StorageNet, id: &str) -> Value {
    let path = format!("/v1/storage/contracts/{id}");
    net.ledger.public().get(&path).await.unwrap()
}

/// The whole blob through the gateway, within 40 s.
async fn read_promptly(http: &reqwest::Client, url: &str, blob_id: &str, bytes: &[u8]) {
    let started = Instant::now();
    let read = http
        .get(format!("{url}/v1/blobs/{blob_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.bytes().await.unwrap().as_ref(), bytes);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(40), "{took:?}");
}

/// GET, HEAD, Range, If-None-Match and by-object-id, with Walrus's headers.
async fn read_back(
    http: &reqwest::Client,
    url: &str,
    blob_id: &str,
    object_id: &str,
    bytes: &[u8],
) {
    let size = bytes.len();
    let read = http
        .get(format!("{url}/v1/blobs/{blob_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let headers = read.headers().clone();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["etag"], format!("\"{blob_id}\"").as_str());
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(headers["content-length"], size.to_string().as_str());
    assert_eq!(read.bytes().await.unwrap().as_ref(), bytes);

    let head = http
        .head(format!("{url}/v1/blobs/{blob_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], size.to_string().as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    for (range, start, end) in [
        ("bytes=100-199", 100, 200),
        ("bytes=-1000", size - 1000, size),
        (&format!("bytes={}-", size / 2) as &str, size / 2, size),
        ("bytes=1048000-2097999", 1_048_000, 2_098_000),
    ] {
        let part = http
            .get(format!("{url}/v1/blobs/{blob_id}"))
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let expected = format!("bytes {start}-{}/{size}", end - 1);
        assert_eq!(
            part.headers()["content-range"],
            expected.as_str(),
            "{range}"
        );
        assert_eq!(
            part.bytes().await.unwrap().as_ref(),
            &bytes[start..end],
            "{range}"
        );
    }
    let beyond = http
        .get(format!("{url}/v1/blobs/{blob_id}"))
        .header("range", format!("bytes={size}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );
    envelope(beyond, StatusCode::RANGE_NOT_SATISFIABLE).await;

    let cached = http
        .get(format!("{url}/v1/blobs/{blob_id}"))
        .header("if-none-match", format!("\"{blob_id}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    let by_object = http
        .get(format!("{url}/v1/blobs/by-object-id/{object_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_object.status(), StatusCode::OK);
    assert_eq!(by_object.bytes().await.unwrap().as_ref(), bytes);

    // Walrus's byte-range route and its skip_consistency_check option.
    let byte_range = http
        .get(format!(
            "{url}/v1/blobs/{blob_id}/byte-range?start=1048570&length=20&skip_consistency_check=true"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(byte_range.status(), StatusCode::OK);
    assert_eq!(byte_range.headers()["content-length"], "20");
    assert_eq!(
        byte_range.bytes().await.unwrap().as_ref(),
        &bytes[1_048_570..1_048_590]
    );
}

/// Every refusal in Walrus's envelope, and none of them pays.
async fn bad_input(
    net: &StorageNet,
    http: &reqwest::Client,
    url: &str,
    publisher: &wal::wire::Address,
    blob_id: &str,
) {
    let before = frost_of(net, publisher).await;
    let small = vec![7u8; 1000];
    for query in [
        "?shards=3",
        "?deletable=true&permanent=true",
        "?epochs=0",
        "?epochs=54",
        "?epochs=two",
        "?send_object_to=0x12",
        "?epochs=1&epochs=50",
        "?share=true",
    ] {
        let refused = http
            .put(format!("{url}/v1/blobs{query}"))
            .body(small.clone())
            .send()
            .await
            .unwrap();
        envelope(refused, StatusCode::BAD_REQUEST).await;
    }
    let huge = http
        .put(format!("{url}/v1/blobs"))
        .body(vec![0u8; 9 << 20])
        .send()
        .await
        .unwrap();
    let message = envelope(huge, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(message.contains("WAL_GATEWAY_BLOB_BYTES_MAX"), "{message}");
    for (path, status) in [
        (
            "/v1/blobs/not-a-blob-id".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/blobs/{}", "ab".repeat(32)),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/blobs/by-object-id/999999".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/blobs/by-object-id/0xabc".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/blobs/{blob_id}?strict_consistency_check=maybe"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/blobs/{blob_id}?nonsense=1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!(
                "/v1/blobs/{blob_id}?strict_consistency_check=true&skip_consistency_check=true"
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/blobs/{blob_id}/byte-range?start=0&length=0"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/blobs/{blob_id}/byte-range?start=3145720&length=9"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/blobs/{blob_id}/byte-range?start=1&length=18446744073709551615"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/blobs/{blob_id}/byte-range?length=5"),
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/nowhere".to_owned(), StatusCode::NOT_FOUND),
    ] {
        let refused = http.get(format!("{url}{path}")).send().await.unwrap();
        envelope(refused, status).await;
    }
    assert_eq!(frost_of(net, publisher).await, before, "nothing paid");
    // A gateway without a key only reads.
    let reader = start_gateway(&net.ledger.url, None, &[]);
    let refused = http
        .put(format!("{}/v1/blobs", reader.url))
        .body(small)
        .send()
        .await
        .unwrap();
    envelope(refused, StatusCode::FORBIDDEN).await;
    let read = http
        .head(format!("{}/v1/blobs/{blob_id}", reader.url))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

/// A blob paid for but never uploaded (a publisher that died after paying) is finished
/// by the next PUT of its bytes without a second payment.
async fn resume_without_paying_twice(
    net: &StorageNet,
    http: &reqwest::Client,
    url: &str,
    key: &ed25519_dalek::SigningKey,
) {
    let file = net.dir.join("paid.bin");
    random_file(&file, 200_000, 11);
    let metadata = wal::client::upload::file_metadata(
        &file,
        NODES as u32,
        &(std::sync::Arc::new(|_| {}) as _),
    )
    .unwrap();
    let quote: Value = net
        .ledger
        .public()
        .get(&format!("/v1/price?size={}&epochs=2", metadata.size))
        .await
        .unwrap();
    let body =
        json!({"metadata": metadata, "epochs": 2, "max_total": quote["total"], "deletable": true});
    let paid: Value = net
        .ledger
        .client(key)
        .post("/v1/storage/contracts", &body, "paid-first")
        .await
        .unwrap();
    let before = frost_of(net, &address(key)).await;
    let answer: Value = http
        .put(format!("{url}/v1/blobs?epochs=2"))
        .body(std::fs::read(&file).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (blob, operation, cost) = newly_created(&answer);
    assert_eq!(json!(blob.id), paid["id"], "{answer}");
    assert_eq!(cost, 0);
    assert!(
        matches!(operation, walrus::RegisterBlobOp::ReuseRegistration { encoded_length } if encoded_length == blob.storage.storage_size),
        "{answer}"
    );
    assert_eq!(
        frost_of(net, &address(key)).await,
        before,
        "no second payment"
    );
    let contract = contract_of(net, paid["id"].as_str().unwrap()).await;
    assert_eq!(contract["certified"], true);
}

/// `send_object_to`: the gateway pays, the address owns the contract.
async fn sent_to_another_owner(
    net: &StorageNet,
    http: &reqwest::Client,
    url: &str,
    publisher: &wal::wire::Address,
) {
    let alice = address(&new_key());
    let answer: Value = http
        .put(format!(
            "{url}/v1/blobs?send_object_to={alice}&permanent=true"
        ))
        .body(vec![42u8; 50_000])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let blob = newly_created(&answer).0;
    assert!(!blob.deletable, "{answer}");
    let contract = contract_of(net, &blob.id).await;
    assert_eq!(contract["owner"], json!(alice.to_string()));
    assert_eq!(contract["payer"], json!(publisher.to_string()));
    assert_eq!(net.ledger.balance(&alice).await, Wal::ZERO);
}

/// `walctl blob attr` (PATCH, owner only) changes the headers the gateway serves.
async fn attributes_become_headers(
    net: &StorageNet,
    http: &reqwest::Client,
    url: &str,
    owner_key: &std::path::Path,
    object_id: &str,
    blob_id: &str,
) {
    let walctl = |args: Vec<&str>| {
        let (ledger, key) = (net.ledger.url.clone(), owner_key.to_owned());
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::process::walctl(&ledger, &key, &args).await
        }
    };
    let set = walctl(vec![
        "blob",
        "attr",
        "set",
        object_id,
        "content-disposition=attachment; filename=\"a.txt\"",
        "x-origin=test",
        "--json",
    ])
    .await;
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let removed = walctl(vec![
        "blob",
        "attr",
        "rm",
        object_id,
        "content-type",
        "--json",
    ])
    .await;
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let shown =
        common::process::json_of(&walctl(vec!["blob", "attr", "get", object_id, "--json"]).await);
    assert_eq!(
        shown["attributes"],
        json!({"content-disposition": "attachment; filename=\"a.txt\"", "x-origin": "test"})
    );
    let head = http
        .head(format!("{url}/v1/blobs/{blob_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.headers()["content-disposition"],
        "attachment; filename=\"a.txt\""
    );
    assert_eq!(head.headers()["content-type"], "application/octet-stream");
    assert!(
        head.headers().get("x-origin").is_none(),
        "only allow-listed attributes become headers"
    );
    // A bad name, and someone else's contract: refused, nothing changed.
    let bad = walctl(vec!["blob", "attr", "set", object_id, "Server=evil"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("INVALID_ARGUMENT"));
    let stranger = net.dir.join("stranger.key");
    keyfile::write_new(&stranger, &new_key()).unwrap();
    let args = ["blob", "attr", "rm", object_id, "x-origin"];
    let forbidden = common::process::walctl(&net.ledger.url, &stranger, &args).await;
    assert!(String::from_utf8_lossy(&forbidden.stderr).contains("FORBIDDEN"));
    let again =
        common::process::json_of(&walctl(vec!["blob", "attr", "get", object_id, "--json"]).await);
    assert_eq!(again["attributes"], shown["attributes"]);
}

/// An HS256 token with Walrus's claims, expiring `ttl_secs` from now.
fn token(secret: &str, jti: &str, ttl_secs: i64, extra: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({"iat": now, "exp": now + ttl_secs, "jti": jti});
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[sqlx::test]
async fn jwt_tokens_authorize_each_upload_once(db: PgPool) {
    let net = StorageNet::start(db, 4, 4).await;
    let publisher_key = new_key();
    let publisher = address(&publisher_key);
    net.ledger.fund(&publisher_key, "10000").await;
    let key_file = net.dir.join("publisher.key");
    keyfile::write_new(&key_file, &publisher_key).unwrap();
    let secret = "correct horse battery staple";
    let gateway = start_gateway(
        &net.ledger.url,
        Some(&key_file),
        &[
            ("WAL_GATEWAY_JWT_SECRET", secret),
            ("WAL_GATEWAY_JWT_VERIFY_UPLOAD", "true"),
            ("WAL_GATEWAY_JWT_EXPIRING_SECS", "3600"),
        ],
    );
    let http = reqwest::Client::new();
    let put = |query: &str, bearer: Option<String>| {
        let mut request = http
            .put(format!("{}/v1/blobs{query}", gateway.url))
            .body(vec![5u8; 20_000]);
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        request.send()
    };
    let before = frost_of(&net, &publisher).await;
    let alice = address(&new_key()).to_string();
    let refused = [
        ("?epochs=2", None, StatusCode::UNAUTHORIZED),
        (
            "?epochs=2",
            Some(token("wrong secret", "t1", 60, json!({}))),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "?epochs=2",
            Some(token(secret, "t2", -10, json!({}))),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "?epochs=2",
            Some(token(secret, "t3", 7200, json!({}))),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "?epochs=3",
            Some(token(secret, "t4", 60, json!({"epochs": 2}))),
            StatusCode::BAD_REQUEST,
        ),
        (
            "?epochs=5",
            Some(token(secret, "t5", 60, json!({"max_epochs": 4}))),
            StatusCode::BAD_REQUEST,
        ),
        (
            "?epochs=2",
            Some(token(secret, "t6", 60, json!({"max_size": 100}))),
            StatusCode::BAD_REQUEST,
        ),
        (
            "?epochs=2",
            Some(token(secret, "t7", 60, json!({"send_object_to": alice}))),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (query, bearer, status) in refused {
        envelope(put(query, bearer).await.unwrap(), status).await;
    }
    assert_eq!(frost_of(&net, &publisher).await, before, "nothing paid");
    let good = token(
        secret,
        "ok",
        60,
        json!({"max_epochs": 3, "size": 20_000, "send_object_to": alice}),
    );
    let stored = put(
        &format!("?epochs=2&send_object_to={alice}"),
        Some(good.clone()),
    )
    .await
    .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    let stored: Value = stored.json().await.unwrap();
    assert!(newly_created(&stored).2 > 0, "{stored}");
    let reused = put(&format!("?epochs=2&send_object_to={alice}"), Some(good))
        .await
        .unwrap();
    let message = envelope(reused, StatusCode::UNAUTHORIZED).await;
    assert!(message.contains("used already"), "{message}");
}

/// A `multipart/form-data` body of `(name, bytes)` parts, and its content type.
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "wal-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Walrus's quilt example: three files and their tags in one blob, read back by patch
/// id, by identifier and listed; bad quilts refused with nothing paid.
async fn quilts(
    net: &StorageNet,
    http: &reqwest::Client,
    url: &str,
    publisher: &wal::wire::Address,
) {
    let manual = vec![b'm'; 70_000];
    let logo = vec![b'l'; 3_000];
    let metadata =
        br#"[{"identifier": "quilt-manual", "tags": {"creator": "walrus", "version": "1.0"}},
                        {"identifier": "logo-2025", "tags": {"type": "logo"}}]"#;
    let (content_type, body) = multipart(&[
        ("quilt-manual", &manual),
        ("logo-2025", &logo),
        ("empty.txt", b""),
        ("_metadata", metadata),
    ]);
    let stored: Value = http
        .put(format!(
            "{url}/v1/quilts?epochs=2&quilt_version=v1&encoding_type=RS2"
        ))
        .header("content-type", &content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: walrus::QuiltStoreResult = walrus::parse(&stored);
    let walrus::BlobStoreResult::NewlyCreated { blob_object, .. } = stored.blob_store_result else {
        panic!("the quilt was not newly created: {stored:?}");
    };
    let quilt_id = blob_object.blob_id;
    let patches = &stored.stored_quilt_blobs;
    assert_eq!(patches.len(), 3);
    assert_eq!(patches[0].identifier, "quilt-manual");
    let patch_id = patches[1].quilt_patch_id.as_str();
    let by_id = http
        .get(format!("{url}/v1/blobs/by-quilt-patch-id/{patch_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.status(), StatusCode::OK);
    assert_eq!(by_id.headers()["x-quilt-patch-identifier"], "logo-2025");
    assert_eq!(by_id.headers()["type"], "logo");
    assert_eq!(by_id.bytes().await.unwrap().as_ref(), logo.as_slice());
    let by_name = http
        .get(format!(
            "{url}/v1/blobs/by-quilt-id/{quilt_id}/quilt-manual"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.headers()["creator"], "walrus");
    assert_eq!(by_name.bytes().await.unwrap().as_ref(), manual.as_slice());
    let empty = http
        .get(format!("{url}/v1/blobs/by-quilt-id/{quilt_id}/empty.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::OK);
    assert!(empty.bytes().await.unwrap().is_empty());
    let listed: Value = http
        .get(format!("{url}/v1/quilts/{quilt_id}/patches"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<walrus::QuiltPatchItem> = walrus::parse(&listed);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0].tags["version"], "1.0");
    assert_eq!(listed[1].patch_id, patch_id);
    // Refused: a missing file, a plain blob read as a quilt, bad multipart bodies.
    let missing = http
        .get(format!("{url}/v1/blobs/by-quilt-id/{quilt_id}/nope"))
        .send()
        .await
        .unwrap();
    envelope(missing, StatusCode::NOT_FOUND).await;
    let bad_id = http
        .get(format!("{url}/v1/blobs/by-quilt-patch-id/xyz"))
        .send()
        .await
        .unwrap();
    envelope(bad_id, StatusCode::BAD_REQUEST).await;
    let before = frost_of(net, publisher).await;
    let (ct, twice) = multipart(&[("a", b"1"), ("a", b"2")]);
    let unknown_meta = multipart(&[
        ("a", b"1"),
        ("_metadata", br#"[{"identifier": "b", "tags": {}}]"#),
    ]);
    for (content_type, body) in [
        (ct, twice),
        unknown_meta,
        (
            "multipart/form-data; boundary=x".to_owned(),
            b"garbage".to_vec(),
        ),
        ("application/json".to_owned(), b"{}".to_vec()),
    ] {
        let refused = http
            .put(format!("{url}/v1/quilts"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        envelope(refused, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(frost_of(net, publisher).await, before, "nothing paid");
}

/// `walctl store-quilt DIR` and `walctl read-quilt`, and the gateway reading that quilt.
#[sqlx::test]
async fn walctl_stores_and_reads_quilts(db: PgPool) {
    let net = StorageNet::start(db, 4, 4).await;
    let dir = net.dir.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..5u8 {
        std::fs::write(dir.join(format!("f{i}.txt")), vec![b'a' + i; 2048]).unwrap();
    }
    let run = |args: Vec<String>| {
        let (url, key) = (net.ledger.url.clone(), net.treasury_key.clone());
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::process::walctl(&url, &key, &args).await
        }
    };
    let argv = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let stored = run(argv(&[
        "store-quilt",
        dir.to_str().unwrap(),
        "--epochs",
        "2",
        "--json",
    ]))
    .await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let stored = common::process::json_of(&stored);
    assert_eq!(stored["certified"], true, "{stored}");
    let quilt_id = stored["quilt_id"].as_str().unwrap().to_owned();
    assert_eq!(stored["patches"].as_array().unwrap().len(), 5);
    let listed = common::process::json_of(&run(argv(&["read-quilt", &quilt_id, "--json"])).await);
    assert_eq!(listed["patches"][2]["identifier"], "f2.txt");
    let read = run(argv(&["read-quilt", &quilt_id, "f3.txt"])).await;
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(read.stdout, vec![b'd'; 2048]);
    let missing = run(argv(&["read-quilt", &quilt_id, "nope.txt"])).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("read-quilt"));
    // The gateway reads what walctl wrote, by a patch id walctl printed.
    let gateway = start_gateway(&net.ledger.url, None, &[]);
    let patch_id = stored["patches"][4]["quilt_patch_id"].as_str().unwrap();
    let by_id = reqwest::get(format!(
        "{}/v1/blobs/by-quilt-patch-id/{patch_id}",
        gateway.url
    ))
    .await
    .unwrap();
    assert_eq!(by_id.headers()["x-quilt-patch-identifier"], "f4.txt");
    assert_eq!(
        by_id.bytes().await.unwrap().as_ref(),
        vec![b'e'; 2048].as_slice()
    );

    // Ranges across the stripe boundary (20 MiB at k = 2: two stripes of 2 pieces of
    // 5 MiB, the boundary at 10,485,760), the second from the stripes the first left in
    // the gateway's cache.
    let big = net.dir.join("big.bin");
    random_file(&big, 20 << 20, 3);
    let bytes = std::fs::read(&big).unwrap();
    let stored = run(argv(&[
        "store",
        big.to_str().unwrap(),
        "--epochs",
        "2",
        "--json",
    ]))
    .await;
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let blob_id = common::process::json_of(&stored)["blob_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (start, end) in [
        (10_485_000, 10_487_000),
        (10_485_700, 10_485_800),
        (0, 10),
        (20_971_000, 20_971_520),
    ] {
        let part = reqwest::Client::new()
            .get(format!("{}/v1/blobs/{blob_id}", gateway.url))
            .header("range", format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            part.bytes().await.unwrap().as_ref(),
            &bytes[start..end],
            "{start}..{end}"
        );
    }
}

/// A gateway SIGKILLed after it paid and before the nodes confirmed: a new gateway's
/// retry of the same PUT finishes the contract without a second payment.
async fn killed_mid_upload(
    net: &StorageNet,
    http: &reqwest::Client,
    mut gateway: common::process::Process,
    key_file: &std::path::Path,
    publisher: &wal::wire::Address,
) -> common::process::Process {
    use nix::sys::signal::{kill, Signal};
    let body = vec![9u8; 500_000];
    let pids: Vec<_> = (0..NODES).map(|i| net.pid(i)).collect();
    for pid in &pids {
        kill(*pid, Signal::SIGSTOP).unwrap();
    }
    let before = frost_of(net, publisher).await;
    let put = http
        .put(format!("{}/v1/blobs?epochs=2", gateway.url))
        .body(body.clone())
        .send();
    let upload = tokio::spawn(put);
    // Paid once the balance moved; the upload then waits on the stopped nodes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while frost_of(net, publisher).await == before {
        assert!(Instant::now() < deadline, "the gateway paid within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paid = before - frost_of(net, publisher).await;
    gateway.child.kill().unwrap();
    gateway.child.wait().unwrap();
    assert!(
        upload.await.unwrap().is_err(),
        "the first upload died with its gateway"
    );
    for pid in &pids {
        kill(*pid, Signal::SIGCONT).unwrap();
    }
    let restarted = start_gateway(&net.ledger.url, Some(key_file), &[]);
    let retried: Value = http
        .put(format!("{}/v1/blobs?epochs=2", restarted.url))
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (blob, _, cost) = newly_created(&retried);
    assert_eq!(cost, 0, "{retried}");
    assert!(blob.certified_epoch.is_some(), "{retried}");
    assert_eq!(before - frost_of(net, publisher).await, paid, "paid once");
    restarted
}
