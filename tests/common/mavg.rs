//! Readers for the module's replies: element ids, `MAVG.INFO` and whole-key
//! snapshots.
//!
//! Element ids are RFC 9562 version 8 UUIDs laid out as the README's table
//! says, most significant bit first: the id tag's upper 48 bits, the
//! version `1000`, the tag's next 12 bits, the variant `10`, the tag's
//! lowest 4 bits, and the 58-bit sequence number.

use super::resp::{RawConn, Reply};
use super::{fail, Context, TestResult};

/// The largest sequence number, 2^58 - 1.
pub const SEQ_MAX: u64 = (1 << 58) - 1;

/// The fields `MAVG.INFO` must reply, in the README's order.
pub const INFO_FIELDS: [&str; 5] =
    ["window", "length", "added", "average", "idtag"];

/// An element id, taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElementId {
    /// The key's id tag.
    pub tag: u64,
    /// The element's sequence number.
    pub seq: u64,
}

impl ElementId {
    /// Reads an id in the hyphenated lower-case form, checking its version
    /// and variant.
    pub fn parse(text: &str) -> TestResult<ElementId> {
        let bits = uuid_bits(text)?;
        if (bits >> 76) & 0xf != 8 {
            return fail(format!("{text:?} is not a version 8 UUID"));
        }
        if (bits >> 62) & 0b11 != 0b10 {
            return fail(format!("{text:?} has not the RFC 9562 variant"));
        }
        let upper = ((bits >> 80) << 12) | ((bits >> 64) & 0xfff);
        let lower = (bits >> 58) & 0xf;
        Ok(ElementId {
            tag: ((upper << 4) | lower) as u64,
            seq: (bits as u64) & SEQ_MAX,
        })
    }

    /// The id as the module writes it: hyphenated, lower-case.
    pub fn text(self) -> String {
        let tag = self.tag as u128;
        let upper = tag >> 4;
        let bits = ((upper >> 12) << 80)
            | (8 << 76)
            | ((upper & 0xfff) << 64)
            | (0b10 << 62)
            | ((tag & 0xf) << 58)
            | self.seq as u128;
        let hex = format!("{bits:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

/// The 128 bits of a hyphenated lower-case UUID.
fn uuid_bits(text: &str) -> TestResult<u128> {
    let hyphens = [8, 13, 18, 23];
    let well_formed = text.len() == 36
        && text.char_indices().all(|(i, c)| {
            if hyphens.contains(&i) {
                c == '-'
            } else {
                matches!(c, '0'..='9' | 'a'..='f')
            }
        });
    if !well_formed {
        return fail(format!("{text:?} is not a lower-case UUID"));
    }
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    u128::from_str_radix(&hex, 16).context("uuid hex")
}

/// Reads the ids of a `MAVG.ADD` reply.
pub fn ids_of(reply: &Reply) -> TestResult<Vec<ElementId>> {
    let items = reply.items().context(format!("ids in {reply:?}"))?;
    items
        .iter()
        .map(|item| ElementId::parse(item.text().context("id text")?))
        .collect()
}

/// Sends `MAVG.ADD key args...` and reads the ids it replies, one per
/// value (`args` may start with `WINDOW n`).
pub fn add(
    conn: &mut RawConn,
    key: &str,
    args: &[&str],
) -> TestResult<Vec<ElementId>> {
    let options = match args.first() {
        Some(word) if word.eq_ignore_ascii_case("WINDOW") => 2,
        _ => 0,
    };
    let ids = ids_of(&conn.ok(&[&["MAVG.ADD", key][..], args].concat())?)?;
    let values = args.len().saturating_sub(options);
    if ids.len() != values {
        return fail(format!("{} ids for {values} values", ids.len()));
    }
    Ok(ids)
}

/// `MAVG.INFO`, read field by field.
#[derive(Clone, Debug, PartialEq)]
pub struct Info {
    pub window: i64,
    pub length: i64,
    pub added: i64,
    /// As `MAVG.AVG` replies it.
    pub average: Reply,
    /// The id tag as a number (its 16 hex digits read).
    pub idtag: u64,
}

/// Sends `MAVG.INFO key` and reads the reply, checking it has exactly the
/// README's fields (in any order: `info_field_order` checks the order),
/// with integer replies for the integers.
pub fn info(conn: &mut RawConn, key: &str) -> TestResult<Info> {
    let reply = conn.ok(&["MAVG.INFO", key])?;
    let field = |name: &str| info_field(&reply, name);
    let int = |name: &str| {
        let value = field(name)?;
        value.int().context(format!("{name} is {value:?}"))
    };
    Ok(Info {
        window: int("window")?,
        length: int("length")?,
        added: int("added")?,
        average: field("average")?.clone(),
        idtag: idtag_of(field("idtag")?)?,
    })
}

/// The field names of a `MAVG.INFO` reply, in order.
pub fn info_names(reply: &Reply) -> TestResult<Vec<String>> {
    let items = reply.items().context(format!("INFO {reply:?}"))?;
    if items.len() % 2 != 0 {
        return fail(format!("INFO has an odd length: {reply:?}"));
    }
    items
        .iter()
        .step_by(2)
        .map(|name| Ok(name.text().context("field name")?.to_string()))
        .collect()
}

/// The value of field `name` in a `MAVG.INFO` reply that has each of the
/// README's fields once and no other.
fn info_field<'a>(reply: &'a Reply, name: &str) -> TestResult<&'a Reply> {
    let mut names = info_names(reply)?;
    let position = names.iter().position(|n| n == name);
    names.sort();
    let mut expected = INFO_FIELDS.map(String::from).to_vec();
    expected.sort();
    let items = reply.items().context("INFO items")?;
    match position {
        Some(i) if names == expected => Ok(&items[2 * i + 1]),
        _ => fail(format!("MAVG.INFO replied {reply:?}")),
    }
}

/// Reads an id tag: exactly 16 hex digits.
fn idtag_of(reply: &Reply) -> TestResult<u64> {
    let text = reply.text().context(format!("idtag {reply:?}"))?;
    if text.len() != 16 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return fail(format!("idtag {text:?} is not 16 hex digits"));
    }
    u64::from_str_radix(text, 16).context("idtag hex")
}

/// Everything a client can see of a key, as raw replies.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub exists: Reply,
    pub range: Reply,
    pub info: Reply,
    pub average: Reply,
}

/// Takes a [`Snapshot`] of `key`.
pub fn snapshot(conn: &mut RawConn, key: &str) -> TestResult<Snapshot> {
    Ok(Snapshot {
        exists: conn.call(&["EXISTS", key])?,
        range: conn.call(&["MAVG.RANGE", key, "0", "-1", "WITHIDS"])?,
        info: conn.call(&["MAVG.INFO", key])?,
        average: conn.call(&["MAVG.AVG", key])?,
    })
}

/// The texts of a bulk-string array, such as a `MAVG.RANGE` reply.
pub fn texts(reply: &Reply) -> TestResult<Vec<String>> {
    let items = reply.items().context(format!("array {reply:?}"))?;
    items
        .iter()
        .map(|item| {
            let text = item.text().context(format!("text {item:?}"))?;
            Ok(text.to_string())
        })
        .collect()
}

/// One key as a client sees it: its snapshot and `DEBUG DIGEST-VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyState {
    pub name: String,
    pub snapshot: Snapshot,
    pub digest: Reply,
}

/// Every key of the selected database, sorted by name, and the whole
/// `DEBUG DIGEST`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub keys: Vec<KeyState>,
    pub digest: Reply,
}

/// Takes the [`Dataset`] of the selected database.
pub fn dataset(conn: &mut RawConn) -> TestResult<Dataset> {
    let mut names = texts(&conn.ok(&["KEYS", "*"])?)?;
    names.sort();
    let keys = names
        .into_iter()
        .map(|name| {
            let digest = conn.ok(&["DEBUG", "DIGEST-VALUE", &name])?;
            let snapshot = snapshot(conn, &name)?;
            Ok(KeyState {
                name,
                snapshot,
                digest,
            })
        })
        .collect::<TestResult<Vec<KeyState>>>()?;
    Ok(Dataset {
        keys,
        digest: conn.ok(&["DEBUG", "DIGEST"])?,
    })
}

/// Fails, saying where, unless `actual` equals `expected`; `what` names
/// the two (`"the replica"`, `"after the restart"`). The message names
/// the first key that differs and its first difference, not whole ranges
/// of thousands of values.
pub fn same_dataset(
    expected: &Dataset,
    actual: &Dataset,
    what: &str,
) -> TestResult {
    let names = |set: &Dataset| -> Vec<String> {
        set.keys.iter().map(|key| key.name.clone()).collect()
    };
    if names(expected) != names(actual) {
        let (mine, theirs) = (names(expected), names(actual));
        return fail(format!("{what}: keys {theirs:?}, expected {mine:?}"));
    }
    for (mine, theirs) in expected.keys.iter().zip(&actual.keys) {
        if mine != theirs {
            let name = &mine.name;
            return fail(format!(
                "{what}: key {name:?} {}",
                diff(mine, theirs)
            ));
        }
    }
    if expected.digest != actual.digest {
        return fail(format!(
            "{what}: DEBUG DIGEST {:?}, expected {:?}",
            actual.digest, expected.digest
        ));
    }
    Ok(())
}

/// The first difference between two states of a key, in words.
fn diff(mine: &KeyState, theirs: &KeyState) -> String {
    let (a, b) = (&mine.snapshot, &theirs.snapshot);
    if a.range != b.range {
        let (left, right) = (a.range.items(), b.range.items());
        let (left, right) = (left.unwrap_or(&[]), right.unwrap_or(&[]));
        let at = left.iter().zip(right).position(|(l, r)| l != r);
        return match at {
            Some(i) => format!(
                "range item {i} is {:?}, expected {:?}",
                right[i], left[i]
            ),
            None => format!(
                "range has {} items, expected {}",
                right.len(),
                left.len()
            ),
        };
    }
    format!(
        "is {:?} with digest {:?}, expected {:?} with digest {:?}",
        Snapshot {
            range: Reply::Nil,
            ..b.clone()
        },
        theirs.digest,
        Snapshot {
            range: Reply::Nil,
            ..a.clone()
        },
        mine.digest,
    )
}
