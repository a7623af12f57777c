// Helpers shared by the two Node.js workloads (../WORKLOAD.md).
"use strict";

// canonical is an error message without its leading code word.
exports.canonical = (err) => String(err.message).replace(/^[A-Z]+ /, "");

// tally formats a pipeline's replies by kind; replies are [err, value] pairs.
exports.tally = (pairs) => {
  const t = { ok: 0, ints: 0, sum: 0, strings: 0, bytes: 0, nils: 0, errors: 0 };
  for (const [err, v] of pairs) {
    if (err) t.errors++;
    else if (v === null || v === undefined) t.nils++;
    else if (typeof v === "number") {
      t.ints++;
      t.sum += v;
    } else if (v === "OK") t.ok++;
    else {
      t.strings++;
      t.bytes += Buffer.byteLength(String(v));
    }
  }
  return `pipeline n=${pairs.length} ok=${t.ok} ints=${t.ints} sum=${t.sum} strings=${t.strings} bytes=${t.bytes} nils=${t.nils} errors=${t.errors}`;
};

// pipelineSpec calls add(name, ...args) for the 1,000 commands of step 6.
exports.pipelineSpec = (add) => {
  for (let i = 0; i < 1000; i++) {
    switch (i % 8) {
      case 0: case 4: add("set", `pl:${i}`, `v${i}`); break;
      case 1: case 5: add("incr", "pl:ctr"); break;
      case 2: case 6: add("get", `pl:${i - 2}`); break;
      case 3: add("rpush", "pl:list", String(i)); break;
      default: add("get", `pl:none:${i}`);
    }
  }
};

exports.keys = Array.from({ length: 50 }, (_, i) => `mk:${String(i).padStart(2, "0")}`);
exports.value = (i) => `mv${String(i).padStart(2, "0")}`;

// waitLine resolves with the next line on stdin (the test's go-ahead).
exports.waitLine = () =>
  new Promise((resolve) => {
    process.stdin.once("data", (d) => {
      process.stdin.pause();
      resolve(String(d));
    });
  });

// retry calls fn until it resolves, up to 100 times 100 ms apart.
exports.retry = async (fn) => {
  let last;
  for (let i = 0; i < 100; i++) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
};

exports.redisVersion = (info) => {
  const m = /^redis_version:(.*)$/m.exec(info);
  return m ? m[1].trim() : "";
};

exports.out = (line) => process.stdout.write(line + "\n");

exports.main = (fn) =>
  fn().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
