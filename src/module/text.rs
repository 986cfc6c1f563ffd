//! Doubles as text: the shortest decimal that reads back to the same
//! double, for RESP2 replies and AOF commands.

use std::fmt::Write;

/// Exponents from this one up are written in scientific notation.
const SCIENTIFIC_FROM: i32 = 17;

/// Exponents below this one are written in scientific notation.
const SCIENTIFIC_BELOW: i32 = -4;

/// The shortest decimal text that parses back to `value`, in the style of
/// C's `%g`: positional for decimal exponents from -4 to 16 (`0.1`, `2`,
/// `-12.5`), scientific otherwise (`1e+17`, `2.5e-07`). `value` is finite.
pub(crate) fn format_double(value: f64) -> String {
    // `{:e}` gives the shortest round-trip digits: `-1.25e-7`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String =
        mantissa.chars().filter(char::is_ascii_digit).collect();

    let mut text = String::with_capacity(24);
    if negative {
        text.push('-');
    }
    if (SCIENTIFIC_BELOW..SCIENTIFIC_FROM).contains(&exponent) {
        write_positional(&mut text, &digits, exponent);
    } else {
        write_scientific(&mut text, &digits, exponent);
    }
    text
}

/// `digits` (d1 d2 ...) meaning d1.d2... times 10^exponent, positionally.
fn write_positional(text: &mut String, digits: &str, exponent: i32) {
    if exponent < 0 {
        text.push_str("0.");
        (1..-exponent).for_each(|_| text.push('0'));
        text.push_str(digits);
        return;
    }

    let whole = exponent as usize + 1;
    if digits.len() <= whole {
        text.push_str(digits);
        (digits.len()..whole).for_each(|_| text.push('0'));
    } else {
        text.push_str(&digits[..whole]);
        text.push('.');
        text.push_str(&digits[whole..]);
    }
}

/// `digits` times 10^exponent as `d.ddde+XX`.
fn write_scientific(text: &mut String, digits: &str, exponent: i32) {
    let (first, rest) = digits.split_at(1.min(digits.len()));
    text.push_str(first);
    if !rest.is_empty() {
        text.push('.');
        text.push_str(rest);
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    let _ = write!(text, "e{sign}{:02}", exponent.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::format_double;

    #[test]
    fn positional_range() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (2.0, "2"),
            (0.1, "0.1"),
            (-12.5, "-12.5"),
            (22.366666666666667, "22.366666666666667"),
            (1e16, "10000000000000000"),
            (123456.0, "123456"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
        ];
        for (value, text) in cases {
            assert_eq!(format_double(value), text);
        }
    }

    #[test]
    fn scientific_range() {
        let cases = [
            (1e17, "1e+17"),
            (1e300, "1e+300"),
            (-2.5e-7, "-2.5e-07"),
            (0.00001, "1e-05"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::from_bits(1), "5e-324"),
        ];
        for (value, text) in cases {
            assert_eq!(format_double(value), text);
        }
    }

    #[test]
    fn reads_back_exactly() {
        let mut bits = 0x0123_4567_89ab_cdefu64;
        for _ in 0..10_000 {
            bits = bits.wrapping_mul(6364136223846793005).wrapping_add(1);
            let value = f64::from_bits(bits);
            if value.is_finite() {
                let text = format_double(value);
                assert_eq!(text.parse::<f64>(), Ok(value), "{text}");
            }
        }
    }
}
