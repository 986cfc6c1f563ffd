#!/usr/bin/env python3
"""The benchmarks of `make bench`, measured in one run, written to
docs/bench.md (the table) and docs/bench.svg (a bar chart of the
throughput ratios).

Builds the floor module (benches/floor/floor.c) and the load client
(examples/bench_load.rs), runs the library bench (benches/library) when
the crate has one, then starts one redis-server on 127.0.0.1, on a free
port, in a temporary folder, with MAVG and the floor loaded, and measures:

1. throughput with redis-benchmark (and bench_load for the MULTI capped
   list), not pipelined and pipelined, medians of interleaved rounds;
2. MAVG.AVG and MAVG.ADD against the window, from 10 to 10^7 values;
3. memory: MEMORY USAGE of a window of 10^6, and used_memory for
   100,000 small windows next to the same values as capped lists.

The server runs on CPU 0, the clients on CPU 1 (taskset). The server is
stopped and its folder removed at the end, whatever happens. Python 3
standard library only; the module must be built (make build).

The file holds, in order: settings, the RESP connection, the server,
builds, the measurements, and the report (Markdown, SVG, main).
"""

import datetime
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.path.join(ROOT, "target", "release", "libredis_mavg.so")
LOAD_SOURCE = os.path.join(ROOT, "examples", "bench_load.rs")
FLOOR_SOURCE = os.path.join(ROOT, "benches", "floor", "floor.c")
LIBRARY_OUT = os.path.join(ROOT, "target", "bench")
REPORT = os.path.join(ROOT, "docs", "bench.md")
CHART = os.path.join(ROOT, "docs", "bench.svg")

# Where each side runs, and how the throughput is measured: the median
# of ROUNDS runs of about RUN_SECONDS, CLIENTS connections, one request
# in flight each or PIPELINE.
SERVER_CPU = "0"
CLIENT_CPU = "1"
ROUNDS = 5
RUN_SECONDS = 1.0
CLIENTS = 50
PIPELINE = 64
# The window of every key of the throughput table.
WINDOW = 100
# The windows of the table against the window, filled FILL_BATCH values
# a command.
WINDOW_SIZES = [10, 10**3, 10**6, 10**7]
FILL_BATCH = 10_000
# The memory table: this many keys, each holding these values.
MEMORY_KEYS = 100_000
MEMORY_VALUES = ["12.5", "103.25", "7.75", "99.5", "0.125",
                 "42", "18.3", "250.5", "61.8", "3.14"]
# The bytes of one element id in an array reply.
ID_REPLY_BYTES = len(b"$36\r\n") + 36 + len(b"\r\n")
STARTED = time.monotonic()

# The Lua way to a moving average without the module: a list capped at
# the window and a hash holding the running sum and the count. KEYS[1]
# the list, KEYS[2] the hash; ARGV[1] the value, ARGV[2] the window.
# Replies the new average.
LUA_ADD = """
local n = redis.call('LPUSH', KEYS[1], ARGV[1])
local delta = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
if n > window then
  delta = delta - tonumber(redis.call('RPOP', KEYS[1]))
  n = window
end
local sum = redis.call('HINCRBYFLOAT', KEYS[2], 'sum', delta)
redis.call('HSET', KEYS[2], 'count', n)
return tostring(tonumber(sum) / n)
"""


def say(message):
    """Prints a progress line to stderr, with the seconds since the
    start."""
    elapsed = time.monotonic() - STARTED
    print(f"bench [{elapsed:3.0f} s]: {message}", file=sys.stderr,
          flush=True)


def realistic_values(count, seed):
    """count values with two decimals, like prices or latencies, the same
    for the same seed."""
    generator = random.Random(seed)
    return [f"{generator.uniform(0, 250):.2f}" for _ in range(count)]


# The RESP connection.


class ReplyError(Exception):
    """An error reply from the server."""


def encode(args):
    """The RESP encoding of one command."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Connection:
    """A RESP2 connection to the server on 127.0.0.1."""

    def __init__(self, port):
        """Connects to port, with a timeout against hangs."""
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.sock.settimeout(120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.scratch = bytearray(1 << 20)

    def close(self):
        """Closes the socket."""
        self.sock.close()

    def send(self, commands):
        """Writes commands, each a sequence of arguments, in one go."""
        self.sock.sendall(b"".join(encode(c) for c in commands))

    def call(self, *args):
        """Sends one command and returns its reply; raises ReplyError."""
        self.send([args])
        return self.reply()

    def _more(self):
        """Reads what the socket has into the buffer."""
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buf += data

    def line(self):
        """The next line, without its CRLF."""
        while (end := self.buf.find(b"\r\n")) < 0:
            self._more()
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def exact(self, n):
        """The next n bytes."""
        while len(self.buf) < n:
            self._more()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def discard(self, n):
        """Reads and drops the next n bytes, fast for large n."""
        take = min(n, len(self.buf))
        del self.buf[:take]
        n -= take
        while n:
            got = self.sock.recv_into(self.scratch, min(n, len(self.scratch)))
            if not got:
                raise ConnectionError("the server closed the connection")
            n -= got

    def reply(self):
        """The next reply, parsed; raises ReplyError for an error."""
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise ReplyError(rest.decode())
        if kind == b"+":
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.exact(size + 2)[:-2].decode()
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.reply() for _ in range(size)]
        raise ConnectionError(f"not a RESP2 reply: {line[:40]!r}")

    def expect_header(self, header):
        """Reads one line and checks it is header; raises ReplyError for
        an error reply."""
        line = self.line()
        if line.startswith(b"-"):
            raise ReplyError(line[1:].decode())
        if line != header:
            raise ConnectionError(f"expected {header!r}, got {line[:40]!r}")

    def expect_ids(self, count):
        """Reads a reply of count element ids without parsing them."""
        self.expect_header(b"*%d" % count)
        self.discard(count * ID_REPLY_BYTES)


# The server.


class Server:
    """redis-server on 127.0.0.1 on CPU 0, with the given modules, in a
    temporary folder; a context manager that always stops it."""

    def __init__(self, modules):
        """Remembers the modules to load; start() starts the server."""
        self.modules = modules
        self.dir = tempfile.mkdtemp(prefix="mavg-bench-")
        self.process = None
        self.port = None

    def __enter__(self):
        """Starts the server, trying another port if one is taken."""
        for _ in range(3):
            self.port = free_port()
            if self._start():
                return self
            if "Address already in use" not in self._log_tail():
                break
        self.__exit__(None, None, None)
        raise RuntimeError("redis-server did not start")

    def __exit__(self, *exc):
        """Stops the server and removes its folder."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _start(self):
        """Starts redis-server on self.port; True once it answers."""
        log = os.path.join(self.dir, f"redis-{self.port}.log")
        command = ["taskset", "-c", SERVER_CPU, "redis-server",
                   "--bind", "127.0.0.1", "--port", str(self.port),
                   "--dir", self.dir, "--logfile", log, "--save", "",
                   "--appendonly", "no"]
        for module in self.modules:
            command += ["--loadmodule", module]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        return self._wait_ready()

    def _wait_ready(self):
        """Waits up to 5 s for the server started here to answer."""
        for _ in range(50):
            if self.process.poll() is not None:
                return False
            try:
                connection = Connection(self.port)
                info = connection.call("INFO", "server")
                connection.close()
                return f"process_id:{self.process.pid}\r\n" in info
            except (OSError, ReplyError):
                time.sleep(0.1)
        return False

    def _log_tail(self):
        """The end of the server's log, or the empty string."""
        log = os.path.join(self.dir, f"redis-{self.port}.log")
        try:
            with open(log) as file:
                return file.read()[-2000:]
        except OSError:
            return ""


def free_port():
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Builds.


def run(command, **options):
    """Runs command from the repository root; fails the bench if it does."""
    return subprocess.run(command, cwd=ROOT, check=True, **options)


def cargo_metadata():
    """cargo metadata of the workspace, parsed."""
    result = run(["cargo", "metadata", "--format-version", "1"],
                 stdout=subprocess.PIPE)
    return json.loads(result.stdout)


def module_header_dir(metadata):
    """The folder of redismodule.h in the redis-module crate."""
    for package in metadata["packages"]:
        if package["name"] == "redis-module":
            crate = os.path.dirname(package["manifest_path"])
            return os.path.join(crate, "src", "include")
    raise RuntimeError("no redis-module package in cargo metadata")


def has_library_bench(metadata):
    """Whether the crate has a bench target named library."""
    for package in metadata["packages"]:
        if package["name"] != "redis-mavg":
            continue
        for target in package["targets"]:
            if target["name"] == "library" and "bench" in target["kind"]:
                return True
    return False


def build_floor(metadata, out_dir):
    """Builds the floor module into out_dir; returns its path."""
    floor = os.path.join(out_dir, "floor.so")
    run(["gcc", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra",
         "-I", module_header_dir(metadata), "-o", floor, FLOOR_SOURCE])
    return floor


def build_load_client(out_dir):
    """Builds examples/bench_load.rs, which needs std only, with rustc
    alone into out_dir (no dev-dependency to build); returns its path."""
    client = os.path.join(out_dir, "bench_load")
    run(["rustc", "--edition", "2021", "-C", "opt-level=3", "-o", client,
         LOAD_SOURCE])
    return client


def run_library_bench(metadata, log_dir):
    """Runs the library bench if the crate has one, its output to a log
    in log_dir (shown if it fails); returns the Markdown it wrote, or
    None."""
    if not has_library_bench(metadata):
        say("no library bench in the crate; skipping it")
        return None
    out = os.path.join(LIBRARY_OUT, "library.md")
    if os.path.exists(out):
        os.remove(out)
    say("cargo bench --bench library (about 90 s)")
    env = dict(os.environ, MAVG_BENCH_OUT=LIBRARY_OUT)
    log_path = os.path.join(log_dir, "library.log")
    with open(log_path, "w") as log:
        status = subprocess.run(
            ["cargo", "bench", "--bench", "library"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        with open(log_path) as log:
            sys.stderr.write(log.read()[-4000:])
        raise RuntimeError("cargo bench --bench library failed")
    with open(out) as file:
        return file.read()


# The measurements: setup.


def prefill(connection, lua_sha):
    """Creates every key of the throughput table, each a full window of
    WINDOW values; returns an element id of the key read by id."""
    values = realistic_values(WINDOW, 1)
    connection.call("SET", "bench:incr", "0")
    connection.call("SET", "bench:load:incr", "0")
    connection.call("SET", "bench:get", values[0])
    for key in ["bench:floor:add", "bench:floor:avg"]:
        connection.send([["FLOOR.ADD", key, v] for v in values])
        for _ in values:
            connection.reply()
    for key in ["bench:mavg:add", "bench:mavg:avg", "bench:mavg:pos",
                "bench:mavg:id"]:
        ids = connection.call("MAVG.ADD", key, "WINDOW", WINDOW, *values)
    for value in values:
        connection.call("EVALSHA", lua_sha, 2, "bench:lua:list",
                        "bench:lua:sum", value, WINDOW)
    connection.call("RPUSH", "bench:multi:list", *values)
    connection.call("RPUSH", "bench:lrange", *values)
    return ids[WINDOW // 2]


def fill_window(connection, key, window):
    """Fills key to a full window of window values, FILL_BATCH values a
    command, a few commands in flight."""
    values = realistic_values(min(window, FILL_BATCH), 2)
    sizes = [min(FILL_BATCH, window - start)
             for start in range(0, window, FILL_BATCH)]
    for first in range(0, len(sizes), 8):
        group = sizes[first:first + 8]
        connection.send([["MAVG.ADD", key, "WINDOW", window,
                          *values[:size]] for size in group])
        for size in group:
            connection.expect_ids(size)
    info = connection.call("MAVG.INFO", key)
    if info[info.index("length") + 1] != window:
        raise RuntimeError(f"{key} holds {info}, not {window} values")


def check_once(connection, args):
    """Sends a benchmarked command once, so one that fails or finds
    nothing stops the bench before it is measured (redis-benchmark
    counts errors and nils as replies)."""
    args = [a.replace("__rand_int__", "000000000007") for a in args]
    if connection.call(*args) in (None, []):
        raise RuntimeError(f"{args[0]} {args[1]} replied nothing")


# The measurements: throughput.


class Bench:
    """One measured command: what to send, with which client, the label
    of the one its rate is compared with, and the rates measured."""

    def __init__(self, label, args, baseline, workload=None):
        """args for redis-benchmark, or workload and args[1] as the key
        for bench_load."""
        self.label = label
        self.args = args
        self.baseline = baseline
        self.workload = workload
        self.rates = {True: [], False: []}
        self.requests = {}

    @property
    def client(self):
        """The client that measures this row."""
        return "bench_load" if self.workload else "redis-benchmark"

    def median(self, pipelined):
        """The median rate over the rounds."""
        return statistics.median(self.rates[pipelined])


def throughput_benches(lua_sha, element_id):
    """The rows of the throughput table, baselines first."""
    value = "__rand_int__.25"
    return [
        Bench("`INCR`", ["INCR", "bench:incr"], "`INCR`"),
        Bench("`GET`", ["GET", "bench:get"], "`GET`"),
        Bench("`FLOOR.ADD` (floor module)",
              ["FLOOR.ADD", "bench:floor:add", value], "`INCR`"),
        Bench("`FLOOR.AVG` (floor module)",
              ["FLOOR.AVG", "bench:floor:avg"], "`GET`"),
        Bench("`MAVG.ADD key value`",
              ["MAVG.ADD", "bench:mavg:add", value], "`INCR`"),
        Bench("`MAVG.AVG`", ["MAVG.AVG", "bench:mavg:avg"], "`GET`"),
        Bench("`MAVG.GET key -1`",
              ["MAVG.GET", "bench:mavg:pos", "-1"], "`GET`"),
        Bench("`MAVG.GET key <id>`",
              ["MAVG.GET", "bench:mavg:id", element_id], "`GET`"),
        Bench("Lua: `EVALSHA` capped list + sum",
              ["EVALSHA", lua_sha, "2", "bench:lua:list",
               "bench:lua:sum", value, str(WINDOW)], "`INCR`"),
        Bench("`LRANGE key 0 99` (100 values)",
              ["LRANGE", "bench:lrange", "0", str(WINDOW - 1)], "`GET`"),
        Bench("`INCR` (bench_load)", ["INCR", "bench:load:incr"],
              "`INCR` (bench_load)", workload="incr"),
        Bench("`MULTI` `LPUSH` `LTRIM` `EXEC` (bench_load)",
              ["MULTI", "bench:multi:list"], "`INCR` (bench_load)",
              workload="multi"),
    ]


def redis_benchmark(port, args, requests, pipelined):
    """Runs redis-benchmark on CPU 1; returns its requests per second."""
    command = ["taskset", "-c", CLIENT_CPU, "redis-benchmark",
               "-h", "127.0.0.1", "-p", str(port), "-c", str(CLIENTS),
               "-n", str(requests), "-P", str(PIPELINE if pipelined else 1),
               "-r", "1000", "--csv", *args]
    result = subprocess.run(command, check=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=120)
    rows = [line for line in result.stdout.splitlines() if line.strip()]
    return float(rows[-1].split(",")[1].strip('"'))


def bench_load(client, port, workload, key, seconds, pipelined):
    """Runs bench_load (at path client) on CPU 1; returns its requests
    per second."""
    command = ["taskset", "-c", CLIENT_CPU, client,
               "--port", str(port), "--workload", workload, "--key", key,
               "--clients", str(CLIENTS),
               "--pipeline", str(PIPELINE if pipelined else 1),
               "--seconds", str(seconds)]
    result = subprocess.run(command, check=True, stdout=subprocess.PIPE,
                            text=True, timeout=120)
    return float(result.stdout)


def measure_once(rig, bench, pipelined, requests=None, seconds=None):
    """One run of bench, sized by requests (redis-benchmark) or seconds
    (bench_load); returns the rate."""
    if bench.workload:
        return bench_load(rig.client, rig.port, bench.workload,
                          bench.args[1], seconds or RUN_SECONDS, pipelined)
    return redis_benchmark(rig.port, bench.args, requests, pipelined)


def calibrate(rig, bench, pipelined):
    """A short first run, which also warms up; sizes the rounds to about
    RUN_SECONDS each."""
    trial = 100_000 if pipelined else 20_000
    rate = measure_once(rig, bench, pipelined, trial, 0.3)
    bench.requests[pipelined] = max(1000, int(rate * RUN_SECONDS))


def error_replies(connection):
    """The server's count of error replies so far."""
    stats = connection.call("INFO", "stats")
    for line in stats.splitlines():
        if line.startswith("total_error_replies:"):
            return int(line.split(":")[1])
    raise RuntimeError("no total_error_replies in INFO stats")


def measure_rounds(rig, benches, modes, rounds):
    """Calibrates each bench in each mode, then runs the rounds, each
    round once through every bench and mode."""
    errors = error_replies(rig.connection)
    say("sizing the runs")
    for bench in benches:
        for pipelined in modes:
            calibrate(rig, bench, pipelined)
    for number in range(1, rounds + 1):
        say(f"round {number} of {rounds}")
        for bench in benches:
            for pipelined in modes:
                rate = measure_once(rig, bench, pipelined,
                                    bench.requests[pipelined])
                bench.rates[pipelined].append(rate)
    if error_replies(rig.connection) != errors:
        raise RuntimeError("the server replied errors during the runs")


# The measurements: window sizes and memory.


def window_benches():
    """MAVG.AVG and MAVG.ADD on a key of each window size."""
    benches = []
    for window in WINDOW_SIZES:
        key = f"bench:window:{window}"
        benches.append(Bench(window, ["MAVG.AVG", key], None))
        benches.append(Bench(window, ["MAVG.ADD", key, "__rand_int__.25"],
                             None))
    return benches


def used_memory(connection):
    """INFO memory's used_memory."""
    memory = connection.call("INFO", "memory")
    for line in memory.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO memory")


def memory_growth(rig, command, expect):
    """Bytes per key that used_memory grows by when MEMORY_KEYS keys are
    written by command(key), from an empty server; expect(loader) reads
    the reply of one."""
    connection = rig.connection
    connection.call("FLUSHALL", "SYNC")
    before = used_memory(connection)
    loader = Connection(rig.port)
    for first in range(0, MEMORY_KEYS, 1000):
        keys = [f"memory:{i:06d}" for i in range(first, first + 1000)]
        loader.send([command(key) for key in keys])
        for _ in keys:
            expect(loader)
    loader.close()
    time.sleep(0.2)
    growth = (used_memory(connection) - before) / MEMORY_KEYS
    connection.call("FLUSHALL", "SYNC")
    return growth


def mavg_command(key):
    """A full MAVG window of 10 values."""
    return ["MAVG.ADD", key, "WINDOW", len(MEMORY_VALUES), *MEMORY_VALUES]


def list_command(key):
    """The same 10 values as a list."""
    return ["LPUSH", key, *MEMORY_VALUES]


class Rig:
    """What the measurements run against: the server's port, the path of
    the load client, and a connection for setup and checks."""

    def __init__(self, port, client):
        """Connects to the server on port."""
        self.port = port
        self.client = client
        self.connection = Connection(port)


def measure(rig, results):
    """Every measurement, into results."""
    connection = rig.connection
    lua_sha = connection.call("SCRIPT", "LOAD", LUA_ADD)
    element_id = prefill(connection, lua_sha)
    benches = throughput_benches(lua_sha, element_id)
    for bench in benches:
        if not bench.workload:
            check_once(connection, bench.args)
    say("throughput: 2 modes, 12 commands, "
        f"{ROUNDS} rounds of about {RUN_SECONDS} s")
    measure_rounds(rig, benches, [False, True], ROUNDS)
    results["throughput"] = benches

    say("filling windows of " + ", ".join(map(str, WINDOW_SIZES)))
    for window in WINDOW_SIZES:
        fill_window(connection, f"bench:window:{window}", window)
        say(f"filled a window of {window}")
    usage = connection.call("MEMORY", "USAGE", "bench:window:1000000")
    results["bytes_per_value"] = usage / 10**6
    say(f"window sizes: {ROUNDS} rounds, pipelined")
    windows = window_benches()
    measure_rounds(rig, windows, [True], ROUNDS)
    results["windows"] = windows

    say(f"memory: {MEMORY_KEYS} keys of 10 values, MAVG then lists")
    results["mavg_per_key"] = memory_growth(
        rig, mavg_command,
        lambda loader: loader.expect_ids(len(MEMORY_VALUES)))
    results["list_per_key"] = memory_growth(
        rig, list_command,
        lambda loader: loader.expect_header(b":%d" % len(MEMORY_VALUES)))
    connection.close()


# The report.


def rate_text(rate):
    """A rate to three significant digits, with thousands separators."""
    digits = max(0, len(str(int(rate))) - 3)
    return f"{round(rate, -digits):,.0f}"


def machine():
    """The CPU model, the number of cores, redis-server's version, the
    date and the commit measured."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(["redis-server", "--version"], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
    version = version.split("v=")[1].split()[0]
    commit = subprocess.run(["git", "describe", "--always", "--dirty"],
                            cwd=ROOT, stdout=subprocess.PIPE,
                            text=True).stdout.strip() or "unknown"
    return {
        "CPU": model,
        "cores": str(os.cpu_count()),
        "redis-server": version,
        "date": datetime.date.today().isoformat(),
        "commit": commit,
    }


def by_label(benches):
    """The benches by label."""
    return {bench.label: bench for bench in benches}


def ratio(benches, label, baseline, pipelined):
    """The median rate of label over that of baseline."""
    rows = by_label(benches)
    return rows[label].median(pipelined) / rows[baseline].median(pipelined)


def key_ratios(benches):
    """(label, not pipelined, pipelined) for the ratios that matter: MAVG
    against the floor module, and against the ways without it."""
    pairs = [
        ("`MAVG.ADD` / `FLOOR.ADD`", "`MAVG.ADD key value`",
         "`FLOOR.ADD` (floor module)"),
        ("`MAVG.AVG` / `FLOOR.AVG`", "`MAVG.AVG`",
         "`FLOOR.AVG` (floor module)"),
        ("`MAVG.GET key -1` / `FLOOR.AVG`", "`MAVG.GET key -1`",
         "`FLOOR.AVG` (floor module)"),
        ("`MAVG.GET key <id>` / `FLOOR.AVG`", "`MAVG.GET key <id>`",
         "`FLOOR.AVG` (floor module)"),
        ("`MAVG.ADD` / Lua `EVALSHA`", "`MAVG.ADD key value`",
         "Lua: `EVALSHA` capped list + sum"),
        ("`MAVG.AVG` / `LRANGE key 0 99`", "`MAVG.AVG`",
         "`LRANGE key 0 99` (100 values)"),
    ]
    rows = [(name, *(ratio(benches, a, b, p) for p in (False, True)))
            for name, a, b in pairs]
    multi = "`MULTI` `LPUSH` `LTRIM` `EXEC` (bench_load)"
    rows.append(("`MAVG.ADD` / `MULTI` capped list", *(
                     ratio(benches, "`MAVG.ADD key value`", "`INCR`", p)
                     / ratio(benches, multi, "`INCR` (bench_load)", p)
                     for p in (False, True))))
    return rows


def throughput_section(benches):
    """The Markdown of the throughput tables."""
    lines = [
        "## Throughput",
        "",
        f"Requests per second, the median of {ROUNDS} rounds "
        f"(interleaved: round 1 of every command, then round 2, ...) of "
        f"about {RUN_SECONDS} s each; {CLIENTS} clients, each with one "
        f"request in flight (not pipelined) or {PIPELINE} (pipelined); "
        f"the server on CPU {SERVER_CPU}, the client on CPU {CLIENT_CPU}. "
        f"Each key holds a full window of {WINDOW} values. The ratio is to "
        "`INCR` for writes and to `GET` for reads, measured by the same "
        "client. The `MULTI` capped list is measured by `bench_load` "
        "(examples/bench_load.rs), as redis-benchmark sends one command "
        "per request; `LRANGE` leaves out the client's sum of the 100 "
        "values. redis-benchmark adds `N.25` for N from 0 to 999 (its "
        "zero-padded `__rand_int__`); bench_load cycles through eight "
        "values such as 12.5 and 103.25.",
        "",
        "| command | client | req/s | ratio | req/s, pipelined | ratio |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for bench in benches:
        cells = [bench.label, bench.client]
        for pipelined in (False, True):
            rate = bench.median(pipelined)
            base = by_label(benches)[bench.baseline].median(pipelined)
            cells += [rate_text(rate), f"{rate / base:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "### Ratios", "",
              "| ratio | not pipelined | pipelined |", "|---|--:|--:|"]
    for name, plain, pipelined in key_ratios(benches):
        lines.append(f"| {name} | {plain:.2f} | {pipelined:.2f} |")
    lines += ["", "The `MULTI` capped list is measured by another client: "
              "its ratio is that of `MAVG.ADD` to `INCR` over that of the "
              "transaction to `INCR`, each `INCR` measured by the same "
              "client as what it is compared with."]
    return lines


def window_section(windows):
    """The Markdown of the table against the window size."""
    lines = [
        "## Cost against the window",
        "",
        "Requests per second on one key holding a full window of each "
        f"size, pipelined, the median of {ROUNDS} interleaved "
        "rounds, and the ratio to the window of 10. The windows were "
        "filled by "
        f"`MAVG.ADD` with {FILL_BATCH:,} values a command; the window of "
        "10^7 holds 80 MB of values.",
        "",
        "| window | `MAVG.AVG` req/s | ratio | `MAVG.ADD` req/s | ratio |",
        "|--:|--:|--:|--:|--:|",
    ]
    by_window = {}
    for bench in windows:
        by_window.setdefault(bench.label, []).append(bench.median(True))
    first = by_window[WINDOW_SIZES[0]]
    for window in WINDOW_SIZES:
        average, add = by_window[window]
        lines.append(f"| {window:,} | {rate_text(average)} | "
                     f"{average / first[0]:.2f} | {rate_text(add)} | "
                     f"{add / first[1]:.2f} |")
    return lines


def memory_section(results):
    """The Markdown of the memory table."""
    mavg, lists = results["mavg_per_key"], results["list_per_key"]
    values = ", ".join(MEMORY_VALUES)
    return [
        "## Memory",
        "",
        f"Growth of `used_memory` (`INFO memory`) for {MEMORY_KEYS:,} "
        "keys each holding a full window of 10 values, from the same "
        "empty server (`FLUSHALL SYNC` before each), divided by the "
        f"number of keys. The values: {values}; the lists hold them as "
        "text (`LPUSH`), as a capped list does. Key names and the "
        "server's own overhead per key count in both.",
        "",
        "| 10 values a key | bytes per key |",
        "|---|--:|",
        f"| MAVG (`MAVG.ADD key WINDOW 10 ...`) | {mavg:.1f} |",
        f"| list (`LPUSH key ...`) | {lists:.1f} |",
        f"| ratio MAVG / list | {mavg / lists:.2f} |",
        "",
        "One key with a full window of 10^6 values: "
        f"{results['bytes_per_value']:.2f} bytes per value "
        "(`MEMORY USAGE key` / 10^6).",
    ]


def library_section(library):
    """The library bench's Markdown under a heading of its own, its
    headings moved below it."""
    lines = library.strip().splitlines()
    levels = [len(line) - len(line.lstrip("#")) for line in lines
              if line.startswith("#")]
    shift = 3 - min(levels) if levels else 0
    moved = [("#" * shift + line) if line.startswith("#") else line
             for line in lines]
    return ["## The library", "",
            "`cargo bench --bench library` (benches/library), in the "
            "same run.", ""] + moved


def report(results, library):
    """The whole of docs/bench.md."""
    facts = machine()
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (scripts/bench.py), which builds the "
        "module, the floor module (benches/floor/floor.c, a minimal C "
        "module with a ring of 100 doubles: what any module command "
        "costs) and the load client, starts its own redis-server on "
        "127.0.0.1 with both modules loaded, and measures everything "
        "below in one run, so the ratios hold on a noisy machine. "
        "Reproduce with `make bench`.",
        "",
        "| machine | |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in facts.items()]
    lines += ["", *throughput_section(results["throughput"]), ""]
    lines += ["![Throughput ratios](bench.svg)", ""]
    lines += [*window_section(results["windows"]), ""]
    lines += [*memory_section(results), ""]
    if library:
        lines += [*library_section(library), ""]
    return "\n".join(lines)


# The chart.

SVG_WIDTH = 760
LABEL_RIGHT = 330
BAR_LEFT = 340
BAR_SPAN = 340
ROW_HEIGHT = 30
COLORS = {False: "#8fb3d9", True: "#1f4e79"}


def svg_text(text):
    """text without Markdown backticks, escaped for SVG."""
    text = text.replace("`", "")
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def axis(values):
    """The end of the axis and the step between its ticks: at most 8
    steps, from 0 to at least 1 and the largest value."""
    top = max([1.0, *values])
    for step in (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500):
        if top / step <= 8:
            break
    return math.ceil(top / step) * step, step


def svg_panel(title, rows, top):
    """A panel of bar pairs (not pipelined, pipelined) for rows of
    (label, plain, pipelined) from top; returns its elements and
    height."""
    scale, step = axis([v for _, a, b in rows for v in (a, b)])
    x = lambda value: BAR_LEFT + BAR_SPAN * value / scale
    height = 30 + ROW_HEIGHT * len(rows) + 20
    out = [f'<text x="10" y="{top + 16}" font-weight="bold">'
           f'{svg_text(title)}</text>']
    ticks = [i * step for i in range(round(scale / step) + 1)]
    bottom = top + height - 20
    for tick in ticks:
        out.append(f'<line x1="{x(tick):.1f}" y1="{top + 26}" '
                   f'x2="{x(tick):.1f}" y2="{bottom}" stroke="#ddd"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{bottom + 14}" '
                   f'text-anchor="middle" fill="#555">{tick:g}</text>')
    out.append(f'<line x1="{x(1):.1f}" y1="{top + 26}" x2="{x(1):.1f}" '
               f'y2="{bottom}" stroke="#555"/>')
    for index, (label, *values) in enumerate(rows):
        y = top + 30 + ROW_HEIGHT * index
        out.append(f'<text x="{LABEL_RIGHT}" y="{y + 16}" '
                   f'text-anchor="end">{svg_text(label)}</text>')
        for offset, (pipelined, value) in enumerate(
                zip((False, True), values)):
            bar_y = y + 3 + 12 * offset
            out.append(f'<rect x="{BAR_LEFT}" y="{bar_y}" '
                       f'width="{x(value) - BAR_LEFT:.1f}" height="11" '
                       f'fill="{COLORS[pipelined]}"/>')
            out.append(f'<text x="{x(value) + 4:.1f}" y="{bar_y + 10}" '
                       f'font-size="10">{value:.2f}</text>')
    return out, height


def chart(benches):
    """docs/bench.svg: the throughput ratios, against INCR or GET, then
    MAVG against the floor and the alternatives."""
    plain = [(b.label, ratio(benches, b.label, b.baseline, False),
              ratio(benches, b.label, b.baseline, True))
             for b in benches if b.label != b.baseline]
    first, first_height = svg_panel(
        "Throughput against INCR (writes) or GET (reads)", plain, 40)
    second, second_height = svg_panel(
        "MAVG against the floor module and the ways without MAVG",
        key_ratios(benches), 40 + first_height + 10)
    height = 40 + first_height + 10 + second_height
    legend = [
        f'<rect x="10" y="10" width="12" height="12" '
        f'fill="{COLORS[False]}"/>',
        '<text x="28" y="21">not pipelined</text>',
        f'<rect x="130" y="10" width="12" height="12" '
        f'fill="{COLORS[True]}"/>',
        f'<text x="148" y="21">pipelined (-P {PIPELINE})</text>',
    ]
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" '
        f'height="{height}" viewBox="0 0 {SVG_WIDTH} {height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{SVG_WIDTH}" height="{height}" fill="white"/>',
        *legend, *first, *second, "</svg>", ""])


# Main.


def stop_on_signal(number, frame):
    """Turns SIGTERM and SIGHUP into an exit, so the server is stopped."""
    sys.exit(128 + number)


def main():
    """Builds, measures, writes docs/bench.md and docs/bench.svg."""
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    if not os.path.exists(MODULE):
        sys.exit(f"bench: no module at {MODULE}; run make build")
    metadata = cargo_metadata()
    results = {}
    with tempfile.TemporaryDirectory(prefix="mavg-bench-build-") as \
            build_dir:
        say("building the floor module and bench_load")
        floor = build_floor(metadata, build_dir)
        client = build_load_client(build_dir)
        library = run_library_bench(metadata, build_dir)
        with Server([MODULE, floor]) as server:
            say(f"redis-server on 127.0.0.1:{server.port}")
            measure(Rig(server.port, client), results)

    text = report(results, library)
    with open(REPORT, "w") as file:
        file.write(text)
    with open(CHART, "w") as file:
        file.write(chart(results["throughput"]))
    print(text)
    say("wrote docs/bench.md and docs/bench.svg")


if __name__ == "__main__":
    try:
        main()
    except (OSError, RuntimeError, ReplyError,
            subprocess.SubprocessError) as error:
        say(f"failed: {error}")
        sys.exit(1)
