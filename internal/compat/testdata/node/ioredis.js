// The compatibility workload (../WORKLOAD.md) written with ioredis.
// Usage: node ioredis.js HOST PORT
"use strict";
const Redis = require("ioredis");
const w = require("./common");

w.main(async () => {
  const [host, port] = process.argv.slice(2);
  // ioredis's defaults: ready check (INFO) at connect, offline queue and
  // automatic reconnection.
  const r = new Redis({ host, port: Number(port) });
  const out = w.out;

  out(`ping ${await r.ping()}`);
  out(`info redis_version=${w.redisVersion(await r.info("server"))}`);
  out(`command count=${await r.call("COMMAND", "COUNT")}`);
  out(`flushdb ${await r.flushdb()}`);

  await r.set("sg:k", "v1");
  out(`set-get ${await r.get("sg:k")}`);

  const p = r.pipeline();
  w.pipelineSpec((name, ...args) => p[name](...args));
  out(w.tally(await p.exec()));

  out(`mset ${await r.mset(...w.keys.flatMap((k, i) => [k, w.value(i)]))}`);
  const vals = await r.mget(...w.keys, "mk:missing");
  out(`mget n=${vals.length} nils=${vals.filter((v) => v === null).length} values=${vals.filter((v) => v !== null).join(",")}`);

  await r.set("{user1}:a", "1");
  await r.set("{user1}:b", "2");
  const ok = await r.rename("{user1}:a", "{user1}:c");
  const [b, c] = await r.mget("{user1}:b", "{user1}:c");
  out(`hashtag rename=${ok} mget=${b},${c}`);

  const e1 = await r.eval("redis.call('SET',KEYS[1],ARGV[1]) return redis.call('GET',KEYS[1])", 1, "ev:k", "hello");
  const e2 = await r.eval("return {KEYS[1],KEYS[2],ARGV[1]}", 2, "{ev}a", "{ev}b", "x");
  out(`eval ${e1} ${e2.join(",")}`);

  const sp = r.pipeline();
  for (let i = 0; i < 300; i++) sp.set(`scan:${String(i).padStart(3, "0")}`, "x");
  await sp.exec();
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const s = r.scanStream({ match: "scan:*", count: 50 });
    s.on("data", (ks) => ks.forEach((k) => seen.add(k)));
    s.on("end", resolve);
    s.on("error", reject);
  });
  const sorted = [...seen].sort();
  out(`scan keys=${sorted.length} first=${sorted[0]} last=${sorted[sorted.length - 1]}`);

  const ep = r.pipeline().set("pe:k", "v").incr("pe:k").lpush("pe:k", "x").get("pe:k");
  const parts = (await ep.exec()).map(([err, v]) => (err ? w.canonical(err) : String(v)));
  out(`pipeline-error ${parts.join("|")}`);

  out(`del ${await r.del(...w.keys)}`);

  // A second connection, for the concurrent writer, the pusher and the
  // publisher.
  const r2 = new Redis({ host, port: Number(port) });
  const user = "{user:1000}";
  const tx = await r
    .multi()
    .hset(`${user}:profile`, "name", "Ada")
    .incr(`${user}:visits`)
    .hget(`${user}:profile`, "name")
    .exec();
  out(`multi-exec ${tx.map(([, v]) => v).join(",")}`);

  await r.watch(`${user}:visits`);
  await r2.incr(`${user}:visits`);
  const res = await r.multi().set(`${user}:visits`, "100").exec();
  out(`watch ${res === null ? "aborted" : "applied"} visits=${await r.get(`${user}:visits`)}`);

  const pushed = new Promise((resolve, reject) =>
    setTimeout(() => r2.lpush("bl:q", "job").then(resolve, reject), 200),
  );
  const woken = await r.blpop("bl:q", 5);
  await pushed;
  const start = Date.now();
  const none = await r.blpop("bl:none", 1);
  const waited = Date.now() - start >= 900 ? "1s" : "short";
  out(`blpop woken=${woken.join(",")} timeout=${none === null ? "nil" : none} waited=${waited}`);

  const sub = r2.duplicate();
  const got = new Promise((resolve) => sub.on("message", (ch, msg) => resolve([ch, msg])));
  await sub.subscribe("ps:news");
  const receivers = await r.publish("ps:news", "hello");
  const [ch, msg] = await got;
  out(`pubsub receivers=${receivers} message=${ch},${msg}`);
  sub.disconnect();
  r2.disconnect();

  out("restart");
  await w.waitLine();
  const pong = await w.retry(() => r.ping());
  await r.set("rs:k", "v2");
  out(`reconnect ${pong} ${await r.get("rs:k")}`);
  out("done");
  r.disconnect();
});
