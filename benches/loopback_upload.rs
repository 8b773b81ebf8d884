//! The floors under `walctl store` and `walctl read`: the same file, encoded the same
//! way, its slivers PUT over loopback HTTP with the same client (reqwest), all at once
//! (as store streams every node at once), to an axum server that writes each one to a
//! file and fsyncs it, as a storage node must before it confirms; then k of them GET
//! back from those files, all at once, into memory, and once more into one output file
//! (each at its offset, not fsynced, as `walctl read -o` writes). No verification, no
//! ledger, no decoding.
//! `scripts/bench-blobs.sh` prints it next to the real store and read of the same file.
//!
//!   cargo bench --bench loopback_upload -- FILE N_SHARDS
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::put;
use axum::Router;

#[derive(Clone)]
struct Sink {
    received: Arc<AtomicU64>,
    dir: Arc<std::path::PathBuf>,
}

/// Writes the sliver to its own file and fsyncs it, off the async workers.
async fn store_sliver(
    State(sink): State<Sink>,
    axum::extract::Path(shard): axum::extract::Path<u32>,
    body: Bytes,
) {
    let path = sink.dir.join(format!("sliver-{shard}"));
    let len = body.len() as u64;
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = std::fs::File::create(path).expect("the sliver file opens");
        file.write_all(&body).expect("the sliver is written");
        file.sync_all().expect("the sliver is synced");
    })
    .await
    .expect("the write task ends");
    sink.received.fetch_add(len, Ordering::Relaxed);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [file, n_shards] = &args[..] else {
        eprintln!("usage: cargo bench --bench loopback_upload -- FILE N_SHARDS");
        std::process::exit(2);
    };
    let bytes = std::fs::read(file).expect("the file reads");
    let n_shards: u32 = n_shards.parse().expect("N_SHARDS is a number");
    let started = Instant::now();
    let (_, slivers) = wal::encoding::encode(&bytes, n_shards).expect("the file encodes");
    let encode_secs = started.elapsed().as_secs_f64();
    let encoded: u64 = slivers.iter().map(|s| s.len() as u64).sum();

    let received = Arc::new(AtomicU64::new(0));
    let dir = std::env::temp_dir().join(format!("wal-loopback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let sink = Router::new()
        .route("/sliver/{shard}", put(store_sliver).get(read_sliver))
        .layer(DefaultBodyLimit::disable())
        .with_state(Sink {
            received: received.clone(),
            dir: Arc::new(dir.clone()),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sink).await.unwrap() });

    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut uploads = tokio::task::JoinSet::new();
    for (shard, sliver) in slivers.into_iter().enumerate() {
        let (http, url) = (http.clone(), url.clone());
        uploads.spawn(async move {
            let response = http
                .put(format!("{url}/sliver/{shard}"))
                .body(sliver)
                .send()
                .await
                .expect("the sink answers");
            assert!(response.status().is_success());
        });
    }
    while let Some(done) = uploads.join_next().await {
        done.unwrap();
    }
    let upload_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        received.load(Ordering::Relaxed),
        encoded,
        "every byte arrived"
    );
    let k = wal::encoding::data_shards(n_shards);
    let started = Instant::now();
    let downloaded = download(&http, &url, k, None).await;
    let download_secs = started.elapsed().as_secs_f64();
    let out = dir.join("blob.out");
    let file = Arc::new(std::fs::File::create(&out).expect("the output file opens"));
    let started = Instant::now();
    download(&http, &url, k, Some(file)).await;
    let download_file_secs = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir).ok();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let blob = bytes.len() as u64;
    println!("encode {encode_secs:.2} s");
    println!(
        "raw upload: {:.0} MiB encoded ({n_shards} slivers, write + fsync) in {upload_secs:.2} s = {:.1} MiB/s of blob",
        mib(encoded),
        mib(blob) / upload_secs
    );
    println!(
        "raw download: {:.0} MiB ({k} slivers) in {download_secs:.2} s = {:.1} MiB/s of blob",
        mib(downloaded),
        mib(blob) / download_secs
    );
    println!("raw_upload_secs={upload_secs:.3}");
    println!("raw download into a file: {download_file_secs:.2} s");
    println!("raw_download_secs={download_secs:.3}");
    println!("raw_download_file_secs={download_file_secs:.3}");
}

/// Reads a stored sliver back from its file, off the async workers.
async fn read_sliver(
    State(sink): State<Sink>,
    axum::extract::Path(shard): axum::extract::Path<u32>,
) -> Vec<u8> {
    let path = sink.dir.join(format!("sliver-{shard}"));
    tokio::task::spawn_blocking(move || std::fs::read(path).expect("the sliver was stored"))
        .await
        .expect("the read task ends")
}

/// GETs slivers 0..k all at once; into memory, or each into `file` at its offset as it
/// arrives. The bytes received.
async fn download(
    http: &reqwest::Client,
    url: &str,
    k: u32,
    file: Option<Arc<std::fs::File>>,
) -> u64 {
    let mut downloads = tokio::task::JoinSet::new();
    for shard in 0..k {
        let (http, url, file) = (http.clone(), url.to_owned(), file.clone());
        downloads.spawn(async move {
            let mut response = http
                .get(format!("{url}/sliver/{shard}"))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            let Some(file) = file else {
                return response.bytes().await.unwrap().len() as u64;
            };
            let mut offset = u64::from(shard) * response.content_length().unwrap();
            let start = offset;
            while let Some(chunk) = response.chunk().await.unwrap() {
                use std::os::unix::fs::FileExt;
                file.write_all_at(&chunk, offset)
                    .expect("the output is written");
                offset += chunk.len() as u64;
            }
            offset - start
        });
    }
    let mut downloaded = 0;
    while let Some(done) = downloads.join_next().await {
        downloaded += done.unwrap();
    }
    downloaded
}
