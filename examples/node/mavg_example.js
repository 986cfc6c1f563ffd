// MAVG from Node.js, with node-redis.
//
// Adds three latencies to a series, reads their average, one value by
// position and one by element id, and shows the error a bad value gets.
//
//     npm install
//     node mavg_example.js [--port 6379] [--protocol 2|3]
//
// node-redis has no MAVG methods of its own: `sendCommand` sends any
// command, its arguments as strings. Numbers come back as text to RESP2
// clients and as doubles to RESP3 clients; `Number()` reads either.

const { createClient } = require("redis");

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

async function main() {
  const client = createClient({
    socket: { host: "127.0.0.1", port: option("port", 6379) },
    RESP: option("protocol", 2),
  });
  await client.connect();
  const key = "example:latency";
  await client.del(key);

  const ids = await client.sendCommand(
    ["MAVG.ADD", key, "WINDOW", "3", "12.5", "14", "13.1"]);
  console.log(`added ${ids.length} values`);

  const average = await client.sendCommand(["MAVG.AVG", key]);
  console.log(`average: ${Number(average)}`);

  const oldest = await client.sendCommand(["MAVG.GET", key, "0"]);
  console.log(`oldest: ${Number(oldest)}`);

  const second = await client.sendCommand(["MAVG.GET", key, ids[1]]);
  console.log(`by id: ${Number(second)}`);

  try {
    await client.sendCommand(["MAVG.ADD", key, "abc"]);
  } catch (error) {
    console.log(`error: ${error.message}`);
  }

  await client.quit();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
