//! The library against an obviously correct model.
//!
//! `RationalModel` implements the same trait with a queue of values and
//! exact rational arithmetic. The contract tests are written once, generic
//! over `MovingAverage`, and run on both; property tests then feed both the
//! same sequences, including adversarial magnitudes, and require equal
//! answers after every push.

use std::collections::VecDeque;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use proptest::prelude::*;
use redis_mavg::{Error, ExactMovingAverage, MovingAverage};

/// A moving average kept as a plain queue, averaged in exact rationals.
struct RationalModel {
    window: usize,
    values: VecDeque<f64>,
}

impl RationalModel {
    fn new(window: usize) -> RationalModel {
        RationalModel {
            window,
            values: VecDeque::new(),
        }
    }

    /// The exact mean of the values held.
    fn exact_mean(&self) -> BigRational {
        let sum: BigRational = self.values.iter().map(|&v| exact(v)).sum();
        sum / BigInt::from(self.values.len())
    }
}

impl MovingAverage for RationalModel {
    fn window(&self) -> usize {
        self.window
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn push(&mut self, value: f64) -> Result<(), Error> {
        if !value.is_finite() {
            return Err(Error::NonFinite);
        }
        if self.values.len() == self.window {
            self.values.pop_front();
        }
        self.values.push_back(value);
        Ok(())
    }

    fn average(&self) -> Option<f64> {
        (!self.values.is_empty()).then(|| nearest(&self.exact_mean()))
    }

    fn get(&self, position: isize) -> Option<f64> {
        let len = self.values.len() as isize;
        let index = if position < 0 {
            len + position
        } else {
            position
        };
        (0..len)
            .contains(&index)
            .then(|| self.values[index as usize])
    }

    fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        self.values.iter().copied()
    }
}

/// A finite double as an exact rational.
fn exact(value: f64) -> BigRational {
    BigRational::from_float(value).expect("finite")
}

/// The double nearest to `q`, ties to even: found by stepping from a
/// candidate and comparing exact distances, so no rounding is trusted.
fn nearest(q: &BigRational) -> f64 {
    let approximate: f64 = num_traits::ToPrimitive::to_f64(q)
        .unwrap_or(0.0)
        .clamp(-f64::MAX, f64::MAX);
    let mut best = approximate;
    for candidate in [next_down(approximate), next_up(approximate)] {
        if closer(candidate, best, q) {
            best = candidate;
        }
    }
    best
}

/// Whether `a` is nearer to `q` than `b`, or as near and even.
fn closer(a: f64, b: f64, q: &BigRational) -> bool {
    if !a.is_finite() {
        return false;
    }
    if !b.is_finite() {
        return true;
    }
    let da = (exact(a) - q).abs();
    let db = (exact(b) - q).abs();
    da < db || (da == db && a.to_bits() & 1 == 0)
}

fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// Asserts that `series` holds exactly `expected`, oldest first.
fn assert_holds<M: MovingAverage>(series: &M, expected: &[f64]) {
    assert_eq!(series.len(), expected.len());
    assert_eq!(series.is_empty(), expected.is_empty());
    assert_eq!(series.iter().collect::<Vec<_>>(), expected);
    for (i, &value) in expected.iter().enumerate() {
        let back = i as isize - expected.len() as isize;
        assert_eq!(series.get(i as isize), Some(value));
        assert_eq!(series.get(back), Some(value));
    }
    let len = expected.len() as isize;
    assert_eq!(series.get(len), None);
    assert_eq!(series.get(-len - 1), None);
}

/// The contract of the trait, for any implementation.
fn contract<M: MovingAverage>(make: impl Fn(usize) -> M) {
    let mut series = make(3);
    assert_eq!(series.window(), 3);
    assert_eq!(series.average(), None);
    assert_holds(&series, &[]);

    for v in [1.0, 2.0] {
        series.push(v).expect("finite");
    }
    assert_holds(&series, &[1.0, 2.0]);
    assert_eq!(series.average(), Some(1.5));

    for v in [3.0, 4.0, 5.0] {
        series.push(v).expect("finite");
    }
    assert_holds(&series, &[3.0, 4.0, 5.0]);
    assert_eq!(series.average(), Some(4.0));

    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(series.push(bad), Err(Error::NonFinite));
    }
    assert_holds(&series, &[3.0, 4.0, 5.0]);
    assert_eq!(series.window(), 3);
}

/// Feeds `values` to a window of `window` and returns the last average.
fn final_average<M: MovingAverage>(mut series: M, values: &[f64]) -> f64 {
    for &v in values {
        series.push(v).expect("finite");
    }
    series.average().expect("not empty")
}

#[test]
fn contract_holds_for_the_implementation() {
    contract(|w| ExactMovingAverage::new(w).expect("valid window"));
}

#[test]
fn contract_holds_for_the_model() {
    contract(RationalModel::new);
}

#[test]
fn named_sequences_end_exact() {
    let cases: [(usize, &[f64], f64); 3] = [
        (3, &[1e16, 1.0, 1.0, 1.0, 1.0, 1.0], 1.0),
        (2, &[2.06, 0.888889, 0.0, 0.0], 0.0),
        (2, &[1e17, 3.0, 5.0, 7.0], 6.0),
    ];
    for (window, values, expected) in cases {
        let series = ExactMovingAverage::new(window).expect("valid window");
        let average = final_average(series, values);
        assert_eq!(average.to_bits(), expected.to_bits(), "{values:?}");
        let model = final_average(RationalModel::new(window), values);
        assert_eq!(model, expected);
    }
}

#[test]
fn neumaier_breaker_is_exact() {
    let values = [-1e32, -1e32, -1e16, 1.0, 1.0];
    let series = ExactMovingAverage::new(2).expect("valid window");
    assert_eq!(final_average(series, &values), 1.0);
}

#[test]
fn no_drift_after_a_million_adds() {
    let mut series = ExactMovingAverage::new(10).expect("valid window");
    let mut state = 1u64;
    for _ in 0..1_000_000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        let value = (state >> 11) as f64 * 1e-3 - 4e12;
        series.push(value).expect("finite");
    }
    for v in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
        series.push(v).expect("finite");
    }
    let model = final_average(
        RationalModel::new(10),
        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    );
    assert_eq!(series.average(), Some(model));
}

#[test]
fn window_bounds() {
    assert_eq!(
        ExactMovingAverage::new(0).unwrap_err(),
        Error::WindowOutOfRange(redis_mavg::MAX_WINDOW)
    );
    let too_big = redis_mavg::MAX_WINDOW + 1;
    assert_eq!(
        ExactMovingAverage::new(too_big).unwrap_err(),
        Error::WindowOutOfRange(redis_mavg::MAX_WINDOW)
    );
    let huge = ExactMovingAverage::new(redis_mavg::MAX_WINDOW);
    assert_eq!(huge.expect("valid window").heap_bytes(), 0);
}

#[test]
fn push_all_is_all_or_nothing() {
    let mut series = ExactMovingAverage::new(4).expect("valid window");
    series.push_all(&[1.0, 2.0]).expect("finite");
    let refused = series.push_all(&[3.0, f64::NAN, 4.0]);
    assert_eq!(refused, Err(Error::NonFinite));
    assert_holds(&series, &[1.0, 2.0]);
}

#[test]
fn storage_never_exceeds_the_window() {
    let mut series = ExactMovingAverage::new(1000).expect("valid window");
    for i in 0..5000 {
        series.push(f64::from(i)).expect("finite");
    }
    assert!(
        series.heap_bytes() <= 1000 * 8 + 64,
        "{}",
        series.heap_bytes()
    );
}

/// Doubles of every kind: any finite bit pattern, small integers, and
/// magnitudes far apart, so that sums cancel across many limbs.
fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |v| v.is_finite()),
        (-20i32..20).prop_map(f64::from),
        prop::sample::select(vec![
            1e16,
            -1e16,
            1e300,
            -1e300,
            1e-300,
            5e-324,
            -5e-324,
            0.1,
            0.0,
            -0.0,
            2.06,
            0.888889,
            1e17,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
        ]),
        (-1e6f64..1e6),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn agrees_with_the_model(
        window in 1usize..9,
        values in prop::collection::vec(any_value(), 0..120),
    ) {
        let mut series = ExactMovingAverage::new(window).expect("valid");
        let mut model = RationalModel::new(window);
        for value in values {
            series.push(value).expect("finite");
            model.push(value).expect("finite");

            let got = series.average().expect("not empty");
            let want = model.average().expect("not empty");
            prop_assert_eq!(got.to_bits(), want.to_bits(),
                "window {:?}", model.values);
            let mean = model.exact_mean();
            prop_assert!(!closer(next_up(got), got, &mean));
            prop_assert!(!closer(next_down(got), got, &mean));
        }
        prop_assert_eq!(
            series.iter().collect::<Vec<_>>(),
            model.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_sum_returns_to_zero(
        values in prop::collection::vec(any_value(), 1..60),
    ) {
        // After the window is flushed with zeros, the average is exactly 0
        // however wild the values that passed through.
        let window = values.len();
        let mut series = ExactMovingAverage::new(window).expect("valid");
        for value in values {
            series.push(value).expect("finite");
        }
        for _ in 0..window {
            series.push(0.0).expect("finite");
        }
        prop_assert_eq!(series.average().map(f64::to_bits), Some(0));
    }

    #[test]
    fn large_windows_agree_with_the_model(
        values in prop::collection::vec(any_value(), 1..400),
    ) {
        let mut series = ExactMovingAverage::new(97).expect("valid");
        let mut model = RationalModel::new(97);
        for value in values {
            series.push(value).expect("finite");
            model.push(value).expect("finite");
        }
        prop_assert_eq!(series.average(), model.average());
        prop_assert!(model.exact_mean().is_zero() || series.average().is_some());
    }
}
