// The compatibility workload (../WORKLOAD.md) written with node-redis.
// Usage: node node-redis.js HOST PORT
"use strict";
const { createClient, WatchError } = require("redis");
const w = require("./common");

w.main(async () => {
  const [host, port] = process.argv.slice(2);
  const r = createClient({ socket: { host, port: Number(port), reconnectStrategy: 100 } });
  // node-redis emits connection errors (for example while the proxy
  // restarts) as events; without a listener Node.js would exit.
  r.on("error", () => {});
  await r.connect();
  const out = w.out;

  out(`ping ${await r.ping()}`);
  out(`info redis_version=${w.redisVersion(await r.info("server"))}`);
  out(`command count=${await r.sendCommand(["COMMAND", "COUNT"])}`);
  out(`flushdb ${await r.flushDb()}`);

  await r.set("sg:k", "v1");
  out(`set-get ${await r.get("sg:k")}`);

  const m = r.multi();
  w.pipelineSpec((name, ...args) => m[name.toUpperCase()](...args));
  out(w.tally((await m.execAsPipeline()).map((v) => [null, v])));

  out(`mset ${await r.mSet(w.keys.map((k, i) => [k, w.value(i)]))}`);
  const vals = await r.mGet([...w.keys, "mk:missing"]);
  out(`mget n=${vals.length} nils=${vals.filter((v) => v === null).length} values=${vals.filter((v) => v !== null).join(",")}`);

  await r.set("{user1}:a", "1");
  await r.set("{user1}:b", "2");
  const ok = await r.rename("{user1}:a", "{user1}:c");
  const [b, c] = await r.mGet(["{user1}:b", "{user1}:c"]);
  out(`hashtag rename=${ok} mget=${b},${c}`);

  const e1 = await r.eval("redis.call('SET',KEYS[1],ARGV[1]) return redis.call('GET',KEYS[1])", { keys: ["ev:k"], arguments: ["hello"] });
  const e2 = await r.eval("return {KEYS[1],KEYS[2],ARGV[1]}", { keys: ["{ev}a", "{ev}b"], arguments: ["x"] });
  out(`eval ${e1} ${e2.join(",")}`);

  // Commands issued in one tick are pipelined automatically.
  await Promise.all(Array.from({ length: 300 }, (_, i) => r.set(`scan:${String(i).padStart(3, "0")}`, "x")));
  const seen = new Set();
  for await (const batch of r.scanIterator({ MATCH: "scan:*", COUNT: 50 })) {
    // node-redis 5 yields a batch per SCAN reply, 4 yields single keys.
    for (const k of [].concat(batch)) seen.add(k);
  }
  const sorted = [...seen].sort();
  out(`scan keys=${sorted.length} first=${sorted[0]} last=${sorted[sorted.length - 1]}`);

  // An automatic pipeline; each command settles on its own.
  const settled = await Promise.allSettled([r.set("pe:k", "v"), r.incr("pe:k"), r.lPush("pe:k", "x"), r.get("pe:k")]);
  const parts = settled.map((s) => (s.status === "rejected" ? w.canonical(s.reason) : String(s.value)));
  out(`pipeline-error ${parts.join("|")}`);

  out(`del ${await r.del(w.keys)}`);

  // A second connection, for the concurrent writer, the pusher and the
  // publisher.
  const r2 = r.duplicate();
  r2.on("error", () => {});
  await r2.connect();
  const user = "{user:1000}";
  const tx = await r
    .multi()
    .hSet(`${user}:profile`, "name", "Ada")
    .incr(`${user}:visits`)
    .hGet(`${user}:profile`, "name")
    .exec();
  out(`multi-exec ${tx.join(",")}`);

  await r.watch(`${user}:visits`);
  await r2.incr(`${user}:visits`);
  let res = "applied";
  try {
    await r.multi().set(`${user}:visits`, "100").exec();
  } catch (e) {
    if (!(e instanceof WatchError)) throw e;
    res = "aborted";
  }
  out(`watch ${res} visits=${await r.get(`${user}:visits`)}`);

  const pushed = new Promise((resolve, reject) =>
    setTimeout(() => r2.lPush("bl:q", "job").then(resolve, reject), 200),
  );
  const woken = await r.blPop("bl:q", 5);
  await pushed;
  const start = Date.now();
  const none = await r.blPop("bl:none", 1);
  const waited = Date.now() - start >= 900 ? "1s" : "short";
  out(`blpop woken=${woken.key},${woken.element} timeout=${none === null ? "nil" : none} waited=${waited}`);

  const sub = r2.duplicate();
  sub.on("error", () => {});
  await sub.connect();
  let deliver;
  const got = new Promise((resolve) => (deliver = resolve));
  await sub.subscribe("ps:news", (msg, ch) => deliver([ch, msg]));
  const receivers = await r.publish("ps:news", "hello");
  const [ch, msg] = await got;
  out(`pubsub receivers=${receivers} message=${ch},${msg}`);
  await sub.quit().catch(() => {});
  await r2.quit().catch(() => {});

  out("restart");
  await w.waitLine();
  const pong = await w.retry(() => r.ping());
  await r.set("rs:k", "v2");
  out(`reconnect ${pong} ${await r.get("rs:k")}`);
  out("done");
  await r.quit().catch(() => {});
});
