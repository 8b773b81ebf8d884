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
