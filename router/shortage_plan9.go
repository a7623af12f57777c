package router

// shortageErrors: Plan 9's errors are strings, with no numbers to match.
var shortageErrors []error
