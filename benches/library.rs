//! The library's bench: `ExactMovingAverage` beside the moving averages
//! of other crates, for speed and for accuracy.
//!
//! Speed: criterion times one add then one read of the average, on full
//! windows of 10, 1,000 and 1,000,000 latencies. Accuracy: every
//! implementation and an exact reference take the same streams
//! (latencies, spikes of 1e20, ±1e12 cancelling), and the table shows
//! each one's worst error.
//!
//! `cargo bench --bench library` prints both tables and writes them to
//! `library.md` in `$MAVG_BENCH_OUT`, or in `target/bench` when that is
//! not set. Under `cargo test --benches` each benchmark runs once and the
//! accuracy run is a short one, with no report written.

// The parts live in benches/library/, out of the way of cargo, which
// takes every file directly in benches/ for a bench of its own.
#[path = "library/accuracy.rs"]
mod accuracy;
#[path = "library/contenders.rs"]
mod contenders;
#[path = "library/inputs.rs"]
mod inputs;
#[path = "library/report.rs"]
mod report;

// The tests' oracle, the exact mean in rationals; some of its helpers
// serve only the tests.
#[allow(dead_code)]
#[path = "../tests/common/exact.rs"]
mod exact;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};

use accuracy::Plan;
use contenders::{build_each, Contender, Kind, Visitor};
use inputs::Generator;

/// Criterion's group; its results land in `<criterion>/<GROUP>/`.
const GROUP: &str = "add_then_average";

/// The windows measured.
const WINDOWS: [usize; 3] = [10, 1_000, 1_000_000];

/// How many distinct values the timed loop cycles through (a power of
/// two, so the index is a mask).
const INPUTS: usize = 4096;

/// The accuracy run of `cargo bench`: a few million adds per window and
/// scenario.
const FULL: Plan = Plan {
    adds: 4_000_000,
    resum_budget: 500_000_000,
    large_window: true,
};

/// The accuracy run of `cargo test --benches`: enough to exercise it.
const SHORT: Plan = Plan {
    adds: 2_000,
    resum_budget: 1_000_000,
    large_window: false,
};

fn main() {
    let started = SystemTime::now();
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|a| a == "--bench");
    let timing_only = ["--list", "--profile-time"];
    let accuracy_too = !args
        .iter()
        .any(|a| timing_only.iter().any(|flag| a.starts_with(flag)));

    let mut criterion = configured().configure_from_args();
    bench_speed(&mut criterion);
    criterion.final_summary();
    if !accuracy_too {
        return;
    }
    let speed_done = started.elapsed().unwrap_or_default();

    let plan = if benching { FULL } else { SHORT };
    let rows = accuracy::measure(&plan);
    let accuracy = report::accuracy_table(&rows)
        + "\n"
        + &report::accuracy_notes(&plan, &rows);
    println!("\n{accuracy}");
    let accuracy_done = started.elapsed().unwrap_or_default();
    println!(
        "speed {:.0} s, accuracy {:.0} s",
        speed_done.as_secs_f64(),
        (accuracy_done - speed_done).as_secs_f64(),
    );

    if benching {
        let medians = |kind: Kind, window: usize| {
            report::median_ns(GROUP, kind.id(), window, started)
        };
        let speed = report::speed_table(&WINDOWS, &medians)
            + "\n"
            + &report::speed_notes();
        println!("{speed}");
        write_report(&speed, &accuracy);
    }
}

/// Criterion set to finish every benchmark in a second and a half.
fn configured() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .nresamples(10_000)
        .without_plots()
}

/// Times add-then-average for every implementation at every window.
fn bench_speed(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(GROUP);
    bench_window::<10>(&mut group);
    bench_window::<1_000>(&mut group);
    bench_window::<1_000_000>(&mut group);
    group.finish();
}

/// Every implementation, over a full window of `W` latencies.
fn bench_window<const W: usize>(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut generator = Generator::seeded();
    let fill: Vec<f64> = (0..W).map(|_| generator.latency()).collect();
    let inputs: Vec<f64> = (0..INPUTS).map(|_| generator.latency()).collect();
    let mut timer = Timer {
        group,
        window: W,
        inputs: &inputs,
    };
    build_each::<W>(&fill, &mut timer);
}

/// Times each contender it is handed.
struct Timer<'g, 'c, 'i> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    window: usize,
    inputs: &'i [f64],
}

impl Visitor for Timer<'_, '_, '_> {
    fn visit<C: Contender + 'static>(
        &mut self,
        kind: Kind,
        contender: Box<C>,
    ) {
        let mut contender = contender;
        let inputs = self.inputs;
        let mut next = 0;
        let id = BenchmarkId::new(kind.id(), self.window);
        self.group.bench_function(id, |bencher| {
            bencher.iter(|| {
                contender.push(inputs[next % INPUTS]);
                next += 1;
                black_box(contender.average())
            })
        });
    }
}

/// Writes both tables to `library.md` in [`report::output_dir`].
fn write_report(speed: &str, accuracy: &str) {
    let dir = report::output_dir();
    let path = dir.join("library.md");
    let text = format!(
        "## Library: add then average, median ns\n\n{speed}\n\
         ## Library: accuracy, worst error against exact arithmetic\n\n\
         {accuracy}"
    );
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, text));
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}
