"""MAVG from Python, with redis-py.

Adds three latencies to a series, reads their average, one value by
position and one by element id, and shows the error a bad value gets.

    python3 mavg_example.py [--port 6379] [--protocol 2|3]

redis-py has no MAVG methods of its own: `execute_command` sends any
command. Numbers come back as text to RESP2 clients and as doubles to
RESP3 clients; `float()` reads either.
"""

import argparse

import redis


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--protocol", type=int, choices=[2, 3], default=2)
    args = parser.parse_args()

    client = redis.Redis(
        host="127.0.0.1",
        port=args.port,
        protocol=args.protocol,
        decode_responses=True,
    )
    key = "example:latency"
    client.delete(key)

    ids = client.execute_command("MAVG.ADD", key, "WINDOW", 3, 12.5, 14, 13.1)
    print(f"added {len(ids)} values")

    average = client.execute_command("MAVG.AVG", key)
    print(f"average: {float(average)}")

    oldest = client.execute_command("MAVG.GET", key, 0)
    print(f"oldest: {float(oldest)}")

    second = client.execute_command("MAVG.GET", key, ids[1])
    print(f"by id: {float(second)}")

    try:
        client.execute_command("MAVG.ADD", key, "abc")
    except redis.ResponseError as error:
        print(f"error: {error}")


if __name__ == "__main__":
    main()
