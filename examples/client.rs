//! MAVG from Rust, with the `redis` crate.
//!
//! Adds three latencies to a series, reads their average, one value by
//! position and one by element id, and shows the error a bad value gets.
//!
//! ```text
//! cargo run --release --example client [-- --port 6379]
//! ```
//!
//! The crate has no MAVG methods of its own: `redis::cmd` sends any
//! command. Values come back as text to RESP2 clients, which `f64` reads.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let port = port_argument()?;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut conn = client.get_connection()?;
    let key = "example:latency";
    redis::cmd("DEL").arg(key).query::<()>(&mut conn)?;

    let ids: Vec<String> = redis::cmd("MAVG.ADD")
        .arg(key)
        .arg("WINDOW")
        .arg(3)
        .arg(&["12.5", "14", "13.1"][..])
        .query(&mut conn)?;
    println!("added {} values", ids.len());

    let average: f64 = redis::cmd("MAVG.AVG").arg(key).query(&mut conn)?;
    println!("average: {average}");

    let oldest: f64 =
        redis::cmd("MAVG.GET").arg(key).arg(0).query(&mut conn)?;
    println!("oldest: {oldest}");

    let second: f64 = redis::cmd("MAVG.GET")
        .arg(key)
        .arg(&ids[1])
        .query(&mut conn)?;
    println!("by id: {second}");

    let refused: redis::RedisResult<Vec<String>> =
        redis::cmd("MAVG.ADD").arg(key).arg("abc").query(&mut conn);
    if let Err(error) = refused {
        let detail = error.detail().unwrap_or("");
        println!("error: {} {detail}", error.code().unwrap_or("?"));
    }
    Ok(())
}

/// The port after `--port`, else 6379.
fn port_argument() -> Result<u16, Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|arg| arg == "--port") {
        Some(at) => {
            let port = args.get(at + 1).ok_or("--port needs a number")?;
            Ok(port.parse()?)
        }
        None => Ok(6379),
    }
}
