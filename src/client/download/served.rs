//! Checking a served sliver as it streams (blob health, the checker's repairs).

use crate::encoding::merkle;
use crate::encoding::BlobMetadata;

/// What a served sliver turned out to be, hashed as it arrived (never held whole,
/// never more than `sliver_len` bytes read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// It has the metadata's length and root.
    Verified,
    /// Wrong length or root.
    Corrupt,
    /// The node went silent (the client's read timeout).
    TimedOut,
    /// The stream broke off; a node cuts off a sliver that rotted on its disk.
    CutOff,
}

/// Hashes the body of a successful sliver GET as it streams.
pub async fn served_sliver(
    mut response: reqwest::Response,
    metadata: &BlobMetadata,
    shard: u32,
) -> Served {
    let mut root = merkle::RootBuilder::new(
        usize::try_from(metadata.chunk_len).unwrap_or(usize::MAX),
        false,
    );
    let mut received: u64 = 0;
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                received += bytes.len() as u64;
                if received > metadata.sliver_len {
                    return Served::Corrupt;
                }
                root.push_bytes(&bytes);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Served::TimedOut,
            Err(_) => return Served::CutOff,
        }
    }
    let expected = metadata.sliver_root_hash(shard).ok();
    let got = root.finish().map(|(hash, _)| hash);
    if received == metadata.sliver_len && got.is_some() && got == expected {
        Served::Verified
    } else {
        Served::Corrupt
    }
}
