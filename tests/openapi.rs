//! `/openapi.json` is a document a client can be generated from: an independent
//! validator (Python's `openapi-spec-validator`) accepts it, and a property-based pass
//! of `schemathesis` over the GET operations finds no response that contradicts it
//! (undocumented status codes, bodies off their schemas, wrong content types, 500s).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{new_key, python, TestLedger};
use serde_json::Value;
use sqlx::PgPool;

/// `openapi-spec-validator` on a document given on stdin.
const VALIDATE: &str = r#"
import json, sys
from openapi_spec_validator import validate
validate(json.load(sys.stdin))
print("valid")
"#;

async fn validate(document: &Value) -> Output {
    let text = serde_json::to_vec(document).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python())
            .args(["-c", VALIDATE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs");
        child.stdin.take().unwrap().write_all(&text).unwrap();
        child.wait_with_output().expect("python ends")
    })
    .await
    .unwrap()
}

async fn document(ledger: &TestLedger) -> Value {
    reqwest::get(format!("{}/openapi.json", ledger.url))
        .await
        .expect("the document is served")
        .json()
        .await
        .expect("the document is JSON")
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[sqlx::test]
async fn the_document_is_valid_openapi_and_the_validator_sees_breakage(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    let document = document(&ledger).await;
    let output = validate(&document).await;
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects /openapi.json: {}",
        text(&output)
    );

    // Every query parameter is declared as one (not `in: path`, which a generated
    // client would splice into the URL), and no error is declared as plain JSON.
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "path" {
                    let name = parameter["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name} is declared in: path but is not in the path"
                    );
                }
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().unwrap();
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    // The validator is not a rubber stamp: a query parameter declared `in: path`
    // (what the document did before) is refused.
    let mut broken = document.clone();
    let parameters = broken["paths"]["/v1/stakes"]["get"]["parameters"]
        .as_array_mut()
        .expect("GET /v1/stakes has parameters");
    let owner = parameters
        .iter_mut()
        .find(|p| p["name"] == "owner")
        .expect("an owner parameter");
    owner["in"] = "path".into();
    owner["required"] = true.into();
    let output = validate(&broken).await;
    assert!(
        !output.status.success(),
        "openapi-spec-validator accepts a query parameter declared in: path: {}",
        text(&output)
    );
    ledger.stop().await;
}

/// Runs schemathesis from the venv's Python, so that `WAL_TEST_PYTHON` applies too.
const SCHEMATHESIS: &str = "import sys; from schemathesis.cli import schemathesis; \
                            sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())";

/// What the document cannot state as bounds: `epochs` beyond the governable
/// `epochs_ahead_max` and sizes whose cost overflows are refused with a 400; and a
/// network without a committee (this one: no nodes) has no price yet, a documented 503.
const CONFIG: &str = r#"
[[operations]]
include-path = "/v1/price"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "503"]
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]
"#;

#[sqlx::test]
async fn get_operations_conform_to_the_document(db: PgPool) {
    let ledger = TestLedger::start(db).await;
    // Something to find: an account with entries, a transfer.
    let someone = new_key();
    ledger.fund(&someone, "3").await;

    let url = format!("{}/openapi.json", ledger.url);
    let report = std::env::temp_dir().join(format!("wal-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&report).unwrap();
    let config = report.join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let args: Vec<String> = [
        "-c",
        SCHEMATHESIS,
        "--config-file",
        config.to_str().unwrap(),
        "--no-color",
        "run",
        &url,
        "--include-method",
        "GET",
        // The aggregator endpoint reads blobs from storage nodes; there are none here.
        "--exclude-path",
        "/v1/blobs/{blob_id}",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "1",
        "--workers",
        "2",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--report-dir",
        report.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let workdir = report.clone();
    let output = tokio::task::spawn_blocking(move || {
        // In the temporary directory: schemathesis keeps a cache in its working directory.
        Command::new(python())
            .args(&args)
            .current_dir(&workdir)
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&report);
    assert!(
        output.status.success(),
        "schemathesis found responses that contradict /openapi.json:\n{}",
        text(&output)
    );
    ledger.stop().await;
}
