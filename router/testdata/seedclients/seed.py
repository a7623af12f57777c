# The seed article's redis-py example, then MULTI/EXEC on {user:1000} keys,
# WATCH and BLPOP. Usage: python3 seed.py HOST PORT OTHERKEY (a key on
# another shard than {user:1000})
import sys

import redis

r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]))
pipe = r.pipeline(transaction=False)
for i in range(1000):
    pipe.set(f"key:{i}", f"value:{i}")
results = pipe.execute()
print("pipeline", len(results), all(results))

tx = r.pipeline(transaction=True)
tx.delete("{user:1000}:profile", "{user:1000}:visits")
tx.hset("{user:1000}:profile", mapping={"name": "Ada", "plan": "pro"})
tx.incr("{user:1000}:visits")
tx.hget("{user:1000}:profile", "name")
print("multi", tx.execute())

def add_ten(p):
    v = int(p.get("{user:1000}:visits"))
    p.multi()
    p.set("{user:1000}:visits", v + 10)

print("watch", r.transaction(add_ten, "{user:1000}:visits"), r.get("{user:1000}:visits"))

try:
    bad = r.pipeline(transaction=True)
    bad.set("{user:1000}:x", "1")
    bad.set(sys.argv[3], "1")
    bad.execute()
except redis.exceptions.ResponseError as e:
    print("crossslot", str(e).split(";")[0].split(":")[0])
print("after", r.exists("{user:1000}:x"))

r.rpush("{q}jobs", "job1")
print("blpop", r.blpop(["{q}jobs"], timeout=1))
print("blpop-timeout", r.blpop(["{q}empty"], timeout=0.2))
