#!/usr/bin/env python3
"""Protocol tests for any SPEC §6 fan-out broker, driven through peers/client.py.

Usage:
    /usr/bin/python3 tests/test_peers.py [--broker-cmd "COMMAND"] [--improved auto|yes|no]
        [unittest options]

COMMAND starts a broker listening on an ephemeral port (default: the Python reference broker,
"/usr/bin/python3 peers/asyncio_broker.py --port 0"); it runs from the repository root and must
  - print `listening on HOST:PORT` on stdout (one line, flushed) once bound,
  - on SIGTERM: stop, print `tvl-broker-stats {json}` on stdout (keys: accepted, closed,
    subscribers, messages_in, deliveries, dropped, slow_disconnects, protocol_errors,
    unflushed, bytes_in, bytes_out) and exit 0.
e.g. --broker-cmd "build/release/tvl broker --model asyncloop --design improved --port 0".

--improved yes also runs the slow-subscriber tests, which start the broker command with
`--queue-depth 8 --slow-policy drop|disconnect --flush-timeout 0.5` appended and expect bounded
queues (drops, slow disconnects, unflushed counted). auto (default): yes when the command is the
Python broker or contains `--design improved`.

Beyond the wire format the tests expect: a broker closes a connection once the client has sent
its empty channel frame and then EOF (closing right after the empty frame is fine too); a frame
over 1 MiB closes that connection at its length prefix; after SIGTERM every accepted connection
is counted closed and nothing is left unflushed when all clients have gone.

Everything is time-bounded; the whole file takes a few seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "peers"))
import client  # noqa: E402  (peers/client.py)
from client import Connection  # noqa: E402

DEFAULT_BROKER = "/usr/bin/python3 peers/asyncio_broker.py --port 0"
STAT_KEYS = {"accepted", "closed", "subscribers", "messages_in", "deliveries", "dropped",
             "slow_disconnects", "protocol_errors", "unflushed", "bytes_in", "bytes_out"}
MAX_FRAME = 1 << 20   # the default every broker uses
BROKER_CMD = DEFAULT_BROKER
IMPROVED = True


class Broker:
    """A broker subprocess: started, its listening line read, stopped by SIGTERM.
    Stdout is a pipe (lines before `listening on` are tolerated); stderr goes to a temporary
    file, so a chatty broker cannot block on a full pipe."""

    PREFIX = b"listening on "

    def __init__(self, cmd: str, *extra: str, start_timeout: float = 10.0) -> None:
        self.argv = shlex.split(cmd) + list(extra)
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=self.err, start_new_session=True)
        self.early = b""   # stdout read while looking for the listening line
        line = self._listening_line(start_timeout)
        if line is None:
            self.kill()
            why = (f"broker {self.argv} did not print 'listening on HOST:PORT' within "
                   f"{start_timeout:g}s (exit status {self.proc.returncode}); stdout "
                   f"{self.early[-2000:]!r}; stderr {self.stderr()[-2000:]!r}")
            self.close()
            raise RuntimeError(why)
        self.host, _, port = line[len(self.PREFIX):].decode().strip().rpartition(":")
        self.port = int(port)

    def _listening_line(self, timeout: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for line in self.early.splitlines(keepends=True):
                if line.startswith(self.PREFIX) and line.endswith(b"\n"):
                    return line
            if not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            self.early += chunk
        return None

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def stop(self, timeout: float = 8.0) -> tuple[int | None, str, str]:
        """SIGTERM; returns (exit status or None if it had to be killed, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
            rc = self.proc.returncode
        except subprocess.TimeoutExpired:
            self.kill()
            out, _ = self.proc.communicate()
            rc = None
        return rc, (self.early + out).decode(errors="replace"), self.stderr()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def close(self) -> None:
        self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.err.close()

    @staticmethod
    def parse_stats(out: str) -> dict | None:
        lines = [ln for ln in out.splitlines() if ln.startswith("tvl-broker-stats ")]
        return json.loads(lines[-1][len("tvl-broker-stats "):]) if len(lines) == 1 else None


def arun(coro, timeout: float = 10.0):
    """Run one coroutine with an overall time limit."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def open_sub(port: int, channel: str) -> Connection:
    c = await Connection.open("127.0.0.1", port)
    c.subscribe(channel)
    await c.drain()
    return c


async def confirm(pub: Connection, subs: list[Connection], channel: str,
                  timeout: float = 5.0) -> None:
    """Publish probes on a topic channel until every subscriber has read one; then drain the
    probes still in flight so the next read is a real message."""
    deadline = time.monotonic() + timeout
    pending = list(subs)
    n = 0
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} subscriptions to {channel} not confirmed")
        pub.publish(channel, f"probe:{n}")
        n += 1
        await pub.drain()
        still = []
        for s in pending:
            try:
                f = await s.read_frame(0.05)
                assert f is not None, "broker closed a subscriber while probing"
            except asyncio.TimeoutError:
                still.append(s)
        pending = still
    # Each subscriber saw a probe; read the remaining ones (at most n - 1 each) away.
    pub.publish(channel, "probe:last")
    await pub.drain()
    for s in subs:
        while (f := await s.read_frame(2.0)) != b"probe:last":
            assert f is not None and f.startswith(b"probe:"), f"unexpected {f!r} while probing"


async def closed_by_broker(c: Connection, timeout: float = 3.0) -> bool:
    """True when the broker closes this connection (EOF or reset) within the timeout."""
    return await c.wait_closed_by_peer(timeout)


class ProtocolTest(unittest.TestCase):
    """One broker for the whole class; the tests run in name order and the last one stops it."""

    broker: Broker
    protocol_errors_caused = 0
    connections_made = 0

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(BROKER_CMD)

    @classmethod
    def tearDownClass(cls):
        cls.broker.close()

    def setUp(self):
        # Only test_9 stops the broker, and it runs last: a broker gone before then crashed or
        # quit, which is a failure of the broker, never a reason to skip.
        if (rc := self.broker.proc.poll()) is not None:
            how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            self.fail(f"the broker {self.broker.argv} died before this test ({how}); "
                      f"stderr: {self.broker.stderr()[-2000:]!r}")

    def test_1_interop(self):
        ok, summary = arun(client.interop("127.0.0.1", self.broker.port), 20)
        type(self).connections_made += 6
        self.assertTrue(ok, summary)

    def test_2_cli(self):
        """The client's command line: interop, sub and pub against the same broker."""
        script = [sys.executable, str(ROOT / "peers" / "client.py"), "--port",
                  str(self.broker.port)]
        p = subprocess.run(script + ["interop"], capture_output=True, text=True, timeout=15)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(p.stdout.startswith("interop ok"), p.stdout)

        async def sub_cli():
            # `sub` prints what arrives; a library publisher repeats until the CLI has it.
            proc = await asyncio.create_subprocess_exec(
                *script, "sub", "/topic/cli", "--count", "1", "--timeout", "5",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            pub = await open_sub(self.broker.port, "/private/test-cli")
            try:
                while proc.returncode is None:
                    pub.publish("/topic/cli", "hello from the test")
                    await pub.drain()
                    try:
                        await asyncio.wait_for(proc.wait(), 0.1)
                    except asyncio.TimeoutError:
                        pass
                out, err = await proc.communicate()
                return proc.returncode, out.decode(), err.decode()
            finally:
                pub.end()
                await pub.close()
        rc, out, err = arun(sub_cli(), 10)
        self.assertEqual((rc, out), (0, "hello from the test\n"), err)

        async def pub_cli():
            sub = await open_sub(self.broker.port, "/topic/cli2")
            pub = await open_sub(self.broker.port, "/private/test-cli2")
            await confirm(pub, [sub], "/topic/cli2")
            proc = await asyncio.create_subprocess_exec(
                *script, "pub", "/topic/cli2", "one", "two", "three",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 5)
            got = [await sub.read_frame(3.0) for _ in range(3)]
            for c in (sub, pub):
                await c.close()
            return proc.returncode, got, err.decode()
        rc, got, err = arun(pub_cli(), 15)
        self.assertEqual(rc, 0, err)
        self.assertEqual(got, [b"one", b"two", b"three"])
        type(self).connections_made += 11

    def test_3_max_frame(self):
        """A frame of exactly the maximum goes through; one byte more closes that connection
        (at its length prefix) and every other client is still served."""
        async def body():
            sub = await open_sub(self.broker.port, "/topic/big")
            pub = await open_sub(self.broker.port, "/private/test-big")
            await confirm(pub, [sub], "/topic/big")
            big = bytes(range(256)) * (MAX_FRAME // 256)
            pub.publish("/topic/big", big)
            await pub.drain()
            self.assertEqual(await sub.read_frame(5.0), big, "a frame of exactly 1 MiB")

            bad = await open_sub(self.broker.port, "/topic/big")   # a subscriber itself
            bad.send_raw(client.HEADER.pack(MAX_FRAME + 1) + b"x" * 1000)   # no body follows
            await bad.drain()
            self.assertTrue(await closed_by_broker(bad), "over-max frame: connection not closed")
            await bad.close()

            pub.publish("/topic/big", "after")
            await pub.drain()
            self.assertEqual(await sub.read_frame(3.0), b"after", "others still served")
            # A new connection is served too.
            sub2 = await open_sub(self.broker.port, "/topic/big2")
            await confirm(pub, [sub2], "/topic/big2")
            for c in (sub, pub, sub2):
                await c.close()
        arun(body(), 15)
        type(self).protocol_errors_caused += 1
        type(self).connections_made += 4

    def test_4_garbage(self):
        """Garbage: a huge length prefix (closed and counted), a frame cut off by a disconnect,
        an abrupt reset, non-UTF-8 channel names, a connection that sends nothing. The broker
        keeps serving."""
        async def body():
            sub = await open_sub(self.broker.port, "/topic/g")
            pub = await open_sub(self.broker.port, "/private/test-g")
            await confirm(pub, [sub], "/topic/g")

            junk = await Connection.open("127.0.0.1", self.broker.port)
            junk.send_raw(b"\xde\xad\xbe\xef garbage \x00\xff" * 10)
            await junk.drain()
            self.assertTrue(await closed_by_broker(junk), "garbage: connection not closed")
            await junk.close()

            cut = await open_sub(self.broker.port, "/topic/g")
            cut.send_raw(client.frame("/topic/g") + client.HEADER.pack(100) + b"only part")
            await cut.drain()
            await cut.close()

            reset = await open_sub(self.broker.port, "/topic/g")
            reset.writer.transport.abort()

            odd = await open_sub(self.broker.port, "\udcff/not utf-8".encode("utf-8", "surrogateescape"))
            odd.publish(b"\xff\xfe/queue\x00", b"\x00\x01")
            odd.end()
            await odd.drain()
            odd.writer.write_eof()   # the end frame alone need not close (a broker may read on)
            self.assertTrue(await closed_by_broker(odd), "no close after the end frame and EOF")
            await odd.close()

            silent = await Connection.open("127.0.0.1", self.broker.port)
            await asyncio.sleep(0.1)
            await silent.close()

            pub.publish("/topic/g", "still here")
            await pub.drain()
            self.assertEqual(await sub.read_frame(3.0), b"still here")
            for c in (sub, pub):
                await c.close()
        arun(body(), 15)
        type(self).protocol_errors_caused += 1
        type(self).connections_made += 7

    def test_9_sigterm_stats(self):
        """SIGTERM: exit 0, one `tvl-broker-stats` line with exactly the agreed keys; the
        protocol errors caused above are counted; every connection is closed."""
        async def one_more_error():
            c = await Connection.open("127.0.0.1", self.broker.port)
            c.send_raw(b"\xff\xff\xff\xff")
            await c.drain()
            self.assertTrue(await closed_by_broker(c))
            await c.close()
        arun(one_more_error(), 10)
        type(self).protocol_errors_caused += 1
        type(self).connections_made += 1
        time.sleep(0.2)   # let the broker see every close before it is stopped
        rc, out, err = self.broker.stop()
        self.assertEqual(rc, 0, f"exit status after SIGTERM; stderr: {err[-2000:]}")
        stats = Broker.parse_stats(out)
        self.assertIsNotNone(stats, f"no single tvl-broker-stats line in {out!r}")
        self.assertEqual(set(stats), STAT_KEYS)
        for k, v in stats.items():
            self.assertIsInstance(v, int, k)
            self.assertGreaterEqual(v, 0, k)
        self.assertGreaterEqual(stats["protocol_errors"], 1)
        self.assertGreaterEqual(stats["protocol_errors"], self.protocol_errors_caused)
        self.assertGreaterEqual(stats["accepted"], self.connections_made)
        self.assertEqual(stats["closed"], stats["accepted"], "connections left open")
        self.assertEqual(stats["unflushed"], 0)
        self.assertLessEqual(stats["subscribers"], stats["accepted"])
        if self.connections_made >= 10:   # the interop test ran: 100 messages, 200 deliveries
            self.assertGreaterEqual(stats["messages_in"], 100)
            self.assertGreaterEqual(stats["deliveries"], 200)
            self.assertGreater(stats["bytes_in"], 0)
            self.assertGreater(stats["bytes_out"], 0)


class SlowSubscriberTest(unittest.TestCase):
    """Bounded subscriber queues (the improved design): a subscriber that never reads."""

    def setUp(self):
        if not IMPROVED:
            self.skipTest("--improved no: the broker need not have bounded queues")

    def run_slow(self, policy: str, messages: int = 600, size: int = 64 * 1024):
        """A stuck subscriber (never reads) and a fast one (reads each message before the next
        is published) on one topic; returns (messages the fast one got, whether the stuck one
        was closed by the broker, the broker's stats). The broker must exit 0 by itself after
        SIGTERM although the stuck subscriber still has a full queue: Broker.stop kills it (and
        the exit status is then None) when it does not, so a flush that never gives up fails."""
        broker = Broker(BROKER_CMD, "--queue-depth", "8", "--slow-policy", policy,
                        "--flush-timeout", "0.5")
        try:
            async def body():
                stuck = await open_sub(broker.port, "/topic/s")
                stuck.writer.transport.pause_reading()   # never reads: kernel buffers fill
                fast = await open_sub(broker.port, "/topic/s")
                pub = await open_sub(broker.port, "/private/test-slow")
                await confirm(pub, [fast], "/topic/s")
                payload = b"s" * size
                got = 0
                for _ in range(messages):
                    pub.publish("/topic/s", payload)
                    await pub.drain()
                    if await fast.read_frame(3.0) == payload:
                        got += 1
                closed = None
                if policy == "disconnect":
                    stuck.writer.transport.resume_reading()
                    closed = await closed_by_broker(stuck, 5.0)
                # Stop the broker while the stuck subscriber is still connected (drop: its
                # queue is still full, so the flush times out and counts it as unflushed).
                rc, out, err = await asyncio.get_running_loop().run_in_executor(None, broker.stop)
                for c in (stuck, fast, pub):
                    await c.close(0.2)
                return got, closed, rc, out, err
            got, closed, rc, out, err = arun(body(), 20)
        finally:
            broker.close()
        stats = Broker.parse_stats(out)
        self.assertEqual(rc, 0, "the broker did not exit by itself after SIGTERM: " + err[-2000:])
        self.assertIsNotNone(stats, out)
        return got, closed, stats

    def test_drop(self):
        got, _, stats = self.run_slow("drop")
        self.assertEqual(got, 600, "the fast subscriber lost messages")
        self.assertGreater(stats["dropped"], 0, stats)
        self.assertEqual(stats["slow_disconnects"], 0, stats)
        # Exited 0 with messages still queued: the flush gave up (--flush-timeout) and counted them.
        self.assertGreater(stats["unflushed"], 0, "the stuck subscriber's queue was not counted")

    def test_disconnect(self):
        got, closed, stats = self.run_slow("disconnect")
        self.assertEqual(got, 600, "the fast subscriber lost messages")
        self.assertTrue(closed, "the stuck subscriber was not disconnected")
        self.assertEqual(stats["slow_disconnects"], 1, stats)
        self.assertEqual(stats["dropped"], 0, stats)
        self.assertEqual(stats["unflushed"], 0, stats)
        self.assertEqual(stats["closed"], stats["accepted"], stats)


def main() -> None:
    global BROKER_CMD, IMPROVED
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--broker-cmd", default=DEFAULT_BROKER)
    ap.add_argument("--improved", choices=("auto", "yes", "no"), default="auto")
    args, rest = ap.parse_known_args()
    BROKER_CMD = args.broker_cmd
    IMPROVED = (args.improved == "yes" or
                (args.improved == "auto" and ("asyncio_broker.py" in args.broker_cmd
                                              or "--design improved" in args.broker_cmd)))
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
