//! Checks of the tests' own oracle, `common::exact`, with no server.
//!
//! IEEE 754 addition, multiplication and division are correctly rounded,
//! so rounding their exact results with `nearest_f64` must give what the
//! hardware gives, subnormals and overflow included. If these fail, the
//! exactness and Seattle tests prove nothing.

mod common;

use common::exact::{
    exact_mean, is_shortest_text, nearest_f64, rational, significant_digits,
};
use proptest::prelude::*;

/// Finite doubles of every kind: normal, subnormal, huge, zero.
fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        (-1e6..1e6f64),
        (0u64..1 << 52).prop_map(f64::from_bits),
        Just(f64::MAX),
        Just(-f64::MIN_POSITIVE),
        Just(0.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_double_rounds_to_itself(x in finite()) {
        // Zero has no sign as a rational: -0.0 comes back as 0.0.
        prop_assert_eq!(nearest_f64(&rational(x)), x);
    }

    #[test]
    fn sums_round_as_ieee_does(a in finite(), b in finite()) {
        let exact = nearest_f64(&(rational(a) + rational(b)));
        prop_assert_eq!(exact, a + b);
    }

    #[test]
    fn products_round_as_ieee_does(a in finite(), b in finite()) {
        let exact = nearest_f64(&(rational(a) * rational(b)));
        prop_assert_eq!(exact, a * b);
    }

    #[test]
    fn quotients_round_as_ieee_does(a in finite(), b in finite()) {
        prop_assume!(b != 0.0);
        let exact = nearest_f64(&(rational(a) / rational(b)));
        prop_assert_eq!(exact, a / b);
    }

    #[test]
    fn rust_prints_shortest_texts(x in finite()) {
        let text = format!("{x:e}");
        prop_assert!(is_shortest_text(&text, x));
    }
}

#[test]
fn means_of_the_readme_cases_are_exact() {
    assert_eq!(exact_mean(&[1.0, 2.0, 3.0]), Some(2.0));
    assert_eq!(exact_mean(&[1.0, 1.0, 1.0]), Some(1.0));
    assert_eq!(exact_mean(&[0.0, 0.0]), Some(0.0));
    assert_eq!(exact_mean(&[5.0, 7.0]), Some(6.0));
    assert_eq!(exact_mean(&[1e308, 1e308]), Some(1e308));
    assert_eq!(exact_mean(&[]), None);
}

#[test]
fn significant_digits_drop_sign_point_and_exponent() {
    assert_eq!(significant_digits("-2.5e-07"), "25");
    assert_eq!(significant_digits("1e+300"), "1");
    assert_eq!(significant_digits("0.1"), "1");
    assert_eq!(significant_digits("100"), "1");
    assert!(!is_shortest_text("0.10000000000000001", 0.1));
    assert!(is_shortest_text("1e+300", 1e300));
}
