//! ACLs: who may run which MAVG command on which key.
//!
//! Redis 7.0 has no API for a module's commands to join ACL categories
//! (`RM_SetCommandACLCategories` came in 7.2), so there `+@read` does not
//! grant `MAVG.AVG`; the module asks for `@read` and `@write` where the
//! server can give them. Every server checks key patterns, as every MAVG
//! command declares its key.

mod common;

use common::mavg::add;
use common::resp::{RawConn, Reply};
use common::server::Server;
use common::{fail, TestResult};

const PASSWORD: &str = "hostile-tests";

/// The four read commands, on `key`.
fn reads(key: &str) -> [Vec<&str>; 4] {
    [
        vec!["MAVG.AVG", key],
        vec!["MAVG.GET", key, "-1"],
        vec!["MAVG.RANGE", key, "0", "-1", "WITHIDS"],
        vec!["MAVG.INFO", key],
    ]
}

/// The two write commands, on `key`.
fn writes(key: &str) -> [Vec<&str>; 2] {
    [
        vec!["MAVG.ADD", key, "WINDOW", "5", "9"],
        vec!["MAVG.CREATE", key, "WINDOW", "5"],
    ]
}

/// A server with the MAVG key `k` (window 5, three values), and an
/// administrator's connection to it.
fn server_with_key() -> TestResult<(Server, RawConn)> {
    let server = Server::start()?;
    let mut admin = server.connect()?;
    add(&mut admin, "k", &["WINDOW", "5", "1", "2", "4"])?;
    Ok((server, admin))
}

/// Makes the user `name` with `rules`, and a connection logged in as it.
fn user(
    server: &Server,
    admin: &mut RawConn,
    name: &str,
    rules: &[&str],
) -> TestResult<RawConn> {
    let password = format!(">{PASSWORD}");
    let setup = [&["ACL", "SETUSER", name, "on", &password][..], rules];
    admin.ok(&setup.concat())?;
    let mut conn = server.connect()?;
    conn.ok(&["AUTH", name, PASSWORD])?;
    Ok(conn)
}

/// `args` must be refused with `NOPERM` and change nothing.
fn denied(
    conn: &mut RawConn,
    admin: &mut RawConn,
    args: &[&str],
) -> TestResult {
    let before = admin.ok(&["DEBUG", "DIGEST"])?;
    let reply = conn.call(args)?;
    let after = admin.ok(&["DEBUG", "DIGEST"])?;

    match reply {
        Reply::Error(text) if text.starts_with("NOPERM ") => {}
        other => return fail(format!("{args:?} replied {other:?}")),
    }
    assert_eq!(before, after, "the refused {args:?} changed data");
    Ok(())
}

/// `args` must get the reply the administrator gets.
fn allowed(
    conn: &mut RawConn,
    admin: &mut RawConn,
    args: &[&str],
) -> TestResult {
    let reply = conn.ok(args)?;
    assert_eq!(reply, admin.ok(args)?, "{args:?}");
    Ok(())
}

#[test]
fn the_read_category_grants_reads_where_it_can() -> TestResult {
    let (server, mut admin) = server_with_key()?;
    let category = admin.ok(&["ACL", "CAT", "read"])?;
    let listed = common::mavg::texts(&category)?
        .iter()
        .any(|name| name == "mavg.avg");
    let mut reader = user(&server, &mut admin, "reader", &["~*", "+@read"])?;

    if listed {
        eprintln!("this server puts module commands in @read");
        for args in reads("k") {
            allowed(&mut reader, &mut admin, &args)?;
        }
        for args in writes("k").iter().chain(&writes("fresh")) {
            denied(&mut reader, &mut admin, args)?;
        }
    } else {
        eprintln!("this server has no ACL categories for module commands");
        for args in reads("k").iter().chain(&writes("k")) {
            denied(&mut reader, &mut admin, args)?;
        }
    }
    Ok(())
}

#[test]
fn reads_granted_by_name_leave_writes_denied() -> TestResult {
    let (server, mut admin) = server_with_key()?;
    let rules = [
        "~*",
        "+@read",
        "+mavg.avg",
        "+mavg.get",
        "+mavg.range",
        "+mavg.info",
    ];
    let mut reader = user(&server, &mut admin, "reader", &rules)?;

    for args in reads("k") {
        allowed(&mut reader, &mut admin, &args)?;
    }
    for args in writes("k").iter().chain(&writes("fresh")) {
        denied(&mut reader, &mut admin, args)?;
    }
    assert_eq!(admin.ok(&["EXISTS", "fresh"])?, Reply::Int(0));
    Ok(())
}

#[test]
fn key_patterns_bound_every_command() -> TestResult {
    let (server, mut admin) = server_with_key()?;
    let rules = ["~metrics:*", "+@all"];
    let mut metrics = user(&server, &mut admin, "metrics", &rules)?;

    for key in ["k", "other:x", "metricsx"] {
        for args in reads(key).iter().chain(&writes(key)) {
            denied(&mut metrics, &mut admin, args)?;
        }
    }
    assert_eq!(admin.ok(&["EXISTS", "other:x", "metricsx"])?, Reply::Int(0));

    let create = ["MAVG.CREATE", "metrics:x", "WINDOW", "5"];
    assert_eq!(metrics.ok(&create)?, Reply::status("OK"));
    let ids = add(&mut metrics, "metrics:x", &["WINDOW", "5", "1", "2"])?;
    assert_eq!(ids.len(), 2);
    for args in reads("metrics:x") {
        allowed(&mut metrics, &mut admin, &args)?;
    }
    let average = metrics.ok(&["MAVG.AVG", "metrics:x"])?;
    assert_eq!(average, Reply::bulk("1.5"));
    Ok(())
}

/// Redis 7.0's read-only key permission (`%R~pattern`) grants the four
/// read commands, as it grants `GET` and `LRANGE`: their key specs
/// declare the key read-only (`RedisModule_SetCommandInfo`, 7.0+).
#[test]
fn read_only_key_permissions_grant_the_reads() -> TestResult {
    let (server, mut admin) = server_with_key()?;
    if !server.at_least(7, 0, "key permissions (%R~) and key specs")? {
        return Ok(());
    }
    admin.ok(&["SET", "s", "v"])?;
    let rules = ["%R~*", "+@all"];
    let mut reader = user(&server, &mut admin, "reader", &rules)?;

    allowed(&mut reader, &mut admin, &["GET", "s"])?;
    for args in reads("k") {
        allowed(&mut reader, &mut admin, &args)?;
    }
    for args in writes("k") {
        denied(&mut reader, &mut admin, &args)?;
    }
    Ok(())
}
