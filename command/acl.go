package command

import "strings"

// What the router's ACLs need from the table: every entry by index and by
// name, containers and their subcommands, Redis's category names, and the
// keys of a call together with their key-spec flags.

// ByIndex returns entry i (0 <= i < Count), in table order: top-level
// commands sorted by name, each followed by its subcommands.
func ByIndex(i int) *Info { return &table[i] }

// ByName returns the entry of a full name, case-insensitively: "get" or
// "config|get" (as ACL rules and deny_commands name commands); nil if none.
func ByName(name string) *Info { return byName[strings.ToLower(name)] }

// Container reports whether the command has subcommands.
func (ci *Info) Container() bool { return ci.container }

// Parent returns the index of a subcommand's container, -1 for a
// top-level command.
func (ci *Info) Parent() int { return ci.parent }

// Reason returns why a ClassPinned or ClassRefused command is not run.
func (ci *Info) Reason() string { return ci.reason }

// ACLCategoryNames returns Redis's category names in bit order (the order
// ACL CAT lists them): name i is the category 1<<i. The slice is new.
func ACLCategoryNames() []string { return append([]string(nil), aclCategoryNames[:]...) }

// ACLCategoryByName returns the category of a name such as "read",
// case-insensitively.
func ACLCategoryByName(name string) (ACLCategories, bool) {
	for i, n := range aclCategoryNames {
		if strings.EqualFold(n, name) {
			return 1 << i, true
		}
	}
	return 0, false
}

// AppendKeysAndFlags appends the position of every key of the call to dst
// and its key-spec flags to *fl, as Redis's getKeysFromCommandWithSpecs
// finds them for ACL checks. args must have passed Lookup.
func (ci *Info) AppendKeysAndFlags(dst []int, fl *[]KeyFlags, args [][]byte) []int {
	return ci.appendKeys(dst, fl, args)
}

// Arity returns Redis's arity: n exactly, -n at least n arguments (the name
// included).
func (ci *Info) Arity() int { return ci.arity }
