//! Doubles as text: the shortest decimal that reads back to the same
//! double, for RESP2 replies and AOF commands.

/// Exponents from this one up are written in scientific notation.
const SCIENTIFIC_FROM: i32 = 17;

/// Exponents below this one are written in scientific notation.
const SCIENTIFIC_BELOW: i32 = -4;

/// Room for the longest text: a sign, 17 digits, a point and `e-308`;
/// or a sign, `0.000` and 17 digits.
const CAPACITY: usize = 32;

/// The shortest decimal text that parses back to a double, in the style
/// of C's `%g`: positional for decimal exponents from -4 to 16 (`0.1`,
/// `2`, `-12.5`), scientific otherwise (`1e+17`, `2.5e-07`). It lives on
/// the stack, so writing a reply allocates nothing.
pub(crate) struct DoubleText {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl DoubleText {
    /// The text of `value`, which must be finite.
    pub(crate) fn new(value: f64) -> DoubleText {
        let mut shortest = ryu::Buffer::new();
        let decimal = Decimal::parse(shortest.format_finite(value));

        let mut text = DoubleText {
            bytes: [0; CAPACITY],
            len: 0,
        };
        if value.is_sign_negative() {
            text.push(b"-");
        }
        let digits = decimal.digits();
        if (SCIENTIFIC_BELOW..SCIENTIFIC_FROM).contains(&decimal.exponent) {
            text.write_positional(digits, decimal.exponent);
        } else {
            text.write_scientific(digits, decimal.exponent);
        }
        text
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len])
            .expect("only ASCII is written")
    }

    /// Appends `bytes`.
    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        self.bytes[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// Appends `count` zeros.
    fn push_zeros(&mut self, count: usize) {
        let end = self.len + count;
        self.bytes[self.len..end].fill(b'0');
        self.len = end;
    }

    /// `digits` (d1 d2 ...) meaning d1.d2... times 10^exponent,
    /// positionally.
    fn write_positional(&mut self, digits: &[u8], exponent: i32) {
        if exponent < 0 {
            self.push(b"0.");
            self.push_zeros((-exponent - 1) as usize);
            self.push(digits);
            return;
        }

        let whole = exponent as usize + 1;
        if digits.len() <= whole {
            self.push(digits);
            self.push_zeros(whole - digits.len());
        } else {
            self.push(&digits[..whole]);
            self.push(b".");
            self.push(&digits[whole..]);
        }
    }

    /// `digits` times 10^exponent as `d.ddde+XX`.
    fn write_scientific(&mut self, digits: &[u8], exponent: i32) {
        let (first, rest) = digits.split_at(1);
        self.push(first);
        if !rest.is_empty() {
            self.push(b".");
            self.push(rest);
        }
        self.push(if exponent < 0 { b"e-" } else { b"e+" });
        let magnitude = exponent.unsigned_abs();
        if magnitude >= 100 {
            self.push(&[b'0' + (magnitude / 100) as u8]);
        }
        self.push(&[b'0' + (magnitude / 10 % 10) as u8]);
        self.push(&[b'0' + (magnitude % 10) as u8]);
    }
}

/// A decimal d1.d2... times 10^exponent, its digits without leading or
/// trailing zeros (a single `0` for zero).
struct Decimal {
    digits: [u8; CAPACITY],
    len: usize,
    exponent: i32,
}

impl Decimal {
    /// Reads the magnitude of ryu's shortest text of a finite double:
    /// `-1.25e-7`, `0.001`, `1e16`, `120.0`. One pass over the bytes.
    fn parse(text: &str) -> Decimal {
        let mut decimal = Decimal {
            digits: [0; CAPACITY],
            len: 0,
            exponent: 0,
        };
        // Digits after the point, and zeros after the last non-zero
        // digit, held back until another non-zero digit needs them.
        let mut fraction_len = 0i32;
        let mut zeros = 0i32;
        let mut in_fraction = false;
        let mut bytes = text.bytes();
        for byte in bytes.by_ref() {
            match byte {
                b'0'..=b'9' => {
                    fraction_len += i32::from(in_fraction);
                    decimal.push_digit(byte, &mut zeros);
                }
                b'.' => in_fraction = true,
                b'e' => break,
                _ => {}
            }
        }
        let exponent = read_exponent(bytes);

        if decimal.len == 0 {
            decimal.digits[0] = b'0';
            decimal.len = 1;
            return decimal;
        }
        // The digits, read as an integer, times 10^scale is the value.
        let scale = exponent - fraction_len + zeros;
        decimal.exponent = scale + decimal.len as i32 - 1;
        decimal
    }

    /// Appends `digit`: a leading zero is dropped, a later zero is
    /// counted in `zeros` and written only when a non-zero digit follows.
    fn push_digit(&mut self, digit: u8, zeros: &mut i32) {
        if digit == b'0' {
            *zeros += i32::from(self.len > 0);
            return;
        }
        for _ in 0..*zeros {
            self.digits[self.len] = b'0';
            self.len += 1;
        }
        *zeros = 0;
        self.digits[self.len] = digit;
        self.len += 1;
    }

    /// The significant digits.
    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

/// The exponent after the `e` of ryu's text: `-7`, `16`.
fn read_exponent(bytes: impl Iterator<Item = u8>) -> i32 {
    let mut negative = false;
    let mut exponent = 0i32;
    for byte in bytes {
        match byte {
            b'-' => negative = true,
            digit => exponent = exponent * 10 + i32::from(digit - b'0'),
        }
    }
    if negative {
        -exponent
    } else {
        exponent
    }
}

/// [`DoubleText`] as a `String`, for texts kept beyond one reply.
pub(crate) fn format_double(value: f64) -> String {
    DoubleText::new(value).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::{format_double, Decimal};

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
    fn same_digits_as_the_standard_library() {
        let mut bits = 0x0fed_cba9_8765_4321u64;
        for _ in 0..100_000 {
            bits = bits.wrapping_mul(6364136223846793005).wrapping_add(7);
            let value = f64::from_bits(bits);
            if !value.is_finite() {
                continue;
            }
            let standard = format!("{:e}", value.abs());
            let (digits, exponent) = standard.split_once('e').unwrap();
            let mut shortest = ryu::Buffer::new();
            let decimal = Decimal::parse(shortest.format_finite(value));
            // As short, at the same exponent, and read back the same: an
            // exact tie may round the last digit the other way.
            let ours = std::str::from_utf8(decimal.digits()).unwrap();
            let theirs = digits.replace('.', "");
            assert_eq!(ours.len(), theirs.len(), "{standard}");
            assert_eq!(decimal.exponent.to_string(), exponent, "{standard}");
            let ours = format!(
                "{ours}e{}",
                exponent.parse::<i32>().unwrap() - ours.len() as i32 + 1
            );
            assert_eq!(ours.parse::<f64>(), Ok(value.abs()), "{standard}");
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
