// Command cmdgen generates the proxy's command table, router/commands_gen.go,
// and the embedded reply data beside it, from a real redis-server.
//
// It starts its own redis-server on a free loopback port (or uses -addr),
// reads COMMAND (arity, flags, ACL categories, key specs of every command and
// subcommand), COMMAND DOCS and every container's HELP, and joins them with the
// proxy's own rules (rules.go): the class of each command and, for split and
// fan-out commands, how replies are merged.
//
// Trade-off: the table is generated once and checked in rather than fetched
// from the backends at run time. The proxy then starts without a backend and
// its behaviour is reviewable in the diff of a regeneration; the price is that
// it knows only the commands of the Redis version it was generated from.
// Output is deterministic: commands and subcommands are sorted by name, so the
// raw replies are re-encoded with nested lists in that order.
//
// Usage (from package router): go generate, which runs
//
//	go run ./internal/cmdgen -out commands_gen.go
package main
