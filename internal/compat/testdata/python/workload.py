"""The compatibility workload (../WORKLOAD.md) written with redis-py.

Usage: /usr/bin/python3 workload.py HOST PORT
"""

import re
import sys
import threading
import time

import redis


def canonical(err):
    # redis-py already strips ERR/WRONGTYPE; strip any code word it keeps.
    return re.sub(r"^[A-Z]+ ", "", str(err))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    r = redis.Redis(host=host, port=port, decode_responses=True)
    out = lambda line: print(line, flush=True)

    out("ping %s" % ("PONG" if r.ping() else "?"))
    out("info redis_version=%s" % r.info("server").get("redis_version", ""))
    out("command count=%d" % int(r.execute_command("COMMAND COUNT")))
    out("flushdb %s" % ("OK" if r.flushdb() else "?"))

    r.set("sg:k", "v1")
    out("set-get %s" % r.get("sg:k"))

    p = r.pipeline(transaction=False)
    kinds = []
    for i in range(1000):
        m = i % 8
        if m in (0, 4):
            p.set("pl:%d" % i, "v%d" % i)
            kinds.append("status")
        elif m in (1, 5):
            p.incr("pl:ctr")
            kinds.append("int")
        elif m in (2, 6):
            p.get("pl:%d" % (i - 2))
            kinds.append("bulk")
        elif m == 3:
            p.rpush("pl:list", i)
            kinds.append("int")
        else:
            p.get("pl:none:%d" % i)
            kinds.append("bulk")
    replies = p.execute(raise_on_error=False)
    t = dict(ok=0, ints=0, sum=0, strings=0, bytes=0, nils=0, errors=0)
    for kind, rep in zip(kinds, replies):
        if isinstance(rep, Exception):
            t["errors"] += 1
        elif rep is None:
            t["nils"] += 1
        elif kind == "status":
            # redis-py turns SET's +OK into True.
            t["ok"] += 1 if rep is True else 0
        elif isinstance(rep, int):
            t["ints"] += 1
            t["sum"] += rep
        else:
            t["strings"] += 1
            t["bytes"] += len(rep)
    out("pipeline n=%d ok=%d ints=%d sum=%d strings=%d bytes=%d nils=%d errors=%d" % (
        len(replies), t["ok"], t["ints"], t["sum"], t["strings"], t["bytes"], t["nils"], t["errors"]))

    keys = ["mk:%02d" % i for i in range(50)]
    out("mset %s" % ("OK" if r.mset({k: "mv%02d" % i for i, k in enumerate(keys)}) else "?"))
    vals = r.mget(keys + ["mk:missing"])
    out("mget n=%d nils=%d values=%s" % (
        len(vals), sum(v is None for v in vals), ",".join(v for v in vals if v is not None)))

    r.set("{user1}:a", "1")
    r.set("{user1}:b", "2")
    ok = r.rename("{user1}:a", "{user1}:c")
    b, c = r.mget("{user1}:b", "{user1}:c")
    out("hashtag rename=%s mget=%s,%s" % ("OK" if ok else "?", b, c))

    e1 = r.eval("redis.call('SET',KEYS[1],ARGV[1]) return redis.call('GET',KEYS[1])", 1, "ev:k", "hello")
    e2 = r.eval("return {KEYS[1],KEYS[2],ARGV[1]}", 2, "{ev}a", "{ev}b", "x")
    out("eval %s %s" % (e1, ",".join(e2)))

    p = r.pipeline(transaction=False)
    for i in range(300):
        p.set("scan:%03d" % i, "x")
    p.execute()
    seen = sorted(set(r.scan_iter(match="scan:*", count=50)))
    out("scan keys=%d first=%s last=%s" % (len(seen), seen[0], seen[-1]))

    p = r.pipeline(transaction=False)
    p.set("pe:k", "v")
    p.incr("pe:k")
    p.lpush("pe:k", "x")
    p.get("pe:k")
    parts = []
    for rep in p.execute(raise_on_error=False):
        if isinstance(rep, Exception):
            parts.append(canonical(rep))
        elif rep is True:
            parts.append("OK")
        else:
            parts.append(str(rep))
    out("pipeline-error %s" % "|".join(parts))

    out("del %d" % r.delete(*keys))

    # A second connection, for the concurrent writer, the pusher and the
    # publisher.
    r2 = redis.Redis(host=host, port=port, decode_responses=True)
    user = "{user:1000}"
    p = r.pipeline(transaction=True)
    p.hset(user + ":profile", "name", "Ada")
    p.incr(user + ":visits")
    p.hget(user + ":profile", "name")
    a, b, c = p.execute()
    out("multi-exec %s,%s,%s" % (a, b, c))

    result = "applied"
    with r.pipeline() as p:
        p.watch(user + ":visits")
        r2.incr(user + ":visits")
        p.multi()
        p.set(user + ":visits", "100")
        try:
            p.execute()
        except redis.WatchError:
            result = "aborted"
    out("watch %s visits=%s" % (result, r.get(user + ":visits")))

    pusher = threading.Thread(target=lambda: (time.sleep(0.2), r2.lpush("bl:q", "job")))
    pusher.start()
    woken = r.blpop("bl:q", timeout=5)
    pusher.join()
    start = time.monotonic()
    none = r.blpop("bl:none", timeout=1)
    waited = "1s" if time.monotonic() - start >= 0.9 else "short"
    out("blpop woken=%s timeout=%s waited=%s" % (
        ",".join(woken), "nil" if none is None else none, waited))

    ps = r2.pubsub()
    ps.subscribe("ps:news")
    ps.get_message(timeout=5)  # the subscription's confirmation
    receivers = r.publish("ps:news", "hello")
    msg = ps.get_message(timeout=5)
    ps.close()
    out("pubsub receivers=%d message=%s,%s" % (receivers, msg["channel"], msg["data"]))

    out("restart")
    sys.stdin.readline()
    pong, last = None, None
    for _ in range(100):
        try:
            pong = r.ping()
            break
        except redis.ConnectionError as e:
            last = e
            time.sleep(0.1)
    if pong is None:
        raise SystemExit("no reconnect: %s" % last)
    r.set("rs:k", "v2")
    out("reconnect PONG %s" % r.get("rs:k"))
    out("done")


if __name__ == "__main__":
    main()
