#!/usr/bin/env python3
"""Regenerates the deliberate-bug patches of docs/regressions from exact
text replacements, so they can be refreshed when the code moves (run from
the repository root on a clean tree). A replacement that no longer matches
is reported; update its text here."""
import subprocess, sys

BUGS = [
    ("01-client-count-leak", "router/proxy.go",
     "\ts.close()\n\tp.stats.clients.Add(-1)\n",
     "\ts.close()\n"),
    ("02-bulk-limit-cut", "config/defaults.go",
     "DefaultProtoMaxBulkLen        = 512 << 20", "DefaultProtoMaxBulkLen        = 1 << 20"),
    ("03-reload-ignores-placement", "router/ring.go",
     "\tif t.hash != next.Hash || t.hashTag != next.HashTag || t.distribution != next.Distribution {\n\t\treturn true\n\t}\n", ""),
    ("04-reload-accepts-redis-auth", "router/reload.go",
     '\tadd("redis_auth", cur.RedisAuth != next.RedisAuth)\n', ""),
    ("05-split-partial-sum", "router/merge.go",
     "if r.Err != nil && it.op != opInfo {",
     "if r.Err != nil && it.op != opInfo && it.op != opSum {",
     "\t\tfor _, r := range reqs {\n\t\t\tn, good := ",
     "\t\tfor _, r := range reqs {\n\t\t\tif r.Err != nil {\n\t\t\t\tcontinue\n\t\t\t}\n\t\t\tn, good := "),
    ("06-clusterdown-text", "router/cluster.go",
     'const errSlotDown = "CLUSTERDOWN Hash slot not served"',
     'const errSlotDown = "ERR no node serves this hash slot"'),
    ("07-ask-updates-slot-map", "router/cluster.go",
     "\t\t\tsrv = c.node(addr)\n", "\t\t\tsrv = c.moved(slot, addr)\n"),
    ("08-protocol-error-not-replaced", "backend/server.go",
     "\t\t<-c.drained\n\t\tif s.ctx.Err() != nil {",
     "\t\t<-c.drained\n\t\tif s.ctx.Err() != nil || c.err.Kind == KindProtocol {"),
    ("09-sighup-not-caught", "cmd/proxy/main.go",
     "signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)",
     "signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)"),
    ("10-slot-ignores-hash-tag", "hashring/hashtag.go",
     'return CRC16(HashTag(key, "{}")) & (SlotCount - 1)',
     "return CRC16(key) & (SlotCount - 1)"),
    ("11-reply-reader-stops-after-header", "resp/read.go",
     "\t\t\tpending += n\n", "\t\t\t_ = n\n"),
    ("12-guard-boundary-off-by-one", "router/inscan.go",
     "\t\t\ti += int(n) - 1\n", "\t\t\ti += int(n)\n"),
    # A harness bug, not a proxy bug: the failover test's load never runs.
    ("13-failover-load-idle", "router/cluster_load_test.go",
     "\t\t\tlc.run(l)\n", "\t\t\t_ = lc // the load never runs\n"),
]

bad = 0
only = sys.argv[1:]
for name, path, *pairs in BUGS:
    if only and not any(o in name for o in only):
        continue
    src = open(path).read()
    out = src
    for old, new in zip(pairs[::2], pairs[1::2]):
        if out.count(old) != 1:
            print(f"{name}: {path}: text to replace found {out.count(old)} times: {old!r}")
            bad += 1
            break
        out = out.replace(old, new)
    else:
        open(path, "w").write(out)
        diff = subprocess.run(["git", "diff", "--", path], capture_output=True, text=True, check=True).stdout
        open(f"docs/regressions/{name}.patch", "w").write(diff)
        print(f"{name}: written")
    open(path, "w").write(src)
sys.exit(1 if bad else 0)
