# redis-py pub/sub through the proxy (run by TestPubsubRedisPy).
# argv: host port owners.json, where owners.json maps each channel to the
# "host:port" of the shard the proxy places it on. Subscribes to every
# channel on one connection and to a pattern on another, publishes ROUNDS
# messages per channel, alternating through the proxy and directly on the
# owning shard, and checks that each arrives exactly once, in publish order
# per channel, and that the pattern subscriber gets each matching one once.
# Prints a summary; any failure raises (non-zero exit).
import json
import sys
import time

import redis

host, port, owners_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(owners_path) as f:
    owners = json.load(f)
chans = sorted(owners)
ROUNDS = 4
PATTERN = "py:1*"

proxy = redis.Redis(host=host, port=port)
shards = {}
for addr in set(owners.values()):
    h, p = addr.rsplit(":", 1)
    shards[addr] = redis.Redis(host=h, port=int(p))


def wait_subscribed(ps, n):
    got = 0
    deadline = time.time() + 10
    while got < n:
        m = ps.get_message(timeout=1.0)
        if m is None:
            assert time.time() < deadline, f"{got} of {n} subscribe confirmations"
            continue
        assert m["type"] in ("subscribe", "psubscribe"), m
        got += 1
    return got


sub = proxy.pubsub()
sub.subscribe(*chans)
wait_subscribed(sub, len(chans))
psub = proxy.pubsub()
psub.psubscribe(PATTERN)
wait_subscribed(psub, 1)

matching = [c for c in chans if c.startswith(PATTERN[:-1])]
for k in range(ROUNDS):
    if k % 2 == 0:
        pipe = proxy.pipeline(transaction=False)
        for c in chans:
            pipe.publish(c, f"{k}")
        for c, n in zip(chans, pipe.execute()):
            want = 2 if c in matching else 1
            assert n == want, f"PUBLISH {c} via proxy reached {n}, want {want}"
    else:
        for c in chans:
            n = shards[owners[c]].publish(c, f"{k}")
            want = 2 if c in matching else 1
            assert n == want, f"PUBLISH {c} on its shard reached {n}, want {want}"


def drain(ps, n, kind):
    seen = {}
    got = 0
    while got < n:
        m = ps.get_message(timeout=5.0)
        assert m is not None, f"{kind}: {got} of {n} messages, then nothing"
        assert m["type"] == kind, m
        ch = m["channel"].decode()
        want = seen.get(ch, 0)
        assert m["data"] == str(want).encode(), f"{ch}: got {m['data']!r}, want {want} (order)"
        if kind == "pmessage":
            assert m["pattern"] == PATTERN.encode(), m
        seen[ch] = want + 1
        got += 1
    extra = ps.get_message(timeout=0.3)
    assert extra is None, f"{kind}: extra {extra}"
    return seen


seen = drain(sub, len(chans) * ROUNDS, "message")
assert set(seen) == set(chans) and set(seen.values()) == {ROUNDS}, seen
pseen = drain(psub, len(matching) * ROUNDS, "pmessage")
assert set(pseen) == set(matching) and set(pseen.values()) == {ROUNDS}, pseen
print(f"channels {len(chans)} messages {sum(seen.values())} once in order")
print(f"pattern {PATTERN} matching {len(matching)} messages {sum(pseen.values())} once in order")
sub.unsubscribe()
psub.punsubscribe()
n = 0
deadline = time.time() + 10
while n < len(chans) + 1:
    m = sub.get_message(timeout=1.0) or psub.get_message(timeout=0.1)
    assert time.time() < deadline, f"{n} unsubscribe replies"
    if m is not None:
        assert m["type"] in ("unsubscribe", "punsubscribe"), m
        n += 1
print("unsubscribed", n)
