package router

const errCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot"
