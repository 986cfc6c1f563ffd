//! The write-up: criterion's medians and the accuracy rows as markdown
//! tables, and where they go.
//!
//! The medians are read back from criterion's own output,
//! `<criterion>/<group>/<id>/<window>/new/estimates.json`, and only if
//! this run wrote them: a benchmark filtered out shows as "-".

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::accuracy::{Plan, Row};
use crate::contenders::Kind;
use crate::inputs::Scenario;

/// The folder of the report when `MAVG_BENCH_OUT` is not set: `bench`
/// in cargo's target folder.
pub fn output_dir() -> PathBuf {
    match std::env::var_os("MAVG_BENCH_OUT") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("bench"),
    }
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, or the folder above this
/// bench's executable that holds cargo's `CACHEDIR.TAG`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}

/// Where criterion writes its results, found as criterion finds it.
fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("criterion"),
    }
}

/// The median time of one benchmark in nanoseconds, if this run (which
/// started at `since`) measured it.
pub fn median_ns(
    group: &str,
    id: &str,
    window: usize,
    since: SystemTime,
) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(id)
        .join(window.to_string())
        .join("new/estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    median_of(&std::fs::read_to_string(path).ok()?)
}

/// The point estimate of the median in criterion's estimates.json:
/// `"median":{"confidence_interval":{...},"point_estimate":N,...}`.
fn median_of(estimates: &str) -> Option<f64> {
    let median = &estimates[estimates.find("\"median\"")?..];
    let key = "\"point_estimate\":";
    let number = &median[median.find(key)? + key.len()..];
    let end = number.find([',', '}'])?;
    number[..end].trim().parse().ok()
}

/// The speed table: the median of each implementation at each window,
/// and how ExactMovingAverage compares with the fastest of the others.
pub fn speed_table(
    windows: &[usize],
    medians: &dyn Fn(Kind, usize) -> Option<f64>,
) -> String {
    let mut table = header("implementation", windows);
    for kind in Kind::ALL {
        let cells = windows.iter().map(|&w| nanoseconds(medians(kind, w)));
        table += &line(kind.name(), cells);
    }
    let ratio_rows = [
        ("ExactMovingAverage ÷ fastest running sum (drifts)", true),
        ("ExactMovingAverage ÷ fastest that does not drift", false),
    ];
    for (label, drifting) in ratio_rows {
        let cells = windows.iter().map(|&w| {
            ratio(medians(Kind::Exact, w), fastest(drifting, w, medians))
        });
        table += &line(label, cells);
    }
    table
}

/// The smallest median among the other implementations that drift (or
/// do not).
fn fastest(
    drifting: bool,
    window: usize,
    medians: &dyn Fn(Kind, usize) -> Option<f64>,
) -> Option<f64> {
    Kind::ALL
        .into_iter()
        .filter(|&k| k != Kind::Exact && k.drifts() == drifting)
        .filter_map(|k| medians(k, window))
        .reduce(f64::min)
}

/// The accuracy table: per implementation and window, the worst error
/// in each scenario, in ulps and relative.
pub fn accuracy_table(rows: &[Row]) -> String {
    let mut columns = vec!["implementation".to_string(), "window".into()];
    for scenario in Scenario::ALL {
        columns.push(format!("{}: ulps", scenario.name()));
        columns.push(format!("{}: relative", scenario.name()));
    }
    let mut table = line(&columns[0], columns[1..].iter().cloned());
    table += &line("---", (1..columns.len()).map(|_| "---:".to_string()));
    for row in rows {
        let mut cells = vec![grouped(row.window as f64)];
        for worst in row.worst {
            cells.push(number(worst.ulps));
            cells.push(number(worst.relative));
        }
        table += &line(row.kind.name(), cells.into_iter());
    }
    table
}

/// What the speed table measured, for the lines under it.
pub fn speed_notes() -> String {
    [
        "Criterion's median, in ns, of one add of a latency (see below) \
         then one read of the average, on a window already full; 20 \
         samples in 1 s after 0.3 s of warm-up.",
        "A running sum drifts (SingleSumSMA, ta); SumTreeSMA and movavg do \
         not, but round their sums, and movavg (default features) sums \
         its whole window again on every add. Its `fastfloat` feature \
         makes it a running sum like ta's.",
    ]
    .iter()
    .map(|note| format!("- {note}\n"))
    .collect()
}

/// What the accuracy table measured, for the lines under it.
pub fn accuracy_notes(plan: &Plan, rows: &[Row]) -> String {
    let mut notes = format!(
        "- Per scenario, the first full window, then {} adds, the average \
         read after each; the worst error against the exact mean of the \
         same doubles, correctly rounded (0 ulps: that mean itself).\n",
        grouped(plan.adds as f64),
    );
    for scenario in Scenario::ALL {
        let _ =
            writeln!(notes, "- {}: {}.", scenario.name(), scenario.about());
    }
    for row in rows.iter().filter(|r| r.kind.resums()) {
        let checked = row.worst.iter().map(|w| w.checked).max();
        let adds = checked.unwrap_or(0).saturating_sub(1);
        if adds < plan.adds {
            let _ = writeln!(
                notes,
                "- {} sums its whole window again on every add: at a window \
                 of {} it is checked on the first {} adds only.",
                row.kind.name(),
                grouped(row.window as f64),
                grouped(adds as f64),
            );
        }
    }
    notes
}

/// A table's first two lines: `first` and one column per window.
fn header(first: &str, windows: &[usize]) -> String {
    let cells = windows.iter().map(|&w| grouped(w as f64));
    let mut table = line(first, cells);
    table += &line("---", windows.iter().map(|_| "---:".to_string()));
    table
}

/// A table line.
fn line(first: &str, cells: impl Iterator<Item = String>) -> String {
    let mut text = format!("| {first} |");
    for cell in cells {
        let _ = write!(text, " {cell} |");
    }
    text + "\n"
}

/// A median in ns, three significant digits, or "-" when not measured.
fn nanoseconds(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns >= 1000.0 => grouped(ns),
        Some(ns) if ns >= 100.0 => format!("{ns:.0}"),
        Some(ns) if ns >= 10.0 => format!("{ns:.1}"),
        Some(ns) => format!("{ns:.2}"),
        None => "-".to_string(),
    }
}

/// `numerator / denominator` as "2.5×", or "-" when either is missing.
fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match (numerator, denominator) {
        (Some(n), Some(d)) => format!("{:.2}×", n / d),
        _ => "-".to_string(),
    }
}

/// An error: "0", a plain number from 0.01 to 9,999, else scientific.
fn number(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else if x.is_infinite() {
        "∞".to_string()
    } else if (0.01..10_000.0).contains(&x) {
        format!("{:.3}", x)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{x:.1e}")
    }
}

/// A whole number with thousands separated by commas, rounded to three
/// significant digits above 1,000.
fn grouped(x: f64) -> String {
    let mut whole = x.round() as u64;
    let digits = whole.checked_ilog10().unwrap_or(0);
    if digits > 2 {
        let unit = 10u64.pow(digits - 2);
        whole = (whole + unit / 2) / unit * unit;
    }
    let text = whole.to_string();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
