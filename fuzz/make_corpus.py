#!/usr/bin/env python3
"""Writes the seed corpora, fuzz/corpus/frame/ and fuzz/corpus/resp/, from the inputs the tests
use: the frames of tests/test_fanout_broker.cpp and tests/test_peers.py, and the replies
redis-server sends for SUBSCRIBE and PUBLISH. Run it again after changing an input's layout
(fuzz/frame_fuzzer.cpp and fuzz/resp_fuzzer.cpp describe theirs); the regression inputs, files
named crash-*, are kept as they are.
"""
import pathlib
import struct

HERE = pathlib.Path(__file__).parent


def frame(payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return struct.pack(">I", len(payload)) + payload


def stamp(publisher, seq, size=64):
    s = struct.pack("<IQqq", publisher, seq, 1000 * seq, 1000 * seq + 7)
    return s + b"." * (size - len(s))


def publish(channel, data):
    return frame(channel) + frame(data)


# The frame target's settings (frame_fuzzer.cpp): mode byte, max_frame, split plan, big frame.
def frame_input(stream, max_frame=None, plan=b"", drain_each=True, big=None):
    if max_frame is None:
        head = bytes([2])  # the default 1 MiB
    elif max_frame < 256:
        head = bytes([0, max_frame])
    else:
        head = bytes([1]) + struct.pack(">I", max_frame)
    head = bytes([head[0] | (0 if drain_each else 4) | (8 if big else 0)]) + head[1:]
    head += bytes([len(plan)]) + plan
    if big:
        head += bytes(big)  # size byte, after how many frames
    return head + stream


FRAME_SEEDS = {
    "subscribe_only": frame_input(frame("/null")),
    "topic_session": frame_input(frame("/null") + publish("/topic/news", stamp(0, 0)) +
                                 publish("/topic/news", stamp(1, 0)) + publish("/topic/other", "only this") + frame(""),
                                 plan=b"\x00\x03\x10"),
    "queue_session": frame_input(frame("/null") + b"".join(publish("/queue/jobs", stamp(0, i, 16)) for i in range(4)),
                                 plan=b"\x05"),
    "end_then_junk": frame_input(frame("/null") + publish("/topic/ok", "x") + frame("") + b"\xde\xad\xbe\xef"),
    "empty_subscription": frame_input(frame("") + publish("/topic/a", "b")),
    "data_too_long": frame_input(frame("/null") + publish("/topic/t", "y" * 1025), max_frame=1024, plan=b"\x40"),
    "channel_too_long": frame_input(frame("/" * 1025), max_frame=1024, drain_each=False),
    "exactly_max": frame_input(frame("/null") + publish("/topic/t", "z" * 200), max_frame=200),
    "length_over_max_no_body": frame_input(struct.pack(">I", (1 << 20) + 1) + b"x" * 100),
    "all_ones_length": frame_input(b"\xff\xff\xff\xff", max_frame=0xFFFFFFFF),
    "half_channel": frame_input(frame("/topic/ok")[:6]),
    "half_data": frame_input(frame("/null") + frame("/topic/ok") + frame("z" * 100)[:10], plan=b"\x01"),
    "cut_pair": frame_input(frame("/null") + frame("/topic/g") + struct.pack(">I", 100) + b"only part"),
    "garbage": frame_input(b"\xde\xad\xbe\xef garbage \x00\xff" * 10, plan=b"\x02\x07"),
    "subscribe_then_garbage": frame_input(frame("/null") + b"\x00\x00\x00\x03abc\x00\x00\x01", max_frame=16),
    "non_utf8_channel": frame_input(frame(b"\xff\xfe/topic") + publish(b"/topic/\xc3\x28", b"\x00\x01")),
    "max_frame_zero": frame_input(frame("") + frame("") + frame("x"), max_frame=0),
    "big_pair_grows_buffer": frame_input(frame("/null") + frame("/topic/big") + frame("after") + frame(""),
                                         big=(128, 2), plan=b"\x00\x07"),
    "big_channel": frame_input(frame("/null") + publish("/topic/x", "y"), big=(200, 1)),
    "big_too_long": frame_input(frame("/null") + frame("/topic/big"), max_frame=65536, big=(255, 2)),
}

# The resp target's settings (resp_fuzzer.cpp): split plan, then the bytes.
def resp_input(data, plan=b""):
    return bytes([len(plan)]) + plan + data


def bulk(s):
    s = s.encode() if isinstance(s, str) else s
    return b"$%d\r\n%s\r\n" % (len(s), s)


def array(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


RESP_SEEDS = {
    "subscribe_reply": resp_input(b"*3\r\n$9\r\nsubscribe\r\n$11\r\n/topic/load\r\n:1\r\n"),
    "subscribe_reply_length_one_short": resp_input(b"*3\r\n$9\r\nsubscribe\r\n$10\r\n/topic/load\r\n:1\r\n"),
    "message": resp_input(array(bulk("message"), bulk("/topic/load"), bulk(stamp(3, 9))), plan=b"\x04\x11"),
    "messages_back_to_back": resp_input(b"".join(array(bulk("message"), bulk("/topic/load"), bulk(stamp(0, i, 32)))
                                                 for i in range(3)), plan=b"\x00"),
    "publish_count": resp_input(b":1\r\n:0\r\n:12345\r\n"),
    "error": resp_input(b"-ERR unknown command 'FOO', with args beginning with: \r\n"),
    "wrongtype": resp_input(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    "simple_ok": resp_input(b"+OK\r\n+PONG\r\n"),
    "null_bulk_and_array": resp_input(b"$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n"),
    "psubscribe": resp_input(array(bulk("pmessage"), bulk("/topic/*"), bulk("/topic/load"), bulk("hi"))),
    "empty_lines": resp_input(b"\r\n\r\n*2\r\n\r\n:1\r\n"),
    "incomplete_bulk": resp_input(b"*3\r\n$7\r\nmessage\r\n$11\r\n/topic/load\r\n$64\r\nonly part"),
    "huge_bulk_length": resp_input(b"$9223372036854775807\r\nabc\r\n"),
    "huge_array_count": resp_input(b"*9223372036854775807\r\n:1\r\n:2\r\n"),
    "negative_lengths": resp_input(b"$-5\r\n*-3\r\n$-9223372036854775808\r\n"),
    "reply_then_empty_line": resp_input(b"\x02\n\x01;*\x00\r\n\r\n\x19\x00\x00"),  # items past n are stale
    "frames_not_resp": resp_input(frame("/topic/load") + frame(stamp(1, 2)) + frame("x")[:3]),
}


def write(folder, seeds):
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if not old.name.startswith("crash-"):
            old.unlink()
    for name, data in seeds.items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    write(HERE / "corpus" / "frame", FRAME_SEEDS)
    write(HERE / "corpus" / "resp", RESP_SEEDS)
    print(f"wrote {len(FRAME_SEEDS)} frame and {len(RESP_SEEDS)} resp seeds under {HERE / 'corpus'}")
