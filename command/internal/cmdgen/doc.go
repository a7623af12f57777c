// Command cmdgen generates the proxy's command table, command/commands_gen.go,
// from the dumps of a real redis-server committed beside it.
//
// The dumps are commands_info.resp (COMMAND: arity, flags, ACL categories,
// key specs of every command and subcommand), commands_docs.resp (COMMAND
// DOCS), commands_help.resp (every container's HELP) and
// commands_version.txt. cmdgen joins them with the proxy's own rules
// (rules.go): the class of each command and, for split and fan-out commands,
// how replies are merged. The Go file embeds the dumps and holds, per entry,
// the spans of its replies in them.
//
// With -fetch it first starts its own redis-server on a free loopback port
// (or uses -addr), reads the commands from it and rewrites the dumps: that is
// how the table moves to a new Redis version. Without -fetch it needs no
// server, so a test (golden_test.go) regenerates the table in memory from the
// committed dumps and rules and fails when the committed Go file differs.
//
// Trade-off: the table is generated once and checked in rather than fetched
// from the backends at run time. The proxy then starts without a backend and
// its behaviour is reviewable in the diff of a regeneration; the price is that
// it knows only the commands of the Redis version it was generated from.
// Output is deterministic: commands and subcommands are sorted by name, so the
// raw replies are re-encoded with nested lists in that order.
//
// Usage (from package command): go generate, which runs
//
//	go run ./internal/cmdgen -out commands_gen.go
//
// and, to take the commands of another Redis version,
//
//	go run ./internal/cmdgen -fetch -redis-server /path/to/redis-server -out commands_gen.go
package main
