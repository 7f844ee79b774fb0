#!/usr/bin/env python3
"""The fan-out broker of SPEC §6 in Python asyncio: the book's `mq_server_plus` done properly.

Usage:
    /usr/bin/python3 peers/asyncio_broker.py [--host 127.0.0.1] [--port 0]
        [--max-frame BYTES] [--queue-depth N] [--slow-policy drop|disconnect]
        [--flush-timeout S] [--uvloop] [--max-rate MSGS_PER_S]

Wire protocol (byte-compatible with the book and with `tvl broker`):
  frame = 4-byte unsigned big-endian length, then that many bytes;
  a client's first frame names the channel it subscribes to; every later send is two frames,
  destination channel then data; an empty channel frame ends the client's sends (its
  subscription ends, what is queued for it is written, the connection closes);
  a channel starting with "/queue" delivers each message to one subscriber, round-robin;
  any other channel delivers to every subscriber;
  a length above --max-frame closes that connection and counts a protocol error.

Design (what the book's version lacks):
  - every subscriber has a *bounded* asyncio.Queue (--queue-depth) and one writer task; a full
    queue follows --slow-policy (drop the message, or disconnect the subscriber), always counted;
  - the publisher's reader never waits for a subscriber: it encodes each message frame once and
    puts the same bytes object on every target queue;
  - the writer takes everything its queue holds, writes it in one go, then awaits drain()
    (coalescing: one drain per batch, not per message);
  - nothing is printed per message.

Stdout carries exactly two lines: `listening on HOST:PORT` once bound, and at shutdown (SIGINT or
SIGTERM) `tvl-broker-stats {json}` with the counters below. Shutdown stops accepting, stops
reading, lets the writers flush for at most --flush-timeout seconds, closes everything; messages
still queued then are counted as `unflushed`.

--max-rate caps the messages accepted from publishers per second (all publishers together): a
broker with a known capacity, which the tests of `tvl capacity` must find. Readers that get
ahead of the cap sleep, so the excess waits in the publishers' sockets as with a slow broker. Exit status 0; 2 for a usage error (including
--uvloop when uvloop is not importable).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import struct
import sys

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 1 << 20
STAT_KEYS = ("accepted", "closed", "subscribers", "messages_in", "deliveries", "dropped",
             "slow_disconnects", "protocol_errors", "unflushed", "bytes_in", "bytes_out")


class FrameTooLong(Exception):
    """A frame's length prefix is above the broker's maximum."""


class Stats:
    __slots__ = STAT_KEYS

    def __init__(self) -> None:
        for k in STAT_KEYS:
            setattr(self, k, 0)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in STAT_KEYS}


class Conn:
    """One client connection: its stream pair, its subscription, its send queue and writer."""

    __slots__ = ("reader", "writer", "channel", "queue", "writer_task", "ending", "closed")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.channel: bytes | None = None
        self.queue: asyncio.Queue | None = None
        self.writer_task: asyncio.Task | None = None
        self.ending = False   # no more messages will be queued: flush, then close
        self.closed = False


class Broker:
    def __init__(self, max_frame: int, queue_depth: int, slow_policy: str,
                 max_rate: float = 0.0) -> None:
        self.max_rate = max_rate               # messages in per second; 0: as fast as it can
        self.throttle_start: float | None = None
        self.throttle_count = 0
        self.max_frame = max_frame
        self.queue_depth = queue_depth
        self.disconnect_slow = slow_policy == "disconnect"
        self.stats = Stats()
        self.subs: dict[bytes, list[Conn]] = {}
        self.rr: dict[bytes, int] = {}          # next round-robin index per /queue channel
        self.conns: set[Conn] = set()
        self.handlers: set[asyncio.Task] = set()
        self.stopping = False

    # --- connection bookkeeping -------------------------------------------------------------

    def close(self, c: Conn, abort: bool = False) -> None:
        """Close a connection once, and count it."""
        if c.closed:
            return
        c.closed = True
        self.unsubscribe(c)
        self.conns.discard(c)
        self.stats.closed += 1
        transport = c.writer.transport
        if abort:
            transport.abort()
        else:
            transport.close()

    def unsubscribe(self, c: Conn) -> None:
        if c.channel is None:
            return
        lst = self.subs.get(c.channel)
        if lst is not None:
            try:
                lst.remove(c)
            except ValueError:
                pass
            if not lst:
                del self.subs[c.channel]
                self.rr.pop(c.channel, None)

    def end_sends(self, c: Conn) -> None:
        """The client is done sending (or gone): no new messages; flush its queue, then close."""
        self.unsubscribe(c)
        if c.writer_task is None:
            self.close(c)
            return
        c.ending = True
        if c.queue.empty():
            c.queue.put_nowait(None)   # wake a writer waiting on an empty queue

    # --- reading ----------------------------------------------------------------------------

    async def read_frame(self, reader: asyncio.StreamReader) -> bytes:
        n = HEADER.unpack(await reader.readexactly(4))[0]
        if n > self.max_frame:
            raise FrameTooLong(n)
        self.stats.bytes_in += 4 + n
        return await reader.readexactly(n) if n else b""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.stopping:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        self.handlers.add(task)
        c = Conn(reader, writer)
        self.conns.add(c)
        self.stats.accepted += 1
        try:
            channel = await self.read_frame(reader)
            c.channel = channel
            c.queue = asyncio.Queue(maxsize=self.queue_depth)
            self.subs.setdefault(channel, []).append(c)
            self.stats.subscribers += 1
            c.writer_task = asyncio.create_task(self.write_loop(c))
            read_frame = self.read_frame
            deliver = self.deliver
            while True:
                channel = await read_frame(reader)
                if not channel:
                    break
                data = await read_frame(reader)
                self.stats.messages_in += 1
                deliver(channel, data)
                if self.max_rate:
                    await self.throttle()
        except FrameTooLong:
            self.stats.protocol_errors += 1
            if c.writer_task is not None:
                c.writer_task.cancel()
            self.close(c, abort=True)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass   # the client went away (at a frame boundary or not): end its sends
        except asyncio.CancelledError:
            pass   # shutdown: stop reading; the writer flushes under the shutdown's time limit
        finally:
            self.handlers.discard(task)
            if not c.closed:
                self.end_sends(c)

    async def throttle(self) -> None:
        """--max-rate: a token bucket. Sleep while the messages taken in are ahead of the cap's
        schedule; an idle spell earns at most 10 ms of credit, so no burst follows a pause."""
        now = asyncio.get_running_loop().time()
        if self.throttle_start is None:
            self.throttle_start, self.throttle_count = now, 0
        self.throttle_count += 1
        ahead = self.throttle_count / self.max_rate - (now - self.throttle_start)
        if ahead < -0.01:
            self.throttle_start = now - self.throttle_count / self.max_rate - 0.01
        elif ahead > 0.001:
            await asyncio.sleep(ahead)

    # --- fan-out ----------------------------------------------------------------------------

    def deliver(self, channel: bytes, data: bytes) -> None:
        targets = self.subs.get(channel)
        if not targets:
            return
        frame = HEADER.pack(len(data)) + data   # encoded once, shared by every target queue
        if channel.startswith(b"/queue"):
            i = self.rr.get(channel, 0) % len(targets)
            self.rr[channel] = i + 1
            targets = (targets[i],)
        slow = None
        for c in targets:
            try:
                c.queue.put_nowait(frame)
            except asyncio.QueueFull:
                if self.disconnect_slow:
                    (slow := slow or []).append(c)
                else:
                    self.stats.dropped += 1
        if slow:
            for c in slow:
                self.stats.slow_disconnects += 1
                c.writer_task.cancel()
                self.close(c, abort=True)

    async def write_loop(self, c: Conn) -> None:
        q = c.queue
        writer = c.writer
        stats = self.stats
        try:
            while True:
                frame = await q.get()
                if frame is None:
                    break
                batch = [frame]
                while not q.empty():
                    f = q.get_nowait()
                    if f is not None:
                        batch.append(f)
                if writer.is_closing():
                    break
                writer.writelines(batch)
                stats.deliveries += len(batch)
                stats.bytes_out += sum(map(len, batch))
                await writer.drain()
                if c.ending and q.empty():
                    break
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return   # whoever cancelled closes the connection
        self.close(c)

    # --- shutdown ---------------------------------------------------------------------------

    async def shutdown(self, server: asyncio.base_events.Server, flush_timeout: float) -> None:
        self.stopping = True
        server.close()                        # stop accepting
        for t in list(self.handlers):         # stop reading: no new messages from here on
            t.cancel()
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=1.0)
        writers = [c.writer_task for c in self.conns if c.writer_task is not None]
        if writers:
            _, pending = await asyncio.wait(writers, timeout=max(flush_timeout, 0.0))
        else:
            pending = set()
        for c in list(self.conns):
            q = c.queue
            while q is not None and not q.empty():
                if q.get_nowait() is not None:   # the wake-up sentinel is not a message
                    self.stats.unflushed += 1
            if c.writer_task is not None:
                c.writer_task.cancel()
            self.close(c, abort=True)
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=1.0)
        except asyncio.TimeoutError:
            pass


def raise_fd_limit() -> None:
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


async def serve(args: argparse.Namespace) -> int:
    broker = Broker(args.max_frame, args.queue_depth, args.slow_policy, args.max_rate)
    server = await asyncio.start_server(broker.handle, args.host, args.port,
                                        limit=256 * 1024, backlog=4096)
    sock = server.sockets[0]
    host, port = sock.getsockname()[:2]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {host}:{port}", flush=True)
    await stop.wait()
    await broker.shutdown(server, args.flush_timeout)
    print("tvl-broker-stats " + json.dumps(broker.stats.as_dict(), separators=(",", ":")),
          flush=True)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="SPEC §6 fan-out broker (Python asyncio)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    p.add_argument("--max-frame", type=int, default=DEFAULT_MAX_FRAME, metavar="BYTES",
                   help="longest frame accepted (default 1 MiB); longer closes the connection")
    p.add_argument("--queue-depth", type=int, default=10_000, metavar="N",
                   help="messages one subscriber's send queue may hold (default 10000)")
    p.add_argument("--slow-policy", choices=("drop", "disconnect"), default="drop",
                   help="a full subscriber queue: drop the message, or disconnect (default drop)")
    p.add_argument("--flush-timeout", type=float, default=2.0, metavar="S",
                   help="on shutdown, how long queued messages may take to go out (default 2)")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (exit 2 if missing)")
    p.add_argument("--max-rate", type=float, default=0.0, metavar="MSGS_PER_S",
                   help="accept at most this many messages per second from publishers "
                        "(a broker with a known capacity, for tests; default 0: no cap)")
    args = p.parse_args(argv)
    if args.max_frame < 0 or args.max_frame > 0xFFFFFFFF:
        p.error("--max-frame must be in [0, 2^32-1]")
    if args.max_rate < 0:
        p.error("--max-rate must be 0 (no cap) or positive")
    if args.queue_depth < 1:
        p.error("--queue-depth must be at least 1")
    if not 0 <= args.port <= 65535:
        p.error("--port must be in [0, 65535]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.uvloop:
        try:
            import uvloop  # noqa: PLC0415
        except ImportError:
            print("asyncio_broker: --uvloop: uvloop is not importable by "
                  f"{sys.executable} (Debian: apt-get install python3-uvloop)", file=sys.stderr)
            return 2
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    raise_fd_limit()
    try:
        return asyncio.run(serve(args))
    except OSError as e:   # bind failed
        print(f"asyncio_broker: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
