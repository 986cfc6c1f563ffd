//! A year of hourly Seattle temperatures (`data/seattle-temps.csv`, 8,759
//! rows) streamed through `MAVG.ADD ... WINDOW 24`: after every row the
//! module's average must be the exact mean of the last 24 values, correctly
//! rounded, and the ids must count up row by row.

mod common;

use std::collections::VecDeque;
use std::fs;
use std::path::Path;

use common::exact::{is_shortest_text, nearest_f64, rational};
use common::mavg::{ids_of, info};
use common::resp::{cmd, RawConn, Reply};
use common::server::Server;
use common::{fail, Context, TestResult};
use num_rational::BigRational;
use num_traits::Zero;

/// The window, a day of hourly readings.
const WINDOW: usize = 24;

/// Rows sent per pipeline.
const BATCH: usize = 500;

const KEY: &str = "seattle:temp";

/// The temperatures, as the CSV spells them.
fn temperatures() -> TestResult<Vec<String>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/seattle-temps.csv");
    let csv = fs::read_to_string(&path).context(path.display())?;
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("date,temp"), "the CSV header");
    lines
        .map(|line| match line.split(',').collect::<Vec<_>>()[..] {
            [_date, temp] => Ok(temp.to_string()),
            _ => fail(format!("bad row {line:?}")),
        })
        .collect()
}

/// The exact mean of the last [`WINDOW`] values, kept as a running exact
/// sum: what the module must answer, before rounding.
struct Oracle {
    window: VecDeque<BigRational>,
    sum: BigRational,
}

impl Oracle {
    fn new() -> Oracle {
        Oracle {
            window: VecDeque::new(),
            sum: BigRational::zero(),
        }
    }

    /// Adds `value` and returns the correctly rounded mean of the window.
    fn push(&mut self, value: f64) -> f64 {
        let value = rational(value);
        self.sum += &value;
        self.window.push_back(value);
        if self.window.len() > WINDOW {
            let oldest = self.window.pop_front().expect("a full window");
            self.sum -= oldest;
        }
        let count = BigRational::from_integer(self.window.len().into());
        nearest_f64(&(&self.sum / count))
    }
}

#[test]
fn seattle_averages_are_exact_after_every_row() -> TestResult {
    let server = Server::start()?;
    let mut conn = server.connect()?;
    let temperatures = temperatures()?;
    let mut oracle = Oracle::new();

    for (batch, rows) in temperatures.chunks(BATCH).enumerate() {
        let replies = send_rows(&mut conn, rows)?;
        for (i, (row, pair)) in rows.iter().zip(replies.chunks(2)).enumerate()
        {
            let index = batch * BATCH + i;
            let expected = oracle.push(row.parse()?);
            check_row(index, pair, expected)?;
        }
    }

    assert_eq!(temperatures.len(), 8_759);
    let info = info(&mut conn, KEY)?;
    assert_eq!((info.window, info.length), (WINDOW as i64, WINDOW as i64));
    assert_eq!(info.added, temperatures.len() as i64);
    Ok(())
}

/// Sends `MAVG.ADD` then `MAVG.AVG` for each row, in one pipeline.
fn send_rows(conn: &mut RawConn, rows: &[String]) -> TestResult<Vec<Reply>> {
    let window = WINDOW.to_string();
    let commands: Vec<Vec<String>> = rows
        .iter()
        .flat_map(|row| {
            [
                cmd(&["MAVG.ADD", KEY, "WINDOW", &window, row]),
                cmd(&["MAVG.AVG", KEY]),
            ]
        })
        .collect();
    conn.pipeline(&commands)
}

/// Checks the replies to row `index`: one id with sequence number `index`,
/// and the average `expected`, in its shortest text.
fn check_row(index: usize, pair: &[Reply], expected: f64) -> TestResult {
    let ids = ids_of(&pair[0]).context(format!("row {index}"))?;
    if ids.len() != 1 || ids[0].seq != index as u64 {
        return fail(format!("row {index}: MAVG.ADD replied {:?}", pair[0]));
    }
    let text = pair[1].text().unwrap_or("");
    if !is_shortest_text(text, expected) {
        let got = &pair[1];
        return fail(format!(
            "row {index}: MAVG.AVG replied {got:?}, exact mean {expected:?}"
        ));
    }
    Ok(())
}
