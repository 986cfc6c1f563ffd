//! Element ids: version 8 UUIDs made of a key's id tag and an element's
//! sequence number, so that no id is ever stored.
//!
//! The 128 bits, most significant first: the tag's upper 48 bits, the
//! version (`1000`), the tag's next 12 bits, the variant (`10`), the tag's
//! lowest 4 bits, and the 58-bit sequence number. The hyphenated text
//! shows the tag in its first 12 and next 3 hexadecimal digits.

use uuid::Uuid;

/// The largest sequence number an id can hold.
pub(crate) const MAX_SEQ: u64 = (1 << 58) - 1;

const VERSION: u128 = 0x8 << 76;
const VARIANT: u128 = 0b10 << 62;
const VERSION_MASK: u128 = 0xf << 76;
const VARIANT_MASK: u128 = 0b11 << 62;

/// The id of the element numbered `seq` (at most [`MAX_SEQ`]) in the key
/// whose id tag is `tag`.
pub(crate) fn element_id(tag: u64, seq: u64) -> Uuid {
    let tag = u128::from(tag);
    let high = (tag >> 16) << 80;
    let middle = ((tag >> 4) & 0xfff) << 64;
    let low = (tag & 0xf) << 58;
    let tag_bits = high | middle | low;
    Uuid::from_u128(tag_bits | VERSION | VARIANT | u128::from(seq))
}

/// The tag and sequence number of `id`; `None` if `id` is not a version 8
/// UUID of the RFC 9562 variant.
pub(crate) fn split_id(id: Uuid) -> Option<(u64, u64)> {
    let bits = id.as_u128();
    if bits & VERSION_MASK != VERSION || bits & VARIANT_MASK != VARIANT {
        return None;
    }
    let high = (bits >> 80) << 16;
    let middle = ((bits >> 64) & 0xfff) << 4;
    let low = (bits >> 58) & 0xf;
    let tag = high | middle | low;
    Some((tag as u64, (bits as u64) & MAX_SEQ))
}

/// A fresh random tag.
pub(crate) fn random_tag() -> u64 {
    Uuid::new_v4().as_u64_pair().0
}

/// The tag of copy number `copy` (0 for the first) of the series tagged
/// `tag`.
///
/// A replica runs `COPY` itself, so the copy's tag cannot be random: it is
/// a hash of the source's tag and the number of copies made before, the
/// same on every server, different for every copy of one source, and
/// unrelated to the source's tag.
pub(crate) fn copy_tag(tag: u64, copy: u64) -> u64 {
    // FNV-1a over the inputs, then a 64-bit finalizer (from SplitMix64)
    // so that every input bit moves every output bit.
    let bytes = tag.to_le_bytes().into_iter().chain(copy.to_le_bytes());
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (tag, seq) in [(0, 0), (u64::MAX, MAX_SEQ), (0x1234, 77)] {
            let id = element_id(tag, seq);
            assert_eq!(id.get_version_num(), 8);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(split_id(id), Some((tag, seq)));
        }
    }

    #[test]
    fn other_uuids_are_refused() {
        assert_eq!(split_id(Uuid::new_v4()), None);
        assert_eq!(split_id(Uuid::nil()), None);
    }

    #[test]
    fn copies_get_other_tags() {
        let tag = 0x0123_4567_89ab_cdef;
        let first = copy_tag(tag, 0);
        assert_ne!(first, tag);
        assert_eq!(first, copy_tag(tag, 0));
        assert_ne!(first, copy_tag(tag, 1));
        assert_ne!(first, copy_tag(tag + 1, 0));
    }

    #[test]
    fn layout() {
        let id = element_id(0x0123_4567_89ab_cdef, 2);
        assert_eq!(id.to_string(), "01234567-89ab-8cde-bc00-000000000002");
    }
}
