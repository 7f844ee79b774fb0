#!/usr/bin/env python3
"""A small asyncio client for the fan-out protocol of SPEC §6 (standard library only).

Command line:
    client.py [--host 127.0.0.1] --port P sub CHANNEL [--count N] [--timeout S] [--format F]
        print each payload received on CHANNEL, one per line; exit 0 after N payloads (or,
        without --count, when the broker closes the connection), 1 on timeout (S seconds in
        all, default 30; 0 waits for ever). F: text (UTF-8, undecodable bytes escaped), hex,
        or stamp (the load generator's payload: publisher, seq, intended_ns, sent_ns).
    client.py [--host 127.0.0.1] --port P pub CHANNEL MESSAGE... [--timeout S]
        subscribe to a private channel (the protocol's first frame), send each MESSAGE to
        CHANNEL, send the empty channel frame, half-close, wait (at most min(S, 2) s) for the
        broker to close its side, close. Exit 0 once everything is sent, 1 on failure.
    client.py [--host 127.0.0.1] --port P interop [--messages N] [--timeout S]
        against any broker speaking the protocol: 3 subscribers on /topic/t, 2 on /queue/q;
        probes confirm every subscription; then N (default 50) topic and N queue messages.
        Checks every topic subscriber gets all N in order, and the queue messages are split
        between the two queue subscribers with none lost or duplicated. One summary line;
        exit 0 on success, 1 with the reason on failure.

As a module: `Connection` (open, subscribe, publish, end, read_frame, close), `frame`,
`encode_stamp`/`decode_stamp`, and `interop(host, port) -> (ok, summary)`.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import struct
import sys
import time
from typing import NamedTuple

HEADER = struct.Struct(">I")
STAMP = struct.Struct("<IQqq")   # publisher u32, seq u64, intended_ns i64, sent_ns i64
STAMP_BYTES = STAMP.size         # 28
DEFAULT_TIMEOUT = 5.0


def _b(x: bytes | str) -> bytes:
    return x.encode() if isinstance(x, str) else bytes(x)


def frame(payload: bytes | str) -> bytes:
    """One frame: 4-byte big-endian length, then the payload."""
    p = _b(payload)
    return HEADER.pack(len(p)) + p


class Stamp(NamedTuple):
    publisher: int
    seq: int
    intended_ns: int
    sent_ns: int


def encode_stamp(s: Stamp, payload_bytes: int = STAMP_BYTES) -> bytes:
    """The load generator's payload, padded with '.' to payload_bytes (as scenarios/fanout.cpp)."""
    out = STAMP.pack(*s)
    return out + b"." * (payload_bytes - len(out)) if payload_bytes > len(out) else out


def decode_stamp(payload: bytes) -> Stamp | None:
    return Stamp(*STAMP.unpack_from(payload)) if len(payload) >= STAMP_BYTES else None


class Connection:
    """One client connection. Sends are buffered; `drain()` (or `publish(..., flush=True)`)
    pushes them out. Every wait takes a timeout."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str = "127.0.0.1", port: int = 0,
                   timeout: float = DEFAULT_TIMEOUT) -> "Connection":
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=2 * 1024 * 1024), timeout)
        return cls(reader, writer)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def subscribe(self, channel: bytes | str) -> None:
        self.writer.write(frame(channel))

    def publish(self, channel: bytes | str, data: bytes | str) -> None:
        self.writer.writelines((frame(channel), frame(data)))

    def end(self) -> None:
        """The empty channel frame: this client sends nothing more."""
        self.writer.write(frame(b""))

    async def drain(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        await asyncio.wait_for(self.writer.drain(), timeout)

    async def read_frame(self, timeout: float | None = DEFAULT_TIMEOUT) -> bytes | None:
        """The next payload; None when the broker closed the connection (EOF or reset).
        Raises asyncio.TimeoutError when nothing complete arrives in time."""
        async def one() -> bytes | None:
            try:
                n = HEADER.unpack(await self.reader.readexactly(4))[0]
                return await self.reader.readexactly(n) if n else b""
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
        return await asyncio.wait_for(one(), timeout)

    async def wait_closed_by_peer(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Read and discard until the broker closes; True if it did within the timeout."""
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                if await self.read_frame(left) is None:
                    return True
        except asyncio.TimeoutError:
            pass
        return False

    async def close(self, timeout: float = 1.0) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass


# --- interop check ------------------------------------------------------------------------------

class _Collector:
    """Reads every frame of one subscriber into a list, in the background."""

    def __init__(self, conn: Connection, name: str) -> None:
        self.conn, self.name = conn, name
        self.got: list[bytes] = []
        self.closed = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            f = await self.conn.read_frame(None)
            if f is None:
                self.closed = True
                return
            self.got.append(f)

    def probes(self) -> int:
        return sum(1 for f in self.got if f.startswith(b"probe:"))

    def messages(self) -> list[bytes]:
        return [f for f in self.got if not f.startswith(b"probe:")]


async def _wait_until(cond, deadline: float, step: float = 0.01) -> bool:
    while not cond():
        if time.monotonic() >= deadline:
            return cond()
        await asyncio.sleep(step)
    return True


async def interop(host: str = "127.0.0.1", port: int = 0, messages: int = 50,
                  timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """The interop check described in the module docstring. Returns (ok, one-line summary)."""
    topic, queue = b"/topic/t", b"/queue/q"
    private = f"/private/interop-{os.getpid()}-{time.monotonic_ns()}".encode()
    conns: list[Connection] = []
    collectors: list[_Collector] = []
    try:
        for i in range(5):
            c = await Connection.open(host, port, timeout)
            conns.append(c)
            c.subscribe(topic if i < 3 else queue)
            await c.drain(timeout)
        pub = await Connection.open(host, port, timeout)
        conns.append(pub)
        pub.subscribe(private)
        tsubs = [_Collector(conns[i], f"topic sub {i}") for i in range(3)]
        qsubs = [_Collector(conns[3 + i], f"queue sub {i}") for i in range(2)]
        pcol = _Collector(pub, "publisher")
        collectors = tsubs + qsubs + [pcol]

        # Confirm every subscription: probes until each subscriber has seen one.
        deadline = time.monotonic() + timeout
        probes = 0
        while not all(s.probes() for s in tsubs + qsubs):
            dead = [s.name for s in collectors if s.closed]
            if dead:
                return False, f"interop FAIL: broker closed {', '.join(dead)} during the probes"
            if time.monotonic() >= deadline:
                missing = [s.name for s in tsubs + qsubs if not s.probes()]
                return False, (f"interop FAIL: subscriptions not confirmed within {timeout:g}s "
                               f"({probes} probe rounds): no probe at {', '.join(missing)}")
            pub.publish(topic, f"probe:{probes}")
            pub.publish(queue, f"probe:{probes}")
            probes += 1
            await pub.drain(timeout)
            await _wait_until(lambda: all(s.probes() for s in tsubs + qsubs),
                              time.monotonic() + 0.05)

        tmsgs = [f"topic:{i:04d}".encode() for i in range(messages)]
        qmsgs = [f"queue:{i:04d}".encode() for i in range(messages)]
        for t, q in zip(tmsgs, qmsgs):
            pub.publish(topic, t)
            pub.publish(queue, q)
        await pub.drain(timeout)

        def complete() -> bool:
            return (all(len(s.messages()) >= messages for s in tsubs)
                    and sum(len(s.messages()) for s in qsubs) >= messages)
        arrived = await _wait_until(complete, time.monotonic() + timeout)
        await asyncio.sleep(0.2)   # room for duplicates or strays to show up

        problems = []
        for s in tsubs:
            got = s.messages()
            if got != tmsgs:
                problems.append(f"{s.name} got {len(got)} topic messages, expected all {messages} "
                                f"in order ({_diff(got, tmsgs)})")
        qgot = [s.messages() for s in qsubs]
        merged = [m for g in qgot for m in g]
        if sorted(merged) != qmsgs:
            missing = len(set(qmsgs) - set(merged))
            dups = len(merged) - len(set(merged))
            strays = len(set(merged) - set(qmsgs))
            problems.append(f"queue messages: {len(merged)} delivered, {missing} lost, "
                            f"{dups} duplicated, {strays} not sent to {queue.decode()}")
        for s, g in zip(qsubs, qgot):
            if g != sorted(g):
                problems.append(f"{s.name} got its queue messages out of order")
        if not all(qgot):
            problems.append("queue messages not split: one queue subscriber got none "
                            f"({'+'.join(str(len(g)) for g in qgot)})")
        if pcol.got:
            problems.append(f"the publisher's private channel received {len(pcol.got)} frames")
        if not arrived and not problems:
            problems.append(f"messages did not all arrive within {timeout:g}s")
        if problems:
            return False, "interop FAIL: " + "; ".join(problems)
        return True, (f"interop ok: 3 subscribers of {topic.decode()} each got {messages}/"
                      f"{messages} in order; {queue.decode()} split "
                      f"{'+'.join(str(len(g)) for g in qgot)} of {messages}, none lost or "
                      f"duplicated ({probes} probe rounds)")
    except (asyncio.TimeoutError, ConnectionError, OSError) as e:
        return False, f"interop FAIL: {type(e).__name__}: {e or 'timed out'}"
    finally:
        for c in conns[5:]:
            try:
                c.end()
            except (ConnectionError, OSError, RuntimeError):
                pass
        for s in collectors:
            s.task.cancel()
        for c in conns:
            await c.close()


def _diff(got: list[bytes], want: list[bytes]) -> str:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"first difference at #{i}: {g!r} instead of {w!r}"
    if len(got) < len(want):
        return f"missing from #{len(got)}"
    return f"extra from #{len(want)}: {got[len(want)]!r}"


# --- command line -------------------------------------------------------------------------------

def _show(payload: bytes, fmt: str) -> str:
    if fmt == "hex":
        return payload.hex()
    if fmt == "stamp":
        s = decode_stamp(payload)
        if s is None:
            return f"short payload ({len(payload)} bytes): {payload.hex()}"
        return (f"publisher={s.publisher} seq={s.seq} intended_ns={s.intended_ns} "
                f"sent_ns={s.sent_ns} bytes={len(payload)}")
    return payload.decode("utf-8", "backslashreplace")


async def cmd_sub(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    left = lambda: None if deadline is None else max(deadline - time.monotonic(), 0.0)  # noqa: E731
    try:
        conn = await Connection.open(args.host, args.port, left() or DEFAULT_TIMEOUT)
    except (asyncio.TimeoutError, OSError) as e:
        print(f"client: cannot connect to {args.host}:{args.port}: {e or 'timed out'}",
              file=sys.stderr)
        return 1
    conn.subscribe(args.channel)
    seen = 0
    try:
        await conn.drain(left() or DEFAULT_TIMEOUT)
        while args.count is None or seen < args.count:
            f = await conn.read_frame(left())
            if f is None:
                if args.count is None:
                    return 0
                print(f"client: broker closed the connection after {seen} of {args.count}",
                      file=sys.stderr)
                return 1
            print(_show(f, args.format), flush=True)
            seen += 1
        return 0
    except asyncio.TimeoutError:
        print(f"client: timed out after {args.timeout:g}s with {seen} payloads", file=sys.stderr)
        return 1
    finally:
        await conn.close()


async def cmd_pub(args: argparse.Namespace) -> int:
    try:
        conn = await Connection.open(args.host, args.port, args.timeout)
    except (asyncio.TimeoutError, OSError) as e:
        print(f"client: cannot connect to {args.host}:{args.port}: {e or 'timed out'}",
              file=sys.stderr)
        return 1
    try:
        conn.subscribe(f"/private/pub-{os.getpid()}-{time.monotonic_ns()}")
        for m in args.messages:
            conn.publish(args.channel, m)
        conn.end()
        await conn.drain(args.timeout)
        # Half-close, then give the broker a moment to close its side (it does after the empty
        # channel frame); our data is delivered either way, as we have nothing unread.
        if conn.writer.can_write_eof():
            conn.writer.write_eof()
        await conn.wait_closed_by_peer(min(args.timeout, 2.0))
        return 0
    except (asyncio.TimeoutError, ConnectionError, OSError) as e:
        print(f"client: publish failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        await conn.close()


async def cmd_interop(args: argparse.Namespace) -> int:
    ok, summary = await interop(args.host, args.port, args.messages, args.timeout)
    print(summary, flush=True)
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="SPEC §6 fan-out client")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    sp = p.add_subparsers(dest="cmd", required=True)
    s = sp.add_parser("sub", help="subscribe and print payloads")
    s.add_argument("channel")
    s.add_argument("--count", type=int, default=None, metavar="N")
    s.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds in all (default 30; 0: no limit)")
    s.add_argument("--format", choices=("text", "hex", "stamp"), default="text")
    s = sp.add_parser("pub", help="publish messages")
    s.add_argument("channel")
    s.add_argument("messages", nargs="+", metavar="MESSAGE")
    s.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S")
    s = sp.add_parser("interop", help="check a broker against the protocol")
    s.add_argument("--messages", type=int, default=50, metavar="N")
    s.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help="limit for each phase (default 5)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = {"sub": cmd_sub, "pub": cmd_pub, "interop": cmd_interop}[args.cmd]
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
