// The seed article's ioredis example, then multi() on {user:1000} keys,
// WATCH and BLPOP. Usage: node seed.js HOST PORT OTHERKEY (a key on
// another shard than {user:1000})
"use strict";
const Redis = require("ioredis");

(async () => {
  const [host, port, otherKey] = process.argv.slice(2);
  const redis = new Redis({ host, port: Number(port) });
  const pipeline = redis.pipeline();
  pipeline.set("key1", "val1");
  pipeline.set("key2", "val2");
  pipeline.get("key1");
  console.log("pipeline", JSON.stringify(await pipeline.exec()));

  await redis.del("{user:1000}:profile", "{user:1000}:visits");
  const res = await redis
    .multi()
    .hset("{user:1000}:profile", "name", "Ada")
    .incr("{user:1000}:visits")
    .hget("{user:1000}:profile", "name")
    .exec();
  console.log("multi", JSON.stringify(res));

  await redis.watch("{user:1000}:visits");
  const other = new Redis({ host, port: Number(port) });
  await other.set("{user:1000}:visits", "100");
  const watched = await redis.multi().incr("{user:1000}:visits").exec();
  console.log("watch", JSON.stringify(watched), await redis.get("{user:1000}:visits"));

  try {
    await redis.multi().set("{user:1000}:x", "1").set(otherKey, "1").exec();
    console.log("crossslot none");
  } catch (e) {
    console.log("crossslot", e.message.split(".")[0]);
  }

  const blocked = other.blpop("{q}jobs", 0);
  await new Promise((r) => setTimeout(r, 100));
  await redis.rpush("{q}jobs", "job1");
  console.log("blpop", JSON.stringify(await blocked));
  redis.disconnect();
  other.disconnect();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
