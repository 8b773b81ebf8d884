//! The Merkle tree over a sliver's chunks (see the module docs of `encoding` for the
//! exact construction).

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf, node or root hash of the tree.
pub type Hash = [u8; 32];

const LEAF_TAG: u8 = 0x00;
const NODE_TAG: u8 = 0x01;

/// The leaf hash of a chunk: SHA-256(0x00 ‖ chunk).
pub fn leaf_hash(chunk: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_TAG]);
    hasher.update(chunk);
    hasher.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_TAG]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The levels of the tree, leaves first, root last. An odd node at the end of a level
/// is carried up unchanged.
fn levels(leaves: Vec<Hash>) -> Vec<Vec<Hash>> {
    assert!(!leaves.is_empty(), "a tree has at least one leaf");
    let mut levels = Vec::new();
    let mut level = leaves;
    while level.len() > 1 {
        let next = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [single] => *single,
                _ => unreachable!("chunks of two"),
            })
            .collect();
        levels.push(std::mem::replace(&mut level, next));
    }
    levels.push(level);
    levels
}

/// The root over the chunks' leaf hashes.
pub fn root(leaves: Vec<Hash>) -> Hash {
    // `levels` always ends with the one-node root level.
    let levels = levels(leaves);
    levels[levels.len() - 1][0]
}

/// The sibling hashes from leaf `index` up to the root (levels where the node has no
/// sibling contribute nothing).
pub fn proof(leaves: Vec<Hash>, index: usize) -> Vec<Hash> {
    let levels = levels(leaves);
    let mut siblings = Vec::new();
    let mut position = index;
    for level in &levels[..levels.len() - 1] {
        let sibling = position ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        position /= 2;
    }
    siblings
}

/// Whether `leaf` at `index` of a tree of `leaf_count` leaves has root `root`.
pub fn verify(
    root_hash: &Hash,
    leaf: Hash,
    index: usize,
    leaf_count: usize,
    siblings: &[Hash],
) -> bool {
    if index >= leaf_count {
        return false;
    }
    let mut hash = leaf;
    let mut position = index;
    let mut width = leaf_count;
    let mut used = 0;
    while width > 1 {
        let sibling = position ^ 1;
        if sibling < width {
            let Some(other) = siblings.get(used) else {
                return false;
            };
            used += 1;
            hash = if position % 2 == 0 {
                node_hash(&hash, other)
            } else {
                node_hash(other, &hash)
            };
        }
        position /= 2;
        width = width.div_ceil(2);
    }
    used == siblings.len() && &hash == root_hash
}

/// The root of a sliver computed as its bytes arrive, in O(log n) memory: the tree of
/// the module docs is the binary-counter forest of its leaves (a perfect subtree per
/// set bit of the leaf count, largest first) with the subtrees merged right to left,
/// so a stack of subtree roots is all that needs keeping.
#[derive(Clone, Debug)]
pub struct RootBuilder {
    chunk_len: usize,
    partial: Vec<u8>,
    /// Roots of perfect subtrees with their heights, heights strictly decreasing.
    peaks: Vec<(Hash, u32)>,
    leaves: Option<Vec<Hash>>,
    leaf_count: u64,
}

impl RootBuilder {
    /// A builder cutting bytes into chunks of `chunk_len` (at least 1); with
    /// `keep_leaves` it also records every leaf hash (a node saves them for proofs).
    pub fn new(chunk_len: usize, keep_leaves: bool) -> RootBuilder {
        RootBuilder {
            chunk_len: chunk_len.max(1),
            partial: Vec::new(),
            peaks: Vec::new(),
            leaves: keep_leaves.then(Vec::new),
            leaf_count: 0,
        }
    }

    /// Appends bytes of the sliver; a chunk is hashed once it is whole.
    pub fn push_bytes(&mut self, mut bytes: &[u8]) {
        if !self.partial.is_empty() {
            let take = (self.chunk_len - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < self.chunk_len {
                return;
            }
            let chunk = std::mem::take(&mut self.partial);
            self.push_leaf(leaf_hash(&chunk));
        }
        let whole = bytes.len() / self.chunk_len * self.chunk_len;
        for chunk in bytes[..whole].chunks(self.chunk_len) {
            self.push_leaf(leaf_hash(chunk));
        }
        self.partial.extend_from_slice(&bytes[whole..]);
    }

    /// Appends the leaf hash of a whole chunk (one already verified elsewhere). Only
    /// valid between whole chunks: call it with no partial chunk pending.
    pub fn push_leaf(&mut self, leaf: Hash) {
        debug_assert!(self.partial.is_empty(), "a leaf after a partial chunk");
        if let Some(leaves) = &mut self.leaves {
            leaves.push(leaf);
        }
        self.leaf_count += 1;
        let mut hash = leaf;
        let mut height = 0;
        while let Some(&(left, left_height)) = self.peaks.last() {
            if left_height != height {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&left, &hash);
            height += 1;
        }
        self.peaks.push((hash, height));
    }

    /// Whole chunks so far.
    pub fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// The root (a pending partial chunk is the last, shorter chunk) and, with
    /// `keep_leaves`, the leaves; `None` for a sliver of no bytes at all.
    pub fn finish(mut self) -> Option<(Hash, Vec<Hash>)> {
        if !self.partial.is_empty() {
            let chunk = std::mem::take(&mut self.partial);
            self.push_leaf(leaf_hash(&chunk));
        }
        let mut peaks = self.peaks.into_iter().rev().map(|(hash, _)| hash);
        let mut root = peaks.next()?;
        for left in peaks {
            root = node_hash(&left, &root);
        }
        Some((root, self.leaves.unwrap_or_default()))
    }
}
