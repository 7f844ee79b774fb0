#!/usr/bin/python3
"""fanout.netns.*: the broker and the load on two "hosts" — two network namespaces — with a delay.

    tests/test_netns.py --tvl build/release/tvl [--model asyncloop] [--delay-ms 1] [--relay-always]

As root it makes its own network namespaces (named after this process's pid), joined by veth
pairs with private addresses that exist only inside them, runs `tvl broker --host <its address>`
in one and `tvl load --host <that address>` in the other, and checks that

  - the broker warned on stderr that it listens on an address other than loopback;
  - the load received everything: nothing lost, no gaps, nothing duplicated or reordered;
  - the median latency (p50 from the intended send, `tvl load --json`) is at least the delay
    added on the way from the broker to the load.

The delay is added by a real means, and the output says which:

  - netem, where the kernel has it: `tc qdisc add dev <broker's veth> root netem delay 1ms`
    holds every packet the broker's namespace sends (broker -> load) for the delay;
  - otherwise (a kernel without CONFIG_NET_SCH_NETEM): a TCP relay, this script run with --relay,
    in a third "router" namespace joined to both. The load connects to the relay, the relay to
    the broker, so every byte crosses two namespace boundaries each way. The relay holds every
    chunk it reads from the broker for the delay before writing it to the load, and passes the
    load's bytes on at once; it reports how many chunks it held and the shortest hold, and the
    test checks that shortest hold too.

Everything it made (namespaces, with their veths, and its processes) is removed at the end, also
on failure or SIGTERM. Exit status: 0 passed, 1 failed, 77 skipped (not root, no `ip`, or the
kernel or container does not let it make namespaces or veth pairs).
Standard library only: it runs under /usr/bin/python3.
"""

import argparse
import asyncio
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile

SKIP = 77
NETNS_PREFIX = "tvlnet"
# Private addresses, only ever configured inside this test's namespaces: broker side .1/.2, the
# router's link to the load .5/.6 (two /30 subnets).
BROKER_ADDR, PEER_ADDR = "10.231.0.1", "10.231.0.2"
ROUTER_TO_LOAD_ADDR, LOAD_ADDR = "10.231.0.5", "10.231.0.6"


# ---- the relay (run inside the router namespace) -------------------------------------------

class RelayStats:
    def __init__(self):
        self.connections = 0
        self.held_chunks = 0
        self.held_bytes = 0
        self.min_hold_s = None


async def forward(reader, writer, delay_s, stats):
    """Copies reader to writer in order; with delay_s, each chunk leaves delay_s after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read_side():
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time(), data))
            if not data:
                return

    async def write_side():
        while True:
            arrived, data = await queue.get()
            if not data:
                break
            if delay_s > 0:
                while (wait := arrived + delay_s - loop.time()) > 0:
                    await asyncio.sleep(wait)
                held = loop.time() - arrived
                stats.held_chunks += 1
                stats.held_bytes += len(data)
                stats.min_hold_s = held if stats.min_hold_s is None else min(stats.min_hold_s, held)
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    reading = asyncio.ensure_future(read_side())
    try:
        await write_side()
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()


async def relay_main(listen_host, target_host, target_port, delay_s):
    stats = RelayStats()

    async def on_client(client_reader, client_writer):
        stats.connections += 1
        try:
            broker_reader, broker_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(forward(client_reader, broker_writer, 0, stats),
                             forward(broker_reader, client_writer, delay_s, stats))
        for w in (client_writer, broker_writer):
            w.close()

    server = await asyncio.start_server(on_client, listen_host, 0, backlog=1024)
    print(f"relaying on {listen_host}:{server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    print("relay-stats " + json.dumps({"connections": stats.connections, "held_chunks": stats.held_chunks,
                                       "held_bytes": stats.held_bytes,
                                       "min_hold_us": None if stats.min_hold_s is None else stats.min_hold_s * 1e6}),
          flush=True)


# ---- the test ------------------------------------------------------------------------------

class Skip(Exception):
    pass


class Failed(Exception):
    pass


def run(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise Failed(f"`{' '.join(cmd)}` exited {r.returncode}: {r.stderr.strip()}")
    return r


def read_line(proc, pattern, timeout_s=30):
    """Waits (bounded) for the process's first stdout line and matches it."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline() if ready else ""
    m = re.match(pattern, line)
    if not m:
        raise Failed(f"expected a line like {pattern!r} within {timeout_s} s, got {line.strip()!r}")
    return m


def remove_namespace(name):
    """Ends what still runs in one of this test's namespaces (only this test starts anything
    there), then deletes it, and with it its end of each veth pair."""
    for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run("ip", "netns", "del", name, check=False)


def remove_stale_namespaces():
    """Namespaces a killed earlier run of this test left behind (the pid in the name is gone)."""
    for name in run("ip", "netns", "list", check=False).stdout.split():
        m = re.match(rf"{NETNS_PREFIX}(\d+)-", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            remove_namespace(name)


class Lab:
    """Namespaces and processes made by this test, all removed by close()."""

    def __init__(self):
        self.tag = f"{NETNS_PREFIX}{os.getpid()}"
        self.namespaces = []
        self.procs = []

    def netns(self, role):
        name = f"{self.tag}-{role}"
        r = run("ip", "netns", "add", name, check=False)
        if r.returncode != 0:
            raise Skip(f"cannot make a network namespace here ({r.stderr.strip()})")
        self.namespaces.append(name)
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        return name

    def link(self, ns_a, addr_a, ns_b, addr_b, name_a, name_b):
        """A veth pair, one end in each namespace, a /30 between them."""
        r = run("ip", "link", "add", name_a, "netns", ns_a, "type", "veth", "peer", "name", name_b, "netns", ns_b,
                check=False)
        if r.returncode != 0:
            raise Skip(f"cannot make a veth pair here ({r.stderr.strip()})")
        for ns, dev, addr in ((ns_a, name_a, addr_a), (ns_b, name_b, addr_b)):
            run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/30", "dev", dev)
            run("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")

    def netem_works(self, ns):
        """Whether this kernel has netem: tried on a throwaway veth pair inside the namespace."""
        r = run("ip", "netns", "exec", ns, "ip", "link", "add", "probe0", "type", "veth", "peer", "name", "probe1",
                check=False)
        if r.returncode != 0:
            raise Skip(f"cannot make a veth pair here ({r.stderr.strip()})")
        r = run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "probe0", "root", "netem", "delay", "1ms",
                check=False)
        run("ip", "netns", "exec", ns, "ip", "link", "del", "probe0", check=False)
        return r.returncode == 0, r.stderr.strip()

    def spawn(self, ns, cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, text=True, **kw)  # ip execs cmd: same pid
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for name in self.namespaces:
            remove_namespace(name)


def stop(proc, timeout_s=20):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Failed(f"{proc.args} did not stop within {timeout_s} s of SIGTERM")


def check(failures, ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def test(args, lab, workdir):
    delay_us = args.delay_ms * 1000
    broker_ns = lab.netns("broker")
    netem, netem_error = lab.netem_works(broker_ns)
    use_relay = args.relay_always or not netem
    load_ns = lab.netns("load")
    if use_relay:
        router_ns = lab.netns("router")
        lab.link(broker_ns, BROKER_ADDR, router_ns, PEER_ADDR, f"{lab.tag}a", f"{lab.tag}r")
        lab.link(router_ns, ROUTER_TO_LOAD_ADDR, load_ns, LOAD_ADDR, f"{lab.tag}s", f"{lab.tag}l")
        why = "asked for (--relay-always)" if netem else f"no netem in this kernel (tc: {netem_error})"
        print(f"delay: {args.delay_ms:g} ms by a TCP relay ({why}). Namespaces {broker_ns} (broker, {BROKER_ADDR}), "
              f"{router_ns} (relay) and {load_ns} (load); the load connects to the relay, the relay to the broker. "
              f"The relay holds every chunk from the broker {args.delay_ms:g} ms before passing it to the load; "
              "the load's bytes to the broker pass at once.")
    else:
        lab.link(broker_ns, BROKER_ADDR, load_ns, PEER_ADDR, f"{lab.tag}a", f"{lab.tag}l")
        run("ip", "netns", "exec", broker_ns, "tc", "qdisc", "add", "dev", f"{lab.tag}a", "root", "netem", "delay",
            f"{args.delay_ms:g}ms")
        print(f"delay: {args.delay_ms:g} ms by netem on the broker's veth (every packet from broker to load). "
              f"Namespaces {broker_ns} (broker, {BROKER_ADDR}) and {load_ns} (load, {PEER_ADDR}), one veth pair.")

    broker = lab.spawn(broker_ns, [args.tvl, "broker", "--model", args.model, "--design", "improved", "--host",
                                   BROKER_ADDR, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = int(read_line(broker, r"listening on \S+:(\d+)").group(1))
    target_host, target_port = BROKER_ADDR, port
    relay = None
    if use_relay:
        relay = lab.spawn(router_ns, [sys.executable, os.path.abspath(__file__), "--relay", ROUTER_TO_LOAD_ADDR,
                                      BROKER_ADDR, str(port), str(args.delay_ms)],
                          stdout=subprocess.PIPE)
        target_host, target_port = ROUTER_TO_LOAD_ADDR, int(read_line(relay, r"relaying on \S+:(\d+)").group(1))

    load_json = os.path.join(workdir, "load.json")
    load_cmd = [args.tvl, "load", "--host", target_host, "--port", str(target_port), "--subscribers",
                str(args.subscribers), "--rate", str(args.rate), "--duration", str(args.duration), "--json", load_json]
    print("load:", " ".join(load_cmd), flush=True)
    load = lab.spawn(load_ns, load_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        load_out, _ = load.communicate(timeout=args.duration + 60)
    except subprocess.TimeoutExpired:
        load.kill()
        load.communicate()
        raise Failed("tvl load did not finish in time")
    print(load_out, end="")
    relay_stats = None
    if relay:
        relay_out, _ = stop(relay)
        for line in relay_out.splitlines():
            if line.startswith("relay-stats "):
                relay_stats = json.loads(line[len("relay-stats "):])
        print("relay:", relay_stats)
    _, broker_err = stop(broker)

    failures = []
    check(failures, "WARNING" in broker_err and "not loopback" in broker_err,
          f"the broker warned that it listens on {BROKER_ADDR}, not loopback")
    check(failures, broker.returncode == 0, f"the broker stopped cleanly on SIGTERM: exit status {broker.returncode}")
    check(failures, load.returncode == 0, f"tvl load exit status {load.returncode}, 0 expected")
    counters = {}
    if os.path.exists(load_json):
        with open(load_json) as f:
            counters = json.load(f)["counters"]
    c = lambda k: counters.get(k, -1)
    check(failures, c("expected") > 0 and c("delivered") == c("expected"),
          f"everything delivered: {c('delivered'):.0f} of {c('expected'):.0f}")
    check(failures, c("lost") == 0 and c("gaps") == 0 and c("duplicates_or_reordered") == 0 and c("impossible") == 0,
          f"lost {c('lost'):.0f}, gaps {c('gaps'):.0f}, duplicates/reordered {c('duplicates_or_reordered'):.0f}")
    check(failures, c("p50_us") >= delay_us,
          f"p50 latency {c('p50_us'):.0f} us is at least the added delay, {delay_us:.0f} us")
    if relay:
        held = relay_stats or {}
        check(failures, held.get("held_chunks", 0) > 0 and (held.get("min_hold_us") or 0) >= delay_us,
              f"the relay held {held.get('held_chunks', 0)} chunks from the broker, each at least {delay_us:.0f} us "
              f"(shortest {held.get('min_hold_us') or 0:.0f} us)")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tvl", help="the tvl binary")
    ap.add_argument("--model", default="asyncloop", choices=["threads", "asyncloop", "asyncloop-mt"])
    ap.add_argument("--delay-ms", type=float, default=1.0, help="delay added from the broker to the load")
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--duration", type=float, default=2)
    ap.add_argument("--relay-always", action="store_true", help="use the relay even where netem exists")
    ap.add_argument("--relay", nargs=4, metavar=("LISTEN", "BROKER", "PORT", "DELAY_MS"),
                    help=argparse.SUPPRESS)  # internal: run as the relay
    args = ap.parse_args()
    if args.relay:
        listen, target, port, delay_ms = args.relay
        asyncio.run(relay_main(listen, target, int(port), float(delay_ms) / 1000))
        return 0
    if not args.tvl or not os.access(args.tvl, os.X_OK):
        ap.error("--tvl must name the tvl binary")

    # SIGTERM (a ctest timeout, a user) unwinds through the finally below, which cleans up.
    def on_sigterm(*_):
        print("interrupted (SIGTERM): removing the namespaces and processes", flush=True)
        sys.exit(1)

    signal.signal(signal.SIGTERM, on_sigterm)
    if os.geteuid() != 0:
        print("SKIP: making network namespaces needs root (run the test as root)")
        return SKIP
    if not shutil.which("ip") or not shutil.which("tc"):
        print("SKIP: no `ip` or `tc` here (iproute2; scripts/deps.sh installs it)")
        return SKIP
    remove_stale_namespaces()
    lab = Lab()
    try:
        with tempfile.TemporaryDirectory(prefix="tvl-netns-") as workdir:
            failures = test(args, lab, workdir)
    except Skip as e:
        print(f"SKIP: {e}")
        return SKIP
    except Failed as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        lab.close()
    print("PASSED" if not failures else f"FAILED: {'; '.join(failures)}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
