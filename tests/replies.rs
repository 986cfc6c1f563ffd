//! How numbers come back: shortest-text bulk strings for RESP2 clients,
//! doubles for RESP3 clients; and exact averages, correctly rounded, on the
//! README's cases, on the traps that break running sums, and on random
//! windows checked against the exact oracle.

mod common;

use std::cell::{Cell, RefCell};

use common::exact::{exact_mean, is_shortest_text};
use common::mavg::{add, info, texts};
use common::resp::{cmd, RawConn, Reply};
use common::server::Server;
use common::{fail, TestResult};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

#[test]
fn resp2_numbers_are_shortest_bulk_strings() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let cases = [
        ("0.1", "0.1"),
        ("2", "2"),
        ("2.0", "2"),
        ("1e300", "1e+300"),
        ("-2.5e-7", "-2.5e-07"),
    ];

    for (i, (value, text)) in cases.into_iter().enumerate() {
        let key = format!("k{i}");
        add(&mut conn, &key, &["WINDOW", "1", value])?;
        let expected = Reply::bulk(text);
        assert_eq!(conn.ok(&["MAVG.AVG", &key])?, expected, "{value}");
        assert_eq!(conn.ok(&["MAVG.GET", &key, "0"])?, expected, "{value}");
        let range = conn.ok(&["MAVG.RANGE", &key, "0", "-1"])?;
        assert_eq!(range, Reply::Array(vec![expected.clone()]));
        assert_eq!(info(&mut conn, &key)?.average, expected, "{value}");
    }
    Ok(())
}

#[test]
fn resp2_texts_are_shortest_for_awkward_values() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let values = [
        5e-324,
        2.2250738585072014e-308,
        f64::MAX,
        -f64::MAX,
        0.3,
        1.0 / 3.0,
        123456789012345680000.0,
        1e21,
        1e22,
        1e-7,
        9007199254740993.0,
        100.0,
        1e16,
        1e17,
        0.0001,
        0.00001,
    ];

    for value in values {
        let value_text = format!("{value:e}");
        add(&mut conn, "k", &["WINDOW", "1", &value_text])?;
        let reply = conn.ok(&["MAVG.GET", "k", "-1"])?;
        let text = reply.text().unwrap_or("");
        assert!(
            matches!(reply, Reply::Bulk(_)) && is_shortest_text(text, value),
            "{value:e} came back as {reply:?}"
        );
        assert_eq!(conn.ok(&["MAVG.AVG", "k"])?, reply, "{value:e}");
    }
    Ok(())
}

#[test]
fn resp3_numbers_are_doubles() -> TestResult {
    let server = Server::start()?;
    if !server.at_least(7, 0, "telling the module a client speaks RESP3")? {
        return Ok(());
    }
    let mut conn = server.connect_resp3()?;
    let ids = add(&mut conn, "k", &["0.1", "0.2", "1e300"])?;

    let average = conn.ok(&["MAVG.AVG", "k"])?;
    let value = conn.ok(&["MAVG.GET", "k", "0"])?;
    let by_id = conn.ok(&["MAVG.GET", "k", &ids[2].text()])?;
    let range = conn.ok(&["MAVG.RANGE", "k", "0", "-1", "WITHIDS"])?;

    assert!(matches!(average, Reply::Double(_)), "AVG {average:?}");
    assert_eq!(average.number(), exact_mean(&[0.1, 0.2, 1e300]));
    assert!(matches!(value, Reply::Double(_)), "GET {value:?}");
    assert_eq!(value.number(), Some(0.1));
    assert!(matches!(by_id, Reply::Double(_)), "GET {by_id:?}");
    assert_eq!(by_id.number(), Some(1e300));
    let items = range.items().unwrap_or(&[]);
    assert_eq!(items.len(), 6, "RANGE {range:?}");
    for (pair, id) in items.chunks(2).zip(&ids) {
        assert!(matches!(pair[0], Reply::Double(_)), "{range:?}");
        assert_eq!(pair[1], Reply::bulk(&id.text()), "{range:?}");
    }
    Ok(())
}

#[test]
fn resp3_info_is_a_flat_array_with_a_double() -> TestResult {
    let server = Server::start()?;
    if !server.at_least(7, 0, "telling the module a client speaks RESP3")? {
        return Ok(());
    }
    let mut conn = server.connect_resp3()?;
    add(&mut conn, "k", &["WINDOW", "2", "1", "2"])?;

    let reply = conn.ok(&["MAVG.INFO", "k"])?;
    let info = info(&mut conn, "k")?;

    assert!(matches!(reply, Reply::Array(_)), "INFO {reply:?}");
    assert_eq!((info.window, info.length, info.added), (2, 2, 2));
    assert_eq!(info.average, Reply::Double("1.5".into()));
    Ok(())
}

#[test]
fn resp3_missing_and_empty_are_null() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect_resp3()?;
    conn.ok(&["MAVG.CREATE", "empty", "WINDOW", "2"])?;

    assert_eq!(conn.ok(&["MAVG.AVG", "missing"])?, Reply::Nil);
    assert_eq!(conn.ok(&["MAVG.AVG", "empty"])?, Reply::Nil);
    assert_eq!(conn.ok(&["MAVG.GET", "empty", "0"])?, Reply::Nil);
    assert_eq!(info(&mut conn, "empty")?.average, Reply::Nil);
    Ok(())
}

/// Feeds `values` to a new key of window `window` and returns the
/// average's text.
fn average_of(
    conn: &mut RawConn,
    key: &str,
    window: usize,
    values: &[&str],
) -> TestResult<String> {
    let window = window.to_string();
    add(conn, key, &[&["WINDOW", &window][..], values].concat())?;
    let reply = conn.ok(&["MAVG.AVG", key])?;
    match reply.text() {
        Some(text) => Ok(text.to_string()),
        None => fail(format!("MAVG.AVG {key} replied {reply:?}")),
    }
}

#[test]
fn averages_are_exact_on_the_readme_cases() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let ones = ["1e16", "1", "1", "1", "1", "1"];
    let zeros = ["2.06", "0.888889", "0", "0"];
    let odds = ["1e17", "3", "5", "7"];

    assert_eq!(average_of(&mut conn, "ones", 3, &ones)?, "1");
    assert_eq!(average_of(&mut conn, "zeros", 2, &zeros)?, "0");
    assert_eq!(average_of(&mut conn, "odds", 2, &odds)?, "6");
    Ok(())
}

#[test]
fn averages_are_exact_where_running_sums_fail() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let cases: [(usize, &[&str]); 9] = [
        (2, &["-1e32", "-1e32", "-1e16", "1", "1"]),
        (3, &["1e16", "1", "1", "1"]),
        (2, &["1.5e308", "1.5e308"]),
        (3, &["1e308", "1e308", "-1e308"]),
        (2, &["-1.7976931348623157e308", "-1.7976931348623157e308"]),
        (2, &["5e-324", "0"]),
        (2, &["1.5e-323", "0"]),
        (3, &["5e-324", "0", "0"]),
        (4, &["1e308", "1", "-1e308", "0.1", "-1e-300", "3"]),
    ];

    for (i, (window, values)) in cases.into_iter().enumerate() {
        let text = average_of(&mut conn, &format!("k{i}"), window, values)?;
        let numbers: Vec<f64> =
            values.iter().map(|v| v.parse()).collect::<Result<_, _>>()?;
        let kept = &numbers[numbers.len().saturating_sub(window)..];
        let average = text.parse::<f64>().ok();
        assert_eq!(average, exact_mean(kept), "window {window}: {values:?}");
    }
    Ok(())
}

/// Values of every magnitude, mixed so sums cancel and carry.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000..1000i32).prop_map(f64::from),
        (-1e3..1e3f64),
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        (0u64..1 << 53).prop_map(f64::from_bits),
        prop::sample::select(vec![1e308, -1e308, 1e16, -1e16, 0.1, 5e-324]),
    ]
}

#[test]
fn averages_match_the_exact_oracle() -> TestResult {
    let server = Server::start()?;
    // The runner takes a `Fn`: the connection and the key counter live in
    // cells. Each case, shrunk ones included, gets a key of its own.
    let conn = RefCell::new(server.connect()?);
    let case = Cell::new(0);
    let mut runner = TestRunner::new(Config::with_cases(64));
    let inputs = (1..8usize, prop::collection::vec(value(), 1..40));

    let result = runner.run(&inputs, |(window, values)| {
        case.set(case.get() + 1);
        let key = format!("case{}", case.get());
        let mut conn = conn.borrow_mut();
        check_every_average(&mut conn, &key, window, &values)
            .map_err(|e| TestCaseError::fail(e.to_string()))
    });
    result.map_err(|e| e.to_string().into())
}

/// Adds `values` one by one and compares each average with the oracle's.
fn check_every_average(
    conn: &mut RawConn,
    key: &str,
    window: usize,
    values: &[f64],
) -> TestResult {
    let window_text = window.to_string();
    let commands: Vec<Vec<String>> = values
        .iter()
        .flat_map(|v| {
            let value = format!("{v:e}");
            let add = ["MAVG.ADD", key, "WINDOW", &window_text, &value];
            [cmd(&add), cmd(&["MAVG.AVG", key])]
        })
        .collect();
    let replies = conn.pipeline(&commands)?;
    if let Some(error) = replies.iter().find(|reply| reply.is_error()) {
        return fail(format!("window {window}, {values:?}: {error:?}"));
    }

    for (i, reply) in replies.iter().skip(1).step_by(2).enumerate() {
        let kept = &values[(i + 1).saturating_sub(window)..=i];
        let expected = exact_mean(kept).unwrap_or(f64::NAN);
        let text = reply.text().unwrap_or("");
        if !is_shortest_text(text, expected) {
            return fail(format!(
                "window {window}, values {:?}: average {reply:?}, \
                 exact {expected:e}",
                kept
            ));
        }
    }
    let range = texts(&conn.ok(&["MAVG.RANGE", key, "0", "-1"])?)?;
    assert_eq!(range.len(), window.min(values.len()));
    Ok(())
}
