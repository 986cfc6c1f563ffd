//! Accuracy: each implementation's largest error against exact
//! arithmetic, on the same inputs, after every add.
//!
//! The reference keeps the window's sum in a big integer of units of
//! 2^-1074 (every finite double is a whole number of them), updated as
//! values enter and leave, and rounds the mean with the tests' oracle
//! (`tests/common/exact.rs`): nothing of the library's own arithmetic.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::float::FloatCore;

use crate::contenders::{build_each, Contender, Kind, Visitor};
use crate::exact::{exact_mean, nearest_f64};
use crate::inputs::{Generator, Scenario};

/// How much to check.
pub struct Plan {
    /// Adds checked after each window first fills, per scenario.
    pub adds: usize,
    /// Values summed, in all, by an implementation that sums its whole
    /// window on every add: it is checked on the first `budget / window`
    /// adds only.
    pub resum_budget: usize,
    /// Whether to include the window of 10^6.
    pub large_window: bool,
}

/// The worst error seen, against the correctly rounded exact mean.
#[derive(Clone, Copy, Debug, Default)]
pub struct Worst {
    /// In units in the last place of the exact mean.
    pub ulps: f64,
    /// Relative to the exact mean; infinite if that is 0 and the answer
    /// is not.
    pub relative: f64,
    /// How many averages were checked.
    pub checked: usize,
}

/// One implementation at one window, its worst error in each scenario
/// (in the order of [`Scenario::ALL`]).
pub struct Row {
    pub kind: Kind,
    pub window: usize,
    pub worst: [Worst; 3],
}

/// Checks the reference against the oracle, then measures every
/// implementation at every window of the plan.
pub fn measure(plan: &Plan) -> Vec<Row> {
    check_reference();
    let mut rows = measure_window::<10>(plan);
    rows.extend(measure_window::<1_000>(plan));
    if plan.large_window {
        rows.extend(measure_window::<1_000_000>(plan));
    }
    rows
}

/// The rows of one window: every implementation, every scenario.
fn measure_window<const W: usize>(plan: &Plan) -> Vec<Row> {
    let mut rows: Vec<Row> = Kind::ALL
        .iter()
        .map(|&kind| Row {
            kind,
            window: W,
            worst: Default::default(),
        })
        .collect();
    for (s, scenario) in Scenario::ALL.into_iter().enumerate() {
        let worst = run::<W>(scenario, plan);
        for (row, worst) in rows.iter_mut().zip(worst) {
            row.worst[s] = worst;
        }
    }
    rows
}

/// Feeds one scenario to every implementation and the reference in
/// step; the worst error of each, in the order of [`Kind::ALL`].
fn run<const W: usize>(scenario: Scenario, plan: &Plan) -> Vec<Worst> {
    let stream = scenario.stream(W, W + plan.adds);
    let mut built = Built(Vec::new());
    build_each::<W>(&stream, &mut built);
    let mut reference = ExactWindow::of(&stream[..W]);
    let mut worst = vec![Worst::default(); built.0.len()];

    for t in W - 1..stream.len() {
        if t >= W {
            reference.slide(stream[t], stream[t - W]);
        }
        let exact = reference.mean();
        let contenders = built.0.iter_mut().zip(&mut worst);
        for ((kind, contender), worst) in contenders {
            if !checks(*kind, t + 1 - W, W, plan) {
                continue;
            }
            if t >= W {
                contender.push(stream[t]);
            }
            worst.record(contender.average(), exact);
        }
    }
    worst
}

/// Whether `kind` still takes part at the `adds`-th add after the
/// window filled.
fn checks(kind: Kind, adds: usize, window: usize, plan: &Plan) -> bool {
    !kind.resums() || adds <= plan.resum_budget / window
}

/// The contenders, as built, in the order of [`Kind::ALL`].
struct Built(Vec<(Kind, Box<dyn Contender>)>);

impl Visitor for Built {
    fn visit<C: Contender + 'static>(
        &mut self,
        kind: Kind,
        contender: Box<C>,
    ) {
        self.0.push((kind, contender));
    }
}

impl Worst {
    /// Takes in one `answer` where the exact mean, correctly rounded, is
    /// `exact`.
    fn record(&mut self, answer: f64, exact: f64) {
        let error = if answer.is_finite() {
            (answer - exact).abs()
        } else {
            f64::INFINITY
        };
        let relative = if error == 0.0 {
            0.0
        } else {
            error / exact.abs()
        };
        self.ulps = self.ulps.max(error / ulp(exact));
        self.relative = self.relative.max(relative);
        self.checked += 1;
    }
}

/// The gap between `|x|` and the next double up: 2^-1074 at zero.
fn ulp(x: f64) -> f64 {
    let x = x.abs();
    f64::from_bits(x.to_bits() + 1) - x
}

/// The exact sum of a window, in units of 2^-1074, and its count.
struct ExactWindow {
    sum: BigInt,
    count: u64,
}

impl ExactWindow {
    /// The window holding `values`.
    fn of(values: &[f64]) -> ExactWindow {
        ExactWindow {
            sum: values.iter().map(|&v| units(v)).sum(),
            count: values.len() as u64,
        }
    }

    /// `entering` comes in, `leaving` goes out; the count stays.
    fn slide(&mut self, entering: f64, leaving: f64) {
        self.sum += units(entering);
        self.sum -= units(leaving);
    }

    /// The mean, correctly rounded, by the oracle. The fraction is
    /// `sum / (count * 2^1074)` with the sum's trailing zero bits taken
    /// out of both terms, which keeps the oracle's division small.
    fn mean(&self) -> f64 {
        let zeros = self.sum.trailing_zeros().unwrap_or(0).min(1074);
        let numerator = &self.sum >> zeros;
        let denominator = BigInt::from(self.count) << (1074 - zeros);
        nearest_f64(&BigRational::new_raw(numerator, denominator))
    }
}

/// `value` as a whole number of units of 2^-1074.
fn units(value: f64) -> BigInt {
    let (mantissa, exponent, sign) = value.integer_decode();
    let shift = i32::from(exponent) + 1074;
    let magnitude = if shift >= 0 {
        BigInt::from(mantissa) << shift
    } else {
        // A subnormal: its mantissa comes doubled, exponent -1075.
        BigInt::from(mantissa >> -shift)
    };
    if sign < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Panics unless the reference agrees with the oracle's own mean, in
/// rationals, on windows of every scenario and on extreme values.
fn check_reference() {
    let mut samples: Vec<Vec<f64>> = Scenario::ALL
        .iter()
        .map(|scenario| scenario.stream(40, 40))
        .collect();
    let tiny = f64::from_bits(1);
    samples.push(vec![tiny, 3.0 * tiny, -tiny]);
    samples.push(vec![f64::MAX, f64::MAX, -1e-300]);
    samples.push(vec![1e16, 1.0, 1.0, -1e16, 0.0]);
    let mut generator = Generator::seeded();
    samples.push((0..7).map(|_| generator.unit() - 0.5).collect());

    for values in samples {
        let expected = exact_mean(&values).expect("a value");
        let mean = ExactWindow::of(&values).mean();
        assert_eq!(mean.to_bits(), expected.to_bits(), "{values:?}");
    }
}
